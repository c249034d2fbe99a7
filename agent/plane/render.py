"""The management plane's half of the tables: mirror rows -> the YANG
``*-state`` lists (RFC 7951 JSON), exactly as ``agent/operational.py``
renders them from the engines today (a test compares the two), so that the
wiring can switch ``<get>`` to the mirror without a visible change.

Only the home agent's binding list so far; the others follow the same shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address
from typing import Any

from agent.operational import _REGISTRATION_TEXT

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
