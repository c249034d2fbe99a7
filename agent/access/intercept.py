"""The access point's interception of its visiting clients' first hop (sans-IO).

The seed: once a visiting client is registered, "the access point intercepts
all packets from the visiting client and sends them to the foreign agent". A
stock client does not know it moved: it still believes it is on its home
network, so it sends to its home gateway (and to on-link home addresses) at
the link-layer address its ARP cache holds, or ARPs for them. The access
point therefore

- answers the registered client's ARP Requests for addresses of its home
  network with its own MAC (proxy ARP, RFC 925 and RFC 1027; RFC 5944 §4.6
  describes the same for the home agent), and
- tells the client at once after each registration: a gratuitous ARP Reply
  (sender and target protocol address the gateway, sender and target hardware
  address the access point's MAC), sent unicast to the client only, for its
  gateway and for every home address it was seen using as a first hop. Linux
  takes a gratuitous ARP over an existing entry at once, even within its
  ``locktime`` (net/ipv4/arp.c ``arp_is_garp``); Cisco's proxy Mobile IP and
  Linux's proxy ARP (``arp_notify``) announce the same way.

A client that sends to a link-layer address other than the access point's
after its registration (its cache still holds the old access point's or the
old gateway's MAC) gets the same correction for that destination, or for its
gateways when the destination is off its home network; and the packet itself
is not lost: the access point sends it on by routing (``packets_to_forward``),
as it does every packet of a registered visitor.

How the access point knows a client's gateway: the subnet map entry's
``default-gateway`` (configured, as Cisco configures it per subnet), and what
the client itself shows: the home addresses it ARPs for, and the home
addresses of its packets sent to a foreign MAC (its first hops). These are
learnt per client, from association on, also before the registration
completes (those are announced with the registration).

Never for the client's own home address (that would take its address away),
never for a client that is not registered, never when its home network is a
local network of the access point (at home nothing is intercepted). Bounded:
``max_clients`` tracked clients, ``max_targets`` learnt addresses per client,
and a token bucket per client for what its frames make the access point send.
Everything refused or limited is counted.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from agent.access.snoop import ETH_P_ARP, ETH_P_IP, PACKET_OUTGOING

_ARP_IPV4_ETHERNET = struct.pack("!HHBB", 1, ETH_P_IP, 6, 4)
_ARP_REQUEST = 1
_ARP_REPLY = 2
_ARP = struct.Struct("!6sHHHBBH6s4s6s4s")  # Ethernet header (dst, src follow) + ARP


def mac_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def arp_reply_frame(own_mac: bytes, client_mac: bytes, sender: bytes, target: bytes,
                    target_mac: bytes) -> bytes:
    """An Ethernet ARP Reply (RFC 826) from ``own_mac`` to ``client_mac``:
    ``sender`` (4 bytes) is at ``own_mac``; ``target``/``target_mac`` are the
    reply's target fields."""
    return client_mac + _ARP.pack(own_mac, ETH_P_ARP, 1, ETH_P_IP, 6, 4, _ARP_REPLY,
                                  own_mac, sender, target_mac, target)


def gratuitous_reply_frame(own_mac: bytes, client_mac: bytes, address: bytes) -> bytes:
    """A gratuitous ARP Reply for ``address`` unicast to ``client_mac``: sender
    and target protocol address both ``address``, sender and target hardware
    address both ``own_mac`` (what Linux's ``arp_is_garp`` takes for a
    gratuitous Reply; RFC 5944 §4.6 describes gratuitous ARP)."""
    return arp_reply_frame(own_mac, client_mac, address, address, own_mac)


@dataclass(slots=True)
class InterceptCounters:
    #: ARP Replies sent for a registered client's Requests.
    arp_replies_sent: int = 0
    #: Gratuitous ARP Replies sent to a client after its registration.
    announcements_sent: int = 0
    #: Gratuitous ARP Replies sent because a registered client sent to a MAC
    #: other than the access point's (a stale entry in its ARP cache).
    corrections_sent: int = 0
    #: Requests not answered: the client is not registered.
    requests_not_registered: int = 0
    #: Requests not answered: for the client's own address (or from another).
    requests_own_address: int = 0
    #: Requests not answered: the target is not in the client's home network.
    requests_outside_home: int = 0
    #: Replies and corrections not sent: the client's token bucket was empty.
    rate_limited: int = 0
    #: Clients not tracked: ``max_clients`` reached, or registrations refused
    #: because the home network is a local network of the access point.
    clients_refused: int = 0
    #: A registered client's IPv4 packets sent to a stale MAC, forwarded by the
    #: access point itself (they would be lost on the link otherwise).
    packets_forwarded: int = 0
    #: Such packets not forwarded: the client's forwarding bucket was empty.
    forward_limited: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class InterceptLimits:
    max_clients: int = 4096
    max_targets: int = 8
    #: Token bucket per client for what its frames make the access point send.
    burst: int = 10
    rate: float = 20.0
    #: One correction per client and destination per this many seconds.
    correction_interval: float = 0.5
    #: Token bucket per client for its stale-MAC packets the access point forwards.
    forward_burst: int = 64
    forward_rate: float = 1000.0


@dataclass(slots=True)
class _Client:
    registered: bool = False
    home_address: bytes = b""
    network: IPv4Network | None = None
    gateways: tuple[bytes, ...] = ()
    #: Learnt first hops (4-byte addresses), oldest first; at most max_targets.
    targets: list[bytes] = field(default_factory=list)
    tokens: float = 0.0
    refilled: float = 0.0
    forward_tokens: float = 0.0
    forward_refilled: float = 0.0
    corrected: dict[bytes, float] = field(default_factory=dict)


class ArpInterceptor:
    """One client-facing link's interception. ``own_mac``: the access point's
    MAC on that link (its answers point there; its kernel forwards what
    arrives to the foreign agent). ``local_networks``: the access point's own
    networks (a client at home is never intercepted)."""

    def __init__(self, own_mac: bytes, *, local_networks: Iterable[IPv4Network] = (),
                 limits: InterceptLimits = InterceptLimits()) -> None:
        if len(own_mac) != 6:
            raise ValueError("own_mac must be 6 bytes")
        self.own_mac = own_mac
        self.local_networks = tuple(local_networks)
        self.limits = limits
        self.counters = InterceptCounters()
        self._clients: dict[bytes, _Client] = {}
        self._forward: list[bytes] = []

    def __len__(self) -> int:
        return len(self._clients)

    @property
    def intercepted(self) -> int:
        return sum(1 for c in self._clients.values() if c.registered)

    def is_intercepting(self, mac: str) -> bool:
        client = self._clients.get(mac_bytes(mac))
        return client is not None and client.registered

    # -- life cycle (from the proxy's events) ------------------------------------------

    def associated(self, mac: str, now: float) -> None:
        """The client associated: learn its first hops from now on."""
        self._client(mac_bytes(mac), now)

    def registered(self, mac: str, home_address: IPv4Address, home_network: IPv4Network,
                   gateways: Iterable[IPv4Address], now: float) -> list[bytes]:
        """The client's registration was accepted: intercept it, and return the
        gratuitous ARP Replies that tell it so (its gateways and learnt first
        hops inside ``home_network``, never its own address)."""
        if home_address not in home_network or any(
                home_address in local for local in self.local_networks):
            self.counters.clients_refused += 1
            return []
        raw_mac = mac_bytes(mac)
        client = self._client(raw_mac, now)
        if client is None:
            return []
        own = home_address.packed
        client.registered = True
        client.home_address = own
        client.network = home_network
        client.gateways = tuple(g.packed for g in gateways if g in home_network and g != home_address)
        client.targets = [t for t in client.targets if self._in_home(client, t) and t != own]
        announce = list(dict.fromkeys([*client.gateways, *client.targets]))
        frames = [gratuitous_reply_frame(self.own_mac, raw_mac, address) for address in announce]
        self.counters.announcements_sent += len(frames)
        return frames

    def unregistered(self, mac: str, home_address: IPv4Address | None = None) -> None:
        """The client is no longer registered (deregistered, denied, lost): its
        ARP Requests are no longer answered; what it showed stays learnt. With
        ``home_address``: only if that is the address it is registered with
        (the end of an old address's deregistration, after the station took a
        new one and registered it, leaves the new registration intercepted)."""
        client = self._clients.get(mac_bytes(mac))
        if client is None:
            return
        if home_address is None or client.home_address == home_address.packed:
            client.registered = False

    def departed(self, mac: str) -> None:
        """The client left the access point: forget it."""
        self._clients.pop(mac_bytes(mac), None)

    def packets_to_forward(self) -> list[bytes]:
        """IPv4 packets (no Ethernet header) the access point sends on by
        routing (towards the foreign agent), drained."""
        packets, self._forward = self._forward, []
        return packets

    # -- frames -------------------------------------------------------------------------

    def frame(self, frame: bytes, packet_type: int, now: float) -> list[bytes]:
        """What to send for one frame seen on the link (usually nothing)."""
        if packet_type == PACKET_OUTGOING or len(frame) < 34:
            return []
        client = self._clients.get(frame[6:12])
        if client is None:
            return []
        ethertype = frame[12:14]
        if ethertype == b"\x08\x06":
            return self._arp(client, frame, now)
        if ethertype == b"\x08\x00":
            return self._ipv4(client, frame, now)
        return []

    def _arp(self, client: _Client, frame: bytes, now: float) -> list[bytes]:
        if len(frame) < 42 or frame[14:20] != _ARP_IPV4_ETHERNET:
            return []
        if int.from_bytes(frame[20:22], "big") != _ARP_REQUEST or frame[22:28] != frame[6:12]:
            return []
        sender, target = frame[28:32], frame[38:42]
        if not client.registered:
            self.counters.requests_not_registered += 1
            if target != sender and sender != b"\0\0\0\0":
                self._learn(client, target)
            return []
        if sender != client.home_address or target == client.home_address:
            # RFC 5227 probes and announcements of its own address, or a
            # sender that is not the registered client: never answered.
            self.counters.requests_own_address += 1
            return []
        if not self._in_home(client, target):
            self.counters.requests_outside_home += 1
            return []
        self._learn(client, target)
        if not self._take_token(client, now):
            return []
        self.counters.arp_replies_sent += 1
        mac = frame[6:12]
        return [arp_reply_frame(self.own_mac, mac, target, client.home_address, mac)]

    def _ipv4(self, client: _Client, frame: bytes, now: float) -> list[bytes]:
        destination_mac = frame[0:6]
        if destination_mac == self.own_mac or destination_mac[0] & 1:
            return []
        if frame[14] >> 4 != 4:
            return []
        source, destination = frame[26:30], frame[30:34]
        if not client.registered:
            # The home network is not known yet: remember the destination;
            # the registration keeps those inside the home network.
            if 0 < destination[0] < 224:
                self._learn(client, destination)
            return []
        if source != client.home_address:
            return []
        self._forward_packet(client, frame, now)
        if self._in_home(client, destination):
            stale = [destination] if destination != client.home_address else []
            self._learn(client, destination)
        else:
            stale = list(client.gateways) + [t for t in client.targets if t not in client.gateways
                                             and self._in_home(client, t)]
        out = []
        for address in stale:
            last = client.corrected.get(address)
            if last is not None and now - last < self.limits.correction_interval:
                continue
            if not self._take_token(client, now):
                break
            client.corrected[address] = now
            out.append(gratuitous_reply_frame(self.own_mac, frame[6:12], address))
        if len(client.corrected) > 4 * self.limits.max_targets:
            client.corrected.clear()
        self.counters.corrections_sent += len(out)
        return out

    # -- helpers -------------------------------------------------------------------------

    def _client(self, mac: bytes, now: float) -> _Client | None:
        client = self._clients.get(mac)
        if client is None:
            if len(self._clients) >= self.limits.max_clients:
                self.counters.clients_refused += 1
                return None
            client = self._clients[mac] = _Client(
                tokens=float(self.limits.burst), refilled=now,
                forward_tokens=float(self.limits.forward_burst), forward_refilled=now)
        return client

    @staticmethod
    def _in_home(client: _Client, address: bytes) -> bool:
        network = client.network
        return network is not None and (int.from_bytes(address, "big") & int(network.netmask)) == int(
            network.network_address)

    def _learn(self, client: _Client, address: bytes) -> None:
        targets = client.targets
        if address in targets:
            return
        targets.append(address)
        if len(targets) > self.limits.max_targets:
            del targets[0]

    def _forward_packet(self, client: _Client, frame: bytes, now: float) -> None:
        """The seed: "the access point intercepts all packets from the visiting
        client and sends them to the foreign agent", also those its stale ARP
        entry addresses to another MAC (until the correction takes effect)."""
        total = int.from_bytes(frame[16:18], "big")
        if total < 20 or 14 + total > len(frame) or not 0 < frame[30] < 224:
            return  # malformed, or not to a unicast address
        limits = self.limits
        client.forward_tokens = min(float(limits.forward_burst), client.forward_tokens
                                    + (now - client.forward_refilled) * limits.forward_rate)
        client.forward_refilled = now
        if client.forward_tokens < 1.0:
            self.counters.forward_limited += 1
            return
        client.forward_tokens -= 1.0
        self.counters.packets_forwarded += 1
        self._forward.append(frame[14:14 + total])

    def _take_token(self, client: _Client, now: float) -> bool:
        limits = self.limits
        client.tokens = min(float(limits.burst), client.tokens + (now - client.refilled) * limits.rate)
        client.refilled = now
        if client.tokens < 1.0:
            self.counters.rate_limited += 1
            return False
        client.tokens -= 1.0
        return True
