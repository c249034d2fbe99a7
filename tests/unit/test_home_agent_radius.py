"""The home agent fetching a mobile node's SAs from RADIUS (Cisco ``aaa
authorization ipmobile``), sans-IO on virtual time: a request from a node with no
local SA waits for the resolver, bounded, then is processed with the SAs found,
or denied 131 (RFC 5944 §3.8.2.1: no mobility security association, so the
node fails authentication) or 130 (no server answered in time: insufficient
resources, the node did not fail). The resolver's outcomes are fed in as the
RADIUS adapter feeds them; the real FreeRADIUS exchange is in
``tests/interop/test_home_agent_radius_freeradius.py``."""

from __future__ import annotations

import json
import random
from ipaddress import IPv4Address

import pytest

from agent.config.loader import load_config_text
from agent.schema.context import TOP_MEMBER
from agent.schema.errors import ConfigError

from agent.mobileip import replay
from agent.mobileip.builder import build_request, check_reply
from agent.mobileip.events import ViolationReason
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.numbers import ReplyCode
from agent.mobileip.registration import decode_reply
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable
from agent.radius.resolver import (
    Accept,
    Malformed,
    Reject,
    ResolverSettings,
    SecurityAssociationResolver,
    Timeout,
)

NOW = 1_800_000_000.0
HOME_AGENT = IPv4Address("10.1.1.1")
LOCAL_NODE = IPv4Address("10.1.1.50")
RADIUS_NODE = IPv4Address("10.1.1.60")
CARE_OF = IPv4Address("192.0.2.10")
PORT = 49152
LOCAL_SA = SecurityAssociation(spi=1000, key=bytes.fromhex("8f3a5c7e91b2d4f60718293a4b5c6d7e"))
RADIUS_SA = SecurityAssociation(spi=0x1234, key=bytes.fromhex("00112233445566778899aabbccddeeff"))
SA_WAIT = 5.0


def make(*, max_waiting: int = 100, negative_cache: float = 60.0) -> HomeAgent:
    table = SecurityAssociationTable()
    table.add(LOCAL_NODE, LOCAL_SA)
    resolver = SecurityAssociationResolver(ResolverSettings(negative_cache_lifetime=negative_cache))
    return HomeAgent(HomeAgentSettings(address=HOME_AGENT), mobile_nodes=table,
                     rng=random.Random(7), sa_resolver=resolver, sa_wait=SA_WAIT,
                     max_waiting=max_waiting)


def request(home: IPv4Address, now: float, *, sa: SecurityAssociation = RADIUS_SA,
            lifetime: int = 600) -> tuple[bytes, int]:
    identification = replay.ntp_identification(now, 7)
    data = build_request(home_address=home, home_agent=HOME_AGENT, care_of_address=CARE_OF,
                         identification=identification, lifetime=lifetime, sa=sa)
    return data, identification


def replies(agent: HomeAgent) -> list:  # type: ignore[type-arg]
    return [decode_reply(t.data) for t in agent.datagrams_to_send()]


def test_a_node_known_only_to_radius_waits_then_registers() -> None:
    agent = make()
    data, identification = request(RADIUS_NODE, NOW)
    agent.receive_datagram(data, CARE_OF, PORT, NOW)
    assert replies(agent) == []  # held while RADIUS is asked
    assert agent.waiting_for_sas == 1
    assert agent.sa_requests_to_send() == [RADIUS_NODE]
    assert agent.get_timer() == NOW + SA_WAIT
    assert agent.sa_answer(RADIUS_NODE, Accept((RADIUS_SA,)), NOW + 0.2)
    [reply] = replies(agent)
    assert reply.code == ReplyCode.ACCEPTED
    # The reply is authenticated with the SA RADIUS gave (RFC 5944 §3.5.2).
    assert check_reply(reply, sent_identification=identification, sa=RADIUS_SA).ok
    assert [b.home_address for b in agent.bindings()] == [RADIUS_NODE]
    assert agent.waiting_for_sas == 0
    # Re-registration: from the cache, answered at once, no new Access-Request.
    data, _ = request(RADIUS_NODE, NOW + 300)
    agent.receive_datagram(data, CARE_OF, PORT, NOW + 300)
    assert [r.code for r in replies(agent)] == [ReplyCode.ACCEPTED]
    assert agent.sa_requests_to_send() == []
    counters = agent.sa_resolver.counters  # type: ignore[union-attr]
    assert (counters.requests, counters.accepts, counters.cache_hits) == (1, 1, 1)
    assert agent.radius_wait_counters.as_dict() == {
        "waited": 1, "superseded": 0, "resolved": 1, "refused": 0, "timed_out": 0, "overflow": 0}


def test_local_sas_never_ask_radius() -> None:
    agent = make()
    data, _ = request(LOCAL_NODE, NOW, sa=LOCAL_SA)
    agent.receive_datagram(data, CARE_OF, PORT, NOW)
    assert [r.code for r in replies(agent)] == [ReplyCode.ACCEPTED]
    assert agent.sa_requests_to_send() == []


@pytest.mark.parametrize("outcome", [Reject("unknown user"), Malformed("spi below 256")])
def test_reject_or_unusable_reply_is_131_and_a_violation(outcome: Reject | Malformed) -> None:
    agent = make()
    data, identification = request(RADIUS_NODE, NOW)
    agent.receive_datagram(data, CARE_OF, PORT, NOW)
    agent.sa_requests_to_send()
    agent.sa_answer(RADIUS_NODE, outcome, NOW + 0.1)
    [reply] = replies(agent)
    assert reply.code == ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION  # RFC 5944 §3.8.2.1
    assert replay.low32(reply.identification) == replay.low32(identification)
    assert agent.counters.mn_authentication_failure == 1
    [violation] = agent.violations.rows()
    assert violation.reason is ViolationReason.NO_MOBILITY_SECURITY_ASSOCIATION
    assert violation.recent_spi == RADIUS_SA.spi
    # The negative cache answers the next request at once, without RADIUS.
    data, _ = request(RADIUS_NODE, NOW + 1)
    agent.receive_datagram(data, CARE_OF, PORT, NOW + 1)
    assert [r.code for r in replies(agent)] == [ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION]
    assert agent.sa_requests_to_send() == []
    assert agent.radius_wait_counters.refused == 2


def test_no_answer_within_the_bound_is_130() -> None:
    agent = make()
    data, _ = request(RADIUS_NODE, NOW)
    agent.receive_datagram(data, CARE_OF, PORT, NOW)
    assert agent.sa_requests_to_send() == [RADIUS_NODE]
    deadline = agent.get_timer()
    assert deadline == NOW + SA_WAIT
    agent.handle_timer(deadline - 0.001)
    assert replies(agent) == []
    agent.handle_timer(deadline)
    [reply] = replies(agent)
    assert reply.code == ReplyCode.HA_INSUFFICIENT_RESOURCES
    assert agent.counters.insufficient_resource == 1
    assert agent.counters.mn_authentication_failure == 0
    assert agent.violations.rows() == []  # the node did nothing wrong
    # The answer that comes late is cached for the node's next request.
    agent.sa_answer(RADIUS_NODE, Accept((RADIUS_SA,)), NOW + 6)
    assert replies(agent) == []
    data, _ = request(RADIUS_NODE, NOW + 7)
    agent.receive_datagram(data, CARE_OF, PORT, NOW + 7)
    assert [r.code for r in replies(agent)] == [ReplyCode.ACCEPTED]


def test_every_server_timing_out_is_130_and_the_resolver_backs_off() -> None:
    agent = make()
    data, _ = request(RADIUS_NODE, NOW)
    agent.receive_datagram(data, CARE_OF, PORT, NOW)
    agent.sa_requests_to_send()
    agent.sa_answer(RADIUS_NODE, Timeout(), NOW + 3)
    assert [r.code for r in replies(agent)] == [ReplyCode.HA_INSUFFICIENT_RESOURCES]
    assert agent.radius_wait_counters.timed_out == 1
    # A retransmission during the backoff is coalesced into the coming retry.
    data, _ = request(RADIUS_NODE, NOW + 4)
    agent.receive_datagram(data, CARE_OF, PORT, NOW + 4)
    assert agent.sa_requests_to_send() == []
    retry = agent.sa_resolver.get_timer()  # type: ignore[union-attr]
    assert retry == NOW + 3 + 5.0
    assert agent.get_timer() == NOW + 4 + SA_WAIT - 1  # the earlier of the two (NOW + 8)
    agent.handle_timer(NOW + 8)
    assert agent.sa_requests_to_send() == [RADIUS_NODE]
    agent.sa_answer(RADIUS_NODE, Accept((RADIUS_SA,)), NOW + 8.5)
    assert [r.code for r in replies(agent)] == [ReplyCode.ACCEPTED]


def test_a_retransmission_replaces_the_waiting_request() -> None:
    """RFC 5944 §3.6.3: a retransmitted request has a new Identification; only
    the newest is answered."""
    agent = make()
    first, _ = request(RADIUS_NODE, NOW)
    agent.receive_datagram(first, CARE_OF, PORT, NOW)
    second, identification = request(RADIUS_NODE, NOW + 1)
    agent.receive_datagram(second, CARE_OF, PORT, NOW + 1)
    assert agent.sa_requests_to_send() == [RADIUS_NODE]  # one Access-Request
    assert agent.sa_resolver.counters.coalesced == 1  # type: ignore[union-attr]
    agent.sa_answer(RADIUS_NODE, Accept((RADIUS_SA,)), NOW + 1.5)
    [reply] = replies(agent)
    assert reply.code == ReplyCode.ACCEPTED
    assert replay.low32(reply.identification) == replay.low32(identification)
    assert agent.radius_wait_counters.superseded == 1


def test_waiting_requests_are_bounded() -> None:
    agent = make(max_waiting=2)
    nodes = [IPv4Address(f"10.1.2.{i}") for i in range(1, 4)]
    for node in nodes:
        data, _ = request(node, NOW)
        agent.receive_datagram(data, CARE_OF, PORT, NOW)
    [reply] = replies(agent)
    assert (reply.home_address, reply.code) == (nodes[2], ReplyCode.HA_INSUFFICIENT_RESOURCES)
    assert agent.waiting_for_sas == 2
    assert agent.sa_requests_to_send() == nodes[:2]  # the third lookup was dropped
    assert agent.radius_wait_counters.overflow == 1


def test_radius_sas_with_the_wrong_spi_fail_authentication() -> None:
    agent = make()
    other = SecurityAssociation(spi=0x999, key=RADIUS_SA.key)
    data, _ = request(RADIUS_NODE, NOW, sa=other)
    agent.receive_datagram(data, CARE_OF, PORT, NOW)
    agent.sa_requests_to_send()
    agent.sa_answer(RADIUS_NODE, Accept((RADIUS_SA,)), NOW + 0.1)
    [reply] = replies(agent)
    assert reply.code == ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION
    assert agent.violations.rows()[0].reason is ViolationReason.BAD_SPI


def test_the_replay_check_uses_the_time_the_answer_came() -> None:
    """A request that waited longer than its replay window is refused 133
    (RFC 5944 §5.7): waiting must not let a stale timestamp through."""
    agent = make()
    agent.sa_wait = 60.0
    data, _ = request(RADIUS_NODE, NOW)
    agent.receive_datagram(data, CARE_OF, PORT, NOW)
    agent.sa_requests_to_send()
    agent.sa_answer(RADIUS_NODE, Accept((RADIUS_SA,)), NOW + RADIUS_SA.replay_window + 30)
    [reply] = replies(agent)
    assert reply.code == ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH


def _radius_config(**extra: object) -> str:
    return json.dumps({TOP_MEMBER: {
        "home-agent": {"address": str(HOME_AGENT)},
        "radius": {"server": [{"address": "127.0.0.1", "shared-secret": "s"}],
                   "user-password": "p", **extra},
    }})


def test_the_wait_bound_is_configured_in_the_yang() -> None:
    """radius/registration-wait, 1..60 s, default 5."""
    assert load_config_text(_radius_config(), "json").radius.registration_wait == 5.0  # type: ignore[union-attr]
    config = load_config_text(_radius_config(**{"registration-wait": 12}), "json")
    assert config.radius.registration_wait == 12.0  # type: ignore[union-attr]
    for bad in (0, 61):
        with pytest.raises(ConfigError) as caught:
            load_config_text(_radius_config(**{"registration-wait": bad}), "json")
        assert caught.value.path.endswith("/radius/registration-wait")
