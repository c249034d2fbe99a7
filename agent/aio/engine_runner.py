"""Runs one sans-IO role engine on asyncio: a UDP registration socket, optionally
a raw ICMP discovery socket, and the engine's timer.

The socket is read with ``loop.add_reader`` and drained in batches (up to
``BATCH`` datagrams per wake-up) before the engine's output is flushed and its
timer re-armed: under load this saves one epoll round per datagram compared
with ``DatagramProtocol`` (measured in docs/performance.md).

The engine's clock is wall-clock POSIX time (``time.time``) because registration
Identification fields carry NTP timestamps (RFC 5944 §5.7.1); the adapter turns
deadlines into ``loop.call_later`` delays.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Protocol

from agent.aio.icmp import IcmpSocket
from agent.mobileip.events import Event
from agent.mobileip.outputs import Channel, Transmit

log = logging.getLogger(__name__)

BATCH = 64
_RECEIVE_BUFFER = 4 << 20


class Engine(Protocol):
    def receive_datagram(self, data: bytes, source: IPv4Address, port: int, now: float) -> None: ...
    def handle_timer(self, now: float) -> None: ...
    def get_timer(self) -> float | None: ...
    def datagrams_to_send(self) -> list[Transmit]: ...
    def next_event(self) -> object | None: ...


#: Linux IP_PKTINFO (ip(7)); the socket module has it on most builds.
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_PKTINFO_SPACE = socket.CMSG_SPACE(12)

class EngineRunner:
    def __init__(
        self,
        engine: Engine,
        sock: socket.socket,
        *,
        name: str,
        on_event: Callable[[Event], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.name = name
        self._sock = sock
        self._on_event = on_event
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._icmp: IcmpSocket | None = None
        self._wants_destination = False
        #: Bound to 0.0.0.0: a Transmit's ``source`` is set per datagram
        #: (IP_PKTINFO ipi_spec_dst, ip(7)); a bound address is the source anyway.
        self._wildcard = sock.getsockname()[0] == "0.0.0.0"
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at: float | None = None
        self._sources: dict[str, IPv4Address] = {}
        self.send_errors = 0
        #: Called after every flush: the composition root hangs side channels of
        #: an engine here (the proxy's RADIUS lookups).
        self.after_flush: Callable[[], None] | None = None
        self._loop.add_reader(sock.fileno(), self._readable)

    # -- lifecycle -----------------------------------------------------------------

    @classmethod
    def open(
        cls,
        engine: Engine,
        *,
        name: str,
        address: str,
        port: int,
        on_event: Callable[[Event], None] | None = None,
        discovery: bool = False,
        discovery_interface: str | None = None,
    ) -> EngineRunner:
        """Bind the role's socket and start serving (needs a running loop).
        ``discovery_interface`` ties agent discovery to one link."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
            sock.bind((address, port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        wants_destination = bool(getattr(engine, "wants_destination", False))
        if wants_destination:
            # The home agent must tell a request sent to its home network's
            # directed broadcast (RFC 5944 §3.8.2.1): the destination address
            # of each datagram, from IP_PKTINFO (Linux ip(7)).
            sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
        runner = cls(engine, sock, name=name, on_event=on_event)
        runner._wants_destination = wants_destination
        if discovery:
            runner._icmp = IcmpSocket.open(runner._icmp_received, interface=discovery_interface)
            if runner._icmp is None:
                log.warning("%s: no raw ICMP socket (needs CAP_NET_RAW); agent discovery off", name)
        runner._after_input()
        return runner

    @classmethod
    async def start(
        cls,
        engine: Engine,
        *,
        name: str,
        address: str,
        port: int,
        on_event: Callable[[Event], None] | None = None,
        discovery: bool = False,
    ) -> EngineRunner:
        return cls.open(
            engine, name=name, address=address, port=port, on_event=on_event, discovery=discovery
        )

    @property
    def local_address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._icmp is not None:
            self._icmp.close()
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()

    # -- input ---------------------------------------------------------------------

    def _source(self, host: str) -> IPv4Address:
        address = self._sources.get(host)
        if address is None:
            if len(self._sources) > 65536:
                self._sources.clear()
            address = self._sources[host] = IPv4Address(host)
        return address

    def _readable(self) -> None:
        if self._wants_destination:
            self._readable_with_destination()
            return
        receive = self._sock.recvfrom
        engine = self.engine
        now = self._clock()
        for _ in range(BATCH):
            try:
                data, (host, port) = receive(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. ICMP port unreachable for an earlier send
                log.debug("%s: receive error %s", self.name, exc)
                continue
            engine.receive_datagram(data, self._source(host), port, now)
        self._after_input()

    def _readable_with_destination(self) -> None:
        receive = self._sock.recvmsg
        engine = self.engine
        now = self._clock()
        for _ in range(BATCH):
            try:
                data, ancillary, _, (host, port) = receive(65535, _PKTINFO_SPACE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                log.debug("%s: receive error %s", self.name, exc)
                continue
            destination = None
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IP and kind == _IP_PKTINFO and len(value) >= 12:
                    # struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
                    destination = self._source(socket.inet_ntoa(value[8:12]))
            engine.receive_datagram(data, self._source(host), port, now,  # type: ignore[call-arg]
                                    destination=destination)
        self._after_input()

    def _icmp_received(self, data: bytes, source: IPv4Address, ttl: int) -> None:
        receive = getattr(self.engine, "receive_icmp", None)
        if receive is not None:
            receive(data, source, self._clock(), ttl=ttl)
            self._after_input()

    def _on_timer(self) -> None:
        self._timer = None
        self._armed_at = None
        self.engine.handle_timer(self._clock())
        self._after_input()

    # -- output --------------------------------------------------------------------

    def poke(self) -> None:
        """Flush after the engine was driven from outside (client events,
        management actions)."""
        self._after_input()

    def _after_input(self) -> None:
        engine = self.engine
        for transmit in engine.datagrams_to_send():
            self._send(transmit)
        if self.after_flush is not None:
            self.after_flush()
        on_event = self._on_event
        while (event := engine.next_event()) is not None:
            if on_event is not None:
                on_event(event)  # type: ignore[arg-type]
        deadline = engine.get_timer()
        if deadline is None:
            return
        if self._armed_at is not None and self._armed_at <= deadline:
            return  # the armed timer fires first; it re-arms then
        if self._timer is not None:
            self._timer.cancel()
        self._armed_at = deadline
        self._timer = self._loop.call_later(max(0.0, deadline - self._clock()), self._on_timer)

    def _send(self, transmit: Transmit) -> None:
        if transmit.channel is Channel.REGISTRATION:
            try:
                if transmit.source is not None and self._wildcard:
                    # struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
                    pktinfo = b"\x00" * 4 + transmit.source.packed + b"\x00" * 4
                    self._sock.sendmsg([transmit.data], [(socket.IPPROTO_IP, _IP_PKTINFO, pktinfo)],
                                       0, (str(transmit.destination), transmit.port))
                else:
                    self._sock.sendto(transmit.data, (str(transmit.destination), transmit.port))
            except OSError as exc:
                # UDP: a full buffer or an unreachable peer loses this datagram;
                # the sender's retransmission covers it (RFC 5944 §3.6.3).
                self.send_errors += 1
                log.debug("%s: send to %s failed: %s", self.name, transmit.destination, exc)
        elif self._icmp is not None:
            self._icmp.send(transmit.data, transmit.destination)
