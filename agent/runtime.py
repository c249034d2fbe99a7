"""Composition root: builds the role engines from an ``AgentConfig``, runs each on
its asyncio adapter, connects client sources (hostapd, the control channel) to
the proxy, and answers control requests. Nothing else wires engines, adapters
and logging."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from agent.access.events import (
    ClientAddressLearned,
    ClientAssociated,
    ClientDisassociated,
    ClientEvent,
    normalise_mac,
)
from agent.aio.control import ControlError, ControlServer
from agent.control_requests import check_request
from agent.aio.engine_runner import EngineRunner
from agent.aio.hostapd import HostapdMonitor
from agent.config.model import AgentConfig
from agent.mobileip.foreign_agent import ForeignAgent
from agent.mobileip.home_agent import HomeAgent
from agent.mobileip.proxy import ProxyAgent
from agent.mobileip.violations import ViolationLog
from agent.notifications import notification_for
from agent.radius.client import RadiusClient
from agent.radius.resolver import SecurityAssociationResolver
from agent.operational import (
    client_detection_state,
    foreign_agent_state,
    home_agent_state,
    proxy_state,
    radius_state,
    violations_state,
)

log = logging.getLogger("proxymip")

event_log = logging.getLogger("proxymip.events")


def describe_event(role: str, event: object) -> str:
    """One log line per event; events carry no key material by construction."""
    parts = []
    for name in getattr(event, "__slots__", ()):
        value = getattr(event, name)
        parts.append(f"{name}={getattr(value, 'value', value) if not isinstance(value, int) else value}")
    return f"{role} {type(event).__name__} {' '.join(parts)}"


@dataclass
class Agent:
    config: AgentConfig
    on_event: Callable[[str, object], None] | None = None
    clock: Callable[[], float] = time.time
    violations: ViolationLog = field(default_factory=ViolationLog)
    home_agent: HomeAgent | None = None
    foreign_agent: ForeignAgent | None = None
    proxy: ProxyAgent | None = None
    runners: dict[str, EngineRunner] = field(default_factory=dict)
    #: Control channel path (JSON lines); defaults to the proxy's configured one.
    control_socket: str | None = None
    #: The datastore in front of the engines, when the agent runs with one.
    datastore: Any = None
    radius_client: Any = None
    #: The home agent's own RADIUS client (its lookups counted apart from the proxy's).
    home_agent_radius_client: Any = None
    netconf_server: Any = None
    #: The SNMP service (agent.aio.snmp_service.SnmpService): its agent runs
    #: when snmp-agent is configured.
    _snmp: Any = None
    #: The NETCONF service (agent.netconf.service.NetconfService).
    _netconf: Any = None
    #: The kernel data path (``agent.dataplane.service.DataPlaneService``) when
    #: the configuration has a ``data-plane`` container.
    data_plane: Any = None
    #: ``agent.aio.checkpoint.CheckpointWriter`` with a ``state-checkpoint``.
    checkpoint: Any = None
    #: Where relative state files (the SSH host key) live.
    state_dir: str = "."
    _control: ControlServer | None = None
    _monitors: list[HostapdMonitor] = field(default_factory=list)
    _snoopers: list[Any] = field(default_factory=list)
    #: The access point's ARP interception (``agent.access.interception``),
    #: when a client-facing link has ``arp-interception``.
    interception: Any = None
    _snoop_by_interface: dict[str, Any] = field(default_factory=dict)

    async def start(self) -> None:
        cfg = self.config
        if cfg.radius is not None and cfg.proxy is not None:
            self.radius_client = await RadiusClient.open(cfg.radius.client)
        if cfg.radius is not None and cfg.home_agent is not None:
            # Cisco "aaa authorization ipmobile": SAs of mobile nodes from RADIUS.
            self.home_agent_radius_client = await RadiusClient.open(cfg.radius.client)
        if cfg.home_agent is not None:
            self.start_home_agent()
        if cfg.foreign_agent is not None:
            self.start_foreign_agent()
        if cfg.proxy is not None:
            self.start_proxy()
        if cfg.checkpoint is not None:
            self.start_checkpoint()
        if cfg.data_plane is not None:
            self.start_data_plane()
        if cfg.netconf is not None and self.datastore is not None:
            await self._start_netconf()
        await self._start_snmp()
        # snmp-agent changes take effect at once (NETCONF manages SNMP access).
        self._snmp.follow_configuration()
        path = self.control_socket or (cfg.proxy.control_socket if cfg.proxy else None)
        if path:
            self._control = ControlServer(path, self.handle_control)
            await self._control.start()

    # Roles start and stop synchronously so that a configuration change can
    # switch them in the datastore's done phase.

    def start_home_agent(self) -> None:
        cfg = self.config
        assert cfg.home_agent is not None
        resolver = None
        if cfg.radius is not None and self.home_agent_radius_client is not None:
            resolver = SecurityAssociationResolver(cfg.radius.resolver)
        self.home_agent = HomeAgent(
            cfg.home_agent.settings,
            mobile_nodes=cfg.host_associations,
            peers=cfg.peer_associations,
            violations=self.violations,
            sa_resolver=resolver,
            sa_wait=cfg.radius.registration_wait if cfg.radius is not None else 5.0,
        )
        self.runners["home-agent"] = EngineRunner.open(
            self.home_agent,
            name="home-agent",
            address=str(cfg.home_agent.listen.address),
            port=cfg.home_agent.listen.port,
            on_event=self._event_handler("home-agent"),
        )
        if resolver is not None:
            self.runners["home-agent"].after_flush = self._dispatch_home_agent_sa_lookups

    def start_foreign_agent(self) -> None:
        cfg = self.config
        assert cfg.foreign_agent is not None
        self.foreign_agent = ForeignAgent(
            cfg.foreign_agent.settings,
            # Host SAs are mobile node - home agent SAs: the FA does not check
            # them (RFC 5944 §3.7.2.1 needs an MN-FA SA for an MFAE check).
            home_agents=cfg.peer_associations,
            violations=self.violations,
            now=self.clock(),
        )
        self.runners["foreign-agent"] = EngineRunner.open(
            self.foreign_agent,
            name="foreign-agent",
            address=str(cfg.foreign_agent.listen.address),
            port=cfg.foreign_agent.listen.port,
            on_event=self._event_handler("foreign-agent"),
            discovery=cfg.foreign_agent.discovery,
            discovery_interface=cfg.foreign_agent.discovery_interface,
        )

    def start_proxy(self) -> None:
        cfg = self.config
        assert cfg.proxy is not None
        resolver = None
        if cfg.radius is not None and self.radius_client is not None:
            resolver = SecurityAssociationResolver(cfg.radius.resolver)
        self.proxy = ProxyAgent(
            cfg.proxy.settings,
            subnet_map=cfg.proxy.subnet_map,
            host_associations=cfg.host_associations,
            sa_resolver=resolver,
        )
        self.runners["proxy"] = EngineRunner.open(
            self.proxy,
            name="proxy",
            address=str(cfg.proxy.listen.address),
            port=cfg.proxy.listen.port,
            on_event=self._event_handler("proxy"),
            discovery=cfg.proxy.discovery,
        )
        if resolver is not None:
            self.runners["proxy"].after_flush = self._dispatch_sa_lookups
        snoopers: dict[str, Any] = {}
        for snoop in cfg.proxy.snoop:
            from agent.access.snoop import ClientSnooper
            from agent.aio.snoop import SnoopSocket

            snooper = ClientSnooper(snoop.interface, associates=snoop.associates,
                                    inactivity=snoop.inactivity,
                                    max_stations=cfg.proxy.settings.max_visitors,
                                    max_unassociated=snoop.max_unassociated)
            link = SnoopSocket(snoop.device, snooper, self._client_event_quiet, self.clock)
            self._snoopers.append(link)
            self._snoop_by_interface[snoop.interface] = link
            snoopers[snoop.interface] = snooper
            if snoop.intercept:
                from agent.access.intercept import ArpInterceptor

                own_mac = link.own_mac()
                if len(own_mac) != 6:
                    from agent.config.loader import ConfigError

                    link.close()
                    raise ConfigError(
                        f"/proxy-mobile-ip:mobile-ip/proxy/interface[name='{snoop.interface}']"
                        "/arp-interception",
                        f"{snoop.device} is not an Ethernet interface (no MAC to answer with)")
                link.interceptor = ArpInterceptor(
                    own_mac, local_networks=cfg.proxy.settings.local_networks)
        self._start_interception()
        for source in cfg.proxy.hostapd:
            on_event = self.client_event
            snooper = snoopers.get(source.interface)
            if snooper is not None:
                on_event = self._with_snooped_address(snooper)
            monitor = HostapdMonitor(source.control_path, source.interface, on_event)
            monitor.start()
            self._monitors.append(monitor)

    def _start_interception(self) -> None:
        from agent.access.interception import Interception

        interceptors = {name: link.interceptor for name, link in self._snoop_by_interface.items()
                        if link.interceptor is not None}
        if not interceptors:
            self.interception = None
            return

        def interface_of(mac: str) -> str | None:
            visitor = self.proxy.visitor(mac) if self.proxy is not None else None
            return visitor.interface if visitor is not None else None

        def subnet_entry(address: IPv4Address) -> Any:
            proxy = self.config.proxy
            return proxy.subnet_map.lookup(address) if proxy is not None else None

        self.interception = Interception(interceptors, interface_of, subnet_entry)

    def _intercept(self, event: object) -> None:
        """The proxy's registration events drive the ARP interception."""
        for interface, frames in self.interception.proxy_event(event, self.clock()):
            self._snoop_by_interface[interface].send(frames)

    def interception_state(self) -> dict[str, int]:
        counters: dict[str, int] = self.interception.counters()
        counters["send-errors"] = sum(link.send_errors for link in self._snoop_by_interface.values())
        return counters

    def _with_snooped_address(self, snooper: Any) -> Callable[[ClientEvent], None]:
        """hostapd's events for a link that is also snooped: an association
        gets the address already seen from that MAC (its frames may come before
        802.1X completes); a departed client's next frame is news again."""
        def on_event(event: ClientEvent) -> None:
            if isinstance(event, ClientAssociated):
                event = ClientAssociated(event.mac, event.interface,
                                         event.address or snooper.associated(event.mac, self.clock()))
            elif isinstance(event, ClientDisassociated):
                snooper.forget(event.mac)
            self.client_event(event)

        return on_event

    def _client_event_quiet(self, event: ClientEvent) -> None:
        if self.proxy is not None:
            self.client_event(event)

    def start_data_plane(self) -> None:
        """Tunnels, routes and proxy ARP that follow the HA's bindings and the
        FA's visitors (``agent.dataplane``), rebuilt at once from what the
        engines hold (after a restart: from the state they restored)."""
        from agent.dataplane.plane import DataPlaneSettings
        from agent.dataplane.service import DataPlaneService

        cfg = self.config.data_plane
        assert cfg is not None
        local = cfg.tunnel_source
        if local is None and self.config.home_agent is not None:
            local = self.config.home_agent.settings.address
        if local is None and self.config.foreign_agent is not None:
            local = self.config.foreign_agent.settings.offered_care_of_addresses[0]
        if local is None:
            raise ControlError("data-plane needs tunnel-source when neither the home nor "
                               "the foreign agent role runs")
        settings = DataPlaneSettings(
            home_interface=cfg.home_interface,
            access_interface=cfg.access_interface,
            reverse_table_base=cfg.reverse_table_base,
            reverse_rule_priority=cfg.reverse_rule_priority,
            gratuitous_arp=cfg.gratuitous_arp,
        )

        def flags(home: IPv4Address) -> int | None:
            engine = self.foreign_agent
            visitor = engine.visitor(home) if engine is not None else None
            return visitor.flags if visitor is not None else None

        def proxy_arp_sent() -> None:
            if self.home_agent is not None:
                self.home_agent.counters.proxy_arps_sent += 1  # haProxyARPsSent

        self.data_plane = DataPlaneService.open(
            backend=cfg.backend, local=local, settings=settings, visitor_flags=flags,
            on_proxy_arp=proxy_arp_sent)
        self.data_plane.plane.restore(self)

    def start_checkpoint(self) -> None:
        """Take back the bindings and visitors of the last run (those still
        alive), then keep the file current (YANG ``state-checkpoint``)."""
        import os
        from pathlib import Path

        from agent.aio.checkpoint import CheckpointWriter, read_checkpoint
        from agent.aio.checkpoint_records import Screened, screen_checkpoint

        cfg = self.config.checkpoint
        assert cfg is not None
        path = Path(cfg.file if os.path.isabs(cfg.file) else os.path.join(self.state_dir, cfg.file))
        now = self.clock()
        document = read_checkpoint(path, now=now)
        # Every row checked first: a bad one is skipped with its reason, never
        # an exception at start (issue 13: "lifetime": 1e999 stopped the agent).
        screened = screen_checkpoint(document, now) if document is not None else Screened()
        for reason, count in sorted(screened.skipped.items()):
            log.warning("state checkpoint %s: %d skipped, %s", path, count, reason)
        for role, engine in (("home-agent", self.home_agent), ("foreign-agent", self.foreign_agent)):
            saved = screened.parts.get(role)
            if engine is None or saved is None:
                continue
            try:
                restored = engine.restore_state(saved, now)
            except (ValueError, KeyError, TypeError, OverflowError) as exc:
                log.warning("state checkpoint %s: %s part unusable (%s): not restored",
                            path, role, type(exc).__name__)
                continue
            log.info("state checkpoint %s: %s restored %d entries", path, role, restored)
            self.runners[role].poke()  # announce them (data plane, notifications)

        def content() -> dict[str, Any]:
            out: dict[str, Any] = {}
            if self.home_agent is not None:
                out["home-agent"] = self.home_agent.export_state()
            if self.foreign_agent is not None:
                out["foreign-agent"] = self.foreign_agent.export_state()
            return out

        def version() -> tuple[int, ...]:
            return (id(self.home_agent), getattr(self.home_agent, "state_version", 0),
                    id(self.foreign_agent), getattr(self.foreign_agent, "state_version", 0))

        self.checkpoint = CheckpointWriter(path, cfg.interval, content=content, version=version,
                                           clock=self.clock)
        self.checkpoint.skipped_records = screened.skipped_count
        self.checkpoint.start()

    def stop_data_plane(self) -> None:
        """Remove every tunnel, route, rule and proxy entry the data plane made."""
        if self.data_plane is not None:
            self.data_plane.close()
            self.data_plane = None

    async def _start_netconf(self) -> None:
        """The NETCONF server in front of the datastore (``agent.netconf.service``),
        with the module's RPCs run on the engines."""
        from agent.netconf.errors import RpcError
        from agent.netconf.service import NetconfService

        assert self.config.netconf is not None

        def wrap(handler: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
            def call(given: dict[str, Any]) -> dict[str, Any]:
                try:
                    return handler(given)
                except ControlError as exc:
                    raise RpcError("operation-failed", str(exc)) from None

            return call

        service = await NetconfService.start(
            self.config.netconf, self.datastore,
            rpc_handlers={name: wrap(fn) for name, fn in self.rpc_handlers().items()},
            clock=self.clock, state_dir=self.state_dir)
        self._netconf = service
        self.netconf_server = service.server
        self._netconf_confirmed_commits = service.confirmed_commits

    async def _start_snmp(self) -> None:
        """The SNMP agent (``agent.aio.snmp_service``), its MIBs reading the engines."""
        from agent.aio.snmp_service import SnmpService
        from agent.snmp.sources import Sources

        datastore = self.datastore

        def running() -> dict[str, Any]:
            return datastore.snapshot("running").effective if datastore is not None else {}

        def sources() -> Sources:  # each start of the SNMP agent: its sysUpTime 0
            return Sources(
                home_agent=lambda: self.home_agent,
                foreign_agent=lambda: self.foreign_agent,
                proxy=lambda: self.proxy,
                violations=lambda: self.violations,
                config=running,
                started_at=self.clock(),
            )

        self._snmp = SnmpService(datastore, sources=sources, clock=self.clock,
                                 state_dir=self.state_dir)
        await self._snmp.start(self.config.snmp)

    @property
    def snmp_agent(self) -> Any:
        """The SNMP agent (agent.snmp.server.SnmpAgent) while one runs."""
        return self._snmp.agent if self._snmp is not None else None

    def _dispatch_sa_lookups(self) -> None:
        """Send the proxy's pending SA lookups to RADIUS; each outcome goes back
        into the engine (sa_answer) and the engine is flushed again."""
        proxy, client = self.proxy, self.radius_client
        if proxy is None or client is None:
            return
        for address in proxy.sa_requests_to_send():
            client.submit(address, self._sa_outcome)

    def _dispatch_home_agent_sa_lookups(self) -> None:
        """As _dispatch_sa_lookups, for the home agent's waiting registrations."""
        home_agent, client = self.home_agent, self.home_agent_radius_client
        if home_agent is None or client is None:
            return
        for address in home_agent.sa_requests_to_send():
            client.submit(address, self._home_agent_sa_outcome)

    def _home_agent_sa_outcome(self, address: IPv4Address, outcome: Any) -> None:
        if self.home_agent is not None and "home-agent" in self.runners:
            self.home_agent.sa_answer(address, outcome, self.clock())
            self.runners["home-agent"].poke()

    def _sa_outcome(self, address: IPv4Address, outcome: Any) -> None:
        if self.proxy is not None and "proxy" in self.runners:
            self.proxy.sa_answer(address, outcome, self.clock())
            self.runners["proxy"].poke()

    def stop_role(self, role: str) -> None:
        """Stop one role cleanly: the proxy deregisters its clients first."""
        if role == "proxy" and self.proxy is not None and "proxy" in self.runners:
            now = self.clock()
            for visitor in self.proxy.visitors():
                self.proxy.client_disassociated(visitor.mac, now)
            self.runners["proxy"].poke()
            for monitor in self._monitors:
                monitor.cancel()
            self._monitors.clear()
            for snooper in self._snoopers:
                snooper.close()
            self._snoopers.clear()
            self._snoop_by_interface.clear()
            self.interception = None
        runner = self.runners.pop(role, None)
        if runner is not None:
            runner.close()
        if role == "home-agent":
            self.home_agent = None
        elif role == "foreign-agent":
            self.foreign_agent = None
        elif role == "proxy":
            self.proxy = None
        if self.data_plane is not None:
            self.data_plane.plane.restore(self)  # what the stopped role had goes

    def _event_handler(self, role: str) -> Callable[[object], None]:
        def handle(event: object) -> None:
            if event_log.isEnabledFor(logging.INFO):
                event_log.info(describe_event(role, event))
            if role == "proxy" and self.interception is not None:
                self._intercept(event)
            if self.data_plane is not None:
                announced = self.data_plane.handle(role, event)
                if announced and self.home_agent is not None:
                    self.home_agent.counters.gratuitous_arps_sent += announced
            if self.datastore is not None:
                notification = notification_for(role, event)
                if notification is not None:
                    self.datastore.publish(*notification, self.clock())
            if self.on_event is not None:
                self.on_event(role, event)

        return handle

    # -- client events -----------------------------------------------------------

    def client_event(self, event: ClientEvent) -> None:
        """Feed one client event to the proxy and flush what it wants to send."""
        proxy = self.proxy
        if proxy is None:
            raise ControlError("the proxy role is not running")
        now = self.clock()
        if self.interception is not None:
            self.interception.client_event(event, now)
        if isinstance(event, ClientAssociated):
            proxy.client_associated(event.mac, now, address=event.address, interface=event.interface)
        elif isinstance(event, ClientAddressLearned):
            proxy.client_address_learned(event.mac, event.address, now)
        elif isinstance(event, ClientDisassociated):
            proxy.client_disassociated(event.mac, now)
        self.runners["proxy"].poke()

    # -- control channel ---------------------------------------------------------

    def handle_control(self, request: dict[str, Any]) -> dict[str, Any]:
        check_request(request)  # the shape first: nothing below meets a wrong type
        op = request["op"]
        if op == "associate":
            address = IPv4Address(request["address"]) if request.get("address") else None
            self.client_event(
                ClientAssociated(normalise_mac(request["mac"]), request.get("interface"), address)
            )
            return {"ok": True}
        if op == "associate-many":
            # Bulk injection (simulators, benchmarks): one flush for the batch.
            proxy = self.proxy
            if proxy is None:
                raise ControlError("the proxy role is not running")
            # Validate the whole batch before applying any of it.
            batch = [
                (
                    normalise_mac(client["mac"]),
                    IPv4Address(client["address"]) if client.get("address") else None,
                    client.get("interface"),
                )
                for client in request["clients"]
            ]
            now = self.clock()
            for mac, address, interface in batch:
                proxy.client_associated(mac, now, address=address, interface=interface)
            self.runners["proxy"].poke()
            return {"ok": True, "count": len(request["clients"])}
        if op == "address":
            self.client_event(
                ClientAddressLearned(normalise_mac(request["mac"]), IPv4Address(request["address"]))
            )
            return {"ok": True}
        if op == "disassociate":
            self.client_event(ClientDisassociated(normalise_mac(request["mac"])))
            return {"ok": True}
        if op == "state":
            return self.state(rows=bool(request.get("rows", True)))
        if op == "counters":
            return self.counters()
        if op in ("get-config", "edit-config", "copy-config", "commit", "discard-changes"):
            return self._datastore_op(op, request)
        if op == "clear-counters":
            for engine in (self.home_agent, self.foreign_agent, self.proxy):
                if engine is not None:
                    engine.clear_counters()
            return {"ok": True}
        raise ControlError(f"unknown op {op!r}")

    # -- the module's RPCs (yang: clear-binding, clear-visitor, clear-counters,
    #    inject-client-event), RFC 7951 JSON input and output ------------------

    def rpc_handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "clear-binding": self._rpc_clear_binding,
            "clear-visitor": self._rpc_clear_visitor,
            "clear-counters": self._rpc_clear_counters,
            "clear-subnet-map": self._rpc_clear_subnet_map,
            "inject-client-event": self._rpc_inject_client_event,
        }

    def _rpc_clear_binding(self, given: dict[str, Any]) -> dict[str, Any]:
        """Cisco ``clear ip mobile binding [<address>]``."""
        if self.home_agent is None:
            raise ControlError("the home agent role is not running")
        now = self.clock()
        if given.get("home-address"):
            cleared = self.home_agent.clear_binding(IPv4Address(given["home-address"]), now)
        else:
            cleared = sum(
                self.home_agent.clear_binding(address, now)
                for address in list(self.home_agent.mobile_nodes())
            )
        self.runners["home-agent"].poke()
        return {"cleared": cleared}

    def _rpc_clear_visitor(self, given: dict[str, Any]) -> dict[str, Any]:
        """Cisco ``clear ip mobile visitor`` (FA, by home address) or the proxy's
        visitor by MAC (deregistered first)."""
        if "mac" in given:
            if self.proxy is None:
                raise ControlError("the proxy role is not running")
            cleared = self.proxy.clear_visitor(normalise_mac(given["mac"]), self.clock())
            self.runners["proxy"].poke()
            return {"cleared": int(cleared)}
        if self.foreign_agent is None:
            raise ControlError("the foreign agent role is not running")
        cleared = self.foreign_agent.clear_visitor(IPv4Address(given["home-address"]))
        self.runners["foreign-agent"].poke()
        return {"cleared": int(cleared)}

    def _rpc_clear_counters(self, given: dict[str, Any]) -> dict[str, Any]:
        role = given.get("role", "all")
        engines = {"home-agent": self.home_agent, "foreign-agent": self.foreign_agent,
                   "proxy": self.proxy}
        for name, engine in engines.items():
            if engine is not None and role in ("all", name):
                engine.clear_counters()
        return {}

    def _rpc_clear_subnet_map(self, given: dict[str, Any]) -> dict[str, Any]:
        """Remove one subnet-map entry or all of them from running: one datastore
        transaction, so locks, validation and the live effects of an edit apply."""
        from agent.datastore_requests import clear_subnet_map

        if self.datastore is None:
            raise ControlError("this agent runs without a datastore")
        return clear_subnet_map(self.datastore, given)

    def _rpc_inject_client_event(self, given: dict[str, Any]) -> dict[str, Any]:
        mac = normalise_mac(given["mac"])
        address = IPv4Address(given["address"]) if given.get("address") else None
        kind = given["event"]
        if kind == "associated":
            self.client_event(ClientAssociated(mac, given.get("interface"), address))
        elif kind == "address-learned":
            if address is None:
                raise ControlError("address-learned needs an address")
            self.client_event(ClientAddressLearned(mac, address))
        else:
            self.client_event(ClientDisassociated(mac))
        return {}

    def _datastore_op(self, op: str, request: dict[str, Any]) -> dict[str, Any]:
        from agent.datastore_requests import datastore_request

        if self.datastore is None:
            raise ControlError("this agent runs without a datastore")
        return datastore_request(self.datastore, op, request)

    def state(self, *, rows: bool = True) -> dict[str, Any]:
        """This instant's operational state of every running role (the YANG
        ``*-state`` content, plus entry counts for quick reads)."""
        now = self.clock()
        out: dict[str, Any] = {}
        if self.home_agent is not None:
            out["home-agent"] = home_agent_state(self.home_agent, now, rows=rows) | {
                "binding-count": self.home_agent.binding_count
            }
        if self.foreign_agent is not None:
            out["foreign-agent"] = foreign_agent_state(self.foreign_agent, now, rows=rows) | {
                "visitor-count": self.foreign_agent.visitor_count,
                "pending-count": self.foreign_agent.pending_count,
            }
        if self.proxy is not None:
            out["proxy"] = proxy_state(self.proxy, now, rows=rows) | {
                "registered-count": self.proxy.registered_count
            }
            if self._snoopers:
                out["proxy"]["client-detection"] = client_detection_state(
                    [socket.snooper for socket in self._snoopers])
            if self.interception is not None:
                out["proxy"]["arp-interception"] = self.interception_state()
        out["security-violations"] = violations_state(self.violations)
        if self.data_plane is not None:
            out["data-plane"] = self.data_plane.describe()
        if self.checkpoint is not None:
            out["state-checkpoint"] = {"writes": self.checkpoint.writes, "failures": self.checkpoint.failures,
                                       "skipped-records": self.checkpoint.skipped_records}
        return out

    def operational(self) -> dict[str, Any]:
        """The datastore's operational provider: members of the top container,
        exactly as the YANG models them, read at request time."""
        now = self.clock()
        out: dict[str, Any] = {}
        if self.home_agent is not None:
            out["home-agent-state"] = home_agent_state(self.home_agent, now)
        if self.foreign_agent is not None:
            out["foreign-agent-state"] = foreign_agent_state(self.foreign_agent, now)
        if self.proxy is not None:
            out["proxy-state"] = proxy_state(self.proxy, now)
            if self._snoopers:
                out["proxy-state"]["client-detection"] = client_detection_state(
                    [socket.snooper for socket in self._snoopers])
            if self.interception is not None:
                out["proxy-state"]["arp-interception"] = self.interception_state()
        out["security-violations"] = violations_state(self.violations)
        if self.data_plane is not None:
            out["data-plane-state"] = self.data_plane.state()
        radius = radius_state([
            ("home-agent", self.home_agent_radius_client,
             self.home_agent.sa_resolver if self.home_agent is not None else None, self.home_agent),
            ("proxy", self.radius_client,
             self.proxy.sa_resolver if self.proxy is not None else None, None),
        ], now)
        if radius:
            out["radius-state"] = radius
        return out

    def endpoints(self) -> dict[str, tuple[str, int]]:
        out = {name: runner.local_address for name, runner in self.runners.items()}
        if self.netconf_server is not None:
            out["netconf"] = (self.config.netconf.address, self.netconf_server.port)  # type: ignore[union-attr]
        if self.snmp_agent is not None:
            out["snmp"] = (self.snmp_agent.settings.address, self.snmp_agent.port)
        return out

    def counters(self) -> dict[str, dict[str, int]]:
        """This instant's counters, read from the engines (no copies)."""
        out: dict[str, dict[str, int]] = {}
        if self.home_agent is not None:
            out["home-agent"] = self.home_agent.counters.as_dict() | {
                "bindings": self.home_agent.binding_count
            }
        if self.foreign_agent is not None:
            out["foreign-agent"] = self.foreign_agent.counters.as_dict() | {
                "visitors": self.foreign_agent.visitor_count,
                "pending": self.foreign_agent.pending_count,
            }
        if self.proxy is not None:
            out["proxy"] = self.proxy.counters.as_dict() | {
                "registered": self.proxy.registered_count
            }
        out["security"] = {"total-violations": self.violations.total}
        return out

    async def close(self, *, deregister: bool = True) -> None:
        """Stop every role. The proxy first deregisters the clients it registered
        (Lifetime 0, best effort: one datagram each) so that no binding outlives
        the access point that made it."""
        if deregister and self.proxy is not None and "proxy" in self.runners:
            now = self.clock()
            for visitor in self.proxy.visitors():
                self.proxy.client_disassociated(visitor.mac, now)
            self.runners["proxy"].poke()
        for monitor in self._monitors:
            await monitor.stop()
        for snooper in self._snoopers:
            snooper.close()
        self._snoopers.clear()
        self._snoop_by_interface.clear()
        self.interception = None
        if self.netconf_server is not None:
            await self._netconf.close()
        if self._snmp is not None:
            self._snmp.close()
        if self._control is not None:
            await self._control.close()
        if self.checkpoint is not None:
            await self.checkpoint.close()  # before the engines go: their last state
            self.checkpoint = None
        for runner in self.runners.values():
            runner.close()
        self.runners.clear()
        self.stop_data_plane()
        if self.radius_client is not None:
            self.radius_client.close()
        if self.home_agent_radius_client is not None:
            self.home_agent_radius_client.close()
