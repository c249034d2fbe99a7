"""Log lines that fit where stderr goes.

Under systemd, stderr is usually a stream into the journal, which stamps every
entry itself and reads a syslog priority from a ``<N>`` prefix (sd-daemon(3):
SD_ERR is ``<3>``, SD_WARNING ``<4>``...). systemd.exec(5) says how a process
knows: ``$JOURNAL_STREAM`` holds the device and inode numbers of that stream,
``DEV:INODE``, and matches stderr's ``fstat`` when stderr is still connected to
it (a redirection in between changes them). Then lines carry the priority and
no timestamp of ours; otherwise they stay as they were (time, logger, level).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TextIO

#: Python's levels -> syslog priorities (sd-daemon(3), RFC 5424 §6.2.1).
SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,  # SD_CRIT
    logging.ERROR: 3,  # SD_ERR
    logging.WARNING: 4,  # SD_WARNING
    logging.INFO: 6,  # SD_INFO
    logging.DEBUG: 7,  # SD_DEBUG
}

TERMINAL_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
JOURNAL_FORMAT = "%(name)s %(message)s"


def stream_is_journal(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``stream`` is the journal stream systemd connected (systemd.exec(5))."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        fd = stream.fileno()
        status = os.fstat(fd)
        return (status.st_dev, status.st_ino) == (int(device), int(inode))
    except (ValueError, OSError):
        return False


def syslog_priority(levelno: int) -> int:
    """The priority of the nearest named level at or below ``levelno``."""
    for level in sorted(SYSLOG_PRIORITY, reverse=True):
        if levelno >= level:
            return SYSLOG_PRIORITY[level]
    return SYSLOG_PRIORITY[logging.DEBUG]


class JournalFormatter(logging.Formatter):
    """``<N>logger message``, the prefix on every line: journald makes one
    entry of each line, so a traceback keeps its priority throughout."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


def configure_logging(level: int, stream: TextIO) -> None:
    """The root logger's one handler, on ``stream`` (the process's stderr);
    like ``logging.basicConfig``, nothing changes when it has one already."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JournalFormatter() if stream_is_journal(stream)
                         else logging.Formatter(TERMINAL_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
