"""The home agent role (RFC 5944 §3.8), sans-IO.

Fed ``receive_datagram(data, source, port, now)`` and ``handle_timer(now)``; tells
its adapter ``get_timer()``, hands out ``datagrams_to_send()`` and ``next_event()``.
It keeps the mobility bindings, the per-node counters of MIP-MIB's haCounterTable,
every counter of haRegistrationGroup and the security violation log.

SAs from RADIUS (Cisco ``aaa authorization ipmobile``): with an ``sa_resolver``
(``agent.radius.resolver``, the proxy's sans-IO engine), a Registration Request
from a node that no local SA covers waits while the resolver asks the RADIUS
servers; the adapter takes ``sa_requests_to_send()`` and feeds the outcomes back
with ``sa_answer()``, as for the proxy. The wait is bounded (``sa_wait``
seconds, at most ``max_waiting`` requests, one per node: a retransmission
replaces the request it retransmits, RFC 5944 §3.6.3). Then:

- SAs found (now or from the cache): the request is processed as if they were
  local, at the time the answer came (the replay check uses that time);
- Access-Reject, or a reply with no usable SA: the home agent has no mobility
  security association with the node, so the node fails authentication: 131
  (RFC 5944 §3.8.2.1), logged as a no-mobility-security-association violation;
- no server answered in time: 130, insufficient resources (§3.8.2.1's code for
  a home agent that cannot serve the request now). Not 131: the node did not
  fail to authenticate, and counting it in haMNAuthenticationFailure and the
  violation log would accuse it; the node retries (§3.6.3) and a later answer
  is cached for it.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field, fields
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from agent.mobileip import replay
from agent.mobileip.deadlines import Deadlines
from agent.mobileip.errors import DecodeError
from agent.mobileip.events import (
    AuthenticationFailed,
    BindingCreated,
    BindingDeleted,
    BindingRefreshed,
    DatagramDropped,
    Event,
    RegistrationDenied,
    RemovalReason,
    ViolationReason,
)
from agent.mobileip.extensions import Extension
from agent.mobileip.numbers import (
    INFINITE_LIFETIME,
    MOBILE_IP_PORT,
    ExtensionType,
    MessageType,
    ReplyCode,
    RequestFlag,
)
from agent.mobileip.outputs import Transmit
from agent.mobileip.registration import RegistrationReply, RegistrationRequest, decode_request
from agent.mobileip.security import (
    ReplayMethod,
    SecurityAssociation,
    SecurityAssociationTable,
    authenticate,
    check_extension,
)
from agent.mobileip.violations import ViolationLog
from agent.radius.resolver import (
    Cached,
    Failed,
    FailureReason,
    Outcome,
    Rejected,
    Resolved,
    SecurityAssociationResolver,
)

MHAE = ExtensionType.MOBILE_HOME_AUTHENTICATION
FHAE = ExtensionType.FOREIGN_HOME_AUTHENTICATION

_GRE = int(RequestFlag.GRE)
_MINIMAL = int(RequestFlag.MINIMAL_ENCAPSULATION)
_REVERSE = int(RequestFlag.REVERSE_TUNNELING)
_DECAPSULATION = int(RequestFlag.DECAPSULATION_BY_MOBILE_NODE)
_SIMULTANEOUS = int(RequestFlag.SIMULTANEOUS_BINDINGS)


@dataclass(frozen=True, slots=True)
class HomeAgentSettings:
    address: IPv4Address
    #: The home network; a request sent to its directed broadcast is answered with
    #: 136 and our unicast address (RFC 5944 §3.8.2.1, dynamic HA discovery).
    home_network: IPv4Network | None = None
    #: Longest lifetime granted (Cisco IOS ``ip mobile home-agent lifetime``, 36000 s).
    max_lifetime: int = 36000
    max_bindings: int = 200_000
    #: Simultaneous bindings per node (S flag); 1 answers S requests with code 1.
    max_simultaneous_bindings: int = 3
    reverse_tunnel: bool = True
    reverse_tunnel_required: bool = False
    #: RFC 5944 §4.1: IP-in-IP is mandatory; GRE and minimal encapsulation optional.
    gre: bool = False
    minimal_encapsulation: bool = False


@dataclass
class HomeAgentCounters:
    """MIP-MIB haRegistrationGroup counters (RFC 2006), with the RFC's spelling kept
    in the MIB mapping; plus drops that the MIB has no object for."""

    registration_accepted: int = 0  # haRegistrationAccepted (code 0)
    multi_binding_unsupported: int = 0  # haMultiBindingUnsupported (code 1)
    reason_unspecified: int = 0  # 128
    admin_prohibited: int = 0  # 129
    insufficient_resource: int = 0  # 130
    mn_authentication_failure: int = 0  # 131
    fa_authentication_failure: int = 0  # 132
    id_mismatch: int = 0  # 133
    poorly_formed_request: int = 0  # 134
    too_many_bindings: int = 0  # 135
    unknown_ha: int = 0  # 136
    reverse_tunnel_unavailable: int = 0  # 137 (RFC 3024; no MIP-MIB object)
    reverse_tunnel_mandatory: int = 0  # 138
    encapsulation_unavailable: int = 0  # 139
    gratuitous_arps_sent: int = 0  # haGratuitiousARPsSent (data path)
    proxy_arps_sent: int = 0  # haProxyARPsSent (data path)
    reg_requests_received: int = 0
    dereg_requests_received: int = 0
    reg_replies_sent: int = 0
    dereg_replies_sent: int = 0
    datagrams_discarded: int = 0  # silently discarded (not a request, unknown ext 0-127)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: Every reply code the home agent denies with, and the counter each one moves:
#: the one table of its denials. The YANG counter leaves, the MIB objects and
#: the CLI's totals are checked against it (tests/unit/test_reply_code_agreement.py).
DENIAL_COUNTERS: dict[ReplyCode, str] = {
    ReplyCode.HA_REASON_UNSPECIFIED: "reason_unspecified",
    ReplyCode.HA_ADMINISTRATIVELY_PROHIBITED: "admin_prohibited",
    ReplyCode.HA_INSUFFICIENT_RESOURCES: "insufficient_resource",
    ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION: "mn_authentication_failure",
    ReplyCode.HA_FOREIGN_AGENT_FAILED_AUTHENTICATION: "fa_authentication_failure",
    ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH: "id_mismatch",
    ReplyCode.HA_POORLY_FORMED_REQUEST: "poorly_formed_request",
    ReplyCode.HA_TOO_MANY_SIMULTANEOUS_BINDINGS: "too_many_bindings",
    ReplyCode.HA_UNKNOWN_HOME_AGENT_ADDRESS: "unknown_ha",
    ReplyCode.HA_REVERSE_TUNNEL_UNAVAILABLE: "reverse_tunnel_unavailable",
    ReplyCode.HA_REVERSE_TUNNEL_MANDATORY: "reverse_tunnel_mandatory",
    ReplyCode.HA_REQUESTED_ENCAPSULATION_UNAVAILABLE: "encapsulation_unavailable",
}


#: Row layouts of ``HomeAgent.export_state`` (addresses as integers).
NODE_FIELDS = ["home-address", "last-identification", "nonce", "bindings"]
BINDING_FIELDS = ["care-of-address", "source-address", "source-port", "flags",
                  "identification", "lifetime", "registered-at", "expires-at"]


@dataclass(slots=True)
class Binding:
    """One row of haMobilityBindingTable (RFC 2006)."""

    home_address: IPv4Address
    care_of_address: IPv4Address
    source_address: IPv4Address
    source_port: int
    flags: int
    identification: int
    lifetime: int  # granted, seconds
    registered_at: float
    expires_at: float


@dataclass(slots=True)
class MobileNode:
    """Per-node state: replay protection, the haCounterTable row, its bindings."""

    last_identification: int | None = None
    nonce: int | None = None
    service_accepted: int = 0
    service_denied: int = 0
    overall_service_time: float = 0.0
    recent_accepted_time: float | None = None
    recent_denied_time: float | None = None
    recent_denied_code: int = 0
    #: Usually one; a list costs a third of a one-entry dict (RSS per binding).
    bindings: list[Binding] = field(default_factory=list)

    def binding_for(self, care_of_address: IPv4Address) -> Binding | None:
        for binding in self.bindings:
            if binding.care_of_address == care_of_address:
                return binding
        return None


@dataclass
class RadiusWaitCounters:
    """Registration Requests that waited for SAs from RADIUS (no MIB object)."""

    waited: int = 0  # held for a lookup
    superseded: int = 0  # replaced by a newer request from the same node
    resolved: int = 0  # processed once the SAs came
    refused: int = 0  # 131: Access-Reject or unusable reply
    timed_out: int = 0  # 130: no server answered in time
    overflow: int = 0  # 130: max_waiting requests already waiting

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class _Waiting:
    request: RegistrationRequest
    source: IPv4Address
    port: int
    destination: IPv4Address | None


class _Denied(Exception):
    def __init__(
        self,
        code: ReplyCode,
        *,
        sa: SecurityAssociation | None = None,
        identification: int | None = None,
        home_agent: IPv4Address | None = None,
        lifetime: int = 0,
    ) -> None:
        self.code = code
        self.sa = sa
        self.identification = identification
        self.home_agent = home_agent
        self.lifetime = lifetime


class HomeAgent:
    def __init__(
        self,
        settings: HomeAgentSettings,
        *,
        mobile_nodes: SecurityAssociationTable,
        peers: SecurityAssociationTable | None = None,
        rng: random.Random | None = None,
        violations: ViolationLog | None = None,
        sa_resolver: SecurityAssociationResolver | None = None,
        sa_wait: float = 5.0,
        max_waiting: int = 10_000,
    ) -> None:
        self.settings = settings
        self.mobile_node_sas = mobile_nodes
        self.peer_sas = peers or SecurityAssociationTable()
        self.counters = HomeAgentCounters()
        self.violations = violations or ViolationLog()
        self._rng = rng or random.SystemRandom()
        self._nodes: dict[IPv4Address, MobileNode] = {}
        self._expiries: Deadlines[tuple[IPv4Address, IPv4Address]] = Deadlines()
        self._outbox: list[Transmit] = []
        self._events: deque[Event] = deque()
        self.binding_count = 0
        #: Bumped by every binding change (creation, refresh, removal): a
        #: checkpoint writer saves the table only when it moved.
        self.state_version = 0
        self.sa_resolver = sa_resolver
        self.sa_wait = sa_wait
        self.max_waiting = max_waiting
        self.radius_wait_counters = RadiusWaitCounters()
        #: Home address -> the request waiting for its SAs from RADIUS.
        self._waiting: dict[IPv4Address, _Waiting] = {}
        self._waiting_deadlines: Deadlines[IPv4Address] = Deadlines()

    # -- adapter interface -------------------------------------------------------

    @property
    def wants_destination(self) -> bool:
        """The adapter passes each datagram's destination address when the home
        network is known: a request sent to its directed broadcast is answered
        136 with our unicast address (RFC 5944 §3.8.2.1)."""
        return self.settings.home_network is not None

    def datagrams_to_send(self) -> list[Transmit]:
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        deadline = self._expiries.next()
        if self.sa_resolver is not None:
            for other in (self._waiting_deadlines.next(), self.sa_resolver.get_timer()):
                if other is not None and (deadline is None or other < deadline):
                    deadline = other
        return deadline

    def handle_timer(self, now: float) -> None:
        for home, coa in self._expiries.pop_due(now):
            node = self._nodes.get(home)
            if node is not None and node.binding_for(coa) is not None:
                self._remove_binding(node, home, coa, RemovalReason.EXPIRED, now)
        resolver = self.sa_resolver
        if resolver is not None:
            retry = resolver.get_timer()
            if retry is not None and retry <= now:
                resolver.handle_timer(now)
            self._resolver_events(now)
            for home in self._waiting_deadlines.pop_due(now):
                waiting = self._waiting.pop(home, None)
                if waiting is not None:
                    self.radius_wait_counters.timed_out += 1
                    resolver.cancel(home)  # nobody waits; a new request asks again
                    self._deny(waiting.request, waiting.source, waiting.port, now,
                               _Denied(ReplyCode.HA_INSUFFICIENT_RESOURCES))

    # -- SAs from RADIUS (the adapter side, as ProxyAgent's) -----------------------

    def sa_requests_to_send(self) -> list[IPv4Address]:
        """Home addresses to send an Access-Request for now (bounded by the
        resolver's max_outstanding; ask again after each :meth:`sa_answer`)."""
        resolver = self.sa_resolver
        if resolver is None:
            return []
        addresses = []
        while (address := resolver.next_request()) is not None:
            addresses.append(address)
        return addresses

    def sa_answer(self, address: IPv4Address, outcome: Outcome, now: float) -> bool:
        """The outcome of the Access-Request for ``address``; the request that
        waited for it is processed or denied at once."""
        if self.sa_resolver is None:
            return False
        accepted = self.sa_resolver.answer(address, outcome, now)
        self._resolver_events(now)
        return accepted

    @property
    def waiting_for_sas(self) -> int:
        return len(self._waiting)

    def _sas_from_radius(
        self,
        request: RegistrationRequest,
        source: IPv4Address,
        port: int,
        destination: IPv4Address | None,
        now: float,
    ) -> tuple[SecurityAssociation, ...] | None:
        """The node's SAs from the resolver's cache, or None when the request
        was denied or waits for a lookup."""
        resolver = self.sa_resolver
        assert resolver is not None
        home = request.home_address
        result = resolver.lookup(home, now)
        if isinstance(result, Cached):
            return result.sas
        counters = self.radius_wait_counters
        if isinstance(result, Rejected):
            if result.reason is FailureReason.OVERLOADED:
                # The resolver's bound on lookups under way: nothing says the node
                # is unknown, the agent is out of room (RFC 5944 §3.8.2.1, 130).
                counters.overflow += 1
                self._deny(request, source, port, now,
                           _Denied(ReplyCode.HA_INSUFFICIENT_RESOURCES))
            else:  # the negative cache: refused recently
                self._refuse_unknown_node(request, source, port, now)
            return None
        if home in self._waiting:
            counters.superseded += 1  # a retransmission: the older one goes unanswered
        elif len(self._waiting) >= self.max_waiting:
            counters.overflow += 1
            resolver.cancel(home)
            self._deny(request, source, port, now, _Denied(ReplyCode.HA_INSUFFICIENT_RESOURCES))
            return None
        counters.waited += 1
        self._waiting[home] = _Waiting(request, source, port, destination)
        self._waiting_deadlines.schedule(home, now + self.sa_wait)
        return None

    def _resolver_events(self, now: float) -> None:
        resolver = self.sa_resolver
        assert resolver is not None
        counters = self.radius_wait_counters
        while (event := resolver.next_event()) is not None:
            waiting = self._waiting.pop(event.address, None)
            if waiting is None:
                continue  # its request was answered already (timed out)
            self._waiting_deadlines.cancel(event.address)
            if isinstance(event, Resolved):
                counters.resolved += 1
                self._process(waiting.request, waiting.source, waiting.port, now,
                              destination=waiting.destination, learned=event.sas)
            elif isinstance(event, Failed) and event.reason is FailureReason.NO_SERVER:
                # The resolver asks again with backoff; a retransmission waits for it.
                counters.timed_out += 1
                self._deny(waiting.request, waiting.source, waiting.port, now,
                           _Denied(ReplyCode.HA_INSUFFICIENT_RESOURCES))
            else:
                self._refuse_unknown_node(waiting.request, waiting.source, waiting.port, now)

    def _refuse_unknown_node(
        self, request: RegistrationRequest, source: IPv4Address, port: int, now: float
    ) -> None:
        """RADIUS holds no SA for the node: it cannot authenticate (RFC 5944 §3.8.2.1)."""
        self.radius_wait_counters.refused += 1
        mhaes = request.extensions_of(MHAE)
        spi = mhaes[0].spi if len(mhaes) == 1 else None
        self._violation(request.home_address, spi, request,
                        ViolationReason.NO_MOBILITY_SECURITY_ASSOCIATION, now)
        self._deny(request, source, port, now,
                   _Denied(ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION))

    def receive_datagram(
        self,
        data: bytes,
        source: IPv4Address,
        port: int,
        now: float,
        *,
        destination: IPv4Address | None = None,
    ) -> None:
        if not data or data[0] != MessageType.REGISTRATION_REQUEST:
            self.counters.datagrams_discarded += 1
            self._events.append(DatagramDropped(source, "not a registration request"))
            return
        self.counters.reg_requests_received += 1
        try:
            request = decode_request(data)
        except DecodeError as exc:
            if exc.partial is not None and exc.partial.lifetime == 0:
                self.counters.dereg_requests_received += 1
            self._malformed(exc, source, port, now)
            return
        if request.is_deregistration:
            self.counters.dereg_requests_received += 1
        learned: tuple[SecurityAssociation, ...] | None = None
        if self.sa_resolver is not None and not self.mobile_node_sas.has(request.home_address):
            learned = self._sas_from_radius(request, source, port, destination, now)
            if learned is None:
                return  # denied, or waiting for the lookup
        self._process(request, source, port, now, destination=destination, learned=learned)

    def _process(
        self,
        request: RegistrationRequest,
        source: IPv4Address,
        port: int,
        now: float,
        *,
        destination: IPv4Address | None,
        learned: tuple[SecurityAssociation, ...] | None = None,
    ) -> None:
        """Authenticate, check and apply one request, and answer it. ``learned``:
        the node's SAs from RADIUS, used in place of the local table."""
        sa: SecurityAssociation | None = None
        try:
            sa = self._authenticate(request, source, now, learned)
            self._check_request(request, destination)
            code, lifetime = self._apply(request, source, port, now)
        except _Denied as denial:
            if denial.sa is None:
                # Every reply we generate carries the MHAE once the node has
                # authenticated (RFC 5944 §3.5.2, §3.8.3.1).
                denial.sa = sa
            self._deny(request, source, port, now, denial)
            return
        node = self._nodes[request.home_address]
        identification = self._reply_identification(request, sa, node)
        node.last_identification = request.identification
        self._reply(
            RegistrationReply(
                code, lifetime, request.home_address, self.settings.address, identification
            ),
            sa,
            source,
            port,
            deregistration=request.is_deregistration,
        )

    # -- operations for management -------------------------------------------------

    def bindings(self) -> list[Binding]:
        """Every binding, sorted by (home address, care-of address) as the
        haMobilityBindingTable INDEX orders them."""
        rows = [b for node in self._nodes.values() for b in node.bindings]
        rows.sort(key=lambda b: (int(b.home_address), int(b.care_of_address)))
        return rows

    def mobile_node(self, home_address: IPv4Address) -> MobileNode | None:
        return self._nodes.get(home_address)

    def mobile_nodes(self) -> dict[IPv4Address, MobileNode]:
        return self._nodes

    def clear_binding(self, home_address: IPv4Address, now: float) -> int:
        node = self._nodes.get(home_address)
        if node is None:
            return 0
        coas = [b.care_of_address for b in node.bindings]
        for coa in coas:
            self._remove_binding(node, home_address, coa, RemovalReason.CLEARED, now)
        return len(coas)

    def clear_counters(self) -> None:
        self.counters = HomeAgentCounters()

    # -- checkpoint (bindings across a restart) ------------------------------------

    def export_state(self) -> dict[str, Any]:
        """The binding table and each node's replay state, as JSON-ready data:
        what a restarted home agent needs to keep tunnelling (RFC 5944 §4.2.3)
        and to keep refusing replays (§5.7) without waiting for every mobile
        node to register again. Counters are not kept (RFC 2006 counters
        restart at zero with the agent). Compact on purpose (addresses as
        integers, rows as arrays in ``NODE_FIELDS`` / ``BINDING_FIELDS``
        order): it is taken on the event loop, 100,000 bindings in ~0.1 s."""
        nodes = []
        for home, node in self._nodes.items():
            if not node.bindings and node.last_identification is None and node.nonce is None:
                continue
            nodes.append([
                int(home), node.last_identification, node.nonce,
                [[int(b.care_of_address), int(b.source_address), b.source_port, b.flags,
                  b.identification, b.lifetime, b.registered_at, b.expires_at]
                 for b in node.bindings],
            ])
        return {"node-fields": NODE_FIELDS, "binding-fields": BINDING_FIELDS, "nodes": nodes}

    def restore_state(self, state: dict[str, Any], now: float) -> int:
        """Take back what ``export_state`` saved: bindings still alive at ``now``
        (each announced as BindingCreated, so the data plane follows), replay
        state for every node. Only into an empty table (just started); bounded
        by max-bindings. Returns the bindings restored; ValueError/KeyError/
        TypeError for a document that is not ours (nothing is restored then)."""
        if self._nodes:
            raise ValueError("restore_state needs an empty home agent")
        if state["node-fields"] != NODE_FIELDS or state["binding-fields"] != BINDING_FIELDS:
            raise ValueError("checkpoint rows are not in this version's layout")
        parsed = []
        for home_int, last, nonce, rows in state["nodes"]:
            home = IPv4Address(home_int)
            bindings = [
                Binding(home, IPv4Address(coa), IPv4Address(source), int(port), int(flags),
                        int(identification), int(lifetime), float(registered), float(expires))
                for coa, source, port, flags, identification, lifetime, registered, expires in rows
            ]
            parsed.append((home, None if last is None else int(last),
                           None if nonce is None else int(nonce), bindings))
        restored = 0
        for home, last, nonce, bindings in parsed:  # all parsed: nothing half-restored
            node = self._node(home)
            node.last_identification, node.nonce = last, nonce
            for binding in bindings:
                if binding.expires_at <= now or self.binding_count >= self.settings.max_bindings:
                    continue
                node.bindings.append(binding)
                self.binding_count += 1
                restored += 1
                self._expiries.schedule((home, binding.care_of_address), binding.expires_at)
                self._events.append(BindingCreated(
                    home, binding.care_of_address, int(binding.expires_at - now),
                    binding.source_address))
        self.state_version += 1
        return restored

    # -- processing ---------------------------------------------------------------

    def _node(self, home_address: IPv4Address) -> MobileNode:
        node = self._nodes.get(home_address)
        if node is None:
            node = self._nodes[home_address] = MobileNode()
        return node

    def _malformed(self, exc: DecodeError, source: IPv4Address, port: int, now: float) -> None:
        if exc.silently_discard or exc.partial is None:
            # RFC 5944 §1.9: unknown extension 0-127 -> silently discard. A message
            # too short to carry a home address cannot be answered either.
            self.counters.datagrams_discarded += 1
            self._events.append(DatagramDropped(source, str(exc)))
            return
        partial = exc.partial
        self.counters.poorly_formed_request += 1
        self._count_denial(partial.home_address, ReplyCode.HA_POORLY_FORMED_REQUEST, now)
        self._events.append(
            RegistrationDenied(
                partial.home_address, partial.home_agent, ReplyCode.HA_POORLY_FORMED_REQUEST, source
            )
        )
        reply = RegistrationReply(
            ReplyCode.HA_POORLY_FORMED_REQUEST,
            0,
            partial.home_address,
            self.settings.address,
            partial.identification,
        )
        # Not parsed, so not authenticated: no authenticator over it (item 7).
        self._reply(reply, None, source, port, deregistration=partial.lifetime == 0,
                    foreign_home=False)

    def _violation(
        self,
        peer: IPv4Address,
        spi: int | None,
        request: RegistrationRequest,
        reason: ViolationReason,
        now: float,
    ) -> None:
        self.violations.record(
            peer, spi=spi, identification=request.identification, reason=reason, now=now
        )
        self._events.append(AuthenticationFailed(peer, spi, reason))

    def _authenticate(
        self,
        request: RegistrationRequest,
        source: IPv4Address,
        now: float,
        learned: tuple[SecurityAssociation, ...] | None = None,
    ) -> SecurityAssociation:
        """Mobile-home authentication, foreign-home authentication, replay check
        (RFC 5944 §3.8.2.1). Returns the SA that protects the reply. ``learned``:
        the node's SAs from RADIUS (the local table has none for it)."""
        home = request.home_address
        mhaes = request.extensions_of(MHAE)
        # A denial of a request that did not authenticate carries no MHAE: the
        # home agent cannot know the node sent it, and must not compute the
        # node's authenticator over data (an Identification) the sender chose
        # (issue 13 item 7; RFC 5944 §3.5.2, §3.8.3.1, §3.6.2.1).
        mn_failed = _Denied(ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION)
        if len(mhaes) != 1:
            # Exactly one authorization-enabling extension (RFC 5944 §3.5.2).
            reason = ViolationReason.MISSING_SECURITY_EXTENSION if not mhaes else ViolationReason.OTHER
            self._violation(home, None, request, reason, now)
            raise mn_failed
        mhae = mhaes[0]
        if learned is not None:
            sa = next((candidate for candidate in learned if candidate.spi == mhae.spi), None)
        else:
            sa = self.mobile_node_sas.lookup(home, mhae.spi)
        if sa is None:
            known = bool(learned) or self.mobile_node_sas.has(home)
            reason = ViolationReason.BAD_SPI if known else ViolationReason.NO_MOBILITY_SECURITY_ASSOCIATION
            self._violation(home, mhae.spi, request, reason, now)
            raise mn_failed
        if not check_extension(request.raw, mhae, sa):
            self._violation(home, mhae.spi, request, ViolationReason.BAD_AUTHENTICATOR, now)
            raise mn_failed
        self._authenticate_foreign_agent(request, mhae, source, sa, now)
        node = self._node(home)
        if not self._identification_valid(request, sa, node, now):
            self._violation(home, mhae.spi, request, ViolationReason.BAD_IDENTIFIER, now)
            raise _Denied(
                ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH,
                sa=sa,
                identification=self._mismatch_identification(request, sa, node, now),
            )
        return sa

    def _authenticate_foreign_agent(
        self,
        request: RegistrationRequest,
        mhae: Extension,
        source: IPv4Address,
        sa: SecurityAssociation,
        now: float,
    ) -> None:
        """If we share an SA with the sender (the FA), exactly one valid FHAE must
        follow the MHAE (RFC 5944 §3.8.2.1)."""
        if not self.peer_sas.has(source):
            return
        fhaes = [ext for ext in request.extensions_of(FHAE) if ext.offset > mhae.offset]
        denied = _Denied(ReplyCode.HA_FOREIGN_AGENT_FAILED_AUTHENTICATION, sa=sa)
        if len(fhaes) != 1 or len(request.extensions_of(FHAE)) != 1:
            reason = ViolationReason.MISSING_SECURITY_EXTENSION if not fhaes else ViolationReason.OTHER
            self._violation(source, None, request, reason, now)
            raise denied
        fhae = fhaes[0]
        peer_sa = self.peer_sas.lookup(source, fhae.spi)
        if peer_sa is None:
            self._violation(source, fhae.spi, request, ViolationReason.BAD_SPI, now)
            raise denied
        if not check_extension(request.raw, fhae, peer_sa):
            self._violation(source, fhae.spi, request, ViolationReason.BAD_AUTHENTICATOR, now)
            raise denied

    def _identification_valid(
        self, request: RegistrationRequest, sa: SecurityAssociation, node: MobileNode, now: float
    ) -> bool:
        if sa.replay_method is ReplayMethod.TIMESTAMPS:
            return replay.timestamp_acceptable(
                request.identification, now, sa.replay_window, node.last_identification
            )
        # Nonces (§5.7.2): the high 32 bits must be the nonce we handed out last.
        return node.nonce is not None and replay.high32(request.identification) == node.nonce

    def _mismatch_identification(
        self, request: RegistrationRequest, sa: SecurityAssociation, node: MobileNode, now: float
    ) -> int:
        if sa.replay_method is ReplayMethod.TIMESTAMPS:
            return replay.mismatch_identification_for_timestamps(request.identification, now)
        node.nonce = self._rng.getrandbits(32)
        return replay.nonce_identification(node.nonce, request.identification)

    def _reply_identification(
        self, request: RegistrationRequest, sa: SecurityAssociation, node: MobileNode
    ) -> int:
        if sa.replay_method is ReplayMethod.TIMESTAMPS:
            return request.identification
        node.nonce = self._rng.getrandbits(32)
        return replay.nonce_identification(node.nonce, request.identification)

    def _check_request(self, request: RegistrationRequest, destination: IPv4Address | None) -> None:
        s = self.settings
        broadcast = s.home_network.broadcast_address if s.home_network else None
        if request.home_agent != s.address or (destination is not None and destination == broadcast):
            # Dynamic home agent discovery (RFC 5944 §3.8.2.1, §3.8.3.2): deny and
            # tell the node our unicast address in the Home Agent field.
            raise _Denied(ReplyCode.HA_UNKNOWN_HOME_AGENT_ADDRESS)
        flags = int(request.flags)  # plain int: IntFlag operators are slow
        if request.is_deregistration:
            return
        if (flags & _GRE and not s.gre) or (
            flags & _MINIMAL and not s.minimal_encapsulation
        ):
            raise _Denied(ReplyCode.HA_REQUESTED_ENCAPSULATION_UNAVAILABLE)
        if flags & _REVERSE and not s.reverse_tunnel:
            raise _Denied(ReplyCode.HA_REVERSE_TUNNEL_UNAVAILABLE)  # RFC 3024 §4.3
        if s.reverse_tunnel_required and not flags & _REVERSE:
            raise _Denied(ReplyCode.HA_REVERSE_TUNNEL_MANDATORY)

    def _apply(
        self, request: RegistrationRequest, source: IPv4Address, port: int, now: float
    ) -> tuple[ReplyCode, int]:
        """Create, refresh, replace or delete bindings (RFC 5944 §3.8.2.2)."""
        home, coa = request.home_address, request.care_of_address
        node = self._nodes[home]
        if request.is_deregistration:
            coas = [b.care_of_address for b in node.bindings]
            targets = coas if coa == home else [c for c in coas if c == coa]
            for target in targets:
                self._remove_binding(node, home, target, RemovalReason.DEREGISTERED, now)
            # haRegistrationAccepted / haServiceRequestsAccepted count every
            # request accepted, deregistrations included (RFC 2006).
            node.service_accepted += 1
            node.recent_accepted_time = now
            self.counters.registration_accepted += 1
            return ReplyCode.ACCEPTED, 0
        requested = request.lifetime
        lifetime = self.settings.max_lifetime if requested == INFINITE_LIFETIME else requested
        lifetime = min(lifetime, self.settings.max_lifetime)  # never lengthen (§3.8.2.2)
        code = ReplyCode.ACCEPTED
        simultaneous = bool(int(request.flags) & _SIMULTANEOUS)
        if simultaneous and self.settings.max_simultaneous_bindings <= 1:
            code = ReplyCode.ACCEPTED_NO_SIMULTANEOUS_BINDINGS
            simultaneous = False
        existing = node.binding_for(coa)
        is_new = existing is None
        if is_new and simultaneous and len(node.bindings) >= self.settings.max_simultaneous_bindings:
            raise _Denied(ReplyCode.HA_TOO_MANY_SIMULTANEOUS_BINDINGS)
        replaced = [] if simultaneous else [
            b.care_of_address for b in node.bindings if b.care_of_address != coa
        ]
        if is_new and self.binding_count - len(replaced) >= self.settings.max_bindings:
            raise _Denied(ReplyCode.HA_INSUFFICIENT_RESOURCES)
        for old in replaced:
            self._remove_binding(node, home, old, RemovalReason.REPLACED, now)
        expires = now + lifetime
        if is_new:
            node.bindings.append(
                Binding(
                    home, coa, source, port, int(request.flags), request.identification,
                    lifetime, now, expires,
                )
            )
            self.binding_count += 1
            self.state_version += 1
            self._events.append(BindingCreated(home, coa, lifetime, source))
        else:
            binding = existing
            assert binding is not None
            binding.source_address, binding.source_port = source, port
            binding.flags, binding.identification = int(request.flags), request.identification
            binding.lifetime, binding.expires_at = lifetime, expires
            self.state_version += 1
            self._events.append(BindingRefreshed(home, coa, lifetime))
        self._expiries.schedule((home, coa), expires)
        node.service_accepted += 1
        node.recent_accepted_time = now
        if code is ReplyCode.ACCEPTED:
            self.counters.registration_accepted += 1
        else:
            self.counters.multi_binding_unsupported += 1
        return code, lifetime

    def _remove_binding(
        self, node: MobileNode, home: IPv4Address, coa: IPv4Address, reason: RemovalReason, now: float
    ) -> None:
        binding = node.binding_for(coa)
        assert binding is not None
        node.bindings.remove(binding)
        self.binding_count -= 1
        self.state_version += 1
        node.overall_service_time += max(0.0, min(now, binding.expires_at) - binding.registered_at)
        self._expiries.cancel((home, coa))
        self._events.append(BindingDeleted(home, coa, reason))

    def _deny(
        self,
        request: RegistrationRequest,
        source: IPv4Address,
        port: int,
        now: float,
        denial: _Denied,
    ) -> None:
        setattr(
            self.counters,
            DENIAL_COUNTERS[denial.code],
            getattr(self.counters, DENIAL_COUNTERS[denial.code]) + 1,
        )
        self._count_denial(request.home_address, denial.code, now)
        self._events.append(
            RegistrationDenied(request.home_address, request.home_agent, denial.code, source)
        )
        identification = (
            denial.identification if denial.identification is not None else request.identification
        )
        reply = RegistrationReply(
            denial.code,
            denial.lifetime,
            request.home_address,
            self.settings.address,
            identification,
        )
        foreign_home = denial.sa is not None or self._foreign_agent_vouches(request, source)
        self._reply(reply, denial.sa, source, port, deregistration=request.is_deregistration,
                    foreign_home=foreign_home)

    def _foreign_agent_vouches(self, request: RegistrationRequest, source: IPv4Address) -> bool:
        """The request came from a foreign agent we share an SA with and
        carries its one valid FHAE (RFC 5944 §3.8.2.1): a denial the node's own
        authentication could not back may then still carry our FHAE, so the
        foreign agent relays it (§3.7.3.1) rather than answer 68."""
        fhaes = request.extensions_of(FHAE)
        if len(fhaes) != 1 or not self.peer_sas.has(source):
            return False
        peer_sa = self.peer_sas.lookup(source, fhaes[0].spi)
        return peer_sa is not None and check_extension(request.raw, fhaes[0], peer_sa)

    def _count_denial(self, home_address: IPv4Address, code: ReplyCode, now: float) -> None:
        # Per-node counters only for nodes we know: a flood of forged home
        # addresses must not grow the table (haCounterTable rows are per known MN).
        node = self._nodes.get(home_address)
        if node is None and self.mobile_node_sas.has(home_address):
            node = self._node(home_address)
        if node is not None:
            node.service_denied += 1
            node.recent_denied_time = now
            node.recent_denied_code = code

    def _reply(
        self,
        reply: RegistrationReply,
        sa: SecurityAssociation | None,
        destination: IPv4Address,
        port: int,
        *,
        deregistration: bool,
        foreign_home: bool = True,
    ) -> None:
        """Authenticate and queue a reply to the request's source (RFC 5944 §3.8.3):
        MHAE with ``sa`` (the node's, once it authenticated), then FHAE when we
        share an SA with the foreign agent that relayed the request (unless
        ``foreign_home`` is False: the request proved nothing, item 7)."""
        data = reply.encode_header()
        if sa is not None:
            data = authenticate(data, MHAE, sa)
        peer_sa = self.peer_sas.preferred(destination) if foreign_home else None
        if peer_sa is not None:
            data = authenticate(data, FHAE, peer_sa)
        # RFC 5944 §3.8.3.1: from the request's destination, our unicast
        # address even when it was sent to a broadcast address; a foreign
        # agent takes a reply only from the address it relayed to (§3.7.3.1).
        self._outbox.append(Transmit(data, destination, port, source=self.settings.address))
        self.counters.reg_replies_sent += 1
        if deregistration:
            self.counters.dereg_replies_sent += 1


__all__ = [
    "Binding",
    "HomeAgent",
    "HomeAgentCounters",
    "HomeAgentSettings",
    "MOBILE_IP_PORT",
    "MobileNode",
]
