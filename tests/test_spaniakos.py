"""The spaniakos and spaniakos-legacy profiles against the real library's vectors, and through the CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from iotenvelope import errors
from iotenvelope.verify import spaniakos_vectors as spv, vectors
from iotenvelope.profiles import spaniakos as sp

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "vectors" / "spaniakos" / "spaniakos_vectors.json"


@pytest.fixture(scope="module")
def data():
    return vectors.load(FILE)


def cases(data, group):
    return [t for g, t in vectors.iter_tests(data) if g["type"] == group]


def test_every_case_reproduced_by_both_profiles(data):
    result = spv.check_vector_file(data)
    assert result.failed == 0, result.failures[:5]
    assert result.passed == data["numberOfTests"] == 90
    assert len(cases(data, "SpaniakosCurrent")) == 67 and len(cases(data, "SpaniakosLegacy")) == 23


def test_copy_is_lossless_and_keeps_provenance(data):
    original = spv.original_of(data)
    digest = hashlib.sha256(json.dumps(original, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert digest == data["source"]["originalCanonicalSha256"]
    assert data["source"]["implementation"].startswith("spaniakos/AES")
    assert data["library"]["commit"].startswith("829a084") and data["algorithm"] == sp.ALGORITHM
    assert spv.convert_shared_file(original) == data


def test_the_library_overwrites_the_iv(data):
    case = cases(data, "SpaniakosCurrent")[20]
    iv, ct = bytes.fromhex(case["iv_hex"]), bytes.fromhex(case["ciphertext_hex"])
    assert sp.iv_after(iv, ct) == ct[-16:] == bytes.fromhex(case["iv_after_hex"]) != iv
    # sending the overwritten IV instead of the original garbles exactly the first block
    key = bytes.fromhex(case["key_hex"])
    wrong = sp.decrypt_raw(key, sp.iv_after(iv, ct), ct)
    right = sp.decrypt_raw(key, iv, ct)
    assert wrong[16:] == right[16:] and wrong[:16] != right[:16]


def test_legacy_strlen_drops_the_last_byte_and_says_so(data):
    by_id = {t["id"]: t for t in cases(data, "SpaniakosLegacy")}
    for name, restorable in (("legacy_blog4", b"SGk="), ("legacy_blog5", None), ("legacy_strlen_len17", None)):
        case = by_id[name]
        opened = sp.legacy_open(bytes.fromhex(case["key_hex"]), bytes.fromhex(case["iv_hex"]),
                                bytes.fromhex(case["ciphertext_hex"]))
        msg = bytes.fromhex(case["plaintext_hex"])
        assert opened.plaintext == msg[:-1] and opened.dropped_last_byte
        text = " ".join(opened.warnings())
        assert f"the {len(msg) - 1} bytes that survived" in text
        if restorable:
            assert [r for r, _ in opened.restorations] == [restorable] and "base64 padding '='" in text
        else:
            assert opened.restorations == [] and "cannot be restored" in text
    assert not sp.legacy_open(bytes(16), bytes(16), b"").plaintext  # strlen of 1 byte: nothing was encrypted
    assert sp.legacy_layout(17) == (16, 0) and sp.legacy_layout(16) == (16, 1) and sp.legacy_layout(1) == (0, 0)


def test_restore_candidates():
    assert sp.restore_candidates(b'{"co2": 1223') == [(b'{"co2": 1223}', "the dropped byte was probably the "
                                                                          "closing '}' of the JSON object")]
    assert [r for r, _ in sp.restore_candidates(b"QQ=")] == [b"QQ=="]
    assert sp.restore_candidates(b"\xff\xfe") == []


def cli(*args, data=b""):
    return subprocess.run([sys.executable, "-m", "iotenvelope", *args], input=data, capture_output=True, cwd=ROOT,
                          timeout=60)


def test_cli_roundtrip_and_errors(data):
    case = cases(data, "SpaniakosCurrent")[40]
    key, iv, msg = case["key_hex"], case["iv_hex"], bytes.fromhex(case["plaintext_hex"])
    sealed = cli("seal", "--profile", "spaniakos", "--key", key, "--iv", iv, data=msg)
    assert sealed.returncode == 0 and sealed.stdout.decode().strip() == case["ciphertext_b64"]
    assert b"overwrites the caller's IV buffer" in sealed.stderr
    opened = cli("open", "--profile", "spaniakos", "--key", key, "--iv", iv, data=sealed.stdout)
    assert opened.returncode == 0 and opened.stdout == msg
    blog = cli("seal", "--profile", "spaniakos", "--key", key, "--spaniakos-wire", "blog", data=b"eyJhIjoxfQ==")
    back = cli("open", "--profile", "spaniakos", "--key", key, "--spaniakos-wire", "blog", data=blog.stdout)
    assert back.stdout == b"eyJhIjoxfQ=="
    no_iv = cli("open", "--profile", "spaniakos", "--key", key, data=sealed.stdout)
    assert no_iv.returncode == errors.UsageError.exit_code and b"--iv" in no_iv.stderr
    wrong_key = cli("open", "--profile", "spaniakos", "--key", "00" * 16, "--iv", iv, data=sealed.stdout)
    assert wrong_key.returncode == 3 and b"Traceback" not in wrong_key.stderr
    garbage = cli("open", "--profile", "spaniakos", "--key", key, "--iv", iv, data=b"not base64!")
    assert garbage.returncode == 3 and b"Traceback" not in garbage.stderr
    bad_blog = cli("open", "--profile", "spaniakos", "--key", key, "--spaniakos-wire", "blog", data=b"[1]")
    assert bad_blog.returncode == 3 and b"Traceback" not in bad_blog.stderr


def test_cli_legacy(data):
    case = next(t for t in cases(data, "SpaniakosLegacy") if t["id"] == "legacy_blog4")
    out = cli("open", "--profile", "spaniakos-legacy", "--key", case["key_hex"], "--iv", case["iv_hex"], "--json",
              data=case["ciphertext_b64"].encode())
    assert out.returncode == 0
    result = json.loads(out.stdout)
    assert result["plaintext"] == "SGk" and result["dropped_last_byte"] and result["restored"] == ["SGk="]
    assert b"last plaintext byte was dropped" in out.stderr
    resealed = cli("seal", "--profile", "spaniakos-legacy", "--key", case["key_hex"], "--iv", case["iv_hex"],
                   data=bytes.fromhex(case["plaintext_hex"]))
    assert resealed.stdout.decode().strip() == case["ciphertext_b64"]
    profiles = cli("profiles").stdout.decode()
    assert "spaniakos-legacy" in profiles and "UNAUTHENTICATED" in profiles


def test_truncation_signs():
    # the one base64 character that makes the message JSON
    doc = b'{"sensor": 3, "value": 512345}'
    msg = sp.b64.encode_std(doc).encode()
    assert len(msg) % 4 == 0 and not msg.endswith(b"=")
    found = sp.truncation(msg[:-1])
    assert found.restored == msg and "only one that makes the message JSON" in found.why
    # several characters complete it to text: a sign, but no restoration
    found = sp.truncation(b"QUJDREVGR0hJSkt")
    assert found.restored is None and "cannot be restored" in found.why
    assert sp.restore_candidates(b"QUJDREVGR0hJSkt") == []
    # a JSON array loses its ']'; complete JSON and binary show nothing
    assert sp.truncation(b'[1, 2, {"a": 3}').restored == b'[1, 2, {"a": 3}]'
    assert sp.truncation(b'{"a": 1}') is None and sp.truncation(b"\xff\xfe") is None
    assert sp.truncation(b"plain text") is None


def test_restore_option_prints_the_restored_message(data):
    by_id = {t["id"]: t for t in cases(data, "SpaniakosLegacy")}
    case = by_id["legacy_blog4"]  # "SGk=" sent with size = strlen: the '=' was dropped
    args = ["open", "--profile", "spaniakos-legacy", "--key", case["key_hex"], "--iv", case["iv_hex"]]
    out = cli(*args, "--spaniakos-restore", data=case["ciphertext_b64"].encode())
    assert out.returncode == 0 and out.stdout == b"SGk=" and b"put back" in out.stderr
    case = by_id["legacy_blog5"]  # "YWJj" lost its 'j': nothing shows which character it was
    args = ["open", "--profile", "spaniakos-legacy", "--key", case["key_hex"], "--iv", case["iv_hex"]]
    out = cli(*args, "--spaniakos-restore", data=case["ciphertext_b64"].encode())
    assert out.returncode == 3 and b"do not show which byte" in out.stderr and b"Traceback" not in out.stderr
    out = cli(*args, "--spaniakos-restore", "--spaniakos-size", "sizeof", data=case["ciphertext_b64"].encode())
    assert out.returncode == 2 and b"strlen" in out.stderr


def test_sizeof_on_the_current_library_carries_the_nul(data):
    # bin17 of the real library: 17 bytes whose last is a NUL, as a C caller passing sizeof(text) would send
    case = next(t for t in cases(data, "SpaniakosCurrent") if t["id"] == "bin17")
    msg = bytes.fromhex(case["plaintext_hex"])
    assert msg.endswith(b"\x00") and not msg.endswith(b"\x00\x00")
    args = ["--profile", "spaniakos", "--key", case["key_hex"], "--iv", case["iv_hex"], "--spaniakos-size", "sizeof"]
    opened = cli("open", *args, data=case["ciphertext_b64"].encode())
    assert opened.returncode == 0 and opened.stdout == msg[:-1]
    sealed = cli("seal", *args, data=msg[:-1])
    assert sealed.returncode == 0 and sealed.stdout.decode().strip() == case["ciphertext_b64"]
    other = next(t for t in cases(data, "SpaniakosCurrent") if not t["plaintext_hex"].endswith("00"))
    refused = cli("open", "--profile", "spaniakos", "--key", other["key_hex"], "--iv", other["iv_hex"],
                  "--spaniakos-size", "sizeof", data=other["ciphertext_b64"].encode())
    assert refused.returncode == 3 and b"terminating NUL" in refused.stderr


def test_blog_wire_reads_the_node_to_device_iv_form(data):
    case = next(t for t in cases(data, "SpaniakosCurrent") if "wire" in t)
    iv = bytes.fromhex(case["iv_hex"])
    wire = json.dumps({"iv": sp.b64.encode_std(iv.hex().encode()), "data": case["wire"]["data"]})
    assert sp.parse_blog_wire(wire) == (iv, bytes.fromhex(case["ciphertext_hex"]))
    out = cli("open", "--profile", "spaniakos", "--key", case["key_hex"], "--spaniakos-wire", "blog", data=wire.encode())
    assert out.returncode == 0 and out.stdout == bytes.fromhex(case["plaintext_hex"])
