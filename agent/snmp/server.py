"""The pysnmp 7 adapter (the only module that imports pysnmp): UDP transport,
message processing (RFC 3412), community and USM security (RFC 3584, RFC 3414)
and the counters they keep. Each request's PDU goes to the sans-IO
instrumentation (``agent.snmp.tree``, ``agent.snmp.writes``) with the view of
its principal (RFC 3415 §3.2 isAccessAllowed, evaluated over the configured
views in ``agent.snmp.tree.View``); this module holds no MIB decisions.

Every datagram first meets ``agent.snmp.screen``, before any decoder: an
unknown version (snmpInBadVersions), a wrong community (snmpInBadCommunityNames,
checked before anything after it is read) and BER outside the screen's bounds
(snmpInASNParseErrs) are counted here and dropped. What passes is bounded in
size and shape; then malformed BER is counted and dropped by pysnmp, USM
failures are reported and counted (usmStats); none of them reaches the
instrumentation. Every handler is synchronous and
bounded (max-varbinds, GetBulk cut), so one request never stalls the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyasn1.error import PyAsn1Error
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import context
from pysnmp.proto import error as proto_error
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.proto.api import v1, v2c
from pysnmp.proto.proxy import rfc2576

from agent.snmp import ber
from agent.snmp import values as v
from agent.snmp import usm_screen
from agent.snmp.screen import Verdict, message_version, screen
from agent.snmp.settings import READ_WRITE, SnmpSettings
from agent.snmp.tree import MibTree, SetError, View
from agent.snmp.writes import apply_set

log = logging.getLogger("proxymip.snmp")

_AUTH = {"sha": config.USM_AUTH_HMAC96_SHA, "sha-256": config.USM_AUTH_HMAC192_SHA256}
_PRIV = {
    "none": config.USM_PRIV_NONE,
    "aes-128": config.USM_PRIV_CFB128_AES,
    "aes-256": config.USM_PRIV_CFB256_AES_BLUMENTHAL,
}
_NO_AUTH, _AUTH_NO_PRIV, _AUTH_PRIV = 1, 2, 3
#: Community principals get a security name of their own (RFC 3584 §5.1,
#: snmpCommunitySecurityName), kept apart from USM user names.
_COMMUNITY_PREFIX = "community:"

_GET = rfc1905.GetRequestPDU.tagSet
_NEXT = rfc1905.GetNextRequestPDU.tagSet
_BULK = rfc1905.GetBulkRequestPDU.tagSet
_SET = rfc1905.SetRequestPDU.tagSet
#: Confirmed Class PDUs a command responder answers (RFC 3411 §2.8):
#: Get, GetNext, Set, GetBulk.
_CONFIRMED_PDUS = frozenset((0xA0, 0xA1, 0xA3, 0xA5))
#: The RFC 3418 counter of each screen verdict that drops a datagram.
_REJECTION_COUNTERS = {
    Verdict.BAD_VERSION: "snmpInBadVersions",
    Verdict.BAD_COMMUNITY: "snmpInBadCommunityNames",
    Verdict.PARSE_ERROR: "snmpInASNParseErrs",
}
#: ... and of the verdicts counted in SNMP-MPD-MIB (RFC 3412 §5).
_MPD_REJECTION_COUNTERS = {
    Verdict.UNKNOWN_PDU_HANDLER: "snmpUnknownPDUHandlers",
}

#: The MIB module (pysnmp's name) of each SNMPv3 screen verdict's counter.
_V3_COUNTER_MODULES = {
    usm_screen.V3Verdict.PARSE_ERROR: "__SNMPv2-MIB",
    usm_screen.V3Verdict.UNKNOWN_SECURITY_MODEL: "__SNMP-MPD-MIB",
    usm_screen.V3Verdict.INVALID_MESSAGE: "__SNMP-MPD-MIB",
    usm_screen.V3Verdict.UNKNOWN_ENGINE_ID: "__SNMP-USER-BASED-SM-MIB",
    usm_screen.V3Verdict.UNKNOWN_USER_NAME: "__SNMP-USER-BASED-SM-MIB",
    usm_screen.V3Verdict.UNSUPPORTED_SECURITY_LEVEL: "__SNMP-USER-BASED-SM-MIB",
    usm_screen.V3Verdict.WRONG_DIGEST: "__SNMP-USER-BASED-SM-MIB",
}

_ERROR_STATUS = {
    name: number for number, name in enumerate((
        "noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess",
        "wrongType", "wrongLength", "wrongEncoding", "wrongValue", "noCreation",
        "inconsistentValue", "resourceUnavailable", "commitFailed", "undoFailed",
        "authorizationError", "notWritable", "inconsistentName",
    ))
}


@dataclass(frozen=True)
class Principal:
    """Who may do what: the view reached, whether Sets are allowed, and the
    lowest security level accepted (USM users with a privacy protocol need
    authPriv)."""

    view: View
    writable: bool
    min_level: int


def engine_id_for(settings: SnmpSettings) -> bytes:
    """RFC 3411 §5 snmpEngineID, format 5 (octets, administratively assigned),
    under the RFC 5612 example enterprise: stable for a given listen address and
    port, so USM keys localised by managers stay valid across restarts."""
    if settings.engine_id is not None:
        return settings.engine_id
    digest = hashlib.sha256(f"proxymip {settings.address}:{settings.port}".encode()).digest()[:8]
    return bytes((0x80, 0x00, 0x7E, 0xD9, 0x05)) + digest


# -- value conversion at the edge -------------------------------------------------

_NO_SUCH_OBJECT = rfc1905.noSuchObject
_NO_SUCH_INSTANCE = rfc1905.noSuchInstance
_END_OF_MIB_VIEW = rfc1905.endOfMibView
_PROTOTYPES: dict[int, Any] = {
    v.INTEGER: rfc1902.Integer32(),
    v.OCTET_STRING: rfc1902.OctetString(),
    v.OBJECT_IDENTIFIER: rfc1902.ObjectIdentifier(),
    v.IP_ADDRESS: rfc1902.IpAddress(),
    v.COUNTER32: rfc1902.Counter32(),
    v.GAUGE32: rfc1902.Gauge32(),
    v.TIME_TICKS: rfc1902.TimeTicks(),
    v.COUNTER64: rfc1902.Counter64(),
}
_OID = rfc1902.ObjectName()


def to_wire(value: v.Value) -> Any:
    tag, payload = value
    if tag == v.NO_SUCH_OBJECT:
        return _NO_SUCH_OBJECT
    if tag == v.NO_SUCH_INSTANCE:
        return _NO_SUCH_INSTANCE
    if tag == v.END_OF_MIB_VIEW:
        return _END_OF_MIB_VIEW
    return _PROTOTYPES[tag].clone(payload)


_TAGS = (
    (rfc1902.IpAddress, v.IP_ADDRESS),
    (rfc1902.Counter32, v.COUNTER32),
    (rfc1902.Gauge32, v.GAUGE32),  # Unsigned32 shares the tag (RFC 2578 §7.1.11)
    (rfc1902.TimeTicks, v.TIME_TICKS),
    (rfc1902.Counter64, v.COUNTER64),
    (rfc1902.Opaque, 0x44),
    (rfc1902.Integer, v.INTEGER),
    (rfc1902.OctetString, v.OCTET_STRING),
    (rfc1902.ObjectIdentifier, v.OBJECT_IDENTIFIER),
)


def from_wire(value: Any) -> v.Value:
    """A Set value as ``(tag, payload)``; tags are compared, not Python classes,
    since IpAddress is an OctetString subclass in pyasn1."""
    tag_set = value.tagSet
    for cls, tag in _TAGS:
        if tag_set == cls.tagSet:
            if tag in (v.OCTET_STRING, v.IP_ADDRESS, 0x44):
                return (tag, value.asOctets())
            if tag == v.OBJECT_IDENTIFIER:
                return (tag, tuple(value))
            return (tag, int(value))
    return (v.NULL, None)


#: What ``SnmpAgent._first_look`` returns for a datagram it dropped (counted).
DROPPED = b""


class _Transport(udp.UdpAsyncioTransport):  # type: ignore[misc]
    """pysnmp's UDP transport with a first look at each datagram: one the
    screen rejects is counted and dropped, a v2c read request the BER fast
    path takes is answered here; everything else goes to pysnmp's message
    processing."""

    fast_path: Callable[[bytes], bytes | None] | None = None
    #: Called for each datagram pyasn1 could not decode (or convert) past
    #: pysnmp's own checks: counted as snmpInASNParseErrs.
    on_parse_error: Callable[[], None] | None = None

    def datagram_received(self, datagram: bytes, transport_address: Any) -> None:
        fast_path = self.fast_path
        if fast_path is not None:
            reply = fast_path(datagram)
            if reply is not None:
                if reply is not DROPPED:
                    self.transport.sendto(reply, transport_address)
                return
        # pysnmp's own datagram_received schedules the same dispatch, but lets
        # pyasn1's errors (a v1 value out of its v2 range in RFC 3584 §4.1.2's
        # conversion, a 2^64-octet length in the USM parameters: found by
        # tools/fuzz, issue 13) escape into the loop's exception handler: a
        # traceback for every such datagram and no counter moved.
        self.loop.call_soon(self._dispatch, transport_address, datagram)

    def _dispatch(self, transport_address: Any, datagram: bytes) -> None:
        if self._callback_function is None:
            return
        try:
            self._callback_function(self, transport_address, datagram)
        except (PyAsn1Error, OverflowError) as exc:
            # RFC 3418 snmpInASNParseErrs: an ASN.1/BER error decoding a
            # received message. Dropped, no reply (RFC 3412 §7.2.2).
            log.debug("snmp datagram from %s dropped: %s", transport_address, type(exc).__name__)
            if self.on_parse_error is not None:
                self.on_parse_error()


#: SO_RCVBUF of the agent's socket (the kernel doubles it for bookkeeping).
RECEIVE_BUFFER = 256 * 1024
#: Largest UDP payload over IPv4, the engine's snmpEngineMaxMessageSize.
MAX_MESSAGE = 65507
#: Informs awaiting acknowledgement at most; beyond, a notification is dropped.
INFORM_LIMIT = 64
#: An inform is sent 1 + INFORM_RETRIES times, INFORM_TIMEOUT s apart.
INFORM_TIMEOUT = 2.0
INFORM_RETRIES = 2


#: snmpEngineBoots's file in the agent's state directory.
ENGINE_BOOTS_FILE = "snmp-engine-boots"
#: RFC 3414 §2.2.2: snmpEngineBoots stops here (and USM then authenticates
#: nothing until the engine ID or the keys change).
MAX_ENGINE_BOOTS = 2147483647


def _engine_with_id(engine_id: bytes, state_dir: str | None) -> Any:
    """A pysnmp engine with our snmpEngineID and a snmpEngineBoots one more
    than the last run's. pysnmp, given an engine ID, keeps the boots count in
    ``/tmp/__pysnmp/<engine ID>/boots``: a predictable path in a directory
    anyone can write, so another local user could set it (near 2^31-1, it
    latches USM shut: RFC 3414 §2.2.2) and pysnmp leaves the file open. So
    the engine is made without an ID (pysnmp then persists nothing) and both
    are set here, the count kept in the agent's own state directory, written
    atomically with mode 0600."""
    from agent.datastore.store import atomic_write

    snmp_engine = engine.SnmpEngine()
    builder = snmp_engine.get_mib_builder()
    (engine_id_symbol,) = builder.import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineID")
    engine_id_symbol.syntax = engine_id_symbol.syntax.clone(engine_id)
    snmp_engine.snmpEngineID = engine_id_symbol.syntax
    boots = 1
    if state_dir is not None:
        path = Path(state_dir) / ENGINE_BOOTS_FILE
        try:
            boots = min(MAX_ENGINE_BOOTS, int(path.read_text(encoding="ascii").strip()) + 1)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning("snmp engine boots file %s unreadable (%s): counting from 1", path, exc)
        if boots < 1:
            boots = 1
        if boots == MAX_ENGINE_BOOTS:
            log.warning("snmpEngineBoots reached %d (RFC 3414 §2.2.2): SNMPv3 authenticates nothing until "
                        "the engine ID changes", MAX_ENGINE_BOOTS)
        try:
            atomic_write(path, f"{boots}\n")
        except OSError as exc:
            log.warning("snmp engine boots not saved to %s: %s", path, exc)
    (boots_symbol,) = builder.import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineBoots")
    boots_symbol.syntax = boots_symbol.syntax.clone(boots)
    return snmp_engine


class SnmpAgent:
    """The command responder in front of one MIB tree."""

    def __init__(self, settings: SnmpSettings, tree_factory: Callable[[Callable[[str, str], int]], MibTree], *,
                 datastore: Any = None, clock: Callable[[], float], sources: Any = None,
                 state_dir: str | None = None) -> None:
        """``state_dir``: where snmpEngineBoots is kept across restarts
        (RFC 3414 §2.2.2); None keeps it in memory only (tests)."""
        self.settings = settings
        self._sources = sources
        self._started_at = clock()
        self._trap_id = 0
        self._informs: set[Any] = set()
        self._notifier: Any = None  # the SnmpEngine that sends informs, made on first use
        #: Notifications handed to the network (traps) or acknowledged (informs).
        self.notifications_sent = 0
        #: Notifications not delivered, whatever the cause; by cause in
        #: ``notification_failures``: send-error (the kernel refused the
        #: datagram: no route, buffer full), inform-timeout (no acknowledgement
        #: after the retries), inform-error (pysnmp's error indication or
        #: status), overflow (INFORM_LIMIT outstanding), no-user.
        self.notifications_dropped = 0
        self.notification_failures: dict[str, int] = {}
        self._datastore = datastore
        self._clock = clock
        self._engine_id = engine_id_for(settings)
        self._engine = _engine_with_id(self._engine_id, state_dir)
        boots, engine_time = self._engine.get_mib_builder().import_symbols(
            "__SNMP-FRAMEWORK-MIB", "snmpEngineBoots", "snmpEngineTime")
        self._engine_boots = int(boots.syntax)
        #: pysnmp keeps snmpEngineTime as the second it started (an Integer32)
        #: and subtracts it from time.time() on each read.
        self._engine_time_base = int(engine_time.syntax)
        self.tree = tree_factory(self._stat)
        self._principals: dict[tuple[int, str], Principal] = {}
        #: v2c community -> principal, for the BER fast path.
        self._communities: dict[bytes, Principal] = {}
        #: USM user name -> what ``agent.snmp.usm_screen`` checks before pysnmp.
        self._usm_users: dict[bytes, usm_screen.UsmUser] = {}
        self._oid_encoder = ber.OidEncoder()
        self._in_packets: Any = None
        self._transport: Any = None
        self._socket: socket.socket | None = None
        self.port = settings.port
        self._configure()

    # -- set-up -------------------------------------------------------------------

    def _view(self, name: str | None) -> View:
        if name is None:
            return View.everything()
        for view in self.settings.views:
            if view.name == name:
                return View(view.subtrees)
        return View([])  # a dangling name (YANG leafref forbids it): nothing

    def _configure(self) -> None:
        snmp_engine = self._engine
        for community in self.settings.communities:
            security_name = _COMMUNITY_PREFIX + community.index
            config.add_v1_system(snmp_engine, community.index, community.secret,
                                 securityName=security_name)
            principal = Principal(self._view(community.view), community.access == READ_WRITE, _NO_AUTH)
            self._principals[(1, security_name)] = principal  # SNMPv1
            self._principals[(2, security_name)] = principal  # SNMPv2c
            self._communities[community.secret.encode("utf-8")] = principal
        for user in self.settings.users:
            priv = user.priv_protocol
            config.add_v3_user(
                snmp_engine, user.name, _AUTH[user.auth_protocol], user.auth_passphrase,
                _PRIV[priv], (user.priv_passphrase or user.auth_passphrase) if priv != "none" else None,
            )
            auth = usm_screen.AUTH_PROTOCOLS[user.auth_protocol]
            self._usm_users[user.name.encode("utf-8")] = usm_screen.UsmUser(
                auth, usm_screen.localized_key(user.auth_passphrase.encode("utf-8"), self.engine_id, auth),
                private=priv != "none")
            self._principals[(3, user.name)] = Principal(
                self._view(user.view), user.access == READ_WRITE,
                _AUTH_PRIV if priv != "none" else _AUTH_NO_PRIV,
            )
        snmp_context = context.SnmpContext(snmp_engine)
        snmp_engine.message_dispatcher.register_context_engine_id(
            snmp_context.contextEngineId, (_GET, _NEXT, _BULK, _SET), self._process_pdu,
        )

    def _stat(self, module: str, name: str) -> int:
        try:
            (symbol,) = self._engine.get_mib_builder().import_symbols(module, name)
        except Exception:  # a counter pysnmp does not keep reads as 0
            return 0
        return int(symbol.syntax)

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # A bounded queue: a flood beyond a few hundred requests is dropped
            # by the kernel rather than queued for seconds of work.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.bind((self.settings.address, self.settings.port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self.port = sock.getsockname()[1]
        transport = _Transport().open_server_mode(sock=sock)
        transport.fast_path = self._first_look
        transport.on_parse_error = lambda: self._count("snmpInASNParseErrs")
        (self._in_packets,) = self._engine.get_mib_builder().import_symbols("__SNMPv2-MIB", "snmpInPkts")
        config.add_transport(self._engine, udp.DOMAIN_NAME, transport)
        await transport._lport  # the datagram endpoint exists once this is done
        self._transport = transport
        log.info("snmp agent listening on %s:%d", self.settings.address, self.port)

    def close(self) -> None:
        for task in list(self._informs):
            task.cancel()
        if self._notifier is not None and self._notifier.transport_dispatcher is not None:
            self._notifier.transport_dispatcher.close_dispatcher()
        if self._engine.transport_dispatcher is not None:
            self._engine.transport_dispatcher.close_dispatcher()
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    @property
    def engine_id(self) -> bytes:
        return self._engine_id

    # -- notifications (RFC 3416 §4.2.6 SNMPv2-Trap, §4.2.7 InformRequest) -------------------

    def notify(self, name: str, content: dict[str, Any], when: float) -> None:
        """A datastore notification listener: the engines' notifications that the
        MIBs define go to every configured receiver. Never blocks nor raises: a
        trap is one non-blocking send, an inform a task with bounded retries."""
        from agent.snmp.notifications import notifications, with_header

        if not self.settings.receivers or self._sources is None:
            return
        try:
            found = notifications(name, content, self._sources)
        except Exception:  # a notification we cannot map must not reach the engines
            log.exception("snmp notification for %s not built", name)
            self._failed("build-error")
            return
        up_time = int(max(0.0, self._clock() - self._started_at) * 100)
        for oid, objects in found:
            varbinds = with_header(oid, objects, up_time)
            for receiver in self.settings.receivers:
                if receiver.community is not None:
                    self._trap(receiver, varbinds)
                elif receiver.user is not None:
                    if len(self._informs) >= INFORM_LIMIT:
                        # Informs wait for their acknowledgement: bounded, the
                        # excess is dropped (and counted) rather than queued.
                        self._failed("overflow")
                        continue
                    task = asyncio.get_running_loop().create_task(self._inform(receiver, varbinds))
                    self._informs.add(task)
                    task.add_done_callback(self._informs.discard)

    def _failed(self, cause: str) -> None:
        self.notifications_dropped += 1
        self.notification_failures[cause] = self.notification_failures.get(cause, 0) + 1

    def _trap(self, receiver: Any, varbinds: list[tuple[v.Oid, v.Value]]) -> None:
        """RFC 3416 §4.2.6 SNMPv2-Trap: unacknowledged, sent once, from the
        agent's port; a datagram the kernel refuses is counted, not retried."""
        self._trap_id = (self._trap_id + 1) & 0x7FFFFFFF
        message = ber.encode_trap(receiver.community.encode("utf-8"), self._trap_id, varbinds)
        if self._socket is None:
            self._failed("send-error")
            return
        try:
            self._socket.sendto(message, (receiver.address, receiver.port))
        except OSError as exc:  # no route, buffer full (non-blocking), refused
            log.info("snmp trap to %s not sent: %s", receiver.name, exc)
            self._failed("send-error")
            return
        self.notifications_sent += 1

    async def _inform(self, receiver: Any, varbinds: list[tuple[v.Oid, v.Value]]) -> None:
        """RFC 3416 §4.2.7 InformRequest, acknowledged by a Response: sent at most
        1 + INFORM_RETRIES times, INFORM_TIMEOUT s apart, then counted lost."""
        from pysnmp.hlapi.v3arch.asyncio import (
            ContextData,
            ObjectIdentity,
            ObjectType,
            SnmpEngine,
            UdpTransportTarget,
            UsmUserData,
            send_notification,
        )

        user = next((u for u in self.settings.users if u.name == receiver.user), None)
        if user is None:
            self._failed("no-user")
            return
        if self._notifier is None:
            self._notifier = SnmpEngine()
        priv = user.priv_protocol
        auth = UsmUserData(
            user.name, user.auth_passphrase,
            (user.priv_passphrase or user.auth_passphrase) if priv != "none" else None,
            authProtocol=_AUTH[user.auth_protocol], privProtocol=_PRIV[priv],
        )
        objects = [ObjectType(ObjectIdentity(oid), to_wire(value)) for oid, value in varbinds[1:]]
        try:
            target = await UdpTransportTarget.create(
                (receiver.address, receiver.port), timeout=INFORM_TIMEOUT, retries=INFORM_RETRIES)
            error_indication, error_status, _, _ = await send_notification(
                self._notifier, auth, target, ContextData(), "inform", *objects)
        except asyncio.CancelledError:
            raise
        except Exception:  # a receiver's failure must not reach the engines
            log.exception("snmp inform to %s failed", receiver.name)
            self._failed("send-error")
            return
        if error_indication or error_status:
            log.info("snmp inform to %s: %s", receiver.name, error_indication or error_status)
            timed_out = "timeout" in str(error_indication).lower() or "timed out" in str(error_indication).lower()
            self._failed("inform-timeout" if timed_out else "inform-error")
        else:
            self.notifications_sent += 1

    # -- requests (RFC 3416 §4.2) ------------------------------------------------------------

    def _count(self, name: str, module: str = "__SNMPv2-MIB") -> int:
        """One more in a pysnmp-kept counter (RFC 3418 snmp group by default);
        its new value."""
        (symbol,) = self._engine.get_mib_builder().import_symbols(module, name)
        symbol.syntax += 1
        return int(symbol.syntax)

    def _first_look(self, datagram: bytes) -> bytes | None:
        """Every datagram, before any decoder: ``agent.snmp.screen`` checks the
        version and the community first and bounds the rest; a rejected one is
        counted and DROPPED (a v1/v2c request with too many varbinds gets
        tooBig). Then the fast path: a v2c Get/GetNext/GetBulk answered
        without pyasn1 (``agent.snmp.ber``); None hands the datagram to pysnmp."""
        # Version and community first (cheap); the BER fast path bounds its own
        # decoding, so the structural walk is spent only on what goes to pysnmp.
        verdict = screen(datagram, self._communities, walk=False)
        if verdict is Verdict.ACCEPT:
            if message_version(datagram) == 3:
                reply = self._screen_v3(datagram)
            else:
                reply = self._fast_path(datagram)
            if reply is not None:
                return reply
            verdict = screen(datagram, self._communities)
        if verdict is not Verdict.ACCEPT:
            self._in_packets.syntax += 1  # snmpInPkts (RFC 3418): every message delivered
            return self._rejected(datagram, verdict)
        return None

    def _screen_v3(self, datagram: bytes) -> bytes | None:
        """``agent.snmp.usm_screen``: an SNMPv3 message USM would reject is
        counted where RFC 3412 §7.2 / RFC 3414 §3.2 count it and dropped, or
        answered with its Report, before pyasn1 decodes anything; None lets an
        authenticated message (or an engine discovery) go on to pysnmp."""
        verdict, header = usm_screen.screen_v3(datagram, self._engine_id, self._usm_users)
        if verdict is usm_screen.V3Verdict.ACCEPT:
            return None
        self._in_packets.syntax += 1  # snmpInPkts (RFC 3418): every message delivered
        module = _V3_COUNTER_MODULES[verdict]
        count = self._count(verdict.value, module)
        if header is None or verdict not in usm_screen.REPORTED or not header.reportable:
            return DROPPED
        # snmpEngineBoots and snmpEngineTime as pysnmp keeps them (RFC 3414 §2.2).
        engine_time = int(time.time() - self._engine_time_base)
        return usm_screen.encode_report(header, verdict, count, engine_id=self._engine_id,
                                        engine_boots=self._engine_boots, engine_time=engine_time,
                                        max_size=MAX_MESSAGE)

    def _rejected(self, datagram: bytes, verdict: Verdict) -> bytes:
        if verdict is Verdict.TOO_MANY_VARBINDS:
            envelope = ber.decode_envelope(datagram)
            if envelope is not None and envelope.pdu_type in _CONFIRMED_PDUS:
                # The community is known (the screen checked it first): RFC 3416
                # §4.2.1 tooBig, error-index 0, no varbinds, as for any response
                # beyond a local constraint.
                return ber.encode_message(envelope.community, ber.RESPONSE, envelope.request_id,
                                          _ERROR_STATUS["tooBig"], 0, [], version=envelope.version)
            # SNMPv3 cannot be authenticated before pysnmp decodes it: dropped,
            # as a reply beyond a local constraint is (RFC 3418 snmpSilentDrops).
            self._count("snmpSilentDrops")
            return DROPPED
        if verdict in _MPD_REJECTION_COUNTERS:
            self._count(_MPD_REJECTION_COUNTERS[verdict], "__SNMP-MPD-MIB")
        else:
            self._count(_REJECTION_COUNTERS[verdict])
        return DROPPED

    def _fast_path(self, datagram: bytes) -> bytes | None:
        request = ber.decode_request(datagram)
        if request is None:
            return None
        principal = self._communities.get(request.community)
        if principal is None:
            return None  # the screen let no unknown community through; pysnmp would count it
        self._in_packets.syntax += 1  # snmpInPkts (RFC 3418), as pysnmp counts its own
        try:
            return self._answer(request, principal)
        except Exception:
            log.exception("snmp request failed")
            return ber.encode_response(request.community, request.request_id, _ERROR_STATUS["genErr"], 1,
                                       [ber.encode_varbind(self._oid_encoder.encode(oid, 0), v.NULL_VALUE)
                                        for oid in request.oids])

    def _answer(self, request: ber.Request, principal: Principal) -> bytes:
        now = self._clock()
        tree, view, encode_oid = self.tree, principal.view, self._oid_encoder.encode
        encode_varbind = ber.encode_varbind
        if request.pdu_type == ber.GET_REQUEST:
            varbinds = [encode_varbind(encode_oid(oid, 0), tree.get(oid, now, view)) for oid in request.oids]
        elif request.pdu_type == ber.GET_NEXT_REQUEST:
            varbinds = []
            for oid in request.oids:
                found, value, prefix = tree.next_instance(oid, now, view)
                varbinds.append(encode_varbind(encode_oid(found, prefix), value))
        else:
            found_all = tree.get_bulk(
                request.oids, request.first, request.second, now, view,
                max_varbinds=self.settings.max_varbinds, max_bytes=MAX_MESSAGE - 200 - len(request.community),
            )
            varbinds = [encode_varbind(encode_oid(oid, prefix), value) for oid, value, prefix in found_all]
        reply = ber.encode_response(request.community, request.request_id, 0, 0, varbinds)
        if len(reply) > MAX_MESSAGE:
            # RFC 3416 §4.2.1: tooBig, error-index 0, no varbinds.
            reply = ber.encode_response(request.community, request.request_id, _ERROR_STATUS["tooBig"], 0, [])
        return reply

    def _process_pdu(self, snmp_engine: Any, message_processing_model: int, security_model: int,
                     security_name: Any, security_level: int, context_engine_id: Any, context_name: Any,
                     pdu_version: int, pdu: Any, max_size: int, state_reference: Any) -> None:
        original = None
        if message_processing_model == 0:
            original = pdu
            # RFC 1157 §4.1: a request's error-status and error-index are set
            # to 0 by its sender and mean nothing; RFC 3584 §4.1.2's
            # conversion would refuse values outside SNMPv2's ranges.
            v1.apiPDU.set_error_status(original, 0)
            v1.apiPDU.set_error_index(original, 0)
            try:
                pdu = rfc2576.v1_to_v2(original)
            except PyAsn1Error:
                # A value with no SNMPv2 equivalent (an INTEGER over Integer32,
                # RFC 3584 §4.1.2.1): RFC 1157 §4.1.5 badValue. Answered, not
                # raised: pysnmp releases this request's state only when it
                # is answered (found by tools/bench/snmp_fuzz_memory.py).
                self._answer_v1_bad_value(snmp_engine, security_model, security_name, security_level,
                                          context_engine_id, context_name, pdu_version, original, max_size,
                                          state_reference)
                return
        response = v2c.apiPDU.get_response(pdu)
        principal = self._principals.get((security_model, str(security_name)))
        try:
            status, index, varbinds = self._handle(pdu, principal, security_level, max_size)
        except Exception:  # a bug must cost one genErr, never the agent
            log.exception("snmp request failed")
            status, index, varbinds = _ERROR_STATUS["genErr"], 1, list(v2c.apiPDU.get_varbinds(pdu))
        v2c.apiPDU.set_error_status(response, status)
        v2c.apiPDU.set_error_index(response, index)
        v2c.apiPDU.set_varbinds(response, varbinds)
        if message_processing_model == 0:
            response = rfc2576.v2_to_v1(response, original)
        try:
            snmp_engine.message_dispatcher.return_response_pdu(
                snmp_engine, message_processing_model, security_model, security_name, security_level,
                context_engine_id, context_name, pdu_version, response, max_size, state_reference, {},
            )
        except proto_error.StatusInformation:
            # The response does not fit (RFC 3416 §4.2.1: tooBig, no varbinds).
            v2c.apiPDU.set_error_status(response, _ERROR_STATUS["tooBig"])
            v2c.apiPDU.set_error_index(response, 0)
            v2c.apiPDU.set_varbinds(response, [])
            try:
                snmp_engine.message_dispatcher.return_response_pdu(
                    snmp_engine, message_processing_model, security_model, security_name,
                    security_level, context_engine_id, context_name, pdu_version, response, max_size,
                    state_reference, {},
                )
            except (proto_error.StatusInformation, PyAsn1Error):
                log.debug("snmp response dropped: too big even empty")

    def _answer_v1_bad_value(self, snmp_engine: Any, security_model: int, security_name: Any,
                             security_level: int, context_engine_id: Any, context_name: Any, pdu_version: int,
                             request: Any, max_size: int, state_reference: Any) -> None:
        """RFC 1157 §4.1.5: badValue, error-index the first varbind whose value
        has no SNMPv2 equivalent, the request's varbinds echoed."""
        varbinds = list(v1.apiPDU.get_varbinds(request))
        index = 1
        for position, (_, value) in enumerate(varbinds, 1):
            if value.tagSet == v1.NetworkAddress.tagSet:  # as RFC 3584 §4.1.2.1 maps it
                value = value.getComponent()
            try:
                rfc2576.V1_TO_V2_VALUE_MAP[value.tagSet].clone(value)
            except (PyAsn1Error, KeyError):
                index = position
                break
        response = v1.apiPDU.get_response(request)
        v1.apiPDU.set_error_status(response, _ERROR_STATUS["badValue"])
        v1.apiPDU.set_error_index(response, index)
        v1.apiPDU.set_varbinds(response, varbinds)
        try:
            snmp_engine.message_dispatcher.return_response_pdu(
                snmp_engine, 0, security_model, security_name, security_level, context_engine_id,
                context_name, pdu_version, response, max_size, state_reference, {},
            )
        except (proto_error.StatusInformation, PyAsn1Error):
            log.debug("snmp v1 badValue response not sent")

    def _handle(self, pdu: Any, principal: Principal | None, security_level: int,
                max_size: int) -> tuple[int, int, list[tuple[Any, Any]]]:
        request = list(v2c.apiPDU.get_varbinds(pdu))
        names = [tuple(name) for name, _ in request]
        tag_set = pdu.tagSet
        if principal is None or security_level < principal.min_level:
            # RFC 3415 §3.2: no access entry -> authorizationError (RFC 3416 §4.2).
            return _ERROR_STATUS["authorizationError"], 1, request
        now = self._clock()
        tree = self.tree
        view = principal.view
        if tag_set == _GET:
            return 0, 0, [(name, to_wire(tree.get(oid, now, view))) for (name, _), oid in zip(request, names)]
        if tag_set == _NEXT:
            out = []
            for oid in names:
                found, value = tree.get_next(oid, now, view)
                out.append((_OID.clone(found), to_wire(value)))
            return 0, 0, out
        if tag_set == _BULK:
            non_repeaters = max(0, int(v2c.apiBulkPDU.get_non_repeaters(pdu)))
            max_repetitions = max(0, int(v2c.apiBulkPDU.get_max_repetitions(pdu)))
            found_all = tree.get_bulk(
                names, non_repeaters, max_repetitions, now, view,
                max_varbinds=self.settings.max_varbinds, max_bytes=max(484, max_size - 100),
            )
            return 0, 0, [(_OID.clone(oid), to_wire(value)) for oid, value, _ in found_all]
        # SetRequest (RFC 3416 §4.2.5)
        if not principal.writable:
            return _ERROR_STATUS["noAccess"], 1, request
        try:
            apply_set(tree, self._datastore, [(oid, from_wire(value)) for oid, (_, value) in zip(names, request)],
                      view, private=security_level >= _AUTH_PRIV)
        except SetError as exc:
            log.info("snmp set refused: %s (varbind %d)", exc.status, exc.index + 1)
            return _ERROR_STATUS[exc.status], exc.index + 1, request
        # The response of a successful Set echoes the request's varbinds (§4.2.5).
        return 0, 0, request
