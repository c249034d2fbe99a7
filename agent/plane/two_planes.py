"""``proxymip run --planes two``: one service, two processes (issue 14).

The supervisor (``agent/plane/supervisor.py``) starts the management plane
(``python -m agent.plane.management_plane``: datastore, NETCONF, SNMP, the
control channel, the operational mirror) and the control plane (``python -m
agent.plane.control_plane``: the role engines, RADIUS, the data plane) with
a plane socket in a directory only we can enter (systemd's
``RuntimeDirectory`` when there is one, else a fresh ``mkdtemp`` directory,
mode 0700), prints one ``ready`` line with both planes' endpoints and says
``READY=1`` once (sd_notify(3)), keeps the watchdog alive from its own loop,
restarts whichever plane dies, forwards SIGHUP (reload the startup file) to
the management plane and stops both on SIGTERM or SIGINT, by the pids it
started.

A plane that exits before the pair was ever ready is a failed start, not a
crash to restart: the supervisor stops the other one and exits 1, so that
``proxymip run`` with a configuration the engines cannot run fails as the
one-process run does, and systemd sees the start fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from agent.plane.supervisor import ChildSpec, ChildState, Supervisor

MANAGEMENT = "management"
CONTROL = "control"
SOCKET_NAME = "plane.sock"
#: The management plane's niceness above the control plane's: on a machine
#: with fewer cores than busy processes, a long read (an SNMP walk of
#: 100,000 bindings keeps it busy for ~30 s) yields the CPU to the engines
#: (measured: registration p99 during such a walk 33x quiet at equal
#: priority, 5x with +10; docs/performance.md).
MANAGEMENT_NICE = 10


def plane_commands(startup: Path, socket_path: Path, *,
                   control_socket: str | None = None) -> list[ChildSpec]:
    """The two children, run by the same interpreter as we are."""
    management = [sys.executable, "-m", "agent.plane.management_plane",
                  "--startup", str(startup), "--socket", str(socket_path)]
    if control_socket:
        management += ["--control-socket", control_socket]
    control = [sys.executable, "-m", "agent.plane.control_plane",
               "--socket", str(socket_path), "--state-dir", str(startup.parent)]
    return [ChildSpec(MANAGEMENT, management, nice=MANAGEMENT_NICE), ChildSpec(CONTROL, control)]


def merged_ready(lines: dict[str, str]) -> dict[str, str]:
    """Both children's ``ready`` lines as the one-process run's: endpoint
    name -> ``host:port``. The control plane's line nests its endpoints."""
    endpoints: dict[str, str] = {}
    for line in lines.values():
        payload: Any = json.loads(line.partition(" ")[2] or "{}")
        if isinstance(payload, dict) and isinstance(payload.get("endpoints"), dict):
            payload = payload["endpoints"]
        if isinstance(payload, dict):
            endpoints.update({str(k): str(v) for k, v in payload.items()})
    return endpoints


def _runtime_directory() -> tuple[Path, bool]:
    """Where the plane socket lives, and whether we made it (and remove it)."""
    given = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if given:
        return Path(given), False
    return Path(tempfile.mkdtemp(prefix="proxymip-")), True  # mode 0700


async def run_two_planes(startup: Path, *, control_socket: str | None = None,
                         **policy: float) -> int:
    from agent.aio.service import ServiceNotifier

    # systemd's variables are ours, not the children's: READY=1 comes from here.
    notifier = ServiceNotifier.from_environment()
    runtime_dir, made = _runtime_directory()
    startup = startup.resolve()
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    failed_start = asyncio.Event()
    stop = asyncio.Event()

    def on_ready(lines: dict[str, str]) -> None:
        print("ready " + json.dumps(merged_ready(lines), sort_keys=True), flush=True)
        if notifier is not None:
            notifier.ready("serving: management and control planes")
            notifier.start_watchdog(loop)
        ready.set()

    def on_line(name: str, line: str) -> None:
        print(f"{name}: {line}", file=sys.stderr, flush=True)

    supervisor = Supervisor(
        plane_commands(startup, runtime_dir / SOCKET_NAME, control_socket=control_socket),
        on_ready=on_ready, on_line=on_line, notify_socket=None, **policy)

    def on_exit(name: str, returncode: int | None) -> None:
        if not supervisor.policy.pair_ready and not supervisor.policy.stopping:
            print(f"proxymip: the {name} plane exited ({returncode}) before it was ready",
                  file=sys.stderr, flush=True)
            failed_start.set()
        elif notifier is not None and not supervisor.policy.stopping:
            notifier.notify(f"STATUS={name} plane exited ({returncode}); restarting")

    supervisor.on_exit = on_exit
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _forward_reload, supervisor)
    try:
        await supervisor.start()
        waiters = [asyncio.ensure_future(e.wait()) for e in (stop, failed_start)]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
    finally:
        if notifier is not None:
            notifier.stopping()
        loop.remove_signal_handler(signal.SIGHUP)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        await supervisor.stop()
        if notifier is not None:
            notifier.close()
        if made:
            shutil.rmtree(runtime_dir, ignore_errors=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)
    return 1 if failed_start.is_set() else 0


def _forward_reload(supervisor: Supervisor) -> None:
    """SIGHUP: the management plane reloads the startup file (one transaction,
    which reaches the control plane like any other change)."""
    pid = supervisor.pid(MANAGEMENT)
    record = supervisor.policy.children.get(MANAGEMENT)
    if pid is not None and record is not None and record.state is ChildState.READY:
        os.kill(pid, signal.SIGHUP)
