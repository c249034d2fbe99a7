#!/usr/bin/env python3
"""Visiting clients associating through AP -> FA -> HA on loopback.

Uses the loopback lab (agent/lab.py): HA, FA-A, FA-B, AP-A, AP-B as separate
``proxymip run`` processes; only AP-A / FA-A / HA carry load. Clients are
injected into AP-A through its control socket in batches ("associate-many").

Measures, in one run:
1. flood: N clients associate as fast as they can be injected; registrations/s
   until all N are registered (the AP keeps at most max-outstanding in flight,
   RFC 5944 §3.6.3 retransmission on top), association-to-registered p50/p99
   (from the AP's own associated-at / registered-at times);
2. paced: M more clients at a fixed offered rate below the flood rate, with the
   same latency figures — the latency an operator sees below saturation;
3. steady state: with a short lifetime, the re-registration rate and the CPU
   each process spends on it;
4. RSS per visitor in the AP;
5. subnet-map longest-prefix-match lookups/s with 100,000 random prefixes,
   beside a plain dict lookup of the same packed keys in the same run.
The reference for (1) is the same generator's bare asyncio UDP echo ceiling
(registration_load.py measures it; here the ratio to the FA->HA-only rate of
registration_load.py is printed when given with --fa-ha-rate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from datetime import datetime
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.lab import LoopbackLab, client_address, client_mac  # noqa: E402
from agent.mobileip.subnet_map import SubnetMap  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def waited(row: dict) -> float | None:
    if row.get("state") != "registered" or "registered-at" not in row or "associated-at" not in row:
        return None
    return _seconds(row["registered-at"]) - _seconds(row["associated-at"])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def lookup_benchmark(prefixes: int = 100_000, lookups: int = 1_000_000) -> dict[str, float]:
    rng = random.Random(7)
    subnet_map = SubnetMap()
    seen: set[IPv4Network] = set()
    while len(seen) < prefixes:
        length = rng.randint(8, 30)
        net = IPv4Network((rng.getrandbits(32) >> (32 - length) << (32 - length), length))
        if net not in seen:
            seen.add(net)
            subnet_map.add(net, IPv4Address("198.51.100.1"))
    addresses = [IPv4Address(rng.getrandbits(32)) for _ in range(lookups)]
    packed = [int(a) for a in addresses]
    lookup, lookup_int = subnet_map.lookup, subnet_map.lookup_int
    hits = 0
    start = time.perf_counter()
    for a in addresses:
        if lookup(a) is not None:
            hits += 1
    by_address = lookups / (time.perf_counter() - start)
    start = time.perf_counter()
    for p in packed:
        lookup_int(p)
    lpm = lookups / (time.perf_counter() - start)
    table = {p: 1 for p in packed[:prefixes]}
    get = table.get
    start = time.perf_counter()
    for p in packed:
        get(p)
    plain = lookups / (time.perf_counter() - start)
    return {"prefixes": prefixes, "prefix_lengths": "8-30 uniform", "lookups_per_s": round(lpm),
            "lookups_per_s_from_ipv4address": round(by_address), "hit_ratio": round(hits / lookups, 3),
            "dict_lookups_per_s": round(plain), "ratio_to_dict": round(lpm / plain, 3)}


async def inject(lab: LoopbackLab, indices: range, batch: int, rate: float | None) -> float:
    """Associate clients ``indices`` at AP-A; ``rate`` clients/s or as fast as possible."""
    start = time.perf_counter()
    for offset in range(0, len(indices), batch):
        chunk = indices[offset: offset + batch]
        await lab.control("ap-a", {"op": "associate-many", "clients": [
            {"mac": client_mac(i), "address": str(client_address(lab.clients, i)), "interface": "wlan0"}
            for i in chunk]})
        if rate is not None:
            due = start + (offset + len(chunk)) / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
    return start


async def registered_latencies(lab: LoopbackLab, expected: int, timeout: float) -> tuple[list[float], float]:
    deadline = time.monotonic() + timeout
    while True:
        state = (await lab.state("ap-a", rows=False))["proxy"]
        if state["registered-count"] >= expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    done = time.perf_counter()
    rows = (await lab.state("ap-a"))["proxy"]["visitor"]
    latencies = [w for w in map(waited, rows) if w is not None]
    return latencies, done


async def run(clients: int, paced: int, rate: float, lifetime: int, steady: float, batch: int) -> dict:
    result: dict = {}
    total = clients + paced
    async with LoopbackLab(clients=total, lifetime=lifetime) as lab:
        pids = {name: p.proc.pid for name, p in lab.processes.items()}
        rss0 = rss_kib(pids["ap-a"])
        # 1. flood
        start = flood_start = await inject(lab, range(clients), batch, None)
        latencies, done = await registered_latencies(lab, clients, timeout=600)
        elapsed = done - start
        result["flood"] = {
            "clients": clients, "registered": len(latencies),
            "registrations_per_s": round(len(latencies) / elapsed),
            "p50_ms": round(pct(latencies, 0.5) * 1e3, 2), "p99_ms": round(pct(latencies, 0.99) * 1e3, 2),
        }
        result["ap_rss_bytes_per_visitor"] = round((rss_kib(pids["ap-a"]) - rss0) * 1024 / clients)
        # 2. paced, below the flood rate
        before = {r["mac"] for r in (await lab.state("ap-a"))["proxy"]["visitor"]}
        start = await inject(lab, range(clients, total), max(1, int(rate / 100)), rate)
        _, _ = await registered_latencies(lab, total, timeout=600)
        rows = (await lab.state("ap-a"))["proxy"]["visitor"]
        paced_lat = [w for w in (waited(r) for r in rows if r["mac"] not in before) if w is not None]
        result["paced"] = {
            "clients": paced, "offered_per_s": rate, "registered": len(paced_lat),
            "p50_ms": round(pct(paced_lat, 0.5) * 1e3, 2), "p99_ms": round(pct(paced_lat, 0.99) * 1e3, 2),
        }
        # 3. steady state: re-registrations every (lifetime - margin) seconds;
        #    wait until the first round (of the flood's clients) has begun.
        first_round = flood_start + lifetime - min(30, lifetime / 2)
        await asyncio.sleep(max(0.0, first_round - time.perf_counter()))
        counters0 = (await lab.state("ap-a", rows=False))["proxy"]["counters"]
        cpu0 = {n: cpu_seconds(p) for n, p in pids.items() if n in ("ha", "fa-a", "ap-a")}
        await asyncio.sleep(steady)
        counters1 = (await lab.state("ap-a", rows=False))["proxy"]["counters"]
        cpu1 = {n: cpu_seconds(p) for n, p in pids.items() if n in ("ha", "fa-a", "ap-a")}
        rereg = counters1["reregistrations"] - counters0["reregistrations"]
        result["steady_state"] = {
            "visitors": total, "lifetime_s": lifetime, "seconds": steady,
            "reregistrations_per_s": round(rereg / steady),
            "expected_per_s": round(total / (lifetime - min(30, lifetime / 2))),
            "cpu_percent": {n: round((cpu1[n] - cpu0[n]) / steady * 100, 1) for n in cpu0},
            "failures": counters1["registration-failures"] - counters0["registration-failures"],
        }
    result["subnet_map"] = lookup_benchmark()
    result["machine"] = f"{os.cpu_count()} cpu, Python {sys.version.split()[0]}"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--paced", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=2000.0, help="offered clients/s in the paced phase")
    parser.add_argument("--lifetime", type=int, default=60)
    parser.add_argument("--steady", type=float, default=30.0, help="seconds of steady state (one re-registration period: lifetime - margin)")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.clients, args.paced, args.rate, args.lifetime,
                                     args.steady, args.batch)), indent=2))


if __name__ == "__main__":
    main()
