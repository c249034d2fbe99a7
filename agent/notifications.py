"""Engine events as the YANG module's notifications (RFC 7950 §7.16), RFC 7951
JSON content keyed by notification name. Events that the module does not model
(refreshes, drops) map to nothing. No event carries key material."""

from __future__ import annotations

from typing import Any

from agent.mobileip import events as ev

_REASONS = {
    ev.ViolationReason.NO_MOBILITY_SECURITY_ASSOCIATION: "no-mobility-security-association",
    ev.ViolationReason.BAD_AUTHENTICATOR: "bad-authenticator",
    ev.ViolationReason.BAD_IDENTIFIER: "bad-identifier",
    ev.ViolationReason.BAD_SPI: "bad-spi",
    ev.ViolationReason.MISSING_SECURITY_EXTENSION: "missing-security-extension",
    ev.ViolationReason.OTHER: "other",
}


def notification_for(role: str, event: object) -> tuple[str, dict[str, Any]] | None:
    """(notification name, content) for an engine event, or None."""
    if isinstance(event, ev.BindingCreated):
        return "binding-created", {
            "home-address": str(event.home_address),
            "care-of-address": str(event.care_of_address),
            "lifetime": min(event.lifetime, 0xFFFF),
            "source-address": str(event.source),
        }
    if isinstance(event, ev.BindingDeleted):
        return "binding-deleted", {
            "home-address": str(event.home_address),
            "care-of-address": str(event.care_of_address),
            "reason": event.reason.value,
        }
    if isinstance(event, ev.RegistrationDenied):
        return "registration-denied", {
            "role": role,
            "home-address": str(event.home_address),
            "home-agent": str(event.home_agent),
            "code": event.code,
            "source-address": str(event.source),
        }
    if isinstance(event, ev.ClientRegistrationDenied):
        denied: dict[str, Any] = {
            "role": "proxy",
            "home-address": str(event.home_address),
            "code": event.code,
            "mac": event.mac,
        }
        if event.binding_lost:
            denied["binding-lost"] = True
        return "registration-denied", denied
    if isinstance(event, ev.AuthenticationFailed):
        content: dict[str, Any] = {"peer-address": str(event.peer), "reason": _REASONS[event.reason]}
        if event.spi is not None:
            content["spi"] = event.spi
        if event.mac is not None:
            content["mac"] = event.mac
        if event.home_address is not None:
            content["home-address"] = str(event.home_address)
        return "authentication-failure", content
    if isinstance(event, ev.VisitorAdded):
        return "visitor-added", {
            "home-address": str(event.home_address),
            "home-agent": str(event.home_agent),
            "care-of-address": str(event.care_of_address),
            "lifetime": min(event.lifetime, 0xFFFF),
        }
    if isinstance(event, ev.VisitorRemoved):
        return "visitor-removed", {
            "home-address": str(event.home_address),
            "home-agent": str(event.home_agent),
            "reason": event.reason.value,
        }
    if isinstance(event, ev.ClientRegistered):
        return "client-registered", {
            "mac": event.mac,
            "home-address": str(event.home_address),
            "home-agent": str(event.home_agent),
            "care-of-address": str(event.care_of_address),
            "lifetime": min(event.lifetime, 0xFFFF),
        }
    if isinstance(event, ev.ClientRegistrationFailed):
        failed: dict[str, Any] = {
            "mac": event.mac, "home-address": str(event.home_address), "reason": event.reason,
        }
        if event.binding_lost:
            failed["binding-lost"] = True
        return "client-registration-failed", failed
    if isinstance(event, ev.ClientDeregistered):
        return "client-deregistered", {"mac": event.mac, "home-address": str(event.home_address)}
    return None
