"""The data-path lab: Mobile IP across network namespaces (root only).

    python3 -m tools.lab.netns_lab [--scenario] [--keep-running] [--no-reverse-tunnel]

Builds, with TEST-NET addresses only and inside namespaces it owns::

    home network 192.0.2.0/24           router                foreign network A
    [cn]--(br-home)[ha]--198.51.100.0/30--[rt]--198.51.100.4/30--[fa-a]--203.0.113.0/25--[ap-a]--[mn]
     .100      .1 = HA                       \\                        .1        .2 (bridge)
                                              198.51.100.8/30--[fa-b]--203.0.113.128/25--[ap-b]
                                                                 .129       .130 (bridge)

The mobile node (mn) has its home address 192.0.2.10/24 and its home agent as
gateway wherever it is; the access points are layer-2 bridges; the foreign
agents' care-of addresses are their uplink addresses (198.51.100.6 and .10).
Every role runs as ``python3 -m agent.cli run --startup <generated>.json`` on UDP
434 in its namespace; the home and foreign agents' configurations have a
``data-plane`` container, so the agents themselves keep the userspace IP-in-IP
tunnels, routes, proxy ARP and reverse-tunnel rules in step with their
bindings and visitors (the lab kernel has no ``ipip``: ``tunnel-backend auto``
picks the userspace tunnel).

Roaming: the access point's port towards the mobile node (``mn0``) moves from
ap-a's bridge to ap-b's, as a Wi-Fi client re-associates: the mobile node's
interface and addresses stay; its carrier drops meanwhile, which flushes its
ARP cache (the new foreign agent answers proxy ARP with another MAC). The lab
waits until the mobile node has seen its link go down before attaching it at
the new access point (the kernel reports carrier loss up to a second late);
handover times count from the attachment.

Everything (processes, by pid, then namespaces) is removed on exit, Ctrl-C,
SIGTERM or failure.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.lab.netns import Namespaces

HA = "192.0.2.1"
CN = "192.0.2.100"
MN = "192.0.2.10"
MN_MAC = "02:00:00:00:00:0a"
HOME_NETWORK = "192.0.2.0/24"
CARE_OF = {"fa-a": "198.51.100.6", "fa-b": "198.51.100.10"}
ACCESS = {"ap-a": ("fa-a", "203.0.113.1", "203.0.113.2", "203.0.113.0/25"),
          "ap-b": ("fa-b", "203.0.113.129", "203.0.113.130", "203.0.113.128/25")}
MN_KEY = "5a:5a:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e"
PEER_KEY = "a5:a5:10:20:30:40:50:60:70:80:90:a0:b0:c0:d0:e0"
START_TIMEOUT = 30.0
PORT = 434
#: Agent Advertisements every second (RFC 5944 §2.3), TTL 1, on the access links.
ADVERTISE_INTERVAL = "1"


def _security(peers: list[str], *, hosts: bool) -> dict[str, Any]:
    section: dict[str, Any] = {"peer": [{"address": p, "spi": 300, "key-hex": PEER_KEY}
                                        for p in peers]}
    if hosts:
        section["host"] = [{"address": "192.0.2.2", "last-address": "192.0.2.254",
                            "spi": 256, "key-hex": MN_KEY}]
    return section


def agent_configs(*, reverse_tunnel: bool, lifetime: int) -> dict[str, dict[str, Any]]:
    top = "proxy-mobile-ip:mobile-ip"
    configs: dict[str, dict[str, Any]] = {"ha": {top: {
        "home-agent": {"address": HA, "home-network": HOME_NETWORK,
                       "listen": {"address": HA, "port": PORT}},
        "security": _security(list(CARE_OF.values()), hosts=True),
        "data-plane": {"home-interface": "br-home"},
        "state-checkpoint": {"file": "ha-state.json", "interval": "0.1"},
    }}}
    for fa, address in CARE_OF.items():
        configs[fa] = {top: {
            # Any local address: access points register with the address the
            # advertisements come from (the access link's), the HA answers
            # the care-of address.
            "foreign-agent": {"address": address, "listen": {"address": "0.0.0.0", "port": PORT},
                              "home-agent-port": PORT,
                              "advertisement": {"enabled": True, "interval": ADVERTISE_INTERVAL,
                                                "lifetime": 3, "interface": "acc0"}},
            "security": _security([HA], hosts=False),
            "data-plane": {"access-interface": "acc0"},
            "state-checkpoint": {"file": f"{fa}-state.json", "interval": "0.1"},
        }}
    for ap, (fa, _, address, local) in ACCESS.items():
        configs[ap] = {top: {
            "proxy": {"listen": {"address": address, "port": PORT}, "local-network": [local],
                      "lifetime": lifetime, "reverse-tunnel": reverse_tunnel,
                      "foreign-agent-port": PORT, "home-agent-port": PORT,
                      "discovery": {"enabled": True}},
            "subnet-map": [{"prefix": HOME_NETWORK, "home-agent": HA}],
            "security": _security([], hosts=True),
        }}
    return configs


@dataclass
class NetnsLab:
    reverse_tunnel: bool = True
    lifetime: int = 120
    keep: bool = False
    namespaces: Namespaces = field(default_factory=Namespaces)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pmip-netns-")))
    agents: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    #: Where the mobile node's access-point port is now.
    mn_at: str = "ap-a"
    _logs: list[Any] = field(default_factory=list)

    # -- topology ------------------------------------------------------------------

    def build(self) -> None:
        ns = self.namespaces
        for name in ("ha", "rt", "fa-a", "fa-b"):
            ns.create(name, forwarding=True)
        for name in ("cn", "ap-a", "ap-b", "mn"):
            ns.create(name)
        # Home link: a bridge in the HA's namespace with the CN on it.
        ns.veth("cn", "eth0", "ha", "p-cn", address_a=f"{CN}/24")
        ns.bridge("ha", "br-home", ["p-cn"], address=f"{HA}/24")
        ns.proxy_arp("ha", "br-home")  # explicit entries only (RFC 5944 §4.6)
        ns.route("cn", "0.0.0.0/0", gateway=HA)
        ns.veth("ha", "up0", "rt", "ha0", address_a="198.51.100.1/30", address_b="198.51.100.2/30")
        ns.route("ha", "0.0.0.0/0", gateway="198.51.100.2")
        ns.route("rt", HOME_NETWORK, gateway="198.51.100.1")
        for fa, rt_side, fa_side in (("fa-a", "198.51.100.5", "198.51.100.6"),
                                     ("fa-b", "198.51.100.9", "198.51.100.10")):
            ns.veth("rt", f"{fa}0".replace("-", ""), fa, "up0",
                    address_a=f"{rt_side}/30", address_b=f"{fa_side}/30")
            ns.route(fa, "0.0.0.0/0", gateway=rt_side)
        for ap, (fa, fa_address, ap_address, local) in ACCESS.items():
            ns.veth(fa, "acc0", ap, "up0", address_a=f"{fa_address}/25")
            # The FA answers ARP on its access link for what it routes elsewhere:
            # the visitor's gateway and correspondents (proxy mobile IP).
            ns.proxy_arp(fa, "acc0", all_addresses=True)
            ns.bridge(ap, "br0", ["up0"], address=f"{ap_address}/25")
            ns.route(ap, "0.0.0.0/0", gateway=fa_address)
            ns.route("rt", local, gateway=CARE_OF[fa])
        # The mobile node, at home address and home gateway, behind AP-A.
        ns.veth("mn", "wlan0", "ap-a", "mn0", address_a=f"{MN}/24")
        ns.ns("ap-a").link("set", index=ns.index("ap-a", "mn0"), master=ns.index("ap-a", "br0"))
        ns.route("mn", "0.0.0.0/0", gateway=HA)

    # -- processes -------------------------------------------------------------------

    def start_agents(self) -> None:
        for name, config in agent_configs(reverse_tunnel=self.reverse_tunnel,
                                          lifetime=self.lifetime).items():
            path = self.workdir / f"{name}.json"
            path.write_text(json.dumps(config, indent=1))
            path.chmod(0o600)  # it holds keys: `run` refuses it readable by others
            self._spawn(name)
        deadline = time.monotonic() + START_TIMEOUT
        for name in list(self.agents):
            self._wait_ready(name, deadline)

    def _spawn(self, name: str) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed in close())
        self._logs.append(log)
        self.agents[name] = self.namespaces.python(
            name, "agent.cli", "run", "--startup", str(self.workdir / f"{name}.json"),
            "--control-socket", self.control_path(name),
            stdout=subprocess.PIPE, stderr=log, text=True)

    def _wait_ready(self, name: str, deadline: float) -> None:
        process = self.agents[name]
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = process.stdout.readline() if ready else ""  # type: ignore[union-attr]
        if not line.startswith("ready "):
            log = (self.workdir / f"{name}.log").read_text()[-2000:]
            raise RuntimeError(f"agent {name} did not start: {line!r} {log}")

    def crash_and_restart(self, name: str) -> None:
        """SIGKILL agent ``name`` (no clean-up at all: its TUN devices and the
        routes through them vanish with it) and start it again on the same
        configuration; it takes its state back from its checkpoint file."""
        process = self.agents[name]
        process.kill()
        process.wait(10)
        self._spawn(name)
        self._wait_ready(name, time.monotonic() + START_TIMEOUT)

    def control_path(self, name: str) -> str:
        return str(self.workdir / f"{name}.sock")

    def start(self) -> NetnsLab:
        try:
            self.build()
            self.start_agents()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        # Access points first: they deregister their clients on the way out;
        # each agent removes its data plane as it stops.
        for name in ("ap-a", "ap-b", "fa-a", "fa-b", "ha"):
            process = self.agents.get(name)
            if process is not None:
                self.namespaces.stop(process)
        self.namespaces.close()
        for log in self._logs:
            log.close()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> NetnsLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- control -----------------------------------------------------------------------

    def control(self, name: str, payload: dict[str, Any], *, timeout: float = 5.0) -> dict[str, Any]:
        import asyncio

        from agent.aio.control import request

        answer: dict[str, Any] = asyncio.run(
            asyncio.wait_for(request(self.control_path(name), payload), timeout))
        if "error" in answer:
            raise RuntimeError(f"{name}: {answer['error']}")
        return answer

    def associate(self, ap: str) -> None:
        self.control(ap, {"op": "associate", "mac": MN_MAC, "address": MN, "interface": "wlan0"})

    def disassociate(self, ap: str) -> None:
        self.control(ap, {"op": "disassociate", "mac": MN_MAC})

    def binding(self) -> str | None:
        """The HA's care-of address for the mobile node, if bound."""
        rows = self.control("ha", {"op": "state"})["home-agent"].get("binding", [])
        return next((b["care-of-address"] for b in rows if b["home-address"] == MN), None)

    def data_plane_state(self, name: str) -> dict[str, Any]:
        """What agent ``name``'s data plane holds (its control channel's state)."""
        state: dict[str, Any] = self.control(name, {"op": "state", "rows": False})["data-plane"]
        return state

    def data_plane_counters(self, name: str) -> dict[str, Any]:
        counters: dict[str, Any] = self.data_plane_state(name)["counters"]
        return counters

    def data_planes(self) -> tuple[str, ...]:
        return ("ha", *CARE_OF)

    def wait(self, predicate: Any, *, timeout: float = 10.0, what: str = "condition") -> float:
        start = time.monotonic()
        while not predicate():
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"lab: {what} not reached in {timeout} s")
            time.sleep(0.005)
        return time.monotonic() - start

    def settled_at(self, fa: str) -> bool:
        """The HA binds the MN to ``fa``'s care-of address and both data planes
        (HA and that FA) carry it."""
        coa = CARE_OF[fa]
        ha = self.data_plane_state("ha")
        fa_state = self.data_plane_state(fa)
        return ha["bindings"].get(MN) == coa and MN in fa_state["visitors"]

    def roam(self, to: str) -> float:
        """Move the mobile node's access-point port to ``to`` and let the access
        points tell their foreign agents (make before break). Returns the
        monotonic time the mobile node was attached to the new access point.

        As in a Wi-Fi re-association, the mobile node's link is down until the
        new access point has it: the kernel reports carrier loss late (linkwatch
        delays it up to a second), and only then flushes the mobile node's ARP
        cache; attaching before that would leave the old FA's MAC in it."""
        ns, old = self.namespaces, self.mn_at
        ns.move(old, "mn0", to)
        mn = ns.ns("mn")
        index = ns.index("mn", "wlan0")
        self.wait(lambda: mn.get_links(index)[0].get_attr("IFLA_OPERSTATE") != "UP",
                  timeout=5, what="the mobile node seeing its link down")
        ns.ns(to).link("set", index=ns.index(to, "mn0"), master=ns.index(to, "br0"), state="up")
        attached = time.monotonic()
        self.mn_at = to
        self.associate(to)
        self.disassociate(old)
        return attached

    # -- traffic -----------------------------------------------------------------------

    def ping(self, source_ns: str, source: str, destination: str, *, count: int = 3) -> dict[str, Any]:
        out = self.namespaces.check(source_ns, [
            sys.executable, "-m", "tools.lab.traffic", "ping", "--source", source,
            "--destination", destination, "--count", str(count), "--interval", "0.05",
            "--timeout", "2"], timeout=30)
        result: dict[str, Any] = json.loads(out)
        return result


def scenario(lab: NetnsLab, out: Any = sys.stdout) -> dict[str, Any]:
    """Register at A, ping the CN, roam to B, ping again, deregister."""
    report: dict[str, Any] = {}
    lab.associate("ap-a")
    report["register-s"] = round(lab.wait(lambda: lab.settled_at("fa-a"), what="registration at A"), 3)
    report["ping-at-a"] = lab.ping("mn", MN, CN)
    print(f"at A: {report['ping-at-a']}", file=out, flush=True)
    started = lab.roam("ap-b")
    lab.wait(lambda: lab.settled_at("fa-b"), what="registration at B")
    report["handover-s"] = round(time.monotonic() - started, 3)
    report["ping-at-b"] = lab.ping("mn", MN, CN)
    print(f"at B: {report['ping-at-b']} (handover {report['handover-s']} s)", file=out, flush=True)
    lab.disassociate("ap-b")
    lab.wait(lambda: lab.binding() is None and not lab.data_plane_state("ha")["bindings"],
             what="deregistration")
    report["counters"] = {name: lab.data_plane_counters(name) for name in lab.data_planes()}
    return report


def _terminate_in(owner: int) -> Any:
    """A SIGTERM handler that ends the lab (as Ctrl-C does) in process ``owner``
    only. pyroute2's ``NetNS`` forks a helper process that inherits this
    handler and is itself stopped with SIGTERM: raising there would unwind the
    forked copy of ``main`` into its ``finally`` and delete the namespaces the
    lab is still building; the helper exits quietly instead."""
    def terminate(signum: int, frame: object) -> None:
        if os.getpid() != owner:
            os._exit(0)
        raise KeyboardInterrupt

    return terminate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="store_true", help="run register/roam/deregister")
    parser.add_argument("--keep-running", action="store_true", help="stay up until Ctrl-C")
    parser.add_argument("--no-reverse-tunnel", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep configurations and logs")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _terminate_in(os.getpid()))
    lab = NetnsLab(reverse_tunnel=not args.no_reverse_tunnel, keep=args.keep)
    try:
        lab.start()
        print(f"lab: namespaces {lab.namespaces.prefix}*, work directory {lab.workdir}", flush=True)
        if args.scenario:
            print(json.dumps(scenario(lab), indent=1), flush=True)
        if args.keep_running or not args.scenario:
            print("lab: up; Ctrl-C tears it down", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        lab.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
