#!/usr/bin/env python3
"""What parsing NETCONF messages on a recycled worker thread costs
(``agent.netconf.message_parser``, docs/security.md fuzz finding 4), beside
parsing on the calling thread as before, in the same run.

1. CPU time per message, best of 5 runs of N messages each, alternating the
   two ways: ``etree.fromstring`` with one parser on the calling thread (the
   session's parser before) and ``MessageParser.parse`` (hand-over to the
   worker, parse there, wait for the result), for a small ``<get-config>``
   (~250 bytes, the common request), an ``<edit-config>`` of 100 entries
   (~14 KB) and one of 2,000 (~280 KB). Wall time, so the hand-over between
   threads is in it.
2. The same for a whole request through ``NetconfSession.receive_data``
   (framing, parse, checks, a handler answering ``<ok/>``, the reply
   framed): what the hand-over adds to a request the agent serves.
3. RSS growth of a fresh process after 200,000 messages each carrying two new
   names, each way (one subprocess each): what the worker thread is for.
4. The deep copy of an ``<edit-config>``'s ``<config>`` content that
   ``ConfigReader`` walks: ``copy.deepcopy`` on the calling thread (before)
   against ``MessageParser.copy`` (hand-over, copy on the worker), for the
   three messages of 1.

    .venv/bin/python tools/bench/netconf_parse_bench.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from agent.netconf.errors import BASE_NS  # noqa: E402
from agent.netconf.framing import END_OF_MESSAGE, Framer, FramingMode  # noqa: E402
from agent.netconf.message_parser import MessageParser, safe_xml_parser  # noqa: E402
from agent.netconf.session import BASE_1_1, NetconfSession  # noqa: E402
from agent.netconf import session as session_module  # noqa: E402

SMALL = (f'<rpc xmlns="{BASE_NS}" message-id="101"><get-config><source><running/></source>'
         '<filter type="subtree"><mobile-ip xmlns="urn:ietf:params:xml:ns:yang:proxy-mobile-ip">'
         "<home-agent/></mobile-ip></filter></get-config></rpc>").encode()


def edit(entries: int) -> bytes:
    hosts = "".join(f"<host><address>10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}</address>"
                    f"<spi>{256 + i}</spi><key>00112233445566778899aabbccddeeff</key></host>"
                    for i in range(entries))
    return (f'<rpc xmlns="{BASE_NS}" message-id="102"><edit-config><target><candidate/>'
            '</target><config><mobile-ip xmlns="urn:ietf:params:xml:ns:yang:proxy-mobile-ip">'
            f"<security>{hosts}</security></mobile-ip></config></edit-config></rpc>").encode()


def best_per_message(run: Callable[[], object], count: int, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(count):
            run()
        best = min(best, (time.perf_counter() - started) / count)
    return best


def parse_costs(count: int) -> list[dict[str, object]]:
    one = safe_xml_parser()
    worker = MessageParser()
    rows = []
    for name, message, n in (("get-config, %d B" % len(SMALL), SMALL, count),
                             ("edit-config 100 entries, %d B" % len(edit(100)), edit(100),
                              max(count // 20, 20)),
                             ("edit-config 2,000 entries, %d B" % len(edit(2000)), edit(2000),
                              max(count // 400, 5))):
        here = worker_cost = float("inf")
        for _ in range(3):  # alternate, best of each
            here = min(here, best_per_message(lambda: etree.fromstring(message, one), n))
            worker_cost = min(worker_cost, best_per_message(lambda: worker.parse(message), n))
        rows.append({"message": name, "calling_thread_us": here * 1e6,
                     "worker_us": worker_cost * 1e6, "ratio": worker_cost / here,
                     "added_us": (worker_cost - here) * 1e6})
    worker.close()
    return rows


def copy_costs(count: int) -> list[dict[str, object]]:
    worker = MessageParser()
    rows = []
    for name, message, n in (("get-config's filter, %d B" % len(SMALL), SMALL, count),
                             ("edit-config 100 entries' config", edit(100), max(count // 20, 20)),
                             ("edit-config 2,000 entries' config", edit(2000),
                              max(count // 400, 5))):
        content = list(worker.parse(message)[0][-1])  # type: ignore[index]
        here = worker_cost = float("inf")
        for _ in range(3):  # alternate, best of each
            here = min(here, best_per_message(
                lambda: [copy.deepcopy(element) for element in content], n))
            worker_cost = min(worker_cost, best_per_message(lambda: worker.copy(content), n))
        rows.append({"message": "copy of " + name, "calling_thread_us": here * 1e6,
                     "worker_us": worker_cost * 1e6, "ratio": worker_cost / here,
                     "added_us": (worker_cost - here) * 1e6})
    worker.close()
    return rows


class _CallingThreadParser:
    """The session's parse as it was: one parser, on the calling thread."""

    def __init__(self) -> None:
        self._parser = safe_xml_parser()

    def parse(self, message: bytes) -> etree._Element | None:
        root: etree._Element | None = etree.fromstring(message, self._parser)
        return root


def session_costs(count: int) -> dict[str, object]:
    def ok(operation: etree._Element, info: object) -> None:
        return None

    def make() -> tuple[NetconfSession, Framer]:
        session = NetconfSession(7, [BASE_1_1], ok, max_message_size=1 << 24)
        framer = Framer(max_message_size=1 << 24)
        session.start()
        session.receive_data(f'<hello xmlns="{BASE_NS}"><capabilities><capability>{BASE_1_1}'
                             "</capability></capabilities></hello>".encode() + END_OF_MESSAGE)
        framer.mode = FramingMode.CHUNKED
        return session, framer

    request = Framer(max_message_size=1 << 24)
    request.mode = FramingMode.CHUNKED
    frame = request.encode(SMALL)
    default = getattr(session_module, "MESSAGES")
    ways = (("calling_thread_us", _CallingThreadParser()), ("worker_us", default))
    results = {label: float("inf") for label, _ in ways}
    for _ in range(3):  # alternate, best of each
        for label, parser in ways:
            setattr(session_module, "MESSAGES", parser)
            try:
                session, _ = make()
                results[label] = min(results[label],
                                     best_per_message(lambda: session.receive_data(frame),
                                                      count) * 1e6)
            finally:
                setattr(session_module, "MESSAGES", default)
    return {"message": "get-config through NetconfSession.receive_data",
            **results, "ratio": results["worker_us"] / results["calling_thread_us"],
            "added_us": results["worker_us"] - results["calling_thread_us"]}


_GROWTH = """
import sys
sys.path.insert(0, sys.argv[3])
from lxml import etree
from agent.netconf.message_parser import MessageParser, safe_xml_parser
def rss():
    with open("/proc/self/status") as s:
        return next(int(l.split()[1]) for l in s if l.startswith("VmRSS"))
def message(i):
    return f'<rpc xmlns="urn:x" message-id="{i}"><n{i:08d}x a{i:08d}="1"/></rpc>'.encode()
if sys.argv[1] == "worker":
    parse = MessageParser().parse
else:
    one = safe_xml_parser()
    parse = lambda m: etree.fromstring(m, one)
parse(message(-1))
before = rss()
for i in range(int(sys.argv[2])):
    parse(message(i))
print(before, rss())
"""


def growth(count: int) -> dict[str, object]:
    out: dict[str, object] = {"messages": count}
    for mode in ("calling-thread", "worker"):
        result = subprocess.run([sys.executable, "-c", _GROWTH, mode, str(count), str(ROOT)],
                                capture_output=True, text=True, check=True, timeout=600)
        before, after = map(int, result.stdout.split())
        out[mode] = {"rss_before_kib": before, "rss_after_kib": after,
                     "growth_kib": after - before}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--growth-messages", type=int, default=200_000)
    args = parser.parse_args()
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "python": platform.python_version(),
                    "lxml": etree.LXML_VERSION, "libxml2": etree.LIBXML_VERSION},
        "load_average": os.getloadavg(),
        "parse": parse_costs(args.messages),
        "session": session_costs(args.messages),
        "copy": copy_costs(args.messages),
        "growth": growth(args.growth_messages),
    }
    for row in report["parse"] + [report["session"]] + report["copy"]:  # type: ignore[operator]
        print(f"{row['message']:<52} calling thread {row['calling_thread_us']:9.1f} us  "
              f"worker {row['worker_us']:9.1f} us  ratio {row['ratio']:.2f}  "
              f"(+{row['added_us']:.1f} us)")
    g = report["growth"]
    print(f"RSS growth over {g['messages']:,} messages with new names: "  # type: ignore[index]
          f"calling thread {g['calling-thread']['growth_kib']} KiB, "  # type: ignore[index]
          f"worker {g['worker']['growth_kib']} KiB")  # type: ignore[index]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
