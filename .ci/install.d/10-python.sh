#!/usr/bin/env bash
# The Python package (editable, so `verify` finds vectors/ and interop/) with its test dependencies.
# APT_PACKAGES: openssl
set -euo pipefail
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
