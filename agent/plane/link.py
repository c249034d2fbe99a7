"""The management plane's adapter of the plane boundary: the listening Unix
socket and one connection to the control plane, on non-blocking sockets
driven by the event loop (``loop.add_reader`` / ``add_writer``), with an
output buffer of its own.

Why not ``aio.PlaneConnection`` (an asyncio transport) on this side: the
datastore and NETCONF are synchronous, so a configuration transaction must
get its verdict *inside* the datastore's change phase. ``PlaneLink.pump_until``
does that: it writes what is queued, then ``select()``s on the socket and feeds
what arrives to the session until the verdict (or the deadline). With an
asyncio transport this is unsafe: the transport keeps its own write buffer, so
bytes written to the socket directly could overtake bytes it still holds, and
its reader callback would race ours. Owning the buffer makes both paths
(the loop's callbacks and the synchronous pump) write the same bytes in the
same order.

The cost: while a commit waits for the control plane's verdict the
management plane's loop waits too (other NETCONF sessions, SNMP, the control
channel); the engines, in the other process, do not. The wait is bounded by
the session's change timeout (5 s), and a verdict normally takes as long as
the control plane's validation of the change set. State messages that arrive
meanwhile are handled as usual (the mirror keeps following the stream).

Only a peer of the same uid may connect (``SO_PEERCRED``); the socket file is
0600 from the instant it exists (``agent.aio.control.bind_private``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import select
import socket
import struct
from collections.abc import Callable

from agent.aio.control import bind_private
from agent.plane import messages as m
from agent.plane.aio import SessionTimer
from agent.plane import session as s

log = logging.getLogger(__name__)

#: Past this much unsent output the control plane is not reading: drop it (it
#: reconnects and gets the whole configuration again) rather than grow.
MAX_BUFFERED = 64 << 20
READ_SIZE = 1 << 18
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def peer_credentials(sock: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end of a Unix socket."""
    pid, uid, _ = _PEERCRED.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
    return pid, uid


class PlaneLink:
    """One control-plane connection: bytes in -> session -> events, bytes out.
    ``flush()`` after every use of the session (as ``PlaneConnection``)."""

    def __init__(self, sock: socket.socket, session: s.ManagementSession,
                 on_event: Callable[[s.Event], None], *, loop: asyncio.AbstractEventLoop,
                 on_closed: Callable[[PlaneLink], None] | None = None,
                 max_buffered: int = MAX_BUFFERED, peer_pid: int | None = None) -> None:
        self.session = session
        self.peer_pid = peer_pid
        self._sock = sock
        self._fd = sock.fileno()
        self._loop = loop
        self._on_event = on_event
        self._on_closed = on_closed
        self._max_buffered = max_buffered
        self._out = bytearray()
        self._writing = False
        self._timer = SessionTimer(loop, session, self.flush)
        self._closed = False
        sock.setblocking(False)
        loop.add_reader(self._fd, self._readable)
        self.flush()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def buffered(self) -> int:
        return len(self._out)

    # -- the loop's callbacks ---------------------------------------------------------------

    def _readable(self) -> None:
        self._receive_once()
        self.flush()

    def _writable(self) -> None:
        self._write_some()

    def _receive_once(self) -> bool:
        """One recv into the session; False when nothing was there or the
        connection ended."""
        if self._closed:
            return False
        try:
            data = self._sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self._lost(f"receive failed: {exc.strerror or exc}")
            return False
        if not data:
            self._lost("the control plane closed the connection")
            return False
        self.session.receive_data(data, self._loop.time())
        return True

    def _write_some(self) -> None:
        out = self._out
        while out and not self._closed:
            try:
                sent = self._sock.send(out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._lost(f"send failed: {exc.strerror or exc}")
                return
            del out[:sent]
        want = bool(out) and not self._closed
        if want and not self._writing:
            self._loop.add_writer(self._fd, self._writable)
            self._writing = True
        elif not want and self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False

    # -- after every change of the session ------------------------------------------------

    def flush(self) -> None:
        """Queue and write what the session has to send, hand its events on,
        re-arm its timer; close when the session closed."""
        if self._closed:
            self._drain_events()
            return
        data = self.session.data_to_send()
        if data:
            self._out += data
            self._write_some()
            if len(self._out) > self._max_buffered:
                self._lost(f"over {self._max_buffered} bytes unsent")
                return
        self._drain_events()
        if self.session.state is s.SessionState.CLOSED:
            self._close_socket()
            self._ended()
            return
        self._timer.arm()

    def _drain_events(self) -> None:
        while (event := self.session.next_event()) is not None:
            self._on_event(event)


    # -- the synchronous pump (inside a datastore transaction) ---------------------------

    def pump_until(self, done: Callable[[], bool], deadline: float) -> bool:
        """Write what is queued and read the socket, feeding the session and
        handling its events and timers, until ``done()`` or ``deadline`` (the
        loop's clock) or the connection ends. Returns ``done()``. Blocks the
        calling thread: the event loop's, since the session belongs to it."""
        self.flush()
        while not done() and not self._closed:
            now = self._loop.time()
            timer = self.session.get_timer()
            if timer is not None and timer <= now:
                self.session.handle_timer(now)
                self.flush()
                continue
            if now >= deadline:
                break
            wait = min(deadline, timer if timer is not None else math.inf) - now
            try:
                readable, writable, _ = select.select(
                    [self._sock], [self._sock] if self._out else [], [], max(0.0, wait))
            except (OSError, ValueError) as exc:  # the socket closed under us
                self._lost(f"select failed: {exc}")
                break
            if writable:
                self._write_some()
            if readable:
                self._receive_once()
            self.flush()
        return done()

    # -- the end ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Drop the connection (what was in flight is reported lost)."""
        self._lost("closed by the management plane")

    def _lost(self, reason: str) -> None:
        if self._closed:
            return
        was_open = self.session.state is not s.SessionState.CLOSED
        if was_open:
            log.info("plane connection (control plane pid %s): %s", self.peer_pid, reason)
        self._close_socket()
        self.session.close()
        self._drain_events()
        if was_open:
            self._on_event(s.SessionClosed(m.ErrorTag.RESOURCE_DENIED, reason, by_peer=True))
        self._ended()

    def _ended(self) -> None:
        on_closed, self._on_closed = self._on_closed, None
        if on_closed is not None:
            on_closed(self)

    def _close_socket(self) -> None:
        if self._closed:
            return
        if self._out:  # a SessionError's last bytes, best effort
            with contextlib.suppress(OSError):
                self._sock.send(self._out)
        self._closed = True
        self._out.clear()
        self._timer.cancel()
        self._loop.remove_reader(self._fd)
        if self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False
        self._sock.close()


class PlaneListener:
    """The management plane's listening socket for the control plane: mode
    0600, peers of ``allowed_uid`` only (others are closed at once and
    counted in ``refused``)."""

    def __init__(self, path: str, on_connection: Callable[[socket.socket, int], None], *,
                 loop: asyncio.AbstractEventLoop, allowed_uid: int | None = None) -> None:
        self.path = path
        self.refused = 0
        self._on_connection = on_connection
        self._loop = loop
        self._uid = os.getuid() if allowed_uid is None else allowed_uid
        self._sock: socket.socket | None = None

    def start(self) -> None:
        sock = bind_private(self.path)
        sock.listen(4)
        sock.setblocking(False)
        self._sock = sock
        self._loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        assert self._sock is not None
        try:
            connection, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EMFILE and the like: the listener stays
            log.warning("plane socket accept failed: %s", exc.strerror or exc)
            return
        pid, uid = peer_credentials(connection)
        if uid != self._uid:
            self.refused += 1
            log.warning("plane socket: refused a peer of uid %d (pid %d)", uid, pid)
            connection.close()
            return
        self._on_connection(connection, pid)

    def close(self) -> None:
        if self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
