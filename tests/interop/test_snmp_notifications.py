"""PROXY-MOBILE-IP-MIB's three notifications end to end: the loopback lab of
``proxymip run`` processes (HA 127.0.0.2, FA-A 127.0.0.3, AP-A 127.0.0.4),
AP-A's SNMP agent sending each as an SNMPv2c trap (RFC 3416 §4.2.6) and an
SNMPv3 authPriv inform (§4.2.7) to net-snmp's ``snmptrapd``, each driven by
its real cause:

- pmipRegistrationDenied: the home agent is full (max-bindings 2) and denies a
  third client 130, insufficient resources (RFC 5944 §3.4), in a reply the
  proxy can authenticate;
- pmipAuthenticationFailure: the proxy's key for a client differs from the
  home agent's; the home agent denies 131 (§3.8.2.1) and signs the reply with
  its own key, which fails at the proxy (§3.6.2.1): the notification names the
  client (pmipVisitorHomeAddress instanced by its MAC), the foreign agent the
  reply came from, the SPI and badAuthenticator;
- pmipBindingLost: the home agent stops; the registered clients' renewals are
  denied 78, registration timeout, by the foreign agent (§3.7.3.1): their
  bindings are lost, reason denied(1), state denied(11).

Each notification carries the objects of its NOTIFICATION-TYPE's OBJECTS
clause (mibs/PROXY-MOBILE-IP-MIB), in that order, after sysUpTime.0 and
snmpTrapOID.0.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from agent.lab import ACCESS_POINTS, FOREIGN_AGENTS, HA, MN_KEY, LoopbackLab, client_address, client_mac, wait_for
from tests.conftest import require_tool
from tests.interop.test_netconf_end_to_end import Background
from tests.interop.test_snmp_agent import TrapReceiver, snmp_config

CLIENTS = 4
AP = ACCESS_POINTS["ap-a"][0]
FA = FOREIGN_AGENTS["fa-a"]
PMIP = ".1.3.6.1.4.1.32473.2.1"
TRAP_OID = ".1.3.6.1.6.3.1.1.4.1.0 = OID: "
VISITOR = PMIP + ".1.4.1"
NOTIFY = PMIP + ".1.6"
#: The clients the full home agent keeps, the one it refuses, the one whose key
#: at the proxy is wrong (192.0.2.240, past the lab's key range here).
KEPT, REFUSED, FORGED = (0, 1), 2, 230
WRONG_KEY = "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"


def index(mac: str) -> str:
    return ".".join(str(int(part, 16)) for part in mac.split(":"))


class NotifyingLab(LoopbackLab):
    """AP-A serves SNMP and notifies ``trap_port`` (a trap and an inform each);
    the HA holds at most 2 bindings; AP-A's key for 192.0.2.240-.254 is not
    the HA's."""

    trap_port: int = 0

    async def _spawn(self, name: str, config: dict[str, Any], *extra: str) -> Any:
        top = config["proxy-mobile-ip:mobile-ip"]
        if name == "ha":
            top["home-agent"]["max-bindings"] = len(KEPT)
        if name == "ap-a":
            (hosts,) = top["security"]["host"]
            top["security"]["host"] = [
                {**hosts, "last-address": "192.0.2.239"},
                {"address": "192.0.2.240", "last-address": "192.0.2.254", "spi": 256, "key-hex": WRONG_KEY},
            ]
            assert hosts["key-hex"] == MN_KEY
            snmp = snmp_config(AP)
            snmp["notification-receiver"] = [
                {"name": "trapd-v2c", "address": "127.0.0.1", "port": self.trap_port, "trap-community": "public"},
                {"name": "trapd-v3", "address": "127.0.0.1", "port": self.trap_port, "inform-user": "ops"},
            ]
            top["snmp-agent"] = snmp
        return await super()._spawn(name, config, *extra)


@pytest.fixture(scope="module")
def trap_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrapReceiver]:
    receiver = TrapReceiver(tmp_path_factory.mktemp("snmptrapd"))
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture(scope="module")
def lab(trap_receiver: TrapReceiver) -> Iterator[tuple[NotifyingLab, Background]]:
    # Lifetime 20 s: the proxy renews every 10 s (half the lifetime), so a
    # binding can be lost within the test.
    the_lab = NotifyingLab(clients=CLIENTS, lifetime=20)
    the_lab.trap_port = trap_receiver.port
    with Background(the_lab) as background:
        for client in KEPT:
            background.run(the_lab.associate("ap-a", client))

        async def registered() -> bool:
            state = await the_lab.state("ha")
            return len(state["home-agent"]["binding"]) == len(KEPT)

        background.run(wait_for(registered, timeout=30))
        yield the_lab, background


def received(trap_receiver: TrapReceiver, notification: str, mac: str, *, count: int = 2) -> list[str]:
    """The notifications ``notification`` for the client ``mac``: at least one
    v2c trap and one v3 inform, each with the header RFC 3416 §4.2.6 asks."""
    oid = TRAP_OID + PMIP + ".0." + notification
    lines = [line for line in trap_receiver.wait_for(oid, count=count, timeout=60)
             if f".{index(mac)} = " in line]
    traps = [line for line in lines if line.startswith("TRAP2, SNMP v2c, community public")]
    informs = [line for line in lines if line.startswith("INFORM, SNMP v3, user ops")]  # authPriv
    assert traps and informs, lines
    for line in lines:
        fields = line.rstrip("\n").split("\t")
        assert fields[1].startswith(".1.3.6.1.2.1.1.3.0 = Timeticks: "), fields  # sysUpTime.0
        assert fields[2] == TRAP_OID + PMIP + ".0." + notification, fields  # snmpTrapOID.0
    return lines


def objects(line: str) -> list[str]:
    """The varbinds after the header, OID = value."""
    return line.rstrip("\n").split("\t")[3:]


def test_registration_denied_by_a_full_home_agent(lab: tuple[NotifyingLab, Background],
                                                  trap_receiver: TrapReceiver) -> None:
    the_lab, bg = lab
    bg.run(the_lab.associate("ap-a", REFUSED))
    mac, home = client_mac(REFUSED), client_address(CLIENTS, REFUSED)
    i = index(mac)
    for line in received(trap_receiver, "1", mac):
        # OBJECTS { pmipVisitorHomeAddress, pmipVisitorHomeAgent,
        #           pmipVisitorForeignAgent, pmipVisitorLastReplyCode }
        assert objects(line) == [
            f"{VISITOR}.3.{i} = IpAddress: {home}",
            f"{VISITOR}.4.{i} = IpAddress: {HA}",
            f"{VISITOR}.5.{i} = IpAddress: {FA}",
            f"{VISITOR}.11.{i} = INTEGER: 130",
        ], line
    state = bg.run(the_lab.state("ap-a"))["proxy"]
    visitor = next(x for x in state["visitor"] if x["mac"] == mac)
    assert visitor["state"] == "denied" and visitor["last-reply-code"] == 130
    # A first registration denied loses no binding: no pmipBindingLost for it.
    assert not any(TRAP_OID + PMIP + ".0.3" in line and f".{i} = " in line for line in trap_receiver.lines)


def test_authentication_failure_of_a_reply_to_the_proxy(lab: tuple[NotifyingLab, Background],
                                                        trap_receiver: TrapReceiver) -> None:
    the_lab, bg = lab
    bg.run(the_lab.associate("ap-a", FORGED))
    mac, home = client_mac(FORGED), client_address(CLIENTS, FORGED)
    assert str(home) == "192.0.2.240"
    i = index(mac)
    for line in received(trap_receiver, "2", mac):
        # OBJECTS { pmipVisitorHomeAddress, pmipNotifyPeerAddress,
        #           pmipNotifySpi, pmipNotifyViolationReason }
        assert objects(line) == [
            f"{VISITOR}.3.{i} = IpAddress: {home}",
            f"{NOTIFY}.1.0 = IpAddress: {FA}",  # the reply came through the foreign agent
            f"{NOTIFY}.2.0 = Gauge32: 256",
            f"{NOTIFY}.3.0 = INTEGER: badAuthenticator(2)",
        ], line
    # The same failure as MIP-MIB mipAuthFailure (RFC 2006), by the violator.
    mip = trap_receiver.wait_for(TRAP_OID + ".1.3.6.1.2.1.44.2.0.1", count=2, timeout=30)
    assert any(f".1.3.6.1.2.1.44.1.2.3.1.1.{FA} = IpAddress: {FA}" in line for line in mip)
    counters = bg.run(the_lab.state("ap-a", rows=False))["proxy"]["counters"]
    assert counters["bad-replies"] >= 1


def test_binding_lost_when_the_home_agent_stops(lab: tuple[NotifyingLab, Background],
                                                trap_receiver: TrapReceiver) -> None:
    """Last: it stops the home agent."""
    the_lab, bg = lab
    bg.run(the_lab._terminate("ha"))
    for client in KEPT:
        mac, home = client_mac(client), client_address(CLIENTS, client)
        i = index(mac)
        lines = received(trap_receiver, "3", mac, count=2 * len(KEPT))
        for line in lines:
            # OBJECTS { pmipVisitorHomeAddress, pmipVisitorHomeAgent,
            #           pmipVisitorCareOfAddress, pmipVisitorState,
            #           pmipNotifyBindingLostReason }
            assert objects(line) == [
                f"{VISITOR}.3.{i} = IpAddress: {home}",
                f"{VISITOR}.4.{i} = IpAddress: {HA}",
                f"{VISITOR}.6.{i} = IpAddress: {FA}",
                f"{VISITOR}.7.{i} = INTEGER: denied(11)",
                f"{NOTIFY}.4.0 = INTEGER: denied(1)",
            ], line
    # The denials themselves (78 from the foreign agent) came as pmipRegistrationDenied too.
    denied = trap_receiver.wait_for("= INTEGER: 78", count=2 * len(KEPT), timeout=30)
    assert all(TRAP_OID + PMIP + ".0.1\t" in line for line in denied)
    # (The client with the wrong key, still retrying, may be denied 78 too.)
    assert {re.search(re.escape(VISITOR) + r"\.11\.([0-9.]+) = INTEGER: 78", line).group(1)  # type: ignore[union-attr]
            for line in denied} >= {
        index(client_mac(client)) for client in KEPT}
    # Only the clients that held a binding lost one.
    lost = {re.search(re.escape(VISITOR) + r"\.3\.([0-9.]+) = IpAddress", line).group(1)  # type: ignore[union-attr]
            for line in trap_receiver.lines if TRAP_OID + PMIP + ".0.3\t" in line}
    assert lost == {index(client_mac(client)) for client in KEPT}
