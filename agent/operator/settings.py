"""Where the agent is and who we are.

Each setting comes from the first of (most specific first):

1. the command line: ``--host``, ``--port``, ``--user``, ``--password``,
   ``--timeout``, ``--no-host-key-check``;
2. the ``[agent.NAME]`` table of the configuration file, for the agent named
   by ``--agent NAME`` (or ``PROXYMIP_AGENT``): a named agent is more specific
   than the environment;
3. the environment: ``PROXYMIP_HOST``, ``PROXYMIP_PORT``, ``PROXYMIP_USER``,
   ``PROXYMIP_PASSWORD``, ``PROXYMIP_TIMEOUT``, ``PROXYMIP_HOST_KEY_CHECK``;
4. the top level of the configuration file: ``$PROXYMIP_CLI_CONFIG``, else
   ``$XDG_CONFIG_HOME/proxymip/cli.toml`` (``~/.config/proxymip/cli.toml``);
5. the defaults: 127.0.0.1, port 830 (NETCONF over SSH, RFC 6242 §3), the
   login name, no password (SSH keys and the SSH agent are tried instead),
   host keys checked against ``~/.ssh/known_hosts``.

The file is TOML (``tomllib``)::

    host = "127.0.0.1"
    user = "admin"

    [agent.ha]
    host = "192.0.2.1"
    port = 830

A file that holds a password and that others can read is refused: the
password would be everyone's.
"""

from __future__ import annotations

import getpass
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.operator.errors import UsageError

#: RFC 6242 §3: the IANA port of NETCONF over SSH.
NETCONF_SSH_PORT = 830
DEFAULT_HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 10.0
CONFIG_ENV = "PROXYMIP_CLI_CONFIG"
AGENT_ENV = "PROXYMIP_AGENT"
#: Setting name -> environment variable.
ENVIRONMENT = {
    "host": "PROXYMIP_HOST",
    "port": "PROXYMIP_PORT",
    "user": "PROXYMIP_USER",
    "password": "PROXYMIP_PASSWORD",
    "timeout": "PROXYMIP_TIMEOUT",
    "host-key-check": "PROXYMIP_HOST_KEY_CHECK",
}
_KNOWN = frozenset(ENVIRONMENT)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class ConnectionSettings:
    host: str = DEFAULT_HOST
    port: int = NETCONF_SSH_PORT
    user: str = ""
    #: None: authenticate with SSH keys / the SSH agent instead.
    password: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    host_key_check: bool = True

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:  # never show the password
        return (f"ConnectionSettings(host={self.host!r}, port={self.port}, user={self.user!r}, "
                f"password={'<set>' if self.password else None}, timeout={self.timeout}, "
                f"host_key_check={self.host_key_check})")


def config_path(environ: Mapping[str, str]) -> Path:
    explicit = environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit)
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "proxymip" / "cli.toml"


def read_config_file(path: Path, *, required: bool) -> dict[str, Any]:
    """The parsed file; {} when it does not exist and was not asked for."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise UsageError(f"{path}: no such configuration file") from None
        return {}
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    _check_tables(path, document)
    if _holds_password(document) and _readable_by_others(path):
        raise UsageError(f"{path}: holds a password but others can read it (chmod 600 {path})")
    return document


def resolve(*, flags: Mapping[str, Any], environ: Mapping[str, str],
            agent: str | None = None, config_file: Path | None = None) -> ConnectionSettings:
    """The settings for one command. ``flags`` holds the command-line values
    (None when not given) under the setting names (``host``, ``port``, ``user``,
    ``password``, ``timeout``, ``host-key-check``)."""
    path = config_file or config_path(environ)
    document = read_config_file(path, required=config_file is not None or CONFIG_ENV in environ)
    name = agent or environ.get(AGENT_ENV) or None
    profile: Mapping[str, Any] = {}
    if name is not None:
        profiles = document.get("agent", {})
        if name not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise UsageError(f"no agent {name!r} in {path} (known: {known})")
        profile = profiles[name]
    top = {k: v for k, v in document.items() if k != "agent"}
    layers: list[tuple[str, Mapping[str, Any]]] = [
        ("the command line", {k: v for k, v in flags.items() if v is not None}),
        (f"[agent.{name}] in {path}", profile),
        ("the environment", {k: environ[v] for k, v in ENVIRONMENT.items() if environ.get(v)}),
        (str(path), top),
    ]

    def pick(key: str) -> tuple[str, Any] | None:
        for origin, layer in layers:
            if key in layer:
                return origin, layer[key]
        return None

    host = _text(pick("host"), "host") or DEFAULT_HOST
    port = _number(pick("port"), "port", int)
    port = NETCONF_SSH_PORT if port is None else port
    if not 0 < port < 65536:
        raise UsageError(f"port {port} is not a TCP port")
    user = _text(pick("user"), "user") or _login_name()
    password = _text(pick("password"), "password") or None
    timeout = _number(pick("timeout"), "timeout", float)
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    if timeout <= 0:
        raise UsageError("timeout must be positive")
    check = pick("host-key-check")
    host_key_check = True if check is None else _boolean(check, "host-key-check")
    return ConnectionSettings(host=host, port=port, user=user, password=password,
                              timeout=timeout, host_key_check=host_key_check)


def _check_tables(path: Path, document: Mapping[str, Any]) -> None:
    for key, value in document.items():
        if key == "agent":
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise UsageError(f"{path}: 'agent' must hold [agent.NAME] tables")
            for name, table in value.items():
                unknown = set(table) - _KNOWN
                if unknown:
                    raise UsageError(f"{path}: [agent.{name}] has unknown setting "
                                     f"{min(unknown)!r}")
        elif key not in _KNOWN:
            raise UsageError(f"{path}: unknown setting {key!r} "
                             f"(known: {', '.join(sorted(_KNOWN | {'agent'}))})")


def _holds_password(document: Mapping[str, Any]) -> bool:
    if "password" in document:
        return True
    return any("password" in table for table in document.get("agent", {}).values())


def _readable_by_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "admin"


def _text(found: tuple[str, Any] | None, name: str) -> str | None:
    if found is None:
        return None
    origin, value = found
    if not isinstance(value, str):
        raise UsageError(f"{name} from {origin} must be a string")
    return value


def _number(found: tuple[str, Any] | None, name: str, kind: type[int | float]) -> Any:
    if found is None:
        return None
    origin, value = found
    if isinstance(value, bool):
        raise UsageError(f"{name} from {origin} must be a number")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} from {origin} must be a number, not {value!r}") from None


def _boolean(found: tuple[str, Any], name: str) -> bool:
    origin, value = found
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"{name} from {origin} must be yes or no, not {value!r}")

