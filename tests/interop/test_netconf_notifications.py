"""RFC 5277 notifications over NETCONF/SSH, from an agent composed as
``proxymip run`` composes it (in process, loopback, port 0), read with ncclient
(``take_notification``) and, for the slow-subscriber case, with a raw asyncssh
client that stops reading.

Notifications come from the datastore as the engines publish them: a real
mobile node registration with the home agent (UDP on loopback), and
``datastore.publish`` on the agent's loop for the rest.
"""

from __future__ import annotations

import asyncio
import faulthandler
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from agent.lab import HA, MN_KEY, NETCONF_USER, client_address
from agent.mobileip import replay
from agent.mobileip.builder import build_request, check_reply
from agent.mobileip.registration import decode_reply
from agent.mobileip.security import SecurityAssociation
from agent.netconf.errors import BASE_NS
from agent.netconf.framing import END_OF_MESSAGE, Framer, FramingMode
from agent.netconf.notifications import (
    INTERLEAVE_1_0,
    NOTIFICATION_1_0,
    NOTIFICATION_NS,
    parse_rfc3339,
    rfc3339,
)
from agent.netconf.session import BASE_1_1, DEFAULT_MAX_PENDING_NOTIFICATIONS
from agent.netconf.ssh_library import asyncssh
from tests.interop.netconf_agent import InProcessAgent, nc_connect, running_agent

pytest.importorskip("ncclient")
from ncclient.operations import RPCError as NcclientRpcError

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
N = f"{{{NOTIFICATION_NS}}}"
M = f"{{{NS}}}"
HARD_TIMEOUT = 60.0
WAIT = 5.0


@pytest.fixture(autouse=True)
def hard_timeout() -> Iterator[None]:
    faulthandler.dump_traceback_later(HARD_TIMEOUT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[InProcessAgent]:
    with running_agent(tmp_path) as running:
        yield running


def binding(home: str, *, lifetime: int = 300, care_of: str = "127.0.0.3") -> dict[str, Any]:
    return {"home-address": home, "care-of-address": care_of, "lifetime": lifetime,
            "source-address": care_of}


def denial(home: str, code: int = 129) -> dict[str, Any]:
    return {"role": "home-agent", "home-address": home, "code": code,
            "source-address": "127.0.0.3"}


def take(session: Any, timeout: float = WAIT) -> etree._Element:
    notification = session.take_notification(timeout=timeout)
    assert notification is not None, f"no notification within {timeout} s"
    root = etree.fromstring(notification.notification_xml.encode())
    assert root.tag == N + "notification"
    return root


def content(message: etree._Element) -> etree._Element:
    children = [c for c in message if c.tag != N + "eventTime"]
    assert len(children) == 1
    return children[0]


def leaves(element: etree._Element) -> dict[str, str]:
    return {etree.QName(c).localname: c.text or "" for c in element}


# -- delivery ------------------------------------------------------------------------------


def test_capabilities_and_a_published_notification(agent: InProcessAgent) -> None:
    with nc_connect(agent) as session:
        assert {NOTIFICATION_1_0, INTERLEAVE_1_0} <= set(session.server_capabilities)
        assert session.create_subscription().ok
        when = 1_800_000_000.25
        agent.publish("binding-created", binding("192.0.2.10"), when)
        message = take(session)
        # RFC 5277 §4: eventTime first, RFC 3339, from the publish time.
        assert message[0].tag == N + "eventTime"
        assert message[0].text == "2027-01-15T08:00:00.250000Z" == rfc3339(when)
        assert parse_rfc3339(message[0].text) == when
        event = content(message)
        assert event.tag == M + "binding-created"
        assert leaves(event) == {"home-address": "192.0.2.10", "care-of-address": "127.0.0.3",
                                 "lifetime": "300", "source-address": "127.0.0.3"}


def test_a_mobile_node_registration_is_notified(agent: InProcessAgent) -> None:
    """The home agent engine accepts a real Registration Request (RFC 5944
    §3.8.3) and its BindingCreated event reaches the subscriber."""
    with nc_connect(agent) as session:
        session.create_subscription()
        home_address = client_address(4, 0)
        sa = SecurityAssociation(spi=256, key=bytes.fromhex(MN_KEY.replace(":", "")))
        identification = replay.ntp_identification(time.time())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as node:
            node.bind(("127.0.0.1", 0))
            node.settimeout(WAIT)
            request = build_request(home_address=home_address, home_agent=IPv4Address(HA),
                                    care_of_address=IPv4Address("127.0.0.1"),
                                    identification=identification, lifetime=120, sa=sa)
            started = time.time()
            node.sendto(request, agent.home_agent_address)
            reply = decode_reply(node.recv(2048))
        assert reply.code == 0, reply
        assert check_reply(reply, sent_identification=identification, sa=sa).ok
        message = take(session)
        assert started - 1 <= parse_rfc3339(message[0].text or "") <= time.time() + 1
        assert leaves(content(message)) == {
            "home-address": str(home_address), "care-of-address": "127.0.0.1",
            "lifetime": "120", "source-address": "127.0.0.1"}


def test_interleave_rpcs_while_subscribed(agent: InProcessAgent) -> None:
    """RFC 5277 §6: with :interleave:, the subscribed session keeps
    sending RPCs and gets replies between notifications."""
    with nc_connect(agent) as session:
        session.create_subscription()
        agent.publish("binding-created", binding("192.0.2.11"))
        selection = f'<mobile-ip xmlns="{NS}"><home-agent><address/></home-agent></mobile-ip>'
        reply = session.get_config(source="running", filter=("subtree", selection))
        assert [e.text for e in reply.data.iter(M + "address")] == [HA]
        agent.publish("binding-deleted", {"home-address": "192.0.2.11",
                                          "care-of-address": "127.0.0.3", "reason": "expired"})
        counters = (f'<mobile-ip xmlns="{NS}"><home-agent-state><counters/>'
                    "</home-agent-state></mobile-ip>")
        assert session.get(filter=("subtree", counters)).ok
        names = [etree.QName(content(take(session))).localname for _ in range(2)]
        assert names == ["binding-created", "binding-deleted"]


def test_a_second_subscription_is_refused(agent: InProcessAgent) -> None:
    with nc_connect(agent) as session:
        session.create_subscription()
        with pytest.raises(NcclientRpcError) as caught:
            session.create_subscription()
        # RFC 5277 §6.5: operation-failed, protocol.
        assert (caught.value.tag, caught.value.type) == ("operation-failed", "protocol")
        # The first subscription is untouched.
        agent.publish("binding-created", binding("192.0.2.12"))
        assert leaves(content(take(session)))["home-address"] == "192.0.2.12"


def test_only_subscribed_sessions_receive_and_the_subscription_ends_with_the_session(
        agent: InProcessAgent) -> None:
    server = agent.agent.netconf_server
    with nc_connect(agent) as listener, nc_connect(agent) as bystander:
        listener.create_subscription()
        assert agent.on_loop(lambda: server.has_subscribers)
        agent.publish("binding-created", binding("192.0.2.13"))
        take(listener)
        assert bystander.take_notification(timeout=0.3) is None
        assert bystander.get_config(source="running").ok
    assert not agent.on_loop(lambda: server.has_subscribers)
    agent.publish("binding-created", binding("192.0.2.14"))  # nobody: nothing converted
    with nc_connect(agent) as later:
        agent.publish("binding-created", binding("192.0.2.15"))
        assert later.take_notification(timeout=0.3) is None


# -- filters (RFC 5277 §2.1.1, RFC 6241 §6) -----------------------------------------------------


def test_filter_selects_by_notification(agent: InProcessAgent) -> None:
    with nc_connect(agent) as session:
        session.create_subscription(filter=("subtree", f'<registration-denied xmlns="{NS}"/>'))
        agent.publish("binding-created", binding("192.0.2.20"))
        agent.publish("registration-denied", denial("192.0.2.21"))
        event = content(take(session))
        assert event.tag == M + "registration-denied"
        assert leaves(event)["home-address"] == "192.0.2.21"
        assert session.take_notification(timeout=0.3) is None


def test_filter_content_match_and_selection(agent: InProcessAgent) -> None:
    with nc_connect(agent) as matching:
        # Content match nodes only: the whole notification of a match (§6.2.5).
        matching.create_subscription(filter=("subtree", f"""
            <binding-created xmlns="{NS}">
              <home-address>192.0.2.31</home-address>
            </binding-created>"""))
        with nc_connect(agent) as selecting:
            # A selection node: only that leaf of every binding-created.
            selecting.create_subscription(filter=("subtree", f"""
                <binding-created xmlns="{NS}"><care-of-address/></binding-created>"""))
            agent.publish("binding-created", binding("192.0.2.30", care_of="127.0.0.5"))
            agent.publish("binding-created", binding("192.0.2.31"))
            agent.publish("visitor-added", {"home-address": "192.0.2.31", "home-agent": HA,
                                            "care-of-address": "127.0.0.3", "lifetime": 1})
            event = content(take(matching))
            assert leaves(event) == {"home-address": "192.0.2.31",
                                     "care-of-address": "127.0.0.3",
                                     "lifetime": "300", "source-address": "127.0.0.3"}
            assert matching.take_notification(timeout=0.3) is None
            first, second = (content(take(selecting)) for _ in range(2))
            assert (leaves(first), leaves(second)) == ({"care-of-address": "127.0.0.5"},
                                                       {"care-of-address": "127.0.0.3"})
            assert selecting.take_notification(timeout=0.3) is None


# -- errors (RFC 5277 §2.1.1) ----------------------------------------------------------------


def subscribe_error(session: Any, body: str) -> NcclientRpcError:
    with pytest.raises(NcclientRpcError) as caught:
        session.dispatch(etree.fromstring(
            f'<create-subscription xmlns="{NOTIFICATION_NS}">{body}</create-subscription>'))
    return caught.value


def test_create_subscription_errors(agent: InProcessAgent) -> None:
    now = datetime.now(UTC)
    past, future = "2020-01-01T00:00:00Z", f"{now.year + 1}-01-01T00:00:00+01:00"
    with nc_connect(agent) as session:
        cases = [
            ("<stream>SNMP</stream>", "invalid-value", "stream"),
            (f"<stopTime>{past}</stopTime>", "missing-element", "startTime"),
            (f"<startTime>{future}</startTime>", "bad-element", "startTime"),
            (f"<startTime>{past}</startTime><stopTime>2019-01-01T00:00:00Z</stopTime>",
             "bad-element", "stopTime"),
            (f"<startTime>{past}</startTime>", "operation-failed", None),  # no replay
            ("<startTime>yesterday</startTime>", "invalid-value", "startTime"),
            ("<startTime>2020-01-01T00:00:00</startTime>", "invalid-value", "startTime"),
            ('<filter type="regex" select="/x"/>', "operation-not-supported", "filter"),
            ('<filter type="xpath" select="/x["/>', "invalid-value", "filter"),  # RFC 6241 §8.9
            ("<frob/>", "unknown-element", "frob"),
        ]
        for body, tag, bad_element in cases:
            error = subscribe_error(session, body)
            assert (error.tag, error.type) == (tag, "protocol"), body
            info = etree.fromstring(error.xml) if isinstance(error.xml, str) else error.xml
            found = info.findtext(f"{{{BASE_NS}}}error-info/{{{BASE_NS}}}bad-element")
            assert found == bad_element, body
        # None of them subscribed the session.
        assert session.create_subscription(stream_name="NETCONF").ok


# -- a subscriber that does not read -----------------------------------------------------------


class _Collector(asyncssh.SSHClientSession[bytes]):
    def __init__(self) -> None:
        self.framer = Framer(max_message_size=1 << 24)
        self.messages: asyncio.Queue[bytes] = asyncio.Queue()

    def data_received(self, data: bytes, datatype: Any) -> None:
        self.framer.receive_data(data)
        while (message := self.framer.next_message()) is not None:
            self.messages.put_nowait(message)

    async def next(self) -> etree._Element:
        return etree.fromstring(await asyncio.wait_for(self.messages.get(), WAIT))


def test_a_subscriber_that_stops_reading_loses_its_oldest_notifications_only(
        agent: InProcessAgent) -> None:
    """The SSH window of a client that does not read fills, the channel asks
    the server to pause writing, and notifications wait in the session's
    bounded queue: the oldest are dropped and counted, the agent and the
    other sessions carry on, and once the client reads again it gets the
    newest ones in order."""
    server = agent.agent.netconf_server
    total = DEFAULT_MAX_PENDING_NOTIFICATIONS * 3
    host, port = agent.netconf_address

    async def scenario() -> None:
        async with asyncssh.connect(host, port, username=NETCONF_USER[0],
                                    password=NETCONF_USER[1], known_hosts=None,
                                    agent_path=None, preferred_auth="password") as conn:
            chan, client = await conn.create_session(_Collector, subsystem="netconf",
                                                     encoding=None, window=8192)
            hello = await client.next()
            session_id = int(hello.findtext(f"{{{BASE_NS}}}session-id") or 0)
            chan.write(f'<hello xmlns="{BASE_NS}"><capabilities><capability>{BASE_1_1}'
                       "</capability></capabilities></hello>".encode() + END_OF_MESSAGE)
            client.framer.mode = FramingMode.CHUNKED
            chan.write(client.framer.encode(
                f'<rpc xmlns="{BASE_NS}" message-id="1"><create-subscription '
                f'xmlns="{NOTIFICATION_NS}"/></rpc>'.encode()))
            assert (await client.next()).find(f"{{{BASE_NS}}}ok") is not None
            chan.pause_reading()  # no more window adjusts: the server's window runs dry

            def publish_all() -> None:
                for index in range(total):
                    agent.datastore.publish("binding-created",
                                            binding("192.0.2.40", lifetime=index), time.time())

            await asyncio.to_thread(agent.on_loop, publish_all)
            counters = await asyncio.to_thread(agent.on_loop, server.session_counters, session_id)
            pending = await asyncio.to_thread(agent.on_loop, server.pending_notifications,
                                              session_id)
            assert pending == DEFAULT_MAX_PENDING_NOTIFICATIONS
            assert counters.dropped_notifications > 0
            written = counters.out_notifications
            assert written + pending + counters.dropped_notifications == total

            # Meanwhile the agent answers another session at once.
            def other_session() -> float:
                started = time.monotonic()
                with nc_connect(agent) as other:
                    assert other.get_config(source="running").ok
                return time.monotonic() - started

            assert await asyncio.to_thread(other_session) < WAIT

            chan.resume_reading()
            lifetimes = []
            while len(lifetimes) < written + pending:
                message = await client.next()
                assert message.tag == N + "notification"
                lifetimes.append(int(message.findtext(f"{M}binding-created/{M}lifetime") or -1))
            # In order; the first ones written, then the newest `pending`.
            assert lifetimes == sorted(lifetimes)
            assert lifetimes[:written] == list(range(written))
            assert lifetimes[written:] == list(range(total - pending, total))
            chan.close()

    asyncio.run(asyncio.wait_for(scenario(), HARD_TIMEOUT - 10))
