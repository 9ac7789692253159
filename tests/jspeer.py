"""Helpers for tests that need the real node + crypto-js peer: they FAIL (never skip) when it is missing."""

from __future__ import annotations

import pytest

from iotenvelope.verify.peers import js


def require_node() -> js.NodeBridge:
    reason = js.unavailable_reason()
    if reason:
        pytest.fail(f"the JavaScript peer is required: {reason}")
    missing = [v for v in js.EXPECTED_VERSIONS if v not in js.installed_versions()]
    if missing:
        pytest.fail(f"crypto-js {', '.join(missing)} not installed: run .ci/install (or npm ci in interop/js)")
    return js.bridge()
