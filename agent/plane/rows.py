"""The control plane's half of the tables: engine records -> rows, the
engines' tables as ``RowSource``s, and the engines' events -> deltas.

The home agent's tables and events, the foreign agent's and the proxy's
visitors (as row sources, walked through the engines' unsorted key views so
that a resync of 100,000 visitors stays within its budget; their events ->
deltas), and the data plane's tunnels (one row per remote endpoint, a
delta each time its users change). Addresses become integers (``IPv4Address._ip``, as ``operational.py``
and the checkpoint already read them): no text formatting on the engine loop.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Hashable, Sequence
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any

from agent.mobileip.events import (
    BindingCreated,
    BindingDeleted,
    BindingRefreshed,
    RegistrationDenied,
    VisitorAdded,
    VisitorRemoved,
    VisitorRenewed,
)
from agent.mobileip.foreign_agent import ForeignAgent, Visitor
from agent.mobileip.home_agent import Binding, HomeAgent, MobileNode
from agent.mobileip.proxy import ProxyAgent, ProxyVisitor
from agent.plane.event_wire import SPECS_BY_EVENT
from agent.plane.messages import ChangeKind
from agent.plane.tables import TableId

if TYPE_CHECKING:
    from agent.dataplane.plane import DataPlane
    from agent.plane.stream import StateStream

Row = tuple[Any, ...]
DeltaTuple = tuple[TableId, ChangeKind, Row, Row | None]


def _int(address: IPv4Address) -> int:
    return address._ip  # type: ignore[attr-defined,no-any-return]  # its int, without __int__


def binding_row(binding: Binding) -> Row:
    """(``HomeAgentRecorder.drain`` builds the same inline.)"""
    return (binding.home_address._ip, binding.care_of_address._ip,  # type: ignore[attr-defined]
            binding.source_address._ip, binding.source_port,  # type: ignore[attr-defined]
            binding.flags & 0xFF, binding.identification, binding.lifetime,
            binding.registered_at, binding.expires_at)


def mobile_node_row(home_address: IPv4Address, node: MobileNode) -> Row:
    """(``HomeAgentMobileNodes.marked_deltas`` builds the same inline.)"""
    return (_int(home_address), node.service_accepted, node.service_denied,
            node.overall_service_time, node.recent_accepted_time, node.recent_denied_time,
            node.recent_denied_code)


class HomeAgentBindings:
    """haMobilityBindingTable as a ``RowSource``: walked by mobile node."""

    def __init__(self, agent: HomeAgent) -> None:
        self.agent = agent

    def cursor_keys(self) -> Sequence[Hashable]:
        return list(self.agent.mobile_nodes())

    def rows(self, cursor_key: Hashable) -> Sequence[Row]:
        node = self.agent.mobile_nodes().get(cursor_key)  # type: ignore[call-overload]
        return () if node is None else [binding_row(b) for b in node.bindings]

    def count(self) -> int:
        return self.agent.binding_count


class HomeAgentMobileNodes:
    """haCounterTable as a ``KeyedRowSource``: its rows are counters, sent
    with the periodic counters (``StateStream.mark``), marked by the home
    address as an integer with the node's record (the engine never removes
    a node's record: its counters live as long as the engine)."""

    def __init__(self, agent: HomeAgent) -> None:
        self.agent = agent

    def cursor_keys(self) -> Sequence[Hashable]:
        return list(self.agent.mobile_nodes())

    def rows(self, cursor_key: Hashable) -> Sequence[Row]:
        node = self.agent.mobile_nodes().get(cursor_key)  # type: ignore[call-overload]
        return () if node is None else (mobile_node_row(cursor_key, node),)  # type: ignore[arg-type]

    def marked_deltas(self, table: TableId,
                      marked: Sequence[tuple[Hashable, Any]]) -> list[DeltaTuple]:
        """Marked as (home address as an integer, the node's record)."""
        modified = ChangeKind.MODIFIED
        return [(table, modified, (home,), (home, node.service_accepted, node.service_denied,
                                            node.overall_service_time, node.recent_accepted_time,
                                            node.recent_denied_time, node.recent_denied_code))
                for home, node in marked]

    def count(self) -> int:
        return len(self.agent.mobile_nodes())


class HomeAgentRecorder:
    """The home agent's events -> the stream (one event per registration:
    the hot path). A call keeps the event; the stream's flush (once per loop
    turn) drains them in one loop: a binding event records its binding's
    current row (or its deletion), it and a denial mark the node's counter
    row, which goes with the next periodic counters (``StateStream.mark``),
    and, with ``notify``, a notifying event (``event_wire.py``) is recorded
    after the deltas, at the time of the flush (the same loop turn)."""

    def __init__(self, agent: HomeAgent, stream: StateStream, *, clock: Callable[[], float],
                 notify: bool = True) -> None:
        """``clock``: POSIX seconds, the events' time (the adapter's)."""
        self.agent = agent
        self._pending: list[object] = []
        self._append = stream.delta_appender()
        self._record_event = stream.record_event
        self._node_marks = stream.marks(TableId.MOBILE_NODE)
        self._clock = clock
        self._notifying: Container[type] = SPECS_BY_EVENT if notify else ()
        self._kept = _ROW_EVENTS | (SPECS_BY_EVENT.keys() if notify else set())

    def __call__(self, event: object) -> bool:
        """Keep ``event`` until the next flush if it changes a row or is
        notified (True)."""
        if type(event) in self._kept:
            self._pending.append(event)
            return True
        return False

    def drain(self) -> None:
        """Record the kept events' deltas and events (``StateStream.add_drain``)."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        nodes = self.agent.mobile_nodes()
        append, node_marks, record_event = self._append, self._node_marks, self._record_event
        notifying = self._notifying
        binding_table = TableId.BINDING
        created, modified, deleted = ChangeKind.CREATED, ChangeKind.MODIFIED, ChangeKind.DELETED
        events = []
        for event in pending:
            kind = type(event)
            if kind in notifying:
                events.append(event)
            if kind not in _ROW_EVENTS:
                continue
            home = event.home_address  # type: ignore[attr-defined]
            home_int = home._ip
            node = nodes.get(home)
            if kind is not RegistrationDenied:
                care_of_int = event.care_of_address._ip  # type: ignore[attr-defined]
                binding = None
                if node is not None and kind is not BindingDeleted:
                    for candidate in node.bindings:  # node.binding_for, on integers
                        care_of = candidate.care_of_address
                        if care_of._ip == care_of_int:  # type: ignore[attr-defined]
                            binding = candidate
                            break
                if binding is None:
                    append((binding_table, deleted, (home_int, care_of_int), None))
                else:  # binding_row, inline
                    append((binding_table, created if kind is BindingCreated else modified,
                            (home_int, care_of_int),
                            (home_int, care_of_int,
                             binding.source_address._ip,  # type: ignore[attr-defined]
                             binding.source_port, binding.flags & 0xFF, binding.identification,
                             binding.lifetime, binding.registered_at, binding.expires_at)))
            if node is not None:
                node_marks[home_int] = node
        if events:
            now = self._clock()
            for event in events:
                record_event("home-agent", now, event)


_ROW_EVENTS = frozenset((BindingCreated, BindingRefreshed, BindingDeleted, RegistrationDenied))


# -- the foreign agent's visitors and the proxy's ------------------------------------------


def visitor_row(visitor: Visitor) -> Row:
    return (_int(visitor.home_address), _int(visitor.home_agent), _int(visitor.care_of_address),
            _int(visitor.source_address), visitor.source_port, visitor.flags & 0xFF,
            visitor.identification, visitor.lifetime, visitor.registered_at, visitor.expires_at)


def _optional_int(address: IPv4Address | None) -> int | None:
    return None if address is None else _int(address)


def proxy_visitor_row(visitor: ProxyVisitor) -> Row:
    return (visitor.mac, visitor.interface, _optional_int(visitor.home_address),
            _optional_int(visitor.home_agent), _optional_int(visitor.foreign_agent),
            _optional_int(visitor.care_of_address), visitor.state.value,
            visitor.lifetime_requested, visitor.lifetime_granted, visitor.expires_at,
            visitor.last_code, visitor.attempts, visitor.reason, visitor.associated_at,
            visitor.registered_at)


class ForeignAgentVisitors:
    """faVisitorTable as a ``RowSource``."""

    def __init__(self, agent: ForeignAgent) -> None:
        self.agent = agent

    def cursor_keys(self) -> Sequence[Hashable]:
        return self.agent.visitor_addresses()

    def rows(self, cursor_key: Hashable) -> Sequence[Row]:
        visitor = self.agent.visitor(cursor_key)  # type: ignore[arg-type]
        return () if visitor is None else (visitor_row(visitor),)

    def count(self) -> int:
        return self.agent.visitor_count


class ProxyVisitors:
    """The proxy's visitors (clients) as a ``RowSource``."""

    def __init__(self, agent: ProxyAgent) -> None:
        self.agent = agent

    def cursor_keys(self) -> Sequence[Hashable]:
        return self.agent.visitor_macs()

    def rows(self, cursor_key: Hashable) -> Sequence[Row]:
        visitor = self.agent.visitor(cursor_key)  # type: ignore[arg-type]
        return () if visitor is None else (proxy_visitor_row(visitor),)

    def count(self) -> int:
        return self.agent.visitor_count


def foreign_agent_deltas(agent: ForeignAgent, event: object) -> list[DeltaTuple]:
    """The visitor row an FA event changes: its current row (created or
    moved, ``VisitorAdded``; renewed through the same care-of address, RFC
    5944 §3.7.3.2, ``VisitorRenewed``) or its deletion (``VisitorRemoved``,
    or gone since)."""
    if isinstance(event, (VisitorAdded, VisitorRenewed, VisitorRemoved)):
        key = (_int(event.home_address),)
        visitor = agent.visitor(event.home_address)
        if visitor is None:
            return [(TableId.VISITOR, ChangeKind.DELETED, key, None)]
        kind = ChangeKind.CREATED if isinstance(event, VisitorAdded) else ChangeKind.MODIFIED
        return [(TableId.VISITOR, kind, key, visitor_row(visitor))]
    return []


def proxy_deltas(agent: ProxyAgent, mac: str | None) -> list[DeltaTuple]:
    """A proxy client's current row (or its deletion): for each event that
    names a MAC, and for each client event fed to the proxy."""
    if mac is None:
        return []
    visitor = agent.visitor(mac)
    if visitor is None:
        return [(TableId.PROXY_CLIENT, ChangeKind.DELETED, (mac.lower(),), None)]
    return [(TableId.PROXY_CLIENT, ChangeKind.MODIFIED, (visitor.mac,), proxy_visitor_row(visitor))]


# -- the data plane's tunnels ------------------------------------------------------------


def tunnel_row(plane: DataPlane, remote: IPv4Address) -> Row | None:
    """``data-plane-state/tunnel`` (RFC 2003 IP-in-IP, one per remote), or
    None when there is no tunnel towards ``remote``."""
    tunnels = plane.tunnels
    users = plane.tunnel_users(remote)
    if not users:
        return None
    return (_int(remote), _int(tunnels.local), tunnels.interface(remote) or "", users)


class DataPlaneTunnels:
    """The data plane's tunnels as a ``RowSource`` (few: one per care-of
    address or home agent)."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    def cursor_keys(self) -> Sequence[Hashable]:
        return list(self.plane.tunnels.endpoints())

    def rows(self, cursor_key: Hashable) -> Sequence[Row]:
        row = tunnel_row(self.plane, cursor_key)  # type: ignore[arg-type]
        return () if row is None else (row,)

    def count(self) -> int:
        return sum(1 for remote in self.plane.tunnels.endpoints() if self.plane.tunnel_users(remote))


def tunnel_deltas(plane: DataPlane, remote: IPv4Address) -> list[DeltaTuple]:
    """The tunnel towards ``remote`` changed (``DataPlane.on_tunnel_change``)."""
    row = tunnel_row(plane, remote)
    if row is None:
        return [(TableId.TUNNEL, ChangeKind.DELETED, (_int(remote),), None)]
    return [(TableId.TUNNEL, ChangeKind.MODIFIED, (row[0],), row)]
