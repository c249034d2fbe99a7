"""One driver per interface of the agent under fuzz. Each can send one mutated
message (``fuzz``), wait until the agent has read what was sent so far
(``sync``: a valid request answered after the mutated ones, so the harness runs
at the agent's pace and never just fills a socket buffer) and time one valid
exchange (``probe``, seconds; raises ``Unanswered``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
import subprocess
import time
from ipaddress import IPv4Address
from typing import Any, Protocol

from agent.mobileip import replay
from agent.mobileip.advertisement import encode_solicitation, icmp_checksum
from agent.mobileip.builder import build_request
from agent.mobileip.numbers import ExtensionType
from agent.mobileip.registration import decode_reply
from agent.mobileip.security import authenticate
from agent.snmp import ber
from tools.fuzz import corpus, target
from tools.fuzz.mutate import BINARY_MUTATORS, TEXT_MUTATORS, Shape, mutate

TIMEOUT = 5.0
#: The largest UDP payload over IPv4 (65,535 - 20 - 8): longer mutations are cut.
MAX_DATAGRAM = 65507


#: RFC 1256 §6 host constant: solicitations sent before giving up.
MAX_SOLICITATIONS = 3


class Unanswered(Exception):
    """A valid request got no (valid) answer in time."""


class Interface(Protocol):
    name: str

    def fuzz(self) -> None: ...
    def sync(self) -> None: ...
    def probe(self) -> float: ...
    def close(self) -> None: ...


def _udp(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    return sock


def _drain(sock: socket.socket) -> int:
    count = 0
    sock.setblocking(False)
    try:
        while True:
            sock.recv(65535)
            count += 1
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)
    return count


class Registration:
    """UDP 434 of the home agent or the foreign agent (RFC 5944 §3): mutated
    requests and replies from a node's, the FA's and the HA's addresses; 30 %
    of the mutated requests are signed again with the node's key after the
    mutation, so they pass authentication and reach the engine's checks."""

    def __init__(self, name: str, rng: random.Random, destination: str) -> None:
        self.name = name
        self.rng = rng
        self.destination = (destination, target.REGISTRATION_PORT)
        self.requests = corpus.registration_requests(rng)
        self.messages = self.requests + corpus.registration_replies(rng)
        self.senders = [_udp(a) for a in (target.SENDER, target.FA, target.HA)]
        for sock in self.senders:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        self.node = _udp(target.SENDER)
        self.node.settimeout(TIMEOUT)
        self._sequence = 0
        self.answers = 0

    def fuzz(self) -> None:
        if self.rng.random() < 0.3:
            # Authenticated mutation: mutate the header and the extensions
            # before the MHAE, then sign (RFC 5944 §3.5.2) with a fresh
            # Identification so that the replay check passes too.
            base = self.rng.choice(self.requests)
            body = base[:self._mhae_offset(base)]
            mutated, _ = mutate(self.rng, [body], Shape(tlv_start=24), BINARY_MUTATORS)
            if len(mutated) >= 24:
                ident = replay.ntp_identification(time.time(), self.rng.getrandbits(16))
                mutated = mutated[:16] + ident.to_bytes(8, "big") + mutated[24:]
            data = authenticate(mutated, ExtensionType.MOBILE_HOME_AUTHENTICATION, corpus.MN_SA)
        else:
            data, _ = mutate(self.rng, self.messages, Shape(tlv_start=24 if self.rng.random() < 0.6 else 20))
        self.rng.choice(self.senders).sendto(data[:MAX_DATAGRAM], self.destination)

    @staticmethod
    def _mhae_offset(data: bytes) -> int:
        pos = 24
        while pos + 2 <= len(data):
            if data[pos] == ExtensionType.MOBILE_HOME_AUTHENTICATION:
                return pos
            pos += 2 + data[pos + 1]
        return len(data)

    def probe(self) -> float:
        """A valid registration answered (accepted) by the role: directly by
        the HA (co-located care-of address) or relayed FA -> HA -> FA."""
        self._sequence += 1
        via_fa = self.destination[0] == target.FA
        home = IPv4Address("192.0.2.0") + (150 if via_fa else 200) + self._sequence % 50
        care_of = IPv4Address(target.FA if via_fa else target.SENDER)
        ident = replay.ntp_identification(time.time(), self._sequence & 0xFFFF)
        data = build_request(home_address=home, home_agent=IPv4Address(target.HA), care_of_address=care_of,
                             identification=ident, lifetime=300, sa=corpus.MN_SA)
        start = time.perf_counter()
        self.node.sendto(data, self.destination)
        deadline = start + TIMEOUT
        while True:
            try:
                self.node.settimeout(max(0.001, deadline - time.perf_counter()))
                raw = self.node.recv(65535)
            except TimeoutError:
                raise Unanswered(f"{self.name}: no reply to a valid registration") from None
            reply = decode_reply(raw)
            if replay.low32(reply.identification) == replay.low32(ident):
                if not reply.accepted:
                    raise Unanswered(f"{self.name}: valid registration denied with code {reply.code}")
                return time.perf_counter() - start

    def sync(self) -> None:
        self.probe()
        for sock in self.senders:
            self.answers += _drain(sock)

    def close(self) -> None:
        for sock in (*self.senders, self.node):
            sock.close()


class ControlClient:
    """Blocking JSON-lines client of the agent's control socket."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = self._connect()
        self.buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        sock.connect(self.path)
        return sock

    def reconnect(self) -> None:
        self.sock.close()
        self.sock = self._connect()
        self.buffer = b""

    def read_line(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionResetError("control socket closed")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.sock.sendall(json.dumps(payload).encode() + b"\n")
        answer: dict[str, Any] = json.loads(self.read_line())
        return answer

    def close(self) -> None:
        self.sock.close()


class ProxyRegistration:
    """The proxy's registration socket (UDP 434): mutated Registration Replies
    (RFC 5944 §3.4) from the FA's address, as its foreign agent would send.
    The probe is the proxy's own work: a client associates over the control
    socket and the time until the proxy counts it registered (RRQ proxy -> FA
    -> HA, RRP back) is the round trip."""

    name = "proxy-udp"

    def __init__(self, rng: random.Random, control: str) -> None:
        self.rng = rng
        self.destination = (target.PROXY, target.REGISTRATION_PORT)
        self.replies = corpus.registration_replies(rng) + corpus.registration_requests(rng, 16)
        self.senders = [_udp(target.FA), _udp(target.SENDER)]
        self.control = ControlClient(control)
        self._sequence = 0

    def fuzz(self) -> None:
        data, _ = mutate(self.rng, self.replies, Shape(tlv_start=20))
        self.rng.choice(self.senders).sendto(data[:MAX_DATAGRAM], self.destination)

    def _registered(self) -> int:
        return int(self.control.call({"op": "state", "rows": False})["proxy"]["registered-count"])

    def _wait(self, predicate: Any, what: str) -> None:
        deadline = time.perf_counter() + TIMEOUT
        while not predicate(self._registered()):
            if time.perf_counter() > deadline:
                raise Unanswered(f"proxy: {what}")
            time.sleep(0.0005)

    def probe(self) -> float:
        self._sequence += 1
        mac = "02:fe:00:00:00:{:02x}".format(self._sequence % 40)
        address = str(IPv4Address("192.0.2.20") + self._sequence % 40)
        before = self._registered()
        start = time.perf_counter()
        self.control.call({"op": "associate", "mac": mac, "address": address, "interface": "wlan0"})
        self._wait(lambda n: n > before, "associated client never registered")
        elapsed = time.perf_counter() - start
        self.control.call({"op": "disassociate", "mac": mac})
        self._wait(lambda n: n <= before, "disassociated client never deregistered")
        return elapsed

    def sync(self) -> None:
        # A control request is read after the datagrams already queued only
        # if the loop has caught up; a state round trip is the cheap check.
        self._registered()

    def close(self) -> None:
        for sock in self.senders:
            sock.close()
        self.control.close()


class Icmp:
    """Agent Advertisements and Solicitations (RFC 5944 §2) on a raw socket,
    to the all-mobility-agents group 224.0.0.11, all-systems 224.0.0.1 and the
    agents' own addresses, with TTL 1 mostly and other TTLs sometimes (RFC
    5944 §2.1 requires 1). 70 % of the mutated messages get a correct ICMP
    checksum again so they pass the RFC 1256 §4.2 check and reach the parser.
    The probe: a solicitation to the FA, answered by an advertisement."""

    name = "icmp"
    DESTINATIONS = ("224.0.0.11", "224.0.0.1", target.FA, target.PROXY)

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.messages = corpus.icmp_messages(rng)
        self.sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        self.sender.bind((target.SENDER, 0))
        self.sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        self.receiver = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        self.receiver.bind(("127.0.0.10", 0))  # only what is sent to the prober's address
        self.receiver.settimeout(TIMEOUT)

    def fuzz(self) -> None:
        data, _ = mutate(self.rng, self.messages, Shape(tlv_start=8))
        if len(data) >= 4 and self.rng.random() < 0.7:
            data = data[:2] + b"\0\0" + data[4:]
            data = data[:2] + struct.pack("!H", icmp_checksum(data)) + data[4:]
        ttl = 1 if self.rng.random() < 0.8 else self.rng.choice((2, 64, 255))
        self.sender.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        self.sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        try:
            self.sender.sendto(data[:MAX_DATAGRAM], (self.rng.choice(self.DESTINATIONS), 0))
        except OSError:
            pass  # an empty message: the kernel refuses some; nothing was sent

    def probe(self) -> float:
        solicitation = encode_solicitation()
        prober = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        try:
            prober.bind(("127.0.0.10", 0))
            prober.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)
            _drain(self.receiver)  # no late answer to an earlier probe
            start = time.perf_counter()
            prober.sendto(solicitation, (target.FA, 0))
            deadline = start + TIMEOUT
            while True:
                self.receiver.settimeout(max(0.001, deadline - time.perf_counter()))
                try:
                    packet = self.receiver.recv(65535)
                except TimeoutError:
                    raise Unanswered("icmp: no advertisement answered a solicitation") from None
                header = (packet[0] & 0x0F) * 4
                # The FA's advertisement to our address (the kernel picks its
                # source address: 127.0.0.1 on loopback).
                if packet[header] == 9:  # RFC 1256 router advertisement
                    return time.perf_counter() - start
        finally:
            prober.close()

    def sync(self) -> None:
        """A host solicits up to MAX_SOLICITATIONS (3) times (RFC 1256 §6.3.3,
        which RFC 5944 §2.4 follows): a raw socket's queue overflowing under
        the flood may drop one solicitation, so one unanswered try is the
        network's, three are the agent's."""
        for attempt in range(MAX_SOLICITATIONS):
            try:
                self.probe()
                return
            except Unanswered:
                if attempt == MAX_SOLICITATIONS - 1:
                    raise

    def close(self) -> None:
        self.sender.close()
        self.receiver.close()


class Snmp:
    """SNMP (UDP 161): mutated SNMPv2c/v1 requests built with agent.snmp.ber
    and mutated SNMPv3 requests (discovery, authNoPriv, authPriv) captured from
    net-snmp's snmpget/snmpgetnext/snmpbulkget at start. The probe: an SNMPv2c
    GetRequest for sysUpTime.0, answered by a Response with its request-id."""

    name = "snmp"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.destination = (target.MANAGEMENT, target.SNMP_PORT)
        self.v2c = corpus.snmp_v2c_messages(rng)
        self.v3 = snmp_v3_capture(self.destination)
        self.sender = _udp(target.SENDER)
        self.sender.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        self.manager = _udp(target.SENDER)
        self._request_id = 0x10000000  # four octets in any minimal encoding (X.690 §8.3.2)

    def fuzz(self) -> None:
        messages = self.v3 if self.v3 and self.rng.random() < 0.5 else self.v2c
        data, _ = mutate(self.rng, messages, Shape(ber=True))
        self.sender.sendto(data[:MAX_DATAGRAM], self.destination)

    def probe(self) -> float:
        self._request_id += 1
        data = corpus.snmp_v2c_request(target.COMMUNITY, corpus.GET, self._request_id,
                                       [(1, 3, 6, 1, 2, 1, 1, 3, 0)])
        start = time.perf_counter()
        self.manager.sendto(data, self.destination)
        deadline = start + TIMEOUT
        wanted = b"\x02\x04" + self._request_id.to_bytes(4, "big")
        while True:
            self.manager.settimeout(max(0.001, deadline - time.perf_counter()))
            try:
                answer = self.manager.recv(65535)
            except TimeoutError:
                raise Unanswered("snmp: no response to a valid GetRequest") from None
            if wanted in answer:
                return time.perf_counter() - start

    def sync(self) -> None:
        self.probe()
        _drain(self.sender)

    def close(self) -> None:
        self.sender.close()
        self.manager.close()


def snmp_v3_capture(agent: tuple[str, int]) -> list[bytes]:
    """What net-snmp's tools send for SNMPv3 (RFC 3412 messages, USM RFC 3414:
    discovery, authNoPriv, authPriv with AES), relayed to the agent through a
    socket of ours that records each request."""
    relay = _udp(target.SENDER)
    relay.settimeout(0.2)
    host, port = relay.getsockname()
    captured: list[bytes] = []
    upstream = _udp(target.SENDER)
    upstream.settimeout(2.0)
    commands = []
    for tool, extra in (("snmpget", []), ("snmpgetnext", []), ("snmpbulkget", ["-Cr5"])):
        for name, (auth, auth_pass, priv, priv_pass) in target.V3_USERS.items():
            level = "authPriv" if priv != "none" else "authNoPriv"
            args = [tool, "-v3", "-r0", "-t2", "-l", level, "-u", name, "-a", auth.upper(), "-A", auth_pass]
            if priv != "none":
                args += ["-x", "AES", "-X", priv_pass]
            commands.append(args + extra + [f"{host}:{port}", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.44"])
    for command in commands:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while process.poll() is None and time.monotonic() < deadline:
            try:
                data, client = relay.recvfrom(65535)
            except TimeoutError:
                continue
            captured.append(data)
            upstream.sendto(data, agent)
            try:
                relay.sendto(upstream.recv(65535), client)
            except TimeoutError:
                pass
        if process.poll() is None:
            process.kill()
        process.wait()
    relay.close()
    upstream.close()
    return captured


def frame(message: bytes) -> bytes:
    """RFC 6242 §4.2 chunked framing, one chunk."""
    return b"\n#%d\n" % len(message) + message + b"\n##\n"


class Netconf:
    """NETCONF over SSH (RFC 6242) after login: mutated <rpc> documents in
    correct chunked framing (most), and mutated framing (5 %: chunk-size lies,
    missing end-of-chunks, the 1.0 end marker). After a framing mutation the
    session is dropped and a new one logged in, since the server cannot find
    the next message after a lie (RFC 6242 §4.2: it closes the session).
    The probe: <get-config> of the proxy subtree on a second session."""

    name = "netconf"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.rpcs = corpus.netconf_rpcs(rng)
        self.loop = asyncio.new_event_loop()
        self.fuzz_session = self.loop.run_until_complete(NetconfSession.open())
        self.probe_session = self.loop.run_until_complete(NetconfSession.open())
        self.pending = 0
        self.sessions_opened = 2
        self.sessions_closed_by_agent = 0

    def fuzz(self) -> None:
        self.loop.run_until_complete(self._fuzz())

    async def _fuzz(self) -> None:
        data, _ = mutate(self.rng, self.rpcs, Shape(), TEXT_MUTATORS)
        if self.rng.random() < 0.05:
            framed, _ = mutate(self.rng, [frame(data)], Shape(), TEXT_MUTATORS)
            with contextlib.suppress(ConnectionError, OSError):
                await self.fuzz_session.send_raw(framed)
            await self.fuzz_session.close()
            self.fuzz_session = await NetconfSession.open()
            self.sessions_opened += 1
            self.pending = 0
            return
        try:
            await self.fuzz_session.send_raw(frame(data))
        except (ConnectionError, OSError):
            await self._reopen()
            return
        self.pending += 1
        if self.pending >= 16:
            await self._sync()

    async def _reopen(self) -> None:
        """The agent ended the session (a malformed message may): count it
        and log in again."""
        self.sessions_closed_by_agent += 1
        await self.fuzz_session.close()
        self.fuzz_session = await NetconfSession.open()
        self.sessions_opened += 1
        self.pending = 0

    def sync(self) -> None:
        self.loop.run_until_complete(self._sync())

    async def _sync(self) -> None:
        try:
            await self.fuzz_session.call('<get-config><source><running/></source><filter type="subtree">'
                                         f'<mobile-ip xmlns="{corpus.MIP_NS}"><proxy><lifetime/></proxy>'
                                         "</mobile-ip></filter></get-config>")
        except (Unanswered, ConnectionError, EOFError, OSError):
            await self._reopen()
        self.pending = 0

    def probe(self) -> float:
        return float(self.loop.run_until_complete(self._probe()))

    async def _probe(self) -> float:
        start = time.perf_counter()
        await self.probe_session.call('<get-config><source><running/></source><filter type="subtree">'
                                      f'<mobile-ip xmlns="{corpus.MIP_NS}"><proxy><lifetime/></proxy>'
                                      "</mobile-ip></filter></get-config>")
        return time.perf_counter() - start

    def close(self) -> None:
        self.loop.run_until_complete(self.fuzz_session.close())
        self.loop.run_until_complete(self.probe_session.close())
        self.loop.close()


class NetconfSession:
    """A logged-in NETCONF 1.1 session over asyncssh (RFC 6242 §3, hello §8.1)."""

    def __init__(self, connection: Any, process: Any) -> None:
        self.connection = connection
        self.process = process
        self.buffer = b""
        self._sequence = 0

    @classmethod
    async def open(cls, host: str = target.MANAGEMENT, port: int = target.NETCONF_PORT,
                   user: tuple[str, str] = target.NETCONF_USER) -> NetconfSession:
        import asyncssh

        connection = await asyncssh.connect(
            host, port, username=user[0], password=user[1], known_hosts=None, client_keys=None,
            agent_path=None, preferred_auth="password",
        )
        process = await connection.create_process(subsystem="netconf", encoding=None)
        session = cls(connection, process)
        await session._until(b"]]>]]>")
        session.buffer = b""
        process.stdin.write(
            b'<?xml version="1.0" encoding="UTF-8"?><hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
            b"<capabilities><capability>urn:ietf:params:netconf:base:1.1</capability>"
            b"<capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>]]>]]>"
        )
        return session

    async def _until(self, marker: bytes) -> None:
        async def read() -> None:
            while marker not in self.buffer:
                chunk = await self.process.stdout.read(1 << 16)
                if not chunk:
                    raise EOFError("NETCONF session closed")
                self.buffer += chunk
        try:
            await asyncio.wait_for(read(), TIMEOUT)
        except TimeoutError:
            raise Unanswered("netconf: no reply in time") from None

    async def send_raw(self, data: bytes) -> None:
        if self.process.stdin.is_closing():
            raise ConnectionResetError("NETCONF channel closed")
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def call(self, body: str) -> None:
        """One <rpc> answered by its <rpc-reply> (matched by message-id)."""
        self._sequence += 1
        message_id = f"probe-{self._sequence}"
        await self.send_raw(frame(f'<rpc message-id="{message_id}" xmlns="{corpus.NETCONF_BASE}">{body}</rpc>'.encode()))
        marker = f'message-id="{message_id}"'.encode()
        await self._until(marker)
        await self._until(b"\n##\n")
        self.buffer = self.buffer[self.buffer.rfind(b"\n##\n") + 4:]

    async def close(self) -> None:
        self.connection.close()
        try:
            await asyncio.wait_for(self.connection.wait_closed(), TIMEOUT)
        except (TimeoutError, OSError):
            pass


class Control:
    """The control socket (JSON lines): mutated requests of every kind,
    pipelined 32 at a time on one connection; a connection the agent ends
    (a line over its limit) is opened again. Each line's answer is read (a
    newline inside a mutated line makes it two requests, two answers)."""

    name = "control"

    def __init__(self, rng: random.Random, path: str) -> None:
        self.rng = rng
        self.lines = corpus.control_lines(rng)
        self.client = ControlClient(path)
        self.prober = ControlClient(path)
        self.expected = 0
        self.reconnects = 0

    def fuzz(self) -> None:
        data, _ = mutate(self.rng, self.lines, Shape(), TEXT_MUTATORS)
        data = data.rstrip(b"\n") or b"{}"
        try:
            self.client.sock.sendall(data + b"\n")
            self.expected += data.count(b"\n") + 1
        except OSError:
            self._reconnect()
        if self.expected >= 32:
            self.sync()

    def _reconnect(self) -> None:
        self.reconnects += 1
        self.client.reconnect()
        self.expected = 0

    def sync(self) -> None:
        try:
            while self.expected > 0:
                self.client.read_line()
                self.expected -= 1
        except (OSError, ConnectionResetError):
            self._reconnect()

    def probe(self) -> float:
        start = time.perf_counter()
        answer = self.prober.call({"op": "state", "rows": False})
        if "home-agent" not in answer:
            raise Unanswered(f"control: state answered {answer!r}"[:200])
        return time.perf_counter() - start

    def close(self) -> None:
        self.client.close()
        self.prober.close()


def make(name: str, rng: random.Random, control_socket: str) -> Interface:
    if name == "ha-udp":
        return Registration("ha-udp", rng, target.HA)
    if name == "fa-udp":
        return Registration("fa-udp", rng, target.FA)
    if name == "proxy-udp":
        return ProxyRegistration(rng, control_socket)
    if name == "icmp":
        return Icmp(rng)
    if name == "snmp":
        return Snmp(rng)
    if name == "control":
        return Control(rng, control_socket)
    if name == "netconf":
        return Netconf(rng)
    raise ValueError(f"unknown interface {name!r}")


INTERFACES = ("ha-udp", "fa-udp", "proxy-udp", "icmp", "snmp", "control", "netconf")
