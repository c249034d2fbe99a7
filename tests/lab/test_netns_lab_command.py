"""The namespace lab as the README runs it: ``.venv/bin/python -m
tools.lab.netns_lab --scenario`` (root), as a subprocess, its report read from
its output, and no namespace of it left afterwards. Also the SIGTERM handler
of its ``main`` in a forked child (pyroute2's ``NetNS`` helpers are such
children): it must end the child quietly, not unwind into the lab's clean-up
(issue 12: the forked copy deleted the namespaces the parent was building)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import require_root

REPO = Path(__file__).resolve().parent.parent.parent


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_scenario_command_as_the_readme_writes_it() -> None:
    require_root()
    python = REPO / ".venv" / "bin" / "python"
    command = [str(python if python.exists() else Path(sys.executable)),
               "-m", "tools.lab.netns_lab", "--scenario"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    prefix = re.search(r"^lab: namespaces (\S+)\*", done.stdout, re.M)
    assert prefix is not None, done.stdout
    report = json.loads(done.stdout[done.stdout.index("\n{") + 1:])
    for at in ("ping-at-a", "ping-at-b"):
        assert report[at]["received"] == report[at]["sent"] > 0, report
    assert report["handover-s"] < 10
    # The flow the README describes: association by hostapd at A, then at B
    # (and a departure at each), the access points intercepting.
    assert report["association"] == "hostapd"
    for ap in ("ap-a", "ap-b"):
        assert report["associations"][ap] == ["AP-STA-CONNECTED 02:00:00:00:00:0a",
                                              "AP-STA-DISCONNECTED 02:00:00:00:00:0a"], report
        assert report["arp-interception"][ap]["announcements-sent"] >= 1, report
    assert report["counters"]["fa-b"]["encapsulated"] > 0  # the pings went through the tunnels
    assert not {name for name in _namespaces() if name.startswith(prefix.group(1))}


def test_sigterm_in_a_forked_child_ends_it_without_the_lab_clean_up() -> None:
    from tools.lab.netns_lab import _terminate_in

    previous = signal.signal(signal.SIGTERM, _terminate_in(os.getpid()))
    try:
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # the forked helper: as pyroute2's, it inherits the handler
            os.close(read)
            try:
                os.write(write, b"r")
                time.sleep(10)
            except KeyboardInterrupt:
                os._exit(3)  # would have run main's finally: lab.close()
            os._exit(4)
        os.close(write)
        assert os.read(read, 1) == b"r"
        os.close(read)
        os.kill(child, signal.SIGTERM)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # In the lab's own process the same handler ends the lab as Ctrl-C does.
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            raise AssertionError("SIGTERM did not interrupt the owner")
        except KeyboardInterrupt:
            pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sigterm_twice_still_cleans_everything_up() -> None:
    """SIGTERM while the lab is up, and again while it cleans up (a time-out
    or a service manager insisting): every namespace of it is gone after."""
    require_root()
    python = REPO / ".venv" / "bin" / "python"
    lab = subprocess.Popen([str(python if python.exists() else Path(sys.executable)),
                            "-m", "tools.lab.netns_lab", "--association", "control"],
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = lab.stdout.readline()
        prefix = re.search(r"lab: namespaces (\S+)\*", first)
        assert prefix is not None, first + lab.stderr.read()
        assert lab.stdout.readline().startswith("lab: up")
        assert {n for n in _namespaces() if n.startswith(prefix.group(1))}
        lab.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        lab.send_signal(signal.SIGTERM)
        assert lab.wait(60) == 0, lab.stderr.read()
    finally:
        if lab.poll() is None:
            lab.kill()
            lab.wait(10)
        lab.stdout.close()
        lab.stderr.close()
    assert not {n for n in _namespaces() if n.startswith(prefix.group(1))}
