"""SNMP agent settings (from the YANG ``snmp-agent`` container). Secrets are kept
out of ``repr`` so that no log line or traceback shows them."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.snmp.values import Oid

READ_ONLY, READ_WRITE = "read-only", "read-write"


@dataclass(frozen=True)
class SnmpView:
    """An RFC 3415 view: subtrees included or excluded (longest match decides)."""

    name: str
    subtrees: tuple[tuple[Oid, bool], ...] = ()


@dataclass(frozen=True)
class SnmpCommunity:
    """An SNMPv1/v2c community (RFC 1901; RFC 3584 maps it to a security name)."""

    index: str
    secret: str = field(repr=False)
    access: str = READ_ONLY
    #: None: the whole MIB.
    view: str | None = None


@dataclass(frozen=True)
class SnmpUser:
    """An SNMPv3 USM user (RFC 3414): authentication sha | sha-256 (RFC 7860),
    privacy none | aes-128 (RFC 3826) | aes-256."""

    name: str
    auth_protocol: str
    auth_passphrase: str = field(repr=False)
    priv_protocol: str = "aes-128"
    priv_passphrase: str | None = field(default=None, repr=False)
    access: str = READ_ONLY
    view: str | None = None


@dataclass(frozen=True)
class SnmpReceiver:
    """Where notifications go: SNMPv2c traps with a community, or SNMPv3
    informs (acknowledged, retried) as a USM user."""

    name: str
    address: str
    port: int = 162
    community: str | None = field(default=None, repr=False)
    user: str | None = None


@dataclass(frozen=True)
class SnmpSettings:
    address: str = "0.0.0.0"
    port: int = 161
    #: snmpEngineID (RFC 3411 §5); None: derived once from the listen address.
    engine_id: bytes | None = None
    communities: tuple[SnmpCommunity, ...] = ()
    users: tuple[SnmpUser, ...] = ()
    views: tuple[SnmpView, ...] = ()
    receivers: tuple[SnmpReceiver, ...] = ()
    system_name: str = ""
    system_contact: str = ""
    system_location: str = ""
    #: Largest response the agent builds, in varbinds (GETBULK is cut here:
    #: RFC 3416 §4.2.3 lets the agent return fewer repetitions).
    max_varbinds: int = 1000
