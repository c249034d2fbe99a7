"""``Datastore.reload_startup``: the startup file read again into running as one
transaction, as ``copy-config`` startup -> running (RFC 6241 §7.3, §8.7):
subscribers see one change phase and one done phase; a file that is invalid,
a veto, or a lock held by a session leaves startup and running unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.datastore.edits import Edit, Operation
from agent.datastore.errors import DatastoreError, ErrorTag
from agent.datastore.paths import parse_path
from agent.datastore.store import RUNNING, STARTUP, ChangeEvent, Datastore, Veto

TOP = "proxy-mobile-ip:mobile-ip"


def document(*prefixes: str) -> dict[str, Any]:
    return {TOP: {"proxy": {}, "subnet-map": [{"prefix": p, "home-agent": "192.0.2.1"}
                                              for p in prefixes]}}


@pytest.fixture
def startup(tmp_path: Path) -> Path:
    path = tmp_path / "startup.json"
    path.write_text(json.dumps(document("10.1.0.0/16")))
    return path


@pytest.fixture
def ds(startup: Path) -> Iterator[Datastore]:
    store = Datastore(startup_file=startup)
    yield store
    store.close()


def prefixes(ds: Datastore, name: str) -> list[str]:
    content = ds.get_config(name).get(TOP, {})
    return [entry["prefix"] for entry in content.get("subnet-map", [])]


def test_a_changed_file_becomes_running_in_one_transaction(ds: Datastore, startup: Path) -> None:
    phases: list[tuple[str, int]] = []
    ds.subscribe(lambda event: phases.append((event.phase, len(event.changes))))
    startup.write_text(json.dumps(document("10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16")))
    changes = ds.reload_startup()
    assert len(changes) == 2
    assert phases == [("change", 2), ("done", 2)]
    assert prefixes(ds, RUNNING) == prefixes(ds, STARTUP) == ["10.1.0.0/16", "10.2.0.0/16",
                                                             "10.3.0.0/16"]


def test_overrides_apply_on_top_and_stay_out_of_startup(ds: Datastore, startup: Path) -> None:
    startup.write_text(json.dumps(document("10.1.0.0/16", "10.2.0.0/16")))
    override = Edit(Operation.MERGE, parse_path("/mobile-ip/proxy/lifetime"), 77)
    ds.reload_startup(running_overrides=[override])
    assert ds.get_config(RUNNING)[TOP]["proxy"] == {"lifetime": 77}
    assert ds.get_config(STARTUP)[TOP]["proxy"] == {}


@pytest.mark.parametrize("text", [
    '{"proxy-mobile-ip:mobile-ip": {',
    json.dumps(document("10.1.0.0/16", "not-a-prefix")),
    json.dumps({TOP: {"no-such-node": 1}}),
])
def test_an_invalid_file_changes_nothing(ds: Datastore, startup: Path, text: str) -> None:
    events: list[ChangeEvent] = []
    ds.subscribe(events.append)
    startup.write_text(text)
    with pytest.raises(DatastoreError):
        ds.reload_startup()
    assert events == []
    assert prefixes(ds, RUNNING) == prefixes(ds, STARTUP) == ["10.1.0.0/16"]


def test_a_veto_changes_nothing(ds: Datastore, startup: Path) -> None:
    def veto(event: ChangeEvent) -> None:
        if event.phase == "change":
            raise Veto("not today")

    ds.subscribe(veto)
    startup.write_text(json.dumps(document("10.2.0.0/16")))
    with pytest.raises(DatastoreError, match="not today"):
        ds.reload_startup()
    assert prefixes(ds, RUNNING) == prefixes(ds, STARTUP) == ["10.1.0.0/16"]


@pytest.mark.parametrize("locked", [RUNNING, STARTUP])
def test_a_session_lock_refuses_the_reload(ds: Datastore, startup: Path, locked: str) -> None:
    """RFC 6241 §7.5: a lock keeps every other writer out, the agent's own
    reload included (in-use, as for any write without a session)."""
    ds.lock(locked, session=7)
    startup.write_text(json.dumps(document("10.2.0.0/16")))
    with pytest.raises(DatastoreError) as caught:
        ds.reload_startup()
    assert caught.value.tag == ErrorTag.IN_USE
    assert prefixes(ds, RUNNING) == ["10.1.0.0/16"]
    ds.unlock(locked, session=7)
    ds.reload_startup()
    assert prefixes(ds, RUNNING) == ["10.2.0.0/16"]


def test_no_startup_file_no_reload() -> None:
    store = Datastore()
    try:
        with pytest.raises(DatastoreError):
            store.reload_startup()
    finally:
        store.close()
