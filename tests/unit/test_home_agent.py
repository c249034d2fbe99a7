"""The home agent engine (RFC 5944 §3.8), driven sans-IO with virtual time.

Requests are built as a mobile node builds them (``builder.build_request``) and
replies are checked as a mobile node checks them (``builder.check_reply``,
RFC 5944 §3.6.2.1). Time is POSIX seconds; tests jump to ``get_timer()`` and
assert exact deadlines. Counters are MIP-MIB's haRegistrationGroup and
haCounterTable (RFC 2006); violations are its mipSecViolationTable.
"""

from __future__ import annotations

import math
import random
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from agent.mobileip.builder import build_request, check_reply
from agent.mobileip.events import (
    AuthenticationFailed,
    BindingCreated,
    BindingDeleted,
    BindingRefreshed,
    DatagramDropped,
    Event,
    RegistrationDenied,
    RemovalReason,
    ViolationReason,
)
from agent.mobileip.extensions import Extension
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.numbers import (
    MOBILE_IP_PORT,
    ExtensionType,
    ReplyCode,
    RequestFlag,
)
from agent.mobileip.outputs import Channel, Transmit
from agent.mobileip.registration import (
    RegistrationReply,
    RegistrationRequest,
    decode_reply,
)
from agent.mobileip.security import (
    ReplayMethod,
    SecurityAssociation,
    SecurityAssociationTable,
    authenticate,
    check_extension,
)
from agent.mobileip.violations import ViolationLog

MHAE = ExtensionType.MOBILE_HOME_AUTHENTICATION
FHAE = ExtensionType.FOREIGN_HOME_AUTHENTICATION
NAI = ExtensionType.MOBILE_NODE_NAI

NOW = 1_800_000_000.0
SECONDS = int(NOW)
#: RFC 5944 §5.7.1: Identification timestamps are NTP seconds (epoch 1900).
NTP_EPOCH_OFFSET = 2_208_988_800
NO_FLAGS = RequestFlag(0)

HOME_AGENT = IPv4Address("10.1.1.1")
HOME_NETWORK = IPv4Network("10.1.1.0/24")
HOME_ADDRESS = IPv4Address("10.1.1.50")
OTHER_HOME_ADDRESS = IPv4Address("10.1.1.51")
UNKNOWN_HOME_ADDRESS = IPv4Address("10.1.1.99")
CARE_OF_ADDRESS = IPv4Address("192.0.2.10")  # co-located: the node talks to us directly
SECOND_CARE_OF_ADDRESS = IPv4Address("192.0.2.11")
THIRD_CARE_OF_ADDRESS = IPv4Address("192.0.2.12")
FOURTH_CARE_OF_ADDRESS = IPv4Address("192.0.2.13")
FOREIGN_AGENT = IPv4Address("198.51.100.1")
NODE_PORT = 49152

MOBILE_NODE_KEY = bytes.fromhex("8f3a5c7e91b2d4f60718293a4b5c6d7e")
OTHER_NODE_KEY = bytes.fromhex("c1d2e3f405162738495a6b7c8d9eafb0")
FOREIGN_AGENT_KEY = bytes.fromhex("5e4d3c2b1a0918273645546372819aab")
ALL_KEYS = (MOBILE_NODE_KEY, OTHER_NODE_KEY, FOREIGN_AGENT_KEY)

MOBILE_NODE_SA = SecurityAssociation(spi=1000, key=MOBILE_NODE_KEY)
OTHER_NODE_SA = SecurityAssociation(spi=1001, key=OTHER_NODE_KEY)
FOREIGN_AGENT_SA = SecurityAssociation(spi=2000, key=FOREIGN_AGENT_KEY)

#: RFC 2006 mipSecRecentViolationSPI: the offending extension's SPI for a bad
#: authenticator or identification, zero when there was no extension. (For the
#: other reasons the MIB asks for zero; the engine records the SPI it saw, which
#: these tests leave open.)
MIB_SPI_REASONS = (
    ViolationReason.BAD_AUTHENTICATOR,
    ViolationReason.BAD_IDENTIFIER,
    ViolationReason.MISSING_SECURITY_EXTENSION,
)

DENIAL_COUNTERS = (
    "reason_unspecified",
    "admin_prohibited",
    "insufficient_resource",
    "mn_authentication_failure",
    "fa_authentication_failure",
    "id_mismatch",
    "poorly_formed_request",
    "too_many_bindings",
    "unknown_ha",
    "reverse_tunnel_unavailable",
    "reverse_tunnel_mandatory",
    "encapsulation_unavailable",
)


# -- helpers ---------------------------------------------------------------------


def ntp(posix_seconds: int, fraction: int = 0) -> int:
    """An NTP-format Identification, built by hand (RFC 5944 §5.7.1): seconds
    since 1900 in the high 32 bits, the fraction in the low 32 bits."""
    return ((posix_seconds + NTP_EPOCH_OFFSET) << 32) | fraction


def make_home_agent(
    *,
    sa: SecurityAssociation = MOBILE_NODE_SA,
    peers: SecurityAssociationTable | None = None,
    rng: random.Random | None = None,
    violations: ViolationLog | None = None,
    **settings: object,
) -> HomeAgent:
    mobile_nodes = SecurityAssociationTable()
    mobile_nodes.add(HOME_ADDRESS, sa)
    mobile_nodes.add(OTHER_HOME_ADDRESS, OTHER_NODE_SA)
    settings.setdefault("home_network", HOME_NETWORK)
    return HomeAgent(
        HomeAgentSettings(HOME_AGENT, **settings),  # type: ignore[arg-type]
        mobile_nodes=mobile_nodes,
        peers=peers,
        rng=rng or random.Random(5944),
        violations=violations,
    )


def request(
    identification: int,
    *,
    lifetime: int = 1800,
    care_of_address: IPv4Address = CARE_OF_ADDRESS,
    flags: RequestFlag = NO_FLAGS,
    home_address: IPv4Address = HOME_ADDRESS,
    home_agent: IPv4Address = HOME_AGENT,
    sa: SecurityAssociation = MOBILE_NODE_SA,
) -> bytes:
    return build_request(
        home_address=home_address,
        home_agent=home_agent,
        care_of_address=care_of_address,
        identification=identification,
        lifetime=lifetime,
        sa=sa,
        flags=flags,
    )


def send(
    home_agent: HomeAgent,
    data: bytes,
    *,
    now: float = NOW,
    source: IPv4Address = CARE_OF_ADDRESS,
    port: int = NODE_PORT,
    destination: IPv4Address | None = None,
) -> list[Transmit]:
    home_agent.receive_datagram(data, source, port, now, destination=destination)
    return home_agent.datagrams_to_send()


def one_reply(
    out: list[Transmit], *, to: IPv4Address = CARE_OF_ADDRESS, port: int = NODE_PORT
) -> RegistrationReply:
    """The single reply, checked to go to the request's source ip:port on the
    registration socket (RFC 5944 §3.8.3.1)."""
    assert len(out) == 1, out
    transmit = out[0]
    assert (transmit.destination, transmit.port, transmit.channel) == (
        to,
        port,
        Channel.REGISTRATION,
    )
    return decode_reply(transmit.data)


def drain(home_agent: HomeAgent) -> list[Event]:
    events: list[Event] = []
    while (event := home_agent.next_event()) is not None:
        events.append(event)
    return events


def register(
    home_agent: HomeAgent,
    identification: int,
    *,
    now: float = NOW,
    source: IPv4Address = CARE_OF_ADDRESS,
    **fields: Any,
) -> RegistrationReply:
    out = send(home_agent, request(identification, **fields), now=now, source=source)
    reply = one_reply(out, to=source)
    assert reply.accepted, reply
    return reply


def assert_reply_codes_balance(home_agent: HomeAgent) -> None:
    """Every reply sent carries one code and every code has one counter, so the
    code counters add up to haRegRepliesSent (RFC 2006)."""
    c = home_agent.counters
    by_code = c.registration_accepted + c.multi_binding_unsupported
    by_code += sum(getattr(c, name) for name in DENIAL_COUNTERS)
    assert by_code == c.reg_replies_sent


def assert_mn_check(reply: RegistrationReply, sent_identification: int) -> None:
    result = check_reply(reply, sent_identification=sent_identification, sa=MOBILE_NODE_SA)
    assert result.ok, result.reason


# -- accepted registration (§3.8.2.2, §3.8.3) ------------------------------------------


def test_accepted_registration_replies_to_source_and_creates_binding() -> None:
    """RFC 5944 §3.8.3.1: reply code 0 to the request's source ip:port, Lifetime
    granted, Identification copied (§5.7.1), MHAE that the node can verify
    (§3.5.2); §3.8.2.2: a binding is created and times out at now + Lifetime."""
    home_agent = make_home_agent()
    identification = ntp(SECONDS, 0x0000_1234)
    flags = RequestFlag.REVERSE_TUNNELING | RequestFlag.BROADCAST

    reply = one_reply(send(home_agent, request(identification, lifetime=1800, flags=flags)))

    assert reply.code == ReplyCode.ACCEPTED
    assert reply.lifetime == 1800
    assert reply.home_address == HOME_ADDRESS
    assert reply.home_agent == HOME_AGENT
    assert reply.identification == identification
    assert [ext.type for ext in reply.extensions] == [MHAE]
    assert reply.extensions[0].spi == MOBILE_NODE_SA.spi
    assert_mn_check(reply, identification)

    assert drain(home_agent) == [
        BindingCreated(HOME_ADDRESS, CARE_OF_ADDRESS, 1800, CARE_OF_ADDRESS)
    ]
    [binding] = home_agent.bindings()
    assert binding.home_address == HOME_ADDRESS
    assert binding.care_of_address == CARE_OF_ADDRESS
    assert binding.source_address == CARE_OF_ADDRESS
    assert binding.source_port == NODE_PORT
    assert binding.flags == int(flags)
    assert binding.identification == identification
    assert binding.lifetime == 1800
    assert binding.registered_at == NOW
    assert binding.expires_at == NOW + 1800
    assert home_agent.binding_count == 1
    assert home_agent.get_timer() == NOW + 1800

    counters = home_agent.counters
    assert counters.registration_accepted == 1
    assert counters.reg_requests_received == 1
    assert counters.dereg_requests_received == 0
    assert counters.reg_replies_sent == 1
    assert counters.dereg_replies_sent == 0
    node = home_agent.mobile_node(HOME_ADDRESS)
    assert node is not None
    assert (node.service_accepted, node.service_denied) == (1, 0)
    assert node.recent_accepted_time == NOW
    assert home_agent.violations.total == 0
    assert_reply_codes_balance(home_agent)


def test_accepted_reply_through_foreign_agent_goes_back_to_it() -> None:
    """RFC 5944 §3.8.3.1: the reply goes to the request's source (here a foreign
    agent relaying from port 434); the binding's source is that agent."""
    home_agent = make_home_agent()
    identification = ntp(SECONDS, 1)
    out = send(home_agent, request(identification), source=FOREIGN_AGENT, port=MOBILE_IP_PORT)
    reply = one_reply(out, to=FOREIGN_AGENT, port=MOBILE_IP_PORT)
    assert reply.code == ReplyCode.ACCEPTED
    # No SA with that foreign agent: no Foreign-Home extension on the reply.
    assert [ext.type for ext in reply.extensions] == [MHAE]
    [binding] = home_agent.bindings()
    assert (binding.source_address, binding.source_port) == (FOREIGN_AGENT, MOBILE_IP_PORT)
    assert drain(home_agent) == [BindingCreated(HOME_ADDRESS, CARE_OF_ADDRESS, 1800, FOREIGN_AGENT)]


def test_binding_expires_exactly_at_its_deadline() -> None:
    """RFC 5944 §3.8.2.2: the binding is deleted when its Lifetime expires, not
    before."""
    home_agent = make_home_agent()
    register(home_agent, ntp(SECONDS, 1), lifetime=300)
    drain(home_agent)
    deadline = home_agent.get_timer()
    assert deadline == NOW + 300

    home_agent.handle_timer(math.nextafter(deadline, 0.0))
    assert drain(home_agent) == []
    assert len(home_agent.bindings()) == 1
    assert home_agent.get_timer() == deadline

    home_agent.handle_timer(deadline)
    assert drain(home_agent) == [
        BindingDeleted(HOME_ADDRESS, CARE_OF_ADDRESS, RemovalReason.EXPIRED)
    ]
    assert home_agent.bindings() == []
    assert home_agent.binding_count == 0
    assert home_agent.get_timer() is None
    assert home_agent.datagrams_to_send() == []
    node = home_agent.mobile_node(HOME_ADDRESS)
    assert node is not None and node.overall_service_time == 300


def test_refresh_moves_the_deadline_later() -> None:
    """RFC 5944 §3.8.2.2: a new registration for the same care-of address
    refreshes the binding with the new Lifetime; the old deadline no longer
    applies."""
    home_agent = make_home_agent()
    register(home_agent, ntp(SECONDS, 1), lifetime=300)
    drain(home_agent)

    later = NOW + 200
    reply = register(home_agent, ntp(SECONDS + 200, 2), now=later, lifetime=600)
    assert reply.lifetime == 600
    assert drain(home_agent) == [BindingRefreshed(HOME_ADDRESS, CARE_OF_ADDRESS, 600)]
    assert home_agent.get_timer() == later + 600

    home_agent.handle_timer(NOW + 300)  # the first deadline passes harmlessly
    assert drain(home_agent) == []
    [binding] = home_agent.bindings()
    assert binding.registered_at == NOW
    assert binding.expires_at == later + 600
    assert binding.identification == ntp(SECONDS + 200, 2)
    assert home_agent.binding_count == 1

    home_agent.handle_timer(later + 600)
    assert drain(home_agent) == [
        BindingDeleted(HOME_ADDRESS, CARE_OF_ADDRESS, RemovalReason.EXPIRED)
    ]
    assert home_agent.counters.registration_accepted == 2


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        pytest.param(1, 1, id="short-kept"),
        pytest.param(999, 999, id="below-max"),
        pytest.param(1000, 1000, id="at-max"),
        pytest.param(1001, 1000, id="above-max"),
        pytest.param(0xFFFE, 1000, id="0xfffe"),
        pytest.param(0xFFFF, 1000, id="infinity"),
    ],
)
def test_lifetime_capped_never_lengthened(requested: int, granted: int) -> None:
    """RFC 5944 §3.8.2.2: the home agent MAY shorten the Lifetime and MUST NOT
    lengthen it; 0xffff (infinity, §3.3) is granted as our maximum."""
    home_agent = make_home_agent(max_lifetime=1000)
    reply = register(home_agent, ntp(SECONDS, 1), lifetime=requested)
    assert reply.lifetime == granted
    assert drain(home_agent) == [
        BindingCreated(HOME_ADDRESS, CARE_OF_ADDRESS, granted, CARE_OF_ADDRESS)
    ]
    assert home_agent.get_timer() == NOW + granted


# -- deregistration (§3.8.2.2) -------------------------------------------------------


def test_deregistration_of_one_care_of_address_keeps_the_others() -> None:
    """RFC 5944 §3.8.2.2: Lifetime 0 with a care-of address other than the home
    address deletes that binding only."""
    home_agent = make_home_agent()
    simultaneous = RequestFlag.SIMULTANEOUS_BINDINGS
    register(home_agent, ntp(SECONDS, 1), care_of_address=CARE_OF_ADDRESS, flags=simultaneous)
    register(
        home_agent, ntp(SECONDS, 2), care_of_address=SECOND_CARE_OF_ADDRESS, flags=simultaneous
    )
    drain(home_agent)

    identification = ntp(SECONDS + 10, 3)
    reply = one_reply(send(home_agent, request(identification, lifetime=0), now=NOW + 10))

    assert (reply.code, reply.lifetime, reply.identification) == (0, 0, identification)
    assert_mn_check(reply, identification)
    assert drain(home_agent) == [
        BindingDeleted(HOME_ADDRESS, CARE_OF_ADDRESS, RemovalReason.DEREGISTERED)
    ]
    assert [b.care_of_address for b in home_agent.bindings()] == [SECOND_CARE_OF_ADDRESS]
    assert home_agent.get_timer() == NOW + 1800  # the remaining binding's deadline
    counters = home_agent.counters
    assert (counters.reg_requests_received, counters.dereg_requests_received) == (3, 1)
    assert (counters.reg_replies_sent, counters.dereg_replies_sent) == (3, 1)
    # haRegistrationAccepted counts every Registration Request accepted with code 0,
    # deregistrations included (RFC 2006).
    assert counters.registration_accepted == 3
    assert_reply_codes_balance(home_agent)


def test_deregistration_with_home_address_deletes_all_bindings() -> None:
    """RFC 5944 §3.8.2.2: Lifetime 0 with care-of address = home address deletes
    every binding of the node (the node is back home)."""
    home_agent = make_home_agent()
    simultaneous = RequestFlag.SIMULTANEOUS_BINDINGS
    register(home_agent, ntp(SECONDS, 1), care_of_address=CARE_OF_ADDRESS, flags=simultaneous)
    register(
        home_agent, ntp(SECONDS, 2), care_of_address=SECOND_CARE_OF_ADDRESS, flags=simultaneous
    )
    register(home_agent, ntp(SECONDS, 3), home_address=OTHER_HOME_ADDRESS, sa=OTHER_NODE_SA)
    drain(home_agent)

    identification = ntp(SECONDS + 5, 4)
    data = request(identification, lifetime=0, care_of_address=HOME_ADDRESS)
    reply = one_reply(send(home_agent, data, source=HOME_ADDRESS, now=NOW + 5), to=HOME_ADDRESS)

    assert (reply.code, reply.lifetime) == (0, 0)
    assert drain(home_agent) == [
        BindingDeleted(HOME_ADDRESS, CARE_OF_ADDRESS, RemovalReason.DEREGISTERED),
        BindingDeleted(HOME_ADDRESS, SECOND_CARE_OF_ADDRESS, RemovalReason.DEREGISTERED),
    ]
    assert [b.home_address for b in home_agent.bindings()] == [OTHER_HOME_ADDRESS]
    assert home_agent.binding_count == 1
    assert home_agent.counters.dereg_replies_sent == 1
    node = home_agent.mobile_node(HOME_ADDRESS)
    assert node is not None and node.overall_service_time == 2 * 5
    assert node.service_accepted == 3  # haServiceRequestsAccepted: codes 0 and 1


def test_deregistration_of_an_unknown_care_of_address_is_accepted_and_changes_nothing() -> None:
    """RFC 5944 §3.8.2.2: deregistering a binding that does not exist still gets
    a reply (code 0, Lifetime 0) and deletes nothing."""
    home_agent = make_home_agent()
    register(home_agent, ntp(SECONDS, 1))
    drain(home_agent)
    data = request(ntp(SECONDS, 2), lifetime=0, care_of_address=THIRD_CARE_OF_ADDRESS)
    reply = one_reply(send(home_agent, data))
    assert (reply.code, reply.lifetime) == (0, 0)
    assert drain(home_agent) == []
    assert len(home_agent.bindings()) == 1


# -- simultaneous bindings (§3.8.2.2, §3.4 codes 1 and 135) --------------------------------


def test_simultaneous_bindings_up_to_the_limit_then_135() -> None:
    """RFC 5944 §3.8.2.2: with S set the new binding is added to the others;
    beyond our limit the request is denied 135 (§3.4)."""
    home_agent = make_home_agent(max_simultaneous_bindings=3)
    simultaneous = RequestFlag.SIMULTANEOUS_BINDINGS
    care_of_addresses = [CARE_OF_ADDRESS, SECOND_CARE_OF_ADDRESS, THIRD_CARE_OF_ADDRESS]
    for low, coa in enumerate(care_of_addresses, start=1):
        reply = register(home_agent, ntp(SECONDS, low), care_of_address=coa, flags=simultaneous)
        assert reply.code == ReplyCode.ACCEPTED
    assert drain(home_agent) == [
        BindingCreated(HOME_ADDRESS, coa, 1800, CARE_OF_ADDRESS) for coa in care_of_addresses
    ]

    identification = ntp(SECONDS, 4)
    data = request(identification, care_of_address=FOURTH_CARE_OF_ADDRESS, flags=simultaneous)
    reply = one_reply(send(home_agent, data))
    assert reply.code == ReplyCode.HA_TOO_MANY_SIMULTANEOUS_BINDINGS
    assert (reply.lifetime, reply.identification, reply.home_agent) == (
        0,
        identification,
        HOME_AGENT,
    )
    assert_mn_check(reply, identification)
    assert drain(home_agent) == [RegistrationDenied(HOME_ADDRESS, HOME_AGENT, 135, CARE_OF_ADDRESS)]
    assert [b.care_of_address for b in home_agent.bindings()] == care_of_addresses
    assert home_agent.counters.too_many_bindings == 1

    # Refreshing one of the three is not a new binding: still accepted.
    reply = register(
        home_agent, ntp(SECONDS, 5), care_of_address=SECOND_CARE_OF_ADDRESS, flags=simultaneous
    )
    assert drain(home_agent) == [BindingRefreshed(HOME_ADDRESS, SECOND_CARE_OF_ADDRESS, 1800)]
    node = home_agent.mobile_node(HOME_ADDRESS)
    assert node is not None
    assert (node.service_accepted, node.service_denied, node.recent_denied_code) == (4, 1, 135)
    assert_reply_codes_balance(home_agent)


def test_simultaneous_bindings_unsupported_answers_code_1_and_replaces() -> None:
    """RFC 5944 §3.4 code 1: accepted, but simultaneous bindings unsupported; the
    new binding replaces the old one (§3.8.2.2)."""
    home_agent = make_home_agent(max_simultaneous_bindings=1)
    register(home_agent, ntp(SECONDS, 1), care_of_address=CARE_OF_ADDRESS)
    drain(home_agent)

    identification = ntp(SECONDS, 2)
    data = request(
        identification,
        care_of_address=SECOND_CARE_OF_ADDRESS,
        flags=RequestFlag.SIMULTANEOUS_BINDINGS,
    )
    reply = one_reply(send(home_agent, data))
    assert reply.code == ReplyCode.ACCEPTED_NO_SIMULTANEOUS_BINDINGS
    assert reply.lifetime == 1800
    assert_mn_check(reply, identification)
    assert drain(home_agent) == [
        BindingDeleted(HOME_ADDRESS, CARE_OF_ADDRESS, RemovalReason.REPLACED),
        BindingCreated(HOME_ADDRESS, SECOND_CARE_OF_ADDRESS, 1800, CARE_OF_ADDRESS),
    ]
    assert [b.care_of_address for b in home_agent.bindings()] == [SECOND_CARE_OF_ADDRESS]
    assert home_agent.get_timer() == NOW + 1800
    assert home_agent.counters.multi_binding_unsupported == 1
    assert home_agent.counters.registration_accepted == 1
    node = home_agent.mobile_node(HOME_ADDRESS)
    assert node is not None and node.service_accepted == 2
    assert_reply_codes_balance(home_agent)


def test_registration_without_s_replaces_all_other_bindings() -> None:
    """RFC 5944 §3.8.2.2: with S clear, the new binding replaces any others."""
    home_agent = make_home_agent()
    simultaneous = RequestFlag.SIMULTANEOUS_BINDINGS
    register(home_agent, ntp(SECONDS, 1), care_of_address=CARE_OF_ADDRESS, flags=simultaneous)
    register(
        home_agent, ntp(SECONDS, 2), care_of_address=SECOND_CARE_OF_ADDRESS, flags=simultaneous
    )
    drain(home_agent)

    register(home_agent, ntp(SECONDS, 3), care_of_address=THIRD_CARE_OF_ADDRESS)
    assert drain(home_agent) == [
        BindingDeleted(HOME_ADDRESS, CARE_OF_ADDRESS, RemovalReason.REPLACED),
        BindingDeleted(HOME_ADDRESS, SECOND_CARE_OF_ADDRESS, RemovalReason.REPLACED),
        BindingCreated(HOME_ADDRESS, THIRD_CARE_OF_ADDRESS, 1800, CARE_OF_ADDRESS),
    ]
    assert [b.care_of_address for b in home_agent.bindings()] == [THIRD_CARE_OF_ADDRESS]
    assert home_agent.binding_count == 1


def test_registration_without_s_for_an_existing_care_of_address_drops_the_rest() -> None:
    """RFC 5944 §3.8.2.2: S clear keeps only the binding being registered."""
    home_agent = make_home_agent()
    simultaneous = RequestFlag.SIMULTANEOUS_BINDINGS
    register(home_agent, ntp(SECONDS, 1), care_of_address=CARE_OF_ADDRESS, flags=simultaneous)
    register(
        home_agent, ntp(SECONDS, 2), care_of_address=SECOND_CARE_OF_ADDRESS, flags=simultaneous
    )
    drain(home_agent)

    register(home_agent, ntp(SECONDS, 3), care_of_address=CARE_OF_ADDRESS, lifetime=900)
    assert drain(home_agent) == [
        BindingDeleted(HOME_ADDRESS, SECOND_CARE_OF_ADDRESS, RemovalReason.REPLACED),
        BindingRefreshed(HOME_ADDRESS, CARE_OF_ADDRESS, 900),
    ]
    assert [b.care_of_address for b in home_agent.bindings()] == [CARE_OF_ADDRESS]
    assert home_agent.get_timer() == NOW + 900


# -- mobile-home authentication: 131 (§3.8.2.1, §3.5.2) ----------------------------------


def _no_mhae(identification: int) -> bytes:
    return RegistrationRequest(
        RequestFlag(0), 1800, HOME_ADDRESS, HOME_AGENT, CARE_OF_ADDRESS, identification
    ).encode_header()


def _unknown_node(identification: int) -> bytes:
    return request(identification, home_address=UNKNOWN_HOME_ADDRESS)


def _unknown_spi(identification: int) -> bytes:
    return request(identification, sa=SecurityAssociation(spi=1999, key=MOBILE_NODE_KEY))


def _bad_authenticator(identification: int) -> bytes:
    data = bytearray(request(identification))
    data[-1] ^= 0x01
    return bytes(data)


def _wrong_key(identification: int) -> bytes:
    return request(identification, sa=SecurityAssociation(spi=1000, key=OTHER_NODE_KEY))


def _two_mhaes(identification: int) -> bytes:
    return authenticate(request(identification), MHAE, MOBILE_NODE_SA)


@pytest.mark.parametrize(
    ("build", "home_address", "reason", "spi"),
    [
        pytest.param(
            _no_mhae,
            HOME_ADDRESS,
            ViolationReason.MISSING_SECURITY_EXTENSION,
            0,
            id="missing-mhae",
        ),
        pytest.param(
            _unknown_node,
            UNKNOWN_HOME_ADDRESS,
            ViolationReason.NO_MOBILITY_SECURITY_ASSOCIATION,
            1000,
            id="unknown-node",
        ),
        pytest.param(
            _unknown_spi, HOME_ADDRESS, ViolationReason.BAD_SPI, 1999, id="unknown-spi"
        ),
        pytest.param(
            _bad_authenticator,
            HOME_ADDRESS,
            ViolationReason.BAD_AUTHENTICATOR,
            1000,
            id="bad-authenticator",
        ),
        pytest.param(
            _wrong_key,
            HOME_ADDRESS,
            ViolationReason.BAD_AUTHENTICATOR,
            1000,
            id="wrong-key",
        ),
        pytest.param(_two_mhaes, HOME_ADDRESS, ViolationReason.OTHER, 0, id="two-mhaes"),
    ],
)
def test_mobile_node_failed_authentication_131(
    build: object,
    home_address: IPv4Address,
    reason: ViolationReason,
    spi: int,
) -> None:
    """RFC 5944 §3.8.2.1: a request without exactly one valid Mobile-Home
    Authentication extension is denied 131; the violation is logged with the
    mipSecViolationReason of RFC 2006."""
    home_agent = make_home_agent()
    identification = ntp(SECONDS, 0xABCD)
    reply = one_reply(send(home_agent, build(identification)))  # type: ignore[operator]

    assert reply.code == ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION
    assert (reply.lifetime, reply.identification) == (0, identification)
    assert (reply.home_address, reply.home_agent) == (home_address, HOME_AGENT)
    # The request did not authenticate: the denial carries no authenticator
    # under the node's key over the sender's Identification, even when we
    # share an SA with the node (issue 13 item 7, test_home_agent_attacks.py).
    assert reply.extensions == ()
    assert check_reply(reply, sent_identification=identification, sa=None).ok

    assert home_agent.bindings() == []
    assert home_agent.get_timer() is None
    assert home_agent.counters.mn_authentication_failure == 1
    assert home_agent.violations.total == 1
    [row] = home_agent.violations.rows()
    assert row.address == home_address
    assert row.reason is reason
    assert row.counter == 1
    if reason in MIB_SPI_REASONS:
        assert row.recent_spi == spi
    assert row.time == NOW
    assert (row.identification_high, row.identification_low) == (identification >> 32, 0xABCD)
    assert drain(home_agent) == [
        AuthenticationFailed(home_address, spi or None, reason),
        RegistrationDenied(home_address, HOME_AGENT, 131, CARE_OF_ADDRESS),
    ]
    assert_reply_codes_balance(home_agent)


def test_flood_for_unknown_home_addresses_creates_no_node_records() -> None:
    """RFC 2006 haCounterTable rows exist per known mobile node: requests for
    home addresses we share no SA with are denied 131 without growing any
    per-node table; the violation log stays bounded while its total counts."""
    home_agent = make_home_agent(violations=ViolationLog(capacity=64))
    forged = SecurityAssociation(spi=4242, key=b"forged-key-16byt")
    for index in range(500):
        home = IPv4Address(int(IPv4Address("10.9.0.0")) + index)
        data = request(ntp(SECONDS, index), home_address=home, sa=forged)
        reply = one_reply(send(home_agent, data))
        assert reply.code == ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION
    assert home_agent.mobile_nodes() == {}
    assert home_agent.bindings() == []
    assert home_agent.counters.mn_authentication_failure == 500
    assert home_agent.counters.reg_replies_sent == 500
    assert home_agent.violations.total == 500
    assert len(home_agent.violations.rows()) == 64


# -- foreign-home authentication: 132 (§3.8.2.1) ---------------------------------------------


def _peers() -> SecurityAssociationTable:
    table = SecurityAssociationTable()
    table.add(FOREIGN_AGENT, FOREIGN_AGENT_SA)
    return table


@pytest.mark.parametrize(
    ("foreign_sa", "reason", "spi"),
    [
        pytest.param(None, ViolationReason.MISSING_SECURITY_EXTENSION, 0, id="missing-fhae"),
        pytest.param(
            SecurityAssociation(spi=2000, key=OTHER_NODE_KEY),
            ViolationReason.BAD_AUTHENTICATOR,
            2000,
            id="bad-fhae",
        ),
        pytest.param(
            SecurityAssociation(spi=2001, key=FOREIGN_AGENT_KEY),
            ViolationReason.BAD_SPI,
            2001,
            id="unknown-spi",
        ),
    ],
)
def test_foreign_agent_failed_authentication_132(
    foreign_sa: SecurityAssociation | None, reason: ViolationReason, spi: int
) -> None:
    """RFC 5944 §3.8.2.1: when the home agent shares an SA with the foreign
    agent (looked up by the datagram's source address), exactly one valid
    Foreign-Home extension must follow the MHAE, else 132."""
    home_agent = make_home_agent(peers=_peers())
    identification = ntp(SECONDS, 7)
    data = request(identification, care_of_address=FOREIGN_AGENT)
    if foreign_sa is not None:
        data = authenticate(data, FHAE, foreign_sa)

    out = send(home_agent, data, source=FOREIGN_AGENT, port=MOBILE_IP_PORT)
    reply = one_reply(out, to=FOREIGN_AGENT, port=MOBILE_IP_PORT)

    assert reply.code == ReplyCode.HA_FOREIGN_AGENT_FAILED_AUTHENTICATION
    assert reply.identification == identification
    assert_mn_check(reply, identification)
    assert home_agent.bindings() == []
    assert home_agent.counters.fa_authentication_failure == 1
    [row] = home_agent.violations.rows()
    assert (row.address, row.reason) == (FOREIGN_AGENT, reason)
    if reason in MIB_SPI_REASONS:
        assert row.recent_spi == spi
    assert home_agent.violations.total == 1
    assert drain(home_agent) == [
        AuthenticationFailed(FOREIGN_AGENT, spi or None, reason),
        RegistrationDenied(HOME_ADDRESS, HOME_AGENT, 132, FOREIGN_AGENT),
    ]


def test_valid_foreign_home_extension_is_accepted_and_reply_carries_one() -> None:
    """RFC 5944 §3.8.2.1 and §3.8.3.1: with a valid FHAE the request is accepted;
    the reply carries the MHAE for the node and then an FHAE for the foreign
    agent, computed over the reply up to it (§3.5.1)."""
    home_agent = make_home_agent(peers=_peers())
    identification = ntp(SECONDS, 8)
    data = authenticate(
        request(identification, care_of_address=FOREIGN_AGENT), FHAE, FOREIGN_AGENT_SA
    )

    out = send(home_agent, data, source=FOREIGN_AGENT, port=MOBILE_IP_PORT)
    reply = one_reply(out, to=FOREIGN_AGENT, port=MOBILE_IP_PORT)

    assert reply.code == ReplyCode.ACCEPTED
    assert [ext.type for ext in reply.extensions] == [MHAE, FHAE]
    mhae, fhae = reply.extensions
    assert fhae.offset == mhae.offset + 2 + len(mhae.data)
    assert fhae.spi == FOREIGN_AGENT_SA.spi
    assert check_extension(reply.raw, fhae, FOREIGN_AGENT_SA)
    assert_mn_check(reply, identification)
    assert drain(home_agent) == [BindingCreated(HOME_ADDRESS, FOREIGN_AGENT, 1800, FOREIGN_AGENT)]
    assert home_agent.violations.total == 0


def test_no_foreign_home_extension_needed_from_a_sender_we_share_no_sa_with() -> None:
    """RFC 5944 §3.8.2.1: the FHAE check applies only to a foreign agent we
    share an SA with; a request relayed by any other source is accepted."""
    home_agent = make_home_agent(peers=_peers())
    other_agent = IPv4Address("198.51.100.2")
    out = send(home_agent, request(ntp(SECONDS, 1)), source=other_agent, port=MOBILE_IP_PORT)
    reply = one_reply(out, to=other_agent, port=MOBILE_IP_PORT)
    assert reply.code == ReplyCode.ACCEPTED
    assert [ext.type for ext in reply.extensions] == [MHAE]


# -- replay protection: 133 (§5.7) -------------------------------------------------------


@pytest.mark.parametrize(
    ("identification", "accepted"),
    [
        pytest.param(ntp(SECONDS - 7, 0x0000_1234), True, id="7s-old-edge"),
        pytest.param(ntp(SECONDS - 8, 0xFFFF_1234), False, id="just-over-7s-old"),
        pytest.param(ntp(SECONDS + 7, 0), True, id="7s-ahead-edge"),
        pytest.param(ntp(SECONDS + 7, 0x0001_1234), False, id="just-over-7s-ahead"),
        pytest.param(ntp(SECONDS - 3600, 0x55), False, id="an-hour-old"),
    ],
)
def test_timestamp_outside_the_replay_window_is_denied_133(
    identification: int, accepted: bool
) -> None:
    """RFC 5944 §5.7.1: a timestamp more than the tolerance (default 7 s) away
    from our clock is denied 133; the reply carries our time (NTP seconds) in
    the high 32 bits and the request's low 32 bits, so the node can resync."""
    home_agent = make_home_agent()
    reply = one_reply(send(home_agent, request(identification)))
    if accepted:
        assert reply.code == ReplyCode.ACCEPTED
        assert reply.identification == identification
        return
    assert reply.code == ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH
    assert reply.identification >> 32 == SECONDS + NTP_EPOCH_OFFSET
    assert reply.identification & 0xFFFF_FFFF == identification & 0xFFFF_FFFF
    assert_mn_check(reply, identification)  # low 32 bits match; MHAE valid
    assert home_agent.bindings() == []
    assert home_agent.counters.id_mismatch == 1
    [row] = home_agent.violations.rows()
    assert (row.address, row.reason, row.recent_spi) == (
        HOME_ADDRESS,
        ViolationReason.BAD_IDENTIFIER,
        MOBILE_NODE_SA.spi,
    )
    node = home_agent.mobile_node(HOME_ADDRESS)
    assert node is not None and node.recent_denied_code == 133


def test_replay_window_follows_the_security_association() -> None:
    """RFC 5944 §5.7.1: the tolerance is per security association."""
    home_agent = make_home_agent(
        sa=SecurityAssociation(spi=1000, key=MOBILE_NODE_KEY, replay_window=30.0)
    )
    identification = ntp(SECONDS - 30, 0)
    data = request(identification, sa=SecurityAssociation(spi=1000, key=MOBILE_NODE_KEY))
    assert one_reply(send(home_agent, data)).code == ReplyCode.ACCEPTED


def test_replayed_or_non_increasing_identification_is_denied_133() -> None:
    """RFC 5944 §5.7.1: a timestamp MUST be greater than every one accepted
    before; a replayed request does not extend the binding (§3.8.2.2)."""
    home_agent = make_home_agent()
    first = ntp(SECONDS, 5)
    data = request(first)
    register_reply = one_reply(send(home_agent, data))
    assert register_reply.code == ReplyCode.ACCEPTED
    drain(home_agent)

    # The same datagram one second later: a replay.
    reply = one_reply(send(home_agent, data, now=NOW + 1))
    assert reply.code == ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH
    assert reply.identification == ((SECONDS + 1 + NTP_EPOCH_OFFSET) << 32) | 5
    assert_mn_check(reply, first)
    [binding] = home_agent.bindings()
    assert binding.expires_at == NOW + 1800  # not extended
    assert home_agent.get_timer() == NOW + 1800

    # Older than the last accepted one.
    older = ntp(SECONDS, 4)
    reply = one_reply(send(home_agent, request(older), now=NOW + 1))
    assert reply.code == ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH
    assert reply.identification & 0xFFFF_FFFF == 4

    # A newer one is accepted again.
    reply = one_reply(send(home_agent, request(ntp(SECONDS, 6)), now=NOW + 1))
    assert reply.code == ReplyCode.ACCEPTED
    assert home_agent.counters.id_mismatch == 2
    assert home_agent.violations.total == 2
    events = drain(home_agent)
    assert events == [
        AuthenticationFailed(HOME_ADDRESS, 1000, ViolationReason.BAD_IDENTIFIER),
        RegistrationDenied(HOME_ADDRESS, HOME_AGENT, 133, CARE_OF_ADDRESS),
        AuthenticationFailed(HOME_ADDRESS, 1000, ViolationReason.BAD_IDENTIFIER),
        RegistrationDenied(HOME_ADDRESS, HOME_AGENT, 133, CARE_OF_ADDRESS),
        BindingRefreshed(HOME_ADDRESS, CARE_OF_ADDRESS, 1800),
    ]


def test_nonces_first_contact_133_then_success_with_the_home_agent_nonce() -> None:
    """RFC 5944 §5.7.2: the node's first request cannot carry our nonce and is
    denied 133 with a fresh nonce in the high 32 bits and its own low 32 bits;
    a request whose high 32 bits are that nonce is accepted, and every reply
    hands out a new nonce."""
    nonce_sa = SecurityAssociation(spi=1000, key=MOBILE_NODE_KEY, replay_method=ReplayMethod.NONCES)
    home_agent = make_home_agent(sa=nonce_sa, rng=random.Random(20240607))
    expected = random.Random(20240607)

    first = 0x0000_0000_1111_1111
    reply = one_reply(send(home_agent, request(first, sa=nonce_sa)))
    nonce = expected.getrandbits(32)
    assert reply.code == ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH
    assert reply.identification == (nonce << 32) | 0x1111_1111
    assert_mn_check(reply, first)
    assert home_agent.bindings() == []

    second = (reply.identification & 0xFFFF_FFFF_0000_0000) | 0x2222_2222
    reply = one_reply(send(home_agent, request(second, sa=nonce_sa), now=NOW + 1))
    next_nonce = expected.getrandbits(32)
    assert reply.code == ReplyCode.ACCEPTED
    assert reply.identification == (next_nonce << 32) | 0x2222_2222
    assert_mn_check(reply, second)
    assert [b.care_of_address for b in home_agent.bindings()] == [CARE_OF_ADDRESS]

    # The accepted request replayed: its nonce is spent.
    reply = one_reply(send(home_agent, request(second, sa=nonce_sa), now=NOW + 2))
    fresh = expected.getrandbits(32)
    assert reply.code == ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH
    assert reply.identification == (fresh << 32) | 0x2222_2222
    [binding] = home_agent.bindings()
    assert binding.expires_at == NOW + 1 + 1800

    third = (fresh << 32) | 0x3333_3333
    reply = one_reply(send(home_agent, request(third, sa=nonce_sa), now=NOW + 3))
    assert reply.code == ReplyCode.ACCEPTED
    assert reply.identification >> 32 == expected.getrandbits(32)
    assert home_agent.counters.id_mismatch == 2
    assert home_agent.counters.registration_accepted == 2


# -- poorly formed requests: 134 (§3.8.2.1, §1.9) -----------------------------------------


def _truncated_extension(identification: int) -> bytes:
    return request(identification)[:-3]  # the MHAE claims 20 bytes, 17 remain


def _reserved_r(identification: int) -> bytes:
    return request(identification, flags=RequestFlag.RESERVED_R)


def _reserved_x(identification: int) -> bytes:
    return request(identification, flags=RequestFlag.RESERVED_X)


def _short_authentication_extension(identification: int) -> bytes:
    header = RegistrationRequest(
        RequestFlag(0), 1800, HOME_ADDRESS, HOME_AGENT, CARE_OF_ADDRESS, identification
    ).encode_header()
    return header + bytes((MHAE, 2, 0, 0))


@pytest.mark.parametrize(
    "build",
    [_reserved_r, _reserved_x, _truncated_extension, _short_authentication_extension],
    ids=["r-bit", "x-bit", "truncated-extension", "auth-extension-too-short"],
)
def test_poorly_formed_request_is_denied_134(build: object) -> None:
    """RFC 5944 §3.8.2.1 / §3.4: a request that cannot be parsed but whose fixed
    part names the node is answered 134 (haPoorlyFormedRequest), Identification
    copied; not authenticated (nothing of it was verified, issue 13 item 7)."""
    home_agent = make_home_agent()
    register(home_agent, ntp(SECONDS, 1))
    drain(home_agent)
    identification = ntp(SECONDS, 0x77)

    reply = one_reply(send(home_agent, build(identification)))  # type: ignore[operator]

    assert reply.code == ReplyCode.HA_POORLY_FORMED_REQUEST
    assert (reply.lifetime, reply.identification) == (0, identification)
    assert (reply.home_address, reply.home_agent) == (HOME_ADDRESS, HOME_AGENT)
    assert reply.extensions == ()
    counters = home_agent.counters
    assert counters.poorly_formed_request == 1
    assert counters.reg_requests_received == 2
    assert counters.reg_replies_sent == 2
    assert counters.datagrams_discarded == 0
    assert [b.identification for b in home_agent.bindings()] == [ntp(SECONDS, 1)]
    assert drain(home_agent) == [RegistrationDenied(HOME_ADDRESS, HOME_AGENT, 134, CARE_OF_ADDRESS)]
    # haServiceRequestsDenied counts codes 128-159 for the node, 134 included (RFC 2006).
    node = home_agent.mobile_node(HOME_ADDRESS)
    assert node is not None
    assert (node.service_denied, node.recent_denied_code, node.recent_denied_time) == (1, 134, NOW)
    assert_reply_codes_balance(home_agent)


def test_poorly_formed_deregistration_counts_as_a_deregistration() -> None:
    """RFC 2006 haDeRegRequestsReceived / haDeRegRepliesSent: a Lifetime-0
    request denied 134 is a deregistration request that got a reply."""
    home_agent = make_home_agent()
    reply = one_reply(
        send(home_agent, request(ntp(SECONDS, 1), lifetime=0, flags=RequestFlag.RESERVED_X))
    )
    assert reply.code == ReplyCode.HA_POORLY_FORMED_REQUEST
    counters = home_agent.counters
    assert (counters.reg_requests_received, counters.dereg_requests_received) == (1, 1)
    assert (counters.reg_replies_sent, counters.dereg_replies_sent) == (1, 1)


def test_poorly_formed_request_from_unknown_node_gets_unauthenticated_134() -> None:
    """RFC 5944 §3.8.2.1: no SA with the node, so the 134 reply carries no MHAE;
    no per-node record is created for it."""
    home_agent = make_home_agent()
    data = request(ntp(SECONDS, 1), home_address=UNKNOWN_HOME_ADDRESS)[:-1]
    reply = one_reply(send(home_agent, data))
    assert reply.code == ReplyCode.HA_POORLY_FORMED_REQUEST
    assert reply.extensions == ()
    assert home_agent.mobile_nodes() == {}


# -- silently discarded (§1.9, §3.8.2.1) -----------------------------------------------------


@pytest.mark.parametrize("ext_type", [0, 35, 99, 127])
def test_unknown_extension_below_128_is_silently_discarded(ext_type: int) -> None:
    """RFC 5944 §1.9: an unrecognised extension of type 0-127 makes the whole
    message be silently discarded: no reply."""
    home_agent = make_home_agent()
    header = RegistrationRequest(
        RequestFlag(0), 1800, HOME_ADDRESS, HOME_AGENT, CARE_OF_ADDRESS, ntp(SECONDS, 1)
    ).encode_header()
    data = authenticate(header + Extension(ext_type, b"xy").encode(), MHAE, MOBILE_NODE_SA)

    assert send(home_agent, data) == []
    assert home_agent.counters.datagrams_discarded == 1
    assert home_agent.counters.reg_replies_sent == 0
    assert home_agent.bindings() == []
    [event] = drain(home_agent)
    assert isinstance(event, DatagramDropped) and event.source == CARE_OF_ADDRESS


def test_unknown_extension_from_128_is_skipped() -> None:
    """RFC 5944 §1.9: an unrecognised extension of type 128-255 is skipped and
    the rest of the message processed (it stays covered by the MHAE)."""
    home_agent = make_home_agent()
    identification = ntp(SECONDS, 1)
    header = RegistrationRequest(
        RequestFlag(0), 1800, HOME_ADDRESS, HOME_AGENT, CARE_OF_ADDRESS, identification
    ).encode_header()
    data = authenticate(header + Extension(200, b"vendor").encode(), MHAE, MOBILE_NODE_SA)
    reply = one_reply(send(home_agent, data))
    assert reply.code == ReplyCode.ACCEPTED
    assert_mn_check(reply, identification)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x01", id="type-only"),
        pytest.param(b"\x01\x00\x07\x08\x0a\x01\x01", id="7-bytes"),
        pytest.param(request(ntp(SECONDS, 1))[:23], id="23-bytes"),
    ],
)
def test_request_too_short_to_name_a_home_address_is_discarded(data: bytes) -> None:
    """RFC 5944 §3.8.2.1: a request too short to carry its fixed part cannot be
    answered (there is no home address to reply about): discarded, counted."""
    home_agent = make_home_agent()
    assert send(home_agent, data) == []
    counters = home_agent.counters
    assert counters.datagrams_discarded == 1
    assert counters.reg_replies_sent == 0
    assert counters.poorly_formed_request == 0
    assert home_agent.mobile_nodes() == {}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x00" * 24, id="type-0"),
        pytest.param(RegistrationReply(0, 1800, HOME_ADDRESS, HOME_AGENT, 1).encode(), id="reply"),
        pytest.param(b"\x07" + b"\x00" * 23, id="revocation"),
    ],
)
def test_non_request_datagrams_are_discarded(data: bytes) -> None:
    """RFC 5944 §3.8: the home agent answers Registration Requests (type 1)
    only; anything else on port 434 is dropped without a reply."""
    home_agent = make_home_agent()
    assert send(home_agent, data) == []
    counters = home_agent.counters.as_dict()
    assert counters.pop("datagrams_discarded") == 1
    assert set(counters.values()) == {0}
    [event] = drain(home_agent)
    assert isinstance(event, DatagramDropped)


# -- unknown home agent address: 136 (§3.8.2.1, §3.8.3.2) ----------------------------------


def test_request_for_another_home_agent_is_denied_136_with_our_address() -> None:
    """RFC 5944 §3.8.2.1: the Home Agent field is not one of our addresses ->
    136, and the reply's Home Agent field carries our unicast address so the
    node can find us (dynamic home agent discovery, §3.8.3.2)."""
    home_agent = make_home_agent()
    identification = ntp(SECONDS, 9)
    reply = one_reply(send(home_agent, request(identification, home_agent=IPv4Address("10.1.1.2"))))
    assert reply.code == ReplyCode.HA_UNKNOWN_HOME_AGENT_ADDRESS
    assert reply.home_agent == HOME_AGENT
    assert reply.identification == identification
    assert_mn_check(reply, identification)
    assert home_agent.bindings() == []
    assert home_agent.counters.unknown_ha == 1
    node = home_agent.mobile_node(HOME_ADDRESS)
    assert node is not None
    assert (node.service_denied, node.recent_denied_code, node.recent_denied_time) == (1, 136, NOW)


def test_request_sent_to_home_network_broadcast_is_denied_136() -> None:
    """RFC 5944 §3.8.2.1: a request sent to the home subnet-directed broadcast
    is rejected 136 with our unicast address in the reply."""
    home_agent = make_home_agent()
    identification = ntp(SECONDS, 10)
    data = request(identification, home_agent=HOME_NETWORK.broadcast_address)
    out = send(home_agent, data, destination=HOME_NETWORK.broadcast_address)
    reply = one_reply(out)
    assert reply.code == ReplyCode.HA_UNKNOWN_HOME_AGENT_ADDRESS
    assert reply.home_agent == HOME_AGENT
    assert_mn_check(reply, identification)

    # Even with our own unicast address in the Home Agent field.
    out = send(home_agent, request(ntp(SECONDS, 11)), destination=HOME_NETWORK.broadcast_address)
    assert one_reply(out).code == ReplyCode.HA_UNKNOWN_HOME_AGENT_ADDRESS
    # Sent to our unicast address: accepted.
    out = send(home_agent, request(ntp(SECONDS, 12)), destination=HOME_AGENT)
    assert one_reply(out).code == ReplyCode.ACCEPTED
    assert home_agent.counters.unknown_ha == 2


# -- tunnelling options: 137, 138, 139 (RFC 3024 §4.3, RFC 5944 §3.8.2.1) ------------------------


@pytest.mark.parametrize(
    ("settings", "flags", "code"),
    [
        pytest.param(
            {"reverse_tunnel": False}, RequestFlag.REVERSE_TUNNELING, 137, id="137-T-unavailable"
        ),
        pytest.param({"reverse_tunnel_required": True}, RequestFlag(0), 138, id="138-T-mandatory"),
        pytest.param({}, RequestFlag.GRE, 139, id="139-gre"),
        pytest.param({}, RequestFlag.MINIMAL_ENCAPSULATION, 139, id="139-minimal"),
        pytest.param({}, RequestFlag.REVERSE_TUNNELING, 0, id="T-supported"),
        pytest.param(
            {"reverse_tunnel_required": True}, RequestFlag.REVERSE_TUNNELING, 0, id="T-required-set"
        ),
        pytest.param({"gre": True}, RequestFlag.GRE, 0, id="gre-supported"),
        pytest.param(
            {"minimal_encapsulation": True},
            RequestFlag.MINIMAL_ENCAPSULATION,
            0,
            id="minimal-supported",
        ),
    ],
)
def test_tunnelling_options_per_settings(
    settings: dict[str, Any], flags: RequestFlag, code: int
) -> None:
    """RFC 3024 §4.3: 137 when reverse tunnelling is requested but not offered,
    138 when it is mandatory and T is clear; RFC 5944 §3.8.2.1 / §4.1: 139 for
    an encapsulation we do not do (IP-in-IP is mandatory, GRE and minimal
    encapsulation optional)."""
    home_agent = make_home_agent(**settings)
    identification = ntp(SECONDS, 3)
    reply = one_reply(send(home_agent, request(identification, flags=flags)))
    assert reply.code == code
    assert_mn_check(reply, identification)
    if code:
        assert home_agent.bindings() == []
        assert drain(home_agent) == [
            RegistrationDenied(HOME_ADDRESS, HOME_AGENT, code, CARE_OF_ADDRESS)
        ]
    else:
        assert len(home_agent.bindings()) == 1
    assert_reply_codes_balance(home_agent)


def test_deregistration_is_not_refused_for_tunnelling_options() -> None:
    """RFC 3024 §4.3: the T bit governs bindings; a deregistration without it
    still removes the binding when reverse tunnelling is mandatory."""
    home_agent = make_home_agent(reverse_tunnel_required=True)
    register(home_agent, ntp(SECONDS, 1), flags=RequestFlag.REVERSE_TUNNELING)
    reply = one_reply(send(home_agent, request(ntp(SECONDS, 2), lifetime=0)))
    assert reply.code == ReplyCode.ACCEPTED
    assert home_agent.bindings() == []


# -- resources: 130 (§3.4) ---------------------------------------------------------------


def test_max_bindings_reached_is_denied_130() -> None:
    """RFC 5944 §3.4 code 130: insufficient resources once the binding table is
    full; moving an existing node (a replacement) still fits."""
    home_agent = make_home_agent(max_bindings=1)
    register(home_agent, ntp(SECONDS, 1))
    drain(home_agent)

    identification = ntp(SECONDS, 2)
    data = request(identification, home_address=OTHER_HOME_ADDRESS, sa=OTHER_NODE_SA)
    reply = one_reply(send(home_agent, data))
    assert reply.code == ReplyCode.HA_INSUFFICIENT_RESOURCES
    assert reply.identification == identification
    assert check_reply(reply, sent_identification=identification, sa=OTHER_NODE_SA).ok
    assert home_agent.counters.insufficient_resource == 1

    # A second simultaneous binding would not fit either.
    data = request(
        ntp(SECONDS, 3),
        care_of_address=SECOND_CARE_OF_ADDRESS,
        flags=RequestFlag.SIMULTANEOUS_BINDINGS,
    )
    assert one_reply(send(home_agent, data)).code == ReplyCode.HA_INSUFFICIENT_RESOURCES

    # Replacing the node's only binding does.
    register(home_agent, ntp(SECONDS, 4), care_of_address=SECOND_CARE_OF_ADDRESS)
    assert [b.care_of_address for b in home_agent.bindings()] == [SECOND_CARE_OF_ADDRESS]
    assert home_agent.binding_count == 1
    assert_reply_codes_balance(home_agent)


# -- counters (RFC 2006 haRegistrationGroup, haCounterTable) ------------------------------------


def test_counters_are_exact_over_a_mixed_sequence() -> None:
    """RFC 2006: haRegRequestsReceived counts every request and
    haDeRegRequestsReceived those with Lifetime 0; replies likewise; the code
    counters add up to haRegRepliesSent."""
    home_agent = make_home_agent(reverse_tunnel=False)
    register(home_agent, ntp(SECONDS, 1))  # 0
    send(home_agent, request(ntp(SECONDS, 2), flags=RequestFlag.REVERSE_TUNNELING))  # 137
    send(home_agent, request(ntp(SECONDS, 2), home_agent=IPv4Address("10.1.1.9")))  # 136
    send(home_agent, _bad_authenticator(ntp(SECONDS, 3)))  # 131
    send(home_agent, request(ntp(SECONDS, 1)))  # 133 (replay)
    send(
        home_agent, request(ntp(SECONDS, 4), lifetime=0, home_agent=IPv4Address("10.1.1.9"))
    )  # 136, dereg
    send(home_agent, request(ntp(SECONDS, 5), lifetime=0))  # 0, dereg
    send(home_agent, request(ntp(SECONDS, 6), flags=RequestFlag.RESERVED_R))  # 134
    send(home_agent, b"\x03" + bytes(19))  # not a request: discarded
    send(home_agent, request(ntp(SECONDS, 7))[:10])  # too short: discarded

    expected = {
        "registration_accepted": 2,
        "multi_binding_unsupported": 0,
        "reason_unspecified": 0,
        "admin_prohibited": 0,
        "insufficient_resource": 0,
        "mn_authentication_failure": 1,
        "fa_authentication_failure": 0,
        "id_mismatch": 1,
        "poorly_formed_request": 1,
        "too_many_bindings": 0,
        "unknown_ha": 2,
        "reverse_tunnel_unavailable": 1,
        "reverse_tunnel_mandatory": 0,
        "encapsulation_unavailable": 0,
        "gratuitous_arps_sent": 0,
        "proxy_arps_sent": 0,
        "reg_requests_received": 9,
        "dereg_requests_received": 2,
        "reg_replies_sent": 8,
        "dereg_replies_sent": 2,
        "datagrams_discarded": 2,
    }
    assert home_agent.counters.as_dict() == expected
    assert_reply_codes_balance(home_agent)

    node = home_agent.mobile_node(HOME_ADDRESS)
    assert node is not None
    assert node.service_accepted == 2
    assert node.service_denied == 6
    assert node.recent_denied_code == 134
    assert node.recent_accepted_time == NOW

    home_agent.clear_counters()
    assert set(home_agent.counters.as_dict().values()) == {0}


# -- management ----------------------------------------------------------------------------


def test_clear_binding_removes_every_binding_of_the_node() -> None:
    """Operator command (Cisco ``clear ip mobile binding``): every binding of the
    node goes, with a CLEARED event each; the deadlines go with them."""
    home_agent = make_home_agent()
    simultaneous = RequestFlag.SIMULTANEOUS_BINDINGS
    register(home_agent, ntp(SECONDS, 1), care_of_address=CARE_OF_ADDRESS, flags=simultaneous)
    register(
        home_agent, ntp(SECONDS, 2), care_of_address=SECOND_CARE_OF_ADDRESS, flags=simultaneous
    )
    drain(home_agent)

    assert home_agent.clear_binding(HOME_ADDRESS, NOW + 60) == 2
    assert drain(home_agent) == [
        BindingDeleted(HOME_ADDRESS, CARE_OF_ADDRESS, RemovalReason.CLEARED),
        BindingDeleted(HOME_ADDRESS, SECOND_CARE_OF_ADDRESS, RemovalReason.CLEARED),
    ]
    assert home_agent.bindings() == []
    assert home_agent.binding_count == 0
    assert home_agent.get_timer() is None
    assert home_agent.datagrams_to_send() == []
    node = home_agent.mobile_node(HOME_ADDRESS)
    assert node is not None and node.overall_service_time == 120
    assert home_agent.clear_binding(HOME_ADDRESS, NOW + 61) == 0
    assert home_agent.clear_binding(UNKNOWN_HOME_ADDRESS, NOW + 61) == 0


def test_bindings_are_listed_in_mib_index_order() -> None:
    """RFC 2006 haMobilityBindingTable INDEX {MN, COA}: numeric order."""
    home_agent = make_home_agent()
    simultaneous = RequestFlag.SIMULTANEOUS_BINDINGS
    register(home_agent, ntp(SECONDS, 1), home_address=OTHER_HOME_ADDRESS, sa=OTHER_NODE_SA)
    register(home_agent, ntp(SECONDS, 2), care_of_address=THIRD_CARE_OF_ADDRESS, flags=simultaneous)
    register(home_agent, ntp(SECONDS, 3), care_of_address=CARE_OF_ADDRESS, flags=simultaneous)
    assert [(b.home_address, b.care_of_address) for b in home_agent.bindings()] == [
        (HOME_ADDRESS, CARE_OF_ADDRESS),
        (HOME_ADDRESS, THIRD_CARE_OF_ADDRESS),
        (OTHER_HOME_ADDRESS, CARE_OF_ADDRESS),
    ]


def test_no_key_material_in_any_repr() -> None:
    """RFC 5944 §5.1 keys are secrets: no event, binding, node record,
    violation row or SA may show key bytes when logged."""
    home_agent = make_home_agent(peers=_peers())
    seen: list[Any] = []
    register(home_agent, ntp(SECONDS, 1))
    data = authenticate(request(ntp(SECONDS, 2)), FHAE, FOREIGN_AGENT_SA)
    send(home_agent, data, source=FOREIGN_AGENT)  # accepted (refresh)
    send(home_agent, request(ntp(SECONDS, 3)), source=FOREIGN_AGENT)  # 132
    send(home_agent, _bad_authenticator(ntp(SECONDS, 4)))  # 131
    send(home_agent, request(ntp(SECONDS, 1)))  # 133
    seen.extend(drain(home_agent))
    seen.extend(home_agent.bindings())
    seen.extend(home_agent.mobile_nodes().values())
    seen.extend(home_agent.violations.rows())
    seen.extend((MOBILE_NODE_SA, FOREIGN_AGENT_SA, home_agent.settings))
    home_agent.handle_timer(NOW + 1800)
    seen.extend(drain(home_agent))
    kinds = {type(item).__name__ for item in seen}
    assert {
        "BindingCreated",
        "BindingRefreshed",
        "BindingDeleted",
        "AuthenticationFailed",
        "RegistrationDenied",
        "Binding",
        "MobileNode",
        "Violation",
    } <= kinds
    for item in seen:
        text = repr(item)
        for key in ALL_KEYS:
            assert key.hex() not in text.lower()
            assert repr(key) not in text
            assert key.hex()[:8] not in text.lower()
