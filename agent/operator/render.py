"""Text for the operator: aligned tables headed as Cisco IOS heads its Mobile IP
listings (``Mobility Binding List:`` / ``Total N``), Cisco's per-entry blocks
for ``--detail``, counters as ``show ip mobile traffic`` groups them, one line
per notification. Pure functions of RFC 7951 JSON rows: no I/O, no clock (the
caller passes the time when it matters).

Conventions kept from IOS: lifetimes as ``hh:mm:ss (seconds)``, registration
flags as the letters ``SBDMGVT`` (upper case when set: simultaneous bindings,
broadcast, decapsulation by the mobile node, minimal encapsulation, GRE, Van
Jacobson compression, reverse tunnelling; RFC 5944 §3.3, RFC 3024 §3.1), the
64-bit Identification as two 32-bit hex halves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.mobileip.numbers import INFINITE_LIFETIME, ReplyCode

Row = Mapping[str, Any]
EMPTY = "-"

#: RFC 5944 §3.3 flag bits in Cisco's order, by their YANG bit names. 'V' (Van
#: Jacobson compression) is never granted here, so it always shows as 'v'.
_FLAG_LETTERS = (
    ("S", "simultaneous-bindings"),
    ("B", "broadcast"),
    ("D", "decapsulation-by-mobile-node"),
    ("M", "minimal-encapsulation"),
    ("G", "gre"),
    ("V", None),
    ("T", "reverse-tunneling"),
)


# -- cells -------------------------------------------------------------------------


def duration(seconds: Any) -> str:
    """``hh:mm:ss``; 65535 is "infinite" (RFC 5944 §3.3)."""
    if seconds is None or seconds == "":
        return EMPTY
    value = int(seconds)
    if value >= INFINITE_LIFETIME:
        return "infinite"
    hours, rest = divmod(value, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def lifetime(seconds: Any) -> str:
    """``hh:mm:ss (seconds)`` as IOS prints a granted lifetime."""
    if seconds is None or seconds == "":
        return EMPTY
    return f"{duration(seconds)} ({int(seconds)})"


def flags(bits: Any) -> str:
    """YANG ``registration-flags`` (space-separated bit names) as ``SbdmGvt``."""
    names = set(str(bits or "").split())
    return "".join(letter if name in names else letter.lower() for letter, name in _FLAG_LETTERS)


def identification(value: Any) -> str:
    """The 64-bit Identification (RFC 5944 §5.7) as ``HHHHHHHH.LLLLLLLL``."""
    if value is None or value == "":
        return EMPTY
    number = int(value)
    return f"{number >> 32:08X}.{number & 0xFFFFFFFF:08X}"


def reply_code_text(code: Any) -> str:
    """``131 (HA: mobile node failed authentication)``."""
    try:
        number = int(code)
        name = ReplyCode(number).name
    except (TypeError, ValueError):
        return str(code)
    role, _, rest = name.partition("_")
    if role in ("FA", "HA"):
        return f"{number} ({role}: {rest.lower().replace('_', ' ')})"
    return f"{number} ({name.lower().replace('_', ' ')})"


def _cell(value: Any) -> str:
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


# -- tables ------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Row], Any]
    right: bool = False


def field(name: str) -> Callable[[Row], Any]:
    return lambda row: row.get(name)


def table(columns: Sequence[Column], rows: Iterable[Row], *, indent: str = "") -> list[str]:
    """Aligned columns, two spaces apart, numbers right-aligned; no trailing blanks."""
    cells = [[_cell(column.cell(row)) for column in columns] for row in rows]
    widths = [max([len(column.header)] + [len(line[i]) for line in cells])
              for i, column in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [value.rjust(width) if column.right else value.ljust(width)
                 for value, width, column in zip(values, widths, columns)]
        return (indent + "  ".join(parts)).rstrip()

    return [line([c.header for c in columns])] + [line(values) for values in cells]


def listing(title: str, columns: Sequence[Column], rows: Sequence[Row]) -> list[str]:
    """IOS style: the title, ``Total N``, then the table (no header when empty)."""
    lines = [title, f"Total {len(rows)}"]
    if rows:
        lines += table(columns, rows)
    return lines


# -- show bindings / visitors ----------------------------------------------------------

BINDING_COLUMNS = (
    Column("Home Addr", field("home-address")),
    Column("Care-of Addr", field("care-of-address")),
    Column("Src Addr", field("source-address")),
    Column("Src Port", field("source-port"), right=True),
    Column("Lifetime", lambda r: lifetime(r.get("lifetime-granted")), right=True),
    Column("Remaining", lambda r: duration(r.get("lifetime-remaining")), right=True),
    Column("Flags", lambda r: flags(r.get("flags"))),
    Column("Identification", lambda r: identification(r.get("identification"))),
)

FA_VISITOR_COLUMNS = (
    Column("Home Addr", field("home-address")),
    Column("Home Agent", field("home-agent")),
    Column("Care-of Addr", field("care-of-address")),
    Column("Src Addr", field("source-address")),
    Column("Src Port", field("source-port"), right=True),
    Column("State", field("state")),
    Column("Lifetime", lambda r: lifetime(r.get("lifetime-granted", r.get("lifetime-requested"))),
           right=True),
    Column("Remaining", lambda r: duration(r.get("lifetime-remaining")), right=True),
    Column("Flags", lambda r: flags(r.get("flags"))),
)

PROXY_VISITOR_COLUMNS = (
    Column("MAC", field("mac")),
    Column("Interface", field("interface")),
    Column("Home Addr", field("home-address")),
    Column("Home Agent", field("home-agent")),
    Column("Foreign Agent", field("foreign-agent")),
    Column("Care-of Addr", field("care-of-address")),
    Column("State", field("state")),
    Column("Lifetime", lambda r: lifetime(r.get("lifetime-granted")), right=True),
    Column("Remaining", lambda r: duration(r.get("lifetime-remaining")), right=True),
    Column("Code", field("last-reply-code"), right=True),
    Column("Tries", field("attempts"), right=True),
)


def render_bindings(rows: Sequence[Row], *, detail: bool = False) -> str:
    if not detail:
        return "\n".join(listing("Mobility Binding List:", BINDING_COLUMNS, rows))
    lines = ["Mobility Binding List:", f"Total {len(rows)}"]
    for row in rows:
        lines += [
            f"{row.get('home-address')}:",
            (f"    Care-of Addr {row.get('care-of-address')}, "
             f"Src Addr {row.get('source-address')}, "
             f"UDP src port {_cell(row.get('source-port'))}"),
            (f"    Lifetime granted {lifetime(row.get('lifetime-granted'))}, "
             f"remaining {duration(row.get('lifetime-remaining'))}"),
            (f"    Flags {flags(row.get('flags'))}, "
             f"Identification {identification(row.get('identification'))}"),
        ]
    return "\n".join(lines)


def render_fa_visitors(rows: Sequence[Row], *, detail: bool = False) -> str:
    if not detail:
        return "\n".join(listing("Mobile Visitor List:", FA_VISITOR_COLUMNS, rows))
    lines = ["Mobile Visitor List:", f"Total {len(rows)}"]
    for row in rows:
        granted = row.get("lifetime-granted", row.get("lifetime-requested"))
        lines += [
            f"{row.get('home-address')}:",
            (f"    State {row.get('state')}, HA addr {_cell(row.get('home-agent'))}, "
             f"Care-of Addr {_cell(row.get('care-of-address'))}"),
            (f"    IP src {_cell(row.get('source-address'))}, "
             f"UDP src port {_cell(row.get('source-port'))}"),
            f"    Lifetime {lifetime(granted)}, remaining {duration(row.get('lifetime-remaining'))}",
            (f"    Flags {flags(row.get('flags'))}, "
             f"Identification {identification(row.get('identification'))}"),
        ]
    return "\n".join(lines)


def render_proxy_visitors(rows: Sequence[Row], *, detail: bool = False) -> str:
    if not detail:
        return "\n".join(listing("Proxy Mobile IP Visitor List:", PROXY_VISITOR_COLUMNS, rows))
    lines = ["Proxy Mobile IP Visitor List:", f"Total {len(rows)}"]
    for row in rows:
        lines += [
            f"{row.get('mac')} ({_cell(row.get('home-address'))}):",
            f"    Interface {_cell(row.get('interface'))}, state {row.get('state')}",
            (f"    HA addr {_cell(row.get('home-agent'))}, "
             f"FA addr {_cell(row.get('foreign-agent'))}, "
             f"Care-of Addr {_cell(row.get('care-of-address'))}"),
            (f"    Lifetime requested {lifetime(row.get('lifetime-requested'))}, "
             f"granted {lifetime(row.get('lifetime-granted'))}, "
             f"remaining {duration(row.get('lifetime-remaining'))}"),
            (f"    Last reply code {reply_code_text(row.get('last-reply-code'))}, "
             f"attempts {_cell(row.get('attempts'))}"),
            (f"    Associated {_cell(row.get('associated-at'))}, "
             f"registered {_cell(row.get('registered-at'))}"),
        ]
        if row.get("reason"):
            lines.append(f"    Reason {row['reason']}")
    return "\n".join(lines)


# -- the other show commands -----------------------------------------------------------

SUBNET_MAP_COLUMNS = (
    Column("Prefix", field("prefix")),
    Column("Home Agent", field("home-agent")),
)

SECURITY_COLUMNS = (
    Column("Kind", field("kind")),
    Column("Address", field("address")),
    Column("Last Address", field("last-address")),
    Column("SPI", field("spi"), right=True),
    Column("SPI (hex)", lambda r: f"{int(r['spi']):X}" if r.get("spi") is not None else None,
           right=True),
    Column("Algorithm", field("algorithm")),
    Column("Replay", field("replay-method")),
    Column("Window", field("replay-window"), right=True),
)

FOREIGN_AGENT_COLUMNS = (
    Column("Address", field("address")),
    Column("Source", field("source")),
    Column("Care-of Addrs", field("care-of-address")),
    Column("Lifetime", field("registration-lifetime"), right=True),
    Column("Seq", field("sequence"), right=True),
    Column("Flags", field("flags")),
    Column("Expires In", field("expires-in"), right=True),
)

TUNNEL_COLUMNS = (
    Column("Role", field("role")),
    Column("Source", field("source")),
    Column("Destination", field("destination")),
    Column("Encap", field("encapsulation")),
    Column("Mode", field("mode")),
    Column("Users", field("users"), right=True),
    Column("Interface", field("interface")),
)


def render_subnet_map(rows: Sequence[Row]) -> str:
    return "\n".join(listing("Subnet Map (home network -> home agent):", SUBNET_MAP_COLUMNS, rows))


def render_security(rows: Sequence[Row]) -> str:
    lines = listing("Security Associations (keys are never shown):", SECURITY_COLUMNS, rows)
    return "\n".join(lines)


def render_foreign_agents(rows: Sequence[Row]) -> str:
    return "\n".join(listing("Foreign Agents:", FOREIGN_AGENT_COLUMNS, rows))


def render_tunnels(rows: Sequence[Row], *, data_plane: Mapping[str, Any] | None = None) -> str:
    lines = listing("Mobile Tunnels (derived from registrations):", TUNNEL_COLUMNS, rows)
    if data_plane is not None:
        c = data_plane.get("counters", {})
        lines.append(
            f"Data plane ({data_plane.get('backend', '-')}): encapsulated {c.get('encapsulated', 0)}, "
            f"decapsulated {c.get('decapsulated', 0)}; dropped: unknown endpoint "
            f"{c.get('unknown-endpoint-dropped', 0)}, inner address "
            f"{c.get('inner-address-dropped', 0)}, malformed {c.get('malformed-dropped', 0)}")
    return "\n".join(lines)


_TRAFFIC_SECTIONS = (
    ("home-agent", "Home Agent Registrations:"),
    ("foreign-agent", "Foreign Agent Registrations:"),
    ("proxy", "Proxy Registrations (on behalf of visiting clients):"),
)


def render_traffic(counters: Mapping[str, Mapping[str, Any]]) -> str:
    """``show ip mobile traffic``: each running role's counters, two per line."""
    lines = ["IP Mobility traffic:"]
    for role, title in _TRAFFIC_SECTIONS:
        section = counters.get(role)
        if section is None:
            continue
        lines.append(title)
        items = [(name, str(value)) for name, value in section.items()]
        name_width = max((len(n) for n, _ in items), default=0)
        value_width = max((len(v) for _, v in items), default=0)
        cells = [f"{n.ljust(name_width)} {v.rjust(value_width)}" for n, v in items]
        for i in range(0, len(cells), 2):
            lines.append(("    " + "    ".join(cells[i:i + 2])).rstrip())
    violations = counters.get("security-violations")
    if violations is not None:
        lines.append(f"Security violations: {violations.get('total', 0)}")
    if len(lines) == 1:
        lines.append("No role is running.")
    return "\n".join(lines)


RADIUS_SERVER_COLUMNS = (
    Column("Address", field("address")),
    Column("Port", field("port"), right=True),
    Column("Requests", field("requests"), right=True),
    Column("Accepts", field("accepts"), right=True),
    Column("Rejects", field("rejects"), right=True),
    Column("Timeouts", field("timeouts"), right=True),
    Column("Malformed", field("malformed-replies"), right=True),
    Column("Unauth", field("unauthenticated-replies"), right=True),
    Column("Dead until", field("dead-until")),
)
_LOOKUP_ROLE = {"proxy": "the proxy (visiting clients)", "home-agent": "the home agent (mobile nodes)"}


def render_radius(radius: Mapping[str, Any], *, lookups: Sequence[Mapping[str, Any]] = ()) -> str:
    servers = list(radius.get("server", []))
    lines = ["RADIUS (mobility security associations, Cisco-AVPair mobileip:spi#N):"]
    if servers:
        lines.append("Servers, tried in this order:")
        rows = [{"order": i, **s} for i, s in enumerate(servers, start=1)]
        lines += table((Column("#", field("order"), right=True), Column("Address", field("address")),
                        Column("Port", field("port"), right=True)), rows, indent="    ")
    else:
        lines.append("No server configured: security associations are local only.")
    lines.append(f"Timeout {_cell(radius.get('timeout'))} s, retries {_cell(radius.get('retries'))}, "
                 f"dead time {_cell(radius.get('dead-time'))} s")
    lines.append(f"Cache {_cell(radius.get('cache-lifetime'))} s, negative cache "
                 f"{_cell(radius.get('negative-cache-lifetime'))} s")
    # RFC 3579 §3.2 (BlastRADIUS, CVE-2024-3596): the YANG leaf's default is true.
    signed = radius.get("require-message-authenticator", True) is not False
    lines.append("Replies without a valid Message-Authenticator: "
                 + ("dropped" if signed else "accepted (require-message-authenticator false)"))
    for client in lookups:
        role = str(client.get("role", "-"))
        lines.append(f"Lookups by {_LOOKUP_ROLE.get(role, role)}:")
        lines += table(RADIUS_SERVER_COLUMNS, list(client.get("server", [])), indent="    ")
        r = client.get("resolver", {})
        lines.append(f"    SAs: {_cell(r.get('accepts'))} found, {_cell(r.get('rejects'))} rejected, "
                     f"{_cell(r.get('timeouts'))} timed out; cache hits {_cell(r.get('cache-hits'))}, "
                     f"negative {_cell(r.get('negative-cache-hits'))}; coalesced "
                     f"{_cell(r.get('coalesced'))}; pending {_cell(r.get('pending'))}")
    lines.append("Shared secrets and the user password are not read.")
    return "\n".join(lines)


# -- events ------------------------------------------------------------------------------


def event_line(when: str, name: str, leaves: Mapping[str, str]) -> str:
    """One notification as one line: time, name, then ``leaf=value`` in the
    module's order; a reply code carries its meaning."""
    parts = [when or EMPTY, name]
    for leaf, value in leaves.items():
        parts.append(f"{leaf}={_quoted(value)}")
        if leaf == "code":
            meaning = reply_code_text(value).partition(" ")[2].strip("()")
            if meaning:
                parts.append(f"meaning={_quoted(meaning)}")
    return " ".join(parts)


def _quoted(value: str) -> str:
    """Bare when it is one plain word, else a JSON string (control characters
    escaped: one notification stays one line)."""
    if value and value.isprintable() and not any(c.isspace() or c in "\"'=\\" for c in value):
        return value
    return json.dumps(value, ensure_ascii=False)


# -- watch -------------------------------------------------------------------------------

#: Counters that count denials (RFC 5944 §3.4 codes), per role.
_HA_DENIALS = ("reason-unspecified", "admin-prohibited", "insufficient-resource",
               "mn-authentication-failure", "fa-authentication-failure", "id-mismatch",
               "poorly-formed-request", "too-many-bindings", "unknown-ha",
               "reverse-tunnel-unavailable", "reverse-tunnel-mandatory", "encapsulation-unavailable")
_FA_DENIALS = ("reason-unspecified", "admin-prohibited", "insufficient-resource",
               "mn-authentication-failure", "reg-lifetime-too-long", "poorly-formed-requests",
               "encapsulation-unavailable", "vj-compression-unavailable", "ha-unreachable",
               "reverse-tunnel-unavailable", "reverse-tunnel-mandatory", "invalid-care-of-address")


def summary_lines(content: Mapping[str, Any]) -> list[str]:
    """One line per running role: its table size and the counters that move."""
    lines = []
    ha = content.get("home-agent-state")
    if ha is not None or "home-agent" in content:
        c = (ha or {}).get("counters", {})
        lines.append(
            f"Home agent     bindings {len((ha or {}).get('binding', []))}  "
            f"requests {c.get('reg-requests-received', 0)}  accepted {c.get('registration-accepted', 0)}  "
            f"denied {sum(int(c.get(n, 0)) for n in _HA_DENIALS)}  "
            f"deregistrations {c.get('dereg-requests-received', 0)}")
    fa = content.get("foreign-agent-state")
    if fa is not None or "foreign-agent" in content:
        c = (fa or {}).get("counters", {})
        lines.append(
            f"Foreign agent  visitors {len((fa or {}).get('visitor', []))}  "
            f"pending {len((fa or {}).get('pending', []))}  "
            f"requests {c.get('reg-requests-received', 0)}  relayed {c.get('reg-requests-relayed', 0)}  "
            f"denied {sum(int(c.get(n, 0)) for n in _FA_DENIALS)}  "
            f"timeouts {c.get('registration-timeouts', 0)}")
    proxy = content.get("proxy-state")
    if proxy is not None or "proxy" in content:
        c = (proxy or {}).get("counters", {})
        visitors = (proxy or {}).get("visitor", [])
        registered = sum(1 for v in visitors if v.get("state") == "registered")
        lines.append(
            f"Proxy          registered {registered}/{len(visitors)}  "
            f"requests {c.get('requests-sent', 0)}  accepted {c.get('accepted', 0)}  "
            f"denied {int(c.get('denied-by-home-agent', 0)) + int(c.get('denied-by-foreign-agent', 0))}  "
            f"failures {c.get('registration-failures', 0)}")
    return lines


def render_watch(content: Mapping[str, Any], *, header: str, events: Sequence[str],
                 width: int, height: int) -> str:
    """One screen: the header, each role's summary, its table cut to fit, and
    the latest notifications (when there are any)."""
    lines = header.split("\n") + [""] + summary_lines(content)
    tables: list[list[str]] = []
    if "home-agent-state" in content or "home-agent" in content:
        rows = content.get("home-agent-state", {}).get("binding", [])
        tables.append(listing("Mobility Binding List:", BINDING_COLUMNS, rows))
    if "foreign-agent-state" in content or "foreign-agent" in content:
        rows = content.get("foreign-agent-state", {}).get("visitor", [])
        tables.append(listing("Mobile Visitor List:", FA_VISITOR_COLUMNS,
                              [{**r, "state": "registered"} for r in rows]))
    if "proxy-state" in content or "proxy" in content:
        rows = content.get("proxy-state", {}).get("visitor", [])
        tables.append(listing("Proxy Mobile IP Visitor List:", PROXY_VISITOR_COLUMNS, rows))
    tail = ["", "Recent events:"] + [f"  {e}" for e in events] if events else []
    room = max(3, height - len(lines) - len(tail) - 1)
    share = max(3, room // max(1, len(tables)))
    for block in tables:
        lines.append("")
        if len(block) > share:
            hidden = len(block) - (share - 1)
            block = block[:share - 1] + [f"... {hidden} more"]
        lines += block
    lines += tail
    return "\n".join(line[:width] for line in lines)
