#!/usr/bin/env python3
"""Memory of every role under churn (issue 15 item 5): the loopback lab of
``proxymip lab`` (agent/lab.py: HA, FA-A, FA-B, AP-A, AP-B as separate
``proxymip run`` processes), its scenario run in a loop for ``--seconds``
(N clients associate at AP-A, half move to AP-B, all leave; every step through
the APs' control sockets, agreement checked by state snapshots), the RSS of
each process sampled after every cycle.

Reported per role: RSS after the first cycle, after the first minute, at the
end, and the growth from the first minute to the end. Reference, same run:
the home agent's growth (it stayed flat in the issue's 75-minute run while the
access points grew ~20 MB until the hourly full collection); the figure to
read is the APs' growth beside it.

    .venv/bin/python tools/bench/churn_memory.py --clients 2000 --seconds 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.lab import LoopbackLab, scenario  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def run(clients: int, seconds: float) -> dict[str, object]:
    samples: list[tuple[float, dict[str, float]]] = []
    async with LoopbackLab(clients=clients) as lab:
        pids = {name: process.proc.pid for name, process in lab.processes.items()}
        start = time.monotonic()
        cycles = 0
        while time.monotonic() - start < seconds:
            report = await scenario(lab, timeout=120.0)
            failed = [k for k, v in report.items() if isinstance(v, list) and v and k != "moved-care-of"]
            if failed:
                raise RuntimeError(f"roles disagree after cycle {cycles}: {failed}")
            cycles += 1
            samples.append((time.monotonic() - start, {n: rss_mib(p) for n, p in pids.items()}))
    first = samples[0][1]
    minute = next((s for t, s in samples if t >= 60.0), samples[-1][1])
    last = samples[-1][1]
    return {
        "clients": clients, "seconds": round(samples[-1][0], 1), "cycles": cycles,
        "rss_mib": {name: {"first_cycle": round(first[name], 1), "first_minute": round(minute[name], 1),
                           "end": round(last[name], 1),
                           "growth_after_first_minute": round(last[name] - minute[name], 1)}
                    for name in first},
        "load_average": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=300.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.clients, args.seconds)), indent=1))


if __name__ == "__main__":
    main()
