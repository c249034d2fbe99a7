"""What a broken YANG rule is worth on the wire: the RFC 6241 Appendix A
error-tags, the RFC 7950 violation kinds with their error-tag and default
error-app-tag (``VIOLATIONS``), and ``ConfigError``, the validator's error.

The datastore turns these into ``DatastoreError`` (``agent.datastore.errors``),
NETCONF into ``<rpc-error>``, the startup loader into a one-line message."""

from __future__ import annotations

import enum


class ErrorTag(enum.Enum):
    """RFC 6241 Appendix A error-tag values, every one (the datastore raises
    some; a refusal from across the plane boundary may carry any of them)."""

    IN_USE = "in-use"
    INVALID_VALUE = "invalid-value"
    TOO_BIG = "too-big"
    MISSING_ATTRIBUTE = "missing-attribute"
    BAD_ATTRIBUTE = "bad-attribute"
    UNKNOWN_ATTRIBUTE = "unknown-attribute"
    MISSING_ELEMENT = "missing-element"
    BAD_ELEMENT = "bad-element"
    UNKNOWN_ELEMENT = "unknown-element"
    UNKNOWN_NAMESPACE = "unknown-namespace"
    ACCESS_DENIED = "access-denied"
    LOCK_DENIED = "lock-denied"
    RESOURCE_DENIED = "resource-denied"
    ROLLBACK_FAILED = "rollback-failed"
    DATA_EXISTS = "data-exists"
    DATA_MISSING = "data-missing"
    OPERATION_NOT_SUPPORTED = "operation-not-supported"
    OPERATION_FAILED = "operation-failed"
    PARTIAL_OPERATION = "partial-operation"
    MALFORMED_MESSAGE = "malformed-message"


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



class ConfigError(ValueError):
    """A configuration document is unusable.

    ``path`` is the data path of the offending node (a file or directory path when
    the document or the YANG modules cannot be read); ``detail`` libyang's rule or
    the engine's reason; ``app_tag`` the RFC 7950 error-app-tag when there is one
    (a ``must`` rule's, or a built-in one such as ``missing-choice``); ``line`` the
    line libyang stopped at, when it says. ``violation`` is the YANG rule broken
    (``agent.schema.violations``), ``info`` / ``yang_info`` the <error-info>
    children RFC 6241 Appendix A / RFC 7950 §15 ask for. Never holds key material."""

    def __init__(
        self,
        path: str,
        detail: str,
        *,
        app_tag: str | None = None,
        line: int | None = None,
        violation: Violation | None = None,
        info: dict[str, str] | None = None,
        yang_info: tuple[tuple[str, str], ...] = (),
    ) -> None:
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"{path}: {detail}{where}")
        self.path = path
        self.detail = detail
        self.app_tag = app_tag
        self.line = line
        self.violation = violation
        self.info = info or {}
        self.yang_info = yang_info
