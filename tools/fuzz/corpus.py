"""Valid messages for each interface, built by the project's own codecs
(``agent.mobileip.builder``, ``registration``, ``advertisement``,
``agent.snmp.ber``) from a seeded ``random.Random``: the same seed gives the
same corpus. SNMPv3 messages are the exception: they are captured from
net-snmp's own tools at run time (``snmp_v3_capture`` in ``interfaces``),
since a USM message carries the agent's engine ID, boots and time (RFC 3414
§3.2), which only the running agent knows.
"""

from __future__ import annotations

import json
import random
from ipaddress import IPv4Address

from agent.mobileip.advertisement import AgentAdvertisement, AgentSolicitation
from agent.mobileip.builder import build_request
from agent.mobileip.extensions import Extension
from agent.mobileip.numbers import AdvertisementFlag, ExtensionType, RequestFlag
from agent.mobileip.registration import RegistrationReply
from agent.mobileip.security import SecurityAssociation, authenticate
from agent.snmp import ber
from tools.fuzz import target

MN_SA = SecurityAssociation(target.MN_SPI, target.MN_KEY)
PEER_SA = SecurityAssociation(target.PEER_SPI, target.PEER_KEY)
#: A fixed clock for the corpus (2026-01-01T00:00:00Z as NTP seconds), so the
#: corpus does not depend on when it is built.
CORPUS_NTP_SECONDS = 3976214400


def _identification(rng: random.Random) -> int:
    return (CORPUS_NTP_SECONDS << 32) | rng.getrandbits(32)


def registration_requests(rng: random.Random, count: int = 64) -> list[bytes]:
    """RRQs as a mobile node (MHAE), relayed by an FA (MHAE + FHAE), with NAI,
    with an MFAE, with unknown skippable (>=128) and not skippable (<128)
    extensions, deregistrations, every flag (RFC 5944 §3.3, §3.5)."""
    out = []
    flags = [RequestFlag(0), RequestFlag.SIMULTANEOUS_BINDINGS, RequestFlag.BROADCAST,
             RequestFlag.DECAPSULATION_BY_MOBILE_NODE, RequestFlag.GRE | RequestFlag.REVERSE_TUNNELING,
             RequestFlag.MINIMAL_ENCAPSULATION, RequestFlag.REVERSE_TUNNELING]
    for i in range(count):
        home = IPv4Address("192.0.2.0") + rng.randint(1, 254)
        care_of = IPv4Address(rng.choice((target.FA, target.SENDER, "198.51.100.7")))
        data = build_request(
            home_address=home, home_agent=IPv4Address(target.HA), care_of_address=care_of,
            identification=_identification(rng), lifetime=rng.choice((0, 1, 300, 1800, 65535)),
            sa=MN_SA, flags=rng.choice(flags),
            nai=f"node{i}@example.net" if rng.random() < 0.3 else None,
            foreign_sa=PEER_SA if rng.random() < 0.2 else None,
        )
        if rng.random() < 0.3:  # as the FA relays it: FA-HA authentication (§3.5.4)
            data = authenticate(data, ExtensionType.FOREIGN_HOME_AUTHENTICATION, PEER_SA)
        if rng.random() < 0.15:
            data += Extension(rng.choice((130, 140, 200, 255, 40, 100)), rng.randbytes(rng.randint(0, 12))).encode()
        out.append(data)
    return out


def registration_replies(rng: random.Random, count: int = 48) -> list[bytes]:
    """RRPs as the HA sends them (MHAE, and FHAE towards the FA) and as an FA
    sends them to a node (RFC 5944 §3.4, §3.7.3, §3.8.3)."""
    out = []
    for _ in range(count):
        reply = RegistrationReply(
            code=rng.choice((0, 1, 64, 66, 69, 70, 71, 77, 78, 128, 129, 130, 131, 133, 136)),
            lifetime=rng.choice((0, 300, 1800)),
            home_address=IPv4Address("192.0.2.0") + rng.randint(1, 254),
            home_agent=IPv4Address(target.HA),
            identification=_identification(rng),
        )
        data = authenticate(reply.encode_header(), ExtensionType.MOBILE_HOME_AUTHENTICATION, MN_SA)
        if rng.random() < 0.5:
            data = authenticate(data, ExtensionType.FOREIGN_HOME_AUTHENTICATION, PEER_SA)
        out.append(data)
    return out


def icmp_messages(rng: random.Random, count: int = 48) -> list[bytes]:
    """Agent Advertisements (RFC 5944 §2.1, with router addresses, prefix
    lengths, padding, unknown extensions) and Agent Solicitations (§2.2)."""
    out = [AgentSolicitation().encode() for _ in range(count // 4)]
    for _ in range(count - len(out)):
        routers = tuple((IPv4Address("198.51.100.0") + rng.randint(1, 200), rng.randint(0, 10))
                        for _ in range(rng.choice((0, 0, 1, 2))))
        flags = AdvertisementFlag.FOREIGN_AGENT | rng.choice(
            (AdvertisementFlag(0), AdvertisementFlag.REGISTRATION_REQUIRED, AdvertisementFlag.BUSY,
             AdvertisementFlag.HOME_AGENT))
        advertisement = AgentAdvertisement(
            sequence=rng.randint(0, 0xFFFF), registration_lifetime=rng.choice((300, 1800, 0xFFFF)),
            flags=flags,
            care_of_addresses=tuple(IPv4Address("127.0.0.0") + rng.randint(10, 250)
                                    for _ in range(rng.randint(1, 3))),
            advertisement_lifetime=rng.choice((9, 1800, 9000)),
            router_addresses=routers,
            prefix_lengths=tuple(rng.randint(8, 30) for _ in routers) if routers and rng.random() < 0.5 else None,
            padded=rng.random() < 0.2,
        )
        out.append(advertisement.encode())
    return out


#: SNMPv2-MIB and MIP-MIB / PROXY-MOBILE-IP-MIB objects the requests name.
SNMP_OIDS: tuple[tuple[int, ...], ...] = (
    (1, 3, 6, 1, 2, 1, 1, 1, 0), (1, 3, 6, 1, 2, 1, 1, 3, 0), (1, 3, 6, 1, 2, 1, 1, 5, 0),
    (1, 3, 6, 1, 2, 1, 11, 1, 0), (1, 3, 6, 1, 2, 1, 44), (1, 3, 6, 1, 2, 1, 44, 1, 1),
    (1, 3, 6, 1, 4, 1, 32473, 2), (1, 3, 6, 1), (1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0),
)
GET, GETNEXT, GETBULK, SET = 0xA0, 0xA1, 0xA5, 0xA3


def snmp_v2c_request(community: str, pdu_type: int, request_id: int,
                     oids: list[tuple[int, ...]], *, non_repeaters: int = 0,
                     max_repetitions: int = 0, set_value: bytes | None = None,
                     version: int = ber.SNMP_V2C) -> bytes:
    """A GetRequest/GetNext/GetBulk/Set (RFC 3416 §3) in an SNMPv2c (or v1)
    message; GetBulk's non-repeaters/max-repetitions ride in the error fields
    (RFC 3416 §3: same PDU layout)."""
    varbinds = []
    for oid in oids:
        value = set_value if set_value is not None else b"\x05\x00"  # NULL
        content = b"\x06" + bytes([len(ber.encode_oid(oid))]) + ber.encode_oid(oid) + value
        varbinds.append(b"\x30" + bytes([len(content)]) + content)
    status, index = (non_repeaters, max_repetitions) if pdu_type == GETBULK else (0, 0)
    return ber.encode_message(community.encode(), pdu_type, request_id.to_bytes(4, "big"),
                              status, index, varbinds, version=version)


def snmp_v2c_messages(rng: random.Random, count: int = 48) -> list[bytes]:
    out = []
    for _ in range(count):
        kind = rng.choice((GET, GETNEXT, GETBULK, SET))
        oids = [rng.choice(SNMP_OIDS) for _ in range(rng.randint(1, 4))]
        community = target.WRITE_COMMUNITY if kind == SET else rng.choice((target.COMMUNITY, "wrong"))
        # Sets name sysName/sysContact only, never a row of the configuration.
        if kind == SET:
            oids = [(1, 3, 6, 1, 2, 1, 1, rng.choice((4, 5, 6)), 0)]
        value = b"\x04\x05fuzz!" if kind == SET else None
        out.append(snmp_v2c_request(community, kind, rng.getrandbits(31), oids,
                                    non_repeaters=rng.randint(0, 2), max_repetitions=rng.choice((1, 10, 50)),
                                    set_value=value, version=rng.choice((ber.SNMP_V2C, ber.SNMP_V2C, 0))))
    return out


def control_lines(rng: random.Random, count: int = 64) -> list[bytes]:
    """JSON lines of every control-socket request kind (agent/control_requests.py).
    Edits only touch the proxy's lifetime and the FA's advertisement lifetime:
    a surviving mutation cannot remove a role the probes need."""
    out = []
    for i in range(count):
        mac = "02:00:00:00:{:02x}:{:02x}".format(rng.randrange(256), rng.randrange(256))
        address = str(IPv4Address("192.0.2.0") + rng.randint(100, 250))
        kind = rng.randrange(10)
        request: dict[str, object]
        if kind == 0:
            request = {"op": "associate", "mac": mac, "address": address, "interface": "wlan0"}
        elif kind == 1:
            request = {"op": "associate-many", "clients": [
                {"mac": mac, "address": address, "interface": "wlan0"} for _ in range(rng.randint(1, 3))]}
        elif kind == 2:
            request = {"op": "disassociate", "mac": mac}
        elif kind == 3:
            request = {"op": "address", "mac": mac, "address": address}
        elif kind == 4:
            request = {"op": "state", "rows": rng.random() < 0.5}
        elif kind == 5:
            request = {"op": "get-config", "source": rng.choice(("running", "startup", "candidate")),
                       "with-defaults": rng.random() < 0.5}
        elif kind == 6:
            request = {"op": "edit-config", "target": rng.choice(("running", "candidate")), "edits": [
                {"operation": "merge", "path": "/mobile-ip/proxy/lifetime", "value": rng.choice((300, 600, 900))}]}
        elif kind == 7:
            request = {"op": "edit-config", "edits": [
                {"path": "/mobile-ip/foreign-agent/advertisement/lifetime", "value": 1800}]}
        elif kind == 8:
            request = {"op": rng.choice(("commit", "discard-changes", "clear-counters"))}
        else:
            request = {"op": "copy-config", "source": "startup", "target": "candidate"}
        out.append(json.dumps(request).encode())
    return out


NETCONF_BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
MIP_NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"


def netconf_rpcs(rng: random.Random, count: int = 48) -> list[bytes]:
    """<rpc> documents of the operations the server implements (RFC 6241 §7),
    with subtree and XPath filters (§6, §8.9) and harmless edits."""
    bodies = [
        "<get/>",
        "<get-config><source><running/></source></get-config>",
        "<get-config><source><running/></source><filter type=\"subtree\"><mobile-ip xmlns=\"{ns}\"><proxy/></mobile-ip></filter></get-config>",
        "<get><filter type=\"xpath\" select=\"/mobile-ip/home-agent\"/></get>",
        "<get><filter type=\"subtree\"><netconf-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\"><sessions/></netconf-state></filter></get>",
        "<lock><target><candidate/></target></lock>",
        "<unlock><target><candidate/></target></unlock>",
        "<validate><source><candidate/></source></validate>",
        "<discard-changes/>",
        "<edit-config><target><candidate/></target><config><mobile-ip xmlns=\"{ns}\"><proxy><lifetime>{n}</lifetime></proxy></mobile-ip></config></edit-config>",
        "<edit-config><target><running/></target><default-operation>merge</default-operation><config><mobile-ip xmlns=\"{ns}\"><proxy><lifetime>{n}</lifetime></proxy></mobile-ip></config></edit-config>",
        "<get-schema xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\"><identifier>proxy-mobile-ip</identifier></get-schema>",
        "<copy-config><target><candidate/></target><source><running/></source></copy-config>",
    ]
    out = []
    for i in range(count):
        body = rng.choice(bodies).format(ns=MIP_NS, n=rng.choice((300, 600, 900)))
        out.append(f'<rpc message-id="{i}" xmlns="{NETCONF_BASE}">{body}</rpc>'.encode())
    return out
