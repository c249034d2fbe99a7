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
