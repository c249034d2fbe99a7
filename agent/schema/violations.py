"""What a libyang validation failure is, in RFC 7950 terms.

libyang reports each failure as a structured item: a validation code, an
error-app-tag, a data or schema location and a message. The kind of violation
(``agent.schema.errors.Violation``, which fixes the NETCONF error-tag) is read
from the structured parts first:

- libyang sets RFC 7950 §15's own error-app-tags (``data-not-unique``,
  ``too-many-elements``, ``too-few-elements``, ``must-violation``,
  ``instance-required``, ``missing-choice``) on exactly those failures;
- any other error-app-tag is the module's: a ``must`` statement's (§15.4: then
  operation-failed) when the module has a ``must`` with that tag, else a type
  restriction's (``range``, ``length``, ``pattern``: invalid-value, §8.3.1);
- an unknown node is ``LYVE_REFERENCE``; syntax errors have their own codes.

The few failures that carry neither (``when``, a missing mandatory node, a
duplicate, both cases of a choice, a missing key) are told apart by the fixed
opening of libyang's message formats (``LY_VCODE_*`` in libyang 2.1
``src/common.h``): ``tests/unit/test_yang_violations.py`` triggers each against
the real libyang, so a libyang that words them otherwise fails a test rather
than a reply.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from _libyang import ffi, lib  # type: ignore[import-not-found]  # libyang-python's cffi module
from libyang.util import ly_array_iter

from agent.schema.errors import Violation

#: RFC 7950 §15 error-app-tags, which libyang sets itself.
BUILTIN_APP_TAGS: dict[str, Violation] = {
    "data-not-unique": Violation.UNIQUE,  # §15.1
    "too-many-elements": Violation.MAX_ELEMENTS,  # §15.2
    "too-few-elements": Violation.MIN_ELEMENTS,  # §15.3
    "must-violation": Violation.MUST,  # §15.4
    "instance-required": Violation.INSTANCE_REQUIRED,  # §15.5
    "missing-choice": Violation.MISSING_CHOICE,  # §15.6
}

#: libyang 2.1 message formats of the failures that carry no error-app-tag.
_MESSAGE_OPENINGS: tuple[tuple[str, Violation], ...] = (
    ("When condition ", Violation.WHEN),  # LY_VCODE_NOWHEN
    ("Mandatory node ", Violation.MANDATORY),  # LY_VCODE_NOMAND
    ("Duplicate instance of ", Violation.DUPLICATE),  # LY_VCODE_DUP
    ("Data for both cases ", Violation.BOTH_CASES),  # LY_VCODE_DUPCASE
    ("List instance is missing its key ", Violation.MISSING_KEY),  # LY_VCODE_NOKEY
)

_SYNTAX_CODES = frozenset({lib.LYVE_SYNTAX, lib.LYVE_SYNTAX_XML, lib.LYVE_SYNTAX_JSON})
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_PREDICATES = re.compile(r"\[(?:[^\]'\"]|'[^']*'|\"[^\"]*\")*\]")


def classify(
    *, code: int, message: str, app_tag: str | None, schema_only: bool,
    must_app_tags: frozenset[str],
) -> Violation:
    """The violation one libyang error item stands for. ``schema_only``: libyang
    located it by schema path only (no instance exists)."""
    if app_tag:
        builtin = BUILTIN_APP_TAGS.get(app_tag)
        if builtin is not None:
            return builtin
        return Violation.MUST if app_tag in must_app_tags else Violation.TYPE
    if code in _SYNTAX_CODES:
        return Violation.SYNTAX
    if code == lib.LYVE_REFERENCE:
        return Violation.UNKNOWN_NODE
    for opening, violation in _MESSAGE_OPENINGS:
        if message.startswith(opening):
            return violation
    if schema_only:  # reported where the node should be: it is missing
        return Violation.MANDATORY
    return Violation.TYPE


@dataclass(frozen=True)
class Details:
    """What RFC 7950 / RFC 6241 want beside the tag: the error-path to report,
    base-namespace <error-info> children and YANG-namespace ones."""

    path: str
    info: dict[str, str] = field(default_factory=dict)
    yang_info: tuple[tuple[str, str], ...] = ()


def details(
    violation: Violation, *, path: str, schema_path: str | None, message: str, context: Any
) -> Details:
    """``path``: the data path found for the error; ``schema_path``: libyang's
    schema location when it gave one."""
    if violation is Violation.MISSING_CHOICE:
        # §15.6: error-path is the element with the missing choice; <missing-choice>
        # names the choice.
        # Located by schema path, the choice is its last step; located at the
        # parent's instance (RPC input), libyang names it in the message.
        choice = _last_name(schema_path) if schema_path else (_first_quoted(message) or "")
        if schema_path and _last_name(path) == choice:
            path = _parent(path)
        return Details(path, yang_info=(("missing-choice", choice),))
    if violation is Violation.MANDATORY:
        # RFC 6241 Appendix A missing-element: <bad-element> names the missing node.
        missing = _last_name(schema_path) if schema_path else _first_quoted(message)
        return Details(path, info={"bad-element": missing} if missing else {})
    if violation is Violation.WHEN:
        # §8.3.1 unknown-element; <bad-element> is the node whose "when" is false.
        return Details(path, info={"bad-element": _last_name(path)})
    if violation is Violation.MISSING_KEY:
        # §8.3.1 missing-element; libyang names the key.
        key = _first_quoted(message)
        return Details(path, info={"bad-element": key.split(":")[-1]} if key else {})
    if violation in (Violation.UNKNOWN_NODE, Violation.BOTH_CASES):
        # RFC 6241 Appendix A: <bad-element> names the element. libyang locates
        # an unknown node at its parent and names it first in the message; of
        # two cases it names the second one last.
        quoted = _QUOTED.findall(message)
        if not quoted:
            return Details(path)
        name = quoted[0] if violation is Violation.UNKNOWN_NODE else quoted[-1]
        return Details(path, info={"bad-element": name.split(":")[-1]})
    if violation is Violation.MAX_ELEMENTS:
        # §15.2: "the error-path identifies the list node" (libyang names the
        # first instance too many).
        return Details(_without_last_predicates(path))
    if violation is Violation.UNIQUE:
        leaves = _non_unique(path, message, context)
        return Details(path, yang_info=tuple(("non-unique", leaf) for leaf in leaves))
    return Details(path)


def must_app_tags(context: Any, module_name: str) -> frozenset[str]:
    """The error-app-tags of every ``must`` in the module (data, RPC input and
    output, notifications)."""
    module = context.get_module(module_name)
    tags: set[str] = set()
    for node in _walk(module.children()):
        for must in _items(lib.lysc_node_musts(node.cdata)):
            if must.eapptag != ffi.NULL:
                tags.add(ffi.string(must.eapptag).decode())
    return frozenset(tags)


def _walk(nodes: Iterator[Any]) -> Iterator[Any]:
    for node in nodes:
        yield node
        if node.keyword() == "rpc" or node.keyword() == "action":
            for inout in (node.input(), node.output()):
                if inout is not None:
                    yield inout
                    yield from _walk(inout.children())
        elif hasattr(node, "children"):
            yield from _walk(node.children())


def _non_unique(path: str, message: str, context: Any) -> list[str]:
    """§15.1: one <non-unique> per leaf that breaks the ``unique``: each unique
    leaf of both entries (libyang locates the second entry; its message names
    both, and the statement)."""
    quoted = _QUOTED.findall(message)
    entries = [q for q in quoted[1:] if q.startswith("/")] or [path]
    relative = _unique_leaves(path, quoted[0] if quoted else "", context)
    return [f"{entry}/{leaf}" for entry in entries for leaf in relative]


def _unique_leaves(entry_path: str, statement: str, context: Any) -> list[str]:
    """The descendant paths of the ``unique`` that failed, from the compiled list."""
    from_message = [name.split(":")[-1] for name in statement.split()]
    try:
        nodes = list(context.find_path(_PREDICATES.sub("", entry_path)))
    except Exception:  # noqa: BLE001 - libyang.LibyangError; any failure: use the message
        nodes = []
    if len(nodes) != 1 or nodes[0].keyword() != "list":
        return from_message
    list_node = ffi.cast("struct lysc_node_list *", nodes[0].cdata)
    if list_node.uniques == ffi.NULL:
        return from_message
    list_path = _schema_path(nodes[0].cdata)
    candidates = [
        [_schema_path(ffi.cast("struct lysc_node *", leaf))[len(list_path) + 1:]
         for leaf in _items(leaves)]
        for leaves in _items(list_node.uniques)
    ]
    for candidate in candidates:
        if [c.rsplit("/", 1)[-1] for c in candidate] == [m.rsplit("/", 1)[-1] for m in from_message]:
            return candidate
    return candidates[0] if len(candidates) == 1 else from_message


def _items(array: Any) -> Iterator[Any]:
    """The items of a libyang sized array (NULL: none)."""
    return iter(ly_array_iter(array))  # type: ignore[no-untyped-call]


def _schema_path(node: Any) -> str:
    text = lib.lysc_path(node, lib.LYSC_PATH_DATA, ffi.NULL, 0)
    try:
        return str(ffi.string(text).decode())
    finally:
        lib.free(text)


def _last_name(path: str) -> str:
    last = _PREDICATES.sub("", path).rstrip("/").rsplit("/", 1)[-1]
    return last.split(":", 1)[-1]


def _parent(path: str) -> str:
    bare = path.rstrip("/")
    depth, quote, cut = 0, "", -1
    for index, char in enumerate(bare):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"" and depth:
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "/" and depth == 0:
            cut = index
    return bare[:cut] if cut > 0 else "/"


def _without_last_predicates(path: str) -> str:
    parent = _parent(path)
    last = path[len(parent):] if parent != "/" else path
    return (parent if parent != "/" else "") + _PREDICATES.sub("", last)


def _first_quoted(message: str) -> str | None:
    match = _QUOTED.search(message)
    return match.group(1) if match else None
