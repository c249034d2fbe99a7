"""A set of keys kept in sorted order as it changes: the mirror's index for
readers that walk a table in key order (SNMP GETNEXT/GETBULK).

Blocked like ``sortedcontainers.SortedList`` (a list of sorted blocks of at
most ``2 * load`` keys plus each block's largest key), in the standard
library only: an insert or delete costs a bisect over the block maxima and a
shift inside one block, O(log n + load), instead of a memmove of the whole
key list; ``after``/``from_`` are two bisects.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from typing import Any

Key = tuple[Any, ...]
LOAD = 512


class SortedKeys:
    def __init__(self, keys: Iterable[Key] = (), *, load: int = LOAD) -> None:
        self._load = load
        ordered = sorted(set(keys))
        self._blocks: list[list[Key]] = [ordered[i:i + load] for i in range(0, len(ordered), load)]
        self._maxes: list[Key] = [block[-1] for block in self._blocks]
        self._length = len(ordered)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[Key]:
        for block in self._blocks:
            yield from block

    def add(self, key: Key) -> None:
        """Insert ``key`` (a key already present is left as it is)."""
        maxes, blocks = self._maxes, self._blocks
        if not maxes:
            blocks.append([key])
            maxes.append(key)
            self._length = 1
            return
        position = bisect_left(maxes, key)
        if position == len(maxes):  # beyond the largest key: the last block
            position -= 1
            blocks[position].append(key)
            maxes[position] = key
        else:
            block = blocks[position]
            at = bisect_left(block, key)
            if block[at] == key:
                return
            block.insert(at, key)
        self._length += 1
        block = blocks[position]
        if len(block) > 2 * self._load:  # split in two
            half = block[self._load:]
            del block[self._load:]
            blocks.insert(position + 1, half)
            maxes[position] = block[-1]
            maxes.insert(position + 1, half[-1])

    def discard(self, key: Key) -> None:
        """Remove ``key`` if present."""
        maxes = self._maxes
        position = bisect_left(maxes, key)
        if position == len(maxes):
            return
        block = self._blocks[position]
        at = bisect_left(block, key)
        if block[at] != key:
            return
        del block[at]
        self._length -= 1
        if not block:
            del self._blocks[position]
            del maxes[position]
        elif at == len(block):
            maxes[position] = block[-1]

    def after(self, bound: Key | None) -> Key | None:
        """The smallest key greater than ``bound`` (the first key if None)."""
        if bound is None:
            return self._blocks[0][0] if self._blocks else None
        position = bisect_right(self._maxes, bound)
        if position == len(self._maxes):
            return None
        block = self._blocks[position]
        return block[bisect_right(block, bound)]

    def from_(self, bound: Key) -> Key | None:
        """The smallest key greater than or equal to ``bound``."""
        position = bisect_left(self._maxes, bound)
        if position == len(self._maxes):
            return None
        block = self._blocks[position]
        return block[bisect_left(block, bound)]

