"""What the instrumentation reads: the running engines and the datastore, each
behind a callable so that every request sees this instant's state (a role that
starts or stops shows up at the next request). Nothing here is copied on a
timer (DESIGN.md rule 4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from agent.mobileip.foreign_agent import ForeignAgent
from agent.mobileip.home_agent import HomeAgent
from agent.mobileip.proxy import ProxyAgent
from agent.mobileip.violations import ViolationLog
from agent.snmp.tree import RowSource
from agent.snmp.values import Oid


@dataclass(frozen=True)
class Sources:
    home_agent: Callable[[], HomeAgent | None]
    foreign_agent: Callable[[], ForeignAgent | None]
    proxy: Callable[[], ProxyAgent | None]
    violations: Callable[[], ViolationLog]
    #: Running's effective configuration (the datastore's keyed tree under
    #: ``mobile-ip``), or {} without a datastore.
    config: Callable[[], dict[str, Any]]
    #: POSIX time of sysUpTime 0: TimeStamp columns count from here (RFC 2579).
    started_at: float = 0.0
    #: Rows a source keeps in MIB index order itself (the management plane's
    #: mirror keeps its keys sorted as deltas arrive): when given, the table
    #: reads them instead of indexing the role's dicts (``BindingRows``,
    #: ``SortedRows``). haMobilityBindingTable, haCounterTable, faVisitorTable.
    binding_rows: RowSource | None = None
    node_counter_rows: RowSource | None = None
    visitor_rows: RowSource | None = None

    def time_stamp(self, posix: float | None) -> int:
        """SNMPv2-TC TimeStamp: sysUpTime (centiseconds) at ``posix``; 0 if
        before the agent started or never."""
        if not posix or posix <= self.started_at:
            return 0
        return int((posix - self.started_at) * 100) & 0xFFFFFFFF


def ip_index(address: IPv4Address) -> Oid:
    return tuple(address.packed)


def ip_from_index(index: Oid) -> IPv4Address | None:
    """An IpAddress index is 4 sub-identifiers (RFC 2578 §7.7); anything else
    names no row."""
    if len(index) != 4 or any(not 0 <= part <= 255 for part in index):
        return None
    return IPv4Address(bytes(index))


def ip_pair_from_index(index: Oid) -> tuple[IPv4Address, IPv4Address] | None:
    if len(index) != 8:
        return None
    first, second = ip_from_index(index[:4]), ip_from_index(index[4:])
    if first is None or second is None:
        return None
    return first, second


def ip_text_index(text: str) -> Oid:
    return tuple(int(part) for part in text.split("."))
