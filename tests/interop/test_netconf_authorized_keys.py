"""A netconf-server user's ``authorized-key`` that asyncssh cannot read stops
``proxymip run`` with one ``proxymip:`` line naming the user, the data path and
the entry, exit status 2 (invalid configuration), no traceback; the server never
starts with a user silently missing a key (before, a bad entry beside a good
one was dropped without a word: asyncssh skips lines it cannot read)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.netconf.server import load_authorized_keys
from agent.netconf.settings import NetconfUser
from agent.netconf.ssh_library import asyncssh
from agent.schema.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
BAD_KEY = "ssh-ed25519 AAAAnotakey alice@laptop"


def _good_key() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


def _run(tmp_path: Path, users: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    startup = tmp_path / "startup.json"
    startup.write_text(json.dumps({"proxy-mobile-ip:mobile-ip": {"netconf-server": {
        "listen": {"address": "127.0.0.1", "port": 0},
        "host-key-file": str(tmp_path / "ssh_host_ed25519_key"),
        "user": users}}}))
    return subprocess.run([sys.executable, "-W", "ignore", "-m", "agent.cli", "run",
                           "--startup", str(startup)],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)


def test_proxymip_run_refuses_a_bad_authorized_key_in_one_line(tmp_path: Path) -> None:
    result = _run(tmp_path, [
        {"name": "bob", "authorized-key": [_good_key()]},
        {"name": "alice", "authorized-key": [_good_key(), BAD_KEY]},
    ])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("proxymip: invalid configuration: "
                               "/proxy-mobile-ip:mobile-ip/netconf-server/user[name='alice']"
                               "/authorized-key: ")
    assert "netconf user 'alice': authorized key 2 " in lines[0]


def test_a_bad_key_is_a_config_error_naming_the_entry() -> None:
    user = NetconfUser("o'brien", authorized_keys=(_good_key(), BAD_KEY))
    with pytest.raises(ConfigError) as caught:
        load_authorized_keys(user)
    # A name with a quote is quoted with the other quote (RFC 7950 §9.13 predicates).
    assert caught.value.path == ('/proxy-mobile-ip:mobile-ip/netconf-server/user[name="o\'brien"]'
                                 '/authorized-key')
    assert caught.value.detail.startswith("netconf user \"o'brien\": authorized key 2 ")


def test_good_keys_are_all_taken() -> None:
    keys = (_good_key(), _good_key())
    taken = load_authorized_keys(NetconfUser("carol", authorized_keys=keys))
    for key in keys:
        assert taken.validate(asyncssh.import_public_key(key), "localhost", "127.0.0.1") is not None
