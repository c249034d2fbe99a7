"""NETCONF over SSH (RFC 6242): the asyncssh adapter.

Thin by design: it authenticates, accepts the ``netconf`` subsystem only
(§3), gives every channel a :class:`~agent.netconf.session.NetconfSession`
and shuttles bytes between them. Protocol decisions live in the session.

Per connection it also enforces what only the transport can see:

* ``max_sessions``: at most that many admitted SSH connections (checked when
  authentication begins, after key exchange, so the client receives a
  readable SSH disconnect, code 12 "too many connections") and at most that
  many NETCONF channels in total.
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

Passwords are checked against crypt(3) SHA-crypt hashes (``$5$`` SHA-256,
``$6$`` SHA-512, Drepper's specification) implemented here on ``hashlib``:
the stdlib ``crypt`` module is deprecated (PEP 594) and gone in Python 3.13,
and no new dependency is wanted. Other schemes (yescrypt ``$y$``, bcrypt
``$2b$``, MD5 ``$1$``) are refused with a logged warning.
"""

from __future__ import annotations

import asyncio
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

from agent.netconf.monitoring import ServerState, SessionRecord, Statistics
from agent.netconf.session import (
    DEFAULT_MAX_PENDING_NOTIFICATIONS,
    Authorizer,
    CloseReason,
    Handler,
    NetconfSession,
    NotificationCheck,
    SessionCounters,
)
from agent.netconf.settings import NetconfSettings
from agent.netconf.ssh_library import asyncssh

logger = logging.getLogger(__name__)

#: RFC 6242 §3: the one subsystem we serve.
NETCONF_SUBSYSTEM = "netconf"


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
                 may_notify: NotificationCheck | None = None) -> None:
        self.settings = settings
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

    async def start(self) -> None:
        for user in self.settings.users:
            if user.authorized_keys:
                try:
                    self._authorized_keys[user.name] = asyncssh.import_authorized_keys(
                        "\n".join(user.authorized_keys))
                except (asyncssh.KeyImportError, ValueError) as exc:
                    raise ValueError(f"netconf user {user.name!r}: bad authorized key: {exc}") \
                        from exc
        host_key = load_or_create_host_key(self.settings.host_key_file)
        self._listener = await asyncssh.create_server(
            lambda: _SshConnection(self), self.settings.address, self.settings.port,
            server_host_keys=[host_key], encoding=None, allow_pty=False,
            agent_forwarding=False, x11_forwarding=False,
            login_timeout=min(120.0, self._idle_timeout or 120.0))
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

    async def wait_closed(self) -> None:
        if self._listener is not None:
            await self._listener.wait_closed()

    # -- bookkeeping used by connections and channels --------------------------

    @property
    def _idle_timeout(self) -> float | None:
        timeout = self.settings.idle_timeout
        return timeout if timeout and timeout > 0 else None

    def _admit(self, connection: _SshConnection) -> bool:
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
        self._channels: set[_NetconfChannel] = set()
        self.peer = "?"
        #: The client's address (RFC 6022 source-host), when known.
        self.host: str | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._server._connections.add(self)
        peer = conn.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.host = str(peer[0]) if peer else None
        self.touch()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._server._release(self)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

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
        if self not in self._server._admitted and not self._server._admit(self):
            limit = self._server.settings.max_sessions
            logger.warning("netconf connection from %s refused: %d sessions already open",
                           self.peer, limit)
            raise asyncssh.DisconnectError(
                asyncssh.DISC_TOO_MANY_CONNECTIONS,
                f"NETCONF server busy: the maximum of {limit} sessions is reached")
        keys = self._server._authorized_keys.get(username)
        if keys is not None and self._conn is not None:
            self._conn.set_authorized_keys(keys)
        return True

    def password_auth_supported(self) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        user = self._server._users.get(username)
        stored = user.password_hash if user is not None else None
        # Hashing costs milliseconds of CPU: keep it off the event loop. An
        # unknown user costs the same time as a known one.
        ok = await asyncio.get_running_loop().run_in_executor(
            None, verify_password, password, stored)
        if not ok:
            logger.warning("netconf login failed for %r from %s", username, self.peer)
        return ok

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
            logger.info("refused subsystem %r from %s", subsystem, self._connection.peer)
            return False
        session_id = self._server._open_session(self)
        if session_id is None:
            logger.warning("netconf session refused for %s: %d sessions already open",
                           self._connection.peer, self._server.settings.max_sessions)
            return False
        assert self._chan is not None
        self._session = NetconfSession(
            session_id, self._server.capabilities, self._server._wire_handler,
            username=self._chan.get_extra_info("username"),
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


# -- host key -------------------------------------------------------------------

def load_or_create_host_key(path: str | os.PathLike[str]) -> asyncssh.SSHKey:
    """The server's ed25519 host key: read from ``path``, or generated and
    written there (mode 0600) on first start so clients see the same key on
    every start."""
    key_path = Path(path)
    try:
        key = asyncssh.read_private_key(key_path)
    except FileNotFoundError:
        pass
    else:
        if stat.S_IMODE(key_path.stat().st_mode) & 0o077:
            logger.warning("host key %s is readable by others; expected mode 0600", key_path)
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


# -- crypt(3) SHA-crypt verification ---------------------------------------------

_CRYPT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ROUNDS_DEFAULT = 5000
_ROUNDS_MIN = 1000
_ROUNDS_MAX = 999_999_999
#: Byte order of the final encoding (Drepper, "Unix crypt using SHA-256 and SHA-512").
_SHA512_ORDER = ((0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26),
                 (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32),
                 (12, 33, 54), (34, 55, 13), (56, 14, 35), (15, 36, 57), (37, 58, 16),
                 (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41))
_SHA256_ORDER = ((0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14), (15, 25, 5),
                 (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29))
#: Verifies an unknown user's password against something, so the reply takes
#: as long as for a known user.
_DUMMY_HASH = "$6$notarealsalt$" + "x" * 86


def verify_password(password: str, stored_hash: str | None) -> bool:
    """True when ``password`` matches a ``$5$``/``$6$`` crypt(3) hash."""
    if stored_hash is None:
        sha_crypt(password, _DUMMY_HASH)
        return False
    try:
        computed = sha_crypt(password, stored_hash)
    except ValueError as exc:
        logger.warning("netconf password hash not usable: %s", exc)
        return False
    return hmac.compare_digest(computed.encode(), stored_hash.encode())


def sha_crypt(password: str, setting: str) -> str:
    """crypt(3) for ``$5$`` and ``$6$``: the full hash string for ``password``
    with the salt (and rounds) taken from ``setting``."""
    parts = setting.split("$")
    if len(parts) < 3 or parts[0] or parts[1] not in ("5", "6"):
        scheme = parts[1] if len(parts) > 1 else setting[:3]
        raise ValueError(f"unsupported crypt scheme {scheme!r} (only $5$ and $6$)")
    scheme, fields = parts[1], parts[2:]
    rounds, explicit_rounds = _ROUNDS_DEFAULT, False
    if fields[0].startswith("rounds="):
        try:
            rounds = int(fields[0][len("rounds="):])
        except ValueError:
            raise ValueError("bad rounds= field") from None
        rounds = min(max(rounds, _ROUNDS_MIN), _ROUNDS_MAX)
        explicit_rounds = True
        fields = fields[1:]
        if not fields:
            raise ValueError("no salt")
    salt = fields[0][:16]
    digest_name, order = ("sha512", _SHA512_ORDER) if scheme == "6" else ("sha256", _SHA256_ORDER)
    final = _sha_crypt_digest(password.encode(), salt.encode(), rounds, digest_name)
    encoded = _encode_crypt64(final, order)
    prefix = f"${scheme}$" + (f"rounds={rounds}$" if explicit_rounds else "")
    return f"{prefix}{salt}${encoded}"


def _sha_crypt_digest(password: bytes, salt: bytes, rounds: int, digest_name: str) -> bytes:
    def new() -> hashlib._Hash:
        return hashlib.new(digest_name)

    size = new().digest_size

    def stretch(digest: bytes, length: int) -> bytes:
        return (digest * (length // size + 1))[:length]

    alternate = new()
    alternate.update(password + salt + password)
    alternate_digest = alternate.digest()
    context = new()
    context.update(password + salt)
    context.update(stretch(alternate_digest, len(password)))
    length = len(password)
    while length:
        context.update(alternate_digest if length & 1 else password)
        length >>= 1
    result = context.digest()
    p_bytes = stretch(hashlib.new(digest_name, password * len(password)).digest(), len(password))
    s_bytes = stretch(hashlib.new(digest_name, salt * (16 + result[0])).digest(), len(salt))
    for index in range(rounds):
        context = new()
        context.update(p_bytes if index & 1 else result)
        if index % 3:
            context.update(s_bytes)
        if index % 7:
            context.update(p_bytes)
        context.update(result if index & 1 else p_bytes)
        result = context.digest()
    return result


def _encode_crypt64(digest: bytes, order: tuple[tuple[int, int, int], ...]) -> str:
    out = []

    def emit(value: int, count: int) -> None:
        for _ in range(count):
            out.append(_CRYPT_ALPHABET[value & 0x3F])
            value >>= 6

    for first, second, third in order:
        emit((digest[first] << 16) | (digest[second] << 8) | digest[third], 4)
    if len(digest) == 64:
        emit(digest[63], 2)
    else:
        emit((digest[31] << 8) | digest[30], 3)
    return "".join(out)
