"""The protocol engines do no I/O and read no clock (STYLE.md convention 1, the
aioquic model): no module under agent/mobileip may import an I/O, clock,
threading or wire-library module. Checked on the syntax tree, so comments and
strings that mention those names do not count and aliases do not hide them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE_PACKAGE = Path(__file__).resolve().parents[2] / "agent" / "mobileip"

FORBIDDEN = frozenset(
    {"asyncio", "socket", "time", "selectors", "threading", "pysnmp", "asyncssh", "scapy"}
)


def forbidden_imports(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, module) for every import whose top-level package is forbidden.

    Relative imports stay inside the project and are allowed; dynamic imports
    (``importlib.import_module``, ``__import__``) with a literal name are
    checked too.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                names = [node.module]
        elif isinstance(node, ast.Call):
            func = node.func
            called = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else None
            )
            if called in ("__import__", "import_module") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names = [first.value]
        line = getattr(node, "lineno", 0)
        found += [(line, name) for name in names if name.split(".")[0] in FORBIDDEN]
    return found


def engine_modules() -> list[Path]:
    return sorted(ENGINE_PACKAGE.rglob("*.py"))


def test_engine_package_has_modules() -> None:
    names = {path.name for path in engine_modules()}
    assert {"home_agent.py", "foreign_agent.py", "registration.py", "security.py"} <= names


@pytest.mark.parametrize("path", engine_modules(), ids=lambda p: str(p.relative_to(ENGINE_PACKAGE)))
def test_engine_module_imports_no_io(path: Path) -> None:
    offenders = forbidden_imports(path.read_text(encoding="utf-8"), str(path))
    assert offenders == [], f"{path.name} imports {offenders}: engines must stay sans-IO"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import time", [(1, "time")]),
        ("import time as clock", [(1, "time")]),
        ("from time import monotonic", [(1, "time")]),
        ("import os, socket", [(1, "socket")]),
        ("import asyncio.events", [(1, "asyncio.events")]),
        ("from scapy.layers.mobileip import MobileIP", [(1, "scapy.layers.mobileip")]),
        ("def f():\n    import threading\n", [(2, "threading")]),
        ("try:\n    import pysnmp\nexcept ImportError:\n    pass\n", [(2, "pysnmp")]),
        ("import importlib\nimportlib.import_module('selectors')", [(2, "selectors")]),
        ("__import__('asyncssh')", [(1, "asyncssh")]),
        ("import datetime, timeit, socketserver_like", []),
        ("from . import time", []),
        ("from .time import x", []),
        ("# import socket\nx = 'import time'", []),
    ],
)
def test_checker_itself(source: str, expected: list[tuple[int, str]]) -> None:
    """The rule catches aliases, submodules and nested imports, and nothing
    that merely looks similar."""
    assert forbidden_imports(source) == expected
