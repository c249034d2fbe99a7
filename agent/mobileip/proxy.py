"""The proxy (access point) role, sans-IO: registers visiting clients with their
home agents through a foreign agent, on their behalf (Cisco Aironet "Proxy Mobile
IP"; the registration itself is the mobile node's part of RFC 5944 §3.6).

Input: client events (associated / address learned / disassociated), Agent
Advertisements (ICMP), Registration Replies (UDP) and timer ticks. Output:
Registration Requests, Agent Solicitations, events.

A client whose address lies in one of our own networks is at home and left alone.
Otherwise the subnet map (longest prefix match) gives its home agent and the host
SA table its mobility security association; then a Registration Request goes to
the foreign agent, is retransmitted with a doubling period (§3.6.3), renewed
before the lifetime ends, and withdrawn (lifetime 0) when the client leaves.

SAs from RADIUS (Cisco "aaa authorization ipmobile"): with an ``sa_resolver``
(``agent.radius.resolver``, sans-IO), a client that no local SA covers waits in
state ``sa-pending`` while the resolver asks the RADIUS servers; the adapter
takes the addresses to ask for from :meth:`ProxyAgent.sa_requests_to_send` and
feeds the outcomes back with :meth:`ProxyAgent.sa_answer`. The SAs learnt are
kept on the visitor (``visitor.sa``, ``sa_from_radius``), not put into the host
SA table: that table is configuration (the datastore patches it, SNMP and
NETCONF show it), while a learnt SA belongs to one visit and to the resolver's
cache. An Access-Reject (or a malformed reply) leaves the client in
``no-security-association`` with ``visitor.reason`` saying why, and it is
looked up again when the resolver's negative-cache entry lapses.
"""

from __future__ import annotations

import random
import sys
from collections import deque
from collections.abc import Callable, Mapping
from typing import ClassVar
from dataclasses import dataclass, field, fields
from ipaddress import IPv4Address, IPv4Network

from agent.mobileip import replay
from agent.mobileip.advertisement import AgentAdvertisement, decode_advertisement, encode_solicitation
from agent.mobileip.builder import build_request, check_reply
from agent.mobileip.deadlines import Deadlines
from agent.mobileip.errors import DecodeError
from agent.mobileip.events import (
    AuthenticationFailed,
    ClientDeregistered,
    ClientNotProxied,
    ClientRegistered,
    ClientRegistrationDenied,
    ClientRegistrationFailed,
    ClientRefused,
    DatagramDropped,
    ForeignAgentRebooted,
    LifecycleError,
    NotProxiedReason,
    ProxyEvent,
    ViolationReason,
)
from agent.mobileip.numbers import (
    MOBILE_IP_PORT,
    ExtensionType,
    MessageType,
    ReplyCode,
    RequestFlag,
)
from agent.mobileip.outputs import Channel, Transmit
from agent.mobileip.registration import address as shared_address
from agent.mobileip.registration import decode_reply
from agent.mobileip.security import ReplayMethod, SecurityAssociation, SecurityAssociationTable
from agent.mobileip.subnet_map import SubnetMap
from agent.mobileip.visitor_deadlines import HolderDeadlines
from agent.mobileip.visitor_lifecycle import (
    DEFAULT,
    TRANSITIONS,
    VisitorAction,
    VisitorEvent,
    VisitorState,
)
from agent.radius.resolver import (
    Failed,
    FailureReason,
    Outcome,
    Pending,
    Rejected,
    Resolved,
    SecurityAssociationResolver,
)

ALL_MOBILITY_AGENTS = IPv4Address("224.0.0.11")


@dataclass(frozen=True, slots=True)
class StaticForeignAgent:
    """A foreign agent configured instead of (or before) one learned from
    advertisements."""

    address: IPv4Address
    care_of_address: IPv4Address | None = None
    port: int = MOBILE_IP_PORT
    max_lifetime: int = 0xFFFF


@dataclass(frozen=True, slots=True)
class ProxySettings:
    #: Our own networks: a client addressed inside one of them is at home.
    local_networks: tuple[IPv4Network, ...] = ()
    #: Interfaces / SSIDs with proxy Mobile IP enabled (Cisco: per SSID); None = all.
    interfaces: frozenset[str] | None = None
    #: Lifetime we ask for; the FA's advertised limit caps it (RFC 5944 §3.6.1.2).
    lifetime: int = 600
    #: Re-register this many seconds before the granted lifetime ends (at most
    #: half the lifetime).
    reregistration_margin: float = 30.0
    #: RFC 5944 §3.6.3: first retransmission >= 1 s, each period at least double.
    retransmit_initial: float = 1.0
    retransmit_max: float = 16.0
    max_attempts: int = 5
    #: Wait before trying again after a denial or a registration that failed.
    retry_backoff: float = 60.0
    retry_backoff_max: float = 600.0
    #: Registrations in flight at once; more clients wait in a queue, in order.
    max_outstanding: int = 1024
    foreign_agent: StaticForeignAgent | None = None
    #: Port foreign agents learned from advertisements listen on.
    foreign_agent_port: int = MOBILE_IP_PORT
    #: Port of home agents, for deregistering a client that came home (§3.6.1.2).
    home_agent_port: int = MOBILE_IP_PORT
    reverse_tunnel: bool = False
    #: Send Agent Solicitations when no foreign agent is known (RFC 5944 §2.4).
    solicit: bool = True
    solicitation_max_interval: float = 60.0
    #: Stations held at once (any state). Every source of client events (hostapd,
    #: snooping, the control channel) feeds this list, and snooping alone takes
    #: any new source MAC for a station: without a cap 100,000 random MACs made
    #: 100,000 visitors (issue 13 item 6c). 4,096: twice the ~2,048 clients a
    #: Cisco access point holds, ~3.4 MB at ~830 B per visitor.
    max_visitors: int = 4096
    #: Foreign agents remembered from advertisements; a new source beyond them
    #: is dropped and counted (any host on the link can advertise).
    max_foreign_agents: int = 16


#: Reply codes about reverse tunnelling (RFC 3024 §3.3): the foreign agent does
#: not offer it (74) or requires it (75); the home agent likewise (137, 138).
_REVERSE_TUNNEL_CODES = frozenset(
    {
        ReplyCode.FA_REVERSE_TUNNEL_UNAVAILABLE,
        ReplyCode.FA_REVERSE_TUNNEL_MANDATORY,
        ReplyCode.HA_REVERSE_TUNNEL_UNAVAILABLE,
        ReplyCode.HA_REVERSE_TUNNEL_MANDATORY,
    }
)
_REVERSE_TUNNEL_REFUSED = frozenset(
    {ReplyCode.FA_REVERSE_TUNNEL_UNAVAILABLE, ReplyCode.HA_REVERSE_TUNNEL_UNAVAILABLE}
)

#: ``visitor.reason`` texts shared by every visitor in the same situation.
_REASON_QUEUED = "waiting for a slot: max-outstanding registrations are in flight"
_REASON_NO_AGENT = "no foreign agent heard; soliciting"
_REASON_ALL_BUSY = "every foreign agent heard is busy (B bit)"
_TRANSIENT_REASONS = frozenset({_REASON_QUEUED, _REASON_NO_AGENT, _REASON_ALL_BUSY})


def _code_text(code: int) -> str:
    """Reply code in words, as RFC 5944 §3.4 / RFC 3024 §3.3 name it."""
    try:
        name = ReplyCode(code).name
    except ValueError:
        return f"code {code}"
    return f"code {code}, " + name.split("_", 1)[1].lower().replace("_", " ")


@dataclass(frozen=True, slots=True)
class _ChosenAgent:
    address: IPv4Address
    care_of_address: IPv4Address
    port: int
    max_lifetime: int


#: For each event whose actions say ``EMIT_NOT_PROXIED``: the ``ProxyCounters``
#: field it counts in and the reason ClientNotProxied gives.
_NO_SA = ("not_proxied_no_security_association", NotProxiedReason.NO_SECURITY_ASSOCIATION)
_NOT_PROXIED: dict[VisitorEvent, tuple[str, NotProxiedReason]] = {
    VisitorEvent.INTERFACE_NOT_ENABLED: (
        "not_proxied_interface", NotProxiedReason.INTERFACE_NOT_ENABLED),
    VisitorEvent.FOUND_AT_HOME: ("not_proxied_at_home", NotProxiedReason.AT_HOME),
    VisitorEvent.NO_HOME_AGENT: ("not_proxied_no_home_agent", NotProxiedReason.NO_HOME_AGENT),
    VisitorEvent.NO_SECURITY_ASSOCIATION: _NO_SA,
    VisitorEvent.SA_REFUSED: _NO_SA,
    VisitorEvent.ADDRESS_CONFLICT: ("address_conflicts", NotProxiedReason.ADDRESS_CONFLICT),
}

_REGISTERABLE = frozenset(
    {
        VisitorState.WAITING_FOR_AGENT,
        VisitorState.QUEUED,
        VisitorState.PENDING,
        VisitorState.REGISTERED,
        VisitorState.DENIED,
        VisitorState.FAILED,
    }
)


@dataclass(slots=True)
class ProxyVisitor:
    mac: str
    interface: str | None
    home_address: IPv4Address | None = None
    home_agent: IPv4Address | None = None
    foreign_agent: IPv4Address | None = None
    foreign_agent_port: int = MOBILE_IP_PORT
    care_of_address: IPv4Address | None = None
    state: VisitorState = VisitorState.ASSOCIATED
    lifetime_requested: int = 0
    lifetime_granted: int = 0
    associated_at: float | None = None
    registered_at: float | None = None
    expires_at: float | None = None
    last_code: int | None = None
    attempts: int = 0
    spi: int | None = None
    #: The SA this client was registered with: kept so that its deregistration
    #: can still be authenticated after the SA is removed from configuration.
    sa: SecurityAssociation | None = field(default=None, repr=False)
    identification: int = 0
    #: Identifications of the current exchange (at most 8; a tuple so that the
    #: common empty case costs nothing per visitor).
    sent_identifications: tuple[int, ...] = ()
    retransmit_period: float = 0.0
    backoff: float = 0.0
    deregistration: bool = False
    resyncs: int = 0
    #: ``sa`` came from RADIUS (kept for this visit; see the module docstring).
    sa_from_radius: bool = False
    #: Why the client waits or is not proxied, when RADIUS is the cause
    #: (e.g. "RADIUS: Access-Reject"); None otherwise.
    reason: str | None = None
    #: The last RADIUS refusal, kept while it is asked again: a client refused
    #: again for the same reason is not counted or reported again.
    sa_refusal: str | None = None
    #: When the visitor's one timer fires (``HolderDeadlines``), or None.
    deadline: float | None = field(default=None, repr=False)


@dataclass
class ProxyCounters:
    """In the spirit of MIP-MIB's mnRegistration group (RFC 2006), per AP."""

    associations: int = 0
    disassociations: int = 0
    requests_sent: int = 0  # mnRegRequestsSent (retransmissions included)
    retransmissions: int = 0
    replies_received: int = 0  # mnRegRepliesRecieved
    accepted: int = 0  # mnRegRequestsAccepted
    denied_by_home_agent: int = 0  # mnRegRequestsDeniedByHA
    denied_by_foreign_agent: int = 0  # mnRegRequestsDeniedByFA
    denied_due_to_identification: int = 0  # mnRegRequestsDeniedByHADueToID
    reregistrations: int = 0
    deregistrations: int = 0  # mnDeRegRequestsSent
    registration_failures: int = 0  # no reply after every retransmission
    unmatched_replies: int = 0
    bad_replies: int = 0  # malformed or failing authentication
    not_proxied_at_home: int = 0
    not_proxied_no_home_agent: int = 0
    not_proxied_no_security_association: int = 0
    not_proxied_interface: int = 0
    advertisements_received: int = 0  # mnAdvertisementsReceived
    solicitations_sent: int = 0  # mnSolicitationsSent
    agent_reboots_detected: int = 0  # mnAgentRebootsDectected
    queued: int = 0
    #: New stations refused: max-visitors reached.
    visitors_refused: int = 0
    #: A station claimed an address another station holds: refused, the holder
    #: kept (never deregistered on the strength of a frame).
    address_conflicts: int = 0
    #: Agent Advertisements dropped: IP TTL not 1 (RFC 5944 §2.1), or from a
    #: source beyond max-foreign-agents.
    advertisements_dropped: int = 0
    #: Visitor state changes the life-cycle table does not have (engine bugs).
    lifecycle_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class ProxyReplyCounters:
    """What became of Registration Replies beyond the MIP-MIB-like counters
    above (YANG ``proxy-state/reply-statistics``)."""

    #: Replies to a request of an exchange already settled (the FA's 78 for each
    #: retransmission still pending there, the HA answering a retransmission
    #: after the first answer): ours, so not "unmatched", but acted on no more.
    late_replies: int = 0
    #: Registrations retried at once without the T bit (the foreign or home agent
    #: does not offer reverse tunnelling: 74, 137) or with it (mandatory there:
    #: 75, 138); RFC 3024 §3.3 codes, §4.2 the foreign agent's side.
    reverse_tunnel_retries: int = 0
    #: Denials by reply code, every code as received (the ones retried at once,
    #: 69 and 133, included); ``ProxyCounters`` has the totals of RFC 5944 §3.4's
    #: ranges: 64-127 foreign agent, 128-255 home agent.
    denials: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class HeardForeignAgent:
    address: IPv4Address
    advertisement: AgentAdvertisement
    heard_at: float
    expires_at: float


#: Seconds during which a foreign agent's reboot (RFC 5944 §2.4.2) is acted on
#: once: advertisements are not authenticated, and a host on the link that
#: alternates sequence numbers 255 and 0 from an agent's address would make us
#: re-register every client through it for each pair (issue 13 item 6d).
REBOOT_HOLD_DOWN = 10.0

#: A ``ProxyAgent`` method performing one life-cycle action: (agent, visitor,
#: event, now, retry_at).
_Performer = Callable[["ProxyAgent", ProxyVisitor, VisitorEvent, float, "float | None"], None]

#: Timers other than the visitors' (those are ``HolderDeadlines``): (kind, value).
TimerKey = tuple[str, object]
_SOLICIT: TimerKey = ("solicit", None)


class ProxyAgent:
    def __init__(
        self,
        settings: ProxySettings,
        *,
        subnet_map: SubnetMap,
        host_associations: SecurityAssociationTable,
        rng: random.Random | None = None,
        sa_resolver: SecurityAssociationResolver | None = None,
    ) -> None:
        self.settings = settings
        self.subnet_map = subnet_map
        self.host_associations = host_associations
        self.sa_resolver = sa_resolver
        #: Home address -> MACs of the visitors in SA_PENDING for it.
        self._sa_waiting: dict[IPv4Address, set[str]] = {}
        self.counters = ProxyCounters()
        self.reply_counters = ProxyReplyCounters()
        self._rng = rng or random.SystemRandom()
        self._visitors: dict[str, ProxyVisitor] = {}
        self._by_home: dict[IPv4Address, ProxyVisitor] = {}
        self._foreign_agents: dict[IPv4Address, HeardForeignAgent] = {}
        self._queue: deque[str] = deque()
        self._outstanding = 0
        #: Foreign agent expiry and solicitation deadlines.
        self._timers: Deadlines[TimerKey] = Deadlines()
        #: The one deadline of each visitor, held on the visitor.
        self._visitor_timers: HolderDeadlines[ProxyVisitor] = HolderDeadlines(self._visitors)
        #: Visitors whose station took another address while the old one was
        #: being deregistered (SET_ASIDE): by home address, with their own
        #: deadlines (the MAC keys the station's new visitor), until it ends.
        self._set_aside: dict[str, ProxyVisitor] = {}
        self._set_aside_timers: HolderDeadlines[ProxyVisitor] = HolderDeadlines(self._set_aside)
        self._outbox: list[Transmit] = []
        self._events: deque[ProxyEvent] = deque()
        #: NTP clock offset learnt from 133 replies, per home agent (§5.7.1).
        self._clock_offset: dict[IPv4Address, float] = {}
        #: Last nonce handed out by each home agent, per node (§5.7.2).
        self._nonces: dict[IPv4Address, int] = {}
        #: Last Identification sent for home addresses whose visitor is gone, so
        #: that a station coming back at once still sends increasing ones
        #: (RFC 5944 §5.7.1); a live visitor keeps its own in ``identification``.
        self._recent_identification: dict[IPv4Address, int] = {}
        self._solicitations = 0
        #: Address -> the station that claimed it while another held it
        #: (refused, issue 13 item 6a); tried again once the holder lets go.
        self._claims: dict[IPv4Address, str] = {}
        #: Registration Lifetime limits foreign agents told in a 69 (RFC 5944
        #: §3.7.2.3), by address: later requests through them ask for at most
        #: that. Without it a full queue livelocked: each 69 let the next queued
        #: visitor start afresh at the configured lifetime while the retry
        #: waited in the queue (tests/unit/test_visitor_lifecycle.py).
        self._lifetime_limits: dict[IPv4Address, int] = {}
        #: When each heard foreign agent's last reboot was acted on.
        self._reboots: dict[IPv4Address, float] = {}
        #: What agents said about reverse tunnelling (RFC 3024 §3.3): False after
        #: a 74/137 (not offered), True after a 75/138 (mandatory); by address.
        self._reverse_tunnel_learnt: dict[IPv4Address, bool] = {}

    # -- adapter interface ----------------------------------------------------------

    def datagrams_to_send(self) -> list[Transmit]:
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> ProxyEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        deadline = self._timers.next()
        for visitor_deadline in (self._visitor_timers.next(), self._set_aside_timers.next()):
            if visitor_deadline is not None and (deadline is None or visitor_deadline < deadline):
                deadline = visitor_deadline
        if self.sa_resolver is not None:
            retry = self.sa_resolver.get_timer()
            if retry is not None and (deadline is None or retry < deadline):
                return retry
        return deadline

    def sa_requests_to_send(self) -> list[IPv4Address]:
        """Home addresses to send an Access-Request for now (the resolver keeps
        at most its ``max_outstanding`` in flight). Call after every input,
        :meth:`sa_answer` included: an answer frees a slot for a queued one."""
        resolver = self.sa_resolver
        if resolver is None:
            return []
        out: list[IPv4Address] = []
        while (address := resolver.next_request()) is not None:
            out.append(address)
        return out

    def sa_answer(self, address: IPv4Address, outcome: Outcome, now: float) -> bool:
        """The outcome of the RADIUS exchange for ``address`` (from the adapter)."""
        if self.sa_resolver is None:
            return False
        accepted = self.sa_resolver.answer(address, outcome, now)
        self._resolver_events(now)
        return accepted

    def handle_timer(self, now: float) -> None:
        resolver = self.sa_resolver
        if resolver is not None:
            retry = resolver.get_timer()
            if retry is not None and retry <= now:
                resolver.handle_timer(now)
                self._resolver_events(now)
        for visitor in self._visitor_timers.pop_due(now):
            self._visitor_timer(visitor, now)
        for visitor in self._set_aside_timers.pop_due(now):
            self._visitor_timer(visitor, now)
        for kind, key in self._timers.pop_due(now):
            if kind == "fa-expiry":
                self._foreign_agent_expired(key, now)  # type: ignore[arg-type]
            elif kind == "solicit":
                self._solicit(now)
            elif kind == "claim":
                self._retry_claim(key, now)  # type: ignore[arg-type]

    # -- client events -------------------------------------------------------------

    def client_associated(
        self, mac: str, now: float, *, address: IPv4Address | None = None, interface: str | None = None
    ) -> None:
        mac = mac.lower()
        if interface is not None:
            # One string per interface name, not one per visitor (RSS per visitor).
            interface = sys.intern(interface)
        self.counters.associations += 1
        visitor = self._visitors.get(mac)
        if visitor is not None and address is not None and visitor.home_address not in (None, address):
            self._withdraw(visitor, now, new_address=True)  # same station, new address: start over
            visitor = None
        if visitor is not None and visitor.state is VisitorState.DEREGISTERING:
            self._fire(visitor, VisitorEvent.CAME_BACK, now)  # before the deregistration finished
            visitor = None
        if visitor is None:
            if not self._room_for(mac):
                return
            visitor = self._visitors[mac] = ProxyVisitor(mac, interface, associated_at=now)
        else:
            moved_in = (
                visitor.state is VisitorState.NOT_ENABLED
                and visitor.interface != interface
                and self._enabled(interface)
                and address in (None, visitor.home_address)
            )
            visitor.interface = interface
            if moved_in:
                # From an interface without proxy Mobile IP to one with it
                # (same station, same address): proxied now, not at the next
                # configuration change.
                self._evaluate(visitor, now)
                return
        if address is not None:
            self.client_address_learned(mac, address, now)

    def _enabled(self, interface: str | None) -> bool:
        """Proxy Mobile IP is enabled on ``interface`` (Cisco: per SSID)."""
        interfaces = self.settings.interfaces
        return interfaces is None or interface in interfaces

    def client_address_learned(self, mac: str, address: IPv4Address, now: float) -> None:
        """The client's IP, from its first ARP or IP packet (or the event source)."""
        mac = mac.lower()
        visitor = self._visitors.get(mac)
        if visitor is None:
            if not self._room_for(mac):
                return
            visitor = self._visitors[mac] = ProxyVisitor(mac, None)
        if visitor.home_address == address:
            return
        if visitor.home_address is not None:
            self._withdraw(visitor, now, new_address=True)
            visitor = self._visitors[mac] = ProxyVisitor(mac, visitor.interface)
        # The very object the reply decoder returns for this address: one
        # IPv4Address per visitor instead of two (docs/performance.md, RSS).
        visitor.home_address = shared_address(address.packed)
        self._evaluate(visitor, now)

    def _room_for(self, mac: str) -> bool:
        """A new station fits under max-visitors; otherwise it is refused and
        counted (issue 13 item 6c) and nothing is kept for it."""
        if len(self._visitors) < self.settings.max_visitors:
            return True
        self.counters.visitors_refused += 1
        self._events.append(ClientRefused(mac, "max-visitors reached"))
        return False

    def client_disassociated(self, mac: str, now: float) -> None:
        mac = mac.lower()
        visitor = self._visitors.get(mac)
        if visitor is None:
            return
        self.counters.disassociations += 1
        self._withdraw(visitor, now)

    # -- configuration changes -------------------------------------------------------

    def reevaluate(self, now: float) -> None:
        """Re-examine every client after the subnet map, the SAs or the settings
        changed: newly covered clients register, clients that lost their home
        agent or SA are deregistered. What agents said about reverse tunnelling
        is forgotten (the settings may have changed it)."""
        self._reverse_tunnel_learnt.clear()
        self._lifetime_limits.clear()
        for visitor in list(self._visitors.values()):
            if visitor.home_address is None or visitor.deregistration:
                # A client that left: its deregistration (with the SA it was
                # registered with) runs its course, it is not registered again.
                continue
            if visitor.state in _REGISTERABLE or visitor.state is VisitorState.DEREGISTERING:
                entry = self.subnet_map.lookup(visitor.home_address)
                sa = self.host_associations.preferred(visitor.home_address)
                if sa is None and visitor.sa_from_radius:
                    sa = visitor.sa  # learnt from RADIUS: kept for the visit
                if (
                    entry is not None
                    and sa is not None
                    and entry.home_agent == visitor.home_agent
                    and sa == visitor.sa
                ):
                    continue
                self._withdraw(visitor, now, keep=True)
            self._evaluate(visitor, now)

    # -- network input ---------------------------------------------------------------

    def receive_icmp(
        self, data: bytes, source: IPv4Address, now: float, *, ttl: int | None = None
    ) -> None:
        """Agent Advertisements from foreign agents (RFC 5944 §2.1). ``ttl``:
        the IP TTL it arrived with (the adapter reads it from the IP header);
        §2.1: "The TTL for all Agent Advertisements MUST be set to 1", so one
        that arrives with another TTL was not sent by an agent on this link as
        the RFC has agents send, and is dropped."""
        if not data or data[0] != 9:
            return
        if ttl is not None and ttl != 1:
            self.counters.advertisements_dropped += 1
            self._events.append(DatagramDropped(source, f"advertisement with TTL {ttl} (RFC 5944 §2.1: 1)"))
            return
        try:
            advertisement = decode_advertisement(data)
        except DecodeError as exc:
            self._events.append(DatagramDropped(source, f"advertisement: {exc}"))
            return
        if not advertisement.is_foreign_agent:
            return
        previous = self._foreign_agents.get(source)
        if previous is None and len(self._foreign_agents) >= self.settings.max_foreign_agents:
            # Bounded: a flood of advertisements from new sources is not kept.
            self.counters.advertisements_dropped += 1
            self._events.append(DatagramDropped(source, "advertisement: max-foreign-agents heard"))
            return
        self.counters.advertisements_received += 1
        lifetime = advertisement.advertisement_lifetime
        heard = HeardForeignAgent(source, advertisement, now, now + lifetime)
        self._foreign_agents[source] = heard
        self._timers.schedule(("fa-expiry", source), now + lifetime)
        self._timers.cancel(_SOLICIT)
        self._solicitations = 0
        if previous is not None and previous.advertisement.flags != advertisement.flags:
            # Its offer changed (RFC 3024 §3.1 T among others): what it said about
            # reverse tunnelling in a 74/75 may no longer hold.
            self._reverse_tunnel_learnt.pop(source, None)
        if (
            previous is not None
            and previous.advertisement.registration_lifetime != advertisement.registration_lifetime
        ):
            self._lifetime_limits.pop(source, None)  # its limit changed: a 69 told the old one
        if (
            previous is not None
            and advertisement.sequence < 256
            and advertisement.sequence < previous.advertisement.sequence
        ):
            # RFC 5944 §2.4.2: a sequence number that falls into 0-255 means the
            # agent rebooted and lost its visitor list: register everyone again
            # (at most once per REBOOT_HOLD_DOWN: the signal is unauthenticated).
            last = self._reboots.get(source)
            if last is not None and now - last < REBOOT_HOLD_DOWN:
                self.counters.advertisements_dropped += 1
                self._events.append(DatagramDropped(source, "reboot again within the hold-down"))
            else:
                self._reboots[source] = now
                self.counters.agent_reboots_detected += 1
                self._events.append(ForeignAgentRebooted(source, advertisement.sequence))
                for visitor in list(self._visitors.values()):
                    if visitor.foreign_agent == source and visitor.state in _REGISTERABLE:
                        self._start_registration(visitor, now, fresh=True)
        if previous is None or previous.advertisement.busy:
            for visitor in list(self._visitors.values()):
                if visitor.state is VisitorState.WAITING_FOR_AGENT:
                    self._start_registration(visitor, now, fresh=True)

    def receive_datagram(self, data: bytes, source: IPv4Address, port: int, now: float) -> None:
        if not data or data[0] != MessageType.REGISTRATION_REPLY:
            self._events.append(DatagramDropped(source, "not a registration reply"))
            return
        self.counters.replies_received += 1
        try:
            reply = decode_reply(data)
        except DecodeError as exc:
            self.counters.bad_replies += 1
            self._events.append(DatagramDropped(source, str(exc)))
            return
        visitor = self._by_home.get(reply.home_address)
        low = replay.low32(reply.identification)
        if visitor is None or not any(replay.low32(i) == low for i in self._matchable(visitor)):
            # RFC 5944 §3.6.2.1: the low 32 bits must match a request we sent.
            self.counters.unmatched_replies += 1
            self._events.append(DatagramDropped(source, f"unmatched reply for {reply.home_address}"))
            return
        if visitor.state is not VisitorState.PENDING and visitor.state is not VisitorState.DEREGISTERING:
            # Ours, but the exchange is settled: the FA's 78 for each retransmission
            # still pending there once the first one was answered (a silent home
            # agent), or a second answer to a retransmission.
            self.reply_counters.late_replies += 1
            self._events.append(DatagramDropped(source, f"late reply for {reply.home_address}"))
            return
        sa = self._sa_for(visitor)
        matched = next(i for i in visitor.sent_identifications if replay.low32(i) == low)
        check = check_reply(reply, sent_identification=matched, sa=sa)
        if not check.ok:
            self.counters.bad_replies += 1
            self._events.append(
                AuthenticationFailed(source, sa.spi if sa else None, ViolationReason.BAD_AUTHENTICATOR,
                                     visitor.mac, reply.home_address)
            )
            return
        if sa is not None and sa.replay_method is ReplayMethod.NONCES and reply.extensions_of(
            ExtensionType.MOBILE_HOME_AUTHENTICATION
        ):
            # RFC 5944 §5.7.2: every home agent reply carries the nonce for the next request.
            self._nonces[reply.home_address] = replay.high32(reply.identification)
        code = reply.code
        if visitor.state is VisitorState.DEREGISTERING:
            mismatch = code == ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH
            if not reply.accepted:
                self._count_denial(code)
            if mismatch and visitor.resyncs < 2:
                self.counters.denied_due_to_identification += 1
                if self._resynchronise(visitor, reply.identification, matched, sa, now):
                    # Within the home agent's tolerance, so not newer than a
                    # request it accepted: someone (the access point the
                    # client roamed to) registered the node after us, which
                    # replaced the binding we would withdraw (§3.8.2.2). A
                    # greater Identification would delete theirs: done.
                    self._finish_deregistration(visitor, now)
                    return
                # Our clock is off: resynchronised, sent again (§5.7.1).
                visitor.resyncs += 1
                self._fire(visitor, VisitorEvent.RESYNCHRONISED, now)
                return
            self._finish_deregistration(visitor, now)
            return
        visitor.last_code = code
        if reply.accepted:
            self._accepted(visitor, reply.lifetime, now)
            return
        self._count_denial(code)
        # A retry asked at once (69, 133, reverse tunnelling) keeps the
        # visitor's slot among max-outstanding: were the slot given to the next
        # queued visitor and the retry queued behind it, two visitors could
        # trade requests and denials for ever (tests/unit/test_visitor_lifecycle.py).
        if (
            code == ReplyCode.FA_REQUESTED_LIFETIME_TOO_LONG
            and 0 < reply.lifetime < visitor.lifetime_requested
        ):
            # RFC 5944 §3.7.2.3 / §3.6.2.2: retry within the FA's limit (only if
            # that lowers the Lifetime: otherwise a retry would loop, §3.6.1).
            if visitor.foreign_agent is not None and len(self._lifetime_limits) < 1024:
                self._lifetime_limits[visitor.foreign_agent] = reply.lifetime
            visitor.lifetime_requested = reply.lifetime
            self._start_registration(visitor, now, fresh=False, lifetime=reply.lifetime)
        elif code == ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH and visitor.resyncs < 2:
            # RFC 5944 §3.6.2.2, §5.7: resynchronise and ask again at once with
            # a greater Identification (tests/unit/test_proxy_roaming.py).
            self.counters.denied_due_to_identification += 1
            self._resynchronise(visitor, reply.identification, matched, sa, now)
            visitor.resyncs += 1
            self._start_registration(visitor, now, fresh=False)
        elif code in _REVERSE_TUNNEL_CODES and self._learn_reverse_tunnel(visitor, code):
            # RFC 3024 §3.3 / §4.2: the agent does not offer reverse tunnelling
            # (74, 137) or insists on it (75, 138). Ask again at once the other
            # way rather than back off for ever against an agent that will say
            # the same thing every time; the visitor's reason tells the operator.
            self.reply_counters.reverse_tunnel_retries += 1
            self._start_registration(visitor, now, fresh=False)
        else:
            self._denied(visitor, code, now)

    # -- state -------------------------------------------------------------------------

    def visitors(self) -> list[ProxyVisitor]:
        return sorted(self._visitors.values(), key=lambda v: v.mac)

    def visitor(self, mac: str) -> ProxyVisitor | None:
        return self._visitors.get(mac.lower())

    def visitor_by_home_address(self, address: IPv4Address) -> ProxyVisitor | None:
        return self._by_home.get(address)

    def foreign_agents(self) -> list[HeardForeignAgent]:
        return sorted(self._foreign_agents.values(), key=lambda f: int(f.address))

    @property
    def registered_count(self) -> int:
        return sum(1 for v in self._visitors.values() if v.state is VisitorState.REGISTERED)

    def clear_visitor(self, mac: str, now: float) -> bool:
        visitor = self._visitors.get(mac.lower())
        if visitor is None:
            return False
        self._withdraw(visitor, now)
        return True

    def clear_counters(self) -> None:
        self.counters = ProxyCounters()
        self.reply_counters = ProxyReplyCounters()

    def _count_denial(self, code: int) -> None:
        """One denial with ``code``: in the per-code table and in the total of the
        agent RFC 5944 §3.4 says issues it (64-127 foreign agent, 128-255 home
        agent; 2-63 are unassigned and go to neither total)."""
        denials = self.reply_counters.denials
        denials[code] = denials.get(code, 0) + 1
        if 64 <= code <= 127:
            self.counters.denied_by_foreign_agent += 1
        elif code >= 128:
            self.counters.denied_by_home_agent += 1

    # -- internals -----------------------------------------------------------------------

    @staticmethod
    def _matchable(visitor: ProxyVisitor) -> tuple[int, ...]:
        """Identifications a reply for ``visitor`` may answer: those of the current
        (or just settled) exchange; after a one-request exchange, that request's."""
        if visitor.sent_identifications:
            return visitor.sent_identifications
        return (visitor.identification,) if visitor.identification else ()

    def _sa_for(self, visitor: ProxyVisitor) -> SecurityAssociation | None:
        assert visitor.home_address is not None
        if visitor.sa is not None:
            return visitor.sa
        if visitor.spi is not None:
            sa = self.host_associations.lookup(visitor.home_address, visitor.spi)
            if sa is not None:
                return sa
        return self.host_associations.preferred(visitor.home_address)

    def _fire(
        self, visitor: ProxyVisitor, event: VisitorEvent, now: float, *,
        retry_at: float | None = None,
    ) -> None:
        """The one place a visitor's state changes and its side effects are
        performed: by the life-cycle table (agent/mobileip/visitor_lifecycle.py),
        ``(state, event) -> (actions, next state)``. The state moves first,
        then the actions run in the table's order. ``retry_at``: when
        ``ARM_SA_RETRY`` asks RADIUS again (None: never). An event the table
        does not have in this state is the engine's own protocol error:
        counted and reported, and the event's default transition still made
        so that no visitor is stuck."""
        transition = TRANSITIONS.get((visitor.state, event))
        if transition is None:
            self.counters.lifecycle_errors += 1
            self._events.append(LifecycleError(visitor.mac, visitor.state.value, event.value))
            transition = DEFAULT[event]
        if transition.next_state is not None:
            visitor.state = transition.next_state
        performers = self._PERFORMERS
        for action in transition.actions:
            performers[action](self, visitor, event, now, retry_at)

    # -- the actions, one method each (``_PERFORMERS`` maps them); all take
    # (visitor, event, now, retry_at) ----------------------------------------------

    def _send_registration(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                           retry_at: float | None) -> None:
        self._new_exchange(visitor)
        self._send_request(visitor, now, lifetime=visitor.lifetime_requested)

    def _send_deregistration(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                             retry_at: float | None) -> None:
        self._new_exchange(visitor)
        visitor.resyncs = 0
        self.counters.deregistrations += 1
        self._send_request(visitor, now, lifetime=0)

    def _new_exchange(self, visitor: ProxyVisitor) -> None:
        """A new exchange: its own Identifications, attempts and periods."""
        visitor.sent_identifications = ()
        visitor.attempts = 0
        visitor.retransmit_period = self.settings.retransmit_initial

    def _retransmit_registration(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                                 retry_at: float | None) -> None:
        self._retransmit(visitor, now, lifetime=visitor.lifetime_requested)

    def _retransmit_deregistration(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                                   retry_at: float | None) -> None:
        self._retransmit(visitor, now, lifetime=0)

    def _retransmit(self, visitor: ProxyVisitor, now: float, *, lifetime: int) -> None:
        # RFC 5944 §3.6.3: each retransmission period at least double the
        # last, a fresh Identification for timestamps.
        visitor.retransmit_period = min(visitor.retransmit_period * 2, self.settings.retransmit_max)
        self.counters.retransmissions += 1
        self._send_request(visitor, now, lifetime=lifetime)

    def _resend_deregistration(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                               retry_at: float | None) -> None:
        visitor.attempts = 0
        visitor.retransmit_period = self.settings.retransmit_initial
        self._send_request(visitor, now, lifetime=0)

    def _arm_retransmit(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                        retry_at: float | None) -> None:
        self._arm(visitor, now + visitor.retransmit_period)

    def _arm_renewal(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                     retry_at: float | None) -> None:
        lifetime = visitor.lifetime_granted
        margin = min(self.settings.reregistration_margin, lifetime / 2)
        self._arm(visitor, now + lifetime - margin)

    def _arm_backoff(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                     retry_at: float | None) -> None:
        self._arm(visitor, now + visitor.backoff)

    def _arm_sa_retry(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                      retry_at: float | None) -> None:
        if retry_at is not None:
            self._arm(visitor, retry_at)
        else:
            self._deadlines_of(visitor).cancel(visitor)

    def _arm(self, visitor: ProxyVisitor, when: float) -> None:
        if not visitor.deregistration:  # the common case: never set aside
            self._visitor_timers.schedule(visitor.mac, visitor, when)
            return
        deadlines = self._deadlines_of(visitor)
        key = visitor.mac if deadlines is self._visitor_timers else str(visitor.home_address)
        deadlines.schedule(key, visitor, when)

    def _cancel_timer(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                      retry_at: float | None) -> None:
        self._deadlines_of(visitor).cancel(visitor)

    def _take_slot(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                   retry_at: float | None) -> None:
        self._outstanding += 1

    def _release_slot_action(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                             retry_at: float | None) -> None:
        self._release_slot(now)

    def _enqueue(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                 retry_at: float | None) -> None:
        self._queue.append(visitor.mac)
        self.counters.queued += 1

    def _dequeue(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                 retry_at: float | None) -> None:
        try:
            self._queue.remove(visitor.mac)
        except ValueError:
            pass

    def _await_sa(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                  retry_at: float | None) -> None:
        assert visitor.home_address is not None
        self._sa_waiting.setdefault(visitor.home_address, set()).add(visitor.mac)

    def _stop_awaiting_sa(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                          retry_at: float | None) -> None:
        self._stop_waiting_for_sa(visitor)

    def _start_soliciting(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                          retry_at: float | None) -> None:
        if self.settings.solicit and _SOLICIT not in self._timers:
            self._solicit(now)

    def _claim_address(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                       retry_at: float | None) -> None:
        assert visitor.home_address is not None
        self._claims[visitor.home_address] = visitor.mac  # the latest claimant only: bounded

    def _release_address(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                         retry_at: float | None) -> None:
        address = visitor.home_address
        if address is not None and self._by_home.get(address) is visitor:
            del self._by_home[address]
            self._address_released(address)

    def _set_visitor_aside(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                           retry_at: float | None) -> None:
        self._put_aside(visitor)

    def _forget_visitor(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                        retry_at: float | None) -> None:
        self._forget(visitor)

    def _emit_not_proxied(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                          retry_at: float | None) -> None:
        assert visitor.home_address is not None
        counter, reason = _NOT_PROXIED[event]
        setattr(self.counters, counter, getattr(self.counters, counter) + 1)
        self._events.append(ClientNotProxied(visitor.mac, visitor.home_address, reason))

    def _emit_registered(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                         retry_at: float | None) -> None:
        assert visitor.home_address is not None and visitor.home_agent is not None
        assert visitor.care_of_address is not None
        self.counters.accepted += 1
        self._events.append(ClientRegistered(
            visitor.mac, visitor.home_address, visitor.home_agent, visitor.care_of_address,
            visitor.lifetime_granted,
        ))

    def _emit_denied(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                     retry_at: float | None) -> None:
        assert visitor.home_address is not None and visitor.last_code is not None
        lost = self._binding_lost(visitor)
        self._events.append(
            ClientRegistrationDenied(visitor.mac, visitor.home_address, visitor.last_code, lost))

    def _emit_failed(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                     retry_at: float | None) -> None:
        assert visitor.home_address is not None
        lost = self._binding_lost(visitor)
        self.counters.registration_failures += 1
        self._events.append(
            ClientRegistrationFailed(visitor.mac, visitor.home_address, "no reply", lost))

    @staticmethod
    def _binding_lost(visitor: ProxyVisitor) -> bool:
        """A renewal of a held registration denied or unanswered loses the
        binding: whether it held one; it holds none now."""
        lost = visitor.expires_at is not None
        visitor.expires_at = None
        return lost

    def _emit_deregistered(self, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                           retry_at: float | None) -> None:
        assert visitor.home_address is not None
        self._events.append(ClientDeregistered(visitor.mac, visitor.home_address))

    #: The method performing each action (tests/unit/test_visitor_lifecycle.py
    #: checks that every action has one).
    _PERFORMERS: ClassVar[Mapping[VisitorAction, _Performer]] = {
        VisitorAction.TAKE_SLOT: _take_slot,
        VisitorAction.RELEASE_SLOT: _release_slot_action,
        VisitorAction.ENQUEUE: _enqueue,
        VisitorAction.DEQUEUE: _dequeue,
        VisitorAction.AWAIT_SA: _await_sa,
        VisitorAction.STOP_AWAITING_SA: _stop_awaiting_sa,
        VisitorAction.SOLICIT: _start_soliciting,
        VisitorAction.SEND_REGISTRATION: _send_registration,
        VisitorAction.RETRANSMIT_REGISTRATION: _retransmit_registration,
        VisitorAction.SEND_DEREGISTRATION: _send_deregistration,
        VisitorAction.RETRANSMIT_DEREGISTRATION: _retransmit_deregistration,
        VisitorAction.RESEND_DEREGISTRATION: _resend_deregistration,
        VisitorAction.ARM_RETRANSMIT: _arm_retransmit,
        VisitorAction.ARM_RENEWAL: _arm_renewal,
        VisitorAction.ARM_BACKOFF: _arm_backoff,
        VisitorAction.ARM_SA_RETRY: _arm_sa_retry,
        VisitorAction.CANCEL_TIMER: _cancel_timer,
        VisitorAction.CLAIM_ADDRESS: _claim_address,
        VisitorAction.RELEASE_ADDRESS: _release_address,
        VisitorAction.EMIT_NOT_PROXIED: _emit_not_proxied,
        VisitorAction.EMIT_REGISTERED: _emit_registered,
        VisitorAction.EMIT_DENIED: _emit_denied,
        VisitorAction.EMIT_FAILED: _emit_failed,
        VisitorAction.EMIT_DEREGISTERED: _emit_deregistered,
        VisitorAction.SET_ASIDE: _set_visitor_aside,
        VisitorAction.FORGET: _forget_visitor,
    }

    def _not_proxied(
        self, visitor: ProxyVisitor, event: VisitorEvent, now: float, text: str | None = None
    ) -> None:
        visitor.reason = text
        self._fire(visitor, event, now)

    def _evaluate(
        self,
        visitor: ProxyVisitor,
        now: float,
        *,
        radius_sas: tuple[SecurityAssociation, ...] | None = None,
    ) -> None:
        """Decide what to do with a client whose address is known. ``radius_sas``:
        the SAs a RADIUS lookup for it just returned."""
        address = visitor.home_address
        assert address is not None
        s = self.settings
        if not self._enabled(visitor.interface):
            self._not_proxied(
                visitor, VisitorEvent.INTERFACE_NOT_ENABLED, now,
                f"proxy Mobile IP is not enabled on {visitor.interface or 'this interface'}",
            )
            return
        if any(address in network for network in s.local_networks):
            self._not_proxied(visitor, VisitorEvent.FOUND_AT_HOME, now)
            self._deregister_at_home(visitor, now)
            return
        entry = self.subnet_map.lookup(address)
        if entry is None:
            self._not_proxied(
                visitor, VisitorEvent.NO_HOME_AGENT, now, f"no subnet-map entry holds {address}")
            return
        sa = self.host_associations.preferred(address)
        from_radius = False
        if sa is None and self.sa_resolver is not None:
            if radius_sas is None:
                result = self.sa_resolver.lookup(address, now)
                if isinstance(result, Pending):
                    self._wait_for_sa(visitor, now)
                    return
                if isinstance(result, Rejected):
                    self._sa_refused(visitor, result.detail, result.until, now)
                    return
                radius_sas = result.sas
            if not radius_sas:
                self._sa_refused(visitor, "no SA in the Access-Accept", None, now)
                return
            # The lowest SPI, as SecurityAssociationTable.preferred() picks (spi#0).
            sa = min(radius_sas, key=lambda candidate: candidate.spi)
            from_radius = True
        if sa is None:
            visitor.sa = None
            visitor.sa_from_radius = False
            # RFC 5944 §3.5.2: without an SA there is no MHAE to send.
            self._not_proxied(
                visitor, VisitorEvent.NO_SECURITY_ASSOCIATION, now,
                f"no host security association covers {address}",
            )
            return
        other = self._by_home.get(address)
        if other is not None and other is not visitor:
            if other.state is not VisitorState.DEREGISTERING or not other.deregistration:
                # Another station holds the address. A frame (or an
                # association) from a new MAC proves nothing: the holder is
                # kept, the claim refused and counted (issue 13 item 6a), and
                # tried again when the holder lets the address go.
                self._refuse_claim(visitor, address, other, now)
                return
            # The holder left and is being deregistered: the address is free
            # (forgotten, its last Identification remembered for the address).
            self._withdraw(other, now)
        visitor.home_agent = entry.home_agent
        visitor.spi = sa.spi
        visitor.sa = sa
        visitor.sa_from_radius = from_radius
        visitor.reason = visitor.sa_refusal = None
        self._by_home[address] = visitor
        self._start_registration(visitor, now, fresh=True)

    def _refuse_claim(
        self, visitor: ProxyVisitor, address: IPv4Address, holder: ProxyVisitor, now: float
    ) -> None:
        visitor.reason = f"address conflict: {address} is held by {holder.mac}"
        self._fire(visitor, VisitorEvent.ADDRESS_CONFLICT, now)
        visitor.home_address = None  # not its address while the holder has it

    def _address_released(self, address: IPv4Address) -> None:
        """The holder of ``address`` let it go: a station that claimed it is
        tried again at once (a timer due now: callers have no clock)."""
        if address in self._claims:
            self._timers.schedule(("claim", address), 0.0)

    def _retry_claim(self, address: IPv4Address, now: float) -> None:
        mac = self._claims.pop(address, None)
        visitor = self._visitors.get(mac) if mac is not None else None
        if visitor is not None and visitor.home_address is None and address not in self._by_home:
            self.client_address_learned(visitor.mac, address, now)

    # -- SAs from RADIUS -------------------------------------------------------------

    def _wait_for_sa(self, visitor: ProxyVisitor, now: float) -> None:
        visitor.reason = "waiting for the RADIUS server"
        self._fire(visitor, VisitorEvent.SA_LOOKUP, now)

    def _stop_waiting_for_sa(self, visitor: ProxyVisitor) -> None:
        address = visitor.home_address
        assert address is not None
        waiting = self._sa_waiting.get(address)
        if waiting is None:
            return
        waiting.discard(visitor.mac)
        if not waiting:
            del self._sa_waiting[address]
            if self.sa_resolver is not None:
                self.sa_resolver.cancel(address)  # nobody else needs it

    def _sa_refused(
        self, visitor: ProxyVisitor, detail: str, retry_at: float | None, now: float
    ) -> None:
        """RADIUS refused (or sent garbage): not proxied, and asked again once the
        negative-cache entry lapses (``retry_at``)."""
        reason = f"RADIUS: {detail}"
        visitor.sa = None
        visitor.sa_from_radius = False
        # Refused again for the same reason: not news (not counted, not reported).
        again = visitor.sa_refusal == reason
        visitor.reason = visitor.sa_refusal = reason
        event = VisitorEvent.SA_REFUSED_AGAIN if again else VisitorEvent.SA_REFUSED
        self._fire(visitor, event, now, retry_at=retry_at)

    def _waiting_visitors(self, address: IPv4Address) -> list[ProxyVisitor]:
        found = []
        for mac in sorted(self._sa_waiting.get(address, ())):
            visitor = self._visitors.get(mac)
            if (
                visitor is not None
                and visitor.state is VisitorState.SA_PENDING
                and visitor.home_address == address
            ):
                found.append(visitor)
        return found

    def _resolver_events(self, now: float) -> None:
        resolver = self.sa_resolver
        assert resolver is not None
        while (event := resolver.next_event()) is not None:
            waiting = self._waiting_visitors(event.address)
            if isinstance(event, Resolved):
                self._sa_waiting.pop(event.address, None)
                for visitor in waiting:
                    self._evaluate(visitor, now, radius_sas=event.sas)
            elif isinstance(event, Failed) and event.reason is FailureReason.NO_SERVER:
                # The resolver retries by itself; the clients keep waiting.
                if not waiting:
                    self._sa_waiting.pop(event.address, None)
                    resolver.cancel(event.address)
                    continue
                self._sa_waiting[event.address] = {v.mac for v in waiting}
                for visitor in waiting:
                    visitor.reason = "no RADIUS server answered; asked again with backoff"
            else:
                self._sa_waiting.pop(event.address, None)
                for visitor in waiting:
                    self._sa_refused(visitor, event.detail, event.retry_at, now)

    def _deregister_at_home(self, visitor: ProxyVisitor, now: float) -> None:
        """A node back on its home network deregisters directly with its home agent,
        Lifetime 0 and care-of address = home address (RFC 5944 §3.6.1.2)."""
        address = visitor.home_address
        assert address is not None
        entry = self.subnet_map.lookup(address)
        sa = self.host_associations.preferred(address)
        if sa is None and self.sa_resolver is not None:
            # Only what the cache already holds: no lookup for a client at home.
            learnt = self.sa_resolver.peek(address, now)
            sa = min(learnt, key=lambda candidate: candidate.spi) if learnt else None
        if entry is None or sa is None:
            return
        visitor.home_agent, visitor.spi, visitor.sa = entry.home_agent, sa.spi, sa
        visitor.foreign_agent, visitor.foreign_agent_port = entry.home_agent, self.settings.home_agent_port
        visitor.care_of_address = address
        self._by_home[address] = visitor
        self._fire(visitor, VisitorEvent.DEREGISTER_FROM_HOME, now)

    def _choose_foreign_agent(self, visitor: ProxyVisitor) -> _ChosenAgent | None:
        """The foreign agent to register ``visitor`` through, from its advertised
        bits (RFC 5944 §2.1.1):

        - B (busy): it takes no *additional* mobile nodes, so it is skipped for a
          new registration but still renews the ones it serves;
        - T (reverse tunnelling, RFC 3024 §3.1): when we ask for a reverse tunnel,
          an agent offering one (and not found to refuse it, 74) comes first;
        - then the agent the client is registered with (no needless hand-over on
          every renewal), then the one heard most recently;
        - R (registration required): always honoured, because the proxy never
          registers a visitor any other way than through a foreign agent and its
          care-of address (a co-located care-of address is not possible for a
          client the AP speaks for).
        Only foreign agents (F) with a care-of address are ever heard here."""
        static = self.settings.foreign_agent
        if static is not None:
            return _ChosenAgent(
                static.address, static.care_of_address or static.address, static.port, static.max_lifetime
            )
        want_tunnel = self.settings.reverse_tunnel
        learnt = self._reverse_tunnel_learnt
        current = visitor.foreign_agent
        serving = visitor.expires_at is not None  # holds a binding through ``current``
        best: HeardForeignAgent | None = None
        best_rank: tuple[bool, bool, float] | None = None
        for heard in self._foreign_agents.values():
            adv = heard.advertisement
            if not adv.care_of_addresses:
                continue
            if adv.busy and not (serving and heard.address == current):
                continue
            rank = (
                want_tunnel and adv.reverse_tunnelling and learnt.get(heard.address) is not False,
                heard.address == current,
                heard.heard_at,
            )
            if best_rank is None or rank > best_rank:
                best, best_rank = heard, rank
        if best is None:
            return None
        adv = best.advertisement
        return _ChosenAgent(
            best.address, adv.care_of_addresses[0], self.settings.foreign_agent_port, adv.registration_lifetime
        )

    def _wants_reverse_tunnel(self, visitor: ProxyVisitor) -> bool:
        """Whether a Registration Request for ``visitor`` sets T (RFC 3024 §3.2):
        as configured, unless its foreign agent does not advertise T (§3.1) or
        it or the home agent refused it (74 / 137); or when one of them said it is
        mandatory (75 / 138) and neither refuses it."""
        learnt = self._reverse_tunnel_learnt
        fa, ha = visitor.foreign_agent, visitor.home_agent
        fa_learnt = learnt.get(fa) if fa is not None else None
        ha_learnt = learnt.get(ha) if ha is not None else None
        if fa_learnt is False or ha_learnt is False:
            return False
        if fa_learnt or ha_learnt:
            return True
        if not self.settings.reverse_tunnel:
            return False
        heard = self._foreign_agents.get(fa) if fa is not None else None
        return heard is None or heard.advertisement.reverse_tunnelling

    def _reverse_tunnel_note(self, visitor: ProxyVisitor) -> str | None:
        """Why a client registered without the reverse tunnel configured."""
        if not self.settings.reverse_tunnel or self._wants_reverse_tunnel(visitor):
            return None
        learnt = self._reverse_tunnel_learnt
        if visitor.home_agent is not None and learnt.get(visitor.home_agent) is False:
            why = f"home agent {visitor.home_agent} does not offer it (137)"
        elif visitor.foreign_agent is not None and learnt.get(visitor.foreign_agent) is False:
            why = f"foreign agent {visitor.foreign_agent} does not offer it (74)"
        else:
            why = f"foreign agent {visitor.foreign_agent} does not advertise T"
        return f"registered without reverse tunnelling: {why} (RFC 3024)"

    def _learn_reverse_tunnel(self, visitor: ProxyVisitor, code: int) -> bool:
        """A 74/75/137/138 denial: remember what that agent said and tell whether
        asking again the other way can succeed (it cannot when the request already
        was that way, or when one agent refuses what the other requires)."""
        sent = self._wants_reverse_tunnel(visitor)
        refused = code in _REVERSE_TUNNEL_REFUSED
        if refused != sent:
            return False  # we did not ask for what it refuses / did ask for what it requires
        by_foreign_agent = code < 128
        agent = visitor.foreign_agent if by_foreign_agent else visitor.home_agent
        if agent is None:
            return False
        self._reverse_tunnel_learnt[agent] = not refused
        if self._wants_reverse_tunnel(visitor) == sent:
            return False
        role = "foreign" if by_foreign_agent else "home"
        visitor.reason = (
            f"{role} agent {agent} {'does not offer' if refused else 'requires'} reverse tunnelling"
            f" ({code}): asked again {'without' if refused else 'with'} T"
        )
        return True

    def _start_registration(
        self, visitor: ProxyVisitor, now: float, *, fresh: bool, lifetime: int | None = None
    ) -> None:
        agent = self._choose_foreign_agent(visitor)
        if agent is None:
            visitor.reason = _REASON_ALL_BUSY if self._foreign_agents else _REASON_NO_AGENT
            self._fire(visitor, VisitorEvent.NO_FOREIGN_AGENT, now)
            return
        full = self._outstanding >= self.settings.max_outstanding
        if visitor.state is not VisitorState.PENDING and full:
            visitor.reason = _REASON_QUEUED
            self._fire(visitor, VisitorEvent.NO_SLOT, now)
            return
        fa_address, care_of, port, max_lifetime = (
            agent.address, agent.care_of_address, agent.port,
            min(agent.max_lifetime, self._lifetime_limits.get(agent.address, agent.max_lifetime)),
        )
        if visitor.reason in _TRANSIENT_REASONS:
            visitor.reason = None
        if fresh:
            visitor.resyncs = 0
            if visitor.registered_at is not None:
                # Registered before (now renewing, or after a reboot or a queue).
                self.counters.reregistrations += 1
        visitor.foreign_agent, visitor.care_of_address, visitor.foreign_agent_port = fa_address, care_of, port
        requested = lifetime if lifetime is not None else self.settings.lifetime
        visitor.lifetime_requested = min(requested, max_lifetime)
        self._fire(visitor, VisitorEvent.REQUEST_SENT, now)

    def _identification(self, visitor: ProxyVisitor, sa: SecurityAssociation, now: float) -> int:
        address = visitor.home_address
        assert address is not None and visitor.home_agent is not None
        if sa.replay_method is ReplayMethod.NONCES:
            nonce = self._nonces.get(address, 0)
            return (nonce << 32) | self._rng.getrandbits(32)
        offset = self._clock_offset.get(visitor.home_agent, 0.0)
        ident = replay.ntp_identification(now + offset, self._rng.getrandbits(16))
        last = max(visitor.identification, self._recent_identification.get(address, 0))
        if ident <= last:
            ident = last + 1  # RFC 5944 §5.7.1: must increase
        return ident

    def _send_request(self, visitor: ProxyVisitor, now: float, *, lifetime: int) -> None:
        sa = self._sa_for(visitor)
        assert sa is not None and visitor.home_address is not None
        assert visitor.home_agent is not None and visitor.care_of_address is not None
        assert visitor.foreign_agent is not None
        ident = self._identification(visitor, sa, now)
        visitor.identification = ident
        visitor.sent_identifications = (*visitor.sent_identifications[-7:], ident)
        reverse = lifetime and self._wants_reverse_tunnel(visitor)
        flags = RequestFlag.REVERSE_TUNNELING if reverse else RequestFlag(0)
        data = build_request(
            home_address=visitor.home_address,
            home_agent=visitor.home_agent,
            care_of_address=visitor.care_of_address,
            identification=ident,
            lifetime=lifetime,
            sa=sa,
            flags=flags,
        )
        visitor.attempts += 1
        self.counters.requests_sent += 1
        self._outbox.append(Transmit(data, visitor.foreign_agent, visitor.foreign_agent_port))

    def _visitor_timer(self, visitor: ProxyVisitor, now: float) -> None:
        state = visitor.state
        if state is VisitorState.PENDING or state is VisitorState.DEREGISTERING:
            limit = self.settings.max_attempts if state is VisitorState.PENDING else 2
            if visitor.attempts < limit:
                self._fire(visitor, VisitorEvent.RETRANSMISSION_DUE, now)
            elif state is VisitorState.DEREGISTERING:
                self._finish_deregistration(visitor, now)  # given up
            else:
                self._failed(visitor, now)
        elif state in (VisitorState.REGISTERED, VisitorState.DENIED, VisitorState.FAILED):
            self._start_registration(visitor, now, fresh=True)
        elif state is VisitorState.NO_SECURITY_ASSOCIATION:
            # Refused by RADIUS; the negative-cache entry lapsed: ask again.
            self._evaluate(visitor, now)

    def _accepted(self, visitor: ProxyVisitor, lifetime: int, now: float) -> None:
        if len(visitor.sent_identifications) == 1:
            # The exchange is over. One request: ``identification`` still tells
            # a late duplicate of its reply; several: kept for their late replies.
            visitor.sent_identifications = ()
        visitor.reason = self._reverse_tunnel_note(visitor)
        visitor.lifetime_granted = lifetime
        visitor.registered_at = now
        visitor.expires_at = now + lifetime
        visitor.backoff = 0.0
        self._fire(visitor, VisitorEvent.ACCEPTED, now)

    def _next_backoff(self, visitor: ProxyVisitor) -> float:
        s = self.settings
        visitor.backoff = min(s.retry_backoff_max, visitor.backoff * 2 if visitor.backoff else s.retry_backoff)
        return visitor.backoff

    def _denied(self, visitor: ProxyVisitor, code: int, now: float) -> None:
        # RFC 5944 §3.4: 64-127 come from the foreign agent, 128-255 from the home agent.
        if 64 <= code <= 127:
            by = f"foreign agent {visitor.foreign_agent}"
        elif code >= 128:
            by = f"home agent {visitor.home_agent}"
        else:
            by = "an unassigned reply code"
        visitor.reason = f"denied by {by}: {_code_text(code)}"
        self._next_backoff(visitor)
        self._fire(visitor, VisitorEvent.DENIED, now)

    def _failed(self, visitor: ProxyVisitor, now: float) -> None:
        """No reply after every retransmission (RFC 5944 §3.6.3)."""
        self._next_backoff(visitor)
        visitor.reason = (
            f"no reply: {visitor.attempts} requests through foreign agent {visitor.foreign_agent}"
            f" unanswered; tried again after {visitor.backoff:g} s"
        )
        self._fire(visitor, VisitorEvent.NO_REPLY, now)

    def _resynchronise(
        self,
        visitor: ProxyVisitor,
        identification: int,
        sent: int,
        sa: SecurityAssociation | None,
        now: float,
    ) -> bool:
        """A 133 for the request whose Identification was ``sent``; the reply's
        ``identification`` carries the home agent's clock or nonce in its
        high-order 32 bits (RFC 5944 §3.6.2.2, §5.7). Returns True when the
        request was refused for its order, not for our clock (see below).

        §5.7.2 nonces: the next request takes the home agent's nonce.

        §5.7.1 timestamps: the home agent accepts a timestamp within its
        tolerance (the SA's replay window) of its own clock and greater than
        any it accepted for the node. The high-order 32 bits are the home
        agent's time in whole seconds: its clock is in [t, t + 1).

        - Our timestamp was within the tolerance of that time: our clock is
          fine, the request was not newer than one the home agent accepted,
          from us or from the access point the client left (two access
          points stamp for one node from two clocks, and the old one's
          deregistration may be stamped later and arrive first). The clock
          is never stepped back (only forward, to t, a lower bound of the
          home agent's), and the node's next Identification must exceed our
          clock + 1 s: at least t + 1 (the home agent's clock now), and above
          another access point's clock up to 1 s ahead of ours. One retry, at
          once; a second one (still refused) reaches 1 s further.
        - Otherwise our clock is beyond the tolerance: take the home agent's
          (t + 0.5, the middle of its second) as ours for that home agent;
          the node's last Identification, on the old clock, is no longer a
          floor (it may be far ahead)."""
        assert visitor.home_address is not None and visitor.home_agent is not None
        if sa is not None and sa.replay_method is ReplayMethod.NONCES:
            self._nonces[visitor.home_address] = replay.high32(identification)
            return False
        # Whole seconds of the HA's clock, in the era nearest ours (RFC 5905 §6).
        ha_time = replay.ntp_seconds(replay.high32(identification) << 32, near=now)
        sent_time = replay.ntp_seconds(sent, near=now)
        window = sa.replay_window if sa is not None else 7.0
        offset = self._clock_offset.get(visitor.home_agent, 0.0)
        if abs(sent_time - (ha_time + 0.5)) <= max(window - 0.5, 0.5):
            offset = self._clock_offset[visitor.home_agent] = max(offset, ha_time - now)
            # Anchored to the clocks (the HA's and ours now), not to ``sent``:
            # a stamp raised by an earlier retry would raise the next one,
            # and roams less than a second apart would push both access
            # points' stamps up a second each, out of the tolerance.
            step = 1.0 + visitor.resyncs  # a second retry reaches 1 s further
            floor = replay.ntp_identification(now + offset + step)  # offset >= t - now
            if floor > visitor.identification:
                visitor.identification = floor
            return True
        self._clock_offset[visitor.home_agent] = ha_time + 0.5 - now
        visitor.identification = 0
        self._recent_identification.pop(visitor.home_address, None)
        return False

    def _release_slot(self, now: float) -> None:
        """A registration left the PENDING state: let the next queued one go."""
        self._outstanding -= 1
        while self._queue and self._outstanding < self.settings.max_outstanding:
            mac = self._queue.popleft()
            waiting = self._visitors.get(mac)
            if waiting is not None and waiting.state is VisitorState.QUEUED:
                self._start_registration(waiting, now, fresh=True)

    def _withdraw(
        self, visitor: ProxyVisitor, now: float, *, keep: bool = False, new_address: bool = False
    ) -> None:
        """The client left (or, with ``keep``, lost its SA or home agent; with
        ``new_address``, took another address): deregister what we registered
        (Lifetime 0, RFC 5944 §3.6.1.2). A leaving client is forgotten once the
        deregistration is answered or retried once."""
        # Given up by choice: no binding is held that a later denial could lose.
        visitor.expires_at = None
        if keep:
            self._fire(visitor, VisitorEvent.WITHDRAWN, now)
        else:
            visitor.deregistration = True
            event = VisitorEvent.ADDRESS_CHANGED if new_address else VisitorEvent.LEFT
            self._fire(visitor, event, now)

    def _finish_deregistration(self, visitor: ProxyVisitor, now: float) -> None:
        """Its deregistration was answered or given up: a client that left is
        forgotten, one at home stays there (§3.6.1.2)."""
        left = visitor.deregistration
        event = VisitorEvent.DEPARTURE_DEREGISTERED if left else VisitorEvent.DEREGISTERED
        self._fire(visitor, event, now)

    def _forget(self, visitor: ProxyVisitor) -> None:
        self._deadlines_of(visitor).cancel(visitor)
        if self._visitors.get(visitor.mac) is visitor:
            del self._visitors[visitor.mac]
        elif visitor.deregistration and visitor.home_address is not None:
            key = str(visitor.home_address)
            if self._set_aside.get(key) is visitor:
                del self._set_aside[key]
        self._remember_identification(visitor)

    def _deadlines_of(self, visitor: ProxyVisitor) -> HolderDeadlines[ProxyVisitor]:
        """The deadlines ``visitor``'s one timer is kept in (set aside or not)."""
        if (
            visitor.deregistration
            and visitor.home_address is not None
            and self._set_aside.get(str(visitor.home_address)) is visitor
        ):
            return self._set_aside_timers
        return self._visitor_timers

    def _put_aside(self, visitor: ProxyVisitor) -> None:
        """SET_ASIDE: its station took another address (the MAC is the new
        visitor's); its deregistration goes on under its home address."""
        assert visitor.home_address is not None and visitor.deregistration
        when = visitor.deadline
        self._visitor_timers.cancel(visitor)
        if self._visitors.get(visitor.mac) is visitor:
            del self._visitors[visitor.mac]
        key = str(visitor.home_address)
        previous = self._set_aside.get(key)
        if previous is not None and previous is not visitor:
            self._forget(previous)  # bounded: one per address
        self._set_aside[key] = visitor
        if when is not None:
            self._set_aside_timers.schedule(key, visitor, when)

    def _remember_identification(self, visitor: ProxyVisitor) -> None:
        """Keep the last Identification for ``visitor``'s home address beyond the
        visitor: the next one for the address must be larger (RFC 5944 §5.7.1)."""
        if visitor.home_address is not None and visitor.identification:
            recent = self._recent_identification
            if len(recent) >= 1 << 16:
                recent.clear()  # bounded; older ones are seconds in the past anyway
            recent[visitor.home_address] = visitor.identification
        if visitor.home_address is not None and self._by_home.get(visitor.home_address) is visitor:
            del self._by_home[visitor.home_address]
            self._address_released(visitor.home_address)

    def _foreign_agent_expired(self, address: IPv4Address, now: float) -> None:
        self._foreign_agents.pop(address, None)
        self._lifetime_limits.pop(address, None)
        self._reboots.pop(address, None)
        for visitor in list(self._visitors.values()):
            if visitor.foreign_agent == address and visitor.state in _REGISTERABLE:
                self._start_registration(visitor, now, fresh=True)

    def _solicit(self, now: float) -> None:
        """RFC 5944 §2.4: up to three solicitations at most once a second, then
        binary exponential backoff up to the maximum interval."""
        if self._foreign_agents or self.settings.foreign_agent is not None:
            return
        self._outbox.append(Transmit(encode_solicitation(), ALL_MOBILITY_AGENTS, 0, Channel.DISCOVERY))
        self.counters.solicitations_sent += 1
        self._solicitations += 1
        if self._solicitations < 3:
            delay = 1.0
        else:
            delay = min(self.settings.solicitation_max_interval, 2.0 ** (self._solicitations - 2))
        self._timers.schedule(_SOLICIT, now + delay)

    # -- the state stream's view (agent/plane/rows.py): unsorted, no copy of the records

    def visitor_macs(self) -> list[str]:
        """Every visitor's MAC, in no order (``visitors()`` sorts)."""
        return list(self._visitors)

    @property
    def visitor_count(self) -> int:
        return len(self._visitors)
