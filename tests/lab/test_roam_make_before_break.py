"""Make before break in the netns lab (tools/lab/netns_lab.py, association by
the control channel): the new access point is told of the association, then
the old one of the departure, a roam every ~0.1 s. The two access points
stamp their requests for the mobile node from their clocks (RFC 5944 §5.7.1):
the old one's deregistration, stamped later, often reaches the home agent
first and the new registration draws 133. Before the fix the proxy took the
home agent's whole seconds as its clock (up to 1 s back) and was refused
again, then backed off for a minute: the second roam never settled. Now each
roam settles at once, after at most one 133 and one retry
(tests/unit/test_proxy_roaming.py has the cases on virtual time). Root only;
about 20 s."""

from __future__ import annotations

import pytest

from conftest import require_root

ROAMS = 20


@pytest.fixture(scope="module")
def lab():
    require_root()
    from tools.lab.netns_lab import NetnsLab

    lab = NetnsLab(reverse_tunnel=True, association="control")
    lab.start()
    try:
        yield lab
    finally:
        lab.close()


def test_make_before_break_roams_each_settle_after_at_most_one_retry(lab) -> None:
    lab.associate("ap-a")
    lab.wait(lambda: lab.settled_at("fa-a"), timeout=10, what="registration at ap-a")
    for _ in range(ROAMS):
        to = "ap-b" if lab.mn_at == "ap-a" else "ap-a"
        lab.roam(to)
        lab.wait(lambda: lab.settled_at("fa-" + to[-1]), timeout=5, what=f"registration at {to}")
    counters = {ap: lab.control(ap, {"op": "state", "rows": False})["proxy"]["counters"]
                for ap in ("ap-a", "ap-b")}
    for ap, c in counters.items():
        assert c["registration-failures"] == 0, (ap, c)
        # One 133 per roam at most, each retried at once (the old access
        # point's deregistrations draw some of them too, taken as done).
        assert c["denied-due-to-identification"] <= ROAMS, (ap, c)
    assert sum(c["accepted"] for c in counters.values()) >= ROAMS + 1
