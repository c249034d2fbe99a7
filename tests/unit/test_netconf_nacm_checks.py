"""NACM enforcement points (RFC 8341) that no other test would miss if they
were deleted (found by deleting each check of agent/netconf/nacm.py and
its call sites once, issue 13: "keep the habit")."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from lxml import etree

from agent.datastore.store import RUNNING
from agent.netconf.errors import BASE_NS
from agent.netconf.nacm import MODULE
from tests.unit.test_netconf_nacm import (  # noqa: F401  (fixtures)
    CONFIGURED,
    NS,
    Agent,
    _assert_denied,
    configured,
    make_agent,
)

MONITORING_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
LIBRARY_NS = "urn:ietf:params:xml:ns:yang:ietf-yang-library"


def _top_names(reply: etree._Element | None) -> set[str]:
    assert reply is not None
    return {etree.QName(child).localname for child in reply if isinstance(child.tag, str)}


def test_reads_of_other_modules_follow_their_rules(tmp_path: Any) -> None:
    """§3.4.5: /netconf-state (ietf-netconf-monitoring) and /yang-library
    are data too: a rule denying a user read of those modules keeps them out
    of <get> (AccessControl.may_read_top)."""
    nacm: dict[str, Any] = {**CONFIGURED, "rule-list": [
        {"name": "no-monitoring", "group": ["operators"], "rule": [
            {"name": "deny-monitoring", "module-name": "ietf-netconf-monitoring",
             "access-operations": "read", "action": "deny"},
            {"name": "deny-library", "module-name": "ietf-yang-library",
             "access-operations": "read", "action": "deny"}]},
        *CONFIGURED["rule-list"]]}
    agent = make_agent(tmp_path, nacm)
    try:
        assert {"netconf-state", "yang-library"} <= _top_names(agent.rpc("<get/>", "admin"))
        names = _top_names(agent.rpc("<get/>", "noc"))
        assert "netconf-state" not in names and "yang-library" not in names
        assert "mobile-ip" in names  # the rest is still read
    finally:
        agent.operations.close()
        agent.datastore.close()


def test_denied_write_never_logs_a_default_deny_all_key(
        configured: Agent, caplog: pytest.LogCaptureFixture) -> None:
    """The key of a list under a default-deny-all node (a NACM rule-list
    name) is redacted in the denial's log line and error (RFC 8341 §3.4.3:
    a user learns nothing of nodes it may not read)."""
    body = configured.edit_body(
        '<nacm><rule-list><name>topsecretlist</name><group>*</group></rule-list></nacm>')
    with caplog.at_level(logging.WARNING, logger="agent.netconf.nacm"):
        error = configured.error(body, "dev")
    _assert_denied(error)
    assert caplog.records, "the denial is logged"
    assert "topsecretlist" not in caplog.text
    assert "<redacted>" in caplog.text
    assert "topsecretlist" not in str(error) and "topsecretlist" not in str(error.path)


def test_copy_config_of_a_fully_readable_datastore_checks_the_writes(configured: Agent) -> None:
    """§3.2.6: copying a datastore whose every node the user may read still
    needs write access to what it changes in the target. The candidate here
    holds no unreadable node (no keys, no passwords, no nacm): copying it
    into running would delete the access control itself."""
    delete = f' xmlns:nc="{BASE_NS}" nc:operation="delete"'
    configured.rpc(configured.edit_body(
        f"<security{delete}/><netconf-server{delete}/><nacm{delete}/>", target="candidate"),
        "admin")
    before = configured.snapshots()
    _assert_denied(configured.error(
        "<copy-config><target><running/></target><source><candidate/></source></copy-config>",
        "dev"))
    assert configured.snapshots() == before
    assert "nacm" in configured.datastore.get_config(RUNNING)[f"{MODULE}:mobile-ip"]
