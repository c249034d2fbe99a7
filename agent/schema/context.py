"""The libyang context of the ``proxy-mobile-ip`` module: where the modules are,
the module's names, a context that keeps libyang's structured errors, and the
switch that keeps libyang quiet.

The YANG directory is :func:`agent.package_data.yang_dir` (``agent/data/yang``
installed from a wheel, the repository's ``yang/`` in a checkout), or
``$PROXYMIP_YANG_DIR``; it is searched recursively, so the vendored
``yang/ietf/ietf-netconf-acm`` is found there too.

libyang's log settings are process-wide: during a call they are set to "store
errors, print nothing" and then restored, and path recording is switched on for
good (it only adds the data path to stored errors). Call from one thread at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import libyang
from _libyang import ffi, lib  # type: ignore[import-not-found]  # libyang-python's cffi module

from agent import package_data

MODULE_NAME = "proxy-mobile-ip"
TOP_MEMBER = f"{MODULE_NAME}:mobile-ip"  # RFC 7951 §4: module-qualified top-level name
ROOT_PATH = f"/{TOP_MEMBER}"
YANG_DIR_ENV = "PROXYMIP_YANG_DIR"

DataFormat = Literal["json", "xml"]


def yang_dir() -> Path:
    """Where the YANG modules are: ``$PROXYMIP_YANG_DIR``, else the package's."""
    override = os.environ.get(YANG_DIR_ENV)
    if override:
        return Path(override)
    return package_data.yang_dir()


@dataclass(frozen=True, slots=True)
class LibyangError:
    """One structured libyang error item (``struct ly_err_item``)."""

    code: int
    message: str
    location: str
    app_tag: str | None


class RecordingContext(libyang.Context):
    """A context that keeps libyang's structured errors (message, data path,
    error-app-tag) before libyang-python flattens them into one string."""

    __slots__ = ("recorded",)

    def __init__(self, search_path: str) -> None:
        self.recorded: list[LibyangError] = []
        super().__init__(search_path)

    def error(self, msg: str, *args: Any) -> libyang.LibyangError:
        if self.cdata:
            item = lib.ly_err_first(self.cdata)
            while item:
                self.recorded.append(
                    LibyangError(
                        code=int(item.vecode),
                        message=c_text(item.msg),
                        location=c_text(item.path),
                        app_tag=c_text(item.apptag) or None,
                    )
                )
                item = item.next
        return super().error(msg, *args)


def c_text(pointer: Any) -> str:
    """A C string from libyang, or "" for NULL."""
    return "" if pointer == ffi.NULL else ffi.string(pointer).decode("utf-8", "replace")


@contextmanager
def quiet_libyang() -> Iterator[None]:
    """Keep libyang's errors in the context only (never printed nor sent to the
    ``libyang`` logger: they may quote key material) and have it record the data
    path of each error. Restores the previous log options (the path flag has no
    getter, so it stays on)."""
    previous = lib.ly_log_options(lib.LY_LOSTORE)
    if not previous & lib.LY_LOLOG:
        # No callback is installed: only turn on path recording (libyang-python
        # turns it off by default).
        lib.ly_set_log_clb(ffi.NULL, True)
    try:
        yield
    finally:
        lib.ly_log_options(previous)
