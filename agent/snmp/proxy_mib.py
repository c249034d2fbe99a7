"""PROXY-MOBILE-IP-MIB (``mibs/PROXY-MOBILE-IP-MIB``): the proxy role's settings,
subnet map and host SA tables (read-create, RowStatus), visitor table and
counters. Every object mirrors the YANG node its REFERENCE clause names; a Set
is an edit of running at that node (``docs/mib.md``)."""

from __future__ import annotations

from decimal import Decimal
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from agent.datastore.edits import Edit, Operation
from agent.datastore.paths import Step
from agent.snmp import values as v
from agent.snmp.rows import ConfigTable
from agent.snmp.sources import Sources, ip_from_index, ip_text_index
from agent.snmp.tree import (
    ACCESSIBLE_FOR_NOTIFY,
    NOT_ACCESSIBLE,
    READ_CREATE,
    READ_ONLY,
    READ_WRITE,
    Column,
    Scalar,
    SetError,
    SortedRows,
    Table,
)
from agent.snmp.values import Oid, Value

#: The module's arc. Keep in step with the one line of mibs/PROXY-MOBILE-IP-MIB
#: that names the enterprise number (docs/mib.md: relocating is one edit there
#: and this constant; the agreement test compares both).
PROXY_MIP_ARC: Oid = (1, 3, 6, 1, 4, 1, 32473, 2)
PMIP_MIB: Oid = PROXY_MIP_ARC + (1,)
PMIP_NOTIFICATIONS: Oid = PMIP_MIB + (0,)
PMIP_REGISTRATION_DENIED = PMIP_NOTIFICATIONS + (1,)
PMIP_AUTHENTICATION_FAILURE = PMIP_NOTIFICATIONS + (2,)
PMIP_BINDING_LOST = PMIP_NOTIFICATIONS + (3,)
_OBJECTS = PMIP_MIB + (1,)

#: The YANG proxy-state/visitor/state enumeration, in order, numbered from 1.
VISITOR_STATES = (
    "associated", "at-home", "no-home-agent", "no-security-association", "sa-pending",
    "not-enabled", "waiting-for-agent", "queued", "pending", "registered", "denied",
    "failed", "deregistering",
)
_STATE_NUMBER = {name: number for number, name in enumerate(VISITOR_STATES, 1)}

#: /mobile-ip/proxy-state/counters, in order: (MIB name, engine attribute).
COUNTERS = (
    ("pmipAssociations", "associations"),
    ("pmipDisassociations", "disassociations"),
    ("pmipRequestsSent", "requests_sent"),
    ("pmipRetransmissions", "retransmissions"),
    ("pmipRepliesReceived", "replies_received"),
    ("pmipAccepted", "accepted"),
    ("pmipDeniedByHomeAgent", "denied_by_home_agent"),
    ("pmipDeniedByForeignAgent", "denied_by_foreign_agent"),
    ("pmipDeniedDueToIdentification", "denied_due_to_identification"),
    ("pmipReregistrations", "reregistrations"),
    ("pmipDeregistrations", "deregistrations"),
    ("pmipRegistrationFailures", "registration_failures"),
    ("pmipUnmatchedReplies", "unmatched_replies"),
    ("pmipBadReplies", "bad_replies"),
    ("pmipNotProxiedAtHome", "not_proxied_at_home"),
    ("pmipNotProxiedNoHomeAgent", "not_proxied_no_home_agent"),
    ("pmipNotProxiedNoSecAssociation", "not_proxied_no_security_association"),
    ("pmipNotProxiedInterface", "not_proxied_interface"),
    ("pmipAdvertisementsReceived", "advertisements_received"),
    ("pmipSolicitationsSent", "solicitations_sent"),
    ("pmipAgentRebootsDetected", "agent_reboots_detected"),
    ("pmipQueued", "queued"),
    ("pmipVisitorsRefused", "visitors_refused"),
    ("pmipAddressConflicts", "address_conflicts"),
    ("pmipAdvertisementsDropped", "advertisements_dropped"),
    ("pmipLifecycleErrors", "lifecycle_errors"),
)

_U32_MAX = 0xFFFFFFFF


def _ms(value: Any) -> int:
    """A YANG seconds-decimal (RFC 7951: decimal64 as a string) in milliseconds."""
    return int(Decimal(str(value)) * 1000)


def _seconds(milliseconds: int) -> str:
    return str(Decimal(milliseconds) / 1000)


def u32(low: int, high: int) -> v.Syntax:
    return v.S("Unsigned32", v.GAUGE32, ranges=((low, high),))


def _dotted(value: Value) -> str:
    return str(IPv4Address(value[1]))


def proxy_objects(sources: Sources) -> list[Scalar | Table]:
    def proxy_config() -> dict[str, Any] | None:
        return sources.config().get("proxy")

    def setting(*names: str, default: Any) -> Any:
        node: Any = proxy_config() or {}
        for name in names:
            node = node.get(name, {}) if isinstance(node, dict) else {}
        return default if node == {} or node is None else node

    def needs_proxy() -> None:
        if proxy_config() is None:
            # PROXY-MOBILE-IP-MIB pmipProxyEnable: while disabled, Sets of the
            # other settings fail with inconsistentValue.
            raise SetError("inconsistentValue", 0, "the proxy role is not configured")

    def leaf_edit(*names: str, value: Any) -> list[Any]:
        needs_proxy()
        path = (Step("mobile-ip"), Step("proxy"), *(Step(n) for n in names))
        return [Edit(Operation.MERGE, path, value)]

    def enable(value: Value) -> list[Any]:
        path = (Step("mobile-ip"), Step("proxy"))
        if value[1] == 1:
            return [] if proxy_config() is not None else [Edit(Operation.MERGE, path, {})]
        return [Edit(Operation.REMOVE, path)]

    p = _OBJECTS + (1,)
    objects: list[Scalar | Table] = [
        Scalar("pmipProxyEnable", p + (1,), v.enum(1, 2), READ_WRITE,
               lambda now: v.integer(1 if proxy_config() is not None else 2), write=enable),
        Scalar("pmipProxyLifetime", p + (2,), u32(1, 65535), READ_WRITE,
               lambda now: v.gauge32(int(setting("lifetime", default=600))),
               write=lambda val: leaf_edit("lifetime", value=val[1])),
        Scalar("pmipProxyReregistrationMargin", p + (3,), u32(0, _U32_MAX), READ_WRITE,
               lambda now: v.gauge32(_ms(setting("reregistration-margin", default="30.0"))),
               write=lambda val: leaf_edit("reregistration-margin", value=_seconds(val[1]))),
        Scalar("pmipProxyRetransmitInitial", p + (4,), u32(1000, _U32_MAX), READ_WRITE,
               lambda now: v.gauge32(_ms(setting("retransmit", "initial", default="1.0"))),
               write=lambda val: leaf_edit("retransmit", "initial", value=_seconds(val[1]))),
        Scalar("pmipProxyRetransmitMaximum", p + (5,), u32(1000, _U32_MAX), READ_WRITE,
               lambda now: v.gauge32(_ms(setting("retransmit", "maximum", default="16.0"))),
               write=lambda val: leaf_edit("retransmit", "maximum", value=_seconds(val[1]))),
        Scalar("pmipProxyRetransmitAttempts", p + (6,), u32(1, 20), READ_WRITE,
               lambda now: v.gauge32(int(setting("retransmit", "attempts", default=5))),
               write=lambda val: leaf_edit("retransmit", "attempts", value=val[1])),
        Scalar("pmipProxyMaxOutstanding", p + (7,), u32(1, _U32_MAX), READ_WRITE,
               lambda now: v.gauge32(int(setting("max-outstanding", default=1024))),
               write=lambda val: leaf_edit("max-outstanding", value=val[1])),
    ]

    # -- the subnet map: INDEX { prefix address, prefix length } ----------------------
    def subnet_index(key: tuple[str, ...]) -> Oid:
        address, length = key[0].split("/")
        return ip_text_index(address) + (int(length),)

    def subnet_key(index: Oid) -> tuple[str, ...]:
        address = ip_from_index(index[:4])
        if address is None or len(index) != 5 or not 0 <= index[4] <= 32:
            raise SetError("noCreation", 0, "not a prefix index")
        try:
            IPv4Network(f"{address}/{index[4]}")
        except ValueError:
            # PROXY-MOBILE-IP-MIB: prefixes are canonical (host bits clear).
            raise SetError("inconsistentName", 0, "host bits set in the prefix") from None
        return (f"{address}/{index[4]}",)

    def subnet_yang(sub: int, value: Value, position: int) -> dict[str, Any]:
        if sub == 3:
            return {"home-agent": _dotted(value)}
        raise SetError("notWritable", position)

    subnet_map = ConfigTable(
        ("subnet-map",), lambda: sources.config().get("subnet-map"), subnet_index, subnet_key,
        lambda key: {"prefix": key[0]}, subnet_yang, ("home-agent",), 4,
    )

    def subnet_home_agent(row: Any, now: float) -> Value:
        text = row[1].get("home-agent")
        return v.ip_address(IPv4Address(text).packed if text else b"\0\0\0\0")

    objects.append(Table("pmipSubnetMapTable", _OBJECTS + (2, 1), [
        Column("pmipSubnetMapPrefix", 1, v.IPADDRESS, NOT_ACCESSIBLE),
        Column("pmipSubnetMapPrefixLength", 2, u32(0, 32), NOT_ACCESSIBLE),
        Column("pmipSubnetMapHomeAgent", 3, v.IPADDRESS, READ_CREATE, subnet_home_agent),
        Column("pmipSubnetMapRowStatus", 4, v.ROW_STATUS, READ_CREATE,
               lambda row, now: v.integer(subnet_map.status_of(row))),
    ], subnet_map, write=subnet_map))

    # -- host SAs: INDEX { address, SPI } ---------------------------------------------
    def host_index(key: tuple[str, ...]) -> Oid:
        return ip_text_index(key[0]) + (int(key[1]),)

    def host_key(index: Oid) -> tuple[str, ...]:
        address = ip_from_index(index[:4])
        if address is None or len(index) != 5 or not 256 <= index[4] <= _U32_MAX:
            raise SetError("noCreation", 0, "not an (address, SPI) index")
        return (str(address), str(index[4]))

    def host_yang(sub: int, value: Value, position: int) -> dict[str, Any]:
        if sub == 3:
            return {"last-address": None if value[1] == b"\0\0\0\0" else _dotted(value)}
        if sub == 4:
            if not value[1]:
                raise SetError("wrongLength", position, "a key cannot be empty")
            return {"key-hex": value[1].hex()}
        if sub == 5:
            return {"algorithm": {1: "hmac-md5", 2: "keyed-md5-prefix-suffix"}[value[1]]}
        if sub == 6:
            return {"replay-method": {1: "timestamps", 2: "nonces"}[value[1]]}
        if sub == 7:
            return {"replay-window": value[1]}
        raise SetError("notWritable", position)

    hosts = ConfigTable(
        ("security", "host"), lambda: sources.config().get("security", {}).get("host"),
        host_index, host_key, lambda key: {"address": key[0], "spi": int(key[1])}, host_yang,
        ("key-hex",), 8,
    )

    def has_key(leaves: dict[str, Any]) -> bool:
        return "key-hex" in leaves or "key-ascii" in leaves

    hosts.mandatory = ("key-hex",)

    def host_last(row: Any, now: float) -> Value:
        text = row[1].get("last-address")
        return v.ip_address(IPv4Address(text).packed if text else b"\0\0\0\0")

    def host_status(row: Any, now: float) -> Value:
        status, leaves = row
        if status is None:
            return v.integer(2 if has_key(leaves) else 3)
        return v.integer(status)

    objects.append(Table("pmipHostSaTable", _OBJECTS + (3, 1), [
        Column("pmipHostSaAddress", 1, v.IPADDRESS, NOT_ACCESSIBLE),
        Column("pmipHostSaSpi", 2, u32(256, _U32_MAX), NOT_ACCESSIBLE),
        Column("pmipHostSaLastAddress", 3, v.IPADDRESS, READ_CREATE, host_last),
        # Write-only, as RFC 2006's mipSecKey: reads are always zero-length.
        Column("pmipHostSaKey", 4, v.S("OCTET STRING", v.OCTET_STRING, sizes=((0, 0), (16, 64))),
               READ_CREATE, lambda row, now: v.EMPTY_STRING, secret=True),
        Column("pmipHostSaAlgorithm", 5, v.enum(1, 2), READ_CREATE,
               lambda row, now: v.integer(2 if row[1].get("algorithm") == "keyed-md5-prefix-suffix" else 1)),
        Column("pmipHostSaReplayMethod", 6, v.enum(1, 2), READ_CREATE,
               lambda row, now: v.integer(2 if row[1].get("replay-method") == "nonces" else 1)),
        Column("pmipHostSaReplayWindow", 7, u32(1, 300), READ_CREATE,
               lambda row, now: v.gauge32(int(row[1].get("replay-window", 7)))),
        Column("pmipHostSaRowStatus", 8, v.ROW_STATUS, READ_CREATE, host_status),
    ], hosts, write=hosts))

    # -- visitors: INDEX { MacAddress } (6 sub-identifiers: fixed length) --------------
    proxy = sources.proxy

    def mac_index(mac: str) -> Oid:
        return tuple(int(part, 16) for part in mac.split(":"))

    def mac_of(index: Oid) -> str | None:
        if len(index) != 6 or any(not 0 <= part <= 255 for part in index):
            return None
        return ":".join(f"{part:02x}" for part in index)

    def visitor_keys() -> list[tuple[Oid, Any]]:
        engine = proxy()
        return [(mac_index(x.mac), x.mac) for x in engine.visitors()] if engine is not None else []

    def visitor_lookup(mac: str) -> Any | None:
        engine = proxy()
        return engine.visitor(mac) if engine is not None else None

    def present() -> bool:
        return proxy() is not None

    def ip(address: IPv4Address | None) -> Value:
        return v.ip_address(address.packed if address is not None else b"\0\0\0\0")

    def remaining(row: Any, now: float) -> Value:
        if row.expires_at is None:
            return v.gauge32(0)
        return v.gauge32(min(0xFFFF, int(max(0.0, row.expires_at - now))))

    objects.append(Table("pmipVisitorTable", _OBJECTS + (4, 1), [
        Column("pmipVisitorMac", 1, v.MAC_ADDRESS, NOT_ACCESSIBLE),
        Column("pmipVisitorInterface", 2, v.S("OCTET STRING", v.OCTET_STRING, sizes=((0, 255),)), READ_ONLY,
               lambda r, now: v.octets((r.interface or "").encode("utf-8")[:255])),
        Column("pmipVisitorHomeAddress", 3, v.IPADDRESS, READ_ONLY, lambda r, now: ip(r.home_address)),
        Column("pmipVisitorHomeAgent", 4, v.IPADDRESS, READ_ONLY, lambda r, now: ip(r.home_agent)),
        Column("pmipVisitorForeignAgent", 5, v.IPADDRESS, READ_ONLY, lambda r, now: ip(r.foreign_agent)),
        Column("pmipVisitorCareOfAddress", 6, v.IPADDRESS, READ_ONLY, lambda r, now: ip(r.care_of_address)),
        Column("pmipVisitorState", 7, v.enum(*range(1, len(VISITOR_STATES) + 1)), READ_ONLY,
               lambda r, now: v.integer(_STATE_NUMBER[r.state.value])),
        Column("pmipVisitorLifetimeRequested", 8, u32(0, 65535), READ_ONLY,
               lambda r, now: v.gauge32(min(0xFFFF, r.lifetime_requested or 0))),
        Column("pmipVisitorLifetimeGranted", 9, u32(0, 65535), READ_ONLY,
               lambda r, now: v.gauge32(min(0xFFFF, r.lifetime_granted or 0))),
        Column("pmipVisitorLifetimeRemaining", 10, v.S("Gauge32", v.GAUGE32, ranges=((0, 65535),)),
               READ_ONLY, remaining),
        Column("pmipVisitorLastReplyCode", 11, v.S("Integer32", v.INTEGER, ranges=((-1, 255),)), READ_ONLY,
               lambda r, now: v.integer(-1 if r.last_code is None else r.last_code)),
        Column("pmipVisitorAttempts", 12, u32(0, 255), READ_ONLY,
               lambda r, now: v.gauge32(min(255, r.attempts))),
    ], SortedRows(visitor_keys, visitor_lookup, key_of=mac_of), present=present))

    for sub, (name, attribute) in enumerate(COUNTERS, 1):
        def read(now: float, attribute: str = attribute) -> Value:
            engine = proxy()
            return v.counter32(getattr(engine.counters, attribute) if engine is not None else 0)

        objects.append(Scalar(name, _OBJECTS + (5, sub), v.COUNTER, READ_ONLY, read, present))

    n = _OBJECTS + (6,)
    objects += [
        Scalar("pmipNotifyPeerAddress", n + (1,), v.IPADDRESS, ACCESSIBLE_FOR_NOTIFY),
        Scalar("pmipNotifySpi", n + (2,), v.UNSIGNED32, ACCESSIBLE_FOR_NOTIFY),
        Scalar("pmipNotifyViolationReason", n + (3,), v.enum(1, 2, 3, 4, 5, 6), ACCESSIBLE_FOR_NOTIFY),
        Scalar("pmipNotifyBindingLostReason", n + (4,), v.enum(1, 2, 3, 4, 5, 6, 7), ACCESSIBLE_FOR_NOTIFY),
    ]
    return objects
