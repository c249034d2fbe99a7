"""Operational state straight to XML (RFC 7950 §7 encoding of RFC 7951 JSON
content), without a libyang round trip: state is produced by the agent itself in
schema order and needs no validation, and the round trip was 60 % of a
100,000-binding ``<get>`` (docs/performance.md)."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        if "&" in value or "<" in value or ">" in value:
            return escape(value)
        return value
    return str(value)


def _write(name: str, value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append(f"<{name}>")
        for child, child_value in value.items():
            if isinstance(child_value, (dict, list)):
                _write(child, child_value, out)
            elif child_value is not None:
                out.append(f"<{child}>{_text(child_value)}</{child}>")
        out.append(f"</{name}>")
    elif isinstance(value, list):
        for item in value:  # a list's entries or a leaf-list's values
            if isinstance(item, dict):
                _write(name, item, out)
            elif item is not None:
                out.append(f"<{name}>{_text(item)}</{name}>")
    elif value is not None:
        out.append(f"<{name}>{_text(value)}</{name}>")


def state_xml(members: dict[str, Any]) -> str:
    """XML text of the given top-container members (names without module
    prefix), to be placed inside the module's top element."""
    out: list[str] = []
    for name, value in members.items():
        _write(name, value, out)
    return "".join(out)
