"""Agent Advertisement and Agent Solicitation codec (RFC 5944 §2.1, §2.2;
RFC 1256 §3, §4.2, §5.2), tested directly.

Expected bytes are built here by hand with ``struct`` and a checksum written
here (RFC 1071), not with the code under test. Faults are the one typed
``DecodeError`` with its ``DecodeFault``, as for registration messages.
"""

from __future__ import annotations

import random
import struct
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.mobileip.advertisement import (
    CODE_MOBILITY_ONLY,
    CODE_NORMAL_ROUTER,
    FLAG2_REGIONAL_REGISTRATION,
    FLAG2_RESERVED,
    FLAG2_REVOCATION,
    FLAG2_UDP_TUNNELLING,
    MAX_CARE_OF_ADDRESSES,
    MAX_MESSAGE_SIZE,
    PREFERENCE_NOT_A_DEFAULT_ROUTER,
    AgentAdvertisement,
    AgentSolicitation,
    decode_advertisement,
    decode_solicitation,
    encode_solicitation,
    is_solicitation,
    next_sequence,
)
from agent.mobileip.errors import ConfigurationError, DecodeError, DecodeFault
from agent.mobileip.events import DatagramDropped
from agent.mobileip.extensions import Extension
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.numbers import AdvertisementFlag
from agent.mobileip.outputs import Channel
from agent.mobileip.security import SecurityAssociationTable

F = AdvertisementFlag
FOREIGN_AGENT = IPv4Address("192.0.2.1")
CARE_OF = IPv4Address("192.0.2.1")
SECOND_CARE_OF = IPv4Address("192.0.2.2")
ROUTER = IPv4Address("192.0.2.254")
NOW = 1_800_000_000.0


# -- an independent encoder: struct and RFC 1071 written out here -----------------------


def rfc1071(data: bytes) -> int:
    """RFC 1071 §4.1, word by word with the end-around carry folded each step."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for index in range(0, len(data), 2):
        total += (data[index] << 8) | data[index + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def checksummed(message: bytes) -> bytes:
    zeroed = message[:2] + b"\x00\x00" + message[4:]
    return zeroed[:2] + rfc1071(zeroed).to_bytes(2, "big") + zeroed[4:]


def maae(
    *,
    sequence: int = 1,
    registration_lifetime: int = 600,
    flags: int = 0x90,
    flags2: int = 0,
    coas: tuple[IPv4Address, ...] = (CARE_OF,),
    length: int | None = None,
) -> bytes:
    """Mobility Agent Advertisement extension, RFC 5944 §2.1.1."""
    body = struct.pack("!HHBB", sequence, registration_lifetime, flags, flags2)
    body += b"".join(a.packed for a in coas)
    return bytes((16, len(body) if length is None else length)) + body


def router_advertisement(
    extensions: bytes = b"",
    *,
    icmp_type: int = 9,
    code: int = 16,
    routers: tuple[tuple[IPv4Address, int], ...] = (),
    entry_size: int = 2,
    lifetime: int = 1800,
    num_addrs: int | None = None,
    extra_words: bytes = b"",
) -> bytes:
    """RFC 1256 §3 header and entries, then ``extensions``, checksummed."""
    entries = b"".join(a.packed + struct.pack("!i", p) + extra_words for a, p in routers)
    header = struct.pack(
        "!BBHBBH",
        icmp_type,
        code,
        0,
        len(routers) if num_addrs is None else num_addrs,
        entry_size,
        lifetime,
    )
    return checksummed(header + entries + extensions)


def fault_of(data: bytes, *, strict_reserved: bool = True) -> DecodeFault:
    with pytest.raises(DecodeError) as caught:
        decode_advertisement(data, strict_reserved=strict_reserved)
    return caught.value.fault


# -- round trips and exact layout --------------------------------------------------------

SAMPLES = {
    "foreign-agent": AgentAdvertisement(
        sequence=0, registration_lifetime=600, flags=F.FOREIGN_AGENT | F.REGISTRATION_REQUIRED,
        care_of_addresses=(CARE_OF,),
    ),
    "home-agent-code-0": AgentAdvertisement(
        sequence=257, registration_lifetime=0xFFFF, flags=F.HOME_AGENT, care_of_addresses=(),
        code=CODE_NORMAL_ROUTER, advertisement_lifetime=9000,
        router_addresses=((ROUTER, 10),),
    ),
    "ha-and-fa-two-coas": AgentAdvertisement(
        sequence=0xFFFF, registration_lifetime=1, flags=F.HOME_AGENT | F.FOREIGN_AGENT | F.BUSY,
        care_of_addresses=(CARE_OF, SECOND_CARE_OF), advertisement_lifetime=0,
    ),
    "prefix-lengths": AgentAdvertisement(
        sequence=5, registration_lifetime=300, flags=F.FOREIGN_AGENT | F.REVERSE_TUNNELING,
        care_of_addresses=(CARE_OF,),
        router_addresses=((FOREIGN_AGENT, PREFERENCE_NOT_A_DEFAULT_ROUTER), (ROUTER, -7)),
        prefix_lengths=(24, 32),
    ),
    "prefix-lengths-empty": AgentAdvertisement(
        sequence=6, registration_lifetime=300, flags=F.FOREIGN_AGENT,
        care_of_addresses=(CARE_OF,), prefix_lengths=(),
    ),
    "padded": AgentAdvertisement(
        sequence=7, registration_lifetime=300, flags=F.FOREIGN_AGENT, care_of_addresses=(CARE_OF,),
        prefix_lengths=(), padded=True,
    ),
    "u-x-i": AgentAdvertisement(
        sequence=8, registration_lifetime=300, flags=F.FOREIGN_AGENT, care_of_addresses=(CARE_OF,),
        flags2=FLAG2_UDP_TUNNELLING | FLAG2_REVOCATION | FLAG2_REGIONAL_REGISTRATION,
    ),
    "skippable-200": AgentAdvertisement(
        sequence=9, registration_lifetime=300, flags=F.FOREIGN_AGENT, care_of_addresses=(CARE_OF,),
        extensions=(Extension(200, b"abc", 20),),
    ),
    "most-care-of-addresses": AgentAdvertisement(
        sequence=10, registration_lifetime=300, flags=F.FOREIGN_AGENT,
        care_of_addresses=tuple(IPv4Address(0x0A000001 + i) for i in range(MAX_CARE_OF_ADDRESSES)),
    ),
}


def expected_wire(advertisement: AgentAdvertisement) -> bytes:
    """The same record, laid out by hand (RFC 1256 §3, RFC 5944 §2.1.1-§2.1.3)."""
    extensions = maae(
        sequence=advertisement.sequence,
        registration_lifetime=advertisement.registration_lifetime,
        flags=int(advertisement.flags),
        flags2=advertisement.flags2,
        coas=advertisement.care_of_addresses,
    )
    if advertisement.prefix_lengths is not None:
        extensions += bytes((19, len(advertisement.prefix_lengths), *advertisement.prefix_lengths))
    for ext in advertisement.extensions:
        extensions += bytes((ext.type, len(ext.data))) + ext.data
    if advertisement.padded:
        extensions += b"\x00"
    return router_advertisement(
        extensions,
        code=advertisement.code,
        routers=advertisement.router_addresses,
        lifetime=advertisement.advertisement_lifetime,
    )


@pytest.mark.parametrize("name", SAMPLES)
def test_round_trip_and_layout(name: str) -> None:
    advertisement = SAMPLES[name]
    wire = advertisement.encode()
    assert wire == expected_wire(advertisement)
    assert rfc1071(wire) == 0
    decoded = decode_advertisement(wire)
    assert decoded == advertisement
    assert decoded.encode() == wire


def test_field_offsets_of_a_foreign_agent_advertisement() -> None:
    """RFC 1256 §3 / RFC 5944 §2.1.1 byte positions, read back by hand."""
    wire = SAMPLES["prefix-lengths"].encode()
    assert wire[0] == 9 and wire[1] == CODE_MOBILITY_ONLY
    assert wire[4:8] == bytes((2, 2)) + (1800).to_bytes(2, "big")
    assert wire[8:16] == FOREIGN_AGENT.packed + bytes.fromhex("80000000")
    assert wire[16:24] == ROUTER.packed + (-7).to_bytes(4, "big", signed=True)
    assert wire[24:26] == bytes((16, 10))
    assert struct.unpack_from("!HHBB", wire, 26) == (5, 300, 0x11, 0)
    assert wire[32:36] == CARE_OF.packed
    assert wire[36:] == bytes((19, 2, 24, 32))


def test_solicitation_round_trip_and_layout() -> None:
    """RFC 1256 §3: type 10, code 0, checksum, 32-bit reserved = 0."""
    wire = encode_solicitation()
    assert wire == checksummed(bytes((10, 0, 0, 0, 0, 0, 0, 0)))
    assert wire == bytes.fromhex("0a00f5ff00000000")
    assert decode_solicitation(wire) == AgentSolicitation(0)
    assert is_solicitation(wire)


# -- every flag bit (RFC 5944 §2.1.1) -----------------------------------------------------

FIRST_OCTET = [
    ("R", 0x80, "registration_required"),
    ("B", 0x40, "busy"),
    ("H", 0x20, "is_home_agent"),
    ("F", 0x10, "is_foreign_agent"),
    ("M", 0x08, None),
    ("G", 0x04, None),
    ("T", 0x01, "reverse_tunnelling"),
]
SECOND_OCTET = [
    ("U", FLAG2_UDP_TUNNELLING, "udp_tunnelling"),
    ("X", FLAG2_REVOCATION, "revocation_support"),
    ("I", FLAG2_REGIONAL_REGISTRATION, "regional_registration"),
]
PROPERTIES = [p for _, _, p in FIRST_OCTET + SECOND_OCTET if p is not None]


@pytest.mark.parametrize(("name", "bit", "prop"), FIRST_OCTET, ids=[n for n, _, _ in FIRST_OCTET])
def test_each_first_octet_flag(name: str, bit: int, prop: str | None) -> None:
    wire = router_advertisement(maae(flags=bit))
    decoded = decode_advertisement(wire)
    assert int(decoded.flags) == bit and decoded.flags2 == 0
    assert AgentAdvertisement(1, 600, F(bit), (CARE_OF,)).encode() == wire
    assert wire[14] == bit  # first flags octet: 8 header + type, length, seq, lifetime
    for other in PROPERTIES:
        assert getattr(decoded, other) is (other == prop), other


@pytest.mark.parametrize(("name", "bit", "prop"), SECOND_OCTET, ids=[n for n, _, _ in SECOND_OCTET])
def test_each_second_octet_flag(name: str, bit: int, prop: str) -> None:
    wire = router_advertisement(maae(flags=0x10, flags2=bit))
    decoded = decode_advertisement(wire)
    assert decoded.flags2 == bit and wire[15] == bit
    assert AgentAdvertisement(1, 600, F.FOREIGN_AGENT, (CARE_OF,), flags2=bit).encode() == wire
    for other in PROPERTIES:
        assert getattr(decoded, other) is (other in (prop, "is_foreign_agent")), other


@pytest.mark.parametrize(
    ("flags", "flags2", "shown"),
    [(0x10 | 0x02, 0, 0x0200)] + [(0x10, bit, bit) for bit in (0x10, 0x08, 0x04, 0x02, 0x01)],
    ids=["r"] + [f"reserved-0x{bit:02x}" for bit in (0x10, 0x08, 0x04, 0x02, 0x01)],
)
def test_reserved_bits_are_refused_unless_lenient(flags: int, flags2: int, shown: int) -> None:
    """RFC 5944 §2.1.1: r and the five low bits of the second octet are sent as
    zero. Strict decoding refuses them (as ``decode_request`` refuses r/x);
    lenient decoding keeps them as received, and re-encodes them unchanged."""
    wire = router_advertisement(maae(flags=flags, flags2=flags2))
    assert fault_of(wire) is DecodeFault.RESERVED_BITS_SET
    decoded = decode_advertisement(wire, strict_reserved=False)
    assert decoded.reserved_bits == shown
    assert (int(decoded.flags), decoded.flags2) == (flags, flags2)
    assert decoded.encode() == wire


def test_all_flags_lenient() -> None:
    wire = router_advertisement(maae(flags=0xFF, flags2=0xFF))
    decoded = decode_advertisement(wire, strict_reserved=False)
    assert all(getattr(decoded, p) for p in PROPERTIES)
    assert decoded.reserved_bits == 0x0200 | FLAG2_RESERVED


# -- ICMP header, router addresses (RFC 1256 §3, §5.2; RFC 5944 §2.1) ------------------


@pytest.mark.parametrize("code", [c for c in range(256) if c not in (0, 16)][::7] + [1, 255])
def test_codes_other_than_0_and_16_are_refused(code: int) -> None:
    assert fault_of(router_advertisement(maae(), code=code)) is DecodeFault.BAD_FIELD


def test_wrong_icmp_type() -> None:
    assert fault_of(router_advertisement(maae(), icmp_type=10)) is DecodeFault.WRONG_TYPE
    assert fault_of(router_advertisement(maae(), icmp_type=0)) is DecodeFault.WRONG_TYPE


@pytest.mark.parametrize("entry_size", [0, 1])
def test_address_entry_size_below_two_is_refused(entry_size: int) -> None:
    """RFC 1256 §5.2: Addr Entry Size >= 2 (also with Num Addrs 0)."""
    assert fault_of(router_advertisement(maae(), entry_size=entry_size)) is DecodeFault.BAD_FIELD


def test_larger_address_entries_skip_the_extra_words() -> None:
    """RFC 1256 §3: an entry may be longer than address + preference; the words
    after the first two are ignored, and the extensions start after all of them."""
    wire = router_advertisement(
        maae() + bytes((19, 2, 24, 16)),
        routers=((ROUTER, 5), (FOREIGN_AGENT, -1)),
        entry_size=3,
        extra_words=b"\xde\xad\xbe\xef",
    )
    decoded = decode_advertisement(wire)
    assert decoded.router_addresses == ((ROUTER, 5), (FOREIGN_AGENT, -1))
    assert decoded.prefix_lengths == (24, 16)
    assert decoded.care_of_addresses == (CARE_OF,)


def test_no_router_address_is_allowed() -> None:
    """RFC 5944 §2.1: Num Addrs MAY be 0 in an Agent Advertisement."""
    assert decode_advertisement(router_advertisement(maae())).router_addresses == ()


def test_num_addrs_beyond_the_message_is_truncated() -> None:
    wire = router_advertisement(maae(), num_addrs=4)  # 32 bytes claimed, 14 there
    assert fault_of(wire) is DecodeFault.TRUNCATED


def test_a_plain_router_advertisement_is_not_an_agent_advertisement() -> None:
    wire = router_advertisement(routers=((ROUTER, 0),), code=0)
    assert fault_of(wire) is DecodeFault.BAD_FIELD


# -- the Mobility Agent Advertisement extension itself ----------------------------------


@pytest.mark.parametrize("length", [0, 5, 7, 8, 9, 11])
def test_mobility_extension_length_must_be_6_plus_4n(length: int) -> None:
    body = maae(coas=(CARE_OF, SECOND_CARE_OF))[2:]
    wire = router_advertisement(bytes((16, length)) + body[:length])
    assert fault_of(wire) is DecodeFault.BAD_EXTENSION_LENGTH


def test_foreign_agent_without_care_of_address_is_refused() -> None:
    """RFC 5944 §2.1.1: F set => at least one care-of address."""
    assert fault_of(router_advertisement(maae(flags=0x10, coas=()))) is DecodeFault.BAD_FIELD
    home_only = decode_advertisement(router_advertisement(maae(flags=0x20, coas=())))
    assert home_only.is_home_agent and home_only.care_of_addresses == ()


def test_two_mobility_extensions_are_refused() -> None:
    assert fault_of(router_advertisement(maae() + maae(sequence=2))) is DecodeFault.BAD_FIELD


# -- padding (type 0) and Prefix-Lengths (type 19) ----------------------------------------


def test_padding_anywhere_is_stepped_over() -> None:
    """RFC 5944 §2.1.3: a one-octet extension without Length. "SHOULD NOT"
    more than one, "SHOULD" be last: rules for the sender, so a receiver
    steps over padding wherever it is."""
    for extensions in (
        maae() + b"\x00",
        b"\x00" + maae(),
        maae() + b"\x00" + bytes((19, 0)),
        maae() + b"\x00\x00\x00",
    ):
        decoded = decode_advertisement(router_advertisement(extensions))
        assert decoded.padded
        assert decoded.care_of_addresses == (CARE_OF,)


def test_padding_makes_an_odd_message_even_and_the_checksum_covers_odd_lengths() -> None:
    plain = AgentAdvertisement(1, 600, F.FOREIGN_AGENT, (CARE_OF,), prefix_lengths=(),)
    padded = AgentAdvertisement(1, 600, F.FOREIGN_AGENT, (CARE_OF,), prefix_lengths=(),
                                padded=True)
    assert len(plain.encode()) % 2 == 0 and len(padded.encode()) % 2 == 1
    odd = AgentAdvertisement(1, 600, F.FOREIGN_AGENT, (CARE_OF,),
                             router_addresses=((ROUTER, 0),), prefix_lengths=(24,))
    assert len(odd.encode()) % 2 == 1
    assert rfc1071(odd.encode()) == 0  # RFC 1071: the odd byte is padded with zero
    assert decode_advertisement(odd.encode()) == odd
    padded_odd = AgentAdvertisement(1, 600, F.FOREIGN_AGENT, (CARE_OF,),
                                    router_addresses=((ROUTER, 0),), prefix_lengths=(24,),
                                    padded=True)
    assert len(padded_odd.encode()) % 2 == 0


def test_padding_alone_is_no_advertisement() -> None:
    assert fault_of(router_advertisement(b"\x00\x00")) is DecodeFault.BAD_FIELD


@pytest.mark.parametrize(("routers", "lengths"), [(0, 1), (1, 0), (1, 2), (2, 1)])
def test_prefix_lengths_count_must_equal_num_addrs(routers: int, lengths: int) -> None:
    """RFC 5944 §2.1.2: Length = N, the Num Addrs of the RFC 1256 part."""
    entries = tuple((IPv4Address(0xC0000201 + i), 0) for i in range(routers))
    wire = router_advertisement(maae() + bytes((19, lengths, *([24] * lengths))), routers=entries)
    assert fault_of(wire) is DecodeFault.BAD_EXTENSION_LENGTH
    with pytest.raises(ConfigurationError, match="prefix lengths"):
        AgentAdvertisement(1, 600, F.FOREIGN_AGENT, (CARE_OF,), router_addresses=entries,
                           prefix_lengths=(24,) * lengths).encode()


@pytest.mark.parametrize("length", [0, 1, 31, 32])
def test_prefix_lengths_0_to_32(length: int) -> None:
    wire = router_advertisement(maae() + bytes((19, 1, length)), routers=((ROUTER, 0),))
    assert decode_advertisement(wire).prefix_lengths == (length,)


@pytest.mark.parametrize("length", [33, 64, 255])
def test_prefix_length_above_32_is_refused(length: int) -> None:
    wire = router_advertisement(maae() + bytes((19, 1, length)), routers=((ROUTER, 0),))
    assert fault_of(wire) is DecodeFault.BAD_FIELD


def test_two_prefix_lengths_extensions_are_refused() -> None:
    wire = router_advertisement(maae() + bytes((19, 0, 19, 0)))
    assert fault_of(wire) is DecodeFault.BAD_FIELD


def test_prefix_lengths_before_the_mobility_extension_is_read() -> None:
    wire = router_advertisement(bytes((19, 1, 24)) + maae(), routers=((ROUTER, 0),))
    assert decode_advertisement(wire).prefix_lengths == (24,)


# -- unknown extensions (RFC 5944 §1.9) ----------------------------------------------------

UNKNOWN_TYPES = [t for t in range(1, 256) if t not in (16, 19)]


@pytest.mark.parametrize("ext_type", UNKNOWN_TYPES)
@pytest.mark.parametrize("where", ["after", "before"])
def test_unknown_extension_0_127_voids_128_255_is_skipped(ext_type: int, where: str) -> None:
    """RFC 5944 §1.9: not recognised, 0-127 => the whole message is silently
    discarded; 128-255 => that extension is skipped by its Length and the rest
    is still processed. Advertisements number extensions apart from UDP/434
    messages, so 32 (MHAE there) is unknown here."""
    unknown = bytes((ext_type, 3)) + b"xyz"
    extensions = maae() + unknown + bytes((19, 0)) if where == "after" else unknown + maae()
    wire = router_advertisement(extensions)
    if ext_type < 128:
        with pytest.raises(DecodeError) as caught:
            decode_advertisement(wire)
        assert caught.value.fault is DecodeFault.UNKNOWN_NON_SKIPPABLE_EXTENSION
        assert caught.value.silently_discard
        assert str(ext_type) in caught.value.detail
    else:
        decoded = decode_advertisement(wire)
        assert [(e.type, e.data) for e in decoded.extensions] == [(ext_type, b"xyz")]
        assert decoded.care_of_addresses == (CARE_OF,) and decoded.sequence == 1
        if where == "after":
            assert decoded.prefix_lengths == ()


def test_skippable_extension_is_bounds_checked() -> None:
    assert fault_of(router_advertisement(maae() + bytes((200, 5)) + b"abc")) is DecodeFault.TRUNCATED


# -- truncation at every byte --------------------------------------------------------------

RICH = AgentAdvertisement(
    sequence=300, registration_lifetime=600, flags=F.FOREIGN_AGENT | F.REGISTRATION_REQUIRED,
    care_of_addresses=(CARE_OF, SECOND_CARE_OF),
    router_addresses=((FOREIGN_AGENT, PREFERENCE_NOT_A_DEFAULT_ROUTER),),
    prefix_lengths=(24,), extensions=(Extension(200, b"ab", 0),), padded=True,
)


def test_truncation_at_every_byte() -> None:
    """Every strict prefix of a valid advertisement is refused. As it stands its
    checksum no longer matches (BAD_CHECKSUM; under 8 bytes TRUNCATED), unless
    only zero bytes were cut, which RFC 1071 cannot see. With the checksum made
    right again the structural check speaks: TRUNCATED, except cuts on an
    extension boundary, which are shorter valid messages (or, with no mobility
    extension left, BAD_FIELD)."""
    wire = RICH.encode()
    mobility_end = 16 + 2 + 6 + 8
    prefix_end = mobility_end + 3
    skippable_end = prefix_end + 4
    boundaries = {mobility_end, prefix_end, skippable_end}
    assert len(wire) == skippable_end + 1
    for cut in range(len(wire)):
        prefix = wire[:cut]
        if cut < 8:
            assert fault_of(prefix) is DecodeFault.TRUNCATED
            continue
        fixed = checksummed(prefix)
        if rfc1071(prefix) != 0:
            assert fault_of(prefix) is DecodeFault.BAD_CHECKSUM, cut
        else:
            assert prefix == fixed  # only zeros were cut: the same message
        if cut in boundaries:
            decoded = decode_advertisement(fixed)
            assert decoded.care_of_addresses == RICH.care_of_addresses
            assert decoded.encode() == fixed, cut
        elif cut == 16:
            assert fault_of(fixed) is DecodeFault.BAD_FIELD  # routers only, no type 16
        else:
            assert fault_of(fixed) is DecodeFault.TRUNCATED, cut


def test_solicitation_truncation_at_every_byte() -> None:
    wire = encode_solicitation()
    for cut in range(len(wire)):
        with pytest.raises(DecodeError) as caught:
            decode_solicitation(wire[:cut], strict_reserved=False)
        assert caught.value.fault is DecodeFault.TRUNCATED
        assert not is_solicitation(wire[:cut], strict_reserved=False)


# -- oversized and trailing input ------------------------------------------------------------


def filled_to(size: int) -> bytes:
    """A valid advertisement of exactly ``size`` bytes (skippable extensions)."""
    head = router_advertisement(maae())
    remaining = size - len(head)
    filler = b""
    while remaining >= 2:
        take = min(remaining - 2, 255)
        if remaining - (take + 2) == 1:  # never leave a lone byte
            take -= 1
        filler += bytes((200, take)) + bytes(take)
        remaining -= take + 2
    return checksummed(head + filler + b"\x00" * remaining)


def test_oversized_advertisement_is_refused() -> None:
    exact = filled_to(MAX_MESSAGE_SIZE)
    assert len(exact) == MAX_MESSAGE_SIZE
    assert decode_advertisement(exact).care_of_addresses == (CARE_OF,)
    over = filled_to(MAX_MESSAGE_SIZE + 1)
    assert fault_of(over) is DecodeFault.OVERSIZED
    assert fault_of(over, strict_reserved=False) is DecodeFault.OVERSIZED
    assert fault_of(over + bytes(60_000)) is DecodeFault.OVERSIZED


def test_encoder_refuses_to_build_an_oversized_advertisement() -> None:
    fat = AgentAdvertisement(1, 600, F.FOREIGN_AGENT, (CARE_OF,),
                             extensions=tuple(Extension(200, bytes(255)) for _ in range(6)))
    with pytest.raises(ConfigurationError, match="bytes >"):
        fat.encode()


def test_trailing_bytes_after_the_extensions_are_refused() -> None:
    """Everything after the router entries is extensions: a byte that is not
    padding cannot be a whole extension (as ``single-trailing-byte`` for
    registration messages)."""
    for tail in (b"\x10", b"\xc8", b"\x13", b"\x01"):
        assert fault_of(router_advertisement(maae() + tail)) is DecodeFault.TRUNCATED


def test_solicitation_faults() -> None:
    """RFC 1256 §4.2: checksum valid, code 0, >= 8 octets. The Reserved field
    and octets after 8 are "ignored": strict decoding refuses them, lenient
    decoding ignores them."""
    valid = encode_solicitation()
    reserved = checksummed(bytes((10, 0, 0, 0, 0, 0, 0, 1)))
    trailing = checksummed(valid + b"\x00\x01")
    cases = [
        (checksummed(bytes((10, 1, 0, 0, 0, 0, 0, 0))), DecodeFault.BAD_FIELD, DecodeFault.BAD_FIELD),
        (valid[:2] + b"\x00\x00" + valid[4:], DecodeFault.BAD_CHECKSUM, DecodeFault.BAD_CHECKSUM),
        (checksummed(bytes((9, 0, 0, 0, 0, 0, 0, 0))), DecodeFault.WRONG_TYPE, DecodeFault.WRONG_TYPE),
        (reserved, DecodeFault.RESERVED_BITS_SET, None),
        (trailing, DecodeFault.TRAILING_DATA, None),
        (checksummed(valid + bytes(MAX_MESSAGE_SIZE)), DecodeFault.OVERSIZED, DecodeFault.OVERSIZED),
    ]
    for data, strict, lenient in cases:
        with pytest.raises(DecodeError) as caught:
            decode_solicitation(data)
        assert caught.value.fault is strict
        assert not is_solicitation(data)
        if lenient is None:
            assert decode_solicitation(data, strict_reserved=False).reserved == (
                1 if data is reserved else 0
            )
        else:
            with pytest.raises(DecodeError) as caught:
                decode_solicitation(data, strict_reserved=False)
            assert caught.value.fault is lenient


# -- checksum -------------------------------------------------------------------------------


def test_checksum_matches_an_independent_rfc1071() -> None:
    for advertisement in SAMPLES.values():
        wire = advertisement.encode()
        assert int.from_bytes(wire[2:4], "big") == rfc1071(wire[:2] + b"\x00\x00" + wire[4:])


def test_every_single_bit_flip_is_caught() -> None:
    """A one-bit error always changes the ones'-complement sum (RFC 1071): the
    type octet is checked first (WRONG_TYPE), every other bit is BAD_CHECKSUM."""
    wire = RICH.encode()
    for position in range(len(wire)):
        for bit in range(8):
            flipped = bytearray(wire)
            flipped[position] ^= 1 << bit
            expected = DecodeFault.WRONG_TYPE if position == 0 else DecodeFault.BAD_CHECKSUM
            assert fault_of(bytes(flipped)) is expected, (position, bit)
    solicitation = bytearray(encode_solicitation())
    solicitation[6] ^= 0x40
    with pytest.raises(DecodeError) as caught:
        decode_solicitation(bytes(solicitation), strict_reserved=False)
    assert caught.value.fault is DecodeFault.BAD_CHECKSUM


def test_negative_zero_checksum_is_accepted() -> None:
    """RFC 1071 ones'-complement: 0x0000 and 0xffff are the same sum. A message
    whose checksum is 0xffff is also valid with 0x0000 written, and vice versa."""
    # Find a message whose computed checksum is 0x0000 by choosing the lifetime.
    base = router_advertisement(maae())
    for lifetime in range(0x10000):
        candidate = base[:6] + lifetime.to_bytes(2, "big") + base[8:]
        if rfc1071(candidate[:2] + b"\x00\x00" + candidate[4:]) == 0:
            break
    else:
        raise AssertionError("no lifetime gives checksum 0")
    zero = candidate[:2] + b"\x00\x00" + candidate[4:]
    negative_zero = candidate[:2] + b"\xff\xff" + candidate[4:]
    assert decode_advertisement(zero).advertisement_lifetime == lifetime
    assert decode_advertisement(negative_zero).advertisement_lifetime == lifetime


# -- what the encoder refuses (local misuse: ConfigurationError) ---------------------------


@pytest.mark.parametrize(
    ("record", "match"),
    [
        (AgentAdvertisement(1, 600, F.FOREIGN_AGENT, ()), "F set"),
        (AgentAdvertisement(1, 600, F.FOREIGN_AGENT,
                            tuple(IPv4Address(i + 1) for i in range(MAX_CARE_OF_ADDRESSES + 1))),
         "care-of addresses"),
        (AgentAdvertisement(0x10000, 600, F.HOME_AGENT, ()), "sequence"),
        (AgentAdvertisement(1, -1, F.HOME_AGENT, ()), "registration lifetime"),
        (AgentAdvertisement(1, 600, F.HOME_AGENT, (), advertisement_lifetime=70_000), "advertisement"),
        (AgentAdvertisement(1, 600, F.HOME_AGENT, (), code=3), "code"),
        (AgentAdvertisement(1, 600, F.HOME_AGENT, (), router_addresses=((ROUTER, 0),),
                            prefix_lengths=(33,)), "0-32"),
        (AgentAdvertisement(1, 600, F.HOME_AGENT, (), router_addresses=((ROUTER, 2**31),)), "signed"),
        (AgentAdvertisement(1, 600, F.HOME_AGENT, (), extensions=(Extension(24, b""),)), "skippable"),
        (AgentAdvertisement(1, 600, F.HOME_AGENT, (), flags2=0x100), "two octets"),
    ],
)
def test_encoder_refuses_what_no_receiver_accepts(record: AgentAdvertisement, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        record.encode()


def test_solicitation_reserved_field_must_be_32_bit() -> None:
    with pytest.raises(ConfigurationError):
        AgentSolicitation(2**32).encode()


def test_sequence_after_0xffff_is_256() -> None:
    """RFC 5944 §2.3.2."""
    assert [next_sequence(s) for s in (0, 255, 0xFFFE, 0xFFFF)] == [1, 256, 0xFFFF, 256]


# -- fuzz: only DecodeError ever escapes ---------------------------------------------------


def _decode_all_ways(data: bytes) -> None:
    for strict in (True, False):
        try:
            decoded = decode_advertisement(data, strict_reserved=strict)
        except DecodeError:
            pass
        else:
            # What decodes re-encodes, and reads back the same.
            again = decoded.encode()
            assert _normalised(decode_advertisement(again, strict_reserved=strict)) == _normalised(
                decoded
            )
        try:
            decode_solicitation(data, strict_reserved=strict)
        except DecodeError:
            pass


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_decode_error(data: bytes) -> None:
    _decode_all_ways(data)
    _decode_all_ways(checksummed(bytes((9,)) + data) if len(data) >= 7 else data)
    _decode_all_ways(checksummed(bytes((10,)) + data) if len(data) >= 7 else data)


addresses = st.builds(IPv4Address, st.integers(0, 2**32 - 1))


@st.composite
def advertisements(draw: st.DrawFn) -> AgentAdvertisement:
    routers = draw(st.lists(st.tuples(addresses, st.integers(-(2**31), 2**31 - 1)), max_size=4))
    flags = draw(st.integers(0, 255)) & ~0x02
    coas = draw(st.lists(addresses, min_size=1 if flags & 0x10 else 0, max_size=5))
    return AgentAdvertisement(
        sequence=draw(st.integers(0, 0xFFFF)),
        registration_lifetime=draw(st.integers(0, 0xFFFF)),
        flags=F(flags),
        care_of_addresses=tuple(coas),
        advertisement_lifetime=draw(st.integers(0, 0xFFFF)),
        router_addresses=tuple(routers),
        prefix_lengths=draw(st.none() | st.just(tuple(draw(st.lists(
            st.integers(0, 32), min_size=len(routers), max_size=len(routers)))))),
        flags2=draw(st.integers(0, 255)) & ~FLAG2_RESERVED,
        code=draw(st.sampled_from([0, 16])),
        extensions=tuple(Extension(t, d) for t, d in draw(st.lists(
            st.tuples(st.integers(128, 255), st.binary(max_size=8)), max_size=2))),
        padded=draw(st.booleans()),
    )


def _normalised(advertisement: AgentAdvertisement) -> AgentAdvertisement:
    """Decoded extensions carry their offset; compare type and data."""
    return AgentAdvertisement(
        **{name: getattr(advertisement, name) for name in AgentAdvertisement.__slots__
           if name != "extensions"},
        extensions=tuple(Extension(e.type, e.data) for e in advertisement.extensions),
    )


@settings(max_examples=400, deadline=None)
@given(advertisements(), st.integers(0, 2**32 - 1))
def test_generated_round_trip_and_mutations_raise_only_decode_error(
    advertisement: AgentAdvertisement, seed: int
) -> None:
    rng = random.Random(seed)
    wire = advertisement.encode()
    assert wire == expected_wire(advertisement)
    assert _normalised(decode_advertisement(wire)) == advertisement
    for _ in range(20):
        mutated = bytearray(wire)
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(3) if mutated else 2
            if op == 0:
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            elif op == 1:
                del mutated[rng.randrange(len(mutated)):]
            else:
                at = rng.randrange(len(mutated) + 1)
                mutated[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        data = bytes(mutated)
        _decode_all_ways(data)
        if len(data) >= 4:  # reach the structural checks past the checksum
            _decode_all_ways(checksummed(data))


# -- the engines that use the codec ----------------------------------------------------------


def make_foreign_agent(**settings: object) -> ForeignAgent:
    return ForeignAgent(
        ForeignAgentSettings(FOREIGN_AGENT, advertisement_interval=0.0, **settings),  # type: ignore[arg-type]
        home_agents=SecurityAssociationTable(),
        rng=random.Random(1),
        now=NOW,
    )


def test_foreign_agent_with_a_prefix_length_lists_its_address() -> None:
    """RFC 5944 §2.1.2: the Prefix-Lengths extension has one length per router
    address, so a foreign agent that advertises one lists its own address
    (preference 0x80000000: not a default router, RFC 1256 §3)."""
    foreign_agent = make_foreign_agent(prefix_length=24)
    foreign_agent.receive_icmp(encode_solicitation(), IPv4Address("192.0.2.77"), NOW)
    [transmit] = foreign_agent.datagrams_to_send()
    assert transmit.channel is Channel.DISCOVERY
    advertisement = decode_advertisement(transmit.data)
    assert advertisement.router_addresses == ((FOREIGN_AGENT, PREFERENCE_NOT_A_DEFAULT_ROUTER),)
    assert advertisement.prefix_lengths == (24,)
    without = make_foreign_agent()
    assert without.advertisement().router_addresses == ()
    assert decode_advertisement(without.advertisement().encode()).prefix_lengths is None


@pytest.mark.parametrize(
    "data",
    [
        checksummed(bytes((10, 0, 0, 0, 0, 0, 0, 1))),
        checksummed(encode_solicitation() + b"\x00"),
        encode_solicitation()[:7],
        encode_solicitation()[:2] + b"\x00\x00" + encode_solicitation()[4:],
        checksummed(bytes((10, 3, 0, 0, 0, 0, 0, 0))),
    ],
    ids=["reserved", "trailing", "truncated", "bad-checksum", "code-3"],
)
def test_foreign_agent_counts_a_malformed_solicitation(data: bytes) -> None:
    """RFC 1256 §4.2: not answered; counted as discarded, with an event."""
    foreign_agent = make_foreign_agent()
    foreign_agent.receive_icmp(data, IPv4Address("192.0.2.77"), NOW)
    assert foreign_agent.datagrams_to_send() == []
    assert foreign_agent.counters.solicitations_received == 0
    assert foreign_agent.counters.datagrams_discarded == 1
    event = foreign_agent.next_event()
    assert isinstance(event, DatagramDropped) and event.reason.startswith("agent solicitation")
    # Still answers a good one.
    foreign_agent.receive_icmp(encode_solicitation(), IPv4Address("192.0.2.77"), NOW)
    assert len(foreign_agent.datagrams_to_send()) == 1
    assert foreign_agent.counters.solicitations_received == 1


def test_foreign_agent_ignores_other_icmp_without_counting() -> None:
    foreign_agent = make_foreign_agent()
    for data in (b"", bytes((8, 0, 0xF7, 0xFF, 0, 0, 0, 0)), SAMPLES["foreign-agent"].encode()):
        foreign_agent.receive_icmp(data, IPv4Address("192.0.2.77"), NOW)
    assert foreign_agent.datagrams_to_send() == []
    assert foreign_agent.counters.datagrams_discarded == 0
