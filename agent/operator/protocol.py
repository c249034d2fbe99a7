"""The client side of a NETCONF session (RFC 6241 §4, §8.1; RFC 6242 framing;
RFC 5277 notifications), sans-IO.

The session is fed the bytes of the SSH channel (:meth:`ClientSession.receive_data`)
and hands out events (:meth:`ClientSession.next_event`); what it wants written
comes back from :meth:`ClientSession.hello` and :meth:`ClientSession.request`.
It reuses the server's strict framer (``agent.netconf.framing``): both peers
start in end-of-message framing and switch to chunked framing after the
<hello> exchange when both advertise base:1.1 (RFC 6242 §4.1).

The agent's messages are parsed without DTDs or entities (the server's own
safe parser); anything but a <hello> first, then <rpc-reply> and
<notification>, is a :class:`ProtocolViolation`.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from lxml import etree

from agent.netconf.errors import BASE_NS
from agent.netconf.framing import Framer, FramingError, FramingMode
from agent.netconf.notifications import NOTIFICATION_NS
from agent.netconf.session import BASE_1_0, BASE_1_1, safe_xml_parser
from agent.operator.errors import AgentRefused, ProtocolViolation

_Q = f"{{{BASE_NS}}}"
#: A reply larger than this ends the session (a <get> of 100,000 bindings is ~40 MB).
DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024


class SessionState(enum.Enum):
    HELLO_WAIT = "hello-wait"
    ESTABLISHED = "established"


@dataclass(frozen=True)
class HelloReceived:
    session_id: int
    capabilities: frozenset[str]


@dataclass(frozen=True)
class ReplyReceived:
    message_id: str
    reply: etree._Element


@dataclass(frozen=True)
class NotificationReceived:
    notification: etree._Element


Event = HelloReceived | ReplyReceived | NotificationReceived


class ClientSession:
    def __init__(self, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self._framer = Framer(max_message_size=max_message_size)
        self._events: deque[Event] = deque()
        self._next_id = 1
        self.state = SessionState.HELLO_WAIT
        self.session_id: int | None = None
        self.capabilities: frozenset[str] = frozenset()

    # -- what we send ------------------------------------------------------------

    def hello(self) -> bytes:
        """Our <hello> (RFC 6241 §8.1), in end-of-message framing: send it first."""
        hello = etree.Element(_Q + "hello", nsmap={None: BASE_NS})
        capabilities = etree.SubElement(hello, _Q + "capabilities")
        for uri in (BASE_1_0, BASE_1_1):
            etree.SubElement(capabilities, _Q + "capability").text = uri
        return self._framer.encode(_serialize(hello))

    def request(self, operation: etree._Element) -> tuple[str, bytes]:
        """``operation`` wrapped in an <rpc> with a fresh message-id, framed."""
        if self.state is not SessionState.ESTABLISHED:
            raise RuntimeError("no request before the agent's <hello>")
        message_id = str(self._next_id)
        self._next_id += 1
        rpc = etree.Element(_Q + "rpc", nsmap={None: BASE_NS})
        rpc.set("message-id", message_id)
        rpc.append(operation)
        return message_id, self._framer.encode(_serialize(rpc))

    # -- what we receive ---------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Decode what arrived; raises :class:`ProtocolViolation` when the agent
        breaks framing or sends what no client should receive."""
        try:
            self._framer.receive_data(data)
            while (message := self._framer.next_message()) is not None:
                self._handle(message)
        except FramingError as exc:
            raise ProtocolViolation(f"the agent broke NETCONF framing ({exc.reason.value})") from None

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def _handle(self, message: bytes) -> None:
        try:
            root = etree.fromstring(message, safe_xml_parser())
        except etree.XMLSyntaxError:
            raise ProtocolViolation("the agent sent a message that is not well-formed XML") from None
        if self.state is SessionState.HELLO_WAIT:
            self._hello(root)
            return
        if root.tag == _Q + "rpc-reply":
            message_id = root.get("message-id")
            if message_id is None:
                # RFC 6241 §4.2: only a reply to an unreadable <rpc> lacks it;
                # we send none, so the session is beyond repair.
                raise ProtocolViolation(f"the agent answered without a message-id: {_error_text(root)}")
            self._events.append(ReplyReceived(message_id, root))
        elif root.tag == f"{{{NOTIFICATION_NS}}}notification":
            self._events.append(NotificationReceived(root))
        else:
            raise ProtocolViolation(f"the agent sent an unexpected <{etree.QName(root).localname}>")

    def _hello(self, root: etree._Element) -> None:
        if root.tag != _Q + "hello":
            raise ProtocolViolation("the agent did not start with <hello>")
        capabilities = frozenset(
            (element.text or "").strip() for element in root.iter(_Q + "capability"))
        session_id = root.findtext(_Q + "session-id")
        if not session_id or not session_id.strip().isdigit():
            raise ProtocolViolation("the agent's <hello> has no session-id")
        if not capabilities & {BASE_1_0, BASE_1_1}:
            raise ProtocolViolation("the agent offers no NETCONF base capability")
        self.capabilities = capabilities
        self.session_id = int(session_id)
        self.state = SessionState.ESTABLISHED
        if BASE_1_1 in capabilities:
            self._framer.mode = FramingMode.CHUNKED  # RFC 6242 §4.1
        self._events.append(HelloReceived(self.session_id, capabilities))


def check_reply(reply: etree._Element, *, operation: str) -> etree._Element:
    """The <rpc-reply> itself, or :class:`AgentRefused` for its first
    <rpc-error> of severity error (warnings are not failures, RFC 6241 §4.3)."""
    for error in reply.iter(_Q + "rpc-error"):
        if (error.findtext(_Q + "error-severity") or "error").strip() != "error":
            continue
        tag = (error.findtext(_Q + "error-tag") or "operation-failed").strip()
        message = (error.findtext(_Q + "error-message") or "").strip() or tag
        path = (error.findtext(_Q + "error-path") or "").strip() or None
        app_tag = (error.findtext(_Q + "error-app-tag") or "").strip() or None
        where = f" at {path}" if path else ""
        raise AgentRefused(f"{operation} refused: {message}{where} ({tag})", tag=tag, path=path,
                           app_tag=app_tag)
    return reply


def _error_text(root: etree._Element) -> str:
    return (root.findtext(f".//{_Q}error-message") or "").strip() or "no detail"


def _serialize(element: etree._Element) -> bytes:
    data: bytes = etree.tostring(element, xml_declaration=True, encoding="UTF-8")
    return data
