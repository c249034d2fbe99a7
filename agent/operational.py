"""Operational state of the role engines, shaped exactly as the YANG ``*-state``
containers (RFC 7951 JSON: uint64 as strings, bits as space-separated names,
times as yang:date-and-time, absent values omitted), read at request time from
the engines — nothing is copied on a timer. Keys never appear here."""

from __future__ import annotations

import functools
import time
from ipaddress import IPv4Address
from typing import Any

from agent.mobileip.foreign_agent import ForeignAgent
from agent.mobileip.home_agent import HomeAgent
from agent.mobileip.proxy import ProxyAgent
from agent.mobileip.violations import ViolationLog
from agent.radius.resolver import SecurityAssociationResolver

#: Registration flags in the YANG ``registration-flags`` bits (RFC 5944 §3.3 wire
#: order, MSB first; r and x are never reported).
_REGISTRATION_BITS = (
    (0x80, "simultaneous-bindings"),
    (0x40, "broadcast"),
    (0x20, "decapsulation-by-mobile-node"),
    (0x10, "minimal-encapsulation"),
    (0x08, "gre"),
    (0x02, "reverse-tunneling"),
)
#: Mobility Agent Advertisement flags (RFC 5944 §2.1.1) in ``advertisement-flags``.
_ADVERTISEMENT_BITS = (
    (0x80, "registration-required"),
    (0x40, "busy"),
    (0x20, "home-agent"),
    (0x10, "foreign-agent"),
    (0x08, "minimal-encapsulation"),
    (0x04, "gre"),
    (0x02, "reserved"),
    (0x01, "reverse-tunneling"),
)


def _bits(value: int, table: tuple[tuple[int, str], ...]) -> str:
    return " ".join(name for mask, name in table if value & mask)


# Tables and a text cache: a read of 100,000 bindings must not format the same
# flags and care-of addresses 100,000 times.
_REGISTRATION_TEXT = tuple(_bits(v, _REGISTRATION_BITS) for v in range(256))


@functools.lru_cache(maxsize=1 << 18)
def _text(address: IPv4Address) -> str:
    return str(address)


#: Dotted-quad text by the address's integer (hashing an
#: IPv4Address runs Python code, hashing its int does not). Cleared when full.
_DOTTED: dict[int, str] = {}
_DOTTED_MAX = 1 << 18


def _dotted(address: IPv4Address) -> str:
    key = address._ip  # type: ignore[attr-defined]  # its int, without the call to __int__
    text = _DOTTED.get(key)
    if text is None:
        if len(_DOTTED) >= _DOTTED_MAX:
            _DOTTED.clear()
        text = _DOTTED[key] = str(address)
    return text


@functools.lru_cache(maxsize=1 << 12)
def _second_text(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def date_and_time(posix: float) -> str:
    """yang:date-and-time (RFC 6991) in UTC with microseconds."""
    seconds = int(posix)
    micro = int((posix - seconds) * 1_000_000)
    # RFC 6991 canonical form: a numeric offset (UTC here).
    return f"{_second_text(seconds)}.{micro:06d}+00:00"


def _kebab(counters: dict[str, int]) -> dict[str, int]:
    return {name.replace("_", "-"): value for name, value in counters.items()}


def _remaining(expires_at: float | None, now: float) -> int:
    return 0 if expires_at is None else min(0xFFFF, max(0, int(expires_at - now)))


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None and v != ""}


def home_agent_state(agent: HomeAgent, now: float, *, rows: bool = True) -> dict[str, Any]:
    state: dict[str, Any] = {"counters": _kebab(agent.counters.as_dict())}
    if rows:
        # One pass over the nodes in home-address order serves both lists:
        # bindings sorted by (home address, care-of address) as
        # HomeAgent.bindings() orders them (haMobilityBindingTable INDEX),
        # mobile-node-counters by home address. Performance only: the rows
        # are the ones the straightforward code built (tests/unit/test_operational.py).
        text = _dotted
        flag_text = _REGISTRATION_TEXT
        nodes = sorted(agent.mobile_nodes().items(), key=lambda kv: int(kv[0]))
        bindings_out: list[dict[str, Any]] = []
        counters_out: list[dict[str, Any]] = []
        add_binding, add_counters = bindings_out.append, counters_out.append
        for address, node in nodes:
            bindings = node.bindings
            if len(bindings) > 1:
                bindings = sorted(bindings, key=lambda b: int(b.care_of_address))
            for b in bindings:
                expires_at = b.expires_at
                remaining = 0 if expires_at is None else int(expires_at - now)
                row = {
                    "home-address": text(b.home_address),
                    "care-of-address": text(b.care_of_address),
                    "source-address": text(b.source_address),
                    "source-port": b.source_port,
                    "identification": str(b.identification),
                    "lifetime-granted": b.lifetime,
                    "lifetime-remaining": 0 if remaining < 0 else min(0xFFFF, remaining),
                }
                if b.flags & 0xFB:  # some reportable flag (r/x are never reported)
                    row["flags"] = flag_text[b.flags & 0xFF]
                add_binding(row)
            counters: dict[str, Any] = {"home-address": text(address)}
            if node.service_accepted is not None:
                counters["service-requests-accepted"] = node.service_accepted
            if node.service_denied is not None:
                counters["service-requests-denied"] = node.service_denied
            counters["overall-service-time"] = int(node.overall_service_time + sum(
                max(0.0, min(now, b.expires_at) - b.registered_at) for b in node.bindings))
            if node.recent_accepted_time:
                counters["recent-service-accepted-time"] = date_and_time(
                    node.recent_accepted_time)
            if node.recent_denied_time:
                counters["recent-service-denied-time"] = date_and_time(node.recent_denied_time)
            if node.recent_denied_code:
                counters["recent-service-denied-code"] = node.recent_denied_code
            add_counters(counters)
        state["binding"] = bindings_out
        state["mobile-node-counters"] = counters_out
    return state


def foreign_agent_state(agent: ForeignAgent, now: float, *, rows: bool = True) -> dict[str, Any]:
    state: dict[str, Any] = {"counters": _kebab(agent.counters.as_dict())}
    if rows:
        state["visitor"] = [
            _clean({
                "home-address": str(v.home_address),
                "home-agent": str(v.home_agent),
                "care-of-address": str(v.care_of_address),
                "source-address": str(v.source_address),
                "source-port": v.source_port,
                "flags": _REGISTRATION_TEXT[v.flags & 0xFF],
                "identification": str(v.identification),
                "lifetime-granted": v.lifetime,
                "lifetime-remaining": _remaining(v.expires_at, now),
            })
            for v in agent.visitors()
        ]
        state["pending"] = [
            _clean({
                "home-address": str(p.home_address),
                "identification": str(p.identification),
                "home-agent": str(p.home_agent),
                "care-of-address": str(p.care_of_address),
                "source-address": str(p.source_address),
                "source-port": p.source_port,
                "flags": _REGISTRATION_TEXT[p.flags & 0xFF],
                "lifetime-requested": p.lifetime,
                "received": date_and_time(p.received_at),
            })
            for p in agent.pending()
        ]
    return state


def client_detection_state(snoopers: list[Any]) -> list[dict[str, Any]]:
    """YANG ``proxy-state/client-detection``: one entry per snooped link
    (``agent.access.snoop.ClientSnooper``)."""
    return [
        {
            "interface": snooper.interface,
            "frames-seen": snooper.frames_seen,
            "addresses-learned": snooper.addresses_learned,
            "stations-tracked": snooper.tracked,
            "stations-refused": snooper.stations_refused,
            "unassociated-remembered": snooper.unassociated,
            "unassociated-forgotten": snooper.unassociated_forgotten,
        }
        for snooper in snoopers
    ]


def _denied_by(code: int) -> str:
    """RFC 5944 §3.4 reply code ranges."""
    if 64 <= code <= 127:
        return "foreign-agent"
    return "home-agent" if code >= 128 else "unassigned"


def proxy_state(agent: ProxyAgent, now: float, *, rows: bool = True) -> dict[str, Any]:
    replies = agent.reply_counters
    state: dict[str, Any] = {
        "counters": _kebab(agent.counters.as_dict()),
        "reply-statistics": {
            "late-replies": replies.late_replies,
            "reverse-tunnel-retries": replies.reverse_tunnel_retries,
            "denial": [
                {"code": code, "denied-by": _denied_by(code), "count": count}
                for code, count in sorted(replies.denials.items())
            ],
        },
    }
    if rows:
        state["visitor"] = [
            _clean({
                "mac": v.mac,
                "interface": v.interface,
                "home-address": str(v.home_address) if v.home_address else None,
                "home-agent": str(v.home_agent) if v.home_agent else None,
                "foreign-agent": str(v.foreign_agent) if v.foreign_agent else None,
                "care-of-address": str(v.care_of_address) if v.care_of_address else None,
                "state": v.state.value,
                "lifetime-requested": v.lifetime_requested,
                "lifetime-granted": v.lifetime_granted,
                "lifetime-remaining": _remaining(v.expires_at, now),
                "last-reply-code": v.last_code,
                "attempts": min(255, v.attempts),
                "reason": v.reason,
                "associated-at": date_and_time(v.associated_at) if v.associated_at else None,
                "registered-at": date_and_time(v.registered_at) if v.registered_at else None,
            })
            for v in agent.visitors()
        ]
        state["foreign-agent"] = [
            _clean({
                "address": str(f.address),
                "care-of-address": [str(a) for a in f.advertisement.care_of_addresses],
                "registration-lifetime": f.advertisement.registration_lifetime,
                "sequence": f.advertisement.sequence,
                "flags": _bits(int(f.advertisement.flags), _ADVERTISEMENT_BITS),
                "heard-at": date_and_time(f.heard_at),
                "expires-in": _remaining(f.expires_at, now),
            })
            for f in agent.foreign_agents()
        ]
    return state


def violations_state(log: ViolationLog) -> dict[str, Any]:
    return {
        "total": log.total,
        "violation": [
            {
                "address": str(v.address),
                "counter": v.counter,
                "recent-spi": v.recent_spi,
                "time": date_and_time(v.time),
                "identification-low": v.identification_low,
                "identification-high": v.identification_high,
                "reason": v.reason.name.lower().replace("_", "-"),
            }
            for v in log.rows()
        ],
    }


_COUNTER32 = 1 << 32
#: ServerCounters field -> radius-state/client/server leaf.
_SERVER_LEAVES = (
    ("requests", "requests"), ("retransmissions", "retransmissions"), ("accepts", "accepts"),
    ("rejects", "rejects"), ("timeouts", "timeouts"), ("malformed", "malformed-replies"),
    ("invalid_replies", "unauthenticated-replies"), ("unknown_replies", "unknown-replies"),
    ("unreachable", "unreachable"), ("marked_dead", "marked-dead"),
    ("rejects_with_avpairs", "rejects-with-avpairs"),
)


def radius_state(
    clients: list[tuple[str, Any, SecurityAssociationResolver | None, HomeAgent | None]],
    now: float,
) -> dict[str, Any]:
    """``radius-state``: per role with a RADIUS client (``(role, RadiusClient,
    its resolver, the home agent for the registrations that wait)``), its
    servers, resolver and waiting registrations; {} when no role has one.
    Counters are counter32 (they wrap, RFC 2578 §7.1.6)."""
    rows = []
    for role, client, resolver, home_agent in clients:
        if client is None or resolver is None:
            continue
        client_now = client.now()
        servers = []
        for status in client.servers():
            counters = status.counters
            server: dict[str, Any] = {"address": str(status.server.address),
                                      "port": status.server.port}
            if status.dead_until is not None:
                server["dead-until"] = date_and_time(now + (status.dead_until - client_now))
            for field_name, leaf in _SERVER_LEAVES:
                server[leaf] = getattr(counters, field_name) % _COUNTER32
            server["in-flight"] = status.in_flight
            servers.append(server)
        counts = resolver.counters
        row: dict[str, Any] = {
            "role": role,
            "server": servers,
            "resolver": _kebab({name: value % _COUNTER32 for name, value in counts.as_dict().items()})
            | {"pending": resolver.pending, "outstanding": resolver.outstanding,
               "cached": resolver.cached},
        }
        if home_agent is not None:
            waiting = home_agent.radius_wait_counters.as_dict()
            row["registrations-waiting"] = {"waiting": home_agent.waiting_for_sas} | _kebab(
                {name: value % _COUNTER32 for name, value in waiting.items()})
        rows.append(row)
    return {"client": rows} if rows else {}
