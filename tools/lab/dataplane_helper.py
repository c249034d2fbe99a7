"""A bare data-plane process for one lab namespace (root only).

    python3 -m tools.lab.dataplane_helper --local ADDRESS
        [--home-interface IF] [--access-interface IF] [--no-inner-check]

Runs ``agent.dataplane.DataPlane`` over the userspace IP-in-IP backend in the
namespace it is started in, without an agent (the agents drive their own data
planes from the YANG ``data-plane`` container): for the tunnel test and the
throughput benchmark, which need bare tunnels between two namespaces.

Commands, one JSON object a line on stdin, answered one a line on stdout:
``tunnel`` {remote} + ``route`` {prefix, remote} (bare tunnels, for benches),
``bind`` {home, care-of}, ``unbind`` {home}, ``visitor`` {home, home-agent,
reverse}, ``unvisit`` {home}, ``counters``, ``state``. The first line out is
``{"ready": ...}``. End of stdin or SIGTERM removes everything and exits."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from ipaddress import IPv4Address
from typing import Any

from agent.dataplane.arp import ArpAnnouncer
from agent.dataplane.netlink import ThreadedNetlink
from agent.dataplane.plane import DataPlane, DataPlaneSettings
from agent.dataplane.routes import KernelRoutes
from agent.dataplane.service import describe_plane
from agent.dataplane.userspace import UserspaceTunnels

log = logging.getLogger("proxymip.lab.dataplane")


class Helper:
    def __init__(self, plane: DataPlane, extra_routes: KernelRoutes) -> None:
        self.plane = plane
        self.extra_routes = extra_routes
        self.bare_tunnels: set[IPv4Address] = set()

    def command(self, given: dict[str, Any]) -> dict[str, Any]:
        op = given["op"]
        plane = self.plane
        if op == "tunnel":
            remote = IPv4Address(given["remote"])
            self.bare_tunnels.add(remote)
            return {"interface": plane.tunnels.add(remote)}
        if op == "route":
            interface = plane.tunnels.interface(IPv4Address(given["remote"]))
            if interface is None:
                return {"error": "no such tunnel"}
            self.extra_routes.set_route(given["prefix"], interface)
            return {"ok": True}
        if op == "bind":
            plane.bind(IPv4Address(given["home"]), IPv4Address(given["care-of"]))
        elif op == "unbind":
            plane.unbind(IPv4Address(given["home"]))
        elif op == "visitor":
            plane.add_visitor(IPv4Address(given["home"]), IPv4Address(given["home-agent"]),
                              reverse_tunnel=bool(given.get("reverse")))
        elif op == "unvisit":
            plane.remove_visitor(IPv4Address(given["home"]))
        elif op == "counters":
            return self.counters()
        elif op == "state":
            return self.state()
        else:
            return {"error": f"unknown op {op!r}"}
        return {"ok": True}

    def counters(self) -> dict[str, Any]:
        out: dict[str, Any] = self.plane.tunnels.counters.as_dict()
        if self.plane.arp is not None:
            out["gratuitous-arps"] = self.plane.arp.sent
        return out

    def state(self) -> dict[str, Any]:
        return describe_plane(self.plane)

    def close(self) -> None:
        self.extra_routes.close()
        self.plane.close()


async def serve(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    netlink = ThreadedNetlink()
    routes = KernelRoutes(netlink)
    extra_routes = KernelRoutes(netlink)
    tunnels = UserspaceTunnels(IPv4Address(args.local), netlink=netlink, loop=loop)
    settings = DataPlaneSettings(home_interface=args.home_interface,
                                 access_interface=args.access_interface)
    plane = DataPlane(settings, tunnels=tunnels, routes=routes, arp=ArpAnnouncer(netlink),
                      check_inner=not args.no_inner_check)
    helper = Helper(plane, extra_routes)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def answer(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    async def commands() -> None:
        while True:
            line = await reader.readline()
            if not line:
                stop.set()
                return
            if not line.strip():
                continue
            try:
                answer(helper.command(json.loads(line)))
            except Exception as exc:  # answered, never fatal
                answer({"error": f"{type(exc).__name__}: {exc}"})

    tasks = [asyncio.create_task(commands())]
    answer({"ready": {"local": args.local}})
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        helper.close()
        answer({"closed": helper.counters()})
        netlink.close()
    return 0


class HelperProcess:
    """The controlling side: a helper started with ``Namespaces.python`` (stdin
    and stdout pipes), one JSON request and answer at a time, with a timeout."""

    def __init__(self, process: Any, *, timeout: float = 10.0) -> None:
        self.process = process
        self.timeout = timeout
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        import select

        ready, _, _ = select.select([self.process.stdout], [], [], self.timeout)
        if not ready:
            raise TimeoutError("data-plane helper did not answer")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"data-plane helper exited ({self.process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def call(self, op: str, **given: Any) -> dict[str, Any]:
        self.process.stdin.write(json.dumps({"op": op, **given}) + "\n")
        self.process.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise RuntimeError(f"{op}: {answer['error']}")
        return answer

    def close(self) -> dict[str, Any]:
        """End stdin; the helper removes what it made and reports its counters."""
        self.process.stdin.close()
        try:
            return self._read().get("closed", {})
        finally:
            self.process.wait(self.timeout)


def start_helper(namespaces: Any, short: str, *args: str, timeout: float = 10.0) -> HelperProcess:
    """Start ``tools.lab.dataplane_helper`` in namespace ``short``."""
    import subprocess

    process = namespaces.python(short, "tools.lab.dataplane_helper", *args,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return HelperProcess(process, timeout=timeout)


#: The two-namespace tunnel pair: a (198.51.100.1, loopback 192.0.2.1) and b
#: (198.51.100.2, loopback 203.0.113.1), each loopback routed into the tunnel.
PAIR_A, PAIR_B = "192.0.2.1", "203.0.113.1"


def tunnel_pair(ns: Any) -> tuple[HelperProcess, HelperProcess]:
    """Namespaces ``a`` and ``b`` joined by one veth pair, with a bare
    userspace tunnel between them carrying traffic between their loopback
    addresses (``PAIR_A`` <-> ``PAIR_B``); returns the two helpers."""
    ns.create("a")
    ns.create("b")
    ns.veth("a", "a0", "b", "b0", address_a="198.51.100.1/24", address_b="198.51.100.2/24")
    ns.address("a", "lo", f"{PAIR_A}/32")
    ns.address("b", "lo", f"{PAIR_B}/32")
    a = start_helper(ns, "a", "--local", "198.51.100.1", "--no-inner-check")
    b = start_helper(ns, "b", "--local", "198.51.100.2", "--no-inner-check")
    a.call("tunnel", remote="198.51.100.2")
    a.call("route", prefix=f"{PAIR_B}/32", remote="198.51.100.2")
    b.call("tunnel", remote="198.51.100.1")
    b.call("route", prefix=f"{PAIR_A}/32", remote="198.51.100.1")
    return a, b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", required=True, help="tunnel source address")
    parser.add_argument("--home-interface")
    parser.add_argument("--access-interface")
    parser.add_argument("--no-inner-check", action="store_true",
                        help="accept any inner packet from a registered endpoint")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
