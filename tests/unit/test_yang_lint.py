"""The YANG modules in ``yang/`` pass both validators the project relies on:
pyang's RFC 8407 lint (no output at all, warnings count as errors) and libyang's
yanglint; and yanglint, a second libyang front end, agrees with the loader on
instance data.

The modules vendored under ``yang/ietf/`` are IETF's, not linted against our
naming rules; they are only there to be imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_module, require_tool

from agent.config.default import demo_config_json

YANG_DIR = Path(__file__).resolve().parents[2] / "yang"
MODULES = sorted(YANG_DIR.glob("*.yang"))
TIMEOUT = 60

#: pyang's lint for a non-IETF module (RFC 8407 guidelines), every warning fatal.
PYANG_LINT = [
    "--lint",
    "--lint-modulename-prefix=proxy",
    "--lint-namespace-prefix=urn:proxymip:params:xml:ns:yang:",
    "-W",
    "error",
]


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def test_there_are_modules_to_lint() -> None:
    assert YANG_DIR / "proxy-mobile-ip.yang" in MODULES


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_pyang_lint_is_silent(module: Path) -> None:
    require_module("pyang")
    # Run with this interpreter so the pyang checked is the one the project pins.
    result = run([sys.executable, "-m", "pyang", *PYANG_LINT, str(module)])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_yanglint_accepts(module: Path) -> None:
    yanglint = require_tool("yanglint")
    result = run([yanglint, "-p", str(YANG_DIR), str(module)])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_yanglint_accepts_the_demo_configuration(tmp_path: Path) -> None:
    yanglint = require_tool("yanglint")
    data = tmp_path / "demo.json"
    data.write_text(demo_config_json(), encoding="utf-8")
    module = YANG_DIR / "proxy-mobile-ip.yang"
    result = run([yanglint, "-p", str(YANG_DIR), "-t", "config", str(module), str(data)])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_yanglint_accepts_the_demo_with_the_proxy_role(tmp_path: Path) -> None:
    yanglint = require_tool("yanglint")
    data = tmp_path / "demo-proxy.json"
    data.write_text(demo_config_json(proxy_address="127.0.0.4"), encoding="utf-8")
    module = YANG_DIR / "proxy-mobile-ip.yang"
    result = run([yanglint, "-p", str(YANG_DIR), "-t", "config", str(module), str(data)])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize(
    ("proxy", "rule"),
    [
        pytest.param({"retransmit": {"initial": "0.5"}}, "range", id="retransmit-under-1s"),
        pytest.param(
            {"retransmit": {"initial": "4", "maximum": "2"}},
            "retransmit maximum must not be lower than initial",
            id="retransmit-maximum-under-initial",
        ),
        pytest.param({"lifetime": 0}, "range", id="lifetime-0"),
    ],
)
def test_yanglint_rejects_what_the_loader_rejects(
    tmp_path: Path, proxy: dict[str, object], rule: str
) -> None:
    yanglint = require_tool("yanglint")
    document = json.loads(demo_config_json(proxy_address="127.0.0.4"))
    document["proxy-mobile-ip:mobile-ip"]["proxy"].update(proxy)
    data = tmp_path / "bad-proxy.json"
    data.write_text(json.dumps(document), encoding="utf-8")
    module = YANG_DIR / "proxy-mobile-ip.yang"
    result = run([yanglint, "-p", str(YANG_DIR), "-t", "config", str(module), str(data)])
    assert result.returncode != 0
    assert rule in result.stderr


def test_yanglint_rejects_a_reserved_spi(tmp_path: Path) -> None:
    yanglint = require_tool("yanglint")
    data = tmp_path / "bad.json"
    data.write_text(demo_config_json().replace('"spi": 256', '"spi": 5'), encoding="utf-8")
    module = YANG_DIR / "proxy-mobile-ip.yang"
    result = run([yanglint, "-p", str(YANG_DIR), "-t", "config", str(module), str(data)])
    assert result.returncode != 0
    assert "range" in result.stderr
