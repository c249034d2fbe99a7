"""Registration extensions (RFC 5944 §1.9-§1.11, §3.5).

Three layouts exist: the simple ``Type | Length(8) | Data``, the short form
``Type | Length(8) | SubType | Data`` (parsed as simple) and the long form
``Type | SubType | Length(16) | Data`` (RFC 5944 §1.10), used by the generalised
authentication (RFC 4721) and the critical vendor/organisation specific extensions
(RFC 3115).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from agent.mobileip.errors import DecodeError, DecodeFault
from agent.mobileip.numbers import ExtensionType

#: Types encoded in the long form (RFC 5944 §1.10; RFC 4721 §6; RFC 3115 §3).
LONG_FORM_TYPES = frozenset({36, 37, 38})

#: Extensions this implementation understands in registration messages.
KNOWN_TYPES = frozenset(
    {
        ExtensionType.MOBILE_HOME_AUTHENTICATION,
        ExtensionType.MOBILE_FOREIGN_AUTHENTICATION,
        ExtensionType.FOREIGN_HOME_AUTHENTICATION,
        ExtensionType.MOBILE_NODE_NAI,
        ExtensionType.ENCAPSULATING_DELIVERY_STYLE,
    }
)

AUTHENTICATION_TYPES = frozenset(
    {
        ExtensionType.MOBILE_HOME_AUTHENTICATION,
        ExtensionType.MOBILE_FOREIGN_AUTHENTICATION,
        ExtensionType.FOREIGN_HOME_AUTHENTICATION,
    }
)

_SPI = struct.Struct("!I")


@dataclass(frozen=True, slots=True)
class Extension:
    """One extension as it stood on the wire.

    ``offset`` is where the extension starts in the message; authentication needs it
    because an authenticator covers everything before it (RFC 5944 §3.5.1).
    ``subtype`` is set for the long form only.
    """

    type: int
    data: bytes
    offset: int = 0
    subtype: int | None = None

    @property
    def is_authentication(self) -> bool:
        return self.type in AUTHENTICATION_TYPES

    @property
    def spi(self) -> int:
        """SPI of an authentication extension (RFC 5944 §3.5.1)."""
        return int(_SPI.unpack_from(self.data)[0])

    @property
    def authenticator(self) -> bytes:
        return self.data[4:]

    @property
    def nai(self) -> str:
        """Mobile Node NAI (RFC 2794 §2), decoded as UTF-8."""
        return self.data.decode("utf-8", errors="replace")

    def encode(self) -> bytes:
        if self.subtype is not None:
            return struct.pack("!BBH", self.type, self.subtype, len(self.data)) + self.data
        return bytes((self.type, len(self.data))) + self.data


def parse_extensions(data: bytes, start: int) -> tuple[Extension, ...]:
    """Parse the extensions from ``start`` to the end of ``data``.

    Raises ``DecodeError`` for a truncated extension, a malformed authentication
    extension, or an unknown type below 128 (RFC 5944 §1.9). Unknown types 128-255
    are kept (they are covered by authenticators and relayed) but carry no meaning.
    """
    extensions: list[Extension] = []
    offset = start
    end = len(data)
    while offset < end:
        ext_type = data[offset]
        if ext_type in LONG_FORM_TYPES:
            if offset + 4 > end:
                raise DecodeError(DecodeFault.TRUNCATED, f"long extension header at {offset}")
            subtype = data[offset + 1]
            length = (data[offset + 2] << 8) | data[offset + 3]
            body = offset + 4
        else:
            if offset + 2 > end:
                raise DecodeError(DecodeFault.TRUNCATED, f"extension header at {offset}")
            subtype = None
            length = data[offset + 1]
            body = offset + 2
        if body + length > end:
            raise DecodeError(
                DecodeFault.TRUNCATED,
                f"extension type {ext_type} at {offset} claims {length} bytes, "
                f"{end - body} remain",
            )
        if ext_type in AUTHENTICATION_TYPES and length < 4:
            raise DecodeError(
                DecodeFault.BAD_EXTENSION_LENGTH,
                f"authentication extension type {ext_type} has length {length} < 4",
            )
        if ext_type < 128 and ext_type not in KNOWN_TYPES:
            raise DecodeError(
                DecodeFault.UNKNOWN_NON_SKIPPABLE_EXTENSION,
                f"unrecognised extension type {ext_type} at {offset}",
            )
        extensions.append(Extension(ext_type, data[body : body + length], offset, subtype))
        offset = body + length
    return tuple(extensions)


def encode_authentication_header(ext_type: int, spi: int, authenticator_length: int) -> bytes:
    """Type, Length and SPI of an authentication extension: the part the
    authenticator itself covers (RFC 5944 §3.5.1)."""
    return bytes((ext_type, 4 + authenticator_length)) + _SPI.pack(spi)
