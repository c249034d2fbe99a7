"""crypt(3) SHA-crypt and the password length cap (issue 13, found item 1).

The vectors are those of Drepper's specification, "Unix crypt using SHA-256
and SHA-512" (https://www.akkadia.org/drepper/SHA-crypt.txt, "Test
vectors"); the same strings come out of ``openssl passwd -5/-6`` and glibc
crypt(3). OpenSSL is also run here on random inputs as a second oracle."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tracemalloc
import warnings

import pytest

from agent.netconf.passwords import sha_crypt, verify_password

# (password, setting, the full hash) from the specification.
SPEC_VECTORS = [
    ("Hello world!", "$5$saltstring",
     "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"),  # noqa: E501
    ("Hello world!", "$5$rounds=10000$saltstringsaltstring",
     "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"),  # noqa: E501
    ("This is just a test", "$5$rounds=5000$toolongsaltstring",
     "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5"),  # noqa: E501
    ("the minimum number is still observed", "$5$rounds=10$roundstoolow",
     "$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC"),  # noqa: E501
    ("Hello world!", "$6$saltstring",
     "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"),  # noqa: E501
    ("Hello world!", "$6$rounds=10000$saltstringsaltstring",
     "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."),  # noqa: E501
    ("the minimum number is still observed", "$6$rounds=10$roundstoolow",
     "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."),  # noqa: E501
]


@pytest.mark.parametrize("password, setting, expected", SPEC_VECTORS)
def test_sha_crypt_specification_vectors(password: str, setting: str, expected: str) -> None:
    assert sha_crypt(password, setting) == expected
    assert verify_password(password, expected)
    assert not verify_password(password + "x", expected)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
@pytest.mark.parametrize("scheme", ["5", "6"])
def test_sha_crypt_agrees_with_openssl_passwd(scheme: str) -> None:
    # openssl passwd -stdin reads at most 256 bytes of a line.
    for length in (1, 31, 32, 33, 64, 65, 200, 256):
        password = secrets.token_urlsafe(length)[:length]
        salt = secrets.token_urlsafe(12)[:16].replace("-", ".").replace("_", "/")
        stored = subprocess.run(
            ["openssl", "passwd", f"-{scheme}", "-salt", salt, "-stdin"],
            input=password + "\n", capture_output=True, text=True, check=True).stdout.strip()
        assert sha_crypt(password, stored) == stored, (length, stored)


def test_sha_crypt_agrees_with_libc_at_its_longest_passphrase() -> None:
    """libxcrypt's crypt(3) takes passphrases up to 511 bytes (it answers
    "*0" from 512): the longest oracle there is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    password = secrets.token_urlsafe(400)[:511]
    for scheme in (crypt.METHOD_SHA256, crypt.METHOD_SHA512):
        stored = crypt.crypt(password, crypt.mksalt(scheme, rounds=1000))
        assert sha_crypt(password, stored) == stored


def _peak_bytes(call: object) -> int:
    tracemalloc.start()
    try:
        call()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_sha_crypt_memory_is_linear_in_the_password() -> None:
    """The p-bytes sequence (the specification's steps 13-16) hashes the
    password once per byte of it: built by feeding the digest, not by
    concatenating ``password * len(password)`` (which held len**2 bytes)."""
    password = "p" * 1024
    peak = _peak_bytes(lambda: sha_crypt(password, "$6$rounds=1000$saltsalt"))
    # Linear: a few copies of 1 KiB plus the digests; quadratic was >= 1 MiB.
    assert peak < 64 * 1024, peak


def test_overlong_password_is_refused_before_any_hashing() -> None:
    """A 200 KB password (asyncssh accepts 256 KiB packets) is refused in
    bounded memory: nothing is hashed, known user or not. OpenSSH caps
    passwords at 1,024 bytes since 7.3 (CVE-2016-6515)."""
    stored = sha_crypt("right", "$6$saltsalt")
    for password in ("x" * 4096, "x" * 200_000, "é" * 513):  # 1,026 bytes in UTF-8
        for hash_ in (stored, None):
            peak = _peak_bytes(lambda: verify_password(password, hash_, max_length=1024))
            # The password itself (up to 400 KB as UTF-8) is the only large object.
            assert peak < len(password.encode()) + 64 * 1024, (len(password), peak)
            assert not verify_password(password, hash_, max_length=1024)
    assert verify_password("right", stored, max_length=1024)
