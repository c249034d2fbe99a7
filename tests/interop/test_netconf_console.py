"""netconf-console2 (a second, independent NETCONF client stack) against a running
agent: hello, get-config, edit-config from a file, a module RPC (issue: NETCONF,
item 6 smoke run)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.lab import NETCONF_USER, _netconf
from tests.conftest import IN_CI, ROOT, find_tool

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"


@pytest.fixture
def agent_with_netconf(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = {"proxy-mobile-ip:mobile-ip": {
        "home-agent": {"address": "127.0.0.2", "listen": {"address": "127.0.0.2", "port": 0}},
        "netconf-server": _netconf("127.0.0.2"),
    }}
    path = tmp_path / "startup.json"
    path.write_text(json.dumps(config))
    path.chmod(0o600)  # it holds keys
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--startup", str(path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ready "), proc.stderr.read() if proc.stderr else line
    port = int(json.loads(line[6:])["netconf"].rsplit(":", 1)[1])
    try:
        yield port, tmp_path
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def _console() -> str:
    path = find_tool("netconf-console2")
    if path is None:
        if IN_CI:
            pytest.fail("netconf-console2 is not installed (pyproject test extras)")
        pytest.skip("netconf-console2 is not installed")
    return path


def test_netconf_console2_smoke(agent_with_netconf: tuple[int, Path]) -> None:
    port, tmp = agent_with_netconf
    base = [_console(), "--host", "127.0.0.2", "--port", str(port),
            "-u", NETCONF_USER[0], "-p", NETCONF_USER[1]]

    def run(*args: str) -> str:
        done = subprocess.run([*base, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout

    assert "urn:ietf:params:netconf:base:1.1" in run("--hello")
    assert "<max-lifetime>" not in run("--get-config")  # explicit mode: only what was set
    edit = tmp / "edit.xml"
    # netconf-console2 wraps the file in <config> itself.
    edit.write_text(f'<mobile-ip xmlns="{NS}"><home-agent><max-lifetime>1800</max-lifetime>'
                    f'</home-agent></mobile-ip>')
    run("--edit-config", str(edit))
    assert "<max-lifetime>1800</max-lifetime>" in run("--get-config")
    rpc = tmp / "rpc.xml"
    rpc.write_text(f'<clear-binding xmlns="{NS}"/>')
    assert "cleared" in run("--rpc", str(rpc))
