"""The unchanged-full check of the control plane compares 100,000 SAs a
slice at a time (agent/plane/engine_host.py) and means plain equality."""

from __future__ import annotations

from agent.plane.engine_host import EQUAL_SLICE, _equal_in_slices


def test_equal_in_slices_is_equality() -> None:
    hosts = [{"address": f"10.0.{i >> 8}.{i & 255}", "spi": 256} for i in range(3 * EQUAL_SLICE + 7)]
    tree = {"home-agent": {"address": "192.0.2.1"}, "security": {"host": hosts}}
    same = {"home-agent": {"address": "192.0.2.1"}, "security": {"host": [dict(h) for h in hosts]}}
    assert _equal_in_slices(tree, same)
    last = {**same, "security": {"host": [*hosts[:-1], {**hosts[-1], "spi": 257}]}}
    assert not _equal_in_slices(tree, last)  # a difference in the last slice
    assert not _equal_in_slices(tree, {**same, "security": {"host": hosts[:-1]}})  # one fewer
    assert not _equal_in_slices(tree, {**same, "proxy": {}})  # a member more
    assert not _equal_in_slices(tree, {"home-agent": {"address": "192.0.2.1"}, "security": {"peer": hosts}})
    assert not _equal_in_slices({"a": [1] * (EQUAL_SLICE + 1)}, {"a": 1})
