"""Log lines fit journald (agent/journal.py): when stderr is the stream systemd
connected to the journal (``$JOURNAL_STREAM`` = stderr's ``DEV:INODE``,
systemd.exec(5)), no timestamp and the level as a ``<N>`` syslog prefix
(sd-daemon(3)); otherwise unchanged. Checked on the real command: ``proxymip``
run as a subprocess with its stderr on a file whose device and inode the
test puts in JOURNAL_STREAM, as systemd does with its stream socket."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent.journal import JournalFormatter, stream_is_journal, syslog_priority
from tests.conftest import ROOT

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


@pytest.mark.parametrize(("level", "priority"), [
    (logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6),
    (logging.DEBUG, 7), (logging.INFO + 5, 6), (logging.DEBUG - 5, 7),
])
def test_syslog_priority(level: int, priority: int) -> None:
    assert syslog_priority(level) == priority


def test_every_line_of_a_record_has_the_prefix() -> None:
    """journald makes one entry per line: a traceback keeps its priority."""
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("proxymip", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    lines = JournalFormatter().format(record).split("\n")
    assert lines[0] == "<3>proxymip failed" and len(lines) > 3
    assert all(line.startswith("<3>") for line in lines)


def test_journal_stream_must_match_the_stream(tmp_path: Path) -> None:
    with open(tmp_path / "a", "w") as a, open(tmp_path / "b", "w") as b:
        status = os.fstat(a.fileno())
        env = {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
        assert stream_is_journal(a, env)
        assert not stream_is_journal(b, env)  # redirected elsewhere: not the journal
        assert not stream_is_journal(a, {})
        assert not stream_is_journal(a, {"JOURNAL_STREAM": "garbage"})


def _agent_log(tmp_path: Path, *, journal: bool) -> str:
    """Run ``proxymip -vv run`` (an empty startup file: no roles) until its
    ready line, stop it, and return what it wrote to stderr."""
    startup = tmp_path / "empty.json"
    startup.write_text(json.dumps({}))
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "w") as stderr:
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        if journal:
            status = os.fstat(stderr.fileno())
            env["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "-vv", "run", "--startup", str(startup)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("ready ")
        proc.terminate()
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    return stderr_path.read_text()


def test_run_logs_for_the_journal(tmp_path: Path) -> None:
    text = _agent_log(tmp_path, journal=True)
    lines = text.splitlines()
    assert lines, "the agent logged nothing at -vv"
    assert all(re.match(r"<[0-7]>\S", line) for line in lines), text
    assert not TIMESTAMP.search(text)


def test_run_logs_for_a_terminal(tmp_path: Path) -> None:
    text = _agent_log(tmp_path, journal=False)
    lines = text.splitlines()
    assert lines
    assert all(TIMESTAMP.match(line) for line in lines if not line.startswith(" ")), text
    assert not re.search(r"^<[0-7]>", text, flags=re.MULTILINE)
