"""The security violation log of MIP-MIB (mipSecTotalViolations, mipSecViolationTable,
RFC 2006 §4 "mipSecurity"): one row per violator address."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from ipaddress import IPv4Address

from agent.mobileip.events import ViolationReason


@dataclass(slots=True)
class Violation:
    address: IPv4Address
    counter: int
    recent_spi: int
    time: float
    identification_low: int
    identification_high: int
    reason: ViolationReason


class ViolationLog:
    """Bounded: a flood of forged sources evicts the least recently seen violator
    instead of growing without limit; the total keeps counting."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self.total = 0
        self._rows: OrderedDict[IPv4Address, Violation] = OrderedDict()

    def record(
        self,
        address: IPv4Address,
        *,
        spi: int | None,
        identification: int,
        reason: ViolationReason,
        now: float,
    ) -> None:
        self.total += 1
        row = self._rows.pop(address, None)
        if row is None:
            row = Violation(address, 0, 0, now, 0, 0, reason)
            if len(self._rows) >= self.capacity:
                self._rows.popitem(last=False)
        row.counter += 1
        row.recent_spi = spi or 0
        row.time = now
        row.identification_low = identification & 0xFFFFFFFF
        row.identification_high = identification >> 32
        row.reason = reason
        self._rows[address] = row

    def rows(self) -> list[Violation]:
        return sorted(self._rows.values(), key=lambda v: int(v.address))

    def clear(self) -> None:
        self._rows.clear()
