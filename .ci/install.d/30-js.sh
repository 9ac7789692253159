#!/usr/bin/env bash
# JavaScript peer (issue 3): node (preinstalled on the image; checked here), crypto-js 3.3.0/4.1.1/4.2.0 side by
# side via `npm ci` in interop/js, PyExecJS for the bridge comparison, and the openssl CLI for passphrase interop.
# APT_PACKAGES: openssl
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v node >/dev/null 2>&1 || ! node --version >/dev/null 2>&1; then
  echo "30-js.sh: 'node --version' does not work: Node.js >= 18 must be on the machine image (interop/js needs it)" >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
  echo "30-js.sh: node $(node --version) is too old: interop/js needs Node.js >= 18 (node:test)" >&2
  exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "30-js.sh: npm not found (it ships with Node.js)" >&2
  exit 1
fi
(cd interop/js && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check 'PyExecJS>=1.5'
echo "30-js.sh: node $(node --version), crypto-js $(cd interop/js && ls -d node_modules/crypto-js-* | sed 's|node_modules/crypto-js-||' | tr '\n' ' ')"
