"""Mobility security associations and registration authentication.

RFC 5944 §3.5.1: an authenticator covers the UDP payload up to and including the
Type, Length and SPI of its own extension. §5.1: HMAC-MD5 (RFC 2104) with
128-bit keys is the default and mandatory algorithm; RFC 2002's keyed MD5 in
prefix+suffix mode (MD5(key | data | key)) is kept for backward compatibility —
Cisco Aironet APs use it by default. The algorithm is chosen per SA.
"""

from __future__ import annotations

import bisect
import enum
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any
from ipaddress import IPv4Address

from agent.mobileip.errors import ConfigurationError
from agent.mobileip.extensions import Extension, encode_authentication_header
from agent.mobileip.numbers import MIN_SPI

AUTHENTICATOR_LENGTH = 16  # both algorithms produce a 128-bit MAC
#: RFC 2104 §2: the key XOR ipad (0x36) / opad (0x5c), as translation tables.
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class Algorithm(enum.Enum):
    HMAC_MD5 = "hmac-md5"
    #: RFC 2002 §3.5.1 keyed MD5, prefix+suffix mode (RFC 5944 §5.1 backward compat).
    KEYED_MD5_PREFIX_SUFFIX = "keyed-md5-prefix-suffix"


class ReplayMethod(enum.Enum):
    """RFC 5944 §5.7: timestamps are mandatory to implement, nonces optional."""

    TIMESTAMPS = "timestamps"
    NONCES = "nonces"


@dataclass(frozen=True, slots=True)
class SecurityAssociation:
    """A mobility security association (RFC 5944 §1.6). The key never appears in
    ``repr`` so that it cannot reach a log by accident."""

    spi: int
    key: bytes = field(repr=False)
    algorithm: Algorithm = Algorithm.HMAC_MD5
    replay_method: ReplayMethod = ReplayMethod.TIMESTAMPS
    #: Timestamp tolerance in seconds (RFC 5944 §5.7.1: default 7, SHOULD be > 3).
    replay_window: float = 7.0

    #: HMAC-MD5 inner and outer hash states with the padded key already absorbed
    #: (RFC 2104 §4 suggests precomputing them): an HMAC is then two C-level
    #: copies and updates instead of a key schedule per message.
    _pads: tuple[Any, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not MIN_SPI <= self.spi <= 0xFFFFFFFF:
            raise ConfigurationError(
                f"SPI {self.spi} is reserved or out of range (RFC 5944 §1.6: 256..4294967295)"
            )
        if len(self.key) == 0:
            raise ConfigurationError(f"SPI {self.spi}: empty key")
        if self.replay_window <= 0:
            raise ConfigurationError(f"SPI {self.spi}: replay window must be positive")
        if self.algorithm is Algorithm.HMAC_MD5:
            block = self.key if len(self.key) <= 64 else hashlib.md5(self.key).digest()
            block = block.ljust(64, b"\x00")
            inner = hashlib.md5(block.translate(_IPAD))
            outer = hashlib.md5(block.translate(_OPAD))
            object.__setattr__(self, "_pads", (inner, outer))

    def compute(self, data: bytes) -> bytes:
        pads = self._pads
        if pads is not None:  # HMAC-MD5, RFC 2104
            inner = pads[0].copy()
            inner.update(data)
            outer = pads[1].copy()
            outer.update(inner.digest())
            return outer.digest()  # type: ignore[no-any-return]
        return hashlib.md5(self.key + data + self.key).digest()

    def verify(self, data: bytes, authenticator: bytes) -> bool:
        # Constant-time comparison: timing must not reveal how much of a forged
        # authenticator was right.
        return hmac.compare_digest(self.compute(data), authenticator)


def authenticate(message: bytes, ext_type: int, sa: SecurityAssociation) -> bytes:
    """Append an authentication extension computed over ``message`` (RFC 5944 §3.5.1)."""
    covered = message + encode_authentication_header(ext_type, sa.spi, AUTHENTICATOR_LENGTH)
    return covered + sa.compute(covered)


def authenticated_data(raw: bytes, extension: Extension) -> bytes:
    """The bytes an authentication extension protects: everything before it plus
    its own Type, Length and SPI (RFC 5944 §3.5.1)."""
    return raw[: extension.offset + 6]


def check_extension(raw: bytes, extension: Extension, sa: SecurityAssociation) -> bool:
    return sa.verify(authenticated_data(raw, extension), extension.authenticator)


@dataclass(frozen=True, slots=True)
class _Range:
    low: int
    high: int
    by_spi: dict[int, SecurityAssociation]


class SecurityAssociationTable:
    """SAs keyed by peer: single addresses and non-overlapping address ranges.

    Host SAs (mobile nodes, looked up by home address) can be given per address or
    per range, as Cisco's ``ip mobile secure host <lo> <hi>`` does; peer SAs
    (foreign agent - home agent) per address.
    """

    def __init__(self) -> None:
        self._exact: dict[IPv4Address, dict[int, SecurityAssociation]] = {}
        self._ranges: list[_Range] = []
        self._range_lows: list[int] = []

    def __len__(self) -> int:
        return sum(len(v) for v in self._exact.values()) + sum(
            len(r.by_spi) for r in self._ranges
        )

    def add(self, address: IPv4Address, sa: SecurityAssociation) -> None:
        by_spi = self._exact.setdefault(address, {})
        if sa.spi in by_spi:
            raise ConfigurationError(f"duplicate SPI {sa.spi} for {address}")
        by_spi[sa.spi] = sa

    def add_range(self, low: IPv4Address, high: IPv4Address, sa: SecurityAssociation) -> None:
        lo, hi = int(low), int(high)
        if lo > hi:
            raise ConfigurationError(f"address range {low}-{high} is reversed")
        index = bisect.bisect_left(self._range_lows, lo)
        if index < len(self._ranges) and self._ranges[index].low == lo:
            existing = self._ranges[index]
            if existing.high != hi:
                raise ConfigurationError(f"address range {low}-{high} overlaps another range")
            if sa.spi in existing.by_spi:
                raise ConfigurationError(f"duplicate SPI {sa.spi} for {low}-{high}")
            existing.by_spi[sa.spi] = sa
            return
        before = self._ranges[index - 1] if index > 0 else None
        after = self._ranges[index] if index < len(self._ranges) else None
        if (before and before.high >= lo) or (after and after.low <= hi):
            raise ConfigurationError(f"address range {low}-{high} overlaps another range")
        self._ranges.insert(index, _Range(lo, hi, {sa.spi: sa}))
        self._range_lows.insert(index, lo)

    def remove(self, address: IPv4Address, spi: int) -> bool:
        by_spi = self._exact.get(address)
        if by_spi is None or by_spi.pop(spi, None) is None:
            return False
        if not by_spi:
            del self._exact[address]
        return True

    def remove_range(self, low: IPv4Address, high: IPv4Address, spi: int) -> bool:
        index = bisect.bisect_left(self._range_lows, int(low))
        if index >= len(self._ranges):
            return False
        found = self._ranges[index]
        if found.low != int(low) or found.high != int(high) or found.by_spi.pop(spi, None) is None:
            return False
        if not found.by_spi:
            del self._ranges[index]
            del self._range_lows[index]
        return True

    def _for(self, address: IPv4Address) -> dict[int, SecurityAssociation] | None:
        if self._exact:
            exact = self._exact.get(address)
            if exact is not None:
                return exact
        if not self._ranges:
            return None
        value = int(address)
        index = bisect.bisect_right(self._range_lows, value) - 1
        if index >= 0 and self._ranges[index].high >= value:
            return self._ranges[index].by_spi
        return None

    def lookup(self, address: IPv4Address, spi: int) -> SecurityAssociation | None:
        by_spi = self._for(address)
        return by_spi.get(spi) if by_spi else None

    def has(self, address: IPv4Address) -> bool:
        return self._for(address) is not None

    def preferred(self, address: IPv4Address) -> SecurityAssociation | None:
        """The SA to use when we originate a message for ``address``: the lowest SPI
        (the ``spi#0`` of a Cisco configuration)."""
        by_spi = self._for(address)
        if not by_spi:
            return None
        return by_spi[min(by_spi)]

    def entries(self) -> list[tuple[IPv4Address, IPv4Address, SecurityAssociation]]:
        """(low, high, SA) for every SA, single addresses as low == high, sorted."""
        rows = [(a, a, sa) for a, by in self._exact.items() for sa in by.values()]
        rows += [
            (IPv4Address(r.low), IPv4Address(r.high), sa)
            for r in self._ranges
            for sa in r.by_spi.values()
        ]
        rows.sort(key=lambda row: (int(row[0]), int(row[1]), row[2].spi))
        return rows
