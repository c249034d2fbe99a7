#!/usr/bin/env python3
"""Cost of the read filters of the NETCONF operations (no SSH): RFC 6241 §8.9
XPath filters beside subtree filters (§6) that select the same nodes, and
RFC 8526 <get-data> beside <get-config>, on a running datastore holding
10,000 ``security/host`` SAs.

In process: the real Datastore, the real Operations handler, requests as the
session hands them over (the operation element of a parsed <rpc>). Each item
is timed as the median of ``--repeat`` calls, the reply serialized as the
session would (``etree.tostring``); the reference, in the same run, is the
unfiltered <get-config> of the same datastore, so every figure is also given
as a ratio to it. Items:

1. get-config, unfiltered (the reference);
2. one SA: subtree content match on its address / XPath with a predicate;
3. every SA's spi (and the keys): subtree / XPath ``//p:spi``;
4. get-data of running with the XPath of item 2, and with max-depth 2.
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
from agent.netconf.nmda import DATASTORES_NS, NMDA_NS
from agent.netconf.operations import Operations

MODULE_NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
KEY_HEX = "a1:b2:c3:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f:90"


@dataclass(frozen=True)
class Session:
    session_id: int = 1
    username: str | None = None


def populate(datastore: Datastore, count: int) -> str:
    base = int(IPv4Address("10.0.0.0"))
    hosts = [{"address": str(IPv4Address(base + i)), "spi": 256, "key-hex": KEY_HEX}
             for i in range(count)]
    datastore.replace_config(RUNNING, {TOP_MEMBER: {"security": {"host": hosts}}})
    return str(IPv4Address(base + count // 2))


def request(body: str) -> Callable[[], etree._Element]:
    text = f'<rpc xmlns="{BASE_NS}" xmlns:p="{MODULE_NS}" message-id="1">{body}</rpc>'

    def make() -> etree._Element:
        return etree.fromstring(text)[0]  # parsing the request is the session's
    return make


def timed(operations: Operations, make: Callable[[], etree._Element], repeat: int) -> dict[str, float]:
    seconds = []
    size = 0
    for _ in range(repeat):
        element = make()
        start = time.perf_counter()
        reply = operations(element, Session())
        size = len(etree.tostring(reply)) if reply is not None else 0
        seconds.append(time.perf_counter() - start)
    return {"ms": statistics.median(seconds) * 1000, "bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    datastore = Datastore()
    operations = Operations(datastore)
    try:
        middle = populate(datastore, args.hosts)
        running = "<get-config><source><running/></source>"
        one_xpath = f"/p:mobile-ip/p:security/p:host[p:address='{middle}']"
        items = {
            "get-config": request(f"{running}</get-config>"),
            "one SA, subtree": request(
                f'{running}<filter type="subtree"><mobile-ip xmlns="{MODULE_NS}"><security>'
                f"<host><address>{middle}</address></host></security></mobile-ip></filter>"
                "</get-config>"),
            "one SA, xpath": request(
                f'{running}<filter type="xpath" select="{one_xpath}"/></get-config>'),
            "every spi, subtree": request(
                f'{running}<filter type="subtree"><mobile-ip xmlns="{MODULE_NS}"><security>'
                "<host><spi/></host></security></mobile-ip></filter></get-config>"),
            "every spi, xpath": request(
                f'{running}<filter type="xpath" select="//p:spi"/></get-config>'),
            "get-data one SA, xpath": request(
                f'<get-data xmlns="{NMDA_NS}" xmlns:ds="{DATASTORES_NS}"><datastore>ds:running'
                f"</datastore><xpath-filter>{one_xpath}</xpath-filter></get-data>"),
            "get-data max-depth 2": request(
                f'<get-data xmlns="{NMDA_NS}" xmlns:ds="{DATASTORES_NS}"><datastore>ds:running'
                "</datastore><max-depth>2</max-depth></get-data>"),
        }
        results = {name: timed(operations, make, args.repeat) for name, make in items.items()}
        reference = results["get-config"]["ms"]
        for name, result in results.items():
            result["ratio to get-config"] = round(result["ms"] / reference, 3)
            result["ms"] = round(result["ms"], 2)
        print(json.dumps({"hosts": args.hosts, "repeat": args.repeat, "results": results},
                         indent=2))
    finally:
        operations.close()
        datastore.close()


if __name__ == "__main__":
    main()
