"""Subtree filtering (RFC 6241 §6, ``agent/netconf/subtree.py``).

Every example of RFC 6241 §6.4 is translated to this module's data: the
RFC's ``<top><users><user>`` becomes ``<mobile-ip><security><host>``, the
user's ``<name>`` the host's keys (``address`` and ``spi``), ``<type>`` the
``algorithm``, ``<full-name>`` the ``replay-method``, and the nested
``<company-info>`` container a container of the module that nests
(``foreign-agent/advertisement``). The examples run through ``<get-config>``
on a real datastore; the rules of §6.2 that need other shapes of data
(namespaces, leaf-lists, sibling sets) are also checked on hand-made XML.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from lxml import etree

from agent.schema.context import TOP_MEMBER
from agent.datastore.store import RUNNING, Datastore
from agent.netconf.errors import BASE_NS
from agent.netconf.operations import Operations
from agent.netconf.subtree import apply_filter, wanted_members

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
KEY = "a1:b2:c3:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f:90"

CONFIG = {
    "security": {
        "host": [
            {"address": "10.0.0.1", "spi": 300, "key-hex": KEY, "algorithm": "hmac-md5",
             "replay-method": "timestamps", "replay-window": 7},
            {"address": "10.0.0.1", "spi": 301, "key-hex": KEY,
             "algorithm": "keyed-md5-prefix-suffix", "replay-method": "nonces"},
            {"address": "10.0.0.2", "spi": 400, "key-ascii": "fred's key",
             "algorithm": "hmac-md5", "replay-window": 30},
            {"address": "10.0.0.3", "spi": 500, "key-hex": KEY, "algorithm": "hmac-md5"},
        ],
        "peer": [{"address": "192.0.2.1", "spi": 1000, "key-hex": KEY}],
    },
    "subnet-map": [
        {"prefix": "10.0.0.0/8", "home-agent": "192.0.2.1"},
        {"prefix": "172.16.0.0/12", "home-agent": "192.0.2.2"},
    ],
    "foreign-agent": {
        "address": "192.0.2.9",
        "care-of-address": ["192.0.2.9", "192.0.2.10"],
        "advertisement": {"enabled": True, "interval": "1.0", "lifetime": 9000},
    },
    "netconf-server": {
        "user": [
            {"name": "admin", "authorized-key": ["ssh-ed25519 AAAA admin@a", "ssh-ed25519 BBBB"]},
            {"name": "fred", "authorized-key": ["ssh-ed25519 CCCC fred@b"]},
        ],
    },
}


@dataclass(frozen=True)
class Session:
    session_id: int = 1
    username: str | None = "admin"


@pytest.fixture(scope="module")
def operations() -> Iterator[Operations]:
    datastore = Datastore()
    datastore.replace_config(RUNNING, {TOP_MEMBER: CONFIG})
    operations = Operations(datastore)
    yield operations
    operations.close()
    datastore.close()


def get_config(operations: Operations, filter_xml: str | None) -> etree._Element:
    body = "<get-config><source><running/></source>" + (filter_xml or "") + "</get-config>"
    rpc = etree.fromstring(f'<rpc xmlns="{BASE_NS}" message-id="1">{body}</rpc>')
    data = operations(rpc[0], Session())
    assert data is not None and data.tag == f"{{{BASE_NS}}}data"
    return data


def subtree(content: str) -> str:
    return f'<filter type="subtree">{content}</filter>'


def outline(element: etree._Element) -> object:
    """The reply as nested (name, value-or-children) tuples, namespaces
    checked: everything under <data> is in the module's namespace."""
    children = [c for c in element if isinstance(c.tag, str)]
    name = etree.QName(element).localname
    if element.tag != f"{{{BASE_NS}}}data":
        assert etree.QName(element).namespace == NS, element.tag
    if not children:
        return (name, (element.text or "").strip())
    return (name, [outline(c) for c in children])


def hosts(data: etree._Element) -> list[tuple[str, str]]:
    return [(h.findtext(f"{{{NS}}}address") or "", h.findtext(f"{{{NS}}}spi") or "")
            for h in data.iter(f"{{{NS}}}host")]


# -- RFC 6241 §6.4 ---------------------------------------------------------------------


def test_6_4_1_no_filter_returns_everything(operations: Operations) -> None:
    data = get_config(operations, None)
    (top,) = data
    assert [etree.QName(c).localname for c in top] == [
        "foreign-agent", "subnet-map", "subnet-map", "netconf-server", "security"]
    assert len(hosts(data)) == 4


def test_6_4_2_empty_filter_selects_nothing(operations: Operations) -> None:
    for empty in ('<filter type="subtree"/>', '<filter type="subtree">  </filter>',
                  "<filter/>", '<filter type="subtree"><!-- nothing --></filter>'):
        assert outline(get_config(operations, empty)) == ("data", "")


def test_6_4_3_select_the_entire_security_subtree(operations: Operations) -> None:
    data = get_config(operations, subtree(f'<mobile-ip xmlns="{NS}"><security/></mobile-ip>'))
    (top,) = data
    (security,) = top
    assert etree.QName(security).localname == "security"
    assert len(hosts(data)) == 4
    assert len(security.findall(f"{{{NS}}}peer")) == 1
    # Whole entries, every leaf.
    first = security.find(f"{{{NS}}}host")
    assert [etree.QName(c).localname for c in first] == [
        "address", "spi", "key-hex", "algorithm", "replay-method", "replay-window"]


def test_6_4_4_select_all_address_elements_within_host(operations: Operations) -> None:
    data = get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><security><host><address/></host></security></mobile-ip>'))
    # The RFC's <name> is the whole key; here the key is (address, spi), and
    # a selected entry keeps all its keys.
    assert outline(data) == ("data", [("mobile-ip", [("security", [
        ("host", [("address", "10.0.0.1"), ("spi", "300")]),
        ("host", [("address", "10.0.0.1"), ("spi", "301")]),
        ("host", [("address", "10.0.0.2"), ("spi", "400")]),
        ("host", [("address", "10.0.0.3"), ("spi", "500")]),
    ])])])


def test_6_4_5_one_specific_host_entry(operations: Operations) -> None:
    data = get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><security><host><address>10.0.0.2</address><spi>400</spi>'
        "</host></security></mobile-ip>"))
    # Content match nodes only: the whole entry (§6.2.5).
    assert outline(data) == ("data", [("mobile-ip", [("security", [
        ("host", [("address", "10.0.0.2"), ("spi", "400"), ("key-ascii", "fred's key"),
                  ("algorithm", "hmac-md5"), ("replay-window", "30")]),
    ])])])
    # Part of the key: every entry that matches it.
    data = get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><security><host><address>10.0.0.1</address></host>'
        "</security></mobile-ip>"))
    assert hosts(data) == [("10.0.0.1", "300"), ("10.0.0.1", "301")]


def test_6_4_6_specific_elements_from_a_specific_entry(operations: Operations) -> None:
    data = get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><security><host><address>10.0.0.2</address><spi>400</spi>'
        "<algorithm/><replay-method/></host></security></mobile-ip>"))
    # replay-method is not set on that entry (explicit mode): nothing to select.
    assert outline(data) == ("data", [("mobile-ip", [("security", [
        ("host", [("address", "10.0.0.2"), ("spi", "400"), ("algorithm", "hmac-md5")]),
    ])])])


def test_6_4_7_multiple_subtrees(operations: Operations) -> None:
    data = get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><security>'
        "<host><address>10.0.0.1</address><spi>300</spi><replay-window/></host>"
        "<host><address>10.0.0.2</address><spi>400</spi><replay-window/></host>"
        # The RFC's "barney" whose <type> does not match: left out.
        "<host><address>10.0.0.3</address><spi>500</spi>"
        "<algorithm>keyed-md5-prefix-suffix</algorithm><replay-method/></host>"
        "</security>"
        # The RFC's <company-info><id/></company-info>: a nested containment node.
        "<foreign-agent><advertisement><lifetime/></advertisement></foreign-agent>"
        "</mobile-ip>"))
    assert outline(data) == ("data", [("mobile-ip", [
        ("foreign-agent", [("advertisement", [("lifetime", "9000")])]),
        ("security", [
            ("host", [("address", "10.0.0.1"), ("spi", "300"), ("replay-window", "7")]),
            ("host", [("address", "10.0.0.2"), ("spi", "400"), ("replay-window", "30")]),
        ]),
    ])])


def test_6_4_8_attributes_in_the_filter_are_not_matched(operations: Operations) -> None:
    """Attribute match expressions (§6.2.2, example §6.4.8) are optional and
    not supported: the attribute is ignored, so the filter selects more."""
    data = get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><subnet-map prefix="10.0.0.0/8"/></mobile-ip>'))
    assert [p.text for p in data.iter(f"{{{NS}}}prefix")] == ["10.0.0.0/8", "172.16.0.0/12"]


# -- the rules of §6.2 on the module's data -------------------------------------------------


def test_namespace_selection(operations: Operations) -> None:
    # Another namespace selects nothing; no namespace (xmlns="") matches any (§6.2.1).
    assert len(get_config(operations, subtree(
        '<mobile-ip xmlns="urn:example:other"><security/></mobile-ip>'))) == 0
    data = get_config(operations, subtree('<mobile-ip xmlns=""><subnet-map/></mobile-ip>'))
    assert [p.text for p in data.iter(f"{{{NS}}}prefix")] == ["10.0.0.0/8", "172.16.0.0/12"]
    # A prefixed filter is the same filter.
    data = get_config(operations, subtree(
        f'<m:mobile-ip xmlns:m="{NS}"><m:subnet-map><m:prefix>172.16.0.0/12</m:prefix>'
        "</m:subnet-map></m:mobile-ip>"))
    assert [p.text for p in data.iter(f"{{{NS}}}home-agent")] == ["192.0.2.2"]
    # Children of a namespaced node inherit its namespace; the wrong one fails.
    assert len(get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><subnet-map xmlns="urn:example:other"/></mobile-ip>'))) == 0


def test_a_false_content_match_spoils_its_sibling_set(operations: Operations) -> None:
    data = get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><security><host><algorithm>keyed-md5-prefix-suffix'
        "</algorithm><replay-method/></host></security></mobile-ip>"))
    assert outline(data) == ("data", [("mobile-ip", [("security", [
        ("host", [("address", "10.0.0.1"), ("spi", "301"),
                  ("algorithm", "keyed-md5-prefix-suffix"), ("replay-method", "nonces")]),
    ])])])
    # A content match on a leaf that is not there.
    assert len(get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><security><host><last-address>10.0.0.9</last-address>'
        "</host></security></mobile-ip>"))) == 0


def test_containment_node_that_selects_nothing_is_left_out(operations: Operations) -> None:
    assert len(get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><home-agent/><proxy><listen/></proxy></mobile-ip>'))) == 0
    data = get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><proxy/><subnet-map><prefix>10.0.0.0/8</prefix></subnet-map>'
        "</mobile-ip>"))
    assert [etree.QName(e).localname for e in data[0]] == ["subnet-map"]


def test_content_match_on_a_leaf_list_value(operations: Operations) -> None:
    data = get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><netconf-server><user><authorized-key>ssh-ed25519 CCCC fred@b'
        "</authorized-key></user></netconf-server></mobile-ip>"))
    assert [n.text for n in data.iter(f"{{{NS}}}name")] == ["fred"]
    data = get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><foreign-agent><care-of-address>192.0.2.10</care-of-address>'
        "<address/></foreign-agent></mobile-ip>"))
    # The content match node and the selection node of the set, nothing else.
    assert outline(data) == ("data", [("mobile-ip", [("foreign-agent", [
        ("address", "192.0.2.9"), ("care-of-address", "192.0.2.10")])])])


def test_two_filters_for_one_entry_select_the_union(operations: Operations) -> None:
    data = get_config(operations, subtree(
        f'<mobile-ip xmlns="{NS}"><security>'
        "<host><address>10.0.0.1</address><spi>300</spi><algorithm/></host>"
        "<host><address>10.0.0.1</address><spi>300</spi><replay-window/></host>"
        "</security></mobile-ip>"))
    assert outline(data) == ("data", [("mobile-ip", [("security", [
        ("host", [("address", "10.0.0.1"), ("spi", "300"), ("algorithm", "hmac-md5"),
                  ("replay-window", "7")]),
    ])])])


def test_filter_on_get_with_defaults(operations: Operations) -> None:
    filter_xml = subtree(f'<mobile-ip xmlns="{NS}"><radius><timeout/></radius></mobile-ip>')
    mode = ('<with-defaults xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults">'
            "report-all</with-defaults>")
    rpc = etree.fromstring(f'<rpc xmlns="{BASE_NS}" message-id="1"><get>{filter_xml}{mode}'
                           "</get></rpc>")
    data = operations(rpc[0], Session())
    assert data is not None
    assert outline(data) == ("data", [("mobile-ip", [("radius", [("timeout", "3")])])])


# -- the filter engine on hand-made data -------------------------------------------------


def keys_of(names: tuple[str, ...]) -> tuple[str, ...]:
    return {("top", "users", "user"): ("name",)}.get(names, ())


RFC_DATA = """
<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
  <top xmlns="http://example.com/schema/1.2/config">
    <users>
      <user><name>root</name><type>superuser</type><full-name>Charlie Root</full-name>
        <company-info><dept>1</dept><id>1</id></company-info></user>
      <user><name>fred</name><type>admin</type><full-name>Fred Flintstone</full-name>
        <company-info><dept>2</dept><id>2</id></company-info></user>
      <user><name>barney</name><type>admin</type><full-name>Barney Rubble</full-name>
        <company-info><dept>2</dept><id>3</id></company-info></user>
    </users>
  </top>
  <other xmlns="urn:example:other"><users/></other>
</data>"""


def filtered(filter_body: str) -> object:
    data = etree.fromstring(RFC_DATA, etree.XMLParser(remove_blank_text=True))
    filter_element = etree.fromstring(
        f'<filter xmlns="{BASE_NS}" type="subtree">{filter_body}</filter>')
    return outline_any(apply_filter(data, filter_element, keys_of=keys_of))


def outline_any(element: etree._Element) -> object:
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        return (etree.QName(element).localname, (element.text or "").strip())
    return (etree.QName(element).localname, [outline_any(c) for c in children])


EX = 'xmlns="http://example.com/schema/1.2/config"'


def test_rfc_6_4_7_verbatim() -> None:
    assert filtered(
        f"<top {EX}><users>"
        "<user><name>root</name><company-info><id/></company-info></user>"
        "<user><name>fred</name><company-info><id/></company-info></user>"
        "<user><name>barney</name><type>superuser</type><company-info><type/></company-info>"
        "</user></users></top>") == ("data", [("top", [("users", [
            ("user", [("name", "root"), ("company-info", [("id", "1")])]),
            ("user", [("name", "fred"), ("company-info", [("id", "2")])]),
        ])])])


def test_rfc_6_4_4_and_6_4_6_verbatim() -> None:
    assert filtered(f"<top {EX}><users><user><name/></user></users></top>") == (
        "data", [("top", [("users", [("user", [("name", "root")]), ("user", [("name", "fred")]),
                                     ("user", [("name", "barney")])])])])
    assert filtered(f"<top {EX}><users><user><name>fred</name><type/><full-name/></user>"
                    "</users></top>") == (
        "data", [("top", [("users", [("user", [("name", "fred"), ("type", "admin"),
                                               ("full-name", "Fred Flintstone")])])])])


def test_keys_are_kept_in_a_partly_selected_entry() -> None:
    assert filtered(f"<top {EX}><users><user><type>admin</type><company-info><id/>"
                    "</company-info></user></users></top>") == (
        "data", [("top", [("users", [
            ("user", [("name", "fred"), ("type", "admin"), ("company-info", [("id", "2")])]),
            ("user", [("name", "barney"), ("type", "admin"), ("company-info", [("id", "3")])]),
        ])])])


def test_no_namespace_matches_every_namespace() -> None:
    assert filtered('<users xmlns=""/>') == ("data", "")  # not a top-level node anywhere
    assert filtered('<top xmlns=""><users><user><name>root</name></user></users></top>'
                    "<other xmlns=\"\"/>")[1][1] == ("other", [("users", "")])  # type: ignore[index]
    assert filtered('<other xmlns="urn:example:other"/>') == (
        "data", [("other", [("users", "")])])


def test_wanted_members_narrows_what_is_converted() -> None:
    def members(body: str) -> set[str] | None:
        return wanted_members(etree.fromstring(f'<filter xmlns="{BASE_NS}">{body}</filter>'),
                              top="mobile-ip", namespace=NS)

    assert members(f'<mobile-ip xmlns="{NS}"/>') is None
    assert members('<mobile-ip xmlns=""><security/></mobile-ip>') == {"security"}
    assert members(f'<mobile-ip xmlns="{NS}"><security/><subnet-map><prefix>1.0.0.0/8</prefix>'
                   "</subnet-map></mobile-ip>") == {"security", "subnet-map"}
    assert members('<mobile-ip xmlns="urn:example:other"/>') == set()
    assert members("") == set()
