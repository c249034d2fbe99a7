"""Configuration trees: RFC 7951 JSON content of the top container, with every
YANG list held as ``Entries`` (key tuple -> entry) so that an entry is found in
O(1) and an edit copies only the path from the root to what it changes (the
trees are persistent: an edit builds a new root, unchanged subtrees are shared,
as yangson's instance trees are)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import libyang
from _libyang import ffi, lib

from agent.datastore.errors import DatastoreError, ErrorTag
from agent.datastore.paths import Path, Step, render_path
from agent.schema.context import MODULE_NAME, yang_dir

NamePath = tuple[str, ...]


class Entries(dict[tuple[str, ...], dict[str, Any]]):
    """A YANG list: key values (as canonical strings) -> entry, in user order."""


@dataclass(frozen=True)
class Schema:
    """What the datastore needs to know of the module: where lists are and their
    keys, which nodes are leaf-lists, which are state (config false)."""

    lists: dict[NamePath, tuple[str, ...]]
    #: List keys whose RFC 7951 encoding is a JSON number (8-32 bit integers).
    numeric_keys: dict[NamePath, frozenset[str]]
    leaf_lists: frozenset[NamePath]
    #: For a container or list entry (by its path): the member names of each
    #: case of each choice directly inside it (RFC 7950 §7.9).
    choices: dict[NamePath, tuple[tuple[frozenset[str], ...], ...]]
    state: frozenset[NamePath]
    known: frozenset[NamePath]

    @classmethod
    def load(cls) -> Schema:
        context = libyang.Context(str(yang_dir()))
        try:
            module = context.load_module(MODULE_NAME)
            lists: dict[NamePath, tuple[str, ...]] = {}
            numeric: dict[NamePath, frozenset[str]] = {}
            leaf_lists: set[NamePath] = set()
            choices: dict[NamePath, list[tuple[frozenset[str], ...]]] = {}
            state: set[NamePath] = set()
            known: set[NamePath] = set()

            def walk(node: Any, prefix: NamePath) -> None:
                # libyang-python's children() and parent() step over choice
                # and case nodes: read the case from the compiled node itself.
                by_choice: dict[str, dict[str, set[str]]] = {}
                for child in node.children():
                    parent = child.cdata.parent
                    if parent != ffi.NULL and parent.nodetype == lib.LYS_CASE:
                        choice = ffi.string(parent.parent.name).decode()
                        case = ffi.string(parent.name).decode()
                        by_choice.setdefault(choice, {}).setdefault(case, set()).add(child.name())
                for cases in by_choice.values():
                    choices.setdefault(prefix, []).append(
                        tuple(frozenset(members) for members in cases.values())
                    )
                for child in node.children():
                    keyword = child.keyword()
                    path = (*prefix, child.name())
                    known.add(path)
                    if child.config_false():
                        state.add(path)
                    if keyword == "list":
                        lists[path] = tuple(k.name() for k in child.keys())
                        numeric[path] = frozenset(
                            k.name() for k in child.keys() if k.type().basename() in _JSON_NUMBERS
                        )
                    elif keyword == "leaf-list":
                        leaf_lists.add(path)
                    if keyword in ("container", "list", "choice", "case"):
                        walk(child, path)

            for top in module.children():
                if top.keyword() in ("container", "list"):
                    known.add((top.name(),))
                    walk(top, (top.name(),))
            return cls(
                lists, numeric, frozenset(leaf_lists),
                {k: tuple(v) for k, v in choices.items()}, frozenset(state), frozenset(known),
            )
        finally:
            context.destroy()

    def key_of(self, names: NamePath, entry: dict[str, Any]) -> tuple[str, ...]:
        try:
            return tuple(_canonical(entry[k]) for k in self.lists[names])
        except KeyError as exc:
            raise DatastoreError(
                ErrorTag.MISSING_ELEMENT, f"list entry without key {exc.args[0]!r}",
                path="/" + "/".join(names),
            ) from None


#: RFC 7951 §6.1: these integer types are JSON numbers (64-bit ones are strings).
_JSON_NUMBERS = frozenset({"int8", "int16", "int32", "uint8", "uint16", "uint32"})


def typed_keys(schema: Schema, names: NamePath, keys: dict[str, str]) -> dict[str, Any]:
    """Key values from a path predicate, in their RFC 7951 JSON type."""
    numeric = schema.numeric_keys.get(names, frozenset())
    out: dict[str, Any] = {}
    for name, value in keys.items():
        if name in numeric:
            try:
                out[name] = int(value)
            except ValueError:
                raise DatastoreError(
                    ErrorTag.INVALID_VALUE, f"key {name!r} must be an integer", path="/" + "/".join(names)
                ) from None
        else:
            out[name] = value
    return out


def _canonical(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flat(node: dict[str, Any]) -> bool:
    """A node whose members are all leaves (no container, list or leaf-list):
    the common list entry, converted without recursion."""
    for value in node.values():
        if isinstance(value, (dict, list)):
            return False
    return True


def to_keyed(value: Any, names: NamePath, schema: Schema) -> Any:
    """RFC 7951 JSON (lists as arrays) -> keyed tree below ``names``."""
    if names in schema.lists and isinstance(value, list):
        entries = Entries()
        key_of = schema.key_of
        entry_names = names + ("",)
        for entry in value:
            if isinstance(entry, dict) and _flat(entry) and not any(":" in k for k in entry):
                entries[key_of(names, entry)] = dict(entry)
            else:
                entries[key_of(names, entry)] = to_keyed(entry, entry_names, schema)
        return entries
    if isinstance(value, dict):
        base = names[:-1] if names and names[-1] == "" else names
        return {k: to_keyed(v, (*base, _local(k)), schema) for k, v in value.items()}
    return value


def _local(member: str) -> str:
    return member.split(":", 1)[1] if ":" in member else member


def to_json(value: Any) -> Any:
    """Keyed tree -> RFC 7951 JSON (lists as arrays, in user order). Trees are
    never modified in place, so leaf-only nodes are shared, not copied."""
    if isinstance(value, Entries):
        return [entry if _flat(entry) else to_json(entry) for entry in value.values()]
    if isinstance(value, dict):
        if _flat(value):
            return value
        return {k: to_json(v) for k, v in value.items()}
    return value


def lookup(tree: Any, path: Path) -> Any:
    """The node at ``path`` (below the top container), or None."""
    node = tree
    for step in path:
        if not isinstance(node, dict):
            return None
        node = node.get(step.name)
        if node is None:
            return None
        if step.keys:
            if not isinstance(node, Entries):
                return None
            node = node.get(tuple(v for _, v in step.keys))
            if node is None:
                return None
    return node


def names_of(path: Path) -> NamePath:
    return tuple(step.name for step in path)


def check_path(path: Path, schema: Schema, *, top: str = "mobile-ip") -> None:
    """The path names existing config nodes; list steps carry all their keys."""
    if not path or path[0].name != top:
        raise DatastoreError(ErrorTag.UNKNOWN_ELEMENT, "unknown top-level node", path=render_path(path))
    names: NamePath = ()
    for depth, step in enumerate(path, start=1):
        names = (*names, step.name)
        if names not in schema.known:
            raise DatastoreError(ErrorTag.UNKNOWN_ELEMENT, f"no node {step.name!r} here", path=render_path(path))
        if names in schema.state:
            raise DatastoreError(
                ErrorTag.INVALID_VALUE, "state data (config false) cannot be edited", path=render_path(path)
            )
        if names in schema.lists and not step.keys and depth < len(path):
            # Only the last step may name a whole list: below it, an entry is meant.
            raise DatastoreError(
                ErrorTag.MISSING_ELEMENT, f"list {step.name!r} needs its keys here", path=render_path(path)
            )
        if step.keys:
            expected = schema.lists.get(names)
            if expected is None or tuple(k for k, _ in step.keys) != expected:
                raise DatastoreError(
                    ErrorTag.MISSING_ELEMENT,
                    f"list {step.name!r} is keyed by {expected}",
                    path=render_path(path),
                )
