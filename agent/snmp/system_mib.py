"""The standard objects every SNMP agent answers, beside the Mobile IP MIBs:
SNMPv2-MIB's system and snmp groups (RFC 3418 §2), the message processing
statistics (RFC 3412 §5, snmpMPDStats) and the USM statistics (RFC 3414 §5,
usmStats). The counters are the message processing's, kept by
the wire adapter, and read through ``stats(module, name)`` at request time."""

from __future__ import annotations

from collections.abc import Callable

from agent.snmp import values as v
from agent.snmp.tree import READ_ONLY, Scalar
from agent.snmp.values import Oid

SYSTEM: Oid = (1, 3, 6, 1, 2, 1, 1)
SNMP_GROUP: Oid = (1, 3, 6, 1, 2, 1, 11)
USM_STATS: Oid = (1, 3, 6, 1, 6, 3, 15, 1, 1)
MPD_STATS: Oid = (1, 3, 6, 1, 6, 3, 11, 2, 1)
SNMP_IN_BAD_COMMUNITY_NAMES: Oid = SNMP_GROUP + (4, 0)

#: SNMPv2-MIB snmp group (RFC 3418): (sub-identifier, name).
_SNMP_COUNTERS = (
    (1, "snmpInPkts"),
    (3, "snmpInBadVersions"),
    (4, "snmpInBadCommunityNames"),
    (5, "snmpInBadCommunityUses"),
    (6, "snmpInASNParseErrs"),
    (31, "snmpSilentDrops"),
    (32, "snmpProxyDrops"),
)
#: SNMP-USER-BASED-SM-MIB usmStats (RFC 3414 §5).
_USM_COUNTERS = (
    (1, "usmStatsUnsupportedSecLevels"),
    (2, "usmStatsNotInTimeWindows"),
    (3, "usmStatsUnknownUserNames"),
    (4, "usmStatsUnknownEngineIDs"),
    (5, "usmStatsWrongDigests"),
    (6, "usmStatsDecryptionErrors"),
)


#: SNMP-MPD-MIB snmpMPDStats (RFC 3412 §5): what the message processing
#: dropped before any security model ran.
_MPD_COUNTERS = (
    (1, "snmpUnknownSecurityModels"),
    (2, "snmpInvalidMsgs"),
    (3, "snmpUnknownPDUHandlers"),
)


def system_objects(*, description: str, object_id: Oid, name: str, contact: str, location: str,
                   started_at: float, stats: Callable[[str, str], int]) -> list[Scalar]:
    def text(value: str) -> Callable[[float], v.Value]:
        encoded = value.encode("utf-8")[:255]
        return lambda now: v.octets(encoded)

    def counter(module: str, name: str) -> Callable[[float], v.Value]:
        return lambda now: v.counter32(stats(module, name))

    display = v.S("DisplayString", v.OCTET_STRING, sizes=((0, 255),))
    objects = [
        Scalar("sysDescr", SYSTEM + (1,), display, READ_ONLY, text(description)),
        Scalar("sysObjectID", SYSTEM + (2,), v.S("OBJECT IDENTIFIER", v.OBJECT_IDENTIFIER), READ_ONLY,
               lambda now: (v.OBJECT_IDENTIFIER, object_id)),
        Scalar("sysUpTime", SYSTEM + (3,), v.S("TimeTicks", v.TIME_TICKS), READ_ONLY,
               lambda now: v.time_ticks(int(max(0.0, now - started_at) * 100))),
        Scalar("sysContact", SYSTEM + (4,), display, READ_ONLY, text(contact)),
        Scalar("sysName", SYSTEM + (5,), display, READ_ONLY, text(name)),
        Scalar("sysLocation", SYSTEM + (6,), display, READ_ONLY, text(location)),
    ]
    for sub, name_ in _SNMP_COUNTERS:
        objects.append(Scalar(name_, SNMP_GROUP + (sub,), v.COUNTER, READ_ONLY, counter("__SNMPv2-MIB", name_)))
    for sub, name_ in _MPD_COUNTERS:
        objects.append(Scalar(name_, MPD_STATS + (sub,), v.COUNTER, READ_ONLY, counter("__SNMP-MPD-MIB", name_)))
    for sub, name_ in _USM_COUNTERS:
        objects.append(Scalar(name_, USM_STATS + (sub,), v.COUNTER, READ_ONLY,
                              counter("__SNMP-USER-BASED-SM-MIB", name_)))
    return objects
