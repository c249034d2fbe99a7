"""The three roles end to end on loopback (issue: proxy role, item 7-8): an HA,
two FAs and two proxy APs as separate processes; clients associate, move and
leave through the APs' control sockets, and the HA's bindings, the FAs' visitors
and the APs' registered clients must agree exactly at every step."""

from __future__ import annotations

import asyncio
import io

import pytest

from agent.lab import FOREIGN_AGENTS, LoopbackLab, agreement, client_address, scenario, wait_for


def test_bindings_visitors_and_registrations_agree_through_churn() -> None:
    async def run() -> dict[str, object]:
        async with LoopbackLab(clients=60) as lab:
            return await scenario(lab, out=io.StringIO(), timeout=60)

    report = asyncio.run(run())
    assert report["associated"] == [] and report["moved"] == [] and report["left"] == []
    # Moved clients are registered with FA-B's care-of address, and only there.
    assert report["moved-care-of"] == [FOREIGN_AGENTS["fa-b"]]
    assert report["left-empty"] is True


@pytest.mark.parametrize("restarted", ["ha", "fa-a"])
def test_agent_restart_is_recovered_by_reregistration(restarted: str) -> None:
    """A rebooted HA (or FA) forgets its bindings (visitors); the APs re-register
    before the lifetime ends, so the state is rebuilt without the clients doing
    anything (RFC 5944 §3.6.1: re-registration before expiry)."""

    async def run() -> None:
        async with LoopbackLab(clients=20, lifetime=4) as lab:
            for i in range(lab.clients):
                await lab.associate("ap-a", i)

            async def all_registered() -> bool:
                snap = await lab.snapshot()
                return len(snap["ha"]) == lab.clients and not agreement(snap)

            await wait_for(all_registered, timeout=30)
            await lab.restart(restarted)
            role = "home-agent" if restarted == "ha" else "foreign-agent"
            fresh = (await lab.state(restarted))[role]
            assert fresh.get("binding", fresh.get("visitor")) == []  # state lost
            await wait_for(all_registered, timeout=30)  # and rebuilt within a lifetime
            snap = await lab.snapshot()
            assert {h for h, _ in snap["ha"]} == {
                str(client_address(lab.clients, i)) for i in range(lab.clients)
            }

    asyncio.run(run())
