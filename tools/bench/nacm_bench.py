#!/usr/bin/env python3
"""Cost of NETCONF access control (RFC 8341, ``agent/netconf/nacm.py``) on the
operations (no SSH), with 10,000 ``security/host`` SAs in running.

In process: the real Datastore, the real Operations handler, requests as the
session hands them over. Each item is the median of ``--repeat`` calls, the
reply serialized as the session would. The reference, in the same run, is the
same request in the recovery session (no user name: NACM not applied, RFC 8341
§3.3.3), so each figure is also a ratio to it. Users: ``admin`` (a permit-all
rule decides first: the engine skips every node), ``noc`` (group operators:
no rule matches reads, so each SA's nodes are looked at and key-hex, which is
nacm:default-deny-all, left out).

1. get-config of running (reference: recovery session);
2. edit-config creating one SA, then the same edit removed (reference:
   recovery session), by admin and by ``dev``, whose path rule permits
   writes under /security only (the edit's nodes are checked).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address

from lxml import etree

from agent.schema.context import TOP_MEMBER
from agent.datastore.store import RUNNING, Datastore
from agent.netconf.errors import BASE_NS
from agent.netconf.operations import Operations

MODULE_NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
KEY_HEX = "a1:b2:c3:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f:90"
NACM = {
    "groups": {"group": [{"name": "admin", "user-name": ["admin"]},
                         {"name": "operators", "user-name": ["noc"]},
                         {"name": "sa-editors", "user-name": ["dev"]}]},
    "rule-list": [
        {"name": "admin", "group": ["admin"], "rule": [{"name": "all", "action": "permit"}]},
        {"name": "sa-editors", "group": ["sa-editors"], "rule": [
            {"name": "security", "path": "/proxy-mobile-ip:mobile-ip/security",
             "access-operations": "create update delete", "action": "permit"}]},
    ],
}


@dataclass(frozen=True)
class Session:
    session_id: int = 1
    username: str | None = None


def populate(datastore: Datastore, count: int) -> None:
    base = int(IPv4Address("10.0.0.0"))
    hosts = [{"address": str(IPv4Address(base + i)), "spi": 256, "key-hex": KEY_HEX}
             for i in range(count)]
    datastore.replace_config(RUNNING, {TOP_MEMBER: {"security": {"host": hosts}, "nacm": NACM}})


def element(body: str) -> etree._Element:
    return etree.fromstring(f'<rpc xmlns="{BASE_NS}" message-id="1">{body}</rpc>')[0]


def timed(call: Callable[[], None], repeat: int) -> float:
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    datastore = Datastore()
    operations = Operations(datastore)
    try:
        populate(datastore, args.hosts)
        get_config = "<get-config><source><running/></source></get-config>"

        def read(user: str | None) -> Callable[[], None]:
            def call() -> None:
                reply = operations(element(get_config), Session(1, user))
                assert reply is not None
                text = etree.tostring(reply)
                assert (KEY_HEX.encode() in text) == (user != "noc")
            return call

        sa = ("<host><address>192.0.2.200</address><spi>999</spi>"
              f"<key-hex>{KEY_HEX}</key-hex></host>")

        def write(user: str | None) -> Callable[[], None]:
            def call() -> None:
                for operation in ("merge", "remove"):
                    operations(element(
                        '<edit-config xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">'
                        "<target><running/></target><config>"
                        f'<mobile-ip xmlns="{MODULE_NS}"><security>'
                        + sa.replace("<host>", f'<host nc:operation="{operation}">')
                        + "</security></mobile-ip></config></edit-config>"),
                        Session(1, user))
            return call

        results: dict[str, dict[str, float]] = {}
        for name, make in (("get-config", read), ("edit-config create+remove one SA", write)):
            reference = timed(make(None), args.repeat)
            users = ("admin", "noc") if make is read else ("admin", "dev")
            entry = {"recovery session (reference) ms": round(reference, 2)}
            for user in users:
                ms = timed(make(user), args.repeat)
                entry[f"{user} ms"] = round(ms, 2)
                entry[f"{user} ratio"] = round(ms / reference, 3)
            results[name] = entry
        print(json.dumps({"hosts": args.hosts, "repeat": args.repeat, "results": results},
                         indent=2))
    finally:
        operations.close()
        datastore.close()


if __name__ == "__main__":
    main()
