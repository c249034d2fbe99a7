"""The snoop socket's kernel filter (agent/aio/snoop.py): on an ETH_P_ALL tap
only ARP and IPv4 frames that arrived reach Python; what the host itself sends
out of the port (the traffic towards the clients, the interceptor's answers)
is dropped in the kernel. Two namespaces; root only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import require_root

REPO = Path(__file__).resolve().parents[2]

WATCH = r'''
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from agent.aio.snoop import SnoopSocket
from agent.access.snoop import ClientSnooper
seen = set()
class Recording(ClientSnooper):
    def frame(self, frame, packet_type, now):
        seen.add((packet_type, frame[12:14].hex()))
        return None
async def main():
    link = SnoopSocket("x0", Recording("x", associates=False), lambda event: None)
    print("ready", flush=True)
    await asyncio.sleep(float(sys.argv[2]))
    link.close()
    print(sorted(seen), flush=True)
asyncio.run(main())
'''


def test_only_arriving_arp_and_ipv4_reach_python() -> None:
    require_root()
    from tools.lab.netns import Namespaces

    with Namespaces() as ns:
        ns.create("a")
        ns.create("b")
        ns.veth("a", "x0", "b", "y0", address_a="192.0.2.1/24", address_b="192.0.2.2/24")
        watcher = ns.run("a", [sys.executable, "-c", WATCH, str(REPO), "2"],
                         stdout=subprocess.PIPE, text=True)
        assert watcher.stdout is not None and watcher.stdout.readline().strip() == "ready"
        # a pings b: ARP and ICMP both ways (and any IPv6 the links send).
        ns.check("a", [sys.executable, "-m", "tools.lab.traffic", "ping", "--source", "192.0.2.1",
                       "--destination", "192.0.2.2", "--count", "3", "--interval", "0.1"])
        seen = watcher.communicate(timeout=20)[0].strip()
    # Packet type 0 (PACKET_HOST), ARP and IPv4 only: no 4 (PACKET_OUTGOING).
    assert seen == "[(0, '0800'), (0, '0806')]", seen
