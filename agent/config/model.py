"""The agent's configuration as typed records, built from a validated instance of
the ``proxy-mobile-ip`` YANG module (see ``agent.config.loader``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address

from agent.mobileip.foreign_agent import ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgentSettings
from agent.mobileip.numbers import MOBILE_IP_PORT
from agent.mobileip.proxy import ProxySettings
from agent.netconf.settings import NetconfSettings
from agent.snmp.settings import SnmpSettings
from agent.radius.client import RadiusClientSettings
from agent.radius.resolver import ResolverSettings
from agent.mobileip.security import SecurityAssociationTable
from agent.mobileip.subnet_map import SubnetMap


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a role's registration socket listens (UDP)."""

    address: IPv4Address = IPv4Address("0.0.0.0")
    port: int = MOBILE_IP_PORT


@dataclass(frozen=True)
class HomeAgentConfig:
    settings: HomeAgentSettings
    listen: Endpoint


@dataclass(frozen=True)
class ForeignAgentConfig:
    settings: ForeignAgentSettings
    listen: Endpoint
    #: Send and answer ICMP agent discovery messages (needs a raw socket).
    discovery: bool = True
    #: The link advertisements go out on (SO_BINDTODEVICE); None: routing decides.
    discovery_interface: str | None = None


@dataclass(frozen=True)
class HostapdSource:
    """A hostapd control interface to follow for AP-STA-CONNECTED/DISCONNECTED."""

    control_path: str
    #: The interface / SSID name this hostapd serves (for per-SSID enablement).
    interface: str


@dataclass(frozen=True)
class SnoopSource:
    """A link whose clients' first ARP/IPv4 frames tell their addresses (and,
    without hostapd, their arrival and, by silence, their departure)."""

    device: str
    #: The interface / SSID name events are reported with.
    interface: str
    associates: bool
    inactivity: float = 300.0
    #: hostapd links: unassociated source MACs whose address is remembered.
    max_unassociated: int = 256
    #: Answer for the link's registered visitors (agent/access/intercept.py).
    intercept: bool = False


@dataclass(frozen=True)
class ProxyConfig:
    settings: ProxySettings
    #: Where the proxy's registration socket binds (replies from the FA come here).
    listen: Endpoint
    subnet_map: SubnetMap = field(default_factory=SubnetMap)
    #: Local control socket (JSON lines) for injecting client events and reading
    #: state; None disables it.
    control_socket: str | None = None
    hostapd: tuple[HostapdSource, ...] = ()
    snoop: tuple[SnoopSource, ...] = ()
    #: Listen for ICMP Agent Advertisements / send solicitations (raw socket).
    discovery: bool = True


@dataclass(frozen=True)
class RadiusConfig:
    """RADIUS servers holding mobility SAs (YANG ``radius``); the client and
    resolver settings they become."""

    client: RadiusClientSettings
    resolver: ResolverSettings
    #: Home agent: the longest a registration waits for its lookup (seconds).
    registration_wait: float = 5.0


@dataclass(frozen=True)
class DataPlaneConfig:
    """The YANG ``data-plane`` container: the kernel side of the HA and FA roles
    (tunnels, routes, proxy ARP) that ``agent.dataplane`` drives."""

    #: ``auto`` (kernel ipip where the kernel has it), ``kernel-ipip`` or ``userspace``.
    backend: str = "auto"
    #: Outer source of the tunnels; None: the HA address, else the first care-of address.
    tunnel_source: IPv4Address | None = None
    home_interface: str | None = None
    access_interface: str | None = None
    gratuitous_arp: bool = True
    reverse_table_base: int = 100
    reverse_rule_priority: int = 1000


@dataclass(frozen=True)
class CheckpointConfig:
    """The YANG ``state-checkpoint`` container: bindings and visitors kept in a
    file across restarts."""

    file: str
    interval: float = 1.0


@dataclass(frozen=True)
class AgentConfig:
    netconf: NetconfSettings | None = None
    radius: RadiusConfig | None = None
    snmp: SnmpSettings | None = None
    home_agent: HomeAgentConfig | None = None
    foreign_agent: ForeignAgentConfig | None = None
    proxy: ProxyConfig | None = None
    #: Mobility security associations with mobile nodes, by home address / range.
    host_associations: SecurityAssociationTable = field(default_factory=SecurityAssociationTable)
    #: Security associations with peer agents (FA-HA), by peer address.
    peer_associations: SecurityAssociationTable = field(default_factory=SecurityAssociationTable)
    data_plane: DataPlaneConfig | None = None
    checkpoint: CheckpointConfig | None = None
