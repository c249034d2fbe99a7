"""HostapdMonitor (agent/aio/hostapd.py) against a hostapd control interface
served in the test: a real Unix datagram socket that speaks hostapd's control
protocol (hostapd/ctrl_iface.c): ATTACH -> OK, PING -> PONG, STA-FIRST /
STA-NEXT <mac> listing the stations with their info lines, unsolicited events
as "<level>EVENT args" to every attached client, and the daemon exiting (its
socket closed and unlinked) and starting again on the same path.

The real-hostapd end-to-end proof is tests/lab/test_client_detection.py; this
one runs anywhere, with sockets only in a temporary directory, and hard
timeouts instead of sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from agent.access.events import ClientAssociated, ClientDisassociated, ClientEvent
from agent.aio import hostapd
from agent.aio.hostapd import HostapdMonitor

TIMEOUT = 10.0
STATIONS = ["02:00:00:00:00:01", "02:00:00:00:00:02"]


class HostapdControl:
    """hostapd's side of /var/run/hostapd/<ifname>: one datagram socket bound to
    the path, answering each request to its sender."""

    def __init__(self, path: Path, stations: list[str]) -> None:
        self.path = path
        self.stations = list(stations)
        self.commands: list[str] = []
        self.attached: set[str] = set()
        #: Events to send (to the requester, before the reply) when a command
        #: arrives: an event racing a reply, as hostapd can produce.
        self.before_reply: dict[str, str] = {}
        self.refuse_attach = False
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self.attach_seen = asyncio.Event()

    def start(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(self.path))
        sock.setblocking(False)
        self._sock = sock
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        """hostapd exits: its socket goes away (closed and unlinked)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.attached.clear()

    def _reply(self, command: str) -> str | None:
        name, _, argument = command.partition(" ")
        if name == "ATTACH":
            return "FAIL\n" if self.refuse_attach else "OK\n"
        if name == "DETACH":
            return "OK\n"
        if name == "PING":
            return "PONG\n"
        if name in ("STA-FIRST", "STA-NEXT"):
            # hostapd: the station address, then "key=value" lines; an empty
            # reply after the last one (or for an unknown address: FAIL).
            if name == "STA-FIRST":
                index = 0
            elif argument in self.stations:
                index = self.stations.index(argument) + 1
            else:
                return "FAIL\n"
            if index >= len(self.stations):
                return ""
            return f"{self.stations[index]}\nflags=[AUTH][ASSOC][AUTHORIZED]\naid={index + 1}\n"
        return "UNKNOWN COMMAND\n"

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._sock is not None
        while True:
            data, sender = await loop.sock_recvfrom(self._sock, 4096)
            command = data.decode()
            self.commands.append(command)
            if command in self.before_reply:
                await loop.sock_sendto(self._sock, self.before_reply.pop(command).encode(), sender)
            reply = self._reply(command)
            if command == "ATTACH" and not self.refuse_attach:
                self.attached.add(sender)
            if reply is not None:
                await loop.sock_sendto(self._sock, reply.encode(), sender)
            if command == "ATTACH":
                self.attach_seen.set()

    async def event(self, text: str) -> None:
        """An unsolicited event to every attached monitor (hostapd's
        wpa_msg to ctrl_iface: "<level>TEXT")."""
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        for client in list(self.attached):
            await loop.sock_sendto(self._sock, text.encode(), client)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait, with a hard timeout, for ``condition`` (checked on every loop turn
    that had something to do, at most every 10 ms)."""
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), TIMEOUT)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@contextlib.asynccontextmanager
async def running(
    path: Path, interface: str = "wlan0"
) -> AsyncIterator[tuple[HostapdMonitor, list[ClientEvent]]]:
    events: list[ClientEvent] = []
    monitor = HostapdMonitor(str(path), interface, events.append)
    monitor.start()
    try:
        yield monitor, events
    finally:
        await monitor.stop()


@pytest.fixture(autouse=True)
def quick_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-attach and keep-alive periods short enough for a test (the protocol
    is the same; only the waiting is shorter)."""
    monkeypatch.setattr(hostapd, "REATTACH_INTERVAL", 0.05)
    monkeypatch.setattr(hostapd, "KEEPALIVE_INTERVAL", 0.1)
    monkeypatch.setattr(hostapd, "REQUEST_TIMEOUT", 1.0)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 4 * TIMEOUT))


def own_sockets() -> set[str]:
    """The monitor's local socket files (it binds one per attachment)."""
    directory = Path(tempfile.gettempdir())
    prefix = f"proxymip-hostapd-{os.getpid()}-"
    return {p.name for p in directory.iterdir() if p.name.startswith(prefix)}


def test_attach_lists_the_stations_already_associated(tmp_path: Path) -> None:
    async def test() -> None:
        daemon = HostapdControl(tmp_path / "wlan0", STATIONS)
        daemon.start()
        before = own_sockets()
        async with running(daemon.path) as (monitor, events):
            await asyncio.wait_for(monitor.attached.wait(), TIMEOUT)
            assert events == [ClientAssociated(mac, "wlan0") for mac in STATIONS]
            assert daemon.commands == [
                "ATTACH", "STA-FIRST", f"STA-NEXT {STATIONS[0]}", f"STA-NEXT {STATIONS[1]}"
            ]
            assert len(own_sockets() - before) == 1
        assert own_sockets() == before  # the local socket is removed on stop
        await daemon.stop()

    run(test)


def test_unsolicited_events_become_client_events(tmp_path: Path) -> None:
    """AP-STA-CONNECTED / AP-STA-DISCONNECTED in hostapd's event format, MACs in
    any case; other events and malformed ones are not client events."""

    async def test() -> None:
        daemon = HostapdControl(tmp_path / "wlan0", [])
        daemon.start()
        async with running(daemon.path, "ssid-corp") as (monitor, events):
            await asyncio.wait_for(monitor.attached.wait(), TIMEOUT)
            assert events == []
            await daemon.event("<3>CTRL-EVENT-EAP-STARTED 02:00:00:00:00:09")
            await daemon.event("<3>AP-STA-CONNECTED 02:00:00:00:00:0A")
            await daemon.event("<3>AP-STA-CONNECTED not-a-mac")
            await daemon.event("<3>AP-STA-DISCONNECTED 02:00:00:00:00:0a")
            await daemon.event("<3>AP-STA-CONNECTED 02:00:00:00:00:0b keyid=1")
            await until(lambda: len(events) == 3, "three client events")
            assert events == [
                ClientAssociated("02:00:00:00:00:0a", "ssid-corp"),
                ClientDisassociated("02:00:00:00:00:0a"),
                ClientAssociated("02:00:00:00:00:0b", "ssid-corp"),
            ]
            assert monitor.events_received == 3
        await daemon.stop()

    run(test)


def test_an_event_racing_a_reply_is_delivered_and_the_reply_still_read(tmp_path: Path) -> None:
    """hostapd may send an event between a request and its reply; the monitor
    must take the event as an event and keep waiting for the reply."""

    async def test() -> None:
        daemon = HostapdControl(tmp_path / "wlan0", STATIONS[:1])
        daemon.before_reply["STA-FIRST"] = "<3>AP-STA-CONNECTED 02:00:00:00:00:07"
        daemon.start()
        async with running(daemon.path) as (monitor, events):
            await asyncio.wait_for(monitor.attached.wait(), TIMEOUT)
            assert events == [
                ClientAssociated("02:00:00:00:00:07", "wlan0"),
                ClientAssociated(STATIONS[0], "wlan0"),
            ]
        await daemon.stop()

    run(test)


def test_keepalive_pings_a_quiet_hostapd(tmp_path: Path) -> None:
    async def test() -> None:
        daemon = HostapdControl(tmp_path / "wlan0", [])
        daemon.start()
        async with running(daemon.path) as (monitor, _):
            await asyncio.wait_for(monitor.attached.wait(), TIMEOUT)
            await until(lambda: daemon.commands.count("PING") >= 2, "two PINGs")
            assert monitor.attached.is_set()
            assert daemon.commands.count("ATTACH") == 1  # PONG: still attached
        await daemon.stop()

    run(test)


def test_hostapd_going_away_and_coming_back_is_re_attached(tmp_path: Path) -> None:
    """hostapd exits: a datagram socket tells nothing, so the monitor learns it
    from its keep-alive (the send is refused). It keeps trying, and when
    hostapd is back on the same path it attaches again, lists the stations
    associated meanwhile and follows new events."""

    async def test() -> None:
        path = tmp_path / "wlan0"
        daemon = HostapdControl(path, STATIONS[:1])
        daemon.start()
        before = own_sockets()
        async with running(path) as (monitor, events):
            await asyncio.wait_for(monitor.attached.wait(), TIMEOUT)
            await daemon.stop()
            await until(lambda: not monitor.attached.is_set(), "the monitor to notice hostapd left")
            # While hostapd is away the monitor retries without piling up sockets.
            await asyncio.sleep(0.3)
            assert len(own_sockets() - before) <= 1

            again = HostapdControl(path, STATIONS)
            again.start()
            await asyncio.wait_for(again.attach_seen.wait(), TIMEOUT)
            await asyncio.wait_for(monitor.attached.wait(), TIMEOUT)
            assert again.commands[:2] == ["ATTACH", "STA-FIRST"]
            await again.event("<3>AP-STA-DISCONNECTED 02:00:00:00:00:01")
            await until(lambda: len(events) == 4, "the event after re-attaching")
            assert events == [
                ClientAssociated(STATIONS[0], "wlan0"),
                ClientAssociated(STATIONS[0], "wlan0"),
                ClientAssociated(STATIONS[1], "wlan0"),
                ClientDisassociated(STATIONS[0]),
            ]
            await again.stop()
        assert own_sockets() == before

    run(test)


def test_hostapd_not_there_yet_or_refusing_attach_is_retried(tmp_path: Path) -> None:
    async def test() -> None:
        path = tmp_path / "wlan0"
        async with running(path) as (monitor, events):
            await asyncio.sleep(0.2)  # no socket at the path yet: connect fails, retried
            assert not monitor.attached.is_set()
            daemon = HostapdControl(path, [])
            daemon.refuse_attach = True
            daemon.start()
            await until(lambda: daemon.commands.count("ATTACH") >= 2, "ATTACH tried again")
            assert not monitor.attached.is_set() and "STA-FIRST" not in daemon.commands
            daemon.refuse_attach = False
            await asyncio.wait_for(monitor.attached.wait(), TIMEOUT)
            assert events == []
            await daemon.stop()

    run(test)
