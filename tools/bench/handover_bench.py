"""Handover benchmark (root only): association -> traffic again, in the
namespace lab with association by hostapd and the access points' ARP
interception (tools/lab/netns_lab.py). Prints JSON.

    python3 tools/bench/handover_bench.py [--roams 20] [--fast-arp-ms 50]

Phases, in one lab, one after the other:

1. ``stock``: the mobile node with the kernel's stock ARP settings pings the
   correspondent node (an on-link home address for it) every 2 ms while it
   roams --roams times between access points A and B. A handover is the time
   from the association at the new access point (hostapd's AP-STA-CONNECTED,
   as the lab's own monitor receives it) to the first echo reply to a request
   sent after it; also from the mobile node's EAPOL-Start.
2. ``fast-arp``: the same with the mobile node's ARP retransmit time at
   --fast-arp-ms (net.ipv4.neigh.wlan0.retrans_time_ms), beside it.
3. ``tcp``: one TCP stream (200 writes of 512 bytes a second) across --roams
   roams; the longest gap between two arrivals at the correspondent.

Same-run references: the registration time (association -> the home agent's
binding and both data planes at the new care-of address, polled every 5 ms
over the control channels) and the echo round trip while not roaming.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from tools.lab.netns_lab import CN, MN, NetnsLab  # noqa: E402

SETTLE = 0.3
PORT = 9009


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))], 1)


def _ratio(value: float | None, reference: float | None) -> float | None:
    return round(value / reference, 2) if value is not None and reference else None


def _summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50-ms": _percentile(values, 0.5), "p99-ms": _percentile(values, 0.99),
            "max-ms": round(max(values), 1) if values else None}


def _other(ap: str) -> str:
    return "ap-b" if ap == "ap-a" else "ap-a"


def _proxy_counters(lab: NetnsLab) -> dict[str, int]:
    total: dict[str, int] = {}
    for ap in ("ap-a", "ap-b"):
        counters = lab.control(ap, {"op": "state", "rows": False})["proxy"]["counters"]
        for name in ("denied-by-home-agent", "denied-due-to-identification", "retransmissions"):
            total[name] = total.get(name, 0) + counters[name]
    return total


def roams(lab: NetnsLab, count: int) -> dict[str, Any]:
    """``count`` roams under a 2 ms probe to the CN."""
    before = _proxy_counters(lab)
    prober = lab.namespaces.python("mn", "tools.lab.traffic", "probe", "--source", MN,
                                   "--destination", CN, "--interval", "0.002",
                                   "--duration", str(1.0 + count * (SETTLE + 0.6)),
                                   stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    moves: list[tuple[float, float | None]] = []
    registered: list[float] = []
    steady_until = time.monotonic()
    for _ in range(count):
        to = _other(lab.mn_at)
        started = lab.roam(to)
        fa = "fa-" + to[-1]
        lab.wait(lambda fa=fa: lab.settled_at(fa), timeout=10, what="registration after the move")
        associated = lab.associated_at(to, after=started)
        moves.append((started, associated))
        if associated is not None:
            registered.append((time.monotonic() - associated) * 1000)
        time.sleep(SETTLE)
    result = json.loads(prober.communicate(timeout=count * 3 + 30)[0])
    replies = result["replies"]
    from_association: list[float] = []
    from_eapol_start: list[float] = []
    for started, associated in moves:
        for origin, into in ((associated, from_association), (started, from_eapol_start)):
            if origin is None:
                continue
            after = [received for sent, received in replies if sent >= origin]
            if after:
                into.append((min(after) - origin) * 1000)
    steady = [(received - sent) * 1000 for sent, received in replies if received < steady_until]
    after_counters = _proxy_counters(lab)
    return {
        "roams": count,
        "association-to-first-reply": _summary(from_association),
        "eapol-start-to-first-reply": _summary(from_eapol_start),
        "reference-association-to-registered": _summary(registered),
        "reference-echo-rtt-p50-ms": _percentile(steady, 0.5),
        "ratio-p50-to-registered": _ratio(_percentile(from_association, 0.5),
                                          _percentile(registered, 0.5)),
        "echo-requests": result["sent"], "echo-replies": len(replies),
        "proxy": {k: after_counters[k] - before[k] for k in after_counters},
        "interception": {ap: lab.interception_counters(ap) for ap in ("ap-a", "ap-b")},
    }


def tcp_stream(lab: NetnsLab, count: int) -> dict[str, Any]:
    sink = lab.namespaces.python("cn", "tools.lab.traffic", "tcp-sink", "--address", CN,
                                 "--port", str(PORT), stdout=subprocess.PIPE, text=True)
    assert _line(sink, 10) == "listening"
    source = lab.namespaces.python("mn", "tools.lab.traffic", "tcp-source", "--source", MN,
                                   "--destination", CN, "--port", str(PORT), "--rate", "200",
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert _line(source, 10) == "connected"
    time.sleep(0.5)
    for _ in range(count):
        to = _other(lab.mn_at)
        lab.roam(to)
        lab.wait(lambda to=to: lab.settled_at("fa-" + to[-1]), timeout=10, what="registration")
        time.sleep(SETTLE)
    time.sleep(0.5)
    assert source.stdin is not None
    source.stdin.close()
    sent = json.loads(_line(source, 30))
    received = json.loads(_line(sink, 30))
    return {"roams": count, "bytes-sent": sent["bytes"], "bytes-received": received["bytes"],
            "intact": sent["sha256"] == received["sha256"], "reset": sent["error"] or received["error"],
            "longest-gap-ms": received["longest-gap-ms"],
            "writes-per-second": 200, "reference-write-interval-ms": 5.0}


def _line(process: subprocess.Popen[str], timeout: float) -> str:
    out = process.stdout
    assert out is not None
    ready, _, _ = select.select([out], [], [], timeout)
    return out.readline().strip() if ready else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roams", type=int, default=20)
    parser.add_argument("--fast-arp-ms", type=int, default=50)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("handover_bench: needs root (network namespaces)", file=sys.stderr)
        return 2
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, "
                   f"Linux {platform.release()}, Python {platform.python_version()}",
        "load-average": os.getloadavg(),
    }
    with NetnsLab(reverse_tunnel=True) as lab:
        lab.associate(lab.mn_at)
        lab.wait(lambda: lab.settled_at("fa-" + lab.mn_at[-1]), timeout=10, what="registration")
        stock = lab.namespaces.check("mn", ["sysctl", "-n", "net.ipv4.neigh.wlan0.retrans_time_ms"])
        report["stock"] = roams(lab, args.roams) | {"mn-arp-retrans-ms": int(stock)}
        lab.namespaces.sysctl("mn", {"net.ipv4.neigh.wlan0.retrans_time_ms": args.fast_arp_ms})
        report["fast-arp"] = roams(lab, args.roams) | {"mn-arp-retrans-ms": args.fast_arp_ms}
        lab.namespaces.sysctl("mn", {"net.ipv4.neigh.wlan0.retrans_time_ms": int(stock)})
        report["tcp"] = tcp_stream(lab, args.roams)
    report["load-average-after"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
