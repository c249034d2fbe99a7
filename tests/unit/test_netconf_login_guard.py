"""The NETCONF/SSH pre-authentication limits (agent.netconf.login_guard) on
virtual time: startups (OpenSSH MaxStartups start:rate:full and
PerSourceMaxStartups), source penalties (PerSourcePenalties), user lockout
with familiar sources exempt (NIST SP 800-63B §5.2.2). Issue 13 items 3, 4."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from agent.netconf.login_guard import (
    FAMILIAR_SOURCES,
    Admission,
    Attempt,
    GuardCounters,
    GuardSettings,
    LoginGuard,
)

A, B, C = "192.0.2.1", "192.0.2.2", "192.0.2.3"


def guard(random: float = 0.99, **overrides: object) -> LoginGuard:
    return LoginGuard(GuardSettings(**overrides), ["admin", "oper"],  # type: ignore[arg-type]
                      random=lambda: random)


def test_per_source_cap_leaves_room_for_other_sources() -> None:
    g = guard()
    assert [g.connection_opened(A, 0.0) for _ in range(200)].count(Admission.ACCEPT) == 5
    assert g.counters.refused_per_source == 195
    assert g.connection_opened(B, 0.0) is Admission.ACCEPT
    assert g.unauthenticated == 6
    # Closing one of A's frees one of A's slots, not more.
    g.connection_closed(A, authenticated=False)
    assert g.connection_opened(A, 0.0) is Admission.ACCEPT
    assert g.connection_opened(A, 0.0) is Admission.REFUSE_PER_SOURCE


def test_max_startups_early_drop_and_full() -> None:
    # start 10, rate 30, full 20: at 10 open, 30 %; at 11, 37 %; at 20, all.
    never = guard(random=0.999, start=10, rate=30, full=20, per_source=100)
    for _ in range(20):
        assert never.connection_opened(A, 0.0) is Admission.ACCEPT
    assert never.connection_opened(B, 0.0) is Admission.REFUSE_FULL
    low = guard(random=0.29, start=10, rate=30, full=20, per_source=100)
    for _ in range(10):
        assert low.connection_opened(A, 0.0) is Admission.ACCEPT
    assert low.connection_opened(A, 0.0) is Admission.REFUSE_EARLY_DROP  # 29 < 30
    mid = guard(random=0.31, start=10, rate=30, full=20, per_source=100)
    for _ in range(10):
        mid.connection_opened(A, 0.0)
    assert mid.connection_opened(A, 0.0) is Admission.ACCEPT  # 31 >= 30 at 10 open
    assert mid.unauthenticated == 11
    # 37 % at 11 open: a draw of 0.31 is refused now.
    assert mid.connection_opened(A, 0.0) is Admission.REFUSE_EARLY_DROP
    assert mid.counters.refused_max_startups == 1


def test_authenticated_connections_are_not_startups() -> None:
    g = guard(per_source=2)
    assert g.connection_opened(A, 0.0) is Admission.ACCEPT
    assert g.connection_opened(A, 0.0) is Admission.ACCEPT
    g.authenticated(A, "admin", 0.0)
    g.authenticated(A, "admin", 0.0)
    assert g.unauthenticated == 0
    assert g.connection_opened(A, 0.0) is Admission.ACCEPT
    g.connection_closed(A, authenticated=True)  # an authenticated one ends
    assert g.unauthenticated == 1
    assert g.counters.logins == 2


def test_source_backoff_doubles_and_is_forgotten() -> None:
    g = guard(source_failures=3, initial_delay=1.0, max_delay=8.0)
    now = 0.0
    for _ in range(2):
        assert g.password_attempt(A, "admin", now) is Attempt.CHECK
        assert g.password_failed(A, "admin", now).source_blocked_for == 0
    delays = []
    for _ in range(5):
        outcome = g.password_failed(A, "admin", now)
        delays.append(outcome.source_blocked_for)
        assert g.connection_opened(A, now) is Admission.REFUSE_SOURCE_BLOCKED
        assert g.password_attempt(A, "admin", now) is Attempt.REFUSE_SOURCE_BLOCKED
        assert g.connection_opened(B, now) is Admission.ACCEPT  # others unaffected
        g.connection_closed(B, authenticated=False)
        now += outcome.source_blocked_for
        assert g.connection_opened(A, now) is Admission.ACCEPT
        g.connection_closed(A, authenticated=False)
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert g.counters.failed_passwords == 7
    assert g.counters.refused_source_blocked == 5
    assert g.counters.attempts_refused_source_blocked == 5
    # Failing again after a max-delay block, the source is still counted ...
    now += 4.0
    outcome = g.password_failed(A, "admin", now)
    assert (outcome.source_failures, outcome.source_blocked_for) == (8, 8.0)
    # ... and max-delay after the block ends without a failure, forgotten.
    now += 8.0 + 8.0 + 0.01
    assert g.password_failed(A, "admin", now).source_failures == 1


def test_login_clears_the_source() -> None:
    g = guard(source_failures=2)
    g.connection_opened(A, 0.0)
    g.password_failed(A, "admin", 0.0)
    g.authenticated(A, "admin", 0.0)
    assert g.password_failed(A, "admin", 0.0).source_failures == 1


def test_user_lockout_spares_familiar_sources() -> None:
    g = guard(source_failures=100, user_failures=3, initial_delay=10.0)
    g.connection_opened(C, 0.0)
    g.authenticated(C, "admin", 0.0)  # C logged in as admin before the attack
    for index, source in enumerate(("198.51.100.1", "198.51.100.2", "198.51.100.3")):
        outcome = g.password_failed(source, "admin", 1.0)
        assert outcome.user_failures == index + 1
    assert outcome.user_blocked_for == 10.0
    assert g.password_attempt(B, "admin", 2.0) is Attempt.REFUSE_USER_LOCKED
    assert g.password_attempt(C, "admin", 2.0) is Attempt.CHECK
    assert g.password_attempt(B, "oper", 2.0) is Attempt.CHECK  # other users unaffected
    assert g.locked_users(2.0) == 1
    # A login from the familiar source does not unlock the user for others.
    g.connection_opened(C, 2.0)
    g.authenticated(C, "admin", 2.0)
    assert g.password_attempt(B, "admin", 3.0) is Attempt.REFUSE_USER_LOCKED
    assert g.password_attempt(B, "admin", 11.0) is Attempt.CHECK
    assert g.counters.attempts_refused_user_locked == 2
    # Once the lock is over, a login clears the count (consecutive failures).
    g.connection_opened(C, 11.0)
    g.authenticated(C, "admin", 11.0)
    assert g.password_failed(B, "admin", 11.0).user_failures == 1


def test_unknown_user_names_have_no_record() -> None:
    g = guard(source_failures=1000, user_failures=1)
    for index in range(100):
        assert g.password_failed(A, f"guess{index}", 0.0).user_failures == 0
    assert g.locked_users(0.0) == 0


def test_familiar_sources_are_bounded() -> None:
    g = guard(user_failures=1)
    for index in range(FAMILIAR_SOURCES + 1):
        source = f"198.51.100.{index}"
        g.connection_opened(source, 0.0)
        g.authenticated(source, "admin", 0.0)
    g.password_failed(B, "admin", 0.0)
    assert g.password_attempt("198.51.100.0", "admin", 0.1) is Attempt.REFUSE_USER_LOCKED
    assert g.password_attempt(f"198.51.100.{FAMILIAR_SOURCES}", "admin", 0.1) is Attempt.CHECK


def test_penalty_table_is_bounded() -> None:
    g = guard(source_failures=1, max_sources=16, max_delay=10.0)
    for index in range(20):
        g.password_failed(f"198.51.100.{index}", "nobody", 0.0)
    assert g.counters.penalty_table_full == 4
    assert g.blocked_sources(0.5) == 16
    # Expired records make room again.
    g.password_failed("203.0.113.1", "nobody", 20.0)
    assert g.source_blocked_for("203.0.113.1", 20.0) > 0


def test_yang_state_leaves_match_the_counters() -> None:
    """One fact, one place: netconf-server-state's counters are GuardCounters."""
    yang = (Path(__file__).parents[2] / "yang" / "proxy-mobile-ip.yang").read_text()
    state = yang[yang.index("container netconf-server-state"):]
    state = state[:state.index("\n    }\n")]
    leaves = set(re.findall(r"leaf ([a-z0-9-]+) \{\s+type yang:counter64;", state))
    assert leaves == {f.name.replace("_", "-") for f in fields(GuardCounters)}


def test_refusal_log_lines_are_rate_limited_per_source() -> None:
    from agent.netconf.server import LogRateLimit

    limit = LogRateLimit(interval=1.0)
    assert limit.allow(A, 0.0) == 0
    assert [limit.allow(A, 0.1 * i) for i in range(1, 10)] == [None] * 9
    assert limit.allow(B, 0.5) == 0  # per source
    assert limit.allow(A, 1.0) == 9  # the next line says how many were left out
    for index in range(LogRateLimit.MAX_KEYS + 10):  # bounded
        limit.allow(f"10.0.{index // 256}.{index % 256}", 2.0)
    assert len(limit._last) <= LogRateLimit.MAX_KEYS


def test_guessing_a_locked_user_counts_against_the_source() -> None:
    """Refused unchecked, the attempts of a source at a locked user still
    meet the source backoff; the user's lock does not grow with them."""
    g = guard(source_failures=3, user_failures=1, initial_delay=100.0)
    g.password_failed(C, "admin", 0.0)  # locks admin for 100 s
    for _ in range(3):
        assert g.password_attempt(B, "admin", 1.0) is Attempt.REFUSE_USER_LOCKED
    assert g.source_blocked_for(B, 1.0) == 100.0
    assert g.connection_opened(B, 1.0) is Admission.REFUSE_SOURCE_BLOCKED
    assert g.user_locked_for("admin", B, 1.0) == 99.0


def test_refused_public_keys_back_off_the_source_not_the_user() -> None:
    """OpenSSH counts a refused key like a failed password (auth2.c
    userauth_finish; PerSourcePenalties authfail): from the 5th refused key
    of an address it is blocked, doubling; the user is not locked by keys."""
    g = guard(source_failures=5, user_failures=3, initial_delay=1.0)
    outcomes = [g.public_key_refused(A, 0.0) for _ in range(5)]
    assert [o.source_blocked_for for o in outcomes] == [0.0] * 4 + [1.0]
    assert g.counters.failed_public_keys == 5
    assert g.connection_opened(A, 0.5) is Admission.REFUSE_SOURCE_BLOCKED
    # Refused while blocked: counted, the block not lengthened.
    assert g.public_key_refused(A, 0.5).source_blocked_for == 0.0
    assert g.counters.attempts_refused_source_blocked == 1
    assert g.source_blocked_for(A, 0.5) == 0.5
    # After the block, the next refused key doubles it; passwords share the count.
    assert g.public_key_refused(A, 1.5).source_blocked_for == 2.0
    assert g.password_failed(A, "admin", 4.0).source_blocked_for == 4.0
    # No user lock from keys (user_failures 3 was passed 7 times over).
    assert g.locked_users(4.0) == 0
    assert g.password_attempt(B, "admin", 4.0) is Attempt.CHECK
    # A login from the address clears what keys counted.
    g.connection_opened(C, 10.0)
    for _ in range(4):
        g.public_key_refused(C, 10.0)
    g.authenticated(C, "admin", 10.0)
    assert g.public_key_refused(C, 10.0).source_failures == 1
