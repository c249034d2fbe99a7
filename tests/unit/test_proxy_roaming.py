"""A client roaming between two access points, each a ``ProxyAgent`` on its
own clock, each with its own foreign agent, one home agent; sans-IO on
virtual time, joined by a fake link (the pair pattern of ``test_pair.py``
and ``test_proxy.py``) that can hold one sender's datagrams back to make
them arrive late.

RFC 5944 §5.7.1 timestamps: the home agent accepts a request only if its
Identification is within its tolerance of the home agent's clock and greater
than any it accepted for that node before, otherwise 133 (§3.8.3.1), with its
own time in the high-order 32 bits so that the node can resynchronise
(§3.6.2.2). Two access points speak for the same node from two clocks: the
old one's deregistration can be stamped later than the new one's
registration and reach the home agent first. Found in the netns lab with
hostapd association (tools/lab/netns_lab.py): the new access point took the
home agent's whole seconds as its clock (stepping back by up to 1 s) and was
denied 133 again, twice, then backed off for a minute.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

import pytest

from agent.mobileip import replay
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.numbers import MOBILE_IP_PORT, ReplyCode
from agent.mobileip.outputs import Transmit
from agent.mobileip.proxy import ProxyAgent, ProxySettings, StaticForeignAgent
from agent.mobileip.visitor_lifecycle import VisitorState
from agent.mobileip.registration import RegistrationRequest, decode_reply, decode_request
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable
from agent.mobileip.subnet_map import SubnetMap

NOW = 1_800_000_000.0
HOME_AGENT = IPv4Address("10.1.1.1")
HOME_NETWORK = IPv4Network("10.1.0.0/16")
MAC = "00:11:22:33:44:55"
CLIENT = IPv4Address("10.1.2.3")
CLIENT_SA = SecurityAssociation(spi=0x1001, key=bytes.fromhex("00112233445566778899aabbccddeeff"))
#: Access point -> its foreign agent (the lab's ap-a/fa-a and ap-b/fa-b).
FOREIGN_AGENTS = {
    IPv4Address("192.0.2.50"): IPv4Address("192.0.2.1"),
    IPv4Address("198.51.100.50"): IPv4Address("198.51.100.1"),
}
AP_A, AP_B = FOREIGN_AGENTS
FA_A, FA_B = FOREIGN_AGENTS.values()
FOREIGN_HOME_SA = SecurityAssociation(spi=2000, key=bytes(range(16, 32)))
MISMATCH = ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH


@dataclass
class Roaming:
    """Two access points (``skew``: how far each one's clock runs ahead of
    the foreign and home agents'), two foreign agents, one home agent."""

    skew: dict[IPv4Address, float]
    proxies: dict[IPv4Address, ProxyAgent] = field(init=False)
    foreign_agents: dict[IPv4Address, ForeignAgent] = field(init=False)
    home_agent: HomeAgent = field(init=False)
    #: Senders whose datagrams wait in ``held`` until released.
    holding: set[IPv4Address] = field(default_factory=set)
    held: list[tuple[IPv4Address, Transmit]] = field(default_factory=list)
    #: (source, transmit) of everything delivered, in order.
    log: list[tuple[IPv4Address, Transmit]] = field(default_factory=list)

    def __post_init__(self) -> None:
        subnet_map = SubnetMap({HOME_NETWORK: HOME_AGENT})
        self.proxies = {}
        for index, (access_point, foreign_agent) in enumerate(FOREIGN_AGENTS.items()):
            hosts = SecurityAssociationTable()
            hosts.add_range(HOME_NETWORK.network_address, HOME_NETWORK.broadcast_address, CLIENT_SA)
            self.proxies[access_point] = ProxyAgent(
                ProxySettings(local_networks=(IPv4Network(f"{access_point}/24", strict=False),),
                              foreign_agent=StaticForeignAgent(foreign_agent)),
                subnet_map=subnet_map, host_associations=hosts, rng=random.Random(10 + index))
        self.foreign_agents = {}
        peers = SecurityAssociationTable()
        for foreign_agent in FOREIGN_AGENTS.values():
            home_agents = SecurityAssociationTable()
            home_agents.add(HOME_AGENT, FOREIGN_HOME_SA)
            self.foreign_agents[foreign_agent] = ForeignAgent(
                ForeignAgentSettings(foreign_agent, max_lifetime=600, advertisement_interval=0.0),
                home_agents=home_agents, rng=random.Random(2), now=NOW)
            peers.add(foreign_agent, FOREIGN_HOME_SA)
        mobile_nodes = SecurityAssociationTable()
        mobile_nodes.add(CLIENT, CLIENT_SA)
        self.home_agent = HomeAgent(HomeAgentSettings(HOME_AGENT, home_network=HOME_NETWORK),
                                    mobile_nodes=mobile_nodes, peers=peers, rng=random.Random(1))

    def _collect(self) -> list[tuple[IPv4Address, Transmit]]:
        out = [(a, t) for a, p in self.proxies.items() for t in p.datagrams_to_send()]
        out += [(a, t) for a, f in self.foreign_agents.items() for t in f.datagrams_to_send()]
        out += [(HOME_AGENT, t) for t in self.home_agent.datagrams_to_send()]
        return out

    def run(self, now: float) -> None:
        for _ in range(100):
            batch = self._collect()
            if not batch:
                return
            for source, transmit in batch:
                if source in self.holding:
                    self.held.append((source, transmit))
                else:
                    self._deliver(source, transmit, now)
        raise AssertionError("the link never went quiet")

    def release(self, source: IPv4Address, now: float) -> None:
        self.holding.discard(source)
        held = [h for h in self.held if h[0] == source]
        self.held = [h for h in self.held if h[0] != source]
        for _, transmit in held:
            self._deliver(source, transmit, now)
        self.run(now)

    def _deliver(self, source: IPv4Address, transmit: Transmit, now: float) -> None:
        self.log.append((source, transmit))
        destination = transmit.destination
        if destination == HOME_AGENT:
            self.home_agent.receive_datagram(transmit.data, source, MOBILE_IP_PORT, now)
        elif destination in self.foreign_agents:
            self.foreign_agents[destination].receive_datagram(
                transmit.data, source, MOBILE_IP_PORT, now)
        else:
            self.proxies[destination].receive_datagram(
                transmit.data, source, MOBILE_IP_PORT, now + self.skew[destination])

    def associate(self, access_point: IPv4Address, now: float) -> None:
        self.proxies[access_point].client_associated(
            MAC, now + self.skew[access_point], address=CLIENT, interface="wlan0")

    def disassociate(self, access_point: IPv4Address, now: float) -> None:
        self.proxies[access_point].client_disassociated(MAC, now + self.skew[access_point])

    def advance(self, until: float) -> None:
        """Fire the engines' timers due up to ``until`` (on each one's clock)."""
        while True:
            due = []
            for index, (address, proxy) in enumerate(self.proxies.items()):
                if (t := proxy.get_timer()) is not None:
                    due.append((t - self.skew[address], index))
            due = [d for d in due if d[0] <= until]
            if not due:
                return
            when, index = min(due)
            address, proxy = list(self.proxies.items())[index]
            proxy.handle_timer(when + self.skew[address])
            self.run(when)

    def requests_from(self, access_point: IPv4Address) -> list[RegistrationRequest]:
        return [decode_request(t.data) for s, t in self.log if s == access_point]

    def mismatches_to(self, access_point: IPv4Address) -> int:
        """133 replies delivered to ``access_point``."""
        return sum(1 for s, t in self.log
                   if t.destination == access_point and s in self.foreign_agents
                   and decode_reply(t.data).code == MISMATCH)

    def binding(self) -> IPv4Address | None:
        bindings = self.home_agent.bindings()
        assert len(bindings) <= 1
        return bindings[0].care_of_address if bindings else None

    def state_at(self, access_point: IPv4Address) -> VisitorState | None:
        visitor = self.proxies[access_point].visitor(MAC)
        return visitor.state if visitor is not None else None


def at_a(skew_a: float, skew_b: float) -> Roaming:
    scene = Roaming({AP_A: skew_a, AP_B: skew_b})
    scene.associate(AP_A, NOW)
    scene.run(NOW)
    assert scene.state_at(AP_A) is VisitorState.REGISTERED and scene.binding() == FA_A
    return scene


def test_break_before_make_old_deregistration_stamped_later_arrives_first() -> None:
    """The old access point's clock runs 0.3 s ahead of the new one's. The
    client leaves A (A's deregistration, stamped t + 0.3, is accepted), then
    associates at B 0.1 s later: B's registration, stamped t + 0.1, is not
    greater than the last accepted Identification: 133 (§5.7.1). B must
    retry at once with a greater one and be accepted: one 133, two requests."""
    scene = at_a(0.3, 0.0)
    t = NOW + 10.0
    scene.disassociate(AP_A, t)
    scene.run(t)
    assert scene.binding() is None
    scene.associate(AP_B, t + 0.1)
    scene.run(t + 0.1)
    assert scene.state_at(AP_B) is VisitorState.REGISTERED
    assert scene.binding() == FA_B
    assert scene.mismatches_to(AP_B) == 1
    assert len(scene.requests_from(AP_B)) == 2
    assert scene.proxies[AP_B].counters.denied_due_to_identification == 1


def test_a_new_access_point_lagging_within_the_tolerance_catches_up_in_one_retry() -> None:
    """B's clock lags 3 s, within the home agent's 7 s tolerance; A's is in
    step. B's registration after A's deregistration draws 133: B's retry
    must exceed the home agent's clock now (its whole seconds + 1), not just
    its own stamp + 1 s. B's clock is stepped forward to the home agent's
    whole seconds, so its renewal is accepted at once."""
    scene = at_a(0.0, -3.0)
    t = NOW + 10.3  # A's stamp: 0.3 s past the home agent's whole second
    scene.disassociate(AP_A, t)
    scene.run(t)
    scene.associate(AP_B, t + 0.1)
    scene.run(t + 0.1)
    assert scene.state_at(AP_B) is VisitorState.REGISTERED
    assert scene.mismatches_to(AP_B) == 1
    assert 2.0 <= scene.proxies[AP_B]._clock_offset[HOME_AGENT] <= 3.0
    scene.advance(t + 600)  # renewed (reregistration margin 30 s)
    assert scene.proxies[AP_B].counters.reregistrations == 1
    assert scene.mismatches_to(AP_B) == 1
    assert scene.binding() == FA_B


def test_an_old_access_point_more_than_a_second_ahead_takes_a_second_retry() -> None:
    """A's clock runs 1.5 s ahead of B's (and the home agent's), within the
    tolerance. B's first retry (its clock + 1 s) is still below A's
    deregistration: 133 again; the second reaches 1 s further and is
    accepted. Nothing in a 133 tells the other stamp, so each retry must
    reach further than the last."""
    scene = at_a(1.5, 0.0)
    t = NOW + 10.0
    scene.disassociate(AP_A, t)
    scene.run(t)
    scene.associate(AP_B, t + 0.1)
    scene.run(t + 0.1)
    assert scene.state_at(AP_B) is VisitorState.REGISTERED
    assert scene.mismatches_to(AP_B) == 2
    assert len(scene.requests_from(AP_B)) == 3


def test_make_before_break_old_deregistration_overtakes_the_registration() -> None:
    """B registers the client first (stamped t on B's clock), A deregisters it
    0.05 s later (stamped t + 0.05, A's clock in step), and A's
    deregistration reaches the home agent first: B's registration draws 133.
    One retry at once, accepted; the binding ends at B's foreign agent."""
    scene = at_a(0.0, 0.0)
    t = NOW + 10.0
    scene.holding.add(FA_B)  # B's registration is slow on its way to the home agent
    scene.associate(AP_B, t)
    scene.run(t)
    scene.disassociate(AP_A, t + 0.05)
    scene.run(t + 0.05)
    assert scene.binding() is None  # A's deregistration won the race
    scene.release(FA_B, t + 0.06)
    assert scene.state_at(AP_B) is VisitorState.REGISTERED
    assert scene.binding() == FA_B
    assert scene.mismatches_to(AP_B) == 1
    assert len(scene.requests_from(AP_B)) == 2
    assert scene.state_at(AP_A) is None  # A forgot the client once it was deregistered


def test_a_stale_deregistration_denied_133_is_not_retried_over_the_new_binding() -> None:
    """Break before make the other way round: B's registration (stamped
    later) reaches the home agent before A's deregistration (stamped
    earlier, held back). The home agent denies A's deregistration 133 within
    its tolerance: a newer request for the node was accepted, so the binding
    A would withdraw is already replaced (§3.8.2.2 without S). A takes its
    deregistration as done instead of sending a greater Identification that
    would remove what B registered."""
    scene = at_a(0.0, 0.0)
    t = NOW + 10.0
    scene.holding.add(FA_A)
    scene.disassociate(AP_A, t)
    scene.run(t)
    scene.associate(AP_B, t + 0.05)
    scene.run(t + 0.05)
    assert scene.binding() == FA_B
    scene.release(FA_A, t + 0.06)
    scene.advance(t + 5)
    assert scene.binding() == FA_B
    assert scene.state_at(AP_B) is VisitorState.REGISTERED
    assert scene.state_at(AP_A) is None
    assert [r.lifetime for r in scene.requests_from(AP_A)] == [600, 0]


@pytest.mark.parametrize("seed", range(6))
def test_repeated_roams_each_end_registered_within_one_retry(seed: int) -> None:
    """Twenty roams between A (0.4 s ahead) and B (0.4 s behind), every
    2-5 s, in either order (make before break or break before make) and
    either message first at the home agent: each roam ends with the client
    registered at the new access point after at most one 133, no denial
    (no back-off) anywhere, and each access point's Identifications only
    grow (RFC 5944 §5.7.1: the clock is never stepped back)."""
    rng = random.Random(seed)
    scene = at_a(0.4, -0.4)
    here, there = AP_A, AP_B
    t = NOW
    for _ in range(20):
        t += rng.uniform(2.0, 5.0)
        before = scene.mismatches_to(there)
        late = rng.choice([here, there])
        scene.holding.add(FOREIGN_AGENTS[late])
        if rng.random() < 0.5:
            scene.disassociate(here, t)
            scene.run(t)
            scene.associate(there, t + 0.05)
        else:
            scene.associate(there, t)
            scene.run(t)
            scene.disassociate(here, t + 0.05)
        scene.run(t + 0.05)
        scene.release(FOREIGN_AGENTS[late], t + 0.1)
        scene.advance(t + 1.5)
        assert scene.state_at(there) is VisitorState.REGISTERED, (t - NOW, scene.state_at(there))
        assert scene.binding() == FOREIGN_AGENTS[there]
        assert scene.mismatches_to(there) - before <= 1
        assert scene.state_at(here) is None
        here, there = there, here
    for access_point, proxy in scene.proxies.items():
        assert proxy.counters.registration_failures == 0
        assert proxy.reply_counters.denials.get(MISMATCH, 0) <= 20
        assert all(v.state is not VisitorState.DENIED for v in proxy.visitors())
        sent = [r.identification for r in scene.requests_from(access_point)]
        assert sent == sorted(sent) and len(set(sent)) == len(sent), access_point
        # Resynchronised forward only, to the home agent's whole seconds: each
        # access point's clock ends at most 1 s ahead of where it was.
        assert all(0.0 <= offset <= 1.0 for offset in proxy._clock_offset.values())


@pytest.mark.parametrize(
    ("skew_a", "skew_b", "gaps", "most"),
    [(0.0, 0.0, (0.1, 0.6), 1), (0.3, -0.3, (0.7, 1.5), 1), (-0.3, 0.3, (0.7, 1.5), 1)],
    ids=["same-clock", "a-ahead", "b-ahead"])
def test_roams_less_than_a_second_apart_do_not_push_the_stamps_out_of_tolerance(
    skew_a: float, skew_b: float, gaps: tuple[float, float], most: int
) -> None:
    """Found in the netns lab with association by the control channel (make
    before break, a roam every ~0.1 s): each retry took the access point's
    own raised stamp + 1 s, so two access points trading the client less
    than a second apart raised each other's stamps a second per roam; after
    seven roams they were beyond the home agent's 7 s tolerance and a roam
    ended denied. Retries are anchored to the clocks now: 40 roams 0.1-0.6 s
    apart (access points on one clock, as in the lab), or 0.7-1.5 s apart
    with the access points' clocks 0.6 s apart, all end registered, each
    after at most one 133, and no stamp is ever 3 s ahead of the home
    agent's clock. (Access points whose clocks differ by more than the time
    between two roams can still be refused twice: nothing in a 133 tells the
    other access point's stamp.)"""
    rng = random.Random(1)
    scene = at_a(skew_a, skew_b)
    here, there = AP_A, AP_B
    t = NOW
    for _ in range(40):
        t += rng.uniform(*gaps)
        before = scene.mismatches_to(there)
        late = rng.choice([here, there])
        scene.holding.add(FOREIGN_AGENTS[late])
        scene.associate(there, t)
        scene.run(t)
        scene.disassociate(here, t + 0.01)
        scene.run(t + 0.01)
        scene.release(FOREIGN_AGENTS[late], t + 0.02)
        assert scene.state_at(there) is VisitorState.REGISTERED, (t - NOW, scene.state_at(there))
        assert scene.binding() == FOREIGN_AGENTS[there]
        assert scene.mismatches_to(there) - before <= most
        for source, transmit in scene.log:
            if source in scene.proxies:
                stamp = replay.ntp_seconds(decode_request(transmit.data).identification, near=t)
                assert stamp - t < 3.0, stamp - t
        here, there = there, here
