"""Every NETCONF operation and error of issue 5 driven by a real client,
ncclient 0.7.1, against an agent composed as ``proxymip run`` composes it (in
process, loopback, port 0): copy-config, delete-config, discard-changes,
validate, cancel-commit, get-data / edit-data (RFC 8526, through ncclient's
``dispatch``), XPath filters (RFC 6241 §8.9), the RFC 6241 Appendix A errors
as ncclient parses them, and a lock whose holder's TCP connection dies.
"""

from __future__ import annotations

import faulthandler
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from agent.netconf.errors import BASE_NS
from agent.netconf.nmda import DATASTORES_NS, NMDA_NS
from agent.netconf.yanglib import YANG_LIBRARY_NS
from tests.interop.netconf_agent import InProcessAgent, nc_connect, running_agent

pytest.importorskip("ncclient")
from ncclient.operations import RPCError
from ncclient.xml_ import to_ele

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
M = f"{{{NS}}}"
NC = f'xmlns:nc="{BASE_NS}"'
KEY_HEX = "a1:b2:c3:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f:90"
HARD_TIMEOUT = 90.0
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


def config(inner: str) -> str:
    return f'<nc:config {NC}><mobile-ip xmlns="{NS}">{inner}</mobile-ip></nc:config>'


def edit_data(datastore: str, inner: str) -> Any:
    """<edit-data> (RFC 8526 §3.2): its <config> is the NMDA module's."""
    return to_ele(f'<edit-data xmlns="{NMDA_NS}" xmlns:ds="{DATASTORES_NS}" {NC}>'
                  f"<datastore>ds:{datastore}</datastore>"
                  f'<config><mobile-ip xmlns="{NS}">{inner}</mobile-ip></config></edit-data>')


def subnet(prefix: str, home_agent: str = "192.0.2.1", *, attributes: str = "") -> str:
    return (f"<subnet-map{attributes}><prefix>{prefix}</prefix>"
            f"<home-agent>{home_agent}</home-agent></subnet-map>")


def prefixes(reply: Any, *, data_ns: str = BASE_NS) -> list[str]:
    root = etree.fromstring(reply.xml.encode())
    data = root.find(f"{{{data_ns}}}data")
    assert data is not None, reply.xml
    return [e.text or "" for e in data.iterfind(f"{M}mobile-ip/{M}subnet-map/{M}prefix")]


def subnet_filter() -> tuple[str, str]:
    return ("subtree", f'<mobile-ip xmlns="{NS}"><subnet-map/></mobile-ip>')


def rpc_error(call: Callable[[], Any]) -> RPCError:
    with pytest.raises(RPCError) as caught:
        call()
    return caught.value


def error_info(error: RPCError) -> dict[str, str]:
    """<error-info> children by local name, as ncclient received them."""
    element = etree.fromstring(error.xml) if isinstance(error.xml, (str, bytes)) else error.xml
    found = element.find(f"{{{BASE_NS}}}error-info")
    return {} if found is None else {etree.QName(c).localname: c.text or "" for c in found}


def get_data(session: Any, datastore: str, extra: str = "") -> Any:
    return session.dispatch(to_ele(
        f'<get-data xmlns="{NMDA_NS}" xmlns:ds="{DATASTORES_NS}">'
        f"<datastore>ds:{datastore}</datastore>{extra}</get-data>"))


# -- copy-config, delete-config (RFC 6241 §7.3, §7.4) ------------------------------------


def test_copy_config_between_datastores_and_inline_and_delete_config(
        agent: InProcessAgent, tmp_path: Path) -> None:
    with nc_connect(agent) as session:
        session.edit_config(target="running", config=config(subnet("10.1.0.0/16")))
        # running -> startup persists (RFC 6241 §8.7).
        assert session.copy_config(source="running", target="startup").ok
        assert prefixes(session.get_config("startup", filter=subnet_filter())) == ["10.1.0.0/16"]
        # An inline <config> replaces the target.
        inline = f'<nc:source {NC}>{config(subnet("10.2.0.0/16"))}</nc:source>'
        assert session.copy_config(source=inline, target="candidate").ok
        candidate = prefixes(session.get_config("candidate", filter=subnet_filter()))
        assert candidate == ["10.2.0.0/16"]
        assert session.discard_changes().ok
        assert session.delete_config(target="startup").ok
        assert prefixes(session.get_config("startup", filter=subnet_filter())) == []
        # running cannot be deleted.
        error = rpc_error(lambda: session.delete_config(target="running"))
        assert (error.tag, error.type) == ("operation-not-supported", "application")
        # Copying a datastore onto itself is refused.
        error = rpc_error(lambda: session.copy_config(source="running", target="running"))
        assert (error.tag, error_info(error)["bad-element"]) == ("invalid-value", "target")


# -- discard-changes, validate, cancel-commit (RFC 6241 §8.3, §8.6, §8.4) -----------------


def test_discard_changes_and_validate(agent: InProcessAgent) -> None:
    with nc_connect(agent) as session:
        session.edit_config(target="candidate", config=config(subnet("10.3.0.0/16")))
        assert prefixes(session.get_config("candidate", filter=subnet_filter())) == [
            "10.3.0.0/16"]
        assert session.validate(source="candidate").ok
        assert session.discard_changes().ok
        assert prefixes(session.get_config("candidate", filter=subnet_filter())) == []
        # An inline configuration that breaks a must: the module's error-app-tag.
        invalid = config("<proxy><retransmit><initial>5</initial><maximum>1</maximum>"
                         "</retransmit></proxy>")
        error = rpc_error(lambda: session.validate(source=to_ele(invalid)))
        assert error.type == "application"
        assert "retransmit-interval-inconsistent" in (error.xml if isinstance(error.xml, str)
                                                      else etree.tostring(error.xml).decode())
        assert session.validate(source=to_ele(config(subnet("10.4.0.0/16")))).ok


def test_confirmed_commit_then_cancel_commit_restores_running(agent: InProcessAgent) -> None:
    with nc_connect(agent) as session:
        session.edit_config(target="candidate", config=config(subnet("10.5.0.0/16")))
        assert session.commit(confirmed=True, timeout="60").ok
        assert prefixes(session.get_config("running", filter=subnet_filter())) == ["10.5.0.0/16"]
        assert session.cancel_commit().ok
        assert prefixes(session.get_config("running", filter=subnet_filter())) == []
        # Nothing pending any more (RFC 6241 §8.4.4.1 names no tag: the server's).
        error = rpc_error(lambda: session.cancel_commit())
        assert error.tag == "operation-failed"


# -- NMDA (RFC 8526) and the YANG library (RFC 8525) -------------------------------------


def test_get_data_and_edit_data_through_dispatch(agent: InProcessAgent) -> None:
    with nc_connect(agent) as session:
        library = next(c for c in session.server_capabilities
                       if c.startswith("urn:ietf:params:netconf:capability:yang-library:1.1?"))
        assert "revision=2019-01-04" in library and "content-id=" in library
        session.dispatch(edit_data("running", subnet("10.6.0.0/16")))
        subtree = f'<subtree-filter><mobile-ip xmlns="{NS}"><subnet-map/></mobile-ip></subtree-filter>'
        for datastore in ("running", "intended", "operational"):
            reply = get_data(session, datastore, subtree)
            assert prefixes(reply, data_ns=NMDA_NS) == ["10.6.0.0/16"], datastore
        assert prefixes(get_data(session, "candidate", subtree), data_ns=NMDA_NS) == [
            "10.6.0.0/16"]
        # The operational datastore carries the live state and the YANG library.
        reply = get_data(session, "operational", "<config-filter>false</config-filter>")
        data = etree.fromstring(reply.xml.encode()).find(f"{{{NMDA_NS}}}data")
        assert data is not None
        content_id = data.findtext(f"{{{YANG_LIBRARY_NS}}}yang-library/"
                                   f"{{{YANG_LIBRARY_NS}}}content-id")
        assert content_id and library.endswith(f"content-id={content_id}")
        assert data.find(f"{M}mobile-ip/{M}home-agent-state") is not None
        assert data.find(f"{M}mobile-ip/{M}subnet-map") is None  # config-filter false
        # edit-data's errors are edit-config's.
        create = subnet("10.6.0.0/16", attributes=' nc:operation="create"')
        error = rpc_error(lambda: session.dispatch(edit_data("running", create)))
        assert error.tag == "data-exists"
        error = rpc_error(lambda: get_data(session, "nonesuch"))
        assert (error.tag, error_info(error)["bad-element"]) == ("invalid-value", "datastore")


# -- XPath filters (RFC 6241 §8.9) ---------------------------------------------------------


def test_xpath_filters_on_get_and_get_config(agent: InProcessAgent) -> None:
    with nc_connect(agent) as session:
        assert "urn:ietf:params:netconf:capability:xpath:1.0" in session.server_capabilities
        session.edit_config(target="running", config=config(
            subnet("10.7.0.0/16") + subnet("10.8.0.0/16", "192.0.2.8")))
        select = "/p:mobile-ip/p:subnet-map[p:home-agent='192.0.2.8']"
        reply = session.get_config("running", filter=("xpath", ({"p": NS}, select)))
        assert prefixes(reply) == ["10.8.0.0/16"]
        reply = session.get(filter=("xpath", ({"p": NS}, "/p:mobile-ip/p:home-agent-state")))
        data = etree.fromstring(reply.xml.encode()).find(f"{{{BASE_NS}}}data")
        assert data is not None and [etree.QName(c).localname for c in data[0]] == [
            "home-agent-state"]
        error = rpc_error(lambda: session.get(filter=("xpath", ({"p": NS}, "/p:mobile-ip["))))
        assert (error.tag, error.type) == ("invalid-value", "protocol")
        assert error_info(error) == {"bad-attribute": "select", "bad-element": "filter"}
        error = rpc_error(lambda: session.get(filter=("xpath", "/q:mobile-ip")))
        assert error.tag == "invalid-value"  # an undeclared prefix


def test_xpath_filter_on_a_subscription(agent: InProcessAgent) -> None:
    with nc_connect(agent) as session:
        session.create_subscription(filter=("xpath", ({"p": NS}, "/p:registration-denied")))
        agent.publish("binding-created", {"home-address": "192.0.2.20", "care-of-address":
                                          "127.0.0.3", "lifetime": 60,
                                          "source-address": "127.0.0.3"})
        agent.publish("registration-denied", {"role": "home-agent", "home-address": "192.0.2.21",
                                              "code": 129, "source-address": "127.0.0.3"})
        notification = session.take_notification(timeout=WAIT)
        assert notification is not None
        root = etree.fromstring(notification.notification_xml.encode())
        assert [etree.QName(c).localname for c in root][1:] == ["registration-denied"]
        assert session.take_notification(timeout=0.3) is None


# -- RFC 6241 Appendix A errors ------------------------------------------------------------


def test_edit_config_errors_as_ncclient_sees_them(agent: InProcessAgent) -> None:
    with nc_connect(agent) as session:
        edit = session.edit_config
        # unknown-element: an element the module does not have.
        error = rpc_error(lambda: edit(target="running", config=config("<frobnicator/>")))
        assert (error.tag, error.type, error.severity) == ("unknown-element", "application",
                                                           "error")
        assert error_info(error)["bad-element"] == "frobnicator"
        # unknown-namespace.
        error = rpc_error(lambda: edit(target="running", config=(
            f'<nc:config {NC}><mobile-ip xmlns="urn:example:nope"/></nc:config>')))
        assert error.tag == "unknown-namespace"
        assert error_info(error)["bad-namespace"] == "urn:example:nope"
        # missing-element: a list entry without its key.
        error = rpc_error(lambda: edit(target="running", config=config(
            "<subnet-map><home-agent>192.0.2.1</home-agent></subnet-map>")))
        assert (error.tag, error_info(error)["bad-element"]) == ("missing-element", "prefix")
        # invalid-value, with the data path.
        error = rpc_error(lambda: edit(target="running", config=config(
            subnet("10.9.0.0/16", "not-an-address"))))
        assert error.tag == "invalid-value" and error.path and "subnet-map" in error.path
        # data-exists, data-missing.
        edit(target="running", config=config(subnet("10.9.0.0/16")))
        error = rpc_error(lambda: edit(target="running", config=config(
            subnet("10.9.0.0/16", attributes=' nc:operation="create"'))))
        assert error.tag == "data-exists"
        error = rpc_error(lambda: edit(target="running", config=config(
            subnet("10.10.0.0/16", attributes=' nc:operation="delete"'))))
        assert error.tag == "data-missing"
        # Nothing of the refused edits was stored.
        assert prefixes(session.get_config("running", filter=subnet_filter())) == ["10.9.0.0/16"]


def test_operation_not_supported_and_lock_denied(agent: InProcessAgent) -> None:
    with nc_connect(agent) as first, nc_connect(agent) as second:
        error = rpc_error(lambda: first.dispatch(to_ele('<frob xmlns="urn:example:x"/>')))
        assert (error.tag, error.type) == ("operation-not-supported", "protocol")
        error = rpc_error(lambda: first.edit_config(target="startup",
                                                    config=config(subnet("10.11.0.0/16"))))
        assert error.tag == "operation-not-supported"  # edit-config on startup
        assert first.lock("running").ok
        error = rpc_error(lambda: second.lock("running"))
        assert (error.tag, error.type) == ("lock-denied", "protocol")
        assert error_info(error)["session-id"] == first.session_id
        error = rpc_error(lambda: second.edit_config(target="running",
                                                     config=config(subnet("10.12.0.0/16"))))
        assert error.tag in ("lock-denied", "in-use")
        assert first.unlock("running").ok
        assert second.lock("running").ok
        assert second.unlock("running").ok


# -- a lock whose holder's connection dies (issue 5 §5) -----------------------------------


def test_a_lock_held_by_a_dead_connection_is_released(agent: InProcessAgent) -> None:
    holder = nc_connect(agent)
    assert holder.lock("running").ok
    assert holder.lock("candidate").ok
    held_by = int(holder.session_id)
    assert agent.on_loop(agent.datastore.lock_holder, "running") == held_by
    # The TCP connection dies under the client: no close-session, no SSH close.
    sock = holder._session._transport.sock
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    with nc_connect(agent) as other:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                assert other.lock("running").ok
                break
            except RPCError as error:
                assert error.tag == "lock-denied"
                assert error_info(error)["session-id"] == str(held_by)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert agent.on_loop(agent.datastore.lock_holder, "candidate") is None
        assert other.unlock("running").ok
    try:
        holder.close_session()
    except Exception:  # the transport is gone: ncclient says so in its own way
        pass
