"""Each row of a state checkpoint checked before an engine restores it
(``agent.aio.checkpoint_records``, issue 13 item 8): a bad value in any field
skips that row with its reason and is counted, the good rows are restored, and
nothing raises; a file that is not a checkpoint is moved aside
(``agent.aio.checkpoint.read_checkpoint``). The process-level test (the agent
starts with ``"lifetime": 1e999`` in its checkpoint) is in
``tests/interop/test_processes.py``."""

from __future__ import annotations

import json
import random
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from agent.aio.checkpoint import FORMAT, moved_aside_path, read_checkpoint
from agent.aio.checkpoint_records import FIELD_CHECKS, screen_checkpoint
from agent.mobileip.foreign_agent import VISITOR_FIELDS
from agent.mobileip.home_agent import BINDING_FIELDS, NODE_FIELDS, HomeAgent

from test_pair import NOW, make_world

HOME = int(IPv4Address("10.1.2.1"))
COA = int(IPv4Address("192.0.2.1"))


def binding(**changes: Any) -> list[Any]:
    row = dict(zip(BINDING_FIELDS, [COA, COA, 434, 0, 5, 600, NOW - 10, NOW + 590]))
    row.update(changes)
    return [row[name] for name in BINDING_FIELDS]


def visitor(**changes: Any) -> list[Any]:
    row = dict(zip(VISITOR_FIELDS, [HOME, COA, COA, HOME, 434, 0, 5, 600, NOW - 10, NOW + 590]))
    row.update(changes)
    return [row[name] for name in VISITOR_FIELDS]


def home_agent_part(nodes: list[Any]) -> dict[str, Any]:
    return {"node-fields": NODE_FIELDS, "binding-fields": BINDING_FIELDS, "nodes": nodes}


def test_every_field_of_the_engines_layouts_has_a_check() -> None:
    assert set(NODE_FIELDS) - {"bindings"} | set(BINDING_FIELDS) | set(VISITOR_FIELDS) == set(FIELD_CHECKS)


BAD_BINDINGS = [
    ({"lifetime": float("inf")}, "lifetime: not an integer"),  # "lifetime": 1e999
    ({"lifetime": 70000}, "lifetime: out of range"),
    ({"lifetime": True}, "lifetime: not an integer"),
    ({"care-of-address": -1}, "care-of-address: out of range"),
    ({"care-of-address": 1 << 32}, "care-of-address: out of range"),
    ({"source-address": "192.0.2.1"}, "source-address: not an integer"),
    ({"source-port": 65536}, "source-port: out of range"),
    ({"flags": 256}, "flags: out of range"),
    ({"identification": 1 << 64}, "identification: out of range"),
    ({"registered-at": float("nan")}, "registered-at: not a finite time"),
    ({"expires-at": float("inf")}, "expires-at: not a finite time"),
    ({"expires-at": -1.0}, "expires-at: not a finite time"),
    ({"expires-at": "soon"}, "expires-at: not a number"),
    ({"registered-at": NOW + 10, "expires-at": NOW}, "expires-at: not within a lifetime"),
    ({"registered-at": NOW + 10**6, "expires-at": NOW + 10**6 + 600}, "later than a lifetime from now"),
]


@pytest.mark.parametrize(("changes", "reason"), BAD_BINDINGS)
def test_a_bad_binding_is_skipped_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    good = [HOME + 1, None, None, [binding()]]
    bad = [HOME, None, None, [binding(**changes), binding(**{"care-of-address": COA + 1})]]
    screened = screen_checkpoint({"format": FORMAT, "home-agent": home_agent_part([good, bad])}, NOW)
    assert screened.skipped_count == 1
    (counted,) = screened.skipped
    assert counted.startswith("home-agent binding: ") and reason in counted
    nodes = screened.parts["home-agent"]["nodes"]
    assert [len(node[3]) for node in nodes] == [1, 1]  # the other binding of the node kept


@pytest.mark.parametrize(("node", "reason"), [
    ([HOME, None, None], "not a row of 4 fields"),
    ("node", "not a row of 4 fields"),
    ([HOME, -5, None, []], "last-identification: out of range"),
    ([HOME, None, 1.5, []], "nonce: not an integer"),
    ([HOME, None, None, {}], "bindings: not a list"),
    ([None, None, None, []], "home-address: not an integer"),
])
def test_a_bad_node_is_skipped_with_its_reason(node: Any, reason: str) -> None:
    screened = screen_checkpoint({"home-agent": home_agent_part([node, [HOME + 1, 7, None, [binding()]]])}, NOW)
    (counted,) = screened.skipped
    assert counted.startswith(f"home-agent node: {reason}")
    assert screened.parts["home-agent"]["nodes"] == [[HOME + 1, 7, None, [binding()]]]


def test_duplicates_are_skipped() -> None:
    screened = screen_checkpoint({
        "home-agent": home_agent_part([[HOME, None, None, [binding(), binding()]], [HOME, 3, None, []]]),
        "foreign-agent": {"visitor-fields": VISITOR_FIELDS, "visitors": [visitor(), visitor()]},
    }, NOW)
    assert screened.skipped == {"home-agent binding: care-of-address: a second binding for it": 1,
                                "home-agent node: home-address: a second node for it": 1,
                                "foreign-agent visitor: home-address: a second visitor for it": 1}


def test_bad_visitors_and_layouts() -> None:
    screened = screen_checkpoint({
        "foreign-agent": {"visitor-fields": VISITOR_FIELDS,
                          "visitors": [visitor(lifetime=float("inf")), visitor(**{"home-agent": None}), [1, 2],
                                       visitor(**{"home-address": HOME + 1})]},
        "home-agent": {"node-fields": ["something", "else"], "nodes": []},
    }, NOW)
    assert screened.skipped == {"foreign-agent visitor: lifetime: not an integer": 1,
                                "foreign-agent visitor: home-agent: not an integer": 1,
                                "foreign-agent visitor: not a row of 10 fields": 1,
                                "home-agent: not this version's layout": 1}
    assert [row[0] for row in screened.parts["foreign-agent"]["visitors"]] == [HOME + 1]
    assert "home-agent" not in screened.parts


def test_what_passes_restores_in_the_engine_without_raising() -> None:
    """The screened part of a document full of bad values restores into a real
    home agent: the good rows only, no exception."""
    link, _ = make_world(1)
    new = HomeAgent(link.home_agent.settings, mobile_nodes=link.home_agent.mobile_node_sas,
                    peers=link.home_agent.peer_sas, rng=random.Random(3))
    nodes = [[HOME + n, None, None, [binding(lifetime=value)]]
             for n, value in enumerate([600, float("inf"), float("nan"), -1, "x", None, 600])]
    screened = screen_checkpoint({"home-agent": home_agent_part(nodes)}, NOW)
    assert screened.skipped_count == 5
    assert new.restore_state(screened.parts["home-agent"], NOW) == 2


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b"{not json", b"[" * 100_000, b"[1, 2]",
                                     b'{"format": "someone-else/1"}'])
def test_a_file_that_is_not_a_checkpoint_is_moved_aside(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    assert read_checkpoint(path, now=NOW) is None
    assert not path.exists()
    assert moved_aside_path(path, NOW).read_bytes() == content


def test_a_missing_or_good_file_stays_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert read_checkpoint(path, now=NOW) is None
    path.write_text(json.dumps({"format": FORMAT}))
    assert read_checkpoint(path, now=NOW) == {"format": FORMAT}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_the_agent_starts_on_a_checkpoint_with_an_infinite_lifetime(tmp_path: Path) -> None:
    """The audit's case in process: a home agent whose checkpoint holds
    ``"lifetime": 1e999`` starts, restores the good binding, and counts the
    bad one in its state (the control channel's ``state``)."""
    import asyncio
    import time
    from ipaddress import IPv4Network

    from agent.config.model import AgentConfig, CheckpointConfig, Endpoint, HomeAgentConfig
    from agent.mobileip.home_agent import HomeAgentSettings
    from agent.runtime import Agent

    now = time.time()
    nodes = [[HOME, None, None, [binding(**{"registered-at": now, "expires-at": now + 600})]],
             [HOME + 1, None, None, [binding(lifetime="LIFETIME", **{"registered-at": now,
                                                                    "expires-at": now + 600})]]]
    text = json.dumps({"format": FORMAT, "home-agent": home_agent_part(nodes)}).replace('"LIFETIME"', "1e999")
    (tmp_path / "state.json").write_text(text)
    config = AgentConfig(
        home_agent=HomeAgentConfig(HomeAgentSettings(IPv4Address("127.0.0.1"), IPv4Network("10.1.2.0/24")),
                                   Endpoint(IPv4Address("127.0.0.1"), 0)),
        checkpoint=CheckpointConfig(file="state.json", interval=60.0))

    async def run() -> dict[str, Any]:
        agent = Agent(config, state_dir=str(tmp_path))
        await agent.start()
        try:
            return agent.state(rows=True)
        finally:
            await agent.close()

    state = asyncio.run(run())
    assert state["state-checkpoint"]["skipped-records"] == 1
    assert [b["home-address"] for b in state["home-agent"]["binding"]] == [str(IPv4Address(HOME))]
