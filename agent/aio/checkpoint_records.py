"""Every record of a state checkpoint checked before an engine sees it.

The engines' ``restore_state`` take rows in their own layouts
(``home_agent.NODE_FIELDS`` / ``BINDING_FIELDS``, ``foreign_agent.
VISITOR_FIELDS``) and refuse a whole role's part at the first bad row; a value
they did not expect could also escape them (``"lifetime": 1e999`` is +inf in
JSON, and ``int(inf)`` raised OverflowError: the agent never started until
the file was removed by hand, issue 13 item 8). This module keeps the rows
whose every field is of its type and in its range (addresses 0..2^32-1, ports
16 bits, flags 8 bits, Identification 64 bits, lifetimes 16 bits as RFC 5944
§3.3 has them, times finite with ``registered-at <= expires-at`` and no entry
living longer than a lifetime from now), drops each other row with its reason,
and counts them. One validator per field name: a test checks that every field
of the engines' layouts has one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.mobileip.foreign_agent import VISITOR_FIELDS
from agent.mobileip.home_agent import BINDING_FIELDS, NODE_FIELDS

#: RFC 5944 §3.3: the Lifetime field is 16 bits.
MAX_LIFETIME = 0xFFFF


class BadRecord(ValueError):
    """A row that cannot be restored; its message is the reason (no values
    beyond the field's name: a checkpoint holds no keys, but stay terse)."""


def _integer(low: int, high: int, *, nullable: bool = False) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if value is None and nullable:
            return
        # JSON true/false are Python bools, which are ints: not a number here.
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadRecord("not an integer")
        if not low <= value <= high:
            raise BadRecord(f"out of range {low}..{high}")
    return check


def _time(value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise BadRecord("not a number")
    if not math.isfinite(value) or value < 0:
        raise BadRecord("not a finite time")


_ADDRESS = _integer(0, 0xFFFFFFFF)
#: Field name -> its check (the layouts' names, shared by the HA and FA rows).
FIELD_CHECKS: dict[str, Callable[[Any], None]] = {
    "home-address": _ADDRESS,
    "home-agent": _ADDRESS,
    "care-of-address": _ADDRESS,
    "source-address": _ADDRESS,
    "source-port": _integer(0, 0xFFFF),
    "flags": _integer(0, 0xFF),
    "identification": _integer(0, (1 << 64) - 1),
    "last-identification": _integer(0, (1 << 64) - 1, nullable=True),
    "nonce": _integer(0, (1 << 64) - 1, nullable=True),
    "lifetime": _integer(0, MAX_LIFETIME),
    "registered-at": _time,
    "expires-at": _time,
}


@dataclass
class Screened:
    """What was kept of a checkpoint and why the rest was not."""

    #: role -> its part, only valid rows (the engines' restore_state input).
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Rows dropped, by reason ("home-agent binding: lifetime: out of range").
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped.values())


def _check_row(row: Any, fields: list[str], *, skip: tuple[str, ...] = ()) -> None:
    if not isinstance(row, list) or len(row) != len(fields):
        raise BadRecord(f"not a row of {len(fields)} fields")
    values = dict(zip(fields, row))
    for name, value in values.items():
        if name in skip:
            continue
        try:
            FIELD_CHECKS[name](value)
        except BadRecord as exc:
            raise BadRecord(f"{name}: {exc}") from None


def _check_times(values: dict[str, Any], now: float) -> None:
    registered, expires = values["registered-at"], values["expires-at"]
    if registered > expires or expires - registered > MAX_LIFETIME + 1:
        raise BadRecord("expires-at: not within a lifetime of registered-at")
    if expires > now + MAX_LIFETIME + 1:
        raise BadRecord("expires-at: later than a lifetime from now")


def screen_home_agent(part: Any, now: float, screened: Screened) -> None:
    if not isinstance(part, dict) or part.get("node-fields") != NODE_FIELDS \
            or part.get("binding-fields") != BINDING_FIELDS or not isinstance(part.get("nodes"), list):
        screened.skipped["home-agent: not this version's layout"] += 1
        return
    nodes = []
    seen: set[int] = set()
    for node in part["nodes"]:
        try:
            _check_row(node, NODE_FIELDS, skip=("bindings",))
            if not isinstance(node[3], list):
                raise BadRecord("bindings: not a list")
            if node[0] in seen:
                raise BadRecord("home-address: a second node for it")
        except BadRecord as exc:
            screened.skipped[f"home-agent node: {exc}"] += 1
            continue
        seen.add(node[0])
        bindings = _screen_rows(node[3], BINDING_FIELDS, now, screened,
                                what="home-agent binding", key="care-of-address")
        nodes.append([node[0], node[1], node[2], bindings])
    screened.parts["home-agent"] = {"node-fields": NODE_FIELDS, "binding-fields": BINDING_FIELDS,
                                    "nodes": nodes}


def screen_foreign_agent(part: Any, now: float, screened: Screened) -> None:
    if not isinstance(part, dict) or part.get("visitor-fields") != VISITOR_FIELDS \
            or not isinstance(part.get("visitors"), list):
        screened.skipped["foreign-agent: not this version's layout"] += 1
        return
    visitors = _screen_rows(part["visitors"], VISITOR_FIELDS, now, screened,
                            what="foreign-agent visitor", key="home-address")
    screened.parts["foreign-agent"] = {"visitor-fields": VISITOR_FIELDS, "visitors": visitors}


_ROLES = {"home-agent": screen_home_agent, "foreign-agent": screen_foreign_agent}


def screen_checkpoint(document: dict[str, Any], now: float) -> Screened:
    """The valid rows of each role's part of ``document`` (a checkpoint whose
    format has been checked), and the count of the others by reason."""
    screened = Screened()
    for role, screen in _ROLES.items():
        if role in document:
            screen(document[role], now, screened)
    return screened


def _screen_rows(rows: list[Any], fields: tuple[str, ...], now: float, screened: Screened, *,
                 what: str, key: str) -> list[Any]:
    """The rows whose fields check, the first of each key (the first column);
    the others skipped and counted under ``what``."""
    kept = []
    seen: set[Any] = set()
    for row in rows:
        try:
            _check_row(row, fields)
            _check_times(dict(zip(fields, row)), now)
            if row[0] in seen:
                raise BadRecord(f"{key}: a second {what.rsplit(' ', 1)[-1]} for it")
        except BadRecord as exc:
            screened.skipped[f"{what}: {exc}"] += 1
            continue
        seen.add(row[0])
        kept.append(row)
    return kept
