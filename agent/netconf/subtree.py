"""Subtree filtering (RFC 6241 §6), applied to the XML a read produced.

The filter's element children are a sibling set matched against the children
of ``<data>``; each filter node is one of (§6.2):

* a *selection node* (an empty element): the matching data node and all of its
  descendants are selected;
* a *content match node* (a leaf with text): the data leaf must exist with that
  value; when every content match node of a sibling set matches, the set
  selects its content match nodes and whatever its selection and containment
  nodes select, or the whole parent when the set holds content match nodes
  only (§6.2.5); when one fails, the set selects nothing;
* a *containment node* (an element with children): the matching data node is
  included when its children select something.

Names match by local name and namespace; a filter element in no namespace
(``xmlns=""``) matches every namespace (§6.2.1). Several filter siblings with
the same name select the union of what each selects (§6.4.7). Attribute match
expressions (§6.2.2) are not supported: filter attributes are ignored, so such
a filter selects a superset.

Every selected list entry keeps its key leaves (RFC 7950 §7.8.5 needs them
to name the entry), whether the filter asked for them or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeAlias

from lxml import etree

#: List keys by the local names from the top node down ("()" for a non-list).
KeysOf = Callable[[tuple[str, ...]], tuple[str, ...]]


class _All:
    """The whole subtree is selected."""


ALL = _All()
Selection: TypeAlias = "_All | dict[etree._Element, Selection]"


@dataclass(slots=True)
class _FilterNode:
    """One filter element, compiled once (a filter is matched against every
    entry of a list that may hold 10^5)."""

    local: str
    #: None: any namespace (§6.2.1).
    namespace: str | None
    #: The value of a content match node.
    text: str | None = None
    content: list[_FilterNode] = field(default_factory=list)
    others: list[_FilterNode] = field(default_factory=list)

    @property
    def is_selection(self) -> bool:
        return self.text is None and not self.content and not self.others

    def matches(self, tag: str) -> bool:
        if self.namespace is None:
            return tag.rpartition("}")[2] == self.local
        return tag == f"{{{self.namespace}}}{self.local}" if tag[0] == "{" else False


def _compile(element: etree._Element) -> _FilterNode:
    qname = etree.QName(element)
    node = _FilterNode(qname.localname, qname.namespace)
    children = list(_elements(element))
    if not children:
        text = (element.text or "").strip()
        node.text = text or None
        return node
    for child in children:
        compiled = _compile(child)
        (node.content if compiled.text is not None else node.others).append(compiled)
    return node


def apply_filter(data: etree._Element, filter_element: etree._Element, *,
                 keys_of: KeysOf) -> etree._Element:
    """``data`` (``<data>``) pruned, in place, to what ``filter_element``
    (``<filter>``) selects of its children; returns ``data``."""
    top = [_compile(child) for child in _elements(filter_element)]
    if not top:
        prune_selection(data, {})  # an empty filter selects nothing (§6.4.2)
        return data
    cache: dict[tuple[str, ...], tuple[str, ...]] = {}

    def cached_keys(names: tuple[str, ...]) -> tuple[str, ...]:
        if names not in cache:
            cache[names] = keys_of(names)
        return cache[names]

    selection = _select_children(
        data, [f for f in top if f.text is not None], [f for f in top if f.text is None], (),
        cached_keys)
    prune_selection(data, {} if selection is None else selection)
    return data


def _select(data: etree._Element, node: _FilterNode, names: tuple[str, ...],
            keys_of: KeysOf) -> Selection | None:
    if node.is_selection:
        return ALL
    if node.text is not None:
        return ALL if _leaf_text(data) == node.text else None  # content match node
    selection = _select_children(data, node.content, node.others, names, keys_of)
    if isinstance(selection, dict):
        # A partly selected list entry keeps its keys.
        keys = keys_of(names)
        if keys:
            for child in data:
                if isinstance(child.tag, str) and child.tag.rpartition("}")[2] in keys \
                        and child not in selection:
                    selection[child] = ALL
    return selection


def _select_children(data: etree._Element, content: list[_FilterNode],
                     others: list[_FilterNode], names: tuple[str, ...],
                     keys_of: KeysOf) -> Selection | None:
    """What one sibling set of the filter selects among ``data``'s children."""
    data_children = [child for child in data if isinstance(child.tag, str)]
    selection: dict[etree._Element, Selection] = {}
    for match in content:
        hit = False
        for child in data_children:
            if match.matches(child.tag) and _leaf_text(child) == match.text:
                selection[child] = ALL
                hit = True
        if not hit:
            return None  # §6.2.5: one false content match node spoils the set
    if content and not others:
        return ALL  # §6.2.5: content match nodes only: the whole parent
    for filter_child in others:
        child_names = (*names, filter_child.local)
        for data_child in data_children:
            if filter_child.matches(data_child.tag):
                chosen = _select(data_child, filter_child, child_names, keys_of)
                if chosen is not None:
                    selection[data_child] = _union(selection.get(data_child), chosen)
    return selection or None


def _union(old: Selection | None, new: Selection) -> Selection:
    if old is None:
        return new
    if isinstance(old, _All) or isinstance(new, _All):
        return ALL
    merged = dict(old)
    for element, selection in new.items():
        merged[element] = _union(merged.get(element), selection)
    return merged


def prune_selection(data: etree._Element, selection: Selection) -> None:
    """Remove what ``selection`` does not hold (pruning in place costs far
    less than copying what stays)."""
    if isinstance(selection, _All):
        return
    unselected = []
    for child in data:
        chosen = selection.get(child)
        if chosen is None:
            unselected.append(child)
        else:
            prune_selection(child, chosen)
    for child in unselected:
        data.remove(child)


def _leaf_text(data: etree._Element) -> str | None:
    """A leaf's value; None for a node with children."""
    if len(data) and any(isinstance(child.tag, str) for child in data):
        return None
    return (data.text or "").strip()


def _elements(element: etree._Element) -> Iterator[etree._Element]:
    return (child for child in element if isinstance(child.tag, str))


def wanted_members(filter_element: etree._Element, *, top: str,
                   namespace: str) -> set[str] | None:
    """The members of the top container the filter can select (None: all of
    them), so that a read need not convert the rest."""
    wanted: set[str] = set()
    for node in _elements(filter_element):
        qname = etree.QName(node)
        if qname.localname != top or qname.namespace not in (None, namespace):
            continue
        children = list(_elements(node))
        if not children:
            if (node.text or "").strip():
                continue  # a content match on a container selects nothing
            return None
        wanted.update(etree.QName(child).localname for child in children)
    return wanted
