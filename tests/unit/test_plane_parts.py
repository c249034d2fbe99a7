"""A configuration transaction larger than one frame crosses the plane
boundary in ``ConfigChangePart`` frames (agent/plane/parts.py) and arrives
whole; pieces that do not fit are vetoed, never half-applied. Sans-IO, on
virtual time (the sessions' pair helper)."""

from __future__ import annotations

import copy

import pytest

from agent.plane import codec
from agent.plane import messages as m
from agent.plane import parts
from agent.plane import session as s
from agent.plane.codec import FrameReader
from tests.unit.test_plane_session import ENTRY, Pair, events

TOP = "/proxy-mobile-ip:mobile-ip"
PART = 4096


def full_configuration(hosts: int) -> dict[str, object]:
    return {"home-agent": {"address": "127.0.0.2", "max-lifetime": 600},
            "security": {"host": [{"address": f"10.0.{i >> 8}.{i & 255}", "spi": 256 + i,
                                   "key-hex": "00" * 16, "algorithm": "hmac-md5"}
                                  for i in range(hosts)],
                         "peer": [{"address": "192.0.2.1", "spi": 300}]},
            "subnet-map": [{"prefix": f"10.{i}.0.0/16", "home-agent": "127.0.0.2"} for i in range(100)]}


def pair(**options: float) -> Pair:
    joined = Pair(part_bytes=PART, **options)
    events(joined.management)
    events(joined.control)
    return joined


def test_a_big_full_configuration_goes_in_parts_and_arrives_whole() -> None:
    joined = pair()
    value = full_configuration(2000)
    sent = copy.deepcopy(value)
    number = joined.management.begin_transaction(
        (m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, value),), joined.now, full=True)
    assert value == sent  # the caller's value is not cut in place
    frames = FrameReader().feed(joined.management.data_to_send())
    messages = [codec.decode(body) for body in frames]
    assert [type(x) for x in messages[-1:]] == [m.ConfigChange]
    assert all(type(x) is m.ConfigChangePart for x in messages[:-1])
    assert len(messages) > 20
    # Every frame near the part size: none decodes for long on the engines' loop.
    assert max(len(body) for body in frames) < 2 * PART
    for body in frames:
        joined.control.receive_data(codec.frame(body), joined.now)
    (requested,) = events(joined.control)
    assert requested == s.ConfigChangeRequested(
        number, True, (m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, sent),))
    assert joined.control.assembling is None  # nothing held after it


def test_a_small_transaction_is_one_frame_as_in_v1() -> None:
    joined = pair()
    joined.management.begin_transaction(ENTRY, joined.now)
    (body,) = FrameReader().feed(joined.management.data_to_send())
    assert codec.decode(body) == m.ConfigChange(1, False, ENTRY)


def test_every_big_array_of_every_entry_is_cut_and_put_back() -> None:
    entries = (
        m.ConfigChangeEntry(m.ChangeKind.MODIFIED, f"{TOP}/home-agent/max-lifetime", 600, 300),
        m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, full_configuration(500)),
        m.ConfigChangeEntry(m.ChangeKind.CREATED, f"{TOP}/security",
                            {"host": full_configuration(300)["security"]["host"]}),  # type: ignore[index]
    )
    cut, final = parts.split(entries, PART)
    located = {(piece.entry, piece.location) for pieces in cut for piece in pieces}
    # The peer list (one entry) is not cut: it is short.
    assert located == {(1, ("security", "host")), (1, ("subnet-map",)), (2, ("host",))}
    assert parts.item_count(cut) == 900
    assembly = parts.Assembly(1)
    for pieces in cut:
        assembly.add(pieces)
    assert assembly.finish(copy.deepcopy(final)) == entries


def test_the_verdict_timeout_grows_with_what_was_sent_in_parts() -> None:
    """5 s (sysrepo's default) for a small edit; plus TIMEOUT_PER_ITEM per
    SA sent in parts, so that a legitimate big transaction is not aborted."""
    joined = pair()
    hosts = 20_000
    number = joined.management.begin_transaction(
        (m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, full_configuration(hosts)),), joined.now, full=True)
    allowance = (hosts + 100) * s.TIMEOUT_PER_ITEM  # the SAs and the subnet map
    assert allowance >= 5.0
    assert joined.management.transaction_deadline == s.CHANGE_TIMEOUT + allowance
    joined.exchange()
    events(joined.control)
    joined.advance(s.CHANGE_TIMEOUT + allowance - 0.01)  # longer than 5 s: still waiting
    assert events(joined.management) == []
    joined.control.accept(number, joined.now)
    joined.exchange()
    assert events(joined.management) == [s.TransactionPrepared(number)]
    joined.management.commit(number, joined.now)
    joined.exchange()
    events(joined.control)
    start = joined.now
    assert joined.management.transaction_deadline == start + s.APPLY_TIMEOUT + allowance
    joined.advance(start + s.APPLY_TIMEOUT + allowance - 0.01)  # the apply too
    assert joined.management.state is s.SessionState.ESTABLISHED
    joined.advance(start + s.APPLY_TIMEOUT + allowance + 0.01)
    assert joined.management.state is s.SessionState.CLOSED


def test_the_allowance_is_bounded_by_the_size() -> None:
    joined = pair()
    number = joined.management.begin_transaction(
        (m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, full_configuration(2000)),), joined.now, full=True)
    joined.advance(s.CHANGE_TIMEOUT + 2100 * s.TIMEOUT_PER_ITEM + 0.01)
    assert events(joined.management) == [s.TransactionTimedOut(number, s.Phase.CHANGE)]


def _send(joined: Pair, *messages: m.Message) -> list[s.Event]:
    for message in messages:
        joined.control.receive_data(codec.encode(message), joined.now)
    return events(joined.control)


def _vetoes(joined: Pair) -> list[m.Message]:
    return [codec.decode(body) for body in FrameReader().feed(joined.control.data_to_send())]


HOSTS = ({"address": "10.0.0.1", "spi": 256},)


@pytest.mark.parametrize("piece, change", [
    (m.ConfigPiece(1, ("security", "host"), HOSTS), {"security": {}}),  # no entry 1
    (m.ConfigPiece(0, ("security", "host"), HOSTS), {"security": {"host": []}}),  # it holds the member
    (m.ConfigPiece(0, ("security", "host"), HOSTS), {"security": 7}),  # below a leaf
    (m.ConfigPiece(0, ("security", "host"), HOSTS), 7),  # the entry's value is a leaf
    (m.ConfigPiece(0, ("missing", "host"), HOSTS), {"security": {}}),  # below nothing
    (m.ConfigPiece(0, (), HOSTS), {"security": {}}),  # no member named
], ids=["entry", "held", "leaf", "leaf-value", "missing", "empty"])
def test_pieces_that_do_not_fit_are_vetoed_malformed(piece: m.ConfigPiece, change: object) -> None:
    joined = pair()
    got = _send(joined, m.ConfigChangePart(3, (piece,)),
                m.ConfigChange(3, True, (m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, change),)))
    assert [type(e) for e in got] == [s.ProtocolViolation]  # never ConfigChangeRequested
    (veto,) = _vetoes(joined)
    assert isinstance(veto, m.ConfigVetoed) and veto.tag is m.ErrorTag.MALFORMED_MESSAGE
    assert joined.control.counters.bad_field == 1
    assert joined.control.transaction is None and joined.control.assembling is None


def test_parts_of_another_transaction_are_vetoed() -> None:
    joined = pair()
    got = _send(joined, m.ConfigChangePart(3, (m.ConfigPiece(0, ("security", "host"), HOSTS),)),
                m.ConfigChange(4, True, (m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, {"security": {}}),)))
    assert [type(e) for e in got] == [s.ProtocolViolation]
    (veto,) = _vetoes(joined)
    assert veto == m.ConfigVetoed(4, m.ErrorTag.MALFORMED_MESSAGE, "parts of transaction 3")


def test_parts_whose_change_never_came_are_dropped_and_counted() -> None:
    joined = pair()
    got = _send(joined, m.ConfigChangePart(3, (m.ConfigPiece(0, ("security", "host"), HOSTS),)),
                m.ConfigChangePart(4, (m.ConfigPiece(0, ("security", "host"), HOSTS),)),
                m.ConfigChange(4, True, (m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, {"security": {}}),)))
    assert [type(e) for e in got] == [s.ProtocolViolation, s.ConfigChangeRequested]
    assert joined.control.counters.unexpected == 1
    requested = got[1]
    assert isinstance(requested, s.ConfigChangeRequested)
    assert requested.changes[0].value == {"security": {"host": [dict(HOSTS[0])]}}  # once, not twice


def test_parts_crossing_a_transaction_in_progress_are_dropped_with_it() -> None:
    joined = pair()
    first = _send(joined, m.ConfigChange(1, False, ENTRY))
    assert [type(e) for e in first] == [s.ConfigChangeRequested]
    got = _send(joined, m.ConfigChangePart(2, (m.ConfigPiece(0, ("security", "host"), HOSTS),)),
                m.ConfigChange(2, True, (m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, {"security": {}}),)))
    assert got == []
    assert [type(x) for x in _vetoes(joined)] == [m.ConfigVetoed]
    assert joined.control.assembling is None
