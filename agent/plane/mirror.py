"""The management plane's operational mirror, built from the state stream
only: every read of operational state (``<get>``, get-data, SNMP, ``show``,
``watch``) is served from here and never reaches the engines.

Consistency (see ``stream.py`` for the producer's half): messages are applied
in stream order; the stream's ``(epoch, sequence)`` must advance by exactly
one per message. A gap, a message of an epoch the mirror is not following, or
a resynchronisation whose row counts do not match, means the mirror has lost
the thread: it asks for a resynchronisation once (``apply`` returns a
``ResyncNeeded``) and ignores the stream until the ``ResyncBegin``.

During a resynchronisation the mirror keeps answering from its last
consistent content (``stale`` is True) while it stages the new one; at
``ResyncEnd`` the staged tables replace the old ones in one assignment. So
after a control-plane restart (a new epoch) readers see either the old
engines' state or the new one, never a mixture.

Ordered reads (``key_after``, ``key_from``): a table's keys are kept sorted
(``SortedKeys``) from the first ordered read of that table on, updated by
each delta in O(log n) and dropped when a resynchronisation swaps the tables
(the next ordered read sorts the new table once). So an SNMP walk costs
O(log n) a step however fast the stream moves, and a table nobody walks
costs the stream nothing.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.notifications import notification_for
from agent.plane import messages as m
from agent.plane.sorted_keys import SortedKeys
from agent.plane.tables import TABLES, TableId

NOTIFICATION_CAPACITY = 1024


class MirrorState(enum.Enum):
    EMPTY = "empty"  # never synchronised
    SYNCING = "syncing"  # a resynchronisation is being staged
    SYNCED = "synced"  # following the stream
    LOST = "lost"  # a resynchronisation was asked for and has not begun


@dataclass(frozen=True, slots=True)
class ResyncNeeded:
    reason: str


@dataclass(frozen=True, slots=True)
class CounterReading:
    values: Mapping[str, int]
    taken_at: float  # the control plane's clock
    age: float  # seconds since the mirror received them (its clock)


@dataclass
class MirrorCounters:
    messages: int = 0
    deltas_applied: int = 0
    chunk_rows: int = 0
    resyncs_completed: int = 0
    resyncs_requested: int = 0
    gaps: int = 0
    foreign_epoch: int = 0
    count_mismatches: int = 0
    ignored_while_lost: int = 0


class OperationalMirror:
    def __init__(self, *, notification_capacity: int = NOTIFICATION_CAPACITY,
                 on_notification: Callable[[m.Notification], None] | None = None) -> None:
        self.state = MirrorState.EMPTY
        #: Called with each notification as it is kept (from a ``Notification``
        #: message or rendered from a turn's events): the fan-out's hook.
        self.on_notification = on_notification
        self.counters = MirrorCounters()
        #: The epoch and sequence of the content readers see.
        self.epoch: int | None = None
        self.sequence = 0
        self.synced_at: float | None = None
        self.notifications: deque[m.Notification] = deque(maxlen=notification_capacity)
        self._tables: dict[TableId, dict[tuple[Any, ...], tuple[Any, ...]]] = _empty()
        self._counters: dict[str, tuple[Mapping[str, int], float, float]] = {}
        #: The sorted keys of the live tables (not the staged ones), each built
        #: at its table's first ordered read.
        self._sorted: dict[TableId, SortedKeys] = {}
        # The stream being followed (during a resync: the staged one's).
        self._stream_epoch: int | None = None
        self._expected = 0
        self._staging: dict[TableId, dict[tuple[Any, ...], tuple[Any, ...]]] | None = None
        self._resync: int | None = None

    # -- reads ----------------------------------------------------------------------------------

    @property
    def stale(self) -> bool:
        """True while the content is not following the stream."""
        return self.state is not MirrorState.SYNCED

    def rows(self, table: TableId) -> Iterable[tuple[Any, ...]]:
        return self._tables[table].values()

    def sorted_rows(self, table: TableId) -> list[tuple[Any, ...]]:
        """In key order (the MIB's INDEX order; the YANG list's)."""
        rows = self._tables[table]
        return [rows[key] for key in sorted(rows)]

    def row(self, table: TableId, key: tuple[Any, ...]) -> tuple[Any, ...] | None:
        return self._tables[table].get(key)

    def key_after(self, table: TableId, bound: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
        """The smallest key of ``table`` greater than ``bound`` (the first
        key when None), or None: O(log n)."""
        return self._sorted_keys(table).after(bound)

    def key_from(self, table: TableId, bound: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The smallest key of ``table`` greater than or equal to ``bound``."""
        return self._sorted_keys(table).from_(bound)

    def _sorted_keys(self, table: TableId) -> SortedKeys:
        keys = self._sorted.get(table)
        if keys is None:
            keys = self._sorted[table] = SortedKeys(self._tables[table])
        return keys

    def count(self, table: TableId) -> int:
        return len(self._tables[table])

    def counter_groups(self) -> list[str]:
        return sorted(self._counters)

    def counters_of(self, group: str, now: float) -> CounterReading | None:
        """A group's counters and their age (``now`` on the mirror's clock)."""
        entry = self._counters.get(group)
        if entry is None:
            return None
        values, taken_at, received_at = entry
        return CounterReading(values, taken_at, max(0.0, now - received_at))

    # -- the stream --------------------------------------------------------------------------------

    def apply(self, message: m.StateMessage, now: float) -> ResyncNeeded | None:
        """Apply one state message (received at ``now``, the mirror's clock)."""
        self.counters.messages += 1
        kind = type(message)
        if kind is m.ResyncBegin:
            self._begin(message, now)  # type: ignore[arg-type]
            return None
        if self.state is MirrorState.LOST or self._stream_epoch is None:
            self.counters.ignored_while_lost += 1
            return None
        if message.epoch != self._stream_epoch:
            self.counters.foreign_epoch += 1
            return self._lost(f"a message of epoch {message.epoch}, following {self._stream_epoch}")
        if message.sequence != self._expected:
            self.counters.gaps += 1
            return self._lost(f"sequence {message.sequence}, expected {self._expected}")
        self._expected += 1
        if kind is m.StateDeltas:
            self._apply_deltas(message)  # type: ignore[arg-type]
            if message.events:  # type: ignore[union-attr]
                self._notify(message)  # type: ignore[arg-type]
        elif kind is m.ResyncChunk:
            return self._chunk(message)  # type: ignore[arg-type]
        elif kind is m.ResyncEnd:
            return self._end(message, now)  # type: ignore[arg-type]
        elif kind is m.Counters:
            for group, values in message.groups.items():  # type: ignore[union-attr]
                self._counters[group] = (values, message.taken_at, now)  # type: ignore[union-attr]
        elif kind is m.Notification:
            self._keep(message)  # type: ignore[arg-type]
        if self._staging is None:
            self.sequence = message.sequence
        return None

    def _apply_deltas(self, message: m.StateDeltas) -> None:
        staging = self._staging
        tables = staging if staging is not None else self._tables
        # The index follows the live tables only.
        ordered = {} if staging is not None else self._sorted
        deleted = m.ChangeKind.DELETED
        for table_id, kind, key, row in message.deltas:
            table = tables[table_id]
            keys = ordered.get(table_id)
            if kind == deleted:
                if table.pop(key, None) is not None and keys is not None:
                    keys.discard(key)
            else:
                if keys is not None and key not in table:
                    keys.add(key)
                table[key] = row  # type: ignore[assignment]
        self.counters.deltas_applied += len(message.deltas)

    def _notify(self, message: m.StateDeltas) -> None:
        """The engine events of a turn (after its deltas) as the YANG
        notifications the single-process agent sends for them."""
        for role, event_time, event in message.events:
            notification = notification_for(role, event)
            if notification is not None:
                self._keep(m.Notification(
                    message.epoch, message.sequence, notification[0], event_time, notification[1]))

    def _keep(self, notification: m.Notification) -> None:
        self.notifications.append(notification)
        if self.on_notification is not None:
            self.on_notification(notification)

    def _begin(self, message: m.ResyncBegin, now: float) -> None:  # noqa: ARG002
        self._staging = _empty()
        self._resync = message.resync
        self._stream_epoch = message.epoch
        self._expected = message.sequence + 1
        if message.epoch != self.epoch:
            # A new incarnation of the control plane: its counters start anew.
            self._counters.clear()
        self.state = MirrorState.SYNCING

    def _chunk(self, message: m.ResyncChunk) -> ResyncNeeded | None:
        if self._staging is None or message.resync != self._resync:
            return self._lost(f"a chunk of resynchronisation {message.resync}")
        table = self._staging[message.table]
        key_of = TABLES[message.table].key_of
        for row in message.rows:
            table[key_of(row)] = row
        self.counters.chunk_rows += len(message.rows)
        return None

    def _end(self, message: m.ResyncEnd, now: float) -> ResyncNeeded | None:
        staging = self._staging
        if staging is None or message.resync != self._resync:
            return self._lost(f"the end of resynchronisation {message.resync}")
        wrong = [f"{TABLES[t].name} {len(staging[t])} != {message.row_counts.get(t, 0)}"
                 for t in TableId if len(staging[t]) != message.row_counts.get(t, 0)]
        if wrong:
            self.counters.count_mismatches += 1
            return self._lost("row counts differ: " + ", ".join(wrong))
        self._tables = staging  # one assignment: readers see old or new, never both
        self._sorted = {}  # the old tables' order; the next ordered read sorts the new ones
        self._staging = None
        self._resync = None
        self.epoch = message.epoch
        self.sequence = message.sequence
        self.synced_at = now
        self.state = MirrorState.SYNCED
        self.counters.resyncs_completed += 1
        return None

    def _lost(self, reason: str) -> ResyncNeeded:
        self._staging = None
        self._resync = None
        self.state = MirrorState.LOST
        self.counters.resyncs_requested += 1
        return ResyncNeeded(reason)

    def connection_lost(self) -> None:
        """The stream ended: keep the content for readers (stale) until a
        new stream resynchronises it."""
        self._staging = None
        self._resync = None
        self._stream_epoch = None
        if self.state is not MirrorState.EMPTY:
            self.state = MirrorState.LOST


def _empty() -> dict[TableId, dict[tuple[Any, ...], tuple[Any, ...]]]:
    return {table: {} for table in TableId}
