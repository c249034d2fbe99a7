"""Departed visitors and bindings are freed by reference counting (issue 15
item 5): no cycle runs through a ProxyVisitor, a foreign agent's Visitor or
a home agent's Binding, so nothing a departure leaves behind waits for the
cyclic collector (which the agent's GC policy runs over long-lived state
once an hour, agent/aio/gc_policy.py). The cyclic collector is switched off
for each test and must then find nothing unreachable: everything the
departures released was freed at once."""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network

import pytest

from agent.mobileip.builder import build_request
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.numbers import ExtensionType
from agent.mobileip.proxy import ProxyAgent, ProxySettings, StaticForeignAgent
from agent.mobileip.registration import RegistrationReply, RegistrationRequest, decode_request
from agent.mobileip.replay import ntp_identification
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable, authenticate
from agent.mobileip.subnet_map import SubnetMap

NOW = 1_800_000_000.0
HOME_AGENT = IPv4Address("10.1.1.1")
HOME_NETWORK = IPv4Network("10.1.0.0/16")
FOREIGN_AGENT = IPv4Address("192.0.2.1")
SA = SecurityAssociation(spi=0x1001, key=bytes(range(16)))
MHAE = ExtensionType.MOBILE_HOME_AUTHENTICATION


@pytest.fixture
def no_cyclic_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def sas() -> SecurityAssociationTable:
    table = SecurityAssociationTable()
    table.add_range(HOME_NETWORK.network_address, HOME_NETWORK.broadcast_address, SA)
    return table


def mac(index: int) -> str:
    return f"02:00:00:00:{index >> 8:02x}:{index & 0xFF:02x}"


def address(index: int) -> IPv4Address:
    return IPv4Address(int(IPv4Address("10.1.2.0")) + index)


def answer(request: RegistrationRequest, lifetime: int, code: int = 0) -> bytes:
    return authenticate(RegistrationReply(code, lifetime, request.home_address, request.home_agent,
                                          request.identification).encode_header(), MHAE, SA)


def run_timers(proxy: ProxyAgent, now: float) -> float:
    for _ in range(1000):
        deadline = proxy.get_timer()
        if deadline is None:
            break
        now = max(now, deadline)
        proxy.handle_timer(now)
        proxy.datagrams_to_send()
        while proxy.next_event() is not None:
            pass
    return now


def test_proxy_visitors_leave_no_cycles(no_cyclic_collector: None) -> None:
    """Every way a proxy visitor ends: deregistration answered, deregistration
    unanswered (given up), a new address (withdrawn, then registered anew),
    back before its deregistration finished, denied by the home agent, an
    address conflict, and a refusal at max-visitors."""
    proxy = ProxyAgent(
        ProxySettings(local_networks=(IPv4Network("192.0.2.0/24"),),
                      foreign_agent=StaticForeignAgent(FOREIGN_AGENT), max_visitors=300),
        subnet_map=SubnetMap({HOME_NETWORK: HOME_AGENT}), host_associations=sas(),
        rng=random.Random(1))
    for index in range(100):
        proxy.client_associated(mac(index), NOW, address=address(index))
        request = decode_request(proxy.datagrams_to_send()[-1].data)
        code = 131 if index % 10 == 9 else 0
        proxy.receive_datagram(answer(request, 300 if code == 0 else 0, code), FOREIGN_AGENT, 434, NOW)
        if index % 4 == 1:
            proxy.client_address_learned(mac(index), address(index + 1000), NOW + 0.5)
        if index % 5 == 2:
            proxy.client_associated(mac(index + 500), NOW + 0.6, address=address(index))  # conflict
        proxy.client_disassociated(mac(index), NOW + 1)
        if index % 3 == 0:
            out = proxy.datagrams_to_send()
            if out:
                proxy.receive_datagram(answer(decode_request(out[-1].data), 0), FOREIGN_AGENT, 434,
                                       NOW + 1)
        elif index % 3 == 1:
            proxy.client_associated(mac(index), NOW + 1.1, address=address(index))  # came back
            proxy.client_disassociated(mac(index), NOW + 1.2)
        proxy.datagrams_to_send()
        while proxy.next_event() is not None:
            pass
    for index in range(400):
        proxy.client_associated(mac(2000 + index), NOW + 2)  # max-visitors refusals
    for index in range(400):
        proxy.client_disassociated(mac(2000 + index), NOW + 3)
    for index in range(100):
        proxy.client_disassociated(mac(index + 500), NOW + 3)
    run_timers(proxy, NOW + 3)
    assert proxy.visitors() == []
    # Nor held by an address: an old address's deregistration (its station
    # took a new one) ends like any other, answered or given up.
    assert all(proxy.visitor_by_home_address(address(i)) is None for i in range(100))
    assert gc.collect() == 0


def test_foreign_agent_visitors_and_home_agent_bindings_leave_no_cycles(
    no_cyclic_collector: None,
) -> None:
    """Registrations through a foreign agent to a home agent, half ended by
    deregistration and half by expiry, on both agents."""
    foreign_agent = ForeignAgent(ForeignAgentSettings(FOREIGN_AGENT, advertisement_interval=0.0),
                                 rng=random.Random(2), now=NOW)
    home_agent = HomeAgent(HomeAgentSettings(HOME_AGENT), mobile_nodes=sas(), rng=random.Random(3))

    def exchange(index: int, lifetime: int, now: float) -> None:
        data = build_request(home_address=address(index), home_agent=HOME_AGENT,
                             care_of_address=FOREIGN_AGENT,
                             identification=ntp_identification(now, index), lifetime=lifetime, sa=SA)
        foreign_agent.receive_datagram(data, address(index), 49152, now)
        [relayed] = foreign_agent.datagrams_to_send()
        home_agent.receive_datagram(relayed.data, FOREIGN_AGENT, 40000, now)
        [reply] = home_agent.datagrams_to_send()
        foreign_agent.receive_datagram(reply.data, HOME_AGENT, 434, now)
        foreign_agent.datagrams_to_send()

    for index in range(100):
        exchange(index, 60, NOW)
    for index in range(0, 100, 2):
        exchange(index, 0, NOW + 1)
    later = NOW + 61
    foreign_agent.handle_timer(later)
    home_agent.handle_timer(later)
    for engine in (foreign_agent, home_agent):
        while engine.next_event() is not None:
            pass
    assert foreign_agent.visitors() == [] and home_agent.bindings() == []
    assert gc.collect() == 0
