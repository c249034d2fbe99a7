"""AF_PACKET adapter for ``agent.access.snoop.ClientSnooper``: one raw packet
socket bound to the access point's client-facing link (needs CAP_NET_RAW),
ARP and IPv4 only, frames read in batches on the event loop; inactivity
checked by a loop timer. With an ``ArpInterceptor`` (``agent/access/intercept.py``)
the same frames go to it too, and what it answers is sent on the same socket
(a packet socket sends whole Ethernet frames on its device)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable

from agent.access.events import ClientEvent
from agent.access.intercept import ArpInterceptor
from agent.access.snoop import ETH_P_ARP, ETH_P_IP, ClientSnooper

log = logging.getLogger(__name__)
_BATCH = 64


class SnoopSocket:
    def __init__(self, device: str, snooper: ClientSnooper,
                 on_event: Callable[[ClientEvent], None],
                 clock: Callable[[], float] = time.time,
                 interceptor: ArpInterceptor | None = None) -> None:
        """``device``: the network interface to watch; ``snooper`` reports with
        its own interface (SSID) name; ``interceptor``: answers for the
        link's registered visitors."""
        self.device = device
        self.snooper = snooper
        self.interceptor = interceptor
        #: Frames the interceptor asked for that the device refused.
        self.send_errors = 0
        self._on_event = on_event
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._socks: list[socket.socket] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline = 0.0
        try:
            for ethertype in (ETH_P_ARP, ETH_P_IP):
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
                self._socks.append(sock)
                sock.bind((device, 0))
                sock.setblocking(False)
                self._loop.add_reader(sock.fileno(), self._readable, sock)
        except BaseException:
            self.close()
            raise
        log.info("learning clients from frames on %s", device)

    def _readable(self, sock: socket.socket) -> None:
        now = self._clock()
        for _ in range(_BATCH):
            try:
                frame, address = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # the interface went away (a roaming port)
                log.warning("snooping %s: %s", self.device, exc)
                break
            event = self.snooper.frame(frame, address[2], now)
            if event is not None:
                self._deliver(event)
            if self.interceptor is not None:
                self.send(self.interceptor.frame(frame, address[2], now))
        self._rearm()

    def send(self, frames: list[bytes]) -> None:
        """Send whole Ethernet frames on the device (best effort, counted)."""
        if not frames or not self._socks:
            return
        sock = self._socks[0]
        for frame in frames:
            try:
                sock.send(frame)
            except OSError as exc:
                self.send_errors += 1
                log.warning("sending on %s: %s", self.device, exc)

    def own_mac(self) -> bytes:
        """The device's own MAC (the packet socket's address)."""
        return bytes(self._socks[0].getsockname()[4])

    def _deliver(self, event: ClientEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("client event %s failed", event)

    def _rearm(self) -> None:
        deadline = self.snooper.next_deadline()
        if deadline is None or (self._timer is not None and self._timer_deadline <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_deadline = deadline
        self._timer = self._loop.call_later(max(0.0, deadline - self._clock()), self._expire)

    def _expire(self) -> None:
        self._timer = None
        for event in self.snooper.tick(self._clock()):
            self._deliver(event)
        self._rearm()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for sock in self._socks:
            if sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
                sock.close()
        self._socks.clear()
