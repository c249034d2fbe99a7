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


#: Key order of a flat list entry -> its XML with ``%s`` for the values, and
#: the count of ``<`` and ``>`` in it (for the escaping check in _write_entries).
_TEMPLATES: dict[tuple[str, ...], tuple[str, int, int]] = {}
_TEMPLATES_MAX = 256


def _template(name: str, keys: tuple[str, ...]) -> tuple[str, int, int]:
    template = (f"<{name}>" + "".join(f"<{key}>\x00</{key}>" for key in keys)
                + f"</{name}>")
    opening, closing = template.count("<"), template.count(">")
    return template.replace("%", "%%").replace("\x00", "%s"), opening, closing


#: The value types ``%s`` writes as _text does (booleans, absent values and
#: nested nodes it would not).
_PLAIN = frozenset((int, str))


def _write_entries(name: str, entries: list[Any], out: list[str]) -> None:
    """A list's entries. When every entry's values are ints and strings (the
    rows of the engines' tables), each entry is one ``%`` formatting of a
    template made once per key order, and the list's text is kept when no
    value brought a character that needs escaping (no ``&``, and as many
    ``<`` and ``>`` as the templates: counted once over the whole text, not
    per entry). Otherwise the entries go the general way, one by one. Same
    text as :func:`_write` either way."""
    templates: dict[tuple[str, ...], tuple[str, int, int]] = {}
    plain = _PLAIN
    texts: list[str] = []
    add = texts.append
    opening = closing = 0
    for entry in entries:
        if not isinstance(entry, dict):
            break
        values = tuple(entry.values())
        if not set(map(type, values)) <= plain:
            break
        keys = (name, *entry)
        found = templates.get(keys)
        if found is None:
            found = _TEMPLATES.get(keys)
            if found is None:
                if len(_TEMPLATES) >= _TEMPLATES_MAX:
                    _TEMPLATES.clear()
                found = _TEMPLATES[keys] = _template(name, keys[1:])
            templates[keys] = found
        add(found[0] % values)
        opening += found[1]
        closing += found[2]
    else:
        text = "".join(texts)
        if "&" not in text and text.count("<") == opening and text.count(">") == closing:
            out.append(text)
            return
    for entry in entries:
        if isinstance(entry, dict):
            _write(name, entry, out)
        elif entry is not None:  # a leaf-list's value
            out.append(f"<{name}>{_text(entry)}</{name}>")


def _write(name: str, value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append(f"<{name}>")
        for child, child_value in value.items():
            if isinstance(child_value, list):
                _write_entries(child, child_value, out)
            elif isinstance(child_value, dict):
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
        if isinstance(value, list):
            _write_entries(name, value, out)
        else:
            _write(name, value, out)
    return "".join(out)
