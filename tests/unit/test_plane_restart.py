"""A control plane killed with SIGKILL and started again (a new epoch): the
management plane's mirror keeps the old content, marked stale, until the new
incarnation's resynchronisation completes, then holds exactly the new
content. Real processes (a small control plane on agent/plane, run with
``python -c``) over a real Unix socket; stopped by the pid we started."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from agent.plane import aio
from agent.plane import session as s
from agent.plane.mirror import MirrorState, OperationalMirror
from agent.plane.tables import TableId

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0

#: argv: socket path, rows, identification of every row.
CONTROL_PLANE = """
import asyncio, os, sys, time
from agent.plane import aio, session as s
from agent.plane.stream import MappingRowSource, StateStream
from agent.plane.tables import TableId

path, rows, identification = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

async def main():
    loop = asyncio.get_running_loop()
    engine = {(0xC6120000 + i, 0x7F000004): (0xC6120000 + i, 0x7F000004, 0x7F000004, 434, 0,
              identification, 3000, 1.0, 3001.0) for i in range(rows)}
    pump = None
    def on_event(event):
        if isinstance(event, s.SessionEstablished):
            pump.resync()
    connection = await aio.connect_control(
        path, lambda now: s.ControlSession(epoch=time.monotonic_ns(), pid=os.getpid(), now=now), on_event)
    stream = StateStream(epoch=time.monotonic_ns(),
                         sources={TableId.BINDING: MappingRowSource(engine, lambda r: r)},
                         send=aio.state_sender(connection), clock=time.perf_counter)
    pump = aio.StreamPump(stream, connection, loop=loop)
    if connection.session.state is s.SessionState.ESTABLISHED:
        pump.resync()
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_control_plane_killed_and_restarted(tmp_path: Path) -> None:
    path = tmp_path / "plane.sock"

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        mirror = OperationalMirror()
        observed: list[tuple[MirrorState, int, int | None]] = []

        def on_event(connection: aio.PlaneConnection, event: s.Event) -> None:
            if isinstance(event, s.StateReceived):
                assert mirror.apply(event.message, loop.time()) is None
                first = mirror.row(TableId.BINDING, (0xC6120000, 0x7F000004))
                observed.append((mirror.state, mirror.count(TableId.BINDING),
                                 None if first is None else first[5]))
            elif isinstance(event, s.SessionClosed):
                mirror.connection_lost()

        server = await aio.serve_management(
            path, lambda now: s.ManagementSession(epoch=1, pid=os.getpid(), now=now), on_event)

        async def start(rows: int, identification: int) -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-c", CONTROL_PLANE, str(path), str(rows), str(identification),
                cwd=ROOT)

        async def until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
            deadline = loop.time() + TIMEOUT
            while not condition():
                if loop.time() > deadline:
                    raise AssertionError(f"timed out waiting for {what}")
                await asyncio.sleep(0.01)

        first = await start(30_000, 1)
        second = None
        try:
            await until(lambda: mirror.state is MirrorState.SYNCED, "the first resync")
            first_epoch = mirror.epoch
            assert mirror.count(TableId.BINDING) == 30_000
            first.send_signal(signal.SIGKILL)
            await first.wait()
            await until(lambda: mirror.state is MirrorState.LOST, "the connection loss")
            assert mirror.stale and mirror.count(TableId.BINDING) == 30_000  # still readable
            observed.clear()
            second = await start(20_000, 2)
            await until(lambda: mirror.state is MirrorState.SYNCED, "the second resync")
            assert mirror.epoch != first_epoch
            rows = list(mirror.rows(TableId.BINDING))
            assert len(rows) == 20_000 and {row[5] for row in rows} == {2}
            # While the new content was being staged, readers saw the old one, whole.
            during = [o for o in observed if o[0] is not MirrorState.SYNCED]
            assert during and all(count == 30_000 and ident == 1 for _, count, ident in during)
        finally:
            for process in (first, second):
                if process is not None and process.returncode is None:
                    process.send_signal(signal.SIGKILL)
                    await process.wait()
            server.close()
            await server.wait_closed()

    asyncio.run(asyncio.wait_for(scenario(), 90))
