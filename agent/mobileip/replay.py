"""Replay protection for registrations (RFC 5944 §5.7).

Identification is 64 bits. With timestamps (§5.7.1) it is an NTP-format time
(high 32 bits: seconds since 1900-01-01, low 32 bits: fraction, unused bits
random); the home agent accepts it only within a tolerance of its own clock and
only if greater than every Identification it accepted before from that node. With
nonces (§5.7.2) the home agent hands out the high 32 bits, the mobile node picks
the low 32 bits.
"""

from __future__ import annotations

#: Seconds from the NTP epoch (1900) to the POSIX epoch (1970).
NTP_EPOCH_OFFSET = 2_208_988_800
_LOW32 = 0xFFFFFFFF
#: An NTP era: the 32-bit seconds field wraps every 2**32 s (RFC 5905 §6; era 0
#: ends 2036-02-07T06:28:15Z).
ERA = 2**32


def ntp_seconds(identification: int, near: float | None = None) -> float:
    """POSIX seconds encoded by an NTP-format Identification. The timestamp does
    not say its era: with ``near`` (our clock), the era that puts it closest to
    ``near`` is taken (RFC 5905 §6, RFC 4330 §3), otherwise era 0."""
    seconds = (identification >> 32) - NTP_EPOCH_OFFSET + (identification & _LOW32) / 2**32
    if near is not None:
        seconds += ERA * round((near - seconds) / ERA)
    return seconds


def _era_extended(identification: int, near: float) -> int:
    """The Identification with its era prepended (for ordering across a wrap)."""
    seconds = identification >> 32
    era = round((near + NTP_EPOCH_OFFSET - seconds) / ERA)
    return ((era * ERA + seconds) << 32) | (identification & _LOW32)


def ntp_identification(posix_now: float, low_random: int = 0) -> int:
    """An NTP-format Identification for ``posix_now``.

    The fraction carries the sub-second time in its upper 16 bits; the lower 16
    bits are ``low_random`` (RFC 5944 §5.7.1: bits not available from the clock
    SHOULD be random) so that two requests sent in the same 15 µs still differ.
    """
    seconds = int(posix_now)
    fraction16 = int((posix_now - seconds) * 65536) & 0xFFFF
    ntp = (seconds + NTP_EPOCH_OFFSET) % ERA
    return (ntp << 32) | (fraction16 << 16) | (low_random & 0xFFFF)


def timestamp_acceptable(
    identification: int, now: float, window: float, last_accepted: int | None
) -> bool:
    """RFC 5944 §5.7.1: close enough to our clock, and newer than the last one."""
    if abs(ntp_seconds(identification, near=now) - now) > window:
        return False
    return last_accepted is None or (
        _era_extended(identification, now) > _era_extended(last_accepted, now))


def mismatch_identification_for_timestamps(request_identification: int, now: float) -> int:
    """Identification of a 133 reply: our time in the high 32 bits, the request's
    low 32 bits (RFC 5944 §5.7.1), so the node can resynchronise."""
    return (((int(now) + NTP_EPOCH_OFFSET) % ERA) << 32) | (request_identification & _LOW32)


def nonce_identification(home_agent_nonce: int, request_identification: int) -> int:
    """Reply Identification under nonces: HA nonce high, request's low 32 bits
    (RFC 5944 §5.7.2)."""
    return ((home_agent_nonce & _LOW32) << 32) | (request_identification & _LOW32)


def low32(identification: int) -> int:
    return identification & _LOW32


def high32(identification: int) -> int:
    return identification >> 32
