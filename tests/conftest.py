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
        pytest.skip(message)
