"""SAs from a real FreeRADIUS 3.2 on loopback (Cisco-AVPair "mobileip:spi#N=").

The suite builds its own raddb under the test's temp dir from the packaged
/etc/freeradius/3.0 (reference/ecosystem.md §5): one virtual server on a free
port, modules trimmed to what PAP and the users file need, ``reject_delay = 0``,
``proxy_requests = no``, ``attr_filter.access_reject`` in Post-Auth-Type REJECT
so that a reject carries no keys, and every reply signed with a
Message-Authenticator (FreeRADIUS 3.2.1 signs non-EAP replies only when told
to; RFC 3579 §3.2, BlastRADIUS). FreeRADIUS runs in the foreground and the
tests start once it prints "Ready to process requests" (no sleeping).

Faults are real too: a closed port (ICMP port unreachable), a bound socket
that never answers, and a relay that tampers with replies on their way back.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any, TypeVar

import libyang
import pytest

from agent.config.loader import load_config_text
from agent.schema.context import TOP_MEMBER, yang_dir
from agent.mobileip.foreign_agent import ForeignAgent, ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
from agent.mobileip.outputs import Transmit
from agent.mobileip.proxy import ProxyAgent, ProxySettings, StaticForeignAgent, VisitorState
from agent.mobileip.security import Algorithm, SecurityAssociation, SecurityAssociationTable
from agent.mobileip.subnet_map import SubnetMap
from agent.radius.client import DICTIONARY_PATH, RadiusClient, RadiusClientSettings, RadiusServer
from agent.radius.resolver import (
    Accept,
    Cached,
    Failed,
    FailureReason,
    Malformed,
    Outcome,
    Reject,
    Rejected,
    Resolved,
    ResolverSettings,
    SecurityAssociationResolver,
    Timeout,
)
from tests.conftest import IN_CI, require_tool

FREERADIUS_CONFIG = Path("/etc/freeradius/3.0")
FREERADIUS_DICTIONARIES = Path("/usr/share/freeradius")
LOOPBACK = "127.0.0.1"
SECRET = b"testing123"
PASSWORD = "cisco"
HARD_TIMEOUT = 30.0
READY_TIMEOUT = 10.0
KEEP_MODULES = frozenset({"always", "attr_filter", "expr", "files", "pap", "preprocess"})

KEY = "00112233445566778899aabbccddeeff"
OTHER_KEY = "ffeeddccbbaa99887766554433221100"

#: The visitor of the end-to-end tests: its SA exists only in RADIUS (and at its
#: home agent). Cisco writes the SPI in hex: 1001 is 4097.
CLIENT = IPv4Address("10.1.2.3")
CLIENT_SA = SecurityAssociation(spi=0x1001, key=bytes.fromhex(KEY))

USERS: dict[str, list[str]] = {
    str(CLIENT): [f"mobileip:spi#0=spi 1001 key hex {KEY}"],
    "192.0.2.10": [
        f"mobileip:spi#0=spi 100 key hex {KEY} algorithm hmac-md5 replay timestamp within 7",
        f"mobileip:spi#1=replay timestamp algorithm md5 mode prefix-suffix key hex {OTHER_KEY} spi 101",
    ],
    "192.0.2.11": ["mobileip:spi#0=spi 100 key ascii cisco"],
    "192.0.2.12": ["shell:priv-lvl=15", f"mobileip:spi#0=spi 0x200 key hex {KEY}"],
    "192.0.2.30": [f"mobileip:spi#0=spi ff key hex {KEY}"],
    "192.0.2.31": ["mobileip:spi#0=spi 100 key hex 00112233"],
    "192.0.2.32": [f"mobileip:spi#0=spi 100 key hex {KEY} replay nonce"],
    "192.0.2.33": [],
    "192.0.2.34": [
        f"mobileip:spi#0=spi 100 key hex {KEY}",
        f"mobileip:spi#0=spi 101 key hex {KEY}",
    ],
}
UNKNOWN = IPv4Address("203.0.113.9")

T = TypeVar("T")


# -- FreeRADIUS ----------------------------------------------------------------------------


def users_file(users: dict[str, list[str]], password: str = PASSWORD) -> str:
    """The ``files`` module's users file: one entry per home address."""
    lines = []
    for address, avpairs in users.items():
        lines.append(f'"{address}"\tCleartext-Password := "{password}"')
        for number, value in enumerate(avpairs):
            operator = "=" if number == 0 else "+="
            end = "," if number < len(avpairs) - 1 else ""
            lines.append(f'\tCisco-AVPair {operator} "{value}"{end}')
        lines.append("")
    return "\n".join(lines)


_SITE = """server pmip {
	listen {
		type = auth
		ipaddr = %(address)s
		port = %(port)d
	}
	authorize {
		preprocess
		files
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
	}
	post-auth {
		update reply {
			&Message-Authenticator := 0x00000000000000000000000000000000
		}
		Post-Auth-Type REJECT {
			attr_filter.access_reject
			update reply {
				&Message-Authenticator := 0x00000000000000000000000000000000
			}
		}
	}
}
"""


def build_raddb(root: Path, *, port: int, users: str, secret: bytes = SECRET) -> Path:
    """A copy of the packaged configuration trimmed to one PAP server on
    loopback (ecosystem.md §5). Returns the raddb directory."""
    raddb = root / "raddb"
    if raddb.exists():
        shutil.rmtree(raddb)
    shutil.copytree(FREERADIUS_CONFIG, raddb, symlinks=True)
    for site in (raddb / "sites-enabled").iterdir():
        site.unlink()
    for module in (raddb / "mods-enabled").iterdir():
        if module.name not in KEEP_MODULES:
            module.unlink()
    for name in ("run", "log"):
        (root / name).mkdir(exist_ok=True)
    conf = raddb / "radiusd.conf"
    text = conf.read_text()
    edits = [
        # Run as whoever starts it: no switch to user freerad, who could not
        # read the test's temp dir.
        (r"^\s*(user|group)\s*=.*$", ""),
        # The default 1 s delays every Access-Reject (ecosystem.md §5).
        (r"^(\s*)reject_delay\s*=.*$", r"\1reject_delay = 0"),
        # Otherwise a wildcard proxy listener opens on a random port.
        (r"^proxy_requests\s*=.*$", "proxy_requests = no"),
        (r"^run_dir\s*=.*$", f"run_dir = {root / 'run'}"),
        (r"^logdir\s*=.*$", f"logdir = {root / 'log'}"),
    ]
    for pattern, replacement in edits:
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count, f"radiusd.conf has no line matching {pattern!r}"
    conf.write_text(text)
    (raddb / "clients.conf").write_text(
        "client localhost {\n"
        f"\tipaddr = {LOOPBACK}\n"
        f"\tsecret = {secret.decode()}\n"
        "\trequire_message_authenticator = no\n"
        "}\n"
    )
    (raddb / "sites-enabled" / "pmip").write_text(_SITE % {"address": LOOPBACK, "port": port})
    (raddb / "mods-config" / "files" / "authorize").write_text(users)
    return raddb


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class FreeRadius:
    """FreeRADIUS in the foreground on a free loopback port, stopped by its pid."""

    def __init__(self, executable: str, root: Path, users: str) -> None:
        self.executable = executable
        self.root = root
        self.users = users
        self.port = 0
        self.output: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> FreeRadius:
        for _ in range(5):  # another process may take the port between probe and bind
            self.port = free_udp_port()
            raddb = build_raddb(self.root, port=self.port, users=self.users)
            if self._launch(raddb):
                return self
        raise AssertionError("FreeRADIUS did not start:\n" + "".join(self.output[-30:]))

    def _launch(self, raddb: Path) -> bool:
        process = subprocess.Popen(
            [
                self.executable,
                "-f",
                "-l",
                "stdout",
                "-d",
                str(raddb),
                "-D",
                str(FREERADIUS_DICTIONARIES),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        ready = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:  # drained to the end: a full pipe would stall it
                self.output.append(line)
                if "Ready to process requests" in line:
                    ready.set()
            ready.set()  # exited

        reader = threading.Thread(target=read, name="freeradius-output", daemon=True)
        reader.start()
        ready.wait(READY_TIMEOUT)
        if process.poll() is None and any(
            "Ready to process requests" in line for line in self.output
        ):
            self._process, self._reader = process, reader
            return True
        process.kill()
        process.wait()
        self._close_output(process, reader)
        return False

    @staticmethod
    def _close_output(process: subprocess.Popen[str], reader: threading.Thread) -> None:
        """After the process exited: the reader reaches end of file, then the pipe
        is closed (not left to the garbage collector)."""
        reader.join(5)
        if process.stdout is not None:
            process.stdout.close()

    def stop(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                os.kill(self._process.pid, 15)
                try:
                    self._process.wait(5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            if self._reader is not None:
                self._close_output(self._process, self._reader)
        self._process, self._reader = None, None

    @property
    def server(self) -> RadiusServer:
        return RadiusServer(IPv4Address(LOOPBACK), SECRET, self.port)


def require_freeradius() -> str:
    executable = require_tool("freeradius")
    if not os.access(FREERADIUS_CONFIG / "radiusd.conf", os.R_OK):
        message = f"{FREERADIUS_CONFIG} is not readable by this user (the suite copies it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return executable


@pytest.fixture(scope="module")
def freeradius(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreeRadius]:
    server = FreeRadius(
        require_freeradius(), tmp_path_factory.mktemp("freeradius"), users_file(USERS)
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run(coroutine: Awaitable[T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, HARD_TIMEOUT)

    return asyncio.run(bounded())


def settings(*servers: RadiusServer, **overrides: Any) -> RadiusClientSettings:
    values: dict[str, Any] = {
        "user_password": PASSWORD,
        "timeout": 0.3,
        "retries": 1,
        "dead_time": 30.0,
    }
    values.update(overrides)
    return RadiusClientSettings(servers=servers, **values)


async def resolve_once(
    config: RadiusClientSettings, address: IPv4Address, **kwargs: Any
) -> tuple[Outcome, RadiusClient]:
    client = await RadiusClient.open(config, **kwargs)
    try:
        return await client.resolve(address), client
    finally:
        client.close()


class SilentServer:
    """A bound UDP socket that reads requests and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])

    def received(self) -> int:
        count = 0
        while True:
            try:
                self.sock.recv(4096)
            except BlockingIOError:
                return count
            count += 1

    def close(self) -> None:
        self.sock.close()

    @property
    def server(self) -> RadiusServer:
        return RadiusServer(IPv4Address(LOOPBACK), SECRET, self.port)


def closed_port() -> RadiusServer:
    return RadiusServer(IPv4Address(LOOPBACK), SECRET, free_udp_port())


# -- accept, reject, malformed -----------------------------------------------------------


def test_access_accept_carries_every_sa(freeradius: FreeRadius) -> None:
    outcome, client = run(resolve_once(settings(freeradius.server), IPv4Address("192.0.2.10")))
    assert isinstance(outcome, Accept)
    first, second = outcome.sas
    assert (first.spi, first.key.hex(), first.algorithm, first.replay_window) == (
        0x100,
        KEY,
        Algorithm.HMAC_MD5,
        7.0,
    )
    assert (second.spi, second.key.hex(), second.algorithm) == (
        0x101,
        OTHER_KEY,
        Algorithm.KEYED_MD5_PREFIX_SUFFIX,
    )
    [status] = client.servers()
    assert status.counters.accepts == 1 and status.counters.invalid_replies == 0
    assert status.dead_until is None


def test_ascii_key_and_other_cisco_avpairs(freeradius: FreeRadius) -> None:
    async def scenario() -> tuple[Outcome, Outcome]:
        client = await RadiusClient.open(settings(freeradius.server))
        try:
            return await client.resolve(IPv4Address("192.0.2.11")), await client.resolve(
                IPv4Address("192.0.2.12")
            )
        finally:
            client.close()

    ascii_key, with_other_pair = run(scenario())
    assert isinstance(ascii_key, Accept) and ascii_key.sas[0].key == b"cisco"
    # "shell:priv-lvl=15" is not ours to judge: skipped, the SA is read.
    assert isinstance(with_other_pair, Accept) and [sa.spi for sa in with_other_pair.sas] == [0x200]


def test_unknown_client_is_rejected(freeradius: FreeRadius) -> None:
    started = time.monotonic()
    outcome, client = run(resolve_once(settings(freeradius.server), UNKNOWN))
    assert isinstance(outcome, Reject)
    assert time.monotonic() - started < 0.9  # reject_delay = 0 (the default 1 s would show)
    assert client.servers()[0].counters.rejects == 1


def test_reject_carries_no_keys(freeradius: FreeRadius) -> None:
    """A wrong password for a node that has SAs: the Access-Reject, read raw
    with pyrad, has no Cisco-AVPair (attr_filter.access_reject at work)."""
    from pyrad import packet
    from pyrad.dictionary import Dictionary

    dictionary = Dictionary(str(DICTIONARY_PATH))
    request = packet.AuthPacket(code=packet.AccessRequest, id=7, secret=SECRET, dict=dictionary)
    request["User-Name"] = "192.0.2.10"
    request["User-Password"] = request.PwCrypt("wrong")
    request.add_message_authenticator()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(request.RequestPacket(), (LOOPBACK, freeradius.port))
        data = sock.recv(4096)
    reply = request.CreateReply(packet=data)
    assert request.VerifyReply(reply, data, enforce_ma=True)
    assert reply.code == packet.AccessReject
    assert OrderedDict.get(reply, (9, 1)) is None

    outcome, client = run(
        resolve_once(settings(freeradius.server, user_password="wrong"), IPv4Address("192.0.2.10"))
    )
    assert isinstance(outcome, Reject)
    assert client.servers()[0].counters.rejects_with_avpairs == 0


@pytest.mark.parametrize(
    ("address", "fault"),
    [
        ("192.0.2.30", "reserved-spi"),  # SPI 0xff < 256 (RFC 5944 §1.6)
        ("192.0.2.31", "key-too-short"),  # 4 octets
        ("192.0.2.32", "nonces-unsupported"),
        ("192.0.2.33", "without a mobileip:spi"),  # Access-Accept with no SA
        ("192.0.2.34", "duplicate-index"),
    ],
)
def test_malformed_sa_is_refused_and_counted(
    freeradius: FreeRadius, address: str, fault: str
) -> None:
    outcome, client = run(resolve_once(settings(freeradius.server), IPv4Address(address)))
    assert isinstance(outcome, Malformed)
    assert fault in outcome.reason
    assert KEY not in outcome.reason
    counters = client.servers()[0].counters
    assert (counters.malformed, counters.accepts) == (1, 0)


# -- replies that fail authentication ------------------------------------------------------


class Relay(asyncio.DatagramProtocol):
    """Sits between the client and FreeRADIUS and rewrites replies; with
    ``answer_from_elsewhere`` the rewritten reply comes from another port than
    the one the client sent its request to."""

    def __init__(self, upstream: tuple[str, int], rewrite: Callable[[bytes, bytes], bytes], *,
                 answer_from_elsewhere: bool = False) -> None:
        self.upstream = upstream
        self.rewrite = rewrite
        self.answer_from_elsewhere = answer_from_elsewhere
        self.transport: asyncio.DatagramTransport | None = None
        self.requests: dict[int, tuple[bytes, tuple[str, int]]] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests[data[1]] = (data[4:20], addr)
        loop = asyncio.get_running_loop()
        self.sock.sendto(data, self.upstream)
        loop.add_reader(self.sock.fileno(), self._reply)

    def _reply(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.sock.fileno())
        data = self.sock.recv(4096)
        authenticator, addr = self.requests[data[1]]
        assert self.transport is not None
        if self.answer_from_elsewhere:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as elsewhere:
                elsewhere.bind((LOOPBACK, 0))
                elsewhere.sendto(self.rewrite(data, authenticator), addr)
            return
        self.transport.sendto(self.rewrite(data, authenticator), addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.sock.close()


async def with_relay(
    freeradius: FreeRadius,
    rewrite: Callable[[bytes, bytes], bytes],
    address: IPv4Address,
    *,
    answer_from_elsewhere: bool = False,
    **overrides: Any,
) -> tuple[Outcome, RadiusClient]:
    loop = asyncio.get_running_loop()
    relay = Relay((LOOPBACK, freeradius.port), rewrite, answer_from_elsewhere=answer_from_elsewhere)
    transport, _ = await loop.create_datagram_endpoint(lambda: relay, local_addr=(LOOPBACK, 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        return await resolve_once(
            settings(RadiusServer(IPv4Address(LOOPBACK), SECRET, port), retries=0, **overrides),
            address,
        )
    finally:
        relay.close()


def flip_key_digit(data: bytes, request_authenticator: bytes) -> bytes:
    """A man in the middle changes the key: the Response Authenticator no longer fits."""
    at = data.index(b"key hex ") + len(b"key hex ")
    return data[:at] + (b"1" if data[at : at + 1] != b"1" else b"2") + data[at + 1 :]


def strip_message_authenticator(data: bytes, request_authenticator: bytes) -> bytes:
    """The reply without its Message-Authenticator, re-signed with the right
    secret: authentic by RFC 2865, but not by RFC 3579 §3.2."""
    attributes, at = b"", 20
    while at < len(data):
        length = data[at + 1]
        if data[at] != 80:
            attributes += data[at : at + length]
        at += length
    header = bytes([data[0], data[1]]) + (20 + len(attributes)).to_bytes(2, "big")
    digest = hashlib.md5(header + request_authenticator + attributes + SECRET).digest()
    return header + digest + attributes


def attributes_of(data: bytes) -> list[bytes]:
    attributes, at = [], 20
    while at < len(data):
        attributes.append(data[at : at + data[at + 1]])
        at += data[at + 1]
    return attributes


def signed(code: int, identifier: int, request_authenticator: bytes, attributes: list[bytes],
           *, secret: bytes = SECRET) -> bytes:
    """A reply with the RFC 2865 §3 Response Authenticator computed with ``secret``
    (the Message-Authenticator, if any, is left as it is)."""
    body = b"".join(attributes)
    header = bytes([code, identifier]) + (20 + len(body)).to_bytes(2, "big")
    return header + hashlib.md5(header + request_authenticator + body + secret).digest() + body


def message_authenticator(code: int, identifier: int, request_authenticator: bytes,
                          attributes: list[bytes]) -> list[bytes]:
    """``attributes`` with their Message-Authenticator recomputed (RFC 3579 §3.2:
    HMAC-MD5 over the reply with the Request Authenticator in its place and
    the Message-Authenticator zeroed)."""
    zeroed = [a if a[0] != 80 else a[:2] + bytes(16) for a in attributes]
    body = b"".join(zeroed)
    header = bytes([code, identifier]) + (20 + len(body)).to_bytes(2, "big")
    digest = hmac.new(SECRET, header + request_authenticator + body, hashlib.md5).digest()
    return [a if a[0] != 80 else a[:2] + digest for a in attributes]


def strip_message_authenticator_and_forge(data: bytes, request_authenticator: bytes) -> bytes:
    """No Message-Authenticator, and the key changed by someone without the
    secret: the Response Authenticator (signed with a wrong secret) is all that
    can tell."""
    attributes = [a for a in attributes_of(data) if a[0] != 80]
    attributes = [a.replace(KEY.encode(), OTHER_KEY.encode()) for a in attributes]
    return signed(data[0], data[1], request_authenticator, attributes, secret=b"not-the-secret")


def break_message_authenticator_only(data: bytes, request_authenticator: bytes) -> bytes:
    """A wrong Message-Authenticator under a right Response Authenticator."""
    attributes = [a if a[0] != 80 else a[:2] + bytes(16) for a in attributes_of(data)]
    return signed(data[0], data[1], request_authenticator, attributes)


def other_identifier(data: bytes, request_authenticator: bytes) -> bytes:
    """The reply re-signed in full (both authenticators right) for another
    Identifier: an answer to a request that is not in flight."""
    identifier = (data[1] + 1) % 256
    attributes = message_authenticator(data[0], identifier, request_authenticator, attributes_of(data))
    return signed(data[0], identifier, request_authenticator, attributes)


def as_is(data: bytes, request_authenticator: bytes) -> bytes:
    return data


def test_no_message_authenticator_and_a_wrong_response_authenticator_is_dropped(freeradius: FreeRadius) -> None:
    """Issue 13: with ``require_message_authenticator`` off, a reply without a
    Message-Authenticator is judged by its Response Authenticator alone (RFC
    2865 §3): a wrong one is dropped and counted, and the forged key is never
    used."""
    outcome, client = run(with_relay(freeradius, strip_message_authenticator_and_forge, IPv4Address("192.0.2.10"),
                                     require_message_authenticator=False))
    assert isinstance(outcome, Timeout)
    counters = client.servers()[0].counters
    assert counters.invalid_replies == 1 and counters.accepts == 0


def test_a_wrong_message_authenticator_is_dropped_even_when_not_required(freeradius: FreeRadius) -> None:
    """RFC 3579 §3.2: a Message-Authenticator that is present is checked, and a
    wrong one drops the reply, whatever the Response Authenticator says."""
    for required in (True, False):
        outcome, client = run(with_relay(freeradius, break_message_authenticator_only,
                                         IPv4Address("192.0.2.10"), require_message_authenticator=required))
        assert isinstance(outcome, Timeout)
        counters = client.servers()[0].counters
        assert counters.invalid_replies == 1 and counters.accepts == 0


def test_a_reply_to_an_identifier_not_in_flight_is_ignored(freeradius: FreeRadius) -> None:
    """RFC 2865 §3: the Identifier matches a reply to its request; a reply for
    another Identifier, even one signed right, answers nothing and is counted
    as unknown (not judged against the request in flight)."""
    outcome, client = run(with_relay(freeradius, other_identifier, IPv4Address("192.0.2.10")))
    assert isinstance(outcome, Timeout)
    counters = client.servers()[0].counters
    assert counters.unknown_replies == 1 and counters.invalid_replies == 0 and counters.accepts == 0


def test_a_reply_from_another_port_is_never_taken(freeradius: FreeRadius) -> None:
    """A reply counts only from the address and
    port the request went to. The client's socket is connected to the server,
    so the kernel delivers nothing else: FreeRADIUS's own, untouched reply sent
    from another port of the same host answers nothing."""
    outcome, client = run(with_relay(freeradius, as_is, IPv4Address("192.0.2.10"), answer_from_elsewhere=True))
    assert isinstance(outcome, Timeout)
    counters = client.servers()[0].counters
    assert counters.accepts == 0
    relayed, _ = run(with_relay(freeradius, as_is, IPv4Address("192.0.2.10")))
    assert isinstance(relayed, Accept)  # the same reply from the right port is taken


def test_tampered_reply_is_dropped(freeradius: FreeRadius) -> None:
    outcome, client = run(with_relay(freeradius, flip_key_digit, IPv4Address("192.0.2.10")))
    assert isinstance(outcome, Timeout)  # dropped (RFC 2865 §3), so nothing answered
    counters = client.servers()[0].counters
    assert counters.invalid_replies == 1 and counters.accepts == 0


def test_reply_without_message_authenticator(freeradius: FreeRadius) -> None:
    address = IPv4Address("192.0.2.10")
    outcome, client = run(with_relay(freeradius, strip_message_authenticator, address))
    assert isinstance(outcome, Timeout)
    assert client.servers()[0].counters.invalid_replies == 1
    relaxed, _ = run(
        with_relay(
            freeradius, strip_message_authenticator, address, require_message_authenticator=False
        )
    )
    assert isinstance(relaxed, Accept)


def _client_settings_from_yang(port: int, **radius_leaves: Any) -> RadiusClientSettings:
    """The RADIUS client settings a startup file gives, validated by libyang and
    mapped by the loader: one server (the relay on ``port``), the test's timers."""
    radius = {
        "server": [{"address": LOOPBACK, "port": port, "shared-secret": SECRET.decode()}],
        "user-password": PASSWORD, "timeout": 1, "retries": 0, **radius_leaves,
    }
    config = load_config_text(json.dumps({TOP_MEMBER: {"radius": radius}}), "json")
    assert config.radius is not None
    return config.radius.client


async def _unsigned_accept_through_yang(
    freeradius: FreeRadius, address: IPv4Address, **radius_leaves: Any
) -> tuple[Outcome, RadiusClient]:
    loop = asyncio.get_running_loop()
    relay = Relay((LOOPBACK, freeradius.port), strip_message_authenticator)
    transport, _ = await loop.create_datagram_endpoint(lambda: relay, local_addr=(LOOPBACK, 0))
    try:
        config = _client_settings_from_yang(transport.get_extra_info("sockname")[1], **radius_leaves)
        return await resolve_once(config, address)
    finally:
        relay.close()


def test_yang_leaf_decides_whether_unsigned_accepts_are_believed(freeradius: FreeRadius) -> None:
    """radius/require-message-authenticator (RFC 3579 §3.2, BlastRADIUS
    CVE-2024-3596): absent, an Access-Accept from FreeRADIUS stripped of its
    Message-Authenticator (authentic by RFC 2865 §3) is dropped and counted;
    false, the same reply is believed and its SA used."""
    address = IPv4Address("192.0.2.10")
    outcome, client = run(_unsigned_accept_through_yang(freeradius, address))
    assert isinstance(outcome, Timeout)
    counters = client.servers()[0].counters
    assert (counters.invalid_replies, counters.accepts) == (1, 0)
    required, _ = run(_unsigned_accept_through_yang(
        freeradius, address, **{"require-message-authenticator": True}))
    assert isinstance(required, Timeout)
    relaxed, client = run(_unsigned_accept_through_yang(
        freeradius, address, **{"require-message-authenticator": False}))
    assert isinstance(relaxed, Accept) and relaxed.sas
    assert client.servers()[0].counters.accepts == 1


# -- failover and dead servers ---------------------------------------------------------


def test_failover_from_a_closed_port(freeradius: FreeRadius) -> None:
    """A closed port: its ICMP port unreachable errors are counted, and the
    server is marked dead by its time-outs alone, then the next one answers."""
    closed = closed_port()
    outcome, client = run(
        resolve_once(
            settings(closed, freeradius.server, timeout=0.3, retries=1), IPv4Address("192.0.2.10")
        )
    )
    assert isinstance(outcome, Accept)
    first, second = client.servers()
    assert first.counters.unreachable >= 1
    assert first.counters.timeouts == 1 and first.counters.marked_dead == 1
    assert first.dead_until is not None
    assert second.counters.accepts == 1


def test_an_icmp_error_neither_marks_a_server_dead_nor_ends_the_lookup(
        freeradius: FreeRadius) -> None:
    """Issue 13: ICMP is unauthenticated. An honest stand-in for a forged port
    unreachable: the server's port is closed when the request is first sent
    (the kernel answers ICMP port unreachable to the client's connected
    socket), then the server comes up and answers the retransmission. The
    lookup succeeds, the error is counted, the server stays alive."""
    closed = closed_port()

    async def scenario() -> tuple[Outcome, RadiusClient]:
        loop = asyncio.get_running_loop()
        client = await RadiusClient.open(settings(closed, timeout=0.5, retries=1, dead_time=60.0))
        try:
            lookup = asyncio.ensure_future(client.resolve(IPv4Address("192.0.2.10")))
            for _ in range(40):  # the ICMP error arrives within a millisecond or so
                await asyncio.sleep(0.01)
                if client.servers()[0].counters.unreachable:
                    break
            relay = Relay((LOOPBACK, freeradius.port), as_is)
            await loop.create_datagram_endpoint(lambda: relay, local_addr=(LOOPBACK, closed.port))
            try:
                return await lookup, client
            finally:
                relay.close()
        finally:
            client.close()

    outcome, client = run(scenario())
    [status] = client.servers()
    assert status.counters.unreachable == 1
    assert isinstance(outcome, Accept)
    assert status.counters.retransmissions == 1 and status.counters.accepts == 1
    assert status.counters.marked_dead == 0 and status.dead_until is None


def test_dead_after_the_configured_number_of_silent_lookups() -> None:
    """dead_criteria_tries (Cisco 'radius-server dead-criteria tries'): dead
    only after that many consecutive lookups went unanswered."""
    silent = SilentServer()

    async def scenario() -> list[int]:
        client = await RadiusClient.open(
            settings(silent.server, timeout=0.1, retries=0, dead_criteria_tries=3))
        try:
            marked = []
            for n in range(3):
                await client.resolve(IPv4Address("192.0.2.10") + n)
                marked.append(client.servers()[0].counters.marked_dead)
            return marked
        finally:
            client.close()

    try:
        assert run(scenario()) == [0, 0, 1]
    finally:
        silent.close()


def test_dead_only_once_the_criteria_time_has_passed() -> None:
    """dead_criteria_time (Cisco 'radius-server dead-criteria time'): a burst
    of lookups timing out together is not enough; the silence must last."""
    silent = SilentServer()
    clock = [1000.0]

    async def scenario() -> list[int]:
        client = await RadiusClient.open(
            settings(silent.server, timeout=0.05, retries=0, dead_criteria_tries=2,
                     dead_criteria_time=10.0),
            clock=lambda: clock[0])
        try:
            marked = []
            for step in (0.0, 5.0, 6.0):  # silent at 1000, 1005, 1011
                clock[0] += step
                await client.resolve(IPv4Address("192.0.2.10"))
                marked.append(client.servers()[0].counters.marked_dead)
            return marked
        finally:
            client.close()

    try:
        assert run(scenario()) == [0, 0, 1]
    finally:
        silent.close()


def test_an_answer_resets_the_dead_criteria(freeradius: FreeRadius) -> None:
    """Silent, then answered, then silent: with tries 2 never dead, since the
    answer in between started the count again."""
    closed = closed_port()

    async def scenario() -> RadiusClient:
        loop = asyncio.get_running_loop()
        client = await RadiusClient.open(settings(closed, timeout=0.1, retries=0,
                                                  dead_criteria_tries=2))
        try:
            assert isinstance(await client.resolve(IPv4Address("192.0.2.10")), Timeout)
            relay = Relay((LOOPBACK, freeradius.port), as_is)
            await loop.create_datagram_endpoint(lambda: relay, local_addr=(LOOPBACK, closed.port))
            try:
                assert isinstance(await client.resolve(IPv4Address("192.0.2.10")), Accept)
            finally:
                relay.close()
            assert isinstance(await client.resolve(IPv4Address("192.0.2.10")), Timeout)
            return client
        finally:
            client.close()

    [status] = run(scenario()).servers()
    assert status.counters.timeouts == 2 and status.counters.marked_dead == 0


def test_dead_server_is_skipped_until_its_dead_time_ends(freeradius: FreeRadius) -> None:
    silent = SilentServer()
    clock = [1000.0]

    async def scenario() -> None:
        client = await RadiusClient.open(
            settings(silent.server, freeradius.server, timeout=0.2, retries=1, dead_time=60.0),
            clock=lambda: clock[0],
        )
        try:
            first = await client.resolve(IPv4Address("192.0.2.10"))
            assert isinstance(first, Accept)
            assert silent.received() == 2  # one request, one retransmission
            quiet, _ = client.servers()
            assert quiet.counters.timeouts == 1 and quiet.dead_until == 1060.0

            second = await client.resolve(IPv4Address("192.0.2.11"))
            assert isinstance(second, Accept)
            assert silent.received() == 0  # dead: not even tried

            clock[0] += 61.0  # the dead time is over: tried first again
            third = await client.resolve(IPv4Address("192.0.2.12"))
            assert isinstance(third, Accept)
            assert silent.received() == 2
            assert client.servers()[0].counters.marked_dead == 2
        finally:
            client.close()

    try:
        run(scenario())
    finally:
        silent.close()


def test_all_servers_down_means_timeout_then_backoff(freeradius: FreeRadius) -> None:
    """Nobody answers: the resolver gets Timeout, keeps the lookup and asks again
    after 5 s; SAs it cached before keep resolving meanwhile."""
    silent = SilentServer()
    resolver = SecurityAssociationResolver(ResolverSettings(cache_lifetime=3600))
    cached_address, lost_address = IPv4Address("192.0.2.11"), IPv4Address("192.0.2.10")

    async def scenario() -> None:
        up = await RadiusClient.open(settings(freeradius.server))
        try:
            resolver.lookup(cached_address, 0.0)
            assert resolver.next_request() == cached_address
            resolver.answer(cached_address, await up.resolve(cached_address), 0.0)
        finally:
            up.close()
        down = await RadiusClient.open(
            settings(closed_port(), silent.server, timeout=0.2, retries=0)
        )
        try:
            resolver.lookup(lost_address, 1.0)
            assert resolver.next_request() == lost_address
            resolver.answer(lost_address, await down.resolve(lost_address), 1.0)
        finally:
            down.close()

    try:
        run(scenario())
    finally:
        silent.close()
    events = [resolver.next_event(), resolver.next_event()]
    assert isinstance(events[0], Resolved)
    assert events[1] == Failed(
        lost_address, FailureReason.NO_SERVER, "no RADIUS server answered", 6.0
    )
    assert resolver.get_timer() == 6.0
    assert isinstance(resolver.lookup(cached_address, 2.0), Cached)
    resolver.handle_timer(6.0)
    assert resolver.next_request() == lost_address
    assert resolver.counters.timeouts == 1


# -- cache -------------------------------------------------------------------------------


def test_cache_expiry_asks_the_server_again(freeradius: FreeRadius) -> None:
    resolver = SecurityAssociationResolver(
        ResolverSettings(cache_lifetime=30, negative_cache_lifetime=10)
    )
    address = IPv4Address("192.0.2.10")

    async def ask(target: IPv4Address, now: float, client: RadiusClient) -> object:
        result = resolver.lookup(target, now)
        if (asked := resolver.next_request()) is not None:
            resolver.answer(asked, await client.resolve(asked), now)
            result = resolver.lookup(target, now)
        return result

    async def scenario() -> RadiusClient:
        client = await RadiusClient.open(settings(freeradius.server))
        try:
            for now in (0.0, 29.9, 30.0, 31.0):
                assert isinstance(await ask(address, now, client), Cached)
            for now in (0.0, 9.9, 10.0):
                assert isinstance(await ask(UNKNOWN, now, client), Rejected)
            return client
        finally:
            client.close()

    client = run(scenario())
    counters = client.servers()[0].counters
    # 192.0.2.10 at 0 and again at 30 (expired); the unknown node at 0 and 10.
    assert (counters.requests, counters.accepts, counters.rejects) == (4, 2, 2)
    assert (resolver.counters.cache_hits, resolver.counters.negative_cache_hits) == (4, 3)


def test_burst_keeps_outstanding_requests_bounded(freeradius: FreeRadius) -> None:
    """300 new visitors at once, at most 8 Access-Requests in flight."""
    resolver = SecurityAssociationResolver(ResolverSettings(max_outstanding=8))
    addresses = [IPv4Address("198.18.0.0") + n for n in range(300)] + [IPv4Address("192.0.2.10")]
    peak = 0

    async def scenario() -> None:
        nonlocal peak
        client = await RadiusClient.open(settings(freeradius.server, timeout=2.0))
        done = asyncio.Event()
        finished = 0

        def answered(address: IPv4Address, outcome: Outcome) -> None:
            nonlocal finished
            resolver.answer(address, outcome, 0.0)
            finished += 1
            pump()
            if finished == len(addresses):
                done.set()

        def pump() -> None:
            nonlocal peak
            while (address := resolver.next_request()) is not None:
                client.submit(address, answered)
            peak = max(peak, resolver.outstanding)

        try:
            for address in addresses:
                resolver.lookup(address, 0.0)
            pump()
            await done.wait()
        finally:
            client.close()

    run(scenario())
    assert peak == 8
    assert resolver.counters.requests == len(addresses)
    assert (resolver.counters.rejects, resolver.counters.accepts) == (300, 1)


# -- end to end: AP -> FA -> HA with the SA only in RADIUS ---------------------------------

NOW = 1_800_000_000.0
HOME_AGENT = IPv4Address("10.1.1.1")
HOME_NETWORK = IPv4Network("10.1.0.0/16")
FOREIGN_AGENT = IPv4Address("192.0.2.1")
FOREIGN_NETWORK = IPv4Network("192.0.2.0/24")
ACCESS_POINT = IPv4Address("192.0.2.50")
FOREIGN_HOME_KEY = bytes.fromhex("5e4d3c2b1a0918273645546372819aab")


@dataclass
class Network:
    """AP, FA and HA joined by a fake link (the h11 pair pattern of test_pair.py)."""

    proxy: ProxyAgent
    foreign_agent: ForeignAgent
    home_agent: HomeAgent

    def run(self, now: float) -> None:
        for _ in range(100):
            moved: list[tuple[IPv4Address, Transmit]] = [
                *((ACCESS_POINT, t) for t in self.proxy.datagrams_to_send()),
                *((FOREIGN_AGENT, t) for t in self.foreign_agent.datagrams_to_send()),
                *((HOME_AGENT, t) for t in self.home_agent.datagrams_to_send()),
            ]
            if not moved:
                return
            for source, transmit in moved:
                engine: Any = {
                    ACCESS_POINT: self.proxy,
                    FOREIGN_AGENT: self.foreign_agent,
                    HOME_AGENT: self.home_agent,
                }[transmit.destination]
                engine.receive_datagram(transmit.data, source, transmit.port, now)
        raise AssertionError("the link never went quiet")


def make_network() -> Network:
    mobile_nodes = SecurityAssociationTable()
    mobile_nodes.add(CLIENT, CLIENT_SA)  # the home agent has it; the AP does not
    peers = SecurityAssociationTable()
    peers.add(FOREIGN_AGENT, SecurityAssociation(spi=2000, key=FOREIGN_HOME_KEY))
    home_agent = HomeAgent(
        HomeAgentSettings(HOME_AGENT, home_network=HOME_NETWORK),
        mobile_nodes=mobile_nodes,
        peers=peers,
    )
    home_agents = SecurityAssociationTable()
    home_agents.add(HOME_AGENT, SecurityAssociation(spi=2000, key=FOREIGN_HOME_KEY))
    foreign_agent = ForeignAgent(
        ForeignAgentSettings(FOREIGN_AGENT, max_lifetime=600, advertisement_interval=0.0),
        home_agents=home_agents,
        now=NOW,
    )
    proxy = ProxyAgent(
        ProxySettings(
            local_networks=(FOREIGN_NETWORK,), foreign_agent=StaticForeignAgent(FOREIGN_AGENT)
        ),
        subnet_map=SubnetMap({HOME_NETWORK: HOME_AGENT}),
        host_associations=SecurityAssociationTable(),  # no local SA at all
        sa_resolver=SecurityAssociationResolver(),
    )
    return Network(proxy, foreign_agent, home_agent)


async def answer_lookups(network: Network, client: RadiusClient, now: float) -> None:
    """What the runtime's adapter does: send what the proxy asks for, feed back
    the outcomes, flush."""
    while addresses := network.proxy.sa_requests_to_send():
        outcomes = await asyncio.gather(*(client.resolve(address) for address in addresses))
        for address, outcome in zip(addresses, outcomes, strict=True):
            network.proxy.sa_answer(address, outcome, now)
        network.run(now)


def test_visitor_registers_with_an_sa_that_exists_only_in_radius(freeradius: FreeRadius) -> None:
    network = make_network()
    mac = "00:11:22:33:44:55"
    network.proxy.client_associated(mac, NOW, address=CLIENT)
    network.run(NOW)
    visitor = network.proxy.visitor(mac)
    assert visitor is not None and visitor.state is VisitorState.SA_PENDING
    assert network.proxy.sa_requests_to_send() == [CLIENT]

    async def scenario() -> None:
        client = await RadiusClient.open(settings(freeradius.server))
        try:
            outcome = await client.resolve(CLIENT)
            network.proxy.sa_answer(CLIENT, outcome, NOW)
            network.run(NOW)
        finally:
            client.close()

    run(scenario())
    assert visitor.state is VisitorState.REGISTERED
    assert visitor.sa_from_radius and visitor.spi == 0x1001 and visitor.reason is None
    [binding] = network.home_agent.bindings()
    assert (binding.home_address, binding.care_of_address) == (CLIENT, FOREIGN_AGENT)


def test_visitor_refused_by_radius_is_not_registered(freeradius: FreeRadius) -> None:
    network = make_network()
    mac = "00:11:22:33:44:66"
    stranger = IPv4Address("10.1.9.9")

    async def scenario() -> None:
        client = await RadiusClient.open(settings(freeradius.server))
        try:
            network.proxy.client_associated(mac, NOW, address=stranger)
            await answer_lookups(network, client, NOW)
        finally:
            client.close()

    run(scenario())
    visitor = network.proxy.visitor(mac)
    assert visitor is not None and visitor.state is VisitorState.NO_SECURITY_ASSOCIATION
    assert visitor.reason == "RADIUS: Access-Reject"
    assert network.home_agent.bindings() == []
    resolver = network.proxy.sa_resolver
    assert resolver is not None and resolver.counters.rejects == 1


def test_the_yang_defaults_of_the_dead_criteria_are_the_clients() -> None:
    context = libyang.Context(str(yang_dir()))
    try:
        context.load_module("proxy-mobile-ip")

        def default(name: str) -> str:
            return str(next(context.find_path(f"/{TOP_MEMBER}/radius/{name}")).default())

        found = (int(default("dead-criteria-tries")), float(default("dead-criteria-time")))
    finally:
        context.destroy()
    defaults = RadiusClientSettings(servers=(closed_port(),), user_password=PASSWORD)
    assert found == (defaults.dead_criteria_tries, defaults.dead_criteria_time)
