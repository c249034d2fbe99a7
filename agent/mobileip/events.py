"""Events the role engines report, named in the past tense (STYLE.md)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address


class ViolationReason(enum.IntEnum):
    """mipSecViolationReason (RFC 2006, MIP-MIB)."""

    NO_MOBILITY_SECURITY_ASSOCIATION = 1
    BAD_AUTHENTICATOR = 2
    BAD_IDENTIFIER = 3
    BAD_SPI = 4
    MISSING_SECURITY_EXTENSION = 5
    OTHER = 6


class RemovalReason(enum.Enum):
    DEREGISTERED = "deregistered"
    EXPIRED = "expired"
    REPLACED = "replaced"
    CLEARED = "cleared"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class BindingCreated:
    home_address: IPv4Address
    care_of_address: IPv4Address
    lifetime: int
    source: IPv4Address


@dataclass(frozen=True, slots=True)
class BindingRefreshed:
    home_address: IPv4Address
    care_of_address: IPv4Address
    lifetime: int


@dataclass(frozen=True, slots=True)
class BindingDeleted:
    home_address: IPv4Address
    care_of_address: IPv4Address
    reason: RemovalReason


@dataclass(frozen=True, slots=True)
class RegistrationDenied:
    home_address: IPv4Address
    home_agent: IPv4Address
    code: int
    source: IPv4Address


@dataclass(frozen=True, slots=True)
class AuthenticationFailed:
    peer: IPv4Address
    spi: int | None
    reason: ViolationReason
    #: The proxy's client the failing Registration Reply was for (its station
    #: address and home address); None for the other roles' failures.
    mac: str | None = None
    home_address: IPv4Address | None = None


@dataclass(frozen=True, slots=True)
class VisitorAdded:
    home_address: IPv4Address
    home_agent: IPv4Address
    care_of_address: IPv4Address
    lifetime: int


@dataclass(frozen=True, slots=True)
class VisitorRenewed:
    """A visitor re-registered through the same care-of address (RFC 5944
    §3.7.3.2): its entry's identification, lifetime and expiry changed;
    the tunnel did not (the foreign agent's BindingRefreshed)."""

    home_address: IPv4Address
    care_of_address: IPv4Address
    lifetime: int


@dataclass(frozen=True, slots=True)
class VisitorRemoved:
    home_address: IPv4Address
    home_agent: IPv4Address
    reason: RemovalReason


@dataclass(frozen=True, slots=True)
class DatagramDropped:
    source: IPv4Address
    reason: str


Event = (
    BindingCreated
    | BindingRefreshed
    | BindingDeleted
    | RegistrationDenied
    | AuthenticationFailed
    | VisitorAdded
    | VisitorRenewed
    | VisitorRemoved
    | DatagramDropped
)


# -- proxy (access point) role ------------------------------------------------------


class NotProxiedReason(enum.Enum):
    AT_HOME = "at-home"
    NO_HOME_AGENT = "no-home-agent"
    NO_SECURITY_ASSOCIATION = "no-security-association"
    INTERFACE_NOT_ENABLED = "interface-not-enabled"
    #: Another station holds the address (registered or registering for it).
    ADDRESS_CONFLICT = "address-conflict"


@dataclass(frozen=True, slots=True)
class ClientRegistered:
    mac: str
    home_address: IPv4Address
    home_agent: IPv4Address
    care_of_address: IPv4Address
    lifetime: int


@dataclass(frozen=True, slots=True)
class ClientRegistrationDenied:
    mac: str
    home_address: IPv4Address
    code: int
    #: The client held a registration (this denied its renewal): it is lost.
    binding_lost: bool = False


@dataclass(frozen=True, slots=True)
class ClientRegistrationFailed:
    mac: str
    home_address: IPv4Address
    reason: str
    #: The client held a registration (its renewal went unanswered): it is lost.
    binding_lost: bool = False


@dataclass(frozen=True, slots=True)
class ClientDeregistered:
    mac: str
    home_address: IPv4Address


@dataclass(frozen=True, slots=True)
class ClientNotProxied:
    mac: str
    address: IPv4Address
    reason: NotProxiedReason


@dataclass(frozen=True, slots=True)
class ClientRefused:
    """A new station the proxy would not hold: its visitor list is full
    (max-visitors)."""

    mac: str
    reason: str


@dataclass(frozen=True, slots=True)
class LifecycleError:
    """A visitor's state changed in a way the life-cycle table does not have
    (agent/mobileip/visitor_lifecycle.py): a bug of the engine, counted."""

    mac: str
    state: str
    event: str


@dataclass(frozen=True, slots=True)
class ForeignAgentRebooted:
    address: IPv4Address
    sequence: int


ProxyEvent = (
    ClientRegistered
    | ClientRegistrationDenied
    | ClientRegistrationFailed
    | ClientDeregistered
    | ClientNotProxied
    | ClientRefused
    | LifecycleError
    | ForeignAgentRebooted
    | AuthenticationFailed
    | DatagramDropped
)
