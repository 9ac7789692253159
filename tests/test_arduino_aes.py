"""thinx-aeslib, davylandman-aeslib, intrbiz-crypto and spaniakos-setiv against the vectors their real libraries
produced (vectors/<library>/, copied from shared/vectors/ with provenance)."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pytest

from iotenvelope.errors import MalformedError, PaddingError, UsageError
from iotenvelope.primitives import b64
from iotenvelope.profiles import arduino_aes as a
from iotenvelope.verify import arduino_aes_vectors as av, vectors

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent.parent / "shared" / "vectors"  # /work/shared/vectors next to the worktrees, when present
LIBS = list(av.LIBRARIES)


def load(lib: str) -> dict:
    return vectors.load(ROOT / "vectors" / lib / f"{lib}_vectors.json")


def case(lib: str, tc_id: int) -> dict:
    return next(t for _, t in vectors.iter_tests(load(lib)) if t["tcId"] == tc_id)


@pytest.mark.parametrize("lib", LIBS)
def test_copy_is_lossless_and_keeps_provenance(lib):
    data = load(lib)
    original = av.original_of(data)
    assert data["source"]["originalCanonicalSha256"] == vectors.canonical_sha256(original)
    assert data["source"]["version"] == original["commit"] and data["repository"] == original["repository"]
    assert data["numberOfTests"] == len(original["cases"])
    shared = SHARED / lib / f"{lib}_vectors.json"
    if shared.is_file():  # on this machine: also the byte checksum of the very file copied
        raw = shared.read_bytes()
        assert hashlib.sha256(raw).hexdigest() == data["source"]["originalFileSha256"]
        assert json.loads(raw) == original
        assert av.convert_shared_file(lib, json.loads(raw), raw) == data


@pytest.mark.parametrize("lib", LIBS)
def test_every_case_of_the_real_library_is_reproduced(lib):
    data = load(lib)
    result = av.CHECKERS[data["algorithm"]](data)
    assert result.failed == 0, result.failures
    assert result.passed == data["numberOfTests"] > 60


# -- thinx-aes-lib -------------------------------------------------------------------------------------------------

def test_thinx_array_padding_is_not_pkcs7_and_the_iv_is_mutated(cli):
    c = case("thinx-aes-lib", 2)  # 1 byte 7b -> 7b + 15 x b8
    key, iv = bytes.fromhex(c["key_hex"]), bytes.fromhex(c["iv_hex"])
    assert a.array_pad(b"\x7b") == b"\x7b" + b"\xb8" * 15
    sealed = cli("seal", "--profile", "thinx-aeslib", "--key", c["key_hex"], "--iv", c["iv_hex"], stdin=b"\x7b")
    assert sealed.returncode == 0 and b64.decode_std(sealed.stdout.decode().strip()).hex() == c["ciphertext_hex"]
    assert b"overwrites the caller's IV" in sealed.stderr
    assert c["iv_after_hex"] == c["ciphertext_hex"][-32:]  # the library left the last block in the IV buffer
    opened = cli("open", "--profile", "thinx-aeslib", "--key", c["key_hex"], "--iv", c["iv_hex"], "--json",
                 stdin=sealed.stdout)
    assert json.loads(opened.stdout)["iv_after"] == c["iv_after_hex"]
    # PKCS#7 cannot read it; the CMS setting is PKCS#7
    with pytest.raises(PaddingError):
        a.thinx_decrypt(key, iv, bytes.fromhex(c["ciphertext_hex"]), "cms")
    cms = case("thinx-aes-lib", 80)
    assert cms["paddingMode"] == "CMS"
    assert a.thinx_encrypt(bytes.fromhex(cms["key_hex"]), bytes.fromhex(cms["iv_hex"]),
                           bytes.fromhex(cms["plaintext_hex"]), "cms").hex() == cms["ciphertext_hex"]


def test_thinx_2_2_encrypt64_encrypts_base64_of_the_input(cli):
    c = next(t for _, t in vectors.iter_tests(load("thinx-aes-lib")) if t["libraryVersion"] == "2.2.3"
             and t["paddingMode"] == "CMS" and len(t["plaintext_hex"]) == 2 * 17)
    args = ["--profile", "thinx-aeslib", "--aeslib-version", "2.2", "--aeslib-padding", "cms", "--key", c["key_hex"],
            "--iv", c["iv_hex"]]
    sealed = cli("seal", *args, stdin=bytes.fromhex(c["plaintext_hex"]))
    assert sealed.stdout.decode().strip() == c["output_text"]
    assert cli("open", *args, stdin=sealed.stdout).stdout == bytes.fromhex(c["plaintext_hex"])
    # read as a 2.3 sender it is the base64 text
    newer = cli("open", *[x for x in args if x not in ("--aeslib-version", "2.2")], stdin=sealed.stdout)
    assert newer.stdout.decode() == c["base64_of_plaintext_that_was_encrypted"]


def test_thinx_array_padding_of_an_ambiguous_binary_block_is_reported():
    c = case("thinx-aes-lib", 22)  # 16 bytes ending 84 84: looks like 2 bytes of Array padding
    key, iv, ct = (bytes.fromhex(c[k]) for k in ("key_hex", "iv_hex", "ciphertext_hex"))
    warnings: list[str] = []
    opts = argparse.Namespace(key=c["key_hex"], iv=c["iv_hex"], passphrase=None, aeslib_padding="array",
                              aeslib_version="2.3", arduino_wire="b64")
    got = a.PROFILES[0].open(b64.encode_std(ct), opts, warnings.append).plaintext
    assert got == bytes.fromhex(c["plaintext_hex"])[:-2]
    assert any("cannot tell" in w for w in warnings)


# -- DavyLandman ---------------------------------------------------------------------------------------------------

def test_davylandman_partial_blocks_go_out_unencrypted_and_are_refused(cli):
    c = case("davylandman-aeslib", 6)  # 1 byte 7b comes back as 7b
    assert c["ciphertext_hex"] == c["plaintext_hex"] == "7b"
    args = ["--profile", "davylandman-aeslib", "--key", c["key_hex"], "--iv", c["iv_hex"]]
    refused = cli("seal", *args, stdin=b"\x7b")
    assert refused.returncode == 3 and b"UNENCRYPTED" in refused.stderr
    assert cli("open", *args, stdin=b"ew==").returncode == 3
    padded = cli("seal", *args, "--caller-padding", "zero", stdin=b"\x7b")
    assert cli("open", *args, "--caller-padding", "zero", stdin=padded.stdout).stdout == b"\x7b"
    whole = next(t for _, t in vectors.iter_tests(load("davylandman-aeslib")) if t["mode"] == "ECB"
                 and t["keyBits"] == 256 and len(t["plaintext_hex"]) == 64)
    ecb = ["--profile", "davylandman-aeslib", "--aeslib-mode", "ecb", "--key", whole["key_hex"], "--arduino-wire",
           "hex"]
    out = cli("seal", *ecb, stdin=bytes.fromhex(whole["plaintext_hex"]))
    assert out.stdout.decode().strip() == whole["ciphertext_hex"]
    with pytest.raises(Exception):
        a.davy_encrypt(bytes(32), bytes(16), bytes(16), "cbc")  # no AES-256 CBC in this library


# -- intrbiz -------------------------------------------------------------------------------------------------------

def test_intrbiz_encrypts_the_nul_and_pads_15_mod_16_past_its_table(cli):
    data = load("intrbiz-arduino-crypto")
    c = next(t for _, t in vectors.iter_tests(data) if t["plaintextName"] == "ascii_json_prefix_len15"
             and t.get("object_storage_fill_hex") == "00" and t.get("byte_after_plaintext_in_caller_buffer_hex") == "00"
             and t["keyBits"] == 128)
    args = ["--profile", "intrbiz-crypto", "--key", c["key_hex"], "--iv", c["iv_hex"]]
    sealed = cli("seal", *args, stdin=bytes.fromhex(c["plaintext_hex"]))
    assert b64.decode_std(sealed.stdout.decode().strip()).hex() == c["ciphertext_hex"]
    opened = cli("open", *args, stdin=sealed.stdout)
    assert opened.stdout == bytes.fromhex(c["plaintext_hex"]) and b"past its pad table" in opened.stderr
    a5 = next(t for _, t in vectors.iter_tests(data) if t.get("object_storage_fill_hex") == "a5"
              and t["plaintextName"] == "ascii_json_prefix_len15" and t["keyBits"] == 128)
    got = a.intrbiz_open(bytes.fromhex(a5["key_hex"]), bytes.fromhex(a5["iv_hex"]), bytes.fromhex(a5["ciphertext_hex"]))
    assert got.plaintext.hex() == a5["plaintext_hex"] and got.pad_byte == 0xa5 and got.pad_len == 16
    one = next(t for _, t in vectors.iter_tests(data) if t["tcId"] == 2)
    assert one["decrypted_hex"] == "7b00" + "0e" * 14  # the NUL went through the cipher


# -- Spaniakos set_IV ----------------------------------------------------------------------------------------------

def test_setiv_doubles_the_little_endian_value(cli):
    c = case("spaniakos-setiv", 1)
    assert a.setiv_iv(0x0123456789ABCDEF).hex() == c["iv_hex"] == "efcdab8967452301" * 2
    assert a.setiv_iv(36753562).hex() == "9ad0300200000000" * 2  # the README's example value
    for value in (c["set_IV_value"], c["set_IV_value_decimal"], c["set_IV_value"] + "ULL"):
        out = cli("seal", "--profile", "spaniakos-setiv", "--key", c["key_hex"], "--set-iv", value, stdin=b"")
        assert b64.decode_std(out.stdout.decode().strip()).hex() == c["ciphertext_hex"]
    same = cli("open", "--profile", "spaniakos-setiv", "--key", c["key_hex"], "--iv", c["iv_hex"], "--json",
               stdin=out.stdout)
    assert json.loads(same.stdout)["set_iv"] == 0x0123456789ABCDEF
    with pytest.raises(UsageError):
        a.parse_u64("18446744073709551616")


def test_bad_input():
    with pytest.raises(MalformedError):
        a.thinx_decrypt(bytes(16), bytes(16), bytes(15))
    with pytest.raises(MalformedError):
        a.intrbiz_open(bytes(16), bytes(16), b"")
    with pytest.raises(PaddingError):
        a.intrbiz_open(bytes(16), bytes(16), bytes(range(16)))
