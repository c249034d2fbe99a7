"""The management plane process (issue 14): the datastore (the startup file),
NETCONF, SNMP, the control channel and the notification fan-out, with an
operational mirror fed by the control plane's state stream. It never runs an
engine: every read of operational state is answered from the mirror, every
configuration change crosses the plane boundary as a two-phase transaction
(``config_boundary``), the engines' RPCs are boundary RPCs
(``boundary_rpcs``). The protocol is ``docs/architecture.md``'s "The plane
boundary"; this process listens, the control plane connects.

``python -m agent.plane.management_plane --startup FILE --socket PATH
[--control-socket PATH] [--change-timeout S]`` prints one line ``ready
{...}`` (its endpoints, JSON) once it serves, for the supervisor
(``agent.plane.supervisor``), reloads the startup file into running on
SIGHUP and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.aio.control import ControlError, ControlServer
from agent.control_requests import check_request
from agent.datastore.store import RUNNING
from agent.datastore.tree import to_json
from agent.datastore_requests import DATASTORE_OPS, clear_subnet_map, datastore_request
from agent.plane import mirror_view
from agent.plane import session as s
from agent.plane.boundary_rpcs import BoundaryRpcs
from agent.plane.config_boundary import BoundaryDatastore, ConfigBoundary
from agent.plane.link import PlaneLink, PlaneListener
from agent.plane.mirror import OperationalMirror

log = logging.getLogger("proxymip.management")

#: The YANG state-period's default (ms), when running has none.
DEFAULT_STATE_PERIOD_MS = 1000


class ManagementPlane:
    """Listens on ``socket_path`` for the control plane (one session at a
    time: a newer connection replaces an older one, as a restarted control
    plane's does) and serves NETCONF, SNMP and the control channel over
    ``datastore``. ``change_timeout`` / ``rpc_timeout``: the boundary's
    verdict and RPC timeouts (5 s and 2 s; tests shorten them)."""

    def __init__(self, datastore: BoundaryDatastore, *, socket_path: str,
                 control_socket: str | None = None, state_dir: str = ".",
                 clock: Callable[[], float] = time.time,
                 change_timeout: float = s.CHANGE_TIMEOUT,
                 rpc_timeout: float = s.RPC_TIMEOUT) -> None:
        self.datastore = datastore
        self.socket_path = socket_path
        self.control_socket = control_socket
        self.state_dir = state_dir
        self.clock = clock  # POSIX time: lifetimes, notification times
        # Notifications (a Notification message, or rendered by the mirror
        # from a turn's engine events) go to NETCONF subscribers and SNMP.
        self.mirror = OperationalMirror(on_notification=lambda n: self.datastore.publish(
            n.name, dict(n.body), n.event_time))
        self.epoch = time.time_ns()
        self.change_timeout = change_timeout
        self.rpc_timeout = rpc_timeout
        self.sessions = 0
        self.link: PlaneLink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: PlaneListener | None = None
        self._boundary: ConfigBoundary | None = None
        self._rpcs: BoundaryRpcs | None = None
        self._netconf: Any = None
        self._snmp: Any = None
        self._control: ControlServer | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._settings_of: tuple[dict[str, Any], Any] | None = None

    # -- start and stop ------------------------------------------------------------------

    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._boundary = ConfigBoundary(self.datastore, clock=loop.time)
        self._rpcs = BoundaryRpcs(link=lambda: self.link, clock=loop.time)
        # The boundary is running's one subscriber for the whole module: the
        # control plane validates and applies every change (its veto ends
        # the transaction); snmp-agent is also ours (below).
        self._unsubscribe = self.datastore.subscribe(self._boundary)
        self.datastore.register_provider(self.operational)
        self._listener = PlaneListener(self.socket_path, self._connected, loop=loop)
        self._listener.start()
        config = self._config()
        if config.netconf is not None:
            await self._start_netconf(config.netconf)
        await self._start_snmp(config.snmp)
        if self.control_socket:
            self._control = ControlServer(self.control_socket, self.handle_control)
            await self._control.start()

    async def _start_netconf(self, settings: Any) -> None:
        from agent.netconf.service import NetconfService

        assert self._rpcs is not None
        handlers = self._rpcs.handlers() | {
            "clear-subnet-map": lambda given: clear_subnet_map(self.datastore, given)}
        self._netconf_address = settings.address
        self._netconf = await NetconfService.start(
            settings, self.datastore, rpc_handlers=handlers, clock=self.clock,
            state_dir=self.state_dir)

    async def _start_snmp(self, settings: Any) -> None:
        from agent.plane.snmp_sources import mirror_sources
        from agent.aio.snmp_service import SnmpService

        assert self._loop is not None
        loop = self._loop

        def running() -> dict[str, Any]:
            return self.datastore.snapshot(RUNNING).effective

        def sources() -> Any:
            return mirror_sources(self.mirror, config=running, role_settings=self._role_settings,
                                  clock=loop.time, started_at=self.clock())

        self._snmp = SnmpService(self.datastore, sources=sources, clock=self.clock,
                                 state_dir=self.state_dir)
        await self._snmp.start(settings)
        self._snmp.follow_configuration()

    async def close(self) -> None:
        if self._control is not None:
            await self._control.close()
        if self._snmp is not None:
            self._snmp.close()
        if self._netconf is not None:
            await self._netconf.close()
        if self._listener is not None:
            self._listener.close()
        if self.link is not None:
            self.link.close()
        if self._unsubscribe is not None:
            self._unsubscribe()

    def endpoints(self) -> dict[str, str]:
        out = {"plane": self.socket_path}
        if self._netconf is not None:
            out["netconf"] = f"{self._netconf_address}:{self._netconf.port}"
        if self._snmp is not None and self._snmp.agent is not None:
            agent = self._snmp.agent
            out["snmp"] = f"{agent.settings.address}:{agent.port}"
        if self.control_socket:
            out["control"] = self.control_socket
        return out

    # -- configuration read here -----------------------------------------------------------

    def _config(self) -> Any:
        """Running as ``AgentConfig`` (NETCONF and SNMP settings, the roles'
        settings the MIBs show), rebuilt when running changed."""
        from agent.config.loader import build_config

        effective = self.datastore.snapshot(RUNNING).effective
        cached = self._settings_of
        if cached is None or cached[0] is not effective:  # trees are immutable: identity
            cached = self._settings_of = (effective, build_config(to_json(effective)))
        return cached[1]

    def _role_settings(self, role: str) -> Any:
        config = self._config()
        unit = {"home-agent": config.home_agent, "foreign-agent": config.foreign_agent,
                "proxy": config.proxy}.get(role)
        return unit.settings if unit is not None else None

    @property
    def state_period(self) -> float:
        """Seconds (the YANG ``state-period``)."""
        effective = self.datastore.snapshot(RUNNING).effective
        return int(effective.get("state-period", DEFAULT_STATE_PERIOD_MS)) / 1000

    # -- the plane connection ------------------------------------------------------------------

    def _connected(self, sock: socket.socket, pid: int) -> None:
        assert self._loop is not None
        if self.link is not None:
            log.warning("control plane pid %d connected: replacing the session of pid %s",
                        pid, self.link.peer_pid)
            self.link.close()
        session = s.ManagementSession(epoch=self.epoch, pid=os.getpid(), now=self._loop.time(),
                                      change_timeout=self.change_timeout,
                                      rpc_timeout=self.rpc_timeout)
        link: PlaneLink

        def on_event(event: s.Event) -> None:
            self._on_event(link, event)

        link = PlaneLink(sock, session, on_event, loop=self._loop, on_closed=self._closed,
                         peer_pid=pid)
        self.link = link

    def _closed(self, link: PlaneLink) -> None:
        if self.link is link:
            self.link = None
            self.mirror.connection_lost()
        if self._boundary is not None:
            self._boundary.session_closed(link)

    def _on_event(self, link: PlaneLink, event: s.Event) -> None:
        assert self._loop is not None and self._boundary is not None and self._rpcs is not None
        if type(event) is s.StateReceived:
            message = event.message
            needed = self.mirror.apply(message, self._loop.time())
            if needed is not None and link.session.state is s.SessionState.ESTABLISHED:
                log.warning("operational mirror: %s; resynchronising", needed.reason)
                link.session.request_resync(needed.reason)
                link.flush()
            return
        if self._boundary.handle(event) or self._rpcs.handle(event):
            return
        if isinstance(event, s.SessionEstablished):
            self.sessions += 1
            log.info("control plane pid %d connected (epoch %d, protocol v%d)",
                     event.peer_pid, event.peer_epoch, event.version)
            self._boundary.session_established(link)
        elif isinstance(event, s.SessionClosed):
            log.info("control plane session closed: %s (%s)", event.reason, event.tag.value)
        elif isinstance(event, s.ProtocolViolation):
            log.warning("plane protocol violation: %s %s", event.fault, event.detail[:200])

    @property
    def connected(self) -> bool:
        link = self.link
        return link is not None and link.session.state is s.SessionState.ESTABLISHED

    # -- reads: the mirror only ------------------------------------------------------------------

    def operational(self) -> dict[str, Any]:
        """The datastore's operational provider."""
        assert self._loop is not None
        return mirror_view.operational(self.mirror, self._loop.time(), wall_now=self.clock(),
                                       connected=self.connected, state_period=self.state_period)

    def state(self, *, rows: bool = True) -> dict[str, Any]:
        assert self._loop is not None
        return mirror_view.control_state(self.mirror, self._loop.time(), wall_now=self.clock(),
                                         rows=rows, connected=self.connected,
                                         state_period=self.state_period)

    def counters(self) -> dict[str, Any]:
        assert self._loop is not None
        return mirror_view.control_counters(self.mirror, self._loop.time())

    # -- the control channel ------------------------------------------------------------------

    def handle_control(self, request: dict[str, Any]) -> dict[str, Any]:
        """The control channel (``agent.aio.control``): reads from the
        mirror, configuration through the datastore, client events and
        clear-counters as boundary RPCs."""
        from agent.netconf.errors import RpcError

        check_request(request)
        op = request["op"]
        if op == "state":
            return self.state(rows=bool(request.get("rows", True)))
        if op == "counters":
            return self.counters()
        if op in DATASTORE_OPS:
            return datastore_request(self.datastore, op, request)
        assert self._rpcs is not None
        rpcs = self._rpcs
        try:
            if op == "clear-counters":
                rpcs.clear_counters({})
                return {"ok": True}
            if op == "associate-many":
                # Checked whole before any is sent (as the single-process agent).
                batch = [_client_event("associated", client) for client in request["clients"]]
                for given in batch:
                    rpcs.inject_client_event(given)
                return {"ok": True, "count": len(batch)}
            kind = {"associate": "associated", "address": "address-learned",
                    "disassociate": "disassociated"}[op]
            rpcs.inject_client_event(_client_event(kind, request))
            return {"ok": True}
        except RpcError as exc:
            raise ControlError(exc.message) from None


def _client_event(kind: str, given: dict[str, Any]) -> dict[str, Any]:
    from ipaddress import IPv4Address

    from agent.access.events import normalise_mac

    out: dict[str, Any] = {"event": kind, "mac": normalise_mac(given["mac"])}
    if given.get("address"):
        out["address"] = str(IPv4Address(given["address"]))
    if given.get("interface"):
        out["interface"] = given["interface"]
    return out


# -- the process ---------------------------------------------------------------------------------


async def serve(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    path: Path = args.startup
    datastore = BoundaryDatastore(startup_file=path)
    plane = ManagementPlane(datastore, socket_path=args.socket, control_socket=args.control_socket,
                            state_dir=str(path.resolve().parent),
                            change_timeout=args.change_timeout)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        await plane.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, _reload_startup, datastore)
        print("ready " + json.dumps(plane.endpoints(), sort_keys=True), flush=True)
        await stop.wait()
    finally:
        await plane.close()
        datastore.close()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)
    return 0


def _reload_startup(datastore: BoundaryDatastore) -> None:
    """SIGHUP: the startup file into running as one transaction (RFC 6241
    §7.3 copy-config startup -> running), across the boundary like any other
    change; a refusal (an invalid file, a veto, no control plane) leaves
    running as it was."""
    from agent.datastore.errors import DatastoreError

    try:
        changes = datastore.reload_startup()
    except DatastoreError as exc:
        where = f"{exc.path}: " if exc.path else ""
        log.error("reload of the startup file refused, running unchanged: %s: %s%s",
                  exc.tag.value, where, exc.message)
    else:
        log.warning("startup file reloaded into running: %d changes", len(changes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.plane.management_plane",
                                     description="the management plane of proxymip run (internal)")
    parser.add_argument("--startup", type=Path, required=True,
                        help="the startup file (.json or .xml)")
    parser.add_argument("--socket", required=True, help="the plane socket to listen on")
    parser.add_argument("--control-socket",
                        help="serve the local control channel (JSON lines) here")
    parser.add_argument("--change-timeout", type=float, default=s.CHANGE_TIMEOUT,
                        help="seconds to wait for the control plane's verdict (default 5)")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    from agent.datastore.errors import DatastoreError
    from agent.schema.errors import ConfigError

    try:
        return asyncio.run(serve(args))
    except (DatastoreError, ConfigError, OSError) as exc:
        print(f"management plane: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
