"""The NETCONF operations (``agent/netconf/operations.py``), called as the
session calls them: the operation element of an ``<rpc>`` and a session, no
SSH. Every operation of RFC 6241 §7-§8 the agent offers, RFC 6243
with-defaults, RFC 6022 get-schema, the module's RPCs, and every error with its
RFC 6241 Appendix A fields.

What every test leans on: the reply is built from the real datastore and the
real libyang, and a refused request leaves every datastore as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from agent.schema.context import TOP_MEMBER, yang_dir
from agent.datastore.store import CANDIDATE, RUNNING, STARTUP, Datastore
from agent.netconf.errors import BASE_NS, RpcError
from agent.netconf.operations import MONITORING_NS, WITH_DEFAULTS_NS, Operations

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
KEY_HEX = "a1:b2:c3:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f:90"
YANG_FILE = Path(__file__).resolve().parents[2] / "yang" / "proxy-mobile-ip.yang"


@dataclass(frozen=True)
class Session:
    session_id: int = 1
    username: str | None = "admin"


class Agent:
    """An Operations over a datastore, spoken to in XML text."""

    def __init__(self, datastore: Datastore, operations: Operations) -> None:
        self.datastore = datastore
        self.operations = operations

    def rpc(self, body: str, *, session: int = 1) -> etree._Element | None:
        rpc = etree.fromstring(
            f'<rpc xmlns="{BASE_NS}" xmlns:nc="{BASE_NS}" message-id="1">{body}</rpc>')
        return self.operations(rpc[0], Session(session))

    def error(self, body: str, *, session: int = 1) -> RpcError:
        with pytest.raises(RpcError) as caught:
            self.rpc(body, session=session)
        return caught.value

    def edit(self, config: str, *, target: str = "running", session: int = 1,
             options: str = "") -> etree._Element | None:
        return self.rpc(f"<edit-config><target><{target}/></target>{options}"
                        f'<config><mobile-ip xmlns="{NS}">{config}</mobile-ip></config>'
                        "</edit-config>", session=session)

    def edit_error(self, config: str, **kwargs: Any) -> RpcError:
        with pytest.raises(RpcError) as caught:
            self.edit(config, **kwargs)
        return caught.value

    def get_config(self, source: str = "running", extra: str = "") -> etree._Element:
        data = self.rpc(f"<get-config><source><{source}/></source>{extra}</get-config>")
        assert data is not None and data.tag == f"{{{BASE_NS}}}data"
        return data

    def member(self, name: str = RUNNING, **kwargs: Any) -> dict[str, Any]:
        content: dict[str, Any] = self.datastore.get_config(name, **kwargs).get(TOP_MEMBER, {})
        return content


@pytest.fixture
def agent() -> Iterator[Agent]:
    datastore = Datastore()
    operations = Operations(datastore, yang_dir=yang_dir())
    yield Agent(datastore, operations)
    operations.close()
    datastore.close()


def host(address: str, spi: int | str, *, key: str = f"<key-hex>{KEY_HEX}</key-hex>",
         attributes: str = "", extra: str = "") -> str:
    return (f"<host{attributes}><address>{address}</address><spi>{spi}</spi>{key}{extra}"
            "</host>")


def subnet(prefix: str, home_agent: str = "192.0.2.1", *, attributes: str = "") -> str:
    return (f"<subnet-map{attributes}><prefix>{prefix}</prefix>"
            f"<home-agent>{home_agent}</home-agent></subnet-map>")


def q(name: str) -> str:
    return f"{{{NS}}}{name}"


def texts(data: etree._Element, path: str) -> list[str]:
    return [e.text or "" for e in data.iterfind(path, {"m": NS})]


def info(error: RpcError) -> dict[str, str]:
    """error-info children by local name, as they go on the wire."""
    xml = error.to_xml()
    found = xml.find(f"{{{BASE_NS}}}error-info")
    return {} if found is None else {etree.QName(e).localname: e.text or "" for e in found}


def assert_error(error: RpcError, tag: str, *, error_type: str = "application",
                 path: str | None = None, app_tag: str | None = None,
                 **expected_info: str) -> None:
    assert error.tag == tag, error
    assert error.error_type == error_type, error
    if path is not None:
        assert error.path == path, error.path
    if app_tag is not None:
        assert error.app_tag == app_tag, error
    for name, value in expected_info.items():
        assert info(error).get(name.replace("_", "-")) == value, info(error)


# -- capabilities -------------------------------------------------------------------------


def test_capabilities_name_what_is_implemented(agent: Agent) -> None:
    revision = re.search(r"^\s*revision (\d{4}-\d{2}-\d{2})", YANG_FILE.read_text(), re.MULTILINE)
    assert revision is not None
    capabilities = agent.operations.capabilities()
    assert capabilities == [
        "urn:ietf:params:netconf:base:1.0",
        "urn:ietf:params:netconf:base:1.1",
        "urn:ietf:params:netconf:capability:writable-running:1.0",
        "urn:ietf:params:netconf:capability:candidate:1.0",
        "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
        "urn:ietf:params:netconf:capability:validate:1.1",
        "urn:ietf:params:netconf:capability:startup:1.0",
        "urn:ietf:params:netconf:capability:xpath:1.0",
        ("urn:ietf:params:netconf:capability:with-defaults:1.0"
         "?basic-mode=explicit&also-supported=report-all,trim"),
        f"{NS}?module=proxy-mobile-ip&revision={revision.group(1)}",
        ("urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
         "?module=ietf-netconf-monitoring&revision=2010-10-04"),
        # RFC 8526 §2 (its content-id: tests/unit/test_netconf_nmda.py).
        agent.operations.library.capability(),
    ]
    # Not wired here (no confirmed commits, no notifications), so not announced.
    assert not any("confirmed-commit" in c or "interleave" in c for c in capabilities)


# -- get-config and with-defaults ---------------------------------------------------------


def test_get_config_of_an_empty_datastore_is_empty_data(agent: Agent) -> None:
    data = agent.get_config()
    assert len(data) == 0
    assert data.nsmap[None] == BASE_NS


def test_edit_then_get_config_round_trip_with_rfc7951_types(agent: Agent) -> None:
    assert agent.edit(
        subnet("10.1.2.3/16")
        + "<security>" + host("10.1.0.5", 300, extra="<replay-window>30</replay-window>")
        + "</security>"
        + "<foreign-agent><address>192.0.2.9</address><care-of-address>192.0.2.9"
          "</care-of-address><care-of-address>192.0.2.10</care-of-address>"
          "<pending-timeout>1.50</pending-timeout><max-visitors>4000000000</max-visitors>"
          "<reverse-tunnel>true</reverse-tunnel></foreign-agent>") is None
    member = agent.member()
    # RFC 7951 §6: uint32 and uint16 are numbers, decimal64 a string in
    # canonical form, boolean a boolean, a key in libyang's canonical form.
    assert member["subnet-map"] == [{"prefix": "10.1.0.0/16", "home-agent": "192.0.2.1"}]
    assert member["security"]["host"] == [
        {"address": "10.1.0.5", "spi": 300, "key-hex": KEY_HEX, "replay-window": 30}]
    foreign_agent = member["foreign-agent"]
    assert foreign_agent["pending-timeout"] == "1.5"
    assert foreign_agent["max-visitors"] == 4000000000
    assert foreign_agent["reverse-tunnel"] is True
    assert foreign_agent["care-of-address"] == ["192.0.2.9", "192.0.2.10"]
    data = agent.get_config()
    (top,) = data
    assert top.tag == q("mobile-ip") and top.nsmap[None] == NS
    assert texts(data, "m:mobile-ip/m:security/m:host/m:spi") == ["300"]
    assert texts(data, "m:mobile-ip/m:foreign-agent/m:pending-timeout") == ["1.5"]
    assert texts(data, "m:mobile-ip/m:foreign-agent/m:reverse-tunnel") == ["true"]
    # Keys first, in key order (RFC 7950 §7.8.5).
    entry = data.find("m:mobile-ip/m:security/m:host", {"m": NS})
    assert [etree.QName(c).localname for c in entry][:2] == ["address", "spi"]


def with_defaults(mode: str) -> str:
    return f'<with-defaults xmlns="{WITH_DEFAULTS_NS}">{mode}</with-defaults>'


def test_with_defaults_explicit_report_all_and_trim(agent: Agent) -> None:
    agent.edit("<security>" + host("10.1.0.5", 300, extra="<replay-window>7</replay-window>")
               + host("10.1.0.6", 301, extra="<replay-window>9</replay-window>") + "</security>")
    windows = "m:mobile-ip/m:security/m:host/m:replay-window"
    algorithms = "m:mobile-ip/m:security/m:host/m:algorithm"
    # explicit (the basic mode, RFC 6243 §3.3): what was set, default value or not.
    for data in (agent.get_config(), agent.get_config(extra=with_defaults("explicit"))):
        assert texts(data, windows) == ["7", "9"]
        assert texts(data, algorithms) == []
    # report-all (§3.1): every default too.
    data = agent.get_config(extra=with_defaults("report-all"))
    assert texts(data, windows) == ["7", "9"]
    assert texts(data, algorithms) == ["hmac-md5", "hmac-md5"]
    assert texts(data, "m:mobile-ip/m:radius/m:timeout") == ["3"]
    # trim (§3.2): nothing equal to its default, set or not; no empty containers.
    data = agent.get_config(extra=with_defaults("trim"))
    assert texts(data, windows) == ["9"]
    assert texts(data, algorithms) == []
    assert data.find("m:mobile-ip/m:radius", {"m": NS}) is None
    assert texts(data, "m:mobile-ip/m:security/m:host/m:key-hex") == [KEY_HEX, KEY_HEX]


def test_with_defaults_mode_not_offered_is_invalid_value(agent: Agent) -> None:
    error = agent.error("<get-config><source><running/></source>"
                        f"{with_defaults('report-all-tagged')}</get-config>")
    assert_error(error, "invalid-value", error_type="protocol", bad_element="with-defaults")


def test_get_config_reads_candidate_and_startup(agent: Agent) -> None:
    agent.edit(subnet("10.2.0.0/16"), target="candidate")
    assert texts(agent.get_config("candidate"), "m:mobile-ip/m:subnet-map/m:prefix") == [
        "10.2.0.0/16"]
    assert len(agent.get_config("running")) == 0
    assert len(agent.get_config("startup")) == 0


def test_get_config_of_10000_host_associations(agent: Agent) -> None:
    hosts = [{"address": f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}", "spi": 256 + i,
              "key-hex": KEY_HEX} for i in range(10000)]
    agent.datastore.replace_config(RUNNING, {TOP_MEMBER: {"security": {"host": hosts}}})
    data = agent.get_config()
    entries = data.findall("m:mobile-ip/m:security/m:host", {"m": NS})
    assert len(entries) == 10000
    assert entries[0].findtext(q("address")) == "10.0.0.0"
    assert entries[-1].findtext(q("spi")) == str(256 + 9999)
    filtered = agent.get_config(extra=f'<filter type="subtree"><mobile-ip xmlns="{NS}">'
                                      "<security><host><address>10.0.39.15</address>"
                                      "</host></security></mobile-ip></filter>")
    assert texts(filtered, "m:mobile-ip/m:security/m:host/m:spi") == [str(256 + 39 * 256 + 15)]


# -- get ------------------------------------------------------------------------------------


class CountingProvider:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return {
            "home-agent-state": {
                "binding": [{
                    "home-address": "10.0.0.5", "care-of-address": "192.0.2.7",
                    "flags": "simultaneous-bindings broadcast",
                    "identification": "18446744073709551615",  # uint64: a string in JSON
                    "lifetime-granted": 600,
                }],
                "counters": {"registration-accepted": 4},
            },
        }


def test_get_returns_configuration_and_live_state(agent: Agent) -> None:
    provider = CountingProvider()
    agent.datastore.register_provider(provider)
    agent.edit(subnet("10.3.0.0/16"))
    data = agent.rpc("<get/>")
    assert data is not None
    assert texts(data, "m:mobile-ip/m:subnet-map/m:prefix") == ["10.3.0.0/16"]
    binding = "m:mobile-ip/m:home-agent-state/m:binding/"
    assert texts(data, binding + "m:identification") == ["18446744073709551615"]
    assert texts(data, binding + "m:flags") == ["simultaneous-bindings broadcast"]
    assert texts(data, "m:mobile-ip/m:home-agent-state/m:counters/m:registration-accepted") == [
        "4"]
    # explicit: no defaults of the configuration; report-all: with them.
    assert texts(data, "m:mobile-ip/m:radius/m:timeout") == []
    data = agent.rpc(f"<get>{with_defaults('report-all')}</get>")
    assert data is not None and texts(data, "m:mobile-ip/m:radius/m:timeout") == ["3"]


def test_get_reads_live_state_only_when_the_filter_can_select_it(agent: Agent) -> None:
    provider = CountingProvider()
    agent.datastore.register_provider(provider)
    agent.edit(subnet("10.3.0.0/16"))
    data = agent.rpc(f'<get><filter type="subtree"><mobile-ip xmlns="{NS}"><subnet-map/>'
                     "</mobile-ip></filter></get>")
    assert data is not None and provider.calls == 0
    assert texts(data, "m:mobile-ip/m:subnet-map/m:prefix") == ["10.3.0.0/16"]
    data = agent.rpc(f'<get><filter type="subtree"><mobile-ip xmlns="{NS}"><home-agent-state>'
                     "<counters/></home-agent-state></mobile-ip></filter></get>")
    assert data is not None and provider.calls == 1
    assert [etree.QName(e).localname for e in data.iter() if len(e) == 0] == [
        "registration-accepted"]


def test_every_read_passes_through_one_method(agent: Agent) -> None:
    """NACM will prune there (RFC 8341 §3.4.5): get and get-config, any source."""
    seen: list[tuple[int, str | None]] = []

    class Pruning(Operations):
        def _readable(self, content: dict[str, Any], *, session: Any,
                      source: str | None) -> dict[str, Any]:
            seen.append((session.session_id, source))
            return {k: v for k, v in content.items() if k != "security"}

    operations = Pruning(agent.datastore)
    try:
        agent.edit(subnet("10.3.0.0/16") + "<security>" + host("10.1.0.5", 300) + "</security>")
        for body in ("<get/>", "<get-config><source><running/></source></get-config>",
                     "<get-config><source><candidate/></source></get-config>"):
            rpc = etree.fromstring(f'<rpc xmlns="{BASE_NS}" message-id="1">{body}</rpc>')
            data = operations(rpc[0], Session(7))
            assert data is not None
            assert data.find(f"{q('mobile-ip')}/{q('security')}") is None
            assert data.find(f"{q('mobile-ip')}/{q('subnet-map')}") is not None
        assert seen == [(7, None), (7, RUNNING), (7, CANDIDATE)]
    finally:
        operations.close()


# -- edit-config ----------------------------------------------------------------------------


def test_create_subnet_map_entry_and_data_exists_when_present(agent: Agent) -> None:
    agent.edit(subnet("10.0.0.0/8", attributes=' nc:operation="create"'))
    assert agent.member()["subnet-map"] == [{"prefix": "10.0.0.0/8", "home-agent": "192.0.2.1"}]
    error = agent.edit_error(subnet("10.0.0.0/8", "192.0.2.2", attributes=' nc:operation="create"'))
    assert_error(error, "data-exists",
                 path="/proxy-mobile-ip:mobile-ip/subnet-map[prefix='10.0.0.0/8']")
    assert agent.member()["subnet-map"][0]["home-agent"] == "192.0.2.1"


def test_delete_and_remove_of_subnet_map_entries(agent: Agent) -> None:
    agent.edit(subnet("10.0.0.0/8") + subnet("172.16.0.0/12"))
    agent.edit('<subnet-map nc:operation="delete"><prefix>10.0.0.0/8</prefix></subnet-map>')
    assert [e["prefix"] for e in agent.member()["subnet-map"]] == ["172.16.0.0/12"]
    error = agent.edit_error(
        '<subnet-map nc:operation="delete"><prefix>10.0.0.0/8</prefix></subnet-map>')
    assert_error(error, "data-missing",
                 path="/proxy-mobile-ip:mobile-ip/subnet-map[prefix='10.0.0.0/8']")
    # remove: the same, silent when absent (RFC 6241 §7.2).
    agent.edit('<subnet-map nc:operation="remove"><prefix>10.0.0.0/8</prefix></subnet-map>')
    agent.edit('<subnet-map nc:operation="remove"><prefix>172.16.0.0/12</prefix></subnet-map>')
    assert "subnet-map" not in agent.member()


def test_replace_of_a_host_entry_drops_what_is_not_given(agent: Agent) -> None:
    agent.edit("<security>" + host("10.1.0.5", 300, extra="<algorithm>keyed-md5-prefix-suffix"
                                   "</algorithm><replay-window>30</replay-window>")
               + host("10.1.0.6", 301) + "</security>")
    agent.edit("<security>" + host("10.1.0.5", 300, key="<key-ascii>new shared key</key-ascii>",
                                   attributes=' nc:operation="replace"') + "</security>")
    hosts = agent.member()["security"]["host"]
    assert hosts[0] == {"address": "10.1.0.5", "spi": 300, "key-ascii": "new shared key"}
    assert hosts[1]["key-hex"] == KEY_HEX
    # A merge of the same entry keeps what it does not name.
    agent.edit("<security>" + host("10.1.0.6", 301, key="",
                                   extra="<replay-window>11</replay-window>") + "</security>")
    assert agent.member()["security"]["host"][1] == {
        "address": "10.1.0.6", "spi": 301, "key-hex": KEY_HEX, "replay-window": 11}


def test_operations_on_security_host_entries(agent: Agent) -> None:
    agent.edit("<security>" + host("10.1.0.5", 300, attributes=' nc:operation="create"')
               + host("10.1.0.6", 301, attributes=' nc:operation="create"') + "</security>")
    error = agent.edit_error("<security>" + host("10.1.0.5", 300, attributes=' nc:operation='
                                                 '"create"') + "</security>")
    assert_error(error, "data-exists", path="/proxy-mobile-ip:mobile-ip/security/"
                                            "host[address='10.1.0.5'][spi='300']")
    agent.edit('<security><host nc:operation="delete"><address>10.1.0.5</address><spi>300</spi>'
               "</host></security>")
    assert [h["spi"] for h in agent.member()["security"]["host"]] == [301]
    # A leaf of an entry, deleted: the entry stays.
    agent.edit("<security>" + host("10.1.0.6", 301, key="",
                                   extra="<replay-window>11</replay-window>") + "</security>")
    agent.edit('<security><host><address>10.1.0.6</address><spi>301</spi>'
               '<replay-window nc:operation="delete"/></host></security>')
    assert agent.member()["security"]["host"] == [
        {"address": "10.1.0.6", "spi": 301, "key-hex": KEY_HEX}]
    error = agent.edit_error('<security><host><address>10.1.0.6</address><spi>301</spi>'
                             '<replay-window nc:operation="delete"/></host></security>')
    assert_error(error, "data-missing")
    # The key choice switched by replacing the entry's key leaf is refused by
    # validation only if both remain; a delete + merge in one request works.
    agent.edit('<security><host><address>10.1.0.6</address><spi>301</spi>'
               '<key-hex nc:operation="delete"/><key-ascii>s3cret-text</key-ascii>'
               "</host></security>")
    assert agent.member()["security"]["host"] == [
        {"address": "10.1.0.6", "spi": 301, "key-ascii": "s3cret-text"}]


def test_operation_is_inherited_by_descendants(agent: Agent) -> None:
    agent.edit(subnet("10.0.0.0/8") + "<security>" + host("10.1.0.5", 300) + "</security>")
    agent.edit('<security nc:operation="delete"/>')
    assert "security" not in agent.member()
    assert agent.member()["subnet-map"]
    # replace on a container: its content becomes exactly what is given.
    agent.edit("<security>" + host("10.1.0.5", 300) + host("10.1.0.6", 301) + "</security>")
    agent.edit('<security nc:operation="replace">' + host("10.1.0.7", 302) + "</security>")
    assert [h["spi"] for h in agent.member()["security"]["host"]] == [302]


def test_nested_operations_inside_a_replace(agent: Agent) -> None:
    agent.edit("<security>" + host("10.1.0.5", 300) + host("10.1.0.6", 301) + "</security>")
    agent.edit('<security nc:operation="replace">' + host("10.1.0.7", 302)
               + host("10.1.0.8", 303, attributes=' nc:operation="create"') + "</security>")
    assert [h["spi"] for h in agent.member()["security"]["host"]] == [302, 303]


def test_default_operation_replace_replaces_the_whole_configuration(agent: Agent) -> None:
    agent.edit(subnet("10.0.0.0/8") + "<security>" + host("10.1.0.5", 300) + "</security>")
    agent.edit(subnet("172.16.0.0/12"), options="<default-operation>replace</default-operation>")
    assert agent.member() == {"subnet-map": [{"prefix": "172.16.0.0/12",
                                              "home-agent": "192.0.2.1"}]}
    agent.rpc("<edit-config><target><running/></target><default-operation>replace"
              "</default-operation><config/></edit-config>")
    assert agent.member() == {}


def test_default_operation_none(agent: Agent) -> None:
    agent.edit(subnet("10.0.0.0/8") + "<security>" + host("10.1.0.5", 300) + "</security>")
    none = "<default-operation>none</default-operation>"
    # Leaves without an operation do nothing; the one with an operation acts.
    agent.edit("<security>" + host("10.1.0.5", 300, key="<key-hex>00</key-hex>",
                                   extra='<replay-window nc:operation="merge">12</replay-window>')
               + "</security>" + subnet("10.0.0.0/8", "192.0.2.99"), options=none)
    assert agent.member()["security"]["host"] == [
        {"address": "10.1.0.5", "spi": 300, "key-hex": KEY_HEX, "replay-window": 12}]
    assert agent.member()["subnet-map"][0]["home-agent"] == "192.0.2.1"
    # A create below "none" levels.
    agent.edit("<security>" + host("10.1.0.6", 301, attributes=' nc:operation="create"')
               + "</security>", options=none)
    assert len(agent.member()["security"]["host"]) == 2
    # A level that does not exist is data-missing (RFC 6241 §7.2).
    error = agent.edit_error(
        "<security><host><address>10.9.9.9</address><spi>999</spi>"
        '<replay-window nc:operation="merge">12</replay-window></host></security>',
        options=none)
    assert_error(error, "data-missing", path="/proxy-mobile-ip:mobile-ip/security/"
                                             "host[address='10.9.9.9'][spi='999']")
    error = agent.edit_error('<home-agent><max-lifetime nc:operation="merge">60</max-lifetime>'
                             "</home-agent>", options=none)
    assert_error(error, "data-missing", path="/proxy-mobile-ip:mobile-ip/home-agent")


def test_leaf_list_values_with_operations(agent: Agent) -> None:
    agent.edit("<foreign-agent><address>192.0.2.9</address>"
               "<care-of-address>192.0.2.9</care-of-address></foreign-agent>")

    def care_of() -> list[str]:
        values: list[str] = agent.member()["foreign-agent"].get("care-of-address", [])
        return values

    agent.edit('<foreign-agent><care-of-address nc:operation="create">192.0.2.10'
               "</care-of-address></foreign-agent>")
    assert care_of() == ["192.0.2.9", "192.0.2.10"]
    error = agent.edit_error('<foreign-agent><care-of-address nc:operation="create">192.0.2.10'
                             "</care-of-address></foreign-agent>")
    assert_error(error, "data-exists")
    agent.edit("<foreign-agent><care-of-address>192.0.2.11</care-of-address>"
               '<care-of-address nc:operation="delete">192.0.2.9</care-of-address>'
               "</foreign-agent>")
    assert care_of() == ["192.0.2.10", "192.0.2.11"]
    error = agent.edit_error('<foreign-agent><care-of-address nc:operation="delete">192.0.2.9'
                             "</care-of-address></foreign-agent>")
    assert_error(error, "data-missing")
    agent.edit('<foreign-agent><care-of-address nc:operation="remove">192.0.2.9'
               '</care-of-address><care-of-address nc:operation="remove">192.0.2.10'
               "</care-of-address></foreign-agent>")
    assert care_of() == ["192.0.2.11"]


def test_test_only_validates_and_changes_nothing(agent: Agent) -> None:
    agent.edit(subnet("10.0.0.0/8"))
    before = agent.member()
    test_only = "<test-option>test-only</test-option>"
    assert agent.edit(subnet("172.16.0.0/12") + "<security>" + host("10.1.0.5", 300)
                      + "</security>", options=test_only) is None
    assert agent.member() == before
    error = agent.edit_error("<home-agent><max-lifetime>60</max-lifetime></home-agent>",
                             options=test_only)
    assert_error(error, "missing-element", path="/proxy-mobile-ip:mobile-ip/home-agent/address")
    error = agent.edit_error(subnet("10.0.0.0/8", attributes=' nc:operation="create"'),
                             options=test_only)
    assert_error(error, "data-exists")
    assert agent.member() == before


def test_test_only_on_a_datastore_locked_by_another_session(agent: Agent) -> None:
    agent.rpc("<lock><target><running/></target></lock>", session=2)
    error = agent.edit_error(subnet("10.0.0.0/8"), session=1,
                             options="<test-option>test-only</test-option>")
    assert_error(error, "lock-denied", error_type="protocol", session_id="2")


@pytest.mark.parametrize("error_option", ["rollback-on-error", "stop-on-error",
                                          "continue-on-error"])
def test_a_failed_edit_changes_nothing_whatever_the_error_option(agent: Agent,
                                                                 error_option: str) -> None:
    agent.edit(subnet("10.0.0.0/8"))
    before = agent.member()
    error = agent.edit_error(
        subnet("172.16.0.0/12")
        + "<security>" + host("10.1.0.5", 300) + "</security>"
        + subnet("10.0.0.0/8", attributes=' nc:operation="create"'),
        options=f"<error-option>{error_option}</error-option>")
    assert_error(error, "data-exists")
    assert agent.member() == before


@pytest.mark.parametrize("test_option", ["test-then-set", "set"])
def test_set_options_validate_before_storing(agent: Agent, test_option: str) -> None:
    error = agent.edit_error(
        "<proxy><retransmit><initial>5</initial><maximum>1</maximum></retransmit></proxy>",
        options=f"<test-option>{test_option}</test-option>")
    # RFC 7950 §15.4: a must violation is operation-failed, with the must's error-app-tag.
    assert_error(error, "operation-failed", app_tag="retransmit-interval-inconsistent")
    assert agent.member() == {}
    agent.edit("<proxy><retransmit><initial>1</initial><maximum>5</maximum></retransmit></proxy>",
               options=f"<test-option>{test_option}</test-option>")
    assert agent.member()["proxy"]["retransmit"] == {"initial": "1.0", "maximum": "5.0"}


def test_bulk_create_of_many_entries(agent: Agent) -> None:
    entries = "".join(host(f"10.4.{i // 256}.{i % 256}", 256 + i,
                           attributes=' nc:operation="create"') for i in range(300))
    agent.edit("<security>" + entries + "</security>")
    assert len(agent.member()["security"]["host"]) == 300
    error = agent.edit_error("<security>" + entries.replace("10.4.", "10.5.", 299) + "</security>")
    assert_error(error, "data-exists", path="/proxy-mobile-ip:mobile-ip/security/"
                                            "host[address='10.4.1.43'][spi='555']")
    assert len(agent.member()["security"]["host"]) == 300


def test_edit_config_on_candidate_then_commit_or_discard(agent: Agent) -> None:
    agent.edit(subnet("10.0.0.0/8"), target="candidate")
    assert agent.member(RUNNING) == {}
    assert agent.rpc("<commit/>") is None
    assert agent.member(RUNNING)["subnet-map"]
    agent.edit('<subnet-map nc:operation="delete"><prefix>10.0.0.0/8</prefix></subnet-map>',
               target="candidate")
    assert "subnet-map" not in agent.member(CANDIDATE)
    assert agent.rpc("<discard-changes/>") is None
    assert agent.member(CANDIDATE)["subnet-map"]


# -- edit-config errors ---------------------------------------------------------------------


def test_unknown_element(agent: Agent) -> None:
    error = agent.edit_error("<security><hosts/></security>")
    assert_error(error, "unknown-element", path="/proxy-mobile-ip:mobile-ip/security",
                 bad_element="hosts")
    error = agent.error(
        f'<edit-config><target><running/></target><config><mobile-ipx xmlns="{NS}"/></config>'
        "</edit-config>")
    assert_error(error, "unknown-element", bad_element="mobile-ipx")


def test_unknown_namespace(agent: Agent) -> None:
    error = agent.edit_error('<security xmlns="urn:example:other"/>')
    assert_error(error, "unknown-namespace", bad_element="security",
                 bad_namespace="urn:example:other")
    # The NETCONF namespace is not the module's either (a common client slip).
    error = agent.error("<edit-config><target><running/></target><config><mobile-ip/></config>"
                        "</edit-config>")
    assert_error(error, "unknown-namespace", bad_element="mobile-ip", bad_namespace=BASE_NS)


def test_missing_key_is_missing_element(agent: Agent) -> None:
    error = agent.edit_error(f"<security><host><address>10.1.0.5</address>"
                             f"<key-hex>{KEY_HEX}</key-hex></host></security>")
    assert_error(error, "missing-element", bad_element="spi",
                 path="/proxy-mobile-ip:mobile-ip/security/host[address='10.1.0.5']")
    error = agent.edit_error("<subnet-map><home-agent>192.0.2.1</home-agent></subnet-map>")
    assert_error(error, "missing-element", bad_element="prefix")


def test_invalid_values_carry_the_error_path(agent: Agent) -> None:
    error = agent.edit_error("<security>" + host("10.1.0.5", "abc") + "</security>")
    assert_error(error, "invalid-value",
                 path="/proxy-mobile-ip:mobile-ip/security/host[address='10.1.0.5']/spi")
    error = agent.edit_error("<home-agent><address>192.0.2.1</address>"
                             "<max-lifetime>70000</max-lifetime></home-agent>")
    assert_error(error, "invalid-value", path="/proxy-mobile-ip:mobile-ip/home-agent/max-lifetime")
    error = agent.edit_error(subnet("10.0.0.0/33"))
    assert_error(error, "invalid-value")
    error = agent.edit_error("<security>" + host("10.1.0.5", 100) + "</security>")
    assert_error(error, "invalid-value")  # spi 0-255 are reserved (range 256..max)
    assert agent.member() == {}


def test_state_data_cannot_be_edited(agent: Agent) -> None:
    error = agent.edit_error("<home-agent-state><counters><registration-accepted>1"
                             "</registration-accepted></counters></home-agent-state>")
    assert_error(error, "invalid-value", path="/proxy-mobile-ip:mobile-ip/home-agent-state")


def test_bad_and_unknown_attributes(agent: Agent) -> None:
    error = agent.edit_error(subnet("10.0.0.0/8", attributes=' nc:operation="upsert"'))
    assert_error(error, "bad-attribute", bad_attribute="operation", bad_element="subnet-map")
    error = agent.edit_error(subnet("10.0.0.0/8", attributes=' operation="delete"'))
    assert_error(error, "unknown-attribute", bad_attribute="operation", bad_element="subnet-map")
    error = agent.edit_error('<subnet-map><prefix nc:operation="delete">10.0.0.0/8</prefix>'
                             "<home-agent>192.0.2.1</home-agent></subnet-map>")
    assert_error(error, "bad-attribute", bad_attribute="operation", bad_element="prefix")


def test_validation_errors_carry_the_app_tag(agent: Agent) -> None:
    error = agent.edit_error("<security>" + host("10.1.0.9", 300, extra="<last-address>10.1.0.1"
                                                 "</last-address>") + "</security>")
    assert_error(error, "operation-failed", app_tag="address-range-reversed")  # RFC 7950 §15.4


def test_edit_config_parameter_errors(agent: Agent) -> None:
    config = f'<config><mobile-ip xmlns="{NS}"/></config>'
    cases = [
        (f"<edit-config>{config}</edit-config>", "missing-element", {"bad_element": "target"}),
        ("<edit-config><target><running/></target></edit-config>", "missing-element",
         {"bad_element": "config"}),
        (f"<edit-config><target><startup/></target>{config}</edit-config>",
         "operation-not-supported", {}),
        (f"<edit-config><target><url>file:///tmp/x</url></target>{config}</edit-config>",
         "operation-not-supported", {"bad_element": "url"}),
        ("<edit-config><target><running/></target><url>file:///tmp/x</url></edit-config>",
         "operation-not-supported", {"bad_element": "url"}),
        ("<edit-config><target><running/></target><default-operation>upsert</default-operation>"
         + f"{config}</edit-config>", "invalid-value",
         {"bad_element": "default-operation"}),
        (f"<edit-config><target><running/></target><test-option>maybe</test-option>{config}"
         + "</edit-config>", "invalid-value", {"bad_element": "test-option"}),
        (f"<edit-config><target><running/></target><error-option>ignore</error-option>{config}"
         + "</edit-config>", "invalid-value", {"bad_element": "error-option"}),
        (f"<edit-config><target><running/><candidate/></target>{config}</edit-config>",
         "bad-element", {"bad_element": "target"}),
        (f"<edit-config><target/>{config}</edit-config>", "missing-element",
         {"bad_element": "target"}),
        (f"<edit-config><target><scratch/></target>{config}</edit-config>", "unknown-element",
         {"bad_element": "scratch"}),
    ]
    for body, tag, expected in cases:
        assert_error(agent.error(body), tag, error_type="protocol", **expected)


# -- key material is never quoted -------------------------------------------------------


def test_key_material_never_appears_in_an_error(agent: Agent) -> None:
    secret_hex = "zz:de:ad:be:ef:00:11:22:33:44:55:66:77:88:99:aa"
    secret_text = "S3cr3t-" + "x" * 70  # too long for key-ascii (1..64)
    secret_radius = "radius-shared-s3cret"
    requests = [
        "<security>" + host("10.1.0.5", 300, key=f"<key-hex>{secret_hex}</key-hex>") + "</security>",
        "<security>" + host("10.1.0.5", 300, key=f"<key-ascii>{secret_text}</key-ascii>")
        + "</security>",
        # A valid key in an entry that fails for another reason.
        "<security>" + host("10.1.0.5", 300, key=f"<key-hex>{KEY_HEX}</key-hex>",
                            extra="<replay-window>0</replay-window>") + "</security>",
        "<security>" + host("10.1.0.5", 300, key=f"<key-hex>{KEY_HEX}</key-hex><key-ascii>"
                                                 f"{secret_radius}</key-ascii>") + "</security>",
        (f"<radius><server><address>192.0.2.5</address><port>99999</port><shared-secret>"
         f"{secret_radius}</shared-secret></server></radius>"),
        (f"<radius><server><address>192.0.2.5</address><shared-secret>{secret_radius}"
         f"</shared-secret><bogus/></server></radius>"),
    ]
    for request in requests:
        for options in ("", "<test-option>test-only</test-option>"):
            error = agent.edit_error(request, options=options)
            wire = etree.tostring(error.to_xml()).decode()
            for secret in (secret_hex, secret_text, secret_radius, KEY_HEX, "S3cr3t"):
                assert secret not in wire, wire
                assert secret not in str(error)


# -- copy-config, delete-config, validate --------------------------------------------------


def test_copy_config_between_datastores_and_from_inline_config(agent: Agent) -> None:
    agent.edit(subnet("10.0.0.0/8"))
    assert agent.rpc("<copy-config><target><startup/></target><source><running/></source>"
                     "</copy-config>") is None
    assert agent.member(STARTUP) == agent.member(RUNNING)
    inline = (f'<config><mobile-ip xmlns="{NS}">{subnet("172.16.0.0/12")}'
              f"<security>{host('10.1.0.5', 300)}</security></mobile-ip></config>")
    agent.rpc(f"<copy-config><target><candidate/></target><source>{inline}</source>"
              "</copy-config>")
    assert agent.member(CANDIDATE)["security"]["host"][0]["spi"] == 300
    assert [e["prefix"] for e in agent.member(CANDIDATE)["subnet-map"]] == ["172.16.0.0/12"]
    agent.rpc("<copy-config><target><running/></target><source><candidate/></source>"
              "</copy-config>")
    assert agent.member(RUNNING) == agent.member(CANDIDATE)
    agent.rpc("<copy-config><target><running/></target><source><startup/></source>"
              "</copy-config>")
    assert agent.member(RUNNING) == agent.member(STARTUP)
    # An empty inline configuration empties the target.
    agent.rpc("<copy-config><target><candidate/></target><source><config/></source>"
              "</copy-config>")
    assert agent.member(CANDIDATE) == {}


def test_copy_config_errors(agent: Agent) -> None:
    assert_error(agent.error("<copy-config><target><running/></target><source><running/>"
                             "</source></copy-config>"), "invalid-value", error_type="protocol")
    assert_error(agent.error("<copy-config><target><url>file:///x</url></target><source>"
                             "<running/></source></copy-config>"), "operation-not-supported",
                 error_type="protocol")
    assert_error(agent.error("<copy-config><target><startup/></target><source>"
                             "<url>file:///x</url></source></copy-config>"),
                 "operation-not-supported", error_type="protocol")
    # Inline data is checked as strictly as an edit, and operations make no sense.
    error = agent.error(f'<copy-config><target><candidate/></target><source><config><mobile-ip '
                        f'xmlns="{NS}"><bogus/></mobile-ip></config></source></copy-config>')
    assert_error(error, "unknown-element", bad_element="bogus")
    created = subnet("10.0.0.0/8", attributes=' nc:operation="create"')
    error = agent.error(f'<copy-config><target><candidate/></target><source><config><mobile-ip '
                        f'xmlns="{NS}">{created}</mobile-ip></config></source></copy-config>')
    assert_error(error, "unknown-attribute", bad_attribute="operation")
    error = agent.error(f'<copy-config><target><candidate/></target><source><config><mobile-ip '
                        f'xmlns="{NS}"><home-agent/></mobile-ip></config></source></copy-config>')
    assert_error(error, "missing-element")
    assert agent.member(CANDIDATE) == {}


def test_delete_config(agent: Agent) -> None:
    agent.edit(subnet("10.0.0.0/8"))
    agent.rpc("<copy-config><target><startup/></target><source><running/></source>"
              "</copy-config>")
    assert agent.rpc("<delete-config><target><startup/></target></delete-config>") is None
    assert agent.member(STARTUP) == {}
    error = agent.error("<delete-config><target><running/></target></delete-config>")
    assert_error(error, "operation-not-supported")
    assert agent.member(RUNNING)["subnet-map"]
    error = agent.error("<delete-config><target><url>file:///x</url></target></delete-config>")
    assert_error(error, "operation-not-supported", error_type="protocol")


def test_validate(agent: Agent) -> None:
    agent.edit(subnet("10.0.0.0/8"), target="candidate")
    for source in ("running", "candidate", "startup"):
        assert agent.rpc(f"<validate><source><{source}/></source></validate>") is None
    valid = f'<config><mobile-ip xmlns="{NS}">{subnet("10.0.0.0/8")}</mobile-ip></config>'
    assert agent.rpc(f"<validate><source>{valid}</source></validate>") is None
    invalid = (f'<config><mobile-ip xmlns="{NS}"><proxy><retransmit><initial>5</initial>'
               "<maximum>1</maximum></retransmit></proxy></mobile-ip></config>")
    error = agent.error(f"<validate><source>{invalid}</source></validate>")
    assert_error(error, "operation-failed", app_tag="retransmit-interval-inconsistent")  # §15.4
    error = agent.error("<validate><source><url>file:///x</url></source></validate>")
    assert_error(error, "operation-not-supported", error_type="protocol")
    assert agent.member(RUNNING) == {}


# -- locks ------------------------------------------------------------------------------------


def test_lock_denied_names_the_holder(agent: Agent) -> None:
    for target in ("running", "candidate", "startup"):
        assert agent.rpc(f"<lock><target><{target}/></target></lock>", session=3) is None
        error = agent.error(f"<lock><target><{target}/></target></lock>", session=4)
        assert_error(error, "lock-denied", error_type="protocol", session_id="3")
        # On the wire: <error-info><session-id>3</session-id></error-info>.
        wire = error.to_xml()
        assert wire.findtext(f"{{{BASE_NS}}}error-info/{{{BASE_NS}}}session-id") == "3"
    # The holder may write; another session may not.
    agent.edit(subnet("10.0.0.0/8"), session=3)
    error = agent.edit_error(subnet("10.1.0.0/16"), session=4)
    assert_error(error, "lock-denied", error_type="protocol", session_id="3")
    assert [e["prefix"] for e in agent.member()["subnet-map"]] == ["10.0.0.0/8"]
    error = agent.error("<unlock><target><running/></target></unlock>", session=4)
    assert_error(error, "operation-failed")
    for target in ("running", "candidate", "startup"):
        assert agent.rpc(f"<unlock><target><{target}/></target></unlock>", session=3) is None
    agent.edit(subnet("10.1.0.0/16"), session=4)


# -- get-schema ------------------------------------------------------------------------------


def get_schema(params: str) -> str:
    return f'<get-schema xmlns="{MONITORING_NS}">{params}</get-schema>'


def test_get_schema_returns_the_exact_yang_text(agent: Agent) -> None:
    revision = re.search(r"^\s*revision (\d{4}-\d{2}-\d{2})", YANG_FILE.read_text(), re.MULTILINE)
    assert revision is not None
    for params in ("<identifier>proxy-mobile-ip</identifier>",
                   (f"<identifier>proxy-mobile-ip</identifier><version>{revision.group(1)}"
                    "</version><format>yang</format>"),
                   ('<identifier>proxy-mobile-ip</identifier><format xmlns:ncm="'
                    f'{MONITORING_NS}">ncm:yang</format>')):
        data = agent.rpc(get_schema(params))
        assert data is not None
        assert data.tag == f"{{{MONITORING_NS}}}data"
        assert data.text == YANG_FILE.read_text(encoding="utf-8")


def test_get_schema_errors(agent: Agent) -> None:
    # Every module of the YANG library is served (RFC 8525); others are not.
    assert_error(agent.error(get_schema("<identifier>ietf-interfaces</identifier>")),
                 "invalid-value", bad_element="identifier")
    assert_error(agent.error(get_schema("<identifier>proxy-mobile-ip</identifier>"
                                        "<version>1999-01-01</version>")),
                 "invalid-value", bad_element="version")
    assert_error(agent.error(get_schema("<identifier>proxy-mobile-ip</identifier>"
                                        "<format>yin</format>")),
                 "invalid-value", bad_element="format")
    assert_error(agent.error(get_schema("")), "missing-element", error_type="protocol",
                 bad_element="identifier")


# -- the module's RPCs -----------------------------------------------------------------------


@pytest.fixture
def rpc_agent() -> Iterator[tuple[Agent, list[tuple[str, dict[str, Any]]]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def recorder(name: str, output: dict[str, Any] | None) -> Any:
        def handler(rpc_input: dict[str, Any]) -> dict[str, Any] | None:
            calls.append((name, rpc_input))
            return output
        return handler

    def failing(rpc_input: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError(f"engine exploded with key {KEY_HEX}")

    datastore = Datastore()
    operations = Operations(datastore, rpc_handlers={
        "clear-binding": recorder("clear-binding", {"cleared": 3}),
        "clear-counters": recorder("clear-counters", None),
        "inject-client-event": recorder("inject-client-event", {}),
        "clear-visitor": failing,
    })
    yield Agent(datastore, operations), calls
    operations.close()
    datastore.close()


def test_module_rpc_input_and_output(rpc_agent: tuple[Agent, list[Any]]) -> None:
    agent, calls = rpc_agent
    reply = agent.rpc(f'<clear-binding xmlns="{NS}"><home-address>10.0.0.5</home-address>'
                      "</clear-binding>")
    assert reply is not None and reply.tag == q("cleared") and reply.text == "3"
    assert calls[-1] == ("clear-binding", {"home-address": "10.0.0.5"})
    # No output: <ok/>; the input's defaults are filled in (RFC 7950 §7.14.2).
    assert agent.rpc(f'<clear-counters xmlns="{NS}"/>') is None
    assert calls[-1] == ("clear-counters", {"role": "all"})
    assert agent.rpc(f'<inject-client-event xmlns="{NS}"><event>associated</event>'
                     "<mac>00:11:22:33:44:55</mac><interface>wlan0</interface>"
                     "</inject-client-event>") is None
    assert calls[-1] == ("inject-client-event", {"event": "associated",
                                                 "mac": "00:11:22:33:44:55",
                                                 "interface": "wlan0"})


def test_module_rpc_errors(rpc_agent: tuple[Agent, list[Any]]) -> None:
    agent, calls = rpc_agent
    error = agent.error(f'<clear-binding xmlns="{NS}"><home-address>10.0.0.x</home-address>'
                        "</clear-binding>")
    assert_error(error, "invalid-value", path="/proxy-mobile-ip:clear-binding/home-address")
    error = agent.error(f'<clear-binding xmlns="{NS}"><bogus/></clear-binding>')
    assert_error(error, "unknown-element", bad_element="bogus")
    error = agent.error(f'<inject-client-event xmlns="{NS}"><event>address-learned</event>'
                        "<mac>00:11:22:33:44:55</mac></inject-client-event>")
    assert_error(error, "operation-failed", app_tag="client-address-required")  # RFC 7950 §15.4
    error = agent.error(f'<inject-client-event xmlns="{NS}"><event>associated</event>'
                        "</inject-client-event>")
    assert_error(error, "missing-element", bad_element="mac")
    error = agent.error(f'<clear-visitor xmlns="{NS}"/>')
    # RFC 7950 §15.6: data-missing, missing-choice, <missing-choice> names the choice.
    assert_error(error, "data-missing", app_tag="missing-choice")
    assert [(e.tag, e.text) for e in error.info_elements] == [
        ("{urn:ietf:params:xml:ns:yang:1}missing-choice", "visitor")]
    assert calls == []
    error = agent.error(f'<clear-visitor xmlns="{NS}"><mac>00:11:22:33:44:55</mac>'
                        "</clear-visitor>")
    assert_error(error, "operation-failed")
    assert KEY_HEX not in str(error) and KEY_HEX not in etree.tostring(error.to_xml()).decode()


def test_unknown_operations_are_not_supported(agent: Agent) -> None:
    # No handler registered for a module RPC.
    assert_error(agent.error(f'<clear-binding xmlns="{NS}"/>'), "operation-not-supported",
                 error_type="protocol", bad_element="clear-binding")
    # Not an RPC of the module, of NETCONF, or of any namespace we know.
    for body in (f'<reboot xmlns="{NS}"/>', "<frobnicate/>", '<get xmlns="urn:example:x"/>',
                 "<commit><confirmed/></commit>"):
        error = agent.error(body)
        assert error.tag in ("operation-not-supported", "unknown-element"), body
        assert error.error_type == "protocol"


def test_parameter_errors_of_reads(agent: Agent) -> None:
    assert_error(agent.error("<get-config/>"), "missing-element", error_type="protocol",
                 bad_element="source")
    assert_error(agent.error("<get-config><source><running/></source><bogus/></get-config>"),
                 "unknown-element", error_type="protocol", bad_element="bogus")
    assert_error(agent.error('<get-config><source><running/></source><x:bogus xmlns:x="urn:x"/>'
                             "</get-config>"),
                 "unknown-namespace", error_type="protocol", bad_element="bogus",
                 bad_namespace="urn:x")
    # RFC 6241 §8.9.1: an XPath naming an undeclared prefix is invalid-value.
    assert_error(agent.error('<get><filter type="xpath" select="/m:mobile-ip"/></get>'),
                 "invalid-value", error_type="protocol", bad_element="filter",
                 bad_attribute="select")
    assert_error(agent.error('<get><filter type="regex" select="x"/></get>'),
                 "operation-not-supported", error_type="protocol")
    assert_error(agent.error("<get-config><source><url>file:///x</url></source></get-config>"),
                 "operation-not-supported", error_type="protocol")
    assert_error(agent.error("<commit><confirmed/></commit>"), "unknown-element",
                 error_type="protocol", bad_element="confirmed")


def test_an_entry_given_twice_is_refused(agent: Agent) -> None:
    # 10.1.2.3/8 is 10.0.0.0/8 once canonical (libyang's ipv4-prefix).
    for twice in (subnet("10.0.0.0/8") + subnet("10.0.0.0/8", "192.0.2.2"),
                  subnet("10.0.0.0/8") + subnet("10.1.2.3/8", "192.0.2.2"),
                  subnet("10.0.0.0/8", attributes=' nc:operation="create"')
                  + subnet("10.0.0.0/8", attributes=' nc:operation="replace"')):
        error = agent.edit_error(twice)
        assert_error(error, "data-exists", bad_element="subnet-map")
        if "operation" in twice:
            continue  # no operations in copy-config
        error = agent.error(f'<copy-config><target><candidate/></target><source><config>'
                            f'<mobile-ip xmlns="{NS}">{twice}</mobile-ip></config></source>'
                            "</copy-config>")
        assert_error(error, "data-exists", bad_element="subnet-map")
    assert agent.member(RUNNING) == {} and agent.member(CANDIDATE) == {}


def test_operations_on_the_top_container_and_presence_containers(agent: Agent) -> None:
    agent.edit(subnet("10.0.0.0/8") + "<home-agent><address>192.0.2.1</address></home-agent>")
    error = agent.edit_error('<home-agent nc:operation="create"><address>192.0.2.2</address>'
                             "</home-agent>")
    assert_error(error, "data-exists", path="/proxy-mobile-ip:mobile-ip/home-agent")
    agent.rpc(f'<edit-config><target><running/></target><config><mobile-ip xmlns="{NS}" '
              f'nc:operation="replace">{subnet("172.16.0.0/12")}</mobile-ip></config>'
              "</edit-config>")
    assert agent.member() == {"subnet-map": [{"prefix": "172.16.0.0/12",
                                              "home-agent": "192.0.2.1"}]}
    delete = (f'<edit-config><target><running/></target><config><mobile-ip xmlns="{NS}" '
              'nc:operation="delete"/></config></edit-config>')
    agent.rpc(delete)
    assert agent.member() == {}
    assert_error(agent.error(delete), "data-missing", path="/proxy-mobile-ip:mobile-ip")
    agent.rpc(delete.replace('"delete"', '"remove"'))


def test_malformed_leaf_and_container_content(agent: Agent) -> None:
    error = agent.edit_error("<home-agent><address>192.0.2.1</address><max-lifetime>60<x/>"
                             "</max-lifetime></home-agent>")
    assert_error(error, "invalid-value", bad_element="max-lifetime",
                 path="/proxy-mobile-ip:mobile-ip/home-agent/max-lifetime")
    error = agent.edit_error("<home-agent>text<address>192.0.2.1</address></home-agent>")
    assert_error(error, "invalid-value")
    assert agent.member() == {}


# -- value types through libyang ---------------------------------------------------------


PROBE = """
    container type-probe {
      description "Test only: one leaf of each type the module does not configure yet.";
      leaf big { type uint64; }
      leaf flags { type registration-flags; }
      leaf marker { type empty; }
      leaf ratio { type decimal64 { fraction-digits 2; } }
      leaf small { type int8; }
      leaf kind { type identityref { base probe-kind; } }
    }
"""


def test_every_value_type_converts_both_ways(tmp_path: Path) -> None:
    """XML -> RFC 7951 JSON -> XML for the types the module's configuration
    does not use yet (uint64, bits, empty, identityref), on a copy of the
    module with one more container."""
    import shutil

    from agent.netconf.editconfig import ConfigReader
    from agent.netconf.xmldata import DataCodec

    text = YANG_FILE.read_text(encoding="utf-8")
    anchor = "  container mobile-ip {\n"
    assert anchor in text
    text = text.replace(anchor, "  identity probe-kind;\n  identity probe-a { base probe-kind; }\n\n"
                        + anchor + PROBE, 1)
    (tmp_path / "proxy-mobile-ip.yang").write_text(text, encoding="utf-8")
    shutil.copytree(YANG_FILE.parent / "ietf", tmp_path / "ietf")
    codec = DataCodec(tmp_path)
    try:
        config = etree.fromstring(
            f'<config xmlns="{BASE_NS}"><mobile-ip xmlns="{NS}"><type-probe>'
            "<big>18446744073709551615</big><flags>broadcast simultaneous-bindings</flags>"
            f'<marker/><ratio>2.50</ratio><small>-3</small><kind xmlns:p="{NS}">p:probe-a</kind>'
            "</type-probe></mobile-ip></config>")
        document = ConfigReader(codec).read_content(config)
        assert document[TOP_MEMBER]["type-probe"] == {
            "big": "18446744073709551615",  # RFC 7951 §6.1: 64-bit integers are strings
            "flags": "simultaneous-bindings broadcast",  # bits in position order (§6.5)
            "marker": [None],  # §6.9
            "ratio": "2.5",  # decimal64 is a string, canonical
            "small": -3,
            "kind": "proxy-mobile-ip:probe-a",  # §6.8: module-qualified
        }
        data = codec.to_data(document)
        probe = data.find(f"{q('mobile-ip')}/{q('type-probe')}")
        assert probe is not None
        values = {etree.QName(e).localname: e.text for e in probe}
        assert values["big"] == "18446744073709551615"
        assert values["flags"] == "simultaneous-bindings broadcast"
        assert values["marker"] is None
        prefix, _, name = (values["kind"] or "").partition(":")
        assert name == "probe-a" and probe.find(q("kind")).nsmap[prefix] == NS  # type: ignore[union-attr]
        bad = etree.fromstring(f'<config xmlns="{BASE_NS}"><mobile-ip xmlns="{NS}"><type-probe>'
                               "<small>300</small></type-probe></mobile-ip></config>")
        with pytest.raises(RpcError) as caught:
            ConfigReader(codec).read_content(bad)
        assert_error(caught.value, "invalid-value",
                     path="/proxy-mobile-ip:mobile-ip/type-probe/small")
    finally:
        codec.close()


def test_a_handler_output_that_breaks_the_module_is_operation_failed(agent: Agent) -> None:
    for output in (None, {"cleared": "many"}, {"removed": 1}):
        operations = Operations(agent.datastore,
                                rpc_handlers={"clear-binding": lambda _input, o=output: o})
        try:
            rpc = etree.fromstring(f'<rpc xmlns="{BASE_NS}" message-id="1">'
                                   f'<clear-binding xmlns="{NS}"/></rpc>')
            with pytest.raises(RpcError) as caught:
                operations(rpc[0], Session())
            assert_error(caught.value, "operation-failed")
        finally:
            operations.close()
