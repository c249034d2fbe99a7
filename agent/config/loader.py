"""Load a startup configuration: an instance of the ``proxy-mobile-ip`` YANG module
in RFC 7951 JSON or RFC 7950 XML, validated by libyang (``agent.schema``), turned
into ``AgentConfig``.

Validation is strict: unknown nodes and state (``config false``) data are errors,
as are the module's ``must`` rules. Every error is a ``ConfigError``
(``agent.schema.errors``) that names the data path and the rule broken, and never
quotes key material. One libyang context is built per call
(``agent.schema.validator.validated_document``).
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from agent.config.model import (
    RadiusConfig,
    CheckpointConfig,
    DataPlaneConfig,
    AgentConfig,
    Endpoint,
    ForeignAgentConfig,
    HomeAgentConfig,
    HostapdSource,
    ProxyConfig,
    SnoopSource,
)
from agent.mobileip.errors import ConfigurationError
from agent.mobileip.foreign_agent import ForeignAgentSettings
from agent.mobileip.home_agent import HomeAgentSettings
from agent.mobileip.proxy import ProxySettings, StaticForeignAgent
from agent.mobileip.security import (
    Algorithm,
    ReplayMethod,
    SecurityAssociation,
    SecurityAssociationTable,
)
from agent.mobileip.subnet_map import SubnetMap
from agent.netconf.login_guard import GuardSettings
from agent.netconf.settings import NetconfSettings, NetconfUser
from agent.radius.client import RadiusClientSettings, RadiusServer
from agent.radius.resolver import ResolverSettings
from agent.schema.context import ROOT_PATH, DataFormat
from agent.schema.errors import ConfigError
from agent.schema.validator import validated_document
from agent.snmp.settings import SnmpCommunity, SnmpReceiver, SnmpSettings, SnmpUser, SnmpView

_SUFFIX_FORMATS: dict[str, DataFormat] = {".json": "json", ".xml": "xml"}


def load_config(path: Path) -> AgentConfig:
    """Load a startup file; its suffix (``.json`` or ``.xml``) gives the encoding."""
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(str(path), "unknown file type (expected .json or .xml)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read: {exc}") from exc
    return load_config_text(text, fmt)


def load_config_text(text: str, fmt: DataFormat) -> AgentConfig:
    """Validate ``text`` (configuration only) against the YANG module and build the
    typed records; raise ``ConfigError`` on the first problem."""
    if fmt not in ("json", "xml"):
        raise ConfigError("/", f"unknown data format {fmt!r} (expected 'json' or 'xml')")
    return _build(validated_document(text, fmt))


def build_config(document: dict[str, Any]) -> AgentConfig:
    """The typed records for a validated tree (the top container's content)."""
    return _build(document)




def _build(document: dict[str, Any]) -> AgentConfig:
    home_agent = document.get("home-agent")
    foreign_agent = document.get("foreign-agent")
    proxy = document.get("proxy")
    security = document.get("security", {})
    netconf = document.get("netconf-server")
    radius = document.get("radius", {})
    snmp = document.get("snmp-agent")
    return AgentConfig(
        snmp=_snmp(snmp) if snmp is not None else None,
        netconf=_netconf(netconf) if netconf is not None else None,
        radius=_radius(radius) if radius.get("server") and radius.get("user-password") else None,
        home_agent=_home_agent(home_agent) if home_agent is not None else None,
        foreign_agent=_foreign_agent(foreign_agent) if foreign_agent is not None else None,
        # The subnet map is the proxy's alone: without the role it is not built.
        proxy=_proxy(proxy, document.get("subnet-map", [])) if proxy is not None else None,
        host_associations=_associations(security.get("host", []), "host"),
        peer_associations=_associations(security.get("peer", []), "peer"),
        data_plane=_data_plane(document["data-plane"]) if "data-plane" in document else None,
        checkpoint=_checkpoint(document["state-checkpoint"]) if "state-checkpoint" in document else None,
    )


def _checkpoint(node: dict[str, Any]) -> CheckpointConfig:
    # RFC 7951 §6.1: decimal64 is a JSON string.
    return CheckpointConfig(file=str(node["file"]), interval=float(node.get("interval", 1)))


def _data_plane(node: dict[str, Any]) -> DataPlaneConfig:
    source = node.get("tunnel-source")
    return DataPlaneConfig(
        backend=str(node.get("tunnel-backend", "auto")),
        tunnel_source=_address(source) if source is not None else None,
        home_interface=node.get("home-interface"),
        access_interface=node.get("access-interface"),
        gratuitous_arp=bool(node.get("gratuitous-arp", True)),
        reverse_table_base=int(node.get("reverse-table-base", 100)),
        reverse_rule_priority=int(node.get("reverse-rule-priority", 1000)),
    )


def _netconf(node: dict[str, Any]) -> NetconfSettings:
    listen = node.get("listen", {})
    return NetconfSettings(
        address=str(listen.get("address", "0.0.0.0")),
        port=int(listen.get("port", 830)),
        host_key_file=str(node.get("host-key-file", "ssh_host_ed25519_key")),
        users=tuple(
            NetconfUser(
                name=str(user["name"]),
                password_hash=user.get("password"),
                authorized_keys=tuple(user.get("authorized-key", [])),
            )
            for user in node.get("user", [])
        ),
        idle_timeout=float(node.get("idle-timeout", 3600)),
        max_sessions=int(node.get("max-sessions", 32)),
        max_message_size=int(node.get("max-message-size", 16 * 1024 * 1024)),
        max_password_length=int(node.get("max-password-length", 1024)),
        login_grace_time=float(node.get("login-grace-time", 120)),
        max_auth_tries=int(node.get("max-auth-tries", 6)),
        guard=_login_guard(node.get("max-startups", {}), node.get("login-backoff", {})),
    )


def _login_guard(startups: dict[str, Any], backoff: dict[str, Any]) -> GuardSettings:
    # RFC 7951 §6.1: decimal64 is a JSON string.
    return GuardSettings(
        start=int(startups.get("start", 10)), rate=int(startups.get("rate", 30)),
        full=int(startups.get("full", 100)), per_source=int(startups.get("per-source", 5)),
        source_failures=int(backoff.get("source-failures", 5)),
        user_failures=int(backoff.get("user-failures", 50)),
        initial_delay=float(backoff.get("initial-delay", 1)),
        max_delay=float(backoff.get("max-delay", 600)),
        max_sources=int(backoff.get("max-sources", 65536)),
    )


def snmp_settings(node: dict[str, Any]) -> SnmpSettings:
    """The SNMP agent's settings from a validated ``snmp-agent`` container
    (RFC 7951 JSON), for live reconfiguration."""
    return _snmp(node)


def _snmp(node: dict[str, Any]) -> SnmpSettings:
    listen = node.get("listen", {})
    engine_id = node.get("engine-id")
    return SnmpSettings(
        address=str(listen.get("address", "0.0.0.0")),
        port=int(listen.get("port", 161)),
        engine_id=bytes.fromhex(engine_id.replace(":", "")) if engine_id else None,
        communities=tuple(
            SnmpCommunity(str(c["index"]), str(c["secret"]), str(c.get("access", "read-only")),
                          c.get("view"))
            for c in node.get("community", [])
        ),
        users=tuple(
            SnmpUser(str(u["name"]), str(u["auth-protocol"]), str(u["auth-passphrase"]),
                     str(u.get("priv-protocol", "aes-128")), u.get("priv-passphrase"),
                     str(u.get("access", "read-only")), u.get("view"))
            for u in node.get("user", [])
        ),
        views=tuple(
            SnmpView(str(view["name"]), tuple(
                (tuple(int(part) for part in s["oid"].split(".")), s.get("type", "included") == "included")
                for s in view.get("subtree", [])
            ))
            for view in node.get("view", [])
        ),
        receivers=tuple(
            SnmpReceiver(str(r["name"]), str(r["address"]), int(r.get("port", 162)),
                         r.get("trap-community"), r.get("inform-user"))
            for r in node.get("notification-receiver", [])
        ),
        system_name=str(node.get("system-name", "")),
        system_contact=str(node.get("system-contact", "")),
        system_location=str(node.get("system-location", "")),
        max_varbinds=int(node.get("max-varbinds", 1000)),
    )


def _radius(node: dict[str, Any]) -> RadiusConfig:
    client = RadiusClientSettings(
        servers=tuple(
            RadiusServer(_address(server["address"]), str(server["shared-secret"]).encode(),
                         int(server.get("port", 1812)))
            for server in node["server"]
        ),
        user_password=str(node["user-password"]),
        timeout=float(node.get("timeout", 3)),
        retries=int(node.get("retries", 2)),
        dead_time=float(node.get("dead-time", 60)),
        dead_criteria_tries=int(node.get("dead-criteria-tries", 1)),
        dead_criteria_time=float(node.get("dead-criteria-time", 0)),
        # RFC 3579 §3.2, BlastRADIUS (CVE-2024-3596): the YANG leaf's description.
        require_message_authenticator=bool(node.get("require-message-authenticator", True)),
    )
    resolver = ResolverSettings(
        cache_lifetime=float(node.get("cache-lifetime", 3600)),
        negative_cache_lifetime=float(node.get("negative-cache-lifetime", 60)),
        max_pending=int(node.get("max-pending-lookups", 10_000)),
        cache_size=int(node.get("cache-size", 200_000)),
        negative_cache_size=int(node.get("negative-cache-size", 10_000)),
    )
    return RadiusConfig(client, resolver,
                        registration_wait=float(node.get("registration-wait", 5)))


def _address(text: str) -> IPv4Address:
    """An address libyang has already validated; inet_pton is several times faster
    than ``IPv4Address(str)``, which matters for 10,000-entry SA lists."""
    return IPv4Address(socket.inet_pton(socket.AF_INET, text))


def _network(text: str) -> IPv4Network:
    """A prefix libyang has already validated and printed canonically (host bits
    cleared); built from the packed address, twice as fast as ``IPv4Network(str)``,
    which matters for 100,000-entry subnet maps."""
    address, _, length = text.partition("/")
    return IPv4Network((socket.inet_pton(socket.AF_INET, address), int(length)))


def _endpoint(listen: dict[str, Any]) -> Endpoint:
    return Endpoint(address=_address(listen["address"]), port=int(listen["port"]))


def _home_agent(node: dict[str, Any]) -> HomeAgentConfig:
    home_network = node.get("home-network")
    settings = HomeAgentSettings(
        address=_address(node["address"]),
        # libyang prints an ipv4-prefix canonically, host bits cleared.
        home_network=IPv4Network(home_network) if home_network is not None else None,
        max_lifetime=int(node["max-lifetime"]),
        max_bindings=int(node["max-bindings"]),
        max_simultaneous_bindings=int(node["max-simultaneous-bindings"]),
        reverse_tunnel=bool(node["reverse-tunnel"]),
        reverse_tunnel_required=bool(node["reverse-tunnel-required"]),
        gre=bool(node["gre"]),
        minimal_encapsulation=bool(node["minimal-encapsulation"]),
    )
    return HomeAgentConfig(settings=settings, listen=_endpoint(node["listen"]))


def _foreign_agent(node: dict[str, Any]) -> ForeignAgentConfig:
    advertisement = node["advertisement"]
    prefix_length = advertisement.get("prefix-length")
    settings = ForeignAgentSettings(
        address=_address(node["address"]),
        care_of_addresses=tuple(_address(a) for a in node.get("care-of-address", [])),
        max_lifetime=int(node["max-lifetime"]),
        max_pending=int(node["max-pending"]),
        max_pending_per_node=int(node["max-pending-per-node"]),
        # RFC 7951 §6.1: decimal64 is a JSON string.
        pending_timeout=float(node["pending-timeout"]),
        max_visitors=int(node["max-visitors"]),
        require_home_agent_authentication=bool(node["require-home-agent-authentication"]),
        reverse_tunnel=bool(node["reverse-tunnel"]),
        reverse_tunnel_required=bool(node["reverse-tunnel-required"]),
        gre=bool(node["gre"]),
        minimal_encapsulation=bool(node["minimal-encapsulation"]),
        registration_required=bool(node["registration-required"]),
        advertisement_interval=float(advertisement["interval"]),
        advertisement_lifetime=int(advertisement["lifetime"]),
        advertisement_address=_address(advertisement["address"]),
        prefix_length=int(prefix_length) if prefix_length is not None else None,
        home_agent_port=int(node["home-agent-port"]),
    )
    return ForeignAgentConfig(
        settings=settings,
        listen=_endpoint(node["listen"]),
        discovery=bool(advertisement["enabled"]),
        discovery_interface=advertisement.get("interface"),
    )


def _proxy(node: dict[str, Any], subnet_map_entries: list[dict[str, Any]]) -> ProxyConfig:
    retransmit = node["retransmit"]
    retry_backoff = node["retry-backoff"]
    discovery = node["discovery"]
    interfaces = node.get("interface", [])
    static_agent = node.get("foreign-agent")
    settings = ProxySettings(
        local_networks=tuple(_network(p) for p in node.get("local-network", [])),
        # An empty list enables every interface.
        interfaces=frozenset(i["name"] for i in interfaces) or None,
        lifetime=int(node["lifetime"]),
        reregistration_margin=float(node["reregistration-margin"]),
        retransmit_initial=float(retransmit["initial"]),
        retransmit_max=float(retransmit["maximum"]),
        max_attempts=int(retransmit["attempts"]),
        retry_backoff=float(retry_backoff["initial"]),
        retry_backoff_max=float(retry_backoff["maximum"]),
        max_outstanding=int(node["max-outstanding"]),
        max_visitors=int(node["max-visitors"]),
        max_foreign_agents=int(discovery["max-foreign-agents"]),
        foreign_agent=_static_foreign_agent(static_agent) if static_agent is not None else None,
        foreign_agent_port=int(node["foreign-agent-port"]),
        home_agent_port=int(node["home-agent-port"]),
        reverse_tunnel=bool(node["reverse-tunnel"]),
        # Solicitations go out on the same raw socket the advertisements come in on.
        solicit=bool(discovery["enabled"]),
        solicitation_max_interval=float(discovery["solicitation-max-interval"]),
    )
    return ProxyConfig(
        settings=settings,
        listen=_endpoint(node["listen"]),
        subnet_map=_subnet_map(subnet_map_entries),
        control_socket=node.get("control-socket"),
        hostapd=tuple(
            HostapdSource(control_path=i["hostapd-control-path"], interface=i["name"])
            for i in interfaces
            if "hostapd-control-path" in i
        ),
        snoop=tuple(
            SnoopSource(device=i["snoop-interface"], interface=i["name"],
                        associates="hostapd-control-path" not in i,
                        inactivity=float(i.get("inactivity-timeout", 300)),
                        max_unassociated=int(i.get("max-unassociated-stations", 256)),
                        intercept=bool(i.get("arp-interception", False)))
            for i in interfaces
            if "snoop-interface" in i
        ),
        discovery=bool(discovery["enabled"]),
    )


def _static_foreign_agent(node: dict[str, Any]) -> StaticForeignAgent:
    care_of_address = node.get("care-of-address")
    return StaticForeignAgent(
        address=_address(node["address"]),
        care_of_address=_address(care_of_address) if care_of_address is not None else None,
        port=int(node["port"]),
        max_lifetime=int(node["max-lifetime"]),
    )


def _subnet_map(entries: list[dict[str, Any]]) -> SubnetMap:
    subnet_map = SubnetMap()
    # Few home agents serve many prefixes: parse each address once.
    home_agents: dict[str, IPv4Address] = {}
    for entry in entries:
        text = entry["home-agent"]
        home_agent = home_agents.get(text)
        if home_agent is None:
            home_agent = home_agents[text] = _address(text)
        prefix = _network(entry["prefix"])
        subnet_map.add(prefix, home_agent, default_gateway(prefix, entry.get("default-gateway")))
    return subnet_map


def default_gateway(prefix: IPv4Network, text: str | None) -> IPv4Address | None:
    """A subnet map entry's ``default-gateway``: a host address inside its
    prefix (the access point only ever answers for addresses of the client's
    home network), or ConfigError."""
    if text is None:
        return None
    gateway = _address(text)
    if gateway not in prefix or (prefix.prefixlen < 31 and gateway in (
            prefix.network_address, prefix.broadcast_address)):
        raise ConfigError(f"/proxy-mobile-ip:mobile-ip/subnet-map[prefix='{prefix}']/default-gateway",
                          f"{gateway} is not a host address of {prefix}")
    return gateway


def _associations(entries: list[dict[str, Any]], list_name: str) -> SecurityAssociationTable:
    table = SecurityAssociationTable()
    for entry in entries:
        address = _address(entry["address"])
        spi = int(entry["spi"])
        try:
            association = SecurityAssociation(
                spi=spi,
                key=_key(entry),
                algorithm=Algorithm(entry["algorithm"]),
                replay_method=ReplayMethod(entry["replay-method"]),
                replay_window=float(entry["replay-window"]),
            )
            last_address = entry.get("last-address")
            if last_address is None:
                table.add(address, association)
            else:
                table.add_range(address, _address(last_address), association)
        except ConfigurationError as exc:
            # The engine's messages name addresses and SPIs, never keys.
            path = f"{ROOT_PATH}/security/{list_name}[address='{address}'][spi='{spi}']"
            raise ConfigError(path, str(exc)) from None
    return table


def _key(entry: dict[str, Any]) -> bytes:
    if "key-hex" in entry:
        return bytes.fromhex(entry["key-hex"].replace(":", ""))
    return str(entry["key-ascii"]).encode("utf-8")


__all__ = [
    "ConfigError",
    "DataFormat",
    "build_config",
    "load_config",
    "load_config_text",
]
