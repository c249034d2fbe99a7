#!/usr/bin/env python3
"""The proxy engine's visitor life cycle, sans-IO, beside another revision's.

One ``ProxyAgent`` (static foreign agent, one SA for the home network) takes
N clients through a whole visit, in virtual time and without sockets:
association with an address -> Registration Request -> accepted reply ->
renewal timer -> renewal request -> accepted reply -> disassociation ->
deregistration -> reply -> visitor freed. The replies are built as a home
agent builds them (fixed part + MHAE, HMAC-MD5), the same way in both runs.

Reference, same run: the same workload on another revision's ``agent``
package (``--reference DIR``: a directory holding it, e.g. from ``git archive
<rev> agent | tar -x -C DIR``). Rounds alternate between the two (a
subprocess each, so that both import their own ``agent``), best of
``--rounds`` each; the figure is this tree's time per visit and its ratio to
the reference's. Nothing leaves the process: no traffic at all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _visits(clients: int) -> float:
    """Seconds for ``clients`` whole visits (imports the ``agent`` on sys.path)."""
    import random
    from ipaddress import IPv4Address, IPv4Network

    from agent.mobileip.numbers import ExtensionType
    from agent.mobileip.proxy import ProxyAgent, ProxySettings, StaticForeignAgent
    from agent.mobileip.registration import RegistrationReply, decode_request
    from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable, authenticate
    from agent.mobileip.subnet_map import SubnetMap

    home_network = IPv4Network("10.0.0.0/8")
    home_agent, foreign_agent = IPv4Address("192.0.2.1"), IPv4Address("198.51.100.1")
    sa = SecurityAssociation(spi=0x1001, key=bytes(range(16)))
    table = SecurityAssociationTable()
    table.add_range(home_network.network_address, home_network.broadcast_address, sa)
    proxy = ProxyAgent(
        ProxySettings(local_networks=(IPv4Network("198.51.100.0/24"),), lifetime=600,
                      foreign_agent=StaticForeignAgent(foreign_agent), max_outstanding=clients + 1,
                      max_visitors=clients + 1),
        subnet_map=SubnetMap({home_network: home_agent}), host_associations=table,
        rng=random.Random(1),
    )

    def answer(now: float) -> None:
        for transmit in proxy.datagrams_to_send():
            request = decode_request(transmit.data)
            header = RegistrationReply(0, request.lifetime, request.home_address, request.home_agent,
                                       request.identification).encode_header()
            reply = authenticate(header, ExtensionType.MOBILE_HOME_AUTHENTICATION, sa)
            proxy.receive_datagram(reply, foreign_agent, 434, now)
        while proxy.next_event() is not None:
            pass

    now = 1_800_000_000.0
    macs = [f"02:00:{i >> 24 & 255:02x}:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
            for i in range(clients)]
    addresses = [IPv4Address(int(home_network.network_address) + 1 + i) for i in range(clients)]
    started = time.perf_counter()
    for mac, address in zip(macs, addresses, strict=True):
        proxy.client_associated(mac, now, address=address, interface="wlan0")
    answer(now)
    renewal = proxy.get_timer()
    assert renewal is not None
    proxy.handle_timer(renewal)
    answer(renewal)
    for mac in macs:
        proxy.client_disassociated(mac, renewal + 1)
    answer(renewal + 1)
    elapsed = time.perf_counter() - started
    counters = proxy.counters
    assert counters.accepted == 2 * clients and counters.deregistrations == clients, counters
    assert proxy.visitors() == []
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reference", type=Path, required=False,
                        help="directory holding the reference revision's agent package")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_visits(args.clients)))
        return 0
    sides = {"this": ROOT}
    if args.reference is not None:
        sides["reference"] = args.reference.resolve()
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, tree in sides.items():
            env = {**os.environ, "PYTHONPATH": str(tree)}
            out = subprocess.run([sys.executable, __file__, "--child", "--clients", str(args.clients)],
                                 env=env, check=True, capture_output=True, text=True, cwd=tree).stdout
            seconds = float(out)
            best[name] = min(best.get(name, seconds), seconds)
    result = {name: {"seconds": round(seconds, 4), "us_per_visit": round(seconds / args.clients * 1e6, 2)}
              for name, seconds in best.items()}
    if "reference" in best:
        result["ratio_this_to_reference"] = round(best["this"] / best["reference"], 3)
    result["clients"] = args.clients
    result["rounds"] = args.rounds
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
