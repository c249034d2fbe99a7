"""Runs one sans-IO role engine on asyncio: a UDP registration socket, optionally
a raw ICMP discovery socket, and the engine's timer.

The engine's clock is wall-clock POSIX time (``time.time``) because registration
Identification fields carry NTP timestamps (RFC 5944 §5.7.1); the adapter turns
deadlines into ``loop.call_later`` delays.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Protocol

from agent.aio.icmp import IcmpSocket
from agent.mobileip.events import Event
from agent.mobileip.outputs import Channel, Transmit

log = logging.getLogger(__name__)


class Engine(Protocol):
    def receive_datagram(self, data: bytes, source: IPv4Address, port: int, now: float) -> None: ...
    def handle_timer(self, now: float) -> None: ...
    def get_timer(self) -> float | None: ...
    def datagrams_to_send(self) -> list[Transmit]: ...
    def next_event(self) -> Event | None: ...


class IcmpEngine(Engine, Protocol):
    def receive_icmp(self, data: bytes, source: IPv4Address, now: float) -> None: ...


class EngineRunner(asyncio.DatagramProtocol):
    def __init__(
        self,
        engine: Engine,
        *,
        name: str,
        on_event: Callable[[Event], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.name = name
        self._on_event = on_event
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.DatagramTransport | None = None
        self._icmp: IcmpSocket | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at: float | None = None
        self.closed = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        engine: Engine,
        *,
        name: str,
        address: str,
        port: int,
        on_event: Callable[[Event], None] | None = None,
        discovery: bool = False,
    ) -> EngineRunner:
        loop = asyncio.get_running_loop()
        runner = cls(engine, name=name, on_event=on_event)
        await loop.create_datagram_endpoint(lambda: runner, local_addr=(address, port))
        if discovery:
            runner._icmp = IcmpSocket.open(runner._icmp_received)
            if runner._icmp is None:
                log.warning("%s: no raw ICMP socket (needs CAP_NET_RAW); agent discovery off", name)
        runner._after_input()
        return runner

    @property
    def local_address(self) -> tuple[str, int]:
        assert self._transport is not None
        return self._transport.get_extra_info("sockname")[:2]  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._icmp is not None:
            self._icmp.close()
        if self._transport is not None:
            self._transport.close()

    # -- asyncio callbacks ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        self.engine.receive_datagram(data, IPv4Address(addr[0]), int(addr[1]), self._clock())
        self._after_input()

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for earlier sends (port unreachable...): not fatal.
        log.debug("%s: socket error %s", self.name, exc)

    def _icmp_received(self, data: bytes, source: IPv4Address) -> None:
        receive = getattr(self.engine, "receive_icmp", None)
        if receive is not None:
            receive(data, source, self._clock())
            self._after_input()

    def _on_timer(self) -> None:
        self._timer = None
        self._armed_at = None
        self.engine.handle_timer(self._clock())
        self._after_input()

    # -- shuttling -----------------------------------------------------------------

    def _after_input(self) -> None:
        engine = self.engine
        for transmit in engine.datagrams_to_send():
            self._send(transmit)
        if self._on_event is not None:
            while (event := engine.next_event()) is not None:
                self._on_event(event)
        else:
            while engine.next_event() is not None:
                pass
        deadline = engine.get_timer()
        if deadline is None:
            return
        if self._armed_at is not None and self._armed_at <= deadline:
            return  # the armed timer fires first; it re-arms then
        if self._timer is not None:
            self._timer.cancel()
        self._armed_at = deadline
        self._timer = self._loop.call_later(max(0.0, deadline - self._clock()), self._on_timer)

    def _send(self, transmit: Transmit) -> None:
        if transmit.channel is Channel.REGISTRATION:
            if self._transport is not None:
                self._transport.sendto(transmit.data, (str(transmit.destination), transmit.port))
        elif self._icmp is not None:
            self._icmp.send(transmit.data, transmit.destination)
