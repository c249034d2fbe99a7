"""AF_PACKET adapter for ``agent.access.snoop.ClientSnooper``: one raw packet
socket bound to the access point's client-facing link (needs CAP_NET_RAW),
ARP and IPv4 only (a kernel filter), frames read in batches on the event loop; inactivity
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
from agent.dataplane.arp import attach_filter

log = logging.getLogger(__name__)
_BATCH = 64
_ETH_P_ALL = 0x0003
#: Classic BPF (linux/filter.h): accept Ethernet frames of type ARP or IPv4
#: that this host did not send (an ETH_P_ALL tap also sees every frame going
#: out of the port: the traffic towards the clients, the interceptor's answers).
_ARP_OR_IPV4 = (
    (0x20, 0, 0, 0xFFFFF004),  # ld [SKF_AD_OFF + SKF_AD_PKTTYPE]
    (0x15, 4, 0, 4),           # jeq #PACKET_OUTGOING   drop
    (0x28, 0, 0, 12),          # ldh [12]     ethertype
    (0x15, 1, 0, ETH_P_ARP),   # jeq #ARP     accept
    (0x15, 0, 1, ETH_P_IP),    # jeq #IPv4    accept, else drop
    (0x06, 0, 0, 0xFFFF),      # ret #65535   accept
    (0x06, 0, 0, 0),           # ret #0       drop
)


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
        #: Raw IPv4 socket for the packets the interceptor forwards (lazily).
        self._router: socket.socket | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline = 0.0
        try:
            # ETH_P_ALL: a client-facing port that is a bridge port hands its
            # frames to the bridge before any protocol's packet socket bound to
            # it; only the taps (ETH_P_ALL) see them there. The kernel keeps
            # ARP and IPv4 only (classic BPF), so no other traffic reaches Python.
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
            self._socks.append(sock)
            attach_filter(sock, _ARP_OR_IPV4)
            sock.bind((device, _ETH_P_ALL))
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
                self._route(self.interceptor.packets_to_forward())
        self._rearm()

    def _route(self, packets: list[bytes]) -> None:
        """Send IPv4 packets on by this host's routing (a raw IPPROTO_RAW
        socket: header included as it came, the kernel picks the way)."""
        if not packets:
            return
        if self._router is None:
            self._router = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
            self._router.setblocking(False)
        for packet in packets:
            try:
                self._router.sendto(packet, (socket.inet_ntoa(packet[16:20]), 0))
            except OSError as exc:
                self.send_errors += 1
                log.warning("forwarding from %s: %s", self.device, exc)

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
        if self._router is not None:
            self._router.close()
            self._router = None
