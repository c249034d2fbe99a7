"""Property tests of the registration codec (RFC 5944 §3.3, §3.4, §1.9).

An agent must answer malformed input with the right reply code or a counted drop
(STYLE.md), so the decoders may only ever return a message or raise
``DecodeError``; and whatever they accept they must re-encode byte for byte, since
a foreign agent relays requests under authenticators it cannot recompute
(RFC 5944 §3.7.2.2).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from ipaddress import IPv4Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.mobileip.errors import DecodeError
from agent.mobileip.registration import (
    MAX_MESSAGE_SIZE,
    REPLY_HEADER_SIZE,
    REQUEST_HEADER_SIZE,
    RegistrationReply,
    RegistrationRequest,
    decode_reply,
    decode_request,
)

#: Budget: the whole module runs in well under ten seconds.
FUZZ = settings(
    max_examples=800,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Message = RegistrationRequest | RegistrationReply


def decode_lenient(data: bytes) -> RegistrationRequest:
    return decode_request(data, strict_reserved=False)


DECODERS: list[Callable[[bytes], Message]] = [decode_request, decode_lenient, decode_reply]


def check_total(data: bytes) -> list[Message]:
    """Run every decoder; each returns a faithful message or raises DecodeError."""
    decoded: list[Message] = []
    for decode in DECODERS:
        try:
            message = decode(data)
        except DecodeError as error:
            check_partial(data, error)
            continue
        # RFC 5944 §3.7.2.2: what was accepted re-encodes exactly.
        assert message.encode() == data
        assert message.raw == data
        decoded.append(message)
    return decoded


def check_partial(data: bytes, error: DecodeError) -> None:
    """When a DecodeError carries the fixed part, it is the fixed part on the wire."""
    partial = error.partial
    if partial is None:
        return
    assert partial.message_type == data[0]
    assert partial.lifetime == int.from_bytes(data[2:4], "big")
    assert partial.home_address == IPv4Address(data[4:8])
    assert partial.home_agent == IPv4Address(data[8:12])
    id_at = 16 if partial.message_type == 1 else 12
    assert partial.identification == int.from_bytes(data[id_at : id_at + 8], "big")


# -- strategies ----------------------------------------------------------------------

KNOWN_TYPES = [32, 33, 34, 130, 131]
AUTHENTICATION_TYPES = [32, 33, 34]


@st.composite
def extension(draw: st.DrawFn) -> bytes:
    """A well-formed simple extension (RFC 5944 §1.9) of a type the codec accepts:
    known types, or skippable unknown types 128-255."""
    ext_type = draw(st.sampled_from(KNOWN_TYPES) | st.integers(min_value=128, max_value=255))
    if ext_type in AUTHENTICATION_TYPES:
        spi = draw(st.integers(min_value=0, max_value=2**32 - 1))
        authenticator = draw(
            st.binary(min_size=0, max_size=32) | st.binary(min_size=16, max_size=16)
        )
        data = struct.pack("!I", spi) + authenticator
    else:
        data = draw(st.binary(max_size=40))
    return bytes((ext_type, len(data))) + data


addresses = st.integers(min_value=0, max_value=2**32 - 1)
identifications = st.integers(min_value=0, max_value=2**64 - 1)
lifetimes = st.sampled_from([0, 1, 1800, 0xFFFF]) | st.integers(min_value=0, max_value=0xFFFF)
valid_flags = st.integers(min_value=0, max_value=255).map(lambda f: f & ~0x05)


@st.composite
def valid_request(draw: st.DrawFn) -> bytes:
    """RFC 5944 §3.3 fixed part (r and x clear) and well-formed extensions."""
    header = struct.pack(
        "!BBHIIIQ",
        1,
        draw(valid_flags),
        draw(lifetimes),
        draw(addresses),
        draw(addresses),
        draw(addresses),
        draw(identifications),
    )
    return header + b"".join(draw(st.lists(extension(), max_size=6)))


@st.composite
def valid_reply(draw: st.DrawFn) -> bytes:
    """RFC 5944 §3.4 fixed part and well-formed extensions."""
    header = struct.pack(
        "!BBHIIQ",
        3,
        draw(st.integers(min_value=0, max_value=255)),
        draw(lifetimes),
        draw(addresses),
        draw(addresses),
        draw(identifications),
    )
    return header + b"".join(draw(st.lists(extension(), max_size=6)))


valid_messages = valid_request() | valid_reply()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid message after one to three bit flips, truncations, insertions,
    deletions or byte overwrites."""
    data = bytearray(draw(valid_messages))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite"]))
        position = draw(st.integers(min_value=0, max_value=len(data)))
        if kind == "flip" and data:
            index = min(position, len(data) - 1)
            data[index] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[position : position + draw(st.integers(min_value=1, max_value=8))]
        elif kind == "overwrite" and position < len(data):
            data[position] = draw(st.integers(min_value=0, max_value=255))
    return bytes(data)


#: Arbitrary bytes, and arbitrary bytes behind a plausible Type octet so that the
#: decoders get past the first check.
arbitrary = st.binary(max_size=300) | st.builds(
    lambda message_type, rest: bytes((message_type,)) + rest,
    st.sampled_from([1, 3]),
    st.binary(min_size=REPLY_HEADER_SIZE - 1, max_size=300),
)


# -- properties ----------------------------------------------------------------------


@FUZZ
@given(arbitrary)
def test_arbitrary_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    """(a) No input makes a decoder raise anything but DecodeError."""
    check_total(data)


@settings(FUZZ, max_examples=600)
@given(mutated())
def test_mutated_messages_decode_or_raise_decode_error(data: bytes) -> None:
    """(b) Near-valid input, the kind that reaches deep into the parser."""
    check_total(data)


@settings(FUZZ, max_examples=300)
@given(valid_messages)
def test_valid_messages_decode_and_re_encode(data: bytes) -> None:
    """(c) Every well-formed message is accepted by its decoder and re-encodes to
    the same bytes (RFC 5944 §3.3, §3.4)."""
    decoded = check_total(data)
    expected = 2 if data[0] == 1 else 1  # strict and lenient request decoders
    assert len(decoded) == expected
    header = REQUEST_HEADER_SIZE if data[0] == 1 else REPLY_HEADER_SIZE
    message = decoded[0]
    assert message.encode_header() == data[:header]
    offset = header
    for ext in message.extensions:
        assert ext.offset == offset
        offset += 2 + len(ext.data)
    assert offset == len(data)


@settings(FUZZ, max_examples=100)
@given(valid_messages, st.integers(min_value=1, max_value=64))
def test_oversized_input_is_refused(data: bytes, excess: int) -> None:
    """Nothing above MAX_MESSAGE_SIZE is accepted, even a well-formed message
    padded with skippable extensions (RFC 5944 §1.9)."""
    padding = MAX_MESSAGE_SIZE + excess - len(data)
    while padding:
        size = min(padding, 257)
        if padding - size == 1:
            size -= 2
        data += bytes((200, size - 2)) + bytes(size - 2)
        padding -= size
    assert len(data) == MAX_MESSAGE_SIZE + excess
    assert check_total(data) == []
