"""Mobility security associations looked up from RADIUS, sans-IO.

The resolver decides *what* to ask and *what to remember*; the adapter
(``agent/radius/client.py``) does the asking. It reads no clock and does no
I/O: it is fed ``now`` and the outcome of each Access-Request, and hands out
the addresses to ask for, its timer and events (the aioquic shape):

- ``lookup(address, now)`` -> :class:`Cached` (SAs known), :class:`Rejected`
  (recently refused: the negative cache) or :data:`PENDING` (asked, or queued);
- ``next_request()`` -> the next home address to send an Access-Request for;
- ``answer(address, outcome, now)`` with :class:`Accept`, :class:`Reject`,
  :class:`Malformed` or :class:`Timeout`;
- ``get_timer()`` / ``handle_timer(now)``: retries of lookups no server answered;
- ``next_event()`` -> :class:`Resolved` or :class:`Failed`.

Rules:

- One lookup per home address at a time: a second ``lookup`` for an address
  already asked (or queued, or waiting to retry) is coalesced into it.
- At most ``max_outstanding`` lookups are in flight; the rest wait in a FIFO
  queue, so a burst of new visitors cannot flood the servers.
- At most ``max_pending`` addresses are being looked up at once (queued, in
  flight or backing off). A lookup beyond that is refused at once, counted
  (``overflow``) and answered :class:`Rejected` with reason ``OVERLOADED``,
  which nothing caches: the home agent answers 130 (insufficient resources,
  RFC 5944 §3.8.2.1) and the proxy asks again later. The home address in a
  Registration Request is read before anything authenticates it, so without
  this bound a flood naming random addresses would hold one lookup each.
- An Access-Accept is cached for ``cache_lifetime`` seconds, an Access-Reject
  or a malformed reply for ``negative_cache_lifetime`` (0 turns a cache off).
  Each cache also holds at most ``cache_size`` / ``negative_cache_size``
  addresses; a new entry beyond that evicts the oldest of its kind (the one
  nearest its expiry). The two are bounded apart so that refusals, which a
  flood of unknown addresses can make by the thousand, never evict a node's
  SAs.
- When no server answered (every server timed out, or all are dead) the
  address is retried after 5 s, doubling up to 300 s, until a server answers or
  the caller :meth:`cancel`\\ s it; cached addresses keep resolving meanwhile.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict, deque
from dataclasses import dataclass, fields
from ipaddress import IPv4Address

from agent.mobileip.deadlines import Deadlines
from agent.mobileip.security import SecurityAssociation

# -- outcomes of one Access-Request (fed in by the adapter) -------------------------


@dataclass(frozen=True, slots=True)
class Accept:
    """Access-Accept carrying the node's SAs, ordered by ``spi#N``."""

    sas: tuple[SecurityAssociation, ...]


@dataclass(frozen=True, slots=True)
class Reject:
    """Access-Reject (RFC 2865 §4.3)."""

    reply_message: str | None = None


@dataclass(frozen=True, slots=True)
class Malformed:
    """An authenticated reply whose content is unusable (an AV-pair that does not
    parse, an Access-Accept without an SA, an unexpected code)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Timeout:
    """No server answered (after every retry of every server)."""


Outcome = Accept | Reject | Malformed | Timeout


# -- results of lookup() -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cached:
    sas: tuple[SecurityAssociation, ...]


@dataclass(frozen=True, slots=True)
class Rejected:
    """Refused recently (the negative cache), until ``until``."""

    reason: FailureReason
    detail: str
    until: float


@dataclass(frozen=True, slots=True)
class Pending:
    pass


PENDING = Pending()
LookupResult = Cached | Rejected | Pending


# -- events -----------------------------------------------------------------------------


class FailureReason(enum.Enum):
    REJECTED = "rejected"
    MALFORMED = "malformed"
    NO_SERVER = "no-server-answered"
    #: ``max_pending`` lookups already under way: not asked, not cached.
    OVERLOADED = "too-many-lookups"


@dataclass(frozen=True, slots=True)
class Resolved:
    address: IPv4Address
    sas: tuple[SecurityAssociation, ...]


@dataclass(frozen=True, slots=True)
class Failed:
    """A lookup ended without SAs. ``retry_at`` is when the resolver asks again
    by itself (NO_SERVER) or when the negative cache entry lapses (REJECTED,
    MALFORMED; ``None`` with no negative cache)."""

    address: IPv4Address
    reason: FailureReason
    detail: str
    retry_at: float | None = None


ResolverEvent = Resolved | Failed


# -- state -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolverSettings:
    cache_lifetime: float = 3600.0
    negative_cache_lifetime: float = 60.0
    #: Access-Requests in flight at once (each a lookup for one address).
    max_outstanding: int = 64
    #: Addresses being looked up at once (queued, in flight, backing off):
    #: the home agent's default bound on requests waiting for SAs.
    max_pending: int = 10_000
    #: Addresses in the cache of SAs (filled only by Access-Accepts, so by
    #: nodes the servers know: the home agent's default max-bindings), and
    #: in the cache of refusals (anyone can fill it).
    cache_size: int = 200_000
    negative_cache_size: int = 10_000
    #: Backoff for addresses no server answered: first wait, doubling, cap.
    retry_initial: float = 5.0
    retry_max: float = 300.0

    def __post_init__(self) -> None:
        if self.max_outstanding < 1:
            raise ValueError("max_outstanding must be at least 1")
        if self.max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        if self.cache_size < 0 or self.negative_cache_size < 0:
            raise ValueError("cache sizes must not be negative")
        if self.cache_lifetime < 0 or self.negative_cache_lifetime < 0:
            raise ValueError("cache lifetimes must not be negative")
        if not 0 < self.retry_initial <= self.retry_max:
            raise ValueError("need 0 < retry_initial <= retry_max")


@dataclass
class ResolverCounters:
    requests: int = 0  # lookups handed to the adapter (one Access-Request exchange each)
    accepts: int = 0
    rejects: int = 0
    timeouts: int = 0
    malformed: int = 0
    cache_hits: int = 0
    negative_cache_hits: int = 0
    coalesced: int = 0  # lookups joined to one already under way
    unexpected_answers: int = 0  # answers for an address not in flight
    overflow: int = 0  # lookups refused: max_pending already under way
    evicted: int = 0  # cache entries dropped before their time (cache full)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Phase(enum.Enum):
    QUEUED = "queued"
    SENT = "sent"
    BACKOFF = "backoff"


@dataclass(slots=True)
class _Lookup:
    phase: _Phase
    backoff: float = 0.0


@dataclass(slots=True)
class _Entry:
    expires_at: float
    #: What lookup() answers while the entry lives (built once, not per hit).
    result: Cached | Rejected


class SecurityAssociationResolver:
    def __init__(self, settings: ResolverSettings | None = None) -> None:
        self.settings = settings or ResolverSettings()
        self.counters = ResolverCounters()
        #: The cache of SAs [0] and of refusals [1], each in insertion order:
        #: with one lifetime per kind that is expiry order, so purging and
        #: eviction only ever look at the head. An address is in one at most.
        self._caches: tuple[OrderedDict[IPv4Address, _Entry], ...] = (OrderedDict(), OrderedDict())
        #: The earliest expiry at the heads (inf: both empty), so that a lookup
        #: tests one float rather than looking at the heads each time.
        self._next_expiry = math.inf
        self._lookups: dict[IPv4Address, _Lookup] = {}
        self._queue: OrderedDict[IPv4Address, None] = OrderedDict()
        self._outstanding = 0
        self._retries: Deadlines[IPv4Address] = Deadlines()
        self._events: deque[ResolverEvent] = deque()

    # -- queries --------------------------------------------------------------------

    def lookup(self, address: IPv4Address, now: float) -> LookupResult:
        """The SAs of ``address``, or why not, or PENDING (an Access-Request is
        queued or under way; a :class:`Resolved` or :class:`Failed` event follows)."""
        if self._next_expiry <= now:
            self._purge(now)
        positive, negative = self._caches
        entry = positive.get(address)
        if entry is None:
            entry = negative.get(address)
        if entry is not None:
            if entry.expires_at > now:
                result = entry.result
                if type(result) is Cached:
                    self.counters.cache_hits += 1
                else:
                    self.counters.negative_cache_hits += 1
                return result
            self.forget(address)
        if address in self._lookups:
            self.counters.coalesced += 1
            return PENDING
        if len(self._lookups) >= self.settings.max_pending:
            self.counters.overflow += 1
            return Rejected(FailureReason.OVERLOADED, "too many RADIUS lookups pending",
                            now + self.settings.retry_initial)
        self._lookups[address] = _Lookup(_Phase.QUEUED)
        self._queue[address] = None
        return PENDING

    def peek(self, address: IPv4Address, now: float) -> tuple[SecurityAssociation, ...] | None:
        """Cached SAs of ``address`` without asking anyone or counting a hit."""
        entry = self._caches[0].get(address)
        if entry is None or entry.expires_at <= now or not isinstance(entry.result, Cached):
            return None
        return entry.result.sas

    def is_pending(self, address: IPv4Address) -> bool:
        return address in self._lookups

    @property
    def outstanding(self) -> int:
        """Access-Requests handed out and not answered yet."""
        return self._outstanding

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def backing_off(self) -> int:
        return len(self._retries)

    @property
    def cached(self) -> int:
        return len(self._caches[0]) + len(self._caches[1])

    @property
    def pending(self) -> int:
        """Addresses being looked up: queued, in flight or backing off."""
        return len(self._lookups)

    # -- adapter interface ----------------------------------------------------------

    def next_request(self) -> IPv4Address | None:
        """The next address to send an Access-Request for, or None (nothing
        queued, or ``max_outstanding`` already in flight)."""
        if not self._queue or self._outstanding >= self.settings.max_outstanding:
            return None
        address, _ = self._queue.popitem(last=False)
        self._lookups[address].phase = _Phase.SENT
        self._outstanding += 1
        self.counters.requests += 1
        return address

    def answer(self, address: IPv4Address, outcome: Outcome, now: float) -> bool:
        """The outcome of the Access-Request for ``address``. False (and counted)
        when no request for it is in flight: the answer is ignored."""
        lookup = self._lookups.get(address)
        if lookup is None or lookup.phase is not _Phase.SENT:
            self.counters.unexpected_answers += 1
            return False
        self._outstanding -= 1
        self._purge(now)
        s = self.settings
        if isinstance(outcome, Accept):
            self.counters.accepts += 1
            del self._lookups[address]
            self._remember(address, _Entry(now + s.cache_lifetime, Cached(outcome.sas)), now)
            self._events.append(Resolved(address, outcome.sas))
        elif isinstance(outcome, Timeout):
            self.counters.timeouts += 1
            lookup.backoff = (
                min(s.retry_max, lookup.backoff * 2) if lookup.backoff else s.retry_initial
            )
            lookup.phase = _Phase.BACKOFF
            retry_at = now + lookup.backoff
            self._retries.schedule(address, retry_at)
            self._events.append(
                Failed(address, FailureReason.NO_SERVER, "no RADIUS server answered", retry_at)
            )
        else:
            if isinstance(outcome, Reject):
                self.counters.rejects += 1
                reason = FailureReason.REJECTED
                detail = "Access-Reject" + (
                    f": {outcome.reply_message}" if outcome.reply_message else ""
                )
            else:
                self.counters.malformed += 1
                reason, detail = FailureReason.MALFORMED, outcome.reason
            del self._lookups[address]
            lifetime = s.negative_cache_lifetime
            until = now + lifetime
            self._remember(address, _Entry(until, Rejected(reason, detail, until)), now)
            self._events.append(
                Failed(address, reason, detail, now + lifetime if lifetime else None)
            )
        return True

    def cancel(self, address: IPv4Address) -> bool:
        """Nobody needs ``address`` any more: drop its lookup if it is queued or
        waiting to retry (one already sent runs to its answer, which is cached)."""
        lookup = self._lookups.get(address)
        if lookup is None or lookup.phase is _Phase.SENT:
            return False
        del self._lookups[address]
        self._queue.pop(address, None)
        self._retries.cancel(address)
        return True

    def forget(self, address: IPv4Address) -> None:
        """Drop what the cache holds for ``address`` (positive or negative)."""
        for cache in self._caches:
            cache.pop(address, None)

    def clear_cache(self) -> None:
        for cache in self._caches:
            cache.clear()
        self._next_expiry = math.inf

    def get_timer(self) -> float | None:
        return self._retries.next()

    def handle_timer(self, now: float) -> None:
        for address in self._retries.pop_due(now):
            lookup = self._lookups.get(address)
            if lookup is not None and lookup.phase is _Phase.BACKOFF:
                lookup.phase = _Phase.QUEUED
                self._queue[address] = None
        self._purge(now)

    def next_event(self) -> ResolverEvent | None:
        return self._events.popleft() if self._events else None

    # -- internals ------------------------------------------------------------------

    def _remember(self, address: IPv4Address, entry: _Entry, now: float) -> None:
        self.forget(address)
        negative = isinstance(entry.result, Rejected)
        size = self.settings.negative_cache_size if negative else self.settings.cache_size
        if entry.expires_at <= now or size == 0:
            return  # that cache is off
        cache = self._caches[negative]
        while len(cache) >= size:
            cache.popitem(last=False)  # the oldest: nearest its expiry
            self.counters.evicted += 1
        cache[address] = entry
        if entry.expires_at < self._next_expiry:
            self._next_expiry = entry.expires_at

    def _purge(self, now: float) -> None:
        """Drop expired entries so the cache does not grow with every visitor
        that ever passed; amortised O(1) per entry."""
        next_expiry = math.inf
        for cache in self._caches:
            while cache:
                address, entry = next(iter(cache.items()))
                if entry.expires_at > now:
                    next_expiry = min(next_expiry, entry.expires_at)
                    break
                del cache[address]
        self._next_expiry = next_expiry
