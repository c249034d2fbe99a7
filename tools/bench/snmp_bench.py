#!/usr/bin/env python3
"""SNMP agent throughput and latency, beside Debian's snmpd in the same run.

1. Walk. A home agent with 100,000 bindings, registered through the engine
   (real Registration Requests, HMAC-MD5 authenticated), serves SNMP in a
   subprocess (this script re-run with ``--serve``: the client's CPU is not
   charged to the agent). net-snmp's ``snmpbulkwalk -v2c -On`` walks
   haMobilityBindingTable (8 columns x 100,000 rows = 800,000 varbinds);
   the same client with the same options walks Debian ``snmpd``'s own tree
   (``.1``, started here on a loopback high port with a read-only community)
   as many times as it takes to reach 100,000 varbinds. varbinds/s = lines
   printed / wall time of the client processes; the ratio is the figure.
   Both are done with max-repetitions 10 (the client's default) and 50, in
   alternation, 3 trials each; the best trial and the median are reported.
   The client's own start-up (a walk of one scalar) is measured and shown.
2. GET latency under load. In the same agent process the home agent also
   serves its UDP socket (``EngineRunner``, as in ``proxymip run``); a load
   subprocess sends it re-registrations of the 100,000 nodes at 2,000/s
   (paced, replies drained). Meanwhile a raw UDP client sends 2,000 SNMPv2c
   GETs of haRegistrationAccepted.0 one after the other and times each
   round trip; p50 / p99 / max, beside the same without load. The load
   achieved (replies/s) is reported and checked.
3. For scale, one SNMPv3 authPriv walk of one column (100,000 varbinds): v3
   requests go through pysnmp's message processing, not the v2c fast path.

    .venv/bin/python tools/bench/snmp_bench.py [--bindings 100000] [--trials 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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

HA = IPv4Address("127.0.0.1")
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
TABLE = ".1.3.6.1.2.1.44.1.6.3.1"  # haMobilityBindingTable
ACCEPTED = (1, 3, 6, 1, 2, 1, 44, 1, 6, 3, 3, 0)  # haRegistrationAccepted.0
FIRST_HOME = int(IPv4Address("10.0.0.1"))
CARE_OF = "127.0.0.1"


def home(index: int) -> IPv4Address:
    return IPv4Address(FIRST_HOME + index)


# -- the agent process --------------------------------------------------------------


async def serve(bindings: int) -> None:
    from agent.aio.engine_runner import EngineRunner
    from agent.mobileip import replay
    from agent.mobileip.builder import build_request
    from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
    from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable
    from agent.mobileip.violations import ViolationLog
    from agent.snmp.instrumentation import build_tree
    from agent.snmp.server import SnmpAgent
    from agent.snmp.settings import SnmpCommunity, SnmpSettings, SnmpUser
    from agent.snmp.sources import Sources

    table = SecurityAssociationTable()
    table.add_range(home(0), home(bindings), SecurityAssociation(256, KEY))
    engine = HomeAgent(HomeAgentSettings(HA, max_lifetime=36000, max_bindings=bindings + 10),
                       mobile_nodes=table)
    now = time.time()
    for i in range(bindings):
        data = build_request(home_address=home(i), home_agent=HA, care_of_address=IPv4Address(CARE_OF),
                             identification=replay.ntp_identification(now, i & 0xFFFF), lifetime=36000,
                             sa=SecurityAssociation(256, KEY))
        engine.receive_datagram(data, IPv4Address(CARE_OF), 434, now)
        engine.datagrams_to_send()
        while engine.next_event() is not None:
            pass
    assert engine.binding_count == bindings, engine.binding_count
    runner = EngineRunner.open(engine, name="home-agent", address=str(HA), port=0)
    sources = Sources(lambda: engine, lambda: None, lambda: None, ViolationLog, dict, started_at=now)
    agent = SnmpAgent(SnmpSettings(address="127.0.0.1", port=0,
                                   communities=(SnmpCommunity("ro", "public"),),
                                   users=(SnmpUser("bench", "sha", "authpass123", "aes-128", "privpass123"),)),
                      lambda stats: build_tree(sources, stats=stats), clock=time.time)
    await agent.start()
    print(json.dumps({"snmp": agent.port, "home-agent": runner.local_address[1]}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until EOF
    agent.close()
    runner.close()


# -- the load process: re-registrations at a fixed rate ----------------------------------


def load(port: int, rate: float, seconds: float, bindings: int) -> None:
    from agent.mobileip import replay
    from agent.mobileip.builder import build_request
    from agent.mobileip.security import SecurityAssociation

    sa = SecurityAssociation(256, KEY)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((CARE_OF, 0))
    sock.setblocking(False)
    sent = replies = 0
    start = time.monotonic()
    next_index = 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            index = next_index % bindings
            next_index += 1
            data = build_request(home_address=home(index), home_agent=HA, care_of_address=IPv4Address(CARE_OF),
                                 identification=replay.ntp_identification(time.time(), sent & 0xFFFF),
                                 lifetime=36000, sa=sa)
            sock.sendto(data, (str(HA), port))
            sent += 1
        try:
            while True:
                sock.recv(2048)
                replies += 1
        except BlockingIOError:
            pass
        time.sleep(0.001)
    deadline = time.monotonic() + 1.0
    sock.settimeout(0.1)
    while replies < sent and time.monotonic() < deadline:
        try:
            sock.recv(2048)
            replies += 1
        except TimeoutError:
            pass
    print(json.dumps({"sent": sent, "replies": replies, "seconds": seconds}), flush=True)


# -- the client side -------------------------------------------------------------------------


def walk(args: list[str]) -> tuple[int, float]:
    """(lines, seconds) of one snmpbulkwalk."""
    start = time.perf_counter()
    proc = subprocess.run(["snmpbulkwalk", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode())
    return proc.stdout.count(b"\n"), elapsed


def start_snmpd(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    snmpd = shutil.which("snmpd") or "/usr/sbin/snmpd"
    if not os.path.exists(snmpd):
        raise SystemExit("Debian snmpd is needed for the reference: apt-get install snmpd")
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    conf = workdir / "snmpd.conf"
    conf.write_text("rocommunity public 127.0.0.1\n")
    env = dict(os.environ, MIBS="", MIBDIRS=str(workdir))  # no MIB files needed
    proc = subprocess.Popen([snmpd, "-f", "-Lf", str(workdir / "snmpd.log"), "-C", "-c", str(conf),
                             "-p", str(workdir / "snmpd.pid"), f"udp:127.0.0.1:{port}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            walk(["-v2c", "-c", "public", "-t", "0.2", "-r", "0", f"127.0.0.1:{port}", "1.3.6.1.2.1.1.1"])
            return proc, port
        except RuntimeError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("snmpd did not start")


def encode_get(request_id: int, oid: tuple[int, ...]) -> bytes:
    from agent.snmp import ber

    oid_tlv = ber.OidEncoder().encode(oid, 0)
    varbind = b"\x30" + bytes((len(oid_tlv) + 2,)) + oid_tlv + b"\x05\x00"
    varbinds = b"\x30" + bytes((len(varbind),)) + varbind
    rid = request_id.to_bytes(4, "big")
    pdu = b"\x02\x04" + rid + b"\x02\x01\x00\x02\x01\x00" + varbinds
    pdu = b"\xa0" + bytes((len(pdu),)) + pdu
    body = b"\x02\x01\x01\x04\x06public" + pdu
    return b"\x30" + bytes((len(body),)) + body


def get_latencies(port: int, count: int) -> list[float]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2.0)
    out = []
    for i in range(count):
        data = encode_get(i + 1, ACCEPTED)
        start = time.perf_counter()
        sock.sendto(data, ("127.0.0.1", port))
        reply = sock.recv(65535)
        out.append(time.perf_counter() - start)
        assert reply[:1] == b"\x30"
    sock.close()
    return out


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=3, type=float, metavar=("PORT", "RATE", "SECONDS"), help=argparse.SUPPRESS)
    parser.add_argument("--bindings", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--gets", type=int, default=2000)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.bindings))
        return 0
    if args.load:
        load(int(args.load[0]), args.load[1], args.load[2], args.bindings)
        return 0

    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  host {os.uname().nodename}  "
          f"cpus {os.cpu_count()}  python {sys.version.split()[0]}")
    version = subprocess.run(["snmpbulkwalk", "--version"], capture_output=True, text=True)
    print("client", (version.stdout + version.stderr).strip())
    started = time.perf_counter()
    agent = subprocess.Popen([sys.executable, __file__, "--serve", "--bindings", str(args.bindings)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert agent.stdout is not None
    ports = json.loads(agent.stdout.readline())
    print(f"agent ready with {args.bindings} bindings in {time.perf_counter() - started:.1f} s")
    workdir = Path(tempfile.mkdtemp(prefix="snmp-bench-"))
    snmpd, snmpd_port = start_snmpd(workdir)
    try:
        ours = f"127.0.0.1:{ports['snmp']}"
        theirs = f"127.0.0.1:{snmpd_port}"
        startup = statistics.median(
            walk(["-v2c", "-c", "public", "-On", theirs, "1.3.6.1.2.1.1.1"])[1] for _ in range(10))
        print(f"client start-up (walk of one scalar): {startup * 1000:.1f} ms")
        lines_per_snmpd_walk = walk(["-v2c", "-c", "public", "-On", theirs, ".1"])[0]
        snmpd_walks = max(1, -(-100_000 // lines_per_snmpd_walk))
        print(f"snmpd's tree: {lines_per_snmpd_walk} varbinds; {snmpd_walks} walks per trial")
        for repetitions in (10, 50):
            options = ["-v2c", "-c", "public", "-On", f"-Cr{repetitions}"]
            ours_rates, theirs_rates = [], []
            for _ in range(args.trials):
                lines, seconds = walk([*options, ours, TABLE])
                assert lines == 8 * args.bindings, lines
                ours_rates.append(lines / seconds)
                total_lines, total_seconds = 0, 0.0
                for _ in range(snmpd_walks):
                    n, s = walk([*options, theirs, ".1"])
                    total_lines += n
                    total_seconds += s
                theirs_rates.append(total_lines / total_seconds)
            best_ours, best_theirs = max(ours_rates), max(theirs_rates)
            print(f"-Cr{repetitions}: proxymip {best_ours:,.0f} varbinds/s (median {statistics.median(ours_rates):,.0f}), "
                  f"snmpd {best_theirs:,.0f} (median {statistics.median(theirs_rates):,.0f}); "
                  f"ratio best {best_ours / best_theirs:.2f}, median "
                  f"{statistics.median(ours_rates) / statistics.median(theirs_rates):.2f}")

        # SNMPv3 authPriv goes through pysnmp's message processing (no fast
        # path): one column, 100,000 varbinds, for scale.
        v3 = ["-v3", "-l", "authPriv", "-u", "bench", "-a", "SHA", "-A", "authpass123", "-x", "AES",
              "-X", "privpass123", "-On", "-Cr50"]
        lines, seconds = walk([*v3, ours, TABLE + ".1.1"])
        assert lines == args.bindings, lines
        print(f"SNMPv3 authPriv (SHA, AES-128) -Cr50, one column: {lines / seconds:,.0f} varbinds/s")

        idle = get_latencies(ports["snmp"], args.gets)
        seconds = max(3.0, args.gets / 500)
        loader = subprocess.Popen([sys.executable, __file__, "--load", str(ports["home-agent"]), str(args.rate),
                                   str(seconds), "--bindings", str(args.bindings)],
                                  stdout=subprocess.PIPE, text=True, cwd=ROOT)
        time.sleep(0.5)  # the load reaches its rate
        busy = get_latencies(ports["snmp"], args.gets)
        out, _ = loader.communicate(timeout=seconds + 30)
        achieved = json.loads(out.strip().splitlines()[-1])
        for name, values in (("idle", idle), (f"under {args.rate:.0f} registrations/s", busy)):
            print(f"GET haRegistrationAccepted.0 {name}: p50 {percentile(values, 0.5) * 1e3:.2f} ms, "
                  f"p99 {percentile(values, 0.99) * 1e3:.2f} ms, max {max(values) * 1e3:.2f} ms ({len(values)} GETs)")
        print(f"load: {achieved['sent']} requests sent, {achieved['replies']} replies in {achieved['seconds']:.1f} s "
              f"({achieved['replies'] / achieved['seconds']:,.0f}/s)")
    finally:
        snmpd.terminate()
        snmpd.wait(10)
        assert agent.stdin is not None
        agent.stdin.close()
        agent.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
