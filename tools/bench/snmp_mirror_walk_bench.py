#!/usr/bin/env python3
"""SNMP walk of haMobilityBindingTable over the management plane's mirror
while the state stream moves (issue 14), in one process, no network.

A mirror holds N bindings (and N mobile-node rows), synchronised by a real
resynchronisation. The MIB tree the management plane serves
(``mirror_sources`` + ``build_tree``) is walked with GetBulk steps of
``--repetitions`` (net-snmp's snmpbulkwalk default: 10) over the eight
columns, the way ``snmpbulkwalk`` walks the table: column by column. Between
two steps one StateDeltas message renews ``--deltas`` bindings (at 2,000
registrations/s and ~1 ms a step: 2), so the mirror has always changed.

Two readers in the same run: **sorted keys** (the table's rows read from the
mirror's sorted keys, ``BindingsOverMirror``) and, the reference, **rebuilt
views** (the same Sources without it: ``BindingRows`` over
``HomeAgentView.mobile_nodes()``, which rebuilds the whole index when the
mirror has changed, the code before). The reference walks only
``--reference-steps`` steps (it costs O(N) a step); the whole walk's time is
its mean step times the step count.

    .venv/bin/python tools/bench/snmp_mirror_walk_bench.py [--nodes 100000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import time
from typing import Any

from agent.plane import messages as m
from agent.plane.mirror import OperationalMirror
from agent.plane.snmp_sources import mirror_sources
from agent.plane.tables import TableId
from agent.snmp.instrumentation import build_tree

TABLE_ENTRY = (1, 3, 6, 1, 2, 1, 44, 1, 6, 3, 1, 1)  # haMobilityBindingEntry (RFC 2006)
FIRST_HOME = 0x0A000000
CARE_OF = 0x7F000004


def binding(home: int, identification: int) -> tuple[Any, ...]:
    return (home, CARE_OF, CARE_OF, 434, 0, identification, 3000, 1.0, 3001.0)


def filled_mirror(nodes: int) -> OperationalMirror:
    mirror = OperationalMirror()
    homes = [FIRST_HOME + i for i in range(nodes)]
    chunks: list[Any] = [m.ResyncBegin(1, 0, 1)]
    sequence = 0
    for table, rows in ((TableId.BINDING, [binding(h, 1) for h in homes]),
                        (TableId.MOBILE_NODE, [(h, 1, 0, 0.0, 1.0, None, 0) for h in homes])):
        for start in range(0, len(rows), 1000):
            sequence += 1
            chunks.append(m.ResyncChunk(1, sequence, 1, table, tuple(rows[start:start + 1000])))
    chunks.append(m.ResyncEnd(1, sequence + 1, 1, {TableId.BINDING: nodes,
                                                    TableId.MOBILE_NODE: nodes}))
    for message in chunks:
        assert mirror.apply(message, 0.0) is None
    return mirror


def walk(tree: Any, mirror: OperationalMirror, nodes: int, deltas: int, repetitions: int,
         max_steps: int, rng: random.Random) -> dict[str, Any]:
    steps: list[float] = []
    varbinds = 0
    identification = 10
    oid = TABLE_ENTRY
    while len(steps) < max_steps:
        batch = []
        for _ in range(deltas):
            identification += 1
            home = FIRST_HOME + rng.randrange(nodes)
            batch.append(m.Delta(TableId.BINDING, m.ChangeKind.MODIFIED, (home, CARE_OF),
                                 binding(home, identification)))
        assert mirror.apply(m.StateDeltas(1, mirror.sequence + 1, tuple(batch)), 0.0) is None
        started = time.perf_counter()
        found = tree.get_bulk([oid], 0, repetitions, 0.0)
        steps.append(time.perf_counter() - started)
        inside = [f for f in found if f[0][:len(TABLE_ENTRY)] == TABLE_ENTRY]
        varbinds += len(inside)
        if len(inside) < len(found) or not inside:
            break
        oid = inside[-1][0]
    return {"steps": len(steps), "varbinds": varbinds,
            "step_mean_ms": round(statistics.fmean(steps) * 1e3, 4),
            "step_p99_ms": round(sorted(steps)[int(0.99 * (len(steps) - 1))] * 1e3, 4),
            "walked_s": round(sum(steps), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--deltas", type=int, default=2, help="bindings renewed between two steps")
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--reference-steps", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(14)
    mirror = filled_mirror(args.nodes)
    sources = mirror_sources(mirror, config=dict, role_settings=lambda role: object(),
                             clock=lambda: 0.0, started_at=0.0)
    sorted_keys = walk(build_tree(sources), mirror, args.nodes, args.deltas, args.repetitions,
                       1 << 40, rng)
    reference_sources = dataclasses.replace(sources, binding_rows=None)
    rebuilt = walk(build_tree(reference_sources), mirror, args.nodes, args.deltas,
                   args.repetitions, args.reference_steps, rng)
    whole_steps = sorted_keys["steps"]
    rebuilt["whole_walk_estimate_s"] = round(rebuilt["step_mean_ms"] * whole_steps / 1e3, 1)
    print(json.dumps({
        "nodes": args.nodes, "deltas_between_steps": args.deltas,
        "repetitions": args.repetitions, "sorted_keys": sorted_keys,
        "rebuilt_views_reference": rebuilt,
        "step_mean_ratio_rebuilt_to_sorted": round(
            rebuilt["step_mean_ms"] / sorted_keys["step_mean_ms"], 1),
        "machine": f"{os.cpu_count()} cpu", "load_average": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }, indent=2))


if __name__ == "__main__":
    main()
