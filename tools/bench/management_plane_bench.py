#!/usr/bin/env python3
"""The management plane process (agent/plane/management_plane.py) against a
control plane in its own process, with same-run references:

1. **Operational read from the mirror.** The control plane (this script
   with ``--control``) holds a real ``HomeAgent`` with N bindings (default
   100,000; ``restore_state``) and streams them through the plane's own row
   sources (``agent/plane/rows.py``). Once the management plane's mirror is
   synchronised, the operational read a ``<get>`` makes
   (``datastore.get_operational()``: running plus the mirror's
   ``*-state``, RFC 7951 JSON) is timed there. Reference: the same read the
   single-process agent makes, ``agent.operational.home_agent_state`` over
   the engine, timed in the control process on the same bindings.
   Best of 3 each.
2. **Commit across the boundary.** K (default 200) one-entry commits to
   running (a subnet-map entry created) through the boundary: change set ->
   ``ConfigChange`` -> verdict (the control plane accepts at once) ->
   ``ConfigDone``, waited for synchronously. Reference: the same commits on
   a ``Datastore`` with no subscriber, in the same process and run.

    .venv/bin/python tools/bench/management_plane_bench.py [--rows 100000] [--commits 200]
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

from agent.datastore.edits import Edit, Operation  # noqa: E402
from agent.datastore.paths import parse_path  # noqa: E402
from agent.datastore.store import RUNNING, Datastore  # noqa: E402
from agent.lab import ha_config  # noqa: E402
from agent.plane import aio  # noqa: E402
from agent.plane import session as s  # noqa: E402
from agent.plane.tables import TableId  # noqa: E402
from agent.schema.context import TOP_MEMBER  # noqa: E402

CARE_OF = 0xC0000207


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def best_of(runs: int, call: Any) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def document(rows: int) -> dict[str, Any]:
    return ha_config(rows)


# -- the control plane (its own process) ------------------------------------------------------


async def control(path: str, rows: int) -> None:
    from agent.config.loader import build_config
    from agent.datastore.tree import to_json
    from agent.mobileip.home_agent import BINDING_FIELDS, NODE_FIELDS, HomeAgent
    from agent.operational import home_agent_state
    from agent.plane.rows import HomeAgentBindings, HomeAgentMobileNodes
    from agent.plane.stream import MappingRowSource, StateStream

    loop = asyncio.get_running_loop()
    store = Datastore()
    store.replace_config(RUNNING, {TOP_MEMBER: document(rows)[TOP_MEMBER]})
    config = build_config(to_json(store.snapshot(RUNNING).effective))
    store.close()
    assert config.home_agent is not None
    engine = HomeAgent(config.home_agent.settings, mobile_nodes=config.host_associations,
                       peers=config.peer_associations)
    now = time.time()
    first = int(config.home_agent.settings.home_network.network_address) + 1
    engine.restore_state({"node-fields": NODE_FIELDS, "binding-fields": BINDING_FIELDS, "nodes": [
        [first + i, i, None, [[CARE_OF, CARE_OF, 434, 0, i, 3600, now, now + 3600]]]
        for i in range(rows)]}, now)
    engine_read = best_of(3, lambda: home_agent_state(engine, time.time()))
    pump: aio.StreamPump
    done = asyncio.Event()

    def on_event(event: s.Event) -> None:
        session = connection.session
        assert isinstance(session, s.ControlSession)
        if isinstance(event, s.SessionEstablished):
            pump.resync()
        elif isinstance(event, s.ConfigChangeRequested):
            session.accept(event.transaction, loop.time())
        elif isinstance(event, s.ConfigCommitRequested):
            session.applied(event.transaction)
        elif isinstance(event, s.SessionClosed):
            done.set()
        loop.call_soon(connection.flush)

    connection = await aio.connect_control(
        path, lambda t: s.ControlSession(epoch=time.time_ns(), pid=os.getpid(), now=t), on_event)
    sources: dict[TableId, Any] = {t: MappingRowSource({}, lambda r: r) for t in TableId}
    sources[TableId.BINDING] = HomeAgentBindings(engine)
    sources[TableId.MOBILE_NODE] = HomeAgentMobileNodes(engine)
    stream = StateStream(epoch=time.time_ns(), sources=sources, send=aio.state_sender(connection),
                         clock=time.perf_counter)
    pump = aio.StreamPump(stream, connection, loop=loop)
    pump.start_counters(1.0, lambda: (time.time(), {"home-agent": engine.counters.as_dict()}))
    if connection.session.state is s.SessionState.ESTABLISHED:
        pump.resync()
    print(json.dumps({"engine_read_s": engine_read}), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin


# -- the management plane (this process) ---------------------------------------------------------


def subnet_edit(index: int) -> list[Edit]:
    prefix = f"10.{200 + index // 256}.{index % 256}.0/24"
    return [Edit(Operation.CREATE, parse_path(f"/mobile-ip/subnet-map[prefix='{prefix}']"),
                 {"prefix": prefix, "home-agent": "127.0.0.2"})]


def commits(datastore: Datastore, count: int) -> list[float]:
    latencies = []
    for index in range(count):
        started = time.perf_counter()
        datastore.edit(RUNNING, subnet_edit(index))
        latencies.append(time.perf_counter() - started)
    return latencies


async def management(rows: int, count: int) -> dict[str, Any]:
    from agent.plane.config_boundary import BoundaryDatastore
    from agent.plane.management_plane import ManagementPlane
    from agent.plane.mirror import MirrorState

    workdir = tempfile.mkdtemp(prefix="mgmt-bench-")
    path = os.path.join(workdir, "plane.sock")
    config = {TOP_MEMBER: document(rows)[TOP_MEMBER]}
    datastore = BoundaryDatastore()
    datastore.replace_config(RUNNING, config)
    plane = ManagementPlane(datastore, socket_path=path, state_dir=workdir)
    await plane.start()
    child = subprocess.Popen([sys.executable, __file__, "--control", path, "--rows", str(rows)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        engine_read = json.loads(await asyncio.to_thread(child.stdout.readline))["engine_read_s"]
        started = time.perf_counter()
        while not (plane.mirror.state is MirrorState.SYNCED
                   and plane.mirror.count(TableId.BINDING) == rows):
            await asyncio.sleep(0.01)
        synced_after = time.perf_counter() - started
        content = datastore.get_operational()[TOP_MEMBER]
        assert len(content["home-agent-state"]["binding"]) == rows
        mirror_read = best_of(3, datastore.get_operational)
        boundary = commits(datastore, count)
        reference_store = Datastore()
        reference_store.replace_config(RUNNING, config)
        reference = commits(reference_store, count)
        reference_store.close()
    finally:
        if child.stdin is not None:
            child.stdin.close()
        await plane.close()
        child.wait(timeout=30)
        datastore.close()
    ms = 1e3
    return {
        "rows": rows,
        "mirror_synchronised_after_s": round(synced_after, 2),
        "operational_read_s": {"mirror (management plane)": round(mirror_read, 3),
                               "engine (single process, reference)": round(engine_read, 3),
                               "ratio": round(mirror_read / engine_read, 2)},
        "commit_ms": {
            "through the boundary": {"p50": round(percentile(boundary, 0.5) * ms, 2),
                                     "p99": round(percentile(boundary, 0.99) * ms, 2)},
            "no subscriber (reference)": {"p50": round(percentile(reference, 0.5) * ms, 2),
                                          "p99": round(percentile(reference, 0.99) * ms, 2)},
            "ratio_p50": round(percentile(boundary, 0.5) / percentile(reference, 0.5), 2),
        },
        "commits": count,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--control", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.control:
        asyncio.run(control(args.control, args.rows))
        return 0
    print(json.dumps(asyncio.run(management(args.rows, args.commits)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
