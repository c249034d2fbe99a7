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
        self._when: dict[K, tuple[float, int]] = {}
        self._counter = itertools.count()

    def __len__(self) -> int:
        return len(self._when)

    def __contains__(self, key: object) -> bool:
        return key in self._when

    def schedule(self, key: K, when: float) -> None:
        stamp = (when, next(self._counter))
        self._when[key] = stamp
        heapq.heappush(self._heap, (when, stamp[1], key))
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._when):
            self._compact()

    def cancel(self, key: K) -> None:
        self._when.pop(key, None)

    def when(self, key: K) -> float | None:
        stamp = self._when.get(key)
        return stamp[0] if stamp else None

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap:
            when, seq, key = heap[0]
            if self._when.get(key) == (when, seq):
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
            del self._when[key]
            due.append(key)

    def _compact(self) -> None:
        self._heap = [(w, s, k) for k, (w, s) in self._when.items()]
        heapq.heapify(self._heap)
