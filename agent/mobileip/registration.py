"""Registration Request and Reply (RFC 5944 §3.3, §3.4): strict codec.

Messages are immutable records; ``decode_*`` functions check every length and
field and raise ``DecodeError`` with the part of the header they could read.
Addresses are ``IPv4Address`` values; Identification is the 64-bit integer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from agent.mobileip.errors import DecodeError, DecodeFault, PartialHeader
from agent.mobileip.extensions import Extension, parse_extensions
from agent.mobileip.numbers import (
    REQUEST_RESERVED_BITS,
    ExtensionType,
    MessageType,
    RequestFlag,
)

#: Largest registration message accepted. A request with NAI, MHAE, MFAE and FHAE
#: is well under 200 bytes; anything above one Ethernet payload is refused.
MAX_MESSAGE_SIZE = 1472

_REQUEST = struct.Struct("!BBH4s4s4sQ")  # 24 bytes, RFC 5944 §3.3
_REPLY = struct.Struct("!BBH4s4sQ")  # 20 bytes, RFC 5944 §3.4
REQUEST_HEADER_SIZE = _REQUEST.size
#: Decoding builds flag values for every datagram from a table (IntFlag
#: construction costs microseconds, measured in docs/performance.md).
_FLAGS = tuple(RequestFlag(value) for value in range(256))
#: Decoded addresses are shared ``IPv4Address`` objects, from two tables, so
#: that what the engines keep holds one object per address (docs/performance.md,
#: RSS per binding and visitor). Datagrams nobody authenticated used to fill a
#: single table up to 1M entries (~169 MB, issue 13 item 12); now:
#:
#: - ``_KNOWN``: addresses an engine holds state for (``address``: a proxy
#:   visitor's home address, so the replies about it return that very object).
#:   Only engines add to it, at most KNOWN_ADDRESS_LIMIT entries.
#: - ``_RECENT``: what the decoders saw last, for the few addresses every
#:   message repeats (the home agent, the care-of address, the FA as sender).
#:   Anyone's datagram can add to it, so it is small: at RECENT_ADDRESS_LIMIT
#:   it starts afresh, and a flood of new addresses costs sharing, never memory.
#:
#: Starting a table afresh leaves the objects already handed out valid.
_KNOWN: dict[bytes, IPv4Address] = {}
_RECENT: dict[bytes, IPv4Address] = {}
#: Above the engines' own state (max-bindings 200,000; the proxy benchmark's
#: 100,000 visitors); ~45 MB at most (an entry, its key and its address: ~170
#: B), only ever for addresses an engine already holds state for.
KNOWN_ADDRESS_LIMIT = 1 << 18
#: ~0.7 MB at most.
RECENT_ADDRESS_LIMIT = 1 << 12


def address(packed: bytes) -> IPv4Address:
    """The ``IPv4Address`` for 4 packed bytes, kept so that later decodes of
    the same address return this object. For addresses an engine holds state
    for (a visitor, a binding), never for whatever a datagram carries."""
    found = _KNOWN.get(packed)
    if found is None:
        if len(_KNOWN) >= KNOWN_ADDRESS_LIMIT:
            _KNOWN.clear()
        found = _RECENT.get(packed)
        if found is None:
            found = IPv4Address(packed)
        _KNOWN[packed] = found
    return found


def _decoded_address(packed: bytes) -> IPv4Address:
    """The shared object for ``packed``: a known one, else a recent one, else a
    new one remembered among the recent."""
    found = _KNOWN.get(packed)
    if found is None:
        found = _RECENT.get(packed)
    if found is None:
        if len(_RECENT) >= RECENT_ADDRESS_LIMIT:
            _RECENT.clear()
        found = _RECENT[packed] = IPv4Address(packed)
    return found


REPLY_HEADER_SIZE = _REPLY.size


def _find(extensions: tuple[Extension, ...], ext_type: int) -> list[Extension]:
    return [ext for ext in extensions if ext.type == ext_type]


@dataclass(frozen=True, slots=True)
class RegistrationRequest:
    flags: RequestFlag
    lifetime: int
    home_address: IPv4Address
    home_agent: IPv4Address
    care_of_address: IPv4Address
    identification: int
    extensions: tuple[Extension, ...] = ()
    #: The datagram this request was decoded from (empty for locally built ones).
    raw: bytes = field(default=b"", compare=False, repr=False)

    @property
    def is_deregistration(self) -> bool:
        return self.lifetime == 0

    def extensions_of(self, ext_type: int) -> list[Extension]:
        return _find(self.extensions, ext_type)

    @property
    def nai(self) -> str | None:
        found = self.extensions_of(ExtensionType.MOBILE_NODE_NAI)
        return found[0].nai if found else None

    def encode_header(self) -> bytes:
        return _REQUEST.pack(
            MessageType.REGISTRATION_REQUEST,
            int(self.flags),
            self.lifetime,
            self.home_address.packed,
            self.home_agent.packed,
            self.care_of_address.packed,
            self.identification,
        )

    def encode(self) -> bytes:
        """Fixed part and extensions exactly as held (authenticators included)."""
        return self.encode_header() + b"".join(ext.encode() for ext in self.extensions)


@dataclass(frozen=True, slots=True)
class RegistrationReply:
    code: int
    lifetime: int
    home_address: IPv4Address
    home_agent: IPv4Address
    identification: int
    extensions: tuple[Extension, ...] = ()
    raw: bytes = field(default=b"", compare=False, repr=False)

    def extensions_of(self, ext_type: int) -> list[Extension]:
        return _find(self.extensions, ext_type)

    @property
    def accepted(self) -> bool:
        return self.code in (0, 1)

    def encode_header(self) -> bytes:
        return _REPLY.pack(
            MessageType.REGISTRATION_REPLY,
            self.code,
            self.lifetime,
            self.home_address.packed,
            self.home_agent.packed,
            self.identification,
        )

    def encode(self) -> bytes:
        return self.encode_header() + b"".join(ext.encode() for ext in self.extensions)


def _check_size(data: bytes, minimum: int, what: str) -> None:
    if len(data) > MAX_MESSAGE_SIZE:
        raise DecodeError(DecodeFault.OVERSIZED, f"{what} of {len(data)} bytes")
    if len(data) < minimum:
        raise DecodeError(DecodeFault.TRUNCATED, f"{what} of {len(data)} bytes < {minimum}")


def decode_request(data: bytes, *, strict_reserved: bool = True) -> RegistrationRequest:
    """Decode a Registration Request (RFC 5944 §3.3).

    With ``strict_reserved`` a set ``r`` or ``x`` bit is a fault: agents answer it
    as a poorly formed request (70 at the FA, 134 at the HA).
    """
    _check_size(data, REQUEST_HEADER_SIZE, "registration request")
    msg_type, flags, lifetime, home, agent, coa, ident = _REQUEST.unpack_from(data)
    if msg_type != MessageType.REGISTRATION_REQUEST:
        raise DecodeError(DecodeFault.WRONG_TYPE, f"type {msg_type} is not a request")
    partial = PartialHeader(msg_type, lifetime, _decoded_address(home), _decoded_address(agent), ident)
    try:
        extensions = parse_extensions(data, REQUEST_HEADER_SIZE)
    except DecodeError as exc:
        raise DecodeError(exc.fault, exc.detail, partial=partial) from None
    if strict_reserved and flags & REQUEST_RESERVED_BITS:
        raise DecodeError(
            DecodeFault.RESERVED_BITS_SET, f"flags 0x{flags:02x} set r/x", partial=partial
        )
    return RegistrationRequest(
        _FLAGS[flags],
        lifetime,
        partial.home_address,
        partial.home_agent,
        _decoded_address(coa),
        ident,
        extensions,
        data,
    )


def decode_reply(data: bytes) -> RegistrationReply:
    """Decode a Registration Reply (RFC 5944 §3.4)."""
    _check_size(data, REPLY_HEADER_SIZE, "registration reply")
    msg_type, code, lifetime, home, agent, ident = _REPLY.unpack_from(data)
    if msg_type != MessageType.REGISTRATION_REPLY:
        raise DecodeError(DecodeFault.WRONG_TYPE, f"type {msg_type} is not a reply")
    partial = PartialHeader(msg_type, lifetime, _decoded_address(home), _decoded_address(agent), ident)
    try:
        extensions = parse_extensions(data, REPLY_HEADER_SIZE)
    except DecodeError as exc:
        raise DecodeError(exc.fault, exc.detail, partial=partial) from None
    return RegistrationReply(
        code, lifetime, partial.home_address, partial.home_agent, ident, extensions, data
    )


def message_type(data: bytes) -> int | None:
    """The first octet of a UDP/434 datagram, or None for an empty one."""
    return data[0] if data else None
