"""The whole MIB the agent serves, built from its sources: SNMPv2-MIB system
and snmp groups, USM statistics, MIP-MIB and PROXY-MOBILE-IP-MIB."""

from __future__ import annotations

from collections.abc import Callable

from agent.snmp.mip_mib import mip_objects
from agent.snmp.proxy_mib import PROXY_MIP_ARC, proxy_objects
from agent.snmp.sources import Sources
from agent.snmp.system_mib import system_objects
from agent.snmp.tree import MibTree

DESCRIPTION = "ProxyMIP Mobile IPv4 agent (RFC 5944): home agent, foreign agent, proxy access point"


def build_tree(sources: Sources, *, stats: Callable[[str, str], int] = lambda module, name: 0,
               name: str = "", contact: str = "", location: str = "") -> MibTree:
    return MibTree([
        *system_objects(description=DESCRIPTION, object_id=PROXY_MIP_ARC, name=name, contact=contact,
                        location=location, started_at=sources.started_at, stats=stats),
        *mip_objects(sources),
        *proxy_objects(sources),
    ])
