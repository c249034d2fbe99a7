"""Frames and messages of the plane boundary: pure functions, strict.

A frame is a 4-byte big-endian length followed by that many bytes of one
msgpack array ``[type, field, ...]`` (fields in the dataclass's order, enums
as their values, rows as arrays). The length comes first so that a frame over
the bound is refused from its header, before any of it is held, and so that a
frame whose body is bad can be counted and skipped without losing the stream.

Decoding is strict: nothing trailing, no msgpack extension types, UTF-8
strings, every field of the right type and range (``DecodeError`` says which
fault, and the request it answered when that could be read).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

import msgpack  # type: ignore[import-untyped]

from agent.plane import event_wire
from agent.plane import messages as m
from agent.plane.tables import TABLES, RowError, TableId

HEADER = struct.Struct("!I")
#: The default largest frame. A configuration transaction is never near it:
#: its big arrays travel in parts of ~64 KiB (``parts.py``).
MAX_FRAME = 16 << 20
MAX_TEXT = 1024  # messages, paths, names
MAX_ITEMS = 1 << 20  # entries of one list or map
MAX_DEPTH = 32  # nesting of a JSON value (configuration, notification bodies)
U64 = (1 << 64) - 1


class DecodeFault(enum.Enum):
    MALFORMED = "malformed"  # not one msgpack array, trailing bytes, extension types
    UNKNOWN_TYPE = "unknown-type"
    BAD_FIELD = "bad-field"


class DecodeError(ValueError):
    """One frame could not be decoded; the stream itself is still in step."""

    def __init__(self, fault: DecodeFault, detail: str, *, message_type: int | None = None,
                 request: int | None = None) -> None:
        super().__init__(f"{fault.value}: {detail}")
        self.fault = fault
        self.message_type = message_type
        self.request = request


class FrameTooLarge(ValueError):
    """A header announced more than the bound: the stream cannot be trusted."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"frame of {length} bytes over the limit of {limit}")
        self.length = length
        self.limit = limit


class FrameReader:
    """Cuts a byte stream into frame bodies. Holds at most one frame."""

    def __init__(self, *, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """The complete frame bodies in ``data`` and what came before it.
        Raises ``FrameTooLarge`` (the caller closes the connection)."""
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        start = 0
        size = len(buffer)
        while size - start >= 4:
            (length,) = HEADER.unpack_from(buffer, start)
            if length > self.max_frame:
                raise FrameTooLarge(length, self.max_frame)
            end = start + 4 + length
            if end > size:
                break
            out.append(bytes(buffer[start + 4:end]))
            start = end
        if start:
            del buffer[:start]
        return out


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


# -- field checks (decoding) -----------------------------------------------------------


class _Bad(Exception):
    pass


def _u64(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= U64:
        raise _Bad("an unsigned 64-bit integer")
    return value


def _u32(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= 0xFFFFFFFF:
        raise _Bad("an unsigned 32-bit integer")
    return value


def _boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise _Bad("a boolean")
    return value


def _number(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise _Bad("a number")


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    if type(value) is not str or len(value) > limit:
        raise _Bad(f"a string of at most {limit} characters")
    return value


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def optional(value: Any) -> Any:
        return None if value is None else check(value)
    return optional


def _enum(kind: type[enum.Enum]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if type(value) not in (int, str):
            raise _Bad(f"a {kind.__name__}")
        try:
            return kind(value)
        except ValueError:
            raise _Bad(f"a {kind.__name__}") from None
    return check


def _array(value: Any, limit: int = MAX_ITEMS) -> tuple[Any, ...]:
    if type(value) is not tuple or len(value) > limit:
        raise _Bad(f"an array of at most {limit} items")
    return value


def _json(value: Any, depth: int = 0) -> Any:
    """An RFC 7951 JSON value (arrays come back as lists)."""
    if depth > MAX_DEPTH:
        raise _Bad("a value nested too deep")
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if kind is tuple:
        return [_json(item, depth + 1) for item in _array(value)]
    if kind is dict:
        if len(value) > MAX_ITEMS:
            raise _Bad("a map too large")
        return {_text(k): _json(v, depth + 1) for k, v in value.items()}
    raise _Bad("a JSON value")


def _json_object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Bad("a map")
    result: dict[str, Any] = _json(value)
    return result


def _counter_groups(value: Any) -> dict[str, dict[str, int]]:
    if type(value) is not dict or len(value) > 64:
        raise _Bad("a map of counter groups")
    groups: dict[str, dict[str, int]] = {}
    for group, counters in value.items():
        if type(counters) is not dict or len(counters) > 4096:
            raise _Bad("a map of counters")
        groups[_text(group, 64)] = {_text(name, 128): _u64(count) for name, count in counters.items()}
    return groups


def _change_entries(value: Any) -> tuple[m.ConfigChangeEntry, ...]:
    entries = []
    for item in _array(value):
        item = _array(item, 4)
        if len(item) != 4:
            raise _Bad("a change of 4 fields")
        entries.append(m.ConfigChangeEntry(_enum(m.ChangeKind)(item[0]), _text(item[1], 4096),
                                           _json(item[2]), _json(item[3])))
    return tuple(entries)


def _pieces(value: Any) -> tuple[m.ConfigPiece, ...]:
    pieces = []
    for item in _array(value):
        item = _array(item, 3)
        if len(item) != 3:
            raise _Bad("a piece of 3 fields")
        location = tuple(_text(name, 256) for name in _array(item[1], MAX_DEPTH))
        pieces.append(m.ConfigPiece(_u32(item[0]), location,
                                    tuple(_json(entry, 1) for entry in _array(item[2]))))
    return tuple(pieces)


def _table(value: Any) -> TableId:
    table: TableId = _enum(TableId)(value)
    return table


_KINDS = {kind.value: kind for kind in m.ChangeKind}


def _deltas(value: Any) -> tuple[m.Delta, ...]:
    out: list[m.Delta] = []
    append = out.append
    tables: dict[Any, Any] = TABLES  # looked up by the wire's integer
    kinds = _KINDS
    deleted = m.ChangeKind.DELETED
    delta = m.Delta
    for item in _array(value):
        if type(item) is not tuple or len(item) != 4:
            raise _Bad("a delta of 4 fields")
        table_id, kind, key, row = item
        table = tables.get(table_id) if type(table_id) is int else None
        change = kinds.get(kind) if type(kind) is int else None
        if table is None or change is None:
            raise _Bad("a table and a change kind")
        try:
            if change is deleted:
                if row is not None:
                    raise _Bad("no row for a deletion")
                key = table.check_key(key)
            else:
                row = table.check_row(row)
                # The key is the row's own (so it is checked with the row).
                if type(key) is not tuple or table.key_of(row) != key:
                    raise _Bad("a row whose key is the delta's")
        except RowError as exc:
            raise _Bad(str(exc)) from None
        append(delta(table.id, change, key, row))
    return tuple(out)


def _events(value: Any) -> tuple[m.EngineEvent, ...]:
    out = []
    for item in _array(value):
        try:
            role, event_time, event = event_wire.from_wire(item)
        except event_wire.EventWireError as exc:
            raise _Bad(str(exc)) from None
        out.append((role, event_time, event))
    return tuple(out)


def _row_counts(value: Any) -> dict[TableId, int]:
    if type(value) is not dict or len(value) > len(TABLES):
        raise _Bad("a map of row counts")
    return {_table(table): _u64(count) for table, count in value.items()}


# -- the message table ------------------------------------------------------------------

#: (the class, one check per field in order). Chunks are checked apart (rows
#: depend on the table field).
_SPECS: dict[m.MessageType, tuple[type, tuple[Callable[[Any], Any], ...]]] = {
    m.MessageType.HELLO: (m.Hello, (
        lambda v: tuple(_u32(x) for x in _array(v, 16)), _enum(m.PlaneRole), _u64, _u32)),
    m.MessageType.SESSION_ERROR: (m.SessionError, (_enum(m.ErrorTag), _text)),
    m.MessageType.CONFIG_CHANGE: (m.ConfigChange, (_u64, _boolean, _change_entries)),
    m.MessageType.CONFIG_CHANGE_PART: (m.ConfigChangePart, (_u64, _pieces)),
    m.MessageType.CONFIG_ACCEPTED: (m.ConfigAccepted, (_u64,)),
    m.MessageType.CONFIG_VETOED: (m.ConfigVetoed, (
        _u64, _enum(m.ErrorTag), _text, _optional(_text), _optional(_text))),
    m.MessageType.CONFIG_DONE: (m.ConfigDone, (_u64,)),
    m.MessageType.CONFIG_ABORT: (m.ConfigAbort, (_u64,)),
    m.MessageType.CONFIG_APPLIED: (m.ConfigApplied, (_u64,)),
    m.MessageType.CLEAR_BINDING: (m.ClearBinding, (_u64, _optional(_u32))),
    m.MessageType.CLEAR_VISITOR: (m.ClearVisitor, (
        _u64, _optional(_u32), _optional(lambda v: _text(v, 64)))),
    m.MessageType.CLEAR_COUNTERS: (m.ClearCounters, (_u64, _enum(m.CounterScope))),
    m.MessageType.INJECT_CLIENT_EVENT: (m.InjectClientEvent, (
        _u64, _enum(m.ClientEventKind), lambda v: _text(v, 64), _optional(_u32),
        _optional(lambda v: _text(v, 64)))),
    m.MessageType.RPC_REPLY: (m.RpcReply, (_u64, _optional(_u64))),
    m.MessageType.RPC_ERROR: (m.RpcError, (
        _u64, _enum(m.ErrorTag), _text, _optional(_text), _optional(_text))),
    m.MessageType.STATE_DELTAS: (m.StateDeltas, (_u64, _u64, _deltas, _events)),
    m.MessageType.COUNTERS: (m.Counters, (_u64, _u64, _number, _counter_groups)),
    m.MessageType.NOTIFICATION: (m.Notification, (
        _u64, _u64, lambda v: _text(v, 128), _number, _json_object)),
    m.MessageType.RESYNC_BEGIN: (m.ResyncBegin, (_u64, _u64, _u64)),
    m.MessageType.RESYNC_END: (m.ResyncEnd, (_u64, _u64, _u64, _row_counts)),
    m.MessageType.RESYNC_REQUEST: (m.ResyncRequest, (_text,)),
}
_REQUEST_FIRST = {m.MessageType.CLEAR_BINDING, m.MessageType.CLEAR_VISITOR,
                  m.MessageType.CLEAR_COUNTERS, m.MessageType.INJECT_CLIENT_EVENT}


def _decode_chunk(body: tuple[Any, ...]) -> m.ResyncChunk:
    if len(body) != 5:
        raise _Bad("5 fields")
    epoch, sequence, resync = _u64(body[0]), _u64(body[1]), _u64(body[2])
    table = TABLES[_table(body[3])]
    try:
        rows = tuple(table.check_row(row) for row in _array(body[4]))
    except RowError as exc:
        raise _Bad(str(exc)) from None
    return m.ResyncChunk(epoch, sequence, resync, table.id, rows)


def decode(body: bytes) -> m.Message:
    """One frame body to its message, or ``DecodeError``."""
    try:
        value = msgpack.unpackb(body, raw=False, use_list=False, strict_map_key=False,
                                ext_hook=_no_extensions, timestamp=0)
    except DecodeError:
        raise
    except Exception as exc:  # msgpack raises several types (ExtraData, ValueError, ...)
        raise DecodeError(DecodeFault.MALFORMED, type(exc).__name__) from None
    if type(value) is not tuple or not value or type(value[0]) is not int:
        raise DecodeError(DecodeFault.MALFORMED, "not an array led by a message type")
    number = value[0]
    try:
        message_type = m.MessageType(number)
    except ValueError:
        raise DecodeError(DecodeFault.UNKNOWN_TYPE, f"message type {number}",
                          message_type=number) from None
    request = value[1] if message_type in _REQUEST_FIRST and len(value) > 1 and \
        type(value[1]) is int else None
    try:
        if message_type is m.MessageType.RESYNC_CHUNK:
            return _decode_chunk(value[1:])
        cls, checks = _SPECS[message_type]
        if len(value) - 1 != len(checks):
            raise _Bad(f"{len(checks)} fields")
        result: m.Message = cls(*(check(field) for check, field in zip(checks, value[1:])))
        return result
    except _Bad as exc:
        raise DecodeError(DecodeFault.BAD_FIELD, f"{message_type.name}: {exc}",
                          message_type=number, request=request) from None


def _no_extensions(code: int, data: bytes) -> Any:
    raise DecodeError(DecodeFault.MALFORMED, f"msgpack extension type {code}")


# -- encoding ----------------------------------------------------------------------------


def _wire(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, m.ConfigChangeEntry):
        return (value.kind.value, value.path, value.value, value.old)
    if isinstance(value, m.ConfigPiece):
        return (value.entry, value.location, value.items)
    if isinstance(value, Mapping):  # row counts by TableId; JSON bodies; counter groups
        return {(k.value if isinstance(k, enum.Enum) else k): v for k, v in value.items()}
    if isinstance(value, tuple) and value and isinstance(value[0], (m.ConfigChangeEntry, m.ConfigPiece)):
        return tuple(_wire(entry) for entry in value)
    return value


#: One packer, reused (msgpack's C packer; it resets after each ``pack``).
_PACKER = msgpack.Packer()
_STATE_DELTAS = m.MessageType.STATE_DELTAS.value


def encode_body(message: m.Message) -> bytes:
    """The msgpack body of one message (no length prefix)."""
    packed: bytes
    if type(message) is m.StateDeltas:  # the hot path: no per-field dispatch
        # A delta is a tuple and its table and kind are IntEnums: msgpack
        # packs it as the array [table, kind, key, row] as it is.
        to_wire = event_wire.to_wire
        packed = _PACKER.pack((_STATE_DELTAS, message.epoch, message.sequence, message.deltas,
                               [to_wire(*e) for e in message.events]))
    elif type(message) is m.ResyncChunk:
        packed = _PACKER.pack((m.MessageType.RESYNC_CHUNK.value, message.epoch, message.sequence,
                               message.resync, message.table.value, message.rows))
    else:
        values = [message.TYPE.value]
        values += [_wire(getattr(message, f.name)) for f in fields(message)]
        packed = msgpack.packb(values)
    return packed


def encode(message: m.Message) -> bytes:
    """One framed message, ready for the socket."""
    return frame(encode_body(message))
