#!/usr/bin/env python3
"""NETCONF/SSH login under attack, and what a password check costs, each
figure beside a reference measured in the same run (issue 13).

1. SHA-crypt (agent.netconf.passwords) per check at 5,000 and 100,000
   rounds (the YANG cap), beside libxcrypt's crypt(3) in C on the same
   input: the ratio says how much a Python check costs over sshd's.
2. Peak memory of one check of a 1,024-byte password (the length cap),
   beside the bytes the first version allocated (``password * len``).
3. The admin's login (key exchange, password, NETCONF <hello> with a
   session-id) from 127.0.0.77: alone (reference), then while 200
   connections from 127.0.0.66 stall at authentication (5 held, 195
   closed before key exchange), then while 20 other sources each fail
   passwords as fast as they can. Median and worst of 20 logins.

The server runs in this process on its own thread and loop (as the interop
tests do); the clients on the main thread. Loopback only, port 0.

Usage: .venv/bin/python tools/bench/netconf_login_bench.py
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
import warnings
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from agent.netconf.ssh_library import asyncssh

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.netconf.framing import END_OF_MESSAGE  # noqa: E402
from agent.netconf.passwords import sha_crypt  # noqa: E402
from agent.netconf.server import NetconfServer  # noqa: E402
from agent.netconf.session import BASE_1_0, BASE_1_1  # noqa: E402
from agent.netconf.settings import NetconfSettings, NetconfUser  # noqa: E402

PASSWORD = "bench-password"


def crypt_figures() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    for rounds in (5000, 100_000):
        setting = f"$6$rounds={rounds}$benchsaltbench"
        trials = 5 if rounds == 5000 else 3
        ours = min(_timed(lambda: sha_crypt(PASSWORD, setting)) for _ in range(trials))
        libc = min(_timed(lambda: crypt.crypt(PASSWORD, setting)) for _ in range(trials))
        assert sha_crypt(PASSWORD, setting) == crypt.crypt(PASSWORD, setting)
        print(f"sha-crypt $6$ rounds={rounds}: {ours * 1000:.1f} ms per check, libxcrypt "
              f"{libc * 1000:.1f} ms: ratio {ours / libc:.2f}")
    password = "p" * 1024
    tracemalloc.start()
    sha_crypt(password, "$6$rounds=1000$benchsalt")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"1,024-byte password: peak {peak:,} bytes traced; the old p-bytes string alone "
          f"was {len(password) ** 2:,} bytes")


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


class Server:
    def __init__(self, directory: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        settings = NetconfSettings(
            address="127.0.0.1", port=0, host_key_file=str(directory / "host_key"),
            users=(NetconfUser("admin", sha_crypt(PASSWORD, "$6$benchsalt")),))
        self.server = NetconfServer(settings, [BASE_1_0, BASE_1_1], lambda op, info: None)
        self.call(self.server.start())
        assert self.server.port is not None
        self.port: int = self.server.port

    def call(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout=30)

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            await self.server.wait_closed()
        self.call(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


#: Connections of the admin refused (max-startups early drop) and retried.
RETRIES = {"admin": 0}


async def admin_login(port: int) -> float:
    """Key exchange, password, <hello>: retried at once when max-startups
    drops the connection (as sshd's MaxStartups may: the time includes it)."""
    started = time.perf_counter()
    while True:
        try:
            conn = await asyncssh.connect(
                "127.0.0.1", port, local_addr=("127.0.0.77", 0), username="admin",
                password=PASSWORD, known_hosts=None, agent_path=None, client_keys=None,
                preferred_auth="password")
            break
        except (ConnectionError, asyncssh.ConnectionLost, OSError):
            RETRIES["admin"] += 1
    _, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
    hello = await reader.readuntil(END_OF_MESSAGE)
    took = time.perf_counter() - started
    assert b"<session-id>" in hello
    conn.close()
    await conn.wait_closed()
    return took


class Staller(asyncssh.SSHClient):
    async def password_auth_requested(self) -> str:
        await asyncio.Event().wait()
        return ""


async def stall(port: int) -> None:
    try:
        await asyncssh.connect("127.0.0.1", port, local_addr=("127.0.0.66", 0),
                               username="admin", client_factory=Staller, known_hosts=None,
                               agent_path=None, client_keys=None, preferred_auth="password")
    except (ConnectionError, asyncssh.Error, OSError):
        pass


async def guess(port: int, source: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncssh.connect("127.0.0.1", port, local_addr=(source, 0), username="admin",
                                   password="wrong", known_hosts=None, agent_path=None,
                                   client_keys=None, preferred_auth="password")
        except (ConnectionError, asyncssh.Error, OSError):
            await asyncio.sleep(0.01)


async def logins(port: int, count: int = 20) -> list[float]:
    return [await admin_login(port) for _ in range(count)]


def report(name: str, times: list[float], reference: list[float] | None) -> None:
    median = statistics.median(times)
    line = (f"{name}: median {median * 1000:.1f} ms, worst {max(times) * 1000:.1f} ms, "
            f"{RETRIES['admin']} connections dropped and retried")
    RETRIES["admin"] = 0
    if reference is not None:
        line += f" (ratio to alone: {median / statistics.median(reference):.2f})"
    print(line)


async def attacks(port: int, server: Server) -> None:
    alone = await logins(port)
    report("admin login alone", alone, None)
    stallers = [asyncio.ensure_future(stall(port)) for _ in range(200)]
    await asyncio.sleep(1.0)
    report("admin login, 200 stalled connections from one source", await logins(port), alone)
    stop = asyncio.Event()
    guessers = [asyncio.ensure_future(guess(port, f"127.0.3.{i + 1}", stop)) for i in range(20)]
    await asyncio.sleep(1.0)
    report("admin login, and 20 sources guessing passwords", await logins(port), alone)
    stop.set()
    for task in stallers + guessers:
        task.cancel()
    await asyncio.gather(*stallers, *guessers, return_exceptions=True)
    state = server.call(_state(server.server))
    print("netconf-server-state:", {k: v for k, v in state.items() if v not in (0, "0")})


async def _state(server: NetconfServer) -> dict[str, Any]:
    return server.login_state()


def main() -> None:
    # One line per refusal and failure is the server's job, not this report's.
    logging.getLogger("agent.netconf.server").setLevel(logging.ERROR)
    print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    crypt_figures()
    with tempfile.TemporaryDirectory() as directory:
        server = Server(Path(directory))
        try:
            asyncio.run(attacks(server.port, server))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
