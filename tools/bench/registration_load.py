#!/usr/bin/env python3
"""Registration load through FA -> HA on loopback, beside a bare asyncio UDP echo.

Starts the home agent and the foreign agent as two separate ``proxymip run``
processes on loopback (127.0.0.2 / 127.0.0.3, high ports), then drives N distinct
mobile nodes (home addresses from 198.18.0.0/15, the RFC 2544 benchmarking range;
they only appear inside payloads) through the foreign agent with a closed loop of
``--window`` outstanding requests. Every request carries a fresh NTP timestamp
and an HMAC-MD5 MHAE; the FA adds an FHAE, the HA checks both, creates the
binding and answers, the FA checks the FHAE and relays back.

Reference, same run, same generator, same window: a bare asyncio UDP echo server
process (the ceiling of one asyncio datagram hop on this machine).

Reports registrations/s, p50/p99 request->reply latency, RSS per binding in the
HA and per visitor in the FA (VmRSS after minus before, over N), and the ratio to
the echo ceiling. Traffic goes to loopback only and the run is bounded by N and
``--timeout``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Address
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.mobileip import replay  # noqa: E402
from agent.mobileip.builder import build_request  # noqa: E402
from agent.mobileip.security import SecurityAssociation  # noqa: E402

HA, FA, GEN = "127.0.0.2", "127.0.0.3", "127.0.0.4"
HA_PORT, FA_PORT = 43434, 43435
FIRST_HOME = IPv4Address("198.18.0.0")
MN_KEY = bytes(range(16))
PEER_KEY = bytes(range(16, 32))


def _hex(key: bytes) -> str:
    return ":".join(f"{b:02x}" for b in key)


def role_config(role: str, nodes: int) -> dict:
    last = FIRST_HOME + nodes - 1
    security = {
        "host": [{"address": str(FIRST_HOME), "last-address": str(last), "spi": 256,
                  "key-hex": _hex(MN_KEY)}],
        "peer": [{"address": FA if role == "ha" else HA, "spi": 300, "key-hex": _hex(PEER_KEY)}],
    }
    if role == "ha":
        body = {"home-agent": {"address": HA, "listen": {"address": HA, "port": HA_PORT},
                               "max-bindings": nodes + 10}}
    else:
        body = {"foreign-agent": {
            "address": FA, "listen": {"address": FA, "port": FA_PORT},
            "max-lifetime": 3600, "max-visitors": nodes + 10, "max-pending": 100000,
            "advertisement": {"enabled": False},
        }}
        # The FA only verifies MN-FA auth when it has host SAs: give it none, as
        # in a Cisco deployment where only the HA holds the MN-HA keys.
        security = {"peer": security["peer"]}
    body["security"] = security
    return {"proxy-mobile-ip:mobile-ip": body}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_agent(role: str, nodes: int, tmp: Path) -> subprocess.Popen[str]:
    path = tmp / f"{role}.json"
    path.write_text(json.dumps(role_config(role, nodes)))
    path.chmod(0o600)  # it holds keys: `run` refuses it readable by others
    args = [sys.executable, "-m", "agent.cli", "run", "--startup", str(path)]
    if os.environ.get("BENCH_PROFILE_DIR"):  # cProfile the agents (slows them down)
        out = Path(os.environ["BENCH_PROFILE_DIR"]) / f"{role}.prof"
        args[1:1] = ["-m", "cProfile", "-o", str(out)]
    if role == "fa":
        args += ["--home-agent-port", str(HA_PORT)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the agent says it is bound
    if not line.startswith("ready"):
        proc.kill()
        raise RuntimeError(f"{role} did not start: {line!r}")
    return proc


ECHO_SERVER = """
import asyncio, sys
class Echo(asyncio.DatagramProtocol):
    def connection_made(self, t): self.t = t
    def datagram_received(self, d, a): self.t.sendto(d, a)
async def main():
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(Echo, local_addr=(sys.argv[1], int(sys.argv[2])))
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def closed_loop(
    target: tuple[str, int], make, count: int, window: int, timeout: float
) -> tuple[float, list[float], int]:
    """Send ``count`` requests keeping ``window`` outstanding; ``make(i)`` returns
    (key, payload); replies are matched by their bytes 4:8 (home address)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((GEN, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.setblocking(False)
    sent_at: dict[bytes, float] = {}
    latencies: list[float] = []
    next_index = 0
    lost = 0
    start = time.perf_counter()
    deadline = start + timeout
    while (next_index < count or sent_at) and time.perf_counter() < deadline:
        while next_index < count and len(sent_at) < window:
            key, payload = make(next_index)
            sent_at[key] = time.perf_counter()
            sock.sendto(payload, target)
            next_index += 1
        readable, _, _ = select.select([sock], [], [], 1.0)
        if not readable:
            # Nothing for a second: count the outstanding ones as lost and go on.
            lost += len(sent_at)
            sent_at.clear()
            continue
        while True:
            try:
                data = sock.recv(2048)
            except BlockingIOError:
                break
            t0 = sent_at.pop(data[4:8], None)
            if t0 is not None:
                latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    lost += len(sent_at)
    sock.close()
    return elapsed, latencies, lost


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(nodes: int, window: int, timeout: float) -> dict:
    sa = SecurityAssociation(256, MN_KEY)
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        # Reference first: the bare echo ceiling.
        echo = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, HA, str(HA_PORT + 10)],
                                stdout=subprocess.PIPE, text=True)
        assert echo.stdout is not None
        echo.stdout.readline()
        payload = bytes(24) + bytes(40)  # about an RRQ's size

        def make_echo(i: int) -> tuple[bytes, bytes]:
            key = (int(FIRST_HOME) + i).to_bytes(4, "big")
            return key, payload[:4] + key + payload[8:]

        echo_elapsed, echo_lat, echo_lost = closed_loop((HA, HA_PORT + 10), make_echo, nodes, window, timeout)
        echo.send_signal(signal.SIGTERM)
        echo.wait()

        ha = start_agent("ha", nodes, tmp)
        fa = start_agent("fa", nodes, tmp)
        try:
            rss0 = {"ha": rss_kib(ha.pid), "fa": rss_kib(fa.pid)}
            cpu0 = {"ha": cpu_seconds(ha.pid), "fa": cpu_seconds(fa.pid),
                    "generator": cpu_seconds(os.getpid())}

            def make_registration(i: int) -> tuple[bytes, bytes]:
                home = FIRST_HOME + i
                ident = replay.ntp_identification(time.time(), rng.getrandbits(16))
                data = build_request(home_address=home, home_agent=IPv4Address(HA),
                                     care_of_address=IPv4Address(FA), identification=ident,
                                     lifetime=3000, sa=sa)
                return home.packed, data

            elapsed, latencies, lost = closed_loop((FA, FA_PORT), make_registration, nodes, window, timeout)
            rss1 = {"ha": rss_kib(ha.pid), "fa": rss_kib(fa.pid)}
            cpu1 = {"ha": cpu_seconds(ha.pid), "fa": cpu_seconds(fa.pid),
                    "generator": cpu_seconds(os.getpid())}
        finally:
            for proc in (fa, ha):
                proc.send_signal(signal.SIGTERM)
            final = {}
            for name, proc in (("fa", fa), ("ha", ha)):
                out, _ = proc.communicate(timeout=30)
                lines = [l for l in out.splitlines() if l.startswith("counters ")]
                final[name] = json.loads(lines[-1][len("counters "):]) if lines else {}
    ok = len(latencies)
    reg_rate = ok / elapsed
    echo_rate = len(echo_lat) / echo_elapsed
    return {
        "nodes": nodes,
        "window": window,
        "registrations_per_s": round(reg_rate),
        "registration_p50_ms": round(percentile(latencies, 0.5) * 1e3, 3),
        "registration_p99_ms": round(percentile(latencies, 0.99) * 1e3, 3),
        "registrations_lost": lost,
        "echo_per_s": round(echo_rate),
        "echo_p50_ms": round(percentile(echo_lat, 0.5) * 1e3, 3),
        "echo_lost": echo_lost,
        "ratio_to_echo": round(reg_rate / echo_rate, 3),
        "ha_bindings": final.get("ha", {}).get("home-agent", {}).get("bindings"),
        "fa_visitors": final.get("fa", {}).get("foreign-agent", {}).get("visitors"),
        "ha_rss_bytes_per_binding": round((rss1["ha"] - rss0["ha"]) * 1024 / nodes),
        "fa_rss_bytes_per_visitor": round((rss1["fa"] - rss0["fa"]) * 1024 / nodes),
        "cpu_us_per_registration": {
            name: round((cpu1[name] - cpu0[name]) / max(ok, 1) * 1e6) for name in cpu0
        },
        "machine": f"{os.cpu_count()} cpu, {sys.version.split()[0]}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    print(json.dumps(run(args.nodes, args.window, args.timeout), indent=2))


if __name__ == "__main__":
    main()
