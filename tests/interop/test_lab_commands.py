"""The documented commands run as documented: ``proxymip lab`` and ``proxymip
demo`` as the README writes them, ``proxymip lab --once``, each as a
subprocess with a time-out, their reports checked; and the lab's five agents
never outlive it: SIGTERM stops everything as Ctrl-C does (the lab's clean-up
runs: its working directory goes), and when the lab dies by SIGKILL the agents
notice (PR_SET_PDEATHSIG) and stop, found gone by their pids."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, find_tool

README = (ROOT / "README.md").read_text()
TIMEOUT = 120.0


def proxymip() -> str:
    path = find_tool("proxymip")
    assert path is not None
    return path


def readme_command(pattern: str) -> list[str]:
    """The README's command line (``.venv/bin/proxymip ...``) as argv, with
    this environment's proxymip."""
    match = re.search(pattern, README)
    assert match, f"the README no longer shows {pattern!r}"
    words = match.group(0).split()
    return [proxymip(), *words[1:]]


def children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = {pid for pid in pids if alive(pid)}
        if not left:
            return set()
        time.sleep(0.1)
    return {pid for pid in pids if alive(pid)}


class Command:
    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        #: The agents this command started, noted while it was their parent.
        self.agents: set[int] = set()
        #: The lab's working directory, once it said which.
        self.workdir: Path | None = None

    def children(self) -> set[int]:
        self.agents |= children(self.proc.pid)
        return set(self.agents)

    def read_until(self, text: str, timeout: float = TIMEOUT) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise AssertionError(f"no {text!r} in time: {self.lines[-10:]}")
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"exited before {text!r}: {self.lines[-10:]} "
                                     f"{self.proc.stderr.read() if self.proc.stderr else ''}")
            self.lines.append(line)
            if text in line:
                return line

    def finish(self, timeout: float = TIMEOUT) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        self.lines.extend(out.splitlines(keepends=True))
        return self.proc.returncode, "".join(self.lines), err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=TIMEOUT)
        # A command that ended without communicate() (killed by the test,
        # read line by line) still holds its pipes: close them here.
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def started() -> Iterator[list[Command]]:
    commands: list[Command] = []
    agents: set[int] = set()
    yield commands
    for command in commands:
        if command.proc.poll() is None:
            command.children()
        agents |= command.agents
        command.kill()
    for pid in wait_gone(agents, 10):  # a failed test leaves nothing running
        os.kill(pid, signal.SIGKILL)
    for command in commands:  # nor files (a lab killed has not removed its own)
        if command.workdir is not None:
            shutil.rmtree(command.workdir, ignore_errors=True)


AGREED = "lab: HA bindings, FA visitors and AP registrations agreed in every phase"


def lab_workdir(command: Command) -> Path:
    line = command.read_until("lab: configurations and logs in ")
    command.workdir = Path(line.split(" in ", 1)[1].strip())
    return command.workdir


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_readme_lab_stops_everything_on_sigterm_as_on_ctrl_c(started: list[Command], how: str) -> None:
    argv = readme_command(r"\.venv/bin/proxymip lab\b[^\n]*")
    assert argv[1:] == ["lab"]
    lab = Command(argv)
    started.append(lab)
    workdir = lab_workdir(lab)
    agents = lab.children()
    assert len(agents) == 5, agents
    lab.read_until(AGREED)  # one full scenario, as a reader sees it
    lab.proc.send_signal(getattr(signal, how))
    status, out, err = lab.finish(timeout=60)
    assert status == 0, err
    assert wait_gone(agents, 5) == set()
    assert not workdir.exists()  # the lab's own clean-up ran
    assert "Traceback" not in err


def test_agents_stop_when_the_lab_is_killed(started: list[Command]) -> None:
    """SIGKILL gives the lab no chance to clean up: the agents see their
    parent die (PR_SET_PDEATHSIG -> SIGTERM, their orderly stop)."""
    lab = Command([proxymip(), "lab", "--clients", "4"])
    started.append(lab)
    workdir = lab_workdir(lab)
    agents = lab.children()
    assert len(agents) == 5, agents
    lab.proc.kill()
    lab.proc.wait(TIMEOUT)
    try:
        assert wait_gone(agents, 10) == set()
        # Each stopped in order (a stdout whose reader is gone did not cut
        # its stop short): nothing but silence in their logs.
        logs = {path.name: path.read_text() for path in workdir.glob("*.log")}
        assert len(logs) == 5 and not any(logs.values()), logs
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the lab could not


def test_lab_once_reports_agreement(started: list[Command]) -> None:
    lab = Command([proxymip(), "lab", "--once"])
    started.append(lab)
    status, out, err = lab.finish()
    assert status == 0, err
    assert "10 clients registered through AP-A / FA-A" in out
    assert "5 clients moved to AP-B / FA-B" in out
    assert "all clients left" in out
    assert out.rstrip().endswith(AGREED)


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_readme_demo_registers_and_stops_cleanly(started: list[Command], how: str) -> None:
    assert "`proxymip demo` is the smaller HA + FA demonstration" in README
    demo = Command([proxymip(), "demo"])
    started.append(demo)
    demo.read_until("home agent 127.0.0.2 listening on")
    demo.read_until("foreign agent listening on")
    line = demo.read_until("HA bindings=3 accepted=3")
    assert "FA visitors=3" in line and '"registered": 3' in line, line
    demo.proc.send_signal(getattr(signal, how))
    status, out, err = demo.finish(timeout=30)
    assert status == 0, err
    # The sample nodes deregistered on the way out (Lifetime 0, RFC 5944 §3.5.1).
    last = out.rstrip().splitlines()[-1]
    assert "HA bindings=0" in last and "FA visitors=0" in last, out[-500:]
    assert '"deregistered": 3' in last, last
    assert "Traceback" not in err
