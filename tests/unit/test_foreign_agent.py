"""The foreign agent engine (RFC 5944 §3.7, §2.3), driven sans-IO with virtual time.

The mobile node's side is played with ``builder.build_request``; the home
agent's replies are built here as a home agent builds them (fixed part, MHAE,
then FHAE, RFC 5944 §3.8.3.1). Counters are MIP-MIB's faRegistrationGroup and
maAdvertisementGroup (RFC 2006).
"""

from __future__ import annotations

import math
import random
from ipaddress import IPv4Address
from typing import Any

import pytest

from agent.mobileip.advertisement import (
    ALL_SYSTEMS,
    CODE_MOBILITY_ONLY,
    AgentAdvertisement,
    decode_advertisement,
    encode_solicitation,
)
from agent.mobileip.builder import build_request, check_reply
from agent.mobileip.events import (
    AuthenticationFailed,
    DatagramDropped,
    Event,
    RegistrationDenied,
    RemovalReason,
    ViolationReason,
    VisitorAdded,
    VisitorRemoved,
    VisitorRenewed,
)
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.numbers import (
    MOBILE_IP_PORT,
    AdvertisementFlag,
    ExtensionType,
    RequestFlag,
)
from agent.mobileip.outputs import Channel, Transmit
from agent.mobileip.registration import (
    RegistrationReply,
    RegistrationRequest,
    decode_reply,
    decode_request,
)
from agent.mobileip.security import (
    SecurityAssociation,
    SecurityAssociationTable,
    authenticate,
    check_extension,
)

MHAE = ExtensionType.MOBILE_HOME_AUTHENTICATION
MFAE = ExtensionType.MOBILE_FOREIGN_AUTHENTICATION
FHAE = ExtensionType.FOREIGN_HOME_AUTHENTICATION
NAI = ExtensionType.MOBILE_NODE_NAI

NOW = 1_800_000_000.0
NTP_EPOCH_OFFSET = 2_208_988_800
NO_FLAGS = RequestFlag(0)

FOREIGN_AGENT = IPv4Address("192.0.2.1")
SECOND_CARE_OF_ADDRESS = IPv4Address("192.0.2.2")
HOME_AGENT = IPv4Address("10.1.1.1")
HOME_ADDRESS = IPv4Address("10.1.1.50")
OTHER_HOME_ADDRESS = IPv4Address("10.1.1.51")
NODE_PORT = 49152

MOBILE_HOME_SA = SecurityAssociation(
    spi=1000, key=bytes.fromhex("8f3a5c7e91b2d4f60718293a4b5c6d7e")
)
MOBILE_FOREIGN_SA = SecurityAssociation(
    spi=3000, key=bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
)
FOREIGN_HOME_SA = SecurityAssociation(
    spi=2000, key=bytes.fromhex("5e4d3c2b1a0918273645546372819aab")
)


# -- helpers ---------------------------------------------------------------------------


def ntp(posix_seconds: float, low: int = 0) -> int:
    return ((int(posix_seconds) + NTP_EPOCH_OFFSET) << 32) | low


def sas(address: IPv4Address, sa: SecurityAssociation) -> SecurityAssociationTable:
    table = SecurityAssociationTable()
    table.add(address, sa)
    return table


def make_foreign_agent(
    *,
    mobile_nodes: SecurityAssociationTable | None = None,
    home_agents: SecurityAssociationTable | None = None,
    seed: int = 3344,
    now: float = NOW,
    **settings: object,
) -> ForeignAgent:
    # Registration tests run without periodic advertisements so that
    # get_timer() shows only registration deadlines.
    settings.setdefault("advertisement_interval", 0.0)
    return ForeignAgent(
        ForeignAgentSettings(FOREIGN_AGENT, **settings),  # type: ignore[arg-type]
        mobile_nodes=mobile_nodes,
        home_agents=home_agents,
        rng=random.Random(seed),
        now=now,
    )


def mn_request(
    identification: int,
    *,
    lifetime: int = 300,
    care_of_address: IPv4Address = FOREIGN_AGENT,
    flags: RequestFlag = NO_FLAGS,
    home_address: IPv4Address = HOME_ADDRESS,
    foreign_sa: SecurityAssociation | None = None,
    nai: str | None = None,
) -> bytes:
    return build_request(
        home_address=home_address,
        home_agent=HOME_AGENT,
        care_of_address=care_of_address,
        identification=identification,
        lifetime=lifetime,
        sa=MOBILE_HOME_SA,
        flags=flags,
        nai=nai,
        foreign_sa=foreign_sa,
    )


def ha_reply(
    code: int,
    lifetime: int,
    identification: int,
    *,
    home_address: IPv4Address = HOME_ADDRESS,
    foreign_home_sa: SecurityAssociation | None = None,
) -> bytes:
    """A reply as the home agent builds it: MHAE for the node, then the FHAE
    when it shares an SA with us (RFC 5944 §3.8.3.1, §3.5.1)."""
    data = RegistrationReply(
        code, lifetime, home_address, HOME_AGENT, identification
    ).encode_header()
    data = authenticate(data, MHAE, MOBILE_HOME_SA)
    if foreign_home_sa is not None:
        data = authenticate(data, FHAE, foreign_home_sa)
    return data


def from_node(
    foreign_agent: ForeignAgent,
    data: bytes,
    *,
    now: float = NOW,
    source: IPv4Address = HOME_ADDRESS,
) -> list[Transmit]:
    foreign_agent.receive_datagram(data, source, NODE_PORT, now)
    return foreign_agent.datagrams_to_send()


def from_home_agent(
    foreign_agent: ForeignAgent, data: bytes, *, now: float = NOW
) -> list[Transmit]:
    foreign_agent.receive_datagram(data, HOME_AGENT, MOBILE_IP_PORT, now)
    return foreign_agent.datagrams_to_send()


def relayed_request(out: list[Transmit]) -> bytes:
    """RFC 5944 §3.7.2.2: relayed to the Home Agent field, UDP port 434."""
    assert len(out) == 1, out
    assert (out[0].destination, out[0].port, out[0].channel) == (
        HOME_AGENT,
        MOBILE_IP_PORT,
        Channel.REGISTRATION,
    )
    return out[0].data


def reply_to_node(out: list[Transmit], *, to: IPv4Address = HOME_ADDRESS) -> RegistrationReply:
    """RFC 5944 §3.7.3.2: replies go to the requester's source ip:port."""
    assert len(out) == 1, out
    assert (out[0].destination, out[0].port, out[0].channel) == (
        to,
        NODE_PORT,
        Channel.REGISTRATION,
    )
    return decode_reply(out[0].data)


def drain(foreign_agent: ForeignAgent) -> list[Event]:
    events: list[Event] = []
    while (event := foreign_agent.next_event()) is not None:
        events.append(event)
    return events


def register(
    foreign_agent: ForeignAgent,
    identification: int,
    *,
    lifetime: int = 300,
    granted: int | None = None,
    now: float = NOW,
    home_address: IPv4Address = HOME_ADDRESS,
) -> RegistrationReply:
    relayed_request(
        from_node(
            foreign_agent,
            mn_request(identification, lifetime=lifetime, home_address=home_address),
            now=now,
            source=home_address,
        )
    )
    reply_data = ha_reply(
        0, lifetime if granted is None else granted, identification, home_address=home_address
    )
    return reply_to_node(from_home_agent(foreign_agent, reply_data, now=now), to=home_address)


def end_of(data: bytes, ext_type: int) -> int:
    """Offset just past the first extension of ``ext_type``."""
    message = decode_request(data) if data[0] == 1 else decode_reply(data)
    for ext in message.extensions:
        if ext.type == ext_type:
            return ext.offset + 2 + len(ext.data)
    raise AssertionError(f"no extension {ext_type}")


# -- relaying requests (§3.7.2.2) ---------------------------------------------------------


def test_request_relayed_unchanged_through_mhae_with_mfae_removed() -> None:
    """RFC 5944 §3.7.2.2: the foreign agent MUST NOT modify anything up to and
    including the MHAE, and removes the extensions after it (the MFAE is for
    the foreign agent only); relayed to the Home Agent field on port 434."""
    foreign_agent = make_foreign_agent(mobile_nodes=sas(HOME_ADDRESS, MOBILE_FOREIGN_SA))
    identification = ntp(NOW, 0x42)
    data = mn_request(identification, nai="mn1@example.com", foreign_sa=MOBILE_FOREIGN_SA)
    assert [e.type for e in decode_request(data).extensions] == [NAI, MHAE, MFAE]

    relayed = relayed_request(from_node(foreign_agent, data))

    cut = end_of(data, MHAE)
    assert relayed == data[:cut]
    assert [e.type for e in decode_request(relayed).extensions] == [NAI, MHAE]
    counters = foreign_agent.counters
    assert (counters.reg_requests_received, counters.reg_requests_relayed) == (1, 1)
    [pending] = foreign_agent.pending()
    assert (pending.home_address, pending.home_agent, pending.care_of_address) == (
        HOME_ADDRESS,
        HOME_AGENT,
        FOREIGN_AGENT,
    )
    assert (pending.source_address, pending.source_port) == (HOME_ADDRESS, NODE_PORT)
    assert (pending.identification, pending.lifetime, pending.received_at) == (
        identification,
        300,
        NOW,
    )
    assert foreign_agent.visitors() == []
    assert drain(foreign_agent) == []


def test_fhae_appended_when_we_share_an_sa_with_the_home_agent() -> None:
    """RFC 5944 §3.7.2.2: a foreign agent with an SA for the home agent MUST
    append a Foreign-Home extension, computed over everything before it
    (§3.5.1)."""
    foreign_agent = make_foreign_agent(home_agents=sas(HOME_AGENT, FOREIGN_HOME_SA))
    data = mn_request(ntp(NOW, 1))

    relayed = relayed_request(from_node(foreign_agent, data))

    assert relayed[: len(data)] == data
    request = decode_request(relayed)
    assert [e.type for e in request.extensions] == [MHAE, FHAE]
    fhae = request.extensions[1]
    assert fhae.offset == len(data)
    assert fhae.spi == FOREIGN_HOME_SA.spi
    assert check_extension(relayed, fhae, FOREIGN_HOME_SA)
    assert authenticate(data, FHAE, FOREIGN_HOME_SA) == relayed


def test_request_with_co_located_care_of_address_is_relayed() -> None:
    """RFC 5944 §3.7.2.1: with D set the care-of address is the node's own, so
    the foreign agent does not require it to be one of its own."""
    foreign_agent = make_foreign_agent()
    data = mn_request(
        ntp(NOW, 1),
        care_of_address=IPv4Address("203.0.113.9"),
        flags=RequestFlag.DECAPSULATION_BY_MOBILE_NODE,
    )
    assert relayed_request(from_node(foreign_agent, data)) == data


# -- relaying replies (§3.7.3.2) and the visitor list ---------------------------------------


def test_reply_relayed_to_requester_fhae_removed_mfae_appended() -> None:
    """RFC 5944 §3.7.3.2: the reply goes to the requester's ip:port; the FHAE
    is processed and removed, the MHAE part relayed unchanged, and an MFAE
    appended when we share an SA with the node (§3.7.3.1)."""
    foreign_agent = make_foreign_agent(
        mobile_nodes=sas(HOME_ADDRESS, MOBILE_FOREIGN_SA),
        home_agents=sas(HOME_AGENT, FOREIGN_HOME_SA),
    )
    identification = ntp(NOW, 0x99)
    relayed_request(
        from_node(foreign_agent, mn_request(identification, foreign_sa=MOBILE_FOREIGN_SA))
    )

    data = ha_reply(0, 300, identification, foreign_home_sa=FOREIGN_HOME_SA)
    reply = reply_to_node(from_home_agent(foreign_agent, data, now=NOW + 0.25))

    cut = end_of(data, MHAE)
    assert reply.raw[:cut] == data[:cut]
    assert [e.type for e in reply.extensions] == [MHAE, MFAE]
    mfae = reply.extensions[1]
    assert mfae.spi == MOBILE_FOREIGN_SA.spi
    assert check_extension(reply.raw, mfae, MOBILE_FOREIGN_SA)
    assert check_reply(reply, sent_identification=identification, sa=MOBILE_HOME_SA).ok
    counters = foreign_agent.counters
    assert (counters.reg_replies_received, counters.reg_replies_relayed) == (1, 1)


def test_accepted_reply_adds_a_visitor_that_expires_at_its_deadline() -> None:
    """RFC 5944 §3.7.3.2: on an accepted reply the node enters the visitor list
    for the granted Lifetime, and leaves it when that runs out, not before."""
    foreign_agent = make_foreign_agent()
    identification = ntp(NOW, 5)
    relayed_request(from_node(foreign_agent, mn_request(identification, lifetime=300)))
    accepted_at = NOW + 0.5
    reply = reply_to_node(
        from_home_agent(foreign_agent, ha_reply(0, 200, identification), now=accepted_at)
    )
    assert (reply.code, reply.lifetime) == (0, 200)
    assert [e.type for e in reply.extensions] == [MHAE]  # no SA with the node: no MFAE

    assert drain(foreign_agent) == [VisitorAdded(HOME_ADDRESS, HOME_AGENT, FOREIGN_AGENT, 200)]
    [visitor] = foreign_agent.visitors()
    assert (visitor.home_address, visitor.home_agent, visitor.care_of_address) == (
        HOME_ADDRESS,
        HOME_AGENT,
        FOREIGN_AGENT,
    )
    assert (visitor.source_address, visitor.source_port) == (HOME_ADDRESS, NODE_PORT)
    assert (visitor.identification, visitor.lifetime) == (identification, 200)
    assert (visitor.registered_at, visitor.expires_at) == (accepted_at, accepted_at + 200)
    assert foreign_agent.pending() == []
    deadline = foreign_agent.get_timer()
    assert deadline == accepted_at + 200

    foreign_agent.handle_timer(math.nextafter(deadline, 0.0))
    assert drain(foreign_agent) == []
    assert foreign_agent.visitor(HOME_ADDRESS) is not None

    foreign_agent.handle_timer(deadline)
    assert drain(foreign_agent) == [VisitorRemoved(HOME_ADDRESS, HOME_AGENT, RemovalReason.EXPIRED)]
    assert foreign_agent.visitors() == []
    assert foreign_agent.get_timer() is None
    assert foreign_agent.datagrams_to_send() == []


def test_refresh_keeps_one_visitor_with_the_later_deadline() -> None:
    """RFC 5944 §3.7.3.2: a re-registration updates the visitor entry."""
    foreign_agent = make_foreign_agent()
    register(foreign_agent, ntp(NOW, 1), lifetime=300)
    drain(foreign_agent)
    register(foreign_agent, ntp(NOW + 100, 2), lifetime=300, now=NOW + 100)
    # Same care-of address: no new VisitorAdded (the tunnel stays), a
    # VisitorRenewed (the entry's expiry changed: the state stream's row).
    assert drain(foreign_agent) == [VisitorRenewed(HOME_ADDRESS, FOREIGN_AGENT, 300)]
    [visitor] = foreign_agent.visitors()
    assert visitor.expires_at == NOW + 400
    foreign_agent.handle_timer(NOW + 300)
    assert foreign_agent.visitors() == [visitor]
    assert foreign_agent.get_timer() == NOW + 400


def test_deregistration_reply_removes_the_visitor() -> None:
    """RFC 5944 §3.7.3.2: an accepted reply with Lifetime 0 ends the visit."""
    foreign_agent = make_foreign_agent()
    register(foreign_agent, ntp(NOW, 1))
    drain(foreign_agent)

    identification = ntp(NOW + 10, 2)
    relayed_request(from_node(foreign_agent, mn_request(identification, lifetime=0), now=NOW + 10))
    reply = reply_to_node(
        from_home_agent(foreign_agent, ha_reply(0, 0, identification), now=NOW + 10)
    )
    assert (reply.code, reply.lifetime) == (0, 0)
    assert drain(foreign_agent) == [
        VisitorRemoved(HOME_ADDRESS, HOME_AGENT, RemovalReason.DEREGISTERED)
    ]
    assert foreign_agent.visitors() == []
    assert foreign_agent.get_timer() is None


def test_home_agent_denial_is_relayed_and_adds_no_visitor() -> None:
    """RFC 5944 §3.7.3.2: a denial from the home agent is relayed to the node;
    the node does not become a visitor."""
    foreign_agent = make_foreign_agent()
    identification = ntp(NOW, 1)
    relayed_request(from_node(foreign_agent, mn_request(identification)))
    reply = reply_to_node(from_home_agent(foreign_agent, ha_reply(131, 0, identification)))
    assert reply.code == 131
    assert foreign_agent.visitors() == []
    assert foreign_agent.pending() == []
    assert drain(foreign_agent) == [RegistrationDenied(HOME_ADDRESS, HOME_AGENT, 131, HOME_ADDRESS)]
    assert foreign_agent.counters.reg_replies_relayed == 1


# -- denials by the foreign agent (§3.7.2.1, §3.7.2.3, RFC 3024) ----------------------------


DENIALS = [
    pytest.param({}, {"lifetime": 601}, 69, "reg_lifetime_too_long", 600, id="69-lifetime"),
    pytest.param({}, {"lifetime": 0xFFFF}, 69, "reg_lifetime_too_long", 600, id="69-infinite"),
    pytest.param(
        {}, {"flags": RequestFlag.RESERVED_R}, 70, "poorly_formed_requests", 0, id="70-r-bit"
    ),
    pytest.param(
        {}, {"flags": RequestFlag.RESERVED_X}, 70, "poorly_formed_requests", 0, id="70-x-bit"
    ),
    pytest.param({}, {"flags": RequestFlag.GRE}, 72, "encapsulation_unavailable", 0, id="72-gre"),
    pytest.param(
        {},
        {"flags": RequestFlag.MINIMAL_ENCAPSULATION},
        72,
        "encapsulation_unavailable",
        0,
        id="72-minimal",
    ),
    pytest.param(
        {"reverse_tunnel": False},
        {"flags": RequestFlag.REVERSE_TUNNELING},
        74,
        "reverse_tunnel_unavailable",
        0,
        id="74-T-unavailable",
    ),
    pytest.param(
        {"reverse_tunnel_required": True},
        {},
        75,
        "reverse_tunnel_mandatory",
        0,
        id="75-T-mandatory",
    ),
    pytest.param(
        {},
        {"care_of_address": IPv4Address("203.0.113.9")},
        77,
        "invalid_care_of_address",
        0,
        id="77-coa-not-offered",
    ),
    pytest.param(
        {"care_of_addresses": (SECOND_CARE_OF_ADDRESS,)},
        {"care_of_address": FOREIGN_AGENT},
        77,
        "invalid_care_of_address",
        0,
        id="77-own-address-not-offered",
    ),
]


@pytest.mark.parametrize(("settings", "fields", "code", "counter", "lifetime"), DENIALS)
def test_foreign_agent_denials(
    settings: dict[str, Any], fields: dict[str, Any], code: int, counter: str, lifetime: int
) -> None:
    """RFC 5944 §3.7.2.3: 69 carries our maximum Lifetime; §3.7.2.1: 70 for
    reserved bits, 72 for an encapsulation we lack, 77 for a care-of address we
    do not offer (D clear); RFC 3024 §3.3: 74 and 75. The reply goes straight
    back to the node and nothing is relayed."""
    foreign_agent = make_foreign_agent(**settings)
    identification = ntp(NOW, 0x1234)
    out = from_node(foreign_agent, mn_request(identification, **fields))

    reply = reply_to_node(out)
    assert reply.code == code
    assert reply.lifetime == lifetime
    assert (reply.home_address, reply.home_agent, reply.identification) == (
        HOME_ADDRESS,
        HOME_AGENT,
        identification,
    )
    assert reply.extensions == ()  # no SA with the node
    assert check_reply(reply, sent_identification=identification, sa=MOBILE_HOME_SA).ok
    counters = foreign_agent.counters.as_dict()
    assert counters.pop(counter) == 1
    assert counters.pop("reg_requests_received") == 1
    assert set(counters.values()) == {0}
    assert foreign_agent.pending() == []
    assert foreign_agent.get_timer() is None
    assert drain(foreign_agent) == [
        RegistrationDenied(HOME_ADDRESS, HOME_AGENT, code, HOME_ADDRESS)
    ]


def test_poorly_formed_request_70_for_a_truncated_extension() -> None:
    """RFC 5944 §3.7.2.1: a request the foreign agent cannot parse, but whose
    fixed part it can read, is denied 70."""
    foreign_agent = make_foreign_agent()
    identification = ntp(NOW, 3)
    reply = reply_to_node(from_node(foreign_agent, mn_request(identification)[:-4]))
    assert (reply.code, reply.identification) == (70, identification)
    assert foreign_agent.counters.poorly_formed_requests == 1


def test_unparseable_requests_are_silently_discarded() -> None:
    """RFC 5944 §1.9: an unknown extension 0-127 voids the message; a request
    too short to name a node cannot be answered. Both are dropped, counted."""
    foreign_agent = make_foreign_agent()
    header = RegistrationRequest(
        RequestFlag(0), 300, HOME_ADDRESS, HOME_AGENT, FOREIGN_AGENT, ntp(NOW, 1)
    ).encode_header()
    assert from_node(foreign_agent, authenticate(header + b"\x63\x00", MHAE, MOBILE_HOME_SA)) == []
    assert from_node(foreign_agent, header[:20]) == []
    assert from_node(foreign_agent, b"\x09\x00") == []
    assert from_node(foreign_agent, b"") == []
    assert foreign_agent.counters.datagrams_discarded == 4
    assert foreign_agent.counters.reg_requests_relayed == 0
    assert all(isinstance(e, DatagramDropped) for e in drain(foreign_agent))


def test_lifetime_at_our_maximum_is_relayed() -> None:
    """RFC 5944 §3.7.2.3: only a Lifetime above our maximum is too long."""
    foreign_agent = make_foreign_agent(max_lifetime=600)
    data = mn_request(ntp(NOW, 1), lifetime=600)
    assert relayed_request(from_node(foreign_agent, data)) == data


def test_denial_is_authenticated_for_a_node_we_share_an_sa_with() -> None:
    """RFC 5944 §3.7.2.3 with §3.7.3.1: our own replies carry an MFAE when we
    share an SA with the node."""
    foreign_agent = make_foreign_agent(mobile_nodes=sas(HOME_ADDRESS, MOBILE_FOREIGN_SA))
    identification = ntp(NOW, 1)
    data = mn_request(identification, lifetime=601, foreign_sa=MOBILE_FOREIGN_SA)
    reply = reply_to_node(from_node(foreign_agent, data))
    assert (reply.code, reply.lifetime) == (69, 600)
    [mfae] = reply.extensions
    assert mfae.type == MFAE
    assert check_extension(reply.raw, mfae, MOBILE_FOREIGN_SA)


# -- resources: 66 (§3.7.1) -------------------------------------------------------------


def test_per_node_pending_cap_is_66() -> None:
    """RFC 5944 §3.7.1: pending requests per node are limited ("typically 5");
    one more is denied 66; other nodes are unaffected."""
    foreign_agent = make_foreign_agent()
    for low in range(5):
        relayed_request(from_node(foreign_agent, mn_request(ntp(NOW, low))))
    assert len(foreign_agent.pending()) == 5

    identification = ntp(NOW, 5)
    reply = reply_to_node(from_node(foreign_agent, mn_request(identification)))
    assert (reply.code, reply.identification) == (66, identification)
    assert foreign_agent.counters.insufficient_resource == 1

    other = mn_request(ntp(NOW, 6), home_address=OTHER_HOME_ADDRESS)
    relayed_request(from_node(foreign_agent, other, source=OTHER_HOME_ADDRESS))

    # A reply frees one slot for the first node.
    reply_to_node(from_home_agent(foreign_agent, ha_reply(0, 300, ntp(NOW, 0))))
    relayed_request(from_node(foreign_agent, mn_request(ntp(NOW, 7))))
    assert foreign_agent.counters.reg_requests_relayed == 7


def test_global_pending_cap_makes_room_from_the_heaviest_sender() -> None:
    """RFC 5944 §3.7.1: the foreign agent may limit pending registrations.
    Full, it takes a new sender's request by evicting the oldest of the
    sender holding the most (answered 66), and refuses (66) a sender that
    already holds the most (agent/mobileip/pending_table.py)."""
    foreign_agent = make_foreign_agent(max_pending=3)
    for low in (1, 2):  # HOME_ADDRESS's source holds two
        relayed_request(from_node(foreign_agent, mn_request(ntp(NOW, low))))
    relayed_request(
        from_node(
            foreign_agent,
            mn_request(ntp(NOW, 3), home_address=OTHER_HOME_ADDRESS),
            source=OTHER_HOME_ADDRESS,
        )
    )
    third = IPv4Address("10.1.1.52")
    out = from_node(foreign_agent, mn_request(ntp(NOW, 4), home_address=third), source=third)
    # The heaviest sender's oldest request is dropped with 66; the new one relayed.
    assert [(t.destination, t.port) for t in out] == [(HOME_ADDRESS, NODE_PORT), (HOME_AGENT, MOBILE_IP_PORT)]
    evicted = decode_reply(out[0].data)
    assert (evicted.code, evicted.identification) == (66, ntp(NOW, 1))
    assert foreign_agent.counters.pending_evicted == 1
    assert foreign_agent.counters.insufficient_resource == 1
    assert foreign_agent.pending_count == 3
    assert not foreign_agent.busy  # a full pending table still takes new nodes

    # Now every source holds one: a second request from one of them is refused.
    reply = reply_to_node(
        from_node(foreign_agent, mn_request(ntp(NOW, 5), home_address=third), source=third), to=third
    )
    assert (reply.code, reply.identification) == (66, ntp(NOW, 5))
    assert foreign_agent.counters.pending_table_full == 1
    assert foreign_agent.counters.insufficient_resource == 2
    assert {p.identification for p in foreign_agent.pending()} == {ntp(NOW, 2), ntp(NOW, 3), ntp(NOW, 4)}


def test_visitor_cap_is_66_but_visitors_may_refresh() -> None:
    """RFC 5944 §3.4 code 66: with the visitor list full a new node is denied,
    while a registered visitor can still re-register."""
    foreign_agent = make_foreign_agent(max_visitors=1)
    register(foreign_agent, ntp(NOW, 1))
    assert foreign_agent.busy

    data = mn_request(ntp(NOW, 2), home_address=OTHER_HOME_ADDRESS)
    reply = reply_to_node(
        from_node(foreign_agent, data, source=OTHER_HOME_ADDRESS), to=OTHER_HOME_ADDRESS
    )
    assert reply.code == 66

    relayed_request(from_node(foreign_agent, mn_request(ntp(NOW, 3))))
    assert foreign_agent.counters.insufficient_resource == 1


# -- mobile-foreign authentication: 67 (§3.7.2.1) ----------------------------------------------


@pytest.mark.parametrize(
    ("foreign_sa", "reason", "spi"),
    [
        pytest.param(None, ViolationReason.MISSING_SECURITY_EXTENSION, None, id="missing"),
        pytest.param(
            SecurityAssociation(spi=3000, key=b"not-the-right-k!"),
            ViolationReason.BAD_AUTHENTICATOR,
            3000,
            id="bad-authenticator",
        ),
        pytest.param(
            SecurityAssociation(spi=3001, key=MOBILE_FOREIGN_SA.key),
            ViolationReason.BAD_SPI,
            3001,
            id="unknown-spi",
        ),
    ],
)
def test_mobile_foreign_authentication_failure_67(
    foreign_sa: SecurityAssociation | None, reason: ViolationReason, spi: int | None
) -> None:
    """RFC 5944 §3.7.2.1: with an SA for the node, exactly one valid MFAE must
    follow the MHAE; otherwise deny 67 (faMNAuthenticationFailure) and log."""
    foreign_agent = make_foreign_agent(mobile_nodes=sas(HOME_ADDRESS, MOBILE_FOREIGN_SA))
    identification = ntp(NOW, 0x67)
    reply = reply_to_node(
        from_node(foreign_agent, mn_request(identification, foreign_sa=foreign_sa))
    )

    assert (reply.code, reply.identification, reply.lifetime) == (67, identification, 0)
    [mfae] = reply.extensions
    assert check_extension(reply.raw, mfae, MOBILE_FOREIGN_SA)
    assert foreign_agent.counters.mn_authentication_failure == 1
    assert foreign_agent.counters.reg_requests_relayed == 0
    assert foreign_agent.violations.total == 1
    [row] = foreign_agent.violations.rows()
    assert (row.address, row.reason) == (HOME_ADDRESS, reason)
    assert drain(foreign_agent) == [
        AuthenticationFailed(HOME_ADDRESS, spi, reason),
        RegistrationDenied(HOME_ADDRESS, HOME_AGENT, 67, HOME_ADDRESS),
    ]


# -- home agent authentication: 68 (§3.7.3.1) --------------------------------------------------


@pytest.mark.parametrize(
    ("foreign_home_sa", "reason"),
    [
        pytest.param(None, ViolationReason.MISSING_SECURITY_EXTENSION, id="missing"),
        pytest.param(
            SecurityAssociation(spi=2000, key=b"not-the-right-k!"),
            ViolationReason.BAD_AUTHENTICATOR,
            id="bad-authenticator",
        ),
        pytest.param(
            SecurityAssociation(spi=2001, key=FOREIGN_HOME_SA.key),
            ViolationReason.BAD_SPI,
            id="unknown-spi",
        ),
    ],
)
def test_home_agent_failed_authentication_68(
    foreign_home_sa: SecurityAssociation | None, reason: ViolationReason
) -> None:
    """RFC 5944 §3.7.3.1: with an SA for the home agent, a reply without one
    valid FHAE is not relayed; the node gets 68 instead (faHAAuthenticationFailure)."""
    foreign_agent = make_foreign_agent(home_agents=sas(HOME_AGENT, FOREIGN_HOME_SA))
    identification = ntp(NOW, 0x68)
    relayed_request(from_node(foreign_agent, mn_request(identification)))

    out = from_home_agent(
        foreign_agent, ha_reply(0, 300, identification, foreign_home_sa=foreign_home_sa)
    )
    reply = reply_to_node(out)
    assert (reply.code, reply.identification, reply.home_agent) == (68, identification, HOME_AGENT)
    assert foreign_agent.counters.ha_authentication_failure == 1
    assert foreign_agent.counters.reg_replies_relayed == 0
    assert foreign_agent.visitors() == []
    assert foreign_agent.pending() == []
    [row] = foreign_agent.violations.rows()
    assert (row.address, row.reason) == (HOME_AGENT, reason)
    # The pending request is gone: a later genuine reply matches nothing.
    from_home_agent(
        foreign_agent, ha_reply(0, 300, identification, foreign_home_sa=FOREIGN_HOME_SA)
    )
    assert foreign_agent.counters.unmatched_replies == 1


def test_valid_fhae_on_the_reply_is_accepted() -> None:
    """RFC 5944 §3.7.3.1: a reply with a valid FHAE is relayed."""
    foreign_agent = make_foreign_agent(home_agents=sas(HOME_AGENT, FOREIGN_HOME_SA))
    identification = ntp(NOW, 1)
    relayed_request(from_node(foreign_agent, mn_request(identification)))
    out = from_home_agent(
        foreign_agent, ha_reply(0, 300, identification, foreign_home_sa=FOREIGN_HOME_SA)
    )
    reply = reply_to_node(out)
    assert reply.code == 0
    assert [e.type for e in reply.extensions] == [MHAE]
    assert foreign_agent.violations.total == 0


# -- poorly formed replies: 71; unmatched replies (§3.7.3.1) ----------------------------------


def test_poorly_formed_reply_matching_a_pending_request_is_71() -> None:
    """RFC 5944 §3.7.3.1: a reply that cannot be parsed but whose fixed part
    matches a pending request is answered to the node with 71
    (faPoorlyFormedReplies)."""
    foreign_agent = make_foreign_agent()
    identification = ntp(NOW, 0x71)
    relayed_request(from_node(foreign_agent, mn_request(identification)))

    out = from_home_agent(foreign_agent, ha_reply(0, 300, identification)[:-5])
    reply = reply_to_node(out)
    assert (reply.code, reply.identification, reply.lifetime) == (71, identification, 0)
    assert foreign_agent.counters.poorly_formed_replies == 1
    assert foreign_agent.counters.reg_replies_relayed == 0
    assert foreign_agent.pending() == []
    assert foreign_agent.visitors() == []
    assert foreign_agent.get_timer() is None


def test_poorly_formed_reply_matching_nothing_is_dropped() -> None:
    foreign_agent = make_foreign_agent()
    assert from_home_agent(foreign_agent, ha_reply(0, 300, ntp(NOW, 1))[:-5]) == []
    assert foreign_agent.counters.poorly_formed_replies == 0
    assert foreign_agent.counters.datagrams_discarded == 1


@pytest.mark.parametrize(
    "reply_data",
    [
        pytest.param(ha_reply(0, 300, ntp(NOW, 2)), id="other-identification"),
        pytest.param(
            ha_reply(0, 300, ntp(NOW, 1), home_address=OTHER_HOME_ADDRESS), id="other-node"
        ),
    ],
)
def test_unmatched_replies_are_dropped_and_counted(reply_data: bytes) -> None:
    """RFC 5944 §3.7.3.1: a reply that matches no pending request (home
    address and low 32 bits of Identification) is discarded."""
    foreign_agent = make_foreign_agent()
    relayed_request(from_node(foreign_agent, mn_request(ntp(NOW, 1))))
    out = from_home_agent(foreign_agent, reply_data)
    assert out == []
    counters = foreign_agent.counters
    assert (
        counters.reg_replies_received,
        counters.unmatched_replies,
        counters.reg_replies_relayed,
    ) == (1, 1, 0)
    assert len(foreign_agent.pending()) == 1
    [event] = drain(foreign_agent)
    assert isinstance(event, DatagramDropped) and event.source == HOME_AGENT


def test_reply_is_matched_on_the_low_32_bits_of_identification() -> None:
    """RFC 5944 §5.7.2: under nonces the home agent replaces the high 32 bits
    with its nonce (and under timestamps after a 133, with its clock, §5.7.1);
    only the low 32 bits tie a reply to its request."""
    foreign_agent = make_foreign_agent()
    identification = (0x0BAD_F00D << 32) | 0x1357_9BDF
    relayed_request(from_node(foreign_agent, mn_request(identification)))
    reply_identification = (0x600D_CAFE << 32) | 0x1357_9BDF
    reply = reply_to_node(from_home_agent(foreign_agent, ha_reply(133, 0, reply_identification)))
    assert (reply.code, reply.identification) == (133, reply_identification)
    assert foreign_agent.counters.unmatched_replies == 0
    assert foreign_agent.pending() == []


# -- registration timeout: 78 (§3.7.1) ------------------------------------------------------


def test_pending_request_times_out_with_78_exactly_after_pending_timeout() -> None:
    """RFC 5944 §3.7.1: a pending request MAY be dropped after 7 seconds and the
    node SHOULD then get 78; not a moment before."""
    foreign_agent = make_foreign_agent()
    identification = ntp(NOW, 0x78)
    sent_at = NOW + 0.125
    relayed_request(from_node(foreign_agent, mn_request(identification), now=sent_at))
    deadline = foreign_agent.get_timer()
    assert deadline == sent_at + 7.0

    foreign_agent.handle_timer(math.nextafter(deadline, 0.0))
    assert foreign_agent.datagrams_to_send() == []
    assert len(foreign_agent.pending()) == 1

    foreign_agent.handle_timer(deadline)
    reply = reply_to_node(foreign_agent.datagrams_to_send())
    assert (reply.code, reply.identification, reply.lifetime) == (78, identification, 0)
    assert (reply.home_address, reply.home_agent) == (HOME_ADDRESS, HOME_AGENT)
    assert foreign_agent.counters.registration_timeouts == 1
    assert foreign_agent.pending() == []
    assert foreign_agent.get_timer() is None
    assert drain(foreign_agent) == [RegistrationDenied(HOME_ADDRESS, HOME_AGENT, 78, HOME_ADDRESS)]

    # The reply that arrives too late matches nothing.
    assert from_home_agent(foreign_agent, ha_reply(0, 300, identification), now=deadline + 1) == []
    assert foreign_agent.counters.unmatched_replies == 1
    assert foreign_agent.visitors() == []


def test_pending_timeout_follows_settings() -> None:
    foreign_agent = make_foreign_agent(pending_timeout=3.5)
    relayed_request(from_node(foreign_agent, mn_request(ntp(NOW, 1))))
    assert foreign_agent.get_timer() == NOW + 3.5


# -- agent advertisements (§2.1, §2.3) ----------------------------------------------------


def advertisement_of(out: list[Transmit], *, to: IPv4Address = ALL_SYSTEMS) -> AgentAdvertisement:
    assert len(out) == 1, out
    assert (out[0].destination, out[0].port, out[0].channel) == (to, 0, Channel.DISCOVERY)
    return decode_advertisement(out[0].data)


def test_first_advertisement_is_due_at_start_with_sequence_0() -> None:
    """RFC 5944 §2.3.2: the first advertisement after start carries sequence 0;
    §2.1.1: F set with at least one care-of address, R when registration is
    required, T for reverse tunnelling (RFC 3024), Registration Lifetime = our
    maximum."""
    foreign_agent = make_foreign_agent(advertisement_interval=10.0, max_lifetime=600)
    assert foreign_agent.get_timer() == NOW

    foreign_agent.handle_timer(NOW)
    advertisement = advertisement_of(foreign_agent.datagrams_to_send())
    assert advertisement.sequence == 0
    assert advertisement.registration_lifetime == 600
    assert advertisement.care_of_addresses == (FOREIGN_AGENT,)
    assert advertisement.is_foreign_agent
    assert advertisement.registration_required
    assert advertisement.reverse_tunnelling
    assert not advertisement.busy
    assert not advertisement.is_home_agent
    assert not advertisement.flags & (
        AdvertisementFlag.GRE | AdvertisementFlag.MINIMAL_ENCAPSULATION
    )
    assert advertisement.advertisement_lifetime == 30
    assert advertisement.code == CODE_MOBILITY_ONLY
    assert foreign_agent.counters.advertisements_sent == 1
    assert foreign_agent.counters.advertisements_sent_for_solicitation == 0


def test_periodic_advertisements_jitter_within_10_percent_and_count_up() -> None:
    """RFC 5944 §2.3: advertisements repeat at the interval, slightly
    randomised; §2.3.2: the sequence number increases by one each time."""
    interval = 10.0
    foreign_agent = make_foreign_agent(advertisement_interval=interval, seed=42, now=NOW)
    expected_rng = random.Random(42)
    previous = foreign_agent.get_timer()
    assert previous == NOW
    gaps = []
    for sequence in range(200):
        foreign_agent.handle_timer(previous)
        assert advertisement_of(foreign_agent.datagrams_to_send()).sequence == sequence
        due = foreign_agent.get_timer()
        assert due is not None
        gap = due - previous
        assert interval * 0.9 <= gap <= interval * 1.1
        assert due == previous + interval + interval * 0.1 * (expected_rng.random() * 2 - 1)
        gaps.append(gap)
        # Nothing happens between two advertisements.
        foreign_agent.handle_timer(math.nextafter(due, 0.0))
        assert foreign_agent.datagrams_to_send() == []
        previous = due
    assert len(set(gaps)) > 100  # randomised, not a fixed period
    assert foreign_agent.counters.advertisements_sent == 200


def test_sequence_wraps_from_0xffff_to_256() -> None:
    """RFC 5944 §2.3.2: after 0xffff comes 256, so 0-255 only ever mean a
    reboot to the mobile node."""
    foreign_agent = make_foreign_agent(advertisement_interval=1.0)
    # Skip 65 533 advertisements: the counter is the engine's public sequence.
    foreign_agent.sequence = 0xFFFE
    sequences = []
    now = NOW
    for _ in range(4):
        due = foreign_agent.get_timer()
        assert due is not None
        now = due
        foreign_agent.handle_timer(now)
        sequences.append(advertisement_of(foreign_agent.datagrams_to_send()).sequence)
    assert sequences == [0xFFFE, 0xFFFF, 256, 257]


@pytest.mark.parametrize(
    ("settings", "present", "absent"),
    [
        pytest.param(
            {"registration_required": False},
            AdvertisementFlag.FOREIGN_AGENT,
            AdvertisementFlag.REGISTRATION_REQUIRED,
            id="R-clear",
        ),
        pytest.param(
            {"reverse_tunnel": False},
            AdvertisementFlag.FOREIGN_AGENT,
            AdvertisementFlag.REVERSE_TUNNELING,
            id="T-clear",
        ),
        pytest.param(
            {"gre": True, "minimal_encapsulation": True},
            AdvertisementFlag.GRE | AdvertisementFlag.MINIMAL_ENCAPSULATION,
            AdvertisementFlag.BUSY,
            id="G-and-M",
        ),
    ],
)
def test_advertisement_flags_follow_settings(
    settings: dict[str, Any], present: AdvertisementFlag, absent: AdvertisementFlag
) -> None:
    """RFC 5944 §2.1.1: R, M, G, T reflect what the foreign agent offers."""
    foreign_agent = make_foreign_agent(advertisement_interval=5.0, **settings)
    foreign_agent.handle_timer(NOW)
    advertisement = advertisement_of(foreign_agent.datagrams_to_send())
    assert advertisement.flags & present == present
    assert not advertisement.flags & absent


def test_advertisement_lists_every_offered_care_of_address() -> None:
    """RFC 5944 §2.1.1: the care-of addresses offered, in configured order."""
    offered = (SECOND_CARE_OF_ADDRESS, FOREIGN_AGENT)
    foreign_agent = make_foreign_agent(advertisement_interval=5.0, care_of_addresses=offered)
    foreign_agent.handle_timer(NOW)
    assert advertisement_of(foreign_agent.datagrams_to_send()).care_of_addresses == offered


def test_busy_bit_set_while_visitor_list_is_full() -> None:
    """RFC 5944 §2.1.1: B is set while the foreign agent accepts no more
    registrations (faIsBusy, RFC 2006), and cleared when room is back."""
    foreign_agent = make_foreign_agent(max_visitors=1)
    solicitation = encode_solicitation()
    mobile_node = IPv4Address("192.0.2.77")

    foreign_agent.receive_icmp(solicitation, mobile_node, NOW)
    assert not advertisement_of(foreign_agent.datagrams_to_send(), to=mobile_node).busy

    register(foreign_agent, ntp(NOW, 1))
    foreign_agent.receive_icmp(solicitation, mobile_node, NOW)
    assert advertisement_of(foreign_agent.datagrams_to_send(), to=mobile_node).busy

    assert foreign_agent.clear_visitor(HOME_ADDRESS)
    foreign_agent.receive_icmp(solicitation, mobile_node, NOW)
    assert not advertisement_of(foreign_agent.datagrams_to_send(), to=mobile_node).busy


def test_solicitation_answered_unicast_to_its_source() -> None:
    """RFC 5944 §2.4 / §2.3: an Agent Solicitation is answered with an
    advertisement to the soliciting node (maSolicitationsReceived,
    maAdvsSentForSolicitation)."""
    foreign_agent = make_foreign_agent(advertisement_interval=0.0)
    mobile_node = IPv4Address("192.0.2.77")
    foreign_agent.receive_icmp(encode_solicitation(), mobile_node, NOW)
    advertisement = advertisement_of(foreign_agent.datagrams_to_send(), to=mobile_node)
    assert advertisement.sequence == 0
    assert advertisement.is_foreign_agent
    counters = foreign_agent.counters
    assert counters.solicitations_received == 1
    assert counters.advertisements_sent_for_solicitation == 1
    assert counters.advertisements_sent == 1

    foreign_agent.receive_icmp(encode_solicitation(), mobile_node, NOW + 1)
    assert advertisement_of(foreign_agent.datagrams_to_send(), to=mobile_node).sequence == 1


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            encode_solicitation()[:2] + b"\x00\x00" + encode_solicitation()[4:], id="bad-checksum"
        ),
        pytest.param(encode_solicitation()[:7], id="truncated"),
        pytest.param(bytes((8, 0, 0xF7, 0xFF, 0, 0, 0, 0)), id="echo-request"),
    ],
)
def test_other_icmp_is_ignored(data: bytes) -> None:
    """RFC 5944 §2.2: only a well-formed Router Solicitation asks for an
    advertisement."""
    foreign_agent = make_foreign_agent()
    foreign_agent.receive_icmp(data, IPv4Address("192.0.2.77"), NOW)
    assert foreign_agent.datagrams_to_send() == []
    assert foreign_agent.counters.solicitations_received == 0


def test_interval_zero_means_no_periodic_advertisements() -> None:
    """RFC 2006 maAdvResponseSolicitationOnly: with interval 0 the agent only
    answers solicitations, and has no timer while idle."""
    foreign_agent = make_foreign_agent(advertisement_interval=0.0)
    assert foreign_agent.get_timer() is None
    foreign_agent.handle_timer(NOW + 3600)
    assert foreign_agent.datagrams_to_send() == []

    register(foreign_agent, ntp(NOW, 1), lifetime=60)
    assert foreign_agent.get_timer() == NOW + 60
    foreign_agent.handle_timer(NOW + 60)
    assert foreign_agent.datagrams_to_send() == []
    assert foreign_agent.get_timer() is None
    assert foreign_agent.counters.advertisements_sent == 0


def test_periodic_advertisements_and_registration_deadlines_share_one_timer() -> None:
    """aioquic-style get_timer(): the earliest of every deadline."""
    foreign_agent = make_foreign_agent(advertisement_interval=10.0)
    foreign_agent.handle_timer(NOW)
    foreign_agent.datagrams_to_send()
    next_advertisement = foreign_agent.get_timer()
    assert next_advertisement is not None
    relayed_request(from_node(foreign_agent, mn_request(ntp(NOW, 1)), now=NOW + 1))
    assert foreign_agent.get_timer() == min(next_advertisement, NOW + 8.0)
