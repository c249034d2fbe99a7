"""The embedded-default demonstration: a home agent and a foreign agent on
loopback, and a few sample mobile nodes that register through the foreign agent,
re-register before their lifetime ends and deregister on exit, while the live
counters are printed.

The sample nodes are a minimal RFC 5944 §3.6 mobile node on a UDP socket; the
proxy (access point) role that registers real clients is a separate engine.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, replace
from ipaddress import IPv4Address
from typing import TextIO

from agent.config.default import demo_config_json
from agent.config.loader import load_config_text
from agent.mobileip import replay
from agent.mobileip.builder import build_request, check_reply
from agent.mobileip.errors import DecodeError
from agent.mobileip.registration import decode_reply
from agent.mobileip.security import SecurityAssociation
from agent.runtime import Agent


@dataclass
class SampleNode:
    home_address: IPv4Address
    sa: SecurityAssociation
    identification: int = 0
    state: str = "idle"
    code: int | None = None
    lifetime: int = 0


class SampleNodes(asyncio.DatagramProtocol):
    def __init__(self, nodes: list[SampleNode], *, home_agent: IPv4Address, care_of: IPv4Address,
                 foreign_agent: tuple[str, int], lifetime: int) -> None:
        self.nodes = {n.home_address: n for n in nodes}
        self.home_agent = home_agent
        self.care_of = care_of
        self.foreign_agent = foreign_agent
        self.lifetime = lifetime
        self.transport: asyncio.DatagramTransport | None = None
        self.rng = random.Random()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def register(self, node: SampleNode, lifetime: int) -> None:
        assert self.transport is not None
        node.identification = replay.ntp_identification(time.time(), self.rng.getrandbits(16))
        node.state = "pending" if lifetime else "deregistering"
        data = build_request(
            home_address=node.home_address, home_agent=self.home_agent,
            care_of_address=self.care_of, identification=node.identification,
            lifetime=lifetime, sa=node.sa,
        )
        self.transport.sendto(data, self.foreign_agent)

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        try:
            reply = decode_reply(data)
        except DecodeError:
            return
        node = self.nodes.get(reply.home_address)
        if node is None or not check_reply(reply, sent_identification=node.identification, sa=node.sa).ok:
            return
        node.code = reply.code
        node.lifetime = reply.lifetime
        if reply.accepted:
            node.state = "registered" if reply.lifetime else "deregistered"
        else:
            node.state = "denied"


def _print_status(agent: Agent, nodes: SampleNodes, out: TextIO) -> None:
    counters = agent.counters()
    ha, fa = counters.get("home-agent", {}), counters.get("foreign-agent", {})
    states = {}
    for node in nodes.nodes.values():
        states[node.state] = states.get(node.state, 0) + 1
    print(
        f"[{time.strftime('%H:%M:%S')}] HA bindings={ha.get('bindings')} "
        f"accepted={ha.get('registration_accepted')} requests={ha.get('reg_requests_received')} "
        f"denied={sum(v for k, v in ha.items() if k.endswith(('failure', 'mismatch', 'request')) )} | "
        f"FA visitors={fa.get('visitors')} relayed={fa.get('reg_requests_relayed')}/"
        f"{fa.get('reg_replies_relayed')} | nodes {json.dumps(states, sort_keys=True)}",
        file=out,
        flush=True,
    )


async def run_demo(*, clients: int = 3, duration: float | None = None, lifetime: int = 30,
                   interval: float = 1.0, out: TextIO = sys.stdout) -> dict[str, dict[str, int]]:
    config = load_config_text(demo_config_json(ha_port=0, fa_port=0), "json")
    agent = Agent(config)
    await agent.start()
    endpoints = agent.endpoints()
    assert config.home_agent is not None and config.foreign_agent is not None
    ha_settings = config.home_agent.settings
    # The FA must know where the HA listens: with ephemeral ports, tell it now.
    assert agent.foreign_agent is not None
    agent.foreign_agent.settings = replace(
        agent.foreign_agent.settings, home_agent_port=endpoints["home-agent"][1]
    )
    print(f"home agent {ha_settings.address} listening on {endpoints['home-agent']}", file=out)
    print(f"foreign agent listening on {endpoints['foreign-agent']}", file=out)
    loop = asyncio.get_running_loop()
    nodes = []
    for i in range(clients):
        home = IPv4Address("192.0.2.10") + i
        sa = config.host_associations.preferred(home)
        assert sa is not None
        nodes.append(SampleNode(home, sa))
    driver = SampleNodes(
        nodes, home_agent=ha_settings.address,
        care_of=config.foreign_agent.settings.offered_care_of_addresses[0],
        foreign_agent=endpoints["foreign-agent"], lifetime=lifetime,
    )
    transport, _ = await loop.create_datagram_endpoint(lambda: driver, local_addr=("127.0.0.1", 0))
    started = time.monotonic()
    next_registration = 0.0
    try:
        while duration is None or time.monotonic() - started < duration:
            now = time.monotonic() - started
            if now >= next_registration:
                for node in nodes:
                    driver.register(node, lifetime)
                next_registration = now + lifetime * 0.8  # re-register before expiry
            await asyncio.sleep(interval)
            _print_status(agent, driver, out)
    finally:
        for node in nodes:
            driver.register(node, 0)
        await asyncio.sleep(0.2)
        _print_status(agent, driver, out)
        final = agent.counters()
        transport.close()
        await agent.close()
    return final
