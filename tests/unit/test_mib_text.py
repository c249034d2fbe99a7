"""The MIB texts in ``mibs/``: ``PROXY-MOBILE-IP-MIB`` (the project's module for the
proxy role) and ``MIP-MIB`` (RFC 2006), read by three independent tool chains.

- libsmi's ``smilint -l 6`` prints nothing for PROXY-MOBILE-IP-MIB, and for
  MIP-MIB exactly the warnings inherent to RFC 2006 that docs/mib.md lists
  (smilint exits 0 even on errors, so its output is what is checked);
- net-snmp's ``snmptranslate`` loads both and resolves names to the expected
  OIDs: for MIP-MIB every one of the 194 nodes of the RFC 2006 object list;
- pysmi compiles both to pysnmp modules from the local texts only (no borrower,
  so nothing is fetched from mibs.pysnmp.com), and pysnmp loads them: every
  MIP-MIB node has the kind, base syntax, access and enumeration of the RFC 2006
  object list, and PROXY-MOBILE-IP-MIB agrees with the YANG module (visitor
  states, counters, defaults, the YANG paths its REFERENCE clauses name).

Also: the vendored base SMI texts in ``mibs/base/`` are the pinned ones, the
enterprise arc is one line of PROXY-MOBILE-IP-MIB (moving it moves every node),
and docs/mib.md's generated tables are current.

The agent's SNMP instrumentation is checked against these texts object by object
(OID, syntax, access) by the tests of the SNMP agent, not here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import pytest
from conftest import require_module, require_tool

# pysmi 2.0.0 generates modules that call pysnmp 7.1's deprecated camelCase API.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(import|export)Symbols is deprecated:DeprecationWarning"
)

ROOT = Path(__file__).resolve().parents[2]
MIBS = ROOT / "mibs"
BASE = MIBS / "base"
YANG_DIR = ROOT / "yang"
FETCH_SCRIPT = ROOT / "tools" / "fetch_base_mibs.sh"
DOCS_TOOL = ROOT / "tools" / "gen_mib_docs.py"
TIMEOUT = 120

MIP = "MIP-MIB"
PROXY = "PROXY-MOBILE-IP-MIB"
MIP_ROOT = (1, 3, 6, 1, 2, 1, 44)
#: proxyMip, the project's (placeholder) enterprise arc, and the module under it.
ARC = (1, 3, 6, 1, 4, 1, 32473, 2)
PMIP = (*ARC, 1)

#: mibs/base as fetched by tools/fetch_base_mibs.sh from npm net-snmp 3.29.2.
BASE_SHA256 = {
    "IANAifType-MIB": "21f2857fae03b9d32404b612d0c3efd3204343f29666667992af65e8c2b7aaa4",
    "IF-MIB": "891d7649ac23034ef954b3fc0d6f0753360cff4954816a985eed88e6f8b8f531",
    "RFC-1212": "2cd55bb91f3934e7f6b4067e303cf1a3459a6386124bd244050928d411c6e039",
    "RFC-1215": "fef57ea92b561f235943f5ca6451a958c62a8927aa90521acac1f85fc73485d5",
    "RFC1155-SMI": "ad4a30d28840a1606aa773acb7c09e6150acb364b4ca5a9c3724bb8e67141802",
    "SNMPv2-CONF": "9b8ff8def9de47c9bd03d7fc128f26dbef0fcbb3c3363e7abad67fbd4ec02a49",
    "SNMPv2-MIB": "b4f8ef130f580b86d2b6bc890564e46100785f589431df76954e878a7b166e11",
    "SNMPv2-SMI": "edbcf785e0d8fac9e5c0a2a6b28d969c39d05a35b5cd4769501511b6e818bfa4",
    "SNMPv2-TC": "ad458652cccf79eac7ed81b69e1a9c770e232bd226ff8b35f3a49f99e82b82a1",
}

#: smilint -s -m -l 6 on MIP-MIB: the warnings inherent to RFC 2006 (docs/mib.md),
#: as (level, tag, object named first in the message).
MIP_INHERENT_WARNINGS = {
    (5, "index-element-accessible", "mipSecViolatorAddress"),
    (5, "index-element-accessible", "mnRegAgentAddress"),
    (5, "index-element-accessible", "mnRegCOA"),
    (5, "index-element-accessible", "faVisitorIPAddress"),
    (5, "index-element-accessible", "haMobilityBindingMN"),
    (5, "index-element-accessible", "haMobilityBindingCOA"),
    (4, "group-membership", "mipSecViolatorAddress"),
}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def run(
    command: Sequence[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), capture_output=True, text=True, env=env, timeout=TIMEOUT, check=False
    )


def smilint(path: Path, *options: str, search: Sequence[Path] = (BASE, MIBS)) -> str:
    """smilint's whole output (it exits 0 even on errors). ``-c /dev/null``: no
    /etc/smi.conf or ~/.smirc, whose paths, levels and ignores would change it."""
    tool = require_tool("smilint")
    env = dict(os.environ, SMIPATH=os.pathsep.join(str(directory) for directory in search))
    result = run([tool, "-c", os.devnull, *options, str(path)], env=env)
    assert result.returncode == 0, f"smilint exited {result.returncode}: {result.stderr}"
    return result.stdout + result.stderr


SMILINT_LINE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+): \[(?P<level>\d+)\] \{(?P<tag>[^}]+)\} (?P<message>.*)$"
)


def smilint_findings(output: str) -> list[tuple[int, str, str]]:
    """(level, tag, first `quoted' name) per line of ``smilint -s -m`` output."""
    findings = []
    for line in output.splitlines():
        match = SMILINT_LINE.match(line)
        assert match, f"unexpected smilint output line: {line!r}"
        subject = re.search(r"`([^']+)'", match["message"])
        findings.append((int(match["level"]), match["tag"], subject[1] if subject else ""))
    return findings


def compile_pysnmp(destination: Path, sources: Sequence[Path], *modules: str) -> dict[str, str]:
    """pysmi: compile modules into pysnmp modules in destination, reading MIB texts
    from sources only. No borrower is added (mibdump's default would fetch
    pre-compiled modules from https://mibs.pysnmp.com), and SNMPv2-SMI/TC/CONF
    are stubs, since pysnmp ships its own; they are parsed for their symbols."""
    require_module("pysmi")
    from pysmi.codegen import PySnmpCodeGen
    from pysmi.compiler import MibCompiler
    from pysmi.parser import SmiV2Parser
    from pysmi.reader import FileReader
    from pysmi.searcher import StubSearcher
    from pysmi.writer import PyFileWriter

    writer = PyFileWriter(str(destination)).set_options(pyCompile=False)
    compiler = MibCompiler(SmiV2Parser(), PySnmpCodeGen(), writer)
    compiler.add_sources(*(FileReader(str(directory)) for directory in sources))
    stubs = [name for name in PySnmpCodeGen.baseMibs if name not in PySnmpCodeGen.fakeMibs]
    compiler.add_searchers(StubSearcher(*stubs))
    results = compiler.compile(*modules, rebuild=True)
    return {name: str(status) for name, status in results.items()}


def load_pysnmp(directory: Path, *modules: str) -> dict[str, dict[str, Any]]:
    """The MIB nodes (objects, notifications, groups...) of each module, by name,
    as pysnmp loads them from directory."""
    require_module("pysnmp")
    from pysnmp.smi import builder

    mib_builder = builder.MibBuilder()
    # First, ahead of pysnmp's own modules and any pysnmp_mibs package installed
    # (add_mib_sources would append, and an old copy of MIP-MIB could win).
    mib_builder.set_mib_sources(
        builder.DirMibSource(str(directory)), *mib_builder.get_mib_sources()
    )
    mib_builder.load_modules(*modules)
    (mib_node,) = mib_builder.import_symbols("SNMPv2-SMI", "MibNode")
    return {
        module: {
            name: symbol
            for name, symbol in mib_builder.mibSymbols[module].items()
            if isinstance(symbol, mib_node)
        }
        for module in modules
    }


def camel(name: str, *, upper: bool = False) -> str:
    """YANG identifier to SMI descriptor style: 'at-home' -> 'atHome'."""
    first, *rest = name.split("-")
    return (first.capitalize() if upper else first) + "".join(part.capitalize() for part in rest)


def syntax_values(syntax: Any) -> dict[str, int]:
    named = getattr(syntax, "namedValues", None)
    return dict(named.items()) if named is not None else {}


def accepts(syntax: Any, value: object) -> bool:
    from pyasn1.error import PyAsn1Error  # pysnmp's ASN.1 layer

    try:
        syntax.clone(value)
    except PyAsn1Error:  # ValueConstraintError: out of range, wrong size
        return False
    return True


class Rfc2006Node(NamedTuple):
    oid: tuple[int, ...]
    name: str
    kind: str
    base: str  # '-' for nodes without a syntax
    access: str  # '-' likewise
    named: dict[str, int]


def rfc2006_nodes() -> list[Rfc2006Node]:
    logical: list[str] = []
    for line in RFC2006_OBJECTS.strip("\n").splitlines():
        if line.startswith(" "):
            logical[-1] += " " + line.strip()
        else:
            logical.append(line)
    nodes = []
    for line in logical:
        oid, name, kind, base, access, *named = line.split()
        values = {}
        for item in named:
            match = re.fullmatch(r"(\w+)\((-?\d+)\)", item)
            assert match, item
            values[match[1]] = int(match[2])
        nodes.append(
            Rfc2006Node(tuple(int(x) for x in oid.split(".")), name, kind, base, access, values)
        )
    return nodes


def mib_clauses(text: str) -> dict[str, str]:
    """Body of every OBJECT-TYPE and NOTIFICATION-TYPE of a MIB text, by name."""
    pattern = re.compile(
        r"^(\w+)\s+(?:OBJECT-TYPE|NOTIFICATION-TYPE)\b(.*?)::=", re.MULTILINE | re.DOTALL
    )
    return {match[1]: match[2] for match in pattern.finditer(text)}


YANG_PATH = re.compile(r"proxy-mobile-ip\.yang:\s*(/[\w/-]+)")


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def snmptranslate(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """snmptranslate with an explicit MIB path and module (no '+': the default
    module list names MIBs Debian does not have), and no user or system
    snmp.conf; stderr must stay empty."""
    tool = require_tool("snmptranslate")
    home = tmp_path_factory.mktemp("net-snmp")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MIBS", "MIBDIRS", "SNMPCONFPATH", "SNMP_PERSISTENT_DIR")
    }
    env.update(SNMPCONFPATH=str(home / "conf"), SNMP_PERSISTENT_DIR=str(home / "persist"))

    def translate(module: str, *arguments: str, search: Sequence[Path] = (BASE, MIBS)) -> list[str]:
        mibdirs = ":".join(str(directory) for directory in search)
        result = run([tool, "-M", mibdirs, "-m", module, *arguments], env=env)
        # The first run creates SNMP_PERSISTENT_DIR and says so.
        errors = [
            line
            for line in result.stderr.splitlines()
            if line.strip() and not line.startswith("Created directory:")
        ]
        assert result.returncode == 0 and not errors, (
            f"snmptranslate -m {module} {' '.join(arguments[:3])}... exited "
            f"{result.returncode}:\n{result.stderr}"
        )
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]

    return translate


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both modules compiled by pysmi into a temporary directory."""
    destination = tmp_path_factory.mktemp("pysnmp-mibs")
    results = compile_pysnmp(destination, (BASE, MIBS), MIP, PROXY)
    assert results.get(MIP) == "compiled" and results.get(PROXY) == "compiled", results
    assert not {
        name for name, status in results.items() if status in ("borrowed", "failed", "missing")
    }, results
    return destination


@pytest.fixture(scope="module")
def nodes(compiled: Path) -> dict[str, dict[str, Any]]:
    return load_pysnmp(compiled, MIP, PROXY)


@pytest.fixture(scope="module")
def proxy(nodes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return nodes[PROXY]


@pytest.fixture(scope="module")
def yang() -> Iterator[Any]:
    """The YANG module, compiled by libyang; yang(path) is the schema node at a
    path written without prefixes ('/mobile-ip/proxy/lifetime')."""
    libyang = require_module("libyang")
    context = libyang.Context(str(YANG_DIR))
    context.load_module("proxy-mobile-ip")

    def node(path: str) -> Any:
        return next(context.find_path("/proxy-mobile-ip:" + path.lstrip("/")))

    yield node
    context.destroy()


def children(module_nodes: dict[str, Any], parent: tuple[int, ...]) -> list[tuple[str, Any]]:
    """The nodes directly under parent, in OID order."""
    found = [
        (node.getName(), name, node)
        for name, node in module_nodes.items()
        if node.getName()[:-1] == parent
    ]
    return [(name, node) for _oid, name, node in sorted(found)]


# --------------------------------------------------------------------------
# smilint
# --------------------------------------------------------------------------


def test_smilint_proxy_mib_prints_nothing() -> None:
    assert smilint(MIBS / PROXY, "-l", "6") == ""


def test_smilint_mip_mib_prints_only_the_inherent_warnings() -> None:
    """RFC 2006's read-only index columns and its group-less accessible-for-notify
    index are kept (docs/mib.md says why); anything else is a regression."""
    findings = smilint_findings(smilint(MIBS / MIP, "-s", "-m", "-l", "6"))
    assert len(findings) == len(set(findings))
    assert set(findings) == MIP_INHERENT_WARNINGS
    # Plain -l 6, as the issue states the check: the same seven lines.
    assert len(smilint(MIBS / MIP, "-l", "6").splitlines()) == len(MIP_INHERENT_WARNINGS)


def test_smilint_does_report_on_these_paths(tmp_path: Path) -> None:
    """The empty output above is meaningful: smilint finds the base modules on this
    SMIPATH and does report a defect planted in a copy of the module."""
    text = (MIBS / PROXY).read_text(encoding="utf-8")
    planted = text.replace(
        "    RowStatus, MacAddress\n", "    RowStatus, MacAddress, DisplayString\n"
    )
    assert planted != text
    (tmp_path / PROXY).write_text(planted, encoding="utf-8")
    findings = smilint_findings(
        smilint(tmp_path / PROXY, "-s", "-m", "-l", "6", search=(BASE, tmp_path))
    )
    assert findings == [(5, "import-unused", "DisplayString")]


# --------------------------------------------------------------------------
# net-snmp snmptranslate
# --------------------------------------------------------------------------


def dotted(oid: tuple[int, ...]) -> str:
    return "." + ".".join(str(part) for part in oid)


def test_snmptranslate_resolves_every_rfc2006_node(snmptranslate: Any) -> None:
    expected = rfc2006_nodes()
    output = snmptranslate(MIP, "-On", *(f"{MIP}::{node.name}" for node in expected))
    assert len(output) == len(expected)
    wrong = [
        f"{node.name}: {got}, RFC 2006 {dotted(node.oid)}"
        for node, got in zip(expected, output, strict=True)
        if got != dotted(node.oid)
    ]
    assert not wrong, "\n".join(wrong)
    assert all(node.oid[: len(MIP_ROOT)] == MIP_ROOT for node in expected)


PROXY_OIDS = {
    "proxyMip": ARC,
    "pmipMIB": PMIP,
    "pmipProxyEnable": (*PMIP, 1, 1, 1),
    "pmipProxyMaxOutstanding": (*PMIP, 1, 1, 7),
    "pmipSubnetMapRowStatus": (*PMIP, 1, 2, 1, 4),
    "pmipHostSaKey": (*PMIP, 1, 3, 1, 4),
    "pmipHostSaRowStatus": (*PMIP, 1, 3, 1, 8),
    "pmipVisitorState": (*PMIP, 1, 4, 1, 7),
    "pmipAssociations": (*PMIP, 1, 5, 1),
    "pmipQueued": (*PMIP, 1, 5, 22),
    "pmipNotifyBindingLostReason": (*PMIP, 1, 6, 4),
    "pmipRegistrationDenied": (*PMIP, 0, 1),
    "pmipAuthenticationFailure": (*PMIP, 0, 2),
    "pmipBindingLost": (*PMIP, 0, 3),
    "pmipNotificationsGroup": (*PMIP, 2, 1, 7),
    "pmipCompliance": (*PMIP, 2, 2, 1),
}


def test_snmptranslate_resolves_proxy_mib_objects(snmptranslate: Any) -> None:
    output = snmptranslate(PROXY, "-On", *(f"{PROXY}::{name}" for name in PROXY_OIDS))
    assert output == [dotted(oid) for oid in PROXY_OIDS.values()]


def test_snmptranslate_encodes_proxy_mib_indexes(snmptranslate: Any) -> None:
    """Instances: subnet map (IpAddress, length), host SA (IpAddress, SPI),
    visitor (MacAddress, fixed size: no length sub-identifier); both ways."""
    instances = {
        f"{PROXY}::pmipSubnetMapHomeAgent.10.1.0.0.16": (*PMIP, 1, 2, 1, 3, 10, 1, 0, 0, 16),
        f"{PROXY}::pmipHostSaRowStatus.192.0.2.1.256": (*PMIP, 1, 3, 1, 8, 192, 0, 2, 1, 256),
        f"{PROXY}::pmipVisitorState.2.0.0.0.0.1": (*PMIP, 1, 4, 1, 7, 2, 0, 0, 0, 0, 1),
    }
    assert snmptranslate(PROXY, "-On", *instances) == [dotted(oid) for oid in instances.values()]
    assert snmptranslate(PROXY, "-OS", "-Ob", *(dotted(oid) for oid in instances.values())) == list(
        instances
    )


# --------------------------------------------------------------------------
# pysmi, then pysnmp
# --------------------------------------------------------------------------

#: pysmi 2 compiles 'x OBJECT IDENTIFIER ::= ...' to ObjectIdentity; the RFC 2006
#: object list (pysnmp 4) says MibIdentifier.
KIND = {"MibIdentifier": "ObjectIdentity"}
ACCESS = {
    "readonly": "read-only",
    "readwrite": "read-write",
    "readcreate": "read-create",
    "noaccess": "not-accessible",
    "notifyonly": "accessible-for-notify",
}


def test_pysmi_compiles_both_modules_from_local_texts_only(compiled: Path) -> None:
    assert sorted(path.name for path in compiled.glob("*.py")) == [f"{MIP}.py", f"{PROXY}.py"]


def test_mip_mib_matches_rfc2006_node_by_node(nodes: dict[str, dict[str, Any]]) -> None:
    """Every RFC 2006 node, and no other: OID, kind, base syntax, access and
    enumeration (INTEGER and BITS labels, the misspelt names included)."""
    actual = dict(nodes[MIP])
    problems = []
    for expected in rfc2006_nodes():
        node = actual.pop(expected.name, None)
        if node is None:
            problems.append(f"{expected.name}: missing")
            continue
        if node.getName() != expected.oid:
            problems.append(f"{expected.name}: OID {node.getName()}, RFC 2006 {expected.oid}")
        kind = type(node).__name__
        if kind != KIND.get(expected.kind, expected.kind):
            problems.append(f"{expected.name}: {kind}, RFC 2006 {expected.kind}")
        if expected.access != "-" and node.getMaxAccess() != ACCESS[expected.access]:
            problems.append(f"{expected.name}: {node.getMaxAccess()}, RFC 2006 {expected.access}")
        if expected.base != "-":
            syntax = node.getSyntax()
            base = type(syntax).__name__
            # An enumerated INTEGER is an Integer32 with named values in pysnmp 7.
            want = "Integer32" if expected.base == "Integer" else expected.base
            if base != want:
                problems.append(f"{expected.name}: syntax {base}, RFC 2006 {expected.base}")
            if expected.base in ("Integer", "Bits") and syntax_values(syntax) != expected.named:
                problems.append(
                    f"{expected.name}: values {syntax_values(syntax)}, RFC 2006 {expected.named}"
                )
    problems.extend(f"{name}: not an RFC 2006 node" for name in actual)
    assert not problems, "\n".join(problems)


def test_mip_mib_keeps_rfc2006_details(nodes: dict[str, dict[str, Any]]) -> None:
    mip = nodes[MIP]
    assert mip["mipSecAssocEntry"].getIndexNames() == (
        (0, MIP, "mipSecPeerAddress"),
        (0, MIP, "mipSecSPI"),
    )
    assert mip["haCounterEntry"].getIndexNames() == ((0, MIP, "haMobilityBindingMN"),)
    assert mip["mnRegistrationEntry"].getIndexNames() == (
        (0, MIP, "mnRegAgentAddress"),
        (0, MIP, "mnRegCOA"),
    )
    key = mip["mipSecKey"].getSyntax()
    assert accepts(key, b"k" * 16) and not accepts(key, b"k" * 17)
    assert syntax_values(mip["mnRegFlags"].getSyntax()) == {
        "vjCompression": 0,
        "gre": 1,
        "minEnc": 2,
        "decapsulationbyMN": 3,
        "broadcastDatagram": 4,
        "simultaneousBindings": 5,
    }
    assert mip["mipAuthFailure"].getObjects() == tuple(
        (MIP, name)
        for name in (
            "mipSecViolatorAddress",
            "mipSecRecentViolationSPI",
            "mipSecRecentViolationIDLow",
            "mipSecRecentViolationIDHigh",
            "mipSecRecentViolationReason",
        )
    )


def test_proxy_settings(proxy: dict[str, Any]) -> None:
    scalars = children(proxy, (*PMIP, 1, 1))
    assert [name for name, _ in scalars] == [
        "pmipProxyEnable",
        "pmipProxyLifetime",
        "pmipProxyReregistrationMargin",
        "pmipProxyRetransmitInitial",
        "pmipProxyRetransmitMaximum",
        "pmipProxyRetransmitAttempts",
        "pmipProxyMaxOutstanding",
    ]
    for name, node in scalars:
        assert type(node).__name__ == "MibScalar" and node.getMaxAccess() == "read-write", name
    assert syntax_values(proxy["pmipProxyEnable"].getSyntax()) == {"enabled": 1, "disabled": 2}
    lifetime = proxy["pmipProxyLifetime"].getSyntax()
    assert accepts(lifetime, 65535) and not accepts(lifetime, 0) and not accepts(lifetime, 65536)
    initial = proxy["pmipProxyRetransmitInitial"].getSyntax()
    assert accepts(initial, 1000) and not accepts(initial, 999)  # at least one second
    attempts = proxy["pmipProxyRetransmitAttempts"].getSyntax()
    assert accepts(attempts, 20) and not accepts(attempts, 21) and not accepts(attempts, 0)


@pytest.mark.parametrize(
    ("entry", "index", "columns"),
    [
        (
            "pmipSubnetMapEntry",
            {"pmipSubnetMapPrefix": "IpAddress", "pmipSubnetMapPrefixLength": "Unsigned32"},
            ["pmipSubnetMapHomeAgent", "pmipSubnetMapRowStatus"],
        ),
        (
            "pmipHostSaEntry",
            {"pmipHostSaAddress": "IpAddress", "pmipHostSaSpi": "Unsigned32"},
            [
                "pmipHostSaLastAddress",
                "pmipHostSaKey",
                "pmipHostSaAlgorithm",
                "pmipHostSaReplayMethod",
                "pmipHostSaReplayWindow",
                "pmipHostSaRowStatus",
            ],
        ),
    ],
)
def test_configuration_tables_are_read_create_with_row_status(
    proxy: dict[str, Any], entry: str, index: dict[str, str], columns: list[str]
) -> None:
    row = proxy[entry]
    assert row.getIndexNames() == tuple((0, PROXY, name) for name in index)
    found = children(proxy, row.getName())
    assert [name for name, _ in found] == [*index, *columns]
    for name, node in found:
        if name in index:
            assert node.getMaxAccess() == "not-accessible", name
            assert type(node.getSyntax()).__name__ == index[name], name
        else:
            assert node.getMaxAccess() == "read-create", name
    assert type(found[-1][1].getSyntax()).__name__ == "RowStatus"


def test_table_index_ranges(proxy: dict[str, Any]) -> None:
    length = proxy["pmipSubnetMapPrefixLength"].getSyntax()
    assert accepts(length, 0) and accepts(length, 32) and not accepts(length, 33)
    spi = proxy["pmipHostSaSpi"].getSyntax()
    assert accepts(spi, 256) and accepts(spi, 2**32 - 1) and not accepts(spi, 255)


def test_host_sa_key_is_write_only(proxy: dict[str, Any]) -> None:
    """Read-create, 16 to 64 octets when set, and the zero-length value every read
    returns is within the syntax (pysnmp would refuse to serve it otherwise)."""
    node = proxy["pmipHostSaKey"]
    assert node.getMaxAccess() == "read-create"
    syntax = node.getSyntax()
    assert type(syntax).__name__ == "OctetString"
    assert [accepts(syntax, b"k" * size) for size in (0, 1, 15, 16, 64, 65)] == [
        True,
        False,
        False,
        True,
        True,
        False,
    ]
    assert (
        "reading this object always\n         returns a zero-length value"
        in mib_clauses((MIBS / PROXY).read_text(encoding="utf-8"))["pmipHostSaKey"]
    )


def test_visitor_table(proxy: dict[str, Any], yang: Any) -> None:
    row = proxy["pmipVisitorEntry"]
    assert row.getIndexNames() == ((0, PROXY, "pmipVisitorMac"),)
    assert type(proxy["pmipVisitorMac"].getSyntax()).__name__ == "MacAddress"
    for name, node in children(proxy, row.getName())[1:]:
        assert node.getMaxAccess() == "read-only", name
    states = [enum.name() for enum in yang("/mobile-ip/proxy-state/visitor/state").type().enums()]
    assert syntax_values(proxy["pmipVisitorState"].getSyntax()) == {
        camel(state): number for number, state in enumerate(states, start=1)
    }


#: Counter descriptors that cannot be 'pmip' + the YANG leaf in CamelCase
#: (SMIv2 descriptors should not exceed 32 characters).
COUNTER_NAMES = {"not-proxied-no-security-association": "pmipNotProxiedNoSecAssociation"}


def test_counters_mirror_the_yang_counters(proxy: dict[str, Any], yang: Any) -> None:
    leaves = [leaf.name() for leaf in yang("/mobile-ip/proxy-state/counters").children()]
    expected = [COUNTER_NAMES.get(leaf, "pmip" + camel(leaf, upper=True)) for leaf in leaves]
    found = children(proxy, (*PMIP, 1, 5))
    assert [name for name, _ in found] == expected
    for name, node in found:
        assert type(node).__name__ == "MibScalar", name
        assert type(node.getSyntax()).__name__ == "Counter32", name
        assert node.getMaxAccess() == "read-only", name
        assert len(name) <= 32, name


def test_notifications(proxy: dict[str, Any]) -> None:
    expected = {
        "pmipRegistrationDenied": (
            "pmipVisitorHomeAddress",
            "pmipVisitorHomeAgent",
            "pmipVisitorForeignAgent",
            "pmipVisitorLastReplyCode",
        ),
        "pmipAuthenticationFailure": (
            "pmipVisitorHomeAddress",
            "pmipNotifyPeerAddress",
            "pmipNotifySpi",
            "pmipNotifyViolationReason",
        ),
        "pmipBindingLost": (
            "pmipVisitorHomeAddress",
            "pmipVisitorHomeAgent",
            "pmipVisitorCareOfAddress",
            "pmipVisitorState",
            "pmipNotifyBindingLostReason",
        ),
    }
    found = children(proxy, (*PMIP, 0))
    assert [name for name, _ in found] == list(expected)
    for name, node in found:
        assert type(node).__name__ == "NotificationType"
        assert node.getObjects() == tuple((PROXY, obj) for obj in expected[name]), name
    for name, node in children(proxy, (*PMIP, 1, 6)):
        assert node.getMaxAccess() == "accessible-for-notify", name
    # The violation reasons are MIP-MIB's, label for label.
    assert syntax_values(proxy["pmipNotifyViolationReason"].getSyntax()) == rfc2006_values(
        "mipSecRecentViolationReason"
    )
    group = proxy["pmipNotificationsGroup"]
    assert group.getObjects() == tuple((PROXY, name) for name in expected)


def rfc2006_values(name: str) -> dict[str, int]:
    return next(node.named for node in rfc2006_nodes() if node.name == name)


#: MIB object with a DEFVAL -> (YANG leaf, MIB units per YANG unit; None: an
#: enumeration whose label is the YANG one in camelCase).
YANG_DEFAULTS: dict[str, tuple[str, int | None]] = {
    "pmipProxyLifetime": ("/mobile-ip/proxy/lifetime", 1),
    "pmipProxyReregistrationMargin": ("/mobile-ip/proxy/reregistration-margin", 1000),
    "pmipProxyRetransmitInitial": ("/mobile-ip/proxy/retransmit/initial", 1000),
    "pmipProxyRetransmitMaximum": ("/mobile-ip/proxy/retransmit/maximum", 1000),
    "pmipProxyRetransmitAttempts": ("/mobile-ip/proxy/retransmit/attempts", 1),
    "pmipProxyMaxOutstanding": ("/mobile-ip/proxy/max-outstanding", 1),
    "pmipHostSaAlgorithm": ("/mobile-ip/security/host/algorithm", None),
    "pmipHostSaReplayMethod": ("/mobile-ip/security/host/replay-method", None),
    "pmipHostSaReplayWindow": ("/mobile-ip/security/host/replay-window", 1),
}


def test_defaults_are_the_yang_defaults(proxy: dict[str, Any], yang: Any) -> None:
    with_defval = {
        name
        for name, node in proxy.items()
        if hasattr(node, "getSyntax")
        and node.getSyntax() is not None
        and node.getSyntax().hasValue()
    }
    # pmipHostSaLastAddress 0.0.0.0 stands for the absent YANG leaf (no range).
    assert with_defval == {*YANG_DEFAULTS, "pmipHostSaLastAddress"}
    assert proxy["pmipHostSaLastAddress"].getSyntax().prettyPrint() == "0.0.0.0"
    for name, (path, scale) in YANG_DEFAULTS.items():
        syntax, default = proxy[name].getSyntax(), yang(path).default()
        assert default is not None, path
        if scale is None:
            assert syntax.prettyPrint() == camel(str(default)), name
        else:
            assert Decimal(int(syntax)) == Decimal(str(default)) * scale, name


def test_reference_clauses_name_existing_yang_nodes(proxy: dict[str, Any], yang: Any) -> None:
    """Every object an agent serves (not the indexes, RowStatus columns and
    notification-only objects) names the YANG node it mirrors, and that node
    exists: the map the SNMP instrumentation will be built on."""
    clauses = mib_clauses((MIBS / PROXY).read_text(encoding="utf-8"))
    paths = {name: YANG_PATH.findall(body) for name, body in clauses.items()}
    for found in paths.values():
        for path in found:
            yang(path)  # raises when the YANG module has no such node
    served = {
        name
        for name, node in proxy.items()
        if type(node).__name__ in ("MibScalar", "MibTableColumn")
        and node.getMaxAccess() in ("read-only", "read-write", "read-create")
        and type(node.getSyntax()).__name__ != "RowStatus"
    }
    assert not {name for name in served if not paths.get(name)}


def test_conformance(proxy: dict[str, Any]) -> None:
    """Every object is in exactly one group (smilint checks 'at least one'), and
    both compliance statements exist."""
    groups = [node for node in proxy.values() if type(node).__name__ == "ObjectGroup"]
    members = [obj for group in groups for _module, obj in group.getObjects()]
    assert len(members) == len(set(members))
    objects = {
        name
        for name, node in proxy.items()
        if type(node).__name__ in ("MibScalar", "MibTableColumn")
        and node.getMaxAccess() != "not-accessible"
    }
    assert set(members) == objects
    assert [name for name, _ in children(proxy, (*PMIP, 2, 2))] == [
        "pmipCompliance",
        "pmipReadOnlyCompliance",
    ]


# --------------------------------------------------------------------------
# The enterprise arc
# --------------------------------------------------------------------------


def test_relocating_the_arc_is_one_edit(tmp_path: Path, proxy: dict[str, Any]) -> None:
    text = (MIBS / PROXY).read_text(encoding="utf-8")
    code = [line for line in text.splitlines() if "32473" in line.split("--")[0]]
    assert code == ["proxyMip OBJECT IDENTIFIER ::= { enterprises ianaExample(32473) 2 }"]
    moved_dir = tmp_path / "mibs"
    moved_dir.mkdir()
    (moved_dir / PROXY).write_text(
        text.replace(code[0], "proxyMip OBJECT IDENTIFIER ::= { enterprises example(99999) 7 }"),
        encoding="utf-8",
    )
    assert smilint(moved_dir / PROXY, "-l", "6", search=(BASE, moved_dir)) == ""
    out = tmp_path / "py"
    out.mkdir()
    assert compile_pysnmp(out, (BASE, moved_dir), PROXY)[PROXY] == "compiled"
    moved = load_pysnmp(out, PROXY)[PROXY]
    arc = (1, 3, 6, 1, 4, 1, 99999, 7)
    assert set(moved) == set(proxy)
    for name, node in moved.items():
        assert node.getName() == arc + proxy[name].getName()[len(ARC) :], name


# --------------------------------------------------------------------------
# The vendored base texts, the fetch script, the docs
# --------------------------------------------------------------------------


def test_base_mibs_are_the_pinned_vendored_texts() -> None:
    assert sorted(path.name for path in BASE.iterdir()) == sorted(BASE_SHA256)
    for name, digest in BASE_SHA256.items():
        data = (BASE / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, (
            f"mibs/base/{name} changed: compare with tools/fetch_base_mibs.sh --check"
        )
        first = next(
            line
            for line in data.decode("ascii").splitlines()
            if line.strip() and not line.startswith("--")
        )
        assert re.match(rf"\s*{re.escape(name)}\s+DEFINITIONS\s*::=\s*BEGIN", first), name


def test_fetch_script_fetches_exactly_the_vendored_files() -> None:
    script = FETCH_SCRIPT.read_text(encoding="utf-8")
    listed = re.search(r'^MODULES="([^"]+)"$', script, re.MULTILINE)
    assert listed and sorted(listed[1].split()) == sorted(BASE_SHA256)
    assert re.search(r"^PINNED_VERSION=3\.29\.2$", script, re.MULTILINE)
    assert os.access(FETCH_SCRIPT, os.X_OK)
    bash = shutil.which("bash")
    if bash:
        result = run([bash, "-n", str(FETCH_SCRIPT)])
        assert result.returncode == 0, result.stderr


def load_docs_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_mib_docs", DOCS_TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_docs_tables_are_current() -> None:
    require_module("pysmi")
    result = run([sys.executable, str(DOCS_TOOL), "--check"])
    assert result.returncode == 0, (
        "docs/mib.md is stale: run python3 tools/gen_mib_docs.py\n" + result.stderr
    )


def test_docs_list_every_node(tmp_path: Path) -> None:
    require_module("pysmi")
    tool = load_docs_tool()
    tables = tool.generate_tables(tool.compile_json(tool.MODULES, (BASE, MIBS)))
    for node in rfc2006_nodes():
        assert f"| `{'.'.join(map(str, node.oid))}` | `{node.name}` |" in tables, node.name
    assert "pmipHostSaKey` | column | OCTET STRING (SIZE(0 \\| 16..64)) | read-create" in tables


# --------------------------------------------------------------------------
# The RFC 2006 object list
# --------------------------------------------------------------------------

#: Every node of MIP-MIB as RFC 2006 defines it, derived from the compiled module
#: of Debian's python3-pysnmp4-mibs 0.1.3 (the only machine-readable copy offline):
#: OID, name, pysnmp 4 kind, base syntax and access ('-': none), then the
#: enumeration or BITS labels. Indented lines continue the line above.
RFC2006_OBJECTS = """
1.3.6.1.2.1.44 mipMIB ModuleIdentity - -
1.3.6.1.2.1.44.1 mipMIBObjects MibIdentifier - -
1.3.6.1.2.1.44.1.1 mipSystem MibIdentifier - -
1.3.6.1.2.1.44.1.1.1 mipEntities MibScalar Bits readonly mobileNode(0) foreignAgent(1)
    homeAgent(2)
1.3.6.1.2.1.44.1.1.2 mipEnable MibScalar Integer readwrite enabled(1) disabled(2)
1.3.6.1.2.1.44.1.1.3 mipEncapsulationSupported MibScalar Bits readonly ipInIp(0) gre(1)
    minEnc(2) other(3)
1.3.6.1.2.1.44.1.2 mipSecurity MibIdentifier - -
1.3.6.1.2.1.44.1.2.1 mipSecAssocTable MibTable - -
1.3.6.1.2.1.44.1.2.1.1 mipSecAssocEntry MibTableRow - -
1.3.6.1.2.1.44.1.2.1.1.1 mipSecPeerAddress MibTableColumn IpAddress noaccess
1.3.6.1.2.1.44.1.2.1.1.2 mipSecSPI MibTableColumn Unsigned32 noaccess
1.3.6.1.2.1.44.1.2.1.1.3 mipSecAlgorithmType MibTableColumn Integer readcreate other(1) md5(2)
1.3.6.1.2.1.44.1.2.1.1.4 mipSecAlgorithmMode MibTableColumn Integer readcreate other(1)
    prefixSuffix(2)
1.3.6.1.2.1.44.1.2.1.1.5 mipSecKey MibTableColumn OctetString readcreate
1.3.6.1.2.1.44.1.2.1.1.6 mipSecReplayMethod MibTableColumn Integer readcreate other(1)
    timestamps(2) nonces(3)
1.3.6.1.2.1.44.1.2.2 mipSecTotalViolations MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.2.3 mipSecViolationTable MibTable - -
1.3.6.1.2.1.44.1.2.3.1 mipSecViolationEntry MibTableRow - -
1.3.6.1.2.1.44.1.2.3.1.1 mipSecViolatorAddress MibTableColumn IpAddress notifyonly
1.3.6.1.2.1.44.1.2.3.1.2 mipSecViolationCounter MibTableColumn Counter32 readonly
1.3.6.1.2.1.44.1.2.3.1.3 mipSecRecentViolationSPI MibTableColumn Integer32 readonly
1.3.6.1.2.1.44.1.2.3.1.4 mipSecRecentViolationTime MibTableColumn TimeStamp readonly
1.3.6.1.2.1.44.1.2.3.1.5 mipSecRecentViolationIDLow MibTableColumn Integer32 readonly
1.3.6.1.2.1.44.1.2.3.1.6 mipSecRecentViolationIDHigh MibTableColumn Integer32 readonly
1.3.6.1.2.1.44.1.2.3.1.7 mipSecRecentViolationReason MibTableColumn Integer readonly
    noMobilitySecurityAssociation(1) badAuthenticator(2) badIdentifier(3) badSPI(4)
    missingSecurityExtension(5) other(6)
1.3.6.1.2.1.44.1.3 mipMN MibIdentifier - -
1.3.6.1.2.1.44.1.3.1 mnSystem MibIdentifier - -
1.3.6.1.2.1.44.1.3.1.1 mnState MibScalar Integer readonly home(1) registered(2) pending(3)
    isolated(4) unknown(5)
1.3.6.1.2.1.44.1.3.1.2 mnHomeAddress MibScalar IpAddress readonly
1.3.6.1.2.1.44.1.3.1.3 mnHATable MibTable - -
1.3.6.1.2.1.44.1.3.1.3.1 mnHAEntry MibTableRow - -
1.3.6.1.2.1.44.1.3.1.3.1.1 mnHAAddress MibTableColumn IpAddress noaccess
1.3.6.1.2.1.44.1.3.1.3.1.2 mnCurrentHA MibTableColumn TruthValue readonly
1.3.6.1.2.1.44.1.3.1.3.1.3 mnHAStatus MibTableColumn RowStatus readcreate
1.3.6.1.2.1.44.1.3.2 mnDiscovery MibIdentifier - -
1.3.6.1.2.1.44.1.3.2.1 mnFATable MibTable - -
1.3.6.1.2.1.44.1.3.2.1.1 mnFAEntry MibTableRow - -
1.3.6.1.2.1.44.1.3.2.1.1.1 mnFAAddress MibTableColumn IpAddress readonly
1.3.6.1.2.1.44.1.3.2.1.1.2 mnCOA MibTableColumn IpAddress readonly
1.3.6.1.2.1.44.1.3.2.2 mnRecentAdvReceived MibIdentifier - -
1.3.6.1.2.1.44.1.3.2.2.1 mnAdvSourceAddress MibScalar IpAddress readonly
1.3.6.1.2.1.44.1.3.2.2.2 mnAdvSequence MibScalar Integer32 readonly
1.3.6.1.2.1.44.1.3.2.2.3 mnAdvFlags MibScalar Bits readonly vjCompression(0) gre(1) minEnc(2)
    foreignAgent(3) homeAgent(4) busy(5) regRequired(6)
1.3.6.1.2.1.44.1.3.2.2.4 mnAdvMaxRegLifetime MibScalar Integer32 readonly
1.3.6.1.2.1.44.1.3.2.2.5 mnAdvMaxAdvLifetime MibScalar Integer32 readonly
1.3.6.1.2.1.44.1.3.2.2.6 mnAdvTimeReceived MibScalar TimeStamp readonly
1.3.6.1.2.1.44.1.3.2.3 mnSolicitationsSent MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.2.4 mnAdvertisementsReceived MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.2.5 mnAdvsDroppedInvalidExtension MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.2.6 mnAdvsIgnoredUnknownExtension MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.2.7 mnMoveFromHAToFA MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.2.8 mnMoveFromFAToFA MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.2.9 mnMoveFromFAToHA MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.2.10 mnGratuitousARPsSend MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.2.11 mnAgentRebootsDectected MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3 mnRegistration MibIdentifier - -
1.3.6.1.2.1.44.1.3.3.1 mnRegistrationTable MibTable - -
1.3.6.1.2.1.44.1.3.3.1.1 mnRegistrationEntry MibTableRow - -
1.3.6.1.2.1.44.1.3.3.1.1.1 mnRegAgentAddress MibTableColumn IpAddress readonly
1.3.6.1.2.1.44.1.3.3.1.1.2 mnRegCOA MibTableColumn IpAddress readonly
1.3.6.1.2.1.44.1.3.3.1.1.3 mnRegFlags MibTableColumn RegistrationFlags readonly
1.3.6.1.2.1.44.1.3.3.1.1.4 mnRegIDLow MibTableColumn Integer32 readonly
1.3.6.1.2.1.44.1.3.3.1.1.5 mnRegIDHigh MibTableColumn Integer32 readonly
1.3.6.1.2.1.44.1.3.3.1.1.6 mnRegTimeRequested MibTableColumn Integer32 readonly
1.3.6.1.2.1.44.1.3.3.1.1.7 mnRegTimeRemaining MibTableColumn Gauge32 readonly
1.3.6.1.2.1.44.1.3.3.1.1.8 mnRegTimeSent MibTableColumn TimeStamp readonly
1.3.6.1.2.1.44.1.3.3.1.1.9 mnRegIsAccepted MibTableColumn TruthValue readonly
1.3.6.1.2.1.44.1.3.3.1.1.10 mnCOAIsLocal MibTableColumn TruthValue readonly
1.3.6.1.2.1.44.1.3.3.2 mnRegRequestsSent MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.3 mnDeRegRequestsSent MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.4 mnRegRepliesRecieved MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.5 mnDeRegRepliesRecieved MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.6 mnRepliesInvalidHomeAddress MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.7 mnRepliesUnknownHA MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.8 mnRepliesUnknownFA MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.9 mnRepliesInvalidID MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.10 mnRepliesDroppedInvalidExtension MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.11 mnRepliesIgnoredUnknownExtension MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.12 mnRepliesHAAuthenticationFailure MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.13 mnRepliesFAAuthenticationFailure MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.14 mnRegRequestsAccepted MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.15 mnRegRequestsDeniedByHA MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.16 mnRegRequestsDeniedByFA MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.17 mnRegRequestsDeniedByHADueToID MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.3.3.18 mnRegRequestsWithDirectedBroadcast MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.4 mipMA MibIdentifier - -
1.3.6.1.2.1.44.1.4.2 maAdvertisement MibIdentifier - -
1.3.6.1.2.1.44.1.4.2.1 maAdvConfigTable MibTable - -
1.3.6.1.2.1.44.1.4.2.1.1 maAdvConfigEntry MibTableRow - -
1.3.6.1.2.1.44.1.4.2.1.1.1 maInterfaceAddress MibTableColumn IpAddress noaccess
1.3.6.1.2.1.44.1.4.2.1.1.2 maAdvMaxRegLifetime MibTableColumn Integer32 readcreate
1.3.6.1.2.1.44.1.4.2.1.1.3 maAdvPrefixLengthInclusion MibTableColumn TruthValue readcreate
1.3.6.1.2.1.44.1.4.2.1.1.4 maAdvAddress MibTableColumn IpAddress readcreate
1.3.6.1.2.1.44.1.4.2.1.1.5 maAdvMaxInterval MibTableColumn Integer32 readcreate
1.3.6.1.2.1.44.1.4.2.1.1.6 maAdvMinInterval MibTableColumn Integer32 readcreate
1.3.6.1.2.1.44.1.4.2.1.1.7 maAdvMaxAdvLifetime MibTableColumn Integer32 readcreate
1.3.6.1.2.1.44.1.4.2.1.1.8 maAdvResponseSolicitationOnly MibTableColumn TruthValue readcreate
1.3.6.1.2.1.44.1.4.2.1.1.9 maAdvStatus MibTableColumn RowStatus readcreate
1.3.6.1.2.1.44.1.4.2.2 maAdvertisementsSent MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.4.2.3 maAdvsSentForSolicitation MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.4.2.4 maSolicitationsReceived MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5 mipFA MibIdentifier - -
1.3.6.1.2.1.44.1.5.1 faSystem MibIdentifier - -
1.3.6.1.2.1.44.1.5.1.1 faCOATable MibTable - -
1.3.6.1.2.1.44.1.5.1.1.1 faCOAEntry MibTableRow - -
1.3.6.1.2.1.44.1.5.1.1.1.1 faSupportedCOA MibTableColumn IpAddress noaccess
1.3.6.1.2.1.44.1.5.1.1.1.2 faCOAStatus MibTableColumn RowStatus readcreate
1.3.6.1.2.1.44.1.5.2 faAdvertisement MibIdentifier - -
1.3.6.1.2.1.44.1.5.2.1 faIsBusy MibScalar TruthValue readonly
1.3.6.1.2.1.44.1.5.2.2 faRegistrationRequired MibScalar TruthValue readwrite
1.3.6.1.2.1.44.1.5.3 faRegistration MibIdentifier - -
1.3.6.1.2.1.44.1.5.3.1 faVisitorTable MibTable - -
1.3.6.1.2.1.44.1.5.3.1.1 faVisitorEntry MibTableRow - -
1.3.6.1.2.1.44.1.5.3.1.1.1 faVisitorIPAddress MibTableColumn IpAddress readonly
1.3.6.1.2.1.44.1.5.3.1.1.2 faVisitorHomeAddress MibTableColumn IpAddress readonly
1.3.6.1.2.1.44.1.5.3.1.1.3 faVisitorHomeAgentAddress MibTableColumn IpAddress readonly
1.3.6.1.2.1.44.1.5.3.1.1.4 faVisitorTimeGranted MibTableColumn Integer32 readonly
1.3.6.1.2.1.44.1.5.3.1.1.5 faVisitorTimeRemaining MibTableColumn Gauge32 readonly
1.3.6.1.2.1.44.1.5.3.1.1.6 faVisitorRegFlags MibTableColumn RegistrationFlags readonly
1.3.6.1.2.1.44.1.5.3.1.1.7 faVisitorRegIDLow MibTableColumn Integer32 readonly
1.3.6.1.2.1.44.1.5.3.1.1.8 faVisitorRegIDHigh MibTableColumn Integer32 readonly
1.3.6.1.2.1.44.1.5.3.1.1.9 faVisitorRegIsAccepted MibTableColumn TruthValue readonly
1.3.6.1.2.1.44.1.5.3.2 faRegRequestsReceived MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.3 faRegRequestsRelayed MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.4 faReasonUnspecified MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.5 faAdmProhibited MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.6 faInsufficientResource MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.7 faMNAuthenticationFailure MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.8 faRegLifetimeTooLong MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.9 faPoorlyFormedRequests MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.10 faEncapsulationUnavailable MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.11 faVJCompressionUnavailable MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.12 faHAUnreachable MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.13 faRegRepliesRecieved MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.14 faRegRepliesRelayed MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.15 faHAAuthenticationFailure MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.5.3.16 faPoorlyFormedReplies MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6 mipHA MibIdentifier - -
1.3.6.1.2.1.44.1.6.3 haRegistration MibIdentifier - -
1.3.6.1.2.1.44.1.6.3.1 haMobilityBindingTable MibTable - -
1.3.6.1.2.1.44.1.6.3.1.1 haMobilityBindingEntry MibTableRow - -
1.3.6.1.2.1.44.1.6.3.1.1.1 haMobilityBindingMN MibTableColumn IpAddress readonly
1.3.6.1.2.1.44.1.6.3.1.1.2 haMobilityBindingCOA MibTableColumn IpAddress readonly
1.3.6.1.2.1.44.1.6.3.1.1.3 haMobilityBindingSourceAddress MibTableColumn IpAddress readonly
1.3.6.1.2.1.44.1.6.3.1.1.4 haMobilityBindingRegFlags MibTableColumn RegistrationFlags readonly
1.3.6.1.2.1.44.1.6.3.1.1.5 haMobilityBindingRegIDLow MibTableColumn Integer32 readonly
1.3.6.1.2.1.44.1.6.3.1.1.6 haMobilityBindingRegIDHigh MibTableColumn Integer32 readonly
1.3.6.1.2.1.44.1.6.3.1.1.7 haMobilityBindingTimeGranted MibTableColumn Integer32 readonly
1.3.6.1.2.1.44.1.6.3.1.1.8 haMobilityBindingTimeRemaining MibTableColumn Gauge32 readonly
1.3.6.1.2.1.44.1.6.3.2 haCounterTable MibTable - -
1.3.6.1.2.1.44.1.6.3.2.1 haCounterEntry MibTableRow - -
1.3.6.1.2.1.44.1.6.3.2.1.2 haServiceRequestsAccepted MibTableColumn Counter32 readonly
1.3.6.1.2.1.44.1.6.3.2.1.3 haServiceRequestsDenied MibTableColumn Counter32 readonly
1.3.6.1.2.1.44.1.6.3.2.1.4 haOverallServiceTime MibTableColumn Gauge32 readonly
1.3.6.1.2.1.44.1.6.3.2.1.5 haRecentServiceAcceptedTime MibTableColumn TimeStamp readonly
1.3.6.1.2.1.44.1.6.3.2.1.6 haRecentServiceDeniedTime MibTableColumn TimeStamp readonly
1.3.6.1.2.1.44.1.6.3.2.1.7 haRecentServiceDeniedCode MibTableColumn Integer readonly
    reasonUnspecified(128) admProhibited(129) insufficientResource(130)
    mnAuthenticationFailure(131) faAuthenticationFailure(132) idMismatch(133)
    poorlyFormedRequest(134) tooManyBindings(135) unknownHA(136)
1.3.6.1.2.1.44.1.6.3.3 haRegistrationAccepted MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.4 haMultiBindingUnsupported MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.5 haReasonUnspecified MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.6 haAdmProhibited MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.7 haInsufficientResource MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.8 haMNAuthenticationFailure MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.9 haFAAuthenticationFailure MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.10 haIDMismatch MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.11 haPoorlyFormedRequest MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.12 haTooManyBindings MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.13 haUnknownHA MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.14 haGratuitiousARPsSent MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.15 haProxyARPsSent MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.16 haRegRequestsReceived MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.17 haDeRegRequestsReceived MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.18 haRegRepliesSent MibScalar Counter32 readonly
1.3.6.1.2.1.44.1.6.3.19 haDeRegRepliesSent MibScalar Counter32 readonly
1.3.6.1.2.1.44.2 mipMIBNotificationPrefix MibIdentifier - -
1.3.6.1.2.1.44.2.0 mipMIBNotifications MibIdentifier - -
1.3.6.1.2.1.44.2.0.1 mipAuthFailure NotificationType - -
1.3.6.1.2.1.44.3 mipMIBConformance MibIdentifier - -
1.3.6.1.2.1.44.3.1 mipGroups MibIdentifier - -
1.3.6.1.2.1.44.3.1.1 mipSystemGroup ObjectGroup - -
1.3.6.1.2.1.44.3.1.2 mipSecAssociationGroup ObjectGroup - -
1.3.6.1.2.1.44.3.1.3 mipSecViolationGroup ObjectGroup - -
1.3.6.1.2.1.44.3.1.4 mnSystemGroup ObjectGroup - -
1.3.6.1.2.1.44.3.1.5 mnDiscoveryGroup ObjectGroup - -
1.3.6.1.2.1.44.3.1.6 mnRegistrationGroup ObjectGroup - -
1.3.6.1.2.1.44.3.1.7 maAdvertisementGroup ObjectGroup - -
1.3.6.1.2.1.44.3.1.8 faSystemGroup ObjectGroup - -
1.3.6.1.2.1.44.3.1.9 faAdvertisementGroup ObjectGroup - -
1.3.6.1.2.1.44.3.1.10 faRegistrationGroup ObjectGroup - -
1.3.6.1.2.1.44.3.1.11 haRegistrationGroup ObjectGroup - -
1.3.6.1.2.1.44.3.1.12 haRegNodeCountersGroup ObjectGroup - -
1.3.6.1.2.1.44.3.1.13 mipSecNotificationsGroup NotificationGroup - -
1.3.6.1.2.1.44.3.2 mipCompliances MibIdentifier - -
1.3.6.1.2.1.44.3.2.1 mipCompliance ModuleCompliance - -
"""
