"""The proxy's subnet map: home network prefix -> home agent address, looked up by
longest prefix match (Cisco Aironet "subnet map table"; the AP "performs a
longest-match lookup on its subnet map table and obtains the home agent address").

Backed by pytricia (a C Patricia trie): a lookup is one C call on the packed
address (measured > 1 M lookups/s with 100,000 prefixes, docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

import pytricia


@dataclass(frozen=True, slots=True)
class SubnetMapEntry:
    prefix: IPv4Network
    home_agent: IPv4Address
    #: The clients' gateway on this home network, when configured: what the
    #: access point announces to a registered visitor (agent/access/intercept.py).
    default_gateway: IPv4Address | None = None


class SubnetMap:
    def __init__(self, entries: dict[IPv4Network, IPv4Address] | None = None) -> None:
        self._trie = pytricia.PyTricia(32)
        self._entries: dict[IPv4Network, IPv4Address] = {}
        #: Lookup of an address given as an int (``int(address)``, or
        #: ``int.from_bytes`` of the wire form): the trie's own C method, with
        #: no Python frame and no ``IPv4Address`` in between. pytricia is
        #: fastest with int keys (docs/performance.md).
        self.lookup_int: Callable[[int], SubnetMapEntry | None] = self._trie.get
        for prefix, home_agent in (entries or {}).items():
            self.add(prefix, home_agent)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, prefix: IPv4Network, home_agent: IPv4Address,
            default_gateway: IPv4Address | None = None) -> None:
        self._trie[str(prefix)] = SubnetMapEntry(prefix, home_agent, default_gateway)
        self._entries[prefix] = home_agent

    def remove(self, prefix: IPv4Network) -> None:
        if self._entries.pop(prefix, None) is not None:
            del self._trie[str(prefix)]

    def lookup(self, address: IPv4Address) -> SubnetMapEntry | None:
        """The entry with the longest prefix holding ``address``, or None."""
        entry: SubnetMapEntry | None = self._trie.get(int(address))
        return entry


    def entries(self) -> list[SubnetMapEntry]:
        return sorted(
            (SubnetMapEntry(p, h) for p, h in self._entries.items()),
            key=lambda e: (int(e.prefix.network_address), e.prefix.prefixlen),
        )
