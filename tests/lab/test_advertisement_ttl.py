"""Agent Advertisements through the real raw ICMP socket (agent.aio.icmp and
EngineRunner), in a network namespace of its own with only its loopback: one
advertisement sent with IP TTL 1 is heard, the same sent with TTL 64 is
dropped and counted (RFC 5944 §2.1: "The TTL for all Agent Advertisements
MUST be set to 1"; issue 13 item 6d). The TTL comes from the IP header the
raw socket receives. Root only (tests/conftest.py require_root)."""

from __future__ import annotations

import json
import sys

from conftest import require_root

SCRIPT = r'''
import asyncio, json, random, socket
from ipaddress import IPv4Address, IPv4Network
from agent.aio.engine_runner import EngineRunner
from agent.mobileip.advertisement import AgentAdvertisement
from agent.mobileip.numbers import AdvertisementFlag
from agent.mobileip.proxy import ProxyAgent, ProxySettings
from agent.mobileip.security import SecurityAssociationTable
from agent.mobileip.subnet_map import SubnetMap

async def main():
    proxy = ProxyAgent(ProxySettings(solicit=False), subnet_map=SubnetMap(),
                       host_associations=SecurityAssociationTable(), rng=random.Random(1))
    runner = EngineRunner.open(proxy, name="proxy", address="127.0.0.1", port=0, discovery=True)
    advertisement = AgentAdvertisement(
        sequence=0, registration_lifetime=600,
        flags=AdvertisementFlag.FOREIGN_AGENT | AdvertisementFlag.REGISTRATION_REQUIRED,
        care_of_addresses=(IPv4Address("127.0.0.9"),), advertisement_lifetime=1800).encode()
    for ttl, source in ((64, "127.0.0.7"), (1, "127.0.0.8")):
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sender:
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            sender.bind((source, 0))
            sender.sendto(advertisement, ("127.0.0.1", 0))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if proxy.counters.advertisements_received + proxy.counters.advertisements_dropped >= 2:
            break
    print(json.dumps({
        "heard": [str(h.address) for h in proxy.foreign_agents()],
        "received": proxy.counters.advertisements_received,
        "dropped": proxy.counters.advertisements_dropped,
    }))
    runner.close()

asyncio.run(main())
'''


def test_an_advertisement_with_ttl_64_is_dropped_and_one_with_ttl_1_heard(tmp_path: object) -> None:
    require_root()
    from tools.lab.netns import Namespaces

    with Namespaces() as ns:
        ns.create("ap")
        ns.up("ap", "lo")
        result = json.loads(ns.check("ap", [sys.executable, "-c", SCRIPT], timeout=30))
    assert result == {"heard": ["127.0.0.8"], "received": 1, "dropped": 1}
