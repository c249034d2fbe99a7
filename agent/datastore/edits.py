"""Edits on keyed configuration trees (RFC 6241 §7.2 operations: merge, replace,
create, delete, remove), copy-on-write: the old tree is never modified."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from agent.datastore.errors import DatastoreError, ErrorTag
from agent.datastore.paths import Path, render_path
from agent.datastore.tree import Entries, NamePath, Schema, names_of, to_keyed, typed_keys


class Operation(enum.Enum):
    MERGE = "merge"
    REPLACE = "replace"
    CREATE = "create"
    DELETE = "delete"
    REMOVE = "remove"


@dataclass(frozen=True)
class Edit:
    operation: Operation
    path: Path
    #: RFC 7951 JSON content of the target node (absent for delete/remove).
    value: Any = None


@dataclass
class Touched:
    """What an edit touched in each list: keys, or None for "the whole list"."""

    lists: dict[NamePath, set[tuple[str, ...]] | None] = field(default_factory=dict)

    def add(self, names: NamePath, key: tuple[str, ...] | None) -> None:
        if key is None:
            self.lists[names] = None
        else:
            current = self.lists.setdefault(names, set())
            if current is not None:
                current.add(key)


def apply_edit(tree: dict[str, Any], edit: Edit, schema: Schema, touched: Touched) -> dict[str, Any]:
    """The tree after ``edit`` (``tree`` is the content of the top container; the
    path's first step names the top container)."""
    path = edit.path
    if edit.operation in (Operation.MERGE, Operation.REPLACE, Operation.CREATE) and edit.value is None:
        raise DatastoreError(ErrorTag.MISSING_ELEMENT, "this operation needs a value", path=render_path(path))
    if len(path) == 1:  # the top container itself
        for list_names in schema.lists:
            touched.add(list_names, None)
        result = _terminal(tree or None, names_of(path), edit, schema)
        return result if isinstance(result, dict) else {}
    return _apply(tree, path[1:], names_of(path[:1]), edit, schema, touched)


def _apply(node: dict[str, Any], rest: Path, names: NamePath, edit: Edit, schema: Schema,
           touched: Touched) -> dict[str, Any]:
    step, tail = rest[0], rest[1:]
    child_names = (*names, step.name)
    new = dict(node)
    child = node.get(step.name)
    if step.keys:
        entries = child if isinstance(child, Entries) else Entries()
        key = tuple(v for _, v in step.keys)
        entry = entries.get(key)
        if not tail:
            touched.add(child_names, key)
            result = _terminal(
                entry, child_names + ("",), edit, schema,
                entry_keys=typed_keys(schema, child_names, dict(step.keys)),
            )
            entries = Entries(entries)
            if result is None:
                entries.pop(key, None)
            else:
                entries[key] = result
        else:
            if entry is None:
                if edit.operation in (Operation.DELETE,):
                    raise DatastoreError(ErrorTag.DATA_MISSING, "no such entry", path=render_path(edit.path))
                if edit.operation is Operation.REMOVE:
                    return node
                entry = typed_keys(schema, child_names, dict(step.keys))
            touched.add(child_names, key)
            entries = Entries(entries)
            entries[key] = _apply(entry, tail, child_names, edit, schema, touched)
        if entries:
            new[step.name] = entries
        else:
            new.pop(step.name, None)
        return new
    if not tail:
        # Every list at or below the target may change as a whole.
        for list_names in schema.lists:
            if list_names[: len(child_names)] == child_names:
                touched.add(list_names, None)
        result = _terminal(child, child_names, edit, schema)
        if result is None:
            new.pop(step.name, None)
        else:
            new[step.name] = result
        return new
    if child is None:
        if edit.operation is Operation.DELETE:
            raise DatastoreError(ErrorTag.DATA_MISSING, "no such node", path=render_path(edit.path))
        if edit.operation is Operation.REMOVE:
            return node
        child = {}
    new[step.name] = _apply(child, tail, child_names, edit, schema, touched)
    return new


def _terminal(current: Any, names: NamePath, edit: Edit, schema: Schema,
              entry_keys: dict[str, str] | None = None) -> Any:
    op = edit.operation
    if op in (Operation.DELETE, Operation.REMOVE):
        if current is None and op is Operation.DELETE:
            raise DatastoreError(ErrorTag.DATA_MISSING, "nothing to delete", path=render_path(edit.path))
        return None
    if op is Operation.CREATE and current is not None:
        raise DatastoreError(ErrorTag.DATA_EXISTS, "already exists", path=render_path(edit.path))
    value = edit.value
    if entry_keys is not None:
        if not isinstance(value, dict):
            raise DatastoreError(ErrorTag.INVALID_VALUE, "a list entry is an object", path=render_path(edit.path))
        for key, key_value in entry_keys.items():
            if key in value and str(value[key]) != str(key_value):
                raise DatastoreError(
                    ErrorTag.INVALID_VALUE, f"key {key!r} differs from the path", path=render_path(edit.path)
                )
        value = {**entry_keys, **value}
    incoming = to_keyed(value, names, schema)
    if op is Operation.REPLACE or current is None:
        return incoming
    base = names[:-1] if names and names[-1] == "" else names
    return merge(current, incoming, base, schema)


def merge(current: Any, incoming: Any, names: NamePath = (), schema: Schema | None = None) -> Any:
    """RFC 6241 §7.2 merge: containers and list entries recursively, leaf-lists
    as a union, leaves replaced. Creating a member of one case of a choice
    removes the members of the other cases (RFC 7950 §7.9)."""
    if isinstance(current, Entries) and isinstance(incoming, Entries):
        out = Entries(current)
        for key, entry in incoming.items():
            out[key] = merge(out[key], entry, names, schema) if key in out else entry
        return out
    if isinstance(current, dict) and isinstance(incoming, dict):
        out_dict = dict(current)
        if schema is not None:
            for choice in schema.choices.get(names, ()):
                for case in choice:
                    if case & incoming.keys():
                        for other in choice:
                            if other is not case:
                                for member in other:
                                    out_dict.pop(member, None)
        for name, value in incoming.items():
            child = (*names, name)
            out_dict[name] = (
                merge(out_dict[name], value, child, schema) if name in out_dict else value
            )
        return out_dict
    if isinstance(current, list) and isinstance(incoming, list):
        return current + [v for v in incoming if v not in current]
    return incoming
