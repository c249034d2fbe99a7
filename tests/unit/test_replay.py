"""Replay protection helpers (RFC 5944 §5.7).

Timestamps (§5.7.1) put an NTP-format time in the Identification: high 32 bits
seconds since 1900, low 32 bits fraction. Nonces (§5.7.2) split it between the home
agent (high 32 bits) and the mobile node (low 32 bits). Time here is plain numbers:
no clock is read.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.mobileip.replay import (
    NTP_EPOCH_OFFSET,
    high32,
    low32,
    mismatch_identification_for_timestamps,
    nonce_identification,
    ntp_identification,
    ntp_seconds,
    timestamp_acceptable,
)
from agent.mobileip.security import SecurityAssociation

#: RFC 5944 §5.7.1: "a default value of 7 seconds MAY be used"; the SA's default.
DEFAULT_WINDOW = SecurityAssociation(0x100, b"k").replay_window
#: 2023-09-07 22:57:04 UTC, a whole second so window edges are exact floats.
NOW = 1_694_127_424
#: The last second of NTP era 0 in POSIX time (2036-02-07 06:28:15 UTC).
ERA0_LAST_POSIX_SECOND = 2**32 - 1 - NTP_EPOCH_OFFSET
RESOLUTION = 2.0**-16  # the clock part of the fraction is 16 bits


def ntp(posix_seconds: int, fraction: int = 0) -> int:
    """NTP 64-bit timestamp packed by hand (RFC 5905 §6, as used by RFC 5944 §5.7.1)."""
    return ((posix_seconds + NTP_EPOCH_OFFSET) << 32) | fraction


def test_default_window_is_seven_seconds() -> None:
    """RFC 5944 §5.7.1: default 7 s; SHOULD be greater than 3 s."""
    assert DEFAULT_WINDOW == 7.0


def test_ntp_epoch_offset() -> None:
    """1900-01-01 to 1970-01-01 is 70 years with 17 leap days."""
    span = datetime(1970, 1, 1, tzinfo=UTC) - datetime(1900, 1, 1, tzinfo=UTC)
    assert NTP_EPOCH_OFFSET == span.total_seconds() == (70 * 365 + 17) * 86400


def test_known_identification() -> None:
    """The tshark-verified example of the reference notes: 0xE8A4D3C0_00000001 is
    2023-09-07 22:57:04 UTC (RFC 5944 §5.7.1 NTP format)."""
    assert high32(0xE8A4_D3C0_0000_0001) - NTP_EPOCH_OFFSET == NOW
    assert ntp_identification(NOW) == 0xE8A4_D3C0_0000_0000
    assert ntp_identification(NOW + 0.5) == 0xE8A4_D3C0_8000_0000
    assert ntp_seconds(0xE8A4_D3C0_8000_0000) == NOW + 0.5


@settings(max_examples=300, deadline=None)
@given(
    posix=st.floats(min_value=0, max_value=ERA0_LAST_POSIX_SECOND, allow_nan=False),
    low_random=st.integers(min_value=0, max_value=2**32),
)
def test_ntp_round_trip_within_clock_resolution(posix: float, low_random: int) -> None:
    """RFC 5944 §5.7.1: the Identification carries the time to 2**-16 s; the lower
    16 bits of the fraction are the random part and never shift the time by more."""
    identification = ntp_identification(posix, low_random)
    assert 0 <= identification < 2**64
    assert abs(ntp_seconds(identification) - posix) <= RESOLUTION
    assert identification & 0xFFFF == low_random & 0xFFFF
    assert high32(identification) == int(posix) + NTP_EPOCH_OFFSET


@settings(max_examples=200, deadline=None)
@given(
    earlier=st.floats(min_value=1e9, max_value=2e9, allow_nan=False),
    step=st.floats(min_value=RESOLUTION * 1.01, max_value=1e6, allow_nan=False),
)
def test_later_time_gives_greater_identification(earlier: float, step: float) -> None:
    """RFC 5944 §5.7.1: the HA treats the timestamp as a sequence number, so a clock
    that moves forward by more than the resolution must give a greater value, even
    when the random low bits go from high to low."""
    assert ntp_identification(earlier + step, 0) > ntp_identification(earlier, 0xFFFF)


@pytest.mark.parametrize(
    "offset, accepted",
    [
        (0.0, True),
        (DEFAULT_WINDOW, True),
        (-DEFAULT_WINDOW, True),
        (DEFAULT_WINDOW - RESOLUTION, True),
        (-DEFAULT_WINDOW + RESOLUTION, True),
        (DEFAULT_WINDOW + RESOLUTION, False),
        (-DEFAULT_WINDOW - RESOLUTION, False),
        (DEFAULT_WINDOW + 1, False),
        (-3600.0, False),
    ],
)
def test_timestamp_window_edges(offset: float, accepted: bool) -> None:
    """RFC 5944 §5.7.1: accepted when "sufficiently close" to the HA's clock; the
    tolerance is inclusive."""
    seconds = NOW + int(offset // 1)
    fraction = round((offset - offset // 1) * 2**32)
    identification = ntp(seconds, fraction)
    assert ntp_seconds(identification) - NOW == offset
    assert timestamp_acceptable(identification, NOW, DEFAULT_WINDOW, None) is accepted


@pytest.mark.parametrize("window", [3.5, 7.0, 30.0])
def test_window_is_a_parameter(window: float) -> None:
    inside = ntp(NOW + int(window))
    outside = ntp(NOW + int(window) + 1)
    assert timestamp_acceptable(inside, NOW, window, None)
    assert not timestamp_acceptable(outside, NOW, window, None)


def test_timestamps_must_increase() -> None:
    """RFC 5944 §5.7.1: the timestamp MUST be greater than all previously accepted
    ones from the node; equal is a replay."""
    last = ntp(NOW, 0x1234_0000)
    assert timestamp_acceptable(last + 1, NOW, DEFAULT_WINDOW, last)
    assert not timestamp_acceptable(last, NOW, DEFAULT_WINDOW, last)
    assert not timestamp_acceptable(last - 1, NOW, DEFAULT_WINDOW, last)
    # Older but still inside the window is still refused.
    assert not timestamp_acceptable(ntp(NOW - 1), NOW, DEFAULT_WINDOW, last)
    # Newer but outside the window is refused too.
    assert not timestamp_acceptable(ntp(NOW + 60), NOW, DEFAULT_WINDOW, last)


def test_sequence_of_requests() -> None:
    """A node retransmitting with a fresh timestamp each time (RFC 5944 §3.6.3)."""
    last: int | None = None
    for step in range(10):
        now = NOW + step * 1.5
        identification = ntp_identification(now, low_random=0xFFFF - step)
        assert timestamp_acceptable(identification, now, DEFAULT_WINDOW, last)
        last = identification
        # The very same datagram replayed a moment later is refused.
        assert not timestamp_acceptable(identification, now + 0.1, DEFAULT_WINDOW, last)


@pytest.mark.parametrize(
    "request_identification",
    [0, 1, 0xDEAD_BEEF, 0xFFFF_FFFF_FFFF_FFFF, ntp(NOW - 3600, 0x0BAD_F00D)],
)
def test_mismatch_identification_for_timestamps(request_identification: int) -> None:
    """RFC 5944 §5.7.1: a 133 reply copies the low 32 bits and carries the HA's time
    in the high 32 bits so the node can resynchronise."""
    now = NOW + 0.75
    result = mismatch_identification_for_timestamps(request_identification, now)
    assert low32(result) == request_identification & 0xFFFF_FFFF
    assert high32(result) == NOW + NTP_EPOCH_OFFSET
    assert 0 <= result < 2**64
    assert abs(ntp_seconds(result & ~0xFFFF_FFFF) - now) < 1


@pytest.mark.parametrize(
    "nonce, request_identification",
    [(0, 0), (0x1234_5678, 0xAAAA_BBBB_CCCC_DDDD), (0xFFFF_FFFF, 2**64 - 1), (2**40 + 5, 7)],
)
def test_nonce_identification(nonce: int, request_identification: int) -> None:
    """RFC 5944 §5.7.2: the HA's nonce in the high 32 bits, the node's low 32 bits
    copied from the request."""
    result = nonce_identification(nonce, request_identification)
    assert high32(result) == nonce & 0xFFFF_FFFF
    assert low32(result) == request_identification & 0xFFFF_FFFF
    assert 0 <= result < 2**64


def test_high_and_low_halves() -> None:
    assert high32(0x0123_4567_89AB_CDEF) == 0x0123_4567
    assert low32(0x0123_4567_89AB_CDEF) == 0x89AB_CDEF


def test_identification_after_ntp_era_0_still_fits_64_bits() -> None:
    """RFC 5944 §5.7.1: the Identification is a 64-bit NTP timestamp, whose
    seconds field wraps at the end of era 0 (RFC 5905 §6)."""
    after = ntp_identification(ERA0_LAST_POSIX_SECOND + 1.0)
    assert after < 2**64
    assert high32(after) == 0  # era 1, second 0
    assert ntp_seconds(after, near=ERA0_LAST_POSIX_SECOND) == ERA0_LAST_POSIX_SECOND + 1.0


def test_timestamps_accepted_across_the_era_wrap() -> None:
    """A request stamped just after the wrap is newer than one just before it,
    and within the window of a clock on either side (RFC 5944 §5.7.1)."""
    before = ntp_identification(ERA0_LAST_POSIX_SECOND - 0.5)
    after = ntp_identification(ERA0_LAST_POSIX_SECOND + 1.5)
    assert timestamp_acceptable(after, ERA0_LAST_POSIX_SECOND + 2, 7.0, before)
    assert not timestamp_acceptable(before, ERA0_LAST_POSIX_SECOND + 2, 7.0, after)  # replay
    assert timestamp_acceptable(before, ERA0_LAST_POSIX_SECOND + 2, 7.0, None)
    ident = mismatch_identification_for_timestamps(after, ERA0_LAST_POSIX_SECOND + 3)
    assert ident < 2**64 and high32(ident) == 2
