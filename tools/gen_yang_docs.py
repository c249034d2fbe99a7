#!/usr/bin/env python3
"""Generate the documentation of the YANG module into ``docs/yang/`` with pyang.

    python3 tools/gen_yang_docs.py            # (re)write docs/yang/*
    python3 tools/gen_yang_docs.py --check    # exit 1 when docs/yang is stale

Outputs (see docs/yang/README.md):

- ``proxy-mobile-ip.tree.txt``: the RFC 8340 tree diagram (``-f tree``);
- ``proxy-mobile-ip.html``: pyang's ``jstree``, one self-contained HTML page;
- ``proxy-mobile-ip.sample.xml``: a ``<config>`` skeleton with type comments and
  defaults (``-f sample-xml-skeleton``).

The output is deterministic: pyang 2.7.1 writes neither a date nor its version
into these formats; pyang runs inside ``yang/`` on a bare file name, so no
checkout path leaks in; and only ``yang/`` and pyang's bundled IETF modules are
searched. pyang would also search ``$YANG_MODPATH``, ``$YANG_INSTALL`` and
``$HOME/yang/modules``, and an import without a revision takes the newest
revision it finds, so those variables are dropped from pyang's environment.
Trailing blanks are stripped from every line. Other pyang releases lay the formats
out differently, so the tool refuses to run with any pyang but the one
``pyproject.toml`` pins.

pyang runs as ``sys.executable -m pyang`` (the lint test does the same): its
Python API keeps plugin registrations in module globals, so a subprocess is the
robust way to run several formats from one process.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
YANG_DIR = ROOT / "yang"  # pyang's working directory, and its only search path
MODULE = "proxy-mobile-ip.yang"
DOCS_DIR = ROOT / "docs" / "yang"
TIMEOUT = 120
#: Lines of unified diff shown per stale text file in --check mode.
DIFF_LINES = 40


@dataclass(frozen=True, slots=True)
class Output:
    """One generated file: its name in docs/yang and the pyang format options."""

    name: str
    pyang_options: tuple[str, ...]
    show_diff: bool = True


OUTPUTS = (
    Output("proxy-mobile-ip.tree.txt", ("-f", "tree", "--tree-line-length", "79")),
    # 170+ KB of table rows: a line diff of it says nothing a reader can use.
    Output("proxy-mobile-ip.html", ("-f", "jstree"), show_diff=False),
    Output(
        "proxy-mobile-ip.sample.xml",
        (
            "-f",
            "sample-xml-skeleton",
            "--sample-xml-skeleton-doctype=config",
            "--sample-xml-skeleton-annotations",
            "--sample-xml-skeleton-defaults",
        ),
    ),
)

REGENERATE = "python3 tools/gen_yang_docs.py"


class GenerationError(Exception):
    """pyang failed, said something on stderr, or is not the pinned release."""


def pinned_pyang_version(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The pyang release ``pyproject.toml`` pins (``pyang==X`` in an extra)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    for requirements in project.get("optional-dependencies", {}).values():
        for requirement in requirements:
            match = re.fullmatch(r"pyang\s*==\s*([\w.]+)", requirement.split(";")[0].strip())
            if match:
                return match.group(1)
    raise GenerationError("pyproject.toml pins no pyang release (pyang==X)")


def installed_pyang_version() -> str:
    result = _run_pyang(["--version"])
    # "pyang 2.7.1"
    return result.split()[-1]


def _run_pyang(arguments: list[str]) -> str:
    # pyang searches these too (pyang/repository.py); see the module docstring.
    ignored = ("YANG_MODPATH", "YANG_INSTALL", "HOME")
    env = {key: value for key, value in os.environ.items() if key not in ignored}
    command = [sys.executable, "-m", "pyang", *arguments]
    try:
        result = subprocess.run(
            command,
            cwd=YANG_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GenerationError(f"cannot run {' '.join(command)}: {exc}") from exc
    if result.returncode != 0 or result.stderr.strip():
        raise GenerationError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stderr.strip()}"
        )
    return result.stdout


def normalise(text: str) -> str:
    """Trailing blanks off every line, exactly one newline at the end."""
    return "\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n") + "\n"


def generate() -> dict[str, str]:
    """Every output, by file name, generated in memory."""
    pinned, installed = pinned_pyang_version(), installed_pyang_version()
    if installed != pinned:
        raise GenerationError(
            f"pyang {installed} is installed but pyproject.toml pins {pinned}; other "
            f"releases lay the output out differently (pip install pyang=={pinned})"
        )
    return {
        output.name: normalise(
            # pyang always searches "." (recursively): here, yang/ and yang/ietf/.
            _run_pyang([*output.pyang_options, MODULE])
        )
        for output in OUTPUTS
    }


def stale(generated: dict[str, str], docs_dir: Path) -> list[str]:
    """A summary line (and, for text files, a short diff) per file in docs_dir that
    is missing or differs from what was generated; empty when all are current."""
    report: list[str] = []
    for output in OUTPUTS:
        path = docs_dir / output.name
        expected = generated[output.name]
        if not path.is_file():
            report.append(f"{output.name}: missing")
            continue
        actual = path.read_text(encoding="utf-8")
        if actual == expected:
            continue
        diff = list(
            difflib.unified_diff(
                actual.splitlines(),
                expected.splitlines(),
                f"committed/{output.name}",
                f"generated/{output.name}",
                lineterm="",
            )
        )
        changed = sum(
            1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))
        )
        report.append(f"{output.name}: stale ({changed} lines added or removed)")
        if output.show_diff:
            report.extend("    " + line for line in diff[:DIFF_LINES])
            if len(diff) > DIFF_LINES:
                report.append(f"    ... {len(diff) - DIFF_LINES} more diff lines")
    return report


def write(generated: dict[str, str], docs_dir: Path) -> list[str]:
    """Write the outputs that changed; the names written."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated.items():
        path = docs_dir / name
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.write_text(text, encoding="utf-8")
        written.append(name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a summary when docs/yang is stale",
    )
    parser.add_argument(
        "--docs-dir",
        type=Path,
        default=DOCS_DIR,
        help="where the outputs live (default: %(default)s)",
    )
    arguments = parser.parse_args(argv)
    try:
        generated = generate()
    except GenerationError as exc:
        print(f"gen_yang_docs: {exc}", file=sys.stderr)
        return 2
    if arguments.check:
        report = stale(generated, arguments.docs_dir)
        if report:
            print(f"{arguments.docs_dir} is stale against yang/{MODULE}:", file=sys.stderr)
            for line in report:
                print(line, file=sys.stderr)
            print(f"run: {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    for name in write(generated, arguments.docs_dir):
        print(f"wrote {arguments.docs_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
