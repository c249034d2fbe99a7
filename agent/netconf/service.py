"""The NETCONF server in front of a datastore, started and stopped as one
piece: the operations (with the module's RPC handlers the composition root
gives), confirmed commits and their timer, NACM, the notification feed and
``netconf-server-state``. Used by the single-process agent
(``agent.runtime.Agent``) and by the management plane
(``agent.plane.management_plane``), which differ only in the RPC handlers
and where operational state comes from (the datastore's providers)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import replace as _replace
from typing import Any

from agent.datastore.store import Datastore
from agent.netconf.confirmed_commit import ConfirmedCommits
from agent.netconf.settings import NetconfSettings

RpcHandler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class NetconfService:
    server: Any  # agent.netconf.server.NetconfServer
    operations: Any  # agent.netconf.operations.Operations
    confirmed_commits: ConfirmedCommits
    _stop: tuple[Callable[[], None], ...]

    @property
    def port(self) -> int:
        return int(self.server.port)

    @classmethod
    async def start(cls, settings: NetconfSettings, datastore: Datastore, *,
                    rpc_handlers: Mapping[str, RpcHandler], clock: Callable[[], float],
                    state_dir: str) -> NetconfService:
        """A session's end rolls back its unconfirmed confirmed commit (RFC
        6241 §8.4.1), then releases its locks (§7.5); notifications, as the
        datastore publishes them, go to subscribed sessions (RFC 5277); the
        server's sessions and statistics feed /netconf-state (RFC 6022)."""
        from agent.netconf.loop_timer import LoopTimer
        from agent.netconf.notifications import NotificationFeed
        from agent.netconf.operations import Operations
        from agent.netconf.server import NetconfServer

        if not os.path.isabs(settings.host_key_file):
            settings = _replace(settings,
                                host_key_file=os.path.join(state_dir, settings.host_key_file))
        confirmed_commits = ConfirmedCommits(datastore, clock=clock)
        commit_timer = LoopTimer(confirmed_commits, clock=clock)
        confirmed_commits.on_timer_change = commit_timer.rearm

        def server_state() -> Any:
            return server.state()

        operations = Operations(
            datastore, rpc_handlers=dict(rpc_handlers), confirmed_commits=confirmed_commits,
            notifications=True, netconf_state=server_state, clock=clock,
        )

        def session_ended(session_id: int) -> None:
            confirmed_commits.session_ended(session_id)
            datastore.release_session(session_id)

        server = NetconfServer(
            settings, operations.capabilities(), operations,
            on_session_end=session_ended, clock=clock,
            authorize=operations.access.authorize_operation,  # NACM, RFC 8341
            may_notify=operations.access.may_notify,
        )
        # The pre-authentication limits at work (YANG netconf-server-state).
        datastore.register_provider(lambda: {"netconf-server-state": server.login_state()})
        feed = NotificationFeed(operations.codec, server.notify,
                                wanted=lambda: server.has_subscribers)
        unsubscribe = datastore.subscribe_notifications(feed)
        try:
            await server.start()
        except BaseException:
            unsubscribe()
            commit_timer.close()
            operations.close()
            raise
        return cls(server, operations, confirmed_commits, (unsubscribe, commit_timer.close))

    async def close(self) -> None:
        for stop in self._stop:
            stop()
        self.server.close()
        await self.server.wait_closed()
        # RFC 6241 §8.4.1: an unconfirmed commit does not survive a restart.
        self.confirmed_commits.shutdown()
        self.operations.close()
