"""Peer-supplied text as it may appear in a log line.

Whatever a NETCONF peer chooses (element names, namespace URIs, parser
messages that quote them, SSH subsystem names) is logged through
:func:`peer_text`: one line, printable ASCII only, and at most
``limit`` characters plus a short "... (N more)" marker. A peer can then
neither flood the log with kilobytes per message nor end the line and forge
another one (such as the "Failed password ... from <address>" lines that
docs/fail2ban/proxymip-netconf.conf reads).
"""

from __future__ import annotations

#: Characters of peer text kept in one log line (after escaping).
PEER_TEXT_LIMIT = 200

_NAMED_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    if " " <= char <= "~" and char != "\\":
        return char
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def peer_text(text: str, limit: int = PEER_TEXT_LIMIT) -> str:
    """``text`` with backslashes, control and non-ASCII characters escaped,
    cut to ``limit`` characters of output followed by "... (N more)", N
    being the characters of ``text`` left out."""
    if limit < 1:
        raise ValueError("limit must be positive")
    out: list[str] = []
    length = 0
    for index, char in enumerate(text):
        piece = _escaped(char)
        if length + len(piece) > limit:
            out.append(f"... ({len(text) - index} more)")
            break
        out.append(piece)
        length += len(piece)
    return "".join(out)
