"""HA and FA as separate ``proxymip run`` processes exchanging real datagrams on
loopback, driven by a mobile node on a UDP socket (RFC 5944 §3.6-§3.8).

Endpoints are ephemeral ports on 127.0.0.x; each agent prints one ``ready`` line
once bound (no sleeping for start-up) and its counters on SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from agent.mobileip import replay
from agent.mobileip.builder import build_request, check_reply
from agent.mobileip.numbers import ReplyCode
from agent.mobileip.registration import decode_reply
from agent.mobileip.security import SecurityAssociation
from tests.conftest import ROOT, require_tool

HA, FA, MN_SOURCE = "127.0.0.2", "127.0.0.3", "127.0.0.5"
MN_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
PEER_KEY = "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0"
SA = SecurityAssociation(256, MN_KEY)
TIMEOUT = 10.0


def _config(role: str) -> dict[str, object]:
    security = {
        "host": [{"address": "192.0.2.1", "last-address": "192.0.2.254", "spi": 256,
                  "key-hex": MN_KEY.hex()}],
        "peer": [{"address": FA if role == "ha" else HA, "spi": 300, "key-hex": PEER_KEY}],
    }
    if role == "ha":
        body: dict[str, object] = {"home-agent": {"address": HA, "home-network": "192.0.2.0/24",
                                                  "listen": {"address": HA, "port": 0}}}
    else:
        body = {"foreign-agent": {"address": FA, "listen": {"address": FA, "port": 0},
                                  "advertisement": {"enabled": False, "interval": "0"}}}
        security = {"peer": security["peer"]}
    body["security"] = security
    return {"proxy-mobile-ip:mobile-ip": body}


class AgentProcess:
    def __init__(self, role: str, tmp: Path, *extra: str,
                 config: dict[str, object] | None = None) -> None:
        path = tmp / f"{role}.json"
        path.write_text(json.dumps(config if config is not None else _config(role)))
        path.chmod(0o600)  # it holds keys
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--startup", str(path), *extra],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self._readline()
        assert line.startswith("ready "), line
        self.endpoints = {k: v for k, v in json.loads(line[6:]).items()}

    def _readline(self) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        if not ready:
            self.proc.kill()
            raise AssertionError("agent did not report ready in time")
        return self.proc.stdout.readline()

    def port(self, name: str) -> int:
        return int(self.endpoints[name].rsplit(":", 1)[1])

    def stop(self) -> dict[str, dict[str, int]]:
        """SIGTERM, then the last counters line the agent printed."""
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=TIMEOUT)
        assert self.proc.returncode == 0, err
        lines = [line for line in out.splitlines() if line.startswith("counters ")]
        return json.loads(lines[-1][len("counters "):])


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[tuple[AgentProcess, AgentProcess]]:
    ha = AgentProcess("ha", tmp_path)
    fa = AgentProcess("fa", tmp_path, "--home-agent-port", str(ha.port("home-agent")))
    try:
        yield ha, fa
    finally:
        for agent in (fa, ha):
            if agent.proc.poll() is None:
                agent.proc.kill()
            agent.proc.communicate()  # waits, and closes its pipes


@pytest.fixture
def closing() -> Iterator[contextlib.ExitStack]:
    """What a test opens (sockets) is closed when it ends, passed or failed."""
    with contextlib.ExitStack() as stack:
        yield stack


class MobileNode:
    def __init__(self, fa_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((MN_SOURCE, 0))
        self.sock.settimeout(TIMEOUT)
        self.fa = (FA, fa_port)

    def __enter__(self) -> MobileNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def register(self, home: str, lifetime: int, *, ident: int | None = None) -> tuple[int, object]:
        ident = ident if ident is not None else replay.ntp_identification(time.time(), 7)
        data = build_request(home_address=IPv4Address(home), home_agent=IPv4Address(HA),
                             care_of_address=IPv4Address(FA), identification=ident,
                             lifetime=lifetime, sa=SA)
        self.sock.sendto(data, self.fa)
        reply = decode_reply(self.sock.recv(2048))
        assert check_reply(reply, sent_identification=ident, sa=SA).ok
        return ident, reply


def test_registration_through_fa_and_ha_processes(
    agents: tuple[AgentProcess, AgentProcess], closing: contextlib.ExitStack
) -> None:
    """RRQ MN -> FA -> HA, RRP HA -> FA -> MN over real UDP; FA-HA authenticated
    with FHAE both ways (RFC 5944 §3.7.2.2, §3.8.3.1)."""
    ha, fa = agents
    node = closing.enter_context(MobileNode(fa.port("foreign-agent")))
    for i in range(10):
        _, reply = node.register(f"192.0.2.{10 + i}", 300)
        assert reply.code == ReplyCode.ACCEPTED and reply.lifetime == 300  # type: ignore[attr-defined]
    # Deregister one: lifetime 0.
    _, reply = node.register("192.0.2.10", 0)
    assert reply.code == ReplyCode.ACCEPTED and reply.lifetime == 0  # type: ignore[attr-defined]
    fa_counters = fa.stop()["foreign-agent"]
    ha_counters = ha.stop()["home-agent"]
    assert ha_counters["bindings"] == 9 and fa_counters["visitors"] == 9
    assert ha_counters["reg_requests_received"] == 11 and ha_counters["dereg_requests_received"] == 1
    assert ha_counters["registration_accepted"] == 11
    assert ha_counters["fa_authentication_failure"] == 0
    assert fa_counters["reg_requests_relayed"] == 11 and fa_counters["reg_replies_relayed"] == 11


def test_bad_input_is_answered_or_counted_and_service_continues(
    agents: tuple[AgentProcess, AgentProcess], closing: contextlib.ExitStack
) -> None:
    """Garbage, truncated and unauthenticated datagrams never stop the agents
    (RFC 5944 §3.7.2.1, §3.8.2.1)."""
    ha, fa = agents
    node = closing.enter_context(MobileNode(fa.port("foreign-agent")))
    junk = closing.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    junk.bind((MN_SOURCE, 0))
    for payload in (b"", b"\x01", b"\x03" * 3, os.urandom(600), b"\x01" + bytes(23) + b"\x63\x00"):
        junk.sendto(payload, (FA, fa.port("foreign-agent")))
        junk.sendto(payload, (HA, ha.port("home-agent")))
    # A request with the wrong key is denied 131 by the HA, relayed by the FA.
    wrong = SecurityAssociation(256, bytes(16))
    ident = replay.ntp_identification(time.time(), 9)
    node.sock.sendto(build_request(home_address=IPv4Address("192.0.2.50"), home_agent=IPv4Address(HA),
                                   care_of_address=IPv4Address(FA), identification=ident,
                                   lifetime=300, sa=wrong), node.fa)
    denied = decode_reply(node.sock.recv(2048))
    assert denied.code == ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION
    # Still serving a valid node.
    _, reply = node.register("192.0.2.51", 300)
    assert reply.code == ReplyCode.ACCEPTED  # type: ignore[attr-defined]
    fa_counters = fa.stop()
    ha_counters = ha.stop()
    assert ha_counters["home-agent"]["mn_authentication_failure"] == 1
    assert ha_counters["security"]["total-violations"] == 1
    assert ha_counters["home-agent"]["bindings"] == 1
    assert ha_counters["home-agent"]["datagrams_discarded"] >= 4
    assert fa_counters["foreign-agent"]["datagrams_discarded"] >= 4


def test_live_capture_decodes_cleanly_in_tshark(
    agents: tuple[AgentProcess, AgentProcess], tmp_path: Path, closing: contextlib.ExitStack
) -> None:
    """Capture the real exchange on loopback and let Wireshark's dissector judge
    it: every message decodes, none is malformed, the reply codes are right."""
    tshark = require_tool("tshark")
    if os.geteuid() != 0:
        pytest.skip("live capture needs root")
    ha, fa = agents
    ports = (ha.port("home-agent"), fa.port("foreign-agent"))
    capture = tmp_path / "live.pcap"
    proc = subprocess.Popen(
        [tshark, "-i", "lo", "-f", f"udp port {ports[0]} or udp port {ports[1]}", "-w", str(capture)],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:  # tshark says when its capture is live
            ready, _, _ = select.select([proc.stderr], [], [], TIMEOUT)
            if ready and "Capture started" in proc.stderr.readline():
                break
        node = closing.enter_context(MobileNode(ports[1]))
        node.register("192.0.2.77", 300)
        node.register("192.0.2.77", 0)
        time.sleep(0.5)  # let the kernel hand the last frames to the capture
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=TIMEOUT)  # reads and closes its stderr
    decode = [tshark, "-r", str(capture), "-d", f"udp.port=={ports[0]},mip",
              "-d", f"udp.port=={ports[1]},mip"]
    verbose = subprocess.run([*decode, "-V"], capture_output=True, text=True, check=True).stdout
    assert "Malformed" not in verbose
    fields = subprocess.run(
        [*decode, "-T", "fields", "-e", "mip.type", "-e", "mip.code", "-e", "mip.homeaddr"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")
    rows = [line.split("\t") for line in fields if line.strip()]
    assert [r[0] for r in rows] == ["1", "1", "3", "3", "1", "1", "3", "3"]
    assert all(r[2] == "192.0.2.77" for r in rows)
    assert [r[1] for r in rows if r[0] == "3"] == ["0", "0", "0", "0"]


def test_invalid_startup_is_refused_naming_the_path_and_left_untouched(tmp_path: Path) -> None:
    """An invalid startup file stops the agent before it binds anything, with a
    one-line error naming the data path and the rule (issue: datastore, item 8)."""
    path = tmp_path / "bad.json"
    config = _config("ha")
    config["proxy-mobile-ip:mobile-ip"]["security"]["host"][0]["spi"] = 5  # type: ignore[index]
    text = json.dumps(config)
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "run", "--startup", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 2
    assert "ready" not in proc.stdout
    assert "/security/host" in proc.stderr and "spi" in proc.stderr and "range" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert MN_KEY.hex() not in proc.stderr  # no key in the message
    assert path.read_text() == text


def _checkpoint_config(tmp_path: Path) -> Path:
    config = _config("ha")
    body = config["proxy-mobile-ip:mobile-ip"]
    body["state-checkpoint"] = {"file": "state.json", "interval": "0.1"}  # type: ignore[index]
    path = tmp_path / "ha.json"
    path.write_text(json.dumps(config))
    path.chmod(0o600)  # it holds keys
    return path


def _run_until_ready(startup: Path) -> tuple[str, str, int]:
    """Start ``proxymip run``, wait for its ready line (or its exit), stop it."""
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--startup", str(startup)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
        first = proc.stdout.readline() if ready else ""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return first + out, err, proc.returncode


def test_a_checkpoint_with_bad_records_is_taken_in_part_and_the_agent_starts(tmp_path: Path) -> None:
    """Issue 13 item 8: ``"lifetime": 1e999`` (+inf in JSON) raised
    OverflowError at start and the agent never started. Now each bad row is
    skipped with its reason in the log, the good ones are restored."""
    startup = _checkpoint_config(tmp_path)
    now = time.time()
    good = [int(IPv4Address("192.0.2.10")), None, None,
            [[int(IPv4Address(FA)), int(IPv4Address(FA)), 434, 0, 5, 600, now, now + 600]]]
    bad = [int(IPv4Address("192.0.2.11")), None, None,
           [[int(IPv4Address(FA)), int(IPv4Address(FA)), 434, 0, 5, "LIFETIME", now, now + 600]]]
    document = {"format": "proxymip-state-checkpoint/1", "written-at": now,
                "home-agent": {"node-fields": ["home-address", "last-identification", "nonce", "bindings"],
                               "binding-fields": ["care-of-address", "source-address", "source-port", "flags",
                                                  "identification", "lifetime", "registered-at", "expires-at"],
                               "nodes": [good, bad]}}
    (tmp_path / "state.json").write_text(json.dumps(document).replace('"LIFETIME"', "1e999"))
    out, err, code = _run_until_ready(startup)
    assert out.startswith("ready "), err
    assert code == 0 and "Traceback" not in err
    assert "1 skipped, home-agent binding: lifetime: not an integer" in err
    # Written again on shutdown: the good binding was restored, the bad one not.
    saved = json.loads((tmp_path / "state.json").read_text())["home-agent"]["nodes"]
    assert [node[0] for node in saved] == [int(IPv4Address("192.0.2.10"))]


def test_an_unreadable_checkpoint_is_moved_aside_and_the_agent_starts(tmp_path: Path) -> None:
    startup = _checkpoint_config(tmp_path)
    garbage = "[" * 100_000
    (tmp_path / "state.json").write_text(garbage)
    out, err, code = _run_until_ready(startup)
    assert out.startswith("ready "), err
    assert code == 0 and "Traceback" not in err
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("state.json.unreadable.")]
    assert len(aside) == 1 and aside[0].read_text() == garbage
    assert "moved to" in err and "nested too deeply" in err
