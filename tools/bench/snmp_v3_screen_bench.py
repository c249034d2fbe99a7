#!/usr/bin/env python3
"""What an unauthenticated SNMPv3 datagram costs the agent's receive path,
before and after ``agent.snmp.usm_screen`` (issue 13), beside a valid SNMPv2c
GetRequest answered in the same run (the ratio is the figure to compare
across machines).

One ``SnmpAgent`` in this process, on loopback. Each datagram is handed to
the agent's receive path as its transport does (the screen and fast path,
then pysnmp's dispatch when they let it through), synchronously; any reply
goes to a socket of ours and is drained. CPU per datagram, best of 5 runs.
"Before" is the same agent with the v3 screen's verdict forced to ACCEPT:
what pysnmp did with the datagram before the screen existed (pyasn1 decodes
all of it, USM rejects it and sends its Report). Datagrams: an unknown user,
a wrong digest for a configured user and a foreign engine ID, each with 1 and
with 128 varbinds (the most the structural walk lets through); reference: a
one-varbind v2c GetRequest of sysDescr.0 (the BER fast path).

    .venv/bin/python tools/bench/snmp_v3_screen_bench.py [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.unit.test_snmp_usm_screen import SIGNER_KEY, agent_with_users, v3  # noqa: E402

from agent.snmp import usm_screen  # noqa: E402


def v2c_get() -> bytes:
    from tests.unit.test_snmp_screen import SYS_DESCR, message

    return message([SYS_DESCR])


def per_call(function: Callable[[], object], calls: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


async def measure(calls: int) -> dict[str, Any]:
    agent = agent_with_users()
    await agent.start()
    transport = agent._transport
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    address = sink.getsockname()

    def drain() -> None:
        try:
            while True:
                sink.recv(65535)
        except BlockingIOError:
            pass

    def receive(datagram: bytes) -> Callable[[], None]:
        def once() -> None:
            reply = agent._first_look(datagram)
            if reply is None:
                transport._dispatch(address, datagram)
            elif reply:
                transport.transport.sendto(reply, address)
            drain()
        return once

    cases = {
        "unknown user, 1 varbind": v3(user=b"nobody"),
        "unknown user, 128 varbinds": v3(user=b"nobody", varbinds=128),
        "wrong digest, 128 varbinds": v3(key=SIGNER_KEY, varbinds=128),
        "foreign engine ID, 128 varbinds": v3(engine_id=b"\x80\x00\x1f\x88\x04evil", varbinds=128),
    }
    results: dict[str, Any] = {}
    try:
        reference = per_call(receive(v2c_get()), calls)
        results["reference: valid v2c GetRequest (us)"] = round(reference * 1e6, 1)
        for name, datagram in cases.items():
            after = per_call(receive(datagram), calls)
            original = usm_screen.screen_v3
            usm_screen.screen_v3 = lambda data, engine_id, users: (usm_screen.V3Verdict.ACCEPT, None)
            try:
                before = per_call(receive(datagram), max(1, calls // 10))
            finally:
                usm_screen.screen_v3 = original
            results[name] = {
                "before (us)": round(before * 1e6, 1), "after (us)": round(after * 1e6, 1),
                "before / v2c get": round(before / reference, 2), "after / v2c get": round(after / reference, 2),
                "speed-up": round(before / after, 1),
            }
    finally:
        agent.close()
        sink.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    calls = parser.parse_args().calls
    header = {"date": time.strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
              "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "load": round(os.getloadavg()[0], 1), "calls": calls}
    print(json.dumps({**header, **asyncio.run(measure(calls))}, indent=1))


if __name__ == "__main__":
    main()
