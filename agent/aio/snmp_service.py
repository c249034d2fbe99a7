"""The SNMP agent as a service of the composition root: started from the
YANG ``snmp-agent`` settings over the ``Sources`` it is given (the engines
in the single-process agent, the operational mirror in the management
plane), its notifications from the datastore, and restarted when
``snmp-agent`` changes. Used by ``agent.runtime.Agent`` and
``agent.plane.management_plane``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from agent.datastore.store import Datastore
from agent.snmp.settings import SnmpSettings
from agent.snmp.sources import Sources


class SnmpService:
    def __init__(self, datastore: Datastore | None, *, sources: Callable[[], Sources],
                 clock: Callable[[], float], state_dir: str) -> None:
        self._datastore = datastore
        self._sources = sources
        self._clock = clock
        self._state_dir = state_dir
        self.agent: Any = None  # agent.snmp.server.SnmpAgent while it runs
        self.settings: SnmpSettings | None = None
        self._unsubscribe_notifications: Callable[[], None] | None = None
        self._unsubscribe_config: Callable[[], None] | None = None
        self._next: SnmpSettings | None = None
        self._restart: asyncio.Task[None] | None = None

    async def start(self, settings: SnmpSettings | None) -> None:
        """MIP-MIB and PROXY-MOBILE-IP-MIB read from the sources and running
        at request time; Sets are datastore transactions; notifications
        become traps and informs. ``None``: no agent (until configured)."""
        from agent.snmp.instrumentation import build_tree
        from agent.snmp.server import SnmpAgent

        self.settings = settings
        if settings is None:
            return
        sources = self._sources()
        agent = SnmpAgent(
            settings,
            lambda stats: build_tree(sources, stats=stats, name=settings.system_name,
                                     contact=settings.system_contact,
                                     location=settings.system_location),
            datastore=self._datastore, clock=self._clock, sources=sources,
            state_dir=self._state_dir,
        )
        await agent.start()
        self.agent = agent
        if self._datastore is not None and settings.receivers:
            self._unsubscribe_notifications = self._datastore.subscribe_notifications(agent.notify)

    def stop(self) -> None:
        if self.agent is not None:
            if self._unsubscribe_notifications is not None:
                self._unsubscribe_notifications()
                self._unsubscribe_notifications = None
            self.agent.close()
            self.agent = None

    def follow_configuration(self) -> None:
        """``snmp-agent`` changes take effect at once (NETCONF manages SNMP access)."""
        if self._datastore is not None:
            self._unsubscribe_config = self._datastore.subscribe(
                self.config_changed, prefix=("mobile-ip", "snmp-agent"))

    def config_changed(self, event: Any) -> None:
        """A transaction touching snmp-agent: the change phase builds the new
        settings (a value the loader refuses vetoes the transaction), the done
        phase restarts the SNMP agent on them. A listen port of 0 keeps the port
        the system chose, and the engine ID stays, so managers keep talking to
        the same agent."""
        from agent.config.loader import ConfigError, snmp_settings
        from agent.datastore.store import Veto
        from agent.datastore.tree import to_json

        if event.phase == "change":
            node = event.config.get("snmp-agent")
            try:
                self._next = snmp_settings(to_json(node)) if node is not None else None
            except (ConfigError, ValueError) as exc:
                raise Veto(f"snmp-agent: {exc}") from None
            return
        if event.phase != "done":
            self._next = None
            return
        settings, self._next = self._next, None
        old = self.agent
        if settings is not None and old is not None:
            if settings.port == 0 and settings.address == old.settings.address:
                settings = replace(settings, port=old.port)
            if settings.engine_id is None:
                settings = replace(settings, engine_id=old.engine_id)

        async def restart() -> None:
            self.stop()
            await self.start(settings)

        # Kept: a task nobody references may be collected.
        self._restart = asyncio.get_running_loop().create_task(restart())

    def close(self) -> None:
        if self._unsubscribe_config is not None:
            self._unsubscribe_config()
            self._unsubscribe_config = None
        self.stop()
