"""The BER fast path (``agent.snmp.ber``) against pysnmp's own codec: requests
pysnmp encodes decode to the same fields, responses we encode decode in pysnmp to
the same varbinds (RFC 3416 §3, X.690), and anything not strictly a v2c
Get/GetNext/GetBulk — truncated, trailing bytes, indefinite lengths, other
versions, flipped bytes — is declined (None), never an exception."""

from __future__ import annotations

import random

import pytest

from agent.snmp import ber
from agent.snmp import values as v
from tests.conftest import require_module


def pysnmp_request(kind: str, oids: list[tuple[int, ...]], *, version: int = 1, community: bytes = b"public",
                   request_id: int = 12345, non_repeaters: int = 0, max_repetitions: int = 10) -> bytes:
    require_module("pysnmp")
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import api

    proto = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C if version == 1 else api.SNMP_VERSION_1]
    pdu = {"get": proto.GetRequestPDU, "next": proto.GetNextRequestPDU,
           "bulk": getattr(proto, "GetBulkRequestPDU", None), "set": proto.SetRequestPDU}[kind]()
    proto.apiPDU.set_defaults(pdu)
    proto.apiPDU.set_request_id(pdu, request_id)
    if kind == "bulk":
        proto.apiBulkPDU.set_non_repeaters(pdu, non_repeaters)
        proto.apiBulkPDU.set_max_repetitions(pdu, max_repetitions)
    value = proto.Integer(5) if kind == "set" else proto.Null("")
    proto.apiPDU.set_varbinds(pdu, [(oid, value) for oid in oids])
    message = proto.Message()
    proto.apiMessage.set_defaults(message)
    proto.apiMessage.set_community(message, community)
    proto.apiMessage.set_pdu(message, pdu)
    return encoder.encode(message)


OIDS = [(1, 3, 6, 1, 2, 1, 1, 1, 0), (1, 3, 6, 1, 4, 1, 32473, 2, 1, 1, 4, 1, 3, 2, 0, 0, 0, 255, 255),
        (1, 3, 6, 1, 2, 1, 44, 1, 6, 3, 1, 1, 8, 10, 0, 0, 1, 198, 51, 100, 200), (0, 0), (2, 999, 3),
        (1, 3, 6, 1, 4294967295)]


@pytest.mark.parametrize("kind", ["get", "next", "bulk"])
def test_requests_decode_as_pysnmp_encodes_them(kind: str) -> None:
    data = pysnmp_request(kind, OIDS, request_id=-7, non_repeaters=1, max_repetitions=2**31 - 1)
    request = ber.decode_request(data)
    assert request is not None
    assert request.community == b"public"
    assert request.pdu_type == {"get": ber.GET_REQUEST, "next": ber.GET_NEXT_REQUEST,
                                "bulk": ber.GET_BULK_REQUEST}[kind]
    assert int.from_bytes(request.request_id, "big", signed=True) == -7
    assert request.oids == tuple(OIDS)
    if kind == "bulk":
        assert (request.first, request.second) == (1, 2**31 - 1)


def test_responses_decode_in_pysnmp() -> None:
    require_module("pysnmp")
    from pyasn1.codec.ber import decoder
    from pysnmp.proto import api

    proto = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    values = [v.integer(-129), v.integer(2**31 - 1), v.counter32(2**32 + 5), v.gauge32(4294967295),
              v.time_ticks(360000), v.octets(b"\x00\xff text"), v.ip_address(bytes((198, 51, 100, 7))),
              (v.OBJECT_IDENTIFIER, (1, 3, 6, 1, 4, 1, 32473, 2)), v.NO_SUCH_OBJECT_VALUE,
              v.NO_SUCH_INSTANCE_VALUE, v.END_OF_MIB_VIEW_VALUE, v.octets(b"x" * 300)]
    encoder = ber.OidEncoder()
    varbinds = [ber.encode_varbind(encoder.encode(OIDS[i % len(OIDS)], 7 if i % 2 else 0), value)
                for i, value in enumerate(values)]
    data = ber.encode_response(b"public", (-7).to_bytes(1, "big", signed=True), 0, 0, varbinds)
    message, rest = decoder.decode(data, asn1Spec=proto.Message())
    assert rest == b""
    assert proto.apiMessage.get_community(message) == b"public"
    pdu = proto.apiMessage.get_pdu(message)
    assert int(proto.apiPDU.get_request_id(pdu)) == -7
    decoded = proto.apiPDU.get_varbinds(pdu)
    assert [tuple(name) for name, _ in decoded] == [OIDS[i % len(OIDS)] for i in range(len(values))]
    got = [value for _, value in decoded]
    assert int(got[0]) == -129 and int(got[1]) == 2**31 - 1 and int(got[2]) == 5
    assert int(got[3]) == 4294967295 and int(got[4]) == 360000
    assert got[5].asOctets() == b"\x00\xff text" and got[6].asOctets() == bytes((198, 51, 100, 7))
    assert tuple(got[7]) == (1, 3, 6, 1, 4, 1, 32473, 2)
    assert [g.tagSet for g in got[8:11]] == [api.v2c.NoSuchObject.tagSet, api.v2c.NoSuchInstance.tagSet,
                                             api.v2c.EndOfMibView.tagSet]
    assert got[11].asOctets() == b"x" * 300
    # Error status and index travel too (tooBig, RFC 3416 §4.2.1).
    data = ber.encode_response(b"c", b"\x01", 1, 0, [])
    message, _ = decoder.decode(data, asn1Spec=proto.Message())
    assert int(proto.apiPDU.get_error_status(proto.apiMessage.get_pdu(message))) == 1


def test_what_the_fast_path_declines() -> None:
    good = pysnmp_request("get", OIDS[:2])
    assert ber.decode_request(good) is not None
    assert ber.decode_request(pysnmp_request("get", OIDS[:1], version=0)) is None  # SNMPv1
    assert ber.decode_request(pysnmp_request("set", OIDS[:1])) is None  # writes go to pysnmp
    assert ber.decode_request(good + b"\x00") is None  # trailing bytes
    assert ber.decode_request(b"") is None
    # Indefinite length (X.690 §8.1.3.6): BER allows it, SNMP agents need not.
    assert ber.decode_request(b"\x30\x80" + good[2:] + b"\x00\x00") is None
    for cut in range(len(good)):
        assert ber.decode_request(good[:cut]) is None
    rng = random.Random(11)
    for _ in range(3000):
        mutated = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        result = ber.decode_request(bytes(mutated))  # never raises
        assert result is None or isinstance(result, ber.Request)
    for _ in range(2000):
        ber.decode_request(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80))))


def test_oid_encoding_matches_x690() -> None:
    assert ber.encode_oid((1, 3, 6, 1)) == bytes((43, 6, 1))
    assert ber.encode_oid((1, 3, 6, 1, 4, 1, 32473)) == bytes((43, 6, 1, 4, 1, 0x81, 0xFD, 0x59))
    assert ber.encode_oid((2, 999)) == bytes((0x88, 0x37))
    assert ber.OidEncoder().encode((1, 3, 200), 2) == bytes((6, 3, 43, 0x81, 0x48))
