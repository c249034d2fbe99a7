"""Garbage-collector policy for an agent process that holds 100,000s of
long-lived records (bindings, visitors, SAs).

CPython's cyclic collector runs a full (generation 2) collection whenever the
objects that survived into the old generation grow by 25 %; each one walks
every tracked object. With 100,000 visitors or bindings that is 100-500 ms
with the event loop stopped, measured in every role of the loopback lab
(docs/performance.md, proxy section): the whole tail of the association-to-
registered latency. Those records are not cyclic garbage — they are freed by
reference counting when removed — so scanning them again and again buys
nothing.

Every ``freeze_interval`` seconds the objects alive are moved to the permanent
generation (``gc.freeze()``, O(1)): later collections only walk what was
allocated since. Just before, one collection of everything not frozen yet
runs (``gc.collect()`` never walks the permanent generation): cyclic garbage
made since the last freeze is reclaimed instead of being frozen with the live
objects. Without it, cycles that had reached the old generation (an asyncio
transport of every control, NETCONF or SNMP connection is one: its read
callback is a bound method of itself) were frozen and held for up to an hour:
the access points of ``proxymip lab --clients 2000`` grew by ~20 MB under
churn and fell back only at the hourly collection (issue 15 item 5). What is
freed when a visitor or binding leaves is freed by reference counting (no
cycles through them: tests/unit/test_departure_refcount.py).

The price is that cycles among frozen objects that later become garbage are
not reclaimed until the next ``full_interval``, when the objects are unfrozen
and one full collection runs (one pause per hour instead of one every few
seconds while the state grows, or about a minute in steady state renewal
churn).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging

log = logging.getLogger(__name__)


class LongLivedStateGc:
    def __init__(self, *, freeze_interval: float = 10.0, full_interval: float = 3600.0) -> None:
        self.freeze_interval = freeze_interval
        self.full_interval = full_interval
        self.freezes = 0
        self.full_collections = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        gc.freeze()  # what start-up built (modules, schema, configuration) stays
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        gc.unfreeze()

    async def _run(self) -> None:
        since_full = 0.0
        while True:
            await asyncio.sleep(self.freeze_interval)
            since_full += self.freeze_interval
            if since_full >= self.full_interval:
                since_full = 0.0
                gc.unfreeze()
                found = gc.collect()
                self.full_collections += 1
                log.info("full garbage collection: %d unreachable objects", found)
            else:
                # Only what was allocated since the last freeze is walked.
                gc.collect()
            gc.freeze()
            self.freezes += 1
