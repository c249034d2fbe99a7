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


def require_tool(name: str) -> str:
    """Path of an external executable, or fail (CI) / skip (elsewhere)."""
    path = shutil.which(name)
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
