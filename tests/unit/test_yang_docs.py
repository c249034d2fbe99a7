"""``docs/yang/`` is what ``tools/gen_yang_docs.py`` generates from the YANG module
today: a change to ``yang/proxy-mobile-ip.yang`` must come with regenerated docs.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import IN_CI, require_module

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "gen_yang_docs.py"
DOCS_DIR = ROOT / "docs" / "yang"
TIMEOUT = 300


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_yang_docs", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses looks the module up by name while the class is being built.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    """The generator, once the pinned pyang is known to be the one installed:
    another release lays the output out differently, which is not staleness."""
    pyang = require_module("pyang")
    module = load_tool()
    pinned, installed = module.pinned_pyang_version(), getattr(pyang, "__version__", "?")
    if installed != pinned:
        message = f"pyang {installed} is installed, the docs are generated with {pinned}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return module


def check(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), "--check", *extra],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_committed_docs_are_current(tool: ModuleType) -> None:
    result = check()
    assert result.returncode == 0, (
        "docs/yang is stale: run `python3 tools/gen_yang_docs.py` and commit docs/yang\n"
        + result.stdout
        + result.stderr
    )
    assert result.stdout + result.stderr == ""


def test_check_reports_a_stale_and_a_missing_file(tool: ModuleType, tmp_path: Path) -> None:
    docs = tmp_path / "yang"
    shutil.copytree(DOCS_DIR, docs)
    tree = docs / "proxy-mobile-ip.tree.txt"
    tree.write_text(tree.read_text(encoding="utf-8") + "  extra line\n", encoding="utf-8")
    (docs / "proxy-mobile-ip.html").unlink()
    result = check("--docs-dir", str(docs))
    assert result.returncode == 1
    assert "proxy-mobile-ip.tree.txt: stale (1 lines added or removed)" in result.stderr
    assert "-  extra line" in result.stderr
    assert "proxy-mobile-ip.html: missing" in result.stderr
    assert "proxy-mobile-ip.sample.xml" not in result.stderr
    assert "run: python3 tools/gen_yang_docs.py" in result.stderr


def test_the_html_page_fetches_nothing() -> None:
    # jstree inlines its CSS, script and logo; a page that loads a remote script
    # would not work offline and would leak who reads the docs.
    page = (DOCS_DIR / "proxy-mobile-ip.html").read_text(encoding="utf-8")
    assert "<script src" not in page and "<link" not in page
    assert 'src="http' not in page and "src='http" not in page
