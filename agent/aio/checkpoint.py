"""The state checkpoint file (YANG ``state-checkpoint``): the home agent's
bindings and the foreign agent's visitors, written atomically (temporary file,
fsync, rename, fsync of the directory: ``agent.datastore.store.atomic_write``)
at most once per interval after they changed, and once more on shutdown; read
back at start. The engines make and take the content
(``export_state`` / ``restore_state``); this adapter only times and stores it,
and at start checks it: a file that cannot be read as a checkpoint is moved
aside (renamed with an ``.unreadable.<time>`` suffix, kept for a human) and
the agent starts without it; each row is checked by
``agent.aio.checkpoint_records`` before an engine sees it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.datastore.store import atomic_write

log = logging.getLogger("proxymip.checkpoint")

FORMAT = "proxymip-state-checkpoint/1"


def read_checkpoint(path: Path, *, now: float) -> dict[str, Any] | None:
    """The saved document, or None when there is none or it is not ours (said
    once in the log: the agent then starts empty, as it would without one).
    A file that is there but not a checkpoint is moved aside first, so that the
    next write does not destroy what a human may want to look at."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8
        _move_aside(path, f"unreadable ({type(exc).__name__})", now)
        return None
    try:
        document = json.loads(text)
    except ValueError as exc:
        _move_aside(path, f"not JSON ({exc})", now)
        return None
    except RecursionError:
        _move_aside(path, "not JSON (nested too deeply)", now)
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        _move_aside(path, f"not a {FORMAT} document", now)
        return None
    return document


def moved_aside_path(path: Path, now: float) -> Path:
    return path.with_name(f"{path.name}.unreadable.{int(now)}")


def _move_aside(path: Path, why: str, now: float) -> None:
    aside = moved_aside_path(path, now)
    try:
        os.replace(path, aside)
    except OSError as exc:
        log.warning("state checkpoint %s %s, and not moved aside (%s): starting without it", path, why, exc)
        return
    log.warning("state checkpoint %s %s: moved to %s, starting without it", path, why, aside)


class CheckpointWriter:
    def __init__(
        self,
        path: Path,
        interval: float,
        *,
        content: Callable[[], dict[str, Any]],
        version: Callable[[], tuple[int, ...]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``content`` builds the roles' part of the document (called on the loop,
        so it is a consistent snapshot); ``version`` changes whenever it would."""
        self.path = path
        self.interval = interval
        self._content = content
        self._version = version
        self._clock = clock
        self._written: tuple[int, ...] | None = None
        self._task: asyncio.Task[None] | None = None
        self.writes = 0
        self.failures = 0
        #: Rows of the checkpoint read at start that were not restored (bad).
        self.skipped_records = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def _snapshot(self) -> dict[str, Any]:
        """Taken on the loop: a consistent copy of the engines' state."""
        return {"format": FORMAT, "written-at": self._clock(), **self._content()}

    def _write(self, document: dict[str, Any]) -> None:
        atomic_write(self.path, json.dumps(document, separators=(",", ":")))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            version = self._version()
            if version == self._written:
                continue
            document = self._snapshot()
            try:
                # Encoding and the disk work (fsync) off the loop: the engines
                # keep running.
                await asyncio.to_thread(self._write, document)
            except OSError as exc:
                self.failures += 1
                log.warning("state checkpoint %s not written: %s", self.path, exc)
                continue
            self._written = version
            self.writes += 1

    async def close(self) -> None:
        """Stop, writing the last state if it changed since the last write."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        version = self._version()
        if version != self._written:
            try:
                self._write(self._snapshot())
                self._written = version
                self.writes += 1
            except OSError as exc:
                self.failures += 1
                log.warning("state checkpoint %s not written: %s", self.path, exc)
