"""The YANG datastore (``agent/datastore``): running, candidate and startup
configuration and operational state (NMDA, RFC 8342 §5), edited with the
operations of RFC 6241 §7.2, validated against ``yang/proxy-mobile-ip.yang`` by
libyang, delivered to subscribers in two phases, persisted atomically.

What every test here leans on: a write is one transaction (DESIGN.md rule 3), so
a refused write leaves every datastore, and every subscriber, exactly as it was.
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import signal
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libyang
import pytest
from _libyang import ffi, lib  # type: ignore[import-not-found]  # libyang-python's cffi module
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.schema.context import MODULE_NAME, TOP_MEMBER, yang_dir
from agent.schema.errors import ConfigError
from agent.schema.validator import Validator
from agent.datastore.edits import Edit, Operation, Touched, apply_edit
from agent.datastore.errors import DatastoreError, ErrorTag
from agent.datastore.paths import Step, parse_path, render_path
from agent.datastore.store import (
    CANDIDATE,
    INDEPENDENT_LISTS,
    RUNNING,
    STARTUP,
    TOP,
    Change,
    ChangeEvent,
    Datastore,
    Veto,
    atomic_write,
    diff,
)
from agent.datastore.tree import Schema, check_path, to_json, to_keyed

ROOT = Path(__file__).resolve().parents[2]

MIP = "/proxy-mobile-ip:mobile-ip"
HOME_AGENT = f"{MIP}/home-agent"
FOREIGN_AGENT = f"{MIP}/foreign-agent"
PROXY = f"{MIP}/proxy"
SECURITY = f"{MIP}/security"
KEY_HEX = "a1:b2:c3:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f:90"


def subnet(prefix: str) -> str:
    return f"{MIP}/subnet-map[prefix='{prefix}']"


def host(address: str, spi: int | str) -> str:
    return f"{SECURITY}/host[address='{address}'][spi='{spi}']"


def edit(operation: Operation, path: str, value: Any = None) -> Edit:
    return Edit(operation, parse_path(path), value)


MERGE, REPLACE, CREATE, DELETE, REMOVE = (
    Operation.MERGE,
    Operation.REPLACE,
    Operation.CREATE,
    Operation.DELETE,
    Operation.REMOVE,
)


def member(datastore: Datastore, name: str = RUNNING, **kwargs: Any) -> dict[str, Any]:
    """The content of the top container (RFC 7951 JSON)."""
    return datastore.get_config(name, **kwargs).get(TOP_MEMBER, {})


def rendered(changes: tuple[Change, ...]) -> Counter[tuple[str, str, str, str]]:
    """Changes as a multiset, comparable whatever their order."""
    return Counter(
        (
            c.kind,
            render_path(c.path),
            json.dumps(c.old, sort_keys=True),
            json.dumps(c.new, sort_keys=True),
        )
        for c in changes
    )


class Recorder:
    """A subscriber that writes down every event, and what running held when it
    was called."""

    def __init__(self, datastore: Datastore) -> None:
        self.datastore = datastore
        self.events: list[ChangeEvent] = []
        self.running_seen: list[dict[str, Any]] = []

    def __call__(self, event: ChangeEvent) -> None:
        self.events.append(event)
        self.running_seen.append(self.datastore.get_config(RUNNING))

    @property
    def phases(self) -> list[str]:
        return [e.phase for e in self.events]


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


@pytest.fixture(scope="module")
def validator() -> Iterator[Validator]:
    checker = Validator()
    yield checker
    checker.close()


@pytest.fixture
def ds(schema: Schema) -> Iterator[Datastore]:
    datastore = Datastore(schema=schema)
    yield datastore
    datastore.close()


#: A configuration with every kind of node the tests below touch.
BASE_EDITS = (
    edit(MERGE, HOME_AGENT, {"address": "192.0.2.1", "listen": {"port": 43400}}),
    edit(MERGE, FOREIGN_AGENT, {"address": "192.0.2.2", "care-of-address": ["192.0.2.2"]}),
    edit(MERGE, PROXY, {"retransmit": {"initial": "2", "maximum": "8"}}),
    edit(MERGE, subnet("10.1.0.0/16"), {"home-agent": "192.0.2.1"}),
    edit(MERGE, subnet("10.2.0.0/16"), {"home-agent": "192.0.2.1"}),
    edit(MERGE, host("198.51.100.1", 256), {"key-hex": KEY_HEX}),
    edit(MERGE, f"{SECURITY}/peer[address='192.0.2.2'][spi='257']", {"key-ascii": "peer secret"}),
)


@pytest.fixture
def base(ds: Datastore) -> Datastore:
    ds.edit(RUNNING, BASE_EDITS)
    return ds


# -- paths (RFC 7950 §9.13 instance-identifiers) -------------------------------------------


def test_path_predicate_values_may_contain_slashes() -> None:
    path = parse_path(f"{subnet('10.0.0.0/8')}/home-agent")
    assert path == (
        Step("mobile-ip"),
        Step("subnet-map", (("prefix", "10.0.0.0/8"),)),
        Step("home-agent"),
    )
    assert render_path(path) == f"{subnet('10.0.0.0/8')}/home-agent"


def test_path_accepts_double_quotes_prefixed_keys_and_unprefixed_steps() -> None:
    path = parse_path('/mobile-ip/security/host[pmip:address="192.0.2.1"][spi="256"]')
    assert path[-1] == Step("host", (("address", "192.0.2.1"), ("spi", "256")))


@pytest.mark.parametrize(
    "text",
    [
        "mobile-ip/home-agent",  # relative
        f"{MIP}//home-agent",  # descendant axis
        f"{HOME_AGENT}/",  # trailing slash
        f"{MIP}/subnet-map[prefix='10.0.0.0/8'",  # unclosed predicate
        f"{MIP}/subnet-map[prefix=10.0.0.0/8]",  # unquoted value
        f"{MIP}/subnet-map[prefix='10.0.0.0/8']x",  # junk after a predicate
        f"{MIP}/home agent",  # not a name
        f"{MIP}/subnet-map[1]",  # positional predicate
    ],
)
def test_malformed_path_is_invalid_value(text: str) -> None:
    with pytest.raises(DatastoreError) as caught:
        parse_path(text)
    assert caught.value.tag is ErrorTag.INVALID_VALUE
    assert caught.value.path == text


def test_numeric_key_from_a_path_is_a_json_number(ds: Datastore) -> None:
    # RFC 7951 §6.1: uint32 (the spi typedef) is a JSON number.
    ds.edit(RUNNING, [edit(MERGE, host("198.51.100.1", "300"), {"key-ascii": "secret"})])
    (entry,) = member(ds)["security"]["host"]
    assert entry["spi"] == 300 and isinstance(entry["spi"], int)
    # The same entry is found again by its path, and edited in place.
    ds.edit(RUNNING, [edit(MERGE, f"{host('198.51.100.1', 300)}/replay-window", 9)])
    assert member(ds)["security"]["host"] == [
        {"address": "198.51.100.1", "spi": 300, "key-ascii": "secret", "replay-window": 9}
    ]


def test_non_numeric_spi_in_a_path_is_invalid_value(ds: Datastore) -> None:
    with pytest.raises(DatastoreError) as caught:
        ds.edit(RUNNING, [edit(MERGE, host("198.51.100.1", "x1"), {"key-ascii": "secret"})])
    assert caught.value.tag is ErrorTag.INVALID_VALUE


def test_key_in_the_value_must_agree_with_the_path(ds: Datastore) -> None:
    with pytest.raises(DatastoreError) as caught:
        ds.edit(
            RUNNING, [edit(MERGE, host("198.51.100.1", 300), {"spi": 301, "key-ascii": "secret"})]
        )
    assert caught.value.tag is ErrorTag.INVALID_VALUE
    assert caught.value.path == host("198.51.100.1", 300)


@pytest.mark.parametrize(
    "path",
    [
        f"{MIP}/bogus",
        f"{HOME_AGENT}/bogus",
        "/proxy-mobile-ip:elsewhere",
        f"{subnet('10.0.0.0/8')}/bogus",
    ],
)
def test_unknown_node_is_unknown_element(ds: Datastore, path: str) -> None:
    with pytest.raises(DatastoreError) as caught:
        ds.edit(RUNNING, [edit(MERGE, path, {})])
    assert caught.value.tag is ErrorTag.UNKNOWN_ELEMENT
    assert ds.get_config() == {}


def test_unknown_member_in_a_value_is_unknown_element(ds: Datastore) -> None:
    with pytest.raises(DatastoreError) as caught:
        ds.edit(RUNNING, [edit(MERGE, HOME_AGENT, {"address": "192.0.2.1", "bogus": 1})])
    assert caught.value.tag is ErrorTag.UNKNOWN_ELEMENT
    assert caught.value.path == HOME_AGENT
    assert ds.get_config() == {}


@pytest.mark.parametrize(
    "path, value",
    [
        (f"{MIP}/home-agent-state", {}),
        (f"{MIP}/home-agent-state/counters/registration-accepted", 1),
        (f"{MIP}/proxy-state", {}),
        (f"{MIP}/security-violations/total", 3),
        # State inside the value of a configuration node.
        (MIP, {"home-agent-state": {"counters": {"registration-accepted": 1}}}),
    ],
)
def test_state_data_is_refused(ds: Datastore, path: str, value: Any) -> None:
    # RFC 8342 §5.3: config false nodes exist in <operational> only.
    with pytest.raises(DatastoreError) as caught:
        ds.edit(RUNNING, [edit(MERGE, path, value)])
    assert caught.value.tag is ErrorTag.INVALID_VALUE
    assert caught.value.path == (path if path != MIP else f"{MIP}/home-agent-state")
    assert ds.get_config() == {}


def test_path_through_a_list_needs_its_keys(ds: Datastore, schema: Schema) -> None:
    with pytest.raises(DatastoreError) as caught:
        ds.edit(RUNNING, [edit(MERGE, f"{MIP}/subnet-map/home-agent", "192.0.2.1")])
    assert caught.value.tag is ErrorTag.MISSING_ELEMENT
    with pytest.raises(DatastoreError) as caught:
        check_path(parse_path(f"{MIP}/subnet-map[home-agent='192.0.2.1']"), schema)
    assert caught.value.tag is ErrorTag.MISSING_ELEMENT
    with pytest.raises(DatastoreError) as caught:
        check_path(parse_path(f"{MIP}/security/host[address='192.0.2.1']"), schema)
    assert caught.value.tag is ErrorTag.MISSING_ELEMENT


# -- operations (RFC 6241 §7.2) ----------------------------------------------------------------


def test_merge_is_recursive_into_containers(ds: Datastore) -> None:
    ds.edit(RUNNING, [edit(MERGE, HOME_AGENT, {"address": "192.0.2.1", "listen": {"port": 43400}})])
    changes = ds.edit(
        RUNNING, [edit(MERGE, HOME_AGENT, {"listen": {"address": "127.0.0.2"}, "gre": True})]
    )
    assert member(ds)["home-agent"] == {
        "address": "192.0.2.1",
        "listen": {"port": 43400, "address": "127.0.0.2"},
        "gre": True,
    }
    assert rendered(changes) == rendered(
        (
            Change(
                "modified",
                parse_path(f"{HOME_AGENT}/listen/address"),
                old="0.0.0.0",
                new="127.0.0.2",
            ),
            Change("modified", parse_path(f"{HOME_AGENT}/gre"), old=False, new=True),
        )
    )


def test_merge_is_recursive_into_list_entries(base: Datastore) -> None:
    # A merge on the security container: one entry modified (its other leaves
    # kept), one created, the untouched ones left alone.
    before = member(base)["security"]
    base.edit(
        RUNNING,
        [
            edit(
                MERGE,
                SECURITY,
                {
                    "host": [
                        {"address": "198.51.100.1", "spi": 256, "replay-window": 30},
                        {"address": "198.51.100.2", "spi": 256, "key-ascii": "second"},
                    ]
                },
            )
        ],
    )
    after = member(base)["security"]
    assert after["peer"] == before["peer"]
    assert after["host"] == [
        {"address": "198.51.100.1", "spi": 256, "key-hex": KEY_HEX, "replay-window": 30},
        {"address": "198.51.100.2", "spi": 256, "key-ascii": "second"},
    ]
    effective_hosts = member(base, with_defaults=True)["security"]["host"]
    assert {(h["address"], h["replay-window"]) for h in effective_hosts} == {
        ("198.51.100.1", 30),
        ("198.51.100.2", 7),
    }


def test_merge_of_a_leaf_list_is_a_union(ds: Datastore) -> None:
    ds.edit(
        RUNNING,
        [
            edit(
                MERGE,
                FOREIGN_AGENT,
                {"address": "192.0.2.2", "care-of-address": ["192.0.2.2", "192.0.2.3"]},
            )
        ],
    )
    changes = ds.edit(
        RUNNING, [edit(MERGE, f"{FOREIGN_AGENT}/care-of-address", ["192.0.2.3", "192.0.2.4"])]
    )
    assert member(ds)["foreign-agent"]["care-of-address"] == ["192.0.2.2", "192.0.2.3", "192.0.2.4"]
    assert [c.kind for c in changes] == ["modified"]


def test_merge_at_the_top_container(ds: Datastore) -> None:
    ds.edit(RUNNING, [edit(MERGE, MIP, {"home-agent": {"address": "192.0.2.1"}})])
    ds.edit(
        RUNNING,
        [edit(MERGE, MIP, {"subnet-map": [{"prefix": "10.0.0.0/8", "home-agent": "192.0.2.1"}]})],
    )
    assert member(ds) == {
        "home-agent": {"address": "192.0.2.1"},
        "subnet-map": [{"prefix": "10.0.0.0/8", "home-agent": "192.0.2.1"}],
    }


def test_replace_container_list_entry_and_leaf_list(base: Datastore) -> None:
    base.edit(RUNNING, [edit(REPLACE, HOME_AGENT, {"address": "192.0.2.9"})])
    assert member(base)["home-agent"] == {"address": "192.0.2.9"}  # listen/port went
    assert member(base, with_defaults=True)["home-agent"]["listen"]["port"] == 434

    base.edit(RUNNING, [edit(MERGE, f"{host('198.51.100.1', 256)}/replay-window", 20)])
    base.edit(RUNNING, [edit(REPLACE, host("198.51.100.1", 256), {"key-ascii": "new"})])
    assert member(base)["security"]["host"] == [
        {"address": "198.51.100.1", "spi": 256, "key-ascii": "new"}
    ]

    base.edit(RUNNING, [edit(REPLACE, f"{FOREIGN_AGENT}/care-of-address", ["192.0.2.7"])])
    assert member(base)["foreign-agent"]["care-of-address"] == ["192.0.2.7"]

    base.edit(
        RUNNING,
        [
            edit(
                REPLACE, f"{MIP}/subnet-map", [{"prefix": "10.9.0.0/16", "home-agent": "192.0.2.1"}]
            )
        ],
    )
    assert member(base)["subnet-map"] == [{"prefix": "10.9.0.0/16", "home-agent": "192.0.2.1"}]


def test_create_refuses_existing_data(base: Datastore) -> None:
    base.edit(RUNNING, [edit(CREATE, subnet("10.3.0.0/16"), {"home-agent": "192.0.2.1"})])
    before = base.get_config()
    for path, value in [
        (subnet("10.3.0.0/16"), {"home-agent": "192.0.2.1"}),
        (HOME_AGENT, {"address": "192.0.2.1"}),
        (f"{HOME_AGENT}/address", "192.0.2.1"),
    ]:
        with pytest.raises(DatastoreError) as caught:
            base.edit(RUNNING, [edit(CREATE, path, value)])
        assert caught.value.tag is ErrorTag.DATA_EXISTS
        assert caught.value.path == path
    assert base.get_config() == before


def test_delete_refuses_missing_data(base: Datastore) -> None:
    before = base.get_config()
    for path in [
        subnet("10.99.0.0/16"),
        f"{subnet('10.99.0.0/16')}/home-agent",
        f"{HOME_AGENT}/home-network",
        f"{PROXY}/foreign-agent",
        f"{PROXY}/foreign-agent/address",
    ]:
        with pytest.raises(DatastoreError) as caught:
            base.edit(RUNNING, [edit(DELETE, path)])
        assert caught.value.tag is ErrorTag.DATA_MISSING, path
        assert caught.value.path == path
    assert base.get_config() == before
    changes = base.edit(RUNNING, [edit(DELETE, subnet("10.2.0.0/16"))])
    assert [(c.kind, render_path(c.path)) for c in changes] == [("deleted", subnet("10.2.0.0/16"))]
    assert [e["prefix"] for e in member(base)["subnet-map"]] == ["10.1.0.0/16"]


def test_remove_is_silent_when_absent(base: Datastore) -> None:
    recorder = Recorder(base)
    base.subscribe(recorder)
    before = base.snapshot(RUNNING)
    for path in [
        subnet("10.99.0.0/16"),
        f"{HOME_AGENT}/home-network",
        f"{PROXY}/foreign-agent/address",
    ]:
        assert base.edit(RUNNING, [edit(REMOVE, path)]) == ()
    assert base.snapshot(RUNNING).explicit == before.explicit
    assert recorder.events == []
    changes = base.edit(RUNNING, [edit(REMOVE, FOREIGN_AGENT)])
    assert [(c.kind, render_path(c.path)) for c in changes] == [("deleted", FOREIGN_AGENT)]
    assert "foreign-agent" not in member(base)


@pytest.mark.parametrize("operation", [MERGE, REPLACE, CREATE])
def test_operations_that_write_need_a_value(ds: Datastore, operation: Operation) -> None:
    with pytest.raises(DatastoreError) as caught:
        ds.edit(RUNNING, [edit(operation, HOME_AGENT)])
    assert caught.value.tag is ErrorTag.MISSING_ELEMENT


def test_creating_a_case_replaces_the_other_case(base: Datastore) -> None:
    """RFC 7950 §7.9: creating a node of one case deletes the other cases' nodes."""
    base.edit(RUNNING, [edit(MERGE, host("198.51.100.1", 256), {"key-ascii": "now ascii"})])
    assert member(base)["security"]["host"] == [
        {"address": "198.51.100.1", "spi": 256, "key-ascii": "now ascii"}
    ]


# -- validation: refused writes change nothing --------------------------------------------------


INVALID_EDITS = [
    pytest.param(
        [edit(MERGE, host("198.51.100.9", 5), {"key-ascii": "secret"})],
        ErrorTag.INVALID_VALUE,
        f"{SECURITY}/host[address='198.51.100.9']/spi",
        None,
        id="spi-reserved",
    ),
    pytest.param(
        [edit(MERGE, host("198.51.100.9", 300), {})],
        ErrorTag.DATA_MISSING,  # RFC 7950 §15.6: a mandatory choice with no case
        host("198.51.100.9", 300),
        "missing-choice",
        id="key-missing",
    ),
    pytest.param(
        [edit(DELETE, f"{HOME_AGENT}/address")],
        ErrorTag.MISSING_ELEMENT,
        f"{HOME_AGENT}/address",
        None,
        id="mandatory-home-agent-address",
    ),
    pytest.param(
        [edit(MERGE, f"{MIP}/proxy/retransmit", {"initial": "10", "maximum": "5"})],
        ErrorTag.OPERATION_FAILED,  # RFC 7950 §15.4, with the must's own error-app-tag
        f"{PROXY}/retransmit/maximum",
        "retransmit-interval-inconsistent",
        id="must-retransmit",
    ),
    pytest.param(
        [edit(MERGE, HOME_AGENT, {"reverse-tunnel": False, "reverse-tunnel-required": True})],
        ErrorTag.OPERATION_FAILED,  # RFC 7950 §15.4
        f"{HOME_AGENT}/reverse-tunnel-required",
        "reverse-tunnel-disabled",
        id="must-reverse-tunnel",
    ),
    pytest.param(
        [edit(MERGE, f"{FOREIGN_AGENT}/advertisement", {"interval": "20", "lifetime": 30})],
        ErrorTag.OPERATION_FAILED,  # RFC 7950 §15.4
        f"{FOREIGN_AGENT}/advertisement",
        "advertisement-interval-too-long",
        id="must-advertisement",
    ),
    pytest.param(
        [edit(MERGE, f"{host('198.51.100.1', 256)}/last-address", "198.51.100.0")],
        ErrorTag.OPERATION_FAILED,  # RFC 7950 §15.4
        f"{host('198.51.100.1', 256)}/last-address",
        "address-range-reversed",
        id="must-address-range",
    ),
    pytest.param(
        [edit(MERGE, f"{HOME_AGENT}/max-lifetime", "600")],  # RFC 7951 §6.1: a number
        ErrorTag.INVALID_VALUE,
        f"{HOME_AGENT}/max-lifetime",
        None,
        id="type-uint16-as-string",
    ),
    pytest.param(
        [edit(MERGE, f"{HOME_AGENT}/listen/port", 70000)],
        ErrorTag.INVALID_VALUE,
        f"{HOME_AGENT}/listen/port",
        None,
        id="type-port-range",
    ),
    pytest.param(
        [edit(MERGE, f"{subnet('10.1.0.0/16')}/home-agent", "300.0.0.1")],
        ErrorTag.INVALID_VALUE,
        f"{subnet('10.1.0.0/16')}/home-agent",
        None,
        id="type-ipv4-address",
    ),
    pytest.param(
        [edit(MERGE, f"{host('198.51.100.1', 256)}/replay-window", 0)],
        ErrorTag.INVALID_VALUE,
        f"{host('198.51.100.1', 256)}/replay-window",
        None,
        id="type-replay-window-range",
    ),
]


@pytest.mark.parametrize("edits, tag, path, app_tag", INVALID_EDITS)
@pytest.mark.parametrize("target", [RUNNING, CANDIDATE])
def test_yang_violation_is_refused_and_changes_nothing(
    base: Datastore, edits: list[Edit], tag: ErrorTag, path: str, app_tag: str | None, target: str
) -> None:
    recorder = Recorder(base)
    base.subscribe(recorder)
    before = {name: base.get_config(name) for name in (RUNNING, CANDIDATE, STARTUP)}
    effective = base.get_config(RUNNING, with_defaults=True)
    with pytest.raises(DatastoreError) as caught:
        base.edit(target, edits)
    error = caught.value
    assert (error.tag, error.path, error.app_tag) == (tag, path, app_tag)
    assert error.message
    assert {name: base.get_config(name) for name in (RUNNING, CANDIDATE, STARTUP)} == before
    assert base.get_config(RUNNING, with_defaults=True) == effective
    assert recorder.events == []


@pytest.mark.parametrize("target", [RUNNING, CANDIDATE])
@pytest.mark.parametrize(
    "last",
    [
        edit(MERGE, f"{PROXY}/retransmit/maximum", "1"),  # YANG: must
        edit(DELETE, subnet("10.99.0.0/16")),  # RFC 6241: data-missing
        edit(MERGE, f"{MIP}/home-agent-state", {}),  # state
    ],
    ids=["must", "data-missing", "state"],
)
def test_transaction_is_atomic(base: Datastore, target: str, last: Edit) -> None:
    # RFC 6241 §7.2 (error-option rollback-on-error), DESIGN rule 3: the valid
    # edits before the bad one take no effect either.
    recorder = Recorder(base)
    base.subscribe(recorder)
    before = base.snapshot(RUNNING)
    candidate_before = base.get_config(CANDIDATE)
    edits = [
        edit(MERGE, f"{HOME_AGENT}/max-lifetime", 1200),
        edit(CREATE, subnet("10.3.0.0/16"), {"home-agent": "192.0.2.1"}),
        edit(DELETE, subnet("10.1.0.0/16")),
        edit(MERGE, host("198.51.100.7", 300), {"key-ascii": "seven"}),
        last,
    ]
    with pytest.raises(DatastoreError):
        base.edit(target, edits)
    assert base.snapshot(RUNNING) is before
    assert base.get_config(CANDIDATE) == candidate_before
    assert recorder.events == []
    # Without the bad edit, the same transaction goes through.
    base.edit(target, edits[:-1])
    assert "10.3.0.0/16" in {e["prefix"] for e in member(base, target)["subnet-map"]}


# -- incremental validation == full validation --------------------------------------------------

PREFIXES = [
    "10.1.0.0/16",
    "10.1.2.3/16",
    "10.2.0.0/16",
    "10.2.0.0/24",
    "10.2.0.9/24",
    "10.300.0.0/16",
]
HOME_AGENTS = ["192.0.2.1", "192.0.2.2", "192.0.2.300"]
HOST_ADDRESSES = ["198.51.100.10", "198.51.100.20"]
SPIS = [256, 300, 5]

subnet_values = st.one_of(
    st.builds(lambda ha: {"home-agent": ha}, st.sampled_from(HOME_AGENTS)),
    st.just({}),
)
host_values = st.sampled_from(
    [
        {"key-ascii": "first secret"},
        {"key-hex": KEY_HEX},
        {},
        {"key-ascii": "range", "last-address": "198.51.100.30"},
        {"key-ascii": "reversed", "last-address": "198.51.100.15"},
        {"replay-window": 30},
        {"replay-window": 0},
        {"algorithm": "keyed-md5-prefix-suffix"},
    ]
)
writes = st.sampled_from([MERGE, REPLACE, CREATE])
removals = st.sampled_from([DELETE, REMOVE])


@st.composite
def subnet_edits(draw: st.DrawFn) -> Edit:
    path = subnet(draw(st.sampled_from(PREFIXES)))
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return edit(draw(writes), path, draw(subnet_values))
    if choice == 1:
        return edit(draw(writes), f"{path}/home-agent", draw(st.sampled_from(HOME_AGENTS)))
    if choice == 2:
        return edit(draw(removals), path)
    return edit(draw(removals), f"{path}/home-agent")


@st.composite
def host_edits(draw: st.DrawFn) -> Edit:
    path = host(draw(st.sampled_from(HOST_ADDRESSES)), draw(st.sampled_from(SPIS)))
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return edit(draw(writes), path, draw(host_values))
    if choice == 1:
        leaf, value = draw(
            st.sampled_from(
                [
                    ("replay-window", 12),
                    ("replay-window", 301),
                    ("last-address", "198.51.100.99"),
                    ("last-address", "198.51.100.1"),
                    ("key-ascii", "leaf key"),
                ]
            )
        )
        return edit(draw(writes), f"{path}/{leaf}", value)
    if choice == 2:
        return edit(draw(removals), path)
    return edit(
        draw(removals), f"{path}/{draw(st.sampled_from(['last-address', 'key-ascii', 'key-hex']))}"
    )


@st.composite
def whole_list_edits(draw: st.DrawFn) -> Edit:
    """Edits of a whole list, or of the container holding one."""
    entries = draw(
        st.lists(
            st.builds(
                lambda p, ha: {"prefix": p, "home-agent": ha},
                st.sampled_from(PREFIXES),
                st.sampled_from(HOME_AGENTS),
            ),
            max_size=3,
            unique_by=lambda e: e["prefix"],
        )
    )
    hosts = [
        {"address": a, "spi": s, **v}
        for a, s, v in draw(
            st.lists(
                st.tuples(st.sampled_from(HOST_ADDRESSES), st.sampled_from(SPIS), host_values),
                max_size=2,
                unique_by=lambda t: (t[0], t[1]),
            )
        )
    ]
    return draw(
        st.sampled_from(
            [
                edit(REPLACE, f"{MIP}/subnet-map", entries),
                edit(MERGE, f"{MIP}/subnet-map", entries),
                edit(MERGE, SECURITY, {"host": hosts}),
                edit(REPLACE, SECURITY, {"host": hosts}),
            ]
        )
    )


transactions = st.lists(
    st.lists(
        st.one_of(subnet_edits(), subnet_edits(), host_edits(), host_edits(), whole_list_edits()),
        min_size=1,
        max_size=3,
    ),
    min_size=1,
    max_size=15,
)


def _full_validation(
    explicit: dict[str, Any], validator: Validator, schema: Schema
) -> dict[str, Any]:
    document = {TOP_MEMBER: to_json(explicit)} if explicit else {}
    return to_keyed(validator.validate(json.dumps(document), "json"), (TOP,), schema)


@settings(max_examples=60, deadline=None)
@given(transactions=transactions)
def test_incremental_validation_agrees_with_full_validation(
    schema: Schema, validator: Validator, transactions: list[list[Edit]]
) -> None:
    datastore = Datastore(schema=schema)
    try:
        datastore.edit(RUNNING, BASE_EDITS)
        recorder = Recorder(datastore)
        datastore.subscribe(recorder)
        for edits in transactions:
            before = datastore.snapshot(RUNNING)
            recorder.events.clear()
            # What the edits make of the explicit tree, and what libyang says of
            # the whole resulting document.
            expected_error: DatastoreError | ConfigError | None = None
            explicit = before.explicit
            try:
                for one in edits:
                    explicit = apply_edit(explicit, one, schema, Touched())
                full = _full_validation(explicit, validator, schema)
            except (DatastoreError, ConfigError) as exc:
                expected_error = exc
            try:
                changes = datastore.edit(RUNNING, edits)
            except DatastoreError as exc:
                assert expected_error is not None, f"refused, full validation accepts: {exc}"
                if isinstance(expected_error, DatastoreError):
                    assert exc.tag is expected_error.tag
                assert datastore.snapshot(RUNNING) is before
                assert recorder.events == []
                continue
            assert expected_error is None, f"accepted, full validation refuses: {expected_error}"
            after = datastore.snapshot(RUNNING)
            assert after.explicit == explicit
            assert after.effective == full
            # The typed changes are those of a full diff, delivered once per phase.
            assert rendered(changes) == rendered(diff(before.effective, after.effective, schema))
            if changes:
                assert recorder.phases == ["change", "done"]
                assert all(e.changes == changes for e in recorder.events)
            else:
                assert recorder.events == []
    finally:
        datastore.close()


def test_canonical_key_duplicates_are_data_exists(base: Datastore) -> None:
    # libyang stores an ipv4-prefix canonically: '10.1.2.3/16' is 10.1.0.0/16,
    # which exists.
    recorder = Recorder(base)
    base.subscribe(recorder)
    before = base.snapshot(RUNNING)
    for edits in (
        [edit(MERGE, subnet("10.1.2.3/16"), {"home-agent": "192.0.2.2"})],
        [edit(CREATE, subnet("10.1.2.3/16"), {"home-agent": "192.0.2.2"})],
        [edit(MERGE, f"{MIP}/subnet-map", [{"prefix": "10.1.2.3/16", "home-agent": "192.0.2.2"}])],
        [edit(MERGE, MIP, {"subnet-map": [{"prefix": "10.1.2.3/16", "home-agent": "192.0.2.2"}]})],
    ):
        with pytest.raises(DatastoreError) as caught:
            base.edit(RUNNING, edits)
        assert caught.value.tag is ErrorTag.DATA_EXISTS
        assert caught.value.path is not None and "subnet-map" in caught.value.path
        assert base.snapshot(RUNNING) is before
    assert recorder.events == []
    # A second spelling in one transaction is the same duplicate.
    with pytest.raises(DatastoreError) as caught:
        base.edit(
            RUNNING,
            [
                edit(CREATE, subnet("10.5.0.0/16"), {"home-agent": "192.0.2.2"}),
                edit(CREATE, subnet("10.5.0.1/16"), {"home-agent": "192.0.2.2"}),
            ],
        )
    assert caught.value.tag is ErrorTag.DATA_EXISTS
    assert base.snapshot(RUNNING) is before


def test_non_canonical_key_is_created_and_deleted_by_its_spelling(ds: Datastore) -> None:
    recorder = Recorder(ds)
    ds.subscribe(recorder)
    created = ds.edit(RUNNING, [edit(CREATE, subnet("10.2.2.3/16"), {"home-agent": "192.0.2.1"})])
    assert [(c.kind, render_path(c.path)) for c in created] == [("created", subnet("10.2.0.0/16"))]
    assert member(ds, with_defaults=True)["subnet-map"] == [
        {"prefix": "10.2.0.0/16", "home-agent": "192.0.2.1"}
    ]
    deleted = ds.edit(RUNNING, [edit(DELETE, subnet("10.2.2.3/16"))])
    assert [(c.kind, render_path(c.path)) for c in deleted] == [("deleted", subnet("10.2.0.0/16"))]
    assert ds.get_config(RUNNING) == {}
    assert "subnet-map" not in member(ds, with_defaults=True)
    assert recorder.phases == ["change", "done", "change", "done"]


# -- the premise of incremental validation -----------------------------------------------------

_XPATH_TOKEN = re.compile(
    r"""\s*(?:
      (?P<literal>"[^"]*"|'[^']*')
    | (?P<number>\d+(?:\.\d*)?|\.\d+)
    | (?P<dotdot>\.\.)
    | (?P<dot>\.)
    | (?P<dslash>//)
    | (?P<slash>/)
    | (?P<axis>::)
    | (?P<punct>[()\[\],@])
    | (?P<op>!=|<=|>=|=|<|>|\+|-|\*|\|)
    | (?P<variable>\$[\w.-]+)
    | (?P<name>[A-Za-z_][\w.-]*(?::(?:[A-Za-z_][\w.-]*|\*))?)
    )""",
    re.VERBOSE,
)
_OPERATOR_NAMES = frozenset({"and", "or", "div", "mod"})
#: Functions whose result may come from outside the context node's subtree.
_LEAVING_FUNCTIONS = frozenset({"deref", "id"})


def _xpath_tokens(expression: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(expression.rstrip()):
        match = _XPATH_TOKEN.match(expression, position)
        if match is None or match.end() == position:
            raise ValueError(f"cannot tokenise {expression[position:]!r}")
        kind = match.lastgroup or ""
        text = match.group(kind)
        # XPath 1.0 §3.7: after an operand, '*' multiplies and a name is an operator.
        after_operand = (
            bool(tokens)
            and tokens[-1][1] not in ("@", "::", "(", "[", ",")
            and tokens[-1][0] not in ("op", "slash", "dslash", "opname")
        )
        if kind == "name" and after_operand and text in _OPERATOR_NAMES:
            kind = "opname"
        elif kind == "op" and text == "*" and not after_operand:
            kind = "name"
        tokens.append((kind, text))
        position = match.end()
    return tokens


def xpath_leaves_entry(expression: str, depth: int) -> str | None:
    """Why ``expression``, evaluated at a node ``depth`` data levels below a list
    entry (the entry itself is at 0), may read data outside that entry; None when
    it cannot. Conservative: what it does not understand, it reports."""
    tokens = _xpath_tokens(expression)
    frames: list[tuple[str, int, int | None]] = []  # (kind, context depth, path position)
    context, position, expect_operand = depth, None, True
    index = 0

    def step(token: tuple[str, str], at: int) -> int:
        kind, text = token
        if kind == "dotdot":
            return at - 1
        if kind == "dot":
            return at
        if kind == "name" or token == ("punct", "@"):
            return at + 1
        raise ValueError(f"unexpected step {text!r} in {expression!r}")

    while index < len(tokens):
        kind, text = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        if expect_operand:
            if kind in ("slash", "dslash"):
                return f"absolute path in {expression!r}"
            if kind == "name" and following == ("punct", "("):
                if text == "current":
                    if tokens[index + 2 : index + 3] != [("punct", ")")]:
                        return f"current() with arguments in {expression!r}"
                    position, expect_operand, index = depth, False, index + 3
                    continue
                if text.split(":")[-1] in _LEAVING_FUNCTIONS:
                    return f"{text}() in {expression!r}"
                frames.append(("call", context, None))
                position, index = None, index + 2
                continue
            if kind == "name" and following[0] == "axis":
                if text not in ("child", "self", "attribute"):
                    return f"axis {text}:: in {expression!r}"
                index += 2
                kind, text = tokens[index]
            if kind in ("dotdot", "dot", "name") or (kind, text) == ("punct", "@"):
                if (kind, text) == ("punct", "@"):
                    index += 1
                position = step((kind, text), context)
                expect_operand = False
            elif kind in ("literal", "number"):
                position, expect_operand = None, False
            elif kind == "variable":
                return f"variable in {expression!r}"
            elif (kind, text) == ("punct", "("):
                frames.append(("group", context, None))
            elif (kind, text) == ("op", "-"):
                pass  # unary minus
            else:
                raise ValueError(f"unexpected {text!r} in {expression!r}")
        else:
            if kind in ("slash", "dslash"):
                if position is None:
                    return f"path after an expression in {expression!r}"
                index += 1
                token = tokens[index]
                if (
                    token[0] == "name"
                    and index + 1 < len(tokens)
                    and tokens[index + 1][0] == "axis"
                ):
                    if token[1] not in ("child", "self", "attribute"):
                        return f"axis {token[1]}:: in {expression!r}"
                    index += 2
                    token = tokens[index]
                if token == ("punct", "@"):
                    index += 1
                # A descendant step lands at least one level down.
                position = step(
                    token, position + (1 if kind == "dslash" and token[0] == "dotdot" else 0)
                )
            elif (kind, text) == ("punct", "["):
                frames.append(("predicate", context, position))
                context, expect_operand = position, True  # type: ignore[assignment]
                position = None
            elif (kind, text) == ("punct", "]"):
                frame_kind, context, position = frames.pop()
                assert frame_kind == "predicate", expression
            elif (kind, text) == ("punct", ")"):
                frame_kind, context, _ = frames.pop()
                position = None
            elif (kind, text) == ("punct", ",") or kind in ("op", "opname"):
                position, expect_operand = None, True
            else:
                raise ValueError(f"unexpected {text!r} in {expression!r}")
        if position is not None and position < 0:
            return f"'..' climbs above the list entry in {expression!r}"
        index += 1
    return None


@pytest.mark.parametrize(
    "expression, depth, leaves",
    [
        ("../address", 1, False),
        ("current()/../address", 1, False),
        (". = 'false' or ../reverse-tunnel = 'true'", 1, False),
        ("x[../y = current()/../z]/w", 1, False),
        ("count(a/b) > 2 * 3 and not(c)", 0, False),
        ("../../address", 1, True),
        ("../address", 0, True),
        ("/pmip:mobile-ip/home-agent/address = ../address", 1, True),
        ("count(/pmip:mobile-ip/subnet-map) < 10", 1, True),
        ("x[../../../y]", 1, True),
        ("a or ../../b", 1, True),
        ("deref(.)/../x", 1, True),
        ("ancestor::pmip:mobile-ip", 1, True),
        ("(../x)/y", 1, True),
    ],
)
def test_xpath_scope_checker(expression: str, depth: int, leaves: bool) -> None:
    assert (xpath_leaves_entry(expression, depth) is not None) is leaves


def _children(node: Any) -> Iterator[Any]:
    child = lib.lysc_node_child(node)
    while child != ffi.NULL:
        yield child
        child = child.next


def _data_depth(node: Any, entry: Any) -> int | None:
    """Data levels from ``entry`` (a list) down to ``node``; None when outside."""
    depth = 0
    while node != ffi.NULL:
        if node == entry:
            return depth
        if node.nodetype not in (lib.LYS_CHOICE, lib.LYS_CASE):
            depth += 1
        node = node.parent
    return None


def _subtree(node: Any) -> Iterator[Any]:
    yield node
    for child in _children(node):
        yield from _subtree(child)


def _xpaths(context: libyang.Context, node: Any) -> Iterator[tuple[str, str, Any]]:
    """(kind, expression, context node) of every must, when and leafref path of
    ``node``. RFC 7950 §7.5.3, §7.21.5, §9.9.2."""
    musts = lib.lysc_node_musts(node)
    if musts != ffi.NULL:
        for must in libyang.util.ly_array_iter(musts):
            yield "must", ffi.string(lib.lyxp_get_expr(must.cond)).decode(), node
    whens = lib.lysc_node_when(node)
    if whens != ffi.NULL:
        for when in libyang.util.ly_array_iter(whens):
            yield "when", ffi.string(lib.lyxp_get_expr(when.cond)).decode(), when.context
    if node.nodetype in (lib.LYS_LEAF, lib.LYS_LEAFLIST):
        for base in libyang.SNode.new(context, node).type().get_bases():
            if base.base() == libyang.Type.LEAFREF:
                yield "leafref", base.leafref_path() or "", node
            elif base.base() == libyang.Type.INST:
                yield "instance-identifier", "/", node


@pytest.fixture(scope="module")
def compiled() -> Iterator[libyang.Context]:
    context = libyang.Context(str(yang_dir()))
    context.load_module(MODULE_NAME)
    yield context
    context.destroy()


def _list_node(context: libyang.Context, names: tuple[str, ...]) -> Any:
    (node,) = context.find_path(f"/{MODULE_NAME}:" + "/".join(names))
    assert node.keyword() == "list", names
    return node


@pytest.mark.parametrize("names", INDEPENDENT_LISTS, ids=lambda n: "/".join(n))
def test_independent_list_premise(compiled: libyang.Context, names: tuple[str, ...]) -> None:
    """Store.py validates only the touched entries of these lists: that is exact
    only if nothing about an entry depends on the other entries (RFC 7950 §7.8.3
    unique, §7.7.5-6 min/max-elements, XPath leaving the entry), and an entry's
    place among the others means nothing (ordered-by system, §7.7.7)."""
    node = _list_node(compiled, names)
    raw = ffi.cast("struct lysc_node_list *", node.cdata)
    assert raw.uniques == ffi.NULL, "a unique statement relates entries"
    assert raw.min == 0 and raw.max == 0xFFFFFFFF, "min/max-elements count entries"
    assert not node.ordered(), "ordered-by user: the incremental merge reorders entries"
    checked = 0
    for inner in _subtree(node.cdata):
        for kind, expression, context_node in _xpaths(compiled, inner):
            depth = _data_depth(context_node, node.cdata)
            assert depth is not None, (
                f"{kind} {expression!r}: its context node is outside the entry"
            )
            reason = xpath_leaves_entry(expression, depth)
            assert reason is None, f"{kind} on {ffi.string(inner.name).decode()}: {reason}"
            checked += 1
    if names[-1] == "host":
        assert checked >= 1  # last-address's must is seen, so the walk is not vacuous


def test_nothing_outside_the_independent_lists_reads_them(compiled: libyang.Context) -> None:
    """The other half of independence: no XPath elsewhere in the data tree (a
    count(), a leafref into the list) reads these lists, or dropping their
    untouched entries from a validation would change its result."""
    (module,) = [m for m in compiled if m.name() == MODULE_NAME]
    list_names = {names[-1] for names in INDEPENDENT_LISTS}
    inside = {_list_node(compiled, names).cdata for names in INDEPENDENT_LISTS}
    seen = 0
    for top in module.children():
        for node in _subtree(top.cdata):
            if any(_data_depth(node, entry) is not None for entry in inside):
                continue
            for kind, expression, _ in _xpaths(compiled, node):
                names = {
                    text.split(":")[-1] for k, text in _xpath_tokens(expression) if k == "name"
                }
                assert not names & list_names, (
                    f"{kind} {expression!r} may read {names & list_names}"
                )
                seen += 1
    assert seen >= 4  # the module's must rules are seen


# -- subscriptions (two-phase, sysrepo-style) --------------------------------------------------


def test_change_phase_sees_typed_changes_and_the_new_config(base: Datastore) -> None:
    recorder = Recorder(base)
    base.subscribe(recorder)
    old_running = base.get_config()
    changes = base.edit(
        RUNNING,
        [
            edit(MERGE, f"{HOME_AGENT}/max-lifetime", 1200),
            edit(CREATE, subnet("10.3.0.0/16"), {"home-agent": "192.0.2.2"}),
            edit(DELETE, subnet("10.2.0.0/16")),
            edit(DELETE, FOREIGN_AGENT),
        ],
    )
    expected = [
        ("modified", f"{HOME_AGENT}/max-lifetime", 36000, 1200),
        (
            "created",
            subnet("10.3.0.0/16"),
            None,
            {"prefix": "10.3.0.0/16", "home-agent": "192.0.2.2"},
        ),
        (
            "deleted",
            subnet("10.2.0.0/16"),
            {"prefix": "10.2.0.0/16", "home-agent": "192.0.2.1"},
            None,
        ),
    ]
    by_path = {render_path(c.path): c for c in changes}
    for kind, path, old, new in expected:
        assert (by_path[path].kind, by_path[path].old, by_path[path].new) == (kind, old, new)
    assert by_path[FOREIGN_AGENT].kind == "deleted"
    assert by_path[FOREIGN_AGENT].old["address"] == "192.0.2.2"
    assert len(changes) == 4

    change, done = recorder.events
    assert (change.datastore, change.phase, done.phase) == (RUNNING, "change", "done")
    assert change.changes == done.changes == changes
    # The change phase offers the new configuration while running still holds the old.
    assert change.config == base.snapshot(RUNNING).effective
    assert to_json(change.config)["home-agent"]["max-lifetime"] == 1200
    assert recorder.running_seen[0] == old_running
    assert recorder.running_seen[1] == base.get_config()


def test_veto_aborts_for_the_earlier_subscribers(base: Datastore) -> None:
    earlier, later = Recorder(base), Recorder(base)
    vetoing: list[str] = []

    def veto(event: ChangeEvent) -> None:
        vetoing.append(event.phase)
        if event.phase == "change":
            raise Veto("home agent address in use", path=f"{HOME_AGENT}/address")

    base.subscribe(earlier)
    base.subscribe(veto)
    base.subscribe(later)
    before = base.snapshot(RUNNING)
    with pytest.raises(DatastoreError) as caught:
        base.edit(RUNNING, [edit(MERGE, f"{HOME_AGENT}/address", "192.0.2.99")])
    error = caught.value
    assert error.tag is ErrorTag.OPERATION_FAILED
    assert error.message == "home agent address in use"
    assert error.path == f"{HOME_AGENT}/address"
    assert error.snmp_error_status == "commitFailed"  # RFC 3416 §4.2.5
    assert earlier.phases == ["change", "abort"]
    assert vetoing[0] == "change" and "done" not in vetoing
    assert later.events == []
    assert base.snapshot(RUNNING) is before


def test_a_failing_subscriber_aborts_like_a_veto(base: Datastore) -> None:
    earlier = Recorder(base)

    def broken(event: ChangeEvent) -> None:
        raise RuntimeError("bug")

    base.subscribe(earlier)
    base.subscribe(broken)
    before = base.snapshot(RUNNING)
    with pytest.raises(DatastoreError) as caught:
        base.edit(RUNNING, [edit(MERGE, f"{HOME_AGENT}/gre", True)])
    assert caught.value.tag is ErrorTag.OPERATION_FAILED
    assert earlier.phases == ["change", "abort"]
    assert base.snapshot(RUNNING) is before


def test_done_phase_failure_does_not_undo_the_commit(base: Datastore) -> None:
    def broken_when_done(event: ChangeEvent) -> None:
        if event.phase == "done":
            raise RuntimeError("bug")

    after = Recorder(base)
    base.subscribe(broken_when_done)
    base.subscribe(after)
    base.edit(RUNNING, [edit(MERGE, f"{HOME_AGENT}/gre", True)])
    assert member(base)["home-agent"]["gre"] is True
    assert after.phases == ["change", "done"]


def test_prefix_filtering(base: Datastore) -> None:
    subnet_map = Recorder(base)
    everything = Recorder(base)
    unsubscribe = base.subscribe(subnet_map, prefix=(TOP, "subnet-map"))
    base.subscribe(everything)
    base.edit(RUNNING, [edit(MERGE, f"{HOME_AGENT}/max-lifetime", 1200)])
    assert subnet_map.events == []
    assert everything.phases == ["change", "done"]
    base.edit(RUNNING, [edit(MERGE, f"{subnet('10.1.0.0/16')}/home-agent", "192.0.2.2")])
    assert subnet_map.phases == ["change", "done"]
    # A change above the prefix (the whole top container) concerns it too.
    base.edit(RUNNING, [edit(REPLACE, MIP, {"home-agent": {"address": "192.0.2.1"}})])
    assert subnet_map.phases == ["change", "done"] * 2
    unsubscribe()
    base.edit(RUNNING, [edit(MERGE, subnet("10.9.0.0/16"), {"home-agent": "192.0.2.2"})])
    assert len(subnet_map.events) == 4


# -- candidate, commit, locks (RFC 6241 §7.5, §8.3) ---------------------------------------------


def test_candidate_edits_touch_neither_running_nor_subscribers(base: Datastore) -> None:
    recorder = Recorder(base)
    base.subscribe(recorder)
    running = base.snapshot(RUNNING)
    base.edit(CANDIDATE, [edit(MERGE, f"{HOME_AGENT}/max-lifetime", 1200)])
    base.edit(CANDIDATE, [edit(DELETE, subnet("10.2.0.0/16"))])
    assert base.snapshot(RUNNING) is running
    assert recorder.events == []
    assert member(base, CANDIDATE)["home-agent"]["max-lifetime"] == 1200
    assert [e["prefix"] for e in member(base, CANDIDATE)["subnet-map"]] == ["10.1.0.0/16"]

    changes = base.commit()
    assert base.get_config(RUNNING) == base.get_config(CANDIDATE)
    assert member(base)["home-agent"]["max-lifetime"] == 1200
    assert recorder.phases == ["change", "done"]  # one transaction for both edits
    assert {(c.kind, render_path(c.path)) for c in recorder.events[0].changes} == {
        ("modified", f"{HOME_AGENT}/max-lifetime"),
        ("deleted", subnet("10.2.0.0/16")),
    }
    assert recorder.events[0].changes == changes
    assert base.commit() == ()  # nothing left to commit


def test_vetoed_commit_keeps_the_candidate(base: Datastore) -> None:
    def veto(event: ChangeEvent) -> None:
        if event.phase == "change":
            raise Veto("not now")

    base.edit(CANDIDATE, [edit(MERGE, f"{HOME_AGENT}/max-lifetime", 1200)])
    candidate = base.get_config(CANDIDATE)
    running = base.snapshot(RUNNING)
    base.subscribe(veto)
    with pytest.raises(DatastoreError) as caught:
        base.commit()
    assert caught.value.tag is ErrorTag.OPERATION_FAILED
    assert base.snapshot(RUNNING) is running
    assert base.get_config(CANDIDATE) == candidate


def test_discard_changes(base: Datastore) -> None:
    base.edit(CANDIDATE, [edit(MERGE, f"{HOME_AGENT}/max-lifetime", 1200)])
    assert base.get_config(CANDIDATE) != base.get_config(RUNNING)
    base.discard_changes()
    assert base.get_config(CANDIDATE) == base.get_config(RUNNING)
    # Later edits of running show through an untouched candidate.
    base.edit(RUNNING, [edit(MERGE, f"{HOME_AGENT}/gre", True)])
    assert base.get_config(CANDIDATE) == base.get_config(RUNNING)


def test_lock_is_exclusive_and_names_the_holder(base: Datastore) -> None:
    base.lock(RUNNING, 1)
    with pytest.raises(DatastoreError) as caught:
        base.lock(RUNNING, 2)
    assert caught.value.tag is ErrorTag.LOCK_DENIED
    assert caught.value.info == {"session-id": "1"}  # RFC 6241 §7.5
    assert base.lock_holder(RUNNING) == 1

    before = base.snapshot(RUNNING)
    with pytest.raises(DatastoreError) as caught:
        base.edit(RUNNING, [edit(MERGE, f"{HOME_AGENT}/gre", True)], session=2)
    assert caught.value.tag is ErrorTag.LOCK_DENIED
    assert caught.value.info == {"session-id": "1"}
    with pytest.raises(DatastoreError) as caught:  # a sessionless writer (SNMP)
        base.edit(RUNNING, [edit(MERGE, f"{HOME_AGENT}/gre", True)])
    assert caught.value.tag is ErrorTag.IN_USE
    for write in (
        lambda: base.replace_config(RUNNING, {}, session=2),
        lambda: base.copy_config(STARTUP, RUNNING, session=2),
        lambda: base.commit(session=2),
    ):
        with pytest.raises(DatastoreError):
            write()
    assert base.snapshot(RUNNING) is before

    base.edit(RUNNING, [edit(MERGE, f"{HOME_AGENT}/gre", True)], session=1)
    with pytest.raises(DatastoreError) as caught:
        base.unlock(RUNNING, 2)
    assert caught.value.tag is ErrorTag.OPERATION_FAILED
    base.unlock(RUNNING, 1)
    base.edit(RUNNING, [edit(MERGE, f"{HOME_AGENT}/gre", False)], session=2)
    assert base.lock_holder(RUNNING) is None


def test_locked_candidate_refuses_other_sessions(base: Datastore) -> None:
    base.lock(CANDIDATE, 1)
    for write in (
        lambda: base.edit(CANDIDATE, [edit(MERGE, f"{HOME_AGENT}/gre", True)], session=2),
        lambda: base.discard_changes(session=2),
        lambda: base.copy_config(RUNNING, CANDIDATE, session=2),
    ):
        with pytest.raises(DatastoreError) as caught:
            write()
        assert caught.value.tag is ErrorTag.LOCK_DENIED
    base.edit(CANDIDATE, [edit(MERGE, f"{HOME_AGENT}/gre", True)], session=1)
    assert member(base, CANDIDATE)["home-agent"]["gre"] is True


def test_release_session_frees_locks_and_discards_its_candidate(base: Datastore) -> None:
    base.lock(RUNNING, 7)
    base.lock(CANDIDATE, 7)
    base.edit(CANDIDATE, [edit(MERGE, f"{HOME_AGENT}/gre", True)], session=7)
    base.release_session(7)  # RFC 6241 §7.5: a lock never outlives its session
    assert base.lock_holder(RUNNING) is None and base.lock_holder(CANDIDATE) is None
    assert base.get_config(CANDIDATE) == base.get_config(RUNNING)  # RFC 6241 §8.3.5.2
    base.lock(CANDIDATE, 8)
    base.lock(RUNNING, 8)


def test_release_session_keeps_a_candidate_it_did_not_lock(base: Datastore) -> None:
    base.lock(RUNNING, 7)
    base.edit(CANDIDATE, [edit(MERGE, f"{HOME_AGENT}/gre", True)], session=8)
    base.release_session(7)
    assert member(base, CANDIDATE)["home-agent"]["gre"] is True


def test_dirty_candidate_cannot_be_locked(base: Datastore) -> None:
    # RFC 6241 §8.3.5.2: a lock on a candidate with uncommitted changes is denied.
    base.edit(CANDIDATE, [edit(MERGE, f"{HOME_AGENT}/gre", True)])
    with pytest.raises(DatastoreError) as caught:
        base.lock(CANDIDATE, 1)
    assert caught.value.tag is ErrorTag.LOCK_DENIED
    assert base.lock_holder(CANDIDATE) is None
    base.discard_changes()
    base.lock(CANDIDATE, 1)


# -- startup (RFC 6241 §8.7) and persistence -----------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_copy_running_to_startup_persists(schema: Schema, tmp_path: Path) -> None:
    startup_file = tmp_path / "state" / "startup.json"
    datastore = Datastore(schema=schema, startup_file=startup_file)
    try:
        datastore.edit(RUNNING, BASE_EDITS)
        assert not startup_file.exists()  # running is not persisted by itself
        datastore.copy_config(RUNNING, STARTUP)
        assert _mode(startup_file) == 0o600  # it holds keys
        assert json.loads(startup_file.read_text()) == datastore.get_config(RUNNING)
        assert datastore.get_config(STARTUP) == datastore.get_config(RUNNING)
        assert [p.name for p in startup_file.parent.iterdir()] == [
            "startup.json"
        ]  # no temp file left
        # Compared keyed: the entries of an ordered-by system list have no
        # meaningful order (RFC 7950 §7.7.7).
        running = datastore.snapshot(RUNNING).effective
    finally:
        datastore.close()
    reborn = Datastore(schema=schema, startup_file=startup_file)
    try:
        assert reborn.snapshot(RUNNING).effective == running
        assert reborn.get_config(STARTUP) == reborn.get_config(RUNNING)
        # RFC 6241 §7.4: startup can be deleted, running cannot.
        reborn.delete_config(STARTUP)
        assert reborn.get_config(STARTUP) == {}
        assert reborn.snapshot(RUNNING).effective == running
        for name in (RUNNING, CANDIDATE):
            with pytest.raises(DatastoreError) as caught:
                reborn.delete_config(name)
            assert caught.value.tag is ErrorTag.OPERATION_NOT_SUPPORTED
    finally:
        reborn.close()
    empty = Datastore(schema=schema, startup_file=startup_file)
    try:
        assert empty.get_config(RUNNING) == {}
    finally:
        empty.close()


def test_startup_is_written_whole_or_not_at_all(schema: Schema, tmp_path: Path) -> None:
    startup_file = tmp_path / "startup.json"
    datastore = Datastore(schema=schema, startup_file=startup_file)
    try:
        with pytest.raises(DatastoreError) as caught:
            datastore.edit(STARTUP, [edit(MERGE, f"{HOME_AGENT}/gre", True)])
        assert caught.value.tag is ErrorTag.OPERATION_NOT_SUPPORTED
        datastore.replace_config(STARTUP, {TOP_MEMBER: {"home-agent": {"address": "192.0.2.1"}}})
        written = startup_file.read_text()
        with pytest.raises(DatastoreError) as caught:
            datastore.replace_config(STARTUP, {TOP_MEMBER: {"home-agent": {"max-lifetime": 60}}})
        assert caught.value.tag is ErrorTag.MISSING_ELEMENT
        assert startup_file.read_text() == written
        # copy startup -> running is a transaction like any other.
        recorder = Recorder(datastore)
        datastore.subscribe(recorder)
        datastore.copy_config(STARTUP, RUNNING)
        assert member(datastore) == {"home-agent": {"address": "192.0.2.1"}}
        assert recorder.phases == ["change", "done"]
    finally:
        datastore.close()


def test_atomic_write_replaces_and_restricts(tmp_path: Path) -> None:
    target = tmp_path / "file.json"
    target.write_text("old")
    os.chmod(target, 0o644)
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"]


_CRASH_CHILD = r"""
import os, sys
from pathlib import Path
from agent.datastore.edits import Edit, Operation
from agent.datastore.paths import parse_path
from agent.datastore.store import RUNNING, STARTUP, Datastore
from agent.datastore.tree import Schema
from agent.schema.context import TOP_MEMBER

startup = Path(sys.argv[1])
batch = int(sys.argv[2])
schema = Schema.load()

def prefix(i):
    return f"10.{i // 256}.{i % 256}.0/24"

def work():
    # The worker: grow running and persist it, until killed.
    datastore = Datastore(schema=schema, startup_file=startup)
    n = len(datastore.get_config(RUNNING).get(TOP_MEMBER, {}).get("subnet-map", []))
    os.write(1, f"ready {os.getpid()} {n}\n".encode())
    while True:
        datastore.edit(RUNNING, [
            Edit(Operation.MERGE, parse_path(f"/mobile-ip/subnet-map[prefix='{prefix(i)}']"),
                 {"home-agent": "192.0.2.1"})
            for i in range(n, n + batch)
        ])
        n += batch
        datastore.copy_config(RUNNING, STARTUP)
        os.write(1, f"written {n}\n".encode())

# A zygote: the imports are paid once, each round forks a fresh worker.
while sys.stdin.readline():
    pid = os.fork()
    if pid == 0:
        try:
            work()
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    os.write(1, b"reaped\n")
"""


def _expected_startup(count: int) -> dict[str, Any]:
    if count == 0:
        return {}
    return {
        TOP_MEMBER: {
            "subnet-map": [
                {"prefix": f"10.{i // 256}.{i % 256}.0/24", "home-agent": "192.0.2.1"}
                for i in range(count)
            ]
        }
    }


def _read_line(stream: Any, timeout: float = 20.0) -> str:
    readable, _, _ = select.select([stream], [], [], timeout)
    if not readable:
        raise AssertionError("the child process said nothing")
    return stream.readline().decode()


def test_startup_survives_sigkill_at_any_moment(schema: Schema, tmp_path: Path) -> None:
    startup_file = tmp_path / "startup.json"
    batch, rounds = 40, 20
    chooser = random.Random(20261126)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CRASH_CHILD, str(startup_file), str(batch)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=env,
        bufsize=0,
    )
    assert child.stdin is not None and child.stdout is not None
    persisted = 0
    try:
        for _ in range(rounds):
            child.stdin.write(b"go\n")
            kind, pid, start = _read_line(child.stdout).split()
            assert kind == "ready" and int(start) == persisted  # the worker started from the file
            signal_at = chooser.uniform(0.0, 0.05)
            select.select([], [], [], signal_at)  # the random moment of the crash
            os.kill(int(pid), signal.SIGKILL)
            written = persisted
            while (line := _read_line(child.stdout)) != "reaped\n":
                assert line.startswith("written ")
                written = int(line.split()[1])
            # The file is one whole configuration: the last one confirmed, or
            # the one being written when the kill came.
            document = json.loads(startup_file.read_text()) if startup_file.exists() else {}
            count = len(document.get(TOP_MEMBER, {}).get("subnet-map", []))
            assert count in (written, written + batch)
            assert document == _expected_startup(count)
            if startup_file.exists():
                assert _mode(startup_file) == 0o600
            strays = [p.name for p in tmp_path.iterdir() if p.name != "startup.json"]
            assert all(name.startswith(".startup.json.") for name in strays)
            persisted = count
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()
    assert persisted > 0  # some rounds got to write
    reborn = Datastore(schema=schema, startup_file=startup_file)
    try:
        assert reborn.get_config(RUNNING) == _expected_startup(persisted)
    finally:
        reborn.close()


# -- operational state (RFC 8342 §5.3) -----------------------------------------------------------


def test_operational_merges_live_providers_with_running(base: Datastore) -> None:
    reads = {"count": 0}

    def counters() -> dict[str, Any]:
        reads["count"] += 1
        return {"home-agent-state": {"counters": {"registration-accepted": reads["count"]}}}

    def violations() -> dict[str, Any]:
        return {"security-violations": {"total": 0}}

    base.register_provider(counters)
    base.register_provider(violations)
    first = base.get_operational()[TOP_MEMBER]
    second = base.get_operational()[TOP_MEMBER]
    # Read at request time: each <get> sees that instant's numbers.
    assert first["home-agent-state"]["counters"]["registration-accepted"] == 1
    assert second["home-agent-state"]["counters"]["registration-accepted"] == 2
    assert first["security-violations"] == {"total": 0}
    # Configuration in <operational> is running's, defaults in use included.
    assert first["home-agent"]["listen"] == {"address": "0.0.0.0", "port": 43400}
    assert first["home-agent"]["max-lifetime"] == 36000
    assert first["subnet-map"] == member(base, with_defaults=True)["subnet-map"]
    base.edit(RUNNING, [edit(MERGE, f"{HOME_AGENT}/max-lifetime", 1200)])
    assert base.get_operational()[TOP_MEMBER]["home-agent"]["max-lifetime"] == 1200


def test_with_defaults_explicit_and_report_all(base: Datastore) -> None:
    # RFC 6243 §3.3 explicit: only what was set; §3.1 report-all: defaults too.
    explicit = member(base)["home-agent"]
    report_all = member(base, with_defaults=True)["home-agent"]
    assert explicit == {"address": "192.0.2.1", "listen": {"port": 43400}}
    assert report_all["listen"] == {"address": "0.0.0.0", "port": 43400}
    assert report_all["max-bindings"] == 200000 and report_all["reverse-tunnel"] is True
