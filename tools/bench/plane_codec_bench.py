#!/usr/bin/env python3
"""The plane boundary's codec, mirror and resync producer (agent/plane), beside
the same work done with the standard library's json in the same run.

1. Encode: 100,000 binding deltas (whole rows, as the state stream sends
   them) into StateDeltas frames of 1,024 deltas (``codec.encode``: msgpack,
   length prefix). Reference: ``json.dumps`` of the same rows as lists, same
   batches.
2. Decode: those frames back to checked ``Delta`` objects (``codec.decode``:
   every column type-checked against its table). Reference: ``json.loads``
   (no checks, no objects).
3. Mirror apply: the decoded messages into an ``OperationalMirror``.
   Reference: a plain ``dict`` update with the same keys and rows.
4. Resynchronisation of 100,000 bindings by ``StateStream`` with the real
   clock (``time.perf_counter``) and its 5 ms budget: the longest step in
   wall time and in the thread's CPU time (on a shared machine the wall time
   includes preemption by other processes, which no budget can prevent), the
   number of steps, the rows/s, each chunk encoded as it would be sent.

Best of ``--trials`` (default 5) for each; the figures are rates and the
ratio to the reference.

    .venv/bin/python tools/bench/plane_codec_bench.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.plane import codec  # noqa: E402
from agent.plane import messages as m  # noqa: E402
from agent.plane.mirror import OperationalMirror  # noqa: E402
from agent.plane.stream import MAX_BATCH, MappingRowSource, StateStream  # noqa: E402
from agent.plane.tables import TableId  # noqa: E402

FIRST_HOME = 0xC6120000
CARE_OF = 0x7F000004


def rows(count: int) -> list[tuple[Any, ...]]:
    now = time.time()
    return [(FIRST_HOME + i, CARE_OF, CARE_OF, 434, 0x02, (0xE8000000 + i) << 32, 3000, now,
             now + 3000) for i in range(count)]


def best(trials: int, work) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(trials):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def run(count: int, trials: int) -> dict[str, Any]:
    table = rows(count)
    created = m.ChangeKind.CREATED
    batches = [tuple(m.Delta(TableId.BINDING, created, row[:2], row) for row in table[i:i + MAX_BATCH])
               for i in range(0, count, MAX_BATCH)]
    messages = [m.StateDeltas(1, n + 1, batch) for n, batch in enumerate(batches)]
    json_batches = [[[1, 1, list(row[:2]), list(row)] for row in table[i:i + MAX_BATCH]]
                    for i in range(0, count, MAX_BATCH)]

    frames: list[bytes] = []
    texts: list[str] = []

    def encode() -> None:
        frames[:] = [codec.encode(message) for message in messages]

    def encode_json() -> None:
        texts[:] = [json.dumps(batch) for batch in json_batches]

    encode_s, encode_json_s = best(trials, encode), best(trials, encode_json)
    bodies = codec.FrameReader().feed(b"".join(frames))
    decoded: list[m.Message] = []

    def decode() -> None:
        decoded[:] = [codec.decode(body) for body in bodies]

    def decode_json() -> None:
        for text in texts:
            json.loads(text)

    decode_s, decode_json_s = best(trials, decode), best(trials, decode_json)
    assert decoded == messages

    def apply() -> None:
        mirror = OperationalMirror()
        mirror.apply(m.ResyncBegin(1, 0, 1), 0.0)
        for message in decoded:
            mirror.apply(message, 0.0)  # type: ignore[arg-type]
        assert mirror.counters.deltas_applied == count

    def apply_dict() -> None:
        plain: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for message in decoded:
            for delta in message.deltas:  # type: ignore[union-attr]
                plain[delta.key] = delta.row  # type: ignore[assignment]

    apply_s, apply_dict_s = best(trials, apply), best(trials, apply_dict)

    # The resynchronisation, real clock.
    engine = {row[:2]: row for row in table}
    resync: dict[str, Any] = {}

    def one_resync() -> dict[str, Any]:
        sent: list[bytes] = []
        stream = StateStream(epoch=1, sources={TableId.BINDING: MappingRowSource(engine, lambda r: r)},
                             send=lambda message: sent.append(codec.encode(message)),
                             clock=time.perf_counter)
        started = time.perf_counter()
        stream.begin_resync()
        steps, cpu = [], []
        more = True
        while more:
            step_started, cpu_started = time.perf_counter(), time.thread_time()
            more = stream.resync_step()
            steps.append(time.perf_counter() - step_started)
            cpu.append(time.thread_time() - cpu_started)
        total = time.perf_counter() - started
        return {"steps": len(steps),
                "longest_step_ms": round(max(steps) * 1e3, 3),
                "median_step_ms": round(sorted(steps)[len(steps) // 2] * 1e3, 3),
                "longest_step_cpu_ms": round(max(cpu) * 1e3, 3),
                "rows_per_s": round(count / total), "bytes": sum(len(b) for b in sent)}

    trials_resync = [one_resync() for _ in range(trials)]
    resync = min(trials_resync, key=lambda r: r["longest_step_ms"])
    resync["longest_step_ms_all_trials"] = [r["longest_step_ms"] for r in trials_resync]
    resync["longest_step_cpu_ms_all_trials"] = [r["longest_step_cpu_ms"] for r in trials_resync]

    def rate(seconds: float) -> int:
        return round(count / seconds)

    return {
        "deltas": count,
        "encode": {"deltas_per_s": rate(encode_s), "json_dumps_per_s": rate(encode_json_s),
                   "ratio_to_json": round(encode_json_s / encode_s, 2),
                   "bytes_per_delta": round(sum(len(f) for f in frames) / count, 1),
                   "json_bytes_per_delta": round(sum(len(t) for t in texts) / count, 1)},
        "decode": {"deltas_per_s": rate(decode_s), "json_loads_per_s": rate(decode_json_s),
                   "ratio_to_json": round(decode_json_s / decode_s, 2)},
        "mirror_apply": {"deltas_per_s": rate(apply_s), "dict_update_per_s": rate(apply_dict_s),
                         "ratio_to_dict": round(apply_dict_s / apply_s, 2)},
        "resync_100k": resync,
        "machine": f"{os.cpu_count()} cpu, Python {sys.version.split()[0]}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(args.rows, args.trials), indent=2))


if __name__ == "__main__":
    main()
