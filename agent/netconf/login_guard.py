"""Pre-authentication limits of the NETCONF/SSH server (issue 13): what an
unauthenticated peer may hold and how fast it may guess. Sans-IO: the SSH
adapter (``agent.netconf.server``) reports connections, logins and failures
with the time ``now`` (monotonic seconds) and does what the answers say;
randomness (MaxStartups' early drop) is a constructor parameter.

The rules, after OpenSSH (sshd_config(5)) and NIST SP 800-63B §5.2.2:

* **Startups** (``MaxStartups start:rate:full``): unauthenticated
  connections up to ``start`` are accepted; from ``start`` a new one is
  refused with probability ``rate`` %, growing linearly to 100 % at
  ``full``. At most ``per_source`` of them from one address
  (``PerSourceMaxStartups``), below ``start``, so one address alone never
  makes another's connection be refused. Authenticated connections are not
  startups: they count against ``max-sessions`` only.
* **Source penalties** (``PerSourcePenalties``): from the
  ``source_failures``-th failed login of an address on, it is blocked for
  ``initial_delay``, doubled at each further failure up to ``max_delay``;
  while blocked its connections are refused at once and its password
  attempts refused unchecked. A refused public key is a failure of its
  source too (not of the user). A login from it clears its count; so does
  ``max_delay`` without failure after the last block ended.
* **User lockout**: after ``user_failures`` consecutive failures for one
  configured user name (any source), the same delays lock that user
  against addresses that have not logged in as it before; the last
  ``FAMILIAR_SOURCES`` addresses that did keep logging in, so many guessing
  addresses cannot lock the operator out. A login clears the user's count,
  except while the user is locked. An attempt refused because the user is
  locked counts as a failure of its source. Unknown names have no record
  (the name is the attacker's choice): their failures count per source.

Memory is bounded: one record per remembered address (``max_sources``, when
full and none expired new addresses go unrecorded and are counted, as
OpenSSH's ``permissive`` overflow), one per configured user."""

from __future__ import annotations

import enum
import random as random_module
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, fields

#: Addresses remembered per user as having logged in as it.
FAMILIAR_SOURCES = 16


class Admission(enum.Enum):
    """What to do with a new TCP connection."""

    ACCEPT = "accept"
    REFUSE_FULL = "max-startups full"
    REFUSE_EARLY_DROP = "max-startups early drop"
    REFUSE_PER_SOURCE = "per-source max-startups"
    REFUSE_SOURCE_BLOCKED = "source blocked after failed logins"


class Attempt(enum.Enum):
    """What to do with a password attempt."""

    CHECK = "check"
    REFUSE_SOURCE_BLOCKED = "source blocked after failed logins"
    REFUSE_USER_LOCKED = "user locked after failed logins"


@dataclass(frozen=True)
class GuardSettings:
    """The YANG ``netconf-server`` leaves this unit owns (defaults there)."""

    start: int = 10
    rate: int = 30
    full: int = 100
    per_source: int = 5
    source_failures: int = 5
    user_failures: int = 50
    initial_delay: float = 1.0
    max_delay: float = 600.0
    max_sources: int = 65536


@dataclass
class GuardCounters:
    """Counted since start; the leaves of YANG ``netconf-server-state`` (the
    names with '_' as '-'; a test checks the module against this class)."""

    connections_accepted: int = 0
    refused_max_startups: int = 0
    refused_per_source: int = 0
    refused_source_blocked: int = 0
    logins: int = 0
    failed_passwords: int = 0
    passwords_too_long: int = 0
    failed_public_keys: int = 0
    attempts_refused_source_blocked: int = 0
    attempts_refused_user_locked: int = 0
    auth_tries_exceeded: int = 0
    login_grace_expired: int = 0
    sessions_refused_max_sessions: int = 0
    penalty_table_full: int = 0

    def as_json(self) -> dict[str, str]:
        """RFC 7951: counter64 values as strings."""
        return {f.name.replace("_", "-"): str(getattr(self, f.name)) for f in fields(self)}


@dataclass
class _Penalty:
    """Failures of one source or one user."""

    failures: int = 0
    last_failure: float = 0.0
    blocked_until: float = 0.0


@dataclass(frozen=True)
class FailureOutcome:
    """After a failure: how long the source and the user are blocked from
    now (0 when not), for the log line."""

    source_failures: int
    source_blocked_for: float
    user_failures: int
    user_blocked_for: float


@dataclass
class _User:
    penalty: _Penalty = field(default_factory=_Penalty)
    familiar: OrderedDict[str, None] = field(default_factory=OrderedDict)


def _forgotten(penalty: _Penalty, now: float, horizon: float) -> bool:
    """A record is forgotten ``horizon`` (max-delay) after its last failure
    or, when that failure blocked, after the block ended: a source blocked
    for max-delay that fails again right after is still counted."""
    return now - max(penalty.last_failure, penalty.blocked_until) > horizon


class LoginGuard:
    """Counts unauthenticated connections per source and failed logins per
    source and user; answers whether to accept and whether to check."""

    def __init__(self, settings: GuardSettings, users: Collection[str], *,
                 random: Callable[[], float] = random_module.random) -> None:
        self.settings = settings
        self.counters = GuardCounters()
        self._random = random
        self._users = {name: _User() for name in users}
        #: Unauthenticated connections per source address.
        self._startups: dict[str, int] = {}
        self._startup_total = 0
        #: Penalties by source, least recently failed first.
        self._sources: OrderedDict[str, _Penalty] = OrderedDict()

    # -- connections -------------------------------------------------------------

    @property
    def unauthenticated(self) -> int:
        return self._startup_total

    def connection_opened(self, source: str, now: float) -> Admission:
        """A TCP connection was accepted; ACCEPT makes it a startup until
        :meth:`authenticated` or :meth:`connection_closed`."""
        settings = self.settings
        verdict = Admission.ACCEPT
        if self.source_blocked_for(source, now) > 0:
            verdict = Admission.REFUSE_SOURCE_BLOCKED
            self.counters.refused_source_blocked += 1
        elif self._startups.get(source, 0) >= settings.per_source:
            verdict = Admission.REFUSE_PER_SOURCE
            self.counters.refused_per_source += 1
        elif self._startup_total >= settings.full:
            verdict = Admission.REFUSE_FULL
            self.counters.refused_max_startups += 1
        elif self._startup_total >= settings.start:
            # sshd's drop(): rate % at start, rising linearly to 100 % at full.
            span = max(settings.full - settings.start, 1)
            over = self._startup_total - settings.start
            chance = settings.rate + (100 - settings.rate) * over / span
            if self._random() * 100 < chance:
                verdict = Admission.REFUSE_EARLY_DROP
                self.counters.refused_max_startups += 1
        if verdict is Admission.ACCEPT:
            self._startups[source] = self._startups.get(source, 0) + 1
            self._startup_total += 1
            self.counters.connections_accepted += 1
        return verdict

    def _end_startup(self, source: str) -> None:
        count = self._startups.get(source, 0)
        if count <= 0:
            return
        if count == 1:
            del self._startups[source]
        else:
            self._startups[source] = count - 1
        self._startup_total -= 1

    def authenticated(self, source: str, user: str, now: float) -> None:
        """A connection logged in: no longer a startup; the source's failure
        count is cleared, and the user's unless the user is locked (a login
        from a familiar source must not reopen guessing to the others); the
        source becomes familiar to the user."""
        self._end_startup(source)
        self.counters.logins += 1
        self._sources.pop(source, None)
        record = self._users.get(user)
        if record is not None:
            if record.penalty.blocked_until <= now:
                record.penalty = _Penalty()
            record.familiar.pop(source, None)
            record.familiar[source] = None
            while len(record.familiar) > FAMILIAR_SOURCES:
                record.familiar.popitem(last=False)

    def connection_closed(self, source: str, *, authenticated: bool) -> None:
        """A connection ended (call once, whichever way it ended)."""
        if not authenticated:
            self._end_startup(source)

    # -- password attempts ---------------------------------------------------------

    def password_attempt(self, source: str, user: str, now: float) -> Attempt:
        """Whether to check a password now or refuse it unchecked."""
        if self.source_blocked_for(source, now) > 0:
            self.counters.attempts_refused_source_blocked += 1
            return Attempt.REFUSE_SOURCE_BLOCKED
        if self.user_locked_for(user, source, now) > 0:
            self.counters.attempts_refused_user_locked += 1
            # The source keeps guessing a locked user: it counts against the
            # source (not the user: the lock must not grow by the guessers'
            # will), so it meets the source backoff instead of reconnecting,
            # a key exchange each time, for as long as the lock lasts.
            penalty = self._source_record(source, now)
            if penalty is not None:
                self._fail(penalty, self.settings.source_failures, now)
            return Attempt.REFUSE_USER_LOCKED
        return Attempt.CHECK

    def password_failed(self, source: str, user: str, now: float, *,
                        too_long: bool = False) -> FailureOutcome:
        """A checked password was wrong (or over the length cap)."""
        self.counters.failed_passwords += 1
        if too_long:
            self.counters.passwords_too_long += 1
        source_penalty = self._source_record(source, now)
        source_blocked = 0.0
        if source_penalty is not None:
            source_blocked = self._fail(source_penalty, self.settings.source_failures, now)
        record = self._users.get(user)
        user_blocked = 0.0
        if record is not None:
            user_blocked = self._fail(record.penalty, self.settings.user_failures, now)
        return FailureOutcome(
            source_failures=source_penalty.failures if source_penalty is not None else 0,
            source_blocked_for=source_blocked,
            user_failures=record.penalty.failures if record is not None else 0,
            user_blocked_for=user_blocked)

    def public_key_refused(self, source: str, now: float) -> FailureOutcome:
        """A public key was refused: not one of the user's authorized keys,
        or offered for a user that does not exist (RFC 4252 §7). OpenSSH
        counts it toward MaxAuthTries like a failed password (auth2.c
        userauth_finish: every failed method but "none") and its
        PerSourcePenalties ``authfail``; so here it is a failure of its
        source, feeding the same backoff. Not of the user: a refused key is
        no guess at the user's secret, and counting it would let anyone with
        a handful of keys lock the operator out. While the source is blocked
        it is counted as refused and does not lengthen the block (as a
        password refused unchecked)."""
        self.counters.failed_public_keys += 1
        if self.source_blocked_for(source, now) > 0:
            self.counters.attempts_refused_source_blocked += 1
            return FailureOutcome(source_failures=self._sources[source].failures,
                                  source_blocked_for=0.0, user_failures=0,
                                  user_blocked_for=0.0)
        penalty = self._source_record(source, now)
        blocked = 0.0
        if penalty is not None:
            blocked = self._fail(penalty, self.settings.source_failures, now)
        return FailureOutcome(source_failures=penalty.failures if penalty is not None else 0,
                              source_blocked_for=blocked, user_failures=0, user_blocked_for=0.0)

    def _fail(self, penalty: _Penalty, threshold: int, now: float) -> float:
        if _forgotten(penalty, now, self.settings.max_delay):
            penalty.failures = 0
        penalty.failures += 1
        penalty.last_failure = now
        if penalty.failures < threshold:
            return 0.0
        exponent = min(penalty.failures - threshold, 62)
        delay = min(self.settings.initial_delay * 2.0 ** exponent, self.settings.max_delay)
        penalty.blocked_until = now + delay
        return delay

    def _source_record(self, source: str, now: float) -> _Penalty | None:
        penalty = self._sources.get(source)
        if penalty is not None:
            self._sources.move_to_end(source)
            return penalty
        if len(self._sources) >= self.settings.max_sources:
            self._expire(now)
        if len(self._sources) >= self.settings.max_sources:
            self.counters.penalty_table_full += 1
            return None
        penalty = self._sources[source] = _Penalty()
        return penalty

    def _expire(self, now: float) -> None:
        """Drop the records forgotten (oldest failure first: the order kept)."""
        horizon = self.settings.max_delay
        while self._sources:
            source, penalty = next(iter(self._sources.items()))
            if not _forgotten(penalty, now, horizon):
                break
            del self._sources[source]

    # -- state -------------------------------------------------------------------

    def source_blocked_for(self, source: str, now: float) -> float:
        penalty = self._sources.get(source)
        return max(penalty.blocked_until - now, 0.0) if penalty is not None else 0.0

    def user_locked_for(self, user: str, source: str, now: float) -> float:
        """How long ``user`` stays locked against ``source`` (0 for a source
        that logged in as the user before, or an unknown user)."""
        record = self._users.get(user)
        if record is None or source in record.familiar:
            return 0.0
        return max(record.penalty.blocked_until - now, 0.0)

    def blocked_sources(self, now: float) -> int:
        self._expire(now)
        return sum(1 for p in self._sources.values() if p.blocked_until > now)

    def locked_users(self, now: float) -> int:
        return sum(1 for u in self._users.values() if u.penalty.blocked_until > now)
