"""One deadline per visitor, kept on the visitor itself (the proxy's 100,000
registrations each have one timer: retransmission, renewal or retry).

``Deadlines`` (a heap of (when, sequence, key) plus a key -> sequence dict) costs
~240 bytes per visitor; here a heap entry is a (when, key) pair whose ``when``
is the very float object stored in ``holder.deadline``, so an entry is live
exactly when ``holders[key].deadline is when`` — no sequence numbers, no second
dict: ~90 bytes per visitor (docs/performance.md, RSS per visitor). Lazy
deletion as in ``Deadlines``: a re-scheduled or cancelled entry stays in the heap
until it surfaces or a compaction drops it.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Generic, Protocol, TypeVar


class HasDeadline(Protocol):
    deadline: float | None


H = TypeVar("H", bound=HasDeadline)


class HolderDeadlines(Generic[H]):
    def __init__(self, holders: Mapping[str, H]) -> None:
        #: The live holders by key (the proxy's visitors by MAC): an entry whose
        #: key no longer maps to the holder that scheduled it is stale.
        self._holders = holders
        self._heap: list[tuple[float, str]] = []
        self._live = 0

    def __len__(self) -> int:
        """Heap entries, stale ones included (bounded by compaction)."""
        return len(self._heap)

    def schedule(self, key: str, holder: H, when: float) -> None:
        when = float(when)
        if holder.deadline is None:
            self._live += 1
        holder.deadline = when
        heapq.heappush(self._heap, (when, key))
        if len(self._heap) > 64 and len(self._heap) > 2 * self._live:
            self._compact()

    def cancel(self, holder: H) -> None:
        if holder.deadline is not None:
            holder.deadline = None
            self._live -= 1

    def forget(self, holder: H) -> None:
        """``holder`` is leaving ``holders``: its deadline is void."""
        self.cancel(holder)

    def _is_live(self, when: float, key: str) -> bool:
        holder = self._holders.get(key)
        return holder is not None and holder.deadline is when

    def next(self) -> float | None:
        heap = self._heap
        while heap and not self._is_live(*heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[H]:
        """The holders whose deadline is at or before ``now``, earliest first;
        their deadline is cleared."""
        due: list[H] = []
        heap = self._heap
        holders = self._holders
        while heap and heap[0][0] <= now:
            when, key = heapq.heappop(heap)
            holder = holders.get(key)
            if holder is not None and holder.deadline is when:
                holder.deadline = None
                self._live -= 1
                due.append(holder)
        return due

    def _compact(self) -> None:
        self._heap = [entry for entry in self._heap if self._is_live(*entry)]
        heapq.heapify(self._heap)
        # Recounted: a holder replaced in ``holders`` while scheduled is no
        # longer counted once its entry is gone.
        self._live = len(self._heap)
