"""The local control channel: JSON lines over a Unix stream socket.

One request object per line, one response object per line. The adapter only
frames and parses; what an operation does is the handler's business (the
composition root's). Malformed input gets an ``{"error": ...}`` line and the
connection stays usable; oversized lines close it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
MAX_LINE = 1 << 20

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(Exception):
    """A request that cannot be carried out; its message goes back to the client."""


class ControlServer:
    def __init__(self, path: str, handler: Handler) -> None:
        self.path = path
        self._handler = handler
        self._server: asyncio.AbstractServer | None = None
        #: Connections being served: ended by close() (a lab stopped
        #: mid-request), so that none outlives the server.
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(self._serve, path=self.path, limit=MAX_LINE)
        os.chmod(self.path, 0o600)  # local root/owner only: it can change state

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(b'{"error": "request line too long"}\n')
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
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"error": 'a request is an object with a string "op"'}
        try:
            return self._handler(request)
        except ControlError as exc:
            return {"error": str(exc)}
        except (KeyError, TypeError, ValueError) as exc:
            return {"error": f"bad request: {exc}"}

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
