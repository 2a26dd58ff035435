#!/usr/bin/env bash
# Installs the pinned, unmodified SP-API SDKs that the drop-in tests drive, into tests/sdk/.cache:
#   .cache/venv  PyPI python-amazon-sp-api 2.1.35 and amzn-sp-api 1.13.0 (requirements.txt,
#                every dependency pinned too)
#   .cache/node  npm @sp-api-sdk/auth 3.1.4 (package.json + package-lock.json, via npm ci)
# Idempotent: when the pinned versions are already installed it does nothing and asks no registry.
# Exit 0 when installed; 3, with one line "registry unreachable: ...", when PyPI or npm cannot
# be reached; 1 for any other failure (a bad pin, no python3/npm), with the log to read.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

cache=.cache
venv="$cache/venv"
node_dir="$cache/node"
stamp="$cache/installed.sha256"
# The exact versions the drivers are written against (also in requirements.txt / package.json).
want_python="python-amazon-sp-api==2.1.35 amzn-sp-api==1.13.0"
want_npm="@sp-api-sdk/auth@3.1.4"

inputs_hash() {
  { cat requirements.txt package.json package-lock.json; python3 --version 2>&1; } | sha256sum | cut -d' ' -f1
}

installed_versions() {
  local py npm
  py="$("$venv/bin/python" - 2>/dev/null <<'EOF' || true
from importlib.metadata import version
print(" ".join(f"{name}=={version(name)}" for name in ("python-amazon-sp-api", "amzn-sp-api")))
EOF
)"
  npm="$(node -p 'const p = require(process.argv[1]); p.name + "@" + p.version' \
    "$here/$node_dir/node_modules/@sp-api-sdk/auth/package.json" 2>/dev/null || true)"
  echo "$py $npm"
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(inputs_hash)" ] \
  && [ "$(installed_versions)" = "$want_python $want_npm" ]; then
  exit 0
fi

mkdir -p "$cache"
rm -f "$stamp" "$cache/installed"  # (the latter: an older installer's stamp)

# Network trouble, as pip and npm word it (anything else is a real failure, not a skip).
network_error='NewConnectionError|ConnectTimeout|ReadTimeout|Max retries exceeded|Failed to establish|Temporary failure in name resolution|Name or service not known|Network is unreachable|Connection refused|ProxyError|SSLError|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network request to .* failed'

fail() { # fail LOG WHAT
  if grep -Eq "$network_error" "$1"; then
    echo "registry unreachable: $2 (see tests/sdk/$1)"
    exit 3
  fi
  echo "installing the SDKs failed: $2 (see tests/sdk/$1)"
  exit 1
}

command -v python3 >/dev/null || { echo "installing the SDKs failed: python3 is not installed"; exit 1; }
command -v npm >/dev/null || { echo "installing the SDKs failed: node/npm is not installed"; exit 1; }

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >"$cache/venv.log" 2>&1 \
    || { echo "installing the SDKs failed: python3 -m venv (see tests/sdk/$cache/venv.log)"; exit 1; }
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  --timeout 20 --retries 2 -r requirements.txt >"$cache/pip.log" 2>&1 \
  || fail "$cache/pip.log" "pip could not install $want_python from PyPI"

mkdir -p "$node_dir"
cp package.json package-lock.json "$node_dir/"
(cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error \
  --fetch-timeout=20000 --fetch-retries=1 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=5000) >"$cache/npm.log" 2>&1 \
  || fail "$cache/npm.log" "npm could not install $want_npm from the npm registry"

got="$(installed_versions)"
if [ "$got" != "$want_python $want_npm" ]; then
  echo "installing the SDKs failed: wanted $want_python $want_npm, got $got"
  exit 1
fi
inputs_hash >"$stamp"
