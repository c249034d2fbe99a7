"""snmpEngineBoots across restarts (RFC 3414 §2.2.2), kept in the agent's
state directory: pysnmp, given an engine ID, keeps it in
``/tmp/__pysnmp/<engine ID>/boots``, a predictable path in a directory anyone
can write (another local user could set it near 2^31-1 and latch USM shut),
and leaves that file open (a ResourceWarning). The agent's engine is made
without pysnmp's persistence; the count is one more than the last run's, in a
0600 file of the state directory."""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

import pytest

from agent.mobileip.violations import ViolationLog
from agent.snmp import server
from agent.snmp.instrumentation import build_tree
from agent.snmp.server import ENGINE_BOOTS_FILE, MAX_ENGINE_BOOTS, SnmpAgent
from agent.snmp.settings import SnmpCommunity, SnmpSettings
from agent.snmp.sources import Sources

NOW = 1000.0


def agent_in(state_dir: Path | None, engine_id: bytes) -> SnmpAgent:
    settings = SnmpSettings(address="127.0.0.1", port=0, engine_id=engine_id,
                            communities=(SnmpCommunity("ro", "public"),))
    log = ViolationLog()
    sources = Sources(lambda: None, lambda: None, lambda: None, lambda: log, dict, started_at=NOW)
    return SnmpAgent(settings, lambda stats: build_tree(sources, stats=stats), clock=lambda: NOW,
                     sources=sources, state_dir=None if state_dir is None else str(state_dir))


def boots(agent: SnmpAgent) -> int:
    return agent._stat("__SNMP-FRAMEWORK-MIB", "snmpEngineBoots")


def test_boots_count_up_across_restarts_in_a_private_file(tmp_path: Path) -> None:
    engine_id = b"\x80\x00\x7e\xd9\x05" + os.urandom(8)
    assert [boots(agent_in(tmp_path, engine_id)) for _ in range(3)] == [1, 2, 3]
    path = tmp_path / ENGINE_BOOTS_FILE
    assert path.read_text() == "3\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    agent = agent_in(tmp_path, engine_id)
    (symbol,) = agent._engine.get_mib_builder().import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineID")
    assert bytes(symbol.syntax) == engine_id == bytes(agent._engine.snmpEngineID)
    # Nothing in pysnmp's shared directory for this engine.
    assert not (Path(tempfile.gettempdir()) / "__pysnmp" / ("0x" + engine_id.hex())).exists()


def test_a_bad_or_latched_count(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine_id = b"\x80\x00\x7e\xd9\x05" + os.urandom(8)
    path = tmp_path / ENGINE_BOOTS_FILE
    path.write_text("not a number")
    with caplog.at_level(logging.WARNING, logger=server.log.name):
        assert boots(agent_in(tmp_path, engine_id)) == 1
    assert "unreadable" in caplog.text
    path.write_text(f"{MAX_ENGINE_BOOTS - 1}\n")
    assert boots(agent_in(tmp_path, engine_id)) == MAX_ENGINE_BOOTS
    assert boots(agent_in(tmp_path, engine_id)) == MAX_ENGINE_BOOTS  # latched (RFC 3414 §2.2.2)
    assert boots(agent_in(None, engine_id)) == 1  # no state directory: in memory
