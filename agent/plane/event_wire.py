"""The engines' notifying events on the state stream, each declared once here.

The control plane does not render YANG notifications (RFC 7951 bodies, four
addresses formatted as text each) on the engines' loop: a
``binding-created`` body cost more than the registration that caused it.
It sends the event's facts instead (addresses as 32-bit integers, enums as
their values), in the ``StateDeltas`` message of its loop turn, after that
turn's deltas; the management plane rebuilds the event and renders it with
``agent/notifications.py``, the same function the single-process agent uses,
so the bodies are the same by construction. Rows carry facts for the same
reason (``tables.py``).

On the wire one event is ``[number, role, event-time, [field, ...]]``.
Strict: an unknown number or role, a field of the wrong type or range, or the
wrong count of fields is a decode error.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from ipaddress import IPv4Address
from operator import attrgetter
from typing import Any

from agent.mobileip import events as ev

#: The roles an event comes from (``registration-denied`` names it).
ROLES = ("home-agent", "foreign-agent", "proxy")
ROLE_NUMBERS = {role: number for number, role in enumerate(ROLES, 1)}
MAX_TEXT = 1024


class EventWireError(ValueError):
    """An event on the wire does not match its declaration."""


class FieldKind(enum.Enum):
    ADDRESS = "address"  # IPv4 address as an unsigned 32-bit integer
    UINT = "uint"  # unsigned, at most 64 bits
    TEXT = "text"
    BOOLEAN = "boolean"
    ENUM = "enum"  # the enum's value


@dataclass(frozen=True)
class EventField:
    name: str
    kind: FieldKind
    optional: bool = False
    enum: type[enum.Enum] | None = None


A, U, X, B = FieldKind.ADDRESS, FieldKind.UINT, FieldKind.TEXT, FieldKind.BOOLEAN


def _enum(name: str, kind: type[enum.Enum]) -> EventField:
    return EventField(name, FieldKind.ENUM, enum=kind)


@dataclass(frozen=True)
class EventSpec:
    number: int
    event: type
    fields: tuple[EventField, ...]

    def __post_init__(self) -> None:
        names = tuple(f.name for f in fields(self.event))
        if names != tuple(f.name for f in self.fields):
            raise ValueError(f"{self.event.__name__}: the wire fields are the event's, in order")
        if any(f.optional and f.kind in (FieldKind.ADDRESS, FieldKind.ENUM) for f in self.fields):
            object.__setattr__(self, "facts", self._generic_facts)
        else:
            # One C call for the whole tuple (``home_address._ip`` and the like).
            paths = [f.name + "._ip" if f.kind is FieldKind.ADDRESS
                     else f.name + ".value" if f.kind is FieldKind.ENUM else f.name
                     for f in self.fields]
            object.__setattr__(self, "facts", attrgetter(*paths))

    #: The event's wire fields (set by ``__post_init__``).
    facts: Callable[[Any], tuple[Any, ...]] = field(init=False, repr=False, compare=False)

    def _generic_facts(self, event: Any) -> tuple[Any, ...]:
        out = []
        for f in self.fields:
            value = getattr(event, f.name)
            if value is not None and f.kind is FieldKind.ADDRESS:
                value = value._ip
            elif value is not None and f.kind is FieldKind.ENUM:
                value = value.value
            out.append(value)
        return tuple(out)

    def event_of(self, values: Any) -> Any:
        """The event from its wire fields, or ``EventWireError``."""
        if type(values) is not tuple or len(values) != len(self.fields):
            raise EventWireError(f"{self.event.__name__}: {len(self.fields)} fields")
        return self.event(*(_field(f, v) for f, v in zip(self.fields, values)))


def _field(spec: EventField, value: Any) -> Any:
    if value is None:
        if spec.optional:
            return None
        raise EventWireError(f"{spec.name}: missing")
    kind = spec.kind
    if kind is FieldKind.ADDRESS:
        if type(value) is int and 0 <= value <= 0xFFFFFFFF:
            return IPv4Address(value)
    elif kind is FieldKind.UINT:
        if type(value) is int and 0 <= value <= 0xFFFFFFFFFFFFFFFF:
            return value
    elif kind is FieldKind.TEXT:
        if type(value) is str and len(value) <= MAX_TEXT:
            return value
    elif kind is FieldKind.BOOLEAN:
        if type(value) is bool:
            return value
    else:
        assert spec.enum is not None
        if type(value) in (int, str):
            try:
                return spec.enum(value)
            except ValueError:
                pass
    raise EventWireError(f"bad {spec.name}")


#: The events that have a YANG notification (``agent/notifications.py``).
#: A new one is a new protocol version.
EVENTS: dict[int, EventSpec] = {s.number: s for s in (
    EventSpec(1, ev.BindingCreated, (
        EventField("home_address", A), EventField("care_of_address", A),
        EventField("lifetime", U), EventField("source", A))),
    EventSpec(2, ev.BindingDeleted, (
        EventField("home_address", A), EventField("care_of_address", A),
        _enum("reason", ev.RemovalReason))),
    EventSpec(3, ev.RegistrationDenied, (
        EventField("home_address", A), EventField("home_agent", A), EventField("code", U),
        EventField("source", A))),
    EventSpec(4, ev.AuthenticationFailed, (
        EventField("peer", A), EventField("spi", U, optional=True),
        _enum("reason", ev.ViolationReason), EventField("mac", X, optional=True),
        EventField("home_address", A, optional=True))),
    EventSpec(5, ev.VisitorAdded, (
        EventField("home_address", A), EventField("home_agent", A),
        EventField("care_of_address", A), EventField("lifetime", U))),
    EventSpec(6, ev.VisitorRemoved, (
        EventField("home_address", A), EventField("home_agent", A),
        _enum("reason", ev.RemovalReason))),
    EventSpec(7, ev.ClientRegistered, (
        EventField("mac", X), EventField("home_address", A), EventField("home_agent", A),
        EventField("care_of_address", A), EventField("lifetime", U))),
    EventSpec(8, ev.ClientRegistrationDenied, (
        EventField("mac", X), EventField("home_address", A), EventField("code", U),
        EventField("binding_lost", B))),
    EventSpec(9, ev.ClientRegistrationFailed, (
        EventField("mac", X), EventField("home_address", A), EventField("reason", X),
        EventField("binding_lost", B))),
    EventSpec(10, ev.ClientDeregistered, (EventField("mac", X), EventField("home_address", A))),
)}
SPECS_BY_EVENT: dict[type, EventSpec] = {s.event: s for s in EVENTS.values()}


def notifies(event: object) -> bool:
    """True for an event that has a YANG notification (sent on the stream)."""
    return type(event) in SPECS_BY_EVENT


def to_wire(role: str, event_time: float, event: Any) -> tuple[Any, ...]:
    spec = SPECS_BY_EVENT[type(event)]
    return (spec.number, ROLE_NUMBERS[role], event_time, spec.facts(event))


def from_wire(item: Any) -> tuple[str, float, Any]:
    """(role, event time, event) from one wire item, or ``EventWireError``."""
    if type(item) is not tuple or len(item) != 4:
        raise EventWireError("an event of 4 fields")
    number, role, event_time, values = item
    spec = EVENTS.get(number) if type(number) is int else None
    if spec is None:
        raise EventWireError(f"event number {number!r}")
    if type(role) is not int or not 1 <= role <= len(ROLES):
        raise EventWireError(f"role {role!r}")
    if type(event_time) is int:
        event_time = float(event_time)
    elif type(event_time) is not float:
        raise EventWireError("an event time")
    return ROLES[role - 1], event_time, spec.event_of(values)
