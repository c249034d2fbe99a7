"""The sans-IO SA resolver (agent/radius/resolver.py) and the proxy's use of it,
on virtual time: no sockets, no sleeps; time starts at 0 (or NOW) and jumps.

The RADIUS side is played by the test: it takes the addresses the resolver
(or the proxy) wants asked and answers with Accept / Reject / Malformed /
Timeout, as the pyrad adapter would.
"""

from __future__ import annotations

import ast
import random
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.mobileip.events import ClientNotProxied, ClientRegistered, NotProxiedReason
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.outputs import Transmit
from agent.mobileip.proxy import ProxyAgent, ProxySettings, StaticForeignAgent, VisitorState
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable
from agent.mobileip.subnet_map import SubnetMap
from agent.radius.resolver import (
    PENDING,
    Accept,
    Cached,
    Failed,
    FailureReason,
    Malformed,
    Reject,
    Rejected,
    Resolved,
    ResolverSettings,
    SecurityAssociationResolver,
    Timeout,
)

A = IPv4Address("10.1.2.3")
B = IPv4Address("10.1.2.4")
SA = SecurityAssociation(spi=0x1001, key=bytes.fromhex("00112233445566778899aabbccddeeff"))
SA2 = SecurityAssociation(spi=0x1002, key=bytes.fromhex("ffeeddccbbaa99887766554433221100"))


def drain(resolver: SecurityAssociationResolver) -> list[object]:
    events: list[object] = []
    while (event := resolver.next_event()) is not None:
        events.append(event)
    return events


def requests(resolver: SecurityAssociationResolver) -> list[IPv4Address]:
    out = []
    while (address := resolver.next_request()) is not None:
        out.append(address)
    return out


def test_the_resolver_does_no_io() -> None:
    """STYLE.md convention 1: no clock, no socket, no event loop, no pyrad."""
    forbidden = {"asyncio", "socket", "time", "selectors", "threading", "pyrad"}
    for name in ("resolver.py", "avpair.py"):
        path = Path(__file__).resolve().parents[2] / "agent" / "radius" / name
        for node in ast.walk(ast.parse(path.read_text())):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            assert not {m.split(".")[0] for m in modules} & forbidden, (name, modules)


# -- lookups, cache, negative cache ------------------------------------------------------


def test_accept_is_cached_for_its_lifetime() -> None:
    resolver = SecurityAssociationResolver(ResolverSettings(cache_lifetime=100))
    assert resolver.lookup(A, 0.0) is PENDING
    assert requests(resolver) == [A]
    assert resolver.answer(A, Accept((SA, SA2)), 1.0)
    assert drain(resolver) == [Resolved(A, (SA, SA2))]
    assert resolver.lookup(A, 100.9) == Cached((SA, SA2))
    assert resolver.peek(A, 100.9) == (SA, SA2)
    # Expired at 1 + 100: asked again.
    assert resolver.peek(A, 101.0) is None
    assert resolver.lookup(A, 101.0) is PENDING
    assert requests(resolver) == [A]
    c = resolver.counters
    assert (c.requests, c.accepts, c.cache_hits) == (2, 1, 1)


def test_reject_is_remembered_for_the_negative_lifetime() -> None:
    resolver = SecurityAssociationResolver(ResolverSettings(negative_cache_lifetime=60))
    resolver.lookup(A, 0.0)
    requests(resolver)
    resolver.answer(A, Reject("unknown user"), 2.0)
    assert drain(resolver) == [
        Failed(A, FailureReason.REJECTED, "Access-Reject: unknown user", 62.0)
    ]
    assert resolver.lookup(A, 61.9) == Rejected(
        FailureReason.REJECTED, "Access-Reject: unknown user", 62.0
    )
    assert requests(resolver) == []
    assert resolver.lookup(A, 62.0) is PENDING
    assert requests(resolver) == [A]
    assert (resolver.counters.rejects, resolver.counters.negative_cache_hits) == (1, 1)


def test_malformed_is_counted_and_negatively_cached() -> None:
    resolver = SecurityAssociationResolver(ResolverSettings(negative_cache_lifetime=10))
    resolver.lookup(A, 0.0)
    requests(resolver)
    resolver.answer(A, Malformed("Cisco-AVPair reserved-spi: spi#0: ..."), 0.0)
    [event] = drain(resolver)
    assert isinstance(event, Failed) and event.reason is FailureReason.MALFORMED
    assert resolver.lookup(A, 5.0) == Rejected(FailureReason.MALFORMED, event.detail, 10.0)
    assert resolver.counters.malformed == 1


def test_zero_lifetimes_turn_the_caches_off() -> None:
    resolver = SecurityAssociationResolver(
        ResolverSettings(cache_lifetime=0, negative_cache_lifetime=0)
    )
    for outcome in (Accept((SA,)), Reject()):
        resolver.lookup(A, 0.0)
        assert requests(resolver) == [A]
        resolver.answer(A, outcome, 0.0)
    assert [type(e) for e in drain(resolver)] == [Resolved, Failed]
    assert resolver.cached == 0
    assert resolver.lookup(A, 0.0) is PENDING


def test_expired_entries_are_purged() -> None:
    resolver = SecurityAssociationResolver(
        ResolverSettings(cache_lifetime=10, max_outstanding=1000)
    )
    addresses = [IPv4Address("10.2.0.0") + n for n in range(500)]
    for address in addresses:
        resolver.lookup(address, 0.0)
    for address in requests(resolver):
        resolver.answer(address, Accept((SA,)), 0.0)
    assert resolver.cached == 500
    resolver.lookup(A, 10.0)  # any call past the expiry purges
    assert resolver.cached == 0


def test_answers_for_nothing_in_flight_are_ignored() -> None:
    resolver = SecurityAssociationResolver()
    assert not resolver.answer(A, Accept((SA,)), 0.0)
    resolver.lookup(A, 0.0)  # queued, not sent yet
    assert not resolver.answer(A, Accept((SA,)), 0.0)
    assert resolver.counters.unexpected_answers == 2
    assert drain(resolver) == []


# -- coalescing and the bound on outstanding requests ---------------------------------


def test_lookups_for_one_address_are_coalesced() -> None:
    resolver = SecurityAssociationResolver()
    assert [resolver.lookup(A, 0.0) for _ in range(5)] == [PENDING] * 5
    assert requests(resolver) == [A]
    assert resolver.lookup(A, 0.5) is PENDING  # in flight: still one
    assert requests(resolver) == []
    resolver.answer(A, Accept((SA,)), 1.0)
    assert drain(resolver) == [Resolved(A, (SA,))]
    assert resolver.counters.coalesced == 5


def test_a_burst_of_ten_thousand_visitors_is_bounded() -> None:
    resolver = SecurityAssociationResolver(ResolverSettings(max_outstanding=32, max_pending=10_000))
    addresses = [IPv4Address("10.100.0.0") + n for n in range(10_000)]
    for address in addresses:
        assert resolver.lookup(address, 0.0) is PENDING
    order: list[IPv4Address] = []
    now, peak = 0.0, 0
    while True:
        batch = requests(resolver)
        if not batch:
            break
        order += batch
        peak = max(peak, resolver.outstanding)
        assert resolver.outstanding <= 32
        for address in batch:
            now += 0.001
            resolver.answer(address, Accept((SA,)), now)
    assert peak == 32
    assert order == addresses  # FIFO
    assert resolver.counters.requests == 10_000 and resolver.queued == 0
    assert len(drain(resolver)) == 10_000


def test_an_answer_frees_a_slot_for_the_queue() -> None:
    resolver = SecurityAssociationResolver(ResolverSettings(max_outstanding=1))
    resolver.lookup(A, 0.0)
    resolver.lookup(B, 0.0)
    assert requests(resolver) == [A]
    assert resolver.queued == 1
    resolver.answer(A, Timeout(), 1.0)
    assert requests(resolver) == [B]


def test_cancel_drops_queued_and_backing_off_lookups_only() -> None:
    resolver = SecurityAssociationResolver(ResolverSettings(max_outstanding=1))
    resolver.lookup(A, 0.0)
    resolver.lookup(B, 0.0)
    assert requests(resolver) == [A]
    assert not resolver.cancel(A)  # in flight: runs to its answer
    assert resolver.cancel(B)
    assert resolver.queued == 0 and not resolver.is_pending(B)
    resolver.answer(A, Timeout(), 0.0)
    assert resolver.cancel(A)  # backing off
    assert resolver.get_timer() is None
    assert not resolver.cancel(A)


# -- no server answered: backoff -------------------------------------------------------


def test_timeouts_back_off_from_5_to_300_seconds() -> None:
    resolver = SecurityAssociationResolver()
    now = 0.0
    resolver.lookup(A, now)
    waits = []
    for _ in range(9):
        assert requests(resolver) == [A]
        resolver.answer(A, Timeout(), now)
        [event] = drain(resolver)
        assert isinstance(event, Failed) and event.reason is FailureReason.NO_SERVER
        deadline = resolver.get_timer()
        assert deadline is not None and deadline == event.retry_at
        waits.append(deadline - now)
        assert resolver.lookup(A, now + 1) is PENDING  # coalesced into the retry
        assert requests(resolver) == []  # not before its time
        resolver.handle_timer(deadline - 0.001)
        assert requests(resolver) == []
        now = deadline
        resolver.handle_timer(now)
    assert waits == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    assert requests(resolver) == [A]
    resolver.answer(A, Accept((SA,)), now)
    assert drain(resolver) == [Resolved(A, (SA,))]
    assert resolver.counters.timeouts == 9 and resolver.get_timer() is None


def test_cached_sas_keep_working_while_no_server_answers() -> None:
    resolver = SecurityAssociationResolver()
    resolver.lookup(A, 0.0)
    requests(resolver)
    resolver.answer(A, Accept((SA,)), 0.0)
    resolver.lookup(B, 0.0)
    requests(resolver)
    resolver.answer(B, Timeout(), 0.0)
    for now in (1.0, 50.0, 500.0):
        assert resolver.lookup(A, now) == Cached((SA,))
        resolver.handle_timer(now)
        for address in requests(resolver):
            resolver.answer(address, Timeout(), now)
    assert resolver.is_pending(B)


@settings(max_examples=200)
@given(
    script=st.lists(
        st.tuples(
            st.sampled_from(
                ["lookup", "send", "accept", "reject", "malformed", "timeout", "cancel", "tick"]
            ),
            st.integers(0, 5),
            st.floats(0, 50),
        ),
        max_size=60,
    )
)
def test_invariants_under_any_sequence(script: list[tuple[str, int, float]]) -> None:
    """Outstanding never exceeds the bound, never goes negative, and every
    address is queued at most once."""
    resolver = SecurityAssociationResolver(
        ResolverSettings(max_outstanding=2, cache_lifetime=20, negative_cache_lifetime=5)
    )
    sent: list[IPv4Address] = []
    now = 0.0
    for action, which, step in script:
        now += step
        address = IPv4Address("10.0.0.1") + which
        if action == "lookup":
            resolver.lookup(address, now)
        elif action == "send":
            sent += requests(resolver)
        elif action == "cancel":
            resolver.cancel(address)
        elif action == "tick":
            resolver.handle_timer(now)
        elif sent:
            target = sent.pop(which % len(sent))
            outcome = {
                "accept": Accept((SA,)),
                "reject": Reject(),
                "malformed": Malformed("x"),
                "timeout": Timeout(),
            }[action]
            assert resolver.answer(target, outcome, now)
        assert 0 <= resolver.outstanding <= 2
        assert resolver.outstanding == len(sent)
        assert resolver.queued <= 6
        drain(resolver)


# -- the proxy with a resolver ------------------------------------------------------------

NOW = 1_800_000_000.0
HOME_AGENT = IPv4Address("10.1.1.1")
HOME_NETWORK = IPv4Network("10.1.0.0/16")
FOREIGN_AGENT = IPv4Address("192.0.2.1")
ACCESS_POINT = IPv4Address("192.0.2.50")
FOREIGN_HOME = SecurityAssociation(spi=2000, key=bytes.fromhex("5e4d3c2b1a0918273645546372819aab"))
MAC, OTHER_MAC = "00:11:22:33:44:55", "00:11:22:33:44:66"


class World:
    """AP + FA + HA through a fake link; the HA knows the SAs, the AP does not."""

    def __init__(
        self,
        resolver: SecurityAssociationResolver,
        *,
        local: SecurityAssociationTable | None = None,
    ) -> None:
        nodes = SecurityAssociationTable()
        nodes.add(A, SA)
        nodes.add(B, SA2)
        peers = SecurityAssociationTable()
        peers.add(FOREIGN_AGENT, FOREIGN_HOME)
        self.home_agent = HomeAgent(
            HomeAgentSettings(HOME_AGENT, home_network=HOME_NETWORK),
            mobile_nodes=nodes,
            peers=peers,
            rng=random.Random(1),
        )
        home_agents = SecurityAssociationTable()
        home_agents.add(HOME_AGENT, FOREIGN_HOME)
        self.foreign_agent = ForeignAgent(
            ForeignAgentSettings(FOREIGN_AGENT, max_lifetime=600, advertisement_interval=0.0),
            home_agents=home_agents,
            rng=random.Random(2),
            now=NOW,
        )
        self.proxy = ProxyAgent(
            ProxySettings(
                local_networks=(IPv4Network("192.0.2.0/24"),),
                foreign_agent=StaticForeignAgent(FOREIGN_AGENT),
            ),
            subnet_map=SubnetMap({HOME_NETWORK: HOME_AGENT}),
            host_associations=local or SecurityAssociationTable(),
            rng=random.Random(7),
            sa_resolver=resolver,
        )
        self.resolver = resolver

    def run(self, now: float) -> None:
        engines = {
            ACCESS_POINT: self.proxy,
            FOREIGN_AGENT: self.foreign_agent,
            HOME_AGENT: self.home_agent,
        }
        for _ in range(100):
            moved: list[tuple[IPv4Address, Transmit]] = [
                (source, transmit)
                for source, engine in engines.items()
                for transmit in engine.datagrams_to_send()
            ]
            if not moved:
                return
            for source, transmit in moved:
                engines[transmit.destination].receive_datagram(
                    transmit.data, source, transmit.port, now
                )  # type: ignore[attr-defined]
        raise AssertionError("the link never went quiet")

    def events(self) -> list[object]:
        out = []
        while (event := self.proxy.next_event()) is not None:
            out.append(event)
        return out


def test_visitor_waits_in_sa_pending_then_registers() -> None:
    world = World(SecurityAssociationResolver())
    world.proxy.client_associated(MAC, NOW, address=A)
    world.run(NOW)
    visitor = world.proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.SA_PENDING
    assert visitor.reason == "waiting for the RADIUS server"
    assert world.proxy.sa_requests_to_send() == [A]
    assert world.proxy.sa_requests_to_send() == []
    assert world.proxy.sa_answer(A, Accept((SA2, SA)), NOW + 0.01)
    world.run(NOW + 0.01)
    assert visitor.state is VisitorState.REGISTERED
    assert (visitor.spi, visitor.sa_from_radius, visitor.reason) == (
        SA.spi,
        True,
        None,
    )  # lowest SPI
    assert world.proxy.host_associations.entries() == []  # learnt SAs stay off the configuration
    assert any(isinstance(e, ClientRegistered) for e in world.events())


def test_two_stations_with_one_address_make_one_request() -> None:
    world = World(SecurityAssociationResolver())
    world.proxy.client_associated(MAC, NOW, address=A)
    world.proxy.client_associated(OTHER_MAC, NOW, address=A)
    assert world.proxy.sa_requests_to_send() == [A]
    world.proxy.sa_answer(A, Accept((SA,)), NOW)
    world.run(NOW)
    states = {v.mac: v.state for v in world.proxy.visitors()}
    # The first station to be evaluated holds the address; the other one's
    # claim is refused as an address conflict (issue 13 item 6a: a second MAC
    # never takes an address from a station on the strength of a frame).
    assert states[MAC] is VisitorState.REGISTERED
    assert states[OTHER_MAC] is VisitorState.ASSOCIATED
    assert world.proxy.counters.address_conflicts == 1
    assert world.resolver.counters.requests == 1


def test_cached_sa_registers_at_once() -> None:
    world = World(SecurityAssociationResolver())
    world.proxy.client_associated(MAC, NOW, address=A)
    assert world.proxy.sa_requests_to_send() == [A]
    world.proxy.sa_answer(A, Accept((SA,)), NOW)
    world.run(NOW)
    world.proxy.client_disassociated(MAC, NOW + 1)
    world.run(NOW + 1)
    world.proxy.client_associated(OTHER_MAC, NOW + 2, address=A)
    world.run(NOW + 2)
    visitor = world.proxy.visitor(OTHER_MAC)
    assert visitor is not None and visitor.state is VisitorState.REGISTERED
    assert world.proxy.sa_requests_to_send() == []
    assert world.resolver.counters.cache_hits == 1


def test_access_reject_is_visible_and_asked_again_later() -> None:
    world = World(SecurityAssociationResolver(ResolverSettings(negative_cache_lifetime=60)))
    world.proxy.client_associated(MAC, NOW, address=A)
    world.events()
    world.proxy.sa_requests_to_send()
    world.proxy.sa_answer(A, Reject(), NOW)
    world.run(NOW)
    visitor = world.proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.NO_SECURITY_ASSOCIATION
    assert visitor.reason == "RADIUS: Access-Reject"
    assert world.events() == [ClientNotProxied(MAC, A, NotProxiedReason.NO_SECURITY_ASSOCIATION)]
    assert world.proxy.counters.not_proxied_no_security_association == 1
    assert world.home_agent.bindings() == []
    # The negative-cache entry lapses at NOW + 60: asked again.
    assert world.proxy.get_timer() == NOW + 60
    world.proxy.handle_timer(NOW + 60)
    assert visitor.state is VisitorState.SA_PENDING
    assert world.proxy.sa_requests_to_send() == [A]
    # Refused again, same reason: no new event, no new count.
    world.proxy.sa_answer(A, Reject(), NOW + 60)
    assert visitor.state is VisitorState.NO_SECURITY_ASSOCIATION
    assert world.events() == [] and world.proxy.counters.not_proxied_no_security_association == 1
    # Now the server knows it.
    world.proxy.handle_timer(NOW + 120)
    world.proxy.sa_answer(world.proxy.sa_requests_to_send()[0], Accept((SA,)), NOW + 120)
    world.run(NOW + 120)
    assert visitor.state is VisitorState.REGISTERED and visitor.reason is None


def test_malformed_reply_reason_is_visible() -> None:
    world = World(SecurityAssociationResolver())
    world.proxy.client_associated(MAC, NOW, address=A)
    world.proxy.sa_requests_to_send()
    world.proxy.sa_answer(A, Malformed("Cisco-AVPair reserved-spi: spi#0: the SPI ..."), NOW)
    visitor = world.proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.NO_SECURITY_ASSOCIATION
    assert visitor.reason == "RADIUS: Cisco-AVPair reserved-spi: spi#0: the SPI ..."


def test_no_server_answers_the_visitor_waits_with_backoff() -> None:
    world = World(SecurityAssociationResolver())
    world.proxy.client_associated(MAC, NOW, address=A)
    visitor = world.proxy.visitor(MAC)
    assert visitor is not None
    now = NOW
    for wait in (5, 10, 20):
        [address] = world.proxy.sa_requests_to_send()
        world.proxy.sa_answer(address, Timeout(), now)
        assert visitor.state is VisitorState.SA_PENDING
        assert visitor.reason is not None and "no RADIUS server answered" in visitor.reason
        assert world.proxy.get_timer() == now + wait
        now += wait
        world.proxy.handle_timer(now)
    world.proxy.sa_answer(world.proxy.sa_requests_to_send()[0], Accept((SA,)), now)
    world.run(now)
    assert visitor.state is VisitorState.REGISTERED


def test_a_visitor_that_leaves_cancels_its_lookup() -> None:
    world = World(SecurityAssociationResolver(ResolverSettings(max_outstanding=1)))
    world.proxy.client_associated(MAC, NOW, address=A)
    world.proxy.client_associated(OTHER_MAC, NOW, address=B)
    assert world.proxy.sa_requests_to_send() == [A]
    world.proxy.client_disassociated(OTHER_MAC, NOW)  # B was only queued
    assert world.resolver.queued == 0
    world.proxy.client_disassociated(MAC, NOW)  # A is in flight: its answer is cached
    world.proxy.sa_answer(A, Accept((SA,)), NOW)
    assert world.proxy.visitors() == [] and world.resolver.peek(A, NOW) == (SA,)
    # A lookup backing off for a visitor that left is dropped at its next failure.
    world.proxy.client_associated(MAC, NOW, address=B)
    world.proxy.sa_requests_to_send()
    world.proxy.client_disassociated(MAC, NOW)
    world.proxy.sa_answer(B, Timeout(), NOW)
    assert not world.resolver.is_pending(B) and world.proxy.get_timer() is None


def test_local_sa_wins_and_reevaluate_keeps_learnt_sas() -> None:
    local = SecurityAssociationTable()
    local.add(B, SA2)
    world = World(SecurityAssociationResolver(), local=local)
    world.proxy.client_associated(OTHER_MAC, NOW, address=B)  # local SA: RADIUS not asked
    world.proxy.client_associated(MAC, NOW, address=A)
    assert world.proxy.sa_requests_to_send() == [A]
    world.proxy.sa_answer(A, Accept((SA,)), NOW)
    world.run(NOW)
    sent_before = world.proxy.counters.requests_sent
    world.proxy.reevaluate(NOW + 1)  # e.g. after a configuration change
    world.run(NOW + 1)
    assert world.proxy.counters.requests_sent == sent_before  # nobody re-registered
    assert {v.state for v in world.proxy.visitors()} == {VisitorState.REGISTERED}


def test_without_a_resolver_nothing_changes() -> None:
    proxy = ProxyAgent(
        ProxySettings(foreign_agent=StaticForeignAgent(FOREIGN_AGENT)),
        subnet_map=SubnetMap({HOME_NETWORK: HOME_AGENT}),
        host_associations=SecurityAssociationTable(),
    )
    proxy.client_associated(MAC, NOW, address=A)
    visitor = proxy.visitor(MAC)
    assert visitor is not None and visitor.state is VisitorState.NO_SECURITY_ASSOCIATION
    assert visitor.reason == f"no host security association covers {A}"  # no RADIUS wording
    assert proxy.sa_requests_to_send() == [] and not proxy.sa_answer(A, Accept((SA,)), NOW)


@pytest.mark.parametrize("max_outstanding", [1, 16])
def test_proxy_burst_of_visitors_is_bounded(max_outstanding: int) -> None:
    world = World(SecurityAssociationResolver(ResolverSettings(max_outstanding=max_outstanding,
                                                               max_pending=2000)))
    for n in range(2000):
        world.proxy.client_associated(
            f"02:00:00:00:{n >> 8:02x}:{n & 0xFF:02x}", NOW, address=IPv4Address("10.1.100.0") + n
        )
    answered = 0
    while batch := world.proxy.sa_requests_to_send():
        assert len(batch) <= max_outstanding
        for address in batch:
            world.proxy.sa_answer(address, Reject(), NOW)
            answered += 1
    assert answered == 2000
    assert {v.state for v in world.proxy.visitors()} == {VisitorState.NO_SECURITY_ASSOCIATION}
