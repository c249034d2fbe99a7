"""Shared test plumbing.

External tools (tshark, net-snmp, FreeRADIUS, ...) are real dependencies of some
tests. In CI (``CI=true``) a missing tool is a failure; elsewhere the test skips
with the reason, so a developer without the tool still runs the rest.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis: no per-example deadline. Time is never what these tests judge
# (performance is measured by tools/bench/); on a loaded 2-core machine one
# example of a fast test took 944 ms against the 200 ms default and failed the
# run as "unreliable timings".
settings.register_profile("proxymip", deadline=None)
settings.load_profile("proxymip")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def find_tool(name: str) -> str | None:
    """An executable from the running interpreter's environment (a venv's bin/
    is not on PATH when tests run as .venv/bin/python -m pytest), else PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def require_tool(name: str) -> str:
    """Path of an external executable, or fail (CI) / skip (elsewhere)."""
    path = find_tool(name)
    if path is None:
        message = f"external tool {name!r} is not installed"
        if IN_CI:
            pytest.fail(message + " (CI must install it: see .ci/run)")
        pytest.skip(message)
    return path


def require_module(name: str) -> object:
    try:
        return __import__(name)
    except ImportError:
        message = f"Python package {name!r} is not installed"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message, allow_module_level=True)


def require_root() -> None:
    """Lab tests build network namespaces: they need root (CAP_NET_ADMIN, raw
    sockets), iproute2, /dev/net/tun and pyroute2. Elsewhere they skip with the
    reason; in CI (CI=true) they fail."""
    problem = None
    if os.geteuid() != 0:
        problem = "network-namespace lab tests need root (CAP_NET_ADMIN, CAP_NET_RAW)"
    elif shutil.which("ip") is None:
        problem = "iproute2 'ip' is not installed"
    elif not os.path.exists("/dev/net/tun"):
        problem = "/dev/net/tun is missing (CONFIG_TUN)"
    if problem is not None:
        if IN_CI:
            pytest.fail(problem + " (CI must run the lab tests as root)")
        pytest.skip(problem)
    require_module("pyroute2")
