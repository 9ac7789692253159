"""The C library (interop/c): builds, unit tests and vectors per backend, under AddressSanitizer + UBSan, on
the AVR in simavr, for the ESP8266 CPU, and byte-for-byte interop with the Python implementation.

These tests need the toolchains and libraries `.ci/install` installs (.ci/install.d/40-c.sh); when one is
missing they FAIL with the reason, they do not skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

import iotenvelope
from iotenvelope.verify import protocol, vectors
from iotenvelope.verify.peers import c
from iotenvelope.verify import default_vector_dir

SECRET = bytes(range(16))


def need(kind: str, sanitize: bool = False) -> None:
    reason = c.build(kind, sanitize)
    if reason is not None:
        pytest.fail(f"C build {kind}{' (sanitizers)' if sanitize else ''} not available: {reason}")


def envelope_file() -> dict:
    return vectors.load(default_vector_dir() / "envelope_v1.json")


def run_peer(kind: str, name: str, data: dict | None = None, sanitize: bool = False, runner=None):
    """One verify cell of a C peer (the vector file ``name``, or ``data`` taken from it): its Result, and the
    runner it used (closed)."""
    peer = c.CPeer(kind, sanitize)
    if runner is not None:
        peer.runner = runner
    path = default_vector_dir() / name
    try:
        return peer.run(path, vectors.load(path) if data is None else data), peer.runner
    finally:
        peer.close()


def check(data: dict, runner) -> protocol.FileResult:
    """verify's checking code over data through runner (closed afterwards)."""
    try:
        return protocol.check_file(data, runner)
    finally:
        runner.close()


def statuses(result: protocol.FileResult) -> dict[int, str]:
    return {case.tc_id: case.status for case in result.cases}


@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "asan-ubsan"])
@pytest.mark.parametrize("backend", c.BACKENDS)
def test_unit_tests(backend, sanitize):
    need(backend, sanitize)
    binary = c.BUILD / ("san" if sanitize else "host") / f"iote-unit-{backend}"
    proc = subprocess.run([str(binary)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("checks, 0 failed"), proc.stdout
    checks = int(proc.stdout.split(":")[-1].split()[0])
    assert checks > 20000  # the malformed-input sweeps ran


@pytest.mark.parametrize("backend", c.BACKENDS)
def test_vectors_under_sanitizers(backend):
    need(backend, sanitize=True)
    result, _ = run_peer(backend, "envelope_v1.json", sanitize=True)
    assert result.failed == 0, result.failures[:5]
    assert result.passed == envelope_file()["numberOfTests"] == 278

# -- iote_aes_cbc on the AVR (the assembly in src/iote_aes_avr.S), against Python's AES -----------------------------
AES_TEST_DUMP = 320  # bytes below the caller's stack pointer the firmware shows (tests/avr_aes.c)


def avr_aes_lines(firmware: str) -> list[list[bytes | int | str]]:
    need("avr")
    reason = c._make(f"build/avr/{firmware}.elf")
    if reason is not None:
        pytest.fail(f"{firmware}.elf: {reason}")
    proc = subprocess.run([str(c.BUILD / "avrsim"), "--mcu", "atmega328p", "--freq", "16000000",
                           str(c.BUILD / "avr" / f"{firmware}.elf")], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[-1] == "done"

    def field(tok: str):
        return b"" if tok == "-" else bytes.fromhex(tok)

    return [[ln.split()[0], *(field(t) for t in ln.split()[1:])] for ln in lines[:-1]]


def num(b: bytes) -> int:
    return int.from_bytes(b, "big", signed=True)


@pytest.mark.parametrize("firmware", ["aes-test", "aes-test-device"])
def test_avr_aes_cbc_against_python(firmware):
    """CBC both ways for 0..160 bytes with 16- and 32-byte keys (32-byte keys refused, nothing written, by the
    device build), the refused sizes, key/IV overlapping the data, and the stack after a call: the whole frame
    (round keys, chaining block) zeroed, no key byte left, and at most the frame + 24 bytes of stack used."""
    from iotenvelope.primitives import cipher

    aes256 = firmware == "aes-test"
    lines = avr_aes_lines(firmware)
    cbc = [ln for ln in lines if ln[0] == "cbc"]
    assert [(num(ln[1]), num(ln[2])) for ln in cbc] == [(k, n) for k in (16, 32) for n in (0, 16, 32, 64, 160)]
    for _, klen, n, key, iv, pt, rc, ct, iv_after, rc2, back in cbc:
        assert (len(key), len(iv), len(pt)) == (num(klen), 16, num(n))
        assert iv_after == iv  # the IV buffer is not modified
        if len(key) == 32 and not aes256:
            assert (num(rc), ct, num(rc2), back) == (-1, pt, -1, pt)
            continue
        assert (num(rc), num(rc2)) == (0, 0)
        assert ct == (cipher.encrypt_raw(key, iv, pt) if pt else b"")
        assert back == pt
    bad = [(num(d), num(k), num(n), num(rc), num(same)) for _, d, k, n, rc, same in
           (ln for ln in lines if ln[0] == "bad")]
    assert bad == [(d, k, n, -1, 1) for d, k, n in
                   ((0, 16, 15), (1, 16, 17), (0, 16, 8), (0, 24, 16), (1, 24, 16), (0, 0, 16), (0, 15, 16),
                    (0, 33, 16), (0, 48, 16), (1, 272, 16))]
    (_, before, rc, after), = (ln for ln in lines if ln[0] == "alias")
    assert num(rc) == 0 and after == cipher.encrypt_raw(before[:16], before[16:], before)
    (_, rc, key, dump), = (ln for ln in lines if ln[0] == "stack")
    assert num(rc) == 0 and len(key) == (32 if aes256 else 16) and len(dump) == AES_TEST_DUMP
    frame = 6 + 16 + (240 if aes256 else 176)  # iote_aes_avr.S: its variables, CHAIN, the round keys
    assert bytes(frame) in dump
    assert all(key[i:i + 4] not in dump for i in range(0, len(key), 4))
    used = len(dump.lstrip(b"\x5a"))  # the deepest byte the call wrote, up to the caller's stack pointer
    assert 0 < used <= frame + 24, used


def test_avr_vectors_in_simavr():
    need("avr")
    data = envelope_file()
    result, runner = run_peer("avr", "envelope_v1.json")
    assert result.failed == 0, result.failures[:5]
    assert result.passed == 278
    # most cases run on the Uno itself; only envelopes longer than its buffer go to the Mega
    cap = c.avr_buffer_size("uno")
    on_mega = [len(t["envelope"]) for _, t in vectors.iter_tests(data) if len(t["envelope"]) > cap]
    assert cap >= 512 and len(on_mega) == 6 and min(on_mega) > 1400  # only the six 1000-byte-message cases
    assert set(runner._devices) == {"uno", "mega"}

# -- c-avr-device: the runner built with the configuration bench/avr.py measures (no JSON, no AES-256) ---------------
def test_avr_device_envelope_vectors_in_simavr():
    """Every compact case with a 16-byte secret passes on the device build, exact bytes and SPEC errors; the JSON
    and 32-byte-secret cases are unsupported (the runner confirmed each), never passed."""
    need("avr-device")
    data = envelope_file()
    tests = [(g, t) for g, t in vectors.iter_tests(data)]
    compact_aes128 = sum(1 for g, t in tests if t["format"] == "compact" and len(bytes.fromhex(g["secret"])) == 16)
    part = c.CPeer("avr-device").subset(data)
    assert part.label == "[compact,16-byte secret]" and "IOTE_WITH_JSON=0" in part.why
    assert part.left_out == len(tests) - compact_aes128
    assert (compact_aes128, part.left_out) == (109, 169)
    result, _ = run_peer("avr-device", "envelope_v1.json", part.data)
    assert result.failed == 0, result.failures[:5]
    assert result.passed == compact_aes128
    # the long compact cases (1000-byte messages) exceed the Uno runner's buffer and run on the Mega build
    cap = c.avr_buffer_size("uno", "avr-device")
    assert cap == c.avr_buffer_size("uno") and sum(len(t["envelope"]) > cap for _, t in vectors.iter_tests(part.data)) == 2


def test_avr_device_wycheproof_cbc_in_simavr():
    need("avr-device")
    data = wycheproof_file()
    aes128 = sum(len(g["tests"]) for g in data["testGroups"] if g["keySize"] == 128)
    part = c.CPeer("avr-device").subset(data)
    assert part.label == "[128]" and part.left_out == data["numberOfTests"] - aes128
    assert (aes128, part.left_out) == (72, 144)
    result, runner = run_peer("avr-device", "wycheproof/aes_cbc_pkcs5_test.json", part.data)
    assert result.failed == 0, result.failures[:5]
    assert result.passed == aes128
    assert set(runner._devices) == {"uno"}  # every AES-CBC case fits the Uno's buffer


def _left_out(feature: str) -> dict:
    """The envelope cases the device build leaves out for one feature that fit the Uno's buffer (JSON: only those
    under 16-byte secrets, a key the device takes), as a vector file."""
    data = envelope_file()
    cap = c.avr_buffer_size("uno")
    groups = []
    for group in data["testGroups"]:
        tests = [t for t in group["tests"] if c.device_feature(group, t) == feature and len(t["envelope"]) <= cap
                 and (feature != "json" or len(group["secret"]) == 32)]
        if tests:
            groups.append({**group, "tests": tests})
    return {**data, "testGroups": groups}


@pytest.mark.parametrize("feature", ["json", "aes256"])
def test_avr_device_refuses_what_the_device_build_leaves_out(feature):
    """The device build's library refuses every such case (argument / bad-key) and the adapter reports exactly
    that as unsupported; the full build (c-avr) opens and reseals the same cases."""
    need("avr-device")
    need("avr")
    data = _left_out(feature)
    device = check(data, c.AvrRunner("avr-device"))
    assert len(device.cases) > 40
    assert {case.status for case in device.cases} == {"unsupported"}
    assert {case.detail.split(":")[0] for case in device.cases} == {feature}
    assert all("refused" in case.detail for case in device.cases)
    full = check(data, c.AvrRunner("avr"))
    assert set(statuses(full).values()) == {"passed"} and len(full.cases) == len(device.cases)


def test_avr_device_row_fails_a_build_that_opens_what_it_should_refuse():
    """The c-avr-device cells with the full firmware behind them: the left-out cases come back opened, not
    refused, and each fails the cell (a device build that still had JSON/AES-256 would fail here)."""
    need("avr")
    part = c.CPeer("avr-device").subset(envelope_file())
    result, _ = run_peer("avr-device", "envelope_v1.json", part.data, runner=c.AvrRunner("avr"))
    assert (result.passed, result.failed) == (109, 169)
    assert "expected unsupported json" in "\n".join(result.failures)
    assert "expected unsupported aes256" in "\n".join(result.failures)


def test_avr_device_row_unsupported_is_a_failure_where_not_expected():
    """A case of the device build's own cells that comes back unsupported fails (here: JSON cases given to the
    device row as if it had to check them)."""
    need("avr-device")
    data = _left_out("json")
    ids = {t["tcId"] for _, t in vectors.iter_tests(data)}
    result, _ = run_peer("avr-device", "envelope_v1.json", data)
    must = {case.tc_id for case in result.cases if case.status == "failed" and "device build must check it" in case.detail}
    assert must == ids and len(ids) == 78 and result.passed == 0


def test_avr_device_refuses_aes256_wycheproof_keys():
    """The 256-bit Wycheproof tests: the device build's iote_cbc_pkcs7_* refuse the key (bad-key), and the
    adapter says unsupported; the full build checks them."""
    need("avr-device")
    need("avr")
    data = wycheproof_file()
    only256 = {**data, "testGroups": [g for g in data["testGroups"] if g["keySize"] == 256]}
    device = check(only256, c.AvrRunner("avr-device"))
    assert len(device.cases) == 72 and set(statuses(device).values()) == {"unsupported"}
    assert {case.detail.split(":")[0] for case in device.cases} == {"aes256"}
    assert set(statuses(check(only256, c.AvrRunner("avr"))).values()) == {"passed"}

def test_verify_lists_c_avr_device():
    proc = subprocess.run([sys.executable, "-m", "iotenvelope", "verify", "--json", "--impl", "c-avr-device"],
                          capture_output=True, text=True, timeout=900, cwd=str(c.C_DIR.parents[1]))
    assert proc.returncode == 0, proc.stdout[-2000:]
    import json
    matrix = json.loads(proc.stdout)["matrix"]
    assert [(m["impl"], m["file"], m["passed"], m["failed"], m["unsupported"]) for m in matrix] == [
        ("c-avr-device", "envelope_v1.json [compact,16-byte secret]", 109, 0, 169),
        ("c-avr-device", "envelope_v1_lean.json [16-byte secret]", 128, 0, 64),
        ("c-avr-device", "wycheproof/aes_cbc_pkcs5_test.json [128]", 72, 0, 144)]


# -- Project Wycheproof AES-CBC-PKCS5 through iote_cbc_pkcs7_* (the AES-CBC + PKCS#7 of seal and open) ----------
def wycheproof_file() -> dict:
    return vectors.load(default_vector_dir() / "wycheproof" / "aes_cbc_pkcs5_test.json")


def test_wycheproof_subset_is_the_128_and_256_bit_groups():
    data = wycheproof_file()
    part = c.CPeer("openssl").subset(data)
    assert part is not None and part.label == "[128,256]" and part.left_out == 72 and "AES-192" in part.why
    assert [g["keySize"] for g in part.data["testGroups"]] == [128, 256]
    kept = [t for _, t in vectors.iter_tests(part.data)]
    assert len(kept) == 144 and sum(t["result"] == "valid" for t in kept) == 48
    assert data["numberOfTests"] == 216 and len(kept) + part.left_out == 216
    assert c.CPeer("openssl").subset(envelope_file()) is None


@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "asan-ubsan"])
@pytest.mark.parametrize("backend", c.BACKENDS)
def test_wycheproof_cbc(backend, sanitize):
    need(backend, sanitize)
    part = c.CPeer(backend).subset(wycheproof_file())
    result, _ = run_peer(backend, "wycheproof/aes_cbc_pkcs5_test.json", part.data, sanitize)
    assert result.failed == 0, result.failures[:5]
    assert result.passed == 144


def test_avr_wycheproof_cbc_in_simavr():
    need("avr")
    part = c.CPeer("avr").subset(wycheproof_file())
    result, runner = run_peer("avr", "wycheproof/aes_cbc_pkcs5_test.json", part.data)
    assert result.failed == 0, result.failures[:5]
    assert result.passed == 144
    assert set(runner._devices) == {"uno"}  # every case fits the Uno's buffer: the whole file ran on the ATmega328P


def test_cbc_answers_are_compared():
    """The runner answers, verify compares: changed bytes or a swapped verdict fail, with the reason."""
    need("openssl")
    import copy
    part = c.CPeer("openssl").subset(wycheproof_file())
    bad = copy.deepcopy(part.data)
    tests = bad["testGroups"][0]["tests"]
    valid = [t for t in tests if t["result"] == "valid"]
    invalid = [t for t in tests if t["result"] == "invalid"]
    valid[1]["msg"] = "00" + valid[1]["msg"][2:] if valid[1]["msg"] else "00"  # plaintext changed
    valid[2]["result"] = "invalid"                                            # a good ciphertext called bad
    invalid[0]["result"] = "valid"                                            # a bad padding called good
    invalid[0]["msg"] = ""
    result = check(bad, c.host_runner("openssl"))
    failed = {case.tc_id: case.detail for case in result.cases if case.status == "failed"}
    assert len(result.cases) == 144 and result.count("passed") == 141
    assert "plaintext_hex differs" in failed[valid[1]["tcId"]]
    assert "accepted an invalid case" in failed[valid[2]["tcId"]]
    assert "error padding" in failed[invalid[0]["tcId"]]

@pytest.mark.parametrize("backend", (*c.BACKENDS, "avr"))
def test_aes192_is_refused_by_the_library_not_skipped_silently(backend):
    """The 72 tests verify reports as unsupported: given to the runner anyway, the library itself refuses their
    24-byte keys (bad-key), which the runner answers as unsupported."""
    need(backend)
    data = wycheproof_file()
    only192 = {**data, "testGroups": [g for g in data["testGroups"] if g["keySize"] == 192]}
    result = check(only192, c.AvrRunner("avr") if backend == "avr" else c.host_runner(backend))
    assert len(result.cases) == 72 and set(statuses(result).values()) == {"unsupported"}
    assert all("AES-192" in case.detail for case in result.cases)


def test_envelope_answers_are_compared():
    """A vector with a changed plaintext or error fails: verify compares the runner's answers."""
    need("openssl")
    data = envelope_file()
    import copy
    bad = copy.deepcopy(data)
    tests = bad["testGroups"][0]["tests"]
    tests[2]["msg"] = "42"  # was "41"
    invalid = next(t for t in tests if t["result"] == "invalid" and t["error"] == "auth")
    invalid["error"] = "malformed"
    result = check(bad, c.host_runner("openssl"))
    failed = {case.tc_id: case.detail for case in result.cases if case.status == "failed"}
    assert len(failed) == 2 and result.count("passed") == 276
    assert "plaintext_hex differs" in failed[tests[2]["tcId"]]
    assert "failed with auth, expected malformed" in failed[invalid["tcId"]]


def _ask(backend: str, *lines: str) -> list[dict]:
    import json
    proc = subprocess.run(c.runner_command(backend), input="".join(ln + "\n" for ln in lines).encode(),
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(ln) for ln in proc.stdout.decode().splitlines()]


@pytest.mark.parametrize("backend", c.BACKENDS)
def test_protocol_json_scanner(backend):
    """The runner's flat JSON scanner: escaped requests (\\" \\\\ \\n \\uXXXX, a surrogate pair), members it does not
    know (nested objects/arrays, strings holding braces) skipped, the JSON-form answer escaped; a line that is
    not an object is a bad-request, and the runner goes on."""
    need(backend)
    import json
    iv = bytes(range(16))
    msg = "caf\u00e9 \U0001F600 \"q\" \\ \n".encode()
    sealed = iotenvelope.seal(SECRET, msg, device="d-1", seq=9, ts=1, iv=iv, format="json")
    seal = {"id": 3, "op": "seal", "form": "json", "secret_hex": SECRET.hex(), "plaintext_hex": msg.hex(),
            "device": "d-1", "seq": 9, "ts": 1, "direction": "up", "type": "data", "iv_hex": iv.hex(),
            "extra": {"a": [1, {"b": "}]\\\""}], "c": None}}
    opened = {"id": 4, "op": "open", "form": "json", "secret_hex": SECRET.hex(), "direction": "up",
              "envelope": sealed + "\n", "now": None}
    escaped = json.dumps(opened, ensure_ascii=True).replace("d-1", "\\u0064-1")  # inside the envelope text
    assert escaped.count("\\u0064-1") == 1
    answers = _ask(backend, json.dumps(seal), escaped, "[1, 2]",
                   json.dumps({"id": 6, "op": "open", "form": "lean", "secret_hex": SECRET.hex(), "direction": "up",
                               "envelope": "\ud83d\ude00", "device": "d", "now": None}, ensure_ascii=True),
                   json.dumps({"id": 7, "op": "frobnicate"}))
    assert answers[0] == {"id": 3, "ok": True, "envelope": sealed}
    assert answers[1] == {"id": 4, "ok": True, "plaintext_hex": msg.hex(), "device": "d-1", "direction": "up",
                          "type": "data", "seq": 9, "ts": 1}
    assert answers[2]["ok"] is False and answers[2]["error"] == "bad-request"
    assert answers[3] == {"id": 6, "ok": False, "error": "malformed"}
    assert answers[4]["id"] == 7 and answers[4]["error"] == "unsupported"

@pytest.mark.parametrize("backend", c.BACKENDS)
def test_runner_error_names_match_the_python_table(backend):
    need(backend)
    out = subprocess.run([str(c.BUILD / "host" / f"iote-runner-{backend}"), "info"], capture_output=True, text=True,
                         check=True).stdout
    names = next(line for line in out.splitlines() if line.startswith("errors ")).split()[1:]
    assert names == [c.ERROR_NAMES.get(i, "error") for i in range(len(names))]
    assert [i for i in range(len(names)) if i not in c.ERROR_NAMES] == list(c.RESERVED_CODES)
    assert len(names) == len(c.ERROR_CODES) + len(c.RESERVED_CODES)


def run_cli(backend: str, args: list[str], data: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([str(c.BUILD / "host" / f"iote-runner-{backend}"), *args], input=data, capture_output=True,
                          timeout=60)


@pytest.mark.parametrize("fmt", ["compact", "json"])
@pytest.mark.parametrize("backend", c.BACKENDS)
def test_c_and_python_interoperate(backend, fmt):
    need(backend)
    for i, msg in enumerate([b"", b'{"co2": 1223}', os.urandom(200)]):
        # C seals with a random IV, Python opens
        proc = run_cli(backend, ["seal", "--key", SECRET.hex(), "--device", "sensor-01", "--seq", str(i), "--ts",
                                 "1763900000", "--format", fmt], msg)
        assert proc.returncode == 0, proc.stderr
        opened = iotenvelope.open(SECRET, proc.stdout.decode().strip(), freshness=None)
        assert (opened.plaintext, opened.device, opened.seq) == (msg, "sensor-01", i)
        # Python seals a down message, C opens it
        token = iotenvelope.seal(SECRET, msg, device="gw", seq=i, ts=0, direction="down", format=fmt)
        proc = run_cli(backend, ["open", "--key", SECRET.hex(), "--dir", "down"], token.encode())
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == msg
        assert b"device=gw" in proc.stderr
        # the same bytes from the same IV
        iv = os.urandom(16)
        proc = run_cli(backend, ["seal", "--key", SECRET.hex(), "--device", "d", "--seq", "9", "--ts", "1",
                                 "--iv", iv.hex(), "--format", fmt, "--dir", "down"], msg)
        assert proc.stdout.decode().strip() == iotenvelope.seal(SECRET, msg, device="d", seq=9, ts=1, iv=iv,
                                                                direction="down", format=fmt)


@pytest.mark.parametrize("backend", c.BACKENDS)
def test_c_reports_errors_with_exit_codes(backend):
    need(backend)
    token = iotenvelope.seal(SECRET, b"x", device="gw", seq=1, ts=0, direction="down")
    assert run_cli(backend, ["open", "--key", SECRET.hex(), "--dir", "up"], token.encode()).returncode == 5
    assert run_cli(backend, ["open", "--key", "00" * 16, "--dir", "down"], token.encode()).returncode == 5
    assert run_cli(backend, ["open", "--key", SECRET.hex(), "--dir", "down"], token[:-1].encode()).returncode == 3
    assert run_cli(backend, ["open", "--key", "00" * 20], token.encode()).returncode == 4


@pytest.mark.parametrize("backend", c.BACKENDS)
def test_resync_device_side(backend):
    """SPEC.md section 8 with the device in C and the backend in Python."""
    need(backend)
    nonce = os.urandom(8)
    proc = run_cli(backend, ["resync-request", "--key", SECRET.hex(), "--device", "uno-7", "--seq", "0", "--ts", "0",
                             "--nonce", nonce.hex()], b"")
    assert proc.returncode == 0, proc.stderr
    request = iotenvelope.open(SECRET, proc.stdout.decode().strip(), freshness=None)
    assert (request.type, request.direction, request.plaintext) == ("resync-request", "up", nonce)
    answer = nonce + (1000).to_bytes(4, "big") + (1763900000).to_bytes(4, "big")
    response = iotenvelope.seal(SECRET, answer, device="uno-7", seq=5, ts=1763900000, direction="down",
                                type="resync-response")
    args = ["resync-accept", "--key", SECRET.hex(), "--nonce", nonce.hex()]
    proc = run_cli(backend, args + ["--counter", "17"], response.encode())
    assert proc.stdout.decode().strip() == "counter=1000 time=1763900000", proc.stderr
    proc = run_cli(backend, args + ["--counter", "5000"], response.encode())
    assert proc.stdout.decode().strip() == "counter=5000 time=1763900000"


def _resync_accept(backend: str, sanitize: bool, nonce: bytes, envelope: str) -> subprocess.CompletedProcess:
    binary = c.BUILD / ("san" if sanitize else "host") / f"iote-runner-{backend}"
    return subprocess.run([str(binary), "resync-accept", "--key", SECRET.hex(), "--nonce", nonce.hex(),
                           "--counter", "17"], input=envelope.encode(), capture_output=True, timeout=60)


@pytest.mark.parametrize("fmt", ["compact", "json"])
@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "asan-ubsan"])
@pytest.mark.parametrize("backend", c.BACKENDS)
def test_resync_accept_refusals_name_the_spec_error(backend, sanitize, fmt):
    """SPEC.md section 8: the C device reports a wrong type or a plaintext other than 16 bytes as malformed
    (exit 3) and a response to another nonce as auth (exit 5); the response was sealed by Python."""
    need(backend, sanitize)
    nonce = bytes.fromhex("0102030405060708")
    answer = nonce + (1000).to_bytes(4, "big") + (1763900000).to_bytes(4, "big")

    def response(plaintext: bytes, type: str = "resync-response") -> str:
        return iotenvelope.seal(SECRET, plaintext, device="uno-7", seq=5, ts=1763900000, direction="down",
                                type=type, format=fmt)

    ok = _resync_accept(backend, sanitize, nonce, response(answer))
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, b"counter=1000 time=1763900000\n", b"")
    cases = [
        (bytes(8), response(answer), "auth", 5),                                  # another nonce
        (nonce[:7] + b"\x09", response(answer), "auth", 5),                      # last byte differs
        (nonce, response(answer, "data"), "malformed", 3),                        # wrong type
        (nonce, response(answer, "resync-request"), "malformed", 3),
        (bytes(8), response(answer, "data"), "malformed", 3),                     # type is checked first
        (nonce, response(answer[:15]), "malformed", 3),                           # 15 bytes
        (nonce, response(answer + b"\x00"), "malformed", 3),                     # 17 bytes
        (nonce, response(nonce), "malformed", 3),                                 # the nonce alone
        (nonce, response(b""), "malformed", 3),
        (bytes(8), response(answer[:15]), "malformed", 3),                        # size before nonce
    ]
    for i, (their_nonce, envelope, name, exit_code) in enumerate(cases):
        proc = _resync_accept(backend, sanitize, their_nonce, envelope)
        assert (proc.returncode, proc.stdout, proc.stderr) == (exit_code, b"", f"iote-runner: error {name}\n".encode()), i


def test_esp8266_build():
    """The library compiles warning-free for the ESP8266 CPU (xtensa-lx106) with both device backends."""
    reason = c.build("openssl")
    if reason is not None:
        pytest.fail(reason)
    proc = subprocess.run(["make", "-s", "-C", str(c.C_DIR), "xtensa"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stderr or proc.stdout)[-2000:] + " (run .ci/install)"
    for name in ("bearssl", "tinyaes"):
        totals = (c.BUILD / "xtensa" / f"{name}.size").read_text().splitlines()[-1].split()
        assert totals[-1] == "(TOTALS)" and int(totals[0]) > 1000


def test_verify_lists_every_c_peer():
    proc = subprocess.run([sys.executable, "-m", "iotenvelope", "verify", "--json", "--impl", "c-avr",
                           "--impl", "c-bearssl"], capture_output=True, text=True, timeout=900,
                          cwd=str(c.C_DIR.parents[1]))
    assert proc.returncode == 0, proc.stdout[-2000:]
    import json
    matrix = json.loads(proc.stdout)["matrix"]
    assert {(m["impl"], m["file"], m["passed"], m["failed"], m.get("unsupported", 0)) for m in matrix} == {
        (impl, file, passed, 0, unsupported) for impl in ("c-avr", "c-bearssl")
        for file, passed, unsupported in (("envelope_v1.json", 278, 0), ("envelope_v1_lean.json", 192, 0),
                                          ("wycheproof/aes_cbc_pkcs5_test.json [128,256]", 144, 72))}


# -- the lean form (SPEC.md section 5.3), byte for byte against an independent computation ---------------------------
def _lean_reference(secret: bytes, msg: bytes, *, device: str, seq: int, ts: int, direction: str = "up",
                    type: str = "data") -> bytes:
    """The lean raw bytes computed here from SPEC.md section 5.3 with pycryptodome and hmac (not through the
    iotenvelope package), to check the C library byte for byte."""
    import hashlib
    import hmac as hmac_mod

    from Crypto.Cipher import AES

    prk = hmac_mod.new(bytes(32), secret, hashlib.sha256).digest()
    k_enc = hmac_mod.new(prk, b"iotenvelope v1 lean enc\x01", hashlib.sha256).digest()[:len(secret)]
    k_mac = hmac_mod.new(prk, b"iotenvelope v1 lean mac\x01", hashlib.sha256).digest()
    t = 1 if ts else 0
    hdr = 0x40 | t << 4 | {"up": 1, "down": 2}[direction] << 2 | {"data": 0, "resync-request": 1,
                                                                   "resync-response": 2}[type]
    seq_be = seq.to_bytes(4, "big")
    ts_be = ts.to_bytes(4, "big") if t else b""
    iv = AES.new(k_enc, AES.MODE_ECB).encrypt(bytes([0x4C, hdr & 0x0F]) + seq_be + bytes(10))
    pad = 16 - len(msg) % 16
    ct = AES.new(k_enc, AES.MODE_CBC, iv).encrypt(msg + bytes([pad]) * pad)
    dev = device.encode()
    tag = hmac_mod.new(k_mac, bytes([hdr, len(dev)]) + dev + seq_be + ts_be + ct, hashlib.sha256).digest()[:8]
    return bytes([hdr]) + seq_be + ts_be + ct + tag


LEAN_CASES = [  # (secret, msg, device, seq, ts, direction, type)
    (SECRET, b"", "a", 0, 0, "up", "data"),
    (SECRET, b'{"t":21.5,"rh":40}xx', "lora-node-1", 5, 0, "up", "data"),        # 20 bytes -> 45 raw
    (SECRET, bytes(range(31)), "eui-70b3d57ed0001234", 4294967295, 1763900000, "up", "data"),  # 31 -> 49
    (SECRET, b"x" * 16, "gw", 1, 1, "down", "data"),
    (bytes(range(32)), os.urandom(47), "s:1", 77, 4294967295, "down", "resync-response"),
    (bytes(range(32)), os.urandom(8), "s:1", 0, 0, "up", "resync-request"),
]


@pytest.mark.parametrize("backend", c.BACKENDS)
def test_lean_bytes_match_an_independent_computation(backend):
    """C seals every header kind, both key sizes, with and without ts: exactly the bytes computed from the SPEC
    layout with pycryptodome; the C library opens those bytes (raw and b64u text) with the device id given."""
    import base64
    need(backend)
    for secret, msg, device, seq, ts, direction, type in LEAN_CASES:
        want = _lean_reference(secret, msg, device=device, seq=seq, ts=ts, direction=direction, type=type)
        assert len(want) == 13 + 16 * ((len(msg) + 1 + 15) // 16) + (4 if ts else 0)
        args = ["seal", "--key", secret.hex(), "--device", device, "--seq", str(seq), "--ts", str(ts), "--dir",
                direction, "--type", type]
        raw = run_cli(backend, args + ["--format", "lean-raw"], msg)
        assert (raw.returncode, raw.stdout) == (0, want), raw.stderr
        text = run_cli(backend, args + ["--format", "lean"], msg)
        assert (text.returncode, text.stdout) == (0, base64.urlsafe_b64encode(want).rstrip(b"=") + b"\n")
        for fmt, data in (("lean-raw", want), ("lean", text.stdout), ("lean", text.stdout.rstrip(b"\n"))):
            opened = run_cli(backend, ["open", "--key", secret.hex(), "--format", fmt, "--device", device, "--dir",
                                       direction], data)
            assert (opened.returncode, opened.stdout) == (0, msg), opened.stderr
            assert f"device={device} seq={seq} ts={ts} type={['data', 'resync-request', 'resync-response'].index(type)}"\
                .encode() in opened.stderr
        # the device id is bound under the tag; the direction is checked first
        other = run_cli(backend, ["open", "--key", secret.hex(), "--format", "lean-raw", "--device", device + "x",
                                  "--dir", direction], want)
        assert (other.returncode, other.stderr) == (5, b"iote-runner: error auth\n")
        wrong = run_cli(backend, ["open", "--key", secret.hex(), "--format", "lean-raw", "--device", device,
                                  "--dir", "down" if direction == "up" else "up"], want)
        assert (wrong.returncode, wrong.stderr) == (5, b"iote-runner: error wrong-direction\n")


def test_lean_sizes_fit_lorawan():
    """A 20-byte reading is 45 raw bytes without ts; a 31-byte one with ts is 49, under the 51 of EU868 DR0-DR2."""
    need("openssl")
    for size, ts, raw_len in ((20, 0, 45), (31, 1763900000, 49), (15, 0, 29), (0, 1, 33)):
        proc = run_cli("openssl", ["seal", "--key", SECRET.hex(), "--device", "n", "--seq", "1", "--ts", str(ts),
                                   "--format", "lean-raw"], bytes(size))
        assert proc.returncode == 0 and len(proc.stdout) == raw_len


@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "asan-ubsan"])
@pytest.mark.parametrize("backend", c.BACKENDS)
def test_lean_refusals(backend, sanitize):
    """SPEC.md section 5.3 decoding refusals, through the C command line (each exit code and SPEC error)."""
    need(backend, sanitize)
    binary = c.BUILD / ("san" if sanitize else "host") / f"iote-runner-{backend}"
    good = _lean_reference(SECRET, b"21.5", device="n1", seq=9, ts=1763900000)

    def open_raw(data: bytes, device: str = "n1") -> tuple[int, bytes]:
        proc = subprocess.run([str(binary), "open", "--key", SECRET.hex(), "--format", "lean-raw", "--device", device],
                              input=data, capture_output=True, timeout=60)
        return proc.returncode, proc.stderr

    assert open_raw(good)[0] == 0
    no_ts = bytearray(good[:1] + good[1:5] + bytes(4) + good[9:])
    cases = [
        (good[:28], "malformed"), (good[:32], "malformed"), (good + b"\x00", "malformed"),  # lengths
        (bytes([0x57]) + good[1:], "malformed"),    # Y = 11
        (bytes([0x50]) + good[1:], "malformed"),    # D = 00
        (bytes([0x5C]) + good[1:], "malformed"),    # D = 11
        (bytes([0x34]) + good[1:], "unsupported-version"),  # bits 7..5 = 001
        (bytes([0x01]) + good[1:], "unsupported-version"),  # a compact envelope's version byte
        (bytes(no_ts), "malformed"),                  # T = 1 with ts = 0
        (good[:-1] + bytes([good[-1] ^ 1]), "auth"),  # tag
        (good[:10] + bytes([good[10] ^ 0x80]) + good[11:], "auth"),  # ct
        (good + b"\n", "malformed"),                  # raw bytes are never stripped
    ]
    for data, name in cases:
        assert open_raw(data) == ({"malformed": 3, "unsupported-version": 3, "auth": 5}[name],
                                  f"iote-runner: error {name}\n".encode()), (data.hex(), name)


# -- SPEC.md section 5: one trailing newline, the text cap, linear refusal -----------------------------------------
@pytest.mark.parametrize("backend", c.BACKENDS)
def test_open_strips_exactly_one_trailing_newline(backend):
    """`seal > f; open < f` works (C's seal prints one newline, Python's CLI too), a second one is malformed."""
    need(backend)
    for fmt in ("compact", "json"):
        token = iotenvelope.seal(SECRET, b"r", device="gw", seq=1, ts=0, direction="down", format=fmt).encode()
        for tail, code in ((b"", 0), (b"\n", 0), (b"\r\n", 0), (b"\n\n", 3 if fmt == "compact" else 0),
                           (b"\r", 3 if fmt == "compact" else 0), (b" \n", 3 if fmt == "compact" else 0)):
            proc = run_cli(backend, ["open", "--key", SECRET.hex(), "--dir", "down"], token + tail)
            assert proc.returncode == code, (fmt, tail)
            assert proc.stdout == (b"r" if code == 0 else b"")


@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "asan-ubsan"])
def test_hostile_inputs_are_malformed(sanitize):
    """Issue 10 F1: a 1.1 MB JSON object with 100,000 members, a 1 MB compact string, 60,000 nested brackets
    and a 64 KiB object of repeated members are each refused as malformed (exit 3); bench/c.py measures how
    fast."""
    need("openssl", sanitize)
    binary = c.BUILD / ("san" if sanitize else "host") / "iote-runner-openssl"
    members = b"{" + b",".join(b'"m%05d":1' % i for i in range(100000)) + b"}"
    assert len(members) == 1100001
    inputs = [members, b"A" * 1000000, b'{"v": ' + b"[" * 60000, b"{" + b'"v": 1, ' * 8000 + b'"v": 1}',
              b"A" * 65537 + b"\n", b" " * 65537]
    for data in inputs:
        for fmt in ("auto", "json", "compact"):
            proc = subprocess.run([str(binary), "open", "--key", SECRET.hex(), "--format", fmt], input=data,
                                  capture_output=True, timeout=60)
            assert (proc.returncode, proc.stderr) == (3, b"iote-runner: error malformed\n"), (len(data), fmt)


@pytest.mark.parametrize("backend", c.BACKENDS)
def test_resync_response_after_t_wait_is_stale(backend):
    """SPEC.md section 8: 60 s after the request (device's monotonic ms) the response is still taken, 1 ms
    later it is stale (exit 7), also across a wrap of the 32-bit millisecond counter."""
    need(backend)
    nonce = os.urandom(8)
    answer = nonce + (1000).to_bytes(4, "big") + (1763900000).to_bytes(4, "big")
    response = iotenvelope.seal(SECRET, answer, device="uno-7", seq=5, ts=1763900000, direction="down",
                                type="resync-response")
    base = ["resync-accept", "--key", SECRET.hex(), "--nonce", nonce.hex(), "--counter", "17"]
    for sent, now, code in ((0, 60000, 0), (0, 60001, 7), (4294967000, 1000, 0), (4294967000, 60000, 7),
                            (1000, 999, 7), (0, 864000000, 7)):
        proc = run_cli(backend, base + ["--sent-ms", str(sent), "--now-ms", str(now)], response.encode())
        assert proc.returncode == code, (sent, now, proc.stderr)
        if code:
            assert (proc.stdout, proc.stderr) == (b"", b"iote-runner: error stale\n")
        else:
            assert proc.stdout == b"counter=1000 time=1763900000\n"


# -- libFuzzer (tools/fuzz.c): a short run per build in every test run; longer runs: make fuzz, then by hand ----------
FUZZ_SECRET = bytes(range(16))  # the key tools/fuzz.c derives


def _fuzz_seeds(directory) -> int:
    """Seed inputs: every vector envelope for each text decoder (mode byte 0..2, 6), envelopes valid under the
    harness's key (they open, so the reseal checks run), lean ones (3, 4), resync responses (5), round trips (7)."""
    seeds = []
    for _, test in vectors.iter_tests(envelope_file()):
        text = test["envelope"].encode()
        seeds += [bytes([m]) + text for m in (0, 1, 2, 6)]
    for i, fmt in enumerate(("compact", "json")):
        text = iotenvelope.seal(FUZZ_SECRET, b'{"t": 1}', device="fz-1", seq=i, ts=0, format=fmt).encode()
        seeds += [bytes([i]) + text, bytes([2]) + text + b"\n", bytes([6]) + text]
    for ts in (0, 1763900000):
        raw = _lean_reference(FUZZ_SECRET, b"21.5C", device="fz-1", seq=3, ts=ts)
        import base64
        seeds += [bytes([4]) + raw, bytes([3]) + base64.urlsafe_b64encode(raw).rstrip(b"=") + b"\r\n"]
    nonce = bytes(8)
    resp = iotenvelope.seal(FUZZ_SECRET, nonce + bytes(8), device="fz-1", seq=1, ts=0, direction="down",
                            type="resync-response").encode()
    seeds += [bytes([5]) + resp, bytes([7]) + bytes(range(40)), bytes([7 | 8]) + bytes(60)]
    for i, seed in enumerate(seeds):
        (directory / f"seed-{i:04d}").write_bytes(seed)
    return len(seeds)


@pytest.mark.parametrize("backend", ["openssl", "tinyaes"])
def test_fuzz_harness_short_run(backend, tmp_path):
    """Seconds of libFuzzer with ASan + UBSan over the compact, JSON and lean decoders, resync and seal/open round
    trips: no crash, no sanitizer report, no broken invariant (the harness aborts on one)."""
    if shutil.which("clang") is None:
        pytest.fail("clang not found (run .ci/install: .ci/install.d/45-c-fuzz.sh)")
    proc = subprocess.run(["make", "-s", "-C", str(c.C_DIR), f"build/fuzz/iote-fuzz-{backend}"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, (proc.stderr or proc.stdout)[-2000:]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seeds = _fuzz_seeds(corpus)
    proc = subprocess.run([str(c.BUILD / "fuzz" / f"iote-fuzz-{backend}"), "-max_total_time=3", "-timeout=10",
                           "-rss_limit_mb=2048", "-print_final_stats=1", str(corpus)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = int(proc.stderr.split("stat::number_of_executed_units:")[1].split()[0])
    assert runs > seeds, proc.stderr[-1000:]  # every seed ran, and mutations after them


# -- vectors/envelope_v1_lean.json (the Python reference's lean vectors) through the C runner -----------------------
def lean_file() -> dict:
    return vectors.load(default_vector_dir() / "envelope_v1_lean.json")


@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "asan-ubsan"])
@pytest.mark.parametrize("backend", c.BACKENDS)
def test_lean_vectors(backend, sanitize):
    """Every lean case: opened for its device id, fields and plaintext compared, sealed again to the exact text;
    every invalid case refused with its SPEC error; the repeated-seq cases through the C replay window."""
    need(backend, sanitize)
    result, _ = run_peer(backend, "envelope_v1_lean.json", sanitize=sanitize)
    assert result.failed == 0, result.failures[:5]
    assert result.passed == lean_file()["numberOfTests"] == 192


def test_lean_answers_are_compared():
    """A changed plaintext, a wrong error, a repeated-seq case whose first envelope is expected to fail, and a
    wrong device id each fail their case."""
    need("openssl")
    import copy
    bad = copy.deepcopy(lean_file())
    tests = bad["testGroups"][0]["tests"]
    valid = [t for t in tests if t["result"] == "valid" and t["msg"]]
    valid[0]["msg"] = "00" + valid[0]["msg"][2:] if valid[0]["msg"][:2] != "00" else "01" + valid[0]["msg"][2:]
    valid[1]["dev"] = valid[1]["dev"] + "x"
    auth = next(t for t in tests if t.get("error") == "auth")
    auth["error"] = "malformed"
    repeated = next(t for t in tests if "envelopes" in t)
    repeated["results"] = ["auth", "replay-duplicate"]
    result = check(bad, c.host_runner("openssl"))
    failed = {case.tc_id: case.detail for case in result.cases if case.status == "failed"}
    assert len(failed) == 4 and result.count("passed") == 188, failed
    assert "plaintext_hex differs" in failed[valid[0]["tcId"]]
    assert "open failed: error auth" in failed[valid[1]["tcId"]]  # the MAC covers the device id
    assert "failed with auth, expected malformed" in failed[auth["tcId"]]
    assert "open-many [0] accepted an invalid case" in failed[repeated["tcId"]]


def test_avr_lean_vectors_in_simavr():
    """The lean vectors on the simulated ATmega328P (full build), all 192 on the Uno."""
    need("avr")
    result, runner = run_peer("avr", "envelope_v1_lean.json")
    assert result.failed == 0, result.failures[:5]
    assert result.passed == 192
    assert set(runner._devices) == {"uno"}

def test_unit_tests_under_thread_sanitizer():
    """The unit tests (with 4 threads sealing and opening through one shared iote_keys) under ThreadSanitizer with
    the OpenSSL backend, whose per-key EVP contexts are taken with atomic flags (docs/c.md): no data race."""
    proc = subprocess.run(["make", "-s", "-C", str(c.C_DIR), "build/tsan/iote-unit-openssl"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, (proc.stderr or proc.stdout)[-2000:]
    proc = subprocess.run([str(c.BUILD / "tsan" / "iote-unit-openssl")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "ThreadSanitizer" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("checks, 0 failed"), proc.stdout


@pytest.mark.parametrize("program, reason", [
    ("read line; echo 'hello there'", "is not a device answer line"),
    ("exit 3", "the simulation ended (exit status 3)"),
])
def test_avr_adapter_fails_a_broken_device_with_its_reason(monkeypatch, program, reason):
    """A device that answers garbage or dies stops the row with the reason; the file's cases fail ("not run"),
    verify does not hang. (A stand-in program takes avrsim's place.)"""
    need("avr")
    monkeypatch.setattr(c, "avr_command", lambda board, kind="avr": ["sh", "-c", program])
    result = check(lean_file(), c.AvrRunner("avr"))
    assert set(statuses(result).values()) == {"failed"} and len(result.cases) == 192
    assert reason in result.cases[0].detail and "[atmega328p]" in result.cases[0].detail
    assert all(case.detail.startswith("not run: runner failed at tcId 1") for case in result.cases[1:])


def test_every_backend_builds_the_host_benchmark_and_its_seal_opens_in_python():
    """`make bench-host` builds bench/c.py's program for all five builds (ownaes included: it once failed to
    compile, reaching for tiny-AES-c's header); the ownaes one runs and its envelope opens here."""
    proc = subprocess.run(["make", "-s", "-C", str(c.C_DIR), "bench-host"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for backend in (*c.BACKENDS, "ownaes"):
        assert (c.BUILD / "bench" / f"iote-bench-{backend}").is_file()
    reading = b'{"co2": 1223, "temp": 21.4, "hum": 48, "bat": 3.71, "rssi": -67, "uptime": 8639}'
    out = subprocess.run([str(c.BUILD / "bench" / "iote-bench-ownaes")], input=reading, capture_output=True,
                         timeout=120, check=True)
    result = json.loads(out.stdout)
    assert result["backend"] == "iote_aes + iote_sha256"
    opened = iotenvelope.open(bytes(range(16)), result["sealed"], freshness=None)
    assert (opened.plaintext, opened.device) == (reading, "sensor-01")
