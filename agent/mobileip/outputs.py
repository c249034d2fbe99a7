"""What an engine asks its adapter to send."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address


class Channel(enum.Enum):
    #: UDP from the agent's registration socket (port 434 by default).
    REGISTRATION = "udp"
    #: ICMP agent discovery (RFC 5944 §2): raw socket, IP TTL 1.
    DISCOVERY = "icmp"


@dataclass(frozen=True, slots=True)
class Transmit:
    data: bytes
    destination: IPv4Address
    port: int = 0
    channel: Channel = Channel.REGISTRATION
    #: The IP source the datagram must carry, when the protocol fixes it
    #: (a home agent answers from the address the request was sent to, RFC
    #: 5944 §3.8.3.1); the adapter sets it on a socket bound to the wildcard
    #: address. None: whatever the socket's address and the route give.
    source: IPv4Address | None = None
