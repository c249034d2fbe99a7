"""The systemd service manager's notification protocol (sd_notify(3)).

A datagram of newline-separated ``NAME=VALUE`` assignments to the Unix socket
named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace).
``READY=1`` once every role and front end is bound, ``RELOADING=1`` ... ``READY=1``
around a SIGHUP reload, ``STOPPING=1`` at shutdown, and ``WATCHDOG=1`` keep-alives
every ``$WATCHDOG_USEC`` / 2 (sd_watchdog_enabled(3)), sent from a callback on
the asyncio event loop itself: a loop that stalls stops sending them, and the
service manager restarts the service (``WatchdogSec=``, ``Restart=on-failure``).

Also the process's life under supervisors: ``run_interruptible`` makes SIGTERM
stop an asyncio command as Ctrl-C does, and ``stop_with_parent`` makes a child
process stop when its parent dies (the lab's agents).

Written here rather than taken from PyPI: the pure-Python ``sdnotify`` package
(last release 2017) has neither the abstract namespace nor the watchdog
variables, and ``cysystemd`` / ``systemd-python`` need libsystemd headers to
build; the protocol is one ``sendto``.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import socket
from collections.abc import Callable, Coroutine, Mapping, MutableMapping
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"
#: Seconds a notification may wait for room in the manager's queue.
SEND_TIMEOUT = 1.0


class ServiceNotifier:
    """Sends state changes to the service manager; every failure is logged
    and swallowed (a notification is never worth stopping the agent for)."""

    def __init__(self, address: str, *, watchdog_interval: float | None = None) -> None:
        # sd_notify(3): an address starting with '@' is in the abstract namespace.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        #: Seconds between keep-alives (half of WATCHDOG_USEC), or None.
        self.watchdog_interval = watchdog_interval
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        # A full receive queue (net.unix.max_dgram_qlen, 10 by default) makes a
        # non-blocking send fail: like libsystemd's sd_notify, wait for room,
        # but never longer than this, so a wedged manager cannot wedge us.
        self._socket.settimeout(SEND_TIMEOUT)
        self._keepalive: asyncio.TimerHandle | None = None

    @classmethod
    def from_environment(
        cls, environ: MutableMapping[str, str] | None = None
    ) -> ServiceNotifier | None:
        """The notifier the service manager asked for, or None when the process
        was not started with ``Type=notify``. Like sd_notify(3) with
        ``unset_environment``, the variables are removed so that no child
        process (``ip``, a helper) notifies in our name."""
        env = os.environ if environ is None else environ
        address = env.pop(NOTIFY_SOCKET, "")
        interval = watchdog_interval(env)
        env.pop(WATCHDOG_USEC, None)
        env.pop(WATCHDOG_PID, None)
        if not address or address[0] not in "/@":
            return None
        return cls(address, watchdog_interval=interval)

    def notify(self, *assignments: str) -> None:
        message = "\n".join(assignments).encode()
        try:
            self._socket.sendto(message, self.address)
        except OSError as exc:
            log.warning("sd_notify %s: %s", " ".join(assignments), exc)

    def ready(self, status: str | None = None) -> None:
        self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> None:
        self.notify("RELOADING=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def start_watchdog(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send WATCHDOG=1 now and every ``watchdog_interval`` from ``loop``'s
        own callbacks (no thread: a stalled loop must fall silent)."""
        if self.watchdog_interval is None or self._keepalive is not None:
            return
        interval = self.watchdog_interval

        def keep_alive() -> None:
            self.notify("WATCHDOG=1")
            self._keepalive = loop.call_later(interval, keep_alive)

        keep_alive()

    def stop_watchdog(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    def close(self) -> None:
        self.stop_watchdog()
        self._socket.close()


def watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Half of ``WATCHDOG_USEC`` in seconds, as sd_watchdog_enabled(3) advises,
    when the watchdog is meant for this process (``WATCHDOG_PID`` unset or ours)."""
    text = environ.get(WATCHDOG_USEC, "")
    pid = environ.get(WATCHDOG_PID, "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(text)
    except ValueError:
        return None
    if usec <= 0:
        return None
    return usec / 2 / 1_000_000


def run_interruptible(main: Coroutine[Any, Any, T]) -> T | None:
    """``asyncio.run(main)`` where SIGTERM (what systemd, CI time-outs and
    ``kill`` send) stops ``main`` as Ctrl-C does: its task is cancelled, so its
    ``finally`` blocks and ``async with`` exits run (child processes stopped,
    clients deregistered). Returns None when stopped either way."""
    async def guarded() -> T | None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        stopping: list[bool] = []

        def on_sigterm() -> None:
            if not stopping:  # a second SIGTERM must not cut the clean-up short
                stopping.append(True)
                task.cancel()

        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        try:
            return await main
        except asyncio.CancelledError:
            if stopping:
                return None
            raise
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(guarded())
    except KeyboardInterrupt:
        return None


#: prctl(2) option: the signal this process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def stop_with_parent(parent: int, sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` for a child process that must not outlive ``parent``
    (Linux prctl(2) PR_SET_PDEATHSIG, which survives exec): the child gets
    ``sig`` (SIGTERM: an agent's orderly stop) when the parent dies, even by
    SIGKILL. If the parent is already gone when the child sets it, the child
    signals itself (prctl(2) advises checking getppid())."""
    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec
