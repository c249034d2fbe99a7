"""A running transaction whose second phase comes later (``Datastore.prepare_running``):
what the control plane runs for the management plane's two-phase
configuration transactions (docs/architecture.md, "The plane boundary"). The
change phase runs at once, a veto refuses it with running unchanged, and
running changes only on ``commit()``; ``abort()`` leaves it as it was. One
prepared transaction at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent.datastore.edits import Edit, Operation
from agent.datastore.errors import DatastoreError, ErrorTag
from agent.datastore.paths import parse_path
from agent.datastore.store import RUNNING, ChangeEvent, Datastore, Veto
from agent.datastore.tree import Schema

MIP = "/proxy-mobile-ip:mobile-ip"


def merge(path: str, value: Any) -> Edit:
    return Edit(Operation.MERGE, parse_path(path), value)


class Recorder:
    def __init__(self, datastore: Datastore, *, veto: str | None = None) -> None:
        self.datastore = datastore
        self.phases: list[str] = []
        self.running_seen: list[dict[str, Any]] = []
        self.veto = veto

    def __call__(self, event: ChangeEvent) -> None:
        self.phases.append(event.phase)
        self.running_seen.append(self.datastore.get_config(RUNNING))
        if event.phase == "change" and self.veto is not None:
            raise Veto(self.veto, path=f"{MIP}/home-agent")


@pytest.fixture
def ds() -> Iterator[Datastore]:
    datastore = Datastore(schema=Schema.load())
    datastore.edit(RUNNING, [merge(f"{MIP}/home-agent", {"address": "192.0.2.1"})])
    yield datastore
    datastore.close()


def test_commit_makes_it_running_and_runs_the_done_phase(ds: Datastore) -> None:
    recorder = Recorder(ds)
    ds.subscribe(recorder)
    before = ds.get_config(RUNNING)
    prepared = ds.prepare_running([merge(f"{MIP}/home-agent/max-lifetime", 1200)])
    assert recorder.phases == ["change"]
    assert ds.get_config(RUNNING) == before  # nothing yet
    assert [c.kind for c in prepared.changes] == ["modified"]  # from its default
    prepared.commit()
    assert recorder.phases == ["change", "done"]
    assert recorder.running_seen[-1] != before  # the done phase sees the new running
    assert ds.get_config(RUNNING)["proxy-mobile-ip:mobile-ip"]["home-agent"]["max-lifetime"] == 1200


def test_abort_leaves_running_and_tells_the_subscribers(ds: Datastore) -> None:
    recorder = Recorder(ds)
    ds.subscribe(recorder)
    before = ds.snapshot(RUNNING)
    ds.prepare_running([merge(f"{MIP}/home-agent/max-lifetime", 1200)]).abort()
    assert recorder.phases == ["change", "abort"]
    assert ds.snapshot(RUNNING) is before


def test_a_veto_raises_with_its_path_and_running_is_unchanged(ds: Datastore) -> None:
    recorder = Recorder(ds, veto="no")
    ds.subscribe(recorder)
    before = ds.snapshot(RUNNING)
    with pytest.raises(DatastoreError) as caught:
        ds.prepare_running([merge(f"{MIP}/home-agent/max-lifetime", 1200)])
    assert (caught.value.tag, caught.value.path) == (ErrorTag.OPERATION_FAILED, f"{MIP}/home-agent")
    assert recorder.phases == ["change", "abort"]
    assert ds.snapshot(RUNNING) is before
    # Nothing stays prepared: the next transaction goes through.
    recorder.veto = None
    ds.prepare_running([merge(f"{MIP}/home-agent/max-lifetime", 1300)]).commit()


def test_replace_is_the_whole_configuration_diffed_against_running(ds: Datastore) -> None:
    """A full transaction: only what differs is a change (so that a role
    whose configuration is the same is not restarted)."""
    ds.edit(RUNNING, [merge(f"{MIP}/foreign-agent", {"address": "203.0.113.1", "care-of-address": ["203.0.113.1"]})])
    prepared = ds.prepare_running([merge(MIP, {
        "home-agent": {"address": "192.0.2.1"},
        "foreign-agent": {"address": "203.0.113.1", "care-of-address": ["203.0.113.2"]}})], replace=True)
    paths = sorted(f"{c.kind} {'/'.join(s.name for s in c.path)}" for c in prepared.changes)
    assert paths == ["modified mobile-ip/foreign-agent/care-of-address"], paths
    prepared.commit()
    removed = ds.prepare_running([merge(MIP, {"home-agent": {"address": "192.0.2.1"}})], replace=True)
    assert [(c.kind, c.path[-1].name) for c in removed.changes] == [("deleted", "foreign-agent")]
    removed.abort()


def test_an_invalid_tree_is_refused_before_any_subscriber(ds: Datastore) -> None:
    recorder = Recorder(ds)
    ds.subscribe(recorder)
    with pytest.raises(DatastoreError) as caught:
        ds.prepare_running([merge(f"{MIP}/home-agent/max-lifetime", "many")])
    assert caught.value.tag is ErrorTag.INVALID_VALUE
    assert recorder.phases == []


def test_one_prepared_transaction_at_a_time(ds: Datastore) -> None:
    """A second change phase would replace the subscribers' prepared plan
    (LiveConfiguration holds one): refused in-use, the first still commits."""
    recorder = Recorder(ds)
    ds.subscribe(recorder)
    first = ds.prepare_running([merge(f"{MIP}/home-agent/max-lifetime", 1200)])
    with pytest.raises(DatastoreError) as caught:
        ds.edit(RUNNING, [merge(f"{MIP}/home-agent/max-lifetime", 1300)])
    assert caught.value.tag is ErrorTag.IN_USE
    assert recorder.phases == ["change"]
    first.commit()
    assert ds.get_config(RUNNING)["proxy-mobile-ip:mobile-ip"]["home-agent"]["max-lifetime"] == 1200
    with pytest.raises(RuntimeError):
        first.abort()  # finished once


def _hosts(count: int, *, spi: int = 256) -> list[dict[str, Any]]:
    return [{"address": f"10.0.{i >> 8}.{i & 255}", "spi": spi, "key-hex": "00" * 16} for i in range(count)]


class _Validated:
    """The documents the datastore's own libyang validator is given."""

    def __init__(self, datastore: Datastore) -> None:
        self.hosts: list[int] = []
        validator = datastore._validator
        real = validator.validate

        def validate(text: str, fmt: str) -> Any:
            import json

            member = json.loads(text).get("proxy-mobile-ip:mobile-ip", {})
            self.hosts.append(len(member.get("security", {}).get("host", [])))
            return real(text, fmt)

        validator.validate = validate  # type: ignore[method-assign]


def test_a_whole_configuration_validates_only_the_entries_running_lacks(ds: Datastore) -> None:
    """The management plane's full configuration after a reconnection: the
    SA entries equal to running's are not given to libyang again; a changed
    or new one is (and an invalid one is still refused)."""
    whole = {"home-agent": {"address": "192.0.2.1"}, "security": {"host": _hosts(300)}}
    ds.prepare_running([merge(MIP, whole)], replace=True).commit()
    validated = _Validated(ds)
    changed = {"home-agent": {"address": "192.0.2.1", "max-lifetime": 900},
               "security": {"host": [*_hosts(299), {**_hosts(300)[299], "key-hex": "11" * 16},
                                     {"address": "10.9.9.9", "spi": 256, "key-hex": "00" * 16}]}}
    prepared = ds.prepare_running([merge(MIP, changed)], replace=True)
    assert validated.hosts == [2]
    paths = sorted(f"{c.kind} {c.path[-1].name}{dict(c.path[-1].keys).get('address', '')}"
                   for c in prepared.changes)
    assert paths == ["created host10.9.9.9", "modified key-hex", "modified max-lifetime"], paths
    prepared.commit()
    got = ds.get_config(RUNNING)["proxy-mobile-ip:mobile-ip"]["security"]["host"]
    assert len(got) == 301 and {"address": "10.0.1.43", "spi": 256, "key-hex": "11" * 16} in got
    fewer = {"home-agent": {"address": "192.0.2.1"}, "security": {"host": _hosts(10)}}
    prepared = ds.prepare_running([merge(MIP, fewer)], replace=True)
    assert sum(c.kind == "deleted" for c in prepared.changes) == 291
    prepared.abort()
    bad = {"home-agent": {"address": "192.0.2.1"},
           "security": {"host": [*_hosts(299), {**_hosts(300)[299], "spi": 7}]}}  # SPIs < 256 are reserved
    with pytest.raises(DatastoreError) as caught:
        ds.prepare_running([merge(MIP, bad)], replace=True)
    assert caught.value.tag is ErrorTag.INVALID_VALUE
    assert len(ds.get_config(RUNNING)["proxy-mobile-ip:mobile-ip"]["security"]["host"]) == 301


def test_a_whole_configuration_keeps_the_order_of_its_entries(ds: Datastore) -> None:
    """What a restarted management plane sends again compares equal to
    running (engine_host's unchanged-full check), so the order is kept."""
    whole = {"home-agent": {"address": "192.0.2.1"}, "security": {"host": _hosts(200)}}
    ds.prepare_running([merge(MIP, whole)], replace=True).commit()
    got = ds.snapshot(RUNNING).as_json(with_defaults=True)["security"]["host"]
    assert [entry["address"] for entry in got] == [entry["address"] for entry in _hosts(200)]


def test_a_computed_transaction_is_refused_when_running_changed_meanwhile(ds: Datastore) -> None:
    """compute_running may run in a worker thread; if running changed before
    its change phase, it would install a tree computed from an old one."""
    computed = ds.compute_running([merge(f"{MIP}/home-agent/max-lifetime", 1200)])
    ds.edit(RUNNING, [merge(f"{MIP}/home-agent/max-lifetime", 1300)])
    with pytest.raises(DatastoreError) as caught:
        ds.prepare_computed(computed)
    assert caught.value.tag is ErrorTag.IN_USE
    assert ds.get_config(RUNNING)["proxy-mobile-ip:mobile-ip"]["home-agent"]["max-lifetime"] == 1300
