"""The proxy's events drive the access point's ARP interception (sans-IO).

One ``ArpInterceptor`` per client-facing link with ``arp-interception``; this
routes the client and proxy events to the right one: an association starts
learning the client's first hops, an accepted registration (``ClientRegistered``,
also each renewal) starts the interception and yields the announcements, the
end of the registration (deregistered, denied, failed, not proxied) stops it,
a departure forgets the client."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address

from agent.access.events import ClientAssociated, ClientDisassociated
from agent.access.intercept import ArpInterceptor
from agent.mobileip.events import (
    ClientDeregistered,
    ClientNotProxied,
    ClientRegistered,
    ClientRegistrationDenied,
    ClientRegistrationFailed,
)
from agent.mobileip.subnet_map import SubnetMapEntry

#: (interface name, Ethernet frames to send on its link).
Sends = list[tuple[str, list[bytes]]]


class Interception:
    def __init__(self, interceptors: dict[str, ArpInterceptor],
                 interface_of: Callable[[str], str | None],
                 subnet_entry: Callable[[IPv4Address], SubnetMapEntry | None]) -> None:
        """``interceptors``: by interface (SSID) name; ``interface_of``: the
        interface a client (by MAC) is associated on; ``subnet_entry``: the
        subnet map lookup (home network and gateway of a home address)."""
        self.interceptors = interceptors
        self._interface_of = interface_of
        self._subnet_entry = subnet_entry

    def client_event(self, event: object, now: float) -> None:
        if isinstance(event, ClientAssociated):
            interceptor = self.interceptors.get(event.interface or "")
            if interceptor is not None:
                interceptor.associated(event.mac, now)
        elif isinstance(event, ClientDisassociated):
            for interceptor in self.interceptors.values():
                interceptor.departed(event.mac)

    def proxy_event(self, event: object, now: float) -> Sends:
        if isinstance(event, ClientRegistered):
            interface = self._interface_of(event.mac)
            interceptor = self.interceptors.get(interface or "")
            entry = self._subnet_entry(event.home_address)
            if interceptor is None or interface is None or entry is None:
                return []
            gateways = (entry.default_gateway,) if entry.default_gateway is not None else ()
            frames = interceptor.registered(event.mac, event.home_address, entry.prefix, gateways, now)
            return [(interface, frames)] if frames else []
        if isinstance(event, (ClientDeregistered, ClientRegistrationDenied,
                              ClientRegistrationFailed)):
            for interceptor in self.interceptors.values():
                interceptor.unregistered(event.mac, event.home_address)
        elif isinstance(event, ClientNotProxied):
            for interceptor in self.interceptors.values():
                interceptor.unregistered(event.mac, event.address)
        return []

    def counters(self) -> dict[str, int]:
        """The links' counters summed, and the clients intercepted now."""
        total: dict[str, int] = {"intercepted-clients": 0}
        for interceptor in self.interceptors.values():
            total["intercepted-clients"] += interceptor.intercepted
            for name, value in interceptor.counters.as_dict().items():
                key = name.replace("_", "-")
                total[key] = total.get(key, 0) + value
        return total
