"""Building Registration Requests as a mobile node (or a proxy acting for one)
does (RFC 5944 §3.6.1), and checking the replies it gets (§3.6.2)."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from agent.mobileip import replay
from agent.mobileip.extensions import Extension
from agent.mobileip.numbers import ExtensionType, RequestFlag
from agent.mobileip.registration import RegistrationReply, RegistrationRequest
from agent.mobileip.security import SecurityAssociation, authenticate, check_extension


def build_request(
    *,
    home_address: IPv4Address,
    home_agent: IPv4Address,
    care_of_address: IPv4Address,
    identification: int,
    lifetime: int,
    sa: SecurityAssociation,
    flags: RequestFlag = RequestFlag(0),
    nai: str | None = None,
    foreign_sa: SecurityAssociation | None = None,
) -> bytes:
    """An RRQ with (optional) NAI, the Mobile-Home authentication extension and,
    when the node shares an SA with the foreign agent, a Mobile-Foreign one after
    it (RFC 5944 §3.3, §3.5.2, §3.5.3)."""
    request = RegistrationRequest(
        flags, lifetime, home_address, home_agent, care_of_address, identification
    )
    data = request.encode_header()
    if nai is not None:
        data += Extension(ExtensionType.MOBILE_NODE_NAI, nai.encode()).encode()
    data = authenticate(data, ExtensionType.MOBILE_HOME_AUTHENTICATION, sa)
    if foreign_sa is not None:
        data = authenticate(data, ExtensionType.MOBILE_FOREIGN_AUTHENTICATION, foreign_sa)
    return data


@dataclass(frozen=True, slots=True)
class ReplyCheck:
    ok: bool
    reason: str = ""


def check_reply(
    reply: RegistrationReply, *, sent_identification: int, sa: SecurityAssociation | None
) -> ReplyCheck:
    """RFC 5944 §3.6.2.1: the low 32 bits of Identification must match what we
    sent, and a reply from the home agent must carry a valid MHAE when we share
    an SA with it. Foreign-agent denials (64-127) carry no MHAE."""
    if replay.low32(reply.identification) != replay.low32(sent_identification):
        return ReplyCheck(False, "identification mismatch")
    if sa is None:
        return ReplyCheck(True)
    mhaes = reply.extensions_of(ExtensionType.MOBILE_HOME_AUTHENTICATION)
    if not mhaes:
        if 64 <= reply.code <= 127:
            return ReplyCheck(True)
        return ReplyCheck(False, "no mobile-home authentication extension")
    if len(mhaes) != 1 or mhaes[0].spi != sa.spi or not check_extension(reply.raw, mhaes[0], sa):
        return ReplyCheck(False, "bad mobile-home authenticator")
    return ReplyCheck(True)
