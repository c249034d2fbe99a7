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
