"""Composition root: builds the role engines from an ``AgentConfig`` and runs each
on its asyncio adapter. Nothing else wires engines, adapters and logging."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.aio.engine_runner import EngineRunner
from agent.config.model import AgentConfig
from agent.mobileip.events import Event
from agent.mobileip.foreign_agent import ForeignAgent
from agent.mobileip.home_agent import HomeAgent
from agent.mobileip.violations import ViolationLog

log = logging.getLogger("proxymip")
event_log = logging.getLogger("proxymip.events")


def describe_event(role: str, event: Event) -> str:
    """One log line per event; events carry no key material by construction."""
    fields = " ".join(f"{k}={v}" for k, v in _event_fields(event))
    return f"{role} {type(event).__name__} {fields}"


def _event_fields(event: Event) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for name in event.__slots__:  # frozen slotted dataclasses
        value = getattr(event, name)
        out.append((name, getattr(value, "value", value) if not isinstance(value, int) else value))
    return out


@dataclass
class Agent:
    config: AgentConfig
    on_event: Callable[[str, Event], None] | None = None
    violations: ViolationLog = field(default_factory=ViolationLog)
    home_agent: HomeAgent | None = None
    foreign_agent: ForeignAgent | None = None
    runners: dict[str, EngineRunner] = field(default_factory=dict)

    async def start(self) -> None:
        cfg = self.config
        if cfg.home_agent is not None:
            self.home_agent = HomeAgent(
                cfg.home_agent.settings,
                mobile_nodes=cfg.host_associations,
                peers=cfg.peer_associations,
                violations=self.violations,
            )
            self.runners["home-agent"] = await EngineRunner.start(
                self.home_agent,
                name="home-agent",
                address=str(cfg.home_agent.listen.address),
                port=cfg.home_agent.listen.port,
                on_event=self._event_handler("home-agent"),
            )
        if cfg.foreign_agent is not None:
            self.foreign_agent = ForeignAgent(
                cfg.foreign_agent.settings,
                # Host SAs are mobile node - home agent SAs: the FA does not check
                # them (RFC 5944 §3.7.2.1 needs an MN-FA SA for an MFAE check).
                home_agents=cfg.peer_associations,
                violations=self.violations,
                now=time.time(),
            )
            self.runners["foreign-agent"] = await EngineRunner.start(
                self.foreign_agent,
                name="foreign-agent",
                address=str(cfg.foreign_agent.listen.address),
                port=cfg.foreign_agent.listen.port,
                on_event=self._event_handler("foreign-agent"),
                discovery=cfg.foreign_agent.discovery,
            )

    def _event_handler(self, role: str) -> Callable[[Event], None]:
        def handle(event: Event) -> None:
            if event_log.isEnabledFor(logging.INFO):
                event_log.info(describe_event(role, event))
            if self.on_event is not None:
                self.on_event(role, event)

        return handle

    def endpoints(self) -> dict[str, tuple[str, int]]:
        return {name: runner.local_address for name, runner in self.runners.items()}

    def counters(self) -> dict[str, dict[str, int]]:
        """This instant's counters, read from the engines (no copies)."""
        out: dict[str, dict[str, int]] = {}
        if self.home_agent is not None:
            out["home-agent"] = self.home_agent.counters.as_dict() | {
                "bindings": self.home_agent.binding_count
            }
        if self.foreign_agent is not None:
            out["foreign-agent"] = self.foreign_agent.counters.as_dict() | {
                "visitors": self.foreign_agent.visitor_count,
                "pending": self.foreign_agent.pending_count,
            }
        out["security"] = {"total-violations": self.violations.total}
        return out

    def close(self) -> None:
        for runner in self.runners.values():
            runner.close()
        self.runners.clear()
