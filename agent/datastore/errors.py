"""Structured datastore errors, ready to become a NETCONF ``<rpc-error>`` (RFC 6241
Appendix A) or an SNMP error-status (RFC 3416 §4.2.5)."""

from __future__ import annotations

import enum


class ErrorTag(enum.Enum):
    """RFC 6241 Appendix A error-tag values used by the datastore."""

    IN_USE = "in-use"
    INVALID_VALUE = "invalid-value"
    MISSING_ELEMENT = "missing-element"
    BAD_ELEMENT = "bad-element"
    UNKNOWN_ELEMENT = "unknown-element"
    ACCESS_DENIED = "access-denied"
    LOCK_DENIED = "lock-denied"
    DATA_EXISTS = "data-exists"
    DATA_MISSING = "data-missing"
    OPERATION_NOT_SUPPORTED = "operation-not-supported"
    OPERATION_FAILED = "operation-failed"


#: How each error-tag reads to an SNMP manager (RFC 3416 §4.2.5 error-status).
SNMP_ERROR_STATUS = {
    ErrorTag.IN_USE: "resourceUnavailable",
    ErrorTag.LOCK_DENIED: "resourceUnavailable",
    ErrorTag.INVALID_VALUE: "wrongValue",
    ErrorTag.MISSING_ELEMENT: "inconsistentValue",
    ErrorTag.BAD_ELEMENT: "wrongValue",
    ErrorTag.UNKNOWN_ELEMENT: "noCreation",
    ErrorTag.ACCESS_DENIED: "noAccess",
    ErrorTag.DATA_EXISTS: "inconsistentValue",
    ErrorTag.DATA_MISSING: "noCreation",
    ErrorTag.OPERATION_NOT_SUPPORTED: "genErr",
    ErrorTag.OPERATION_FAILED: "commitFailed",
}


#: The namespace of the <error-info> elements RFC 7950 §15 defines
#: (<non-unique>, <missing-choice>).
YANG_NS = "urn:ietf:params:xml:ns:yang:1"


class Violation(enum.Enum):
    """Which YANG rule a document broke, as RFC 7950 tells them apart: each has
    its error-tag (and, for §15, its default error-app-tag) in ``VIOLATIONS``."""

    TYPE = "type"  # a value outside its type, range, length or pattern
    UNKNOWN_NODE = "unknown-node"
    WHEN = "when"
    MISSING_KEY = "missing-key"
    BOTH_CASES = "both-cases"
    MANDATORY = "mandatory"
    DUPLICATE = "duplicate"
    UNIQUE = "unique"
    MAX_ELEMENTS = "max-elements"
    MIN_ELEMENTS = "min-elements"
    MUST = "must"
    INSTANCE_REQUIRED = "instance-required"
    MISSING_CHOICE = "missing-choice"
    SYNTAX = "syntax"


#: Violation -> (error-tag, default error-app-tag). A ``must`` statement's own
#: error-app-tag replaces the default (RFC 7950 §15, first paragraph).
VIOLATIONS: dict[Violation, tuple[ErrorTag, str | None]] = {
    # RFC 7950 §8.3.1: a value that does not match its type is invalid-value.
    Violation.TYPE: (ErrorTag.INVALID_VALUE, None),
    # §8.3.1: data for a node the schema does not have, or whose "when" is
    # false (§8.3.2 for edits), is unknown-element.
    Violation.UNKNOWN_NODE: (ErrorTag.UNKNOWN_ELEMENT, None),
    Violation.WHEN: (ErrorTag.UNKNOWN_ELEMENT, None),
    # §8.3.1: a list entry without all its keys is missing-element; data for
    # more than one case of a choice is bad-element.
    Violation.MISSING_KEY: (ErrorTag.MISSING_ELEMENT, None),
    Violation.BOTH_CASES: (ErrorTag.BAD_ELEMENT, None),
    # A missing mandatory leaf, anydata or container: RFC 7950 §15 names no tag;
    # RFC 6241 Appendix A "missing-element: an expected element is missing",
    # with <bad-element> naming it.
    Violation.MANDATORY: (ErrorTag.MISSING_ELEMENT, None),
    # Two instances of one leaf or list entry: RFC 6241 Appendix A data-exists.
    Violation.DUPLICATE: (ErrorTag.DATA_EXISTS, None),
    Violation.UNIQUE: (ErrorTag.OPERATION_FAILED, "data-not-unique"),  # §15.1
    Violation.MAX_ELEMENTS: (ErrorTag.OPERATION_FAILED, "too-many-elements"),  # §15.2
    Violation.MIN_ELEMENTS: (ErrorTag.OPERATION_FAILED, "too-few-elements"),  # §15.3
    Violation.MUST: (ErrorTag.OPERATION_FAILED, "must-violation"),  # §15.4
    Violation.INSTANCE_REQUIRED: (ErrorTag.DATA_MISSING, "instance-required"),  # §15.5
    Violation.MISSING_CHOICE: (ErrorTag.DATA_MISSING, "missing-choice"),  # §15.6
    # Not well-formed: RFC 6241 Appendix A malformed-message is for the RPC as
    # a whole; inside <config> it is a value the server cannot take.
    Violation.SYNTAX: (ErrorTag.INVALID_VALUE, None),
}


class DatastoreError(Exception):
    """``info``: <error-info> children in the NETCONF base namespace (RFC 6241
    Appendix A: bad-element, session-id...); ``yang_info``: (name, value) pairs
    in the YANG namespace (RFC 7950 §15: non-unique, missing-choice), in order,
    a name possibly repeated."""

    def __init__(
        self,
        tag: ErrorTag,
        message: str,
        *,
        path: str | None = None,
        app_tag: str | None = None,
        info: dict[str, str] | None = None,
        yang_info: tuple[tuple[str, str], ...] = (),
        violation: Violation | None = None,
    ) -> None:
        super().__init__(f"{tag.value}: {path + ': ' if path else ''}{message}")
        self.tag = tag
        self.message = message
        self.path = path
        self.app_tag = app_tag
        self.info = info or {}
        self.yang_info = yang_info
        self.violation = violation

    @property
    def snmp_error_status(self) -> str:
        # RFC 3416 §4.2.5: a value refused because of other values (a must,
        # unique, element count, reference or choice rule) is inconsistentValue;
        # commitFailed is for a failure while applying.
        if self.violation in _INCONSISTENT:
            return "inconsistentValue"
        return SNMP_ERROR_STATUS[self.tag]


_INCONSISTENT = frozenset({
    Violation.MUST, Violation.UNIQUE, Violation.MAX_ELEMENTS, Violation.MIN_ELEMENTS,
    Violation.INSTANCE_REQUIRED, Violation.MISSING_CHOICE,
})
