"""Agent Advertisement and Agent Solicitation (RFC 5944 §2.1, §2.2), as ICMP
messages: the ICMP Router Advertisement / Solicitation of RFC 1256 carrying the
Mobility Agent Advertisement extension (type 16), optionally Prefix-Lengths
(type 19) and one-byte padding (type 0).

Codecs work on the ICMP message (no IP header): the adapter's raw socket adds or
strips the IP header. Decoders are strict in the way the registration codec is
(``registration.py``): every length is checked, nothing may trail, and every
fault raises the one typed ``DecodeError``:

- an unrecognised extension type 0-127 voids the whole message (it is silently
  discarded), an unrecognised 128-255 is skipped (RFC 5944 §1.9; advertisement
  extensions have their own number space, apart from UDP/434's);
- more than ``MAX_MESSAGE_SIZE`` bytes is ``OVERSIZED``;
- a bad ICMP checksum (RFC 1256 §5.2, §4.2; RFC 1071) is ``BAD_CHECKSUM``;
- bits RFC 5944 §2.1.1 and RFC 1256 §3 say are "sent as zero; ignored on
  reception" are ``RESERVED_BITS_SET`` unless ``strict_reserved=False`` — the
  same choice ``decode_request`` makes for the r and x bits of §3.3.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

from agent.mobileip.errors import ConfigurationError, DecodeError, DecodeFault
from agent.mobileip.extensions import Extension
from agent.mobileip.numbers import AdvertisementExtensionType, AdvertisementFlag, IcmpType

#: ICMP code 16: a mobility agent that does not route common traffic; code 0:
#: it is also an ordinary router (RFC 5944 §2.1). No other code is defined.
CODE_MOBILITY_ONLY = 16
CODE_NORMAL_ROUTER = 0
ADVERTISEMENT_CODES = frozenset({CODE_NORMAL_ROUTER, CODE_MOBILITY_ONLY})

#: All-mobility-agents multicast group for solicitations (RFC 5944 §2.2) and the
#: all-systems group for advertisements (§2.3).
ALL_MOBILITY_AGENTS = IPv4Address("224.0.0.11")
ALL_SYSTEMS = IPv4Address("224.0.0.1")

#: Second flags octet of the Mobility Agent Advertisement extension (RFC 5944
#: §2.1.1: ``U X I reserved``): U, UDP tunnelling (RFC 3519 §3.1); X,
#: registration revocation (RFC 3543 §3.1); I, regional registration (RFC 4857).
FLAG2_UDP_TUNNELLING = 0x80
FLAG2_REVOCATION = 0x40
FLAG2_REGIONAL_REGISTRATION = 0x20
#: The five low bits of the second octet: "sent as zero; ignored on reception".
FLAG2_RESERVED = 0x1F
#: The r bit of the first octet (RFC 5944 §2.1.1, formerly RFC 2002's V).
FLAGS_RESERVED = int(AdvertisementFlag.RESERVED_R)

#: Largest ICMP message accepted or built: what one 1500-byte Ethernet payload
#: carries after a 20-byte IP header (RFC 5944 §2.1 advertisements are sent with
#: TTL 1 on the link; nothing fragments them). 62 care-of addresses, 255 router
#: entries and a full Prefix-Lengths extension fit in 1,370 bytes.
MAX_MESSAGE_SIZE = 1480
#: Router Advertisement header: type, code, checksum, num addrs, entry size,
#: lifetime (RFC 1256 §3).
HEADER_SIZE = 8
#: RFC 1256 §3: router address + preference level, in 32-bit words.
ADDRESS_ENTRY_SIZE = 2
#: Sequence Number, Registration Lifetime and the two flag octets (RFC 5944 §2.1.1).
MOBILITY_EXTENSION_FIXED = 6
#: Length is one octet, 6 + 4N (RFC 5944 §2.1.1).
MAX_CARE_OF_ADDRESSES = (255 - MOBILITY_EXTENSION_FIXED) // 4
#: RFC 1256 §3: preference 0x80000000 means "not to be used as a default
#: router", which is what a code-16 agent (RFC 5944 §2.1) is.
PREFERENCE_NOT_A_DEFAULT_ROUTER = -(2**31)

_RA_HEADER = struct.Struct("!BBHBBH")
_MOBILITY = struct.Struct("!HHBB")
_PREFERENCE = struct.Struct("!i")
_ADDRESS = struct.Struct("!4s")

_PADDING = AdvertisementExtensionType.ONE_BYTE_PADDING
_MOBILITY_TYPE = AdvertisementExtensionType.MOBILITY_AGENT_ADVERTISEMENT
_PREFIX_LENGTHS = AdvertisementExtensionType.PREFIX_LENGTHS


def icmp_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) over ``data``; 0 over a message whose
    checksum field is right."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def _with_checksum(message: bytes) -> bytes:
    checksum = icmp_checksum(message[:2] + b"\x00\x00" + message[4:])
    return message[:2] + struct.pack("!H", checksum) + message[4:]


@dataclass(frozen=True, slots=True)
class AgentAdvertisement:
    """An Agent Advertisement (RFC 5944 §2.1): an ICMP Router Advertisement
    (RFC 1256) with one Mobility Agent Advertisement extension."""

    sequence: int
    registration_lifetime: int
    #: First flags octet: R B H F M G r T (RFC 5944 §2.1.1).
    flags: AdvertisementFlag
    care_of_addresses: tuple[IPv4Address, ...]
    #: ICMP Router Advertisement lifetime (RFC 1256), seconds.
    advertisement_lifetime: int = 1800
    #: (router address, preference level) pairs of the RFC 1256 part; RFC 5944
    #: §2.1 allows none.
    router_addresses: tuple[tuple[IPv4Address, int], ...] = ()
    #: Prefix-Lengths extension (RFC 5944 §2.1.2): one per router address, in
    #: their order; None when the extension is absent.
    prefix_lengths: tuple[int, ...] | None = None
    #: Second flags octet: U X I and five reserved bits (RFC 5944 §2.1.1).
    flags2: int = 0
    code: int = CODE_MOBILITY_ONLY
    #: Extensions 128-255 we do not understand, kept as read (RFC 5944 §1.9:
    #: skipped); they are encoded after the ones above.
    extensions: tuple[Extension, ...] = ()
    #: A one-byte padding extension (RFC 5944 §2.1.3) ends the message.
    padded: bool = False

    @property
    def is_foreign_agent(self) -> bool:
        return bool(self.flags & AdvertisementFlag.FOREIGN_AGENT)

    @property
    def is_home_agent(self) -> bool:
        return bool(self.flags & AdvertisementFlag.HOME_AGENT)

    @property
    def busy(self) -> bool:
        return bool(self.flags & AdvertisementFlag.BUSY)

    @property
    def registration_required(self) -> bool:
        return bool(self.flags & AdvertisementFlag.REGISTRATION_REQUIRED)

    @property
    def reverse_tunnelling(self) -> bool:
        return bool(self.flags & AdvertisementFlag.REVERSE_TUNNELING)

    @property
    def udp_tunnelling(self) -> bool:
        return bool(self.flags2 & FLAG2_UDP_TUNNELLING)

    @property
    def revocation_support(self) -> bool:
        return bool(self.flags2 & FLAG2_REVOCATION)

    @property
    def regional_registration(self) -> bool:
        return bool(self.flags2 & FLAG2_REGIONAL_REGISTRATION)

    @property
    def reserved_bits(self) -> int:
        """The reserved bits that are set, as the 16-bit flags field shows them
        (r = 0x0200, reserved = 0x001f); 0 in anything a conforming agent sends."""
        return ((int(self.flags) & FLAGS_RESERVED) << 8) | (self.flags2 & FLAG2_RESERVED)

    def _check(self) -> None:
        """Refuse to build what RFC 5944 §2.1 forbids or the fields cannot hold
        (reserved bits are written as given: tests need them)."""
        problems = []
        for name, value in (
            ("sequence", self.sequence),
            ("registration lifetime", self.registration_lifetime),
            ("advertisement lifetime", self.advertisement_lifetime),
        ):
            if not 0 <= value <= 0xFFFF:
                problems.append(f"{name} {value} is not 16-bit")
        if not 0 <= int(self.flags) <= 0xFF or not 0 <= self.flags2 <= 0xFF:
            problems.append("flags are two octets")
        if self.code not in ADVERTISEMENT_CODES:
            problems.append(f"ICMP code {self.code} (RFC 5944 §2.1: 0 or 16)")
        if len(self.care_of_addresses) > MAX_CARE_OF_ADDRESSES:
            problems.append(
                f"{len(self.care_of_addresses)} care-of addresses, at most "
                f"{MAX_CARE_OF_ADDRESSES} fit in the extension's length octet"
            )
        if self.is_foreign_agent and not self.care_of_addresses:
            problems.append("F set without a care-of address (RFC 5944 §2.1.1)")
        if len(self.router_addresses) > 255:
            problems.append(
                f"{len(self.router_addresses)} router addresses (Num Addrs is one octet)"
            )
        if any(not -(2**31) <= pref < 2**31 for _, pref in self.router_addresses):
            problems.append("a preference level is not a signed 32-bit value (RFC 1256 §3)")
        if self.prefix_lengths is not None:
            if len(self.prefix_lengths) != len(self.router_addresses):
                problems.append(
                    f"{len(self.prefix_lengths)} prefix lengths for "
                    f"{len(self.router_addresses)} router addresses (RFC 5944 §2.1.2)"
                )
            if any(not 0 <= p <= 32 for p in self.prefix_lengths):
                problems.append("a prefix length is not 0-32 (RFC 5944 §2.1.2)")
        for ext in self.extensions:
            if ext.type < 128 or ext.subtype is not None or len(ext.data) > 255:
                problems.append(f"extension {ext.type} is not a skippable simple extension")
        if problems:
            raise ConfigurationError("agent advertisement: " + "; ".join(problems))

    def encode(self) -> bytes:
        """The ICMP message, checksum filled in (RFC 1256 §3, RFC 5944 §2.1).
        Raises ``ConfigurationError`` for a record no receiver could accept."""
        self._check()
        routers = b"".join(
            a.packed + _PREFERENCE.pack(pref) for a, pref in self.router_addresses
        )
        coas = b"".join(a.packed for a in self.care_of_addresses)
        parts = [
            _RA_HEADER.pack(
                IcmpType.ROUTER_ADVERTISEMENT,
                self.code,
                0,
                len(self.router_addresses),
                ADDRESS_ENTRY_SIZE,
                self.advertisement_lifetime,
            ),
            routers,
            bytes((_MOBILITY_TYPE, MOBILITY_EXTENSION_FIXED + len(coas))),
            _MOBILITY.pack(
                self.sequence, self.registration_lifetime, int(self.flags), self.flags2
            ),
            coas,
        ]
        if self.prefix_lengths is not None:
            parts.append(bytes((_PREFIX_LENGTHS, len(self.prefix_lengths), *self.prefix_lengths)))
        parts += [ext.encode() for ext in self.extensions]
        if self.padded:
            parts.append(bytes((_PADDING,)))
        message = b"".join(parts)
        if len(message) > MAX_MESSAGE_SIZE:
            raise ConfigurationError(
                f"agent advertisement of {len(message)} bytes > {MAX_MESSAGE_SIZE}"
            )
        return _with_checksum(message)


def _check_size(data: bytes, what: str) -> None:
    if len(data) > MAX_MESSAGE_SIZE:
        raise DecodeError(
            DecodeFault.OVERSIZED, f"{what} of {len(data)} bytes > {MAX_MESSAGE_SIZE}"
        )
    if len(data) < HEADER_SIZE:
        raise DecodeError(DecodeFault.TRUNCATED, f"{what} of {len(data)} bytes < {HEADER_SIZE}")


def decode_advertisement(data: bytes, *, strict_reserved: bool = True) -> AgentAdvertisement:
    """Decode an ICMP Router Advertisement that carries a Mobility Agent
    Advertisement extension (RFC 5944 §2.1; RFC 1256 §3, §5.2).

    A plain router advertisement (no type 16) is a ``DecodeError``: it does not
    advertise a mobility agent. With ``strict_reserved`` a set r bit or reserved
    bit of the second flags octet is ``RESERVED_BITS_SET``; without, they are
    kept in the record as received.
    """
    _check_size(data, "agent advertisement")
    icmp_type, code, _checksum, num_addrs, entry_size, lifetime = _RA_HEADER.unpack_from(data)
    if icmp_type != IcmpType.ROUTER_ADVERTISEMENT:
        raise DecodeError(DecodeFault.WRONG_TYPE, f"ICMP type {icmp_type} is not 9")
    if icmp_checksum(data) != 0:
        raise DecodeError(DecodeFault.BAD_CHECKSUM, "ICMP checksum mismatch (RFC 1256 §5.2)")
    if code not in ADVERTISEMENT_CODES:
        raise DecodeError(DecodeFault.BAD_FIELD, f"ICMP code {code} (RFC 5944 §2.1: 0 or 16)")
    if entry_size < ADDRESS_ENTRY_SIZE:
        # RFC 1256 §5.2: Addr Entry Size >= 2. Words beyond the first two of an
        # entry are ignored (room for future use, RFC 1256 §3).
        raise DecodeError(DecodeFault.BAD_FIELD, f"address entry size {entry_size} < 2")
    end = len(data)
    offset = HEADER_SIZE
    if offset + num_addrs * entry_size * 4 > end:
        raise DecodeError(
            DecodeFault.TRUNCATED,
            f"{num_addrs} router entries of {entry_size * 4} bytes, {end - offset} remain",
        )
    routers = []
    for _ in range(num_addrs):
        (packed,) = _ADDRESS.unpack_from(data, offset)
        (preference,) = _PREFERENCE.unpack_from(data, offset + 4)
        routers.append((IPv4Address(packed), preference))
        offset += entry_size * 4

    mobility: tuple[int, int, int, int, tuple[IPv4Address, ...]] | None = None
    prefix_lengths: tuple[int, ...] | None = None
    skipped: list[Extension] = []
    padded = False
    while offset < end:
        ext_type = data[offset]
        if ext_type == _PADDING:
            # RFC 5944 §2.1.3: one octet, no Length; SHOULD be last and single,
            # which binds the sender: a receiver just steps over it.
            padded = True
            offset += 1
            continue
        if offset + 2 > end:
            raise DecodeError(DecodeFault.TRUNCATED, f"extension header at {offset}")
        length = data[offset + 1]
        body = offset + 2
        if body + length > end:
            raise DecodeError(
                DecodeFault.TRUNCATED,
                f"extension type {ext_type} at {offset} claims {length} bytes, "
                f"{end - body} remain",
            )
        if ext_type == _MOBILITY_TYPE:
            if mobility is not None:
                raise DecodeError(
                    DecodeFault.BAD_FIELD, "two mobility agent advertisement extensions"
                )
            if length < MOBILITY_EXTENSION_FIXED or (length - MOBILITY_EXTENSION_FIXED) % 4:
                raise DecodeError(
                    DecodeFault.BAD_EXTENSION_LENGTH,
                    f"mobility agent advertisement length {length} is not 6 + 4N"
                    " (RFC 5944 §2.1.1)",
                )
            sequence, registration_lifetime, flags, flags2 = _MOBILITY.unpack_from(data, body)
            coas = tuple(
                IPv4Address(data[p : p + 4])
                for p in range(body + MOBILITY_EXTENSION_FIXED, body + length, 4)
            )
            mobility = (sequence, registration_lifetime, flags, flags2, coas)
        elif ext_type == _PREFIX_LENGTHS:
            if prefix_lengths is not None:
                raise DecodeError(DecodeFault.BAD_FIELD, "two prefix-lengths extensions")
            if length != num_addrs:
                # RFC 5944 §2.1.2: Length is N, the Num Addrs of the RA part.
                raise DecodeError(
                    DecodeFault.BAD_EXTENSION_LENGTH,
                    f"prefix-lengths length {length} for {num_addrs} router addresses",
                )
            prefix_lengths = tuple(data[body : body + length])
            if any(p > 32 for p in prefix_lengths):
                raise DecodeError(DecodeFault.BAD_FIELD, f"prefix length > 32 in {prefix_lengths}")
        elif ext_type < 128:
            raise DecodeError(
                DecodeFault.UNKNOWN_NON_SKIPPABLE_EXTENSION,
                f"unrecognised advertisement extension type {ext_type} at {offset}"
                " (RFC 5944 §1.9)",
            )
        else:
            skipped.append(Extension(ext_type, data[body : body + length], offset))
        offset = body + length

    if mobility is None:
        raise DecodeError(DecodeFault.BAD_FIELD, "no mobility agent advertisement extension")
    sequence, registration_lifetime, flags, flags2, coas = mobility
    if flags & AdvertisementFlag.FOREIGN_AGENT and not coas:
        # RFC 5944 §2.1.1: F set => at least one care-of address.
        raise DecodeError(DecodeFault.BAD_FIELD, "foreign agent without care-of address")
    if strict_reserved and (flags & FLAGS_RESERVED or flags2 & FLAG2_RESERVED):
        raise DecodeError(
            DecodeFault.RESERVED_BITS_SET,
            f"flags 0x{flags:02x}{flags2:02x} set reserved bits (RFC 5944 §2.1.1)",
        )
    return AgentAdvertisement(
        sequence=sequence,
        registration_lifetime=registration_lifetime,
        flags=AdvertisementFlag(flags),
        care_of_addresses=coas,
        advertisement_lifetime=lifetime,
        router_addresses=tuple(routers),
        prefix_lengths=prefix_lengths,
        flags2=flags2,
        code=code,
        extensions=tuple(skipped),
        padded=padded,
    )


@dataclass(frozen=True, slots=True)
class AgentSolicitation:
    """An Agent Solicitation: an ICMP Router Solicitation (RFC 1256 §3) sent
    with TTL 1 (RFC 5944 §2.2; the TTL is the adapter's)."""

    #: The 32-bit Reserved field: "sent as zero; ignored on reception".
    reserved: int = 0

    def encode(self) -> bytes:
        if not 0 <= self.reserved <= 0xFFFF_FFFF:
            raise ConfigurationError(f"solicitation reserved field {self.reserved} is not 32-bit")
        return _with_checksum(
            struct.pack("!BBHI", IcmpType.ROUTER_SOLICITATION, 0, 0, self.reserved)
        )


def decode_solicitation(data: bytes, *, strict_reserved: bool = True) -> AgentSolicitation:
    """Decode an Agent Solicitation (RFC 5944 §2.2; RFC 1256 §4.2 checks:
    checksum valid, code 0, at least 8 octets).

    RFC 1256 §4.2 has a router ignore the Reserved field and octets beyond the
    first 8; with ``strict_reserved`` (the default, as for registration
    messages) a non-zero Reserved field is ``RESERVED_BITS_SET`` and anything
    after the 8 octets is ``TRAILING_DATA``.
    """
    _check_size(data, "agent solicitation")
    icmp_type, code, _checksum, reserved = struct.unpack_from("!BBHI", data)
    if icmp_type != IcmpType.ROUTER_SOLICITATION:
        raise DecodeError(DecodeFault.WRONG_TYPE, f"ICMP type {icmp_type} is not 10")
    if icmp_checksum(data) != 0:
        raise DecodeError(DecodeFault.BAD_CHECKSUM, "ICMP checksum mismatch (RFC 1256 §4.2)")
    if code != 0:
        raise DecodeError(DecodeFault.BAD_FIELD, f"ICMP code {code} (RFC 1256 §4.2: 0)")
    if strict_reserved:
        if reserved:
            raise DecodeError(
                DecodeFault.RESERVED_BITS_SET, f"reserved field 0x{reserved:08x} (RFC 1256 §3)"
            )
        if len(data) > HEADER_SIZE:
            raise DecodeError(
                DecodeFault.TRAILING_DATA, f"{len(data) - HEADER_SIZE} bytes after the solicitation"
            )
    return AgentSolicitation(reserved)


def encode_solicitation() -> bytes:
    """ICMP Router Solicitation (RFC 1256 §3; RFC 5944 §2.2)."""
    return AgentSolicitation().encode()


def is_solicitation(data: bytes, *, strict_reserved: bool = True) -> bool:
    """True when ``data`` decodes as an Agent Solicitation."""
    try:
        decode_solicitation(data, strict_reserved=strict_reserved)
    except DecodeError:
        return False
    return True


def next_sequence(sequence: int) -> int:
    """RFC 5944 §2.3.2: after 0xffff the sequence continues at 256, so values
    0-255 only ever follow a reboot."""
    return 256 if sequence >= 0xFFFF else sequence + 1
