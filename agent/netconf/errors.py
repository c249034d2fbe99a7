"""``<rpc-error>`` (RFC 6241 §4.3, Appendix A): one exception type carrying every
field, and the one place that turns datastore errors into it."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from agent.datastore.errors import YANG_NS, DatastoreError
from agent.datastore.paths import parse_path

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
MODULE_NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
MODULE_PREFIX = "proxy-mobile-ip"


@dataclass
class RpcError(Exception):
    """error-type: transport | rpc | protocol | application; error-tag as in
    RFC 6241 Appendix A; error-severity error | warning."""

    tag: str
    message: str
    error_type: str = "application"
    severity: str = "error"
    app_tag: str | None = None
    path: str | None = None
    info: dict[str, str] = field(default_factory=dict)
    #: Extra <error-info> children already built (e.g. <bad-element>).
    info_elements: list[etree._Element] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.tag}: {self.message}"

    def to_xml(self) -> etree._Element:
        q = f"{{{BASE_NS}}}"
        error = etree.Element(q + "rpc-error", nsmap={None: BASE_NS})
        etree.SubElement(error, q + "error-type").text = self.error_type
        etree.SubElement(error, q + "error-tag").text = self.tag
        etree.SubElement(error, q + "error-severity").text = self.severity
        if self.app_tag:
            etree.SubElement(error, q + "error-app-tag").text = self.app_tag
        if self.path:
            # RFC 6241 §4.3: the prefixes in error-path resolve through the
            # namespaces in scope of the element.
            path = etree.SubElement(
                error, q + "error-path", nsmap={MODULE_PREFIX: MODULE_NS}
            )
            path.text = self.path
        message = etree.SubElement(error, q + "error-message")
        message.text = self.message
        message.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        if self.info or self.info_elements:
            info = etree.SubElement(error, q + "error-info")
            for name, value in self.info.items():
                etree.SubElement(info, q + name).text = value
            for element in self.info_elements:
                info.append(element)
        return error


def from_datastore(exc: DatastoreError) -> RpcError:
    """RFC 6241 Appendix A mapping: lock-denied carries the holder's session-id,
    data errors are application errors, unknown elements are application errors
    with <bad-element>; RFC 7950 §15's <non-unique> and <missing-choice> go into
    <error-info> in the YANG namespace."""
    info = dict(exc.info)
    if exc.tag.value in ("unknown-element", "missing-element", "bad-element") and exc.path:
        info.setdefault("bad-element", exc.path.rstrip("/").rsplit("/", 1)[-1].split("[", 1)[0])
    error_type = "protocol" if exc.tag.value in ("lock-denied", "in-use") else "application"
    return RpcError(exc.tag.value, exc.message, error_type=error_type, app_tag=exc.app_tag,
                    path=exc.path, info=info, info_elements=yang_info_elements(exc.yang_info))


def yang_info_elements(items: tuple[tuple[str, str], ...]) -> list[etree._Element]:
    """RFC 7950 §15 <error-info> children. <non-unique> holds an
    instance-identifier, which in XML has every node name prefixed (§9.13.2);
    the prefix is declared on the element."""
    elements = []
    for name, value in items:
        if name == "non-unique":
            element = etree.Element(f"{{{YANG_NS}}}{name}",
                                    nsmap={None: YANG_NS, MODULE_PREFIX: MODULE_NS})
            element.text = _qualified(value)
        else:
            element = etree.Element(f"{{{YANG_NS}}}{name}", nsmap={None: YANG_NS})
            element.text = value
        elements.append(element)
    return elements


def _qualified(path: str) -> str:
    """``/proxy-mobile-ip:mobile-ip/proxy/interface[name='x']`` (RFC 7951 form)
    as ``/proxy-mobile-ip:mobile-ip/proxy-mobile-ip:proxy/proxy-mobile-ip:interface``
    ``[proxy-mobile-ip:name='x']`` (every node and key qualified)."""
    try:
        steps = parse_path(path)
    except DatastoreError:
        return path
    qualified = []
    for step in steps:
        predicates = "".join(
            f"[{MODULE_PREFIX}:{key}=" + (f"'{value}'" if "'" not in value else f'"{value}"') + "]"
            for key, value in step.keys
        )
        qualified.append(f"{MODULE_PREFIX}:{step.name}{predicates}")
    return "/" + "/".join(qualified)
