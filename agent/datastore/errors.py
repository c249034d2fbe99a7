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


class DatastoreError(Exception):
    def __init__(
        self,
        tag: ErrorTag,
        message: str,
        *,
        path: str | None = None,
        app_tag: str | None = None,
        info: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{tag.value}: {path + ': ' if path else ''}{message}")
        self.tag = tag
        self.message = message
        self.path = path
        self.app_tag = app_tag
        self.info = info or {}

    @property
    def snmp_error_status(self) -> str:
        return SNMP_ERROR_STATUS[self.tag]
