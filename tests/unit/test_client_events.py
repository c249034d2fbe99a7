"""Client event sources: hostapd's control-interface messages (the format seen
from hostapd 2.10 with driver=wired, shared/reference/ecosystem.md §9) and the
local control channel's JSON lines."""

from __future__ import annotations

import asyncio
import json
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from agent.access.events import (
    ClientAssociated,
    ClientDisassociated,
    normalise_mac,
    parse_hostapd_event,
)
from agent.aio.control import ControlError, ControlServer, request


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("<3>AP-STA-CONNECTED e6:8d:cc:59:a6:45", ClientAssociated("e6:8d:cc:59:a6:45", "wlan0")),
        ("<3>AP-STA-CONNECTED E6:8D:CC:59:A6:45", ClientAssociated("e6:8d:cc:59:a6:45", "wlan0")),
        ("<3>AP-STA-CONNECTED 02:00:00:00:01:00 p2p_dev_addr=02:00:00:00:01:01",
         ClientAssociated("02:00:00:00:01:00", "wlan0")),
        ("<3>AP-STA-CONNECTED 02:00:00:00:01:00 keyid=guest", ClientAssociated("02:00:00:00:01:00", "wlan0")),
        ("<3>AP-STA-DISCONNECTED e6:8d:cc:59:a6:45", ClientDisassociated("e6:8d:cc:59:a6:45")),
        ("AP-STA-DISCONNECTED e6:8d:cc:59:a6:45\n", ClientDisassociated("e6:8d:cc:59:a6:45")),
        ("<3>CTRL-EVENT-EAP-STARTED e6:8d:cc:59:a6:45", None),
        ("<3>CTRL-EVENT-EAP-SUCCESS e6:8d:cc:59:a6:45", None),
        ("<3>CTRL-EVENT-EAP-PROPOSED-METHOD vendor=0 method=4", None),
        ("<3>AP-STA-CONNECTED", None),
        ("<3>AP-STA-CONNECTED not-a-mac", None),
        ("OK", None),
        ("PONG", None),
        ("", None),
    ],
)
def test_hostapd_events(message: str, expected: object) -> None:
    assert parse_hostapd_event(message, interface="wlan0") == expected


def test_mac_normalisation() -> None:
    assert normalise_mac("AA-BB-CC-DD-EE-FF") == "aa:bb:cc:dd:ee:ff"
    for bad in ("aa:bb:cc:dd:ee", "zz:bb:cc:dd:ee:ff", "aabbccddeeff", ""):
        with pytest.raises(ValueError):
            normalise_mac(bad)


def test_control_channel_frames_requests_and_survives_bad_input(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def handler(req: dict[str, Any]) -> dict[str, Any]:
        seen.append(req)
        if req["op"] == "fail":
            raise ControlError("refused")
        if req["op"] == "address":
            return {"address": str(IPv4Address(req["address"]))}
        return {"ok": True}

    async def scenario() -> list[dict[str, Any]]:
        path = str(tmp_path / "ctl.sock")
        server = ControlServer(path, handler)
        await server.start()
        try:
            answers = [await request(path, {"op": "ping"}),
                       await request(path, {"op": "fail"}),
                       await request(path, {"op": "address", "address": "not-an-ip"})]
            reader, writer = await asyncio.open_unix_connection(path)
            for line in (b"{not json\n", b"[1,2]\n", b'{"op": 5}\n', b'{"op": "ping"}\n'):
                writer.write(line)
                await writer.drain()
                answers.append(json.loads(await asyncio.wait_for(reader.readline(), 5)))
            writer.close()
            return answers
        finally:
            await server.close()

    answers = asyncio.run(scenario())
    assert answers[0] == {"ok": True}
    assert answers[1] == {"error": "refused"}
    assert "bad request" in answers[2]["error"]
    assert "malformed JSON" in answers[3]["error"]
    assert "string" in answers[4]["error"] and "string" in answers[5]["error"]
    assert answers[6] == {"ok": True}  # the connection stayed usable
    assert [r["op"] for r in seen] == ["ping", "fail", "address", "ping"]


def test_control_server_close_ends_open_connections_quietly(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A client still connected when the agent stops (a lab killed mid-request)
    gets end-of-file, and the stop logs no error (Python 3.11 logs a handler
    task that ends cancelled as "Exception in callback")."""
    path = str(tmp_path / "ctl.sock")

    async def main() -> bytes:
        server = ControlServer(path, lambda request: {"ok": True})
        await server.start()
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b'{"op": "state"}\n')
        assert json.loads(await reader.readline()) == {"ok": True}
        await server.close()
        rest = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return rest

    with caplog.at_level("ERROR"):
        assert asyncio.run(main()) == b""
    assert caplog.records == []


def test_control_request_never_swallows_a_cancellation(tmp_path: Path) -> None:
    """A client polling an agent (the lab) is cancelled at random moments, as
    SIGTERM cancels the lab: each cancellation must end it. Python 3.11's
    asyncio.wait_for returns the result instead when the cancellation lands
    as the awaited read completes, so the lab went on running after SIGTERM;
    request() uses asyncio.timeout, which never loses one."""
    import random

    path = str(tmp_path / "ctl.sock")
    rounds = 100

    async def main() -> int:
        server = ControlServer(path, lambda request: {"ok": True})
        await server.start()
        finished = False
        lost = 0

        async def poll() -> None:
            while not finished:
                await request(path, {"op": "state"})

        chooser = random.Random(5)
        for _ in range(rounds):
            task = asyncio.ensure_future(poll())
            await asyncio.sleep(chooser.uniform(0, 0.005))
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=2)
            lost += not done
        finished = True  # a task that lost its cancellation stops here
        await asyncio.sleep(0.1)
        await server.close()
        return lost

    assert asyncio.run(main()) == 0
