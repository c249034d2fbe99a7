#!/usr/bin/env python3
"""What the control plane's state stream costs the home agent per
registration (issue 14: "the state stream costs < 5 %").

One process, no sockets, the engine on the clock (sans-IO), as an
``EngineRunner`` drives it: N pre-built Registration Requests (RFC 5944 §3.3,
each a new mobile node, HMAC-MD5 authenticated) fed to a ``HomeAgent`` in
batches of 64 (the runner's batch), replies taken, events drained. Three
variants, alternated round after round in the same run:

- ``reference``: events drained and dropped (the engine alone);
- ``deltas``: each event -> ``HomeAgentRecorder`` (the binding's row
  recorded, the node's counter row marked), one ``StateDeltas`` per batch
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
registered before untimed: no notification, the steady state). Reported:
registrations/s of each variant (median of the rounds) and its ratio to the
reference of the same scenario.

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
from agent.plane.event_wire import SPECS_BY_EVENT  # noqa: E402
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


def run(data: list[bytes], now: float, variant: str, *, first: list[bytes] | None = None) -> float:
    """Registrations/s of one variant on a fresh home agent (``first``, if
    given, registered before, untimed: ``data`` then renews)."""
    table = SecurityAssociationTable()
    table.add_range(FIRST, FIRST + len(data), SA)
    agent = HomeAgent(HomeAgentSettings(HOME_AGENT), mobile_nodes=table)
    session = established_session()
    stream = StateStream(epoch=1, sources={TableId.BINDING: HomeAgentBindings(agent),
                                           TableId.MOBILE_NODE: HomeAgentMobileNodes(agent)},
                         send=session.send_state, clock=time.monotonic)
    recorder = HomeAgentRecorder(agent, stream)
    notifications = variant == "deltas+notifications"
    streaming = variant != "reference"
    handle: Callable[[object], None]
    if variant == "reference":
        def handle(event: object) -> None:
            pass
    else:
        # ControlPlane._engine_event's work for a home agent's event.
        def handle(event: object) -> None:
            recorder(event)
            if notifications and type(event) in SPECS_BY_EVENT:
                stream.record_event("home-agent", now, event)
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
    next_counters = started + PERIOD
    for first in range(0, len(data), BATCH):
        for datagram in data[first:first + BATCH]:
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
    assert agent.counters.registration_accepted - accepted_before == len(data)
    return len(data) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    now = time.time()
    data = requests(args.nodes, now)
    renewals = requests(args.nodes, now, offset=args.nodes)
    variants = ("reference", "deltas", "deltas+notifications")
    out: dict[str, object] = {}
    for scenario, first, timed in (("new-nodes", None, data), ("renewals", data, renewals)):
        rates: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(args.rounds):
            for variant in variants:
                rates[variant].append(run(timed, now, variant, first=first))
        reference = statistics.median(rates["reference"])
        out[scenario] = {v: {"registrations_per_s": round(statistics.median(r)),
                             "ratio": round(statistics.median(r) / reference, 3)}
                         for v, r in rates.items()}
    out["nodes"] = args.nodes
    out["rounds"] = args.rounds
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
