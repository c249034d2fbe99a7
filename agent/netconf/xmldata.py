"""The module's data in XML (RFC 7950 §7) and in RFC 7951 JSON, converted by
libyang, plus the little of the schema the NETCONF operations walk by hand.

libyang does every value conversion (numbers, booleans, decimal64, 64-bit
integers, bits, empty, unions, canonical forms), so XML and JSON cannot drift
apart. Data is parsed "parse only" (types checked, no validation): the
datastore validates whole configurations; an edit's fragment need not be valid
on its own.

Errors become ``RpcError``s that never quote key material: libyang quotes the
offending value in its messages, so a message about a sensitive leaf (one
marked ``nacm:default-deny-all``: keys, secrets, password hashes) or a message
without a data path has its quoted parts redacted, and any sensitive value of
the request is scrubbed from every message.

libyang's log settings are process-wide (see ``agent.schema.context``): call from
one thread at a time.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libyang
from _libyang import ffi, lib  # type: ignore[import-not-found]  # libyang-python's cffi module
from lxml import etree

from agent.netconf.errors import BASE_NS, RpcError, yang_info_elements

# The schema core's libyang plumbing: a context that keeps libyang's structured
# errors, and the "log nothing, record paths" switch.
from agent.schema import violations
from agent.schema.context import (
    MODULE_NAME,
    TOP_MEMBER,
    LibyangError,
    RecordingContext,
    quiet_libyang,
)
from agent.schema.errors import VIOLATIONS

_DATA_LOCATION = re.compile(r'Data location "([^"]*)"')
_SCHEMA_LOCATION = re.compile(r'Schema location "([^"]*)"')
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_SYNTAX_CODES = frozenset({lib.LYVE_SYNTAX, lib.LYVE_SYNTAX_XML, lib.LYVE_SYNTAX_JSON})
_MIN_SCRUBBED = 4
REDACTED = "<redacted>"


class NodeKind(enum.Enum):
    CONTAINER = "container"
    LIST = "list"
    LEAF = "leaf"
    LEAF_LIST = "leaf-list"


@dataclass(frozen=True, eq=False)
class SchemaNode:
    """A data node of the module (choices and cases are see-through, as in XML)."""

    name: str
    kind: NodeKind
    #: Names from the top container down to this node, the top's included.
    names: tuple[str, ...]
    config: bool = True
    presence: bool = False
    keys: tuple[str, ...] = ()
    #: Marked ``nacm:default-deny-all`` (RFC 8341 §3.5.2): never quoted in errors.
    sensitive: bool = False
    #: A value that may hold namespace prefixes (identityref, instance-identifier).
    prefixed: bool = False
    children: Mapping[str, SchemaNode] = field(default_factory=dict)
    #: A leaf or leaf-list.
    leafy: bool = False


#: Replies can hold 100,000 list entries: lift libxml2's node-count guard (the
#: text is our own, printed by libyang or statexml, never a client's).
_LARGE_PARSER = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)


class DataCodec:
    """One libyang context with the module loaded, for conversions and parsing."""

    def __init__(self, directory: Path) -> None:
        with quiet_libyang():
            self._context = RecordingContext(str(directory))
            try:
                module = self._context.load_module(MODULE_NAME)
            except libyang.LibyangError:
                detail = "; ".join(e.message for e in self._context.recorded) or "not found"
                self._context.destroy()  # type: ignore[no-untyped-call]
                raise RuntimeError(f"cannot load YANG module {MODULE_NAME} from {directory}: "
                                   f"{detail}") from None
        self.module_name = MODULE_NAME
        self.namespace: str = ffi.string(module.cdata.ns).decode()
        revisions = [r.date() for r in module.revisions()]
        #: The newest revision (RFC 7950 §7.1.9: listed newest first).
        self.revision: str | None = max(revisions) if revisions else None
        self.yang_file = Path(module.filepath() or directory / f"{MODULE_NAME}.yang")
        self.rpcs: frozenset[str] = frozenset(
            c.name() for c in module.children() if c.keyword() == "rpc")
        tops = [c for c in module.children() if c.keyword() == "container"]
        if len(tops) != 1:
            raise RuntimeError(f"{MODULE_NAME} must have exactly one top-level container")
        self.top = _schema_node(tops[0], ())
        self.sensitive_names = frozenset(_sensitive_names(self.top))

    def close(self) -> None:
        self._context.destroy()  # type: ignore[no-untyped-call]

    def node(self, names: Iterable[str]) -> SchemaNode | None:
        """The schema node at ``names`` (the top container's name first)."""
        names = tuple(names)
        if not names or names[0] != self.top.name:
            return None
        node: SchemaNode | None = self.top
        for name in names[1:]:
            node = node.children.get(name) if node is not None else None
        return node

    def list_keys(self, names: tuple[str, ...]) -> tuple[str, ...]:
        node = self.node(names)
        return node.keys if node is not None and node.kind is NodeKind.LIST else ()

    # -- JSON -> XML -------------------------------------------------------------

    def to_data(self, document: Mapping[str, Any], *, trim: bool = False,
                inner_xml: str = "") -> etree._Element:
        """``<data>`` (NETCONF base namespace) holding ``document`` (RFC 7951 JSON,
        the top container's member) in XML; ``trim`` drops every leaf equal to
        its default (RFC 6243 §3.2)."""
        xml = ""
        if document:
            try:
                xml = self._libyang(
                    lambda: self._context.parse_data_mem(json.dumps(document), "json",
                                                         parse_only=True, strict=True),
                    lambda tree: tree.print_mem("xml", with_siblings=True, pretty=False,
                                                trim_default_values=trim),
                    tag="operation-failed")
            except RpcError as failure:
                # The server's own data does not fit its module: a bug, not the client's.
                failure.message = f"the server's data does not fit its YANG module: {failure.message}"
                raise
        if inner_xml:
            # More children of the module's top element, already XML (live
            # state): spliced into the text so that lxml parses everything
            # once — moving subtrees between lxml documents costs O(n^2).
            top = self.top.name
            closing = f"</{top}>"
            at = xml.rfind(closing)
            if at >= 0:
                xml = xml[:at] + inner_xml + xml[at:]
            else:
                xml += f'<{top} xmlns="{self.namespace}">{inner_xml}</{top}>'
        data = etree.fromstring(f'<data xmlns="{BASE_NS}">{xml}</data>', _LARGE_PARSER)
        if trim:
            # libyang keeps a non-presence container whose leaves were all
            # trimmed; it holds nothing (RFC 7950 §7.5.1), so it goes too.
            for top in list(data):
                if isinstance(top.tag, str) and etree.QName(top).localname == self.top.name:
                    _drop_empty_containers(top, self.top)
                    if len(top) == 0:
                        data.remove(top)
        return data

    # -- XML -> JSON -------------------------------------------------------------

    def parse_config(self, elements: list[etree._Element]) -> dict[str, Any]:
        """RFC 7951 JSON of configuration data in XML (top-level elements),
        types checked but not validated; ``{}`` when there is none."""
        if not elements:
            return {}
        text = b"".join(etree.tostring(e) for e in elements)
        printed = self._libyang(
            lambda: self._context.parse_data_mem(text, "xml", parse_only=True, strict=True,
                                                 no_state=True),
            lambda tree: tree.print_mem("json", with_siblings=True, pretty=False,
                                        keep_empty_containers=True),
            tag="invalid-value",
            sensitive=lambda: [v for e in elements for v in _texts_of(e, self.sensitive_names)])
        document: dict[str, Any] = json.loads(printed or "{}")
        return document

    def parse_rpc(self, element: etree._Element) -> dict[str, Any]:
        """The validated input of a module RPC (RFC 7950 §7.14.2) as RFC 7951
        JSON (defaults included), without the RPC's own member."""
        name = etree.QName(element).localname

        def validated_json(tree: Any) -> str | bytes:
            tree.validate(rpc=True)
            return tree.print_mem("json", with_siblings=True, pretty=False,  # type: ignore[no-any-return]
                                  include_implicit_defaults=True)

        printed = self._libyang(
            lambda: self._context.parse_op_mem("xml", etree.tostring(element).decode(),
                                               dtype=libyang.DataType.RPC_YANG),
            validated_json,
            tag="invalid-value",
            sensitive=lambda: list(_texts_of(element, self.sensitive_names)))
        document = json.loads(printed or "{}")
        content: dict[str, Any] = document.get(f"{MODULE_NAME}:{name}", {}) or {}
        return content

    def rpc_output(self, name: str, output: Mapping[str, Any]) -> list[etree._Element]:
        """The output of a module RPC (RFC 7951 JSON, without the RPC's member)
        as the XML elements that go into ``<rpc-reply>`` (RFC 7950 §7.14.4),
        validated against the output statement (a missing mandatory output
        node is the handler's bug: operation-failed)."""
        document = json.dumps({f"{MODULE_NAME}:{name}": dict(output)})

        def validated_xml(tree: Any) -> str | bytes:
            tree.validate(rpcreply=True)
            return tree.print_mem("xml", with_siblings=True, pretty=False)  # type: ignore[no-any-return]

        try:
            xml = self._libyang(
                lambda: self._context.parse_op_mem("json", document,
                                                   dtype=libyang.DataType.REPLY_YANG),
                validated_xml, tag="operation-failed")
        except RpcError as failure:
            failure.message = f"{name} produced bad output: {failure.message}"
            raise
        return list(etree.fromstring(xml)) if xml else []

    def notification(self, name: str, content: Mapping[str, Any]) -> etree._Element:
        """A notification of the module (RFC 7951 JSON content, without the
        notification's own member) as its XML element in the module's
        namespace (RFC 7950 §7.16.2), validated against the notification
        statement. Content that does not fit is the publisher's bug:
        operation-failed."""
        document = json.dumps({f"{MODULE_NAME}:{name}": dict(content)})

        def validated_xml(tree: Any) -> str | bytes:
            tree.validate(notification=True)
            printed: str | bytes = tree.print_mem("xml", with_siblings=True, pretty=False)
            return printed

        xml = self._libyang(
            lambda: self._context.parse_op_mem("json", document,
                                               dtype=libyang.DataType.NOTIF_YANG),
            validated_xml, tag="operation-failed")
        if not xml:
            raise RpcError("operation-failed", f"notification {name} produced no data")
        return etree.fromstring(xml)

    def _libyang(self, parse: Callable[[], Any], render: Callable[[Any], str | bytes], *,
                 tag: str, sensitive: Callable[[], list[str]] = list) -> str:
        """``render(parse())`` with libyang quiet; its first error becomes an
        RpcError, raised outside the handler so that libyang's exception (whose
        text may quote a key) is not chained to it."""
        failure: RpcError | None = None
        text: str | bytes = ""
        with quiet_libyang():
            self._context.recorded.clear()
            tree = None
            try:
                tree = parse()
                if tree is not None:
                    text = render(tree) or ""
            except libyang.LibyangError:
                failure = self._error(list(self._context.recorded), sensitive(), tag)
            finally:
                if tree is not None:
                    tree.free()
        if failure is not None:
            raise failure
        return text.decode() if isinstance(text, bytes) else text

    # -- errors ------------------------------------------------------------------

    def _error(self, errors: list[LibyangError], sensitive_values: Iterable[str],
               default_tag: str) -> RpcError:
        """libyang's first error as an RpcError (RFC 6241 Appendix A)."""
        if not errors:
            return RpcError(default_tag, "libyang refused the data without a reason")
        first = errors[0]
        data_path = _DATA_LOCATION.search(first.location)
        schema_path = _SCHEMA_LOCATION.search(first.location)
        path = data_path.group(1) if data_path else (schema_path.group(1) if schema_path else None)
        last = _last_name(path) if path else ""
        redact = (not path or last in self.sensitive_names
                  or any(e.code in _SYNTAX_CODES for e in errors))
        message = " ".join(first.message.split())
        if redact:
            message = _QUOTED.sub(f'"{REDACTED}"', message)
        for value in sensitive_values:
            value = value.strip()
            if len(value) >= _MIN_SCRUBBED:
                message = message.replace(value, REDACTED)
        tag, info, app_tag = default_tag, {}, first.app_tag
        yang_info: tuple[tuple[str, str], ...] = ()
        if default_tag == "invalid-value":
            # What the client sent broke a YANG rule: the datastore's one
            # mapping (RFC 7950 §15, §8.3.1; agent/schema/violations.py).
            violation = violations.classify(
                code=first.code, message=first.message, app_tag=first.app_tag,
                schema_only=data_path is None and schema_path is not None,
                must_app_tags=self._must_app_tags(),
            )
            error_tag, default_app_tag = VIOLATIONS[violation]
            tag, app_tag = error_tag.value, first.app_tag or default_app_tag
            found = violations.details(
                violation, path=path or "/", message=first.message, context=self._context,
                schema_path=schema_path.group(1) if schema_path else None)
            path, info = (found.path if path else None), dict(found.info)
            yang_info = found.yang_info if not redact else ()
        if tag in ("unknown-element", "missing-element") and "bad-element" not in info:
            quoted = _QUOTED.search(first.message)
            if quoted:
                info["bad-element"] = quoted.group(0)[1:-1]
        return RpcError(tag, message, app_tag=app_tag, path=path, info=info,
                        info_elements=yang_info_elements(yang_info))

    def _must_app_tags(self) -> frozenset[str]:
        try:
            return violations.must_app_tags(self._context, MODULE_NAME)
        finally:
            self._context.recorded.clear()


def _schema_node(snode: Any, parent_names: tuple[str, ...]) -> SchemaNode:
    keyword = snode.keyword()
    names = (*parent_names, snode.name())
    children: dict[str, SchemaNode] = {}
    if keyword in ("container", "list"):
        for child in snode.children():
            if child.keyword() in ("container", "list", "leaf", "leaf-list"):
                children[child.name()] = _schema_node(child, names)
    return SchemaNode(
        name=snode.name(),
        kind=NodeKind(keyword),
        names=names,
        config=not snode.config_false(),
        presence=keyword == "container" and snode.presence() is not None,
        keys=tuple(k.name() for k in snode.keys()) if keyword == "list" else (),  # noqa: SIM118
        sensitive=any(e.name() == "default-deny-all" for e in snode.extensions()),
        prefixed=keyword in ("leaf", "leaf-list") and _prefixed(snode.type()),
        leafy=keyword in ("leaf", "leaf-list"),
        children=children,
    )


def _prefixed(yang_type: Any) -> bool:
    if yang_type.basename() in ("identityref", "instance-identifier"):
        return True
    return yang_type.basename() == "union" and any(_prefixed(t) for t in yang_type.union_types())


def _drop_empty_containers(element: etree._Element, schema: SchemaNode) -> None:
    for child in list(element):
        if not isinstance(child.tag, str):
            continue
        child_schema = schema.children.get(etree.QName(child).localname)
        if child_schema is None or child_schema.leafy:
            continue
        _drop_empty_containers(child, child_schema)
        if (child_schema.kind is NodeKind.CONTAINER and not child_schema.presence
                and len(child) == 0):
            element.remove(child)


def _sensitive_names(node: SchemaNode) -> Iterable[str]:
    if node.sensitive:
        yield node.name
    for child in node.children.values():
        yield from _sensitive_names(child)


def _texts_of(element: etree._Element, names: frozenset[str]) -> Iterable[str]:
    for descendant in element.iter():
        if (isinstance(descendant.tag, str) and descendant.text
                and etree.QName(descendant).localname in names):
            yield descendant.text


def _last_name(path: str) -> str:
    """The last node name of a data or schema path (predicates and prefixes off)."""
    depth, cut = 0, 0
    for index, char in enumerate(path):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "/" and depth == 0:
            cut = index + 1
    return path[cut:].split("[", 1)[0].rsplit(":", 1)[-1]


def top_member(document: Mapping[str, Any]) -> dict[str, Any]:
    """The top container's content in an RFC 7951 document (``{}`` if absent)."""
    member: dict[str, Any] = document.get(TOP_MEMBER, {}) or {}
    return member
