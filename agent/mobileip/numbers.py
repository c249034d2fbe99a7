"""Wire numbers of Mobile IPv4, named as the IANA "Mobile IPv4 Numbers" registry names them.

Message types and reply codes: RFC 5944 §3.3, §3.4 (and RFC 3024, RFC 3543 for the
reverse-tunnelling and revocation additions). Extension types: RFC 5944 §1.9, §3.5,
§2.1.1; RFC 2794 (NAI); RFC 3024 (encapsulating delivery style).
"""

from __future__ import annotations

import enum

#: RFC 5944 §3.1: the agent listens on UDP port 434.
MOBILE_IP_PORT = 434

#: RFC 5944 §3.3: Lifetime 0xffff means infinity.
INFINITE_LIFETIME = 0xFFFF

#: RFC 5944 §1.6 (terminology, "Security Parameter Index"): SPIs 0-255 are reserved.
MIN_SPI = 256


class MessageType(enum.IntEnum):
    """UDP/434 message types (RFC 5944 §3.3, §3.4; RFC 3543)."""

    REGISTRATION_REQUEST = 1
    REGISTRATION_REPLY = 3
    REGISTRATION_REVOCATION = 7
    REGISTRATION_REVOCATION_ACK = 15


class ReplyCode(enum.IntEnum):
    """Registration Reply codes (RFC 5944 §3.4; RFC 3024 §3.3, §3.4)."""

    ACCEPTED = 0
    ACCEPTED_NO_SIMULTANEOUS_BINDINGS = 1
    # Denied by the foreign agent.
    FA_REASON_UNSPECIFIED = 64
    FA_ADMINISTRATIVELY_PROHIBITED = 65
    FA_INSUFFICIENT_RESOURCES = 66
    FA_MOBILE_NODE_FAILED_AUTHENTICATION = 67
    FA_HOME_AGENT_FAILED_AUTHENTICATION = 68
    FA_REQUESTED_LIFETIME_TOO_LONG = 69
    FA_POORLY_FORMED_REQUEST = 70
    FA_POORLY_FORMED_REPLY = 71
    FA_REQUESTED_ENCAPSULATION_UNAVAILABLE = 72
    FA_RESERVED_AND_UNAVAILABLE = 73
    FA_REVERSE_TUNNEL_UNAVAILABLE = 74
    FA_REVERSE_TUNNEL_MANDATORY = 75
    FA_MOBILE_NODE_TOO_DISTANT = 76
    FA_INVALID_CARE_OF_ADDRESS = 77
    FA_REGISTRATION_TIMEOUT = 78
    FA_DELIVERY_STYLE_NOT_SUPPORTED = 79
    FA_HOME_NETWORK_UNREACHABLE = 80
    FA_HOME_AGENT_HOST_UNREACHABLE = 81
    FA_HOME_AGENT_PORT_UNREACHABLE = 82
    FA_HOME_AGENT_UNREACHABLE = 88
    # Denied by the home agent.
    HA_REASON_UNSPECIFIED = 128
    HA_ADMINISTRATIVELY_PROHIBITED = 129
    HA_INSUFFICIENT_RESOURCES = 130
    HA_MOBILE_NODE_FAILED_AUTHENTICATION = 131
    HA_FOREIGN_AGENT_FAILED_AUTHENTICATION = 132
    HA_REGISTRATION_IDENTIFICATION_MISMATCH = 133
    HA_POORLY_FORMED_REQUEST = 134
    HA_TOO_MANY_SIMULTANEOUS_BINDINGS = 135
    HA_UNKNOWN_HOME_AGENT_ADDRESS = 136
    HA_REVERSE_TUNNEL_UNAVAILABLE = 137
    HA_REVERSE_TUNNEL_MANDATORY = 138
    HA_REQUESTED_ENCAPSULATION_UNAVAILABLE = 139

    @property
    def accepted(self) -> bool:
        return self <= ReplyCode.ACCEPTED_NO_SIMULTANEOUS_BINDINGS

    @property
    def denied_by_foreign_agent(self) -> bool:
        return 64 <= self <= 127

    @property
    def denied_by_home_agent(self) -> bool:
        return self >= 128


class ExtensionType(enum.IntEnum):
    """Registration extension types (RFC 5944 §3.5; RFC 2794; RFC 3024; RFC 3543).

    Types 0-127 not understood make the whole message invalid; 128-255 are skipped
    (RFC 5944 §1.9).
    """

    MOBILE_HOME_AUTHENTICATION = 32
    MOBILE_FOREIGN_AUTHENTICATION = 33
    FOREIGN_HOME_AUTHENTICATION = 34
    GENERALIZED_MOBILE_IP_AUTHENTICATION = 36
    ENCAPSULATING_DELIVERY_STYLE = 130
    MOBILE_NODE_NAI = 131


class AdvertisementExtensionType(enum.IntEnum):
    """ICMP Router Advertisement extensions (RFC 5944 §2.1.1-§2.1.3)."""

    ONE_BYTE_PADDING = 0
    MOBILITY_AGENT_ADVERTISEMENT = 16
    PREFIX_LENGTHS = 19


class IcmpType(enum.IntEnum):
    """ICMP types used for agent discovery (RFC 1256, RFC 5944 §2.1, §2.2)."""

    ROUTER_ADVERTISEMENT = 9
    ROUTER_SOLICITATION = 10


class RequestFlag(enum.IntFlag):
    """Registration Request flag bits, MSB first (RFC 5944 §3.3; T from RFC 3024)."""

    SIMULTANEOUS_BINDINGS = 0x80  # S
    BROADCAST = 0x40  # B
    DECAPSULATION_BY_MOBILE_NODE = 0x20  # D
    MINIMAL_ENCAPSULATION = 0x10  # M
    GRE = 0x08  # G
    RESERVED_R = 0x04  # r: sent as zero
    REVERSE_TUNNELING = 0x02  # T
    RESERVED_X = 0x01  # x: sent as zero


#: Bits a sender MUST set to zero (RFC 5944 §3.3).
REQUEST_RESERVED_BITS = RequestFlag.RESERVED_R | RequestFlag.RESERVED_X


class AdvertisementFlag(enum.IntFlag):
    """Mobility Agent Advertisement extension flags (RFC 5944 §2.1.1).

    The first octet; U (RFC 3519) and X (RFC 3543) live in the second octet and are
    kept separately.
    """

    REGISTRATION_REQUIRED = 0x80  # R
    BUSY = 0x40  # B
    HOME_AGENT = 0x20  # H
    FOREIGN_AGENT = 0x10  # F
    MINIMAL_ENCAPSULATION = 0x08  # M
    GRE = 0x04  # G
    RESERVED_R = 0x02  # r: sent as zero
    REVERSE_TUNNELING = 0x01  # T
