#!/usr/bin/env python3
"""The audit's measurement of issue 13 item 2, repeatable: a home agent's
registration round trip right after three SNMP datagrams with a wrong
community and a 60 KB run of continuation octets in one sub-identifier, beside
its round trip without them (same process, same run: the ratio is the figure).

Starts ``proxymip run`` with a home agent (127.0.0.2, high port) and an
``snmp-agent`` (read-only community "public") in one process, as every role
shares the process. Reference: 50 Registration Requests (deregistrations of
an unbound node, accepted: RFC 5944 §3.8.2.2) one after the other, p50 and
max. Then 10 trials of: three attack datagrams to the SNMP port, at once a
Registration Request; its round trip. Loopback only; bounded by timeouts.

    .venv/bin/python tools/bench/snmp_attack_rtt.py
"""

from __future__ import annotations

import json
import os
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


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="snmp-attack-"))
    startup = workdir / "ha.json"
    startup.write_text(json.dumps({TOP: {
        "home-agent": {"address": HA, "home-network": "192.0.2.0/24", "listen": {"address": HA, "port": 0}},
        "security": {"host": [{"address": "192.0.2.1", "last-address": "192.0.2.254", "spi": 256,
                               "key-hex": KEY.hex()}]},
        "snmp-agent": {"listen": {"address": HA, "port": 0}, "community": [{"index": "ro", "secret": "public"}]},
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


if __name__ == "__main__":
    main()
