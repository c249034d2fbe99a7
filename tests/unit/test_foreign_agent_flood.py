"""A foreign agent flooded with unauthenticated requests still relays and
registers a valid node (docs/security.md, fuzzing finding 7), sans-IO on
virtual time.

Without an MN-FA security association the FA cannot authenticate a request
(RFC 5944 §3.7.2.1 makes the MFAE conditional on one), so anyone can have a
well-formed request for any home address relayed and held pending until its
home agent answers or the pending timeout passes (§3.7.1). What the FA can
tell senders apart by is where requests come from: §3.7.1 keeps the IP source
address and UDP source port of each pending request. The bounds
(agent/mobileip/pending_table.py): per-node slots per home address *and*
requester, one requester per (home address, Identification) exchange, and,
when the table is full, the oldest request of the heaviest sender evicted
(source address first, then port).

The flood here is the worst case for the table: well-formed requests (a
malformed one is denied 70 and never held) naming home agents that never
answer, so every one stays until the pending timeout.
"""

from __future__ import annotations

import random
from dataclasses import replace
from ipaddress import IPv4Address

import pytest

from agent.mobileip.builder import build_request
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.numbers import MOBILE_IP_PORT, ExtensionType
from agent.mobileip.outputs import Transmit
from agent.mobileip.pending_table import LoadTracker
from agent.mobileip.registration import RegistrationReply, decode_reply, decode_request
from agent.mobileip.security import SecurityAssociation, authenticate

MHAE = ExtensionType.MOBILE_HOME_AUTHENTICATION
NOW = 1_800_000_000.0
NTP_EPOCH_OFFSET = 2_208_988_800

FOREIGN_AGENT = IPv4Address("127.0.0.3")
HOME_AGENT = IPv4Address("127.0.0.2")
NODE_HOME = IPv4Address("192.0.2.150")
NODE_SOURCE = IPv4Address("127.0.0.9")
NODE_PORT = 40000
NODE_KEY = SecurityAssociation(spi=256, key=bytes.fromhex("5a5a0102030405060708090a0b0c0d0e"))
#: The fuzz harness's senders: the node's own address (other ports), the FA's, the HA's.
FLOOD_SOURCES = (NODE_SOURCE, IPv4Address("127.0.0.3"), IPv4Address("127.0.0.2"))
GARBAGE_KEY = SecurityAssociation(spi=256, key=b"not the node's key")


def ntp(posix_seconds: float, low: int) -> int:
    return ((int(posix_seconds) + NTP_EPOCH_OFFSET) << 32) | low


def make_foreign_agent(**settings: object) -> ForeignAgent:
    return ForeignAgent(
        ForeignAgentSettings(FOREIGN_AGENT, advertisement_interval=0.0, **settings),  # type: ignore[arg-type]
        rng=random.Random(5944),
        now=NOW,
    )


def garbage(rng: random.Random, now: float, *, node_home_too: bool = True) -> bytes:
    """A well-formed request nobody will answer: any home address in the
    node's network (half of them the node's own), a home agent that is not
    there, a key the FA cannot check."""
    home = IPv4Address("192.0.2.0") + rng.randint(1, 254)
    if node_home_too and rng.random() < 0.5:
        home = NODE_HOME
    return build_request(
        home_address=home, home_agent=IPv4Address("198.51.100.0") + rng.randint(1, 254),
        care_of_address=FOREIGN_AGENT, identification=ntp(now, rng.getrandbits(32)),
        lifetime=300, sa=GARBAGE_KEY)


def node_request(identification: int) -> bytes:
    return build_request(home_address=NODE_HOME, home_agent=HOME_AGENT, care_of_address=FOREIGN_AGENT,
                         identification=identification, lifetime=300, sa=NODE_KEY)


def home_agent_accept(request: bytes) -> bytes:
    """The home agent's accept for a relayed request (RFC 5944 §3.8.3.1)."""
    decoded = decode_request(request)
    return authenticate(RegistrationReply(0, decoded.lifetime, decoded.home_address, HOME_AGENT,
                                          decoded.identification).encode_header(), MHAE, NODE_KEY)


def send(fa: ForeignAgent, data: bytes, source: IPv4Address, port: int, now: float) -> list[Transmit]:
    fa.receive_datagram(data, source, port, now)
    while fa.next_event() is not None:
        pass
    return fa.datagrams_to_send()


def run_timers(fa: ForeignAgent, now: float) -> None:
    deadline = fa.get_timer()
    if deadline is not None and deadline <= now:
        fa.handle_timer(now)
        fa.datagrams_to_send()


# -- the node registers through a flood ------------------------------------------------------


@pytest.mark.parametrize("flood_ports", [1, 64], ids=["one-port-per-source", "64-ports-per-source"])
def test_a_valid_node_is_relayed_and_registered_during_a_flood(flood_ports: int) -> None:
    """The fuzz finding, scaled down: 1,000 relayable requests a second (from
    the node's own address on other ports, from the FA's and the HA's, as the
    harness sent them; half name the node's home address), for 15 s of
    virtual time, every one held until the 7 s timeout, against a table of
    2,000 (full after 2 s). Once a second the node registers: every one of
    its 15 requests is relayed at once and its accept registers it; none is
    denied. Before the fix the node got 66 once the table was full, and
    whenever 5 requests for its home address were pending."""
    fa = make_foreign_agent(max_pending=2_000)  # per node 5, timeout 7 s
    rng = random.Random(7)
    rate, seconds = 1_000, 15
    node_registrations = 0
    most_pending = 0
    now = NOW
    for n in range(rate * seconds):
        now = NOW + n / rate
        run_timers(fa, now)
        source = FLOOD_SOURCES[n % len(FLOOD_SOURCES)]
        send(fa, garbage(rng, now), source, 50000 + rng.randrange(flood_ports), now)
        most_pending = max(most_pending, fa.pending_count)
        if n % rate == rate // 2:  # once a second, mid-flood
            identification = ntp(now, 0x5EED0000 + n // rate)
            out = send(fa, node_request(identification), NODE_SOURCE, NODE_PORT, now)
            relayed = [t for t in out if (t.destination, t.port) == (HOME_AGENT, MOBILE_IP_PORT)]
            assert len(relayed) == 1, [decode_reply(t.data).code for t in out if t not in relayed]
            # Its home agent answers a millisecond later, while the flood goes on.
            for _ in range(5):
                send(fa, garbage(rng, now), FLOOD_SOURCES[rng.randrange(3)], 50000 + rng.randrange(flood_ports), now)
            [to_node] = send(fa, home_agent_accept(relayed[0].data), HOME_AGENT, MOBILE_IP_PORT, now + 0.001)
            assert (to_node.destination, to_node.port) == (NODE_SOURCE, NODE_PORT)
            assert decode_reply(to_node.data).code == 0
            visitor = fa.visitor(NODE_HOME)
            assert visitor is not None and visitor.identification == identification
            node_registrations += 1
    assert node_registrations == seconds
    counters = fa.counters
    # The table stayed within its bound, full; what the flood lost is counted.
    assert most_pending == fa.settings.max_pending
    assert counters.pending_evicted > 1_000
    # Each request was relayed, refused 66 (per node or table full), or, once
    # the node was a visitor of its home agent, refused 65 when it named
    # another (visitor-conflicts); evicted ones were relayed first, then
    # answered 66 too.
    refused = counters.insufficient_resource - counters.pending_evicted
    assert counters.admin_prohibited == counters.visitor_conflicts > 0
    assert counters.reg_requests_received == (
        counters.reg_requests_relayed + refused + counters.admin_prohibited)
    assert counters.reg_requests_received == rate * seconds + 6 * seconds


def test_requests_for_a_nodes_home_address_from_elsewhere_do_not_take_its_slots() -> None:
    """The audit's known gap: 5 requests for a victim's home address from
    another host made the victim's renewal get 66 (RFC 5944 §3.7.1's per-node
    bound counted per home address). Now per home address and requester."""
    fa = make_foreign_agent()
    for low in range(5):
        send(fa, node_request(ntp(NOW, low)), IPv4Address("203.0.113.5"), 40000, NOW)
    assert fa.pending_count == 5
    # The attacker's sixth is refused: its own slots for that home address are used up.
    [refused] = send(fa, node_request(ntp(NOW, 5)), IPv4Address("203.0.113.5"), 40000, NOW)
    assert decode_reply(refused.data).code == 66
    # The node itself still has its five.
    for low in range(10, 15):
        [relayed] = send(fa, node_request(ntp(NOW, low)), NODE_SOURCE, NODE_PORT, NOW)
        assert (relayed.destination, relayed.port) == (HOME_AGENT, MOBILE_IP_PORT)
    [sixth] = send(fa, node_request(ntp(NOW, 15)), NODE_SOURCE, NODE_PORT, NOW)
    assert decode_reply(sixth.data).code == 66  # RFC 5944 §3.7.1, "typically 5": still bound
    assert fa.counters.insufficient_resource == 2
    assert fa.counters.pending_evicted == fa.counters.pending_table_full == 0


def test_a_copy_of_a_pending_request_from_another_requester_does_not_take_its_reply() -> None:
    """RFC 5944 §3.7.3.1 matches a reply by home address and low-order 32 bits
    of Identification. A copy of the node's pending request sent from
    elsewhere used to replace the node's entry, so the home agent's accept
    went to the copier and the visitor pointed at it. Now the first requester
    keeps the entry; the copy is refused 66 and counted."""
    fa = make_foreign_agent()
    identification = ntp(NOW, 0xABCD)
    [relayed] = send(fa, node_request(identification), NODE_SOURCE, NODE_PORT, NOW)
    copier = IPv4Address("127.0.0.66")
    [refused] = send(fa, node_request(identification), copier, NODE_PORT, NOW)
    assert (refused.destination, decode_reply(refused.data).code) == (copier, 66)
    assert fa.counters.pending_identification_in_use == 1
    # The node's retransmission of it (same requester) is relayed again.
    [again] = send(fa, node_request(identification), NODE_SOURCE, NODE_PORT, NOW + 1)
    assert (again.destination, again.port) == (HOME_AGENT, MOBILE_IP_PORT)
    [to_node] = send(fa, home_agent_accept(relayed.data), HOME_AGENT, MOBILE_IP_PORT, NOW + 1)
    assert (to_node.destination, to_node.port) == (NODE_SOURCE, NODE_PORT)
    visitor = fa.visitor(NODE_HOME)
    assert visitor is not None and (visitor.source_address, visitor.source_port) == (NODE_SOURCE, NODE_PORT)
    assert fa.pending_count == 0


def test_a_full_table_evicts_from_the_heaviest_source_then_its_heaviest_port() -> None:
    """Longest-queue drop, two levels: a new source takes the oldest entry of
    the source holding the most; a new port of the heaviest source takes the
    oldest of that source's heaviest port; the heaviest port itself is
    refused (it would only evict itself)."""
    fa = make_foreign_agent(max_pending=6)
    heavy, light = IPv4Address("198.51.100.1"), IPv4Address("198.51.100.2")
    homes = iter(IPv4Address("192.0.2.0") + i for i in range(1, 200))

    def request_from(source: IPv4Address, port: int, low: int) -> list[Transmit]:
        data = build_request(home_address=next(homes), home_agent=HOME_AGENT, care_of_address=FOREIGN_AGENT,
                             identification=ntp(NOW, low), lifetime=300, sa=GARBAGE_KEY)
        return send(fa, data, source, port, NOW)

    for low in range(3):
        request_from(heavy, 1000, low)  # heavy:1000 holds 3
    request_from(heavy, 1001, 3)  # heavy:1001 holds 1
    request_from(light, 1000, 4)
    request_from(light, 1001, 5)  # full: heavy 4, light 2
    out = request_from(IPv4Address("198.51.100.3"), 1000, 6)
    assert [(t.destination, t.port) for t in out][0] == (heavy, 1000)
    assert decode_reply(out[0].data).identification == ntp(NOW, 0)  # the oldest of heavy:1000
    out = request_from(heavy, 1002, 7)  # heavy is the top source: compete within it
    assert (out[0].destination, out[0].port, decode_reply(out[0].data).identification) == (heavy, 1000, ntp(NOW, 1))
    [refused] = request_from(heavy, 1000, 8)  # heavy:1000 is tied at the top of heavy: refused
    assert (refused.destination, decode_reply(refused.data).code) == (heavy, 66)
    assert (fa.counters.pending_evicted, fa.counters.pending_table_full) == (2, 1)
    assert fa.pending_count == 6 and fa.pending_sources == 3


def test_flood_entries_leave_by_the_pending_timeout() -> None:
    """Entries live at most pending-timeout (RFC 5944 §3.7.1: a pending request
    MAY be dropped after 7 s, answered 78): the table empties by itself."""
    fa = make_foreign_agent(pending_timeout=7.0)
    rng = random.Random(3)
    for n in range(1_000):
        send(fa, garbage(rng, NOW, node_home_too=False), FLOOD_SOURCES[n % 3], 50000 + n % 7, NOW)
    held = fa.pending_count
    assert held > 900
    run_timers(fa, NOW + 6.999)
    assert fa.pending_count == held
    run_timers(fa, NOW + 7.0)
    assert fa.pending_count == 0 and fa.pending_sources == 0
    assert fa.counters.registration_timeouts == held


# -- the load tracker -----------------------------------------------------------------------


def test_load_tracker_agrees_with_counting_by_hand() -> None:
    tracker: LoadTracker[int] = LoadTracker()
    counts: dict[int, int] = {}
    rng = random.Random(11)
    for _ in range(20_000):
        key = rng.randrange(12)
        if counts.get(key) and rng.random() < 0.5:
            tracker.remove(key)
            counts[key] -= 1
            if not counts[key]:
                del counts[key]
        else:
            tracker.add(key)
            counts[key] = counts.get(key, 0) + 1
        largest = max(counts.values(), default=0)
        assert tracker.largest == largest
        assert len(tracker) == len(counts)
        if largest:
            assert counts[tracker.heaviest()] == largest


def test_a_live_change_of_the_bounds_applies_to_the_next_request() -> None:
    """The live configuration replaces the engine's settings
    (agent/live_config.py): a lowered max-pending or max-pending-per-node
    bounds the next request; a table above the new max drains by the timeout."""
    fa = make_foreign_agent(max_pending=10)
    sources = [IPv4Address("198.51.100.0") + n for n in range(1, 5)]
    for n, source in enumerate(sources):
        send(fa, node_request(ntp(NOW, n)), source, NODE_PORT, NOW)
    assert fa.pending_count == 4
    fa.settings = replace(fa.settings, max_pending=2)
    [refused] = send(fa, node_request(ntp(NOW, 10)), sources[0], NODE_PORT, NOW)  # holds as many as any
    assert decode_reply(refused.data).code == 66 and fa.counters.pending_table_full == 1
    fa.settings = replace(fa.settings, max_pending=10, max_pending_per_node=1)
    [refused] = send(fa, node_request(ntp(NOW, 11)), sources[0], NODE_PORT, NOW)
    assert decode_reply(refused.data).code == 66 and fa.counters.pending_table_full == 1
    assert fa.counters.insufficient_resource == 2
