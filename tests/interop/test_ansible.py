"""Ansible's ansible.netcommon NETCONF modules (netconf_config, netconf_get)
against a running agent: tools/ansible/configure-proxy.yml configures the
subnet map and an SA, and reads state back (issue: NETCONF, item 6).

Ansible is a large install (~470 MB with its collections, ~50 s): tools/setup.sh
--test installs it (pyproject extra "ansible"), so CI runs this test; in a
development environment without it the test is skipped with the reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.lab import _netconf
from tests.conftest import IN_CI, ROOT, find_tool

PLAYBOOK = ROOT / "tools" / "ansible" / "configure-proxy.yml"


def test_playbook_configures_subnet_map_and_reads_state(tmp_path: Path) -> None:
    ansible = find_tool("ansible-playbook")
    if ansible is None:
        if IN_CI:
            pytest.fail("ansible-playbook is not installed (tools/setup.sh --test installs it)")
        pytest.skip("ansible is not installed (tools/setup.sh --test installs it)")
    config = {"proxy-mobile-ip:mobile-ip": {
        "proxy": {"listen": {"address": "127.0.0.4", "port": 0},
                  "foreign-agent": {"address": "127.0.0.3"}, "discovery": {"enabled": False}},
        "netconf-server": _netconf("127.0.0.4"),
    }}
    startup = tmp_path / "startup.json"
    startup.write_text(json.dumps(config))
    startup.chmod(0o600)  # it holds keys
    agent = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--startup", str(startup)],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert agent.stdout is not None
        line = agent.stdout.readline()
        assert line.startswith("ready "), line
        port = json.loads(line[6:])["netconf"].rsplit(":", 1)[1]
        inventory = tmp_path / "inventory.ini"
        inventory.write_text(
            (ROOT / "tools" / "ansible" / "inventory.ini.example").read_text()
            .replace("ansible_port=830", f"ansible_port={port}")
        )
        env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_HOME=str(tmp_path / "home"),
                   ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1")
        done = subprocess.run([ansible, "-i", str(inventory), str(PLAYBOOK)], capture_output=True,
                              text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        assert "failed=0" in done.stdout and "changed=1" in done.stdout
        assert "192.0.2.0/24" in done.stdout
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.communicate(timeout=20)
