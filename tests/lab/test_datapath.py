"""Mobile IP end to end across network namespaces (tools/lab/netns_lab.py):
the mobile node at foreign network A reaches the correspondent node with its
home address (ICMP and TCP), roams to B with the same TCP connection alive (the
CN sees one peer address throughout), deregistration leaves no tunnel, route,
rule or proxy ARP entry anywhere, and IP-in-IP from a non-endpoint is dropped
and counted. Reverse tunnelling (RFC 3024) is on. Root only; bounded by hard
timeouts (about 15 s in all)."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time

import pytest

from conftest import require_root

ECHO_PORT = 7


@pytest.fixture(scope="module")
def lab():
    require_root()
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


def _leftovers(lab, name: str) -> list[str]:
    """What of the data plane is still in namespace ``name`` (pyroute2, and
    ``ip neigh show proxy`` for proxy entries)."""
    ns = lab.namespaces.ns(name)
    found = [f"link {link.get_attr('IFLA_IFNAME')}" for link in ns.get_links()
             if link.get_attr("IFLA_IFNAME").startswith("pmip")]
    for table in (254, 100):
        found += [f"route {r.get_attr('RTA_DST')} table {table}"
                  for r in ns.get_routes(family=2, table=table)
                  if r.get_attr("RTA_DST") == "192.0.2.10" or (table == 100 and r["dst_len"] == 0)]
    found += [f"rule {r.get_attr('FRA_SRC')}" for r in ns.get_rules(family=2)
              if r.get_attr("FRA_PRIORITY") == 1000]
    proxies = json.loads(lab.namespaces.check(name, ["ip", "-j", "neigh", "show", "proxy"]) or "[]")
    found += [f"proxy {p['dst']}" for p in proxies]
    return found


def _diagnostics(lab) -> dict:
    out: dict = {name: lab.data_plane_counters(name) for name in lab.data_planes()}
    for name, argv in (("mn", ["ip", "neigh"]), ("fa-b", ["ip", "neigh"]), ("fa-b", ["ip", "rule"]),
                       ("ha", ["ip", "route"]), ("fa-b", ["ip", "route", "show", "table", "all"]),
                       ("mn", ["ip", "-s", "link"]), ("mn", ["ss", "-tin"])):
        try:
            out[f"{name}: {' '.join(argv)}"] = lab.namespaces.check(name, argv)
        except Exception as exc:
            out[f"{name}: {' '.join(argv)}"] = str(exc)
    out["ha-state"] = lab.data_plane_state("ha")
    out["fa-b-state"] = lab.data_plane_state("fa-b")
    return out


def test_register_roam_and_deregister(lab) -> None:
    from tools.lab.netns_lab import CARE_OF, CN, MN

    server = lab.namespaces.python("cn", "tools.lab.traffic", "echo-server", "--address", CN,
                                   "--port", str(ECHO_PORT), stdout=subprocess.PIPE, text=True)
    assert _line(server, 10) == "listening"

    # -- agent discovery: AP-A hears FA-A's advertisements (ICMP, TTL 1) ---------------------
    def heard(ap: str) -> list[dict]:
        return lab.control(ap, {"op": "state"})["proxy"].get("foreign-agent", [])

    lab.wait(lambda: heard("ap-a") and heard("ap-b"), timeout=5, what="advertisements heard")
    fa_a_heard = heard("ap-a")
    # One advertiser per access link: TTL 1 keeps FA-B's off network A.
    assert [f["address"] for f in fa_a_heard] == ["203.0.113.1"], fa_a_heard
    assert fa_a_heard[0]["care-of-address"] == [CARE_OF["fa-a"]]
    assert [f["address"] for f in heard("ap-b")] == ["203.0.113.129"]

    # -- at foreign network A ------------------------------------------------------------
    lab.associate("ap-a")
    lab.wait(lambda: lab.settled_at("fa-a"), timeout=10, what="registration at A")
    assert lab.binding() == CARE_OF["fa-a"]
    ha = lab.data_plane_state("ha")
    assert ha["proxy-arp"] == ["192.0.2.10 dev br-home"]
    # RFC 5944 §4.6: one gratuitous ARP on the home link, counted by the home
    # agent (haGratuitiousARPsSent, RFC 2006).
    assert ha["counters"]["gratuitous-arps"] == 1
    ha_counters = lab.control("ha", {"op": "state", "rows": False})["home-agent"]["counters"]
    assert ha_counters["gratuitous-arps-sent"] == 1
    fa_a = lab.data_plane_state("fa-a")
    assert "0.0.0.0/0 table 100 dev pmipc0000201" in fa_a["routes"]  # reverse tunnel to the HA
    assert fa_a["rules"] == ["from 192.0.2.10 iif acc0 table 100 pref 1000"]
    # What the leftover check looks for is there while registered.
    assert set(_leftovers(lab, "ha")) == {"link pmipc6336406", "route 192.0.2.10 table 254",
                                          "proxy 192.0.2.10"}
    assert set(_leftovers(lab, "fa-a")) == {"link pmipc0000201", "route 192.0.2.10 table 254",
                                            "route None table 100", "rule 192.0.2.10"}
    ping = lab.ping("mn", MN, CN)
    assert ping["received"] == 3, ping
    # The CN forgets what the gratuitous ARP told it, ARPs for the home address
    # on the home link, and the HA's proxy entry answers (RFC 5944 §4.6),
    # counted as haProxyARPsSent (RFC 2006).
    lab.namespaces.check("cn", ["ip", "neigh", "flush", "to", MN])
    assert lab.ping("mn", MN, CN)["received"] == 3
    lab.wait(lambda: lab.control("ha", {"op": "state", "rows": False})["home-agent"]["counters"]
             ["proxy-arps-sent"] >= 1, timeout=5, what="a proxy ARP reply counted")

    client = lab.namespaces.python("mn", "tools.lab.traffic", "tcp-client", "--source", MN,
                                   "--destination", CN, "--port", str(ECHO_PORT),
                                   "--timeout", "3", stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
    assert _line(client, 10).startswith(f"connected {MN} ")
    client.stdin.write("before the move\n")
    client.stdin.flush()
    assert _line(client, 10) == "echo before the move"
    peer = _line(server, 5)
    assert peer.startswith(f"peer {MN} ")

    # -- roam to foreign network B: the same TCP connection keeps working ----------------
    lab.roam("ap-b")
    lab.wait(lambda: lab.settled_at("fa-b"), timeout=10, what="registration at B")
    lab.wait(lambda: not lab.data_plane_state("fa-a")["visitors"], timeout=10,
             what="FA-A forgetting the visitor")
    assert lab.binding() == CARE_OF["fa-b"]
    assert _leftovers(lab, "fa-a") == []
    answers = []
    for attempt in range(3):  # TCP may need a retransmission after the move
        client.stdin.write(f"after the move {attempt}\n")
        client.stdin.flush()
        answers.append(_line(client, 10))
        if answers[-1].startswith("echo"):
            break
    if not answers[-1].startswith("echo after the move"):
        for key, value in _diagnostics(lab).items():  # shown by pytest on failure
            print(f"--- {key}\n{value}")
    assert answers[-1].startswith("echo after the move"), answers
    ping = lab.ping("mn", MN, CN)
    assert ping["received"] == 3, ping
    # The CN saw one connection from the home address, and no other.
    ready, _, _ = select.select([server.stdout], [], [], 0.2)
    assert not ready, f"the CN saw another connection: {server.stdout.readline()}"

    # -- IP-in-IP from a node that is no tunnel endpoint ------------------------------------
    before = lab.data_plane_counters("ha")
    lab.namespaces.check("rt", [sys.executable, "-m", "tools.lab.traffic", "spoof",
                                "--outer-source", "198.51.100.2", "--outer-destination", "192.0.2.1",
                                "--inner-source", MN, "--inner-destination", CN, "--count", "5"])
    deadline = time.monotonic() + 5
    while lab.data_plane_counters("ha")["unknown_endpoint_dropped"] < \
            before["unknown_endpoint_dropped"] + 5:
        assert time.monotonic() < deadline, "spoofed IP-in-IP not counted"
        time.sleep(0.02)
    # From FA-A, no longer the care-of address: its tunnel is gone at the HA too.
    lab.namespaces.check("fa-a", [sys.executable, "-m", "tools.lab.traffic", "spoof",
                                  "--outer-source", CARE_OF["fa-a"], "--outer-destination", "192.0.2.1",
                                  "--inner-source", MN, "--inner-destination", CN, "--count", "2"])
    deadline = time.monotonic() + 5
    while lab.data_plane_counters("ha")["unknown_endpoint_dropped"] < \
            before["unknown_endpoint_dropped"] + 7:
        assert time.monotonic() < deadline, "IP-in-IP from the old care-of address not dropped"
        time.sleep(0.02)
    assert lab.data_plane_counters("ha")["decapsulated"] >= before["decapsulated"]

    client.stdin.close()
    lab.namespaces.stop(client)

    # -- deregistration removes tunnels and routes everywhere --------------------------------
    lab.disassociate("ap-b")
    lab.wait(lambda: lab.binding() is None, timeout=10, what="deregistration")
    lab.wait(lambda: not lab.data_plane_state("ha")["bindings"]
             and not lab.data_plane_state("fa-b")["visitors"], timeout=10,
             what="data planes following the deregistration")
    for name in ("ha", "fa-a", "fa-b"):
        assert _leftovers(lab, name) == [], name
    lab.namespaces.stop(server)


def test_data_plane_follows_live_configuration(lab) -> None:
    """The data-plane container edited live: removing it removes every tunnel,
    route and rule at once while the visitor stays registered; putting it back
    rebuilds them from the engine's visitors (what a restarted data plane does,
    DataPlane.restore); the tunnel backend in use is reported."""
    from tools.lab.netns_lab import CARE_OF, MN

    fa = "fa-b" if lab.mn_at == "ap-b" else "fa-a"
    lab.associate(lab.mn_at)
    lab.wait(lambda: lab.settled_at(fa), timeout=10, what="registration")
    assert lab.data_plane_state(fa)["backend"] == "userspace"  # this kernel has no ipip
    answer = lab.control(fa, {"op": "edit-config", "edits": [
        {"operation": "delete", "path": "/mobile-ip/data-plane"}]})
    assert answer.get("ok"), answer
    assert _leftovers(lab, fa) == []
    assert "data-plane" not in lab.control(fa, {"op": "state", "rows": False})
    assert lab.binding() == CARE_OF[fa]  # registration untouched
    answer = lab.control(fa, {"op": "edit-config", "edits": [
        {"operation": "create", "path": "/mobile-ip/data-plane",
         "value": {"access-interface": "acc0"}}]})
    assert answer.get("ok"), answer
    state = lab.data_plane_state(fa)
    assert MN in state["visitors"] and state["rules"], state
    ping = lab.ping("mn", MN, "192.0.2.100")
    assert ping["received"] == 3, ping
    lab.disassociate(lab.mn_at)
    lab.wait(lambda: lab.binding() is None and not lab.data_plane_state(fa)["visitors"],
             timeout=10, what="deregistration")
    assert _leftovers(lab, fa) == []


def test_agents_killed_and_restarted_rebuild_from_their_state(lab) -> None:
    """RFC 5944 §4.2.3 / §3.7.3.2 across a crash: an agent SIGKILLed (its TUN
    devices and the routes through them vanish with it) and started again
    takes its bindings / visitors back from its state checkpoint and rebuilds
    tunnels and routes. The home agent's restart is invisible to the access
    point (nothing is registered anew); the foreign agent's restarts its
    advertisement sequence at 0, so the access point re-registers through it
    (RFC 5944 §2.3.2, §2.4.2) — counted as a reboot — and traffic flows."""
    from tools.lab.netns_lab import CARE_OF, CN, MN

    ap = lab.mn_at
    fa = "fa-b" if ap == "ap-b" else "fa-a"
    lab.associate(ap)
    lab.wait(lambda: lab.settled_at(fa), timeout=10, what="registration")
    assert lab.ping("mn", MN, CN)["received"] == 3

    def counters() -> dict:
        return lab.control(ap, {"op": "state", "rows": False})["proxy"]["counters"]

    before = counters()
    time.sleep(0.3)  # the checkpoint interval is 0.1 s
    lab.crash_and_restart("ha")
    lab.wait(lambda: lab.settled_at(fa), timeout=10, what="HA state rebuilt after its restart")
    assert lab.binding() == CARE_OF[fa]
    assert lab.data_plane_state("ha")["proxy-arp"] == [f"{MN} dev br-home"]
    assert lab.ping("mn", MN, CN)["received"] == 3
    assert counters()["requests-sent"] == before["requests-sent"]  # nothing re-registered

    lab.crash_and_restart(fa)
    lab.wait(lambda: lab.settled_at(fa), timeout=10, what="FA state rebuilt after its restart")
    assert lab.ping("mn", MN, CN)["received"] == 3
    lab.wait(lambda: counters()["agent-reboots-detected"] == before["agent-reboots-detected"] + 1,
             timeout=5, what="the access point noticing the FA's reboot")
    lab.disassociate(ap)
    lab.wait(lambda: lab.binding() is None and not lab.data_plane_state(fa)["visitors"],
             timeout=10, what="deregistration")
    for name in ("ha", fa):
        assert _leftovers(lab, name) == [], name
