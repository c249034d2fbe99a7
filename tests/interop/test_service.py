"""``proxymip run`` as a systemd service (tools/systemd/proxymip@.service).

- the unit passes ``systemd-analyze verify`` and keeps its sandbox
  (``systemd-analyze security --offline``), rendered with this environment's
  ``proxymip`` in ExecStart (verify checks that the binary exists);
- the service manager's protocol (sd_notify(3)) on a NOTIFY_SOCKET the test
  binds, as systemd does for ``Type=notify``: READY=1 only once the UDP
  sockets, NETCONF, SNMP and the control socket are bound, WATCHDOG=1 every
  WATCHDOG_USEC/2, STOPPING=1 after SIGTERM, in that order;
- SIGHUP (``systemctl reload``) makes the startup file running as one
  transaction: a valid change is live at once (a new host SA: the home agent
  accepts a registration it denied 131 before, RFC 5944 §3.8.3.1), an invalid
  file or a vetoed one is refused with a logged error and running unchanged.

No systemd runs as PID 1 here: what systemd would do is done by the test
(bind the notification socket, set the environment, send the signals).
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from agent.mobileip import replay
from agent.mobileip.builder import build_request
from agent.mobileip.numbers import ReplyCode
from agent.mobileip.registration import decode_reply
from agent.mobileip.security import SecurityAssociation
from agent.netconf.server import sha_crypt
from tests.conftest import ROOT, find_tool, require_tool

UNIT = ROOT / "tools" / "systemd" / "proxymip@.service"
INSTALLED_BINARY = "/opt/proxymip/bin/proxymip"
HA, NODE = "127.0.0.2", "127.0.0.5"
TIMEOUT = 20.0
FIRST_KEY = "00112233445566778899aabbccddeeff"
SECOND_KEY = "ffeeddccbbaa99887766554433221100"


def proxymip_binary() -> str:
    path = find_tool("proxymip")
    assert path is not None, "proxymip is not installed in this environment"
    return path


def unit_settings(text: str) -> dict[str, list[str]]:
    """Key -> values of a unit file (keys may repeat; comments skipped)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        key, _, value = line.partition("=")
        out.setdefault(key, []).append(value)
    return out


def render_unit(directory: Path, instance: str) -> Path:
    """The unit as installed (tools/systemd/proxymip@.service), with ExecStart
    pointing at this environment's proxymip instead of /opt/proxymip."""
    text = UNIT.read_text()
    assert INSTALLED_BINARY in text
    path = directory / f"proxymip@{instance}.service"
    path.write_text(text.replace(INSTALLED_BINARY, proxymip_binary()))
    return path


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    path = render_unit(tmp_path, "ha.json")
    done = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on a setting it cannot parse and only says so: a line
    # naming our unit is a failure too (other units' complaints are the host's).
    ours = [line for line in (done.stdout + done.stderr).splitlines() if "proxymip" in line]
    assert done.returncode == 0 and not ours, done.stdout + done.stderr


def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """The verify test above can fail: a misspelt setting is reported."""
    analyze = require_tool("systemd-analyze")
    path = render_unit(tmp_path, "ha.json")
    path.write_text(path.read_text().replace("Type=notify", "Type=notifyy"))
    done = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert any("proxymip" in line for line in done.stderr.splitlines())


def test_unit_sandbox(tmp_path: Path) -> None:
    """Capabilities limited to what the roles need; systemd's own exposure
    score of the sandbox stays "OK" (at most 4.0 of 10)."""
    analyze = require_tool("systemd-analyze")
    settings = unit_settings(UNIT.read_text())
    wanted = {"CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_NET_ADMIN"}
    assert set(settings["CapabilityBoundingSet"][0].split()) == wanted
    for key, value in (("Type", "notify"), ("NotifyAccess", "main"), ("NoNewPrivileges", "yes"),
                       ("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                       ("StateDirectory", "proxymip"), ("Restart", "on-failure")):
        assert settings[key] == [value], key
    assert settings["ExecReload"] == [f"{INSTALLED_BINARY} config validate %S/proxymip/%i",
                                      "/bin/kill -HUP $MAINPID"]
    assert set(settings["RestrictAddressFamilies"][0].split()) == {
        "AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"}
    assert settings["WatchdogSec"]
    path = render_unit(tmp_path, "ha.json")
    done = subprocess.run([analyze, "security", "--offline=yes", "--threshold=40", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr


# -- the service manager's protocol --------------------------------------------------


def ha_config(*, netconf: bool = True, snmp: bool = True,
              extra_host: dict[str, Any] | None = None) -> dict[str, Any]:
    hosts = [{"address": "192.0.2.1", "last-address": "192.0.2.100", "spi": 256, "key-hex": FIRST_KEY}]
    if extra_host is not None:
        hosts.append(extra_host)
    body: dict[str, Any] = {
        "home-agent": {"address": HA, "home-network": "192.0.2.0/24",
                       "listen": {"address": HA, "port": 0}},
        "security": {"host": hosts},
    }
    if netconf:
        body["netconf-server"] = {"listen": {"address": HA, "port": 0},
                                  "user": [{"name": "admin", "password": sha_crypt("admin", "$6$svc")}]}
    if snmp:
        body["snmp-agent"] = {"listen": {"address": HA, "port": 0},
                              "community": [{"index": "ro", "secret": "public"}]}
    return {"proxy-mobile-ip:mobile-ip": body}


class NotifySocket:
    """What systemd binds for a Type=notify service: a Unix datagram socket."""

    def __init__(self, directory: str, *, abstract: bool) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"proxymip-test-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(directory, "notify")
            self.sock.bind(self.address)

    def receive(self, timeout: float = TIMEOUT) -> tuple[float, dict[str, str]]:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise AssertionError("no notification in time")
        data = self.sock.recv(4096).decode()
        return time.monotonic(), dict(line.split("=", 1) for line in data.split("\n"))

    def receive_state(self, timeout: float = TIMEOUT) -> dict[str, str]:
        """The next notification that is not a watchdog keep-alive."""
        deadline = time.monotonic() + timeout
        while (message := self.receive(max(deadline - time.monotonic(), 0))[1]) == {"WATCHDOG": "1"}:
            pass
        return message

    def drain(self, window: float) -> list[dict[str, str]]:
        """Whatever arrives within ``window`` seconds."""
        out = []
        while select.select([self.sock], [], [], window)[0]:
            out.append(self.receive()[1])
        return out

    def close(self) -> None:
        self.sock.close()


class ServiceProcess:
    """``proxymip -v run`` started as systemd starts the unit's ExecStart."""

    def __init__(self, directory: Path, config: dict[str, Any], notify: NotifySocket, *,
                 watchdog_usec: int | None = None, extra: tuple[str, ...] = ()) -> None:
        self.startup = directory / "ha.json"
        self.startup.write_text(json.dumps(config))
        self.startup.chmod(0o600)  # it holds keys: `run` refuses it readable by others
        self.control = str(directory / "control.sock")
        self.log = directory / "stderr.log"
        env = dict(os.environ, NOTIFY_SOCKET=notify.address)
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        with open(self.log, "wb") as stderr:
            self.proc = subprocess.Popen(
                [proxymip_binary(), "-v", "run", "--startup", str(self.startup),
                 "--control-socket", self.control, *extra],
                cwd=directory, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)

    def endpoints(self) -> dict[str, tuple[str, int]]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("ready "), line
        return {name: (v.rsplit(":", 1)[0], int(v.rsplit(":", 1)[1]))
                for name, v in json.loads(line[6:]).items()}

    def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.connect(self.control)
            sock.sendall(json.dumps(payload).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                assert chunk, "control channel closed"
                data += chunk
        answer: dict[str, Any] = json.loads(data)
        return answer

    def stderr(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def short_dir() -> Iterator[str]:
    """Unix socket paths are limited to 107 bytes: a short directory."""
    with tempfile.TemporaryDirectory(prefix="pmip-svc-") as directory:
        yield directory


def udp_port_is_bound(address: str, port: int) -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((address, port))
    except OSError:
        return True
    finally:
        probe.close()
    return False


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_ready_watchdog_stopping_in_order(short_dir: str, abstract: bool) -> None:
    notify = NotifySocket(short_dir, abstract=abstract)
    agent = ServiceProcess(Path(short_dir), ha_config(), notify, watchdog_usec=300_000)
    try:
        _, first = notify.receive()
        # READY=1 first, and only once everything is bound: check each front
        # end now, before reading anything else from the agent.
        assert first["READY"] == "1", first
        status = dict(item.split("=", 1) for item in first["STATUS"].removeprefix("serving ").split())
        assert set(status) == {"home-agent", "netconf", "snmp"}
        host, port = status["home-agent"].rsplit(":", 1)
        assert udp_port_is_bound(host, int(port))
        host, port = status["snmp"].rsplit(":", 1)
        assert udp_port_is_bound(host, int(port))
        host, port = status["netconf"].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as ssh:
            assert ssh.recv(64).startswith(b"SSH-2.0-")  # RFC 4253 §4.2
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as control:
            control.connect(agent.control)
        # The ready line says the same as STATUS.
        endpoints = agent.endpoints()
        assert {k: f"{h}:{p}" for k, (h, p) in endpoints.items()} == status
        # Keep-alives every WATCHDOG_USEC / 2 = 0.15 s (sd_watchdog_enabled(3)).
        times = []
        for _ in range(4):
            when, message = notify.receive()
            assert message == {"WATCHDOG": "1"}, message
            times.append(when)
        assert all(b - a < 1.0 for a, b in zip(times, times[1:]))
        agent.proc.send_signal(signal.SIGTERM)
        while True:
            _, message = notify.receive()
            if message != {"WATCHDOG": "1"}:
                break
        assert message == {"STOPPING": "1"}, message
        assert agent.proc.wait(TIMEOUT) == 0
        # Nothing after STOPPING (the keep-alive is cancelled with the loop).
        assert not select.select([notify.sock], [], [], 0.5)[0]
    finally:
        agent.kill()
        notify.close()


def test_no_watchdog_without_watchdog_usec(short_dir: str) -> None:
    """Without WATCHDOG_USEC (no WatchdogSec=) only READY and STOPPING come."""
    notify = NotifySocket(short_dir, abstract=False)
    agent = ServiceProcess(Path(short_dir), ha_config(netconf=False, snmp=False), notify)
    try:
        assert notify.receive()[1]["READY"] == "1"
        agent.endpoints()
        assert not select.select([notify.sock], [], [], 1.0)[0]
        agent.proc.send_signal(signal.SIGTERM)
        assert notify.receive()[1] == {"STOPPING": "1"}
        assert agent.proc.wait(TIMEOUT) == 0
    finally:
        agent.kill()
        notify.close()


# -- SIGHUP: reload the startup file -----------------------------------------------


class Node:
    """A mobile node registering from a co-located care-of address straight
    with the home agent (RFC 5944 §3.6: no foreign agent)."""

    def __init__(self, ha_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((NODE, 0))
        self.sock.settimeout(TIMEOUT)
        self.ha = (HA, ha_port)

    def register(self, home: str, key: str, spi: int) -> int:
        ident = replay.ntp_identification(time.time(), 7)
        data = build_request(home_address=IPv4Address(home), home_agent=IPv4Address(HA),
                             care_of_address=IPv4Address(NODE), identification=ident,
                             lifetime=300, sa=SecurityAssociation(spi, bytes.fromhex(key)))
        self.sock.sendto(data, self.ha)
        return int(decode_reply(self.sock.recv(2048)).code)

    def close(self) -> None:
        self.sock.close()


NEW_HOST = {"address": "192.0.2.101", "last-address": "192.0.2.200", "spi": 257, "key-hex": SECOND_KEY}


@pytest.fixture
def reloadable(short_dir: str) -> Iterator[tuple[ServiceProcess, NotifySocket, Node]]:
    notify = NotifySocket(short_dir, abstract=False)
    agent = ServiceProcess(Path(short_dir), ha_config(netconf=False, snmp=False), notify)
    node = None
    try:
        assert notify.receive()[1]["READY"] == "1"
        node = Node(agent.endpoints()["home-agent"][1])
        yield agent, notify, node
    finally:
        if node is not None:
            node.close()
        agent.kill()
        notify.close()


def reload(agent: ServiceProcess, notify: NotifySocket) -> None:
    """SIGHUP; systemd's reload protocol: RELOADING=1, then READY=1 when done."""
    agent.proc.send_signal(signal.SIGHUP)
    assert notify.receive()[1] == {"RELOADING": "1"}
    assert notify.receive()[1] == {"READY": "1"}


def test_sighup_applies_a_changed_startup_file_live(
        reloadable: tuple[ServiceProcess, NotifySocket, Node]) -> None:
    agent, notify, node = reloadable
    assert node.register("192.0.2.150", SECOND_KEY, 257) == ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION
    agent.startup.write_text(json.dumps(ha_config(netconf=False, snmp=False, extra_host=NEW_HOST)))
    reload(agent, notify)
    assert node.register("192.0.2.150", SECOND_KEY, 257) == ReplyCode.ACCEPTED
    hosts = agent.request({"op": "get-config", "source": "running"})["data"][
        "proxy-mobile-ip:mobile-ip"]["security"]["host"]
    assert [h["address"] for h in hosts] == ["192.0.2.1", "192.0.2.101"]
    startup = agent.request({"op": "get-config", "source": "startup"})["data"]
    assert len(startup["proxy-mobile-ip:mobile-ip"]["security"]["host"]) == 2
    assert "startup file reloaded into running" in agent.stderr()


@pytest.mark.parametrize("change", ["invalid-key", "not-json", "overlapping-range"])
def test_sighup_refuses_a_bad_startup_file_and_running_stays(
        reloadable: tuple[ServiceProcess, NotifySocket, Node], change: str) -> None:
    """YANG-invalid (a key that is not hex: the error must not quote it), not
    JSON at all, or valid YANG that the live SA table vetoes (two ranges
    covering one address): refused, logged, running and the engine unchanged."""
    agent, notify, node = reloadable
    before = agent.request({"op": "get-config", "source": "running"})
    secret = "zz" + SECOND_KEY[2:]
    if change == "invalid-key":
        text = json.dumps(ha_config(netconf=False, snmp=False, extra_host=NEW_HOST | {"key-hex": secret}))
    elif change == "not-json":
        text = '{"proxy-mobile-ip:mobile-ip": {'
    else:
        text = json.dumps(ha_config(netconf=False, snmp=False,
                                    extra_host=NEW_HOST | {"address": "192.0.2.50"}))
    agent.startup.write_text(text)
    reload(agent, notify)
    assert agent.request({"op": "get-config", "source": "running"}) == before
    assert node.register("192.0.2.150", SECOND_KEY, 257) == ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION
    assert node.register("192.0.2.50", FIRST_KEY, 256) == ReplyCode.ACCEPTED
    log = agent.stderr()
    assert "reload of the startup file refused, running unchanged" in log
    assert secret[2:] not in log
    # Still serving and still answering signals.
    agent.proc.send_signal(signal.SIGTERM)
    assert notify.receive()[1] == {"STOPPING": "1"}
    assert agent.proc.wait(TIMEOUT) == 0


def test_sighup_keeps_the_command_line_overrides(short_dir: str) -> None:
    """``--ha-listen`` is a running-only change: a reload re-applies it on top
    of the file (in the same transaction), so the home agent stays where the
    command line put it."""
    notify = NotifySocket(short_dir, abstract=False)
    agent = ServiceProcess(Path(short_dir), ha_config(netconf=False, snmp=False), notify,
                           extra=("--ha-listen", "127.0.0.3:0"))
    node = None
    try:
        assert notify.receive()[1]["READY"] == "1"
        host, port = agent.endpoints()["home-agent"]
        assert host == "127.0.0.3"
        node = Node(port)
        node.ha = (host, port)
        agent.startup.write_text(json.dumps(ha_config(netconf=False, snmp=False, extra_host=NEW_HOST)))
        reload(agent, notify)
        assert node.register("192.0.2.150", SECOND_KEY, 257) == ReplyCode.ACCEPTED
        listen = agent.request({"op": "get-config", "source": "running"})["data"][
            "proxy-mobile-ip:mobile-ip"]["home-agent"]["listen"]
        assert listen["address"] == "127.0.0.3"
        startup = json.loads(agent.startup.read_text())
        assert startup["proxy-mobile-ip:mobile-ip"]["home-agent"]["listen"]["address"] == HA
    finally:
        if node is not None:
            node.close()
        agent.kill()
        notify.close()


# -- the operator guide's "Install as a service", as systemd would run it ---------------

GUIDE = ROOT / "docs" / "operator-guide.md"


def guide_service_lines() -> list[str]:
    text = GUIDE.read_text()
    section = text.split("## Install as a service\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, flags=re.DOTALL | re.MULTILINE)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def guide_file(name: str) -> dict[str, Any]:
    text = GUIDE.read_text()
    match = re.search(rf"[Ss]ave as\s+`{re.escape(name)}`:\s*\n+```json\n(.*?)^```", text,
                      flags=re.DOTALL | re.MULTILINE)
    assert match, name
    document: dict[str, Any] = json.loads(match.group(1))
    return document


def ephemeral(document: Any) -> Any:
    """Every listening port 0: the test binds no fixed port."""
    if isinstance(document, dict):
        return {k: ({**v, "port": 0} if k == "listen" and isinstance(v, dict) else ephemeral(v))
                for k, v in document.items()}
    if isinstance(document, list):
        return [ephemeral(v) for v in document]
    return document


def test_guide_service_section_runs_as_systemd_would(short_dir: str) -> None:
    """The unit's ExecStart, Environment=, UMask=, directories, watchdog and
    ExecReload, expanded as systemd expands them (%S /var/lib, %t /run, %i the
    instance) under a scratch root, run with the guide's ha.json installed where
    the guide installs it; then the guide's `proxymip state` and `systemctl
    reload` (the unit's ExecReload), and systemd's stop (SIGTERM)."""
    lines = guide_service_lines()
    assert "install -m 0644 tools/systemd/proxymip@.service /etc/systemd/system/" in lines
    enable = next(line for line in lines if line.startswith("systemctl enable --now proxymip@"))
    instance = enable.rsplit("proxymip@", 1)[1]
    assert f"install -m 0600 {instance} /var/lib/proxymip/{instance}" in lines
    assert f"systemctl reload proxymip@{instance}" in lines
    assert f"journalctl -u proxymip@{instance} -f" in lines
    assert any(line.startswith("python3 -m venv /opt/proxymip ") for line in lines)
    settings = unit_settings(UNIT.read_text())
    root = Path(short_dir)
    state_root, runtime_root = root / "lib", root / "run"

    def expand(text: str) -> str:
        return (text.replace("%S", str(state_root)).replace("%t", str(runtime_root))
                .replace("%i", instance).replace(INSTALLED_BINARY, proxymip_binary()))

    # What systemd does before ExecStart: the directories with their modes.
    state = state_root / settings["StateDirectory"][0]
    state.mkdir(parents=True, mode=int(settings["StateDirectoryMode"][0], 8))
    runtime = runtime_root / expand(settings["RuntimeDirectory"][0])
    runtime.mkdir(parents=True, mode=int(settings["RuntimeDirectoryMode"][0], 8))
    startup = state / instance
    startup.write_text(json.dumps(ephemeral(guide_file(instance))))
    startup.chmod(0o600)  # it holds keys: `run` refuses it readable by others
    notify = NotifySocket(short_dir, abstract=False)
    env = dict(os.environ, NOTIFY_SOCKET=notify.address,
               WATCHDOG_USEC=str(int(settings["WatchdogSec"][0].removesuffix("s")) * 1_000_000),
               STATE_DIRECTORY=str(state), RUNTIME_DIRECTORY=str(runtime))
    for assignment in settings.get("Environment", []):
        name, _, value = expand(assignment).partition("=")
        env[name] = value
    argv = shlex.split(expand(settings["ExecStart"][0]))
    proc = subprocess.Popen(argv, cwd="/", env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            umask=int(settings["UMask"][0], 8))
    try:
        assert notify.receive()[1]["READY"] == "1"
        # The SSH host key was made in the state directory, private.
        host_key = state / "ssh_host_ed25519_key"
        assert host_key.exists() and host_key.stat().st_mode & 0o077 == 0
        # The guide's `proxymip state --socket /run/proxymip/<instance>/control.sock`.
        state_line = next(line for line in lines if line.startswith("proxymip state "))
        state_argv = shlex.split(state_line.replace("/run/", f"{runtime_root}/"))
        done = subprocess.run([proxymip_binary(), *state_argv[1:]], capture_output=True,
                              text=True, timeout=TIMEOUT)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["home-agent"]["binding-count"] == 0
        # `systemctl reload` = the unit's ExecReload lines in order, each
        # one's failure failing the reload. An invalid file first: the
        # validation fails, saying why, and no SIGHUP is sent.
        def systemctl_reload() -> subprocess.CompletedProcess[str]:
            for line in settings["ExecReload"]:
                argv = shlex.split(expand(line).replace("$MAINPID", str(proc.pid)))
                done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
                if done.returncode != 0:
                    return done
            return done

        broken = guide_file(instance)
        broken["proxy-mobile-ip:mobile-ip"]["home-agent"]["max-bindings"] = "many"
        startup.write_text(json.dumps(ephemeral(broken)))
        failed = systemctl_reload()
        assert failed.returncode != 0 and "max-bindings" in failed.stderr, failed
        assert {"RELOADING": "1"} not in notify.drain(0.5)
        # Then the edit the guide means: `systemctl reload` applies it.
        changed = guide_file(instance)
        changed["proxy-mobile-ip:mobile-ip"]["home-agent"]["max-bindings"] = 77
        startup.write_text(json.dumps(ephemeral(changed)))
        assert systemctl_reload().returncode == 0
        assert notify.receive_state() == {"RELOADING": "1"}
        assert notify.receive_state() == {"READY": "1"}
        control = state_argv[state_argv.index("--socket") + 1]
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.connect(control)
            sock.sendall(b'{"op": "get-config", "source": "running"}\n')
            answer = json.loads(sock.makefile().readline())
        assert answer["data"]["proxy-mobile-ip:mobile-ip"]["home-agent"]["max-bindings"] == 77
        # `systemctl stop`: SIGTERM (KillSignal's default).
        proc.send_signal(signal.SIGTERM)
        assert notify.receive_state() == {"STOPPING": "1"}
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=TIMEOUT)
        notify.close()
    assert "refused" not in err and "Traceback" not in err
    assert "5a:5a:01:02" not in err


# -- the unit's sandbox against what the agent really does -----------------------------


def syscall_group(analyze: str, group: str, seen: set[str] | None = None) -> set[str]:
    """The system calls of a seccomp group (``systemd-analyze syscall-filter``),
    nested groups expanded."""
    seen = set() if seen is None else seen
    seen.add(group)
    listing = subprocess.run([analyze, "syscall-filter", group], capture_output=True,
                             text=True, timeout=60, check=True).stdout
    calls: set[str] = set()
    for line in listing.splitlines()[1:]:
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if name.startswith("@"):
            if name not in seen:
                calls |= syscall_group(analyze, name, seen)
        else:
            calls.add(name)
    return calls


def test_unit_sandbox_admits_what_the_agent_does(short_dir: str) -> None:
    """No systemd as PID 1 here to apply the unit, so its limits are checked
    against the agent itself: run under the unit's capability bounding set
    and no_new_privs (setpriv(1), as systemd sets them for root), traced
    (strace(1)) from exec through READY=1, a registration, a NETCONF
    connection, an SNMP request, a reload and the stop, every system call it
    makes must be in the unit's SystemCallFilter= and every socket family in
    its RestrictAddressFamilies=."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the sandbox test needs root (setpriv --bounding-set)")
        pytest.skip("the sandbox test needs root (setpriv --bounding-set)")
    analyze = require_tool("systemd-analyze")
    strace = require_tool("strace")
    setpriv = require_tool("setpriv")
    settings = unit_settings(UNIT.read_text())
    allowed_calls: set[str] = set()
    for group in settings["SystemCallFilter"][0].split():
        allowed_calls |= syscall_group(analyze, group) if group.startswith("@") else {group}
    allowed_families = set(settings["RestrictAddressFamilies"][0].split())
    bounding = ",".join(["-all"] + ["+" + cap.removeprefix("CAP_").lower()
                                    for cap in settings["CapabilityBoundingSet"][0].split()])
    directory = Path(short_dir)
    startup = directory / "ha.json"
    startup.write_text(json.dumps(ha_config()))
    startup.chmod(0o600)  # it holds keys: `run` refuses it readable by others
    trace = directory / "trace"
    notify = NotifySocket(short_dir, abstract=False)
    env = dict(os.environ, NOTIFY_SOCKET=notify.address, WATCHDOG_USEC="200000")
    proc = subprocess.Popen(
        [strace, "-f", "-qq", "-o", str(trace), setpriv, "--nnp", f"--bounding-set={bounding}",
         "--inh-caps=-all", proxymip_binary(), "run", "--startup", str(startup),
         "--control-socket", str(directory / "control.sock")],
        cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    node = None
    try:
        status = notify.receive(60)[1]
        assert status["READY"] == "1", status
        ports = {name: int(value.rsplit(":", 1)[1]) for name, value in
                 (item.split("=", 1) for item in status["STATUS"].removeprefix("serving ").split())}
        # strace's child, which setpriv became by exec: the agent.
        agent_pid = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        node = Node(ports["home-agent"])
        assert node.register("192.0.2.10", FIRST_KEY, 256) == ReplyCode.ACCEPTED
        with socket.create_connection((HA, ports["netconf"]), timeout=TIMEOUT) as ssh:
            assert ssh.recv(64).startswith(b"SSH-2.0-")
        snmpget = require_tool("snmpget")
        done = subprocess.run([snmpget, "-v2c", "-c", "public", "-t", "5", "-r", "1",
                               f"{HA}:{ports['snmp']}", "1.3.6.1.2.1.1.5.0"],
                              capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0, done.stderr
        os.kill(agent_pid, signal.SIGHUP)
        assert notify.receive_state() == {"RELOADING": "1"}
        assert notify.receive_state() == {"READY": "1"}
        os.kill(agent_pid, signal.SIGTERM)
        assert notify.receive_state() == {"STOPPING": "1"}
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]
    finally:
        if node is not None:
            node.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=TIMEOUT)
        notify.close()
    text = trace.read_text()
    # The agent's calls, from its exec on (setpriv's own come before).
    agent_part = text[text.index(f'execve("{proxymip_binary()}"'):]
    calls = set(re.findall(r"^\d+\s+([a-z_0-9]+)\(", agent_part, flags=re.MULTILINE))
    assert calls, agent_part[:2000]
    assert calls - allowed_calls == set()
    families = set(re.findall(r"^\d+\s+socket\((AF_[A-Z0-9]+)", agent_part, flags=re.MULTILINE))
    assert {"AF_INET", "AF_UNIX"} <= families
    assert families - allowed_families == set()


def test_a_busy_loop_sends_no_keep_alive(short_dir: str) -> None:
    """A real stall, no debug hook: the reload of a file of 30,000 host SAs
    holds the event loop for a while (it runs in the SIGHUP callback). The
    keep-alive is due every 10 ms, yet none arrives between RELOADING=1 and
    READY=1, which the same callback sends: the keep-alive comes from the
    loop, so a loop stuck for WatchdogSec= gets the agent restarted."""
    notify = NotifySocket(short_dir, abstract=False)
    agent = ServiceProcess(Path(short_dir), ha_config(netconf=False, snmp=False), notify,
                           watchdog_usec=20_000)
    try:
        assert notify.receive()[1]["READY"] == "1"
        agent.endpoints()
        big = ha_config(netconf=False, snmp=False)
        big["proxy-mobile-ip:mobile-ip"]["home-agent"]["home-network"] = "10.0.0.0/8"
        big["proxy-mobile-ip:mobile-ip"]["security"]["host"] = [
            {"address": str(IPv4Address("10.0.0.1") + i), "spi": 256, "key-hex": FIRST_KEY}
            for i in range(30_000)]
        agent.startup.write_text(json.dumps(big))
        agent.proc.send_signal(signal.SIGHUP)
        reloading_at, message = notify.receive()
        while message == {"WATCHDOG": "1"}:
            reloading_at, message = notify.receive()
        assert message == {"RELOADING": "1"}
        ready_at, message = notify.receive(60)
        assert message == {"READY": "1"}, message  # no WATCHDOG=1 in between
        assert ready_at - reloading_at > 0.05  # five keep-alives were due meanwhile
        hosts = agent.request({"op": "get-config", "source": "running"})["data"][
            "proxy-mobile-ip:mobile-ip"]["security"]["host"]
        assert len(hosts) == 30_000
        assert notify.receive()[1] == {"WATCHDOG": "1"}  # the loop is free again
        agent.proc.send_signal(signal.SIGTERM)
        assert notify.receive_state() == {"STOPPING": "1"}
    finally:
        agent.kill()
        notify.close()
