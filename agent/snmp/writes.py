"""SetRequest processing (RFC 3416 §4.2.5): every varbind of a PDU is checked in
the RFC's order (noAccess, notWritable / noCreation, wrongType, wrongLength,
wrongValue, then the row's own checks), the whole PDU becomes ONE datastore
transaction on running (DESIGN.md rule 3: the same validation, subscribers and
locks as NETCONF), and a refused Set changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.datastore.errors import DatastoreError
from agent.datastore.paths import render_path
from agent.snmp.rows import WritePlan
from agent.snmp.tree import READ_CREATE, READ_WRITE, MibTree, Scalar, SetError, Table, View
from agent.snmp.values import Oid, Value

RUNNING = "running"


def plan_set(tree: MibTree, varbinds: Sequence[tuple[Oid, Value]], view: View | None, *,
             private: bool) -> WritePlan:
    """The edits of a SetRequest, or SetError for the first bad varbind.

    ``private``: the request arrived with privacy (SNMPv3 authPriv, the only
    USM level that encrypts, RFC 3414). A key column (``Column.secret``) is
    outside the write view of any other request: a community message (RFC
    1901) and an authNoPriv one carry the value in clear, so a key set that way
    is a key disclosed. RFC 3415 §2.2 lets a group's access rights differ by
    securityLevel, and §2.5 chooses the view by it (vacmAccessSecurityLevel);
    USM's own keys are changed with the KeyChange convention so that no key is
    ever sent as it is (RFC 3414 §5). RFC 3416 §4.2.5 step (1): a variable not
    in the write view gets noAccess, and the whole Set changes nothing."""
    plan = WritePlan()
    rows: dict[tuple[int, Oid], tuple[Table, dict[int, tuple[Value, int]]]] = {}
    for position, (oid, value) in enumerate(varbinds):
        if view is not None and not view.allows(oid):
            raise SetError("noAccess", position, "not in the write view")  # RFC 3415 §3.2
        obj, column = tree.object_at(oid)
        if obj is None:
            raise SetError("noCreation", position, "no such object")
        if isinstance(obj, Scalar):
            if oid != obj.oid + (0,):
                raise SetError("noCreation", position, "a scalar's only instance is .0")
            if obj.access != READ_WRITE:
                raise SetError("notWritable" if obj.access != "not-accessible" else "noAccess", position)
            status = obj.syntax.check(value)
            if status is not None:
                raise SetError(status, position)
            if obj.write is None:
                raise SetError("notWritable", position, "not writable in this agent")
            if obj.present is not None and not obj.present():
                raise SetError("noCreation", position, "the object's role is not running")
            try:
                edits = obj.write(value)
            except SetError as exc:
                raise SetError(exc.status, position, exc.message) from None
            plan.edits.extend(edits)
            plan.positions.extend([position] * len(edits))
            continue
        if column is not None and column.secret and not private:
            raise SetError("noAccess", position, "a key is written only at SNMPv3 authPriv")
        if column is None or column.access not in (READ_CREATE, READ_WRITE):
            status_name = "noAccess" if column is not None and column.access == "not-accessible" else "notWritable"
            raise SetError(status_name if column is not None else "noCreation", position)
        status = column.syntax.check(value)
        if status is not None:
            raise SetError(status, position)
        if obj.write is None:
            raise SetError("notWritable", position, "not writable in this agent")
        index = oid[len(obj.entry_oid) + 1:]
        key = (id(obj), index)
        _, columns = rows.setdefault(key, (obj, {}))
        if column.sub in columns:
            # RFC 3416 §4.2.5 does not allow two values for one variable to be
            # applied in an undefined order: refused.
            raise SetError("inconsistentValue", position, "the same object twice")
        columns[column.sub] = (value, position)
    for table, columns in rows.values():
        table.write.plan(_index_of(table, columns, varbinds), columns, plan)
    return plan


def _index_of(table: Table, columns: dict[int, tuple[Value, int]],
              varbinds: Sequence[tuple[Oid, Value]]) -> Oid:
    _, position = next(iter(columns.values()))
    return varbinds[position][0][len(table.entry_oid) + 1:]


def apply_set(tree: MibTree, datastore: Any, varbinds: Sequence[tuple[Oid, Value]],
              view: View | None, *, private: bool) -> None:
    """Plan and apply; raises SetError with the RFC 3416 error-status.
    ``private``: see ``plan_set``."""
    if datastore is None:
        raise SetError("notWritable", 0, "this agent runs without a datastore")
    # A NETCONF lock on running (RFC 6241 §7.5) holds off every other writer:
    # SNMP answers resourceUnavailable (RFC 3416 §4.2.5) and changes nothing.
    if datastore.lock_holder(RUNNING) is not None:
        raise SetError("resourceUnavailable", 0, "running is locked")
    plan = plan_set(tree, varbinds, view, private=private)
    if plan.edits:
        try:
            datastore.edit(RUNNING, plan.edits)
        except DatastoreError as exc:
            raise SetError(exc.snmp_error_status, _error_position(plan, exc), exc.message) from None
    for action in plan.after:
        action()


def _error_position(plan: WritePlan, exc: DatastoreError) -> int:
    """The varbind whose edit the datastore's error-path points into."""
    if exc.path:
        error_path = exc.path.replace("proxy-mobile-ip:", "")
        for edit, position in zip(plan.edits, plan.positions):
            rendered = render_path(edit.path).replace("proxy-mobile-ip:", "")
            if error_path.startswith(rendered) or rendered.startswith(error_path):
                return position
    return plan.positions[0] if plan.positions else 0
