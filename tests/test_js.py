"""The JavaScript package (interop/js) through real node: its node:crypto backend and its crypto-js backend on real
crypto-js 3.3.0, 4.1.1 and 4.2.0."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

import iotenvelope
from iotenvelope import verify
from iotenvelope.verify import protocol
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


BACKENDS = (js.NODE_CRYPTO, *js.EXPECTED_VERSIONS)  # the bridge's "lib" names: node:crypto, then each crypto-js


def test_verify_matrix_has_node_crypto_and_three_cryptojs_versions_passing():
    require_node()
    peers = js.discover()
    assert [p.name for p in peers][:4] == ["js-node-crypto", "js-cryptojs-3.3.0", "js-cryptojs-4.1.1",
                                           "js-cryptojs-4.2.0"]
    cells = verify.run(peers=peers)
    by_impl: dict[str, list] = {}
    for c in cells:
        by_impl.setdefault(c.impl, []).append(c)
    for peer in peers[:4]:
        row = {c.file: c for c in by_impl[peer.name]}
        for f in ("envelope_v1.json", "wycheproof/aes_cbc_pkcs5_test.json", "cryptojs/cryptojs_3.3.0.json",
                  "cryptojs/cryptojs_4.1.1.json", "cryptojs/cryptojs_4.2.0.json"):
            assert row[f].available and row[f].failed == 0 and row[f].passed > 0, (peer.name, f, row[f].failures[:3])
        assert row["envelope_v1.json"].passed == 278
        lean = row["envelope_v1_lean.json"]
        assert lean.available and lean.failed == 0 and lean.passed == 192, (peer.name, lean.failures[:3])
        counts = {f: (c.passed, c.failed, c.unsupported) for f, c in row.items()}
        assert counts == {"envelope_v1.json": (278, 0, 0), "envelope_v1_lean.json": (192, 0, 0),
                          "wycheproof/aes_cbc_pkcs5_test.json": (216, 0, 0), "cryptojs/cryptojs_3.3.0.json": (127, 0, 0),
                          "cryptojs/cryptojs_4.1.1.json": (127, 0, 0), "cryptojs/cryptojs_4.2.0.json": (127, 0, 0)}


def test_bridge_default_backend_is_node_crypto():
    bridge = require_node()
    hello = bridge.call("hello")
    assert hello["default"] == "node:crypto" and hello["backends"] == ["node:crypto", "crypto-js"]
    assert hello["package"] == "0.2.0"


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


@pytest.mark.parametrize("version", BACKENDS)
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


@pytest.mark.parametrize("version", BACKENDS)
def test_python_and_js_open_each_others_lean_envelopes(version):
    bridge = require_node()
    msg = b'{"t": 21.5, "rh": 40}'
    for ts in (0, NOW):
        text = iotenvelope.seal(SECRET, msg, device="eui-1", seq=11, ts=ts, format="lean")
        sealed = bridge.call("call", lib=version, fn="seal", args=[SECRET.hex(), {"hex": msg.hex()},
                                                                   {"device": "eui-1", "seq": 11, "ts": ts, "format": "lean"}])
        assert sealed == text  # deterministic: the IV comes from seq
        opened = bridge.call("call", lib=version, fn="open",
                             args=[SECRET.hex(), text, {"format": "lean", "device": "eui-1", "now": NOW}])
        assert bytes.fromhex(opened["plaintext"]["hex"]) == msg and (opened["seq"], opened["ts"]) == (11, ts)
        raw = bridge.call("call", lib=version, fn="sealLean", args=[SECRET.hex(), {"hex": msg.hex()},
                                                                    {"device": "eui-1", "seq": 12, "ts": ts}])
        got = iotenvelope.open(SECRET, bytes.fromhex(raw["hex"]), format="lean-raw", device="eui-1", now=NOW)
        assert (got.plaintext, got.seq) == (msg, 12)
        with pytest.raises(js.JsError) as info:
            bridge.call("call", lib=version, fn="open",
                        args=[SECRET.hex(), text, {"format": "lean", "device": "eui-2", "now": NOW}])
        assert info.value.code == "auth"


@pytest.mark.parametrize("version", BACKENDS)
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


@pytest.mark.parametrize("version", BACKENDS)
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
    # SPEC.md §8 T_wait: the same response, for a request sent more than 60 s earlier (monotonic ms), is stale
    late = {"nonce": {"hex": nonce.hex()}, "sentAt": -61_000}
    with pytest.raises(js.JsError) as info:
        bridge.call("call", lib=version, fn="acceptResyncResponse", args=[SECRET.hex(), response, late])
    assert info.value.code == "stale"


@pytest.mark.parametrize("version", BACKENDS)
def test_js_open_strips_one_trailing_newline_of_python_output(version):
    """`iotenvelope seal` prints a newline; every JS open strips exactly one LF or CRLF (SPEC.md §5)."""
    bridge = require_node()
    for fmt in ("compact", "json"):
        text = iotenvelope.seal(SECRET, b"reading", device="d", seq=1, ts=NOW, format=fmt)
        for nl in ("\n", "\r\n"):
            opened = bridge.call("call", lib=version, fn="open", args=[SECRET.hex(), text + nl, {"now": NOW}])
            assert bytes.fromhex(opened["plaintext"]["hex"]) == b"reading"
    compact = iotenvelope.seal(SECRET, b"reading", device="d", seq=1, ts=NOW)
    for bad in ("\n\n", "\r", " ", "\r\n\n"):  # JSON text keeps JSON's own white-space rules, compact text none
        with pytest.raises(js.JsError) as info:
            bridge.call("call", lib=version, fn="open", args=[SECRET.hex(), compact + bad, {"now": NOW}])
        assert info.value.code == "malformed"


def _first_cases(data: dict) -> dict:
    """The vector file cut to the first valid and the first invalid case of each group (every group kept)."""
    def pick(tests: list) -> list:
        firsts = {}
        for t in tests:
            firsts.setdefault(t["result"], t)
        return sorted(firsts.values(), key=lambda t: t["tcId"])
    groups = [{**g, "tests": pick(g["tests"])} for g in data["testGroups"]]
    return {**data, "testGroups": groups, "numberOfTests": sum(len(g["tests"]) for g in groups)}


def test_pyexecjs_runner_answers_exactly_like_the_bridge_process():
    """The PyExecJS adapter (one node per request) is a protocol runner too: on a slice of two files (every group,
    valid and invalid cases) its per-case outcomes equal the long-lived process's."""
    require_node()
    try:
        runner = js.ExecJSRunner("3.3.0")
    except js.BridgeError as exc:
        pytest.fail(f"{exc} (run .ci/install)")
    assert runner.hello()["name"] == "iotenvelope-js (crypto-js 3.3.0)"
    root = verify.default_vector_dir()
    process = js.JsPeer("3.3.0")
    try:
        for rel in ("envelope_v1.json", "cryptojs/cryptojs_3.3.0.json"):
            data = _first_cases(json.loads((root / rel).read_text(encoding="utf-8")))
            via_execjs = js.JsPeer("3.3.0", runner, suffix="-execjs").run(root / rel, data)
            via_bridge = process.run(root / rel, data)
            assert [c.as_json() for c in via_execjs.cases] == [c.as_json() for c in via_bridge.cases]
            assert (via_execjs.passed, via_execjs.failed, via_execjs.unsupported) == (data["numberOfTests"], 0, 0)
            assert any(c.status == "passed" and t["result"] == "invalid"
                       for c, t in zip(via_execjs.cases, (t for g in data["testGroups"] for t in g["tests"])))
    finally:
        process.close()


def test_js_rows_are_protocol_runners_one_process_per_row():
    """Each js-* row is `node bridge.js --protocol LIB` under verify's ProcessRunner; one process serves all of a
    row's files, and hello lists exactly what the JS side implements."""
    require_node()
    root = verify.default_vector_dir()
    for peer in js.discover()[:4]:
        assert isinstance(peer.runner, protocol.ProcessRunner)
        assert peer.runner.argv[1:] == [str(js.BRIDGE), "--protocol", peer.version]
        try:
            pids = set()
            for rel in ("wycheproof/aes_cbc_pkcs5_test.json", "cryptojs/cryptojs_4.2.0.json"):
                data = json.loads((root / rel).read_text(encoding="utf-8"))
                res = peer.run(root / rel, data)
                assert (res.passed, res.failed, res.unsupported) == (data["numberOfTests"], 0, 0), res.failures[:3]
                pids.add(peer.runner._proc.pid)
            assert len(pids) == 1
            hello = peer.runner.hello()
            assert hello["ops"] == ["cbc-decrypt", "cbc-encrypt", "legacy-open", "legacy-seal", "open", "open-many",
                                    "seal"]
            assert hello["forms"] == ["compact", "json", "lean"]
            assert hello["profiles"] == ["cryptojs-passphrase", "cryptojs-key", "esp8266-b64"]
            assert hello["protocol"] == 1 and hello["version"].startswith("0.2.0 (node v")
        finally:
            peer.close()
        assert peer.runner._proc is None


def _ask(peer, request: dict) -> dict:
    peer.runner.next_id += 1
    return peer.runner.call({"id": peer.runner.next_id, **request})


@pytest.mark.parametrize("version", BACKENDS)
def test_js_runner_failed_cryptojs_open_carries_what_cryptojs_returned(version):
    """An invalid crypto-js case fails with the file's SPEC error name, and lax_plaintext_hex is what crypto-js's own
    non-validating decrypt returned (the vector's cryptojsHex), for passphrase and raw-key groups."""
    require_node()
    data = json.loads((verify.default_vector_dir() / "cryptojs/cryptojs_4.2.0.json").read_text(encoding="utf-8"))
    peer = js.JsPeer(version)
    checked = 0
    try:
        peer.runner.hello()
        for group in data["testGroups"]:
            for test in group["tests"]:
                if test["result"] == "valid" or group["type"] not in ("PassphraseTest", "KeyTest"):
                    continue
                if group["type"] == "PassphraseTest":
                    request = {"op": "legacy-open", "profile": "cryptojs-passphrase", "passphrase": test["passphrase"],
                               "params": {"key_bits": group["keySize"], "kdf": group["kdf"]}, "text": test["ct"]}
                else:
                    request = {"op": "legacy-open", "profile": "cryptojs-key", "params": {"padding": group["padding"]},
                               "key_hex": test["key"], "iv_hex": test["iv"], "text": test["ct"]}
                answer = _ask(peer, request)
                assert (answer["ok"], answer["error"]) == (False, test["error"]), test["tcId"]
                assert answer["lax_plaintext_hex"] == test["cryptojsHex"], test["tcId"]
                checked += 1
    finally:
        peer.close()
    assert checked == 20  # 4 passphrase groups x 3, raw-key pkcs7 6 + ansix923 2


@pytest.mark.parametrize("version", BACKENDS)
def test_js_runner_errors_are_plain_spec_names(version):
    require_node()
    text = iotenvelope.seal(SECRET, b"x", device="d", seq=1, ts=NOW)
    peer = js.JsPeer(version)
    try:
        peer.runner.hello()
        base = {"op": "open", "form": "compact", "secret_hex": SECRET.hex(), "direction": "up", "now": None}
        assert _ask(peer, {**base, "envelope": text})["plaintext_hex"] == "78"
        assert _ask(peer, {**base, "envelope": text + "="})["error"] == "malformed"
        assert _ask(peer, {**base, "envelope": text, "secret_hex": "00" * 16})["error"] == "auth"
        assert _ask(peer, {**base, "envelope": text, "direction": "down"})["error"] == "wrong-direction"
        assert _ask(peer, {**base, "envelope": 7})["error"] == "bad-request"
        assert _ask(peer, {"op": "legacy-open", "profile": "fernet", "text": "x"})["error"] == "unsupported"
        assert _ask(peer, {"op": "resync"})["error"] == "unsupported"
        got = _ask(peer, {**base, "op": "open-many", "envelopes": [text, text]})
        assert [r["ok"] for r in got["results"]] == [True, False]
        assert got["results"][1]["error"] == "replay-duplicate"
    finally:
        peer.close()


@pytest.mark.parametrize("version", (js.NODE_CRYPTO, "4.2.0"))
def test_differential_fuzz_python_and_js_accept_exactly_the_same_inputs(version):
    """Seeded mutations of valid compact/JSON/lean envelopes: Python and JS accept exactly the same inputs, with
    the same plaintext and fields, and JS fails only with SPEC error names (issue 10: differential fuzzing).
    Inputs ending in a line feed are left out: main's Python library does not strip it yet (SPEC.md §5 now says
    to); interop/js/test/hardening.test.js covers that rule for JS."""
    import random

    bridge = require_node()
    rnd = random.Random(20261201)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_={}[]\":, \t\\.+/e"
    seeds = []
    for i in range(8):
        msg = rnd.randbytes(rnd.randrange(40))
        kw = dict(device=f"dev-{i}", seq=rnd.randrange(1 << 30), ts=NOW - rnd.randrange(100) if i % 3 else 0,
                  direction="up" if i % 4 else "down")
        for fmt in ("compact", "json", "lean"):
            seeds.append((fmt, kw, iotenvelope.seal(SECRET, msg, format=fmt, **kw)))
    agreed = accepted = 0
    while agreed < 400:
        fmt, kw, text = rnd.choice(seeds)
        for _ in range(rnd.randrange(1, 4)):
            at = rnd.randrange(len(text) + 1)
            op = rnd.randrange(4)
            if op == 0:
                text = text[:at] + rnd.choice(alphabet) + text[at + 1:]
            elif op == 1:
                text = text[:at] + rnd.choice(alphabet) + text[at:]
            elif op == 2:
                text = text[:at] + text[at + 1 + rnd.randrange(3):]
            else:
                text = text[:at]
        if text.endswith("\n"):
            continue
        opts = {"direction": kw["direction"], "now": NOW}
        py_kw = {"direction": kw["direction"], "now": NOW}
        if fmt == "lean":
            opts.update(format="lean", device=kw["device"])
            py_kw.update(format="lean", device=kw["device"])
        try:
            got = iotenvelope.open(SECRET, text, **py_kw)
            py = ("ok", got.plaintext.hex(), got.device, got.seq, got.ts)
        except iotenvelope.IotEnvelopeError:
            py = ("error",)
        try:
            o = bridge.call("call", lib=version, fn="open", args=[SECRET.hex(), text, opts])
            js_out = ("ok", o["plaintext"]["hex"], o["device"], o["seq"], o["ts"])
        except js.JsError as exc:
            assert exc.code in {"malformed", "unsupported-version", "padding", "auth", "wrong-direction", "stale",
                                "future", "time-unknown", "unknown-device", "bad-key"}, (text, exc)
            js_out = ("error",)
        assert py == js_out, (fmt, text, py, js_out)
        agreed += 1
        accepted += py[0] == "ok"
    assert accepted > 0
