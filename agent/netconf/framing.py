"""NETCONF message framing over SSH (RFC 6242 §4), sans-IO.

Two framings share one byte stream: every session starts with the
end-of-message framing of base:1.0 (§4.3, messages end with ``]]>]]>``), and
switches to chunked framing (§4.2) right after the <hello> exchange when both
peers advertise base:1.1 (§4.1). The switch happens between two messages of
the same stream, so the decoder hands out one message at a time
(:meth:`Framer.next_message`): the caller can change :attr:`Framer.mode` after
reading the <hello> and before the bytes that follow it are decoded.

The chunked decoder is strict (RFC 6242 §4.2 ABNF)::

    Chunked-Message = 1*chunk end-of-chunks
    chunk           = LF HASH chunk-size LF chunk-data
    chunk-size      = 1*DIGIT1 0*DIGIT          ; 1..4294967295, no leading 0
    end-of-chunks   = LF HASH HASH LF

Anything else (a missing LF, a leading zero, an 11-digit size, bytes between
messages) raises :class:`FramingError`; after it the framer refuses further
input, because a byte stream whose framing is lost cannot be resynchronised.
"""

from __future__ import annotations

import collections
import enum
import secrets

#: RFC 6242 §4.3: the base:1.0 end-of-message delimiter.
END_OF_MESSAGE = b"]]>]]>"
#: RFC 6242 §4.2: the largest chunk-size.
MAX_CHUNK_SIZE = 4294967295
#: Digits in MAX_CHUNK_SIZE: a header longer than this is malformed.
_MAX_CHUNK_DIGITS = len(str(MAX_CHUNK_SIZE))
_END_OF_CHUNKS = b"\n##\n"
#: The largest chunk we send. RFC 6242 §4.2 allows up to MAX_CHUNK_SIZE, but
#: clients re-scan their buffer per chunk: ncclient 0.7.1's chunk parser
#: decodes its whole receive buffer on every read, so one 20 MB chunk (a
#: 100,000-row <get>) cost it 359 s; 64 KiB chunks bound the rescans to the
#: chunk, as libnetconf2's bounded write buffer does.
SEND_CHUNK_SIZE = 65536
_DIGITS = frozenset(b"0123456789")


#: Spliced XML (see splice_marker): token -> the bytes its marker stands for.
_SPLICED: collections.OrderedDict[str, bytes] = collections.OrderedDict()
#: Markers not yet encoded kept at most (a reply that is never sent, e.g. one
#: that failed after its state was built, must not keep its text forever).
_SPLICED_MAX = 4
_SPLICE_TARGET = "proxymip-splice"
_SPLICE_OPEN = b"<?" + _SPLICE_TARGET.encode() + b" "


def splice_marker(xml: bytes) -> str:
    """A processing instruction that :meth:`Framer.encode` replaces with
    ``xml`` (well-formed XML content, UTF-8) when it meets it in a serialized
    message: a large read's text is placed into the reply as it is, instead
    of being parsed into the reply's tree and serialized again. The token is
    random (a peer cannot name another reply's text) and used once; a client
    cannot put a processing instruction into a reply (their text is always
    escaped). At most the last few unsent markers are kept."""
    token = secrets.token_hex(16)
    _SPLICED[token] = xml
    while len(_SPLICED) > _SPLICED_MAX:
        _SPLICED.popitem(last=False)
    return f"<?{_SPLICE_TARGET} {token}?>"


def _spliced(message: bytes) -> bytes:
    """``message`` with every splice marker replaced by its text."""
    at = message.find(_SPLICE_OPEN)
    if at < 0:
        return message
    parts: list[bytes] = []
    start = 0
    while at >= 0:
        end = message.find(b"?>", at)
        if end < 0:
            break
        token = message[at + len(_SPLICE_OPEN):end].decode("ascii", "replace").strip()
        xml = _SPLICED.pop(token, None)
        if xml is None:
            # Our bug (a marker encoded twice, or dropped as too old): never
            # send a reply with a hole in it.
            raise ValueError("a spliced reply's text is gone")
        parts += (message[start:at], xml)
        start = end + 2
        at = message.find(_SPLICE_OPEN, start)
    parts.append(message[start:])
    return b"".join(parts)


class FramingMode(enum.Enum):
    #: base:1.0 end-of-message framing (RFC 6242 §4.3).
    EOM = "end-of-message"
    #: base:1.1 chunked framing (RFC 6242 §4.2).
    CHUNKED = "chunked"


class FramingReason(enum.Enum):
    """Why the peer's byte stream was refused."""

    MESSAGE_TOO_BIG = "message-too-big"
    BAD_CHUNK_HEADER = "bad-chunk-header"
    BAD_CHUNK_SIZE = "bad-chunk-size"
    EMPTY_CHUNKED_MESSAGE = "empty-chunked-message"
    FRAMING_LOST = "framing-lost"


class FramingError(Exception):
    """The peer's byte stream violates RFC 6242 framing or our size limit
    (a remote protocol error: the session must end)."""

    def __init__(self, reason: FramingReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class Framer:
    """Decodes the peer's byte stream into messages and encodes ours.

    ``max_message_size`` bounds one decoded message (the payload, without
    framing bytes); it is enforced as soon as the bytes received (or a chunk
    header announcing more) prove the message would exceed it, so a peer
    cannot make us buffer more than about ``max_message_size`` bytes.
    """

    def __init__(self, *, max_message_size: int,
                 mode: FramingMode = FramingMode.EOM) -> None:
        if max_message_size < 1:
            raise ValueError("max_message_size must be positive")
        self.max_message_size = max_message_size
        self.mode = mode
        self._buffer = bytearray()
        # EOM: how far the buffer was already searched for the delimiter,
        # so byte-by-byte input is not rescanned from the start (O(n^2)).
        self._scanned = 0
        # CHUNKED: chunks of the message being assembled, and its size.
        self._chunks: list[bytes] = []
        self._chunked_size = 0
        # CHUNKED: bytes of chunk-data still expected for the current chunk.
        self._chunk_remaining = 0
        self._failed: FramingError | None = None

    # -- decoding ---------------------------------------------------------

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every message now complete, in the
        current mode. Raises :class:`FramingError`."""
        self.receive_data(data)
        messages = []
        while (message := self.next_message()) is not None:
            messages.append(message)
        return messages

    def receive_data(self, data: bytes) -> None:
        """Add received bytes without decoding them yet."""
        if self._failed is not None:
            raise self._failed
        self._buffer += data

    def next_message(self) -> bytes | None:
        """The next complete message in the current mode, or None when more
        bytes are needed. Raises :class:`FramingError` (and keeps raising)."""
        if self._failed is not None:
            raise self._failed
        try:
            if self.mode is FramingMode.EOM:
                return self._next_eom()
            return self._next_chunked()
        except FramingError as exc:
            self._failed = exc
            self._buffer.clear()
            self._chunks.clear()
            raise

    @property
    def mid_message(self) -> bool:
        """True when part of a message has been received."""
        return bool(self._buffer) or bool(self._chunks) or self._chunk_remaining > 0

    def _next_eom(self) -> bytes | None:
        start = max(0, self._scanned - (len(END_OF_MESSAGE) - 1))
        index = self._buffer.find(END_OF_MESSAGE, start)
        if index < 0:
            self._scanned = len(self._buffer)
            # The last 5 bytes may be the start of a delimiter; everything
            # before them is message payload.
            if len(self._buffer) - (len(END_OF_MESSAGE) - 1) > self.max_message_size:
                raise FramingError(FramingReason.MESSAGE_TOO_BIG,
                                   f"message exceeds {self.max_message_size} bytes")
            return None
        if index > self.max_message_size:
            raise FramingError(FramingReason.MESSAGE_TOO_BIG,
                               f"message of {index} bytes exceeds {self.max_message_size}")
        message = bytes(self._buffer[:index])
        del self._buffer[:index + len(END_OF_MESSAGE)]
        self._scanned = 0
        return message

    def _next_chunked(self) -> bytes | None:
        while True:
            if self._chunk_remaining:
                take = min(self._chunk_remaining, len(self._buffer))
                if take == 0:
                    return None
                self._chunks.append(bytes(self._buffer[:take]))
                del self._buffer[:take]
                self._chunk_remaining -= take
                continue
            header = self._parse_chunk_header()
            if header is None:
                return None
            if header == 0:  # end-of-chunks
                message = b"".join(self._chunks)
                self._chunks.clear()
                self._chunked_size = 0
                return message
            self._chunked_size += header
            self._chunk_remaining = header

    def _parse_chunk_header(self) -> int | None:
        """Consume one chunk header: its size, 0 for end-of-chunks, or None
        if incomplete. Every prefix is checked as soon as it arrives, so
        garbage fails at once instead of waiting for a LF."""
        buffer = self._buffer
        if not buffer:
            return None
        if buffer[0] != 0x0A:  # LF
            raise FramingError(FramingReason.BAD_CHUNK_HEADER,
                               f"expected LF, got {bytes(buffer[:1])!r}")
        if len(buffer) < 2:
            return None
        if buffer[1] != 0x23:  # HASH
            raise FramingError(FramingReason.BAD_CHUNK_HEADER,
                               f"expected '#', got {bytes(buffer[1:2])!r}")
        if len(buffer) < 3:
            return None
        if buffer[2] == 0x23:  # second HASH: end-of-chunks
            if len(buffer) < 4:
                return None
            if buffer[3] != 0x0A:
                raise FramingError(FramingReason.BAD_CHUNK_HEADER,
                                   "end-of-chunks not followed by LF")
            if not self._chunks:
                raise FramingError(FramingReason.EMPTY_CHUNKED_MESSAGE,
                                   "end-of-chunks before any chunk")
            del buffer[:4]
            return 0
        if buffer[2] not in _DIGITS or buffer[2] == 0x30:  # DIGIT1: no leading zero
            raise FramingError(FramingReason.BAD_CHUNK_SIZE,
                               f"chunk-size must start with 1-9, got {bytes(buffer[2:3])!r}")
        end = 3
        while end < len(buffer) and buffer[end] in _DIGITS:
            end += 1
            if end - 2 > _MAX_CHUNK_DIGITS:
                raise FramingError(FramingReason.BAD_CHUNK_SIZE, "chunk-size has too many digits")
        if end == len(buffer):
            return None
        if buffer[end] != 0x0A:
            raise FramingError(FramingReason.BAD_CHUNK_HEADER,
                               f"chunk-size followed by {bytes(buffer[end:end + 1])!r}, not LF")
        size = int(buffer[2:end])
        if size > MAX_CHUNK_SIZE:
            raise FramingError(FramingReason.BAD_CHUNK_SIZE,
                               f"chunk-size {size} exceeds {MAX_CHUNK_SIZE}")
        if self._chunked_size + size > self.max_message_size:
            raise FramingError(
                FramingReason.MESSAGE_TOO_BIG,
                f"chunk of {size} bytes makes the message exceed {self.max_message_size}")
        del buffer[:end + 1]
        return size

    # -- encoding ---------------------------------------------------------

    def encode(self, message: bytes) -> bytes:
        """Frame one of our messages in the current mode, its splice markers
        replaced by their text (:func:`splice_marker`). Raises ValueError
        for a message the mode cannot carry (our bug, not the peer's)."""
        message = _spliced(message)
        if self.mode is FramingMode.EOM:
            if END_OF_MESSAGE in message:
                raise ValueError("message contains the base:1.0 end-of-message delimiter")
            return message + END_OF_MESSAGE
        if not message:
            raise ValueError("chunked framing cannot carry an empty message")
        frames = []
        offset = 0
        while offset < len(message):
            end = min(offset + SEND_CHUNK_SIZE, len(message))
            # Cut between UTF-8 characters, never inside one: RFC 6242 chunks
            # are octets, but clients decode chunk by chunk (ncclient 0.7.1's
            # textify per chunk would fail on half a character).
            while end < len(message) and (message[end] & 0xC0) == 0x80 and end > offset + 1:
                end -= 1
            frames.append(b"\n#%d\n" % (end - offset))
            frames.append(message[offset:end])
            offset = end
        frames.append(_END_OF_CHUNKS)
        return b"".join(frames)
