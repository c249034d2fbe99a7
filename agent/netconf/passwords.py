"""Password checks for NETCONF over SSH: crypt(3) SHA-crypt (``$5$`` SHA-256,
``$6$`` SHA-512, Drepper's specification "Unix crypt using SHA-256 and
SHA-512") on ``hashlib``, with a length cap applied before any hashing.

The stdlib ``crypt`` module is deprecated (PEP 594) and gone in Python 3.13,
and no new dependency is wanted. Other schemes (yescrypt ``$y$``, bcrypt
``$2b$``, MD5 ``$1$``) are refused.

What an unauthenticated peer can make this compute is bounded:

* a password longer than ``max_length`` UTF-8 bytes is refused without
  hashing (OpenSSH 7.3 and later cap at 1,024 bytes: CVE-2016-6515, where
  crypt(3) of a long password was the denial of service);
* the specification's p-bytes sequence (steps 13-16) hashes the password
  once per byte of it: that is len**2 bytes hashed, fixed by the algorithm,
  but it is fed to the digest piece by piece, so memory stays linear (the
  first version built ``password * len(password)``: 16 KB of password held
  256 MB);
* rounds are capped by the YANG module (``ROUNDS_MAX``), and an unknown user
  is checked against a dummy hash with the configured users' largest rounds
  (:func:`dummy_hash`), so the check costs the same whether the name exists.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable

logger = logging.getLogger(__name__)

_CRYPT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: The specification's default and minimum rounds ("rounds=" below the
#: minimum is raised to it).
ROUNDS_DEFAULT = 5000
ROUNDS_MIN = 1000
#: The specification allows 999,999,999; the YANG module accepts at most
#: this many (its ``must`` on netconf-server/user/password), since every
#: password attempt, for a known user or not, costs this much CPU before any
#: authentication: 80 ms at the cap on an idle core here, 165-290 ms under load
#: (tools/bench/netconf_login_bench.py: 3.5-4.3 times libxcrypt's C).
ROUNDS_MAX = 100_000
#: OpenSSH's cap (auth-passwd.c MAX_PASSWORD_LEN since 7.3), the default of
#: netconf-server/max-password-length.
DEFAULT_MAX_PASSWORD_LENGTH = 1024
#: Byte order of the final encoding (the specification's step 22).
_SHA512_ORDER = ((0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26),
                 (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32),
                 (12, 33, 54), (34, 55, 13), (56, 14, 35), (15, 36, 57), (37, 58, 16),
                 (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41))
_SHA256_ORDER = ((0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14), (15, 25, 5),
                 (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29))


def password_too_long(password: str, max_length: int) -> bool:
    """Whether ``password`` is over ``max_length`` bytes in UTF-8 (checked
    on the character count first: a character is at least one byte)."""
    return len(password) > max_length or len(password.encode()) > max_length


def hash_rounds(stored_hash: str) -> int:
    """The rounds a ``$5$``/``$6$`` hash costs to check (its ``rounds=``,
    clamped as the specification does, or the default)."""
    parts = stored_hash.split("$")
    if len(parts) > 2 and parts[2].startswith("rounds="):
        try:
            return min(max(int(parts[2][len("rounds="):]), ROUNDS_MIN), 999_999_999)
        except ValueError:
            return ROUNDS_DEFAULT
    return ROUNDS_DEFAULT


def dummy_hash(stored_hashes: Iterable[str | None]) -> str:
    """What an unknown user's password is checked against: SHA-512 with the
    largest rounds of the configured hashes, so that the check of an unknown
    name costs as much as the costliest known one (issue 13, item 13)."""
    rounds = max((hash_rounds(h) for h in stored_hashes if h), default=ROUNDS_DEFAULT)
    return f"$6$rounds={rounds}$notarealsalt$" + "x" * 86


def verify_password(password: str, stored_hash: str | None, *,
                    max_length: int = DEFAULT_MAX_PASSWORD_LENGTH,
                    dummy: str | None = None) -> bool:
    """True when ``password`` matches a ``$5$``/``$6$`` crypt(3) hash.
    ``stored_hash`` None (an unknown user) checks ``password`` against
    ``dummy`` (default: :func:`dummy_hash` of nothing) and is False. A
    password over ``max_length`` bytes is False without hashing."""
    if password_too_long(password, max_length):
        return False
    if stored_hash is None:
        sha_crypt(password, dummy or dummy_hash(()))
        return False
    try:
        computed = sha_crypt(password, stored_hash)
    except ValueError as exc:
        logger.warning("netconf password hash not usable: %s", exc)
        return False
    return hmac.compare_digest(computed.encode(), stored_hash.encode())


def sha_crypt(password: str, setting: str) -> str:
    """crypt(3) for ``$5$`` and ``$6$``: the full hash string for ``password``
    with the salt (and rounds) taken from ``setting``."""
    parts = setting.split("$")
    if len(parts) < 3 or parts[0] or parts[1] not in ("5", "6"):
        scheme = parts[1] if len(parts) > 1 else setting[:3]
        raise ValueError(f"unsupported crypt scheme {scheme!r} (only $5$ and $6$)")
    scheme, fields = parts[1], parts[2:]
    rounds, explicit_rounds = ROUNDS_DEFAULT, False
    if fields[0].startswith("rounds="):
        try:
            rounds = int(fields[0][len("rounds="):])
        except ValueError:
            raise ValueError("bad rounds= field") from None
        rounds = min(max(rounds, ROUNDS_MIN), 999_999_999)
        explicit_rounds = True
        fields = fields[1:]
        if not fields:
            raise ValueError("no salt")
    salt = fields[0][:16]
    digest_name, order = ("sha512", _SHA512_ORDER) if scheme == "6" else ("sha256", _SHA256_ORDER)
    final = _sha_crypt_digest(password.encode(), salt.encode(), rounds, digest_name)
    encoded = _encode_crypt64(final, order)
    prefix = f"${scheme}$" + (f"rounds={rounds}$" if explicit_rounds else "")
    return f"{prefix}{salt}${encoded}"


def _sha_crypt_digest(password: bytes, salt: bytes, rounds: int, digest_name: str) -> bytes:
    """The specification's steps 1-21 (its step numbers in the comments)."""
    def new() -> hashlib._Hash:
        return hashlib.new(digest_name)

    size = new().digest_size

    def stretch(digest: bytes, length: int) -> bytes:
        # Steps 11-12 and 16/20: the digest repeated, cut to ``length`` bytes.
        return (digest * (length // size + 1))[:length]

    alternate = new()  # steps 4-8
    alternate.update(password + salt + password)
    alternate_digest = alternate.digest()
    context = new()  # steps 1-3, 9-12
    context.update(password + salt)
    context.update(stretch(alternate_digest, len(password)))
    length = len(password)
    while length:
        context.update(alternate_digest if length & 1 else password)
        length >>= 1
    result = context.digest()
    # Steps 13-15: "for every byte in the password add the password": fed
    # one copy at a time (linear memory; the bytes hashed are len**2 by the
    # algorithm, which the length cap bounds).
    p_context = new()
    for _ in range(len(password)):
        p_context.update(password)
    p_bytes = stretch(p_context.digest(), len(password))
    # Steps 17-20: the salt 16 + A[0] times (at most 271 x 16 bytes).
    s_context = new()
    for _ in range(16 + result[0]):
        s_context.update(salt)
    s_bytes = stretch(s_context.digest(), len(salt))
    for index in range(rounds):  # step 21
        context = new()
        context.update(p_bytes if index & 1 else result)
        if index % 3:
            context.update(s_bytes)
        if index % 7:
            context.update(p_bytes)
        context.update(result if index & 1 else p_bytes)
        result = context.digest()
    return result


def _encode_crypt64(digest: bytes, order: tuple[tuple[int, int, int], ...]) -> str:
    out = []

    def emit(value: int, count: int) -> None:
        for _ in range(count):
            out.append(_CRYPT_ALPHABET[value & 0x3F])
            value >>= 6

    for first, second, third in order:
        emit((digest[first] << 16) | (digest[second] << 8) | digest[third], 4)
    if len(digest) == 64:
        emit(digest[63], 2)
    else:
        emit((digest[31] << 8) | digest[30], 3)
    return "".join(out)
