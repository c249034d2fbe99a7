"""How long a startup configuration with many host SAs, or a large proxy subnet
map, takes to load.

A timing check, not a test: ``python3 tools/bench/config_load.py [count]``. Builds an
RFC 7951 document with ``count`` host SAs (default 10,000), once as single addresses
and once as 4-address ranges (each range runs the YANG ``must`` that compares the
two addresses), and loads it through ``load_config_text`` (libyang validation plus
building the SA table). Then a proxy with ``10 * count`` subnet-map entries (/24
prefixes, 250 home agents; 100,000 by default). Prints the best of five runs.
"""

from __future__ import annotations

import json
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.config.loader import load_config_text

KEY = "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"
FIRST = int(IPv4Address("10.0.0.0"))
RUNS = 5


def document(count: int, *, ranges: bool) -> str:
    hosts = []
    for index in range(count):
        low = FIRST + 4 * index
        entry: dict[str, object] = {"address": str(IPv4Address(low)), "spi": 256, "key-hex": KEY}
        if ranges:
            entry["last-address"] = str(IPv4Address(low + 3))
        hosts.append(entry)
    return json.dumps(
        {
            "proxy-mobile-ip:mobile-ip": {
                "home-agent": {"address": "10.255.0.1"},
                "security": {"host": hosts},
            }
        }
    )


def subnet_map_document(count: int) -> str:
    entries = [
        {
            "prefix": f"{IPv4Address(FIRST + 256 * index)}/24",
            "home-agent": f"192.0.2.{index % 250 + 1}",
        }
        for index in range(count)
    ]
    return json.dumps({"proxy-mobile-ip:mobile-ip": {"proxy": {}, "subnet-map": entries}})


def best_time(text: str, count: int, *, subnet_map: bool = False) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        config = load_config_text(text, "json")
        timings.append(time.perf_counter() - started)
        if subnet_map:
            assert config.proxy is not None and len(config.proxy.subnet_map) == count
        else:
            assert len(config.host_associations) == count
    return min(timings)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    for ranges in (False, True):
        seconds = best_time(document(count, ranges=ranges), count)
        shape = "address ranges" if ranges else "single addresses"
        print(f"{count:,} host SAs as {shape}: {seconds * 1000:.0f} ms (best of {RUNS})")
    entries = 10 * count
    seconds = best_time(subnet_map_document(entries), entries, subnet_map=True)
    print(f"{entries:,} subnet-map entries: {seconds * 1000:.0f} ms (best of {RUNS})")


if __name__ == "__main__":
    main()
