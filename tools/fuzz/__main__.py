"""Fuzz a running ``proxymip run`` on every interface (issue 13).

    sudo .venv/bin/python -m tools.fuzz [--interfaces ha-udp,fa-udp,...] [--count 1000000]
        [--check-every 100000] [--seed 1] [--max-seconds S] [--json out.json]

One agent process (every role, SNMP v2c+v3, NETCONF, a control socket) runs in
a network namespace made for the run; each interface in turn gets ``count``
mutated messages. Before an interface's run, and every ``check-every``
messages during it, the harness times a batch of valid requests (p99 round
trip), reads the agent's VmRSS, checks it is alive and counts "Traceback" in
its log. A dead agent is a crash: it is restarted for the next interface. The
figures go to stdout (a table) and, with --json, to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from tools.fuzz import interfaces, target


@dataclass
class Checkpoint:
    tried: int
    p99_ms: float
    rss_kib: int
    alive: bool
    tracebacks: int
    unanswered: int


@dataclass
class Result:
    interface: str
    seed: int
    tried: int = 0
    seconds: float = 0.0
    crashes: int = 0
    tracebacks: int = 0
    unanswered_syncs: int = 0
    #: Datagrams the kernel dropped before the agent read them (full buffer).
    socket_drops: int = 0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    p99_before_ms: float = 0.0
    p99_during_ms: float = 0.0
    checkpoints: list[Checkpoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.tried / self.seconds if self.seconds else 0.0


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


#: Why valid requests went unanswered, over the whole run.
UNANSWERED: Counter[str] = Counter()


def probe_batch(interface: interfaces.Interface, count: int) -> tuple[list[float], int]:
    samples, unanswered = [], 0
    for _ in range(count):
        try:
            samples.append(interface.probe())
        except interfaces.Unanswered as exc:
            unanswered += 1
            UNANSWERED[str(exc)] += 1
    return samples, unanswered


def run_interface(name: str, agent: target.Target, args: argparse.Namespace) -> Result:
    result = Result(name, args.seed)
    rng = random.Random(f"{args.seed}:{name}")
    tracebacks_at_start = agent.tracebacks()
    interface = interfaces.make(name, rng, agent.control_socket)
    try:
        before, lost = probe_batch(interface, args.probes)
        if lost or not before:
            result.notes.append(f"{lost} of {args.probes} valid requests unanswered before fuzzing")
        result.p99_before_ms = p99(before) if before else float("nan")
        result.rss_before_kib = agent.rss_kib()
        drops_before = agent.socket_drops()
        during: list[float] = []
        start = time.perf_counter()
        deadline = start + args.max_seconds if args.max_seconds else None
        while result.tried < args.count:
            interface.fuzz()
            result.tried += 1
            if result.tried % args.window == 0:
                try:
                    interface.sync()
                except interfaces.Unanswered as exc:
                    result.unanswered_syncs += 1
                    UNANSWERED[str(exc)] += 1
                if not agent.alive:
                    break
            last = result.tried == args.count or (deadline is not None and time.perf_counter() > deadline)
            if result.tried % args.check_every == 0 or last:
                try:
                    interface.sync()
                except interfaces.Unanswered:
                    result.unanswered_syncs += 1
                alive = agent.alive
                samples, lost = probe_batch(interface, args.probes) if alive else ([], args.probes)
                during.extend(samples)
                point = Checkpoint(result.tried, p99(samples) if samples else float("nan"),
                                   agent.rss_kib() if alive else 0, alive,
                                   agent.tracebacks() - tracebacks_at_start, lost)
                result.checkpoints.append(point)
                print(f"  {name}: {point}", file=sys.stderr, flush=True)
                if not alive or last:
                    break
        result.seconds = time.perf_counter() - start
        result.p99_during_ms = p99(during) if during else float("nan")
        if agent.alive:
            result.rss_after_kib = agent.rss_kib()
            result.socket_drops = agent.socket_drops() - drops_before
        else:
            result.crashes += 1
            result.notes.append(f"agent exited with status {agent.proc.poll() if agent.proc else None}")
        result.tracebacks = agent.tracebacks() - tracebacks_at_start
        if UNANSWERED:
            result.notes.append("unanswered: " + json.dumps(dict(UNANSWERED)))
            UNANSWERED.clear()
        extra = {k: getattr(interface, k) for k in ("answers", "reconnects", "sessions_opened",
                                                     "sessions_closed_by_agent") if hasattr(interface, k)}
        if extra:
            result.notes.append(json.dumps(extra))
    finally:
        try:
            interface.close()
        except Exception as exc:  # closing a session the agent ended
            result.notes.append(f"close: {exc!r}")
    return result


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interfaces", default=",".join(interfaces.INTERFACES),
                        help="comma-separated, from: " + ", ".join(interfaces.INTERFACES))
    parser.add_argument("--count", type=int, default=1_000_000, help="mutated messages per interface")
    parser.add_argument("--check-every", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=256, help="messages between two syncs")
    parser.add_argument("--probes", type=int, default=200, help="valid requests per check")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=None, help="per interface")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the agent's directory (log, startup)")
    args = parser.parse_args(argv)
    names = [n for n in args.interfaces.split(",") if n]
    for name in names:
        if name not in interfaces.INTERFACES:
            parser.error(f"unknown interface {name!r}")
    if os.geteuid() != 0:
        parser.error("needs root: it creates a network namespace and raw ICMP sockets")

    # SIGTERM (timeout(1), a supervisor) unwinds like Ctrl-C: the agent is
    # stopped and the namespace deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    namespace = target.Namespace()
    namespace.create()
    workdir = target.new_workdir()
    agent = target.Target(workdir)
    results: list[Result] = []
    started = time.time()
    load_before = os.getloadavg()
    try:
        agent.start()
        for name in names:
            if not agent.alive:
                agent.stop()
                agent = target.Target(workdir)
                agent.start()
            print(f"fuzzing {name} (pid {agent.pid})", file=sys.stderr, flush=True)
            results.append(run_interface(name, agent, args))
        excerpts = agent.log_excerpts()
        status = agent.stop()
    finally:
        agent.stop()
        namespace.delete()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "agent_exit_status": status,
        "results": [asdict(r) | {"rate_per_s": r.rate} for r in results],
        "traceback_excerpts": excerpts,
    }
    print(f"{'interface':<10} {'tried':>9} {'crash':>5} {'tb':>3} {'rss KiB before→after':>22} "
          f"{'p99 ms before':>13} {'during':>8} {'ratio':>6} {'rate/s':>7} {'unans':>5} {'drops':>6}")
    for r in results:
        ratio = r.p99_during_ms / r.p99_before_ms if r.p99_before_ms else float("nan")
        print(f"{r.interface:<10} {r.tried:>9} {r.crashes:>5} {r.tracebacks:>3} "
              f"{r.rss_before_kib:>10}→{r.rss_after_kib:<10} {r.p99_before_ms:>13.2f} "
              f"{r.p99_during_ms:>8.2f} {ratio:>6.2f} {r.rate:>7.0f} {r.unanswered_syncs:>5} {r.socket_drops:>6}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)
    for excerpt in excerpts:
        print("--- traceback in the agent's log ---\n" + excerpt, file=sys.stderr)
    failed = any(r.crashes or r.tracebacks for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
