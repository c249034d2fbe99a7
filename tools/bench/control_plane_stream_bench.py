#!/usr/bin/env python3
"""What the control plane's state stream costs the home agent per
registration (issue 14: "the state stream costs < 5 %").

One process, no sockets, the engine on the clock (sans-IO), as an
``EngineRunner`` drives it: N pre-built Registration Requests (RFC 5944 §3.3,
each a new mobile node, HMAC-MD5 authenticated) fed to a ``HomeAgent`` in
batches of 64 (the runner's batch), replies taken, events drained. Three
variants, alternated round after round in the same run:

- ``reference``: events drained and dropped (the engine alone);
- ``deltas``: each event -> ``HomeAgentRecorder`` (kept; at the flush the
  binding's row recorded, the node's counter row marked), one ``StateDeltas`` per batch
  encoded into an established ``ControlSession`` (what
  ``ControlPlane._engine_event`` and its per-turn flush do), and the
  periodic ``Counters`` every second of the run with the marked
  mobile-node-counters rows before them (``StateStream.send_counters``,
  with the engine's counters as ``ControlPlane`` reads them);
- ``deltas+notifications``: the same plus each notifying event
  (``event_wire.py``) in its turn's ``StateDeltas`` (the control plane's
  default; the management plane renders the YANG notification).

Two scenarios: ``new-nodes`` (each request creates a binding: a
binding-created notification each) and ``renewals`` (the same nodes again,
registered before untimed: no notification, the steady state). Reported per
variant: registrations per second of wall time and of this process's CPU
time (medians of the rounds), and the ratios to the reference of the same
round (median of the rounds' ratios; ``cpu_ratios`` lists them). On a
shared machine the CPU-time ratio is the one to read: wall time also counts
the time the machine gave to other processes, which changes from one run to
the next. The load average before and after is printed with them.

    .venv/bin/python tools/bench/control_plane_stream_bench.py [--nodes 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.mobileip import replay  # noqa: E402
from agent.mobileip.builder import build_request  # noqa: E402
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings  # noqa: E402
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable  # noqa: E402
from agent.plane import session as s  # noqa: E402
from agent.plane.rows import HomeAgentBindings, HomeAgentMobileNodes, HomeAgentRecorder  # noqa: E402
from agent.plane.stream import StateStream  # noqa: E402
from agent.plane.tables import TableId  # noqa: E402

HOME_AGENT = IPv4Address("198.51.100.1")
CARE_OF = IPv4Address("203.0.113.1")
FIRST = IPv4Address("10.0.0.1")
SA = SecurityAssociation(256, bytes(range(16)))
BATCH = 64
PERIOD = 1.0  # the state period (YANG state-period, 1 s by default)


def requests(count: int, now: float, *, offset: int = 0) -> list[bytes]:
    return [build_request(home_address=FIRST + i, home_agent=HOME_AGENT, care_of_address=CARE_OF,
                          identification=replay.ntp_identification(now, offset + i + 1),
                          lifetime=600, sa=SA)
            for i in range(count)]


def established_session() -> s.ControlSession:
    control = s.ControlSession(epoch=1, pid=os.getpid(), now=0.0)
    management = s.ManagementSession(epoch=2, pid=os.getpid(), now=0.0)
    control.receive_data(management.data_to_send(), 0.0)
    management.receive_data(control.data_to_send(), 0.0)
    assert control.state is s.SessionState.ESTABLISHED
    return control


def run(data: list[bytes], now: float, variant: str, *,
        first: list[bytes] | None = None) -> tuple[float, float]:
    """Registrations per second of one variant on a fresh home agent, of
    wall time and of this process's CPU time (``first``, if given,
    registered before, untimed: ``data`` then renews)."""
    table = SecurityAssociationTable()
    table.add_range(FIRST, FIRST + len(data), SA)
    agent = HomeAgent(HomeAgentSettings(HOME_AGENT), mobile_nodes=table)
    session = established_session()
    stream = StateStream(epoch=1, sources={TableId.BINDING: HomeAgentBindings(agent),
                                           TableId.MOBILE_NODE: HomeAgentMobileNodes(agent)},
                         send=session.send_state, clock=time.monotonic)
    recorder = HomeAgentRecorder(agent, stream, notify=variant == "deltas+notifications",
                                 clock=lambda: now)
    stream.add_drain(recorder.drain)
    streaming = variant != "reference"
    handle: Callable[[object], None]
    if variant == "reference":
        def handle(event: object) -> None:
            pass
    else:
        # ControlPlane._engine_event's work for a home agent's event.
        def handle(event: object) -> None:
            recorder(event)
    for datagram in first or ():
        agent.receive_datagram(datagram, CARE_OF, 434, now)
    agent.datagrams_to_send()
    while agent.next_event() is not None:
        pass
    accepted_before = agent.counters.registration_accepted
    stream.flush_marked()
    session.data_to_send()
    clock = time.perf_counter
    started = clock()
    cpu_started = time.process_time()
    next_counters = started + PERIOD
    for start in range(0, len(data), BATCH):
        for datagram in data[start:start + BATCH]:
            agent.receive_datagram(datagram, CARE_OF, 434, now)
        agent.datagrams_to_send()
        while (event := agent.next_event()) is not None:
            handle(event)
        if streaming:
            stream.flush()
            if clock() >= next_counters:
                next_counters += PERIOD
                stream.send_counters(now, {"home-agent": agent.counters.as_dict()})
        session.data_to_send()  # what the transport would write
    if streaming:  # the last period's marked rows: they are this run's work too
        stream.send_counters(now, {"home-agent": agent.counters.as_dict()})
        session.data_to_send()
    elapsed = clock() - started
    cpu = time.process_time() - cpu_started
    assert agent.counters.registration_accepted - accepted_before == len(data)
    return len(data) / elapsed, len(data) / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    now = time.time()
    data = requests(args.nodes, now)
    renewals = requests(args.nodes, now, offset=args.nodes)
    variants = ("reference", "deltas", "deltas+notifications")
    out: dict[str, object] = {"load_before": os.getloadavg()}
    for scenario, first, timed in (("new-nodes", None, data), ("renewals", data, renewals)):
        wall: dict[str, list[float]] = {v: [] for v in variants}
        cpu: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(args.rounds):
            for variant in variants:
                w, c = run(timed, now, variant, first=first)
                wall[variant].append(w)
                cpu[variant].append(c)
        result: dict[str, object] = {}
        for v in variants:
            # Ratios paired round by round (the reference of the same round:
            # the load of a shared machine changes between rounds), then the
            # median; CPU time is what this process used, wall time includes
            # the time the machine gave to others.
            result[v] = {
                "wall_registrations_per_s": round(statistics.median(wall[v])),
                "cpu_registrations_per_s": round(statistics.median(cpu[v])),
                "wall_ratio": round(statistics.median(
                    a / b for a, b in zip(wall[v], wall["reference"])), 3),
                "cpu_ratio": round(statistics.median(
                    a / b for a, b in zip(cpu[v], cpu["reference"])), 3),
                "cpu_ratios": [round(a / b, 3) for a, b in zip(cpu[v], cpu["reference"])],
            }
        out[scenario] = result
    out["nodes"] = args.nodes
    out["rounds"] = args.rounds
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
