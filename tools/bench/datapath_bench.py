"""Data-path benchmark (root only): the userspace IP-in-IP tunnel against plain
veth forwarding between the same two namespaces, in one run, and handover time
in the full namespace lab. Prints JSON.

    python3 tools/bench/datapath_bench.py [--duration 2] [--roams 20]

Throughput: a UDP sender in namespace a, a sink in namespace b, joined by one
veth pair. "plain" sends veth address to veth address; "tunnel" sends between
addresses routed into the userspace tunnel (tools.lab.dataplane_helper at both
ends), so each datagram crosses a TUN device, Python, a raw socket, the veth, a
raw socket, Python and a TUN. Rates are what the sink received (the sender is
unthrottled: the excess is dropped where the path saturates).

Handover: in tools.lab.netns_lab, the mobile node pings the correspondent node
every 2 ms while it roams between foreign networks A and B; a handover is the
time from the mobile node's attachment at the new access point (its link
comes back) to the first echo reply to a request sent after it (p50, p99, max
over --roams moves).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from tools.lab.dataplane_helper import PAIR_A, PAIR_B, tunnel_pair
from tools.lab.netns import Namespaces

SIZES = {"small": 64, "large": 1400}


def _blast(ns: Namespaces, source: str, destination: str, size: int, duration: float) -> dict:
    sink = ns.python("b", "tools.lab.traffic", "udp-sink", "--duration", str(duration + 1.5),
                     stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None
    assert sink.stdout.readline().strip() == "listening"
    sent = json.loads(ns.check("a", [sys.executable, "-m", "tools.lab.traffic", "udp-blast",
                                     "--source", source, "--destination", destination,
                                     "--size", str(size), "--duration", str(duration)],
                               timeout=duration + 30))
    got = json.loads(sink.communicate(timeout=duration + 30)[0])
    seconds = max(got["last"] - got["first"], 1e-9) if got["packets"] > 1 else duration
    return {
        "sent-pps": round(sent["sent"] / duration),
        "received-pps": round(got["packets"] / seconds),
        "received-mbps": round(got["octets"] * 8 / seconds / 1e6, 1),
        "delivered": round(got["packets"] / max(sent["sent"], 1), 3),
    }


def throughput(duration: float) -> dict:
    with Namespaces() as ns:
        a, b = tunnel_pair(ns)
        out: dict = {}
        for label, size in SIZES.items():
            plain = _blast(ns, "198.51.100.1", "198.51.100.2", size, duration)
            tunnel = _blast(ns, PAIR_A, PAIR_B, size, duration)
            out[label] = {
                "payload-bytes": size,
                "plain": plain,
                "tunnel": tunnel,
                "ratio-pps": round(tunnel["received-pps"] / max(plain["received-pps"], 1), 3),
            }
        out["tunnel-counters"] = {"a": a.close(), "b": b.close()}
    return out


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def handover(roams: int, mn_arp_retrans_ms: int | None) -> dict:
    from tools.lab.netns_lab import CN, MN, NetnsLab

    # The control-channel lab (carrier drop on a roam, the FA's proxy ARP), as
    # this figure has always been measured; association by hostapd and the
    # access points' interception: tools/bench/handover_bench.py.
    with NetnsLab(association="control") as lab:
        if mn_arp_retrans_ms is not None:
            lab.namespaces.sysctl("mn", {"net.ipv4.neigh.wlan0.retrans_time_ms": mn_arp_retrans_ms})
        lab.associate("ap-a")
        lab.wait(lambda: lab.settled_at("fa-a"), timeout=10, what="registration at A")
        settle = 0.4
        prober = lab.namespaces.python("mn", "tools.lab.traffic", "probe", "--source", MN,
                                       "--destination", CN, "--interval", "0.002",
                                       "--duration", str(1.0 + roams * (settle + 0.3)),
                                       stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        moves = []
        settled = []
        for i in range(roams):
            to = "ap-b" if lab.mn_at == "ap-a" else "ap-a"
            moves.append(lab.roam(to))
            fa = "fa-b" if to == "ap-b" else "fa-a"
            settled.append(1000 * lab.wait(
                lambda fa=fa: lab.settled_at(fa), timeout=10,
                what="registration after the move"))
            time.sleep(settle)
        result = json.loads(prober.communicate(timeout=roams * 2 + 30)[0])
    replies = result["replies"]
    times = []
    for moved in moves:
        after = [received for sent, received in replies if sent >= moved]
        if after:
            times.append((min(after) - moved) * 1000)
    return {
        "roams": roams, "measured": len(times),
        "mn-arp-retrans-ms": mn_arp_retrans_ms or 1000,
        # Move -> HA binding, HA and FA data planes all at the new care-of address.
        "registered-p50-ms": round(_percentile(settled, 0.5), 1),
        "registered-p99-ms": round(_percentile(settled, 0.99), 1),
        # Move -> first echo reply to a request sent after the move.
        "p50-ms": round(_percentile(times, 0.5), 1) if times else None,
        "p99-ms": round(_percentile(times, 0.99), 1) if times else None,
        "max-ms": round(max(times), 1) if times else None,
        "probe-interval-ms": 2,  # the agents drive their data planes (no polling)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per throughput run")
    parser.add_argument("--roams", type=int, default=20)
    parser.add_argument("--skip-handover", action="store_true")
    parser.add_argument("--mn-arp-retrans-ms", type=int, default=None,
                        help="also measure with the mobile node's ARP retransmit at this value")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("datapath_bench: needs root (network namespaces)", file=sys.stderr)
        return 2
    report = {"throughput": throughput(args.duration)}
    if not args.skip_handover:
        report["handover"] = handover(args.roams, None)
        if args.mn_arp_retrans_ms is not None:
            report["handover-fast-arp"] = handover(args.roams, args.mn_arp_retrans_ms)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
