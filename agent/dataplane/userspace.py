"""A userspace IP-in-IP tunnel (RFC 2003) for kernels without ``ipip``.

Each remote endpoint gets a TUN device (``IFF_TUN | IFF_NO_PI``) named by
``tunnel_name``; routes point at it as they would at an ``ipip`` device. What
the kernel routes into a TUN is read here, given an outer header (TTL 64, TOS
and DF copied from the inner header, protocol 4) and sent on one raw socket for
IP protocol 4 with ``IP_HDRINCL``. The same socket receives every IP-in-IP
datagram addressed to this host: the outer source must be a registered
endpoint (else the datagram is dropped and counted as spoofed), an optional
check vets the inner packet, and the inner packet is written to that
endpoint's TUN, so the kernel sees it arrive on the tunnel interface.

The TUN devices are not persistent: closing their descriptors (``close``, or
the process dying) removes them and every route through them."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from agent.dataplane.packet import PacketError, decapsulate, encapsulate
from agent.dataplane.tunnels import TUNNEL_MTU, TunnelCounters, tunnel_name

log = logging.getLogger("proxymip.dataplane")

_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000
_BATCH = 64
_MAX_PACKET = 65535

#: (outer source, inner packet) -> may this endpoint send this packet?
InnerCheck = Callable[[bytes, bytes], bool]


def open_tun(name: str) -> int:
    """A non-blocking descriptor of a new TUN device ``name`` (IFF_NO_PI: reads
    and writes are bare IP packets)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH22x", name.encode(), _IFF_TUN | _IFF_NO_PI))
        os.set_blocking(fd, False)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _configure_device(name: str) -> None:
    """Decapsulated packets come from anywhere (a correspondent node's address):
    strict reverse-path filtering on the tunnel would drop them. IPv4-in-IPv4
    only: no IPv6 on the device (else the kernel sends its MLD and router
    solicitations into it)."""
    for path, value in ((f"/proc/sys/net/ipv4/conf/{name}/rp_filter", "0"),
                        (f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "1")):
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as exc:
            log.warning("cannot set %s: %s", path, exc)


@dataclass(slots=True)
class _Tunnel:
    remote: IPv4Address
    remote_bytes: bytes
    name: str
    fd: int


class UserspaceTunnels:
    def __init__(
        self,
        local: IPv4Address,
        *,
        netlink: Any,
        loop: asyncio.AbstractEventLoop | None = None,
        mtu: int = TUNNEL_MTU,
        inner_check: InnerCheck | None = None,
        receive_buffer: int = 4 << 20,
    ) -> None:
        """``netlink`` is a pyroute2 ``IPRoute`` in the namespace the tunnels live
        in (it brings the TUN devices up). Needs CAP_NET_ADMIN and CAP_NET_RAW."""
        self.local = local
        self.counters = TunnelCounters()
        self.inner_check = inner_check
        self._local_bytes = local.packed
        self._netlink = netlink
        self._loop = loop or asyncio.get_running_loop()
        self._mtu = mtu
        self._by_remote: dict[IPv4Address, _Tunnel] = {}
        self._by_outer_source: dict[bytes, _Tunnel] = {}
        self._raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
        try:
            self._raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            self._raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            self._raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, receive_buffer)
            self._raw.setblocking(False)
            self._loop.add_reader(self._raw.fileno(), self._receive)
        except BaseException:
            self._raw.close()
            raise

    # -- Tunnels ------------------------------------------------------------------

    def add(self, remote: IPv4Address) -> str:
        tunnel = self._by_remote.get(remote)
        if tunnel is not None:
            return tunnel.name
        name = tunnel_name(remote)
        fd = open_tun(name)
        try:
            index = self._netlink.link_lookup(ifname=name)[0]
            _configure_device(name)
            self._netlink.link("set", index=index, state="up", mtu=self._mtu)
            tunnel = _Tunnel(remote, remote.packed, name, fd)
            self._loop.add_reader(fd, self._transmit, tunnel)
        except BaseException:
            os.close(fd)
            raise
        self._by_remote[remote] = tunnel
        self._by_outer_source[tunnel.remote_bytes] = tunnel
        log.info("tunnel %s up: %s -> %s (userspace)", name, self.local, remote)
        return name

    def remove(self, remote: IPv4Address) -> None:
        tunnel = self._by_remote.pop(remote, None)
        if tunnel is None:
            return
        del self._by_outer_source[tunnel.remote_bytes]
        self._loop.remove_reader(tunnel.fd)
        os.close(tunnel.fd)  # the device and its routes go with the descriptor
        log.info("tunnel %s removed", tunnel.name)

    def interface(self, remote: IPv4Address) -> str | None:
        tunnel = self._by_remote.get(remote)
        return tunnel.name if tunnel is not None else None

    def endpoints(self) -> frozenset[IPv4Address]:
        return frozenset(self._by_remote)

    def close(self) -> None:
        for remote in list(self._by_remote):
            self.remove(remote)
        if self._raw.fileno() >= 0:
            self._loop.remove_reader(self._raw.fileno())
            self._raw.close()

    # -- the two directions -----------------------------------------------------------

    def _transmit(self, tunnel: _Tunnel) -> None:
        """Encapsulate what the kernel routed into ``tunnel`` (a batch per wake-up)."""
        counters = self.counters
        destination = (str(tunnel.remote), 0)
        for _ in range(_BATCH):
            try:
                inner = os.read(tunnel.fd, _MAX_PACKET)
            except BlockingIOError:
                return
            except OSError:
                counters.write_errors += 1
                return
            try:
                packet = encapsulate(inner, self._local_bytes, tunnel.remote_bytes)
            except PacketError:
                counters.malformed_dropped += 1
                continue
            try:
                self._raw.sendto(packet, destination)
            except OSError:
                counters.send_errors += 1
                continue
            counters.encapsulated += 1

    def _receive(self) -> None:
        """Decapsulate IP-in-IP from registered endpoints into their TUN."""
        counters = self.counters
        by_source = self._by_outer_source
        check = self.inner_check
        for _ in range(_BATCH):
            try:
                packet = self._raw.recv(_MAX_PACKET)
            except BlockingIOError:
                return
            except OSError:
                counters.malformed_dropped += 1
                return
            try:
                decapsulated = decapsulate(packet)
            except PacketError:
                counters.malformed_dropped += 1
                continue
            tunnel = by_source.get(decapsulated.outer_source)
            if tunnel is None:
                counters.unknown_endpoint_dropped += 1
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("IP-in-IP from %s dropped: not a tunnel endpoint",
                              IPv4Address(decapsulated.outer_source))
                continue
            if check is not None and not check(decapsulated.outer_source, decapsulated.inner):
                counters.inner_address_dropped += 1
                continue
            try:
                os.write(tunnel.fd, decapsulated.inner)
            except OSError:
                counters.write_errors += 1
                continue
            counters.decapsulated += 1
