"""The proxy visitor's life cycle table (agent/mobileip/visitor_lifecycle.py,
issue 15 item 4), tested against the engine: random sequences of what can
happen to an access point (stations associating with home, foreign, unmapped
and conflicting addresses on enabled and other interfaces, learning new
addresses, leaving; time passing through retransmissions, renewals, backoffs;
the foreign or home agent going silent; RADIUS accepting, refusing or not
answering; the subnet map changing) are run through a proxy, a real foreign
agent and a real home agent on a fake link. Every state change the proxy
makes must be in the table (no lifecycle error), and across the seeded runs
every entry of the table must be made: the table is exactly the engine's
life cycle, not a wish list."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.mobileip.advertisement import ALL_SYSTEMS
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.outputs import Channel
from agent.mobileip.proxy import ALL_MOBILITY_AGENTS, ProxyAgent, ProxySettings
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable
from agent.mobileip.subnet_map import SubnetMap
from agent.mobileip.visitor_lifecycle import TARGET, TRANSITIONS, VisitorEvent, VisitorState
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

    def __init__(self) -> None:
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
            rng=random.Random(7), sa_resolver=SecurityAssociationResolver())
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


@pytest.fixture
def moves(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[tuple[VisitorState, VisitorEvent]]]:
    """Every (state, event) the proxy moves a visitor by."""
    seen: set[tuple[VisitorState, VisitorEvent]] = set()
    move = ProxyAgent._move

    def recording(self: ProxyAgent, visitor: object, event: VisitorEvent) -> None:
        seen.add((visitor.state, event))  # type: ignore[attr-defined]
        move(self, visitor, event)  # type: ignore[arg-type]

    monkeypatch.setattr(ProxyAgent, "_move", recording)
    yield seen


def run(seed: int, steps: int) -> Scene:
    rng = random.Random(seed)
    scene = Scene()
    for _ in range(steps):
        scene.act(rng)
    return scene


#: (seed, steps) of sequences beyond the seeded runs above that make
#: entries those do not. Hypothesis found (seed 14795, 56 steps) a station
#: of the guest interface (NOT_ENABLED) associating again on the enabled
#: one: the engine only recorded the interface, and a later re-evaluation
#: queued it (NO_SLOT from NOT_ENABLED, then missing from the table). Such a
#: station is now evaluated at once (tests/unit/test_proxy.py); 217 and 417
#: make that evaluation end refused by RADIUS (NO_SECURITY_ASSOCIATION) and
#: queued behind max-outstanding (NO_SLOT).
FOUND = [(14795, 56), (217, 120), (417, 120)]


def test_every_move_is_in_the_table_and_every_entry_is_made(
    moves: set[tuple[VisitorState, VisitorEvent]],
) -> None:
    for seed, steps in [*((seed, 120) for seed in range(150)), *FOUND]:
        scene = run(seed, steps)
        assert scene.proxy.counters.lifecycle_errors == 0, seed
    assert moves <= TRANSITIONS.keys(), sorted(moves - TRANSITIONS.keys(), key=str)
    assert TRANSITIONS.keys() <= moves, sorted(TRANSITIONS.keys() - moves, key=str)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=1, max_value=200))
def test_random_sequences_make_no_lifecycle_error(seed: int, steps: int) -> None:
    scene = run(seed, steps)
    assert scene.proxy.counters.lifecycle_errors == 0


def test_each_event_leads_to_one_state_and_the_table_follows_it() -> None:
    assert set(TARGET) == set(VisitorEvent)
    for (state, event), target in TRANSITIONS.items():
        assert target is TARGET[event], (state, event)


def test_a_move_the_table_does_not_have_is_counted_and_still_made() -> None:
    """h11's rule for the engine itself: an event where the table has none is
    a protocol error; counted, reported (LifecycleError), and the visitor is
    not left stuck."""
    from agent.mobileip.events import LifecycleError

    scene = Scene()
    proxy = scene.proxy
    proxy.client_associated(MACS[0], NOW)
    visitor = proxy.visitor(MACS[0])
    assert visitor is not None and visitor.state is VisitorState.ASSOCIATED
    assert (VisitorState.ASSOCIATED, VisitorEvent.DEREGISTERED) not in TRANSITIONS
    proxy._move(visitor, VisitorEvent.DEREGISTERED)
    assert visitor.state is VisitorState.AT_HOME
    assert proxy.counters.lifecycle_errors == 1
    assert proxy.next_event() == LifecycleError(MACS[0], "associated", "deregistered")


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
