"""Kernel ``ipip`` tunnels through rtnetlink (pyroute2).

One ``ipip`` device per remote endpoint, named by ``tunnel_name``. Outer TTL 64;
``pmtudisc`` on, so the kernel sets DF on every outer header and answers
oversized inner packets with ICMP fragmentation-needed — RFC 2003 §3.1 allows
setting DF even when the inner header has it clear. Decapsulation, and dropping
IP-in-IP from sources no device names, is the kernel's. Needs
``CONFIG_NET_IPIP`` (absent in some lab kernels: use ``UserspaceTunnels``)."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address
from typing import Any

from agent.dataplane.tunnels import TUNNEL_MTU, TunnelCounters, tunnel_name

log = logging.getLogger("proxymip.dataplane")


class KernelIpipTunnels:
    def __init__(self, local: IPv4Address, *, netlink: Any, mtu: int = TUNNEL_MTU) -> None:
        """``netlink`` is a pyroute2 ``IPRoute`` (or ``NetNS``), or anything with
        its ``link`` and ``link_lookup`` methods."""
        self.local = local
        self.counters = TunnelCounters()  # the kernel keeps the real ones
        self._netlink = netlink
        self._mtu = mtu
        self._tunnels: dict[IPv4Address, str] = {}

    @staticmethod
    def link_request(local: IPv4Address, remote: IPv4Address) -> dict[str, Any]:
        """The keyword arguments of the RTM_NEWLINK request creating the tunnel."""
        return {
            "ifname": tunnel_name(remote),
            "kind": "ipip",
            "ipip_local": str(local),
            "ipip_remote": str(remote),
            "ipip_ttl": 64,
            "ipip_pmtudisc": 1,
        }

    def add(self, remote: IPv4Address) -> str:
        name = self._tunnels.get(remote)
        if name is not None:
            return name
        request = self.link_request(self.local, remote)
        name = tunnel_name(remote)
        self._netlink.link("add", **request)
        index = self._netlink.link_lookup(ifname=name)[0]
        self._netlink.link("set", index=index, state="up", mtu=self._mtu)
        self._tunnels[remote] = name
        log.info("tunnel %s up: %s -> %s (kernel ipip)", name, self.local, remote)
        return name

    def remove(self, remote: IPv4Address) -> None:
        name = self._tunnels.pop(remote, None)
        if name is None:
            return
        for index in self._netlink.link_lookup(ifname=name):
            self._netlink.link("del", index=index)
        log.info("tunnel %s removed", name)

    def interface(self, remote: IPv4Address) -> str | None:
        return self._tunnels.get(remote)

    def endpoints(self) -> frozenset[IPv4Address]:
        return frozenset(self._tunnels)

    def close(self) -> None:
        for remote in list(self._tunnels):
            self.remove(remote)
