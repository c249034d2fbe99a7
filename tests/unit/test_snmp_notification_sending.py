"""PROXY-MOBILE-IP-MIB notifications from the proxy engine's own events, on
virtual time (the engines of ``test_proxy``), through the YANG notification
mapping to the SNMP varbinds; and the SNMP agent's sending of them to
receivers that are unreachable or silent (RFC 3416 §4.2.6 traps are sent once;
§4.2.7 informs are retried a bounded number of times), counted, never blocking
or raising into the engines.

The end-to-end tests against net-snmp's snmptrapd are in
``tests/interop/test_snmp_notifications.py``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from ipaddress import IPv4Address
from typing import Any

import libyang
import pytest

from agent.mobileip import events as ev
from agent.mobileip.events import ClientRegistrationDenied, ClientRegistrationFailed
from agent.mobileip.numbers import ReplyCode
from agent.mobileip.proxy import VisitorState
from agent.notifications import notification_for
from agent.mobileip.violations import ViolationLog
from agent.snmp import server as snmp_server
from agent.snmp import values as v
from agent.snmp.instrumentation import build_tree
from agent.snmp.notifications import notifications
from agent.snmp.proxy_mib import PMIP_AUTHENTICATION_FAILURE, PMIP_BINDING_LOST, PMIP_MIB, PMIP_REGISTRATION_DENIED
from agent.snmp.server import SnmpAgent
from agent.snmp.settings import SnmpCommunity, SnmpReceiver, SnmpSettings, SnmpUser
from agent.snmp.sources import Sources
from tests.unit.test_proxy import CLIENT, FOREIGN_AGENT, HOME_AGENT, MAC, NOW, drain, make_world, register

VISITOR = PMIP_MIB + (1, 4, 1)
NOTIFY = PMIP_MIB + (1, 6)
MAC_INDEX = tuple(int(part, 16) for part in MAC.split(":"))


def yang_valid(name: str, content: dict[str, Any]) -> None:
    """libyang accepts the notification (RFC 7950 §7.16, RFC 7951 JSON)."""
    from agent.schema.context import yang_dir

    context = libyang.Context(str(yang_dir()))
    try:
        context.load_module("proxy-mobile-ip")
        node = context.parse_op_mem("json", json.dumps({f"proxy-mobile-ip:{name}": content}),
                                    dtype=libyang.DataType.NOTIF_YANG)
        assert node is not None
        node.free()
    finally:
        context.destroy()


def sources_for(proxy: Any) -> Sources:
    return Sources(lambda: None, lambda: None, lambda: proxy, ViolationLog, dict, started_at=NOW - 10)


def test_a_denied_renewal_loses_the_binding_a_denied_first_registration_does_not() -> None:
    """The home agent goes silent: the foreign agent answers the renewal with
    78, registration timeout (RFC 5944 §3.7.3.1). The client held a binding,
    so the denial says it is lost: pmipRegistrationDenied and pmipBindingLost
    (reason denied(1), state denied(11)). The retry, also 78, loses nothing."""
    world = make_world()
    register(world)
    proxy = world.proxy
    drain(proxy)
    world.link.silent.add(HOME_AGENT)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.expires_at is not None
    world.link.advance(visitor.expires_at)
    denials = [e for e in drain(proxy) if isinstance(e, ClientRegistrationDenied)]
    assert denials == [ClientRegistrationDenied(MAC, CLIENT, ReplyCode.FA_REGISTRATION_TIMEOUT, True)]
    assert visitor.state is VisitorState.DENIED

    name, content = notification_for("proxy", denials[0])  # type: ignore[misc]
    assert content["binding-lost"] is True
    yang_valid(name, content)
    sent = notifications(name, content, sources_for(proxy))
    assert [oid for oid, _ in sent] == [PMIP_REGISTRATION_DENIED, PMIP_BINDING_LOST]
    assert sent[0][1][-1] == (VISITOR + (11,) + MAC_INDEX, v.integer(78))
    assert sent[1][1] == [
        (VISITOR + (3,) + MAC_INDEX, v.ip_address(CLIENT.packed)),
        (VISITOR + (4,) + MAC_INDEX, v.ip_address(HOME_AGENT.packed)),
        (VISITOR + (6,) + MAC_INDEX, v.ip_address(FOREIGN_AGENT.packed)),  # the FA's care-of address
        (VISITOR + (7,) + MAC_INDEX, v.integer(11)),  # denied(11)
        (NOTIFY + (4, 0), v.integer(1)),  # pmipNotifyBindingLostReason denied(1)
    ]

    # The retry after the backoff is denied again: no binding was held any more.
    world.link.advance(NOW + 10_000)
    again = [e for e in drain(proxy) if isinstance(e, ClientRegistrationDenied)]
    assert again and all(not e.binding_lost for e in again)
    name, content = notification_for("proxy", again[0])  # type: ignore[misc]
    assert "binding-lost" not in content
    assert [oid for oid, _ in notifications(name, content, sources_for(proxy))] == [PMIP_REGISTRATION_DENIED]


def test_an_unanswered_renewal_loses_the_binding_with_reason_no_reply() -> None:
    """Nothing answers the renewal (the foreign agent is gone): after every
    retransmission (RFC 5944 §3.6.3) the registration fails; the client held
    a binding, so pmipBindingLost, noReply(2), state failed(12). A first
    registration that fails so sends nothing: no binding was lost."""
    world = make_world()
    register(world)
    proxy = world.proxy
    drain(proxy)
    world.link.silent.add(FOREIGN_AGENT)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.expires_at is not None
    world.link.advance(visitor.expires_at + 60)
    failures = [e for e in drain(proxy) if isinstance(e, ClientRegistrationFailed)]
    assert failures == [ClientRegistrationFailed(MAC, CLIENT, "no reply", True)]
    name, content = notification_for("proxy", failures[0])  # type: ignore[misc]
    yang_valid(name, content)
    (oid, objects), = notifications(name, content, sources_for(proxy))
    assert oid == PMIP_BINDING_LOST
    assert objects[-2:] == [(VISITOR + (7,) + MAC_INDEX, v.integer(12)), (NOTIFY + (4, 0), v.integer(2))]

    world.link.advance(NOW + 100_000)  # the retries fail too, holding nothing
    later = [e for e in drain(proxy) if isinstance(e, ClientRegistrationFailed)]
    assert later and all(not e.binding_lost for e in later)
    name, content = notification_for("proxy", later[0])  # type: ignore[misc]
    assert notifications(name, content, sources_for(proxy)) == []


def test_a_forged_reply_to_the_proxy_names_its_client() -> None:
    """The proxy's key differs from the home agent's: the 131 the home agent
    signs with its own key fails at the proxy (RFC 5944 §3.6.2.1). The event
    names the client, so both mipAuthFailure (RFC 2006) and
    pmipAuthenticationFailure, instanced by the MAC, are sent."""
    from agent.mobileip.security import SecurityAssociation
    from tests.unit.test_proxy import CLIENT_SA

    wrong = SecurityAssociation(spi=0x1001, key=bytes(16))
    world = make_world(proxy_sa=wrong, home_agent_sa=CLIENT_SA)
    world.proxy.client_associated(MAC, NOW, address=CLIENT)
    world.link.run(NOW)
    failed = [e for e in drain(world.proxy) if isinstance(e, ev.AuthenticationFailed)]
    assert failed == [ev.AuthenticationFailed(FOREIGN_AGENT, 0x1001, ev.ViolationReason.BAD_AUTHENTICATOR,
                                              MAC, CLIENT)]
    name, content = notification_for("proxy", failed[0])  # type: ignore[misc]
    assert content == {"peer-address": str(FOREIGN_AGENT), "reason": "bad-authenticator", "spi": 0x1001,
                       "mac": MAC, "home-address": str(CLIENT)}
    yang_valid(name, content)
    sent = notifications(name, content, sources_for(world.proxy))
    assert [oid for oid, _ in sent] == [(1, 3, 6, 1, 2, 1, 44, 2, 0, 1), PMIP_AUTHENTICATION_FAILURE]
    assert sent[1][1] == [
        (VISITOR + (3,) + MAC_INDEX, v.ip_address(CLIENT.packed)),
        (NOTIFY + (1, 0), v.ip_address(FOREIGN_AGENT.packed)),
        (NOTIFY + (2, 0), v.gauge32(0x1001)),
        (NOTIFY + (3, 0), v.integer(2)),  # badAuthenticator(2)
    ]
    # The other roles' failures name no client: mipAuthFailure only.
    other = notification_for("home-agent", ev.AuthenticationFailed(CLIENT, 256, ev.ViolationReason.BAD_SPI))
    assert other is not None and "mac" not in other[1]
    assert len(notifications(*other, sources_for(None))) == 1


# -- sending: unreachable and silent receivers ----------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def agent_with(receivers: tuple[SnmpReceiver, ...]) -> SnmpAgent:
    settings = SnmpSettings(
        address="127.0.0.1", port=0, communities=(SnmpCommunity("ro", "public"),),
        users=(SnmpUser("ops", "sha", "authpass123", "aes-128", "privpass123"),), receivers=receivers)
    log = ViolationLog()
    sources = Sources(lambda: None, lambda: None, lambda: None, lambda: log, dict, started_at=NOW)
    return SnmpAgent(settings, lambda stats: build_tree(sources, stats=stats), clock=lambda: NOW + 5,
                     sources=sources)


AUTH_FAILURE = ("authentication-failure", {"peer-address": "192.0.2.10", "reason": "bad-authenticator",
                                           "spi": 256})


def test_a_trap_the_kernel_refuses_is_counted_and_the_others_still_go() -> None:
    """A trap to the limited broadcast address without SO_BROADCAST is refused
    by the kernel (EACCES): counted as send-error; the trap to the reachable
    receiver is still sent once (RFC 3416 §4.2.6: no acknowledgement)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        port = receiver.getsockname()[1]
        agent = agent_with((SnmpReceiver("refused", "255.255.255.255", free_port(), community="public"),
                            SnmpReceiver("ok", "127.0.0.1", port, community="public")))

        async def run() -> None:
            await agent.start()
            try:
                agent.notify(*AUTH_FAILURE, when=NOW)
            finally:
                agent.close()

        asyncio.run(run())
        data = receiver.recv(65535)
    assert data[0] == 0x30 and b"public" in data  # an SNMP message, v2c community
    assert agent.notifications_sent == 1
    assert agent.notifications_dropped == 1 and agent.notification_failures == {"send-error": 1}


def test_an_unacknowledged_inform_is_retried_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """An inform to a receiver that never answers: notify() returns at once,
    the inform goes out 1 + INFORM_RETRIES times (RFC 3416 §4.2.7, the
    retries pysnmp's target is given), then is counted inform-timeout. Beyond
    INFORM_LIMIT outstanding, further informs are dropped as overflow."""
    monkeypatch.setattr(snmp_server, "INFORM_TIMEOUT", 0.3)
    monkeypatch.setattr(snmp_server, "INFORM_LIMIT", 3)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    silent.setblocking(False)
    agent = agent_with((SnmpReceiver("silent", "127.0.0.1", silent.getsockname()[1], user="ops"),))
    received: list[bytes] = []

    async def run() -> None:
        await agent.start()
        try:
            for _ in range(5):
                agent.notify(*AUTH_FAILURE, when=NOW)
            assert len(agent._informs) == 3 and agent.notification_failures == {"overflow": 2}
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while agent._informs and loop.time() < deadline:
                try:
                    received.append(silent.recv(65535))
                except BlockingIOError:
                    await asyncio.sleep(0.02)
            while True:
                try:
                    received.append(silent.recv(65535))
                except BlockingIOError:
                    break
        finally:
            agent.close()
            silent.close()

    asyncio.run(run())
    # pysnmp first discovers the receiver's engine ID (RFC 3414 §4): a receiver
    # that never answers gets that probe 1 + INFORM_RETRIES times per inform.
    assert len(received) == 3 * (1 + snmp_server.INFORM_RETRIES)
    assert agent.notifications_sent == 0
    assert agent.notification_failures == {"overflow": 2, "inform-timeout": 3}
    assert agent.notifications_dropped == 5


def test_a_denial_after_the_proxy_gave_the_binding_up_loses_nothing() -> None:
    """The subnet map moves the client to another home agent: the proxy
    deregisters from the first (RFC 5944 §3.6.1.2, its own choice) and
    registers with the second, which never answers, so the foreign agent
    denies 78. No binding was held when that came: binding-lost is false."""
    from agent.mobileip.subnet_map import SubnetMap
    from tests.unit.test_proxy import HOME_NETWORK

    world = make_world()
    register(world)
    proxy = world.proxy
    drain(proxy)
    other = IPv4Address("10.1.1.99")  # no home agent there
    world.link.silent.add(other)
    proxy.subnet_map = SubnetMap({HOME_NETWORK: other})
    proxy.reevaluate(NOW + 5)
    world.link.run(NOW + 5)
    world.link.advance(NOW + 60)
    denials = [e for e in drain(proxy) if isinstance(e, (ClientRegistrationDenied, ClientRegistrationFailed))]
    assert denials and all(not e.binding_lost for e in denials), denials
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.home_agent == other
