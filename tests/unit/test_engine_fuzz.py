"""Bad input never breaks an agent (issue: protocol, item 9): random mutations of
valid registration traffic are fed to a home agent and a foreign agent; each
datagram is answered or dropped and counted, nothing raises, and a valid
registration afterwards is still accepted (RFC 5944 §3.7.2.1, §3.8.2.1)."""

from __future__ import annotations

import random
from ipaddress import IPv4Address

from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.mobileip import replay
from agent.mobileip.builder import build_request
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.numbers import MessageType, ReplyCode
from agent.mobileip.registration import RegistrationReply, decode_reply
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable, authenticate

NOW = 1_800_000_000.0
HA, FA, MN = IPv4Address("198.51.100.1"), IPv4Address("203.0.113.1"), IPv4Address("203.0.113.50")
HOME = IPv4Address("192.0.2.10")
SA = SecurityAssociation(256, bytes(range(16)))
PEER = SecurityAssociation(300, bytes(range(16, 32)))


def _agents() -> tuple[HomeAgent, ForeignAgent]:
    hosts = SecurityAssociationTable()
    hosts.add_range(IPv4Address("192.0.2.1"), IPv4Address("192.0.2.254"), SA)
    ha_peers, fa_peers = SecurityAssociationTable(), SecurityAssociationTable()
    ha_peers.add(FA, PEER)
    fa_peers.add(HA, PEER)
    ha = HomeAgent(HomeAgentSettings(HA), mobile_nodes=hosts, peers=ha_peers, rng=random.Random(1))
    fa = ForeignAgent(
        ForeignAgentSettings(FA, advertisement_interval=0), home_agents=fa_peers, rng=random.Random(2)
    )
    return ha, fa


def _request(ident: int) -> bytes:
    return build_request(home_address=HOME, home_agent=HA, care_of_address=FA,
                         identification=ident, lifetime=300, sa=SA, nai="mn@example.net")


def _reply(ident: int) -> bytes:
    data = RegistrationReply(0, 300, HOME, HA, ident).encode_header()
    return authenticate(authenticate(data, 32, SA), 34, PEER)


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        if op == 0 and buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            del buf[rng.randrange(len(buf)):]
        elif op == 2:
            pos = rng.randrange(len(buf) + 1)
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
@example(seed=751)  # a request whose type byte becomes 3: an unmatched reply
def test_mutated_traffic_is_answered_or_counted_and_service_continues(seed: int) -> None:
    rng = random.Random(seed)
    ha, fa = _agents()
    ident = replay.ntp_identification(NOW, 1)
    for _ in range(20):
        target = rng.randrange(4)
        if target in (0, 3):
            data = (
                _mutate(_request(ident), rng)
                if target == 0
                else bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
            )
            before = (ha.counters.reg_replies_sent, ha.counters.datagrams_discarded)
            ha.receive_datagram(data, FA, 434, NOW)
            sent = ha.datagrams_to_send()
            after = (ha.counters.reg_replies_sent, ha.counters.datagrams_discarded)
            # Exactly one outcome per datagram: one reply, or one counted drop.
            assert (after[0] - before[0], after[1] - before[1]) in ((1, 0), (0, 1))
            assert len(sent) == after[0] - before[0]
        else:
            # A mutation may change the type byte: the FA then handles the
            # datagram as what it now claims to be (a request from a mobile node
            # turned into type 3 is a reply that matches nothing), so the
            # outcome expected follows the byte the FA dispatches on.
            data, source, port = (
                (_mutate(_request(ident), rng), MN, 5000)
                if target == 1
                else (_mutate(_reply(ident), rng), HA, 434)
            )
            expected_before, all_before = _fa_outcomes(fa, data[:1]), _fa_outcomes(fa, None)
            fa.receive_datagram(data, source, port, NOW)
            sent = fa.datagrams_to_send()
            # Exactly one outcome of the kind the type byte names, none of another.
            assert _fa_outcomes(fa, data[:1]) == expected_before + 1
            assert _fa_outcomes(fa, None) == all_before + 1
            assert len(sent) <= 1
        ha.handle_timer(NOW + 1)
        fa.handle_timer(NOW + 1)
    # A valid registration still goes through both agents.
    fresh = replay.ntp_identification(NOW + 2, 99)
    fa.receive_datagram(_request(fresh), MN, 5000, NOW + 2)
    relayed = [t for t in fa.datagrams_to_send() if t.destination == HA]
    assert relayed
    ha.receive_datagram(relayed[-1].data, FA, 434, NOW + 2)
    reply = ha.datagrams_to_send()[-1]
    fa.receive_datagram(reply.data, HA, 434, NOW + 2)
    to_node = fa.datagrams_to_send()[-1]
    assert decode_reply(to_node.data).code == ReplyCode.ACCEPTED


def _fa_outcomes(fa: ForeignAgent, kind: bytes | None) -> int:
    """The FA counters that one datagram whose first byte is ``kind`` must move,
    added up; ``None`` adds up every outcome. The FA dispatches on the type
    byte: Registration Requests (RFC 5944 §3.3, type 1) are relayed, denied or
    discarded (§3.7.2), Registration Replies (§3.4, type 3) are relayed, denied,
    discarded or, matching no pending request, dropped as unmatched (§3.7.3.1);
    anything else is discarded."""
    c = fa.counters
    requests = c.reg_requests_relayed
    replies = c.reg_replies_relayed + c.unmatched_replies
    both = c.datagrams_discarded + _fa_denials(fa)
    if kind is None:
        return requests + replies + both
    if kind == bytes([MessageType.REGISTRATION_REQUEST]):
        return requests + both
    if kind == bytes([MessageType.REGISTRATION_REPLY]):
        return replies + both
    return c.datagrams_discarded


def _fa_denials(fa: ForeignAgent) -> int:
    c = fa.counters
    return (
        c.reason_unspecified + c.admin_prohibited + c.insufficient_resource
        + c.mn_authentication_failure + c.reg_lifetime_too_long + c.poorly_formed_requests
        + c.encapsulation_unavailable + c.ha_authentication_failure + c.poorly_formed_replies
        + c.reverse_tunnel_unavailable + c.reverse_tunnel_mandatory + c.invalid_care_of_address
        + c.registration_timeouts
    )
