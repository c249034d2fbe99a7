"""Follows a hostapd control interface (a Unix datagram socket): ATTACH, then
every AP-STA-CONNECTED / AP-STA-DISCONNECTED becomes a client event. Stations
already associated when we attach are listed with STA-FIRST / STA-NEXT.
A Unix datagram socket says nothing when its peer exits, so after
KEEPALIVE_INTERVAL without a message the adapter sends PING (as hostapd_cli
does); no PONG, or a refused send, means hostapd went away, and the adapter
re-attaches every few seconds until it is back."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import tempfile
from collections.abc import Callable

from agent.access.events import ClientAssociated, ClientEvent, normalise_mac, parse_hostapd_event

log = logging.getLogger(__name__)
_counter = itertools.count()
REATTACH_INTERVAL = 3.0
REQUEST_TIMEOUT = 2.0
KEEPALIVE_INTERVAL = 5.0


class HostapdMonitor:
    def __init__(
        self, control_path: str, interface: str, on_event: Callable[[ClientEvent], None]
    ) -> None:
        self.control_path = control_path
        self.interface = interface
        self._on_event = on_event
        self._task: asyncio.Task[None] | None = None
        self.attached = asyncio.Event()
        self.events_received = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _socket(self) -> tuple[socket.socket, str]:
        local = os.path.join(
            tempfile.gettempdir(), f"proxymip-hostapd-{os.getpid()}-{next(_counter)}"
        )
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(local)
            sock.connect(self.control_path)
        except OSError:
            # hostapd not there (yet): leave no socket file behind per retry.
            sock.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(local)
            raise
        sock.setblocking(False)
        return sock, local

    async def _request(self, sock: socket.socket, command: str) -> str:
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, command.encode())
        while True:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                data = await loop.sock_recv(sock, 4096)
            text = data.decode(errors="replace")
            if not text.startswith("<"):  # unsolicited events start with <level>
                return text
            self._deliver(text)

    def _deliver(self, text: str) -> None:
        event = parse_hostapd_event(text, interface=self.interface)
        if event is not None:
            self.events_received += 1
            self._on_event(event)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sock: socket.socket | None = None
            local = ""
            try:
                sock, local = self._socket()
                if (await self._request(sock, "ATTACH")).strip() != "OK":
                    raise OSError("hostapd refused ATTACH")
                reply = await self._request(sock, "STA-FIRST")
                while reply.strip() and not reply.startswith("FAIL"):
                    with contextlib.suppress(ValueError):
                        self._on_event(ClientAssociated(normalise_mac(reply.split("\n", 1)[0]), self.interface))
                    reply = await self._request(sock, f"STA-NEXT {reply.split(chr(10), 1)[0]}")
                self.attached.set()
                log.info("attached to hostapd at %s (%s)", self.control_path, self.interface)
                while True:
                    try:
                        async with asyncio.timeout(KEEPALIVE_INTERVAL):
                            data = await loop.sock_recv(sock, 4096)
                    except TimeoutError:
                        if (await self._request(sock, "PING")).strip() != "PONG":
                            raise OSError("hostapd did not answer PING") from None
                        continue
                    self._deliver(data.decode(errors="replace"))
            except (OSError, TimeoutError) as exc:
                log.warning("hostapd %s: %s; retrying", self.control_path, exc)
            finally:
                self.attached.clear()
                if sock is not None:
                    sock.close()
                if local:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(local)
            await asyncio.sleep(REATTACH_INTERVAL)
