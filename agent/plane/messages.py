"""The messages of the plane boundary, protocol v1 (``docs/architecture.md``,
"The plane boundary"). One frozen dataclass per message; the wire number of
each is its ``TYPE``. Which side may send which message, and in which state,
is the sessions' business (``session.py``); what a valid field is, the
codec's (``codec.py``).

Error tags are RFC 6241 Appendix A's, so a veto or an RPC error becomes an
``<rpc-error>`` (or an SNMP error-status) without any string parsing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from agent.plane.tables import TableId

#: The protocol versions this code speaks, newest last.
SUPPORTED_VERSIONS = (1,)


class MessageType(enum.IntEnum):
    # session
    HELLO = 1
    SESSION_ERROR = 2
    # configuration transactions (sysrepo's change -> done | abort)
    CONFIG_CHANGE = 10
    CONFIG_ACCEPTED = 11
    CONFIG_VETOED = 12
    CONFIG_DONE = 13
    CONFIG_ABORT = 14
    CONFIG_APPLIED = 15
    CONFIG_CHANGE_PART = 16
    # RPCs (the module's clear-* and inject-client-event)
    CLEAR_BINDING = 20
    CLEAR_VISITOR = 21
    CLEAR_COUNTERS = 22
    INJECT_CLIENT_EVENT = 23
    RPC_REPLY = 28
    RPC_ERROR = 29
    # state stream (control -> management), and the mirror's one request
    STATE_DELTAS = 30
    COUNTERS = 31
    NOTIFICATION = 32
    RESYNC_BEGIN = 33
    RESYNC_CHUNK = 34
    RESYNC_END = 35
    RESYNC_REQUEST = 36


class PlaneRole(enum.Enum):
    MANAGEMENT = "management"
    CONTROL = "control"


class ErrorTag(enum.Enum):
    """RFC 6241 Appendix A error-tag, every value."""

    IN_USE = "in-use"
    INVALID_VALUE = "invalid-value"
    TOO_BIG = "too-big"
    MISSING_ATTRIBUTE = "missing-attribute"
    BAD_ATTRIBUTE = "bad-attribute"
    UNKNOWN_ATTRIBUTE = "unknown-attribute"
    MISSING_ELEMENT = "missing-element"
    BAD_ELEMENT = "bad-element"
    UNKNOWN_ELEMENT = "unknown-element"
    UNKNOWN_NAMESPACE = "unknown-namespace"
    ACCESS_DENIED = "access-denied"
    LOCK_DENIED = "lock-denied"
    RESOURCE_DENIED = "resource-denied"
    ROLLBACK_FAILED = "rollback-failed"
    DATA_EXISTS = "data-exists"
    DATA_MISSING = "data-missing"
    OPERATION_NOT_SUPPORTED = "operation-not-supported"
    OPERATION_FAILED = "operation-failed"
    PARTIAL_OPERATION = "partial-operation"
    MALFORMED_MESSAGE = "malformed-message"


class ChangeKind(enum.IntEnum):
    """A configuration change (the datastore's ``Change``) or a state delta."""

    CREATED = 1
    MODIFIED = 2
    DELETED = 3


class CounterScope(enum.Enum):
    """The ``role`` input of the clear-counters RPC."""

    ALL = "all"
    HOME_AGENT = "home-agent"
    FOREIGN_AGENT = "foreign-agent"
    PROXY = "proxy"


class ClientEventKind(enum.Enum):
    """The ``event`` input of inject-client-event."""

    ASSOCIATED = "associated"
    ADDRESS_LEARNED = "address-learned"
    DISASSOCIATED = "disassociated"


# -- session ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """Both ends send one first. ``epoch`` names the sender's process
    incarnation (the control plane's stream epoch); each side uses the highest
    version both list."""

    TYPE: ClassVar[MessageType] = MessageType.HELLO
    versions: tuple[int, ...]
    role: PlaneRole
    epoch: int
    pid: int


@dataclass(frozen=True, slots=True)
class SessionError:
    """Sent before closing: no common version, or a fatal protocol violation."""

    TYPE: ClassVar[MessageType] = MessageType.SESSION_ERROR
    tag: ErrorTag
    message: str


# -- configuration transactions ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigChangeEntry:
    """One changed node of the running configuration: its instance-identifier
    path and its RFC 7951 JSON value (``None`` when deleted; ``old`` when
    modified or deleted)."""

    kind: ChangeKind
    path: str
    value: Any = None
    old: Any = None


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """Phase one: validate and prepare, do not apply. ``full`` means the entries
    are the whole configuration (the first transaction after a hello)."""

    TYPE: ClassVar[MessageType] = MessageType.CONFIG_CHANGE
    transaction: int
    full: bool
    changes: tuple[ConfigChangeEntry, ...]


@dataclass(frozen=True, slots=True)
class ConfigPiece:
    """Some items of one JSON array of a ``ConfigChange`` entry's value, sent
    ahead in a ``ConfigChangePart``: ``entry`` is the entry's index in the
    ``ConfigChange``, ``location`` the member names from its value down to
    the array (which the ``ConfigChange`` then leaves out), ``items`` the
    next items in order (``parts.py``)."""

    entry: int
    location: tuple[str, ...]
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ConfigChangePart:
    """Phase one of a transaction too big for one frame: pieces of its
    entries, before the ``ConfigChange`` of the same transaction that ends it."""

    TYPE: ClassVar[MessageType] = MessageType.CONFIG_CHANGE_PART
    transaction: int
    pieces: tuple[ConfigPiece, ...]


@dataclass(frozen=True, slots=True)
class ConfigAccepted:
    TYPE: ClassVar[MessageType] = MessageType.CONFIG_ACCEPTED
    transaction: int


@dataclass(frozen=True, slots=True)
class ConfigVetoed:
    TYPE: ClassVar[MessageType] = MessageType.CONFIG_VETOED
    transaction: int
    tag: ErrorTag
    message: str
    path: str | None = None
    app_tag: str | None = None


@dataclass(frozen=True, slots=True)
class ConfigDone:
    """Phase two: apply what was prepared."""

    TYPE: ClassVar[MessageType] = MessageType.CONFIG_DONE
    transaction: int


@dataclass(frozen=True, slots=True)
class ConfigAbort:
    """Phase two: forget what was prepared."""

    TYPE: ClassVar[MessageType] = MessageType.CONFIG_ABORT
    transaction: int


@dataclass(frozen=True, slots=True)
class ConfigApplied:
    TYPE: ClassVar[MessageType] = MessageType.CONFIG_APPLIED
    transaction: int


# -- RPCs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClearBinding:
    """Cisco ``clear ip mobile binding [address]``: one node or all (``None``)."""

    TYPE: ClassVar[MessageType] = MessageType.CLEAR_BINDING
    request: int
    home_address: int | None


@dataclass(frozen=True, slots=True)
class ClearVisitor:
    """An FA visitor by home address, or a proxy client by MAC (exactly one)."""

    TYPE: ClassVar[MessageType] = MessageType.CLEAR_VISITOR
    request: int
    home_address: int | None
    mac: str | None


@dataclass(frozen=True, slots=True)
class ClearCounters:
    TYPE: ClassVar[MessageType] = MessageType.CLEAR_COUNTERS
    request: int
    scope: CounterScope


@dataclass(frozen=True, slots=True)
class InjectClientEvent:
    TYPE: ClassVar[MessageType] = MessageType.INJECT_CLIENT_EVENT
    request: int
    event: ClientEventKind
    mac: str
    address: int | None = None
    interface: str | None = None


@dataclass(frozen=True, slots=True)
class RpcReply:
    """``cleared`` for clear-binding and clear-visitor, ``None`` otherwise."""

    TYPE: ClassVar[MessageType] = MessageType.RPC_REPLY
    request: int
    cleared: int | None = None


@dataclass(frozen=True, slots=True)
class RpcError:
    TYPE: ClassVar[MessageType] = MessageType.RPC_ERROR
    request: int
    tag: ErrorTag
    message: str
    path: str | None = None
    app_tag: str | None = None


# -- the state stream ------------------------------------------------------------------


class Delta(NamedTuple):
    """One row created, modified (the whole new row) or deleted (``row`` None).
    A named tuple rather than a frozen dataclass: the decoder builds 100,000s
    of them a second and a tuple's constructor is several times cheaper."""

    table: TableId
    kind: ChangeKind
    key: tuple[Any, ...]
    row: tuple[Any, ...] | None


@dataclass(frozen=True, slots=True)
class StateDeltas:
    """Every state message carries the stream's ``epoch`` and the next
    ``sequence`` (one per message, no gaps within an epoch)."""

    TYPE: ClassVar[MessageType] = MessageType.STATE_DELTAS
    epoch: int
    sequence: int
    #: ``Delta``s as decoded; the producer sends plain 4-tuples in the same
    #: order (a named tuple's constructor is Python code, on the hot path).
    deltas: tuple[DeltaTuple, ...]
    #: The loop turn's notifying engine events, in order, after its deltas
    #: (the mirror applies the deltas first, so a notification never
    #: overtakes the row it describes); rendered by the management plane.
    events: tuple[EngineEvent, ...] = ()


DeltaTuple = tuple[TableId, ChangeKind, tuple[Any, ...], tuple[Any, ...] | None]
#: A notifying engine event (``event_wire.py`` declares which): the role
#: (``home-agent``, ``foreign-agent``, ``proxy``), the time (POSIX seconds),
#: the event.
EngineEvent = tuple[str, float, Any]


@dataclass(frozen=True, slots=True)
class Counters:
    """Every counter of every group (``home-agent``, ``foreign-agent``,
    ``proxy``, ``data-plane``, ...) as the control plane read it at
    ``taken_at`` (its clock, POSIX seconds)."""

    TYPE: ClassVar[MessageType] = MessageType.COUNTERS
    epoch: int
    sequence: int
    taken_at: float
    groups: Mapping[str, Mapping[str, int]]


@dataclass(frozen=True, slots=True)
class Notification:
    """A YANG notification of the module: its name and RFC 7951 JSON body."""

    TYPE: ClassVar[MessageType] = MessageType.NOTIFICATION
    epoch: int
    sequence: int
    name: str
    event_time: float
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ResyncBegin:
    TYPE: ClassVar[MessageType] = MessageType.RESYNC_BEGIN
    epoch: int
    sequence: int
    resync: int


@dataclass(frozen=True, slots=True)
class ResyncChunk:
    TYPE: ClassVar[MessageType] = MessageType.RESYNC_CHUNK
    epoch: int
    sequence: int
    resync: int
    table: TableId
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, slots=True)
class ResyncEnd:
    """The snapshot is complete: with the deltas sent since ``ResyncBegin``
    the receiver holds, per table, exactly ``row_counts`` rows."""

    TYPE: ClassVar[MessageType] = MessageType.RESYNC_END
    epoch: int
    sequence: int
    resync: int
    row_counts: Mapping[TableId, int]


@dataclass(frozen=True, slots=True)
class ResyncRequest:
    """The mirror lost the thread (a gap, an unknown epoch): send everything."""

    TYPE: ClassVar[MessageType] = MessageType.RESYNC_REQUEST
    reason: str


Message = (Hello | SessionError | ConfigChange | ConfigChangePart | ConfigAccepted | ConfigVetoed | ConfigDone
           | ConfigAbort | ConfigApplied | ClearBinding | ClearVisitor | ClearCounters
           | InjectClientEvent | RpcReply | RpcError | StateDeltas | Counters | Notification
           | ResyncBegin | ResyncChunk | ResyncEnd | ResyncRequest)
RpcRequest = ClearBinding | ClearVisitor | ClearCounters | InjectClientEvent
StateMessage = StateDeltas | Counters | Notification | ResyncBegin | ResyncChunk | ResyncEnd
