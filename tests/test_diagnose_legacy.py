"""`iotenvelope diagnose` on the legacy long tail (issue 14): crypto-js PBKDF2 messages written by real crypto-js,
the Arduino libraries' own output (their vector files), the same IV written three ways, the 2000-epoch clock.

LEGACY_CASES join tests/test_diagnose.py's CASES, so every printed command is also run through a shell there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iotenvelope import envelope
from iotenvelope.primitives import b64, cipher
from iotenvelope.profiles import arduino_aes, cryptojs_pbkdf2 as pb, diagnose_legacy
from iotenvelope.profiles.diagnose import diagnose
from iotenvelope.verify import vectors

ROOT = Path(__file__).resolve().parents[1]
READING = b'{"co2": 1223, "temp": 21.5, "hum": 48}'
NOW = 1763900000


def _tests(path: str):
    return [(g, t) for g, t in vectors.iter_tests(vectors.load(ROOT / "vectors" / path))]


def _pbkdf2(version: str, pred):
    return next((g, t) for g, t in _tests(f"cryptojs/cryptojs_pbkdf2_{version}.json") if t["result"] == "valid"
                and pred(g, t))


def _lib(lib: str, pred):
    return next(t for _, t in _tests(f"{lib}/{lib}_vectors.json") if pred(t))


def legacy_cases():
    rng = __import__("random").Random(14)
    key, v = bytes(rng.getrandbits(8) for _ in range(16)), bytes(rng.getrandbits(8) for _ in range(16))
    k = key.hex()
    cases = []

    def ct(iv: bytes) -> str:
        return b64.encode_std(cipher.encrypt(key, iv, READING))

    # one IV, three spellings, two "text used as characters" mistakes: the same answer each time
    for form_name, form in (("hex", v.hex()), ("b64", "b64:" + b64.encode_std(v)), ("bare-b64", b64.encode_std(v))):
        cases.append((f"iv-base64-text-given-{form_name}", ct(b64.encode_std(v).encode()[:16]), dict(key=k, iv=form),
                      ("iv-base64-text",), "cryptojs-key", READING))
        cases.append((f"iv-hex-text-given-{form_name}", ct(v.hex().encode()[:16]), dict(key=k, iv=form),
                      ("iv-hex-text",), "cryptojs-key", READING))
    cases.append(("iv-setiv", ct(arduino_aes.setiv_iv(0x0123456789ABCDEF)), dict(key=k, iv="0x0123456789abcdef"),
                  ("iv-setiv",), "spaniakos-setiv", READING))
    # crypto-js PBKDF2, texts written by real crypto-js (vectors/cryptojs/cryptojs_pbkdf2_*.json)
    for version in ("3.3.0", "4.1.1"):
        g, t = _pbkdf2(version, lambda g, t: "Defaults" in t["flags"] and t["layout"] == "concat" and t["msg"])
        cases.append((f"pbkdf2-defaults-{version}-concat", t["wire"], dict(passphrase=t["passphrase"]),
                      ("pbkdf2-old-defaults",), "cryptojs-pbkdf2", bytes.fromhex(t["msg"])))
    g, t = _pbkdf2("4.2.0", lambda g, t: "Defaults" in t["flags"] and t["layout"] == "json")
    cases.append(("pbkdf2-defaults-4.2.0-json", t["wire"], dict(passphrase=t["passphrase"]), (), "cryptojs-pbkdf2",
                  bytes.fromhex(t["msg"])))
    g, t = _pbkdf2("4.2.0", lambda g, t: g["hasher"] == "sha512" and g["iterations"] == 1000 and t["layout"] == "json"
                   and "Binary" not in t["flags"])
    cases.append(("pbkdf2-sha512-json", t["wire"], dict(passphrase=t["passphrase"]), (), "cryptojs-pbkdf2",
                  bytes.fromhex(t["msg"])))
    g, t = _pbkdf2("4.1.1", lambda g, t: g["iterations"] == 100 and t["layout"] == "separate" and len(t["msg"]) > 20)
    cases.append(("pbkdf2-gist-separate", t["ct"], dict(passphrase=t["passphrase"], iv=t["iv"], salt=t["salt"]), (),
                  "cryptojs-pbkdf2", bytes.fromhex(t["msg"])))
    g, t = _pbkdf2("3.3.0", lambda g, t: "Salt8" in t["flags"] and t["layout"] == "concat")
    cases.append(("pbkdf2-salt8-concat", t["wire"], dict(passphrase=t["passphrase"]), (), "cryptojs-pbkdf2",
                  bytes.fromhex(t["msg"])))
    # openssl enc -pbkdf2 -md sha1 (Debian's openssl CLI, its default -iter 10000)
    made = subprocess.run(["openssl", "enc", "-e", "-aes-256-cbc", "-pbkdf2", "-md", "sha1", "-pass", "pass:hunter2",
                           "-a", "-A"], input=READING, capture_output=True)
    assert made.returncode == 0, made.stderr
    cases.append(("openssl-pbkdf2-sha1", made.stdout.decode().strip(), dict(passphrase="hunter2"), ("kdf-pbkdf2",),
                  "cryptojs-passphrase", READING))
    # the Arduino libraries' own output (vectors/<library>/)
    t = _lib("thinx-aes-lib", lambda t: t["libraryVersion"] == "HEAD" and t["paddingMode"].startswith("Array")
             and t["plaintextName"] == "ascii_json_prefix_len33" and "encrypt64" in t["api"])
    cases.append(("aeslib-array-padding", t["output_text"], dict(key=t["key_hex"], iv=t["iv_hex"]),
                  ("aeslib-array-padding",), "thinx-aeslib", bytes.fromhex(t["plaintext_hex"])))
    t = _lib("thinx-aes-lib", lambda t: t["libraryVersion"] == "2.2.3" and t["paddingMode"].startswith("Array")
             and t["plaintextName"] == "ascii_json_prefix_len64" and t["keyBits"] == 128)
    cases.append(("aeslib-2.2-encrypt64", t["output_text"], dict(key=t["key_hex"], iv=t["iv_hex"]),
                  ("aeslib-array-padding", "base64-plaintext"), "thinx-aeslib", bytes.fromhex(t["plaintext_hex"])))
    t = _lib("intrbiz-arduino-crypto", lambda t: t["plaintextName"] == "ascii_json_prefix_len31"
             and t.get("object_storage_fill_hex") == "00" and t.get("byte_after_plaintext_in_caller_buffer_hex") == "00"
             and t["keyBits"] == 128)
    cases.append(("intrbiz-pad16", b64.encode_std(bytes.fromhex(t["ciphertext_hex"])), dict(key=t["key_hex"],
                                                                                         iv=t["iv_hex"]),
                  ("intrbiz-pad16", "c-string-nul"), "intrbiz-crypto", bytes.fromhex(t["plaintext_hex"])))
    t = _lib("davylandman-aeslib", lambda t: t["mode"] == "ECB" and t["keyBits"] == 128
             and t["plaintextName"] == "ascii_json_prefix_len64")
    cases.append(("ecb-mode", b64.encode_std(bytes.fromhex(t["ciphertext_hex"])), dict(key=t["key_hex"]),
                  ("ecb-mode", "no-pad-block"), "davylandman-aeslib", bytes.fromhex(t["plaintext_hex"])))
    return cases


LEGACY_CASES = legacy_cases()


def test_one_iv_three_spellings_one_answer():
    """The same IV as hex, as b64: and as bare base64 text: identical findings (today's partial/mislabel fixed)."""
    by_iv = {}
    for name, text, kwargs, mistakes, profile, output in LEGACY_CASES:
        if name.startswith(("iv-base64-text-given", "iv-hex-text-given")):
            report = diagnose(text, **kwargs).as_json()
            assert not report["findings"][0]["partial"] and report["findings"][0]["cli_ready"]
            by_iv.setdefault(name.rsplit("-given-", 1)[0], []).append(report["findings"])
    assert len(by_iv) == 2
    for kind, reports in by_iv.items():
        assert len(reports) == 3 and reports[0] == reports[1] == reports[2], kind


def test_iv_readings_cover_each_spelling():
    iv = bytes(range(16))
    forms = [iv.hex(), "b64:" + b64.encode_std(iv), b64.encode_std(iv)]
    readings = [{r for r, _ in diagnose_legacy.iv_readings(f)} for f in forms]
    want = {iv, iv.hex().encode(), b64.encode_std(iv).encode()}
    assert all(want <= r for r in readings)


def test_wrong_epoch_suggests_the_correction_with_freshness_kept(cli):
    secret = os.urandom(16)
    token = envelope.seal(secret, READING, device="esp-1", seq=7, ts=NOW - 600 - envelope.EPOCH_2000)
    top = diagnose(token, key=secret.hex(), now=NOW).findings[0]
    assert top.mistakes == ("wrong-epoch",) and top.options[-2:] == ["--now", str(NOW - envelope.EPOCH_2000)]
    assert "add 946684800" in top.detail and "--max-age" not in top.options
    opened = cli("open", "--profile", "envelope-v1", *top.options, stdin=token.encode())
    assert opened.returncode == 0 and opened.stdout == READING
    # freshness is still on: the same message is refused a week later with that command's clock
    later = [*top.options[:-1], str(NOW + 7 * 86400 - envelope.EPOCH_2000)]
    assert cli("open", "--profile", "envelope-v1", *later, stdin=token.encode()).returncode != 0
    # two days old in the sender's epoch: an explicit --max-age that just covers it, never 0
    old = envelope.seal(secret, READING, device="esp-1", seq=8, ts=NOW - 2 * 86400 - envelope.EPOCH_2000)
    top = diagnose(old, key=secret.hex(), now=NOW).findings[0]
    assert set(top.mistakes) == {"wrong-epoch", "stale"} and top.cli_ready
    assert int(top.options[top.options.index("--max-age") + 1]) > 2 * 86400


def test_pbkdf2_upgrade_mismatch_names_the_old_defaults():
    """A 4.1.1-defaults message: diagnose finds sha1:1:128 and says why a 4.2.0 receiver fails."""
    g, t = _pbkdf2("4.1.1", lambda g, t: "Defaults" in t["flags"] and t["layout"] == "json")
    report = diagnose(t["wire"], passphrase=t["passphrase"])
    top = report.findings[0]
    assert top.options[:4] == ["--passphrase", t["passphrase"], "--pbkdf2", "sha1:1:128"]
    assert "pbkdf2-old-defaults" in top.mistakes and "crypto-js 3.3.0, 4.1.1" in top.detail
    assert top.output == bytes.fromhex(t["msg"]) and top.cli_ready
    assert "Malformed UTF-8 data" in top.explanation


def test_cryptojs_aes_json_with_a_passphrase_is_read_as_passphrase_mode():
    """{"ct", "iv", "s"} also comes from crypto-js passphrase mode (the CryptoJSAesJson formatter): EVP_BytesToKey."""
    from iotenvelope.profiles import cryptojs
    text = cryptojs.encrypt_passphrase(READING, "pw", salt=bytes(range(8)))
    salt, body = text and cryptojs.openssl.unpack(b64.decode_std(text))
    _, iv = cryptojs.derive_passphrase_key("pw", salt, 256)
    obj = json.dumps({"ct": b64.encode_std(body), "iv": iv.hex(), "s": salt.hex()})
    top = diagnose(obj, passphrase="pw").findings[0]
    assert top.profile == "cryptojs-passphrase" and top.output == READING and top.cli_ready
    assert top.stdin == text


def test_troubleshooting_names_crypto_js_error_text():
    doc = (ROOT / "docs" / "legacy.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Troubleshooting"):]
    assert "Malformed UTF-8 data" in section and "wrong key" in section


@pytest.mark.parametrize("name", [c[0] for c in LEGACY_CASES])
def test_legacy_case_found_by_the_cli(name, cli):
    """The CLI path too (diagnose --salt and friends), JSON output."""
    _, text, kwargs, mistakes, profile, output = next(c for c in LEGACY_CASES if c[0] == name)
    args = ["diagnose", "--json"]
    for flag in ("key", "passphrase", "iv", "salt"):
        if flag in kwargs:
            args += [f"--{flag}", kwargs[flag]]
    proc = cli(*args, stdin=text.encode())
    assert proc.returncode == 0, proc.stderr
    first = json.loads(proc.stdout)["findings"][0]
    assert first["profile"] == profile and set(first["mistakes"]) == set(mistakes) and first["cli_ready"]


def test_davylandman_partial_block_sent_in_the_clear_is_a_note():
    """The library's own output for a 33-byte message: any length % 16 != 0 comes back unchanged."""
    t = _lib("davylandman-aeslib", lambda t: t["mode"] == "CBC" and t["plaintextName"] == "ascii_json_prefix_len33"
             and t["keyBits"] == 128)
    assert t["ciphertext_hex"] == t["plaintext_hex"]  # what went on the wire is the plaintext
    report = diagnose(b64.encode_std(bytes.fromhex(t["ciphertext_hex"])), key=t["key_hex"], iv=t["iv_hex"])
    assert not report.findings
    assert any("UNENCRYPTED" in n for n in report.notes)


def test_openssl_pbkdf2_sha512_is_found():
    made = subprocess.run(["openssl", "enc", "-e", "-aes-256-cbc", "-pbkdf2", "-md", "sha512", "-pass", "pass:pw",
                           "-a", "-A"], input=READING, capture_output=True)
    assert made.returncode == 0, made.stderr
    top = diagnose(made.stdout.decode(), passphrase="pw").findings[0]
    assert top.options[-2:] == ["--kdf", "pbkdf2-sha512:10000"] and top.output == READING and top.cli_ready
