"""Where the package's data files are, installed from a wheel or in a checkout.

The YANG modules (``yang/``) and the MIB texts (``mibs/``) live at the top of
the repository; a wheel carries them inside the package as ``agent/data/yang``
and ``agent/data/mibs`` (pyproject.toml, ``force-include``). An editable
install runs the checkout's ``agent/``, which has no ``data/``: there the
directories beside ``agent/`` are the ones. The RADIUS dictionary is in the
package in both cases (``agent/radius/dictionary``).

The package must be on a file system (libyang and pyrad open paths), which
both a wheel install and a checkout are.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE / "data" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"the package's {name}/ directory is missing: looked in {installed} and {checkout}"
    )


def yang_dir() -> Path:
    """The directory of the YANG modules (``proxy-mobile-ip.yang``, ``ietf/``)."""
    return _data_dir("yang")


def mib_dir() -> Path:
    """The directory of the MIB texts (PROXY-MOBILE-IP-MIB, MIP-MIB, ``base/``)."""
    return _data_dir("mibs")


def radius_dictionary() -> Path:
    """The RADIUS dictionary pyrad loads (RFC 2865 attributes, Cisco-AVPair)."""
    return _PACKAGE / "radius" / "dictionary"
