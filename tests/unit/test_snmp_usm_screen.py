"""SNMPv3 before pyasn1 (``agent.snmp.usm_screen``), alone and in front of a
real pysnmp agent on loopback: a message USM would reject (RFC 3414 §3.2
steps 3-6: unknown engine ID, unknown user, unsupported security level, wrong
digest) or the message processing would (RFC 3412 §7.2 steps 2, 4, 5: parse
error, unknown security model, privacy without authentication) is counted in
its standard counter and dropped, or answered with the Report pysnmp would
send, without pysnmp's decoder being reached; engine discovery (RFC 3414 §4)
and authenticated messages reach pysnmp as before. The work done is asserted
by the decoders reached, never by timing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.snmp import usm_screen
from agent.snmp.server import SnmpAgent
from agent.snmp.settings import SnmpCommunity, SnmpSettings, SnmpUser
from agent.snmp.usm_screen import AUTH_PROTOCOLS, UsmUser, V3Verdict, localized_key, screen_v3
from agent.mobileip.violations import ViolationLog
from agent.snmp.instrumentation import build_tree
from agent.snmp.sources import Sources
from tests.unit.test_snmp_screen import NOW, SYS_DESCR, tlv

ENGINE = bytes.fromhex("80007ed9050102030405060708")
SHA = AUTH_PROTOCOLS["sha"]
SHA256 = AUTH_PROTOCOLS["sha-256"]
OPS_KEY = localized_key(b"authpass123", ENGINE, SHA)
SIGNER_KEY = localized_key(b"authpass789", ENGINE, SHA)
USERS = {b"ops": UsmUser(SHA, OPS_KEY, private=True), b"signer": UsmUser(SHA, SIGNER_KEY, private=False)}
NO_AUTH, AUTH, AUTH_PRIV, REPORTABLE = 0x00, 0x01, 0x03, 0x04
#: msgAuthenticationParameters given raw (None: a placeholder, then signed).
AuthLike = bytes | None


def v3(*, user: bytes = b"ops", engine_id: bytes = ENGINE, flags: int = AUTH | REPORTABLE, model: int = 3,
       key: bytes | None = OPS_KEY, auth: AuthLike = None, varbinds: int = 1, msg_id: int = 0x1234,
       max_size: bytes = b"\x02\x03\x00\xff\xe3", boots: int = 1, engine_time: int = 0,
       encrypted: bool = False) -> bytes:
    """An SNMPv3 message (RFC 3412 §6) with a plaintext GetRequest of
    ``varbinds`` varbinds, signed HMAC-SHA-96 with ``key`` (RFC 3414 §6.3.1)
    unless ``auth`` gives msgAuthenticationParameters raw; ``encrypted``: the
    scoped PDU's octets as an encryptedPDU (an OCTET STRING) instead."""
    placeholder = bytes(12) if auth is None else auth
    header = tlv(0x30, tlv(0x02, msg_id.to_bytes(4, "big")) + max_size + tlv(0x04, bytes((flags,)))
                 + tlv(0x02, bytes((model,))))
    usm = tlv(0x04, tlv(0x30, tlv(0x04, engine_id) + tlv(0x02, bytes((boots,))) + tlv(0x02, bytes((engine_time,)))
                        + tlv(0x04, user) + tlv(0x04, placeholder) + tlv(0x04, b"")))
    oids = b"".join(tlv(0x30, tlv(0x06, SYS_DESCR) + b"\x05\x00") for _ in range(varbinds))
    pdu = tlv(0xA0, b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + tlv(0x30, oids))
    scoped = tlv(0x04 if encrypted else 0x30, tlv(0x04, engine_id) + tlv(0x04, b"") + pdu)
    message = tlv(0x30, b"\x02\x01\x03" + header + usm + scoped)
    if auth is None and key is not None and flags & AUTH:
        digest = hmac.new(key, message, "sha1").digest()[:12]
        message = message.replace(placeholder, digest, 1)
    return message



# -- the screen alone ---------------------------------------------------------------


def test_localized_keys_are_rfc_3414_a_3_and_pysnmp_s() -> None:
    """RFC 3414 §A.3.2: "maplesyrup", engine ID 00..02, SHA. RFC 7860 gives
    no SHA-256 vector: pysnmp's own localization is the reference."""
    engine = bytes(11) + b"\x02"
    assert localized_key(b"maplesyrup", engine, SHA).hex() == "6695febc9288e36282235fc7151f128497b38f3f"
    from pysnmp.proto.secmod.rfc7860.auth import hmacsha2

    reference = hmacsha2.HmacSha2(hmacsha2.HmacSha2.SHA256_SERVICE_ID)
    ku = reference.hash_passphrase("authpass256")
    from pyasn1.type.univ import OctetString

    assert localized_key(b"authpass256", ENGINE, SHA256) == bytes(reference.localize_key(ku, OctetString(ENGINE)))


@pytest.mark.parametrize(("datagram", "verdict"), [
    (v3(), V3Verdict.ACCEPT),
    (v3(user=b"signer", key=SIGNER_KEY), V3Verdict.ACCEPT),
    # RFC 3414 §4 engine discovery: empty engine ID at noAuthNoPriv.
    (v3(user=b"", engine_id=b"", flags=NO_AUTH | REPORTABLE, key=None, auth=b""), V3Verdict.ACCEPT),
    (v3(model=99), V3Verdict.UNKNOWN_SECURITY_MODEL),
    (v3(flags=0x02 | REPORTABLE), V3Verdict.INVALID_MESSAGE),
    (v3(engine_id=b"\x80\x00\x1f\x88\x80\xaa\xbb\xcc\xdd"), V3Verdict.UNKNOWN_ENGINE_ID),
    (v3(engine_id=b""), V3Verdict.UNKNOWN_ENGINE_ID),  # empty, but authenticated: not a discovery
    (v3(user=b"nobody"), V3Verdict.UNKNOWN_USER_NAME),
    (v3(user=b""), V3Verdict.UNKNOWN_USER_NAME),
    (v3(flags=NO_AUTH | REPORTABLE, key=None), V3Verdict.UNSUPPORTED_SECURITY_LEVEL),
    (v3(user=b"signer", flags=AUTH_PRIV, key=SIGNER_KEY), V3Verdict.UNSUPPORTED_SECURITY_LEVEL),
    (v3(key=SIGNER_KEY), V3Verdict.WRONG_DIGEST),
    (v3(auth=b"\x00" * 11), V3Verdict.WRONG_DIGEST),  # RFC 3414 §7.3.2 step 1: not 12 octets
    # RFC 3412 §6 ranges and shapes: snmpInASNParseErrs.
    (v3(max_size=b"\x02\x02\x01\xe3"), V3Verdict.PARSE_ERROR),  # msgMaxSize 483 < 484
    (v3(msg_id=0x80000000), V3Verdict.PARSE_ERROR),  # negative msgID
    (v3(user=b"u" * 33), V3Verdict.PARSE_ERROR),  # RFC 3414 §2.4: msgUserName SIZE(0..32)
    (v3() + b"\x00", V3Verdict.PARSE_ERROR),
    (v3()[:-1], V3Verdict.PARSE_ERROR),
])
def test_each_rfc_3414_step_has_its_verdict(datagram: bytes, verdict: V3Verdict) -> None:
    assert screen_v3(datagram, ENGINE, USERS)[0] is verdict


def test_the_order_is_rfc_3412_7_2_then_rfc_3414_3_2() -> None:
    """An unknown security model is counted before bad flags, bad flags before
    the security parameters, an unknown engine ID before the user name, the
    user before the level, the level before the digest."""
    assert screen_v3(v3(model=99, flags=0x02, user=b"u" * 40), ENGINE, USERS)[0] is V3Verdict.UNKNOWN_SECURITY_MODEL
    assert screen_v3(v3(flags=0x02, user=b"u" * 40), ENGINE, USERS)[0] is V3Verdict.INVALID_MESSAGE
    assert screen_v3(v3(engine_id=b"\x80\x00\x00\x00\x01", user=b"nobody"), ENGINE, USERS)[0] \
        is V3Verdict.UNKNOWN_ENGINE_ID
    assert screen_v3(v3(user=b"nobody", flags=NO_AUTH), ENGINE, USERS)[0] is V3Verdict.UNKNOWN_USER_NAME
    assert screen_v3(v3(flags=NO_AUTH, key=None, auth=b"junk"), ENGINE, USERS)[0] \
        is V3Verdict.UNSUPPORTED_SECURITY_LEVEL


def test_a_changed_octet_anywhere_is_a_wrong_digest() -> None:
    """RFC 3414 §6.3.2: the HMAC covers the whole message; a varbind's octet
    changed after signing (here the last) fails it."""
    signed = v3()
    assert screen_v3(signed, ENGINE, USERS)[0] is V3Verdict.ACCEPT
    tampered = signed[:-1] + bytes((signed[-1] ^ 1,))
    assert screen_v3(tampered, ENGINE, USERS)[0] is V3Verdict.WRONG_DIGEST


# -- in front of the agent --------------------------------------------------------------


def agent_with_users() -> SnmpAgent:
    settings = SnmpSettings(address="127.0.0.1", port=0, engine_id=ENGINE,
                            communities=(SnmpCommunity("ro", "public"),),
                            users=(SnmpUser("ops", "sha", "authpass123", "aes-128", "privpass123"),
                                   SnmpUser("signer", "sha", "authpass789", "none")))
    log = ViolationLog()
    sources = Sources(lambda: None, lambda: None, lambda: None, lambda: log, dict, started_at=NOW)
    return SnmpAgent(settings, lambda stats: build_tree(sources, stats=stats), clock=lambda: NOW + 5,
                     sources=sources)


COUNTERS = (("__SNMPv2-MIB", "snmpInPkts"), ("__SNMPv2-MIB", "snmpInASNParseErrs"),
            ("__SNMP-MPD-MIB", "snmpUnknownSecurityModels"), ("__SNMP-MPD-MIB", "snmpInvalidMsgs"),
            ("__SNMP-MPD-MIB", "snmpUnknownPDUHandlers"),
            *(("__SNMP-USER-BASED-SM-MIB", name) for name in (
                "usmStatsUnknownEngineIDs", "usmStatsUnknownUserNames", "usmStatsUnsupportedSecLevels",
                "usmStatsWrongDigests", "usmStatsNotInTimeWindows")))


@pytest.fixture
def pysnmp_reached(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The datagrams pysnmp's message dispatcher (where pyasn1 decodes the
    whole message) received."""
    from pysnmp.proto.rfc3412 import MsgAndPduDispatcher

    reached: list[bytes] = []
    real: Callable[..., Any] = MsgAndPduDispatcher.receive_message

    def spy(self: Any, snmp_engine: Any, domain: Any, address: Any, whole: bytes) -> Any:
        reached.append(bytes(whole))
        return real(self, snmp_engine, domain, address, whole)

    monkeypatch.setattr(MsgAndPduDispatcher, "receive_message", spy)
    yield reached


def exchange(datagrams: list[bytes], *, wait_replies: int,
             agent: SnmpAgent | None = None) -> tuple[dict[str, int], list[bytes]]:
    """Counter increments and replies for ``datagrams`` sent to ``agent`` (a
    fresh one by default), then a v2c GetRequest whose answer shows all were
    processed."""
    agent = agent or agent_with_users()
    marker = tlv(0x30, b"\x02\x01\x01" + tlv(0x04, b"public") + tlv(
        0xA0, b"\x02\x02\x7e\x7e\x02\x01\x00\x02\x01\x00" + tlv(0x30, tlv(0x30, tlv(0x06, SYS_DESCR) + b"\x05\x00"))))

    async def run() -> tuple[dict[str, int], list[bytes]]:
        await agent.start()
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.setblocking(False)
            client.bind(("127.0.0.1", 0))
            try:
                before = {name: agent._stat(module, name) for module, name in COUNTERS}
                for datagram in [*datagrams, marker]:
                    client.sendto(datagram, ("127.0.0.1", agent.port))
                replies: list[bytes] = []
                marked = False
                while not marked or len(replies) < wait_replies:
                    reply = await asyncio.wait_for(loop.sock_recv(client, 65535), 10)
                    if b"\x02\x02\x7e\x7e" in reply[:40]:
                        marked = True
                    else:
                        replies.append(reply)
                after = {name: agent._stat(module, name) for module, name in COUNTERS}
                return {name: after[name] - before[name] for name in after if after[name] != before[name]}, replies
            finally:
                agent.close()

    return asyncio.run(run())


def test_unauthenticated_v3_is_counted_and_reported_without_pysnmp(pysnmp_reached: list[bytes]) -> None:
    """128 varbinds each (what cost pyasn1 ~10 ms): an unknown user, a wrong
    digest, a foreign engine ID, noAuthNoPriv for an authenticating user, an
    unknown security model, privacy without authentication, a bad msgMaxSize,
    and an unknown user without the reportable flag."""
    heavy = 128
    datagrams = [
        v3(user=b"nobody", varbinds=heavy),
        v3(key=SIGNER_KEY, varbinds=heavy),
        v3(engine_id=b"\x80\x00\x1f\x88\x04evil", varbinds=heavy),
        v3(flags=NO_AUTH | REPORTABLE, key=None, varbinds=heavy),
        v3(model=99, varbinds=heavy),
        v3(flags=0x02 | REPORTABLE, varbinds=heavy),
        v3(max_size=b"\x02\x01\x00", varbinds=heavy),
        v3(user=b"nobody", flags=AUTH, varbinds=heavy),
    ]
    deltas, replies = exchange(datagrams, wait_replies=4)
    assert pysnmp_reached == []
    assert deltas == {"snmpInPkts": 9, "snmpInASNParseErrs": 1, "snmpUnknownSecurityModels": 1,
                      "snmpInvalidMsgs": 1, "usmStatsUnknownEngineIDs": 1, "usmStatsUnknownUserNames": 2,
                      "usmStatsUnsupportedSecLevels": 1, "usmStatsWrongDigests": 1}
    # Four Reports (the reportable USM failures), each naming its counter
    # (usmStats.N.0, RFC 3414 §5) with the value after the increment.
    stats = [reply[reply.index(b"\x06\x0a\x2b\x06\x01\x06\x03\x0f\x01\x01") + 10] for reply in replies]
    assert sorted(stats) == [1, 3, 4, 5]


def test_the_report_is_the_one_pysnmp_sends(pysnmp_reached: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """The same unknown-user message to one agent, once through the screen
    and once with the screen's verdict ignored (pysnmp decides): the two
    Reports are the same octets (RFC 3412 §7.1 step 3) but for msgFlags,
    where pysnmp copies the request's reportable flag and the screen clears
    it (RFC 3412 §6.4: a message carrying a Response-class PDU, as a Report is
    (RFC 3411 §2.8), has it clear), snmpEngineTime, which may have moved on
    by a second between the two, and the counter's value."""
    request = v3(user=b"nobody")
    agent = agent_with_users()

    async def run() -> list[bytes]:
        await agent.start()
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.setblocking(False)
            client.bind(("127.0.0.1", 0))
            try:
                client.sendto(request, ("127.0.0.1", agent.port))
                ours = await asyncio.wait_for(loop.sock_recv(client, 65535), 10)
                monkeypatch.setattr(usm_screen, "screen_v3", lambda data, engine_id, users: (V3Verdict.ACCEPT, None))
                client.sendto(request, ("127.0.0.1", agent.port))
                theirs = await asyncio.wait_for(loop.sock_recv(client, 65535), 10)
                return [ours, theirs]
            finally:
                agent.close()

    ours, theirs = asyncio.run(run())
    assert pysnmp_reached == [request]
    flags = ours.index(b"\x04\x01", 5) + 2  # msgFlags' content, after msgID and msgMaxSize
    assert ours[flags] == 0x00 and theirs[flags] == 0x04
    # msgAuthoritativeEngineTime: the INTEGER after boots (1), both one octet here.
    clock = ours.index(ENGINE + b"\x02\x01\x01\x02\x01") + len(ENGINE) + 5
    assert 0 <= theirs[clock] - ours[clock] <= 1
    # The counter (the last octet): one count each, the same counter.
    assert (ours[-1], theirs[-1]) == (1, 2)
    assert ours[:flags] + ours[flags + 1:clock] + ours[clock + 1:-1] == \
        theirs[:flags] + theirs[flags + 1:clock] + theirs[clock + 1:-1]
    assert ours.count(b"nobody") == 1


def test_discovery_and_authenticated_messages_reach_pysnmp(pysnmp_reached: list[bytes]) -> None:
    """Engine discovery gets pysnmp's Report (usmStatsUnknownEngineIDs with
    our engine ID, RFC 3414 §4); an authenticated message from boots 0 /
    time 0 reaches pysnmp, whose time-window check (§3.2 step 7) reports it."""
    discovery = v3(user=b"", engine_id=b"", flags=NO_AUTH | REPORTABLE, key=None, auth=b"")
    signed = v3(boots=0, engine_time=0)
    deltas, replies = exchange([discovery, signed], wait_replies=2)
    assert pysnmp_reached == [discovery, signed]
    assert deltas["usmStatsUnknownEngineIDs"] == 1 and deltas["usmStatsNotInTimeWindows"] == 1
    assert all(ENGINE in reply for reply in replies)


def security_states_held(agent: SnmpAgent) -> int:
    """Entries in pysnmp's security models' state caches (its private
    ``Cache``, which has no expiry: an entry not released when the message is
    answered is held for the life of the process)."""
    return sum(len(model._cache._Cache__cache_entries) for model in agent._engine.security_models.values())


def test_pysnmp_keeps_no_state_for_what_it_would_not_answer() -> None:
    """Found by tools/bench/snmp_fuzz_memory.py (issue 13, docs/security.md
    finding 5): pysnmp pushes a security state for each message its security
    model accepts and releases it only when the message is answered; these
    were not, and their states were held forever. A v2c InformRequest and
    Report with a known community (RFC 3412 §4.2.2.1.2: no application,
    snmpUnknownPDUHandlers, no Report in v2c), an SNMPv1 Set over Integer32
    and a v1 Get with a negative error-index (RFC 3584 §4.1.2 conversion
    errors; now answered, RFC 1157 §4.1), and an engine discovery whose
    scoped PDU is encrypted at noAuthNoPriv (pysnmp counted it and said
    nothing; now usmStatsUnknownEngineIDs and its Report, RFC 3414 §3.2 step 3)."""
    from tests.unit.test_snmp_screen import V1_GET_NEGATIVE_ERROR_INDEX, V1_SET_OVER_INTEGER32, message

    encrypted_discovery = v3(user=b"", engine_id=b"", flags=NO_AUTH | REPORTABLE, key=None, auth=b"",
                             encrypted=True)
    datagrams = [message([SYS_DESCR], pdu_type=0xA6), message([SYS_DESCR], pdu_type=0xA8),
                 V1_SET_OVER_INTEGER32, V1_GET_NEGATIVE_ERROR_INDEX, encrypted_discovery] * 3
    agent = agent_with_users()
    deltas, replies = exchange(datagrams, wait_replies=9, agent=agent)
    assert security_states_held(agent) == 0
    assert deltas["snmpUnknownPDUHandlers"] == 6 and deltas["usmStatsUnknownEngineIDs"] == 3
    assert len(replies) == 9  # the two v1 answers and the Report, three times


def test_foreign_engine_ids_make_pysnmp_hold_nothing(pysnmp_reached: list[bytes]) -> None:
    """pysnmp took a msgAuthoritativeEngineID of 5-32 octets that is not ours
    as a peer's, and a noAuthNoPriv message with an empty user name went on
    to RFC 3414 §3.2 step 7's time synchronization: one entry in its timeline
    per engine ID, held 300 s, without a cap (20,000 such datagrams grew the
    process by 29 MiB). RFC 3414 §3.2 step 3 counts them in
    usmStatsUnknownEngineIDs; nothing is held."""
    agent = agent_with_users()
    datagrams = [v3(user=b"", engine_id=b"\x80\x00\x1f\x88\x04" + n.to_bytes(4, "big"), flags=NO_AUTH | REPORTABLE,
                    key=None, auth=b"") for n in range(50)]
    deltas, replies = exchange(datagrams, wait_replies=50, agent=agent)
    timeline = agent._engine.security_models[3]._SnmpUSMSecurityModel__timeline  # pysnmp's own (private)
    assert pysnmp_reached == []
    assert len(timeline) <= 1  # at most our own engine's
    assert deltas["usmStatsUnknownEngineIDs"] == 50 and len(replies) == 50
