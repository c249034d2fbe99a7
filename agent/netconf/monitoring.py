"""NETCONF monitoring state (RFC 6022 §2, ietf-netconf-monitoring@2010-10-04):
records for what the server and the datastore know, and the one function that
renders them as ``/netconf-state`` for ``<get>``.

Rendered here with lxml rather than through libyang: the module is not one the
agent's YANG directory carries, and everything in it is a plain counter, name
or time (the tests validate the output against the published module with
libyang). Served: ``capabilities``, ``datastores`` (with global locks),
``schemas`` (what ``<get-schema>`` serves, location ``NETCONF``), ``sessions``
(established NETCONF sessions; transport ``netconf-ssh``) and ``statistics``.
Not served: partial locks (RFC 5717 is not implemented).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from agent.netconf.notifications import rfc3339

#: RFC 6022 §2: the module's namespace and revision.
MONITORING_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
MONITORING_REVISION = "2010-10-04"
NETCONF_STATE = "netconf-state"

#: List keys below netconf-state, for subtree filtering (a partly selected
#: entry keeps its keys, RFC 6241 §6.2.5 / RFC 7950 §7.8.5).
LIST_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {
    (NETCONF_STATE, "datastores", "datastore"): ("name",),
    (NETCONF_STATE, "schemas", "schema"): ("identifier", "version", "format"),
    (NETCONF_STATE, "sessions", "session"): ("session-id",),
}

_M = f"{{{MONITORING_NS}}}"
#: yang:zero-based-counter32 wraps at 2^32 (RFC 6991 §3).
_COUNTER32 = 1 << 32


@dataclass(frozen=True)
class SessionRecord:
    """One row of /netconf-state/sessions (RFC 6022 §2.1.4)."""

    session_id: int
    username: str | None
    #: The client's address, when known.
    source_host: str | None
    #: POSIX seconds.
    login_time: float
    in_rpcs: int = 0
    in_bad_rpcs: int = 0
    out_rpc_errors: int = 0
    out_notifications: int = 0
    #: Identity of ietf-netconf-monitoring's "transport".
    transport: str = "netconf-ssh"


@dataclass(frozen=True)
class Statistics:
    """/netconf-state/statistics (RFC 6022 §2.1.5), over every session since
    the server started."""

    netconf_start_time: float
    in_bad_hellos: int = 0
    in_sessions: int = 0
    dropped_sessions: int = 0
    in_rpcs: int = 0
    in_bad_rpcs: int = 0
    out_rpc_errors: int = 0
    out_notifications: int = 0


@dataclass(frozen=True)
class ServerState:
    """What the transport adapter knows: the sessions and the statistics."""

    sessions: tuple[SessionRecord, ...]
    statistics: Statistics


@dataclass(frozen=True)
class SchemaRecord:
    """One schema get-schema serves (RFC 6022 §2.1.3), in YANG format."""

    identifier: str
    version: str
    namespace: str


@dataclass(frozen=True)
class GlobalLock:
    """A <lock> held on a datastore (RFC 6022 §2.1.2)."""

    #: 0 when the holder is not a NETCONF session.
    session: int
    #: POSIX seconds.
    locked_time: float


def netconf_state(*, capabilities: Sequence[str],
                  datastores: Mapping[str, GlobalLock | None],
                  schemas: Iterable[SchemaRecord],
                  server: ServerState | None) -> etree._Element:
    """``<netconf-state>`` in the monitoring namespace. ``server`` None (no
    transport attached) leaves out sessions and statistics."""
    state = etree.Element(_M + NETCONF_STATE, nsmap={None: MONITORING_NS})
    container = etree.SubElement(state, _M + "capabilities")
    for uri in capabilities:
        _leaf(container, "capability", uri)
    container = etree.SubElement(state, _M + "datastores")
    for name, lock in datastores.items():
        entry = etree.SubElement(container, _M + "datastore")
        _leaf(entry, "name", name)
        if lock is not None:
            held = etree.SubElement(etree.SubElement(entry, _M + "locks"), _M + "global-lock")
            _leaf(held, "locked-by-session", str(lock.session))
            _leaf(held, "locked-time", rfc3339(lock.locked_time))
    container = etree.SubElement(state, _M + "schemas")
    for schema in schemas:
        entry = etree.SubElement(container, _M + "schema")
        _leaf(entry, "identifier", schema.identifier)
        _leaf(entry, "version", schema.version)
        # An identityref; unprefixed, it names the default namespace's
        # identity (RFC 7950 §9.10.3): ietf-netconf-monitoring's "yang".
        _leaf(entry, "format", "yang")
        _leaf(entry, "namespace", schema.namespace)
        _leaf(entry, "location", "NETCONF")
    if server is None:
        return state
    container = etree.SubElement(state, _M + "sessions")
    for session in server.sessions:
        entry = etree.SubElement(container, _M + "session")
        _leaf(entry, "session-id", str(session.session_id))
        _leaf(entry, "transport", session.transport)
        _leaf(entry, "username", session.username or "")
        if session.source_host:
            _leaf(entry, "source-host", session.source_host)
        _leaf(entry, "login-time", rfc3339(session.login_time))
        _counters(entry, session.in_rpcs, session.in_bad_rpcs, session.out_rpc_errors,
                  session.out_notifications)
    statistics = server.statistics
    container = etree.SubElement(state, _M + "statistics")
    _leaf(container, "netconf-start-time", rfc3339(statistics.netconf_start_time))
    for name, value in (("in-bad-hellos", statistics.in_bad_hellos),
                        ("in-sessions", statistics.in_sessions),
                        ("dropped-sessions", statistics.dropped_sessions)):
        _leaf(container, name, str(value % _COUNTER32))
    _counters(container, statistics.in_rpcs, statistics.in_bad_rpcs, statistics.out_rpc_errors,
              statistics.out_notifications)
    return state


def selects_netconf_state(filter_element: etree._Element | None) -> bool:
    """Whether a subtree filter can select anything of /netconf-state (a
    top-level filter node of that name in its namespace, or in none)."""
    if filter_element is None:
        return True
    for node in filter_element:
        if not isinstance(node.tag, str):
            continue
        qname = etree.QName(node)
        if qname.localname == NETCONF_STATE and qname.namespace in (None, MONITORING_NS):
            return True
    return False


def _counters(parent: etree._Element, in_rpcs: int, in_bad_rpcs: int, out_rpc_errors: int,
              out_notifications: int) -> None:
    """The common-counters grouping, in its order."""
    for name, value in (("in-rpcs", in_rpcs), ("in-bad-rpcs", in_bad_rpcs),
                        ("out-rpc-errors", out_rpc_errors),
                        ("out-notifications", out_notifications)):
        _leaf(parent, name, str(value % _COUNTER32))


def _leaf(parent: etree._Element, name: str, text: str) -> None:
    etree.SubElement(parent, _M + name).text = text
