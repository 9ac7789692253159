"""The legacy profiles cryptojs-passphrase, cryptojs-key and esp8266-b64 against the real openssl CLI and real
crypto-js (through the node bridge), plus the bad-input messages of issue 3."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from iotenvelope.primitives import b64, padding
from iotenvelope.errors import KeyFormatError, MalformedError, PaddingError, UsageError
from iotenvelope.profiles import cryptojs, esp8266
from iotenvelope.verify.peers import js
from jspeer import require_node

ROOT = Path(__file__).resolve().parent.parent
MSG = '{"co2": 1223, "note": "café ☕ 温度"}'.encode()
KDFS = ("evp-md5", "evp-sha256", "pbkdf2-sha256:10000")


def cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "iotenvelope", *args], cwd=ROOT, input=stdin, capture_output=True,
                          timeout=60)


def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.fail("the openssl CLI is required: run .ci/install")
    return path


# -- openssl enc ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key_size", (128, 256))
@pytest.mark.parametrize("kdf", KDFS)
def test_passphrase_output_decrypts_with_openssl(key_size, kdf):
    text = cryptojs.encrypt_passphrase(MSG, "pässwort", key_size, kdf)
    args = cryptojs.openssl_args(key_size, kdf)
    args[0] = openssl()
    proc = subprocess.run(args + ["-pass", "pass:pässwort"], input=text.encode(), capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == MSG


@pytest.mark.parametrize("key_size", (128, 256))
@pytest.mark.parametrize("kdf", KDFS)
def test_openssl_output_decrypts_here(key_size, kdf):
    args = cryptojs.openssl_args(key_size, kdf, decrypt=False)
    args[0] = openssl()
    proc = subprocess.run(args + ["-pass", "pass:pw"], input=MSG, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert cryptojs.decrypt_passphrase(proc.stdout.decode(), "pw", key_size, kdf) == MSG


def test_openssl_line_wrapped_output_opens_with_a_warning():
    proc = subprocess.run([openssl(), "enc", "-aes-256-cbc", "-md", "md5", "-a", "-pass", "pass:pw"], input=MSG * 3,
                          capture_output=True, timeout=30)
    assert b"\n" in proc.stdout.strip()  # -a without -A wraps at 64 characters
    warnings: list[str] = []
    assert cryptojs.decrypt_passphrase(proc.stdout.decode(), "pw", warn=warnings.append) == MSG * 3
    assert len(warnings) == 1 and "openssl enc -a" in warnings[0] and "crypto-js" in warnings[0]


# -- crypto-js ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", js.EXPECTED_VERSIONS)
@pytest.mark.parametrize("key_size", (128, 256))
@pytest.mark.parametrize("kdf", ("evp-md5", "evp-sha256", "pbkdf2-sha256:1000"))
def test_passphrase_output_decrypts_with_crypto_js(version, key_size, kdf):
    bridge = require_node()
    text = cryptojs.encrypt_passphrase(MSG, "pw", key_size, kdf)
    got = bridge.call("call", lib=version, fn="legacy.decryptPassphrase", args=[text, "pw", {"keySize": key_size,
                                                                                          "kdf": kdf}])
    assert bytes.fromhex(got["hex"]) == MSG
    if key_size == 256 and kdf == "evp-md5":  # the everyday call CryptoJS.AES.decrypt(text, passphrase)
        native = bridge.call("native", lib=version, what="passphrase-decrypt", ct=text, passphrase="pw")
        assert bytes.fromhex(native["hex"]) == MSG
    if key_size == 256 and kdf == "evp-sha256" and version == "4.2.0":
        native = bridge.call("native", lib=version, what="passphrase-decrypt", ct=text, passphrase="pw", hasher="sha256")
        assert bytes.fromhex(native["hex"]) == MSG
    if key_size == 128 and kdf == "evp-md5":
        salt, _ = cryptojs.openssl.unpack(b64.decode_std(text))
        params = bridge.call("native", lib=version, what="kdf-openssl-execute", passphrase="pw", keyWords=4, ivWords=4,
                             salt=salt.hex())
        assert (bytes.fromhex(params["key"]), bytes.fromhex(params["iv"])) == cryptojs.derive_passphrase_key("pw", salt, 128)


@pytest.mark.parametrize("version", js.EXPECTED_VERSIONS)
def test_crypto_js_passphrase_output_opens_here(version):
    bridge = require_node()
    text = bridge.call("native", lib=version, what="passphrase-encrypt", text=MSG.decode(), passphrase="pw")
    assert cryptojs.decrypt_passphrase(text, "pw") == MSG


@pytest.mark.parametrize("version", js.EXPECTED_VERSIONS)
@pytest.mark.parametrize("pad", padding.PADDINGS)
@pytest.mark.parametrize("iv_len", (16, 8, 12, 24))
def test_key_mode_matches_crypto_js(version, pad, iv_len):
    bridge = require_node()
    key, iv = bytes(range(32)), bytes(range(100, 100 + iv_len))
    msg = bytes(range(48)) if pad == "none" else MSG
    warnings: list[str] = []
    text = cryptojs.encrypt_key(msg, key, iv, pad, warnings.append)
    assert len(warnings) == (iv_len != 16)
    native = bridge.call("native", lib=version, what="key-decrypt", ct=text, key=key.hex(), iv=iv.hex(), padding=pad)
    assert bytes.fromhex(native["hex"]) == msg
    if pad != "iso10126":
        assert text == bridge.call("native", lib=version, what="key-encrypt", msg=msg.hex(), key=key.hex(), iv=iv.hex(),
                                   padding=pad)
    assert cryptojs.decrypt_key(text, key, iv, pad) == msg


@pytest.mark.parametrize("version", js.EXPECTED_VERSIONS)
@pytest.mark.parametrize("iv_form", esp8266.IV_FORMS)
def test_esp8266_both_directions_with_crypto_js(version, iv_form):
    bridge = require_node()
    key = bytes(range(16))
    wire = esp8266.seal_esp8266(MSG, key, iv_form=iv_form)
    got = bridge.call("call", lib=version, fn="legacy.openEsp8266", args=[wire, key.hex()])
    assert bytes.fromhex(got["message"]["hex"]) == MSG and got["ivForm"] == iv_form
    back = bridge.call("call", lib=version, fn="legacy.sealEsp8266", args=[MSG.decode(), key.hex(), {"ivForm": iv_form}])
    assert esp8266.open_esp8266(back, key) == (MSG, iv_form)


# -- CLI ---------------------------------------------------------------------------------------------------------

def test_profiles_listing_labels_legacy_as_unauthenticated():
    out = cli("profiles").stdout.decode()
    for name in ("cryptojs-passphrase", "cryptojs-key", "esp8266-b64"):
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert "UNAUTHENTICATED" in line


@pytest.mark.parametrize("args", [
    ("--profile", "cryptojs-passphrase", "--passphrase", "pw", "--key-size", "128", "--kdf", "pbkdf2-sha256:2000"),
    ("--profile", "cryptojs-key", "--key", "00" * 24, "--iv", "11" * 16, "--padding", "iso97971"),
    ("--profile", "esp8266-b64", "--key", "00" * 16),
])
def test_cli_seal_open_round_trip(args):
    sealed = cli("seal", *args, stdin=MSG)
    assert sealed.returncode == 0, sealed.stderr
    opened = cli("open", *[a for a in args], stdin=sealed.stdout)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == MSG


def test_cli_seal_with_fixed_salt_is_reproducible_and_openssl_compatible():
    first = cli("seal", "--profile", "cryptojs-passphrase", "--passphrase", "pw", "--salt", "0102030405060708", stdin=MSG)
    second = cli("seal", "--profile", "cryptojs-passphrase", "--passphrase", "pw", "--salt", "0102030405060708", stdin=MSG)
    assert first.returncode == 0 and first.stdout == second.stdout
    assert b64.decode_std(first.stdout.decode().strip())[8:16] == bytes.fromhex("0102030405060708")


# -- bad input (issue 3 item 5) -----------------------------------------------------------------------------------

def test_hex_looking_passphrase_warns_that_a_key_was_probably_meant():
    hexkey = "00112233445566778899aabbccddeeff"
    res = cli("seal", "--profile", "cryptojs-passphrase", "--passphrase", hexkey, stdin=MSG)
    assert res.returncode == 0
    err = res.stderr.decode()
    assert "warning" in err and "32 hex digits" in err and "--profile cryptojs-key --key" in err
    assert hexkey not in err  # never echo the secret


def test_passphrase_given_to_key_profile_is_a_usage_error_suggesting_key():
    res = cli("seal", "--profile", "cryptojs-key", "--passphrase", "00112233445566778899aabbccddeeff", "--iv", "00" * 16,
              stdin=MSG)
    assert res.returncode == 2
    err = res.stderr.decode()
    assert "did you mean --key" in err and "Traceback" not in err


def test_key_given_to_passphrase_profile_is_a_usage_error():
    res = cli("seal", "--profile", "cryptojs-passphrase", "--key", "00" * 16, stdin=MSG)
    assert res.returncode == 2 and b"cryptojs-key" in res.stderr


def test_wrong_passphrase_for_a_hex_looking_passphrase_names_the_raw_key_mistake():
    # a fixed salt: with a random one, the wrong key yields valid PKCS#7 by chance about 1 time in 400
    text = cryptojs.encrypt_passphrase(MSG, "something else", salt=b"saltsalt")
    with pytest.raises(PaddingError) as info:
        cryptojs.decrypt_passphrase(text, "00112233445566778899aabbccddeeff")
    assert "wrong passphrase" in str(info.value) and "CryptoJS.enc.Hex.parse" in str(info.value)


@pytest.mark.parametrize("n", (0, 8, 15, 20, 31, 33, 64))
def test_illegal_key_lengths(n):
    with pytest.raises(KeyFormatError) as info:
        cryptojs.encrypt_key(MSG, bytes(n), bytes(16))
    assert "16, 24 or 32" in str(info.value) and "crypto-js does not reject" in str(info.value)
    if n:
        res = cli("seal", "--profile", "cryptojs-key", "--key", "ab" * n, "--iv", "00" * 16, stdin=MSG)
        assert res.returncode == 4 and b"crypto-js does not reject" in res.stderr and b"Traceback" not in res.stderr


def test_esp8266_key_must_be_16_bytes():
    with pytest.raises(KeyFormatError, match="AES-128"):
        esp8266.seal_esp8266(MSG, bytes(32))


def test_base64_with_line_breaks_warns_and_names_openssl():
    text = cryptojs.encrypt_passphrase(MSG * 4, "pw")
    wrapped = "\n".join(text[i:i + 64] for i in range(0, len(text), 64))
    res = cli("open", "--profile", "cryptojs-passphrase", "--passphrase", "pw", stdin=wrapped.encode())
    assert res.returncode == 0 and res.stdout == MSG * 4
    assert b"openssl enc -a" in res.stderr and b"several lines" in res.stderr


def test_base64_missing_padding_warns():
    key, iv = bytes(16), bytes(16)
    text = cryptojs.encrypt_key(b"abcd", key, iv)
    assert text.endswith("=")
    res = cli("open", "--profile", "cryptojs-key", "--key", key.hex(), "--iv", iv.hex(), stdin=text.rstrip("=").encode())
    assert res.returncode == 0 and res.stdout == b"abcd"
    assert b"'=' padding" in res.stderr and b"missing" in res.stderr


def test_impossible_base64_length_is_an_error():
    with pytest.raises(MalformedError, match="multiple of 4"):
        cryptojs.read_base64("QUJDR")  # 5 characters: no '=' padding can fix that


def test_ciphertext_that_only_crypto_js_lax_unpadding_opens():
    """Valid key, but the last block ends in 0x05 0x05 0x05 0x05 0x04: crypto-js would strip 4 bytes; we refuse."""
    key, iv = bytes(range(16)), bytes(16)
    block = b"A" * 11 + b"\x05\x05\x05\x05\x04"
    text = b64.encode_std(cryptojs.cipher.encrypt_raw(key, iv, block))
    with pytest.raises(PaddingError) as info:
        cryptojs.decrypt_key(text, key, iv)
    message = str(info.value)
    assert "crypto-js would NOT report this" in message and "12 bytes" not in message  # F10: no length either
    res = cli("open", "--profile", "cryptojs-key", "--key", key.hex(), "--iv", iv.hex(), stdin=text.encode())
    assert res.returncode == 3 and b"wrong key or IV" in res.stderr and b"Traceback" not in res.stderr


def test_other_padding_is_suggested():
    key, iv = bytes(range(16)), bytes(16)
    text = cryptojs.encrypt_key(b"hello", key, iv, "ansix923")
    with pytest.raises(PaddingError, match=r"pass --padding \(.*ansix923"):
        cryptojs.decrypt_key(text, key, iv, "pkcs7")


@pytest.mark.parametrize("version", js.EXPECTED_VERSIONS)
def test_lax_unpad_prediction_matches_real_crypto_js(version):
    bridge = require_node()
    key, iv = bytes(range(16)), bytes(16)
    tails = [b"\x00", b"\x11", b"\x03\x03\x02", b"\x05\x05\x05\x05\x04", b"\x10"]
    if version != "3.3.0":  # 3.3.0's ZeroPadding.unpad never returns on an all-zero block
        tails.append(bytes(16))
    for tail in tails:
        block = b"B" * (16 - len(tail)) + tail
        ct = cryptojs.cipher.encrypt_raw(key, iv, block)
        for pad in ("pkcs7", "ansix923", "zero", "iso97971"):
            native = bridge.call("native", lib=version, what="key-decrypt", ct=b64.encode_std(ct), key=key.hex(),
                                 iv=iv.hex(), padding=pad)
            assert bytes.fromhex(native["hex"]) == padding.cryptojs_lax_unpad(block, pad), (tail, pad)


def test_salted_ciphertext_given_to_key_profile_names_passphrase_mode():
    text = cryptojs.encrypt_passphrase(MSG, "pw")
    with pytest.raises(MalformedError, match="passphrase"):
        cryptojs.decrypt_key(text, bytes(32), bytes(16))


def test_unsalted_text_given_to_passphrase_profile():
    text = cryptojs.encrypt_key(MSG, bytes(16), bytes(16))
    with pytest.raises(MalformedError, match="Salted__"):
        cryptojs.decrypt_passphrase(text, "pw")


def test_bad_kdf_spelling_is_a_usage_error():
    for spec in ("md5", "pbkdf2-sha256", "pbkdf2-sha256:0", "pbkdf2-md5:1000"):
        with pytest.raises(UsageError):
            cryptojs.parse_kdf(spec)
    # openssl enc -pbkdf2 -md sha1 / -md sha512 (issue 14)
    assert cryptojs.parse_kdf("pbkdf2-sha1:1000") == cryptojs.Kdf("pbkdf2", "sha1", 1000)


# -- paddings ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pad", padding.PADDINGS)
def test_paddings_round_trip_and_unpad_strictly(pad):
    for n in range(0, 40):
        data = bytes(range(1, n + 1))
        if pad == "none" and n % 16 or pad == "zero" and n == 0:
            continue
        padded = padding.pad(data, pad)
        assert len(padded) % 16 == 0 and padding.unpad(padded, pad) == data
    if pad in ("pkcs7", "ansix923", "iso10126"):
        with pytest.raises(PaddingError):
            padding.unpad(b"A" * 15 + b"\x00", pad)
    if pad == "ansix923":
        with pytest.raises(PaddingError):
            padding.unpad(b"A" * 13 + b"\x01\x00\x03", pad)
    if pad == "iso97971":
        with pytest.raises(PaddingError):
            padding.unpad(b"A" * 16, pad)


# -- OpenSSL-only passphrase variants: -nosalt, -aes-192-cbc, -md sha1 ---------------------------------------------

@pytest.mark.parametrize("key_size,kdf,salted", [
    (256, "evp-md5", False), (128, "evp-sha256", False), (256, "pbkdf2-sha256:1000", False),
    (192, "evp-md5", True), (256, "evp-sha1", True), (192, "evp-sha1", False),
])
def test_openssl_only_variants_with_real_openssl(key_size, kdf, salted):
    flags = ["--key-size", str(key_size), "--kdf", kdf] + ([] if salted else ["--nosalt"])
    text = cryptojs.encrypt_passphrase(MSG, "pw", key_size, kdf, salted=salted)
    assert b64.decode_std(text).startswith(b"Salted__") == salted
    args = cryptojs.openssl_args(key_size, kdf, salted=salted)
    args[0] = openssl()
    proc = subprocess.run(args + ["-pass", "pass:pw"], input=text.encode(), capture_output=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout == MSG, proc.stderr
    args = cryptojs.openssl_args(key_size, kdf, decrypt=False, salted=salted)
    args[0] = openssl()
    proc = subprocess.run(args + ["-pass", "pass:pw"], input=MSG, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert cryptojs.decrypt_passphrase(proc.stdout.decode(), "pw", key_size, kdf, salted=salted) == MSG
    opened = cli("open", "--profile", "cryptojs-passphrase", "--passphrase", "pw", *flags, stdin=proc.stdout)
    assert opened.returncode == 0 and opened.stdout == MSG, opened.stderr
    sealed = cli("seal", "--profile", "cryptojs-passphrase", "--passphrase", "pw", *flags, stdin=MSG)
    assert sealed.returncode == 0 and cryptojs.decrypt_passphrase(sealed.stdout.decode(), "pw", key_size, kdf,
                                                                  salted=salted) == MSG


def test_nosalt_mismatches_are_named():
    with pytest.raises(MalformedError, match="drop --nosalt"):
        cryptojs.decrypt_passphrase(cryptojs.encrypt_passphrase(MSG, "pw"), "pw", salted=False)
    with pytest.raises(MalformedError, match="Salted__"):
        cryptojs.decrypt_passphrase(cryptojs.encrypt_passphrase(MSG, "pw", salted=False), "pw")
    res = cli("seal", "--profile", "cryptojs-passphrase", "--passphrase", "pw", "--nosalt", "--salt", "00" * 8,
              stdin=MSG)
    assert res.returncode == 2 and b"--nosalt" in res.stderr


@pytest.mark.parametrize("version", js.EXPECTED_VERSIONS)
def test_crypto_js_cannot_read_nosalt_and_matches_aes_192_derivation(version):
    bridge = require_node()
    text = cryptojs.encrypt_passphrase(MSG, "pw", salted=False)
    native = bridge.call("native", lib=version, what="passphrase-decrypt", ct=text, passphrase="pw")
    assert bytes.fromhex(native["hex"]) != MSG  # crypto-js makes up a random salt when the header is missing
    salt = bytes(range(1, 9))
    params = bridge.call("native", lib=version, what="kdf-openssl-execute", passphrase="pw", keyWords=6, ivWords=4,
                         salt=salt.hex())
    assert (bytes.fromhex(params["key"]), bytes.fromhex(params["iv"])) == cryptojs.derive_passphrase_key("pw", salt, 192)


def test_one_derivation_serves_every_key_size():
    """derive_passphrase_keys slices one KDF output; each size must equal a derivation of exactly that size."""
    from iotenvelope.primitives import kdf as kdf_mod
    for salt in (bytes(range(8)), None):
        for spec in cryptojs.COMMON_KDFS:
            k = cryptojs.parse_kdf(spec)
            every = cryptojs.derive_passphrase_keys("pw", salt, spec)
            assert set(every) == set(cryptojs.KEY_SIZES)
            for size in cryptojs.KEY_SIZES:
                n = size // 8
                if k.kind == "evp":
                    want = kdf_mod.evp_bytes_to_key("pw", salt, n, 16, k.digest)
                else:
                    material = kdf_mod.pbkdf2("pw", salt or b"", k.iterations, n + 16, k.digest)
                    want = (material[:n], material[n:])
                assert every[size] == want, (spec, size)
