"""Operator errors: each carries the one line the operator reads and the exit
status the command ends with. ``commands.run`` is the only place that prints
them; no traceback ever reaches the terminal for these."""

from __future__ import annotations

#: Exit statuses (documented in docs/operator-guide.md).
EXIT_OK = 0
#: The agent could not be reached, refused us, or refused the operation.
EXIT_FAILURE = 1
#: Bad input: usage, an invalid configuration file.
EXIT_USAGE = 2
#: The agent does not offer what the command needs (a capability, a role).
EXIT_NOT_OFFERED = 3


class OperatorError(Exception):
    """A failure the operator must see as one line on stderr."""

    exit_status = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AgentUnreachable(OperatorError):
    """No NETCONF session: connection refused, timed out, or lost."""


class AuthenticationFailed(OperatorError):
    """The SSH server refused our user name and password or keys."""


class HostKeyNotTrusted(OperatorError):
    """The agent's SSH host key is not in known_hosts (or does not match it)."""


class AgentRefused(OperatorError):
    """An <rpc-error> (RFC 6241 §4.3): the agent refused the operation."""

    def __init__(self, message: str, *, tag: str, path: str | None = None,
                 app_tag: str | None = None) -> None:
        super().__init__(message)
        self.tag = tag
        self.path = path
        self.app_tag = app_tag


class NotFound(OperatorError):
    """The entry the operator named does not exist on the agent."""


class NotOffered(OperatorError):
    """The agent does not run the role or offer the capability needed."""

    exit_status = EXIT_NOT_OFFERED


class UsageError(OperatorError):
    """The command line or a file named on it is wrong."""

    exit_status = EXIT_USAGE


class ProtocolViolation(OperatorError):
    """The agent's messages break NETCONF (RFC 6241 / RFC 6242)."""
