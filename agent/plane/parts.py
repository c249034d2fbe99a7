"""A configuration transaction larger than one frame, cut into parts and put
back together (``docs/architecture.md``, "Configuration transactions").

A full configuration is one ``ConfigChange`` entry (the top container) whose
value holds the big lists (100,000 host SAs: ~13 MB). Sent whole it would
hit the frame bound (16 MiB, ~130,000 SAs) and its decoding would hold the
control plane's loop for a second. So the management session moves the
items of every big JSON array of an entry's value into ``ConfigChangePart``
frames of about ``part_bytes`` each (``ConfigPiece``: which entry, the
member names down to the array, some of its items, in order), and the
``ConfigChange`` that follows carries the entries without those arrays. The
control session gathers the pieces and, on the ``ConfigChange``, puts each
array back where it was: its callers see the same entries as without parts.

Cutting is pure and schema-free (the sessions know no YANG): any array of a
container member may be cut, and the receiver checks that each piece lands
in a container of the entry that does not already hold that member.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgpack  # type: ignore[import-untyped]

from agent.plane import messages as m

#: About this many bytes of items per part: a part decodes (and is checked
#: field by field) in ~5 ms on the 2-vCPU machine of docs/performance.md, so
#: the control plane's loop is never held longer than that per frame.
PART_BYTES = 64 << 10
#: Arrays shorter than this are never cut (not worth measuring).
MIN_CUT_ITEMS = 64


class PartsError(ValueError):
    """The pieces do not fit the entries they were sent for."""


def split(changes: tuple[m.ConfigChangeEntry, ...], part_bytes: int = PART_BYTES
          ) -> tuple[list[tuple[m.ConfigPiece, ...]], tuple[m.ConfigChangeEntry, ...]]:
    """The parts to send before the ``ConfigChange`` (each a tuple of pieces),
    and that message's entries. Nothing is cut when nothing is big: then the
    parts are empty and the entries are ``changes`` itself."""
    pieces: list[m.ConfigPiece] = []
    final: list[m.ConfigChangeEntry] = []
    for index, entry in enumerate(changes):
        if isinstance(entry.value, dict):
            value, cut = _cut(entry.value, (), index, part_bytes)
            if cut:
                pieces.extend(cut)
                entry = m.ConfigChangeEntry(entry.kind, entry.path, value, entry.old)
        final.append(entry)
    if not pieces:
        return [], changes
    return [(piece,) for piece in pieces], tuple(final)


def _cut(value: dict[str, Any], location: tuple[str, ...], index: int, part_bytes: int
         ) -> tuple[dict[str, Any], list[m.ConfigPiece]]:
    """``value`` without its big arrays (a copy where something was cut), and
    their items as pieces."""
    pieces: list[m.ConfigPiece] = []
    out: dict[str, Any] | None = None
    for name, member in value.items():
        where = (*location, name)
        if isinstance(member, dict):
            inner, cut = _cut(member, where, index, part_bytes)
            if cut:
                pieces.extend(cut)
                out = dict(value) if out is None else out
                out[name] = inner
        elif isinstance(member, list) and len(member) >= MIN_CUT_ITEMS:
            size = len(msgpack.packb(member))
            if size <= part_bytes:
                continue
            per_part = max(1, len(member) * part_bytes // size)
            pieces.extend(m.ConfigPiece(index, where, tuple(items))
                          for items in _chunks(member, per_part))
            out = dict(value) if out is None else out
            del out[name]
    return (value if out is None else out), pieces


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def item_count(parts: list[tuple[m.ConfigPiece, ...]]) -> int:
    """How many array items a transaction sends in parts: what makes its
    change phase long (each is a list entry to check and build)."""
    return sum(len(piece.items) for pieces in parts for piece in pieces)


class Assembly:
    """The pieces of one transaction received so far."""

    def __init__(self, transaction: int) -> None:
        self.transaction = transaction
        self.pieces: list[m.ConfigPiece] = []
        self.items = 0

    def add(self, pieces: tuple[m.ConfigPiece, ...]) -> None:
        self.pieces.extend(pieces)
        self.items += sum(len(piece.items) for piece in pieces)

    def finish(self, changes: tuple[m.ConfigChangeEntry, ...]) -> tuple[m.ConfigChangeEntry, ...]:
        """The entries with every piece put back (the values of ``changes``,
        decoded for this transaction alone, are completed in place). A piece
        for an entry that is not there, below something that is not a
        container, or onto a member the entry already holds raises
        ``PartsError``."""
        rebuilt: set[tuple[int, tuple[str, ...]]] = set()
        for piece in self.pieces:
            if piece.entry >= len(changes) or not piece.location:
                raise PartsError(f"a piece for entry {piece.entry} of {len(changes)}")
            node = changes[piece.entry].value
            for name in piece.location[:-1]:
                node = node.get(name) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                raise PartsError(f"a piece below a non-container: {'/'.join(piece.location)}")
            name = piece.location[-1]
            key = (piece.entry, piece.location)
            if key not in rebuilt:
                if name in node:
                    raise PartsError(f"a piece onto a member the entry holds: {'/'.join(piece.location)}")
                node[name] = []
                rebuilt.add(key)
            node[name].extend(piece.items)
        return changes
