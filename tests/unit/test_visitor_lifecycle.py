"""The proxy visitor's life cycle table (agent/mobileip/visitor_lifecycle.py,
issue 15 item 4), ``(state, event) -> (actions, next state)``, tested against
the engine.

- Exhaustively: every (state, event) pair is either in the table (its
  transition made, no error) or the engine's protocol error (counted,
  reported, the event's default transition made).
- Random sequences of what can happen to an access point (stations
  associating with home, foreign, unmapped and conflicting addresses on
  enabled and other interfaces, learning new addresses, leaving; time
  passing through retransmissions, renewals, backoffs; the foreign or home
  agent going silent; RADIUS accepting, refusing or not answering, or absent;
  the subnet map changing; 69s, 133s, foreign agent reboots) are run through
  a proxy, a real foreign agent and a real home agent on a fake link, seeded
  and by Hypothesis. Every transition made must be in the table, every entry
  of the table must be made (the table is exactly the engine's life cycle,
  not a wish list), and a spy on ``_fire`` and the actions' methods checks that each
  transition performed exactly the actions the table names, each with its
  own effect seen from outside (datagram, Lifetime, timer, event, slot,
  queue, counters) and nothing else, and that no request is built and no
  visitor timer armed or cancelled outside an action."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.mobileip.advertisement import ALL_SYSTEMS
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.outputs import Channel
from agent.mobileip.proxy import ALL_MOBILITY_AGENTS, ProxyAgent, ProxySettings, ProxyVisitor
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable
from agent.mobileip.subnet_map import SubnetMap
from agent.mobileip.events import (
    ClientDeregistered,
    ClientNotProxied,
    ClientRegistered,
    ClientRegistrationDenied,
    ClientRegistrationFailed,
    LifecycleError,
)
from agent.mobileip.outputs import Transmit
from agent.mobileip.registration import decode_request
from agent.mobileip.visitor_deadlines import HolderDeadlines
from agent.mobileip.visitor_lifecycle import DEFAULT, TRANSITIONS, VisitorAction, VisitorEvent, VisitorState
from agent.radius.resolver import Accept, Malformed, Reject, SecurityAssociationResolver, Timeout

NOW = 1_800_000_000.0
HOME_AGENT = IPv4Address("10.1.1.1")
HOME_NETWORK = IPv4Network("10.1.0.0/16")
LOCAL_SA_NETWORK = IPv4Network("10.1.0.0/17")  # the rest of the home network: RADIUS
FOREIGN_AGENT = IPv4Address("192.0.2.1")
FOREIGN_NETWORK = IPv4Network("192.0.2.0/24")
#: Part of the home network that is local to the access point (its home link).
HOME_LINK = IPv4Network("10.1.100.0/24")
ACCESS_POINT = IPv4Address("192.0.2.50")
SA = SecurityAssociation(spi=0x1001, key=bytes(range(16)))
FOREIGN_HOME = SecurityAssociation(spi=2000, key=bytes(range(16, 32)))

MACS = [f"02:00:00:00:00:{index:02x}" for index in range(1, 6)]
ADDRESSES = [
    IPv4Address("10.1.2.3"), IPv4Address("10.1.2.4"), IPv4Address("10.1.2.5"),  # local SA
    IPv4Address("10.1.200.1"), IPv4Address("10.1.200.2"),  # SA from RADIUS
    IPv4Address("192.0.2.77"),  # at home on the access point's network
    IPv4Address("10.1.100.9"),  # at home here, and its home agent holds a binding: deregistered
    IPv4Address("10.9.0.1"),  # no subnet-map entry
]
INTERFACES = ["wlan0", "wlan0", "wlan0", "guest"]  # guest: proxy Mobile IP not enabled


class Scene:
    """A proxy (static settings below), a foreign agent answering
    solicitations, a home agent holding at most three bindings, a RADIUS
    resolver answered by the test, and the link between them."""

    def __init__(self, *, radius: bool = True) -> None:
        local = SecurityAssociationTable()
        local.add_range(LOCAL_SA_NETWORK.network_address, LOCAL_SA_NETWORK.broadcast_address, SA)
        everyone = SecurityAssociationTable()
        everyone.add_range(HOME_NETWORK.network_address, HOME_NETWORK.broadcast_address, SA)
        peers = SecurityAssociationTable()
        peers.add(FOREIGN_AGENT, FOREIGN_HOME)
        home_agents = SecurityAssociationTable()
        home_agents.add(HOME_AGENT, FOREIGN_HOME)
        self.proxy = ProxyAgent(
            ProxySettings(local_networks=(FOREIGN_NETWORK, HOME_LINK), interfaces=frozenset({"wlan0"}),
                          lifetime=60, reregistration_margin=10, max_attempts=3,
                          retry_backoff=5.0, retry_backoff_max=20.0, max_outstanding=2),
            subnet_map=SubnetMap({HOME_NETWORK: HOME_AGENT}), host_associations=local,
            rng=random.Random(7), sa_resolver=SecurityAssociationResolver() if radius else None)
        self.foreign_agent = ForeignAgent(
            ForeignAgentSettings(FOREIGN_AGENT, max_lifetime=600, advertisement_interval=0.0,
                                 advertisement_lifetime=30),
            home_agents=home_agents, rng=random.Random(2), now=NOW)
        self.home_agent = HomeAgent(HomeAgentSettings(HOME_AGENT, max_bindings=3),
                                    mobile_nodes=everyone, peers=peers, rng=random.Random(1))
        self.silent: set[IPv4Address] = set()
        #: The home agent's clock runs this far ahead (RFC 5944 §5.7.1: 133).
        self.home_agent_clock = 0.0
        self.now = NOW

    def settle(self) -> None:
        engines = {ACCESS_POINT: self.proxy, FOREIGN_AGENT: self.foreign_agent,
                   HOME_AGENT: self.home_agent}
        for _ in range(200):
            moved = [(source, transmit) for source, engine in engines.items()
                     for transmit in engine.datagrams_to_send()]
            if not moved:
                return
            for source, transmit in moved:
                destination = transmit.destination
                if destination in self.silent:
                    continue
                if transmit.channel is Channel.DISCOVERY:
                    if destination == ALL_MOBILITY_AGENTS:
                        self.foreign_agent.receive_icmp(transmit.data, source, self.now, ttl=1)
                    elif destination in (ALL_SYSTEMS, ACCESS_POINT):
                        self.proxy.receive_icmp(transmit.data, source, self.now, ttl=1)
                elif destination == FOREIGN_AGENT:
                    self.foreign_agent.receive_datagram(transmit.data, source, 434, self.now)
                elif destination == HOME_AGENT:
                    self.home_agent.receive_datagram(transmit.data, source, 434,
                                                     self.now + self.home_agent_clock)
                else:
                    engines[destination].receive_datagram(transmit.data, source, 434, self.now)
        raise AssertionError("the link never went quiet")

    def advance(self, seconds: float) -> None:
        until = self.now + seconds
        while True:
            engines = (self.proxy, self.foreign_agent, self.home_agent)
            shift = (0.0, 0.0, self.home_agent_clock)
            due = [(t - shift[i], i) for i, e in enumerate(engines) if (t := e.get_timer()) is not None]
            due = [d for d in due if d[0] <= until]
            if not due:
                break
            when, index = min(due)
            self.now = max(self.now, when)
            engines[index].handle_timer(self.now + shift[index])
            self.settle()
        self.now = until

    def answer_radius(self, rng: random.Random) -> None:
        for address in self.proxy.sa_requests_to_send():
            outcome = rng.choice([Accept((SA,)), Accept((SA,)), Reject(), Malformed("x"), Timeout()])
            self.proxy.sa_answer(address, outcome, self.now)
        self.settle()

    def act(self, rng: random.Random) -> None:
        choice = rng.randrange(15)
        proxy, mac = self.proxy, rng.choice(MACS)
        if choice <= 2:
            address = rng.choice([*ADDRESSES, None])
            proxy.client_associated(mac, self.now, address=address, interface=rng.choice(INTERFACES))
        elif choice == 3:
            proxy.client_address_learned(mac, rng.choice(ADDRESSES), self.now)
        elif choice == 4:
            proxy.client_disassociated(mac, self.now)
        elif choice <= 7:
            self.settle()
            self.answer_radius(rng)
            self.advance(rng.choice([0.5, 1.0, 3.0, 8.0, 25.0, 55.0]))
        elif choice == 8:
            self.silent ^= {rng.choice([HOME_AGENT, FOREIGN_AGENT, ALL_MOBILITY_AGENTS, ALL_SYSTEMS])}
        elif choice == 9:
            # The subnet map loses or regains the home network (re-evaluation).
            if proxy.subnet_map.lookup(ADDRESSES[0]) is None:
                proxy.subnet_map.add(HOME_NETWORK, HOME_AGENT)
            else:
                proxy.subnet_map.remove(HOME_NETWORK)
            proxy.reevaluate(self.now)
        elif choice == 10:
            self.home_agent_clock = 30.0 - self.home_agent_clock  # 133, then resynchronised
        elif choice == 12:
            # The foreign agent reboots: visitors lost, sequence from 0, and it
            # advertises at once and every 10 s (RFC 5944 §2.3.2, §2.4.2).
            settings = replace(self.foreign_agent.settings, advertisement_interval=10.0)
            self.foreign_agent = ForeignAgent(settings, home_agents=self.foreign_agent.home_agent_sas,
                                              rng=random.Random(3), now=self.now)
        elif choice == 11:
            # The foreign agent's limit drops below what the proxy asks: 69, asked again.
            limit = 30 if self.foreign_agent.settings.max_lifetime == 600 else 600
            self.foreign_agent.settings = replace(self.foreign_agent.settings, max_lifetime=limit)
        else:
            self.answer_radius(rng)
        self.settle()
        while proxy.next_event() is not None:
            pass


Performer = Callable[[ProxyAgent, ProxyVisitor, VisitorEvent, float, "float | None"], None]

#: The events each EMIT_* action sends out.
EMITTED = {
    VisitorAction.EMIT_NOT_PROXIED: ClientNotProxied,
    VisitorAction.EMIT_REGISTERED: ClientRegistered,
    VisitorAction.EMIT_DENIED: ClientRegistrationDenied,
    VisitorAction.EMIT_FAILED: ClientRegistrationFailed,
    VisitorAction.EMIT_DEREGISTERED: ClientDeregistered,
}
SENDS = {
    VisitorAction.SEND_REGISTRATION, VisitorAction.RETRANSMIT_REGISTRATION,
    VisitorAction.SEND_DEREGISTRATION, VisitorAction.RETRANSMIT_DEREGISTRATION,
    VisitorAction.RESEND_DEREGISTRATION,
}


@dataclass(frozen=True)
class Snapshot:
    """What the engine has done, as seen from outside one action."""

    outbox: tuple[Transmit, ...]
    events: tuple[object, ...]
    deadline: float | None
    present: bool
    queue: tuple[str, ...]
    outstanding: int
    counters: dict[str, int]

    @classmethod
    def of(cls, proxy: ProxyAgent, visitor: ProxyVisitor) -> Snapshot:
        return cls(tuple(proxy._outbox), tuple(proxy._events), visitor.deadline,
                   proxy._visitors.get(visitor.mac) is visitor, tuple(proxy._queue),
                   proxy._outstanding, proxy.counters.as_dict())


class Recorder:
    """Spies on ``ProxyAgent._fire`` and each action's method (``_PERFORMERS``;
    the real ones run):
    each transition must perform exactly the actions the table names, in
    order, and leave the state it names; each action's effect, seen from
    outside, must be that action's (a datagram to the right place with the
    right Lifetime, the timer at the right time, one event of the right
    kind, the visitor gone...) and nothing else. Visitor timers armed,
    requests built and lifecycle events sent outside an action are caught
    too: the table is the only place side effects are decided."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: set[tuple[VisitorState, VisitorEvent]] = set()
        self.performed: Counter[VisitorAction] = Counter()
        self._stack: list[list[VisitorAction]] = []
        fire, send = ProxyAgent._fire, ProxyAgent._send_request
        recorder = self

        def recording_fire(self: ProxyAgent, visitor: ProxyVisitor, event: VisitorEvent, now: float,
                           *, retry_at: float | None = None) -> None:
            before = visitor.state
            transition = TRANSITIONS.get((before, event))
            assert transition is not None, (visitor.mac, before, event)
            recorder.made.add((before, event))
            recorder._stack.append([])
            fire(self, visitor, event, now, retry_at=retry_at)
            performed = recorder._stack.pop()
            assert tuple(performed) == transition.actions, (before, event, performed)
            if transition.next_state is None:
                assert self._visitors.get(visitor.mac) is not visitor
            else:
                assert visitor.state is transition.next_state

        def recording(action: VisitorAction, perform: Performer) -> Performer:
            def recording_perform(self: ProxyAgent, visitor: ProxyVisitor, event: VisitorEvent,
                                  now: float, retry_at: float | None) -> None:
                before = Snapshot.of(self, visitor)
                takes = recorder.performed[VisitorAction.TAKE_SLOT]
                perform(self, visitor, event, now, retry_at)
                after = Snapshot.of(self, visitor)
                nested_takes = recorder.performed[VisitorAction.TAKE_SLOT] - takes
                recorder._check(self, visitor, action, now, retry_at, before, after, nested_takes)
                recorder._stack[-1].append(action)
                recorder.performed[action] += 1
            return recording_perform

        def guarded_send(self: ProxyAgent, visitor: ProxyVisitor, now: float, *, lifetime: int) -> None:
            assert recorder._stack, "a request sent outside the life-cycle table"
            send(self, visitor, now, lifetime=lifetime)

        monkeypatch.setattr(ProxyAgent, "_fire", recording_fire)
        for action, perform in list(ProxyAgent._PERFORMERS.items()):
            monkeypatch.setitem(ProxyAgent._PERFORMERS, action, recording(action, perform))  # type: ignore[arg-type]
        monkeypatch.setattr(ProxyAgent, "_send_request", guarded_send)
        schedule, cancel = HolderDeadlines.schedule, HolderDeadlines.cancel

        def guarded_schedule(self: HolderDeadlines[ProxyVisitor], key: str, holder: ProxyVisitor,
                             when: float) -> None:
            assert recorder._stack, "a visitor timer armed outside the life-cycle table"
            schedule(self, key, holder, when)

        def guarded_cancel(self: HolderDeadlines[ProxyVisitor], holder: ProxyVisitor) -> None:
            assert recorder._stack, "a visitor timer cancelled outside the life-cycle table"
            cancel(self, holder)

        monkeypatch.setattr(HolderDeadlines, "schedule", guarded_schedule)
        monkeypatch.setattr(HolderDeadlines, "cancel", guarded_cancel)

    @staticmethod
    def _check(proxy: ProxyAgent, visitor: ProxyVisitor, action: VisitorAction, now: float,
               retry_at: float | None, before: Snapshot, after: Snapshot, nested_takes: int) -> None:
        A = VisitorAction
        sent = after.outbox[len(before.outbox):]
        emitted = after.events[len(before.events):]
        if action is A.RELEASE_SLOT:
            # The slot goes to the next queued visitors, whose own transitions
            # (checked on their own) may take it again.
            assert after.outstanding == before.outstanding - 1 + nested_takes
            assert after.outstanding >= 0
            return
        assert after.outstanding == before.outstanding + (action is A.TAKE_SLOT), action
        if action in SENDS:
            assert len(sent) == 1, action
            request = decode_request(sent[0].data)
            assert (sent[0].destination, sent[0].port) == (visitor.foreign_agent, visitor.foreign_agent_port)
            assert request.home_address == visitor.home_address
            assert request.identification == visitor.identification
            registration = action in (A.SEND_REGISTRATION, A.RETRANSMIT_REGISTRATION)
            assert request.lifetime == (visitor.lifetime_requested if registration else 0)
            assert visitor.attempts >= 1
        elif action is A.SOLICIT:
            assert all(t.channel is Channel.DISCOVERY and t.destination == ALL_MOBILITY_AGENTS for t in sent)
            assert len(sent) <= 1
        else:
            assert not sent, action
        if action in EMITTED:
            assert len(emitted) == 1 and isinstance(emitted[0], EMITTED[action]), (action, emitted)
            assert emitted[0].mac == visitor.mac  # type: ignore[attr-defined]
        else:
            assert not emitted, (action, emitted)
        timers = {A.ARM_RETRANSMIT, A.ARM_RENEWAL, A.ARM_BACKOFF, A.ARM_SA_RETRY, A.CANCEL_TIMER, A.FORGET}
        if action not in timers:
            assert after.deadline == before.deadline, action
        if action is A.ARM_RETRANSMIT:
            assert after.deadline == now + visitor.retransmit_period
            assert visitor.retransmit_period >= 1.0  # RFC 5944 §3.6.3
        elif action is A.ARM_RENEWAL:
            lifetime = visitor.lifetime_granted
            assert after.deadline == now + lifetime - min(proxy.settings.reregistration_margin, lifetime / 2)
        elif action is A.ARM_BACKOFF:
            assert after.deadline == now + visitor.backoff and visitor.backoff > 0
        elif action is A.ARM_SA_RETRY:
            assert after.deadline == retry_at
        elif action in (A.CANCEL_TIMER, A.FORGET):
            assert after.deadline is None
        assert after.present == (before.present and action not in (A.FORGET, A.SET_ASIDE)), action
        aside = proxy._set_aside.get(str(visitor.home_address))
        if action is A.SET_ASIDE:
            assert aside is visitor and visitor.state is VisitorState.DEREGISTERING
        elif action is A.FORGET:
            assert aside is not visitor
        if action is A.ENQUEUE:
            assert after.queue == (*before.queue, visitor.mac)
        elif action is A.DEQUEUE:
            assert visitor.mac not in after.queue
        else:
            assert after.queue == before.queue, action
        assert visitor.home_address is not None or action is A.FORGET
        waiting = proxy._sa_waiting.get(visitor.home_address, set()) if visitor.home_address else set()
        if action is A.AWAIT_SA:
            assert visitor.mac in waiting
        elif action is A.STOP_AWAITING_SA:
            assert visitor.mac not in waiting
        elif action is A.CLAIM_ADDRESS:
            assert proxy._claims[visitor.home_address] == visitor.mac  # type: ignore[index]
        elif action is A.RELEASE_ADDRESS:
            assert proxy._by_home.get(visitor.home_address) is not visitor  # type: ignore[arg-type]
        # Counters: the action's own, each up by one, and no other.
        changed = {name: value - before.counters[name] for name, value in after.counters.items()
                   if value != before.counters[name]}
        if action is A.EMIT_NOT_PROXIED:
            assert len(changed) == 1 and set(changed) <= OWN_COUNTERS[action], changed
            assert set(changed.values()) == {1}
        elif action is A.SOLICIT:
            assert changed == ({"solicitations_sent": 1} if sent else {})
        else:
            assert changed == dict.fromkeys(OWN_COUNTERS.get(action, set()), 1), (action, changed)


#: The counters each action counts in (every one not listed counts in none;
#: EMIT_NOT_PROXIED in one of these, by event; SOLICIT only when it sends).
OWN_COUNTERS: dict[VisitorAction, set[str]] = {
    VisitorAction.SEND_REGISTRATION: {"requests_sent"},
    VisitorAction.RETRANSMIT_REGISTRATION: {"requests_sent", "retransmissions"},
    VisitorAction.SEND_DEREGISTRATION: {"requests_sent", "deregistrations"},
    VisitorAction.RETRANSMIT_DEREGISTRATION: {"requests_sent", "retransmissions"},
    VisitorAction.RESEND_DEREGISTRATION: {"requests_sent"},
    VisitorAction.ENQUEUE: {"queued"},
    VisitorAction.SOLICIT: {"solicitations_sent"},
    VisitorAction.EMIT_NOT_PROXIED: {"not_proxied_at_home", "not_proxied_no_home_agent",
                                     "not_proxied_no_security_association", "not_proxied_interface",
                                     "address_conflicts"},
    VisitorAction.EMIT_REGISTERED: {"accepted"},
    VisitorAction.EMIT_FAILED: {"registration_failures"},
}


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    yield Recorder(monkeypatch)


def run(seed: int, steps: int) -> Scene:
    """``steps`` random steps; one seed in seven has no RADIUS (an address no
    local SA covers is then not proxied at once)."""
    rng = random.Random(seed)
    scene = Scene(radius=seed % 7 != 6)
    for _ in range(steps):
        scene.act(rng)
    return scene


#: (seed, steps) of sequences beyond the seeded runs above that make
#: entries those do not. Hypothesis found (seed 14795, 56 steps) a station
#: of the guest interface (NOT_ENABLED) associating again on the enabled
#: one: the engine only recorded the interface, and a later re-evaluation
#: queued it (NO_SLOT from NOT_ENABLED, then missing from the table). Such a
#: station is now evaluated at once (tests/unit/test_proxy.py). 217 and 417
#: made that evaluation end refused by RADIUS and queued; since departed
#: clients are no longer re-registered by a re-evaluation, 835 makes
#: NOT_ENABLED -> NO_SLOT and 245 QUEUED -> NO_SLOT (a queued visitor asked
#: again while the queue is full). 340: a queued visitor whose home agent
#: goes away (WITHDRAWN from QUEUED); 216: a station without any SA (no
#: RADIUS) moving from the guest interface to the enabled one.
FOUND = [(14795, 56), (217, 120), (417, 120), (340, 120), (216, 120), (245, 120), (835, 120)]


def refused_again_after_moving_in() -> Scene:
    """A station refused by RADIUS (Access-Reject, kept in the resolver's
    negative cache) associates on the guest interface, is re-evaluated
    there (not enabled), and comes back to the enabled one before the
    refusal lapses: refused again, from NOT_ENABLED, for the same reason
    (not counted or reported twice)."""
    scene = Scene()
    proxy, mac, address = scene.proxy, MACS[0], ADDRESSES[3]
    proxy.client_associated(mac, NOW, address=address, interface="wlan0")
    for asked in proxy.sa_requests_to_send():
        proxy.sa_answer(asked, Reject(), NOW)
    visitor = proxy.visitor(mac)
    assert visitor is not None and visitor.state is VisitorState.NO_SECURITY_ASSOCIATION
    refusals = proxy.counters.not_proxied_no_security_association
    proxy.client_associated(mac, NOW + 1, address=address, interface="guest")
    proxy.reevaluate(NOW + 1)
    assert visitor.state is VisitorState.NOT_ENABLED
    proxy.client_associated(mac, NOW + 2, address=address, interface="wlan0")
    assert visitor.state is VisitorState.NO_SECURITY_ASSOCIATION
    assert proxy.counters.not_proxied_no_security_association == refusals
    assert visitor.deadline is not None  # asked again when the refusal lapses
    return scene


def test_every_transition_is_in_the_table_and_every_entry_is_made(recorder: Recorder) -> None:
    for seed, steps in [*((seed, 120) for seed in range(150)), *FOUND]:
        scene = run(seed, steps)
        assert scene.proxy.counters.lifecycle_errors == 0, seed
    assert refused_again_after_moving_in().proxy.counters.lifecycle_errors == 0
    assert recorder.made <= TRANSITIONS.keys()
    assert TRANSITIONS.keys() <= recorder.made, sorted(TRANSITIONS.keys() - recorder.made, key=str)
    assert set(recorder.performed) == set(VisitorAction)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=1, max_value=200))
def test_random_sequences_do_what_the_table_says(recorder: Recorder, seed: int, steps: int) -> None:
    """Hypothesis over event sequences: no lifecycle error, and every
    transition performed (datagrams, timers, events, slots, visitors freed)
    exactly the actions the table named (checked by the recorder)."""
    scene = run(seed, steps)
    assert scene.proxy.counters.lifecycle_errors == 0


def _ready_visitor(proxy: ProxyAgent, state: VisitorState) -> ProxyVisitor:
    """A visitor with everything an action may use, in ``state``."""
    proxy.client_associated(MACS[0], NOW)
    visitor = proxy.visitor(MACS[0])
    assert visitor is not None
    visitor.home_address, visitor.home_agent = ADDRESSES[0], HOME_AGENT
    visitor.foreign_agent, visitor.care_of_address = FOREIGN_AGENT, FOREIGN_AGENT
    visitor.sa, visitor.spi, visitor.last_code = SA, SA.spi, 64
    visitor.lifetime_requested = visitor.lifetime_granted = 60
    visitor.backoff, visitor.retransmit_period = 5.0, 1.0
    visitor.state = state
    proxy._outstanding = 1  # RELEASE_SLOT from any state stays >= 0
    return visitor


@pytest.mark.parametrize("state", list(VisitorState), ids=lambda s: s.value)
@pytest.mark.parametrize("event", list(VisitorEvent), ids=lambda e: e.value)
def test_every_pair_is_in_the_table_or_a_counted_protocol_error(
    state: VisitorState, event: VisitorEvent
) -> None:
    """Exhaustive over (state, event), h2's rule: a pair in the table makes
    its transition and no error; any other pair is the engine's protocol
    error: counted, reported (LifecycleError), and the event's default
    transition still made so that the visitor is not stuck."""
    proxy = Scene().proxy
    visitor = _ready_visitor(proxy, state)
    visitor.deregistration = event in (VisitorEvent.LEFT, VisitorEvent.ADDRESS_CHANGED)
    proxy._fire(visitor, event, NOW, retry_at=NOW + 30)
    transition = TRANSITIONS.get((state, event))
    events = []
    while (out := proxy.next_event()) is not None:
        events.append(out)
    if transition is not None:
        assert proxy.counters.lifecycle_errors == 0
        assert not any(isinstance(e, LifecycleError) for e in events)
    else:
        transition = DEFAULT[event]
        assert proxy.counters.lifecycle_errors == 1
        assert events[0] == LifecycleError(MACS[0], state.value, event.value)
    if transition.next_state is None:
        assert proxy.visitor(MACS[0]) is None and visitor not in proxy._set_aside.values()
    elif VisitorAction.SET_ASIDE in transition.actions:
        assert proxy.visitor(MACS[0]) is None and proxy._set_aside[str(ADDRESSES[0])] is visitor
    else:
        assert visitor.state is transition.next_state
        assert proxy.visitor(MACS[0]) is visitor


def test_every_event_has_a_default_and_every_transition_is_well_formed() -> None:
    assert set(DEFAULT) == set(VisitorEvent)
    assert set(ProxyAgent._PERFORMERS) == set(VisitorAction)  # every action performed somewhere
    for event, transition in DEFAULT.items():
        assert transition in {t for (s, e), t in TRANSITIONS.items() if e is event}, event
    for key, transition in TRANSITIONS.items():
        # Forgotten exactly when FORGET is named, and FORGET comes last.
        assert (transition.next_state is None) == (VisitorAction.FORGET in transition.actions), key
        if VisitorAction.FORGET in transition.actions:
            assert transition.actions[-1] is VisitorAction.FORGET, key
        # A slot is taken by entering PENDING from elsewhere, released by leaving it.
        entering = transition.next_state is VisitorState.PENDING and key[0] is not VisitorState.PENDING
        leaving = key[0] is VisitorState.PENDING and transition.next_state is not VisitorState.PENDING
        assert (VisitorAction.TAKE_SLOT in transition.actions) == entering, key
        assert (VisitorAction.RELEASE_SLOT in transition.actions) == leaving, key
        # In the queue exactly while QUEUED.
        assert (VisitorAction.ENQUEUE in transition.actions) == (
            transition.next_state is VisitorState.QUEUED and key[0] is not VisitorState.QUEUED), key


def test_a_foreign_agent_lifetime_limit_does_not_livelock_a_full_queue() -> None:
    """Found by the random driver above: the foreign agent's limit (30 s) is
    below what the proxy asks (60 s) and max-outstanding registrations are in
    flight. Each 69 (RFC 5944 §3.7.2.3) ended one exchange, which let the
    next queued visitor start afresh at 60 s, while the retry at 30 s went to
    the back of the queue: two visitors traded 60 s requests and 69 denials
    for ever, at the speed of the link. The limit a 69 taught is now kept per
    foreign agent: later requests through it ask for at most that."""
    scene = Scene()
    scene.home_agent.settings = replace(scene.home_agent.settings, max_bindings=100)
    proxy = scene.proxy
    proxy.client_associated(MACS[0], NOW, address=ADDRESSES[0], interface="wlan0")
    scene.settle()  # the foreign agent is heard: Registration Lifetime 600
    assert proxy.visitor(MACS[0]).state is VisitorState.REGISTERED  # type: ignore[union-attr]
    scene.foreign_agent.settings = replace(scene.foreign_agent.settings, max_lifetime=30)
    for index, address in enumerate(["10.1.2.10", "10.1.2.11", "10.1.2.12", "10.1.2.13"], 1):
        proxy.client_associated(MACS[index], NOW, address=IPv4Address(address), interface="wlan0")
    for _ in range(20):
        scene.settle()
        scene.answer_radius(random.Random(1))
        scene.advance(1.0)
    later = [v for v in scene.proxy.visitors() if v.mac != MACS[0]]
    assert [v.state for v in later] == [VisitorState.REGISTERED] * 4
    assert all(v.lifetime_granted <= 30 for v in later)
    assert scene.proxy.counters.requests_sent < 40


@pytest.mark.parametrize("seed", [93, 236], ids=["69-full-queue", "133-full-queue"])
def test_the_sequences_that_livelocked_now_settle(seed: int) -> None:
    """The random driver's two livelocks, kept as examples: seed 93 (a 69
    with a full queue, above) and seed 236 (the home agent's clock stepped
    back 30 s with a full queue: each 133 freed the slot, the queued visitor
    started afresh with its resynchronisation count reset, and the retry
    queued behind it: RFC 5944 §5.7.1's two resynchronisations never ran
    out)."""
    scene = run(seed, 120)
    assert scene.proxy.counters.lifecycle_errors == 0
