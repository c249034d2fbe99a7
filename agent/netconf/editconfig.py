"""``<config>`` content (RFC 6241 §7.2, §7.3) read into datastore edits.

Reading is strict and happens in three steps:

1. Walk the XML against the schema: every element must be a known node in the
   module's namespace (``unknown-namespace`` / ``unknown-element`` with
   ``<bad-element>``), configuration (``config true``), every list entry must
   carry each key exactly once (``missing-element``), and the only attribute
   allowed is ``nc:operation`` with one of the five values of RFC 6241 §7.2
   (``unknown-attribute`` / ``bad-attribute``). The operations are recorded
   and inherited by descendants, and a copy without attributes is built with
   only what carries a value (a deleted leaf's text is not needed, a deleted
   list entry keeps its keys).
2. libyang parses that copy (types checked, not validated) and prints RFC 7951
   JSON, so every value has its JSON type and canonical form (a key
   ``10.1.2.3/16`` becomes ``10.1.0.0/16``, as the datastore keys it).
3. The edits are emitted in document order, one wherever the operation
   changes: the ``<config>`` as a whole with the default operation (unless it
   is ``none``), then every element whose ``nc:operation`` differs from the one
   it inherits, its value being its subtree without the nested edits (which
   follow it). A merge distributes over its children, so a merged node with
   nested edits is not merged as a whole: only its plain children are, and a
   level merely walked through costs the datastore nothing (a delete of one
   of 10^5 entries re-validates one entry, not the list). The datastore
   applies the list in one transaction.

Deliberate choices where RFC 6241 leaves room:

* With ``default-operation none``, a list entry or presence container that is
  only navigated through must exist (``data-missing``, RFC 6241 §7.2
  "there is not a corresponding level"); leaves without an operation are
  ignored.
* Operations nested inside ``delete`` or ``remove`` are ignored: the subtree
  goes.
* A key leaf may carry no operation other than its entry's or ``merge``.
* A list entry given twice (keys equal once canonical) is ``data-exists``.
* Many sibling entries each with ``create`` become one merge of their list
  once none of them is found (see ``_emit_created_entries``).
* A leaf-list value with an operation of its own is edited through the whole
  leaf-list (the datastore addresses leaf-lists as a whole): ``create`` fails
  with ``data-exists`` when the value is there, ``delete`` with
  ``data-missing`` when it is not, ``merge`` and ``replace`` add it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from agent.datastore.edits import Edit, Operation, Touched, apply_edit
from agent.datastore.errors import DatastoreError, ErrorTag
from agent.datastore.paths import Path, Step, render_path
from agent.datastore.tree import Schema, check_path, lookup
from agent.netconf.errors import BASE_NS, RpcError
from agent.netconf.message_parser import MESSAGES
from agent.netconf.xmldata import DataCodec, NodeKind, SchemaNode
from agent.schema.context import TOP_MEMBER

OPERATION_ATTRIBUTE = f"{{{BASE_NS}}}operation"
_OPERATIONS = {op.value: op for op in Operation}
_REMOVING = (Operation.DELETE, Operation.REMOVE)
#: From this many created entries of one list on, they become one edit.
BULK_CREATE = 64


@dataclass(eq=False, slots=True)
class _Node:
    """One element of the ``<config>``, with what the walk learnt about it."""

    element: etree._Element
    schema: SchemaNode
    parent: _Node | None
    #: The element's own nc:operation.
    operation: Operation | None
    #: The operation in force (own or inherited); None is "none".
    effective: Operation | None
    #: In the copy given to libyang (so it has a JSON value).
    kept: bool
    #: Starts an edit of its own.
    is_root: bool = False
    is_key: bool = False
    roots_below: bool = False
    children: list[_Node] = field(default_factory=list)
    #: Its RFC 7951 JSON value, once libyang has parsed the copy.
    value: Any = None

    def where(self) -> Path:
        """The node's path as written (for an error-path: built only then)."""
        steps: list[Step] = []
        node: _Node | None = self
        while node is not None:
            steps.append(Step(node.schema.name, _key_texts(node)))
            node = node.parent
        return tuple(reversed(steps))


def _key_texts(node: _Node) -> tuple[tuple[str, str], ...]:
    """A list entry's key values as written (the first of each)."""
    found: dict[str, str] = {}
    for child in _elements(node.element):
        local = etree.QName(child).localname
        if local in node.schema.keys and local not in found:
            found[local] = child.text or ""
    return tuple((key, found[key]) for key in node.schema.keys if key in found)


class ConfigReader:
    """Reads ``<config>`` elements against the module (one per Operations)."""

    def __init__(self, codec: DataCodec) -> None:
        self._codec = codec
        self._prefix = f"{{{codec.namespace}}}"

    def read_content(self, config: etree._Element) -> dict[str, Any]:
        """A whole configuration (copy-config, validate): RFC 7951 JSON, no
        operations allowed."""
        nodes, clean = self._walk_config(config, default=Operation.MERGE, allow_operations=False)
        document = self._codec.parse_config(clean)
        for node in nodes:
            node.value = document.get(TOP_MEMBER, {})
            _attach(node)  # refuses an entry given twice
        return document

    def plan(self, config: etree._Element, *, default: Operation | None, explicit: dict[str, Any],
             effective: dict[str, Any], schema: Schema) -> EditPlan:
        """The edits for an edit-config whose target holds ``explicit`` /
        ``effective`` (keyed trees); ``default`` None is default-operation none."""
        nodes, clean = self._walk_config(config, default=default, allow_operations=True)
        document = self._codec.parse_config(clean)
        member = document.get(TOP_MEMBER, {})
        for node in nodes:
            if node.kept:
                node.value = member
                _attach(node)
        plan = EditPlan(explicit, effective, schema)
        if not nodes and default is Operation.REPLACE:
            # RFC 6241 §7.2: the (empty) <config> replaces the whole datastore.
            plan.add(Edit(Operation.REPLACE, (Step(self._codec.top.name),), {}))
        for node in nodes:
            plan.emit(node, (Step(node.schema.name),))
        return plan

    # -- step 1: the walk ---------------------------------------------------------

    def _walk_config(self, config: etree._Element, *, default: Operation | None,
                     allow_operations: bool) -> tuple[list[_Node], list[etree._Element]]:
        """Walk a deep copy of each top element, turning it into the copy for
        libyang on the way (attributes stripped, what carries no value removed):
        copying in C costs far less than building a tree node by node. The
        copy is made on the parse worker (``MESSAGES.copy``): made here, its
        document would take this thread's libxml2 dictionary and intern the
        request's names (the peer's choice) in it for good."""
        nodes: list[_Node] = []
        clean: list[etree._Element] = []
        for copy in MESSAGES.copy(list(_elements(config))):
            node = self._walk(copy, None, default, allow_operations)
            nodes.append(node)
            if node.kept:
                clean.append(copy)
        return nodes, clean

    def _walk(self, element: etree._Element, parent: _Node | None,
              inherited: Operation | None, allow_operations: bool, *,
              is_key: bool = False) -> _Node:
        # Tags are compared as strings, and paths are built only for an error:
        # an edit may hold 10^5 elements.
        tag = element.tag
        prefix = self._prefix
        if not tag.startswith(prefix):
            qname = etree.QName(element)
            raise RpcError("unknown-namespace",
                           f"element {qname.localname!r} is in namespace "
                           f"{qname.namespace or '(none)'!r}, not the module's",
                           path=_render(parent.where() if parent else ()),
                           info={"bad-element": qname.localname,
                                 "bad-namespace": qname.namespace or ""})
        local = tag[len(prefix):]
        top = self._codec.top
        schema = (top if local == top.name else None) if parent is None \
            else parent.schema.children.get(local)
        if schema is None:
            raise RpcError("unknown-element", f"no node {local!r} here",
                           path=_render(parent.where() if parent else ()),
                           info={"bad-element": local})
        node = _Node(element, schema, parent, None, inherited, True, is_key=is_key)
        if not schema.config:
            raise RpcError("invalid-value", "state data (config false) cannot be edited",
                           path=_render(node.where()), info={"bad-element": schema.name})
        operation = None
        if element.keys():
            operation = self._operation(node, allow_operations)
            element.attrib.clear()
        if is_key:
            if operation not in (None, Operation.MERGE, inherited):
                raise RpcError("bad-attribute", f"key leaf {schema.name!r} cannot have its own "
                               "operation", path=_render(node.where()),
                               info={"bad-attribute": "operation", "bad-element": schema.name})
            operation = None
        effective = operation or inherited
        node.operation, node.effective = operation, effective
        node.is_root = not is_key and (
            (parent is None and effective is not None)
            or (operation is not None and operation != inherited))
        node.kept = self._kept(schema, effective, node.is_root, is_key)
        if schema.leafy:
            if len(element) and any(True for _ in _elements(element)):
                raise RpcError("invalid-value", f"{schema.name!r} holds a value, not elements",
                               path=_render(node.where()), info={"bad-element": schema.name})
            return node
        removing = effective in _REMOVING
        keys = schema.keys
        children = node.children
        dropped: list[etree._Element] = []
        for child in element:
            child_tag = child.tag
            if not isinstance(child_tag, str):
                continue  # a comment or processing instruction
            child_is_key = bool(keys) and child_tag.startswith(prefix) \
                and child_tag[len(prefix):] in keys
            if removing and not child_is_key:
                dropped.append(child)  # the subtree goes; only an entry's keys still matter
                continue
            child_node = self._walk(child, node, effective, allow_operations,
                                    is_key=child_is_key)
            children.append(child_node)
            if not child_node.kept:
                dropped.append(child)
            if child_node.is_root or child_node.roots_below:
                node.roots_below = True
        for child in dropped:
            element.remove(child)
        if keys:
            _check_keys(node)
        return node

    @staticmethod
    def _kept(schema: SchemaNode, effective: Operation | None, is_root: bool,
              is_key: bool) -> bool:
        if is_key:
            return True
        if effective in _REMOVING:
            # A deleted leaf-list value or list entry is named by its value or keys.
            return is_root and schema.kind in (NodeKind.LIST, NodeKind.LEAF_LIST)
        if effective is None:
            return not schema.leafy  # "none": only the levels to walk through
        return True

    @staticmethod
    def _operation(node: _Node, allow_operations: bool) -> Operation | None:
        operation: Operation | None = None
        schema = node.schema
        for name, value in node.element.attrib.items():
            if name == OPERATION_ATTRIBUTE and allow_operations:
                operation = _OPERATIONS.get(value.strip())
                if operation is None:
                    raise RpcError("bad-attribute", f"unknown operation {value!r}",
                                   path=_render(node.where()),
                                   info={"bad-attribute": "operation", "bad-element": schema.name})
            else:
                raise RpcError("unknown-attribute", "unexpected attribute "
                               f"{etree.QName(name).localname!r}", path=_render(node.where()),
                               info={"bad-attribute": etree.QName(name).localname,
                                     "bad-element": schema.name})
        return operation


def _check_keys(node: _Node) -> None:
    """Each key of a list entry exactly once (RFC 7950 §7.8.2)."""
    counts = dict.fromkeys(node.schema.keys, 0)
    for child in node.children:
        if child.is_key:
            counts[child.schema.name] += 1
    for key, count in counts.items():
        if count == 0:
            raise RpcError("missing-element", f"list {node.schema.name!r} entry without its key "
                           f"{key!r}", path=_render(node.where()), info={"bad-element": key})
        if count > 1:
            raise RpcError("bad-element", f"key {key!r} given {count} times",
                           path=_render(node.where()), info={"bad-element": key})


# -- step 2: JSON values onto the walk ------------------------------------------------


def _attach(node: _Node) -> None:
    """Give every kept descendant of ``node`` its JSON value (libyang prints list
    entries and leaf-list values in document order), and refuse a list entry
    named twice: libyang does not check that without validating, and the keyed
    tree would silently keep one (``10.1.2.3/8`` and ``10.0.0.0/8`` are one
    entry once canonical)."""
    if not isinstance(node.value, dict):
        return
    seen: dict[str, int] = {}
    keys_seen: set[tuple[str, tuple[str, ...]]] = set()
    for child in node.children:
        if not child.kept:
            continue
        schema = child.schema
        member = node.value.get(schema.name)
        if schema.kind in (NodeKind.LIST, NodeKind.LEAF_LIST):
            index = seen.get(schema.name, 0)
            seen[schema.name] = index + 1
            child.value = member[index] if isinstance(member, list) and index < len(member) else None
            if schema.kind is NodeKind.LIST and isinstance(child.value, dict):
                key = (schema.name, tuple(_key_text(child.value.get(k)) for k in schema.keys))
                if key in keys_seen:
                    raise RpcError("data-exists", "the same list entry is given twice (keys "
                                   "equal in canonical form)", path=_render(child.where()),
                                   info={"bad-element": schema.name})
                keys_seen.add(key)
        else:
            child.value = member
        _attach(child)


# -- step 3: the edits ---------------------------------------------------------------


class EditPlan:
    """The edits of one edit-config, and the target's explicit tree as they
    leave it (computed only when needed: leaf-list values, "none" checks,
    test-only)."""

    def __init__(self, explicit: dict[str, Any], effective: dict[str, Any], schema: Schema) -> None:
        self.edits: list[Edit] = []
        self._tree = explicit
        self._effective = effective
        self._schema = schema
        self._applied = 0

    def add(self, edit: Edit) -> None:
        self.edits.append(edit)

    def result(self) -> dict[str, Any]:
        """The target's explicit configuration after the edits (keyed tree)."""
        for edit in self.edits[self._applied:]:
            check_path(edit.path, self._schema)
            self._tree = apply_edit(self._tree, edit, self._schema, Touched())
        self._applied = len(self.edits)
        return self._tree

    def emit(self, node: _Node, path: Path) -> None:
        """The edits for ``node`` and its subtree, in document order."""
        if node.is_key:
            return
        operation = node.effective
        done: set[int] = set()
        if operation is None:
            self._check_level(node, path)
        elif node.is_root and node.schema.kind is NodeKind.LEAF_LIST:
            self._emit_leaf_list_value(node, path)
            return
        elif operation in _REMOVING:
            if node.is_root:
                self.add(Edit(operation, path))
            return
        elif operation is Operation.MERGE:
            # A merge root, or a merged node on the way to nested edits.
            if not node.roots_below:
                self.add(Edit(Operation.MERGE, path, node.value))
                return
            # Removals first: a merge that switches a choice to another case
            # removes the old case's nodes (RFC 7950 §7.9), so a delete of
            # them in the same request must come before it.
            for child in node.children:
                if child.is_root and not child.is_key and child.effective in _REMOVING:
                    self.emit(child, (*path, self._step(child)))
                    done.add(id(child))
            self._emit_split_merge(node, path)
        elif node.is_root:
            self.add(Edit(operation, path, _value(node)))
        created: dict[str, list[_Node]] = {}
        for child in node.children:
            if id(child) in done:
                continue
            if child.is_key or not (child.is_root or child.roots_below or child.effective is None):
                continue
            if (child.is_root and child.effective is Operation.CREATE
                    and child.schema.kind is NodeKind.LIST and not child.roots_below):
                created.setdefault(child.schema.name, []).append(child)
                continue
            self.emit(child, (*path, self._step(child)))
        for entries in created.values():
            self._emit_created_entries(entries, path)

    def _emit_created_entries(self, entries: list[_Node], path: Path) -> None:
        """Sibling entries of one list, each with nc:operation="create". Many
        of them become one merge of the list once none is found to exist (the
        datastore copies a list per edit: 10^4 edits would cost 10^8 steps);
        a few stay edits of their own (the datastore then re-validates only
        them, not the whole list). An entry is never named twice in one
        <config> (``_attach`` refuses it), so the order is free."""
        if len(entries) < BULK_CREATE:
            for entry in entries:
                self.add(Edit(Operation.CREATE, (*path, self._step(entry)), entry.value))
            return
        tree = self.result()
        for entry in entries:
            entry_path = (*path, self._step(entry))
            # (A key spelt otherwise by an earlier writer is caught by the
            # datastore's canonical-key check.)
            if lookup(tree, entry_path[1:]) is not None:
                raise DatastoreError(ErrorTag.DATA_EXISTS, "already exists",
                                     path=render_path(entry_path))
        self.add(Edit(Operation.MERGE, (*path, Step(entries[0].schema.name)),
                      [entry.value for entry in entries]))

    def _emit_split_merge(self, node: _Node, path: Path) -> None:
        """Merge distributes over children, so a merged node with nested edits
        is merged without them: its plain children in one edit, its children
        with nested edits one by one (``emit`` continues with them). A merge
        that only walks through a level edits nothing there, so the datastore
        re-validates only what changed."""
        plain: dict[str, Any] = {}
        for child in node.children:
            if child.is_key or child.is_root or child.roots_below or not child.kept:
                continue
            if child.schema.kind in (NodeKind.LIST, NodeKind.LEAF_LIST):
                plain.setdefault(child.schema.name, []).append(child.value)
            else:
                plain[child.schema.name] = child.value
        if node.schema.kind is NodeKind.LIST:
            # The entry exists afterwards, whatever its children do.
            entry = node.value if isinstance(node.value, dict) else {}
            keys = {key: entry[key] for key in node.schema.keys if key in entry}
            self.add(Edit(Operation.MERGE, path, {**keys, **plain}))
        elif node.schema.presence or plain:
            self.add(Edit(Operation.MERGE, path, plain))

    def _step(self, node: _Node) -> Step:
        if node.schema.kind is not NodeKind.LIST:
            return Step(node.schema.name)
        entry = node.value if isinstance(node.value, dict) else {}
        return Step(node.schema.name, tuple((key, _key_text(entry.get(key)))
                                            for key in node.schema.keys))

    def _check_level(self, node: _Node, path: Path) -> None:
        """default-operation none: a level walked through must exist."""
        if node.schema.kind is NodeKind.LIST or node.schema.presence:
            below_top = path[1:]
            if lookup(self.result(), below_top) is None and lookup(self._effective, below_top) is None:
                raise DatastoreError(ErrorTag.DATA_MISSING,
                                     "no such node (default-operation is none)",
                                     path=render_path(path))

    def _emit_leaf_list_value(self, node: _Node, path: Path) -> None:
        value = node.value
        current = lookup(self.result(), path[1:])
        values = list(current) if isinstance(current, list) else []
        operation = node.effective
        if operation in _REMOVING:
            if value not in values:
                if operation is Operation.DELETE:
                    raise DatastoreError(ErrorTag.DATA_MISSING, "no such value",
                                         path=render_path(path))
                return
            rest = [v for v in values if v != value]
            self.add(Edit(Operation.REPLACE, path, rest) if rest else Edit(Operation.REMOVE, path))
            return
        if operation is Operation.CREATE and value in values:
            raise DatastoreError(ErrorTag.DATA_EXISTS, "value already present",
                                 path=render_path(path))
        self.add(Edit(Operation.MERGE, path, [value]))


def _value(node: _Node) -> Any:
    """The JSON value of an edit's root, without the subtrees that are edits of
    their own."""
    if not node.roots_below:
        return node.value
    out: dict[str, Any] = {}
    for child in node.children:
        if not child.kept or child.is_root:
            continue
        value = _value(child)
        if child.schema.kind in (NodeKind.LIST, NodeKind.LEAF_LIST):
            out.setdefault(child.schema.name, []).append(value)
        else:
            out[child.schema.name] = value
    return out


def _key_text(value: Any) -> str:
    """A key's JSON value as the datastore keys it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _render(path: Path) -> str:
    return render_path(path) if path else "/"


def _elements(element: etree._Element) -> Iterator[etree._Element]:
    """Child elements (comments and processing instructions skipped)."""
    return (child for child in element if isinstance(child.tag, str))
