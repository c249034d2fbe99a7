"""RADIUS client for mobility security associations: the asyncio adapter around
pyrad (the only module that imports pyrad).

One Access-Request per lookup (RFC 2865 §4.1): User-Name = the node's home
address, User-Password = the configured password hidden as RFC 2865 §5.2
prescribes (pyrad ``PwCrypt``), NAS-IP-Address = ours, and a
Message-Authenticator (RFC 3579 §3.2; first attribute, the BlastRADIUS /
CVE-2024-3596 countermeasure).

Each server has its own connected UDP socket and so its own Identifier space
(RFC 2865 §3: the Identifier matches replies to requests per server). A
request is retransmitted unchanged (same Identifier and Request Authenticator)
``retries`` times, ``timeout`` seconds apart; then the next server in order is
tried. A server is marked dead for ``dead_time`` seconds and skipped once
both ``dead_criteria_tries`` consecutive lookups went unanswered (every
transmission of each timed out) and ``dead_criteria_time`` seconds passed
since the first of them was sent: Cisco's ``radius-server dead-criteria time
T tries N``, and FreeRADIUS's home-server ``zombie_period``, judge by
time-outs alone. Any authenticated reply resets both. When every server is dead they are all
tried again in order rather than failing a lookup nobody asked a server about.

An ICMP port unreachable is only counted (``unreachable``): it neither ends
the attempt nor marks the server dead. ICMP carries no authentication (RFC
1122 §4.1.3.3 has UDP pass every ICMP error up to the application; RFC 5927
describes the same forged-error attack against TCP), so one forged datagram, or a stale one from a
server restarting, would otherwise cut every lookup in flight short and send
the next ones elsewhere for ``dead_time``.

A reply is accepted only if its Response Authenticator is right (pyrad
``VerifyReply``) and, with ``require_message_authenticator`` (the default),
it carries a valid Message-Authenticator; anything else is dropped and counted
(``invalid_replies``) and the request keeps waiting, as RFC 2865 §3 says
("silently discarded"). An authenticated reply becomes a resolver outcome:

- Access-Accept -> :class:`Accept` with the SAs of every ``mobileip:spi#N``
  Cisco-AVPair, or :class:`Malformed` if one of them does not parse, a Cisco
  vendor attribute is broken, or there is none;
- Access-Reject -> :class:`Reject` (a Reject that carries Cisco-AVPairs is
  logged: the server leaks keys);
- anything else (Access-Challenge) -> :class:`Malformed`.

Logs name the server and the home address; never the shared secret, the
password or a key (``SecurityAssociation`` keeps its key out of ``repr``).
FreeRADIUS before 3.2.5 signs replies with a Message-Authenticator only when
told to (``update reply { &Message-Authenticator := 0x00 }``, see the interop
test) — or set ``require_message_authenticator=False``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from pyrad import packet as radius_packet  # type: ignore[import-untyped]
from pyrad.dictionary import Dictionary  # type: ignore[import-untyped]

from agent import package_data
from agent.radius.avpair import AvPairError, parse_mobileip_avpairs
from agent.radius.resolver import Accept, Malformed, Outcome, Reject, Timeout

log = logging.getLogger(__name__)

DICTIONARY_PATH = package_data.radius_dictionary()
CISCO_VENDOR = 9
CISCO_AVPAIR = (CISCO_VENDOR, 1)
_VENDOR_SPECIFIC = 26
_REPLY_MESSAGE = 18
_IDENTIFIERS = 256


@dataclass(frozen=True, slots=True)
class RadiusServer:
    address: IPv4Address
    secret: bytes = field(repr=False)
    port: int = 1812

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class RadiusClientSettings:
    servers: tuple[RadiusServer, ...]
    user_password: str = field(repr=False)
    timeout: float = 3.0
    retries: int = 2
    dead_time: float = 60.0
    #: Consecutive lookups a server leaves unanswered before it is marked
    #: dead, and the seconds that must pass from the first of them.
    dead_criteria_tries: int = 1
    dead_criteria_time: float = 0.0
    #: RFC 2865 §4.1 wants NAS-IP-Address or NAS-Identifier; None = the local
    #: address of the socket to the first server.
    nas_ip_address: IPv4Address | None = None
    require_message_authenticator: bool = True
    #: How the SPI of ``spi <n>`` is written (Cisco IOS: hexadecimal).
    spi_radix: int = 16

    def __post_init__(self) -> None:
        if not self.servers:
            raise ValueError("at least one RADIUS server is needed")
        if self.timeout <= 0 or self.retries < 0 or self.dead_time < 0:
            raise ValueError("timeout must be positive, retries and dead-time not negative")
        if self.dead_criteria_tries < 1 or self.dead_criteria_time < 0:
            raise ValueError(
                "dead_criteria_tries must be at least 1, dead_criteria_time not negative")


@dataclass
class ServerCounters:
    requests: int = 0  # first transmissions
    retransmissions: int = 0
    accepts: int = 0
    rejects: int = 0
    malformed: int = 0  # authenticated replies with unusable content
    timeouts: int = 0  # requests this server never answered
    invalid_replies: int = 0  # undecodable or unauthenticated, dropped
    unknown_replies: int = 0  # no request with that Identifier
    unreachable: int = 0  # ICMP port unreachable (counted only: unauthenticated)
    marked_dead: int = 0
    rejects_with_avpairs: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class ServerStatus:
    server: RadiusServer
    dead_until: float | None
    in_flight: int
    counters: ServerCounters


_TIMED_OUT = object()  # an attempt that got no answer in time


def _expire(future: asyncio.Future[object]) -> None:
    if not future.done():
        future.set_result(_TIMED_OUT)


@dataclass(slots=True)
class _Exchange:
    address: IPv4Address
    request: Any  # pyrad AuthPacket
    future: asyncio.Future[object]


class _ServerLink(asyncio.DatagramProtocol):
    """One server: its socket, its Identifier space, its requests in flight."""

    def __init__(self, server: RadiusServer, settings: RadiusClientSettings) -> None:
        self.server = server
        self.settings = settings
        self.counters = ServerCounters()
        self.dead_until: float | None = None
        #: Lookups left unanswered since the last authenticated reply, and
        #: when the first of them was sent (None: none).
        self.silent_lookups = 0
        self.silent_since: float | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.exchanges: dict[int, _Exchange] = {}
        # Identifiers are reused least recently first, so that a late reply to
        # an old request is unlikely to meet a new one with the same number.
        self._free: deque[int] = deque(range(_IDENTIFIERS))
        self._slots = asyncio.Semaphore(_IDENTIFIERS)

    # -- asyncio callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) < 20:
            self.counters.invalid_replies += 1
            return
        exchange = self.exchanges.get(data[1])
        if exchange is None or exchange.future.done():
            self.counters.unknown_replies += 1
            return
        outcome = self._judge(exchange, data)
        if outcome is not None:
            exchange.future.set_result(outcome)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, ConnectionRefusedError):
            # Counted only: the requests in flight keep waiting for their
            # time-outs (the module docstring says why).
            self.counters.unreachable += 1
        else:
            log.debug("RADIUS %s: socket error %s", self.server, exc)

    # -- identifiers ---------------------------------------------------------------

    async def acquire(self) -> int:
        await self._slots.acquire()
        return self._free.popleft()

    def release(self, identifier: int) -> None:
        self.exchanges.pop(identifier, None)
        self._free.append(identifier)
        self._slots.release()

    # -- replies -------------------------------------------------------------------

    def _judge(self, exchange: _Exchange, data: bytes) -> Outcome | None:
        """The outcome a reply stands for, or None to drop it (RFC 2865 §3)."""
        request = exchange.request
        try:
            reply = request.CreateReply(packet=data)
            valid = request.VerifyReply(
                reply, data, enforce_ma=self.settings.require_message_authenticator
            )
        except (radius_packet.PacketError, KeyError, ValueError, TypeError) as exc:
            log.debug("RADIUS %s: undecodable reply for %s: %s", self.server, exchange.address, exc)
            valid = False
        if not valid:
            self.counters.invalid_replies += 1
            log.warning(
                "RADIUS %s: reply for %s failed authentication (Response Authenticator or "
                "Message-Authenticator); dropped",
                self.server,
                exchange.address,
            )
            return None
        code = reply.code
        if code == radius_packet.AccessAccept:
            return self._accepted(exchange, reply)
        if code == radius_packet.AccessReject:
            self.counters.rejects += 1
            if OrderedDict.get(reply, CISCO_AVPAIR):
                self.counters.rejects_with_avpairs += 1
                log.warning(
                    "RADIUS %s: Access-Reject for %s carried Cisco-AVPairs (the server leaks "
                    "keys in rejects: filter them, e.g. attr_filter.access_reject)",
                    self.server,
                    exchange.address,
                )
            message = _text(OrderedDict.get(reply, _REPLY_MESSAGE))
            log.info("RADIUS %s: Access-Reject for %s", self.server, exchange.address)
            return Reject(message)
        self.counters.malformed += 1
        log.warning(
            "RADIUS %s: unexpected reply code %d for %s", self.server, code, exchange.address
        )
        return Malformed(f"unexpected RADIUS code {code}")

    def _accepted(self, exchange: _Exchange, reply: Any) -> Outcome:
        for raw in OrderedDict.get(reply, _VENDOR_SPECIFIC, []):
            # pyrad keeps a vendor attribute raw when its sub-attributes do not add up.
            if len(raw) >= 4 and int.from_bytes(raw[:4], "big") == CISCO_VENDOR:
                return self._malformed(exchange, "a Cisco vendor attribute is malformed")
        try:
            values = [value.decode("utf-8") for value in OrderedDict.get(reply, CISCO_AVPAIR, [])]
        except UnicodeDecodeError:
            return self._malformed(exchange, "a Cisco-AVPair is not UTF-8")
        try:
            sas = parse_mobileip_avpairs(values, spi_radix=self.settings.spi_radix)
        except AvPairError as exc:  # its text never holds key material
            return self._malformed(exchange, f"Cisco-AVPair {exc}")
        if not sas:
            return self._malformed(exchange, "Access-Accept without a mobileip:spi AV-pair")
        self.counters.accepts += 1
        log.info(
            "RADIUS %s: Access-Accept for %s, SPIs %s",
            self.server,
            exchange.address,
            ", ".join(str(sa.spi) for sa in sas),
        )
        return Accept(sas)

    def _malformed(self, exchange: _Exchange, reason: str) -> Malformed:
        self.counters.malformed += 1
        log.warning("RADIUS %s: reply for %s rejected: %s", self.server, exchange.address, reason)
        return Malformed(reason)


class RadiusClient:
    """Looks SAs up on the configured servers. Create with :meth:`open` inside
    a running loop; :meth:`resolve` is safe to call concurrently."""

    def __init__(
        self,
        settings: RadiusClientSettings,
        links: list[_ServerLink],
        *,
        dictionary: Dictionary,
        nas_ip_address: IPv4Address | None,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self._links = links
        self._dictionary = dictionary
        self._nas_ip_address = nas_ip_address
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(
        cls,
        settings: RadiusClientSettings,
        *,
        dictionary_path: Path = DICTIONARY_PATH,
        clock: Callable[[], float] = time.monotonic,
    ) -> RadiusClient:
        loop = asyncio.get_running_loop()
        links: list[_ServerLink] = []
        try:
            for server in settings.servers:
                link = _ServerLink(server, settings)
                # A connected socket: the kernel delivers only datagrams from
                # the server's address and port (a reply answers only the server
                # the request went to: RFC 2865 §3 keys it by that server's secret),
                # so datagram_received needs no check of its own (the test
                # test_a_reply_from_another_port_is_never_taken holds it).
                await loop.create_datagram_endpoint(
                    lambda link=link: link,  # type: ignore[misc]
                    remote_addr=(str(server.address), server.port),
                    family=socket.AF_INET,
                )
                links.append(link)
        except OSError:
            for link in links:
                if link.transport is not None:
                    link.transport.close()
            raise
        nas = settings.nas_ip_address
        if nas is None and links and links[0].transport is not None:
            nas = IPv4Address(links[0].transport.get_extra_info("sockname")[0])
        return cls(
            settings,
            links,
            dictionary=Dictionary(str(dictionary_path)),
            nas_ip_address=nas,
            clock=clock,
        )

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for link in self._links:
            for exchange in link.exchanges.values():
                if not exchange.future.done():
                    exchange.future.cancel()
            if link.transport is not None:
                link.transport.close()

    # -- lookups ---------------------------------------------------------------------

    async def resolve(self, address: IPv4Address) -> Outcome:
        """Ask the servers in order for the SAs of ``address``."""
        for link in self._candidates():
            outcome = await self._ask(link, address)
            if outcome is not None:
                return outcome
        log.warning("RADIUS: no server answered for %s", address)
        return Timeout()

    def submit(
        self, address: IPv4Address, on_outcome: Callable[[IPv4Address, Outcome], None]
    ) -> None:
        """Resolve in a task and hand the outcome to ``on_outcome`` (the runtime
        feeds it to ``ProxyAgent.sa_answer`` and flushes the engine)."""

        async def run() -> None:
            try:
                outcome = await self.resolve(address)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not leave the lookup hanging
                log.exception("RADIUS: lookup for %s failed", address)
                outcome = Timeout()
            on_outcome(address, outcome)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _candidates(self) -> list[_ServerLink]:
        now = self._clock()
        alive = [link for link in self._links if link.dead_until is None or link.dead_until <= now]
        return alive or list(self._links)

    async def _ask(self, link: _ServerLink, address: IPv4Address) -> Outcome | None:
        """One server, with retransmissions; None if it did not answer."""
        s = self.settings
        identifier = await link.acquire()
        loop = asyncio.get_running_loop()
        started = self._clock()
        try:
            request = self._request(link.server, identifier, address)
            data = request.RequestPacket()
            for attempt in range(s.retries + 1):
                if attempt:
                    link.counters.retransmissions += 1
                else:
                    link.counters.requests += 1
                if link.transport is None or link.transport.is_closing():
                    return None
                # A fresh future per attempt; a reply to any copy (they are
                # identical: same Identifier, same Request Authenticator) ends it.
                future: asyncio.Future[object] = loop.create_future()
                link.exchanges[identifier] = _Exchange(address, request, future)
                link.transport.sendto(data)
                timer = loop.call_later(s.timeout, _expire, future)
                try:
                    result = await future
                finally:
                    timer.cancel()
                if result is _TIMED_OUT:
                    continue
                link.dead_until = None
                link.silent_lookups, link.silent_since = 0, None
                assert isinstance(result, (Accept, Reject, Malformed, Timeout))
                return result
            link.counters.timeouts += 1
            link.silent_lookups += 1
            if link.silent_since is None:
                link.silent_since = started
            if (link.silent_lookups >= s.dead_criteria_tries
                    and self._clock() - link.silent_since >= s.dead_criteria_time):
                self._mark_dead(link, address, f"no answer to {link.silent_lookups} lookup(s)")
            return None
        finally:
            link.release(identifier)

    def _request(self, server: RadiusServer, identifier: int, address: IPv4Address) -> Any:
        request = radius_packet.AuthPacket(
            code=radius_packet.AccessRequest,
            id=identifier,
            secret=server.secret,
            # RFC 2865 §3: unpredictable and unique. One urandom call; pyrad's
            # own draws each octet separately (16 system calls per request).
            authenticator=os.urandom(16),
            dict=self._dictionary,
        )
        request["User-Name"] = str(address)
        request["User-Password"] = request.PwCrypt(self.settings.user_password)
        if self._nas_ip_address is not None:
            request["NAS-IP-Address"] = str(self._nas_ip_address)
        request.add_message_authenticator()
        return request

    def _mark_dead(self, link: _ServerLink, address: IPv4Address, why: str) -> None:
        if self.settings.dead_time <= 0:
            return
        if link.dead_until is None or link.dead_until <= self._clock():
            link.counters.marked_dead += 1
            log.warning(
                "RADIUS %s: %s for %s; marked dead for %.0f s",
                link.server,
                why,
                address,
                self.settings.dead_time,
            )
        link.dead_until = self._clock() + self.settings.dead_time

    # -- state -----------------------------------------------------------------------

    def now(self) -> float:
        """The client's clock (``ServerStatus.dead_until`` is on it)."""
        return self._clock()

    def servers(self) -> list[ServerStatus]:
        now = self._clock()
        return [
            ServerStatus(
                link.server,
                link.dead_until if link.dead_until is not None and link.dead_until > now else None,
                len(link.exchanges),
                link.counters,
            )
            for link in self._links
        ]


def _text(values: list[bytes] | None) -> str | None:
    if not values:
        return None
    return " ".join(value.decode("utf-8", "replace") for value in values)[:200]
