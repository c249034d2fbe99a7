"""The operator guide, run (issue: operator tooling, item 6; issue 12: stderr).

A loopback lab (HA 127.0.0.2 and AP-A 127.0.0.4 serving NETCONF, FA-A
127.0.0.3, four clients registered through AP-A) runs on its own event loop
thread; every ``$ proxymip ...`` line of docs/operator-guide.md is then run as
the operator would run it — a separate process, in a directory holding the
files the guide says to save — with the guide's ``--agent ha`` / ``--agent ap``
resolved by a settings file (``PROXYMIP_CLI_CONFIG``) that points at the lab's
ports, and the password in ``PROXYMIP_PASSWORD``, as the guide documents.

Each example must exit 0, print what the guide shows first and nothing on
stderr (``events`` its one "listening for" line only). Long-running
examples are driven: ``proxymip run`` until its ``ready`` line (ports rewritten
to 0), ``proxymip events`` while the test makes a client come and go. No key
ever appears in any output. Then the error cases, at least one for each kind
of command the guide shows: exactly one line on stderr, starting
``proxymip:``, nothing on stdout, the documented non-zero status.
"""

from __future__ import annotations

import faulthandler
import json
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.lab import (
    MN_KEY,
    NETCONF_USER,
    PEER_KEY,
    LoopbackLab,
    client_address,
    client_mac,
    wait_for,
)
from tests.conftest import ROOT
from tests.interop.test_netconf_end_to_end import Background

GUIDE = ROOT / "docs" / "operator-guide.md"
HARD_TIMEOUT = 150.0
STEP_TIMEOUT = 30.0
CLIENTS = 4
#: Values no output may ever show: the lab's keys (both spellings), the
#: guide's new key, the password hash.
SECRETS = (MN_KEY, MN_KEY.replace(":", ""), PEER_KEY, PEER_KEY.replace(":", ""),
           "5a:5a:11:12:13", "$6$proxymiplab$")


@pytest.fixture(autouse=True)
def hard_timeout() -> Iterator[None]:
    faulthandler.dump_traceback_later(HARD_TIMEOUT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# -- the guide -------------------------------------------------------------------------------


@dataclass
class Example:
    command: str
    shown: list[str] = field(default_factory=list)

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command)[1:]


def guide_examples(text: str) -> list[Example]:
    """The ``$`` lines of every ```console block, with the output shown under each."""
    found: list[Example] = []
    for block in re.findall(r"^```console\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append(Example(line[2:].strip()))
            elif found and line.strip():
                found[-1].shown.append(line)
    return found


def guide_files(text: str) -> dict[str, str]:
    """The files the guide says to save: "Save as `name`:" then a json block."""
    return dict(re.findall(r"[Ss]ave as\s+`([\w.-]+)`:\s*\n+```json\n(.*?)^```", text,
                           flags=re.DOTALL | re.MULTILINE))


def ephemeral(document: Any) -> Any:
    """The document with every listening port 0: the test binds no fixed port."""
    if isinstance(document, dict):
        return {k: ({**v, "port": 0} if k == "listen" and isinstance(v, dict) else ephemeral(v))
                for k, v in document.items()}
    if isinstance(document, list):
        return [ephemeral(v) for v in document]
    return document


def first_words(line: str) -> str:
    """What of a shown output line must appear verbatim: up to the first value
    that varies (a digit, a JSON or tuple opening)."""
    return re.split(r"[0-9{\[(<]", line, maxsplit=1)[0].strip()


# -- the lab and the operator's shell ------------------------------------------------------------


@dataclass
class Shell:
    lab: LoopbackLab
    bg: Background
    cwd: Path
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)
    next_client: int = CLIENTS + 1  # the guide itself associates client CLIENTS

    def run(self, argv: list[str], *, env: dict[str, str] | None = None,
            timeout: float = STEP_TIMEOUT) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "agent.cli", *argv], cwd=self.cwd,
                              env=env or self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        self.outputs += [done.stdout, done.stderr]
        return done

    def start(self, argv: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "agent.cli", *argv], cwd=self.cwd,
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def wait_registered(self, mac: str, present: bool = True) -> None:
        async def settled() -> bool:
            visitors = (await self.lab.state("ap-a")).get("proxy", {}).get("visitor", [])
            here = any(v["mac"] == mac and v["state"] == "registered" for v in visitors)
            gone = all(v["mac"] != mac for v in visitors)
            return here if present else gone
        self.bg.run(wait_for(settled, timeout=STEP_TIMEOUT))

    def client_comes_and_goes(self) -> None:
        """A new client registers through AP-A, then leaves (deregisters)."""
        index = self.next_client
        self.next_client += 1
        self.bg.run(self.lab.associate("ap-a", index))
        self.wait_registered(client_mac(index))
        self.bg.run(self.lab.disassociate("ap-a", index))
        self.wait_registered(client_mac(index), present=False)


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    lab = LoopbackLab(clients=CLIENTS, netconf=True)
    with Background(lab) as bg:
        for index in range(CLIENTS):
            bg.run(lab.associate("ap-a", index))

        async def all_registered() -> bool:
            visitors = (await lab.state("ap-a"))["proxy"]["visitor"]
            return len(visitors) == CLIENTS and {v["state"] for v in visitors} == {"registered"}

        bg.run(wait_for(all_registered))
        cwd = tmp_path_factory.mktemp("operator")
        settings = cwd / "cli.toml"
        settings.write_text(
            'user = "admin"\nhost-key-check = false\n'
            f'[agent.ha]\nhost = "127.0.0.2"\nport = {lab.processes["ha"].netconf_port}\n'
            f'[agent.ap]\nhost = "127.0.0.4"\nport = {lab.processes["ap-a"].netconf_port}\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROXYMIP_")}
        env.update(PYTHONPATH=str(ROOT), PROXYMIP_CLI_CONFIG=str(settings),
                   PROXYMIP_PASSWORD=NETCONF_USER[1])
        yield Shell(lab, bg, cwd, env)


def read_line(stream: Any, timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, f"no line within {timeout} s"
    return str(stream.readline())


# -- every example of the guide --------------------------------------------------------------------


def test_the_guide_runs(shell: Shell) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    _write_guide_files(shell)
    assert {"ha.json", "fa.json", "ap.json", "ap-new.json"} <= set(guide_files(text))
    examples = guide_examples(text)
    assert len(examples) >= 20
    ran: set[str] = set()
    for example in examples:
        assert example.command.startswith("proxymip "), example.command
        argv = example.argv
        ran.add(" ".join(argv[:2]))
        if argv[0] == "run":
            _run_agent(shell, argv, example)
        elif argv[0] == "events":
            _events(shell, argv, example)
        elif argv[:2] == ["client", "associate"]:
            control = shell.lab.processes["ap-a"].control
            assert control is not None
            argv = [control if a == "ap.sock" else a for a in argv]
            done = shell.run(argv)
            assert done.returncode == 0, (example.command, done.stderr)
            assert done.stderr == "", (example.command, done.stderr)
            shell.wait_registered(argv[argv.index("--mac") + 1])
        else:
            done = shell.run(argv, timeout=120 if argv[0] == "lab" else STEP_TIMEOUT)
            assert done.returncode == 0, (example.command, done.stderr)
            assert done.stdout.strip(), example.command
            # Success says nothing on stderr (no warning, no log line).
            assert done.stderr == "", (example.command, done.stderr)
            if "--json" in argv:
                json.loads(done.stdout)
            _shows_what_the_guide_shows(example, done.stdout)
    # Every operator command is documented by at least one example.
    for command in ("show visitors", "show bindings", "show subnet-map",
                    "show security-associations", "show foreign-agents", "show tunnels",
                    "show traffic", "show radius", "clear visitor", "clear binding",
                    "clear counters", "clear subnet-map", "config diff", "config validate"):
        assert command in ran, command
    assert {"watch --agent", "events --agent", "run --startup", "lab --once"} <= ran
    _no_secret_in(shell.outputs)


def _write_guide_files(shell: Shell) -> None:
    """The files the guide says to save, in the operator's directory (port 0)."""
    for name, content in guide_files(GUIDE.read_text(encoding="utf-8")).items():
        (shell.cwd / name).write_text(json.dumps(ephemeral(json.loads(content)), indent=1))
        (shell.cwd / name).chmod(0o600)  # the guide: startup files hold keys


def _shows_what_the_guide_shows(example: Example, stdout: str) -> None:
    if example.shown and not example.shown[0].startswith("..."):
        expected = first_words(example.shown[0])
        if expected:
            assert expected in stdout, (example.command, expected, stdout)


def _run_agent(shell: Shell, argv: list[str], example: Example) -> None:
    """``proxymip run``: up (its ready line), then stopped as an operator would."""
    process = shell.start(argv)
    try:
        line = read_line(process.stdout, STEP_TIMEOUT)
        assert line.startswith("ready {"), (example.command, line, process.stderr)
        assert set(json.loads(line[len("ready "):])) == set(json.loads(example.shown[0][6:]))
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=STEP_TIMEOUT)
        shell.outputs += [line, out, err]
        assert process.returncode == 0, (example.command, err)
        assert err == "", (example.command, err)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _events(shell: Shell, argv: list[str], example: Example) -> None:
    """``proxymip events``: subscribed (its stderr says so), then a client
    comes and goes; it stops by itself (--count or --duration)."""
    process = shell.start(argv)
    try:
        announced = read_line(process.stderr, STEP_TIMEOUT)
        assert "listening for" in announced, (example.command, announced)
        shell.client_comes_and_goes()
        out, err = process.communicate(timeout=STEP_TIMEOUT)
        shell.outputs += [out, err]
        assert process.returncode == 0, (example.command, err)
        assert err == "", (example.command, err)  # after the one "listening for" line
        lines = out.splitlines()
        if "--count" in argv:
            assert len(lines) == int(argv[argv.index("--count") + 1]), (example.command, out)
        for line, shown in zip(lines, example.shown):
            if "--json" in argv:
                assert json.loads(line)["notification"] == json.loads(shown)["notification"]
            else:
                assert line.split()[1] == shown.split()[1], (line, shown)  # the notification
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _no_secret_in(outputs: list[str]) -> None:
    everything = "\n".join(outputs)
    for secret in SECRETS:
        assert secret not in everything, "a key or password hash was printed"


# -- the environment alone ----------------------------------------------------------------------


def test_environment_names_the_agent(shell: Shell) -> None:
    env = dict(shell.env, PROXYMIP_HOST="127.0.0.2",
               PROXYMIP_PORT=str(shell.lab.processes["ha"].netconf_port))
    done = shell.run(["show", "traffic"], env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("IP Mobility traffic:\nHome Agent Registrations:")


# -- errors: one line, a status, no traceback ----------------------------------------------------


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connections to it are refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


@pytest.mark.parametrize(("argv", "status", "message"), [
    (["show", "bindings", "--agent", "ha", "--password", "wrong"], 1,
     r"authentication failed for user 'admin'"),
    (["clear", "binding", "192.0.2.200", "--agent", "ha"], 1, r"no binding for 192\.0\.2\.200"),
    (["clear", "visitor", "192.0.2.200", "--agent", "ap"], 1,
     r"no visitor with home address 192\.0\.2\.200"),
    (["clear", "visitor", "02:00:00:00:0f:0f", "--agent", "ap"], 1, r"no visitor 02:00:00:00:0f:0f"),
    (["show", "bindings", "--agent", "ap"], 3, r"runs the proxy: bindings are kept by home agents"),
    (["show", "visitors", "--agent", "nowhere"], 2, r"no agent 'nowhere'"),
    (["config", "diff", "missing.json", "--running", "ap.json"], 2, r"missing\.json: cannot read"),
    (["config", "diff", "ap-new.json", "--agent", "ap", "--password", "wrong"], 1,
     r"authentication failed"),
    (["config", "validate", "missing.json"], 2, r"invalid configuration: missing\.json: cannot read"),
    (["config", "validate", "broken.json"], 2, r"invalid configuration: .*max-bindings"),
    (["show", "radius", "--agent", "nowhere"], 2, r"no agent 'nowhere'"),
    (["show", "tunnels", "--agent", "ha", "--password", "wrong"], 1, r"authentication failed"),
    (["clear", "counters", "home-agent", "--agent", "ap"], 3, r"runs proxy, not the home agent"),
    (["clear", "subnet-map", "203.0.113.0/24", "--agent", "ap"], 1, r"203\.0\.113\.0/24"),
    (["watch", "--agent", "nowhere", "--count", "1"], 2, r"no agent 'nowhere'"),
    (["events", "--agent", "ha", "--password", "wrong", "--count", "1"], 1,
     r"authentication failed"),
    (["run", "--startup", "ap.txt"], 2, r"unknown file type"),
    (["run", "--startup", "broken.json"], 2, r"invalid configuration"),
    (["client", "associate", "--socket", "missing.sock", "--mac", "02:00:00:00:00:01"], 1,
     r"cannot reach the control socket missing\.sock: No such file or directory"),
    (["state", "--socket", "missing.sock"], 1,
     r"cannot reach the control socket missing\.sock: No such file or directory"),
])
def test_errors_are_one_line(shell: Shell, argv: list[str], status: int, message: str) -> None:
    _write_guide_files(shell)
    (shell.cwd / "broken.json").write_text('{"proxy-mobile-ip:mobile-ip": {"home-agent": {"max-bindings": -1}}}')
    done = shell.run(argv)
    _one_line_error(done, status, message)


def test_unreachable_agent(shell: Shell, closed_port: int) -> None:
    done = shell.run(["show", "bindings", "--host", "127.0.0.1", "--port", str(closed_port)])
    _one_line_error(done, 1, rf"cannot reach the agent at 127\.0\.0\.1:{closed_port}: "
                             "Connection refused")


def test_unknown_host_key_is_refused(shell: Shell, tmp_path: Path) -> None:
    """Host keys are checked by default: an agent missing from known_hosts is refused."""
    env = dict(shell.env, HOME=str(tmp_path), PROXYMIP_HOST_KEY_CHECK="yes")
    done = shell.run(["show", "traffic", "--agent", "ha"], env=env)
    _one_line_error(done, 1, r"host key is not trusted")


def _one_line_error(done: subprocess.CompletedProcess[str], status: int, message: str) -> None:
    assert done.returncode == status, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("proxymip: ")
    assert re.search(message, lines[0]), lines[0]
    assert done.stdout == ""


def test_help_and_version_say_nothing_on_stderr(shell: Shell) -> None:
    """The install section's ``proxymip --help`` (an ``sh`` block), and ``--version``."""
    for argv, first in ((["--help"], "usage: proxymip"), (["--version"], "proxymip ")):
        done = shell.run(argv)
        assert (done.returncode, done.stderr) == (0, ""), (argv, done.stderr)
        assert done.stdout.startswith(first), done.stdout


def test_client_address_of_the_guide_is_the_labs() -> None:
    """The guide's example client is the lab's client number CLIENTS."""
    assert str(client_address(CLIENTS, CLIENTS)) == "192.0.2.14"
    assert client_mac(CLIENTS) == "02:00:00:00:00:04"
