"""Learning clients from the frames they send (sans-IO).

The access point watches its client-facing link: a client's first ARP or IPv4
packet tells its IP address (Cisco's proxy Mobile IP learns it the same way;
RFC 826 ARP sender fields, RFC 791 source address). Where hostapd reports
associations, what is learnt here is only the address
(``ClientAddressLearned``); where nothing else does, a new source MAC counts as
an association and ``inactivity`` seconds without a frame from it as a
departure.

Only frames the client sent count: the adapter passes the packet type of the
AF_PACKET socket, and frames the AP itself sends out of the port
(``PACKET_OUTGOING``) are ignored.

Frames are not authenticated: anyone on the link can send them from any MAC.
So what they make the access point hold is bounded (issue 13 item 6): alone,
at most ``max_stations`` stations (more new MACs are refused and counted);
with hostapd, only stations hostapd associated are tracked, and of other MACs
at most ``max_unassociated`` last addresses are remembered (least recently
heard forgotten first, counted), for a station whose frames come before its
association completes."""

from __future__ import annotations

import heapq
import struct
from collections import OrderedDict
from dataclasses import dataclass
from ipaddress import IPv4Address

from agent.access.events import ClientAddressLearned, ClientAssociated, ClientDisassociated, ClientEvent

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
#: ``sll_pkttype`` of a frame this host sends (linux/if_packet.h).
PACKET_OUTGOING = 4
_ARP_IPV4_ETHERNET = struct.pack("!HHBB", 1, ETH_P_IP, 6, 4)


def _mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def frame_source(frame: bytes) -> tuple[str, IPv4Address] | None:
    """(source MAC, source IPv4 address) of an Ethernet frame carrying ARP or
    IPv4, or None: other protocols, truncated frames, group source MACs, and
    the unspecified address (DHCP, RFC 5227 ARP probes) tell nothing."""
    if len(frame) < 14:
        return None
    source_mac = frame[6:12]
    if source_mac[0] & 1:  # a group address is never a station's source
        return None
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype == ETH_P_ARP:
        arp = frame[14:42]
        if len(arp) < 28 or arp[:6] != _ARP_IPV4_ETHERNET:
            return None
        sender_ip = arp[14:18]
        # RFC 826: sender hardware address must be the frame's source.
        if arp[8:14] != source_mac:
            return None
    elif ethertype == ETH_P_IP:
        ip = frame[14:34]
        if len(ip) < 20 or ip[0] >> 4 != 4 or (ip[0] & 0x0F) < 5:
            return None
        sender_ip = ip[12:16]
    else:
        return None
    address = IPv4Address(sender_ip)
    if address.is_unspecified or address.is_multicast or address == IPv4Address("255.255.255.255"):
        return None
    return _mac_text(source_mac), address


@dataclass(slots=True)
class _Client:
    address: IPv4Address | None
    last_seen: float


class ClientSnooper:
    """Client events from one link's frames. ``associates``: a new MAC is an
    association (no hostapd on this link); ``inactivity``: seconds of silence
    that end such an association (0: never); ``max_stations``: stations
    tracked at once; ``max_unassociated``: with hostapd, unassociated MACs
    whose last address is remembered."""

    def __init__(self, interface: str, *, associates: bool, inactivity: float = 300.0,
                 max_stations: int = 4096, max_unassociated: int = 256) -> None:
        self.interface = interface
        self.associates = associates
        self.inactivity = inactivity
        self.max_stations = max_stations
        self.max_unassociated = max_unassociated
        #: Stations: associated by their first frame (``associates``) or by hostapd.
        self._clients: dict[str, _Client] = {}
        self._expiry: list[tuple[float, str]] = []
        #: Without ``associates``: the last address of MACs hostapd has not
        #: associated, least recently heard first.
        self._unassociated: OrderedDict[str, IPv4Address] = OrderedDict()
        self.frames_seen = 0
        self.addresses_learned = 0
        #: New MACs not tracked because ``max_stations`` were.
        self.stations_refused = 0
        #: Unassociated MACs' addresses forgotten to stay within ``max_unassociated``.
        self.unassociated_forgotten = 0

    @property
    def tracked(self) -> int:
        return len(self._clients)

    @property
    def unassociated(self) -> int:
        return len(self._unassociated)

    def frame(self, frame: bytes, packet_type: int, now: float) -> ClientEvent | None:
        if packet_type == PACKET_OUTGOING:
            return None
        self.frames_seen += 1
        found = frame_source(frame)
        if found is None:
            return None
        mac, address = found
        client = self._clients.get(mac)
        if client is None:
            if not self.associates:
                self._remember_unassociated(mac, address)
                return None
            if len(self._clients) >= self.max_stations:
                self.stations_refused += 1
                return None
            self._clients[mac] = _Client(address, now)
            self.addresses_learned += 1
            self._arm(mac, now)
            return ClientAssociated(mac, self.interface, address)
        client.last_seen = now
        if client.address != address:
            client.address = address
            self.addresses_learned += 1
            return ClientAddressLearned(mac, address)
        return None

    def _remember_unassociated(self, mac: str, address: IPv4Address) -> None:
        table = self._unassociated
        if mac in table:
            table.move_to_end(mac)
        elif len(table) >= self.max_unassociated:
            if not table:
                self.unassociated_forgotten += 1  # max 0: nothing is remembered
                return
            table.popitem(last=False)
            self.unassociated_forgotten += 1
        table[mac] = address

    def associated(self, mac: str, now: float) -> IPv4Address | None:
        """hostapd associated ``mac``: from now on its address changes are
        events, and silence ends it too (a wired port has no disassociation
        frame); returns the address already seen from it, if any (its frames
        may come before 802.1X completes)."""
        seen = self._unassociated.pop(mac, None)
        client = self._clients.get(mac)
        if client is None:
            if len(self._clients) >= self.max_stations:
                self.stations_refused += 1
                return seen
            client = self._clients[mac] = _Client(seen, now)
        client.last_seen = max(client.last_seen, now)
        self._arm(mac, now)
        return client.address

    def forget(self, mac: str) -> None:
        """The client left (hostapd said so): its next frame is news again."""
        self._clients.pop(mac, None)

    def next_deadline(self) -> float | None:
        return self._expiry[0][0] if self._expiry else None

    def tick(self, now: float) -> list[ClientEvent]:
        """Departures by inactivity: of the clients this snooper associated, and
        of those hostapd associated."""
        out: list[ClientEvent] = []
        while self._expiry and self._expiry[0][0] <= now:
            _, mac = heapq.heappop(self._expiry)
            client = self._clients.get(mac)
            if client is None:
                continue
            due = client.last_seen + self.inactivity
            if due > now:
                heapq.heappush(self._expiry, (due, mac))
                continue
            del self._clients[mac]
            out.append(ClientDisassociated(mac))
        return out

    def _arm(self, mac: str, now: float) -> None:
        if self.inactivity > 0:
            heapq.heappush(self._expiry, (now + self.inactivity, mac))
