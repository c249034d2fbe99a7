"""The proxy visitor's life cycle as one table (issue 15 item 4), in the h11
manner: every change of a visitor's state is an event, and
``TRANSITIONS[(state, event)]`` is the state it leads to. A pair that is not
in the table is a protocol error of the engine itself (its code and this
table disagree): ``ProxyAgent`` counts it (``lifecycle-errors``), reports
it, and still makes the event's move so that no visitor is ever stuck.
tests/unit/test_visitor_lifecycle.py drives random event sequences through
a proxy, a foreign agent and a home agent and checks that every move made is
in the table and every entry of the table is made.

The actions stay with the events' handlers in ``ProxyAgent`` (registration
sent, timers, counters, events out); the table is the one authority over
where each event may happen and what state it leaves.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class VisitorState(enum.Enum):
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


class VisitorEvent(enum.Enum):
    """What happened to a visitor; each event leads to one state."""

    #: Its interface does not have proxy Mobile IP.
    INTERFACE_NOT_ENABLED = "interface-not-enabled"
    #: Its address is in one of our own networks.
    FOUND_AT_HOME = "found-at-home"
    #: No subnet-map entry holds its address.
    NO_HOME_AGENT = "no-home-agent"
    #: No SA covers its address (locally, or RADIUS refused).
    NO_SECURITY_ASSOCIATION = "no-security-association"
    #: Another station holds the address it claimed.
    ADDRESS_CONFLICT = "address-conflict"
    #: Its SAs are asked of the RADIUS servers.
    SA_LOOKUP = "sa-lookup"
    #: Back home with a binding left: Lifetime 0 sent to its home agent.
    DEREGISTER_FROM_HOME = "deregister-from-home"
    #: No foreign agent to register through (none heard, or all busy).
    NO_FOREIGN_AGENT = "no-foreign-agent"
    #: max-outstanding registrations in flight: it waits in the queue.
    NO_SLOT = "no-slot"
    #: A Registration Request was sent for it.
    REQUEST_SENT = "request-sent"
    #: Its registration was accepted.
    ACCEPTED = "accepted"
    #: Its registration was denied.
    DENIED = "denied"
    #: No reply after every retransmission.
    NO_REPLY = "no-reply"
    #: Its exchange ended without a result (a new one follows at once).
    EXCHANGE_ENDED = "exchange-ended"
    #: Given up by choice (new address, lost home agent or SA, leaving).
    WITHDRAWN = "withdrawn"
    #: It left while registered: Lifetime 0 sent, the answer awaited.
    LEAVING = "leaving"
    #: Its deregistration from home was answered (or given up).
    DEREGISTERED = "deregistered"


S = VisitorState
E = VisitorEvent

#: The state each event leads to.
TARGET: Mapping[VisitorEvent, VisitorState] = {
    E.INTERFACE_NOT_ENABLED: S.NOT_ENABLED,
    E.FOUND_AT_HOME: S.AT_HOME,
    E.NO_HOME_AGENT: S.NO_HOME_AGENT,
    E.NO_SECURITY_ASSOCIATION: S.NO_SECURITY_ASSOCIATION,
    E.ADDRESS_CONFLICT: S.ASSOCIATED,
    E.SA_LOOKUP: S.SA_PENDING,
    E.DEREGISTER_FROM_HOME: S.DEREGISTERING,
    E.NO_FOREIGN_AGENT: S.WAITING_FOR_AGENT,
    E.NO_SLOT: S.QUEUED,
    E.REQUEST_SENT: S.PENDING,
    E.ACCEPTED: S.REGISTERED,
    E.DENIED: S.DENIED,
    E.NO_REPLY: S.FAILED,
    E.EXCHANGE_ENDED: S.ASSOCIATED,
    E.WITHDRAWN: S.ASSOCIATED,
    E.LEAVING: S.DEREGISTERING,
    E.DEREGISTERED: S.AT_HOME,
}

#: The states "what to do with this address" (``ProxyAgent._evaluate``) runs
#: from: a new or withdrawn visitor (ASSOCIATED), a re-evaluation after a
#: configuration change, a RADIUS answer or retry.
_EVALUATED = frozenset({S.ASSOCIATED, S.NO_HOME_AGENT, S.SA_PENDING, S.NOT_ENABLED})

#: Where each event may happen. A registration exchange ends (EXCHANGE_ENDED:
#: PENDING -> ASSOCIATED, its slot among max-outstanding freed) before its
#: outcome is taken (ACCEPTED, DENIED, NO_REPLY), unless a retry is asked at
#: once (69, 133, reverse tunnelling: REQUEST_SENT from PENDING, the slot
#: kept). A visitor given up (WITHDRAWN) is ASSOCIATED again, then LEAVING
#: if it held a registration and left.
_SOURCES: Mapping[VisitorEvent, frozenset[VisitorState]] = {
    E.INTERFACE_NOT_ENABLED: _EVALUATED | {S.AT_HOME, S.NO_SECURITY_ASSOCIATION},
    E.FOUND_AT_HOME: frozenset({S.ASSOCIATED, S.AT_HOME, S.NOT_ENABLED}),
    E.NO_HOME_AGENT: _EVALUATED | {S.NO_SECURITY_ASSOCIATION},
    E.NO_SECURITY_ASSOCIATION: _EVALUATED,
    E.ADDRESS_CONFLICT: _EVALUATED,
    E.SA_LOOKUP: frozenset({S.ASSOCIATED, S.NO_HOME_AGENT, S.NO_SECURITY_ASSOCIATION,
                            S.NOT_ENABLED}),
    E.DEREGISTER_FROM_HOME: frozenset({S.AT_HOME}),
    E.NO_FOREIGN_AGENT: _EVALUATED | {S.WAITING_FOR_AGENT, S.QUEUED, S.REGISTERED, S.DENIED,
                                      S.FAILED},
    E.NO_SLOT: _EVALUATED | {S.WAITING_FOR_AGENT, S.REGISTERED, S.DENIED, S.FAILED},
    E.REQUEST_SENT: _EVALUATED | {S.WAITING_FOR_AGENT, S.QUEUED, S.PENDING, S.REGISTERED,
                                  S.DENIED, S.FAILED},
    E.ACCEPTED: frozenset({S.ASSOCIATED}),
    E.DENIED: frozenset({S.ASSOCIATED}),
    E.NO_REPLY: frozenset({S.ASSOCIATED}),
    E.EXCHANGE_ENDED: frozenset({S.PENDING}),
    E.WITHDRAWN: frozenset(set(S) - {S.PENDING}),
    E.LEAVING: frozenset({S.ASSOCIATED}),
    E.DEREGISTERED: frozenset({S.DEREGISTERING}),
}

TRANSITIONS: Mapping[tuple[VisitorState, VisitorEvent], VisitorState] = {
    (state, event): TARGET[event] for event, states in _SOURCES.items() for state in states
}
