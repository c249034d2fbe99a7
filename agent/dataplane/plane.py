"""``DataPlane``: the routes, proxy ARP entries, policy rules and tunnels that
follow the role engines' bindings and visitors.

Home agent (RFC 5944 §4.2.3, §4.6): for each binding, ``<home>/32`` is routed
into the tunnel towards the care-of address, the home address is proxy-ARPed on
the home link and announced there with one gratuitous ARP. A new care-of
address moves the route (one atomic replace); deleting the binding removes all.

Foreign agent (RFC 5944 §4.2.2, RFC 3024): for each visitor a tunnel towards its
home agent is open (decapsulation needs the endpoint registered), and
``<home>/32 dev <access link>`` delivers what comes out of it. When the visitor
registered with the T flag, ``ip rule from <home> iif <access link> table N``
with ``default dev <tunnel>`` in table N (one table per home agent) sends its
traffic back through the tunnel.

Proxy (access point) events need nothing: the access point bridges.

It consumes ``(role, event)`` as ``Agent.on_event`` delivers them; ``restore``
rebuilds from the engines (after a restart, or when a role stops), through
``reconcile`` (any description of the wanted state), and ``close`` removes
everything made."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from agent.dataplane.arp import ArpAnnouncer
from agent.dataplane.routes import KernelRoutes
from agent.dataplane.tunnels import Tunnels
from agent.mobileip.events import (
    BindingCreated,
    BindingDeleted,
    BindingRefreshed,
    RemovalReason,
    VisitorAdded,
    VisitorRemoved,
)

log = logging.getLogger("proxymip.dataplane")

#: The T bit of a Registration Request's flags (RFC 3024 §3.1).
REVERSE_TUNNEL_FLAG = 0x02


@dataclass(frozen=True, slots=True)
class DataPlaneSettings:
    #: Home agent: the home link (proxy ARP, gratuitous ARP). None: no ARP work.
    home_interface: str | None = None
    #: Foreign agent: the link its visitors are on.
    access_interface: str | None = None
    #: Reverse-tunnel routing tables are allocated upwards from here.
    reverse_table_base: int = 100
    reverse_rule_priority: int = 1000
    gratuitous_arp: bool = True


@dataclass(frozen=True, slots=True)
class VisitorRoute:
    home_agent: IPv4Address
    reverse_tunnel: bool


class DataPlane:
    def __init__(
        self,
        settings: DataPlaneSettings,
        *,
        tunnels: Tunnels,
        routes: KernelRoutes,
        arp: ArpAnnouncer | None = None,
        visitor_flags: Callable[[IPv4Address], int | None] = lambda home: None,
        check_inner: bool = True,
    ) -> None:
        """``visitor_flags`` returns the registration flags the foreign agent
        holds for a visitor (``VisitorAdded`` does not carry them)."""
        self.settings = settings
        self.tunnels = tunnels
        self.routes = routes
        self.arp = arp
        self.visitor_flags = visitor_flags
        self._bindings: dict[IPv4Address, IPv4Address] = {}  # home -> care-of
        self._visitors: dict[IPv4Address, VisitorRoute] = {}
        self._tunnel_users: Counter[IPv4Address] = Counter()
        self._reverse_tables: dict[IPv4Address, int] = {}  # home agent -> table
        self._reverse_users: Counter[IPv4Address] = Counter()
        #: Called with a tunnel's remote endpoint each time its users change or
        #: it comes or goes (the control plane streams the tunnel table).
        self.on_tunnel_change: Callable[[IPv4Address], None] | None = None
        # Inner-packet checks, keyed by packed addresses for the fast path.
        self._binding_endpoint: dict[bytes, bytes] = {}  # home -> care-of
        self._visitor_endpoint: dict[bytes, bytes] = {}  # home -> home agent
        if check_inner and hasattr(tunnels, "inner_check"):
            tunnels.inner_check = self.inner_allowed

    @classmethod
    def for_agent(cls, agent: Any, settings: DataPlaneSettings, *, tunnels: Tunnels,
                  routes: KernelRoutes, arp: ArpAnnouncer | None = None) -> DataPlane:
        """A data plane reading visitor flags from ``agent.foreign_agent`` (an
        ``agent.runtime.Agent``). Chain ``handle`` on ``Agent.on_event``."""

        def flags(home: IPv4Address) -> int | None:
            engine = agent.foreign_agent
            visitor = engine.visitor(home) if engine is not None else None
            return visitor.flags if visitor is not None else None

        return cls(settings, tunnels=tunnels, routes=routes, arp=arp, visitor_flags=flags)

    # -- events ----------------------------------------------------------------------

    def handle(self, role: str, event: object) -> None:
        """One engine event. Kernel errors are logged, never raised into the
        engine's runner; ``reconcile`` or ``restore`` repairs afterwards."""
        try:
            self._dispatch(event)
        except Exception:
            log.exception("data plane: %s %s failed", role, type(event).__name__)

    def _dispatch(self, event: object) -> None:
        if isinstance(event, (BindingCreated, BindingRefreshed)):
            self.bind(event.home_address, event.care_of_address)
        elif isinstance(event, BindingDeleted):
            # REPLACED is always followed, in the same flush, by BindingCreated
            # for the new care-of address: that one moves the route atomically.
            if event.reason is not RemovalReason.REPLACED:
                self.unbind(event.home_address, event.care_of_address)
        elif isinstance(event, VisitorAdded):
            flags = self.visitor_flags(event.home_address) or 0
            self.add_visitor(event.home_address, event.home_agent,
                             reverse_tunnel=bool(flags & REVERSE_TUNNEL_FLAG))
        elif isinstance(event, VisitorRemoved):
            self.remove_visitor(event.home_address)

    # -- home agent --------------------------------------------------------------------

    def bind(self, home: IPv4Address, care_of: IPv4Address) -> None:
        previous = self._bindings.get(home)
        if previous == care_of:
            return
        interface = self._take_tunnel(care_of)
        try:
            self.routes.set_route(f"{home}/32", interface)
        except BaseException:
            self._release_tunnel(care_of)
            raise
        self._bindings[home] = care_of
        self._binding_endpoint[home.packed] = care_of.packed
        if previous is not None:
            self._release_tunnel(previous)
            log.info("binding %s moved %s -> %s", home, previous, care_of)
            return
        link = self.settings.home_interface
        if link is not None:
            self.routes.add_proxy_arp(home, link)
            if self.arp is not None and self.settings.gratuitous_arp:
                self.arp.announce(home.packed, link)
        log.info("binding %s -> %s: intercepting on %s", home, care_of, link)

    def unbind(self, home: IPv4Address, care_of: IPv4Address | None = None) -> None:
        current = self._bindings.get(home)
        if current is None or (care_of is not None and care_of != current):
            return
        del self._bindings[home]
        self._binding_endpoint.pop(home.packed, None)
        self.routes.delete_route(f"{home}/32")
        if self.settings.home_interface is not None:
            self.routes.delete_proxy_arp(home, self.settings.home_interface)
        self._release_tunnel(current)
        log.info("binding %s -> %s removed", home, current)

    # -- foreign agent -------------------------------------------------------------------

    def add_visitor(self, home: IPv4Address, home_agent: IPv4Address, *,
                    reverse_tunnel: bool) -> None:
        wanted = VisitorRoute(home_agent, reverse_tunnel)
        if self._visitors.get(home) == wanted:
            return
        if home in self._visitors:
            self.remove_visitor(home)
        access = self.settings.access_interface
        if access is None:
            raise RuntimeError("a foreign agent data plane needs access_interface")
        interface = self._take_tunnel(home_agent)
        try:
            self.routes.set_route(f"{home}/32", access)
        except BaseException:
            self._release_tunnel(home_agent)
            raise
        self._visitors[home] = wanted
        self._visitor_endpoint[home.packed] = home_agent.packed
        if reverse_tunnel:
            table = self._reverse_table(home_agent, interface)
            self.routes.add_rule(home, access, table=table,
                                 priority=self.settings.reverse_rule_priority)
        log.info("visitor %s (home agent %s) on %s%s", home, home_agent, access,
                 ", reverse tunnel" if reverse_tunnel else "")

    def remove_visitor(self, home: IPv4Address) -> None:
        visitor = self._visitors.pop(home, None)
        if visitor is None:
            return
        self._visitor_endpoint.pop(home.packed, None)
        access = self.settings.access_interface
        assert access is not None
        if visitor.reverse_tunnel:
            table = self._reverse_tables[visitor.home_agent]
            self.routes.delete_rule(home, access, table=table,
                                    priority=self.settings.reverse_rule_priority)
            self._reverse_users[visitor.home_agent] -= 1
            if self._reverse_users[visitor.home_agent] <= 0:
                del self._reverse_users[visitor.home_agent]
                del self._reverse_tables[visitor.home_agent]
                self.routes.delete_route("0.0.0.0/0", table=table)
        self.routes.delete_route(f"{home}/32")
        self._release_tunnel(visitor.home_agent)
        log.info("visitor %s removed", home)

    def _reverse_table(self, home_agent: IPv4Address, interface: str) -> int:
        table = self._reverse_tables.get(home_agent)
        if table is None:
            used = set(self._reverse_tables.values())
            table = next(t for t in range(self.settings.reverse_table_base, 2**31) if t not in used)
            self._reverse_tables[home_agent] = table
            self.routes.set_route("0.0.0.0/0", interface, table=table)
        self._reverse_users[home_agent] += 1
        return table

    # -- tunnels, shared by both roles ---------------------------------------------------

    def _take_tunnel(self, remote: IPv4Address) -> str:
        interface = self.tunnels.add(remote)
        self._tunnel_users[remote] += 1
        if self.on_tunnel_change is not None:
            self.on_tunnel_change(remote)
        return interface

    def _release_tunnel(self, remote: IPv4Address) -> None:
        self._tunnel_users[remote] -= 1
        if self._tunnel_users[remote] <= 0:
            del self._tunnel_users[remote]
            self.tunnels.remove(remote)
        if self.on_tunnel_change is not None:
            self.on_tunnel_change(remote)

    def inner_allowed(self, outer_source: bytes, inner: bytes) -> bool:
        """May the endpoint ``outer_source`` send ``inner`` through its tunnel? A
        care-of address only for the home addresses bound to it (reverse
        tunnel, RFC 3024 §4.2), a home agent only to its visitors."""
        return (self._binding_endpoint.get(inner[12:16]) == outer_source
                or self._visitor_endpoint.get(inner[16:20]) == outer_source)

    # -- whole-state operations ------------------------------------------------------------

    def reconcile(
        self,
        *,
        bindings: dict[IPv4Address, IPv4Address] | None = None,
        visitors: dict[IPv4Address, VisitorRoute] | None = None,
    ) -> None:
        """Make the kernel match the wanted bindings (home -> care-of) and
        visitors. None leaves that role's part alone."""
        if bindings is not None:
            for home in [h for h in self._bindings if h not in bindings]:
                self.unbind(home)
            for home, care_of in bindings.items():
                self.bind(home, care_of)
        if visitors is not None:
            for home in [h for h in self._visitors if h not in visitors]:
                self.remove_visitor(home)
            for home, visitor in visitors.items():
                self.add_visitor(home, visitor.home_agent, reverse_tunnel=visitor.reverse_tunnel)

    def restore(self, agent: Any) -> None:
        """Rebuild from the engines of ``agent`` (an ``agent.runtime.Agent``): after
        an agent restart, to repair after a kernel error, or after a role
        stopped (what a stopped role had is removed)."""
        bindings: dict[IPv4Address, IPv4Address] | None = {} if self._bindings else None
        if agent.home_agent is not None:
            bindings = {}
            # With simultaneous bindings, the newest one carries the traffic.
            for binding in sorted(agent.home_agent.bindings(), key=lambda b: b.registered_at):
                bindings[binding.home_address] = binding.care_of_address
        visitors: dict[IPv4Address, VisitorRoute] | None = {} if self._visitors else None
        if agent.foreign_agent is not None:
            visitors = {
                v.home_address: VisitorRoute(v.home_agent, bool(v.flags & REVERSE_TUNNEL_FLAG))
                for v in agent.foreign_agent.visitors()
            }
        self.reconcile(bindings=bindings, visitors=visitors)

    def intercepts(self, home: bytes) -> bool:
        """Whether the home address ``home`` (4 bytes) is bound here (proxy ARP
        is answered for it on the home link)."""
        return home in self._binding_endpoint

    def tunnel_users(self, remote: IPv4Address) -> int:
        """Bindings and visitors routed through the tunnel towards ``remote``."""
        return self._tunnel_users.get(remote, 0)

    @property
    def bindings(self) -> dict[IPv4Address, IPv4Address]:
        return dict(self._bindings)

    @property
    def visitors(self) -> dict[IPv4Address, VisitorRoute]:
        return dict(self._visitors)

    def close(self) -> None:
        """Remove every route, rule, proxy entry and tunnel made here."""
        for home in list(self._visitors):
            self.remove_visitor(home)
        for home in list(self._bindings):
            self.unbind(home)
        self.routes.close()
        self.tunnels.close()
