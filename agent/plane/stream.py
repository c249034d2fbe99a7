"""The control plane's side of the state stream: sequence numbers, delta
batches, periodic counters, notifications, and the resynchronisation in
chunks that never holds the engine loop longer than a budget.

Order is the whole consistency argument. One stream, one order: every message
gets the next ``sequence`` of this ``epoch`` (the control plane's incarnation),
and deltas always carry whole rows. A resynchronisation takes a cheap copy of
each table's keys (after ``ResyncBegin``, when the walk reaches the table),
then sends the *current* rows of those keys chunk by chunk across many loop
turns while the engines go on and their deltas go on being sent in between.
A receiver that applies chunks and deltas in stream order therefore ends, at
``ResyncEnd``, with exactly the engines' tables at that point: a row sent in a chunk is at least as new as every delta
before it, every later change follows as a delta, a key created after the
copy arrives as a delta, a key deleted before its chunk is not in the chunk.
``ResyncEnd`` carries each table's row count so the receiver can check.

Within a loop turn: deltas (``record``, or a drain's ``delta_appender``)
and notifying engine events (``record_event``) go in one ``StateDeltas``,
the events after the deltas, so a notification never overtakes the row it
describes. Rows that are counters (``mobile-node-counters``) are marked
(``mark``) and sent once a period, just before the ``Counters``.

Sans-IO: messages go to ``send`` (the session's ``send_state``); the budget's
clock is a constructor parameter (virtual in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agent.plane import messages as m
from agent.plane.tables import TableId

#: The loop is never held longer than this by one step of a resynchronisation.
RESYNC_BUDGET = 0.005
CHUNK_ROWS = 512
CHECK_EVERY = 32  # rows between two looks at the clock
MAX_BATCH = 1024  # deltas in one StateDeltas message


class RowSource(Protocol):
    """One operational table as the engines hold it."""

    def cursor_keys(self) -> Sequence[Hashable]:
        """A copy of what to walk (cheap: one list of keys, e.g. home addresses)."""

    def rows(self, cursor_key: Hashable) -> Sequence[tuple[Any, ...]]:
        """The current rows under one cursor key (none if it is gone since)."""

    def count(self) -> int:
        """How many rows the table holds now."""


class KeyedRowSource(RowSource, Protocol):
    """A table whose changed keys are marked (``StateStream.mark``) and whose
    rows are built when they are sent."""

    def marked_deltas(self, table: TableId,
                      marked: Sequence[tuple[Hashable, Any]]) -> list[m.DeltaTuple]:
        """The current rows of the marked ``(key, value)``s as ``modified``
        deltas of ``table`` (``deleted`` for a row gone since): one call for
        a period's marks."""


@dataclass
class MappingRowSource:
    """A table that is a mapping of key -> record, one row per record."""

    mapping: Mapping[Any, Any]
    to_row: Callable[[Any], tuple[Any, ...]]

    def cursor_keys(self) -> Sequence[Hashable]:
        return list(self.mapping)

    def rows(self, cursor_key: Hashable) -> Sequence[tuple[Any, ...]]:
        record = self.mapping.get(cursor_key)
        return () if record is None else (self.to_row(record),)

    def count(self) -> int:
        return len(self.mapping)


@dataclass
class StreamCounters:
    messages: int = 0
    deltas: int = 0
    events: int = 0
    resyncs_started: int = 0
    resyncs_completed: int = 0
    resync_steps: int = 0
    resync_rows: int = 0


class StateStream:
    def __init__(self, *, epoch: int, sources: Mapping[TableId, RowSource],
                 send: Callable[[m.StateMessage], None], clock: Callable[[], float],
                 budget: float = RESYNC_BUDGET, chunk_rows: int = CHUNK_ROWS,
                 check_every: int = CHECK_EVERY, max_batch: int = MAX_BATCH) -> None:
        """``clock`` measures the budget (a monotonic clock); ``epoch`` must
        differ between incarnations of the control plane (e.g. its start time
        in nanoseconds)."""
        self.epoch = epoch
        self.counters = StreamCounters()
        self._sources = dict(sources)
        self._send = send
        self._clock = clock
        self._budget = budget
        self._chunk_rows = chunk_rows
        self._check_every = check_every
        self._max_batch = max_batch
        self._sequence = 0
        self._batch: list[m.DeltaTuple] = []
        self._events: list[m.EngineEvent] = []
        self._drains: list[Callable[[], None]] = []
        # Keys marked changed per table, sent with the next counters.
        self._marked: dict[TableId, dict[Hashable, None]] = {}
        self._resync = 0
        self._walk: list[TableId] = []
        self._keys: Sequence[Hashable] | None = None
        self._position = 0
        self._resync_open = False

    @property
    def sequence(self) -> int:
        """The sequence of the last message sent."""
        return self._sequence

    @property
    def resyncing(self) -> bool:
        return self._resync_open

    def _next(self) -> int:
        self._sequence += 1
        self.counters.messages += 1
        return self._sequence

    # -- deltas, counters, notifications ------------------------------------------------------

    def record(self, table: TableId, kind: m.ChangeKind, key: tuple[Any, ...],
               row: tuple[Any, ...] | None) -> None:
        """One row changed (the whole new row; ``None`` when deleted). Sent at
        the next ``flush`` (the adapter flushes once per loop turn) or when
        the batch is full."""
        self._batch.append((table, kind, key, row))
        if len(self._batch) >= self._max_batch:
            self.flush()

    def record_event(self, role: str, event_time: float, event: object) -> None:
        """A notifying engine event (``event_wire.EVENTS``): sent in the same
        message as, and after, the deltas recorded before the next flush, so
        its notification never overtakes the rows it describes."""
        self._events.append((role, event_time, event))
        if len(self._events) >= self._max_batch:
            self.flush()

    def add_drain(self, drain: Callable[[], None]) -> None:
        """``drain()`` runs first in every ``flush``: a recorder that keeps
        its engine's events until then records their deltas there (one
        loop over a turn's events instead of a call per event)."""
        self._drains.append(drain)

    def delta_appender(self) -> Callable[[m.DeltaTuple], None]:
        """The fast path of ``record`` for a drain (``add_drain``): appends a
        ``(table, kind, key, row)`` with no check of the batch's size (a
        drain records one loop turn's events; ``flush`` splits the batch).
        Valid for the stream's life."""
        return self._batch.append

    def marks(self, table: TableId) -> dict[Hashable, Any]:
        """The fast path of ``mark`` for a drain: ``marks(table)[key] = value``.
        Valid for the stream's life."""
        marked = self._marked.get(table)
        if marked is None:
            marked = self._marked[table] = {}
        return marked

    def mark(self, table: TableId, key: Hashable, value: Any) -> None:
        """A row of ``table`` (a ``KeyedRowSource``) changed: its current row
        goes with the next counters (``send_counters``), once however often
        it changed in the period. For the rows that are counters themselves
        (``mobile-node-counters``): they are as old as the other counters.
        ``key`` (cheap to hash) and ``value`` (what the source needs to build
        the row) are handed back to the source's ``marked_deltas``."""
        marked = self._marked.get(table)
        if marked is None:
            marked = self._marked[table] = {}
        marked[key] = value

    def flush(self) -> None:
        """Send what was recorded: ``StateDeltas`` of at most ``max_batch``
        deltas each, the events with the last."""
        for drain in self._drains:
            drain()
        if not self._batch and not self._events:
            return
        # Copied and cleared, never replaced: ``delta_appender`` holds on.
        batch, events = self._batch[:], tuple(self._events)
        self._batch.clear()
        self._events.clear()
        limit = self._max_batch
        last = (max(len(batch) - 1, 0) // limit) * limit  # where the last message's deltas start
        for start in range(0, last, limit):
            self._send(m.StateDeltas(self.epoch, self._next(), tuple(batch[start:start + limit])))
        self.counters.deltas += len(batch)
        self.counters.events += len(events)
        self._send(m.StateDeltas(self.epoch, self._next(), tuple(batch[last:]), events))

    def flush_marked(self) -> None:
        """The marked rows as deltas (then ``flush``)."""
        for table, values in self._marked.items():
            if not values:
                continue
            marked = list(values.items())
            values.clear()  # cleared, never replaced: ``marks`` holds on
            source: KeyedRowSource = self._sources[table]  # type: ignore[assignment]
            self._batch += source.marked_deltas(table, marked)
        self.flush()

    def send_counters(self, taken_at: float, groups: Mapping[str, Mapping[str, int]]) -> None:
        self.flush_marked()
        self._send(m.Counters(self.epoch, self._next(), taken_at, groups))

    def send_notification(self, name: str, event_time: float, body: Mapping[str, Any]) -> None:
        """A notification that is no engine event's (those go by ``record_event``)."""
        self.flush()
        self._send(m.Notification(self.epoch, self._next(), name, event_time, body))

    # -- resynchronisation -------------------------------------------------------------------------

    def begin_resync(self) -> None:
        """Start (or restart) a resynchronisation; ``resync_step`` does the work."""
        self.flush()
        # Marks so far are covered by the resync (the mirror stages from
        # empty; a row marked and still there is in a chunk, as new as the
        # mark or newer), and marks of an engine that a transaction
        # replaced must go with it.
        for values in self._marked.values():
            values.clear()
        self._resync += 1
        self.counters.resyncs_started += 1
        # Each table's keys are copied when the walk reaches it (inside a
        # budgeted step), not here: the argument above holds for a copy taken
        # at any point after ResyncBegin.
        self._walk = list(self._sources)
        self._keys = None
        self._position = 0
        self._resync_open = True
        self._send(m.ResyncBegin(self.epoch, self._next(), self._resync))

    def resync_step(self) -> bool:
        """Send chunks for at most the budget; True while there is more to do
        (the adapter calls again on a later loop turn)."""
        if not self.resyncing:
            return False
        self.flush()  # deltas recorded since the last step go first
        clock = self._clock
        started = clock()
        # Stop early enough to encode the last chunk within the budget.
        stop_at = started + self._budget * 0.8
        self.counters.resync_steps += 1
        check_every = self._check_every
        while self._walk:
            table = self._walk[0]
            source = self._sources[table]
            if self._keys is None:
                self._keys = source.cursor_keys()
            keys = self._keys
            rows: list[tuple[Any, ...]] = []
            position = self._position
            end = min(len(keys), position + self._chunk_rows)
            out_of_time = False
            while position < end:
                rows.extend(source.rows(keys[position]))
                position += 1
                if position % check_every == 0 and clock() >= stop_at:
                    out_of_time = True
                    break
            self._position = position
            if rows:
                self.counters.resync_rows += len(rows)
                self._send(m.ResyncChunk(self.epoch, self._next(), self._resync, table, tuple(rows)))
            if position >= len(keys):
                self._walk.pop(0)
                self._keys = None
                self._position = 0
            if out_of_time:
                return True
        counts = {table: source.count() for table, source in self._sources.items()}
        self._resync_open = False
        self.counters.resyncs_completed += 1
        self._send(m.ResyncEnd(self.epoch, self._next(), self._resync, counts))
        return False
