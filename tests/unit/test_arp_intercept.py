"""The access point's ARP interception (agent/access/intercept.py), sans-IO:
what it answers for a visiting client and what it never answers (RFC 826 ARP,
RFC 1027 proxy ARP; RFC 5944 §4.6 gratuitous ARP), its bounds and counters."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv4Network

from agent.access.intercept import ArpInterceptor, InterceptLimits, mac_bytes

AP = mac_bytes("02:00:00:00:aa:01")
OLD_AP = mac_bytes("02:00:00:00:bb:01")
CLIENT = "02:00:00:00:00:0a"
HOME = IPv4Address("192.0.2.10")
NETWORK = IPv4Network("192.0.2.0/24")
GATEWAY = IPv4Address("192.0.2.1")
PEER = IPv4Address("192.0.2.100")
LOCAL = IPv4Network("203.0.113.0/25")


def arp_request(sender: IPv4Address | str, target: IPv4Address | str, *, mac: str = CLIENT,
                destination: bytes = b"\xff" * 6, sender_mac: str | None = None) -> bytes:
    source = mac_bytes(mac)
    return (destination + source + b"\x08\x06"
            + struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac_bytes(sender_mac or mac),
                          IPv4Address(sender).packed, b"\0" * 6, IPv4Address(target).packed))


def ipv4(destination: IPv4Address | str, destination_mac: bytes, *, source: IPv4Address = HOME,
         mac: str = CLIENT) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 1, 0, source.packed,
                         IPv4Address(destination).packed)
    return destination_mac + mac_bytes(mac) + b"\x08\x00" + header + b"\x08\0\0\0\0\0\0\0"


def parse_arp(frame: bytes) -> dict:
    op, sha, spa, tha, tpa = struct.unpack("!6xH6s4s6s4s", frame[14:42])
    return {"to": frame[0:6], "from": frame[6:12], "type": frame[12:14], "op": op, "sha": sha,
            "spa": IPv4Address(spa), "tha": tha, "tpa": IPv4Address(tpa)}


def registered(interceptor: ArpInterceptor | None = None, now: float = 0.0,
               gateways: tuple[IPv4Address, ...] = (GATEWAY,)) -> tuple[ArpInterceptor, list[bytes]]:
    if interceptor is None:
        interceptor = ArpInterceptor(AP, local_networks=[LOCAL])
    interceptor.associated(CLIENT, now)
    return interceptor, interceptor.registered(CLIENT, HOME, NETWORK, gateways, now)


def test_request_for_the_gateway_of_a_registered_client_is_answered_with_the_ap_mac() -> None:
    interceptor, _ = registered()
    [reply] = interceptor.frame(arp_request(HOME, GATEWAY), 0, 1.0)
    arp = parse_arp(reply)
    assert arp == {"to": mac_bytes(CLIENT), "from": AP, "type": b"\x08\x06", "op": 2,
                   "sha": AP, "spa": GATEWAY, "tha": mac_bytes(CLIENT), "tpa": HOME}
    # Any home address, not only the gateway: the client believes it is at home.
    assert parse_arp(interceptor.frame(arp_request(HOME, PEER), 0, 1.0)[0])["spa"] == PEER
    assert interceptor.counters.arp_replies_sent == 2


def test_registration_announces_the_gateway_and_the_first_hops_learnt_before_it() -> None:
    interceptor = ArpInterceptor(AP, local_networks=[LOCAL])
    interceptor.associated(CLIENT, 0.0)
    # Before the registration: asked for, sent to a stale MAC, nothing answered.
    assert interceptor.frame(arp_request(HOME, PEER), 0, 0.1) == []
    assert interceptor.frame(ipv4("192.0.2.77", OLD_AP), 0, 0.1) == []
    assert interceptor.frame(ipv4("198.51.100.9", OLD_AP), 0, 0.1) == []  # not home: no entry
    assert interceptor.frame(ipv4(HOME, OLD_AP), 0, 0.1) == []
    assert interceptor.counters.requests_not_registered == 1
    frames = interceptor.registered(CLIENT, HOME, NETWORK, [GATEWAY, IPv4Address("10.9.9.9")], 0.2)
    announced = [parse_arp(f) for f in frames]
    assert [a["spa"] for a in announced] == [GATEWAY, PEER, IPv4Address("192.0.2.77")]
    for arp in announced:  # gratuitous replies (sender = target), unicast to the client
        assert (arp["to"], arp["from"], arp["op"], arp["sha"], arp["tha"]) == (
            mac_bytes(CLIENT), AP, 2, AP, AP)
        assert arp["tpa"] == arp["spa"] != HOME
    assert interceptor.counters.announcements_sent == 3


def test_never_for_an_unregistered_client() -> None:
    interceptor = ArpInterceptor(AP)
    assert interceptor.frame(arp_request(HOME, GATEWAY), 0, 0.0) == []  # not even associated
    interceptor.associated(CLIENT, 0.0)
    assert interceptor.frame(arp_request(HOME, GATEWAY), 0, 0.0) == []
    assert interceptor.frame(ipv4(GATEWAY, OLD_AP), 0, 0.0) == []
    assert interceptor.counters.requests_not_registered == 1
    interceptor.registered(CLIENT, HOME, NETWORK, [GATEWAY], 0.0)
    assert interceptor.frame(arp_request(HOME, GATEWAY), 0, 0.0)
    interceptor.unregistered(CLIENT)  # deregistered, denied or lost
    assert interceptor.frame(arp_request(HOME, GATEWAY), 0, 1.0) == []
    assert not interceptor.is_intercepting(CLIENT)
    interceptor.departed(CLIENT)
    assert len(interceptor) == 0


def test_never_for_the_clients_own_address_nor_for_another_sender() -> None:
    interceptor, _ = registered()
    assert interceptor.frame(arp_request(HOME, HOME), 0, 1.0) == []  # its gratuitous ARP
    assert interceptor.frame(arp_request("0.0.0.0", HOME), 0, 1.0) == []  # RFC 5227 probe
    assert interceptor.frame(arp_request("192.0.2.11", GATEWAY), 0, 1.0) == []  # not its address
    # The ARP sender hardware address must be the frame's source (RFC 826).
    assert interceptor.frame(arp_request(HOME, GATEWAY, sender_mac="02:00:00:00:00:0b"), 0, 1.0) == []
    assert interceptor.counters.requests_own_address == 3
    assert interceptor.counters.arp_replies_sent == 0
    # Nor the own address among the registration's announcements.
    again = interceptor.registered(CLIENT, HOME, NETWORK, [HOME], 2.0)
    assert [parse_arp(f)["spa"] for f in again] == []


def test_never_outside_the_home_network() -> None:
    interceptor, _ = registered()
    assert interceptor.frame(arp_request(HOME, "203.0.113.1"), 0, 1.0) == []
    assert interceptor.counters.requests_outside_home == 1


def test_never_on_the_home_network_of_the_access_point() -> None:
    interceptor = ArpInterceptor(AP, local_networks=[NETWORK])
    interceptor.associated(CLIENT, 0.0)
    assert interceptor.registered(CLIENT, HOME, NETWORK, [GATEWAY], 0.0) == []
    assert interceptor.frame(arp_request(HOME, GATEWAY), 0, 1.0) == []
    assert interceptor.counters.clients_refused == 1
    # A home network that does not hold the home address is refused as well.
    assert ArpInterceptor(AP).registered(CLIENT, HOME, IPv4Network("198.51.100.0/24"), [], 0.0) == []


def test_frames_the_access_point_sends_are_not_answered() -> None:
    interceptor, _ = registered()
    assert interceptor.frame(arp_request(HOME, GATEWAY), 4, 1.0) == []  # PACKET_OUTGOING
    assert interceptor.frame(b"\xff" * 20, 0, 1.0) == []  # truncated


def test_a_stale_first_hop_after_the_registration_is_corrected_at_once_and_bounded() -> None:
    interceptor, _ = registered()
    [fix] = interceptor.frame(ipv4(PEER, OLD_AP), 0, 1.0)
    assert parse_arp(fix)["spa"] == PEER and parse_arp(fix)["to"] == mac_bytes(CLIENT)
    # Off the home network: its gateway's entry is the stale one.
    [fix] = interceptor.frame(ipv4("198.51.100.9", OLD_AP), 0, 1.0)
    assert parse_arp(fix)["spa"] == GATEWAY
    # One correction per destination per correction_interval.
    assert interceptor.frame(ipv4(PEER, OLD_AP), 0, 1.1) == []
    assert len(interceptor.frame(ipv4(PEER, OLD_AP), 0, 1.6)) == 1
    # Frames to the access point itself, or broadcast, need nothing.
    assert interceptor.frame(ipv4(PEER, AP), 0, 5.0) == []
    assert interceptor.frame(ipv4(PEER, b"\xff" * 6), 0, 5.0) == []
    assert interceptor.counters.corrections_sent == 3


def test_answers_are_rate_limited_per_client() -> None:
    limits = InterceptLimits(burst=3, rate=2.0)
    interceptor, _ = registered(ArpInterceptor(AP, limits=limits))
    answered = [bool(interceptor.frame(arp_request(HOME, GATEWAY), 0, 1.0)) for _ in range(5)]
    assert answered == [True, True, True, False, False]
    assert interceptor.counters.rate_limited == 2
    assert interceptor.frame(arp_request(HOME, GATEWAY), 0, 1.5)  # one token back after 0.5 s


def test_tracked_clients_and_learnt_addresses_are_bounded() -> None:
    limits = InterceptLimits(max_clients=2, max_targets=3)
    interceptor = ArpInterceptor(AP, limits=limits)
    for i in range(3):
        interceptor.associated(f"02:00:00:00:01:0{i}", 0.0)
    assert len(interceptor) == 2 and interceptor.counters.clients_refused == 1
    interceptor.associated(CLIENT, 0.0)  # refused as well
    assert interceptor.registered(CLIENT, HOME, NETWORK, [], 0.0) == []
    interceptor.departed("02:00:00:00:01:00")
    interceptor.associated(CLIENT, 0.0)
    for last in range(20, 30):
        interceptor.frame(arp_request(HOME, f"192.0.2.{last}"), 0, 0.0)
    frames = interceptor.registered(CLIENT, HOME, NETWORK, [], 0.0)
    assert [str(parse_arp(f)["spa"]) for f in frames] == ["192.0.2.27", "192.0.2.28", "192.0.2.29"]


def test_a_packet_to_a_stale_mac_is_forwarded_by_the_access_point_and_bounded() -> None:
    limits = InterceptLimits(forward_burst=2, forward_rate=10.0)
    interceptor, _ = registered(ArpInterceptor(AP, limits=limits))
    frame = ipv4(PEER, OLD_AP) + b"\0" * 6  # Ethernet padding is not forwarded
    interceptor.frame(frame, 0, 1.0)
    assert interceptor.packets_to_forward() == [frame[14:42]]
    assert interceptor.packets_to_forward() == []  # drained
    # Not for frames to the access point (its kernel routes those), nor from
    # another source address, nor for an unregistered client.
    interceptor.frame(ipv4(PEER, AP), 0, 1.0)
    interceptor.frame(ipv4(PEER, OLD_AP, source=IPv4Address("192.0.2.11")), 0, 1.0)
    # Nor to a group or broadcast address (a unicast MAC does not make it unicast).
    interceptor.frame(ipv4("255.255.255.255", OLD_AP), 0, 1.0)
    interceptor.frame(ipv4("224.0.0.1", OLD_AP), 0, 1.0)
    assert interceptor.packets_to_forward() == []
    interceptor.frame(frame, 0, 1.0)
    interceptor.frame(frame, 0, 1.0)  # the bucket (2) is empty now
    assert len(interceptor.packets_to_forward()) == 1
    assert interceptor.counters.forward_limited == 1
    assert interceptor.counters.packets_forwarded == 2
    interceptor.unregistered(CLIENT)
    interceptor.frame(frame, 0, 9.0)
    assert interceptor.packets_to_forward() == []
