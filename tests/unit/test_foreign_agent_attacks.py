"""Attacks on the foreign agent's visitor list (issue 13, item 5), sans-IO on
virtual time.

The audit's offline attack: a victim registered via 127.0.0.2 was re-pointed
at 10.66.66.66 by a forged accept from 203.0.113.5 (after the attacker's own
request for the victim's home address, naming 10.66.66.66), then deleted by a
forged deregistration accept. RFC 5944 §3.7.3.1: a reply is matched to a
pending request by home address and the low-order 32 bits of Identification;
it comes from the home agent the request was relayed to (§3.7.2.2: relayed to
the Home Agent field, port 434; §3.8.3.1: the home agent answers from the
address it was sent to, from port 434). With an FA-HA security association
the Foreign-Home Authentication Extension is required (§3.5.4, §3.7.3.1).
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address

import pytest

from agent.mobileip.builder import build_request
from agent.mobileip.events import (
    DatagramDropped,
    Event,
    RegistrationDenied,
    VisitorAdded,
    VisitorRemoved,
)
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings, Visitor
from agent.mobileip.numbers import MOBILE_IP_PORT, ExtensionType
from agent.mobileip.outputs import Transmit
from agent.mobileip.registration import RegistrationReply, decode_reply
from agent.mobileip.security import (
    SecurityAssociation,
    SecurityAssociationTable,
    authenticate,
)

MHAE = ExtensionType.MOBILE_HOME_AUTHENTICATION
FHAE = ExtensionType.FOREIGN_HOME_AUTHENTICATION

NOW = 1_800_000_000.0
NTP_EPOCH_OFFSET = 2_208_988_800

FOREIGN_AGENT = IPv4Address("127.0.0.1")
VICTIM_SOURCE = IPv4Address("127.0.0.2")  # the proxy AP the victim registered through
VICTIM_HOME = IPv4Address("10.1.1.50")
HOME_AGENT = IPv4Address("10.1.1.1")
ATTACKER = IPv4Address("203.0.113.5")
ATTACKER_HOME_AGENT = IPv4Address("10.66.66.66")
NODE_PORT = 49152
ATTACKER_PORT = 40000

NODE_KEY = SecurityAssociation(spi=1000, key=bytes.fromhex("8f3a5c7e91b2d4f60718293a4b5c6d7e"))
ATTACKER_KEY = SecurityAssociation(spi=1000, key=b"attacker's key!!")
FOREIGN_HOME_SA = SecurityAssociation(spi=2000, key=bytes.fromhex("5e4d3c2b1a0918273645546372819aab"))


def ntp(posix_seconds: float, low: int) -> int:
    return ((int(posix_seconds) + NTP_EPOCH_OFFSET) << 32) | low


def make_foreign_agent(
    home_agents: SecurityAssociationTable | None = None, **settings: object
) -> ForeignAgent:
    return ForeignAgent(
        ForeignAgentSettings(FOREIGN_AGENT, advertisement_interval=0.0, **settings),  # type: ignore[arg-type]
        home_agents=home_agents,
        rng=random.Random(13),
        now=NOW,
    )


def request(identification: int, *, home_agent: IPv4Address, lifetime: int = 300,
            sa: SecurityAssociation = NODE_KEY) -> bytes:
    return build_request(home_address=VICTIM_HOME, home_agent=home_agent,
                         care_of_address=FOREIGN_AGENT, identification=identification,
                         lifetime=lifetime, sa=sa)


def reply(code: int, lifetime: int, identification: int, *, home_agent: IPv4Address,
          sa: SecurityAssociation = NODE_KEY,
          foreign_home_sa: SecurityAssociation | None = None) -> bytes:
    data = authenticate(
        RegistrationReply(code, lifetime, VICTIM_HOME, home_agent, identification).encode_header(),
        MHAE, sa)
    if foreign_home_sa is not None:
        data = authenticate(data, FHAE, foreign_home_sa)
    return data


def send(fa: ForeignAgent, data: bytes, source: IPv4Address, port: int,
         now: float = NOW) -> list[Transmit]:
    fa.receive_datagram(data, source, port, now)
    return fa.datagrams_to_send()


def drain(fa: ForeignAgent) -> list[Event]:
    events = []
    while (event := fa.next_event()) is not None:
        events.append(event)
    return events


def register_victim(fa: ForeignAgent, *, foreign_home_sa: SecurityAssociation | None = None) -> Visitor:
    identification = ntp(NOW, 0x1111)
    [relayed] = send(fa, request(identification, home_agent=HOME_AGENT), VICTIM_SOURCE, NODE_PORT)
    assert (relayed.destination, relayed.port) == (HOME_AGENT, MOBILE_IP_PORT)
    [to_node] = send(fa, reply(0, 300, identification, home_agent=HOME_AGENT,
                               foreign_home_sa=foreign_home_sa), HOME_AGENT, MOBILE_IP_PORT)
    assert decode_reply(to_node.data).code == 0
    visitor = fa.visitor(VICTIM_HOME)
    assert visitor is not None
    assert (visitor.home_agent, visitor.source_address) == (HOME_AGENT, VICTIM_SOURCE)
    drain(fa)
    return Visitor(**{name: getattr(visitor, name) for name in Visitor.__slots__})  # a copy


def assert_untouched(fa: ForeignAgent, before: Visitor) -> None:
    after = fa.visitor(VICTIM_HOME)
    assert after == before
    assert not [e for e in drain(fa) if isinstance(e, (VisitorAdded, VisitorRemoved))]


def test_the_audits_offline_attack_changes_nothing_and_is_counted() -> None:
    """The audit's attack, step by step. The attacker's request for the
    victim's address names 10.66.66.66 while the victim is a visitor through
    10.1.1.1: denied 65, not relayed. The forged accept from 203.0.113.5 then
    matches no pending request (§3.7.3.1): discarded, counted, visitor
    untouched. The same for the forged deregistration."""
    fa = make_foreign_agent()
    before = register_victim(fa)

    hijack = ntp(NOW + 1, 0xBAD)
    [denial] = send(fa, request(hijack, home_agent=ATTACKER_HOME_AGENT, sa=ATTACKER_KEY),
                    ATTACKER, ATTACKER_PORT, NOW + 1)
    assert decode_reply(denial.data).code == 65
    assert send(fa, reply(0, 300, hijack, home_agent=ATTACKER_HOME_AGENT, sa=ATTACKER_KEY),
                ATTACKER, MOBILE_IP_PORT, NOW + 1.1) == []
    assert fa.counters.unmatched_replies == 1
    assert fa.counters.reg_replies_relayed == 1  # the victim's own, nothing since
    assert_untouched(fa, before)

    deregister = ntp(NOW + 2, 0xDEAD)
    send(fa, request(deregister, home_agent=ATTACKER_HOME_AGENT, lifetime=0, sa=ATTACKER_KEY),
         ATTACKER, ATTACKER_PORT, NOW + 2)
    assert send(fa, reply(0, 0, deregister, home_agent=ATTACKER_HOME_AGENT, sa=ATTACKER_KEY),
                ATTACKER, MOBILE_IP_PORT, NOW + 2.1) == []
    assert fa.counters.unmatched_replies == 2
    assert fa.counters.visitor_conflicts == 2
    assert_untouched(fa, before)


def test_the_offline_attack_with_requests_pending_before_the_victim_registered() -> None:
    """The same attack with the attacker's requests relayed to 10.66.66.66
    before the victim registered (so nothing conflicted then): the forged
    accept and deregistration accept come from 203.0.113.5, not from the home
    agent the requests were relayed to, and match nothing (§3.7.3.1)."""
    fa = make_foreign_agent()
    hijack, deregister = ntp(NOW, 0xBAD), ntp(NOW, 0xDEAD)
    for identification, lifetime in ((hijack, 300), (deregister, 0)):
        [relayed] = send(fa, request(identification, home_agent=ATTACKER_HOME_AGENT,
                                     lifetime=lifetime, sa=ATTACKER_KEY), ATTACKER, ATTACKER_PORT)
        assert relayed.destination == ATTACKER_HOME_AGENT
    before = register_victim(fa)
    assert send(fa, reply(0, 300, hijack, home_agent=ATTACKER_HOME_AGENT, sa=ATTACKER_KEY),
                ATTACKER, MOBILE_IP_PORT, NOW + 1) == []
    assert send(fa, reply(0, 0, deregister, home_agent=ATTACKER_HOME_AGENT, sa=ATTACKER_KEY),
                ATTACKER, MOBILE_IP_PORT, NOW + 2) == []
    assert fa.counters.unmatched_replies == 2
    assert fa.counters.reg_replies_relayed == 1
    assert_untouched(fa, before)
    # Still pending: they end with their home agent's reply or time out (§3.7.1).
    assert len(fa.pending()) == 2


@pytest.mark.parametrize(
    ("source", "port"),
    [
        pytest.param(ATTACKER, MOBILE_IP_PORT, id="other-address"),
        pytest.param(HOME_AGENT, 5555, id="other-port"),
    ],
)
def test_a_reply_from_anywhere_but_the_home_agent_it_was_relayed_to_is_unmatched(
    source: IPv4Address, port: int
) -> None:
    """§3.7.3.1 with §3.7.2.2/§3.8.3.1: the reply to a relayed request comes
    from the Home Agent address and port 434 it was relayed to; from elsewhere
    it matches nothing, even with the right home address and Identification,
    and the pending request stays for the genuine reply."""
    fa = make_foreign_agent()
    identification = ntp(NOW, 0x2222)
    send(fa, request(identification, home_agent=HOME_AGENT), VICTIM_SOURCE, NODE_PORT)
    assert send(fa, reply(0, 300, identification, home_agent=HOME_AGENT), source, port) == []
    assert fa.counters.unmatched_replies == 1
    assert fa.visitor(VICTIM_HOME) is None
    [dropped] = drain(fa)
    assert isinstance(dropped, DatagramDropped) and dropped.source == source
    # The genuine reply is still accepted.
    [to_node] = send(fa, reply(0, 300, identification, home_agent=HOME_AGENT),
                     HOME_AGENT, MOBILE_IP_PORT)
    assert decode_reply(to_node.data).code == 0
    assert fa.visitor(VICTIM_HOME) is not None


def test_a_poorly_formed_reply_from_elsewhere_does_not_end_the_pending_request() -> None:
    """§3.7.3.1: only the home agent's own reply, even a malformed one (71),
    may end a pending request; a truncated datagram from another source is
    discarded and the pending request stays."""
    fa = make_foreign_agent()
    identification = ntp(NOW, 0x3333)
    send(fa, request(identification, home_agent=HOME_AGENT), VICTIM_SOURCE, NODE_PORT)
    truncated = reply(0, 300, identification, home_agent=HOME_AGENT)[:-5]
    assert send(fa, truncated, ATTACKER, MOBILE_IP_PORT) == []
    assert fa.counters.poorly_formed_replies == 0
    assert len(fa.pending()) == 1
    [to_node] = send(fa, truncated, HOME_AGENT, MOBILE_IP_PORT)
    assert decode_reply(to_node.data).code == 71


def test_an_unauthenticated_reply_may_not_re_point_a_visitor_to_another_home_agent() -> None:
    """The attacker names its own address as the home agent, so that its reply
    comes from the address the request was relayed to. The victim is a visitor
    through 10.1.1.1; a request for its address naming another home agent,
    which the foreign agent cannot authenticate (no FA-HA SA), is denied 65
    (administratively prohibited) and not relayed: the visitor list follows
    only the home agent the visitor registered with, until it expires."""
    fa = make_foreign_agent()
    before = register_victim(fa)
    hijack = ntp(NOW + 1, 0xBAD)
    [denial] = send(fa, request(hijack, home_agent=ATTACKER, sa=ATTACKER_KEY),
                    ATTACKER, ATTACKER_PORT, NOW + 1)
    assert (denial.destination, denial.port) == (ATTACKER, ATTACKER_PORT)
    assert decode_reply(denial.data).code == 65
    assert fa.counters.visitor_conflicts == 1
    assert fa.counters.admin_prohibited == 1
    assert fa.pending() == []
    assert_untouched(fa, before)
    # Deregistration naming the attacker: the same.
    [denial] = send(fa, request(ntp(NOW + 2, 0xDEAD), home_agent=ATTACKER, lifetime=0,
                                sa=ATTACKER_KEY), ATTACKER, ATTACKER_PORT, NOW + 2)
    assert decode_reply(denial.data).code == 65
    assert fa.counters.visitor_conflicts == 2
    assert_untouched(fa, before)


def test_a_reply_for_a_request_made_before_the_victim_registered_changes_nothing() -> None:
    """The attacker's request comes first (no visitor yet, so it is relayed);
    the victim registers with its home agent; the attacker's home agent then
    accepts. That accept may not re-point the visitor: dropped, 65 to the
    requester, counted."""
    fa = make_foreign_agent()
    hijack = ntp(NOW, 0xBAD)
    [relayed] = send(fa, request(hijack, home_agent=ATTACKER, sa=ATTACKER_KEY),
                     ATTACKER, ATTACKER_PORT)
    assert relayed.destination == ATTACKER
    before = register_victim(fa)
    [denial] = send(fa, reply(0, 300, hijack, home_agent=ATTACKER, sa=ATTACKER_KEY),
                    ATTACKER, MOBILE_IP_PORT, NOW + 0.5)
    assert (denial.destination, denial.port) == (ATTACKER, ATTACKER_PORT)
    assert decode_reply(denial.data).code == 65
    assert fa.counters.visitor_conflicts == 1
    assert fa.pending() == []
    assert_untouched(fa, before)


def test_with_an_fa_ha_sa_the_new_home_agent_may_take_the_visitor() -> None:
    """With an SA for the new home agent its reply is authenticated (FHAE,
    §3.7.3.1): a node that changes home agent at the same foreign agent is
    followed at once."""
    table = SecurityAssociationTable()
    table.add(ATTACKER_HOME_AGENT, FOREIGN_HOME_SA)
    fa = make_foreign_agent(home_agents=table)
    register_victim(fa)
    identification = ntp(NOW + 1, 0x4444)
    [relayed] = send(fa, request(identification, home_agent=ATTACKER_HOME_AGENT),
                     VICTIM_SOURCE, NODE_PORT, NOW + 1)
    assert relayed.destination == ATTACKER_HOME_AGENT
    [to_node] = send(fa, reply(0, 300, identification, home_agent=ATTACKER_HOME_AGENT,
                               foreign_home_sa=FOREIGN_HOME_SA),
                     ATTACKER_HOME_AGENT, MOBILE_IP_PORT, NOW + 1.1)
    assert decode_reply(to_node.data).code == 0
    visitor = fa.visitor(VICTIM_HOME)
    assert visitor is not None and visitor.home_agent == ATTACKER_HOME_AGENT
    assert fa.counters.visitor_conflicts == 0


def test_required_fa_ha_authentication_relays_only_to_home_agents_with_an_sa() -> None:
    """require-home-agent-authentication: the foreign agent relays only to home
    agents it shares an SA with (then every reply needs a valid FHAE,
    §3.7.3.1); a request naming any other is denied 65 and not relayed."""
    table = SecurityAssociationTable()
    table.add(HOME_AGENT, FOREIGN_HOME_SA)
    fa = make_foreign_agent(home_agents=table, require_home_agent_authentication=True)
    [denial] = send(fa, request(ntp(NOW, 1), home_agent=ATTACKER_HOME_AGENT, sa=ATTACKER_KEY),
                    ATTACKER, ATTACKER_PORT)
    assert decode_reply(denial.data).code == 65
    assert fa.counters.admin_prohibited == 1
    assert fa.pending() == []
    drain(fa)
    register_victim(fa, foreign_home_sa=FOREIGN_HOME_SA)
    # A reply from the victim's own home agent without the FHAE: 68.
    identification = ntp(NOW + 1, 0x5555)
    send(fa, request(identification, home_agent=HOME_AGENT), VICTIM_SOURCE, NODE_PORT, NOW + 1)
    [to_node] = send(fa, reply(0, 300, identification, home_agent=HOME_AGENT),
                     HOME_AGENT, MOBILE_IP_PORT, NOW + 1.1)
    assert decode_reply(to_node.data).code == 68
    assert isinstance(drain(fa)[-1], RegistrationDenied)


def test_a_pending_deregistration_lets_the_request_through_but_not_the_accept() -> None:
    """A node leaving its home agent deregisters there and registers with the
    new one at once (the proxy's re-evaluation does): with that deregistration
    pending, the request naming the new home agent is relayed. An attacker can
    send such a deregistration too (its home agent will deny it 131), so the
    accept from the new, unauthenticated home agent is still refused while
    the old registration stands: 65, counted, visitor untouched."""
    fa = make_foreign_agent()
    before = register_victim(fa)
    leave, hijack = ntp(NOW + 1, 0x1EAF), ntp(NOW + 1, 0xBAD)
    [relayed] = send(fa, request(leave, home_agent=HOME_AGENT, lifetime=0, sa=ATTACKER_KEY),
                     ATTACKER, ATTACKER_PORT, NOW + 1)
    assert relayed.destination == HOME_AGENT
    [relayed] = send(fa, request(hijack, home_agent=ATTACKER, sa=ATTACKER_KEY),
                     ATTACKER, ATTACKER_PORT, NOW + 1)
    assert relayed.destination == ATTACKER
    [denial] = send(fa, reply(0, 300, hijack, home_agent=ATTACKER, sa=ATTACKER_KEY),
                    ATTACKER, MOBILE_IP_PORT, NOW + 1.1)
    assert decode_reply(denial.data).code == 65
    assert fa.counters.visitor_conflicts == 1
    assert_untouched(fa, before)
    # The real home agent denies the forged deregistration: relayed, visitor kept.
    [relayed_denial] = send(fa, reply(131, 0, leave, home_agent=HOME_AGENT),
                            HOME_AGENT, MOBILE_IP_PORT, NOW + 1.2)
    assert decode_reply(relayed_denial.data).code == 131
    assert_untouched(fa, before)
