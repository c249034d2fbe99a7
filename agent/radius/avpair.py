"""The Cisco AV-pair that carries a mobility security association.

A RADIUS server hands out a mobile node's SAs in Cisco vendor attributes
(vendor 9, attribute 1, ``Cisco-AVPair``), one per SA, in the syntax of the
IOS ``ip mobile secure`` line (reference/ecosystem.md §5)::

    mobileip:spi#<N>=spi <spi> key {hex <digits> | ascii <text>}
        [algorithm {hmac-md5 | md5 [mode prefix-suffix]}]
        [replay timestamp [within <seconds>]]

``<N>`` numbers the SAs of one node (``spi#0`` first). The clauses after
``spi`` may come in any order (the documented order could not be confirmed),
but each clause is strict: a keyword the syntax does not have, a clause given
twice, a value out of range or a clause cut short is an :class:`AvPairError`.

Values:

- The SPI is written in hexadecimal, as IOS takes it (range ``100`` to
  ``FFFFFFFF``, i.e. 256 and up: RFC 5944 §1.6 reserves 0-255), with an
  optional ``0x``. ``spi_radix=10`` reads it as decimal instead.
- ``key hex``: an even number of hex digits, at least 16 octets (RFC 5944
  §5.1: 128-bit keys by default; the project's ``hex-key`` type);
  ``key ascii``: 1 to 64 characters, their UTF-8 octets are the key.
- ``algorithm md5`` (with or without ``mode prefix-suffix``) is RFC 2002 keyed
  MD5 in prefix+suffix mode; without ``algorithm`` the SA uses HMAC-MD5, the
  RFC 5944 §5.1 default (and the YANG default).
- ``replay timestamp within <s>`` sets the timestamp window (1-300 s, the
  YANG range); without it the window is RFC 5944 §5.7.1's 7 s. Nonces are not
  in the Cisco syntax: ``replay nonce`` is an error, never a silent timestamp.

The key never appears in an exception: errors name the clause and the word's
position, never the word itself (after a malformed key clause any word could
be key material).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from agent.mobileip.numbers import MIN_SPI
from agent.mobileip.security import Algorithm, ReplayMethod, SecurityAssociation

PREFIX = "mobileip:spi#"
MIN_HEX_KEY_OCTETS = 16
MAX_ASCII_KEY_CHARACTERS = 64
DEFAULT_REPLAY_WINDOW = 7
MAX_REPLAY_WINDOW = 300
MAX_SPI = 0xFFFFFFFF
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class AvPairFault(enum.Enum):
    NOT_MOBILEIP_SPI = "not-mobileip-spi"
    BAD_INDEX = "bad-index"
    DUPLICATE_INDEX = "duplicate-index"
    DUPLICATE_SPI = "duplicate-spi"
    MISSING_CLAUSE = "missing-clause"
    DUPLICATE_CLAUSE = "duplicate-clause"
    UNKNOWN_KEYWORD = "unknown-keyword"
    TRUNCATED = "truncated"
    BAD_SPI = "bad-spi"
    RESERVED_SPI = "reserved-spi"
    BAD_KEY = "bad-key"
    KEY_TOO_SHORT = "key-too-short"
    BAD_ALGORITHM = "bad-algorithm"
    BAD_REPLAY = "bad-replay"
    NONCES_UNSUPPORTED = "nonces-unsupported"
    BAD_WINDOW = "bad-window"


class AvPairError(ValueError):
    """A ``mobileip:spi#N=`` AV-pair that does not follow the syntax.

    ``fault`` is the machine-readable reason, ``detail`` the human one (never
    key material), ``index`` the ``spi#N`` number when it could be read.
    """

    def __init__(self, fault: AvPairFault, detail: str, *, index: int | None = None) -> None:
        where = f"spi#{index}: " if index is not None else ""
        super().__init__(f"{fault.value}: {where}{detail}")
        self.fault = fault
        self.detail = detail
        self.index = index

    @property
    def reason(self) -> str:
        return str(self)


def is_mobileip_spi(text: str) -> bool:
    """Whether a Cisco-AVPair value is a mobility SA (other AV-pairs, such as
    ``shell:priv-lvl=15``, are not ours to judge)."""
    return text[: len(PREFIX)].lower() == PREFIX


@dataclass(slots=True)
class _Clauses:
    spi: int | None = None
    key: bytes | None = None
    algorithm: str | None = None  # "hmac-md5" | "md5"
    prefix_suffix: bool = False
    replay_window: int | None = None
    replay_seen: bool = False


class _Words:
    """The words after ``=``, with their 1-based positions for error messages."""

    def __init__(self, words: list[str], index: int) -> None:
        self._words = words
        self._next = 0
        self.index = index

    def __bool__(self) -> bool:
        return self._next < len(self._words)

    @property
    def position(self) -> int:
        return self._next  # 1-based position of the word just taken

    def take(self, clause: str) -> str:
        if self._next >= len(self._words):
            raise AvPairError(
                AvPairFault.TRUNCATED, f"'{clause}' is missing its value", index=self.index
            )
        word = self._words[self._next]
        self._next += 1
        return word

    def peek(self) -> str | None:
        return self._words[self._next].lower() if self._next < len(self._words) else None

    def error(self, fault: AvPairFault, detail: str) -> AvPairError:
        return AvPairError(fault, detail, index=self.index)


def parse_mobileip_avpair(text: str, *, spi_radix: int = 16) -> tuple[int, SecurityAssociation]:
    """``(N, SA)`` of one ``mobileip:spi#N=...`` Cisco-AVPair value.

    Raises :class:`AvPairError` for anything outside the syntax above.
    """
    if spi_radix not in (10, 16):
        raise ValueError("spi_radix must be 10 or 16")
    if not is_mobileip_spi(text):
        raise AvPairError(AvPairFault.NOT_MOBILEIP_SPI, "does not start with 'mobileip:spi#'")
    rest = text[len(PREFIX) :]
    # Cisco AV-pairs use '=' for a mandatory attribute and '*' for an optional one.
    cut = min((i for i in (rest.find("="), rest.find("*")) if i >= 0), default=-1)
    if cut < 0:
        raise AvPairError(AvPairFault.BAD_INDEX, "no '=' after spi#N")
    number = rest[:cut]
    if not number.isascii() or not number.isdigit() or len(number) > 5:
        raise AvPairError(AvPairFault.BAD_INDEX, "spi#N needs a decimal N")
    index = int(number)
    words = _Words(rest[cut + 1 :].split(), index)
    found = _Clauses()
    while words:
        keyword = words.take("").lower()
        if keyword == "spi":
            _spi(words, found, spi_radix)
        elif keyword == "key":
            _key(words, found)
        elif keyword == "algorithm":
            _algorithm(words, found)
        elif keyword == "mode":
            _mode(words, found)
        elif keyword == "replay":
            _replay(words, found)
        else:
            # The word itself is not echoed: after a malformed key clause it
            # could be part of the key.
            raise words.error(
                AvPairFault.UNKNOWN_KEYWORD, f"unexpected word at position {words.position}"
            )
    if found.spi is None:
        raise words.error(AvPairFault.MISSING_CLAUSE, "no 'spi' clause")
    if found.key is None:
        raise words.error(AvPairFault.MISSING_CLAUSE, "no 'key' clause")
    if found.prefix_suffix and found.algorithm != "md5":
        raise words.error(AvPairFault.BAD_ALGORITHM, "'mode prefix-suffix' needs 'algorithm md5'")
    algorithm = (
        Algorithm.KEYED_MD5_PREFIX_SUFFIX if found.algorithm == "md5" else Algorithm.HMAC_MD5
    )
    window = found.replay_window if found.replay_window is not None else DEFAULT_REPLAY_WINDOW
    sa = SecurityAssociation(
        spi=found.spi,
        key=found.key,
        algorithm=algorithm,
        replay_method=ReplayMethod.TIMESTAMPS,
        replay_window=float(window),
    )
    return index, sa


def parse_mobileip_avpairs(
    values: Iterable[str], *, spi_radix: int = 16
) -> tuple[SecurityAssociation, ...]:
    """The SAs of every ``mobileip:spi#N=`` value among a reply's Cisco-AVPairs,
    ordered by N; other AV-pairs are skipped. One malformed value, a repeated N
    or a repeated SPI voids the lot (:class:`AvPairError`)."""
    by_index: dict[int, SecurityAssociation] = {}
    spis: set[int] = set()
    for text in values:
        if not is_mobileip_spi(text):
            continue
        index, sa = parse_mobileip_avpair(text, spi_radix=spi_radix)
        if index in by_index:
            raise AvPairError(AvPairFault.DUPLICATE_INDEX, "given twice", index=index)
        if sa.spi in spis:
            raise AvPairError(AvPairFault.DUPLICATE_SPI, f"SPI {sa.spi} given twice", index=index)
        by_index[index] = sa
        spis.add(sa.spi)
    return tuple(by_index[i] for i in sorted(by_index))


# -- clauses ------------------------------------------------------------------------


def _spi(words: _Words, found: _Clauses, radix: int) -> None:
    if found.spi is not None:
        raise words.error(AvPairFault.DUPLICATE_CLAUSE, "'spi' given twice")
    word = words.take("spi")
    digits = word[2:] if radix == 16 and word[:2].lower() == "0x" else word
    allowed = _HEX_DIGITS if radix == 16 else frozenset("0123456789")
    if not digits or len(digits) > 10 or not set(digits) <= allowed:
        raise words.error(
            AvPairFault.BAD_SPI,
            f"the SPI at position {words.position} is not a base-{radix} number",
        )
    value = int(digits, radix)
    if not MIN_SPI <= value <= MAX_SPI:
        raise words.error(
            AvPairFault.RESERVED_SPI,
            f"the SPI at position {words.position} is reserved or out of range"
            " (RFC 5944 §1.6: 256..4294967295)",
        )
    found.spi = value


def _key(words: _Words, found: _Clauses) -> None:
    if found.key is not None:
        raise words.error(AvPairFault.DUPLICATE_CLAUSE, "'key' given twice")
    form = words.take("key").lower()
    material = words.take(f"key {form}")
    if form == "hex":
        if not set(material) <= _HEX_DIGITS or len(material) % 2:
            raise words.error(AvPairFault.BAD_KEY, "'key hex' needs an even number of hex digits")
        if len(material) < 2 * MIN_HEX_KEY_OCTETS:
            raise words.error(
                AvPairFault.KEY_TOO_SHORT,
                f"'key hex' has {len(material) // 2} octets, at least {MIN_HEX_KEY_OCTETS} needed",
            )
        found.key = bytes.fromhex(material)
    elif form == "ascii":
        if len(material) > MAX_ASCII_KEY_CHARACTERS:
            raise words.error(
                AvPairFault.BAD_KEY,
                f"'key ascii' is longer than {MAX_ASCII_KEY_CHARACTERS} characters",
            )
        found.key = material.encode("utf-8")
    else:
        raise words.error(AvPairFault.BAD_KEY, "'key' must be followed by 'hex' or 'ascii'")


def _algorithm(words: _Words, found: _Clauses) -> None:
    if found.algorithm is not None:
        raise words.error(AvPairFault.DUPLICATE_CLAUSE, "'algorithm' given twice")
    name = words.take("algorithm").lower()
    if name not in ("hmac-md5", "md5"):
        raise words.error(
            AvPairFault.BAD_ALGORITHM,
            f"the algorithm at position {words.position} is not hmac-md5 or md5",
        )
    found.algorithm = name
    if name == "md5" and words.peek() == "mode":
        words.take("algorithm md5")
        _mode_value(words, found)


def _mode(words: _Words, found: _Clauses) -> None:
    _mode_value(words, found)


def _mode_value(words: _Words, found: _Clauses) -> None:
    if found.prefix_suffix:
        raise words.error(AvPairFault.DUPLICATE_CLAUSE, "'mode' given twice")
    mode = words.take("mode").lower()
    if mode != "prefix-suffix":
        raise words.error(
            AvPairFault.BAD_ALGORITHM, f"the mode at position {words.position} is not prefix-suffix"
        )
    found.prefix_suffix = True


def _replay(words: _Words, found: _Clauses) -> None:
    if found.replay_seen:
        raise words.error(AvPairFault.DUPLICATE_CLAUSE, "'replay' given twice")
    found.replay_seen = True
    method = words.take("replay").lower()
    if method in ("nonce", "nonces"):
        raise words.error(
            AvPairFault.NONCES_UNSUPPORTED, "nonce replay protection is not in the Cisco syntax"
        )
    if method != "timestamp":
        raise words.error(
            AvPairFault.BAD_REPLAY,
            f"the replay method at position {words.position} is not 'timestamp'",
        )
    if words.peek() != "within":
        return
    words.take("replay timestamp")
    word = words.take("within")
    if not word.isascii() or not word.isdigit() or not 1 <= int(word) <= MAX_REPLAY_WINDOW:
        raise words.error(
            AvPairFault.BAD_WINDOW,
            f"the window at position {words.position} is not 1..{MAX_REPLAY_WINDOW} seconds",
        )
    found.replay_window = int(word)
