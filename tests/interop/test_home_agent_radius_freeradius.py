"""The home agent fetches mobile nodes' SAs from a real FreeRADIUS 3.2 on
loopback (Cisco ``aaa authorization ipmobile``), composed as ``proxymip run``
composes it (datastore, ``Agent``, operational provider), and the RADIUS
counters it keeps are operational state: ``radius-state`` in a NETCONF <get>,
per role, matching what really went over the wire.

A mobile node known only to RADIUS registers (RFC 5944 §3.8.2.1 with the SA
from the Cisco-AVPair); its re-registration is served from the cache; a node
RADIUS refuses gets 131; with every server silent the request is answered 130
when the bound runs out. The same agent runs the proxy role with its own
client, whose counters stay apart: zero while only the home agent asks, one
Access-Reject when the proxy looks a visiting client up itself.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from agent.access.events import ClientAssociated
from agent.config.loader import build_config
from agent.schema.context import TOP_MEMBER
from agent.datastore.store import RUNNING, Datastore
from agent.datastore.tree import to_json
from agent.mobileip import replay
from agent.mobileip.builder import build_request, check_reply
from agent.mobileip.numbers import ReplyCode
from agent.mobileip.registration import RegistrationReply, decode_reply
from agent.mobileip.security import SecurityAssociation
from agent.netconf.errors import BASE_NS
from agent.netconf.operations import Operations
from agent.runtime import Agent
from tests.interop.test_radius_freeradius import (
    LOOPBACK,
    PASSWORD,
    SECRET,
    FreeRadius,
    SilentServer,
    require_freeradius,
    users_file,
)

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
KEY = "00112233445566778899aabbccddeeff"
RADIUS_NODE = IPv4Address("10.1.1.60")
REFUSED_NODE = IPv4Address("10.1.1.61")
#: Cisco writes the SPI in hex: 1234 is 4660.
RADIUS_SA = SecurityAssociation(spi=0x1234, key=bytes.fromhex(KEY))
WAIT = 15.0


@pytest.fixture(scope="module")
def freeradius(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreeRadius]:
    users = {str(RADIUS_NODE): [f"mobileip:spi#0=spi 1234 key hex {KEY}"]}
    server = FreeRadius(require_freeradius(), tmp_path_factory.mktemp("freeradius-ha"),
                        users_file(users))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def config(port: int, *, wait: int = 5) -> dict[str, Any]:
    return {TOP_MEMBER: {
        "home-agent": {"address": LOOPBACK, "home-network": "10.1.1.0/24",
                       "listen": {"address": LOOPBACK, "port": 0}},
        "proxy": {"listen": {"address": LOOPBACK, "port": 0},
                  "foreign-agent": {"address": "127.0.0.3"}, "discovery": {"enabled": False}},
        "subnet-map": [{"prefix": "10.1.1.0/24", "home-agent": LOOPBACK}],
        "radius": {"server": [{"address": LOOPBACK, "port": port,
                               "shared-secret": SECRET.decode()}],
                   "user-password": PASSWORD, "timeout": 1, "retries": 0, "dead-time": 60,
                   "registration-wait": wait},
    }}


@dataclass
class Running:
    agent: Agent
    datastore: Datastore
    operations: Operations
    node: socket.socket

    async def register(self, home: IPv4Address, *, sa: SecurityAssociation = RADIUS_SA
                       ) -> tuple[RegistrationReply, int]:
        """One Registration Request from a co-located mobile node, and its reply."""
        identification = replay.ntp_identification(self.agent.clock(), 1)
        data = build_request(home_address=home, home_agent=IPv4Address(LOOPBACK),
                             care_of_address=IPv4Address(LOOPBACK),
                             identification=identification, lifetime=600, sa=sa)
        host, port = self.agent.endpoints()["home-agent"]
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(self.node, data, (str(host), int(port)))
        answer = await asyncio.wait_for(loop.sock_recv(self.node, 4096), WAIT)
        return decode_reply(answer), identification

    def get(self) -> etree._Element:
        """NETCONF <get> of radius-state (RFC 6241 §7.7, subtree filter §6)."""
        rpc = etree.fromstring(
            f'<rpc xmlns="{BASE_NS}" message-id="1"><get><filter type="subtree">'
            f'<mobile-ip xmlns="{NS}"><radius-state/></mobile-ip></filter></get></rpc>')
        data = self.operations(rpc[0], _Session())
        assert data is not None
        return data


@dataclass(frozen=True)
class _Session:
    session_id: int = 1
    username: str | None = "admin"


async def start(port: int, tmp_path: Path, *, wait: int = 5) -> Running:
    datastore = Datastore()
    datastore.replace_config(RUNNING, config(port, wait=wait))
    agent_config = build_config(to_json(datastore.snapshot(RUNNING).effective))
    agent = Agent(agent_config, datastore=datastore, state_dir=str(tmp_path))
    await agent.start()
    datastore.register_provider(agent.operational)
    node = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    node.bind((LOOPBACK, 0))
    node.setblocking(False)
    return Running(agent, datastore, Operations(datastore), node)


async def stop(running: Running) -> None:
    running.node.close()
    await running.agent.close(deregister=False)
    running.datastore.close()


def leaves(element: etree._Element) -> dict[str, Any]:
    """Child leaves by local name (text), containers as nested dicts."""
    out: dict[str, Any] = {}
    for child in element:
        name = etree.QName(child).localname
        out[name] = leaves(child) if len(child) else child.text
    return out


def clients(data: etree._Element) -> dict[str, dict[str, Any]]:
    rows = data.findall(f"{{{NS}}}mobile-ip/{{{NS}}}radius-state/{{{NS}}}client")
    found = {}
    for row in rows:
        found[row.findtext(f"{{{NS}}}role") or ""] = {
            "servers": [leaves(s) for s in row.findall(f"{{{NS}}}server")],
            "resolver": leaves(row.find(f"{{{NS}}}resolver")),  # type: ignore[arg-type]
            "waiting": leaves(row.find(f"{{{NS}}}registrations-waiting"))
            if row.find(f"{{{NS}}}registrations-waiting") is not None else None,
        }
    return found


def test_home_agent_registers_a_node_known_only_to_radius(freeradius: FreeRadius,
                                                          tmp_path: Path) -> None:
    async def scenario() -> None:
        running = await start(freeradius.port, tmp_path)
        try:
            reply, identification = await running.register(RADIUS_NODE)
            assert reply.code == ReplyCode.ACCEPTED
            assert check_reply(reply, sent_identification=identification, sa=RADIUS_SA).ok
            assert [b.home_address for b in running.agent.home_agent.bindings()] == [RADIUS_NODE]  # type: ignore[union-attr]
            # Re-registration: the cache answers, FreeRADIUS is not asked again.
            reply, _ = await running.register(RADIUS_NODE)
            assert reply.code == ReplyCode.ACCEPTED
            # RADIUS does not know this node: no SA, so it fails authentication.
            reply, _ = await running.register(REFUSED_NODE)
            assert reply.code == ReplyCode.HA_MOBILE_NODE_FAILED_AUTHENTICATION  # RFC 5944 §3.8.2.1
            assert running.agent.home_agent.counters.mn_authentication_failure == 1  # type: ignore[union-attr]

            state = clients(running.get())
            assert set(state) == {"home-agent", "proxy"}
            home = state["home-agent"]
            [server] = home["servers"]
            assert (server["address"], server["port"]) == (LOOPBACK, str(freeradius.port))
            assert {k: server[k] for k in ("requests", "retransmissions", "accepts", "rejects",
                                           "timeouts", "malformed-replies",
                                           "unauthenticated-replies", "in-flight")} == {
                "requests": "2", "retransmissions": "0", "accepts": "1", "rejects": "1",
                "timeouts": "0", "malformed-replies": "0", "unauthenticated-replies": "0",
                "in-flight": "0"}
            assert "dead-until" not in server
            assert {k: home["resolver"][k] for k in ("requests", "accepts", "rejects",
                                                     "cache-hits", "negative-cache-hits",
                                                     "coalesced", "pending", "cached")} == {
                "requests": "2", "accepts": "1", "rejects": "1", "cache-hits": "1",
                "negative-cache-hits": "0", "coalesced": "0", "pending": "0", "cached": "2"}
            assert home["waiting"] == {"waiting": "0", "waited": "2", "superseded": "0",
                                       "resolved": "1", "refused": "1", "timed-out": "0",
                                       "overflow": "0"}
            # The proxy's client is another one: nothing asked, nothing counted.
            proxy = state["proxy"]
            assert proxy["waiting"] is None
            assert proxy["servers"][0]["requests"] == "0"
            assert proxy["resolver"]["requests"] == "0"
            # A visiting client the proxy looks up: counted on the proxy's side only.
            running.agent.client_event(ClientAssociated("02:00:00:00:00:61", address=REFUSED_NODE))
            proxy_resolver = running.agent.proxy.sa_resolver  # type: ignore[union-attr]
            assert proxy_resolver is not None
            for _ in range(int(WAIT / 0.01)):
                if proxy_resolver.counters.rejects:
                    break
                await asyncio.sleep(0.01)
            state = clients(running.get())
            assert state["proxy"]["servers"][0]["requests"] == "1"
            assert state["proxy"]["servers"][0]["rejects"] == "1"
            assert (state["proxy"]["resolver"]["requests"], state["proxy"]["resolver"]["rejects"]) == (
                "1", "1")
            assert state["home-agent"]["servers"][0]["requests"] == "2"
            assert state["home-agent"]["resolver"]["requests"] == "2"
            # The same numbers as the engines hold (read at request time).
            resolver = running.agent.home_agent.sa_resolver  # type: ignore[union-attr]
            assert resolver is not None and resolver.counters.requests == 2
            operational = running.agent.operational()["radius-state"]["client"][0]
            assert operational["server"][0]["requests"] == 2
            assert json.dumps(operational).find(KEY) == -1  # never a key in state
        finally:
            await stop(running)

    asyncio.run(asyncio.wait_for(scenario(), 4 * WAIT))


def test_no_server_answering_is_130_and_the_server_is_marked_dead(tmp_path: Path) -> None:
    silent = SilentServer()

    async def scenario() -> None:
        running = await start(silent.port, tmp_path, wait=3)
        try:
            # radius/registration-wait reaches the engine.
            assert running.agent.home_agent.sa_wait == 3.0  # type: ignore[union-attr]
            reply, _ = await running.register(RADIUS_NODE)
            # The client gave up after 1 s (timeout 1, retries 0) before the bound.
            assert reply.code == ReplyCode.HA_INSUFFICIENT_RESOURCES  # 130, not 131
            assert running.agent.home_agent.violations.rows() == []  # type: ignore[union-attr]
            home = clients(running.get())["home-agent"]
            [server] = home["servers"]
            assert (server["requests"], server["timeouts"], server["marked-dead"]) == ("1", "1", "1")
            assert "dead-until" in server  # yang:date-and-time
            assert home["resolver"]["timeouts"] == "1"
            assert home["waiting"]["timed-out"] == "1"
        finally:
            await stop(running)
            assert silent.received() == 1

    try:
        asyncio.run(asyncio.wait_for(scenario(), 4 * WAIT))
    finally:
        silent.close()
