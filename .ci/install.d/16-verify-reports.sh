#!/usr/bin/env bash
# Debian's Chromium: tests/test_runner_protocol.py opens verify's --html report in it (headless) and reads what it
# shows. The release tooling (build, twine, check-wheel-contents) comes with the '.[dev]' extras (10-python.sh).
# APT_PACKAGES: chromium
set -euo pipefail
command -v chromium >/dev/null || { echo "chromium missing after apt-get install" >&2; exit 1; }
