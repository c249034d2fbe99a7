"""Each role's counters are written once, in the engine's counters dataclass
(``HomeAgentCounters``, ``ForeignAgentCounters``, ``ProxyCounters``); the YANG
leaves of ``<role>-state/counters`` and the SNMP objects served for them are
checked against it here.

- YANG: one leaf per dataclass field, named after it (and nothing else).
- MIP-MIB: a YANG leaf whose description names a MIP-MIB object, e.g.
  ``(haRegistrationAccepted)``, is that object; the agent serves the object
  from the same field; and every home agent, foreign agent and mobility agent
  counter the agent serves is named by one leaf.
- PROXY-MOBILE-IP-MIB: ``agent/snmp/proxy_mib.py`` ``COUNTERS`` lists the
  dataclass fields in order and serves each from its field
  (``tests/unit/test_mib_text.py`` checks the MIB text against the YANG).
- the CLI: the summary lines of ``proxymip watch`` show the fields' values.

Reply codes and their counters: ``tests/unit/test_reply_code_agreement.py``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import fields
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import libyang
import pytest

from agent.mobileip import home_agent
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentCounters, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgent, HomeAgentCounters, HomeAgentSettings
from agent.mobileip.proxy import ProxyAgent, ProxyCounters, ProxySettings
from agent.mobileip.security import SecurityAssociationTable
from agent.mobileip.subnet_map import SubnetMap
from agent.mobileip.violations import ViolationLog
from agent.operational import foreign_agent_state, home_agent_state, proxy_state
from agent.operator import render
from agent.schema.context import MODULE_NAME, yang_dir
from agent.snmp import values as v
from agent.snmp.instrumentation import build_tree
from agent.snmp.proxy_mib import COUNTERS as PROXY_MIB_COUNTERS
from agent.snmp.sources import Sources

NOW = 1_800_000_000.0
HA = IPv4Address("198.51.100.1")
FA = IPv4Address("203.0.113.1")

DATACLASSES: dict[str, type] = {
    "home-agent": HomeAgentCounters,
    "foreign-agent": ForeignAgentCounters,
    "proxy": ProxyCounters,
}
#: RFC 2006 descriptors of the home agent (ha*), foreign agent (fa*) and
#: mobility agent advertisement (ma*) groups.
_MIP_NAME = re.compile(r"\(((?:ha|fa|ma)[A-Z]\w*)\)")


@pytest.fixture(scope="module")
def yang() -> Iterator[Any]:
    context = libyang.Context(str(yang_dir()))
    context.load_module(MODULE_NAME)

    def counter_leaves(role: str) -> list[Any]:
        path = f"/{MODULE_NAME}:mobile-ip/{role}-state/counters"
        return list(next(context.find_path(path)).children())

    yield counter_leaves
    context.destroy()


def _field_names(role: str) -> list[str]:
    return [f.name for f in fields(DATACLASSES[role])]


def _engines() -> dict[str, Any]:
    return {
        "home-agent": HomeAgent(HomeAgentSettings(HA), mobile_nodes=SecurityAssociationTable(),
                                rng=random.Random(1)),
        "foreign-agent": ForeignAgent(ForeignAgentSettings(FA, advertisement_interval=0),
                                      rng=random.Random(2)),
        "proxy": ProxyAgent(ProxySettings(solicit=False), subnet_map=SubnetMap({IPv4Network("192.0.2.0/24"): HA}),
                            host_associations=SecurityAssociationTable(), rng=random.Random(3)),
    }


def _served_counters(engines: dict[str, Any]) -> dict[str, Any]:
    """Every counter scalar served, by name, with each engine's fields set to
    distinct values (field i of role r reads 1000 * (r + 1) + i)."""
    for offset, role in enumerate(sorted(engines), start=1):
        for index, name in enumerate(_field_names(role)):
            setattr(engines[role].counters, name, 1000 * offset + index)
    tree = build_tree(Sources(lambda: engines["home-agent"], lambda: engines["foreign-agent"],
                              lambda: engines["proxy"], ViolationLog, dict))
    return {s.name: s.read(NOW) for s in tree.scalars
            if s.syntax.tag == v.COUNTER32 and s.read is not None}


@pytest.mark.parametrize("role", sorted(DATACLASSES))
def test_yang_has_one_leaf_per_dataclass_field(role: str, yang: Any) -> None:
    leaves = {leaf.name() for leaf in yang(role)}
    assert leaves == {name.replace("_", "-") for name in _field_names(role)}


def test_mip_mib_counters_are_the_yang_leaves_they_name(yang: Any) -> None:
    engines = _engines()
    served = _served_counters(engines)
    named = set()
    for role in ("home-agent", "foreign-agent"):
        for leaf in yang(role):
            found = _MIP_NAME.findall(" ".join((leaf.description() or "").split()))
            assert len(found) <= 1, (leaf.name(), found)
            if not found:
                continue
            [mib_name] = found
            field = leaf.name().replace("-", "_")
            assert served.get(mib_name) == v.counter32(getattr(engines[role].counters, field)), mib_name
            named.add(mib_name)
    assert len(named) > 30
    mip_counters = {name for name in served if _MIP_NAME.fullmatch(f"({name})")}
    assert mip_counters == named  # no RFC 2006 counter served without its YANG leaf


def test_proxy_mib_counters_are_the_dataclass_fields() -> None:
    assert [attribute for _, attribute in PROXY_MIB_COUNTERS] == _field_names("proxy")
    engines = _engines()
    served = _served_counters(engines)
    for mib_name, attribute in PROXY_MIB_COUNTERS:
        assert served[mib_name] == v.counter32(getattr(engines["proxy"].counters, attribute)), mib_name


def test_cli_summary_reads_the_counters_it_names() -> None:
    """``proxymip watch``'s summary lines (agent/operator/render.py) read
    counters by their YANG names: each figure is the engine field's value."""
    engines = _engines()
    _served_counters(engines)  # distinct values in every field
    ha, fa, proxy = (engines[r].counters for r in ("home-agent", "foreign-agent", "proxy"))
    content = {
        "home-agent-state": home_agent_state(engines["home-agent"], NOW, rows=False),
        "foreign-agent-state": foreign_agent_state(engines["foreign-agent"], NOW, rows=False),
        "proxy-state": proxy_state(engines["proxy"], NOW, rows=False),
    }
    home, foreign, proxied = render.summary_lines(content)
    ha_denied = sum(getattr(ha, name) for name in set(home_agent.DENIAL_COUNTERS.values()))
    assert (f"requests {ha.reg_requests_received}  accepted {ha.registration_accepted}  "
            f"denied {ha_denied}  deregistrations {ha.dereg_requests_received}") in home
    fa_denied = sum(getattr(fa, name.replace("-", "_")) for name in render._FA_DENIALS)
    assert (f"requests {fa.reg_requests_received}  relayed {fa.reg_requests_relayed}  "
            f"denied {fa_denied}  timeouts {fa.registration_timeouts}") in foreign
    assert (f"requests {proxy.requests_sent}  accepted {proxy.accepted}  "
            f"denied {proxy.denied_by_home_agent + proxy.denied_by_foreign_agent}  "
            f"failures {proxy.registration_failures}") in proxied
