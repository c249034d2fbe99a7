"""The datastore: running, candidate and startup configuration, operational state,
transactions, locks and change subscriptions (NMDA, RFC 8342; the NETCONF
operations of RFC 6241 §7 map one to one onto its methods).

Every write is one transaction: the edits are applied to a copy, the result is
validated against the YANG module by libyang, subscribers see the typed changes
and may veto (change phase), then the new tree replaces the old one and the
subscribers are told it is done; on any failure nothing changes and they are
told to abort. Startup is written atomically (temporary file, fsync, rename,
fsync of the directory).

Validation is incremental for the three big lists whose entries are independent
in the module (``subnet-map``, ``security/host``, ``security/peer``: no
``unique``, no element counts, no XPath leaving an entry — checked by
``tests/unit/test_datastore.py``): only the entries an edit touched are handed to
libyang with the rest of the configuration, so a small edit stays small with
100,000 entries present. Key uniqueness is the keyed tree's own property.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import libyang
from _libyang import ffi  # type: ignore[import-not-found]  # libyang-python's cffi module

from agent.datastore.edits import Edit, Touched, apply_edit
from agent.datastore.errors import VIOLATIONS, DatastoreError, ErrorTag, Violation
from agent.datastore.paths import Path, Step, render_path
from agent.datastore.tree import Entries, NamePath, Schema, to_json, to_keyed
from agent.schema.context import MODULE_NAME, TOP_MEMBER, yang_dir
from agent.schema.errors import ConfigError
from agent.schema.startup_file import mode_problem, read_startup
from agent.schema.validator import Validator

log = logging.getLogger(__name__)

TOP = "mobile-ip"
#: Lists validated entry by entry (see the module docstring).
INDEPENDENT_LISTS: tuple[NamePath, ...] = (
    (TOP, "subnet-map"),
    (TOP, "security", "host"),
    (TOP, "security", "peer"),
)
RUNNING, CANDIDATE, STARTUP = "running", "candidate", "startup"


@dataclass(frozen=True)
class Change:
    """One typed change: ``created`` (new), ``modified`` (old and new) or
    ``deleted`` (old), at ``path``; values are RFC 7951 JSON."""

    kind: str
    path: Path
    old: Any = None
    new: Any = None


@dataclass(frozen=True)
class ChangeEvent:
    datastore: str
    phase: str  # "change" | "done" | "abort"
    changes: tuple[Change, ...]
    #: The whole new effective configuration (keyed tree), for subscribers that
    #: rebuild rather than patch.
    config: dict[str, Any]


class Veto(Exception):
    """Raised by a subscriber in the change phase to refuse a transaction."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


Subscriber = Callable[[ChangeEvent], None]
#: (notification name, RFC 7951 content, event time as POSIX seconds)
NotificationListener = Callable[[str, dict[str, Any], float], None]
Provider = Callable[[], dict[str, Any]]


@dataclass
class Snapshot:
    explicit: dict[str, Any]
    effective: dict[str, Any]
    #: RFC 7951 JSON of each tree, built on first read: a snapshot never
    #: changes, so every later read (a small get-config with 10,000 entries
    #: present) shares it. Callers must not modify what they get.
    _json: dict[bool, Any] = field(default_factory=dict, repr=False, compare=False)

    def as_json(self, *, with_defaults: bool) -> Any:
        cached = self._json.get(with_defaults)
        if cached is None:
            tree = self.effective if with_defaults else self.explicit
            cached = self._json[with_defaults] = to_json(tree)
        return cached


@dataclass
class _Subscription:
    prefix: NamePath
    callback: Subscriber


@dataclass(frozen=True)
class ComputedRunning:
    """A running transaction validated and not yet prepared: ``new`` and its
    ``changes`` from ``base`` (running when it was computed)."""

    base: Snapshot
    new: Snapshot
    changes: tuple[Change, ...]


class PreparedTransaction:
    """A running transaction past its change phase (every interested
    subscriber accepted it): ``commit()`` makes it running and runs the done
    phase, ``abort()`` runs the abort phase and leaves running as it was."""

    def __init__(self, datastore: Datastore, new: Snapshot, changes: tuple[Change, ...],
                 subscriptions: tuple[_Subscription, ...]) -> None:
        self._datastore = datastore
        self.new = new
        self.changes = changes
        self.subscriptions = subscriptions

    def commit(self) -> None:
        self._datastore._finish(self, commit=True)

    def abort(self) -> None:
        self._datastore._finish(self, commit=False)


def _tell(subscriptions: Iterable[_Subscription], event: ChangeEvent) -> None:
    """The done or abort phase: every subscriber hears of it, whatever another
    one does (a done-phase failure cannot undo the commit)."""
    for subscription in subscriptions:
        try:
            subscription.callback(event)
        except Exception:
            log.exception("subscriber failed in the %s phase", event.phase)


class Datastore:
    def __init__(self, *, startup_file: FilePath | None = None, schema: Schema | None = None) -> None:
        self.schema = schema or Schema.load()
        self._validator = Validator()
        self._canonical = _KeyCanonicaliser(self.schema)
        self._startup_file = startup_file
        self._xml: _XmlStartup | None = None
        empty = Snapshot({}, self._validate_full({}))
        self._stores: dict[str, Snapshot] = {RUNNING: empty, STARTUP: empty}
        self._candidate: Snapshot | None = None  # None: same as running (RFC 6241 §8.3)
        self._locks: dict[str, int] = {}
        self._subscriptions: list[_Subscription] = []
        self._providers: list[Provider] = []
        self._listeners: list[NotificationListener] = []
        self._prepared: PreparedTransaction | None = None
        if startup_file is not None and startup_file.exists():
            explicit = self._read_startup(startup_file)
            snapshot = Snapshot(explicit, self._validate_full(explicit))
            self._stores[STARTUP] = self._stores[RUNNING] = snapshot

    def close(self) -> None:
        self._validator.close()
        self._canonical.close()
        if self._xml is not None:
            self._xml.close()

    # -- reading -------------------------------------------------------------------

    def snapshot(self, name: str) -> Snapshot:
        if name == CANDIDATE:
            return self._candidate or self._stores[RUNNING]
        if name not in self._stores:
            raise DatastoreError(ErrorTag.INVALID_VALUE, f"no datastore {name!r}")
        return self._stores[name]

    def get_config(self, name: str = RUNNING, *, with_defaults: bool = False) -> dict[str, Any]:
        """RFC 7951 JSON of a configuration datastore (``report-all`` with
        ``with_defaults``, else only what was set: RFC 6243 ``explicit``)."""
        snapshot = self.snapshot(name)
        tree = snapshot.effective if with_defaults else snapshot.explicit
        return {TOP_MEMBER: snapshot.as_json(with_defaults=with_defaults)} if tree else {}

    def register_provider(self, provider: Provider) -> None:
        """Operational state: ``provider()`` returns members of the top container
        (the ``*-state`` containers), read at request time."""
        self._providers.append(provider)

    def get_operational(self) -> dict[str, Any]:
        """Running's effective configuration plus every provider's live state."""
        content = dict(self._stores[RUNNING].as_json(with_defaults=True))
        for provider in self._providers:
            content.update(provider())
        return {TOP_MEMBER: content}

    # -- locks (RFC 6241 §7.5) -----------------------------------------------------

    def lock(self, name: str, session: int) -> None:
        holder = self._locks.get(name)
        if holder is not None:
            raise DatastoreError(
                ErrorTag.LOCK_DENIED, f"{name} is locked", info={"session-id": str(holder)}
            )
        if name == CANDIDATE and self._candidate is not None:
            # RFC 6241 §8.3.5.2: a candidate with uncommitted changes cannot be locked.
            raise DatastoreError(ErrorTag.LOCK_DENIED, "candidate has uncommitted changes",
                                 info={"session-id": "0"})
        self._locks[name] = session

    def unlock(self, name: str, session: int) -> None:
        if self._locks.get(name) != session:
            raise DatastoreError(ErrorTag.OPERATION_FAILED, f"{name} is not locked by this session")
        del self._locks[name]

    def release_session(self, session: int) -> None:
        """A session ended: its locks go (RFC 6241 §7.5: a lock never outlives its
        session); a candidate it had locked is discarded."""
        for name in [n for n, s in self._locks.items() if s == session]:
            del self._locks[name]
            if name == CANDIDATE:
                self._candidate = None

    def lock_holder(self, name: str) -> int | None:
        return self._locks.get(name)

    def _check_lock(self, name: str, session: int | None) -> None:
        holder = self._locks.get(name)
        if holder is not None and holder != session:
            raise DatastoreError(
                ErrorTag.IN_USE if session is None else ErrorTag.LOCK_DENIED,
                f"{name} is locked by session {holder}",
                info={"session-id": str(holder)},
            )

    # -- subscriptions ---------------------------------------------------------------

    def subscribe(self, callback: Subscriber, *, prefix: NamePath = (TOP,)) -> Callable[[], None]:
        """Call ``callback`` for running's transactions that change ``prefix``;
        returns a function that unsubscribes."""
        subscription = _Subscription(prefix, callback)
        self._subscriptions.append(subscription)
        return lambda: self._subscriptions.remove(subscription)

    # -- notifications -------------------------------------------------------------

    def subscribe_notifications(self, listener: NotificationListener) -> Callable[[], None]:
        """Receive every notification the engines publish (the NETCONF and SNMP
        front ends turn them into <notification>s and traps)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def publish(self, name: str, content: dict[str, Any], when: float) -> None:
        for listener in list(self._listeners):
            try:
                listener(name, content, when)
            except Exception:  # one broken listener must not starve the others
                log.exception("notification listener failed")

    # -- writing -----------------------------------------------------------------------

    def edit(self, name: str, edits: Iterable[Edit], *, session: int | None = None) -> tuple[Change, ...]:
        """Apply ``edits`` to running or candidate as one transaction."""
        if name not in (RUNNING, CANDIDATE):
            raise DatastoreError(ErrorTag.OPERATION_NOT_SUPPORTED, f"cannot edit {name}")
        self._check_lock(name, session)
        new, changes = self._edited(self.snapshot(name), edits)
        if name == CANDIDATE:
            self._candidate = new
            return changes
        self._commit_running(new, changes)
        return changes

    def prepare_running(self, edits: Iterable[Edit], *, replace: bool = False) -> PreparedTransaction:
        """Phase one of a running transaction whose phase two the caller
        decides later (the control plane: the management plane's done or
        abort, ``docs/architecture.md``, the plane boundary). The edits are
        applied to running (with ``replace``: to an empty tree, so that they
        are the whole configuration) and validated, and the subscribers' change
        phase runs; a veto or an invalid tree raises ``DatastoreError`` and
        nothing changes. The caller then calls ``commit()`` or ``abort()`` on
        the result, once. One transaction is prepared at a time."""
        return self.prepare_computed(self.compute_running(edits, replace=replace))

    def compute_running(self, edits: Iterable[Edit], *, replace: bool = False) -> ComputedRunning:
        """The first half of ``prepare_running``: the new tree, validated, and
        its changes; nothing is changed and no subscriber is called, so it may
        run in a worker thread (the control plane's, so that 100,000 SAs do
        not hold the engines' loop) while nothing else edits this datastore.
        ``DatastoreError`` when invalid."""
        self._check_lock(RUNNING, None)
        current = self._stores[RUNNING]
        if not replace:
            new, changes = self._edited(current, edits)
        else:
            explicit: dict[str, Any] = {}
            for edit in edits:
                explicit = self._apply_checked(explicit, edit, Touched())
            # A whole configuration that is mostly running's (the management
            # plane's after a reconnection, 100,000 SAs and one leaf
            # changed): the entries of the independent lists that are
            # running's, spelled the same, stay validated; the rest of the
            # tree and every other entry go through libyang.
            effective, changes = self._validate_incremental(
                current, explicit, _replaced(current.explicit, explicit))
            new = Snapshot(explicit, effective)
        # A subscriber may do the pure part of its change phase here (off the
        # loop too): ``warm(event)``, with the same changes it then gets.
        event = ChangeEvent(RUNNING, "change", changes, new.effective)
        for subscription in self._subscriptions:
            warm = getattr(subscription.callback, "warm", None)
            if warm is not None and _concerns(subscription.prefix, changes):
                warm(event)
        return ComputedRunning(current, new, changes)

    def prepare_computed(self, computed: ComputedRunning) -> PreparedTransaction:
        """The second half of ``prepare_running``: the subscribers' change
        phase (on the caller's thread). Refused (in-use) when running changed
        since ``compute_running`` read it."""
        self._check_lock(RUNNING, None)
        if self._stores[RUNNING] is not computed.base:
            raise DatastoreError(ErrorTag.IN_USE, "running changed while the transaction was validated")
        return self._prepare_running(computed.new, computed.changes)

    def _edited(self, current: Snapshot, edits: Iterable[Edit]) -> tuple[Snapshot, tuple[Change, ...]]:
        explicit = current.explicit
        touched = Touched()
        for edit in edits:
            explicit = self._apply_checked(explicit, edit, touched)
        effective, changes = self._validate_incremental(current, explicit, touched)
        return Snapshot(explicit, effective), changes

    def _apply_checked(self, explicit: dict[str, Any], edit: Edit, touched: Touched) -> dict[str, Any]:
        if not edit.path or edit.path[0].name != TOP:
            raise DatastoreError(ErrorTag.UNKNOWN_ELEMENT, "unknown top-level node")
        from agent.datastore.tree import check_path

        check_path(edit.path, self.schema)
        return apply_edit(explicit, edit, self.schema, touched)

    def replace_config(self, name: str, content: dict[str, Any], *, session: int | None = None) -> tuple[Change, ...]:
        """Replace a whole datastore (copy-config with an inline ``<config>``)."""
        if name not in (RUNNING, CANDIDATE, STARTUP):
            raise DatastoreError(ErrorTag.OPERATION_NOT_SUPPORTED, f"cannot write {name}")
        self._check_lock(name, session)
        member = content.get(TOP_MEMBER, content.get(TOP, {})) if content else {}
        explicit = to_keyed(member, (TOP,), self.schema)
        effective = self._validate_full(explicit)
        return self._install(name, Snapshot(explicit, effective))

    def copy_config(self, source: str, target: str, *, session: int | None = None) -> tuple[Change, ...]:
        self._check_lock(target, session)
        if target == CANDIDATE and source == RUNNING:
            self._candidate = None
            return ()
        changes = self._install(target, self.snapshot(source))
        if source == CANDIDATE and target == RUNNING:
            self._candidate = None  # committed: the candidate is clean again
        return changes

    def reload_startup(self, *, running_overrides: Iterable[Edit] = ()) -> tuple[Change, ...]:
        """Read the startup file again and make it running as one transaction,
        as ``copy-config`` startup -> running (RFC 6241 §7.3, §8.7) does, with
        ``running_overrides`` (running-only edits: the command line's
        endpoints) applied on top. A file that cannot be read or is invalid,
        a veto, or a lock held by a session raises ``DatastoreError`` and
        leaves startup and running as they were (SIGHUP of ``proxymip run``)."""
        if self._startup_file is None:
            raise DatastoreError(ErrorTag.OPERATION_FAILED, "this datastore has no startup file")
        self._check_lock(STARTUP, None)
        self._check_lock(RUNNING, None)
        explicit = self._read_startup(self._startup_file)
        startup = Snapshot(explicit, self._validate_full(explicit))
        running = startup
        overrides = list(running_overrides)
        if overrides:
            touched = Touched()
            for edit in overrides:
                explicit = apply_edit(explicit, edit, self.schema, touched)
            running = Snapshot(explicit, self._validate_full(explicit))
        changes = self._install(RUNNING, running)
        self._stores[STARTUP] = startup
        return changes

    def delete_config(self, name: str, *, session: int | None = None) -> None:
        """RFC 6241 §7.4: running cannot be deleted; startup can."""
        if name != STARTUP:
            raise DatastoreError(ErrorTag.OPERATION_NOT_SUPPORTED, f"cannot delete {name}")
        self._check_lock(name, session)
        self._install(STARTUP, Snapshot({}, self._validate_full({})))

    def commit(self, *, session: int | None = None) -> tuple[Change, ...]:
        # Another session's locked candidate is its work in progress: not ours
        # to commit (RFC 6241 §7.5, §8.3.4).
        self._check_lock(RUNNING, session)
        self._check_lock(CANDIDATE, session)
        if self._candidate is None:
            return ()
        candidate = self._candidate
        changes = self._install(RUNNING, candidate)
        self._candidate = None
        return changes

    def discard_changes(self, *, session: int | None = None) -> None:
        self._check_lock(CANDIDATE, session)
        self._candidate = None

    def validate(self, name: str) -> None:
        snapshot = self.snapshot(name)
        self._validate_full(snapshot.explicit)

    def _install(self, name: str, snapshot: Snapshot) -> tuple[Change, ...]:
        if name == RUNNING:
            changes = diff(self._stores[RUNNING].effective, snapshot.effective, self.schema)
            self._commit_running(snapshot, changes)
            return changes
        if name == STARTUP:
            self._write_startup(snapshot.explicit)
            self._stores[STARTUP] = snapshot
            return ()
        if name == CANDIDATE:
            self._candidate = snapshot
            return ()
        raise DatastoreError(ErrorTag.OPERATION_NOT_SUPPORTED, f"cannot write {name}")

    def _commit_running(self, new: Snapshot, changes: tuple[Change, ...]) -> None:
        """Both phases at once: any veto in the change phase aborts the
        transaction for everyone and leaves running as it was."""
        self._prepare_running(new, changes).commit()

    def _prepare_running(self, new: Snapshot, changes: tuple[Change, ...]) -> PreparedTransaction:
        """The change phase of the interested subscribers; the done or abort
        phase is the returned transaction's."""
        if self._prepared is not None:
            # The subscribers hold one prepared plan each (sysrepo: one
            # transaction at a time per datastore): a second would replace it.
            raise DatastoreError(ErrorTag.IN_USE, "another transaction of running is prepared")
        interested = [s for s in self._subscriptions if _concerns(s.prefix, changes)]
        notified: list[_Subscription] = []
        try:
            for subscription in interested:
                notified.append(subscription)
                subscription.callback(ChangeEvent(RUNNING, "change", changes, new.effective))
        except Exception as exc:  # a Veto, or a subscriber's bug: either way, abort
            if not isinstance(exc, Veto):
                log.exception("subscriber failed in the change phase")
            _tell(notified, ChangeEvent(RUNNING, "abort", changes, new.effective))
            if isinstance(exc, Veto):
                raise DatastoreError(ErrorTag.OPERATION_FAILED, str(exc), path=exc.path) from None
            raise DatastoreError(ErrorTag.OPERATION_FAILED, f"a subscriber failed: {exc!r}") from None
        prepared = PreparedTransaction(self, new, changes, tuple(interested))
        self._prepared = prepared
        return prepared

    def _finish(self, prepared: PreparedTransaction, *, commit: bool) -> None:
        if self._prepared is not prepared:
            raise RuntimeError("this transaction is not the prepared one (committed or aborted already)")
        self._prepared = None
        event = ChangeEvent(RUNNING, "done" if commit else "abort", prepared.changes, prepared.new.effective)
        if commit:
            self._stores[RUNNING] = prepared.new
        _tell(prepared.subscriptions, event)

    # -- validation --------------------------------------------------------------------

    def _validate_full(self, explicit: dict[str, Any]) -> dict[str, Any]:
        document = {TOP_MEMBER: to_json(explicit)} if explicit else {}
        try:
            effective = self._validator.validate(json.dumps(document), "json")
        except ConfigError as exc:
            raise _config_error(exc) from None
        return _keyed_effective(effective, self.schema)

    def _validate_incremental(
        self, current: Snapshot, explicit: dict[str, Any], touched: Touched
    ) -> tuple[dict[str, Any], tuple[Change, ...]]:
        trimmed: dict[NamePath, set[tuple[str, ...]]] = {}
        for names in INDEPENDENT_LISTS:
            keys = touched.lists.get(names, set())
            if keys is not None:  # None: the whole list was replaced
                trimmed[names] = keys
        document = _trim(explicit, trimmed)
        try:
            validated = self._validator.validate(json.dumps({TOP_MEMBER: to_json(document)}), "json")
        except ConfigError as exc:
            raise _config_error(exc) from None
        effective = _keyed_effective(validated, self.schema)
        # The effective tree is keyed by libyang's canonical key values, the
        # explicit one as the edits spelled them ('10.1.2.3/16' is the effective
        # entry 10.1.0.0/16): what an edit touched, in canonical form.
        canonical_touched = Touched(dict(touched.lists))
        # Put back the untouched entries of the trimmed lists, from the old
        # effective tree (they were valid and did not change).
        for names, keys in trimmed.items():
            old_entries = _get(current.effective, names[1:])
            new_entries = _get(effective, names[1:])
            explicit_entries = _get(explicit, names[1:])
            old_explicit = _get(current.explicit, names[1:])
            merged = Entries(old_entries) if isinstance(old_entries, Entries) else Entries()
            canonical_keys: set[tuple[str, ...]] = set()
            for key in keys:
                was = isinstance(old_explicit, Entries) and key in old_explicit
                now = isinstance(explicit_entries, Entries) and key in explicit_entries
                if not (was or now):
                    continue  # a removal of nothing
                # An effective key is canonical already: libyang is asked only
                # for a key spelled otherwise ('10.1.2.3/16').
                canonical = (key if key in merged or (isinstance(new_entries, Entries) and key in new_entries)
                             else self._canonical.key(names, key))
                canonical_keys.add(canonical)
                if was:  # the old entry it stood for goes (and may come back below)
                    merged.pop(canonical, None)
            canonical_touched.lists[names] = canonical_keys
            if isinstance(new_entries, Entries):
                for key, entry in new_entries.items():
                    if key in merged:
                        raise DatastoreError(
                            ErrorTag.DATA_EXISTS,
                            "an entry with the same key (in canonical form) exists",
                            path=render_path(
                                (Step(names[0]), *map(Step, names[1:-1]),
                                 Step(names[-1], tuple(zip(self.schema.lists[names], key))))
                            ),
                        )
                    merged[key] = entry
            if isinstance(explicit_entries, Entries) and len(explicit_entries) != len(merged):
                raise DatastoreError(
                    ErrorTag.DATA_EXISTS,
                    "two entries have the same key in canonical form",
                    path="/" + "/".join(names),
                )
            effective = _set(effective, names[1:], merged if merged else None)
        changes = diff(current.effective, effective, self.schema, touched=canonical_touched)
        return effective, changes

    # -- persistence -------------------------------------------------------------------

    # The startup file keeps the encoding it came in: ``.xml`` is RFC 7950 XML
    # (read and written through libyang), anything else RFC 7951 JSON. Writing
    # rewrites the whole file from the datastore: comments in it are not kept.

    def _read_startup(self, path: FilePath) -> dict[str, Any]:
        try:
            text, mode = read_startup(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise DatastoreError(ErrorTag.OPERATION_FAILED, f"cannot read startup {path}: {exc}") from None
        # The text itself through libyang first, in either encoding: a top level
        # that is not one object, a member of the wrong JSON type, an unknown
        # member, nesting of any depth are each one error naming the data path
        # (json.loads alone took an array for an empty configuration and raised
        # RecursionError on deep nesting). Errors have their keys scrubbed.
        try:
            self._validator.validate(text, "xml" if _is_xml(path) else "json")
        except ConfigError as exc:
            raise _config_error(exc) from None
        problem = mode_problem(mode, text)
        if problem is not None:
            raise DatastoreError(ErrorTag.OPERATION_FAILED, f"startup {path}: {problem}: refused")
        if _is_xml(path):
            member = self._xml_codec().member(text)
        else:
            document = json.loads(text)  # libyang took it: one object, nesting bounded by the schema
            member = document.get(TOP_MEMBER, {})
        keyed: dict[str, Any] = to_keyed(member, (TOP,), self.schema)
        return keyed

    def _write_startup(self, explicit: dict[str, Any]) -> None:
        if self._startup_file is None:
            return
        if _is_xml(self._startup_file):
            text = self._xml_codec().xml(to_json(explicit) if explicit else {})
        else:
            text = json.dumps({TOP_MEMBER: to_json(explicit)} if explicit else {}, indent=1, sort_keys=False)
        atomic_write(self._startup_file, text)

    def _xml_codec(self) -> _XmlStartup:
        if self._xml is None:
            self._xml = _XmlStartup()
        return self._xml


def atomic_write(path: FilePath, text: str) -> None:
    """Write so that a crash at any moment leaves either the old file or the new
    one: temporary file in the same directory, fsync, rename, fsync the directory."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)  # it holds keys
        os.replace(tmp, path)
    except BaseException:
        with _suppress():
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def _is_xml(path: FilePath) -> bool:
    return path.suffix.lower() == ".xml"


class _XmlStartup:
    """An XML startup file (RFC 7950 §14 encoding) to and from the RFC 7951 JSON
    the datastore keeps, through a libyang context of its own. Only documents
    libyang has validated before pass here, so no libyang message (which may
    quote a key) is ever shown."""

    def __init__(self) -> None:
        self._context = libyang.Context(str(yang_dir()))
        self._context.load_module(MODULE_NAME)

    def close(self) -> None:
        self._context.destroy()  # type: ignore[no-untyped-call]

    def member(self, text: str) -> dict[str, Any]:
        """The top container's explicit content (no defaults added)."""
        printed = self._convert(text, "xml", "json")
        document = json.loads(printed) if printed.strip() else {}
        member: dict[str, Any] = document.get(TOP_MEMBER, {})
        return member

    def xml(self, member: dict[str, Any]) -> str:
        if not member:  # an empty configuration is still a document of the module
            return f'<mobile-ip xmlns="{self._namespace()}"/>\n'
        return self._convert(json.dumps({TOP_MEMBER: member}), "json", "xml")

    def _namespace(self) -> str:
        module = self._context.get_module(MODULE_NAME)
        return str(ffi.string(module.cdata.ns).decode())

    def _convert(self, text: str, source: str, target: str) -> str:
        tree = None
        try:
            tree = self._context.parse_data_mem(text, source, strict=True, no_state=True, parse_only=True)
            printed = tree.print_mem(target, with_siblings=True, pretty=True) if tree is not None else ""
        except libyang.LibyangError:
            failure = "libyang could not convert a validated startup configuration"
        else:
            return printed.decode() if isinstance(printed, bytes) else str(printed or "")
        finally:
            if tree is not None:
                tree.free()
        raise DatastoreError(ErrorTag.OPERATION_FAILED, failure)


class _KeyCanonicaliser:
    """libyang's canonical form of a list entry's key values (an ipv4-prefix
    loses its host bits), through a context of its own."""

    def __init__(self, schema: Schema) -> None:
        self._schema = schema
        self._context = libyang.Context(str(yang_dir()))
        self._context.load_module(MODULE_NAME)

    def close(self) -> None:
        self._context.destroy()  # type: ignore[no-untyped-call]

    def key(self, names: NamePath, key: tuple[str, ...]) -> tuple[str, ...]:
        """Only for keys that libyang has accepted before (else: as given)."""
        predicates = ""
        for name, value in zip(self._schema.lists[names], key):
            quote = "'" if "'" not in value else '"'
            predicates += f"[{name}={quote}{value}{quote}]"
        path = f"/{TOP_MEMBER}/" + "/".join(names[1:]) + predicates
        try:
            node = self._context.create_data_path(path, no_parent_ret=False)
        except libyang.LibyangError:
            return key
        if node is None:
            return key
        try:
            document = json.loads(node.print_mem("json", with_siblings=True))
        finally:
            node.free()
        entries = _get(document.get(TOP_MEMBER, {}), names[1:])
        if not isinstance(entries, list) or len(entries) != 1:
            return key
        return self._schema.key_of(names, entries[0])


def _config_error(exc: ConfigError) -> DatastoreError:
    """The one mapping of a YANG validation failure to a datastore error: the
    violation libyang reported (``agent.schema.violations``, read from its
    error-app-tag and codes) gives the error-tag and default error-app-tag of
    RFC 7950 §15 / §8.3.1 (``VIOLATIONS``); a module's own error-app-tag wins
    (§15)."""
    violation = exc.violation or Violation.TYPE
    tag, default_app_tag = VIOLATIONS[violation]
    return DatastoreError(tag, exc.detail, path=exc.path, app_tag=exc.app_tag or default_app_tag,
                          info=dict(exc.info), yang_info=exc.yang_info, violation=violation)


def _keyed_effective(member: dict[str, Any], schema: Schema) -> dict[str, Any]:
    keyed: dict[str, Any] = to_keyed(member, (TOP,), schema)
    return keyed


def _get(tree: dict[str, Any], names: NamePath) -> Any:
    node: Any = tree
    for name in names:
        if not isinstance(node, dict):
            return None
        node = node.get(name)
    return node


def _set(tree: dict[str, Any], names: NamePath, value: Any) -> dict[str, Any]:
    new = dict(tree)
    if len(names) == 1:
        if value is None:
            new.pop(names[0], None)
        else:
            new[names[0]] = value
        return new
    child = tree.get(names[0])
    child = child if isinstance(child, dict) else {}
    updated = _set(child, names[1:], value)
    if updated:
        new[names[0]] = updated
    else:
        new.pop(names[0], None)
    return new


def _trim(explicit: dict[str, Any], trimmed: dict[NamePath, set[tuple[str, ...]]]) -> dict[str, Any]:
    document = explicit
    for names, keys in trimmed.items():
        entries = _get(explicit, names[1:])
        if not isinstance(entries, Entries):
            continue
        if len(keys) * 8 >= len(entries):  # most of them (a whole configuration): in their order
            subset = Entries((k, entry) for k, entry in entries.items() if k in keys)
        else:
            subset = Entries((k, entries[k]) for k in keys if k in entries)
        document = _set(document, names[1:], subset if subset else None)
    return document


def _replaced(old: dict[str, Any], new: dict[str, Any]) -> Touched:
    """What replacing the explicit tree ``old`` by ``new`` touches in the
    independent lists: the keys of entries added, removed or not equal."""
    touched = Touched()
    for names in INDEPENDENT_LISTS:
        before, after = _get(old, names[1:]), _get(new, names[1:])
        before = before if isinstance(before, Entries) else Entries()
        after = after if isinstance(after, Entries) else Entries()
        keys = {key for key, entry in after.items() if before.get(key) != entry}
        keys.update(key for key in before if key not in after)
        touched.lists[names] = keys
    return touched


def _concerns(prefix: NamePath, changes: tuple[Change, ...]) -> bool:
    for change in changes:
        names = tuple(step.name for step in change.path)
        if names[: len(prefix)] == prefix or prefix[: len(names)] == names:
            return True
    return False


# -- diff ----------------------------------------------------------------------------------


def diff(old: dict[str, Any], new: dict[str, Any], schema: Schema, *,
         touched: Touched | None = None) -> tuple[Change, ...]:
    """Typed changes from ``old`` to ``new`` (keyed effective trees). Shared
    subtrees are skipped by identity; with ``touched``, the independent lists are
    compared only at the keys the edits touched."""
    changes: list[Change] = []
    _diff(old, new, (Step(TOP),), (TOP,), schema, touched, changes)
    return tuple(changes)


def _diff(old: Any, new: Any, path: Path, names: NamePath, schema: Schema,
          touched: Touched | None, out: list[Change]) -> None:
    if old is new:
        return
    if isinstance(old, Entries) or isinstance(new, Entries):
        old_entries = old if isinstance(old, Entries) else Entries()
        new_entries = new if isinstance(new, Entries) else Entries()
        keys_touched = touched.lists.get(names, None) if touched is not None and names in INDEPENDENT_LISTS else None
        if touched is not None and names in INDEPENDENT_LISTS and names not in touched.lists:
            return  # untouched list: identical by construction
        keys = keys_touched if keys_touched is not None else (old_entries.keys() | new_entries.keys())
        key_names = schema.lists[names]
        for key in sorted(keys) if keys_touched is None else keys:
            step = Step(names[-1], tuple(zip(key_names, key)))
            entry_path = (*path[:-1], step)
            before, after = old_entries.get(key), new_entries.get(key)
            if before is None and after is not None:
                out.append(Change("created", entry_path, new=to_json(after)))
            elif after is None and before is not None:
                out.append(Change("deleted", entry_path, old=to_json(before)))
            elif before is not None and after is not None and before != after:
                _diff_container(before, after, entry_path, names, schema, touched, out)
        return
    if isinstance(old, dict) and isinstance(new, dict):
        _diff_container(old, new, path, names, schema, touched, out)
        return
    if old is None:
        out.append(Change("created", path, new=to_json(new)))
    elif new is None:
        out.append(Change("deleted", path, old=to_json(old)))
    elif old != new:
        out.append(Change("modified", path, old=to_json(old), new=to_json(new)))


def _diff_container(old: dict[str, Any], new: dict[str, Any], path: Path, names: NamePath,
                    schema: Schema, touched: Touched | None, out: list[Change]) -> None:
    for name in list(old.keys()) + [k for k in new.keys() if k not in old]:
        child_names = (*names, name)
        child_path = (*path, Step(name))
        before, after = old.get(name), new.get(name)
        if child_names in schema.lists:
            _diff(before, after, child_path, child_names, schema, touched, out)
        elif isinstance(before, dict) and isinstance(after, dict):
            # Not compared whole when it holds an independent list: the list
            # is compared at the touched keys only (100,000 SAs).
            if (touched is not None and any(names[:len(child_names)] == child_names
                                            for names in INDEPENDENT_LISTS)) or before != after:
                _diff_container(before, after, child_path, child_names, schema, touched, out)
        else:
            _diff(before, after, child_path, child_names, schema, touched, out)
