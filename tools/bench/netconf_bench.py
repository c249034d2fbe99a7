#!/usr/bin/env python3
"""NETCONF over SSH throughput and large-document latency, each figure beside
the ceiling of the SSH transport itself, measured in the same run.

Topology. The NETCONF server runs in a *subprocess* (this script re-run with
``--serve netconf``) on its own asyncio loop: the machine has few cores and a
Python client shares the GIL with an in-process server, so in one process the
client's CPU would be charged to the server. The subprocess holds, like a real
home agent, the Datastore, the Operations handler, the NetconfServer on
127.0.0.1 port 0 (host key generated in a temporary directory, password login
against a SHA-crypt hash) and an in-process HomeAgent with 100,000 bindings
whose ``home-agent-state`` is registered as the datastore's operational
provider. It prints ``{"port": N}`` once it listens (no start-up sleeps) and
exits when its stdin reaches EOF.

Client. A raw asyncssh client opens the ``netconf`` subsystem, exchanges
base:1.1 hellos and does RFC 6242 §4.2 chunked framing itself (stock ncclient
sleeps a 100 ms select tick per request: it is measured for one reference
line only). Every request is one chunk; replies are decoded chunk by chunk.

Items (each reply is checked: no ``<rpc-error>``, and the big ones are counted):

1. small RPCs: ``<get-config>`` of running with an empty subtree filter
   (RFC 6241 §6.4.2: selects nothing; the reply is ``<data/>``), with running
   empty — sequential and pipelined (window 64), on one session and across 10
   concurrent sessions (10 SSH connections, aggregate RPC/s); also on one
   session with AES-GCM instead of the default chacha20-poly1305, because in
   Python the cipher is a large share of a small RPC's cost (the SSH client
   chooses the cipher, RFC 4253 §7.1, so the server cannot). Each rate is
   measured 3 times, alternating with the echo reference; the best trial and
   the median are reported, with server, client and hypervisor-steal CPU;
2. edit-config of 10,000 ``security/host`` SAs into candidate, then
   ``<commit/>`` (both timed, median of 3; between rounds an untimed delete);
3. get-config of running holding those 10,000 SAs (median of 5, reply size),
   unfiltered, and with a subtree filter selecting security/host;
4. ``<get>`` with a subtree filter selecting ``home-agent-state`` (100,000
   bindings; median of 3, reply size), and how long the server's event loop
   stalled meanwhile (a probe task in the server sleeps 5 ms at a time; a
   wake-up more than 10 ms late is a stall): the time a registration for the
   Mobile IP engines of the same process would have waited.

The user is ``admin``, the built-in NACM policy's administrator (a permit-all
rule): the bench edits, and the operator's read is what nacm_bench.py measures.

Reference, same run: an asyncssh echo server in its own subprocess
(``--serve echo``) serving a ``netconf`` subsystem that answers every request
with a reply of the size the NETCONF server gave for that item, framed the
same way, to a request of the same size, through the very same client code: the
ceiling of SSH in Python here. Each figure is printed beside it with the ratio.
Server and client CPU use are reported with the rates, and the machine's
effective parallel cores are measured first: when the vCPUs are hyperthreads
of one core, the client's CPU is taken from the server's.

``--profile ITEM`` (small, edit, get-config, get) runs only that item with
cProfile enabled in the server process and prints the top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import io
import json
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.netconf.ssh_library import asyncssh  # noqa: E402  (after the path above)

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
MODULE_NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
#: The built-in NACM policy's administrator (agent/netconf/nacm.py): the bench edits.
USERNAME, PASSWORD = "admin", "bench-password"
KEY_HEX = "00112233445566778899aabbccddeeff"
ADDRESS = "127.0.0.1"
WINDOW = 64
#: The cipher-sensitivity line: AES-GCM instead of asyncssh's default chacha20-poly1305.
GCM = "aes128-gcm@openssh.com"
GCM_NAME = "aes128_gcm"
SESSIONS = 10
HOST_SAS = 10_000
BINDINGS = 100_000
#: A request that takes longer than this is a failure, not a figure.
REQUEST_TIMEOUT = 120.0

#: Netopeer2 (C) measured with a raw asyncssh client, from the issue.
NETOPEER2 = {"small_rpc_sequential_per_s": 1695, "small_rpc_pipelined_per_s": 4555,
             "get_config_10k_ms": [85, 121], "get_config_10k_reply_bytes": 1_200_000}
AIMS = {"small_rpc_sequential_per_s": ">= 1695", "small_rpc_pipelined_per_s": ">= 4555",
        "get_config_10k_ms": "<= 150", "edit_commit_10k_s": "< 1", "get_100k_bindings_s": "< 2"}

HELLO = (f'<?xml version="1.0" encoding="UTF-8"?><hello xmlns="{BASE_NS}"><capabilities>'
         "<capability>urn:ietf:params:netconf:base:1.1</capability>"
         "</capabilities></hello>]]>]]>").encode()
END_OF_MESSAGE = b"]]>]]>"


# -- requests --------------------------------------------------------------------------

def rpc(body: str) -> Callable[[int], bytes]:
    """A request template: message-id -> the <rpc> bytes."""
    head = f'<rpc xmlns="{BASE_NS}" message-id="'.encode()
    tail = f'">{body}</rpc>'.encode()
    return lambda message_id: head + str(message_id).encode() + tail


SMALL = rpc('<get-config><source><running/></source><filter type="subtree"/></get-config>')
GET_CONFIG = rpc("<get-config><source><running/></source></get-config>")
GET_CONFIG_HOSTS = rpc(f'<get-config><source><running/></source><filter type="subtree">'
                       f'<mobile-ip xmlns="{MODULE_NS}"><security><host/></security></mobile-ip>'
                       "</filter></get-config>")
GET_HA_STATE = rpc(f'<get><filter type="subtree"><mobile-ip xmlns="{MODULE_NS}">'
                   "<home-agent-state/></mobile-ip></filter></get>")
COMMIT = rpc("<commit/>")
DELETE_HOSTS = rpc(f"<edit-config><target><candidate/></target><config>"
                   f'<mobile-ip xmlns="{MODULE_NS}"><security xmlns:nc="{BASE_NS}" '
                   'nc:operation="delete"/></mobile-ip></config></edit-config>')


def edit_hosts(count: int) -> Callable[[int], bytes]:
    base = int(IPv4Address("10.0.0.0"))
    hosts = "".join(f"<host><address>{IPv4Address(base + i)}</address><spi>256</spi>"
                    f"<key-hex>{KEY_HEX}</key-hex></host>" for i in range(count))
    return rpc(f"<edit-config><target><candidate/></target><config>"
               f'<mobile-ip xmlns="{MODULE_NS}"><security>{hosts}</security></mobile-ip>'
               "</config></edit-config>")


def echo_request(request_size: int, reply_size: int) -> Callable[[int], bytes]:
    """A request for the echo server: ``request_size`` bytes asking for a reply
    of ``reply_size`` bytes."""
    def make(message_id: int) -> bytes:
        head = b'<echo size="%d" message-id="%d"/>' % (reply_size, message_id)
        return head + b" " * max(0, request_size - len(head))
    return make


# -- client ------------------------------------------------------------------------------

class ChunkedDecoder:
    """RFC 6242 §4.2 chunked framing, decoding side (the peer is trusted here:
    a malformed header is an assertion failure, not a protocol error)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._chunks: list[bytes] = []
        self._chunk_remaining = 0

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        messages, position = [], 0
        while True:
            if self._chunk_remaining:
                take = min(self._chunk_remaining, len(buffer) - position)
                if not take:
                    break
                self._chunks.append(bytes(buffer[position:position + take]))
                position += take
                self._chunk_remaining -= take
                continue
            end = buffer.find(b"\n", position + 1)
            if end < 0:
                break
            header = bytes(buffer[position:end + 1])
            position = end + 1
            if header == b"\n##\n":
                messages.append(b"".join(self._chunks))
                self._chunks.clear()
            else:
                assert header.startswith(b"\n#"), header[:20]
                self._chunk_remaining = int(header[2:-1])
        del buffer[:position]
        return messages


def frame(message: bytes) -> bytes:
    return b"\n#%d\n%s\n##\n" % (len(message), message)


class NetconfClientSession(asyncssh.SSHClientSession[bytes]):
    """One NETCONF session, client side: replies resolve the futures of their
    requests in order (RFC 6241 §4.2: replies come in request order)."""

    def __init__(self) -> None:
        self._chan: asyncssh.SSHClientChannel[bytes] | None = None
        self._hello = bytearray()
        self._decoder: ChunkedDecoder | None = None
        self._waiting: collections.deque[asyncio.Future[bytes]] = collections.deque()
        self.hello_received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._message_id = 0

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self._chan = chan

    def session_started(self) -> None:
        assert self._chan is not None
        self._chan.write(HELLO)

    def data_received(self, data: bytes, datatype: int | None) -> None:
        if self._decoder is None:
            # RFC 6242 §4.1: the hellos are end-of-message framed; chunked after.
            self._hello += data
            index = self._hello.find(END_OF_MESSAGE)
            if index < 0:
                return
            self.hello_received.set_result(bytes(self._hello[:index]))
            self._decoder = ChunkedDecoder()
            data = bytes(self._hello[index + len(END_OF_MESSAGE):])
            if not data:
                return
        for message in self._decoder.feed(data):
            self._waiting.popleft().set_result(message)

    def connection_lost(self, exc: Exception | None) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"session lost: {exc}"))

    def send(self, request: Callable[[int], bytes]) -> asyncio.Future[bytes]:
        assert self._chan is not None
        self._message_id += 1
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._chan.write(frame(request(self._message_id)))
        return future

    async def call(self, request: Callable[[int], bytes]) -> bytes:
        return await asyncio.wait_for(self.send(request), REQUEST_TIMEOUT)


@dataclass
class Client:
    connection: asyncssh.SSHClientConnection
    session: NetconfClientSession

    def close(self) -> None:
        self.connection.close()


async def connect(port: int, *, cipher: str | None = None) -> Client:
    """One SSH connection with one NETCONF session; ``cipher`` None keeps
    asyncssh's preference (chacha20-poly1305 first, as OpenSSH's)."""
    connection = await asyncssh.connect(ADDRESS, port, username=USERNAME, password=PASSWORD,
                                        known_hosts=None, client_keys=None, agent_path=None,
                                        preferred_auth="password",
                                        encryption_algs=[cipher] if cipher else ())
    _, opened = await connection.create_session(NetconfClientSession, subsystem="netconf",
                                                encoding=None)
    assert isinstance(opened, NetconfClientSession)
    session = opened
    await asyncio.wait_for(session.hello_received, REQUEST_TIMEOUT)
    return Client(connection, session)


def checked(reply: bytes) -> bytes:
    if b"rpc-error" in reply:
        raise RuntimeError(f"rpc-error in reply: {reply[:600]!r}")
    return reply


# -- measurements ------------------------------------------------------------------------

async def sequential(session: NetconfClientSession, request: Callable[[int], bytes],
                     count: int) -> None:
    for _ in range(count):
        checked(await session.call(request))


async def pipelined(session: NetconfClientSession, request: Callable[[int], bytes],
                    count: int, window: int = WINDOW) -> None:
    in_flight: collections.deque[asyncio.Future[bytes]] = collections.deque()
    for _ in range(count):
        if len(in_flight) >= window:
            checked(await asyncio.wait_for(in_flight.popleft(), REQUEST_TIMEOUT))
        in_flight.append(session.send(request))
    while in_flight:
        checked(await asyncio.wait_for(in_flight.popleft(), REQUEST_TIMEOUT))


class ServerCpu:
    """CPU seconds (user + system) of the server process, from /proc."""

    def __init__(self, pid: int) -> None:
        self._path = f"/proc/{pid}/stat"
        self._tick = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float:
        with open(self._path) as file:
            fields = file.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._tick


async def rates(clients: list[Client], request: Callable[[int], bytes], *, per_session: int,
                pipeline: bool, cpu: ServerCpu) -> dict[str, float]:
    """RPC/s over all ``clients`` at once (after a short warm-up)."""
    run = pipelined if pipeline else sequential
    await asyncio.gather(*(run(c.session, request, 50) for c in clients))
    cpu_before, client_before, steal_before = cpu.seconds(), time.process_time(), stolen_cpu()
    start = time.perf_counter()
    await asyncio.gather(*(run(c.session, request, per_session) for c in clients))
    elapsed = time.perf_counter() - start
    return {"rpc_per_s": round(per_session * len(clients) / elapsed),
            "server_cpu_busy": round((cpu.seconds() - cpu_before) / elapsed, 2),
            "client_cpu_busy": round((time.process_time() - client_before) / elapsed, 2),
            "host_steal_cpu": round((stolen_cpu() - steal_before) / elapsed, 2)}


def stolen_cpu() -> float:
    """CPU seconds the hypervisor gave to others (/proc/stat steal, all vCPUs)."""
    with open("/proc/stat") as file:
        fields = file.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


async def timed(session: NetconfClientSession, request: Callable[[int], bytes], repeat: int,
                cpu: ServerCpu, *, check: Callable[[bytes], None] | None = None) -> dict[str, Any]:
    """Median request -> reply time over ``repeat`` requests, and the reply size."""
    samples, size = [], 0
    cpu_before = cpu.seconds()
    for round_number in range(repeat):
        start = time.perf_counter()
        reply = checked(await session.call(request))
        samples.append(time.perf_counter() - start)
        size = len(reply)
        if check is not None and round_number == 0:
            check(reply)
    return {"median_ms": round(statistics.median(samples) * 1e3, 1),
            "min_ms": round(min(samples) * 1e3, 1), "reply_bytes": size,
            "server_cpu_ms_per_request": round((cpu.seconds() - cpu_before) / repeat * 1e3)}


def counted(tag: bytes, expected: int) -> Callable[[bytes], None]:
    def check(reply: bytes) -> None:
        found = len(re.findall(rb"<" + tag + rb"[ >]", reply))
        if found != expected:
            raise RuntimeError(f"expected {expected} <{tag.decode()}> in the reply, found {found}")
    return check


async def edit_and_commit(session: NetconfClientSession, edit: Callable[[int], bytes],
                          rounds: int, cpu: ServerCpu, *, commit: Callable[[int], bytes] = COMMIT,
                          delete: Callable[[int], bytes] = DELETE_HOSTS) -> dict[str, Any]:
    edits, commits, totals = [], [], []
    cpu_spent = 0.0
    for round_number in range(rounds):
        if round_number:
            checked(await session.call(delete))  # untimed: back to no SAs
            checked(await session.call(commit))
        cpu_before = cpu.seconds()
        start = time.perf_counter()
        checked(await session.call(edit))
        edited = time.perf_counter()
        checked(await session.call(commit))
        done = time.perf_counter()
        cpu_spent += cpu.seconds() - cpu_before
        edits.append(edited - start)
        commits.append(done - edited)
        totals.append(done - start)
    return {"edit_ms": round(statistics.median(edits) * 1e3, 1),
            "commit_ms": round(statistics.median(commits) * 1e3, 1),
            "edit_commit_median_s": round(statistics.median(totals), 3),
            "edit_commit_min_s": round(min(totals), 3),
            "server_cpu_ms_per_round": round(cpu_spent / rounds * 1e3)}


# -- the NETCONF run and the echo run --------------------------------------------------

@dataclass(frozen=True)
class Plan:
    rate_trials: int = 3
    get_config_repeat: int = 5
    edit_rounds: int = 3
    get_repeat: int = 3


@dataclass(frozen=True)
class RateCase:
    name: str
    sessions: int
    per_session: int
    pipeline: bool
    #: None: asyncssh's preference.
    cipher: str | None = None


RATE_CASES = (
    RateCase("one_session_sequential", 1, 1000, False),
    RateCase("one_session_pipelined", 1, 2500, True),
    RateCase("sessions_10_sequential", SESSIONS, 200, False),
    RateCase("sessions_10_pipelined", SESSIONS, 500, True),
    RateCase(f"one_session_sequential_{GCM_NAME}", 1, 1000, False, GCM),
    RateCase(f"one_session_pipelined_{GCM_NAME}", 1, 2500, True, GCM),
)


@dataclass(frozen=True)
class Target:
    """A server to measure and the small request it answers."""

    port: int
    cpu: ServerCpu
    request: Callable[[int], bytes]


async def small_rates(targets: dict[str, Target], trials: int) -> dict[str, dict[str, Any]]:
    """Every rate case, ``trials`` times, alternating between the targets so
    that a slow phase of a noisy machine hits the NETCONF server and the echo
    alike; per target and case, the best trial and the median rate."""
    samples: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {case.name: [] for case in RATE_CASES} for name in targets}
    ciphers: dict[str, str] = {}
    for case in RATE_CASES:
        clients = {name: list(await asyncio.gather(
            *(connect(target.port, cipher=case.cipher) for _ in range(case.sessions))))
            for name, target in targets.items()}
        ciphers[case.name] = next(iter(clients.values()))[0].connection.get_extra_info(
            "send_cipher")
        try:
            for _ in range(trials):
                for name, target in targets.items():
                    samples[name][case.name].append(await rates(
                        clients[name], target.request, per_session=case.per_session,
                        pipeline=case.pipeline, cpu=target.cpu))
        finally:
            for client in (c for group in clients.values() for c in group):
                client.close()
    summary: dict[str, dict[str, Any]] = {}
    for name, cases in samples.items():
        summary[name] = {}
        for case_name, trials_seen in cases.items():
            best = max(trials_seen, key=lambda trial: trial["rpc_per_s"])
            summary[name][case_name] = {
                "cipher": ciphers[case_name], **best,
                "rpc_per_s_median": round(statistics.median(t["rpc_per_s"] for t in trials_seen)),
                "trials": len(trials_seen)}
    return summary


async def netconf_run(port: int, cpu: ServerCpu, plan: Plan, items: set[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    client = await connect(port)
    try:
        session = client.session
        edit = edit_hosts(HOST_SAS)
        result["request_bytes"] = {"small": len(SMALL(1)), "edit_10k": len(edit(1)),
                                   "get_config": len(GET_CONFIG(1)), "get": len(GET_HA_STATE(1))}
        if items & {"edit", "get-config", "get"}:
            # The SAs go in even when only a read is measured: reads see 10,000 SAs.
            rounds = plan.edit_rounds if "edit" in items else 1
            result["edit_commit_10k"] = await edit_and_commit(session, edit, rounds, cpu)
        if "get-config" in items:
            result["get_config_10k"] = await timed(session, GET_CONFIG, plan.get_config_repeat,
                                                   cpu, check=counted(b"host", HOST_SAS))
            result["get_config_10k_filtered"] = await timed(
                session, GET_CONFIG_HOSTS, plan.get_config_repeat, cpu,
                check=counted(b"host", HOST_SAS))
        if "small" in items and "edit_commit_10k" in result:
            # The same small RPC with 10,000 SAs in running: does its cost grow?
            result["small_rpc_with_10k_sas"] = {"one_session_sequential": await rates(
                [client], SMALL, per_session=300, pipeline=False, cpu=cpu)}
        if "get" in items:
            window_start = time.time()
            result["get_100k_bindings"] = await timed(session, GET_HA_STATE, plan.get_repeat,
                                                      cpu, check=counted(b"binding", BINDINGS))
            result["get_window_wall"] = (window_start, time.time())
    finally:
        client.close()
    return result


def stalls_within(stalls: list[list[float]], window: tuple[float, float]) -> dict[str, Any]:
    """The server's event-loop stalls (wall-clock [start, end] pairs, from
    its lag probe) that overlap ``window``: how long everything else the
    process runs (the Mobile IP engines, other sessions) waited."""
    seen = [end - start for start, end in stalls if end >= window[0] and start <= window[1]]
    return {"stalls_over_probe_threshold": len(seen),
            "longest_ms": round(max(seen) * 1e3, 1) if seen else 0.0,
            "total_ms": round(sum(seen) * 1e3, 1),
            "probe": f"a task sleeping {LAG_PROBE_S * 1e3:g} ms, stalls over "
                     f"{LAG_THRESHOLD_S * 1e3:g} ms"}


async def echo_run(port: int, cpu: ServerCpu, plan: Plan, sizes: dict[str, Any],
                   items: set[str]) -> dict[str, Any]:
    """The NETCONF run's items through the echo server, same sizes."""
    request_bytes = sizes["request_bytes"]
    result: dict[str, Any] = {}
    client = await connect(port)
    try:
        session = client.session
        ok_bytes = sizes["ok_reply_bytes"]
        if "edit" in items:
            result["edit_commit_10k"] = await edit_and_commit(
                session, echo_request(request_bytes["edit_10k"], ok_bytes), plan.edit_rounds, cpu,
                commit=echo_request(len(COMMIT(1)), ok_bytes),
                delete=echo_request(len(DELETE_HOSTS(1)), ok_bytes))
        if "get-config" in items:
            result["get_config_10k"] = await timed(
                session, echo_request(request_bytes["get_config"],
                                      sizes["get_config_10k"]["reply_bytes"]),
                plan.get_config_repeat, cpu)
        if "get" in items:
            result["get_100k_bindings"] = await timed(
                session, echo_request(request_bytes["get"],
                                      sizes["get_100k_bindings"]["reply_bytes"]),
                plan.get_repeat, cpu)
    finally:
        client.close()
    return result


async def reply_sizes(port: int) -> dict[str, int]:
    client = await connect(port)
    try:
        small = await client.session.call(SMALL)
        ok = await client.session.call(rpc("<discard-changes/>"))
    finally:
        client.close()
    return {"small_reply_bytes": len(checked(small)), "ok_reply_bytes": len(checked(ok))}


def ncclient_reference(port: int, count: int = 20) -> dict[str, Any]:
    """Stock ncclient (its 100 ms select tick untouched), the same small RPC."""
    from lxml import etree
    from ncclient import manager

    operation = etree.fromstring(f'<get-config xmlns="{BASE_NS}"><source><running/></source>'
                                 '<filter type="subtree"/></get-config>')
    with manager.connect(host=ADDRESS, port=port, username=USERNAME, password=PASSWORD,
                         hostkey_verify=False, look_for_keys=False, allow_agent=False,
                         timeout=30) as session:
        session.dispatch(operation)
        start = time.perf_counter()
        for _ in range(count):
            session.dispatch(operation)
        elapsed = time.perf_counter() - start
    return {"small_rpc_sequential_per_s": round(count / elapsed, 1), "requests": count}


# -- report ----------------------------------------------------------------------------------

def beside_rate(netconf: dict[str, Any], echo: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(netconf)
    if echo is not None:
        out["echo_rpc_per_s"] = echo["rpc_per_s"]
        out["echo_rpc_per_s_median"] = echo["rpc_per_s_median"]
        out["echo_server_cpu_busy"] = echo["server_cpu_busy"]
        out["fraction_of_echo"] = round(netconf["rpc_per_s"] / echo["rpc_per_s"], 3)
        out["fraction_of_echo_median"] = round(
            netconf["rpc_per_s_median"] / echo["rpc_per_s_median"], 3)
    return out


def beside_time(netconf: dict[str, Any], echo: dict[str, Any] | None, key: str,
                echo_key: str | None = None) -> dict[str, Any]:
    out = dict(netconf)
    if echo is not None:
        echo_value = echo[echo_key or key]
        out[f"echo_{echo_key or key}"] = echo_value
        out["times_echo"] = round(netconf[key] / echo_value, 1) if echo_value else None
    return out


def report(small: dict[str, dict[str, Any]], netconf: dict[str, Any], echo: dict[str, Any],
           sizes: dict[str, Any],
           ncclient: dict[str, Any] | None, cores: float, elapsed: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "small_rpc": "get-config of running with an empty subtree filter (selects nothing); "
                     "running empty",
        "reference_netopeer2": NETOPEER2,
        "aims": AIMS,
    }
    if small:
        out["small_rpc_rates"] = {name: beside_rate(figure, small["echo"][name])
                                  for name, figure in small["netconf"].items()}
        out["small_rpc_rates"]["window"] = WINDOW
        out["small_rpc_rates"]["reply_bytes"] = sizes["small_reply_bytes"]
    if "small_rpc_with_10k_sas" in netconf:
        out["small_rpc_with_10k_sas_in_running"] = netconf["small_rpc_with_10k_sas"]
    if "edit_commit_10k" in netconf and "edit_commit_10k" in echo:
        out["edit_commit_10k_sas"] = beside_time(
            {**netconf["edit_commit_10k"], "request_bytes": netconf["request_bytes"]["edit_10k"]},
            echo["edit_commit_10k"], "edit_commit_median_s")
    if "get_config_10k" in netconf:
        out["get_config_10k_sas"] = beside_time(netconf["get_config_10k"],
                                                echo.get("get_config_10k"), "median_ms")
        out["get_config_10k_sas_filtered_security_host"] = netconf["get_config_10k_filtered"]
    if "get_100k_bindings" in netconf:
        out["get_100k_bindings"] = beside_time(netconf["get_100k_bindings"],
                                               echo.get("get_100k_bindings"), "median_ms")
    if "event_loop_stall_during_get" in netconf:
        out["event_loop_stall_during_get_100k"] = netconf["event_loop_stall_during_get"]
    if ncclient is not None:
        out["ncclient_stock_reference"] = ncclient
    rates_ = out.get("small_rpc_rates", {})
    verdicts: dict[str, bool] = {}
    if rates_:
        verdicts["small_rpc_sequential"] = (rates_["one_session_sequential"]["rpc_per_s"]
                                            >= NETOPEER2["small_rpc_sequential_per_s"])
        verdicts["small_rpc_pipelined"] = (rates_["one_session_pipelined"]["rpc_per_s"]
                                           >= NETOPEER2["small_rpc_pipelined_per_s"])
    if "get_config_10k_sas" in out:
        verdicts["get_config_10k_le_150ms"] = out["get_config_10k_sas"]["median_ms"] <= 150
    if "edit_commit_10k_sas" in out:
        verdicts["edit_commit_10k_lt_1s"] = out["edit_commit_10k_sas"]["edit_commit_median_s"] < 1
    if "get_100k_bindings" in out:
        verdicts["get_100k_bindings_lt_2s"] = out["get_100k_bindings"]["median_ms"] < 2000
    out["meets_aim"] = verdicts
    out["machine"] = {
        "cpus": os.cpu_count(), "python": sys.version.split()[0], "asyncssh": asyncssh.__version__,
        "effective_parallel_cores": cores,
        "topology": "client in this process; NETCONF server and echo server each in a subprocess"}
    out["bench_wall_s"] = round(elapsed, 1)
    return out


# -- server processes --------------------------------------------------------------------------

class ServerProcess:
    """This script re-run as a server: it prints its port, then serves until
    its stdin is closed."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.cpu = ServerCpu(process.pid)
        #: The server's event-loop stalls ([start, end], wall clock), told at exit.
        self.stalls: list[list[float]] = []

    @classmethod
    async def start(cls, kind: str, key_dir: Path, *, profile: Path | None = None,
                    timeout: float = 180.0) -> ServerProcess:
        args = [sys.executable, str(Path(__file__).resolve()), "--serve", kind,
                "--key-dir", str(key_dir)]
        if profile is not None:
            args += ["--profile-out", str(profile)]
        process = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), timeout)
            port = int(json.loads(line)["port"])
        except BaseException:
            process.kill()
            await process.wait()
            raise
        return cls(process, port)

    async def stop(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        try:
            rest = await asyncio.wait_for(self.process.stdout.read(), 60)
            await asyncio.wait_for(self.process.wait(), 60)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            return
        lines = rest.decode().strip().splitlines()
        if lines:
            self.stalls = json.loads(lines[-1]).get("stalls", [])


def home_agent_with_bindings(count: int) -> Any:
    """A HomeAgent engine holding ``count`` bindings, built in-process as
    tools/bench/datastore_bench.py does (one Registration Request each)."""
    from agent.mobileip import replay
    from agent.mobileip.builder import build_request
    from agent.mobileip.home_agent import HomeAgent, HomeAgentSettings
    from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable

    sa = SecurityAssociation(256, bytes.fromhex(KEY_HEX))
    table = SecurityAssociationTable()
    table.add_range(IPv4Address("198.18.0.0"), IPv4Address("198.19.255.255"), sa)
    home_agent = HomeAgent(HomeAgentSettings(IPv4Address("198.51.100.1")), mobile_nodes=table)
    now = time.time()
    for i in range(count):
        home_agent.receive_datagram(
            build_request(home_address=IPv4Address("198.18.0.0") + i,
                          home_agent=IPv4Address("198.51.100.1"),
                          care_of_address=IPv4Address("203.0.113.1"),
                          identification=replay.ntp_identification(now, i & 0xFFFF),
                          lifetime=3600, sa=sa),
            IPv4Address("203.0.113.1"), 434, now)
        home_agent.datagrams_to_send()
        while home_agent.next_event():
            pass
    assert home_agent.binding_count == count
    return home_agent


async def serve_netconf(key_dir: Path) -> tuple[Callable[[], None], Callable[[], Awaitable[None]],
                                                  int]:
    from agent.datastore.store import Datastore
    from agent.netconf.login_guard import GuardSettings
    from agent.netconf.operations import Operations
    from agent.netconf.server import NetconfServer, sha_crypt
    from agent.netconf.settings import NetconfSettings, NetconfUser
    from agent.operational import home_agent_state

    datastore = Datastore()
    home_agent = home_agent_with_bindings(BINDINGS)
    datastore.register_provider(lambda: {"home-agent-state": home_agent_state(home_agent,
                                                                              time.time())})
    operations = Operations(datastore)
    # The bench opens 10 connections at once from one address: more than
    # max-startups/per-source (5) lets through (docs/security.md).
    settings = NetconfSettings(address=ADDRESS, port=0,
                               host_key_file=str(key_dir / "ssh_host_ed25519_key"),
                               users=(NetconfUser(USERNAME, sha_crypt(PASSWORD, "$6$benchsalt")),),
                               guard=GuardSettings(per_source=16, start=16, full=100))
    server = NetconfServer(settings, operations.capabilities(), operations,
                           on_session_end=datastore.release_session)
    await server.start()
    assert server.port is not None

    async def closed() -> None:
        await server.wait_closed()
        operations.close()
        datastore.close()
    return server.close, closed, server.port


class _EchoServer(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return True

    def session_requested(self) -> asyncssh.SSHServerSession[bytes]:
        return _EchoSession()


class _EchoSession(asyncssh.SSHServerSession[bytes]):
    """Answers ``<echo size="N" .../>`` with N bytes, chunk framed: the same
    framing and message sizes as the NETCONF server, none of its work."""

    _SIZE = re.compile(rb'<echo size="(\d+)"')

    def __init__(self) -> None:
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._hello = bytearray()
        self._decoder: ChunkedDecoder | None = None
        self._replies: dict[int, bytes] = {}

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan

    def subsystem_requested(self, subsystem: str) -> bool:
        return subsystem == "netconf"

    def session_started(self) -> None:
        assert self._chan is not None
        self._chan.write(HELLO)

    def data_received(self, data: bytes, datatype: int | None) -> None:
        assert self._chan is not None
        if self._decoder is None:
            self._hello += data
            index = self._hello.find(END_OF_MESSAGE)
            if index < 0:
                return
            self._decoder = ChunkedDecoder()
            data = bytes(self._hello[index + len(END_OF_MESSAGE):])
        for message in self._decoder.feed(data):
            match = self._SIZE.match(message)
            assert match is not None, message[:80]
            size = int(match.group(1))
            reply = self._replies.get(size)
            if reply is None:
                reply = self._replies[size] = frame(b"r" * size)
            self._chan.write(reply)

    def pause_writing(self) -> None:
        if self._chan is not None:
            self._chan.pause_reading()

    def resume_writing(self) -> None:
        if self._chan is not None:
            self._chan.resume_reading()


async def serve_echo(key_dir: Path) -> tuple[Callable[[], None], Callable[[], Awaitable[None]],
                                               int]:
    from agent.netconf.server import load_or_create_host_key

    host_key = load_or_create_host_key(key_dir / "echo_host_ed25519_key")
    listener = await asyncssh.create_server(_EchoServer, ADDRESS, 0, server_host_keys=[host_key],
                                            encoding=None, allow_pty=False)
    return listener.close, listener.wait_closed, listener.get_port()


#: The server's event-loop lag probe: it sleeps this long, and a wake-up
#: later than LAG_THRESHOLD_S is a stall (the loop ran something else).
LAG_PROBE_S = 0.005
LAG_THRESHOLD_S = 0.010


async def lag_probe(stalls: list[list[float]]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        asleep = loop.time()
        await asyncio.sleep(LAG_PROBE_S)
        late = loop.time() - asleep - LAG_PROBE_S
        if late > LAG_THRESHOLD_S:
            now = time.time()
            stalls.append([now - late - LAG_PROBE_S, now])


async def serve(kind: str, key_dir: Path, profile_out: Path | None) -> None:
    close, closed, port = await (serve_netconf if kind == "netconf" else serve_echo)(key_dir)
    loop = asyncio.get_running_loop()
    stalls: list[list[float]] = []
    probe = asyncio.create_task(lag_probe(stalls))
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    profiler = cProfile.Profile() if profile_out is not None else None
    print(json.dumps({"port": port}), flush=True)
    if profiler is not None:
        profiler.enable()
    await stdin.read()  # EOF: the bench is done
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile_out))
    probe.cancel()
    close()
    await closed()
    print(json.dumps({"stalls": stalls}), flush=True)


# -- main ----------------------------------------------------------------------------------------

_BURN = "x = 0\nfor i in range(8_000_000):\n    x += i\n"


async def effective_cores() -> float:
    """How many CPU-bound processes this machine runs at once at full speed
    (vCPUs may be hyperthreads of one core): the client and the server share them."""
    async def burn(copies: int) -> float:
        start = time.perf_counter()
        processes = [await asyncio.create_subprocess_exec(sys.executable, "-c", _BURN)
                     for _ in range(copies)]
        await asyncio.gather(*(p.wait() for p in processes))
        return time.perf_counter() - start
    alone = await burn(1)
    together = await burn(2)
    return round(2 * alone / together, 2)

ITEMS = ("small", "edit", "get-config", "get")


async def bench(items: set[str], plan: Plan, *, with_ncclient: bool) -> dict[str, Any]:
    started = time.perf_counter()
    cores = await effective_cores()
    with tempfile.TemporaryDirectory(prefix="netconf-bench-") as tmp:
        key_dir = Path(tmp)
        netconf_server, echo_server = await asyncio.gather(
            ServerProcess.start("netconf", key_dir), ServerProcess.start("echo", key_dir))
        try:
            sizes: dict[str, Any] = await reply_sizes(netconf_server.port)
            small: dict[str, dict[str, Any]] = {}
            if "small" in items:
                echo_small = echo_request(len(SMALL(1)), sizes["small_reply_bytes"])
                small = await small_rates(
                    {"netconf": Target(netconf_server.port, netconf_server.cpu, SMALL),
                     "echo": Target(echo_server.port, echo_server.cpu, echo_small)},
                    plan.rate_trials)
            netconf = await netconf_run(netconf_server.port, netconf_server.cpu, plan, items)
            sizes.update(netconf)
            ncclient = (await asyncio.to_thread(ncclient_reference, netconf_server.port)
                        if with_ncclient else None)
            echo = await echo_run(echo_server.port, echo_server.cpu, plan, sizes, items)
        finally:
            await asyncio.gather(netconf_server.stop(), echo_server.stop())
        if "get_window_wall" in netconf:
            netconf["event_loop_stall_during_get"] = stalls_within(
                netconf_server.stalls, netconf.pop("get_window_wall"))
    return report(small, netconf, echo, sizes, ncclient, cores, time.perf_counter() - started)


async def profile(item: str, plan: Plan, top: int) -> str:
    """Run one item with cProfile on in the server; the top functions as text."""
    with tempfile.TemporaryDirectory(prefix="netconf-bench-") as tmp:
        key_dir = Path(tmp)
        stats_file = key_dir / "server.prof"
        server = await ServerProcess.start("netconf", key_dir, profile=stats_file)
        try:
            if item == "small":
                figures: dict[str, Any] = await small_rates(
                    {"netconf": Target(server.port, server.cpu, SMALL)}, 1)
            else:
                figures = await netconf_run(server.port, server.cpu, plan, {item})
        finally:
            await server.stop()
        text = io.StringIO()
        stats = pstats.Stats(str(stats_file), stream=text)
        stats.strip_dirs().sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
    return json.dumps(figures, indent=2) + "\n" + text.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", default=",".join(ITEMS),
                        help=f"comma-separated subset of {', '.join(ITEMS)}")
    parser.add_argument("--no-ncclient", action="store_true", help="skip the ncclient line")
    parser.add_argument("--profile", choices=ITEMS,
                        help="run only this item, cProfile on in the server; print the profile")
    parser.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    parser.add_argument("--serve", choices=("netconf", "echo"), help=argparse.SUPPRESS)
    parser.add_argument("--key-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.key_dir, args.profile_out))
        return
    plan = Plan()
    if args.profile:
        print(asyncio.run(profile(args.profile, plan, args.top)))
        return
    items = {item.strip() for item in args.items.split(",") if item.strip()}
    unknown = items - set(ITEMS)
    if unknown:
        parser.error(f"unknown items: {', '.join(sorted(unknown))}")
    result = asyncio.run(bench(items, plan, with_ncclient=not args.no_ncclient))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
