"""The shape of each control-channel request (``agent.aio.control``): which
members an op takes, of which JSON type, which are required. A request is
checked against its row before the handler (``Runtime.handle_control``) reads
any of it, so a wrong shape is one clear ``{"error": ...}`` answer, never an
exception inside the handler (issue 13: ``{"op":"edit-config","edits":[1]}``
raised AttributeError and dropped the connection).

Strict, as every parser here is: an unknown op or member is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.aio.control import ControlError


@dataclass(frozen=True)
class Member:
    """One member of a request object: its JSON type(s), required or not, and
    for an array the shape of each item (an object of ``Member``s)."""

    types: tuple[type, ...]
    required: bool = False
    items: dict[str, Member] | None = None


_STRING = (str,)
_BOOLEAN = (bool,)
_ARRAY = (list,)
#: Any JSON value (an edit's value is checked by the datastore against YANG).
_ANY = (object,)

_CLIENT = {
    "mac": Member(_STRING, required=True),
    "address": Member(_STRING + (type(None),)),
    "interface": Member(_STRING + (type(None),)),
}
_EDIT = {
    "operation": Member(_STRING),
    "path": Member(_STRING, required=True),
    "value": Member(_ANY),
}

#: op -> its members ("op" itself aside).
REQUESTS: dict[str, dict[str, Member]] = {
    "associate": _CLIENT,
    "associate-many": {"clients": Member(_ARRAY, required=True, items=_CLIENT)},
    "address": {"mac": Member(_STRING, required=True), "address": Member(_STRING, required=True)},
    "disassociate": {"mac": Member(_STRING, required=True)},
    "state": {"rows": Member(_BOOLEAN)},
    "counters": {},
    "get-config": {"source": Member(_STRING), "with-defaults": Member(_BOOLEAN)},
    "edit-config": {"target": Member(_STRING), "edits": Member(_ARRAY, required=True, items=_EDIT)},
    "copy-config": {"source": Member(_STRING, required=True), "target": Member(_STRING, required=True)},
    "commit": {},
    "discard-changes": {},
    "clear-counters": {},
}

_JSON_NAMES = {str: "a string", bool: "true or false", list: "an array", dict: "an object", object: "a value"}


def check_request(request: dict[str, Any]) -> None:
    """Raise ControlError naming the first member of ``request`` that does
    not fit its op's row in REQUESTS."""
    op = request.get("op")
    members = REQUESTS.get(op) if isinstance(op, str) else None
    if members is None:
        raise ControlError(f"unknown op {op!r}")
    _check_object(request, members, where="", skip=("op",))


def _check_object(given: dict[str, Any], members: dict[str, Member], *, where: str,
                  skip: tuple[str, ...] = ()) -> None:
    for name in given:
        if name not in members and name not in skip:
            raise ControlError(f"{where}{name!r}: not a member of this request")
    for name, member in members.items():
        label = f"{where}{name!r}"
        if name not in given:
            if member.required:
                raise ControlError(f"{label}: missing")
            continue
        value = given[name]
        # JSON true/false are Python bools, which are ints too: no int member
        # takes a bool, and no bool member takes an int.
        if not isinstance(value, member.types) or (isinstance(value, bool) and bool not in member.types
                                                   and object not in member.types):
            wanted = " or ".join(_JSON_NAMES.get(t, "null") for t in member.types)
            raise ControlError(f"{label}: must be {wanted}")
        if member.items is not None and isinstance(value, list):
            items: list[Any] = value
            for index, item in enumerate(items):
                if not isinstance(item, dict):
                    raise ControlError(f"{label}[{index}]: must be an object")
                _check_object(item, member.items, where=f"{label}[{index}].")
