"""NETCONF access control (RFC 8341): the engine (``agent/netconf/nacm.py``)
and its enforcement in the operations and the session, on the real datastore,
the real libyang and the module's real nacm:default-deny-* marks; no SSH.

Every refused write is checked to leave every datastore exactly as it was
(the same snapshot object), and every denial to count and to be logged
without a value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from lxml import etree

from agent.schema.context import TOP_MEMBER, yang_dir
from agent.datastore.paths import Step, parse_path
from agent.datastore.store import CANDIDATE, RUNNING, STARTUP, Datastore
from agent.netconf.errors import BASE_NS, RpcError
from agent.netconf.framing import END_OF_MESSAGE, Framer, FramingMode
from agent.netconf.nacm import (
    MODULE,
    NacmConfig,
    Policy,
    Rule,
    RuleList,
    SchemaMarks,
)
from agent.netconf.notifications import INTERLEAVE_1_0, NOTIFICATION_1_0, NOTIFICATION_NS
from agent.netconf.operations import Operations
from agent.netconf.session import BASE_1_0, BASE_1_1, NetconfSession, SessionInfo

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
KEY_HEX = "a1:b2:c3:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f:90"
PEER_KEY = "0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0"
HASH = "$6$nacmtestsalt$" + "A" * 86
Q = f"{{{BASE_NS}}}"


@pytest.fixture(scope="module")
def marks() -> SchemaMarks:
    return SchemaMarks.load(yang_dir())


def base_config(nacm: dict[str, Any] | None = None) -> dict[str, Any]:
    member: dict[str, Any] = {
        "home-agent": {"address": "192.0.2.1", "home-network": "10.1.0.0/16"},
        "subnet-map": [{"prefix": "10.1.0.0/16", "home-agent": "192.0.2.1"}],
        "security": {
            "host": [{"address": "10.1.0.5", "spi": 256, "key-hex": KEY_HEX}],
            "peer": [{"address": "192.0.2.9", "spi": 300, "key-hex": PEER_KEY}],
        },
        "netconf-server": {"listen": {"address": "127.0.0.1", "port": 0}, "user": [
            {"name": "admin", "password": HASH},
            {"name": "noc", "password": HASH, "authorized-key": ["ssh-ed25519 AAAAnoc"]},
            {"name": "dev", "password": HASH},
        ]},
    }
    if nacm is not None:
        member["nacm"] = nacm
    return {TOP_MEMBER: member}


#: A configuration of the standard shape: admins do everything, operators
#: read (keys stay hidden by default-deny-all), 'sa-editors' may edit the
#: security container and nothing else.
CONFIGURED = {
    "groups": {"group": [
        {"name": "admin", "user-name": ["admin"]},
        {"name": "operators", "user-name": ["noc"]},
        {"name": "sa-editors", "user-name": ["dev"]},
    ]},
    "rule-list": [
        {"name": "admin", "group": ["admin"],
         "rule": [{"name": "permit-all", "module-name": "*", "access-operations": "*",
                   "action": "permit"}]},
        {"name": "sa-editors", "group": ["sa-editors"],
         "rule": [{"name": "edit-security", "module-name": MODULE,
                   "path": "/proxy-mobile-ip:mobile-ip/security",
                   "access-operations": "create update delete", "action": "permit"},
                  {"name": "may-clear-counters", "module-name": MODULE,
                   "rpc-name": "clear-counters", "access-operations": "exec",
                   "action": "permit"}]},
    ],
}


@dataclass(frozen=True)
class Session:
    session_id: int = 1
    username: str | None = "noc"


class Agent:
    def __init__(self, datastore: Datastore, operations: Operations) -> None:
        self.datastore = datastore
        self.operations = operations
        self.rpc_calls: list[str] = []

    def rpc(self, body: str, user: str | None, *, session: int = 1) -> etree._Element | None:
        rpc = etree.fromstring(f'<rpc xmlns="{BASE_NS}" message-id="1">{body}</rpc>')
        return self.operations(rpc[0], Session(session, user))

    def error(self, body: str, user: str | None) -> RpcError:
        with pytest.raises(RpcError) as caught:
            self.rpc(body, user)
        return caught.value

    def get_config(self, user: str | None, source: str = "running") -> str:
        data = self.rpc(f"<get-config><source><{source}/></source></get-config>", user)
        assert data is not None
        return etree.tostring(data).decode()

    def edit_body(self, config: str, target: str = "running", options: str = "") -> str:
        return (f"<edit-config><target><{target}/></target>{options}"
                f'<config><mobile-ip xmlns="{NS}">{config}</mobile-ip></config></edit-config>')

    def snapshots(self) -> tuple[Any, ...]:
        return tuple(self.datastore.snapshot(name) for name in (RUNNING, CANDIDATE, STARTUP))


def make_agent(tmp_path: Any, nacm: dict[str, Any] | None) -> Agent:
    datastore = Datastore(startup_file=tmp_path / "startup.json")
    datastore.replace_config(RUNNING, base_config(nacm))
    calls: list[str] = []

    def clear_counters(given: dict[str, Any]) -> dict[str, Any]:
        calls.append("clear-counters")
        return {}

    operations = Operations(datastore, yang_dir=yang_dir(),
                            rpc_handlers={"clear-counters": clear_counters})
    agent = Agent(datastore, operations)
    agent.rpc_calls = calls
    return agent


@pytest.fixture
def configured(tmp_path: Any) -> Iterator[Agent]:
    agent = make_agent(tmp_path, CONFIGURED)
    yield agent
    agent.operations.close()
    agent.datastore.close()


@pytest.fixture
def built_in(tmp_path: Any) -> Iterator[Agent]:
    agent = make_agent(tmp_path, None)
    yield agent
    agent.operations.close()
    agent.datastore.close()


def policy(marks: SchemaMarks, **config: Any) -> Policy:
    return Policy(NacmConfig(**config), marks)


def path(text: str) -> tuple[Step, ...]:
    return parse_path(text)


# -- the schema's marks (RFC 8341 §3.5.2), read from libyang ---------------------------------


def test_marks_come_from_the_compiled_module(marks: SchemaMarks) -> None:
    assert ("mobile-ip", "security", "host", "key-hex") in marks.deny_all
    assert ("mobile-ip", "netconf-server", "user", "password") in marks.deny_all
    assert ("mobile-ip", "nacm") in marks.deny_all
    assert ("mobile-ip", "netconf-server", "user", "authorized-key") in marks.deny_write
    assert {"clear-binding", "clear-visitor", "clear-counters",
            "inject-client-event"} <= marks.rpcs_deny_all
    assert marks.lists[("mobile-ip", "security", "host")] == ("address", "spi")
    # A mark covers the descendants of the marked node.
    assert marks.data_mark(("mobile-ip", "nacm", "rule-list", "rule", "action")) == "all"
    assert marks.data_mark(("mobile-ip", "security", "host", "spi")) is None


# -- rule matching (RFC 8341 §3.4.4 step 7, §3.4.5 step 6, §3.4.6 step 7) -------------------


def test_rule_fields_must_all_match() -> None:
    rule = Rule("r", permit=True, module_name=MODULE, rpc_name="clear-counters",
                operations=frozenset({"exec"}))
    assert rule.matches_operation(MODULE, "clear-counters")
    assert not rule.matches_operation(MODULE, "clear-binding")
    assert not rule.matches_operation("ietf-netconf", "clear-counters")
    assert not rule.matches_data(MODULE, path("/mobile-ip"), "read")  # rpc rule, not data
    no_exec = Rule("r", permit=True, rpc_name="*", operations=frozenset({"read"}))
    assert not no_exec.matches_operation(MODULE, "clear-counters")
    untyped = Rule("r", permit=True)  # no rule-type: matches every request (§3.3.5)
    assert untyped.matches_operation("ietf-netconf", "get")
    assert untyped.matches_notification(MODULE, "binding-created")
    assert untyped.matches_data("ietf-netconf-monitoring", (Step("netconf-state"),), "read")


def test_path_rules_cover_the_node_and_its_descendants_with_optional_keys() -> None:
    config = NacmConfig.from_json({"rule-list": [{"name": "l", "group": ["*"], "rule": [
        {"name": "all-hosts", "path": "/proxy-mobile-ip:mobile-ip/security/host",
         "action": "deny"},
        {"name": "one-peer",
         "path": "/proxy-mobile-ip:mobile-ip/security/peer[address='192.0.2.9'][spi='300']",
         "access-operations": "read update", "action": "deny"},
        {"name": "everything", "path": "/", "access-operations": "create", "action": "permit"},
    ]}]})
    hosts, peer, everything = config.rule_lists[0].rules
    host_key = path("/mobile-ip/security/host[address='10.1.0.5'][spi='256']/key-hex")
    assert hosts.path_module == MODULE
    assert hosts.matches_data(MODULE, host_key, "delete")
    assert not hosts.matches_data(MODULE, path("/mobile-ip/security"), "read")  # an ancestor
    assert not hosts.matches_data("other-module", host_key, "read")
    this_peer = path("/mobile-ip/security/peer[address='192.0.2.9'][spi='300']/key-hex")
    other_peer = path("/mobile-ip/security/peer[address='192.0.2.10'][spi='300']/key-hex")
    assert peer.matches_data(MODULE, this_peer, "update")
    assert not peer.matches_data(MODULE, this_peer, "delete")  # bit not set
    assert not peer.matches_data(MODULE, other_peer, "read")
    assert everything.path == ()
    assert everything.matches_data("ietf-netconf-monitoring", (Step("netconf-state"),), "create")


def test_rule_lists_in_order_first_match_wins_by_group(marks: SchemaMarks) -> None:
    config = NacmConfig(
        groups={"a": frozenset({"alice"}), "b": frozenset({"alice", "bob"})},
        rule_lists=(
            RuleList("first", ("a",), (Rule("deny-get", permit=False, rpc_name="get"),)),
            RuleList("second", ("b",), (Rule("permit-get", permit=True, rpc_name="get"),
                                        Rule("deny-lock", permit=False, rpc_name="lock"))),
            RuleList("all", ("*",), (Rule("deny-unlock", permit=False, rpc_name="unlock"),)),
        ))
    engine = Policy(config, marks)
    assert not engine.may_execute("alice", "ietf-netconf", "get")  # list 'first' first
    assert engine.may_execute("bob", "ietf-netconf", "get")
    assert not engine.may_execute("bob", "ietf-netconf", "lock")
    assert not engine.may_execute("bob", "ietf-netconf", "unlock")  # '*' is every group
    # §3.4.4 step 5: a user in no group gets no rule at all, not even '*' lists.
    assert engine.may_execute("carol", "ietf-netconf", "unlock")
    assert engine.may_execute("carol", "ietf-netconf", "get")


# -- defaults and the global switches (RFC 8341 §3.3.4, §3.4.1) ----------------------------


def test_rfc_defaults_read_and_exec_permitted_write_denied(marks: SchemaMarks) -> None:
    engine = policy(marks)
    assert engine.may_access("anyone", path("/mobile-ip/home-agent/address"), "read")
    for operation in ("create", "update", "delete"):
        assert not engine.may_access("anyone", path("/mobile-ip/home-agent/address"), operation)
    assert engine.may_execute("anyone", "ietf-netconf", "edit-config")


def test_default_switches_decide_when_no_rule_matches(marks: SchemaMarks) -> None:
    engine = policy(marks, read_default=False, write_default=True, exec_default=False)
    address = path("/mobile-ip/home-agent/address")
    assert not engine.may_access("u", address, "read")
    assert engine.may_access("u", address, "update")
    assert not engine.may_execute("u", "ietf-netconf", "get")
    # close-session is always permitted (§3.4.4 step 3).
    assert engine.may_execute("u", "ietf-netconf", "close-session")
    assert not engine.may_receive("u", MODULE, "binding-created")  # read-default (§3.4.6)


def test_enable_nacm_false_and_the_recovery_session_bypass_everything(marks: SchemaMarks) -> None:
    key = path("/mobile-ip/security/host[address='10.1.0.5'][spi='256']/key-hex")
    off = policy(marks, enable_nacm=False, read_default=False, exec_default=False)
    assert off.may_access("u", key, "read") and off.may_access("u", key, "delete")
    assert off.may_execute("u", "ietf-netconf", "kill-session")
    on = policy(marks, read_default=False, exec_default=False)
    assert on.may_access(None, key, "read") and on.may_access(None, key, "update")
    assert on.may_execute(None, "ietf-netconf", "delete-config")
    assert on.may_execute(None, MODULE, "clear-counters")


# -- the extensions (RFC 8341 §3.5.2) and the operations denied by default -----------------


def test_default_deny_all_and_default_deny_write_on_data(marks: SchemaMarks) -> None:
    engine = policy(marks, write_default=True)
    key = path("/mobile-ip/security/host[address='10.1.0.5'][spi='256']/key-hex")
    spi = path("/mobile-ip/security/host[address='10.1.0.5'][spi='256']/spi")
    keys = path("/mobile-ip/netconf-server/user[name='noc']/authorized-key")
    assert not engine.may_access("u", key, "read")  # §3.4.5 step 9
    assert not engine.may_access("u", key, "update")  # step 10
    assert engine.may_access("u", spi, "read") and engine.may_access("u", spi, "update")
    assert engine.may_access("u", keys, "read")  # deny-write leaves reads alone
    assert not engine.may_access("u", keys, "create")
    # An explicit rule decides before the marks do (step 7 before 9-10).
    permitted = Policy(NacmConfig(groups={"g": frozenset({"u"})}, rule_lists=(
        RuleList("l", ("g",), (Rule("keys", permit=True, path=path("/mobile-ip/security"),
                                    path_module=MODULE),)),)), marks)
    assert permitted.may_access("u", key, "read") and permitted.may_access("u", key, "delete")


def test_default_deny_all_rpcs_kill_session_and_delete_config(marks: SchemaMarks) -> None:
    engine = policy(marks, exec_default=True)
    assert not engine.may_execute("u", MODULE, "clear-counters")  # §3.4.4 step 10
    assert not engine.may_execute("u", "ietf-netconf", "kill-session")  # step 11
    assert not engine.may_execute("u", "ietf-netconf", "delete-config")
    assert engine.may_execute("u", "ietf-netconf-monitoring", "get-schema")
    permitted = Policy(NacmConfig(groups={"g": frozenset({"u"})}, rule_lists=(
        RuleList("l", ("g",), (Rule("kill", permit=True, module_name="ietf-netconf",
                                    rpc_name="kill-session"),)),)), marks)
    assert permitted.may_execute("u", "ietf-netconf", "kill-session")
    assert not permitted.may_execute("u", "ietf-netconf", "delete-config")


# -- reads: filtered silently (RFC 8341 §3.2.4) ---------------------------------------------


def test_operator_reads_everything_but_keys_hashes_and_the_rules(configured: Agent) -> None:
    text = configured.get_config("noc")
    assert KEY_HEX not in text and PEER_KEY not in text and "key-hex" not in text
    assert HASH not in text and "<password>" not in text
    assert "<nacm>" not in text and "permit-all" not in text
    # The rest is all there: SA entries (with their keys), users, subnet map.
    assert "10.1.0.5" in text and "192.0.2.9" in text and "<spi>256</spi>" in text
    assert "<name>noc</name>" in text and "ssh-ed25519 AAAAnoc" in text
    assert "10.1.0.0/16" in text
    admin = configured.get_config("admin")
    assert KEY_HEX in admin and HASH in admin and "permit-all" in admin


def test_built_in_policy_makes_every_other_user_a_read_only_operator(built_in: Agent) -> None:
    for user in ("noc", "dev"):
        text = built_in.get_config(user)
        assert KEY_HEX not in text and HASH not in text and "10.1.0.5" in text
    assert KEY_HEX in built_in.get_config("admin")
    assert KEY_HEX in built_in.get_config(None)  # the recovery session


def test_read_rules_prune_subtrees_and_entries_whose_key_is_hidden(tmp_path: Any) -> None:
    nacm = {"read-default": "permit",
            "groups": {"group": [{"name": "g", "user-name": ["noc"]}]},
            "rule-list": [{"name": "l", "group": ["g"], "rule": [
                {"name": "no-peer-9",
                 "path": "/proxy-mobile-ip:mobile-ip/security/peer[address='192.0.2.9'][spi='300']",
                 "access-operations": "read", "action": "deny"},
                {"name": "no-map-prefix", "path": "/proxy-mobile-ip:mobile-ip/subnet-map/prefix",
                 "access-operations": "read", "action": "deny"},
                {"name": "no-ha", "path": "/proxy-mobile-ip:mobile-ip/home-agent",
                 "access-operations": "read", "action": "deny"}]}]}
    agent = make_agent(tmp_path, nacm)
    try:
        text = agent.get_config("noc")
        assert "192.0.2.9" not in text  # the entry and everything in it
        assert "10.1.0.5" in text  # the other list's entry stays
        assert "subnet-map" not in text  # its key may not be read: the entry goes
        assert "home-agent" not in text and "10.1.0.0/16" not in text
        assert "netconf-server" in text
    finally:
        agent.operations.close()
        agent.datastore.close()


def test_get_hides_the_same_and_shows_the_counters(configured: Agent) -> None:
    data = configured.rpc("<get/>", "noc")
    text = etree.tostring(data).decode()
    assert KEY_HEX not in text and HASH not in text and "<nacm>" not in text
    assert "<nacm-state>" in text and "<denied-operations>0</denied-operations>" in text


# -- writes: denied with nothing applied (RFC 8341 §3.2.5-§3.2.8) --------------------------


def _assert_denied(error: RpcError) -> None:
    assert error.tag == "access-denied"
    assert error.error_type == "application"  # RFC 6241 Appendix A


def test_operator_edit_config_is_denied_and_changes_nothing(configured: Agent,
                                                           caplog: Any) -> None:
    before = configured.snapshots()
    caplog.set_level(logging.INFO, logger="agent.netconf.nacm")
    for options in ("", "<test-option>test-only</test-option>"):
        error = configured.error(configured.edit_body(
            "<home-agent><max-bindings>7</max-bindings></home-agent>", options=options), "noc")
        _assert_denied(error)
        assert error.path == ("/proxy-mobile-ip:mobile-ip/proxy-mobile-ip:home-agent"
                              "/proxy-mobile-ip:max-bindings")
    assert configured.snapshots() == before
    assert all(a is b for a, b in zip(configured.snapshots(), before, strict=True))
    assert configured.operations.access.counters.denied_data_writes == 2
    # max-bindings was not set (only its default was there): the edit creates it.
    assert "access denied: create of /proxy-mobile-ip:mobile-ip/proxy-mobile-ip:home-agent" \
        in caplog.text


def test_a_path_rule_permits_writes_under_it_only(configured: Agent) -> None:
    configured.rpc(configured.edit_body(
        "<security><host><address>10.1.0.6</address><spi>257</spi>"
        f"<key-hex>{KEY_HEX}</key-hex></host></security>"), "dev")
    hosts = configured.datastore.get_config(RUNNING)[TOP_MEMBER]["security"]["host"]
    assert [h["address"] for h in hosts] == ["10.1.0.5", "10.1.0.6"]
    before = configured.snapshots()
    error = configured.error(configured.edit_body(
        '<subnet-map xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete">'
        "<prefix>10.1.0.0/16</prefix></subnet-map>"), "dev")
    _assert_denied(error)
    assert "delete of" in error.message
    assert configured.snapshots() == before


def test_creating_a_subtree_needs_access_to_every_node_in_it(configured: Agent,
                                                            caplog: Any) -> None:
    """Operators may create user entries but not passwords: a new entry
    carrying one is refused at the password (a node inside the created
    subtree), and the refusal names no hidden value (the password is
    default-deny-all, so not even its path: RFC 8341 §3.4.3)."""
    configured.rpc("<edit-config><target><running/></target><config>"
                   f'<mobile-ip xmlns="{NS}"><nacm><rule-list><name>users</name>'
                   "<group>operators</group><rule><name>no-passwords</name>"
                   f'<path xmlns:p="{NS}">/p:mobile-ip/p:netconf-server/p:user/p:password</path>'
                   "<access-operations>create</access-operations><action>deny</action></rule>"
                   "<rule><name>users</name>"
                   f'<path xmlns:p="{NS}">/p:mobile-ip/p:netconf-server/p:user</path>'
                   "<access-operations>create</access-operations><action>permit</action>"
                   "</rule></rule-list></nacm></mobile-ip></config></edit-config>", "admin")
    configured.rpc(configured.edit_body(
        "<netconf-server><user><name>new</name></user></netconf-server>"), "noc")
    before = configured.snapshots()
    caplog.set_level(logging.INFO)
    secret = "$6$othersalt$" + "B" * 86
    error = configured.error(configured.edit_body(
        f"<netconf-server><user><name>other</name><password>{secret}</password></user>"
        "</netconf-server>"), "noc")
    _assert_denied(error)
    assert error.path is None and "may not read" in error.message  # §3.4.3
    assert configured.snapshots() == before
    assert secret not in caplog.text and secret not in error.message


def test_copy_config_and_commit_check_the_nodes_they_change(configured: Agent) -> None:
    # dev may write security only; the candidate holds a subnet-map change.
    configured.rpc(configured.edit_body(
        "<subnet-map><prefix>10.2.0.0/16</prefix><home-agent>192.0.2.1</home-agent>"
        "</subnet-map>", target="candidate"), "admin")
    before = configured.snapshots()
    _assert_denied(configured.error("<commit/>", "dev"))
    _assert_denied(configured.error(
        "<copy-config><target><running/></target><source><candidate/></source></copy-config>",
        "dev"))
    inline = (f'<copy-config><target><running/></target><source><config><mobile-ip xmlns="{NS}">'
              "<subnet-map><prefix>10.9.0.0/16</prefix><home-agent>192.0.2.1</home-agent>"
              "</subnet-map></mobile-ip></config></source></copy-config>")
    _assert_denied(configured.error(inline, "dev"))
    assert configured.snapshots() == before
    # running -> startup needs exec only (§3.2.6), which operators have.
    configured.rpc("<copy-config><target><startup/></target><source><running/></source>"
                   "</copy-config>", "noc")
    assert configured.datastore.get_config(STARTUP) == configured.datastore.get_config(RUNNING)
    configured.rpc("<commit/>", "admin")
    assert "10.2.0.0/16" in str(configured.datastore.get_config(RUNNING))


def test_copy_config_leaves_out_what_the_user_cannot_read(configured: Agent) -> None:
    """§3.2.6: unreadable source nodes are omitted, so copying a datastore
    with keys into one means deleting keys: denied for a user who may not."""
    configured.rpc(configured.edit_body(
        "<security><host><address>10.1.0.7</address><spi>258</spi>"
        f"<key-hex>{KEY_HEX}</key-hex></host></security>", target="candidate"), "admin")
    before = configured.snapshots()
    nacm_free = ("<copy-config><target><running/></target><source><candidate/></source>"
                 "</copy-config>")
    _assert_denied(configured.error(nacm_free, "dev"))  # nacm and the keys are unreadable
    assert configured.snapshots() == before


# -- exec (RFC 8341 §3.4.4) -----------------------------------------------------------------


def test_module_rpcs_are_denied_unless_a_rule_permits(configured: Agent) -> None:
    body = f'<clear-counters xmlns="{NS}"/>'
    error = configured.error(body, "noc")
    _assert_denied(error)
    assert error.path == "/nc:rpc/proxy-mobile-ip:clear-counters"
    assert configured.rpc_calls == []
    assert configured.operations.access.counters.denied_operations == 1
    configured.rpc(body, "dev")  # the may-clear-counters rule
    configured.rpc(body, "admin")
    assert configured.rpc_calls == ["clear-counters", "clear-counters"]
    _assert_denied(configured.error("<delete-config><target><startup/></target>"
                                    "</delete-config>", "noc"))
    # get-schema and the reads stay open to everyone (exec-default permit).
    configured.rpc('<get-schema xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring">'
                   "<identifier>proxy-mobile-ip</identifier></get-schema>", "noc")


def test_policy_changes_apply_to_the_next_request(configured: Agent) -> None:
    body = f'<clear-counters xmlns="{NS}"/>'
    _assert_denied(configured.error(body, "noc"))
    configured.rpc(configured.edit_body(
        "<nacm><rule-list><name>ops-may-clear</name><group>operators</group>"
        "<rule><name>clear</name><module-name>proxy-mobile-ip</module-name>"
        "<rpc-name>clear-counters</rpc-name><access-operations>exec</access-operations>"
        "<action>permit</action></rule></rule-list></nacm>"), "admin")
    configured.rpc(body, "noc")
    assert configured.rpc_calls == ["clear-counters"]
    configured.rpc(configured.edit_body("<nacm><enable-nacm>false</enable-nacm></nacm>"), "admin")
    assert KEY_HEX in configured.get_config("noc")


# -- the session: kill-session, create-subscription, notifications (RFC 8341 §3.4.6) --------


class Client:
    """A NetconfSession wired as the server wires it, spoken to in bytes."""

    def __init__(self, agent: Agent, user: str) -> None:
        access = agent.operations.access
        self.killed: list[int] = []
        self.session = NetconfSession(
            5, [BASE_1_0, BASE_1_1, NOTIFICATION_1_0, INTERLEAVE_1_0], agent.operations,
            max_message_size=1 << 20, username=user,
            on_kill_request=lambda target: self.killed.append(target) is None,
            authorize=access.authorize_operation, may_notify=access.may_notify)
        self.framer = Framer(max_message_size=1 << 20)
        self.framer.feed(self.session.start())
        self.session.receive_data(
            f'<hello xmlns="{BASE_NS}"><capabilities><capability>{BASE_1_1}</capability>'
            "</capabilities></hello>".encode() + END_OF_MESSAGE)
        self.framer.mode = FramingMode.CHUNKED

    def rpc(self, body: str) -> bytes:
        frames = self.session.receive_data(self.framer.encode(
            f'<rpc xmlns="{BASE_NS}" message-id="9">{body}</rpc>'.encode()))
        (message,) = [m for frame in frames for m in self.framer.feed(frame)]
        return message

    def notifications(self) -> list[bytes]:
        out = []
        while (frame := self.session.next_notification()) is not None:
            out.extend(self.framer.feed(frame))
        return out


def notification(name: str) -> etree._Element:
    message = etree.Element(f"{{{NOTIFICATION_NS}}}notification", nsmap={None: NOTIFICATION_NS})
    etree.SubElement(message, f"{{{NOTIFICATION_NS}}}eventTime").text = "2026-12-02T00:00:00Z"
    event = etree.SubElement(message, f"{{{NS}}}{name}", nsmap={None: NS})
    etree.SubElement(event, f"{{{NS}}}home-address").text = "10.1.0.5"
    return message


def test_kill_session_is_denied_by_default_with_a_resolvable_error_path(configured: Agent) -> None:
    client = Client(configured, "noc")
    reply = etree.fromstring(client.rpc("<kill-session><session-id>3</session-id></kill-session>"))
    assert reply.findtext(f"{Q}rpc-error/{Q}error-tag") == "access-denied"
    assert reply.findtext(f"{Q}rpc-error/{Q}error-type") == "application"
    error_path = reply.find(f"{Q}rpc-error/{Q}error-path")
    assert error_path is not None and error_path.text == "/nc:rpc/nc:kill-session"
    assert error_path.nsmap["nc"] == BASE_NS  # RFC 6241 §4.3: prefixes resolve
    assert client.killed == []
    admin = Client(configured, "admin")
    assert b"<ok/>" in admin.rpc("<kill-session><session-id>3</session-id></kill-session>")
    assert admin.killed == [3]
    # close-session is never refused (§3.4.4 step 3), even with exec-default deny.
    configured.rpc(configured.edit_body("<nacm><exec-default>deny</exec-default></nacm>"),
                   "admin")
    assert b"access-denied" in client.rpc("<get/>")
    assert b"<ok/>" in client.rpc("<close-session/>")


def test_notifications_the_user_may_not_receive_are_not_sent(configured: Agent) -> None:
    configured.rpc(configured.edit_body(
        "<nacm><rule-list><name>quiet</name><group>operators</group>"
        "<rule><name>no-bindings</name><notification-name>binding-created</notification-name>"
        "<access-operations>read</access-operations><action>deny</action></rule>"
        "</rule-list></nacm>"), "admin")
    operator, admin = Client(configured, "noc"), Client(configured, "admin")
    for client in (operator, admin):
        assert b"<ok/>" in client.rpc(f'<create-subscription xmlns="{NOTIFICATION_NS}"/>')
    for name in ("binding-created", "binding-deleted"):
        message = notification(name)
        operator.session.notify(message)
        admin.session.notify(message)
    assert [b"binding-deleted" in m for m in operator.notifications()] == [True]
    assert len(admin.notifications()) == 2
    assert configured.operations.access.counters.denied_notifications == 1


def test_create_subscription_can_be_denied(configured: Agent) -> None:
    configured.rpc(configured.edit_body(
        "<nacm><rule-list><name>no-subs</name><group>operators</group>"
        "<rule><name>no-subs</name><module-name>notifications</module-name>"
        "<rpc-name>create-subscription</rpc-name><action>deny</action></rule>"
        "</rule-list></nacm>"), "admin")
    client = Client(configured, "noc")
    assert b"access-denied" in client.rpc(f'<create-subscription xmlns="{NOTIFICATION_NS}"/>')
    assert client.session.subscription is None


# -- RFC 8526 get-data / edit-data go through the same checks ------------------------------

NMDA = 'xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-nmda" ' \
       'xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores"'


def test_get_data_and_edit_data_are_access_controlled(configured: Agent) -> None:
    for datastore in ("running", "operational"):
        data = configured.rpc(f"<get-data {NMDA}><datastore>ds:{datastore}</datastore>"
                              "</get-data>", "noc")
        text = etree.tostring(data).decode()
        assert "10.1.0.5" in text
        assert KEY_HEX not in text and HASH not in text and "permit-all" not in text
    assert KEY_HEX in etree.tostring(configured.rpc(
        f"<get-data {NMDA}><datastore>ds:running</datastore></get-data>", "admin")).decode()
    before = configured.snapshots()
    error = configured.error(
        f"<edit-data {NMDA}><datastore>ds:running</datastore><config>"
        f'<mobile-ip xmlns="{NS}"><home-agent><max-bindings>9</max-bindings></home-agent>'
        "</mobile-ip></config></edit-data>", "noc")
    _assert_denied(error)
    assert configured.snapshots() == before


def test_read_pruning_without_key_predicates_takes_the_same_decisions(marks: SchemaMarks) -> None:
    """No rule names an entry: decisions are made per schema path (the fast
    walk); with one that does, per node. Both give the same reply."""
    content = base_config()[TOP_MEMBER]
    hide_prefix = Rule("no-prefix", permit=False, path=path("/mobile-ip/subnet-map/prefix"),
                       path_module=MODULE, operations=frozenset({"read"}))
    never = Rule("never", permit=False, path=path(
        "/mobile-ip/security/peer[address='203.0.113.1'][spi='1']"), path_module=MODULE)
    groups = {"g": frozenset({"u"})}
    fast = Policy(NacmConfig(groups=groups, rule_lists=(
        RuleList("l", ("g",), (hide_prefix,)),)), marks)
    slow = Policy(NacmConfig(groups=groups, rule_lists=(
        RuleList("l", ("g",), (hide_prefix, never)),)), marks)
    pruned = fast.readable("u", content)
    assert pruned == slow.readable("u", content)
    assert "subnet-map" not in pruned  # its key may not be read: no entry goes out
    assert "key-hex" not in str(pruned) and HASH not in str(pruned)
    assert pruned["security"]["host"] == [{"address": "10.1.0.5", "spi": 256}]


def test_denied_exec_of_a_peer_named_operation_is_logged_in_one_bounded_line(
        configured: Agent, caplog: pytest.LogCaptureFixture) -> None:
    """An unknown namespace (logged as the module) and the operation's name
    are the peer's text: cut to 200 characters each in the log line
    (agent.netconf.logtext, issue 13)."""
    configured.rpc(configured.edit_body(
        "<nacm><rule-list><name>ops-exec-nothing</name><group>operators</group>"
        "<rule><name>none</name><module-name>*</module-name>"
        "<rpc-name>*</rpc-name><access-operations>exec</access-operations>"
        "<action>deny</action></rule></rule-list></nacm>"), "admin")
    operation = etree.Element(f"{{urn:x:{'u' * 3000}}}{'n' * 5000}")
    with caplog.at_level(logging.WARNING, logger="agent.netconf.nacm"), \
            pytest.raises(RpcError) as denied:
        configured.operations.access.authorize_operation(operation, SessionInfo(1, "noc"))
    _assert_denied(denied.value)
    (line,) = [r.getMessage() for r in caplog.records if "access denied: exec" in r.getMessage()]
    assert f"urn:x:{'u' * 194}... (2806 more):{'n' * 200}... (4800 more)" in line
    assert len(line) < 600
