"""Configuration across the plane boundary: the datastore's one subscriber
on running, which offers every transaction to the control plane as a
``ConfigChange`` and commits it (``ConfigDone``) or aborts it
(``ConfigAbort``) with the datastore (sysrepo's change -> done | abort,
FRRouting mgmtd's CFG_REQ -> CFG_APPLY_REQ; ``docs/architecture.md``, "The
plane boundary").

In the datastore's change phase the subscriber sends the change set and
waits for the verdict by pumping the plane connection synchronously
(``PlaneLink.pump_until``): the datastore and NETCONF are synchronous, and
the transaction must not be committed before the control plane accepted it.
Refusals, each an ``<rpc-error>`` with the tag the boundary gives:

- no control plane connected (a restart): ``resource-denied``;
- a transaction already open (the full configuration a new session begins
  with, or another commit): ``in-use``;
- vetoed: the control plane's error-tag, message, path and error-app-tag;
- no verdict within the change timeout (5 s): aborted, ``operation-failed``;
- the connection lost before the verdict: ``resource-denied``.

A change set of any size crosses: the session sends its big lists in
``ConfigChangePart`` pieces, and its verdict and apply timeouts grow with
the size (``ManagementSession.transaction_deadline``), which is what the
synchronous waits here wait until.

In every case running stays as it was and nothing was applied: never
half-applied. Accepted, the done phase sends ``ConfigDone`` and waits (the
apply timeout, 5 s) for ``ConfigApplied``, as mgmtd answers a commit only
after the back-ends' apply replies: the commit's ``<ok>`` means the engines
run it.

The datastore turns a subscriber's ``Veto`` into ``operation-failed``
(``agent/datastore/store.py`` carries no error-tag on a veto yet);
``BoundaryDatastore`` gives the refusal its own tag back: the ``Veto`` this
module raises holds the ``DatastoreError`` to report, and the datastore's
error keeps the veto as its ``__context__`` (it is raised inside the
``except``). When ``Veto`` carries a tag, ``BoundaryDatastore`` goes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from agent.datastore.errors import DatastoreError, ErrorTag
from agent.datastore.paths import render_path
from agent.datastore.store import RUNNING, Change, ChangeEvent, Datastore, Veto
from agent.plane import codec
from agent.plane import messages as m
from agent.plane import session as s
from agent.plane.link import PlaneLink
from agent.schema.context import TOP_MEMBER

log = logging.getLogger(__name__)

#: The path of the one entry of a ``full`` transaction: the whole top container.
FULL_PATH = "/" + TOP_MEMBER
_KINDS = {"created": m.ChangeKind.CREATED, "modified": m.ChangeKind.MODIFIED,
          "deleted": m.ChangeKind.DELETED}


class BoundaryVeto(Veto):
    """A refusal with the error the datastore should report."""

    def __init__(self, error: DatastoreError) -> None:
        super().__init__(error.message, path=error.path)
        self.error = error


@contextmanager
def _tagged_refusals() -> Iterator[None]:
    try:
        yield
    except DatastoreError as exc:
        veto = exc.__context__
        if isinstance(veto, BoundaryVeto):
            raise veto.error from None
        raise


class BoundaryDatastore(Datastore):
    """A ``Datastore`` whose writes to running report a boundary refusal
    with its own error-tag (see the module docstring)."""

    def edit(self, *args: Any, **kwargs: Any) -> tuple[Change, ...]:
        with _tagged_refusals():
            return super().edit(*args, **kwargs)

    def replace_config(self, *args: Any, **kwargs: Any) -> tuple[Change, ...]:
        with _tagged_refusals():
            return super().replace_config(*args, **kwargs)

    def copy_config(self, *args: Any, **kwargs: Any) -> tuple[Change, ...]:
        with _tagged_refusals():
            return super().copy_config(*args, **kwargs)

    def commit(self, *args: Any, **kwargs: Any) -> tuple[Change, ...]:
        with _tagged_refusals():
            return super().commit(*args, **kwargs)

    def reload_startup(self, *args: Any, **kwargs: Any) -> tuple[Change, ...]:
        with _tagged_refusals():
            return super().reload_startup(*args, **kwargs)


def change_entries(changes: tuple[Change, ...]) -> tuple[m.ConfigChangeEntry, ...]:
    """The datastore's typed changes as boundary entries (instance-identifier
    paths, RFC 7951 JSON values)."""
    return tuple(m.ConfigChangeEntry(_KINDS[c.kind], render_path(c.path), c.new, c.old)
                 for c in changes)


def full_entries(datastore: Datastore) -> tuple[m.ConfigChangeEntry, ...]:
    """A ``full`` transaction's one entry: running's whole effective
    configuration (defaults included) as RFC 7951 JSON of the top container."""
    content = datastore.snapshot(RUNNING).as_json(with_defaults=True)
    return (m.ConfigChangeEntry(m.ChangeKind.CREATED, FULL_PATH, content, None),)


class ConfigBoundary:
    """The subscriber (``datastore.subscribe(boundary)``), and the handler of
    the transaction events of the current plane session (``handle``)."""

    def __init__(self, datastore: Datastore, *, clock: Callable[[], float]) -> None:
        self._datastore = datastore
        self._clock = clock
        self.link: PlaneLink | None = None
        self.full_transactions = 0
        self.full_vetoed = 0
        self._waiting: int | None = None  # the transaction whose verdict the pump waits for
        self._verdict: s.Event | None = None
        self._prepared: int | None = None  # accepted, waiting for the datastore's done/abort
        self._full: int | None = None  # the full transaction of this session, while open

    # -- the plane session ------------------------------------------------------------------

    def session_established(self, link: PlaneLink) -> None:
        """A new session: the whole running configuration first (mgmtd's
        rule), so that the two planes agree whatever happened before."""
        self.link = link
        self._prepared = None
        self.full_transactions += 1
        entries = full_entries(self._datastore)
        self._full = link.session.begin_transaction(entries, self._clock(), full=True)
        link.flush()

    def _deadline(self, session: s.ManagementSession, timeout: float) -> float:
        """Until when a synchronous wait pumps: the session's own deadline for
        the open transaction (its size's allowance included), plus a second's
        safety net beyond the timer that ends it."""
        deadline = session.transaction_deadline
        return (deadline if deadline is not None else self._clock() + timeout) + 1.0

    def session_closed(self, link: PlaneLink) -> None:
        if self.link is link:
            self.link = None
            self._full = None
            self._prepared = None

    def handle(self, event: s.Event) -> bool:
        """A transaction event of the session; False when it is not one."""
        if isinstance(event, (s.TransactionPrepared, s.TransactionVetoed, s.TransactionTimedOut,
                              s.TransactionLost, s.TransactionApplied)):
            number = event.transaction
        else:
            return False
        if number == self._full:
            self._full_outcome(event)
        elif number == self._waiting:
            self._verdict = event
        elif isinstance(event, s.TransactionTimedOut | s.TransactionLost):
            log.warning("configuration transaction %d: %s in the %s phase", number,
                        "timed out" if isinstance(event, s.TransactionTimedOut) else "lost",
                        event.phase.value)
        return True

    def _full_outcome(self, event: s.Event) -> None:
        link = self.link
        if isinstance(event, s.TransactionPrepared) and link is not None:
            link.session.commit(event.transaction, self._clock())
            link.flush()
            return
        if isinstance(event, s.TransactionApplied):
            log.info("the control plane applied the full configuration (transaction %d)",
                     event.transaction)
        elif isinstance(event, s.TransactionVetoed):
            self.full_vetoed += 1
            veto = event.veto
            log.error("the control plane refused the running configuration: %s%s: %s",
                      veto.tag.value, f" at {veto.path}" if veto.path else "", veto.message)
        self._full = None

    # -- the datastore subscriber -------------------------------------------------------------

    def __call__(self, event: ChangeEvent) -> None:
        if event.phase == "change":
            self._change(event)
        elif event.phase == "done":
            self._finish(commit=True)
        else:
            self._finish(commit=False)

    def _change(self, event: ChangeEvent) -> None:
        link = self.link
        if link is None or link.closed or link.session.state is not s.SessionState.ESTABLISHED:
            raise _refusal(ErrorTag.RESOURCE_DENIED, "the control plane is not connected "
                                                     "(restarting?): nothing was changed")
        session = link.session
        entries = change_entries(event.changes)
        current = session.transaction
        if current is not None and current.phase is s.Phase.DONE:
            # Committed and being applied (the session's full configuration,
            # just after a connection): wait for it rather than refuse; one
            # still waiting for its verdict is refused in-use below.
            link.pump_until(lambda: session.transaction is not current,
                            self._deadline(session, session.apply_timeout))
        try:
            number = session.begin_transaction(entries, self._clock())
        except s.TransactionRefused as exc:
            raise _refusal(ErrorTag(exc.tag.value), f"{exc}: nothing was changed") from None
        self._waiting, self._verdict = number, None
        try:
            # The session's own change timer ends the wait (TransactionTimedOut,
            # ConfigAbort sent); the deadline is a safety net beyond it.
            link.pump_until(lambda: self._verdict is not None,
                            self._deadline(session, session.change_timeout))
        finally:
            self._waiting = None
        verdict = self._verdict
        self._verdict = None
        if isinstance(verdict, s.TransactionPrepared):
            self._prepared = number
            return
        if isinstance(verdict, s.TransactionVetoed):
            veto = verdict.veto
            raise BoundaryVeto(DatastoreError(ErrorTag(veto.tag.value), veto.message,
                                              path=veto.path, app_tag=veto.app_tag))
        if isinstance(verdict, s.TransactionTimedOut):
            raise _refusal(ErrorTag.OPERATION_FAILED,
                           "the control plane gave no verdict within "
                           f"{session.change_timeout:g} s: "
                           "aborted, nothing was changed")
        raise _refusal(ErrorTag.RESOURCE_DENIED,
                       "the connection to the control plane was lost before its verdict: "
                       "nothing was changed")

    def _finish(self, *, commit: bool) -> None:
        number, self._prepared = self._prepared, None
        link = self.link
        if number is None or link is None or link.closed:
            return  # vetoed by us or before us; or the session is gone (it reported the loss)
        session = link.session
        if not commit:
            session.abort(number)
            link.flush()
            return
        # Wait for ConfigApplied (mgmtd answers a commit after CFG_APPLY_REPLY):
        # the <ok> then means the engines run it, and the next transaction
        # does not find this one still open (in-use). Bounded by the apply
        # timeout, after which the session closes and the next one begins
        # with the full configuration.
        session.commit(number, self._clock())
        self._waiting, self._verdict = number, None
        try:
            link.pump_until(lambda: self._verdict is not None,
                            self._clock() + session.apply_timeout + 1.0)
        finally:
            self._waiting = None
        outcome, self._verdict = self._verdict, None
        if not isinstance(outcome, s.TransactionApplied):
            log.warning("configuration transaction %d committed, not confirmed applied (%s): "
                        "the next session replays the whole configuration", number,
                        type(outcome).__name__ if outcome is not None else "no answer")


def _refusal(tag: ErrorTag, message: str) -> BoundaryVeto:
    return BoundaryVeto(DatastoreError(tag, message))
