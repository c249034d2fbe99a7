"""Mutations of valid messages, driven by one seeded ``random.Random`` so that a
run is reproducible from its seed.

Binary mutators (datagrams): bit flips, byte substitutions with boundary values,
truncation, appended garbage, type/code changes, length lies in the
type-length-value elements (Mobile IP extensions, RFC 5944 §1.9; BER lengths,
X.690 §8.1.3) and splicing of extensions between two corpus messages.
Text mutators (control-socket JSON lines, NETCONF XML): the same byte-level
ones plus token-level ones (duplication, deletion, deep nesting, huge numbers,
odd characters).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFE, 0xFF)


@dataclass(frozen=True, slots=True)
class Shape:
    """Where a message's TLV elements start, so length lies and splices land on
    element boundaries. ``tlv_start``: offset of the first TLV (Mobile IP:
    after the fixed header); ``ber``: BER encoding (lengths may be long-form)."""

    tlv_start: int = 0
    ber: bool = False


def _tlv_offsets(data: bytes, shape: Shape) -> list[tuple[int, int]]:
    """(offset of the length octet, offset of the element) for each element we
    can walk to; nested BER constructed elements are entered."""
    found: list[tuple[int, int]] = []
    if shape.ber:
        stack = [(0, len(data))]
        while stack and len(found) < 64:
            pos, end = stack.pop()
            while pos + 2 <= end and len(found) < 64:
                tag = data[pos]
                first = data[pos + 1]
                if first < 0x80:
                    length, header = first, 2
                else:
                    count = first & 0x7F
                    if count == 0 or count > 4 or pos + 2 + count > end:
                        break
                    length = int.from_bytes(data[pos + 2:pos + 2 + count], "big")
                    header = 2 + count
                found.append((pos + 1, pos))
                if tag & 0x20:  # constructed: walk its contents too
                    stack.append((pos + header, min(end, pos + header + length)))
                pos += header + length
        return found
    pos = shape.tlv_start
    while pos + 1 < len(data) and len(found) < 64:
        found.append((pos + 1, pos))
        if data[pos] == 0:  # one-byte padding (RFC 5944 §2.1.3)
            pos += 1
            continue
        pos += 2 + data[pos + 1]
    return found


def bit_flip(rng: random.Random, data: bytes, shape: Shape, other: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def substitute(rng: random.Random, data: bytes, shape: Shape, other: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(out))
        out[i] = rng.choice(INTERESTING_BYTES) if rng.random() < 0.6 else rng.randrange(256)
    return bytes(out)


def truncate(rng: random.Random, data: bytes, shape: Shape, other: bytes) -> bytes:
    return data[:rng.randrange(len(data))] if data else data


def append_garbage(rng: random.Random, data: bytes, shape: Shape, other: bytes) -> bytes:
    size = rng.choice((1, 2, 3, 4, 7, 16, 64, 255, 1000))
    return data + rng.randbytes(size)


def type_code(rng: random.Random, data: bytes, shape: Shape, other: bytes) -> bytes:
    """Change the message type / code (first two octets) or, for BER, a tag."""
    if len(data) < 2:
        return data
    out = bytearray(data)
    if shape.ber:
        elements = _tlv_offsets(data, shape)
        if elements:
            _, at = rng.choice(elements)
            out[at] = rng.choice((0x02, 0x04, 0x05, 0x06, 0x30, 0x40, 0x41, 0x43, 0x80, 0x81, 0x82,
                                  0xA0, 0xA1, 0xA2, 0xA3, 0xA5, 0xA6, 0xA7, 0xA8, rng.randrange(256)))
        return bytes(out)
    index = rng.randrange(2)
    out[index] = rng.choice((0, 1, 2, 3, 4, 9, 10, 13, 255, rng.randrange(256)))
    return bytes(out)


def length_lie(rng: random.Random, data: bytes, shape: Shape, other: bytes) -> bytes:
    """Make one element's length octet claim more or less than it has."""
    elements = _tlv_offsets(data, shape)
    if not elements:
        return substitute(rng, data, shape, other)
    length_at, _ = rng.choice(elements)
    out = bytearray(data)
    actual = out[length_at]
    choice = rng.randrange(6)
    if choice == 0:
        out[length_at] = (actual + 1) & 0xFF
    elif choice == 1:
        out[length_at] = (actual - 1) & 0xFF
    elif choice == 2:
        out[length_at] = 0
    elif choice == 3:
        out[length_at] = 0xFF if not shape.ber else 0x7F
    elif choice == 4 and shape.ber:
        # A long form claiming 2^32-1 octets (X.690 §8.1.3.5).
        out[length_at:length_at + 1] = b"\x84\xff\xff\xff\xff"
    else:
        out[length_at] = rng.randrange(256)
    return bytes(out)


def splice(rng: random.Random, data: bytes, shape: Shape, other: bytes) -> bytes:
    """This message's head and elements up to one boundary, then the other
    message's elements from one of its boundaries (extension splicing)."""
    mine = [at for _, at in _tlv_offsets(data, shape)] or [len(data)]
    theirs = [at for _, at in _tlv_offsets(other, shape)] or [0]
    return data[:rng.choice(mine)] + other[rng.choice(theirs):]


def duplicate_element(rng: random.Random, data: bytes, shape: Shape, other: bytes) -> bytes:
    """Repeat one element many times (a flood of extensions / varbinds)."""
    elements = _tlv_offsets(data, shape)
    if not elements:
        return data + data
    index = rng.randrange(len(elements))
    start = elements[index][1]
    end = elements[index + 1][1] if index + 1 < len(elements) else len(data)
    if end <= start:
        return data
    return data[:end] + data[start:end] * rng.choice((2, 8, 64)) + data[end:]


Mutator = Callable[[random.Random, bytes, Shape, bytes], bytes]

BINARY_MUTATORS: tuple[tuple[str, Mutator], ...] = (
    ("bit-flip", bit_flip),
    ("substitute", substitute),
    ("truncate", truncate),
    ("append-garbage", append_garbage),
    ("type-code", type_code),
    ("length-lie", length_lie),
    ("splice", splice),
    ("duplicate-element", duplicate_element),
)

TEXT_TOKENS = (
    b"{", b"}", b"[", b"]", b'"', b"\\", b",", b":", b"null", b"true", b"-1", b"1e999",
    b"99999999999999999999999999", b"\x00", b"\xff", b"\xc3\x28", b"\xe2\x80\xae", b"'",
    b"<", b">", b"</", b"/>", b"&", b"&amp;", b"&#0;", b"&#x110000;", b"<!--", b"]]>",
    b"<![CDATA[", b"<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\">]>", b"xmlns:a=\"urn:x\"", b"a:",
    b"\n", b"\n#", b"\n##\n", b"\n#4294967295\n", b"]]>]]>", b" " * 64,
)


def insert_token(rng: random.Random, data: bytes, shape: Shape, other: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.choice(TEXT_TOKENS) * rng.choice((1, 1, 1, 2, 10)) + data[i:]


def delete_span(rng: random.Random, data: bytes, shape: Shape, other: bytes) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, 32):]


def duplicate_span(rng: random.Random, data: bytes, shape: Shape, other: bytes) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randint(1, 64))
    return data[:j] + data[i:j] * rng.choice((2, 16, 200)) + data[j:]


def nest(rng: random.Random, data: bytes, shape: Shape, other: bytes) -> bytes:
    """Deep nesting inside the message (JSON arrays or XML elements)."""
    depth = rng.choice((50, 1000, 5000))
    i = rng.randrange(len(data) + 1)
    if data.lstrip().startswith(b"<") or b"<rpc" in data:
        inner = b"<a>" * depth + b"</a>" * depth
    else:
        inner = b"[" * depth + b"]" * depth
    return data[:i] + inner + data[i:]


def text_splice(rng: random.Random, data: bytes, shape: Shape, other: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    j = rng.randrange(len(other) + 1)
    return data[:i] + other[j:]


TEXT_MUTATORS: tuple[tuple[str, Mutator], ...] = (
    ("bit-flip", bit_flip),
    ("substitute", substitute),
    ("truncate", truncate),
    ("append-garbage", append_garbage),
    ("insert-token", insert_token),
    ("delete-span", delete_span),
    ("duplicate-span", duplicate_span),
    ("nest", nest),
    ("splice", text_splice),
)


def mutate(rng: random.Random, corpus: Sequence[bytes], shape: Shape,
           mutators: Sequence[tuple[str, Mutator]] = BINARY_MUTATORS) -> tuple[bytes, str]:
    """One to three stacked mutations of a corpus message chosen by ``rng``;
    the mutated bytes and the names of the mutators applied."""
    data = rng.choice(corpus)
    names = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        name, mutator = rng.choice(mutators)
        data = mutator(rng, data, shape, rng.choice(corpus))
        names.append(name)
    return data, "+".join(names)
