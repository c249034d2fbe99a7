"""The control plane process (agent/plane/control_plane.py) against a real
management end: the test plays the management plane with the real
``ManagementSession`` + ``PlaneConnection`` (agent/plane/aio.py) + the
``OperationalMirror`` on a Unix socket in tmp_path, and the control plane runs
real engines on loopback (127.0.0.x, port 0).

Proved here: a full configuration builds the engines and the home agent
answers a real Registration Request (RFC 5944 §3.3, §3.4), whose binding
reaches the mirror as a delta; the mirror's rendering equals
``agent/operational.py``'s reading of the engines after the resync and after
deltas; a change a subscriber vetoes (an overlapping SA range) is
``TransactionVetoed`` with its RFC 6241 error-tag and running unchanged; an
abort after accept leaves running unchanged; clear-binding answers its count
and the deletion reaches the mirror; counters come every period; the
management end goes away and comes back: a new hello, a full transaction, a
resync, the mirror equal again, and a registration sent while it was away was
answered."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from agent.datastore.store import Datastore
from agent.mobileip import replay
from agent.mobileip.builder import build_request, check_reply
from agent.mobileip.numbers import ReplyCode
from agent.mobileip.registration import decode_reply
from agent.mobileip.security import SecurityAssociation
from agent.operational import home_agent_state
from agent.plane import aio
from agent.plane import messages as m
from agent.plane import mirror_view
from agent.plane import session as s
from agent.plane.control_plane import ControlPlane
from agent.plane.mirror import MirrorState, OperationalMirror
from agent.plane.render import binding_entries, mobile_node_counter_entries
from agent.plane.tables import TableId
from tests.conftest import ROOT

HA, MN = "127.0.0.2", "127.0.0.5"
MN_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
SA = SecurityAssociation(256, MN_KEY)
TIMEOUT = 10.0
MIP = "/proxy-mobile-ip:mobile-ip"


def configuration(*, max_lifetime: int = 1800) -> dict[str, Any]:
    """The top container's content (RFC 7951 JSON)."""
    return {
        "home-agent": {"address": HA, "home-network": "192.0.2.0/24", "max-lifetime": max_lifetime,
                       "listen": {"address": HA, "port": 0}},
        "security": {"host": [{"address": "192.0.2.1", "last-address": "192.0.2.100", "spi": 256,
                               "key-hex": MN_KEY.hex()}]},
    }


def full(content: dict[str, Any]) -> tuple[m.ConfigChangeEntry, ...]:
    return (m.ConfigChangeEntry(m.ChangeKind.CREATED, MIP, content),)


def management_full(content: dict[str, Any]) -> tuple[m.ConfigChangeEntry, ...]:
    """A full transaction as the management plane sends it: its running's
    effective configuration, defaults included (RFC 7951 JSON)."""
    datastore = Datastore()
    try:
        datastore.replace_config("running", {"proxy-mobile-ip:mobile-ip": content})
        return full(datastore.snapshot("running").as_json(with_defaults=True))
    finally:
        datastore.close()


class Management:
    """The management plane's end: a listening socket, the session of the
    current connection, the mirror, and every other session event in a queue."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mirror = OperationalMirror()
        self.events: asyncio.Queue[s.Event] = asyncio.Queue()
        self.connection: aio.PlaneConnection | None = None
        self.server: asyncio.AbstractServer | None = None
        self.counters: list[m.Counters] = []
        self.deltas: list[m.Delta] = []
        self.hellos = 0

    async def listen(self) -> None:
        loop = asyncio.get_running_loop()

        def on_event(connection: aio.PlaneConnection, event: s.Event) -> None:
            self.connection = connection
            if isinstance(event, s.StateReceived):
                message = event.message
                if isinstance(message, m.Counters):
                    self.counters.append(message)
                elif isinstance(message, m.StateDeltas):
                    self.deltas.extend(message.deltas)
                if self.mirror.apply(message, loop.time()) is not None:
                    assert isinstance(connection.session, s.ManagementSession)
                    connection.session.request_resync("lost the thread")
                    connection.flush()
                return
            if isinstance(event, s.SessionEstablished):
                self.hellos += 1
            if isinstance(event, s.SessionClosed):
                self.mirror.connection_lost()
            self.events.put_nowait(event)

        self.server = await aio.serve_management(
            self.path, lambda now: s.ManagementSession(epoch=1, pid=os.getpid(), now=now), on_event)

    async def go_away(self) -> None:
        """The management plane dies: its listening socket and the connection."""
        assert self.server is not None and self.connection is not None
        self.server.close()
        transport = self.connection._transport
        if transport is not None:
            transport.abort()
        await self.server.wait_closed()
        self.server = None
        await self.next(s.SessionClosed, skip=(s.ProtocolViolation, s.TransactionLost))

    @property
    def session(self) -> s.ManagementSession:
        assert self.connection is not None
        session = self.connection.session
        assert isinstance(session, s.ManagementSession)
        return session

    async def next(self, kind: type, *, skip: tuple[type, ...] = (s.ProtocolViolation,)) -> Any:
        while True:
            event = await asyncio.wait_for(self.events.get(), TIMEOUT)
            if isinstance(event, kind):
                return event
            if not isinstance(event, skip):
                raise AssertionError(f"expected {kind.__name__}, got {event}")

    async def prepare(self, changes: tuple[m.ConfigChangeEntry, ...], *, is_full: bool = False) -> Any:
        loop = asyncio.get_running_loop()
        number = self.session.begin_transaction(changes, loop.time(), full=is_full)
        self.connection.flush()  # type: ignore[union-attr]
        while True:
            event = await asyncio.wait_for(self.events.get(), TIMEOUT)
            if isinstance(event, (s.TransactionPrepared, s.TransactionVetoed)):
                assert event.transaction == number
                return event
            if not isinstance(event, s.ProtocolViolation):
                raise AssertionError(f"unexpected {event}")

    async def commit(self, changes: tuple[m.ConfigChangeEntry, ...], *, is_full: bool = False) -> None:
        prepared = await self.prepare(changes, is_full=is_full)
        assert isinstance(prepared, s.TransactionPrepared), prepared
        self.session.commit(prepared.transaction, asyncio.get_running_loop().time())
        self.connection.flush()  # type: ignore[union-attr]
        applied = await self.next(s.TransactionApplied)
        assert applied.transaction == prepared.transaction

    async def rpc(self, request: m.RpcRequest) -> Any:
        number = self.session.rpc(request, asyncio.get_running_loop().time())
        self.connection.flush()  # type: ignore[union-attr]
        event = await self.next((s.RpcCompleted, s.RpcFailed))  # type: ignore[arg-type]
        assert event.request == number
        return event


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class MobileNode:
    """A co-located care-of address mobile node (RFC 5944 §3.3) on loopback."""

    def __init__(self, ha_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((MN, 0))
        self.sock.settimeout(TIMEOUT)
        self.ha = (HA, ha_port)
        self.identification = 0

    def close(self) -> None:
        self.sock.close()

    def register(self, home: str, lifetime: int = 600) -> int:
        """Send one Registration Request and return the reply's code
        (blocking: run it in a thread, the engines are on the test's loop)."""
        self.identification += 1
        ident = replay.ntp_identification(time.time(), self.identification)
        self.sock.sendto(build_request(home_address=IPv4Address(home), home_agent=IPv4Address(HA),
                                       care_of_address=IPv4Address(MN), identification=ident,
                                       lifetime=lifetime, sa=SA), self.ha)
        reply = decode_reply(self.sock.recv(2048))
        if reply.code != ReplyCode.ACCEPTED:
            return reply.code  # e.g. 131 with no SA to authenticate it (RFC 5944 §3.8.3.1)
        assert check_reply(reply, sent_identification=ident, sa=SA).ok
        return reply.code


class Rig:
    def __init__(self, tmp_path: Path, *, state_period: float = 1.0) -> None:
        self.management = Management(tmp_path / "plane.sock")
        self.ready: list[dict[str, Any]] = []
        self.plane = ControlPlane(self.management.path, state_period=state_period,
                                  on_ready=self.ready.append)
        self.node: MobileNode | None = None

    async def __aenter__(self) -> Rig:
        await self.management.listen()
        await self.plane.start()
        await self.management.next(s.SessionEstablished)
        await self.management.commit(full(configuration()), is_full=True)
        await until(lambda: self.management.mirror.state is MirrorState.SYNCED, "the first resync")
        endpoint = self.ready[0]["endpoints"]["home-agent"]
        self.node = MobileNode(int(endpoint.rsplit(":", 1)[1]))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.node is not None:
            self.node.close()
        await self.plane.close()
        if self.management.server is not None:
            self.management.server.close()

    async def register(self, home: str, lifetime: int = 600) -> int:
        assert self.node is not None
        return await asyncio.to_thread(self.node.register, home, lifetime)

    def running(self) -> dict[str, Any]:
        return self.plane.host.datastore.get_config("running")

    async def check_mirror(self) -> None:
        """The mirror renders what agent/operational.py reads from the engine
        (after the next counters: the mobile-node-counters rows marked
        changed go with them)."""
        counters = len(self.management.counters)
        await until(lambda: len(self.management.counters) > counters, "the next counters")
        agent = self.plane.host.agent
        assert agent is not None and agent.home_agent is not None
        now = time.time() + 3
        expected = home_agent_state(agent.home_agent, now)
        bindings = self.management.mirror.sorted_rows(TableId.BINDING)
        assert binding_entries(bindings, now) == expected["binding"]
        assert mobile_node_counter_entries(
            self.management.mirror.sorted_rows(TableId.MOBILE_NODE), bindings, now) \
            == expected["mobile-node-counters"]
        # The YANG counters as the single process renders them (the stream's
        # group also carries the control channel's entry counts: not leaves).
        operational = mirror_view.operational(
            self.management.mirror, asyncio.get_running_loop().time(), wall_now=now,
            connected=True, state_period=1.0)
        assert operational["home-agent-state"]["counters"] \
            == home_agent_state(agent.home_agent, now, rows=False)["counters"]


def run(scenario: Callable[[], Any]) -> None:
    asyncio.run(scenario())


def test_full_configuration_then_a_registration_reaches_the_mirror_as_a_delta(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Rig(tmp_path) as rig:
            mirror = rig.management.mirror
            assert rig.ready and rig.ready[0]["plane"] == "control"
            assert mirror.count(TableId.BINDING) == 0
            resyncs = mirror.counters.resyncs_completed
            assert await rig.register("192.0.2.7") == ReplyCode.ACCEPTED
            await until(lambda: mirror.count(TableId.BINDING) == 1, "the binding's delta")
            assert mirror.counters.resyncs_completed == resyncs  # a delta, not a resync
            kinds = [(d.table, d.kind) for d in rig.management.deltas]
            assert (TableId.BINDING, m.ChangeKind.CREATED) in kinds
            await rig.check_mirror()
            # Its notification (agent/notifications.py) came along.
            await until(lambda: any(n.name == "binding-created" for n in mirror.notifications),
                        "the binding-created notification")
            # More deltas: a second node, a renewal, a deregistration, a denial.
            assert await rig.register("192.0.2.8") == ReplyCode.ACCEPTED
            assert await rig.register("192.0.2.7") == ReplyCode.ACCEPTED
            assert await rig.register("192.0.2.8", lifetime=0) == ReplyCode.ACCEPTED
            assert await rig.register("192.0.2.200") != ReplyCode.ACCEPTED  # no SA: denied
            await until(lambda: mirror.count(TableId.BINDING) == 1, "the deregistration's delta")
            await asyncio.sleep(0.05)  # the last turn's flush
            await rig.check_mirror()

    run(scenario)


def test_a_vetoed_change_keeps_running_and_the_engines(tmp_path: Path) -> None:
    """An SA range overlapping the configured one (192.0.2.1-100): the live
    SA table refuses it in the change phase (LiveConfiguration), so the
    management plane gets TransactionVetoed with operation-failed and running
    is unchanged (RFC 6241 §7.2, rollback-on-error)."""
    async def scenario() -> None:
        async with Rig(tmp_path) as rig:
            before = rig.running()
            vetoed = await rig.management.prepare((m.ConfigChangeEntry(
                m.ChangeKind.CREATED, f"{MIP}/security/host[address='192.0.2.50'][spi='999']",
                {"address": "192.0.2.50", "spi": 999, "last-address": "192.0.2.150",
                 "key-hex": "ff" * 16}),))
            assert isinstance(vetoed, s.TransactionVetoed), vetoed
            assert vetoed.veto.tag is m.ErrorTag.OPERATION_FAILED
            assert "overlap" in vetoed.veto.message
            assert rig.running() == before
            assert rig.plane.host.prepared is None
            # A schema violation: its own tag, and the path.
            vetoed = await rig.management.prepare((m.ConfigChangeEntry(
                m.ChangeKind.MODIFIED, f"{MIP}/home-agent/max-lifetime", "many", 1800),))
            assert isinstance(vetoed, s.TransactionVetoed), vetoed
            assert vetoed.veto.tag is m.ErrorTag.INVALID_VALUE
            assert rig.running() == before
            # A value libyang quotes in its error (3,000 characters): the
            # message is cut to what the codec carries, so the verdict arrives
            # (longer, the management end refuses the frame and times out).
            vetoed = await rig.management.prepare((m.ConfigChangeEntry(
                m.ChangeKind.MODIFIED, f"{MIP}/home-agent/address", "9" * 3000, HA),))
            assert isinstance(vetoed, s.TransactionVetoed), vetoed
            assert vetoed.veto.tag is m.ErrorTag.INVALID_VALUE
            assert len(vetoed.veto.message) == 1024
            # The engines still use the old SAs.
            assert await rig.register("192.0.2.60") == ReplyCode.ACCEPTED

    run(scenario)


def test_abort_after_accept_leaves_running(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Rig(tmp_path) as rig:
            before = rig.running()
            agent = rig.plane.host.agent
            assert agent is not None and agent.home_agent is not None
            settings = agent.home_agent.settings
            prepared = await rig.management.prepare((m.ConfigChangeEntry(
                m.ChangeKind.MODIFIED, f"{MIP}/home-agent/max-lifetime", 600, 1800),))
            assert isinstance(prepared, s.TransactionPrepared), prepared
            assert rig.plane.host.prepared == prepared.transaction
            rig.management.session.abort(prepared.transaction)
            rig.management.connection.flush()  # type: ignore[union-attr]
            await until(lambda: rig.plane.host.prepared is None, "the abort")
            assert rig.running() == before
            assert agent.home_agent.settings is settings
            # Then the same change committed: running and the engine change.
            await rig.management.commit((m.ConfigChangeEntry(
                m.ChangeKind.MODIFIED, f"{MIP}/home-agent/max-lifetime", 600, 1800),))
            assert rig.running()["proxy-mobile-ip:mobile-ip"]["home-agent"]["max-lifetime"] == 600
            assert agent.home_agent.settings.max_lifetime == 600

    run(scenario)


def test_rpcs(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Rig(tmp_path) as rig:
            mirror = rig.management.mirror
            for home in ("192.0.2.11", "192.0.2.12"):
                assert await rig.register(home) == ReplyCode.ACCEPTED
            await until(lambda: mirror.count(TableId.BINDING) == 2, "two bindings")
            answer = await rig.management.rpc(m.ClearBinding(0, int(IPv4Address("192.0.2.11"))))
            assert isinstance(answer, s.RpcCompleted) and answer.reply.cleared == 1
            await until(lambda: mirror.count(TableId.BINDING) == 1, "the deletion's delta")
            assert (TableId.BINDING, m.ChangeKind.DELETED) in [(d.table, d.kind)
                                                               for d in rig.management.deltas]
            await asyncio.sleep(0.05)
            await rig.check_mirror()
            answer = await rig.management.rpc(m.ClearBinding(0, None))  # all
            assert isinstance(answer, s.RpcCompleted) and answer.reply.cleared == 1
            # No foreign agent, no proxy: operation-failed (the role is not running).
            failed = await rig.management.rpc(m.ClearVisitor(0, int(IPv4Address("192.0.2.11")), None))
            assert isinstance(failed, s.RpcFailed)
            assert failed.error.tag is m.ErrorTag.OPERATION_FAILED
            assert "not running" in failed.error.message
            # Neither a MAC nor an address: invalid-value.
            failed = await rig.management.rpc(m.ClearVisitor(0, None, None))
            assert isinstance(failed, s.RpcFailed) and failed.error.tag is m.ErrorTag.INVALID_VALUE
            failed = await rig.management.rpc(
                m.InjectClientEvent(0, m.ClientEventKind.ASSOCIATED, "02:00:00:00:00:01"))
            assert isinstance(failed, s.RpcFailed) and "proxy" in failed.error.message
            agent = rig.plane.host.agent
            assert agent is not None and agent.home_agent is not None
            assert agent.home_agent.counters.as_dict()["registration_accepted"] >= 2
            answer = await rig.management.rpc(m.ClearCounters(0, m.CounterScope.HOME_AGENT))
            assert isinstance(answer, s.RpcCompleted) and answer.reply.cleared is None
            assert agent.home_agent.counters.as_dict()["registration_accepted"] == 0

    run(scenario)


def test_counters_every_period(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Rig(tmp_path, state_period=0.2) as rig:
            assert await rig.register("192.0.2.21") == ReplyCode.ACCEPTED
            start = len(rig.management.counters)
            await asyncio.sleep(1.1)
            readings = rig.management.counters[start:]
            # Every period, never faster (a loaded machine may run the timer late).
            assert 3 <= len(readings) <= 7, len(readings)
            gaps = [b.taken_at - a.taken_at for a, b in zip(readings, readings[1:])]
            assert all(0.19 < gap < 1.0 for gap in gaps), gaps
            reading = rig.management.mirror.counters_of("home-agent", asyncio.get_running_loop().time())
            assert reading is not None and reading.age < 0.5
            assert reading.values["bindings"] == 1

    run(scenario)


def test_the_management_plane_goes_away_and_comes_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Rig(tmp_path) as rig:
            management = rig.management
            mirror = management.mirror
            assert await rig.register("192.0.2.31") == ReplyCode.ACCEPTED
            agent = rig.plane.host.agent
            assert agent is not None
            engine, endpoint = agent.home_agent, rig.ready[0]["endpoints"]["home-agent"]
            epoch = mirror.epoch
            await management.go_away()
            await until(lambda: rig.plane.connection is None, "the control plane to notice")
            # The engines go on without it: none of their work waits on the socket.
            assert await rig.register("192.0.2.32") == ReplyCode.ACCEPTED
            assert await rig.register("192.0.2.31", lifetime=0) == ReplyCode.ACCEPTED
            await management.listen()
            await management.next(s.SessionEstablished)
            assert management.hellos == 2
            # The first transaction of the session is full (mgmtd's rule); the
            # same configuration restarts nothing, and is not validated again
            # (the engines' loop would be held for seconds with 100,000 SAs).
            running = rig.running()
            await management.commit(management_full(configuration()), is_full=True)
            assert rig.plane.host.unchanged_full == 1
            assert rig.running() == running
            assert agent.home_agent is engine
            assert f"{HA}:{agent.runners['home-agent'].local_address[1]}" == endpoint
            await until(lambda: mirror.state is MirrorState.SYNCED, "the resync")
            assert mirror.epoch == epoch and mirror.count(TableId.BINDING) == 1
            await rig.check_mirror()
            # The mirror may ask for a resynchronisation at any time.
            resyncs = mirror.counters.resyncs_completed
            management.session.request_resync("the test asks")
            management.connection.flush()  # type: ignore[union-attr]
            await until(lambda: mirror.counters.resyncs_completed > resyncs, "the asked resync")
            await rig.check_mirror()
            # A full transaction that changes something is applied as its diff.
            await management.commit(management_full(configuration(max_lifetime=900)), is_full=True)
            assert agent.home_agent is engine and engine.settings.max_lifetime == 900
            assert rig.plane.host.unchanged_full == 1
            # Running's content at another path is no unchanged configuration.
            (entry,) = management_full(configuration(max_lifetime=900))
            vetoed = await management.prepare(
                (m.ConfigChangeEntry(entry.kind, f"{MIP}/home-agent", entry.value),), is_full=True)
            assert isinstance(vetoed, s.TransactionVetoed), vetoed
            # The same content spelled without its defaults: validated, no change.
            await management.commit(full(configuration(max_lifetime=900)), is_full=True)
            assert rig.plane.host.unchanged_full == 1 and engine.settings.max_lifetime == 900
            assert len(rig.ready) == 1  # said once

    run(scenario)


def test_the_process_prints_ready_once_configured(tmp_path: Path) -> None:
    """``python -m agent.plane.control_plane --socket PATH``: the supervisor's
    child; its ``ready`` line comes after the first configuration is applied
    and names the engines' endpoints; SIGTERM stops it cleanly."""
    async def scenario() -> None:
        management = Management(tmp_path / "plane.sock")
        await management.listen()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent.plane.control_plane", "--socket", str(management.path),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            established = await management.next(s.SessionEstablished)
            assert established.peer_pid == process.pid
            await management.commit(full(configuration()), is_full=True)
            assert process.stdout is not None
            line = (await asyncio.wait_for(process.stdout.readline(), TIMEOUT)).decode()
            assert line.startswith("ready "), line
            ready = json.loads(line[len("ready "):])
            assert ready["plane"] == "control" and ready["pid"] == process.pid
            assert ready["endpoints"]["home-agent"].startswith(f"{HA}:")
            process.terminate()
            _, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
            assert process.returncode == 0, err
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            assert management.server is not None
            management.server.close()

    run(scenario)




def test_a_role_started_or_stopped_resynchronises_the_mirror(tmp_path: Path) -> None:
    """Stopping the home agent drops its bindings with no event per binding;
    the resync that follows the transaction makes the mirror equal again.
    A proxy role started by a change set, and a client injected into it
    (inject-client-event): its row reaches the mirror."""
    async def scenario() -> None:
        async with Rig(tmp_path) as rig:
            mirror = rig.management.mirror
            assert await rig.register("192.0.2.41") == ReplyCode.ACCEPTED
            await until(lambda: mirror.count(TableId.BINDING) == 1, "the binding")
            resyncs = mirror.counters.resyncs_completed
            await rig.management.commit((m.ConfigChangeEntry(
                m.ChangeKind.DELETED, f"{MIP}/home-agent", None, configuration()["home-agent"]),))
            agent = rig.plane.host.agent
            assert agent is not None and agent.home_agent is None
            await until(lambda: mirror.counters.resyncs_completed > resyncs, "the resync")
            assert mirror.count(TableId.BINDING) == 0 and mirror.count(TableId.MOBILE_NODE) == 0
            await rig.management.commit((m.ConfigChangeEntry(
                m.ChangeKind.CREATED, f"{MIP}/proxy",
                {"listen": {"address": "127.0.0.4", "port": 0}, "discovery": {"enabled": False}}),))
            assert agent.proxy is not None
            # Associated, no address yet: the proxy holds the client and says
            # nothing (no engine event); the RPC's own delta brings its row.
            answer = await rig.management.rpc(m.InjectClientEvent(
                0, m.ClientEventKind.ASSOCIATED, "02:00:00:00:00:41"))
            assert isinstance(answer, s.RpcCompleted), answer
            await until(lambda: mirror.count(TableId.PROXY_CLIENT) == 1, "the client's row")
            from agent.operational import proxy_state
            from agent.plane.render import proxy_visitor_entries
            now = time.time()
            await asyncio.sleep(0.05)
            assert proxy_visitor_entries(mirror.sorted_rows(TableId.PROXY_CLIENT), now) \
                == proxy_state(agent.proxy, now)["visitor"]
            answer = await rig.management.rpc(m.ClearVisitor(0, None, "02:00:00:00:00:41"))
            assert isinstance(answer, s.RpcCompleted) and answer.reply.cleared == 1
            await until(lambda: mirror.count(TableId.PROXY_CLIENT) == len(agent.proxy.visitor_macs()),
                        "the cleared client's row")

    run(scenario)


def test_the_first_configuration_is_vetoed_when_a_role_cannot_listen(tmp_path: Path) -> None:
    """The engines are built in the done phase: an address:port the home
    agent cannot bind is refused in the change phase (operation-failed),
    never a failure after the management plane committed."""
    async def scenario() -> None:
        management = Management(tmp_path / "plane.sock")
        await management.listen()
        plane = ControlPlane(management.path)
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        holder.bind((HA, 0))
        try:
            await plane.start()
            await management.next(s.SessionEstablished)
            taken = configuration()
            taken["home-agent"]["listen"]["port"] = holder.getsockname()[1]
            vetoed = await management.prepare(full(taken), is_full=True)
            assert isinstance(vetoed, s.TransactionVetoed), vetoed
            assert vetoed.veto.tag is m.ErrorTag.OPERATION_FAILED
            assert vetoed.veto.path == f"{MIP}/home-agent/listen"
            assert plane.host.agent is None and plane.host.datastore.get_config("running") == {}
            # What the loader refuses (overlapping SA ranges, RFC 5944 §3.5:
            # one SA per node and SPI) vetoes the first configuration too.
            overlapping = configuration()
            overlapping["security"]["host"].append(
                {"address": "192.0.2.50", "last-address": "192.0.2.150", "spi": 256, "key-hex": "ff" * 16})
            vetoed = await management.prepare(full(overlapping), is_full=True)
            assert isinstance(vetoed, s.TransactionVetoed), vetoed
            assert vetoed.veto.tag is m.ErrorTag.OPERATION_FAILED
            assert vetoed.veto.path is not None and "/security/host[" in vetoed.veto.path
            assert plane.host.agent is None
            await management.commit(full(configuration()), is_full=True)
            assert plane.host.agent is not None and plane.host.agent.home_agent is not None
        finally:
            holder.close()
            await plane.close()
            assert management.server is not None
            management.server.close()

    run(scenario)


def test_reconnection_backs_off_from_half_a_second(tmp_path: Path) -> None:
    """No management plane yet: attempts at 0, 0.5, 1.5 s (doubling), then it
    comes and the session is established; after a session, the backoff
    starts from 0.5 s again."""
    async def scenario() -> None:
        management = Management(tmp_path / "plane.sock")
        plane = ControlPlane(management.path)
        try:
            await plane.start()
            await asyncio.sleep(2.0)
            assert plane.attempts == 3, plane.attempts
            await management.listen()
            await management.next(s.SessionEstablished)  # at 3.5 s
            # Once a session was established, the next loss retries after 0.5 s
            # again (not after the 4 s the failures had reached).
            await management.go_away()
            await management.listen()
            lost_at = time.monotonic()
            await management.next(s.SessionEstablished)
            assert time.monotonic() - lost_at < 3.0  # 0.5 s and the connection, not 4 s
        finally:
            await plane.close()
            if management.server is not None:
                management.server.close()

    run(scenario)


def test_a_prepared_transaction_is_aborted_when_the_session_goes_or_the_hold_expires(
        tmp_path: Path) -> None:
    """Accepted and then nothing: after the hold timeout the control plane
    gives it up (TransactionAbandoned -> the abort phase), and a ConfigDone
    after that costs the session (the next one replays the configuration).
    Accepted and then the connection lost: aborted, running unchanged."""
    async def scenario() -> None:
        async with Rig(tmp_path) as rig:
            rig.plane.hold_timeout = 0.3  # the next session's
            await rig.management.go_away()
            await rig.management.listen()
            await rig.management.next(s.SessionEstablished)
            await rig.management.commit(full(configuration()), is_full=True)
            before = rig.running()
            change = (m.ConfigChangeEntry(m.ChangeKind.MODIFIED, f"{MIP}/home-agent/max-lifetime", 600, 1800),)
            prepared = await rig.management.prepare(change)
            assert isinstance(prepared, s.TransactionPrepared)
            await until(lambda: rig.plane.host.prepared is None, "the hold to expire")
            assert rig.running() == before
            rig.management.session.commit(prepared.transaction, asyncio.get_running_loop().time())
            rig.management.connection.flush()  # type: ignore[union-attr]
            closed = await rig.management.next(s.SessionClosed)
            assert closed.by_peer and closed.tag is m.ErrorTag.OPERATION_FAILED
            assert rig.running() == before
            # The session lost with a transaction prepared.
            rig.plane.hold_timeout = 15.0
            await rig.management.next(s.SessionEstablished, skip=(s.TransactionLost,))
            await rig.management.commit(full(configuration()), is_full=True)
            prepared = await rig.management.prepare(change)
            assert isinstance(prepared, s.TransactionPrepared)
            assert rig.plane.host.prepared == prepared.transaction
            await rig.management.go_away()
            await until(lambda: rig.plane.host.prepared is None, "the abort")
            assert rig.running() == before

    run(scenario)


def test_engines_that_cannot_start_stop_the_process(tmp_path: Path) -> None:
    """A configuration that passed the change phase and still cannot start
    the engines (here a data plane with no role and no tunnel-source): the
    process exits with status 1 and no ready line, so that the supervisor
    starts a fresh one; the management plane sees the session lost after
    done (``TransactionLost``), never a ``ConfigApplied``."""
    async def scenario() -> None:
        management = Management(tmp_path / "plane.sock")
        await management.listen()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent.plane.control_plane", "--socket", str(management.path),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            await management.next(s.SessionEstablished)
            prepared = await management.prepare(full({"data-plane": {}}), is_full=True)
            assert isinstance(prepared, s.TransactionPrepared), prepared
            management.session.commit(prepared.transaction, asyncio.get_running_loop().time())
            management.connection.flush()  # type: ignore[union-attr]
            lost = await management.next(s.TransactionLost)
            assert lost.phase is s.Phase.DONE
            out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
            assert process.returncode == 1, err
            assert b"ready" not in out
            assert b"tunnel-source" in err
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            assert management.server is not None
            management.server.close()

    run(scenario)


def test_a_full_configuration_of_many_sas_crosses_in_parts_while_the_engines_answer(tmp_path: Path) -> None:
    """30,000 host SAs (~4 MB, well over one 64 KiB part): the management
    session sends them in ConfigChangePart frames, the control plane
    validates them in a worker thread, and a mobile node registers (RFC 5944
    §3.3, accepted) while that validation runs; then the transaction
    commits whole."""
    sas = 30_000

    async def scenario() -> None:
        async with Rig(tmp_path) as rig:
            content = configuration()
            content["security"]["host"] += [
                {"address": f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", "spi": 256, "key-hex": "00" * 16}
                for i in range(1, sas + 1)]
            entries = management_full(content)
            loop = asyncio.get_running_loop()
            session = rig.management.session
            number = session.begin_transaction(entries, loop.time(), full=True)
            assert session.counters.frames_sent > 50  # in parts
            rig.management.connection.flush()  # type: ignore[union-attr]
            await until(lambda: rig.plane.host.validating, "the validation in its thread")
            assert await rig.register("192.0.2.9") == ReplyCode.ACCEPTED
            assert rig.plane.host.validating  # answered during it, not after
            prepared = await rig.management.next(s.TransactionPrepared)
            assert prepared.transaction == number
            session.commit(number, loop.time())
            rig.management.connection.flush()  # type: ignore[union-attr]
            await rig.management.next(s.TransactionApplied)
            assert len(rig.running()["proxy-mobile-ip:mobile-ip"]["security"]["host"]) == sas + 1
            assert await rig.register("192.0.2.9") == ReplyCode.ACCEPTED

    run(scenario)


def test_a_transaction_whose_session_goes_while_it_validates_is_not_left_prepared(tmp_path: Path) -> None:
    """The management plane dies while the worker thread validates: when the
    validation ends nobody waits for the verdict, so the prepared transaction
    is aborted at once (running and the SA tables unchanged), not held."""
    async def scenario() -> None:
        async with Rig(tmp_path) as rig:
            content = configuration()
            content["security"]["host"] += [
                {"address": f"10.0.{i >> 8}.{i & 255}", "spi": 256, "key-hex": "00" * 16}
                for i in range(1, 20_001)]
            session = rig.management.session
            session.begin_transaction(management_full(content), asyncio.get_running_loop().time(), full=True)
            rig.management.connection.flush()  # type: ignore[union-attr]
            await until(lambda: rig.plane.host.validating, "the validation in its thread")
            await rig.management.go_away()
            await until(lambda: not rig.plane.host.validating, "the end of the validation")
            await asyncio.sleep(0.05)
            assert rig.plane.host.prepared is None
            assert len(rig.running()["proxy-mobile-ip:mobile-ip"]["security"]["host"]) == 1
            assert await rig.register("192.0.2.9") == ReplyCode.ACCEPTED

    run(scenario)
