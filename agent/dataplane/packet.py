"""IP-in-IP encapsulation (RFC 2003 §3) as pure functions on bytes.

The outer header is built here and sent on an ``IP_HDRINCL`` raw socket: the
kernel fills in the checksum, and the Identification when it is 0."""

from __future__ import annotations

import struct
from dataclasses import dataclass

IPPROTO_IPIP = 4
#: RFC 2003 §3.1: "a value appropriate for delivery ... to the tunnel exit point".
OUTER_TTL = 64
_DF = 0x4000
_HEADER = struct.Struct("!BBHHHBBH4s4s")


class PacketError(ValueError):
    """A datagram that is not a well-formed IPv4 packet of the kind expected."""


@dataclass(frozen=True, slots=True)
class Decapsulated:
    outer_source: bytes  # 4 bytes, network order
    inner: bytes


def encapsulate(inner: bytes, source: bytes, destination: bytes) -> bytes:
    """Outer header + ``inner`` (RFC 2003 §3.1): TOS copied from the inner header,
    DF copied from the inner header, TTL 64, protocol 4. ``source`` and
    ``destination`` are 4-byte addresses."""
    if len(inner) < 20 or inner[0] >> 4 != 4:
        raise PacketError("inner packet is not IPv4")
    tos = inner[1]
    df = (inner[6] << 8 | inner[7]) & _DF
    return _HEADER.pack(0x45, tos, 20 + len(inner), 0, df, OUTER_TTL, IPPROTO_IPIP, 0,
                        source, destination) + inner


def decapsulate(packet: bytes) -> Decapsulated:
    """Strip the outer header of an IP-in-IP datagram as a raw socket returns it
    (outer header included). Strict: the outer header must say protocol 4 and
    be no fragment, and the inner one must be a complete IPv4 header whose total
    length fits what arrived."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        raise PacketError("outer header is not IPv4")
    outer_length = (packet[0] & 0x0F) * 4
    if outer_length < 20 or len(packet) < outer_length + 20:
        raise PacketError("truncated")
    if packet[9] != IPPROTO_IPIP:
        raise PacketError("outer protocol is not IP-in-IP")
    if (packet[6] << 8 | packet[7]) & 0x3FFF:
        # A raw socket sees reassembled datagrams; a fragment here is malformed.
        raise PacketError("outer header is a fragment")
    inner = packet[outer_length:]
    if inner[0] >> 4 != 4 or (inner[0] & 0x0F) < 5:
        raise PacketError("inner packet is not IPv4")
    inner_total = inner[2] << 8 | inner[3]
    if inner_total < (inner[0] & 0x0F) * 4 or inner_total > len(inner):
        raise PacketError("inner total length disagrees with the datagram")
    return Decapsulated(packet[12:16], inner[:inner_total])


def inner_source(inner: bytes) -> bytes:
    return inner[12:16]


def inner_destination(inner: bytes) -> bytes:
    return inner[16:20]
