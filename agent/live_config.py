"""Configuration changes take effect live: the composition root's subscriber to
the running datastore.

Change phase: security association edits are tried on the live SA tables (an
overlapping range or a duplicate vetoes the transaction) and remembered so that
an abort can undo them; role settings are rebuilt from the new configuration
(a bad value vetoes). Done phase: roles start, stop or take their new settings,
the subnet map is patched, and the proxy re-examines its clients: a new subnet-map
entry makes waiting visitors register, a removed SA deregisters the clients it
covered, a changed lifetime is used at the next re-registration.
"""

from __future__ import annotations

import logging
import socket
import sys
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from agent.config import loader
from agent.config.model import AgentConfig
from agent.datastore.store import TOP, Change, ChangeEvent, Veto
from agent.datastore.tree import to_json
from agent.mobileip.errors import ConfigurationError
from agent.mobileip.security import SecurityAssociation, SecurityAssociationTable
from agent.runtime import Agent

log = logging.getLogger(__name__)

ROLES = ("home-agent", "foreign-agent", "proxy")
SA_LISTS = ((TOP, "security", "host"), (TOP, "security", "peer"))
#: A touched SA entry: address and spi (the key, as text), its new entry
#: (None: removed) and, when built off the loop, its SA (``_built``).
_Sa = tuple[IPv4Address, SecurityAssociation, IPv4Address | None]
_BuiltSa = tuple[str, str, dict[str, Any] | None, _Sa | None]
_ROLE_ATTR = {"home-agent": "home_agent", "foreign-agent": "foreign_agent", "proxy": "proxy"}


@dataclass
class _Plan:
    undo: list[tuple[str, Any]] = field(default_factory=list)
    roles: dict[str, Any] = field(default_factory=dict)  # role -> new config record or None
    subnet_map: list[tuple[str, IPv4Network, IPv4Address | None, IPv4Address | None]] = field(
        default_factory=list)
    sa_changed: bool = False
    #: The data-plane container changed: its new record (None: removed).
    data_plane_changed: bool = False
    data_plane: Any = None


def _touched_entries(
    changes: tuple[Change, ...], list_path: tuple[str, ...], key_names: tuple[str, ...]
) -> set[tuple[str, ...]]:
    """Keys (as strings) of the entries of the list at ``list_path`` that the
    changes touch: by naming the entry or something inside it, or by creating or
    deleting a container above the list wholesale."""
    keys: set[tuple[str, ...]] = set()
    depth = len(list_path)
    for change in changes:
        names = tuple(step.name for step in change.path)
        if names[:depth] == list_path:
            step_keys = dict(change.path[depth - 1].keys)
            keys.add(tuple(str(step_keys[k]) for k in key_names))
        elif list_path[: len(names)] == names:
            for value in (change.old, change.new):
                node = value
                for name in list_path[len(names):]:
                    node = node.get(name) if isinstance(node, dict) else None
                for entry in node if isinstance(node, list) else []:
                    keys.add(tuple(str(entry[k]) for k in key_names))
    return keys


def _touches(change: Change, member: str) -> bool:
    """Whether ``change`` is at or below the top container's ``member``, or
    replaces the top container with or without it."""
    if len(change.path) > 1:
        return change.path[1].name == member
    return any(isinstance(v, dict) and member in v for v in (change.old, change.new))


class LiveConfiguration:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._plan: _Plan | None = None
        #: The SA entries installed in each live table, by (table, address, spi):
        #: what to remove when an entry changes or goes.
        self._installed: dict[tuple[int, str, int], dict[str, Any]] = {}
        #: What ``warm`` built for the change set it was given (that very
        #: tuple): per SA list, its touched keys and their new SAs.
        self._warm: tuple[tuple[Change, ...], dict[tuple[str, ...], list[_BuiltSa]]] | None = None

    def warm(self, event: ChangeEvent) -> None:
        """The change phase's pure part, called by ``Datastore.compute_running``
        (possibly in a worker thread, before ``__call__`` with the same
        changes on the loop): which SA entries the changes touch, and their
        SAs built (addresses parsed, keys decoded). Touches no engine and no
        SA table; a value the loader refuses is left for the change phase to
        veto."""
        built: dict[tuple[str, ...], list[_BuiltSa]] = {}
        for list_path in SA_LISTS:
            current = _EntryView(event.config, list_path)
            items: list[_BuiltSa] = []
            for address, spi in _touched_entries(event.changes, list_path, ("address", "spi")):
                entry = current.get((address, spi))
                try:
                    sa = _built(entry) if entry is not None else None
                except (ConfigurationError, loader.ConfigError, ValueError, KeyError):
                    sa = None
                items.append((address, spi, entry, sa))
            built[list_path] = items
        self._warm = (event.changes, built)

    def __call__(self, event: ChangeEvent) -> None:
        if event.phase == "change":
            self._plan = self._prepare(event)
        elif event.phase == "abort":
            if self._plan is not None:
                self._undo(self._plan)
            self._plan = None
        elif event.phase == "done":
            plan, self._plan = self._plan, None
            if plan is not None:
                self._apply(plan, event)

    # -- change phase ---------------------------------------------------------------

    def _prepare(self, event: ChangeEvent) -> _Plan:
        plan = _Plan()
        warm, self._warm = self._warm, None
        # Only what was built for these very changes (not an older set).
        built = warm[1] if warm is not None and warm[0] is event.changes else None

        def member(name: str) -> Any:
            # Only the members a change needs, as JSON: never the whole tree
            # (100,000 SAs), which would hold the engines' loop.
            node = event.config.get(name)
            return None if node is None else to_json(node)

        try:
            for role in ROLES:
                if any(c.path[1].name == role for c in event.changes if len(c.path) > 1):
                    plan.roles[role] = self._role_record(role, member(role))
            for table, list_path in (
                (self.agent.config.host_associations, SA_LISTS[0]),
                (self.agent.config.peer_associations, SA_LISTS[1]),
            ):
                self._prepare_associations(plan, table, list_path, event,
                                           None if built is None else built[list_path])
            self._check_listen_addresses(plan)
            self._prepare_subnet_map(plan, event)
            if any(_touches(c, "data-plane") for c in event.changes):
                plan.data_plane_changed = True
                node = member("data-plane")
                plan.data_plane = loader._data_plane(node) if node is not None else None
        except (ConfigurationError, loader.ConfigError) as exc:
            self._undo(plan)
            raise Veto(str(exc)) from None
        except Veto:
            self._undo(plan)
            raise
        return plan

    def _check_listen_addresses(self, plan: _Plan) -> None:
        """Veto a role that would start, or move, to an address:port it cannot
        bind: refused in the change phase with operation-failed (RFC 6241 §4.3,
        Appendix A), never an EADDRINUSE in the done phase that leaves running
        claiming a role that does not run (issue 13, found by tools/fuzz).

        A socket this change frees (a role stopped or moved) counts as free: the
        done phase closes those before it binds (a copy-config that moves the
        proxy off 0.0.0.0:434 and starts the home agent on 127.0.0.2:434 is one
        valid change). Two roles claiming overlapping addresses in the same
        change are refused. The trial bind runs in the same synchronous commit as
        the done phase, so no code of this process can take an address between."""
        freed: list[tuple[str, int]] = []
        for role, record in plan.roles.items():
            previous = getattr(self.agent.config, _ROLE_ATTR[role])
            running = getattr(self.agent, _ROLE_ATTR[role]) is not None
            if running and previous is not None and (record is None or record.listen != previous.listen):
                freed.append((str(previous.listen.address), previous.listen.port))
        claimed: dict[tuple[str, int], str] = {}
        for role, record in plan.roles.items():
            if record is None:
                continue
            previous = getattr(self.agent.config, _ROLE_ATTR[role])
            running = getattr(self.agent, _ROLE_ATTR[role]) is not None
            if running and previous is not None and previous.listen == record.listen:
                continue  # keeps its socket
            endpoint = (str(record.listen.address), record.listen.port)
            where = f"{endpoint[0]}:{endpoint[1]}"
            for other, other_role in claimed.items():
                if _overlap(endpoint, other):
                    raise Veto(f"{role}: cannot listen on {where}: {other_role} listens there in the same change")
            claimed[endpoint] = role
            problem = _bind_problem(*endpoint)
            if problem is not None and not _only_freed_hold(endpoint, freed):
                raise Veto(f"{role}: cannot listen on {where}: {problem}")

    def _role_record(self, role: str, node: dict[str, Any] | None) -> Any:
        if node is None:
            return None
        if role == "home-agent":
            return loader._home_agent(node)
        if role == "foreign-agent":
            return loader._foreign_agent(node)
        return loader._proxy(node, [])  # the subnet map is patched, not rebuilt

    def _prepare_associations(
        self, plan: _Plan, table: SecurityAssociationTable, list_path: tuple[str, ...], event: ChangeEvent,
        built: list[_BuiltSa] | None,
    ) -> None:
        if built is None:
            current = _EntryView(event.config, list_path)
            built = [(address, spi, entry, None) for address, spi in
                     _touched_entries(event.changes, list_path, ("address", "spi"))
                     for entry in (current.get((address, spi)),)]
        for address, spi, new_entry, sa in built:
            old_entry = self._installed.get((id(table), address, int(spi)))
            if old_entry is not None:
                self._remove_sa(plan, table, old_entry)
            if new_entry is not None:
                self._add_sa(plan, table, new_entry, sa)
            plan.sa_changed = True

    def _add_sa(self, plan: _Plan, table: SecurityAssociationTable, entry: dict[str, Any],
                sa: _Sa | None = None) -> None:
        address, association, last = sa if sa is not None else _built(entry)
        if last is None:
            table.add(address, association)
        else:
            table.add_range(address, last, association)
        self._installed[(id(table), entry["address"], int(entry["spi"]))] = entry
        plan.undo.append(("added", (table, entry)))

    def _remove_sa(self, plan: _Plan, table: SecurityAssociationTable, entry: dict[str, Any]) -> None:
        address = _address(entry["address"])
        last = entry.get("last-address")
        spi = int(entry["spi"])
        removed = (
            table.remove(address, spi) if last is None else table.remove_range(address, _address(last), spi)
        )
        if removed:
            self._installed.pop((id(table), entry["address"], spi), None)
            plan.undo.append(("removed", (table, entry)))

    def _prepare_subnet_map(self, plan: _Plan, event: ChangeEvent) -> None:
        current = _EntryView(event.config, (TOP, "subnet-map"))
        for (prefix,) in _touched_entries(event.changes, (TOP, "subnet-map"), ("prefix",)):
            entry = current.get((prefix,))
            home_agent = IPv4Address(entry["home-agent"]) if entry else None
            network = IPv4Network(prefix)
            gateway = loader.default_gateway(network, entry.get("default-gateway")) if entry else None
            plan.subnet_map.append((prefix, network, home_agent, gateway))

    def _undo(self, plan: _Plan) -> None:
        for action, (table, entry) in reversed(plan.undo):
            if action == "added":
                address, spi, last = _address(entry["address"]), int(entry["spi"]), entry.get("last-address")
                if last is None:
                    table.remove(address, spi)
                else:
                    table.remove_range(address, _address(last), spi)
                self._installed.pop((id(table), entry["address"], spi), None)
            else:
                self._add_sa(_Plan(), table, entry)
        plan.undo.clear()

    # -- done phase ------------------------------------------------------------------

    def _apply(self, plan: _Plan, event: ChangeEvent) -> None:
        agent = self.agent
        now = agent.clock()
        # Free first: stop removed roles and close the sockets of roles that
        # move, so that a role may bind what another gives up in the same change.
        moved: set[str] = set()
        for role, record in plan.roles.items():
            running = getattr(agent, _ROLE_ATTR[role]) is not None
            previous = getattr(agent.config, _ROLE_ATTR[role])
            if record is None:
                if running:
                    agent.stop_role(role)
                agent.config = replace(agent.config, **{_ROLE_ATTR[role]: None})
            elif running and previous is not None and previous.listen != record.listen:
                agent.runners.pop(role).close()
                moved.add(role)
        for role, record in plan.roles.items():
            if record is None:
                continue
            running = getattr(agent, _ROLE_ATTR[role]) is not None
            if role == "proxy":
                # Keep the live subnet map object: it is patched below.
                subnet_map = agent.config.proxy.subnet_map if agent.config.proxy else record.subnet_map
                record = replace(record, subnet_map=subnet_map)
            agent.config = replace(agent.config, **{_ROLE_ATTR[role]: record})
            if not running:
                getattr(agent, f"start_{_ROLE_ATTR[role]}")()
                continue
            engine = getattr(agent, _ROLE_ATTR[role])
            engine.settings = record.settings
            if role in moved:
                self._reopen(role, record)  # same engine, its state kept
        if plan.data_plane_changed:
            # A new data-plane configuration: the old one's kernel state goes,
            # the new one is built from the engines' bindings and visitors.
            agent.stop_data_plane()
            agent.config = replace(agent.config, data_plane=plan.data_plane)
            if plan.data_plane is not None:
                agent.start_data_plane()
        elif agent.data_plane is not None and plan.roles:
            agent.data_plane.plane.restore(agent)
        if agent.config.proxy is not None:
            subnet_map = agent.config.proxy.subnet_map
            for _, network, home_agent, gateway in plan.subnet_map:
                if home_agent is None:
                    subnet_map.remove(network)
                else:
                    subnet_map.add(network, home_agent, gateway)
        if agent.proxy is not None and (plan.subnet_map or plan.sa_changed or "proxy" in plan.roles):
            agent.proxy.reevaluate(now)
            agent.runners["proxy"].poke()

    def _reopen(self, role: str, record: Any) -> None:
        from agent.aio.engine_runner import EngineRunner

        agent = self.agent
        engine = getattr(agent, _ROLE_ATTR[role])
        agent.runners[role] = EngineRunner.open(
            engine,
            name=role,
            address=str(record.listen.address),
            port=record.listen.port,
            on_event=agent._event_handler(role),
            discovery=getattr(record, "discovery", False),
            discovery_interface=getattr(record, "discovery_interface", None),
        )


class _EntryView:
    """Entries of one list of a keyed tree, converted to JSON only when asked
    for (a small change must not touch the other 100,000)."""

    def __init__(self, config: dict[str, Any], list_path: tuple[str, ...]) -> None:
        node: Any = config
        for name in list_path[1:]:
            node = node.get(name) if isinstance(node, dict) else None
        self._entries = node if isinstance(node, dict) else {}

    def get(self, key: tuple[str, ...]) -> dict[str, Any] | None:
        entry = self._entries.get(key)
        return to_json(entry) if entry is not None else None


def _find_entries(config: dict[str, Any], list_path: tuple[str, ...]) -> dict[tuple[str, ...], Any]:
    node: Any = config
    for name in list_path[1:]:
        node = node.get(name) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return {}
    return {key: to_json(entry) for key, entry in node.items()}


def _overlap(a: tuple[str, int], b: tuple[str, int]) -> bool:
    """Whether two UDP endpoints cannot both be bound (no SO_REUSEADDR): the
    same port and the same address, or either the wildcard."""
    return a[1] == b[1] != 0 and (a[0] == b[0] or "0.0.0.0" in (a[0], b[0]))


def _only_freed_hold(endpoint: tuple[str, int], freed: list[tuple[str, int]]) -> bool:
    """Whether every UDP socket in this network namespace that keeps
    ``endpoint`` from binding is one the change frees (read from Linux's
    /proc/net/udp, proc(5)); False when that cannot be read."""
    if not any(_overlap(endpoint, f) for f in freed):
        return False
    try:
        with open("/proc/net/udp", encoding="ascii") as table:
            rows = table.read().splitlines()[1:]
    except OSError:
        return False
    left = list(freed)
    for row in rows:
        local = row.split()[1]  # "0100007F:01B2": address in host byte order, port
        address_hex, port_hex = local.split(":")
        holder = (str(IPv4Address(int.from_bytes(bytes.fromhex(address_hex), sys.byteorder))),
                  int(port_hex, 16))
        if not _overlap(endpoint, holder):
            continue
        if holder not in left:
            return False  # someone else holds it too
        left.remove(holder)
    return True


def _bind_problem(address: str, port: int) -> str | None:
    """Why a UDP socket cannot be bound to ``address``:``port`` now (None: it
    can). Port 0 always binds (the kernel picks one)."""
    if port == 0:
        return None
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((address, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        probe.close()
    return None


def _built(entry: dict[str, Any]) -> _Sa:
    """An SA entry's first address, SA and last address (None: one address)."""
    last = entry.get("last-address")
    return (_address(entry["address"]), _association(entry),
            None if last is None else _address(last))


def _address(text: str) -> IPv4Address:
    """An address of the validated datastore (dotted quad, canonical:
    ietf-inet-types' ipv4-address without zone), parsed by the C library:
    ~30x cheaper than ``IPv4Address(text)``, which counts when a change
    replaces 100,000 SAs on the engines' loop."""
    if text.count(".") == 3:  # inet_aton would take "1.2.3" and "0x7f.1" too
        try:
            return IPv4Address(int.from_bytes(socket.inet_aton(text), "big"))
        except OSError:
            pass
    return IPv4Address(text)  # not a dotted quad: its own error


def _association(entry: dict[str, Any]) -> SecurityAssociation:
    from agent.mobileip.security import Algorithm, ReplayMethod

    return SecurityAssociation(
        spi=int(entry["spi"]),
        key=loader._key(entry),
        algorithm=Algorithm(entry["algorithm"]),
        replay_method=ReplayMethod(entry["replay-method"]),
        replay_window=float(entry["replay-window"]),
    )


def bind(agent: Agent, config: AgentConfig, datastore: Any) -> LiveConfiguration:
    """Subscribe ``agent`` to running; remember the SAs it was built with."""
    live = LiveConfiguration(agent)
    for table, list_path in (
        (config.host_associations, (TOP, "security", "host")),
        (config.peer_associations, (TOP, "security", "peer")),
    ):
        for (address, spi), entry in _find_entries(datastore.snapshot("running").effective, list_path).items():
            live._installed[(id(table), address, int(spi))] = entry
    datastore.subscribe(live)
    return live
