"""The plane boundary over a real Unix stream socket (agent/plane/aio.py): a
management end and a control end in one loop; hello, a transaction, an RPC,
and a resynchronisation of 20,000 bindings into the mirror while deltas keep
coming."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

from agent.plane import aio
from agent.plane import messages as m
from agent.plane import session as s
from agent.plane.mirror import MirrorState, OperationalMirror
from agent.plane.stream import MappingRowSource, StateStream
from agent.plane.tables import TableId

FIRST_HOME = 0xC6120000
TIMEOUT = 20.0


def binding(home: int, identification: int = 1) -> tuple[Any, ...]:
    return (home, 0x7F000004, 0x7F000004, 434, 0, identification, 3000, 1.0, 3001.0)


def test_transaction_rpc_and_resync_over_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "plane.sock"
    engine = {(FIRST_HOME + i, 0x7F000004): binding(FIRST_HOME + i) for i in range(20_000)}

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        mirror = OperationalMirror()
        management_events: asyncio.Queue[s.Event] = asyncio.Queue()
        connections: list[aio.PlaneConnection] = []
        synced = asyncio.Event()

        def on_management(connection: aio.PlaneConnection, event: s.Event) -> None:
            if connection not in connections:
                connections.append(connection)
            if isinstance(event, s.StateReceived):
                if mirror.apply(event.message, loop.time()) is not None:
                    raise AssertionError("the mirror lost the thread")
                if mirror.state is MirrorState.SYNCED:
                    synced.set()
            else:
                management_events.put_nowait(event)

        server = await aio.serve_management(
            path, lambda now: s.ManagementSession(epoch=1, pid=os.getpid(), now=now), on_management)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

        control: aio.PlaneConnection
        pump: aio.StreamPump

        def on_control(event: s.Event) -> None:
            session = control.session
            assert isinstance(session, s.ControlSession)
            if isinstance(event, s.SessionEstablished):
                pump.resync()
            elif isinstance(event, s.ConfigChangeRequested):
                session.accept(event.transaction, loop.time())
            elif isinstance(event, s.ConfigCommitRequested):
                session.applied(event.transaction)
            elif isinstance(event, s.RpcRequested):
                assert isinstance(event.request, m.ClearBinding)
                key = (event.request.home_address, 0x7F000004)
                cleared = int(engine.pop(key, None) is not None)
                if cleared:
                    pump.stream.record(TableId.BINDING, m.ChangeKind.DELETED, key, None)
                    pump.changed()
                session.reply(event.request.request, cleared=cleared)
            control.flush()

        control = await aio.connect_control(
            path, lambda now: s.ControlSession(epoch=7, pid=os.getpid(), now=now), on_control)
        stream = StateStream(epoch=7, sources={TableId.BINDING: MappingRowSource(engine, lambda r: r)},
                             send=aio.state_sender(control), clock=loop.time)
        pump = aio.StreamPump(stream, control, loop=loop)
        pump.start_counters(0.02, lambda: (1700000000.0, {"home-agent": {"bindings": len(engine)}}))

        established = await asyncio.wait_for(management_events.get(), TIMEOUT)
        assert established == s.SessionEstablished(1, 7, os.getpid())
        (connection,) = connections
        assert connection.peer_pid == os.getpid()
        management = connection.session
        assert isinstance(management, s.ManagementSession)

        # Registrations go on during the resynchronisation.
        for i in range(200):
            key = (FIRST_HOME + 30_000 + i, 0x7F000004)
            engine[key] = binding(key[0])
            stream.record(TableId.BINDING, m.ChangeKind.CREATED, key, engine[key])
            pump.changed()
            await asyncio.sleep(0)
        await asyncio.wait_for(synced.wait(), TIMEOUT)
        for _ in range(10):  # the last deltas may follow the ResyncEnd
            await asyncio.sleep(0)
        assert {(r[0], r[1]): r for r in mirror.rows(TableId.BINDING)} == engine

        entry = m.ConfigChangeEntry(m.ChangeKind.MODIFIED, "/mobile-ip/home-agent/max-lifetime", 600, 300)
        number = management.begin_transaction((entry,), loop.time())
        connection.flush()
        assert await asyncio.wait_for(management_events.get(), TIMEOUT) == s.TransactionPrepared(number)
        management.commit(number, loop.time())
        connection.flush()
        assert await asyncio.wait_for(management_events.get(), TIMEOUT) == s.TransactionApplied(number)

        request = management.rpc(m.ClearBinding(0, FIRST_HOME + 5), loop.time())
        connection.flush()
        answer = await asyncio.wait_for(management_events.get(), TIMEOUT)
        assert answer == s.RpcCompleted(request, m.RpcReply(request, 1))
        for _ in range(10):
            await asyncio.sleep(0)
        assert mirror.row(TableId.BINDING, (FIRST_HOME + 5, 0x7F000004)) is None
        assert mirror.count(TableId.BINDING) == len(engine)
        for _ in range(200):  # counters every period (20 ms here)
            if (reading := mirror.counters_of("home-agent", loop.time())) is not None \
                    and reading.values["bindings"] == len(engine):
                break
            await asyncio.sleep(0.01)
        assert reading is not None and reading.values == {"bindings": len(engine)}
        assert reading.taken_at == 1700000000.0 and 0 <= reading.age < TIMEOUT

        control._transport.close()  # type: ignore[union-attr]  # noqa: SLF001
        closed = await asyncio.wait_for(management_events.get(), TIMEOUT)
        assert isinstance(closed, s.SessionClosed)
        server.close()
        await server.wait_closed()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_peer_of_another_user_is_refused(tmp_path: Path) -> None:
    """SO_PEERCRED: the server only talks to its own user (here it is told to
    expect another uid, so our own connection must be dropped unanswered)."""
    path = tmp_path / "plane.sock"

    async def scenario() -> None:
        events: list[Any] = []
        server = await aio.serve_management(
            path, lambda now: s.ManagementSession(epoch=1, pid=1, now=now),
            lambda connection, event: events.append(event), allowed_uid=os.getuid() + 1)
        reader, writer = await asyncio.open_unix_connection(str(path))
        data = await asyncio.wait_for(reader.read(), TIMEOUT)  # EOF, no hello
        assert data == b""
        writer.close()
        server.close()
        await server.wait_closed()
        assert not any(isinstance(e, s.SessionEstablished) for e in events)

    asyncio.run(asyncio.wait_for(scenario(), 30))
