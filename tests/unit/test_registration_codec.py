"""Registration Request / Reply codec, both ways, from tables (RFC 5944 §3.3, §3.4).

Every expected datagram is built here by hand with ``struct`` so the tables do not
depend on the codec they check. One table row drives both directions: the record
encodes to the bytes, and the bytes decode to the record (extension offsets
included, since authentication depends on them, RFC 5944 §3.5.1).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address

import pytest

from agent.mobileip.errors import DecodeError, DecodeFault
from agent.mobileip.extensions import LONG_FORM_TYPES, Extension
from agent.mobileip.numbers import ExtensionType, RequestFlag
from agent.mobileip.registration import (
    MAX_MESSAGE_SIZE,
    REPLY_HEADER_SIZE,
    REQUEST_HEADER_SIZE,
    RegistrationReply,
    RegistrationRequest,
    decode_reply,
    decode_request,
)

HOME_ADDRESS = IPv4Address("10.1.1.50")
HOME_AGENT = IPv4Address("10.1.1.1")
CARE_OF_ADDRESS = IPv4Address("10.2.2.1")
#: An NTP-format Identification (RFC 5944 §5.7.1): 2023-09-07 22:57:04 UTC + 1.
IDENTIFICATION = 0xE8A4_D3C0_0000_0001
NAI = b"mn1@example.com"

MHAE = ExtensionType.MOBILE_HOME_AUTHENTICATION
MFAE = ExtensionType.MOBILE_FOREIGN_AUTHENTICATION
FHAE = ExtensionType.FOREIGN_HOME_AUTHENTICATION
NAI_TYPE = ExtensionType.MOBILE_NODE_NAI
DELIVERY_STYLE = ExtensionType.ENCAPSULATING_DELIVERY_STYLE
SKIPPABLE_UNKNOWN = 200
NON_SKIPPABLE_UNKNOWN = 99


# -- hand-built wire format --------------------------------------------------------


def request_wire(
    *,
    flags: int = 0,
    lifetime: int = 1800,
    home_address: IPv4Address = HOME_ADDRESS,
    home_agent: IPv4Address = HOME_AGENT,
    care_of_address: IPv4Address = CARE_OF_ADDRESS,
    identification: int = IDENTIFICATION,
    message_type: int = 1,
) -> bytes:
    """RFC 5944 §3.3: Type | S B D M G r T x | Lifetime | HoA | HA | CoA | Id(64)."""
    return struct.pack(
        "!BBH4s4s4sQ",
        message_type,
        flags,
        lifetime,
        home_address.packed,
        home_agent.packed,
        care_of_address.packed,
        identification,
    )


def reply_wire(
    *,
    code: int = 0,
    lifetime: int = 1800,
    home_address: IPv4Address = HOME_ADDRESS,
    home_agent: IPv4Address = HOME_AGENT,
    identification: int = IDENTIFICATION,
    message_type: int = 3,
) -> bytes:
    """RFC 5944 §3.4: Type | Code | Lifetime | HoA | HA | Id(64)."""
    return struct.pack(
        "!BBH4s4sQ",
        message_type,
        code,
        lifetime,
        home_address.packed,
        home_agent.packed,
        identification,
    )


def tlv(ext_type: int, data: bytes) -> bytes:
    """RFC 5944 §1.9 simple extension: Type | Length | Data."""
    return struct.pack("!BB", ext_type, len(data)) + data


def auth_data(spi: int, authenticator: bytes) -> bytes:
    """RFC 5944 §3.5.2-§3.5.4 authentication extension body: SPI | Authenticator."""
    return struct.pack("!I", spi) + authenticator


MHAE_DATA = auth_data(0x100, bytes(range(16)))
MFAE_DATA = auth_data(0x101, bytes(range(16, 32)))
FHAE_DATA = auth_data(0x200, bytes([0xA5]) * 16)


def extensions_at(start: int, *items: tuple[int, bytes]) -> tuple[Extension, ...]:
    """Extension records as the decoder must report them: with their wire offsets."""
    result = []
    offset = start
    for ext_type, data in items:
        result.append(Extension(ext_type, data, offset))
        offset += 2 + len(data)
    return tuple(result)


# -- the tables --------------------------------------------------------------------


@dataclass(frozen=True)
class RequestCase:
    name: str
    wire: bytes
    message: RegistrationRequest


@dataclass(frozen=True)
class ReplyCase:
    name: str
    wire: bytes
    message: RegistrationReply


def request_case(
    name: str,
    *,
    flags: int = 0,
    lifetime: int = 1800,
    home_address: IPv4Address = HOME_ADDRESS,
    home_agent: IPv4Address = HOME_AGENT,
    care_of_address: IPv4Address = CARE_OF_ADDRESS,
    identification: int = IDENTIFICATION,
    extensions: tuple[tuple[int, bytes], ...] = (),
) -> RequestCase:
    wire = request_wire(
        flags=flags,
        lifetime=lifetime,
        home_address=home_address,
        home_agent=home_agent,
        care_of_address=care_of_address,
        identification=identification,
    ) + b"".join(tlv(t, d) for t, d in extensions)
    message = RegistrationRequest(
        RequestFlag(flags),
        lifetime,
        home_address,
        home_agent,
        care_of_address,
        identification,
        extensions_at(REQUEST_HEADER_SIZE, *extensions),
    )
    return RequestCase(name, wire, message)


def reply_case(
    name: str,
    *,
    code: int = 0,
    lifetime: int = 1800,
    home_address: IPv4Address = HOME_ADDRESS,
    home_agent: IPv4Address = HOME_AGENT,
    identification: int = IDENTIFICATION,
    extensions: tuple[tuple[int, bytes], ...] = (),
) -> ReplyCase:
    wire = reply_wire(
        code=code,
        lifetime=lifetime,
        home_address=home_address,
        home_agent=home_agent,
        identification=identification,
    ) + b"".join(tlv(t, d) for t, d in extensions)
    message = RegistrationReply(
        code,
        lifetime,
        home_address,
        home_agent,
        identification,
        extensions_at(REPLY_HEADER_SIZE, *extensions),
    )
    return ReplyCase(name, wire, message)


DEFINED_FLAGS = [
    RequestFlag.SIMULTANEOUS_BINDINGS,
    RequestFlag.BROADCAST,
    RequestFlag.DECAPSULATION_BY_MOBILE_NODE,
    RequestFlag.MINIMAL_ENCAPSULATION,
    RequestFlag.GRE,
    RequestFlag.REVERSE_TUNNELING,
]

REQUEST_CASES = [
    request_case("no-flags"),
    *(request_case(f"flag-{flag.name}", flags=flag) for flag in DEFINED_FLAGS),
    request_case("all-defined-flags", flags=0xFA),
    request_case("deregister-all-lifetime-0", lifetime=0, care_of_address=HOME_ADDRESS),
    request_case("lifetime-infinite-0xffff", lifetime=0xFFFF),
    request_case("identification-0", identification=0),
    request_case("identification-max", identification=2**64 - 1),
    request_case(
        "extreme-addresses",
        home_address=IPv4Address("0.0.0.0"),
        home_agent=IPv4Address("255.255.255.255"),
        care_of_address=IPv4Address("255.255.255.255"),
    ),
    request_case("mhae", extensions=((MHAE, MHAE_DATA),)),
    request_case("nai-mhae", extensions=((NAI_TYPE, NAI), (MHAE, MHAE_DATA))),
    request_case(
        "nai-mhae-mfae",
        extensions=((NAI_TYPE, NAI), (MHAE, MHAE_DATA), (MFAE, MFAE_DATA)),
    ),
    request_case(
        "relayed-nai-mhae-fhae",
        flags=RequestFlag.REVERSE_TUNNELING,
        lifetime=600,
        extensions=((NAI_TYPE, NAI), (MHAE, MHAE_DATA), (FHAE, FHAE_DATA)),
    ),
    request_case(
        "all-auth-and-skippable-unknown",
        extensions=(
            (NAI_TYPE, NAI),
            (SKIPPABLE_UNKNOWN, b"kept"),
            (MHAE, MHAE_DATA),
            (MFAE, MFAE_DATA),
            (SKIPPABLE_UNKNOWN, b""),
            (FHAE, FHAE_DATA),
        ),
    ),
    request_case(
        "delivery-style-zero-length",
        flags=RequestFlag.REVERSE_TUNNELING,
        extensions=((DELIVERY_STYLE, b""), (MHAE, MHAE_DATA)),
    ),
    request_case("skippable-255-max-length", extensions=((255, bytes(255)),)),
]

REPLY_CASES = [
    *(
        reply_case(f"code-{code}", code=code)
        for code in (0, 1, 64, 69, 70, 127, 128, 131, 133, 136, 139, 255)
    ),
    reply_case("lifetime-0", lifetime=0),
    reply_case("lifetime-infinite-0xffff", lifetime=0xFFFF),
    reply_case("identification-max", identification=2**64 - 1),
    reply_case("mhae", extensions=((MHAE, MHAE_DATA),)),
    reply_case("mhae-fhae", code=133, extensions=((MHAE, MHAE_DATA), (FHAE, FHAE_DATA))),
    reply_case(
        "mhae-mfae-skippable",
        extensions=((MHAE, MHAE_DATA), (MFAE, MFAE_DATA), (SKIPPABLE_UNKNOWN, b"x")),
    ),
    reply_case("nai-mhae", extensions=((NAI_TYPE, NAI), (MHAE, MHAE_DATA))),
]


Decoder = Callable[[bytes], RegistrationRequest | RegistrationReply]

#: (decoder, a valid fixed part for it): strictness applies to both messages alike.
DECODERS = [
    pytest.param(decode_request, request_wire(), id="request"),
    pytest.param(decode_reply, reply_wire(), id="reply"),
]


def ids(cases: list[RequestCase] | list[ReplyCase]) -> list[str]:
    return [case.name for case in cases]


# -- both directions ---------------------------------------------------------------


@pytest.mark.parametrize("case", REQUEST_CASES, ids=ids(REQUEST_CASES))
def test_request_encodes_to_wire(case: RequestCase) -> None:
    """RFC 5944 §3.3: fixed 24-byte part, then the extensions in order."""
    assert case.message.encode() == case.wire
    assert case.message.encode_header() == case.wire[:REQUEST_HEADER_SIZE]


@pytest.mark.parametrize("case", REQUEST_CASES, ids=ids(REQUEST_CASES))
def test_request_decodes_from_wire(case: RequestCase) -> None:
    """RFC 5944 §3.3: every field, every extension and its offset come back."""
    decoded = decode_request(case.wire)
    assert decoded == case.message
    assert [ext.offset for ext in decoded.extensions] == [
        ext.offset for ext in case.message.extensions
    ]
    assert decoded.raw == case.wire
    assert decoded.encode() == case.wire


@pytest.mark.parametrize("case", REPLY_CASES, ids=ids(REPLY_CASES))
def test_reply_encodes_to_wire(case: ReplyCase) -> None:
    """RFC 5944 §3.4: fixed 20-byte part, then the extensions in order."""
    assert case.message.encode() == case.wire
    assert case.message.encode_header() == case.wire[:REPLY_HEADER_SIZE]


@pytest.mark.parametrize("case", REPLY_CASES, ids=ids(REPLY_CASES))
def test_reply_decodes_from_wire(case: ReplyCase) -> None:
    """RFC 5944 §3.4: every field, every extension and its offset come back."""
    decoded = decode_reply(case.wire)
    assert decoded == case.message
    assert [ext.offset for ext in decoded.extensions] == [
        ext.offset for ext in case.message.extensions
    ]
    assert decoded.raw == case.wire
    assert decoded.encode() == case.wire


@pytest.mark.parametrize("flag", DEFINED_FLAGS, ids=[f.name for f in DEFINED_FLAGS])
def test_each_flag_bit_is_its_own_wire_bit(flag: RequestFlag) -> None:
    """RFC 5944 §3.3: S B D M G r T x, most significant bit first (T: RFC 3024)."""
    expected_bit = {
        RequestFlag.SIMULTANEOUS_BINDINGS: 0x80,
        RequestFlag.BROADCAST: 0x40,
        RequestFlag.DECAPSULATION_BY_MOBILE_NODE: 0x20,
        RequestFlag.MINIMAL_ENCAPSULATION: 0x10,
        RequestFlag.GRE: 0x08,
        RequestFlag.REVERSE_TUNNELING: 0x02,
    }[flag]
    decoded = decode_request(request_wire(flags=expected_bit))
    assert decoded.flags == flag
    assert all((other in decoded.flags) == (other is flag) for other in DEFINED_FLAGS)


def test_decoded_accessors() -> None:
    """RFC 5944 §3.3 (Lifetime 0 deregisters), §3.5.2 (SPI | Authenticator),
    RFC 2794 §2 (NAI)."""
    case = request_case("accessors", lifetime=0, extensions=((NAI_TYPE, NAI), (MHAE, MHAE_DATA)))
    decoded = decode_request(case.wire)
    assert decoded.is_deregistration
    assert decoded.nai == "mn1@example.com"
    [mhae] = decoded.extensions_of(MHAE)
    assert mhae.is_authentication
    assert mhae.spi == 0x100
    assert mhae.authenticator == bytes(range(16))
    assert decode_request(request_wire()).nai is None
    assert decode_reply(reply_wire(code=1)).accepted
    assert not decode_reply(reply_wire(code=133)).accepted


def test_authentication_extension_of_exactly_four_bytes_is_well_formed() -> None:
    """RFC 5944 §3.5.1: Length = 4 + authenticator length; 4 is the least that
    holds an SPI (an empty authenticator then simply fails to verify)."""
    decoded = decode_request(request_wire() + tlv(MHAE, struct.pack("!I", 0x100)))
    [mhae] = decoded.extensions_of(MHAE)
    assert mhae.spi == 0x100
    assert mhae.authenticator == b""


# -- reserved bits -----------------------------------------------------------------


@pytest.mark.parametrize("reserved", [0x04, 0x01, 0x05], ids=["r", "x", "r+x"])
@pytest.mark.parametrize("other_flags", [0x00, 0xFA], ids=["alone", "with-all-flags"])
def test_reserved_bit_is_a_fault_with_partial_header(reserved: int, other_flags: int) -> None:
    """RFC 5944 §3.3: r and x are sent as zero; an agent answers a request with
    them set as poorly formed (70 at the FA §3.7.2.2, 134 at the HA §3.8.2.1), so
    the error carries what it needs to address that reply."""
    wire = request_wire(flags=reserved | other_flags, lifetime=900, identification=2**63 + 5)
    with pytest.raises(DecodeError) as caught:
        decode_request(wire + tlv(MHAE, MHAE_DATA))
    error = caught.value
    assert error.fault is DecodeFault.RESERVED_BITS_SET
    assert not error.silently_discard
    assert error.partial is not None
    assert error.partial.message_type == 1
    assert error.partial.lifetime == 900
    assert error.partial.home_address == HOME_ADDRESS
    assert error.partial.home_agent == HOME_AGENT
    assert error.partial.identification == 2**63 + 5


@pytest.mark.parametrize("reserved", [0x04, 0x01, 0x05], ids=["r", "x", "r+x"])
def test_reserved_bits_kept_when_not_strict(reserved: int) -> None:
    """RFC 5944 §3.3 says receivers may ignore r/x; the lenient mode keeps them so
    that relaying re-encodes the request byte for byte (§3.7.2.2: the FA MUST NOT
    modify anything an authenticator covers)."""
    wire = request_wire(flags=reserved | 0x02) + tlv(MHAE, MHAE_DATA)
    decoded = decode_request(wire, strict_reserved=False)
    assert int(decoded.flags) == reserved | 0x02
    assert decoded.encode() == wire


def test_unknown_non_skippable_extension_wins_over_reserved_bits() -> None:
    """RFC 5944 §1.9: a message with an unrecognised extension 0-127 is silently
    discarded, so it must not draw a 'poorly formed' reply for its r/x bits."""
    wire = request_wire(flags=0x05) + tlv(NON_SKIPPABLE_UNKNOWN, b"\x00")
    with pytest.raises(DecodeError) as caught:
        decode_request(wire)
    assert caught.value.fault is DecodeFault.UNKNOWN_NON_SKIPPABLE_EXTENSION
    assert caught.value.silently_discard


# -- extensions: skippable and non-skippable ---------------------------------------


@pytest.mark.parametrize("decode, header", DECODERS)
def test_unknown_extension_99_is_silently_discarded(decode: Decoder, header: bytes) -> None:
    """RFC 5944 §1.9: types 0-127 not recognised => silently discard the message."""
    wire = header + tlv(NAI_TYPE, NAI) + tlv(NON_SKIPPABLE_UNKNOWN, b"abc") + tlv(MHAE, MHAE_DATA)
    with pytest.raises(DecodeError) as caught:
        decode(wire)
    error = caught.value
    assert error.fault is DecodeFault.UNKNOWN_NON_SKIPPABLE_EXTENSION
    assert error.silently_discard is True
    assert error.partial is not None
    assert error.partial.home_address == HOME_ADDRESS
    assert error.partial.home_agent == HOME_AGENT
    assert error.partial.identification == IDENTIFICATION


NON_SKIPPABLE_UNKNOWN_TYPES = [t for t in range(128) if t not in (MHAE, MFAE, FHAE)]


@pytest.mark.parametrize("ext_type", NON_SKIPPABLE_UNKNOWN_TYPES)
def test_every_unrecognised_type_below_128_voids_the_message(ext_type: int) -> None:
    """RFC 5944 §1.9 (and §1.10 for the long form of 36-38)."""
    if ext_type in LONG_FORM_TYPES:
        extension = struct.pack("!BBH", ext_type, 1, 4) + b"\x00" * 4
    else:
        extension = tlv(ext_type, b"\x00\x01")
    with pytest.raises(DecodeError) as caught:
        decode_request(request_wire() + extension)
    assert caught.value.fault is DecodeFault.UNKNOWN_NON_SKIPPABLE_EXTENSION
    assert caught.value.silently_discard


SKIPPABLE_UNKNOWN_TYPES = [t for t in range(128, 256) if t not in (NAI_TYPE, DELIVERY_STYLE)]


@pytest.mark.parametrize("ext_type", SKIPPABLE_UNKNOWN_TYPES)
def test_every_unrecognised_type_from_128_is_kept(ext_type: int) -> None:
    """RFC 5944 §1.9: types 128-255 not recognised are skipped, the rest of the
    message is processed; the codec keeps them because an authenticator after them
    covers them (§3.5.1)."""
    wire = request_wire() + tlv(ext_type, b"data") + tlv(MHAE, MHAE_DATA)
    decoded = decode_request(wire)
    assert decoded.extensions == extensions_at(
        REQUEST_HEADER_SIZE, (ext_type, b"data"), (MHAE, MHAE_DATA)
    )
    assert decoded.encode() == wire


# -- strictness: lengths, sizes, types ---------------------------------------------


@pytest.mark.parametrize("length", range(REQUEST_HEADER_SIZE))
def test_truncated_request_header(length: int) -> None:
    """RFC 5944 §3.3: the fixed part is 24 bytes."""
    with pytest.raises(DecodeError) as caught:
        decode_request(request_wire()[:length])
    assert caught.value.fault is DecodeFault.TRUNCATED
    assert not caught.value.silently_discard


@pytest.mark.parametrize("length", range(REPLY_HEADER_SIZE))
def test_truncated_reply_header(length: int) -> None:
    """RFC 5944 §3.4: the fixed part is 20 bytes."""
    with pytest.raises(DecodeError) as caught:
        decode_reply(reply_wire()[:length])
    assert caught.value.fault is DecodeFault.TRUNCATED


TRUNCATED_EXTENSIONS = {
    "nai-claims-one-more": tlv(NAI_TYPE, NAI)[:-1],
    "mhae-missing-last-byte": tlv(MHAE, MHAE_DATA)[:-1],
    "mhae-header-only": bytes((MHAE, 20)),
    "length-255-nothing-follows": bytes((SKIPPABLE_UNKNOWN, 255)),
    "valid-then-half-header": tlv(NAI_TYPE, NAI) + bytes((MHAE,)),
    "long-form-header-cut": bytes((37, 0, 0)),
}


@pytest.mark.parametrize("tail", TRUNCATED_EXTENSIONS.values(), ids=TRUNCATED_EXTENSIONS.keys())
@pytest.mark.parametrize("decode, header", DECODERS)
def test_truncated_extension(decode: Decoder, header: bytes, tail: bytes) -> None:
    """RFC 5944 §1.9: Length gives the data bytes that follow; a message that ends
    early is malformed, and the fixed part is still reported for the reply."""
    with pytest.raises(DecodeError) as caught:
        decode(header + tail)
    error = caught.value
    assert error.fault is DecodeFault.TRUNCATED
    assert not error.silently_discard
    assert error.partial is not None
    assert error.partial.identification == IDENTIFICATION


@pytest.mark.parametrize("trailing", [0, 1, 32, 99, 131, 200, 255])
@pytest.mark.parametrize("decode, header", DECODERS)
def test_single_trailing_byte_is_rejected(decode: Decoder, header: bytes, trailing: int) -> None:
    """RFC 5944 §1.9: after the last extension nothing may follow; one stray byte
    cannot even hold an extension's Type and Length."""
    complete = header + tlv(MHAE, MHAE_DATA)
    decode(complete)
    with pytest.raises(DecodeError) as caught:
        decode(complete + bytes((trailing,)))
    assert caught.value.fault is DecodeFault.TRUNCATED
    assert caught.value.partial is not None


@pytest.mark.parametrize("length", [0, 1, 2, 3])
@pytest.mark.parametrize("ext_type", [MHAE, MFAE, FHAE], ids=["MHAE", "MFAE", "FHAE"])
def test_authentication_extension_shorter_than_spi(ext_type: int, length: int) -> None:
    """RFC 5944 §3.5.2-§3.5.4: Length = 4 plus the authenticator; below 4 there is
    not even an SPI."""
    wire = request_wire() + tlv(ext_type, b"\x01" * length)
    with pytest.raises(DecodeError) as caught:
        decode_request(wire)
    assert caught.value.fault is DecodeFault.BAD_EXTENSION_LENGTH
    assert caught.value.partial is not None
    assert caught.value.partial.home_address == HOME_ADDRESS
    with pytest.raises(DecodeError) as caught_reply:
        decode_reply(reply_wire() + tlv(ext_type, b"\x01" * length))
    assert caught_reply.value.fault is DecodeFault.BAD_EXTENSION_LENGTH


def padding_extensions(total: int) -> bytes:
    """Skippable extensions (RFC 5944 §1.9) filling exactly ``total`` bytes."""
    chunks = []
    while total:
        size = min(total, 257)
        if total - size == 1:  # never leave a lone byte behind
            size -= 2
        chunks.append(tlv(SKIPPABLE_UNKNOWN, bytes(size - 2)))
        total -= size
    return b"".join(chunks)


@pytest.mark.parametrize("decode, header", DECODERS)
def test_largest_accepted_message(decode: Decoder, header: bytes) -> None:
    """MAX_MESSAGE_SIZE (one Ethernet UDP payload) is the bound, inclusive."""
    wire = header + padding_extensions(MAX_MESSAGE_SIZE - len(header))
    assert len(wire) == MAX_MESSAGE_SIZE
    assert decode(wire).encode() == wire


@pytest.mark.parametrize("excess", [1, 2, 65507 - MAX_MESSAGE_SIZE])
@pytest.mark.parametrize("decode, header", DECODERS)
def test_oversized_message(decode: Decoder, header: bytes, excess: int) -> None:
    """A datagram above MAX_MESSAGE_SIZE is refused before it is parsed."""
    wire = header + padding_extensions(MAX_MESSAGE_SIZE + excess - len(header))
    assert len(wire) == MAX_MESSAGE_SIZE + excess
    with pytest.raises(DecodeError) as caught:
        decode(wire)
    assert caught.value.fault is DecodeFault.OVERSIZED


@pytest.mark.parametrize("message_type", [0, 2, 3, 4, 7, 15, 255])
def test_request_decoder_refuses_other_types(message_type: int) -> None:
    """RFC 5944 §3.3: a Registration Request has Type 1."""
    with pytest.raises(DecodeError) as caught:
        decode_request(request_wire(message_type=message_type))
    assert caught.value.fault is DecodeFault.WRONG_TYPE


@pytest.mark.parametrize("message_type", [0, 1, 2, 4, 7, 15, 255])
def test_reply_decoder_refuses_other_types(message_type: int) -> None:
    """RFC 5944 §3.4: a Registration Reply has Type 3."""
    with pytest.raises(DecodeError) as caught:
        decode_reply(reply_wire(message_type=message_type))
    assert caught.value.fault is DecodeFault.WRONG_TYPE


def test_request_bytes_are_not_a_reply_and_back() -> None:
    """RFC 5944 §3.3, §3.4: the first octet tells the two apart."""
    request = REQUEST_CASES[0].wire
    reply = REPLY_CASES[0].wire
    with pytest.raises(DecodeError) as as_reply:
        decode_reply(request)
    assert as_reply.value.fault is DecodeFault.WRONG_TYPE
    with pytest.raises(DecodeError) as as_request:
        decode_request(reply + bytes(4))
    assert as_request.value.fault is DecodeFault.WRONG_TYPE


# -- the decoders' shared addresses (issue 13 item 12) ---------------------------------


def test_unauthenticated_datagrams_cannot_grow_the_address_tables() -> None:
    """Replies and requests with 200,000 distinct addresses, as anyone can send
    them to UDP 434: the known table does not grow, the recent one stays
    within its limit (the single table held up to 1M addresses, ~169 MB); an
    address an engine made known is returned as that very object (a proxy
    visitor shares it with the replies about it), and one that every message
    repeats is shared between messages."""
    from agent.mobileip import registration

    known = registration.address(bytes((10, 9, 8, 7)))
    known_before = len(registration._KNOWN)
    for n in range(200_000):
        home = (0x0A000000 + n).to_bytes(4, "big")
        agent = (0xC0000000 + n).to_bytes(4, "big")
        decode_reply(struct.pack("!BBH4s4sQ", 3, 0, 600, home, agent, IDENTIFICATION))
        decode_request(struct.pack("!BBH4s4s4sQ", 1, 0, 600, home, agent, agent, IDENTIFICATION))
        assert len(registration._RECENT) <= registration.RECENT_ADDRESS_LIMIT
    assert len(registration._KNOWN) == known_before
    first = decode_reply(struct.pack("!BBH4s4sQ", 3, 0, 600, known.packed, HOME_AGENT.packed, IDENTIFICATION))
    second = decode_reply(struct.pack("!BBH4s4sQ", 3, 0, 600, known.packed, HOME_AGENT.packed, IDENTIFICATION))
    assert first.home_address is known and second.home_address is known
    assert first.home_agent is second.home_agent == HOME_AGENT


def test_the_known_address_table_is_bounded() -> None:
    from agent.mobileip import registration

    for n in range(registration.KNOWN_ADDRESS_LIMIT + 10):
        registration.address((0xAC100000 + n).to_bytes(4, "big"))
        assert len(registration._KNOWN) <= registration.KNOWN_ADDRESS_LIMIT
