"""The C library (interop/c): builds, unit tests and vectors per backend, under AddressSanitizer + UBSan, on
the AVR in simavr, for the ESP8266 CPU, and byte-for-byte interop with the Python implementation.

These tests need the toolchains and libraries `.ci/install` installs (.ci/install.d/40-c.sh); when one is
missing they FAIL with the reason, they do not skip.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import iotenvelope
from iotenvelope.verify import vectors
from iotenvelope.verify.peers import c
from iotenvelope.verify import default_vector_dir

SECRET = bytes(range(16))


def need(kind: str, sanitize: bool = False) -> None:
    reason = c.build(kind, sanitize)
    if reason is not None:
        pytest.fail(f"C build {kind}{' (sanitizers)' if sanitize else ''} not available: {reason}")


def envelope_file() -> dict:
    return vectors.load(default_vector_dir() / "envelope_v1.json")


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
    data = envelope_file()
    script, cases = c.envelope_script(data)
    result = c.run_script(c.runner_command(backend, sanitize=True), script, cases)
    assert result.failed == 0, result.failures[:5]
    assert result.passed == data["numberOfTests"] == 267


def test_avr_vectors_in_simavr():
    need("avr")
    data = envelope_file()
    result = c.CPeer("avr").run(default_vector_dir() / "envelope_v1.json", data)
    assert result.failed == 0, result.failures[:5]
    assert result.passed == 267
    # most cases run on the Uno itself; only envelopes longer than its buffer go to the Mega
    cap = c.avr_buffer_size("uno")
    on_mega = [len(t["envelope"]) for _, t in vectors.iter_tests(data) if len(t["envelope"]) > cap]
    assert cap >= 512 and len(on_mega) == 6 and min(on_mega) > 1400  # only the six 1000-byte-message cases


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
    assert (compact_aes128, part.left_out) == (100, 167)
    result = c.CPeer("avr-device").run(default_vector_dir() / "envelope_v1.json", part.data)
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
    result = c.CPeer("avr-device").run(default_vector_dir() / "wycheproof" / "aes_cbc_pkcs5_test.json", part.data)
    assert result.failed == 0, result.failures[:5]
    assert result.passed == aes128


def _left_out_script(kind_of_case: str) -> tuple[bytes, list[tuple[int, str]], dict[int, str]]:
    """A script of the envelope cases the device build leaves out for one feature that fit the Uno's buffer
    (JSON: only those under 16-byte secrets, a key the device takes)."""
    data = envelope_file()
    cap = c.avr_buffer_size("uno")
    ids = {t["tcId"] for g, t in vectors.iter_tests(data) if c.device_feature(g, t) == kind_of_case
           and len(t["envelope"]) <= cap and (kind_of_case != "json" or len(g["secret"]) == 32)}
    script, cases = c.envelope_script(data, lambda t: t["tcId"] in ids)
    return script, cases, {tc: kind_of_case for tc in ids}


@pytest.mark.parametrize("feature", ["json", "aes256"])
def test_avr_device_runner_refuses_what_the_device_build_leaves_out(feature):
    """The device runner answers "unsupported <tcId> <feature>" for every such case; the full build (c-avr)
    checks the same cases and passes them, so a device runner built with JSON/AES-256 would fail this cell."""
    need("avr-device")
    need("avr")
    script, cases, expected = _left_out_script(feature)
    assert len(cases) > 40
    proc = subprocess.run(c.avr_command("uno", "avr-device"), input=script, capture_output=True, timeout=600)
    lines = proc.stdout.decode().splitlines()
    assert [ln for ln in lines if ln.split()[0] in ("pass", "fail", "unsupported")] == [
        f"unsupported {tc} {feature}" for tc, _ in cases]
    keys = [ln for ln in lines if ln.startswith("key ")]
    assert set(keys) == ({"key unsupported aes256"} if feature == "aes256" else {"key 0"})
    assert lines[-1].startswith("free ") and int(lines[-1].split()[1]) > 0  # the stack never reached buf
    # the peer's bookkeeping: unsupported as expected adds nothing, neither a pass nor a failure
    result = c.run_script(c.avr_command("uno", "avr-device"), script, cases, unsupported=expected)
    assert (result.passed, result.failed) == (0, 0), result.failures[:3]
    # the full configuration opens them: with the device's expectations every case is a failure
    full = c.run_script(c.avr_command("uno", "avr"), script, cases, unsupported=expected)
    assert (full.passed, full.failed) == (0, len(cases))
    assert f"expected 'unsupported {feature}'" in full.failures[0] and "pass" in full.failures[0]
    assert c.run_script(c.avr_command("uno", "avr"), script, cases).passed == len(cases)


def test_avr_device_runner_unsupported_is_a_failure_where_not_expected():
    """Without the expectation (c-avr's cells), an "unsupported" answer fails the case."""
    need("avr-device")
    script, cases, _ = _left_out_script("json")
    result = c.run_script(c.avr_command("uno", "avr-device"), script, cases)
    assert (result.passed, result.failed) == (0, len(cases))
    assert "the runner calls it unsupported" in result.failures[0]


def test_avr_device_runner_refuses_aes256_wycheproof_keys():
    """The 256-bit Wycheproof tests: the device build's iote_cbc_pkcs7_* refuse the key (bad-key) in both
    directions, and the runner says so; the full build checks them."""
    need("avr-device")
    need("avr")
    data = wycheproof_file()
    only256 = {**data, "testGroups": [g for g in data["testGroups"] if g["keySize"] == 256]}
    script, cases = c.cbc_script(only256)
    proc = subprocess.run(c.avr_command("uno", "avr-device"), input=script, capture_output=True, timeout=600)
    verdicts = [ln for ln in proc.stdout.decode().splitlines() if ln.split()[0] in ("pass", "fail", "unsupported")]
    assert verdicts == [f"unsupported {tc} aes256" for tc, _ in cases] and len(cases) == 72
    assert c.run_script(c.avr_command("uno", "avr"), script, cases).passed == 72


def test_verify_lists_c_avr_device():
    proc = subprocess.run([sys.executable, "-m", "iotenvelope", "verify", "--json", "--impl", "c-avr-device"],
                          capture_output=True, text=True, timeout=900, cwd=str(c.C_DIR.parents[1]))
    assert proc.returncode == 0, proc.stdout[-2000:]
    import json
    matrix = json.loads(proc.stdout)["matrix"]
    assert [(m["impl"], m["file"], m["passed"], m["failed"], m["unsupported"]) for m in matrix] == [
        ("c-avr-device", "envelope_v1.json [compact,16-byte secret]", 100, 0, 167),
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
    script, cases = c.cbc_script(part.data)
    result = c.run_script(c.runner_command(backend, sanitize), script, cases)
    assert result.failed == 0, result.failures[:5]
    assert result.passed == len(cases) == 144


def test_avr_wycheproof_cbc_in_simavr():
    need("avr")
    part = c.CPeer("avr").subset(wycheproof_file())
    result = c.CPeer("avr").run(default_vector_dir() / "wycheproof" / "aes_cbc_pkcs5_test.json", part.data)
    assert result.failed == 0, result.failures[:5]
    assert result.passed == 144
    # every case fits the Uno's buffer: the whole file runs on the ATmega328P
    assert max(c.cbc_buffer_need(t) for _, t in vectors.iter_tests(part.data)) <= c.avr_buffer_size("uno")


def test_cbc_runner_rejects_wrong_expectations():
    """The C command really compares: changed bytes or a swapped verdict fail, with the reason."""
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
    script, cases = c.cbc_script(bad)
    result = c.run_script(c.runner_command("openssl"), script, cases)
    assert result.failed == 3 and result.passed == 141
    details = "\n".join(result.failures)
    assert f"tcId {valid[1]['tcId']} " in details and "ciphertext-mismatch" in details
    assert f"tcId {valid[2]['tcId']} " in details and "decrypted; expected error padding" in details
    assert f"tcId {invalid[0]['tcId']} " in details


@pytest.mark.parametrize("backend", (*c.BACKENDS, "avr"))
def test_aes192_is_refused_by_the_library_not_skipped_silently(backend):
    """The 72 tests verify reports as unsupported: the library itself refuses their 24-byte keys (bad-key)."""
    need(backend)
    data = wycheproof_file()
    out = bytearray()
    cases = []
    for group, test in vectors.iter_tests(data):
        if group["keySize"] != 192:
            continue
        msg, ct = bytes.fromhex(test["msg"]), bytes.fromhex(test["ct"])
        out += (f"C {test['tcId']} {test['key']} {test['iv']} {c.ERROR_CODES['bad-key']} {len(msg)} {len(ct)}\n"
                .encode() + msg + ct + b"\n")
        cases.append((test["tcId"], f"tcId {test['tcId']}"))
    command = c.avr_command("uno") if backend == "avr" else c.runner_command(backend)
    result = c.run_script(command, bytes(out) + b"Q\n", cases)
    assert result.failed == 0, result.failures[:5]
    assert result.passed == len(cases) == 72


def test_runner_rejects_a_wrong_expectation():
    """The runner really compares: a vector with a changed plaintext or error must fail."""
    need("openssl")
    data = envelope_file()
    import copy
    bad = copy.deepcopy(data)
    tests = bad["testGroups"][0]["tests"]
    tests[2]["msg"] = "42"  # was "41"
    invalid = next(t for t in tests if t["result"] == "invalid" and t["error"] == "auth")
    invalid["error"] = "malformed"
    script, cases = c.envelope_script(bad)
    result = c.run_script(c.runner_command("openssl"), script, cases)
    assert result.failed == 2
    assert any("plaintext-mismatch" in f for f in result.failures)
    assert any("got error auth" in f for f in result.failures)


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
        for file, passed, unsupported in (("envelope_v1.json", 267, 0),
                                          ("wycheproof/aes_cbc_pkcs5_test.json [128,256]", 144, 72))}
