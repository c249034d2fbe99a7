"""Where does a sans-IO engine's memory go under fuzz? (docs/security.md,
fuzzing findings: the home agent grew ~0.3 MiB per 100,000 messages.)

Drives the home agent engine (``agent.mobileip.home_agent``) in-process with
the harness's own UDP 434 generator (``tools.fuzz.interfaces.Registration``'s
mix: 30 % mutated requests signed again with the node's key and a fresh
Identification, the rest mutated requests and replies), from the harness's
three sender addresses, the home agent configured as in ``tools/fuzz/target.py``
(SAs for 192.0.2.1-254, FA-HA SAs for the FA and HA addresses). Virtual time
advances at ``--rate`` messages per second, so bindings, replay state and
violations age as they would in the running agent. Every ``--check-every``
messages it prints VmRSS, tracemalloc's current total, the engine's tables,
and at the end the tracemalloc lines that grew most since the first check.

    .venv/bin/python -m tools.fuzz.engine_memory --count 1000000
    .venv/bin/python -m tools.fuzz.engine_memory --count 200000 --no-trace   # RSS only

Not a test: a measuring tool (docs/security.md, "Fuzzing harness").
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
import tracemalloc
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from agent.mobileip import replay
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.numbers import ExtensionType
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable, authenticate
from tools.fuzz import corpus, target
from tools.fuzz.interfaces import MAX_DATAGRAM, Registration
from tools.fuzz.mutate import BINARY_MUTATORS, Shape, mutate

#: The fuzz run's agent started at this POSIX time (virtual; any recent time).
START = 1_796_000_000.0


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def make_home_agent() -> HomeAgent:
    nodes = SecurityAssociationTable()
    nodes.add_range(IPv4Address("192.0.2.1"), IPv4Address("192.0.2.254"),
                    SecurityAssociation(target.MN_SPI, target.MN_KEY))
    peers = SecurityAssociationTable()
    for address in (target.HA, target.FA):
        peers.add(IPv4Address(address), SecurityAssociation(target.PEER_SPI, target.PEER_KEY))
    settings = HomeAgentSettings(IPv4Address(target.HA), home_network=IPv4Network(target.HOME_NETWORK))
    return HomeAgent(settings, mobile_nodes=nodes, peers=peers, rng=random.Random(1))


class Generator:
    """The harness's ``Registration.fuzz`` without its sockets."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.requests = corpus.registration_requests(self.rng)
        self.messages = self.requests + corpus.registration_replies(self.rng)
        self.senders = [IPv4Address(a) for a in (target.SENDER, target.FA, target.HA)]

    def next(self, now: float) -> tuple[bytes, IPv4Address, int]:
        rng = self.rng
        if rng.random() < 0.3:
            base = rng.choice(self.requests)
            body = base[:Registration._mhae_offset(base)]
            mutated, _ = mutate(rng, [body], Shape(tlv_start=24), BINARY_MUTATORS)
            if len(mutated) >= 24:
                ident = replay.ntp_identification(now, rng.getrandbits(16))
                mutated = mutated[:16] + ident.to_bytes(8, "big") + mutated[24:]
            data = authenticate(mutated, ExtensionType.MOBILE_HOME_AUTHENTICATION, corpus.MN_SA)
        else:
            data, _ = mutate(rng, self.messages, Shape(tlv_start=24 if rng.random() < 0.6 else 20))
        return data[:MAX_DATAGRAM], rng.choice(self.senders), 32768 + rng.randrange(3)


def tables(agent: HomeAgent) -> dict[str, int]:
    return {
        "nodes": len(agent._nodes),
        "bindings": agent.binding_count,
        "expiry-deadlines": len(agent._expiries), "expiry-heap": len(agent._expiries._heap),
        "violations": len(agent.violations._rows),
        "waiting": len(getattr(agent, "_waiting", ())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--check-every", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=6_000.0, help="virtual messages per second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-trace", action="store_true", help="RSS only (tracemalloc costs ~2x memory)")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--frames", type=int, default=1, help="tracemalloc frames per allocation")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    if not args.no_trace:
        tracemalloc.start(args.frames)
    agent = make_home_agent()
    generator = Generator(args.seed)
    checks: list[dict[str, Any]] = []
    first_snapshot = None
    started = time.perf_counter()
    for n in range(1, args.count + 1):
        now = START + n / args.rate
        data, source, port = generator.next(now)
        agent.receive_datagram(data, source, port, now)
        if (deadline := agent.get_timer()) is not None and deadline <= now:
            agent.handle_timer(now)
        agent.datagrams_to_send()
        while agent.next_event() is not None:
            pass
        if n % args.check_every == 0 or n == 1000:
            gc.collect()
            check: dict[str, Any] = {"messages": n, "rss-kib": _rss_kib(), **tables(agent)}
            if not args.no_trace:
                check["traced-kib"] = tracemalloc.get_traced_memory()[0] // 1024
                if first_snapshot is None and n >= args.check_every:
                    first_snapshot = tracemalloc.take_snapshot()
            check["seconds"] = round(time.perf_counter() - started, 1)
            checks.append(check)
            print(json.dumps(check), flush=True)
    top: list[str] = []
    if first_snapshot is not None:
        gc.collect()
        last = tracemalloc.take_snapshot()
        for stat in last.compare_to(first_snapshot, "traceback")[: args.top]:
            top.append(f"{stat.size_diff / 1024:+.1f} KiB ({stat.count_diff:+d} blocks): "
                       + " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in stat.traceback))
        print("\n".join(top))
    if args.json:
        args.json.write_text(json.dumps({"checks": checks, "top": top}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
