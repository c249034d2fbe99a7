"""Configuration tables with RowStatus (RFC 2579 SNMPv2-TC): rows of a YANG list
in running, plus the rows a manager has created with createAndWait and not yet
activated, which live here until they become active (only active rows are in
the running configuration, PROXY-MOBILE-IP-MIB).

A Set of some columns of one row becomes datastore edits (applied by the
caller as one transaction with the rest of the PDU) and, for rows that are not
in running, changes to the waiting rows, made only once the transaction has
succeeded (RFC 3416 §4.2.5: all or nothing)."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.datastore.edits import Edit, Operation
from agent.datastore.paths import Path, Step
from agent.snmp.tree import SetError
from agent.snmp.values import Oid, Value

ACTIVE, NOT_IN_SERVICE, NOT_READY, CREATE_AND_GO, CREATE_AND_WAIT, DESTROY = 1, 2, 3, 4, 5, 6

#: Rows waiting for activation, per table (each costs memory until destroyed).
MAX_WAITING = 1024
#: Column sub-id -> (value, 0-based position of its varbind in the request).
ColumnValues = dict[int, tuple[Value, int]]


@dataclass
class WritePlan:
    edits: list[Edit] = field(default_factory=list)
    #: Run in order once the datastore transaction has succeeded.
    after: list[Callable[[], None]] = field(default_factory=list)
    #: Position of the varbind each edit came from (error-index on failure).
    positions: list[int] = field(default_factory=list)


@dataclass(eq=False)
class ConfigTable:
    """One YANG list as an SNMP table with a RowStatus column.

    ``entries()`` is the list in running's effective tree (``Entries`` by key
    tuple, or None); ``index_of(key)`` the OID index of a key tuple;
    ``key_of(index)`` the reverse, raising ``SetError("noCreation" or
    "inconsistentName")`` for an index that names no row that could exist;
    ``path_of(key)`` the entry's datastore path; ``to_yang(sub, value,
    position)`` a column's value as ``{leaf: json}`` (None for "leaf absent");
    ``mandatory`` the leaves a row needs before it can be active."""

    list_path: tuple[str, ...]
    entries: Callable[[], Any]
    index_of: Callable[[tuple[str, ...]], Oid]
    key_of: Callable[[Oid], tuple[str, ...]]
    key_leaves: Callable[[tuple[str, ...]], dict[str, Any]]
    to_yang: Callable[[int, Value, int], dict[str, Any]]
    mandatory: tuple[str, ...]
    status_column: int
    #: Waiting rows (createAndWait, not yet active): index -> YANG leaves.
    waiting: dict[Oid, dict[str, Any]] = field(default_factory=dict)
    _version: int = 0
    _cache_identity: Any = None
    _cache: tuple[list[Oid], list[Any]] = ((), ())  # type: ignore[assignment]

    # -- reads (a RowSource) ----------------------------------------------------------

    def _sorted(self) -> tuple[list[Oid], list[Any]]:
        entries = self.entries()
        identity = (id(entries), self._version)
        if identity != self._cache_identity:
            rows: dict[Oid, Any] = {}
            for key, entry in (entries or {}).items():
                rows[self.index_of(key)] = (ACTIVE, entry)
            for index, leaves in self.waiting.items():
                rows.setdefault(index, (None, leaves))
            ordered = sorted(rows)
            self._cache = (ordered, [rows[i] for i in ordered])
            self._cache_identity = identity
        return self._cache

    def status_of(self, row: tuple[int | None, dict[str, Any]]) -> int:
        status, leaves = row
        if status is not None:
            return status
        return NOT_IN_SERVICE if all(name in leaves for name in self.mandatory) else NOT_READY

    def next_row(self, after: Oid | None, now: float) -> tuple[Oid, Any] | None:
        indexes, rows = self._sorted()
        position = 0 if after is None else bisect.bisect_right(indexes, after)
        if position < len(indexes):
            return indexes[position], rows[position]
        return None

    def row(self, index: Oid, now: float) -> Any | None:
        indexes, rows = self._sorted()
        position = bisect.bisect_left(indexes, index)
        if position < len(indexes) and indexes[position] == index:
            return rows[position]
        return None

    # -- writes ------------------------------------------------------------------------

    def plan(self, index: Oid, columns: ColumnValues, plan: WritePlan) -> None:
        status_value = columns.get(self.status_column)
        first = min(position for _, position in columns.values())
        try:
            key = self.key_of(index)
        except SetError as exc:
            raise SetError(exc.status, first, exc.message) from None
        entries = self.entries() or {}
        in_running = key in entries
        waiting = self.waiting.get(index)
        leaves: dict[str, Any] = {}
        for sub, (value, position) in sorted(columns.items()):
            if sub != self.status_column:
                leaves.update(self.to_yang(sub, value, position))
        path = self._path(key)
        if status_value is None:
            if in_running:
                self._merge(path, key, leaves, plan, first)
            elif waiting is not None:
                plan.after.append(lambda: self._update_waiting(index, leaves))
            else:
                # RFC 2579: a row is created through its RowStatus column only.
                raise SetError("noCreation", first, "no such row")
            return
        (status_tag, status), status_position = status_value
        if status == CREATE_AND_GO or status == CREATE_AND_WAIT:
            if in_running or waiting is not None:
                raise SetError("inconsistentValue", status_position, "the row exists")
            if status == CREATE_AND_WAIT:
                if len(self.waiting) >= MAX_WAITING:
                    raise SetError("resourceUnavailable", status_position, "too many rows waiting")
                plan.after.append(lambda: self._update_waiting(index, leaves))
                return
            self._create(path, key, leaves, plan, status_position)
        elif status == ACTIVE:
            if in_running:
                self._merge(path, key, leaves, plan, first)
            elif waiting is not None:
                merged = {**waiting, **{k: v for k, v in leaves.items() if v is not None}}
                for name, value in leaves.items():
                    if value is None:
                        merged.pop(name, None)
                self._create(path, key, merged, plan, status_position)
                plan.after.append(lambda: self._drop_waiting(index))
            else:
                raise SetError("inconsistentValue", status_position, "no such row to activate")
        elif status == NOT_IN_SERVICE:
            if waiting is not None:
                plan.after.append(lambda: self._update_waiting(index, leaves))
            else:
                # Taking an active row out of service would take it out of running
                # with its key; refused (RFC 2579 lets an agent refuse).
                raise SetError("inconsistentValue", status_position, "an active row stays active")
        elif status == DESTROY:
            if in_running:
                plan.edits.append(Edit(Operation.DELETE, path))
                plan.positions.append(status_position)
            if waiting is not None:
                plan.after.append(lambda: self._drop_waiting(index))
        else:
            raise SetError("wrongValue", status_position, "notReady is not a value to set")

    def _path(self, key: tuple[str, ...]) -> Path:
        steps = [Step("mobile-ip"), *(Step(name) for name in self.list_path[:-1])]
        leaves = self.key_leaves(key)
        steps.append(Step(self.list_path[-1], tuple((name, str(value)) for name, value in leaves.items())))
        return tuple(steps)

    def _create(self, path: Path, key: tuple[str, ...], leaves: dict[str, Any], plan: WritePlan,
                position: int) -> None:
        missing = [name for name in self.mandatory if leaves.get(name) is None]
        if missing:
            raise SetError("inconsistentValue", position, f"{', '.join(missing)} not set")
        entry = {**self.key_leaves(key), **{k: v for k, v in leaves.items() if v is not None}}
        plan.edits.append(Edit(Operation.CREATE, path, entry))
        plan.positions.append(position)

    def _merge(self, path: Path, key: tuple[str, ...], leaves: dict[str, Any], plan: WritePlan,
               position: int) -> None:
        present = {k: v for k, v in leaves.items() if v is not None}
        if present:
            plan.edits.append(Edit(Operation.MERGE, path, {**self.key_leaves(key), **present}))
            plan.positions.append(position)
        for name, value in leaves.items():
            if value is None:
                plan.edits.append(Edit(Operation.REMOVE, (*path, Step(name))))
                plan.positions.append(position)

    def _drop_waiting(self, index: Oid) -> None:
        self.waiting.pop(index, None)
        self._version += 1

    def _update_waiting(self, index: Oid, leaves: dict[str, Any]) -> None:
        self._version += 1
        row = dict(self.waiting.get(index, {}))
        for name, value in leaves.items():
            if value is None:
                row.pop(name, None)
            else:
                row[name] = value
        self.waiting[index] = row
