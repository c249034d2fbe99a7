"""Handover with a stock client, association by hostapd (tools/lab/netns_lab.py):
after each roam the new access point has told the mobile node (stock ARP
settings) where its gateway and its correspondent are, so its first packet
after the registration goes to the new access point; and one TCP stream
survives 20 roams with no reset and every byte delivered (its longest stall is
printed, and measured by tools/bench/handover_bench.py, not asserted). Root
only; about 30 s."""

from __future__ import annotations

import json
import select
import subprocess
import time

import pytest

from conftest import require_root, require_tool

PORT = 9007


@pytest.fixture(scope="module")
def lab():
    require_root()
    require_tool("hostapd")
    require_tool("wpa_supplicant")
    from tools.lab.netns_lab import NetnsLab

    lab = NetnsLab(reverse_tunnel=True)
    lab.start()
    try:
        yield lab
    finally:
        lab.close()


def _line(process: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "no answer in time"
    return process.stdout.readline().strip()


def _mac(lab, ns: str, ifname: str) -> str:
    return lab.namespaces.ns(ns).get_links(lab.namespaces.index(ns, ifname))[0].get_attr("IFLA_ADDRESS")


def _neighbour(lab, address: str) -> str | None:
    rows = json.loads(lab.namespaces.check("mn", ["ip", "-j", "neigh", "show", address]) or "[]")
    return rows[0].get("lladdr") if rows else None


def _other(ap: str) -> str:
    return "ap-b" if ap == "ap-a" else "ap-a"


def test_first_packet_after_each_roam_goes_to_the_new_access_point(lab) -> None:
    from tools.lab.netns_lab import CN, HA, MN

    # Stock ARP settings: the kernel's defaults, untouched by the lab.
    assert lab.namespaces.check("mn", ["sysctl", "-n", "net.ipv4.neigh.wlan0.retrans_time_ms",
                                       "net.ipv4.conf.wlan0.arp_accept"]).split() == ["1000", "0"]
    ap = lab.mn_at
    lab.associate(ap)
    lab.wait(lambda: lab.settled_at("fa-" + ap[-1]), timeout=10, what="registration")
    # Traffic through the gateway (198.51.100.1 is off the home network: the
    # HA's uplink), every 10 ms, across the roams.
    probe = lab.namespaces.python("mn", "tools.lab.traffic", "probe", "--source", MN,
                                  "--destination", "198.51.100.1", "--interval", "0.01",
                                  "--duration", "6", stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    for _ in range(4):
        to = _other(lab.mn_at)
        before = lab.interception_counters(to)
        lab.roam(to)
        lab.wait(lambda: lab.settled_at("fa-" + to[-1]), timeout=10, what=f"registration at {to}")
        time.sleep(0.4)
        after = lab.interception_counters(to)
        # Told at once where its gateway (the subnet map's default-gateway) is.
        assert after["announcements-sent"] > before["announcements-sent"], after
        # The client's packets after its registration went to the access
        # point's MAC. At most one crosses the registration (sent before it,
        # read by the access point just after: the frame queue and the
        # registration reply are read in either order); that one is corrected
        # and forwarded, not lost.
        crossing = after["corrections-sent"] - before["corrections-sent"]
        assert crossing <= 1, (before, after)
        assert after["packets-forwarded"] - before["packets-forwarded"] == crossing, after
        assert _neighbour(lab, HA) == _mac(lab, to, "wlan0")
    result = json.loads(probe.communicate(timeout=30)[0])
    assert len(result["replies"]) > 0.8 * result["sent"], result  # through the tunnels

    # An on-link home address the new access point never saw it use (the CN):
    # the first packet goes to the old MAC; the access point forwards it (not
    # lost) and corrects the client's entry at once.
    assert lab.ping("mn", MN, CN)["received"] == 3
    assert _neighbour(lab, CN) is not None  # learnt before the roam
    to = _other(lab.mn_at)
    lab.roam(to)
    lab.wait(lambda: lab.settled_at("fa-" + to[-1]), timeout=10, what=f"registration at {to}")
    before = lab.interception_counters(to)
    assert lab.ping("mn", MN, CN)["received"] == 3
    after = lab.interception_counters(to)
    assert after["packets-forwarded"] >= before["packets-forwarded"] + 1, after
    assert after["corrections-sent"] == before["corrections-sent"] + 1, after
    assert _neighbour(lab, CN) == _mac(lab, to, "wlan0")


def test_tcp_stream_survives_twenty_roams(lab) -> None:
    from tools.lab.netns_lab import CN, MN

    lab.wait(lambda: lab.settled_at("fa-" + lab.mn_at[-1]), timeout=10, what="registration")
    sink = lab.namespaces.python("cn", "tools.lab.traffic", "tcp-sink", "--address", CN,
                                 "--port", str(PORT), stdout=subprocess.PIPE, text=True)
    assert _line(sink, 10) == "listening"
    source = lab.namespaces.python("mn", "tools.lab.traffic", "tcp-source", "--source", MN,
                                   "--destination", CN, "--port", str(PORT), "--rate", "200",
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert _line(source, 10) == "connected"
    time.sleep(0.5)  # the stream under way before the first roam
    for _ in range(20):
        to = _other(lab.mn_at)
        lab.roam(to)
        lab.wait(lambda: lab.settled_at("fa-" + to[-1]), timeout=10, what=f"registration at {to}")
        time.sleep(0.2)
    time.sleep(0.5)
    source.stdin.close()
    sent = json.loads(_line(source, 30))
    received = json.loads(_line(sink, 30))
    print(f"TCP stream over 20 roams: {sent['bytes']} bytes, longest gap "
          f"{received['longest-gap-ms']} ms")
    assert sent["error"] is None and received["error"] is None, (sent, received)  # no reset
    assert received["bytes"] == sent["bytes"] > 0
    assert received["sha256"] == sent["sha256"]
