"""The fuzzing harness (tools/fuzz, issue 13) kept from rotting: a short run,
~2,000 mutated messages per interface (UDP 434 of the home agent, the foreign
agent and the proxy, ICMP agent discovery, SNMP v2c/v3, the control socket,
NETCONF after login) at a real ``proxymip run`` in a network namespace the
harness creates and deletes. Every interface must have been fuzzed in full,
the agent must be alive, have logged no traceback, and have answered every
valid request before and during the run. The full run (1,000,000 per
interface) and its figures are in docs/security.md; this is not a benchmark.

Also the harness's own parts: the mutators are deterministic for a seed and
do what they say (a length lie changes a TLV length octet, a splice joins two
messages at element boundaries), so a reported run can be reproduced."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, require_module, require_tool
from tools.fuzz import corpus, mutate
from tools.fuzz.interfaces import INTERFACES


def test_same_seed_same_mutations_and_corpus() -> None:
    def run(seed: int) -> list[tuple[bytes, str]]:
        rng = random.Random(seed)
        messages = corpus.registration_requests(rng)
        return [mutate.mutate(rng, messages, mutate.Shape(tlv_start=24)) for _ in range(500)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_length_lie_changes_one_extension_length_octet() -> None:
    rng = random.Random(3)
    message = corpus.registration_requests(rng)[0]  # header (24) + extensions
    boundaries = {pos + 1 for _, pos in mutate._tlv_offsets(message, mutate.Shape(tlv_start=24))}
    assert boundaries, "the walk must find the MHAE at least"
    for _ in range(50):
        lied = mutate.length_lie(rng, message, mutate.Shape(tlv_start=24), message)
        changed = [i for i in range(len(message)) if lied[i] != message[i]]
        assert len(lied) == len(message) and len(changed) <= 1
        assert set(changed) <= boundaries


def test_splice_joins_two_messages_at_extension_boundaries() -> None:
    rng = random.Random(5)
    first, second = corpus.registration_requests(rng, 2)
    shape = mutate.Shape(tlv_start=24)
    heads = {first[:pos] for _, pos in mutate._tlv_offsets(first, shape)}
    tails = {second[pos:] for _, pos in mutate._tlv_offsets(second, shape)}
    for _ in range(30):
        spliced = mutate.splice(rng, first, shape, second)
        assert any(spliced.startswith(h) and spliced[len(h):] in tails for h in heads)


def test_ber_length_lie_walks_nested_tlvs() -> None:
    message = corpus.snmp_v2c_request("public", corpus.GET, 0x10000001, [(1, 3, 6, 1, 2, 1, 1, 3, 0)])
    elements = mutate._tlv_offsets(message, mutate.Shape(ber=True))
    tags = {message[at] for _, at in elements}
    # SEQUENCE, INTEGER, OCTET STRING, GetRequest-PDU, OID, NULL (X.690; RFC 3416).
    assert {0x30, 0x02, 0x04, 0xA0, 0x06, 0x05} <= tags


def test_short_run_on_every_interface(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the harness needs root (a network namespace, raw ICMP sockets)")
    require_tool("ip")
    require_tool("snmpget")
    require_module("asyncssh")
    out = tmp_path / "fuzz.json"
    run = subprocess.run(
        [sys.executable, "-m", "tools.fuzz", "--count", "2000", "--check-every", "1000",
         "--probes", "20", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    report = json.loads(out.read_text())
    results = {r["interface"]: r for r in report["results"]}
    assert set(results) == set(INTERFACES)
    for name, result in results.items():
        assert result["tried"] == 2000, name
        assert result["crashes"] == 0 and result["tracebacks"] == 0, (name, report["traceback_excerpts"])
        assert result["unanswered_syncs"] == 0, name
        assert all(c["alive"] and c["unanswered"] == 0 for c in result["checkpoints"]), name
        assert len(result["checkpoints"]) == 2, name
    assert report["agent_exit_status"] == 0


def test_tracebacks_in_the_agents_log_are_counted_and_quoted(tmp_path: Path) -> None:
    """What makes a run fail: each "Traceback" the agent logged, quoted."""
    from tools.fuzz.target import Target

    agent = Target(tmp_path)
    assert agent.tracebacks() == 0  # no log yet
    agent.log_path.write_text("start\nx ERROR boom\nTraceback (most recent call last):\n  File a\nValueError: 1\n"
                              "ok\nTraceback (most recent call last):\nOverflowError: 2\n")
    assert agent.tracebacks() == 2
    excerpts = agent.log_excerpts()
    assert len(excerpts) == 2 and "ValueError: 1" in excerpts[0] and "OverflowError: 2" in excerpts[1]
