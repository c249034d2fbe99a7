"""Operational state of the role engines as plain data shaped like the YANG
``*-state`` containers (kebab-case names), read at request time from the engines
(nothing is copied on a timer). Keys never appear here."""

from __future__ import annotations

from typing import Any

from agent.mobileip.foreign_agent import ForeignAgent
from agent.mobileip.home_agent import HomeAgent
from agent.mobileip.proxy import ProxyAgent
from agent.mobileip.violations import ViolationLog


def _kebab(counters: dict[str, int]) -> dict[str, int]:
    return {name.replace("_", "-"): value for name, value in counters.items()}


def _remaining(expires_at: float | None, now: float) -> int:
    return 0 if expires_at is None else max(0, int(expires_at - now))


def home_agent_state(agent: HomeAgent, now: float, *, rows: bool = True) -> dict[str, Any]:
    state: dict[str, Any] = {"counters": _kebab(agent.counters.as_dict()), "binding-count": agent.binding_count}
    if rows:
        state["binding"] = [
            {
                "home-address": str(b.home_address),
                "care-of-address": str(b.care_of_address),
                "source-address": str(b.source_address),
                "source-port": b.source_port,
                "flags": b.flags,
                "identification": b.identification,
                "lifetime-granted": b.lifetime,
                "lifetime-remaining": _remaining(b.expires_at, now),
            }
            for b in agent.bindings()
        ]
    return state


def foreign_agent_state(agent: ForeignAgent, now: float, *, rows: bool = True) -> dict[str, Any]:
    state: dict[str, Any] = {
        "counters": _kebab(agent.counters.as_dict()),
        "visitor-count": agent.visitor_count,
        "pending-count": agent.pending_count,
    }
    if rows:
        state["visitor"] = [
            {
                "home-address": str(v.home_address),
                "home-agent": str(v.home_agent),
                "care-of-address": str(v.care_of_address),
                "source-address": str(v.source_address),
                "source-port": v.source_port,
                "flags": v.flags,
                "identification": v.identification,
                "lifetime-granted": v.lifetime,
                "lifetime-remaining": _remaining(v.expires_at, now),
            }
            for v in agent.visitors()
        ]
    return state


def proxy_state(agent: ProxyAgent, now: float, *, rows: bool = True) -> dict[str, Any]:
    state: dict[str, Any] = {
        "counters": _kebab(agent.counters.as_dict()),
        "registered-count": agent.registered_count,
    }
    if rows:
        state["visitor"] = [
            {
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
                "associated-at": v.associated_at,
                "registered-at": v.registered_at,
                "attempts": v.attempts,
            }
            for v in agent.visitors()
        ]
        state["foreign-agent"] = [
            {
                "address": str(f.address),
                "care-of-address": [str(a) for a in f.advertisement.care_of_addresses],
                "registration-lifetime": f.advertisement.registration_lifetime,
                "sequence": f.advertisement.sequence,
                "flags": int(f.advertisement.flags),
                "expires-in": _remaining(f.expires_at, now),
            }
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
                "time": v.time,
                "identification-low": v.identification_low,
                "identification-high": v.identification_high,
                "reason": v.reason.name.lower().replace("_", "-"),
            }
            for v in log.rows()
        ],
    }
