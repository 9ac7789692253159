"""The dweeter profile against the real dweeter 0.3.0 package (only its HTTP calls and clock replaced)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from iotenvelope.verify import vectors
from iotenvelope.errors import AuthenticationError, MalformedError, PaddingError
from iotenvelope.verify.peers import dweeter_pypi
from iotenvelope.verify.peers.python import python_peer
from iotenvelope.profiles import dweeter

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "vectors" / "dweeter" / "dweeter_vectors.json"


@pytest.fixture(scope="module")
def real_dweeter():
    reason = dweeter_pypi.DweeterPackagePeer().unavailable_reason()
    if reason:
        pytest.fail(f"the real dweeter peer is missing: {reason}. Run .ci/install")
    return dweeter_pypi


def cli(*args, stdin: bytes | str = b""):
    if isinstance(stdin, str):
        stdin = stdin.encode("utf-8")
    return subprocess.run([sys.executable, "-m", "iotenvelope", *args], input=stdin, capture_output=True, cwd=ROOT)


def random_case(rng: random.Random):
    words = ["co2", "temp", "hum", "note", "x", "ünï", "bat", "rssi", "remote_time"]
    data = {}
    for _ in range(rng.randint(0, 6)):
        kind = rng.randrange(5)
        value = [rng.randint(-10**6, 10**6), round(rng.uniform(-50, 50), 3), "".join(
            rng.choice("abc é☕\"\\\n") for _ in range(rng.randint(0, 20))), None, [1, True]][kind]
        data[rng.choice(words)] = value
    mailbox = "".join(rng.choice("abcdefgh-_0123456789") for _ in range(rng.randint(1, 40)))
    key = "".join(rng.choice("pass wörd!") for _ in range(rng.randint(0, 30)))
    ts = rng.randint(0, 4102444800)
    gmtime = dweeter_pypi.time.strftime("%Y-%m-%dT%H:%M:%S", dweeter_pypi.time.gmtime(ts))
    return data, mailbox, key, ts, gmtime, rng.random() < 0.5


def test_vector_file_layout_and_provenance():
    data = vectors.load(VECTORS)
    assert data["algorithm"] == "dweeter-0.3.0"
    assert data["source"]["implementation"] == "dweeter (PyPI)" and data["source"]["version"] == "0.3.0"
    tests = [t for _, t in vectors.iter_tests(data)]
    assert data["numberOfTests"] == len(tests) == 11
    assert [t["result"] for t in tests].count("valid") == 3
    # the three shared messages, byte for byte (the README example is dweeter's own documentation)
    first = tests[0]
    assert first["wire"]["url"] == "https://dweet.io/dweet/for/42e6ae04e842cadca8a814fea06bcf6d"
    assert first["ts"] == 1721020291


def test_python_checker_passes_every_vector():
    res = python_peer().run(VECTORS, vectors.load(VECTORS))  # the python row: the protocol's dweeter requests
    assert (res.passed, res.failed) == (11, 0), res.failures


def test_real_dweeter_passes_every_vector(real_dweeter):
    res = real_dweeter.check_file(vectors.load(VECTORS))
    assert (res.passed, res.failed) == (11, 0), res.failures


def test_invalid_cases_regenerate_identically(real_dweeter):
    tests = [t for _, t in vectors.iter_tests(vectors.load(VECTORS))]
    invalid = [t for t in tests if t["result"] == "invalid"]
    assert real_dweeter.generate_invalid_tests(invalid[0]["tcId"]) == invalid


def test_seal_matches_real_send_generated(real_dweeter):
    rng = random.Random(7)
    for _ in range(60):
        data, mailbox, key, ts, gmtime, b64mode = random_case(rng)
        service, reply = real_dweeter.send(mailbox, key, data, gmtime, b64mode)
        ours = dweeter.seal_data(data, key, mailbox, ts, b64mode)
        method, url, headers, body = service.posts[0]
        assert url == "https://dweet.io/dweet/for/" + ours["thing"]
        assert body == json.dumps(ours["content"])
        # and the real receiver reads what we sealed
        got = real_dweeter.receive(mailbox, key, b64mode, {"thing": ours["thing"], "created": "c",
                                                           "content": ours["content"]})
        want = dict(data, remote_time=dweeter.time_string(ts), created_time="c")
        assert got == [want]


def test_open_reads_real_send_generated(real_dweeter):
    rng = random.Random(8)
    for _ in range(60):
        data, mailbox, key, ts, gmtime, b64mode = random_case(rng)
        _, reply = real_dweeter.send(mailbox, key, data, gmtime, b64mode, created="2030-01-01T00:00:00.001Z")
        got = dweeter.open_message(reply, key, b64mode, mailbox)
        [real] = real_dweeter.receive(mailbox, key, b64mode, reply)
        assert got.data == real
        assert got.remote_time == dweeter.time_string(ts)


def test_cli_both_directions_with_real_dweeter(real_dweeter):
    data = {"co2": 1223, "note": "café"}
    key, mailbox, ts = "s3cr3t passphrase", "greenhouse-7", 1735787045
    for mode in ([], ["--base64"]):
        sealed = cli("seal", "--profile", "dweeter", "--passphrase", key, "--mailbox", mailbox, "--ts", str(ts), *mode,
                     stdin=json.dumps(data))
        assert sealed.returncode == 0, sealed.stderr
        out = json.loads(sealed.stdout)
        service, _ = real_dweeter.send(mailbox, key, data, "2025-01-02T03:04:05", bool(mode))
        assert service.posts[0][3] == json.dumps(out["content"])
        assert real_dweeter.receive(mailbox, key, bool(mode), dict(out, created="c")) == [
            dict(data, remote_time="2025-01-02T03:04:05.000Z", created_time="c")]
        # real sender -> our CLI open (the bare content object, as the brief's stdin form)
        opened = cli("open", "--profile", "dweeter", "--passphrase", key, *mode,
                     stdin=service.posts[0][3])
        assert opened.returncode == 0, opened.stderr
        assert json.loads(opened.stdout) == dict(data, remote_time="2025-01-02T03:04:05.000Z")
        opened = cli("open", "--profile", "dweeter", "--passphrase", key, "--json", *mode, stdin=service.posts[0][3])
        row = json.loads(opened.stdout)
        assert row["ok"] is True and row["remote_time"] == "2025-01-02T03:04:05.000Z"


def test_readme_vector_exact_text():
    data = vectors.load(VECTORS)
    test = next(t for _, t in vectors.iter_tests(data))
    sealed = cli("seal", "--profile", "dweeter", "--passphrase", test["key"], "--mailbox", test["mailbox"],
                 "--ts", str(test["ts"]), stdin=json.dumps(test["data"]))
    assert sealed.stdout.decode() == json.dumps({"thing": test["dweet"]["thing"], "content": test["dweet"]["content"]}) + "\n"
    opened = cli("open", "--profile", "dweeter", "--passphrase", test["key"], stdin=test["wire"]["body"])
    assert opened.stdout.decode() == '{"DATA_1": "VALUE_1", "remote_time": "2024-07-15T05:11:31.000Z"}'


def test_rejects_spliced_and_altered():
    a = dweeter.seal_data({"t": 1}, "k", "m", 1000)
    b = dweeter.seal_data({"t": 2}, "k", "m", 2000)
    (ka, va), = a["content"].items()
    (kb, vb), = b["content"].items()
    with pytest.raises(AuthenticationError):
        dweeter.open_message({ka: vb}, "k")
    res = cli("open", "--profile", "dweeter", "--passphrase", "k", stdin=json.dumps({ka: vb}))
    assert res.returncode == 5 and b"remote_time" in res.stderr and b"Traceback" not in res.stderr
    with pytest.raises(PaddingError):
        dweeter.open_message(a, "wrong key")
    with pytest.raises(MalformedError):
        dweeter.open_message({ka: va, kb: vb}, "k")  # dweeter sends exactly one entry
    with pytest.raises(MalformedError):
        dweeter.open_message({ka: va[:-1]}, "k")
    with pytest.raises(MalformedError):
        dweeter.open_message([ka, va], "k")
    with pytest.raises(AuthenticationError):
        dweeter.open_message(a, "k", mailbox="another mailbox")


def test_cli_usage_errors_no_traceback():
    cases = [
        (["seal", "--profile", "dweeter", "--passphrase", "k"], b"{}", 2),                      # no --mailbox
        (["seal", "--profile", "dweeter", "--key", "00" * 16, "--mailbox", "m"], b"{}", 2),      # --key
        (["seal", "--profile", "dweeter", "--passphrase", "k", "--mailbox", "m"], b"[1]", 3),    # not an object
        (["seal", "--profile", "dweeter", "--passphrase", "k", "--mailbox", "m"], b"{", 3),      # not JSON
        (["seal", "--profile", "dweeter", "--passphrase", "k", "--mailbox", "m", "--ts", str(10**18)], b"{}", 2),
        (["open", "--profile", "dweeter", "--passphrase", "k"], b"not json", 3),
        (["open", "--profile", "dweeter", "--passphrase", "k"], b'{"zz": "00"}', 3),
    ]
    for args, stdin, code in cases:
        res = cli(*args, stdin=stdin)
        assert res.returncode == code, (args, res.stderr)
        assert b"Traceback" not in res.stderr


def test_secrets_not_in_errors():
    a = dweeter.seal_data({"secret-reading": 1}, "very-secret-pass", "m", 1000)
    res = cli("open", "--profile", "dweeter", "--passphrase", "very-secret-pass-wrong", stdin=json.dumps(a))
    assert res.returncode == 3
    assert b"very-secret" not in res.stderr and b"secret-reading" not in res.stderr
