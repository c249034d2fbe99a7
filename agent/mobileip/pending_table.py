"""The foreign agent's pending registrations (RFC 5944 §3.7.1), bounded so that
no sender can take another's room.

A foreign agent without an MN-FA security association cannot authenticate a
request (§3.7.2.1 makes the MFAE conditional on one), so whoever can send it a
datagram can name any home address and have the request relayed and held
until its home agent answers or ``pending_timeout`` passes. What the FA can
tell senders apart by is where a request came from: §3.7.1 lists the
link-layer source, the IP source address and the UDP source port in each
pending entry. So:

- **per node**: at most ``max_per_node`` (§3.7.1, "typically 5") entries per
  home address *and requester* (IP source address, UDP source port). Requests
  from elsewhere naming a victim's home address use their own slots, never
  the victim's.
- **one requester per exchange**: a reply is matched by home address and the
  low-order 32 bits of Identification (§3.7.3.1); an entry belongs to the
  requester that sent it first. A copy from another requester neither
  replaces it (which would send the victim's reply elsewhere) nor is held
  beside it.
- **global**: at most ``max_entries``. When full, room is made by evicting
  the oldest entry of the heaviest sender (longest-queue drop): the source
  address holding the most entries, and within it the requester (port)
  holding the most. A requester that is itself at the top at both levels is
  refused instead. So a flood from one address only ever displaces its own
  entries once it is the largest, and a node that holds nothing always gets
  in. Every operation here is O(1).

Entries live at most ``pending_timeout`` (the foreign agent's timer, §3.7.1):
unanswered garbage leaves by itself.

Keys are plain integers (an ``IPv4Address`` hashes through Python code, and
each request touches several of these tables).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

#: Home address << 32 | low-order 32 bits of Identification: what a reply
#: names (§3.7.3.1); ``pending_key`` makes one.
PendingKey = int
#: (IP source address, UDP source port) of a request (§3.7.1).
Requester = tuple[IPv4Address, int]


def pending_key(home_address: IPv4Address, identification: int) -> PendingKey:
    return (int(home_address) << 32) | (identification & 0xFFFFFFFF)


def _requester_id(source: IPv4Address, port: int) -> int:
    return (int(source) << 16) | port


@dataclass(slots=True)
class PendingRegistration:
    home_address: IPv4Address
    home_agent: IPv4Address
    care_of_address: IPv4Address
    source_address: IPv4Address
    source_port: int
    flags: int
    identification: int
    lifetime: int
    received_at: float


class LoadTracker(Generic[K]):
    """A count per key, with a key holding the largest count found in O(1)
    (counts move by one, so the buckets of keys by count stay contiguous)."""

    __slots__ = ("_count", "_by_count", "largest")

    def __init__(self) -> None:
        self._count: dict[K, int] = {}
        #: count -> keys with that count (insertion-ordered: the longest there first).
        self._by_count: dict[int, dict[K, None]] = {}
        self.largest = 0

    def __len__(self) -> int:
        return len(self._count)

    def count(self, key: K) -> int:
        return self._count.get(key, 0)

    def heaviest(self) -> K:
        return next(iter(self._by_count[self.largest]))

    def add(self, key: K) -> None:
        count = self._count.get(key, 0)
        if count:
            self._leave_bucket(key, count)
        count += 1
        self._count[key] = count
        self._by_count.setdefault(count, {})[key] = None
        if count > self.largest:
            self.largest = count

    def remove(self, key: K) -> None:
        count = self._count[key]
        self._leave_bucket(key, count)
        if count == self.largest and count not in self._by_count:
            self.largest = count - 1
        if count == 1:
            del self._count[key]
        else:
            self._count[key] = count - 1
            self._by_count.setdefault(count - 1, {})[key] = None

    def _leave_bucket(self, key: K, count: int) -> None:
        bucket = self._by_count[count]
        del bucket[key]
        if not bucket:
            del self._by_count[count]


class Refusal(Exception):
    """No room for a request; ``reason`` names the bound (for the counters)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


PER_NODE = "per-node"
IN_USE = "identification-in-use"
FULL = "full"


class PendingTable:
    """The bounds are passed to ``make_room`` on each request, so that a
    live configuration change of them applies to the next request (a table
    over a lowered ``max_entries`` drains by the pending timeout)."""

    def __init__(self) -> None:
        self._entries: dict[PendingKey, PendingRegistration] = {}
        #: requester (source << 16 | port) -> its entries' keys, oldest first.
        self._by_requester: dict[int, dict[PendingKey, None]] = {}
        #: home address << 48 | requester -> entries (the per-node bound).
        self._per_node: dict[int, int] = {}
        #: entries per source address (as an integer).
        self._sources: LoadTracker[int] = LoadTracker()
        #: source address -> entries per UDP port of that source.
        self._ports: dict[int, LoadTracker[int]] = {}
        #: (home address, home agent) -> pending deregistrations (lifetime 0).
        self._deregistrations: dict[tuple[IPv4Address, IPv4Address], int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[PendingRegistration]:
        return iter(self._entries.values())

    def get(self, key: PendingKey) -> PendingRegistration | None:
        return self._entries.get(key)

    @property
    def sources(self) -> int:
        """Source addresses holding entries now."""
        return len(self._sources)

    def deregistration_pending(self, home: IPv4Address, home_agent: IPv4Address) -> bool:
        return (home, home_agent) in self._deregistrations

    def make_room(
        self, key: PendingKey, requester: Requester, *, max_entries: int, max_per_node: int
    ) -> PendingKey | None:
        """Check that a request from ``requester`` for exchange ``key`` may be
        held. Returns the key of the entry to evict first (another sender's,
        when the table is full), or None; raises ``Refusal`` when the request
        itself must be refused. A retransmission (same key, same requester)
        replaces its own entry and needs no room."""
        held = self._entries.get(key)
        if held is not None:
            if (held.source_address, held.source_port) == requester:
                return None
            raise Refusal(IN_USE)
        requester_id = _requester_id(*requester)
        if self._per_node.get((key >> 32 << 48) | requester_id, 0) >= max_per_node:
            raise Refusal(PER_NODE)
        if len(self._entries) < max_entries:
            return None
        return self._eviction_for(requester_id)

    def _eviction_for(self, requester_id: int) -> PendingKey:
        source, port = requester_id >> 16, requester_id & 0xFFFF
        sources = self._sources
        if sources.count(source) < sources.largest:
            heavy_source = sources.heaviest()
            ports = self._ports[heavy_source]
            return self._oldest((heavy_source << 16) | ports.heaviest())
        # Our own source holds the most: compete with its other ports only.
        ports = self._ports[source]
        if ports.count(port) < ports.largest:
            return self._oldest((source << 16) | ports.heaviest())
        raise Refusal(FULL)

    def _oldest(self, requester_id: int) -> PendingKey:
        return next(iter(self._by_requester[requester_id]))

    def add(self, key: PendingKey, entry: PendingRegistration) -> None:
        """Hold ``entry`` (after ``make_room``); replaces the requester's own
        entry for the same key."""
        if key in self._entries:
            self.remove(key)
        source = int(entry.source_address)
        requester_id = (source << 16) | entry.source_port
        self._entries[key] = entry
        self._by_requester.setdefault(requester_id, {})[key] = None
        node = (key >> 32 << 48) | requester_id
        self._per_node[node] = self._per_node.get(node, 0) + 1
        self._sources.add(source)
        ports = self._ports.get(source)
        if ports is None:
            ports = self._ports[source] = LoadTracker()
        ports.add(entry.source_port)
        if entry.lifetime == 0:
            leaving = (entry.home_address, entry.home_agent)
            self._deregistrations[leaving] = self._deregistrations.get(leaving, 0) + 1

    def remove(self, key: PendingKey) -> PendingRegistration | None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        source = int(entry.source_address)
        requester_id = (source << 16) | entry.source_port
        keys = self._by_requester[requester_id]
        del keys[key]
        if not keys:
            del self._by_requester[requester_id]
        node = (key >> 32 << 48) | requester_id
        if self._per_node[node] == 1:
            del self._per_node[node]
        else:
            self._per_node[node] -= 1
        self._sources.remove(source)
        ports = self._ports[source]
        ports.remove(entry.source_port)
        if not len(ports):
            del self._ports[source]
        if entry.lifetime == 0:
            leaving = (entry.home_address, entry.home_agent)
            if self._deregistrations[leaving] == 1:
                del self._deregistrations[leaving]
            else:
                self._deregistrations[leaving] -= 1
        return entry


__all__ = ["FULL", "IN_USE", "PER_NODE", "LoadTracker", "PendingKey", "PendingRegistration",
           "PendingTable", "Refusal", "Requester", "pending_key"]
