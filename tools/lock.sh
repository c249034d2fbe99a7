#!/usr/bin/env bash
# Refresh the lock files (the one command for it; docs/operator-guide.md,
# "Development"): every version tools/setup.sh and CI install, with hashes,
# for Python 3.11 on any platform (uv's universal resolution).
#
#   tools/requirements-build.lock  pip and the build tools (tools/requirements-build.in)
#   tools/requirements.lock        the runtime dependencies (pyproject.toml)
#   tools/requirements-test.lock   runtime + the test and ansible extras + build tools
#
# The test lock is resolved first; the other two are resolved under it as
# constraints, so a package has the same version in all three. pyproject.toml
# keeps compatible ranges, the locks pin: tools/lock.sh keeps the pins it can
# (after a change of pyproject.toml), tools/lock.sh --upgrade moves every pin to
# the newest version in range, tools/lock.sh --upgrade-package NAME one.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
tool_venv=${XDG_CACHE_HOME:-$HOME/.cache}/proxymip-lock-venv
if [ ! -x "$tool_venv/bin/uv" ] || [ "$("$tool_venv/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  python3 -m venv "$tool_venv"
  "$tool_venv/bin/python" -m pip install -q "uv==$UV_VERSION"
fi

compile() {
  UV_CUSTOM_COMPILE_COMMAND="tools/lock.sh" "$tool_venv/bin/uv" pip compile --quiet \
    --universal --python-version 3.11 --generate-hashes "$@"
}

# Options (e.g. --upgrade, --upgrade-package NAME) go to the first resolution;
# without them the pins already in the lock files are kept where still allowed.
compile "$@" --extra test --extra ansible pyproject.toml tools/requirements-build.in \
  -o tools/requirements-test.lock
compile pyproject.toml -c tools/requirements-test.lock -o tools/requirements.lock
compile tools/requirements-build.in -c tools/requirements-test.lock -o tools/requirements-build.lock
echo "lock: $(grep -c '==' tools/requirements-test.lock) packages (test)," \
  "$(grep -c '==' tools/requirements.lock) (runtime), $(grep -c '==' tools/requirements-build.lock) (build)"
