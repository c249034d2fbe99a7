"""State written straight to XML (agent/netconf/statexml.py) is valid instance
data of the module, exactly as libyang's own JSON -> XML conversion would be."""

from __future__ import annotations

import json

import libyang

from agent.schema.context import TOP_MEMBER, yang_dir
from agent.mobileip.events import ViolationReason
from agent.mobileip.violations import ViolationLog
from agent.netconf.statexml import state_xml
from agent.operational import foreign_agent_state, home_agent_state, proxy_state, violations_state
from tests.unit.test_operational import NOW, _network
from ipaddress import IPv4Address

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"


def test_direct_state_xml_is_what_libyang_reads_back() -> None:
    ha, fa, proxy = _network()
    log = ViolationLog()
    log.record(IPv4Address("192.0.2.99"), spi=300, identification=7,
               reason=ViolationReason.BAD_SPI, now=NOW)
    member = {
        "home-agent-state": home_agent_state(ha, NOW + 1),
        "foreign-agent-state": foreign_agent_state(fa, NOW + 1),
        "proxy-state": proxy_state(proxy, NOW + 1),
        "security-violations": violations_state(log),
    }
    xml = f'<mobile-ip xmlns="{NS}">{state_xml(member)}</mobile-ip>'
    context = libyang.Context(str(yang_dir()))
    try:
        context.load_module("proxy-mobile-ip")
        tree = context.parse_data_mem(xml, "xml", strict=True, validate_present=True)
        assert tree is not None
        back = json.loads(tree.print_mem("json", with_siblings=True))
        tree.free()
    finally:
        context.destroy()
    def without_empty_lists(value: object) -> object:
        if isinstance(value, dict):
            return {k: without_empty_lists(v) for k, v in value.items() if v != []}
        if isinstance(value, list):
            return [without_empty_lists(v) for v in value]
        return value

    assert back[TOP_MEMBER] == without_empty_lists(json.loads(json.dumps(member)))
