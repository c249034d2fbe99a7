"""The state stream's producer (agent/plane/stream.py) and the operational
mirror (agent/plane/mirror.py), on virtual time: the resynchronisation of
100,000 bindings never holds the loop longer than its budget, and the mirror
ends equal to the engines' tables although they changed during it."""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from typing import Any

import pytest

from agent.plane import codec
from agent.plane import messages as m
from agent.plane.mirror import MirrorState, OperationalMirror, ResyncNeeded
from agent.plane.stream import RESYNC_BUDGET, MappingRowSource, StateStream
from agent.plane.tables import TableId

FIRST_HOME = 0xC6120000  # 198.18.0.0 (RFC 2544 benchmarking range)
CARE_OF = 0x7F000004
#: Virtual cost of producing one row and of encoding one row: a pessimistic
#: model (the codec bench measures ~1 us per row on this machine).
ROW_COST = 3e-6
ENCODE_COST = 1e-6


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Bindings:
    """A home agent's binding table as the engine holds it: home address ->
    its bindings (care-of address -> row); a running row count."""

    def __init__(self, clock: Clock) -> None:
        self.nodes: dict[int, dict[int, tuple[Any, ...]]] = {}
        self.total = 0
        self.clock = clock

    def put(self, row: tuple[Any, ...]) -> bool:
        node = self.nodes.setdefault(row[0], {})
        created = row[1] not in node
        self.total += created
        node[row[1]] = row
        return created

    def delete(self, home: int, care_of: int) -> bool:
        node = self.nodes.get(home)
        if node is None or care_of not in node:
            return False
        del node[care_of]
        if not node:
            del self.nodes[home]
        self.total -= 1
        return True

    # RowSource
    def cursor_keys(self) -> Sequence[Hashable]:
        return list(self.nodes)

    def rows(self, cursor_key: Hashable) -> Sequence[tuple[Any, ...]]:
        node = self.nodes.get(cursor_key)  # type: ignore[call-overload]
        if node is None:
            return ()
        self.clock.now += ROW_COST * len(node)
        return tuple(node.values())

    def count(self) -> int:
        return self.total


def binding(home: int, care_of: int = CARE_OF, identification: int = 1) -> tuple[Any, ...]:
    return (home, care_of, care_of, 434, 0, identification, 3000, 1.0, 3001.0)


class Link:
    """Stream -> codec -> mirror, in order; records each message."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.wire: list[bytes] = []

    def send(self, message: m.StateMessage) -> None:
        if isinstance(message, m.ResyncChunk):
            self.clock.now += ENCODE_COST * len(message.rows)
        self.wire.append(codec.encode(message))

    def deliver(self, mirror: OperationalMirror, now: float = 0.0) -> list[ResyncNeeded]:
        reader = codec.FrameReader()
        asked = []
        for body in reader.feed(b"".join(self.wire)):
            result = mirror.apply(codec.decode(body), now)  # type: ignore[arg-type]
            if result is not None:
                asked.append(result)
        self.wire.clear()
        return asked


def mirror_bindings(mirror: OperationalMirror) -> dict[tuple[int, int], tuple[Any, ...]]:
    return {(row[0], row[1]): row for row in mirror.rows(TableId.BINDING)}


def engine_bindings(table: Bindings) -> dict[tuple[int, int], tuple[Any, ...]]:
    return {(home, coa): row for home, node in table.nodes.items() for coa, row in node.items()}


def setup(count: int, *, epoch: int = 1, **options: Any) -> tuple[Clock, Bindings, Link, StateStream]:
    clock = Clock()
    table = Bindings(clock)
    for i in range(count):
        table.put(binding(FIRST_HOME + i))
    link = Link(clock)
    stream = StateStream(epoch=epoch, sources={TableId.BINDING: table}, send=link.send,
                         clock=clock, **options)
    return clock, table, link, stream


def test_resync_of_100000_bindings_holds_the_budget_while_the_engine_changes() -> None:
    clock, table, link, stream = setup(100_000)
    mirror = OperationalMirror()
    rng = random.Random(5)
    stream.begin_resync()
    steps: list[float] = []
    identification = 2
    while True:
        started = clock.now
        more = stream.resync_step()
        steps.append(clock.now - started)
        # Between two steps the loop serves the engines: some registrations,
        # renewals and deregistrations, each recorded as a delta.
        for _ in range(20):
            home = FIRST_HOME + rng.randrange(120_000)
            action = rng.random()
            if action < 0.15:
                if table.delete(home, CARE_OF):
                    stream.record(TableId.BINDING, m.ChangeKind.DELETED, (home, CARE_OF), None)
            else:
                identification += 1
                row = binding(home, identification=identification)
                kind = m.ChangeKind.CREATED if table.put(row) else m.ChangeKind.MODIFIED
                stream.record(TableId.BINDING, kind, (home, CARE_OF), row)
        # No flush here: the step itself must send what was recorded first.
        clock.now += 0.001
        assert link.deliver(mirror) == []
        if not more:
            break
    stream.flush()  # the adapter's end-of-turn flush, for the last changes
    assert link.deliver(mirror) == []
    assert max(steps) <= RESYNC_BUDGET
    assert len(steps) > 50  # many loop turns, not one long one
    assert mirror.state is MirrorState.SYNCED and mirror.epoch == 1
    assert mirror_bindings(mirror) == engine_bindings(table)
    assert mirror.count(TableId.BINDING) == table.total
    # After the resync the stream goes on as deltas.
    table.delete(FIRST_HOME, CARE_OF)
    stream.record(TableId.BINDING, m.ChangeKind.DELETED, (FIRST_HOME, CARE_OF), None)
    stream.flush()
    link.deliver(mirror)
    assert mirror_bindings(mirror) == engine_bindings(table)


def test_a_step_without_the_budget_would_hold_the_loop() -> None:
    """The figure the budget bounds: one step over 100,000 rows at the
    model's cost is ~0.4 s (the bound above is what prevents it)."""
    clock, table, link, stream = setup(100_000, budget=10.0)
    stream.begin_resync()
    started = clock.now
    assert stream.resync_step() is False
    assert clock.now - started > 50 * RESYNC_BUDGET


def test_deltas_and_counters_and_notifications() -> None:
    clock, table, link, stream = setup(0)
    mirror = OperationalMirror(notification_capacity=2)
    stream.begin_resync()
    stream.resync_step()
    link.deliver(mirror, now=10.0)
    row = binding(FIRST_HOME)
    stream.record(TableId.BINDING, m.ChangeKind.CREATED, row[:2], row)
    stream.send_counters(1000.0, {"home-agent": {"registrations-accepted": 1}})
    for name in ("a", "b", "c"):
        stream.send_notification(f"binding-{name}", 1000.0, {})
    link.deliver(mirror, now=10.5)
    assert mirror.row(TableId.BINDING, row[:2]) == row
    reading = mirror.counters_of("home-agent", now=12.0)
    assert reading is not None
    assert reading.values == {"registrations-accepted": 1}
    assert reading.taken_at == 1000.0 and reading.age == pytest.approx(1.5)
    assert [n.name for n in mirror.notifications] == ["binding-b", "binding-c"]  # bounded
    assert mirror.sequence == stream.sequence


def test_engine_events_become_the_notifications_after_their_turns_deltas() -> None:
    """A turn's notifying events travel as facts after its deltas; the
    mirror renders them with agent/notifications.py (the bodies the
    single-process agent sends), in order, once the deltas are applied."""
    from ipaddress import IPv4Address

    from agent.mobileip import events as ev
    from agent.notifications import notification_for

    clock, table, link, stream = setup(0)
    mirror = OperationalMirror()
    stream.begin_resync()
    stream.resync_step()
    link.deliver(mirror, now=10.0)
    row = binding(FIRST_HOME)
    created = ev.BindingCreated(IPv4Address(FIRST_HOME), IPv4Address(CARE_OF), 600, IPv4Address(CARE_OF))
    denied = ev.RegistrationDenied(IPv4Address(FIRST_HOME + 1), IPv4Address("198.51.100.1"), 131,
                                   IPv4Address(CARE_OF))
    stream.record_event("home-agent", 1000.0, created)  # recorded first, sent after the deltas
    stream.record(TableId.BINDING, m.ChangeKind.CREATED, row[:2], row)
    stream.record_event("home-agent", 1000.5, denied)
    stream.flush()
    assert len(link.wire) == 1  # one message for the turn
    link.deliver(mirror, now=10.5)
    assert mirror.row(TableId.BINDING, row[:2]) == row
    assert [(n.name, n.event_time, n.body) for n in mirror.notifications] == [
        ("binding-created", 1000.0, notification_for("home-agent", created)[1]),  # type: ignore[index]
        ("registration-denied", 1000.5, notification_for("home-agent", denied)[1]),  # type: ignore[index]
    ]
    assert {n.sequence for n in mirror.notifications} == {stream.sequence} == {mirror.sequence}


def test_a_gap_asks_once_for_a_resync_and_keeps_the_content() -> None:
    clock, table, link, stream = setup(3)
    mirror = OperationalMirror()
    stream.begin_resync()
    stream.resync_step()
    link.deliver(mirror)
    stream.record(TableId.BINDING, m.ChangeKind.DELETED, (FIRST_HOME, CARE_OF), None)
    stream.flush()
    link.wire.clear()  # lost
    stream.send_counters(1.0, {})
    stream.send_counters(2.0, {})
    asked = link.deliver(mirror)
    assert len(asked) == 1 and "sequence" in asked[0].reason
    assert mirror.state is MirrorState.LOST and mirror.stale
    assert mirror.count(TableId.BINDING) == 3  # still readable, marked stale
    assert mirror.counters.gaps == 1 and mirror.counters.ignored_while_lost == 1
    stream.begin_resync()
    stream.resync_step()
    link.deliver(mirror)
    assert mirror.state is MirrorState.SYNCED and mirror.count(TableId.BINDING) == 3


def test_restart_replaces_the_content_at_the_end_only() -> None:
    clock, table, link, stream = setup(1000)
    mirror = OperationalMirror()
    stream.begin_resync()
    while stream.resync_step():
        pass
    link.deliver(mirror)
    stream.send_counters(5.0, {"home-agent": {"x": 7}})
    link.deliver(mirror)
    # The control plane restarts (a new epoch) with a different table.
    clock2, table2, link2, stream2 = setup(0, epoch=2, chunk_rows=100, budget=0.0004)
    for i in range(500):
        table2.put(binding(FIRST_HOME + 5000 + i))
    stream2.begin_resync()
    stream2.resync_step()
    link2.deliver(mirror)
    # Mid-way: the readers see the old engines' content, whole.
    assert mirror.state is MirrorState.SYNCING and mirror.stale
    assert mirror.epoch == 1 and mirror.count(TableId.BINDING) == 1000
    assert mirror.counters_of("home-agent", 0.0) is None  # the old incarnation's counters are gone
    while stream2.resync_step():
        link2.deliver(mirror)
    link2.deliver(mirror)
    assert mirror.state is MirrorState.SYNCED and mirror.epoch == 2
    assert mirror_bindings(mirror) == engine_bindings(table2)


def test_old_epoch_after_a_restart_refused() -> None:
    clock, table, link, stream = setup(1, epoch=2)
    mirror = OperationalMirror()
    stream.begin_resync()
    stream.resync_step()
    link.deliver(mirror)
    mirror_sequence = mirror.sequence
    stale = m.Counters(1, mirror_sequence + 1, 0.0, {})
    assert isinstance(mirror.apply(stale, 0.0), ResyncNeeded)
    assert mirror.counters.foreign_epoch == 1


def test_row_count_mismatch_detected() -> None:
    """A delta the engine forgot to record: the counts at ResyncEnd differ."""
    clock, table, link, stream = setup(100, chunk_rows=10, budget=1.0, check_every=1)
    mirror = OperationalMirror()
    stream.begin_resync()
    clock.now = 0.0
    stream._budget = 30 * ROW_COST / 0.8  # a few chunks per step  # noqa: SLF001
    stream.resync_step()
    table.put(binding(FIRST_HOME + 1_000_000))  # created, but no delta sent
    while stream.resync_step():
        pass
    asked = link.deliver(mirror)
    assert len(asked) == 1 and "row counts" in asked[0].reason
    assert mirror.counters.count_mismatches == 1 and mirror.state is MirrorState.LOST


def test_mapping_source_and_every_table_in_the_counts() -> None:
    clock = Clock()
    tunnels = {0x7F000003: (0x7F000003, 0x7F000002, "pmip0", 1)}
    link = Link(clock)
    stream = StateStream(epoch=1, sources={TableId.TUNNEL: MappingRowSource(tunnels, lambda r: r)},
                         send=link.send, clock=clock)
    mirror = OperationalMirror()
    stream.begin_resync()
    stream.resync_step()
    link.deliver(mirror)
    assert list(mirror.rows(TableId.TUNNEL)) == [tunnels[0x7F000003]]
    assert mirror.sorted_rows(TableId.BINDING) == []


def test_a_turn_over_max_batch_is_split_and_its_events_go_last() -> None:
    """At most max_batch deltas a message; the turn's events ride with the
    last of them, after every delta of the turn."""
    from ipaddress import IPv4Address

    from agent.mobileip import events as ev

    clock, table, link, stream = setup(0, max_batch=4)
    mirror = OperationalMirror()
    stream.begin_resync()
    stream.resync_step()
    link.deliver(mirror)
    rows = [binding(FIRST_HOME + i) for i in range(3)]
    for row in rows:
        stream.record(TableId.BINDING, m.ChangeKind.CREATED, row[:2], row)
    created = ev.BindingCreated(IPv4Address(FIRST_HOME), IPv4Address(CARE_OF), 600, IPv4Address(CARE_OF))
    stream.record_event("home-agent", 1.0, created)
    for row in [binding(FIRST_HOME + i) for i in range(3, 9)]:
        stream._batch.append((TableId.BINDING, m.ChangeKind.CREATED, row[:2], row))  # a drain's fast path
    stream.flush()
    messages = [codec.decode(body) for body in codec.FrameReader().feed(b"".join(link.wire))]
    assert [len(x.deltas) for x in messages] == [4, 4, 1]  # type: ignore[union-attr]
    assert [len(x.events) for x in messages] == [0, 0, 1]  # type: ignore[union-attr]
    link.deliver(mirror)
    assert mirror.count(TableId.BINDING) == 9 and [n.name for n in mirror.notifications] == ["binding-created"]


class NodeCounters:
    """A KeyedRowSource of counter rows (key -> accepted count)."""

    def __init__(self) -> None:
        self.nodes: dict[int, int] = {}

    def cursor_keys(self) -> Sequence[Hashable]:
        return list(self.nodes)

    def rows(self, cursor_key: Hashable) -> Sequence[tuple[Any, ...]]:
        count = self.nodes.get(cursor_key)  # type: ignore[call-overload]
        return () if count is None else ((cursor_key, count, 0, 0.0, None, None, 0),)

    def count(self) -> int:
        return len(self.nodes)

    def marked_deltas(self, table: TableId, marked: Sequence[tuple[Hashable, Any]]) -> list[Any]:
        return [(table, m.ChangeKind.MODIFIED, (key,), (key, self.nodes[key], 0, 0.0, None, None, 0))
                for key, _ in marked]  # type: ignore[index]


def test_marked_rows_go_once_with_the_counters_and_a_resync_covers_them() -> None:
    """Marks coalesce within a period and go before its Counters; a resync
    drops the marks made before it (its chunks carry those rows)."""
    clock = Clock()
    nodes = NodeCounters()
    link = Link(clock)
    stream = StateStream(epoch=1, sources={TableId.MOBILE_NODE: nodes}, send=link.send, clock=clock)
    mirror = OperationalMirror()
    stream.begin_resync()
    stream.resync_step()
    link.deliver(mirror)
    for count in (1, 2, 3):  # three changes in one period
        nodes.nodes[7] = count
        stream.mark(TableId.MOBILE_NODE, 7, None)
    stream.flush()
    assert link.wire == []  # not with the turn's deltas
    stream.send_counters(1.0, {})
    messages = [codec.decode(body) for body in codec.FrameReader().feed(b"".join(link.wire))]
    assert [type(x) for x in messages] == [m.StateDeltas, m.Counters]
    assert [d.row for d in messages[0].deltas] == [(7, 3, 0, 0.0, None, None, 0)]  # type: ignore[union-attr]
    link.deliver(mirror)
    nodes.nodes[7] = 4
    stream.mark(TableId.MOBILE_NODE, 7, None)
    stream.begin_resync()  # before the period ends
    while stream.resync_step():
        pass
    link.deliver(mirror)
    assert mirror.row(TableId.MOBILE_NODE, (7,)) == (7, 4, 0, 0.0, None, None, 0)
    stream.send_counters(2.0, {})
    assert [type(codec.decode(body)) for body in codec.FrameReader().feed(b"".join(link.wire))] \
        == [m.Counters]  # the mark went with the resync
