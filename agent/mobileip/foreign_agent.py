"""The foreign agent role (RFC 5944 §3.7, §2.3), sans-IO.

Relays Registration Requests from visiting mobile nodes (or from a proxy access
point acting for them) to their home agents, keeps the pending list and the
visitor list, relays the replies back, and sends Agent Advertisements. Keeps every
counter of MIP-MIB's faRegistrationGroup and maAdvertisementGroup (RFC 2006).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, fields
from ipaddress import IPv4Address
from typing import Any

from agent.mobileip.advertisement import (
    ALL_SYSTEMS,
    PREFERENCE_NOT_A_DEFAULT_ROUTER,
    AgentAdvertisement,
    decode_solicitation,
    next_sequence,
)
from agent.mobileip.deadlines import Deadlines
from agent.mobileip.errors import DecodeError
from agent.mobileip.events import (
    AuthenticationFailed,
    DatagramDropped,
    Event,
    RegistrationDenied,
    RemovalReason,
    ViolationReason,
    VisitorAdded,
    VisitorRemoved,
    VisitorRenewed,
)
from agent.mobileip.extensions import Extension
from agent.mobileip.numbers import (
    INFINITE_LIFETIME,
    MOBILE_IP_PORT,
    AdvertisementFlag,
    ExtensionType,
    IcmpType,
    MessageType,
    ReplyCode,
    RequestFlag,
)
from agent.mobileip.outputs import Channel, Transmit
from agent.mobileip.pending_table import (
    FULL,
    IN_USE,
    PendingKey,
    PendingRegistration,
    PendingTable,
    Refusal,
    pending_key,
)
from agent.mobileip.registration import (
    RegistrationReply,
    RegistrationRequest,
    decode_reply,
    decode_request,
)
from agent.mobileip.security import SecurityAssociationTable, authenticate, check_extension
from agent.mobileip.violations import ViolationLog

MHAE = ExtensionType.MOBILE_HOME_AUTHENTICATION
MFAE = ExtensionType.MOBILE_FOREIGN_AUTHENTICATION
FHAE = ExtensionType.FOREIGN_HOME_AUTHENTICATION

_GRE = int(RequestFlag.GRE)
_MINIMAL = int(RequestFlag.MINIMAL_ENCAPSULATION)
_REVERSE = int(RequestFlag.REVERSE_TUNNELING)
_DECAPSULATION = int(RequestFlag.DECAPSULATION_BY_MOBILE_NODE)
_SIMULTANEOUS = int(RequestFlag.SIMULTANEOUS_BINDINGS)


@dataclass(frozen=True, slots=True)
class ForeignAgentSettings:
    address: IPv4Address
    #: Care-of addresses offered in advertisements (usually our own address).
    care_of_addresses: tuple[IPv4Address, ...] = ()
    #: Longest registration lifetime accepted; advertised as Registration Lifetime.
    max_lifetime: int = 600
    max_pending: int = 10_000
    #: RFC 5944 §3.7.1: pending requests per node, "typically 5".
    max_pending_per_node: int = 5
    #: RFC 5944 §3.7.1: a pending request MAY be dropped after 7 s (reply 78).
    pending_timeout: float = 7.0
    max_visitors: int = 200_000
    reverse_tunnel: bool = True
    reverse_tunnel_required: bool = False
    gre: bool = False
    minimal_encapsulation: bool = False
    registration_required: bool = True
    #: Seconds between unsolicited advertisements; 0 answers solicitations only
    #: (maAdvResponseSolicitationOnly). RFC 5944 §2.3: at most 1/3 of the lifetime.
    advertisement_interval: float = 10.0
    advertisement_lifetime: int = 30
    advertisement_address: IPv4Address = ALL_SYSTEMS
    prefix_length: int | None = None
    #: UDP port home agents listen on (434; a high port for unprivileged labs).
    home_agent_port: int = MOBILE_IP_PORT
    #: Relay only to home agents we share an FA-HA SA with, so that every reply
    #: that changes the visitor list carries a valid Foreign-Home Authentication
    #: Extension (RFC 5944 §3.5.4, §3.7.3.1); requests naming another home
    #: agent are denied 65. Off by default: RFC 5944 and Cisco IOS leave FA-HA
    #: authentication optional ("Mobile IP does not require that communication
    #: between an FA and an HA be authenticated"), and Cisco's answer to "which
    #: home agents may this FA serve" is a list (``ip mobile foreign-service
    #: home-access``), which this setting draws from the SA table.
    require_home_agent_authentication: bool = False

    @property
    def offered_care_of_addresses(self) -> tuple[IPv4Address, ...]:
        return self.care_of_addresses or (self.address,)


@dataclass
class ForeignAgentCounters:
    """MIP-MIB faRegistrationGroup and maAdvertisementGroup counters (RFC 2006)."""

    reg_requests_received: int = 0  # faRegRequestsReceived
    reg_requests_relayed: int = 0  # faRegRequestsRelayed
    reason_unspecified: int = 0  # 64
    admin_prohibited: int = 0  # 65
    insufficient_resource: int = 0  # 66
    mn_authentication_failure: int = 0  # 67
    reg_lifetime_too_long: int = 0  # 69
    poorly_formed_requests: int = 0  # 70
    encapsulation_unavailable: int = 0  # 72
    vj_compression_unavailable: int = 0  # 73
    ha_unreachable: int = 0  # 80-95
    reg_replies_received: int = 0  # faRegRepliesRecieved
    reg_replies_relayed: int = 0  # faRegRepliesRelayed
    ha_authentication_failure: int = 0  # 68
    poorly_formed_replies: int = 0  # 71
    reverse_tunnel_unavailable: int = 0  # 74 (RFC 3024; no MIP-MIB object)
    reverse_tunnel_mandatory: int = 0  # 75
    invalid_care_of_address: int = 0  # 77
    registration_timeouts: int = 0  # 78
    unmatched_replies: int = 0  # replies that match no pending request (§3.7.3.1)
    #: Registrations refused (65) because, without FA-HA authentication, they
    #: would re-point or remove a visitor registered with another home agent.
    visitor_conflicts: int = 0
    #: Pending requests dropped (answered 66) to make room for a sender that
    #: held fewer (the pending table's longest-queue drop, pending_table.py).
    pending_evicted: int = 0
    #: Requests refused 66 because their sender already held the most pending
    #: requests, by source address and by port, of a full pending table.
    pending_table_full: int = 0
    #: Requests refused 66 because the same home address and low-order 32
    #: bits of Identification were pending from another requester (§3.7.3.1).
    pending_identification_in_use: int = 0
    datagrams_discarded: int = 0
    advertisements_sent: int = 0  # maAdvertisementsSent
    advertisements_sent_for_solicitation: int = 0  # maAdvsSentForSolicitation
    solicitations_received: int = 0  # maSolicitationsReceived

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: Every reply code the foreign agent denies with, and the counter each one moves:
#: the one table of its denials. The YANG counter leaves, the MIB objects and
#: the CLI's totals are checked against it (tests/unit/test_reply_code_agreement.py).
DENIAL_COUNTERS: dict[ReplyCode, str] = {
    ReplyCode.FA_REASON_UNSPECIFIED: "reason_unspecified",
    ReplyCode.FA_ADMINISTRATIVELY_PROHIBITED: "admin_prohibited",
    ReplyCode.FA_INSUFFICIENT_RESOURCES: "insufficient_resource",
    ReplyCode.FA_MOBILE_NODE_FAILED_AUTHENTICATION: "mn_authentication_failure",
    ReplyCode.FA_HOME_AGENT_FAILED_AUTHENTICATION: "ha_authentication_failure",
    ReplyCode.FA_REQUESTED_LIFETIME_TOO_LONG: "reg_lifetime_too_long",
    ReplyCode.FA_POORLY_FORMED_REQUEST: "poorly_formed_requests",
    ReplyCode.FA_POORLY_FORMED_REPLY: "poorly_formed_replies",
    ReplyCode.FA_REQUESTED_ENCAPSULATION_UNAVAILABLE: "encapsulation_unavailable",
    ReplyCode.FA_REVERSE_TUNNEL_UNAVAILABLE: "reverse_tunnel_unavailable",
    ReplyCode.FA_REVERSE_TUNNEL_MANDATORY: "reverse_tunnel_mandatory",
    ReplyCode.FA_INVALID_CARE_OF_ADDRESS: "invalid_care_of_address",
    ReplyCode.FA_REGISTRATION_TIMEOUT: "registration_timeouts",
}


@dataclass(slots=True)
class Visitor:
    """One row of faVisitorTable (RFC 2006), keyed by home address."""

    home_address: IPv4Address
    home_agent: IPv4Address
    care_of_address: IPv4Address
    source_address: IPv4Address
    source_port: int
    flags: int
    identification: int
    lifetime: int
    registered_at: float
    expires_at: float


#: Row layout of ``ForeignAgent.export_state`` (addresses as integers).
VISITOR_FIELDS = ["home-address", "home-agent", "care-of-address", "source-address",
                  "source-port", "flags", "identification", "lifetime", "registered-at",
                  "expires-at"]

TimerKey = tuple[str, object]
_ADVERTISE: TimerKey = ("advertise", None)


class _Denied(Exception):
    def __init__(self, code: ReplyCode, lifetime: int = 0) -> None:
        self.code = code
        self.lifetime = lifetime


def _cut_after(raw: bytes, extensions: tuple[Extension, ...], ext_type: int) -> bytes:
    """The message up to and including the first ``ext_type`` extension; a relaying
    agent MUST NOT change anything up to the MHAE and removes what follows it
    (RFC 5944 §3.7.2.2, §3.7.3.2)."""
    for ext in extensions:
        if ext.type == ext_type:
            return raw[: ext.offset + 2 + len(ext.data)]
    return raw


class ForeignAgent:
    def __init__(
        self,
        settings: ForeignAgentSettings,
        *,
        mobile_nodes: SecurityAssociationTable | None = None,
        home_agents: SecurityAssociationTable | None = None,
        rng: random.Random | None = None,
        violations: ViolationLog | None = None,
        now: float = 0.0,
    ) -> None:
        self.settings = settings
        self.mobile_node_sas = mobile_nodes or SecurityAssociationTable()
        self.home_agent_sas = home_agents or SecurityAssociationTable()
        self.counters = ForeignAgentCounters()
        self.violations = violations or ViolationLog()
        self._rng = rng or random.SystemRandom()
        self._pending = PendingTable()
        self._visitors: dict[IPv4Address, Visitor] = {}
        self._timers: Deadlines[TimerKey] = Deadlines()
        self._outbox: list[Transmit] = []
        self._events: deque[Event] = deque()
        self.sequence = 0  # RFC 5944 §2.3.2: the first advertisement after start is 0
        #: Bumped by every visitor change (a checkpoint writer saves on change).
        self.state_version = 0
        if settings.advertisement_interval > 0:
            self._timers.schedule(_ADVERTISE, now)

    # -- adapter interface -------------------------------------------------------

    def datagrams_to_send(self) -> list[Transmit]:
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        return self._timers.next()

    def handle_timer(self, now: float) -> None:
        for kind, key in self._timers.pop_due(now):
            if kind == "pending":
                self._pending_timed_out(key, now)  # type: ignore[arg-type]
            elif kind == "visitor":
                visitor = self._visitors.get(key)  # type: ignore[call-overload]
                if visitor is not None:
                    self._remove_visitor(visitor, RemovalReason.EXPIRED)
            elif kind == "advertise":
                self._advertise(self.settings.advertisement_address, solicited=False)
                interval = self.settings.advertisement_interval
                # RFC 5944 §2.3: "slightly randomized" to avoid synchronisation.
                jitter = interval * 0.1 * (self._rng.random() * 2 - 1)
                self._timers.schedule(_ADVERTISE, now + interval + jitter)

    def receive_datagram(self, data: bytes, source: IPv4Address, port: int, now: float) -> None:
        kind = data[0] if data else None
        if kind == MessageType.REGISTRATION_REQUEST:
            self._receive_request(data, source, port, now)
        elif kind == MessageType.REGISTRATION_REPLY:
            self._receive_reply(data, source, port, now)
        else:
            self.counters.datagrams_discarded += 1
            self._events.append(DatagramDropped(source, f"message type {kind}"))

    def receive_icmp(
        self, data: bytes, source: IPv4Address, now: float, *, ttl: int | None = None
    ) -> None:
        """An ICMP message from the discovery socket: answer Agent Solicitations
        (RFC 5944 §2.4) with a unicast advertisement. ``ttl`` is not checked:
        the answer goes out with TTL 1 (§2.1) and so reaches the link only."""
        if not data or data[0] != IcmpType.ROUTER_SOLICITATION:
            return  # other ICMP on the raw socket is not for the agent
        try:
            decode_solicitation(data)
        except DecodeError as exc:
            # RFC 1256 §4.2: silently discarded (no advertisement), but counted.
            self.counters.datagrams_discarded += 1
            self._events.append(DatagramDropped(source, f"agent solicitation: {exc}"))
            return
        self.counters.solicitations_received += 1
        self._advertise(source, solicited=True)

    # -- management ---------------------------------------------------------------

    def visitors(self) -> list[Visitor]:
        return sorted(self._visitors.values(), key=lambda v: int(v.home_address))

    def visitor(self, home_address: IPv4Address) -> Visitor | None:
        return self._visitors.get(home_address)

    def pending(self) -> list[PendingRegistration]:
        return sorted(self._pending, key=lambda p: (int(p.home_address), p.received_at))

    @property
    def visitor_count(self) -> int:
        return len(self._visitors)

    def visitor_addresses(self) -> list[IPv4Address]:
        """Every visitor's home address, in no order (``visitors()`` sorts):
        the state stream's key copy (agent/plane/rows.py)."""
        return list(self._visitors)

    # -- checkpoint (visitors across a restart) ------------------------------------

    def export_state(self) -> dict[str, Any]:
        """The visitor list as JSON-ready data: what a restarted foreign agent
        needs to keep delivering to its visitors (RFC 5944 §3.7.3.2) until they
        re-register. Pending requests are not kept (their requesters
        retransmit, §3.6.3). Rows are arrays in ``VISITOR_FIELDS`` order,
        addresses as integers (taken on the event loop: kept cheap)."""
        return {"visitor-fields": VISITOR_FIELDS, "visitors": [
            [int(v.home_address), int(v.home_agent), int(v.care_of_address),
             int(v.source_address), v.source_port, v.flags, v.identification, v.lifetime,
             v.registered_at, v.expires_at]
            for v in self._visitors.values()
        ]}

    def restore_state(self, state: dict[str, Any], now: float) -> int:
        """Take back what ``export_state`` saved: visitors still alive at ``now``,
        each announced as VisitorAdded so the data plane follows; bounded by
        max-visitors; only into an empty list. ValueError/KeyError/TypeError
        for a document that is not ours (nothing is restored then)."""
        if self._visitors:
            raise ValueError("restore_state needs an empty foreign agent")
        if state["visitor-fields"] != VISITOR_FIELDS:
            raise ValueError("checkpoint rows are not in this version's layout")
        rows = [
            Visitor(IPv4Address(home), IPv4Address(home_agent), IPv4Address(coa),
                    IPv4Address(source), int(port), int(flags), int(identification),
                    int(lifetime), float(registered), float(expires))
            for home, home_agent, coa, source, port, flags, identification, lifetime,
            registered, expires in state["visitors"]
        ]
        restored = 0
        for visitor in rows:
            if visitor.expires_at <= now or len(self._visitors) >= self.settings.max_visitors:
                continue
            self._visitors[visitor.home_address] = visitor
            self._timers.schedule(("visitor", visitor.home_address), visitor.expires_at)
            self._events.append(VisitorAdded(visitor.home_address, visitor.home_agent,
                                             visitor.care_of_address, int(visitor.expires_at - now)))
            restored += 1
        self.state_version += 1
        return restored

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def clear_visitor(self, home_address: IPv4Address) -> bool:
        visitor = self._visitors.get(home_address)
        if visitor is None:
            return False
        self._remove_visitor(visitor, RemovalReason.CLEARED)
        return True

    def clear_counters(self) -> None:
        self.counters = ForeignAgentCounters()

    @property
    def pending_sources(self) -> int:
        """Source addresses with requests pending now."""
        return self._pending.sources

    @property
    def busy(self) -> bool:
        """RFC 5944 §2.1.1 'B': no registrations from additional mobile nodes.
        Only a full visitor list says so: a full pending table still takes a
        new node's request (it evicts the heaviest sender's oldest, see
        ``pending_table``), so garbage filling it must not make the foreign
        agent advertise itself busy to every node on the link."""
        return len(self._visitors) >= self.settings.max_visitors

    def advertisement(self) -> AgentAdvertisement:
        s = self.settings
        flags = AdvertisementFlag.FOREIGN_AGENT
        if s.registration_required:
            flags |= AdvertisementFlag.REGISTRATION_REQUIRED
        if self.busy:
            flags |= AdvertisementFlag.BUSY
        if s.gre:
            flags |= AdvertisementFlag.GRE
        if s.minimal_encapsulation:
            flags |= AdvertisementFlag.MINIMAL_ENCAPSULATION
        if s.reverse_tunnel:
            flags |= AdvertisementFlag.REVERSE_TUNNELING
        return AgentAdvertisement(
            sequence=self.sequence,
            registration_lifetime=min(s.max_lifetime, INFINITE_LIFETIME),
            flags=flags,
            care_of_addresses=s.offered_care_of_addresses,
            advertisement_lifetime=s.advertisement_lifetime,
            # RFC 5944 §2.1.2: one prefix length per router address of the RFC
            # 1256 part, so with one the agent lists its own address (RFC 1256
            # §3: preference 0x80000000, not a default router, as code 16 says).
            router_addresses=(
                ((s.address, PREFERENCE_NOT_A_DEFAULT_ROUTER),)
                if s.prefix_length is not None
                else ()
            ),
            prefix_lengths=(s.prefix_length,) if s.prefix_length is not None else None,
        )

    # -- requests (RFC 5944 §3.7.2) -----------------------------------------------

    def _receive_request(self, data: bytes, source: IPv4Address, port: int, now: float) -> None:
        self.counters.reg_requests_received += 1
        try:
            request = decode_request(data)
        except DecodeError as exc:
            if exc.silently_discard or exc.partial is None:
                self.counters.datagrams_discarded += 1
                self._events.append(DatagramDropped(source, str(exc)))
                return
            p = exc.partial
            self._send_denial(
                ReplyCode.FA_POORLY_FORMED_REQUEST, 0, p.home_address, p.home_agent,
                p.identification, source, port,
            )
            return
        key = pending_key(request.home_address, request.identification)
        try:
            self._validate_request(request, source, now)
            evict = self._pending_room(key, source, port)
        except _Denied as denial:
            self._send_denial(
                denial.code, denial.lifetime, request.home_address, request.home_agent,
                request.identification, source, port,
            )
            return
        if evict is not None:
            self._evict_pending(evict)
        self._pending.add(key, PendingRegistration(
            request.home_address, request.home_agent, request.care_of_address, source, port,
            int(request.flags), request.identification, request.lifetime, now,
        ))
        self._timers.schedule(("pending", key), now + self.settings.pending_timeout)
        relayed = _cut_after(request.raw, request.extensions, MHAE)
        ha_sa = self.home_agent_sas.preferred(request.home_agent)
        if ha_sa is not None:
            relayed = authenticate(relayed, FHAE, ha_sa)  # RFC 5944 §3.7.2.2
        self._outbox.append(Transmit(relayed, request.home_agent, self.settings.home_agent_port))
        self.counters.reg_requests_relayed += 1

    def _validate_request(self, request: RegistrationRequest, source: IPv4Address, now: float) -> None:
        s = self.settings
        self._check_mobile_foreign_auth(request, now)
        if request.lifetime > s.max_lifetime:
            # RFC 5944 §3.7.2.3: deny 69 with our maximum in the Lifetime field.
            raise _Denied(ReplyCode.FA_REQUESTED_LIFETIME_TOO_LONG, s.max_lifetime)
        flags = int(request.flags)  # plain int: IntFlag operators are slow
        if (flags & _GRE and not s.gre) or (
            flags & _MINIMAL and not s.minimal_encapsulation
        ):
            raise _Denied(ReplyCode.FA_REQUESTED_ENCAPSULATION_UNAVAILABLE)
        if flags & _REVERSE and not s.reverse_tunnel:
            raise _Denied(ReplyCode.FA_REVERSE_TUNNEL_UNAVAILABLE)  # RFC 3024 §3.3
        if (
            s.reverse_tunnel_required
            and not request.is_deregistration
            and not flags & _REVERSE
        ):
            raise _Denied(ReplyCode.FA_REVERSE_TUNNEL_MANDATORY)
        if (
            not flags & _DECAPSULATION
            and request.care_of_address not in s.offered_care_of_addresses
        ):
            raise _Denied(ReplyCode.FA_INVALID_CARE_OF_ADDRESS)
        if s.require_home_agent_authentication and not self.home_agent_sas.has(request.home_agent):
            raise _Denied(ReplyCode.FA_ADMINISTRATIVELY_PROHIBITED)
        if self._conflicts_with_visitor(request.home_address, request.home_agent) and not (
            self._leaving_home_agent(request.home_address)
        ):
            self.counters.visitor_conflicts += 1
            raise _Denied(ReplyCode.FA_ADMINISTRATIVELY_PROHIBITED)
        home = request.home_address
        if (
            home not in self._visitors
            and not request.is_deregistration
            and len(self._visitors) >= s.max_visitors
        ):
            raise _Denied(ReplyCode.FA_INSUFFICIENT_RESOURCES)

    def _pending_room(self, key: PendingKey, source: IPv4Address, port: int) -> PendingKey | None:
        """Room in the pending table (RFC 5944 §3.7.1; the bounds are in
        ``pending_table``): the entry to evict first, or None; 66 when the
        requester has no right to more room."""
        try:
            return self._pending.make_room(
                key, (source, port), max_entries=self.settings.max_pending,
                max_per_node=self.settings.max_pending_per_node)
        except Refusal as refusal:
            if refusal.reason == IN_USE:
                self.counters.pending_identification_in_use += 1
            elif refusal.reason == FULL:
                self.counters.pending_table_full += 1
            raise _Denied(ReplyCode.FA_INSUFFICIENT_RESOURCES) from None

    def _evict_pending(self, key: PendingKey) -> None:
        """Drop another sender's pending request to make room, and tell its
        requester: 66, as for a request refused for lack of room (RFC 5944
        §3.7.1 lets the FA bound its pending list; the node retries)."""
        pending = self._forget_pending(key)
        if pending is None:
            return
        self.counters.pending_evicted += 1
        self._send_denial(
            ReplyCode.FA_INSUFFICIENT_RESOURCES, 0, pending.home_address, pending.home_agent,
            pending.identification, pending.source_address, pending.source_port,
        )

    def _conflicts_with_visitor(self, home: IPv4Address, home_agent: IPv4Address) -> bool:
        """A registration through ``home_agent`` would re-point or remove the
        visitor ``home``, registered with another home agent, on a reply we
        cannot authenticate (no FA-HA SA with ``home_agent``, §3.7.3.1): any
        host may name itself as a node's home agent and answer for it. The
        visitor follows the home agent it registered with until it expires or
        is cleared."""
        visitor = self._visitors.get(home)
        return (
            visitor is not None
            and visitor.home_agent != home_agent
            and not self.home_agent_sas.has(home_agent)
        )

    def _leaving_home_agent(self, home: IPv4Address) -> bool:
        """A deregistration of visitor ``home`` through its own home agent is
        pending: the node (a proxy moving a client to a new home agent) is
        leaving it, so its request through another home agent is relayed. Its
        accept still may not re-point the visitor while the old registration
        stands (checked again on the reply)."""
        visitor = self._visitors.get(home)
        return visitor is not None and self._pending.deregistration_pending(home, visitor.home_agent)

    def _check_mobile_foreign_auth(self, request: RegistrationRequest, now: float) -> None:
        """With an SA for the node, exactly one valid MFAE must follow the MHAE
        (RFC 5944 §3.7.2.1); otherwise deny 67."""
        home = request.home_address
        if not self.mobile_node_sas.has(home):
            return
        mfaes = request.extensions_of(MFAE)
        mhaes = request.extensions_of(MHAE)
        reason: ViolationReason | None = None
        spi: int | None = None
        if len(mfaes) != 1 or not mhaes or mfaes[0].offset < mhaes[0].offset:
            reason = ViolationReason.MISSING_SECURITY_EXTENSION if not mfaes else ViolationReason.OTHER
        else:
            spi = mfaes[0].spi
            sa = self.mobile_node_sas.lookup(home, spi)
            if sa is None:
                reason = ViolationReason.BAD_SPI
            elif not check_extension(request.raw, mfaes[0], sa):
                reason = ViolationReason.BAD_AUTHENTICATOR
        if reason is not None:
            self.violations.record(
                home, spi=spi, identification=request.identification, reason=reason, now=now
            )
            self._events.append(AuthenticationFailed(home, spi, reason))
            raise _Denied(ReplyCode.FA_MOBILE_NODE_FAILED_AUTHENTICATION)

    def _send_denial(
        self,
        code: ReplyCode,
        lifetime: int,
        home_address: IPv4Address,
        home_agent: IPv4Address,
        identification: int,
        destination: IPv4Address,
        port: int,
    ) -> None:
        name = DENIAL_COUNTERS[code]
        setattr(self.counters, name, getattr(self.counters, name) + 1)
        self._events.append(RegistrationDenied(home_address, home_agent, code, destination))
        data = RegistrationReply(code, lifetime, home_address, home_agent, identification).encode()
        mn_sa = self.mobile_node_sas.preferred(home_address)
        if mn_sa is not None:
            data = authenticate(data, MFAE, mn_sa)
        self._outbox.append(Transmit(data, destination, port))

    def _forget_pending(self, key: PendingKey) -> PendingRegistration | None:
        pending = self._pending.remove(key)
        if pending is None:
            return None
        self._timers.cancel(("pending", key))
        return pending

    def _pending_timed_out(self, key: PendingKey, now: float) -> None:
        pending = self._pending.get(key)
        if pending is None:
            return
        self._forget_pending(key)
        # RFC 5944 §3.7.1: SHOULD answer a dropped pending request with 78.
        self._send_denial(
            ReplyCode.FA_REGISTRATION_TIMEOUT, 0, pending.home_address, pending.home_agent,
            pending.identification, pending.source_address, pending.source_port,
        )

    # -- replies (RFC 5944 §3.7.3) ------------------------------------------------

    def _matching_pending(
        self, home: IPv4Address, identification: int, source: IPv4Address, port: int
    ) -> PendingRegistration | None:
        """The pending request a reply answers (RFC 5944 §3.7.3.1): same home
        address and low-order 32 bits of Identification, and sent by the home
        agent the request was relayed to (§3.7.2.2), from its port (§3.8.3.1:
        the home agent answers from the address and port the request was sent
        to). Anything else matches nothing."""
        pending = self._pending.get(pending_key(home, identification))
        if (
            pending is None
            or source != pending.home_agent
            or port != self.settings.home_agent_port
        ):
            return None
        return pending

    def _receive_reply(self, data: bytes, source: IPv4Address, port: int, now: float) -> None:
        self.counters.reg_replies_received += 1
        try:
            reply = decode_reply(data)
        except DecodeError as exc:
            pending = None
            if exc.partial is not None and not exc.silently_discard:
                pending = self._matching_pending(
                    exc.partial.home_address, exc.partial.identification, source, port)
                if pending is not None:
                    self._forget_pending(pending_key(pending.home_address, pending.identification))
            if pending is None:
                self.counters.datagrams_discarded += 1
                self._events.append(DatagramDropped(source, str(exc)))
                return
            self._send_denial(
                ReplyCode.FA_POORLY_FORMED_REPLY, 0, pending.home_address, pending.home_agent,
                pending.identification, pending.source_address, pending.source_port,
            )
            return
        pending = self._matching_pending(reply.home_address, reply.identification, source, port)
        if pending is None:
            # RFC 5944 §3.7.3.1: a reply that matches no pending request is
            # silently discarded (counted); the pending request, if any, waits
            # for its home agent's reply.
            self.counters.unmatched_replies += 1
            self._events.append(DatagramDropped(source, f"reply for {reply.home_address} matches nothing"))
            return
        key = pending_key(pending.home_address, pending.identification)
        if not self._home_agent_authenticated(reply, pending, source, now):
            self._forget_pending(key)
            self._send_denial(
                ReplyCode.FA_HOME_AGENT_FAILED_AUTHENTICATION, 0, pending.home_address,
                pending.home_agent, pending.identification, pending.source_address,
                pending.source_port,
            )
            return
        self._forget_pending(key)
        if reply.accepted and self._conflicts_with_visitor(pending.home_address, pending.home_agent):
            # The visitor registered with another home agent after this
            # request was relayed: the unauthenticated accept changes nothing.
            self.counters.visitor_conflicts += 1
            self._send_denial(
                ReplyCode.FA_ADMINISTRATIVELY_PROHIBITED, 0, pending.home_address,
                pending.home_agent, pending.identification, pending.source_address,
                pending.source_port,
            )
            return
        self._update_visitor(reply, pending, now)
        relayed = _cut_after(reply.raw, reply.extensions, MHAE)
        if not reply.extensions_of(MHAE):
            relayed = _strip_from(reply.raw, reply.extensions, FHAE)
        mn_sa = self.mobile_node_sas.preferred(pending.home_address)
        if mn_sa is not None:
            relayed = authenticate(relayed, MFAE, mn_sa)
        self._outbox.append(Transmit(relayed, pending.source_address, pending.source_port))
        self.counters.reg_replies_relayed += 1

    def _home_agent_authenticated(
        self, reply: RegistrationReply, pending: PendingRegistration, source: IPv4Address, now: float
    ) -> bool:
        """With an SA for the home agent, exactly one valid FHAE (RFC 5944 §3.7.3.1)."""
        if not self.home_agent_sas.has(pending.home_agent):
            return True
        fhaes = reply.extensions_of(FHAE)
        reason: ViolationReason | None = None
        spi: int | None = None
        if len(fhaes) != 1:
            reason = ViolationReason.MISSING_SECURITY_EXTENSION if not fhaes else ViolationReason.OTHER
        else:
            spi = fhaes[0].spi
            sa = self.home_agent_sas.lookup(pending.home_agent, spi)
            if sa is None:
                reason = ViolationReason.BAD_SPI
            elif not check_extension(reply.raw, fhaes[0], sa):
                reason = ViolationReason.BAD_AUTHENTICATOR
        if reason is None:
            return True
        self.violations.record(
            pending.home_agent, spi=spi, identification=reply.identification, reason=reason, now=now
        )
        self._events.append(AuthenticationFailed(pending.home_agent, spi, reason))
        return False

    def _update_visitor(
        self, reply: RegistrationReply, pending: PendingRegistration, now: float
    ) -> None:
        if not reply.accepted:
            self._events.append(
                RegistrationDenied(pending.home_address, pending.home_agent, reply.code, pending.source_address)
            )
            return
        home = pending.home_address
        existing = self._visitors.get(home)
        if reply.lifetime == 0:
            if existing is not None:
                self._remove_visitor(existing, RemovalReason.DEREGISTERED)
            return
        lifetime = min(reply.lifetime, pending.lifetime) if pending.lifetime else reply.lifetime
        expires = now + lifetime
        visitor = Visitor(
            home, pending.home_agent, pending.care_of_address, pending.source_address,
            pending.source_port, pending.flags, pending.identification, lifetime, now, expires,
        )
        self._visitors[home] = visitor
        self.state_version += 1
        self._timers.schedule(("visitor", home), expires)
        if existing is None or existing.care_of_address != visitor.care_of_address:
            self._events.append(
                VisitorAdded(home, pending.home_agent, pending.care_of_address, lifetime)
            )
        else:
            self._events.append(VisitorRenewed(home, pending.care_of_address, lifetime))

    def _remove_visitor(self, visitor: Visitor, reason: RemovalReason) -> None:
        del self._visitors[visitor.home_address]
        self.state_version += 1
        self._timers.cancel(("visitor", visitor.home_address))
        self._events.append(VisitorRemoved(visitor.home_address, visitor.home_agent, reason))

    # -- advertisements (RFC 5944 §2.3) -------------------------------------------

    def _advertise(self, destination: IPv4Address, *, solicited: bool) -> None:
        data = self.advertisement().encode()
        self.sequence = next_sequence(self.sequence)
        self._outbox.append(Transmit(data, destination, 0, Channel.DISCOVERY))
        self.counters.advertisements_sent += 1
        if solicited:
            self.counters.advertisements_sent_for_solicitation += 1


def _strip_from(raw: bytes, extensions: tuple[Extension, ...], ext_type: int) -> bytes:
    for ext in extensions:
        if ext.type == ext_type:
            return raw[: ext.offset]
    return raw


__all__ = ["ForeignAgent", "ForeignAgentCounters", "ForeignAgentSettings", "PendingRegistration", "Visitor"]
