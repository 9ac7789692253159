#!/usr/bin/env bash
# Node-RED (tests/test_node_red.py runs interop/js/examples/node-red/flow.json in it): a pinned node-red from npm
# in build/node-red/runtime (not committed), and a Node-RED user dir template build/node-red/userdir into which
# the iotenvelope package is installed the way docs/javascript.md tells users (`npm install --install-links
# /path/to/interop/js` in ~/.node-red). websocket-client (a dev extra) lets the test read the
# editor's debug messages.
# Node-RED 5.x needs Node.js >= 22.9; 4.1.x runs on the Node.js >= 18.5 that interop/js supports.
set -euo pipefail
cd "$(dirname "$0")/../.."
NODE_RED_VERSION=4.1.8
root=$PWD
rt=build/node-red/runtime
installed=$(node -p "try { require('./$rt/node_modules/node-red/package.json').version } catch (e) { '' }")
if [ "$installed" != "$NODE_RED_VERSION" ]; then
  rm -rf "$rt"
  mkdir -p "$rt"
  npm install --prefix "$rt" --no-audit --no-fund --loglevel=error --omit=optional "node-red@$NODE_RED_VERSION" >/dev/null
fi
# The user dir is rebuilt every time, so the copy of interop/js in it is the checkout's current code.
ud=build/node-red/userdir
rm -rf "$ud"
mkdir -p "$ud"
(cd "$ud" && npm install --install-links --no-audit --no-fund --loglevel=error "$root/interop/js" >/dev/null)
python3 -c "import websocket"  # from the dev extras (10-python.sh)
echo "35-node-red.sh: node-red $(node -p "require('./$rt/node_modules/node-red/package.json').version")," \
  "iotenvelope $(node -p "require('./$ud/node_modules/iotenvelope/package.json').version") in $ud"
