"""SNMP values without a wire library: a value is ``(tag, payload)`` with the BER
tag of its SMIv2 type (RFC 2578 §7.1, RFC 3416 §3), so the instrumentation
stays sans-IO and the adapter converts once at the edge.

Payloads: ``int`` for INTEGER / Counter32 / Gauge32 / TimeTicks / Counter64,
``bytes`` for OCTET STRING and IpAddress, a ``tuple[int, ...]`` for OBJECT
IDENTIFIER, ``None`` for the exceptions of RFC 3416 §3 (noSuchObject,
noSuchInstance, endOfMibView).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
IP_ADDRESS = 0x40
COUNTER32 = 0x41
GAUGE32 = 0x42  # also Unsigned32 (RFC 2578 §7.1.11: same tag)
TIME_TICKS = 0x43
COUNTER64 = 0x46
NO_SUCH_OBJECT = 0x80
NO_SUCH_INSTANCE = 0x81
END_OF_MIB_VIEW = 0x82

Value = tuple[int, Any]
Oid = tuple[int, ...]

NO_SUCH_OBJECT_VALUE: Value = (NO_SUCH_OBJECT, None)
NO_SUCH_INSTANCE_VALUE: Value = (NO_SUCH_INSTANCE, None)
END_OF_MIB_VIEW_VALUE: Value = (END_OF_MIB_VIEW, None)
EMPTY_STRING: Value = (OCTET_STRING, b"")
NULL_VALUE: Value = (NULL, None)

_U32 = 0xFFFFFFFF


def integer(value: int) -> Value:
    return (INTEGER, value)


def counter32(value: int) -> Value:
    # RFC 2578 §7.1.6: a Counter32 wraps at 2^32.
    return (COUNTER32, value & _U32)


def gauge32(value: int) -> Value:
    # RFC 2578 §7.1.7: a Gauge32 latches at its maximum.
    return (GAUGE32, 0 if value < 0 else min(value, _U32))


def time_ticks(value: int) -> Value:
    return (TIME_TICKS, value & _U32)


def octets(value: bytes) -> Value:
    return (OCTET_STRING, value)


def ip_address(packed: bytes) -> Value:
    return (IP_ADDRESS, packed)


def truth(value: bool) -> Value:
    # SNMPv2-TC TruthValue: true(1), false(2).
    return (INTEGER, 1 if value else 2)


def bits(positions: list[int] | tuple[int, ...], width: int = 1) -> Value:
    """RFC 2578 §7.1.4 BITS: bit 0 is the high-order bit of the first octet."""
    out = bytearray(width)
    for position in positions:
        out[position // 8] |= 0x80 >> (position % 8)
    return (OCTET_STRING, bytes(out))


def oid_text(oid: Oid) -> str:
    return ".".join(map(str, oid))


def parse_oid(text: str) -> Oid:
    return tuple(int(part) for part in text.strip(".").split(".") if part)


@dataclass(frozen=True, slots=True)
class Syntax:
    """An object's syntax as the MIB text names it (the pysmi name: ``Unsigned32``,
    ``OCTET STRING``, ``RowStatus``, ...), the BER tag it travels with, and the
    constraints a Set is checked against (RFC 3416 §4.2.5: wrongType,
    wrongLength, wrongValue)."""

    name: str
    tag: int
    ranges: tuple[tuple[int, int], ...] = ()
    sizes: tuple[tuple[int, int], ...] = ()
    enums: tuple[int, ...] = ()

    def check(self, value: Value) -> str | None:
        """None if ``value`` fits, else the RFC 3416 error-status."""
        tag, payload = value
        if tag != self.tag:
            return "wrongType"
        if tag == OCTET_STRING or tag == IP_ADDRESS:
            if tag == IP_ADDRESS and len(payload) != 4:
                return "wrongLength"
            if self.sizes and not any(lo <= len(payload) <= hi for lo, hi in self.sizes):
                return "wrongLength"
            return None
        if isinstance(payload, int):
            if self.enums and payload not in self.enums:
                return "wrongValue"
            if self.ranges and not any(lo <= payload <= hi for lo, hi in self.ranges):
                return "wrongValue"
        return None


# The syntaxes the two MIBs use (names as pysmi reports them).
def S(name: str, tag: int, *, ranges: tuple[tuple[int, int], ...] = (),
      sizes: tuple[tuple[int, int], ...] = (), enums: tuple[int, ...] = ()) -> Syntax:
    return Syntax(name, tag, ranges, sizes, enums)


IPADDRESS = S("IpAddress", IP_ADDRESS)
COUNTER = S("Counter32", COUNTER32)
GAUGE = S("Gauge32", GAUGE32)
INTEGER32 = S("Integer32", INTEGER)
UNSIGNED32 = S("Unsigned32", GAUGE32)
TIMESTAMP = S("TimeStamp", TIME_TICKS)
TRUTH_VALUE = S("TruthValue", INTEGER, enums=(1, 2))
REGISTRATION_FLAGS = S("RegistrationFlags", OCTET_STRING)
#: SNMPv2-TC RowStatus (RFC 2579): a Set may carry active(1), notInService(2),
#: createAndGo(4), createAndWait(5), destroy(6); notReady(3) only reads.
ROW_STATUS = S("RowStatus", INTEGER, enums=(1, 2, 4, 5, 6))
MAC_ADDRESS = S("MacAddress", OCTET_STRING, sizes=((6, 6),))


def enum(*values: int) -> Syntax:
    return S("INTEGER", INTEGER, enums=values)
