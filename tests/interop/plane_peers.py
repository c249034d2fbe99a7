"""The two ends of the plane boundary for tests of the management plane:

- ``ManagementPlaneInProcess``: ``agent.plane.management_plane.ManagementPlane``
  over a real datastore, on an event loop thread of its own (ncclient blocks,
  and a commit blocks the management loop while it waits for the verdict);
- ``ScriptedControlPlane``: the control plane's end, played with the real
  ``ControlSession`` + ``PlaneConnection`` + ``StateStream`` / ``StreamPump``
  on another loop thread, answering transactions and RPCs as the test says
  and streaming the rows the test gives.

Loopback and Unix sockets in the test's tmp_path only."""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from agent.datastore.store import RUNNING
from agent.plane import aio
from agent.plane import messages as m
from agent.plane import session as s
from agent.plane.config_boundary import BoundaryDatastore
from agent.plane.management_plane import ManagementPlane
from agent.plane.mirror import MirrorState
from agent.plane.stream import MappingRowSource, StateStream
from agent.plane.tables import TABLES, TableId
from agent.schema.context import TOP_MEMBER

WAIT = 10.0


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coroutine: Any, timeout: float = WAIT) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def on_loop(self, function: Callable[..., Any], *args: Any) -> Any:
        async def run() -> Any:
            return function(*args)
        return self.call(run())

    def stop(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(WAIT)
            self.loop.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class ManagementPlaneInProcess:
    def __init__(self, workdir: Path, document: dict[str, Any], *, change_timeout: float = 5.0,
                 rpc_timeout: float = 2.0) -> None:
        self.workdir = workdir
        self.socket_path = str(workdir / "plane.sock")
        self.control_socket = str(workdir / "control.sock")
        self.thread = LoopThread()
        self.datastore = BoundaryDatastore()
        self.datastore.replace_config(RUNNING, {TOP_MEMBER: document[TOP_MEMBER]})
        self.plane = ManagementPlane(self.datastore, socket_path=self.socket_path,
                                     control_socket=self.control_socket, state_dir=str(workdir),
                                     change_timeout=change_timeout, rpc_timeout=rpc_timeout)
        self.thread.call(self.plane.start())

    def endpoint(self, name: str) -> tuple[str, int]:
        host, port = self.thread.on_loop(self.plane.endpoints)[name].rsplit(":", 1)
        return host, int(port)

    def running(self) -> dict[str, Any]:
        return self.thread.on_loop(self.datastore.get_config, RUNNING)  # type: ignore[no-any-return]

    def mirror_synced(self) -> bool:
        return self.thread.on_loop(lambda: self.plane.mirror.state is MirrorState.SYNCED)  # type: ignore[no-any-return]

    def stop(self) -> None:
        try:
            self.thread.call(self.plane.close())
        finally:
            self.thread.stop()
            self.datastore.close()


def checked(table: TableId, row: tuple[Any, ...]) -> tuple[Any, ...]:
    return TABLES[table].check_row(row)


class ScriptedControlPlane:
    """``verdict``: "accept", "silent" (no answer), or ``("veto", tag, message,
    path)``; ``full_verdict`` the same for the full transaction of a session
    (default: accept). ``tables``: key -> row per table, what the stream
    resynchronises from; ``record`` sends a delta."""

    def __init__(self) -> None:
        self.thread = LoopThread()
        self.events: queue.Queue[s.Event] = queue.Queue()
        self.verdict: Any = "accept"
        self.full_verdict: Any = "accept"
        self.cleared = 0
        #: Seconds before ConfigApplied of a full transaction (the engines busy
        #: applying the whole configuration).
        self.full_apply_delay = 0.0
        self._full: set[int] = set()
        self.epoch = time.time_ns()
        self.tables: dict[TableId, dict[tuple[Any, ...], tuple[Any, ...]]] = {t: {} for t in TableId}
        self.connection: aio.PlaneConnection | None = None
        self.stream: StateStream | None = None
        self.pump: aio.StreamPump | None = None

    # -- connection ---------------------------------------------------------------------

    def connect(self, path: str) -> None:
        self.thread.call(self._connect(path))

    async def _connect(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        connection = await aio.connect_control(
            path, lambda now: s.ControlSession(epoch=self.epoch, pid=os.getpid(), now=now),
            self._on_event)
        self.connection = connection
        sources = {table: MappingRowSource(self.tables[table], lambda row: row) for table in TableId}
        self.stream = StateStream(epoch=self.epoch, sources=sources,
                                  send=aio.state_sender(connection), clock=time.monotonic)
        self.pump = aio.StreamPump(self.stream, connection, loop=loop)
        connection.flush()

    def disconnect(self) -> None:
        def close() -> None:
            if self.connection is not None and self.connection._transport is not None:
                self.connection._transport.close()
        self.thread.on_loop(close)

    @property
    def session(self) -> s.ControlSession:
        assert self.connection is not None
        session = self.connection.session
        assert isinstance(session, s.ControlSession)
        return session

    def _on_event(self, event: s.Event) -> None:
        self.events.put(event)
        session = self.session
        if isinstance(event, s.SessionEstablished):
            assert self.pump is not None
            self.pump.resync()  # after every hello (the spec)
        elif isinstance(event, s.ResyncRequested):
            assert self.pump is not None
            self.pump.resync()
        elif isinstance(event, s.ConfigChangeRequested):
            if event.full:
                self._full.add(event.transaction)
            verdict = self.full_verdict if event.full else self.verdict
            if verdict == "accept":
                session.accept(event.transaction, asyncio.get_running_loop().time())
            elif verdict != "silent":
                _, tag, message, path = verdict
                session.veto(event.transaction, m.ErrorTag(tag), message, path=path)
        elif isinstance(event, s.ConfigCommitRequested):
            if event.transaction in self._full and self.full_apply_delay:
                def applied(transaction: int = event.transaction) -> None:
                    session.applied(transaction)
                    assert self.connection is not None
                    self.connection.flush()
                asyncio.get_running_loop().call_later(self.full_apply_delay, applied)
            else:
                session.applied(event.transaction)
        elif isinstance(event, s.RpcRequested):
            session.reply(event.request.request, cleared=self.cleared)
        if self.connection is not None:
            asyncio.get_running_loop().call_soon(self.connection.flush)

    def next_event(self, kind: type, timeout: float = WAIT) -> Any:
        """The next event of ``kind`` (others before it are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind.__name__} from the management plane")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if isinstance(event, kind):
                return event

    # -- the state stream ----------------------------------------------------------------------

    def put_rows(self, table: TableId, rows: list[tuple[Any, ...]]) -> None:
        """Rows that exist before the session (sent by its resynchronisation)."""
        for row in rows:
            self.tables[table][TABLES[table].key_of(checked(table, row))] = row

    def record(self, table: TableId, kind: m.ChangeKind, row: tuple[Any, ...]) -> None:
        """A change of a table after the resynchronisation: one delta."""
        def send() -> None:
            assert self.stream is not None and self.pump is not None
            key = TABLES[table].key_of(row)
            if kind is m.ChangeKind.DELETED:
                self.tables[table].pop(key, None)
                self.stream.record(table, kind, key, None)
            else:
                self.tables[table][key] = checked(table, row)
                self.stream.record(table, kind, key, row)
            self.pump.changed()
        self.thread.on_loop(send)

    def send_counters(self, groups: dict[str, dict[str, int]]) -> None:
        def send() -> None:
            assert self.stream is not None and self.connection is not None
            self.stream.send_counters(time.time(), groups)
            self.connection.flush()
        self.thread.on_loop(send)

    def send_notification(self, name: str, body: dict[str, Any]) -> None:
        def send() -> None:
            assert self.stream is not None and self.connection is not None
            self.stream.send_notification(name, time.time(), body)
            self.connection.flush()
        self.thread.on_loop(send)

    def stop(self) -> None:
        self.disconnect()
        self.thread.stop()
