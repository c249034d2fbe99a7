"""The engines' notifications (as the datastore publishes them, YANG names and
RFC 7951 content: ``agent.notifications``) as SNMP notifications: the
NOTIFICATION-TYPE OID and its OBJECTS' varbinds (RFC 3416 §4.2.6: the sender
puts sysUpTime.0 and snmpTrapOID.0 first). Sans-IO: the adapter sends.

- authentication-failure -> MIP-MIB mipAuthFailure (RFC 2006), objects
  instanced by the violator's address, from the security violation log; when
  the proxy reports it for a Registration Reply to one of its clients (``mac``
  present), also pmipAuthenticationFailure, instanced by the client's MAC;
- registration-denied of the proxy role -> pmipRegistrationDenied, instanced
  by the client's MAC address; with ``binding-lost`` (a renewal denied) also
  pmipBindingLost, reason denied(1);
- client-registration-failed with ``binding-lost`` (a renewal unanswered) ->
  pmipBindingLost, reason from the engine's text (noReply(2) for "no reply").
  A first registration that fails loses no binding: nothing is sent.
Other notifications (bindings and visitors coming and going) have no SNMP
counterpart in the two MIBs and are not sent.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

from agent.snmp import values as v
from agent.snmp.mip_mib import MIP_AUTH_FAILURE, MIP_OBJECTS, signed32
from agent.snmp.proxy_mib import (
    PMIP_AUTHENTICATION_FAILURE,
    PMIP_BINDING_LOST,
    PMIP_MIB,
    PMIP_REGISTRATION_DENIED,
    VISITOR_STATES,
)
from agent.snmp.sources import Sources, ip_index
from agent.snmp.values import Oid, Value

SYS_UP_TIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
_VIOLATION = MIP_OBJECTS + (2, 3, 1)
_VISITOR = PMIP_MIB + (1, 4, 1)
_NOTIFY = PMIP_MIB + (1, 6)
_REASONS = {
    "no-mobility-security-association": 1, "bad-authenticator": 2, "bad-identifier": 3,
    "bad-spi": 4, "missing-security-extension": 5, "other": 6,
}
#: pmipNotifyBindingLostReason, matched in the engine's reason text.
_LOST = (("denied", 1), ("no reply", 2), ("timeout", 2), ("expired", 3), ("reboot", 5),
         ("foreign agent", 4), ("configuration", 6), ("removed", 6))


def _ip(text: str | None) -> Value:
    return v.ip_address(IPv4Address(text).packed if text else b"\0\0\0\0")


def _mac_index(mac: str) -> Oid:
    return tuple(int(part, 16) for part in mac.split(":"))


def notifications(name: str, content: dict[str, Any], sources: Sources) -> list[tuple[Oid, list[tuple[Oid, Value]]]]:
    """(NOTIFICATION-TYPE OID, its OBJECTS' varbinds) for each SNMP notification
    a published notification stands for, in the order they are sent."""
    out: list[tuple[Oid, list[tuple[Oid, Value]]]] = []
    if name == "authentication-failure":
        out.append(_mip_auth_failure(content, sources))
        if content.get("mac"):
            out.append(_pmip_auth_failure(content))
    elif name == "registration-denied" and content.get("role") == "proxy" and content.get("mac"):
        out.append(_pmip_registration_denied(content, sources))
        if content.get("binding-lost"):
            out.append(_pmip_binding_lost(content, sources, reason=1))  # denied(1): a renewal denied
    elif name == "client-registration-failed" and content.get("mac") and content.get("binding-lost"):
        text = str(content.get("reason", "")).lower()
        out.append(_pmip_binding_lost(content, sources, reason=next((n for w, n in _LOST if w in text), 7)))
    return out


def notification(name: str, content: dict[str, Any], sources: Sources) -> tuple[Oid, list[tuple[Oid, Value]]] | None:
    """The first of :func:`notifications`, or None."""
    found = notifications(name, content, sources)
    return found[0] if found else None


def _mip_auth_failure(content: dict[str, Any], sources: Sources) -> tuple[Oid, list[tuple[Oid, Value]]]:
    """MIP-MIB mipAuthFailure (RFC 2006): the violation log's row for the violator."""
    address = IPv4Address(content["peer-address"])
    index = ip_index(address)
    row = next((r for r in sources.violations().rows() if r.address == address), None)
    spi = content.get("spi", row.recent_spi if row else 0) or 0
    return MIP_AUTH_FAILURE, [
        (_VIOLATION + (1,) + index, v.ip_address(address.packed)),
        (_VIOLATION + (3,) + index, v.integer(signed32(spi))),
        (_VIOLATION + (5,) + index, v.integer(signed32(row.identification_low if row else 0))),
        (_VIOLATION + (6,) + index, v.integer(signed32(row.identification_high if row else 0))),
        (_VIOLATION + (7,) + index, v.integer(_REASONS.get(content.get("reason", "other"), 6))),
    ]


def _pmip_auth_failure(content: dict[str, Any]) -> tuple[Oid, list[tuple[Oid, Value]]]:
    """pmipAuthenticationFailure: pmipVisitorHomeAddress.<mac>, then the
    accessible-for-notify scalars pmipNotifyPeerAddress, pmipNotifySpi (0: the
    reply had none) and pmipNotifyViolationReason (mipSecRecentViolationReason's
    numbers)."""
    index = _mac_index(content["mac"])
    return PMIP_AUTHENTICATION_FAILURE, [
        (_VISITOR + (3,) + index, _ip(content.get("home-address"))),
        (_NOTIFY + (1, 0), _ip(content["peer-address"])),
        (_NOTIFY + (2, 0), v.gauge32(int(content.get("spi", 0)))),  # Unsigned32: Gauge32's tag
        (_NOTIFY + (3, 0), v.integer(_REASONS.get(content.get("reason", "other"), 6))),
    ]


def _visitor_of(content: dict[str, Any], sources: Sources) -> Any:
    proxy = sources.proxy()
    return proxy.visitor(content["mac"]) if proxy is not None else None


def _pmip_registration_denied(content: dict[str, Any], sources: Sources) -> tuple[Oid, list[tuple[Oid, Value]]]:
    index = _mac_index(content["mac"])
    visitor = _visitor_of(content, sources)
    return PMIP_REGISTRATION_DENIED, [
        (_VISITOR + (3,) + index, _ip(content.get("home-address"))),
        (_VISITOR + (4,) + index, _ip(str(visitor.home_agent) if visitor and visitor.home_agent else None)),
        (_VISITOR + (5,) + index,
         _ip(str(visitor.foreign_agent) if visitor and visitor.foreign_agent else None)),
        (_VISITOR + (11,) + index, v.integer(int(content.get("code", -1)))),
    ]


def _pmip_binding_lost(content: dict[str, Any], sources: Sources, *, reason: int) -> tuple[Oid, list[tuple[Oid, Value]]]:
    """pmipBindingLost; pmipVisitorState is the client's state after the loss,
    read from the engine (denied(11) or failed(12) if it no longer has it)."""
    index = _mac_index(content["mac"])
    visitor = _visitor_of(content, sources)
    if visitor is not None:
        state = VISITOR_STATES.index(visitor.state.value) + 1
    else:
        state = 11 if reason == 1 else 12  # denied(11) / failed(12)
    return PMIP_BINDING_LOST, [
        (_VISITOR + (3,) + index, _ip(content.get("home-address"))),
        (_VISITOR + (4,) + index, _ip(str(visitor.home_agent) if visitor and visitor.home_agent else None)),
        (_VISITOR + (6,) + index,
         _ip(str(visitor.care_of_address) if visitor and visitor.care_of_address else None)),
        (_VISITOR + (7,) + index, v.integer(state)),
        (_NOTIFY + (4, 0), v.integer(reason)),
    ]


def with_header(oid: Oid, objects: list[tuple[Oid, Value]], up_time: int) -> list[tuple[Oid, Value]]:
    """RFC 3416 §4.2.6: sysUpTime.0 and snmpTrapOID.0 come first."""
    return [(SYS_UP_TIME, v.time_ticks(up_time)), (SNMP_TRAP_OID, (v.OBJECT_IDENTIFIER, oid)), *objects]
