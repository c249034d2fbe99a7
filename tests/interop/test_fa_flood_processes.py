"""A foreign agent process flooded with relayable garbage still registers a
valid node (docs/security.md, fuzzing finding 7): HA and FA as ``proxymip
run`` processes on loopback, real UDP (RFC 5944 §3.7).

The garbage is the worst case for the FA's pending table: well-formed
requests that its checks let through (no MN-FA SA: §3.7.2.1), naming home
agents on loopback addresses where nothing listens, so that each stays
pending until the timeout; some name the node's own home address. It comes
from three addresses, one of them the node's own (other ports), as the fuzz
harness sends it. The FA holds at most 100 pending requests here, so the
table is full after the second round. Before the fix, from then on the node's
registrations were denied 66.
"""

from __future__ import annotations

import random
import select
import socket
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
from tests.interop.test_processes import AgentProcess

HA, FA, NODE = "127.0.0.2", "127.0.0.3", "127.0.0.5"
FLOOD_SOURCES = (NODE, "127.0.0.66", "127.0.0.67")
#: Loopback addresses where no home agent listens: relayed requests stay pending.
SILENT_HOME_AGENTS = tuple(f"127.0.0.{n}" for n in range(90, 100))
NODE_HOME = "192.0.2.150"
MN_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
PEER_KEY = "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0"
SA = SecurityAssociation(256, MN_KEY)
GARBAGE_SA = SecurityAssociation(256, bytes(16))
TIMEOUT = 10.0
MAX_PENDING = 100
ROUNDS = 25
#: Per round: fits the FA's socket buffer, so the kernel drops none of it.
GARBAGE_PER_ROUND = 60


def _config(role: str) -> dict[str, object]:
    peer = [{"address": FA if role == "ha" else HA, "spi": 300, "key-hex": PEER_KEY}]
    if role == "ha":
        return {"proxy-mobile-ip:mobile-ip": {
            "home-agent": {"address": HA, "home-network": "192.0.2.0/24", "listen": {"address": HA, "port": 0}},
            "security": {"peer": peer, "host": [{"address": "192.0.2.1", "last-address": "192.0.2.254",
                                                 "spi": 256, "key-hex": MN_KEY.hex()}]}}}
    return {"proxy-mobile-ip:mobile-ip": {
        "foreign-agent": {"address": FA, "listen": {"address": FA, "port": 0}, "max-pending": MAX_PENDING,
                          "advertisement": {"enabled": False, "interval": "0"}},
        "security": {"peer": peer}}}


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[tuple[AgentProcess, AgentProcess]]:
    ha = AgentProcess("ha", tmp_path, config=_config("ha"))
    fa = AgentProcess("fa", tmp_path, "--home-agent-port", str(ha.port("home-agent")),
                      config=_config("fa"))
    try:
        yield ha, fa
    finally:
        for agent in (fa, ha):
            if agent.proc.poll() is None:
                agent.proc.kill()
            agent.proc.communicate()


def test_a_valid_node_registers_through_a_flooded_foreign_agent(
    agents: tuple[AgentProcess, AgentProcess],
) -> None:
    ha, fa = agents
    fa_address = (FA, fa.port("foreign-agent"))
    rng = random.Random(434)
    flooders = []
    node = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        node.bind((NODE, 0))
        node.settimeout(TIMEOUT)
        for source in FLOOD_SOURCES:
            for _ in range(2):  # two ports per source
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                flooders.append(sock)
                sock.bind((source, 0))
                sock.setblocking(False)
        answered = []
        for round_ in range(ROUNDS):
            for _ in range(GARBAGE_PER_ROUND):
                home = NODE_HOME if rng.random() < 0.3 else f"192.0.2.{rng.randint(1, 254)}"
                garbage = build_request(
                    home_address=IPv4Address(home), home_agent=IPv4Address(rng.choice(SILENT_HOME_AGENTS)),
                    care_of_address=IPv4Address(FA),
                    identification=replay.ntp_identification(time.time(), rng.getrandbits(16)),
                    lifetime=300, sa=GARBAGE_SA)
                rng.choice(flooders).sendto(garbage, fa_address)
            # The FA reads its socket in order: the node's request comes after
            # this round's garbage.
            ident = replay.ntp_identification(time.time(), round_)
            started = time.perf_counter()
            node.sendto(build_request(home_address=IPv4Address(NODE_HOME), home_agent=IPv4Address(HA),
                                      care_of_address=IPv4Address(FA), identification=ident,
                                      lifetime=300, sa=SA), fa_address)
            reply = decode_reply(node.recv(2048))
            answered.append(time.perf_counter() - started)
            assert check_reply(reply, sent_identification=ident, sa=SA).ok
            assert reply.code == ReplyCode.ACCEPTED, f"round {round_}: denied {reply.code}"
            for sock in flooders:  # the 66s the flood earned
                while select.select([sock], [], [], 0)[0]:
                    sock.recv(2048)
    finally:
        node.close()
        for sock in flooders:
            sock.close()
    counters = fa.stop()["foreign-agent"]
    ha_counters = ha.stop()["home-agent"]
    assert ha_counters["registration_accepted"] == ROUNDS
    # The table was full and the flood paid for it, counted.
    assert counters["pending_evicted"] > 0
    assert counters["insufficient_resource"] >= counters["pending_evicted"] + counters["pending_table_full"]
    assert counters["reg_requests_received"] == ROUNDS * (GARBAGE_PER_ROUND + 1)
    assert max(answered) < 2.0
