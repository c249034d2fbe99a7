"""One NETCONF session (RFC 6241 §2-§4, §7.8, §7.9, §8.1), sans-IO.

The session is fed the bytes of its SSH channel and returns the framed bytes
to write back; it opens no socket and reads no clock (idle timeouts belong to
the adapter). States::

    hello-wait --client <hello> ok--> established --close-session--> closed
        |                                  |
        +--bad <hello>------------------> closed <--malformed message / framing error

Policy choices where RFC 6241 leaves room (all end the session, because a
peer that sends them is broken or hostile and RFC 6241 defines no way to
resynchronise; ending the session also releases its locks):

* A client <hello> that is not well-formed, carries a <session-id>, or lacks
  base:1.0 / base:1.1 closes the session without a reply (§8.1).
* A message that is not well-formed XML, contains a DOCTYPE (billion laughs,
  XXE), or whose root is not a base-namespace <rpc> is answered with
  ``malformed-message`` (error-type rpc, Appendix A) and then the session is
  closed. The reply carries the <rpc> attributes (message-id) when they could
  be read. ``malformed-message`` is new in base:1.1 and "MUST NOT be sent to
  old clients", so a base:1.0-only session gets ``operation-failed``
  (error-type rpc) instead.
* A framing error or a message over ``max_message_size`` is answered with
  ``malformed-message`` / ``too-big`` (no message-id: none could be read) and
  the session is closed: the byte stream cannot be resynchronised.

Errors inside a well-formed <rpc> (no message-id, not exactly one operation)
are ordinary <rpc-error> replies and the session continues.

Notifications (RFC 5277): when the server offers :notification:, the session
itself answers <create-subscription> (one subscription per session, ending
with it) and :meth:`NetconfSession.notify` queues the encoded <notification>s
the subscription selects; the adapter writes them whenever it can
(:meth:`NetconfSession.next_notification`), between replies and outside any
request (:interleave:, RFC 5277 §6). The queue is bounded: a subscriber that
does not read loses its *oldest* notifications, counted in
``counters.dropped_notifications`` and logged, rather than the session being
closed: closing it would also end its locks and roll back its unconfirmed
confirmed commit (RFC 6241 §8.4.1) because its reader is slow, and a
management station that falls behind would rather see the latest events.

Counters are those of RFC 6022 (``/netconf-state/sessions/session``):
``in_rpcs`` counts <rpc>s that reached an operation, ``in_bad_rpcs`` every
message that was not a correct <rpc> (malformed XML, framing, no message-id,
not exactly one operation), ``out_rpc_errors`` the replies carrying an
<rpc-error>, ``out_notifications`` the notifications handed to the adapter.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lxml import etree

from agent.netconf.errors import BASE_NS, RpcError
from agent.netconf.framing import Framer, FramingError, FramingMode, FramingReason
from agent.netconf.logtext import peer_text
# safe_xml_parser re-exported: the operator's client imports it from here.
from agent.netconf.message_parser import MESSAGES
from agent.netconf.message_parser import safe_xml_parser as safe_xml_parser
from agent.netconf.notifications import (
    NOTIFICATION_1_0,
    NOTIFICATION_NS,
    Subscription,
    parse_create_subscription,
)

logger = logging.getLogger(__name__)

#: RFC 6241 §8.1 / §10.4: the base protocol capabilities.
BASE_1_0 = "urn:ietf:params:netconf:base:1.0"
BASE_1_1 = "urn:ietf:params:netconf:base:1.1"
_BASE_CAPABILITIES = frozenset((BASE_1_0, BASE_1_1))
_Q = f"{{{BASE_NS}}}"
_CREATE_SUBSCRIPTION = f"{{{NOTIFICATION_NS}}}create-subscription"
#: Encoded notifications a session keeps for a client that is not reading.
DEFAULT_MAX_PENDING_NOTIFICATIONS = 1024


class SessionState(enum.Enum):
    HELLO_WAIT = "hello-wait"
    ESTABLISHED = "established"
    CLOSED = "closed"


class CloseReason(enum.Enum):
    """Why the session decided to end (passed to ``on_close_request``)."""

    CLOSE_SESSION = "close-session"
    BAD_HELLO = "bad-hello"
    MALFORMED_MESSAGE = "malformed-message"
    FRAMING_ERROR = "framing-error"


@dataclass(frozen=True)
class SessionInfo:
    """What an operation may know about the session it runs in."""

    session_id: int
    username: str | None = None
    #: The client's capabilities from its <hello> (empty before it).
    capabilities: tuple[str, ...] = ()


@dataclass
class SessionCounters:
    """RFC 6022 §2 session counters (zero-based-counter32 on the wire), plus
    the notifications dropped for a subscriber that did not read."""

    in_rpcs: int = 0
    in_bad_rpcs: int = 0
    out_rpc_errors: int = 0
    out_notifications: int = 0
    dropped_notifications: int = 0


#: Runs one operation: given the single child of <rpc>, returns the content of
#: <rpc-reply> (None means <ok/>) or raises RpcError.
Handler = Callable[[etree._Element, SessionInfo], "etree._Element | None"]
#: Access control (RFC 8341) for what the session itself runs and sends:
#: raises RpcError access-denied for an operation the user may not run
#: (kill-session, create-subscription; close-session is never checked,
#: §3.4.4), and tells whether a <notification> may go to the user (§3.4.6).
Authorizer = Callable[[etree._Element, SessionInfo], None]
NotificationCheck = Callable[[etree._Element, SessionInfo], bool]


class _Malformed(Exception):
    """A message that cannot be handled as an <rpc> (ends the session)."""

    def __init__(self, detail: str, rpc: etree._Element | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        #: The <rpc> element when it was read, so the reply can copy its attributes.
        self.rpc = rpc


class NetconfSession:
    """The protocol side of one NETCONF session.

    ``capabilities`` are the server's (they must include base:1.0 and/or
    base:1.1). ``on_close_request(reason)`` is called, at most once, when the
    session decides to end: the frames returned by the same
    :meth:`receive_data` call must still be written, then the transport closed.
    ``on_kill_request(session_id)`` asks the server to end another session
    (RFC 6241 §7.9) and returns False when there is no such session.
    ``clock`` (POSIX seconds) is read only to refuse a <create-subscription>
    ``startTime`` in the future (RFC 5277 §2.1.1); without it that case gets
    the replay-not-supported error like any other ``startTime``.
    ``max_pending_notifications`` bounds the notifications queued for a
    client that is not reading (the oldest go first). ``authorize`` and
    ``may_notify`` are the access control hooks (RFC 8341; None: no checks).
    """

    def __init__(self, session_id: int, capabilities: Sequence[str], handler: Handler, *,
                 max_message_size: int, username: str | None = None,
                 peer: str | None = None,
                 on_close_request: Callable[[CloseReason], None] | None = None,
                 on_kill_request: Callable[[int], bool] | None = None,
                 clock: Callable[[], float] | None = None,
                 max_pending_notifications: int = DEFAULT_MAX_PENDING_NOTIFICATIONS,
                 authorize: Authorizer | None = None,
                 may_notify: NotificationCheck | None = None) -> None:
        # RFC 6241 session-id-type: uint32, 1..4294967295.
        if not 1 <= session_id <= 0xFFFFFFFF:
            raise ValueError(f"session-id {session_id} outside 1..4294967295")
        if not _BASE_CAPABILITIES.intersection(capabilities):
            raise ValueError("server capabilities must include base:1.0 or base:1.1")
        if max_pending_notifications < 1:
            raise ValueError("max_pending_notifications must be positive")
        self.session_id = session_id
        self.capabilities = tuple(capabilities)
        self.username = username
        #: The transport's peer ("address:port"), named in this session's log lines.
        self.peer = peer or "?"
        self._handler = handler
        self._authorize = authorize
        self._may_notify = may_notify
        self._on_close_request = on_close_request
        self._on_kill_request = on_kill_request
        self._framer = Framer(max_message_size=max_message_size)
        self._state = SessionState.HELLO_WAIT
        self._started = False
        self._info = SessionInfo(session_id, username)
        self._close_after_reply = False
        self._clock = clock
        self._was_established = False
        self._subscription: Subscription | None = None
        self._pending: deque[bytes] = deque()
        self._max_pending = max_pending_notifications
        self.counters = SessionCounters()
        self.close_reason: CloseReason | None = None

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def info(self) -> SessionInfo:
        return self._info

    @property
    def framing(self) -> FramingMode:
        return self._framer.mode

    @property
    def closed(self) -> bool:
        return self._state is SessionState.CLOSED

    @property
    def was_established(self) -> bool:
        """True once the <hello> exchange succeeded (stays True after close)."""
        return self._was_established

    @property
    def subscription(self) -> Subscription | None:
        """The RFC 5277 subscription; None before one, and after the session
        ended (a subscription never outlives its session, §2.1.1)."""
        return self._subscription

    @property
    def pending_notifications(self) -> int:
        return len(self._pending)

    # -- input --------------------------------------------------------------

    def start(self) -> bytes:
        """The server <hello> (§8.1), end-of-message framed (RFC 6242 §4.1)."""
        if self._started:
            raise RuntimeError("session already started")
        self._started = True
        hello = etree.Element(_Q + "hello", nsmap={None: BASE_NS})
        capabilities = etree.SubElement(hello, _Q + "capabilities")
        for uri in self.capabilities:
            etree.SubElement(capabilities, _Q + "capability").text = uri
        etree.SubElement(hello, _Q + "session-id").text = str(self.session_id)
        return self._framer.encode(_serialize(hello))

    def receive_data(self, data: bytes) -> list[bytes]:
        """Bytes from the peer; returns the frames to send, in order."""
        if not self._started:
            raise RuntimeError("start() must be called before receive_data()")
        if self._state is SessionState.CLOSED:
            return []
        out: list[bytes] = []
        self._framer.receive_data(data)
        while not self.closed:
            try:
                message = self._framer.next_message()
            except FramingError as exc:
                out.extend(self._framing_failed(exc))
                break
            if message is None:
                break
            if self._state is SessionState.HELLO_WAIT:
                self._receive_hello(message)
            else:
                out.append(self._receive_rpc(message))
        return out

    def close(self) -> None:
        """End the session locally (idle timeout, kill-session by another
        session, server shutdown). No callback is made."""
        if self._state is not SessionState.CLOSED:
            self._state = SessionState.CLOSED
        self._end_subscription()

    # -- notifications (RFC 5277) ----------------------------------------------

    def notify(self, message: etree._Element) -> None:
        """Offer one <notification> (shared by every session: never modified).
        Queued, encoded, when this session subscribes and its filter selects
        something; else ignored. A full queue loses its oldest entry."""
        if self._state is not SessionState.ESTABLISHED or self._subscription is None:
            return
        if self._may_notify is not None and not self._may_notify(message, self._info):
            return  # RFC 8341 §3.4.6: not for this user
        selected = self._subscription.select(message)
        if selected is None:
            return
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.counters.dropped_notifications += 1
            if self.counters.dropped_notifications == 1 or \
                    self.counters.dropped_notifications % self._max_pending == 0:
                logger.warning("netconf session %d is not reading its notifications: "
                               "%d dropped so far (oldest first)", self.session_id,
                               self.counters.dropped_notifications)
        self._pending.append(self._framer.encode(_serialize(selected)))

    def next_notification(self) -> bytes | None:
        """The next queued notification frame to write, or None."""
        if not self._pending:
            return None
        self.counters.out_notifications += 1
        return self._pending.popleft()

    def _end_subscription(self) -> None:
        self._subscription = None
        self._pending.clear()

    def encode_message(self, message: etree._Element) -> bytes:
        """Frame a server-originated message (e.g. a RFC 5277 <notification>)."""
        if self._state is not SessionState.ESTABLISHED:
            raise RuntimeError(f"cannot send in state {self._state.value}")
        return self._framer.encode(_serialize(message))

    # -- hello ----------------------------------------------------------------

    def _receive_hello(self, message: bytes) -> None:
        try:
            root = self._parse(message)
        except _Malformed as exc:
            self._end(CloseReason.BAD_HELLO, f"client <hello>: {exc.detail}")
            return
        if root.tag != _Q + "hello":
            self._end(CloseReason.BAD_HELLO, f"expected <hello>, got {root.tag}")
            return
        if root.find(_Q + "session-id") is not None:
            # §8.1: "A server receiving a <hello> message with a <session-id>
            # element MUST terminate the NETCONF session."
            self._end(CloseReason.BAD_HELLO, "client <hello> carries a session-id")
            return
        client_capabilities = tuple(
            (element.text or "").strip()
            for element in root.iterfind(f"{_Q}capabilities/{_Q}capability"))
        bases = {uri.split("?", 1)[0] for uri in client_capabilities} & _BASE_CAPABILITIES
        common = bases & set(self.capabilities)
        if not common:
            self._end(CloseReason.BAD_HELLO,
                      f"no common base capability (client offers {sorted(bases) or 'none'})")
            return
        self._info = SessionInfo(self.session_id, self.username, client_capabilities)
        self._state = SessionState.ESTABLISHED
        self._was_established = True
        if BASE_1_1 in common:
            # RFC 6242 §4.1: chunked framing for every message after the hellos.
            self._framer.mode = FramingMode.CHUNKED
        logger.info("netconf session %d established (user %s, %s framing)", self.session_id,
                    self.username, self._framer.mode.value)

    # -- rpc ------------------------------------------------------------------

    def _receive_rpc(self, message: bytes) -> bytes:
        try:
            rpc = self._parse(message)
            if rpc.tag != _Q + "rpc":
                raise _Malformed(f"expected <rpc>, got {rpc.tag}")
        except _Malformed as exc:
            self.counters.in_bad_rpcs += 1
            self.counters.out_rpc_errors += 1
            reply = self._reply(exc.rpc, [self._malformed_error(exc.detail).to_xml()])
            self._end(CloseReason.MALFORMED_MESSAGE, exc.detail)
            return reply
        try:
            operation = self._operation(rpc)
        except RpcError as exc:
            self.counters.in_bad_rpcs += 1
            content = exc.to_xml()
        else:
            self.counters.in_rpcs += 1
            try:
                content = self._dispatch(operation)
            except RpcError as exc:
                content = exc.to_xml()
            except Exception:  # a bug in one operation must not take the session down
                logger.exception("netconf session %d: operation failed", self.session_id)
                content = RpcError("operation-failed",
                                   "internal error while running the operation",
                                   error_type="application").to_xml()
        if content.tag == _Q + "rpc-error":
            self.counters.out_rpc_errors += 1
        reply = self._reply(rpc, [content])
        if self._close_after_reply:
            self._end(CloseReason.CLOSE_SESSION, "close-session")
        return reply

    def _operation(self, rpc: etree._Element) -> etree._Element:
        """The one operation of a well-formed <rpc> (RFC 6241 §4.1)."""
        if "message-id" not in rpc.attrib:
            # RFC 6241 §4.1.
            raise RpcError("missing-attribute", "<rpc> has no message-id attribute",
                           error_type="rpc",
                           info={"bad-attribute": "message-id", "bad-element": "rpc"})
        if (rpc.text or "").strip() or any((child.tail or "").strip() for child in rpc):
            raise RpcError("bad-element", "unexpected text inside <rpc>",
                           error_type="protocol", info={"bad-element": "rpc"})
        operations = [child for child in rpc if isinstance(child.tag, str)]
        if not operations:
            raise RpcError("missing-element", "<rpc> contains no operation",
                           error_type="protocol")
        if len(operations) > 1:
            raise RpcError("unknown-element", "<rpc> must contain exactly one operation",
                           error_type="protocol",
                           info={"bad-element": etree.QName(operations[1]).localname})
        return operations[0]

    def _dispatch(self, operation: etree._Element) -> etree._Element:
        if operation.tag == _Q + "close-session":
            # §7.8: answer <ok/>, then end the session (after the reply is sent).
            self._close_after_reply = True
            return _ok()
        if operation.tag == _Q + "kill-session":
            if self._authorize is not None:
                self._authorize(operation, self._info)  # RFC 8341 §3.2.10
            self._kill_session(operation)
            return _ok()
        if operation.tag == _CREATE_SUBSCRIPTION and NOTIFICATION_1_0 in self.capabilities:
            if self._authorize is not None:
                self._authorize(operation, self._info)  # RFC 8341 §3.4.4
            self._create_subscription(operation)
            return _ok()
        content = self._handler(operation, self._info)
        return _ok() if content is None else content

    def _kill_session(self, operation: etree._Element) -> None:
        """RFC 6241 §7.9."""
        element = operation.find(_Q + "session-id")
        if element is None:
            raise RpcError("missing-element", "kill-session needs a session-id",
                           error_type="protocol", info={"bad-element": "session-id"})
        text = (element.text or "").strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 0xFFFFFFFF:
            raise RpcError("invalid-value", f"session-id {text!r} is not a valid session id",
                           error_type="protocol", info={"bad-element": "session-id"})
        target = int(text)
        if target == self.session_id:
            raise RpcError("invalid-value", "kill-session cannot end the current session; "
                           "use close-session", error_type="protocol",
                           info={"bad-element": "session-id"})
        if self._on_kill_request is None or not self._on_kill_request(target):
            raise RpcError("invalid-value", f"no session {target}", error_type="protocol",
                           info={"bad-element": "session-id"})
        logger.info("netconf session %d killed session %d", self.session_id, target)

    def _create_subscription(self, operation: etree._Element) -> None:
        """RFC 5277 §2.1.1. A second one while the session's subscription is
        active is operation-failed, error-type protocol (§6.5, the
        :interleave: capability's change to <create-subscription>)."""
        if self._subscription is not None:
            raise RpcError("operation-failed", "this session already has a subscription",
                           error_type="protocol")
        self._subscription = parse_create_subscription(
            operation, now=self._clock() if self._clock is not None else None)
        logger.info("netconf session %d subscribed to notifications%s", self.session_id,
                    " (filtered)" if self._subscription.filter is not None else "")

    # -- errors and replies ---------------------------------------------------

    def _framing_failed(self, exc: FramingError) -> list[bytes]:
        if self._state is SessionState.HELLO_WAIT:
            self._end(CloseReason.FRAMING_ERROR, f"before <hello>: {exc}")
            return []
        self.counters.in_bad_rpcs += 1
        self.counters.out_rpc_errors += 1
        if exc.reason is FramingReason.MESSAGE_TOO_BIG:
            error = RpcError("too-big", f"message exceeds {self._framer.max_message_size} bytes",
                             error_type="rpc")
        else:
            error = self._malformed_error(f"framing: {exc.detail}")
        reply = self._reply(None, [error.to_xml()])
        self._end(CloseReason.FRAMING_ERROR, str(exc))
        return [reply]

    def _malformed_error(self, detail: str) -> RpcError:
        # Appendix A: malformed-message is base:1.1 only.
        if BASE_1_1 in self._info.capabilities and BASE_1_1 in self.capabilities:
            return RpcError("malformed-message", detail, error_type="rpc")
        return RpcError("operation-failed", f"malformed message: {detail}", error_type="rpc")

    def _reply(self, rpc: etree._Element | None, content: list[etree._Element]) -> bytes:
        """<rpc-reply> carrying every attribute of the <rpc> (§4.2), with the
        namespace prefixes those attributes use."""
        nsmap: dict[str | None, str] = {None: BASE_NS}
        if rpc is not None:
            nsmap.update((prefix, uri) for prefix, uri in rpc.nsmap.items() if prefix)
        if any((path.text or "").startswith("/nc:")
               for element in content for path in element.iterfind(_Q + "error-path")):
            # An error-path naming the operation (RFC 8341 §3.4.4:
            # /nc:rpc/nc:edit-config) needs "nc" bound, and lxml drops that
            # binding anywhere below the base namespace's default declaration.
            nsmap.setdefault("nc", BASE_NS)
        # Made in the <rpc>'s own document, so the attribute names the peer
        # chose are interned in the dictionary of the thread that parsed it
        # (freed with it: agent.netconf.message_parser), never in this
        # long-lived thread's.
        make = rpc.makeelement if rpc is not None else etree.Element
        reply = make(_Q + "rpc-reply", nsmap=nsmap)
        if rpc is not None:
            for name, value in rpc.attrib.items():
                reply.set(name, value)
        for element in content:
            reply.append(element)
        return self._framer.encode(_serialize(reply))

    def _parse(self, message: bytes) -> etree._Element:
        # Leading whitespace: base:1.0 clients often send a newline after "]]>]]>".
        message = message.lstrip(b" \t\r\n")
        try:
            root = MESSAGES.parse(message)
        except etree.XMLSyntaxError as exc:
            raise _Malformed(f"not well-formed XML: {exc}") from None
        if root is None:
            raise _Malformed("empty message")
        docinfo = root.getroottree().docinfo
        if (docinfo.encoding or "UTF-8").upper() not in ("UTF-8", "UTF8"):
            # RFC 6241 §4 (and Appendix A's example of malformed-message):
            # NETCONF messages are UTF-8.
            raise _Malformed(f"encoding {docinfo.encoding} is not UTF-8",
                             rpc=root if root.tag == _Q + "rpc" else None)
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            # Never honoured (entities stay unexpanded), always refused.
            raise _Malformed("DOCTYPE is not allowed in NETCONF messages",
                             rpc=root if root.tag == _Q + "rpc" else None)
        return root

    def _end(self, reason: CloseReason, detail: str) -> None:
        if self._state is SessionState.CLOSED:
            return
        self._state = SessionState.CLOSED
        self.close_reason = reason
        self._end_subscription()
        log = logger.info if reason is CloseReason.CLOSE_SESSION else logger.warning
        # The detail quotes the peer's own text (element names, namespace
        # URIs, libxml2's messages about them): bounded, one line.
        log("netconf session %d from %s closing: %s (%s)", self.session_id, self.peer,
            reason.value, peer_text(detail))
        if self._on_close_request is not None:
            self._on_close_request(reason)


def _ok() -> etree._Element:
    return etree.Element(_Q + "ok", nsmap={None: BASE_NS})


def _serialize(element: etree._Element) -> bytes:
    serialized: bytes = etree.tostring(element, xml_declaration=True, encoding="UTF-8")
    return serialized
