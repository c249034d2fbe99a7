"""The one import of asyncssh (NETCONF over SSH, RFC 6242), for the server and
the operator commands' client alike.

asyncssh 2.24.1 (the newest release) names ``cryptography``'s DSA classes in
module-level type aliases and signatures, and ``cryptography`` 51 deprecates
DSA: every such name read at import warns (``CryptographyDeprecationWarning``,
five warnings, ten lines on stderr before any output of ``proxymip show``).
Neither side here offers or accepts DSA host or user keys (``ssh-dss`` is off
by default in asyncssh and OpenSSH, RFC 8332 / RFC 9142 deprecate it), so the
warning concerns code we never run. It is ignored while asyncssh is imported,
and for that message only: any other deprecation, and any DSA use afterwards,
still warns. Pinning ``cryptography`` below 51 instead would hold back its
security fixes to hide a warning.
"""

from __future__ import annotations

import warnings

from cryptography.utils import CryptographyDeprecationWarning

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="DSA is deprecated", category=CryptographyDeprecationWarning
    )
    import asyncssh

__all__ = ["asyncssh"]
