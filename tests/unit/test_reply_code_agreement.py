"""Every reply code an engine can deny with is known everywhere it is reported.

The truth is each engine's one table, ``DENIAL_COUNTERS`` (reply code -> the
counter it moves) in ``agent/mobileip/home_agent.py`` and
``agent/mobileip/foreign_agent.py``; the engine module itself is read with
``ast`` so a code it denies with but left out of its table fails here too.
Checked against it:

- the counters dataclass, and the YANG counter leaf of ``<role>-state/counters``
  (named after the counter, its description naming the code and, when RFC 2006
  has one, the MIP-MIB counter);
- MIP-MIB (the text in ``mibs/``): the counter whose DESCRIPTION names the code
  is served from that engine counter; a code RFC 2006 has no counter for has
  none; ``haRecentServiceDeniedCode`` is only ever served with a value its
  SYNTAX enumerates (RFC 2578 §7.1.1), while the YANG leaf
  ``recent-service-denied-code`` keeps the exact code (RFC 3024 §3.4's 137-139
  are not in RFC 2006's enumeration: ``agent/snmp/mip_mib.py``);
- the CLI renderer: its "denied" totals sum exactly the home agent's denial
  counters and the foreign agent's request denials, and every code reads with
  its meaning.

Adding a reply code to an engine without updating these fails a test.
"""

from __future__ import annotations

import ast
import json
import random
import re
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from types import ModuleType
from typing import Any

import libyang
import pytest

from agent.mobileip import foreign_agent, home_agent
from agent.mobileip.builder import build_request
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentCounters, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgent, HomeAgentCounters, HomeAgentSettings
from agent.mobileip.numbers import ReplyCode, RequestFlag
from agent.mobileip.replay import ntp_identification
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable
from agent.mobileip.violations import ViolationLog
from agent.operational import home_agent_state
from agent.operator import render
from agent.schema.context import MODULE_NAME, TOP_MEMBER, yang_dir
from agent.snmp import values as v
from agent.snmp.instrumentation import build_tree
from agent.snmp.sources import Sources, ip_index

ROOT = Path(__file__).resolve().parents[2]
MIP_MIB_TEXT = (ROOT / "mibs" / "MIP-MIB").read_text(encoding="utf-8")

NOW = 1_800_000_000.0
HA = IPv4Address("198.51.100.1")
FA = IPv4Address("203.0.113.1")
NODE = IPv4Address("192.0.2.10")
NODE_SA = SecurityAssociation(256, bytes(range(16)))

ENGINES: dict[str, tuple[ModuleType, type, str]] = {
    # role: (engine module, counters dataclass, the module's prefix of its codes)
    "home-agent": (home_agent, HomeAgentCounters, "HA_"),
    "foreign-agent": (foreign_agent, ForeignAgentCounters, "FA_"),
}

#: Foreign agent codes the CLI's "denied" total leaves out, and why: RFC 2006
#: counts them apart from the denied requests (faHAAuthenticationFailure and
#: faPoorlyFormedReplies are about the home agent's reply), and 78 is a
#: request that went unanswered, shown as "timeouts".
FA_NOT_REQUEST_DENIALS = frozenset({
    ReplyCode.FA_HOME_AGENT_FAILED_AUTHENTICATION,
    ReplyCode.FA_POORLY_FORMED_REPLY,
    ReplyCode.FA_REGISTRATION_TIMEOUT,
})


def _kebab(name: str) -> str:
    return name.replace("_", "-")


def _denials(role: str) -> dict[ReplyCode, str]:
    table: dict[ReplyCode, str] = ENGINES[role][0].DENIAL_COUNTERS
    return table


def _codes_named_in(module: ModuleType, prefix: str) -> set[ReplyCode]:
    """The ``ReplyCode.<prefix>*`` members the engine's source mentions."""
    source = Path(module.__file__ or "").read_text(encoding="utf-8")
    return {
        ReplyCode[node.attr]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        and node.value.id == "ReplyCode" and node.attr.startswith(prefix)
    }


def _mib_counters_by_code() -> dict[int, str]:
    """MIP-MIB counter objects whose DESCRIPTION names exactly one code:
    ``(code 128)`` -> haReasonUnspecified."""
    found: dict[int, str] = {}
    for name, body in re.findall(r"^(\w+) OBJECT-TYPE\n(.*?)::=", MIP_MIB_TEXT, re.M | re.S):
        if "Counter32" not in body:
            continue
        match = re.search(r"\(code (\d+)\)", " ".join(body.split()))
        if match:
            found[int(match.group(1))] = name
    return found


def _mib_enumeration(name: str) -> dict[str, int]:
    match = re.search(rf"^{name} OBJECT-TYPE\s+SYNTAX\s+INTEGER\s*\{{(.*?)\}}", MIP_MIB_TEXT, re.M | re.S)
    assert match is not None, name
    return {label: int(number) for label, number in re.findall(r"(\w+)\((\d+)\)", match.group(1))}


@pytest.fixture(scope="module")
def yang() -> Iterator[Any]:
    context = libyang.Context(str(yang_dir()))
    context.load_module(MODULE_NAME)

    def node(path: str) -> Any:
        return next(context.find_path(f"/{MODULE_NAME}:" + path.lstrip("/")))

    yield node
    context.destroy()


def _home_agent(**settings: Any) -> HomeAgent:
    hosts = SecurityAssociationTable()
    hosts.add_range(IPv4Address("192.0.2.1"), IPv4Address("192.0.2.254"), NODE_SA)
    return HomeAgent(HomeAgentSettings(HA, **settings), mobile_nodes=hosts, rng=random.Random(1))


def _mib_tree(ha: HomeAgent | None = None, fa: ForeignAgent | None = None) -> Any:
    return build_tree(Sources(lambda: ha, lambda: fa, lambda: None, ViolationLog, dict))


def _scalar(tree: Any, name: str) -> Any:
    [scalar] = [s for s in tree.scalars if s.name == name]
    return scalar


def _denied_code_column(tree: Any) -> tuple[Any, Any]:
    for table in tree.tables:
        for column in table.columns:
            if column.name == "haRecentServiceDeniedCode":
                return table, column
    raise AssertionError("haRecentServiceDeniedCode is not served")


# -- the engines' tables ------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(ENGINES))
def test_every_code_the_engine_denies_with_is_in_its_table(role: str) -> None:
    module, counters, prefix = ENGINES[role]
    table = _denials(role)
    assert _codes_named_in(module, prefix) <= set(table)
    # RFC 5944 §3.4: 64-127 are the foreign agent's, 128 and up the home agent's.
    assert all(code.denied_by_foreign_agent for code in table) == (role == "foreign-agent")
    assert all(code.denied_by_home_agent for code in table) == (role == "home-agent")
    fields = set(counters.__dataclass_fields__)
    assert set(table.values()) <= fields


def test_the_source_reader_sees_the_codes() -> None:
    # The reader the first test relies on finds what the engine plainly uses.
    assert ReplyCode.HA_REVERSE_TUNNEL_UNAVAILABLE in _codes_named_in(home_agent, "HA_")
    assert ReplyCode.FA_REGISTRATION_TIMEOUT in _codes_named_in(foreign_agent, "FA_")


# -- YANG ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(ENGINES))
def test_each_code_has_its_yang_counter_leaf(role: str, yang: Any) -> None:
    mib_counters = _mib_counters_by_code()
    for code, counter in _denials(role).items():
        leaf = yang(f"/mobile-ip/{role}-state/counters/{_kebab(counter)}")
        description = " ".join((leaf.description() or "").split())
        assert re.search(rf"\bcode {int(code)}\b", description), (code, description)
        mib_name = mib_counters.get(int(code))
        if mib_name is not None:
            assert f"({mib_name})" in description, (code, description)
        else:  # YANG must not claim a MIP-MIB object RFC 2006 does not have
            assert not re.search(r"\((ha|fa)[A-Z]\w*\)", description), (code, description)


def test_recent_denied_code_leaf_takes_every_home_agent_code(yang: Any) -> None:
    leaf = yang("/mobile-ip/home-agent-state/mobile-node-counters/recent-service-denied-code")
    assert leaf.type().basename() == "uint8"
    assert list(leaf.type().all_ranges()) == []  # no range narrower than 0..255
    assert all(0 < code <= 255 for code in _denials("home-agent"))


# -- MIP-MIB -------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(ENGINES))
def test_mib_counters_are_served_from_the_engine_counter(role: str) -> None:
    ha = _home_agent() if role == "home-agent" else None
    fa = ForeignAgent(ForeignAgentSettings(FA, advertisement_interval=0),
                      rng=random.Random(2)) if role == "foreign-agent" else None
    engine: Any = ha or fa
    table = _denials(role)
    for number, counter in enumerate(sorted(set(table.values())), start=1000):
        setattr(engine.counters, counter, number)
    tree = _mib_tree(ha, fa)
    mib_counters = _mib_counters_by_code()
    served = 0
    for code, counter in table.items():
        mib_name = mib_counters.get(int(code))
        if mib_name is None:
            continue
        assert _scalar(tree, mib_name).read(NOW) == v.counter32(getattr(engine.counters, counter)), code
        served += 1
    assert served >= 8  # RFC 2006 counts most of them


def test_recent_denied_code_is_always_a_named_value_and_yang_keeps_the_code() -> None:
    enumeration = set(_mib_enumeration("haRecentServiceDeniedCode").values())
    assert enumeration == set(range(128, 137))  # RFC 2006, unchanged
    for code in _denials("home-agent"):
        ha = _home_agent()
        # The engine's own recording of a denial (every denial path calls it).
        ha._count_denial(NODE, code, NOW)
        table, column = _denied_code_column(_mib_tree(ha))
        row = table.rows.row(ip_index(NODE), NOW)
        assert row is not None
        tag, value = column.read(row, NOW)
        assert tag == v.INTEGER and value in enumeration, (code, value)
        assert value == (code if code in enumeration else ReplyCode.HA_REASON_UNSPECIFIED)
        assert column.syntax.check((tag, value)) is None
        [counters] = home_agent_state(ha, NOW)["mobile-node-counters"]
        assert counters["recent-service-denied-code"] == code


def test_a_reverse_tunnel_denial_end_to_end(yang: Any) -> None:
    """RFC 3024 §3.4 code 137 from a real request: SNMP reads
    reasonUnspecified(128), the YANG state (valid instance data) reads 137."""
    ha = _home_agent(reverse_tunnel=False)
    data = build_request(home_address=NODE, home_agent=HA, care_of_address=FA,
                         identification=ntp_identification(NOW), lifetime=600, sa=NODE_SA,
                         flags=RequestFlag.REVERSE_TUNNELING)
    ha.receive_datagram(data, FA, 434, NOW)
    assert ha.counters.reverse_tunnel_unavailable == 1
    table, column = _denied_code_column(_mib_tree(ha))
    row = table.rows.row(ip_index(NODE), NOW)
    assert column.read(row, NOW) == v.integer(128)
    state = home_agent_state(ha, NOW)
    assert state["mobile-node-counters"][0]["recent-service-denied-code"] == 137
    context = libyang.Context(str(yang_dir()))
    try:
        context.load_module(MODULE_NAME)
        tree = context.parse_data_mem(json.dumps({TOP_MEMBER: {"home-agent-state": state}}), "json",
                                      strict=True, validate_present=True)
        assert tree is not None
        tree.free()
    finally:
        context.destroy()


# -- the CLI -------------------------------------------------------------------------


def test_cli_home_agent_denied_total_sums_every_denial_counter() -> None:
    assert set(render._HA_DENIALS) == {_kebab(c) for c in _denials("home-agent").values()}


def test_cli_foreign_agent_denied_total_sums_the_request_denials(yang: Any) -> None:
    request_denials = {
        _kebab(counter) for code, counter in _denials("foreign-agent").items()
        if code not in FA_NOT_REQUEST_DENIALS
    }
    assert request_denials <= set(render._FA_DENIALS)
    # The rest of the list are RFC 2006 request-denial counters this foreign
    # agent never moves (no VJ compression, no 80-95): still YANG leaves.
    for name in render._FA_DENIALS:
        yang(f"/mobile-ip/foreign-agent-state/counters/{name}")


@pytest.mark.parametrize("role", sorted(ENGINES))
def test_cli_reads_every_code_with_its_meaning(role: str) -> None:
    for code in _denials(role):
        text = render.reply_code_text(int(code))
        assert re.fullmatch(rf"{int(code)} \((HA|FA): [a-z ]+\)", text), text
