#!/usr/bin/env python3
"""Memory of the SNMP agent under the fuzz harness's SNMP traffic, in one
process (issue 13, docs/security.md finding 5: +9.2 MiB per 1,000,000
messages in ``tools/fuzz``, not explained).

An ``SnmpAgent`` configured as ``tools/fuzz/target.py`` configures it (v2c
read-only and read-write communities; v3 users "ops" authPriv SHA/AES-128
and "signer" authNoPriv) runs on loopback in this process. Its corpus is the
harness's: SNMPv1/v2c requests from ``tools.fuzz.corpus`` and SNMPv3 requests
captured from net-snmp's snmpget/snmpgetnext/snmpbulkget relayed to this
agent (``tools.fuzz.interfaces.snmp_v3_capture``), each mutated by
``tools.fuzz.mutate`` (half v1/v2c, half v3, seed as given). Each datagram is
handed to the agent's receive path as its transport does (screen and fast
path, then pysnmp's dispatch), synchronously, from one source address as the
harness sends them; pysnmp's timers (its caches' expiry) run between batches
as the event loop runs them. Every ``--check-every`` messages: VmRSS, the
Python heap as tracemalloc counts it (``--tracemalloc``), and the sizes of
pysnmp's per-message caches.

    .venv/bin/python tools/bench/snmp_fuzz_memory.py [--count 300000] [--check-every 50000]
        [--rate 3000] [--tracemalloc FRAMES] [--seed 1] [--without-v3-screen]

pysnmp's own caches expire by its timer (0.1 s ticks): message state after
600 ticks (60 s), USM's per-engine timeline after 300 s; a run shorter than
that sees them grow with time, so ``--rate`` spreads a run over minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import socket
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.mobileip.violations import ViolationLog  # noqa: E402
from agent.snmp import usm_screen  # noqa: E402
from agent.snmp.instrumentation import build_tree  # noqa: E402
from agent.snmp.server import SnmpAgent  # noqa: E402
from agent.snmp.settings import SnmpCommunity, SnmpSettings, SnmpUser  # noqa: E402
from agent.snmp.sources import Sources  # noqa: E402
from tools.fuzz import corpus, target  # noqa: E402
from tools.fuzz.interfaces import MAX_DATAGRAM, snmp_v3_capture  # noqa: E402
from tools.fuzz.mutate import Shape, mutate  # noqa: E402


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def make_agent() -> SnmpAgent:
    users = tuple(SnmpUser(name, auth, auth_pass, priv, priv_pass or None)
                  for name, (auth, auth_pass, priv, priv_pass) in target.V3_USERS.items())
    settings = SnmpSettings(address="127.0.0.1", port=0, users=users, communities=(
        SnmpCommunity("ro", target.COMMUNITY), SnmpCommunity("rw", target.WRITE_COMMUNITY, access="read-write")))
    log = ViolationLog()
    sources = Sources(lambda: None, lambda: None, lambda: None, lambda: log, dict, started_at=time.time())
    return SnmpAgent(settings, lambda stats: build_tree(sources, stats=stats), clock=time.time, sources=sources)


def cache_sizes(agent: SnmpAgent) -> dict[str, int]:
    """Sizes of pysnmp's per-message state: the message processing model's
    and USM's state-reference caches, USM's timeline (engine ID -> boots and
    time, RFC 3414 §2.3) and the engine-ID cache per source."""
    engine: Any = agent._engine
    sizes: dict[str, int] = {}
    for number, model in engine.message_processing_subsystems.items():
        cache = getattr(model, "_cache", None)
        for name, value in vars(cache).items() if cache is not None else ():
            if isinstance(value, dict):
                sizes[f"mp{number} cache {name.split('__')[-1]}"] = len(value)
        for name, value in vars(model).items():
            if isinstance(value, dict) and ("engineIdCache" in name):
                sizes[f"mp{number} {name.split('__')[-1]}"] = len(value)
    for number, model in engine.security_models.items():
        for name, value in vars(model).items():
            if isinstance(value, dict) and ("timeline" in name.lower()):
                sizes[f"sm{number} {name.split('__')[-1]}"] = len(value)
        cache = getattr(model, "_cache", None)
        for name, value in vars(cache).items() if cache is not None else ():
            if isinstance(value, dict):
                sizes[f"sm{number} cache {name.split('__')[-1]}"] = len(value)
    return sizes


async def run(count: int, check_every: int, seed: int, trace: int, v3_screen: bool,
              rate: float) -> dict[str, Any]:
    agent = make_agent()
    if not v3_screen:  # as before agent.snmp.usm_screen: every v3 message to pysnmp
        usm_screen.screen_v3 = lambda data, engine_id, users: (usm_screen.V3Verdict.ACCEPT, None)
    await agent.start()
    transport = agent._transport
    destination = ("127.0.0.1", agent.port)
    rng = random.Random(seed)
    v2c = corpus.snmp_v2c_messages(rng)
    v3 = await asyncio.to_thread(snmp_v3_capture, destination)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((target.SENDER, 0))
    sink.setblocking(False)
    source = sink.getsockname()
    checks: list[dict[str, Any]] = []
    if trace:
        tracemalloc.start(trace)
    first_snapshot = None
    started = time.monotonic()
    try:
        for sent in range(count + 1):
            if sent % check_every == 0:
                gc.collect()
                check: dict[str, Any] = {"messages": sent, "seconds": round(time.monotonic() - started, 1),
                                         "rss_kib": rss_kib(), "python_objects": len(gc.get_objects()),
                                         **cache_sizes(agent)}
                if trace:
                    # linecache: the lines of the tracebacks formatted below.
                    snapshot = tracemalloc.take_snapshot().filter_traces(
                        [tracemalloc.Filter(False, "*linecache.py"), tracemalloc.Filter(False, "*tracemalloc.py")])
                    check["traced_kib"] = tracemalloc.get_traced_memory()[0] // 1024
                    if first_snapshot is None:
                        first_snapshot = snapshot
                    else:
                        check["top_growth"] = [
                            f"{stat.size_diff // 1024} KiB {stat.count_diff:+d} {stat.traceback.format()[-1].strip()}"
                            for stat in snapshot.compare_to(first_snapshot, "traceback" if trace > 1 else "lineno")[:6]]
                checks.append(check)
                print(json.dumps(check), file=sys.stderr, flush=True)
                if sent == count:
                    break
            messages = v3 if v3 and rng.random() < 0.5 else v2c
            data, _ = mutate(rng, messages, Shape(ber=True))
            datagram = data[:MAX_DATAGRAM]
            reply = agent._first_look(datagram)
            if reply is None:
                transport._dispatch(source, datagram)
            try:
                while True:
                    sink.recv(65535)
            except BlockingIOError:
                pass
            if sent % 256 == 0:
                # pysnmp's timers (cache expiry) and the loop's callbacks; at
                # most ``rate`` messages a second.
                ahead = sent / rate - (time.monotonic() - started) if rate else 0.0
                await asyncio.sleep(max(0.0, ahead))
    finally:
        agent.close()
        sink.close()
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "seed": seed, "v3_screen": v3_screen, "v3_captured": len(v3),
            "checks": checks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300000)
    parser.add_argument("--check-every", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="trace Python allocations with this many frames (slow)")
    parser.add_argument("--rate", type=float, default=0.0, help="messages a second at most (0: no limit)")
    parser.add_argument("--without-v3-screen", action="store_true",
                        help="every v3 message to pysnmp, as before agent.snmp.usm_screen")
    args = parser.parse_args()
    result = asyncio.run(run(args.count, args.check_every, args.seed, args.tracemalloc, not args.without_v3_screen,
                             args.rate))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
