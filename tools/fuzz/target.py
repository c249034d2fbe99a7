"""The process under fuzz: one ``proxymip run`` with every interface on, inside
a network namespace this harness creates (and deletes), so that the raw ICMP
traffic (agent advertisements and solicitations) never reaches any other agent
on the host and every role can use its standard port (UDP 434, SNMP 161,
NETCONF 830) on the namespace's own loopback.

The harness enters the namespace itself (setns(2) on its main thread, before any
other thread exists), so every socket it opens afterwards, and the agent it
spawns, live there. Root (CAP_SYS_ADMIN, CAP_NET_RAW) is needed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.netconf.server import sha_crypt

ROOT = Path(__file__).resolve().parents[2]
CLONE_NEWNET = 0x40000000

HA = "127.0.0.2"
FA = "127.0.0.3"
PROXY = "127.0.0.4"
MANAGEMENT = "127.0.0.2"
#: Where the fuzzer sends from (a node on the namespace's loopback).
SENDER = "127.0.0.9"
REGISTRATION_PORT = 434  # RFC 5944 §3.1
SNMP_PORT = 161  # RFC 3417 §2
NETCONF_PORT = 830  # RFC 6242 §3
HOME_NETWORK = "192.0.2.0/24"
#: The proxy serves this link's clients; their homes are in HOME_NETWORK.
PROXY_LOCAL_NETWORK = "198.51.100.0/24"
MN_KEY = bytes.fromhex("5a5a0102030405060708090a0b0c0d0e")
MN_SPI = 256
PEER_KEY = bytes.fromhex("a5a5102030405060708090a0b0c0d0e0")
PEER_SPI = 300
NETCONF_USER = ("fuzz", "fuzz-password")
COMMUNITY = "public"
WRITE_COMMUNITY = "private"
V3_USERS = {
    # name: (auth protocol, auth passphrase, priv protocol, priv passphrase)
    "ops": ("sha", "authpass123", "aes-128", "privpass123"),
    "signer": ("sha", "authpass789", "none", ""),
}
START_TIMEOUT = 60.0


def startup_document() -> dict[str, Any]:
    """HA, FA (advertising on ``lo``), proxy (discovery on, static FA), SNMP
    v2c+v3, NETCONF, all in one process: every role shares the event loop, as
    they do in a real deployment that runs several roles."""
    security = {
        "host": [{"address": "192.0.2.1", "last-address": "192.0.2.254",
                  "spi": MN_SPI, "key-hex": MN_KEY.hex(":")}],
        "peer": [{"address": address, "spi": PEER_SPI, "key-hex": PEER_KEY.hex(":")}
                 for address in (HA, FA)],
    }
    users = []
    for name, (auth, auth_pass, priv, priv_pass) in V3_USERS.items():
        user = {"name": name, "auth-protocol": auth, "auth-passphrase": auth_pass,
                "priv-protocol": priv, "access": "read-write"}
        if priv != "none":
            user["priv-passphrase"] = priv_pass
        users.append(user)
    return {"proxy-mobile-ip:mobile-ip": {
        "home-agent": {"address": HA, "home-network": HOME_NETWORK,
                       "listen": {"address": HA, "port": REGISTRATION_PORT}},
        "foreign-agent": {"address": FA, "listen": {"address": FA, "port": REGISTRATION_PORT},
                          "advertisement": {"enabled": True, "interval": "1", "interface": "lo"}},
        "proxy": {"listen": {"address": PROXY, "port": REGISTRATION_PORT},
                  "local-network": [PROXY_LOCAL_NETWORK], "lifetime": 600,
                  "foreign-agent": {"address": FA, "port": REGISTRATION_PORT},
                  "discovery": {"enabled": True}},
        "subnet-map": [{"prefix": HOME_NETWORK, "home-agent": HA}],
        "security": security,
        "snmp-agent": {
            "listen": {"address": MANAGEMENT, "port": SNMP_PORT},
            "community": [{"index": "ro", "secret": COMMUNITY},
                          {"index": "rw", "secret": WRITE_COMMUNITY, "access": "read-write"}],
            "user": users,
        },
        "netconf-server": {
            "listen": {"address": MANAGEMENT, "port": NETCONF_PORT},
            "user": [{"name": NETCONF_USER[0],
                      "password": sha_crypt(NETCONF_USER[1], "$6$proxymipfuzz")}],
        },
    }}


def _libc_setns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({path}): {os.strerror(errno)}")
    finally:
        os.close(fd)


@dataclass
class Namespace:
    """A network namespace named after our pid; ``enter`` moves this thread
    (and so every thread and process started from it later) into it."""

    name: str = field(default_factory=lambda: f"pmipfuzz-{os.getpid()}")
    _home: int | None = None

    def create(self) -> None:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self._home = os.open("/proc/self/ns/net", os.O_RDONLY)
            _libc_setns(f"/run/netns/{self.name}")
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            # Agent advertisements go to 224.0.0.11 / 255.255.255.255 (RFC 5944 §2.3.1).
            subprocess.run(["ip", "route", "add", "224.0.0.0/4", "dev", "lo"], check=True)
        except BaseException:
            self.delete()
            raise

    def delete(self) -> None:
        if self._home is not None:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.setns(self._home, CLONE_NEWNET)
            os.close(self._home)
            self._home = None
        subprocess.run(["ip", "netns", "del", self.name], check=False,
                       stderr=subprocess.DEVNULL)


@dataclass
class Target:
    """The running agent: its pid, endpoints, control socket and log."""

    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    endpoints: dict[str, str] = field(default_factory=dict)

    @property
    def control_socket(self) -> str:
        return str(self.workdir / "control.sock")

    @property
    def log_path(self) -> Path:
        return self.workdir / "agent.log"

    def start(self) -> None:
        startup = self.workdir / "startup.json"
        startup.write_text(json.dumps(startup_document(), indent=1))
        startup.chmod(0o600)  # it holds keys
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--startup", str(startup),
             "--control-socket", self.control_socket],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=open(self.log_path, "wb"),
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("ready "):
            self.stop()
            raise RuntimeError(f"agent did not start: {line!r}\n{self.log_path.read_text()[-3000:]}")
        self.endpoints = json.loads(line[len("ready "):])

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_kib(self) -> int:
        """VmRSS from /proc/PID/status (proc(5)), in KiB."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def tracebacks(self) -> int:
        """How many 'Traceback' lines the agent has logged so far."""
        with contextlib.suppress(FileNotFoundError):
            return self.log_path.read_bytes().count(b"Traceback")
        return 0

    def log_excerpts(self, limit: int = 3) -> list[str]:
        """The first ``limit`` tracebacks, each with the lines after it."""
        text = self.log_path.read_text(errors="replace")
        out: list[str] = []
        position = text.find("Traceback")
        while position >= 0 and len(out) < limit:
            start = text.rfind("\n", 0, position - 1)
            out.append(text[max(start, 0):position + 2500])
            position = text.find("Traceback", position + 1)
        return out

    def socket_drops(self) -> int:
        """Datagrams the kernel dropped on the agent's UDP and raw sockets
        (full receive buffer): the "drops" column of /proc/net/udp and
        /proc/net/raw (proc(5)) for the socket inodes the agent holds."""
        inodes = set()
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{self.pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        total = 0
        for table in ("/proc/net/udp", "/proc/net/raw"):
            with open(table) as rows:
                next(rows)
                for row in rows:
                    columns = row.split()
                    if columns[9] in inodes:
                        total += int(columns[-1])
        return total

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 20 s; the exit status (None if killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="proxymip-fuzz-"))
