"""The first look at every SNMP datagram, before any decoder runs (sans-IO).

pysnmp decodes a whole message with pyasn1 before its security model looks at
the community (RFC 3584 §5.2.1) or the USM user (RFC 3414 §3.2): a datagram
with a wrong community and 9,000 varbinds cost ~3 s of pyasn1, and a run of
continuation octets made one sub-identifier a 400,000-bit integer in the BER
fast path. So this module reads only what it must, in this order:

1. the outer SEQUENCE and the version (RFC 3412 §4.2.1 step 2: an unknown
   version is counted in snmpInBadVersions and dropped);
2. for SNMPv1/v2c the community, compared with the configured ones *before
   anything after it is read* (a wrong one: snmpInBadCommunityNames, RFC 3584
   §5.2.1, RFC 3418);
3. a walk over the TLV headers of the rest, bounded in every dimension an
   unauthenticated sender controls: nesting depth, elements per constructed
   value (the varbinds of a request), TLVs in all, INTEGER size, OBJECT
   IDENTIFIER size and sub-identifier value (RFC 2578 §3.5 and §7.1.3: at most
   128 sub-identifiers, each at most 2^32-1). A message outside these bounds
   is not an SNMP message this agent can have been sent: snmpInASNParseErrs
   (RFC 3412 §4.2.1 step 2, §7.2 step 2), except a request with more varbinds than
   ``MAX_REQUEST_VARBINDS``, which is well formed and gets its own verdict.

SNMPv3 cannot be authenticated before pysnmp decodes it (USM needs the whole
message), so for v3 the walk's bounds are the whole defence: every decode
pysnmp then does is of a message at most ``MAX_REQUEST_VARBINDS`` varbinds and
``MAX_TLVS`` TLVs long. Each step is linear in the datagram and stops at the
first fault. The screen counts nothing itself: the adapter maps each verdict
to its counter.
"""

from __future__ import annotations

import re
from collections.abc import Container
from enum import Enum

#: RFC 3412 §6 msgVersion / RFC 3584: SNMPv1 0, SNMPv2c 1, SNMPv3 3.
VERSIONS = frozenset((0, 1, 3))
#: Versions that carry a community (RFC 1157 §4, RFC 1901 §3).
COMMUNITY_VERSIONS = frozenset((0, 1))
#: Message > ScopedPDU > PDU > VarBindList > VarBind > value is 6 deep in
#: SNMPv3; nothing SNMP defines goes deeper.
MAX_DEPTH = 8
#: Varbinds in one request, and elements of any constructed value. pyasn1
#: spends ~0.3 ms per varbind, so this caps one datagram's decode near 40 ms.
MAX_REQUEST_VARBINDS = 128
#: TLVs in one message: 128 varbinds of 3 TLVs, a v3 header and some slack.
MAX_TLVS = 4 * MAX_REQUEST_VARBINDS + 64
#: Counter64 (RFC 2578 §7.1.10) needs 9 octets with its sign octet; nothing
#: SNMP carries needs more.
MAX_INTEGER_OCTETS = 9
#: RFC 2578 §3.5: at most 128 sub-identifiers; §7.1.3: each at most 2^32-1.
MAX_SUBIDS = 128
MAX_SUBID = 0xFFFFFFFF
#: Five octets hold 35 bits: any longer sub-identifier is over 2^32-1, so an
#: OID's content is at most this long.
_MAX_OID_OCTETS = 5 * (MAX_SUBIDS - 1)

_INTEGER, _OCTET_STRING, _OBJECT_IDENTIFIER, _SEQUENCE = 0x02, 0x04, 0x06, 0x30
#: INTEGER and the SMI's integer application types (RFC 2578 §7.1, RFC 3416 §3):
#: Counter32, Gauge32/Unsigned32, TimeTicks, Counter64.
_INTEGER_TAGS = frozenset((_INTEGER, 0x41, 0x42, 0x43, 0x46))
#: PDUs each version defines that a command responder does not take (RFC
#: 3411 §2.8: the Response, Notification and Internal classes): SNMPv1
#: GetResponse and Trap (RFC 1157 §4.1); SNMPv2c Response, InformRequest,
#: SNMPv2-Trap and Report (RFC 3416 §3).
_OTHER_PDUS = {0: frozenset((0xA2, 0xA4)), 1: frozenset((0xA2, 0xA6, 0xA7, 0xA8))}


class Verdict(Enum):
    """What the adapter does with a datagram (and which RFC 3418 counter)."""

    #: Within every bound, with a known community (v1/v2c) or a v3 header.
    ACCEPT = "accept"
    #: snmpInBadVersions (RFC 3412 §4.2.1 step 2).
    BAD_VERSION = "bad-version"
    #: snmpInBadCommunityNames (RFC 3584 §5.2.1); nothing after the community read.
    BAD_COMMUNITY = "bad-community"
    #: snmpInASNParseErrs (RFC 3412 §4.2.1 step 2, §7.2 step 2).
    PARSE_ERROR = "parse-error"
    #: Well formed, but more than MAX_REQUEST_VARBINDS varbinds in one list.
    TOO_MANY_VARBINDS = "too-many-varbinds"
    #: snmpUnknownPDUHandlers (RFC 3412 §4.2.2.1.2, §4.2.2.2.2): a v1/v2c PDU
    #: this command responder has no application for (a Response, Trap,
    #: InformRequest or Report). Dropped: v1/v2c has no Report to send.
    UNKNOWN_PDU_HANDLER = "unknown-pdu-handler"


class _Fault(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.value)
        self.verdict = verdict


def screen(datagram: bytes, communities: Container[bytes], *, walk: bool = True) -> Verdict:
    """The verdict on ``datagram``; reads the community (when there is one)
    before anything after it, and never more than the bounds above. Without
    ``walk`` only the version and the community are checked (for the BER fast
    path, which bounds its own decoding; pysnmp gets nothing unwalked)."""
    try:
        _screen(datagram, communities, walk=walk)
    except _Fault as fault:
        return fault.verdict
    return Verdict.ACCEPT


def message_version(datagram: bytes) -> int | None:
    """msgVersion of a datagram the screen accepted (None if unreadable)."""
    try:
        _, start, stop = _header(datagram, 0, len(datagram))
        tag, s, e = _header(datagram, start, stop)
    except _Fault:
        return None
    if tag != _INTEGER or not 0 < e - s <= MAX_INTEGER_OCTETS:
        return None
    return int.from_bytes(datagram[s:e], "big", signed=True)


def _parse_error() -> _Fault:
    return _Fault(Verdict.PARSE_ERROR)


def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the TLV at ``pos``: low tag numbers
    and definite lengths only (RFC 3417 §8: SNMP uses the definite form)."""
    if pos + 2 > end:
        raise _parse_error()
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _parse_error()
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise _parse_error()  # indefinite length
    else:
        count = first & 0x7F
        if count > 4 or pos + count > end:
            raise _parse_error()
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > end:
        raise _parse_error()
    return tag, pos, pos + length


def _check_integer(data: bytes, start: int, end: int) -> None:
    if start == end or end - start > MAX_INTEGER_OCTETS:
        raise _parse_error()


#: Each octet of an OID's content by class: e ends a sub-identifier (high bit
#: clear), z is 0x80, l 0x81-0x8F, h 0x90-0xFF (continuations, X.690 §8.19.2).
_CLASSES = b"".join(b"e" if octet < 0x80 else b"z" if octet == 0x80 else b"l" if octet < 0x90 else b"h"
                    for octet in range(256))
#: Five octets whose first carries more than the top four bits of 32, between
#: two terminators (or the start): over 2^32-1 (0x8F FF FF FF 7F is 2^32-1).
_FIVE_OCTETS_OVER_32_BITS = re.compile(rb"eh[zlh]{3}e")
#: The three continuation classes as one (c): five in a row are 35 bits.
_ANY_CONTINUATION = bytes.maketrans(b"zlh", b"ccc")


def _check_oid(data: bytes, start: int, end: int) -> None:
    """X.690 §8.19 content octets within RFC 2578's bounds (§3.5: at most 128
    sub-identifiers; §7.1.3: each at most 2^32-1, the first, X*40+Y, held to
    it too), without building an integer: the octets are classed in one C
    pass and the class string searched. Six octets or more, or five starting
    above 0x8F, are over 2^32-1; a sub-identifier starting with 0x80 is not
    minimal (X.690 §8.19.2)."""
    if start == end or end - start > _MAX_OID_OCTETS:
        raise _parse_error()
    classes = b"e" + data[start:end].translate(_CLASSES)
    if not classes.endswith(b"e"):
        raise _parse_error()  # the last sub-identifier is unterminated
    if classes.count(b"e") > MAX_SUBIDS:  # one per sub-identifier, +1 for the first's two arcs
        raise _parse_error()
    if b"ez" in classes or _FIVE_OCTETS_OVER_32_BITS.search(classes) is not None:
        raise _parse_error()
    if b"ccccc" in classes.translate(_ANY_CONTINUATION):
        raise _parse_error()


def _screen(data: bytes, communities: Container[bytes], *, walk: bool) -> None:
    end = len(data)
    tag, start, stop = _header(data, 0, end)
    if tag != _SEQUENCE or stop != end:
        raise _parse_error()
    tag, s, e = _header(data, start, stop)
    if tag != _INTEGER:
        raise _parse_error()
    _check_integer(data, s, e)
    version = int.from_bytes(data[s:e], "big", signed=True)
    if version not in VERSIONS:
        raise _Fault(Verdict.BAD_VERSION)
    pos = e
    if version in COMMUNITY_VERSIONS:
        tag, s, e = _header(data, pos, stop)
        if tag != _OCTET_STRING:
            raise _parse_error()
        if data[s:e] not in communities:
            raise _Fault(Verdict.BAD_COMMUNITY)
        pos = e
        if pos < stop and data[pos] in _OTHER_PDUS[version]:
            # pysnmp would count it too, but leaks the community's security
            # state for each one (its cache of them never expires).
            raise _Fault(Verdict.UNKNOWN_PDU_HANDLER)
    if walk:
        _walk(data, pos, stop, depth=2, budget=[MAX_TLVS])


def _walk(data: bytes, pos: int, end: int, *, depth: int, budget: list[int]) -> None:
    """Every TLV in data[pos:end], depth first, within the bounds."""
    if depth > MAX_DEPTH:
        raise _parse_error()
    elements = 0
    while pos < end:
        tag, s, e = _header(data, pos, end)
        elements += 1
        budget[0] -= 1
        if budget[0] < 0:
            raise _parse_error()
        if elements > MAX_REQUEST_VARBINDS:
            raise _Fault(Verdict.TOO_MANY_VARBINDS)
        if tag & 0x20:  # constructed (X.690 §8.1.2.5)
            _walk(data, s, e, depth=depth + 1, budget=budget)
        elif tag == _OBJECT_IDENTIFIER:
            _check_oid(data, s, e)
        elif tag in _INTEGER_TAGS:
            _check_integer(data, s, e)
        pos = e
