"""Configuration changes take effect live, with no restart (issue: datastore,
item 4), through the running agents' control channels on the loopback lab:
removing the subnet-map entry deregisters the clients it covered, adding it back
makes the waiting clients register; an edit that breaks a rule (overlapping SA
ranges) is refused with nothing changed; a new lifetime is used at the next
registration."""

from __future__ import annotations

import asyncio
from typing import Any

from agent.lab import HA, LoopbackLab, agreement, home_network, wait_for


def test_subnet_map_and_sa_edits_take_effect_live() -> None:
    async def run() -> None:
        async with LoopbackLab(clients=10) as lab:
            prefix = str(home_network(lab.clients))
            for i in range(lab.clients):
                await lab.associate("ap-a", i)

            async def bindings(expected: int) -> bool:
                snap = await lab.snapshot()
                return len(snap["ha"]) == expected and not agreement(snap)

            await wait_for(lambda: bindings(10))

            async def edit(ap: str, *edits: dict[str, Any]) -> dict[str, Any]:
                return await lab.control_raw(ap, {"op": "edit-config", "edits": list(edits)})

            # Remove the subnet-map entry: every client loses its home agent and
            # is deregistered (Lifetime 0) through the FA.
            answer = await edit("ap-a", {"operation": "delete",
                                         "path": f"/mobile-ip/subnet-map[prefix='{prefix}']"})
            assert answer.get("ok"), answer
            await wait_for(lambda: bindings(0))
            states = {v["state"] for v in (await lab.state("ap-a"))["proxy"]["visitor"]}
            assert states == {"no-home-agent"}

            # Put it back: the waiting clients register again.
            answer = await edit("ap-a", {"operation": "create",
                                         "path": f"/mobile-ip/subnet-map[prefix='{prefix}']",
                                         "value": {"home-agent": HA}})
            assert answer.get("ok"), answer
            await wait_for(lambda: bindings(10))

            # An overlapping SA range is vetoed by the engine: operation-failed,
            # and running is unchanged.
            before = await lab.control_raw("ap-a", {"op": "get-config"})
            answer = await edit("ap-a", {"operation": "merge",
                                         "path": "/mobile-ip/security/host[address='192.0.2.100'][spi='999']",
                                         "value": {"last-address": "192.0.2.120",
                                                   "key-hex": "00112233445566778899aabbccddeeff"}})
            assert answer.get("error-tag") == "operation-failed", answer
            assert "overlap" in answer["error"]
            assert await lab.control_raw("ap-a", {"op": "get-config"}) == before
            # A schema violation is invalid-value with the path.
            answer = await edit("ap-a", {"operation": "merge", "path": "/mobile-ip/proxy",
                                         "value": {"lifetime": 0}})
            assert answer.get("error-tag") == "invalid-value", answer
            assert "/proxy/lifetime" in answer["error-path"]

            # A new lifetime is used from the next registration on.
            answer = await edit("ap-a", {"operation": "merge", "path": "/mobile-ip/proxy",
                                         "value": {"lifetime": 300}})
            assert answer.get("ok"), answer
            await lab.disassociate("ap-a", 0)
            await wait_for(lambda: bindings(9))
            await lab.associate("ap-a", 0)
            await wait_for(lambda: bindings(10))
            visitor = next(v for v in (await lab.state("ap-a"))["proxy"]["visitor"]
                           if v["mac"] == "02:00:00:00:00:00")
            assert visitor["lifetime-granted"] == 300

            # Removing the SA deregisters the clients it covered (the proxy still
            # holds the SA it registered with, so it can authenticate that).
            config = (await lab.control_raw("ap-a", {"op": "get-config"}))["data"]
            host = config["proxy-mobile-ip:mobile-ip"]["security"]["host"][0]
            answer = await edit("ap-a", {"operation": "delete",
                                         "path": f"/mobile-ip/security/host[address='{host['address']}'][spi='{host['spi']}']"})
            assert answer.get("ok"), answer
            await wait_for(lambda: bindings(0))

    asyncio.run(run())


def test_disabling_the_proxy_role_deregisters_and_stops_it() -> None:
    """Deleting the proxy container stops the role cleanly: its clients are
    deregistered first (no binding outlives the AP), then its socket closes."""

    async def run() -> None:
        async with LoopbackLab(clients=5) as lab:
            for i in range(lab.clients):
                await lab.associate("ap-a", i)

            async def bindings(expected: int) -> bool:
                return len((await lab.snapshot())["ha"]) == expected

            await wait_for(lambda: bindings(5))
            answer = await lab.control_raw("ap-a", {"op": "edit-config", "edits": [
                {"operation": "delete", "path": "/mobile-ip/proxy"}]})
            assert answer.get("ok"), answer
            await wait_for(lambda: bindings(0))
            state = await lab.state("ap-a")
            assert "proxy" not in state
            refused = await lab.control_raw("ap-a", {"op": "associate", "mac": "02:00:00:00:09:09",
                                                     "address": "192.0.2.99"})
            assert "not running" in refused["error"]

    asyncio.run(run())
