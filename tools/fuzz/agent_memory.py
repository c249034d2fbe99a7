"""The home agent's memory under fuzz with everything around the engine: an
in-process ``agent.runtime.Agent`` running the home agent of
``tools/fuzz/target.py`` on loopback (an ephemeral port on 127.0.0.2), fed by
the harness's UDP 434 generator over real sockets from the harness's three
sender addresses, in windows of 256 each followed by a valid registration
answered (the harness's sync). Every ``--check-every`` messages: VmRSS and,
unless ``--no-trace``, tracemalloc's total; at the end, what grew most between
the second check and the last (``engine_memory`` does the same for the bare
engine).

    .venv/bin/python -m tools.fuzz.agent_memory --count 1000000 --no-trace
    .venv/bin/python -m tools.fuzz.agent_memory --count 300000 --frames 4

Not a test: a measuring tool (docs/security.md, "Fuzzing harness").
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import socket
import threading
import time
import tracemalloc
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from agent.config.loader import load_config_text
from agent.mobileip import replay
from agent.mobileip.builder import build_request
from agent.mobileip.registration import decode_reply
from agent.runtime import Agent
from tools.fuzz import corpus, target
from tools.fuzz.engine_memory import Generator, _rss_kib

WINDOW = 256


def _config() -> dict[str, Any]:
    document = target.startup_document()["proxy-mobile-ip:mobile-ip"]
    home_agent = dict(document["home-agent"], listen={"address": target.HA, "port": 0})
    return {"proxy-mobile-ip:mobile-ip": {"home-agent": home_agent, "security": document["security"]}}


def _send(args: argparse.Namespace, port: int, checks: list[dict[str, Any]], agent: Agent,
          done: threading.Event) -> None:
    generator = Generator(args.seed)
    senders = {}
    for address in (target.SENDER, target.FA, target.HA):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((address, 0))
        sock.setblocking(False)
        senders[address] = sock
    node = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    node.bind((target.SENDER, 0))
    node.settimeout(5.0)
    destination = (target.HA, port)
    started = time.perf_counter()
    unanswered = 0
    try:
        for n in range(1, args.count + 1):
            data, source, _ = generator.next(time.time())
            senders[str(source)].sendto(data, destination)
            if n % WINDOW == 0:
                ident = replay.ntp_identification(time.time(), n & 0xFFFF)
                home = IPv4Address("192.0.2.200") + (n // WINDOW) % 50
                node.sendto(build_request(home_address=home, home_agent=IPv4Address(target.HA),
                                          care_of_address=IPv4Address(target.SENDER), identification=ident,
                                          lifetime=300, sa=corpus.MN_SA), destination)
                try:
                    while replay.low32(decode_reply(node.recv(2048)).identification) != replay.low32(ident):
                        pass
                except TimeoutError:
                    unanswered += 1
                for sock in senders.values():
                    try:
                        while True:
                            sock.recv(65535)
                    except BlockingIOError:
                        pass
            if n % args.check_every == 0:
                check: dict[str, Any] = {"messages": n, "rss-kib": _rss_kib(), "unanswered": unanswered,
                                         "bindings": agent.home_agent.binding_count if agent.home_agent else None,
                                         "seconds": round(time.perf_counter() - started, 1)}
                if tracemalloc.is_tracing():
                    check["traced-kib"] = tracemalloc.get_traced_memory()[0] // 1024
                checks.append(check)
                print(json.dumps(check), flush=True)
                if n == 2 * args.check_every and tracemalloc.is_tracing():
                    checks[-1]["snapshot"] = tracemalloc.take_snapshot()
    finally:
        for sock in (*senders.values(), node):
            sock.close()
        done.set()


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    agent = Agent(load_config_text(json.dumps(_config()), "json"))
    await agent.start()
    port = agent.runners["home-agent"].local_address[1]
    checks: list[dict[str, Any]] = []
    done = threading.Event()
    sender = threading.Thread(target=_send, args=(args, port, checks, agent, done), daemon=True)
    sender.start()
    try:
        while not done.is_set():
            await asyncio.sleep(0.05)
        sender.join()
        top: list[str] = []
        first = next((c.pop("snapshot") for c in checks if "snapshot" in c), None)
        if first is not None:
            gc.collect()
            last = tracemalloc.take_snapshot()
            for stat in last.compare_to(first, "traceback")[: args.top]:
                top.append(f"{stat.size_diff / 1024:+.1f} KiB ({stat.count_diff:+d} blocks): "
                           + " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}"
                                         for f in stat.traceback))
            print("\n".join(top))
        return {"checks": checks, "top": top, "counters": agent.home_agent.counters.as_dict()
                if agent.home_agent else {}}
    finally:
        await agent.close(deregister=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--check-every", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-trace", action="store_true")
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not args.no_trace:
        tracemalloc.start(args.frames)
    result = asyncio.run(_run(args))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
