"""NETCONF access control (RFC 8341) against a running agent, with real
clients: ncclient over SSH on loopback, and the operator CLI
(``proxymip show`` / ``clear``) as a separate process.

The agent is a home agent composed as ``proxymip run`` composes it
(``tests/interop/netconf_agent.py``), with three NETCONF users: ``admin`` (full
access), ``noc`` (group operators: read-only, keys hidden) and ``dev``
(a rule permits it clear-counters and nothing else of the module's RPCs).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError
from ncclient.xml_ import to_ele

from agent.config.loader import build_config
from agent.schema.context import TOP_MEMBER
from agent.datastore.store import RUNNING, Datastore
from agent.datastore.tree import to_json
from agent.lab import MN_KEY, NETCONF_USER, PEER_KEY, ha_config
from agent.live_config import bind
from agent.netconf.server import sha_crypt
from agent.runtime import Agent
from tests.interop.netconf_agent import WAIT, InProcessAgent

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
NOC = ("noc", "noc-password")
DEV = ("dev", "dev-password")
GUEST = ("guest", "guest-password")
HASHES = {name: sha_crypt(password, f"$6$nacm{name}salt")
          for name, password in (NETCONF_USER, NOC, DEV, GUEST)}
SECRETS = (MN_KEY, PEER_KEY, *HASHES.values())
NACM = {
    "groups": {"group": [
        {"name": "admin", "user-name": ["admin"]},
        {"name": "operators", "user-name": ["noc", "dev"]},
        {"name": "counter-clearers", "user-name": ["dev"]},
        {"name": "guests", "user-name": ["guest"]},
    ]},
    "rule-list": [
        {"name": "admin", "group": ["admin"],
         "rule": [{"name": "permit-all", "action": "permit"}]},
        {"name": "counter-clearers", "group": ["counter-clearers"],
         "rule": [{"name": "clear-counters", "module-name": "proxy-mobile-ip",
                   "rpc-name": "clear-counters", "access-operations": "exec",
                   "action": "permit"}]},
        {"name": "guests", "group": ["guests"],
         "rule": [{"name": "no-get-config", "module-name": "ietf-netconf",
                   "rpc-name": "get-config", "access-operations": "exec",
                   "action": "deny"}]},
        {"name": "operators", "group": ["operators"],
         "rule": [{"name": "no-writes", "access-operations": "create update delete",
                   "action": "deny"},
                  {"name": "no-binding-news", "module-name": "proxy-mobile-ip",
                   "notification-name": "binding-created", "access-operations": "read",
                   "action": "deny"}]},
    ],
}


class NacmAgent(InProcessAgent):
    """InProcessAgent with the three users and the rules above."""

    def __init__(self, state_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        document = ha_config(4, netconf=True)
        member = document[TOP_MEMBER]
        member["netconf-server"]["user"] = [{"name": name, "password": hashed}
                                            for name, hashed in HASHES.items()]
        member["nacm"] = NACM
        self.datastore = Datastore()
        self.datastore.replace_config(RUNNING, {TOP_MEMBER: member})
        config = build_config(to_json(self.datastore.snapshot(RUNNING).effective))
        self.agent = Agent(config, datastore=self.datastore, state_dir=str(state_dir))
        self.call(self._start(config))

    async def _start(self, config: Any) -> None:
        await self.agent.start()
        bind(self.agent, config, self.datastore)
        self.datastore.register_provider(self.agent.operational)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NacmAgent]:
    running = NacmAgent(tmp_path_factory.mktemp("nacm"))
    try:
        yield running
    finally:
        running.stop()


def connect(agent: NacmAgent, user: tuple[str, str]) -> Any:
    from ncclient import manager
    from ncclient.transport import parser as nc_parser
    from ncclient.transport import session as nc_session

    nc_session.TICK = 0.005  # stock ncclient sleeps 100 ms per request
    nc_parser.TICK = 0.005
    host, port = agent.netconf_address
    return manager.connect(host=host, port=port, username=user[0], password=user[1],
                           hostkey_verify=False, look_for_keys=False, allow_agent=False,
                           timeout=WAIT)


EDIT = ('<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f'<mobile-ip xmlns="{NS}"><home-agent><max-bindings>77</max-bindings>'
        "</home-agent></mobile-ip></config>")
CLEAR_COUNTERS = f'<clear-counters xmlns="{NS}"/>'


def running_member(agent: NacmAgent) -> Any:
    return agent.on_loop(lambda: agent.datastore.snapshot(RUNNING))


def test_operator_reads_without_keys_and_may_not_write_or_clear(agent: NacmAgent) -> None:
    with connect(agent, NOC) as session:
        config = session.get_config(source="running").data_xml
        state = session.get().data_xml
        for text in (config, state):
            assert "key-hex" not in text and "<password>" not in text and "<nacm>" not in text
            for secret in SECRETS:
                assert secret not in text
        assert "<spi>" in config and "home-agent" in config  # everything else is there
        assert "<home-agent-state>" in state and "<nacm-state>" in state

        before = running_member(agent)
        with pytest.raises(RPCError) as edit:
            session.edit_config(target="running", config=EDIT)
        assert edit.value.tag == "access-denied" and edit.value.type == "application"
        with pytest.raises(RPCError) as clear:
            session.dispatch(to_ele(CLEAR_COUNTERS))
        assert clear.value.tag == "access-denied"
        assert clear.value.path is not None and "clear-counters" in clear.value.path
        with pytest.raises(RPCError) as kill:
            session.kill_session("999")
        assert kill.value.tag == "access-denied"  # RFC 8341 §3.2.10, before the lookup
        assert running_member(agent) is before  # nothing applied


def test_admin_reads_keys_writes_and_clears(agent: NacmAgent) -> None:
    with connect(agent, NETCONF_USER) as session:
        config = session.get_config(source="running").data_xml
        assert MN_KEY in config and HASHES["admin"] in config and "permit-all" in config
        session.edit_config(target="running", config=EDIT)
        assert agent.on_loop(lambda: agent.datastore.get_config(RUNNING))[TOP_MEMBER][
            "home-agent"]["max-bindings"] == 77
        reply = session.dispatch(to_ele(CLEAR_COUNTERS))
        assert reply.ok
        counters = session.get().data_xml
        assert "<denied-operations>" in counters


def test_a_permit_rule_lets_a_user_run_an_rpc(agent: NacmAgent) -> None:
    with connect(agent, DEV) as session:
        assert session.dispatch(to_ele(CLEAR_COUNTERS)).ok
        with pytest.raises(RPCError) as clear:
            session.dispatch(to_ele(f'<clear-binding xmlns="{NS}"/>'))  # no rule: default-deny-all
        assert clear.value.tag == "access-denied"
        with pytest.raises(RPCError) as edit:
            session.edit_config(target="running", config=EDIT.replace("77", "78"))
        assert edit.value.tag == "access-denied"


def cli(agent: NacmAgent, user: tuple[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    host, port = agent.netconf_address
    env = {**os.environ, "PROXYMIP_PASSWORD": user[1]}
    env.pop("PROXYMIP_CLI_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *argv, "--host", host, "--port", str(port),
         "--user", user[0], "--no-host-key-check"],
        env=env, capture_output=True, text=True, timeout=60, check=False)


def test_operator_cli_shows_no_key_and_reports_access_denied_in_one_line(
        agent: NacmAgent) -> None:
    shown = cli(agent, NOC, "show", "security-associations", "--json")
    assert shown.returncode == 0, shown.stderr
    assert "192.0.2" in shown.stdout  # the SAs are listed (peers of the lab's HA)
    for secret in SECRETS:
        assert secret not in shown.stdout and secret not in shown.stderr
    refused = cli(agent, NOC, "clear", "counters")
    assert refused.returncode != 0
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "access-denied" in lines[0], refused.stderr
    assert "Traceback" not in refused.stderr
    assert cli(agent, DEV, "clear", "counters").returncode == 0
    # A user who may not run get-config: the show command fails in one line.
    denied = cli(agent, GUEST, "show", "security-associations")
    assert denied.returncode != 0 and denied.stdout == ""
    lines = denied.stderr.strip().splitlines()
    assert len(lines) == 1 and "access-denied" in lines[0], denied.stderr


def test_notifications_an_operator_may_not_receive_are_not_sent(agent: NacmAgent) -> None:
    """RFC 8341 §3.4.6: binding-created is denied to operators by a rule;
    binding-deleted is not. The admin gets both, in order."""
    binding = {"home-address": "192.0.2.77", "care-of-address": "127.0.0.3",
               "lifetime": 300, "source-address": "127.0.0.3"}
    deleted = {"home-address": "192.0.2.77", "care-of-address": "127.0.0.3",
               "reason": "expired"}
    with connect(agent, NOC) as operator, connect(agent, NETCONF_USER) as admin:
        assert operator.create_subscription().ok and admin.create_subscription().ok
        agent.publish("binding-created", binding)
        agent.publish("binding-deleted", deleted)
        names = []
        for _ in range(2):
            message = admin.take_notification(timeout=WAIT)
            assert message is not None
            names.append(etree.QName(content_of(message)).localname)
        assert names == ["binding-created", "binding-deleted"]
        first = operator.take_notification(timeout=WAIT)
        assert first is not None
        assert etree.QName(content_of(first)).localname == "binding-deleted"
        assert operator.take_notification(timeout=0.3) is None


def content_of(message: Any) -> etree._Element:
    root = etree.fromstring(message.notification_xml.encode())
    (event,) = [child for child in root if etree.QName(child).localname != "eventTime"]
    return event
