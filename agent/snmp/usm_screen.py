"""SNMPv3 before any decoder (sans-IO): the message header and the USM
security parameters read strictly, in the order RFC 3412 §7.2 and RFC 3414
§3.2 process them, so that a message USM would reject is rejected, counted
and (when reportable) answered with a Report without pyasn1 decoding it.

pysnmp decodes the whole message with pyasn1 before its USM looks at the
user: ~0.45 ms for one varbind, ~10 ms for the 128 the screen lets through,
spent on every datagram anyone sends. net-snmp (``snmpv3_parse``) reads the
header, then the security parameters, and the scoped PDU only once the
security model accepted the message; so does this module:

1. msgVersion, msgGlobalData (msgID, msgMaxSize, msgFlags, msgSecurityModel)
   and the framing of msgSecurityParameters and msgData, each value within
   its RFC 3412 §6 range; anything else: snmpInASNParseErrs (§7.2 step 2);
2. msgSecurityModel other than USM: snmpUnknownSecurityModels, dropped
   (§7.2 step 4);
3. msgFlags asking privacy without authentication: snmpInvalidMsgs, dropped
   (§7.2 step 5);
4. msgSecurityParameters not a UsmSecurityParameters (RFC 3414 §2.4):
   snmpInASNParseErrs (RFC 3414 §3.2 step 1);
5. msgAuthoritativeEngineID not ours: usmStatsUnknownEngineIDs (§3.2 step 3),
   except engine discovery (an empty engine ID at noAuthNoPriv with a
   plaintext scoped PDU, RFC 3414 §4), which goes to pysnmp as before (an
   encrypted one, which pysnmp counted without a Report and without
   releasing its security state, is answered here);
6. msgUserName not a configured user: usmStatsUnknownUserNames (step 4);
7. a security level the user cannot have (noAuthNoPriv, since every user
   here authenticates; authPriv for a user without privacy):
   usmStatsUnsupportedSecLevels (step 5), as pysnmp counts it;
8. msgAuthenticationParameters not the HMAC of the message under the user's
   localized key (RFC 3414 §6.3.2, HMAC-SHA-96; RFC 7860 §4.2.2,
   HMAC-SHA-256-192): usmStatsWrongDigests (step 6).

Only an authenticated message (or a discovery) goes on to the structural walk
and to pysnmp, which then checks the time window and decrypts. Each USM
failure is answered, when msgFlags has the reportable flag, with the Report
RFC 3412 §7.1 step 3 builds: noAuthNoPriv, request-id 0 (USM returns no
scoped PDU on these errors), one varbind with the incremented counter; its
octets are those pysnmp sends for the same failure. The module counts
nothing itself: the adapter maps each verdict to its counter.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

#: RFC 3412 §6: msgSecurityModel of the User-based Security Model (RFC 3414).
USM = 3
_AUTH_FLAG, _PRIV_FLAG, _REPORTABLE_FLAG = 0x01, 0x02, 0x04
NO_AUTH_NO_PRIV, AUTH_NO_PRIV, AUTH_PRIV = 1, 2, 3
#: RFC 3412 §6 ranges.
_MAX_INT32 = 2147483647
_MIN_MAX_SIZE = 484
#: RFC 3414 §2.4: msgUserName OCTET STRING (SIZE(0..32)).
MAX_USER_NAME = 32
#: An INTEGER (0..2147483647) in at most 5 content octets (a leading zero is
#: allowed by BER, X.690 §8.3.2 only asks DER to drop it).
_MAX_INT_OCTETS = 5
_INTEGER, _OCTET_STRING, _SEQUENCE = 0x02, 0x04, 0x30
_REPORT = 0xA8
#: SNMP-USER-BASED-SM-MIB usmStats (RFC 3414 §5), for the Report's varbind.
USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)


class V3Verdict(Enum):
    """What the adapter does with an SNMPv3 message (and which counter)."""

    #: Authenticated by its user's key (or an engine discovery): to pysnmp.
    ACCEPT = "accept"
    #: snmpInASNParseErrs (RFC 3412 §7.2 step 2, RFC 3414 §3.2 step 1).
    PARSE_ERROR = "snmpInASNParseErrs"
    #: snmpUnknownSecurityModels (RFC 3412 §7.2 step 4): dropped, no Report.
    UNKNOWN_SECURITY_MODEL = "snmpUnknownSecurityModels"
    #: snmpInvalidMsgs (RFC 3412 §7.2 step 5): dropped, no Report.
    INVALID_MESSAGE = "snmpInvalidMsgs"
    #: The USM failures (RFC 3414 §3.2 steps 3-6): counted, reported.
    UNKNOWN_ENGINE_ID = "usmStatsUnknownEngineIDs"
    UNKNOWN_USER_NAME = "usmStatsUnknownUserNames"
    UNSUPPORTED_SECURITY_LEVEL = "usmStatsUnsupportedSecLevels"
    WRONG_DIGEST = "usmStatsWrongDigests"


#: The usmStats sub-identifier of each reported verdict (RFC 3414 §5).
REPORTED = {
    V3Verdict.UNSUPPORTED_SECURITY_LEVEL: 1,
    V3Verdict.UNKNOWN_USER_NAME: 3,
    V3Verdict.UNKNOWN_ENGINE_ID: 4,
    V3Verdict.WRONG_DIGEST: 5,
}


@dataclass(frozen=True)
class AuthProtocol:
    """An HMAC authentication protocol: the hash and the digest's length in
    msgAuthenticationParameters."""

    hash_name: str
    digest_length: int


#: RFC 3414 §6 HMAC-SHA-96 and RFC 7860 §4.2 HMAC-SHA-256-192, by YANG name.
AUTH_PROTOCOLS = {"sha": AuthProtocol("sha1", 12), "sha-256": AuthProtocol("sha256", 24)}


@dataclass(frozen=True)
class UsmUser:
    """A configured user as USM's check needs it: the authentication key
    localized to our engine ID (never logged: not in ``repr``)."""

    auth: AuthProtocol
    auth_key: bytes = field(repr=False)
    private: bool = True


def localized_key(passphrase: bytes, engine_id: bytes, auth: AuthProtocol) -> bytes:
    """RFC 3414 §A.2 (RFC 7860 §4.1 for SHA-256): the passphrase repeated to
    1,048,576 octets and hashed (Ku), then H(Ku || snmpEngineID || Ku)."""
    repeated = passphrase * (1048576 // len(passphrase) + 1)
    ku = hashlib.new(auth.hash_name, repeated[:1048576]).digest()
    return hashlib.new(auth.hash_name, ku + engine_id + ku).digest()


@dataclass(frozen=True)
class V3Header:
    """msgGlobalData and UsmSecurityParameters (RFC 3412 §6, RFC 3414 §2.4)."""

    msg_id: int
    max_size: int
    flags: int
    security_model: int
    engine_id: bytes = b""
    engine_boots: int = 0
    engine_time: int = 0
    user_name: bytes = b""
    #: msgAuthenticationParameters' content: [start, end) in the datagram.
    auth_start: int = 0
    auth_end: int = 0
    #: msgData is a plaintext ScopedPDU (not an encryptedPDU).
    plaintext: bool = True

    @property
    def security_level(self) -> int:
        if self.flags & _PRIV_FLAG:
            return AUTH_PRIV
        return AUTH_NO_PRIV if self.flags & _AUTH_FLAG else NO_AUTH_NO_PRIV

    @property
    def reportable(self) -> bool:
        return bool(self.flags & _REPORTABLE_FLAG)


class _ParseError(Exception):
    pass


def _tlv(data: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    """(content start, content end) of the TLV at ``pos``, which must have
    ``tag``: definite lengths in at most 4 octets, inside ``end``."""
    if pos + 2 > end or data[pos] != tag:
        raise _ParseError
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise _ParseError  # indefinite (RFC 3417 §8: SNMP uses definite lengths) or too long
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > end:
        raise _ParseError
    return pos, pos + length


def _int32(data: bytes, pos: int, end: int, low: int = 0) -> tuple[int, int]:
    """An INTEGER (low..2147483647) at ``pos``: (value, next position)."""
    start, stop = _tlv(data, pos, end, _INTEGER)
    if start == stop or stop - start > _MAX_INT_OCTETS:
        raise _ParseError
    value = int.from_bytes(data[start:stop], "big", signed=True)
    if not low <= value <= _MAX_INT32:
        raise _ParseError
    return value, stop


def read_header(data: bytes) -> V3Header | None:
    """The RFC 3412 §6 header of an SNMPv3 message, or None when the message
    is not one (its framing, msgVersion or a msgGlobalData value outside its
    range). The security parameters are not read here (see ``read_usm``)."""
    try:
        end = len(data)
        start, stop = _tlv(data, 0, end, _SEQUENCE)
        if stop != end:
            raise _ParseError
        version, pos = _int32(data, start, stop)
        if version != 3:
            raise _ParseError
        global_start, global_end = _tlv(data, pos, stop, _SEQUENCE)
        msg_id, at = _int32(data, global_start, global_end)
        max_size, at = _int32(data, at, global_end, _MIN_MAX_SIZE)
        flags_start, flags_end = _tlv(data, at, global_end, _OCTET_STRING)
        if flags_end - flags_start != 1:  # msgFlags OCTET STRING (SIZE(1))
            raise _ParseError
        security_model, at = _int32(data, flags_end, global_end, 1)
        if at != global_end:
            raise _ParseError
        _, parameters_end = _tlv(data, global_end, stop, _OCTET_STRING)
        # msgData: a plaintext ScopedPDU or an encryptedPDU, ending the message.
        if parameters_end >= stop or data[parameters_end] not in (_SEQUENCE, _OCTET_STRING):
            raise _ParseError
        if _tlv(data, parameters_end, stop, data[parameters_end])[1] != stop:
            raise _ParseError
    except _ParseError:
        return None
    return V3Header(msg_id, max_size, data[flags_start], security_model,
                    plaintext=data[parameters_end] == _SEQUENCE)


def read_usm(data: bytes, header: V3Header) -> V3Header | None:
    """``header`` with the UsmSecurityParameters (RFC 3414 §2.4) read from
    msgSecurityParameters, or None when they are not one."""
    try:
        end = len(data)
        start, stop = _tlv(data, 0, end, _SEQUENCE)
        pos = _int32(data, start, stop)[1]
        pos = _tlv(data, pos, stop, _SEQUENCE)[1]
        parameters_start, parameters_end = _tlv(data, pos, stop, _OCTET_STRING)
        usm_start, usm_end = _tlv(data, parameters_start, parameters_end, _SEQUENCE)
        if usm_end != parameters_end:
            raise _ParseError
        engine_start, engine_end = _tlv(data, usm_start, usm_end, _OCTET_STRING)
        boots, at = _int32(data, engine_end, usm_end)
        engine_time, at = _int32(data, at, usm_end)
        user_start, user_end = _tlv(data, at, usm_end, _OCTET_STRING)
        if user_end - user_start > MAX_USER_NAME:
            raise _ParseError
        auth_start, auth_end = _tlv(data, user_end, usm_end, _OCTET_STRING)
        if _tlv(data, auth_end, usm_end, _OCTET_STRING)[1] != usm_end:
            raise _ParseError
    except _ParseError:
        return None
    return V3Header(header.msg_id, header.max_size, header.flags, header.security_model,
                    data[engine_start:engine_end], boots, engine_time, data[user_start:user_end],
                    auth_start, auth_end, header.plaintext)


def screen_v3(data: bytes, engine_id: bytes, users: Mapping[bytes, UsmUser]) -> tuple[V3Verdict, V3Header | None]:
    """The verdict on an SNMPv3 message, in RFC 3412 §7.2 / RFC 3414 §3.2
    order, and its header (None when it could not be read)."""
    header = read_header(data)
    if header is None:
        return V3Verdict.PARSE_ERROR, None
    if header.security_model != USM:
        return V3Verdict.UNKNOWN_SECURITY_MODEL, header
    if header.flags & (_AUTH_FLAG | _PRIV_FLAG) == _PRIV_FLAG:
        return V3Verdict.INVALID_MESSAGE, header
    parsed = read_usm(data, header)
    if parsed is None:
        return V3Verdict.PARSE_ERROR, header
    header = parsed
    if header.engine_id != engine_id:
        if header.engine_id == b"" and header.security_level == NO_AUTH_NO_PRIV and header.plaintext:
            return V3Verdict.ACCEPT, header  # engine discovery (RFC 3414 §4): pysnmp reports
        return V3Verdict.UNKNOWN_ENGINE_ID, header
    user = users.get(header.user_name)
    if user is None:
        return V3Verdict.UNKNOWN_USER_NAME, header
    level = header.security_level
    if level == NO_AUTH_NO_PRIV or (level == AUTH_PRIV and not user.private):
        return V3Verdict.UNSUPPORTED_SECURITY_LEVEL, header
    if not _authentic(data, header, user):
        return V3Verdict.WRONG_DIGEST, header
    return V3Verdict.ACCEPT, header


def _authentic(data: bytes, header: V3Header, user: UsmUser) -> bool:
    """RFC 3414 §6.3.2 (RFC 7860 §4.2.2): msgAuthenticationParameters is the
    digest's length, and the HMAC of the whole message with those octets
    zeroed, truncated to that length, equals them."""
    received = data[header.auth_start:header.auth_end]
    if len(received) != user.auth.digest_length:
        return False
    zeroed = data[:header.auth_start] + bytes(len(received)) + data[header.auth_end:]
    digest = hmac.new(user.auth_key, zeroed, user.auth.hash_name).digest()
    return hmac.compare_digest(digest[:len(received)], received)


# -- the Report (RFC 3412 §7.1 step 3) ------------------------------------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def _encode(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def _unsigned(tag: int, value: int) -> bytes:
    """An INTEGER or Counter32 of a non-negative value, minimal (X.690 §8.3.2)."""
    return _encode(tag, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def encode_report(header: V3Header, verdict: V3Verdict, count: int, *, engine_id: bytes, engine_boots: int,
                  engine_time: int, max_size: int) -> bytes:
    """The Report for a USM failure: msgID echoed, noAuthNoPriv and not
    reportable (RFC 3412 §7.1 step 3d: securityLevel noAuthNoPriv; a Report is
    of the Response class), our engine ID, boots and time, the request's user
    name (RFC 3414 §3.1 step 1a: the cached msgUserName), no authentication or
    privacy parameters; a plaintext ScopedPDU with our contextEngineID, an
    empty contextName and a Report-PDU of request-id 0 (RFC 3412 §7.1 step
    3c: the request's PDU is unknown) carrying usmStats<verdict>.0 = count."""
    oid = bytes((0x2B,)) + bytes(USM_STATS[2:]) + bytes((REPORTED[verdict], 0))
    varbind = _encode(_SEQUENCE, _encode(0x06, oid) + _unsigned(0x41, count & 0xFFFFFFFF))
    pdu = _encode(_REPORT, _unsigned(_INTEGER, 0) + _unsigned(_INTEGER, 0) + _unsigned(_INTEGER, 0)
                  + _encode(_SEQUENCE, varbind))
    scoped = _encode(_SEQUENCE, _encode(_OCTET_STRING, engine_id) + _encode(_OCTET_STRING, b"") + pdu)
    usm = _encode(_SEQUENCE, _encode(_OCTET_STRING, engine_id) + _unsigned(_INTEGER, engine_boots)
                  + _unsigned(_INTEGER, engine_time) + _encode(_OCTET_STRING, header.user_name)
                  + _encode(_OCTET_STRING, b"") + _encode(_OCTET_STRING, b""))
    global_data = _encode(_SEQUENCE, _unsigned(_INTEGER, header.msg_id) + _unsigned(_INTEGER, max_size)
                          + _encode(_OCTET_STRING, b"\x00") + _unsigned(_INTEGER, USM))
    return _encode(_SEQUENCE, _unsigned(_INTEGER, 3) + global_data + _encode(_OCTET_STRING, usm) + scoped)
