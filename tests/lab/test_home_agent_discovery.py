"""Dynamic home agent discovery on a real link (RFC 5944 §3.6.1.2, §3.8.2.1):
a mobile node that does not know its home agent sends its Registration
Request to the directed broadcast address of its home network; the home agent
(listening on the wildcard address, told each datagram's destination by
IP_PKTINFO) denies it with 136 and puts its unicast address in the reply's
Home Agent field. A request to the unicast address is accepted. Two network
namespaces joined by a veth pair; root only (tests/conftest.py require_root)."""

from __future__ import annotations

import json
import select
import subprocess
import sys
from pathlib import Path

from conftest import require_root

TOP = "proxy-mobile-ip:mobile-ip"
KEY = "5a5a0102030405060708090a0b0c0d0e"
PORT = 43434

SENDER = r'''
import json, socket, sys, time
from ipaddress import IPv4Address
from agent.mobileip.builder import build_request
from agent.mobileip.registration import decode_reply
from agent.mobileip.replay import ntp_identification
from agent.mobileip.security import SecurityAssociation

destination, home_agent = sys.argv[1], sys.argv[2]
sa = SecurityAssociation(spi=256, key=bytes.fromhex("%s"))
request = build_request(home_address=IPv4Address("192.0.2.10"), home_agent=IPv4Address(home_agent),
                        care_of_address=IPv4Address("192.0.2.50"),
                        identification=ntp_identification(time.time(), 1), lifetime=60, sa=sa)
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.bind(("192.0.2.50", 0))
    s.settimeout(5)
    s.sendto(request, (destination, %d))
    data, source = s.recvfrom(2048)
reply = decode_reply(data)
print(json.dumps({"code": reply.code, "home-agent": str(reply.home_agent), "from": source[0]}))
''' % (KEY, PORT)


def test_directed_broadcast_request_is_answered_136_with_the_unicast_address(tmp_path: Path) -> None:
    require_root()
    from tools.lab.netns import Namespaces

    with Namespaces() as ns:
        ns.create("ha")
        ns.create("mn")
        ns.veth("ha", "home0", "mn", "mn0", address_a="192.0.2.1/24", address_b="192.0.2.50/24")
        config = tmp_path / "ha.json"
        config.write_text(json.dumps({TOP: {
            "home-agent": {"address": "192.0.2.1", "home-network": "192.0.2.0/24",
                           "listen": {"address": "0.0.0.0", "port": PORT}},
            "security": {"host": [{"address": "192.0.2.10", "spi": 256, "key-hex": KEY}]},
        }}))
        config.chmod(0o600)  # it holds keys
        with open(tmp_path / "ha.log", "wb") as log:  # the child keeps its own descriptor
            agent = ns.python("ha", "agent.cli", "run", "--startup", str(config),
                              stdout=subprocess.PIPE, stderr=log, text=True)
        ready, _, _ = select.select([agent.stdout], [], [], 20)
        assert ready and agent.stdout.readline().startswith("ready "), \
            (tmp_path / "ha.log").read_text()[-2000:]
        script = tmp_path / "send.py"
        script.write_text(SENDER)

        def send(destination: str, home_agent: str) -> dict:
            return json.loads(ns.check("mn", [sys.executable, str(script), destination, home_agent],
                                       timeout=20))

        # RFC 5944 §3.8.2.1: to the directed broadcast, denied 136 with our address.
        assert send("192.0.2.255", "192.0.2.255") == {"code": 136, "home-agent": "192.0.2.1",
                                                       "from": "192.0.2.1"}
        # The node then registers with the address it learnt.
        assert send("192.0.2.1", "192.0.2.1")["code"] == 0
