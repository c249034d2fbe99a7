"""The management plane (``agent/plane/management_plane.py``) end to end,
against the control plane's real protocol end (``ControlSession`` +
``PlaneConnection`` + ``StateStream``, scripted by the test) over a real Unix
socket, with real clients: ncclient for NETCONF (``<get>``, get-data of
operational, edit-config, the clear RPCs), net-snmp's ``snmpwalk`` /
``snmpget``, the control channel, and ``proxymip show bindings`` as a
subprocess against the ``python -m agent.plane.management_plane`` process.

What the issue (14) asks of this side: reads never reach the engines (they
come from the mirror the stream feeds), configuration crosses the boundary
as a two-phase transaction that is never half-applied (veto -> its
error-tag, no control plane -> resource-denied, another transaction ->
in-use, no verdict -> abort and operation-failed), a new session begins
with the full configuration.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from agent.aio.control import request as control_request
from agent.datastore.edits import Edit, Operation
from agent.datastore.paths import parse_path
from agent.lab import HA, NETCONF_USER, fa_config, ha_config
from agent.netconf.errors import BASE_NS
from agent.netconf.nmda import DATASTORES_NS, NMDA_NS
from agent.plane import messages as m
from agent.plane import session as s
from agent.plane.tables import TableId
from agent.schema.context import TOP_MEMBER
from tests.interop.plane_peers import (
    ManagementPlaneInProcess,
    ScriptedControlPlane,
    wait_for,
)

pytest.importorskip("ncclient")
from ncclient.operations import RPCError
from ncclient.xml_ import to_ele

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
M = f"{{{NS}}}"
NC = f'xmlns:nc="{BASE_NS}"'
HARD_TIMEOUT = 120.0
HOMES = [int(IPv4Address("10.0.0.11")), int(IPv4Address("10.0.0.12")),
         int(IPv4Address("10.0.0.13"))]
CARE_OF = int(IPv4Address("192.0.2.7"))
SNMP_TOOLS = all(shutil.which(tool) for tool in ("snmpwalk", "snmpget"))


@pytest.fixture(autouse=True)
def hard_timeout() -> Iterator[None]:
    faulthandler.dump_traceback_later(HARD_TIMEOUT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def document() -> dict[str, Any]:
    config = ha_config(4, netconf=True)
    config[TOP_MEMBER]["snmp-agent"] = {
        "listen": {"address": HA, "port": 0},
        "community": [{"index": "ro", "secret": "public"}],
    }
    return config


def binding_row(home: int, *, lifetime: int = 600, identification: int = 7) -> tuple[Any, ...]:
    now = time.time()
    return (home, CARE_OF, CARE_OF, 434, 0, identification, lifetime, now - 5, now + lifetime)


def node_row(home: int, accepted: int = 1) -> tuple[Any, ...]:
    return (home, accepted, 0, 0.0, time.time() - 5, None, 0)


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ManagementPlaneInProcess]:
    running = ManagementPlaneInProcess(tmp_path, document(), change_timeout=0.5)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def control() -> Iterator[ScriptedControlPlane]:
    peer = ScriptedControlPlane()
    try:
        yield peer
    finally:
        peer.stop()


def connected(plane: ManagementPlaneInProcess, control: ScriptedControlPlane) -> None:
    """Connect, let the full transaction through, wait for the mirror."""
    control.connect(plane.socket_path)
    first = control.next_event(s.ConfigChangeRequested)
    assert first.full
    control.next_event(s.ConfigCommitRequested)
    wait_for(plane.mirror_synced, "the mirror to synchronise")


def nc_connect(plane: ManagementPlaneInProcess) -> Any:
    from ncclient import manager
    from ncclient.transport import parser as nc_parser
    from ncclient.transport import session as nc_session

    nc_session.TICK = 0.005
    nc_parser.TICK = 0.005
    host, port = plane.endpoint("netconf")
    return manager.connect(host=host, port=port, username=NETCONF_USER[0],
                           password=NETCONF_USER[1], hostkey_verify=False, look_for_keys=False,
                           allow_agent=False, timeout=10)


def state_filter() -> tuple[str, str]:
    return ("subtree", f'<mobile-ip xmlns="{NS}"><home-agent-state/><state-mirror/></mobile-ip>')


def bindings_in(xml: str, data_ns: str = BASE_NS) -> list[str]:
    root = etree.fromstring(xml.encode())
    data = root.find(f"{{{data_ns}}}data")
    assert data is not None, xml
    return [e.text or "" for e in data.iterfind(
        f"{M}mobile-ip/{M}home-agent-state/{M}binding/{M}home-address")]


def config(inner: str) -> str:
    return f'<nc:config {NC}><mobile-ip xmlns="{NS}">{inner}</mobile-ip></nc:config>'


def subnet(prefix: str) -> str:
    return f"<subnet-map><prefix>{prefix}</prefix><home-agent>{HA}</home-agent></subnet-map>"


def subnet_prefixes(plane: ManagementPlaneInProcess) -> list[str]:
    return [e["prefix"] for e in plane.running().get(TOP_MEMBER, {}).get("subnet-map", [])]


def control_ask(plane: ManagementPlaneInProcess, payload: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(control_request(plane.control_socket, payload))  # type: ignore[no-any-return]


# -- reads come from the mirror ----------------------------------------------------------------


def test_get_and_get_data_read_the_streamed_rows(plane: ManagementPlaneInProcess,
                                                 control: ScriptedControlPlane) -> None:
    control.put_rows(TableId.BINDING, [binding_row(h) for h in HOMES[:2]])
    control.put_rows(TableId.MOBILE_NODE, [node_row(h) for h in HOMES[:2]])
    connected(plane, control)
    control.send_counters({"home-agent": {"registration_accepted": 41, "reg_requests_received": 44}})
    control.record(TableId.BINDING, m.ChangeKind.CREATED, binding_row(HOMES[2]))
    control.record(TableId.MOBILE_NODE, m.ChangeKind.CREATED, node_row(HOMES[2]))
    expected = [str(IPv4Address(h)) for h in HOMES]
    with nc_connect(plane) as session:
        wait_for(lambda: bindings_in(session.get(filter=state_filter()).xml) == expected,
                 "the delta to reach <get>")
        reply = etree.fromstring(session.get(filter=state_filter()).xml.encode())
        counters = reply.find(f".//{M}home-agent-state/{M}counters")
        assert counters is not None
        assert counters.findtext(f"{M}registration-accepted") == "41"
        status = reply.find(f".//{M}state-mirror")
        assert status is not None and status.findtext(f"{M}status") == "synced"
        assert status.findtext(f"{M}state-period") == "1000"
        assert int(status.findtext(f"{M}counters-age") or "-1") >= 0
        # RFC 8526 §3.1: get-data of the operational datastore.
        get_data = to_ele(
            f'<get-data xmlns="{NMDA_NS}" xmlns:ds="{DATASTORES_NS}">'
            "<datastore>ds:operational</datastore>"
            f'<subtree-filter><mobile-ip xmlns="{NS}"><home-agent-state/></mobile-ip>'
            "</subtree-filter></get-data>")
        assert bindings_in(session.dispatch(get_data).xml, NMDA_NS) == expected
        control.record(TableId.BINDING, m.ChangeKind.DELETED, binding_row(HOMES[0]))
        wait_for(lambda: bindings_in(session.get(filter=state_filter()).xml) == expected[1:],
                 "the deletion to reach <get>")


def test_a_lost_control_plane_leaves_the_last_content_marked_stale(
        plane: ManagementPlaneInProcess, control: ScriptedControlPlane) -> None:
    control.put_rows(TableId.BINDING, [binding_row(HOMES[0])])
    connected(plane, control)
    control.disconnect()
    wait_for(lambda: not plane.thread.on_loop(lambda: plane.plane.connected), "the loss")
    with nc_connect(plane) as session:
        reply = session.get(filter=state_filter()).xml
        assert bindings_in(reply) == [str(IPv4Address(HOMES[0]))]
        status = etree.fromstring(reply.encode()).find(f".//{M}state-mirror")
        assert status is not None
        assert status.findtext(f"{M}status") == "lost"
        assert status.findtext(f"{M}control-plane-connected") == "false"


@pytest.mark.skipif(not SNMP_TOOLS, reason="net-snmp tools not installed")
def test_snmp_reads_the_binding_table_from_the_mirror(plane: ManagementPlaneInProcess,
                                                     control: ScriptedControlPlane) -> None:
    control.put_rows(TableId.BINDING, [binding_row(h) for h in HOMES])
    control.put_rows(TableId.MOBILE_NODE, [node_row(h, accepted=3) for h in HOMES])
    connected(plane, control)
    control.send_counters({"home-agent": {"registration_accepted": 9}})
    wait_for(lambda: plane.thread.on_loop(lambda: plane.plane.mirror.counter_groups()) == ["home-agent"],
             "the counters")
    host, port = plane.endpoint("snmp")
    target = f"{host}:{port}"
    # haMobilityBindingMN (RFC 2006, haMobilityBindingTable column 1).
    walked = subprocess.run(["snmpwalk", "-v2c", "-c", "public", "-On", "-Oqv", target,
                             "1.3.6.1.2.1.44.1.6.3.1.1.1"], capture_output=True, text=True,
                            timeout=20, check=True).stdout.split()
    assert walked == [str(IPv4Address(h)) for h in HOMES]
    # haServiceRequestsAccepted of one node, haRegistrationAccepted.
    index = ".".join(str(IPv4Address(HOMES[1])).split("."))
    got = subprocess.run(["snmpget", "-v2c", "-c", "public", "-On", "-Oqv", target,
                          f"1.3.6.1.2.1.44.1.6.3.2.1.2.{index}", "1.3.6.1.2.1.44.1.6.3.3.0"],
                         capture_output=True, text=True, timeout=20, check=True).stdout.split()
    assert got == ["3", "9"]


@pytest.mark.skipif(not SNMP_TOOLS, reason="net-snmp tools not installed")
def test_snmp_reads_the_visitor_table_from_the_mirror(tmp_path: Path,
                                                     control: ScriptedControlPlane) -> None:
    config = fa_config("fa-a", 4)
    config[TOP_MEMBER]["snmp-agent"] = {"listen": {"address": "127.0.0.1", "port": 0},
                                        "community": [{"index": "ro", "secret": "public"}]}
    plane = ManagementPlaneInProcess(tmp_path, config)
    try:
        now = time.time()
        control.put_rows(TableId.VISITOR, [
            (home, int(IPv4Address(HA)), CARE_OF, CARE_OF, 434, 0, 7, 600, now, now + 600)
            for home in HOMES[:2]])
        connected(plane, control)
        control.send_counters({"foreign-agent": {"reg_requests_received": 12}})
        wait_for(lambda: plane.thread.on_loop(plane.plane.mirror.counter_groups) == ["foreign-agent"],
                 "the counters")
        host, port = plane.endpoint("snmp")
        # faVisitorHomeAddress (RFC 2006 faVisitorTable column 2), faRegRequestsReceived.
        walked = subprocess.run(["snmpwalk", "-v2c", "-c", "public", "-On", "-Oqv", f"{host}:{port}",
                                 "1.3.6.1.2.1.44.1.5.3.1.1.2"], capture_output=True, text=True,
                                timeout=20, check=True).stdout.split()
        assert walked == [str(IPv4Address(h)) for h in HOMES[:2]]
        got = subprocess.run(["snmpget", "-v2c", "-c", "public", "-On", "-Oqv", f"{host}:{port}",
                              "1.3.6.1.2.1.44.1.5.3.2.0"], capture_output=True, text=True,
                             timeout=20, check=True).stdout.split()
        assert got == ["12"]
    finally:
        plane.stop()


def test_control_channel_state_and_counters_read_the_mirror(
        plane: ManagementPlaneInProcess, control: ScriptedControlPlane) -> None:
    control.put_rows(TableId.BINDING, [binding_row(h) for h in HOMES])
    connected(plane, control)
    control.send_counters({"home-agent": {"registration_accepted": 5}})
    wait_for(lambda: "home-agent" in control_ask(plane, {"op": "counters"}), "the counters")
    counters = control_ask(plane, {"op": "counters"})
    assert counters["home-agent"] == {"registration_accepted": 5, "bindings": 3}
    assert 0 <= counters["age"]["home-agent"] < 5
    assert counters["stale"] is False
    state = control_ask(plane, {"op": "state"})
    assert state["home-agent"]["binding-count"] == 3
    assert [b["home-address"] for b in state["home-agent"]["binding"]] == \
        [str(IPv4Address(h)) for h in HOMES]
    assert state["mirror"]["status"] == "synced"


# -- configuration crosses the boundary ------------------------------------------------------------


def test_edit_config_reaches_the_control_plane_and_commits_on_accept(
        plane: ManagementPlaneInProcess, control: ScriptedControlPlane) -> None:
    connected(plane, control)
    with nc_connect(plane) as session:
        session.edit_config(target="running", config=config(subnet("10.9.0.0/16")))
    change = control.next_event(s.ConfigChangeRequested)
    assert not change.full
    assert [(c.kind, c.path) for c in change.changes] == [
        (m.ChangeKind.CREATED, "/proxy-mobile-ip:mobile-ip/subnet-map[prefix='10.9.0.0/16']")]
    assert change.changes[0].value["home-agent"] == HA
    assert control.next_event(s.ConfigCommitRequested).transaction == change.transaction
    assert subnet_prefixes(plane) == ["10.9.0.0/16"]
    # Back to back: each commit waits for ConfigApplied, so the next one
    # does not find it open (in-use).
    for prefix in ("10.10.0.0/16", "10.11.0.0/16", "10.12.0.0/16"):
        plane.thread.on_loop(plane.datastore.edit, "running", [Edit(
            Operation.CREATE, parse_path(f"/mobile-ip/subnet-map[prefix='{prefix}']"),
            {"prefix": prefix, "home-agent": HA})])
    assert subnet_prefixes(plane) == ["10.9.0.0/16", "10.10.0.0/16", "10.11.0.0/16", "10.12.0.0/16"]


def test_a_veto_is_the_rpc_error_with_its_tag_and_running_is_unchanged(
        plane: ManagementPlaneInProcess, control: ScriptedControlPlane) -> None:
    connected(plane, control)
    control.verdict = ("veto", "data-exists", "two roles claim 127.0.0.2:434",
                       "/proxy-mobile-ip:mobile-ip/subnet-map[prefix='10.9.0.0/16']")
    with nc_connect(plane) as session:
        with pytest.raises(RPCError) as caught:
            session.edit_config(target="running", config=config(subnet("10.9.0.0/16")))
    assert caught.value.tag == "data-exists"
    assert "two roles claim" in caught.value.message
    assert caught.value.path == "/proxy-mobile-ip:mobile-ip/subnet-map[prefix='10.9.0.0/16']"
    assert subnet_prefixes(plane) == []
    with pytest.raises(AssertionError):  # vetoed: never done
        control.next_event(s.ConfigCommitRequested, timeout=0.3)


def test_without_a_control_plane_a_change_is_resource_denied(plane: ManagementPlaneInProcess) -> None:
    with nc_connect(plane) as session:
        with pytest.raises(RPCError) as caught:
            session.edit_config(target="running", config=config(subnet("10.9.0.0/16")))
    assert caught.value.tag == "resource-denied"
    assert subnet_prefixes(plane) == []


def test_a_silent_control_plane_is_aborted_after_the_timeout(
        plane: ManagementPlaneInProcess, control: ScriptedControlPlane) -> None:
    connected(plane, control)
    control.verdict = "silent"
    started = time.monotonic()
    with nc_connect(plane) as session:
        with pytest.raises(RPCError) as caught:
            session.edit_config(target="running", config=config(subnet("10.9.0.0/16")))
    assert caught.value.tag == "operation-failed"
    assert "no verdict" in caught.value.message
    assert time.monotonic() - started >= 0.5  # the (shortened) change timeout
    change = control.next_event(s.ConfigChangeRequested)
    assert control.next_event(s.ConfigAbortRequested).transaction == change.transaction
    assert subnet_prefixes(plane) == []


def test_a_change_while_the_full_transaction_is_open_is_in_use(
        plane: ManagementPlaneInProcess, control: ScriptedControlPlane) -> None:
    control.full_verdict = "silent"
    control.connect(plane.socket_path)
    assert control.next_event(s.ConfigChangeRequested).full
    with nc_connect(plane) as session:
        with pytest.raises(RPCError) as caught:
            session.edit_config(target="running", config=config(subnet("10.9.0.0/16")))
    assert caught.value.tag == "in-use"
    assert subnet_prefixes(plane) == []


def test_a_change_while_the_full_configuration_is_being_applied_waits_for_it(
        plane: ManagementPlaneInProcess, control: ScriptedControlPlane) -> None:
    control.full_apply_delay = 3.0
    with nc_connect(plane) as session:
        control.connect(plane.socket_path)
        assert control.next_event(s.ConfigCommitRequested)  # the full one, applied 3 s later
        # Neither in-use nor half-applied: the edit waits for the apply.
        session.edit_config(target="running", config=config(subnet("10.9.0.0/16")))
    change = control.next_event(s.ConfigChangeRequested)
    assert not change.full
    assert subnet_prefixes(plane) == ["10.9.0.0/16"]


def test_a_large_change_set_crosses_whole(plane: ManagementPlaneInProcess,
                                          control: ScriptedControlPlane) -> None:
    # 3,000 subnet-map entries in one commit: no size refusal on the
    # management side (the session cuts big values into ConfigChangePart
    # pieces: tests/unit/test_plane_parts.py), every entry reaches the
    # control plane's change phase, and the commit waits until the session's
    # own deadline, which grows with the size.
    connected(plane, control)
    prefixes = [f"10.{i // 250}.{i % 250}.0/24" for i in range(3000)]
    with nc_connect(plane) as session:
        session.edit_config(target="running", config=config("".join(subnet(p) for p in prefixes)))
    change = control.next_event(s.ConfigChangeRequested)
    assert len(change.changes) == 3000
    assert sorted(subnet_prefixes(plane)) == sorted(prefixes)


def test_a_reconnection_begins_with_the_full_configuration(
        plane: ManagementPlaneInProcess, control: ScriptedControlPlane) -> None:
    connected(plane, control)
    with nc_connect(plane) as session:
        session.edit_config(target="running", config=config(subnet("10.9.0.0/16")))
    control.next_event(s.ConfigCommitRequested)
    control.disconnect()
    wait_for(lambda: not plane.thread.on_loop(lambda: plane.plane.connected), "the loss")
    again = ScriptedControlPlane()
    try:
        again.connect(plane.socket_path)
        first = again.next_event(s.ConfigChangeRequested)
        assert first.full and first.transaction == 1  # the new session's first transaction
        (entry,) = first.changes
        assert entry.path == "/" + TOP_MEMBER
        assert [e["prefix"] for e in entry.value["subnet-map"]] == ["10.9.0.0/16"]
        assert entry.value["home-agent"]["address"] == HA
    finally:
        again.stop()


# -- RPCs and notifications -----------------------------------------------------------------------


def test_clear_rpcs_are_boundary_rpcs(plane: ManagementPlaneInProcess,
                                      control: ScriptedControlPlane) -> None:
    connected(plane, control)
    control.cleared = 2
    with nc_connect(plane) as session:
        reply = session.dispatch(to_ele(
            f'<clear-binding xmlns="{NS}"><home-address>10.0.0.11</home-address></clear-binding>'))
        assert etree.fromstring(reply.xml.encode()).findtext(f".//{M}cleared") == "2"
        session.dispatch(to_ele(f'<clear-counters xmlns="{NS}"><role>home-agent</role></clear-counters>'))
    first = control.next_event(s.RpcRequested).request
    assert first == m.ClearBinding(first.request, HOMES[0])
    second = control.next_event(s.RpcRequested).request
    assert isinstance(second, m.ClearCounters) and second.scope is m.CounterScope.HOME_AGENT
    # The control channel's client events are inject-client-event RPCs too.
    answer = control_ask(plane, {"op": "associate", "mac": "02:00:00:00:00:0A",
                                 "address": "10.0.0.11", "interface": "wlan0"})
    assert answer == {"ok": True}
    third = control.next_event(s.RpcRequested).request
    assert third == m.InjectClientEvent(third.request, m.ClientEventKind.ASSOCIATED,
                                        "02:00:00:00:00:0a", HOMES[0], "wlan0")


def test_without_a_control_plane_an_rpc_is_resource_denied(plane: ManagementPlaneInProcess) -> None:
    with nc_connect(plane) as session:
        with pytest.raises(RPCError) as caught:
            session.dispatch(to_ele(f'<clear-binding xmlns="{NS}"/>'))
    assert caught.value.tag == "resource-denied"
    assert "error" in control_ask(plane, {"op": "disassociate", "mac": "02:00:00:00:00:0a"})


def test_a_notification_message_is_published(plane: ManagementPlaneInProcess,
                                             control: ScriptedControlPlane) -> None:
    connected(plane, control)
    seen: list[tuple[str, dict[str, Any]]] = []
    plane.thread.on_loop(plane.datastore.subscribe_notifications,
                         lambda name, body, when: seen.append((name, body)))
    body = {"home-address": "10.0.0.11", "care-of-address": "192.0.2.7", "lifetime": 600,
            "source-address": "192.0.2.7"}
    with nc_connect(plane) as session:
        session.create_subscription()  # RFC 5277
        control.send_notification("binding-created", body)
        wait_for(lambda: bool(seen), "the notification")
        assert seen == [("binding-created", body)]
        received = session.take_notification(timeout=10)
        assert received is not None
        created = etree.fromstring(received.notification_xml.encode()).find(f".//{M}binding-created")
        assert created is not None and created.findtext(f"{M}home-address") == "10.0.0.11"


# -- the process -------------------------------------------------------------------------------------


def test_the_process_serves_proxymip_show_bindings_from_the_stream(tmp_path: Path) -> None:
    startup = tmp_path / "startup.json"
    startup.write_text(json.dumps(document()))
    os.chmod(startup, 0o600)
    socket_path = str(tmp_path / "plane.sock")
    process = subprocess.Popen(
        [sys.executable, "-m", "agent.plane.management_plane", "--startup", str(startup),
         "--socket", socket_path], stdout=subprocess.PIPE, text=True)
    control = ScriptedControlPlane()
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ready "), line
        endpoints = json.loads(line[len("ready "):])
        assert endpoints["plane"] == socket_path
        assert (os.stat(socket_path).st_mode & 0o777) == 0o600
        control.put_rows(TableId.BINDING, [binding_row(h) for h in HOMES])
        control.connect(socket_path)
        control.next_event(s.ConfigCommitRequested)
        host, port = endpoints["netconf"].rsplit(":", 1)
        env = dict(os.environ, PROXYMIP_PASSWORD=NETCONF_USER[1], HOME=str(tmp_path))
        command = [sys.executable, "-m", "agent.cli", "show", "bindings", "--host", host,
                   "--port", port, "--user", NETCONF_USER[0], "--no-host-key-check"]

        def shown() -> str:
            out = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)
            assert out.returncode == 0, out.stderr
            return out.stdout
        wait_for(lambda: all(str(IPv4Address(h)) in shown() for h in HOMES), "show bindings",
                 timeout=30)
        assert "Stale" not in shown()
        # The control plane goes: the last content, said to be stale.
        control.disconnect()
        wait_for(lambda: "% Stale: last known state (lost: the control plane is not connected"
                 in shown(), "the stale notice", timeout=30)
        assert all(str(IPv4Address(h)) in shown() for h in HOMES)
        watched = subprocess.run([sys.executable, "-m", "agent.cli", "watch", "--count", "1",
                                  *command[command.index("--host"):]], capture_output=True,
                                 text=True, timeout=30, env=env)
        assert watched.returncode == 0, watched.stderr
        assert "% Stale: last known state (lost" in watched.stdout
        assert str(IPv4Address(HOMES[0])) in watched.stdout
    finally:
        control.stop()
        process.terminate()
        assert process.wait(timeout=20) == 0
        assert process.stdout is not None
        process.stdout.close()


def test_sighup_reloads_the_startup_file_across_the_boundary(tmp_path: Path) -> None:
    startup = tmp_path / "startup.json"
    startup.write_text(json.dumps(document()))
    os.chmod(startup, 0o600)
    socket_path = str(tmp_path / "plane.sock")
    process = subprocess.Popen(
        [sys.executable, "-m", "agent.plane.management_plane", "--startup", str(startup),
         "--socket", socket_path], stdout=subprocess.PIPE, text=True)
    control = ScriptedControlPlane()
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("ready ")
        control.connect(socket_path)
        control.next_event(s.ConfigCommitRequested)  # the full configuration
        edited = document()
        edited[TOP_MEMBER]["subnet-map"] = [{"prefix": "10.9.0.0/16", "home-agent": HA}]
        startup.write_text(json.dumps(edited))
        process.send_signal(signal.SIGHUP)
        change = control.next_event(s.ConfigChangeRequested)
        assert not change.full
        assert [c.path for c in change.changes] == [
            "/proxy-mobile-ip:mobile-ip/subnet-map[prefix='10.9.0.0/16']"]
        control.next_event(s.ConfigCommitRequested)
    finally:
        control.stop()
        process.terminate()
        assert process.wait(timeout=20) == 0
        assert process.stdout is not None
        process.stdout.close()
