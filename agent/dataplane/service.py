"""The data plane as the agent runs it: builds the netlink worker, the tunnel
backend the configuration asks for (``auto``: the kernel's ``ipip`` where the
kernel has it, the userspace tunnel otherwise), routes and ARP, and the
``DataPlane`` that follows the engines; reports its state as the YANG
``data-plane-state`` models it; removes everything on close."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from agent.dataplane.arp import ArpAnnouncer, ProxyArpObserver
from agent.dataplane.kernel import KernelIpipTunnels
from agent.dataplane.netlink import ThreadedNetlink
from agent.dataplane.plane import DataPlane, DataPlaneSettings
from agent.dataplane.routes import KernelRoutes
from agent.dataplane.tunnels import Tunnels
from agent.dataplane.userspace import UserspaceTunnels

log = logging.getLogger("proxymip.dataplane")

_PROBE = "pmipprobe"


def kernel_has_ipip(netlink: Any) -> bool:
    """Whether ``ip link add type ipip`` works here: one probe device, made and
    removed at once (EOPNOTSUPP / "Unknown device type" when the kernel lacks
    CONFIG_NET_IPIP)."""
    try:
        netlink.link("add", ifname=_PROBE, kind="ipip", ipip_local="127.0.0.1",
                     ipip_remote="127.0.0.1")
    except NetlinkError as exc:
        if exc.code == errno.EEXIST:
            _remove_probe(netlink)
            return True
        return False
    _remove_probe(netlink)
    return True


def _remove_probe(netlink: Any) -> None:
    for index in netlink.link_lookup(ifname=_PROBE):
        netlink.link("del", index=index)


def describe_plane(plane: DataPlane) -> dict[str, Any]:
    """A data plane's bindings, visitors, tunnels, routes, rules and proxy ARP
    entries as text."""
    routes = plane.routes
    return {
        "bindings": {str(k): str(v) for k, v in plane.bindings.items()},
        "visitors": {str(k): [str(v.home_agent), v.reverse_tunnel] for k, v in plane.visitors.items()},
        "tunnels": sorted(str(t) for t in plane.tunnels.endpoints()),
        "routes": sorted(f"{p} table {t} dev {d}" for (p, t), d in routes.routes().items()),
        "rules": sorted(f"from {s} iif {i} table {t} pref {p}" for s, i, t, p in routes.rules()),
        "proxy-arp": sorted(f"{a} dev {i}" for a, i in routes.proxies()),
    }


class DataPlaneService:
    def __init__(self, plane: DataPlane, netlink: ThreadedNetlink, backend: str) -> None:
        self.plane = plane
        self.netlink = netlink
        self.backend = backend
        self.observer: ProxyArpObserver | None = None

    @classmethod
    def open(
        cls,
        *,
        backend: str,
        local: IPv4Address,
        settings: DataPlaneSettings,
        visitor_flags: Callable[[IPv4Address], int | None],
        loop: asyncio.AbstractEventLoop | None = None,
        on_proxy_arp: Callable[[], None] | None = None,
    ) -> DataPlaneService:
        """``on_proxy_arp`` is called for each proxy ARP reply sent on the home
        link for an intercepted home address (the HA counts them)."""
        netlink = ThreadedNetlink()
        try:
            if backend == "auto":
                backend = "kernel-ipip" if kernel_has_ipip(netlink) else "userspace"
            tunnels: Tunnels
            if backend == "kernel-ipip":
                tunnels = KernelIpipTunnels(local, netlink=netlink)
            else:
                tunnels = UserspaceTunnels(local, netlink=netlink, loop=loop)
            plane = DataPlane(settings, tunnels=tunnels, routes=KernelRoutes(netlink),
                              arp=ArpAnnouncer(netlink), visitor_flags=visitor_flags)
        except BaseException:
            netlink.close()
            raise
        log.info("data plane up: %s tunnels from %s", backend, local)
        service = cls(plane, netlink, backend)
        if settings.home_interface is not None and on_proxy_arp is not None:
            try:
                service.observer = ProxyArpObserver(
                    settings.home_interface, plane.intercepts, on_proxy_arp,
                    loop or asyncio.get_running_loop())
            except OSError as exc:  # no CAP_NET_RAW: haProxyARPsSent stays 0
                log.warning("proxy ARP replies on %s not counted: %s", settings.home_interface, exc)
        return service

    def handle(self, role: str, event: object) -> int:
        """One engine event; returns the gratuitous ARPs it sent (the home
        agent counts them: haGratuitiousARPsSent, RFC 2006)."""
        arp = self.plane.arp
        before = arp.sent if arp is not None else 0
        self.plane.handle(role, event)
        return (arp.sent - before) if arp is not None else 0

    def state(self) -> dict[str, Any]:
        """``data-plane-state`` (RFC 7951 JSON: 64-bit counters as strings)."""
        plane = self.plane
        tunnels = plane.tunnels
        rows = []
        for remote in sorted(tunnels.endpoints()):
            rows.append({
                "remote": str(remote),
                "local": str(tunnels.local),
                "interface": tunnels.interface(remote) or "",
                "users": plane.tunnel_users(remote),
            })
        counters = {name.replace("_", "-"): str(value)
                    for name, value in tunnels.counters.as_dict().items()}
        out: dict[str, Any] = {"backend": self.backend, "counters": counters}
        if rows:
            out["tunnel"] = rows
        return out

    def describe(self) -> dict[str, Any]:
        """Everything made in the kernel, as text (the control channel's
        ``state``, for labs and troubleshooting), and the counters."""
        counters: dict[str, Any] = self.plane.tunnels.counters.as_dict()
        if self.plane.arp is not None:
            counters["gratuitous-arps"] = self.plane.arp.sent
        return {"backend": self.backend, **describe_plane(self.plane), "counters": counters}

    def close(self) -> None:
        if self.observer is not None:
            self.observer.close()
        try:
            self.plane.close()
        finally:
            self.netlink.close()
