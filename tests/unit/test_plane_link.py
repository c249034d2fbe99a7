"""The management plane's adapter of the plane boundary (agent/plane/link.py)
on real Unix sockets: the synchronous pump that a configuration transaction
waits in, the same-uid rule of the listener, and the bound on unsent output.
The control plane's end is the real ``ControlSession``, fed by a thread that
owns the other socket (the pump blocks the loop's thread, as it does in the
management plane)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path

from agent.plane import messages as m
from agent.plane import session as s
from agent.plane.link import PlaneLink, PlaneListener

TIMEOUT = 10.0


def control_peer(sock: socket.socket, *, answer: str, stop: threading.Event) -> threading.Thread:
    """A control plane end on a thread: hello, then ``answer`` ("accept",
    "veto" or "silent") to every change."""
    def run() -> None:
        session = s.ControlSession(epoch=2, pid=os.getpid(), now=0.0)
        sock.settimeout(0.05)
        while not stop.is_set():
            out = session.data_to_send()
            if out:
                sock.sendall(out)
            try:
                data = sock.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            session.receive_data(data, 0.0)
            while (event := session.next_event()) is not None:
                if isinstance(event, s.ConfigChangeRequested) and answer == "accept":
                    session.accept(event.transaction, 0.0)
                elif isinstance(event, s.ConfigChangeRequested) and answer == "veto":
                    session.veto(event.transaction, m.ErrorTag.DATA_EXISTS, "no")
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def run_with_link(answer: str, *, max_buffered: int = 1 << 26,
                  change: tuple[m.ConfigChangeEntry, ...] = ()) -> tuple[list[s.Event], PlaneLink]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    stop = threading.Event()
    peer = control_peer(theirs, answer=answer, stop=stop)
    events: list[s.Event] = []

    async def scenario() -> PlaneLink:
        loop = asyncio.get_running_loop()
        session = s.ManagementSession(epoch=1, pid=os.getpid(), now=loop.time(), change_timeout=0.3)
        link = PlaneLink(ours, session, events.append, loop=loop, max_buffered=max_buffered)
        established = link.pump_until(lambda: session.state is s.SessionState.ESTABLISHED,
                                      loop.time() + TIMEOUT)
        assert established
        session.begin_transaction(change, loop.time())
        verdicts = (s.TransactionPrepared, s.TransactionVetoed, s.TransactionTimedOut, s.TransactionLost)
        link.pump_until(lambda: any(isinstance(e, verdicts) for e in events), loop.time() + TIMEOUT)
        return link

    try:
        link = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    finally:
        stop.set()
        peer.join(TIMEOUT)
        theirs.close()
    return events, link


def test_the_pump_waits_for_the_verdict_in_the_callers_thread() -> None:
    events, link = run_with_link("accept")
    assert any(isinstance(e, s.SessionEstablished) for e in events)
    assert [type(e) for e in events if isinstance(e, s.TransactionPrepared)] == [s.TransactionPrepared]
    link.close()


def test_the_pump_returns_a_veto() -> None:
    events, link = run_with_link("veto")
    (veto,) = [e for e in events if isinstance(e, s.TransactionVetoed)]
    assert veto.veto.tag is m.ErrorTag.DATA_EXISTS
    link.close()


def test_the_pump_runs_the_sessions_timer_the_change_timeout_aborts() -> None:
    events, link = run_with_link("silent")
    (timed_out,) = [e for e in events if isinstance(e, s.TransactionTimedOut)]
    assert timed_out.phase is s.Phase.CHANGE
    link.close()


def test_unsent_output_over_the_bound_drops_the_connection() -> None:
    # A change set far over what the socket buffers hold, a peer that stops
    # reading (silent, and its recv is slower than our writes): the link
    # gives up rather than hold it, and reports the transaction lost.
    big = tuple(m.ConfigChangeEntry(m.ChangeKind.CREATED, f"/p:mobile-ip/x[k='{i}']", "v" * 900)
                for i in range(4000))
    events, link = run_with_link("silent", max_buffered=1 << 16, change=big)
    assert link.closed
    assert any(isinstance(e, s.TransactionLost) for e in events)
    assert any(isinstance(e, s.SessionClosed) for e in events)


def test_the_listener_refuses_a_peer_of_another_uid(tmp_path: Path) -> None:
    path = str(tmp_path / "plane.sock")
    accepted: list[int] = []

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        listener = PlaneListener(path, lambda sock, pid: accepted.append(pid), loop=loop,
                                 allowed_uid=os.getuid() + 1)
        listener.start()
        assert os.stat(path).st_mode & 0o777 == 0o600
        reader, writer = await asyncio.open_unix_connection(path)
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""  # closed at once
        writer.close()
        listener.close()
        return listener.refused

    assert asyncio.run(scenario()) == 1
    assert accepted == []
    assert not os.path.exists(path)
