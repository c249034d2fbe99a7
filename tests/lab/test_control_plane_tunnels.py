"""The control plane process with a real data plane, inside a network
namespace the test creates: a registration makes the home agent's IP-in-IP
tunnel towards the care-of address (RFC 5944 §4.2.3, RFC 2003), its row
reaches the management plane's mirror as a delta with the interface the
kernel has, the ``data-plane`` counter group arrives every period, and the
deregistration deletes the row. Root only (tests/conftest.py require_root).

The management end is the test (tests/unit/test_plane_control_plane.py's
``Management``: the real ``ManagementSession`` + ``PlaneConnection`` +
mirror), on a Unix socket, which crosses network namespaces."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from ipaddress import IPv4Address
from pathlib import Path

from conftest import require_root

from agent.plane import session as s
from agent.plane.tables import TableId

SENDER = r"""
import sys, time
from ipaddress import IPv4Address
import socket
from agent.mobileip import replay
from agent.mobileip.builder import build_request
from agent.mobileip.registration import decode_reply
from agent.mobileip.security import SecurityAssociation
port, home, lifetime, ident = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.5", 0))
sock.settimeout(5)
sock.sendto(build_request(home_address=IPv4Address(home), home_agent=IPv4Address("127.0.0.2"),
                          care_of_address=IPv4Address("127.0.0.5"),
                          identification=replay.ntp_identification(time.time(), ident),
                          lifetime=lifetime, sa=SecurityAssociation(256, bytes.fromhex(sys.argv[5]))),
            ("127.0.0.2", port))
print(decode_reply(sock.recv(2048)).code)
"""


def test_tunnels_reach_the_mirror_from_a_real_data_plane(tmp_path: Path) -> None:
    require_root()
    from tools.lab.netns import Namespaces

    from agent.dataplane.tunnels import tunnel_name
    from tests.unit.test_plane_control_plane import (
        MN_KEY,
        TIMEOUT,
        Management,
        configuration,
        full,
        until,
    )

    with Namespaces(prefix=f"cpt{os.getpid() % 100000}-") as ns:
        ns.create("cp")

        async def scenario() -> None:
            management = Management(tmp_path / "plane.sock")
            await management.listen()
            process = ns.python("cp", "agent.plane.control_plane", "--socket",
                                str(management.path), "--state-period", "0.2",
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                await management.next(s.SessionEstablished)
                content = configuration()
                content["data-plane"] = {}  # the home agent's address is the tunnels' source
                await management.commit(full(content), is_full=True)
                assert process.stdout is not None
                line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), TIMEOUT)
                assert line.startswith("ready "), line
                port = json.loads(line[6:])["endpoints"]["home-agent"].rsplit(":", 1)[1]
                mirror = management.mirror

                def register(lifetime: int, ident: int) -> str:
                    return ns.check("cp", [sys.executable, "-c", SENDER, port, "192.0.2.9",
                                           str(lifetime), str(ident), MN_KEY.hex()]).strip()

                assert await asyncio.to_thread(register, 600, 1) == "0"
                care_of = (int(IPv4Address("127.0.0.5")),)
                await until(lambda: mirror.row(TableId.TUNNEL, care_of) is not None, "the tunnel row")
                remote, local, interface, users = mirror.row(TableId.TUNNEL, care_of)  # type: ignore[misc]
                assert (remote, local, users) == (care_of[0], int(IPv4Address("127.0.0.2")), 1)
                assert interface == tunnel_name(IPv4Address("127.0.0.5"))
                links = ns.check("cp", ["ip", "-o", "link", "show"])
                assert f" {interface}" in links or f" {interface}@" in links, links
                await until(lambda: any("data-plane" in c.groups for c in management.counters),
                            "the data-plane counter group")
                assert await asyncio.to_thread(register, 0, 2) == "0"  # deregistration
                await until(lambda: mirror.row(TableId.TUNNEL, care_of) is None, "the tunnel's deletion")
                assert mirror.count(TableId.BINDING) == 0
            finally:
                ns.stop(process)
                assert management.server is not None
                management.server.close()

        asyncio.run(scenario())

