"""``arp-interception`` on a link without a MAC (a TUN device) is refused at
start with one clear line naming the configuration node, not a traceback.
Root only (a namespace with a TUN device)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import require_root


def test_arp_interception_on_a_link_without_a_mac_is_refused(tmp_path: Path) -> None:
    require_root()
    from tools.lab.netns import Namespaces

    with Namespaces() as ns:
        ns.create("ap")
        ns.ns("ap").link("add", ifname="tun0", kind="tuntap", mode="tun")
        ns.up("ap", "tun0")
        config = tmp_path / "ap.json"
        config.write_text(json.dumps({"proxy-mobile-ip:mobile-ip": {
            "proxy": {"listen": {"address": "127.0.0.1", "port": 0},
                      "discovery": {"enabled": False},
                      "interface": [{"name": "guest", "snoop-interface": "tun0",
                                     "arp-interception": True}]},
            "subnet-map": [{"prefix": "192.0.2.0/24", "home-agent": "192.0.2.1"}]}}))
        done = subprocess.run(["ip", "netns", "exec", ns.name("ap"), sys.executable, "-m",
                               "agent.cli", "run", "--startup", str(config)],
                              capture_output=True, text=True, timeout=60,
                              cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "proxymip: invalid configuration: /proxy-mobile-ip:mobile-ip/proxy/interface"
        "[name='guest']/arp-interception: tun0 is not an Ethernet interface (no MAC to answer with)"]
