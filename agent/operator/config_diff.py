"""``proxymip config diff FILE``: what loading FILE into running would change.

Both sides become effective trees the way the agent's datastore makes them:
validated by libyang against the module with defaults filled in
(``agent.schema.validator.Validator``), keyed by list keys (``to_keyed``), then
compared by ``agent.datastore.store.diff`` into typed changes (created /
modified / deleted, by instance-identifier path). Running is read over
NETCONF (<get-config>, the whole module, so changed keys are seen too) or
taken from a second file (``--running``), offline.

Values of secret leaves (every leaf the module marks nacm:default-deny-all:
mobility keys, RADIUS shared secret and User-Password, SNMP communities and
passphrases, password hashes; :func:`agent.operator.data.secret_leaves`) are
never printed: the path says a key changed, ``<redacted>`` stands for its value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from lxml import etree

from agent.datastore.paths import render_path
from agent.datastore.store import TOP, Change, diff
from agent.datastore.tree import Schema, to_keyed
from agent.operator.data import secret_leaves
from agent.operator.errors import UsageError
from agent.schema.context import TOP_MEMBER, DataFormat
from agent.schema.errors import ConfigError
from agent.schema.validator import Validator

REDACTED = "<redacted>"
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_LAST_NAME = re.compile(r"([\w.-]+)(?:\[[^\]]*\])*$")
_FORMATS: dict[str, DataFormat] = {".json": "json", ".xml": "xml"}
_MARKS = {"created": "+", "modified": "~", "deleted": "-"}


class ConfigDiff:
    """One validator and schema for both sides (each costs a libyang context)."""

    def __init__(self) -> None:
        self._validator = Validator()
        self._schema = Schema.load()

    def close(self) -> None:
        self._validator.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def from_file(self, path: Path) -> dict[str, Any]:
        fmt = _FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise UsageError(f"{path}: unknown file type (expected .json or .xml)")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: cannot read: {exc}") from None
        return self._effective(text, fmt, origin=str(path))

    def from_running(self, top: etree._Element | None) -> dict[str, Any]:
        """Running as read by <get-config> (the module's top element, or None)."""
        if top is None:
            return self._effective(json.dumps({TOP_MEMBER: {}}), "json", origin="running")
        return self._effective(etree.tostring(top).decode(), "xml", origin="running")

    def _effective(self, text: str, fmt: DataFormat, *, origin: str) -> dict[str, Any]:
        try:
            content = self._validator.validate(text, fmt)
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc.path}", _without_secret(exc.path, exc.detail),
                              app_tag=exc.app_tag, line=exc.line) from None
        keyed: dict[str, Any] = to_keyed(content, (TOP,), self._schema)
        return keyed

    def changes(self, running: dict[str, Any], candidate: dict[str, Any]) -> tuple[Change, ...]:
        return diff(running, candidate, self._schema)


def _without_secret(path: str, detail: str) -> str:
    """libyang's reason for rejecting a node, with its quoted parts redacted
    when the node is a secret leaf ('Unsatisfied length - string "..."' quotes
    the value). A fence of our own: the loader's list of key leaves may lag
    the module."""
    found = _LAST_NAME.search(path)
    if found is not None and found.group(1).split(":")[-1] in secret_leaves():
        return _QUOTED.sub(f'"{REDACTED}"', detail)
    return detail


def redact(value: Any, *, secret: bool = False) -> Any:
    """``value`` with every secret leaf's value replaced."""
    if secret:
        return REDACTED
    if isinstance(value, dict):
        secrets = secret_leaves()
        return {k: redact(v, secret=k.split(":")[-1] in secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _is_secret(change: Change) -> bool:
    return bool(change.path) and change.path[-1].name in secret_leaves()


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_changes(changes: Sequence[Change], *, file: str, against: str) -> str:
    if not changes:
        return f"No changes: {file} matches {against}"
    lines = []
    for change in changes:
        path = render_path(change.path)
        secret = _is_secret(change)
        mark = _MARKS.get(change.kind, "?")
        if change.kind == "modified":
            lines.append(f"{mark} {path}: {_text(redact(change.old, secret=secret))} -> "
                         f"{_text(redact(change.new, secret=secret))}")
        elif change.kind == "created" and not isinstance(change.new, (dict, list)):
            lines.append(f"{mark} {path} = {_text(redact(change.new, secret=secret))}")
        else:
            lines.append(f"{mark} {path}")
    counts = {kind: sum(1 for c in changes if c.kind == kind) for kind in _MARKS}
    lines.append(f"{len(changes)} change{'s' if len(changes) != 1 else ''} from {against} to {file}: "
                 f"{counts['created']} created, {counts['modified']} modified, "
                 f"{counts['deleted']} deleted")
    return "\n".join(lines)


def changes_json(changes: Sequence[Change]) -> list[dict[str, Any]]:
    out = []
    for change in changes:
        secret = _is_secret(change)
        entry: dict[str, Any] = {"kind": change.kind, "path": render_path(change.path)}
        if change.kind in ("modified", "deleted"):
            entry["old"] = redact(change.old, secret=secret)
        if change.kind in ("modified", "created"):
            entry["new"] = redact(change.new, secret=secret)
        out.append(entry)
    return out
