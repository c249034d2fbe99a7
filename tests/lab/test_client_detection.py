"""Client detection for real, in two namespaces: an access point running
hostapd (``driver=wired``, 802.1X with its internal EAP server) and a client
running ``wpa_supplicant -D wired``. hostapd's AP-STA-CONNECTED /
AP-STA-DISCONNECTED, read from its control interface, are the association and
the departure; the client's first ARP/IPv4 frames on the AP's client-facing
link (AF_PACKET) tell its address. Without hostapd, the frames alone make the
association, and silence the departure. Root only (tests/conftest.py
require_root); hostapd and wpa_supplicant are Debian's (tools/setup.sh)."""

from __future__ import annotations

import asyncio
import json
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import require_root, require_tool

HOME = "192.0.2.10"
TOP = "proxy-mobile-ip:mobile-ip"
KEY = "5a:5a:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e"


def _config(tmp: Path, interface: dict[str, Any]) -> Path:
    path = tmp / "ap.json"
    path.write_text(json.dumps({TOP: {
        "proxy": {"listen": {"address": "203.0.113.2", "port": 43402},
                  "local-network": ["203.0.113.0/25"],
                  # A foreign agent that is not there: registration is not what
                  # this test is about, detection is.
                  "foreign-agent": {"address": "203.0.113.1", "port": 43401},
                  "discovery": {"enabled": False},
                  "interface": [interface]},
        "subnet-map": [{"prefix": "192.0.2.0/24", "home-agent": "192.0.2.1"}],
        "security": {"host": [{"address": "192.0.2.2", "last-address": "192.0.2.254",
                               "spi": 256, "key-hex": KEY}]},
    }}))
    path.chmod(0o600)  # it holds keys
    return path


class Site:
    def __init__(self, ns: Any, tmp: Path) -> None:
        self.ns, self.tmp = ns, tmp
        self.socket = str(tmp / "ap.sock")

    def start_agent(self, config: Path) -> None:
        with open(self.tmp / "agent.log", "wb") as log:  # the child keeps its own descriptor
            agent = self.ns.python("ap", "agent.cli", "run", "--startup", str(config),
                                   "--control-socket", self.socket, stdout=subprocess.PIPE,
                                   stderr=log, text=True)
        ready, _, _ = select.select([agent.stdout], [], [], 20)
        line = agent.stdout.readline() if ready else ""
        assert line.startswith("ready "), (self.tmp / "agent.log").read_text()[-2000:]

    def visitors(self) -> list[dict[str, Any]]:
        from agent.aio.control import request

        state = asyncio.run(asyncio.wait_for(request(self.socket, {"op": "state"}), 5))
        return state["proxy"].get("visitor", [])

    def wait(self, predicate: Any, what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"{what}: {self.visitors()}"
            time.sleep(0.05)

    def client_sends(self) -> None:
        """The client's first frames: ARP for an on-link neighbour, then IPv4."""
        self.ns.check("mn", [sys.executable, "-m", "tools.lab.traffic", "ping", "--source", HOME,
                             "--destination", "192.0.2.1", "--count", "1", "--interval", "0.05",
                             "--timeout", "0.3"], timeout=20)


@pytest.fixture
def site(tmp_path: Path):
    require_root()
    from tools.lab.netns import Namespaces

    with Namespaces() as ns:
        ns.create("ap")
        ns.create("mn")
        ns.veth("ap", "wlan0", "mn", "sta0", address_a="203.0.113.2/25",
                address_b=f"{HOME}/24")
        yield Site(ns, tmp_path)


def _mac(site: Site) -> str:
    link = site.ns.ns("mn").get_links(site.ns.index("mn", "sta0"))[0]
    return link.get_attr("IFLA_ADDRESS")


def test_hostapd_association_address_from_frames_and_departure(site: Site) -> None:
    hostapd = require_tool("hostapd")
    supplicant = require_tool("wpa_supplicant")
    tmp = site.tmp
    (tmp / "eap_users").write_text('"mn1" MD5 "secret"\n')
    (tmp / "hostapd.conf").write_text(
        f"interface=wlan0\ndriver=wired\nctrl_interface={tmp}/hostapd\n"
        f"ieee8021x=1\neap_server=1\neap_user_file={tmp}/eap_users\n")
    (tmp / "supplicant.conf").write_text(
        "ap_scan=0\nnetwork={\n key_mgmt=IEEE8021X\n eap=MD5\n identity=\"mn1\"\n"
        " password=\"secret\"\n eapol_flags=0\n}\n")
    with open(tmp / "hostapd.log", "wb") as log:  # the child keeps its own descriptor
        site.ns.run("ap", [hostapd, str(tmp / "hostapd.conf")], stdout=log,
                    stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while not (tmp / "hostapd" / "wlan0").exists():
        assert time.monotonic() < deadline, (tmp / "hostapd.log").read_text()
        time.sleep(0.05)
    site.start_agent(_config(tmp, {"name": "wlan0",
                                   "hostapd-control-path": str(tmp / "hostapd" / "wlan0"),
                                   "snoop-interface": "wlan0"}))
    mac = _mac(site)
    # Frames before the association are remembered, not reported.
    site.client_sends()
    time.sleep(0.3)
    assert site.visitors() == []

    with open(tmp / "supplicant.log", "wb") as log:
        client = site.ns.run("mn", [supplicant, "-D", "wired", "-i", "sta0", "-c",
                                    str(tmp / "supplicant.conf")],
                             stdout=log, stderr=subprocess.STDOUT)
    site.wait(lambda: any(v["mac"] == mac for v in site.visitors()), "AP-STA-CONNECTED")
    visitor = next(v for v in site.visitors() if v["mac"] == mac)
    assert visitor["interface"] == "wlan0"
    # The address seen before 802.1X finished came with the association: the
    # client is a visitor of 192.0.2.0/24 and is being registered.
    assert visitor["home-address"] == HOME
    assert visitor["home-agent"] == "192.0.2.1"
    assert visitor["state"] not in ("at-home", "not-proxied", "no-security-association")

    # The AP deauthenticates the station (hostapd_cli deauthenticate): hostapd
    # reports AP-STA-DISCONNECTED and the visitor goes.
    assert _hostapd_command(tmp / "hostapd" / "wlan0", f"DEAUTHENTICATE {mac}") == "OK"
    site.wait(lambda: all(v["mac"] != mac or v["state"] == "deregistering"
                          for v in site.visitors()), "AP-STA-DISCONNECTED")
    site.ns.stop(client)


def _hostapd_command(path: Path, command: str) -> str:
    """One request on hostapd's control interface (a Unix datagram socket)."""
    import os
    import socket
    import tempfile

    local = os.path.join(tempfile.gettempdir(), f"pmip-test-ctrl-{os.getpid()}")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(local)
        try:
            sock.settimeout(5)
            sock.connect(str(path))
            sock.send(command.encode())
            return sock.recv(4096).decode().strip()
        finally:
            os.unlink(local)


def test_frames_alone_associate_and_silence_departs(site: Site) -> None:
    # Reported as SSID "guest", watched on the wlan0 device.
    site.start_agent(_config(site.tmp, {"name": "guest", "snoop-interface": "wlan0",
                                        "inactivity-timeout": 2}))
    mac = _mac(site)
    site.client_sends()
    site.wait(lambda: any(v["mac"] == mac and v.get("home-address") == HOME
                          and v["interface"] == "guest"
                          for v in site.visitors()), "association from frames", timeout=5)
    started = time.monotonic()
    site.wait(lambda: all(v["mac"] != mac or v["state"] == "deregistering"
                          for v in site.visitors()), "departure by inactivity", timeout=10)
    assert time.monotonic() - started >= 1.0  # not before the silence
