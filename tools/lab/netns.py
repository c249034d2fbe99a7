"""Network namespaces joined by veth pairs, built with pyroute2, and processes
started inside them; ``close`` (also from ``with``) kills those processes by pid
and deletes the namespaces, which takes their interfaces, routes and rules with
them. Namespace names carry a per-run prefix so that runs never collide and a
leftover is easy to spot (``ip netns list``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pyroute2 import NetNS, netns

REPO = Path(__file__).resolve().parent.parent.parent


def is_root() -> bool:
    return os.geteuid() == 0


class Namespaces:
    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or f"pmip{os.getpid() % 100000}-"
        self._handles: dict[str, NetNS] = {}
        self._processes: list[subprocess.Popen[Any]] = []

    def name(self, short: str) -> str:
        return self.prefix + short

    def create(self, short: str, *, forwarding: bool = False) -> str:
        full = self.name(short)
        netns.create(full)
        self._handles[short] = NetNS(full)
        lo = self.ns(short).link_lookup(ifname="lo")[0]
        self.ns(short).link("set", index=lo, state="up")
        # Lab namespaces forward without reverse-path filtering (decapsulated and
        # triangular traffic arrives on interfaces its source is not routed by)
        # and answer proxy ARP at once (the default 80 ms delay is visible).
        self.sysctl(short, {
            "net.ipv4.ip_forward": int(forwarding),
            "net.ipv4.conf.all.rp_filter": 0,
            "net.ipv4.conf.default.rp_filter": 0,
            "net.ipv4.conf.all.send_redirects": 0,
            "net.ipv4.conf.default.send_redirects": 0,
        })
        return full

    def ns(self, short: str) -> NetNS:
        return self._handles[short]

    def index(self, short: str, ifname: str) -> int:
        return int(self.ns(short).link_lookup(ifname=ifname)[0])

    def sysctl(self, short: str, values: dict[str, object]) -> None:
        args = [f"{k}={v}" for k, v in values.items()]
        subprocess.run(["ip", "netns", "exec", self.name(short), "sysctl", "-qw", *args],
                       check=True, timeout=10)

    def veth(self, a: str, if_a: str, b: str, if_b: str, *,
             address_a: str | None = None, address_b: str | None = None,
             up: bool = True) -> None:
        """A veth pair from ``a``/``if_a`` to ``b``/``if_b`` (addresses as CIDR)."""
        self.ns(a).link("add", ifname=if_a, kind="veth",
                        peer={"ifname": if_b, "net_ns_fd": self.name(b)})
        for short, ifname, address in ((a, if_a, address_a), (b, if_b, address_b)):
            if address is not None:
                self.address(short, ifname, address)
            if up:
                self.up(short, ifname)

    def up(self, short: str, ifname: str) -> None:
        self.ns(short).link("set", index=self.index(short, ifname), state="up")

    def proxy_arp(self, short: str, ifname: str, *, all_addresses: bool = False) -> None:
        """Answer proxy ARP on ``ifname`` at once (``proxy_delay`` 0; the default
        80 ms shows in every first packet); ``all_addresses`` also turns on
        ``proxy_arp`` (answer for whatever is routed elsewhere), not only for
        explicit ``ip neigh add proxy`` entries."""
        values: dict[str, object] = {f"net.ipv4.neigh.{ifname}.proxy_delay": 0}
        if all_addresses:
            values[f"net.ipv4.conf.{ifname}.proxy_arp"] = 1
        self.sysctl(short, values)

    def address(self, short: str, ifname: str, cidr: str) -> None:
        address, _, length = cidr.partition("/")
        self.ns(short).addr("add", index=self.index(short, ifname), address=address,
                            prefixlen=int(length or 32))

    def bridge(self, short: str, name: str, ports: list[str], *, address: str | None = None,
               group_fwd_mask: int = 0) -> None:
        """A bridge of ``ports``; ``group_fwd_mask`` bit n forwards frames to
        01:80:c2:00:00:0n (bit 3: 802.1X EAPOL, which bridges keep by default)."""
        ns = self.ns(short)
        ns.link("add", ifname=name, kind="bridge", br_stp_state=0, br_forward_delay=0,
                br_group_fwd_mask=group_fwd_mask)
        for port in ports:
            ns.link("set", index=self.index(short, port), master=self.index(short, name))
        if address is not None:
            self.address(short, name, address)
        self.up(short, name)

    def route(self, short: str, destination: str, *, gateway: str | None = None,
              device: str | None = None) -> None:
        kwargs: dict[str, Any] = {"dst": destination}
        if gateway is not None:
            kwargs["gateway"] = gateway
        if device is not None:
            kwargs["oif"] = self.index(short, device)
        self.ns(short).route("replace", **kwargs)

    def move(self, short: str, ifname: str, to: str) -> None:
        """Move an interface into another namespace (it arrives down)."""
        self.ns(short).link("set", index=self.index(short, ifname), net_ns_fd=self.name(to))

    def run(self, short: str, argv: list[str], **popen: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside the namespace, from the repository root."""
        popen.setdefault("cwd", str(REPO))
        process = subprocess.Popen(["ip", "netns", "exec", self.name(short), *argv], **popen)
        self._processes.append(process)
        return process

    def python(self, short: str, module: str, *args: str, **popen: Any) -> subprocess.Popen[Any]:
        return self.run(short, [sys.executable, "-m", module, *args], **popen)

    def check(self, short: str, argv: list[str], *, timeout: float = 10) -> str:
        return subprocess.run(["ip", "netns", "exec", self.name(short), *argv], check=True,
                              capture_output=True, text=True, timeout=timeout).stdout

    def stop(self, process: subprocess.Popen[Any], *, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL after ``timeout``: only processes started here."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for pipe in (process.stdin, process.stdout, process.stderr):  # ours, not the GC's
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def close(self) -> None:
        for process in reversed(self._processes):
            with contextlib.suppress(Exception):
                self.stop(process)
        self._processes.clear()
        for short, handle in list(self._handles.items()):
            with contextlib.suppress(Exception):
                handle.close()
            with contextlib.suppress(Exception):
                netns.remove(self.name(short))
        self._handles.clear()

    def __enter__(self) -> Namespaces:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
