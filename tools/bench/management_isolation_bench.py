#!/usr/bin/env python3
"""Management isolation (issue 14): registration round trip while operators read.

A home agent (``proxymip run``, loopback, NETCONF and SNMP enabled) is filled
with N bindings (default 100,000; a closed loop of real HMAC-MD5 authenticated
Registration Requests, RFC 5944 §3.3, collocated care-of addresses, so no
foreign agent is in the path). Then a pacer subprocess re-registers those nodes
at a fixed rate (default 2,000/s, a fresh NTP Identification each, RFC 5944
§5.7) and records every request's send time and round trip for the whole run.
Meanwhile this script runs, one after the other, with quiet gaps between them:

- ``quiet``: nothing but the paced registrations (the reference);
- ``show bindings``: ``proxymip show bindings`` (NETCONF over SSH, every row);
- ``watch``: ``proxymip watch --interval 2 --count K`` (reads everything again
  every 2 s);
- ``snmp walk``: net-snmp ``snmpbulkwalk -v2c`` of haMobilityBindingTable;
- ``netconf get``: ncclient ``<get>`` with a subtree filter selecting
  ``home-agent-state`` (N binding rows and N mobile-node-counters rows).
  ncclient offers base:1.0 only (``--ncclient-base 1.0``, the default): the
  agent sends a reply as one RFC 6242 chunk, and ncclient 0.7.1's chunk
  parser decodes its whole buffer again on every read until the chunk is
  complete (``transport/parser.py`` ``_parse11``), which takes minutes of
  client CPU for 100,000 rows; its end-of-message parser does not;
- ``quiet (after)``: the reference again, to show the agent recovered.

Each phase's figures are the requests *sent* inside its window: p50, p99, max
round trip and how many got no answer within ``--reply-timeout`` (counted, not
in the percentiles). Every loaded p99 is reported as a ratio to the quiet p99
of the same run (issue 14 asks for <= 2x), and, independent of the window's
length (ncclient's own parsing of a 100,000-row reply takes minutes of
client CPU), how many registrations took more than twice the quiet p99. The reads' own durations and sizes
are reported beside them. Traffic is loopback only; every process started here
is stopped here, by its pid.

With ``--planes one,two`` (the default) the whole sequence runs twice in one
invocation: against the one-process ``proxymip run`` (the reference) and
against ``proxymip run --planes two``, where every read is answered by the
management plane's mirror and the engines run in the control plane process.

    .venv/bin/python tools/bench/management_isolation_bench.py [--nodes 100000] [--rate 2000] [--planes one,two]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools" / "bench"))

from registration_load import FIRST_HOME, MN_KEY, _hex, closed_loop, percentile  # noqa: E402

HA = "127.0.0.2"
GENERATOR = "127.0.0.4"
#: The built-in NACM policy's administrator (agent/lab.py's lab user).
USER, PASSWORD = "admin", "admin"
MODULE_NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
BINDING_TABLE = ".1.3.6.1.2.1.44.1.6.3.1"  # haMobilityBindingTable (RFC 2006)
LIFETIME = 3000  # no binding expires during the run


def ha_config(nodes: int) -> dict[str, Any]:
    from agent.netconf.server import sha_crypt

    last = FIRST_HOME + nodes - 1
    return {"proxy-mobile-ip:mobile-ip": {
        "home-agent": {"address": HA, "listen": {"address": HA, "port": 0},
                       "max-bindings": nodes + 10},
        "security": {"host": [{"address": str(FIRST_HOME), "last-address": str(last),
                               "spi": 256, "key-hex": _hex(MN_KEY)}]},
        "netconf-server": {"listen": {"address": HA, "port": 0},
                           "user": [{"name": USER,
                                     "password": sha_crypt(PASSWORD, "$6$proxymipbench")}]},
        "snmp-agent": {"listen": {"address": HA, "port": 0},
                       "community": [{"index": "ro", "secret": "public"}]},
    }}


def start_home_agent(nodes: int, tmp: Path, planes: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    path = tmp / "ha.json"
    path.write_text(json.dumps(ha_config(nodes)))
    path.chmod(0o600)  # it holds keys
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--startup", str(path),
                             "--planes", planes], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the agent says it is bound
    if not line.startswith("ready "):
        proc.kill()
        raise RuntimeError(f"home agent did not start: {line!r}")
    return proc, json.loads(line[len("ready "):])


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def registration_maker(ha_port: int, rng: random.Random) -> Callable[[int], tuple[bytes, bytes]]:
    from agent.mobileip import replay
    from agent.mobileip.builder import build_request
    from agent.mobileip.security import SecurityAssociation

    sa = SecurityAssociation(256, MN_KEY)
    home_agent, care_of = IPv4Address(HA), IPv4Address(GENERATOR)

    def make(index: int) -> tuple[bytes, bytes]:
        home = FIRST_HOME + index
        identification = replay.ntp_identification(time.time(), rng.getrandbits(16))
        data = build_request(home_address=home, home_agent=home_agent, care_of_address=care_of,
                             identification=identification, lifetime=LIFETIME, sa=sa)
        return home.packed, data

    return make


# -- the pacer (this script with --pace, its own process) ------------------------------


def pace(ha_port: int, nodes: int, rate: float, reply_timeout: float, out: Path) -> None:
    """Re-register nodes 0, 1, ... (cycling) at ``rate`` per second until a
    line arrives on stdin; then write ``[[sent_monotonic, rtt_or_null], ...]``
    to ``out``. Replies are matched by home address (bytes 4:8 of the reply,
    RFC 5944 §3.4); one outstanding request per node at most."""
    make = registration_maker(ha_port, random.Random(2))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((GENERATOR, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setblocking(False)
    target = (HA, ha_port)
    interval = 1.0 / rate
    records: list[list[float | None]] = []
    outstanding: dict[bytes, int] = {}  # home address -> index into records
    index = 0
    start = next_send = time.monotonic()
    stdin = sys.stdin.fileno()
    print("pacing", flush=True)
    while True:
        now = time.monotonic()
        while next_send <= now:
            key, payload = make(index % nodes)
            if key not in outstanding:
                outstanding[key] = len(records)
                records.append([time.monotonic(), None])
                sock.sendto(payload, target)
            index += 1
            next_send = start + index * interval
        readable, _, _ = select.select([sock, stdin], [], [], max(0.0, next_send - time.monotonic()))
        if stdin in readable:
            break
        if sock in readable:
            while True:
                try:
                    data = sock.recv(2048)
                except BlockingIOError:
                    break
                arrived = time.monotonic()
                slot = outstanding.pop(data[4:8], None)
                if slot is not None:
                    records[slot][1] = arrived - records[slot][0]  # type: ignore[operator]
        if len(records) % 1000 == 0:
            cutoff = time.monotonic() - reply_timeout
            for key in [k for k, slot in outstanding.items() if records[slot][0] < cutoff]:  # type: ignore[operator]
                del outstanding[key]
    # Drain what is still in flight for up to reply_timeout.
    deadline = time.monotonic() + reply_timeout
    while outstanding and time.monotonic() < deadline:
        if select.select([sock], [], [], 0.2)[0]:
            while True:
                try:
                    data = sock.recv(2048)
                except BlockingIOError:
                    break
                arrived = time.monotonic()
                slot = outstanding.pop(data[4:8], None)
                if slot is not None:
                    records[slot][1] = arrived - records[slot][0]  # type: ignore[operator]
    for slot in outstanding.values():  # past the timeout: lost
        records[slot][1] = None
    for record in records:
        if record[1] is not None and record[1] > reply_timeout:
            record[1] = None
    out.write_text(json.dumps(records))


# -- the management reads -------------------------------------------------------------


def _cli(*args: str, netconf_port: int) -> list[str]:
    return [sys.executable, "-m", "agent.cli", *args, "--host", HA, "--port", str(netconf_port),
            "--user", USER, "--password", PASSWORD, "--no-host-key-check", "--timeout", "600"]


NCCLIENT_GET = """
import sys
from ncclient import manager
from ncclient.devices.default import DefaultDeviceHandler

class Base10(DefaultDeviceHandler):
    def get_capabilities(self):
        return [c for c in super().get_capabilities() if not c.endswith(":base:1.1")]

host, port, user, password, namespace, base = sys.argv[1:7]
device = {"handler": Base10} if base == "1.0" else None
with manager.connect(host=host, port=int(port), username=user, password=password,
                     hostkey_verify=False, allow_agent=False, look_for_keys=False,
                     timeout=1200, device_params=device) as m:
    reply = m.get(filter=("subtree", f'<mobile-ip xmlns="{namespace}"><home-agent-state/></mobile-ip>'))
    text = reply.xml
    print(len(text), text.count("<binding>"))
"""


def run_read(name: str, argv: list[str]) -> dict[str, Any]:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=False, timeout=1200)
    ended = time.monotonic()
    result: dict[str, Any] = {"name": name, "start": started, "end": ended,
                              "seconds": round(ended - started, 2), "exit": proc.returncode,
                              "output_bytes": len(proc.stdout),
                              "output_lines": proc.stdout.count(b"\n")}
    if proc.returncode != 0:
        result["stderr"] = proc.stderr.decode(errors="replace")[-500:]
    return result


def phase_figures(records: list[list[float | None]], start: float, end: float,
                  ) -> dict[str, Any]:
    inside = [r for r in records if start <= r[0] < end]  # type: ignore[operator]
    answered = [r[1] for r in inside if r[1] is not None]
    return {
        "sent": len(inside),
        "answered": len(answered),
        "lost": len(inside) - len(answered),
        "p50_ms": round(percentile(answered, 0.50) * 1e3, 2),  # type: ignore[arg-type]
        "p99_ms": round(percentile(answered, 0.99) * 1e3, 2),  # type: ignore[arg-type]
        "max_ms": round(max(answered) * 1e3, 2) if answered else None,  # type: ignore[type-var]
    }


def run(nodes: int, rate: float, quiet: float, gap: float, watch_count: int,
        reply_timeout: float, ncclient_base: str, planes: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        ha, endpoints = start_home_agent(nodes, tmp, planes)
        pacer: subprocess.Popen[str] | None = None
        try:
            ha_port = _port(endpoints["home-agent"])
            netconf_port, snmp_port = _port(endpoints["netconf"]), _port(endpoints["snmp"])
            fill_elapsed, fill_latencies, fill_lost = closed_loop(
                (HA, ha_port), registration_maker(ha_port, random.Random(1)), nodes, 64, 600.0)
            # Let the collector's freeze (gc_policy, every 10 s) take in the new state.
            time.sleep(12)
            records_path = tmp / "records.json"
            pacer = subprocess.Popen(
                [sys.executable, __file__, "--pace", str(ha_port), "--nodes", str(nodes),
                 "--rate", str(rate), "--reply-timeout", str(reply_timeout),
                 "--records", str(records_path)],
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert pacer.stdout is not None and pacer.stdin is not None
            pacer.stdout.readline()
            time.sleep(2)  # past the pacer's start
            windows: list[dict[str, Any]] = []

            def quiet_phase(name: str) -> None:
                started = time.monotonic()
                time.sleep(quiet)
                windows.append({"name": name, "start": started, "end": time.monotonic()})

            quiet_phase("quiet")
            reads = [
                ("show bindings", _cli("show", "bindings", netconf_port=netconf_port)),
                ("watch", _cli("watch", "--interval", "2", "--count", str(watch_count),
                               netconf_port=netconf_port)),
                ("snmp walk", ["snmpbulkwalk", "-v2c", "-c", "public", "-On", "-t", "60", "-r", "0",
                               f"{HA}:{snmp_port}", BINDING_TABLE]),
                ("netconf get", [sys.executable, "-c", NCCLIENT_GET, HA, str(netconf_port), USER,
                                 PASSWORD, MODULE_NS, ncclient_base]),
            ]
            for name, argv in reads:
                time.sleep(gap)
                windows.append(run_read(name, argv))
            time.sleep(gap)
            quiet_phase("quiet (after)")
            pacer.stdin.write("stop\n")
            pacer.stdin.flush()
            pacer.wait(timeout=reply_timeout + 60)
            pacer = None
            records = json.loads(records_path.read_text())
        finally:
            if pacer is not None:
                pacer.kill()
                pacer.wait()
            ha.send_signal(signal.SIGTERM)
            out, _ = ha.communicate(timeout=60)
    counter_lines = [line for line in out.splitlines() if line.startswith("counters ")]
    final = json.loads(counter_lines[-1][len("counters "):]) if counter_lines else {}
    phases: list[dict[str, Any]] = []
    for window in windows:
        figures = phase_figures(records, window["start"], window["end"])
        phase = {k: v for k, v in window.items() if k not in ("start", "end")}
        phase.setdefault("seconds", round(window["end"] - window["start"], 2))
        phases.append(phase | figures)
    quiet_p99 = phases[0]["p99_ms"]
    for phase, window in zip(phases, windows):
        if phase is not phases[0]:
            phase["p99_ratio_to_quiet"] = round(phase["p99_ms"] / quiet_p99, 2) if quiet_p99 else None
        # Independent of how long the window is (a slow client stretches it):
        # how many registrations took more than twice the quiet p99.
        limit = 2 * quiet_p99 / 1e3
        phase["over_2x_quiet_p99"] = sum(
            1 for r in records if window["start"] <= r[0] < window["end"]  # type: ignore[operator]
            and r[1] is not None and r[1] > limit)  # type: ignore[operator]
    return {
        "planes": planes,
        "nodes": nodes,
        "rate_per_s": rate,
        "ncclient_base": ncclient_base,
        "fill": {"registrations_per_s": round(len(fill_latencies) / fill_elapsed),
                 "lost": fill_lost},
        "ha_bindings_at_end": final.get("home-agent", {}).get("bindings"),
        "phases": phases,
        "machine": f"{os.cpu_count()} cpu, Python {sys.version.split()[0]}",
        "load_average": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=2000.0, help="paced registrations per second")
    parser.add_argument("--quiet", type=float, default=20.0, help="seconds of each quiet phase")
    parser.add_argument("--gap", type=float, default=5.0, help="quiet seconds between reads")
    parser.add_argument("--watch-count", type=int, default=3, help="screens of proxymip watch")
    parser.add_argument("--reply-timeout", type=float, default=30.0)
    parser.add_argument("--ncclient-base", choices=("1.0", "1.1"), default="1.0",
                        help="NETCONF framing ncclient offers (1.1: its chunk parser is "
                             "quadratic in a one-chunk reply; minutes for 100,000 rows)")
    parser.add_argument("--planes", default="one,two",
                        help="proxymip run --planes of each run, in this order (one: the single "
                             "process, the reference; two: the management and control planes)")
    parser.add_argument("--pace", type=int, metavar="HA_PORT", help=argparse.SUPPRESS)
    parser.add_argument("--records", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pace is not None:
        pace(args.pace, args.nodes, args.rate, args.reply_timeout, args.records)
        return
    print(json.dumps([run(args.nodes, args.rate, args.quiet, args.gap, args.watch_count,
                          args.reply_timeout, args.ncclient_base, planes)
                      for planes in args.planes.split(",")], indent=2))


if __name__ == "__main__":
    main()
