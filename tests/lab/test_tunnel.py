"""The userspace IP-in-IP tunnel between two namespaces: traffic crosses it both
ways, spoofed IP-in-IP is dropped and counted, and closing removes the devices
and routes. Root only (see tests/conftest.py require_root)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import require_root


@pytest.fixture
def pair():
    require_root()
    from tools.lab.dataplane_helper import tunnel_pair
    from tools.lab.netns import Namespaces

    with Namespaces() as ns:
        a, b = tunnel_pair(ns)
        yield ns, a, b


def _ping(ns, short: str, source: str, destination: str, count: int = 3) -> dict:
    out = ns.check(short, [sys.executable, "-m", "tools.lab.traffic", "ping", "--source", source,
                           "--destination", destination, "--count", str(count),
                           "--interval", "0.05", "--timeout", "2"], timeout=20)
    return json.loads(out)


def test_traffic_crosses_the_tunnel_both_ways(pair) -> None:
    ns, a, b = pair
    result = _ping(ns, "a", "192.0.2.1", "203.0.113.1")
    assert result["received"] == 3, result
    counters_a, counters_b = a.call("counters"), b.call("counters")
    # Echo requests encapsulated at A and decapsulated at B; replies the other way.
    assert counters_a["encapsulated"] >= 3 and counters_a["decapsulated"] >= 3
    assert counters_b["encapsulated"] >= 3 and counters_b["decapsulated"] >= 3
    assert counters_b["unknown_endpoint_dropped"] == 0


def test_outer_header_follows_rfc_2003(pair) -> None:
    """Capture at B's veth: outer protocol 4, TTL 64, outer addresses are the
    endpoints, DF copied from the inner header."""
    ns, _, _ = pair
    capture = ns.python("b", "tests.lab.capture_ipip", "b0", "1",
                        stdout=subprocess.PIPE, text=True)
    try:
        line = capture.stdout.readline()  # "armed"
        assert line.strip() == "armed"
        _ping(ns, "a", "192.0.2.1", "203.0.113.1", count=1)
        outer = json.loads(capture.stdout.readline())
    finally:
        ns.stop(capture)
    assert outer["protocol"] == 4 and outer["ttl"] == 64
    assert outer["source"] == "198.51.100.1" and outer["destination"] == "198.51.100.2"
    assert outer["inner_source"] == "192.0.2.1"
    assert outer["df"] == outer["inner_df"]


def test_spoofed_outer_source_is_dropped_and_counted(pair) -> None:
    ns, _, b = pair
    before = b.call("counters")
    ns.check("a", [sys.executable, "-m", "tools.lab.traffic", "spoof",
                   "--outer-source", "198.51.100.99", "--outer-destination", "198.51.100.2",
                   "--inner-source", "192.0.2.1", "--inner-destination", "203.0.113.1",
                   "--count", "5"])
    # The drops are counted when B's event loop has read them: ask until seen.
    import time

    deadline = time.monotonic() + 5
    while True:
        after = b.call("counters")
        if after["unknown_endpoint_dropped"] - before["unknown_endpoint_dropped"] >= 5:
            break
        assert time.monotonic() < deadline, after
        time.sleep(0.02)
    assert after["decapsulated"] == before["decapsulated"]


def test_close_removes_devices_and_routes(pair) -> None:
    ns, a, _ = pair
    assert ns.ns("a").link_lookup(ifname="pmipc6336402")  # 198.51.100.2
    final = a.close()
    assert "encapsulated" in final
    assert not ns.ns("a").link_lookup(ifname="pmipc6336402")
    routes = [r.get_attr("RTA_DST") for r in ns.ns("a").get_routes(family=2)]
    assert "203.0.113.1" not in routes
