"""The operational state the engines publish is valid instance data of the YANG
module's ``*-state`` containers (RFC 7951 JSON), checked by libyang — so a
NETCONF ``<get>`` or an SNMP walk serves exactly what the model says."""

from __future__ import annotations

import json
import random
from ipaddress import IPv4Address, IPv4Network

import libyang

from agent.schema.context import TOP_MEMBER, yang_dir
from agent.mobileip.advertisement import AgentAdvertisement
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.numbers import AdvertisementFlag, RequestFlag
from agent.mobileip.outputs import Channel
from agent.mobileip.proxy import ProxyAgent, ProxySettings
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable
from agent.mobileip.subnet_map import SubnetMap
from agent.mobileip.violations import ViolationLog
from agent.mobileip.events import ViolationReason
from agent.operational import foreign_agent_state, home_agent_state, proxy_state, violations_state

NOW = 1_800_000_000.0
HA, FA, AP = IPv4Address("198.51.100.1"), IPv4Address("203.0.113.1"), IPv4Address("203.0.113.7")


def _network() -> tuple[HomeAgent, ForeignAgent, ProxyAgent]:
    sa = SecurityAssociation(256, bytes(range(16)))
    hosts = SecurityAssociationTable()
    hosts.add_range(IPv4Address("192.0.2.1"), IPv4Address("192.0.2.254"), sa)
    ha = HomeAgent(HomeAgentSettings(HA), mobile_nodes=hosts, rng=random.Random(1))
    fa = ForeignAgent(ForeignAgentSettings(FA, advertisement_interval=0), rng=random.Random(2))
    proxy = ProxyAgent(
        ProxySettings(reverse_tunnel=True, solicit=False),
        subnet_map=SubnetMap({IPv4Network("192.0.2.0/24"): HA}),
        host_associations=hosts,
        rng=random.Random(3),
    )
    advert = AgentAdvertisement(300, 600, AdvertisementFlag.FOREIGN_AGENT | AdvertisementFlag.REVERSE_TUNNELING
                                | AdvertisementFlag.REGISTRATION_REQUIRED, (FA,))
    proxy.receive_icmp(advert.encode(), FA, NOW)
    engines = {HA: (ha, 434), FA: (fa, 434), AP: (proxy, 5000)}
    for i in range(5):
        proxy.client_associated(f"02:00:00:00:00:0{i}", NOW, address=IPv4Address("192.0.2.10") + i,
                                interface="wlan0")
    proxy.client_associated("02:00:00:00:01:00", NOW, address=IPv4Address("198.51.100.77"))
    moved = True
    while moved:
        moved = False
        for source, (engine, port) in list(engines.items()):
            for transmit in engine.datagrams_to_send():
                if transmit.channel is Channel.REGISTRATION and transmit.destination in engines:
                    moved = True
                    engines[transmit.destination][0].receive_datagram(transmit.data, source, port, NOW)
    assert ha.binding_count == 5 and fa.visitor_count == 5 and proxy.registered_count == 5
    assert all(b.flags & RequestFlag.REVERSE_TUNNELING for b in ha.bindings())
    return ha, fa, proxy


def _validate(member: dict[str, object]) -> None:
    context = libyang.Context(str(yang_dir()))
    try:
        context.load_module("proxy-mobile-ip")
        tree = context.parse_data_mem(
            json.dumps({TOP_MEMBER: member}), "json", strict=True, validate_present=True
        )
        assert tree is not None
        tree.free()
    finally:
        context.destroy()


def test_state_of_every_role_is_valid_yang_instance_data() -> None:
    ha, fa, proxy = _network()
    log = ViolationLog()
    log.record(IPv4Address("192.0.2.99"), spi=300, identification=(1 << 40) | 7,
               reason=ViolationReason.BAD_AUTHENTICATOR, now=NOW)
    member = {
        "home-agent-state": home_agent_state(ha, NOW + 1),
        "foreign-agent-state": foreign_agent_state(fa, NOW + 1),
        "proxy-state": proxy_state(proxy, NOW + 1),
        "security-violations": violations_state(log),
    }
    _validate(member)
    binding = member["home-agent-state"]["binding"][0]  # type: ignore[index]
    assert binding["flags"] == "reverse-tunneling"
    assert isinstance(binding["identification"], str)  # uint64 is a JSON string (RFC 7951 §6.1)
    visitors = member["proxy-state"]["visitor"]  # type: ignore[index]
    assert {v["state"] for v in visitors} == {"registered", "no-home-agent"}
    heard = member["proxy-state"]["foreign-agent"][0]  # type: ignore[index]
    assert heard["flags"] == "registration-required foreign-agent reverse-tunneling"


def test_every_engine_event_maps_to_a_valid_yang_notification() -> None:
    """Each modelled event becomes a notification libyang accepts (RFC 7950
    §7.16, RFC 7951 encoding)."""
    from agent.mobileip import events as ev
    from agent.notifications import notification_for

    a, b = IPv4Address("192.0.2.10"), IPv4Address("203.0.113.1")
    samples = [
        ("home-agent", ev.BindingCreated(a, b, 600, b)),
        ("home-agent", ev.BindingDeleted(a, b, ev.RemovalReason.EXPIRED)),
        ("home-agent", ev.RegistrationDenied(a, HA, 133, b)),
        ("foreign-agent", ev.RegistrationDenied(a, HA, 69, b)),
        ("proxy", ev.ClientRegistrationDenied("02:00:00:00:00:01", a, 131)),
        ("home-agent", ev.AuthenticationFailed(a, 257, ev.ViolationReason.BAD_SPI)),
        ("home-agent", ev.AuthenticationFailed(a, None, ev.ViolationReason.MISSING_SECURITY_EXTENSION)),
        ("foreign-agent", ev.VisitorAdded(a, HA, b, 600)),
        ("foreign-agent", ev.VisitorRemoved(a, HA, ev.RemovalReason.DEREGISTERED)),
        ("proxy", ev.ClientRegistered("02:00:00:00:00:01", a, HA, b, 600)),
        ("proxy", ev.ClientRegistrationFailed("02:00:00:00:00:01", a, "no reply")),
        ("proxy", ev.ClientDeregistered("02:00:00:00:00:01", a)),
    ]
    context = libyang.Context(str(yang_dir()))
    try:
        context.load_module("proxy-mobile-ip")
        for role, event in samples:
            mapped = notification_for(role, event)
            assert mapped is not None, event
            name, content = mapped
            text = json.dumps({f"proxy-mobile-ip:{name}": content})
            node = context.parse_op_mem("json", text, dtype=libyang.DataType.NOTIF_YANG)
            assert node is not None, (name, content)
            node.free()
        assert notification_for("home-agent", ev.BindingRefreshed(a, b, 600)) is None
    finally:
        context.destroy()
