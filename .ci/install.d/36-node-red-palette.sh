#!/usr/bin/env bash
# The Node-RED palette package (interop/node-red, issue 11 item 3): its development dependencies for `npm test`
# (node-red 4.1.8 and node-red-node-test-helper, from package.json) and the iotenvelope package copied in from
# the checkout (`--install-links ../js`: iotenvelope is not on the npm registry, and a copy instead of a symlink
# so its crypto-js dependency is installed with it). --no-save keeps package.json's published dependency range.
# tests/test_node_red_palette.py packs interop/js and interop/node-red itself and installs the two tarballs into a
# fresh Node-RED user dir, with the runtime that 35-node-red.sh installs.
set -euo pipefail
cd "$(dirname "$0")/../../interop/node-red"
rm -rf node_modules/iotenvelope  # always the checkout's current interop/js
npm install --no-save --install-links --no-audit --no-fund --loglevel=error ../js >/dev/null
echo "36-node-red-palette.sh: node-red $(node -p "require('node-red/package.json').version")," \
  "node-red-node-test-helper $(node -p "require('node-red-node-test-helper/package.json').version")," \
  "iotenvelope $(node -p "require('iotenvelope/package.json').version") in interop/node-red/node_modules"
