"""NETCONF for the NMDA (RFC 8526 §3, ietf-netconf-nmda@2019-01-07) on the
datastores of RFC 8342: <get-data>, <edit-data>, and the ``datastore``
parameter the module adds to <lock>, <unlock> and <validate>.

Datastores (the ietf-datastores identities, RFC 8342 §7):

* ``running``, ``candidate``, ``startup``: the conventional datastores of
  ``agent.datastore``;
* ``intended``: read-only, the same as running — the agent has no template
  expansion or inactive configuration, which is what RFC 8342 §5.1.4 allows
  ("If no such processing occurs, then <intended> is the same as
  <running>");
* ``operational``: what <get> returns (RFC 6241 §7.7): running's
  configuration in use, the engines' live state read at request time
  (``agent/operational.py``), RFC 6022 /netconf-state and RFC 8525
  /yang-library.

<get-data> takes a subtree filter (RFC 6241 §6) or an XPath filter (§8.9,
``agent.netconf.xpath``, with RFC 7950 §10's functions as far as
``agent.netconf.xpath_yang`` provides them), ``config-filter``, ``max-depth`` and, on the
conventional datastores, RFC 6243 ``with-defaults``. The module's
``origin`` feature is not implemented (no ``with-origin``, no origin
filters: those parameters are unknown elements), nor is
:with-operational-defaults, so ``with-defaults`` on operational is
``invalid-value`` as RFC 8526 §3.1.1 requires. The reply's ``<data>`` is in
the module's namespace (its output anydata).

<edit-data> is <edit-config> on running or candidate (RFC 8526 §3.2: "the
same edit operations as <edit-config>"; the ``operation`` attribute is
ietf-netconf's): the request is rewritten into an <edit-config> and handed to
the server's edit-config, so the edit semantics, the checks and the access
control are one. The transaction is atomic, as §3.2 asks ("restore the
specified configuration to its complete state at the start").

The operations run inside :class:`agent.netconf.operations.Operations` and
use its reading pipeline (access control in ``_readable``, then filters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lxml import etree

from agent.datastore.store import CANDIDATE, RUNNING, STARTUP
from agent.netconf.errors import BASE_NS, RpcError
from agent.netconf.xpath import XPathFilter, apply_xpath, compile_filter
from agent.netconf.xpath_yang import IdentityTable, yang_functions

if TYPE_CHECKING:
    from agent.netconf.operations import Operations, SessionInfo

#: RFC 8526 §3: the module's namespace and revision.
NMDA_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-nmda"
NMDA_REVISION = "2019-01-07"
#: RFC 8342 §7.
DATASTORES_NS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
WITH_DEFAULTS_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults"

INTENDED = "intended"
OPERATIONAL = "operational"
#: Every datastore served, in the order /yang-library lists them.
DATASTORES = (RUNNING, CANDIDATE, STARTUP, INTENDED, OPERATIONAL)
_CONVENTIONAL = (RUNNING, CANDIDATE, STARTUP, INTENDED)
_EDITABLE = (RUNNING, CANDIDATE)
_LOCKABLE = (RUNNING, CANDIDATE, STARTUP)

_N = f"{{{NMDA_NS}}}"
Operation = Callable[[etree._Element, "SessionInfo"], list[etree._Element]]


class NmdaOperations:
    """get-data and edit-data on ``operations``' datastore, and the wrappers
    that give lock, unlock and validate their ``datastore`` parameter."""

    def __init__(self, operations: Operations) -> None:
        self._operations = operations
        self._identity_table: IdentityTable | None = None

    def _identities(self) -> IdentityTable:
        """The identities of the YANG library's modules (RFC 7950 §10.4)."""
        if self._identity_table is None:
            library = self._operations.library
            self._identity_table = IdentityTable.from_files(
                (m.name, m.namespace, m.file) for m in library.modules() if m.file is not None)
        return self._identity_table

    def table(self, base: dict[tuple[str, str], Operation]) -> dict[tuple[str, str], Operation]:
        """The entries to add to (or replace in) the operation table ``base``."""
        entries: dict[tuple[str, str], Operation] = {
            (NMDA_NS, "get-data"): self.get_data,
            (NMDA_NS, "edit-data"): self.edit_data,
        }
        for name, parameter, allowed in (("lock", "target", _LOCKABLE),
                                         ("unlock", "target", _LOCKABLE),
                                         ("validate", "source", (*_LOCKABLE, INTENDED))):
            entries[(BASE_NS, name)] = _with_datastore_parameter(
                base[(BASE_NS, name)], parameter, allowed)
        return entries

    # -- get-data (RFC 8526 §3.1.1) ----------------------------------------------------

    def get_data(self, element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        from agent.netconf.operations import _parameters, _required

        ops = self._operations
        params = _parameters(element, {
            "datastore": NMDA_NS, "subtree-filter": NMDA_NS, "xpath-filter": NMDA_NS,
            "config-filter": NMDA_NS, "max-depth": NMDA_NS, "with-defaults": WITH_DEFAULTS_NS})
        datastore = datastore_identity(_required(params, "datastore", element), DATASTORES)
        if "subtree-filter" in params and "xpath-filter" in params:
            # RFC 7950 §7.9: one case of the filter-spec choice.
            raise RpcError("bad-element", "subtree-filter and xpath-filter are one choice",
                           error_type="protocol", info={"bad-element": "xpath-filter"})
        subtree = params.get("subtree-filter")
        xpath: XPathFilter | None = None
        if "xpath-filter" in params:
            leaf = params["xpath-filter"]
            identities = self._identities()
            xpath = compile_filter(leaf.text or "", leaf, bad_element="xpath-filter",
                                   functions=lambda ns: yang_functions(ns, identities))
        config_filter = _boolean(params.get("config-filter"), "config-filter")
        max_depth = _max_depth(params.get("max-depth"))
        if "with-defaults" in params and datastore == OPERATIONAL:
            raise RpcError("invalid-value", "with-defaults is not supported on operational "
                           "(no :with-operational-defaults)", error_type="protocol",
                           info={"bad-element": "with-defaults"})

        # The same read as <get> (operational) or <get-config>, so that what
        # access control prunes and what the filters see are theirs. Made in
        # the request's own document: the filter's nodes move into it, and
        # moved into a document made on this thread their names (the peer's
        # choice) would be interned in this thread's libxml2 dictionary for
        # good (agent.netconf.message_parser).
        base = f"{{{BASE_NS}}}"
        if datastore == OPERATIONAL:
            request = element.makeelement(base + "get", nsmap={None: BASE_NS})
        else:
            request = element.makeelement(base + "get-config", nsmap={None: BASE_NS})
            source = RUNNING if datastore == INTENDED else datastore
            etree.SubElement(etree.SubElement(request, base + "source"), base + source)
        if subtree is not None:
            filter_element = etree.SubElement(request, base + "filter", type="subtree")
            for child in list(subtree):
                filter_element.append(child)
            subtree = filter_element
        if "with-defaults" in params:
            request.append(params["with-defaults"])
        read = ops._get if datastore == OPERATIONAL else ops._get_config
        data = read(request, session)[0]
        selected: list[etree._Element] | None = None
        if xpath is not None:
            selected = []
            data = apply_xpath(data, xpath, keys_of=ops._list_keys, selected=selected)
        if config_filter is not None:
            _keep_config(data, config_filter, top=ops._codec.top.name,
                         namespace=ops._codec.namespace,
                         state_members={n[1] for n in ops._datastore.schema.state if len(n) == 2})
        if max_depth is not None:
            if selected is None:
                selected = (_subtree_selected(data, subtree) if subtree is not None
                            else [c for c in data if isinstance(c.tag, str)])
            for node in selected:
                if node.getparent() is not None:  # not removed by config-filter
                    _limit_depth(node, max_depth, keys_of=ops._list_keys)
        reply = etree.Element(_N + "data", nsmap={None: NMDA_NS})
        for child in list(data):
            reply.append(child)
        return [reply]

    # -- edit-data (RFC 8526 §3.2) -----------------------------------------------------

    def edit_data(self, element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        from agent.netconf.operations import _parameters, _required, _url_not_supported

        params = _parameters(element, {"datastore": NMDA_NS, "default-operation": NMDA_NS,
                                       "config": NMDA_NS, "url": NMDA_NS})
        datastore = datastore_identity(_required(params, "datastore", element), DATASTORES)
        if datastore not in _EDITABLE:
            raise RpcError("invalid-value", f"{datastore} cannot be edited (only running "
                           "and candidate)", error_type="protocol",
                           info={"bad-element": "datastore"})
        if "url" in params:
            raise _url_not_supported()
        _required(params, "config", element)
        # The same request as an <edit-config> (RFC 8526 §3.2), rewritten in
        # place: edit-config checks it as its own.
        element.tag = f"{{{BASE_NS}}}edit-config"
        target = etree.Element(f"{{{BASE_NS}}}target")
        etree.SubElement(target, f"{{{BASE_NS}}}{datastore}")
        params["datastore"].addprevious(target)
        element.remove(params["datastore"])
        for name in ("default-operation", "config"):
            if name in params:
                params[name].tag = f"{{{BASE_NS}}}{name}"
        return self._operations._operations[(BASE_NS, "edit-config")](element, session)


def datastore_identity(param: etree._Element, allowed: tuple[str, ...]) -> str:
    """A ``ds:datastore-ref`` (an identityref, RFC 7950 §9.10.3: the prefix is
    an XML namespace prefix in scope; none means the default namespace)."""
    text = (param.text or "").strip()
    prefix, _, name = text.rpartition(":")
    namespace = param.nsmap.get(prefix or None)
    name_of = etree.QName(param).localname
    if namespace != DATASTORES_NS or not name:
        raise RpcError("invalid-value", f"{text!r} is not a datastore identity of "
                       "ietf-datastores", error_type="protocol", info={"bad-element": name_of})
    if name not in allowed:
        raise RpcError("invalid-value", f"datastore {name!r} is not supported here",
                       error_type="protocol", info={"bad-element": name_of})
    return name


def _with_datastore_parameter(operation: Operation, parameter: str,
                              allowed: tuple[str, ...]) -> Operation:
    """``operation`` also taking ``<target>``/``<source>`` as an NMDA
    ``<datastore>`` (RFC 8526 §3.3, §3.4): rewritten to the conventional
    element (``<running/>``, ...) before the operation sees it."""
    def run(element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        holder = element.find(f"{{{BASE_NS}}}{parameter}")
        if holder is not None:
            named = holder.find(_N + "datastore")
            if named is not None:
                name = datastore_identity(named, allowed)
                named.addprevious(etree.Element(
                    f"{{{BASE_NS}}}{RUNNING if name == INTENDED else name}"))
                holder.remove(named)
        return operation(element, session)
    return run


def _boolean(param: etree._Element | None, name: str) -> bool | None:
    if param is None:
        return None
    text = (param.text or "").strip()
    if text not in ("true", "false"):
        raise RpcError("invalid-value", f"{name} must be true or false", error_type="protocol",
                       info={"bad-element": name})
    return text == "true"


def _max_depth(param: etree._Element | None) -> int | None:
    """uint16 1..65535 or "unbounded" (None)."""
    if param is None:
        return None
    text = (param.text or "").strip()
    if text == "unbounded":
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise RpcError("invalid-value", f"max-depth {text!r} is not 1..65535 or unbounded",
                       error_type="protocol", info={"bad-element": "max-depth"})
    return int(text)


def _keep_config(data: etree._Element, config: bool, *, top: str, namespace: str,
                 state_members: set[str]) -> None:
    """RFC 8526 §3.1.1 config-filter on a reply: only ``config true`` nodes
    (``config``) or only ``config false`` ones with their ancestors. Every
    config false node of the module is a top-level member of its container
    (a state container); the other modules served are all state."""
    for element in list(data):
        if not isinstance(element.tag, str):
            continue
        qname = etree.QName(element)
        if qname.namespace != namespace or qname.localname != top:
            if config:
                data.remove(element)  # /netconf-state, /yang-library
            continue
        for member in list(element):
            if isinstance(member.tag, str) and \
                    (etree.QName(member).localname in state_members) == config:
                element.remove(member)
        if not any(isinstance(member.tag, str) for member in element):
            data.remove(element)


def _subtree_selected(data: etree._Element, filter_element: etree._Element) -> list[etree._Element]:
    """The data nodes a subtree filter selected (RFC 6241 §6.2): those its
    selection nodes and content match nodes matched, and the parents of
    sibling sets made of content match nodes only (§6.2.5)."""
    selected: list[etree._Element] = []

    def matches(filter_node: etree._Element, node: etree._Element) -> bool:
        want = etree.QName(filter_node)
        have = etree.QName(node)
        return want.localname == have.localname and want.namespace in (None, have.namespace)

    def walk(data_parent: etree._Element, filter_parent: etree._Element) -> None:
        filters = [f for f in filter_parent if isinstance(f.tag, str)]
        for node in data_parent:
            if not isinstance(node.tag, str):
                continue
            for filter_node in filters:
                if not matches(filter_node, node):
                    continue
                children = [f for f in filter_node if isinstance(f.tag, str)]
                if not children:
                    selected.append(node)  # selection or content match node
                elif all(not any(isinstance(g.tag, str) for g in f) and (f.text or "").strip()
                         for f in children):
                    selected.append(node)  # content match nodes only: the whole node
                else:
                    walk(node, filter_node)
                break

    walk(data, filter_element)
    return selected


def _limit_depth(node: etree._Element, depth: int, *,
                 keys_of: Callable[[tuple[str, ...]], tuple[str, ...]]) -> None:
    """RFC 8526 §3.1.1 max-depth: ``node`` and ``depth - 1`` levels below it;
    a list entry at the cut keeps its keys (they name it, RFC 7950 §7.8.5)."""
    # The local names from the top data node down (not the <data> wrapper).
    names = tuple(etree.QName(a).localname for a in reversed(list(node.iterancestors()))
                  if a.getparent() is not None)

    def cut(element: etree._Element, path: tuple[str, ...], remaining: int) -> None:
        if remaining <= 0:
            keys = keys_of(path)
            for child in list(element):
                if not (isinstance(child.tag, str) and etree.QName(child).localname in keys):
                    element.remove(child)
            return
        for child in element:
            if isinstance(child.tag, str):
                cut(child, (*path, etree.QName(child).localname), remaining - 1)

    cut(node, (*names, etree.QName(node).localname), depth - 1)
