"""The asyncio adapter of the plane boundary: a Unix stream socket, one
session per connection. It shuttles bytes, re-arms one timer, hands events
to a callback and enforces the socket-level bounds; every protocol decision
is the session's.

Why SOCK_STREAM and not SOCK_SEQPACKET: a resynchronisation chunk or a full
configuration (10,000 SAs, ~2 MB) is larger than what one SEQPACKET message
may hold (the socket's send buffer, net.core.wmem_max), asyncio has stream
transports with write flow control for Unix sockets and nothing for
SEQPACKET, and FRRouting's mgmtd does the same (AF_UNIX SOCK_STREAM, a
marker-and-length header, lib/mgmt_msg.c). The 4-byte length of each frame
gives what SEQPACKET would: message boundaries, and a bound checked before
a byte of the body is held.

Only a peer of the same user may connect (SO_PEERCRED), and the socket file
is made 0600: the boundary carries configuration, keys included.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Callable, Mapping
from pathlib import Path

from agent.plane import messages as m
from agent.plane import session as s
from agent.plane.stream import StateStream

#: Past this much unsent output the peer is not reading: drop it (it
#: reconnects and resynchronises) rather than hold the engines' memory.
MAX_BUFFERED = 64 << 20
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class SessionTimer:
    """The one loop timer of a sans-IO session: ``arm()`` follows the
    session's ``get_timer()`` after each use; when it fires, the session's
    ``handle_timer(now)`` runs, then ``after`` (the adapter's flush)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, session: s._Session,
                 after: Callable[[], None]) -> None:
        self._loop = loop
        self._session = session
        self._after = after
        self._handle: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        when = self._session.get_timer()
        if self._handle is not None:
            if when is not None and self._handle.when() == when:
                return
            self._handle.cancel()
            self._handle = None
        if when is not None:
            self._handle = self._loop.call_at(when, self._expired)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expired(self) -> None:
        self._handle = None
        self._session.handle_timer(self._loop.time())
        self._after()


class PlaneConnection(asyncio.Protocol):
    """One connection: bytes in -> session -> events out, bytes out."""

    def __init__(self, session: s._Session, on_event: Callable[[s.Event], None], *,
                 loop: asyncio.AbstractEventLoop, allowed_uid: int | None = None,
                 on_closed: Callable[[PlaneConnection], None] | None = None,
                 max_buffered: int = MAX_BUFFERED) -> None:
        self.session = session
        self.peer_pid: int | None = None
        self._on_event = on_event
        self._on_closed = on_closed
        self._loop = loop
        self._allowed_uid = allowed_uid
        self._max_buffered = max_buffered
        self._transport: asyncio.Transport | None = None
        self._timer = SessionTimer(loop, session, self.flush)
        self.writable = True

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and self._allowed_uid is not None:
            pid, uid, _ = _PEERCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
            self.peer_pid = pid
            if uid != self._allowed_uid:
                transport.abort()
                return
        self.flush()

    def data_received(self, data: bytes) -> None:
        self.session.receive_data(data, self._loop.time())
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._timer.cancel()
        was_open = self.session.state is not s.SessionState.CLOSED
        self.session.close()
        self._transport = None
        while (event := self.session.next_event()) is not None:
            self._on_event(event)  # what the session reports lost
        if was_open:
            self._on_event(s.SessionClosed(m.ErrorTag.RESOURCE_DENIED, "connection lost", by_peer=True))
        if self._on_closed is not None:
            self._on_closed(self)

    def pause_writing(self) -> None:
        self.writable = False

    def resume_writing(self) -> None:
        self.writable = True

    def close(self) -> None:
        """Close the connection (``connection_lost`` follows)."""
        if self._transport is not None:
            self._transport.close()

    # -- after every change of the session ------------------------------------------------

    def flush(self) -> None:
        """Write what the session has to send, hand its events on, re-arm its
        timer; close when the session closed. Call after using the session."""
        transport = self._transport
        data = self.session.data_to_send()
        if transport is not None and data:
            transport.write(data)
            if transport.get_write_buffer_size() > self._max_buffered:
                transport.abort()  # connection_lost follows
                return
        while (event := self.session.next_event()) is not None:
            self._on_event(event)
        if self.session.state is s.SessionState.CLOSED:
            if transport is not None:
                data = self.session.data_to_send()
                if data:
                    transport.write(data)
                transport.close()
            return
        self._timer.arm()



async def serve_management(path: str | Path, make_session: Callable[[float], s.ManagementSession],
                           on_event: Callable[[PlaneConnection, s.Event], None], *,
                           allowed_uid: int | None = None) -> asyncio.AbstractServer:
    """Listen on ``path`` for the control plane (a stale socket file is
    replaced). ``make_session(now)`` builds each connection's session."""
    loop = asyncio.get_running_loop()
    path = Path(path)
    if path.is_socket():
        path.unlink()
    uid = os.getuid() if allowed_uid is None else allowed_uid

    def factory() -> PlaneConnection:
        connection: PlaneConnection

        def forward(event: s.Event) -> None:
            on_event(connection, event)

        connection = PlaneConnection(make_session(loop.time()), forward, loop=loop, allowed_uid=uid)
        return connection

    server = await loop.create_unix_server(factory, str(path))
    os.chmod(path, 0o600)
    return server


async def connect_control(path: str | Path, make_session: Callable[[float], s.ControlSession],
                          on_event: Callable[[s.Event], None]) -> PlaneConnection:
    loop = asyncio.get_running_loop()
    _, connection = await loop.create_unix_connection(
        lambda: PlaneConnection(make_session(loop.time()), on_event, loop=loop,
                                allowed_uid=os.getuid()), str(path))
    return connection


def state_sender(connection: PlaneConnection) -> Callable[[m.StateMessage], None]:
    """The ``send`` of a control plane's ``StateStream``: into the session
    while it is established, dropped otherwise (the next session begins with
    a resynchronisation, so nothing dropped is missed)."""
    def send(message: m.StateMessage) -> None:
        session = connection.session
        if session.state is s.SessionState.ESTABLISHED and isinstance(session, s.ControlSession):
            session.send_state(message)
    return send


class StreamPump:
    """Runs a ``StateStream`` on the loop: deltas flushed once per loop turn,
    a resynchronisation one budgeted step per turn (other callbacks, the
    engines' sockets among them, run in between), paused while the socket's
    buffer is full."""

    def __init__(self, stream: StateStream, connection: PlaneConnection, *,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.stream = stream
        self._connection = connection
        self._loop = loop
        self._flush_scheduled = False
        self._stepping = False

    def changed(self) -> None:
        """Something was recorded: flush at the end of this loop turn."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self.stream.flush()
        self._connection.flush()

    def start_counters(self, period: float,
                       read: Callable[[], tuple[float, Mapping[str, Mapping[str, int]]]]) -> None:
        """Send ``read()`` (taken-at, groups) every ``period`` seconds while
        the session lasts (the YANG's state period, 1 s by default)."""
        def tick() -> None:
            if self._connection.session.state is s.SessionState.CLOSED:
                return
            if self._connection.session.state is s.SessionState.ESTABLISHED:
                taken_at, groups = read()
                self.stream.send_counters(taken_at, groups)
                self._connection.flush()
            self._loop.call_later(period, tick)

        self._loop.call_later(period, tick)

    def resync(self) -> None:
        self.stream.begin_resync()
        self._connection.flush()
        if not self._stepping:
            self._stepping = True
            self._loop.call_soon(self._step)

    def _step(self) -> None:
        if self._connection.session.state is s.SessionState.CLOSED:
            self._stepping = False
            return
        if not self._connection.writable:
            self._loop.call_later(0.001, self._step)
            return
        more = self.stream.resync_step()
        self._connection.flush()
        if more:
            self._loop.call_soon(self._step)
        else:
            self._stepping = False
