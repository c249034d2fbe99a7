"""MIP-MIB (RFC 2006, ``mib-2 44``) for the roles that run: mipSystemGroup,
mipSecAssociationGroup, mipSecViolationGroup, maAdvertisementGroup,
faSystemGroup, faRegistrationGroup, haRegistrationGroup and
haRegNodeCountersGroup (RFC 2006 §5, MODULE-COMPLIANCE mipCompliance). The
mobile node groups are not served: no role here is a mobile node.

Object names keep the RFC's spelling, misspellings included
(``faRegRepliesRecieved``, ``haGratuitiousARPsSent``): they are the names.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

from agent.mobileip.numbers import ReplyCode
from agent.snmp import values as v
from agent.snmp.sources import Sources, ip_from_index, ip_index, ip_pair_from_index, ip_text_index
from agent.snmp.tree import (
    ACCESSIBLE_FOR_NOTIFY,
    NOT_ACCESSIBLE,
    READ_CREATE,
    READ_ONLY,
    READ_WRITE,
    Column,
    Scalar,
    SortedRows,
    Table,
)
from agent.snmp.values import Oid, Value

MIP_MIB: Oid = (1, 3, 6, 1, 2, 1, 44)
MIP_OBJECTS = MIP_MIB + (1,)
MIP_AUTH_FAILURE: Oid = MIP_MIB + (2, 0, 1)

#: RegistrationFlags (RFC 2006 TEXTUAL-CONVENTION): BITS vjCompression(0) gre(1)
#: minEnc(2) decapsulationbyMN(3) broadcastDatagram(4) simultaneousBindings(5),
#: which is NOT the wire order of RFC 5944 §3.3 (S B D M G r T x, MSB first).
_FLAG_BITS = ((0x04, 0), (0x08, 1), (0x10, 2), (0x20, 3), (0x40, 4), (0x80, 5))
REGISTRATION_FLAGS = tuple(
    v.bits([bit for mask, bit in _FLAG_BITS if flags & mask]) for flags in range(256)
)

#: haRecentServiceDeniedCode's SYNTAX (RFC 2006): the home agent denials of RFC
#: 2002 §3.4, reasonUnspecified(128) to unknownHA(136). The codes RFC 3024 §3.4
#: added later (137 reverse tunnel unavailable, 138 reverse tunnel mandatory,
#: 139 requested encapsulation unavailable) are not in it, and RFC 2578 §7.1.1
#: allows an enumerated INTEGER only its named values, so such a denial is
#: served as reasonUnspecified(128): the standard MIB cannot say that reason.
#: The exact code is the YANG leaf mobile-node-counters/recent-service-denied-code
#: (NETCONF, ``proxymip show``), as docs/mib.md says.
HA_RECENT_DENIED_CODES = tuple(range(128, 137))


def ha_recent_denied_code(code: int) -> int:
    """The haRecentServiceDeniedCode value for the home agent's last denial
    ``code`` (0: never denied, which RFC 2006 names no value for)."""
    if code == 0 or code in HA_RECENT_DENIED_CODES:
        return code
    return int(ReplyCode.HA_REASON_UNSPECIFIED)


def signed32(value: int) -> int:
    """An unsigned 32-bit quantity in an Integer32 object (RFC 2006 gives the
    Identification halves as Integer32): two's complement."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _remaining(expires_at: float | None, now: float) -> Value:
    return v.gauge32(0 if expires_at is None else int(max(0.0, expires_at - now)))


def _counter(get_engine: Callable[[], Any], name: str) -> Callable[[float], Value]:
    def read(now: float) -> Value:
        engine = get_engine()
        return v.counter32(getattr(engine.counters, name) if engine is not None else 0)

    return read


def _ip(address: IPv4Address | None) -> Value:
    return v.ip_address(address.packed if address is not None else b"\0\0\0\0")


class BindingRows:
    """haMobilityBindingTable rows, INDEX {haMobilityBindingMN,
    haMobilityBindingCOA}: the home agent's mobile nodes in address order
    (an index rebuilt only when a node is added: the engine never forgets a
    node, so a stable count means the same nodes), each node's live bindings
    in care-of address order. Exact at every request, walks included."""

    def __init__(self, home_agent: Callable[[], Any], *, with_bindings: bool = True) -> None:
        self._home_agent = home_agent
        self._with_bindings = with_bindings
        self._engine: Any = None
        self._count = -1
        self._indexes: list[Oid] = []
        self._addresses: list[IPv4Address] = []

    def _nodes(self) -> dict[IPv4Address, Any]:
        engine = self._home_agent()
        nodes: dict[IPv4Address, Any] = engine.mobile_nodes() if engine is not None else {}
        if engine is not self._engine or len(nodes) != self._count:
            addresses = sorted(nodes, key=int)
            self._addresses = addresses
            self._indexes = [tuple(a.packed) for a in addresses]
            self._engine, self._count = engine, len(nodes)
        return nodes

    def next_row(self, after: Oid | None, now: float) -> tuple[Oid, Any] | None:
        nodes = self._nodes()
        indexes, addresses = self._indexes, self._addresses
        node_after: Oid | None = None
        if after is None:
            position = 0
        elif not self._with_bindings:
            position = bisect.bisect_right(indexes, after)
        else:
            head = after[:4]
            position = bisect.bisect_left(indexes, head)
            if position < len(indexes) and indexes[position] == head:
                node_after = after[4:]  # () when only the node was named
        while position < len(indexes):
            address = addresses[position]
            node = nodes.get(address)
            if node is not None:
                if not self._with_bindings:
                    return indexes[position], (address, node)
                if node.bindings:
                    rows = sorted(node.bindings, key=lambda b: int(b.care_of_address)) \
                        if len(node.bindings) > 1 else node.bindings
                    for binding in rows:
                        index = indexes[position] + tuple(binding.care_of_address.packed)
                        if node_after is None or index[4:] > node_after:
                            return index, binding
            position += 1
            node_after = None
        return None

    def row(self, index: Oid, now: float) -> Any | None:
        engine = self._home_agent()
        if engine is None:
            return None
        if not self._with_bindings:
            address = ip_from_index(index)
            node = engine.mobile_node(address) if address is not None else None
            return None if node is None else (address, node)
        pair = ip_pair_from_index(index)
        if pair is None:
            return None
        node = engine.mobile_node(pair[0])
        return node.binding_for(pair[1]) if node is not None else None


def _config_sa_rows(sources: Sources) -> SortedRows:
    """mipSecAssocTable: the SAs of security/host and security/peer in running,
    INDEX {mipSecPeerAddress, mipSecSPI}. (A host entry with a range is shown
    at its first address.) Host entries win over a peer entry with the same
    address and SPI."""

    def keys() -> list[tuple[Oid, Any]]:
        security = sources.config().get("security", {})
        out: dict[Oid, Any] = {}
        for list_name in ("peer", "host"):
            entries = security.get(list_name)
            for (address, spi), entry in (entries or {}).items():
                out[ip_text_index(address) + (int(spi),)] = (list_name, address, spi)
        return list(out.items())

    def lookup(key: Any) -> Any | None:
        list_name, address, spi = key
        entries = sources.config().get("security", {}).get(list_name)
        return entries.get((address, spi)) if entries else None

    def key_of(index: Oid) -> Any | None:
        if len(index) != 5 or ip_from_index(index[:4]) is None:
            return None
        address, spi = ".".join(map(str, index[:4])), str(index[4])
        security = sources.config().get("security", {})
        for list_name in ("host", "peer"):
            if (address, spi) in (security.get(list_name) or {}):
                return (list_name, address, spi)
        return None

    def identity() -> int:
        security = sources.config().get("security", {})
        return hash((id(security.get("host")), id(security.get("peer"))))

    return SortedRows(keys, lookup, count=identity, key_of=key_of)


def mip_objects(sources: Sources) -> list[Scalar | Table]:
    ha, fa = sources.home_agent, sources.foreign_agent

    def ha_present() -> bool:
        return ha() is not None

    def fa_present() -> bool:
        return fa() is not None

    def entities(now: float) -> Value:
        # mipEntities BITS mobileNode(0) foreignAgent(1) homeAgent(2).
        return v.bits([bit for bit, on in ((1, fa() is not None), (2, ha() is not None)) if on])

    def enabled(now: float) -> Value:
        return v.integer(1 if (ha() or fa() or sources.proxy()) else 2)

    def encapsulations(now: float) -> Value:
        # ipInIp(0) is mandatory (RFC 5944 §4.1); gre(1), minEnc(2) as configured.
        settings = [e.settings for e in (ha(), fa()) if e is not None]
        on = [0]
        if any(s.gre for s in settings):
            on.append(1)
        if any(s.minimal_encapsulation for s in settings):
            on.append(2)
        return v.bits(on)

    o = MIP_OBJECTS
    objects: list[Scalar | Table] = [
        # mipSystemGroup
        Scalar("mipEntities", o + (1, 1), v.S("Bits", v.OCTET_STRING), READ_ONLY, entities),
        Scalar("mipEnable", o + (1, 2), v.enum(1, 2), READ_WRITE, enabled),
        Scalar("mipEncapsulationSupported", o + (1, 3), v.S("Bits", v.OCTET_STRING), READ_ONLY,
               encapsulations),
    ]

    # mipSecAssociationGroup. HMAC-MD5 (RFC 5944 §5.1) has no value in RFC 2006's
    # enumerations: it reads as other(1)/other(1); RFC 2002 keyed MD5 in
    # prefix+suffix mode is md5(2)/prefixSuffix(2).
    def algorithm_type(entry: dict[str, Any], now: float) -> Value:
        return v.integer(2 if entry.get("algorithm") == "keyed-md5-prefix-suffix" else 1)

    def algorithm_mode(entry: dict[str, Any], now: float) -> Value:
        return v.integer(2 if entry.get("algorithm") == "keyed-md5-prefix-suffix" else 1)

    def replay(entry: dict[str, Any], now: float) -> Value:
        return v.integer(3 if entry.get("replay-method") == "nonces" else 2)

    objects.append(Table("mipSecAssocTable", o + (2, 1, 1), [
        Column("mipSecPeerAddress", 1, v.IPADDRESS, NOT_ACCESSIBLE),
        Column("mipSecSPI", 2, v.S("Unsigned32", v.GAUGE32, ranges=((0, 0xFFFFFFFF),)), NOT_ACCESSIBLE),
        Column("mipSecAlgorithmType", 3, v.enum(1, 2), READ_CREATE, algorithm_type),
        Column("mipSecAlgorithmMode", 4, v.enum(1, 2), READ_CREATE, algorithm_mode),
        # RFC 2006: "reading this object will always return a zero-length value".
        Column("mipSecKey", 5, v.S("OCTET STRING", v.OCTET_STRING, sizes=((16, 16),)), READ_CREATE,
               lambda entry, now: v.EMPTY_STRING, secret=True),
        Column("mipSecReplayMethod", 6, v.enum(1, 2, 3), READ_CREATE, replay),
    ], _config_sa_rows(sources), write=SecurityAssociationWriter(sources)))

    # mipSecViolationGroup
    def violation_rows() -> SortedRows:
        def keys() -> list[tuple[Oid, Any]]:
            return [(ip_index(row.address), row.address) for row in sources.violations().rows()]

        def lookup(address: IPv4Address) -> Any | None:
            # The log is bounded (4,096 rows by default): a scan is cheap.
            for row in sources.violations().rows():
                if row.address == address:
                    return row
            return None

        def key_of(index: Oid) -> Any | None:
            return ip_from_index(index)

        return SortedRows(keys, lookup, count=lambda: sources.violations().total, key_of=key_of)

    objects += [
        Scalar("mipSecTotalViolations", o + (2, 2), v.COUNTER, READ_ONLY,
               lambda now: v.counter32(sources.violations().total)),
        Table("mipSecViolationTable", o + (2, 3, 1), [
            Column("mipSecViolatorAddress", 1, v.IPADDRESS, ACCESSIBLE_FOR_NOTIFY),
            Column("mipSecViolationCounter", 2, v.COUNTER, READ_ONLY,
                   lambda r, now: v.counter32(r.counter)),
            Column("mipSecRecentViolationSPI", 3, v.INTEGER32, READ_ONLY,
                   lambda r, now: v.integer(signed32(r.recent_spi))),
            Column("mipSecRecentViolationTime", 4, v.TIMESTAMP, READ_ONLY,
                   lambda r, now: v.time_ticks(sources.time_stamp(r.time))),
            Column("mipSecRecentViolationIDLow", 5, v.INTEGER32, READ_ONLY,
                   lambda r, now: v.integer(signed32(r.identification_low))),
            Column("mipSecRecentViolationIDHigh", 6, v.INTEGER32, READ_ONLY,
                   lambda r, now: v.integer(signed32(r.identification_high))),
            Column("mipSecRecentViolationReason", 7, v.enum(1, 2, 3, 4, 5, 6), READ_ONLY,
                   lambda r, now: v.integer(int(r.reason))),
        ], violation_rows()),
    ]

    # maAdvertisementGroup (the foreign agent's advertisements, RFC 5944 §2):
    # one row, at the foreign agent's address.
    def fa_row(index: Oid) -> Any | None:
        engine = fa()
        if engine is None or index != ip_index(engine.settings.address):
            return None
        return engine.settings

    class _OneRow:
        def next_row(self, after: Oid | None, now: float) -> tuple[Oid, Any] | None:
            engine = fa()
            if engine is None:
                return None
            index = ip_index(engine.settings.address)
            return (index, engine.settings) if after is None or after < index else None

        def row(self, index: Oid, now: float) -> Any | None:
            return fa_row(index)

    ma = o + (4, 2)
    objects += [
        Table("maAdvConfigTable", ma + (1, 1), [
            Column("maInterfaceAddress", 1, v.IPADDRESS, NOT_ACCESSIBLE),
            Column("maAdvMaxRegLifetime", 2, v.S("Integer32", v.INTEGER, ranges=((0, 65535),)),
                   READ_CREATE, lambda s, now: v.integer(s.max_lifetime)),
            Column("maAdvPrefixLengthInclusion", 3, v.TRUTH_VALUE, READ_CREATE,
                   lambda s, now: v.truth(s.prefix_length is not None)),
            Column("maAdvAddress", 4, v.IPADDRESS, READ_CREATE,
                   lambda s, now: _ip(s.advertisement_address)),
            # One interval is configured (advertisement/interval): it is both the
            # maximum and the minimum; values are kept within the MIB's ranges
            # (interval 0, solicited advertisements only, reads as the minimum
            # with maAdvResponseSolicitationOnly true).
            Column("maAdvMaxInterval", 5, v.S("Integer32", v.INTEGER, ranges=((4, 1800),)),
                   READ_CREATE, lambda s, now: v.integer(_clamp(int(s.advertisement_interval), 4, 1800))),
            Column("maAdvMinInterval", 6, v.S("Integer32", v.INTEGER, ranges=((3, 1800),)),
                   READ_CREATE, lambda s, now: v.integer(_clamp(int(s.advertisement_interval), 3, 1800))),
            Column("maAdvMaxAdvLifetime", 7, v.S("Integer32", v.INTEGER, ranges=((4, 9000),)),
                   READ_CREATE, lambda s, now: v.integer(_clamp(s.advertisement_lifetime, 4, 9000))),
            Column("maAdvResponseSolicitationOnly", 8, v.TRUTH_VALUE, READ_CREATE,
                   lambda s, now: v.truth(s.advertisement_interval == 0)),
            Column("maAdvStatus", 9, v.ROW_STATUS, READ_CREATE, lambda s, now: v.integer(1)),
        ], _OneRow(), present=fa_present),
        Scalar("maAdvertisementsSent", ma + (2,), v.COUNTER, READ_ONLY,
               _counter(fa, "advertisements_sent"), fa_present),
        Scalar("maAdvsSentForSolicitation", ma + (3,), v.COUNTER, READ_ONLY,
               _counter(fa, "advertisements_sent_for_solicitation"), fa_present),
        Scalar("maSolicitationsReceived", ma + (4,), v.COUNTER, READ_ONLY,
               _counter(fa, "solicitations_received"), fa_present),
    ]

    # faSystemGroup: faCOATable (the care-of addresses offered), faIsBusy,
    # faRegistrationRequired.
    class _CareOfRows:
        def _addresses(self) -> list[Oid]:
            engine = fa()
            if engine is None:
                return []
            return sorted(ip_index(a) for a in engine.settings.offered_care_of_addresses)

        def next_row(self, after: Oid | None, now: float) -> tuple[Oid, Any] | None:
            for index in self._addresses():
                if after is None or index > after:
                    return index, index
            return None

        def row(self, index: Oid, now: float) -> Any | None:
            return index if index in self._addresses() else None

    fa_oid = o + (5,)
    objects += [
        Table("faCOATable", fa_oid + (1, 1, 1), [
            Column("faSupportedCOA", 1, v.IPADDRESS, NOT_ACCESSIBLE),
            Column("faCOAStatus", 2, v.ROW_STATUS, READ_CREATE, lambda r, now: v.integer(1)),
        ], _CareOfRows(), present=fa_present),
        Scalar("faIsBusy", fa_oid + (2, 1), v.TRUTH_VALUE, READ_ONLY,
               lambda now: v.truth(bool(fa() and fa().busy)), fa_present),  # type: ignore[union-attr]
        Scalar("faRegistrationRequired", fa_oid + (2, 2), v.TRUTH_VALUE, READ_WRITE,
               lambda now: v.truth(bool(fa() and fa().settings.registration_required)),  # type: ignore[union-attr]
               fa_present),
    ]

    # faRegistrationGroup: faVisitorTable, INDEX faVisitorIPAddress. The engine
    # keys its visitor list by home address (the source address of a request
    # relayed by a proxy access point is the access point's), so the index and
    # faVisitorIPAddress are the home address.
    def visitor_rows() -> SortedRows:
        def keys() -> list[tuple[Oid, Any]]:
            engine = fa()
            return [(ip_index(x.home_address), x.home_address) for x in engine.visitors()] if engine else []

        def lookup(home: IPv4Address) -> Any | None:
            engine = fa()
            return engine.visitor(home) if engine is not None else None

        def count() -> int:
            engine = fa()
            return engine.visitor_count if engine is not None else 0

        return SortedRows(keys, lookup, count=count, key_of=ip_from_index)

    reg = fa_oid + (3,)
    objects.append(Table("faVisitorTable", reg + (1, 1), [
        Column("faVisitorIPAddress", 1, v.IPADDRESS, READ_ONLY, lambda r, now: _ip(r.home_address)),
        Column("faVisitorHomeAddress", 2, v.IPADDRESS, READ_ONLY, lambda r, now: _ip(r.home_address)),
        Column("faVisitorHomeAgentAddress", 3, v.IPADDRESS, READ_ONLY, lambda r, now: _ip(r.home_agent)),
        Column("faVisitorTimeGranted", 4, v.INTEGER32, READ_ONLY, lambda r, now: v.integer(r.lifetime)),
        Column("faVisitorTimeRemaining", 5, v.GAUGE, READ_ONLY,
               lambda r, now: _remaining(r.expires_at, now)),
        Column("faVisitorRegFlags", 6, v.REGISTRATION_FLAGS, READ_ONLY,
               lambda r, now: REGISTRATION_FLAGS[r.flags & 0xFF]),
        Column("faVisitorRegIDLow", 7, v.INTEGER32, READ_ONLY,
               lambda r, now: v.integer(signed32(r.identification))),
        Column("faVisitorRegIDHigh", 8, v.INTEGER32, READ_ONLY,
               lambda r, now: v.integer(signed32(r.identification >> 32))),
        # Only accepted registrations are in the visitor list (pending ones are not).
        Column("faVisitorRegIsAccepted", 9, v.TRUTH_VALUE, READ_ONLY, lambda r, now: v.truth(True)),
    ], sources.visitor_rows or visitor_rows(), present=fa_present))
    for sub, name, attribute in (
        (2, "faRegRequestsReceived", "reg_requests_received"),
        (3, "faRegRequestsRelayed", "reg_requests_relayed"),
        (4, "faReasonUnspecified", "reason_unspecified"),
        (5, "faAdmProhibited", "admin_prohibited"),
        (6, "faInsufficientResource", "insufficient_resource"),
        (7, "faMNAuthenticationFailure", "mn_authentication_failure"),
        (8, "faRegLifetimeTooLong", "reg_lifetime_too_long"),
        (9, "faPoorlyFormedRequests", "poorly_formed_requests"),
        (10, "faEncapsulationUnavailable", "encapsulation_unavailable"),
        (11, "faVJCompressionUnavailable", "vj_compression_unavailable"),
        (12, "faHAUnreachable", "ha_unreachable"),
        (13, "faRegRepliesRecieved", "reg_replies_received"),
        (14, "faRegRepliesRelayed", "reg_replies_relayed"),
        (15, "faHAAuthenticationFailure", "ha_authentication_failure"),
        (16, "faPoorlyFormedReplies", "poorly_formed_replies"),
    ):
        objects.append(Scalar(name, reg + (sub,), v.COUNTER, READ_ONLY, _counter(fa, attribute), fa_present))

    # haRegistrationGroup: haMobilityBindingTable and the counters.
    hreg = o + (6, 3)
    objects.append(Table("haMobilityBindingTable", hreg + (1, 1), [
        Column("haMobilityBindingMN", 1, v.IPADDRESS, READ_ONLY, lambda b, now: _ip(b.home_address)),
        Column("haMobilityBindingCOA", 2, v.IPADDRESS, READ_ONLY, lambda b, now: _ip(b.care_of_address)),
        Column("haMobilityBindingSourceAddress", 3, v.IPADDRESS, READ_ONLY,
               lambda b, now: _ip(b.source_address)),
        Column("haMobilityBindingRegFlags", 4, v.REGISTRATION_FLAGS, READ_ONLY,
               lambda b, now: REGISTRATION_FLAGS[b.flags & 0xFF]),
        Column("haMobilityBindingRegIDLow", 5, v.INTEGER32, READ_ONLY,
               lambda b, now: v.integer(signed32(b.identification))),
        Column("haMobilityBindingRegIDHigh", 6, v.INTEGER32, READ_ONLY,
               lambda b, now: v.integer(signed32(b.identification >> 32))),
        Column("haMobilityBindingTimeGranted", 7, v.INTEGER32, READ_ONLY,
               lambda b, now: v.integer(b.lifetime)),
        Column("haMobilityBindingTimeRemaining", 8, v.GAUGE, READ_ONLY,
               lambda b, now: _remaining(b.expires_at, now)),
    ], sources.binding_rows or BindingRows(ha), present=ha_present))

    # haRegNodeCountersGroup: haCounterTable, INDEX haMobilityBindingMN. A node
    # never denied reads haRecentServiceDeniedCode 0 (RFC 2006 names no value
    # for "none").
    def overall(row: Any, now: float) -> Value:
        _, node = row
        live = sum(max(0.0, min(now, b.expires_at) - b.registered_at) for b in node.bindings)
        return v.gauge32(int(node.overall_service_time + live))

    objects.append(Table("haCounterTable", hreg + (2, 1), [
        Column("haServiceRequestsAccepted", 2, v.COUNTER, READ_ONLY,
               lambda r, now: v.counter32(r[1].service_accepted)),
        Column("haServiceRequestsDenied", 3, v.COUNTER, READ_ONLY,
               lambda r, now: v.counter32(r[1].service_denied)),
        Column("haOverallServiceTime", 4, v.GAUGE, READ_ONLY, overall),
        Column("haRecentServiceAcceptedTime", 5, v.TIMESTAMP, READ_ONLY,
               lambda r, now: v.time_ticks(sources.time_stamp(r[1].recent_accepted_time))),
        Column("haRecentServiceDeniedTime", 6, v.TIMESTAMP, READ_ONLY,
               lambda r, now: v.time_ticks(sources.time_stamp(r[1].recent_denied_time))),
        Column("haRecentServiceDeniedCode", 7, v.enum(*HA_RECENT_DENIED_CODES), READ_ONLY,
               lambda r, now: v.integer(ha_recent_denied_code(r[1].recent_denied_code))),
    ], sources.node_counter_rows or BindingRows(ha, with_bindings=False), present=ha_present))
    for sub, name, attribute in (
        (3, "haRegistrationAccepted", "registration_accepted"),
        (4, "haMultiBindingUnsupported", "multi_binding_unsupported"),
        (5, "haReasonUnspecified", "reason_unspecified"),
        (6, "haAdmProhibited", "admin_prohibited"),
        (7, "haInsufficientResource", "insufficient_resource"),
        (8, "haMNAuthenticationFailure", "mn_authentication_failure"),
        (9, "haFAAuthenticationFailure", "fa_authentication_failure"),
        (10, "haIDMismatch", "id_mismatch"),
        (11, "haPoorlyFormedRequest", "poorly_formed_request"),
        (12, "haTooManyBindings", "too_many_bindings"),
        (13, "haUnknownHA", "unknown_ha"),
        (14, "haGratuitiousARPsSent", "gratuitous_arps_sent"),
        (15, "haProxyARPsSent", "proxy_arps_sent"),
        (16, "haRegRequestsReceived", "reg_requests_received"),
        (17, "haDeRegRequestsReceived", "dereg_requests_received"),
        (18, "haRegRepliesSent", "reg_replies_sent"),
        (19, "haDeRegRepliesSent", "dereg_replies_sent"),
    ):
        objects.append(Scalar(name, hreg + (sub,), v.COUNTER, READ_ONLY, _counter(ha, attribute), ha_present))
    return objects


class SecurityAssociationWriter:
    """Sets of mipSecAssocTable (RFC 2006: read-create, no RowStatus column):
    an existing row is the SA in security/host or security/peer and takes the
    new values; a row that does not exist is created when the same PDU sets
    mipSecKey, in security/host when the home agent or proxy role is
    configured (their SAs are with mobile nodes), else in security/peer.
    HMAC-MD5 is other(1)/other(1), keyed MD5 prefix+suffix md5(2)/prefixSuffix(2);
    a mixed pair is inconsistentValue, replay method other(1) wrongValue."""

    def __init__(self, sources: Sources) -> None:
        self._sources = sources

    def plan(self, index: Oid, columns: dict[int, tuple[Value, int]], plan: Any) -> None:
        from agent.datastore.edits import Edit, Operation
        from agent.datastore.paths import Step
        from agent.snmp.tree import SetError

        first = min(position for _, position in columns.values())
        address = ip_from_index(index[:4]) if len(index) == 5 else None
        if address is None:
            raise SetError("noCreation", first, "not an (address, SPI) index")
        spi = index[4]
        config = self._sources.config()
        security = config.get("security", {})
        list_name = None
        for candidate in ("host", "peer"):
            if (str(address), str(spi)) in (security.get(candidate) or {}):
                list_name = candidate
                break
        leaves: dict[str, Any] = {}
        algorithm_type = columns.get(3)
        algorithm_mode = columns.get(4)
        if algorithm_type is not None or algorithm_mode is not None:
            # Type and mode name one algorithm together: a column not in the
            # request keeps the row's current value.
            current = 1
            if list_name is not None:
                entry = security[list_name][(str(address), str(spi))]
                current = 2 if entry.get("algorithm") == "keyed-md5-prefix-suffix" else 1
            kind_type = algorithm_type[0][1] if algorithm_type is not None else current
            kind_mode = algorithm_mode[0][1] if algorithm_mode is not None else current
            if algorithm_type is None and list_name is None:
                kind_type = kind_mode
            if algorithm_mode is None and list_name is None:
                kind_mode = kind_type
            if kind_type != kind_mode:
                position = (algorithm_type or algorithm_mode)[1]  # type: ignore[index]
                raise SetError("inconsistentValue", position, "algorithm type and mode disagree")
            leaves["algorithm"] = "keyed-md5-prefix-suffix" if kind_type == 2 else "hmac-md5"
        if 5 in columns:
            value, position = columns[5]
            if len(value[1]) < 16:
                raise SetError("wrongLength", position, "keys are at least 16 octets")
            leaves["key-hex"] = value[1].hex()
        if 6 in columns:
            value, position = columns[6]
            if value[1] == 1:
                raise SetError("wrongValue", position, "replay method other is not supported")
            leaves["replay-method"] = "timestamps" if value[1] == 2 else "nonces"
        if list_name is None:
            if "key-hex" not in leaves:
                raise SetError("noCreation", first, "a new SA needs mipSecKey in the same request")
            list_name = "host" if ("home-agent" in config or "proxy" in config) else "peer"
            if spi < 256:
                raise SetError("noCreation", first, "SPIs 0-255 are reserved (RFC 5944 §1.6)")
            operation = Operation.CREATE
        else:
            operation = Operation.MERGE
        path = (Step("mobile-ip"), Step("security"),
                Step(list_name, (("address", str(address)), ("spi", str(spi)))))
        plan.edits.append(Edit(operation, path, {"address": str(address), "spi": spi, **leaves}))
        plan.positions.append(first)
