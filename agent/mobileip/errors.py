"""Typed errors of the Mobile IP engine.

``DecodeError`` is the one error a parser raises: the peer sent something malformed.
It carries what could be read of the fixed header, so the caller can still answer
with the right Registration Reply code (RFC 5944 §3.7.2.1, §3.8.2.1).
``ConfigurationError`` is raised when the local configuration is unusable (we misused
the API), kept apart on purpose as h11 does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address


class DecodeFault(enum.Enum):
    TRUNCATED = "truncated"
    OVERSIZED = "oversized"
    WRONG_TYPE = "wrong-message-type"
    BAD_EXTENSION_LENGTH = "bad-extension-length"
    UNKNOWN_NON_SKIPPABLE_EXTENSION = "unknown-non-skippable-extension"
    RESERVED_BITS_SET = "reserved-bits-set"
    TRAILING_DATA = "trailing-data"
    BAD_CHECKSUM = "bad-checksum"
    BAD_FIELD = "bad-field"


@dataclass(frozen=True, slots=True)
class PartialHeader:
    """What could be read of a registration message before it failed to parse."""

    message_type: int
    lifetime: int
    home_address: IPv4Address
    home_agent: IPv4Address
    identification: int


class DecodeError(ValueError):
    """A datagram does not follow the wire format."""

    def __init__(
        self, fault: DecodeFault, detail: str, *, partial: PartialHeader | None = None
    ) -> None:
        super().__init__(f"{fault.value}: {detail}")
        self.fault = fault
        self.detail = detail
        self.partial = partial

    @property
    def silently_discard(self) -> bool:
        """RFC 5944 §1.9: an unrecognised extension 0-127 voids the whole message
        and it MUST be silently discarded (no reply)."""
        return self.fault is DecodeFault.UNKNOWN_NON_SKIPPABLE_EXTENSION


class ConfigurationError(ValueError):
    """Local configuration that the engine cannot use (names the offending item)."""
