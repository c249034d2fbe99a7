"""The control channel (``agent.aio.control``) in front of the agent's real
handler (``agent.runtime.Agent.handle_control``), on a Unix socket in the
test's temp dir (issue 13 item 11):

- a request of the wrong shape (``{"op":"edit-config","edits":[1]}`` raised
  AttributeError inside the handler and dropped the connection) gets one
  clear error object and the connection stays usable; a handler's own bug
  costs one error answer, never the connection, and is logged without the
  request;
- the socket is its owner's alone from the instant it exists at its path
  (bound inside a 0700 directory, made 0600, renamed into place: no chmod
  after a bind at the final path);
- request lines are bounded (``max_line``), connections are bounded
  (``max_connections``) and an idle connection is closed (``idle_timeout``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from agent.aio import control
from agent.aio.control import ControlServer, request
from agent.config.model import AgentConfig
from agent.control_requests import REQUESTS, check_request
from agent.datastore.store import Datastore
from agent.runtime import Agent

NOW = 1000.0


async def exchange_lines(path: str, lines: list[bytes]) -> list[dict[str, Any]]:
    """The answers to ``lines`` sent one by one on ONE connection."""
    reader, writer = await asyncio.open_unix_connection(path)
    answers = []
    try:
        for line in lines:
            writer.write(line + b"\n")
            await writer.drain()
            answers.append(json.loads(await asyncio.wait_for(reader.readline(), 5)))
    finally:
        writer.close()
    return answers


@pytest.fixture
def agent() -> Any:
    datastore = Datastore()
    try:
        yield Agent(config=AgentConfig(), clock=lambda: NOW, datastore=datastore)
    finally:
        datastore.close()


BAD_SHAPES = [
    ({"op": "edit-config", "edits": [1]}, "'edits'[0]: must be an object"),
    ({"op": "edit-config", "edits": "x"}, "'edits': must be an array"),
    ({"op": "edit-config", "edits": [{"path": 5}]}, "'edits'[0].'path': must be a string"),
    ({"op": "edit-config", "edits": [{"value": 1}]}, "'edits'[0].'path': missing"),
    ({"op": "edit-config", "edits": [{"path": "/mobile-ip", "oops": 1}]}, "'oops': not a member"),
    ({"op": "edit-config"}, "'edits': missing"),
    ({"op": "associate", "mac": ["02:00:00:00:00:01"]}, "'mac': must be a string"),
    ({"op": "associate-many", "clients": [None]}, "'clients'[0]: must be an object"),
    ({"op": "associate-many", "clients": {"mac": "x"}}, "'clients': must be an array"),
    ({"op": "state", "rows": 1}, "'rows': must be true or false"),
    ({"op": "get-config", "source": {"a": 1}}, "'source': must be a string"),
    ({"op": "copy-config", "source": "running"}, "'target': missing"),
    ({"op": "commit", "extra": True}, "'extra': not a member"),
    ({"op": "no-such-op"}, "unknown op 'no-such-op'"),
]


def test_wrong_shapes_get_an_error_and_the_connection_stays(agent: Agent, tmp_path: Path) -> None:
    path = str(tmp_path / "ctl.sock")

    async def scenario() -> list[dict[str, Any]]:
        server = ControlServer(path, agent.handle_control)
        await server.start()
        try:
            lines = [json.dumps(shape).encode() for shape, _ in BAD_SHAPES]
            return await exchange_lines(path, [*lines, b"[" * 100_000, b'{"op": "get-config"}'])
        finally:
            await server.close()

    answers = asyncio.run(scenario())
    for (shape, expected), answer in zip(BAD_SHAPES, answers):
        assert expected in answer.get("error", ""), (shape, answer)
    assert answers[-2] == {"error": "malformed JSON: nested too deeply"}  # no RecursionError
    assert "data" in answers[-1]  # the same connection still answers


def test_a_number_over_the_int_digits_limit_is_malformed_json(agent: Agent, tmp_path: Path) -> None:
    """Python refuses to convert integers of over 4,300 digits (sys.int_info,
    the CVE-2020-10735 limit) with a ValueError that is no JSONDecodeError: it
    escaped the handler (traceback, connection dropped; found by tools/fuzz,
    issue 13). RFC 8259 §9 lets a parser limit numbers: malformed JSON."""
    path = str(tmp_path / "ctl.sock")

    async def scenario() -> list[dict[str, Any]]:
        server = ControlServer(path, agent.handle_control)
        await server.start()
        try:
            return await exchange_lines(path, [b'{"op": "state", "rows": ' + b"9" * 5000 + b"}",
                                               b'{"op": "get-config"}'])
        finally:
            await server.close()

    answers = asyncio.run(scenario())
    assert answers[0]["error"].startswith("malformed JSON: ")
    assert "data" in answers[1]  # the same connection still answers


def test_every_op_of_the_handler_has_a_shape(agent: Agent) -> None:
    """Each op's row admits the requests the agent's own clients send."""
    for good in ({"op": "state", "rows": False}, {"op": "get-config", "source": "running"},
                 {"op": "associate", "mac": "02:00:00:00:00:01", "address": "10.0.0.1", "interface": "wlan0"},
                 {"op": "associate-many", "clients": [{"mac": "02:00:00:00:00:01", "address": None}]},
                 {"op": "edit-config", "edits": [{"operation": "merge", "path": "/mobile-ip", "value": {}}]},
                 {"op": "copy-config", "source": "running", "target": "startup"}, {"op": "clear-counters"},
                 {"op": "counters"}):
        check_request(good)
    assert set(REQUESTS) == {"associate", "associate-many", "address", "disassociate", "state", "get-config",
                             "edit-config", "copy-config", "commit", "discard-changes", "clear-counters",
                             "counters"}
    # counters: the single-process agent answers from its engines (the
    # management plane from its mirror: tests/interop/test_management_plane.py).
    assert agent.handle_control({"op": "counters"}) == agent.counters()


def test_a_handler_bug_costs_one_answer_and_is_logged_without_the_request(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = str(tmp_path / "ctl.sock")

    def handler(req: dict[str, Any]) -> dict[str, Any]:
        if req.get("secret"):
            raise AttributeError("a bug")
        return {"ok": True}

    async def scenario() -> list[dict[str, Any]]:
        server = ControlServer(path, handler)
        await server.start()
        try:
            return await exchange_lines(path, [b'{"op": "x", "secret": "00112233"}', b'{"op": "x"}'])
        finally:
            await server.close()

    with caplog.at_level(logging.ERROR, logger="agent.aio.control"):
        answers = asyncio.run(scenario())
    assert answers == [{"error": "internal error (logged by the agent)"}, {"ok": True}]
    assert "00112233" not in caplog.text and "control request 'x' failed" in caplog.text


def test_the_socket_is_never_reachable_by_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At the instant the socket appears at its path (the rename), it is 0600,
    and before that it lives in a 0700 directory; nothing is chmod-ed at the
    final path. A stale socket at the path is replaced."""
    path = tmp_path / "ctl.sock"
    path.write_text("stale")
    seen: list[tuple[int, int, bool]] = []
    real_rename = os.rename
    real_chmod = os.chmod

    def rename(source: str, target: str) -> None:
        seen.append((stat.S_IMODE(os.stat(source).st_mode), stat.S_IMODE(os.stat(os.path.dirname(source)).st_mode),
                     stat.S_ISSOCK(os.stat(target).st_mode)))
        real_rename(source, target)

    def chmod(target: str, mode: int) -> None:
        assert os.path.abspath(target) != str(path), "chmod at the final path: a window after bind"
        real_chmod(target, mode)

    monkeypatch.setattr(control.os, "rename", rename)
    monkeypatch.setattr(control.os, "chmod", chmod)

    async def scenario() -> dict[str, Any]:
        server = ControlServer(str(path), lambda req: {"ok": True})
        await server.start()
        try:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_ISSOCK(path.stat().st_mode)
            return await request(str(path), {"op": "x"})
        finally:
            await server.close()

    assert asyncio.run(scenario()) == {"ok": True}
    assert seen == [(0o600, 0o700, False)]  # the stale file was a regular file, replaced
    assert sorted(os.listdir(tmp_path)) == []  # no staging directory left, the socket removed


def test_lines_connections_and_idle_time_are_bounded(tmp_path: Path) -> None:
    path = str(tmp_path / "ctl.sock")

    async def scenario() -> tuple[list[bytes], dict[str, Any], bytes, int]:
        server = ControlServer(path, lambda req: {"ok": True}, max_line=1024, max_connections=2,
                               idle_timeout=0.2)
        await server.start()
        try:
            # A line over max_line: an error, then the connection closes.
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(b'{"op": "' + b"x" * 2000 + b'"}\n')
            await writer.drain()
            too_long = [await asyncio.wait_for(reader.readline(), 5), await asyncio.wait_for(reader.read(), 5)]
            writer.close()
            # Two connections held open; a third is refused at once.
            held = [await asyncio.open_unix_connection(path) for _ in range(2)]
            for _, w in held:
                w.write(b'{"op": "x"}\n')
                await w.drain()
            for r, _ in held:
                await asyncio.wait_for(r.readline(), 5)
            third = await request(path, {"op": "x"})
            # Left idle, the held ones are closed by the server (idle_timeout).
            idle = await asyncio.wait_for(held[0][0].readline(), 5)
            for _, w in held:
                w.close()
            return too_long, third, idle, server.refused_connections
        finally:
            await server.close()

    too_long, third, idle, refused = asyncio.run(scenario())
    assert json.loads(too_long[0]) == {"error": "request line too long"} and too_long[1] == b""
    assert third == {"error": "too many control connections"} and refused == 1
    assert json.loads(idle) == {"error": "idle for too long"}


def test_a_relative_path_near_the_length_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative socket path stays relative while staged: a long working
    directory does not push the staging path over sun_path's 108 octets."""
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    monkeypatch.chdir(deep)

    async def scenario() -> dict[str, Any]:
        server = ControlServer("ctl.sock", lambda req: {"ok": True})
        await server.start()
        try:
            assert stat.S_IMODE(os.stat("ctl.sock").st_mode) == 0o600
            return await request("ctl.sock", {"op": "x"})
        finally:
            await server.close()

    assert asyncio.run(scenario()) == {"ok": True}
    assert os.listdir(deep) == []


def test_a_role_whose_listen_address_is_taken_is_refused_in_the_change_phase(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Found by tools/fuzz (issue 13, control socket, seed 1): an edit that made
    the live configuration start the home agent on an address:port another
    socket holds failed in the done phase (EADDRINUSE, "subscriber failed in the
    done phase" with a traceback) while running claimed a home agent that did not
    run. The bind is tried in the change phase now: the commit is refused with
    operation-failed (RFC 6241 §8.3.1 / Appendix A) and running is unchanged."""
    import socket

    from agent.config.loader import build_config
    from agent.datastore.store import RUNNING
    from agent.datastore.tree import to_json
    from agent.live_config import bind

    path = str(tmp_path / "ctl.sock")
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    datastore = Datastore()

    async def scenario() -> tuple[list[dict[str, Any]], Agent]:
        config = build_config(to_json(datastore.snapshot(RUNNING).effective))
        agent = Agent(config=config, datastore=datastore, control_socket=path)
        await agent.start()
        bind(agent, config, datastore)
        try:
            edit = {"op": "edit-config", "edits": [{
                "operation": "merge", "path": "/mobile-ip/home-agent",
                "value": {"address": "127.0.0.1", "home-network": "192.0.2.0/24",
                          "listen": {"address": "127.0.0.1", "port": port}}}]}
            answers = await exchange_lines(path, [json.dumps(edit).encode(),
                                                  b'{"op": "get-config"}'])
            return answers, agent
        finally:
            await agent.close()

    try:
        with caplog.at_level(logging.ERROR):
            (refused, after), agent = asyncio.run(scenario())
    finally:
        holder.close()
        datastore.close()
    assert refused.get("error-tag") == "operation-failed", refused
    assert f"127.0.0.1:{port}" in refused["error"]
    assert "home-agent" not in json.dumps(after["data"])  # running unchanged
    assert agent.config.home_agent is None
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


def test_a_role_may_bind_what_another_gives_up_in_the_same_change(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The exact sequence tools/fuzz found (issue 13, control socket, seed 1,
    between messages 400,000 and 500,000): a mutated edit emptied running, one
    recreated the proxy with its default listen 0.0.0.0:434, then a copy of
    startup into running moved the proxy to 127.0.0.4:434 and recreated the
    home agent on 127.0.0.2:434 in ONE change. The done phase started the home
    agent before it closed the proxy's wildcard socket: EADDRINUSE, a traceback,
    and running claiming a home agent that did not run. The sockets a change
    frees are closed before it binds: applied, both roles serve."""
    import socket

    from agent.config.loader import build_config
    from agent.datastore.edits import Edit, Operation
    from agent.datastore.paths import parse_path
    from agent.datastore.store import RUNNING
    from agent.datastore.tree import to_json
    from agent.live_config import bind

    path = str(tmp_path / "ctl.sock")
    finder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    finder.bind(("0.0.0.0", 0))
    port = finder.getsockname()[1]
    finder.close()
    datastore = Datastore()
    datastore.edit(RUNNING, [Edit(Operation.MERGE, parse_path("/mobile-ip/proxy"), {
        "listen": {"address": "0.0.0.0", "port": port}, "discovery": {"enabled": False}})])

    async def scenario() -> tuple[dict[str, Any], dict[str, tuple[str, int]], AgentConfig]:
        config = build_config(to_json(datastore.snapshot(RUNNING).effective))
        agent = Agent(config=config, datastore=datastore, control_socket=path)
        await agent.start()
        bind(agent, config, datastore)
        try:
            edit = {"op": "edit-config", "edits": [
                {"operation": "merge", "path": "/mobile-ip/proxy/listen/address", "value": "127.0.0.4"},
                {"operation": "merge", "path": "/mobile-ip/home-agent",
                 "value": {"address": "127.0.0.2", "home-network": "192.0.2.0/24",
                           "listen": {"address": "127.0.0.2", "port": port}}}]}
            [answer] = await exchange_lines(path, [json.dumps(edit).encode()])
            return answer, agent.endpoints(), agent.config
        finally:
            await agent.close()

    try:
        with caplog.at_level(logging.ERROR):
            answer, endpoints, config = asyncio.run(scenario())
    finally:
        datastore.close()
    assert answer.get("ok"), answer
    assert endpoints["home-agent"] == ("127.0.0.2", port)
    assert endpoints["proxy"] == ("127.0.0.4", port)
    assert config.home_agent is not None
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


def test_two_roles_claiming_one_address_in_one_change_are_refused(tmp_path: Path) -> None:
    """Neither socket exists yet, so a trial bind of each passes: the change
    itself must see that the home agent and the foreign agent both want
    0.0.0.0:P and 127.0.0.1:P (the wildcard covers every address)."""
    import socket

    from agent.config.loader import build_config
    from agent.datastore.store import RUNNING
    from agent.datastore.tree import to_json
    from agent.live_config import bind

    path = str(tmp_path / "ctl.sock")
    finder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    finder.bind(("0.0.0.0", 0))
    port = finder.getsockname()[1]
    finder.close()
    datastore = Datastore()

    async def scenario() -> tuple[list[dict[str, Any]], AgentConfig]:
        config = build_config(to_json(datastore.snapshot(RUNNING).effective))
        agent = Agent(config=config, datastore=datastore, control_socket=path)
        await agent.start()
        bind(agent, config, datastore)
        try:
            edit = {"op": "edit-config", "edits": [
                {"operation": "merge", "path": "/mobile-ip/home-agent",
                 "value": {"address": "127.0.0.1", "home-network": "192.0.2.0/24",
                           "listen": {"address": "0.0.0.0", "port": port}}},
                {"operation": "merge", "path": "/mobile-ip/foreign-agent",
                 "value": {"address": "127.0.0.1", "listen": {"address": "127.0.0.1", "port": port}}}]}
            answers = await exchange_lines(path, [json.dumps(edit).encode(), b'{"op": "get-config"}'])
            return answers, agent.config
        finally:
            await agent.close()

    try:
        (refused, after), config = asyncio.run(scenario())
    finally:
        datastore.close()
    assert refused.get("error-tag") == "operation-failed", refused
    assert "in the same change" in refused["error"]
    assert after["data"] == {} or "home-agent" not in json.dumps(after["data"])
    assert config.home_agent is None and config.foreign_agent is None


def test_a_freed_socket_does_not_hide_another_holder(tmp_path: Path) -> None:
    """The proxy leaves 127.0.0.4:P (to port Q) while the home agent starts on
    0.0.0.0:P, but another socket holds 127.0.0.9:P: freeing the proxy's socket
    is not enough, so the change is refused, not failed in the done phase."""
    import socket

    from agent.config.loader import build_config
    from agent.datastore.edits import Edit, Operation
    from agent.datastore.paths import parse_path
    from agent.datastore.store import RUNNING
    from agent.datastore.tree import to_json
    from agent.live_config import bind

    path = str(tmp_path / "ctl.sock")
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.9", 0))
    port = holder.getsockname()[1]
    datastore = Datastore()
    datastore.edit(RUNNING, [Edit(Operation.MERGE, parse_path("/mobile-ip/proxy"), {
        "listen": {"address": "127.0.0.4", "port": port}, "discovery": {"enabled": False}})])

    async def scenario() -> tuple[dict[str, Any], dict[str, tuple[str, int]]]:
        config = build_config(to_json(datastore.snapshot(RUNNING).effective))
        agent = Agent(config=config, datastore=datastore, control_socket=path)
        await agent.start()
        bind(agent, config, datastore)
        try:
            edit = {"op": "edit-config", "edits": [
                {"operation": "merge", "path": "/mobile-ip/proxy/listen/port", "value": 0},
                {"operation": "merge", "path": "/mobile-ip/home-agent",
                 "value": {"address": "127.0.0.2", "home-network": "192.0.2.0/24",
                           "listen": {"address": "0.0.0.0", "port": port}}}]}
            [answer] = await exchange_lines(path, [json.dumps(edit).encode()])
            return answer, agent.endpoints()
        finally:
            await agent.close()

    try:
        answer, endpoints = asyncio.run(scenario())
    finally:
        holder.close()
        datastore.close()
    assert answer.get("error-tag") == "operation-failed", answer
    assert f"0.0.0.0:{port}" in answer["error"]
    assert endpoints.get("proxy") == ("127.0.0.4", port)  # unchanged
    assert "home-agent" not in endpoints
