"""What each ``proxymip show ...`` asks the agent for, the rows it makes of the
answer, and the operator's filters. Pure functions of RFC 7951 JSON, so the
unit tests need no agent.

Every selection names its leaves (or whole nodes without secrets): a
security association is read as address, SPI, algorithm and replay settings,
RADIUS as servers and timers; keys, secrets and password hashes are never in
a request (``tests/unit/test_operator_render.py`` checks every selection).

A view reports sections: for ``--json`` the object itself, for people the
text of :mod:`agent.operator.render`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network
from typing import Any

from agent.operator import render
from agent.operator.data import Selection
from agent.operator.errors import NotOffered, UsageError

Row = dict[str, Any]
Report = dict[str, Any]

#: The role containers (configuration; none holds a secret): their presence
#: says which roles the agent runs.
ROLES: Selection = {"home-agent": None, "foreign-agent": None, "proxy": None}
ROLE_NAMES = ("home-agent", "foreign-agent", "proxy")
_ROLE_TEXT = {"home-agent": "the home agent", "foreign-agent": "the foreign agent",
              "proxy": "the proxy"}
#: proxy-state visitor states (the YANG enumeration), plus the foreign agent's.
PROXY_STATES = ("associated", "at-home", "no-home-agent", "no-security-association",
                "sa-pending", "not-enabled", "waiting-for-agent", "queued", "pending",
                "registered", "denied", "failed", "deregistering")
VISITOR_STATES = tuple(sorted(set(PROXY_STATES)))


def roles(content: Mapping[str, Any]) -> list[str]:
    return [name for name in ROLE_NAMES if name in content]


#: How current operational state is, where the management plane serves it
#: from its mirror (absent from a single-process agent).
STATE_MIRROR: Selection = {"state-mirror": None}


def stale_notice(content: Mapping[str, Any]) -> str | None:
    """A line for the operator when what was read is not current: the
    management plane answered from its mirror's last content while the
    control plane is not connected or is being resynchronised."""
    mirror = content.get("state-mirror")
    if not mirror or mirror.get("status") == "synced":
        return None
    why = ("the control plane is not connected" if not mirror.get("control-plane-connected")
           else "a resynchronisation is under way")
    age = mirror.get("counters-age")
    aged = f"; counters {int(age) / 1000:.1f} s old" if age is not None else ""
    return f"% Stale: last known state ({mirror.get('status')}: {why}{aged})"


# -- filters --------------------------------------------------------------------------


@dataclass(frozen=True)
class RowFilter:
    """The operator's ``--home-address`` (address or prefix), ``--home-agent``
    and ``--state``; an absent criterion matches everything."""

    home_address: IPv4Network | None = None
    home_agent: IPv4Address | None = None
    state: str | None = None

    @classmethod
    def parse(cls, *, home_address: str | None = None, home_agent: str | None = None,
              state: str | None = None) -> RowFilter:
        try:
            network = ip_network(home_address, strict=False) if home_address else None
            agent = ip_address(home_agent) if home_agent else None
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if network is not None and not isinstance(network, IPv4Network):
            raise UsageError(f"{home_address} is not an IPv4 address or prefix")
        if agent is not None and not isinstance(agent, IPv4Address):
            raise UsageError(f"{home_agent} is not an IPv4 address")
        return cls(network, agent, state)

    def matches(self, row: Mapping[str, Any]) -> bool:
        if self.home_address is not None and not _in(row.get("home-address"), self.home_address):
            return False
        if self.home_agent is not None and row.get("home-agent") != str(self.home_agent):
            return False
        return self.state is None or row.get("state") == self.state

    def apply(self, rows: Sequence[Row]) -> list[Row]:
        return [row for row in rows if self.matches(row)]


def _in(address: Any, network: IPv4Network) -> bool:
    try:
        return IPv4Address(str(address)) in network
    except ValueError:
        return False


# -- views ----------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    name: str
    help: str
    selection: Selection
    #: "get" (configuration and state) or "get-config" (with defaults reported).
    operation: str
    build: Callable[[Mapping[str, Any], RowFilter], Report]
    render: Callable[[Report, bool], str]
    #: Which of --home-address, --home-agent, --state apply.
    filters: tuple[str, ...] = ()


def _require(content: Mapping[str, Any], wanted: Sequence[str], what: str) -> None:
    if not any(role in content for role in wanted):
        running = " and ".join(_ROLE_TEXT[r] for r in roles(content)) or "no role"
        raise NotOffered(f"this agent runs {running}: {what}")


def build_bindings(content: Mapping[str, Any], where: RowFilter) -> Report:
    _require(content, ["home-agent"], "bindings are kept by home agents")
    rows = content.get("home-agent-state", {}).get("binding", [])
    return {"bindings": where.apply(rows)}


def build_visitors(content: Mapping[str, Any], where: RowFilter) -> Report:
    _require(content, ["foreign-agent", "proxy"],
             "visitors are kept by foreign agents and proxy access points")
    report: Report = {}
    if "foreign-agent" in content:
        state = content.get("foreign-agent-state", {})
        rows = [{**v, "state": "registered"} for v in state.get("visitor", [])]
        rows += [{**p, "state": "pending"} for p in state.get("pending", [])]
        report["foreign-agent"] = where.apply(rows)
    if "proxy" in content:
        report["proxy"] = where.apply(content.get("proxy-state", {}).get("visitor", []))
    return report


def build_subnet_map(content: Mapping[str, Any], where: RowFilter) -> Report:
    rows = list(content.get("subnet-map", []))
    if where.home_agent is not None:
        rows = [r for r in rows if r.get("home-agent") == str(where.home_agent)]
    if where.home_address is not None:
        wanted = where.home_address
        rows = [r for r in rows if ip_network(r["prefix"], strict=False).overlaps(wanted)]
        if wanted.num_addresses == 1 and rows:
            # One address: the entry the proxy would use, by longest prefix match.
            rows = [max(rows, key=lambda r: ip_network(r["prefix"], strict=False).prefixlen)]
    return {"subnet-map": rows}


def build_security(content: Mapping[str, Any], where: RowFilter) -> Report:
    security = content.get("security", {})
    rows: list[Row] = []
    for kind in ("host", "peer"):
        for entry in security.get(kind, []):
            rows.append({"kind": kind, **{k: v for k, v in entry.items()}})
    if where.home_address is not None:
        rows = [r for r in rows if r["kind"] == "host" and _range_overlaps(r, where.home_address)]
    return {"security-associations": rows}


def _range_overlaps(row: Mapping[str, Any], network: IPv4Network) -> bool:
    first = int(IPv4Address(row["address"]))
    last = int(IPv4Address(row.get("last-address") or row["address"]))
    return first <= int(network.broadcast_address) and last >= int(network.network_address)


def build_foreign_agents(content: Mapping[str, Any], where: RowFilter) -> Report:
    _require(content, ["proxy"], "foreign agents are what a proxy access point hears or is given")
    rows: list[Row] = []
    static = content.get("proxy", {}).get("foreign-agent")
    if static is not None:
        rows.append({"address": static["address"], "source": "configured",
                     "care-of-address": [static.get("care-of-address", static["address"])]})
    for heard in content.get("proxy-state", {}).get("foreign-agent", []):
        rows.append({"source": "advertised", **heard})
    return {"foreign-agents": rows}


def build_tunnels(content: Mapping[str, Any], where: RowFilter) -> Report:
    """One row per tunnel end pair the registrations imply (RFC 5944 §4.2.3:
    HA -> care-of address; with reverse tunnelling, RFC 3024, the way back),
    with the kernel interface carrying it where the agent runs a data plane
    (``data-plane-state``), whose backend and counters come along."""
    _require(content, ROLE_NAMES, "tunnels come from registrations")
    groups: dict[tuple[str, str, str], Row] = {}
    data_plane = content.get("data-plane-state")
    interfaces = {t["remote"]: t.get("interface", "-")
                  for t in (data_plane or {}).get("tunnel", [])}

    def add(role: str, source: str, destination: str, row: Mapping[str, Any]) -> None:
        if not where.matches(row):
            return
        key = (role, source, destination)
        entry = groups.setdefault(key, {"role": role, "source": source, "destination": destination,
                                        "encapsulation": _encapsulation(row.get("flags")),
                                        "mode": _mode(row.get("flags")), "users": 0,
                                        "interface": "-", "home-address": []})
        if role != "proxy" and destination in interfaces:
            entry["interface"] = interfaces[destination]
        entry["users"] += 1
        entry["home-address"].append(row.get("home-address"))

    home_agent = content.get("home-agent", {}).get("address", "-")
    for binding in content.get("home-agent-state", {}).get("binding", []):
        add("home-agent", home_agent, binding["care-of-address"],
            {**binding, "home-agent": home_agent})
    for visitor in content.get("foreign-agent-state", {}).get("visitor", []):
        add("foreign-agent", visitor.get("care-of-address", "-"), visitor.get("home-agent", "-"),
            {**visitor, "state": "registered"})
    for visitor in content.get("proxy-state", {}).get("visitor", []):
        if visitor.get("state") == "registered":
            add("proxy", visitor.get("care-of-address", "-"), visitor.get("home-agent", "-"), visitor)
    report: Report = {"tunnels": list(groups.values())}
    if data_plane is not None:
        report["data-plane"] = {"backend": data_plane.get("backend"),
                                "counters": dict(data_plane.get("counters", {}))}
    return report


def _encapsulation(bits: Any) -> str:
    names = set(str(bits or "").split())
    if "gre" in names:
        return "GRE"
    if "minimal-encapsulation" in names:
        return "minimal"
    return "IP/IP"


def _mode(bits: Any) -> str:
    return "reverse" if "reverse-tunneling" in str(bits or "").split() else "forward"


def build_traffic(content: Mapping[str, Any], where: RowFilter) -> Report:
    report: Report = {}
    for role in ROLE_NAMES:
        state = content.get(f"{role}-state")
        if role in content or state is not None:
            report[role] = dict((state or {}).get("counters", {}))
    if "security-violations" in content:
        report["security-violations"] = {"total": content["security-violations"].get("total", 0)}
    return report


def build_radius(content: Mapping[str, Any], where: RowFilter) -> Report:
    radius = dict(content.get("radius", {}))
    radius.setdefault("server", [])
    # radius-state: one row per role that looks SAs up (proxy, home agent).
    return {"radius": radius, "lookups": list(content.get("radius-state", {}).get("client", []))}


def _render_visitors(report: Report, detail: bool) -> str:
    parts = []
    if "foreign-agent" in report:
        parts.append(render.render_fa_visitors(report["foreign-agent"], detail=detail))
    if "proxy" in report:
        parts.append(render.render_proxy_visitors(report["proxy"], detail=detail))
    return "\n\n".join(parts)


_SA_LEAVES: Selection = {"address": None, "spi": None, "algorithm": None,
                         "replay-method": None, "replay-window": None}

VIEWS: dict[str, View] = {view.name: view for view in (
    View("visitors", "visitors of the foreign agent and the proxy (show ip mobile visitor)",
         {**ROLES, "foreign-agent-state": {"visitor": None, "pending": None},
          "proxy-state": {"visitor": None}},
         "get", build_visitors, _render_visitors, ("home-address", "home-agent", "state")),
    View("bindings", "the home agent's mobility bindings (show ip mobile binding)",
         {**ROLES, "home-agent-state": {"binding": None}},
         "get", build_bindings, lambda r, d: render.render_bindings(r["bindings"], detail=d),
         ("home-address",)),
    View("subnet-map", "home networks and their home agents (the proxy's map)",
         {"subnet-map": None}, "get-config", build_subnet_map,
         lambda r, d: render.render_subnet_map(r["subnet-map"]), ("home-address", "home-agent")),
    View("security-associations", "mobility SAs: address or range, SPI, algorithm, replay "
         "(show ip mobile secure, without keys)",
         {"security": {"host": {**_SA_LEAVES, "last-address": None}, "peer": _SA_LEAVES}},
         "get-config", build_security, lambda r, d: render.render_security(r["security-associations"]),
         ("home-address",)),
    View("foreign-agents", "foreign agents the proxy is given or hears advertise",
         {**ROLES, "proxy-state": {"foreign-agent": None}},
         "get", build_foreign_agents, lambda r, d: render.render_foreign_agents(r["foreign-agents"])),
    View("tunnels", "tunnels implied by the registrations (show ip mobile tunnel)",
         {**ROLES, "home-agent-state": {"binding": None}, "foreign-agent-state": {"visitor": None},
          "proxy-state": {"visitor": None}, "data-plane-state": None},
         "get", build_tunnels,
         lambda r, d: render.render_tunnels(r["tunnels"], data_plane=r.get("data-plane")),
         ("home-address", "home-agent")),
    View("traffic", "counters of every role (show ip mobile traffic)",
         {**ROLES, "home-agent-state": {"counters": None}, "foreign-agent-state": {"counters": None},
          "proxy-state": {"counters": None}, "security-violations": {"total": None}},
         "get", build_traffic, lambda r, d: render.render_traffic(r)),
    View("radius", "RADIUS servers, timers and lookup counters (never the secrets)",
         {"radius": {"server": {"address": None, "port": None}, "timeout": None, "retries": None,
                     "dead-time": None, "cache-lifetime": None, "negative-cache-lifetime": None},
          "radius-state": None},
         "get", build_radius,
         lambda r, d: render.render_radius(r["radius"], lookups=r.get("lookups", []))),
)}
