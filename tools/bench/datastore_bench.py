#!/usr/bin/env python3
"""Datastore transactions and reads, each beside a reference measured in the same
run (this machine is noisy: ratios travel, absolute times do not).

1. commit of N host SAs in one transaction (running, with the live engine
   subscriber bound) — reference: libyang alone parsing and validating the same
   document (the floor any YANG-validating datastore pays);
2. commit of one small change (one subnet-map entry) with 10,000 and with
   100,000 entries present — reference: a full libyang validation of the
   configuration with that many entries (what a non-incremental datastore pays);
3. read of the operational state with 100,000 HA bindings (provider read at
   request time, as JSON text: bindings and the per-node counters) — reference:
   json.dumps alone of the same content (serialisation without the engine walk);
4. configuration change to first registration on the wire: a proxy has a
   waiting visitor; a subnet-map entry is created through the datastore; time
   until the foreign agent's socket receives the Registration Request (p50/p99)
   — reference: a bare UDP send/receive on the same sockets.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.config.loader import build_config  # noqa: E402
from agent.schema.context import TOP_MEMBER  # noqa: E402
from agent.schema.validator import Validator  # noqa: E402
from agent.datastore.edits import Edit, Operation  # noqa: E402
from agent.datastore.paths import parse_path  # noqa: E402
from agent.datastore.store import RUNNING, Datastore  # noqa: E402
from agent.datastore.tree import to_json  # noqa: E402
from agent.live_config import bind  # noqa: E402
from agent.mobileip import replay  # noqa: E402
from agent.mobileip.builder import build_request  # noqa: E402
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings  # noqa: E402
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable  # noqa: E402
from agent.operational import home_agent_state  # noqa: E402
from agent.runtime import Agent  # noqa: E402

KEY = "00112233445566778899aabbccddeeff"


def timed(fn, repeat: int = 1) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def hosts(n: int) -> list[dict]:
    base = int(IPv4Address("10.0.0.0"))
    return [{"address": str(IPv4Address(base + i)), "spi": 256, "key-hex": KEY} for i in range(n)]


def subnet_map(n: int) -> list[dict]:
    base = int(IPv4Address("10.0.0.0"))
    return [{"prefix": f"{IPv4Address(base + (i << 8))}/24", "home-agent": "198.51.100.1"} for i in range(n)]


def bench_sa_commit(n: int) -> dict:
    ds = Datastore()
    config = build_config({})
    agent = Agent(config, datastore=ds)
    bind(agent, config, ds)
    edit = Edit(Operation.MERGE, parse_path("/mobile-ip/security"), {"host": hosts(n)})
    commit = timed(lambda: ds.edit(RUNNING, [edit]))[0]
    validator = Validator()
    text = json.dumps({TOP_MEMBER: {"security": {"host": hosts(n)}}})
    floor = min(timed(lambda: validator.validate(text, "json"), 3))
    validator.close()
    ds.close()
    installed = len(config.host_associations)
    return {"entries": n, "commit_s": round(commit, 3), "libyang_validate_s": round(floor, 3),
            "ratio_to_libyang": round(commit / floor, 2), "engine_sas_installed": installed}


def bench_small_change(present: int) -> dict:
    ds = Datastore()
    ds.edit(RUNNING, [Edit(Operation.MERGE, parse_path("/mobile-ip"), {"subnet-map": subnet_map(present)})])
    samples = []
    for i in range(30):
        prefix = f"172.16.{i}.0/24"
        path = parse_path(f"/mobile-ip/subnet-map[prefix='{prefix}']")
        samples += timed(lambda: ds.edit(RUNNING, [Edit(Operation.CREATE, path, {"home-agent": "198.51.100.2"})]))
    validator = Validator()
    text = json.dumps(ds.get_config(RUNNING))
    full = min(timed(lambda: validator.validate(text, "json"), 3))
    validator.close()
    ds.close()
    median = statistics.median(samples)
    return {"entries_present": present, "small_commit_p50_ms": round(median * 1e3, 2),
            "small_commit_max_ms": round(max(samples) * 1e3, 2),
            "full_validation_ms": round(full * 1e3, 1), "ratio_to_full_validation": round(median / full, 4)}


def bench_operational(bindings: int) -> dict:
    sa = SecurityAssociation(256, bytes.fromhex(KEY))
    table = SecurityAssociationTable()
    table.add_range(IPv4Address("198.18.0.0"), IPv4Address("198.19.255.255"), sa)
    ha = HomeAgent(HomeAgentSettings(IPv4Address("198.51.100.1")), mobile_nodes=table)
    now = time.time()
    for i in range(bindings):
        ident = replay.ntp_identification(now, i & 0xFFFF)
        ha.receive_datagram(build_request(home_address=IPv4Address("198.18.0.0") + i,
                                          home_agent=IPv4Address("198.51.100.1"),
                                          care_of_address=IPv4Address("203.0.113.1"),
                                          identification=ident, lifetime=3600, sa=sa),
                            IPv4Address("203.0.113.1"), 434, now)
        ha.datagrams_to_send()
        while ha.next_event():
            pass
    ds = Datastore()
    ds.register_provider(lambda: {"home-agent-state": home_agent_state(ha, time.time())})
    read = min(timed(lambda: json.dumps(ds.get_operational()), 3))
    content = ds.get_operational()
    reference = min(timed(lambda: json.dumps(content), 3))
    ds.close()
    return {"bindings": ha.binding_count, "get_operational_s": round(read, 3),
            "json_dumps_same_content_s": round(reference, 3), "ratio_to_json": round(read / reference, 2)}


async def bench_change_to_wire(rounds: int = 40) -> dict:
    fa = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fa.bind(("127.0.0.3", 0))
    fa.setblocking(False)
    fa_port = fa.getsockname()[1]
    ds = Datastore()
    ds.edit(RUNNING, [Edit(Operation.MERGE, parse_path("/mobile-ip"), {
        "proxy": {"listen": {"address": "127.0.0.4", "port": 0},
                  "foreign-agent": {"address": "127.0.0.3", "port": fa_port},
                  "discovery": {"enabled": False}, "lifetime": 600},
        "security": {"host": [{"address": "192.0.2.1", "last-address": "192.0.2.254", "spi": 256,
                               "key-hex": KEY}]}})])
    config = build_config(to_json(ds.snapshot(RUNNING).effective))
    agent = Agent(config, datastore=ds)
    await agent.start()
    bind(agent, config, ds)
    loop = asyncio.get_running_loop()
    samples, reference = [], []
    path = parse_path("/mobile-ip/subnet-map[prefix='192.0.2.0/24']")
    for i in range(rounds):
        agent.client_event_associate = None
        from agent.access.events import ClientAssociated

        mac = f"02:00:00:00:01:{i:02x}"
        agent.client_event(ClientAssociated(mac, None, IPv4Address("192.0.2.10") + i))
        await asyncio.sleep(0)
        start = time.perf_counter()
        ds.edit(RUNNING, [Edit(Operation.CREATE, path, {"home-agent": "198.51.100.1"})])
        data = await loop.sock_recv(fa, 2048)
        samples.append(time.perf_counter() - start)
        assert data[0] == 1
        ds.edit(RUNNING, [Edit(Operation.DELETE, path)])
        agent.client_event(__import__("agent.access.events", fromlist=["x"]).ClientDisassociated(mac))
        while True:  # drain deregistrations
            try:
                fa.recv(2048)
            except BlockingIOError:
                break
        # reference: one bare datagram over the same loopback sockets
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        start = time.perf_counter()
        sender.sendto(b"x" * 64, ("127.0.0.3", fa_port))
        await loop.sock_recv(fa, 2048)
        reference.append(time.perf_counter() - start)
        sender.close()
    await agent.close(deregister=False)
    ds.close()
    fa.close()
    p50, ref = statistics.median(samples), statistics.median(reference)
    ordered = sorted(samples)
    return {"rounds": rounds, "change_to_wire_p50_ms": round(p50 * 1e3, 3),
            "change_to_wire_p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1e3, 3),
            "bare_udp_p50_ms": round(ref * 1e3, 3), "ratio_to_bare_udp": round(p50 / ref, 1)}


def main() -> None:
    result = {
        "sa_commit": bench_sa_commit(10_000),
        "small_change_10k": bench_small_change(10_000),
        "small_change_100k": bench_small_change(100_000),
        "operational_read": bench_operational(100_000),
        "change_to_wire": asyncio.run(bench_change_to_wire()),
        "machine": f"{os.cpu_count()} cpu, Python {sys.version.split()[0]}",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
