"""The netconf-server container's pre-authentication leaves: YANG defaults
equal the dataclass defaults, and the rounds of a password hash are bounded
(issue 13, item 13)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.config.loader import load_config_text
from agent.schema.errors import ConfigError
from agent.netconf.login_guard import GuardSettings
from agent.netconf.passwords import ROUNDS_MAX, dummy_hash, hash_rounds, sha_crypt
from agent.netconf.settings import NetconfSettings

TOP = "proxy-mobile-ip:mobile-ip"


def netconf(node: dict[str, Any]) -> NetconfSettings:
    config = load_config_text(json.dumps({TOP: {"netconf-server": node}}), "json")
    assert config.netconf is not None
    return config.netconf


def test_yang_defaults_are_the_server_defaults() -> None:
    assert netconf({}) == NetconfSettings()
    assert netconf({}).guard == GuardSettings()


def test_every_leaf_reaches_the_settings() -> None:
    settings = netconf({
        "max-password-length": 64, "login-grace-time": 30, "max-auth-tries": 3,
        "max-startups": {"start": 4, "rate": 50, "full": 8, "per-source": 2},
        "login-backoff": {"source-failures": 2, "user-failures": 7, "initial-delay": "0.5",
                          "max-delay": 60, "max-sources": 1024},
    })
    assert (settings.max_password_length, settings.login_grace_time,
            settings.max_auth_tries) == (64, 30.0, 3)
    assert settings.guard == GuardSettings(start=4, rate=50, full=8, per_source=2,
                                           source_failures=2, user_failures=7,
                                           initial_delay=0.5, max_delay=60.0, max_sources=1024)


@pytest.mark.parametrize("startups", [{"start": 20, "full": 10}, {"per-source": 200}])
def test_startups_must_fit_under_full(startups: dict[str, int]) -> None:
    with pytest.raises(ConfigError) as info:
        netconf({"max-startups": startups})
    assert "must not exceed full" in str(info.value)


def test_password_rounds_are_bounded() -> None:
    at_cap = sha_crypt("pw", f"$6$rounds={ROUNDS_MAX}$saltsalt")
    settings = netconf({"user": [{"name": "admin", "password": at_cap}]})
    assert settings.users[0].password_hash == at_cap
    over = at_cap.replace(f"rounds={ROUNDS_MAX}$", f"rounds={ROUNDS_MAX + 1}$")
    for hash_ in (over, over.replace("$6$", "$5$", 1)[:-43],
                  "$6$rounds=999999999$saltsalt$" + "x" * 86):
        with pytest.raises(ConfigError) as info:
            netconf({"user": [{"name": "admin", "password": hash_}]})
        assert "at most rounds=100000" in str(info.value)
        assert hash_ not in str(info.value)  # no hash in the error


def test_unknown_users_cost_the_costliest_known_hash() -> None:
    hashes = ["$6$rounds=20000$a$" + "x" * 86, "$5$b$" + "y" * 43, None]
    assert hash_rounds(dummy_hash(hashes)) == 20000
    assert hash_rounds(dummy_hash([None])) == 5000
