"""The control plane process: the engines, and a ``ControlSession`` to the
management plane over its Unix socket (``docs/architecture.md``, "Control
plane process").

- Connects to the management plane (a back-end client, as FRRouting's
  daemons connect to mgmtd) and reconnects when it goes away: 0.5 s, doubling
  to 5 s, back to 0.5 s once a session is established. The engines never
  wait for the socket: their sockets are read by their own ``EngineRunner``s
  whatever the session does; state recorded while no session is established
  is dropped (the next session begins with a resynchronisation).
- Configuration: ``EngineHost`` (engine_host.py) turns ``ConfigChangeRequested``
  into a verdict, ``ConfigCommitRequested`` into the done phase and
  ``ConfigAbortRequested`` / ``TransactionAbandoned`` / a lost session into
  the abort phase.
- RPCs: clear-binding, clear-visitor, clear-counters, inject-client-event go
  to the handlers ``runtime.Agent`` has for NETCONF today.
- The state stream: the engines' tables as ``RowSource``s (rows.py), their
  events as deltas flushed once per loop turn, their notifying events as
  facts in the same message (event_wire.py; the management plane renders
  the YANG notifications), counters every ``state_period`` seconds (the
  marked mobile-node-counters rows just before them); a
  resynchronisation on every hello and every ``ResyncRequest``, and when a
  transaction starts or stops a role (its engine is a new one).

Run it as ``python -m agent.plane.control_plane --socket PATH``; it prints
one line ``ready {...}`` (JSON) when the first configuration is applied and
the engines are up (the supervisor's readiness, agent/plane/supervisor.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Hashable, Sequence
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.access.events import normalise_mac
from agent.aio.control import ControlError
from agent.datastore.errors import DatastoreError
from agent.plane import messages as m
from agent.plane import session as s
from agent.plane.codec import MAX_TEXT
from agent.plane.aio import PlaneConnection, StreamPump
from agent.plane.engine_host import EngineHost, plane_tag
from agent.plane.event_wire import SPECS_BY_EVENT
from agent.plane.rows import (
    DataPlaneTunnels,
    ForeignAgentVisitors,
    HomeAgentBindings,
    HomeAgentMobileNodes,
    HomeAgentRecorder,
    ProxyVisitors,
    Row,
    foreign_agent_deltas,
    proxy_deltas,
    tunnel_deltas,
)
from agent.plane.stream import RowSource, StateStream
from agent.plane.tables import TableId

if TYPE_CHECKING:
    from agent.dataplane.plane import DataPlane

log = logging.getLogger("proxymip.control-plane")

RECONNECT_INITIAL = 0.5
RECONNECT_MAX = 5.0
STATE_PERIOD = 1.0


class _RoleRows:
    """A role's table as a ``RowSource`` over whichever engine runs the role
    now (a transaction may start, stop or replace it): empty while none does."""

    def __init__(self, engine: Callable[[], Any], make: Callable[[Any], RowSource]) -> None:
        self._engine = engine
        self._make = make
        self._for: Any = None
        self._source: RowSource | None = None

    def _current(self) -> RowSource | None:
        engine = self._engine()
        if engine is None:
            return None
        if engine is not self._for:
            self._for, self._source = engine, self._make(engine)
        return self._source

    def cursor_keys(self) -> Sequence[Hashable]:
        source = self._current()
        return [] if source is None else source.cursor_keys()

    def rows(self, cursor_key: Hashable) -> Sequence[Row]:
        source = self._current()
        return () if source is None else source.rows(cursor_key)

    def count(self) -> int:
        source = self._current()
        return 0 if source is None else source.count()

    def marked_deltas(self, table: TableId,
                      marked: Sequence[tuple[Hashable, Any]]) -> list[m.DeltaTuple]:
        """The marked rows (``KeyedRowSource``); gone with their engine."""
        source = self._current()
        if source is None:  # the role stopped: its rows are gone
            return [(table, m.ChangeKind.DELETED, (key,), None) for key, _ in marked]
        return source.marked_deltas(table, marked)  # type: ignore[attr-defined,no-any-return]


class ControlPlane:
    def __init__(self, socket_path: str | Path, *, state_period: float = STATE_PERIOD,
                 epoch: int | None = None, clock: Callable[[], float] = time.time,
                 state_dir: str = ".", notifications: bool = True,
                 on_ready: Callable[[dict[str, Any]], None] | None = None,
                 reconnect_initial: float = RECONNECT_INITIAL,
                 reconnect_max: float = RECONNECT_MAX,
                 hold_timeout: float = s.HOLD_TIMEOUT) -> None:
        self.socket_path = str(socket_path)
        self.state_period = state_period
        self.epoch = epoch if epoch is not None else time.time_ns()
        self.clock = clock
        self.notifications = notifications
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.hold_timeout = hold_timeout
        self.attempts = 0  # connection attempts so far
        self.host = EngineHost(on_event=self._engine_event, clock=clock, state_dir=state_dir)
        self.connection: PlaneConnection | None = None
        self.sessions = 0  # sessions established so far
        self.ready = False
        self._on_ready = on_ready
        self._pump: StreamPump | None = None
        self._home_agent_recorder: HomeAgentRecorder | None = None
        self.stream = StateStream(epoch=self.epoch, sources=self._sources(),
                                  send=self._send_state, clock=time.monotonic)
        self.stream.add_drain(self._drain_home_agent)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._commits: set[asyncio.Task[None]] = set()
        self._flush_scheduled = False
        self._closing = False
        self._failed = False
        self._delay = reconnect_initial

    def _sources(self) -> dict[TableId, RowSource]:
        def engine(name: str) -> Callable[[], Any]:
            return lambda: getattr(self.host.agent, name, None)

        return {
            TableId.BINDING: _RoleRows(engine("home_agent"), HomeAgentBindings),
            TableId.MOBILE_NODE: _RoleRows(engine("home_agent"), HomeAgentMobileNodes),
            TableId.VISITOR: _RoleRows(engine("foreign_agent"), ForeignAgentVisitors),
            TableId.PROXY_CLIENT: _RoleRows(engine("proxy"), ProxyVisitors),
            TableId.TUNNEL: _RoleRows(self._data_plane, DataPlaneTunnels),
        }

    def _data_plane(self) -> DataPlane | None:
        service = getattr(self.host.agent, "data_plane", None)
        return None if service is None else service.plane

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting (and keep reconnecting) in the background."""
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._keep_connected())

    @property
    def failed(self) -> bool:
        """The engines could not start: the process exits with status 1."""
        return self._failed

    async def wait_ended(self) -> None:
        """Until the connection loop ends (only after a failure, or ``close``)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self.connection is not None:
            self.connection.close()
        for task in list(self._commits):
            task.cancel()
        await asyncio.gather(*self._commits, return_exceptions=True)
        await self.host.close()

    async def _keep_connected(self) -> None:
        loop = asyncio.get_running_loop()
        self._delay = self.reconnect_initial
        while not self._closing:
            closed: asyncio.Future[None] = loop.create_future()

            def on_closed(connection: PlaneConnection) -> None:
                if not closed.done():
                    closed.set_result(None)

            def factory() -> PlaneConnection:
                session = s.ControlSession(epoch=self.epoch, pid=os.getpid(), now=loop.time(),
                                           hold_timeout=self.hold_timeout)
                connection = PlaneConnection(session, self._session_event, loop=loop,
                                             allowed_uid=os.getuid(), on_closed=on_closed)
                # Before any byte is read: the session's events find it here.
                self.connection = connection
                self._pump = StreamPump(self.stream, connection, loop=loop)
                return connection

            self.attempts += 1
            try:
                await loop.create_unix_connection(factory, self.socket_path)
            except OSError as exc:
                self.connection = self._pump = None
                log.debug("management plane not reachable at %s: %s", self.socket_path, exc)
            else:
                await closed
                self.connection = self._pump = None
                self._connection_lost()
            await asyncio.sleep(self._delay)
            self._delay = min(self.reconnect_max, self._delay * 2)

    def _connection_lost(self) -> None:
        # A transaction prepared and not committed: nothing was applied; the
        # next session's full configuration settles it (mgmtd's rule).
        prepared = self.host.prepared
        if prepared is not None:
            self.host.abort(prepared)
        self.stream.flush()  # into nothing: the next session resynchronises

    # -- the session's events ------------------------------------------------------------

    def _session_event(self, event: s.Event) -> None:
        connection = self.connection
        if connection is None:
            return
        session = connection.session
        assert isinstance(session, s.ControlSession)
        loop = self._loop or asyncio.get_running_loop()
        if isinstance(event, s.SessionEstablished):
            self.sessions += 1
            self._delay = self.reconnect_initial  # the next loss retries after 0.5 s again
            assert self._pump is not None
            self._pump.resync()
            self._pump.start_counters(self.state_period, self._read_counters)
        elif isinstance(event, s.ConfigChangeRequested):
            task = loop.create_task(self._change(connection, event))
            self._commits.add(task)
            task.add_done_callback(self._commits.discard)
        elif isinstance(event, s.ConfigCommitRequested):
            task = loop.create_task(self._commit(connection, event.transaction))
            self._commits.add(task)
            task.add_done_callback(self._commits.discard)
        elif isinstance(event, (s.ConfigAbortRequested, s.TransactionAbandoned)):
            self.host.abort(event.transaction)
        elif isinstance(event, s.RpcRequested):
            self._rpc(session, event.request)
        elif isinstance(event, s.ResyncRequested):
            assert self._pump is not None
            self._pump.resync()
        elif isinstance(event, s.ProtocolViolation):
            log.warning("plane boundary: %s: %s", event.fault, event.detail)
        elif isinstance(event, s.SessionClosed):
            log.info("plane session closed (%s): %s", event.tag.value, event.reason)
        connection.flush()

    async def _change(self, connection: PlaneConnection, event: s.ConfigChangeRequested) -> None:
        """The change phase, its validation off the engines' loop
        (``EngineHost.prepare_off_loop``); the verdict goes to the session
        that asked, if it still waits for it."""
        session = connection.session
        assert isinstance(session, s.ControlSession)
        loop = asyncio.get_running_loop()
        try:
            await self.host.prepare_off_loop(event.transaction, event.full, event.changes)
        except DatastoreError as exc:
            if self._waits_for_verdict(connection, event.transaction):
                # Bounded as the codec bounds text (a peer refuses longer): the
                # message may quote a value that was sent (libyang's do).
                session.veto(event.transaction, plane_tag(exc), exc.message[:MAX_TEXT],
                             path=exc.path, app_tag=exc.app_tag)
        else:
            if self._waits_for_verdict(connection, event.transaction):
                session.accept(event.transaction, loop.time())
            else:  # aborted, or the session is gone, while it was validated
                self.host.abort(event.transaction)
        connection.flush()

    def _waits_for_verdict(self, connection: PlaneConnection, transaction: int) -> bool:
        session = connection.session
        held = getattr(session, "transaction", None)
        return (connection is self.connection and session.state is s.SessionState.ESTABLISHED
                and held is not None and held.number == transaction and held.phase is s.Phase.CHANGE)

    async def _commit(self, connection: PlaneConnection, transaction: int) -> None:
        before = self.host.engines()
        try:
            await self.host.commit(transaction)
        except Exception:
            # The engines could not be built from a configuration that passed
            # the change phase (a RADIUS socket, a device): stop, so that the
            # supervisor starts a fresh control plane.
            log.exception("the engines did not start; stopping")
            self._closing = self._failed = True
            connection.close()
            return
        session = connection.session
        if session.state is s.SessionState.ESTABLISHED and connection is self.connection:
            assert isinstance(session, s.ControlSession)
            session.applied(transaction)
            self._follow_tunnels()
            if self.host.engines() != before and self._pump is not None:
                self._pump.resync()  # a role started, stopped or was rebuilt
            connection.flush()
            self._say_ready()

    def _say_ready(self) -> None:
        if self.ready or self.host.agent is None:
            return
        self.ready = True
        endpoints = {name: f"{host}:{port}" for name, (host, port) in self.host.agent.endpoints().items()}
        line = {"plane": "control", "epoch": self.epoch, "pid": os.getpid(), "endpoints": endpoints}
        if self._on_ready is not None:
            self._on_ready(line)

    # -- RPCs -------------------------------------------------------------------------------

    def _rpc(self, session: s.ControlSession, request: m.RpcRequest) -> None:
        try:
            cleared = self._run_rpc(request)
        except ControlError as exc:
            session.fail(request.request, m.ErrorTag.OPERATION_FAILED, str(exc))
        except ValueError as exc:  # a MAC or an address the engines refuse
            session.fail(request.request, m.ErrorTag.INVALID_VALUE, str(exc))
        else:
            session.reply(request.request, cleared=cleared)

    def _run_rpc(self, request: m.RpcRequest) -> int | None:
        """The same engine calls as ``runtime.Agent``'s NETCONF RPC handlers
        (the YANG module's clear-binding, clear-visitor, clear-counters,
        inject-client-event)."""
        agent = self.host.agent
        if agent is None:
            raise ControlError("the engines are not running (no configuration applied yet)")
        if isinstance(request, m.ClearBinding):
            given = {} if request.home_address is None else {
                "home-address": str(IPv4Address(request.home_address))}
            return int(agent._rpc_clear_binding(given)["cleared"])
        if isinstance(request, m.ClearVisitor):
            if (request.mac is None) == (request.home_address is None):
                raise ValueError("clear-visitor takes a MAC (proxy) or a home address (FA), one of them")
            if request.mac is not None:
                answer = agent._rpc_clear_visitor({"mac": request.mac})
                self._record(proxy_deltas(agent.proxy, normalise_mac(request.mac))
                             if agent.proxy is not None else [])
            else:
                assert request.home_address is not None
                answer = agent._rpc_clear_visitor(
                    {"home-address": str(IPv4Address(request.home_address))})
            return int(answer["cleared"])
        if isinstance(request, m.ClearCounters):
            agent._rpc_clear_counters({"role": request.scope.value})
            return None
        event: dict[str, Any] = {"event": request.event.value, "mac": request.mac}
        if request.address is not None:
            event["address"] = str(IPv4Address(request.address))
        if request.interface is not None:
            event["interface"] = request.interface
        agent._rpc_inject_client_event(event)
        if agent.proxy is not None:  # the client's row changed with no engine event
            self._record(proxy_deltas(agent.proxy, normalise_mac(request.mac)))
        return None

    # -- the state stream ------------------------------------------------------------------

    def _send_state(self, message: m.StateMessage) -> None:
        connection = self.connection
        if connection is not None and connection.session.state is s.SessionState.ESTABLISHED:
            session = connection.session
            assert isinstance(session, s.ControlSession)
            session.send_state(message)

    def _engine_event(self, role: str, event: object) -> None:
        """Every engine event (runtime.Agent's on_event): its deltas, and,
        for an event that has a YANG notification, the event itself (the
        management plane renders it; ``event_wire.py``)."""
        agent = self.host.agent
        if agent is None:
            return
        if role == "home-agent" and agent.home_agent is not None:
            recorder = self._home_agent_recorder
            if recorder is None or recorder.agent is not agent.home_agent:
                recorder = self._home_agent_recorder = HomeAgentRecorder(
                    agent.home_agent, self.stream, notify=self.notifications, clock=self.clock)
            if recorder(event):  # its deltas and its event at the flush
                self._changed()
            return
        if role == "foreign-agent" and agent.foreign_agent is not None:
            self._record(foreign_agent_deltas(agent.foreign_agent, event))
        elif role == "proxy" and agent.proxy is not None:
            self._record(proxy_deltas(agent.proxy, getattr(event, "mac", None)))
        if self.notifications and type(event) in SPECS_BY_EVENT:
            self.stream.record_event(role, self.clock(), event)
            self._changed()

    def _drain_home_agent(self) -> None:
        if self._home_agent_recorder is not None:
            self._home_agent_recorder.drain()

    def _follow_tunnels(self) -> None:
        """Deltas of the data plane's tunnel table (a data plane started or
        replaced by this transaction is followed from now on; what it built
        before is in the resynchronisation that follows)."""
        plane = self._data_plane()
        if plane is not None and plane.on_tunnel_change is None:
            plane.on_tunnel_change = self._tunnel_changed

    def _tunnel_changed(self, remote: IPv4Address) -> None:
        plane = self._data_plane()
        if plane is not None:
            self._record(tunnel_deltas(plane, remote))

    def _record(self, deltas: list[tuple[TableId, m.ChangeKind, Row, Row | None]]) -> None:
        for delta in deltas:
            self.stream.record(*delta)
        if deltas:
            self._changed()

    def _changed(self) -> None:
        """Flush the deltas at the end of this loop turn (one message per turn)."""
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self.stream.flush()
        if self.connection is not None:
            self.connection.flush()

    def _read_counters(self) -> tuple[float, dict[str, dict[str, int]]]:
        agent = self.host.agent
        if agent is None:
            return self.clock(), {}
        groups = agent.counters()
        plane = self._data_plane()
        if plane is not None:
            groups["data-plane"] = plane.tunnels.counters.as_dict()
        return self.clock(), groups


# -- the process ---------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agent.plane.control_plane",
        description="The control plane of proxymip run (internal: the supervisor starts it).")
    parser.add_argument("--socket", required=True, help="the management plane's Unix socket")
    parser.add_argument("--state-period", type=float, default=STATE_PERIOD,
                        help="seconds between two counter messages (default 1)")
    parser.add_argument("--epoch", type=int, default=None,
                        help="this incarnation's stream epoch (default: the start time in ns)")
    parser.add_argument("--state-dir", default=".", help="where relative state files live")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    return parser


async def _main(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def ready(line: dict[str, Any]) -> None:
        print("ready " + json.dumps(line, sort_keys=True), flush=True)

    plane = ControlPlane(args.socket, state_period=args.state_period, epoch=args.epoch,
                         state_dir=args.state_dir, on_ready=ready)
    # The engines' 100,000s of records and a full configuration's SAs are
    # long-lived: as proxymip run does (agent/aio/gc_policy.py), so that a
    # full collection walking them never stops the loop (a part of a big
    # transaction took 83 ms to receive without it, 2 ms of it decoding).
    from agent.aio.gc_policy import LongLivedStateGc

    gc_policy = LongLivedStateGc()
    gc_policy.start()
    await plane.start()
    try:
        stopping = asyncio.ensure_future(stop.wait())
        ended = asyncio.ensure_future(plane.wait_ended())
        await asyncio.wait((stopping, ended), return_when=asyncio.FIRST_COMPLETED)
        for waiter in (stopping, ended):
            waiter.cancel()
        failed = plane.failed
    finally:
        await plane.close()
        await gc_policy.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), stream=sys.stderr,
                        format="%(name)s %(levelname)s %(message)s")
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
