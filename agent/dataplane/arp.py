"""Gratuitous ARP (RFC 5944 §4.6) on an AF_PACKET socket.

When a home agent starts to intercept for a mobile node it announces, on the
home link, that the mobile node's home address is at the home agent's own
link-layer address, so that nodes with a stale ARP entry for the mobile node
update it."""

from __future__ import annotations

import logging
import socket
import struct
from typing import Any

log = logging.getLogger("proxymip.dataplane")

_ETH_P_ARP = 0x0806
_BROADCAST = b"\xff" * 6
_ARP_REQUEST = 1


def gratuitous_arp_frame(mac: bytes, address: bytes) -> bytes:
    """An Ethernet broadcast ARP Request whose sender and target protocol
    addresses are both ``address`` and whose sender hardware address is
    ``mac`` (RFC 5944 §4.6; the target hardware address is ignored, zero)."""
    if len(mac) != 6 or len(address) != 4:
        raise ValueError("expected a 6-byte MAC and a 4-byte IPv4 address")
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, _ARP_REQUEST,
                      mac, address, b"\x00" * 6, address)
    return _BROADCAST + mac + struct.pack("!H", _ETH_P_ARP) + arp


class ArpAnnouncer:
    def __init__(self, netlink: Any) -> None:
        self._netlink = netlink
        self.sent = 0
        self.errors = 0

    def announce(self, address: bytes, ifname: str) -> bool:
        """Send one gratuitous ARP for ``address`` (4 bytes) on ``ifname`` with
        that interface's own MAC. Best effort: a failure is counted and logged."""
        try:
            index = self._netlink.link_lookup(ifname=ifname)[0]
            text = self._netlink.get_links(index)[0].get_attr("IFLA_ADDRESS")
            mac = bytes.fromhex(text.replace(":", ""))
            with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ARP)) as s:
                s.bind((ifname, _ETH_P_ARP))
                s.send(gratuitous_arp_frame(mac, address))
        except (OSError, IndexError, AttributeError) as exc:
            self.errors += 1
            log.warning("gratuitous ARP on %s failed: %s", ifname, exc)
            return False
        self.sent += 1
        return True


_ARP_REPLY = 2
#: ``sll_pkttype`` of a frame this host sends (linux/if_packet.h).
_PACKET_OUTGOING = 4
_ETH_P_ALL = 0x0003
_SO_ATTACH_FILTER = 26
#: Classic BPF (linux/filter.h): accept Ethernet frames of type ARP whose
#: operation is Reply, drop everything else.
_ARP_REPLY_FILTER = (
    (0x28, 0, 0, 12),       # ldh [12]        ethertype
    (0x15, 0, 3, 0x0806),   # jeq #ARP        else drop
    (0x28, 0, 0, 20),       # ldh [20]        ARP operation
    (0x15, 0, 1, _ARP_REPLY),  # jeq #2       else drop
    (0x06, 0, 0, 0xFFFF),   # ret #65535      accept
    (0x06, 0, 0, 0),        # ret #0          drop
)


def attach_filter(sock: socket.socket, program: tuple[tuple[int, int, int, int], ...]) -> None:
    """SO_ATTACH_FILTER: a classic BPF program (code, jt, jf, k) run in the kernel."""
    import ctypes

    code = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)  # copied by the kernel


def reply_sender(frame: bytes) -> bytes | None:
    """The sender protocol address (4 bytes) of an Ethernet ARP Reply for IPv4
    (RFC 826), or None for anything else."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", frame, 14)
    if (htype, ptype, hlen, plen, op) != (1, 0x0800, 6, 4, _ARP_REPLY):
        return None
    return frame[28:32]


class ProxyArpObserver:
    """Counts the proxy ARP replies the kernel sends on the home link for the
    home addresses being intercepted (haProxyARPsSent, RFC 2006; RFC 5944
    §4.6): an AF_PACKET socket sees every outgoing ARP Reply there; those whose
    sender address is a bound home address are the home agent's proxy
    replies. It only watches; the kernel answers (its proxy neighbour entries).

    Outgoing frames reach only ETH_P_ALL packet sockets (the kernel's transmit
    taps), so the socket takes every protocol and a classic BPF filter in the
    kernel keeps only ARP Replies: the data traffic on the home link never
    reaches Python."""

    def __init__(self, ifname: str, is_intercepted: Any, on_reply: Any, loop: Any) -> None:
        self._is_intercepted = is_intercepted
        self._on_reply = on_reply
        self._loop = loop
        self.seen = 0
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        try:
            attach_filter(self._sock, _ARP_REPLY_FILTER)
            self._sock.bind((ifname, _ETH_P_ALL))
            self._sock.setblocking(False)
            loop.add_reader(self._sock.fileno(), self._readable)
        except BaseException:
            self._sock.close()
            raise

    def _readable(self) -> None:
        for _ in range(64):
            try:
                frame, address = self._sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("proxy ARP observer: %s", exc)
                return
            if address[2] != _PACKET_OUTGOING:
                continue
            sender = reply_sender(frame)
            if sender is not None and self._is_intercepted(sender):
                self.seen += 1
                self._on_reply()

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
