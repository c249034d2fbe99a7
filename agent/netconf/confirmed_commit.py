"""Confirmed commit (RFC 6241 §8.4, :confirmed-commit:1.1), sans-IO.

One confirmed commit can be pending on the server. It records running's
configuration from before the *first* confirmed commit (the rollback point;
follow-up confirmed commits keep it, §8.4.1) and a deadline. Then:

* a confirming ``<commit>`` (§8.4.1) makes the change permanent;
* ``<cancel-commit>`` (§8.4.4.1) rolls back now;
* the deadline passing (``confirm-timeout``, default 600 s) rolls back;
* the session that issued a *non-persistent* confirmed commit ending, for
  any reason, rolls back (§8.4.1); a persistent one (``<persist>``) outlives
  its session and is confirmed or cancelled from any session with a matching
  ``<persist-id>``.

Who may act: for a non-persistent pending commit, only the issuing session may
send the follow-up, confirming or cancelling operation (another session's
``<commit>`` is ``in-use``); for a persistent one, any session whose
``<persist-id>`` matches (else ``invalid-value``, RFC 6241 Appendix A and
ietf-netconf's persist-id description). While a confirmed commit of another
session is pending, <running> cannot be locked (§7.5): see
:meth:`ConfirmedCommits.lock_conflict`.

The rollback replaces running through the datastore's ordinary transaction
(``Datastore.replace_config``), so change subscribers (the engines) see it
like any commit and may veto it. A rollback the server starts itself
(deadline, session end) acts through whatever lock is held on running, since
RFC 6241 gives the server no way to postpone it; ``<cancel-commit>`` respects
another session's lock. A rollback that fails (a subscriber vetoes) is logged
and leaves running as it is: nothing else could be done.

No I/O and no timer: the owner arms one timer at :meth:`get_timer` (the
``on_timer_change`` callback says when that may have changed) and calls
:meth:`handle_timer` when it fires, as with aioquic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.datastore.errors import DatastoreError
from agent.datastore.store import RUNNING, Datastore
from agent.netconf.errors import RpcError, from_datastore

logger = logging.getLogger(__name__)

#: RFC 6241 §8.4.5.1: confirm-timeout's default, seconds.
DEFAULT_CONFIRM_TIMEOUT = 600


@dataclass(frozen=True)
class CommitRequest:
    """The parameters of one <commit> (RFC 6241 §8.3.4.1, §8.4.5.1)."""

    confirmed: bool = False
    confirm_timeout: int = DEFAULT_CONFIRM_TIMEOUT
    persist: str | None = None
    persist_id: str | None = None


@dataclass(frozen=True)
class PendingCommit:
    #: Running's configuration (RFC 7951 JSON, explicit nodes) before the
    #: first confirmed commit.
    rollback_to: dict[str, Any]
    #: When it rolls back (the clock's seconds).
    deadline: float
    #: The issuing session of a non-persistent confirmed commit, else None.
    session: int | None
    #: The persist token of a persistent one, else None.
    persist: str | None


class ConfirmedCommits:
    """The server's confirmed-commit state over ``datastore``. ``clock`` gives
    the time of a <commit>; ``on_timer_change()`` is called whenever
    :meth:`get_timer` may have changed."""

    def __init__(self, datastore: Datastore, *, clock: Callable[[], float],
                 on_timer_change: Callable[[], None] | None = None) -> None:
        self._datastore = datastore
        self._clock = clock
        self.on_timer_change = on_timer_change
        self._pending: PendingCommit | None = None

    @property
    def pending(self) -> PendingCommit | None:
        return self._pending

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called (None: never)."""
        return self._pending.deadline if self._pending is not None else None

    # -- operations ----------------------------------------------------------

    def commit(self, request: CommitRequest, *, session: int) -> None:
        """<commit> from ``session``: a plain, confirmed, follow-up or
        confirming commit. On an error nothing changes."""
        pending = self._pending
        if pending is not None:
            self._check_may_act(pending, request.persist_id, session, "commit")
        elif request.persist_id is not None:
            raise RpcError("invalid-value", "no confirmed commit is pending for this persist-id",
                           error_type="protocol", info={"bad-element": "persist-id"})
        if not request.confirmed:
            self._datastore_commit(session)
            if pending is not None:
                logger.info("netconf session %d confirmed the pending commit", session)
                self._set(None)
            return
        if request.confirm_timeout < 1:
            raise RpcError("invalid-value", "confirm-timeout must be at least 1 second",
                           error_type="protocol", info={"bad-element": "confirm-timeout"})
        rollback_to = (pending.rollback_to if pending is not None
                       else self._datastore.get_config(RUNNING))
        self._datastore_commit(session)
        self._set(PendingCommit(
            rollback_to=rollback_to, deadline=self._clock() + request.confirm_timeout,
            session=None if request.persist is not None else session, persist=request.persist))
        logger.info("netconf session %d: confirmed commit%s, rollback in %d s unless confirmed",
                    session, " (persistent)" if request.persist is not None else "",
                    request.confirm_timeout)

    def cancel(self, *, persist_id: str | None, session: int) -> None:
        """<cancel-commit> (RFC 6241 §8.4.4.1): roll back now."""
        pending = self._pending
        if pending is None:
            raise RpcError("operation-failed", "no confirmed commit is pending",
                           error_type="protocol")
        self._check_may_act(pending, persist_id, session, "cancel-commit")
        try:
            self._datastore.replace_config(RUNNING, pending.rollback_to, session=session)
        except DatastoreError as exc:
            raise from_datastore(exc) from None
        logger.info("netconf session %d cancelled the confirmed commit: rolled back", session)
        self._set(None)

    def session_ended(self, session: int) -> None:
        """The session ended: its non-persistent confirmed commit rolls back."""
        pending = self._pending
        if pending is not None and pending.persist is None and pending.session == session:
            self._roll_back(f"session {session} ended before confirming")

    def handle_timer(self, now: float) -> None:
        pending = self._pending
        if pending is not None and now >= pending.deadline:
            self._roll_back("confirm-timeout expired")

    def shutdown(self) -> None:
        """The server stops: a pending commit rolls back (§8.4.1: so must a
        reboot, and running does not survive one here)."""
        if self._pending is not None:
            self._roll_back("the server is stopping")

    def lock_conflict(self, session: int) -> int | None:
        """RFC 6241 §7.5: <running> cannot be locked while *another* session
        has a confirmed commit pending. The session-id to report in
        lock-denied (0 for a persistent one, which no session holds), or None
        when ``session`` may lock."""
        pending = self._pending
        if pending is None or pending.session == session:
            return None
        return pending.session if pending.session is not None else 0

    # -- internals -----------------------------------------------------------

    def _check_may_act(self, pending: PendingCommit, persist_id: str | None, session: int,
                       operation: str) -> None:
        if pending.persist is not None:
            if persist_id != pending.persist:
                raise RpcError("invalid-value",
                               "persist-id does not match the pending confirmed commit",
                               error_type="protocol", info={"bad-element": "persist-id"})
            return
        if persist_id is not None:
            raise RpcError("invalid-value", "the pending confirmed commit is not persistent",
                           error_type="protocol", info={"bad-element": "persist-id"})
        if pending.session != session:
            # §8.4.1: without <persist>, follow-up, confirming and cancelling
            # operations must come from the issuing session.
            raise RpcError("in-use", f"{operation}: session {pending.session} has a confirmed "
                           "commit pending", error_type="protocol")

    def _datastore_commit(self, session: int) -> None:
        try:
            self._datastore.commit(session=session)
        except DatastoreError as exc:
            raise from_datastore(exc) from None

    def _roll_back(self, reason: str) -> None:
        pending = self._pending
        assert pending is not None
        self._set(None)
        holder = self._datastore.lock_holder(RUNNING)
        try:
            self._datastore.replace_config(RUNNING, pending.rollback_to, session=holder)
        except DatastoreError as exc:
            logger.error("confirmed commit not confirmed (%s) but the rollback failed: %s",
                         reason, exc.message)
            return
        logger.warning("confirmed commit not confirmed (%s): running rolled back", reason)

    def _set(self, pending: PendingCommit | None) -> None:
        before = self.get_timer()
        self._pending = pending
        if self.on_timer_change is not None and self.get_timer() != before:
            self.on_timer_change()
