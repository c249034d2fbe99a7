"""The Cisco "mobileip:spi#N=" AV-pair parser (agent/radius/avpair.py).

Tables of valid and invalid values; Hypothesis checks that the clauses parse
to the same SA in any order, and that no error message ever carries the key.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.mobileip.security import Algorithm, ReplayMethod, SecurityAssociation
from agent.radius.avpair import (
    AvPairError,
    AvPairFault,
    is_mobileip_spi,
    parse_mobileip_avpair,
    parse_mobileip_avpairs,
)

KEY = "00112233445566778899aabbccddeeff"
KEY_BYTES = bytes.fromhex(KEY)


def sa(
    spi: int,
    key: bytes = KEY_BYTES,
    algorithm: Algorithm = Algorithm.HMAC_MD5,
    window: float = 7.0,
) -> SecurityAssociation:
    return SecurityAssociation(
        spi=spi,
        key=key,
        algorithm=algorithm,
        replay_method=ReplayMethod.TIMESTAMPS,
        replay_window=window,
    )


@pytest.mark.parametrize(
    ("text", "index", "expected"),
    [
        # The documented IOS form; the SPI is hex as IOS takes it (100 = 256).
        (f"mobileip:spi#0=spi 100 key hex {KEY}", 0, sa(256)),
        (
            f"mobileip:spi#0=spi 100 key hex {KEY} algorithm hmac-md5 replay timestamp within 7",
            0,
            sa(256),
        ),
        (
            f"mobileip:spi#1=spi 101 key hex {KEY} algorithm md5 mode prefix-suffix",
            1,
            sa(257, algorithm=Algorithm.KEYED_MD5_PREFIX_SUFFIX),
        ),
        # md5 alone is prefix+suffix too (the only mode there is).
        (
            f"mobileip:spi#2=spi 1000 key hex {KEY} algorithm md5",
            2,
            sa(4096, algorithm=Algorithm.KEYED_MD5_PREFIX_SUFFIX),
        ),
        # Cisco PDSN documentation's example (an ASCII key).
        ("mobileip:spi#0=spi 100 key ascii cisco", 0, sa(256, key=b"cisco")),
        # Keywords in another order, upper case keywords and hex digits, 0x.
        (
            f"mobileip:spi#0=replay timestamp within 30 key HEX {KEY.upper()} SPI 0x1001",
            0,
            sa(0x1001, window=30.0),
        ),
        (
            f"mobileip:spi#3=mode prefix-suffix key hex {KEY} algorithm md5 spi ffffffff",
            3,
            sa(0xFFFFFFFF, algorithm=Algorithm.KEYED_MD5_PREFIX_SUFFIX),
        ),
        # replay timestamp without a window: RFC 5944 §5.7.1's 7 s.
        (f"mobileip:spi#0=spi 100 key hex {KEY} replay timestamp", 0, sa(256)),
        # A 32-octet key and extra spaces.
        (f"mobileip:spi#0=  spi 100   key hex {KEY * 2}  ", 0, sa(256, key=KEY_BYTES * 2)),
        # '*' marks an optional Cisco AV-pair.
        (f"mobileip:spi#0*spi 100 key hex {KEY}", 0, sa(256)),
    ],
)
def test_valid(text: str, index: int, expected: SecurityAssociation) -> None:
    found_index, found = parse_mobileip_avpair(text)
    assert found_index == index
    assert (found, found.key) == (expected, expected.key)


def test_decimal_spi_radix() -> None:
    _, found = parse_mobileip_avpair(f"mobileip:spi#0=spi 256 key hex {KEY}", spi_radix=10)
    assert found.spi == 256
    with pytest.raises(AvPairError) as caught:
        parse_mobileip_avpair(f"mobileip:spi#0=spi 255 key hex {KEY}", spi_radix=10)
    assert caught.value.fault is AvPairFault.RESERVED_SPI
    with pytest.raises(AvPairError) as caught:
        parse_mobileip_avpair(f"mobileip:spi#0=spi 0x100 key hex {KEY}", spi_radix=10)
    assert caught.value.fault is AvPairFault.BAD_SPI


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("shell:priv-lvl=15", AvPairFault.NOT_MOBILEIP_SPI),
        ("mobileip:mobileip-mn-lifetime=600", AvPairFault.NOT_MOBILEIP_SPI),
        (f"mobileip:spi#=spi 100 key hex {KEY}", AvPairFault.BAD_INDEX),
        (f"mobileip:spi#x=spi 100 key hex {KEY}", AvPairFault.BAD_INDEX),
        (f"mobileip:spi#-1=spi 100 key hex {KEY}", AvPairFault.BAD_INDEX),
        (f"mobileip:spi#0 spi 100 key hex {KEY}", AvPairFault.BAD_INDEX),
        # SPI: below 256 (RFC 5944 §1.6), too big, not a number.
        (f"mobileip:spi#0=spi ff key hex {KEY}", AvPairFault.RESERVED_SPI),
        (f"mobileip:spi#0=spi 0 key hex {KEY}", AvPairFault.RESERVED_SPI),
        (f"mobileip:spi#0=spi 100000000 key hex {KEY}", AvPairFault.RESERVED_SPI),
        (f"mobileip:spi#0=spi zz key hex {KEY}", AvPairFault.BAD_SPI),
        (f"mobileip:spi#0=spi 0x key hex {KEY}", AvPairFault.BAD_SPI),
        (f"mobileip:spi#0=spi -100 key hex {KEY}", AvPairFault.BAD_SPI),
        # Keys: short, odd, not hex, unknown form, too long ascii.
        (
            "mobileip:spi#0=spi 100 key hex 00112233445566778899aabbccddee",
            AvPairFault.KEY_TOO_SHORT,
        ),
        (f"mobileip:spi#0=spi 100 key hex {KEY}0", AvPairFault.BAD_KEY),
        (f"mobileip:spi#0=spi 100 key hex {KEY[:-1]}g", AvPairFault.BAD_KEY),
        (f"mobileip:spi#0=spi 100 key base64 {KEY}", AvPairFault.BAD_KEY),
        ("mobileip:spi#0=spi 100 key ascii " + "k" * 65, AvPairFault.BAD_KEY),
        # Missing, repeated, truncated and unknown clauses.
        (f"mobileip:spi#0=key hex {KEY}", AvPairFault.MISSING_CLAUSE),
        ("mobileip:spi#0=spi 100", AvPairFault.MISSING_CLAUSE),
        ("mobileip:spi#0=", AvPairFault.MISSING_CLAUSE),
        (f"mobileip:spi#0=spi 100 spi 101 key hex {KEY}", AvPairFault.DUPLICATE_CLAUSE),
        (f"mobileip:spi#0=spi 100 key hex {KEY} key hex {KEY}", AvPairFault.DUPLICATE_CLAUSE),
        (
            f"mobileip:spi#0=spi 100 key hex {KEY} algorithm md5 algorithm md5",
            AvPairFault.DUPLICATE_CLAUSE,
        ),
        (
            f"mobileip:spi#0=spi 100 key hex {KEY} replay timestamp replay timestamp",
            AvPairFault.DUPLICATE_CLAUSE,
        ),
        (
            f"mobileip:spi#0=spi 100 key hex {KEY} algorithm md5 mode prefix-suffix mode prefix-suffix",
            AvPairFault.DUPLICATE_CLAUSE,
        ),
        ("mobileip:spi#0=spi 100 key hex", AvPairFault.TRUNCATED),
        ("mobileip:spi#0=spi 100 key", AvPairFault.TRUNCATED),
        (f"mobileip:spi#0=key hex {KEY} spi", AvPairFault.TRUNCATED),
        (f"mobileip:spi#0=spi 100 key hex {KEY} replay timestamp within", AvPairFault.TRUNCATED),
        (f"mobileip:spi#0=spi 100 key hex {KEY} algorithm", AvPairFault.TRUNCATED),
        (f"mobileip:spi#0=spi 100 key hex {KEY} lifetime 600", AvPairFault.UNKNOWN_KEYWORD),
        (
            f"mobileip:spi#0=inbound-spi 100 outbound-spi 101 key hex {KEY}",
            AvPairFault.UNKNOWN_KEYWORD,
        ),
        # Algorithms and modes.
        (f"mobileip:spi#0=spi 100 key hex {KEY} algorithm sha1", AvPairFault.BAD_ALGORITHM),
        (
            f"mobileip:spi#0=spi 100 key hex {KEY} algorithm hmac-md5 mode prefix-suffix",
            AvPairFault.BAD_ALGORITHM,
        ),
        (f"mobileip:spi#0=spi 100 key hex {KEY} mode prefix-suffix", AvPairFault.BAD_ALGORITHM),
        (
            f"mobileip:spi#0=spi 100 key hex {KEY} algorithm md5 mode prefix",
            AvPairFault.BAD_ALGORITHM,
        ),
        # Replay: nonces are not in the Cisco syntax; windows 1..300 s.
        (f"mobileip:spi#0=spi 100 key hex {KEY} replay nonce", AvPairFault.NONCES_UNSUPPORTED),
        (f"mobileip:spi#0=spi 100 key hex {KEY} replay nonces", AvPairFault.NONCES_UNSUPPORTED),
        (f"mobileip:spi#0=spi 100 key hex {KEY} replay sequence", AvPairFault.BAD_REPLAY),
        (f"mobileip:spi#0=spi 100 key hex {KEY} replay timestamp within 0", AvPairFault.BAD_WINDOW),
        (
            f"mobileip:spi#0=spi 100 key hex {KEY} replay timestamp within 301",
            AvPairFault.BAD_WINDOW,
        ),
        (
            f"mobileip:spi#0=spi 100 key hex {KEY} replay timestamp within 7.5",
            AvPairFault.BAD_WINDOW,
        ),
    ],
)
def test_invalid(text: str, fault: AvPairFault) -> None:
    with pytest.raises(AvPairError) as caught:
        parse_mobileip_avpair(text)
    assert caught.value.fault is fault
    assert str(caught.value).startswith(fault.value)
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "mobileip:spi#0=spi 100 key ascii my secret",  # a key with a space: "secret" is left over
        "mobileip:spi#0=spi 100 key hex 0011 2233445566778899aabbccddeeff0011",
        "mobileip:spi#0=spi key ascii secret",
        "mobileip:spi#0=spi 100 key ascii x algorithm secret",
        "mobileip:spi#0=spi 100 key ascii x replay secret",
        "mobileip:spi#0=spi 100 key ascii x replay timestamp within secret",
    ],
)
def test_errors_never_echo_words_that_may_be_key_material(text: str) -> None:
    with pytest.raises(AvPairError) as caught:
        parse_mobileip_avpair(text)
    message = str(caught.value)
    assert "secret" not in message and "2233445566" not in message
    assert caught.value.index == 0


def test_several_pairs_ordered_by_index() -> None:
    sas = parse_mobileip_avpairs(
        [
            f"mobileip:spi#1=spi 101 key hex {KEY} algorithm md5",
            "shell:priv-lvl=15",  # not ours: skipped
            f"mobileip:spi#0=spi 100 key hex {KEY}",
        ]
    )
    assert [s.spi for s in sas] == [256, 257]
    assert parse_mobileip_avpairs([]) == ()
    assert parse_mobileip_avpairs(["shell:priv-lvl=15"]) == ()


@pytest.mark.parametrize(
    ("values", "fault"),
    [
        (
            [f"mobileip:spi#0=spi 100 key hex {KEY}", f"mobileip:spi#0=spi 101 key hex {KEY}"],
            AvPairFault.DUPLICATE_INDEX,
        ),
        (
            [f"mobileip:spi#0=spi 100 key hex {KEY}", f"mobileip:spi#1=spi 100 key hex {KEY}"],
            AvPairFault.DUPLICATE_SPI,
        ),
        (
            [f"mobileip:spi#0=spi 100 key hex {KEY}", "mobileip:spi#1=spi 101 key hex 00"],
            AvPairFault.KEY_TOO_SHORT,
        ),
    ],
)
def test_one_bad_pair_voids_the_reply(values: list[str], fault: AvPairFault) -> None:
    with pytest.raises(AvPairError) as caught:
        parse_mobileip_avpairs(values)
    assert caught.value.fault is fault


def test_prefix_is_case_insensitive() -> None:
    assert is_mobileip_spi("MobileIP:SPI#0=spi 100 key ascii k")
    assert not is_mobileip_spi("mobileip:spi")
    assert parse_mobileip_avpair(f"MOBILEIP:SPI#7=spi 100 key hex {KEY}")[0] == 7


# -- Hypothesis --------------------------------------------------------------------------

_CLAUSES = st.fixed_dictionaries(
    {
        "spi": st.integers(min_value=256, max_value=0xFFFFFFFF),
        "key": st.one_of(
            st.binary(min_size=16, max_size=40).map(lambda k: ("hex", k)),
            st.text(
                alphabet=st.characters(
                    min_codepoint=33, max_codepoint=0x2FF, blacklist_categories=("Z", "C")
                ),
                min_size=1,
                max_size=64,
            ).map(lambda k: ("ascii", k)),
        ),
        "algorithm": st.sampled_from(
            [
                None,
                "algorithm hmac-md5",
                "algorithm md5",
                "algorithm md5 mode prefix-suffix",
                "split",
            ]
        ),
        "window": st.one_of(st.none(), st.just(0), st.integers(min_value=1, max_value=300)),
    }
)


def _pieces(clauses: dict[str, object]) -> tuple[list[str], SecurityAssociation]:
    spi = clauses["spi"]
    form, key = clauses["key"]  # type: ignore[misc]
    assert isinstance(spi, int)
    pieces = [f"spi {spi:x}"]
    if form == "hex":
        pieces.append(f"key hex {key.hex()}")
        key_bytes = key
    else:
        pieces.append(f"key ascii {key}")
        key_bytes = key.encode()
    algorithm = clauses["algorithm"]
    if algorithm == "split":  # "mode prefix-suffix" as a clause of its own
        pieces += ["algorithm md5", "mode prefix-suffix"]
    elif algorithm is not None:
        pieces.append(str(algorithm))
    window = clauses["window"]
    if window == 0:
        pieces.append("replay timestamp")
    elif window is not None:
        pieces.append(f"replay timestamp within {window}")
    expected = SecurityAssociation(
        spi=spi,
        key=key_bytes,
        algorithm=Algorithm.HMAC_MD5
        if algorithm in (None, "algorithm hmac-md5")
        else Algorithm.KEYED_MD5_PREFIX_SUFFIX,
        replay_window=float(window) if window else 7.0,
    )
    return pieces, expected


@given(clauses=_CLAUSES, order=st.randoms(use_true_random=False), index=st.integers(0, 99999))
def test_any_clause_order_parses_to_the_same_sa(
    clauses: dict[str, object], order: object, index: int
) -> None:
    pieces, expected = _pieces(clauses)
    order.shuffle(pieces)  # type: ignore[attr-defined]
    found_index, found = parse_mobileip_avpair(f"mobileip:spi#{index}=" + " ".join(pieces))
    assert found_index == index
    assert (found, found.key) == (expected, expected.key)


_KEYWORDS = [
    "spi",
    "key",
    "hex",
    "ascii",
    "md5",
    "mode",
    "replay",
    "within",
    "0",
    "1000",
    "zz",
    "nonce",
]


@given(
    clauses=_CLAUSES,
    other_key=st.binary(min_size=64, max_size=64),
    order=st.randoms(use_true_random=False),
    junk=st.lists(st.sampled_from(_KEYWORDS), min_size=1, max_size=3),
    at=st.integers(min_value=0, max_value=10),
)
def test_errors_do_not_depend_on_the_key(
    clauses: dict[str, object], other_key: bytes, order: object, junk: list[str], at: int
) -> None:
    """Valid clauses with keywords slipped in: the outcome is one AvPairError
    (or still a valid SA), and the same whatever the key's value, so no error
    message can carry key material."""
    form, key = clauses["key"]  # type: ignore[misc]
    if form == "ascii":
        # An ASCII key that is not itself a keyword or a number, and another
        # one of the same length.
        clauses = {**clauses, "key": ("ascii", "!" + key[:63])}
        twin = {**clauses, "key": ("ascii", "!" + other_key.hex()[: len(key[:63])])}
    else:
        twin = {**clauses, "key": ("hex", other_key[: len(key)])}

    def outcome(variant: dict[str, object]) -> str:
        pieces, _ = _pieces(variant)
        order.shuffle(pieces)  # type: ignore[attr-defined]
        words = " ".join(pieces).split()
        words[at:at] = junk
        try:
            parse_mobileip_avpair("mobileip:spi#0=" + " ".join(words))
        except AvPairError as exc:
            return str(exc)
        return "parsed"

    state = order.getstate()  # type: ignore[attr-defined]
    first = outcome(clauses)
    order.setstate(state)  # type: ignore[attr-defined]
    assert outcome(twin) == first
