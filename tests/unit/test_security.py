"""Mobility security associations and registration authentication.

RFC 5944 §3.5.1 (what an authenticator covers), §5.1 (HMAC-MD5 default; RFC 2002
keyed MD5 prefix+suffix for backward compatibility), §1.6 (SPIs 0-255 reserved).
Every expected MAC is computed here with ``hmac``/``hashlib`` over bytes packed by
hand, never through the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from ipaddress import IPv4Address

import pytest

from agent.mobileip.errors import ConfigurationError, DecodeError
from agent.mobileip.extensions import Extension
from agent.mobileip.numbers import ExtensionType
from agent.mobileip.registration import decode_reply, decode_request
from agent.mobileip.security import (
    Algorithm,
    SecurityAssociation,
    SecurityAssociationTable,
    authenticate,
    authenticated_data,
    check_extension,
)

MHAE = ExtensionType.MOBILE_HOME_AUTHENTICATION
MFAE = ExtensionType.MOBILE_FOREIGN_AUTHENTICATION
FHAE = ExtensionType.FOREIGN_HOME_AUTHENTICATION

# -- RFC 2202 §2: HMAC-MD5 test cases -----------------------------------------------

RFC2202_HMAC_MD5 = [
    pytest.param(b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d", id="1"),
    pytest.param(
        b"Jefe", b"what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738", id="2"
    ),
    pytest.param(b"\xaa" * 16, b"\xdd" * 50, "56be34521d144c88dbb8c733f0e8b3f6", id="3"),
    pytest.param(bytes(range(1, 26)), b"\xcd" * 50, "697eaf0aca3a3aea3a75164746ffaa79", id="4"),
    pytest.param(b"\x0c" * 16, b"Test With Truncation", "56461ef2342edc00f9bab995690efd4c", id="5"),
    pytest.param(
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
        id="6",
    ),
    pytest.param(
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
        "6f630fad67cda0ee1fb1f562db3aa53e",
        id="7",
    ),
]


@pytest.mark.parametrize("key, data, digest", RFC2202_HMAC_MD5)
def test_hmac_md5_rfc2202_vectors(key: bytes, data: bytes, digest: str) -> None:
    """RFC 5944 §5.1: HMAC-MD5 (RFC 2104) is the default algorithm; RFC 2202 §2
    gives its test cases (keys of 4, 16, 25 and 80 bytes)."""
    sa = SecurityAssociation(0x100, key, algorithm=Algorithm.HMAC_MD5)
    assert sa.compute(data).hex() == digest
    assert sa.verify(data, bytes.fromhex(digest))


def test_rfc2202_case_5_truncated_to_96_bits() -> None:
    """RFC 2202 §2 case 5 also lists HMAC-MD5-96; Mobile IP uses the full 128 bits
    (RFC 5944 §3.5.1), so the truncated MAC does not verify."""
    sa = SecurityAssociation(0x100, b"\x0c" * 16)
    assert sa.compute(b"Test With Truncation")[:12].hex() == "56461ef2342edc00f9bab995"
    assert not sa.verify(b"Test With Truncation", bytes.fromhex("56461ef2342edc00f9bab995"))


def test_hmac_md5_is_the_default_algorithm() -> None:
    """RFC 5944 §5.1: HMAC-MD5 is the default and mandatory algorithm."""
    assert SecurityAssociation(0x100, b"k" * 16).algorithm is Algorithm.HMAC_MD5


# -- RFC 2002 keyed MD5, prefix+suffix ----------------------------------------------

KEYED_MD5_CASES = [
    pytest.param(b"\x00" * 16, b"", id="zero-key-empty-data"),
    pytest.param(bytes(range(16)), b"registration request", id="16-byte-key"),
    pytest.param(b"\xff\x00\x80" * 7, bytes(range(256)) * 3, id="binary-key-long-data"),
    pytest.param(b"k", b"x", id="1-byte-key"),
]


@pytest.mark.parametrize("key, data", KEYED_MD5_CASES)
def test_keyed_md5_prefix_suffix(key: bytes, data: bytes) -> None:
    """RFC 5944 §5.1 / RFC 2002 §3.5.1: MD5(key | data | key), and with any binary
    key ("Keys with arbitrary binary values MUST be supported")."""
    sa = SecurityAssociation(0x101, key, algorithm=Algorithm.KEYED_MD5_PREFIX_SUFFIX)
    expected = hashlib.md5(key + data + key).digest()
    assert sa.compute(data) == expected
    assert sa.verify(data, expected)
    # Neither prefix-only keyed MD5 nor HMAC would pass for the same key.
    assert sa.compute(data) != hashlib.md5(key + data).digest()
    assert sa.compute(data) != hmac.new(key, data, hashlib.md5).digest()


def test_verify_rejects_wrong_lengths() -> None:
    """RFC 5944 §3.5.1: the authenticator is the whole 128-bit MAC."""
    sa = SecurityAssociation(0x100, b"k" * 16)
    mac = sa.compute(b"data")
    assert not sa.verify(b"data", b"")
    assert not sa.verify(b"data", mac[:-1])
    assert not sa.verify(b"data", mac + b"\x00")


# -- registration authentication vectors --------------------------------------------

MN_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
FA_HA_KEY = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")
MN_SPI = 0x0000_0100
FA_HA_SPI = 0x0000_0200
NAI = b"mn1@example.com"


def hand_built_request() -> bytes:
    """RFC 5944 §3.3 fixed part + RFC 2794 NAI extension, packed independently."""
    fixed = struct.pack(
        "!BBHIIIQ",
        1,  # Registration Request
        0x02,  # T
        600,
        0x0A010132,  # 10.1.1.50
        0x0A010101,  # 10.1.1.1
        0x0A020201,  # 10.2.2.1
        0xE8A4_D3C0_0000_0001,
    )
    return fixed + bytes((131, len(NAI))) + NAI


def hand_built_reply() -> bytes:
    """RFC 5944 §3.4 fixed part, packed independently."""
    return struct.pack("!BBHIIQ", 3, 0, 600, 0x0A010132, 0x0A010101, 0xE8A4_D3C0_0000_0001)


def expected_authenticated(
    message: bytes, ext_type: int, spi: int, key: bytes, *, prefix_suffix: bool = False
) -> bytes:
    """RFC 5944 §3.5.1: MAC over the message so far + Type, Length(20), SPI."""
    covered = message + struct.pack("!BBI", ext_type, 20, spi)
    if prefix_suffix:
        mac = hashlib.md5(key + covered + key).digest()
    else:
        mac = hmac.new(key, covered, hashlib.md5).digest()
    return covered + mac


def mhae_at(raw: bytes, offset: int) -> Extension:
    """An MHAE record read straight from fixed positions (no parser involved)."""
    return Extension(MHAE, raw[offset + 2 : offset + 22], offset)


@pytest.mark.parametrize(
    "algorithm, prefix_suffix",
    [(Algorithm.HMAC_MD5, False), (Algorithm.KEYED_MD5_PREFIX_SUFFIX, True)],
    ids=["hmac-md5", "keyed-md5"],
)
def test_request_mhae_matches_independent_computation(
    algorithm: Algorithm, prefix_suffix: bool
) -> None:
    """RFC 5944 §3.5.1, §3.5.2: the Mobile-Home authenticator covers the fixed part,
    the prior extensions, and its own Type, Length and SPI."""
    sa = SecurityAssociation(MN_SPI, MN_KEY, algorithm=algorithm)
    message = hand_built_request()
    expected = expected_authenticated(message, MHAE, MN_SPI, MN_KEY, prefix_suffix=prefix_suffix)
    assert authenticate(message, MHAE, sa) == expected

    request = decode_request(expected)
    [mhae] = request.extensions_of(MHAE)
    assert mhae.offset == len(message)
    assert mhae.spi == MN_SPI
    assert authenticated_data(request.raw, mhae) == expected[:-16]
    assert check_extension(request.raw, mhae, sa)


def test_reply_mhae_matches_independent_computation() -> None:
    """RFC 5944 §3.4, §3.5.2: every HA-generated reply carries an MHAE computed the
    same way."""
    sa = SecurityAssociation(MN_SPI, MN_KEY)
    message = hand_built_reply()
    expected = expected_authenticated(message, MHAE, MN_SPI, MN_KEY)
    assert authenticate(message, MHAE, sa) == expected
    reply = decode_reply(expected)
    [mhae] = reply.extensions_of(MHAE)
    assert check_extension(reply.raw, mhae, sa)


def flipped(data: bytes, bit: int) -> bytes:
    mutated = bytearray(data)
    mutated[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(mutated)


@pytest.mark.parametrize(
    "algorithm", [Algorithm.HMAC_MD5, Algorithm.KEYED_MD5_PREFIX_SUFFIX], ids=lambda a: a.value
)
def test_any_single_bit_flip_in_covered_region_or_mac_fails(algorithm: Algorithm) -> None:
    """RFC 5944 §3.5.1: every bit from the message type to the MHAE's SPI, and the
    authenticator itself, is protected."""
    sa = SecurityAssociation(MN_SPI, MN_KEY, algorithm=algorithm)
    message = hand_built_request()
    raw = authenticate(message, MHAE, sa)
    offset = len(message)
    assert check_extension(raw, mhae_at(raw, offset), sa)
    still_decodable = 0
    for bit in range(len(raw) * 8):
        mutated = flipped(raw, bit)
        assert not check_extension(mutated, mhae_at(mutated, offset), sa), f"bit {bit}"
        # Where the flip still leaves a well-formed request (r/x tolerated), the
        # decoded MHAE must fail as well.
        try:
            request = decode_request(mutated, strict_reserved=False)
        except DecodeError:
            continue
        for extension in request.extensions_of(MHAE):
            assert not check_extension(request.raw, extension, sa), f"bit {bit}"
            still_decodable += 1
    assert still_decodable > len(raw) * 8 // 2  # most flips stay well formed


def test_extensions_after_the_mhae_are_not_covered() -> None:
    """RFC 5944 §3.5.2, §3.7.2.2: the MHAE ends the data it protects; a foreign agent
    appends its own Foreign-Home extension afterwards without breaking it, and the
    FHAE covers the MHAE in turn."""
    mn_sa = SecurityAssociation(MN_SPI, MN_KEY)
    fa_sa = SecurityAssociation(FA_HA_SPI, FA_HA_KEY)
    message = hand_built_request()
    from_node = authenticate(message, MHAE, mn_sa)
    relayed = authenticate(from_node, FHAE, fa_sa)
    assert relayed == expected_authenticated(from_node, FHAE, FA_HA_SPI, FA_HA_KEY)

    request = decode_request(relayed)
    [mhae] = request.extensions_of(MHAE)
    [fhae] = request.extensions_of(FHAE)
    assert check_extension(request.raw, mhae, mn_sa)
    assert check_extension(request.raw, fhae, fa_sa)
    # Keys are not interchangeable.
    assert not check_extension(request.raw, fhae, mn_sa)
    assert not check_extension(request.raw, mhae, fa_sa)

    for bit in range(len(from_node) * 8, len(relayed) * 8):
        mutated = flipped(relayed, bit)
        assert check_extension(mutated, mhae_at(mutated, len(message)), mn_sa), f"bit {bit}"
    # Anything appended later (or removed) is likewise outside the MHAE.
    assert check_extension(relayed + b"\x83\x01x", mhae, mn_sa)
    assert check_extension(from_node, mhae, mn_sa)
    # ... but not outside the FHAE, which covers the MHAE (RFC 5944 §3.5.4).
    for bit in range(len(relayed) * 8 - 128):
        mutated = flipped(relayed, bit)
        fhae_view = Extension(FHAE, mutated[fhae.offset + 2 : fhae.offset + 22], fhae.offset)
        assert not check_extension(mutated, fhae_view, fa_sa), f"bit {bit}"


def test_wrong_key_or_algorithm_fails() -> None:
    """RFC 5944 §3.5.1: the SA (SPI -> key, algorithm) decides the MAC."""
    raw = authenticate(hand_built_request(), MHAE, SecurityAssociation(MN_SPI, MN_KEY))
    [mhae] = decode_request(raw).extensions_of(MHAE)
    other_key = SecurityAssociation(MN_SPI, MN_KEY[:-1] + b"\x00")
    other_algorithm = SecurityAssociation(
        MN_SPI, MN_KEY, algorithm=Algorithm.KEYED_MD5_PREFIX_SUFFIX
    )
    assert not check_extension(raw, mhae, other_key)
    assert not check_extension(raw, mhae, other_algorithm)


# -- security association configuration ---------------------------------------------


@pytest.mark.parametrize("spi", [0, 1, 255, -1, 2**32, 2**40])
def test_reserved_or_out_of_range_spi_is_refused(spi: int) -> None:
    """RFC 5944 §1.6: SPI values 0 through 255 are reserved and MUST NOT be used;
    the SPI is 32 bits (§3.5.1)."""
    with pytest.raises(ConfigurationError):
        SecurityAssociation(spi, MN_KEY)


@pytest.mark.parametrize("spi", [256, 0x1000, 2**32 - 1])
def test_smallest_and_largest_spi_are_allowed(spi: int) -> None:
    assert SecurityAssociation(spi, MN_KEY).spi == spi


def test_empty_key_and_bad_window_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        SecurityAssociation(MN_SPI, b"")
    with pytest.raises(ConfigurationError):
        SecurityAssociation(MN_SPI, MN_KEY, replay_window=0)


def test_repr_never_shows_the_key() -> None:
    """The key must not reach a log through repr/str (SecurityAssociation docstring)."""
    sa = SecurityAssociation(MN_SPI, MN_KEY, algorithm=Algorithm.KEYED_MD5_PREFIX_SUFFIX)
    for text in (repr(sa), str(sa), f"{sa}", repr([sa])):
        assert MN_KEY.hex() not in text.lower()
        assert repr(MN_KEY) not in text
        assert str(MN_KEY) not in text
        assert "key=" not in text
    assert str(MN_SPI) in repr(sa)


# -- security association table -----------------------------------------------------


def sa(spi: int) -> SecurityAssociation:
    return SecurityAssociation(spi, spi.to_bytes(16, "big"))


def address(text: str) -> IPv4Address:
    return IPv4Address(text)


def test_exact_lookup() -> None:
    """A mobile node's SA is found by home address and SPI (RFC 5944 §3.8.2.1)."""
    table = SecurityAssociationTable()
    table.add(address("10.1.1.50"), sa(300))
    table.add(address("10.1.1.50"), sa(400))
    assert table.lookup(address("10.1.1.50"), 300) == sa(300)
    assert table.lookup(address("10.1.1.50"), 400) == sa(400)
    assert table.lookup(address("10.1.1.50"), 500) is None
    assert table.lookup(address("10.1.1.51"), 300) is None
    assert table.has(address("10.1.1.50"))
    assert not table.has(address("10.1.1.51"))
    assert len(table) == 2


def test_range_lookup_edges() -> None:
    """Host SAs per address range (Cisco ``ip mobile secure host <lo> <hi>``)."""
    table = SecurityAssociationTable()
    table.add_range(address("10.1.2.0"), address("10.1.2.255"), sa(300))
    table.add_range(address("10.1.4.10"), address("10.1.4.10"), sa(301))
    for inside in ("10.1.2.0", "10.1.2.128", "10.1.2.255"):
        assert table.lookup(address(inside), 300) == sa(300)
    for outside in ("10.1.1.255", "10.1.3.0", "0.0.0.0", "255.255.255.255"):
        assert table.lookup(address(outside), 300) is None
        assert not table.has(address(outside))
    assert table.lookup(address("10.1.4.10"), 301) == sa(301)
    assert table.lookup(address("10.1.4.9"), 301) is None
    assert table.lookup(address("10.1.4.11"), 301) is None
    assert table.lookup(address("10.1.2.7"), 999) is None


def test_exact_entry_takes_precedence_over_a_range() -> None:
    """The most specific configuration wins: an address with its own SAs does not
    fall back to the range around it."""
    table = SecurityAssociationTable()
    table.add_range(address("10.1.2.0"), address("10.1.2.255"), sa(300))
    table.add(address("10.1.2.7"), sa(700))
    assert table.lookup(address("10.1.2.7"), 700) == sa(700)
    assert table.lookup(address("10.1.2.7"), 300) is None
    assert table.preferred(address("10.1.2.7")) == sa(700)
    assert table.lookup(address("10.1.2.8"), 300) == sa(300)


OVERLAPPING = [
    pytest.param("10.1.2.0", "10.1.2.255", "10.1.2.0", "10.1.2.127", id="same-low-shorter"),
    pytest.param("10.1.2.0", "10.1.2.255", "10.1.2.0", "10.1.3.0", id="same-low-longer"),
    pytest.param("10.1.2.0", "10.1.2.255", "10.1.2.10", "10.1.2.20", id="inside"),
    pytest.param("10.1.2.0", "10.1.2.255", "10.1.1.0", "10.1.3.255", id="containing"),
    pytest.param("10.1.2.0", "10.1.2.255", "10.1.1.0", "10.1.2.0", id="left-edge"),
    pytest.param("10.1.2.0", "10.1.2.255", "10.1.2.255", "10.1.3.10", id="right-edge"),
    pytest.param("10.1.2.7", "10.1.2.7", "10.1.2.0", "10.1.2.255", id="around-single"),
]


@pytest.mark.parametrize("low, high, new_low, new_high", OVERLAPPING)
def test_overlapping_ranges_are_refused(low: str, high: str, new_low: str, new_high: str) -> None:
    """Ranges must not overlap, or one address would have two sets of SAs."""
    table = SecurityAssociationTable()
    table.add_range(address(low), address(high), sa(300))
    with pytest.raises(ConfigurationError):
        table.add_range(address(new_low), address(new_high), sa(301))
    assert len(table) == 1
    assert table.lookup(address(new_low), 301) is None


def test_adjacent_ranges_and_same_range_more_spis_are_allowed() -> None:
    table = SecurityAssociationTable()
    table.add_range(address("10.1.2.0"), address("10.1.2.255"), sa(300))
    table.add_range(address("10.1.3.0"), address("10.1.3.255"), sa(300))
    table.add_range(address("10.1.1.0"), address("10.1.1.255"), sa(300))
    table.add_range(address("10.1.2.0"), address("10.1.2.255"), sa(301))
    assert table.lookup(address("10.1.1.255"), 300) == sa(300)
    assert table.lookup(address("10.1.3.0"), 300) == sa(300)
    assert table.lookup(address("10.1.2.9"), 301) == sa(301)
    assert table.lookup(address("10.1.3.9"), 301) is None
    assert len(table) == 4


def test_reversed_range_is_refused() -> None:
    table = SecurityAssociationTable()
    with pytest.raises(ConfigurationError):
        table.add_range(address("10.1.2.255"), address("10.1.2.0"), sa(300))


def test_duplicate_spi_is_refused() -> None:
    """One SPI names one SA per peer (RFC 5944 §1.6)."""
    table = SecurityAssociationTable()
    table.add(address("10.1.1.50"), sa(300))
    with pytest.raises(ConfigurationError):
        table.add(address("10.1.1.50"), SecurityAssociation(300, b"other key"))
    assert table.lookup(address("10.1.1.50"), 300) == sa(300)
    table.add(address("10.1.1.51"), sa(300))  # same SPI, other peer: fine
    table.add_range(address("10.1.2.0"), address("10.1.2.255"), sa(300))
    with pytest.raises(ConfigurationError):
        table.add_range(address("10.1.2.0"), address("10.1.2.255"), sa(300))
    assert len(table) == 3


def test_preferred_is_the_lowest_spi() -> None:
    """When we originate (an HA reply, an FA relay) we use the lowest SPI."""
    table = SecurityAssociationTable()
    for spi in (900, 300, 2**32 - 1, 500):
        table.add(address("10.1.1.50"), sa(spi))
    for spi in (800, 257):
        table.add_range(address("10.1.2.0"), address("10.1.2.255"), sa(spi))
    assert table.preferred(address("10.1.1.50")) == sa(300)
    assert table.preferred(address("10.1.2.200")) == sa(257)
    assert table.preferred(address("10.9.9.9")) is None


def test_entries_are_sorted() -> None:
    table = SecurityAssociationTable()
    table.add_range(address("10.1.2.0"), address("10.1.2.255"), sa(301))
    table.add(address("10.1.3.1"), sa(302))
    table.add(address("10.1.1.1"), sa(304))
    table.add(address("10.1.1.1"), sa(303))
    assert [(str(lo), str(hi), entry.spi) for lo, hi, entry in table.entries()] == [
        ("10.1.1.1", "10.1.1.1", 303),
        ("10.1.1.1", "10.1.1.1", 304),
        ("10.1.2.0", "10.1.2.255", 301),
        ("10.1.3.1", "10.1.3.1", 302),
    ]
