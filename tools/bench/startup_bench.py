"""Time from ``proxymip run`` exec to READY=1 with many host SAs.

A timing run, not a test: ``python tools/bench/startup_bench.py [--runs 5]
[--counts 10000,100000]``. For each size, a startup file with a home agent on
127.0.0.2 (ephemeral port) and that many host SAs (single addresses, one entry
each, as ``security/host`` holds them) is written; ``proxymip run`` is started
with a NOTIFY_SOCKET this script binds, as systemd does for a ``Type=notify``
unit, and the figure is the time from just before the exec to the arrival of
READY=1 (every role and front end bound: what ``systemctl start`` waits for).
Then SIGHUP (``systemctl reload``) with the file unchanged, timed to the
READY=1 that ends the reload (read, full validation, diff: the loop is busy
that long, which WatchdogSec= must allow). The agent is then stopped with
SIGTERM and must exit 0.

Same-run reference: the same measurement with an empty configuration (the
interpreter, the imports, libyang's context, the datastore; no role), taken
in the same loop, run for run, so that the ratio cancels the machine's speed
of the moment. Also printed: the start of ``python -c "import agent.cli"``.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Address
from pathlib import Path

KEY = "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"
FIRST = int(IPv4Address("10.0.0.1"))
READY_TIMEOUT = 300.0


def proxymip() -> str:
    beside = Path(sys.executable).parent / "proxymip"
    if not beside.exists():
        raise SystemExit("proxymip is not installed beside this interpreter")
    return str(beside)


def startup_document(count: int) -> dict[str, object]:
    if count == 0:
        return {}
    hosts = [{"address": str(IPv4Address(FIRST + index)), "spi": 256, "key-hex": KEY}
             for index in range(count)]
    return {"proxy-mobile-ip:mobile-ip": {
        "home-agent": {"address": "127.0.0.2", "home-network": "10.0.0.0/8",
                       "listen": {"address": "127.0.0.2", "port": 0},
                       "max-bindings": max(count, 1000)},
        "security": {"host": hosts},
    }}


def _await_state(notify: socket.socket, state: str) -> None:
    while True:
        if not select.select([notify], [], [], READY_TIMEOUT)[0]:
            raise RuntimeError(f"no {state} within {READY_TIMEOUT} s")
        if state in notify.recv(4096).decode().split("\n"):
            return


def time_to_ready(startup: Path, directory: str) -> tuple[float, float]:
    """Seconds from just before the exec to READY=1 on our NOTIFY_SOCKET, and
    from SIGHUP (``systemctl reload``, the unchanged file) to the READY=1 that
    ends the reload."""
    address = os.path.join(directory, "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(address)
        env = dict(os.environ, NOTIFY_SOCKET=address)
        started = time.perf_counter()
        proc = subprocess.Popen([proxymip(), "run", "--startup", str(startup)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _await_state(notify, "READY=1")
            elapsed = time.perf_counter() - started
            reload_started = time.perf_counter()
            proc.send_signal(signal.SIGHUP)
            _await_state(notify, "RELOADING=1")
            _await_state(notify, "READY=1")
            reloaded = time.perf_counter() - reload_started
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=READY_TIMEOUT)
            if proc.returncode != 0:
                raise RuntimeError(f"proxymip run exited {proc.returncode}: {err.decode()[-500:]}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        os.unlink(address)
    return elapsed, reloaded


def time_import() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import agent.cli"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--counts", default="10000,100000")
    args = parser.parse_args()
    counts = [0] + [int(c) for c in args.counts.split(",")]
    with tempfile.TemporaryDirectory(prefix="pmip-start-") as directory:
        files = {}
        for count in counts:
            path = Path(directory) / f"startup-{count}.json"
            path.write_text(json.dumps(startup_document(count)))
            path.chmod(0o600)  # it holds keys: `run` refuses it readable by others
            files[count] = path
        timings: dict[int, list[float]] = {count: [] for count in counts}
        reloads: dict[int, list[float]] = {count: [] for count in counts}
        imports = []
        for run in range(args.runs):
            imports.append(time_import())
            for count in counts:
                start, reload = time_to_ready(files[count], directory)
                timings[count].append(start)
                reloads[count].append(reload)
            print(f"run {run + 1}: " + ", ".join(f"{c:,} SAs {timings[c][-1]:.2f} s" for c in counts)
                  + f", import agent.cli {imports[-1]:.2f} s", flush=True)
        reference = statistics.median(timings[0])
        print(f"\nexec -> READY=1, median (min-max) of {args.runs} runs; reference: empty configuration")
        print(f"  python -c 'import agent.cli': {statistics.median(imports):.2f} s")
        for count in counts:
            median = statistics.median(timings[count])
            size = files[count].stat().st_size
            print(f"  {count:>7,} host SAs ({size / 1e6:5.1f} MB): {median:6.2f} s "
                  f"({min(timings[count]):.2f}-{max(timings[count]):.2f}), "
                  f"ratio to empty {median / reference:5.1f}, "
                  f"above empty {median - reference:6.2f} s; "
                  f"SIGHUP -> READY=1 {statistics.median(reloads[count]):.2f} s")


if __name__ == "__main__":
    main()
