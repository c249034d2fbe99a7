#!/usr/bin/env python3
"""The plane boundary between two processes (agent/plane over a Unix socket):
resynchronisation of N bindings, then the mirror's lag at R changes/s, and
how late the control plane's loop runs a 1 ms timer meanwhile.

The control plane is this script with ``--control`` (its own process): an
engine-like table of N (default 100,000) binding rows, a ``ControlSession``
connected to the management plane, a ``StateStream`` driven by a
``StreamPump``; after the hello it resynchronises, and from the start it
modifies R rows per second (default 10,000, in ticks of 1 ms), each
modified row carrying ``time.monotonic()`` of the change in its
``registered-at`` column; counters every second. A 1 ms ``call_later`` probe
records how late the loop runs it: during the resynchronisation, and after it
(the same-run reference).

The management plane is this script: ``serve_management``, an
``OperationalMirror`` applying every state message as it is received. For
every delta applied after the mirror is synchronised, lag = the mirror's
``time.monotonic()`` minus the row's stamp (CLOCK_MONOTONIC is one clock
for all processes of the machine). Reported: the resync's duration, the lag
p50 / p99 / max over ``--seconds`` (issue 14's aim: p99 < period + 50 ms),
the probe's lateness (max and p99) during and after the resync.

    .venv/bin/python tools/bench/plane_lag_bench.py [--rows 100000] [--rate 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.plane import aio  # noqa: E402
from agent.plane import messages as m  # noqa: E402
from agent.plane import session as s  # noqa: E402
from agent.plane.mirror import MirrorState, OperationalMirror  # noqa: E402
from agent.plane.stream import MappingRowSource, StateStream  # noqa: E402
from agent.plane.tables import TableId  # noqa: E402

FIRST_HOME = 0xC6120000
CARE_OF = 0x7F000004


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# -- the control plane ------------------------------------------------------------------------


class TimedStream(StateStream):
    """Records each resync step's wall and CPU time (to tell the loop's own
    holding from the kernel giving the CPU to other processes)."""

    steps_wall: list[float]
    steps_cpu: list[float]

    def resync_step(self) -> bool:
        if not hasattr(self, "steps_wall"):
            self.steps_wall, self.steps_cpu = [], []
        wall, cpu = time.perf_counter(), time.thread_time()
        more = super().resync_step()
        self.steps_wall.append(time.perf_counter() - wall)
        self.steps_cpu.append(time.thread_time() - cpu)
        return more


async def control(path: str, rows: int, rate: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    now = time.time()
    engine = {(FIRST_HOME + i, CARE_OF): (FIRST_HOME + i, CARE_OF, CARE_OF, 434, 0, i, 3000, 0.0,
                                          now + 3000) for i in range(rows)}
    lateness: dict[str, list[float]] = {"resync": [], "after": []}
    done = asyncio.Event()
    pump: aio.StreamPump

    def on_event(event: s.Event) -> None:
        if isinstance(event, s.SessionEstablished):
            pump.resync()
        elif isinstance(event, s.SessionClosed):
            done.set()

    connection = await aio.connect_control(
        path, lambda t: s.ControlSession(epoch=time.monotonic_ns(), pid=os.getpid(), now=t), on_event)
    stream = TimedStream(epoch=time.monotonic_ns(),
                         sources={TableId.BINDING: MappingRowSource(engine, lambda r: r)},
                         send=aio.state_sender(connection), clock=time.perf_counter)
    pump = aio.StreamPump(stream, connection, loop=loop)
    if connection.session.state is s.SessionState.ESTABLISHED:
        pump.resync()

    def probe(expected: float) -> None:
        late = loop.time() - expected
        lateness["resync" if stream.resyncing else "after"].append(late)
        if not done.is_set():
            loop.call_at(expected + 0.001, probe, expected + 0.001)

    loop.call_at(loop.time() + 0.001, probe, loop.time() + 0.001)
    index = 0
    started = loop.time()
    next_counters = started + 1.0
    while loop.time() - started < seconds and not done.is_set():
        due = int((loop.time() - started) * rate)  # paced: catch up after a late tick
        for _ in range(due - index):
            key = (FIRST_HOME + index % rows, CARE_OF)
            index += 1
            row = engine[key][:7] + (time.monotonic(), engine[key][8])
            engine[key] = row
            stream.record(TableId.BINDING, m.ChangeKind.MODIFIED, key, row)
        pump.changed()
        if loop.time() >= next_counters:
            next_counters += 1.0
            stream.send_counters(time.time(), {"home-agent": {"changes": index}})
            connection.flush()
        await asyncio.sleep(0.001)
    done.set()
    print(json.dumps({
        "changes": index, "changes_per_s": round(index / (loop.time() - started)),
        "resync_steps": stream.counters.resync_steps,
        "longest_step_ms": {"wall": round(max(getattr(stream, "steps_wall", [0.0])) * 1e3, 2),
                            "cpu": round(max(getattr(stream, "steps_cpu", [0.0])) * 1e3, 2)},
        "probe_late_ms_during_resync": {
            "count": len(lateness["resync"]),
            "p99": round(percentile(lateness["resync"], 0.99) * 1e3, 2),
            "max": round(max(lateness["resync"], default=0.0) * 1e3, 2)},
        "probe_late_ms_after": {
            "count": len(lateness["after"]),
            "p99": round(percentile(lateness["after"], 0.99) * 1e3, 2),
            "max": round(max(lateness["after"], default=0.0) * 1e3, 2)},
    }), flush=True)


# -- the management plane ------------------------------------------------------------------------


async def management(rows: int, rate: int, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    mirror = OperationalMirror()
    lags: list[float] = []
    marks: dict[str, float] = {}

    def on_event(connection: aio.PlaneConnection, event: s.Event) -> None:
        if isinstance(event, s.SessionEstablished):
            marks["hello"] = time.monotonic()
        elif isinstance(event, s.StateReceived):
            message = event.message
            synced = mirror.state is MirrorState.SYNCED
            if mirror.apply(message, loop.time()) is not None:
                raise RuntimeError("the mirror lost the thread")
            if not synced and mirror.state is MirrorState.SYNCED:
                marks["synced"] = time.monotonic()
            if synced and type(message) is m.StateDeltas:
                arrived = time.monotonic()
                lags.extend(arrived - d.row[7] for d in message.deltas if d.row and d.row[7])

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "plane.sock")
        server = await aio.serve_management(
            path, lambda t: s.ManagementSession(epoch=1, pid=os.getpid(), now=t), on_event)
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--control", path, "--rows", str(rows), "--rate", str(rate),
            "--seconds", str(seconds), stdout=asyncio.subprocess.PIPE, cwd=ROOT)
        out, _ = await asyncio.wait_for(child.communicate(), seconds + 120)
        server.close()
    report = json.loads(out.decode().strip().splitlines()[-1])
    return {
        "rows": rows,
        "rate_per_s": rate,
        "resync_seconds": round(marks["synced"] - marks["hello"], 3) if "synced" in marks else None,
        "mirror_rows": mirror.count(TableId.BINDING),
        "lag_ms": {"count": len(lags), "p50": round(percentile(lags, 0.5) * 1e3, 2),
                   "p99": round(percentile(lags, 0.99) * 1e3, 2),
                   "max": round(max(lags, default=0.0) * 1e3, 2)},
        "control_plane": report,
        "machine": f"{os.cpu_count()} cpu, Python {sys.version.split()[0]}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--control", metavar="SOCKET", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.control:
        asyncio.run(control(args.control, args.rows, args.rate, args.seconds))
        return
    print(json.dumps(asyncio.run(management(args.rows, args.rate, args.seconds)), indent=2))


if __name__ == "__main__":
    main()
