"""Attacks on the home agent (issue 13, item 7 and the surviving mutant),
sans-IO on virtual time.

Item 7: the home agent signed its denials of requests that failed
authentication (131) or could not be parsed (134) with the node's key, over
an Identification the sender chose: anyone could have the home agent compute
MHAE authenticators under any node's key over data of their choosing, and
collect signed denials to replay to the node later. RFC 5944 §3.5.2 and
§3.8.3.1 put the MHAE on replies the home agent answers as the node's peer;
when the request did not authenticate, the home agent cannot know that the
node sent it, so its denial carries no authenticator computed with the
node's key (nor with an FA-HA key, unless the relaying foreign agent proved
itself with a valid FHAE). A genuine node discards an unauthenticated reply
(§3.6.2.1) as it would the absent answer; the denial is still counted and
logged.

The mutant: a deregistration with an unknown SPI, falling back to the node's
SA, removed the binding; every test passed because the unknown-SPI case only
sent registrations.
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address

import pytest

from agent.mobileip.builder import build_request
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.numbers import ExtensionType, ReplyCode
from agent.mobileip.registration import RegistrationReply, RegistrationRequest, decode_reply
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable, authenticate

MHAE = ExtensionType.MOBILE_HOME_AUTHENTICATION
FHAE = ExtensionType.FOREIGN_HOME_AUTHENTICATION

NOW = 1_800_000_000.0
NTP_EPOCH_OFFSET = 2_208_988_800
HOME_AGENT = IPv4Address("10.1.1.1")
HOME_ADDRESS = IPv4Address("10.1.1.50")
CARE_OF_ADDRESS = IPv4Address("192.0.2.10")
ATTACKER = IPv4Address("203.0.113.5")
FOREIGN_AGENT = IPv4Address("198.51.100.1")
PORT = 49152

NODE_SA = SecurityAssociation(spi=1000, key=bytes.fromhex("8f3a5c7e91b2d4f60718293a4b5c6d7e"))
FOREIGN_AGENT_SA = SecurityAssociation(spi=2000, key=bytes.fromhex("5e4d3c2b1a0918273645546372819aab"))
#: The attacker knows the node's SPI but not its key.
GUESSED = SecurityAssociation(spi=1000, key=b"attacker's guess")
UNKNOWN_SPI = SecurityAssociation(spi=1999, key=NODE_SA.key)


def ntp(seconds: float, low: int) -> int:
    return ((int(seconds) + NTP_EPOCH_OFFSET) << 32) | low


def make_home_agent(peers: SecurityAssociationTable | None = None) -> HomeAgent:
    nodes = SecurityAssociationTable()
    nodes.add(HOME_ADDRESS, NODE_SA)
    return HomeAgent(HomeAgentSettings(HOME_AGENT), mobile_nodes=nodes, peers=peers,
                     rng=random.Random(5944))


def request(identification: int, *, lifetime: int = 1800,
            sa: SecurityAssociation = NODE_SA) -> bytes:
    return build_request(home_address=HOME_ADDRESS, home_agent=HOME_AGENT,
                         care_of_address=CARE_OF_ADDRESS, identification=identification,
                         lifetime=lifetime, sa=sa)


def send(home_agent: HomeAgent, data: bytes, source: IPv4Address = ATTACKER,
         now: float = NOW) -> RegistrationReply:
    home_agent.receive_datagram(data, source, PORT, now)
    [out] = home_agent.datagrams_to_send()
    assert (out.destination, out.port) == (source, PORT)
    return decode_reply(out.data)


def no_mhae(identification: int) -> bytes:
    return RegistrationRequest(0, 1800, HOME_ADDRESS, HOME_AGENT, CARE_OF_ADDRESS,  # type: ignore[arg-type]
                               identification).encode_header()


def truncated(identification: int) -> bytes:
    return request(identification)[:-3]


@pytest.mark.parametrize(
    ("build", "code"),
    [
        pytest.param(lambda i: request(i, sa=GUESSED), 131, id="131-bad-authenticator"),
        pytest.param(lambda i: request(i, sa=UNKNOWN_SPI), 131, id="131-unknown-spi"),
        pytest.param(no_mhae, 131, id="131-no-mhae"),
        pytest.param(truncated, 134, id="134-poorly-formed"),
    ],
)
def test_denial_of_an_unauthenticated_request_is_not_signed_with_the_nodes_key(
    build: object, code: int
) -> None:
    """The oracle: the sender picks the Identification; the denial echoes it
    (the node matches replies on it, §3.6.2.1) but carries no MHAE, so no
    authenticator under the node's key is computed over it."""
    home_agent = make_home_agent()
    chosen = 0x0123_4567_89AB_CDEF
    reply = send(home_agent, build(chosen))  # type: ignore[operator]
    assert (reply.code, reply.identification, reply.home_address) == (code, chosen, HOME_ADDRESS)
    assert reply.extensions == ()
    # Still counted (haMNAuthenticationFailure / haPoorlyFormedRequest).
    counters = home_agent.counters
    assert counters.mn_authentication_failure + counters.poorly_formed_request == 1
    assert counters.reg_replies_sent == 1


def test_authenticated_denials_are_still_signed() -> None:
    """A request that did authenticate gets a signed denial (here 133, whose
    Identification is the home agent's, §5.7.1): the node can trust it."""
    home_agent = make_home_agent()
    reply = send(home_agent, request(ntp(NOW - 3600, 1)), CARE_OF_ADDRESS)
    assert reply.code == ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH
    [mhae] = reply.extensions
    assert mhae.type == MHAE and mhae.spi == NODE_SA.spi


def test_131_through_an_authenticated_foreign_agent_keeps_the_fhae_only() -> None:
    """Relayed by a foreign agent that proved itself (valid FHAE, §3.8.2.1), a
    131 carries the FHAE (so the foreign agent relays it instead of turning it
    into 68) but no MHAE; from a sender claiming the foreign agent's address
    without a valid FHAE, no authenticator at all."""
    peers = SecurityAssociationTable()
    peers.add(FOREIGN_AGENT, FOREIGN_AGENT_SA)
    home_agent = make_home_agent(peers)
    relayed = authenticate(request(ntp(NOW, 7), sa=GUESSED), FHAE, FOREIGN_AGENT_SA)
    reply = send(home_agent, relayed, FOREIGN_AGENT)
    assert reply.code == 131
    assert [e.type for e in reply.extensions] == [FHAE]
    forged = authenticate(request(ntp(NOW, 8), sa=GUESSED), FHAE,
                          SecurityAssociation(spi=2000, key=b"not the fa's key"))
    reply = send(home_agent, forged, FOREIGN_AGENT)
    assert reply.code == 131
    assert reply.extensions == ()


@pytest.mark.parametrize("spi", [1999, 256])
def test_deregistration_with_an_unknown_spi_is_131_and_keeps_the_binding(spi: int) -> None:
    """RFC 5944 §3.8.2.1: the SPI selects the SA; with no SA of that SPI for
    the node the request fails authentication, deregistration (Lifetime 0)
    included: 131, binding kept. (The surviving mutant fell back to the
    node's preferred SA for an unknown SPI, so a deregistration under any SPI
    removed the binding.)"""
    home_agent = make_home_agent()
    accepted = send(home_agent, request(ntp(NOW, 1)), CARE_OF_ADDRESS)
    assert accepted.code == 0
    reply = send(home_agent, request(ntp(NOW + 1, 2), lifetime=0,
                                     sa=SecurityAssociation(spi=spi, key=NODE_SA.key)),
                 CARE_OF_ADDRESS, NOW + 1)
    assert reply.code == 131
    assert [b.care_of_address for b in home_agent.bindings()] == [CARE_OF_ADDRESS]
    assert home_agent.counters.mn_authentication_failure == 1
