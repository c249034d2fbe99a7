"""Two planes, one service: start the management plane and the control plane
as child processes, say READY once when both are, restart whichever dies.

``RestartPolicy`` is the sans-IO part (what to start when, on virtual time):
a child that exits is started again after a backoff that doubles with each
failure in a row (``initial_backoff`` .. ``max_backoff``) and goes back to
the start once the child has stayed up ``stable_after`` seconds. The pair is
READY the first time both children have said ``ready``; a restart does not
say it again (systemd's READY=1 is once per service start; a restart is
reported as STATUS=).

``Supervisor`` is the asyncio adapter: real processes, their first stdout
line ``ready ...`` as their readiness, SIGTERM then SIGKILL to stop. A child
is stopped only by the pid the supervisor started.
"""

from __future__ import annotations

import asyncio
import enum
import os
import signal
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agent.aio.service import stop_with_parent

INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0
STOP_GRACE = 10.0


class ChildState(enum.Enum):
    STARTING = "starting"  # spawned, not ready yet
    READY = "ready"
    WAITING = "waiting"  # exited; started again at ``restart_at``
    STOPPED = "stopped"


@dataclass
class ChildRecord:
    name: str
    state: ChildState = ChildState.WAITING
    started_at: float = 0.0
    restart_at: float = 0.0
    failures_in_a_row: int = 0
    restarts: int = 0
    ready_once: bool = False


class RestartPolicy:
    def __init__(self, names: Sequence[str], *, initial_backoff: float = INITIAL_BACKOFF,
                 max_backoff: float = MAX_BACKOFF, stable_after: float = STABLE_AFTER) -> None:
        self.children = {name: ChildRecord(name) for name in names}
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.stable_after = stable_after
        self.pair_ready = False
        self.stopping = False

    def due(self, now: float) -> list[str]:
        """The children to start now."""
        if self.stopping:
            return []
        return [c.name for c in self.children.values()
                if c.state is ChildState.WAITING and c.restart_at <= now]

    def get_timer(self) -> float | None:
        waiting = [c.restart_at for c in self.children.values() if c.state is ChildState.WAITING]
        return None if self.stopping or not waiting else min(waiting)

    def started(self, name: str, now: float) -> None:
        child = self.children[name]
        if child.ready_once:
            child.restarts += 1
        child.state = ChildState.STARTING
        child.started_at = now

    def ready(self, name: str, now: float) -> bool:
        """True exactly once: when the pair first becomes ready."""
        child = self.children[name]
        child.state = ChildState.READY
        child.ready_once = True
        if not self.pair_ready and all(c.state is ChildState.READY for c in self.children.values()):
            self.pair_ready = True
            return True
        return False

    def exited(self, name: str, now: float) -> float | None:
        """When to start it again (None while stopping)."""
        child = self.children[name]
        if self.stopping:
            child.state = ChildState.STOPPED
            return None
        if now - child.started_at >= self.stable_after:
            child.failures_in_a_row = 0
        delay = min(self.max_backoff, self.initial_backoff * (2 ** child.failures_in_a_row))
        child.failures_in_a_row += 1
        child.state = ChildState.WAITING
        child.restart_at = now + delay
        return child.restart_at

    def stop(self) -> None:
        self.stopping = True
        for child in self.children.values():
            if child.state is ChildState.WAITING:
                child.state = ChildState.STOPPED


def sd_notify(text: str, *, address: str | None = None) -> bool:
    """Send ``text`` to systemd's notification socket ($NOTIFY_SOCKET; an
    address starting with ``@`` is abstract). False when there is none."""
    address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(text.encode(), target)
    return True


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    #: Added to the child's niceness (setpriority(2)): a positive value
    #: yields the CPU to its sibling when both want it.
    nice: int = 0


def _preexec(parent: int, nice: int) -> Callable[[], None]:
    die_with_parent = stop_with_parent(parent)

    def preexec() -> None:
        die_with_parent()
        if nice:
            os.nice(nice)

    return preexec


class Supervisor:
    def __init__(self, children: Sequence[ChildSpec], *,
                 on_ready: Callable[[dict[str, str]], None],
                 on_line: Callable[[str, str], None] | None = None,
                 notify_socket: str | None = None, **policy: float) -> None:
        """``on_ready(lines)`` is called once, with each child's ready line;
        ``on_line(name, line)`` gets their other output lines."""
        self.specs = {spec.name: spec for spec in children}
        self.policy = RestartPolicy(list(self.specs), **policy)
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self._on_ready = on_ready
        self._on_line = on_line
        self._notify_socket = notify_socket
        self._ready_lines: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Called with (name, returncode) each time a child exits.
        self.on_exit: Callable[[str, int | None], None] | None = None

    def pid(self, name: str) -> int | None:
        process = self.processes.get(name)
        return None if process is None or process.returncode is not None else process.pid

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._start_due()

    async def _start_due(self) -> None:
        assert self._loop is not None
        for name in self.policy.due(self._loop.time()):
            spec = self.specs[name]
            env = None if spec.env is None else {**os.environ, **spec.env}
            # The children die with us (PR_SET_PDEATHSIG), even by SIGKILL.
            process = await asyncio.create_subprocess_exec(
                *spec.argv, stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL, env=env,
                preexec_fn=_preexec(os.getpid(), spec.nice))
            self.processes[name] = process
            self.policy.started(name, self._loop.time())
            task = asyncio.create_task(self._watch(name, process))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._arm()

    def _arm(self) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = self.policy.get_timer()
        if when is not None:
            self._timer = self._loop.call_at(when, self._restart_due)

    def _restart_due(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self._start_due())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, name: str, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None and self._loop is not None
        while line := (await process.stdout.readline()).decode(errors="replace"):
            line = line.rstrip("\n")
            if line.startswith("ready") and self.policy.children[name].state is ChildState.STARTING:
                self._ready_lines[name] = line
                if self.policy.ready(name, self._loop.time()):
                    sd_notify("READY=1", address=self._notify_socket)
                    self._on_ready(dict(self._ready_lines))
                elif self.policy.pair_ready:
                    sd_notify(f"STATUS={name} restarted and ready", address=self._notify_socket)
            elif self._on_line is not None:
                self._on_line(name, line)
        await process.wait()
        self.policy.exited(name, self._loop.time())
        if self.on_exit is not None:
            self.on_exit(name, process.returncode)
        if not self.policy.stopping:
            sd_notify(f"STATUS={name} exited ({process.returncode}); restarting",
                      address=self._notify_socket)
        self._arm()

    async def stop(self, *, grace: float = STOP_GRACE) -> None:
        """SIGTERM both, SIGKILL what is left after ``grace`` seconds."""
        self.policy.stop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        running = [p for p in self.processes.values() if p.returncode is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(grace):
                await asyncio.gather(*(p.wait() for p in running))
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    process.kill()
            await asyncio.gather(*(p.wait() for p in running))
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
