"""The SNMP instrumentation without sockets: a real home agent engine fed
Registration Requests in virtual time, a real datastore, the MIB tree in front.

- Get / GetNext / GetBulk (RFC 3416 §4.2.1-4.2.3): values, exceptions
  (noSuchObject, noSuchInstance, endOfMibView), lexicographic order;
- walks stay correct while bindings are created and deleted underneath: strictly
  increasing OIDs, no duplicates, every row that existed throughout the walk;
- views (RFC 3415 §5): longest subtree wins, out-of-view reads noSuchObject and
  is skipped by GetNext;
- Sets (RFC 3416 §4.2.5) are one datastore transaction each; RowStatus
  (RFC 2579) createAndGo / createAndWait / active / destroy; error-statuses;
  a NETCONF lock on running gives resourceUnavailable; a refused Set changes
  nothing; keys read as zero-length (RFC 2006 mipSecKey).
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address
from typing import Any

import pytest

from agent.datastore.edits import Edit, Operation
from agent.datastore.paths import parse_path
from agent.datastore.store import Datastore
from agent.mobileip import replay
from agent.mobileip.builder import build_request
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable
from agent.mobileip.violations import ViolationLog
from agent.snmp import values as v
from agent.snmp.instrumentation import build_tree
from agent.snmp.mip_mib import MIP_OBJECTS
from agent.snmp.proxy_mib import PMIP_MIB
from agent.snmp.sources import Sources
from agent.snmp.tree import MibTree, SetError, View
from agent.snmp.writes import apply_set

NOW = 1_800_000_000.0
HA = IPv4Address("192.0.2.1")
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
SA = SecurityAssociation(256, KEY)
BINDING = MIP_OBJECTS + (6, 3, 1, 1)  # haMobilityBindingEntry
COUNTER_ENTRY = MIP_OBJECTS + (6, 3, 2, 1)
SA_ENTRY = MIP_OBJECTS + (2, 1, 1)
SUBNET = PMIP_MIB + (1, 2, 1)
HOST = PMIP_MIB + (1, 3, 1)
PROXY_SETTINGS = PMIP_MIB + (1, 1)


class Home:
    def __init__(self) -> None:
        table = SecurityAssociationTable()
        table.add_range(IPv4Address("10.0.0.1"), IPv4Address("10.0.255.254"), SA)
        self.engine = HomeAgent(HomeAgentSettings(HA, max_lifetime=600), mobile_nodes=table,
                                rng=random.Random(1))
        self.now = NOW

    def register(self, home: str, coa: str = "198.51.100.1", lifetime: int = 300) -> None:
        self.now += 0.01
        data = build_request(home_address=IPv4Address(home), home_agent=HA,
                             care_of_address=IPv4Address(coa),
                             identification=replay.ntp_identification(self.now, 7),
                             lifetime=lifetime, sa=SA)
        self.engine.receive_datagram(data, IPv4Address(coa), 434, self.now)
        self.engine.datagrams_to_send()


def make_tree(home: Home | None = None, datastore: Datastore | None = None) -> MibTree:
    return build_tree(Sources(
        home_agent=lambda: home.engine if home else None,
        foreign_agent=lambda: None, proxy=lambda: None, violations=ViolationLog,
        config=lambda: datastore.snapshot("running").effective if datastore else {},
        started_at=NOW,
    ))


def ip(text: str) -> tuple[int, ...]:
    return tuple(IPv4Address(text).packed)


def walk(tree: MibTree, prefix: tuple[int, ...], now: float, view: View | None = None,
         between: Any = None) -> list[tuple[tuple[int, ...], v.Value]]:
    out = []
    oid = prefix
    while True:
        oid, value = tree.get_next(oid, now, view)
        if value[0] == v.END_OF_MIB_VIEW or oid[:len(prefix)] != prefix:
            return out
        out.append((oid, value))
        if between is not None:
            between(len(out))


def test_binding_table_reads_the_engine_at_request_time() -> None:
    home = Home()
    home.register("10.0.0.7")
    home.register("10.0.0.3")
    tree = make_tree(home)
    index = ip("10.0.0.3") + ip("198.51.100.1")
    # RFC 2006 haMobilityBindingTimeRemaining: counts down in real (here virtual) time.
    assert tree.get(BINDING + (8,) + index, home.now) == (v.GAUGE32, 300)
    assert tree.get(BINDING + (8,) + index, home.now + 100.5) == (v.GAUGE32, 199)
    assert tree.get(BINDING + (7,) + index, home.now) == (v.INTEGER, 300)
    assert tree.get(BINDING + (1,) + index, home.now) == (v.IP_ADDRESS, IPv4Address("10.0.0.3").packed)
    # Rows in INDEX order (home address, care-of address), whatever the arrival order.
    rows = walk(tree, BINDING + (1,), home.now)
    assert [oid[-8:] for oid, _ in rows] == [index, ip("10.0.0.7") + ip("198.51.100.1")]
    # The counters: haRegistrationAccepted.0 and the node's haServiceRequestsAccepted.
    assert tree.get(MIP_OBJECTS + (6, 3, 3, 0), home.now) == (v.COUNTER32, 2)
    assert tree.get(COUNTER_ENTRY + (2,) + ip("10.0.0.3"), home.now) == (v.COUNTER32, 1)
    # Exceptions: a missing row is noSuchInstance, an unknown object noSuchObject.
    assert tree.get(BINDING + (8,) + ip("10.0.0.9") + ip("198.51.100.1"), home.now) == v.NO_SUCH_INSTANCE_VALUE
    assert tree.get(BINDING + (8, 1, 2), home.now) == v.NO_SUCH_INSTANCE_VALUE
    assert tree.get(BINDING + (99,), home.now) == v.NO_SUCH_OBJECT_VALUE
    assert tree.get(MIP_OBJECTS + (6, 3, 3, 1), home.now) == v.NO_SUCH_INSTANCE_VALUE
    assert tree.get((1, 3, 6, 1, 2, 1, 44, 1, 1, 1), home.now) == v.NO_SUCH_INSTANCE_VALUE


def test_objects_of_a_role_that_does_not_run_do_not_exist() -> None:
    tree = make_tree(None)
    assert tree.get(MIP_OBJECTS + (6, 3, 3, 0), NOW) == v.NO_SUCH_OBJECT_VALUE
    assert walk(tree, MIP_OBJECTS + (6,), NOW) == []
    # mipEntities: no bits set; mipEnable disabled(2).
    assert tree.get(MIP_OBJECTS + (1, 1, 0), NOW) == (v.OCTET_STRING, b"\x00")
    assert tree.get(MIP_OBJECTS + (1, 2, 0), NOW) == (v.INTEGER, 2)
    oid, value = tree.get_next((1, 3, 6, 1, 6, 3, 15, 1, 1, 6, 0), NOW)
    assert value == v.END_OF_MIB_VIEW_VALUE


def test_walk_under_churn_is_ordered_without_duplicates_or_losses() -> None:
    """RFC 3416 §4.2.2 GetNext is lexicographic; rows created and deleted while a
    walk runs may or may not show, rows that exist throughout always do."""
    home = Home()
    stable = [f"10.0.{i // 200}.{i % 200 + 1}" for i in range(0, 600, 2)]
    churn = [f"10.0.{i // 200}.{i % 200 + 1}" for i in range(1, 600, 2)]
    for address in stable + churn[::2]:
        home.register(address)
    tree = make_tree(home)
    rng = random.Random(5)

    def mutate(step: int) -> None:
        # Every few rows: a new binding, a deregistration, a care-of address move.
        if step % 3 == 0:
            home.register(rng.choice(churn))
        if step % 5 == 0:
            home.register(rng.choice(churn), lifetime=0)
        if step % 7 == 0:
            home.register(rng.choice(churn), coa=f"198.51.100.{rng.randrange(2, 9)}")

    rows = walk(tree, BINDING + (1,), home.now, between=mutate)
    oids = [oid for oid, _ in rows]
    assert oids == sorted(oids) and len(set(oids)) == len(oids)
    seen = {IPv4Address(bytes(oid[-8:-4])) for oid in oids}
    assert {IPv4Address(a) for a in stable} <= seen
    # And GetBulk over several columns at once (snmptable's way).
    bulk = tree.get_bulk([BINDING + (1,), BINDING + (8,)], 0, 50, home.now)
    assert [oid[len(BINDING)] for oid, _, _ in bulk[:4]] == [1, 8, 1, 8]


def test_get_bulk_limits() -> None:
    home = Home()
    for i in range(1, 40):
        home.register(f"10.0.1.{i}")
    tree = make_tree(home)
    # A huge max-repetitions is cut at max_varbinds (RFC 3416 §4.2.3 lets the
    # agent return fewer) and at the message size.
    assert len(tree.get_bulk([BINDING], 0, 2**31 - 1, home.now, max_varbinds=100)) == 100
    small = tree.get_bulk([BINDING], 0, 10_000, home.now, max_bytes=600)
    assert 5 < len(small) < 40
    # Non-repeaters once, then the repeaters; past the end, endOfMibView.
    out = tree.get_bulk([(1, 3, 6, 1, 2, 1, 1, 3), (1, 3, 6, 1, 6, 3, 15, 1, 1, 6, 0)], 1, 3, home.now)
    assert out[0][0] == (1, 3, 6, 1, 2, 1, 1, 3, 0)
    assert [value for _, value, _ in out[1:]] == [v.END_OF_MIB_VIEW_VALUE]
    assert tree.get_bulk([BINDING], 0, 0, home.now) == []


def test_views_longest_subtree_wins() -> None:
    home = Home()
    home.register("10.0.0.5")
    tree = make_tree(home)
    view = View([(MIP_OBJECTS, True), (MIP_OBJECTS + (6, 3, 1), False), (BINDING + (8,), True)])
    assert view.allows(BINDING + (8, 1)) and not view.allows(BINDING + (1, 1))
    index = ip("10.0.0.5") + ip("198.51.100.1")
    assert tree.get(BINDING + (1,) + index, home.now, view) == v.NO_SUCH_OBJECT_VALUE
    assert tree.get(BINDING + (8,) + index, home.now, view)[0] == v.GAUGE32
    assert tree.get((1, 3, 6, 1, 2, 1, 1, 1, 0), home.now, view) == v.NO_SUCH_OBJECT_VALUE
    rows = walk(tree, MIP_OBJECTS + (6, 3, 1), home.now, view)
    assert [oid[len(BINDING)] for oid, _ in rows] == [8]
    everything = walk(tree, (1,), home.now, view)
    assert everything and all(oid[:len(MIP_OBJECTS)] == MIP_OBJECTS for oid, _ in everything)


# -- Sets --------------------------------------------------------------------------------


@pytest.fixture
def datastore() -> Any:
    store = Datastore()
    store.edit("running", [Edit(Operation.MERGE, parse_path("/mobile-ip/proxy"), {})])
    store.edit("running", [Edit(Operation.CREATE, parse_path(
        "/mobile-ip/security/host[address='10.0.0.1'][spi='256']"),
        {"address": "10.0.0.1", "spi": 256, "key-hex": KEY.hex()})])
    yield store
    store.close()


def set_(tree: MibTree, store: Datastore, *varbinds: tuple[tuple[int, ...], v.Value], private: bool = True) -> None:
    """A Set as an SNMPv3 authPriv request makes it (``private``) or not."""
    apply_set(tree, store, list(varbinds), None, private=private)


def refused(tree: MibTree, store: Datastore, *varbinds: tuple[tuple[int, ...], v.Value],
            private: bool = True) -> tuple[str, int]:
    before = store.get_config("running")
    with pytest.raises(SetError) as caught:
        set_(tree, store, *varbinds, private=private)
    assert store.get_config("running") == before  # a refused Set changes nothing
    return caught.value.status, caught.value.index


def test_row_status_create_and_go_and_destroy(datastore: Datastore) -> None:
    tree = make_tree(datastore=datastore)
    index = ip("10.1.0.0") + (16,)
    set_(tree, datastore, (SUBNET + (3,) + index, v.ip_address(HA.packed)), (SUBNET + (4,) + index, v.integer(4)))
    assert datastore.get_config("running")["proxy-mobile-ip:mobile-ip"]["subnet-map"] == [
        {"prefix": "10.1.0.0/16", "home-agent": "192.0.2.1"}]
    assert tree.get(SUBNET + (4,) + index, NOW) == (v.INTEGER, 1)  # active
    assert refused(tree, datastore, (SUBNET + (4,) + index, v.integer(4))) == ("inconsistentValue", 0)
    # The home agent of an active row can change.
    set_(tree, datastore, (SUBNET + (3,) + index, v.ip_address(IPv4Address("192.0.2.9").packed)))
    assert tree.get(SUBNET + (3,) + index, NOW) == (v.IP_ADDRESS, IPv4Address("192.0.2.9").packed)
    set_(tree, datastore, (SUBNET + (4,) + index, v.integer(6)))
    assert "subnet-map" not in datastore.get_config("running")["proxy-mobile-ip:mobile-ip"]
    assert tree.get(SUBNET + (4,) + index, NOW) == v.NO_SUCH_INSTANCE_VALUE


def test_row_status_create_and_wait_then_active(datastore: Datastore) -> None:
    tree = make_tree(datastore=datastore)
    index = ip("10.0.9.1") + (300,)
    set_(tree, datastore, (HOST + (8,) + index, v.integer(5)))
    assert tree.get(HOST + (8,) + index, NOW) == (v.INTEGER, 3)  # notReady: no key yet
    assert len(datastore.get_config("running")["proxy-mobile-ip:mobile-ip"]["security"]["host"]) == 1
    assert refused(tree, datastore, (HOST + (8,) + index, v.integer(1))) == ("inconsistentValue", 0)
    set_(tree, datastore, (HOST + (4,) + index, v.octets(KEY)), (HOST + (6,) + index, v.integer(2)))
    assert tree.get(HOST + (8,) + index, NOW) == (v.INTEGER, 2)  # notInService: ready
    set_(tree, datastore, (HOST + (8,) + index, v.integer(1)))
    hosts = datastore.get_config("running")["proxy-mobile-ip:mobile-ip"]["security"]["host"]
    assert {"address": "10.0.9.1", "spi": 300, "key-hex": KEY.hex(), "replay-method": "nonces"} in hosts
    # Keys are write-only: PROXY-MOBILE-IP-MIB pmipHostSaKey, RFC 2006 mipSecKey.
    assert tree.get(HOST + (4,) + index, NOW) == v.EMPTY_STRING
    assert tree.get(SA_ENTRY + (5,) + index, NOW) == v.EMPTY_STRING
    assert tree.get(SA_ENTRY + (6,) + index, NOW) == (v.INTEGER, 3)  # nonces(3)


def test_set_error_statuses(datastore: Datastore) -> None:
    tree = make_tree(datastore=datastore)
    index = ip("10.1.0.0") + (16,)
    lifetime = PROXY_SETTINGS + (2, 0)
    assert refused(tree, datastore, (lifetime, v.octets(b"x"))) == ("wrongType", 0)
    assert refused(tree, datastore, (lifetime, (v.GAUGE32, 70000))) == ("wrongValue", 0)
    assert refused(tree, datastore, (PROXY_SETTINGS + (2, 1), (v.GAUGE32, 60))) == ("noCreation", 0)
    assert refused(tree, datastore, (MIP_OBJECTS + (2, 2, 0), v.counter32(1))) == ("notWritable", 0)
    assert refused(tree, datastore, ((1, 3, 6, 1, 4, 1, 9, 9), v.integer(1))) == ("noCreation", 0)
    # Host bits set in the index: inconsistentName (PROXY-MOBILE-IP-MIB).
    assert refused(tree, datastore, (SUBNET + (4,) + ip("10.1.2.0") + (16,), v.integer(4))) == (
        "inconsistentName", 0)
    # createAndGo without the mandatory home agent.
    assert refused(tree, datastore, (SUBNET + (4,) + index, v.integer(4))) == ("inconsistentValue", 0)
    # A key of the wrong length; notReady is not a value to set.
    host = ip("10.0.0.1") + (256,)
    assert refused(tree, datastore, (HOST + (4,) + host, v.octets(b"short"))) == ("wrongLength", 0)
    assert refused(tree, datastore, (HOST + (8,) + host, v.integer(3))) == ("wrongValue", 0)
    # The datastore's own validation (retransmit maximum >= initial), mapped to
    # its SNMP error-status, pointing at the varbind; the good first varbind is
    # not applied either.
    status, position = refused(tree, datastore, (lifetime, (v.GAUGE32, 900)),
                               (PROXY_SETTINGS + (5, 0), (v.GAUGE32, 1000)),
                               (PROXY_SETTINGS + (4, 0), (v.GAUGE32, 5000)))
    assert status in ("wrongValue", "inconsistentValue") and position in (1, 2)
    assert tree.get(lifetime, NOW) == (v.GAUGE32, 600)
    set_(tree, datastore, (lifetime, (v.GAUGE32, 900)), (PROXY_SETTINGS + (3, 0), (v.GAUGE32, 12500)))
    proxy = datastore.get_config("running")["proxy-mobile-ip:mobile-ip"]["proxy"]
    assert proxy["lifetime"] == 900 and proxy["reregistration-margin"] in ("12.5", "12.500")
    assert tree.get(PROXY_SETTINGS + (3, 0), NOW) == (v.GAUGE32, 12500)


def test_keys_are_written_only_at_auth_priv(datastore: Datastore) -> None:
    """Issue 13 item 10: a key column (PROXY-MOBILE-IP-MIB pmipHostSaKey, RFC
    2006 mipSecKey) is outside the write view of a request without privacy
    (SNMPv1/v2c community, SNMPv3 authNoPriv): RFC 3416 §4.2.5 step (1)
    noAccess at the key's varbind, and the whole Set changes nothing (RFC 3415
    §2.2, §2.5: the view depends on the security level)."""
    tree = make_tree(datastore=datastore)
    host = ip("10.0.0.1") + (256,)
    new_key = bytes(range(16))
    assert refused(tree, datastore, (HOST + (6,) + host, v.integer(2)), (HOST + (4,) + host, v.octets(new_key)),
                   private=False) == ("noAccess", 1)
    assert refused(tree, datastore, (SA_ENTRY + (5,) + host, v.octets(new_key)), private=False) == ("noAccess", 0)
    fresh = ip("10.0.9.2") + (300,)
    assert refused(tree, datastore, (HOST + (4,) + fresh, v.octets(new_key)), (HOST + (8,) + fresh, v.integer(4)),
                   private=False) == ("noAccess", 0)
    # Other columns of the same rows are writable without privacy.
    set_(tree, datastore, (HOST + (6,) + host, v.integer(2)), private=False)
    # With privacy the key is written.
    set_(tree, datastore, (HOST + (4,) + host, v.octets(new_key)), private=True)
    hosts = datastore.get_config("running")["proxy-mobile-ip:mobile-ip"]["security"]["host"]
    assert hosts[0]["key-hex"] == new_key.hex()


def test_netconf_lock_on_running_gives_resource_unavailable(datastore: Datastore) -> None:
    tree = make_tree(datastore=datastore)
    datastore.lock("running", 7)
    assert refused(tree, datastore, (PROXY_SETTINGS + (2, 0), (v.GAUGE32, 900))) == ("resourceUnavailable", 0)
    datastore.release_session(7)
    set_(tree, datastore, (PROXY_SETTINGS + (2, 0), (v.GAUGE32, 900)))


def test_mip_sec_assoc_table_writes(datastore: Datastore) -> None:
    tree = make_tree(datastore=datastore)
    index = ip("10.0.0.1") + (256,)
    assert tree.get(SA_ENTRY + (3,) + index, NOW) == (v.INTEGER, 1)  # HMAC-MD5 reads other(1)
    # Type and mode together: keyed MD5 prefix+suffix (RFC 2006 md5/prefixSuffix).
    set_(tree, datastore, (SA_ENTRY + (3,) + index, v.integer(2)), (SA_ENTRY + (4,) + index, v.integer(2)))
    assert tree.get(SA_ENTRY + (4,) + index, NOW) == (v.INTEGER, 2)
    assert refused(tree, datastore, (SA_ENTRY + (3,) + index, v.integer(1))) == ("inconsistentValue", 0)
    # A new row needs its key in the same request.
    new = ip("10.0.0.2") + (257,)
    assert refused(tree, datastore, (SA_ENTRY + (6,) + new, v.integer(2))) == ("noCreation", 0)
    set_(tree, datastore, (SA_ENTRY + (5,) + new, v.octets(KEY)))
    assert tree.get(SA_ENTRY + (5,) + new, NOW) == v.EMPTY_STRING
    assert tree.get(SA_ENTRY + (6,) + new, NOW) == (v.INTEGER, 2)


# -- layering and notifications ------------------------------------------------------------


def test_only_the_adapter_imports_pysnmp() -> None:
    """DESIGN.md rule 5: pysnmp (and pyasn1) stay behind one adapter,
    agent/snmp/server.py; the rest of agent/snmp is sans-IO (no asyncio,
    socket, time: STYLE.md convention 1)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "agent"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                relative = path.relative_to(root).as_posix()
                if top in ("pysnmp", "pyasn1") and relative != "snmp/server.py":
                    offenders.append((relative, name))
                if relative.startswith("snmp/") and relative != "snmp/server.py" and top in (
                        "asyncio", "socket", "time", "selectors", "threading"):
                    offenders.append((relative, name))
    assert offenders == []


def test_notifications_carry_the_mib_objects() -> None:
    from agent.snmp.notifications import SNMP_TRAP_OID, SYS_UP_TIME, notification, with_header
    from agent.snmp.proxy_mib import PMIP_BINDING_LOST, PMIP_REGISTRATION_DENIED

    log = ViolationLog()
    log.record(IPv4Address("10.0.0.5"), spi=300, identification=(5 << 32) | 0xFFFFFFFF,
               reason=__import__("agent.mobileip.events", fromlist=["ViolationReason"]).ViolationReason.BAD_SPI,
               now=NOW)
    sources = Sources(lambda: None, lambda: None, lambda: None, lambda: log, dict, started_at=NOW - 10)
    oid, objects = notification("authentication-failure", {"peer-address": "10.0.0.5", "reason": "bad-spi",
                                                           "spi": 300}, sources)
    assert oid == (1, 3, 6, 1, 2, 1, 44, 2, 0, 1)  # mipAuthFailure
    index = ip("10.0.0.5")
    assert objects == [
        (MIP_OBJECTS + (2, 3, 1, 1) + index, v.ip_address(IPv4Address("10.0.0.5").packed)),
        (MIP_OBJECTS + (2, 3, 1, 3) + index, v.integer(300)),
        (MIP_OBJECTS + (2, 3, 1, 5) + index, v.integer(-1)),  # 0xFFFFFFFF as Integer32
        (MIP_OBJECTS + (2, 3, 1, 6) + index, v.integer(5)),
        (MIP_OBJECTS + (2, 3, 1, 7) + index, v.integer(4)),  # badSPI(4)
    ]
    header = with_header(oid, objects, 1000)
    assert header[0] == (SYS_UP_TIME, (v.TIME_TICKS, 1000)) and header[1] == (SNMP_TRAP_OID, (v.OBJECT_IDENTIFIER, oid))
    mac = (2, 0, 0, 0, 0, 7)
    oid, objects = notification("registration-denied", {"role": "proxy", "mac": "02:00:00:00:00:07",
                                                        "home-address": "192.0.2.7", "code": 131}, sources)
    assert oid == PMIP_REGISTRATION_DENIED
    assert objects[0] == (PMIP_MIB + (1, 4, 1, 3) + mac, v.ip_address(IPv4Address("192.0.2.7").packed))
    assert objects[-1] == (PMIP_MIB + (1, 4, 1, 11) + mac, v.integer(131))
    failed = {"mac": "02:00:00:00:00:07", "home-address": "192.0.2.7", "reason": "no reply after 5 attempts"}
    assert notification("client-registration-failed", failed, sources) is None  # no binding held: none lost
    oid, objects = notification("client-registration-failed", {**failed, "binding-lost": True}, sources)
    assert oid == PMIP_BINDING_LOST and objects[-1] == (PMIP_MIB + (1, 6, 4, 0), v.integer(2))  # noReply
    assert notification("binding-created", {}, sources) is None
    assert notification("registration-denied", {"role": "home-agent"}, sources) is None
