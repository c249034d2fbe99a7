"""The sans-IO session's RFC 5277 side and its RFC 6022 counters: a
``NetconfSession`` fed bytes and read back through a client-side ``Framer``,
no SSH, virtual time."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from agent.netconf.errors import BASE_NS, RpcError
from agent.netconf.framing import END_OF_MESSAGE, Framer, FramingMode
from agent.netconf.notifications import (
    INTERLEAVE_1_0,
    NOTIFICATION_1_0,
    NOTIFICATION_NS,
    notification_message,
    parse_rfc3339,
    rfc3339,
)
from agent.netconf.session import BASE_1_0, BASE_1_1, NetconfSession, SessionInfo

MODULE_NS = "urn:example:events"
NOW = 1_800_000_000.0
Q = f"{{{BASE_NS}}}"
N = f"{{{NOTIFICATION_NS}}}"


def handler(operation: etree._Element, info: SessionInfo) -> etree._Element | None:
    if etree.QName(operation).localname == "fail":
        raise RpcError("operation-failed", "as asked")
    if etree.QName(operation).localname == "ping":
        return None
    raise RpcError("operation-not-supported", "no", error_type="protocol")


class Client:
    """A client's view of one session: frames in, messages out."""

    def __init__(self, *, notifications: bool = True, max_pending: int = 4,
                 clock: Callable[[], float] | None = lambda: NOW) -> None:
        capabilities = [BASE_1_0, BASE_1_1]
        if notifications:
            capabilities += [NOTIFICATION_1_0, INTERLEAVE_1_0]
        self.session = NetconfSession(7, capabilities, handler, max_message_size=1 << 20,
                                      clock=clock, max_pending_notifications=max_pending)
        self.framer = Framer(max_message_size=1 << 20)
        self.framer.feed(self.session.start())
        self.session.receive_data(
            f'<hello xmlns="{BASE_NS}"><capabilities><capability>{BASE_1_1}</capability>'
            "</capabilities></hello>".encode() + END_OF_MESSAGE)
        self.framer.mode = FramingMode.CHUNKED

    def rpc(self, body: str, *, attributes: str = ' message-id="1"') -> etree._Element:
        frames = self.session.receive_data(self.framer.encode(
            f'<rpc xmlns="{BASE_NS}"{attributes}>{body}</rpc>'.encode()))
        (message,) = [m for frame in frames for m in self.framer.feed(frame)]
        return etree.fromstring(message)

    def subscribe(self, body: str = "") -> etree._Element:
        return self.rpc(f'<create-subscription xmlns="{NOTIFICATION_NS}">{body}'
                        "</create-subscription>")

    def notifications(self) -> list[etree._Element]:
        out = []
        while (frame := self.session.next_notification()) is not None:
            out.extend(etree.fromstring(m) for m in self.framer.feed(frame))
        return out


def event(name: str = "happened", value: int = 0, when: float = NOW) -> etree._Element:
    content = etree.Element(f"{{{MODULE_NS}}}{name}", nsmap={None: MODULE_NS})
    etree.SubElement(content, f"{{{MODULE_NS}}}value").text = str(value)
    etree.SubElement(content, f"{{{MODULE_NS}}}other").text = "x"
    return notification_message(content, when)


def values(messages: list[etree._Element]) -> list[int]:
    return [int(m.findtext(f"*/{{{MODULE_NS}}}value") or -1) for m in messages]


def error_tag(reply: etree._Element) -> str | None:
    return reply.findtext(f"{Q}rpc-error/{Q}error-tag")


def test_event_time_is_rfc3339_utc_and_round_trips() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000000Z"
    assert rfc3339(NOW + 0.5) == "2027-01-15T08:00:00.500000Z"
    assert parse_rfc3339("2027-01-15T10:00:00.5+02:00") == NOW + 0.5
    for bad in ("2027-01-15", "2027-01-15T08:00:00", "now", ""):
        with pytest.raises(ValueError):
            parse_rfc3339(bad)


def test_nothing_is_queued_without_a_subscription() -> None:
    client = Client()
    client.session.notify(event())
    assert client.notifications() == []
    assert client.subscribe().find(Q + "ok") is not None
    assert client.session.subscription is not None
    client.session.notify(event(value=1))
    (message,) = client.notifications()
    assert message.tag == N + "notification"
    assert [etree.QName(c).localname for c in message] == ["eventTime", "happened"]
    assert message.findtext(N + "eventTime") == rfc3339(NOW)
    assert client.session.counters.out_notifications == 1


def test_the_queue_is_bounded_and_loses_its_oldest() -> None:
    client = Client(max_pending=4)
    client.subscribe()
    for value in range(10):
        client.session.notify(event(value=value))
    assert client.session.pending_notifications == 4
    assert client.session.counters.dropped_notifications == 6
    assert values(client.notifications()) == [6, 7, 8, 9]
    assert client.session.counters.out_notifications == 4


def test_rpcs_interleave_with_queued_notifications() -> None:
    client = Client()
    client.subscribe()
    client.session.notify(event(value=1))
    reply = client.rpc("<ping/>")  # RFC 5277 §6: not blocked by the subscription
    assert reply.find(Q + "ok") is not None
    client.session.notify(event(value=2))
    assert values(client.notifications()) == [1, 2]


def test_a_second_subscription_is_operation_failed() -> None:
    client = Client()
    client.subscribe()
    reply = client.subscribe()
    assert error_tag(reply) == "operation-failed"
    assert reply.findtext(f"{Q}rpc-error/{Q}error-type") == "protocol"


def test_the_filter_prunes_a_copy_and_drops_what_it_does_not_select() -> None:
    client = Client()
    client.subscribe(f'<filter type="subtree"><happened xmlns="{MODULE_NS}"><value/></happened>'
                     "</filter>")
    shared = event(value=3)
    before = etree.tostring(shared)
    client.session.notify(shared)
    client.session.notify(event("other-thing"))
    (message,) = client.notifications()
    assert etree.tostring(shared) == before  # every session sees the same message
    assert message.findtext(N + "eventTime") == rfc3339(NOW)
    assert [etree.QName(c).localname for c in message.find(f"{{{MODULE_NS}}}happened")] == [
        "value"]


def test_without_the_capability_create_subscription_goes_to_the_handler() -> None:
    client = Client(notifications=False)
    assert error_tag(client.subscribe()) == "operation-not-supported"
    assert client.session.subscription is None


def test_a_start_time_in_the_future_needs_the_clock() -> None:
    future = f"<startTime>{rfc3339(NOW + 60)}</startTime>"
    assert error_tag(Client().subscribe(future)) == "bad-element"
    # Without a clock it is judged as any startTime: replay is not supported.
    assert error_tag(Client(clock=None).subscribe(future)) == "operation-failed"


def test_the_subscription_ends_with_the_session() -> None:
    client = Client()
    client.subscribe()
    client.session.notify(event())
    assert client.session.pending_notifications == 1
    reply = client.rpc("<close-session/>")
    assert reply.find(Q + "ok") is not None and client.session.closed
    assert client.session.subscription is None
    assert client.session.pending_notifications == 0
    client.session.notify(event())
    assert client.session.next_notification() is None


def test_rfc6022_counters() -> None:
    client = Client()
    client.rpc("<ping/>")
    client.rpc("<fail/>")
    client.rpc("<ping/>", attributes="")  # no message-id: an rpc-layer error
    client.rpc("<ping/><ping/>")  # not exactly one operation
    client.subscribe()
    counters = client.session.counters
    assert (counters.in_rpcs, counters.in_bad_rpcs, counters.out_rpc_errors) == (3, 2, 3)
    # A message that is not XML ends the session, counted too.
    frames = client.session.receive_data(client.framer.encode(b"<rpc"))
    assert frames and client.session.closed
    assert (counters.in_bad_rpcs, counters.out_rpc_errors) == (3, 4)
    assert client.session.was_established
