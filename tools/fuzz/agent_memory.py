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
import tempfile
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


def _config(full: bool) -> dict[str, Any]:
    """The harness's home agent alone, or (``full``) every role of the
    harness's agent on ephemeral ports, without agent discovery (its raw ICMP
    would reach other agents on this host's loopback: the harness runs in a
    namespace of its own)."""
    document = target.startup_document()["proxy-mobile-ip:mobile-ip"]
    home_agent = dict(document["home-agent"], listen={"address": target.HA, "port": 0})
    if not full:
        return {"proxy-mobile-ip:mobile-ip": {"home-agent": home_agent, "security": document["security"]}}
    body = dict(document, **{"home-agent": home_agent})
    body["foreign-agent"] = dict(document["foreign-agent"], listen={"address": target.FA, "port": 0},
                                 advertisement={"enabled": False, "interval": "0"})
    body["proxy"] = dict(document["proxy"], listen={"address": target.PROXY, "port": 0},
                         discovery={"enabled": False})
    body["snmp-agent"] = dict(document["snmp-agent"], listen={"address": target.MANAGEMENT, "port": 0})
    body["netconf-server"] = dict(document["netconf-server"], listen={"address": target.MANAGEMENT, "port": 0})
    return {"proxy-mobile-ip:mobile-ip": body}


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


async def _start(args: argparse.Namespace, workdir: Path) -> tuple[Agent, Any]:
    """The HA alone (``Agent`` only), or (``full``) as ``proxymip run`` starts
    it (agent/cli.py): a startup datastore, the live-configuration binding,
    the operational provider and the long-lived-state GC policy."""
    if not args.full:
        agent = Agent(load_config_text(json.dumps(_config(False)), "json"))
        await agent.start()
        return agent, None
    from agent.aio.gc_policy import LongLivedStateGc
    from agent.config.loader import build_config
    from agent.datastore.store import RUNNING, Datastore
    from agent.datastore.tree import to_json
    from agent.live_config import bind

    startup = workdir / "startup.json"
    startup.write_text(json.dumps(_config(True)))
    startup.chmod(0o600)
    datastore = Datastore(startup_file=startup)
    config = build_config(to_json(datastore.snapshot(RUNNING).effective))
    agent = Agent(config, datastore=datastore, state_dir=str(workdir))
    await agent.start()
    bind(agent, config, datastore)
    datastore.register_provider(agent.operational)
    gc_policy = None
    if not args.no_gc_policy:
        gc_policy = LongLivedStateGc()
        gc_policy.start()
    return agent, gc_policy


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pmip-agent-memory-") as workdir:
        agent, gc_policy = await _start(args, Path(workdir))
        try:
            return await _drive(args, agent)
        finally:
            if gc_policy is not None:
                await gc_policy.stop()
            await agent.close(deregister=False)


async def _drive(args: argparse.Namespace, agent: Agent) -> dict[str, Any]:
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
        done.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--check-every", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-trace", action="store_true")
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--full", action="store_true", help="every role of the harness's agent, not the HA alone")
    parser.add_argument("--no-gc-policy", action="store_true", help="with --full: without agent/aio/gc_policy.py")
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
