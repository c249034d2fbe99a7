"""The NETCONF operations (RFC 6241 §7, §8.4 confirmed commit, RFC 6022 §3.1
get-schema and §2 /netconf-state, RFC 6243 with-defaults) and the module's own
RPCs, on the datastore.

``Operations`` is the session's handler: ``handler(rpc_child, session)`` gets
the operation element inside ``<rpc>`` and returns the content of
``<rpc-reply>`` (None for ``<ok/>``) or raises ``RpcError``. close-session and
kill-session belong to the session (``agent.netconf.session``) and never get
here. Error types follow RFC 6241 Appendix A: a malformed operation parameter
is a ``protocol`` error, anything about the data an ``application`` error.

Reads go JSON -> XML through libyang (``xmldata``), then through
``_readable`` (the one place every read result passes: NACM read access, RFC
8341 §3.2.4), then through the subtree filter (``subtree``). Writes go XML ->
edits (``editconfig``) -> NACM write access on the nodes they would change
(RFC 8341 §3.2.5-§3.2.8) -> one datastore transaction. Every operation is
first checked for exec access (RFC 8341 §3.4.4); ``self.access``
(``agent.netconf.nacm.AccessControl``) holds the checks, for new operations
too.

Optional parts, each announced in :meth:`Operations.capabilities` only when
wired: ``confirmed_commits`` (:confirmed-commit:1.1, the state lives in
``agent.netconf.confirmed_commit``), ``notifications`` (:notification: and
:interleave:; <create-subscription> itself is the session's), and
``netconf_state`` (the transport's sessions and statistics for RFC 6022's
``/netconf-state``, which <get> always carries with capabilities, datastores
and schemas).

Also served: XPath filters on get and get-config (RFC 6241 §8.9,
``agent.netconf.xpath``), the NMDA operations (RFC 8526, ``agent.netconf.nmda``)
and the YANG library (RFC 8525, ``agent.netconf.yanglib``: ``self.library``,
in <get> and the operational datastore, its modules served by get-schema).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from lxml import etree

from agent.datastore.edits import Operation
from agent.datastore.errors import DatastoreError, ErrorTag
from agent.datastore.store import (
    CANDIDATE,
    RUNNING,
    STARTUP,
    Datastore,
    _config_error,  # the datastore's one mapping of validation errors
)
from agent.datastore.tree import to_json
from agent.netconf.confirmed_commit import (
    DEFAULT_CONFIRM_TIMEOUT,
    CommitRequest,
    ConfirmedCommits,
)
from agent.netconf.editconfig import ConfigReader
from agent.netconf.errors import BASE_NS, RpcError, from_datastore
from agent.netconf.nacm import AccessControl, SchemaMarks
from agent.netconf.monitoring import (
    LIST_KEYS,
    MONITORING_NS,  # RFC 6022 §2: get-schema lives in the monitoring namespace
    MONITORING_REVISION,
    GlobalLock,
    SchemaRecord,
    ServerState,
    netconf_state,
    selects_netconf_state,
)
from agent.netconf.notifications import INTERLEAVE_1_0, NOTIFICATION_1_0
from agent.netconf.framing import splice_marker
from agent.netconf.statexml import state_xml
from agent.netconf.subtree import apply_filter, wanted_members
from agent.netconf.xmldata import DataCodec
from agent.netconf.nmda import DATASTORES as NMDA_DATASTORES
from agent.netconf.nmda import NmdaOperations
from agent.netconf.xpath import XPATH_1_0, with_xpath_filter
from agent.netconf.yanglib import LIST_KEYS as YANG_LIBRARY_KEYS
from agent.netconf.yanglib import server_library
from agent.schema.context import TOP_MEMBER
from agent.schema.context import yang_dir as default_yang_dir
from agent.schema.errors import ConfigError
from agent.schema.validator import Validator

log = logging.getLogger(__name__)
#: RFC 6243 §4.5.1: the with-defaults parameter's namespace.
WITH_DEFAULTS_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults"

#: RFC 6241 §10.4 / §8 capability URIs.
BASE_1_0 = "urn:ietf:params:netconf:base:1.0"
BASE_1_1 = "urn:ietf:params:netconf:base:1.1"
CAPABILITY = "urn:ietf:params:netconf:capability:"

_DATASTORES = (RUNNING, CANDIDATE, STARTUP)
_DEFAULT_OPERATIONS: dict[str, Operation | None] = {
    "merge": Operation.MERGE, "replace": Operation.REPLACE, "none": None}
_TEST_OPTIONS = ("test-then-set", "set", "test-only")
_ERROR_OPTIONS = ("stop-on-error", "continue-on-error", "rollback-on-error")
#: RFC 6243 §3: the modes served (report-all-tagged is not).
_WITH_DEFAULTS = ("report-all", "trim", "explicit")

RpcHandler = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class SessionInfo(Protocol):
    """What an operation knows of the session it runs in."""

    @property
    def session_id(self) -> int: ...

    @property
    def username(self) -> str | None: ...


class Operations:
    """The operations on one datastore. ``rpc_handlers`` run the module's RPCs
    (name -> function of the RFC 7951 JSON input, returning the output's
    content or None); ``yang_dir`` holds the module (the datastore's).
    ``confirmed_commits`` enables RFC 6241 §8.4 (its datastore must be this
    one); ``notifications`` announces RFC 5277 (the server must feed the
    sessions); ``netconf_state()`` returns the transport's sessions and
    statistics (RFC 6022); ``clock`` (POSIX seconds) dates locks."""

    def __init__(self, datastore: Datastore, *,
                 rpc_handlers: Mapping[str, RpcHandler] | None = None,
                 yang_dir: Path | None = None,
                 confirmed_commits: ConfirmedCommits | None = None,
                 notifications: bool = False,
                 netconf_state: Callable[[], ServerState] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._datastore = datastore
        self._rpc_handlers = dict(rpc_handlers or {})
        self._codec = DataCodec(yang_dir or default_yang_dir())
        #: NACM (RFC 8341): the policy is running's, read at each request.
        self.access = AccessControl(lambda: datastore.snapshot(RUNNING).effective,
                                    SchemaMarks.load(yang_dir or default_yang_dir()),
                                    datastore.schema, namespace=self._codec.namespace)
        self._reader = ConfigReader(self._codec)
        self._validator: Validator | None = None
        self._confirmed = confirmed_commits
        self._notifications = notifications
        self._netconf_state = netconf_state
        self._clock = clock
        #: Set by wire_handler for a base <get> (its reply goes straight to a framer).
        self._straight = False
        #: The top container's config false members (the schema is fixed):
        #: worked out once, not for every read (5 % of a small RPC's server time).
        self._state_members = frozenset(
            names[1] for names in datastore.schema.state if len(names) == 2)
        #: datastore -> (session, when) of the locks taken here (RFC 6022 locked-time).
        self._locked_at: dict[str, tuple[int, float]] = {}
        base: dict[str, Callable[[etree._Element, SessionInfo], list[etree._Element]]] = {
            "get": self._get,
            "get-config": self._get_config,
            "edit-config": self._edit_config,
            "copy-config": self._copy_config,
            "delete-config": self._delete_config,
            "lock": self._lock,
            "unlock": self._unlock,
            "commit": self._commit,
            "discard-changes": self._discard_changes,
            "validate": self._validate,
        }
        if confirmed_commits is not None:
            base["cancel-commit"] = self._cancel_commit
        self._operations = {(BASE_NS, name): op for name, op in base.items()}
        self._operations[(MONITORING_NS, "get-schema")] = self._get_schema
        # RFC 6241 §8.9: XPath filters on get and get-config (agent.netconf.xpath).
        for name in ("get", "get-config"):
            self._operations[(BASE_NS, name)] = with_xpath_filter(
                self._operations[(BASE_NS, name)], keys_of=self._list_keys)
        # RFC 8526: get-data, edit-data, NMDA datastores on lock/unlock/validate.
        self._operations.update(NmdaOperations(self).table(self._operations))
        #: RFC 8525: what this server implements (agent.netconf.yanglib).
        self.library = server_library(
            yang_dir=yang_dir or default_yang_dir(), module_name=self._codec.module_name,
            module_revision=self._codec.revision or "", module_namespace=self._codec.namespace,
            module_file=self._codec.yang_file, confirmed_commit=confirmed_commits is not None,
            # NACM's policy lives in this module's nacm container, not in
            # ietf-netconf-acm's /nacm: that module is still only imported.
            xpath=True, nacm=False, datastores=NMDA_DATASTORES)

    @property
    def codec(self) -> DataCodec:
        """The libyang codec (the notification feed converts with it too)."""
        return self._codec

    def close(self) -> None:
        self._codec.close()
        if self._validator is not None:
            self._validator.close()

    def capabilities(self) -> list[str]:
        """The server's <hello> capabilities (RFC 6241 §8)."""
        module = (f"{self._codec.namespace}?module={self._codec.module_name}"
                  + (f"&revision={self._codec.revision}" if self._codec.revision else ""))
        capabilities = [
            BASE_1_0,
            BASE_1_1,
            CAPABILITY + "writable-running:1.0",
            CAPABILITY + "candidate:1.0",
            CAPABILITY + "rollback-on-error:1.0",
            CAPABILITY + "validate:1.1",
            CAPABILITY + "startup:1.0",
            XPATH_1_0,  # RFC 6241 §8.9.3
            CAPABILITY + "with-defaults:1.0?basic-mode=explicit&also-supported=report-all,trim",
            module,
            f"{MONITORING_NS}?module=ietf-netconf-monitoring&revision={MONITORING_REVISION}",
            # RFC 8526 §2 (RFC 7950 §5.6.4): the modules are in /yang-library.
            self.library.capability(),
        ]
        if self._confirmed is not None:
            capabilities.append(CAPABILITY + "confirmed-commit:1.1")  # RFC 6241 §8.4.3
        if self._notifications:
            capabilities += [NOTIFICATION_1_0, INTERLEAVE_1_0]  # RFC 5277 §3.1, §6.3
        return capabilities

    # -- dispatch ------------------------------------------------------------------

    def wire_handler(self, rpc_child: etree._Element,
                     session: SessionInfo) -> etree._Element | None:
        """The handler of the SSH server's sessions (agent.netconf.server),
        whose replies go serialized straight to their framer: a base <get>'s
        live state may then be left as a splice marker in the reply
        (agent.netconf.framing.splice_marker; see _read_result). Callers
        that look into the reply call the operations themselves."""
        self._straight = _straight_get(rpc_child)
        try:
            return self(rpc_child, session)
        finally:
            self._straight = False

    def __call__(self, rpc_child: etree._Element, session: SessionInfo) -> etree._Element | None:
        """The session's handler: one element for <rpc-reply>, None for <ok/>."""
        content = self.reply_content(rpc_child, session)
        if not content:
            return None
        if len(content) > 1:
            # The session's Handler returns one element; no RPC of the module
            # has more than one output node (reply_content serves the general case).
            raise RpcError("operation-failed", "the reply has more than one element")
        return content[0]

    handle = __call__

    def reply_content(self, rpc_child: etree._Element, session: SessionInfo) -> list[etree._Element]:
        """Every element of the <rpc-reply> (empty for <ok/>)."""
        qname = etree.QName(rpc_child)
        operation = self._operations.get((qname.namespace or "", qname.localname))
        try:
            if operation is not None:
                self.access.authorize_operation(rpc_child, session)  # RFC 8341 §3.4.4
                return operation(rpc_child, session)
            if qname.namespace == self._codec.namespace and qname.localname in self._codec.rpcs:
                self.access.authorize_operation(rpc_child, session)
                return self._module_rpc(rpc_child, session)
        except DatastoreError as exc:
            raise from_datastore(exc) from None
        raise RpcError("operation-not-supported",
                       f"operation {qname.localname!r} ({qname.namespace or 'no namespace'}) "
                       "is not supported", error_type="protocol",
                       info={"bad-element": qname.localname})

    # -- reads ---------------------------------------------------------------------

    def _get(self, element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        """RFC 6241 §7.7: running's configuration and the live state."""
        params = _parameters(element, {"filter": BASE_NS, "with-defaults": WITH_DEFAULTS_NS})
        filter_element = _filter(params.get("filter"))
        mode = _with_defaults(params.get("with-defaults"))
        wanted = self._wanted(filter_element)
        config = self._datastore.get_config(RUNNING, with_defaults=mode != "explicit")
        content = dict(config.get(TOP_MEMBER, {}))
        state_members = self._state_members
        if wanted is None or wanted & state_members:
            live = self._datastore.get_operational().get(TOP_MEMBER, {})
            content.update((k, v) for k, v in live.items() if k in state_members)
            if "nacm-state" in state_members:
                content["nacm-state"] = self.access.counters.as_json()  # RFC 8341 §3.5
        extra = [self._monitoring()] if selects_netconf_state(filter_element) \
            and self.access.may_read_top("ietf-netconf-monitoring", "netconf-state",
                                         session) else []
        extra += [element for element in self.library.elements(filter_element)  # RFC 8525
                  if self.access.may_read_top("ietf-yang-library",
                                              etree.QName(element).localname, session)]
        return [self._read_result(content, wanted, filter_element, mode, session, source=None,
                                  extra=extra)]

    def _monitoring(self) -> etree._Element:
        """RFC 6022 §2: /netconf-state."""
        locks: dict[str, GlobalLock | None] = {}
        for name in _DATASTORES:
            holder = self._datastore.lock_holder(name)
            if holder is None:
                locks[name] = None
                continue
            recorded = self._locked_at.get(name)
            when = recorded[1] if recorded is not None and recorded[0] == holder else self._clock()
            locks[name] = GlobalLock(holder, when)
        # Every module of the YANG library, as <get-schema> serves them.
        schemas = [SchemaRecord(m.name, m.revision, m.namespace) for m in self.library.modules()]
        return netconf_state(capabilities=self.capabilities(), datastores=locks,
                             schemas=schemas,
                             server=self._netconf_state() if self._netconf_state else None)

    def _get_config(self, element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        """RFC 6241 §7.1, with RFC 6243 with-defaults."""
        params = _parameters(element, {"source": BASE_NS, "filter": BASE_NS,
                                       "with-defaults": WITH_DEFAULTS_NS})
        source = _datastore_name(_required(params, "source", element), _DATASTORES)
        filter_element = _filter(params.get("filter"))
        mode = _with_defaults(params.get("with-defaults"))
        wanted = self._wanted(filter_element)
        document = self._datastore.get_config(source, with_defaults=mode != "explicit")
        content = dict(document.get(TOP_MEMBER, {}))
        return [self._read_result(content, wanted, filter_element, mode, session, source=source)]

    def _wanted(self, filter_element: etree._Element | None) -> set[str] | None:
        if filter_element is None:
            return None
        return wanted_members(filter_element, top=self._codec.top.name,
                              namespace=self._codec.namespace)

    def _read_result(self, content: dict[str, Any], wanted: set[str] | None,
                     filter_element: etree._Element | None, mode: str, session: SessionInfo,
                     *, source: str | None,
                     extra: list[etree._Element] | None = None) -> etree._Element:
        """``<data>``: the module's ``content`` and the ``extra`` top-level
        nodes of other modules, through the filter."""
        if wanted is not None:
            content = {k: v for k, v in content.items() if k in wanted}
        content = self._readable(content, session=session, source=source)
        state_members = self._state_members
        state = {k: v for k, v in content.items() if k in state_members}
        config = {k: v for k, v in content.items() if k not in state_members}
        # Live state is the agent's own, already in schema order: written
        # directly (statexml), not round-tripped through libyang.
        state_text = state_xml(state) if state else ""
        spliced = (self._straight and bool(state_text)
                   and (filter_element is None or _whole_members(
                       filter_element, top=self._codec.top.name,
                       namespace=self._codec.namespace)))
        if spliced:
            # The reply goes to the framer unchanged and the filter, if any,
            # selects whole members (already chosen by ``wanted``): the state
            # text goes into the serialized reply as it is (framing.splice_marker)
            # instead of being parsed into lxml and serialized again, which
            # was a third of a 100,000-binding <get> (docs/performance.md).
            state_text = splice_marker(state_text.encode())
        data = self._codec.to_data({TOP_MEMBER: config} if config else {}, trim=mode == "trim",
                                   inner_xml=state_text)
        for element in extra or ():
            data.append(element)
        if filter_element is not None and not spliced:
            data = apply_filter(data, filter_element, keys_of=self._list_keys)
        return data

    def _list_keys(self, names: tuple[str, ...]) -> tuple[str, ...]:
        return (LIST_KEYS.get(names) or YANG_LIBRARY_KEYS.get(names)
                or self._codec.list_keys(names))

    def _readable(self, content: dict[str, Any], *, session: SessionInfo,
                  source: str | None) -> dict[str, Any]:
        """Every read result (the top container's content, RFC 7951 JSON) passes
        here before it is encoded: NACM read access (RFC 8341 §3.4.5) will
        prune it for ``session``. ``source`` is the datastore, None for <get>."""
        return self.access.readable(content, session)

    # -- writes --------------------------------------------------------------------

    def _edit_config(self, element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        """RFC 6241 §7.2.

        The datastore applies the edits as one transaction that is validated
        as a whole, so every error-option gives the rollback-on-error result:
        ``stop-on-error`` stops at the first error and, the transaction being
        atomic, leaves nothing half done; ``continue-on-error`` cannot apply
        "the rest" of a configuration that is only valid as a whole, so it too
        changes nothing and reports the first error. ``test-then-set`` and
        ``set`` both validate before anything is stored (the datastore never
        holds an invalid configuration); ``test-only`` validates the result and
        changes nothing.
        """
        params = _parameters(element, {"target": BASE_NS, "default-operation": BASE_NS,
                                       "test-option": BASE_NS, "error-option": BASE_NS,
                                       "config": BASE_NS, "url": BASE_NS})
        target = _datastore_name(_required(params, "target", element), (RUNNING, CANDIDATE))
        default = _DEFAULT_OPERATIONS[_choice(params, "default-operation", "merge",
                                              tuple(_DEFAULT_OPERATIONS))]
        test_option = _choice(params, "test-option", "test-then-set", _TEST_OPTIONS)
        _choice(params, "error-option", "stop-on-error", _ERROR_OPTIONS)
        if "url" in params:
            raise _url_not_supported()
        config = _required(params, "config", element)
        snapshot = self._datastore.snapshot(target)
        plan = self._reader.plan(config, default=default, explicit=snapshot.explicit,
                                 effective=snapshot.effective, schema=self._datastore.schema)
        if self.access.writes_checked(session):
            # RFC 8341 §3.2.5: the nodes the edit would create, update or delete.
            self.access.authorize_tree(snapshot.explicit, plan.result(), session)
        if test_option == "test-only":
            holder = self._datastore.lock_holder(target)
            if holder is not None and holder != session.session_id:
                raise DatastoreError(ErrorTag.LOCK_DENIED, f"{target} is locked by session {holder}",
                                     info={"session-id": str(holder)})
            self._check_valid({TOP_MEMBER: to_json(plan.result())})
            return []
        self._datastore.edit(target, plan.edits, session=session.session_id)
        return []

    def _copy_config(self, element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        """RFC 6241 §7.3: from a datastore or an inline <config>."""
        params = _parameters(element, {"target": BASE_NS, "source": BASE_NS,
                                       "with-defaults": WITH_DEFAULTS_NS})
        target = _datastore_name(_required(params, "target", element), _DATASTORES)
        source = _datastore_source(_required(params, "source", element))
        if "with-defaults" in params:
            # RFC 6243 §4.5.3: only for a <url> target, which is not supported.
            raise _url_not_supported()
        if isinstance(source, str):
            if source == target:
                raise RpcError("invalid-value", "source and target are the same datastore",
                               error_type="protocol", info={"bad-element": "target"})
            if (source, target) != (RUNNING, STARTUP) and self.access.writes_checked(session):
                # RFC 8341 §3.2.6: running -> startup needs exec access only;
                # otherwise the nodes the user may not read are left out of
                # the source, and the target's changed nodes need write access.
                explicit = self._datastore.snapshot(source).explicit
                readable = self.access.readable(to_json(explicit), session)
                if readable != to_json(explicit):
                    new = self.access.keyed(readable)
                    self.access.authorize_tree(self._datastore.snapshot(target).explicit, new,
                                               session)
                    self._datastore.replace_config(target, {TOP_MEMBER: readable},
                                                   session=session.session_id)
                    return []
                self.access.authorize_tree(self._datastore.snapshot(target).explicit, explicit,
                                           session)
            self._datastore.copy_config(source, target, session=session.session_id)
        else:
            content = self._reader.read_content(source)
            if self.access.writes_checked(session):
                self.access.authorize_tree(self._datastore.snapshot(target).explicit,
                                           self.access.keyed(content.get(TOP_MEMBER, {})),
                                           session)
            self._datastore.replace_config(target, content, session=session.session_id)
        return []

    def _delete_config(self, element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        """RFC 6241 §7.4: startup only (running cannot be deleted)."""
        params = _parameters(element, {"target": BASE_NS})
        target = _datastore_name(_required(params, "target", element), _DATASTORES)
        self._datastore.delete_config(target, session=session.session_id)
        return []

    def _lock(self, element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        """RFC 6241 §7.5: lock-denied names the holder's session-id; running
        cannot be locked while another session's confirmed commit is pending
        (0 names a persistent one, which no session holds)."""
        params = _parameters(element, {"target": BASE_NS})
        target = _datastore_name(_required(params, "target", element), _DATASTORES)
        if target == RUNNING and self._confirmed is not None:
            holder = self._confirmed.lock_conflict(session.session_id)
            if holder is not None:
                raise RpcError("lock-denied", "a confirmed commit is pending",
                               error_type="protocol", info={"session-id": str(holder)})
        self._datastore.lock(target, session.session_id)
        self._locked_at[target] = (session.session_id, self._clock())
        return []

    def _unlock(self, element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        """RFC 6241 §7.6."""
        params = _parameters(element, {"target": BASE_NS})
        target = _datastore_name(_required(params, "target", element), _DATASTORES)
        self._datastore.unlock(target, session.session_id)
        return []

    def _commit(self, element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        """RFC 6241 §8.3.4.1, and §8.4.5.1 when :confirmed-commit is offered.

        ``confirm-timeout`` without ``<confirmed/>`` is accepted and means
        nothing (the leaf has a default, so it is always there in the
        model); ``persist`` without it is refused: the client would believe it
        made a persistent confirmed commit. RFC 8341 §3.2.8: the nodes of
        running the commit would change need write access."""
        if self.access.writes_checked(session):
            self.access.authorize_tree(self._datastore.snapshot(RUNNING).explicit,
                                       self._datastore.snapshot(CANDIDATE).explicit, session)
        if self._confirmed is None:
            _parameters(element, {})
            self._datastore.commit(session=session.session_id)
            return []
        params = _parameters(element, {"confirmed": BASE_NS, "confirm-timeout": BASE_NS,
                                       "persist": BASE_NS, "persist-id": BASE_NS})
        confirmed = "confirmed" in params
        if confirmed:
            _empty(params["confirmed"])
        elif "persist" in params:
            raise RpcError("missing-element", "persist needs <confirmed/>", error_type="protocol",
                           info={"bad-element": "confirmed"})
        request = CommitRequest(
            confirmed=confirmed,
            confirm_timeout=_confirm_timeout(params.get("confirm-timeout")),
            persist=_string(params.get("persist")),
            persist_id=_string(params.get("persist-id")))
        self._confirmed.commit(request, session=session.session_id)
        return []

    def _cancel_commit(self, element: etree._Element,
                       session: SessionInfo) -> list[etree._Element]:
        """RFC 6241 §8.4.4.1."""
        assert self._confirmed is not None
        params = _parameters(element, {"persist-id": BASE_NS})
        self._confirmed.cancel(persist_id=_string(params.get("persist-id")),
                               session=session.session_id)
        return []

    def _discard_changes(self, element: etree._Element,
                         session: SessionInfo) -> list[etree._Element]:
        """RFC 6241 §8.3.4.2."""
        _parameters(element, {})
        self._datastore.discard_changes(session=session.session_id)
        return []

    def _validate(self, element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        """RFC 6241 §8.6.4.1: a datastore or an inline <config>."""
        params = _parameters(element, {"source": BASE_NS})
        source = _datastore_source(_required(params, "source", element))
        if isinstance(source, str):
            self._datastore.validate(source)
        else:
            self._check_valid(self._reader.read_content(source))
        return []

    def _check_valid(self, document: dict[str, Any]) -> None:
        """Full validation of a whole configuration (RFC 7951 JSON)."""
        if self._validator is None:
            self._validator = Validator()
        try:
            self._validator.validate(json.dumps(document), "json")
        except ConfigError as exc:
            raise _config_error(exc) from None

    # -- get-schema (RFC 6022 §3.1) -------------------------------------------------

    def _get_schema(self, element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        params = _parameters(element, {"identifier": MONITORING_NS, "version": MONITORING_NS,
                                       "format": MONITORING_NS})
        identifier = (_required(params, "identifier", element).text or "").strip()
        version = (params["version"].text or "").strip() if "version" in params else None
        # Every module of the YANG library (RFC 8525) is served, from yang/.
        if self.library.find(identifier) is None:
            raise RpcError("invalid-value", f"no schema {identifier!r}",
                           info={"bad-element": "identifier"})
        module = self.library.find(identifier, version)
        if module is None or module.file is None:
            raise RpcError("invalid-value", f"no version {version!r} of {identifier!r}",
                           info={"bad-element": "version"})
        if "format" in params:
            _check_format(params["format"])
        data = etree.Element(f"{{{MONITORING_NS}}}data", nsmap={None: MONITORING_NS})
        data.text = module.file.read_text(encoding="utf-8")
        return [data]

    # -- the module's RPCs ---------------------------------------------------------

    def _module_rpc(self, element: etree._Element, session: SessionInfo) -> list[etree._Element]:
        """RFC 7950 §7.14: input as RFC 7951 JSON to the handler, its output back
        as XML in the module's namespace."""
        name = etree.QName(element).localname
        handler = self._rpc_handlers.get(name)
        if handler is None:
            raise RpcError("operation-not-supported", f"{name} is not available in this agent",
                           error_type="protocol", info={"bad-element": name})
        rpc_input = self._codec.parse_rpc(element)
        try:
            output = handler(rpc_input)
        except (RpcError, DatastoreError):
            raise
        except Exception:  # a failing engine must not show its internals (or keys)
            log.exception("session %s: %s failed", session.session_id, name)
            raise RpcError("operation-failed", f"{name} failed") from None
        return self._codec.rpc_output(name, output or {})


# -- parameters ------------------------------------------------------------------------


def _straight_get(rpc_child: etree._Element) -> bool:
    """A base <get> without an XPath filter (whose reply the XPath wrapper
    would walk after _get returns)."""
    if rpc_child.tag != f"{{{BASE_NS}}}get":
        return False
    return not any(child.tag == f"{{{BASE_NS}}}filter" and child.get("type") == "xpath"
                   for child in rpc_child)


def _whole_members(filter_element: etree._Element, *, top: str, namespace: str) -> bool:
    """A subtree filter that only selects whole members of the module's top
    container (RFC 6241 §6.2.5 selection nodes right below it): one top
    element of the module, no attributes, no content match, each child an
    empty element of the module. Applying it to data already cut to those
    members changes nothing."""
    elements = [child for child in filter_element if isinstance(child.tag, str)]
    if len(elements) != 1 or (filter_element.text or "").strip():
        return False
    node = elements[0]
    if node.tag != f"{{{namespace}}}{top}" or node.attrib or (node.text or "").strip():
        return False
    for child in node:
        if not isinstance(child.tag, str):
            if (child.tail or "").strip():
                return False
            continue
        if (etree.QName(child).namespace != namespace or child.attrib or len(child)
                or (child.text or "").strip() or (child.tail or "").strip()):
            return False
    return True


def _parameters(element: etree._Element, allowed: Mapping[str, str]) -> dict[str, etree._Element]:
    """The operation's parameters by local name; anything else is refused
    (RFC 6241 Appendix A: unknown-element / unknown-namespace, protocol)."""
    found: dict[str, etree._Element] = {}
    known_namespaces = {BASE_NS, *allowed.values()}
    operation = etree.QName(element).localname
    for child in element:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        namespace = qname.namespace or ""
        if allowed.get(qname.localname) == namespace:
            if qname.localname in found:
                raise RpcError("bad-element", f"{qname.localname!r} given twice",
                               error_type="protocol", info={"bad-element": qname.localname})
            found[qname.localname] = child
        elif namespace not in known_namespaces:
            raise RpcError("unknown-namespace",
                           f"{operation} has no parameter {qname.localname!r} in {namespace!r}",
                           error_type="protocol",
                           info={"bad-element": qname.localname, "bad-namespace": namespace})
        else:
            raise RpcError("unknown-element", f"{operation} has no parameter {qname.localname!r}",
                           error_type="protocol", info={"bad-element": qname.localname})
    return found


def _required(params: Mapping[str, etree._Element], name: str,
              operation: etree._Element) -> etree._Element:
    if name not in params:
        raise RpcError("missing-element",
                       f"{etree.QName(operation).localname} needs <{name}>",
                       error_type="protocol", info={"bad-element": name})
    return params[name]


def _choice(params: Mapping[str, etree._Element], name: str, default: str,
            values: tuple[str, ...]) -> str:
    if name not in params:
        return default
    value = (params[name].text or "").strip()
    if value not in values:
        raise RpcError("invalid-value", f"{name} must be one of {', '.join(values)}",
                       error_type="protocol", info={"bad-element": name})
    return value


def _datastore_name(param: etree._Element, allowed: tuple[str, ...]) -> str:
    """<target>/<source> naming a datastore (<running/>, ...)."""
    chosen = _single_child(param)
    qname = etree.QName(chosen)
    if qname.namespace == BASE_NS and qname.localname == "url":
        raise _url_not_supported()
    if qname.namespace == BASE_NS and qname.localname in _DATASTORES:
        if qname.localname not in allowed:
            raise RpcError("operation-not-supported",
                           f"{qname.localname} cannot be the {etree.QName(param).localname} here",
                           error_type="protocol", info={"bad-element": qname.localname})
        return str(qname.localname)
    raise RpcError("unknown-element", f"no datastore {qname.localname!r}",
                   error_type="protocol", info={"bad-element": qname.localname})


def _datastore_source(param: etree._Element) -> str | etree._Element:
    """<source>: a datastore name or the inline <config> element."""
    chosen = _single_child(param)
    qname = etree.QName(chosen)
    if qname.namespace == BASE_NS and qname.localname == "config":
        return chosen
    return _datastore_name(param, _DATASTORES)


def _single_child(param: etree._Element) -> etree._Element:
    children = [c for c in param if isinstance(c.tag, str)]
    name = etree.QName(param).localname
    if not children:
        raise RpcError("missing-element", f"<{name}> names no datastore",
                       error_type="protocol", info={"bad-element": name})
    if len(children) > 1:
        raise RpcError("bad-element", f"<{name}> names more than one datastore",
                       error_type="protocol", info={"bad-element": name})
    return children[0]


def _filter(param: etree._Element | None) -> etree._Element | None:
    """RFC 6241 §6.1 / §7.1: only type="subtree" (no :xpath capability)."""
    if param is None:
        return None
    kind = param.get("type", "subtree")
    if kind != "subtree":
        raise RpcError("operation-not-supported", f"filter type {kind!r} is not supported",
                       error_type="protocol",
                       info={"bad-attribute": "type", "bad-element": "filter"})
    return param


def _with_defaults(param: etree._Element | None) -> str:
    """RFC 6243 §4.5: the mode, "explicit" (the basic mode) when absent."""
    if param is None:
        return "explicit"
    mode = (param.text or "").strip()
    if mode not in _WITH_DEFAULTS:
        raise RpcError("invalid-value", f"with-defaults mode {mode!r} is not supported",
                       error_type="protocol", info={"bad-element": "with-defaults"})
    return mode


def _check_format(param: etree._Element) -> None:
    """RFC 6022: the schema-format identity; only yang is served."""
    text = (param.text or "").strip()
    prefix, _, name = text.rpartition(":")
    namespace = param.nsmap.get(prefix or None) if prefix else MONITORING_NS
    if name != "yang" or namespace != MONITORING_NS:
        raise RpcError("invalid-value", f"format {text!r} is not served (only yang)",
                       info={"bad-element": "format"})


def _empty(param: etree._Element) -> None:
    """A leaf of type empty (RFC 7950 §9.11)."""
    if (param.text or "").strip() or any(isinstance(c.tag, str) for c in param):
        name = etree.QName(param).localname
        raise RpcError("invalid-value", f"<{name}> takes no value", error_type="protocol",
                       info={"bad-element": name})


def _string(param: etree._Element | None) -> str | None:
    """A string leaf's value, exactly as sent (a persist token may hold spaces)."""
    return None if param is None else (param.text or "")


def _confirm_timeout(param: etree._Element | None) -> int:
    """RFC 6241 §8.4.5.1: uint32, 1..max, seconds; default 600."""
    if param is None:
        return DEFAULT_CONFIRM_TIMEOUT
    text = (param.text or "").strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 0xFFFFFFFF:
        raise RpcError("invalid-value", f"confirm-timeout {text!r} is not 1..4294967295 seconds",
                       error_type="protocol", info={"bad-element": "confirm-timeout"})
    return int(text)


def _url_not_supported() -> RpcError:
    return RpcError("operation-not-supported", ":url is not supported", error_type="protocol",
                    info={"bad-element": "url"})
