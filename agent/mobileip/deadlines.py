"""A set of named deadlines: the one timer an engine asks its adapter to arm is the
earliest of them (aioquic's ``get_timer`` pattern).

A heap with lazy deletion: re-scheduling or cancelling a key leaves a stale heap
entry behind that is skipped when it surfaces. ``compact`` bounds the garbage.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Deadlines(Generic[K]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        #: key -> sequence number of its live heap entry (a bare int: one
        #: deadline per binding, so every byte here counts).
        self._live: dict[K, int] = {}
        self._counter = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def schedule(self, key: K, when: float) -> None:
        seq = next(self._counter)
        self._live[key] = seq
        heapq.heappush(self._heap, (when, seq, key))
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._live):
            self._compact()

    def cancel(self, key: K) -> None:
        self._live.pop(key, None)

    def _drop_stale(self) -> None:
        heap = self._heap
        live = self._live
        while heap:
            _, seq, key = heap[0]
            if live.get(key) == seq:
                return
            heapq.heappop(heap)

    def next(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[K]:
        """Remove and return every key whose deadline is at or before ``now``,
        earliest first."""
        due: list[K] = []
        heap = self._heap
        while True:
            self._drop_stale()
            if not heap or heap[0][0] > now:
                return due
            _, _, key = heapq.heappop(heap)
            del self._live[key]
            due.append(key)

    def _compact(self) -> None:
        live = self._live
        self._heap = [entry for entry in self._heap if live.get(entry[2]) == entry[1]]
        heapq.heapify(self._heap)
