#!/usr/bin/env bash
# One-step set-up on a fresh Debian 12 machine (idempotent):
#   - Debian packages the agent and its tests need (when run as root; otherwise
#     it says which are missing),
#   - a virtual environment in .venv with the agent installed (editable) and,
#     with --test, the test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# Runtime: libyang (YANG validation), a compiler and headers for its Python binding.
APT_RUNTIME="python3 python3-venv python3-dev build-essential libyang2-dev pkg-config"
# Tests: independent oracles and real peers (systemd: systemd-analyze; strace: the unit's sandbox test).
APT_TEST="tshark libyang2-tools smitools snmp snmptrapd iproute2 freeradius freeradius-utils hostapd wpasupplicant systemd strace"

apt_missing() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  echo "${missing[@]:-}"
}

pkgs="$APT_RUNTIME"
[ $want_test = 1 ] && pkgs="$pkgs $APT_TEST"
missing=$(apt_missing $pkgs)
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "setup: please install (as root): apt-get install $missing" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
if [ $want_test = 1 ]; then
  .venv/bin/python -m pip install -q -e ".[test,ansible]"
else
  .venv/bin/python -m pip install -q -e .
fi
