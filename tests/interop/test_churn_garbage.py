"""Churn through the running roles leaves no cyclic garbage (issue 15 item 5):
a home agent, a foreign agent and a proxy access point (agent.runtime.Agent,
the configurations of ``proxymip lab``) in one process on loopback; 200
clients associate, register, leave and deregister, twice, with the cyclic
collector off. Whatever the departures released (visitors, bindings, their
events and notifications, the datagrams) was freed by reference counting:
a collection afterwards finds nothing unreachable. Client events are fed as
hostapd's monitor feeds them (the control channel's asyncio transports are
cyclic by themselves; agent/aio/gc_policy.py collects them before freezing)."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable

from agent.access.events import ClientAssociated, ClientDisassociated
from agent.config.loader import load_config_text
from agent.lab import ap_config, client_address, client_mac, fa_config, ha_config
from agent.runtime import Agent

CLIENTS = 200


async def _until(predicate: Callable[[], bool]) -> bool:
    for _ in range(500):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


def test_registrations_and_departures_leave_no_cyclic_garbage() -> None:
    async def run() -> None:
        home = Agent(load_config_text(json.dumps(ha_config(CLIENTS)), "json"))
        await home.start()
        ha_port = home.runners["home-agent"].local_address[1]
        config = fa_config("fa-a", CLIENTS)
        config["proxy-mobile-ip:mobile-ip"]["foreign-agent"]["home-agent-port"] = ha_port
        foreign = Agent(load_config_text(json.dumps(config), "json"))
        await foreign.start()
        fa_port = foreign.runners["foreign-agent"].local_address[1]
        access = Agent(load_config_text(json.dumps(ap_config("ap-a", CLIENTS, fa_port, ha_port, 600)),
                                        "json"))
        await access.start()
        assert home.home_agent and foreign.foreign_agent and access.proxy
        try:
            gc.collect()
            gc.disable()
            for _ in range(2):
                for index in range(CLIENTS):
                    access.client_event(ClientAssociated(client_mac(index), "wlan0",
                                                         client_address(CLIENTS, index)))
                assert await _until(lambda: access.proxy.registered_count == CLIENTS)
                assert home.home_agent.binding_count == CLIENTS
                for index in range(CLIENTS):
                    access.client_event(ClientDisassociated(client_mac(index)))
                assert await _until(lambda: not access.proxy.visitors()
                                    and foreign.foreign_agent.visitor_count == 0
                                    and home.home_agent.binding_count == 0)
            assert gc.collect() == 0
        finally:
            gc.enable()
            for agent in (access, foreign, home):
                await agent.close(deregister=False)

    asyncio.run(run())
