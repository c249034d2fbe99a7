"""Bindings and visitors across a restart (HomeAgent/ForeignAgent
export_state / restore_state), on virtual time with the pair harness of
test_pair.py: a restarted agent takes back what is still alive, announces it
(so the data plane rebuilds tunnels and routes), keeps refusing replays
(RFC 5944 §5.7), lets the rest expire on time, and refuses a document that is
not its own without restoring half of it."""

from __future__ import annotations

import json
import random
from ipaddress import IPv4Address

import pytest

from agent.mobileip.events import BindingCreated, RemovalReason, BindingDeleted, VisitorAdded
from agent.mobileip.foreign_agent import ForeignAgent
from agent.mobileip.home_agent import BINDING_FIELDS, NODE_FIELDS, HomeAgent
from agent.mobileip.numbers import ReplyCode

from test_pair import FIRST_FOREIGN_AGENT, HOME_AGENT, NOW, Link, drain, make_world


def _register(link: Link, nodes, now: float, lifetime: int = 600) -> None:
    for node in nodes:
        link.node_sends(node, node.request(care_of_address=FIRST_FOREIGN_AGENT,
                                           lifetime=lifetime, now=now), FIRST_FOREIGN_AGENT)
    link.run(now)
    for node in nodes:
        assert node.last_reply().code == ReplyCode.ACCEPTED


def _restarted_home_agent(old: HomeAgent) -> HomeAgent:
    return HomeAgent(old.settings, mobile_nodes=old.mobile_node_sas, peers=old.peer_sas,
                     rng=random.Random(3))


def test_home_agent_restart_keeps_live_bindings_and_replay_state() -> None:
    link, nodes = make_world(3)
    _register(link, nodes[:2], NOW, lifetime=600)
    _register(link, nodes[2:], NOW, lifetime=100)
    old = link.home_agent
    drain(old)
    saved = json.loads(json.dumps(old.export_state()))  # what the file holds

    restart = NOW + 200  # the third binding (100 s) is gone by now
    new = _restarted_home_agent(old)
    assert new.restore_state(saved, restart) == 2
    assert new.binding_count == 2
    assert sorted(drain(new), key=lambda e: int(e.home_address)) == [
        BindingCreated(n.home_address, FIRST_FOREIGN_AGENT, 400, FIRST_FOREIGN_AGENT)
        for n in nodes[:2]]
    assert [(b.home_address, b.expires_at) for b in new.bindings()] == [
        (n.home_address, NOW + 600) for n in nodes[:2]]
    assert new.get_timer() == NOW + 600

    # A replay of the last accepted request is still refused (RFC 5944 §5.7.1: the
    # Identification must be newer than the last one accepted).
    nodes[0].sequence -= 1  # the same Identification as the request accepted before
    replayed = nodes[0].request(care_of_address=FIRST_FOREIGN_AGENT, lifetime=600, now=NOW)
    link.home_agent = new
    link.node_sends(nodes[0], replayed, FIRST_FOREIGN_AGENT)
    link.run(restart)
    assert nodes[0].replies[-1].code == ReplyCode.HA_REGISTRATION_IDENTIFICATION_MISMATCH
    assert new.counters.id_mismatch == 1  # code 133, haIDMismatch

    # What was restored expires on time.
    new.handle_timer(NOW + 600)
    deleted = [e for e in drain(new) if isinstance(e, BindingDeleted)]
    assert {e.reason for e in deleted} == {RemovalReason.EXPIRED} and len(deleted) == 2
    assert new.binding_count == 0


def test_foreign_agent_restart_keeps_live_visitors() -> None:
    link, nodes = make_world(2)
    _register(link, nodes, NOW)
    old: ForeignAgent = link.foreign_agents[FIRST_FOREIGN_AGENT]
    drain(old)
    saved = json.loads(json.dumps(old.export_state()))
    new = ForeignAgent(old.settings, home_agents=old.home_agent_sas, rng=random.Random(4),
                       now=NOW + 10)
    assert new.restore_state(saved, NOW + 10) == 2
    assert sorted(drain(new), key=lambda e: int(e.home_address)) == [
        VisitorAdded(n.home_address, HOME_AGENT, FIRST_FOREIGN_AGENT, 590) for n in nodes]
    assert [v.home_address for v in new.visitors()] == [n.home_address for n in nodes]
    assert [v.expires_at for v in new.visitors()] == [NOW + 600] * 2


_LAYOUT = {"node-fields": NODE_FIELDS, "binding-fields": BINDING_FIELDS}


@pytest.mark.parametrize("bad", [
    {},
    {"node-fields": ["home-address"], "binding-fields": BINDING_FIELDS, "nodes": []},
    {**_LAYOUT, "nodes": [[-1, None, None, []]]},  # not an address
    {**_LAYOUT, "nodes": [[int(IPv4Address("10.1.2.1")), None, None,
                           [[int(IPv4Address("192.0.2.1"))]]]]},  # a truncated binding row
])
def test_a_document_that_is_not_ours_restores_nothing(bad: dict) -> None:
    link, nodes = make_world(1)
    new = _restarted_home_agent(link.home_agent)
    valid = [int(IPv4Address("10.1.2.9")), 5, None, []]
    if "nodes" in bad:
        bad = {**bad, "nodes": [valid, *bad["nodes"]]}
    with pytest.raises((ValueError, KeyError, TypeError)):
        new.restore_state(bad, NOW)
    assert new.binding_count == 0 and new.mobile_nodes() == {}


def test_restore_needs_an_empty_agent() -> None:
    link, nodes = make_world(1)
    _register(link, nodes, NOW)
    with pytest.raises(ValueError):
        link.home_agent.restore_state(link.home_agent.export_state(), NOW)
