#!/usr/bin/env python3
"""SA lookups/s against FreeRADIUS on loopback, 10,000 distinct clients.

Starts FreeRADIUS the way the interop suite does (its own raddb under a temp
dir, foreground, a free port; tests/interop/test_radius_freeradius.py) with a
generated users file: one ``mobileip:spi#0=`` SA per client. Then, in one run:

1. cold: every client looked up once through the resolver
   (agent/radius/resolver.py) and the pyrad adapter (agent/radius/client.py),
   with at most ``--outstanding`` Access-Requests in flight; each lookup is a
   full exchange (Message-Authenticator, Response Authenticator check,
   AV-pair parse). References measured against the same server in the same
   run: a bare pyrad loop with the same window (build, send, verify, no
   parsing, no resolver) and ``radclient -p <outstanding>`` (FreeRADIUS's own
   C client; its figure includes process start-up and reading the request file);
2. cached: every client looked up again, now from the resolver's cache; the
   reference is a plain dict lookup of the same address objects.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pyrad import packet as radius_packet  # noqa: E402
from pyrad.dictionary import Dictionary  # noqa: E402

from agent.radius.client import (  # noqa: E402
    DICTIONARY_PATH,
    RadiusClient,
    RadiusClientSettings,
    RadiusServer,
)
from agent.radius.resolver import (  # noqa: E402
    Cached,
    Outcome,
    ResolverSettings,
    SecurityAssociationResolver,
)
from tests.interop.test_radius_freeradius import (  # noqa: E402
    LOOPBACK,
    PASSWORD,
    SECRET,
    FreeRadius,
    users_file,
)

FIRST_CLIENT = IPv4Address("10.64.0.0")


def clients(count: int) -> list[IPv4Address]:
    return [FIRST_CLIENT + n for n in range(count)]


def users(addresses: list[IPv4Address]) -> dict[str, list[str]]:
    return {
        str(address): [f"mobileip:spi#0=spi {0x100 + n % 0xFFFF:x} key hex {n:032x}"]
        for n, address in enumerate(addresses)
    }


async def cold_resolver(
    server: RadiusServer, addresses: list[IPv4Address], outstanding: int
) -> dict[str, Any]:
    resolver = SecurityAssociationResolver(
        ResolverSettings(max_outstanding=outstanding, cache_lifetime=3600)
    )
    client = await RadiusClient.open(
        RadiusClientSettings(servers=(server,), user_password=PASSWORD, timeout=3.0, retries=2)
    )
    done = asyncio.Event()
    finished = 0
    peak = 0

    def pump() -> None:
        nonlocal peak
        while (address := resolver.next_request()) is not None:
            client.submit(address, answered)
        peak = max(peak, resolver.outstanding)

    def answered(address: IPv4Address, outcome: Outcome) -> None:
        nonlocal finished
        resolver.answer(address, outcome, time.monotonic())
        finished += 1
        if finished == len(addresses):
            done.set()
        pump()

    started = time.perf_counter()
    now = time.monotonic()
    for address in addresses:
        resolver.lookup(address, now)
    pump()
    await done.wait()
    elapsed = time.perf_counter() - started
    client.close()
    accepted = sum(1 for address in addresses if resolver.peek(address, time.monotonic()))
    return {
        "resolver": resolver,
        "seconds": elapsed,
        "lookups_per_s": len(addresses) / elapsed,
        "accepted": accepted,
        "peak_outstanding": peak,
        "counters": resolver.counters.as_dict(),
    }


class _BareProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[int, tuple[Any, asyncio.Future[bool]]] = {}

    def datagram_received(self, data: bytes, addr: Any) -> None:
        entry = self.waiting.pop(data[1], None)
        if entry is None:
            return
        request, future = entry
        reply = request.CreateReply(packet=data)
        future.set_result(
            bool(request.VerifyReply(reply, data)) and reply.code == radius_packet.AccessAccept
        )


async def cold_bare_pyrad(
    port: int, addresses: list[IPv4Address], outstanding: int
) -> dict[str, Any]:
    """The same exchanges with pyrad alone: one socket, ``outstanding``
    workers, each building, sending and verifying one request at a time."""
    loop = asyncio.get_running_loop()
    dictionary = Dictionary(str(DICTIONARY_PATH))
    protocol = _BareProtocol()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: protocol, remote_addr=(LOOPBACK, port)
    )
    todo = iter(addresses)
    ok = 0

    async def worker(identifier: int) -> None:
        nonlocal ok
        for address in todo:
            request = radius_packet.AuthPacket(
                code=radius_packet.AccessRequest, id=identifier, secret=SECRET, dict=dictionary
            )
            request["User-Name"] = str(address)
            request["User-Password"] = request.PwCrypt(PASSWORD)
            request.add_message_authenticator()
            future: asyncio.Future[bool] = loop.create_future()
            protocol.waiting[identifier] = (request, future)
            transport.sendto(request.RequestPacket())
            accepted = await asyncio.wait_for(future, 3.0)
            ok += accepted

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(outstanding)))
    elapsed = time.perf_counter() - started
    transport.close()
    return {"seconds": elapsed, "lookups_per_s": len(addresses) / elapsed, "accepted": ok}


def cold_radclient(
    port: int, addresses: list[IPv4Address], outstanding: int, tmp: Path
) -> dict[str, Any] | None:
    radclient = shutil.which("radclient")
    if radclient is None:
        return None
    requests = tmp / "requests.txt"
    requests.write_text(
        "".join(
            f'User-Name = "{address}", User-Password = "{PASSWORD}", '
            "Message-Authenticator = 0x00\n\n"
            for address in addresses
        )
    )
    started = time.perf_counter()
    result = subprocess.run(
        [
            radclient,
            "-q",
            "-s",
            "-p",
            str(outstanding),
            "-t",
            "3",
            "-r",
            "2",
            "-f",
            str(requests),
            f"{LOOPBACK}:{port}",
            "auth",
            SECRET.decode(),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.perf_counter() - started
    summary = {}
    for line in result.stdout.splitlines():
        name, colon, value = line.partition(":")
        if colon and value.strip().isdigit():
            summary[name.strip().lower()] = int(value)
    accepted = summary.get("accepted")
    return {
        "seconds": elapsed,
        "lookups_per_s": len(addresses) / elapsed,
        "accepted": accepted,
        "lost": summary.get("lost"),
    }


def cached(
    resolver: SecurityAssociationResolver, addresses: list[IPv4Address], rounds: int
) -> dict[str, Any]:
    now = time.monotonic()
    lookup = resolver.lookup
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for address in addresses:
            lookup(address, now)
        best = min(best, time.perf_counter() - started)
    assert all(isinstance(lookup(a, now), Cached) for a in addresses)
    table = {address: resolver.peek(address, now) for address in addresses}
    get = table.get
    reference = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for address in addresses:
            get(address)
        reference = min(reference, time.perf_counter() - started)
    return {
        "lookups_per_s": len(addresses) / best,
        "reference_dict_per_s": len(addresses) / reference,
        "ratio_to_dict": reference / best,
    }


def freeradius_version() -> str:
    out = subprocess.run(["freeradius", "-v"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else "unknown"


async def measure(
    server: RadiusServer, addresses: list[IPv4Address], outstanding: int, tmp: Path
) -> dict[str, Any]:
    # Warm FreeRADIUS (first requests load nothing lazily, but settle the sockets).
    await cold_bare_pyrad(server.port, addresses[:200], outstanding)
    bare = await cold_bare_pyrad(server.port, addresses, outstanding)
    ours = await cold_resolver(server, addresses, outstanding)
    radclient = cold_radclient(server.port, addresses, outstanding, tmp)
    resolver: SecurityAssociationResolver = ours.pop("resolver")
    return {
        "bare": bare,
        "ours": ours,
        "radclient": radclient,
        "cached": cached(resolver, addresses, 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--outstanding", type=int, default=64)
    args = parser.parse_args()
    addresses = clients(args.clients)
    with tempfile.TemporaryDirectory(prefix="radius-bench-") as name:
        tmp = Path(name)
        server_process = FreeRadius(
            shutil.which("freeradius") or "freeradius", tmp, users_file(users(addresses))
        )
        started = time.perf_counter()
        server_process.start()
        ready_after = time.perf_counter() - started
        try:
            server = RadiusServer(IPv4Address(LOOPBACK), SECRET, server_process.port)
            results = asyncio.run(measure(server, addresses, args.outstanding, tmp))
        finally:
            server_process.stop()
    ours, bare, radclient = results["ours"], results["bare"], results["radclient"]
    report = {
        "benchmark": "radius_sa_lookup",
        "clients": args.clients,
        "outstanding": args.outstanding,
        "freeradius": freeradius_version(),
        "freeradius_ready_s": round(ready_after, 3),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cold": {
            "lookups_per_s": round(ours["lookups_per_s"]),
            "seconds": round(ours["seconds"], 3),
            "accepted": ours["accepted"],
            "peak_outstanding": ours["peak_outstanding"],
            "resolver_counters": ours["counters"],
            "reference_bare_pyrad_per_s": round(bare["lookups_per_s"]),
            "reference_bare_pyrad_accepted": bare["accepted"],
            "ratio_to_bare_pyrad": round(ours["lookups_per_s"] / bare["lookups_per_s"], 3),
            "reference_radclient_per_s": round(radclient["lookups_per_s"]) if radclient else None,
            "reference_radclient_accepted": radclient["accepted"] if radclient else None,
        },
        "cached": {
            "lookups_per_s": round(results["cached"]["lookups_per_s"]),
            "reference_dict_per_s": round(results["cached"]["reference_dict_per_s"]),
            "ratio_to_dict": round(results["cached"]["ratio_to_dict"], 3),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
