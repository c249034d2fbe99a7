"""The first look at each SNMP datagram (``agent.snmp.screen``), alone and in
front of a real pysnmp agent on loopback: the version and the community are
checked before anything else is decoded (RFC 3412 §4.2.1, RFC 3584 §5.2.1), and
everything an unauthenticated datagram can make a decoder do is bounded
(RFC 2578 §3.5, §7.1.3: at most 128 sub-identifiers, each at most 2^32-1;
nesting, varbinds, TLVs, INTEGER size). Each rejection is counted as RFC 3418
names it (snmpInBadVersions, snmpInBadCommunityNames, snmpInASNParseErrs) and
the work done is asserted by counting the octets read and the decoders
reached, never by timing."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.mobileip.violations import ViolationLog
from agent.snmp import ber, screen
from agent.snmp import server as snmp_server
from agent.snmp.instrumentation import build_tree
from agent.snmp.screen import Verdict
from agent.snmp.server import SnmpAgent
from agent.snmp.settings import SnmpCommunity, SnmpSettings, SnmpUser
from agent.snmp.sources import Sources

NOW = 1000.0
SYS_DESCR = b"\x2b\x06\x01\x02\x01\x01\x01\x00"  # 1.3.6.1.2.1.1.1.0


def tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        head = bytes((length,))
    else:
        octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
        head = bytes((0x80 | len(octets),)) + octets
    return bytes((tag,)) + head + content


def message(oids: list[bytes], *, community: bytes = b"public", version: int = 1, pdu_type: int = 0xA0,
            value: bytes = b"\x05\x00") -> bytes:
    """A v1/v2c message of one PDU, OID content octets given raw."""
    varbinds = b"".join(tlv(0x30, tlv(0x06, oid) + value) for oid in oids)
    pdu = tlv(pdu_type, b"\x02\x02\x30\x39\x02\x01\x00\x02\x01\x00" + tlv(0x30, varbinds))
    return tlv(0x30, b"\x02\x01" + bytes((version,)) + tlv(0x04, community) + pdu)


def v3_message(oids: list[bytes]) -> bytes:
    """An SNMPv3 noAuthNoPriv message with a plaintext scoped PDU (RFC 3412 §6):
    pysnmp decodes all of it before USM looks at the user."""
    header = tlv(0x30, b"\x02\x01\x01" + b"\x02\x03\x00\xff\xe3" + tlv(0x04, b"\x04") + b"\x02\x01\x03")
    usm = tlv(0x04, tlv(0x30, tlv(0x04, b"") + b"\x02\x01\x00\x02\x01\x00" + tlv(0x04, b"nobody")
                        + tlv(0x04, b"") + tlv(0x04, b"")))
    varbinds = b"".join(tlv(0x30, tlv(0x06, oid) + b"\x05\x00") for oid in oids)
    pdu = tlv(0xA0, b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + tlv(0x30, varbinds))
    scoped = tlv(0x30, tlv(0x04, b"") + tlv(0x04, b"") + pdu)
    return tlv(0x30, b"\x02\x01\x03" + header + usm + scoped)


#: One sub-identifier of ~60 KB of continuation octets: decoded naively, a
#: 420,000-bit integer built by 60,000 shifts.
HUGE_SUBID = b"\x2b" + b"\xff" * 60000 + b"\x7f"
#: Well formed, but 2^33: over RFC 2578 §7.1.3's 2^32-1 (pyasn1 takes it).
SUBID_2_33 = b"\x2b\x06\x01" + bytes((0xA0, 0x80, 0x80, 0x80, 0x00))


class CountingBytes(bytes):
    """Bytes that count how many octets a decoder reads one at a time."""

    reads = 0

    def __getitem__(self, index: Any) -> Any:
        type(self).reads += 1
        return super().__getitem__(index)


# -- the screen alone ---------------------------------------------------------------


def test_a_wrong_community_is_rejected_before_the_oids_are_read() -> None:
    CountingBytes.reads = 0
    data = CountingBytes(message([HUGE_SUBID], community=b"wrong"))
    assert screen.screen(data, {b"public"}) is Verdict.BAD_COMMUNITY
    assert CountingBytes.reads < 20  # the headers up to the community, not 60,000 octets


def test_a_huge_sub_identifier_is_a_parse_error_after_a_few_octets() -> None:
    CountingBytes.reads = 0
    data = CountingBytes(message([b"\x2b" + b"\xff" * 500 + b"\x7f"]))
    assert screen.screen(data, {b"public"}) is Verdict.PARSE_ERROR
    assert CountingBytes.reads < 40
    CountingBytes.reads = 0
    assert screen.screen(CountingBytes(message([HUGE_SUBID])), {b"public"}) is Verdict.PARSE_ERROR
    assert CountingBytes.reads < 40  # longer than 127 * 5 octets: refused on its length


@pytest.mark.parametrize(("oid", "verdict"), [
    (b"\x2b\x06\x01" + bytes((0x8F, 0xFF, 0xFF, 0xFF, 0x7F)), Verdict.ACCEPT),  # 2^32-1
    (SUBID_2_33, Verdict.PARSE_ERROR),
    (b"\x2b" + b"\x01" * 126, Verdict.ACCEPT),  # 128 sub-identifiers (RFC 2578 §3.5)
    (b"\x2b" + b"\x01" * 127, Verdict.PARSE_ERROR),  # 129
    (b"\x2b\x80\x01", Verdict.PARSE_ERROR),  # X.690 §8.19.2: not minimal
    (b"\x2b\x86", Verdict.PARSE_ERROR),  # unterminated
    (b"", Verdict.PARSE_ERROR),
])
def test_object_identifier_bounds(oid: bytes, verdict: Verdict) -> None:
    assert screen.screen(message([oid]), {b"public"}) is verdict


def test_versions_nesting_integers_and_varbinds_are_bounded() -> None:
    communities = {b"public"}
    assert screen.screen(message([SYS_DESCR]), communities) is Verdict.ACCEPT
    assert screen.screen(message([SYS_DESCR], version=0), communities) is Verdict.ACCEPT
    assert screen.screen(message([SYS_DESCR], version=2), communities) is Verdict.BAD_VERSION
    # Nesting: a value 20 SEQUENCEs deep.
    deep = b"\x05\x00"
    for _ in range(20):
        deep = tlv(0x30, deep)
    assert screen.screen(message([SYS_DESCR], value=deep), communities) is Verdict.PARSE_ERROR
    # INTEGER of 10 octets (Counter64 needs 9).
    assert screen.screen(message([SYS_DESCR], value=tlv(0x02, b"\x01" * 10)), communities) is Verdict.PARSE_ERROR
    assert screen.screen(message([SYS_DESCR], value=tlv(0x46, b"\x00" + b"\xff" * 8)), communities) \
        is Verdict.ACCEPT
    # Varbinds.
    limit = screen.MAX_REQUEST_VARBINDS
    assert screen.screen(message([SYS_DESCR] * limit), communities) is Verdict.ACCEPT
    assert screen.screen(message([SYS_DESCR] * (limit + 1)), communities) is Verdict.TOO_MANY_VARBINDS
    assert screen.screen(v3_message([SYS_DESCR] * (limit + 1)), communities) is Verdict.TOO_MANY_VARBINDS
    assert screen.screen(v3_message([HUGE_SUBID]), communities) is Verdict.PARSE_ERROR
    # TLVs in all: 100 varbinds, each value a SEQUENCE of 10 NULLs.
    assert screen.screen(message([SYS_DESCR] * 100, value=tlv(0x30, b"\x05\x00" * 10)), communities) \
        is Verdict.PARSE_ERROR
    # Indefinite length and a length past the datagram.
    assert screen.screen(b"\x30\x80\x02\x01\x01\x00\x00", communities) is Verdict.PARSE_ERROR
    assert screen.screen(b"\x30\x84\xff\xff\xff\xff", communities) is Verdict.PARSE_ERROR


def test_the_fast_path_decoder_is_bounded_by_itself_too() -> None:
    """``ber.decode_request`` checks each sub-identifier at every octet
    (defence in depth behind the screen)."""
    CountingBytes.reads = 0
    assert ber.decode_request(CountingBytes(message([b"\x2b" + b"\xff" * 500 + b"\x7f"]))) is None
    assert CountingBytes.reads < 60
    assert ber.decode_request(message([SUBID_2_33])) is None
    limit = screen.MAX_REQUEST_VARBINDS
    assert ber.decode_request(message([SYS_DESCR] * limit)) is not None
    assert ber.decode_request(message([SYS_DESCR] * (limit + 1))) is None


# -- in front of the agent --------------------------------------------------------------


def make_agent() -> SnmpAgent:
    settings = SnmpSettings(address="127.0.0.1", port=0, communities=(SnmpCommunity("ro", "public"),),
                            users=(SnmpUser("ops", "sha", "authpass123", "aes-128", "privpass123"),))
    log = ViolationLog()
    sources = Sources(lambda: None, lambda: None, lambda: None, lambda: log, dict, started_at=NOW)
    return SnmpAgent(settings, lambda stats: build_tree(sources, stats=stats), clock=lambda: NOW + 5,
                     sources=sources)


@pytest.fixture
def decoders_reached(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records each call of the fast path's decoder and of pysnmp's message
    dispatcher (where pyasn1 decodes the whole message)."""
    from pysnmp.proto.rfc3412 import MsgAndPduDispatcher

    reached: list[str] = []

    def spy(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def called(*args: Any, **kwargs: Any) -> Any:
            reached.append(name)
            return real(*args, **kwargs)
        return called

    monkeypatch.setattr(snmp_server.ber, "decode_request", spy("fast-path", ber.decode_request))
    monkeypatch.setattr(MsgAndPduDispatcher, "receive_message",
                        spy("pysnmp", MsgAndPduDispatcher.receive_message))
    yield reached


def exchange(datagrams: list[bytes]) -> tuple[dict[str, int], dict[str, int], list[bytes]]:
    """Counters before, counters after, and the replies, for ``datagrams``
    sent to a fresh agent, followed by a GetRequest whose answer shows that
    all of them were processed (one socket: datagrams are handled in order)."""
    names = ("snmpInPkts", "snmpInBadVersions", "snmpInBadCommunityNames", "snmpInASNParseErrs",
             "snmpSilentDrops")
    agent = make_agent()
    marker = message([SYS_DESCR]).replace(b"\x02\x02\x30\x39", b"\x02\x02\x7e\x7e")

    async def run() -> tuple[dict[str, int], dict[str, int], list[bytes]]:
        await agent.start()
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.setblocking(False)
            client.bind(("127.0.0.1", 0))
            try:
                before = {name: agent._stat("__SNMPv2-MIB", name) for name in names}
                for datagram in [*datagrams, marker]:
                    client.sendto(datagram, ("127.0.0.1", agent.port))
                replies = []
                while True:
                    reply = await asyncio.wait_for(loop.sock_recv(client, 65535), 10)
                    if b"\x02\x02\x7e\x7e" in reply[:40]:
                        break
                    replies.append(reply)
                after = {name: agent._stat("__SNMPv2-MIB", name) for name in names}
                return before, after, replies
            finally:
                agent.close()

    return asyncio.run(run())


def test_a_wrong_community_with_a_huge_sub_identifier_is_dropped_undecoded(decoders_reached: list[str]) -> None:
    before, after, replies = exchange([message([HUGE_SUBID], community=b"wrong")] * 3)
    assert replies == []
    assert after["snmpInBadCommunityNames"] == before["snmpInBadCommunityNames"] + 3
    assert after["snmpInPkts"] == before["snmpInPkts"] + 4  # and the marker
    assert decoders_reached == ["fast-path"]  # the marker's; neither decoder saw the three


def test_a_huge_sub_identifier_with_the_right_community_is_a_parse_error(decoders_reached: list[str]) -> None:
    before, after, replies = exchange([message([SUBID_2_33]), message([HUGE_SUBID]), message([SUBID_2_33],
                                                                                             pdu_type=0xA3)])
    assert replies == []
    assert after["snmpInASNParseErrs"] == before["snmpInASNParseErrs"] + 3
    # The fast path (bounded by itself) declines them; pysnmp never sees them.
    assert "pysnmp" not in decoders_reached


def test_too_many_varbinds_get_too_big_or_are_dropped(decoders_reached: list[str]) -> None:
    """v2c (the community known): RFC 3416 §4.2.1 tooBig with no varbinds; v3
    (not authenticated before pysnmp decodes it): dropped, snmpSilentDrops."""
    limit = screen.MAX_REQUEST_VARBINDS
    before, after, replies = exchange([message([SYS_DESCR] * (limit + 1)), v3_message([SYS_DESCR] * (limit + 1)),
                                       message([SYS_DESCR], version=2)])
    expected = ber.encode_message(b"public", ber.RESPONSE, b"\x30\x39", 1, 0, [])
    assert replies == [expected]
    assert after["snmpSilentDrops"] == before["snmpSilentDrops"] + 1
    assert after["snmpInBadVersions"] == before["snmpInBadVersions"] + 1
    assert "pysnmp" not in decoders_reached


def test_requests_within_the_bounds_are_still_answered(decoders_reached: list[str]) -> None:
    """A v2c Set (pysnmp's path: a read-only community gets noAccess, RFC 3416
    §4.2.5) and a v1 Get (pysnmp's path too) are answered."""
    _, _, replies = exchange([message([SYS_DESCR], pdu_type=0xA3, value=b"\x02\x01\x05"),
                              message([SYS_DESCR], version=0)])
    assert len(replies) == 2
    assert decoders_reached.count("pysnmp") == 2


# -- what pyasn1 raises past pysnmp (found by tools/fuzz, issue 13) ---------------------


def v3_with(*, engine_id: bytes) -> bytes:
    """``v3_message`` with the USM msgAuthoritativeEngineID TLV given raw
    (RFC 3414 §2.4)."""
    header = tlv(0x30, b"\x02\x01\x01" + b"\x02\x03\x00\xff\xe3" + tlv(0x04, b"\x04") + b"\x02\x01\x03")
    usm = tlv(0x04, tlv(0x30, engine_id + b"\x02\x01\x00\x02\x01\x00" + tlv(0x04, b"nobody")
                        + tlv(0x04, b"") + tlv(0x04, b"")))
    pdu = tlv(0xA0, b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + tlv(0x30, tlv(0x30, tlv(0x06, SYS_DESCR) + b"\x05\x00")))
    scoped = tlv(0x30, tlv(0x04, b"") + tlv(0x04, b"") + pdu)
    return tlv(0x30, b"\x02\x01\x03" + header + usm + scoped)


#: Each made pyasn1 raise out of pysnmp's receive path into the event loop: an
#: ERROR "Exception in callback" with a traceback for every such datagram, and
#: no counter moved: a length of 2^64-1 octets (X.690 §8.1.3.5) in the USM
#: parameters (RFC 3414 §2.4), OverflowError in pyasn1's decoder (now refused
#: by agent.snmp.usm_screen before pysnmp).
PYASN1_ESCAPES = [
    v3_with(engine_id=b"\x04\x88" + b"\xff" * 8),
]
#: Two more did, in the SNMPv1 to SNMPv2 conversion (RFC 3584 §4.1.2): an
#: SNMPv1 Set whose INTEGER is over Integer32 (RFC 3584 §4.1.2.1 maps v1
#: INTEGER to Integer32) and an SNMPv1 Get with a negative error-index.
#: RFC 1157 §4.1 answers both: the Set gets badValue (§4.1.5), the Get its
#: value (a request's error fields are 0 by its sender and mean nothing).
V1_SET_OVER_INTEGER32 = message([SYS_DESCR], version=0, pdu_type=0xA3, value=b"\x02\x05\x66\x75\x7a\x7a\x21")
V1_GET_NEGATIVE_ERROR_INDEX = message([SYS_DESCR], version=0).replace(
    b"\x02\x02\x30\x39\x02\x01\x00\x02\x01\x00", b"\x02\x02\x30\x39\x02\x01\x00\x02\x01\xd2")


def test_what_pyasn1_rejects_past_the_screen_is_a_counted_parse_error(
        caplog: pytest.LogCaptureFixture) -> None:
    """RFC 3418 snmpInASNParseErrs: "ASN.1 or BER errors encountered ... when
    decoding received SNMP messages"; the agent answers nothing, logs no
    traceback, and still answers the marker after them."""
    before, after, replies = exchange(PYASN1_ESCAPES)
    assert replies == []
    assert after["snmpInASNParseErrs"] == before["snmpInASNParseErrs"] + len(PYASN1_ESCAPES)
    assert [r for r in caplog.records if r.levelno >= 40] == []


def test_v1_requests_pysnmp_cannot_convert_are_answered(caplog: pytest.LogCaptureFixture) -> None:
    _, _, replies = exchange([V1_SET_OVER_INTEGER32, V1_GET_NEGATIVE_ERROR_INDEX])
    assert len(replies) == 2
    # GetResponse, request-id 12345, error-status badValue (3), error-index 1.
    assert b"\xa2" in replies[0][:16] and b"\x02\x02\x30\x39\x02\x01\x03\x02\x01\x01" in replies[0]
    assert b"\x02\x02\x30\x39\x02\x01\x00\x02\x01\x00" in replies[1]  # noError: answered
    assert [r for r in caplog.records if r.levelno >= 40] == []
