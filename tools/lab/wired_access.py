"""802.1X association without Wi-Fi for the namespace labs: hostapd
(``driver=wired``, its internal EAP server, EAP-MD5) on an access point's
client-facing link and ``wpa_supplicant -D wired`` on the client's
(/work/shared/reference/ecosystem.md "hostapd without Wi-Fi").

hostapd's wired driver takes a station from its first EAPOL frame; after
EAP-Success it reports ``AP-STA-CONNECTED <mac>`` on its control interface,
and ``AP-STA-DISCONNECTED <mac>`` when the port is unauthorized again (the
client's EAPOL-Logoff). The client's ``LOGOFF`` and ``LOGON`` control commands
are its departure and its (re)association. ``Monitor`` attaches to hostapd's
control socket (as the proxy's ``HostapdMonitor`` does) and time-stamps the
events, for the handover measurements."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IDENTITY = "mn1"
PASSWORD = "secret"  # a lab credential for EAP-MD5 inside the lab namespaces
READY_TIMEOUT = 10.0


def hostapd_config(directory: Path, interface: str) -> Path:
    users = directory / "eap_users"
    users.write_text(f'"{IDENTITY}" MD5 "{PASSWORD}"\n')
    path = directory / "hostapd.conf"
    path.write_text(f"interface={interface}\ndriver=wired\nctrl_interface={directory}/ctrl\n"
                    f"ieee8021x=1\neap_server=1\neap_user_file={users}\n")
    return path


def supplicant_config(directory: Path) -> Path:
    path = directory / "supplicant.conf"
    path.write_text(f"ctrl_interface={directory}/ctrl\nap_scan=0\nnetwork={{\n key_mgmt=IEEE8021X\n"
                    f' eap=MD5\n identity="{IDENTITY}"\n password="{PASSWORD}"\n eapol_flags=0\n}}\n')
    return path


def wait_for(path: Path, log: Path, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear: {log.read_text()[-2000:]}")
        time.sleep(0.02)


def command(path: Path, text: str, *, timeout: float = 5.0) -> str:
    """One request on a hostapd or wpa_supplicant control socket (Unix datagram)."""
    local = os.path.join(tempfile.gettempdir(), f"pmip-lab-ctrl-{os.getpid()}-{threading.get_ident()}")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(local)
        try:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.send(text.encode())
            while True:
                reply = sock.recv(4096).decode()
                if not reply.startswith("<"):  # skip unsolicited events
                    return reply.strip()
        finally:
            os.unlink(local)


@dataclass
class Event:
    at: float  # time.monotonic()
    name: str
    mac: str


@dataclass
class Monitor:
    """Attached to one hostapd control socket; ``events`` as they came."""

    path: Path
    events: list[Event] = field(default_factory=list)
    _sock: Any = None
    _local: str = ""
    _thread: threading.Thread | None = None
    _stop: bool = False

    def start(self) -> Monitor:
        self._local = os.path.join(tempfile.gettempdir(), f"pmip-lab-mon-{os.getpid()}-{id(self)}")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self._local)
        self._sock.connect(str(self.path))
        self._sock.send(b"ATTACH")
        self._sock.settimeout(5)
        if self._sock.recv(4096).strip() != b"OK":
            raise RuntimeError(f"hostapd at {self.path} refused ATTACH")
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self._sock.recv(4096).decode(errors="replace")
            except TimeoutError:
                continue
            except OSError:
                return
            at = time.monotonic()
            words = data.split(">", 1)[-1].split()
            if len(words) >= 2 and words[0] in ("AP-STA-CONNECTED", "AP-STA-DISCONNECTED"):
                self.events.append(Event(at, words[0], words[1].lower()))

    def last(self, name: str, mac: str, *, after: float = 0.0) -> Event | None:
        return next((e for e in reversed(self.events)
                     if e.name == name and e.mac == mac and e.at >= after), None)

    def close(self) -> None:
        self._stop = True
        if self._thread is not None:
            self._thread.join(2)
        if self._sock is not None:
            try:
                self._sock.send(b"DETACH")
            except OSError:
                pass
            self._sock.close()
            os.unlink(self._local)
            self._sock = None


def start(namespaces: Any, short: str, argv: list[str], log: Path) -> subprocess.Popen[Any]:
    with open(log, "wb") as out:  # the child keeps its own descriptor
        process: subprocess.Popen[Any] = namespaces.run(short, argv, stdout=out,
                                                        stderr=subprocess.STDOUT)
    return process
