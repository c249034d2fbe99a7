"""NETCONF over SSH (RFC 6242): the asyncssh adapter.

Thin by design: it authenticates, accepts the ``netconf`` subsystem only
(§3), gives every channel a :class:`~agent.netconf.session.NetconfSession`
and shuttles bytes between them. Protocol decisions live in the session.

Per connection it also enforces what only the transport can see:

* ``max_sessions``: at most that many authenticated SSH connections
  (checked when authentication succeeds, so the client receives a readable
  SSH disconnect, code 12 "too many connections") and at most that many
  NETCONF channels in total. Connections still authenticating never take a
  slot: they are limited by the pre-authentication rules of
  ``agent.netconf.login_guard`` (max-startups, per-source limits, backoff
  after failed logins), ``login_grace_time`` and ``max_auth_tries``, all
  enforced here, all counted (:meth:`NetconfServer.login_state`, the YANG
  ``netconf-server-state``) and logged one line per event in OpenSSH's
  words, which fail2ban reads (``docs/security.md``).
* ``idle_timeout``: a connection with no channel data either way for that
  long is closed (so is a client that authenticated and went silent).
* backpressure: when a client stops reading our replies, we stop reading its
  requests, so a slow client costs bounded memory and never blocks others.
* every session end, whatever the cause (close-session, kill-session,
  connection loss, idle timeout, server close), calls
  ``on_session_end(session_id)`` exactly once, so the datastore can release
  the session's locks (RFC 6241 §7.5, §7.9) and an unconfirmed confirmed
  commit of the session can roll back (§8.4.1).
* notifications (RFC 5277): :meth:`NetconfServer.notify` offers one
  <notification> to every session (each keeps it if its subscription
  selects it) and writes what each has queued, outside any request; a
  session whose client stops reading keeps queueing (bounded, oldest dropped:
  see ``agent.netconf.session``) and resumes when the SSH channel drains, so
  a slow subscriber never blocks the agent or the other sessions.
* monitoring (RFC 6022): :meth:`NetconfServer.state` gives the sessions
  (user, client address, login time, counters) and the statistics since
  start.

Passwords are checked against crypt(3) SHA-crypt hashes
(``agent.netconf.passwords``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import logging
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from lxml import etree

# Re-exported: the lab, the benchmarks and older tests import them from here.
from agent.netconf.passwords import sha_crypt as sha_crypt
from agent.netconf.passwords import verify_password as verify_password
from agent.netconf.login_guard import Admission, Attempt, LoginGuard
from agent.netconf.logtext import peer_text
from agent.netconf.monitoring import ServerState, SessionRecord, Statistics
from agent.netconf.passwords import dummy_hash, password_too_long
from agent.netconf.session import (
    DEFAULT_MAX_PENDING_NOTIFICATIONS,
    Authorizer,
    CloseReason,
    Handler,
    NetconfSession,
    NotificationCheck,
    SessionCounters,
)
from agent.netconf.settings import NetconfSettings, NetconfUser
from agent.netconf.ssh_library import asyncssh
from agent.schema.context import ROOT_PATH
from agent.schema.errors import ConfigError

logger = logging.getLogger(__name__)

#: RFC 6242 §3: the one subsystem we serve.
NETCONF_SUBSYSTEM = "netconf"
#: A failed password attempt is answered no sooner than this after it
#: arrived, plus 0-4.2 ms fixed per user name (OpenSSH auth2.c,
#: MIN_FAIL_DELAY_SECONDS and user_specific_delay), doubled until past the
#: time the check took: the reply time says nothing of the user name.
MIN_FAIL_DELAY = 0.005
#: Password hashing runs on this many threads (not the loop's default
#: executor): what unauthenticated peers make us hash waits in one queue.
AUTH_THREADS = 2


@dataclass
class _Totals:
    """RFC 6022 statistics kept by the server (the rest are summed over sessions)."""

    in_sessions: int = 0
    in_bad_hellos: int = 0
    dropped_sessions: int = 0


class NetconfServer:
    """Listens for NETCONF/SSH clients; one :class:`NetconfSession` per channel.
    ``clock`` (POSIX seconds) dates logins and the start (RFC 6022) and judges
    RFC 5277 start times; ``max_pending_notifications`` bounds each session's
    queue of unsent notifications; ``authorize`` and ``may_notify`` are the
    sessions' access control hooks (RFC 8341, ``agent.netconf.nacm``)."""

    def __init__(self, settings: NetconfSettings, capabilities: Sequence[str], handler: Handler,
                 *, on_session_end: Callable[[int], None] | None = None,
                 clock: Callable[[], float] = time.time,
                 max_pending_notifications: int = DEFAULT_MAX_PENDING_NOTIFICATIONS,
                 authorize: Authorizer | None = None,
                 may_notify: NotificationCheck | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._monotonic = monotonic
        self.guard = LoginGuard(settings.guard, [user.name for user in settings.users])
        #: An unknown user's password is checked against this (as costly as
        #: the costliest configured hash: passwords.dummy_hash).
        self._dummy_hash = dummy_hash(user.password_hash for user in settings.users)
        self._timing_secret = os.urandom(32)
        self._auth_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._refusal_log = LogRateLimit(interval=1.0)
        self._authorize = authorize
        self._may_notify = may_notify
        self.capabilities = tuple(capabilities)
        self.handler = handler
        # A handler may offer a variant for replies that go straight to the
        # framer (Operations.wire_handler: large state spliced in as text).
        self._wire_handler: Handler = getattr(handler, "wire_handler", handler)
        self._on_session_end = on_session_end
        self._clock = clock
        self._max_pending_notifications = max_pending_notifications
        self._start_time = clock()
        self._totals = _Totals()
        #: Counters of the sessions that ended.
        self._ended = SessionCounters()
        self._users = {user.name: user for user in settings.users}
        self._authorized_keys: dict[str, asyncssh.SSHAuthorizedKeys] = {}
        self._listener: asyncssh.SSHAcceptor | None = None
        self._connections: set[_SshConnection] = set()
        self._admitted: set[_SshConnection] = set()
        self._sessions: dict[int, _NetconfChannel] = {}
        self._next_session_id = 1
        self.port: int | None = None

    @property
    def session_ids(self) -> list[int]:
        return sorted(self._sessions)

    # -- notifications (RFC 5277) ------------------------------------------------

    @property
    def has_subscribers(self) -> bool:
        """Whether any session holds a subscription (else a notification
        need not even be converted)."""
        return any(channel.subscribed for channel in self._sessions.values())

    def notify(self, message: etree._Element) -> None:
        """Offer one <notification> to every session and write what can be
        written now. Call on the server's event loop."""
        for channel in list(self._sessions.values()):
            channel.notify(message)

    def session_counters(self, session_id: int) -> SessionCounters | None:
        """One live session's counters (with the notifications it dropped)."""
        channel = self._sessions.get(session_id)
        return channel.counters if channel is not None else None

    def pending_notifications(self, session_id: int) -> int:
        """Notifications queued for one session and not yet written."""
        channel = self._sessions.get(session_id)
        session = channel.session if channel is not None else None
        return session.pending_notifications if session is not None else 0

    # -- monitoring (RFC 6022) --------------------------------------------------

    def state(self) -> ServerState:
        """The established sessions and the statistics since start."""
        sessions = []
        totals = SessionCounters(**{f.name: getattr(self._ended, f.name)
                                    for f in fields(SessionCounters)})
        for session_id in sorted(self._sessions):
            channel = self._sessions[session_id]
            for field in fields(SessionCounters):
                setattr(totals, field.name,
                        getattr(totals, field.name) + getattr(channel.counters, field.name))
            record = channel.record()
            if record is not None:
                sessions.append(record)
        statistics = Statistics(
            netconf_start_time=self._start_time, in_bad_hellos=self._totals.in_bad_hellos,
            in_sessions=self._totals.in_sessions, dropped_sessions=self._totals.dropped_sessions,
            in_rpcs=totals.in_rpcs, in_bad_rpcs=totals.in_bad_rpcs,
            out_rpc_errors=totals.out_rpc_errors, out_notifications=totals.out_notifications)
        return ServerState(tuple(sessions), statistics)

    def login_state(self) -> dict[str, object]:
        """The YANG ``netconf-server-state`` content (RFC 7951 JSON)."""
        now = self._monotonic()
        return {
            "unauthenticated-connections": self.guard.unauthenticated,
            "authenticated-connections": len(self._admitted),
            "blocked-sources": self.guard.blocked_sources(now),
            "locked-users": self.guard.locked_users(now),
            **self.guard.counters.as_json(),
        }

    def _failure_floor(self, username: str) -> float:
        """OpenSSH's minimum failure time for ``username`` (see MIN_FAIL_DELAY)."""
        digest = hmac.new(self._timing_secret, username.encode(), hashlib.sha512).digest()
        return MIN_FAIL_DELAY + int.from_bytes(digest[:4], "big") / 1e12

    async def _check_password(self, password: str, stored: str | None) -> bool:
        if self._auth_executor is None:
            self._auth_executor = concurrent.futures.ThreadPoolExecutor(
                AUTH_THREADS, thread_name_prefix="netconf-auth")
        return await asyncio.get_running_loop().run_in_executor(
            self._auth_executor, _verify, password, stored, self.settings.max_password_length,
            self._dummy_hash)

    async def start(self) -> None:
        for user in self.settings.users:
            if user.authorized_keys:
                self._authorized_keys[user.name] = load_authorized_keys(user)
        host_key = load_or_create_host_key(self.settings.host_key_file)
        self._listener = await asyncssh.create_server(
            lambda: _SshConnection(self), self.settings.address, self.settings.port,
            server_host_keys=[host_key], encoding=None, allow_pty=False,
            agent_forwarding=False, x11_forwarding=False,
            # Our own login-grace-time timer (counted, logged) fires first;
            # asyncssh's is the backstop.
            login_timeout=self.settings.login_grace_time + 5.0)
        self.port = self._listener.get_port()
        logger.info("netconf server listening on %s port %d", self.settings.address, self.port)

    def close(self) -> None:
        """Stop listening and end every session."""
        if self._listener is not None:
            self._listener.close()
        for connection in list(self._connections):
            connection.close()
        for channel in list(self._sessions.values()):
            channel.end_session()
        if self._auth_executor is not None:
            self._auth_executor.shutdown(wait=False, cancel_futures=True)
            self._auth_executor = None

    async def wait_closed(self) -> None:
        if self._listener is not None:
            await self._listener.wait_closed()

    # -- bookkeeping used by connections and channels --------------------------

    @property
    def _idle_timeout(self) -> float | None:
        timeout = self.settings.idle_timeout
        return timeout if timeout and timeout > 0 else None

    def _admit(self, connection: _SshConnection) -> bool:
        """An authenticated connection takes a max_sessions slot, if any is free."""
        if len(self._admitted) >= self.settings.max_sessions:
            return False
        self._admitted.add(connection)
        return True

    def _release(self, connection: _SshConnection) -> None:
        self._connections.discard(connection)
        self._admitted.discard(connection)

    def _open_session(self, channel: _NetconfChannel) -> int | None:
        if len(self._sessions) >= self.settings.max_sessions:
            return None
        session_id = self._next_session_id
        self._next_session_id += 1
        self._sessions[session_id] = channel
        return session_id

    def _session_started(self) -> None:
        # RFC 6022: in-sessions counts every <hello> with a session-id sent.
        self._totals.in_sessions += 1

    def _session_ended(self, session_id: int) -> None:
        channel = self._sessions.pop(session_id, None)
        if channel is None:
            return
        logger.info("netconf session %d ended", session_id)
        session = channel.session
        if session is not None:
            for field in fields(SessionCounters):
                setattr(self._ended, field.name,
                        getattr(self._ended, field.name) + getattr(session.counters, field.name))
            if session.close_reason is CloseReason.BAD_HELLO:
                self._totals.in_bad_hellos += 1
            elif (session.was_established and not channel.killed
                  and session.close_reason is not CloseReason.CLOSE_SESSION):
                # RFC 6022: abnormal ends; not close-session, not kill-session.
                self._totals.dropped_sessions += 1
        if self._on_session_end is not None:
            try:
                self._on_session_end(session_id)
            except Exception:  # the server must survive a faulty subscriber
                logger.exception("on_session_end(%d) failed", session_id)

    def _kill(self, session_id: int) -> bool:
        """RFC 6241 §7.9: end another session now; its locks are released
        (on_session_end) before the killer gets its <ok/>."""
        channel = self._sessions.get(session_id)
        if channel is None:
            return False
        channel.killed = True
        channel.end_session()
        channel.close_connection()
        return True


class _SshConnection(asyncssh.SSHServer):
    """One SSH connection: admission, authentication, idle timer."""

    def __init__(self, server: NetconfServer) -> None:
        self._server = server
        self._conn: asyncssh.SSHServerConnection | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._grace_timer: asyncio.TimerHandle | None = None
        self._channels: set[_NetconfChannel] = set()
        self.peer = "?"
        #: The client's address (RFC 6022 source-host), when known.
        self.host: str | None = None
        self._port = 0
        #: Accepted by the login guard (a startup until authenticated).
        self._accepted = False
        self._authenticated = False
        #: Failed or refused password attempts on this connection (max_auth_tries).
        self._failed_attempts = 0
        #: The password check in progress (one at a time per connection).
        self._pending_check: asyncio.Future[bool] | None = None

    @property
    def _source(self) -> str:
        return self.host or "?"

    def _where(self) -> str:
        return f"from {self._source} port {self._port}"

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        peer = conn.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.host = str(peer[0]) if peer else None
        self._port = int(peer[1]) if peer else 0
        server = self._server
        verdict = server.guard.connection_opened(self._source, server._monotonic())
        if verdict is not Admission.ACCEPT:
            # Closed before the key exchange: a refused peer costs no crypto,
            # and at most one log line a second.
            suppressed = server._refusal_log.allow(self._source, server._monotonic())
            if suppressed is not None:
                more = f" ({suppressed} more refused)" if suppressed else ""
                logger.warning("Refused connection %s: %s%s", self._where(), verdict.value, more)
            conn.abort()
            return
        self._accepted = True
        server._connections.add(self)
        self._grace_timer = asyncio.get_running_loop().call_later(
            server.settings.login_grace_time, self._grace_expired)
        self.touch()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._idle_timer, self._grace_timer):
            if timer is not None:
                timer.cancel()
        if self._accepted:
            self._accepted = False
            self._server.guard.connection_closed(self._source, authenticated=self._authenticated)
        self._server._release(self)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _grace_expired(self) -> None:
        self._grace_timer = None
        if self._authenticated:
            return
        self._server.guard.counters.login_grace_expired += 1
        logger.warning("Timeout before authentication for %s port %d: login-grace-time %.0f s",
                       self._source, self._port, self._server.settings.login_grace_time)
        if self._conn is not None:
            self._conn.abort()

    def session_opened(self, channel: _NetconfChannel) -> None:
        self._channels.add(channel)

    def session_closed(self, channel: _NetconfChannel) -> None:
        """A NETCONF channel is gone; with none left the connection has no
        purpose, and closing it frees its max_sessions slot at once."""
        self._channels.discard(channel)
        if not self._channels:
            self.close()

    def touch(self) -> None:
        """Traffic seen: restart the idle timer."""
        timeout = self._server._idle_timeout
        if timeout is None:
            return
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = asyncio.get_running_loop().call_later(timeout, self._idle)

    def _idle(self) -> None:
        logger.info("netconf connection from %s idle for %.0f s: closing", self.peer,
                    self._server._idle_timeout or 0)
        self.close()

    def begin_auth(self, username: str) -> bool:
        # Only authenticated connections hold max_sessions slots; but when
        # they are all taken, say so before authentication (a readable SSH
        # disconnect, code 12) rather than after.
        if len(self._server._admitted) >= self._server.settings.max_sessions:
            self._refuse_max_sessions()
        keys = self._server._authorized_keys.get(username)
        if keys is not None and self._conn is not None:
            self._conn.set_authorized_keys(keys)
        return True

    def auth_completed(self) -> None:
        """Authenticated: no longer a startup; now it needs a max_sessions slot."""
        server = self._server
        username = self._conn.get_extra_info("username") if self._conn is not None else ""
        self._authenticated = True
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None
        server.guard.authenticated(self._source, str(username), server._monotonic())
        logger.info("Accepted login for %s %s", _printable(str(username)), self._where())
        if not server._admit(self):  # taken while this one authenticated
            try:
                self._refuse_max_sessions()
            except asyncssh.DisconnectError as exc:
                if self._conn is not None:
                    self._conn.disconnect(exc.code, exc.reason)

    def _refuse_max_sessions(self) -> None:
        limit = self._server.settings.max_sessions
        self._server.guard.counters.sessions_refused_max_sessions += 1
        logger.warning("netconf connection %s refused: %d sessions already open",
                       self._where(), limit)
        raise asyncssh.DisconnectError(
            asyncssh.DISC_TOO_MANY_CONNECTIONS,
            f"NETCONF server busy: the maximum of {limit} sessions is reached")

    def password_auth_supported(self) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """asyncssh asks here only for a key that is not among the user's
        authorized keys (set in begin_auth), or for a user without any: such a
        key is refused (RFC 4252 §7) and, as OpenSSH does (auth2.c
        userauth_finish), counted like a failed password: toward
        max-auth-tries on this connection and as a failure of its source in
        the login guard's backoff. Logged with the key's algorithm only, never
        the key; at INFO while it looks like a client trying the keys it holds,
        at WARNING for an unknown user, from half of max-auth-tries on, or
        when it blocks the source (OpenSSH auth.c auth_log: verbose, then
        logit)."""
        self._refuse_key(username, _printable(key.get_algorithm()))
        return False

    def validate_ca_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """asyncssh asks here for an OpenSSH certificate whose signing CA is
        not a ``cert-authority`` entry of the user (there are none unless
        configured): refused and counted like a refused key, once per
        certificate offered (asyncssh then finds no plain key in it and asks
        nothing more)."""
        self._refuse_key(username, f"certificate signed by {_printable(key.get_algorithm())}")
        return False

    def _refuse_key(self, username: str, what: str) -> None:
        server = self._server
        self._failed_attempts += 1
        outcome = server.guard.public_key_refused(self._source, server._monotonic())
        note = ""
        if outcome.source_blocked_for:
            note = (f"; source blocked {outcome.source_blocked_for:.2f} s after "
                    f"{outcome.source_failures} failures")
        limit = server.settings.max_auth_tries
        loud = (username not in server._users or self._failed_attempts * 2 >= limit
                or bool(outcome.source_blocked_for))
        logger.log(logging.WARNING if loud else logging.INFO,
                   "Failed publickey for %s %s ssh2: %s%s",
                   self._who(username, by_key=True), self._where(), what, note)
        if self._failed_attempts >= limit:
            self._too_many_tries(username)

    async def validate_password(self, username: str, password: str) -> bool:
        server = self._server
        started = server._monotonic()
        # RFC 4252 §5: a client may send its next attempt before the answer
        # to the last, and asyncssh then cancels this coroutine; the check
        # itself is shielded, so it is counted (and logged) even when
        # abandoned, and the next waits for it: one check at a time per
        # connection, none escaping the backoff.
        while self._pending_check is not None and not self._pending_check.done():
            await asyncio.wait([self._pending_check])
        if self._failed_attempts >= server.settings.max_auth_tries:
            self._too_many_tries(username)
        check = self._pending_check = asyncio.ensure_future(self._attempt(username, password))
        ok = await asyncio.shield(check)
        if ok:
            return True
        await self._failure_floor(started, username)
        if self._failed_attempts >= server.settings.max_auth_tries:
            self._too_many_tries(username)
        return False

    async def _attempt(self, username: str, password: str) -> bool:
        """One password attempt: refused unchecked, or checked; a failure
        is counted, fed to the login guard and logged."""
        server = self._server
        user = server._users.get(username)
        verdict = server.guard.password_attempt(self._source, username, server._monotonic())
        if verdict is not Attempt.CHECK:
            self._failed_attempts += 1
            logger.warning("Refused password for %s %s ssh2: %s", self._who(username),
                           self._where(), verdict.value)
            return False
        too_long = password_too_long(password, server.settings.max_password_length)
        ok = False
        if not too_long:
            # Hashing costs milliseconds of CPU: off the event loop. An
            # unknown user costs the same time as the costliest known one.
            ok = await server._check_password(
                password, user.password_hash if user is not None else None)
        if ok:
            return True
        self._failed_attempts += 1
        outcome = server.guard.password_failed(self._source, username, server._monotonic(),
                                               too_long=too_long)
        note = " (password over max-password-length)" if too_long else ""
        if outcome.source_blocked_for:
            note += (f"; source blocked {outcome.source_blocked_for:.2f} s after "
                     f"{outcome.source_failures} failures")
        if outcome.user_blocked_for:
            note += (f"; user locked {outcome.user_blocked_for:.2f} s after "
                     f"{outcome.user_failures} failures")
        logger.warning("Failed password for %s %s ssh2%s", self._who(username), self._where(),
                       note)
        return False

    def _who(self, username: str, *, by_key: bool = False) -> str:
        user = self._server._users.get(username)
        known = user is not None and (by_key or user.password_hash is not None)
        return f"{'' if known else 'invalid user '}{_printable(username)}"

    def _too_many_tries(self, username: str) -> None:
        self._server.guard.counters.auth_tries_exceeded += 1
        logger.warning("Maximum authentication attempts exceeded for %s %s ssh2",
                       self._who(username), self._where())
        raise asyncssh.DisconnectError(asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE,
                                       "too many authentication failures")

    async def _failure_floor(self, started: float, username: str) -> None:
        floor = self._server._failure_floor(username)
        elapsed = self._server._monotonic() - started
        while floor <= elapsed:
            floor *= 2
        await asyncio.sleep(floor - elapsed)

    def session_requested(self) -> asyncssh.SSHServerSession[bytes]:
        return _NetconfChannel(self._server, self)


class _NetconfChannel(asyncssh.SSHServerSession[bytes]):
    """One SSH session channel carrying one NETCONF session."""

    def __init__(self, server: NetconfServer, connection: _SshConnection) -> None:
        self._server = server
        self._connection = connection
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._session: NetconfSession | None = None
        self._writing_paused = False
        self._login_time: float | None = None
        #: Ended by another session's <kill-session> (RFC 6022 dropped-sessions).
        self.killed = False

    @property
    def session(self) -> NetconfSession | None:
        return self._session

    @property
    def counters(self) -> SessionCounters:
        return self._session.counters if self._session is not None else SessionCounters()

    @property
    def subscribed(self) -> bool:
        return self._session is not None and self._session.subscription is not None

    def record(self) -> SessionRecord | None:
        """This session for /netconf-state/sessions, once established."""
        session = self._session
        if session is None or session.closed or not session.was_established \
                or self._login_time is None:
            return None
        counters = session.counters
        return SessionRecord(
            session_id=session.session_id, username=session.username,
            source_host=self._connection.host, login_time=self._login_time,
            in_rpcs=counters.in_rpcs, in_bad_rpcs=counters.in_bad_rpcs,
            out_rpc_errors=counters.out_rpc_errors,
            out_notifications=counters.out_notifications)

    def notify(self, message: etree._Element) -> None:
        if self._session is None or self._session.closed:
            return
        self._session.notify(message)
        self._flush_notifications()

    def _flush_notifications(self) -> None:
        """Write queued notifications until the channel pushes back
        (pause_writing is called from inside write when it does)."""
        session, chan = self._session, self._chan
        if session is None or chan is None:
            return
        wrote = False
        while not self._writing_paused and not session.closed:
            frame = session.next_notification()
            if frame is None:
                break
            try:
                chan.write(frame)
            except OSError:  # the channel is closing: the session ends with it
                break
            wrote = True
        if wrote:
            self._connection.touch()  # data our way: the connection is not idle

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan

    def pty_requested(self, term_type: str, term_size: object, term_modes: object) -> bool:
        return False

    def shell_requested(self) -> bool:
        return False

    def exec_requested(self, command: str) -> bool:
        return False

    def subsystem_requested(self, subsystem: str) -> bool:
        if subsystem != NETCONF_SUBSYSTEM:
            logger.info("refused subsystem %s from %s", peer_text(repr(subsystem)),
                        self._connection.peer)
            return False
        session_id = self._server._open_session(self)
        if session_id is None:
            logger.warning("netconf session refused for %s: %d sessions already open",
                           self._connection.peer, self._server.settings.max_sessions)
            return False
        assert self._chan is not None
        self._session = NetconfSession(
            session_id, self._server.capabilities, self._server._wire_handler,
            username=self._chan.get_extra_info("username"), peer=self._connection.peer,
            max_message_size=self._server.settings.max_message_size,
            on_kill_request=self._server._kill, clock=self._server._clock,
            max_pending_notifications=self._server._max_pending_notifications,
            authorize=self._server._authorize, may_notify=self._server._may_notify)
        self._connection.session_opened(self)
        return True

    def session_started(self) -> None:
        assert self._chan is not None and self._session is not None
        logger.info("netconf session %d started for %s from %s", self._session.session_id,
                    self._session.username, self._connection.peer)
        self._login_time = self._server._clock()
        self._server._session_started()
        self._chan.write(self._session.start())

    def data_received(self, data: bytes, datatype: int | None) -> None:
        self._connection.touch()
        if self._session is None or self._chan is None or datatype is not None:
            return
        for frame in self._session.receive_data(data):
            self._chan.write(frame)
        if self._session.closed:
            # Queued replies are flushed before the channel closes.
            self._chan.close()

    def eof_received(self) -> bool:
        self.end_session()
        return False  # close the channel

    def pause_writing(self) -> None:
        # The client is not reading our replies: stop reading its requests;
        # notifications wait in the session's bounded queue.
        self._writing_paused = True
        if self._chan is not None:
            self._chan.pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._chan is not None:
            self._chan.resume_reading()
        self._flush_notifications()

    def connection_lost(self, exc: Exception | None) -> None:
        # The channel is fully closed here, so queued replies were flushed.
        if self._session is not None:
            self.end_session()
            self._connection.session_closed(self)

    def end_session(self) -> None:
        """End the NETCONF session (idempotent) and close the channel."""
        if self._session is None:
            return
        self._session.close()
        self._server._session_ended(self._session.session_id)
        if self._chan is not None:
            self._chan.close()

    def close_connection(self) -> None:
        self._connection.close()


class LogRateLimit:
    """At most one log line per key (a source address) per ``interval``
    seconds: connections refused before authentication cost the peer
    nothing, so one line each would let it fill the disk. ``allow`` says
    whether to log now and how many lines were suppressed since the last."""

    MAX_KEYS = 4096

    def __init__(self, *, interval: float) -> None:
        self._interval = interval
        #: key -> (when last logged, lines suppressed since)
        self._last: dict[str, tuple[float, int]] = {}

    def allow(self, key: str, now: float) -> int | None:
        """None: do not log; else the number of lines suppressed before it."""
        last = self._last.get(key)
        if last is not None and now - last[0] < self._interval:
            self._last[key] = (last[0], last[1] + 1)
            return None
        if last is None and len(self._last) >= self.MAX_KEYS:
            self._last.clear()  # bounded; forgetting only lets one more line out
        self._last[key] = (now, 0)
        return last[1] if last is not None else 0


def _verify(password: str, stored: str | None, max_length: int, dummy: str) -> bool:
    return verify_password(password, stored, max_length=max_length, dummy=dummy)


def _printable(name: str) -> str:
    """A client-chosen user name as it may appear in a log line: at most 64
    characters, anything but printable ASCII (spaces too) escaped: no forged
    lines, and no " from <address>" inside the name for fail2ban to read."""
    text = name[:64].encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if c.isprintable() and c != " " else f"\\x{ord(c):02x}" for c in text)


# -- user keys ------------------------------------------------------------------

def load_authorized_keys(user: NetconfUser) -> asyncssh.SSHAuthorizedKeys:
    """The user's ``authorized-key`` entries for asyncssh. One that asyncssh
    cannot read is a ``ConfigError`` naming the user, the data path and the
    entry (``proxymip run`` prints it in one line and does not start): the
    server never starts with a user silently missing a key."""
    quote = "'" if "'" not in user.name else '"'
    path = f"{ROOT_PATH}/netconf-server/user[name={quote}{user.name}{quote}]/authorized-key"
    for number, key in enumerate(user.authorized_keys, start=1):
        try:
            asyncssh.import_authorized_keys(key)
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise ConfigError(
                path, f"netconf user {user.name!r}: authorized key {number} is not an OpenSSH "
                f"public key asyncssh can use ({exc})") from None
    return asyncssh.import_authorized_keys("\n".join(user.authorized_keys))


# -- host key -------------------------------------------------------------------

class HostKeyError(OSError):
    """The host key file cannot be used (the server does not start; ``proxymip
    run`` says why in one line, as for any file it cannot use)."""


def load_or_create_host_key(path: str | os.PathLike[str]) -> asyncssh.SSHKey:
    """The server's ed25519 host key: read from ``path``, or generated and
    written there (mode 0600) on first start so clients see the same key on
    every start. A key file accessible by group or others is refused
    (:class:`HostKeyError`), as sshd refuses it."""
    key_path = Path(path)
    try:
        key = asyncssh.read_private_key(key_path)
    except FileNotFoundError:
        pass
    else:
        mode = stat.S_IMODE(key_path.stat().st_mode)
        if mode & 0o077:
            # As sshd: "UNPROTECTED PRIVATE KEY FILE ... This private key
            # will be ignored." Anyone who read it can impersonate the agent.
            raise HostKeyError(
                f"host key {key_path} has mode {mode:04o}: it must not be accessible by group "
                f"or others (chmod 600 {key_path}; replace the key if others may have read it)")
        return key
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile
        return asyncssh.read_private_key(key_path)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(key.export_private_key())
    logger.info("generated ssh host key %s", key_path)
    return key
