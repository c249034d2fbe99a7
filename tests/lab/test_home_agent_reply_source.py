"""A home agent bound to the wildcard address answers from the address the
request was sent to (RFC 5944 §3.8.3.1), not from whatever address the route
to the requester prefers: a foreign agent takes a reply only from the address
it relayed the request to (§3.7.3.1, issue 13 item 5). In a network namespace
of its own: the home agent's address 10.1.1.1/32 on lo beside 127.0.0.1, the
requester at 127.0.0.2, so the kernel's own choice would be 127.0.0.1. Root
only (tests/conftest.py require_root)."""

from __future__ import annotations

import json
import sys

from conftest import require_root

SCRIPT = r'''
import asyncio, json, random, socket, time
from ipaddress import IPv4Address
from agent.aio.engine_runner import EngineRunner
from agent.mobileip.builder import build_request
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.registration import decode_reply
from agent.mobileip.replay import ntp_identification
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable

async def main():
    sa = SecurityAssociation(spi=256, key=bytes(range(16)))
    nodes = SecurityAssociationTable()
    nodes.add(IPv4Address("10.1.1.50"), sa)
    home_agent = HomeAgent(HomeAgentSettings(IPv4Address("10.1.1.1")), mobile_nodes=nodes,
                           rng=random.Random(1))
    runner = EngineRunner.open(home_agent, name="home-agent", address="0.0.0.0", port=0)
    port = runner.local_address[1]
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as requester:
        requester.bind(("127.0.0.2", 0))
        requester.setblocking(False)
        for destination in ("10.1.1.1", "127.0.0.1"):
            request = build_request(home_address=IPv4Address("10.1.1.50"),
                                    home_agent=IPv4Address("10.1.1.1"),
                                    care_of_address=IPv4Address("127.0.0.2"),
                                    identification=ntp_identification(time.time(), 1), lifetime=60,
                                    sa=sa)
            requester.sendto(request, (destination, port))
            data, (source, _) = await asyncio.wait_for(loop.sock_recvfrom(requester, 2048), 5)
            print(json.dumps({"to": destination, "from": source, "code": decode_reply(data).code}))
            await asyncio.sleep(0.01)
    runner.close()

asyncio.run(main())
'''


def test_a_wildcard_bound_home_agent_answers_from_its_address() -> None:
    require_root()
    from tools.lab.netns import Namespaces

    with Namespaces() as ns:
        ns.create("ha")
        ns.up("ha", "lo")
        ns.address("ha", "lo", "10.1.1.1/32")
        lines = ns.check("ha", [sys.executable, "-c", SCRIPT], timeout=30).splitlines()
    # Sent to its address: from it. Sent to another local address (as to a
    # broadcast one, §3.8.3.1): from its unicast address too.
    assert [json.loads(line) for line in lines] == [
        {"to": "10.1.1.1", "from": "10.1.1.1", "code": 0},
        {"to": "127.0.0.1", "from": "10.1.1.1", "code": 0},
    ]
