"""Configuration of the access point's ARP interception: the subnet map's
``default-gateway`` (a host address inside its prefix, at load time and in a
live commit), ``arp-interception`` needing ``snoop-interface`` (the YANG
``must``), and the proxy's events routed to the right link's interceptor
(agent/access/interception.py)."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from agent.access.events import ClientAssociated, ClientDisassociated
from agent.access.intercept import ArpInterceptor, mac_bytes
from agent.access.interception import Interception
from agent.config.loader import load_config_text
from agent.schema.errors import ConfigError
from agent.datastore.edits import Edit, Operation
from agent.datastore.paths import parse_path
from agent.datastore.errors import DatastoreError
from agent.datastore.store import RUNNING, Datastore
from agent.mobileip.events import (
    ClientDeregistered,
    ClientNotProxied,
    ClientRegistered,
    ClientRegistrationDenied,
    ClientRegistrationFailed,
    NotProxiedReason,
)
from agent.mobileip.subnet_map import SubnetMap

TOP = "proxy-mobile-ip:mobile-ip"
MAC = "02:00:00:00:00:0a"
HOME = IPv4Address("192.0.2.10")


def document(*, gateway: str | None = "192.0.2.1", interface: dict[str, Any] | None = None) -> str:
    entry: dict[str, Any] = {"prefix": "192.0.2.0/24", "home-agent": "192.0.2.1"}
    if gateway is not None:
        entry["default-gateway"] = gateway
    proxy: dict[str, Any] = {"listen": {"address": "127.0.0.1", "port": 0}}
    if interface is not None:
        proxy["interface"] = [interface]
    return json.dumps({TOP: {"proxy": proxy, "subnet-map": [entry]}})


def test_default_gateway_and_arp_interception_load() -> None:
    config = load_config_text(document(interface={
        "name": "wlan0", "snoop-interface": "wlan0", "arp-interception": True}), "json")
    assert config.proxy is not None
    entry = config.proxy.subnet_map.lookup(HOME)
    assert entry is not None and entry.default_gateway == IPv4Address("192.0.2.1")
    assert [s.intercept for s in config.proxy.snoop] == [True]
    plain = load_config_text(document(gateway=None, interface={"name": "w", "snoop-interface": "w"}),
                             "json")
    assert plain.proxy is not None and [s.intercept for s in plain.proxy.snoop] == [False]
    assert plain.proxy.subnet_map.lookup(HOME).default_gateway is None  # type: ignore[union-attr]


@pytest.mark.parametrize("gateway", ["198.51.100.1", "192.0.2.0", "192.0.2.255"])
def test_a_default_gateway_that_is_no_host_of_its_prefix_is_refused(gateway: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(document(gateway=gateway), "json")
    assert caught.value.path == f"/{TOP}/subnet-map[prefix='192.0.2.0/24']/default-gateway"
    assert "not a host address of 192.0.2.0/24" in str(caught.value)


def test_arp_interception_needs_a_snoop_interface() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(document(interface={"name": "wlan0", "arp-interception": True}), "json")
    assert "arp-interception needs snoop-interface" in str(caught.value)


def test_a_live_commit_with_a_gateway_outside_the_prefix_is_vetoed_and_changes_nothing() -> None:
    from agent.live_config import bind
    from agent.runtime import Agent

    config = load_config_text(json.dumps({TOP: {}}), "json")
    datastore = Datastore()
    agent = Agent(config=config)
    bind(agent, config, datastore)
    path = parse_path(f"/{TOP}/subnet-map[prefix='192.0.2.0/24']")
    with pytest.raises(DatastoreError, match="10.0.0.1 is not a host address of 192.0.2.0/24"):
        datastore.edit(RUNNING, [Edit(Operation.MERGE, path, {
            "prefix": "192.0.2.0/24", "home-agent": "192.0.2.1", "default-gateway": "10.0.0.1"})])
    assert "subnet-map" not in datastore.get_config(RUNNING).get(TOP, {})
    datastore.close()


def test_events_drive_the_interceptor_of_the_clients_link() -> None:
    own = mac_bytes("02:00:00:00:aa:01")
    wlan, guest = ArpInterceptor(own), ArpInterceptor(own)
    subnet_map = SubnetMap()
    subnet_map.add(IPv4Network("192.0.2.0/24"), IPv4Address("192.0.2.1"), IPv4Address("192.0.2.254"))
    interception = Interception({"wlan0": wlan, "guest": guest}, lambda mac: "wlan0",
                                subnet_map.lookup)
    interception.client_event(ClientAssociated(MAC, "wlan0"), 0.0)
    assert len(wlan) == 1 and len(guest) == 0
    registered = ClientRegistered(MAC, HOME, IPv4Address("192.0.2.1"), IPv4Address("198.51.100.6"), 60)
    [(interface, frames)] = interception.proxy_event(registered, 0.1)
    assert interface == "wlan0" and [f[28:32] for f in frames] == [IPv4Address("192.0.2.254").packed]
    assert wlan.is_intercepting(MAC) and interception.counters()["intercepted-clients"] == 1
    interception.proxy_event(ClientRegistrationDenied(MAC, HOME, 133, binding_lost=True), 0.2)
    assert not wlan.is_intercepting(MAC)
    interception.proxy_event(registered, 0.3)
    interception.proxy_event(ClientDeregistered(MAC, HOME), 0.4)
    assert not wlan.is_intercepting(MAC)
    interception.client_event(ClientDisassociated(MAC), 0.5)
    assert len(wlan) == 0
    assert interception.counters()["announcements-sent"] == 2


def test_the_end_of_an_old_addresses_registration_leaves_the_new_one_intercepted() -> None:
    """A station takes a new address: the proxy registers it while the old
    address's deregistration runs its course (retransmitted, up to ~3 s).
    That one ending (ClientDeregistered for the old address) or any other
    end of a registration for another address must not stop the
    interception of the registration the client holds now."""
    interceptor = ArpInterceptor(mac_bytes("02:00:00:00:aa:01"))
    subnet_map = SubnetMap()
    subnet_map.add(IPv4Network("192.0.2.0/24"), IPv4Address("192.0.2.1"), IPv4Address("192.0.2.254"))
    interception = Interception({"wlan0": interceptor}, lambda mac: "wlan0", subnet_map.lookup)
    interception.client_event(ClientAssociated(MAC, "wlan0"), 0.0)
    new_address = IPv4Address("192.0.2.77")
    assert new_address != HOME
    interception.proxy_event(
        ClientRegistered(MAC, new_address, IPv4Address("192.0.2.1"), IPv4Address("198.51.100.6"), 60), 0.1)
    for ended in (ClientDeregistered(MAC, HOME), ClientRegistrationFailed(MAC, HOME, "no reply"),
                  ClientNotProxied(MAC, HOME, NotProxiedReason.ADDRESS_CONFLICT)):
        interception.proxy_event(ended, 0.2)
        assert interceptor.is_intercepting(MAC), ended
    interception.proxy_event(ClientDeregistered(MAC, new_address), 0.3)
    assert not interceptor.is_intercepting(MAC)


def test_interception_counters_are_valid_yang_state() -> None:
    """proxy-state/arp-interception as the runtime serves it (every counter
    the interceptor has, plus send-errors) is valid instance data."""
    import libyang

    from agent.schema.context import TOP_MEMBER, yang_dir

    interceptor = ArpInterceptor(mac_bytes("02:00:00:00:aa:01"))
    interceptor.associated(MAC, 0.0)
    interceptor.registered(MAC, HOME, IPv4Network("192.0.2.0/24"), [IPv4Address("192.0.2.1")], 0.0)
    counters = Interception({"wlan0": interceptor}, lambda mac: "wlan0", SubnetMap().lookup).counters()
    counters["send-errors"] = 0
    assert set(counters) >= {"packets-forwarded", "announcements-sent", "intercepted-clients"}
    context = libyang.Context(str(yang_dir()))
    try:
        context.load_module("proxy-mobile-ip")
        text = json.dumps({TOP_MEMBER: {"proxy-state": {"arp-interception": counters}}})
        tree = context.parse_data_mem(text, "json", strict=True, validate_present=True)
        assert tree is not None
        tree.free()
    finally:
        context.destroy()
