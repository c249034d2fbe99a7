"""An agent in this process, composed as ``proxymip run`` composes it (the
datastore, ``Agent`` with its NETCONF server, the live-configuration binding,
the operational provider), on its own event loop thread, so ncclient (which
blocks) can talk to it from the test's thread and the test can reach into the
datastore and the engines. Loopback only; every port is 0."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from agent.config.loader import build_config
from agent.schema.context import TOP_MEMBER
from agent.datastore.store import RUNNING, Datastore
from agent.datastore.tree import to_json
from agent.lab import NETCONF_USER, ha_config
from agent.live_config import bind
from agent.runtime import Agent

WAIT = 10.0


class InProcessAgent:
    """A home agent (lab addresses: 127.0.0.2) serving NETCONF."""

    def __init__(self, state_dir: Path, *, clients: int = 4) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        document = ha_config(clients, netconf=True)
        self.datastore = Datastore()
        self.datastore.replace_config(RUNNING, {TOP_MEMBER: document[TOP_MEMBER]})
        config = build_config(to_json(self.datastore.snapshot(RUNNING).effective))
        self.agent = Agent(config, datastore=self.datastore, state_dir=str(state_dir))
        self.call(self._start(config))

    async def _start(self, config: Any) -> None:
        await self.agent.start()
        bind(self.agent, config, self.datastore)
        self.datastore.register_provider(self.agent.operational)

    @property
    def netconf_address(self) -> tuple[str, int]:
        host, port = self.agent.endpoints()["netconf"]
        return str(host), int(port)

    @property
    def home_agent_address(self) -> tuple[str, int]:
        host, port = self.agent.endpoints()["home-agent"]
        return str(host), int(port)

    def call(self, coroutine: Any, timeout: float = WAIT) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def on_loop(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function(*args)`` on the agent's loop (the datastore and the
        engines belong to it) and return its result."""
        async def run() -> Any:
            return function(*args)
        return self.call(run())

    def publish(self, name: str, content: dict[str, Any], when: float | None = None) -> None:
        """Publish a notification as an engine does, on the agent's loop."""
        self.on_loop(self.datastore.publish, name, content, time.time() if when is None else when)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        try:
            self.call(self.agent.close(deregister=False))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(WAIT)
            self.loop.close()
            self.datastore.close()


@contextlib.contextmanager
def running_agent(state_dir: Path, **kwargs: Any) -> Iterator[InProcessAgent]:
    agent = InProcessAgent(state_dir, **kwargs)
    try:
        yield agent
    finally:
        agent.stop()


def nc_connect(agent: InProcessAgent, **kwargs: Any) -> Any:
    """An ncclient session to ``agent`` (fast polling: stock ncclient sleeps
    100 ms per request)."""
    from ncclient import manager
    from ncclient.transport import parser as nc_parser
    from ncclient.transport import session as nc_session

    nc_session.TICK = 0.005
    nc_parser.TICK = 0.005
    host, port = agent.netconf_address
    return manager.connect(host=host, port=port, username=NETCONF_USER[0],
                           password=NETCONF_USER[1], hostkey_verify=False, look_for_keys=False,
                           allow_agent=False, timeout=WAIT, **kwargs)
