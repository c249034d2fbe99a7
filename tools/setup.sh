#!/usr/bin/env bash
# One-step set-up on a fresh Debian 12 machine (idempotent):
#   - Debian packages the agent and its tests need (when run as root; otherwise
#     it says which are missing),
#   - a virtual environment in .venv with the agent installed (editable) and,
#     with --test, the test dependencies: every package at the version and hash
#     of the lock files in tools/ (tools/lock.sh refreshes them).
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# Runtime: libyang (YANG validation), a compiler and headers for its Python binding.
APT_RUNTIME="python3 python3-venv python3-dev build-essential libyang2-dev pkg-config"
# Tests: independent oracles and real peers (systemd: systemd-analyze; strace: the unit's sandbox
# test; fail2ban: fail2ban-regex on the NETCONF failure log lines).
APT_TEST="tshark libyang2-tools smitools snmp snmptrapd iproute2 freeradius freeradius-utils hostapd wpasupplicant fail2ban systemd strace"

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
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip_install=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# pip itself and the build tools first, pinned and hashed; every build after
# that (libyang and pytricia come as source, the agent) runs without isolation
# on these, so nothing is downloaded that the locks do not name.
"${pip_install[@]}" --require-hashes -r tools/requirements-build.lock
lock=tools/requirements.lock
[ $want_test = 1 ] && lock=tools/requirements-test.lock
"${pip_install[@]}" --require-hashes --no-build-isolation -r "$lock"
"${pip_install[@]}" --no-deps --no-build-isolation -e .
