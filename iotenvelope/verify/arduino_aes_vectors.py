"""The Arduino AES libraries' vector files (``vectors/<library>/``, written by the real libraries): the copy of
each shared file in this repository's layout (:func:`convert_shared_file`, undone by :func:`original_of`) and a
deep checker per file (:data:`CHECKERS`) over :mod:`iotenvelope.profiles.arduino_aes`."""

from __future__ import annotations

import argparse
import hashlib

from ..errors import IotEnvelopeError, MalformedError
from ..primitives import b64, cipher
from ..profiles import Profile, no_warn
from ..profiles import arduino_aes as aa, spaniakos as sp
from . import vectors
from .peers import Result


def _group_key(library: str, case: dict) -> str:
    if library == "thinx-aes-lib":
        api = "encrypt64" if "encrypt64" in case["api"] else "encrypt"
        return f"{case['libraryVersion']} {case['paddingMode'].split()[0]} {api}"
    if library == "davylandman-aeslib":
        return f"{case['mode']} {case['keyBits']}"
    if library == "intrbiz-arduino-crypto":
        return "processNoPad" if "processNoPad" in case["api"] else "process"
    if case.get("set_IV_value") is None:
        return "no set_IV"
    return "6-argument do_aes_encrypt" if "caller_iv_buffer_before_hex" in case else "5-argument do_aes_encrypt"


LIBRARIES = {  # shared folder name -> (algorithm of the copied file, profile)
    "thinx-aes-lib": ("thinx-aes-lib", "thinx-aeslib"),
    "davylandman-aeslib": ("davylandman-aeslib", "davylandman-aeslib"),
    "intrbiz-arduino-crypto": ("intrbiz-arduino-crypto", "intrbiz-crypto"),
    "spaniakos-setiv": ("spaniakos-setiv", "spaniakos-setiv"),
}


def convert_shared_file(library: str, original: dict, original_bytes: bytes) -> dict:
    """A shared vector file in this repository's layout: every original member kept unchanged except ``cases``,
    whose cases move (unchanged, in order) into test groups; each gains only ``result``. ``source`` records
    where it came from and checksums of the original (file bytes and canonical JSON)."""
    algorithm, profile = LIBRARIES[library]
    groups: dict[str, list] = {}
    for case in original["cases"]:
        groups.setdefault(_group_key(library, case), []).append({**case, "result": "valid"})
    commit = original["commit"]
    return {
        "algorithm": algorithm,
        "schema": "iotenvelope_arduino_library_test_schema_v1",
        "source": {
            "implementation": f"{original['repository']} (real library: {original['library']})",
            "version": commit if isinstance(commit, str) else commit,
            "generatedBy": original["generatedBy"],
            "copiedFrom": f"shared/vectors/{library}/{library}_vectors.json",
            "originalFileSha256": hashlib.sha256(original_bytes).hexdigest(),
            "originalCanonicalSha256": vectors.canonical_sha256(original),
            "conversion": "iotenvelope.verify.arduino_aes_vectors.convert_shared_file: the cases list becomes"
                          " testGroups (grouped by API, in order); each case gains result=valid; nothing else changed",
            "profile": profile,
        },
        **{k: v for k, v in original.items() if k != "cases"},
        "numberOfTests": len(original["cases"]),
        "testGroups": [{"type": name, "profile": profile, "tests": tests} for name, tests in groups.items()],
    }


def original_of(converted: dict) -> dict:
    """Undo :func:`convert_shared_file` (the test proves the copy is lossless against the checksum)."""
    skip = {"algorithm", "schema", "source", "numberOfTests", "testGroups"}
    out = {k: v for k, v in converted.items() if k not in skip}
    cases = [t for g in converted["testGroups"] for t in g["tests"]]
    out["cases"] = sorted(({k: v for k, v in t.items() if k != "result"} for t in cases), key=lambda c: c["tcId"])
    return out


def _h(case: dict, key: str) -> bytes:
    value = case.get(key)
    return bytes.fromhex(value) if value else b""


class _Opts(argparse.Namespace):
    pass


def _profile_roundtrip(profile: Profile, opts: _Opts, plain: bytes, wire: str) -> list[str]:
    problems = []
    if profile.seal(plain, opts, no_warn) != wire:
        problems.append(f"{profile.name} seal differs")
    if profile.open(wire, opts, no_warn).plaintext != plain:
        problems.append(f"{profile.name} open differs")
    return problems


def _check_thinx(case: dict) -> list[str]:
    key, iv, pt, ct = (_h(case, k) for k in ("key_hex", "iv_hex", "plaintext_hex", "ciphertext_hex"))
    pad = "cms" if case["paddingMode"].startswith("CMS") else "array"
    old = case["libraryVersion"] == "2.2.3"
    inner = b64.encode_std(pt).encode("ascii") if old else pt
    problems = []
    if old and case["base64_of_plaintext_that_was_encrypted"] != inner.decode():
        problems.append("inner base64 differs")
    if aa.thinx_encrypt(key, iv, inner, pad) != ct:
        problems.append("encrypt differs")
    if case["encrypt_return"] != (len(case.get("output_text", "")) if "encrypt64" in case["api"] else len(ct)):
        problems.append("encrypt return value differs")
    if aa.iv_after(iv, ct).hex() != case["iv_after_hex"] or aa.iv_after(iv, ct).hex() != case["decrypt_iv_after_hex"]:
        problems.append("IV after the call differs")
    if "decrypt_buffer_hex" in case and ct and cipher.decrypt_raw(key, iv, ct).hex() != case["decrypt_buffer_hex"]:
        problems.append("raw decrypt differs")
    if "encrypt64" in case["api"]:
        if aa.thinx_encrypt64(key, iv, pt, pad, "2.2" if old else "2.3") != case["output_text"]:
            problems.append("encrypt64 text differs")
        wire = case["output_text"]
    else:
        wire = b64.encode_std(ct)
    opts = _Opts(key=case["key_hex"], iv=case["iv_hex"], passphrase=None, aeslib_padding=pad,
                 aeslib_version="2.2" if old else "2.3", arduino_wire="b64")
    if pad == "array" and not old and len(pt) % aa.BLOCK == 0 and pt != aa.array_unpad(pt):
        # a whole-block binary message that ends like Array padding (tcId 22: ...84 84): the padding cannot tell,
        # open removes the "padding" and says so
        warnings: list[str] = []
        got = aa.PROFILES[0].open(wire, opts, warnings.append).plaintext
        if aa.PROFILES[0].seal(pt, opts, no_warn) != wire or got != aa.array_unpad(pt) or not any(
                "cannot tell" in w for w in warnings):
            problems.append("ambiguous Array padding not handled as documented")
        return problems
    return problems + _profile_roundtrip(aa.PROFILES[0], opts, pt, wire)


def _check_davy(case: dict) -> list[str]:
    key, iv, pt, ct = (_h(case, k) for k in ("key_hex", "iv_hex", "plaintext_hex", "ciphertext_hex"))
    mode = "cbc" if case["mode"] == "CBC" else "ecb"
    problems = []
    if aa.davy_encrypt(key, iv or None, pt, mode) != ct:
        problems.append("library output differs")
    if case.get("iv_after_hex") not in (None, case["iv_hex"]):
        problems.append("caller IV was expected unchanged")
    whole = pt and len(pt) % aa.BLOCK == 0
    if whole:
        if aa.davy_decrypt(key, iv or None, ct, mode) != pt or _h(case, "decrypted_hex") != pt:
            problems.append("decrypt differs")
        opts = _Opts(key=case["key_hex"], iv=case["iv_hex"], passphrase=None, aeslib_mode=mode, caller_padding="none",
                     arduino_wire="b64")
        problems += _profile_roundtrip(aa.PROFILES[1], opts, pt, b64.encode_std(ct))
    else:  # the library sent these bytes unencrypted: seal refuses, open refuses
        opts = _Opts(key=case["key_hex"], iv=case["iv_hex"] or "00" * 16, passphrase=None, aeslib_mode=mode,
                     caller_padding="none", arduino_wire="b64")
        davy = aa.PROFILES[1]
        for action in (lambda: davy.seal(pt, opts, no_warn), lambda: davy.open(b64.encode_std(ct), opts, no_warn)):
            try:
                action()
                problems.append("a partial block was accepted")
            except MalformedError:
                pass
    return problems


def _check_intrbiz(case: dict) -> list[str]:
    key, iv, pt, ct = (_h(case, k) for k in ("key_hex", "iv_hex", "plaintext_hex", "ciphertext_hex"))
    if "processNoPad" in case["api"]:
        ok = aa.intrbiz_process_nopad(key, iv, pt) == ct and _h(case, "decrypted_hex") == pt[:len(ct)]
        return [] if ok else ["processNoPad differs"]
    after, fill = (int(case[k], 16) for k in ("byte_after_plaintext_in_caller_buffer_hex", "object_storage_fill_hex"))
    problems = []
    if aa.intrbiz_encrypt(key, iv, pt, after, fill) != ct or \
            aa.intrbiz_layout(len(pt))[0] != case["calcSizeAndPad_return"]:
        problems.append("encrypt differs")
    if aa.intrbiz_encrypt(key, ct[-aa.BLOCK:], pt, after, fill) != _h(case, "ciphertext_second_process_call_hex"):
        problems.append("second process() call (continued chain) differs")
    if cipher.decrypt_raw(key, iv, ct) != _h(case, "decrypted_hex") or case["caller_iv_after_hex"] != case["iv_hex"]:
        problems.append("decrypt / caller IV differs")
    got = aa.intrbiz_open(key, iv, ct)
    if got.plaintext != pt or got.terminator != after:
        problems.append("open differs")
    if after == 0:
        opts = _Opts(key=case["key_hex"], iv=case["iv_hex"], passphrase=None, intrbiz_fill=f"{fill:02x}",
                     arduino_wire="b64")
        problems += _profile_roundtrip(aa.PROFILES[2], opts, pt, b64.encode_std(ct))
    return problems


def _check_setiv(case: dict) -> list[str]:
    key, iv, pt, ct = (_h(case, k) for k in ("key_hex", "iv_hex", "plaintext_hex", "ciphertext_hex"))
    problems = []
    value = case.get("set_IV_value")
    if value is not None and "iv_inc()" in case["api"]:  # set_IV(v); iv_inc(): the IV of v + 1
        value = str((aa.parse_u64(value) + 1) % 2 ** 64)
    if value is not None and aa.setiv_iv(aa.parse_u64(value)) != iv:
        problems.append("set_IV IV differs")
    if value is not None and aa.parse_u64(case["set_IV_value_decimal"]) != aa.parse_u64(case["set_IV_value"]):
        problems.append("decimal value differs")
    if sp.encrypt(key, iv, pt) != ct or aa.iv_after(iv, ct).hex() != case["iv_after_hex"]:
        problems.append("encrypt / IV after differs")
    if "ciphertext_second_call_no_set_IV_hex" in case and sp.encrypt(
            key, _h(case, "object_member_iv_after_hex"), pt) != _h(case, "ciphertext_second_call_no_set_IV_hex"):
        problems.append("second call (object IV) differs")
    read_iv = iv if value is not None else _h(case, "get_IV_after_hex")
    if cipher.decrypt_raw(key, read_iv, ct) != _h(case, "decrypted_hex"):
        problems.append("library decrypt differs")
    if value is not None:
        if _h(case, "get_IV_after_hex") != iv:
            problems.append("get_IV differs")
        opts = _Opts(key=case["key_hex"], iv=None, set_iv=value, passphrase=None, arduino_wire="b64")
        problems += _profile_roundtrip(aa.PROFILES[3], opts, pt, b64.encode_std(ct))
    return problems


_CHECKS = {"thinx-aes-lib": _check_thinx, "davylandman-aeslib": _check_davy,
           "intrbiz-arduino-crypto": _check_intrbiz, "spaniakos-setiv": _check_setiv}


def _checker(algorithm: str):
    def check(data: dict):
        result = Result()
        for _group, test in vectors.iter_tests(data):
            try:
                problems = _CHECKS[algorithm](test)
            except IotEnvelopeError as exc:
                problems = [f"raised {exc.code}: {exc}"]
            result.record(not problems, vectors.label(test), "; ".join(problems))
        return result
    check.__name__ = f"check_{algorithm.replace('-', '_')}"
    return check


#: vector-file algorithm -> deep checker: the profile plus the library facts that are no profile behaviour (a second
#: call continuing the chain, get_IV, what the library's decrypt wrote). Used by tests/test_arduino_aes.py; verify
#: asks the profile part through the runner protocol (:mod:`.legacy_tail`).
CHECKERS = {algorithm: _checker(algorithm) for algorithm, _ in LIBRARIES.values()}
