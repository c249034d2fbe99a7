#!/usr/bin/env python3
"""Home agent registrations/s when the mobile nodes' SAs live on RADIUS
(Cisco ``aaa authorization ipmobile``), against FreeRADIUS on loopback.

FreeRADIUS is started as in tools/bench/radius_lookup.py (its own raddb under a
temp dir, a users file with one ``mobileip:spi#0=`` SA per node). The home
agent engine (agent/mobileip/home_agent.py, sans-IO) is fed pre-built
Registration Requests directly (no UDP on the mobile node side: the figure is
the HA's work plus the RADIUS exchanges through agent/radius/client.py). In one
run, with N distinct nodes:

1. cold: every node registers once; each request waits for its lookup (at most
   ``--outstanding`` Access-Requests in flight) and is answered when the
   Access-Accept comes;
2. cached: every node registers again (new Identification), its SAs from the
   resolver's cache;
3. reference: the same N registrations, twice, at a home agent whose SAs are
   local (the configuration's host SAs): the first round creates bindings (the
   reference for cold), the second refreshes them (the reference for cached).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import sys
import tempfile
import time
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.mobileip import replay  # noqa: E402
from agent.mobileip.builder import build_request  # noqa: E402
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings  # noqa: E402
from agent.mobileip.numbers import ReplyCode  # noqa: E402
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable  # noqa: E402
from agent.radius.client import RadiusClient, RadiusClientSettings, RadiusServer  # noqa: E402
from agent.radius.resolver import (  # noqa: E402
    Outcome,
    ResolverSettings,
    SecurityAssociationResolver,
)
from tests.interop.test_radius_freeradius import (  # noqa: E402
    LOOPBACK,
    PASSWORD,
    SECRET,
    FreeRadius,
    users_file,
)

HOME_AGENT = IPv4Address("10.64.255.254")
CARE_OF = IPv4Address("192.0.2.10")
FIRST_NODE = IPv4Address("10.64.0.0")


def nodes(count: int) -> list[tuple[IPv4Address, SecurityAssociation]]:
    # Cisco writes the SPI in hex (radius_lookup.py's users file has the same shape).
    return [(FIRST_NODE + n, SecurityAssociation(spi=0x100 + n % 0xFFFF, key=n.to_bytes(16, "big")))
            for n in range(count)]


def users(population: list[tuple[IPv4Address, SecurityAssociation]]) -> dict[str, list[str]]:
    return {str(address): [f"mobileip:spi#0=spi {sa.spi:x} key hex {sa.key.hex()}"]
            for address, sa in population}


def requests(population: list[tuple[IPv4Address, SecurityAssociation]], now: float) -> list[bytes]:
    return [build_request(home_address=address, home_agent=HOME_AGENT, care_of_address=CARE_OF,
                          identification=replay.ntp_identification(now, n), lifetime=600, sa=sa)
            for n, (address, sa) in enumerate(population)]


def accepted(agent: HomeAgent) -> int:
    return sum(1 for t in agent.datagrams_to_send() if t.data[1] == ReplyCode.ACCEPTED)


async def cold(server: RadiusServer, population: list[tuple[IPv4Address, SecurityAssociation]],
               outstanding: int) -> dict[str, Any]:
    resolver = SecurityAssociationResolver(ResolverSettings(max_outstanding=outstanding))
    agent = HomeAgent(HomeAgentSettings(address=HOME_AGENT, max_bindings=len(population) + 10),
                      mobile_nodes=SecurityAssociationTable(), sa_resolver=resolver,
                      sa_wait=60.0, max_waiting=len(population))
    client = await RadiusClient.open(RadiusClientSettings(
        servers=(server,), user_password=PASSWORD, timeout=3.0, retries=2))
    done = asyncio.Event()
    replied = 0
    total = len(population)

    def pump() -> None:
        for address in agent.sa_requests_to_send():
            client.submit(address, answered)

    def answered(address: IPv4Address, outcome: Outcome) -> None:
        nonlocal replied
        agent.sa_answer(address, outcome, time.time())
        replied += accepted(agent)
        if replied >= total:
            done.set()
        pump()

    data = requests(population, time.time())
    started = time.perf_counter()
    for datagram in data:
        agent.receive_datagram(datagram, CARE_OF, 434, time.time())
    pump()
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - started
    client.close()
    # Cached: every node again, new Identification (timestamps move on).
    again = requests(population, time.time() + 1)
    started = time.perf_counter()
    for datagram in again:
        agent.receive_datagram(datagram, CARE_OF, 434, time.time() + 1)
    cached_elapsed = time.perf_counter() - started
    cached_ok = accepted(agent)
    return {
        "cold_seconds": elapsed, "cold_per_s": total / elapsed, "cold_accepted": replied,
        "cached_seconds": cached_elapsed, "cached_per_s": total / cached_elapsed,
        "cached_accepted": cached_ok, "resolver": resolver.counters.as_dict(),
        "waiting": agent.radius_wait_counters.as_dict(),
    }


def local(population: list[tuple[IPv4Address, SecurityAssociation]]) -> dict[str, Any]:
    table = SecurityAssociationTable()
    for address, sa in population:
        table.add(address, sa)
    agent = HomeAgent(HomeAgentSettings(address=HOME_AGENT, max_bindings=len(population) + 10),
                      mobile_nodes=table)
    out: dict[str, Any] = {}
    for phase, offset in (("create", 0.0), ("refresh", 1.0)):
        data = requests(population, time.time() + offset)
        started = time.perf_counter()
        for datagram in data:
            agent.receive_datagram(datagram, CARE_OF, 434, time.time() + offset)
        elapsed = time.perf_counter() - started
        out[phase] = {"per_s": len(population) / elapsed, "accepted": accepted(agent)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--outstanding", type=int, default=64)
    args = parser.parse_args()
    population = nodes(args.nodes)
    with tempfile.TemporaryDirectory(prefix="ha-radius-bench-") as name:
        server_process = FreeRadius(shutil.which("freeradius") or "freeradius", Path(name),
                                    users_file(users(population)))
        server_process.start()
        try:
            server = RadiusServer(IPv4Address(LOOPBACK), SECRET, server_process.port)
            radius = asyncio.run(cold(server, population, args.outstanding))
        finally:
            server_process.stop()
    reference = local(population)
    report = {
        "benchmark": "home_agent_radius_registrations",
        "nodes": args.nodes,
        "outstanding": args.outstanding,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cold": {"registrations_per_s": round(radius["cold_per_s"]),
                 "seconds": round(radius["cold_seconds"], 3),
                 "accepted": radius["cold_accepted"],
                 "ratio_to_local_sas": round(radius["cold_per_s"] / reference["create"]["per_s"], 3)},
        "cached": {"registrations_per_s": round(radius["cached_per_s"]),
                   "accepted": radius["cached_accepted"],
                   "ratio_to_local_sas": round(radius["cached_per_s"] / reference["refresh"]["per_s"], 3)},
        "reference_local_sas": {
            "create_per_s": round(reference["create"]["per_s"]),
            "refresh_per_s": round(reference["refresh"]["per_s"]),
            "accepted": [reference["create"]["accepted"], reference["refresh"]["accepted"]]},
        "resolver_counters": radius["resolver"],
        "waiting_counters": radius["waiting"],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
