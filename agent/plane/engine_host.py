"""The control plane's engines and the configuration they run: the control
plane's half of the two-phase configuration transactions of the plane
boundary (``docs/architecture.md``, "Configuration transactions").

A local ``Datastore`` (no startup file: the management plane owns startup)
holds running as the control plane last applied it; ``LiveConfiguration``
(agent/live_config.py) is its subscriber and applies changes to the engines.
A ``ConfigChange`` becomes one ``Datastore.prepare_running``: the change
entries are turned back into edits (a ``full`` transaction's into the whole
tree, diffed against running so that only what changed reaches the roles,
its list entries equal to running's not validated again), validated — in a
worker thread (``prepare_off_loop``), so that 100,000 SAs never hold the
engines' loop — and the subscribers' change phase runs on the loop — a veto is a
``DatastoreError`` with its RFC 6241 error-tag, for ``ControlSession.veto``.
``ConfigDone`` commits it (the done phase), ``ConfigAbort`` or an abandoned
hold aborts it (running unchanged).

The engines' host is ``runtime.Agent`` for now (role units replace it
later), built with no NETCONF, no SNMP and no control channel: the
management plane owns those. It is built by the first committed transaction,
as ``proxymip run`` builds it from the startup file today.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from agent.config.loader import build_config
from agent.config.model import AgentConfig
from agent.datastore.edits import Edit, Operation
from agent.datastore.errors import DatastoreError, ErrorTag
from agent.datastore.paths import parse_path
from agent.datastore.store import RUNNING, TOP, ComputedRunning, Datastore, PreparedTransaction
from agent.datastore.tree import to_json
from agent.plane import messages as m
from agent.runtime import Agent
from agent.schema.errors import ConfigError

log = logging.getLogger("proxymip.control-plane")

ROLE_LISTENS = ("home_agent", "foreign_agent", "proxy")
#: A change phase's work done off the loop: None when the full configuration
#: is running's; else the validated tree, and the engines' records when the
#: transaction builds them.
_Computed = tuple[ComputedRunning, AgentConfig | None] | None


def edits_for(entries: Iterable[m.ConfigChangeEntry]) -> list[Edit]:
    """The edits that make a change set (a ``full`` one: applied to an empty
    tree, the whole configuration): created or modified -> replace the node
    with its RFC 7951 value, deleted -> remove it. A path that does not parse
    is a ``DatastoreError`` (invalid-value)."""
    edits = []
    for entry in entries:
        path = parse_path(entry.path)
        if entry.kind is m.ChangeKind.DELETED:
            edits.append(Edit(Operation.REMOVE, path))
        else:
            edits.append(Edit(Operation.REPLACE, path, entry.value))
    return edits


def plane_tag(error: DatastoreError) -> m.ErrorTag:
    """The datastore's RFC 6241 error-tag as the boundary's (the same values)."""
    return m.ErrorTag(error.tag.value)


def engine_config(effective: dict[str, Any]) -> AgentConfig:
    """The engines' records for a running tree, without what the management
    plane runs (NETCONF, SNMP, the control channel). A value the loader
    refuses is a ``DatastoreError`` (operation-failed, as ``LiveConfiguration``
    vetoes the same)."""
    try:
        config = build_config(to_json(effective))
    except (ConfigError, ValueError) as exc:
        path = getattr(exc, "path", None)
        raise DatastoreError(ErrorTag.OPERATION_FAILED, getattr(exc, "detail", str(exc)),
                             path=path) from None
    proxy = replace(config.proxy, control_socket=None) if config.proxy is not None else None
    return replace(config, netconf=None, snmp=None, proxy=proxy)


class EngineHost:
    def __init__(self, *, on_event: Callable[[str, object], None],
                 clock: Callable[[], float] = time.time, state_dir: str = ".") -> None:
        self.datastore = Datastore()
        self.agent: Agent | None = None
        self.clock = clock
        self.state_dir = state_dir
        self._on_event = on_event
        #: Full transactions found equal to running (not validated again).
        self.unchanged_full = 0
        #: (transaction, its prepared datastore transaction or None when it
        #: changes nothing, the engines' records when it builds them)
        self._prepared: tuple[int, PreparedTransaction | None, AgentConfig | None] | None = None
        self._computing: asyncio.Future[_Computed] | None = None

    @property
    def validating(self) -> bool:
        """A change phase's validation is running in its worker thread."""
        return self._computing is not None and not self._computing.done()

    @property
    def prepared(self) -> int | None:
        """The transaction prepared and not yet committed or aborted."""
        return None if self._prepared is None else self._prepared[0]

    def engines(self) -> tuple[object | None, ...]:
        agent = self.agent
        if agent is None:
            return (None, None, None, None)
        return (agent.home_agent, agent.foreign_agent, agent.proxy, agent.data_plane)

    # -- phase one --------------------------------------------------------------------

    def prepare(self, transaction: int, full: bool, entries: Iterable[m.ConfigChangeEntry]) -> None:
        """Validate and run the change phase; ``DatastoreError`` is the veto."""
        self._finish_prepare(transaction, self._compute(full, tuple(entries)))

    async def prepare_off_loop(self, transaction: int, full: bool,
                               entries: Iterable[m.ConfigChangeEntry]) -> None:
        """``prepare``, with what does not touch the engines (the entries
        turned into a tree, validated and diffed; the engines' records built)
        in a worker thread: the loop runs the engines meanwhile, taking the
        interpreter back every ``sys.getswitchinterval()`` (5 ms). Only the
        subscribers' change phase runs on the loop. At most one at a time
        (the session holds one transaction)."""
        entries = tuple(entries)
        computing = asyncio.ensure_future(asyncio.to_thread(self._compute, full, entries))
        self._computing = computing
        # Shielded: a cancelled caller leaves the thread's future here, and
        # close() waits for it before the datastore goes.
        computed = await asyncio.shield(computing)
        self._computing = None
        self._finish_prepare(transaction, computed)

    def _compute(self, full: bool, entries: tuple[m.ConfigChangeEntry, ...]) -> _Computed:
        if full and self.agent is not None and self._is_running(entries):
            # The full configuration a new session begins with, unchanged
            # (the management plane restarted): nothing to validate or apply.
            return None
        computed = self.datastore.compute_running(edits_for(entries), replace=full)
        config = None
        if self.agent is None:
            # The engines are not built yet: what building them would refuse
            # vetoes now, not in the done phase.
            config = engine_config(computed.new.effective)
            _check_listens(config)
        return computed, config

    def _finish_prepare(self, transaction: int, computed: _Computed) -> None:
        if computed is None:
            self._prepared = (transaction, None, None)
            self.unchanged_full += 1
            return
        # One at a time: the session vetoes a crossing ConfigChange (in-use),
        # and the datastore refuses a second prepared transaction (in-use).
        prepared = self.datastore.prepare_computed(computed[0])
        self._prepared = (transaction, prepared, computed[1])

    # -- phase two --------------------------------------------------------------------

    async def commit(self, transaction: int) -> None:
        """Make it running and apply it to the engines (building them on the
        first commit)."""
        held = self._take(transaction)
        _, prepared, config = held
        if prepared is None:
            return  # unchanged
        prepared.commit()  # the done phase: LiveConfiguration applies it
        if config is not None:
            await self._start(config)

    def abort(self, transaction: int) -> None:
        held = self._prepared
        if held is not None and held[0] == transaction:
            self._prepared = None
            if held[1] is not None:
                held[1].abort()

    def _is_running(self, entries: tuple[m.ConfigChangeEntry, ...]) -> bool:
        """Whether a full transaction's entries are running as it is: one
        entry, the top container, equal to running's RFC 7951 JSON with
        defaults (what the management plane sends)."""
        if len(entries) != 1 or entries[0].kind is m.ChangeKind.DELETED:
            return False
        try:
            path = parse_path(entries[0].path)
        except DatastoreError:
            return False
        if len(path) != 1 or path[0].name != TOP or path[0].keys:
            return False
        running = self.datastore.snapshot(RUNNING).as_json(with_defaults=True)
        return _equal_in_slices(entries[0].value, running)

    def _take(self, transaction: int) -> tuple[int, PreparedTransaction | None, AgentConfig | None]:
        held = self._prepared
        if held is None or held[0] != transaction:
            raise RuntimeError(f"transaction {transaction} is not prepared")
        self._prepared = None
        return held

    async def _start(self, config: AgentConfig) -> None:
        from agent.live_config import bind

        agent = Agent(config, on_event=self._on_event, clock=self.clock, state_dir=self.state_dir)
        self.agent = agent
        try:
            await agent.start()
        except BaseException:
            self.agent = None
            await agent.close(deregister=False)
            raise
        bind(agent, config, self.datastore)

    async def close(self) -> None:
        if self._computing is not None:  # a worker thread still reads the datastore
            await asyncio.wait((self._computing,))
        held, self._prepared = self._prepared, None
        if held is not None and held[1] is not None:
            held[1].abort()
        if self.agent is not None:
            await self.agent.close()
            self.agent = None
        self.datastore.close()


#: Items of a list compared in one call (one C loop holding the interpreter):
#: ~0.5 ms, so that the loop gets it back between two (prepare_off_loop).
EQUAL_SLICE = 1000


def _equal_in_slices(a: Any, b: Any) -> bool:
    """``a == b`` for JSON values, big lists compared a slice at a time."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal_in_slices(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list) and len(a) > EQUAL_SLICE:
        return len(a) == len(b) and all(
            a[i:i + EQUAL_SLICE] == b[i:i + EQUAL_SLICE] for i in range(0, len(a), EQUAL_SLICE))
    return bool(a == b)


def _check_listens(config: AgentConfig) -> None:
    """A role that cannot bind its address:port is vetoed (operation-failed,
    RFC 6241 Appendix A), as ``LiveConfiguration`` does for a running agent."""
    from agent.live_config import _bind_problem

    for attribute in ROLE_LISTENS:
        record = getattr(config, attribute)
        if record is None:
            continue
        address, port = str(record.listen.address), record.listen.port
        problem = _bind_problem(address, port)
        if problem is not None:
            role = attribute.replace("_", "-")
            raise DatastoreError(ErrorTag.OPERATION_FAILED,
                                 f"{role}: cannot listen on {address}:{port}: {problem}",
                                 path=f"/proxy-mobile-ip:mobile-ip/{role}/listen")
