"""Routes, policy rules and proxy ARP entries through rtnetlink (pyroute2),
remembering everything made so that ``close`` leaves nothing behind.

Every operation is idempotent: adding what exists adopts it (an agent restarted
after a crash finds its old rules and proxy entries), deleting what is gone is
not an error (routes through a TUN vanish with the device)."""

from __future__ import annotations

import errno
import logging
from ipaddress import IPv4Address
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

log = logging.getLogger("proxymip.dataplane")

MAIN_TABLE = 254
#: ndmsg flag of a proxy neighbour entry (``ip neigh add proxy``).
NTF_PROXY = 0x08
_GONE = (errno.ENOENT, errno.ESRCH, errno.ENODEV, errno.EADDRNOTAVAIL)

RouteKey = tuple[str, int]  # (prefix, table)
RuleKey = tuple[IPv4Address, str, int, int]  # (source, iif, table, priority)
ProxyKey = tuple[IPv4Address, str]  # (address, interface)


class KernelRoutes:
    def __init__(self, netlink: Any) -> None:
        """``netlink`` is a pyroute2 ``IPRoute`` in the namespace to change."""
        self._netlink = netlink
        self._routes: dict[RouteKey, str] = {}
        self._rules: set[RuleKey] = set()
        self._proxies: set[ProxyKey] = set()

    def index(self, ifname: str) -> int:
        found = self._netlink.link_lookup(ifname=ifname)
        if not found:
            raise LookupError(f"no interface {ifname!r}")
        return int(found[0])

    # -- routes ---------------------------------------------------------------------

    def set_route(self, prefix: str, ifname: str, *, table: int = MAIN_TABLE) -> None:
        """``ip route replace PREFIX dev IFNAME table TABLE``: a move to another
        device is one atomic replace, with no window without a route."""
        self._netlink.route("replace", dst=prefix, oif=self.index(ifname), table=table)
        self._routes[(prefix, table)] = ifname

    def delete_route(self, prefix: str, *, table: int = MAIN_TABLE) -> None:
        ifname = self._routes.pop((prefix, table), None)
        if ifname is None:
            return
        try:
            self._netlink.route("del", dst=prefix, table=table)
        except NetlinkError as exc:
            if exc.code not in _GONE:
                raise

    # -- policy rules (RFC 3024 reverse tunnels) ---------------------------------------

    def add_rule(self, source: IPv4Address, iif: str, *, table: int, priority: int) -> None:
        key = (source, iif, table, priority)
        if key in self._rules:
            return
        try:
            self._netlink.rule("add", table=table, priority=priority, src=str(source),
                               src_len=32, iifname=iif)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
        self._rules.add(key)

    def delete_rule(self, source: IPv4Address, iif: str, *, table: int, priority: int) -> None:
        key = (source, iif, table, priority)
        if key not in self._rules:
            return
        self._rules.discard(key)
        try:
            self._netlink.rule("del", table=table, priority=priority, src=str(source),
                               src_len=32, iifname=iif)
        except NetlinkError as exc:
            if exc.code not in _GONE:
                raise

    # -- proxy ARP (RFC 5944 §4.6) -------------------------------------------------------

    def add_proxy_arp(self, address: IPv4Address, ifname: str) -> None:
        """``ip neigh add proxy ADDRESS dev IFNAME``: answer ARP for ``address`` on
        ``ifname`` while the route to it leaves by another interface (the kernel
        answers at once only with ``neigh.IFNAME.proxy_delay = 0``)."""
        key = (address, ifname)
        if key in self._proxies:
            return
        try:
            self._netlink.neigh("add", dst=str(address), ifindex=self.index(ifname),
                                flags=NTF_PROXY)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
        self._proxies.add(key)

    def delete_proxy_arp(self, address: IPv4Address, ifname: str) -> None:
        key = (address, ifname)
        if key not in self._proxies:
            return
        self._proxies.discard(key)
        try:
            self._netlink.neigh("del", dst=str(address), ifindex=self.index(ifname),
                                flags=NTF_PROXY)
        except (NetlinkError, LookupError) as exc:
            if isinstance(exc, NetlinkError) and exc.code not in _GONE:
                raise

    # -- what exists -------------------------------------------------------------------

    def routes(self) -> dict[RouteKey, str]:
        return dict(self._routes)

    def rules(self) -> frozenset[RuleKey]:
        return frozenset(self._rules)

    def proxies(self) -> frozenset[ProxyKey]:
        return frozenset(self._proxies)

    def close(self) -> None:
        """Remove every rule, route and proxy entry made here."""
        for source, iif, table, priority in list(self._rules):
            self.delete_rule(source, iif, table=table, priority=priority)
        for prefix, table in list(self._routes):
            self.delete_route(prefix, table=table)
        for address, ifname in list(self._proxies):
            self.delete_proxy_arp(address, ifname)
