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

Cost: the three tables an operator walks on a busy agent
(haMobilityBindingTable, haCounterTable, faVisitorTable) are read in index
order from the mirror's sorted keys (``OperationalMirror.key_after``), O(log
n) per GETNEXT step whatever the stream does meanwhile, each row read as it
is at that step (``*OverMirror`` below). The whole-table views
(``mobile_nodes()``, ``visitors()``) are rebuilt when the mirror has applied
a message since their last read (``OperationalMirror.counters.messages``);
the proxy's visitor table still reads that way. The engines pay nothing for
either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from agent.plane.mirror import OperationalMirror
from agent.plane.tables import TableId
from agent.snmp.sources import Sources, ip_from_index, ip_pair_from_index
from agent.snmp.values import Oid


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
        return node_over_mirror(self._mirror, int(address))

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
            node.bindings.append(binding_view(row))
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
        row = self._mirror.row(TableId.VISITOR, (int(home),))
        return None if row is None else visitor_view(row)

    def _build(self) -> dict[IPv4Address, VisitorView]:
        return {IPv4Address(r[0]): visitor_view(r)
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


def binding_view(row: tuple[Any, ...]) -> BindingView:
    return BindingView(IPv4Address(row[0]), IPv4Address(row[1]), IPv4Address(row[2]), *row[3:])


def visitor_view(row: tuple[Any, ...]) -> VisitorView:
    return VisitorView(IPv4Address(row[0]), IPv4Address(row[1]), IPv4Address(row[2]),
                       IPv4Address(row[3]), *row[4:])


def node_over_mirror(mirror: OperationalMirror, home: int) -> MobileNodeView | None:
    """A mobile node as it is now: its haCounterTable row and its bindings
    (the BINDING keys that begin with its address: O(log n + bindings)). A
    node with bindings whose node row has not come yet reads zero counters."""
    first = mirror.key_from(TableId.BINDING, (home,))
    row = mirror.row(TableId.MOBILE_NODE, (home,))
    if row is None and (first is None or first[0] != home):
        return None
    node = MobileNodeView(*row[1:]) if row is not None else MobileNodeView()
    key = first
    while key is not None and key[0] == home:
        binding = mirror.row(TableId.BINDING, key)
        if binding is not None:
            node.bindings.append(binding_view(binding))
        key = mirror.key_after(TableId.BINDING, key)
    return node


def _ip_key(oid: Oid) -> tuple[int, ...]:
    return tuple(int.from_bytes(bytes(oid[i:i + 4]), "big") for i in range(0, len(oid), 4))


def _ip_index(key: tuple[Any, ...]) -> Oid:
    return tuple(b for part in key for b in int(part).to_bytes(4, "big"))


def index_bound(after: Oid, width: int) -> tuple[tuple[int, ...], bool]:
    """For a table whose index is ``width`` sub-identifiers of IpAddress
    columns (RFC 2578 §7.7), the rows with an index greater than ``after``
    (any OID at all: GETNEXT names an arbitrary one, RFC 3416 §4.2.2) are
    the keys from the returned key on (inclusive) or after it: a shorter OID
    is padded with zeros (the first index at or after it), a longer one cut
    (an index equal to the cut is smaller than ``after``), a sub-identifier
    above 255 rounds up past every index that shares the part before it."""
    inclusive = len(after) < width
    bound = after + (0,) * (width - len(after)) if inclusive else after[:width]
    for position, part in enumerate(bound):
        if part > 255:
            bound, inclusive = bound[:position] + (255,) * (width - position), False
            break
    return _ip_key(bound), inclusive


def first_key_after(mirror: OperationalMirror, table: TableId, after: Oid | None,
                    width: int) -> tuple[Any, ...] | None:
    """The key of ``table``'s first row whose index is greater than ``after``."""
    if after is None:
        return mirror.key_after(table, None)
    key, inclusive = index_bound(after, width)
    return mirror.key_from(table, key) if inclusive else mirror.key_after(table, key)


class BindingsOverMirror:
    """haMobilityBindingTable, INDEX {haMobilityBindingMN, haMobilityBindingCOA}:
    the mirror's BINDING keys (home, care-of) in order are the index order."""

    def __init__(self, mirror: OperationalMirror) -> None:
        self._mirror = mirror

    def next_row(self, after: Oid | None, now: float) -> tuple[Oid, Any] | None:
        key = first_key_after(self._mirror, TableId.BINDING, after, 8)
        if key is None:
            return None
        row = self._mirror.row(TableId.BINDING, key)
        return None if row is None else (_ip_index(key), binding_view(row))

    def row(self, index: Oid, now: float) -> Any | None:
        pair = ip_pair_from_index(index)
        if pair is None:
            return None
        row = self._mirror.row(TableId.BINDING, (int(pair[0]), int(pair[1])))
        return None if row is None else binding_view(row)


class NodesOverMirror:
    """haCounterTable, INDEX haMobilityBindingMN: the nodes with a MOBILE_NODE
    row or a binding, in address order; a row is ``(address, node)``."""

    def __init__(self, mirror: OperationalMirror) -> None:
        self._mirror = mirror

    def next_row(self, after: Oid | None, now: float) -> tuple[Oid, Any] | None:
        mirror = self._mirror
        node_key = first_key_after(mirror, TableId.MOBILE_NODE, after, 4)
        if after is None:
            binding_key = mirror.key_after(TableId.BINDING, None)
        else:  # the first binding of a node after the bound (keys are (home, care-of))
            (home,), inclusive = index_bound(after, 4)
            binding_key = mirror.key_from(TableId.BINDING, (home if inclusive else home + 1,))
        homes = [key[0] for key in (node_key, binding_key) if key is not None]
        if not homes:
            return None
        home = min(homes)
        node = node_over_mirror(mirror, home)
        if node is None:
            return None
        return _ip_index((home,)), (IPv4Address(home), node)

    def row(self, index: Oid, now: float) -> Any | None:
        address = ip_from_index(index)
        node = node_over_mirror(self._mirror, int(address)) if address is not None else None
        return None if node is None else (address, node)


class VisitorsOverMirror:
    """faVisitorTable, INDEX faVisitorIPAddress (the home address)."""

    def __init__(self, mirror: OperationalMirror) -> None:
        self._mirror = mirror

    def next_row(self, after: Oid | None, now: float) -> tuple[Oid, Any] | None:
        key = first_key_after(self._mirror, TableId.VISITOR, after, 4)
        if key is None:
            return None
        row = self._mirror.row(TableId.VISITOR, key)
        return None if row is None else (_ip_index(key), visitor_view(row))

    def row(self, index: Oid, now: float) -> Any | None:
        address = ip_from_index(index)
        row = self._mirror.row(TableId.VISITOR, (int(address),)) if address is not None else None
        return None if row is None else visitor_view(row)


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
                   config=config, started_at=started_at,
                   binding_rows=BindingsOverMirror(mirror),
                   node_counter_rows=NodesOverMirror(mirror),
                   visitor_rows=VisitorsOverMirror(mirror))
