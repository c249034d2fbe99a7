"""The pure part of LiveConfiguration's change phase (``warm``: which SA
entries a change touches, their SAs built) runs in Datastore.compute_running,
off the engines' loop in the control plane; the change phase on the loop
uses it only for the very changes it was built for (RFC 5944 §3.5: the SA
the home agent authenticates with is the one configured, never an older
one)."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address
from typing import Any

from agent.datastore.store import RUNNING
from agent.live_config import LiveConfiguration
from agent.plane import messages as m
from agent.plane.engine_host import EngineHost, edits_for

TOP = "/proxy-mobile-ip:mobile-ip"


def configuration(key: str, hosts: int = 50) -> dict[str, Any]:
    return {"home-agent": {"address": "127.0.0.2", "listen": {"address": "127.0.0.2", "port": 0}},
            "security": {"host": [{"address": f"10.0.0.{i}", "spi": 256, "key-hex": key}
                                  for i in range(1, hosts + 1)]}}


def full(content: dict[str, Any]) -> tuple[m.ConfigChangeEntry, ...]:
    return (m.ConfigChangeEntry(m.ChangeKind.CREATED, TOP, content),)


def live(host: EngineHost) -> LiveConfiguration:
    (subscription,) = host.datastore._subscriptions
    callback = subscription.callback
    assert isinstance(callback, LiveConfiguration)
    return callback


def key_of(host: EngineHost, address: str) -> bytes:
    assert host.agent is not None
    association = host.agent.config.host_associations.lookup(IPv4Address(address), 256)
    assert association is not None
    return association.key


def test_sas_built_off_the_loop_are_installed() -> None:
    async def scenario() -> None:
        host = EngineHost(on_event=lambda role, event: None)
        try:
            host.prepare(1, True, full(configuration("00" * 16)))
            await host.commit(1)
            seen: list[Any] = []
            subscriber = live(host)
            real_warm = subscriber.warm

            def warm(event: Any) -> None:
                seen.append(event.changes)
                real_warm(event)

            subscriber.warm = warm  # type: ignore[method-assign]
            await host.prepare_off_loop(2, True, full(configuration("11" * 16, hosts=60)))
            assert len(seen) == 1 and subscriber._warm is None  # built once, then used
            await host.commit(2)
            assert key_of(host, "10.0.0.7") == bytes.fromhex("11" * 16)
            assert key_of(host, "10.0.0.60") == bytes.fromhex("11" * 16)
            assert len(host.datastore.get_config(RUNNING)["proxy-mobile-ip:mobile-ip"]["security"]["host"]) == 60
        finally:
            await host.close()

    asyncio.run(scenario())


def test_what_was_built_for_other_changes_is_not_used() -> None:
    async def scenario() -> None:
        host = EngineHost(on_event=lambda role, event: None)
        try:
            host.prepare(1, True, full(configuration("00" * 16)))
            await host.commit(1)
            subscriber = live(host)
            wanted = host.datastore.compute_running(edits_for(full(configuration("33" * 16))), replace=True)
            # Then another change set is computed (and dropped): what was
            # built last is for it, not for the one prepared now.
            other = host.datastore.compute_running(edits_for(full(configuration("22" * 16))), replace=True)
            assert subscriber._warm is not None and subscriber._warm[0] is other.changes
            host.datastore.prepare_computed(wanted).commit()
            assert key_of(host, "10.0.0.7") == bytes.fromhex("33" * 16)
        finally:
            await host.close()

    asyncio.run(scenario())


def test_addresses_parse_as_ipaddress_does() -> None:
    """The fast parse (inet_aton) gives the same address, and what is not a
    dotted quad gets ipaddress's own ValueError (the change phase's veto),
    not an OSError."""
    import pytest

    from agent.live_config import _address

    assert _address("192.0.2.17") == IPv4Address("192.0.2.17")
    assert _address("0.0.0.0") == IPv4Address(0)
    with pytest.raises(ValueError):
        _address("192.0.2.300")
    with pytest.raises(ValueError):
        _address("fe80::1")
    with pytest.raises(ValueError):
        _address("10.1")  # inet_aton's 10.0.0.1
