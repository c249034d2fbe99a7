"""Raw ICMP socket for agent discovery (RFC 5944 §2): TTL 1 on everything we
send (§2.1 "The TTL for all Agent Advertisements MUST be set to 1"); what we
receive is passed on without its IP header, with the TTL it arrived with (a
raw IPv4 socket receives the header: TTL is its ninth octet, RFC 791 §3.1), so
the engine can drop advertisements not sent with TTL 1. Opening it needs
CAP_NET_RAW; without it the caller runs without discovery."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from ipaddress import IPv4Address

log = logging.getLogger(__name__)

#: Datagrams read per readable event at most (then the loop serves others).
BATCH = 64


class IcmpSocket:
    def __init__(self, sock: socket.socket, receive: Callable[[bytes, IPv4Address, int], None]) -> None:
        self._sock = sock
        self._receive = receive
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    @classmethod
    def open(
        cls,
        receive: Callable[[bytes, IPv4Address, int], None],
        *,
        interface_address: str | None = None,
        interface: str | None = None,
    ) -> IcmpSocket | None:
        """``interface``: send and receive on that link only (SO_BINDTODEVICE),
        so multicast advertisements go out where the visitors are."""
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except PermissionError:
            return None
        try:
            if interface:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        if interface_address:
            sock.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface_address)
            )
        return cls(sock, receive)

    def _readable(self) -> None:
        # Drained in batches, as EngineRunner drains UDP: a raw socket gets
        # every ICMP message of the host, and one per loop turn lets a flood
        # fill its queue until the kernel drops the solicitations among it.
        for _ in range(BATCH):
            try:
                packet, (source, _) = self._sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            if len(packet) < 20:
                continue
            header_length = (packet[0] & 0x0F) * 4
            self._receive(packet[header_length:], IPv4Address(source), packet[8])

    def send(self, data: bytes, destination: IPv4Address) -> None:
        try:
            self._sock.sendto(data, (str(destination), 0))
        except OSError as exc:
            log.debug("ICMP send to %s failed: %s", destination, exc)

    def close(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
