"""The local control channel: JSON lines over a Unix stream socket.

One request object per line, one response object per line. The adapter only
frames and parses; what an operation does is the handler's business (the
composition root's, which checks each request's shape first:
``agent.control_requests``). Malformed input, a request of the wrong shape and
even a handler's bug get an ``{"error": ...}`` line and the connection stays
usable; an oversized line (``max_line``) closes it.

The socket can change the agent's state, so it is its owner's alone (mode
0600) from the instant it exists at its path: it is bound inside a fresh
0700 directory beside the path, given mode 0600 there, and renamed into place
(rename(2) is atomic), so no one else can connect at any moment, without
touching the process-wide umask that other threads share. At most
``max_connections`` connections are served at once (more are answered with an
error and closed), and a connection idle for ``idle_timeout`` seconds is
closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import tempfile
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
#: Longest request line (an edit-config of a whole configuration fits).
MAX_LINE = 1 << 20
#: Connections served at once.
MAX_CONNECTIONS = 16
#: Seconds a connection may wait between two requests.
IDLE_TIMEOUT = 300.0

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(Exception):
    """A request that cannot be carried out; its message goes back to the client."""


def bind_private(path: str) -> socket.socket:
    """A Unix stream socket bound at ``path`` with mode 0600, never reachable
    by anyone but its owner: bound and chmod-ed inside a 0700 directory, then
    renamed over ``path`` (which it replaces, a stale socket included)."""
    # The staging path is the final one's directory as given (relative stays
    # relative) plus a short name: it must fit sun_path (108 octets) as the
    # final path does.
    parent = os.path.dirname(path)
    directory = os.path.join(parent, os.path.basename(tempfile.mkdtemp(prefix=".c", dir=parent or ".")))
    staging = os.path.join(directory, "s")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(staging)
        os.chmod(staging, 0o600)
        os.rename(staging, path)
    except BaseException:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)
        raise
    finally:
        os.rmdir(directory)
    return sock


class ControlServer:
    def __init__(self, path: str, handler: Handler, *, max_line: int = MAX_LINE,
                 max_connections: int = MAX_CONNECTIONS, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.path = path
        self._handler = handler
        self._max_line = max_line
        self._max_connections = max_connections
        self._idle_timeout = idle_timeout
        #: Connections refused because max_connections were open.
        self.refused_connections = 0
        self._server: asyncio.AbstractServer | None = None
        #: Connections being served: ended by close() (a lab stopped
        #: mid-request), so that none outlives the server.
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        sock = bind_private(self.path)
        try:
            self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=self._max_line)
        except BaseException:
            sock.close()
            raise

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self._max_connections:
            self.refused_connections += 1
            log.warning("control connection refused: %d already open", len(self._connections))
            writer.write(b'{"error": "too many control connections"}\n')
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                try:
                    # asyncio.timeout, not wait_for (Python 3.11's wait_for can
                    # swallow the cancellation close() sends).
                    async with asyncio.timeout(self._idle_timeout):
                        line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(b'{"error": "request line too long"}\n')
                    break
                except TimeoutError:
                    writer.write(b'{"error": "idle for too long"}\n')
                    break
                if not line:
                    break
                writer.write(json.dumps(self._answer(line)).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        except asyncio.CancelledError:
            # Stopped by close() (or the loop's end): done, not failed. A
            # handler task that ends cancelled is logged as an "Exception in
            # callback" by Python 3.11's start_server, and nobody awaits it.
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return {"error": f"malformed JSON: {exc}"}
        except ValueError as exc:
            # An integer of over sys.int_info's 4,300 digits: Python's own
            # limit (RFC 8259 §9 lets a parser limit numbers), no JSONDecodeError.
            return {"error": f"malformed JSON: {exc}"}
        except RecursionError:
            return {"error": "malformed JSON: nested too deeply"}
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"error": 'a request is an object with a string "op"'}
        try:
            return self._handler(request)
        except ControlError as exc:
            return {"error": str(exc)}
        except (KeyError, TypeError, ValueError) as exc:
            return {"error": f"bad request: {exc}"}
        except Exception:  # a handler's bug costs one answer, never the connection
            # The request is not logged: an edit may carry keys.
            log.exception("control request %r failed", request.get("op"))
            return {"error": "internal error (logged by the agent)"}

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # A client still connected (a lab stopped mid-request): its request
        # ends here, answered or not, and its handler returns.
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        if connections:
            await asyncio.wait(connections)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


async def request(path: str, payload: dict[str, Any], *, timeout: float = 10.0) -> dict[str, Any]:
    """One request/response exchange with a running agent."""
    # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a
    # cancellation that arrives as the awaited call completes, and a lab
    # polling its agents would then miss the SIGTERM that cancels it.
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_unix_connection(path, limit=64 << 20)
    try:
        writer.write(json.dumps(payload).encode() + b"\n")
        await writer.drain()
        async with asyncio.timeout(timeout):
            line = await reader.readline()
        answer: dict[str, Any] = json.loads(line)
        return answer
    finally:
        writer.close()
