"""The supervisor of the two planes (agent/plane/supervisor.py): the restart
policy on virtual time, and real child processes (small ``python -c``
scripts) killed with SIGKILL by the pid the supervisor started."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from agent.plane.supervisor import ChildSpec, ChildState, RestartPolicy, Supervisor

TIMEOUT = 20.0
STAYS_UP = "import sys, time; print('ready ' + sys.argv[1], flush=True); time.sleep(600)"
SAYS_MORE = ("import sys, time; print('hello', flush=True); print('ready ' + sys.argv[1], flush=True);"
             " time.sleep(600)")


# -- the policy, on virtual time ------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_and_resets_when_stable() -> None:
    policy = RestartPolicy(["management", "control"], initial_backoff=0.5, max_backoff=4.0,
                           stable_after=60.0)
    assert policy.due(0.0) == ["management", "control"]
    now = 0.0
    for name in ("management", "control"):
        policy.started(name, now)
    restart_times = []
    for _ in range(6):  # the control plane crashes at once, again and again
        when = policy.exited("control", now)
        assert when is not None
        restart_times.append(when - now)
        assert policy.due(when - 0.001) == []
        assert policy.get_timer() == when
        now = when
        assert policy.due(now) == ["control"]
        policy.started("control", now)
    assert restart_times == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    # It stays up a minute: the next failure starts from the beginning.
    now += 60.0
    assert policy.exited("control", now) == now + 0.5


def test_ready_once_for_the_pair() -> None:
    policy = RestartPolicy(["management", "control"])
    policy.started("management", 0.0)
    policy.started("control", 0.0)
    assert policy.ready("management", 1.0) is False
    assert policy.ready("control", 1.5) is True
    policy.exited("control", 2.0)
    policy.started("control", 2.5)
    assert policy.ready("control", 3.0) is False  # a restart is not a second READY
    assert policy.children["control"].restarts == 1
    assert policy.children["management"].restarts == 0


def test_no_restart_while_stopping() -> None:
    policy = RestartPolicy(["management", "control"])
    policy.started("management", 0.0)
    policy.started("control", 0.0)
    policy.stop()
    assert policy.exited("control", 1.0) is None
    assert policy.children["control"].state is ChildState.STOPPED
    assert policy.due(100.0) == [] and policy.get_timer() is None


# -- real processes ---------------------------------------------------------------------------


def _specs(script: str = STAYS_UP) -> list[ChildSpec]:
    return [ChildSpec(name, [sys.executable, "-c", script, name]) for name in ("management", "control")]


async def _until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(poll(), TIMEOUT)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def test_kill_9_of_one_child_restarts_it_alone(tmp_path: Path) -> None:
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.setblocking(False)

    async def scenario() -> None:
        ready: list[dict[str, str]] = []
        lines: list[tuple[str, str]] = []
        supervisor = Supervisor(_specs(SAYS_MORE), on_ready=ready.append,
                                on_line=lambda name, line: lines.append((name, line)),
                                notify_socket=notify_path, initial_backoff=0.05)
        await supervisor.start()
        try:
            await _until(lambda: ready, "READY")
            assert ready == [{"management": "ready management", "control": "ready control"}]
            assert ("control", "hello") in lines
            first_control = supervisor.pid("control")
            management = supervisor.pid("management")
            assert first_control is not None and management is not None
            os.kill(first_control, signal.SIGKILL)
            await _until(lambda: supervisor.policy.children["control"].restarts == 1
                         and supervisor.policy.children["control"].state is ChildState.READY,
                         "the control plane back")
            assert supervisor.pid("control") not in (None, first_control)
            assert supervisor.pid("management") == management  # untouched
            assert len(ready) == 1  # one READY for the pair
        finally:
            await supervisor.stop(grace=5)
        assert supervisor.pid("control") is None and supervisor.pid("management") is None

    asyncio.run(asyncio.wait_for(scenario(), 60))
    messages = []
    while True:
        try:
            messages.append(notify.recv(4096).decode())
        except BlockingIOError:
            break
    notify.close()
    assert messages.count("READY=1") == 1
    assert any(m.startswith("STATUS=control exited (-9)") for m in messages)
    assert any(m.startswith("STATUS=control restarted") for m in messages)


def test_a_crashing_child_is_restarted_with_backoff_and_stop_ends_it() -> None:
    crashing = [ChildSpec("management", [sys.executable, "-c", STAYS_UP, "management"]),
                ChildSpec("control", [sys.executable, "-c", "raise SystemExit(3)"])]

    async def scenario() -> None:
        ready: list[dict[str, str]] = []
        supervisor = Supervisor(crashing, on_ready=ready.append, notify_socket="",
                                initial_backoff=0.02, max_backoff=0.1)
        await supervisor.start()
        try:
            await _until(lambda: supervisor.policy.children["control"].failures_in_a_row >= 4,
                         "four failures")
            assert ready == []  # never both ready
        finally:
            await supervisor.stop(grace=5)
        failures = supervisor.policy.children["control"].failures_in_a_row
        await asyncio.sleep(0.3)
        assert supervisor.policy.children["control"].failures_in_a_row == failures  # no more starts

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_stop_kills_a_child_that_ignores_sigterm() -> None:
    stubborn = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                " print('ready ' + sys.argv[1], flush=True); time.sleep(600)")

    async def scenario() -> None:
        ready: list[dict[str, str]] = []
        supervisor = Supervisor(_specs(stubborn), on_ready=ready.append, notify_socket="")
        await supervisor.start()
        await _until(lambda: ready, "READY")
        processes = list(supervisor.processes.values())
        await supervisor.stop(grace=0.5)
        assert [p.returncode for p in processes] == [-signal.SIGKILL, -signal.SIGKILL]

    asyncio.run(asyncio.wait_for(scenario(), 60))
