"""What an unauthenticated flood can make the RADIUS resolver hold (issue 13,
follow-up). A Registration Request's home address is read before anything
authenticates it (the SA that would is what RADIUS is asked for), so a flood
naming random addresses must neither grow the caches without bound nor hold
one lookup per datagram. Sans-IO, on virtual time."""

from __future__ import annotations

import json
import random
from ipaddress import IPv4Address
from typing import Any

import libyang
import pytest

from agent.config.loader import load_config_text
from agent.schema.context import TOP_MEMBER, yang_dir
from agent.mobileip import replay
from agent.mobileip.builder import build_request
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.numbers import ReplyCode
from agent.mobileip.proxy import VisitorState
from agent.mobileip.registration import decode_reply
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable
from agent.radius.resolver import (
    PENDING,
    Accept,
    Cached,
    FailureReason,
    Reject,
    Rejected,
    ResolverSettings,
    SecurityAssociationResolver,
)
from tests.unit.test_radius_resolver import MAC, OTHER_MAC, World
from tests.unit.test_radius_resolver import A as FIRST
from tests.unit.test_radius_resolver import B as SECOND
from tests.unit.test_radius_resolver import SA as FIRST_SA

NOW = 1_800_000_000.0
SA = SecurityAssociation(spi=0x1234, key=bytes.fromhex("00112233445566778899aabbccddeeff"))
HOME_AGENT = IPv4Address("10.1.1.1")
CARE_OF = IPv4Address("192.0.2.10")


def address(n: int) -> IPv4Address:
    return IPv4Address("10.200.0.0") + n


def ask_all(resolver: SecurityAssociationResolver) -> list[IPv4Address]:
    asked = []
    while (next_address := resolver.next_request()) is not None:
        asked.append(next_address)
    return asked


def test_lookups_under_way_are_bounded_and_the_rest_refused_uncached() -> None:
    resolver = SecurityAssociationResolver(ResolverSettings(max_outstanding=2, max_pending=3))
    assert [resolver.lookup(address(n), NOW) for n in range(3)] == [PENDING] * 3
    refused = resolver.lookup(address(3), NOW)
    assert isinstance(refused, Rejected) and refused.reason is FailureReason.OVERLOADED
    assert refused.until > NOW  # when to ask again
    assert resolver.counters.overflow == 1
    assert resolver.pending == 3 and resolver.cached == 0  # a refusal is not remembered
    # An address already under way still coalesces.
    assert resolver.lookup(address(0), NOW) is PENDING
    asked = ask_all(resolver)
    assert asked == [address(0), address(1)]
    resolver.answer(address(0), Reject(), NOW + 1)
    # A slot freed: the refused address is asked now.
    assert resolver.lookup(address(3), NOW + 1) is PENDING
    assert resolver.counters.overflow == 1


def test_a_flood_of_unknown_addresses_holds_at_most_the_bounds() -> None:
    settings = ResolverSettings(max_outstanding=16, max_pending=64, negative_cache_size=100)
    resolver = SecurityAssociationResolver(settings)
    now = NOW
    for n in range(5000):
        resolver.lookup(address(n), now)
        for asked in ask_all(resolver):
            resolver.answer(asked, Reject(), now)
        now += 0.001  # 5 s: well within the 60 s negative lifetime
        assert resolver.pending <= 64 and resolver.cached <= 100
    assert resolver.cached == 100
    assert resolver.counters.evicted == resolver.counters.rejects - 100
    # The newest refusals are those kept.
    assert isinstance(resolver.lookup(address(4999), now), Rejected)


def test_refusals_never_evict_sas() -> None:
    resolver = SecurityAssociationResolver(ResolverSettings(cache_size=2, negative_cache_size=2))
    for n in range(3):  # three nodes with SAs: the oldest is evicted
        resolver.lookup(address(n), NOW)
        ask_all(resolver)
        resolver.answer(address(n), Accept((SA,)), NOW + n)
    assert resolver.counters.evicted == 1
    assert resolver.lookup(address(0), NOW + 3) is PENDING  # evicted: asked again
    assert isinstance(resolver.lookup(address(2), NOW + 3), Cached)
    for n in range(100, 200):  # a flood of refusals
        resolver.lookup(address(n), NOW + 4)
        for asked in ask_all(resolver):
            resolver.answer(asked, Reject(), NOW + 4)
    assert resolver.peek(address(1), NOW + 5) == (SA,)
    assert resolver.peek(address(2), NOW + 5) == (SA,)
    assert resolver.cached <= 4


def test_a_size_of_zero_turns_a_cache_off() -> None:
    resolver = SecurityAssociationResolver(ResolverSettings(negative_cache_size=0))
    resolver.lookup(address(0), NOW)
    ask_all(resolver)
    resolver.answer(address(0), Reject(), NOW)
    assert resolver.cached == 0 and resolver.lookup(address(0), NOW + 1) is PENDING


def test_home_agent_answers_130_when_too_many_lookups_are_under_way() -> None:
    """RFC 5944 §3.8.2.1: the HA out of room answers 130 (insufficient
    resources), not 131: nothing says the node failed authentication."""
    resolver = SecurityAssociationResolver(ResolverSettings(max_outstanding=4, max_pending=8))
    agent = HomeAgent(HomeAgentSettings(address=HOME_AGENT),
                      mobile_nodes=SecurityAssociationTable(), rng=random.Random(7),
                      sa_resolver=resolver, sa_wait=5.0)
    codes = []
    for n in range(50):
        data = build_request(home_address=address(n), home_agent=HOME_AGENT,
                             care_of_address=CARE_OF, lifetime=600, sa=SA,
                             identification=replay.ntp_identification(NOW, n))
        agent.receive_datagram(data, CARE_OF, 49152, NOW)
        codes += [decode_reply(t.data).code for t in agent.datagrams_to_send()]
    assert codes == [ReplyCode.HA_INSUFFICIENT_RESOURCES] * 42
    assert len(agent.sa_requests_to_send()) == 4  # Access-Requests: the in-flight bound
    assert resolver.pending == 8 and agent.waiting_for_sas == 8
    assert resolver.counters.overflow == 42 and agent.radius_wait_counters.overflow == 42
    assert agent.counters.mn_authentication_failure == 0 and not agent.violations.rows()


def test_the_yang_defaults_are_the_resolvers() -> None:
    context = libyang.Context(str(yang_dir()))
    try:
        context.load_module("proxy-mobile-ip")
        leaves: dict[str, Any] = {name: next(context.find_path(f"/{TOP_MEMBER}/radius/{name}"))
                                  for name in ("cache-size", "negative-cache-size",
                                               "max-pending-lookups")}
        defaults = {name: int(leaf.default()) for name, leaf in leaves.items()}
    finally:
        context.destroy()  # type: ignore[no-untyped-call]
    settings = ResolverSettings()
    assert defaults == {"cache-size": settings.cache_size,
                        "negative-cache-size": settings.negative_cache_size,
                        "max-pending-lookups": settings.max_pending}


def test_the_proxy_asks_again_for_a_client_refused_for_lack_of_room() -> None:
    """The proxy has no registration to answer for a client it cannot yet
    proxy (RFC 5944 §3.7.2's 65 is a foreign agent's reply to a mobile node;
    here the station sent none): the client is not proxied, says why, and
    its lookup is asked again when room is back."""
    resolver = SecurityAssociationResolver(ResolverSettings(max_pending=1))
    world = World(resolver)
    world.proxy.client_associated(MAC, NOW, address=FIRST)
    world.proxy.client_associated(OTHER_MAC, NOW, address=SECOND)
    refused = world.proxy.visitor(OTHER_MAC)
    assert refused is not None and refused.state is VisitorState.NO_SECURITY_ASSOCIATION
    assert refused.reason == "RADIUS: too many RADIUS lookups pending"
    assert resolver.counters.overflow == 1
    assert world.proxy.sa_requests_to_send() == [FIRST]
    world.proxy.sa_answer(FIRST, Accept((FIRST_SA,)), NOW + 0.1)
    retry = world.proxy.get_timer()
    assert retry is not None and retry <= NOW + resolver.settings.retry_initial
    world.proxy.handle_timer(NOW + resolver.settings.retry_initial)
    assert world.proxy.sa_requests_to_send() == [SECOND]
    asked = world.proxy.visitor(OTHER_MAC)
    assert asked is not None and asked.state is VisitorState.SA_PENDING


def test_the_yang_leaves_reach_the_settings() -> None:
    config = load_config_text(json.dumps({TOP_MEMBER: {"radius": {
        "server": [{"address": "127.0.0.9", "shared-secret": "s"}], "user-password": "p",
        "max-pending-lookups": 5, "cache-size": 7, "negative-cache-size": 0,
        "dead-criteria-tries": 3, "dead-criteria-time": 20}}}), "json")
    assert config.radius is not None
    resolver, client = config.radius.resolver, config.radius.client
    assert (resolver.max_pending, resolver.cache_size, resolver.negative_cache_size) == (5, 7, 0)
    assert (client.dead_criteria_tries, client.dead_criteria_time) == (3, 20.0)
