"""No secret ever leaves the operator CLI (issue 13, follow-up).

A home agent runs as ``proxymip run`` would run it, with every kind of secret
the module has: a mobility SA key, SNMP communities (request and trap), an
SNMPv3 user's passphrases, a RADIUS shared secret and User-Password, a
NETCONF password hash. Then every operator command (each ``show`` view as
text and as JSON, ``config diff`` against running and offline, with secrets
changed, added and broken, ``watch``, ``events`` while a forged registration
is denied, ``state``) is run as an operator runs it, a separate process, and
no secret value may appear in any output, nor in the agent's own log. The
secret leaves are those the YANG module marks ``nacm:default-deny-all`` (RFC
8341 §3.5.2); ``admin`` reads them over NETCONF all the same (the built-in
policy's group 'admin' has a rule permitting everything, and an explicit rule
overrides the mark, RFC 8341 §3.4.5), so the CLI alone must keep them from
the screen.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from agent.lab import NETCONF_USER
from agent.mobileip import replay
from agent.mobileip.builder import build_request
from agent.mobileip.security import SecurityAssociation
from agent.operator.views import VIEWS
from tests.conftest import ROOT

STEP_TIMEOUT = 30.0
HASH = ("$6$proxymiplab$cblwKq/Nxy5gmpPq//UoeyqHaaQIpsG5ycjTIx/LXEa6lABpuUQJml4EMv9pR0OExHYkl00"
        "AyNj8Fineyf.2g.")
MN_KEY = "5a:5a:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e"


def startup() -> dict[str, Any]:
    return {"proxy-mobile-ip:mobile-ip": {
        "home-agent": {"address": "127.0.0.2", "home-network": "192.0.2.0/24",
                       "listen": {"address": "127.0.0.2", "port": 0}},
        "security": {"host": [{"address": "192.0.2.1", "last-address": "192.0.2.254",
                               "spi": 256, "key-hex": MN_KEY}]},
        "snmp-agent": {
            "listen": {"address": "127.0.0.2", "port": 0},
            "community": [{"index": "ro", "secret": "CommunitySecret-s1"}],
            "user": [{"name": "ops", "auth-protocol": "sha", "auth-passphrase": "AuthPassphrase-s2",
                      "priv-protocol": "aes-128", "priv-passphrase": "PrivPassphrase-s3"}],
            "notification-receiver": [{"name": "nms", "address": "127.0.0.9",
                                       "trap-community": "TrapCommunity-s4"}]},
        "radius": {"server": [{"address": "127.0.0.9", "shared-secret": "SharedSecret-s5"}],
                   "user-password": "UserPassword-s6"},
        "netconf-server": {"listen": {"address": "127.0.0.2", "port": 0},
                           "user": [{"name": NETCONF_USER[0], "password": HASH}]},
    }}


#: Every secret value the files below hold (running's, and the changed ones).
SECRETS = ("CommunitySecret-s1", "AuthPassphrase-s2", "PrivPassphrase-s3", "TrapCommunity-s4",
           "SharedSecret-s5", "UserPassword-s6", MN_KEY, MN_KEY.replace(":", ""), "$6$proxymiplab$",
           "NewCommunity-n1", "NewAuthPass-n2", "NewPrivPass-n3", "NewTrap-n4", "NewShared-n5",
           "NewUserPass-n6", "AddedCommunity-a1", "AddedAuthPass-a2", "AddedPrivPass-a3",
           "AddedTrap-a4", "AddedShared-a5", "Short-7", "x" * 65)


def changed() -> dict[str, Any]:
    """Every secret of running given a new value."""
    document = startup()
    top = document["proxy-mobile-ip:mobile-ip"]
    snmp = top["snmp-agent"]
    snmp["community"][0]["secret"] = "NewCommunity-n1"
    snmp["user"][0].update({"auth-passphrase": "NewAuthPass-n2",
                            "priv-passphrase": "NewPrivPass-n3"})
    snmp["notification-receiver"][0]["trap-community"] = "NewTrap-n4"
    top["radius"]["server"][0]["shared-secret"] = "NewShared-n5"
    top["radius"]["user-password"] = "NewUserPass-n6"
    top["security"]["host"][0]["key-hex"] = "11:" * 15 + "11"
    top["netconf-server"]["user"][0]["password"] = "$6$other$" + "a" * 86
    return document


def added() -> dict[str, Any]:
    """New entries (whole list entries holding secrets) and leaves removed."""
    document = startup()
    top = document["proxy-mobile-ip:mobile-ip"]
    snmp = top["snmp-agent"]
    snmp["community"].append({"index": "rw", "secret": "AddedCommunity-a1", "access": "read-write"})
    snmp["user"].append({"name": "ops2", "auth-protocol": "sha-256",
                         "auth-passphrase": "AddedAuthPass-a2",
                         "priv-protocol": "aes-256", "priv-passphrase": "AddedPrivPass-a3"})
    snmp["notification-receiver"].append({"name": "nms2", "address": "127.0.0.10",
                                          "trap-community": "AddedTrap-a4"})
    top["radius"]["server"].append({"address": "127.0.0.10", "shared-secret": "AddedShared-a5"})
    del top["radius"]["user-password"]
    return document


def broken(value: str, leaf: str) -> dict[str, Any]:
    """A secret leaf with a value libyang refuses (its message quotes values)."""
    document = startup()
    snmp = document["proxy-mobile-ip:mobile-ip"]["snmp-agent"]
    if leaf == "auth-passphrase":
        snmp["user"][0]["auth-passphrase"] = value
    else:
        snmp["community"][0]["secret"] = value
    return document


@dataclass
class Agent:
    process: subprocess.Popen[str]
    cwd: Path
    env: dict[str, str]
    home_agent: tuple[str, int]
    outputs: list[str] = field(default_factory=list)

    def run(self, *argv: str, timeout: float = STEP_TIMEOUT) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "agent.cli", *argv], cwd=self.cwd,
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        assert "Traceback" not in done.stderr, (argv, done.stderr)
        self.outputs += [" ".join(argv), done.stdout, done.stderr]
        return done


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, indent=1))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    cwd = tmp_path_factory.mktemp("secrets")
    write(cwd / "running.json", startup())
    write(cwd / "changed.json", changed())
    write(cwd / "added.json", added())
    write(cwd / "short.json", broken("Short-7", "auth-passphrase"))
    write(cwd / "long.json", broken("x" * 65, "secret"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXYMIP_")}
    env.update(PYTHONPATH=str(ROOT), PROXYMIP_PASSWORD=NETCONF_USER[1],
               PROXYMIP_USER=NETCONF_USER[0], PROXYMIP_HOST_KEY_CHECK="no")
    process = subprocess.Popen([sys.executable, "-m", "agent.cli", "run",
                                "--startup", "running.json", "--control-socket", "agent.sock"],
                               cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], STEP_TIMEOUT)
        assert ready, "the agent did not start"
        line = process.stdout.readline()
        assert line.startswith("ready {"), line
        ready_at = json.loads(line[len("ready "):])
        host, port = ready_at["netconf"].rsplit(":", 1)
        env.update(PROXYMIP_HOST=host, PROXYMIP_PORT=port)
        ha_host, ha_port = ready_at["home-agent"].rsplit(":", 1)
        yield Agent(process, cwd, env, (ha_host, int(ha_port)))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=STEP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_no_command_prints_a_secret(agent: Agent) -> None:
    for view in VIEWS:
        agent.run("show", view)
        agent.run("show", view, "--json")
    diffs = {
        "changed.json": r"(secret|passphrase|trap-community|user-password|key-hex|password)"
                        r": <redacted> -> <redacted>",
        "added.json": r"snmp-agent/user\[name='ops2'\]",
    }
    for name, shown in diffs.items():
        for extra in ((), ("--json",)):
            done = agent.run("config", "diff", name, *extra)
            assert done.returncode == 0, done.stderr
            if not extra:
                assert re.search(shown, done.stdout), done.stdout
            done = agent.run("config", "diff", name, "--running", "running.json", *extra)
            assert done.returncode == 0, done.stderr
    changes = json.loads(agent.run("config", "diff", "changed.json", "--json").stdout)["changes"]
    # Running as read over NETCONF holds the secrets (admin is a recovery
    # user), so each change is seen, and each value is redacted.
    assert {c["path"].rsplit("/", 1)[-1] for c in changes} >= {
        "secret", "auth-passphrase", "priv-passphrase", "trap-community", "shared-secret",
        "user-password", "key-hex", "password"}
    assert {c["old"] for c in changes} == {"<redacted>"}
    for name in ("short.json", "long.json"):
        done = agent.run("config", "diff", name, "--running", "running.json")
        assert done.returncode == 2 and "<redacted>" in done.stderr, done.stderr
    agent.run("watch", "--count", "1", "--interval", "0.1")
    agent.run("state", "--socket", "agent.sock")
    _events_during_a_denial(agent)
    everything = "\n".join(agent.outputs)
    assert len(agent.outputs) >= 3 * (2 * len(VIEWS) + 10)
    assert not leaked(everything), leaked(everything)


def test_the_agent_logs_no_secret(agent: Agent) -> None:
    """The agent's own log, after the commands above and a stop, holds none."""
    agent.process.send_signal(signal.SIGTERM)
    out, err = agent.process.communicate(timeout=STEP_TIMEOUT)
    assert not leaked(out + err), leaked(out + err)


def _events_during_a_denial(agent: Agent) -> None:
    """``proxymip events`` while the home agent denies a registration signed
    with a wrong key (RFC 5944 §3.8.2.1: 131): a notification is printed."""
    process = subprocess.Popen([sys.executable, "-m", "agent.cli", "events", "--count", "1"],
                               cwd=agent.cwd, env=agent.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], STEP_TIMEOUT)
        assert ready and "listening for" in process.stderr.readline()
        wrong = SecurityAssociation(spi=256, key=bytes(16))
        data = build_request(home_address=IPv4Address("192.0.2.7"),
                             home_agent=IPv4Address("127.0.0.2"),
                             care_of_address=IPv4Address("127.0.0.1"),
                             identification=replay.ntp_identification(time.time(), 1),
                             lifetime=600, sa=wrong)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mobile_node:
            mobile_node.bind(("127.0.0.1", 0))
            mobile_node.sendto(data, agent.home_agent)
        out, err = process.communicate(timeout=STEP_TIMEOUT)
        agent.outputs += ["events", out, err]
        assert process.returncode == 0 and len(out.splitlines()) == 1, (out, err)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_config_validate_prints_no_secret(agent: Agent) -> None:
    done = agent.run("config", "validate", "long.json")
    assert done.returncode == 2
    assert not leaked(done.stderr + done.stdout), done.stderr
