"""The embedded default configuration: a loopback demonstration in which one agent
plays both the home agent and the foreign agent on two loopback addresses, and
optionally the proxy (access point) role on a third.

The keys are fixed, published demo keys: this configuration is for trying the agent
out on one machine, never for a network.
"""

from __future__ import annotations

import json
from typing import Any

#: Mobile nodes 192.0.2.1-192.0.2.254 (RFC 5737 TEST-NET-1) share one SA, SPI 256.
DEMO_HOME_NETWORK = "192.0.2.0/24"
DEMO_HOST_FIRST = "192.0.2.1"
DEMO_HOST_LAST = "192.0.2.254"
DEMO_HOST_SPI = 256
DEMO_HOST_KEY_HEX = "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"
#: The FA-HA association, configured once for each direction.
DEMO_PEER_SPI = 257
DEMO_PEER_KEY_HEX = "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0"


def demo_config_json(
    ha_address: str = "127.0.0.2",
    fa_address: str = "127.0.0.3",
    ha_port: int = 43400,
    fa_port: int = 43401,
    *,
    proxy_address: str | None = None,
    proxy_port: int = 43402,
) -> str:
    """RFC 7951 JSON of the demo: a home agent and a foreign agent on loopback
    (unprivileged ports; agent discovery off, since it needs a raw socket), a host
    SA range for the home network, and the FA-HA peer SA seen from both sides.

    The foreign agent relays to ``ha_port``; with ``ha_port=0`` (an ephemeral port,
    known only once bound) ``home-agent-port`` is left at its default and the caller
    sets ``ForeignAgentSettings.home_agent_port`` after binding.

    With ``proxy_address``, the proxy role joins in: it listens there, registers
    through the foreign agent (configured statically: no discovery), and its subnet
    map sends the home network to the home agent; the host SA range serves it too.
    The same rule holds for ``fa_port=0``: the static foreign agent's port is left
    at its default for the caller to set."""

    def peer(address: str) -> dict[str, object]:
        return {
            "address": address,
            "spi": DEMO_PEER_SPI,
            "key-hex": DEMO_PEER_KEY_HEX,
            "algorithm": "hmac-md5",
        }

    document: dict[str, dict[str, Any]] = {
        "proxy-mobile-ip:mobile-ip": {
            "home-agent": {
                "address": ha_address,
                "home-network": DEMO_HOME_NETWORK,
                "listen": {"address": ha_address, "port": ha_port},
            },
            "foreign-agent": {
                "address": fa_address,
                "listen": {"address": fa_address, "port": fa_port},
                # No raw socket, so no discovery; interval 0 also stops the engine
                # from producing unsolicited advertisements nobody would send.
                "advertisement": {"enabled": False, "interval": "0"},
            },
            "security": {
                "host": [
                    {
                        "address": DEMO_HOST_FIRST,
                        "last-address": DEMO_HOST_LAST,
                        "spi": DEMO_HOST_SPI,
                        "key-hex": DEMO_HOST_KEY_HEX,
                        "algorithm": "hmac-md5",
                    }
                ],
                # The home agent's SA with the foreign agent, and the foreign
                # agent's with the home agent: one table serves both roles.
                "peer": [peer(a) for a in dict.fromkeys((fa_address, ha_address))],
            },
        }
    }
    if ha_port != 0:
        document["proxy-mobile-ip:mobile-ip"]["foreign-agent"]["home-agent-port"] = ha_port
    if proxy_address is not None:
        foreign_agent: dict[str, Any] = {"address": fa_address}
        if fa_port != 0:
            foreign_agent["port"] = fa_port
        document["proxy-mobile-ip:mobile-ip"]["proxy"] = {
            "listen": {"address": proxy_address, "port": proxy_port},
            "foreign-agent": foreign_agent,
            "discovery": {"enabled": False},
        }
        document["proxy-mobile-ip:mobile-ip"]["subnet-map"] = [
            {"prefix": DEMO_HOME_NETWORK, "home-agent": ha_address}
        ]
    return json.dumps(document, indent=2)


__all__ = [
    "DEMO_HOST_KEY_HEX",
    "DEMO_HOST_SPI",
    "DEMO_PEER_KEY_HEX",
    "DEMO_PEER_SPI",
    "demo_config_json",
]
