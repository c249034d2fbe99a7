"""The management plane's reads: operational state rendered from the
mirror only (``<get>``, get-data of operational, the control channel's
``state`` and ``counters``); the engines are never asked.

The counters' contract (``Counters`` messages of the state stream): one
group per running role, ``home-agent``, ``foreign-agent`` and ``proxy``,
holding exactly that engine's counters (its counters dataclass, field names
as they are, ``counters.as_dict()``); ``data-plane`` the tunnels' counters;
``security`` ``{"total-violations": n}``. A role's ``*-state`` container is
shown when its group or one of its rows is in the mirror.

Age and staleness (the YANG's ``state-period`` rule): counters are as old
as ``counters-age`` says, at most the period plus the transit time while
the stream is followed; the rows follow each change. While the mirror is
not synchronised (the control plane restarting, a resynchronisation under
way) the last consistent content is served and ``state-mirror/status``
says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from agent.mobileip.foreign_agent import ForeignAgentCounters
from agent.mobileip.home_agent import HomeAgentCounters
from agent.mobileip.proxy import ProxyCounters

from agent.plane import render
from agent.plane.mirror import MirrorState, OperationalMirror
from agent.plane.tables import TableId

#: (role group, its *-state container)
_ROLES: tuple[tuple[str, str], ...] = (
    ("home-agent", "home-agent-state"),
    ("foreign-agent", "foreign-agent-state"),
    ("proxy", "proxy-state"),
)
_ROLE_TABLES: dict[str, tuple[TableId, ...]] = {
    "home-agent": (TableId.BINDING, TableId.MOBILE_NODE),
    "foreign-agent": (TableId.VISITOR,),
    "proxy": (TableId.PROXY_CLIENT,),
}
#: The control channel's entry counts, as ``runtime.Agent`` names them in
#: ``counters`` and in ``state``.
_COUNTS: dict[str, tuple[tuple[str, str, TableId], ...]] = {
    "home-agent": (("bindings", "binding-count", TableId.BINDING),),
    "foreign-agent": (("visitors", "visitor-count", TableId.VISITOR),),
    "proxy": (("registered", "registered-count", TableId.PROXY_CLIENT),),
}


#: The counters each role's YANG ``counters`` container has: its engine's
#: counter table (what agent/operational.py renders). A counter group on the
#: stream also carries entry counts (``bindings``, ``visitors``, ``pending``,
#: ``registered``: the control channel's), which are not YANG counters.
_YANG_COUNTERS: dict[str, frozenset[str]] = {
    "home-agent": frozenset(f.name for f in fields(HomeAgentCounters)),
    "foreign-agent": frozenset(f.name for f in fields(ForeignAgentCounters)),
    "proxy": frozenset(f.name for f in fields(ProxyCounters)),
}


def _kebab(counters: Mapping[str, int]) -> dict[str, int]:
    return {name.replace("_", "-"): value for name, value in counters.items()}


def _running(mirror: OperationalMirror, role: str) -> bool:
    return role in mirror.counter_groups() or any(
        mirror.count(table) for table in _ROLE_TABLES[role])


def _role_rows(mirror: OperationalMirror, role: str, now: float) -> dict[str, Any]:
    if role == "home-agent":
        bindings = mirror.sorted_rows(TableId.BINDING)
        return {"binding": render.binding_entries(bindings, now),
                "mobile-node-counters": render.mobile_node_counter_entries(
                    mirror.sorted_rows(TableId.MOBILE_NODE), bindings, now)}
    if role == "foreign-agent":
        return {"visitor": render.visitor_entries(mirror.sorted_rows(TableId.VISITOR), now)}
    return {"visitor": render.proxy_visitor_entries(mirror.sorted_rows(TableId.PROXY_CLIENT), now)}


def mirror_status(mirror: OperationalMirror, now: float, *, connected: bool,
                  state_period: float) -> dict[str, Any]:
    """``state-mirror``: how current what is read is."""
    status: dict[str, Any] = {"status": mirror.state.value, "control-plane-connected": connected,
                              "state-period": int(state_period * 1000)}
    ages = [reading.age for group in mirror.counter_groups()
            if (reading := mirror.counters_of(group, now)) is not None]
    if ages:
        status["counters-age"] = int(max(ages) * 1000)
    if mirror.epoch is not None:
        status["epoch"] = str(mirror.epoch)
    return status


def operational(mirror: OperationalMirror, now: float, *, wall_now: float, connected: bool,
                state_period: float) -> dict[str, Any]:
    """The datastore's operational provider: members of the top container,
    as the YANG models them. ``now`` is the mirror's clock (counter ages),
    ``wall_now`` POSIX time (lifetimes remaining: ``expires-at`` is the
    control plane's POSIX time)."""
    out: dict[str, Any] = {}
    for role, container in _ROLES:
        if not _running(mirror, role):
            continue
        state: dict[str, Any] = {}
        reading = mirror.counters_of(role, now)
        if reading is not None:
            known = _YANG_COUNTERS[role]
            state["counters"] = _kebab({name: value for name, value in reading.values.items()
                                        if name in known})
        rows = _role_rows(mirror, role, wall_now)
        state.update({name: entries for name, entries in rows.items() if entries})
        out[container] = state
    tunnels = mirror.sorted_rows(TableId.TUNNEL)
    data_plane = mirror.counters_of("data-plane", now)
    if tunnels or data_plane is not None:
        plane: dict[str, Any] = {}
        if data_plane is not None:
            plane["counters"] = {name.replace("_", "-"): str(value)
                                 for name, value in data_plane.values.items()}
        if tunnels:
            plane["tunnel"] = [{"remote": render._dotted(remote), "local": render._dotted(local),
                                "interface": interface, "users": users}
                               for remote, local, interface, users in tunnels]
        out["data-plane-state"] = plane
    security = mirror.counters_of("security", now)
    if security is not None:
        out["security-violations"] = {"total": security.values.get("total-violations", 0)}
    out["state-mirror"] = mirror_status(mirror, now, connected=connected, state_period=state_period)
    return out


def control_state(mirror: OperationalMirror, now: float, *, wall_now: float, rows: bool,
                  connected: bool, state_period: float) -> dict[str, Any]:
    """The control channel's ``state``: each running role's counters, rows
    (unless ``rows`` is false) and entry counts, and the mirror's status."""
    out: dict[str, Any] = {}
    for role, _container in _ROLES:
        if not _running(mirror, role):
            continue
        reading = mirror.counters_of(role, now)
        state: dict[str, Any] = {"counters": _kebab(reading.values) if reading is not None else {}}
        if rows:
            state.update(_role_rows(mirror, role, wall_now))
        for _, state_name, table in _COUNTS[role]:
            state[state_name] = mirror.count(table)
        out[role] = state
    out["mirror"] = mirror_status(mirror, now, connected=connected, state_period=state_period)
    out["stale"] = mirror.state is not MirrorState.SYNCED
    return out


def control_counters(mirror: OperationalMirror, now: float) -> dict[str, Any]:
    """The control channel's ``counters``: every group as the control plane
    last sent it (``runtime.Agent.counters``' shape, entry counts added from
    the tables), each with its age in seconds under ``age``."""
    out: dict[str, Any] = {}
    ages: dict[str, float] = {}
    for group in mirror.counter_groups():
        reading = mirror.counters_of(group, now)
        if reading is None:
            continue
        values = dict(reading.values)
        for name, _, table in _COUNTS.get(group, ()):
            values[name] = mirror.count(table)
        out[group] = values
        ages[group] = round(reading.age, 3)
    out["age"] = ages
    out["stale"] = mirror.state is not MirrorState.SYNCED
    return out
