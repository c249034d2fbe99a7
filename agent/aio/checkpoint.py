"""The state checkpoint file (YANG ``state-checkpoint``): the home agent's
bindings and the foreign agent's visitors, written atomically (temporary file,
fsync, rename, fsync of the directory: ``agent.datastore.store.atomic_write``)
at most once per interval after they changed, and once more on shutdown; read
back at start. The engines make and take the content
(``export_state`` / ``restore_state``); this adapter only times and stores it."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.datastore.store import atomic_write

log = logging.getLogger("proxymip.checkpoint")

FORMAT = "proxymip-state-checkpoint/1"


def read_checkpoint(path: Path) -> dict[str, Any] | None:
    """The saved document, or None when there is none or it is not ours (said
    once in the log: the agent then starts empty, as it would without one)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("state checkpoint %s unreadable (%s): starting without it", path, exc)
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        log.warning("state checkpoint %s is not a %s document: starting without it", path, FORMAT)
        return None
    return document


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
