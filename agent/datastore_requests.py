"""The requests answered from the datastore alone, with no engine: the
control channel's configuration ops (``get-config``, ``edit-config``,
``copy-config``, ``commit``, ``discard-changes``) and the module's
``clear-subnet-map`` RPC (a datastore edit: one transaction, so locks,
validation and the live effects of an edit apply). Shared by the
single-process agent (``agent.runtime``) and the management plane
(``agent.plane.management_plane``)."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

from agent.datastore.edits import Edit, Operation
from agent.datastore.errors import DatastoreError
from agent.datastore.paths import parse_path
from agent.datastore.store import Datastore
from agent.schema.context import TOP_MEMBER

#: The control channel ops ``datastore_request`` answers.
DATASTORE_OPS = ("get-config", "edit-config", "copy-config", "commit", "discard-changes")


def datastore_request(datastore: Datastore, op: str, request: dict[str, Any]) -> dict[str, Any]:
    """One control channel op on the datastore; a datastore error is the
    answer's ``error``, ``error-tag``, ``error-path`` and ``error-app-tag``."""
    try:
        if op == "get-config":
            return {"data": datastore.get_config(request.get("source", "running"),
                                                 with_defaults=bool(request.get("with-defaults")))}
        if op == "edit-config":
            edits = [
                Edit(Operation(e.get("operation", "merge")), parse_path(e["path"]), e.get("value"))
                for e in request["edits"]
            ]
            changes = datastore.edit(request.get("target", "running"), edits)
            return {"ok": True, "changes": len(changes)}
        if op == "copy-config":
            datastore.copy_config(request["source"], request["target"])
            return {"ok": True}
        if op == "commit":
            return {"ok": True, "changes": len(datastore.commit())}
        datastore.discard_changes()
        return {"ok": True}
    except DatastoreError as exc:
        return {"error": exc.message, "error-tag": exc.tag.value, "error-path": exc.path,
                "error-app-tag": exc.app_tag}


def clear_subnet_map(datastore: Datastore, given: dict[str, Any]) -> dict[str, Any]:
    """The ``clear-subnet-map`` RPC: remove one subnet-map entry (``prefix``)
    or all of them from running, as one datastore transaction."""
    from agent.netconf.errors import RpcError

    running = datastore.get_config("running").get(TOP_MEMBER, {})
    prefixes = [e["prefix"] for e in running.get("subnet-map", [])]
    if given.get("prefix"):
        wanted = str(IPv4Network(given["prefix"], strict=False))  # libyang's canonical form
        prefixes = [p for p in prefixes if p == wanted]
    if not prefixes:
        return {"cleared": 0}
    edits = [Edit(Operation.DELETE, parse_path(f"/mobile-ip/subnet-map[prefix='{p}']"), None)
             for p in prefixes]
    try:
        datastore.edit("running", edits)
    except DatastoreError as exc:
        raise RpcError(exc.tag.value, exc.message, path=exc.path, app_tag=exc.app_tag) from None
    return {"cleared": len(prefixes)}
