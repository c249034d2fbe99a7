"""What a NETCONF peer can put in the agent's log (issue 13, found by the
fuzzing harness, docs/security.md "NETCONF"): every line that quotes the
peer's text is bounded and stays one line, and still names the session and
the peer. A forged "Failed password ... from <address>" line would make the
fail2ban filter (docs/fail2ban/proxymip-netconf.conf) ban a third party.

Real sessions over loopback SSH (asyncssh) against a real NetconfServer."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest

from agent.netconf.ssh_library import asyncssh  # first: it silences asyncssh's import warning
from agent.netconf.errors import BASE_NS
from agent.netconf.logtext import PEER_TEXT_LIMIT, peer_text
from agent.netconf.session import BASE_1_0, BASE_1_1
from tests.interop.test_netconf_preauth import LOG_FORMAT
from tests.interop.test_netconf_transport import (  # noqa: F401  (fixtures)
    PASSWORD,
    RawClient,
    RunningServer,
    client_key,
    hard_timeout,
    hello,
    run,
    start_server,
)

FORGED = ("2026-12-06 01:23:00,123 agent.netconf.server WARNING Failed password for root "
          "from 192.0.2.99 port 4242 ssh2")
#: Our own words around the quoted text: the session id, the peer, the reason.
FIXED_PART = 200
LINE_BOUND = PEER_TEXT_LIMIT + len("... (65536 more)") + FIXED_PART

#: A 64 KB message that is well-formed XML but not an <rpc> (RFC 6241 §4.1):
#: the log line quotes its tag, namespace URI included.
BIG_NOT_RPC = (b'<' + b'a' * 30000 + b' xmlns="urn:' + b'b' * 35536 + b'"/>')
#: Not well-formed: libxml2's message quotes the namespace URI, newlines and all.
NEWLINES_IN_NAMESPACE = (f'<rpc message-id="1" xmlns="urn:x&#10;{FORGED}&#13;&#10;{FORGED}">'
                         '<get/></rpc>').encode()
#: Well-formed, an element in a namespace holding CR/LF: "expected <rpc>, got {...}".
NEWLINES_IN_TAG = (f'<x xmlns="{BASE_NS}&#10;{FORGED}"/>').encode()


def _lines(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter(LOG_FORMAT)
    return [formatter.format(record) for record in records
            if record.name.startswith("agent.netconf")]


def _assert_bounded_single_lines(lines: list[str]) -> None:
    for line in lines:
        assert "\n" not in line and "\r" not in line, f"line split: {line[:300]!r}"
        assert len(line) <= LINE_BOUND, f"{len(line)} characters: {line[:300]!r}"


@pytest.mark.parametrize("message", [BIG_NOT_RPC, NEWLINES_IN_NAMESPACE, NEWLINES_IN_TAG],
                         ids=["64KB-not-rpc", "newlines-in-namespace", "newlines-in-tag"])
def test_malformed_rpc_is_logged_in_one_bounded_line(
        start_server: Callable[..., RunningServer], caplog: pytest.LogCaptureFixture,
        message: bytes) -> None:
    running = start_server()

    async def scenario() -> int:
        client = await RawClient.connect(running.port)
        await client.start(BASE_1_1)
        client.send(message)
        await client.read()  # the malformed-message <rpc-reply>
        await client.expect_closed()
        await client.close()
        return client.session_id

    with caplog.at_level(logging.INFO, logger="agent.netconf"):
        session_id = run(scenario())
        running.ended.wait_for(session_id)
    lines = _lines(caplog.records)
    closing = [line for line in lines if f"netconf session {session_id} from 127.0.0.1:" in line
               and "closing: malformed-message" in line]
    assert len(closing) == 1, lines
    assert " WARNING " in closing[0]
    _assert_bounded_single_lines(lines)
    if message is BIG_NOT_RPC:
        assert re.search(r"\.\.\. \(\d+ more\)\)$", closing[0]), closing[0]
    else:
        assert "\\n" in closing[0]  # the newline is there, escaped


def test_bad_hello_with_newlines_is_logged_in_one_bounded_line(
        start_server: Callable[..., RunningServer], caplog: pytest.LogCaptureFixture) -> None:
    running = start_server()
    bad_hello = hello(BASE_1_0).replace(f'xmlns="{BASE_NS}"'.encode(),
                                        f'xmlns="{BASE_NS}&#10;{FORGED}"'.encode())

    async def scenario() -> int:
        client = await RawClient.connect(running.port)
        client.writer.write(bad_hello + b"]]>]]>")
        await client.expect_closed()
        await client.close()
        return client.session_id

    with caplog.at_level(logging.INFO, logger="agent.netconf"):
        session_id = run(scenario())
        running.ended.wait_for(session_id)
    lines = _lines(caplog.records)
    assert any(f"netconf session {session_id} from 127.0.0.1:" in line
               and "closing: bad-hello" in line for line in lines), lines
    _assert_bounded_single_lines(lines)


def test_refused_subsystem_name_is_bounded(
        start_server: Callable[..., RunningServer], caplog: pytest.LogCaptureFixture) -> None:
    running = start_server()

    async def scenario() -> None:
        async with asyncssh.connect("127.0.0.1", running.port, username="admin",
                                    password=PASSWORD, known_hosts=None, agent_path=None,
                                    client_keys=None, preferred_auth="password") as conn:
            with pytest.raises(asyncssh.ChannelOpenError):
                await conn.open_session(subsystem="x\n" + FORGED + "y" * 60000)

    with caplog.at_level(logging.INFO, logger="agent.netconf"):
        run(scenario())
    lines = _lines(caplog.records)
    assert any("refused subsystem" in line for line in lines), lines
    _assert_bounded_single_lines(lines)


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "plain"),
    ("a\nb\r\tc\\", "a\\nb\\r\\tc\\\\"),
    ("\x00\x1b[31m\u2028\U0001f600", "\\x00\\x1b[31m\\u2028\\U0001f600"),
    ("x" * 201, "x" * 200 + "... (1 more)"),
    ("\n" * 150, "\\n" * 100 + "... (50 more)"),
])
def test_peer_text(text: str, expected: str) -> None:
    assert peer_text(text) == expected


def test_peer_text_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        peer_text("x", 0)
