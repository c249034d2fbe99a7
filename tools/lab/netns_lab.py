"""The data-path lab: Mobile IP across network namespaces (root only).

    python3 -m tools.lab.netns_lab [--scenario] [--keep-running] [--no-reverse-tunnel]
                                   [--association {hostapd,control}]

Builds, with TEST-NET addresses only and inside namespaces it owns::

    home network 192.0.2.0/24           router                foreign network A
    [cn]--(br-home)[ha]--198.51.100.0/30--[rt]--198.51.100.4/30--[fa-a]--203.0.113.0/25--[ap-a]--+
     .100      .1 = HA                       \\                        .1        .2 (br0)    |
                                              198.51.100.8/30--[fa-b]--203.0.113.128/25--[ap-b]--[air]--[mn]
                                                                 .129       .130 (br0)

The mobile node (mn) has its home address 192.0.2.10/24 and its home agent as
gateway wherever it is, with the kernel's stock ARP settings. Each access point
bridges its client-facing link (``wlan0``) and its uplink (``br0``); the
foreign agents' care-of addresses are their uplink addresses (198.51.100.6 and
.10). Every role runs as ``python3 -m agent.cli run --startup <generated>.json``
on UDP 434 in its namespace; the home and foreign agents' configurations have
a ``data-plane`` container, so the agents themselves keep the userspace
IP-in-IP tunnels, routes, proxy ARP and reverse-tunnel rules in step with
their bindings and visitors (the lab kernel has no ``ipip``: ``tunnel-backend
auto`` picks the userspace tunnel).

The radio is the ``air`` namespace: one bridge per access point (``air-a``,
``air-b``, forwarding 802.1X EAPOL), and the mobile node's link (``mn0``) on
one of them at a time.

Association (``--association hostapd``, the default): each access point runs
hostapd (``driver=wired``, 802.1X with its internal EAP server) on ``wlan0``,
the mobile node ``wpa_supplicant -D wired``. The proxy follows hostapd
(``hostapd-control-path``: AP-STA-CONNECTED / AP-STA-DISCONNECTED) and learns
the client's address from its frames (``snoop-interface``); an association
starts the registration. A roam is the mobile node's EAPOL-Logoff at the old
access point (its departure there), its link moving to the other access
point's air bridge with its carrier up (its ARP cache keeps the old access
point's MAC, as a Wi-Fi client's does), and its EAPOL-Start there (a new
association); the mobile node then announces its address (a gratuitous ARP,
as client stacks do after a re-association). The access points intercept their
registered visitors (``arp-interception``, agent/access/intercept.py): they
answer their ARP requests for home addresses with their own MAC and, after
each registration, tell them their gateway (the subnet map's
``default-gateway``) and first hops are at the access point; the access
point's kernel forwards what it intercepts to its foreign agent.

``--association control`` is the earlier lab for simulators: associations go
through the access points' control channels, the foreign agents answer proxy
ARP for everything on their access links, and a roam drops the mobile node's
carrier (which flushes its ARP cache) before attaching it at the new access
point.

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

from tools.lab import wired_access
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
#: PMIP_LAB_DEBUG=1: hostapd and wpa_supplicant log their state machines (-dt).
DEBUG = ["-dt"] if os.environ.get("PMIP_LAB_DEBUG") else []


def _security(peers: list[str], *, hosts: bool) -> dict[str, Any]:
    section: dict[str, Any] = {"peer": [{"address": p, "spi": 300, "key-hex": PEER_KEY}
                                        for p in peers]}
    if hosts:
        section["host"] = [{"address": "192.0.2.2", "last-address": "192.0.2.254",
                            "spi": 256, "key-hex": MN_KEY}]
    return section


def agent_configs(*, reverse_tunnel: bool, lifetime: int,
                  hostapd: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """The agents' startup files. ``hostapd``: each access point's hostapd
    control socket (association by hostapd, interception on ``wlan0``);
    None: associations come through the control channel."""
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
        proxy: dict[str, Any] = {
            "listen": {"address": address, "port": PORT}, "local-network": [local],
            "lifetime": lifetime, "reverse-tunnel": reverse_tunnel,
            "foreign-agent-port": PORT, "home-agent-port": PORT,
            "discovery": {"enabled": True}}
        if hostapd is not None:
            proxy["interface"] = [{"name": "wlan0", "hostapd-control-path": hostapd[ap],
                                   "snoop-interface": "wlan0", "arp-interception": True}]
        configs[ap] = {top: {
            "proxy": proxy,
            "subnet-map": [{"prefix": HOME_NETWORK, "home-agent": HA, "default-gateway": HA}],
            "security": _security([], hosts=True),
        }}
    return configs


def _air_bridge(ap: str) -> str:
    return "air-" + ap[-1]


@dataclass
class NetnsLab:
    reverse_tunnel: bool = True
    lifetime: int = 120
    keep: bool = False
    #: "hostapd": 802.1X association drives the access points; "control":
    #: associations through their control channels (simulators).
    association: str = "hostapd"
    namespaces: Namespaces = field(default_factory=Namespaces)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pmip-netns-")))
    agents: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    #: Where the mobile node's link is now (or was last, when not in_range).
    mn_at: str = "ap-a"
    #: The mobile node's link is on an access point's air.
    in_range: bool = True
    #: The lab's own attachment to each access point's hostapd (event times).
    monitors: dict[str, wired_access.Monitor] = field(default_factory=dict)
    supplicant: subprocess.Popen[Any] | None = None
    #: Link-layer helpers (traffic.radio) by namespace: "mn", "air".
    radios: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    _logs: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.association not in ("hostapd", "control"):
            raise ValueError(f"association {self.association!r}: expected hostapd or control")

    @property
    def by_hostapd(self) -> bool:
        return self.association == "hostapd"

    # -- topology ------------------------------------------------------------------

    def build(self) -> None:
        ns = self.namespaces
        for name in ("ha", "rt", "fa-a", "fa-b"):
            ns.create(name, forwarding=True)
        for name in ("ap-a", "ap-b"):
            # An access point forwards what it intercepts to its foreign agent.
            ns.create(name, forwarding=self.by_hostapd)
        for name in ("cn", "air", "mn"):
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
            # Without interception, the FA answers ARP on its access link for
            # what it routes elsewhere: the visitor's gateway and correspondents.
            ns.proxy_arp(fa, "acc0", all_addresses=not self.by_hostapd)
            air_port = ap.replace("-", "")
            ns.veth(ap, "wlan0", "air", air_port)
            ns.bridge(ap, "br0", ["up0", "wlan0"], address=f"{ap_address}/25")
            ns.route(ap, "0.0.0.0/0", gateway=fa_address)
            ns.route("rt", local, gateway=CARE_OF[fa])
            # 802.1X EAPOL (01:80:c2:00:00:03) crosses the air.
            ns.bridge("air", _air_bridge(ap), [air_port], group_fwd_mask=1 << 3)
        # The mobile node, at home address and home gateway, on AP-A's air.
        ns.veth("mn", "wlan0", "air", "mn0", address_a=f"{MN}/24", up=False)
        ns.ns("mn").link("set", index=ns.index("mn", "wlan0"), address=MN_MAC, state="up")
        ns.ns("air").link("set", index=ns.index("air", "mn0"),
                          master=ns.index("air", _air_bridge(self.mn_at)), state="up")
        ns.route("mn", "0.0.0.0/0", gateway=HA)

    # -- processes -------------------------------------------------------------------

    def start_access(self) -> dict[str, str]:
        """hostapd on each access point's wlan0; returns their control sockets."""
        paths = {}
        for ap in ACCESS:
            directory = self.workdir / f"hostapd-{ap}"
            directory.mkdir()
            config = wired_access.hostapd_config(directory, "wlan0")
            log = directory / "hostapd.log"
            wired_access.start(self.namespaces, ap, ["hostapd", *DEBUG, str(config)], log)
            paths[ap] = str(directory / "ctrl" / "wlan0")
            wired_access.wait_for(Path(paths[ap]), log)
            self.monitors[ap] = wired_access.Monitor(Path(paths[ap])).start()
        return paths

    def start_agents(self, hostapd: dict[str, str] | None = None) -> None:
        for name, config in agent_configs(reverse_tunnel=self.reverse_tunnel,
                                          lifetime=self.lifetime, hostapd=hostapd).items():
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
            self.start_agents(self.start_access() if self.by_hostapd else None)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        # The client leaves first, then the access points: they deregister
        # their clients on the way out; each agent removes its data plane as
        # it stops.
        for monitor in self.monitors.values():
            monitor.close()
        for helper in (*self.radios.values(), self.supplicant):
            if helper is not None:
                self.namespaces.stop(helper)
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

    # -- association -------------------------------------------------------------------

    def _supplicant_command(self, text: str) -> None:
        reply = wired_access.command(self.workdir / "supplicant" / "ctrl" / "wlan0", text)
        if reply != "OK":
            raise RuntimeError(f"wpa_supplicant {text}: {reply}")

    def _radio(self, where: str, command: str) -> None:
        """One command to the link-layer helper (traffic.radio) in namespace
        ``where``: the mobile node's own stack ("mn"), or the medium ("air")."""
        radio = self.radios.get(where)
        if radio is None:
            radio = self.radios[where] = self.namespaces.python(
                where, "tools.lab.traffic", "radio", "--address", MN,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            if _read_line(radio, 10) != "ready":
                raise RuntimeError(f"the radio helper in {where} did not start")
        assert radio.stdin is not None
        radio.stdin.write(command + "\n")
        radio.stdin.flush()
        if _read_line(radio, 5) != "done":
            raise RuntimeError(f"the radio helper in {where} did not {command}")

    def _attach(self, ap: str) -> None:
        """The mobile node's link onto ``ap``'s air (its carrier stays up)."""
        ns = self.namespaces
        ns.ns("air").link("set", index=ns.index("air", "mn0"), master=ns.index("air", _air_bridge(ap)))
        self.mn_at, self.in_range = ap, True

    def _wait_supplicant_connecting(self) -> None:
        path = self.workdir / "supplicant" / "ctrl" / "wlan0"
        deadline = time.monotonic() + 10
        while "Supplicant PAE state=CONNECTING" not in wired_access.command(path, "STATUS"):
            if time.monotonic() > deadline:
                raise RuntimeError("wpa_supplicant did not reach CONNECTING")
            time.sleep(0.01)

    def associate(self, ap: str) -> None:
        """The mobile node associates at ``ap`` (where its link is), then
        announces its address; or the control channel's associate.

        By hostapd: the first time, wpa_supplicant starts and hostapd is told
        of the new station (``NEW_STA``, what a Wi-Fi association frame does:
        hostapd starts EAP at once; a wired supplicant alone waits 2 s before
        its first EAPOL-Start); afterwards the supplicant's EAPOL-Start
        (``REAUTHENTICATE``, sent at once from its authenticated state) is the
        association. hostapd reports AP-STA-CONNECTED after EAP-Success."""
        if not self.by_hostapd:
            self.control(ap, {"op": "associate", "mac": MN_MAC, "address": MN, "interface": "wlan0"})
            return
        if not self.in_range:  # back in range, of ``ap``
            self._attach(ap)
        if ap != self.mn_at:
            raise ValueError(f"the mobile node's link is at {self.mn_at}, not {ap}")
        if self.supplicant is None:
            directory = self.workdir / "supplicant"
            directory.mkdir()
            config = wired_access.supplicant_config(directory)
            self.supplicant = wired_access.start(
                self.namespaces, "mn", ["wpa_supplicant", *DEBUG, "-D", "wired", "-i", "wlan0", "-c",
                                        str(config)], directory / "supplicant.log")
            wired_access.wait_for(directory / "ctrl" / "wlan0", directory / "supplicant.log")
            self._wait_supplicant_connecting()
            reply = wired_access.command(self.monitors[ap].path, f"NEW_STA {MN_MAC}")
            if reply != "OK":
                raise RuntimeError(f"hostapd NEW_STA: {reply}")
        else:
            self._supplicant_command("REAUTHENTICATE")
        self._radio("mn", "announce wlan0")

    def disassociate(self, ap: str) -> None:
        """The mobile node leaves ``ap``: an EAPOL-Logoff from its MAC on
        ``ap``'s side of the air (hostapd reports AP-STA-DISCONNECTED: the
        station's disassociation); or the control channel's disassociate.
        The supplicant stays authenticated, as a Wi-Fi station's does across
        a roam; it does not hear ``ap`` restart EAP once it has left."""
        if not self.by_hostapd:
            self.control(ap, {"op": "disassociate", "mac": MN_MAC})
            return
        if ap == self.mn_at and self.in_range:
            # Out of range: otherwise the supplicant answers the EAP that
            # hostapd restarts after the logoff, and associates again.
            ns = self.namespaces
            ns.ns("air").link("set", index=ns.index("air", "mn0"), master=0)
            self.in_range = False
        sent = time.monotonic()
        self._radio("air", f"logoff {ap.replace('-', '')} {MN_MAC}")
        self.wait(lambda: self.monitors[ap].last("AP-STA-DISCONNECTED", MN_MAC, after=sent),
                  timeout=5, what=f"{ap} reporting the departure")
        # hostapd keeps a deauthenticated station 5 s (AP_MAX_INACTIVITY_AFTER_DEAUTH)
        # and ignores its EAPOL-Start meanwhile; as a WLAN controller would, the
        # lab clears the old access point's station table now ("ff:..": all).
        reply = wired_access.command(self.monitors[ap].path, "DEAUTHENTICATE ff:ff:ff:ff:ff:ff")
        if reply != "OK":
            raise RuntimeError(f"hostapd DEAUTHENTICATE: {reply}")

    def associated_at(self, ap: str, *, after: float) -> float | None:
        """When ``ap``'s hostapd reported the mobile node's association (the
        lab's own monitor's receive time), if it did after ``after``."""
        event = self.monitors[ap].last("AP-STA-CONNECTED", MN_MAC, after=after)
        return event.at if event is not None else None

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

    def interception_counters(self, ap: str) -> dict[str, int]:
        counters: dict[str, int] = self.control(ap, {"op": "state", "rows": False})["proxy"].get(
            "arp-interception", {})
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
        """Move the mobile node to access point ``to``; returns the monotonic
        time of its (re)association request there (EAPOL-Start, or the
        control channel's associate).

        By hostapd, break before make as a Wi-Fi station's reassociation: the
        mobile node leaves the old access point (EAPOL-Logoff there: the
        departure), its link moves between the air bridges with its carrier
        up, and its EAPOL-Start at the new access point is the association.
        The mobile node associates at the new one without waiting for the old
        one's deregistration to reach the home agent: the two access points
        stamp their requests for the same mobile node from their own clocks
        (RFC 5944 §5.7.1 timestamps), and a deregistration stamped later but
        arriving first gets the registration denied with 133, which the new
        access point retries at once with a greater Identification
        (tests/unit/test_proxy_roaming.py).
        By the control channel: the link goes down until the mobile node has
        seen it (the kernel reports carrier loss late, linkwatch delays it up
        to a second, and only then flushes the ARP cache; attaching before
        that would leave the old FA's MAC in it), the new access point is told
        of the association, then the old one of the departure (make before
        break)."""
        ns, old = self.namespaces, self.mn_at
        air = ns.ns("air")
        port = ns.index("air", "mn0")
        if self.by_hostapd:
            if self.in_range and old != to:
                self.disassociate(old)
            self._attach(to)
            started = time.monotonic()
            self.associate(to)
            return started
        air.link("set", index=port, state="down")
        mn = ns.ns("mn")
        index = ns.index("mn", "wlan0")
        self.wait(lambda: mn.get_links(index)[0].get_attr("IFLA_OPERSTATE") != "UP",
                  timeout=5, what="the mobile node seeing its link down")
        air.link("set", index=port, master=ns.index("air", _air_bridge(to)), state="up")
        started = time.monotonic()
        self.mn_at = to
        self.associate(to)
        self.control(old, {"op": "disassociate", "mac": MN_MAC})
        return started

    # -- traffic -----------------------------------------------------------------------

    def ping(self, source_ns: str, source: str, destination: str, *, count: int = 3) -> dict[str, Any]:
        out = self.namespaces.check(source_ns, [
            sys.executable, "-m", "tools.lab.traffic", "ping", "--source", source,
            "--destination", destination, "--count", str(count), "--interval", "0.05",
            "--timeout", "2"], timeout=30)
        result: dict[str, Any] = json.loads(out)
        return result


def scenario(lab: NetnsLab, out: Any = sys.stdout) -> dict[str, Any]:
    """Associate at A, ping the CN, roam to B, ping again, leave."""
    report: dict[str, Any] = {"association": lab.association}
    started = time.monotonic()
    lab.associate("ap-a")
    lab.wait(lambda: lab.settled_at("fa-a"), what="registration at A")
    report["register-s"] = round(time.monotonic() - started, 3)
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
    if lab.by_hostapd:
        report["associations"] = {ap: [f"{e.name} {e.mac}" for e in monitor.events]
                                  for ap, monitor in lab.monitors.items()}
        report["arp-interception"] = {ap: lab.interception_counters(ap) for ap in ACCESS}
    return report


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    out = process.stdout
    assert out is not None
    ready, _, _ = select.select([out], [], [], timeout)
    return out.readline().strip() if ready else ""


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
    parser.add_argument("--association", choices=("hostapd", "control"), default="hostapd",
                        help="802.1X association (hostapd, wpa_supplicant) or the control channel")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _terminate_in(os.getpid()))
    lab = NetnsLab(reverse_tunnel=not args.no_reverse_tunnel, keep=args.keep,
                   association=args.association)
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
        # A second Ctrl-C or SIGTERM (a time-out's, a service manager's) must
        # not cut the clean-up short and leave namespaces and agents behind.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        lab.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
