"""The ``Tunnels`` interface: point-to-point IP-in-IP tunnels (RFC 2003) from one
local endpoint to remote endpoints, each visible to the kernel as a network
interface that routes can point at. Two backends implement it:
``agent.dataplane.kernel.KernelIpipTunnels`` (the kernel's ``ipip`` devices) and
``agent.dataplane.userspace.UserspaceTunnels`` (TUN devices + a raw socket)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from ipaddress import IPv4Address
from typing import Protocol

#: Room for the 20-byte outer header inside a 1500-byte path.
TUNNEL_MTU = 1480


def tunnel_name(remote: IPv4Address) -> str:
    """The interface name of the tunnel towards ``remote`` (12 characters, under
    IFNAMSIZ): stable, so a restarted agent finds the same names."""
    return f"pmip{int(remote):08x}"


@dataclass
class TunnelCounters:
    encapsulated: int = 0
    decapsulated: int = 0
    #: IP-in-IP whose outer source is no registered tunnel endpoint (spoofed).
    unknown_endpoint_dropped: int = 0
    #: From a registered endpoint, but the inner packet is not one that endpoint
    #: may send (RFC 3024 §4.2: the HA checks the inner source against the
    #: binding of the outer source; the FA the inner destination).
    inner_address_dropped: int = 0
    malformed_dropped: int = 0
    send_errors: int = 0
    write_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Tunnels(Protocol):
    """Tunnels from ``local`` to remote endpoints. ``add`` is idempotent and returns
    the tunnel's interface name; callers count their own references."""

    local: IPv4Address
    counters: TunnelCounters

    def add(self, remote: IPv4Address) -> str: ...

    def remove(self, remote: IPv4Address) -> None: ...

    def interface(self, remote: IPv4Address) -> str | None: ...

    def endpoints(self) -> frozenset[IPv4Address]: ...

    def close(self) -> None: ...
