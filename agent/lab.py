"""``proxymip lab``: the three roles end to end on loopback.

Starts, as separate ``proxymip run`` processes with generated configurations, a
home agent (127.0.0.2), two foreign agents (127.0.0.3, 127.0.0.5) and two proxy
access points (127.0.0.4 behind FA-A, 127.0.0.6 behind FA-B), all on ephemeral
high ports. A client simulator then associates N visiting clients at AP-A, moves
some to AP-B, and makes them leave, through each AP's control socket — while the
live binding counters of every role are shown. Everything stays on 127.0.0.0/8
and every process is stopped on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any, TextIO

from agent.aio.control import request
from agent.aio.service import run_interruptible, stop_with_parent

HA = "127.0.0.2"
FOREIGN_AGENTS = {"fa-a": "127.0.0.3", "fa-b": "127.0.0.5"}
ACCESS_POINTS = {"ap-a": ("127.0.0.4", "fa-a", "198.51.100.0/25"),
                 "ap-b": ("127.0.0.6", "fa-b", "198.51.100.128/25")}
MN_KEY = "5a:5a:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e"
PEER_KEY = "a5:a5:10:20:30:40:50:60:70:80:90:a0:b0:c0:d0:e0"
START_TIMEOUT = 20.0


def home_network(clients: int) -> IPv4Network:
    """192.0.2.0/24 for small labs; the RFC 2544 benchmarking range beyond."""
    return IPv4Network("192.0.2.0/24") if clients <= 250 else IPv4Network("198.18.0.0/15")


def client_address(clients: int, index: int) -> IPv4Address:
    return home_network(clients).network_address + 10 + index


def client_mac(index: int) -> str:
    return "02:00:" + ":".join(f"{(index >> s) & 0xFF:02x}" for s in (24, 16, 8, 0))


def _security(clients: int, peers: list[str], *, hosts: bool) -> dict[str, Any]:
    net = home_network(clients)
    section: dict[str, Any] = {
        "peer": [{"address": p, "spi": 300, "key-hex": PEER_KEY} for p in peers]
    }
    if hosts:
        section["host"] = [{"address": str(net.network_address + 1),
                            "last-address": str(net.broadcast_address - 1),
                            "spi": 256, "key-hex": MN_KEY}]
    return section


NETCONF_USER = ("admin", "admin")


def _netconf(address: str) -> dict[str, Any]:
    from agent.netconf.server import sha_crypt

    user, password = NETCONF_USER
    return {"listen": {"address": address, "port": 0},
            "user": [{"name": user, "password": sha_crypt(password, "$6$proxymiplab")}]}


def ha_config(clients: int, *, netconf: bool = False) -> dict[str, Any]:
    config = {"proxy-mobile-ip:mobile-ip": {
        "home-agent": {"address": HA, "home-network": str(home_network(clients)),
                       "listen": {"address": HA, "port": 0}, "max-bindings": clients + 100},
        "security": _security(clients, list(FOREIGN_AGENTS.values()), hosts=True),
    }}
    if netconf:
        config["proxy-mobile-ip:mobile-ip"]["netconf-server"] = _netconf(HA)
    return config


def fa_config(name: str, clients: int) -> dict[str, Any]:
    address = FOREIGN_AGENTS[name]
    return {"proxy-mobile-ip:mobile-ip": {
        "foreign-agent": {"address": address, "listen": {"address": address, "port": 0},
                          "max-visitors": clients + 100, "max-pending": max(10000, clients * 2),
                          "advertisement": {"enabled": False, "interval": "0"}},
        "security": _security(clients, [HA], hosts=False),
    }}


def ap_config(name: str, clients: int, fa_port: int, ha_port: int,
              lifetime: int, *, netconf: bool = False) -> dict[str, Any]:
    address, fa_name, local = ACCESS_POINTS[name]
    config = {"proxy-mobile-ip:mobile-ip": {
        "proxy": {"listen": {"address": address, "port": 0}, "local-network": [local],
                  "lifetime": lifetime, "max-visitors": clients + 100,
                  "foreign-agent": {"address": FOREIGN_AGENTS[fa_name], "port": fa_port},
                  "home-agent-port": ha_port, "discovery": {"enabled": False}},
        "subnet-map": [{"prefix": str(home_network(clients)), "home-agent": HA}],
        "security": _security(clients, [], hosts=True),
    }}
    if netconf:
        config["proxy-mobile-ip:mobile-ip"]["netconf-server"] = _netconf(address)
    return config


@dataclass
class LabProcess:
    name: str
    proc: asyncio.subprocess.Process
    endpoints: dict[str, str]
    control: str | None = None

    @property
    def port(self) -> int:
        """The role's registration port."""
        for name, endpoint in self.endpoints.items():
            if name != "netconf":
                return int(endpoint.rsplit(":", 1)[1])
        raise KeyError("no registration endpoint")

    @property
    def netconf_port(self) -> int:
        return int(self.endpoints["netconf"].rsplit(":", 1)[1])


@dataclass
class LoopbackLab:
    clients: int = 10
    lifetime: int = 600
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="proxymip-lab-")))
    processes: dict[str, LabProcess] = field(default_factory=dict)
    #: Keep the generated configurations and logs after the lab stops.
    keep: bool = False
    #: Serve NETCONF (over SSH, high ports) on the HA and on AP-A.
    netconf: bool = False
    #: Generated configurations (they hold keys: never in a repr).
    _configs: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = field(
        default_factory=dict, repr=False
    )

    async def _spawn(self, name: str, config: dict[str, Any], *extra: str) -> LabProcess:
        self._configs[name] = (config, extra)
        path = self.workdir / f"{name}.json"
        control = str(self.workdir / f"{name}.sock")
        extra = (*extra, "--control-socket", control)
        path.write_text(json.dumps(config, indent=1))
        path.chmod(0o600)  # it holds keys: `run` refuses it readable by others
        # The child writes its own copy of the log's descriptor; ours is closed.
        with open(self.workdir / f"{name}.log", "wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agent.cli", "run", "--startup", str(path), *extra,
                stdout=asyncio.subprocess.PIPE, stderr=log,
                cwd=Path(__file__).resolve().parent.parent,
                # The agents stop (SIGTERM) when the lab dies, even by SIGKILL:
                # none is left orphaned with its ports and registrations.
                preexec_fn=stop_with_parent(os.getpid()),
            )
        assert proc.stdout is not None
        try:
            # asyncio.timeout: a SIGTERM's cancellation is never lost (see
            # agent.aio.control.request).
            async with asyncio.timeout(START_TIMEOUT):
                line = (await proc.stdout.readline()).decode()
        except TimeoutError:
            proc.kill()
            raise RuntimeError(f"{name} did not start; see {self.workdir / (name + '.log')}") from None
        if not line.startswith("ready "):
            raise RuntimeError(f"{name} failed to start: {(self.workdir / (name + '.log')).read_text()}")
        started = LabProcess(name, proc, json.loads(line[6:]), control)
        self.processes[name] = started
        return started

    async def start(self) -> None:
        ha = await self._spawn("ha", ha_config(self.clients, netconf=self.netconf))
        for name in FOREIGN_AGENTS:
            await self._spawn(name, fa_config(name, self.clients), "--home-agent-port", str(ha.port))
        for name, (_, fa_name, _) in ACCESS_POINTS.items():
            await self._spawn(
                name,
                ap_config(name, self.clients, self.processes[fa_name].port, ha.port,
                          self.lifetime, netconf=self.netconf and name == "ap-a"),
            )

    async def _terminate(self, name: str) -> None:
        process = self.processes.get(name)
        if process is None or process.proc.returncode is not None:
            return
        process.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(10):
                await process.proc.wait()
        except TimeoutError:
            process.proc.kill()
            await process.proc.wait()
        if process.proc.stdout is not None:  # drain so the pipe does not linger
            with contextlib.suppress(Exception):
                await process.proc.stdout.read()

    async def restart(self, name: str) -> None:
        """Stop one agent and start it again on the same address and port, with
        its state gone (as after a reboot)."""
        port = self.processes[name].port
        config, extra = self._configs[name]
        role = next(r for r in config["proxy-mobile-ip:mobile-ip"] if r in ("home-agent", "foreign-agent", "proxy"))
        config = json.loads(json.dumps(config))
        config["proxy-mobile-ip:mobile-ip"][role]["listen"]["port"] = port
        await self._terminate(name)
        await self._spawn(name, config, *extra)

    async def stop(self) -> None:
        # Access points first: they deregister their clients on the way out.
        for name in ("ap-a", "ap-b", "fa-a", "fa-b", "ha"):
            await self._terminate(name)
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> LoopbackLab:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- client simulator ------------------------------------------------------------

    async def control(self, ap: str, payload: dict[str, Any]) -> dict[str, Any]:
        path = self.processes[ap].control
        assert path is not None
        answer = await request(path, payload)
        if "error" in answer:
            raise RuntimeError(f"{ap}: {answer['error']}")
        return answer

    async def control_raw(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A control request whose error answers are returned, not raised."""
        path = self.processes[name].control
        assert path is not None
        return await request(path, payload)

    async def associate(self, ap: str, index: int) -> None:
        await self.control(ap, {"op": "associate", "mac": client_mac(index),
                                "address": str(client_address(self.clients, index)),
                                "interface": "wlan0"})

    async def disassociate(self, ap: str, index: int) -> None:
        await self.control(ap, {"op": "disassociate", "mac": client_mac(index)})

    async def state(self, name: str, *, rows: bool = True) -> dict[str, Any]:
        return await self.control(name, {"op": "state", "rows": rows})

    async def snapshot(self) -> dict[str, set[tuple[str, str]]]:
        """What each role holds right now, as comparable sets:
        HA bindings (home, care-of), each FA's visitors (home, FA), each AP's
        registered clients (home, FA)."""
        out: dict[str, set[tuple[str, str]]] = {}
        ha = (await self.state("ha"))["home-agent"]
        out["ha"] = {(b["home-address"], b["care-of-address"]) for b in ha["binding"]}
        for name, address in FOREIGN_AGENTS.items():
            fa = (await self.state(name))["foreign-agent"]
            out[name] = {(v["home-address"], address) for v in fa["visitor"]}
        for name in ACCESS_POINTS:
            ap = (await self.state(name)).get("proxy", {"visitor": []})
            out[name] = {
                (v["home-address"], v["care-of-address"])
                for v in ap["visitor"] if v["state"] == "registered"
            }
        return out

    async def counters(self) -> dict[str, dict[str, Any]]:
        return {name: await self.state(name, rows=False) for name in self.processes}


async def wait_for(predicate: Any, *, timeout: float = 30.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await predicate():
            return
        if time.monotonic() > deadline:
            raise TimeoutError("lab condition not reached in time")
        await asyncio.sleep(interval)


def agreement(snapshot: dict[str, set[tuple[str, str]]]) -> list[str]:
    """Differences between what the HA, the FAs and the APs hold (empty = agree):
    every HA binding is a visitor at the FA of its care-of address and a
    registered client of the AP behind that FA, and nothing else exists."""
    problems = []
    fa_union = snapshot["fa-a"] | snapshot["fa-b"]
    ap_union = snapshot["ap-a"] | snapshot["ap-b"]
    if snapshot["ha"] != fa_union:
        problems.append(f"HA bindings != FA visitors: {sorted(snapshot['ha'] ^ fa_union)[:5]}")
    if snapshot["ha"] != ap_union:
        problems.append(f"HA bindings != AP registrations: {sorted(snapshot['ha'] ^ ap_union)[:5]}")
    return problems


def _render(counters: dict[str, dict[str, Any]], phase: str) -> str:
    ha = counters["ha"]["home-agent"]
    lines = [f"{time.strftime('%H:%M:%S')}  {phase}",
             f"{'role':6} {'entries':>8} {'requests':>9} {'accepted':>9} {'denied':>7}"]
    hc = ha["counters"]
    denied = sum(v for k, v in hc.items() if k not in (
        "registration-accepted", "reg-requests-received", "dereg-requests-received",
        "reg-replies-sent", "dereg-replies-sent", "gratuitous-arps-sent", "proxy-arps-sent",
        "datagrams-discarded"))
    lines.append(f"{'HA':6} {ha['binding-count']:>8} {hc['reg-requests-received']:>9} "
                 f"{hc['registration-accepted']:>9} {denied:>7}")
    for name in FOREIGN_AGENTS:
        fa = counters[name]["foreign-agent"]
        fc = fa["counters"]
        lines.append(f"{name.upper():6} {fa['visitor-count']:>8} {fc['reg-requests-received']:>9} "
                     f"{fc['reg-replies-relayed']:>9} {fc['registration-timeouts']:>7}")
    for name in ACCESS_POINTS:
        ap = counters[name]["proxy"]
        pc = ap["counters"]
        lines.append(f"{name.upper():6} {ap['registered-count']:>8} {pc['requests-sent']:>9} "
                     f"{pc['accepted']:>9} {pc['denied-by-home-agent'] + pc['denied-by-foreign-agent']:>7}")
    return "\n".join(lines)


async def scenario(lab: LoopbackLab, *, out: TextIO | None = None, moving: int | None = None,
                   timeout: float = 60.0) -> dict[str, Any]:
    """Associate every client at AP-A, move ``moving`` of them to AP-B (leave A,
    wait until A's deregistration is through, join B), then make all leave.
    Returns the agreement checks of each phase."""
    n = lab.clients
    moving = n // 2 if moving is None else moving
    report: dict[str, Any] = {}

    async def show(phase: str) -> None:
        if out is not None:
            print(_render(await lab.counters(), phase) + "\n", file=out, flush=True)

    async def settled(expect_a: int, expect_b: int) -> bool:
        snap = await lab.snapshot()
        return (len(snap["ap-a"]) == expect_a and len(snap["ap-b"]) == expect_b
                and not agreement(snap))

    for i in range(n):
        await lab.associate("ap-a", i)
    await wait_for(lambda: settled(n, 0), timeout=timeout)
    report["associated"] = agreement(await lab.snapshot())
    await show(f"{n} clients registered through AP-A / FA-A")

    for i in range(moving):
        await lab.disassociate("ap-a", i)
    await wait_for(lambda: settled(n - moving, 0), timeout=timeout)
    for i in range(moving):
        await lab.associate("ap-b", i)
    await wait_for(lambda: settled(n - moving, moving), timeout=timeout)
    snap = await lab.snapshot()
    report["moved"] = agreement(snap)
    report["moved-care-of"] = sorted({coa for _, coa in snap["ap-b"]})
    await show(f"{moving} clients moved to AP-B / FA-B")

    for i in range(moving):
        await lab.disassociate("ap-b", i)
    for i in range(moving, n):
        await lab.disassociate("ap-a", i)
    await wait_for(lambda: settled(0, 0), timeout=timeout)
    snap = await lab.snapshot()
    report["left"] = agreement(snap)
    report["left-empty"] = all(not entries for entries in snap.values())
    await show("all clients left")
    return report


async def run_lab(*, clients: int = 10, once: bool = False, out: TextIO = sys.stdout,
                  interval: float = 1.0, keep: bool = False) -> int:
    async with LoopbackLab(clients=clients, keep=keep) as lab:
        print(f"lab: {', '.join(f'{k}={v.endpoints}' for k, v in lab.processes.items())}",
              file=out, flush=True)
        print(f"lab: configurations and logs in {lab.workdir}", file=out, flush=True)
        while True:
            report = await scenario(lab, out=out)
            failed = [k for k, v in report.items() if isinstance(v, list) and v and k != "moved-care-of"]
            if failed:
                print(f"lab: DISAGREEMENT in {failed}: {report}", file=out, flush=True)
                return 1
            print("lab: HA bindings, FA visitors and AP registrations agreed in every phase",
                  file=out, flush=True)
            if once:
                return 0
            await asyncio.sleep(interval)


def main_lab(clients: int, once: bool, keep: bool = False) -> int:
    """Ctrl-C and SIGTERM alike stop the scenario, deregister the clients and
    stop the five agents (the lab's ``async with``), then exit 0."""
    status = run_interruptible(run_lab(clients=clients, once=once, keep=keep))
    return 0 if status is None else status
