"""Startup configuration: YANG instance documents (RFC 7951 JSON, RFC 7950 XML)
validated by libyang and turned into ``AgentConfig``.

Invalid documents must fail with a ``ConfigError`` that names the data path and the
rule, and no error may ever carry key material.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import fields
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import libyang
import pytest

from agent.config.default import (
    DEMO_HOST_KEY_HEX,
    DEMO_HOST_SPI,
    DEMO_PEER_KEY_HEX,
    DEMO_PEER_SPI,
    demo_config_json,
)
from agent.config.loader import load_config, load_config_text
from agent.schema.context import ROOT_PATH, YANG_DIR_ENV, yang_dir
from agent.schema.errors import ConfigError
from agent.schema.validator import REDACTED
from agent.config.model import AgentConfig, Endpoint, HostapdSource
from agent.mobileip.events import ViolationReason
from agent.mobileip.foreign_agent import ForeignAgentCounters, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgentCounters, HomeAgentSettings
from agent.mobileip.numbers import AdvertisementFlag
from agent.mobileip.proxy import ProxyCounters, ProxySettings, StaticForeignAgent, VisitorState
from agent.mobileip.security import Algorithm, ReplayMethod, SecurityAssociationTable
from agent.mobileip.subnet_map import SubnetMap

TOP = "proxy-mobile-ip:mobile-ip"
NAMESPACE = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
HOST_KEY_HEX = "a1:b2:c3:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f:90"
HOST_KEY = bytes.fromhex(HOST_KEY_HEX.replace(":", ""))
ASCII_KEY = "correct horse battery staple"
PEER_KEY_HEX = "fe:dc:ba:98:76:54:32:10:01:23:45:67:89:ab:cd:ef:42"
PEER_KEY = bytes.fromhex(PEER_KEY_HEX.replace(":", ""))
#: Every way a key of these tests could leak into a message.
SECRETS = (
    HOST_KEY_HEX,
    HOST_KEY_HEX.replace(":", ""),
    ASCII_KEY,
    PEER_KEY_HEX,
    PEER_KEY_HEX.replace(":", ""),
)


def full_document() -> dict[str, Any]:
    """Every configurable leaf set to a non-default value."""
    return {
        TOP: {
            "home-agent": {
                "address": "198.51.100.1",
                "home-network": "198.51.100.0/24",
                "listen": {"address": "198.51.100.1", "port": 10434},
                "max-lifetime": 1800,
                "max-bindings": 5000,
                "max-simultaneous-bindings": 1,
                "reverse-tunnel": True,
                "reverse-tunnel-required": True,
                "gre": True,
                "minimal-encapsulation": True,
            },
            "foreign-agent": {
                "address": "203.0.113.1",
                "care-of-address": ["203.0.113.2", "203.0.113.1"],
                "listen": {"address": "203.0.113.1", "port": 10435},
                "home-agent-port": 10434,
                "max-lifetime": 300,
                "max-pending": 100,
                "max-pending-per-node": 3,
                "pending-timeout": "2.5",
                "max-visitors": 1000,
                "require-home-agent-authentication": True,
                "reverse-tunnel": False,
                "reverse-tunnel-required": False,
                "gre": True,
                "minimal-encapsulation": True,
                "registration-required": False,
                "advertisement": {
                    "enabled": False,
                    "interval": "5",
                    "lifetime": 15,
                    "address": "255.255.255.255",
                    "prefix-length": 24,
                },
            },
            "proxy": {
                "listen": {"address": "203.0.113.5", "port": 10436},
                "local-network": ["203.0.113.0/24", "10.20.0.0/16"],
                "interface": [
                    {"name": "wlan0", "hostapd-control-path": "/run/hostapd/wlan0"},
                    {"name": "guest-ssid"},
                ],
                "lifetime": 300,
                "reregistration-margin": "12.5",
                "retransmit": {"initial": "1.5", "maximum": "8", "attempts": 3},
                "retry-backoff": {"initial": "30", "maximum": "300"},
                "max-outstanding": 64,
                "max-visitors": 512,
                "foreign-agent": {
                    "address": "203.0.113.1",
                    "care-of-address": "203.0.113.2",
                    "port": 10435,
                    "max-lifetime": 300,
                },
                "foreign-agent-port": 10435,
                "home-agent-port": 10434,
                "reverse-tunnel": True,
                "discovery": {"enabled": False, "solicitation-max-interval": "120",
                              "max-foreign-agents": 4},
                "control-socket": "/run/proxymip/control.sock",
            },
            "subnet-map": [
                {"prefix": "198.51.100.0/24", "home-agent": "198.51.100.1"},
                {"prefix": "198.51.100.128/25", "home-agent": "198.51.100.129"},
                {"prefix": "10.0.0.0/8", "home-agent": "198.51.100.1"},
            ],
            "security": {
                "host": [
                    {
                        "address": "198.51.100.10",
                        "spi": 256,
                        "key-hex": HOST_KEY_HEX,
                    },
                    {
                        "address": "198.51.100.10",
                        "spi": 1000,
                        "key-ascii": ASCII_KEY,
                        "algorithm": "keyed-md5-prefix-suffix",
                        "replay-method": "nonces",
                        "replay-window": 30,
                    },
                    {
                        "address": "198.51.100.100",
                        "last-address": "198.51.100.199",
                        "spi": 300,
                        "key-hex": HOST_KEY_HEX,
                    },
                ],
                "peer": [
                    {"address": "203.0.113.1", "spi": 4096, "key-hex": PEER_KEY_HEX},
                ],
            },
        }
    }


FULL_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<mobile-ip xmlns="{NAMESPACE}">
  <home-agent>
    <address>198.51.100.1</address>
    <home-network>198.51.100.0/24</home-network>
    <listen><address>198.51.100.1</address><port>10434</port></listen>
    <max-lifetime>1800</max-lifetime>
    <max-bindings>5000</max-bindings>
    <max-simultaneous-bindings>1</max-simultaneous-bindings>
    <reverse-tunnel>true</reverse-tunnel>
    <reverse-tunnel-required>true</reverse-tunnel-required>
    <gre>true</gre>
    <minimal-encapsulation>true</minimal-encapsulation>
  </home-agent>
  <foreign-agent>
    <address>203.0.113.1</address>
    <care-of-address>203.0.113.2</care-of-address>
    <care-of-address>203.0.113.1</care-of-address>
    <listen><address>203.0.113.1</address><port>10435</port></listen>
    <home-agent-port>10434</home-agent-port>
    <max-lifetime>300</max-lifetime>
    <max-pending>100</max-pending>
    <max-pending-per-node>3</max-pending-per-node>
    <pending-timeout>2.5</pending-timeout>
    <max-visitors>1000</max-visitors>
    <require-home-agent-authentication>true</require-home-agent-authentication>
    <reverse-tunnel>false</reverse-tunnel>
    <reverse-tunnel-required>false</reverse-tunnel-required>
    <gre>true</gre>
    <minimal-encapsulation>true</minimal-encapsulation>
    <registration-required>false</registration-required>
    <advertisement>
      <enabled>false</enabled>
      <interval>5</interval>
      <lifetime>15</lifetime>
      <address>255.255.255.255</address>
      <prefix-length>24</prefix-length>
    </advertisement>
  </foreign-agent>
  <proxy>
    <listen><address>203.0.113.5</address><port>10436</port></listen>
    <local-network>203.0.113.0/24</local-network>
    <local-network>10.20.0.0/16</local-network>
    <interface>
      <name>wlan0</name>
      <hostapd-control-path>/run/hostapd/wlan0</hostapd-control-path>
    </interface>
    <interface><name>guest-ssid</name></interface>
    <lifetime>300</lifetime>
    <reregistration-margin>12.5</reregistration-margin>
    <retransmit><initial>1.5</initial><maximum>8</maximum><attempts>3</attempts></retransmit>
    <retry-backoff><initial>30</initial><maximum>300</maximum></retry-backoff>
    <max-outstanding>64</max-outstanding>
    <max-visitors>512</max-visitors>
    <foreign-agent>
      <address>203.0.113.1</address>
      <care-of-address>203.0.113.2</care-of-address>
      <port>10435</port>
      <max-lifetime>300</max-lifetime>
    </foreign-agent>
    <foreign-agent-port>10435</foreign-agent-port>
    <home-agent-port>10434</home-agent-port>
    <reverse-tunnel>true</reverse-tunnel>
    <discovery>
      <enabled>false</enabled>
      <solicitation-max-interval>120</solicitation-max-interval>
      <max-foreign-agents>4</max-foreign-agents>
    </discovery>
    <control-socket>/run/proxymip/control.sock</control-socket>
  </proxy>
  <subnet-map><prefix>198.51.100.0/24</prefix><home-agent>198.51.100.1</home-agent></subnet-map>
  <subnet-map>
    <prefix>198.51.100.128/25</prefix><home-agent>198.51.100.129</home-agent>
  </subnet-map>
  <subnet-map><prefix>10.0.0.0/8</prefix><home-agent>198.51.100.1</home-agent></subnet-map>
  <security>
    <host>
      <address>198.51.100.10</address>
      <spi>256</spi>
      <key-hex>{HOST_KEY_HEX}</key-hex>
    </host>
    <host>
      <address>198.51.100.10</address>
      <spi>1000</spi>
      <key-ascii>{ASCII_KEY}</key-ascii>
      <algorithm>keyed-md5-prefix-suffix</algorithm>
      <replay-method>nonces</replay-method>
      <replay-window>30</replay-window>
    </host>
    <host>
      <address>198.51.100.100</address>
      <last-address>198.51.100.199</last-address>
      <spi>300</spi>
      <key-hex>{HOST_KEY_HEX}</key-hex>
    </host>
    <peer>
      <address>203.0.113.1</address>
      <spi>4096</spi>
      <key-hex>{PEER_KEY_HEX}</key-hex>
    </peer>
  </security>
</mobile-ip>
"""


def load_json(document: dict[str, Any]) -> AgentConfig:
    return load_config_text(json.dumps(document), "json")


def sa_rows(table: SecurityAssociationTable) -> list[tuple[str, str, int, bytes, str, str, float]]:
    return [
        (
            str(low),
            str(high),
            sa.spi,
            sa.key,
            sa.algorithm.value,
            sa.replay_method.value,
            sa.replay_window,
        )
        for low, high, sa in table.entries()
    ]


def subnet_rows(subnet_map: SubnetMap) -> list[tuple[str, str]]:
    return [(str(e.prefix), str(e.home_agent)) for e in subnet_map.entries()]


def home_agent_of(subnet_map: SubnetMap, address: str) -> str | None:
    entry = subnet_map.lookup(IPv4Address(address))
    return str(entry.home_agent) if entry is not None else None


def assert_full_config(config: AgentConfig) -> None:
    assert config.home_agent is not None
    assert config.home_agent.settings == HomeAgentSettings(
        address=IPv4Address("198.51.100.1"),
        home_network=IPv4Network("198.51.100.0/24"),
        max_lifetime=1800,
        max_bindings=5000,
        max_simultaneous_bindings=1,
        reverse_tunnel=True,
        reverse_tunnel_required=True,
        gre=True,
        minimal_encapsulation=True,
    )
    assert config.home_agent.listen == Endpoint(IPv4Address("198.51.100.1"), 10434)

    assert config.foreign_agent is not None
    assert config.foreign_agent.settings == ForeignAgentSettings(
        address=IPv4Address("203.0.113.1"),
        care_of_addresses=(IPv4Address("203.0.113.2"), IPv4Address("203.0.113.1")),
        max_lifetime=300,
        max_pending=100,
        max_pending_per_node=3,
        pending_timeout=2.5,
        max_visitors=1000,
        require_home_agent_authentication=True,
        reverse_tunnel=False,
        reverse_tunnel_required=False,
        gre=True,
        minimal_encapsulation=True,
        registration_required=False,
        advertisement_interval=5.0,
        advertisement_lifetime=15,
        advertisement_address=IPv4Address("255.255.255.255"),
        prefix_length=24,
        home_agent_port=10434,
    )
    assert config.foreign_agent.listen == Endpoint(IPv4Address("203.0.113.1"), 10435)
    assert config.foreign_agent.discovery is False

    assert config.proxy is not None
    assert config.proxy.settings == ProxySettings(
        local_networks=(IPv4Network("203.0.113.0/24"), IPv4Network("10.20.0.0/16")),
        interfaces=frozenset({"wlan0", "guest-ssid"}),
        lifetime=300,
        reregistration_margin=12.5,
        retransmit_initial=1.5,
        retransmit_max=8.0,
        max_attempts=3,
        retry_backoff=30.0,
        retry_backoff_max=300.0,
        max_outstanding=64,
        max_visitors=512,
        max_foreign_agents=4,
        foreign_agent=StaticForeignAgent(
            address=IPv4Address("203.0.113.1"),
            care_of_address=IPv4Address("203.0.113.2"),
            port=10435,
            max_lifetime=300,
        ),
        foreign_agent_port=10435,
        home_agent_port=10434,
        reverse_tunnel=True,
        solicit=False,
        solicitation_max_interval=120.0,
    )
    assert config.proxy.listen == Endpoint(IPv4Address("203.0.113.5"), 10436)
    assert config.proxy.hostapd == (HostapdSource("/run/hostapd/wlan0", "wlan0"),)
    assert config.proxy.control_socket == "/run/proxymip/control.sock"
    assert config.proxy.discovery is False
    assert subnet_rows(config.proxy.subnet_map) == [
        ("10.0.0.0/8", "198.51.100.1"),
        ("198.51.100.0/24", "198.51.100.1"),
        ("198.51.100.128/25", "198.51.100.129"),
    ]
    # Longest prefix match: the /25 wins over the /24 around it.
    assert home_agent_of(config.proxy.subnet_map, "198.51.100.200") == "198.51.100.129"
    assert home_agent_of(config.proxy.subnet_map, "198.51.100.20") == "198.51.100.1"
    assert home_agent_of(config.proxy.subnet_map, "192.0.2.1") is None

    assert sa_rows(config.host_associations) == [
        ("198.51.100.10", "198.51.100.10", 256, HOST_KEY, "hmac-md5", "timestamps", 7.0),
        (
            "198.51.100.10",
            "198.51.100.10",
            1000,
            ASCII_KEY.encode("utf-8"),
            "keyed-md5-prefix-suffix",
            "nonces",
            30.0,
        ),
        ("198.51.100.100", "198.51.100.199", 300, HOST_KEY, "hmac-md5", "timestamps", 7.0),
    ]
    assert sa_rows(config.peer_associations) == [
        ("203.0.113.1", "203.0.113.1", 4096, PEER_KEY, "hmac-md5", "timestamps", 7.0),
    ]
    # The range answers for every address inside it, and only those.
    hosts = config.host_associations
    assert hosts.lookup(IPv4Address("198.51.100.150"), 300) is not None
    assert not hosts.has(IPv4Address("198.51.100.200"))


# -- valid documents --------------------------------------------------------------------


def test_full_json_document_loads_into_records() -> None:
    assert_full_config(load_json(full_document()))


def test_full_xml_document_loads_into_the_same_records() -> None:
    assert_full_config(load_config_text(FULL_XML, "xml"))


def test_load_config_reads_files_by_suffix(tmp_path: Path) -> None:
    json_file = tmp_path / "startup.json"
    json_file.write_text(json.dumps(full_document()), encoding="utf-8")
    xml_file = tmp_path / "startup.XML"
    xml_file.write_text(FULL_XML, encoding="utf-8")
    assert_full_config(load_config(json_file))
    assert_full_config(load_config(xml_file))


def test_yang_defaults_are_the_engine_defaults() -> None:
    """A role given only its address gets exactly the engine's default settings:
    the YANG defaults and the dataclass defaults cannot drift apart."""
    config = load_json(
        {
            TOP: {
                "home-agent": {"address": "192.0.2.100"},
                "foreign-agent": {"address": "192.0.2.200"},
            }
        }
    )
    assert config.home_agent is not None and config.foreign_agent is not None
    assert config.home_agent.settings == HomeAgentSettings(address=IPv4Address("192.0.2.100"))
    assert config.foreign_agent.settings == ForeignAgentSettings(address=IPv4Address("192.0.2.200"))
    assert config.home_agent.listen == Endpoint()
    assert config.foreign_agent.listen == Endpoint()
    assert config.foreign_agent.discovery is True


def test_host_sa_defaults_are_the_engine_defaults() -> None:
    document = {
        TOP: {"security": {"host": [{"address": "192.0.2.1", "spi": 256, "key-hex": HOST_KEY_HEX}]}}
    }
    sa = load_json(document).host_associations.lookup(IPv4Address("192.0.2.1"), 256)
    assert sa is not None
    assert (sa.algorithm, sa.replay_method, sa.replay_window) == (
        Algorithm.HMAC_MD5,
        ReplayMethod.TIMESTAMPS,
        7.0,
    )


@pytest.mark.parametrize("text", ["", "{}", json.dumps({TOP: {}})])
def test_empty_document_configures_no_role(text: str) -> None:
    config = load_config_text(text, "json")
    assert config.home_agent is None and config.foreign_agent is None and config.proxy is None
    assert len(config.host_associations) == 0 and len(config.peer_associations) == 0


def test_home_network_is_canonicalised() -> None:
    document = {TOP: {"home-agent": {"address": "192.0.2.1", "home-network": "192.0.2.77/24"}}}
    config = load_json(document)
    assert config.home_agent is not None
    assert config.home_agent.settings.home_network == IPv4Network("192.0.2.0/24")


def test_single_address_range_and_exact_entry_inside_a_range() -> None:
    document = {
        TOP: {
            "security": {
                "host": [
                    {
                        "address": "192.0.2.5",
                        "last-address": "192.0.2.5",
                        "spi": 256,
                        "key-hex": HOST_KEY_HEX,
                    },
                    {
                        "address": "192.0.2.10",
                        "last-address": "192.0.2.20",
                        "spi": 256,
                        "key-hex": HOST_KEY_HEX,
                    },
                    {"address": "192.0.2.15", "spi": 257, "key-ascii": ASCII_KEY},
                ]
            }
        }
    }
    hosts = load_json(document).host_associations
    assert hosts.lookup(IPv4Address("192.0.2.5"), 256) is not None
    # An exact entry takes precedence over the range around it.
    assert hosts.preferred(IPv4Address("192.0.2.15")).spi == 257  # type: ignore[union-attr]
    assert hosts.preferred(IPv4Address("192.0.2.16")).spi == 256  # type: ignore[union-attr]


def test_proxy_yang_defaults_are_the_engine_defaults() -> None:
    """An empty proxy container gets exactly the engine's default settings."""
    config = load_json({TOP: {"proxy": {}}})
    assert config.proxy is not None
    assert config.proxy.settings == ProxySettings()
    assert config.proxy.listen == Endpoint()
    assert config.proxy.discovery is True
    assert config.proxy.hostapd == ()
    assert config.proxy.control_socket is None
    assert len(config.proxy.subnet_map) == 0
    assert config.home_agent is None and config.foreign_agent is None


def test_static_foreign_agent_defaults_are_the_engine_defaults() -> None:
    config = load_json({TOP: {"proxy": {"foreign-agent": {"address": "192.0.2.200"}}}})
    assert config.proxy is not None
    assert config.proxy.settings.foreign_agent == StaticForeignAgent(IPv4Address("192.0.2.200"))


@pytest.mark.parametrize(
    ("interfaces", "expected"),
    [
        pytest.param([], None, id="empty-list-enables-all"),
        pytest.param([{"name": "ssid-a"}], frozenset({"ssid-a"}), id="one"),
        pytest.param(
            [{"name": "wlan0"}, {"name": "wlan1"}], frozenset({"wlan0", "wlan1"}), id="two"
        ),
    ],
)
def test_proxy_interfaces(
    interfaces: list[dict[str, str]], expected: frozenset[str] | None
) -> None:
    config = load_json({TOP: {"proxy": {"interface": interfaces}}})
    assert config.proxy is not None
    assert config.proxy.settings.interfaces == expected
    assert config.proxy.hostapd == ()  # no interface names a hostapd socket


def test_hostapd_sources_follow_the_interfaces_that_name_one() -> None:
    interfaces = [
        {"name": "wlan1", "hostapd-control-path": "/run/hostapd/wlan1"},
        {"name": "eth0"},
        {"name": "wlan0", "hostapd-control-path": "/run/hostapd/wlan0"},
    ]
    config = load_json({TOP: {"proxy": {"interface": interfaces}}})
    assert config.proxy is not None
    assert sorted(config.proxy.hostapd, key=lambda h: h.interface) == [
        HostapdSource("/run/hostapd/wlan0", "wlan0"),
        HostapdSource("/run/hostapd/wlan1", "wlan1"),
    ]


def test_discovery_enabled_also_sends_solicitations() -> None:
    """Advertisements and solicitations share the raw socket: one switch for both."""
    enabled = load_json({TOP: {"proxy": {"discovery": {"enabled": True}}}}).proxy
    disabled = load_json({TOP: {"proxy": {"discovery": {"enabled": False}}}}).proxy
    assert enabled is not None and disabled is not None
    assert (enabled.discovery, enabled.settings.solicit) == (True, True)
    assert (disabled.discovery, disabled.settings.solicit) == (False, False)


def test_prefixes_are_canonicalised() -> None:
    """libyang stores an ipv4-prefix with its host bits cleared (documented in the
    module): what the operator wrote as 10.1.2.3/16 is the network 10.1.0.0/16."""
    document = {
        TOP: {
            "proxy": {"local-network": ["192.0.2.77/24"]},
            "subnet-map": [{"prefix": "10.1.2.3/16", "home-agent": "192.0.2.1"}],
        }
    }
    config = load_json(document)
    assert config.proxy is not None
    assert config.proxy.settings.local_networks == (IPv4Network("192.0.2.0/24"),)
    assert subnet_rows(config.proxy.subnet_map) == [("10.1.0.0/16", "192.0.2.1")]


def test_subnet_map_without_the_proxy_role_is_not_built() -> None:
    document = {TOP: {"subnet-map": [{"prefix": "10.0.0.0/8", "home-agent": "192.0.2.1"}]}}
    assert load_json(document).proxy is None


def test_large_subnet_map_loads_every_entry() -> None:
    """Thousands of /24s (10.0.0.0 to 10.19.135.0) sharing a handful of home agents
    (the loader parses each home agent address once), and a /16 beyond them.
    Timing: tools/bench/config_load.py."""
    count = 5_000
    entries = [
        {"prefix": f"{IPv4Address(0x0A000000 + 256 * i)}/24", "home-agent": f"192.0.2.{i % 7 + 1}"}
        for i in range(count)
    ]
    entries.append({"prefix": "10.20.0.0/16", "home-agent": "192.0.2.100"})
    config = load_json({TOP: {"proxy": {}, "subnet-map": entries}})
    assert config.proxy is not None
    subnet_map = config.proxy.subnet_map
    assert len(subnet_map) == count + 1
    assert home_agent_of(subnet_map, "10.0.19.77") == f"192.0.2.{19 % 7 + 1}"
    assert home_agent_of(subnet_map, "10.19.135.1") == f"192.0.2.{(count - 1) % 7 + 1}"
    assert home_agent_of(subnet_map, "10.19.136.1") is None
    assert home_agent_of(subnet_map, "10.20.5.5") == "192.0.2.100"


# -- invalid documents ------------------------------------------------------------------


def mutated(change: Any) -> dict[str, Any]:
    document = full_document()
    change(document[TOP])
    return document


def set_leaf(*keys: Any, value: Any) -> Any:
    def change(root: dict[str, Any]) -> None:
        node = root
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


def delete_leaf(*keys: Any) -> Any:
    def change(root: dict[str, Any]) -> None:
        node = root
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return change


def add_host(**entry: Any) -> Any:
    def change(root: dict[str, Any]) -> None:
        root["security"]["host"].append(entry)

    return change


HOST_256 = f"{ROOT_PATH}/security/host[address='198.51.100.10'][spi='256']"
PROXY = f"{ROOT_PATH}/proxy"

INVALID_JSON = [
    pytest.param(
        set_leaf("home-agent", "max-lifetime", value="long"),
        f"{ROOT_PATH}/home-agent/max-lifetime",
        "Invalid",
        None,
        id="bad-type",
    ),
    pytest.param(
        set_leaf("home-agent", "address", value="198.51.100.300"),
        f"{ROOT_PATH}/home-agent/address",
        "pattern",
        None,
        id="bad-address",
    ),
    pytest.param(
        set_leaf("security", "host", 0, "spi", value=5),
        f"{ROOT_PATH}/security/host[address='198.51.100.10']/spi",
        'value "5" is out of the allowed range',
        None,
        id="spi-5",
    ),
    pytest.param(
        delete_leaf("home-agent", "address"),
        f"{ROOT_PATH}/home-agent/address",
        "Mandatory node",
        None,
        id="missing-mandatory-address",
    ),
    pytest.param(
        delete_leaf("security", "host", 0, "key-hex"),
        f"{ROOT_PATH}/security/host[address='198.51.100.10'][spi='256']",
        "key-format",
        "missing-choice",  # RFC 7950 §15.6
        id="missing-key",
    ),
    pytest.param(
        set_leaf("home-agent", "tunnel-mtu", value=1400),
        f"{ROOT_PATH}/home-agent",
        'Node "tunnel-mtu" not found',
        None,
        id="unknown-leaf",
    ),
    pytest.param(
        set_leaf("home-agent-state", value={"counters": {"registration-accepted": 1}}),
        f"{ROOT_PATH}/home-agent-state",
        "state",
        None,
        id="state-data",
    ),
    pytest.param(
        set_leaf(
            "security-violations",
            value={"violation": [{"address": "192.0.2.9", "counter": 1}]},
        ),
        f"{ROOT_PATH}/security-violations",
        "state",
        None,
        id="state-list",
    ),
    pytest.param(
        set_leaf("foreign-agent", "advertisement", "interval", value="6"),
        f"{ROOT_PATH}/foreign-agent/advertisement",
        "at most a third of the advertisement lifetime",
        "advertisement-interval-too-long",
        id="advertisement-interval-over-lifetime/3",
    ),
    pytest.param(
        set_leaf("foreign-agent", "reverse-tunnel-required", value=True),
        f"{ROOT_PATH}/foreign-agent/reverse-tunnel-required",
        "needs reverse-tunnel",
        "reverse-tunnel-disabled",
        id="reverse-tunnel-required-without-reverse-tunnel",
    ),
    pytest.param(
        set_leaf("foreign-agent", "max-pending-per-node", value=101),
        f"{ROOT_PATH}/foreign-agent/max-pending-per-node",
        "must not exceed max-pending",
        "pending-limit-inconsistent",
        id="per-node-pending-over-total",
    ),
    pytest.param(
        set_leaf("security", "host", 2, "last-address", value="198.51.100.99"),
        f"{ROOT_PATH}/security/host[address='198.51.100.100'][spi='300']/last-address",
        "last-address must not be lower than address",
        "address-range-reversed",
        id="reversed-range",
    ),
    pytest.param(
        add_host(address="198.51.100.10", spi=256, **{"key-ascii": "another key"}),
        f"{ROOT_PATH}/security/host[address='198.51.100.10'][spi='256']",
        "Duplicate instance",
        None,
        id="duplicate-sa",
    ),
    pytest.param(
        add_host(
            address="198.51.100.150",
            spi=300,
            **{"last-address": "198.51.100.250", "key-hex": HOST_KEY_HEX},
        ),
        f"{ROOT_PATH}/security/host[address='198.51.100.150'][spi='300']",
        "overlaps another range",
        None,
        id="overlapping-ranges",
    ),
    pytest.param(
        add_host(
            address="198.51.100.100",
            spi=301,
            **{"last-address": "198.51.100.120", "key-hex": HOST_KEY_HEX},
        ),
        f"{ROOT_PATH}/security/host[address='198.51.100.100'][spi='301']",
        "overlaps another range",
        None,
        id="same-start-different-end",
    ),
    pytest.param(
        set_leaf("security", "host", 0, "key-hex", value=HOST_KEY_HEX[:44]),
        f"{HOST_256}/key-hex",
        "no matching subtype",
        None,
        id="key-hex-too-short",
    ),
    pytest.param(
        # Plain hex digits are accepted (Cisco style) but must be >= 16 octets.
        set_leaf("security", "host", 0, "key-hex", value=HOST_KEY_HEX.replace(":", "")[:30]),
        f"{HOST_256}/key-hex",
        "no matching subtype",
        None,
        id="plain-key-hex-too-short",
    ),
    pytest.param(
        set_leaf("security", "host", 0, "key-hex", value=HOST_KEY_HEX + ":zz"),
        f"{HOST_256}/key-hex",
        "no matching subtype",
        None,
        id="key-hex-bad-digit",
    ),
    pytest.param(
        set_leaf("security", "host", 1, "key-ascii", value=ASCII_KEY * 3),
        f"{ROOT_PATH}/security/host[address='198.51.100.10'][spi='1000']/key-ascii",
        "length",
        None,
        id="key-ascii-too-long",
    ),
    pytest.param(
        set_leaf("security", "host", 0, "key-ascii", value=ASCII_KEY),
        f"{ROOT_PATH}/security/host[address='198.51.100.10'][spi='256']",
        "key",
        None,
        id="two-keys-in-one-choice",
    ),
    pytest.param(
        set_leaf("security", "host", 0, "algorithm", value="sha1"),
        f"{HOST_256}/algorithm",
        "sha1",
        None,
        id="unknown-algorithm",
    ),
    pytest.param(
        set_leaf("security", "peer", 0, "replay-window", value=0),
        f"{ROOT_PATH}/security/peer[address='203.0.113.1'][spi='4096']/replay-window",
        "range",
        None,
        id="replay-window-0",
    ),
    pytest.param(
        set_leaf("proxy", "lifetime", value=0),  # 0 would be a deregistration
        f"{PROXY}/lifetime",
        "out of the allowed range",
        None,
        id="proxy-lifetime-0",
    ),
    pytest.param(
        set_leaf("proxy", "retransmit", "initial", value="0.5"),  # RFC 5944 §3.6.3: >= 1 s
        f"{PROXY}/retransmit/initial",
        "out of the allowed range",
        None,
        id="retransmit-initial-under-1s",
    ),
    pytest.param(
        set_leaf("proxy", "retransmit", "maximum", value="1.25"),
        f"{PROXY}/retransmit/maximum",
        "retransmit maximum must not be lower than initial",
        "retransmit-interval-inconsistent",
        id="retransmit-maximum-under-initial",
    ),
    pytest.param(
        # Against the default maximum (16) too.
        set_leaf("proxy", "retransmit", value={"initial": "20"}),
        f"{PROXY}/retransmit/maximum",
        "retransmit maximum must not be lower than initial",
        "retransmit-interval-inconsistent",
        id="retransmit-initial-over-default-maximum",
    ),
    pytest.param(
        set_leaf("proxy", "retransmit", "attempts", value=21),
        f"{PROXY}/retransmit/attempts",
        "out of the allowed range",
        None,
        id="retransmit-attempts-21",
    ),
    pytest.param(
        set_leaf("proxy", "retry-backoff", "maximum", value="29"),
        f"{PROXY}/retry-backoff/maximum",
        "retry-backoff maximum must not be lower than initial",
        "retry-backoff-inconsistent",
        id="retry-backoff-maximum-under-initial",
    ),
    pytest.param(
        set_leaf("proxy", "max-outstanding", value=0),
        f"{PROXY}/max-outstanding",
        "out of the allowed range",
        None,
        id="max-outstanding-0",
    ),
    pytest.param(
        set_leaf("proxy", "discovery", "solicitation-max-interval", value="0.5"),
        f"{PROXY}/discovery/solicitation-max-interval",
        "out of the allowed range",
        None,
        id="solicitation-interval-under-1s",
    ),
    pytest.param(
        delete_leaf("proxy", "foreign-agent", "address"),
        f"{PROXY}/foreign-agent/address",
        "Mandatory node",
        None,
        id="static-foreign-agent-without-address",
    ),
    pytest.param(
        set_leaf("proxy", "foreign-agent", "max-lifetime", value=0),
        f"{PROXY}/foreign-agent/max-lifetime",
        "out of the allowed range",
        None,
        id="static-foreign-agent-max-lifetime-0",
    ),
    pytest.param(
        set_leaf("proxy", "local-network", value=["203.0.113.0"]),
        f"{PROXY}/local-network",
        "Unsatisfied pattern",
        None,
        id="local-network-without-length",
    ),
    pytest.param(
        set_leaf("proxy", "interface", 1, "hostapd-control-path", value="/run/hostapd/wlan0"),
        f"{PROXY}/interface[name='guest-ssid']",
        'Unique data leaf(s) "hostapd-control-path"',
        "data-not-unique",  # RFC 7950 §15.1
        id="two-interfaces-one-hostapd-socket",
    ),
    pytest.param(
        set_leaf("proxy", "control-socket", value=""),
        f"{PROXY}/control-socket",
        "length",
        None,
        id="empty-control-socket",
    ),
    pytest.param(
        delete_leaf("subnet-map", 1, "home-agent"),
        f"{ROOT_PATH}/subnet-map[prefix='198.51.100.128/25']",
        'Mandatory node "home-agent"',
        None,
        id="subnet-map-without-home-agent",
    ),
    pytest.param(
        set_leaf("subnet-map", 0, "prefix", value="198.51.100.0/33"),
        f"{ROOT_PATH}/subnet-map/prefix",
        "Unsatisfied pattern",
        None,
        id="subnet-map-prefix-length-33",
    ),
    pytest.param(
        set_leaf("subnet-map", 0, "prefix", value="198.51.100.0"),
        f"{ROOT_PATH}/subnet-map/prefix",
        "Unsatisfied pattern",
        None,
        id="subnet-map-prefix-without-length",
    ),
    pytest.param(
        set_leaf("subnet-map", 1, "home-agent", value="198.51.100.0/25"),
        f"{ROOT_PATH}/subnet-map[prefix='198.51.100.128/25']/home-agent",
        "Unsatisfied pattern",
        None,
        id="subnet-map-home-agent-is-a-prefix",
    ),
    pytest.param(
        # Canonically 198.51.100.0/24 again: the same entry twice.
        set_leaf("subnet-map", 1, "prefix", value="198.51.100.7/24"),
        f"{ROOT_PATH}/subnet-map[prefix='198.51.100.0/24']",
        "Duplicate instance",
        None,
        id="subnet-map-same-network-spelt-twice",
    ),
    pytest.param(
        set_leaf("proxy-state", value={"counters": {"accepted": 1}}),
        f"{ROOT_PATH}/proxy-state",
        "state",
        None,
        id="proxy-state-data",
    ),
]


@pytest.mark.parametrize(("change", "path", "rule", "app_tag"), INVALID_JSON)
def test_invalid_json_names_path_and_rule(
    change: Any, path: str, rule: str, app_tag: str | None
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_json(mutated(change))
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.path == path
    assert str(error).startswith(f"{path}: ")
    assert rule in str(error)
    assert error.app_tag == app_tag
    assert_no_secret(error)


#: libyang quotes up to 20 characters of text it cannot parse: a key's prefix
#: must not appear either.
LEAK_WINDOW = 8


def assert_no_secret(error: BaseException) -> None:
    """Neither the error nor anything chained to it quotes a key, or any
    ``LEAK_WINDOW`` characters of one."""
    seen: BaseException | None = error
    while seen is not None:
        text = f"{seen!s} {seen!r}"
        for secret in SECRETS:
            for start in range(len(secret) - LEAK_WINDOW + 1):
                fragment = secret[start : start + LEAK_WINDOW]
                assert fragment not in text, f"key material in {type(seen).__name__}: {text}"
        seen = seen.__cause__ or seen.__context__


def test_key_errors_are_redacted_but_still_say_what_is_wrong() -> None:
    change = set_leaf("security", "host", 0, "key-hex", value=HOST_KEY_HEX[:44])
    with pytest.raises(ConfigError) as caught:
        load_json(mutated(change))
    assert REDACTED in str(caught.value)
    assert "no matching subtype" in str(caught.value)  # the rule broken, without the value
    assert HOST_KEY_HEX[:44] not in str(caught.value)


XML_HOST = """<mobile-ip xmlns="{ns}"><security><host>
<address>192.0.2.10</address><spi>{spi}</spi><key-ascii>{key}</key-ascii>
</host></security></mobile-ip>"""


@pytest.mark.parametrize(
    ("text", "path", "rule"),
    [
        pytest.param(
            XML_HOST.format(ns=NAMESPACE, spi=5, key=ASCII_KEY),
            f"{ROOT_PATH}/security/host[address='192.0.2.10']/spi",
            "range",
            id="spi-5",
        ),
        pytest.param(
            f'<mobile-ip xmlns="{NAMESPACE}"><home-agent/></mobile-ip>',
            f"{ROOT_PATH}/home-agent/address",
            "Mandatory node",
            id="missing-address",
        ),
        pytest.param(
            f'<mobile-ip xmlns="{NAMESPACE}"><home-agent><address>192.0.2.1</address>'
            "<colour>blue</colour></home-agent></mobile-ip>",
            f"{ROOT_PATH}/home-agent",
            "colour",
            id="unknown-leaf",
        ),
        pytest.param(
            f'<mobile-ip xmlns="{NAMESPACE}"><foreign-agent-state><counters>'
            "<advertisements-sent>3</advertisements-sent></counters>"
            "</foreign-agent-state></mobile-ip>",
            f"{ROOT_PATH}/foreign-agent-state",
            "state",
            id="state-data",
        ),
        pytest.param(
            f'<mobile-ip xmlns="{NAMESPACE}"><foreign-agent><address>192.0.2.1</address>'
            "<advertisement><interval>20</interval><lifetime>59</lifetime></advertisement>"
            "</foreign-agent></mobile-ip>",
            f"{ROOT_PATH}/foreign-agent/advertisement",
            "third",
            id="advertisement-interval",
        ),
        pytest.param(
            f'<mobile-ip xmlns="{NAMESPACE}"><proxy><lifetime>0</lifetime></proxy></mobile-ip>',
            f"{ROOT_PATH}/proxy/lifetime",
            "range",
            id="proxy-lifetime-0",
        ),
        pytest.param(
            f'<mobile-ip xmlns="{NAMESPACE}"><proxy><retransmit>'
            "<initial>4</initial><maximum>2</maximum></retransmit></proxy></mobile-ip>",
            f"{ROOT_PATH}/proxy/retransmit/maximum",
            "must not be lower than initial",
            id="retransmit-maximum-under-initial",
        ),
        pytest.param(
            f'<mobile-ip xmlns="{NAMESPACE}"><proxy/><subnet-map><prefix>10.0.0.0/8</prefix>'
            "</subnet-map></mobile-ip>",
            f"{ROOT_PATH}/subnet-map[prefix='10.0.0.0/8']",
            'Mandatory node "home-agent"',
            id="subnet-map-without-home-agent",
        ),
        pytest.param(
            f'<mobile-ip xmlns="{NAMESPACE}"><subnet-map><prefix>10.0.0.0/8x</prefix>'
            "<home-agent>192.0.2.1</home-agent></subnet-map></mobile-ip>",
            f"{ROOT_PATH}/subnet-map/prefix",
            "pattern",
            id="subnet-map-bad-prefix",
        ),
        pytest.param(
            XML_HOST.format(ns=NAMESPACE, spi=256, key=ASCII_KEY + "&"),
            f"{ROOT_PATH}/security/host[address='192.0.2.10'][spi='256']",
            "",
            id="syntax-error-inside-a-key",
        ),
        pytest.param(
            XML_HOST.format(ns=NAMESPACE, spi=256, key=ASCII_KEY + "<"),
            f"{ROOT_PATH}/security/host[address='192.0.2.10'][spi='256']",
            "",
            id="markup-inside-a-key",
        ),
    ],
)
def test_invalid_xml_names_path_and_rule(text: str, path: str, rule: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "xml")
    # A syntax error inside a key is placed at the entry or at the key leaf.
    assert caught.value.path in (path, f"{path}/key-ascii")
    assert rule in caught.value.detail
    assert_no_secret(caught.value)


JSON_HOST_START = (
    '{"proxy-mobile-ip:mobile-ip":{"security":{"host":[{"address":"192.0.2.10","spi":256,'
)


@pytest.mark.parametrize(
    "text",
    [
        # Unterminated string: the parser's message would quote the rest.
        JSON_HOST_START + f'"key-ascii":"{ASCII_KEY}}}]}}}}}}',
        # A bad escape inside the key.
        JSON_HOST_START + f'"key-ascii":"{ASCII_KEY}\\q"}}]}}}}}}',
        # Key as a number instead of a string.
        JSON_HOST_START + f'"key-hex":{HOST_KEY_HEX.replace(":", "")} }}]}}}}}}',
    ],
    ids=["unterminated", "bad-escape", "unquoted-key"],
)
def test_json_syntax_errors_never_quote_keys(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "json")
    assert caught.value.path.startswith(ROOT_PATH) or caught.value.path == "/"
    assert_no_secret(caught.value)


def test_unknown_format_and_suffix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown data format"):
        load_config_text("{}", "yaml")  # type: ignore[arg-type]
    path = tmp_path / "startup.yaml"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown file type"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.json")


# -- YANG directory -------------------------------------------------------------------


def test_yang_dir_is_next_to_the_package() -> None:
    assert (yang_dir() / "proxy-mobile-ip.yang").is_file()


def test_yang_dir_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_dir = tmp_path / "modules"
    shutil.copytree(yang_dir(), copy_dir)
    monkeypatch.setenv(YANG_DIR_ENV, str(copy_dir))
    assert yang_dir() == copy_dir
    assert load_config_text(demo_config_json(), "json").home_agent is not None

    monkeypatch.setenv(YANG_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError) as caught:
        load_config_text("{}", "json")
    assert caught.value.path == str(tmp_path / "nowhere")
    assert "proxy-mobile-ip" in caught.value.detail


# -- embedded default -------------------------------------------------------------------


def test_demo_config_loads() -> None:
    config = load_config_text(demo_config_json(), "json")
    assert config.home_agent is not None and config.foreign_agent is not None
    assert config.home_agent.listen == Endpoint(IPv4Address("127.0.0.2"), 43400)
    assert config.home_agent.settings.address == IPv4Address("127.0.0.2")
    assert config.foreign_agent.listen == Endpoint(IPv4Address("127.0.0.3"), 43401)
    assert config.foreign_agent.settings.home_agent_port == 43400
    assert config.foreign_agent.discovery is False

    hosts = config.host_associations
    for address in ("192.0.2.1", "192.0.2.128", "192.0.2.254"):
        sa = hosts.lookup(IPv4Address(address), DEMO_HOST_SPI)
        assert sa is not None and sa.algorithm is Algorithm.HMAC_MD5
        assert sa.key == bytes.fromhex(DEMO_HOST_KEY_HEX.replace(":", ""))
    assert not hosts.has(IPv4Address("192.0.2.255"))
    assert not hosts.has(IPv4Address("192.0.2.0"))

    peers = config.peer_associations
    for address in ("127.0.0.2", "127.0.0.3"):  # the HA's peer is the FA and back
        sa = peers.lookup(IPv4Address(address), DEMO_PEER_SPI)
        assert sa is not None and sa.key == bytes.fromhex(DEMO_PEER_KEY_HEX.replace(":", ""))


def test_demo_config_is_parameterisable() -> None:
    text = demo_config_json(
        ha_address="10.9.9.1", fa_address="10.9.9.2", ha_port=5000, fa_port=5001
    )
    config = load_config_text(text, "json")
    assert config.home_agent is not None and config.foreign_agent is not None
    assert config.home_agent.listen == Endpoint(IPv4Address("10.9.9.1"), 5000)
    assert config.foreign_agent.listen == Endpoint(IPv4Address("10.9.9.2"), 5001)
    assert config.foreign_agent.settings.home_agent_port == 5000
    assert config.peer_associations.has(IPv4Address("10.9.9.1"))
    assert config.peer_associations.has(IPv4Address("10.9.9.2"))


def test_demo_config_with_ephemeral_ports() -> None:
    """Port 0 binds anywhere; the relay port then stays at its default until the
    caller learns the home agent's real port."""
    config = load_config_text(demo_config_json(ha_port=0, fa_port=0), "json")
    assert config.home_agent is not None and config.foreign_agent is not None
    assert config.home_agent.listen.port == 0
    assert config.foreign_agent.listen.port == 0
    assert config.foreign_agent.settings.home_agent_port == 434


def test_demo_config_with_the_proxy_role() -> None:
    config = load_config_text(demo_config_json(proxy_address="127.0.0.4"), "json")
    assert config.proxy is not None
    assert config.proxy.listen == Endpoint(IPv4Address("127.0.0.4"), 43402)
    assert config.proxy.settings.foreign_agent == StaticForeignAgent(
        IPv4Address("127.0.0.3"), port=43401
    )
    assert config.proxy.discovery is False and config.proxy.settings.solicit is False
    assert subnet_rows(config.proxy.subnet_map) == [("192.0.2.0/24", "127.0.0.2")]
    # The clients' SA range serves the proxy as it serves the home agent.
    assert config.host_associations.preferred(IPv4Address("192.0.2.10")) is not None
    # With an ephemeral foreign agent port, the static port is left to the caller.
    ephemeral = load_config_text(demo_config_json(fa_port=0, proxy_address="127.0.0.4"), "json")
    assert ephemeral.proxy is not None and ephemeral.proxy.settings.foreign_agent is not None
    assert ephemeral.proxy.settings.foreign_agent.port == 434


def test_demo_config_has_no_proxy_unless_asked() -> None:
    assert load_config_text(demo_config_json(), "json").proxy is None


# -- the model agrees with the engine -------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> Any:
    context = libyang.Context(str(yang_dir()))
    context.load_module("proxy-mobile-ip")
    yield context
    context.destroy()  # type: ignore[no-untyped-call]


def child_names(context: Any, path: str) -> list[str]:
    node = next(context.find_path(path))
    return [child.name() for child in node.children()]


def kebab(dataclass_type: Any) -> list[str]:
    return [f.name.replace("_", "-") for f in fields(dataclass_type)]


def test_home_agent_counters_match_the_engine(schema: Any) -> None:
    leaves = child_names(schema, "/proxy-mobile-ip:mobile-ip/home-agent-state/counters")
    assert sorted(leaves) == sorted(kebab(HomeAgentCounters))


def test_foreign_agent_counters_match_the_engine(schema: Any) -> None:
    leaves = child_names(schema, "/proxy-mobile-ip:mobile-ip/foreign-agent-state/counters")
    assert leaves == kebab(ForeignAgentCounters)


def test_proxy_counters_match_the_engine(schema: Any) -> None:
    leaves = child_names(schema, "/proxy-mobile-ip:mobile-ip/proxy-state/counters")
    assert leaves == kebab(ProxyCounters)


def test_visitor_states_match_the_engine(schema: Any) -> None:
    leaf = next(schema.find_path("/proxy-mobile-ip:mobile-ip/proxy-state/visitor/state"))
    assert [e.name() for e in leaf.type().enums()] == [s.value for s in VisitorState]


def test_advertisement_flag_bits_follow_the_wire_order(schema: Any) -> None:
    """Bit position p of the YANG type is the flag 0x80 >> p of the octet."""
    leaf = next(schema.find_path("/proxy-mobile-ip:mobile-ip/proxy-state/foreign-agent/flags"))
    bits = {bit.name(): bit.position() for bit in leaf.type().bits()}
    names = {flag: str(flag.name).lower().replace("_", "-") for flag in AdvertisementFlag}
    names[AdvertisementFlag.RESERVED_R] = "reserved"
    assert bits == {names[flag]: 8 - int(flag).bit_length() for flag in AdvertisementFlag}


def test_violation_reasons_match_mip_mib(schema: Any) -> None:
    leaf = next(schema.find_path("/proxy-mobile-ip:mobile-ip/security-violations/violation/reason"))
    enums = {e.name(): e.value() for e in leaf.type().enums()}
    assert enums == {r.name.lower().replace("_", "-"): r.value for r in ViolationReason}


def test_settings_fields_are_all_configurable() -> None:
    """Every engine setting has a leaf: full_document() moves every leaf away from
    its default (bar the booleans a must rule pins), so a new settings field
    without a leaf shows up here as an unchanged default."""
    config = load_json(full_document())
    assert config.home_agent is not None and config.foreign_agent is not None
    assert config.proxy is not None
    cases: tuple[tuple[Any, Any, set[str]], ...] = (
        # reverse-tunnel-required true needs reverse-tunnel true (the default).
        (
            config.home_agent.settings,
            HomeAgentSettings(address=IPv4Address("0.0.0.1")),
            {"reverse_tunnel"},
        ),
        # reverse-tunnel false forces reverse-tunnel-required false (the default).
        (
            config.foreign_agent.settings,
            ForeignAgentSettings(address=IPv4Address("0.0.0.1")),
            {"reverse_tunnel_required"},
        ),
        (config.proxy.settings, ProxySettings(), set()),
    )
    for settings, defaults, pinned in cases:
        unchanged = {
            f.name
            for f in fields(settings)
            if f.name != "address" and getattr(settings, f.name) == getattr(defaults, f.name)
        }
        assert unchanged == pinned


def test_cisco_style_plain_hex_key_is_accepted() -> None:
    """Cisco IOS writes ``key hex 00112233...`` without colons; both forms load to
    the same key bytes."""
    text = demo_config_json()
    plain = text.replace(
        "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff", "00112233445566778899aabbccddeeff"
    )
    assert plain != text
    config = load_config_text(plain, "json")
    sa = config.host_associations.preferred(IPv4Address("192.0.2.10"))
    assert sa is not None and sa.key == bytes.fromhex("00112233445566778899aabbccddeeff")


def test_data_plane_absent_means_no_data_plane() -> None:
    assert load_json({TOP: {"home-agent": {"address": "192.0.2.1"}}}).data_plane is None


def test_data_plane_yang_defaults_are_the_record_defaults() -> None:
    """An empty presence container (RFC 7950 §7.5.1) turns the data plane on
    with exactly the record's defaults (YANG and dataclass cannot drift)."""
    from agent.config.model import DataPlaneConfig

    config = load_json({TOP: {"home-agent": {"address": "192.0.2.1"}, "data-plane": {}}})
    assert config.data_plane == DataPlaneConfig()


def test_data_plane_settings_load() -> None:
    from agent.config.model import DataPlaneConfig

    config = load_json({TOP: {"foreign-agent": {"address": "198.51.100.6"}, "data-plane": {
        "tunnel-backend": "userspace", "tunnel-source": "198.51.100.6",
        "access-interface": "acc0", "gratuitous-arp": False,
        "reverse-table-base": 200, "reverse-rule-priority": 900}}})
    assert config.data_plane == DataPlaneConfig(
        backend="userspace", tunnel_source=IPv4Address("198.51.100.6"), access_interface="acc0",
        gratuitous_arp=False, reverse_table_base=200, reverse_rule_priority=900)


@pytest.mark.parametrize("bad", [
    {"tunnel-backend": "gre"},
    {"reverse-table-base": 254},  # the main table: Linux reserves 253-255
    {"reverse-rule-priority": 32766},  # the main table's rule
    {"home-interface": "a-name-longer-than-ifnamsiz"},
])
def test_data_plane_bad_values_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_json({TOP: {"home-agent": {"address": "192.0.2.1"}, "data-plane": bad}})
    assert "data-plane" in str(caught.value)


def test_at_most_62_care_of_addresses() -> None:
    """RFC 5944 §2.1.1: the extension's Length octet is 6 + 4 * N, so N <= 62;
    a 63rd care-of address is refused when the configuration is loaded, not at
    the first advertisement."""
    addresses = [str(IPv4Address("198.51.100.0") + i) for i in range(1, 64)]
    load_json({TOP: {"foreign-agent": {"address": "198.51.100.1",
                                       "care-of-address": addresses[:62]}}})
    with pytest.raises(ConfigError) as caught:
        load_json({TOP: {"foreign-agent": {"address": "198.51.100.1",
                                           "care-of-address": addresses}}})
    assert "care-of-address" in str(caught.value)
