"""The asyncssh adapter of :class:`agent.operator.protocol.ClientSession`, and
the few NETCONF operations the commands use.

It only moves bytes and matches replies to requests; every failure becomes an
:mod:`agent.operator.errors` exception whose message names the agent, so a
command never shows a traceback for an agent that is down, a wrong password or
an unknown host key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

from lxml import etree

from agent.netconf.errors import BASE_NS, MODULE_NS
from agent.netconf.notifications import NOTIFICATION_1_0, NOTIFICATION_NS
from agent.netconf.ssh_library import asyncssh
from agent.operator.data import top_element
from agent.operator.errors import (
    AgentUnreachable,
    AuthenticationFailed,
    HostKeyNotTrusted,
    OperatorError,
    ProtocolViolation,
)
from agent.operator.protocol import (
    ClientSession,
    HelloReceived,
    NotificationReceived,
    ReplyReceived,
    check_reply,
)
from agent.operator.settings import ConnectionSettings

_Q = f"{{{BASE_NS}}}"
_M = f"{{{MODULE_NS}}}"
WITH_DEFAULTS_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults"
_READ_SIZE = 1 << 16


class NetconfClient:
    """One NETCONF session with an agent. Use ``async with connect(settings)``."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self._session = ClientSession()
        self._connection: asyncssh.SSHClientConnection | None = None
        self._writer: Any = None
        self._reader_task: asyncio.Task[None] | None = None
        self._hello: asyncio.Future[None] | None = None
        self._pending: dict[str, asyncio.Future[etree._Element]] = {}
        self._notifications: asyncio.Queue[etree._Element] = asyncio.Queue()
        self._failure: OperatorError | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        return self._session.capabilities

    @property
    def offers_notifications(self) -> bool:
        return NOTIFICATION_1_0 in self._session.capabilities

    # -- session -------------------------------------------------------------------

    async def open(self) -> None:
        settings = self.settings
        options: dict[str, Any] = {
            "username": settings.user,
            "connect_timeout": settings.timeout,
            "login_timeout": settings.timeout,
        }
        if settings.password is not None:
            # A password was given: do not also offer whatever keys lie around.
            options.update(password=settings.password, client_keys=None, agent_path=None,
                           preferred_auth="password,keyboard-interactive")
        if not settings.host_key_check:
            options["known_hosts"] = None
        where = settings.where
        try:
            self._connection = await asyncssh.connect(settings.host, settings.port, **options)
            self._writer, reader, _ = await asyncio.wait_for(
                self._connection.open_session(subsystem="netconf", encoding=None),
                settings.timeout)
        except asyncssh.PermissionDenied:
            await self.close()
            raise AuthenticationFailed(
                f"{where}: authentication failed for user {settings.user!r}") from None
        except asyncssh.HostKeyNotVerifiable:
            await self.close()
            raise HostKeyNotTrusted(
                f"{where}: the agent's SSH host key is not trusted (add it to ~/.ssh/known_hosts, "
                "or use --no-host-key-check on a lab network)") from None
        except asyncssh.ChannelOpenError as exc:
            await self.close()
            raise AgentUnreachable(f"{where}: no NETCONF subsystem ({exc.reason})") from None
        except asyncssh.ConnectionLost:
            await self.close()
            raise AgentUnreachable(f"cannot reach the agent at {where}: connection lost") from None
        except asyncssh.DisconnectError as exc:
            await self.close()
            raise AgentUnreachable(f"{where}: the agent closed the connection ({exc.reason})") from None
        except TimeoutError:
            await self.close()
            raise AgentUnreachable(f"{where}: no answer within {settings.timeout:g} s") from None
        except OSError as exc:
            await self.close()
            reason = _reason(exc)
            raise AgentUnreachable(f"cannot reach the agent at {where}: {reason}") from None
        loop = asyncio.get_running_loop()
        self._hello = loop.create_future()
        self._reader_task = asyncio.create_task(self._read(reader))
        self._writer.write(self._session.hello())
        try:
            await asyncio.wait_for(asyncio.shield(self._hello), settings.timeout)
        except TimeoutError:
            await self.close()
            raise AgentUnreachable(f"{where}: no NETCONF <hello> within {settings.timeout:g} s") from None
        except OperatorError:
            await self.close()
            raise

    async def close_session(self) -> None:
        """<close-session> (RFC 6241 §7.8), best effort: the agent logs a clean end."""
        if self._failure is None and self._writer is not None and self._session.session_id:
            with contextlib.suppress(OperatorError, asyncssh.Error, OSError):
                await self.call(etree.Element(_Q + "close-session", nsmap={None: BASE_NS}))

    async def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self._reader_task
            self._reader_task = None
        if self._connection is not None:
            self._connection.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._connection.wait_closed(), 2)
            self._connection = None

    async def _read(self, reader: Any) -> None:
        session = self._session
        try:
            while True:
                data = await reader.read(_READ_SIZE)
                if not data:
                    raise AgentUnreachable(f"{self.settings.where}: the agent ended the session")
                session.receive_data(data)
                while (event := session.next_event()) is not None:
                    if isinstance(event, HelloReceived):
                        if self._hello is not None and not self._hello.done():
                            self._hello.set_result(None)
                    elif isinstance(event, ReplyReceived):
                        waiter = self._pending.pop(event.message_id, None)
                        if waiter is not None and not waiter.done():
                            waiter.set_result(event.reply)
                    elif isinstance(event, NotificationReceived):
                        self._notifications.put_nowait(event.notification)
        except asyncio.CancelledError:
            raise
        except OperatorError as exc:
            self._fail(exc)
        except (asyncssh.Error, OSError) as exc:
            self._fail(AgentUnreachable(f"{self.settings.where}: connection lost ({exc})"))

    def _fail(self, failure: OperatorError) -> None:
        self._failure = failure
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(failure)
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(failure)
        self._pending.clear()
        self._notifications.put_nowait(etree.Element("lost"))  # wakes a waiting reader

    # -- operations ----------------------------------------------------------------

    async def call(self, operation: etree._Element, *, name: str | None = None) -> etree._Element:
        """Send one operation; its <rpc-reply>, or AgentRefused for an <rpc-error>."""
        if self._failure is not None:
            raise self._failure
        label = name or etree.QName(operation).localname
        message_id, data = self._session.request(operation)
        waiter: asyncio.Future[etree._Element] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = waiter
        try:
            self._writer.write(data)
        except (OSError, asyncssh.Error):
            self._pending.pop(message_id, None)
            raise AgentUnreachable(f"{self.settings.where}: connection lost") from None
        try:
            reply = await asyncio.wait_for(waiter, self.settings.timeout)
        except TimeoutError:
            self._pending.pop(message_id, None)
            raise AgentUnreachable(
                f"{self.settings.where}: no reply to {label} within {self.settings.timeout:g} s") from None
        return check_reply(reply, operation=label)

    async def get(self, selection: etree._Element, *,
                  with_defaults: str | None = None) -> etree._Element | None:
        """<get> (RFC 6241 §7.7) with a subtree filter: the module's top element."""
        return await self._read_data("get", selection, with_defaults=with_defaults)

    async def get_config(self, selection: etree._Element | None = None, *, source: str = "running",
                         with_defaults: str | None = None) -> etree._Element | None:
        """<get-config> (RFC 6241 §7.1): the module's top element, or None."""
        return await self._read_data("get-config", selection, source=source,
                                     with_defaults=with_defaults)

    async def _read_data(self, operation: str, selection: etree._Element | None, *,
                         source: str | None = None, with_defaults: str | None) -> etree._Element | None:
        element = etree.Element(_Q + operation, nsmap={None: BASE_NS})
        if source is not None:
            etree.SubElement(etree.SubElement(element, _Q + "source"), _Q + source)
        if selection is not None:
            wrapper = etree.SubElement(element, _Q + "filter")
            wrapper.set("type", "subtree")
            wrapper.append(selection)
        if with_defaults is not None:
            etree.SubElement(element, f"{{{WITH_DEFAULTS_NS}}}with-defaults",
                             nsmap={None: WITH_DEFAULTS_NS}).text = with_defaults
        reply = await self.call(element)
        return top_element(reply)

    async def rpc(self, name: str, parameters: Mapping[str, str] | None = None) -> dict[str, str]:
        """One of the module's RPCs (RFC 7950 §7.14): its output leaves as text."""
        element = etree.Element(_M + name, nsmap={None: MODULE_NS})
        for leaf, value in (parameters or {}).items():
            etree.SubElement(element, _M + leaf).text = value
        reply = await self.call(element, name=name)
        return {etree.QName(child).localname: (child.text or "").strip()
                for child in reply if isinstance(child.tag, str) and child.tag.startswith(_M)}

    async def subscribe(self, selection: list[etree._Element] | None = None) -> None:
        """RFC 5277 §2.1.1 <create-subscription> to the NETCONF stream; with
        ``selection``, a subtree filter of notification names."""
        element = etree.Element(f"{{{NOTIFICATION_NS}}}create-subscription",
                                nsmap={None: NOTIFICATION_NS})
        if selection:
            wrapper = etree.SubElement(element, f"{{{NOTIFICATION_NS}}}filter")
            wrapper.set("type", "subtree")
            for node in selection:
                wrapper.append(node)
        await self.call(element, name="create-subscription")

    async def next_notification(self, timeout: float | None) -> etree._Element | None:
        """The next notification, or None when ``timeout`` passes first."""
        if self._failure is not None and self._notifications.empty():
            raise self._failure
        try:
            if timeout is None:
                message = await self._notifications.get()
            else:
                message = await asyncio.wait_for(self._notifications.get(), timeout)
        except TimeoutError:
            return None
        if message.tag == "lost":
            assert self._failure is not None
            raise self._failure
        return message


def _reason(exc: OSError) -> str:
    """``Connection refused`` rather than asyncio's ``Connect call failed (...)``."""
    if isinstance(exc.errno, int) and exc.errno > 0:
        return os.strerror(exc.errno)
    return exc.strerror or str(exc) or type(exc).__name__


@contextlib.asynccontextmanager
async def connect(settings: ConnectionSettings) -> AsyncIterator[NetconfClient]:
    client = NetconfClient(settings)
    await client.open()
    try:
        yield client
        await client.close_session()
    finally:
        await client.close()


__all__ = ["NetconfClient", "ProtocolViolation", "connect"]
