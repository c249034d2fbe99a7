#!/usr/bin/env python3
"""Visiting clients associating through AP -> FA -> HA on loopback.

Uses the loopback lab (agent/lab.py): HA, FA-A, FA-B, AP-A, AP-B as separate
``proxymip run`` processes; only AP-A / FA-A / HA carry load. Clients are
injected into AP-A through its control socket in batches ("associate-many").

Measures, in one run:
1. subnet-map longest-prefix-match lookups/s with 100,000 random prefixes,
   beside a plain dict lookup of the same packed keys in the same run (best of
   5 rounds each, on the idle machine, before any lab process starts);
2. flood (lab 1, lifetime --lifetime-flood, 600 s): N clients associate as fast
   as they can be injected; registrations/s until all N are registered (the AP
   keeps at most max-outstanding in flight, RFC 5944 §3.6.3 retransmission on
   top), association-to-registered p50/p99 (from the AP's own associated-at /
   registered-at times);
3. RSS per visitor in the AP after the flood;
4. paced (lab 1): M more clients at a fixed offered rate below the flood rate,
   with the N flood clients still registered but not renewing (their renewals
   are due after lifetime - 30 s): the latency an operator sees below
   saturation. (With a 60 s lifetime the paced phase used to run during the
   flood clients' first renewal round, 100,000 renewals in ~18 s on top of the
   offered rate: above saturation, which is what its 86-159 ms p99 measured.)
5. steady state (lab 2, lifetime --lifetime, 60 s): N + M clients flooded in,
   then the re-registration rate and the CPU each process spends on it over one
   renewal period.
References, same run: for the lookups a dict lookup of the same keys; for the
registration rates the FA -> HA pipeline alone (registration_load.py's closed-
loop generator, --reference-nodes mobile nodes, window 128, run first here).
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


def _rate(function, keys) -> float:
    start = time.perf_counter()
    for key in keys:
        function(key)
    return len(keys) / (time.perf_counter() - start)


def lookup_benchmark(prefixes: int = 100_000, lookups: int = 1_000_000, rounds: int = 5) -> dict[str, float]:
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
    hits = sum(1 for a in addresses[:100_000] if lookup(a) is not None)
    table = {p: 1 for p in packed[:prefixes]}
    get = table.get
    # Interleaved rounds, best of each: the machine is shared, so a round that
    # another process slowed is not the figure (timeit's rule).
    lpm = by_address = plain = 0.0
    for _ in range(rounds):
        lpm = max(lpm, _rate(lookup_int, packed))
        by_address = max(by_address, _rate(lookup, addresses))
        plain = max(plain, _rate(get, packed))
    return {"prefixes": prefixes, "prefix_lengths": "8-30 uniform", "rounds": rounds,
            "lookups_per_s": round(lpm), "lookups_per_s_from_ipv4address": round(by_address),
            "hit_ratio": round(hits / 100_000, 3), "dict_lookups_per_s": round(plain),
            "ratio_to_dict": round(lpm / plain, 3)}


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


async def wait_registered(lab: LoopbackLab, expected: int, timeout: float) -> float:
    """Poll the AP's registered count (no rows: cheap) until ``expected``."""
    deadline = time.monotonic() + timeout
    while True:
        state = (await lab.state("ap-a", rows=False))["proxy"]
        if state["registered-count"] >= expected or time.monotonic() > deadline:
            return time.perf_counter()
        await asyncio.sleep(0.05)


async def latencies_by_mac(lab: LoopbackLab) -> dict[str, float]:
    rows = (await lab.state("ap-a"))["proxy"]["visitor"]
    return {r["mac"]: w for r in rows if (w := waited(r)) is not None}


async def registered_latencies(lab: LoopbackLab, expected: int, timeout: float) -> tuple[list[float], float]:
    done = await wait_registered(lab, expected, timeout)
    return list((await latencies_by_mac(lab)).values()), done


async def flood(lab: LoopbackLab, clients: int, batch: int) -> tuple[dict, float]:
    start = await inject(lab, range(clients), batch, None)
    latencies, done = await registered_latencies(lab, clients, timeout=600)
    elapsed = done - start
    return {
        "clients": clients, "registered": len(latencies),
        "registrations_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(pct(latencies, 0.5) * 1e3, 2), "p99_ms": round(pct(latencies, 0.99) * 1e3, 2),
    }, start


def fa_ha_reference(nodes: int) -> dict:
    sys.path.insert(0, str(ROOT / "tools" / "bench"))
    import registration_load  # noqa: PLC0415 (a sibling script, loaded on demand)

    return registration_load.run(nodes, 128, 300)


async def run(clients: int, paced: int, rate: float, lifetime: int, flood_lifetime: int,
              steady: float, batch: int, reference_nodes: int) -> dict:
    result: dict = {"subnet_map": lookup_benchmark()}
    if reference_nodes:
        result["reference_fa_ha"] = await asyncio.to_thread(fa_ha_reference, reference_nodes)
    total = clients + paced
    # Lab 1: flood, RSS, paced; renewals are lifetime - 30 s away.
    async with LoopbackLab(clients=total, lifetime=flood_lifetime) as lab:
        pid = lab.processes["ap-a"].proc.pid
        rss0 = rss_kib(pid)
        # The visitor rows (100,000 of them) are read once, at the very end: a
        # dump of that size in the middle would put its own allocation burst
        # (and the full garbage collections it brings on) into the paced phase.
        flood_start = await inject(lab, range(clients), batch, None)
        flood_done = await wait_registered(lab, clients, timeout=600)
        result["ap_rss_bytes_per_visitor"] = round((rss_kib(pid) - rss0) * 1024 / clients)
        await inject(lab, range(clients, total), max(1, int(rate / 100)), rate)
        await wait_registered(lab, total, timeout=600)
        by_mac = await latencies_by_mac(lab)
        # After a full dump of every row (what a NETCONF <get> of all visitors
        # costs the AP on top): the arena high-water mark that stays in RSS.
        result["ap_rss_bytes_per_visitor_after_full_state_read"] = round(
            (rss_kib(pid) - rss0) * 1024 / total)
        flooded = [by_mac[m] for m in map(client_mac, range(clients)) if m in by_mac]
        paced_lat = [by_mac[m] for m in map(client_mac, range(clients, total)) if m in by_mac]
        result["flood"] = {
            "clients": clients, "registered": len(flooded),
            "registrations_per_s": round(len(flooded) / (flood_done - flood_start)),
            "p50_ms": round(pct(flooded, 0.5) * 1e3, 2), "p99_ms": round(pct(flooded, 0.99) * 1e3, 2),
        }
        counters = (await lab.state("ap-a", rows=False))["proxy"]["counters"]
        assert time.perf_counter() - flood_start < flood_lifetime - 30, "renewals began: not isolated"
        result["paced"] = {
            "clients": paced, "offered_per_s": rate, "registered": len(paced_lat),
            "visitors_present": clients, "p50_ms": round(pct(paced_lat, 0.5) * 1e3, 2),
            "p90_ms": round(pct(paced_lat, 0.9) * 1e3, 2), "p99_ms": round(pct(paced_lat, 0.99) * 1e3, 2),
            "max_ms": round(max(paced_lat) * 1e3, 2) if paced_lat else None,
            "reregistrations_meanwhile": counters["reregistrations"],
            "retransmissions": counters["retransmissions"],
        }
    # Lab 2: steady state, re-registrations every (lifetime - margin) seconds;
    # wait until the first round (of the flooded clients) has begun.
    async with LoopbackLab(clients=total, lifetime=lifetime) as lab:
        pids = {name: p.proc.pid for name, p in lab.processes.items()}
        result["flood_lab2"], flood_start = await flood(lab, total, batch)
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
    reference = result.get("reference_fa_ha", {}).get("registrations_per_s")
    if reference:
        result["flood"]["ratio_to_fa_ha"] = round(result["flood"]["registrations_per_s"] / reference, 2)
    result["machine"] = f"{os.cpu_count()} cpu, Python {sys.version.split()[0]}"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--paced", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=2000.0, help="offered clients/s in the paced phase")
    parser.add_argument("--lifetime", type=int, default=60, help="lifetime in the steady-state lab")
    parser.add_argument("--lifetime-flood", type=int, default=600,
                        help="lifetime in the flood/paced lab (renewals must not overlap the paced phase)")
    parser.add_argument("--steady", type=float, default=30.0, help="seconds of steady state (one re-registration period: lifetime - margin)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--reference-nodes", type=int, default=50_000,
                        help="FA -> HA reference run (registration_load.py); 0 skips it")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.clients, args.paced, args.rate, args.lifetime,
                                     args.lifetime_flood, args.steady, args.batch,
                                     args.reference_nodes)), indent=2))


if __name__ == "__main__":
    main()
