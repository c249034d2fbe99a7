"""The module's data as the commands use it.

* Subtree filters (RFC 6241 §6) built from a small nested description, so
  every request names exactly the leaves it wants: key material is never
  selected, hence never sent.
* The agent's XML as RFC 7951 JSON, converted by libyang with the module
  loaded ("parse only": types are read, nothing is validated), so numbers are
  numbers and lists are lists whatever the agent omitted.
* :func:`drop_secrets`: a second fence. Should an agent send a key anyway, it is
  removed before anything is converted or printed.
* :func:`secret_leaves`: which leaves are secrets, read from the YANG module
  itself (every leaf marked ``nacm:default-deny-all``, RFC 8341 §3.5.2), so a
  secret leaf added to the module is hidden here without anyone listing it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, Self

import libyang
from libyang.schema import SNotif
from lxml import etree

from agent.netconf.errors import MODULE_NS
from agent.netconf.notifications import NOTIFICATION_NS
from agent.operator.errors import ProtocolViolation
from agent.schema.context import MODULE_NAME, TOP_MEMBER, quiet_libyang, yang_dir

TOP = "mobile-ip"
_NACM_MODULE = "ietf-netconf-acm"
_M = f"{{{MODULE_NS}}}"
_EVENT_TIME = f"{{{NOTIFICATION_NS}}}eventTime"

#: A filter description: member name -> None (a select node: the whole node),
#: a string (a content match node: entries whose leaf has this value, RFC 6241
#: §6.2.5) or a nested description (a containment node).
Selection = Mapping[str, "Selection | str | None"]


def subtree(selection: Selection) -> etree._Element:
    """``{"home-agent-state": {"binding": None}}`` as
    ``<mobile-ip xmlns=...><home-agent-state><binding/></home-agent-state></mobile-ip>``."""
    top = etree.Element(_M + TOP, nsmap={None: MODULE_NS})
    _fill(top, selection)
    return top


def _fill(parent: etree._Element, selection: Selection) -> None:
    for name, inner in selection.items():
        child = etree.SubElement(parent, _M + name)
        if isinstance(inner, str):
            child.text = inner
        elif inner is not None:
            _fill(child, inner)


def selected_names(selection: Selection) -> set[str]:
    """Every member name a description selects (for the secret-free check)."""
    names: set[str] = set()
    for name, inner in selection.items():
        names.add(name)
        if inner is not None and not isinstance(inner, str):
            names |= selected_names(inner)
    return names


def top_element(reply: etree._Element) -> etree._Element | None:
    """The module's top container in a <get>/<get-config> reply, or None."""
    return next(reply.iter(_M + TOP), None)


@cache
def secret_leaves() -> frozenset[str]:
    """The names of the module's leaves marked ``nacm:default-deny-all``
    themselves (keys, shared secrets, communities, passphrases, password
    hashes): never requested by a show command, never printed by any.

    Read from libyang's compiled module. A node the mark covers only through
    an ancestor is not a secret of its own (the ``nacm`` container's rules,
    the RPCs' parameters: RFC 8341 §3.4.5 denies them by default, they are not
    key material), so the walk does not enter a marked container or RPC.
    Matching is by name wherever the leaf appears: a same-named leaf elsewhere
    is hidden too, which errs on the safe side."""
    with quiet_libyang():
        context = libyang.Context(str(yang_dir()))
        try:
            module = context.load_module(MODULE_NAME)
            return frozenset(_marked_leaves(module.children()))
        except libyang.LibyangError:
            raise ProtocolViolation(f"cannot load the YANG module {MODULE_NAME}") from None
        finally:
            context.destroy()  # type: ignore[no-untyped-call]


def _marked_leaves(nodes: Any) -> Iterator[str]:
    for node in nodes:
        marked = any(e.name() == "default-deny-all" and e.module().name() == _NACM_MODULE
                     for e in node.extensions())
        if isinstance(node, (libyang.SLeaf, libyang.SLeafList)):
            if marked:
                yield node.name()
        elif not marked and isinstance(node, (libyang.SContainer, libyang.SList, SNotif)):
            # Choices and cases are transparent in libyang's children().
            yield from _marked_leaves(node.children())


def drop_secrets(element: etree._Element) -> etree._Element:
    """``element`` without any secret leaf (in place; returned for chaining)."""
    for name in secret_leaves():
        for leaf in list(element.iter(_M + name)):
            parent = leaf.getparent()
            if parent is not None:
                parent.remove(leaf)
    return element


class Decoder:
    """XML of the module -> RFC 7951 JSON, through one libyang context."""

    def __init__(self) -> None:
        with quiet_libyang():
            self._context = libyang.Context(str(yang_dir()))
            try:
                self._context.load_module(MODULE_NAME)
            except libyang.LibyangError:
                self._context.destroy()  # type: ignore[no-untyped-call]
                raise ProtocolViolation(f"cannot load the YANG module {MODULE_NAME}") from None

    def close(self) -> None:
        self._context.destroy()  # type: ignore[no-untyped-call]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def content(self, top: etree._Element | None) -> dict[str, Any]:
        """The content of the top container (config and state) as RFC 7951
        JSON; {} for None or an empty container."""
        if top is None or len(top) == 0:
            return {}
        text = etree.tostring(top)
        with quiet_libyang():
            try:
                tree = self._context.parse_data_mem(text, "xml", parse_only=True, strict=True)
            except libyang.LibyangError:
                # libyang's message may quote a value: say only what failed.
                raise ProtocolViolation("the agent's data does not fit the YANG module") from None
            if tree is None:
                return {}
            try:
                printed = tree.print_mem("json", with_siblings=True, pretty=False)
            finally:
                tree.free()
        document: dict[str, Any] = json.loads(printed or "{}")
        content: dict[str, Any] = document.get(TOP_MEMBER, {})
        return content


def notification_fields(notification: etree._Element) -> tuple[str, str, dict[str, str]]:
    """(eventTime, notification name, leaves) of an RFC 5277 <notification>;
    the module's notifications are flat (leaves only)."""
    when = (notification.findtext(_EVENT_TIME) or "").strip()
    for child in notification:
        if isinstance(child.tag, str) and child.tag != _EVENT_TIME:
            leaves = {etree.QName(leaf).localname: (leaf.text or "").strip()
                      for leaf in child if isinstance(leaf.tag, str)}
            for name in secret_leaves() & leaves.keys():
                del leaves[name]
            return when, etree.QName(child).localname, leaves
    raise ProtocolViolation("the agent sent a notification without content")
