"""A base <get> answered for the SSH sessions (Operations.wire_handler) leaves
its live state as a splice marker that the framer replaces with the state's
text (agent/netconf/framing.py splice_marker): the framed reply must be byte
for byte the one the parsed-and-reserialized path gives (RFC 6242 §4.2
chunked and §4.3 end-of-message framing alike), for every filter, user and
operation, and every reply that something looks into must carry no marker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address

import pytest
from lxml import etree

from agent.schema.context import yang_dir
from agent.datastore.store import Datastore
from agent.mobileip import replay
from agent.mobileip.builder import build_request
from agent.mobileip.numbers import RequestFlag
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable
from agent.netconf import framing
from agent.netconf.errors import BASE_NS
from agent.netconf.framing import Framer, FramingMode, splice_marker
from agent.netconf.operations import Operations
from agent.netconf.statexml import state_xml
from agent.operational import home_agent_state

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
NMDA_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-nmda"
MARKER = b"<?proxymip-splice "
KEY = bytes(range(16))


@dataclass(frozen=True)
class Session:
    session_id: int = 1
    username: str | None = "admin"


def _home_agent(count: int, now: float) -> HomeAgent:
    sa = SecurityAssociation(256, KEY)
    table = SecurityAssociationTable()
    table.add_range(IPv4Address("198.18.0.0"), IPv4Address("198.18.255.255"), sa)
    agent = HomeAgent(HomeAgentSettings(IPv4Address("198.51.100.1")), mobile_nodes=table)
    for i in range(count):
        # Every third node asks for simultaneous bindings (RFC 5944 §3.6.1.3)
        # and registers two care-of addresses, in descending order.
        simultaneous = i % 3 == 0
        for j, coa in enumerate(("203.0.113.9", "203.0.113.2") if simultaneous
                              else ("203.0.113.1",)):
            agent.receive_datagram(
                build_request(home_address=IPv4Address("198.18.0.0") + (count - i),
                              home_agent=IPv4Address("198.51.100.1"),
                              care_of_address=IPv4Address(coa),
                              identification=replay.ntp_identification(now, 2 * i + j),
                              lifetime=600, sa=sa,
                              flags=RequestFlag.SIMULTANEOUS_BINDINGS if simultaneous
                              else RequestFlag(0)),
                IPv4Address(coa), 434, now)
        agent.datagrams_to_send()
        while agent.next_event():
            pass
    return agent


@pytest.fixture
def operations() -> Iterator[Operations]:
    now = time.time()
    agent = _home_agent(60, now)
    datastore = Datastore()
    datastore.register_provider(lambda: {"home-agent-state": home_agent_state(agent, now + 1)})
    ops = Operations(datastore, yang_dir=yang_dir())
    yield ops
    ops.close()
    datastore.close()


def _request(body: str) -> etree._Element:
    rpc = etree.fromstring(f'<rpc xmlns="{BASE_NS}" message-id="7">{body}</rpc>')
    return rpc[0]


def _serialize(element: etree._Element | None) -> bytes:
    assert element is not None
    reply = etree.Element(f"{{{BASE_NS}}}rpc-reply", nsmap={None: BASE_NS})
    reply.append(element)
    return etree.tostring(reply, xml_declaration=True, encoding="UTF-8")


WHOLE = f'<filter type="subtree"><mobile-ip xmlns="{NS}"><home-agent-state/></mobile-ip></filter>'
SPLICED = {
    "no filter": "<get/>",
    "home-agent-state selected whole": f"<get>{WHOLE}</get>",
    "two members, one absent": f'<get><filter type="subtree"><mobile-ip xmlns="{NS}">'
                               "<home-agent-state/> <subnet-map/></mobile-ip></filter></get>",
}
NOT_SPLICED = {
    "a list below the member": f'<get><filter type="subtree"><mobile-ip xmlns="{NS}">'
                               "<home-agent-state><binding/></home-agent-state>"
                               "</mobile-ip></filter></get>",
    "a content match": f'<get><filter type="subtree"><mobile-ip xmlns="{NS}">'
                       "<home-agent-state><binding><home-address>198.18.0.3</home-address>"
                       "</binding></home-agent-state></mobile-ip></filter></get>",
    "an attribute on the selection node": f'<get><filter type="subtree"><mobile-ip xmlns="{NS}" '
                                          f'xmlns:x="urn:x"><home-agent-state x:a="1"/>'
                                          "</mobile-ip></filter></get>",
    "a selection node of another namespace": f'<get><filter type="subtree"><mobile-ip xmlns="{NS}">'
                                             '<home-agent-state xmlns="urn:other"/></mobile-ip>'
                                             "</filter></get>",
    "two top elements": f'<get><filter type="subtree"><mobile-ip xmlns="{NS}"><home-agent-state/>'
                        f'</mobile-ip><mobile-ip xmlns="{NS}"><counters/></mobile-ip></filter></get>',
    "an XPath filter (RFC 6241 §8.9)": f'<get><filter type="xpath" xmlns:p="{NS}" '
                                       'select="/p:mobile-ip/p:home-agent-state"/></get>',
}


@pytest.mark.parametrize("mode", [FramingMode.CHUNKED, FramingMode.EOM])
@pytest.mark.parametrize("user", ["admin", "noc"])
@pytest.mark.parametrize("case", sorted(SPLICED))
def test_spliced_get_is_byte_identical_to_the_parsed_reply(
        operations: Operations, case: str, user: str, mode: FramingMode) -> None:
    framer = Framer(max_message_size=1 << 30, mode=mode)
    wire = _serialize(operations.wire_handler(_request(SPLICED[case]), Session(1, user)))
    assert MARKER in wire  # the state really took the spliced way
    spliced = framer.encode(wire)
    parsed = framer.encode(_serialize(operations(_request(SPLICED[case]), Session(1, user))))
    assert MARKER not in parsed and MARKER not in spliced
    assert spliced == parsed
    assert spliced.count(b"<binding>") == 80 and spliced.count(b"<mobile-node-counters>") == 60
    assert not framing._SPLICED  # each marker's text is used once and let go


@pytest.mark.parametrize("case", sorted(NOT_SPLICED))
def test_filters_that_look_inside_the_state_get_the_parsed_tree(
        operations: Operations, case: str) -> None:
    wire = _serialize(operations.wire_handler(_request(NOT_SPLICED[case]), Session()))
    assert MARKER not in wire
    assert wire == _serialize(operations(_request(NOT_SPLICED[case]), Session()))


def test_get_data_of_operational_is_never_spliced(operations: Operations) -> None:
    """RFC 8526 §3.1.1 get-data reads through <get> and then walks the result."""
    body = (f'<get-data xmlns="{NMDA_NS}" xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores">'
            "<datastore>ds:operational</datastore></get-data>")
    reply = operations.wire_handler(_request(body), Session())
    assert reply is not None and MARKER not in _serialize(reply)
    assert len(reply.findall(f".//{{{NS}}}binding")) == 80


def test_bindings_in_home_then_care_of_address_order(operations: Operations) -> None:
    data = operations(_request(f"<get>{WHOLE}</get>"), Session())
    assert data is not None
    rows = [(IPv4Address(b.findtext(f"{{{NS}}}home-address") or ""),
             IPv4Address(b.findtext(f"{{{NS}}}care-of-address") or ""))
            for b in data.iter(f"{{{NS}}}binding")]
    assert len(rows) == 80 and rows == sorted(rows)
    assert sum(1 for _, coa in rows if coa == IPv4Address("203.0.113.9")) == 20


def test_a_marker_is_used_once_and_unknown_ones_fail() -> None:
    framer = Framer(max_message_size=1 << 20, mode=FramingMode.EOM)
    marker = splice_marker(b"<a>1</a>").encode()
    assert framer.encode(b"<r>" + marker + b"</r>") == b"<r><a>1</a></r>]]>]]>"
    with pytest.raises(ValueError):
        framer.encode(b"<r>" + marker + b"</r>")  # never a reply with a hole
    with pytest.raises(ValueError):
        framer.encode(b"<r>" + MARKER + b"00ff?></r>")


def test_unsent_markers_are_bounded() -> None:
    framing._SPLICED.clear()
    markers = [splice_marker(b"x" * 10) for _ in range(framing._SPLICED_MAX + 5)]
    assert len(framing._SPLICED) == framing._SPLICED_MAX
    framer = Framer(max_message_size=1 << 20, mode=FramingMode.EOM)
    assert framer.encode(markers[-1].encode()) == b"x" * 10 + b"]]>]]>"
    framing._SPLICED.clear()


def test_spliced_text_with_the_eom_delimiter_is_refused() -> None:
    """RFC 6242 §4.3: base:1.0 cannot carry ]]>]]>; the check sees the spliced text."""
    framer = Framer(max_message_size=1 << 20, mode=FramingMode.EOM)
    with pytest.raises(ValueError):
        framer.encode(splice_marker(b"]]>]]>").encode())


def test_list_fast_path_escapes_and_falls_back_like_the_general_writer() -> None:
    rows = [{"a": 1, "b": "x<y"}, {"a": True, "b": None}, {"a": "&", "n": {"c": 1}},
            {"a": 2, "b": ">"}, {"a": 3, "b": "ok"}, {"a": "100%s", "b": "%d"}, {}]
    text = state_xml({"l": rows, "ll": ["a", "b<"]})
    assert text == (
        "<l><a>1</a><b>x&lt;y</b></l><l><a>true</a></l><l><a>&amp;</a><n><c>1</c></n></l>"
        "<l><a>2</a><b>&gt;</b></l><l><a>3</a><b>ok</b></l><l><a>100%s</a><b>%d</b></l>"
        "<l></l><ll>a</ll><ll>b&lt;</ll>")
    nested = {"c": {"row": rows}}
    assert state_xml(nested) == "<c>" + text.split("<ll>")[0].replace("<l>", "<row>").replace(
        "</l>", "</row>") + "</c>"
