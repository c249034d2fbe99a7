"""The package as a user gets it (issue 12, "a real package").

The wheel is built from the checkout, installed (not editable) into a fresh
virtual environment outside it, its dependencies from the lock file
(``tools/requirements.lock``, hashes required), and then, from a directory
that is not the checkout and with nothing of the checkout on ``sys.path``:

- ``proxymip --version`` prints the version;
- the operator guide's example startup files pass ``proxymip config validate``
  (the YANG modules come from the installed package);
- each role (home agent, foreign agent, proxy) starts from the guide's file
  with NETCONF and SNMP enabled on loopback (port 0: the kernel picks), the
  proxy also with a RADIUS server configured (the dictionary comes from the
  package), prints its ``ready`` line with every endpoint, and stops on
  SIGTERM sent to its pid with status 0 and nothing on stderr.

The sizes of the wheel and of the installed package are printed (run with
``-s`` to see them).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent import __version__
from tests.conftest import ROOT
from tests.interop.test_operator_cli import GUIDE, ephemeral, guide_files

#: Building, creating the venv and installing ~20 packages from pip's cache.
INSTALL_TIMEOUT = 600.0
STEP_TIMEOUT = 60.0
ROLE_ADDRESS = {"ha.json": "127.0.0.2", "fa.json": "127.0.0.3", "ap.json": "127.0.0.4"}
ROLE_OF = {"ha.json": "home-agent", "fa.json": "foreign-agent", "ap.json": "proxy"}


@dataclass(frozen=True)
class Installed:
    venv: Path
    wheel: Path
    workdir: Path

    @property
    def proxymip(self) -> str:
        return str(self.venv / "bin" / "proxymip")

    @property
    def env(self) -> dict[str, str]:
        """The environment of a user's shell: nothing pointing at the checkout."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "PROXYMIP_", "VIRTUAL_ENV"))}
        env["PATH"] = f"{self.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.proxymip, *argv], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False)


def _pip(python: Path | str, *args: str, cwd: Path) -> None:
    done = subprocess.run([str(python), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                          check=False)
    assert done.returncode == 0, (args, done.stdout[-3000:], done.stderr[-3000:])


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("installed")
    assert not base.resolve().is_relative_to(ROOT)
    dist = base / "dist"
    # The build tools of this environment are the lock's (tools/setup.sh): no isolation,
    # so the build downloads nothing.
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--no-build-isolation", "--disable-pip-version-check",
                            "-w", str(dist), str(ROOT)],
                           capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = dist.glob("proxymip-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=STEP_TIMEOUT)
    python = venv / "bin" / "python"
    # As tools/setup.sh: build tools first (libyang and pytricia build from source
    # without isolation), then the runtime lock, then the wheel alone.
    _pip(python, "--require-hashes", "-r", str(ROOT / "tools" / "requirements-build.lock"), cwd=base)
    _pip(python, "--require-hashes", "--no-build-isolation", "-r",
         str(ROOT / "tools" / "requirements.lock"), cwd=base)
    _pip(python, "--no-deps", str(wheel), cwd=base)
    workdir = base / "work"
    workdir.mkdir()
    yield Installed(venv, wheel, workdir)


def test_the_wheel_carries_the_data(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for name in ("agent/data/yang/proxy-mobile-ip.yang", "agent/data/yang/ietf/ietf-netconf-acm@2018-02-14.yang",
                 "agent/data/mibs/PROXY-MOBILE-IP-MIB", "agent/data/mibs/MIP-MIB",
                 "agent/radius/dictionary", "agent/py.typed"):
        assert name in names, name
    assert not any(name.startswith(("tests/", "tools/", "docs/")) for name in names)


def test_installed_package_is_not_the_checkout(installed: Installed) -> None:
    done = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c",
         "import agent, agent.package_data as d; print(agent.__file__); print(d.yang_dir()); "
         "print(d.mib_dir()); print(d.radius_dictionary())"],
        cwd=installed.workdir, env=installed.env, capture_output=True, text=True, check=True,
        timeout=STEP_TIMEOUT)
    paths = [Path(line) for line in done.stdout.splitlines()]
    for path in paths:
        assert path.exists() and path.is_relative_to(installed.venv), path
    files = [f for f in paths[0].parent.rglob("*") if f.is_file()]
    size = sum(f.stat().st_size for f in files)
    compiled = sum(f.stat().st_size for f in files if "__pycache__" in f.parts)
    print(f"\nwheel {installed.wheel.stat().st_size:,} B, installed package {size:,} B "
          f"({size - compiled:,} B without the byte code pip compiled)")


def test_version(installed: Installed) -> None:
    done = installed.run("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"proxymip {__version__}\n", "")


def _guide_documents() -> dict[str, dict[str, Any]]:
    files = guide_files(GUIDE.read_text(encoding="utf-8"))
    return {name: json.loads(files[name]) for name in ROLE_ADDRESS}


def test_guide_files_validate(installed: Installed) -> None:
    for name, document in _guide_documents().items():
        (installed.workdir / name).write_text(json.dumps(document))
        (installed.workdir / name).chmod(0o600)  # it holds keys (docs/security.md)
        done = installed.run("config", "validate", name)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"{name}: valid\n", "")


def _with_management(name: str, documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The guide's file on port 0, with NETCONF (the guide's user, as in ha.json)
    and SNMP on the role's loopback address (and, for the proxy, a RADIUS server
    nobody needs to answer)."""
    top = ephemeral(documents[name])["proxy-mobile-ip:mobile-ip"]
    address = ROLE_ADDRESS[name]
    users = documents["ha.json"]["proxy-mobile-ip:mobile-ip"]["netconf-server"]["user"]
    top.setdefault("netconf-server", {"user": users})
    top["netconf-server"]["listen"] = {"address": address, "port": 0}
    top["snmp-agent"] = {"listen": {"address": address, "port": 0},
                         "community": [{"index": "ro", "secret": "public"}]}
    if ROLE_OF[name] == "proxy":
        top["radius"] = {"server": [{"address": "127.0.0.1", "port": 1812,
                                     "shared-secret": "not-used"}],
                         "user-password": "not-used"}
    return {"proxy-mobile-ip:mobile-ip": top}


@pytest.mark.parametrize("name", list(ROLE_ADDRESS))
def test_each_role_starts_with_netconf_and_snmp(installed: Installed, name: str) -> None:
    startup = installed.workdir / f"managed-{name}"
    startup.write_text(json.dumps(_with_management(name, _guide_documents())))
    startup.chmod(0o600)  # it holds keys: `run` refuses it readable by others
    process = subprocess.Popen([installed.proxymip, "run", "--startup", startup.name],
                               cwd=installed.workdir, env=installed.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], STEP_TIMEOUT)
        assert ready, f"{name}: no ready line within {STEP_TIMEOUT} s"
        line = process.stdout.readline()
        assert line.startswith("ready "), (line, process.stderr.read() if process.stderr else "")
        endpoints = json.loads(line[len("ready "):])
        assert set(endpoints) == {ROLE_OF[name], "netconf", "snmp"}, endpoints
        for endpoint in endpoints.values():
            host, _, port = endpoint.rpartition(":")
            assert host == ROLE_ADDRESS[name] and int(port) > 0, endpoint
        os.kill(process.pid, signal.SIGTERM)
        out, err = process.communicate(timeout=STEP_TIMEOUT)
        assert process.returncode == 0, err
        assert err == ""
        assert out.splitlines()[-1].startswith("counters ")
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
