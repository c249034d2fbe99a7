"""The sd_notify(3) client (agent/aio/service.py) against a real Unix datagram
socket, and its watchdog keep-alive on a real asyncio loop: a stalled loop
falls silent, which is what makes systemd's WatchdogSec= restart a hung agent."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.aio.service import ServiceNotifier, watchdog_interval


@pytest.fixture
def receiver() -> Iterator[tuple[socket.socket, str]]:
    with tempfile.TemporaryDirectory(prefix="pmip-notify-") as directory:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = os.path.join(directory, "notify")
        sock.bind(path)
        sock.settimeout(5)
        try:
            yield sock, path
        finally:
            sock.close()


def test_environment_is_read_and_removed(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}
    notifier = ServiceNotifier.from_environment(env)
    assert notifier is not None and notifier.watchdog_interval == 1.5
    # sd_notify(3) with unset_environment: no child process inherits them.
    assert env == {}
    notifier.ready("serving")
    assert sock.recv(100) == b"READY=1\nSTATUS=serving"
    notifier.close()


def test_abstract_namespace_address() -> None:
    name = f"pmip-notify-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        notifier = ServiceNotifier.from_environment({"NOTIFY_SOCKET": "@" + name})
        assert notifier is not None
        notifier.stopping()
        assert sock.recv(100) == b"STOPPING=1"
        notifier.close()
    finally:
        sock.close()


@pytest.mark.parametrize("env", [
    {}, {"NOTIFY_SOCKET": ""}, {"NOTIFY_SOCKET": "relative/path"}, {"NOTIFY_SOCKET": "vsock:2:3"},
])
def test_no_notifier_without_a_usable_socket(env: dict[str, str]) -> None:
    assert ServiceNotifier.from_environment(env) is None


@pytest.mark.parametrize(("env", "expected"), [
    ({"WATCHDOG_USEC": "20000000"}, 10.0),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "-5"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
    # sd_watchdog_enabled(3): WATCHDOG_PID names the process meant.
    ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}, None),
])
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(env) == expected


def test_an_unreachable_socket_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    notifier = ServiceNotifier("/nonexistent/notify")
    notifier.ready()
    notifier.close()
    assert "READY=1" in caplog.text


def test_keep_alive_stops_while_the_loop_is_stalled(receiver: tuple[socket.socket, str]) -> None:
    """Keep-alives every 0.1 s; a callback then blocks the loop for 1 s (as a
    hung handler would): none arrives during the stall, they resume after.
    A keep-alive from a thread would go on through the stall."""
    sock, path = receiver
    arrivals: list[float] = []
    done = threading.Event()

    def receive() -> None:
        sock.settimeout(0.05)
        while not done.is_set():
            try:
                if sock.recv(100) == b"WATCHDOG=1":
                    arrivals.append(time.monotonic())
            except TimeoutError:
                continue

    thread = threading.Thread(target=receive)
    thread.start()
    stall: list[float] = []

    async def main() -> None:
        notifier = ServiceNotifier(path, watchdog_interval=0.1)
        notifier.start_watchdog(asyncio.get_running_loop())
        await asyncio.sleep(0.6)
        stall.append(time.monotonic())
        time.sleep(1.0)  # the stall: nothing on this loop runs
        stall.append(time.monotonic())
        await asyncio.sleep(0.6)
        notifier.close()

    try:
        asyncio.run(main())
    finally:
        done.set()
        thread.join()
    start, end = stall
    before = [t for t in arrivals if t < start]
    during = [t for t in arrivals if start + 0.05 < t < end - 0.05]
    after = [t for t in arrivals if t > end]
    assert len(before) >= 3 and len(after) >= 3
    assert during == []


def test_a_state_change_waits_for_room_in_a_full_queue(receiver: tuple[socket.socket, str]) -> None:
    """The manager's queue holds net.unix.max_dgram_qlen datagrams (10 by
    default): with it full, READY=1 waits (up to a second) until the manager
    reads, as libsystemd's sd_notify does, instead of being lost."""
    sock, path = receiver
    notifier = ServiceNotifier(path)
    queue_length = int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())
    for _ in range(queue_length + 1):  # full (the kernel lets one more in than the limit)
        notifier.notify("WATCHDOG=1")
    received: list[bytes] = []

    def manager_reads_later() -> None:
        time.sleep(0.3)
        sock.settimeout(2)
        while not received or received[-1] != b"READY=1":
            received.append(sock.recv(100))

    thread = threading.Thread(target=manager_reads_later)
    thread.start()
    notifier.ready()
    thread.join(5)
    notifier.close()
    assert received[-1] == b"READY=1"
