"""NETCONF end to end (issue: NETCONF, item 6): ncclient configures a running
access point and the network follows — an edit of the subnet map makes waiting
visitors register with the home agent, and the bindings show in the home
agent's <get>."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree

from agent.lab import HA, NETCONF_USER, LoopbackLab, home_network, wait_for
from tests.conftest import require_module

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"


@contextlib.contextmanager
def netconf(host: str, port: int) -> Iterator[Any]:
    require_module("ncclient")
    from ncclient import manager
    from ncclient.transport import session as nc_session

    nc_session.TICK = 0.005  # stock ncclient sleeps 100 ms per request
    with manager.connect(host=host, port=port, username=NETCONF_USER[0], password=NETCONF_USER[1],
                         hostkey_verify=False, look_for_keys=False, allow_agent=False,
                         timeout=20) as session:
        yield session


class Background:
    """The lab runs on its own event loop thread; the test talks NETCONF with
    ncclient (blocking) from the main thread."""

    def __init__(self, lab: LoopbackLab) -> None:
        self.lab = lab
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Background:
        self.thread.start()
        try:
            self.run(self.lab.start())
        except BaseException:
            self.__exit__()
            raise
        return self

    def run(self, coroutine: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.lab.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            if not self.thread.is_alive():  # its sockets (the self-pipe) closed too
                self.loop.close()


def test_subnet_map_edit_over_netconf_makes_visitors_register() -> None:
    lab = LoopbackLab(clients=4, netconf=True)
    with Background(lab) as bg:
        ap = lab.processes["ap-a"]
        ha = lab.processes["ha"]
        prefix = str(home_network(lab.clients))
        with netconf("127.0.0.4", ap.netconf_port) as ap_session:
            assert any("proxy-mobile-ip" in c for c in ap_session.server_capabilities)
            # Start without the subnet-map entry: associated clients wait.
            ap_session.edit_config(target="running", config=f"""
              <config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
                <mobile-ip xmlns="{NS}">
                  <subnet-map xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete">
                    <prefix>{prefix}</prefix>
                  </subnet-map>
                </mobile-ip>
              </config>""")
            for i in range(lab.clients):
                bg.run(lab.associate("ap-a", i))

            async def states() -> set[str]:
                return {v["state"] for v in (await lab.state("ap-a"))["proxy"]["visitor"]}

            async def all_waiting() -> bool:
                return await states() == {"no-home-agent"}

            bg.run(wait_for(all_waiting))
            # The orchestrator adds the home network: every client registers.
            ap_session.edit_config(target="running", config=f"""
              <config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
                <mobile-ip xmlns="{NS}">
                  <subnet-map><prefix>{prefix}</prefix><home-agent>{HA}</home-agent></subnet-map>
                </mobile-ip>
              </config>""")

            async def all_registered() -> bool:
                return await states() == {"registered"}

            bg.run(wait_for(all_registered))
            # The AP's own view over NETCONF.
            reply = ap_session.get(filter=("subtree", f"""
              <mobile-ip xmlns="{NS}"><proxy-state><visitor><state/></visitor></proxy-state></mobile-ip>"""))
            states_seen = [e.text for e in etree.fromstring(reply.xml.encode()).iter(f"{{{NS}}}state")]
            assert states_seen == ["registered"] * lab.clients
        with netconf("127.0.0.2", ha.netconf_port) as ha_session:
            reply = ha_session.get(filter=("subtree", f"""
              <mobile-ip xmlns="{NS}"><home-agent-state><binding/></home-agent-state></mobile-ip>"""))
            root = etree.fromstring(reply.xml.encode())
            homes = sorted(e.text for e in root.iter(f"{{{NS}}}home-address"))
            assert len(homes) == lab.clients
            care_of = {e.text for e in root.iter(f"{{{NS}}}care-of-address")}
            assert care_of == {"127.0.0.3"}
            # Errors come back as <rpc-error> with the path (RFC 6241 Appendix A).
            from ncclient.operations.rpc import RPCError

            with pytest.raises(RPCError) as caught:
                ha_session.edit_config(target="running", config=f"""
                  <config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
                    <mobile-ip xmlns="{NS}"><home-agent><max-lifetime>0</max-lifetime></home-agent></mobile-ip>
                  </config>""")
            assert caught.value.tag == "invalid-value"
            assert "max-lifetime" in (caught.value.path or "")
