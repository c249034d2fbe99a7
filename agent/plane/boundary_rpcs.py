"""The module's RPCs that act on the engines (``clear-binding``,
``clear-visitor``, ``clear-counters``, ``inject-client-event``), sent across
the plane boundary as boundary RPCs (``ManagementSession.rpc``) and answered
by the control plane; the NETCONF operation waits for the answer by pumping
the plane connection (as a configuration transaction does, see
``config_boundary``). ``clear-subnet-map`` is a datastore edit, not one of
these (``agent.datastore_requests.clear_subnet_map``).

Refusals are ``<rpc-error>``s: no control plane connected ``resource-denied``,
64 RPCs outstanding ``resource-denied``, no answer within the RPC timeout
(2 s) ``operation-failed``, and the control plane's own error as it gives it.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

from agent.access.events import normalise_mac
from agent.netconf.errors import RpcError
from agent.plane import messages as m
from agent.plane import session as s
from agent.plane.link import PlaneLink


class BoundaryRpcs:
    def __init__(self, *, link: Callable[[], PlaneLink | None], clock: Callable[[], float]) -> None:
        self._link = link
        self._clock = clock
        self._waiting: int | None = None
        self._answer: s.Event | None = None

    def handle(self, event: s.Event) -> bool:
        """An RPC outcome of the session; False when it is not one."""
        if isinstance(event, (s.RpcCompleted, s.RpcFailed, s.RpcTimedOut, s.RpcLost)):
            if event.request == self._waiting:
                self._answer = event
            return True
        return False

    def call(self, request: m.RpcRequest) -> m.RpcReply:
        """Send ``request`` and wait for its answer (RpcError when refused)."""
        link = self._link()
        if link is None or link.closed or link.session.state is not s.SessionState.ESTABLISHED:
            raise RpcError("resource-denied", "the control plane is not connected (restarting?)")
        session = link.session
        try:
            number = session.rpc(request, self._clock())
        except s.TransactionRefused as exc:
            raise RpcError(exc.tag.value, str(exc)) from None
        self._waiting, self._answer = number, None
        try:
            link.pump_until(lambda: self._answer is not None,
                            self._clock() + session.rpc_timeout + 1.0)
        finally:
            self._waiting = None
        answer, self._answer = self._answer, None
        if isinstance(answer, s.RpcCompleted):
            return answer.reply
        if isinstance(answer, s.RpcFailed):
            error = answer.error
            raise RpcError(error.tag.value, error.message, path=error.path, app_tag=error.app_tag)
        if isinstance(answer, s.RpcTimedOut) or answer is None:
            raise RpcError("operation-failed",
                           f"the control plane did not answer within {session.rpc_timeout:g} s")
        raise RpcError("resource-denied", "the connection to the control plane was lost")

    # -- the module's RPCs (RFC 7951 JSON input and output) --------------------------------

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "clear-binding": self.clear_binding,
            "clear-visitor": self.clear_visitor,
            "clear-counters": self.clear_counters,
            "inject-client-event": self.inject_client_event,
        }

    def clear_binding(self, given: dict[str, Any]) -> dict[str, Any]:
        """Cisco ``clear ip mobile binding [<address>]``."""
        home = given.get("home-address")
        reply = self.call(m.ClearBinding(0, int(IPv4Address(home)) if home else None))
        return {"cleared": reply.cleared or 0}

    def clear_visitor(self, given: dict[str, Any]) -> dict[str, Any]:
        if "mac" in given:
            request = m.ClearVisitor(0, None, normalise_mac(given["mac"]))
        else:
            request = m.ClearVisitor(0, int(IPv4Address(given["home-address"])), None)
        return {"cleared": self.call(request).cleared or 0}

    def clear_counters(self, given: dict[str, Any]) -> dict[str, Any]:
        self.call(m.ClearCounters(0, m.CounterScope(given.get("role", "all"))))
        return {}

    def inject_client_event(self, given: dict[str, Any]) -> dict[str, Any]:
        address = given.get("address")
        kind = m.ClientEventKind(given["event"])
        if kind is m.ClientEventKind.ADDRESS_LEARNED and not address:
            raise RpcError("operation-failed", "address-learned needs an address")
        self.call(m.InjectClientEvent(0, kind, normalise_mac(given["mac"]),
                                      int(IPv4Address(address)) if address else None,
                                      given.get("interface")))
        return {}
