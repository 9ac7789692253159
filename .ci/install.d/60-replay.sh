#!/usr/bin/env bash
# Replay stores: a real redis-server (the tests start their own on a random loopback port) and the redis client.
# APT_PACKAGES: redis-server
set -euo pipefail
command -v redis-server >/dev/null || { echo "60-replay: redis-server not installed (apt package redis-server)" >&2; exit 1; }
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check 'redis>=4.2'
python3 -c "import redis"
