"""`iotenvelope diagnose`: every mistake class on generated cases, and no claims from padding accidents."""

import base64
import hashlib
import json
import os
import random
import shlex
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iotenvelope import envelope
from iotenvelope.primitives import b64, cipher, openssl
from iotenvelope.profiles import fernet_token as fernet
from iotenvelope.profiles.diagnose import MISTAKES, diagnose
from iotenvelope.profiles import dweeter, registry

ROOT = Path(__file__).resolve().parents[1]
READING = b'{"co2": 1223, "temp": 21.5, "hum": 48}'
NOW = 1763900000


def rng_bytes(rng, n):
    return bytes(rng.getrandbits(8) for _ in range(n))


def best(report):
    assert report.findings, f"no finding; notes: {report.notes}"
    return report.findings[0]


def assert_found(report, mistakes, plaintext, profile=None):
    top = best(report)
    assert set(top.mistakes) == set(mistakes), (top.mistakes, top.explanation)
    assert top.plaintext == plaintext
    if profile:
        assert top.profile == profile
    for name in top.mistakes:
        assert name in MISTAKES
    return top


def openssl_enc(plaintext: bytes, passphrase: str, *args: str) -> str:
    """The real `openssl enc` (passphrase mode, base64 on one line)."""
    res = subprocess.run(["openssl", "enc", "-e", *args, "-pass", f"pass:{passphrase}", "-a", "-A"], input=plaintext,
                         capture_output=True)
    if res.returncode:
        pytest.fail(f"openssl enc failed ({res.stderr.decode()}): run .ci/install")
    return res.stdout.decode().strip()


# -- the expected convention is found with no mistake -----------------------------------------------------------

def test_correct_key_and_iv_is_not_a_mistake():
    rng = random.Random(1)
    for size in (16, 24, 32):
        key, iv = rng_bytes(rng, size), rng_bytes(rng, 16)
        top = assert_found(diagnose(b64.encode_std(cipher.encrypt(key, iv, READING)), key=key.hex(), iv=iv.hex()),
                           (), READING, "cryptojs-key")
        assert top.options == ["--key", key.hex(), "--iv", iv.hex()] and top.stdin is None
        assert top.confidence > 0.99


def test_passphrase_mode_kdfs_and_sizes_with_real_openssl():
    cases = [
        (["-aes-256-cbc", "-md", "md5"], (), "evp-md5", "256"),
        (["-aes-256-cbc", "-md", "sha256"], ("kdf-sha256",), "evp-sha256", "256"),
        (["-aes-128-cbc", "-md", "md5"], ("aes-128-vs-256",), "evp-md5", "128"),
        (["-aes-256-cbc", "-pbkdf2"], ("kdf-pbkdf2",), "pbkdf2-sha256:10000", "256"),
        (["-aes-128-cbc", "-pbkdf2", "-iter", "1000"], ("kdf-pbkdf2", "aes-128-vs-256"), "pbkdf2-sha256:1000", "128"),
        (["-aes-256-cbc", "-md", "md5", "-nosalt"], ("no-salt",), "evp-md5", "256"),
    ]
    for args, mistakes, kdf_name, size in cases:
        text = openssl_enc(READING, "hunter2", *args)
        top = assert_found(diagnose(text, passphrase="hunter2"), mistakes, READING, "cryptojs-passphrase")
        assert top.options[:6] == ["--passphrase", "hunter2", "--key-size", size, "--kdf", kdf_name], top.options


# -- key material mistakes ---------------------------------------------------------------------------------------

def test_key_given_but_sender_used_it_as_passphrase():
    key_hex = os.urandom(16).hex()
    text = openssl_enc(READING, key_hex, "-aes-256-cbc", "-md", "md5")  # crypto-js: a string key is a passphrase
    assert_found(diagnose(text, key=key_hex), ("key-as-passphrase",), READING, "cryptojs-passphrase")


def test_passphrase_given_but_sender_used_raw_key():
    rng = random.Random(2)
    for _ in range(5):
        key, iv = rng_bytes(rng, 16), rng_bytes(rng, 16)
        ct = b64.encode_std(cipher.encrypt(key, iv, READING))
        top = assert_found(diagnose(ct, passphrase=key.hex(), iv=iv.hex()), ("passphrase-as-key",), READING)
        assert top.options[:2] == ["--key", key.hex()]
    ascii_key = b"0123456789abcdef"  # Arduino: byte key[] = "0123456789abcdef";
    ct = b64.encode_std(cipher.encrypt(ascii_key, bytes(16), READING))
    assert_found(diagnose(ct, passphrase="0123456789abcdef", iv="00" * 16), ("passphrase-as-key",), READING)


def test_key_text_used_as_ascii_bytes():
    key_text = "2b7e151628aed2a6abf7158809cf4f3c"  # 32 hex characters used as a 32-byte AES-256 key
    iv = bytes(range(16))
    ct = b64.encode_std(cipher.encrypt(key_text.encode(), iv, READING))
    assert_found(diagnose(ct, key=key_text, iv=iv.hex()), ("key-text-as-bytes",), READING)


def test_aes_256_key_used_as_aes_128():
    key, iv = os.urandom(32), os.urandom(16)
    ct = b64.encode_std(cipher.encrypt(key[:16], iv, READING))
    assert_found(diagnose(ct, key=key.hex(), iv=iv.hex()), ("aes-128-vs-256",), READING)


def test_hashed_passphrase_as_key():
    iv = os.urandom(16)
    ct = b64.encode_std(cipher.encrypt(hashlib.sha256(b"hunter2").digest(), iv, READING))
    assert_found(diagnose(ct, passphrase="hunter2", iv=iv.hex()), ("hashed-passphrase",), READING)


# -- IV mistakes ------------------------------------------------------------------------------------------------

def test_eight_byte_iv_zero_padded():
    key, iv8 = os.urandom(16), os.urandom(8)
    ct = b64.encode_std(cipher.encrypt(key, iv8 + bytes(8), READING))
    top = assert_found(diagnose(ct, key=key.hex(), iv=iv8.hex()), ("iv-short",), READING)
    assert top.options[-1] == (iv8 + bytes(8)).hex()


def test_iv_hex_text_used_as_characters():
    key, iv_hex = os.urandom(16), os.urandom(16).hex()
    ct = b64.encode_std(cipher.encrypt(key, iv_hex[:16].encode(), READING))  # Utf8.parse(ivHex), truncated to 16
    assert_found(diagnose(ct, key=key.hex(), iv=iv_hex), ("iv-hex-text",), READING)


def test_iv_prepended_with_or_without_an_iv_given():
    key, iv = os.urandom(16), os.urandom(16)
    blob = b64.encode_std(iv + cipher.encrypt(key, iv, READING))
    for extra in ({}, {"iv": os.urandom(16).hex()}):
        top = assert_found(diagnose(blob, key=key.hex(), **extra), ("iv-prepended",), READING)
        assert top.stdin == b64.encode_std(cipher.encrypt(key, iv, READING)) and top.options[-1] == iv.hex()


def test_zero_iv_and_key_as_iv():
    key = os.urandom(16)
    assert_found(diagnose(b64.encode_std(cipher.encrypt(key, bytes(16), READING)), key=key.hex()), ("iv-zero",), READING)
    assert_found(diagnose(b64.encode_std(cipher.encrypt(key, key, READING)), key=key.hex()), ("iv-is-key",), READING)


def test_unknown_iv_gives_a_partial_finding_only():
    key, iv = os.urandom(16), os.urandom(16)
    ct = b64.encode_std(cipher.encrypt(key, iv, READING))
    report = diagnose(ct, key=key.hex(), iv=os.urandom(16).hex())
    top = best(report)
    assert top.partial and top.mistakes == ("iv-wrong",) and top.plaintext == READING[16:]
    assert top.confidence <= 0.5 and report.as_json()["findings"][0]["options"] == []


# -- encoding mistakes ------------------------------------------------------------------------------------------

def encodings_case():
    key, iv = os.urandom(16), os.urandom(16)
    ct = cipher.encrypt(key, iv, READING * 3)  # long enough for a wrapped line
    return key, iv, ct


def test_double_base64():
    key, iv, ct = encodings_case()
    text = base64.b64encode(base64.b64encode(ct)).decode()
    top = assert_found(diagnose(text, key=key.hex(), iv=iv.hex()), ("double-base64",), READING * 3)
    assert top.stdin == b64.encode_std(ct)


def test_urlsafe_wrapped_and_unpadded_base64():
    for _ in range(8):  # until the text has a '-' or '_' and needs '=' padding
        key, iv, ct = encodings_case()
        std = b64.encode_std(ct)
        if ("+" in std or "/" in std) and std.endswith("="):
            break
    url = std.replace("+", "-").replace("/", "_")
    assert_found(diagnose(url, key=key.hex(), iv=iv.hex()), ("urlsafe-base64",), READING * 3)
    wrapped = "\n".join(std[i:i + 64] for i in range(0, len(std), 64))  # openssl -a
    assert_found(diagnose(wrapped, key=key.hex(), iv=iv.hex()), ("wrapped-base64",), READING * 3)
    assert_found(diagnose(std.rstrip("="), key=key.hex(), iv=iv.hex()), ("base64-padding-missing",), READING * 3)


def test_hex_and_binary_ciphertext():
    key, iv, ct = encodings_case()
    top = assert_found(diagnose(ct.hex(), key=key.hex(), iv=iv.hex()), (), READING * 3)
    assert top.stdin == b64.encode_std(ct)
    assert_found(diagnose(ct, key=key.hex(), iv=iv.hex()), (), READING * 3)  # raw bytes on stdin


# -- padding mistakes (incl. the pre-2018 Spaniakos library) ------------------------------------------------------

def test_zero_padding():
    key, iv = os.urandom(16), os.urandom(16)
    raw = READING + bytes(-len(READING) % 16)
    assert len(raw) > len(READING)
    ct = b64.encode_std(cipher.encrypt_raw(key, iv, raw))
    assert_found(diagnose(ct, key=key.hex(), iv=iv.hex()), ("zero-padding",), READING)


def test_c_string_nul_encrypted():
    key, iv = os.urandom(16), os.urandom(16)
    ct = b64.encode_std(cipher.encrypt(key, iv, READING + b"\0"))
    assert_found(diagnose(ct, key=key.hex(), iv=iv.hex()), ("c-string-nul",), READING)


# Cases of the real pre-May-2018 Spaniakos library (commit 0a2c4d8), from the project's shared
# spaniakos_vectors.json legacy_cases (data produced by that C build; ids kept).
SPANIAKOS_LEGACY = [
    # id, key, iv, ciphertext (hex), what the caller meant to send
    ("legacy_blog4", "2b7e151628aed2a6abf7158809cf4f3c", "3c68ce8404c9b5c3975209e04934e1a7",
     "9d20a7ecbfbc83122f48bb0ed77d246c", b"SGk="),
    ("legacy_blog6", "2b7e151628aed2a6abf7158809cf4f3c", "607d16b527f37ddffbd780ac4e4c7539",
     "1f25906af52d8a91fae43acf5ad080c4", b"QUJDREVGR0hJSktM"),
]


def test_spaniakos_pre_2018_dropped_byte_real_cases():
    # "Hi" -> base64 "SGk=" sent with size = strlen: the '=' is lost and can be put back
    cid, key, iv, ct, meant = SPANIAKOS_LEGACY[0]
    top = assert_found(diagnose(b64.encode_std(bytes.fromhex(ct)), key=key, iv=iv), ("dropped-last-byte",), meant,
                       "spaniakos-legacy")
    assert top.message == b"Hi" and "restored" in top.explanation
    # "ABCDEFGHIJKL" -> "QUJDREVGR0hJSktM": the lost 'M' cannot be known; what survived is shown
    cid, key, iv, ct, meant = SPANIAKOS_LEGACY[1]
    top = assert_found(diagnose(b64.encode_std(bytes.fromhex(ct)), key=key, iv=iv), ("dropped-last-byte",),
                       meant[:-1], "spaniakos-legacy")
    assert "cannot be restored" in top.explanation


def legacy_strlen_encrypt(key, iv, message: bytes) -> bytes:
    """What the pre-2018 library produces for size = strlen: PKCS#7 over all bytes but the last (per the
    shared vectors' findings; checked against the real cases above)."""
    return cipher.encrypt(key, iv, message[:-1])


def test_legacy_model_matches_the_real_cases():
    for cid, key, iv, ct, meant in SPANIAKOS_LEGACY:
        assert legacy_strlen_encrypt(bytes.fromhex(key), bytes.fromhex(iv), meant).hex() == ct, cid


def test_dropped_byte_generated():
    rng = random.Random(3)
    for n in range(12):
        key, iv = rng_bytes(rng, 16), rng_bytes(rng, 16)
        doc = json.dumps({"sensor": n, "value": rng.randint(0, 10**6), "pad": "x" * rng.randint(0, 20)}).encode()
        # the blog pattern: base64 of the JSON, sent with size = strlen
        msg = b64.encode_std(doc).encode()
        ct = b64.encode_std(legacy_strlen_encrypt(key, iv, msg))
        # restored: a lost '=' always; a lost base64 character when exactly one completion decodes to JSON
        top = assert_found(diagnose(ct, key=key.hex(), iv=iv.hex()), ("dropped-last-byte",), msg, "spaniakos-legacy")
        assert top.message == doc and "restored" in top.explanation
        # plain JSON sent with size = strlen loses its '}'
        ct = b64.encode_std(legacy_strlen_encrypt(key, iv, doc))
        top = assert_found(diagnose(ct, key=key.hex(), iv=iv.hex()), ("dropped-last-byte",), doc, "spaniakos-legacy")


def test_missing_pad_block_generated_and_real_shape():
    rng = random.Random(4)
    for blocks in (2, 3, 5):
        key, iv = rng_bytes(rng, 16), rng_bytes(rng, 16)
        body = json.dumps({"v": "x" * (16 * blocks - 9)}).encode()
        assert len(body) % 16 == 0
        # pre-2018, size = strlen + 1 with a length that is a multiple of 16: no pad block at all
        ct = b64.encode_std(cipher.encrypt_raw(key, iv, body))
        assert_found(diagnose(ct, key=key.hex(), iv=iv.hex()), ("no-pad-block",), body, "spaniakos-legacy")


# -- whole messages ---------------------------------------------------------------------------------------------

def test_envelope_wrong_epoch_direction_and_key_text():
    secret = os.urandom(16)
    token = envelope.seal(secret, READING, device="esp-1", seq=7, ts=NOW - envelope.EPOCH_2000)
    top = assert_found(diagnose(token + "\n", key=secret.hex(), now=NOW), ("wrong-epoch",), READING, "envelope-v1")
    # the correction, not `--max-age 0`: this clock moved into the sender's epoch, freshness still checked
    assert top.options == ["--key", secret.hex(), "--now", str(NOW - envelope.EPOCH_2000)]
    assert "add 946684800" in top.detail and "--max-age" not in top.options
    # and the CLI with those options opens it
    res = subprocess.run([sys.executable, "-m", "iotenvelope", "open", "--profile", "envelope-v1", *top.options],
                         input=token.encode(), capture_output=True, cwd=ROOT)
    assert res.returncode == 0 and res.stdout == READING, res.stderr
    down = envelope.seal(secret, READING, device="esp-1", seq=8, ts=NOW, direction="down", format="json")
    assert_found(diagnose(down, key=secret.hex(), now=NOW), ("wrong-direction",), READING, "envelope-v1")
    ascii_secret = "abcdefghijklmnop"
    # device "dv" makes the raw length not a multiple of 3, so the standard-base64 copy below always carries
    # '=' padding and can never also be a valid base64url text (with a random IV it otherwise could be)
    token = envelope.seal(ascii_secret.encode(), READING, device="dv", seq=1, ts=NOW)
    assert_found(diagnose(token, key=ascii_secret, now=NOW), ("key-text-as-bytes",), READING, "envelope-v1")
    assert assert_found(diagnose(token, key=ascii_secret, now=NOW + 3 * 86400), ("key-text-as-bytes", "stale"),
                        READING).confidence < 1
    padded = b64.encode_std(b64.decode_url(token))
    assert padded.endswith("=")
    top = assert_found(diagnose(padded, key=ascii_secret, now=NOW), ("key-text-as-bytes", "envelope-reencoded"),
                       READING)
    assert top.stdin == token


def test_envelope_with_the_wrong_secret_is_a_note_not_a_finding():
    token = envelope.seal(os.urandom(16), READING, device="d", seq=1, ts=NOW)
    report = diagnose(token, key=os.urandom(16).hex(), now=NOW)
    assert report.findings == [] and "MAC fails" in report.notes[0]


def test_fernet_token():
    key = os.urandom(32)
    token = fernet.encrypt(key, READING, now=NOW)
    top = assert_found(diagnose(token, key="b64:" + base64.urlsafe_b64encode(key).decode()), (), READING, "fernet")
    assert top.cli_ready


def test_values_beginning_with_a_dash_are_suggested_as_flag_equals_value():
    # a Fernet key whose url-safe base64 begins with '-' (first byte 0xf8-0xfb: 1 key in 64), and passphrases
    # beginning with '-': `--key -xyz` would read as an unknown option, so the command says `--key=-xyz`
    key = bytes([0xF8 | random.getrandbits(2)]) + os.urandom(31)
    url_key = base64.urlsafe_b64encode(key).decode()
    assert url_key.startswith("-")
    top = assert_found(diagnose(fernet.encrypt(key, READING, now=NOW), key="b64:" + url_key), (), READING, "fernet")
    assert top.options == ["--key=" + url_key] and top.cli_ready
    msg = dweeter.seal_data({"co2": 1223}, "-s3cr3t", "greenhouse", NOW, base64_mode=True)
    top = assert_found(diagnose(json.dumps(msg), passphrase="-s3cr3t"), (), json.dumps(
        {"co2": 1223, "remote_time": dweeter.time_string(NOW)}).encode(), "dweeter")
    assert top.options == ["--passphrase=-s3cr3t", "--base64"] and top.cli_ready
    text = openssl_enc(READING, "-pass phrase", "-aes-256-cbc", "-md", "md5")  # real `openssl enc`
    top = assert_found(diagnose(text, passphrase="-pass phrase"), (), READING, "cryptojs-passphrase")
    assert top.options[:2] == ["--passphrase=-pass phrase", "--key-size"] and top.cli_ready


def test_dweeter_message_and_halves():
    msg = dweeter.seal_data({"co2": 1223}, "s3cr3t", "greenhouse", NOW, base64_mode=True)
    top = assert_found(diagnose(json.dumps(msg), passphrase="s3cr3t"), (), json.dumps(
        {"co2": 1223, "remote_time": dweeter.time_string(NOW)}).encode(), "dweeter")
    assert top.options == ["--passphrase", "s3cr3t", "--base64"] and top.cli_ready
    # a raw ciphertext made with dweeter's key derivation (SHA-256 halves, fixed IV)
    key, iv = dweeter.derive("s3cr3t")
    ct = b64.encode_std(cipher.encrypt(key, iv, READING))
    assert_found(diagnose(ct, passphrase="s3cr3t"), ("dweeter-halves",), READING)
    key, iv = dweeter.derive("s3cr3t", base64_mode=True)
    ct = b64.encode_std(cipher.encrypt(key, iv, READING))
    assert_found(diagnose(ct, passphrase="s3cr3t"), ("dweeter-halves", "dweeter-mode"), READING)


def test_esp8266_both_directions():
    key = os.urandom(16)
    for node_to_device in (False, True):
        iv = os.urandom(16)
        inner = b64.encode_std(READING).encode()
        iv_field = b64.encode_std(iv.hex().encode()) if node_to_device else b64.encode_std(iv)
        msg = json.dumps({"iv": iv_field, "data": b64.encode_std(cipher.encrypt(key, iv, inner))})
        top = assert_found(diagnose(msg, key=key.hex()), (), inner, "esp8266-b64")
        assert top.message == READING and top.options == ["--key", key.hex()]


def test_base64_plaintext_on_a_raw_ciphertext():
    key, iv = os.urandom(16), os.urandom(16)
    ct = b64.encode_std(cipher.encrypt(key, iv, b64.encode_std(READING).encode()))
    top = assert_found(diagnose(ct, key=key.hex(), iv=iv.hex()), ("base64-plaintext",), b64.encode_std(READING).encode())
    assert top.message == READING


# -- no claims from accidents ------------------------------------------------------------------------------------

def test_no_finding_from_random_ciphertexts_or_wrong_keys():
    rng = random.Random(5)
    claimed = 0
    for i in range(320):
        size = rng.choice([16, 32, 48, 80])
        data = rng_bytes(rng, size)
        kind = i % 3 if i % 16 else 3  # Salted__ (slow: PBKDF2 up to 250000 iterations) one time in 16
        if kind == 0:
            report = diagnose(b64.encode_std(data), key=rng_bytes(rng, 16).hex(), iv=rng_bytes(rng, 16).hex())
        elif kind == 1:
            report = diagnose(b64.encode_std(data), passphrase="".join(rng.choice("abc123") for _ in range(8)))
        elif kind == 2:  # a real message under another key
            key, iv = rng_bytes(rng, 16), rng_bytes(rng, 16)
            report = diagnose(b64.encode_std(cipher.encrypt(key, iv, READING)), key=rng_bytes(rng, 16).hex(),
                              iv=iv.hex())
        else:  # Salted__ under another passphrase
            blob = openssl.pack(rng_bytes(rng, 8), data)
            report = diagnose(b64.encode_std(blob), passphrase="wrong")
        claimed += len(report.findings)
    assert claimed == 0


def test_padding_accidents_are_not_findings():
    """Ciphertexts whose wrong-key decryption has valid PKCS#7 padding still give no finding."""
    rng = random.Random(6)
    accidents = 0
    key, iv = rng_bytes(rng, 16), rng_bytes(rng, 16)
    for _ in range(4000):
        ct = rng_bytes(rng, 16)
        raw = cipher.decrypt_raw(key, iv, ct)
        if raw[-1] == 1:
            accidents += 1
            assert diagnose(b64.encode_std(ct), key=key.hex(), iv=iv.hex()).findings == []
    assert accidents > 5


# -- CLI ---------------------------------------------------------------------------------------------------------

def run(*args, stdin=b""):
    return subprocess.run([sys.executable, "-m", "iotenvelope", "diagnose", *args], input=stdin, capture_output=True,
                          cwd=ROOT)


def test_cli_json_and_text():
    key, iv = os.urandom(16), os.urandom(8)
    ct = b64.encode_std(cipher.encrypt(key, iv + bytes(8), READING)).encode()
    res = run("--key", key.hex(), "--iv", iv.hex(), "--json", stdin=ct)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    first = out["findings"][0]
    assert first["mistakes"] == ["iv-short"] and first["plaintext"] == READING.decode()
    assert first["profile"] == "cryptojs-key" and first["options"][:2] == ["--profile", "cryptojs-key"]
    assert set(first) >= {"profile", "confidence", "explanation", "plaintext", "options"}
    confidences = [f["confidence"] for f in out["findings"]]
    assert confidences == sorted(confidences, reverse=True)
    res = run("--key", key.hex(), "--iv", iv.hex(), stdin=ct)
    assert res.returncode == 0 and b"shorter than 16 bytes" in res.stdout and b"open it with" in res.stdout


def test_cli_no_finding_and_bad_input():
    res = run("--key", "00" * 16, stdin=b64.encode_std(os.urandom(32)).encode())
    assert res.returncode == 1 and b"no profile or known mistake" in res.stdout
    for args, stdin, code in ((["--key", "00" * 16], b"", 3), ([], b"x", 2),
                              (["--key", "00" * 16, "--passphrase", "p"], b"x", 2)):
        res = run(*args, stdin=stdin)
        assert res.returncode == code, (args, res.stderr)
        assert b"Traceback" not in res.stderr


def test_options_open_the_message_where_the_profile_exists():
    """Every finding whose profile this build has must open the input with exactly the options printed."""
    secret = os.urandom(16)
    cases = [
        (envelope.seal(secret, READING, device="d", seq=1, ts=NOW - envelope.EPOCH_2000), ["--key", secret.hex()]),
        (json.dumps(dweeter.seal_data({"a": 1}, "pw", "m", NOW)), ["--passphrase", "pw"]),
        (fernet.encrypt(secret * 2, READING, now=int(time.time())),
         ["--key", base64.urlsafe_b64encode(secret * 2).decode()]),
    ]
    checked = 0
    for text, key_args in cases:
        for finding in diagnose(text, **{key_args[0][2:]: key_args[1]}).findings:
            if finding.profile not in registry():
                continue
            res = subprocess.run([sys.executable, "-m", "iotenvelope", "open", "--profile", finding.profile,
                                  *finding.options], input=(finding.stdin or text).encode(), capture_output=True,
                                 cwd=ROOT)
            assert res.returncode == 0, (finding.profile, finding.options, res.stderr)
            assert res.stdout == finding.plaintext
            checked += 1
    assert checked == 3


# -- every mistake class: the printed command opens the message ---------------------------------------------------

def _ct(key, iv, plain):
    return b64.encode_std(cipher.encrypt(key, iv, plain))


def _blog(key, iv, ct, hex_iv=False):
    return json.dumps({"iv": b64.encode_std(iv.hex().encode() if hex_iv else iv), "data": b64.encode_std(ct)})


def every_mistake_cases():
    """(name, input, diagnose kwargs, expected mistakes of the best finding, expected profile, expected output)."""
    rng = random.Random(7)
    key, iv, key32 = rng_bytes(rng, 16), rng_bytes(rng, 16), rng_bytes(rng, 32)
    k, v = key.hex(), iv.hex()
    inner = b64.encode_std(READING).encode()
    now = int(time.time())
    secret = rng_bytes(rng, 16)
    doc = b'{"sensor": 3, "value": 51234}'
    short = b'{"co2": 1223}'  # 13 bytes: a 16-byte ciphertext, whose base64 ends in '='
    for _ in range(50):  # a key whose ciphertext's base64 has a '+' or '/' (so its url-safe form differs)
        url_key = rng_bytes(rng, 16)
        if set(_ct(url_key, iv, READING)) & set("+/"):
            break
    wrapped = _ct(key, iv, READING * 3)
    pp = "".join(rng.choice(string.ascii_letters) for _ in range(16))
    cases = [
        ("cryptojs-key", _ct(key, iv, READING), dict(key=k, iv=v), (), "cryptojs-key", READING),
        ("cryptojs-passphrase", openssl_enc(READING, "hunter2", "-aes-256-cbc", "-md", "md5"),
         dict(passphrase="hunter2"), (), "cryptojs-passphrase", READING),
        ("key-as-passphrase", openssl_enc(READING, k, "-aes-256-cbc", "-md", "md5"), dict(key=k),
         ("key-as-passphrase",), "cryptojs-passphrase", READING),
        ("passphrase-as-key", _ct(pp.encode(), iv, READING), dict(passphrase=pp, iv=v), ("passphrase-as-key",),
         "cryptojs-key", READING),
        ("key-text-as-bytes", _ct(k.encode(), iv, READING), dict(key=k, iv=v), ("key-text-as-bytes",),
         "cryptojs-key", READING),
        ("hashed-passphrase", _ct(hashlib.sha256(pp.encode()).digest(), iv, READING), dict(passphrase=pp, iv=v),
         ("hashed-passphrase",), "cryptojs-key", READING),
        ("aes-128-vs-256", _ct(key32[:16], iv, READING), dict(key=key32.hex(), iv=v), ("aes-128-vs-256",),
         "cryptojs-key", READING),
        ("aes-192-passphrase", openssl_enc(READING, "hunter2", "-aes-192-cbc", "-md", "md5"),
         dict(passphrase="hunter2"), ("aes-128-vs-256",), "cryptojs-passphrase", READING),
        ("kdf-sha256", openssl_enc(READING, "hunter2", "-aes-256-cbc", "-md", "sha256"), dict(passphrase="hunter2"),
         ("kdf-sha256",), "cryptojs-passphrase", READING),
        ("kdf-sha1", openssl_enc(READING, "hunter2", "-aes-256-cbc", "-md", "sha1"), dict(passphrase="hunter2"),
         ("kdf-sha1",), "cryptojs-passphrase", READING),
        ("kdf-pbkdf2", openssl_enc(READING, "hunter2", "-aes-256-cbc", "-pbkdf2"), dict(passphrase="hunter2"),
         ("kdf-pbkdf2",), "cryptojs-passphrase", READING),
        ("no-salt", openssl_enc(READING, "hunter2", "-aes-256-cbc", "-md", "md5", "-nosalt"),
         dict(passphrase="hunter2"), ("no-salt",), "cryptojs-passphrase", READING),
        ("iv-short", _ct(key, iv[:8] + bytes(8), READING), dict(key=k, iv=iv[:8].hex()), ("iv-short",),
         "cryptojs-key", READING),
        ("iv-long", _ct(key, iv, READING), dict(key=k, iv=v + "a1b2c3d4"), ("iv-long",), "cryptojs-key", READING),
        ("iv-hex-text", _ct(key, v[:16].encode(), READING), dict(key=k, iv=v), ("iv-hex-text",), "cryptojs-key",
         READING),
        ("iv-prepended", b64.encode_std(iv + cipher.encrypt(key, iv, READING)), dict(key=k), ("iv-prepended",),
         "cryptojs-key", READING),
        ("iv-zero", _ct(key, bytes(16), READING), dict(key=k), ("iv-zero",), "cryptojs-key", READING),
        ("iv-is-key", _ct(key, key, READING), dict(key=k), ("iv-is-key",), "cryptojs-key", READING),
        ("double-base64", b64.encode_std(_ct(key, iv, READING).encode()), dict(key=k, iv=v), ("double-base64",),
         "cryptojs-key", READING),
        ("hex-in-base64", b64.encode_std(cipher.encrypt(key, iv, READING).hex().encode()), dict(key=k, iv=v),
         ("hex-in-base64",), "cryptojs-key", READING),
        ("urlsafe-base64", _ct(url_key, iv, READING).replace("+", "-").replace("/", "_"),
         dict(key=url_key.hex(), iv=v), ("urlsafe-base64",), "cryptojs-key", READING),
        ("wrapped-base64", "\n".join(wrapped[i:i + 64] for i in range(0, len(wrapped), 64)), dict(key=k, iv=v),
         ("wrapped-base64",), "cryptojs-key", READING * 3),
        ("base64-padding-missing", _ct(key, iv, short).rstrip("="), dict(key=k, iv=v), ("base64-padding-missing",),
         "cryptojs-key", short),
        ("zero-padding", b64.encode_std(cipher.encrypt_raw(key, iv, READING + bytes(-len(READING) % 16))),
         dict(key=k, iv=v), ("zero-padding",), "cryptojs-key", READING),
        ("no-pad-block", b64.encode_std(cipher.encrypt_raw(key, iv, READING[:32])), dict(key=k, iv=v),
         ("no-pad-block",), "spaniakos-legacy", READING[:32]),
        ("dropped-last-byte-base64", _ct(key, iv, inner[:-1]), dict(key=k, iv=v), ("dropped-last-byte",),
         "spaniakos-legacy", inner),
        ("dropped-last-byte-json", _ct(key, iv, doc[:-1]), dict(key=k, iv=v), ("dropped-last-byte",),
         "spaniakos-legacy", doc),
        ("dropped-last-byte-unrestorable", _ct(key, iv, b"QUJDREVGR0hJSktM"[:-1]), dict(key=k, iv=v),
         ("dropped-last-byte",), "spaniakos-legacy", b"QUJDREVGR0hJSkt"),
        ("c-string-nul", _ct(key, iv, READING + b"\0"), dict(key=k, iv=v), ("c-string-nul",), "spaniakos", READING),
        ("c-string-nul-passphrase", openssl_enc(READING + b"\0", "hunter2", "-aes-256-cbc", "-md", "md5"),
         dict(passphrase="hunter2"), ("c-string-nul",), "cryptojs-passphrase", READING + b"\0"),
        ("base64-plaintext", _ct(key, iv, inner), dict(key=k, iv=v), ("base64-plaintext",), "cryptojs-key", inner),
        ("esp8266-b64", _blog(key, iv, cipher.encrypt(key, iv, inner)), dict(key=k), (), "esp8266-b64", READING),
        ("esp8266-b64-hex-iv", _blog(key, iv, cipher.encrypt(key, iv, inner), hex_iv=True), dict(key=k), (),
         "esp8266-b64", READING),
        ("blog-aes-256", _blog(key32, iv, cipher.encrypt(key32, iv, inner)), dict(key=key32.hex()), (), "spaniakos",
         inner),
        ("blog-dropped-last-byte", _blog(key, iv, cipher.encrypt(key, iv, inner[:-1])), dict(key=k),
         ("dropped-last-byte",), "spaniakos-legacy", inner),
        ("blog-no-pad-block", _blog(key, iv, cipher.encrypt_raw(key, iv, inner[:48])), dict(key=k),
         ("no-pad-block",), "spaniakos-legacy", inner[:48]),
        ("dweeter-halves", _ct(*dweeter.derive(pp), READING), dict(passphrase=pp), ("dweeter-halves",),
         "cryptojs-key", READING),
        ("dweeter-mode", _ct(*dweeter.derive(pp, True), READING), dict(passphrase=pp),
         ("dweeter-halves", "dweeter-mode"), "cryptojs-key", READING),
        ("dweeter", json.dumps(dweeter.seal_data({"co2": 1}, pp, "box", now)), dict(passphrase=pp), (), "dweeter",
         json.dumps({"co2": 1, "remote_time": dweeter.time_string(now)}).encode()),
        ("dweeter-base64", json.dumps(dweeter.seal_data({"co2": 1}, pp, "box", now, True)), dict(passphrase=pp), (),
         "dweeter", json.dumps({"co2": 1, "remote_time": dweeter.time_string(now)}).encode()),
        ("fernet", fernet.encrypt(key32, READING, now=now), dict(key="b64:" + base64.urlsafe_b64encode(key32).decode()),
         (), "fernet", READING),
        ("envelope-v1", envelope.seal(secret, READING, device="d1", seq=1, ts=now), dict(key=secret.hex()), (),
         "envelope-v1", READING),
        ("wrong-epoch", envelope.seal(secret, READING, device="d1", seq=2, ts=now - envelope.EPOCH_2000),
         dict(key=secret.hex()), ("wrong-epoch",), "envelope-v1", READING),
        ("clock-ahead", envelope.seal(secret, READING, device="d1", seq=3, ts=now + 3600), dict(key=secret.hex()),
         ("clock-ahead",), "envelope-v1", READING),
        ("stale", envelope.seal(secret, READING, device="d1", seq=4, ts=now - 3 * 86400), dict(key=secret.hex()),
         ("stale",), "envelope-v1", READING),
        ("wrong-direction", envelope.seal(secret, READING, device="d1", seq=5, ts=now, direction="down"),
         dict(key=secret.hex()), ("wrong-direction",), "envelope-v1", READING),
        ("envelope-reencoded", b64.encode_std(b64.decode_url(envelope.seal(secret, READING, device="dv", seq=6,
                                                                            ts=now))),
         dict(key=secret.hex()), ("envelope-reencoded",), "envelope-v1", READING),
        ("envelope-explicit-now", envelope.seal(secret, READING, device="d1", seq=7, ts=NOW),
         dict(key=secret.hex(), now=NOW), (), "envelope-v1", READING),
    ]
    return cases


from test_diagnose_legacy import LEGACY_CASES  # noqa: E402 - issue 14's cases, from real peers' output

CASES = every_mistake_cases() + LEGACY_CASES


def printed_commands(report):
    """The `open it with:` lines of the text report, as shell commands running this checkout's CLI."""
    lines = [line.split("open it with: ", 1)[1] for line in report.render().splitlines() if "open it with: " in line]
    return [line.replace("iotenvelope open", f"{shlex.quote(sys.executable)} -m iotenvelope open", 1) for line in lines]


def test_every_mistake_class_has_a_case():
    covered = {m for case in CASES for m in case[3]} | {"iv-wrong"}  # iv-wrong: partial, below
    assert covered == set(MISTAKES)


@pytest.mark.parametrize("name,text,kwargs,mistakes,profile,output", CASES, ids=[c[0] for c in CASES])
def test_printed_command_opens_every_mistake_class(name, text, kwargs, mistakes, profile, output):
    report = diagnose(text, **kwargs)
    top = assert_found(report, mistakes, top_plaintext(profile, output, mistakes), profile)
    assert top.output == output and top.cli_ready
    commands = printed_commands(report)
    assert len(commands) == len(report.findings)
    for finding, command, as_json in zip(report.findings, commands, report.as_json()["findings"]):
        assert not finding.partial and finding.cli_ready and as_json["cli_ready"] is True, finding.explanation
        assert as_json["options"] == ["--profile", finding.profile, *finding.options]
        # the command exactly as printed, run by a shell (with its `echo ... |` when stdin must be re-encoded)
        res = _run_printed(command, finding, text)
        assert res.returncode == 0, (name, command, res.stderr)
        assert res.stdout == finding.output, (name, command)
    if "--now" in top.options and name == "wrong-epoch":  # the receiver clock moved back by 946684800
        assert top.options[-1] == str(int(top.options[-1])) and "--max-age" not in top.options
    elif "--now" in top.options:
        assert name == "envelope-explicit-now" and top.options[-2:] == ["--now", str(NOW)]


def top_plaintext(profile, output, mistakes=()):
    """esp8266-b64 (and thinx-aeslib --aeslib-version 2.2) print the message; the finding's plaintext is the
    decrypted base64 text."""
    prints_message = profile == "esp8266-b64" or (profile == "thinx-aeslib" and "base64-plaintext" in mistakes)
    return b64.encode_std(output).encode() if prints_message else output


def _run_printed(command, finding, text):
    stdin = None if finding.stdin is not None else (text if isinstance(text, bytes) else text.encode())
    return subprocess.run(["bash", "-c", command], input=stdin, capture_output=True, cwd=ROOT, timeout=60)


def test_partial_finding_has_no_command():
    key, iv = os.urandom(16), os.urandom(16)
    report = diagnose(_ct(key, iv, READING), key=key.hex(), iv=os.urandom(16).hex())
    top = best(report)
    assert top.partial and top.mistakes == ("iv-wrong",) and not top.cli_ready and top.output is None
    out = report.as_json()["findings"][0]
    assert out["cli_ready"] is False and out["options"] == [] and "prints" not in out
    assert printed_commands(report) == []


def test_real_pre_2018_library_blog_messages():
    """Every blog message the real pre-May-2018 library encrypted with size = strlen (vectors/spaniakos/):
    diagnose names the dropped byte, restores it where the text shows it, and its command prints that."""
    from iotenvelope.verify import vectors
    data = vectors.load(ROOT / "vectors" / "spaniakos" / "spaniakos_vectors.json")
    blog = [t for g, t in vectors.iter_tests(data) if g["type"] == "SpaniakosLegacy" and "Blog" in t["flags"]]
    restored = 0
    for case in blog:
        msg = bytes.fromhex(case["plaintext_hex"])
        top = assert_found(diagnose(case["ciphertext_b64"], key=case["key_hex"], iv=case["iv_hex"]),
                           ("dropped-last-byte",), top_plaintext_of(case, msg), "spaniakos-legacy")
        assert top.cli_ready and ("--spaniakos-restore" in top.options) == (top.plaintext == msg)
        restored += top.plaintext == msg
    assert len(blog) == 7 and restored == 5  # "YWJj" and "QUJDREVGR0hJSktM" lost a character nothing reveals


def top_plaintext_of(case, msg):
    return msg[:-1] if case["id"] in ("legacy_blog5", "legacy_blog6") else msg


def test_cli_help_and_json_shape():
    res = run("--help")
    assert res.returncode == 0 and b"Exit 0 with findings, 1 with none" in res.stdout and b"--passphrase" in res.stdout
    key, iv = os.urandom(16), os.urandom(16)
    ct = b64.encode_std(cipher.encrypt(key, iv, READING + b"\0")).encode()
    res = run("--key", key.hex(), "--iv", iv.hex(), "--json", stdin=ct)
    out = json.loads(res.stdout)
    assert res.returncode == 0 and set(out) == {"findings", "notes", "tries"} and out["tries"] > 0
    first = out["findings"][0]
    assert {"profile", "confidence", "explanation", "plaintext", "mistakes", "options", "cli_ready", "prints",
            "evidence", "partial"} <= set(first)
    assert first["profile"] == "spaniakos" and first["cli_ready"] and first["prints"] == "plaintext"
    assert first["options"] == ["--profile", "spaniakos", "--key", key.hex(), "--iv", iv.hex(), "--spaniakos-size",
                                "sizeof"]
    res = run("--key", "not hex", "--iv", "zz", "--json", stdin=ct)
    assert res.returncode == 1 and len(json.loads(res.stdout)["notes"]) == 2
