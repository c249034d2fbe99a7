"""The proxy visitor's life cycle as one table (issue 15 item 4), in the
h11/h2 manner: every change of a visitor's state is an event, and
``TRANSITIONS[(state, event)]`` is a ``Transition``: the actions to perform,
in order, and the state it leaves (None: the visitor is forgotten).
``ProxyAgent._fire`` is the one place a visitor's state changes and the one
place its side effects are performed (datagrams, timers, the registration
slots and queue, the RADIUS wait, events out, forgetting it); its handlers
only choose the event (from the input and guards such as "a slot is free")
and fill in the data the actions use (the foreign agent chosen, the
Lifetime, ``visitor.reason``).

A pair that is not in the table is a protocol error of the engine itself
(its code and this table disagree): ``ProxyAgent`` counts it
(``lifecycle-errors``), reports it (``LifecycleError``) and still makes the
event's ``DEFAULT`` transition, so that no visitor is ever stuck.
tests/unit/test_visitor_lifecycle.py checks the table exhaustively (every
pair of state and event is either in it or counted as an error), drives
random event sequences through a proxy, a foreign agent and a home agent,
checks that every transition made is in the table and every entry is made,
and that what the engine did (datagrams, timers, events, slots, visitors
freed) is exactly what the table named.

The ARP interception (agent/access/interception.py) follows the events the
actions emit: ``EMIT_REGISTERED`` turns it on for the client,
``EMIT_DENIED``, ``EMIT_FAILED``, ``EMIT_DEREGISTERED`` and
``EMIT_NOT_PROXIED`` turn it off.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class _IdentityHashed(enum.Enum):
    """Members hashed by identity (what their equality is): ``Enum.__hash__``
    is a Python-level call, and the engine hashes a (state, event) pair and
    an action per transition, ~10 times per registration."""

    __hash__ = object.__hash__


class VisitorState(_IdentityHashed):
    ASSOCIATED = "associated"  # no address known yet
    AT_HOME = "at-home"
    NO_HOME_AGENT = "no-home-agent"
    NO_SECURITY_ASSOCIATION = "no-security-association"
    #: No local SA; waiting for the RADIUS servers (retried with backoff).
    SA_PENDING = "sa-pending"
    NOT_ENABLED = "not-enabled"
    WAITING_FOR_AGENT = "waiting-for-agent"
    QUEUED = "queued"
    PENDING = "pending"
    REGISTERED = "registered"
    DENIED = "denied"
    FAILED = "failed"
    DEREGISTERING = "deregistering"


class VisitorEvent(_IdentityHashed):
    """What happened to a visitor."""

    #: Its interface does not have proxy Mobile IP.
    INTERFACE_NOT_ENABLED = "interface-not-enabled"
    #: Its address is in one of our own networks.
    FOUND_AT_HOME = "found-at-home"
    #: No subnet-map entry holds its address.
    NO_HOME_AGENT = "no-home-agent"
    #: No SA covers its address, and there is no RADIUS to ask.
    NO_SECURITY_ASSOCIATION = "no-security-association"
    #: RADIUS refused its SA (Access-Reject, malformed, no SA in the Accept).
    SA_REFUSED = "sa-refused"
    #: RADIUS refused it again for the same reason (not news: not counted).
    SA_REFUSED_AGAIN = "sa-refused-again"
    #: Another station holds the address it claimed.
    ADDRESS_CONFLICT = "address-conflict"
    #: Its SAs are asked of the RADIUS servers.
    SA_LOOKUP = "sa-lookup"
    #: Back home with a binding left: Lifetime 0 to its home agent (RFC 5944 §3.6.1.2).
    DEREGISTER_FROM_HOME = "deregister-from-home"
    #: No foreign agent to register through (none heard, or all busy).
    NO_FOREIGN_AGENT = "no-foreign-agent"
    #: max-outstanding registrations in flight: it waits in the queue.
    NO_SLOT = "no-slot"
    #: A registration may go: a Registration Request is sent for it.
    REQUEST_SENT = "request-sent"
    #: Its request went unanswered for the retransmission period (RFC 5944 §3.6.3).
    RETRANSMISSION_DUE = "retransmission-due"
    #: Its registration was accepted.
    ACCEPTED = "accepted"
    #: Its registration was denied (and is not retried at once).
    DENIED = "denied"
    #: No reply after every retransmission.
    NO_REPLY = "no-reply"
    #: Given up by choice, the station staying (its home agent or SA changed):
    #: what it held is deregistered, it is evaluated again.
    WITHDRAWN = "withdrawn"
    #: The station left (disassociated, cleared by the operator).
    LEFT = "left"
    #: The station took another address: the old one is left as by LEFT, a
    #: deregistration in flight for it goes on set aside (the MAC is the new
    #: visitor's).
    ADDRESS_CHANGED = "address-changed"
    #: It associated again while its deregistration was in flight.
    CAME_BACK = "came-back"
    #: Its deregistration got a 133 from a clock off: resynchronised, sent again
    #: (RFC 5944 §5.7.1).
    RESYNCHRONISED = "resynchronised"
    #: Its deregistration from home was answered (or given up).
    DEREGISTERED = "deregistered"
    #: The deregistration of a station that left was answered (or given up).
    DEPARTURE_DEREGISTERED = "departure-deregistered"


class VisitorAction(_IdentityHashed):
    """What ``ProxyAgent._fire`` does for a transition, each in one place."""

    #: One more of max-outstanding registrations in flight.
    TAKE_SLOT = "take-slot"
    #: Its exchange is over: the slot goes to the next queued visitor.
    RELEASE_SLOT = "release-slot"
    #: Into the queue for a slot (counted: queued).
    ENQUEUE = "enqueue"
    #: Out of the queue.
    DEQUEUE = "dequeue"
    #: Among the visitors waiting for the RADIUS answer for its address.
    AWAIT_SA = "await-sa"
    #: No longer waiting for it (the lookup is cancelled when nobody waits).
    STOP_AWAITING_SA = "stop-awaiting-sa"
    #: Agent Solicitations, unless already soliciting (RFC 5944 §2.4).
    SOLICIT = "solicit"
    #: A new registration exchange: a Registration Request with its Lifetime.
    SEND_REGISTRATION = "send-registration"
    #: The same request again, with a doubled period (RFC 5944 §3.6.3).
    RETRANSMIT_REGISTRATION = "retransmit-registration"
    #: A new deregistration exchange: Lifetime 0 (counted: deregistrations).
    SEND_DEREGISTRATION = "send-deregistration"
    #: The deregistration again, with a doubled period (RFC 5944 §3.6.3).
    RETRANSMIT_DEREGISTRATION = "retransmit-deregistration"
    #: The deregistration again after a resynchronisation (RFC 5944 §5.7.1).
    RESEND_DEREGISTRATION = "resend-deregistration"
    #: Its timer at the end of the retransmission period.
    ARM_RETRANSMIT = "arm-retransmit"
    #: Its timer at the renewal, the re-registration margin before expiry.
    ARM_RENEWAL = "arm-renewal"
    #: Its timer at the retry backoff.
    ARM_BACKOFF = "arm-backoff"
    #: Its timer when RADIUS may be asked again (none if never).
    ARM_SA_RETRY = "arm-sa-retry"
    CANCEL_TIMER = "cancel-timer"
    #: Its claim on a held address is remembered, tried again once free.
    CLAIM_ADDRESS = "claim-address"
    #: Its address is no longer held by it (a claimant is tried again).
    RELEASE_ADDRESS = "release-address"
    #: ClientNotProxied, counted by reason.
    EMIT_NOT_PROXIED = "emit-not-proxied"
    #: ClientRegistered (counted: accepted).
    EMIT_REGISTERED = "emit-registered"
    #: ClientRegistrationDenied.
    EMIT_DENIED = "emit-denied"
    #: ClientRegistrationFailed (counted: registration-failures).
    EMIT_FAILED = "emit-failed"
    #: ClientDeregistered.
    EMIT_DEREGISTERED = "emit-deregistered"
    #: Out of the stations, kept by its home address until its deregistration
    #: ends (its station took another address), its timer with it.
    SET_ASIDE = "set-aside"
    #: Dropped from the visitors (its timer with it): freed.
    FORGET = "forget"


@dataclass(frozen=True, slots=True)
class Transition:
    actions: tuple[VisitorAction, ...]
    #: None: the visitor is forgotten (the transition's FORGET).
    next_state: VisitorState | None


S = VisitorState
E = VisitorEvent
A = VisitorAction

#: The states "what to do with this address" (``ProxyAgent._evaluate``) runs
#: from: a new or withdrawn visitor (ASSOCIATED), a RADIUS answer or retry,
#: and (``reevaluate``, after a configuration change) every state that holds
#: no registration.
_EVALUATED = frozenset({S.ASSOCIATED, S.NO_HOME_AGENT, S.SA_PENDING, S.NOT_ENABLED})
#: States a registration may start from (new, renewed, retried, re-routed).
_REGISTERING = _EVALUATED | {S.WAITING_FOR_AGENT, S.QUEUED, S.REGISTERED, S.DENIED, S.FAILED}


def _rows(
    event: VisitorEvent,
    states: Iterable[VisitorState],
    actions: tuple[VisitorAction, ...],
    next_state: VisitorState | None,
) -> dict[tuple[VisitorState, VisitorEvent], Transition]:
    transition = Transition(actions, next_state)
    return {(state, event): transition for state in states}


_FORGOTTEN = Transition((A.FORGET,), None)

#: ``(state, event) -> Transition``: the whole life cycle.
TRANSITIONS: Mapping[tuple[VisitorState, VisitorEvent], Transition] = {
    # -- not proxied -------------------------------------------------------------
    **_rows(E.INTERFACE_NOT_ENABLED, _EVALUATED | {S.AT_HOME, S.NO_SECURITY_ASSOCIATION},
            (A.EMIT_NOT_PROXIED,), S.NOT_ENABLED),
    **_rows(E.FOUND_AT_HOME, {S.ASSOCIATED, S.AT_HOME, S.NOT_ENABLED},
            (A.EMIT_NOT_PROXIED,), S.AT_HOME),
    **_rows(E.NO_HOME_AGENT, _EVALUATED | {S.NO_SECURITY_ASSOCIATION},
            (A.EMIT_NOT_PROXIED,), S.NO_HOME_AGENT),
    **_rows(E.NO_SECURITY_ASSOCIATION, _EVALUATED - {S.SA_PENDING},
            (A.EMIT_NOT_PROXIED,), S.NO_SECURITY_ASSOCIATION),
    **_rows(E.SA_REFUSED, _EVALUATED,
            (A.EMIT_NOT_PROXIED, A.ARM_SA_RETRY), S.NO_SECURITY_ASSOCIATION),
    **_rows(E.SA_REFUSED_AGAIN, _EVALUATED - {S.ASSOCIATED},
            (A.ARM_SA_RETRY,), S.NO_SECURITY_ASSOCIATION),
    **_rows(E.ADDRESS_CONFLICT, _EVALUATED,
            (A.EMIT_NOT_PROXIED, A.CLAIM_ADDRESS), S.ASSOCIATED),
    **_rows(E.SA_LOOKUP, {S.ASSOCIATED, S.NO_HOME_AGENT, S.NO_SECURITY_ASSOCIATION, S.NOT_ENABLED},
            (A.CANCEL_TIMER, A.AWAIT_SA), S.SA_PENDING),
    # -- at home: the binding left behind is deregistered (RFC 5944 §3.6.1.2) --
    **_rows(E.DEREGISTER_FROM_HOME, {S.AT_HOME},
            (A.SEND_DEREGISTRATION, A.ARM_RETRANSMIT), S.DEREGISTERING),
    **_rows(E.DEREGISTERED, {S.DEREGISTERING},
            (A.CANCEL_TIMER, A.EMIT_DEREGISTERED, A.RELEASE_ADDRESS), S.AT_HOME),
    # -- registration (RFC 5944 §3.6) -------------------------------------------
    **_rows(E.NO_FOREIGN_AGENT, _REGISTERING,
            (A.CANCEL_TIMER, A.SOLICIT), S.WAITING_FOR_AGENT),
    (S.PENDING, E.NO_FOREIGN_AGENT): Transition(
        (A.RELEASE_SLOT, A.CANCEL_TIMER, A.SOLICIT), S.WAITING_FOR_AGENT),
    **_rows(E.NO_SLOT, _REGISTERING - {S.QUEUED},
            (A.CANCEL_TIMER, A.ENQUEUE), S.QUEUED),
    # Asked again with the queue still full: it keeps its place.
    (S.QUEUED, E.NO_SLOT): Transition((A.CANCEL_TIMER,), S.QUEUED),
    **_rows(E.REQUEST_SENT, _REGISTERING,
            (A.TAKE_SLOT, A.SEND_REGISTRATION, A.ARM_RETRANSMIT), S.PENDING),
    # A retry at once (69, 133, reverse tunnelling) or a re-route (the foreign
    # agent rebooted or expired) keeps its slot: were the slot given to the next
    # queued visitor and the retry queued behind it, two visitors could trade
    # requests and denials for ever (tests/unit/test_visitor_lifecycle.py).
    (S.PENDING, E.REQUEST_SENT): Transition((A.SEND_REGISTRATION, A.ARM_RETRANSMIT), S.PENDING),
    (S.PENDING, E.RETRANSMISSION_DUE): Transition(
        (A.RETRANSMIT_REGISTRATION, A.ARM_RETRANSMIT), S.PENDING),
    (S.PENDING, E.ACCEPTED): Transition(
        (A.RELEASE_SLOT, A.ARM_RENEWAL, A.EMIT_REGISTERED), S.REGISTERED),
    (S.PENDING, E.DENIED): Transition((A.RELEASE_SLOT, A.ARM_BACKOFF, A.EMIT_DENIED), S.DENIED),
    (S.PENDING, E.NO_REPLY): Transition((A.RELEASE_SLOT, A.ARM_BACKOFF, A.EMIT_FAILED), S.FAILED),
    # -- given up, the station staying: deregistered, evaluated again ----------
    **_rows(E.WITHDRAWN, {S.WAITING_FOR_AGENT, S.DENIED, S.FAILED, S.DEREGISTERING},
            (A.CANCEL_TIMER,), S.ASSOCIATED),
    (S.QUEUED, E.WITHDRAWN): Transition((A.DEQUEUE, A.CANCEL_TIMER), S.ASSOCIATED),
    (S.REGISTERED, E.WITHDRAWN): Transition((A.CANCEL_TIMER, A.SEND_DEREGISTRATION), S.ASSOCIATED),
    (S.PENDING, E.WITHDRAWN): Transition(
        (A.RELEASE_SLOT, A.CANCEL_TIMER, A.SEND_DEREGISTRATION), S.ASSOCIATED),
    # -- the station left: what it held is deregistered, then it is freed ------
    **_rows(E.LEFT, set(S) - {S.QUEUED, S.SA_PENDING, S.REGISTERED, S.PENDING},
            (A.FORGET,), None),
    (S.QUEUED, E.LEFT): Transition((A.DEQUEUE, A.FORGET), None),
    (S.SA_PENDING, E.LEFT): Transition((A.STOP_AWAITING_SA, A.FORGET), None),
    (S.REGISTERED, E.LEFT): Transition((A.SEND_DEREGISTRATION, A.ARM_RETRANSMIT), S.DEREGISTERING),
    (S.PENDING, E.LEFT): Transition(
        (A.RELEASE_SLOT, A.SEND_DEREGISTRATION, A.ARM_RETRANSMIT), S.DEREGISTERING),
    # (Not from ASSOCIATED: a visitor holds no address there between inputs.)
    **_rows(E.ADDRESS_CHANGED, set(S) - {S.ASSOCIATED, S.QUEUED, S.SA_PENDING, S.REGISTERED,
                                         S.PENDING, S.DEREGISTERING},
            (A.FORGET,), None),
    (S.QUEUED, E.ADDRESS_CHANGED): Transition((A.DEQUEUE, A.FORGET), None),
    (S.SA_PENDING, E.ADDRESS_CHANGED): Transition((A.STOP_AWAITING_SA, A.FORGET), None),
    (S.REGISTERED, E.ADDRESS_CHANGED): Transition(
        (A.SET_ASIDE, A.SEND_DEREGISTRATION, A.ARM_RETRANSMIT), S.DEREGISTERING),
    (S.PENDING, E.ADDRESS_CHANGED): Transition(
        (A.RELEASE_SLOT, A.SET_ASIDE, A.SEND_DEREGISTRATION, A.ARM_RETRANSMIT), S.DEREGISTERING),
    (S.DEREGISTERING, E.ADDRESS_CHANGED): Transition((A.SET_ASIDE,), S.DEREGISTERING),
    (S.DEREGISTERING, E.CAME_BACK): _FORGOTTEN,
    # -- deregistration exchanges -------------------------------------------------
    (S.DEREGISTERING, E.RETRANSMISSION_DUE): Transition(
        (A.RETRANSMIT_DEREGISTRATION, A.ARM_RETRANSMIT), S.DEREGISTERING),
    (S.DEREGISTERING, E.RESYNCHRONISED): Transition(
        (A.RESEND_DEREGISTRATION, A.ARM_RETRANSMIT), S.DEREGISTERING),
    (S.DEREGISTERING, E.DEPARTURE_DEREGISTERED): Transition((A.EMIT_DEREGISTERED, A.FORGET), None),
}

#: The transition made for an event in a state where the table has none
#: (after counting and reporting the error): the event's usual one, so that
#: the visitor is not stuck.
DEFAULT: Mapping[VisitorEvent, Transition] = {
    **{event: transition for (state, event), transition in TRANSITIONS.items()
       if state is S.ASSOCIATED},
    E.SA_REFUSED_AGAIN: TRANSITIONS[(S.SA_PENDING, E.SA_REFUSED_AGAIN)],
    E.DEREGISTER_FROM_HOME: TRANSITIONS[(S.AT_HOME, E.DEREGISTER_FROM_HOME)],
    E.RETRANSMISSION_DUE: TRANSITIONS[(S.PENDING, E.RETRANSMISSION_DUE)],
    E.ACCEPTED: TRANSITIONS[(S.PENDING, E.ACCEPTED)],
    E.DENIED: TRANSITIONS[(S.PENDING, E.DENIED)],
    E.NO_REPLY: TRANSITIONS[(S.PENDING, E.NO_REPLY)],
    E.WITHDRAWN: TRANSITIONS[(S.WAITING_FOR_AGENT, E.WITHDRAWN)],
    E.CAME_BACK: TRANSITIONS[(S.DEREGISTERING, E.CAME_BACK)],
    E.ADDRESS_CHANGED: TRANSITIONS[(S.AT_HOME, E.ADDRESS_CHANGED)],
    E.RESYNCHRONISED: TRANSITIONS[(S.DEREGISTERING, E.RESYNCHRONISED)],
    E.DEREGISTERED: TRANSITIONS[(S.DEREGISTERING, E.DEREGISTERED)],
    E.DEPARTURE_DEREGISTERED: TRANSITIONS[(S.DEREGISTERING, E.DEPARTURE_DEREGISTERED)],
}
