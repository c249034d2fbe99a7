"""XPath filtering (RFC 6241 §8.9, the :xpath:1.0 capability), applied to the
XML a read produced, as subtree filtering is (``agent.netconf.subtree``).

The expression is XPath 1.0, evaluated by libxml2 (lxml) in the context
§8.9.1 prescribes: the namespace declarations in scope on the ``<filter>``
element (for <get-data>, on the ``xpath-filter`` leaf, RFC 8526 §3.1.1), no
variable bindings, the core function library (EXSLT regular expressions are
off; for <get-data>, RFC 7950 §10's functions as ``agent.netconf.xpath_yang``
provides them; any other function is an error), and the root node as context
node. The root node has every top-level
data node as a child (§8.9.1 adopts XSLT 1.0 §3.1's data model): the top-level
nodes are copied into one such multi-root document (an XSLT result tree), so
``/a | /b`` and ``/a[/b/c = 1]`` mean what they say.

The reply holds every selected node with its subtree, its ancestors and, for
each ancestor that is a list entry, the entry's keys ("including any elements
or attributes necessary to uniquely identify the subtree", §8.9.1); a node
selected twice appears once. A selected text node selects its leaf; a
selected attribute only its element's ancestry. An expression that does not
parse, names an unknown prefix or function, or does not yield a node-set is
``invalid-value`` (§8.9.1: "If it does not return a node set, the operation
fails with an invalid-value error").

Evaluation runs after access control has pruned the data, so no predicate
can test what the session may not read (RFC 8341 §3.4.5). It is bounded in
time (:data:`EVALUATION_TIMEOUT`, then ``resource-denied``): an expression can
be quadratic in the data, and the operations run on the server's event loop.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from agent.netconf.errors import BASE_NS, RpcError
from agent.netconf.subtree import ALL, Selection, prune_selection

#: RFC 6241 §8.9.3.
XPATH_1_0 = "urn:ietf:params:netconf:capability:xpath:1.0"

_FILTER = f"{{{BASE_NS}}}filter"

#: List keys by the local names from the top node down ("()" for a non-list).
KeysOf = Callable[[tuple[str, ...]], tuple[str, ...]]


#: The same selections subtree filtering prunes with (``subtree.ALL``: the
#: whole subtree; a dict: these children, each with its own selection).
_ALL = ALL
_Selection = dict[etree._Element, Selection]


@dataclass(frozen=True)
class XPathFilter:
    """A compiled expression and what to name in its errors."""

    expression: str
    evaluate: etree.XPath
    #: Whether the root node is in the node-set (lxml leaves it out of results).
    has_root: etree.XPath
    #: error-info for a failure: the element and attribute that carried it.
    bad_element: str
    bad_attribute: str | None

    def error(self, why: str) -> RpcError:
        return _invalid(self.expression, why, self.bad_element, self.bad_attribute)


def _invalid(expression: str, why: str, bad_element: str, bad_attribute: str | None) -> RpcError:
    """RFC 6241 §8.9.1: invalid-value, naming the element (and attribute)."""
    info = {"bad-element": bad_element}
    if bad_attribute:
        info["bad-attribute"] = bad_attribute
    return RpcError("invalid-value", f"XPath expression {expression!r}: {why}",
                    error_type="protocol", info=info)


def compile_filter(expression: str, scope: etree._Element, *, bad_element: str,
                   bad_attribute: str | None = None,
                   functions: Callable[[dict[str, str]], dict[Any, Any]] | None = None,
                   ) -> XPathFilter:
    """``expression`` compiled with the prefixes in scope on ``scope`` (the
    default namespace does not apply: an unprefixed XPath name is in no
    namespace, XPath 1.0 §2.3). ``functions(namespaces)`` gives extension
    functions beyond the core library (RFC 8526's RFC 7950 §10 ones)."""
    namespaces = {prefix: uri for prefix, uri in scope.nsmap.items() if prefix}
    extensions = functions(namespaces) if functions is not None else None
    if not expression.strip():
        raise _invalid(expression, "empty expression", bad_element, bad_attribute)
    rooted = _from_root(expression)
    try:
        evaluate = etree.XPath(rooted, namespaces=namespaces, regexp=False, smart_strings=True,
                               extensions=extensions)
        # The root node is the one node without a parent.
        has_root = etree.XPath(f"boolean(({rooted})[not(..)])", namespaces=namespaces,
                               regexp=False, extensions=extensions)
    except etree.XPathSyntaxError as exc:
        raise _invalid(expression, str(exc) or "syntax error", bad_element, bad_attribute) from None
    return XPathFilter(expression, evaluate, has_root, bad_element, bad_attribute)


def filter_of(element: etree._Element) -> XPathFilter:
    """A <filter type="xpath" select="..."/> (RFC 6241 §8.9.3)."""
    select = element.get("select")
    if select is None:
        raise RpcError("missing-attribute", 'an XPath filter needs a "select" attribute',
                       error_type="protocol",
                       info={"bad-attribute": "select", "bad-element": "filter"})
    return compile_filter(select, element, bad_element="filter", bad_attribute="select")


Read = Callable[[etree._Element, Any], list[etree._Element]]


def with_xpath_filter(read: Read, *, keys_of: KeysOf) -> Read:
    """``read`` (<get> or <get-config>, returning ``[<data>]``) also taking
    ``<filter type="xpath" select="..."/>`` (RFC 6241 §8.9.3): the filter is
    taken out of the request, ``read`` answers unfiltered (its access control
    applied), and the expression selects from that."""
    def run(element: etree._Element, session: Any) -> list[etree._Element]:
        filters = [c for c in element if c.tag == _FILTER]
        if len(filters) != 1 or filters[0].get("type") != "xpath":
            return read(element, session)  # read judges every other filter
        xpath = filter_of(filters[0])
        element.remove(filters[0])
        reply = read(element, session)
        return [apply_xpath(reply[0], xpath, keys_of=keys_of)]
    return run


def apply_xpath(data: etree._Element, xpath: XPathFilter, *, keys_of: KeysOf,
                selected: list[etree._Element] | None = None,
                timeout: float | None = None) -> etree._Element:
    """A new element like ``data`` (``<data>``) holding what ``xpath`` selects
    of ``data``'s children; ``data`` itself is left as it was. ``selected``,
    when given, receives the elements selected with their subtree (the
    nodes RFC 8526's max-depth counts from). ``timeout`` (seconds) replaces
    :data:`EVALUATION_TIMEOUT`."""
    result = etree.Element(data.tag, nsmap=data.nsmap)
    if not any(isinstance(child.tag, str) for child in data):
        _evaluate(xpath, etree.ElementTree(etree.Element("empty")),
                  timeout=timeout)  # still checked
        return result
    document = _multi_root()(data)
    found, has_root = _evaluate(xpath, document, timeout=timeout)
    cache: dict[tuple[str, ...], tuple[str, ...]] = {}

    def cached_keys(names: tuple[str, ...]) -> tuple[str, ...]:
        if names not in cache:
            cache[names] = keys_of(names)
        return cache[names]

    selector = _Selector(cached_keys)

    if has_root:
        found = list(_tops(document))  # the root node: everything
    for node in found:
        if isinstance(node, etree._Element):
            if isinstance(node.tag, str) and selector.add(node, whole=True):
                if selected is not None:
                    selected.append(node)
            continue
        if isinstance(node, tuple):
            continue  # a namespace node: nothing of the data
        parent = node.getparent() if hasattr(node, "getparent") else None
        if parent is not None and isinstance(parent.tag, str):
            # A text node selects its leaf; an attribute its element's ancestry.
            selector.add(parent, whole=bool(getattr(node, "is_text", False)))
    for top in _tops(document):
        chosen = selector.selection.get(top)
        if chosen is not None:
            prune_selection(top, chosen)
            result.append(top)
    return result


#: XPath 1.0 puts no bound on an expression's cost (``//*[. = //*]`` is
#: quadratic in the data): an evaluation that outlasts this many seconds is
#: answered resource-denied (RFC 6241 Appendix A) instead of holding the event
#: loop, and so every other session, for as long as it takes.
EVALUATION_TIMEOUT = 3.0
#: The evaluation runs in a thread (libxml2 releases the GIL) that cannot be
#: cancelled: one that overran keeps its core until it ends, and while it runs
#: no other XPath evaluation starts (a process-wide guard on a process-wide
#: resource, the CPU), so a client cannot pile them up.
_EVALUATION_SLOT = threading.BoundedSemaphore(1)


def _evaluate(xpath: XPathFilter, document: Any, *,
              timeout: float | None = None) -> tuple[list[Any], bool]:
    """The node-set and whether it holds the root node."""
    if not _EVALUATION_SLOT.acquire(blocking=False):
        raise RpcError("resource-denied", "an earlier XPath evaluation that overran is still "
                       "running; try again later")
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            found = xpath.evaluate(document)
            outcome["found"] = found
            if isinstance(found, list):
                outcome["has_root"] = bool(xpath.has_root(document))
        except Exception as exc:  # libxml2's, or an extension function's
            outcome["error"] = exc
        finally:
            _EVALUATION_SLOT.release()

    worker = threading.Thread(target=run, name="netconf-xpath", daemon=True)
    worker.start()
    worker.join(EVALUATION_TIMEOUT if timeout is None else timeout)
    if worker.is_alive():
        raise RpcError("resource-denied", f"the XPath expression {xpath.expression!r} took "
                       f"longer than {EVALUATION_TIMEOUT if timeout is None else timeout} s")
    if "error" in outcome:
        raise xpath.error(str(outcome["error"]) or "cannot be evaluated")
    found = outcome["found"]
    if not isinstance(found, list):
        raise xpath.error("does not yield a node-set")
    return found, outcome["has_root"]


def evaluation_idle(timeout: float) -> bool:
    """Wait until no evaluation runs (for tests); False if one still does."""
    if not _EVALUATION_SLOT.acquire(timeout=timeout):
        return False
    _EVALUATION_SLOT.release()
    return True


class _Selector:
    """Builds the selection: every selected element with its subtree, its
    ancestors and their list keys. Ancestors already entered are found by a
    walk up that stops at the first one known, so selecting n entries of one
    list costs O(n), not O(n x depth)."""

    def __init__(self, keys_of: KeysOf) -> None:
        self.selection: _Selection = {}
        self._keys_of = keys_of
        #: Partly selected elements: their selection and local names from the top.
        self._partial: dict[etree._Element, tuple[_Selection, tuple[str, ...]]] = {}
        self._whole: set[etree._Element] = set()

    def add(self, element: etree._Element, *, whole: bool) -> bool:
        """False when ``element`` was already within a selected subtree."""
        chain: list[etree._Element] = []
        node: etree._Element | None = element
        level, names = self.selection, ()
        while node is not None:
            if node in self._whole:
                return False
            known = self._partial.get(node)
            if known is not None and node is not element:
                level, names = known
                break
            chain.append(node)
            node = node.getparent()
        for node in reversed(chain):
            node_names = (*names, etree.QName(node).localname)
            if node is element and whole:
                level[node] = _ALL
                self._whole.add(node)
                self._partial.pop(node, None)
                return True
            known = self._partial.get(node)
            if known is None:
                entry: _Selection = {}
                level[node] = entry
                self._partial[node] = (entry, node_names)
                keys = self._keys_of(node_names)
                if keys:
                    for child in node:
                        if isinstance(child.tag, str) and etree.QName(child).localname in keys:
                            entry[child] = _ALL
                known = (entry, node_names)
            level, names = known
        return True




def _tops(document: Any) -> list[etree._Element]:
    """The top-level elements of a multi-root result tree."""
    root = document.getroot()
    if root is None:
        return []
    return [root, *(e for e in root.itersiblings() if isinstance(e.tag, str))]


@functools.cache
def _multi_root() -> etree.XSLT:
    """``<data>``'s children as the top-level nodes of one document."""
    stylesheet = etree.XML(
        '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        '<xsl:template match="/"><xsl:copy-of select="*/*"/></xsl:template>'
        "</xsl:stylesheet>")
    return etree.XSLT(stylesheet, access_control=etree.XSLTAccessControl.DENY_ALL)


# -- the root node as context node ----------------------------------------------------

#: XPath 1.0 §3.7 tokens (names may hold "-" and "."; "*" and names are told
#: apart from operators by the token before them).
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<literal>"[^"]*"|'[^']*')
  | (?P<number>\d+(?:\.\d*)?|\.\d+)
  | (?P<punct>//|::|\.\.|!=|<=|>=|[/.()\[\]@,|+\-=<>*$])
  | (?P<name>[^\W\d][\w.\-]*(?::(?:\*|[^\W\d][\w.\-]*))?)
""", re.VERBOSE)
_NODE_TYPES = frozenset({"node", "text", "comment", "processing-instruction"})
_OPERATOR_NAMES = frozenset({"and", "or", "div", "mod"})
#: Tokens after which a name or "*" starts an expression (XPath 1.0 §3.7).
_EXPRESSION_START = frozenset({None, "(", ",", "|", "+", "-", "=", "!=", "<", "<=", ">", ">=",
                               "*op", "and", "or", "div", "mod"})


def _from_root(expression: str) -> str:
    """``expression`` with every relative location path outside predicates
    made absolute (``a/b`` -> ``/a/b``, ``.`` -> ``/.``).

    lxml evaluates with the document's first element as context node, and
    RFC 6241 §8.9.1 wants the root node: a relative location path evaluated
    from the root node is the absolute one (XPath 1.0 §2,
    AbsoluteLocationPath ::= '/' RelativeLocationPath). Inside a predicate the
    context is the predicate's own node, so nothing there changes. Text that
    does not tokenize is left alone for libxml2 to refuse."""
    tokens: list[tuple[int, str, str]] = []
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            return expression
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((match.start(), kind, match.group()))
        position = match.end()
    inserts: list[int] = []
    depth = 0
    previous: str | None = None
    for index, (start, kind, text) in enumerate(tokens):
        following = tokens[index + 1][2] if index + 1 < len(tokens) else None
        at_start = previous in _EXPRESSION_START
        if text == "[":
            depth += 1
        elif text == "]":
            depth -= 1
        elif depth == 0 and at_start and previous != "$":
            starts_path = (
                text in (".", "..", "@", "*")
                or (kind == "name" and following == "::")
                or (kind == "name" and (following != "(" or text in _NODE_TYPES)))
            if starts_path:
                inserts.append(start)
        # What this token is to the next one (§3.7: "*" after an operand multiplies).
        if text == "*" and not at_start:
            previous = "*op"
        elif kind == "name" and text in _OPERATOR_NAMES and not at_start:
            previous = text
        elif kind == "name":
            previous = "name"
        else:
            previous = text
    for start in reversed(inserts):
        expression = expression[:start] + "/" + expression[start:]
    return expression
