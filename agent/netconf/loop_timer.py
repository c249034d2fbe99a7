"""One asyncio timer for a sans-IO engine that tells its next deadline
(``get_timer()``) and wants ``handle_timer(now)`` called then (aioquic's
pattern): the adapter side of :class:`agent.netconf.confirmed_commit.ConfirmedCommits`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class TimedEngine(Protocol):
    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


class LoopTimer:
    """Keeps one ``call_later`` armed at ``engine.get_timer()``. Deadlines are
    in ``clock()`` seconds (the engine's clock); the loop's own clock only
    measures the delay. Call :meth:`rearm` whenever the deadline may have
    changed; a timer that fires early (the two clocks drift) re-arms itself."""

    def __init__(self, engine: TimedEngine, *, clock: Callable[[], float],
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._loop = loop or asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._closed = False

    def rearm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        deadline = self._engine.get_timer()
        if deadline is None or self._closed:
            return
        self._handle = self._loop.call_later(max(0.0, deadline - self._clock()), self._fire)

    def close(self) -> None:
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._engine.handle_timer(self._clock())
        self.rearm()
