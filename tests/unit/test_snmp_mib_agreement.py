"""The MIB texts (``mibs/MIP-MIB``, ``mibs/PROXY-MOBILE-IP-MIB``, compiled by
pysmi from the local texts) and the agent's instrumentation agree object by
object: the same OIDs, the same syntax (type, ranges, sizes, enumerations) and
the same MAX-ACCESS, and the wire tag each object is served with is the one
its syntax has (RFC 2578 §7.1, RFC 3416 §3). The only MIB objects the agent does
not serve are RFC 2006's mobile node groups (mnSystemGroup, mnDiscoveryGroup,
mnRegistrationGroup): no role here is a mobile node (RFC 2006 §5 compliance:
those groups are mandatory for mobile nodes only).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from agent.mobileip.violations import ViolationLog
from agent.snmp import values as v
from agent.snmp.instrumentation import build_tree
from agent.snmp.mip_mib import MIP_MIB
from agent.snmp.proxy_mib import PMIP_MIB, PROXY_MIP_ARC
from agent.snmp.sources import Sources
from agent.snmp.tree import Scalar, Table
from tests.conftest import require_module

ROOT = Path(__file__).resolve().parents[2]
MIP_MN = MIP_MIB + (1, 3)  # RFC 2006 mipMN: the mobile node groups

#: The BER tag an object of each syntax travels with.
TAGS = {
    "INTEGER": v.INTEGER, "Integer32": v.INTEGER, "TruthValue": v.INTEGER, "RowStatus": v.INTEGER,
    "OCTET STRING": v.OCTET_STRING, "Bits": v.OCTET_STRING, "RegistrationFlags": v.OCTET_STRING,
    "MacAddress": v.OCTET_STRING, "DisplayString": v.OCTET_STRING,
    "IpAddress": v.IP_ADDRESS, "Counter32": v.COUNTER32, "Gauge32": v.GAUGE32,
    "Unsigned32": v.GAUGE32, "TimeStamp": v.TIME_TICKS, "TimeTicks": v.TIME_TICKS,
}


def _oid(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


@pytest.fixture(scope="module")
def mib_objects() -> dict[tuple[int, ...], dict[str, Any]]:
    require_module("pysmi")
    spec = importlib.util.spec_from_file_location("gen_mib_docs", ROOT / "tools" / "gen_mib_docs.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    compiled = tool.compile_json(["MIP-MIB", "PROXY-MOBILE-IP-MIB"], [tool.MIBS_DIR, tool.BASE_DIR])
    out = {}
    for module in compiled.values():
        for node in module.values():
            if isinstance(node, dict) and node.get("class") == "objecttype" and node.get("nodetype") in (
                "scalar", "column"
            ):
                out[_oid(node["oid"])] = node
    return out


@pytest.fixture(scope="module")
def served() -> dict[tuple[int, ...], tuple[str, Any, str]]:
    tree = build_tree(Sources(lambda: None, lambda: None, lambda: None, ViolationLog, dict))
    out: dict[tuple[int, ...], tuple[str, Any, str]] = {}
    for obj in tree.scalars:
        out[obj.oid] = (obj.name, obj.syntax, obj.access)
    for table in tree.tables:
        for column in table.columns:
            out[table.entry_oid + (column.sub,)] = (column.name, column.syntax, column.access)
    return {oid: entry for oid, entry in out.items() if oid[:7] == MIP_MIB or oid[:len(PMIP_MIB)] == PMIP_MIB}


def test_every_mib_object_is_served_except_the_mobile_node_groups(
    mib_objects: dict[tuple[int, ...], dict[str, Any]], served: dict[tuple[int, ...], Any]
) -> None:
    expected = {oid for oid in mib_objects if oid[:len(MIP_MN)] != MIP_MN}
    assert len(expected) > 140
    assert sorted(expected - served.keys()) == []
    assert sorted(served.keys() - expected) == []  # nothing served that the MIBs do not define
    assert not any(oid[:len(MIP_MN)] == MIP_MN for oid in served)


def test_names_syntax_and_access_agree(
    mib_objects: dict[tuple[int, ...], dict[str, Any]], served: dict[tuple[int, ...], Any]
) -> None:
    mismatches = []
    for oid, (name, syntax, access) in sorted(served.items()):
        node = mib_objects[oid]
        mib_syntax = node["syntax"]
        constraints = mib_syntax.get("constraints", {})
        checks = {
            "name": (name, node["name"]),
            "access": (access, node["maxaccess"]),
            "type": (syntax.name, mib_syntax["type"]),
            "tag": (syntax.tag, TAGS.get(mib_syntax["type"])),
        }
        if "enumeration" in constraints:
            checks["enumeration"] = (set(syntax.enums), set(constraints["enumeration"].values()))
        if "range" in constraints:
            checks["range"] = (set(syntax.ranges), {(r["min"], r["max"]) for r in constraints["range"]})
        if "size" in constraints:
            checks["size"] = (set(syntax.sizes), {(r["min"], r["max"]) for r in constraints["size"]})
        for what, (ours, theirs) in checks.items():
            if ours != theirs:
                mismatches.append(f"{node['name']} {what}: served {ours!r}, MIB {theirs!r}")
    assert mismatches == []


def test_the_arc_constant_is_the_mibs_one_line() -> None:
    """docs/mib.md: relocating the module is one edit of the MIB (and of
    PROXY_MIP_ARC, which this test keeps in step)."""
    text = (ROOT / "mibs" / "PROXY-MOBILE-IP-MIB").read_text()
    match = re.search(r"^proxyMip OBJECT IDENTIFIER ::= \{ enterprises \w+\((\d+)\) (\d+) \}", text, re.M)
    assert match is not None
    assert PROXY_MIP_ARC == (1, 3, 6, 1, 4, 1, int(match.group(1)), int(match.group(2)))


def test_every_readable_object_reads_with_its_own_tag() -> None:
    """With no role running, scalars that exist read with their syntax's tag
    (e.g. PROXY-MOBILE-IP-MIB settings at their DEFVALs)."""
    tree = build_tree(Sources(lambda: None, lambda: None, lambda: None, ViolationLog, dict))
    for obj in tree.scalars:
        if obj.read is None or (obj.present is not None and not obj.present()):
            continue
        tag, _ = obj.read(0.0)
        assert tag == obj.syntax.tag, obj.name
    assert all(isinstance(t, Table) for t in tree.tables)
    assert all(isinstance(s, Scalar) for s in tree.scalars)
