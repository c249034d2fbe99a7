"""RFC 6022 /netconf-state in <get>, from an agent composed as ``proxymip
run`` composes it (in process, loopback, port 0), read with ncclient; a raw
asyncssh client sends what ncclient never would (an <rpc> without message-id,
a <hello> with a session-id, a connection dropped without close-session).

Every reply is validated against the published ietf-netconf-monitoring module
by libyang (the copy that ships with libyang-python), so names, order and
types are the module's, not ours.
"""

from __future__ import annotations

import asyncio
import faulthandler
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libyang
import pytest
from lxml import etree

from agent.lab import NETCONF_USER
from agent.netconf.errors import BASE_NS
from agent.netconf.framing import END_OF_MESSAGE, Framer, FramingMode
from agent.netconf.monitoring import MONITORING_NS
from agent.netconf.notifications import parse_rfc3339
from agent.netconf.session import BASE_1_1
from agent.netconf.ssh_library import asyncssh
from tests.conftest import IN_CI
from tests.interop.netconf_agent import InProcessAgent, nc_connect, running_agent

pytest.importorskip("ncclient")
from ncclient.transport.errors import TransportError

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
Q = f"{{{MONITORING_NS}}}"
HARD_TIMEOUT = 60.0
WAIT = 5.0


@pytest.fixture(autouse=True)
def hard_timeout() -> Iterator[None]:
    faulthandler.dump_traceback_later(HARD_TIMEOUT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[InProcessAgent]:
    with running_agent(tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def monitoring_module() -> Iterator[libyang.Context]:
    """ietf-netconf-monitoring@2010-10-04 as published (RFC 6022 §5)."""
    directory = Path(sys.prefix) / "share" / "yang" / "modules" / "ietf"
    if not (directory / "ietf-netconf-monitoring.yang").is_file():
        message = f"ietf-netconf-monitoring.yang not found in {directory}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    context = libyang.Context(str(directory))
    context.load_module("ietf-netconf-monitoring")
    yield context
    context.destroy()


def netconf_state(session: Any, context: libyang.Context, selection: str = "", *,
                  complete: bool = True) -> etree._Element:
    """/netconf-state as <get> returns it, checked against the module (its
    types always; its mandatory nodes when the filter selects ``complete``
    entries)."""
    selected = f'<netconf-state xmlns="{MONITORING_NS}">{selection}</netconf-state>'
    reply = session.get(filter=("subtree", selected))
    data = etree.fromstring(reply.xml.encode()).find(f"{{{BASE_NS}}}data")
    assert data is not None
    assert [c.tag for c in data] == [Q + "netconf-state"], "only /netconf-state is selected"
    state = data[0]
    # Parsed strictly and validated (only the modules with data present:
    # libyang's own ietf-yang-library state is not ours to provide).
    tree = context.parse_data_mem(etree.tostring(state).decode(), "xml", strict=True,
                                  validate_present=True, parse_only=not complete)
    assert tree is not None
    tree.free()
    return state


def sessions(state: etree._Element) -> dict[int, dict[str, str]]:
    rows = {}
    for row in state.iterfind(f"{Q}sessions/{Q}session"):
        values = {etree.QName(c).localname: c.text or "" for c in row}
        rows[int(values["session-id"])] = values
    return rows


def statistics(state: etree._Element) -> dict[str, str]:
    found = state.find(f"{Q}statistics")
    assert found is not None
    return {etree.QName(c).localname: c.text or "" for c in found}


# -- what <get> returns -----------------------------------------------------------------------


def test_get_without_filter_returns_the_module_and_netconf_state(
        agent: InProcessAgent, monitoring_module: libyang.Context) -> None:
    with nc_connect(agent) as session:
        data = etree.fromstring(session.get().xml.encode()).find(f"{{{BASE_NS}}}data")
        assert data is not None
        # RFC 8525's /yang-library (and its deprecated /modules-state) follow.
        library = "{urn:ietf:params:xml:ns:yang:ietf-yang-library}"
        assert [c.tag for c in data] == [f"{{{NS}}}mobile-ip", Q + "netconf-state",
                                         library + "yang-library", library + "modules-state"]
        # A filter of the module alone leaves netconf-state out.
        module_only = f'<mobile-ip xmlns="{NS}"><home-agent/></mobile-ip>'
        reply = session.get(filter=("subtree", module_only))
        data = etree.fromstring(reply.xml.encode()).find(f"{{{BASE_NS}}}data")
        assert data is not None and [c.tag for c in data] == [f"{{{NS}}}mobile-ip"]


def test_capabilities_schemas_and_get_schema(agent: InProcessAgent,
                                             monitoring_module: libyang.Context) -> None:
    with nc_connect(agent) as session:
        state = netconf_state(session, monitoring_module)
        advertised = [c.text for c in state.iterfind(f"{Q}capabilities/{Q}capability")]
        assert advertised == list(session.server_capabilities)
        # Every module of the YANG library (RFC 8525), this module first.
        schema, *others = state.iterfind(f"{Q}schemas/{Q}schema")
        assert "ietf-yang-library" in {o.findtext(f"{Q}identifier") for o in others}
        row = {etree.QName(c).localname: c.text for c in schema}
        module = next(c for c in advertised if c.startswith(NS))
        revision = module.split("revision=")[1]
        assert row == {"identifier": "proxy-mobile-ip", "version": revision, "format": "yang",
                       "namespace": NS, "location": "NETCONF"}
        # location NETCONF: <get-schema> serves it (RFC 6022 §3.1).
        text = session.get_schema("proxy-mobile-ip", version=revision).data
        assert text.startswith("module proxy-mobile-ip")


def test_sessions_and_their_counters(agent: InProcessAgent,
                                     monitoring_module: libyang.Context) -> None:
    from ncclient.operations import RPCError as NcclientRpcError

    before = time.time()
    with nc_connect(agent) as first, nc_connect(agent) as second:
        first_id, second_id = int(first.session_id), int(second.session_id)
        first.create_subscription()
        agent.publish("binding-created", {"home-address": "192.0.2.10",
                                          "care-of-address": "127.0.0.3", "lifetime": 10,
                                          "source-address": "127.0.0.3"})
        assert first.take_notification(timeout=WAIT) is not None
        for _ in range(3):
            second.get_config(source="running")
        with pytest.raises(NcclientRpcError):
            second.get_config(source="nowhere")
        state = netconf_state(first, monitoring_module)
        rows = sessions(state)
        assert sorted(rows) == [first_id, second_id]
        for row in rows.values():
            assert row["transport"] == "netconf-ssh"  # an identity of the module
            assert row["username"] == NETCONF_USER[0]
            assert row["source-host"] == "127.0.0.1"
            assert before - 1 <= parse_rfc3339(row["login-time"]) <= time.time() + 1
        # create-subscription, then the <get> being answered.
        assert {k: rows[first_id][k] for k in ("in-rpcs", "in-bad-rpcs", "out-rpc-errors",
                                               "out-notifications")} == {
            "in-rpcs": "2", "in-bad-rpcs": "0", "out-rpc-errors": "0", "out-notifications": "1"}
        assert {k: rows[second_id][k] for k in ("in-rpcs", "out-rpc-errors")} == {
            "in-rpcs": "4", "out-rpc-errors": "1"}
        # A subtree filter with a content match on the key: one session.
        state = netconf_state(second, monitoring_module,
                              f"<sessions><session><session-id>{second_id}</session-id>"
                              "</session></sessions>")
        assert list(sessions(state)) == [second_id]
        # Selecting one leaf keeps the entry's key (RFC 6241 §6.2.5).
        state = netconf_state(second, monitoring_module,
                              "<sessions><session><username/></session></sessions>",
                              complete=False)
        assert [sorted(row) for row in sessions(state).values()] == \
            [["session-id", "username"]] * 2


def test_datastore_locks(agent: InProcessAgent, monitoring_module: libyang.Context) -> None:
    with nc_connect(agent) as session:
        before = time.time()
        session.lock(target="running")
        state = netconf_state(session, monitoring_module)
        locks = {}
        for row in state.iterfind(f"{Q}datastores/{Q}datastore"):
            lock = row.find(f"{Q}locks/{Q}global-lock")
            locks[row.findtext(f"{Q}name")] = None if lock is None else (
                lock.findtext(f"{Q}locked-by-session"),
                parse_rfc3339(lock.findtext(f"{Q}locked-time") or ""))
        held = locks.pop("running")
        assert locks == {"candidate": None, "startup": None}
        assert held is not None and held[0] == session.session_id
        assert before - 1 <= held[1] <= time.time() + 1
        session.unlock(target="running")


# -- statistics ------------------------------------------------------------------------------


class RawClient(asyncssh.SSHClientSession[bytes]):
    def __init__(self) -> None:
        self.framer = Framer(max_message_size=1 << 24)
        self.messages: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = asyncio.Event()

    def data_received(self, data: bytes, datatype: Any) -> None:
        self.framer.receive_data(data)
        while (message := self.framer.next_message()) is not None:
            self.messages.put_nowait(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    async def next(self) -> etree._Element:
        return etree.fromstring(await asyncio.wait_for(self.messages.get(), WAIT))


async def raw_session(agent: InProcessAgent) -> tuple[Any, Any, RawClient, int]:
    host, port = agent.netconf_address
    conn = await asyncssh.connect(host, port, username=NETCONF_USER[0],
                                  password=NETCONF_USER[1], known_hosts=None, agent_path=None,
                                  preferred_auth="password")
    chan, client = await conn.create_session(RawClient, subsystem="netconf", encoding=None)
    hello = await client.next()
    return conn, chan, client, int(hello.findtext(f"{{{BASE_NS}}}session-id") or 0)


def hello(extra: str = "") -> bytes:
    return (f'<hello xmlns="{BASE_NS}"><capabilities><capability>{BASE_1_1}</capability>'
            f"</capabilities>{extra}</hello>").encode() + END_OF_MESSAGE


def test_statistics_count_sessions_hellos_drops_and_bad_rpcs(
        agent: InProcessAgent, monitoring_module: libyang.Context) -> None:
    with nc_connect(agent) as observer:
        start = statistics(netconf_state(observer, monitoring_module))
        assert abs(parse_rfc3339(start["netconf-start-time"]) - time.time()) < 60

        async def scenario() -> None:
            # A bad hello (it carries a session-id, RFC 6241 §8.1).
            conn, chan, client, _ = await raw_session(agent)
            chan.write(hello("<session-id>4</session-id>"))
            await asyncio.wait_for(client.closed.wait(), WAIT)
            conn.close()
            # An <rpc> without message-id (in-bad-rpcs), then the connection
            # dropped without <close-session> (dropped-sessions).
            conn, chan, client, _ = await raw_session(agent)
            chan.write(hello())
            client.framer.mode = FramingMode.CHUNKED
            chan.write(client.framer.encode(f'<rpc xmlns="{BASE_NS}"><get/></rpc>'.encode()))
            reply = await client.next()
            assert reply.findtext(f"{{{BASE_NS}}}rpc-error/{{{BASE_NS}}}error-tag") == \
                "missing-attribute"
            conn.close()
            await asyncio.wait_for(client.closed.wait(), WAIT)

        asyncio.run(asyncio.wait_for(scenario(), HARD_TIMEOUT - 10))
        # A killed session and a closed one are not "dropped" (RFC 6022).
        victim = nc_connect(agent)
        observer.kill_session(victim.session_id)
        with nc_connect(agent) as polite:
            polite.get_config(source="running")
        server = agent.agent.netconf_server

        def settled() -> bool:
            return len(server.session_ids) == 1
        deadline = time.monotonic() + WAIT
        while not agent.on_loop(settled):
            assert time.monotonic() < deadline, "sessions did not end"
            time.sleep(0.02)
        end = statistics(netconf_state(observer, monitoring_module))
        delta = {k: int(end[k]) - int(start[k]) for k in end if k != "netconf-start-time"}
        assert delta == {
            "in-bad-hellos": 1,
            "in-sessions": 4,  # bad hello, raw, victim, polite
            "dropped-sessions": 1,
            # raw (1 bad), observer (kill-session + this <get>), polite
            # (get-config + close-session)
            "in-rpcs": 4,
            "in-bad-rpcs": 1,
            "out-rpc-errors": 1,
            "out-notifications": 0,
        }
        assert end["netconf-start-time"] == start["netconf-start-time"]
        with pytest.raises(TransportError):  # it was killed: its transport is gone
            victim.get_config(source="running")
