"""A data-plane process for one lab namespace (root only).

    python3 -m tools.lab.dataplane_helper --local ADDRESS
        [--home-interface IF] [--access-interface IF]
        [--follow CONTROL_SOCKET [--interval S]]

Runs ``agent.dataplane.DataPlane`` over the userspace IP-in-IP backend in the
namespace it is started in. Until the agent's runtime drives the data plane
itself, this is how the lab gets one: with ``--follow`` it polls the agent's
control socket (op ``state``) every ``--interval`` seconds and reconciles the
kernel with the bindings (home agent) and visitors (foreign agent) it reads —
the same ``reconcile`` that ``DataPlane.restore`` uses after a restart.

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

from agent.aio.control import request as control_request
from agent.dataplane.arp import ArpAnnouncer
from agent.dataplane.netlink import ThreadedNetlink
from agent.dataplane.plane import DataPlane, DataPlaneSettings, VisitorRoute
from agent.dataplane.routes import KernelRoutes
from agent.dataplane.userspace import UserspaceTunnels

log = logging.getLogger("proxymip.lab.dataplane")


def wanted_state(state: dict[str, Any]) -> tuple[dict[IPv4Address, IPv4Address] | None,
                                                 dict[IPv4Address, VisitorRoute] | None]:
    """Bindings and visitors as an agent's ``state`` answer shows them."""
    bindings = None
    if "home-agent" in state:
        bindings = {IPv4Address(b["home-address"]): IPv4Address(b["care-of-address"])
                    for b in state["home-agent"].get("binding", [])}
    visitors = None
    if "foreign-agent" in state:
        visitors = {
            IPv4Address(v["home-address"]): VisitorRoute(
                IPv4Address(v["home-agent"]), "reverse-tunneling" in v.get("flags", "").split())
            for v in state["foreign-agent"].get("visitor", [])
        }
    return bindings, visitors


class Helper:
    def __init__(self, plane: DataPlane, extra_routes: KernelRoutes) -> None:
        self.plane = plane
        self.extra_routes = extra_routes
        self.bare_tunnels: set[IPv4Address] = set()
        self.polls = 0

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
        out["polls"] = self.polls
        if self.plane.arp is not None:
            out["gratuitous-arps"] = self.plane.arp.sent
        return out

    def state(self) -> dict[str, Any]:
        plane = self.plane
        return {
            "bindings": {str(k): str(v) for k, v in plane.bindings.items()},
            "visitors": {str(k): [str(v.home_agent), v.reverse_tunnel]
                         for k, v in plane.visitors.items()},
            "tunnels": sorted(str(t) for t in plane.tunnels.endpoints()),
            "routes": sorted(f"{p} table {t} dev {d}" for (p, t), d in plane.routes.routes().items()),
            "rules": sorted(f"from {s} iif {i} table {t} pref {p}"
                            for s, i, t, p in plane.routes.rules()),
            "proxy-arp": sorted(f"{a} dev {i}" for a, i in plane.routes.proxies()),
        }

    def close(self) -> None:
        self.extra_routes.close()
        self.plane.close()


async def follow(helper: Helper, socket_path: str, interval: float, stop: asyncio.Event) -> None:
    last_problem = ""
    while not stop.is_set():
        try:
            state = await asyncio.wait_for(control_request(socket_path, {"op": "state"}), 5)
            bindings, visitors = wanted_state(state)
            helper.plane.reconcile(bindings=bindings, visitors=visitors)
            helper.polls += 1
            last_problem = ""
        except (OSError, TimeoutError, ValueError, KeyError) as exc:
            # The agent is not up yet, or gone: say so once, keep the data plane.
            if str(exc) != last_problem:
                log.warning("following %s: %s", socket_path, exc)
                last_problem = str(exc)
        except Exception:
            log.exception("reconcile failed")
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass


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
    if args.follow:
        tasks.append(asyncio.create_task(follow(helper, args.follow, args.interval, stop)))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", required=True, help="tunnel source address")
    parser.add_argument("--home-interface")
    parser.add_argument("--access-interface")
    parser.add_argument("--follow", help="an agent's control socket to follow")
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--no-inner-check", action="store_true",
                        help="accept any inner packet from a registered endpoint")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
