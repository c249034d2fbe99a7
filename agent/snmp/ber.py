"""A strict, sans-IO BER codec for the one message shape that dominates SNMP
polling: an SNMPv2c (RFC 1901, RFC 3416 §3) GetRequest, GetNextRequest or
GetBulkRequest, and its Response.

It exists for speed: building and encoding pyasn1 objects costs ~100 µs per
varbind, which caps a pysnmp agent far below net-snmp's snmpd on a table walk.
Anything this codec does not accept in full — another version or PDU type,
indefinite or non-minimal lengths, trailing bytes, an unknown community — is
left to pysnmp's message processing (``decode_request`` returns None), which
then answers or counts it as RFC 3412/3584 require. The codec never decides
access: the adapter does, with the same views as every other request.
"""

from __future__ import annotations

from dataclasses import dataclass

# The screen's bound, kept by the fast path too since it decodes before the
# screen's walk: beyond it the fast path declines and the walk answers tooBig.
from agent.snmp.screen import MAX_REQUEST_VARBINDS
from agent.snmp.values import (
    COUNTER32,
    COUNTER64,
    END_OF_MIB_VIEW,
    GAUGE32,
    INTEGER,
    IP_ADDRESS,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    OBJECT_IDENTIFIER,
    OCTET_STRING,
    TIME_TICKS,
    Oid,
    Value,
)

SEQUENCE = 0x30
GET_REQUEST = 0xA0
GET_NEXT_REQUEST = 0xA1
RESPONSE = 0xA2
GET_BULK_REQUEST = 0xA5
SNMPV2_TRAP = 0xA7
SNMP_V2C = 1
_FAST_PDUS = frozenset((GET_REQUEST, GET_NEXT_REQUEST, GET_BULK_REQUEST))
_MAX_SUBIDS = 128  # RFC 2578 §3.5: at most 128 sub-identifiers
_MAX_SUBID = 0xFFFFFFFF


class BerError(ValueError):
    """Not a message this codec takes (pysnmp decides what it is)."""


@dataclass(frozen=True, slots=True)
class Request:
    community: bytes
    pdu_type: int
    #: The request-id's content octets, echoed as they came (RFC 3416 §4.2).
    request_id: bytes
    #: error-status / error-index, or non-repeaters / max-repetitions (GetBulk).
    first: int
    second: int
    oids: tuple[Oid, ...]


def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the TLV at ``pos``; definite,
    minimal lengths only (X.690 §8.1.3, as DER would have them)."""
    if pos + 2 > end:
        raise BerError("truncated")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise BerError("high tag numbers are not SNMP")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise BerError("indefinite length")
    else:
        count = first & 0x7F
        if count > 3 or pos + count > end:
            raise BerError("bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        if length < 0x80 or (count > 1 and data[pos] == 0):
            raise BerError("non-minimal length")
        pos += count
    if pos + length > end:
        raise BerError("truncated")
    return tag, pos, pos + length


def _integer(data: bytes, start: int, end: int) -> int:
    if start == end or end - start > 5:
        raise BerError("bad integer")
    if end - start > 1 and (
        (data[start] == 0 and data[start + 1] < 0x80) or (data[start] == 0xFF and data[start + 1] >= 0x80)
    ):
        raise BerError("non-minimal integer")
    return int.from_bytes(data[start:end], "big", signed=True)


def _oid(data: bytes, start: int, end: int) -> Oid:
    if start == end:
        raise BerError("empty OID")
    if end - start > 5 * _MAX_SUBIDS:
        raise BerError("OID too long")
    arcs: list[int] = []
    value = 0
    fresh = True
    for pos in range(start, end):
        byte = data[pos]
        if fresh and byte == 0x80:
            raise BerError("non-minimal sub-identifier")
        value = (value << 7) | (byte & 0x7F)
        # RFC 2578 §7.1.3: each sub-identifier is at most 2^32-1 (the first,
        # X*40+Y, at most 80 more): checked at every octet, so a run of
        # continuation octets never grows an integer past 40 bits.
        if value > (_MAX_SUBID if arcs else _MAX_SUBID + 80):
            raise BerError("sub-identifier too large")
        if byte & 0x80:
            fresh = False
            continue
        arcs.append(value)
        value = 0
        fresh = True
    if not fresh:
        raise BerError("unterminated sub-identifier")
    head = arcs[0]
    first, second = (head // 40, head % 40) if head < 80 else (2, head - 80)
    oid = (first, second, *arcs[1:])
    if len(oid) > _MAX_SUBIDS:
        raise BerError("too many sub-identifiers")
    return oid


def decode_request(data: bytes) -> Request | None:
    """The v2c read request in ``data``, or None when it is anything else
    (including anything malformed: pysnmp counts and drops it)."""
    try:
        return _decode(data)
    except BerError:
        return None


@dataclass(frozen=True, slots=True)
class Envelope:
    """The fields of a v1/v2c message before its varbinds: enough to answer
    one with an error and no varbinds (RFC 3416 §4.2.1 tooBig)."""

    version: int
    community: bytes
    pdu_type: int
    request_id: bytes


def decode_envelope(data: bytes) -> Envelope | None:
    """Version, community, PDU type and request-id of a v1/v2c message whose
    structure ``agent.snmp.screen`` has already bounded; None otherwise."""
    try:
        end = len(data)
        tag, start, stop = _header(data, 0, end)
        tag, s, e = _header(data, start, stop)
        version = _integer(data, s, e)
        if tag != INTEGER or version not in (0, SNMP_V2C):
            return None
        tag, s, e = _header(data, e, stop)
        if tag != OCTET_STRING:
            return None
        community = data[s:e]
        pdu_type, pdu_start, pdu_end = _header(data, e, stop)
        tag, s, e = _header(data, pdu_start, pdu_end)
        if tag != INTEGER:
            return None
        _integer(data, s, e)
        return Envelope(version, community, pdu_type, data[s:e])
    except BerError:
        return None


def _decode(data: bytes) -> Request:
    end = len(data)
    tag, start, stop = _header(data, 0, end)
    if tag != SEQUENCE or stop != end:
        raise BerError("not one message")
    tag, s, e = _header(data, start, stop)
    if tag != INTEGER or _integer(data, s, e) != SNMP_V2C:
        raise BerError("not SNMPv2c")
    tag, s, e = _header(data, e, stop)
    if tag != OCTET_STRING:
        raise BerError("no community")
    community = data[s:e]
    pdu_type, pdu_start, pdu_end = _header(data, e, stop)
    if pdu_type not in _FAST_PDUS or pdu_end != stop:
        raise BerError("not a read request")
    tag, s, e = _header(data, pdu_start, pdu_end)
    if tag != INTEGER:
        raise BerError("no request-id")
    _integer(data, s, e)
    request_id = data[s:e]
    tag, s, e = _header(data, e, pdu_end)
    if tag != INTEGER:
        raise BerError("bad PDU")
    first = _integer(data, s, e)
    tag, s, e = _header(data, e, pdu_end)
    if tag != INTEGER:
        raise BerError("bad PDU")
    second = _integer(data, s, e)
    tag, list_start, list_end = _header(data, e, pdu_end)
    if tag != SEQUENCE or list_end != pdu_end:
        raise BerError("bad varbind list")
    oids: list[Oid] = []
    pos = list_start
    while pos < list_end:
        if len(oids) == MAX_REQUEST_VARBINDS:
            raise BerError("more varbinds than a request may carry")
        tag, s, e = _header(data, pos, list_end)
        if tag != SEQUENCE:
            raise BerError("bad varbind")
        tag, os_, oe = _header(data, s, e)
        if tag != OBJECT_IDENTIFIER:
            raise BerError("bad varbind name")
        oids.append(_oid(data, os_, oe))
        tag, vs, ve = _header(data, oe, e)
        if ve != e or tag != NULL or vs != ve:
            raise BerError("a read request carries NULL values")
        pos = e
    return Request(community, pdu_type, request_id, first, second, tuple(oids))


# -- encoding --------------------------------------------------------------------------

_SMALL_LENGTHS = [bytes((n,)) for n in range(0x80)]


def _length(n: int) -> bytes:
    if n < 0x80:
        return _SMALL_LENGTHS[n]
    if n < 0x100:
        return bytes((0x81, n))
    if n < 0x10000:
        return bytes((0x82, n >> 8, n & 0xFF))
    return bytes((0x83, n >> 16, (n >> 8) & 0xFF, n & 0xFF))


def _subid(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


_SUBIDS = [_subid(n) for n in range(1 << 14)]


def encode_oid(oid: Oid) -> bytes:
    """The content octets of an OBJECT IDENTIFIER (X.690 §8.19)."""
    if len(oid) < 2:
        oid = (*oid, 0) if oid else (0, 0)
    head = oid[0] * 40 + oid[1]
    table = _SUBIDS
    return b"".join([table[head] if head < 16384 else _subid(head)]
                    + [table[x] if x < 16384 else _subid(x) for x in oid[2:]])


def _encode_integer(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)


_EXCEPTIONS = {
    NO_SUCH_OBJECT: b"\x80\x00",
    NO_SUCH_INSTANCE: b"\x81\x00",
    END_OF_MIB_VIEW: b"\x82\x00",
}


def encode_value(value: Value) -> bytes:
    tag, payload = value
    if tag == INTEGER or tag == COUNTER32 or tag == GAUGE32 or tag == TIME_TICKS or tag == COUNTER64:
        content = _encode_integer(payload)
    elif tag == OCTET_STRING or tag == IP_ADDRESS:
        content = payload
    elif tag == OBJECT_IDENTIFIER:
        content = encode_oid(payload)
    elif tag == NULL:
        return b"\x05\x00"
    else:
        return _EXCEPTIONS[tag]
    return bytes((tag,)) + _length(len(content)) + content


class OidEncoder:
    """OBJECT IDENTIFIER TLVs with the encoding of each column prefix cached:
    in a walk the instances of a column share all but their index."""

    def __init__(self) -> None:
        self._prefixes: dict[Oid, bytes] = {}

    def encode(self, oid: Oid, prefix_length: int) -> bytes:
        if 2 <= prefix_length <= len(oid):
            prefix = oid[:prefix_length]
            head = self._prefixes.get(prefix)
            if head is None:
                if len(self._prefixes) > 4096:
                    self._prefixes.clear()
                head = self._prefixes[prefix] = encode_oid(prefix)
            table = _SUBIDS
            content = head + b"".join([table[x] if x < 16384 else _subid(x) for x in oid[prefix_length:]])
        else:
            content = encode_oid(oid)
        return b"\x06" + _length(len(content)) + content


def encode_response(community: bytes, request_id: bytes, error_status: int, error_index: int,
                    varbinds: list[bytes]) -> bytes:
    """An SNMPv2c Response (RFC 3416 §3) around already encoded VarBind TLVs."""
    return encode_message(community, RESPONSE, request_id, error_status, error_index, varbinds)


def encode_message(community: bytes, pdu_type: int, request_id: bytes, error_status: int, error_index: int,
                   varbinds: list[bytes], *, version: int = SNMP_V2C) -> bytes:
    """An SNMPv2c (or, ``version`` 0, SNMPv1) message (RFC 1901, RFC 1157)
    carrying one PDU of ``pdu_type``."""
    body = b"".join(varbinds)
    varbind_list = b"\x30" + _length(len(body)) + body
    pdu_content = (
        b"\x02" + _length(len(request_id)) + request_id
        + b"\x02" + _length(len(_encode_integer(error_status))) + _encode_integer(error_status)
        + b"\x02" + _length(len(_encode_integer(error_index))) + _encode_integer(error_index)
        + varbind_list
    )
    pdu = bytes((pdu_type,)) + _length(len(pdu_content)) + pdu_content
    message = b"\x02\x01" + bytes((version,)) + b"\x04" + _length(len(community)) + community + pdu
    return b"\x30" + _length(len(message)) + message


def encode_trap(community: bytes, request_id: int, varbinds: list[tuple[Oid, Value]]) -> bytes:
    """An SNMPv2-Trap-PDU (RFC 3416 §4.2.6) in an SNMPv2c message."""
    encoder = OidEncoder()
    return encode_message(community, SNMPV2_TRAP, _encode_integer(request_id), 0, 0,
                          [encode_varbind(encoder.encode(oid, 0), value) for oid, value in varbinds])


def encode_varbind(oid_tlv: bytes, value: Value) -> bytes:
    content = oid_tlv + encode_value(value)
    return b"\x30" + _length(len(content)) + content
