"""``proxymip run --startup FILE.xml``: the XML file is the startup datastore.
``copy-config running -> startup`` (here over the control channel, the same
datastore call NETCONF makes) rewrites it in XML, and a restart comes back with
what was saved (RFC 6241 §8.7 :startup)."""

from __future__ import annotations

import asyncio
import json
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from lxml import etree

from agent.aio.control import request
from tests.conftest import ROOT

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
HA = "127.0.0.2"
TIMEOUT = 10.0
STARTUP = f"""<mobile-ip xmlns="{NS}">
  <home-agent>
    <address>{HA}</address>
    <home-network>192.0.2.0/24</home-network>
    <listen><address>{HA}</address><port>0</port></listen>
  </home-agent>
</mobile-ip>
"""


class Agent:
    def __init__(self, startup: Path, socket: Path) -> None:
        self.socket = socket
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--startup", str(startup),
             "--control-socket", str(socket)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("ready "):
            self.proc.kill()
            raise AssertionError(f"agent not ready: {line!r} {self.proc.communicate()[1]}")

    def control(self, payload: dict[str, Any]) -> dict[str, Any]:
        return asyncio.run(request(str(self.socket), payload, timeout=TIMEOUT))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()


def test_copy_config_writes_the_xml_startup_and_a_restart_reads_it(tmp_path: Path) -> None:
    startup = tmp_path / "startup.xml"
    startup.write_text(STARTUP)
    startup.chmod(0o600)  # it holds keys
    agent = Agent(startup, tmp_path / "control.sock")
    try:
        assert agent.control({"op": "get-config", "source": "startup"})["data"][
            "proxy-mobile-ip:mobile-ip"]["home-agent"]["address"] == HA
        answer = agent.control({"op": "edit-config", "edits": [{
            "operation": "merge", "path": "/mobile-ip/subnet-map[prefix='10.9.0.0/16']",
            "value": {"home-agent": HA}}]})
        assert answer.get("ok"), answer
        assert startup.read_text() == STARTUP
        answer = agent.control({"op": "copy-config", "source": "running", "target": "startup"})
        assert answer == {"ok": True}, answer
        document = etree.fromstring(startup.read_bytes())
        assert document.findtext(f"{{{NS}}}subnet-map/{{{NS}}}prefix") == "10.9.0.0/16"
        # The listen port given in the file is kept as written (0), not as bound.
        assert document.findtext(f"{{{NS}}}home-agent/{{{NS}}}listen/{{{NS}}}port") == "0"
    finally:
        agent.stop()
    reborn = Agent(startup, tmp_path / "control2.sock")
    try:
        running = reborn.control({"op": "get-config", "source": "running"})["data"]
        assert running["proxy-mobile-ip:mobile-ip"]["subnet-map"] == [
            {"prefix": "10.9.0.0/16", "home-agent": HA}]
        assert json.dumps(running) == json.dumps(
            reborn.control({"op": "get-config", "source": "startup"})["data"])
    finally:
        reborn.stop()
