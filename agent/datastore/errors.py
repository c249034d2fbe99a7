"""Structured datastore errors, ready to become a NETCONF ``<rpc-error>`` (RFC 6241
Appendix A) or an SNMP error-status (RFC 3416 §4.2.5)."""

from __future__ import annotations

from agent.schema.errors import VIOLATIONS, YANG_NS, ErrorTag, Violation

# ErrorTag, Violation, VIOLATIONS and YANG_NS are the schema core's
# (agent.schema.errors); they are part of DatastoreError's interface.
__all__ = [
    "SNMP_ERROR_STATUS", "VIOLATIONS", "YANG_NS", "DatastoreError", "ErrorTag", "Violation",
]

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
    # Refusals from across the plane boundary (the control plane restarting,
    # a veto with another tag): RFC 3416 §4.2.5's nearest error-status.
    ErrorTag.RESOURCE_DENIED: "resourceUnavailable",
    ErrorTag.TOO_BIG: "resourceUnavailable",
    ErrorTag.ROLLBACK_FAILED: "undoFailed",
    ErrorTag.PARTIAL_OPERATION: "undoFailed",
    ErrorTag.MISSING_ATTRIBUTE: "genErr",
    ErrorTag.BAD_ATTRIBUTE: "genErr",
    ErrorTag.UNKNOWN_ATTRIBUTE: "genErr",
    ErrorTag.UNKNOWN_NAMESPACE: "genErr",
    ErrorTag.MALFORMED_MESSAGE: "genErr",
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
