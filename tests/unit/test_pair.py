"""Foreign agent and home agent joined through a fake link (h11's pair helper).

The link delivers every Transmit to the engine or mobile node at its
destination address, round after round, until nobody has anything left to
send. Mobile nodes discover the foreign agent with an Agent Solicitation
(RFC 5944 §2.4), build requests with ``builder.build_request`` (§3.6.1) and
check replies with ``builder.check_reply`` (§3.6.2.1). Time is virtual.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from agent.mobileip.advertisement import decode_advertisement, encode_solicitation
from agent.mobileip.builder import build_request, check_reply
from agent.mobileip.events import (
    BindingCreated,
    BindingDeleted,
    BindingRefreshed,
    Event,
    RemovalReason,
    VisitorAdded,
    VisitorRemoved,
    VisitorRenewed,
)
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.numbers import MOBILE_IP_PORT, ReplyCode
from agent.mobileip.outputs import Channel, Transmit
from agent.mobileip.registration import RegistrationReply, decode_reply
from agent.mobileip.replay import ntp_identification
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable

NOW = 1_800_000_000.0

HOME_AGENT = IPv4Address("10.1.1.1")
HOME_NETWORK = IPv4Network("10.1.0.0/16")
FIRST_FOREIGN_AGENT = IPv4Address("192.0.2.1")
SECOND_FOREIGN_AGENT = IPv4Address("198.51.100.1")
NODE_PORT = 49152

FOREIGN_HOME_KEYS = {
    FIRST_FOREIGN_AGENT: bytes.fromhex("5e4d3c2b1a0918273645546372819aab"),
    SECOND_FOREIGN_AGENT: bytes.fromhex("a1b2c3d4e5f60718293a4b5c6d7e8f90"),
}


def node_sa(index: int) -> SecurityAssociation:
    return SecurityAssociation(spi=1000 + index, key=index.to_bytes(2, "big") * 8)


@dataclass
class MobileNode:
    """Just enough of a mobile node (RFC 5944 §3.6) to drive the agents."""

    home_address: IPv4Address
    sa: SecurityAssociation
    replies: list[RegistrationReply] = field(default_factory=list)
    advertisements: list[bytes] = field(default_factory=list)
    sent_identification: int = 0
    sequence: int = 0

    def identification(self, now: float) -> int:
        # RFC 5944 §5.7.1: an NTP timestamp, strictly increasing.
        self.sequence += 1
        return ntp_identification(now, self.sequence)

    def request(self, *, care_of_address: IPv4Address, lifetime: int, now: float) -> bytes:
        self.sent_identification = self.identification(now)
        return build_request(
            home_address=self.home_address,
            home_agent=HOME_AGENT,
            care_of_address=care_of_address,
            identification=self.sent_identification,
            lifetime=lifetime,
            sa=self.sa,
        )

    def last_reply(self) -> RegistrationReply:
        reply = self.replies[-1]
        check = check_reply(reply, sent_identification=self.sent_identification, sa=self.sa)
        assert check.ok, check.reason
        return reply


class Link:
    """Delivers datagrams between engines and mobile nodes by destination
    address. Agents send from port 434 (RFC 5944 §3.7.2.2 lets the foreign
    agent pick its port; the home agent answers to whatever it used)."""

    def __init__(self, home_agent: HomeAgent, foreign_agents: list[ForeignAgent]) -> None:
        self.home_agent = home_agent
        self.foreign_agents = {fa.settings.address: fa for fa in foreign_agents}
        self.nodes: dict[IPv4Address, MobileNode] = {}
        self.in_flight: list[tuple[IPv4Address, int, Transmit]] = []
        self.delivered = 0

    def attach(self, node: MobileNode) -> None:
        self.nodes[node.home_address] = node

    def node_sends(self, node: MobileNode, data: bytes, foreign_agent: IPv4Address) -> None:
        # RFC 5944 §3.6.1.1: via a foreign agent, the node sends from its home address.
        self.in_flight.append(
            (node.home_address, NODE_PORT, Transmit(data, foreign_agent, MOBILE_IP_PORT))
        )

    def solicit(self, node: MobileNode, foreign_agent: IPv4Address, now: float) -> bytes:
        self.foreign_agents[foreign_agent].receive_icmp(
            encode_solicitation(), node.home_address, now
        )
        self.run(now)
        return node.advertisements[-1]

    def _collect(self) -> None:
        for transmit in self.home_agent.datagrams_to_send():
            self.in_flight.append((HOME_AGENT, MOBILE_IP_PORT, transmit))
        for address, foreign_agent in self.foreign_agents.items():
            for transmit in foreign_agent.datagrams_to_send():
                self.in_flight.append((address, MOBILE_IP_PORT, transmit))

    def step(self, now: float) -> int:
        """Deliver what is in flight now; return how many datagrams moved."""
        self._collect()
        batch, self.in_flight = self.in_flight, []
        for source, port, transmit in batch:
            destination = transmit.destination
            if transmit.channel is Channel.DISCOVERY:
                self.nodes[destination].advertisements.append(transmit.data)
            elif destination == HOME_AGENT:
                assert transmit.port == MOBILE_IP_PORT
                self.home_agent.receive_datagram(transmit.data, source, port, now)
            elif destination in self.foreign_agents:
                assert transmit.port == MOBILE_IP_PORT
                self.foreign_agents[destination].receive_datagram(transmit.data, source, port, now)
            else:
                assert transmit.port == NODE_PORT
                self.nodes[destination].replies.append(decode_reply(transmit.data))
        self.delivered += len(batch)
        return len(batch)

    def run(self, now: float) -> None:
        """Loop until the link is quiet."""
        for _ in range(100):
            if self.step(now) == 0:
                self._collect()
                if not self.in_flight:
                    return
        raise AssertionError("the link never went quiet")

    def advance(self, until: float) -> None:
        """Fire every engine timer due up to ``until``, in deadline order."""
        engines: list[HomeAgent | ForeignAgent] = [self.home_agent, *self.foreign_agents.values()]
        while True:
            due = [
                (t, i)
                for i, e in enumerate(engines)
                if (t := e.get_timer()) is not None and t <= until
            ]
            if not due:
                return
            when, index = min(due)
            engines[index].handle_timer(when)
            self.run(when)


def drain(engine: HomeAgent | ForeignAgent) -> list[Event]:
    events: list[Event] = []
    while (event := engine.next_event()) is not None:
        events.append(event)
    return events


def make_world(node_count: int) -> tuple[Link, list[MobileNode]]:
    nodes = [
        MobileNode(IPv4Address(int(IPv4Address("10.1.2.0")) + index), node_sa(index))
        for index in range(1, node_count + 1)
    ]
    mobile_nodes = SecurityAssociationTable()
    for node in nodes:
        mobile_nodes.add(node.home_address, node.sa)
    peers = SecurityAssociationTable()
    for address, key in FOREIGN_HOME_KEYS.items():
        peers.add(address, SecurityAssociation(spi=2000, key=key))
    home_agent = HomeAgent(
        HomeAgentSettings(HOME_AGENT, home_network=HOME_NETWORK),
        mobile_nodes=mobile_nodes,
        peers=peers,
        rng=random.Random(1),
    )
    foreign_agents = []
    for address, key in FOREIGN_HOME_KEYS.items():
        home_agents = SecurityAssociationTable()
        home_agents.add(HOME_AGENT, SecurityAssociation(spi=2000, key=key))
        foreign_agents.append(
            ForeignAgent(
                ForeignAgentSettings(address, max_lifetime=600, advertisement_interval=0.0),
                home_agents=home_agents,
                rng=random.Random(2),
                now=NOW,
            )
        )
    link = Link(home_agent, foreign_agents)
    for node in nodes:
        link.attach(node)
    return link, nodes


def assert_agree(link: Link) -> None:
    """The home agent's bindings and the foreign agents' visitor lists describe
    the same registrations (RFC 2006 haMobilityBindingTable / faVisitorTable)."""
    bindings = {b.home_address: b for b in link.home_agent.bindings()}
    visitors = {}
    for address, foreign_agent in link.foreign_agents.items():
        for visitor in foreign_agent.visitors():
            if (
                visitor.home_address in bindings
                and bindings[visitor.home_address].care_of_address == address
            ):
                visitors[visitor.home_address] = visitor
    assert visitors.keys() == bindings.keys()
    for home, binding in bindings.items():
        visitor = visitors[home]
        assert binding.source_address == visitor.care_of_address
        assert binding.identification == visitor.identification
        assert binding.lifetime == visitor.lifetime
        assert binding.expires_at == visitor.expires_at


# -- one node: register, refresh, move, deregister -------------------------------------------


def test_register_refresh_move_deregister() -> None:
    """RFC 5944 §3.6-§3.8 end to end: registration via a foreign agent, refresh,
    a move to a second foreign agent (the binding is replaced, §3.8.2.2; the old
    visitor entry ages out, §3.7.3.2), and deregistration."""
    link, [node] = make_world(1)
    home_agent = link.home_agent
    first, second = (link.foreign_agents[a] for a in (FIRST_FOREIGN_AGENT, SECOND_FOREIGN_AGENT))

    # Discover the first foreign agent (RFC 5944 §2.4) and register through it.
    advertisement = decode_advertisement(link.solicit(node, FIRST_FOREIGN_AGENT, NOW))
    care_of_address = advertisement.care_of_addresses[0]
    assert care_of_address == FIRST_FOREIGN_AGENT
    lifetime = advertisement.registration_lifetime  # §3.6.1.2: not above what the FA advertises
    assert lifetime == 600
    link.node_sends(
        node,
        node.request(care_of_address=care_of_address, lifetime=lifetime, now=NOW),
        FIRST_FOREIGN_AGENT,
    )
    link.run(NOW)
    reply = node.last_reply()
    assert (reply.code, reply.lifetime) == (ReplyCode.ACCEPTED, 600)
    assert drain(home_agent) == [
        BindingCreated(node.home_address, FIRST_FOREIGN_AGENT, 600, FIRST_FOREIGN_AGENT)
    ]
    assert drain(first) == [VisitorAdded(node.home_address, HOME_AGENT, FIRST_FOREIGN_AGENT, 600)]
    assert_agree(link)
    assert home_agent.get_timer() == first.get_timer() == NOW + 600

    # Refresh half-way through.
    t1 = NOW + 300
    link.node_sends(
        node,
        node.request(care_of_address=FIRST_FOREIGN_AGENT, lifetime=600, now=t1),
        FIRST_FOREIGN_AGENT,
    )
    link.run(t1)
    assert node.last_reply().code == ReplyCode.ACCEPTED
    assert drain(home_agent) == [BindingRefreshed(node.home_address, FIRST_FOREIGN_AGENT, 600)]
    assert drain(first) == [VisitorRenewed(node.home_address, FIRST_FOREIGN_AGENT, 600)]
    assert_agree(link)
    link.advance(NOW + 600)  # the first deadline passes: nothing expires
    assert len(home_agent.bindings()) == len(first.visitors()) == 1

    # Move to the second foreign agent.
    t2 = NOW + 700
    advertisement = decode_advertisement(link.solicit(node, SECOND_FOREIGN_AGENT, t2))
    assert advertisement.care_of_addresses == (SECOND_FOREIGN_AGENT,)
    link.node_sends(
        node,
        node.request(care_of_address=SECOND_FOREIGN_AGENT, lifetime=600, now=t2),
        SECOND_FOREIGN_AGENT,
    )
    link.run(t2)
    assert node.last_reply().code == ReplyCode.ACCEPTED
    assert drain(home_agent) == [
        BindingDeleted(node.home_address, FIRST_FOREIGN_AGENT, RemovalReason.REPLACED),
        BindingCreated(node.home_address, SECOND_FOREIGN_AGENT, 600, SECOND_FOREIGN_AGENT),
    ]
    assert drain(second) == [VisitorAdded(node.home_address, HOME_AGENT, SECOND_FOREIGN_AGENT, 600)]
    assert_agree(link)
    # Nobody tells the first foreign agent (the home agent MAY, §3.8.3.1): its
    # entry stays until its own Lifetime runs out.
    [stale] = first.visitors()
    assert stale.expires_at == t1 + 600
    link.advance(t1 + 600)
    assert drain(first) == [VisitorRemoved(node.home_address, HOME_AGENT, RemovalReason.EXPIRED)]
    assert first.visitors() == []
    assert [b.care_of_address for b in home_agent.bindings()] == [SECOND_FOREIGN_AGENT]

    # Deregister through the second foreign agent (§3.6.1.2: Lifetime 0, CoA kept).
    t3 = NOW + 1000
    link.node_sends(
        node,
        node.request(care_of_address=SECOND_FOREIGN_AGENT, lifetime=0, now=t3),
        SECOND_FOREIGN_AGENT,
    )
    link.run(t3)
    reply = node.last_reply()
    assert (reply.code, reply.lifetime) == (ReplyCode.ACCEPTED, 0)
    assert drain(home_agent) == [
        BindingDeleted(node.home_address, SECOND_FOREIGN_AGENT, RemovalReason.DEREGISTERED)
    ]
    assert drain(second) == [
        VisitorRemoved(node.home_address, HOME_AGENT, RemovalReason.DEREGISTERED)
    ]
    assert home_agent.bindings() == []
    assert first.visitors() == second.visitors() == []
    assert home_agent.get_timer() is first.get_timer() is second.get_timer() is None
    assert all(reply.code == ReplyCode.ACCEPTED for reply in node.replies)
    assert len(node.replies) == 4

    ha = home_agent.counters
    assert (ha.reg_requests_received, ha.dereg_requests_received) == (4, 1)
    assert (ha.reg_replies_sent, ha.dereg_replies_sent) == (4, 1)
    assert ha.registration_accepted == 4
    assert ha.fa_authentication_failure == ha.mn_authentication_failure == 0
    for foreign_agent, requests in ((first, 2), (second, 2)):
        fa = foreign_agent.counters
        assert fa.reg_requests_received == fa.reg_requests_relayed == requests
        assert fa.reg_replies_received == fa.reg_replies_relayed == requests
        assert fa.solicitations_received == fa.advertisements_sent_for_solicitation == 1
        assert fa.unmatched_replies == fa.datagrams_discarded == 0
    assert home_agent.violations.total == first.violations.total == second.violations.total == 0


# -- many nodes at once ----------------------------------------------------------------------


def test_200_nodes_register_concurrently() -> None:
    """200 nodes register through one foreign agent in the same instant: every
    request is pending at the foreign agent before any reply comes back, and
    all end as 200 bindings and 200 visitors with exact counters."""
    link, nodes = make_world(200)
    home_agent = link.home_agent
    foreign_agent = link.foreign_agents[FIRST_FOREIGN_AGENT]
    other = link.foreign_agents[SECOND_FOREIGN_AGENT]

    for node in nodes:
        data = node.request(care_of_address=FIRST_FOREIGN_AGENT, lifetime=600, now=NOW)
        link.node_sends(node, data, FIRST_FOREIGN_AGENT)
    assert link.step(NOW) == 200  # requests reach the foreign agent
    assert len(foreign_agent.pending()) == 200
    assert link.step(NOW) == 200  # relayed to the home agent
    assert home_agent.binding_count == 200
    assert foreign_agent.visitors() == []
    link.run(NOW)  # replies back through the foreign agent to the nodes

    assert len(home_agent.bindings()) == 200
    assert len(foreign_agent.visitors()) == 200
    assert foreign_agent.pending() == []
    assert_agree(link)
    for node in nodes:
        assert len(node.replies) == 1
        reply = node.last_reply()
        assert (reply.code, reply.lifetime) == (ReplyCode.ACCEPTED, 600)
    assert link.delivered == 800

    ha = home_agent.counters.as_dict()
    assert ha.pop("reg_requests_received") == 200
    assert ha.pop("reg_replies_sent") == 200
    assert ha.pop("registration_accepted") == 200
    assert set(ha.values()) == {0}
    fa = foreign_agent.counters.as_dict()
    for name in (
        "reg_requests_received",
        "reg_requests_relayed",
        "reg_replies_received",
        "reg_replies_relayed",
    ):
        assert fa.pop(name) == 200
    assert set(fa.values()) == {0}
    assert set(other.counters.as_dict().values()) == {0}
    events = drain(home_agent)
    assert len(events) == 200 and all(isinstance(e, BindingCreated) for e in events)
    events = drain(foreign_agent)
    assert len(events) == 200 and all(isinstance(e, VisitorAdded) for e in events)

    # All expire together at the one deadline, on both sides.
    assert home_agent.get_timer() == foreign_agent.get_timer() == NOW + 600
    link.advance(NOW + 600)
    assert home_agent.bindings() == []
    assert foreign_agent.visitors() == []
    assert len(drain(home_agent)) == len(drain(foreign_agent)) == 200
