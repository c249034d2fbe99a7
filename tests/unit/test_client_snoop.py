"""Learning clients from their frames (agent.access.snoop), on virtual time.
Frames are built with scapy, the independent oracle of the wire formats."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Ether

from agent.access.events import ClientAddressLearned, ClientAssociated, ClientDisassociated
from agent.access.snoop import PACKET_OUTGOING, ClientSnooper, frame_source

MAC = "02:00:00:00:00:0a"
HOME = "192.0.2.10"
PACKET_HOST = 0


def arp(mac: str = MAC, ip: str = HOME, hwsrc: str | None = None) -> bytes:
    return bytes(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") /
                 ARP(op=1, hwsrc=hwsrc or mac, psrc=ip, pdst="192.0.2.1"))


def ipv4(mac: str = MAC, ip: str = HOME) -> bytes:
    return bytes(Ether(src=mac, dst="02:00:00:00:00:01") / IP(src=ip, dst="192.0.2.100") / ICMP())


def test_arp_and_ipv4_tell_the_sender() -> None:
    # RFC 826: sender protocol address; RFC 791: source address.
    assert frame_source(arp()) == (MAC, IPv4Address(HOME))
    assert frame_source(ipv4()) == (MAC, IPv4Address(HOME))


@pytest.mark.parametrize("frame", [
    arp(ip="0.0.0.0"),  # RFC 5227 probe
    bytes(Ether(src=MAC) / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67)),
    arp(mac="03:00:00:00:00:01"),  # group source MAC
    arp(hwsrc="02:00:00:00:00:99"),  # ARP sender is not the frame's source
    bytes(Ether(src=MAC, type=0x86DD) / (b"\x60" + b"\x00" * 39)),  # IPv6
    arp()[:30],  # truncated ARP
    ipv4()[:20],  # truncated IPv4
    b"\x00" * 10,
])
def test_frames_that_tell_nothing(frame: bytes) -> None:
    assert frame_source(frame) is None


def test_alone_a_new_mac_is_an_association_and_silence_a_departure() -> None:
    snooper = ClientSnooper("ssid-guest", associates=True, inactivity=30)
    assert snooper.frame(arp(), PACKET_HOST, 100.0) == ClientAssociated(MAC, "ssid-guest",
                                                                        IPv4Address(HOME))
    assert snooper.frame(ipv4(), PACKET_HOST, 101.0) is None  # nothing new
    assert snooper.next_deadline() == 130.0
    assert snooper.tick(130.0) == []  # seen at 101: due at 131
    assert snooper.tick(131.0) == [ClientDisassociated(MAC)]
    assert snooper.tick(1000.0) == []
    # It comes back: a new association.
    assert isinstance(snooper.frame(arp(), PACKET_HOST, 1001.0), ClientAssociated)


def test_a_new_address_from_a_known_mac_is_learnt() -> None:
    snooper = ClientSnooper("wlan0", associates=True, inactivity=0)
    snooper.frame(arp(), PACKET_HOST, 1.0)
    assert snooper.frame(arp(ip="192.0.2.11"), PACKET_HOST, 2.0) == ClientAddressLearned(
        MAC, IPv4Address("192.0.2.11"))
    assert snooper.next_deadline() is None  # inactivity 0: never by silence


def test_frames_the_access_point_sends_do_not_count() -> None:
    snooper = ClientSnooper("wlan0", associates=True)
    assert snooper.frame(arp(), PACKET_OUTGOING, 1.0) is None
    assert snooper.frames_seen == 0


def test_with_hostapd_only_associated_stations_are_reported() -> None:
    """hostapd tells associations; frames tell addresses, the ones seen before
    802.1X finished included."""
    snooper = ClientSnooper("wlan0", associates=False, inactivity=60)
    assert snooper.frame(arp(), PACKET_HOST, 1.0) is None  # not associated yet
    assert snooper.associated(MAC, 1.5) == IPv4Address(HOME)
    assert snooper.frame(ipv4(ip="192.0.2.12"), PACKET_HOST, 2.0) == ClientAddressLearned(
        MAC, IPv4Address("192.0.2.12"))
    snooper.forget(MAC)  # hostapd: AP-STA-DISCONNECTED
    assert snooper.tick(10_000.0) == []  # already ended: no second departure
    assert snooper.frame(arp(), PACKET_HOST, 3.0) is None
    other = "02:00:00:00:00:0b"
    assert snooper.associated(other, 4.0) is None  # associated before any frame
    assert snooper.frame(arp(mac=other, ip="192.0.2.13"), PACKET_HOST, 5.0) == \
        ClientAddressLearned(other, IPv4Address("192.0.2.13"))


def test_with_hostapd_silence_ends_an_association_too() -> None:
    """A wired port (hostapd driver=wired) has no disassociation frame."""
    snooper = ClientSnooper("wlan0", associates=False, inactivity=60)
    snooper.associated(MAC, 10.0)
    snooper.frame(arp(), PACKET_HOST, 20.0)
    assert snooper.tick(70.0) == []
    assert snooper.tick(80.0) == [ClientDisassociated(MAC)]
