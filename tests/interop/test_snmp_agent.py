"""The SNMP agent against net-snmp's own tools, on loopback, in the lab of
``proxymip run`` processes (HA on 127.0.0.2, FA-A 127.0.0.3, AP-A 127.0.0.4, ...)
with an ``snmp-agent`` container in the HA's, FA-A's and AP-A's configuration:

- end to end: visitors registered through AP -> FA -> HA show in ``snmptable``
  of haMobilityBindingTable (HA) and faVisitorTable (FA), and pmipVisitorTable
  (AP), with counters equal to the engines' (RFC 2006);
- ``snmpget`` / ``snmpwalk`` / ``snmpbulkwalk`` over SNMPv2c and SNMPv3
  authPriv (RFC 3414 USM: SHA + AES-128, SHA-256 + AES-256);
- a wrong community gets nothing and is counted in snmpInBadCommunityNames
  (RFC 3584 §5.2.1, RFC 3418); a wrong privacy key fails and is counted in
  usmStatsDecryptionErrors (RFC 3414 §3.2 step 8);
- malformed BER and a huge max-repetitions (RFC 3416 §4.2.3) do not stop the
  agent from answering;
- ``snmpset`` of RowStatus (RFC 2579) becomes running configuration, seen
  through the control channel; a community without write access gets
  noAccess; a NETCONF <lock> on running (RFC 6241 §7.5) makes Sets fail with
  resourceUnavailable (RFC 3416 §4.2.5) until it is released;
- a flood of heavy requests (GetBulk, max-repetitions 2^31-1) and garbage
  neither stops the agent nor starves Mobile IP: the home agent answers a
  Registration Request during the flood, SNMP answers again after it;
- ``snmptrapd`` receives mipAuthFailure (RFC 2006) from the HA, for a
  Registration Request with a bad authenticator, as an SNMPv2c trap and as an
  SNMPv3 authPriv inform (RFC 3416 §4.2.6, §4.2.7).
"""

from __future__ import annotations

import select
import socket
import subprocess
import time
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from agent.lab import ACCESS_POINTS, FOREIGN_AGENTS, HA, MN_KEY, LoopbackLab, client_address, wait_for
from agent.mobileip import replay
from agent.mobileip.builder import build_request
from agent.mobileip.security import SecurityAssociation
from tests.conftest import ROOT, require_tool
from tests.interop.test_netconf_end_to_end import Background, netconf

CLIENTS = 4
MIBS = ["-M", f"{ROOT / 'mibs' / 'base'}:{ROOT / 'mibs'}", "-m", "MIP-MIB:PROXY-MOBILE-IP-MIB"]
V2C = ["-v2c", "-c", "public"]
V2C_RW = ["-v2c", "-c", "private"]
V3_SHA_AES = ["-v3", "-l", "authPriv", "-u", "ops", "-a", "SHA", "-A", "authpass123",
              "-x", "AES", "-X", "privpass123"]
V3_AUTH_NO_PRIV = ["-v3", "-l", "authNoPriv", "-u", "signer", "-a", "SHA", "-A", "authpass789"]
V3_SHA256_AES256 = ["-v3", "-l", "authPriv", "-u", "ops256", "-a", "SHA-256", "-A", "authpass256",
                    "-x", "AES-256", "-X", "privpass256"]
ADDRESSES = {"ha": HA, "fa-a": FOREIGN_AGENTS["fa-a"], "ap-a": ACCESS_POINTS["ap-a"][0]}


def snmp_config(address: str) -> dict[str, Any]:
    return {
        "listen": {"address": address, "port": 0},
        "system-name": f"lab {address}",
        "view": [{"name": "mobile-ip", "subtree": [{"oid": "1.3.6.1.2.1.44"},
                                                   {"oid": "1.3.6.1.4.1.32473.2"}]}],
        "community": [{"index": "ro", "secret": "public"},
                      {"index": "rw", "secret": "private", "access": "read-write"},
                      {"index": "mip-only", "secret": "mip", "view": "mobile-ip"}],
        "user": [{"name": "ops", "auth-protocol": "sha", "auth-passphrase": "authpass123",
                  "priv-protocol": "aes-128", "priv-passphrase": "privpass123", "access": "read-write"},
                 {"name": "ops256", "auth-protocol": "sha-256", "auth-passphrase": "authpass256",
                  "priv-protocol": "aes-256", "priv-passphrase": "privpass256"},
                 {"name": "signer", "auth-protocol": "sha", "auth-passphrase": "authpass789",
                  "priv-protocol": "none", "access": "read-write"}],
    }


class TrapReceiver:
    """net-snmp's snmptrapd on a loopback port, printing what it receives: v2c
    traps with community "public", v3 informs from user ops (authPriv). It
    cannot be given port 0, so a port is taken from the system first."""

    def __init__(self, workdir: Path) -> None:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        conf = workdir / "snmptrapd.conf"
        conf.write_text("authCommunity log public\n"
                        "createUser ops SHA authpass123 AES privpass123\n"
                        "authUser log ops priv\n")
        self.proc = subprocess.Popen(
            [require_tool("snmptrapd"), "-f", "-Lo", "-C", "-c", str(conf), "-On", "-F", "%P\\t%v\\n", *MIBS,
             f"udp:127.0.0.1:{self.port}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self.wait_for("NET-SNMP version")  # snmptrapd prints this once it listens

    def wait_for(self, text: str, *, count: int = 1, timeout: float = 15) -> list[str]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.lines) < count:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise AssertionError(f"snmptrapd did not print {text!r}: {self.lines[-10:]}")
            self.lines.append(self.proc.stdout.readline())
        return [line for line in self.lines if text in line]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=10)  # waits, and closes its output pipe


class SnmpLab(LoopbackLab):
    """The loopback lab with an SNMP agent in the HA, FA-A and AP-A; the HA
    sends its notifications to ``trap_port`` (a trap and an inform each)."""

    trap_port: int = 0

    async def _spawn(self, name: str, config: dict[str, Any], *extra: str) -> Any:
        if name in ADDRESSES:
            snmp = snmp_config(ADDRESSES[name])
            if name == "ha" and self.trap_port:
                snmp["notification-receiver"] = [
                    {"name": "trapd-v2c", "address": "127.0.0.1", "port": self.trap_port,
                     "trap-community": "public"},
                    {"name": "trapd-v3", "address": "127.0.0.1", "port": self.trap_port, "inform-user": "ops"},
                ]
            config["proxy-mobile-ip:mobile-ip"]["snmp-agent"] = snmp
        return await super()._spawn(name, config, *extra)


@pytest.fixture(scope="module")
def trap_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrapReceiver]:
    receiver = TrapReceiver(tmp_path_factory.mktemp("snmptrapd"))
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture(scope="module")
def lab(trap_receiver: TrapReceiver) -> Iterator[tuple[SnmpLab, Background]]:
    for tool in ("snmpget", "snmpwalk", "snmpbulkwalk", "snmptable", "snmpset", "snmpbulkget"):
        require_tool(tool)
    the_lab = SnmpLab(clients=CLIENTS, netconf=True)
    the_lab.trap_port = trap_receiver.port
    with Background(the_lab) as background:
        for index in range(CLIENTS):
            background.run(the_lab.associate("ap-a", index))

        async def registered() -> bool:
            state = await the_lab.state("ha")
            return len(state["home-agent"]["binding"]) == CLIENTS

        background.run(wait_for(registered, timeout=30))
        yield the_lab, background


def target(lab: SnmpLab, name: str) -> str:
    return lab.processes[name].endpoints["snmp"]


def tool(name: str, *args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([require_tool(name), "-t", "2", "-r", "1", *args], capture_output=True,
                            text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def value(lab: SnmpLab, name: str, oid: str, *security: str) -> str:
    out = tool("snmpget", *(security or V2C), *MIBS, "-Oqv", target(lab, name), oid).stdout.strip()
    return out


def table(lab: SnmpLab, name: str, table_name: str, *security: str) -> list[list[str]]:
    out = tool("snmptable", *(security or V2C), *MIBS, "-Cf", "|", "-CH", "-Ci", "-OX",
               target(lab, name), table_name).stdout
    return [line.split("|") for line in out.splitlines() if "|" in line]


def test_bindings_and_visitors_in_snmptable_match_the_engines(lab: tuple[SnmpLab, Background]) -> None:
    the_lab, bg = lab
    ha = bg.run(the_lab.state("ha"))["home-agent"]
    fa = bg.run(the_lab.state("fa-a"))["foreign-agent"]
    ap = bg.run(the_lab.state("ap-a"))["proxy"]
    # haMobilityBindingTable (RFC 2006), over SNMPv3 authPriv SHA + AES-128.
    rows = table(the_lab, "ha", "MIP-MIB::haMobilityBindingTable", *V3_SHA_AES)
    engine_rows = sorted((b["home-address"], b["care-of-address"]) for b in ha["binding"])
    assert len(rows) == CLIENTS
    assert sorted((r[1], r[2]) for r in rows) == engine_rows
    granted = {b["home-address"]: b["lifetime-granted"] for b in ha["binding"]}
    for row in rows:
        assert int(row[7].split()[0]) == granted[row[1]]  # haMobilityBindingTimeGranted
        assert 0 < int(row[8].split()[0]) <= granted[row[1]]  # ...TimeRemaining, live
    # faVisitorTable, over SNMPv3 SHA-256 + AES-256.
    rows = table(the_lab, "fa-a", "MIP-MIB::faVisitorTable", *V3_SHA256_AES256)
    assert sorted(r[2] for r in rows) == sorted(x["home-address"] for x in fa["visitor"])
    assert {r[3] for r in rows} == {HA} and {r[9] for r in rows} == {"true"}
    # PROXY-MOBILE-IP-MIB pmipVisitorTable at the access point.
    rows = table(the_lab, "ap-a", "PROXY-MOBILE-IP-MIB::pmipVisitorTable")
    assert sorted(r[2] for r in rows) == sorted(x["home-address"] for x in ap["visitor"])
    assert {r[6] for r in rows} == {"registered"} and {r[3] for r in rows} == {HA}
    # The counters are the engines', exactly.
    counters = bg.run(the_lab.state("ha", rows=False))["home-agent"]["counters"]
    assert int(value(the_lab, "ha", "MIP-MIB::haRegistrationAccepted.0")) == counters["registration-accepted"]
    assert int(value(the_lab, "ha", "MIP-MIB::haRegRequestsReceived.0")) == counters["reg-requests-received"]
    fa_counters = bg.run(the_lab.state("fa-a", rows=False))["foreign-agent"]["counters"]
    assert int(value(the_lab, "fa-a", "MIP-MIB::faRegRequestsRelayed.0")) == fa_counters["reg-requests-relayed"]
    assert int(value(the_lab, "fa-a", "MIP-MIB::faRegRepliesRecieved.0")) == fa_counters["reg-replies-received"]
    ap_counters = bg.run(the_lab.state("ap-a", rows=False))["proxy"]["counters"]
    assert int(value(the_lab, "ap-a", "PROXY-MOBILE-IP-MIB::pmipAccepted.0")) == ap_counters["accepted"]
    per_node = table(the_lab, "ha", "MIP-MIB::haCounterTable")
    assert sorted(int(r[1]) for r in per_node) == [1] * CLIENTS  # haServiceRequestsAccepted


def test_walks_v2c_and_v3(lab: tuple[SnmpLab, Background]) -> None:
    the_lab, _ = lab
    address = target(the_lab, "ha")
    walked = tool("snmpwalk", *V2C, *MIBS, "-On", address, "MIP-MIB::mipMIB").stdout.splitlines()
    bulk = tool("snmpbulkwalk", *V2C, *MIBS, "-On", "-Cr25", address, "MIP-MIB::mipMIB").stdout.splitlines()
    v3 = tool("snmpbulkwalk", *V3_SHA256_AES256, *MIBS, "-On", address, "MIP-MIB::mipMIB").stdout.splitlines()
    assert walked == bulk
    assert [line.split(" = ")[0] for line in v3] == [line.split(" = ")[0] for line in walked]
    assert len(walked) > 8 * CLIENTS
    # RFC 2006 mipSecKey: always a zero-length value.
    keys = [line for line in walked if line.startswith(".1.3.6.1.2.1.44.1.2.1.1.5.")]
    assert keys and all(line.endswith('= ""') for line in keys)
    # The system group and the names from the configuration (RFC 3418).
    assert value(the_lab, "ha", "1.3.6.1.2.1.1.5.0") == f'"lab {HA}"' or \
        value(the_lab, "ha", "1.3.6.1.2.1.1.5.0") == f"lab {HA}"
    # A view: the mip-only community reaches the Mobile IP MIBs, not the system group.
    only = tool("snmpbulkwalk", "-v2c", "-c", "mip", "-On", address, ".1").stdout.splitlines()
    assert only and all(line.startswith((".1.3.6.1.2.1.44.", ".1.3.6.1.4.1.32473.2.")) for line in only)
    denied = tool("snmpget", "-v2c", "-c", "mip", "-On", address, "1.3.6.1.2.1.1.5.0").stdout
    assert "No Such Object" in denied


def test_bad_credentials_get_nothing_and_are_counted(lab: tuple[SnmpLab, Background]) -> None:
    the_lab, _ = lab
    address = target(the_lab, "ha")
    before = int(value(the_lab, "ha", "1.3.6.1.2.1.11.4.0"))  # snmpInBadCommunityNames
    wrong = tool("snmpget", "-v2c", "-c", "not-the-community", address, "1.3.6.1.2.1.1.5.0", check=False)
    assert wrong.returncode != 0 and "Timeout" in wrong.stderr + wrong.stdout
    assert int(value(the_lab, "ha", "1.3.6.1.2.1.11.4.0")) == before + 2  # the try and its retry
    errors_before = int(value(the_lab, "ha", "1.3.6.1.6.3.15.1.1.6.0"))  # usmStatsDecryptionErrors
    bad_priv = [*V3_SHA_AES[:-1], "not-the-priv-key"]
    result = tool("snmpget", *bad_priv, address, "1.3.6.1.2.1.1.5.0", check=False)
    assert result.returncode != 0 and "1.3.6.1.2.1.1.5.0 =" not in result.stdout
    assert int(value(the_lab, "ha", "1.3.6.1.6.3.15.1.1.6.0")) > errors_before
    unknown = tool("snmpget", "-v3", "-l", "authPriv", "-u", "nobody", "-a", "SHA", "-A", "authpass123",
                   "-x", "AES", "-X", "privpass123", address, "1.3.6.1.2.1.1.5.0", check=False)
    assert unknown.returncode != 0 and "Unknown user name" in unknown.stderr


#: RFC 3414 §5 usmStats and RFC 3412 §5 snmpMPDStats, read over SNMPv2c.
V3_COUNTERS = {
    "usmStatsUnsupportedSecLevels": "1.3.6.1.6.3.15.1.1.1.0",
    "usmStatsUnknownUserNames": "1.3.6.1.6.3.15.1.1.3.0",
    "usmStatsUnknownEngineIDs": "1.3.6.1.6.3.15.1.1.4.0",
    "usmStatsWrongDigests": "1.3.6.1.6.3.15.1.1.5.0",
    "snmpUnknownSecurityModels": "1.3.6.1.6.3.11.2.1.1.0",
    "snmpInvalidMsgs": "1.3.6.1.6.3.11.2.1.2.0",
    "snmpInASNParseErrs": "1.3.6.1.2.1.11.6.0",
}


def test_unauthenticated_v3_is_counted_where_rfc_3414_counts_it(lab: tuple[SnmpLab, Background]) -> None:
    """Issue 13: what USM rejects is rejected before pyasn1 decodes it
    (``agent.snmp.usm_screen``), and net-snmp sees what it would see from any
    agent: an unknown user, a wrong authentication key and noAuthNoPriv for an
    authenticating user each get their Report (RFC 3414 §3.2 steps 4, 6, 5),
    a crafted message from a foreign engine ID a usmStatsUnknownEngineIDs
    Report (step 3), an unknown security model and privacy without
    authentication nothing (RFC 3412 §7.2 steps 4, 5); each is counted once
    in its standard counter, read back with snmpget. Valid authPriv users
    still get their answers, after net-snmp's own engine discovery."""
    from tests.unit.test_snmp_usm_screen import v3

    the_lab, _ = lab
    address = target(the_lab, "ha")
    host, port = address.rsplit(":", 1)

    def counters() -> dict[str, int]:
        return {name: int(value(the_lab, "ha", oid)) for name, oid in V3_COUNTERS.items()}

    once = ["-r", "0", "-t", "10"]  # no retry: each invocation is one discovery and one request
    before = counters()
    unknown = tool("snmpget", *V3_SHA_AES[:4], "nobody", *V3_SHA_AES[5:], *once, address, "1.3.6.1.2.1.1.5.0",
                   check=False)
    assert unknown.returncode != 0 and "Unknown user name" in unknown.stderr
    wrong_key = tool("snmpget", *V3_SHA_AES[:8], "not-the-auth-key", *V3_SHA_AES[9:], *once, address,
                     "1.3.6.1.2.1.1.5.0", check=False)
    assert wrong_key.returncode != 0 and "Authentication failure" in wrong_key.stderr
    no_auth = tool("snmpget", "-v3", "-l", "noAuthNoPriv", "-u", "ops", *once, address, "1.3.6.1.2.1.1.5.0",
                   check=False)
    assert no_auth.returncode != 0 and "Unsupported security level" in no_auth.stderr
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.sendto(v3(engine_id=b"\x80\x00\x1f\x88\x04evil", varbinds=128), (host, int(port)))
        report = sock.recv(65535)
        assert b"\x06\x0a\x2b\x06\x01\x06\x03\x0f\x01\x01\x04\x00" in report  # usmStatsUnknownEngineIDs.0
        sock.sendto(v3(model=99, varbinds=128), (host, int(port)))
        sock.sendto(v3(flags=0x02 | 0x04, varbinds=128), (host, int(port)))
    valid = tool("snmpget", *V3_SHA_AES, *once, "-Oqv", address, "1.3.6.1.2.1.1.5.0")
    assert HA in valid.stdout
    after = counters()
    discoveries = 4  # one per net-snmp invocation (RFC 3414 §4), each a usmStatsUnknownEngineIDs Report
    assert {name: after[name] - before[name] for name in after} == {
        "usmStatsUnsupportedSecLevels": 1, "usmStatsUnknownUserNames": 1, "usmStatsUnknownEngineIDs": 1 + discoveries,
        "usmStatsWrongDigests": 1, "snmpUnknownSecurityModels": 1, "snmpInvalidMsgs": 1, "snmpInASNParseErrs": 0,
    }


def test_malformed_ber_and_huge_max_repetitions(lab: tuple[SnmpLab, Background]) -> None:
    the_lab, _ = lab
    host, port = target(the_lab, "ha").rsplit(":", 1)
    before = int(value(the_lab, "ha", "1.3.6.1.2.1.11.6.0"))  # snmpInASNParseErrs
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for garbage in (b"\x30\x80\x02\x01", b"\x30\x03\x02\x01\x01", b"\xff" * 1400, b"\x30" + b"\x84" * 8,
                        b"\x30\x0b\x02\x01\x01\x04\x06public\xa0", b"", bytes(range(256)) * 4):
            sock.sendto(garbage, (host, int(port)))
    assert int(value(the_lab, "ha", "1.3.6.1.2.1.11.6.0")) > before
    # RFC 3416 §4.2.3: max-repetitions 2^31-1 gets a bounded answer, not a stall.
    bulk = tool("snmpbulkget", *V2C, "-On", "-Cr2147483647", target(the_lab, "ha"), "1.3.6.1.2.1.44")
    lines = bulk.stdout.splitlines()
    assert 8 * CLIENTS < len(lines) <= 1000
    assert value(the_lab, "ha", "MIP-MIB::mipEnable.0") == "enabled"


def test_a_wrong_community_with_a_huge_sub_identifier_is_counted_unread(lab: tuple[SnmpLab, Background]) -> None:
    """Issue 13 item 2 against the HA process: three datagrams with a wrong
    community and a 60 KB run of continuation octets in one sub-identifier
    (which used to cost the shared process ~250 ms each) are counted in
    snmpInBadCommunityNames (RFC 3584 §5.2.1) and answered by nothing; the
    same OID with the right community is a parse error (RFC 2578 §7.1.3),
    counted in snmpInASNParseErrs; Mobile IP and SNMP answer on."""
    the_lab, _ = lab
    host, port = target(the_lab, "ha").rsplit(":", 1)

    def tlv(tag: int, content: bytes) -> bytes:
        return bytes((tag, 0x82)) + len(content).to_bytes(2, "big") + content

    def message(community: bytes) -> bytes:
        varbind = tlv(0x30, tlv(0x06, b"\x2b" + b"\xff" * 60000 + b"\x7f") + b"\x05\x00")
        pdu = tlv(0xA0, b"\x02\x01\x07\x02\x01\x00\x02\x01\x00" + tlv(0x30, varbind))
        return tlv(0x30, b"\x02\x01\x01" + bytes((0x04, len(community))) + community + pdu)

    bad_names = int(value(the_lab, "ha", "1.3.6.1.2.1.11.4.0"))  # snmpInBadCommunityNames
    parse_errors = int(value(the_lab, "ha", "1.3.6.1.2.1.11.6.0"))  # snmpInASNParseErrs
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        for datagram in [message(b"wrong")] * 3 + [message(b"public")]:
            sock.sendto(datagram, (host, int(port)))
        with pytest.raises(TimeoutError):
            sock.recv(65535)  # no answer to any of them
    assert int(value(the_lab, "ha", "1.3.6.1.2.1.11.4.0")) == bad_names + 3
    assert int(value(the_lab, "ha", "1.3.6.1.2.1.11.6.0")) == parse_errors + 1
    sa = SecurityAssociation(256, bytes.fromhex(MN_KEY.replace(":", "")))
    request = build_request(home_address=client_address(CLIENTS, CLIENTS + 7), home_agent=IPv4Address(HA),
                            care_of_address=IPv4Address("127.0.0.9"),
                            identification=replay.ntp_identification(time.time(), 5), lifetime=0, sa=sa)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as node:
        node.bind(("127.0.0.9", 0))
        node.settimeout(5)
        node.sendto(request, (HA, the_lab.processes["ha"].port))
        assert node.recv(2048)[0] == 3  # a Registration Reply


def test_row_status_sets_are_transactions_and_respect_netconf_locks(lab: tuple[SnmpLab, Background]) -> None:
    the_lab, bg = lab
    address = target(the_lab, "ap-a")
    row = "10.77.0.0.16"
    home_agent = f"PROXY-MOBILE-IP-MIB::pmipSubnetMapHomeAgent.{row}"
    status = f"PROXY-MOBILE-IP-MIB::pmipSubnetMapRowStatus.{row}"

    def subnet_map() -> list[dict[str, Any]]:
        answer = bg.run(the_lab.control("ap-a", {"op": "get-config", "source": "running"}))
        return answer["data"]["proxy-mobile-ip:mobile-ip"].get("subnet-map", [])

    refused = tool("snmpset", *V2C, *MIBS, address, status, "i", "4", check=False)
    assert refused.returncode != 0 and "noAccess" in refused.stderr  # a read-only community
    tool("snmpset", *V2C_RW, *MIBS, address, home_agent, "a", HA, status, "i", "4")  # createAndGo
    assert {"prefix": "10.77.0.0/16", "home-agent": HA} in subnet_map()
    assert value(the_lab, "ap-a", status) == "active"
    # A prefix with host bits set names no row (PROXY-MOBILE-IP-MIB).
    bad = tool("snmpset", *V2C_RW, *MIBS, address, "PROXY-MOBILE-IP-MIB::pmipSubnetMapRowStatus.10.77.1.0.16",
               "i", "4", check=False)
    assert "inconsistentName" in bad.stderr
    with netconf(ACCESS_POINTS["ap-a"][0], the_lab.processes["ap-a"].netconf_port) as session:
        with session.locked("running"):
            locked = tool("snmpset", *V3_SHA_AES, *MIBS, address, status, "i", "6", check=False)
            assert locked.returncode != 0 and "resourceUnavailable" in locked.stderr
            assert {"prefix": "10.77.0.0/16", "home-agent": HA} in subnet_map()
    tool("snmpset", *V3_SHA_AES, *MIBS, address, status, "i", "6")  # destroy, over SNMPv3
    assert all(entry["prefix"] != "10.77.0.0/16" for entry in subnet_map())
    # A host SA written over SNMP reads its key back as zero-length.
    sa = "10.0.0.9.4000"
    tool("snmpset", *V3_SHA_AES, *MIBS, address,
         f"PROXY-MOBILE-IP-MIB::pmipHostSaKey.{sa}", "x", "00112233445566778899aabbccddeeff",
         f"PROXY-MOBILE-IP-MIB::pmipHostSaRowStatus.{sa}", "i", "4")
    assert value(the_lab, "ap-a", f"PROXY-MOBILE-IP-MIB::pmipHostSaKey.{sa}") in ("", '""')
    assert value(the_lab, "ap-a", f"MIP-MIB::mipSecKey.{sa}") in ("", '""')
    tool("snmpset", *V3_SHA_AES, *MIBS, address, f"PROXY-MOBILE-IP-MIB::pmipHostSaRowStatus.{sa}", "i", "6")


def test_keys_are_set_only_at_auth_priv(lab: tuple[SnmpLab, Background]) -> None:
    """Issue 13 item 10: net-snmp's snmpset of a key column (pmipHostSaKey,
    RFC 2006 mipSecKey) with the read-write v2c community, or as an SNMPv3
    authNoPriv user with write access, gets noAccess (RFC 3416 §4.2.5 step 1:
    a key is outside the write view of a request without privacy, RFC 3415
    §2.2, §2.5) and changes nothing; the same Set at authPriv is applied."""
    the_lab, bg = lab
    address = target(the_lab, "ap-a")
    sa = "10.0.0.11.4100"
    key = f"PROXY-MOBILE-IP-MIB::pmipHostSaKey.{sa}"
    status = f"PROXY-MOBILE-IP-MIB::pmipHostSaRowStatus.{sa}"

    def hosts() -> list[dict[str, Any]]:
        answer = bg.run(the_lab.control("ap-a", {"op": "get-config", "source": "running"}))
        return answer["data"]["proxy-mobile-ip:mobile-ip"].get("security", {}).get("host", [])

    before = hosts()
    for security in (V2C_RW, V3_AUTH_NO_PRIV):
        result = tool("snmpset", *security, *MIBS, address, key, "x", "00112233445566778899aabbccddeeff",
                      status, "i", "4", check=False)
        assert result.returncode != 0 and "noAccess" in result.stderr, result.stderr
        assert "pmipHostSaKey" in result.stderr  # the failed object is the key (error-index 1)
        mib_key = tool("snmpset", *security, *MIBS, address, f"MIP-MIB::mipSecKey.{sa}", "x",
                       "00112233445566778899aabbccddeeff", check=False)
        assert mib_key.returncode != 0 and "noAccess" in mib_key.stderr, mib_key.stderr
        assert hosts() == before
    # Without privacy, a Set that is not of a key still works (the same user).
    tool("snmpset", *V3_AUTH_NO_PRIV, *MIBS, address, status, "i", "5")  # createAndWait
    assert value(the_lab, "ap-a", status) == "notReady"  # no key yet (RFC 2579)
    tool("snmpset", *V3_SHA_AES, *MIBS, address, key, "x", "00112233445566778899aabbccddeeff", status, "i", "1")
    assert any(host["address"] == "10.0.0.11" and host.get("key-hex") for host in hosts())
    tool("snmpset", *V3_SHA_AES, *MIBS, address, status, "i", "6")
    assert hosts() == before


def test_mip_auth_failure_as_v2c_trap_and_v3_inform(lab: tuple[SnmpLab, Background],
                                                     trap_receiver: TrapReceiver) -> None:
    the_lab, _ = lab
    # A Registration Request whose authenticator was computed with another key:
    # the HA denies it with 131 and logs a violation (RFC 5944 §3.8.2.1).
    forged = SecurityAssociation(256, bytes(16))
    home = client_address(CLIENTS, 0)
    data = build_request(home_address=home, home_agent=IPv4Address(HA), care_of_address=IPv4Address("127.0.0.9"),
                         identification=replay.ntp_identification(time.time(), 1), lifetime=60, sa=forged)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.9", 0))
        sock.settimeout(5)
        sock.sendto(data, (HA, the_lab.processes["ha"].port))
        sock.recv(2048)
    trap_oid = ".1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.2.1.44.2.0.1"
    received = trap_receiver.wait_for(trap_oid, count=2, timeout=30)
    assert len(received) == 2
    assert any(line.startswith("TRAP2, SNMP v2c, community public") for line in received)
    assert any(line.startswith("INFORM, SNMP v3, user ops") for line in received)  # authPriv
    for line in received:
        # The objects of mipAuthFailure, instanced by the violator (the home address).
        assert f".1.3.6.1.2.1.44.1.2.3.1.1.{home} = IpAddress: {home}" in line
        assert f".1.3.6.1.2.1.44.1.2.3.1.7.{home} = INTEGER: badAuthenticator(2)" in line


def test_snmp_access_is_managed_live_through_the_datastore(lab: tuple[SnmpLab, Background]) -> None:
    """A community added to snmp-agent in running (here through the control
    channel's edit-config, the same transaction NETCONF makes) works at once,
    on the same port; removed, it gets nothing."""
    the_lab, bg = lab
    address = target(the_lab, "ha")
    path = "/mobile-ip/snmp-agent/community[index='late']"

    def edit(operation: str, value: Any = None) -> None:
        answer = bg.run(the_lab.control("ha", {"op": "edit-config", "edits": [
            {"operation": operation, "path": path, **({"value": value} if value else {})}]}))
        assert answer.get("ok"), answer

    def answers(community: str) -> bool:
        result = tool("snmpget", "-v2c", "-c", community, "-t", "0.5", "-r", "0", address,
                      "1.3.6.1.2.1.44.1.1.2.0", check=False)
        return result.returncode == 0 and "INTEGER: 1" in result.stdout

    def served(community: str) -> bool:
        """Answered within 10 s: one 0.5 s try may time out on a loaded
        machine (UDP, no retry), which says nothing about the community."""
        deadline = time.monotonic() + 10
        while not answers(community):
            if time.monotonic() > deadline:
                return False
        return True

    assert not answers("late-secret")
    edit("merge", {"index": "late", "secret": "late-secret"})
    assert served("late-secret"), "the new community was not served"
    assert served("public")  # the others still are, on the same port
    edit("delete")
    deadline = time.monotonic() + 10
    while answers("late-secret"):
        assert time.monotonic() < deadline, "the removed community is still served"
    assert served("public")


def test_a_request_flood_does_not_starve_mobile_ip(lab: tuple[SnmpLab, Background]) -> None:
    the_lab, _ = lab
    host, port = target(the_lab, "ha").rsplit(":", 1)
    community = b"public"
    # SNMPv2c GetBulk, non-repeaters 0, max-repetitions 2^31-1, of 1.3.6.1.2.1.44.
    pdu = (b"\x02\x01\x07\x02\x01\x00\x02\x04\x7f\xff\xff\xff"
           b"\x30\x0c\x30\x0a\x06\x06\x2b\x06\x01\x02\x01\x2c\x05\x00")
    body = b"\x02\x01\x01\x04" + bytes((len(community),)) + community + b"\xa5" + bytes((len(pdu),)) + pdu
    heavy = b"\x30" + bytes((len(body),)) + body
    sa = SecurityAssociation(256, bytes.fromhex(MN_KEY.replace(":", "")))
    home = client_address(CLIENTS, CLIENTS + 5)
    request = build_request(home_address=home, home_agent=IPv4Address(HA),
                            care_of_address=IPv4Address("127.0.0.9"),
                            identification=replay.ntp_identification(time.time(), 3), lifetime=0, sa=sa)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flood, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as node:
        node.bind(("127.0.0.9", 0))
        node.settimeout(5)
        for i in range(3000):
            flood.sendto(heavy if i % 2 else b"\x30\x82\xff\xff" + bytes(64), (host, int(port)))
        started = time.monotonic()
        node.sendto(request, (HA, the_lab.processes["ha"].port))
        reply = node.recv(2048)  # a deregistration of an unbound node: accepted (RFC 5944 §3.8.2.2)
        elapsed = time.monotonic() - started
    assert reply[0] == 3 and elapsed < 1.0, elapsed
    answered = tool("snmpget", *V2C, "-t", "5", "-r", "3", f"{host}:{port}", "1.3.6.1.2.1.44.1.1.2.0")
    assert "INTEGER: 1" in answered.stdout
