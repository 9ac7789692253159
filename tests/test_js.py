"""The JavaScript package (interop/js) through real node and real crypto-js 3.3.0, 4.1.1 and 4.2.0."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

import iotenvelope
from iotenvelope import verify
from iotenvelope.verify.peers import js
from jspeer import require_node

SECRET = bytes(range(16))
NOW = 1763900000


def test_node_test_runner_passes():
    """`node --test` over interop/js/test (every vector file x every crypto-js version, Node-RED example ...)."""
    require_node()
    proc = subprocess.run([shutil.which("node"), "--test", "test/"], cwd=js.JS_DIR, capture_output=True, text=True,
                          timeout=300)
    summary = "\n".join(proc.stdout.splitlines()[-9:])
    assert proc.returncode == 0, f"node --test failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    assert re.search(r"^# fail 0$", proc.stdout, re.M), summary
    passed = int(re.search(r"^# pass (\d+)$", proc.stdout, re.M).group(1))
    assert passed >= 60, summary


def test_verify_matrix_has_three_cryptojs_versions_passing():
    require_node()
    peers = js.discover()
    assert [p.name for p in peers][:3] == ["js-cryptojs-3.3.0", "js-cryptojs-4.1.1", "js-cryptojs-4.2.0"]
    cells = verify.run(peers=peers)
    by_impl: dict[str, list] = {}
    for c in cells:
        by_impl.setdefault(c.impl, []).append(c)
    for version in js.EXPECTED_VERSIONS:
        row = {c.file: c for c in by_impl[f"js-cryptojs-{version}"]}
        for f in ("envelope_v1.json", "wycheproof/aes_cbc_pkcs5_test.json", "cryptojs/cryptojs_3.3.0.json",
                  "cryptojs/cryptojs_4.1.1.json", "cryptojs/cryptojs_4.2.0.json"):
            assert row[f].available and row[f].failed == 0 and row[f].passed > 0, (version, f, row[f].failures[:3])
    assert row["envelope_v1.json"].passed == 267


def test_one_long_lived_node_process_serves_every_call():
    bridge = require_node()
    bridge.call("hello")
    pid, starts = bridge.pid, bridge.starts
    for version in js.EXPECTED_VERSIONS:
        for i in range(20):
            bridge.call("call", lib=version, fn="seal", args=[SECRET.hex(), "x", {"device": "d", "seq": i}])
    assert bridge.pid == pid and bridge.starts == starts
    hello = bridge.call("hello")
    assert hello["versions"] == list(js.EXPECTED_VERSIONS)


@pytest.mark.parametrize("version", js.EXPECTED_VERSIONS)
@pytest.mark.parametrize("fmt", ["compact", "json"])
def test_python_and_crypto_js_open_each_others_envelopes(version, fmt):
    bridge = require_node()
    msg = '{"co2": 1223, "note": "café ☕"}'.encode()
    text = iotenvelope.seal(SECRET, msg, device="sensor-01", seq=7, ts=NOW, format=fmt)
    opened = bridge.call("call", lib=version, fn="open", args=[SECRET.hex(), text, {"now": NOW}])
    assert bytes.fromhex(opened["plaintext"]["hex"]) == msg
    assert (opened["device"], opened["seq"], opened["ts"], opened["type"]) == ("sensor-01", 7, NOW, "data")
    back = bridge.call("call", lib=version, fn="seal", args=[{"hex": SECRET.hex()}, {"hex": msg.hex()},
                                                             {"device": "pico", "seq": 9, "ts": NOW,
                                                              "direction": "down", "format": fmt}])
    got = iotenvelope.open(SECRET, back, direction="down", now=NOW)
    assert (got.plaintext, got.device, got.seq) == (msg, "pico", 9)


@pytest.mark.parametrize("version", js.EXPECTED_VERSIONS)
def test_js_errors_carry_the_spec_names(version):
    bridge = require_node()
    text = iotenvelope.seal(SECRET, b"x", device="d", seq=1, ts=NOW)
    cases = [(text + "=", "malformed"), (iotenvelope.seal(bytes(16), b"x", device="d", seq=1, ts=NOW), "auth")]
    for envelope_text, code in cases:
        with pytest.raises(js.JsError) as info:
            bridge.call("call", lib=version, fn="open", args=[SECRET.hex(), envelope_text, {"now": NOW}])
        assert info.value.code == code
    with pytest.raises(js.JsError) as info:
        bridge.call("call", lib=version, fn="open", args=[SECRET.hex(), text, {"now": NOW, "direction": "down"}])
    assert info.value.code == "wrong-direction"


@pytest.mark.parametrize("version", js.EXPECTED_VERSIONS)
def test_js_device_resync_against_a_python_backend(version):
    """Device half in JS (request, accept); backend half sealed by the Python library (SPEC.md §8)."""
    bridge = require_node()
    req = bridge.call("call", lib=version, fn="resyncRequest", args=[SECRET.hex(), {"device": "sensor-01"}])
    opened = iotenvelope.open(SECRET, req["text"], freshness=None)
    assert opened.type == "resync-request" and len(opened.plaintext) == 8
    nonce = opened.plaintext
    assert nonce.hex() == req["nonce"]["hex"]
    body = nonce + (4321).to_bytes(4, "big") + NOW.to_bytes(4, "big")
    response = iotenvelope.seal(SECRET, body, device="sensor-01", seq=3, ts=NOW, direction="down",
                                type="resync-response")
    got = bridge.call("call", lib=version, fn="acceptResyncResponse",
                      args=[SECRET.hex(), response, {"hex": nonce.hex()}, {"counter": 10}])
    assert got == {"counter": 4321, "nextSeq": 4321, "backendTime": NOW, "seq": 3, "ts": NOW}
    other = bytes(8) if nonce != bytes(8) else b"\x01" * 8
    with pytest.raises(js.JsError) as info:
        bridge.call("call", lib=version, fn="acceptResyncResponse", args=[SECRET.hex(), response, {"hex": other.hex()}])
    assert info.value.code == "auth" and "nonce" in str(info.value)


def test_pyexecjs_adapter_runs_the_same_checks():
    require_node()
    try:
        transport = js.ExecJSTransport()
    except js.BridgeError as exc:
        pytest.fail(f"{exc} (run .ci/install)")
    root = verify.default_vector_dir()
    for rel in ("envelope_v1.json", "cryptojs/cryptojs_3.3.0.json"):
        via_execjs = js.JsPeer("3.3.0", transport, suffix="-execjs").run(root / rel, {})
        via_bridge = js.JsPeer("3.3.0").run(root / rel, {})
        assert via_execjs.failed == 0 and (via_execjs.passed, via_execjs.failed) == (via_bridge.passed, via_bridge.failed)
