"""The operational tables of the state stream: each declared once, here.

A row travels as a tuple in the declared column order (addresses as 32-bit
integers, times as POSIX seconds), as the state checkpoint already stores them
(``HomeAgent.export_state``): compact to encode, cheap to compare. The key of
a row is the tuple of its key columns. The management plane's renderers
(YANG, MIB, CLI) read the columns by name from these declarations.

Strict: a row whose length or column types do not match is a decode error
(``RowError``), never a half-filled entry in the mirror.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_TEXT = 255  # interface names, MACs, states, a reason


class RowError(ValueError):
    """A row does not match its table's declaration."""


class TableId(enum.IntEnum):
    """The tables of protocol v1. A new table is a new protocol version."""

    #: Home agent: haMobilityBindingTable (RFC 2006), one row per (home address,
    #: care-of address) (simultaneous bindings, RFC 5944 §3.6.1.3).
    BINDING = 1
    #: Home agent: haCounterTable (RFC 2006), one row per mobile node.
    MOBILE_NODE = 2
    #: Foreign agent: faVisitorTable (RFC 2006), one row per home address.
    VISITOR = 3
    #: Data plane: one IP-in-IP tunnel per remote endpoint (RFC 2003).
    TUNNEL = 4
    #: Proxy access point: one row per client MAC.
    PROXY_CLIENT = 5


class ColumnType(enum.Enum):
    ADDRESS = "address"  # IPv4 address as an unsigned 32-bit integer
    UINT8 = "uint8"
    UINT16 = "uint16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    TIME = "time"  # POSIX seconds (float)
    TEXT = "text"


_INTEGER, _TIME, _TEXT = 0, 1, 2  # the kinds of value check_row tells apart
_LIMITS = {ColumnType.ADDRESS: 0xFFFFFFFF, ColumnType.UINT8: 0xFF, ColumnType.UINT16: 0xFFFF,
           ColumnType.UINT32: 0xFFFFFFFF, ColumnType.UINT64: 0xFFFFFFFFFFFFFFFF}


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # the YANG leaf name
    type: ColumnType
    optional: bool = False


def _good(value: Any, kind: int, limit: int, optional: bool) -> bool:
    """One column's rule (``Table.check_row`` inlines the same for speed)."""
    kind_of_value = type(value)
    if kind_of_value is int:
        return kind == _INTEGER and 0 <= value <= limit or kind == _TIME
    if kind_of_value is float:
        return kind == _TIME
    if kind_of_value is str:
        return kind == _TEXT and len(value) <= MAX_TEXT
    return value is None and optional


@dataclass(frozen=True)
class Table:
    id: TableId
    name: str
    columns: tuple[Column, ...]
    key: tuple[int, ...]  # positions of the key columns: the leading ones
    yang_list: str  # the YANG list the rows render to
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    facts: tuple[str, ...] = ()  # columns that are no leaf, kept for a derived value

    def __post_init__(self) -> None:
        # Keys are the leading columns (the MIB INDEX order): a key is a slice.
        if self.key != tuple(range(len(self.key))):
            raise ValueError(f"{self.name}: the key must be the leading columns")
        object.__setattr__(self, "_key_length", len(self.key))
        object.__setattr__(self, "_specs", tuple(
            (_TIME if c.type is ColumnType.TIME else _TEXT if c.type is ColumnType.TEXT
             else _INTEGER, _LIMITS.get(c.type, 0), c.optional) for c in self.columns))

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def key_of(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return row[:self._key_length]  # type: ignore[attr-defined]

    def check_row(self, row: Any) -> tuple[Any, ...]:
        """The row as a tuple, or ``RowError``. (One inline loop over the
        column specs: the decoder runs it for every delta.)"""
        specs: tuple[tuple[int, int, bool], ...] = self._specs  # type: ignore[attr-defined]
        if not isinstance(row, (list, tuple)) or len(row) != len(specs):
            raise RowError(f"{self.name}: a row has {len(specs)} columns")
        position = 0
        for value, (kind, limit, optional) in zip(row, specs):
            kind_of_value = type(value)
            if kind_of_value is int:
                good = kind == _INTEGER and 0 <= value <= limit or kind == _TIME
            elif kind_of_value is float:
                good = kind == _TIME
            elif kind_of_value is str:
                good = kind == _TEXT and len(value) <= MAX_TEXT
            else:
                good = value is None and optional
            if not good:
                raise RowError(f"{self.name}: bad {self.columns[position].name}")
            position += 1
        return row if type(row) is tuple else tuple(row)

    def check_key(self, key: Any) -> tuple[Any, ...]:
        specs: tuple[tuple[int, int, bool], ...] = self._specs  # type: ignore[attr-defined]
        if type(key) is not tuple or len(key) != len(self.key):
            raise RowError(f"{self.name}: a key has {len(self.key)} columns")
        for position, value in zip(self.key, key):
            kind, limit, _ = specs[position]
            if not _good(value, kind, limit, False):  # a key column is never absent
                raise RowError(f"{self.name}: bad key column {self.columns[position].name}")
        return key


A, U8, U16, U32, U64, T, X = (ColumnType.ADDRESS, ColumnType.UINT8, ColumnType.UINT16,
                              ColumnType.UINT32, ColumnType.UINT64, ColumnType.TIME,
                              ColumnType.TEXT)

#: The rows carry the facts; a renderer derives the rest of the YANG list's
#: leaves from them at read time (``derived``: leaf -> the columns it comes
#: from), so that nothing that changes every second has to be streamed.
TABLES: dict[TableId, Table] = {t.id: t for t in (
    Table(TableId.BINDING, "binding", (
        Column("home-address", A), Column("care-of-address", A), Column("source-address", A),
        Column("source-port", U16), Column("flags", U8), Column("identification", U64),
        Column("lifetime-granted", U16), Column("registered-at", T), Column("expires-at", T),
    ), key=(0, 1), yang_list="/mobile-ip/home-agent-state/binding",
        derived={"lifetime-remaining": ("expires-at",)},
        # The node's overall-service-time counts its bindings' time so far.
        facts=("registered-at",)),
    Table(TableId.MOBILE_NODE, "mobile-node-counters", (
        Column("home-address", A), Column("service-requests-accepted", U32),
        Column("service-requests-denied", U32),
        # Of the bindings that ended; the renderer adds the live bindings' time.
        Column("overall-service-time", T),
        Column("recent-service-accepted-time", T, optional=True),
        Column("recent-service-denied-time", T, optional=True),
        Column("recent-service-denied-code", U8),
    ), key=(0,), yang_list="/mobile-ip/home-agent-state/mobile-node-counters"),
    Table(TableId.VISITOR, "visitor", (
        Column("home-address", A), Column("home-agent", A), Column("care-of-address", A),
        Column("source-address", A), Column("source-port", U16), Column("flags", U8),
        Column("identification", U64), Column("lifetime-granted", U16),
        Column("registered-at", T), Column("expires-at", T),
    ), key=(0,), yang_list="/mobile-ip/foreign-agent-state/visitor",
        derived={"lifetime-remaining": ("expires-at",)}, facts=("registered-at",)),
    Table(TableId.TUNNEL, "tunnel", (
        Column("remote", A), Column("local", A), Column("interface", X), Column("users", U32),
    ), key=(0,), yang_list="/mobile-ip/data-plane-state/tunnel"),
    Table(TableId.PROXY_CLIENT, "proxy-visitor", (
        Column("mac", X), Column("interface", X, optional=True),
        Column("home-address", A, optional=True), Column("home-agent", A, optional=True),
        Column("foreign-agent", A, optional=True), Column("care-of-address", A, optional=True),
        Column("state", X), Column("lifetime-requested", U16), Column("lifetime-granted", U16),
        Column("expires-at", T, optional=True), Column("last-reply-code", U8, optional=True),
        Column("attempts", U32), Column("reason", X, optional=True),
        Column("associated-at", T, optional=True), Column("registered-at", T, optional=True),
    ), key=(0,), yang_list="/mobile-ip/proxy-state/visitor",
        derived={"lifetime-remaining": ("expires-at",)}),
)}
