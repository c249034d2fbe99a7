"""HolderDeadlines (agent/mobileip/visitor_deadlines.py): one deadline per
holder, kept on the holder; re-scheduling, cancelling and replacing a holder
leave stale heap entries that never fire, and compaction bounds them."""

from __future__ import annotations

from dataclasses import dataclass

from agent.mobileip.visitor_deadlines import HolderDeadlines


@dataclass
class Holder:
    name: str
    deadline: float | None = None


def test_earliest_first_and_rescheduling_replaces_the_deadline() -> None:
    holders = {n: Holder(n) for n in "abc"}
    timers: HolderDeadlines[Holder] = HolderDeadlines(holders)
    timers.schedule("a", holders["a"], 30)
    timers.schedule("b", holders["b"], 10)
    timers.schedule("c", holders["c"], 20)
    timers.schedule("b", holders["b"], 40)  # later: the 10 s entry is stale now
    assert timers.next() == 20
    assert [h.name for h in timers.pop_due(35)] == ["c", "a"]
    assert holders["a"].deadline is None and holders["b"].deadline == 40
    assert timers.next() == 40
    timers.cancel(holders["b"])
    assert timers.next() is None and timers.pop_due(1e9) == []


def test_a_holder_replaced_or_removed_does_not_fire() -> None:
    holders = {"a": Holder("a")}
    timers: HolderDeadlines[Holder] = HolderDeadlines(holders)
    timers.schedule("a", holders["a"], 10)
    holders["a"] = Holder("a")  # a new visitor for the same station
    assert timers.pop_due(10) == []
    timers.schedule("a", holders["a"], 10)  # same instant, new holder: fires once
    assert timers.pop_due(10) == [holders["a"]]
    timers.schedule("a", holders["a"], 5)
    del holders["a"]
    assert timers.next() is None


def test_stale_entries_are_bounded() -> None:
    holders = {str(i): Holder(str(i)) for i in range(100)}
    timers: HolderDeadlines[Holder] = HolderDeadlines(holders)
    for round_ in range(50):
        for key, holder in holders.items():
            timers.schedule(key, holder, 1000 + round_)
        assert len(timers) <= 2 * len(holders) + 1
    assert [h.deadline for h in holders.values()] == [1049.0] * 100
    assert len(timers.pop_due(1049)) == 100 and len(timers) == 0
