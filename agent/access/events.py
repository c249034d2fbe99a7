"""Client events the proxy role consumes, and the parser for hostapd's control
interface event messages.

hostapd (``hostapd/ctrl_iface.c``, ``src/ap/sta_info.c``) sends unsolicited
messages to attached monitors as ``<level>EVENT args``; for stations:
``<3>AP-STA-CONNECTED 02:00:00:00:01:00`` (possibly followed by ``key=value``
words such as ``p2p_dev_addr=`` or ``keyid=``) and
``<3>AP-STA-DISCONNECTED 02:00:00:00:01:00``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_EVENT = re.compile(r"^(?:<(\d)>)?(\S+)(?:\s+(.*))?$")


@dataclass(frozen=True, slots=True)
class ClientAssociated:
    mac: str
    interface: str | None = None
    address: IPv4Address | None = None


@dataclass(frozen=True, slots=True)
class ClientAddressLearned:
    mac: str
    address: IPv4Address


@dataclass(frozen=True, slots=True)
class ClientDisassociated:
    mac: str


ClientEvent = ClientAssociated | ClientAddressLearned | ClientDisassociated


def normalise_mac(text: str) -> str:
    """Lower-case colon form; ValueError for anything that is not a MAC."""
    mac = text.strip().lower().replace("-", ":")
    if not _MAC.match(mac):
        raise ValueError(f"not a MAC address: {text!r}")
    return mac


def parse_hostapd_event(message: str, *, interface: str | None = None) -> ClientEvent | None:
    """The client event in one hostapd control message, or None for messages that
    are not about station association (replies, other events)."""
    match = _EVENT.match(message.strip())
    if match is None:
        return None
    name, args = match.group(2), (match.group(3) or "").split()
    if name not in ("AP-STA-CONNECTED", "AP-STA-DISCONNECTED") or not args:
        return None
    try:
        mac = normalise_mac(args[0])
    except ValueError:
        return None
    if name == "AP-STA-CONNECTED":
        return ClientAssociated(mac, interface)
    return ClientDisassociated(mac)
