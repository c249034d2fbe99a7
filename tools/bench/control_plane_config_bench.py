#!/usr/bin/env python3
"""Full configurations across the plane boundary, on the control plane's
side (``agent/plane/engine_host.py``), with N host SAs and a home agent:

- the ``ConfigChange`` frame's size and its decoding;
- the first full configuration's change phase (validation, the engines'
  records) and done phase (the engines built);
- the same full configuration again (what a restarted management plane
  sends: accepted as unchanged) and one with a leaf changed (validated and
  diffed);
- the same-run reference: what ``proxymip run`` does today at start with the
  same tree (``Datastore.replace_config`` of running, then ``build_config``);
- the transaction in ``ConfigChangePart`` frames (agent/plane/parts.py): how
  many, the largest, the longest a control session takes to receive one
  (what a frame holds the engines' loop), with the engines running;
- the longest the loop stops while the changed full configuration is
  prepared off the loop (``EngineHost.prepare_off_loop``: a timer every
  1 ms on the loop, its worst lateness), beside the same preparation on the
  loop (``EngineHost.prepare``, the loop stopped throughout), and beside
  the same timer on an idle loop as long (the machine's own scheduling noise);
  the same for a full configuration with every SA's key changed (N entries
  validated, N SAs replaced in the live tables on the loop).

    .venv/bin/python tools/bench/control_plane_config_bench.py [--sas 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.config.loader import build_config  # noqa: E402
from agent.datastore.store import RUNNING, Datastore  # noqa: E402
from agent.datastore.tree import to_json  # noqa: E402
from agent.plane import codec  # noqa: E402
from agent.plane import messages as m  # noqa: E402
from agent.plane import session as s  # noqa: E402
from agent.plane.engine_host import EngineHost  # noqa: E402

TOP = "/proxy-mobile-ip:mobile-ip"


def content(count: int) -> dict[str, object]:
    return {"home-agent": {"address": "127.0.0.2", "listen": {"address": "127.0.0.2", "port": 0}},
            "security": {"host": [{"address": str(IPv4Address("10.0.0.1") + i), "spi": 256,
                                   "key-hex": "00" * 16} for i in range(count)]}}


def timed(what: dict[str, float], name: str, started: float) -> None:
    what[name] = round(time.perf_counter() - started, 3)


class LoopLag:
    """A timer every ``period`` on the running loop; ``worst`` is the
    longest it fired late (what an engine's datagram would have waited)."""

    def __init__(self, period: float = 0.001) -> None:
        self.period = period
        self.worst = 0.0
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_later(period, self._tick, self._loop.time() + period)

    def _tick(self, due: float) -> None:
        self.worst = max(self.worst, self._loop.time() - due)
        self._handle = self._loop.call_later(self.period, self._tick, self._loop.time() + self.period)

    def stop(self) -> float:
        self._handle.cancel()
        return round(self.worst, 4)


def across_sessions(full: dict[str, object]) -> tuple[dict[str, float], tuple[m.ConfigChangeEntry, ...]]:
    """The full configuration from a management session to a control session,
    frame by frame: the parts' count, largest frame, slowest receive."""
    management = s.ManagementSession(epoch=1, pid=1, now=0.0)
    control = s.ControlSession(epoch=2, pid=2, now=0.0)
    control.receive_data(management.data_to_send(), 0.0)
    management.receive_data(control.data_to_send(), 0.0)
    while management.next_event() is not None or control.next_event() is not None:
        pass
    started = time.perf_counter()
    management.begin_transaction((m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, full),), 0.0, full=True)
    cut = time.perf_counter() - started
    frames = codec.FrameReader(max_frame=codec.MAX_FRAME).feed(management.data_to_send())
    slowest = 0.0
    for body in frames:
        started = time.perf_counter()
        control.receive_data(codec.frame(body), 0.0)
        slowest = max(slowest, time.perf_counter() - started)
    event = control.next_event()
    assert isinstance(event, s.ConfigChangeRequested)
    assert event.changes[0].value == full
    return {"frames": len(frames), "largest_frame_bytes": max(map(len, frames)),
            "split_s": round(cut, 3), "slowest_frame_receive_s": round(slowest, 4),
            "verdict_timeout_s": round(management.get_timer() or 0.0, 1)}, event.changes


async def measure(count: int, *, freeze: bool) -> dict[str, object]:
    tree = content(count)
    out: dict[str, float] = {}
    started = time.perf_counter()
    reference = Datastore()
    reference.replace_config(RUNNING, {"proxy-mobile-ip:mobile-ip": tree})
    build_config(to_json(reference.snapshot(RUNNING).effective))
    timed(out, "reference_start_s", started)
    full = reference.snapshot(RUNNING).as_json(with_defaults=True)
    reference.close()
    frame = codec.encode(m.ConfigChange(1, True, (m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, full),)))
    started = time.perf_counter()
    codec.decode(frame[4:])
    timed(out, "one_frame_decode_s", started)
    parts, changes = across_sessions(full)
    host = EngineHost(on_event=lambda role, event: None)
    try:
        started = time.perf_counter()
        host.prepare(1, True, changes)
        timed(out, "first_change_phase_s", started)
        started = time.perf_counter()
        await host.commit(1)
        timed(out, "first_done_phase_s", started)
        if freeze:  # what the process's LongLivedStateGc does within 10 s
            gc.collect()
            gc.freeze()
        # The parts again, engines running (a reconnection): what a frame
        # holds the loop then.
        parts, _ = across_sessions(full)
        started = time.perf_counter()
        host.prepare(2, True, changes)
        timed(out, "unchanged_full_s", started)
        await host.commit(2)
        edited = copy.deepcopy(full)
        edited["home-agent"]["max-lifetime"] = 900
        changed = (m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, edited),)
        lag = LoopLag()
        started = time.perf_counter()
        host.prepare(3, True, changed)
        timed(out, "changed_full_on_loop_s", started)
        await asyncio.sleep(0.01)
        out["changed_full_on_loop_stall_s"] = lag.stop()
        host.abort(3)
        lag = LoopLag()
        started = time.perf_counter()
        await host.prepare_off_loop(4, True, changed)
        timed(out, "changed_full_off_loop_s", started)
        await asyncio.sleep(0.01)  # the timer's next tick sees the last turn's delay
        out["changed_full_off_loop_stall_s"] = lag.stop()
        host.abort(4)
        # Every SA's key changed: all N entries validated, N SAs replaced.
        rekeyed = copy.deepcopy(full)
        for entry in rekeyed["security"]["host"]:
            entry["key-hex"] = "11" * 16
        rekey = (m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, rekeyed),)
        lag = LoopLag()
        started = time.perf_counter()
        host.prepare(5, True, rekey)
        timed(out, "all_keys_changed_on_loop_s", started)
        await asyncio.sleep(0.01)
        out["all_keys_changed_on_loop_stall_s"] = lag.stop()
        host.abort(5)
        lag = LoopLag()
        started = time.perf_counter()
        await host.prepare_off_loop(6, True, rekey)
        timed(out, "all_keys_changed_off_loop_s", started)
        await asyncio.sleep(0.01)
        out["all_keys_changed_off_loop_stall_s"] = lag.stop()
        host.abort(6)
        lag = LoopLag()  # the machine's own noise: the loop idle as long
        await asyncio.sleep(max(out["changed_full_off_loop_s"], 0.05))
        out["idle_loop_stall_s"] = lag.stop()
        assert host.unchanged_full == 1
    finally:
        await host.close()
    return {"sas": count, "one_frame_bytes": len(frame), **parts, **out,
            "first_change_phase_ratio": round(out["first_change_phase_s"] / out["reference_start_s"], 2),
            "changed_full_stall_ratio": round(out["changed_full_off_loop_stall_s"]
                                              / max(out["changed_full_on_loop_stall_s"], 1e-6), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sas", type=int, default=10_000)
    parser.add_argument("--no-gc-freeze", action="store_true",
                        help="do not freeze the engines' state after the first apply "
                             "(the control plane process runs agent/aio/gc_policy.py)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.sas, freeze=not args.no_gc_freeze)), indent=1))


if __name__ == "__main__":
    main()
