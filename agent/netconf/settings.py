"""NETCONF server settings (from the YANG ``netconf-server`` container)."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.netconf.login_guard import GuardSettings
from agent.netconf.passwords import DEFAULT_MAX_PASSWORD_LENGTH


@dataclass(frozen=True)
class NetconfUser:
    name: str
    #: crypt(3)-style hash ($6$... SHA-512 or $5$...), never the clear password.
    password_hash: str | None = field(default=None, repr=False)
    #: OpenSSH public keys ("ssh-ed25519 AAAA... comment").
    authorized_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetconfSettings:
    address: str = "0.0.0.0"
    #: RFC 6242 §2: the IANA port for NETCONF over SSH.
    port: int = 830
    #: Where the server's host key is generated on first start and kept.
    host_key_file: str = "ssh_host_ed25519_key"
    users: tuple[NetconfUser, ...] = ()
    idle_timeout: float = 3600.0
    max_sessions: int = 32
    #: Largest accepted <rpc> message, bytes.
    max_message_size: int = 16 * 1024 * 1024
    #: A longer password (UTF-8 bytes) is refused unhashed (OpenSSH's cap).
    max_password_length: int = DEFAULT_MAX_PASSWORD_LENGTH
    #: Seconds from accept to authentication before the connection is closed.
    login_grace_time: float = 120.0
    #: Failed password attempts per connection before it is disconnected.
    max_auth_tries: int = 6
    #: max-startups and login-backoff (agent.netconf.login_guard).
    guard: GuardSettings = GuardSettings()
