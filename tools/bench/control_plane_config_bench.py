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
  same tree (``Datastore.replace_config`` of running, then ``build_config``).

    .venv/bin/python tools/bench/control_plane_config_bench.py [--sas 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
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
from agent.plane.engine_host import EngineHost  # noqa: E402

TOP = "/proxy-mobile-ip:mobile-ip"


def content(count: int) -> dict[str, object]:
    return {"home-agent": {"address": "127.0.0.2", "listen": {"address": "127.0.0.2", "port": 0}},
            "security": {"host": [{"address": str(IPv4Address("10.0.0.1") + i), "spi": 256,
                                   "key-hex": "00" * 16} for i in range(count)]}}


def timed(what: dict[str, float], name: str, started: float) -> None:
    what[name] = round(time.perf_counter() - started, 3)


async def measure(count: int) -> dict[str, object]:
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
    message = codec.decode(frame[4:])
    timed(out, "decode_s", started)
    assert isinstance(message, m.ConfigChange)
    host = EngineHost(on_event=lambda role, event: None)
    try:
        started = time.perf_counter()
        host.prepare(1, True, message.changes)
        timed(out, "first_change_phase_s", started)
        started = time.perf_counter()
        await host.commit(1)
        timed(out, "first_done_phase_s", started)
        again = codec.decode(frame[4:])
        assert isinstance(again, m.ConfigChange)
        started = time.perf_counter()
        host.prepare(2, True, again.changes)
        timed(out, "unchanged_full_s", started)
        await host.commit(2)
        edited = copy.deepcopy(full)
        edited["home-agent"]["max-lifetime"] = 900
        started = time.perf_counter()
        host.prepare(3, True, (m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, edited),))
        timed(out, "changed_full_s", started)
        host.abort(3)
        assert host.unchanged_full == 1
    finally:
        await host.close()
    return {"sas": count, "frame_bytes": len(frame), **out,
            "first_change_phase_ratio": round(out["first_change_phase_s"] / out["reference_start_s"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sas", type=int, default=10_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.sas)), indent=1))


if __name__ == "__main__":
    main()
