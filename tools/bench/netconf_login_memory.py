#!/usr/bin/env python3
"""Does the NETCONF server's memory level off over many logins, or leak?
(docs/security.md fuzz finding 4: 5,000 login/close cycles grew the agent by
2.7 MiB.)

The server runs in a subprocess (this script re-run with ``--serve``), as in
the agent: a Datastore, the Operations handler and a NetconfServer on
127.0.0.1 port 0 with password login. The client runs ``--logins`` cycles,
``--parallel`` at a time: SSH connect and password, the ``netconf``
subsystem, the hellos (base:1.1), ``<close-session/>`` and its reply, the
connection closed. At each checkpoint it asks the server (a line on its
stdin) for its VmRSS, the number of live Python objects (after a full
collection) by the types that would hold a connection or a session, the
server's own tables (connections, admitted, sessions, ended-session counters)
and the login guard's (startups and penalties by source, familiar sources,
refused-connection log limiter); with ``--tracemalloc`` also the traced
Python memory and its largest growth by line since the first checkpoint.

The figure is the growth per login between checkpoints: if it falls to ~0
the early growth was allocator and cache warm-up, if it stays, something is
kept per login. The same-run reference is the first interval's growth.

    .venv/bin/python tools/bench/netconf_login_memory.py [--logins 20000]
        [--checkpoints 1000,2500,5000,10000,20000] [--parallel 4] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.netconf.ssh_library import asyncssh  # noqa: E402

USERNAME = "admin"
PASSWORD = "bench-password"
BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
BASE_1_1 = "urn:ietf:params:netconf:base:1.1"
END = b"]]>]]>"
#: Types whose instances would pile up if connections or sessions leaked.
WATCHED = ("_SshConnection", "_NetconfChannel", "NetconfSession", "SSHServerConnection",
           "SSHServerChannel", "Framer", "Task", "Future", "TimerHandle", "_SelectorSocketTransport",
           "SessionCounters", "SessionInfo", "_Element", "socket", "frame", "coroutine")


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


async def _serve(tracing: bool) -> None:
    from agent.datastore.store import Datastore
    from agent.netconf.operations import Operations
    from agent.netconf.server import NetconfServer, sha_crypt
    from agent.netconf.settings import NetconfSettings, NetconfUser

    if tracing:
        tracemalloc.start(8)
    key_dir = Path(tempfile.mkdtemp(prefix="nclogin-"))
    datastore = Datastore()
    operations = Operations(datastore)
    settings = NetconfSettings(address="127.0.0.1", port=0,
                               host_key_file=str(key_dir / "ssh_host_ed25519_key"),
                               users=(NetconfUser(USERNAME, sha_crypt(PASSWORD, "$6$benchsalt")),))
    server = NetconfServer(settings, operations.capabilities(), operations,
                           on_session_end=datastore.release_session)
    await server.start()
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    print(json.dumps({"port": server.port}), flush=True)
    first: tracemalloc.Snapshot | None = None
    while line := await stdin.readline():
        if line.strip() != b"stats":
            continue
        await asyncio.sleep(0.2)  # let closing connections finish
        gc.collect()
        counts = Counter(type(o).__name__ for o in gc.get_objects())
        guard = server.guard
        report: dict[str, Any] = {
            "rss_kib": _rss_kib(),
            "objects": sum(counts.values()),
            "watched": {name: counts.get(name, 0) for name in WATCHED},
            "server": {"connections": len(server._connections),
                       "admitted": len(server._admitted),
                       "sessions": len(server._sessions),
                       "refusal_log": len(server._refusal_log.__dict__.get("_last", {}))},
            "guard": {"startups": len(guard._startups), "sources": len(guard._sources),
                      "familiar": sum(len(u.familiar) for u in guard._users.values()),
                      "logins": guard.counters.logins},
            "datastore_sessions": datastore_sessions(datastore),
        }
        if tracing:
            snapshot = tracemalloc.take_snapshot()
            report["traced_kib"] = tracemalloc.get_traced_memory()[0] // 1024
            if first is None:
                first = snapshot
            else:
                report["top_growth"] = [
                    f"{stat.size_diff // 1024} KiB {stat.count_diff} blocks "
                    f"{stat.traceback.format()[-1].strip() if stat.traceback else ''}"
                    for stat in snapshot.compare_to(first, "lineno")[:8]]
        print(json.dumps(report), flush=True)
    server.close()
    await server.wait_closed()
    operations.close()
    datastore.close()


def datastore_sessions(datastore: Any) -> dict[str, int]:
    """Sizes of the datastore's per-session tables (locks, confirmed commits)."""
    sizes = {}
    for name, value in vars(datastore).items():
        if isinstance(value, (dict, set, list)) and "session" in name.lower():
            sizes[name] = len(value)
    return sizes


async def _cycle(port: int) -> None:
    async with asyncssh.connect("127.0.0.1", port, username=USERNAME, password=PASSWORD,
                                known_hosts=None, agent_path=None, client_keys=None,
                                preferred_auth="password") as conn:
        writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
        await reader.readuntil(END)
        writer.write(f'<hello xmlns="{BASE_NS}"><capabilities><capability>{BASE_1_1}'
                     "</capability></capabilities></hello>".encode() + END)
        body = f'<rpc xmlns="{BASE_NS}" message-id="1"><close-session/></rpc>'.encode()
        writer.write(b"\n#%d\n" % len(body) + body + b"\n##\n")
        await reader.readuntil(b"\n##\n")
        writer.close()


async def _client(args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve"]
    if args.tracemalloc:
        command.append("--tracemalloc")
    server = await asyncio.create_subprocess_exec(
        *command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert server.stdin is not None and server.stdout is not None
    port = json.loads(await server.stdout.readline())["port"]

    async def stats() -> dict[str, Any]:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(b"stats\n")
        await server.stdin.drain()
        return json.loads(await server.stdout.readline())  # type: ignore[no-any-return]

    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    results = [{"logins": 0, **await stats()}]
    done = 0
    started = time.monotonic()
    for target in checkpoints:
        while done < target:
            batch = min(args.parallel, target - done)
            await asyncio.gather(*(_cycle(port) for _ in range(batch)))
            done += batch
        row = {"logins": done, "seconds": round(time.monotonic() - started, 1), **await stats()}
        results.append(row)
        previous = results[-2]
        per_login = (row["rss_kib"] - previous["rss_kib"]) * 1024 / (done - previous["logins"])
        print(f"{done:>7} logins  RSS {row['rss_kib']} KiB  (+{per_login:.0f} B per login "
              f"since {previous['logins']})  objects {row['objects']}  "
              f"guard {row['guard']}  server {row['server']}"
              + (f"  traced {row['traced_kib']} KiB" if "traced_kib" in row else ""),
              flush=True)
        for line in row.get("top_growth", [])[:4]:
            print("     ", line, flush=True)
    server.stdin.close()
    await server.wait()
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                        "asyncssh": asyncssh.__version__},
            "load_average": os.getloadavg(), "parallel": args.parallel,
            "tracemalloc": args.tracemalloc, "checkpoints": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=20000)
    parser.add_argument("--checkpoints", default="1000,2500,5000,10000,20000")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.tracemalloc))
        return
    args.checkpoints = ",".join(c for c in args.checkpoints.split(",")
                                if int(c) <= args.logins)
    report = asyncio.run(_client(args))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
