#!/usr/bin/env bash
# Installs the pinned, unmodified SP-API SDKs the drop-in tests drive, into tests/sdk/.cache
# (kept between runs: nothing is fetched when the pinned versions are already there).
# Exit 3 (with one line saying so) when a registry cannot be reached.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON_PACKAGES=("python-amazon-sp-api==2.1.35" "amzn-sp-api==1.13.0")
NPM_PACKAGES=("@sp-api-sdk/auth@3.1.4")

cache=.cache
mkdir -p "$cache"

stamp="$cache/installed"
wanted="${PYTHON_PACKAGES[*]} ${NPM_PACKAGES[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi

if [ ! -x "$cache/venv/bin/python" ]; then
  python3 -m venv "$cache/venv"
fi
if ! "$cache/venv/bin/pip" install --quiet --disable-pip-version-check "${PYTHON_PACKAGES[@]}" >"$cache/pip.log" 2>&1; then
  echo "registry unreachable: pip could not install ${PYTHON_PACKAGES[*]} (see tests/sdk/$cache/pip.log)"
  exit 3
fi

mkdir -p "$cache/node"
[ -f "$cache/node/package.json" ] || echo '{"name": "spvault-sdk-tests", "private": true}' >"$cache/node/package.json"
if ! (cd "$cache/node" && npm install --silent --no-audit --no-fund "${NPM_PACKAGES[@]}") >"$cache/npm.log" 2>&1; then
  echo "registry unreachable: npm could not install ${NPM_PACKAGES[*]} (see tests/sdk/$cache/npm.log)"
  exit 3
fi
echo "$wanted" >"$stamp"
