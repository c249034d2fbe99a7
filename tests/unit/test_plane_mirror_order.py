"""The mirror's ordered reads (agent/plane/sorted_keys.py, OperationalMirror.
key_after/key_from) against a model under random deltas and
resynchronisations, and the SNMP tables that read them
(agent/plane/snmp_sources.py): a GETNEXT walk (RFC 3416 §4.2.2) while deltas
stream returns each row present throughout exactly once, in index order, as
it is at that step."""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from ipaddress import IPv4Address
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.plane import messages as m
from agent.plane.mirror import OperationalMirror
from agent.plane.snmp_sources import first_key_after, mirror_sources
from agent.plane.sorted_keys import SortedKeys
from agent.plane.tables import TableId
from agent.snmp.instrumentation import build_tree
from agent.snmp.values import Oid

BINDING_MN = (1, 3, 6, 1, 2, 1, 44, 1, 6, 3, 1, 1, 1)  # haMobilityBindingMN (RFC 2006)
COUNTER_ACCEPTED = (1, 3, 6, 1, 2, 1, 44, 1, 6, 3, 2, 1, 2)  # haServiceRequestsAccepted


def binding(home: int, care_of: int, identification: int = 1) -> tuple[Any, ...]:
    return (home, care_of, care_of, 434, 0, identification, 3000, 1.0, 3001.0)


def node(home: int, accepted: int = 1) -> tuple[Any, ...]:
    return (home, accepted, 0, 0.0, 1.0, None, 0)


# -- SortedKeys --------------------------------------------------------------------------------

keys_st = st.tuples(st.integers(0, 40), st.integers(0, 3))


@settings(max_examples=200, deadline=None)
@given(initial=st.lists(keys_st, max_size=20),
       operations=st.lists(st.tuples(st.sampled_from(["add", "discard", "after", "from"]),
                                     keys_st), max_size=200))
def test_sorted_keys_follow_a_sorted_model(initial: list[tuple[int, int]],
                                           operations: list[tuple[str, tuple[int, int]]]) -> None:
    keys = SortedKeys(initial, load=2)  # tiny blocks: every split and empty block is exercised
    model = sorted(set(initial))
    for operation, key in operations:
        if operation == "add":
            keys.add(key)
            if key not in model:
                model.insert(bisect_left(model, key), key)
        elif operation == "discard":
            keys.discard(key)
            if key in model:
                model.remove(key)
        elif operation == "after":
            at = bisect_right(model, key)
            assert keys.after(key) == (model[at] if at < len(model) else None)
        else:
            at = bisect_left(model, key)
            assert keys.from_(key) == (model[at] if at < len(model) else None)
        assert len(keys) == len(model)
    assert list(keys) == model
    assert keys.after(None) == (model[0] if model else None)


# -- the mirror --------------------------------------------------------------------------------

class Stream:
    """Builds the messages a control plane would send, keeping sequence."""

    def __init__(self) -> None:
        self.epoch, self.sequence, self.resync = 1, 0, 0

    def next(self) -> int:
        self.sequence += 1
        return self.sequence

    def deltas(self, *deltas: m.Delta) -> m.StateDeltas:
        return m.StateDeltas(self.epoch, self.next(), tuple(deltas))

    def resynchronise(self, tables: dict[TableId, dict[tuple[Any, ...], tuple[Any, ...]]],
                      *, new_epoch: bool = False) -> list[Any]:
        if new_epoch:
            self.epoch += 1
        self.resync += 1
        out: list[Any] = [m.ResyncBegin(self.epoch, self.sequence, self.resync)]
        for table, rows in tables.items():
            if rows:
                out.append(m.ResyncChunk(self.epoch, self.next(), self.resync, table,
                                         tuple(rows.values())))
        out.append(m.ResyncEnd(self.epoch, self.next(), self.resync,
                               {table: len(rows) for table, rows in tables.items()}))
        return out


def put(key: tuple[int, int], identification: int) -> m.Delta:
    return m.Delta(TableId.BINDING, m.ChangeKind.MODIFIED, key, binding(*key, identification))


def delete(key: tuple[int, int]) -> m.Delta:
    return m.Delta(TableId.BINDING, m.ChangeKind.DELETED, key, None)


def walk(mirror: OperationalMirror) -> list[tuple[Any, ...]]:
    out, key = [], mirror.key_after(TableId.BINDING, None)
    while key is not None:
        out.append(key)
        key = mirror.key_after(TableId.BINDING, key)
    return out


step_st = st.one_of(
    st.tuples(st.just("put"), keys_st),
    st.tuples(st.just("delete"), keys_st),
    st.tuples(st.just("read"), keys_st),
    st.tuples(st.just("resync"), st.booleans()),
    st.tuples(st.just("staged-put"), keys_st),
)


@settings(max_examples=150, deadline=None)
@given(initial=st.dictionaries(keys_st, st.integers(1, 9), max_size=15),
       steps=st.lists(step_st, max_size=80))
def test_ordered_reads_follow_deltas_and_resynchronisations(
        initial: dict[tuple[int, int], int], steps: list[tuple[str, Any]]) -> None:
    """The index is built at the first ordered read, follows every delta to
    the live tables (not to staged ones) and follows the swap of a
    resynchronisation: key_after/key_from always agree with the live rows."""
    mirror, stream = OperationalMirror(), Stream()
    model = {key: binding(*key, i) for key, i in initial.items()}
    for message in stream.resynchronise({TableId.BINDING: dict(model)}):
        assert mirror.apply(message, 0.0) is None
    identification = 10
    for operation, argument in steps:
        identification += 1
        if operation == "put":
            assert mirror.apply(stream.deltas(put(argument, identification)), 0.0) is None
            model[argument] = binding(argument[0], argument[1], identification)
        elif operation == "delete":
            assert mirror.apply(stream.deltas(delete(argument)), 0.0) is None
            model.pop(argument, None)
        elif operation == "read":
            ordered = sorted(model)
            at = bisect_left(ordered, argument)
            assert mirror.key_from(TableId.BINDING, argument) == (
                ordered[at] if at < len(ordered) else None)
            assert walk(mirror) == ordered
        elif operation == "resync":
            # The control plane's tables as they are now, plus a change.
            staged = dict(model)
            staged[(41, 0)] = binding(41, 0, identification)
            messages = stream.resynchronise({TableId.BINDING: staged}, new_epoch=argument)
            for message in messages[:-1]:
                assert mirror.apply(message, 0.0) is None
            # Readers still see the old content (and its order) until the end.
            assert walk(mirror) == sorted(model)
            assert mirror.apply(messages[-1], 0.0) is None
            model = staged
        else:  # a delta during a resynchronisation goes to the staged tables only
            staged = dict(model)
            messages = stream.resynchronise({TableId.BINDING: staged})
            for message in messages[:-1]:
                assert mirror.apply(message, 0.0) is None
            resync_end = messages[-1]
            staged[argument] = binding(argument[0], argument[1], identification)
            created = argument not in model
            assert mirror.apply(m.StateDeltas(stream.epoch, resync_end.sequence,
                                              (put(argument, identification),)), 0.0) is None
            assert walk(mirror) == sorted(model)  # the live order, unchanged
            counts = {TableId.BINDING: len(model) + created}
            end = m.ResyncEnd(stream.epoch, resync_end.sequence + 1, resync_end.resync, counts)
            stream.sequence = end.sequence
            assert mirror.apply(end, 0.0) is None
            model = staged
        assert mirror.count(TableId.BINDING) == len(model)
    assert walk(mirror) == sorted(model)
    assert [mirror.row(TableId.BINDING, key) for key in walk(mirror)] == \
        [model[key] for key in sorted(model)]


# -- OID bounds --------------------------------------------------------------------------------

def index_of(key: tuple[int, ...]) -> Oid:
    return tuple(b for part in key for b in part.to_bytes(4, "big"))


@settings(max_examples=300, deadline=None)
@given(keys=st.sets(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)), max_size=8),
       near=st.integers(0, 7),
       after=st.lists(st.one_of(st.integers(0, 3), st.integers(250, 260),
                                st.integers(0, 2**32 - 1)), max_size=11))
def test_the_first_row_after_any_oid_is_the_one_a_scan_finds(
        keys: set[tuple[int, int]], near: int, after: list[int]) -> None:
    """GETNEXT names any OID (RFC 3416 §4.2.2): shorter, longer, sub-ids
    above 255. The answer is the first index greater than it."""
    mirror, stream = OperationalMirror(), Stream()
    rows = {key: binding(*key) for key in keys}
    for message in stream.resynchronise({TableId.BINDING: rows}):
        mirror.apply(message, 0.0)
    bound: Oid = tuple(after)
    if keys and near < len(after):  # an OID that shares a prefix with a row's index
        bound = index_of(sorted(keys)[near % len(keys)])[:near] + bound[near:]
    later = [key for key in sorted(keys) if index_of(key) > bound]
    assert first_key_after(mirror, TableId.BINDING, bound, 8) == (later[0] if later else None)


# -- a walk through the MIB while deltas stream --------------------------------------------------

def snmp_tree(mirror: OperationalMirror) -> Any:
    sources = mirror_sources(mirror, config=dict, role_settings=lambda role: object(),
                             clock=lambda: 0.0, started_at=0.0)
    return build_tree(sources)


def test_a_walk_under_continuous_deltas_returns_each_row_once_in_order() -> None:
    """Between every two GETNEXT steps a batch of deltas creates, changes and
    deletes bindings. The walk's indexes strictly increase; every binding
    present from start to end is returned exactly once; each value is the row
    as it is at that step."""
    rng = random.Random(14)
    mirror, stream = OperationalMirror(), Stream()
    homes = rng.sample(range(0xC6120000, 0xC6130000), 600)
    rows = {(home, 0x7F000004 + rng.randrange(3)): 1 for home in homes}
    for message in stream.resynchronise({
            TableId.BINDING: {key: binding(*key) for key in rows},
            TableId.MOBILE_NODE: {(home,): node(home) for home in homes}}):
        assert mirror.apply(message, 0.0) is None
    tree = snmp_tree(mirror)
    stable = set(rows)  # present throughout
    seen: list[tuple[int, int]] = []
    oid: Oid = BINDING_MN
    column_id = (1, 3, 6, 1, 2, 1, 44, 1, 6, 3, 1, 1, 5)  # haMobilityBindingRegIDLow
    identification = 100
    while True:
        batch = []
        for _ in range(20):
            identification += 1
            roll = rng.random()
            key = (rng.choice(homes) + rng.choice((0, 1)), 0x7F000004 + rng.randrange(3))
            if roll < 0.4:
                batch.append(put(key, identification))
            elif roll < 0.6:
                batch.append(delete(key))
                stable.discard(key)
            else:
                existing = rng.choice(sorted(rows))
                batch.append(put(existing, identification))
            if batch[-1].kind is m.ChangeKind.DELETED:
                rows.pop(key, None)
            else:
                rows[batch[-1].key] = identification
        assert mirror.apply(stream.deltas(*batch), 0.0) is None
        oid, _ = tree.get_next(oid, 0.0)
        if oid[:len(BINDING_MN)] != BINDING_MN:
            break
        index = oid[len(BINDING_MN):]
        key = (int(IPv4Address(bytes(index[:4]))), int(IPv4Address(bytes(index[4:]))))
        assert key in rows  # never a deleted row
        # The row as it is now: its identification is the last one applied.
        got = tree.get(column_id + index, 0.0)
        assert got[1] == rows[key]
        seen.append(key)
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert stable <= set(seen)


def test_the_counter_table_lists_nodes_with_a_row_or_a_binding_in_order() -> None:
    mirror, stream = OperationalMirror(), Stream()
    for message in stream.resynchronise({
            TableId.BINDING: {(5, 7): binding(5, 7), (5, 9): binding(5, 9), (8, 1): binding(8, 1)},
            TableId.MOBILE_NODE: {(5,): node(5, 3), (6,): node(6, 4)}}):
        assert mirror.apply(message, 0.0) is None
    tree = snmp_tree(mirror)
    oid: Oid = COUNTER_ACCEPTED
    walked = []
    while True:
        oid, value = tree.get_next(oid, 0.0)
        if oid[:len(COUNTER_ACCEPTED)] != COUNTER_ACCEPTED:
            break
        walked.append((oid[len(COUNTER_ACCEPTED):], value[1]))
    # Node 8 has a binding and no node row yet: zero counters.
    assert walked == [((0, 0, 0, 5), 3), ((0, 0, 0, 6), 4), ((0, 0, 0, 8), 0)]
