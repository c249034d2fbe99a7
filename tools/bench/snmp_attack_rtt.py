#!/usr/bin/env python3
"""The audit's measurement of issue 13 item 2, repeatable: a home agent's
registration round trip right after three SNMP datagrams with a wrong
community and a 60 KB run of continuation octets in one sub-identifier, beside
its round trip without them (same process, same run: the ratio is the figure).

``--v3-flood RATE``: instead, the round trip while another thread sends RATE
unauthenticated SNMPv3 datagrams a second (an unknown user, reportable, 128
varbinds: before ``agent.snmp.usm_screen`` each cost pyasn1 ~10-20 ms), beside
the round trip before the flood; 200 round trips each, p50 and p99, and how
many flood datagrams the agent counted (usmStatsUnknownUserNames, read with
net-snmp's snmpget at the end) of those sent.

Starts ``proxymip run`` with a home agent (127.0.0.2, high port) and an
``snmp-agent`` (read-only community "public") in one process, as every role
shares the process. Reference: 50 Registration Requests (deregistrations of
an unbound node, accepted: RFC 5944 §3.8.2.2) one after the other, p50 and
max. Then 10 trials of: three attack datagrams to the SNMP port, at once a
Registration Request; its round trip. Loopback only; bounded by timeouts.

    .venv/bin/python tools/bench/snmp_attack_rtt.py [--v3-flood 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.mobileip import replay  # noqa: E402
from agent.mobileip.builder import build_request  # noqa: E402
from agent.mobileip.security import SecurityAssociation  # noqa: E402

HA = "127.0.0.2"
NODE = "127.0.0.9"
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
TOP = "proxy-mobile-ip:mobile-ip"


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag, 0x82)) + len(content).to_bytes(2, "big") + content


def attack() -> bytes:
    varbind = tlv(0x30, tlv(0x06, b"\x2b" + b"\xff" * 60000 + b"\x7f") + b"\x05\x00")
    pdu = tlv(0xA0, b"\x02\x01\x07\x02\x01\x00\x02\x01\x00" + tlv(0x30, varbind))
    return tlv(0x30, b"\x02\x01\x01" + b"\x04\x05wrong" + pdu)


def unknown_user_v3(engine_id: bytes) -> bytes:
    """SNMPv3, reportable authNoPriv from user "nobody" (RFC 3412 §6), a
    GetRequest of 128 varbinds: what pysnmp decoded whole before USM said
    unknown user (RFC 3414 §3.2 step 4)."""
    def short(tag: int, content: bytes) -> bytes:
        return tlv(tag, content) if len(content) > 127 else bytes((tag, len(content))) + content

    header = short(0x30, b"\x02\x01\x01\x02\x03\x00\xff\xe3" + short(0x04, b"\x05") + b"\x02\x01\x03")
    usm = short(0x04, short(0x30, short(0x04, engine_id) + b"\x02\x01\x01\x02\x01\x00"
                             + short(0x04, b"nobody") + short(0x04, bytes(12)) + short(0x04, b"")))
    varbinds = b"".join(short(0x30, short(0x06, b"\x2b\x06\x01\x02\x01\x01\x01\x00") + b"\x05\x00")
                        for _ in range(128))
    pdu = short(0xA0, b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + short(0x30, varbinds))
    return short(0x30, b"\x02\x01\x03" + header + usm + short(0x30, short(0x04, b"") + short(0x04, b"") + pdu))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--v3-flood", type=float, default=0.0, metavar="RATE",
                        help="unauthenticated SNMPv3 datagrams a second during the measurement")
    flood_rate = parser.parse_args().v3_flood
    workdir = Path(tempfile.mkdtemp(prefix="snmp-attack-"))
    startup = workdir / "ha.json"
    startup.write_text(json.dumps({TOP: {
        "home-agent": {"address": HA, "home-network": "192.0.2.0/24", "listen": {"address": HA, "port": 0}},
        "security": {"host": [{"address": "192.0.2.1", "last-address": "192.0.2.254", "spi": 256,
                               "key-hex": KEY.hex()}]},
        "snmp-agent": {"listen": {"address": HA, "port": 0}, "community": [{"index": "ro", "secret": "public"}],
                       "user": [{"name": "ops", "auth-protocol": "sha", "auth-passphrase": "authpass123",
                                 "priv-protocol": "aes-128", "priv-passphrase": "privpass123"}]},
    }}))
    startup.chmod(0o600)
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--startup", str(startup)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        if not select.select([proc.stdout], [], [], 30)[0]:
            raise SystemExit("the agent did not start")
        endpoints = json.loads(proc.stdout.readline()[len("ready "):])
        ha_port = int(endpoints["home-agent"].rsplit(":", 1)[1])
        snmp_port = int(endpoints["snmp"].rsplit(":", 1)[1])
        sa = SecurityAssociation(256, KEY)
        sequence = [0]

        def round_trip(node: socket.socket) -> float:
            sequence[0] += 1
            request = build_request(home_address=IPv4Address("192.0.2.10"), home_agent=IPv4Address(HA),
                                    care_of_address=IPv4Address(NODE),
                                    identification=replay.ntp_identification(time.time(), sequence[0]),
                                    lifetime=0, sa=sa)
            started = time.perf_counter()
            node.sendto(request, (HA, ha_port))
            node.recv(2048)
            return time.perf_counter() - started

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as node, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
            node.bind((NODE, 0))
            node.settimeout(30)
            if flood_rate:
                print(json.dumps(flood(round_trip, node, attacker, (HA, snmp_port), flood_rate), indent=1))
                return
            reference = [round_trip(node) for _ in range(50)]
            datagram = attack()
            attacked = []
            for _ in range(10):
                for _ in range(3):
                    attacker.sendto(datagram, (HA, snmp_port))
                attacked.append(round_trip(node))
                time.sleep(0.05)
        p50 = statistics.median(reference)
        print(json.dumps({
            "date": time.strftime("%Y-%m-%d"), "load": os.getloadavg()[0],
            "reference_rtt_p50_ms": round(p50 * 1e3, 3), "reference_rtt_max_ms": round(max(reference) * 1e3, 3),
            "after_3_attack_datagrams_rtt_median_ms": round(statistics.median(attacked) * 1e3, 3),
            "after_3_attack_datagrams_rtt_max_ms": round(max(attacked) * 1e3, 3),
            "ratio_median_to_reference_p50": round(statistics.median(attacked) / p50, 1),
        }, indent=1))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def flood(round_trip: Any, node: socket.socket, attacker: socket.socket, snmp: tuple[str, int],
          rate: float) -> dict[str, Any]:
    """200 round trips before, then 200 while ``rate`` datagrams a second of
    ``unknown_user_v3`` go to the SNMP port (sent in bursts every 10 ms),
    each batch 10 ms apart."""
    def counted() -> int:
        out = subprocess.run(["snmpget", "-v2c", "-c", "public", "-t", "10", "-r", "3", "-Oqv",
                              f"{snmp[0]}:{snmp[1]}", "1.3.6.1.6.3.15.1.1.3.0"],
                             capture_output=True, text=True, timeout=60).stdout.strip()
        return int(out)

    def spaced() -> list[float]:
        """200 round trips 10 ms apart (2 s at least)."""
        out = []
        for _ in range(200):
            out.append(round_trip(node))
            time.sleep(0.01)
        return out

    from agent.snmp.server import engine_id_for
    from agent.snmp.settings import SnmpSettings

    reference = spaced()
    before = counted()
    # The agent's own snmpEngineID (derived from the configured listen address
    # and port 0), so USM gets as far as the user name.
    datagram = unknown_user_v3(engine_id_for(SnmpSettings(address=HA, port=0)))
    stop = threading.Event()
    sent = [0]

    def send() -> None:
        started = time.perf_counter()
        while not stop.is_set():
            due = int((time.perf_counter() - started) * rate)
            while sent[0] < due:
                try:
                    attacker.sendto(datagram, snmp)
                except OSError:
                    pass
                sent[0] += 1
            time.sleep(0.01)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        time.sleep(1.0)
        flooded = spaced()
    finally:
        stop.set()
        sender.join()
    time.sleep(2.0)  # let the agent finish what the kernel queued
    processed = counted() - before
    p50, p99 = percentile(reference, 0.5), percentile(reference, 0.99)
    f50, f99 = percentile(flooded, 0.5), percentile(flooded, 0.99)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"), "load": round(os.getloadavg()[0], 1), "flood_rate": rate,
        "datagram_octets": len(datagram), "flood_sent": sent[0], "flood_counted_unknown_user": processed,
        "reference_rtt_p50_ms": round(p50 * 1e3, 3), "reference_rtt_p99_ms": round(p99 * 1e3, 3),
        "flood_rtt_p50_ms": round(f50 * 1e3, 3), "flood_rtt_p99_ms": round(f99 * 1e3, 3),
        "ratio_p50": round(f50 / p50, 1), "ratio_p99": round(f99 / p99, 1),
    }


if __name__ == "__main__":
    main()
