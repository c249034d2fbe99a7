"""The plane boundary's codec (agent/plane/codec.py): every message both ways,
frames cut anywhere, and strict decoding (each check has a case that fails
when it is removed)."""

from __future__ import annotations

import ast
from ipaddress import IPv4Address
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.mobileip import events as ev
from agent.notifications import notification_for
from agent.plane import codec, event_wire
from agent.plane import messages as m
from agent.plane.codec import DecodeError, DecodeFault, FrameReader, FrameTooLarge
from agent.plane.tables import TABLES, TableId

BINDING = (0xC6120001, 0x7F000004, 0x7F000004, 434, 0x02, 1 << 40, 3000, 1.5, 3001.5)
VISITOR = (0xC6120001, 0x7F000002, 0x7F000003, 0x7F000004, 434, 0, 7, 600, 1.0, 601.0)

#: One of each notifying event (event_wire.EVENTS), with its role.
EVENTS: list[tuple[str, object]] = [
    ("home-agent", ev.BindingCreated(IPv4Address("192.0.2.7"), IPv4Address("203.0.113.1"), 600,
                                     IPv4Address("203.0.113.1"))),
    ("home-agent", ev.BindingDeleted(IPv4Address("192.0.2.7"), IPv4Address("203.0.113.1"),
                                     ev.RemovalReason.EXPIRED)),
    ("foreign-agent", ev.RegistrationDenied(IPv4Address("192.0.2.7"), IPv4Address("198.51.100.1"),
                                            69, IPv4Address("203.0.113.1"))),
    ("home-agent", ev.AuthenticationFailed(IPv4Address("203.0.113.1"), 256,
                                           ev.ViolationReason.BAD_AUTHENTICATOR)),
    ("proxy", ev.AuthenticationFailed(IPv4Address("198.51.100.1"), None, ev.ViolationReason.BAD_SPI,
                                      "02:00:00:00:00:01", IPv4Address("192.0.2.7"))),
    ("foreign-agent", ev.VisitorAdded(IPv4Address("192.0.2.7"), IPv4Address("198.51.100.1"),
                                      IPv4Address("203.0.113.1"), 600)),
    ("foreign-agent", ev.VisitorRemoved(IPv4Address("192.0.2.7"), IPv4Address("198.51.100.1"),
                                        ev.RemovalReason.DEREGISTERED)),
    ("proxy", ev.ClientRegistered("02:00:00:00:00:01", IPv4Address("192.0.2.7"),
                                  IPv4Address("198.51.100.1"), IPv4Address("198.51.100.2"), 300)),
    ("proxy", ev.ClientRegistrationDenied("02:00:00:00:00:01", IPv4Address("192.0.2.7"), 131, True)),
    ("proxy", ev.ClientRegistrationFailed("02:00:00:00:00:01", IPv4Address("192.0.2.7"),
                                          "no reply", False)),
    ("proxy", ev.ClientDeregistered("02:00:00:00:00:01", IPv4Address("192.0.2.7"))),
]

EVERY_MESSAGE: list[m.Message] = [
    m.Hello((1, 2), m.PlaneRole.CONTROL, 1 << 60, 4242),
    m.SessionError(m.ErrorTag.OPERATION_NOT_SUPPORTED, "no common version"),
    m.ConfigChange(7, True, (
        m.ConfigChangeEntry(m.ChangeKind.CREATED, "/mobile-ip/home-agent",
                            {"address": "192.0.2.1", "max-bindings": 10, "flags": [1, "x"]}),
        m.ConfigChangeEntry(m.ChangeKind.MODIFIED, "/mobile-ip/home-agent/max-lifetime", 600, 300),
        m.ConfigChangeEntry(m.ChangeKind.DELETED, "/mobile-ip/subnet-map[prefix='10.0.0.0/8']",
                            None, {"prefix": "10.0.0.0/8"}),
    )),
    m.ConfigChangePart(7, (
        m.ConfigPiece(0, ("security", "host"), ({"address": "10.0.0.1", "spi": 256}, {"address": "10.0.0.2"})),
        m.ConfigPiece(2, ("subnet-map",), ({"prefix": "10.0.0.0/8", "names": ["a", "b"]},)),
    )),
    m.ConfigAccepted(7),
    m.ConfigVetoed(7, m.ErrorTag.INVALID_VALUE, "no such interface", "/mobile-ip/x", "app"),
    m.ConfigDone(7),
    m.ConfigAbort(7),
    m.ConfigApplied(7),
    m.ClearBinding(3, 0xC6120001),
    m.ClearBinding(4, None),
    m.ClearVisitor(5, None, "02:00:00:00:00:01"),
    m.ClearCounters(6, m.CounterScope.HOME_AGENT),
    m.InjectClientEvent(8, m.ClientEventKind.ADDRESS_LEARNED, "02:00:00:00:00:01", 0x0A000001, "wlan0"),
    m.RpcReply(3, 1),
    m.RpcReply(6, None),
    m.RpcError(5, m.ErrorTag.DATA_MISSING, "no such visitor"),
    m.StateDeltas(9, 100, (
        m.Delta(TableId.BINDING, m.ChangeKind.CREATED, BINDING[:2], BINDING),
        m.Delta(TableId.VISITOR, m.ChangeKind.MODIFIED, VISITOR[:1], VISITOR),
        m.Delta(TableId.BINDING, m.ChangeKind.DELETED, BINDING[:2], None),
    )),
    m.StateDeltas(9, 100, (
        m.Delta(TableId.BINDING, m.ChangeKind.CREATED, BINDING[:2], BINDING),
    ), tuple((role, 1700000000.5 + n, event) for n, (role, event) in enumerate(EVENTS))),
    m.Counters(9, 101, 1700000000.25, {"home-agent": {"registration-requests-received": 3},
                                         "data-plane": {"encapsulated": 0}}),
    m.Notification(9, 102, "binding-lost", 1700000000.5, {"mac": "02:00:00:00:00:01"}),
    m.ResyncBegin(9, 103, 1),
    m.ResyncChunk(9, 104, 1, TableId.TUNNEL, ((0x7F000003, 0x7F000002, "pmip0", 2),)),
    m.ResyncChunk(9, 105, 1, TableId.PROXY_CLIENT, (
        ("02:00:00:00:00:01", None, None, None, None, None, "associated", 0, 0, None, None, 0, None,
         10.5, None),)),
    m.ResyncEnd(9, 106, 1, {TableId.BINDING: 0, TableId.TUNNEL: 1}),
    m.ResyncRequest("sequence 7, expected 5"),
]


def test_every_message_type_has_a_case() -> None:
    assert {type(x).TYPE for x in EVERY_MESSAGE} == set(m.MessageType)


@pytest.mark.parametrize("message", EVERY_MESSAGE, ids=lambda x: type(x).__name__)
def test_round_trip(message: m.Message) -> None:
    wire = codec.encode(message)
    (body,) = FrameReader().feed(wire)
    assert codec.decode(body) == message


def test_every_notifying_event_has_a_case_and_a_notification() -> None:
    """Each event event_wire declares is one agent/notifications.py renders
    (an event without a notification has no business on the stream)."""
    assert {type(event) for _, event in EVENTS} == set(event_wire.SPECS_BY_EVENT)
    for role, event in EVENTS:
        assert event_wire.notifies(event) and notification_for(role, event) is not None
    assert not event_wire.notifies(ev.BindingRefreshed(IPv4Address("192.0.2.7"),
                                                       IPv4Address("203.0.113.1"), 600))


def test_frames_cut_at_every_byte() -> None:
    wire = b"".join(codec.encode(x) for x in EVERY_MESSAGE)
    for cut in range(0, len(wire), 7):
        reader = FrameReader()
        bodies = reader.feed(wire[:cut]) + reader.feed(wire[cut:])
        assert [codec.decode(b) for b in bodies] == EVERY_MESSAGE
        assert reader.buffered == 0


def test_oversize_frame_refused_from_its_header() -> None:
    reader = FrameReader(max_frame=1000)
    body = bytes(1000)
    assert reader.feed(codec.frame(body)) == [body]  # at the limit: taken
    with pytest.raises(FrameTooLarge):
        reader.feed(codec.HEADER.pack(1001))  # the header alone: nothing of the body held


def _fault(body: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        codec.decode(body)
    return info.value


def test_unknown_message_type_named() -> None:
    error = _fault(msgpack.packb([99, 1, 2]))
    assert error.fault is DecodeFault.UNKNOWN_TYPE and error.message_type == 99


@pytest.mark.parametrize("body", [
    b"",  # nothing
    msgpack.packb([1]) + b"\x00",  # trailing bytes
    msgpack.packb({"type": 1}),  # not an array
    msgpack.packb([]),  # no type
    msgpack.packb(["1"]),  # a type that is not an integer
    msgpack.packb([32, 1, 2, msgpack.ExtType(5, b"x"), 0.0, {}]),  # an extension type
    b"\x93\x20\x01\xa1\xff",  # invalid UTF-8
], ids=["empty", "trailing", "map", "no-type", "text-type", "extension", "utf8"])
def test_malformed(body: bytes) -> None:
    assert _fault(body).fault is DecodeFault.MALFORMED


@pytest.mark.parametrize("value", [
    [m.MessageType.CONFIG_DONE, True],  # a boolean is not a transaction number
    [m.MessageType.CONFIG_DONE, -1],
    [m.MessageType.CONFIG_DONE, 1.5],
    [m.MessageType.CONFIG_DONE, 1, 2],  # a field too many
    [m.MessageType.CONFIG_VETOED, 1, "no-such-tag", "x", None, None],
    [m.MessageType.RESYNC_REQUEST, "x" * (codec.MAX_TEXT + 1)],
    [m.MessageType.HELLO, [1], "router", 1, 1],
    [m.MessageType.CLEAR_BINDING, 1, 1 << 32],  # not an IPv4 address
    [m.MessageType.CLEAR_COUNTERS, 1, "everything"],
    [m.MessageType.CONFIG_CHANGE, 1, True, [[4, "/x", None, None]]],  # change kind 4
    [m.MessageType.CONFIG_CHANGE, 1, 1, []],  # full must be a boolean
    [m.MessageType.CONFIG_CHANGE_PART, 1, [[0, ["security", "host"]]]],  # a piece of 2 fields
    [m.MessageType.CONFIG_CHANGE_PART, 1, [[-1, ["host"], []]]],  # a negative entry index
    [m.MessageType.CONFIG_CHANGE_PART, 1, [[0, "host", []]]],  # the location is not an array
    [m.MessageType.CONFIG_CHANGE_PART, 1, [[0, [1], []]]],  # a member name that is not text
    [m.MessageType.CONFIG_CHANGE_PART, 1, [[0, ["x"] * (codec.MAX_DEPTH + 1), []]]],  # too deep
    [m.MessageType.STATE_DELTAS, 1, 1, [[1, 1, list(BINDING[:2]), list(BINDING[:-1])]], []],  # short row
    [m.MessageType.STATE_DELTAS, 1, 1, [[1, 1, [1, 2], list(BINDING)]], []],  # key is not the row's
    [m.MessageType.STATE_DELTAS, 1, 1, [[1, 3, list(BINDING[:2]), list(BINDING)]], []],  # deleted, with a row
    [m.MessageType.STATE_DELTAS, 1, 1, [[9, 1, [1], [1]]], []],  # no table 9
    [m.MessageType.STATE_DELTAS, 1, 1, [[1, 3, [1], None]], []],  # a binding key has 2 columns
    [m.MessageType.STATE_DELTAS, 1, 1, [[1, 3, [1, "x"], None]], []],  # a care-of address as text
    [m.MessageType.STATE_DELTAS, 1, 1, [[4, 3, [None], None]], []],  # no key column is absent
    [m.MessageType.STATE_DELTAS, 1, 1, [[1, 1, list(BINDING[:2]),
                                          [*BINDING[:3], 70000, *BINDING[4:]]]], []],  # port > 65535
    [m.MessageType.STATE_DELTAS, 1, 1, []],  # no events field
    [m.MessageType.STATE_DELTAS, 1, 1, [], [[99, 1, 0.0, []]]],  # no event 99
    [m.MessageType.STATE_DELTAS, 1, 1, [], [[1, 4, 0.0, [1, 2, 600, 3]]]],  # no role 4
    [m.MessageType.STATE_DELTAS, 1, 1, [], [[1, 1, "now", [1, 2, 600, 3]]]],  # time as text
    [m.MessageType.STATE_DELTAS, 1, 1, [], [[1, 1, 0.0, [1, 2, 600]]]],  # a field short
    [m.MessageType.STATE_DELTAS, 1, 1, [], [[1, 1, 0.0, [1, 1 << 32, 600, 3]]]],  # no IPv4 address
    [m.MessageType.STATE_DELTAS, 1, 1, [], [[1, 1, 0.0, [1, 2, -1, 3]]]],  # negative lifetime
    [m.MessageType.STATE_DELTAS, 1, 1, [], [[1, 1, 0.0, [None, 2, 600, 3]]]],  # home absent
    [m.MessageType.STATE_DELTAS, 1, 1, [], [[2, 1, 0.0, [1, 2, "gone"]]]],  # no such reason
    [m.MessageType.STATE_DELTAS, 1, 1, [], [[8, 3, 0.0, ["m", 1, 128, 1]]]],  # binding-lost not bool
    [m.MessageType.STATE_DELTAS, 1, 1, [], [[10, 3, 0.0, ["m" * 1025, 1]]]],  # MAC too long
    [m.MessageType.RESYNC_CHUNK, 1, 1, 1, 4, [[1, 2, 3, 4]]],  # tunnel interface not text
    [m.MessageType.RESYNC_END, 1, 1, 1, {17: 3}],
    [m.MessageType.COUNTERS, 1, 1, 0.0, {"home-agent": {"x": -1}}],
    [m.MessageType.NOTIFICATION, 1, 1, 0.0, "binding-lost", {}],  # fields out of order
], ids=lambda v: f"{m.MessageType(v[0]).name}")
def test_bad_field(value: list[object]) -> None:
    assert _fault(msgpack.packb(value)).fault is DecodeFault.BAD_FIELD


def test_json_values_nested_too_deep_refused() -> None:
    value: object = 1
    for _ in range(codec.MAX_DEPTH + 2):
        value = [value]
    body = msgpack.packb([m.MessageType.NOTIFICATION, 1, 1, "x", 0.0, {"a": value}])
    assert _fault(body).fault is DecodeFault.BAD_FIELD


def test_bad_rpc_keeps_its_request_number() -> None:
    error = _fault(msgpack.packb([m.MessageType.CLEAR_COUNTERS, 41, "everything"]))
    assert error.request == 41


def test_every_row_column_checked() -> None:
    """Each column of each table refuses a value of the wrong type."""
    for table in TABLES.values():
        good = tuple(None if c.optional else ("x" if c.type.value == "text" else
                     (1.0 if c.type.value == "time" else 1)) for c in table.columns)
        assert table.check_row(good) == good
        for position, column in enumerate(table.columns):
            bad = list(good)
            bad[position] = [] if column.type.value != "text" else 5
            with pytest.raises(ValueError):
                table.check_row(bad)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_give_a_decode_error_or_a_message(data: bytes) -> None:
    try:
        codec.decode(data)
    except DecodeError:
        pass


def test_datastore_error_tags_are_on_the_wire() -> None:
    """Every error-tag the datastore raises can cross the boundary."""
    from agent.datastore.errors import ErrorTag as DatastoreTag

    assert {t.value for t in DatastoreTag} <= {t.value for t in m.ErrorTag}


SANS_IO = ("tables", "messages", "codec", "session", "stream", "mirror", "rows", "render",
           "event_wire")
FORBIDDEN = {"asyncio", "socket", "time", "selectors", "threading", "subprocess"}


@pytest.mark.parametrize("module", SANS_IO)
def test_sans_io(module: str) -> None:
    """The protocol modules do no I/O and read no clock (the adapter does)."""
    path = Path(__file__).resolve().parents[2] / "agent" / "plane" / f"{module}.py"
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN


def test_every_table_renders_to_its_yang_list() -> None:
    """Each table's columns are leaves of its YANG list (or the facts a
    derived leaf comes from), and every leaf of the list is a column or
    derived: adding a leaf to the YANG without its column fails here."""
    import libyang

    root = Path(__file__).resolve().parents[2]
    context = libyang.Context(str(root / "yang"))
    module = context.load_module("proxy-mobile-ip")

    def find(node: object, steps: list[str]) -> object:
        for child in node.children():  # type: ignore[attr-defined]
            if child.name() == steps[0]:
                return child if len(steps) == 1 else find(child, steps[1:])
            if child.keyword() in ("choice", "case"):
                try:
                    return find(child, steps)
                except LookupError:
                    pass
        raise LookupError(steps[0])

    try:
        for table in TABLES.values():
            steps = table.yang_list.strip("/").split("/")
            top = next(n for n in module.children() if n.name() == steps[0])
            yang_list = find(top, steps[1:])
            leaves = {child.name() for child in yang_list.children()}  # type: ignore[attr-defined]
            columns = set(table.column_names)
            sources = {column for used in table.derived.values() for column in used}
            assert columns <= leaves | sources | set(table.facts), (table.name, columns - leaves)
            assert leaves <= columns | set(table.derived), (table.name, leaves - columns)
            assert sources <= columns and set(table.facts) <= columns
    finally:
        context.destroy()
