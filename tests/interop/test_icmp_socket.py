"""The raw ICMP adapter (agent/aio/icmp.py) drains its queue in batches: a
raw socket receives every ICMP message of the host, and read one per loop
turn a flood fills its queue until the kernel drops the Agent Solicitations
among it (RFC 5944 §2.4; seen as unanswered solicitations in the fuzz
harness). Loopback only; needs root (raw sockets)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from ipaddress import IPv4Address

import pytest

from agent.aio.icmp import BATCH, IcmpSocket
from agent.mobileip.advertisement import encode_solicitation

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root")


def test_one_readable_event_takes_a_batch_and_keeps_the_ttl() -> None:
    async def scenario() -> list[tuple[bytes, IPv4Address, int]]:
        received: list[tuple[bytes, IPv4Address, int]] = []
        icmp = IcmpSocket.open(lambda data, source, ttl: received.append((data, source, ttl)))
        assert icmp is not None
        # Read by hand: no loop turn in between, so one call must take them all.
        asyncio.get_running_loop().remove_reader(icmp._sock.fileno())
        sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        try:
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)
            for _ in range(BATCH + 10):
                sender.sendto(encode_solicitation(), ("127.0.0.1", 0))
            time.sleep(0.2)  # in the queue
            icmp._readable()
            first = len(received)
            icmp._readable()
        finally:
            sender.close()
            asyncio.get_running_loop().add_reader(icmp._sock.fileno(), icmp._readable)
            icmp.close()
        assert first == BATCH  # a whole batch at once, then the loop serves others
        assert len(received) >= BATCH + 10
        return received

    received = asyncio.run(scenario())
    solicitations = [r for r in received if r[0][:1] == b"\x0a"]
    assert solicitations and all(ttl == 1 for _, _, ttl in solicitations)
