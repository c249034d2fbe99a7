"""Attacks on the proxy's client detection (issue 13, item 6), sans-IO on
virtual time: the access point's snooper (agent.access.snoop) feeding the
proxy engine (agent.mobileip.proxy) as the runtime wires them.

(a) a frame from a new MAC claiming a client's address made the access point
    deregister the real station;
(b) with hostapd, frames from never-associated MACs were remembered forever;
(c) snooping alone took every new MAC for an association, without a cap;
(d) Agent Advertisements were accepted whatever their IP TTL, and every
    source was remembered.
"""

from __future__ import annotations

import random
import struct
from ipaddress import IPv4Address, IPv4Network

from agent.access.events import ClientAddressLearned, ClientAssociated, ClientDisassociated, ClientEvent
from agent.access.snoop import ClientSnooper
from agent.mobileip.advertisement import AgentAdvertisement
from agent.mobileip.events import ClientNotProxied, ClientRefused, NotProxiedReason
from agent.mobileip.numbers import AdvertisementFlag, ExtensionType, ReplyCode
from agent.mobileip.outputs import Channel
from agent.mobileip.proxy import ProxyAgent, ProxySettings, StaticForeignAgent, VisitorState
from agent.mobileip.registration import RegistrationReply, decode_request
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable, authenticate
from agent.mobileip.subnet_map import SubnetMap

NOW = 1_800_000_000.0
HOME_AGENT = IPv4Address("10.1.1.1")
HOME_NETWORK = IPv4Network("10.1.0.0/16")
FOREIGN_AGENT = IPv4Address("192.0.2.1")
FOREIGN_NETWORK = IPv4Network("192.0.2.0/24")
STATION = "02:00:00:00:00:0a"
ATTACKER = "02:00:00:00:66:66"
CLIENT = IPv4Address("10.1.2.3")
CLIENT_SA = SecurityAssociation(spi=0x1001, key=bytes.fromhex("00112233445566778899aabbccddeeff"))
MHAE = ExtensionType.MOBILE_HOME_AUTHENTICATION
PACKET_HOST = 0


def make_proxy(**settings: object) -> ProxyAgent:
    table = SecurityAssociationTable()
    table.add_range(HOME_NETWORK.network_address, HOME_NETWORK.broadcast_address, CLIENT_SA)
    settings.setdefault("foreign_agent", StaticForeignAgent(FOREIGN_AGENT))
    return ProxyAgent(
        ProxySettings(local_networks=(FOREIGN_NETWORK,), **settings),  # type: ignore[arg-type]
        subnet_map=SubnetMap({HOME_NETWORK: HOME_AGENT}),
        host_associations=table,
        rng=random.Random(7),
    )


def feed(proxy: ProxyAgent, event: ClientEvent | None, now: float = NOW) -> None:
    """What the runtime does with a client event (Agent.client_event)."""
    if isinstance(event, ClientAssociated):
        proxy.client_associated(event.mac, now, address=event.address, interface=event.interface)
    elif isinstance(event, ClientAddressLearned):
        proxy.client_address_learned(event.mac, event.address, now)
    elif isinstance(event, ClientDisassociated):
        proxy.client_disassociated(event.mac, now)


def arp(mac: str, address: IPv4Address) -> bytes:
    """An Ethernet ARP request from ``mac`` for ``address`` (RFC 826)."""
    raw = bytes.fromhex(mac.replace(":", ""))
    return (b"\xff" * 6 + raw + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
            + raw + address.packed + b"\x00" * 6 + bytes((192, 0, 2, 1)))


def random_mac(rng: random.Random) -> str:
    octets = [rng.randrange(256) for _ in range(6)]
    octets[0] = (octets[0] & 0xFE) | 0x02  # locally administered unicast
    return ":".join(f"{o:02x}" for o in octets)


def drain(proxy: ProxyAgent) -> list[object]:
    events = []
    while (event := proxy.next_event()) is not None:
        events.append(event)
    return events


def register_station(proxy: ProxyAgent, snooper: ClientSnooper) -> None:
    feed(proxy, snooper.frame(arp(STATION, CLIENT), PACKET_HOST, NOW))
    [transmit] = proxy.datagrams_to_send()
    request = decode_request(transmit.data)
    reply = authenticate(RegistrationReply(ReplyCode.ACCEPTED, 300, CLIENT, HOME_AGENT,
                                           request.identification).encode_header(), MHAE, CLIENT_SA)
    proxy.receive_datagram(reply, FOREIGN_AGENT, 434, NOW + 0.1)
    visitor = proxy.visitor(STATION)
    assert visitor is not None and visitor.state is VisitorState.REGISTERED
    drain(proxy)


# -- (a) address conflicts ---------------------------------------------------------------


def test_a_new_mac_claiming_a_registered_address_does_not_deregister_the_station() -> None:
    """One ARP from another MAC with the client's address. Before: the proxy
    withdrew (deregistered) the real station and registered the newcomer.
    Now: refused, counted, an address-conflict event; the station keeps its
    registration and nothing is sent."""
    proxy = make_proxy()
    snooper = ClientSnooper("wlan0", associates=True, inactivity=300)
    register_station(proxy, snooper)

    feed(proxy, snooper.frame(arp(ATTACKER, CLIENT), PACKET_HOST, NOW + 1), NOW + 1)

    assert proxy.datagrams_to_send() == []  # no deregistration, no registration
    station = proxy.visitor(STATION)
    assert station is not None and station.state is VisitorState.REGISTERED
    claimant = proxy.visitor(ATTACKER)
    assert claimant is not None and claimant.home_address is None
    assert claimant.state is VisitorState.ASSOCIATED
    assert claimant.reason == f"address conflict: {CLIENT} is held by {STATION}"
    assert proxy.counters.address_conflicts == 1
    assert proxy.counters.deregistrations == 0
    assert drain(proxy) == [ClientNotProxied(ATTACKER, CLIENT, NotProxiedReason.ADDRESS_CONFLICT)]


def test_the_claim_is_tried_again_when_the_holder_leaves() -> None:
    """The address becomes free when its holder leaves (here: disassociates
    and its deregistration is answered); the station that claimed it is then
    registered for it."""
    proxy = make_proxy()
    snooper = ClientSnooper("wlan0", associates=True, inactivity=300)
    register_station(proxy, snooper)
    feed(proxy, snooper.frame(arp(ATTACKER, CLIENT), PACKET_HOST, NOW + 1), NOW + 1)
    drain(proxy)

    proxy.client_disassociated(STATION, NOW + 2)
    [transmit] = proxy.datagrams_to_send()
    deregistration = decode_request(transmit.data)
    assert deregistration.lifetime == 0
    reply = authenticate(RegistrationReply(0, 0, CLIENT, HOME_AGENT,
                                           deregistration.identification).encode_header(),
                         MHAE, CLIENT_SA)
    proxy.receive_datagram(reply, FOREIGN_AGENT, 434, NOW + 2.1)
    assert proxy.visitor(STATION) is None
    deadline = proxy.get_timer()
    assert deadline is not None and deadline <= NOW + 2.1  # due at once
    proxy.handle_timer(NOW + 2.1)
    [transmit] = proxy.datagrams_to_send()
    assert transmit.channel is Channel.REGISTRATION
    request = decode_request(transmit.data)
    assert request.home_address == CLIENT and request.lifetime > 0
    claimant = proxy.visitor(ATTACKER)
    assert claimant is not None and claimant.home_address == CLIENT
    assert claimant.state is VisitorState.PENDING


# -- (b) hostapd links: only associated stations -----------------------------------------


def test_with_hostapd_frames_from_unassociated_macs_are_bounded() -> None:
    """100,000 frames from random never-associated MACs on a hostapd link:
    nothing is reported, the snooper tracks no station, and it remembers at
    most max-unassociated addresses (the least recently heard forgotten,
    counted). Before: 100,000 entries kept forever."""
    snooper = ClientSnooper("wlan0", associates=False, inactivity=60, max_unassociated=256)
    rng = random.Random(13)
    for index in range(100_000):
        address = IPv4Address(int(CLIENT) + index % 50_000)
        assert snooper.frame(arp(random_mac(rng), address), PACKET_HOST, NOW + index) is None
    assert snooper.tracked == 0
    assert snooper.unassociated == 256
    assert snooper.unassociated_forgotten == 100_000 - 256
    # A station whose frames came just before its association is still known.
    snooper.frame(arp(STATION, CLIENT), PACKET_HOST, NOW + 100_001)
    assert snooper.associated(STATION, NOW + 100_002) == CLIENT
    assert snooper.unassociated == 255  # STATION moved out of the table
    assert snooper.tracked == 1


def test_with_hostapd_only_an_associated_station_is_reported() -> None:
    snooper = ClientSnooper("wlan0", associates=False, inactivity=60, max_unassociated=0)
    assert snooper.frame(arp(STATION, CLIENT), PACKET_HOST, NOW) is None
    assert snooper.unassociated == 0  # max 0: nothing remembered
    assert snooper.associated(STATION, NOW + 1) is None
    assert snooper.frame(arp(STATION, CLIENT), PACKET_HOST, NOW + 2) == ClientAddressLearned(STATION, CLIENT)


# -- (c) snooping alone: capped ----------------------------------------------------------


def test_snoop_only_mode_holds_at_most_max_visitors() -> None:
    """100,000 random MACs on a snoop-only link left 100,000 visitors. Now the
    snooper tracks at most max-stations and the proxy holds at most
    max-visitors; the rest is refused and counted."""
    proxy = make_proxy(max_visitors=4096)
    snooper = ClientSnooper("wlan0", associates=True, inactivity=300, max_stations=4096)
    rng = random.Random(6)
    for index in range(100_000):
        address = IPv4Address(int(IPv4Address("10.2.0.0")) + index)
        feed(proxy, snooper.frame(arp(random_mac(rng), address), PACKET_HOST, NOW), NOW)
        proxy.datagrams_to_send()
        drain(proxy)
    assert len(proxy.visitors()) == 4096
    assert snooper.tracked == 4096
    assert snooper.stations_refused == 100_000 - 4096


def test_the_proxy_caps_visitors_from_any_source() -> None:
    """The control channel and hostapd feed the same list: past max-visitors a
    new station is refused (ClientRefused, visitors-refused); a known one is
    still served."""
    proxy = make_proxy(max_visitors=2)
    proxy.client_associated("02:00:00:00:00:01", NOW)
    proxy.client_associated("02:00:00:00:00:02", NOW)
    drain(proxy)
    proxy.client_associated("02:00:00:00:00:03", NOW, address=CLIENT)
    assert proxy.visitor("02:00:00:00:00:03") is None
    assert proxy.datagrams_to_send() == []
    assert proxy.counters.visitors_refused == 1
    assert drain(proxy) == [ClientRefused("02:00:00:00:00:03", "max-visitors reached")]
    proxy.client_address_learned("02:00:00:00:00:04", CLIENT, NOW)
    assert proxy.counters.visitors_refused == 2
    proxy.client_address_learned("02:00:00:00:00:01", CLIENT, NOW)  # known: registers
    assert len(proxy.datagrams_to_send()) == 1


# -- (d) Agent Advertisements: TTL 1, bounded ---------------------------------------------


def advertisement(sequence: int = 0) -> bytes:
    return AgentAdvertisement(
        sequence=sequence, registration_lifetime=600,
        flags=AdvertisementFlag.FOREIGN_AGENT | AdvertisementFlag.REGISTRATION_REQUIRED,
        care_of_addresses=(FOREIGN_AGENT,), advertisement_lifetime=1800,
    ).encode()


def test_an_advertisement_not_sent_with_ttl_1_is_dropped() -> None:
    """RFC 5944 §2.1: "The TTL for all Agent Advertisements MUST be set to 1";
    the proxy drops one that arrives with another TTL and counts it."""
    proxy = make_proxy(foreign_agent=None)
    proxy.receive_icmp(advertisement(), FOREIGN_AGENT, NOW, ttl=64)
    assert proxy.foreign_agents() == []
    assert proxy.counters.advertisements_received == 0
    assert proxy.counters.advertisements_dropped == 1
    proxy.receive_icmp(advertisement(), FOREIGN_AGENT, NOW, ttl=1)
    assert [heard.address for heard in proxy.foreign_agents()] == [FOREIGN_AGENT]


def test_advertising_sources_are_bounded() -> None:
    """10,000 advertising sources: at most max-foreign-agents remembered, the
    rest dropped and counted; a remembered agent is still refreshed."""
    proxy = make_proxy(foreign_agent=None, max_foreign_agents=16)
    for index in range(10_000):
        source = IPv4Address(int(IPv4Address("192.0.2.0")) + 1 + index)
        proxy.receive_icmp(advertisement(), source, NOW, ttl=1)
    assert len(proxy.foreign_agents()) == 16
    assert proxy.counters.advertisements_dropped == 10_000 - 16
    proxy.receive_icmp(advertisement(1), IPv4Address("192.0.2.1"), NOW + 5, ttl=1)
    [first] = [h for h in proxy.foreign_agents() if h.address == IPv4Address("192.0.2.1")]
    assert first.heard_at == NOW + 5


def test_what_snooping_holds_and_refused_is_published_in_yang() -> None:
    """proxy-state/client-detection: the snooper's tables and refusals, as
    libyang validates them (a NETCONF <get> serves this)."""
    import json

    import libyang

    from agent.schema.context import TOP_MEMBER, yang_dir
    from agent.operational import client_detection_state, proxy_state

    proxy = make_proxy(max_visitors=2)
    snooper = ClientSnooper("wlan0", associates=True, inactivity=300, max_stations=2)
    rng = random.Random(1)
    for index in range(5):
        feed(proxy, snooper.frame(arp(random_mac(rng), IPv4Address(int(CLIENT) + index)),
                                  PACKET_HOST, NOW))
    state = proxy_state(proxy, NOW) | {"client-detection": client_detection_state([snooper])}
    [entry] = state["client-detection"]
    assert (entry["stations-tracked"], entry["stations-refused"]) == (2, 3)
    context = libyang.Context(str(yang_dir()))
    try:
        context.load_module("proxy-mobile-ip")
        tree = context.parse_data_mem(json.dumps({TOP_MEMBER: {"proxy-state": state}}), "json",
                                      strict=True, validate_present=True)
        assert tree is not None
        tree.free()
    finally:
        context.destroy()  # type: ignore[no-untyped-call]


def test_forged_reboots_re_register_everyone_at_most_once_per_hold_down() -> None:
    """RFC 5944 §2.4.2: an advertisement whose sequence number falls back into
    0-255 means the foreign agent rebooted, and every client registered
    through it registers again. Advertisements are not authenticated: a host
    on the link alternating sequence numbers 255 and 0 from the agent's
    address made the access point send one registration per client for every
    pair, an amplification of the number of clients. A reboot is acted on at
    most once per REBOOT_HOLD_DOWN seconds per agent; the others are counted
    as dropped."""
    from agent.mobileip.proxy import REBOOT_HOLD_DOWN

    proxy = make_proxy(foreign_agent=None, solicit=False)
    proxy.receive_icmp(advertisement(300), FOREIGN_AGENT, NOW, ttl=1)
    clients = 20
    for index in range(clients):
        proxy.client_associated(f"02:00:00:00:01:{index:02x}", NOW,
                                address=IPv4Address(int(CLIENT) + index))
    for transmit in proxy.datagrams_to_send():
        request = decode_request(transmit.data)
        reply = authenticate(RegistrationReply(ReplyCode.ACCEPTED, 300, request.home_address,
                                               HOME_AGENT, request.identification).encode_header(),
                             MHAE, CLIENT_SA)
        proxy.receive_datagram(reply, FOREIGN_AGENT, 434, NOW)
    assert proxy.registered_count == clients
    drain(proxy)
    sent = 0
    for step in range(100):  # within one second: 51 "reboots" (300 -> 255, then each 255 -> 0)
        now = NOW + 1 + step / 100
        proxy.receive_icmp(advertisement(255 if step % 2 == 0 else 0), FOREIGN_AGENT, now, ttl=1)
        sent += len(proxy.datagrams_to_send())
    assert sent == clients  # one round, not fifty
    assert proxy.counters.agent_reboots_detected == 1
    assert proxy.counters.advertisements_dropped == 50
    # After the hold-down a reboot is acted on again.
    later = NOW + 2 + REBOOT_HOLD_DOWN
    proxy.receive_icmp(advertisement(255), FOREIGN_AGENT, later, ttl=1)
    proxy.receive_icmp(advertisement(0), FOREIGN_AGENT, later, ttl=1)
    assert proxy.counters.agent_reboots_detected == 2
