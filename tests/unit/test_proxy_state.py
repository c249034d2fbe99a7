"""The proxy's published state (agent/operational.py ``proxy_state``): denials by
reply code and by agent (RFC 5944 §3.4 ranges), late replies, and the visitor
``reason`` leaf for clients that are not registered — checked as YANG instance
data by libyang, as a NETCONF <get> would serve it."""

from __future__ import annotations

import json
import random
from ipaddress import IPv4Address, IPv4Network

import libyang

from agent.schema.context import TOP_MEMBER, yang_dir
from agent.mobileip.numbers import MOBILE_IP_PORT, ExtensionType, ReplyCode
from agent.mobileip.proxy import ProxyAgent, ProxySettings, StaticForeignAgent, VisitorState
from agent.mobileip.registration import RegistrationReply, decode_request
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable, authenticate
from agent.mobileip.subnet_map import SubnetMap
from agent.operational import proxy_state

NOW = 1_800_000_000.0
HOME_AGENT, FOREIGN_AGENT = IPv4Address("198.51.100.1"), IPv4Address("203.0.113.1")
SA = SecurityAssociation(256, bytes(range(16)))
MAC = "02:00:00:00:00:01"
CLIENT = IPv4Address("192.0.2.10")


def _proxy() -> ProxyAgent:
    hosts = SecurityAssociationTable()
    hosts.add_range(IPv4Address("192.0.2.1"), IPv4Address("192.0.2.100"), SA)
    return ProxyAgent(
        ProxySettings(foreign_agent=StaticForeignAgent(FOREIGN_AGENT), solicit=False, max_attempts=2),
        subnet_map=SubnetMap({IPv4Network("192.0.2.0/24"): HOME_AGENT}),
        host_associations=hosts,
        rng=random.Random(3),
    )


def _answer(proxy: ProxyAgent, code: int, *, lifetime: int | None = None, signed: bool = True) -> None:
    """Answer the proxy's one outstanding request with ``code`` (a home agent's
    reply carries an MHAE, RFC 5944 §3.5.2; a foreign agent's denial none)."""
    [transmit] = proxy.datagrams_to_send()
    request = decode_request(transmit.data)
    data = RegistrationReply(
        code, request.lifetime if lifetime is None else lifetime, request.home_address,
        request.home_agent, request.identification,
    ).encode_header()
    if signed:
        data = authenticate(data, ExtensionType.MOBILE_HOME_AUTHENTICATION, SA)
    proxy.receive_datagram(data, FOREIGN_AGENT, MOBILE_IP_PORT, NOW)


def _validate(state: dict[str, object]) -> None:
    context = libyang.Context(str(yang_dir()))
    try:
        context.load_module("proxy-mobile-ip")
        tree = context.parse_data_mem(
            json.dumps({TOP_MEMBER: {"proxy-state": state}}), "json", strict=True, validate_present=True
        )
        assert tree is not None
        tree.free()
    finally:
        context.destroy()


def test_denials_are_published_by_code_and_by_agent() -> None:
    proxy = _proxy()
    proxy.client_associated(MAC, NOW, address=CLIENT)
    # 69 with a smaller Lifetime: retried at once (RFC 5944 §3.6.2.2) but a denial.
    _answer(proxy, ReplyCode.FA_REQUESTED_LIFETIME_TOO_LONG, lifetime=300, signed=False)
    _answer(proxy, ReplyCode.FA_INSUFFICIENT_RESOURCES, signed=False)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.DENIED
    for code in (ReplyCode.HA_ADMINISTRATIVELY_PROHIBITED, ReplyCode.HA_ADMINISTRATIVELY_PROHIBITED, 40):
        timer = proxy.get_timer()
        assert timer is not None
        proxy.handle_timer(timer)
        _answer(proxy, code)
    c = proxy.counters
    assert proxy.reply_counters.denials == {40: 1, 66: 1, 69: 1, 129: 2}
    # RFC 5944 §3.4: 64-127 foreign agent, 128-255 home agent; 40 is neither's.
    assert (c.denied_by_foreign_agent, c.denied_by_home_agent) == (2, 2)

    state = proxy_state(proxy, NOW)
    _validate(state)
    assert state["reply-statistics"]["denial"] == [
        {"code": 40, "denied-by": "unassigned", "count": 1},
        {"code": 66, "denied-by": "foreign-agent", "count": 1},
        {"code": 69, "denied-by": "foreign-agent", "count": 1},
        {"code": 129, "denied-by": "home-agent", "count": 2},
    ]
    assert state["counters"]["denied-by-foreign-agent"] == 2
    [row] = state["visitor"]
    assert row["reason"] == "denied by an unassigned reply code: code 40"
    assert row["last-reply-code"] == 40

    proxy.clear_counters()
    assert proxy_state(proxy, NOW)["reply-statistics"] == {
        "late-replies": 0, "reverse-tunnel-retries": 0, "denial": []
    }


def test_reason_is_published_for_clients_without_sa_and_failed_ones() -> None:
    """The YANG ``reason`` leaf says why a client is not registered: the missing
    SA (RFC 5944 §3.5.2: no MHAE without one), the failure after every
    retransmission, the missing subnet-map entry."""
    proxy = _proxy()
    proxy.client_associated("02:00:00:00:00:02", NOW, address=IPv4Address("192.0.2.200"))
    proxy.client_associated("02:00:00:00:00:03", NOW, address=IPv4Address("203.0.113.50"))
    proxy.client_associated(MAC, NOW, address=CLIENT)
    proxy.datagrams_to_send()
    for _ in range(2):  # max_attempts 2: 1 s, then failure
        timer = proxy.get_timer()
        assert timer is not None
        proxy.handle_timer(timer)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.FAILED
    state = proxy_state(proxy, NOW + 3)
    _validate(state)
    reasons = {row["mac"]: (row["state"], row.get("reason")) for row in state["visitor"]}
    assert reasons == {
        MAC: (
            "failed",
            f"no reply: 2 requests through foreign agent {FOREIGN_AGENT} unanswered;"
            " tried again after 60 s",
        ),
        "02:00:00:00:00:02": (
            "no-security-association", "no host security association covers 192.0.2.200"
        ),
        "02:00:00:00:00:03": ("no-home-agent", "no subnet-map entry holds 203.0.113.50"),
    }
