"""NETCONF event notifications (RFC 5277), sans-IO.

* :func:`parse_create_subscription` reads a ``<create-subscription>``
  (§2.1.1) into a :class:`Subscription`, or raises the RFC's ``RpcError``.
  Only the ``NETCONF`` stream exists (§3.2.3) and replay is not supported
  (no ``replaySupport``, §3.2.2), so a ``startTime`` is refused: ``stopTime``
  without it is ``missing-element``, a future ``startTime`` or a ``stopTime``
  before it ``bad-element``, any other ``startTime`` ``operation-failed``
  (§2.1.1, "Negative Response"). ``stopTime`` needs ``startTime``, so no
  subscription ever has one.
* :meth:`Subscription.select` applies the subscription's subtree filter
  (RFC 6241 §6) to the content of one ``<notification>`` (§2.1.1: "the
  filter ... indicates which subset of all possible events is of
  interest"; it applies to the event content, never to ``<eventTime>``):
  the notification goes out with what the filter selects, or not at all when
  it selects nothing.
* :func:`notification_message` wraps event content in ``<notification>`` with
  its ``<eventTime>`` (§4, RFC 3339 UTC).
* :class:`NotificationFeed` is the datastore's notification listener for
  NETCONF: it converts each notification once (RFC 7951 JSON -> XML in the
  module's namespace, through libyang) and hands the message to the server,
  which fans it out to subscribed sessions.

The session owns the subscription (one per session: a second
<create-subscription> is operation-failed, §6.5)
and a bounded queue of encoded notifications (``agent.netconf.session``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from lxml import etree

from agent.netconf.errors import BASE_NS, RpcError
from agent.netconf.subtree import apply_filter
from agent.netconf.xpath import XPathFilter, apply_xpath, filter_of

logger = logging.getLogger(__name__)

#: RFC 5277 §4: the namespace of <create-subscription> and <notification>.
NOTIFICATION_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"
#: RFC 5277 §3.1 and §6.3: the capabilities.
NOTIFICATION_1_0 = "urn:ietf:params:netconf:capability:notification:1.0"
INTERLEAVE_1_0 = "urn:ietf:params:netconf:capability:interleave:1.0"
#: RFC 5277 §3.2.3: the default stream, the only one served.
NETCONF_STREAM = "NETCONF"

_N = f"{{{NOTIFICATION_NS}}}"
_EVENT_TIME = _N + "eventTime"
_PARAMETERS = ("stream", "filter", "startTime", "stopTime")


def rfc3339(when: float) -> str:
    """POSIX seconds as an RFC 3339 date-time in UTC (``Z``), microseconds kept."""
    stamp = datetime.fromtimestamp(when, tz=UTC)
    return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> float:
    """An RFC 3339 date-time (offset required, §5.6) as POSIX seconds;
    ValueError otherwise."""
    text = text.strip()
    if "T" not in text.upper():
        raise ValueError(f"{text!r} has no time part")
    parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone offset")
    return parsed.timestamp()


@dataclass(frozen=True)
class Subscription:
    """One session's RFC 5277 subscription (stream NETCONF, no replay)."""

    #: The <filter> element, None for every notification.
    filter: etree._Element | None = None
    stream: str = NETCONF_STREAM
    #: The filter's expression when it is of type xpath (RFC 6241 §8.9).
    xpath: XPathFilter | None = None

    def select(self, message: etree._Element) -> etree._Element | None:
        """``message`` (a <notification>) as this subscriber gets it: itself
        when there is no filter, else a copy holding the event content the
        filter selects, or None when it selects nothing. ``message`` is shared
        by every subscriber and is never modified."""
        if self.filter is None:
            return message
        event_time = message.find(_EVENT_TIME)
        scratch = etree.Element(f"{{{BASE_NS}}}data")
        for child in message:
            if isinstance(child.tag, str) and child.tag != _EVENT_TIME:
                scratch.append(copy.deepcopy(child))
        # Notification content holds no list of ours, so no key to keep.
        if self.xpath is not None:
            scratch = apply_xpath(scratch, self.xpath, keys_of=lambda names: ())
        else:
            apply_filter(scratch, self.filter, keys_of=lambda names: ())
        if len(scratch) == 0:
            return None
        selected = etree.Element(message.tag, nsmap=message.nsmap)
        if event_time is not None:
            selected.append(copy.deepcopy(event_time))
        for child in list(scratch):
            selected.append(child)
        return selected


def parse_create_subscription(element: etree._Element, *, now: float | None) -> Subscription:
    """RFC 5277 §2.1.1. ``now`` (POSIX seconds) judges a ``startTime`` in the
    future; None skips that check (the answer is an error either way)."""
    found: dict[str, etree._Element] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        # <filter> is the notification namespace's in RFC 5277's schema;
        # clients (ncclient) also send the base namespace's <filter>.
        known = qname.localname in _PARAMETERS and (
            qname.namespace == NOTIFICATION_NS
            or (qname.localname == "filter" and qname.namespace == BASE_NS))
        if not known:
            raise RpcError("unknown-element",
                           f"create-subscription has no parameter {qname.localname!r}",
                           error_type="protocol", info={"bad-element": qname.localname})
        if qname.localname in found:
            raise RpcError("bad-element", f"{qname.localname!r} given twice",
                           error_type="protocol", info={"bad-element": qname.localname})
        found[qname.localname] = child
    stream = (found["stream"].text or "").strip() if "stream" in found else NETCONF_STREAM
    if stream != NETCONF_STREAM:
        # §2.1.1: a subscription to a stream that does not exist fails.
        raise RpcError("invalid-value", f"no stream {stream!r} (only {NETCONF_STREAM})",
                       error_type="protocol", info={"bad-element": "stream"})
    filter_element = found.get("filter")
    xpath = None
    if filter_element is not None:
        kind = filter_element.get("type", "subtree")
        if kind == "xpath":
            xpath = filter_of(filter_element)  # RFC 6241 §8.9, as the server offers :xpath
        elif kind != "subtree":
            raise RpcError("operation-not-supported", f"filter type {kind!r} is not supported",
                           error_type="protocol",
                           info={"bad-attribute": "type", "bad-element": "filter"})
    start = _time(found.get("startTime"), "startTime")
    stop = _time(found.get("stopTime"), "stopTime")
    if stop is not None and start is None:
        raise RpcError("missing-element", "stopTime needs startTime", error_type="protocol",
                       info={"bad-element": "startTime"})
    if start is not None:
        if now is not None and start > now:
            raise RpcError("bad-element", "startTime is later than the current time",
                           error_type="protocol", info={"bad-element": "startTime"})
        if stop is not None and stop < start:
            raise RpcError("bad-element", "stopTime is earlier than startTime",
                           error_type="protocol", info={"bad-element": "stopTime"})
        # §2.1.1: replay requested from a stream that does not support it.
        raise RpcError("operation-failed",
                       f"stream {NETCONF_STREAM} does not support replay (no startTime)",
                       error_type="protocol")
    return Subscription(filter=filter_element, xpath=xpath)


def _time(element: etree._Element | None, name: str) -> float | None:
    if element is None:
        return None
    try:
        return parse_rfc3339(element.text or "")
    except ValueError:
        raise RpcError("invalid-value", f"{name} is not an RFC 3339 date-time with a time zone",
                       error_type="protocol", info={"bad-element": name}) from None


def notification_message(content: etree._Element, when: float) -> etree._Element:
    """``<notification><eventTime/>content</notification>`` (RFC 5277 §4)."""
    message = etree.Element(_N + "notification", nsmap={None: NOTIFICATION_NS})
    etree.SubElement(message, _EVENT_TIME).text = rfc3339(when)
    message.append(content)
    return message


class NotificationCodec(Protocol):
    """What the feed needs of ``agent.netconf.xmldata.DataCodec``."""

    def notification(self, name: str, content: Mapping[str, Any]) -> etree._Element: ...


class NotificationFeed:
    """The datastore's notification listener (``listener(name, content,
    when)``) for NETCONF: one conversion per notification, then
    ``deliver(message)``. ``wanted()`` says whether any session subscribes;
    without one nothing is converted. A notification that does not fit the
    module is an engine bug: logged and dropped, never raised into the
    publisher."""

    def __init__(self, codec: NotificationCodec, deliver: Callable[[etree._Element], None], *,
                 wanted: Callable[[], bool] = lambda: True) -> None:
        self._codec = codec
        self._deliver = deliver
        self._wanted = wanted

    def __call__(self, name: str, content: dict[str, Any], when: float) -> None:
        if not self._wanted():
            return
        try:
            element = self._codec.notification(name, content)
        except RpcError as exc:
            logger.error("notification %s does not fit the module, dropped: %s", name,
                         exc.message)
            return
        self._deliver(notification_message(element, when))
