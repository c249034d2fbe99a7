"""The management plane's half of the tables: mirror rows -> the YANG
``*-state`` lists (RFC 7951 JSON), exactly as ``agent/operational.py``
renders them from the engines today (a test compares the two), so that the
wiring can switch ``<get>`` to the mirror without a visible change.

The home agent's bindings and mobile-node counters, the foreign agent's and
the proxy's visitors.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address
from typing import Any

from agent.operational import _REGISTRATION_TEXT, date_and_time

_TEXT: dict[int, str] = {}
_TEXT_MAX = 1 << 18


def _dotted(address: int) -> str:
    text = _TEXT.get(address)
    if text is None:
        if len(_TEXT) >= _TEXT_MAX:
            _TEXT.clear()
        text = _TEXT[address] = str(IPv4Address(address))
    return text


def binding_entries(rows: Iterable[tuple[Any, ...]], now: float) -> list[dict[str, Any]]:
    """``home-agent-state/binding`` from binding rows in key order
    (home address, care-of address: haMobilityBindingTable's INDEX)."""
    out = []
    for (home, care_of, source, port, flags, identification, lifetime, _registered,
         expires_at) in rows:
        remaining = int(expires_at - now)
        entry: dict[str, Any] = {
            "home-address": _dotted(home),
            "care-of-address": _dotted(care_of),
            "source-address": _dotted(source),
            "source-port": port,
            "identification": str(identification),
            "lifetime-granted": lifetime,
            "lifetime-remaining": 0 if remaining < 0 else min(0xFFFF, remaining),
        }
        if flags & 0xFB:  # some reportable flag (r/x are never reported)
            entry["flags"] = _REGISTRATION_TEXT[flags]
        out.append(entry)
    return out


def _remaining(expires_at: float | None, now: float) -> int:
    return 0 if expires_at is None else min(0xFFFF, max(0, int(expires_at - now)))


def _present(entry: dict[str, Any]) -> dict[str, Any]:
    """Absent values are omitted (RFC 7951 has no null for a leaf)."""
    return {k: v for k, v in entry.items() if v is not None and v != ""}


def mobile_node_counter_entries(nodes: Iterable[tuple[Any, ...]],
                                bindings: Iterable[tuple[Any, ...]],
                                now: float) -> list[dict[str, Any]]:
    """``home-agent-state/mobile-node-counters`` from the node rows and the
    binding rows, both in key order: overall-service-time adds each live
    binding's time so far to the node's (haOverallServiceTime, RFC 2006)."""
    live: dict[int, float] = {}
    for row in bindings:
        live[row[0]] = live.get(row[0], 0.0) + max(0.0, min(now, row[8]) - row[7])
    out = []
    for home, accepted, denied, overall, accepted_at, denied_at, denied_code in nodes:
        entry: dict[str, Any] = {"home-address": _dotted(home),
                                 "service-requests-accepted": accepted,
                                 "service-requests-denied": denied,
                                 "overall-service-time": int(overall + live.get(home, 0.0))}
        if accepted_at:
            entry["recent-service-accepted-time"] = date_and_time(accepted_at)
        if denied_at:
            entry["recent-service-denied-time"] = date_and_time(denied_at)
        if denied_code:
            entry["recent-service-denied-code"] = denied_code
        out.append(entry)
    return out


def visitor_entries(rows: Iterable[tuple[Any, ...]], now: float) -> list[dict[str, Any]]:
    """``foreign-agent-state/visitor`` (faVisitorTable order: home address)."""
    return [_present({
        "home-address": _dotted(home), "home-agent": _dotted(home_agent),
        "care-of-address": _dotted(care_of), "source-address": _dotted(source),
        "source-port": port, "flags": _REGISTRATION_TEXT[flags],
        "identification": str(identification), "lifetime-granted": lifetime,
        "lifetime-remaining": _remaining(expires_at, now),
    }) for (home, home_agent, care_of, source, port, flags, identification, lifetime,
            _registered, expires_at) in rows]


def _address(value: int | None) -> str | None:
    return None if value is None else _dotted(value)


def proxy_visitor_entries(rows: Iterable[tuple[Any, ...]], now: float) -> list[dict[str, Any]]:
    """``proxy-state/visitor`` (by MAC)."""
    return [_present({
        "mac": mac, "interface": interface, "home-address": _address(home),
        "home-agent": _address(home_agent), "foreign-agent": _address(foreign_agent),
        "care-of-address": _address(care_of), "state": state,
        "lifetime-requested": requested, "lifetime-granted": granted,
        "lifetime-remaining": _remaining(expires_at, now), "last-reply-code": last_code,
        "attempts": min(255, attempts), "reason": reason,
        "associated-at": date_and_time(associated_at) if associated_at else None,
        "registered-at": date_and_time(registered_at) if registered_at else None,
    }) for (mac, interface, home, home_agent, foreign_agent, care_of, state, requested, granted,
            expires_at, last_code, attempts, reason, associated_at, registered_at) in rows]


def tunnel_entries(rows: Iterable[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """``data-plane-state/tunnel`` (by remote endpoint)."""
    return [{"remote": _dotted(remote), "local": _dotted(local), "interface": interface,
             "users": users} for remote, local, interface, users in rows]
