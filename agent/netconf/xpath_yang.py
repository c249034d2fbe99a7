"""The YANG XPath functions (RFC 7950 §10) that an RFC 8526 ``xpath-filter``
may call (ietf-netconf-nmda: "the function library is the core function
library, and the XPath functions defined in Section 10 of RFC 7950"), as lxml
extension functions in no namespace.

Provided: ``re-match`` (§10.2.1; the XSD pattern is matched whole with
Python's ``re``, which covers the XSD syntax YANG patterns use except the
``\\i``/``\\c`` escapes and character class subtraction: such a pattern is an
error), ``derived-from`` and ``derived-from-or-self`` (§10.4.1-2, over the
identities of every module of the server's YANG library), ``bit-is-set``
(§10.6.1: a bits value is its space-separated bit names, RFC 7950 §9.7.2).
Not provided, because the filter runs over reply XML without the schema:
``current()`` (§10.1.1), ``deref()`` (§10.3.1) and ``enum-value()``
(§10.5.1): calling one is an unregistered function, so ``invalid-value``.

RFC 6241's <filter type="xpath"> keeps the core function library alone
(§8.9.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

#: (module namespace, identity name)
Identity = tuple[str, str]


@dataclass(frozen=True)
class IdentityTable:
    """Every identity of a set of modules and its bases (RFC 7950 §7.18)."""

    bases: Mapping[Identity, frozenset[Identity]]

    @classmethod
    def from_files(cls, modules: Iterable[tuple[str, str, Path]]) -> IdentityTable:
        """From the YANG texts of ``(name, namespace, file)``."""
        modules = list(modules)
        namespaces = {name: namespace for name, namespace, _ in modules}
        bases: dict[Identity, frozenset[Identity]] = {}
        for name, namespace, file in modules:
            text = _strip_comments(file.read_text(encoding="utf-8"))
            prefixes = {_own_prefix(text): namespace}
            for imported, prefix in re.findall(
                    r'\bimport\s+"?([\w.-]+)"?\s*\{[^{}]*?\bprefix\s+"?([\w.-]+)"?', text):
                if imported in namespaces:
                    prefixes[prefix] = namespaces[imported]
            for identity, body in _statements(text, "identity"):
                found = set()
                for base in re.findall(r'\bbase\s+"?([\w.:-]+)"?\s*;', body):
                    prefix, _, local = base.rpartition(":")
                    base_namespace = prefixes.get(prefix) if prefix else namespace
                    if base_namespace is not None:
                        found.add((base_namespace, local))
                bases[(namespace, identity)] = frozenset(found)
        return cls(bases)

    def derived(self, identity: Identity, base: Identity) -> bool:
        """Whether ``identity`` derives from ``base`` (not equal to it)."""
        seen: set[Identity] = set()
        pending = list(self.bases.get(identity, ()))
        while pending:
            current = pending.pop()
            if current == base:
                return True
            if current not in seen:
                seen.add(current)
                pending.extend(self.bases.get(current, ()))
        return False


def yang_functions(namespaces: Mapping[str, str],
                   identities: IdentityTable) -> dict[tuple[None, str], Callable[..., Any]]:
    """The extension functions, ``namespaces`` being the expression's prefixes."""

    def identity_argument(text: str) -> Identity | None:
        prefix, _, name = str(text).rpartition(":")
        namespace = namespaces.get(prefix) if prefix else None
        return None if namespace is None else (namespace, name)

    def node_identities(nodes: Any) -> Iterable[Identity]:
        for node in nodes if isinstance(nodes, list) else ():
            element = node if isinstance(node, etree._Element) else None
            if element is None or not isinstance(element.tag, str):
                continue
            prefix, _, name = (element.text or "").strip().rpartition(":")
            # An identityref's prefix is an XML namespace prefix in scope
            # (RFC 7950 §9.10.3); none is the element's own namespace.
            namespace = element.nsmap.get(prefix) if prefix else etree.QName(element).namespace
            if namespace is not None:
                yield (namespace, name)

    def derived_from(context: Any, nodes: Any, identity: Any) -> bool:
        base = identity_argument(identity)
        return base is not None and any(identities.derived(found, base)
                                        for found in node_identities(nodes))

    def derived_from_or_self(context: Any, nodes: Any, identity: Any) -> bool:
        base = identity_argument(identity)
        return base is not None and any(found == base or identities.derived(found, base)
                                        for found in node_identities(nodes))

    def re_match(context: Any, subject: Any, pattern: Any) -> bool:
        if re.search(r"\\[ic]|-\[", str(pattern)):
            raise ValueError(f"XSD pattern feature not supported: {pattern!r}")
        return re.fullmatch(str(pattern), _string(subject)) is not None

    def bit_is_set(context: Any, nodes: Any, bit: Any) -> bool:
        if not isinstance(nodes, list) or not nodes:
            return False
        return str(bit) in _string(nodes[:1]).split()

    return {(None, "derived-from"): derived_from,
            (None, "derived-from-or-self"): derived_from_or_self,
            (None, "re-match"): re_match,
            (None, "bit-is-set"): bit_is_set}


def _string(value: Any) -> str:
    """XPath 1.0 §4.2 string(): a node-set is its first node's string-value."""
    if isinstance(value, list):
        if not value:
            return ""
        first = value[0]
        return "".join(first.itertext()) if isinstance(first, etree._Element) else str(first)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _strip_comments(text: str) -> str:
    """YANG text without // and /* */ comments (quoted strings kept)."""
    out = []
    position = 0
    while position < len(text):
        char = text[position]
        if char in "\"'":
            end = position + 1
            while end < len(text) and text[end] != char:
                end += 2 if char == '"' and text[end] == "\\" else 1
            out.append(text[position:end + 1])
            position = end + 1
        elif text.startswith("//", position):
            end = text.find("\n", position)
            position = len(text) if end < 0 else end
        elif text.startswith("/*", position):
            end = text.find("*/", position + 2)
            position = len(text) if end < 0 else end + 2
        else:
            out.append(char)
            position += 1
    return "".join(out)


def _own_prefix(text: str) -> str:
    found = re.search(r'^\s*prefix\s+"?([\w.-]+)"?\s*;', text, re.MULTILINE)
    return found.group(1) if found else ""


def _statements(text: str, keyword: str) -> Iterable[tuple[str, str]]:
    """Each ``keyword NAME { body }`` (or ``keyword NAME;``): name and body,
    braces inside quoted strings skipped."""
    for match in re.finditer(rf'\b{keyword}\s+"?([\w.-]+)"?\s*([{{;])', text):
        if match.group(2) == ";":
            yield match.group(1), ""
            continue
        depth, position = 1, match.end()
        while position < len(text) and depth:
            char = text[position]
            if char in "\"'":
                end = text.find(char, position + 1)
                position = len(text) if end < 0 else end + 1
                continue
            depth += {"{": 1, "}": -1}.get(char, 0)
            position += 1
        yield match.group(1), text[match.end():position - 1]
