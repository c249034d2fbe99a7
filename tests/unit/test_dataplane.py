"""The data plane without a kernel: IP-in-IP codec, the kernel ipip backend's
netlink requests (encoded with pyroute2's own request filters, never sent), and
DataPlane's routes/rules/proxy entries over a fake rtnetlink that keeps state."""

from __future__ import annotations

import errno
import struct
from ipaddress import IPv4Address

import pytest

from conftest import require_module

require_module("pyroute2")

from pyroute2.netlink.exceptions import NetlinkError

from agent.dataplane.arp import gratuitous_arp_frame
from agent.dataplane.kernel import KernelIpipTunnels
from agent.dataplane.packet import PacketError, decapsulate, encapsulate
from agent.dataplane.plane import DataPlane, DataPlaneSettings, VisitorRoute
from agent.dataplane.routes import NTF_PROXY, KernelRoutes
from agent.dataplane.tunnels import tunnel_name
from agent.mobileip.events import (
    BindingCreated,
    BindingDeleted,
    RemovalReason,
    VisitorAdded,
    VisitorRemoved,
)

A = IPv4Address
HA, HOME, CN = A("192.0.2.1"), A("192.0.2.10"), A("192.0.2.100")
COA_A, COA_B = A("198.51.100.6"), A("198.51.100.10")


def inner_packet(*, df: bool, tos: int = 0x10, payload: bytes = b"x" * 12) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), 7, 0x4000 if df else 0,
                       63, 17, 0, CN.packed, HOME.packed) + payload


# -- codec (RFC 2003 §3.1) ------------------------------------------------------


@pytest.mark.parametrize("df", [True, False])
def test_encapsulate_copies_tos_and_df_sets_ttl_64_protocol_4(df: bool) -> None:
    inner = inner_packet(df=df)
    packet = encapsulate(inner, HA.packed, COA_A.packed)
    version_ihl, tos, total, _, frag, ttl, proto, _, src, dst = struct.unpack(
        "!BBHHHBBH4s4s", packet[:20])
    assert (version_ihl, tos, total, ttl, proto) == (0x45, 0x10, 20 + len(inner), 64, 4)
    assert bool(frag & 0x4000) is df and frag & 0x3FFF == 0
    assert (src, dst) == (HA.packed, COA_A.packed)
    assert packet[20:] == inner


def test_decapsulate_round_trip_and_strictness() -> None:
    inner = inner_packet(df=True)
    packet = encapsulate(inner, COA_A.packed, HA.packed)
    got = decapsulate(packet)
    assert got.outer_source == COA_A.packed and got.inner == inner
    # Trailing bytes beyond the inner total length are trimmed, not passed on.
    assert decapsulate(packet + b"pad").inner == inner
    with pytest.raises(PacketError):
        decapsulate(packet[:30])  # inner truncated
    with pytest.raises(PacketError):
        decapsulate(packet[:9] + b"\x11" + packet[10:])  # outer protocol UDP
    with pytest.raises(PacketError):
        decapsulate(packet[:20] + b"\x60" + packet[21:])  # inner is IPv6
    with pytest.raises(PacketError):
        decapsulate(packet[:6] + b"\x20\x00" + packet[8:])  # outer "more fragments"
    with pytest.raises(PacketError):
        encapsulate(b"\x60" + bytes(39), HA.packed, COA_A.packed)


def test_gratuitous_arp_frame() -> None:
    mac = bytes.fromhex("020000000001")
    frame = gratuitous_arp_frame(mac, HOME.packed)
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == mac and frame[12:14] == b"\x08\x06"
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = struct.unpack("!HHBBH6s4s6s4s", frame[14:])
    assert (htype, ptype, hlen, plen, op) == (1, 0x0800, 6, 4, 1)
    assert sha == mac and spa == tpa == HOME.packed and tha == bytes(6)


# -- a fake rtnetlink with state -----------------------------------------------------


class FakeNetlink:
    """Keeps links, routes, rules and proxy neighbours as the kernel would, and
    answers as pyroute2 does (NetlinkError with the kernel's errno)."""

    def __init__(self, links: tuple[str, ...] = ("home0", "access0")) -> None:
        self.links: dict[str, int] = {name: i + 2 for i, name in enumerate(links)}
        self.requests: list[tuple[str, str, dict]] = []
        self.routes: dict[tuple[str, int], int] = {}
        self.rules: set[tuple] = set()
        self.proxies: set[tuple[str, int]] = set()
        self._next = 100

    def link_lookup(self, *, ifname: str) -> list[int]:
        return [self.links[ifname]] if ifname in self.links else []

    def link(self, command: str, **kw) -> list:
        self.requests.append(("link", command, kw))
        if command == "add":
            if kw["ifname"] in self.links:
                raise NetlinkError(errno.EEXIST)
            self._next += 1
            self.links[kw["ifname"]] = self._next
        elif command == "del":
            name = next(n for n, i in self.links.items() if i == kw["index"])
            del self.links[name]
            self.routes = {k: v for k, v in self.routes.items() if v != kw["index"]}
        return []

    def route(self, command: str, **kw) -> list:
        self.requests.append(("route", command, kw))
        key = (kw["dst"], kw.get("table", 254))
        if command == "replace":
            self.routes[key] = kw["oif"]
        elif command == "del":
            if key not in self.routes:
                raise NetlinkError(errno.ESRCH)
            del self.routes[key]
        return []

    def rule(self, command: str, **kw) -> list:
        self.requests.append(("rule", command, kw))
        key = (kw["src"], kw["src_len"], kw["iifname"], kw["table"], kw["priority"])
        if command == "add":
            if key in self.rules:
                raise NetlinkError(errno.EEXIST)
            self.rules.add(key)
        else:
            self.rules.remove(key)
        return []

    def neigh(self, command: str, **kw) -> list:
        self.requests.append(("neigh", command, kw))
        assert kw["flags"] == NTF_PROXY
        key = (kw["dst"], kw["ifindex"])
        if command == "add":
            self.proxies.add(key)
        else:
            self.proxies.discard(key)
        return []

    def interface_of(self, prefix: str, table: int = 254) -> str | None:
        index = self.routes.get((prefix, table))
        return next((n for n, i in self.links.items() if i == index), None)

    def created(self) -> set[str]:
        return {n for n in self.links if n.startswith("pmip")}


class FakeArp:
    def __init__(self) -> None:
        self.announced: list[tuple[bytes, str]] = []
        self.sent = 0

    def announce(self, address: bytes, ifname: str) -> bool:
        self.announced.append((address, ifname))
        self.sent += 1
        return True


# -- kernel ipip backend -------------------------------------------------------------


def _encode_link_request(kwargs: dict) -> dict:
    """The RTM_NEWLINK message pyroute2 would send for ``link("add", **kwargs)``,
    encoded to bytes and decoded back (pyroute2's own filters and codec)."""
    from pyroute2.iproute.linux import get_arguments_processor
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    processor = get_arguments_processor("link", "add", dict(kwargs))
    msg = ifinfmsg()
    for field in msg.fields:
        msg[field[0]] = processor.get_value(field[0], default=0, mode="field")
    for key, value in processor.items():
        nla = ifinfmsg.name2nla(key)
        if msg.valid_nla(nla) and value is not None:
            msg["attrs"].append([nla, value])
    msg.encode()
    decoded = ifinfmsg(msg.data)
    decoded.decode()
    info = decoded.get_attr("IFLA_LINKINFO")
    data = info.get_attr("IFLA_INFO_DATA")
    return {
        "ifname": decoded.get_attr("IFLA_IFNAME"),
        "kind": info.get_attr("IFLA_INFO_KIND"),
        **{name: data.get_attr(name) for name in (
            "IFLA_IPIP_LOCAL", "IFLA_IPIP_REMOTE", "IFLA_IPIP_TTL", "IFLA_IPIP_PMTUDISC")},
    }


def test_kernel_ipip_request_encodes_as_rtm_newlink() -> None:
    request = KernelIpipTunnels.link_request(HA, COA_A)
    assert _encode_link_request(request) == {
        "ifname": tunnel_name(COA_A), "kind": "ipip",
        "IFLA_IPIP_LOCAL": "192.0.2.1", "IFLA_IPIP_REMOTE": "198.51.100.6",
        "IFLA_IPIP_TTL": 64, "IFLA_IPIP_PMTUDISC": 1,
    }


def test_kernel_ipip_add_brings_up_and_remove_deletes() -> None:
    netlink = FakeNetlink()
    tunnels = KernelIpipTunnels(HA, netlink=netlink)
    name = tunnels.add(COA_A)
    assert tunnels.add(COA_A) == name  # idempotent: one device
    assert [r[:2] for r in netlink.requests] == [("link", "add"), ("link", "set")]
    assert netlink.requests[1][2] == {"index": netlink.links[name], "state": "up", "mtu": 1480}
    tunnels.close()
    assert netlink.requests[-1][:2] == ("link", "del") and not netlink.created()


# -- DataPlane: home agent -------------------------------------------------------------


def _plane(netlink: FakeNetlink, **settings) -> tuple[DataPlane, FakeArp]:
    arp = FakeArp()
    plane = DataPlane(DataPlaneSettings(**settings),
                      tunnels=KernelIpipTunnels(HA, netlink=netlink),
                      routes=KernelRoutes(netlink), arp=arp)  # type: ignore[arg-type]
    return plane, arp


def test_home_agent_binding_routes_proxies_and_announces() -> None:
    netlink = FakeNetlink()
    plane, arp = _plane(netlink, home_interface="home0")
    plane.handle("home-agent", BindingCreated(HOME, COA_A, 600, COA_A))
    assert netlink.interface_of("192.0.2.10/32") == tunnel_name(COA_A)
    assert netlink.proxies == {("192.0.2.10", netlink.links["home0"])}
    assert arp.announced == [(HOME.packed, "home0")]


def test_home_agent_new_care_of_moves_the_route_in_one_replace() -> None:
    netlink = FakeNetlink()
    plane, arp = _plane(netlink, home_interface="home0")
    plane.handle("home-agent", BindingCreated(HOME, COA_A, 600, COA_A))
    netlink.requests.clear()
    # What the engine emits for a new care-of address, in one flush:
    plane.handle("home-agent", BindingDeleted(HOME, COA_A, RemovalReason.REPLACED))
    plane.handle("home-agent", BindingCreated(HOME, COA_B, 600, COA_B))
    route_requests = [r for r in netlink.requests if r[0] == "route"]
    assert [r[1] for r in route_requests] == ["replace"]  # never deleted in between
    assert netlink.interface_of("192.0.2.10/32") == tunnel_name(COA_B)
    assert netlink.created() == {tunnel_name(COA_B)}  # the old tunnel went
    assert len(arp.announced) == 1  # still intercepting: no second announcement


def test_home_agent_deregistration_removes_everything() -> None:
    netlink = FakeNetlink()
    plane, _ = _plane(netlink, home_interface="home0")
    plane.handle("home-agent", BindingCreated(HOME, COA_A, 600, COA_A))
    plane.handle("home-agent", BindingDeleted(HOME, COA_B, RemovalReason.DEREGISTERED))
    assert netlink.routes  # another care-of address: not ours to remove
    plane.handle("home-agent", BindingDeleted(HOME, COA_A, RemovalReason.DEREGISTERED))
    assert not netlink.routes and not netlink.proxies and not netlink.created()


def test_inner_check_admits_only_what_the_binding_allows() -> None:
    netlink = FakeNetlink()
    plane, _ = _plane(netlink, home_interface="home0")
    plane.bind(HOME, COA_A)
    reverse = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20, 0, 0, 64, 17, 0, HOME.packed, CN.packed)
    assert plane.inner_allowed(COA_A.packed, reverse)
    assert not plane.inner_allowed(COA_B.packed, reverse)  # another FA for our MN
    forged = reverse[:12] + A("192.0.2.11").packed + reverse[16:]
    assert not plane.inner_allowed(COA_A.packed, forged)  # a home address not bound there


# -- DataPlane: foreign agent ----------------------------------------------------------


def test_foreign_agent_visitor_with_reverse_tunnel() -> None:
    netlink = FakeNetlink()
    plane, _ = _plane(netlink, access_interface="access0")
    plane.visitor_flags = lambda home: 0x02  # T
    plane.handle("foreign-agent", VisitorAdded(HOME, HA, COA_A, 600))
    assert netlink.interface_of("192.0.2.10/32") == "access0"
    assert netlink.interface_of("0.0.0.0/0", 100) == tunnel_name(HA)
    assert netlink.rules == {("192.0.2.10", 32, "access0", 100, 1000)}
    # A second visitor of the same home agent shares the table.
    plane.handle("foreign-agent", VisitorAdded(A("192.0.2.11"), HA, COA_A, 600))
    assert {r[3] for r in netlink.rules} == {100} and len(netlink.rules) == 2
    plane.handle("foreign-agent", VisitorRemoved(HOME, HA, RemovalReason.DEREGISTERED))
    assert netlink.interface_of("0.0.0.0/0", 100) == tunnel_name(HA)
    plane.handle("foreign-agent", VisitorRemoved(A("192.0.2.11"), HA, RemovalReason.EXPIRED))
    assert not netlink.routes and not netlink.rules and not netlink.created()


def test_foreign_agent_visitor_without_t_flag_has_no_rule_but_a_tunnel() -> None:
    netlink = FakeNetlink()
    plane, _ = _plane(netlink, access_interface="access0")
    plane.handle("foreign-agent", VisitorAdded(HOME, HA, COA_A, 600))
    assert not netlink.rules
    # The tunnel is open all the same: decapsulation needs the endpoint.
    assert netlink.created() == {tunnel_name(HA)}


def test_reconcile_and_close_leave_nothing() -> None:
    netlink = FakeNetlink()
    plane, _ = _plane(netlink, home_interface="home0", access_interface="access0")
    plane.reconcile(bindings={HOME: COA_A, A("192.0.2.11"): COA_A},
                    visitors={A("203.0.113.50"): VisitorRoute(A("203.0.113.1"), True)})
    assert len(netlink.routes) == 4 and len(netlink.created()) == 2
    plane.reconcile(bindings={HOME: COA_B}, visitors={})
    assert set(netlink.routes) == {("192.0.2.10/32", 254)} and not netlink.rules
    assert netlink.created() == {tunnel_name(COA_B)}
    plane.close()
    assert not netlink.routes and not netlink.rules and not netlink.proxies
    assert not netlink.created()


def test_restore_rebuilds_from_engines() -> None:
    from types import SimpleNamespace as NS

    agent = NS(
        home_agent=NS(bindings=lambda: [
            NS(home_address=HOME, care_of_address=COA_A, registered_at=1.0),
            NS(home_address=HOME, care_of_address=COA_B, registered_at=2.0),  # newest wins
        ]),
        foreign_agent=NS(visitors=lambda: [
            NS(home_address=A("203.0.113.50"), home_agent=HA, flags=0x02)]),
    )
    netlink = FakeNetlink()
    plane, _ = _plane(netlink, home_interface="home0", access_interface="access0")
    plane.restore(agent)
    assert plane.bindings == {HOME: COA_B}
    assert plane.visitors == {A("203.0.113.50"): VisitorRoute(HA, True)}
    assert len(netlink.rules) == 1


def test_kernel_errors_are_logged_not_raised(caplog) -> None:
    class Failing(FakeNetlink):
        def route(self, command: str, **kw) -> list:
            raise NetlinkError(errno.EPERM)

    plane, _ = _plane(Failing(), home_interface="home0")
    plane.handle("home-agent", BindingCreated(HOME, COA_A, 600, COA_A))
    assert "failed" in caplog.text


def test_reply_sender_reads_only_ipv4_arp_replies() -> None:
    """haProxyARPsSent counts outgoing ARP Replies (RFC 826 op 2) whose sender
    is an intercepted home address; requests, gratuitous ARPs and other
    protocols are not replies."""
    from scapy.layers.l2 import ARP, Ether

    from agent.dataplane.arp import reply_sender

    reply = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
                  ARP(op=2, hwsrc="02:00:00:00:00:01", psrc="192.0.2.10", pdst="192.0.2.100"))
    assert reply_sender(reply) == IPv4Address("192.0.2.10").packed
    request = bytes(Ether() / ARP(op=1, psrc="192.0.2.10", pdst="192.0.2.100"))
    assert reply_sender(request) is None
    assert reply_sender(gratuitous_arp_frame(b"\x02" * 6, IPv4Address("192.0.2.10").packed)) is None
    assert reply_sender(reply[:30]) is None
    assert reply_sender(b"\x00" * 12 + b"\x08\x00" + reply[14:]) is None
