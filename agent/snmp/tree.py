"""The MIB instrumentation: scalars and table columns over sorted OIDs, read at
request time, with no wire library and no I/O.

Lookups (RFC 3416 §4.2.1 GetRequest, §4.2.2 GetNextRequest, §4.2.3
GetBulkRequest) bisect a sorted list of nodes: one per scalar instance, one
per table column. A column asks its table's row source for the first row whose
index is greater than the one asked for; row sources keep a sorted index of
their rows and check each candidate against the engine's live state, so a walk
stays lexicographic while rows come and go underneath, never repeats a row, and
never skips one that existed throughout the walk (see ``SortedRows``).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.snmp.values import (
    END_OF_MIB_VIEW_VALUE,
    NO_SUCH_INSTANCE_VALUE,
    NO_SUCH_OBJECT_VALUE,
    Oid,
    Syntax,
    Value,
)

READ_ONLY = "read-only"
READ_WRITE = "read-write"
READ_CREATE = "read-create"
NOT_ACCESSIBLE = "not-accessible"
ACCESSIBLE_FOR_NOTIFY = "accessible-for-notify"
_READABLE = (READ_ONLY, READ_WRITE, READ_CREATE)


class SetError(Exception):
    """A Set refused with an RFC 3416 §4.2.5 error-status for one varbind
    (``index`` is 0-based into the request; the adapter reports it 1-based)."""

    def __init__(self, status: str, index: int = 0, message: str = "") -> None:
        super().__init__(f"{status}: {message}" if message else status)
        self.status = status
        self.index = index
        self.message = message


class RowSource(Protocol):
    def next_row(self, after: Oid | None, now: float) -> tuple[Oid, Any] | None:
        """The first row whose index is greater than ``after`` (the first row
        when ``after`` is None): ``(index, row)``."""

    def row(self, index: Oid, now: float) -> Any | None:
        """The row at ``index`` now, or None."""


@dataclass(eq=False)
class Scalar:
    name: str
    oid: Oid
    syntax: Syntax
    access: str
    read: Callable[[float], Value] | None = None
    #: Whether the object exists now (its role runs); None: always.
    present: Callable[[], bool] | None = None
    #: Turns a Set of this object into datastore edits (see ``agent.snmp.writes``).
    write: Callable[[Value], list[Any]] | None = None


@dataclass(eq=False)
class Column:
    name: str
    sub: int
    syntax: Syntax
    access: str
    read: Callable[[Any, float], Value] | None = None
    #: A secret (a security association's key): written only by a request
    #: that arrived encrypted, SNMPv3 authPriv (see ``agent.snmp.writes``).
    secret: bool = False


@dataclass(eq=False)
class Table:
    name: str
    entry_oid: Oid
    columns: Sequence[Column]
    rows: RowSource
    present: Callable[[], bool] | None = None
    #: Plans Sets of this table's columns: an object with ``plan(index,
    #: {sub: (value, position)}, WritePlan)`` (``agent.snmp.rows``); None: the
    #: table is read-only.
    write: Any = None


@dataclass(eq=False, slots=True)
class _Node:
    oid: Oid  # scalar instance (oid + 0) or column prefix (entry + column)
    scalar: Scalar | None = None
    table: Table | None = None
    column: Column | None = None


class View:
    """An RFC 3415 §5 view: a family of subtrees, each included or excluded;
    the longest subtree that contains an OID decides. (Masks are not
    supported: every family entry is a whole subtree.)"""

    def __init__(self, families: Iterable[tuple[Oid, bool]]) -> None:
        self._families = sorted(families, key=lambda f: (len(f[0]), f[0]))

    @classmethod
    def everything(cls) -> View:
        return cls([((1,), True), ((0,), True), ((2,), True)])

    def allows(self, oid: Oid) -> bool:
        verdict = False
        for subtree, included in self._families:
            if oid[: len(subtree)] == subtree:
                verdict = included  # families are by length: the last match is the longest
        return verdict

    def covers_whole(self, prefix: Oid) -> bool | None:
        """True if every OID under ``prefix`` is in the view, False if none is,
        None if it depends on the OID."""
        verdict = self.allows(prefix)
        for subtree, included in self._families:
            if len(subtree) > len(prefix) and subtree[: len(prefix)] == prefix and included != verdict:
                return None
        return verdict


class MibTree:
    def __init__(self, objects: Iterable[Scalar | Table]) -> None:
        nodes: list[_Node] = []
        self.scalars: list[Scalar] = []
        self.tables: list[Table] = []
        for obj in objects:
            if isinstance(obj, Scalar):
                self.scalars.append(obj)
                if obj.access in _READABLE:
                    nodes.append(_Node(obj.oid + (0,), scalar=obj))
            else:
                self.tables.append(obj)
                for column in obj.columns:
                    if column.access in _READABLE:
                        nodes.append(_Node(obj.entry_oid + (column.sub,), table=obj, column=column))
        nodes.sort(key=lambda n: n.oid)
        for before, after in zip(nodes, nodes[1:]):
            if after.oid[: len(before.oid)] == before.oid:
                raise ValueError(f"overlapping nodes {before.oid} and {after.oid}")
        self._nodes = nodes
        self._oids = [n.oid for n in nodes]
        self._writable_scalars = {s.oid + (0,): s for s in self.scalars if s.write is not None}
        self._tables_by_entry = {t.entry_oid: t for t in self.tables}

    # -- reads ---------------------------------------------------------------------

    def get(self, oid: Oid, now: float, view: View | None = None) -> Value:
        """RFC 3416 §4.2.1: the value, noSuchObject or noSuchInstance."""
        if view is not None and not view.allows(oid):
            return NO_SUCH_OBJECT_VALUE  # RFC 3415 §3.2: notInView reads as noSuchObject
        position = bisect.bisect_right(self._oids, oid) - 1
        if position + 1 < len(self._nodes):
            following = self._nodes[position + 1].scalar
            if following is not None and following.oid == oid:
                # The object's OID without its instance (.0): the object exists.
                if following.present is not None and not following.present():
                    return NO_SUCH_OBJECT_VALUE
                return NO_SUCH_INSTANCE_VALUE
        if position < 0:
            return NO_SUCH_OBJECT_VALUE
        node = self._nodes[position]
        scalar = node.scalar
        if scalar is not None:
            if scalar.present is not None and not scalar.present():
                return NO_SUCH_OBJECT_VALUE
            if oid == node.oid:
                return scalar.read(now) if scalar.read is not None else NO_SUCH_INSTANCE_VALUE
            if oid[: len(scalar.oid)] == scalar.oid:
                return NO_SUCH_INSTANCE_VALUE
            return NO_SUCH_OBJECT_VALUE
        table, column = node.table, node.column
        assert table is not None and column is not None and column.read is not None
        prefix = node.oid
        if oid[: len(prefix)] != prefix:
            return NO_SUCH_OBJECT_VALUE
        if table.present is not None and not table.present():
            return NO_SUCH_OBJECT_VALUE
        row = table.rows.row(oid[len(prefix):], now)
        if row is None:
            return NO_SUCH_INSTANCE_VALUE
        return column.read(row, now)

    def get_next(self, oid: Oid, now: float, view: View | None = None) -> tuple[Oid, Value]:
        """RFC 3416 §4.2.2: the first instance after ``oid`` (in the view), or
        ``(oid, endOfMibView)``."""
        found, value, _ = self.next_instance(oid, now, view)
        return found, value

    def next_instance(self, oid: Oid, now: float, view: View | None = None) -> tuple[Oid, Value, int]:
        """``get_next`` plus the length of the found instance's object prefix
        (scalar OID + 0 or column OID), which encoders use to cache."""
        nodes = self._nodes
        position = max(0, bisect.bisect_right(self._oids, oid) - 1)
        while position < len(nodes):
            node = nodes[position]
            position += 1
            prefix = node.oid
            whole = None
            if view is not None:
                whole = view.covers_whole(prefix)
                if whole is False:
                    continue
            scalar = node.scalar
            if scalar is not None:
                if oid >= prefix or (scalar.present is not None and not scalar.present()):
                    continue
                if whole is None and view is not None and not view.allows(prefix):
                    continue
                assert scalar.read is not None
                return prefix, scalar.read(now), len(prefix)
            table, column = node.table, node.column
            assert table is not None and column is not None and column.read is not None
            if table.present is not None and not table.present():
                continue
            if oid[: len(prefix)] == prefix:
                after: Oid | None = oid[len(prefix):]
            elif oid < prefix:
                after = None
            else:
                continue
            while True:
                found = table.rows.next_row(after, now)
                if found is None:
                    break
                index, row = found
                instance = prefix + index
                if whole is None and view is not None and not view.allows(instance):
                    after = index
                    continue
                return instance, column.read(row, now), len(prefix)
        return oid, END_OF_MIB_VIEW_VALUE, len(oid)

    def get_bulk(self, oids: Sequence[Oid], non_repeaters: int, max_repetitions: int, now: float,
                 view: View | None = None, *, max_varbinds: int = 1 << 30,
                 max_bytes: int = 1 << 30) -> list[tuple[Oid, Value, int]]:
        """RFC 3416 §4.2.3: the non-repeaters once, then up to ``max_repetitions``
        rounds over the others; stops early at ``max_varbinds`` or when the
        estimated encoding reaches ``max_bytes`` (§4.2.3: fewer repetitions
        rather than tooBig), and when every repeater has reached endOfMibView.
        Items are ``(oid, value, prefix length)`` as ``next_instance`` gives."""
        non_repeaters = max(0, min(non_repeaters, len(oids)))
        out: list[tuple[Oid, Value, int]] = []
        size = 0
        next_instance = self.next_instance
        for oid in oids[:non_repeaters]:
            found = next_instance(oid, now, view)
            out.append(found)
            size += _estimate(found)
        repeaters = list(oids[non_repeaters:])
        if not repeaters or max_repetitions <= 0:
            return out
        limit = min(max_varbinds, len(out) + len(repeaters) * max_repetitions)
        for _ in range(max_repetitions):
            all_done = True
            for position, oid in enumerate(repeaters):
                if len(out) >= limit:
                    return out
                found = next_instance(oid, now, view)
                size += _estimate(found)
                if size > max_bytes and len(out) > non_repeaters:
                    return out
                out.append(found)
                if found[1] is not END_OF_MIB_VIEW_VALUE:
                    all_done = False
                repeaters[position] = found[0]
            if all_done:
                break
        return out

    # -- writes (planning only; agent.snmp.writes applies) ---------------------------

    def writable_scalar(self, oid: Oid) -> Scalar | None:
        return self._writable_scalars.get(oid)

    def object_at(self, oid: Oid) -> tuple[Scalar | Table | None, Column | None]:
        """The scalar (instance ``oid``) or table column ``oid`` falls in,
        whatever its access."""
        for scalar in self.scalars:
            if oid[: len(scalar.oid)] == scalar.oid:
                return scalar, None
        for table in self.tables:
            entry = table.entry_oid
            if oid[: len(entry)] == entry and len(oid) > len(entry):
                for column in table.columns:
                    if column.sub == oid[len(entry)]:
                        return table, column
                return table, None
        return None, None


def _estimate(varbind: tuple[Oid, Value, int]) -> int:
    oid, (tag, payload), _ = varbind
    size = len(oid) + 6
    if isinstance(payload, (bytes, tuple)):
        size += len(payload)
    else:
        size += 5
    return size


# -- row sources -----------------------------------------------------------------


@dataclass(eq=False)
class SortedRows:
    """Rows of a table whose engine keeps them in a dict: a sorted index of the
    keys, rebuilt when it may be stale, each candidate checked live.

    ``keys()`` returns ``(index, key)`` pairs (unsorted), ``lookup(key)`` the live
    row or None, ``count()`` (optional) the number of rows, cheaply.

    The index is rebuilt when the row count changed, when it is older than
    ``max_age`` seconds, and whenever a lookup starts before its first row
    (every walk of a column starts there), so a walk never uses an index taken
    before it began: a row that exists throughout the walk is in the index it
    uses, and a row deleted meanwhile fails the live check and is skipped.
    """

    keys: Callable[[], Iterable[tuple[Oid, Any]]]
    lookup: Callable[[Any], Any | None]
    count: Callable[[], int] | None = None
    max_age: float = 1.0
    #: True when the key set can only grow (then a stable count means no change
    #: and the walk-start rebuild is unnecessary).
    grow_only: bool = False
    #: Index -> key, for exact Gets without the sorted index.
    key_of: Callable[[Oid], Any] | None = None
    _indexes: list[Oid] = field(default_factory=list)
    _keys: list[Any] = field(default_factory=list)
    _built_at: float = float("-inf")
    _built_count: int = -1

    def _rebuild(self, now: float) -> None:
        pairs = sorted(self.keys(), key=lambda pair: pair[0])
        self._indexes = [pair[0] for pair in pairs]
        self._keys = [pair[1] for pair in pairs]
        self._built_at = now
        self._built_count = self.count() if self.count is not None else len(pairs)

    def _fresh(self, now: float, at_start: bool) -> None:
        if self.count is not None and self.count() != self._built_count:
            self._rebuild(now)
        elif self.grow_only and self.count is not None:
            return
        elif at_start or not (0 <= now - self._built_at <= self.max_age):
            self._rebuild(now)

    def next_row(self, after: Oid | None, now: float) -> tuple[Oid, Any] | None:
        at_start = after is None or not self._indexes or after < self._indexes[0]
        self._fresh(now, at_start)
        indexes = self._indexes
        position = 0 if after is None else bisect.bisect_right(indexes, after)
        while position < len(indexes):
            row = self.lookup(self._keys[position])
            if row is not None:
                return indexes[position], row
            position += 1
        return None

    def row(self, index: Oid, now: float) -> Any | None:
        if self.key_of is not None:
            key = self.key_of(index)
            return None if key is None else self.lookup(key)
        self._fresh(now, False)
        position = bisect.bisect_left(self._indexes, index)
        if position < len(self._indexes) and self._indexes[position] == index:
            return self.lookup(self._keys[position])
        return None
