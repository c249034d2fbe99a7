#!/usr/bin/env bash
# Fetch the base SMI texts (SNMPv2-SMI/TC/CONF and a few companions) that every
# MIB module of this project imports from, into mibs/base/<MODULE-NAME>.
#
# Debian ships none of them (libsmi2-common is empty, snmp-mibs-downloader does
# not exist in main), so they come from a package registry through its ordinary
# client instead: the npm package "net-snmp" (MIT) carries them in lib/mibs/*.mib.
# `npm pack` only downloads the tarball into a temporary directory: nothing is
# installed, globally or locally, and no MIB web site is contacted.
#
# The fetched texts are VENDORED (committed in mibs/base/, see docs/mib.md), so
# tests and the agent never need the network; this script is how they were
# obtained and how to refresh or re-verify them.
#
#   tools/fetch_base_mibs.sh           # (re)write mibs/base/* (idempotent)
#   tools/fetch_base_mibs.sh --check   # exit 1 if mibs/base/* differs from the package
#
# NET_SNMP_VERSION selects the package version (default: the vendored one, whose
# tarball integrity is pinned below). NET_SNMP_VERSION=3 takes the newest 3.x; the
# integrity pin is then not checked (npm still checks the registry's own).
set -euo pipefail
cd "$(dirname "$0")/.."

PINNED_VERSION=3.29.2
PINNED_INTEGRITY="sha512-ZXQyrPayCUaZxkxXBvExAYjkvZsPDBYUpK8ljIzrA5a/jByYR4REr/hpbld9wJ0tCr8d/pM7pSogDC0B/syiXQ=="
VERSION=${NET_SNMP_VERSION:-$PINNED_VERSION}
MODULES="SNMPv2-SMI SNMPv2-TC SNMPv2-CONF SNMPv2-MIB IANAifType-MIB IF-MIB RFC1155-SMI RFC-1212 RFC-1215"
DEST=mibs/base

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

command -v npm >/dev/null || { echo "fetch_base_mibs: npm is required (apt-get install npm)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --ignore-scripts: packing runs no package lifecycle script; a private cache
# keeps the user's npm cache untouched.
(cd "$tmp" && npm pack "net-snmp@$VERSION" --json --ignore-scripts --cache "$tmp/.npm-cache" \
   >pack.json 2>pack.err) || { cat "$tmp/pack.err" >&2; exit 1; }
read -r tarball version integrity < <(python3 - "$tmp/pack.json" <<'EOF'
import json, sys
info = json.load(open(sys.argv[1]))[0]
print(info["filename"], info["version"], info["integrity"])
EOF
)
if [ "$version" = "$PINNED_VERSION" ] && [ "$integrity" != "$PINNED_INTEGRITY" ]; then
  echo "fetch_base_mibs: net-snmp@$version integrity $integrity != pinned $PINNED_INTEGRITY" >&2
  exit 1
fi
tar -xzf "$tmp/$tarball" -C "$tmp" package/lib/mibs

mkdir -p "$DEST"
stale=0
for m in $MODULES; do
  src="$tmp/package/lib/mibs/$m.mib"
  [ -f "$src" ] || { echo "fetch_base_mibs: net-snmp@$version has no lib/mibs/$m.mib" >&2; exit 1; }
  if cmp -s "$src" "$DEST/$m"; then
    continue
  fi
  if [ $check = 1 ]; then
    echo "fetch_base_mibs: $DEST/$m differs from net-snmp@$version lib/mibs/$m.mib" >&2
    stale=1
  else
    install -m 0644 "$src" "$DEST/$m"
    echo "fetch_base_mibs: wrote $DEST/$m (net-snmp@$version)"
  fi
done
[ $stale = 0 ] || exit 1
echo "fetch_base_mibs: $DEST matches net-snmp@$version ($integrity)"
