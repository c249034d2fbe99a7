"""NETCONF over SSH against real clients on loopback (port 0, hard timeout):
ncclient for the everyday path, a raw asyncssh client for what ncclient
cannot send (base:1.0-only hellos, DOCTYPEs, oversized and abandoned
messages). The operations are a small in-test handler; the real ones are
wired by the composition root."""

from __future__ import annotations

import asyncio
import faulthandler
import os
import stat
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations import RPCError as NcclientRpcError
from ncclient.transport import parser as nc_parser
from ncclient.transport import session as nc_session
from ncclient.transport.errors import AuthenticationError, TransportError

from agent.netconf.errors import BASE_NS, RpcError
from agent.netconf.framing import END_OF_MESSAGE, Framer, FramingMode
from agent.netconf.server import NetconfServer, sha_crypt, verify_password
from agent.netconf.session import BASE_1_0, BASE_1_1, SessionInfo
from agent.netconf.settings import NetconfSettings, NetconfUser
from agent.netconf.ssh_library import asyncssh

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # only to make hashes the way an operator would (libc crypt(3))


Q = f"{{{BASE_NS}}}"
TEST_NS = "urn:example:proxymip:test"
PASSWORD = "s3cret-pw"
HARD_TIMEOUT = 25.0
WAIT = 5.0
CAPABILITIES = [BASE_1_0, BASE_1_1, "urn:ietf:params:netconf:capability:writable-running:1.0"]


@pytest.fixture(autouse=True)
def hard_timeout(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # ncclient polls its socket every TICK (100 ms): make requests fast.
    monkeypatch.setattr(nc_session, "TICK", 0.005)
    monkeypatch.setattr(nc_parser, "TICK", 0.005)
    faulthandler.dump_traceback_later(HARD_TIMEOUT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def handler(operation: etree._Element, info: SessionInfo) -> etree._Element | None:
    """get-config answers fixed data; <whoami> echoes the session info."""
    if operation.tag == Q + "get-config":
        data = etree.Element(Q + "data", nsmap={None: BASE_NS})
        etree.SubElement(data, f"{{{TEST_NS}}}greeting", nsmap={None: TEST_NS}).text = "hello"
        return data
    if operation.tag == f"{{{TEST_NS}}}whoami":
        data = etree.Element(Q + "data", nsmap={None: BASE_NS})
        data.set("session-id", str(info.session_id))
        data.set("user", info.username or "")
        data.set("base11", str(BASE_1_1 in info.capabilities))
        return data
    if operation.tag == f"{{{TEST_NS}}}ping":
        return None
    raise RpcError("operation-not-supported", f"unknown operation {etree.QName(operation).localname}",
                   error_type="protocol")


class Ended:
    """on_session_end recorder, safe across the server thread."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self._condition = threading.Condition()

    def __call__(self, session_id: int) -> None:
        with self._condition:
            self.ids.append(session_id)
            self._condition.notify_all()

    def wait_for(self, session_id: int, timeout: float = WAIT) -> None:
        with self._condition:
            assert self._condition.wait_for(lambda: session_id in self.ids, timeout), \
                f"session {session_id} did not end (ended: {self.ids})"


class RunningServer:
    """A NetconfServer in its own thread and event loop."""

    def __init__(self, settings: NetconfSettings) -> None:
        self.ended = Ended()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = NetconfServer(settings, CAPABILITIES, handler, on_session_end=self.ended)
        self.call(self.server.start())
        assert self.server.port
        self.port: int = self.server.port

    def call(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout=WAIT)

    def stop(self) -> None:
        if self.loop.is_closed():
            return

        async def close() -> None:
            self.server.close()
            await self.server.wait_closed()
        self.call(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()


@pytest.fixture
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
def start_server(tmp_path: Path, client_key: asyncssh.SSHKey
                 ) -> Iterator[Callable[..., RunningServer]]:
    servers: list[RunningServer] = []
    users = (
        NetconfUser("admin", crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_SHA512))),
        NetconfUser("keyuser", authorized_keys=(
            client_key.export_public_key().decode().strip(),)),
    )

    def start(**overrides: Any) -> RunningServer:
        settings = replace(NetconfSettings(address="127.0.0.1", port=0,
                                           host_key_file=str(tmp_path / "host_key"),
                                           users=users), **overrides)
        running = RunningServer(settings)
        servers.append(running)
        return running

    yield start
    for running in servers:
        running.stop()


def nc_connect(port: int, **kwargs: Any) -> manager.Manager:
    return manager.connect(host="127.0.0.1", port=port, username="admin", password=PASSWORD,
                           hostkey_verify=False, look_for_keys=False, allow_agent=False,
                           timeout=WAIT, **kwargs)


# -- ncclient ---------------------------------------------------------------------

def test_ncclient_hello_chunked_get_config_and_errors(start_server: Callable[..., RunningServer]
                                                      ) -> None:
    running = start_server()
    with nc_connect(running.port) as m:
        assert set(CAPABILITIES) <= set(m.server_capabilities)
        assert m.session_id == "1"
        # Both sides offer base:1.1: chunked framing after the hellos (RFC 6242 §4.1).
        assert m._session._base == nc_session.NetconfBase.BASE_11

        reply = m.get_config(source="running")
        assert reply.ok
        assert reply.data.find(f"{{{TEST_NS}}}greeting").text == "hello"

        whoami = m.dispatch(etree.Element(f"{{{TEST_NS}}}whoami"))
        data = etree.fromstring(whoami.xml.encode()).find(Q + "data")
        assert (data.get("session-id"), data.get("user"), data.get("base11")) == \
            ("1", "admin", "True")

        with pytest.raises(NcclientRpcError) as info:
            m.dispatch(etree.Element(f"{{{TEST_NS}}}frobnicate"))
        assert info.value.tag == "operation-not-supported"
        assert info.value.type == "protocol"

        # The session survives an rpc-error.
        assert m.get_config(source="running").ok
    # Leaving the context manager sends close-session.
    running.ended.wait_for(1)


def test_ncclient_close_session_ends_the_session(start_server: Callable[..., RunningServer]
                                                 ) -> None:
    running = start_server()
    m = nc_connect(running.port)
    session_id = int(m.session_id)
    assert m.close_session().ok
    running.ended.wait_for(session_id)
    assert running.server.session_ids == []


def test_ncclient_kill_session(start_server: Callable[..., RunningServer]) -> None:
    running = start_server()
    victim = nc_connect(running.port)  # no context manager: it will be gone
    with nc_connect(running.port) as killer:
        victim_id = int(victim.session_id)
        assert victim_id != int(killer.session_id)

        # RFC 6241 §7.9: killing the current session is invalid-value.
        with pytest.raises(NcclientRpcError) as info:
            killer.kill_session(killer.session_id)
        assert info.value.tag == "invalid-value"
        with pytest.raises(NcclientRpcError) as info:
            killer.kill_session("4242")
        assert info.value.tag == "invalid-value"

        assert killer.kill_session(str(victim_id)).ok
        # The victim's locks are released before the killer hears <ok/>.
        assert victim_id in running.ended.ids
        assert running.server.session_ids == [int(killer.session_id)]
        # The server closed the victim's channel; ncclient's transport thread
        # notices it asynchronously, then every request fails at once.
        deadline = time.monotonic() + WAIT
        while victim.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not victim.connected
        with pytest.raises(TransportError):
            victim.get_config(source="running")
        assert killer.get_config(source="running").ok


def test_ncclient_wrong_password_rejected(start_server: Callable[..., RunningServer]) -> None:
    running = start_server()
    with pytest.raises(AuthenticationError):
        manager.connect(host="127.0.0.1", port=running.port, username="admin",
                        password="wrong", hostkey_verify=False, look_for_keys=False,
                        allow_agent=False, timeout=WAIT)


# -- raw asyncssh client --------------------------------------------------------------

def hello(*capabilities: str, session_id: int | None = None) -> bytes:
    root = etree.Element(Q + "hello", nsmap={None: BASE_NS})
    caps = etree.SubElement(root, Q + "capabilities")
    for uri in capabilities:
        etree.SubElement(caps, Q + "capability").text = uri
    if session_id is not None:
        etree.SubElement(root, Q + "session-id").text = str(session_id)
    return etree.tostring(root)


def rpc(operation: str, message_id: str | None = "1", extra: str = "") -> bytes:
    attribute = f' message-id="{message_id}"' if message_id is not None else ""
    return (f'<rpc{attribute} xmlns="{BASE_NS}"{extra}>{operation}</rpc>').encode()


class RawClient:
    """A NETCONF client written by hand on asyncssh, framing every message
    itself so tests can send what a polite client never would."""

    def __init__(self, conn: asyncssh.SSHClientConnection, writer: Any, reader: Any) -> None:
        self.conn, self.writer, self.reader = conn, writer, reader
        self.framer = Framer(max_message_size=1 << 24)
        self.server_hello: etree._Element | None = None

    @classmethod
    async def connect(cls, port: int, *, username: str = "admin", password: str | None = PASSWORD,
                      client_keys: list[asyncssh.SSHKey] | None = None) -> RawClient:
        conn = await asyncssh.connect(
            "127.0.0.1", port, username=username, password=password,
            client_keys=client_keys or None, known_hosts=None, agent_path=None,
            preferred_auth="publickey" if client_keys else "password")
        _OPEN_CONNECTIONS.append(conn)
        writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
        client = cls(conn, writer, reader)
        client.server_hello = etree.fromstring(await client.read_raw())
        return client

    async def start(self, *capabilities: str) -> None:
        """Send our hello; chunked framing follows when both offer base:1.1."""
        self.writer.write(hello(*capabilities) + END_OF_MESSAGE)
        assert self.server_hello is not None
        server_caps = {c.text for c in self.server_hello.iter(Q + "capability")}
        if BASE_1_1 in capabilities and BASE_1_1 in server_caps:
            self.framer.mode = FramingMode.CHUNKED

    @property
    def session_id(self) -> int:
        assert self.server_hello is not None
        return int(self.server_hello.findtext(Q + "session-id"))

    def send(self, message: bytes) -> None:
        self.writer.write(self.framer.encode(message))

    async def read_raw(self) -> bytes:
        async def read() -> bytes:
            while (message := self.framer.next_message()) is None:
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError("server closed the channel")
                self.framer.receive_data(data)
            return message
        return await asyncio.wait_for(read(), WAIT)

    async def read(self) -> etree._Element:
        return etree.fromstring(await self.read_raw())

    async def call(self, message: bytes) -> etree._Element:
        self.send(message)
        return await self.read()

    async def expect_closed(self) -> None:
        data = await asyncio.wait_for(self.reader.read(65536), WAIT)
        assert data == b""

    async def close(self) -> None:
        """Closed before the test's event loop ends (else its socket outlives it)."""
        self.conn.close()
        await self.conn.wait_closed()


# Every RawClient connection, closed when its scenario ends whatever the
# scenario did: a connection the server closed (or refused a channel on) still
# holds its socket, and one left to the garbage collector raises a
# ResourceWarning in whichever later test happens to collect it.
_OPEN_CONNECTIONS: list[asyncssh.SSHClientConnection] = []


async def _closing_connections(coroutine: Any) -> Any:
    try:
        return await asyncio.wait_for(coroutine, HARD_TIMEOUT - 5)
    finally:
        connections = list(_OPEN_CONNECTIONS)
        _OPEN_CONNECTIONS.clear()
        for conn in connections:
            conn.close()
        for conn in connections:
            await conn.wait_closed()


def run(coroutine: Any) -> Any:
    return asyncio.run(_closing_connections(coroutine))


def error_tag(reply: etree._Element) -> str | None:
    return reply.findtext(f"{Q}rpc-error/{Q}error-tag")


def test_base10_only_client_keeps_eom_framing(start_server: Callable[..., RunningServer]) -> None:
    running = start_server()

    async def scenario() -> None:
        client = await RawClient.connect(running.port)
        await client.start(BASE_1_0)
        client.send(rpc("<get-config><source><running/></source></get-config>", "7"))
        raw = await asyncio.wait_for(client.reader.readuntil(END_OF_MESSAGE), WAIT)
        assert not raw.startswith(b"\n#")
        reply = etree.fromstring(raw[:-len(END_OF_MESSAGE)])
        assert reply.tag == Q + "rpc-reply" and reply.get("message-id") == "7"
        assert reply.find(f"{Q}data/{{{TEST_NS}}}greeting").text == "hello"
        whoami = await client.call(rpc(f'<whoami xmlns="{TEST_NS}"/>', "8"))
        assert whoami.find(Q + "data").get("base11") == "False"
        await client.close()

    run(scenario())


def test_base11_raw_chunked_reply_and_rpc_rules(start_server: Callable[..., RunningServer]
                                                ) -> None:
    running = start_server()

    async def scenario() -> None:
        client = await RawClient.connect(running.port)
        await client.start(BASE_1_0, BASE_1_1)
        client.send(rpc(f'<ping xmlns="{TEST_NS}"/>', "1"))
        raw = await asyncio.wait_for(client.reader.read(65536), WAIT)
        assert raw.startswith(b"\n#") and raw.endswith(b"\n##\n")

        # Every <rpc> attribute is copied to <rpc-reply>, prefixes kept (§4.2).
        reply = await client.call(rpc(f'<ping xmlns="{TEST_NS}"/>', "101",
                                      ' xmlns:ex="http://example.net/content/1.0"'
                                      ' ex:user-id="fred"'))
        assert reply.get("message-id") == "101"
        assert reply.get("{http://example.net/content/1.0}user-id") == "fred"
        assert reply.find(Q + "ok") is not None

        # No message-id: missing-attribute (RFC 6241 §4.1); the session goes on.
        reply = await client.call(rpc("<get-config><source><running/></source></get-config>",
                                      None, ' other="x"'))
        assert reply.get("other") == "x" and reply.get("message-id") is None
        error = reply.find(Q + "rpc-error")
        assert error.findtext(Q + "error-type") == "rpc"
        assert error.findtext(Q + "error-tag") == "missing-attribute"
        assert error.findtext(f"{Q}error-info/{Q}bad-attribute") == "message-id"
        assert error.findtext(f"{Q}error-info/{Q}bad-element") == "rpc"

        # Exactly one operation.
        reply = await client.call(rpc("", "2"))
        assert error_tag(reply) == "missing-element"
        reply = await client.call(rpc("<get-config/><get-config/>", "3"))
        assert error_tag(reply) == "unknown-element"

        reply = await client.call(rpc("<kill-session/>", "4"))
        assert error_tag(reply) == "missing-element"
        reply = await client.call(rpc("<kill-session><session-id>x</session-id></kill-session>",
                                      "5"))
        assert error_tag(reply) == "invalid-value"

        reply = await client.call(rpc("<close-session/>", "6"))
        assert reply.get("message-id") == "6" and reply.find(Q + "ok") is not None
        await client.expect_closed()
        running.ended.wait_for(client.session_id)

    run(scenario())


@pytest.mark.parametrize("attack, message_id", [
    # Billion laughs: libxml2 refuses the amplification, so no message-id is read.
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
     + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                for i in range(1, 10))
     + b']><rpc message-id="66" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
       b"<get>&lol9;</get></rpc>", None),
    # XXE: parsed without resolving anything, then refused for its DOCTYPE.
    ((b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
      b'<rpc message-id="67" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
      b"<get-config><source><running/></source>&x;</get-config></rpc>"), "67"),
    (b'<rpc message-id="68" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get>', None),
    # RFC 6241 §4: UTF-8 only.
    ((b'<?xml version="1.0" encoding="ISO-8859-1"?>'
      b'<rpc message-id="69" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get/></rpc>'), "69"),
    # Not an <rpc> at all.
    (b'<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"/>', None),
])
def test_doctype_and_malformed_xml_rejected_while_others_are_served(
        start_server: Callable[..., RunningServer], attack: bytes, message_id: str | None) -> None:
    running = start_server()

    async def scenario() -> None:
        bystander = await RawClient.connect(running.port)
        await bystander.start(BASE_1_1)
        attacker = await RawClient.connect(running.port)
        await attacker.start(BASE_1_1)

        reply = await attacker.call(attack)
        assert reply.get("message-id") == message_id
        error = reply.find(Q + "rpc-error")
        assert error.findtext(Q + "error-tag") == "malformed-message"
        assert error.findtext(Q + "error-type") == "rpc"
        assert b"root:" not in etree.tostring(reply)
        # Documented policy: a malformed message ends that session.
        await attacker.expect_closed()
        running.ended.wait_for(attacker.session_id)

        reply = await bystander.call(rpc("<get-config><source><running/></source></get-config>"))
        assert reply.find(f"{Q}data/{{{TEST_NS}}}greeting").text == "hello"
        await bystander.close()

    run(scenario())


def test_malformed_message_to_base10_client_is_operation_failed(
        start_server: Callable[..., RunningServer]) -> None:
    """Appendix A: malformed-message MUST NOT be sent to base:1.0 clients."""
    running = start_server()

    async def scenario() -> None:
        client = await RawClient.connect(running.port)
        await client.start(BASE_1_0)
        reply = await client.call(b'<!DOCTYPE rpc><rpc message-id="9" xmlns="' + BASE_NS.encode()
                                  + b'"><get/></rpc>')
        assert reply.get("message-id") == "9"
        assert error_tag(reply) == "operation-failed"
        assert reply.findtext(f"{Q}rpc-error/{Q}error-type") == "rpc"
        await client.expect_closed()

    run(scenario())


def test_message_over_max_size(start_server: Callable[..., RunningServer]) -> None:
    running = start_server(max_message_size=4096)

    async def scenario() -> None:
        bystander = await RawClient.connect(running.port)
        await bystander.start(BASE_1_1)
        client = await RawClient.connect(running.port)
        await client.start(BASE_1_1)
        client.send(rpc(f"<get-config><filter>{'x' * 10000}</filter></get-config>"))
        reply = await client.read()
        assert error_tag(reply) == "too-big"
        await client.expect_closed()
        running.ended.wait_for(client.session_id)
        reply = await bystander.call(rpc("<get-config><source><running/></source></get-config>"))
        assert reply.find(Q + "data") is not None
        await client.close()
        await bystander.close()

    run(scenario())


def test_abandoned_client_does_not_block_others(start_server: Callable[..., RunningServer]
                                                ) -> None:
    running = start_server()

    async def scenario() -> None:
        abandoned = await RawClient.connect(running.port)
        await abandoned.start(BASE_1_1)
        whole = abandoned.framer.encode(rpc("<get-config><source><running/></source></get-config>"))
        abandoned.writer.write(whole[:len(whole) // 2])  # ... and silence

        silent = await asyncssh.connect("127.0.0.1", running.port, username="admin",
                                        password=PASSWORD, known_hosts=None)  # no channel at all
        for _ in range(3):
            other = await RawClient.connect(running.port)
            await other.start(BASE_1_1)
            reply = await other.call(rpc("<get-config><source><running/></source></get-config>"))
            assert reply.find(Q + "data") is not None
            await other.close()
        # The abandoned session is still there, waiting for the rest.
        assert abandoned.session_id in running.server.session_ids
        abandoned.writer.write(whole[len(whole) // 2:])
        assert (await abandoned.read()).find(Q + "data") is not None
        await abandoned.close()
        silent.close()
        await silent.wait_closed()

    run(scenario())


def test_idle_timeout_closes_the_session(start_server: Callable[..., RunningServer]) -> None:
    running = start_server(idle_timeout=0.3)

    async def scenario() -> None:
        client = await RawClient.connect(running.port)
        await client.start(BASE_1_1)
        assert (await client.call(rpc(f'<ping xmlns="{TEST_NS}"/>'))).find(Q + "ok") is not None
        await client.expect_closed()  # no traffic for 0.3 s
        running.ended.wait_for(client.session_id)

    run(scenario())


def test_bad_client_hellos_close_the_session(start_server: Callable[..., RunningServer]) -> None:
    running = start_server()

    async def scenario() -> None:
        for bad in (hello(BASE_1_1, session_id=5),       # RFC 6241 §8.1
                    hello("urn:example:not-a-base"),     # no base capability
                    rpc("<get-config/>"),                # rpc before hello
                    b"<hello"):                           # not well-formed
            client = await RawClient.connect(running.port)
            client.writer.write(bad + END_OF_MESSAGE)
            await client.expect_closed()
            running.ended.wait_for(client.session_id)
            await client.close()

    run(scenario())


def test_wrong_password_and_unknown_user_rejected(start_server: Callable[..., RunningServer]
                                                  ) -> None:
    running = start_server()

    async def scenario() -> None:
        for username, password in (("admin", "wrong"), ("nobody", PASSWORD),
                                   ("keyuser", PASSWORD)):
            with pytest.raises(asyncssh.PermissionDenied):
                await RawClient.connect(running.port, username=username, password=password)

    run(scenario())


def test_public_key_login(start_server: Callable[..., RunningServer],
                          client_key: asyncssh.SSHKey) -> None:
    running = start_server()

    async def scenario() -> None:
        client = await RawClient.connect(running.port, username="keyuser", password=None,
                                         client_keys=[client_key])
        await client.start(BASE_1_1)
        reply = await client.call(rpc(f'<whoami xmlns="{TEST_NS}"/>'))
        assert reply.find(Q + "data").get("user") == "keyuser"
        await client.close()

        stranger = asyncssh.generate_private_key("ssh-ed25519")
        with pytest.raises(asyncssh.PermissionDenied):
            await RawClient.connect(running.port, username="keyuser", password=None,
                                    client_keys=[stranger])

    run(scenario())


def test_max_sessions_refused_with_a_clear_message(start_server: Callable[..., RunningServer]
                                                   ) -> None:
    running = start_server(max_sessions=1)

    async def scenario() -> None:
        first = await RawClient.connect(running.port)
        await first.start(BASE_1_1)
        with pytest.raises(asyncssh.DisconnectError) as info:
            await RawClient.connect(running.port)
        assert info.value.code == asyncssh.DISC_TOO_MANY_CONNECTIONS
        assert "maximum of 1 sessions" in info.value.reason
        # A second NETCONF channel on the admitted connection is refused too.
        with pytest.raises(asyncssh.ChannelOpenError):
            await first.conn.open_session(subsystem="netconf", encoding=None)
        await first.close()
        running.ended.wait_for(first.session_id)
        # The slot is free again once the first connection is gone.
        async def reconnect() -> RawClient:
            while True:
                try:
                    return await RawClient.connect(running.port)
                except asyncssh.DisconnectError:  # connection teardown still in flight
                    await asyncio.sleep(0.01)
        second = await asyncio.wait_for(reconnect(), WAIT)
        assert second.session_id > first.session_id
        await second.close()

    run(scenario())


def test_only_the_netconf_subsystem_is_served(start_server: Callable[..., RunningServer]) -> None:
    running = start_server()

    async def scenario() -> None:
        conn = await asyncssh.connect("127.0.0.1", running.port, username="admin",
                                      password=PASSWORD, known_hosts=None)
        for kwargs in ({"subsystem": "sftp"}, {"command": "id"}, {}):
            with pytest.raises(asyncssh.ChannelOpenError) as info:
                await conn.open_session(**kwargs)
            assert "closed" not in info.value.reason.lower(), info.value.reason
        # The connection survives the refusals and still gets NETCONF.
        writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
        assert b"<session-id>" in await asyncio.wait_for(reader.readuntil(END_OF_MESSAGE), WAIT)
        conn.close()
        await conn.wait_closed()

    run(scenario())


def test_host_key_generated_once_and_reused(start_server: Callable[..., RunningServer],
                                            tmp_path: Path) -> None:
    async def fingerprint(port: int) -> str:
        conn = await asyncssh.connect("127.0.0.1", port, username="admin", password=PASSWORD,
                                      known_hosts=None)
        key = conn.get_server_host_key()
        conn.close()
        await conn.wait_closed()
        assert key is not None and key.algorithm == b"ssh-ed25519"
        return key.get_fingerprint()

    first = start_server()
    before = run(fingerprint(first.port))
    first.stop()
    key_file = tmp_path / "host_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    second = start_server()
    assert run(fingerprint(second.port)) == before


def test_sha_crypt_matches_libc_crypt() -> None:
    for method in (crypt.METHOD_SHA512, crypt.METHOD_SHA256):
        for password in ("", "a", PASSWORD, "x" * 80, "pässwörd"):
            for rounds in (None, 1000, 7777):
                stored = crypt.crypt(password, crypt.mksalt(method, rounds=rounds))
                assert sha_crypt(password, stored) == stored
                assert verify_password(password, stored)
                assert not verify_password(password + "!", stored)
    assert not verify_password(PASSWORD, crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_MD5)))
    assert not verify_password(PASSWORD, None)
