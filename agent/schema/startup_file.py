"""Who may read a startup file: it holds the agent's secrets (mobility SA keys,
the RADIUS shared secret, SNMP communities and passphrases, NETCONF password
hashes), so ``proxymip run`` refuses one that holds any of them and that group
or others can access at all, as OpenSSH refuses a private key file whose mode
is not 0600 or stricter ("UNPROTECTED PRIVATE KEY FILE ... Permissions 0644
... are too open"). A file anyone may write is refused whatever it holds: its
writer chooses the agent's keys. ``proxymip config validate`` only warns
(a file is often checked where it is edited, before it is installed).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

#: The configuration leaves marked ``nacm:default-deny-all`` outside the nacm
#: container (RFC 8341 §3.5.2: secrets). A test derives this set from the YANG
#: module and checks it here.
SECRET_LEAVES = frozenset({
    "key-hex", "key-ascii", "shared-secret", "user-password", "password",
    "secret", "auth-passphrase", "priv-passphrase", "trap-community",
})

# A secret leaf as a JSON member name ("key-hex": or "module:key-hex":) or an
# XML element (<key-hex> or <prefix:key-hex ...>). The file is validated
# strictly by libyang, so such a name is that leaf; a false match only makes
# the check stricter.
_NAMES = "|".join(sorted(SECRET_LEAVES, key=len, reverse=True))
_SECRET = re.compile(rf'"(?:[\w.-]+:)?(?:{_NAMES})"\s*:|<(?:[\w.-]+:)?(?:{_NAMES})[\s>/]')


def holds_secrets(text: str) -> bool:
    return _SECRET.search(text) is not None


def read_startup(path: Path) -> tuple[str, int]:
    """The text of ``path`` and its permission bits, from one open file (the
    mode is that of the file read, not of whatever the name points to later)."""
    with open(path, encoding="utf-8") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        return handle.read(), mode


def mode_problem(mode: int, text: str) -> str | None:
    """Why a startup file of permission bits ``mode`` holding ``text`` must
    not be used, or None."""
    if mode & stat.S_IWOTH:
        return f"mode {mode:04o} lets anyone write it (and so choose the agent's keys)"
    if mode & 0o077 and holds_secrets(text):
        return (f"mode {mode:04o} lets group or others at the keys it holds "
                f"(chmod 600 it, as OpenSSH requires of private keys)")
    return None
