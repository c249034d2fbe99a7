"""``Sources`` for the SNMP agent of the management plane: the MIBs read the
operational mirror (``agent.plane.mirror``) and running, never the engines.

The MIB objects (``mip_mib``, ``proxy_mib``) read a role through the few
attributes an engine offers them (``mobile_nodes()``, ``visitor()``,
``counters.<name>``, ``settings``); the views here offer the same over the
mirror's rows, the last ``Counters`` of the role's group and the role's
settings as running configures them. A role is present while its counter
group or one of its rows is in the mirror (the control plane runs it).

What the mirror does not carry in protocol v1 reads as nothing: the
security-violation log's rows (mipSecViolationTable is empty; its total is
the ``security`` group's), and faIsBusy (false).

Cost: the node index of a table is rebuilt when the mirror has applied a
message since the last read (``OperationalMirror.counters.messages``), so
a walk while the stream moves pays O(rows) per changed step; the engines pay
nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from agent.plane.mirror import OperationalMirror
from agent.plane.tables import TableId
from agent.snmp.sources import Sources


class CounterView:
    """A counter group read as an engine's counters dataclass (a name the
    group lacks reads 0)."""

    def __init__(self, values: Mapping[str, int]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> int:
        if name.startswith("_"):
            raise AttributeError(name)
        return int(self._values.get(name, 0))


def _address(value: int | None) -> IPv4Address | None:
    return None if value is None else IPv4Address(value)


@dataclass(frozen=True, slots=True)
class BindingView:
    home_address: IPv4Address
    care_of_address: IPv4Address
    source_address: IPv4Address
    source_port: int
    flags: int
    identification: int
    lifetime: int
    registered_at: float
    expires_at: float


@dataclass
class MobileNodeView:
    service_accepted: int = 0
    service_denied: int = 0
    overall_service_time: float = 0.0
    recent_accepted_time: float | None = None
    recent_denied_time: float | None = None
    recent_denied_code: int = 0
    bindings: list[BindingView] = field(default_factory=list)

    def binding_for(self, care_of_address: IPv4Address) -> BindingView | None:
        for binding in self.bindings:
            if binding.care_of_address == care_of_address:
                return binding
        return None


@dataclass(frozen=True, slots=True)
class VisitorView:
    home_address: IPv4Address
    home_agent: IPv4Address
    care_of_address: IPv4Address
    source_address: IPv4Address
    source_port: int
    flags: int
    identification: int
    lifetime: int
    registered_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class StateName:
    value: str


@dataclass(frozen=True, slots=True)
class ProxyVisitorView:
    mac: str
    interface: str | None
    home_address: IPv4Address | None
    home_agent: IPv4Address | None
    foreign_agent: IPv4Address | None
    care_of_address: IPv4Address | None
    state: StateName
    lifetime_requested: int
    lifetime_granted: int
    expires_at: float | None
    last_code: int | None
    attempts: int


class _RoleView:
    group = ""
    tables: tuple[TableId, ...] = ()

    def __init__(self, mirror: OperationalMirror, settings: Callable[[], Any],
                 clock: Callable[[], float]) -> None:
        self._mirror = mirror
        self._settings = settings
        self._clock = clock
        self._version = -1
        self._cache: Any = None

    def present(self) -> bool:
        mirror = self._mirror
        return self.group in mirror.counter_groups() or any(mirror.count(t) for t in self.tables)

    @property
    def settings(self) -> Any:
        return self._settings()

    @property
    def counters(self) -> CounterView:
        reading = self._mirror.counters_of(self.group, self._clock())
        return CounterView(reading.values if reading is not None else {})

    def _cached(self, build: Callable[[], Any]) -> Any:
        version = self._mirror.counters.messages
        if version != self._version or self._cache is None:
            self._cache, self._version = build(), version
        return self._cache


class HomeAgentView(_RoleView):
    group = "home-agent"
    tables = (TableId.BINDING, TableId.MOBILE_NODE)

    def mobile_nodes(self) -> dict[IPv4Address, MobileNodeView]:
        return self._cached(self._build)  # type: ignore[no-any-return]

    def mobile_node(self, address: IPv4Address) -> MobileNodeView | None:
        return self.mobile_nodes().get(address)

    def _build(self) -> dict[IPv4Address, MobileNodeView]:
        nodes: dict[IPv4Address, MobileNodeView] = {}
        for home, accepted, denied, overall, accepted_at, denied_at, code in self._mirror.rows(
                TableId.MOBILE_NODE):
            nodes[IPv4Address(home)] = MobileNodeView(accepted, denied, overall, accepted_at,
                                                      denied_at, code)
        for row in self._mirror.rows(TableId.BINDING):
            home = IPv4Address(row[0])
            node = nodes.get(home)
            if node is None:  # a binding whose node row has not come yet
                node = nodes[home] = MobileNodeView()
            node.bindings.append(BindingView(home, IPv4Address(row[1]), IPv4Address(row[2]),
                                             *row[3:]))
        return nodes


class ForeignAgentView(_RoleView):
    group = "foreign-agent"
    tables = (TableId.VISITOR,)
    busy = False  # not in the v1 stream

    @property
    def visitor_count(self) -> int:
        return self._mirror.count(TableId.VISITOR)

    def visitors(self) -> list[VisitorView]:
        return list(self._cached(self._build).values())

    def visitor(self, home: IPv4Address) -> VisitorView | None:
        return self._cached(self._build).get(home)  # type: ignore[no-any-return]

    def _build(self) -> dict[IPv4Address, VisitorView]:
        return {IPv4Address(r[0]): VisitorView(IPv4Address(r[0]), IPv4Address(r[1]),
                                               IPv4Address(r[2]), IPv4Address(r[3]), *r[4:])
                for r in self._mirror.sorted_rows(TableId.VISITOR)}


class ProxyView(_RoleView):
    group = "proxy"
    tables = (TableId.PROXY_CLIENT,)

    def visitors(self) -> list[ProxyVisitorView]:
        return list(self._cached(self._build).values())

    def visitor(self, mac: str) -> ProxyVisitorView | None:
        return self._cached(self._build).get(mac)  # type: ignore[no-any-return]

    def _build(self) -> dict[str, ProxyVisitorView]:
        out = {}
        for (mac, interface, home, home_agent, foreign_agent, care_of, state, requested, granted,
             expires_at, last_code, attempts, _reason, _associated, _registered) in \
                self._mirror.sorted_rows(TableId.PROXY_CLIENT):
            out[mac] = ProxyVisitorView(mac, interface, _address(home), _address(home_agent),
                                        _address(foreign_agent), _address(care_of),
                                        StateName(state), requested, granted, expires_at,
                                        last_code, attempts)
        return out


class ViolationsView:
    """mipSecViolationGroup: the total only (the rows are not in the v1 stream)."""

    def __init__(self, mirror: OperationalMirror, clock: Callable[[], float]) -> None:
        self._mirror = mirror
        self._clock = clock

    @property
    def total(self) -> int:
        reading = self._mirror.counters_of("security", self._clock())
        return int(reading.values.get("total-violations", 0)) if reading is not None else 0

    def rows(self) -> list[Any]:
        return []


def mirror_sources(mirror: OperationalMirror, *, config: Callable[[], dict[str, Any]],
                   role_settings: Callable[[str], Any], clock: Callable[[], float],
                   started_at: float) -> Sources:
    """``role_settings(role)``: the role's settings as running configures
    them (``HomeAgentSettings``, ``ForeignAgentSettings``...), or None."""
    home_agent = HomeAgentView(mirror, lambda: role_settings("home-agent"), clock)
    foreign_agent = ForeignAgentView(mirror, lambda: role_settings("foreign-agent"), clock)
    proxy = ProxyView(mirror, lambda: role_settings("proxy"), clock)
    violations = ViolationsView(mirror, clock)

    def when(view: _RoleView) -> Callable[[], Any]:
        return lambda: view if view.present() and view.settings is not None else None

    return Sources(home_agent=when(home_agent), foreign_agent=when(foreign_agent),
                   proxy=when(proxy),
                   violations=lambda: violations,  # type: ignore[arg-type,return-value]
                   config=config, started_at=started_at)
