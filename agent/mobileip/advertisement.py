"""Agent Advertisement and Agent Solicitation (RFC 5944 §2.1, §2.2), as ICMP
messages: the ICMP Router Advertisement / Solicitation of RFC 1256 carrying the
Mobility Agent Advertisement extension (type 16), optionally Prefix-Lengths
(type 19) and one-byte padding (type 0).

Codecs work on the ICMP message (no IP header): the adapter's raw socket adds or
strips the IP header.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

from agent.mobileip.errors import DecodeError, DecodeFault
from agent.mobileip.numbers import AdvertisementExtensionType, AdvertisementFlag, IcmpType

#: ICMP code 16: a mobility agent that does not route common traffic (RFC 5944 §2.1).
CODE_MOBILITY_ONLY = 16
CODE_NORMAL_ROUTER = 0

#: All-mobility-agents multicast group for solicitations (RFC 5944 §2.2) and the
#: all-systems group for advertisements (§2.3).
ALL_MOBILITY_AGENTS = IPv4Address("224.0.0.11")
ALL_SYSTEMS = IPv4Address("224.0.0.1")

#: Second flags octet (RFC 3519 §3.3 U bit, RFC 3543 §3.1 X bit).
FLAG2_UDP_TUNNELLING = 0x80
FLAG2_REVOCATION = 0x40

_RA_HEADER = struct.Struct("!BBHBBH")


def icmp_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) over ``data``."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


@dataclass(frozen=True, slots=True)
class AgentAdvertisement:
    sequence: int
    registration_lifetime: int
    flags: AdvertisementFlag
    care_of_addresses: tuple[IPv4Address, ...]
    #: ICMP Router Advertisement lifetime (RFC 1256), seconds.
    advertisement_lifetime: int = 1800
    #: (router address, preference level) pairs of the RFC 1256 part.
    router_addresses: tuple[tuple[IPv4Address, int], ...] = ()
    prefix_lengths: tuple[int, ...] | None = None
    flags2: int = 0
    code: int = CODE_MOBILITY_ONLY

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

    def encode(self) -> bytes:
        body = b"".join(a.packed + struct.pack("!i", pref) for a, pref in self.router_addresses)
        coas = b"".join(a.packed for a in self.care_of_addresses)
        ext = struct.pack(
            "!BBHHBB",
            AdvertisementExtensionType.MOBILITY_AGENT_ADVERTISEMENT,
            6 + len(coas),
            self.sequence,
            self.registration_lifetime,
            int(self.flags),
            self.flags2,
        ) + coas
        if self.prefix_lengths is not None:
            ext += bytes(
                (AdvertisementExtensionType.PREFIX_LENGTHS, len(self.prefix_lengths))
            ) + bytes(self.prefix_lengths)
        header = _RA_HEADER.pack(
            IcmpType.ROUTER_ADVERTISEMENT,
            self.code,
            0,
            len(self.router_addresses),
            2,
            self.advertisement_lifetime,
        )
        message = header + body + ext
        checksum = icmp_checksum(message)
        return message[:2] + struct.pack("!H", checksum) + message[4:]


def decode_advertisement(data: bytes) -> AgentAdvertisement:
    """Decode an ICMP Router Advertisement that carries a Mobility Agent
    Advertisement extension. A plain router advertisement (no type 16) is a
    DecodeError: it does not advertise a mobility agent."""
    if len(data) < 8:
        raise DecodeError(DecodeFault.TRUNCATED, f"router advertisement of {len(data)} bytes")
    icmp_type, code, _checksum, num_addrs, entry_size, lifetime = _RA_HEADER.unpack_from(data)
    if icmp_type != IcmpType.ROUTER_ADVERTISEMENT:
        raise DecodeError(DecodeFault.WRONG_TYPE, f"ICMP type {icmp_type}")
    if icmp_checksum(data) != 0:
        raise DecodeError(DecodeFault.BAD_CHECKSUM, "ICMP checksum mismatch")
    if entry_size < 2:
        raise DecodeError(DecodeFault.BAD_FIELD, f"address entry size {entry_size} < 2")
    offset = 8
    routers = []
    for _ in range(num_addrs):
        if offset + entry_size * 4 > len(data):
            raise DecodeError(DecodeFault.TRUNCATED, "router address list")
        address = IPv4Address(data[offset : offset + 4])
        (preference,) = struct.unpack_from("!i", data, offset + 4)
        routers.append((address, preference))
        offset += entry_size * 4
    mobility: AgentAdvertisement | None = None
    prefix_lengths: tuple[int, ...] | None = None
    while offset < len(data):
        ext_type = data[offset]
        if ext_type == AdvertisementExtensionType.ONE_BYTE_PADDING:
            offset += 1
            continue
        if offset + 2 > len(data):
            raise DecodeError(DecodeFault.TRUNCATED, f"extension header at {offset}")
        length = data[offset + 1]
        body = offset + 2
        if body + length > len(data):
            raise DecodeError(DecodeFault.TRUNCATED, f"extension type {ext_type} at {offset}")
        if ext_type == AdvertisementExtensionType.MOBILITY_AGENT_ADVERTISEMENT:
            if mobility is not None:
                raise DecodeError(DecodeFault.BAD_FIELD, "two mobility agent extensions")
            if length < 6 or (length - 6) % 4:
                raise DecodeError(DecodeFault.BAD_EXTENSION_LENGTH, f"length {length}")
            sequence, reg_lifetime, flags, flags2 = struct.unpack_from("!HHBB", data, body)
            coas = tuple(
                IPv4Address(data[p : p + 4]) for p in range(body + 6, body + length, 4)
            )
            if flags & AdvertisementFlag.FOREIGN_AGENT and not coas:
                # RFC 5944 §2.1.1: F set => at least one care-of address.
                raise DecodeError(DecodeFault.BAD_FIELD, "foreign agent without care-of address")
            mobility = AgentAdvertisement(
                sequence,
                reg_lifetime,
                AdvertisementFlag(flags),
                coas,
                lifetime,
                tuple(routers),
                None,
                flags2,
                code,
            )
        elif ext_type == AdvertisementExtensionType.PREFIX_LENGTHS:
            prefix_lengths = tuple(data[body : body + length])
            if any(p > 32 for p in prefix_lengths):
                raise DecodeError(DecodeFault.BAD_FIELD, "prefix length > 32")
        offset = body + length
    if mobility is None:
        raise DecodeError(DecodeFault.BAD_FIELD, "no mobility agent advertisement extension")
    if prefix_lengths is not None:
        return AgentAdvertisement(
            mobility.sequence,
            mobility.registration_lifetime,
            mobility.flags,
            mobility.care_of_addresses,
            mobility.advertisement_lifetime,
            mobility.router_addresses,
            prefix_lengths,
            mobility.flags2,
            mobility.code,
        )
    return mobility


def encode_solicitation() -> bytes:
    """ICMP Router Solicitation (RFC 1256 §3; RFC 5944 §2.2)."""
    message = bytes((IcmpType.ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0))
    checksum = icmp_checksum(message)
    return message[:2] + struct.pack("!H", checksum) + message[4:]


def is_solicitation(data: bytes) -> bool:
    """True for a well-formed ICMP Router Solicitation (type 10, code 0, >= 8
    bytes, checksum right)."""
    return (
        len(data) >= 8
        and data[0] == IcmpType.ROUTER_SOLICITATION
        and data[1] == 0
        and icmp_checksum(data) == 0
    )


def next_sequence(sequence: int) -> int:
    """RFC 5944 §2.3.2: after 0xffff the sequence continues at 256, so values
    0-255 only ever follow a reboot."""
    return 256 if sequence >= 0xFFFF else sequence + 1
