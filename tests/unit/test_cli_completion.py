"""Shell completion of ``proxymip`` through argcomplete, driven as the shell
hook drives it (argcomplete's documented protocol: ``_ARGCOMPLETE=1``,
``COMP_LINE``, ``COMP_POINT``; the candidates, separated by ``IFS`` (vertical
tab), go to ``_ARGCOMPLETE_STDOUT_FILENAME`` instead of fd 8)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, find_tool, require_module

require_module("argcomplete")


def complete(line: str, tmp_path: Path) -> list[str]:
    proxymip = find_tool("proxymip")
    assert proxymip is not None
    out = tmp_path / "candidates"
    env = dict(os.environ, _ARGCOMPLETE="1", COMP_LINE=line, COMP_POINT=str(len(line)),
               _ARGCOMPLETE_STDOUT_FILENAME=str(out))
    done = subprocess.run([proxymip], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return out.read_text().split("\013")


@pytest.mark.parametrize(("line", "expected"), [
    ("proxymip sh", {"show"}),
    ("proxymip con", {"config"}),
    ("proxymip show b", {"bindings"}),
    ("proxymip run --st", {"--startup", "--status-interval"}),
])
def test_completion_offers_the_commands(line: str, expected: set[str], tmp_path: Path) -> None:
    assert {c.strip() for c in complete(line, tmp_path)} == expected


def test_the_console_script_is_marked_for_global_completion() -> None:
    """``activate-global-python-argcomplete`` completes only scripts whose
    module carries ``PYTHON_ARGCOMPLETE_OK`` near its top; argcomplete's own
    check of the installed console script says whether ours does."""
    proxymip = find_tool("proxymip")
    assert proxymip is not None
    done = subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", "-m",
                           "argcomplete._check_console_script", proxymip],
                          capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
