"""Sans-IO sessions of the plane boundary, one per end (aioquic's shape: fed
bytes and ``now``, they return bytes to send, events, and their next
deadline; they read no clock and open no socket).

``ManagementSession`` (the management plane, FRRouting mgmtd's side) runs the
two-phase configuration transactions and the RPCs and receives the state
stream. ``ControlSession`` (the control plane, a back-end client) answers them
and sends the stream. Both begin with a ``Hello`` and use the highest common
protocol version.

Faults, and what they cost:
- a frame announced over ``max_frame``: fatal (``SessionError`` too-big, close);
- a frame that does not decode, or an unknown message type: counted, a
  ``ProtocolViolation`` event, the stream goes on (an RPC whose id was
  readable gets its ``RpcError`` malformed-message);
- a valid message the state does not allow (management receiving a
  ``ConfigChange``): counted, ``ProtocolViolation``, ignored;
- a late answer to a transaction or RPC that already ended: counted as late;
- no verdict within ``change_timeout`` (plus ``timeout_per_item`` for each
  array item the transaction sent in parts): the transaction is aborted;
- a transaction's ``ConfigChangePart`` frames that do not fit its
  ``ConfigChange`` (``parts.py``): counted as a bad field, vetoed
  malformed-message;
- no ``ConfigApplied`` within ``apply_timeout``, or a ``ConfigDone`` for a
  transaction the control plane gave up: fatal, so that the reconnection
  replays the whole configuration (as mgmtd disconnects a back-end that did
  not confirm an apply, ``mgmtd/mgmt_txn_cfg.c``).
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.plane import codec
from agent.plane import messages as m
from agent.plane import parts

#: sysrepo's defaults for a change callback and an RPC callback (src/common.h:
#: SR_CHANGE_CB_TIMEOUT 5000 ms, SR_RPC_CB_TIMEOUT 2000 ms).
CHANGE_TIMEOUT = 5.0
APPLY_TIMEOUT = 5.0
#: Added to both per array item a transaction sends in parts (a host SA, a
#: subnet-map entry; ``parts.py``): what the control plane checks and builds
#: grows with them (tools/bench/control_plane_config_bench.py), so a
#: 100,000-SA full configuration gets 5 + 50 s, a small edit (no parts) 5 s.
#: sysrepo makes the timeout a per-subscription setting for the same reason.
TIMEOUT_PER_ITEM = 0.0005
#: The control plane gives up a prepared transaction after this: longer than
#: the management plane's own change timeout, so that it never abandons one
#: the management plane may still commit.
HOLD_TIMEOUT = 15.0
RPC_TIMEOUT = 2.0
HELLO_TIMEOUT = 5.0
MAX_OUTSTANDING_RPCS = 64


class SessionState(enum.Enum):
    AWAIT_HELLO = "await-hello"
    ESTABLISHED = "established"
    CLOSED = "closed"


class LocalProtocolError(RuntimeError):
    """We misused the session (h11's distinction): a bug in the caller."""


class TransactionRefused(RuntimeError):
    """The boundary cannot take a transaction or RPC now; ``tag`` is the
    RFC 6241 error-tag for the operator (resource-denied: the control plane is
    not connected; in-use: another transaction is in progress)."""

    def __init__(self, tag: m.ErrorTag, message: str) -> None:
        super().__init__(message)
        self.tag = tag


@dataclass
class ProtocolCounters:
    frames_received: int = 0
    frames_sent: int = 0
    malformed: int = 0
    unknown_type: int = 0
    bad_field: int = 0
    oversize: int = 0
    unexpected: int = 0
    late: int = 0
    version_mismatch: int = 0
    timeouts: int = 0

    @property
    def errors(self) -> int:
        return (self.malformed + self.unknown_type + self.bad_field + self.oversize
                + self.unexpected + self.version_mismatch)


# -- events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionEstablished:
    version: int
    peer_epoch: int
    peer_pid: int


@dataclass(frozen=True, slots=True)
class SessionClosed:
    tag: m.ErrorTag
    reason: str
    by_peer: bool


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    fault: str  # a codec.DecodeFault value, or "unexpected"
    detail: str


@dataclass(frozen=True, slots=True)
class TransactionPrepared:
    transaction: int


@dataclass(frozen=True, slots=True)
class TransactionVetoed:
    transaction: int
    veto: m.ConfigVetoed


@dataclass(frozen=True, slots=True)
class TransactionApplied:
    transaction: int


class Phase(enum.Enum):
    CHANGE = "change"  # waiting for the verdict
    PREPARED = "prepared"  # accepted, waiting for done or abort
    DONE = "done"  # committed, waiting for ConfigApplied


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    transaction: int
    phase: Phase


@dataclass(frozen=True, slots=True)
class TransactionLost:
    """The session closed with the transaction open: in the change phase
    nothing was applied; after done, nobody knows (the next session's full
    configuration settles it)."""

    transaction: int
    phase: Phase


@dataclass(frozen=True, slots=True)
class RpcLost:
    """The session closed before the RPC was answered."""

    request: int


@dataclass(frozen=True, slots=True)
class RpcCompleted:
    request: int
    reply: m.RpcReply


@dataclass(frozen=True, slots=True)
class RpcFailed:
    request: int
    error: m.RpcError


@dataclass(frozen=True, slots=True)
class RpcTimedOut:
    request: int


@dataclass(frozen=True, slots=True)
class StateReceived:
    message: m.StateMessage


@dataclass(frozen=True, slots=True)
class ConfigChangeRequested:
    transaction: int
    full: bool
    changes: tuple[m.ConfigChangeEntry, ...]


@dataclass(frozen=True, slots=True)
class ConfigCommitRequested:
    transaction: int


@dataclass(frozen=True, slots=True)
class ConfigAbortRequested:
    transaction: int


@dataclass(frozen=True, slots=True)
class TransactionAbandoned:
    """Prepared, and neither done nor abort came within ``hold_timeout``."""

    transaction: int


@dataclass(frozen=True, slots=True)
class RpcRequested:
    request: m.RpcRequest


@dataclass(frozen=True, slots=True)
class ResyncRequested:
    reason: str


Event = (SessionEstablished | SessionClosed | ProtocolViolation | TransactionPrepared
         | TransactionVetoed | TransactionApplied | TransactionTimedOut | TransactionLost
         | RpcLost | RpcCompleted | RpcFailed
         | RpcTimedOut | StateReceived | ConfigChangeRequested | ConfigCommitRequested
         | ConfigAbortRequested | TransactionAbandoned | RpcRequested | ResyncRequested)


# -- the common part -----------------------------------------------------------------------


class _Session(abc.ABC):
    role: m.PlaneRole

    def __init__(self, *, epoch: int, pid: int, now: float,
                 versions: tuple[int, ...] = m.SUPPORTED_VERSIONS,
                 max_frame: int = codec.MAX_FRAME, hello_timeout: float = HELLO_TIMEOUT) -> None:
        self.state = SessionState.AWAIT_HELLO
        self.version: int | None = None
        self.counters = ProtocolCounters()
        self.peer_epoch: int | None = None
        self._versions = versions
        self._reader = codec.FrameReader(max_frame=max_frame)
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self._deadlines: dict[object, float] = {"hello": now + hello_timeout}
        self._send(m.Hello(versions, self.role, epoch, pid))

    # -- what the adapter calls ---------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        if self.state is SessionState.CLOSED:
            return
        try:
            bodies = self._reader.feed(data)
        except codec.FrameTooLarge as exc:
            self.counters.oversize += 1
            self._fail(m.ErrorTag.TOO_BIG, str(exc))
            return
        for body in bodies:
            self.counters.frames_received += 1
            try:
                message = codec.decode(body)
            except codec.DecodeError as exc:
                self._count_decode_error(exc)
                continue
            self._receive(message, now)
            if self._closed():
                return

    def _closed(self) -> bool:
        return self.state is SessionState.CLOSED

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        return min(self._deadlines.values()) if self._deadlines else None

    def handle_timer(self, now: float) -> None:
        for key, when in sorted(self._deadlines.items(), key=lambda item: item[1]):
            if when <= now and key in self._deadlines:
                del self._deadlines[key]
                self._expired(key, now)

    def close(self) -> None:
        """The connection is gone (or the caller drops it)."""
        self.state = SessionState.CLOSED
        self._deadlines.clear()

    # -- the machinery ---------------------------------------------------------------------

    def _send(self, message: m.Message) -> None:
        self._out.append(codec.encode(message))
        self.counters.frames_sent += 1

    def _emit(self, event: Event) -> None:
        self._events.append(event)

    def _fail(self, tag: m.ErrorTag, reason: str) -> None:
        if self.state is not SessionState.CLOSED:
            self._send(m.SessionError(tag, reason))
            self._emit(SessionClosed(tag, reason, by_peer=False))
            self.close()

    def _count_decode_error(self, exc: codec.DecodeError) -> None:
        if exc.fault is codec.DecodeFault.UNKNOWN_TYPE:
            self.counters.unknown_type += 1
        elif exc.fault is codec.DecodeFault.MALFORMED:
            self.counters.malformed += 1
        else:
            self.counters.bad_field += 1
        self._emit(ProtocolViolation(exc.fault.value, str(exc)))
        if exc.request is not None and self.role is m.PlaneRole.CONTROL:
            self._send(m.RpcError(exc.request, m.ErrorTag.MALFORMED_MESSAGE, str(exc)))

    def _unexpected(self, message: m.Message) -> None:
        self.counters.unexpected += 1
        self._emit(ProtocolViolation("unexpected", f"{type(message).__name__} in {self.state.value}"))

    def _receive(self, message: m.Message, now: float) -> None:
        if type(message) is m.SessionError:
            self._emit(SessionClosed(message.tag, message.message, by_peer=True))
            self.close()
            return
        if self.state is SessionState.AWAIT_HELLO:
            if type(message) is not m.Hello:
                self.counters.unexpected += 1
                self._fail(m.ErrorTag.MALFORMED_MESSAGE, "the first message must be a hello")
                return
            self._hello(message)
            return
        handler = self._handlers().get(type(message))
        if handler is None:
            self._unexpected(message)
        else:
            handler(message, now)

    def _hello(self, hello: m.Hello) -> None:
        if hello.role is self.role:
            self.counters.unexpected += 1
            self._fail(m.ErrorTag.OPERATION_NOT_SUPPORTED, f"both ends are the {self.role.value} plane")
            return
        common = set(self._versions) & set(hello.versions)
        if not common:
            self.counters.version_mismatch += 1
            self._fail(m.ErrorTag.OPERATION_NOT_SUPPORTED,
                       f"no common protocol version (ours {list(self._versions)}, "
                       f"theirs {list(hello.versions)})")
            return
        self.version = max(common)
        self.peer_epoch = hello.epoch
        self.state = SessionState.ESTABLISHED
        self._deadlines.pop("hello", None)
        self._emit(SessionEstablished(self.version, hello.epoch, hello.pid))

    def _expired(self, key: object, now: float) -> None:
        if key == "hello":
            self.counters.timeouts += 1
            self._fail(m.ErrorTag.RESOURCE_DENIED, "no hello from the peer")

    @abc.abstractmethod
    def _handlers(self) -> dict[type, Callable[[Any, float], None]]:
        """The message types this end of the boundary accepts, and their handlers."""


# -- the management plane's end ------------------------------------------------------------


@dataclass
class _Transaction:
    number: int
    phase: Phase
    allowance: float = 0.0  # added to each timeout: its size's share


class ManagementSession(_Session):
    role = m.PlaneRole.MANAGEMENT

    def __init__(self, *, epoch: int, pid: int, now: float,
                 change_timeout: float = CHANGE_TIMEOUT, apply_timeout: float = APPLY_TIMEOUT,
                 rpc_timeout: float = RPC_TIMEOUT, timeout_per_item: float = TIMEOUT_PER_ITEM,
                 part_bytes: int = parts.PART_BYTES, **options: Any) -> None:
        super().__init__(epoch=epoch, pid=pid, now=now, **options)
        self.change_timeout = change_timeout
        self.apply_timeout = apply_timeout
        self.timeout_per_item = timeout_per_item
        self.part_bytes = part_bytes
        self.rpc_timeout = rpc_timeout
        self.transaction: _Transaction | None = None
        self._next_transaction = 1
        self._next_request = 1
        self._rpcs: set[int] = set()

    def _handlers(self) -> dict[type, Callable[[Any, float], None]]:
        return {
            m.ConfigAccepted: self._accepted,
            m.ConfigVetoed: self._vetoed,
            m.ConfigApplied: self._applied,
            m.RpcReply: self._rpc_answer,
            m.RpcError: self._rpc_answer,
            m.StateDeltas: self._state,
            m.Counters: self._state,
            m.Notification: self._state,
            m.ResyncBegin: self._state,
            m.ResyncChunk: self._state,
            m.ResyncEnd: self._state,
        }

    # -- transactions ----------------------------------------------------------------------

    def begin_transaction(self, changes: tuple[m.ConfigChangeEntry, ...], now: float, *,
                          full: bool = False) -> int:
        """Phase one: send the changes; ``TransactionPrepared`` or
        ``TransactionVetoed`` or ``TransactionTimedOut`` follows. Big arrays
        of the values go ahead in ``ConfigChangePart`` frames (``parts.py``);
        the verdict and the apply may take ``timeout_per_item`` longer for
        each item sent in parts."""
        self._check_ready()
        if self.transaction is not None:
            raise TransactionRefused(m.ErrorTag.IN_USE, "a configuration transaction is in progress")
        number = self._next_transaction
        self._next_transaction += 1
        cut, final = parts.split(changes, self.part_bytes)
        allowance = parts.item_count(cut) * self.timeout_per_item
        self.transaction = _Transaction(number, Phase.CHANGE, allowance)
        self._deadlines[("transaction", number)] = now + self.change_timeout + allowance
        for pieces in cut:
            self._send(m.ConfigChangePart(number, pieces))
        self._send(m.ConfigChange(number, full, final))
        return number

    @property
    def transaction_deadline(self) -> float | None:
        """When the open transaction times out (its verdict or its apply,
        with its size's allowance): what a caller that pumps the session
        synchronously waits until. None when no timer runs (none open, or
        prepared and waiting for the caller's done or abort)."""
        if self.transaction is None:
            return None
        return self._deadlines.get(("transaction", self.transaction.number))

    def commit(self, transaction: int, now: float) -> None:
        """Phase two after ``TransactionPrepared``: apply."""
        current = self._current(transaction, Phase.PREPARED)
        current.phase = Phase.DONE
        self._deadlines[("transaction", transaction)] = now + self.apply_timeout + current.allowance
        self._send(m.ConfigDone(transaction))

    def abort(self, transaction: int) -> None:
        """Phase two after ``TransactionPrepared`` (another subscriber vetoed,
        or the datastore failed): forget it."""
        self._current(transaction, Phase.PREPARED)
        self._end_transaction(transaction)
        self._send(m.ConfigAbort(transaction))

    def _current(self, transaction: int, phase: Phase) -> _Transaction:
        current = self.transaction
        if current is None or current.number != transaction or current.phase is not phase:
            raise LocalProtocolError(f"transaction {transaction} is not {phase.value}")
        return current

    def _end_transaction(self, transaction: int) -> None:
        self.transaction = None
        self._deadlines.pop(("transaction", transaction), None)

    def _matching(self, transaction: int, phase: Phase) -> bool:
        current = self.transaction
        if current is not None and current.number == transaction and current.phase is phase:
            return True
        if transaction < self._next_transaction:
            self.counters.late += 1  # an answer to a transaction that timed out
        else:
            self.counters.unexpected += 1
            self._emit(ProtocolViolation("unexpected", f"answer to unknown transaction {transaction}"))
        return False

    def _accepted(self, message: m.ConfigAccepted, now: float) -> None:
        if self._matching(message.transaction, Phase.CHANGE):
            assert self.transaction is not None
            self.transaction.phase = Phase.PREPARED
            # The caller decides at once (the datastore's commit is one call);
            # the control plane's hold timer covers a caller that never does.
            self._deadlines.pop(("transaction", message.transaction), None)
            self._emit(TransactionPrepared(message.transaction))

    def _vetoed(self, message: m.ConfigVetoed, now: float) -> None:
        if self._matching(message.transaction, Phase.CHANGE):
            self._end_transaction(message.transaction)
            self._emit(TransactionVetoed(message.transaction, message))

    def _applied(self, message: m.ConfigApplied, now: float) -> None:
        if self._matching(message.transaction, Phase.DONE):
            self._end_transaction(message.transaction)
            self._emit(TransactionApplied(message.transaction))

    # -- RPCs ----------------------------------------------------------------------------------

    def rpc(self, request: m.RpcRequest, now: float) -> int:
        """Send an RPC (its ``request`` field is replaced by the session's
        next number, returned); ``RpcCompleted``, ``RpcFailed`` or
        ``RpcTimedOut`` follows."""
        self._check_ready()
        if len(self._rpcs) >= MAX_OUTSTANDING_RPCS:
            raise TransactionRefused(m.ErrorTag.RESOURCE_DENIED, "too many RPCs outstanding")
        number = self._next_request
        self._next_request += 1
        self._rpcs.add(number)
        self._deadlines[("rpc", number)] = now + self.rpc_timeout
        self._send(dataclasses.replace(request, request=number))
        return number

    def _rpc_answer(self, message: m.RpcReply | m.RpcError, now: float) -> None:
        number = message.request
        if number not in self._rpcs:
            if number < self._next_request:
                self.counters.late += 1
            else:
                self.counters.unexpected += 1
                self._emit(ProtocolViolation("unexpected", f"answer to unknown RPC {number}"))
            return
        self._rpcs.discard(number)
        self._deadlines.pop(("rpc", number), None)
        if type(message) is m.RpcReply:
            self._emit(RpcCompleted(number, message))
        else:
            self._emit(RpcFailed(number, message))  # type: ignore[arg-type]

    # -- the state stream --------------------------------------------------------------------

    def _state(self, message: m.StateMessage, now: float) -> None:
        self._emit(StateReceived(message))

    def request_resync(self, reason: str) -> None:
        self._check_ready()
        self._send(m.ResyncRequest(reason[:codec.MAX_TEXT]))

    # -- common ------------------------------------------------------------------------------

    def close(self) -> None:
        """The connection is gone: what was in flight is reported lost."""
        if self.state is not SessionState.CLOSED:
            if self.transaction is not None:
                self._emit(TransactionLost(self.transaction.number, self.transaction.phase))
                self.transaction = None
            for number in sorted(self._rpcs):
                self._emit(RpcLost(number))
            self._rpcs.clear()
        super().close()

    def _check_ready(self) -> None:
        if self.state is not SessionState.ESTABLISHED:
            raise TransactionRefused(m.ErrorTag.RESOURCE_DENIED, "the control plane is not connected")

    def _expired(self, key: object, now: float) -> None:
        if isinstance(key, tuple) and key[0] == "transaction":
            number = key[1]
            current = self.transaction
            self.counters.timeouts += 1
            if current is None or current.number != number:
                return
            phase = current.phase
            self._end_transaction(number)
            self._emit(TransactionTimedOut(number, phase))
            if phase is Phase.CHANGE:
                self._send(m.ConfigAbort(number))
            else:  # applied or not: nobody knows; start again from a full configuration
                self._fail(m.ErrorTag.OPERATION_FAILED, f"transaction {number} not applied in time")
        elif isinstance(key, tuple) and key[0] == "rpc":
            self.counters.timeouts += 1
            self._rpcs.discard(key[1])
            self._emit(RpcTimedOut(key[1]))
        else:
            super()._expired(key, now)


# -- the control plane's end ------------------------------------------------------------------


@dataclass
class _Held:
    number: int
    phase: Phase  # CHANGE: the caller has not answered yet; PREPARED: accepted


class ControlSession(_Session):
    role = m.PlaneRole.CONTROL

    def __init__(self, *, epoch: int, pid: int, now: float, hold_timeout: float = HOLD_TIMEOUT,
                 **options: Any) -> None:
        super().__init__(epoch=epoch, pid=pid, now=now, **options)
        self.hold_timeout = hold_timeout
        self.transaction: _Held | None = None
        self._assembly: parts.Assembly | None = None  # the parts of the next ConfigChange
        self._abandoned: set[int] = set()  # bounded: see _abandon
        self._rpcs: set[int] = set()

    def _handlers(self) -> dict[type, Callable[[Any, float], None]]:
        return {
            m.ConfigChange: self._change,
            m.ConfigChangePart: self._part,
            m.ConfigDone: self._done,
            m.ConfigAbort: self._abort,
            m.ClearBinding: self._rpc,
            m.ClearVisitor: self._rpc,
            m.ClearCounters: self._rpc,
            m.InjectClientEvent: self._rpc,
            m.ResyncRequest: self._resync_request,
        }

    # -- transactions ---------------------------------------------------------------------

    @property
    def assembling(self) -> int | None:
        """The transaction whose parts are held, waiting for its ``ConfigChange``."""
        return None if self._assembly is None else self._assembly.transaction

    def _part(self, message: m.ConfigChangePart, now: float) -> None:
        assembly = self._assembly
        if assembly is None or assembly.transaction != message.transaction:
            if assembly is not None:  # its ConfigChange never came: drop it
                self._unexpected(message)
            assembly = self._assembly = parts.Assembly(message.transaction)
        assembly.add(message.pieces)

    def _change(self, message: m.ConfigChange, now: float) -> None:
        assembly, self._assembly = self._assembly, None
        if self.transaction is not None:
            self._send(m.ConfigVetoed(message.transaction, m.ErrorTag.IN_USE,
                                      f"transaction {self.transaction.number} is in progress"))
            return
        changes = message.changes
        if assembly is not None:
            try:
                if assembly.transaction != message.transaction:
                    raise parts.PartsError(f"parts of transaction {assembly.transaction}")
                changes = assembly.finish(changes)
            except parts.PartsError as exc:
                self.counters.bad_field += 1
                self._emit(ProtocolViolation(codec.DecodeFault.BAD_FIELD.value, str(exc)))
                self._send(m.ConfigVetoed(message.transaction, m.ErrorTag.MALFORMED_MESSAGE,
                                          str(exc)[:codec.MAX_TEXT]))
                return
        self.transaction = _Held(message.transaction, Phase.CHANGE)
        self._emit(ConfigChangeRequested(message.transaction, message.full, changes))

    def accept(self, transaction: int, now: float) -> None:
        """The changes are valid and prepared; hold them until done or abort."""
        held = self._held(transaction, Phase.CHANGE)
        held.phase = Phase.PREPARED
        self._deadlines[("hold", transaction)] = now + self.hold_timeout
        self._send(m.ConfigAccepted(transaction))

    def veto(self, transaction: int, tag: m.ErrorTag, message: str, *, path: str | None = None,
             app_tag: str | None = None) -> None:
        self._held(transaction, Phase.CHANGE)
        self.transaction = None
        self._send(m.ConfigVetoed(transaction, tag, message, path, app_tag))

    def applied(self, transaction: int) -> None:
        """After ``ConfigCommitRequested``: the engines run the new settings."""
        self._send(m.ConfigApplied(transaction))

    def _held(self, transaction: int, phase: Phase) -> _Held:
        held = self.transaction
        if held is None or held.number != transaction or held.phase is not phase:
            raise LocalProtocolError(f"transaction {transaction} is not {phase.value}")
        return held

    def _done(self, message: m.ConfigDone, now: float) -> None:
        held = self.transaction
        if held is not None and held.number == message.transaction and held.phase is Phase.PREPARED:
            self.transaction = None
            self._deadlines.pop(("hold", message.transaction), None)
            self._emit(ConfigCommitRequested(message.transaction))
        elif message.transaction in self._abandoned:
            # The management plane committed what we gave up: only a full
            # configuration on a new session makes the two agree again.
            self._fail(m.ErrorTag.OPERATION_FAILED,
                       f"transaction {message.transaction} was abandoned after {self.hold_timeout} s")
        else:
            self._unexpected(message)

    def _abort(self, message: m.ConfigAbort, now: float) -> None:
        held = self.transaction
        if held is not None and held.number == message.transaction:
            self.transaction = None
            self._deadlines.pop(("hold", message.transaction), None)
            self._emit(ConfigAbortRequested(message.transaction))
        else:
            # An abort may cross our veto (mgmtd expects back-ends to take a
            # stray abort gracefully): late, not a violation.
            self.counters.late += 1

    # -- RPCs -------------------------------------------------------------------------------

    def _rpc(self, message: m.RpcRequest, now: float) -> None:
        if message.request in self._rpcs or len(self._rpcs) >= MAX_OUTSTANDING_RPCS:
            self._send(m.RpcError(message.request, m.ErrorTag.RESOURCE_DENIED,
                                  "duplicate request or too many outstanding"))
            return
        self._rpcs.add(message.request)
        self._emit(RpcRequested(message))

    def reply(self, request: int, *, cleared: int | None = None) -> None:
        self._answer(m.RpcReply(request, cleared))

    def fail(self, request: int, tag: m.ErrorTag, message: str, *, path: str | None = None,
             app_tag: str | None = None) -> None:
        self._answer(m.RpcError(request, tag, message, path, app_tag))

    def _answer(self, answer: m.RpcReply | m.RpcError) -> None:
        if answer.request not in self._rpcs:
            raise LocalProtocolError(f"RPC {answer.request} is not outstanding")
        self._rpcs.discard(answer.request)
        self._send(answer)

    # -- the state stream --------------------------------------------------------------------

    def _resync_request(self, message: m.ResyncRequest, now: float) -> None:
        self._emit(ResyncRequested(message.reason))

    def send_state(self, message: m.StateMessage) -> None:
        if self.state is not SessionState.ESTABLISHED:
            raise LocalProtocolError("the session is not established")
        self._send(message)

    def _expired(self, key: object, now: float) -> None:
        if isinstance(key, tuple) and key[0] == "hold":
            number = key[1]
            self.counters.timeouts += 1
            if self.transaction is not None and self.transaction.number == number:
                self.transaction = None
                if len(self._abandoned) >= 64:
                    self._abandoned.clear()
                self._abandoned.add(number)
                self._emit(TransactionAbandoned(number))
        else:
            super()._expired(key, now)
