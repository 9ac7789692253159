"""Issue 14's vector files in the runner protocol (docs/runner-protocol.md): crypto-js PBKDF2 and the Arduino AES
libraries.

Two halves, kept together so the request shapes stay in one place:

* :data:`CASES` (verify's side, registered into :data:`iotenvelope.verify.protocol.CASES`): each vector case of
  ``cryptojs-pbkdf2``, ``thinx-aes-lib``, ``davylandman-aeslib``, ``intrbiz-arduino-crypto`` and
  ``spaniakos-setiv`` becomes ``legacy-open`` / ``legacy-seal`` requests, judged against the file;
* :data:`HANDLERS` (the Python runner's side, registered into :data:`iotenvelope.verify.peers.python.LEGACY`):
  the profiles ``cryptojs-pbkdf2``, ``thinx-aeslib``, ``davylandman-aeslib``, ``intrbiz-crypto`` and
  ``spaniakos-setiv`` answering them.

The library facts that are no profile behaviour (a second call continuing the CBC chain, ``get_IV``, what the
library's own decrypt wrote) are checked by ``arduino_aes_vectors.CHECKERS`` in ``tests/test_arduino_aes.py``.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from ..primitives import b64
from . import protocol

Ask = Callable[[dict], dict]


def _req(op: str, profile: str, params: dict, **members: Any) -> dict:
    return {"op": op, "profile": profile, "params": params, **members}


# ---- verify's side ---------------------------------------------------------------------------------------------

def _pbkdf2_case(group: dict, test: dict, ask: Ask) -> None:
    valid = test["result"] == "valid"
    s = {"hasher": group["hasher"], "iterations": group["iterations"], "keySize": group["keySize"]} if valid \
        else test["readWith"]
    params = {"hasher": s["hasher"], "iterations": s["iterations"], "key_bits": s["keySize"], "layout": test["layout"],
              "salt_bytes": len(test["salt"]) // 2}
    text = test.get("wire", test["ct"])
    given = {"salt_hex": test["salt"], "iv_hex": test["iv"]} if test["layout"] == "separate" else {}
    answer = ask(_req("legacy-open", "cryptojs-pbkdf2", params, passphrase=test["passphrase"], text=text, **given))
    if not valid:
        protocol.expect_error(answer, test.get("error"), "legacy-open")
        protocol.optional(answer, "lax_plaintext_hex", test["cryptojsResult"]["hex"], "legacy-open")
        return
    protocol.expect_ok(answer, {"plaintext_hex": test["msg"]}, "legacy-open")
    answer = ask(_req("legacy-seal", "cryptojs-pbkdf2", params, passphrase=test["passphrase"], plaintext_hex=test["msg"],
                      salt_hex=test["salt"], iv_hex=test["iv"]))
    protocol.expect_ok(answer, {"text": text}, "legacy-seal")


def _thinx_case(group: dict, test: dict, ask: Ask) -> None:
    from ..profiles.arduino_aes import BLOCK, array_unpad
    pad = "cms" if test["paddingMode"].startswith("CMS") else "array"
    version = "2.2" if test["libraryVersion"] == "2.2.3" else "2.3"
    b64_api = "encrypt64" in test["api"]
    params = {"padding": pad, "version": version, "wire": "b64" if b64_api else "hex"}
    text = test["output_text"] if b64_api else test["ciphertext_hex"]
    key, iv, msg = test["key_hex"], test["iv_hex"], test["plaintext_hex"]
    answer = ask(_req("legacy-seal", "thinx-aeslib", params, key_hex=key, iv_hex=iv, plaintext_hex=msg))
    protocol.expect_ok(answer, {"text": text}, "legacy-seal")
    protocol.optional(answer, "iv_after_hex", test["iv_after_hex"], "legacy-seal")
    plain = bytes.fromhex(msg)
    if pad == "array" and version == "2.3" and len(plain) % BLOCK == 0:
        # a whole-block message whose own tail looks like Array padding loses it (documented, with a warning)
        plain = array_unpad(plain)
    answer = ask(_req("legacy-open", "thinx-aeslib", params, key_hex=key, iv_hex=iv, text=text))
    protocol.expect_ok(answer, {"plaintext_hex": plain.hex()}, "legacy-open")
    protocol.optional(answer, "iv_after_hex", test["decrypt_iv_after_hex"], "legacy-open")


def _davy_case(group: dict, test: dict, ask: Ask) -> None:
    mode = "cbc" if test["mode"] == "CBC" else "ecb"
    params = {"mode": mode, "caller_padding": "none"}
    iv = {"iv_hex": test["iv_hex"]} if mode == "cbc" else {}
    msg, ct = test["plaintext_hex"], test["ciphertext_hex"]
    whole = msg and len(msg) % 32 == 0
    answer = ask(_req("legacy-seal", "davylandman-aeslib", params, key_hex=test["key_hex"], plaintext_hex=msg, **iv))
    if not whole:  # the library returned these bytes unencrypted: a profile must refuse to send them as if sealed
        protocol.expect_error(answer, "malformed", "legacy-seal (partial block)")
        answer = ask(_req("legacy-open", "davylandman-aeslib", params, key_hex=test["key_hex"], text=ct, **iv))
        protocol.expect_error(answer, "malformed", "legacy-open (partial block)")
        return
    protocol.expect_ok(answer, {"text": ct}, "legacy-seal")
    answer = ask(_req("legacy-open", "davylandman-aeslib", params, key_hex=test["key_hex"], text=ct, **iv))
    protocol.expect_ok(answer, {"plaintext_hex": msg}, "legacy-open")


def _intrbiz_case(group: dict, test: dict, ask: Ask) -> None:
    key, iv, msg, ct = test["key_hex"], test["iv_hex"], test["plaintext_hex"], test["ciphertext_hex"]
    if "processNoPad" in test["api"]:
        params = {"api": "processNoPad"}
        answer = ask(_req("legacy-seal", "intrbiz-crypto", params, key_hex=key, iv_hex=iv, plaintext_hex=msg))
        protocol.expect_ok(answer, {"text": ct}, "legacy-seal (processNoPad)")
        answer = ask(_req("legacy-open", "intrbiz-crypto", params, key_hex=key, iv_hex=iv, text=ct))
        protocol.expect_ok(answer, {"plaintext_hex": test["decrypted_hex"]}, "legacy-open (processNoPad)")
        return
    params = {"api": "process", "fill": test["object_storage_fill_hex"],
              "terminator": test["byte_after_plaintext_in_caller_buffer_hex"]}
    answer = ask(_req("legacy-seal", "intrbiz-crypto", params, key_hex=key, iv_hex=iv, plaintext_hex=msg))
    protocol.expect_ok(answer, {"text": ct}, "legacy-seal")
    answer = ask(_req("legacy-open", "intrbiz-crypto", params, key_hex=key, iv_hex=iv, text=ct))
    protocol.expect_ok(answer, {"plaintext_hex": msg}, "legacy-open")
    protocol.optional(answer, "terminator_hex", test["byte_after_plaintext_in_caller_buffer_hex"], "legacy-open")


def _setiv_case(group: dict, test: dict, ask: Ask) -> None:
    from ..profiles.arduino_aes import parse_u64
    value = test.get("set_IV_value")
    if value is None:  # no set_IV: the constructor's IV, given as bytes
        iv_member = {"iv_hex": test["iv_hex"]}
    else:
        number = parse_u64(value) + (1 if "iv_inc()" in test["api"] else 0)
        iv_member = {"set_iv": str(number % 2 ** 64)}
    msg, ct = test["plaintext_hex"], test["ciphertext_hex"]
    answer = ask(_req("legacy-seal", "spaniakos-setiv", {}, key_hex=test["key_hex"], plaintext_hex=msg, **iv_member))
    protocol.expect_ok(answer, {"text": ct}, "legacy-seal")
    protocol.optional(answer, "iv_hex", test["iv_hex"], "legacy-seal")
    protocol.optional(answer, "iv_after_hex", test["iv_after_hex"], "legacy-seal")
    answer = ask(_req("legacy-open", "spaniakos-setiv", {}, key_hex=test["key_hex"], text=ct, **iv_member))
    protocol.expect_ok(answer, {"plaintext_hex": msg}, "legacy-open")


CASES: dict[str, Callable[[dict, dict, Ask], None]] = {
    "cryptojs-pbkdf2": _pbkdf2_case,
    "thinx-aes-lib": _thinx_case,
    "davylandman-aeslib": _davy_case,
    "intrbiz-arduino-crypto": _intrbiz_case,
    "spaniakos-setiv": _setiv_case,
}


# ---- the Python runner's side ------------------------------------------------------------------------------------

def _quiet(_message: str) -> None:
    return None


def _py():
    from .peers import python as py  # at call time: python.py imports this module
    return py


def _pbkdf2(request: dict, sealing: bool) -> dict:
    from ..errors import IotEnvelopeError
    from ..primitives import cipher, padding
    from ..profiles import cryptojs_pbkdf2 as pb
    py = _py()
    p = py._params(request)
    settings = pb.Settings(py._get(p, "hasher"), py._get(p, "iterations", int), py._get(p, "key_bits", int))
    layout, salt_bytes, passphrase = py._get(p, "layout"), py._get(p, "salt_bytes", int), py._get(request, "passphrase")
    if sealing:
        text, _ = pb.seal(py._hex(request, "plaintext_hex"), passphrase, settings, layout, py._hex(request, "salt_hex"),
                          py._hex(request, "iv_hex"), salt_bytes)
        return {"text": text}
    given = (py._hex(request, "salt_hex"), py._hex(request, "iv_hex")) if layout == "separate" else (None, None)
    parts = pb.parse_wire(py._get(request, "text"), layout, *given, salt_bytes=salt_bytes)
    try:
        return {"plaintext_hex": pb.open_parts(parts, passphrase, settings).hex()}
    except IotEnvelopeError as exc:
        key = pb.derive_key(passphrase, parts.salt, settings)
        exc.lax = padding.cryptojs_lax_unpad(cipher.decrypt_raw(key, parts.iv, parts.ct), "pkcs7").hex()  # type: ignore
        raise


def _thinx(request: dict, sealing: bool) -> dict:
    from ..profiles import arduino_aes as a
    py = _py()
    p = py._params(request)
    opts = argparse.Namespace(key=py._get(request, "key_hex"), iv=py._get(request, "iv_hex"), passphrase=None,
                              aeslib_padding=py._get(p, "padding"), aeslib_version=py._get(p, "version"),
                              arduino_wire=py._get(p, "wire"))
    iv = py._hex(request, "iv_hex")
    if sealing:
        text = a.PROFILES[0].seal(py._hex(request, "plaintext_hex"), opts, _quiet)
        ct = bytes.fromhex(text) if opts.arduino_wire == "hex" else (b64.decode_std(text) if text else b"")
        return {"text": text, "iv_after_hex": a.iv_after(iv, ct).hex()}
    opened = a.PROFILES[0].open(py._get(request, "text"), opts, _quiet)
    return {"plaintext_hex": opened.plaintext.hex(), "iv_after_hex": opened.meta["iv_after"]}


def _davy(request: dict, sealing: bool) -> dict:
    from ..profiles import arduino_aes as a
    py = _py()
    p = py._params(request)
    opts = argparse.Namespace(key=py._get(request, "key_hex"), iv=request.get("iv_hex"), passphrase=None,
                              aeslib_mode=py._get(p, "mode"), caller_padding=py._get(p, "caller_padding"),
                              arduino_wire="hex")
    if sealing:
        return {"text": a.PROFILES[1].seal(py._hex(request, "plaintext_hex"), opts, _quiet)}
    return {"plaintext_hex": a.PROFILES[1].open(py._get(request, "text"), opts, _quiet).plaintext.hex()}


def _intrbiz(request: dict, sealing: bool) -> dict:
    from ..primitives import cipher
    from ..profiles import arduino_aes as a
    py = _py()
    p = py._params(request)
    key, iv = py._hex(request, "key_hex"), py._hex(request, "iv_hex")
    if py._get(p, "api") == "processNoPad":
        if sealing:
            return {"text": a.intrbiz_process_nopad(key, iv, py._hex(request, "plaintext_hex")).hex()}
        ct = py._hex(request, "text")  # plain CBC decryption of whole blocks, nothing removed
        return {"plaintext_hex": cipher.decrypt_raw(key, iv, ct).hex() if ct else ""}
    if sealing:
        fill, term = bytes.fromhex(py._get(p, "fill")), bytes.fromhex(py._get(p, "terminator"))
        return {"text": a.intrbiz_encrypt(key, iv, py._hex(request, "plaintext_hex"), term[0], fill[0]).hex()}
    got = a.intrbiz_open(key, iv, py._hex(request, "text"))
    return {"plaintext_hex": got.plaintext.hex(), "terminator_hex": f"{got.terminator:02x}"}


def _setiv(request: dict, sealing: bool) -> dict:
    from ..profiles import arduino_aes as a
    py = _py()
    opts = argparse.Namespace(key=py._get(request, "key_hex"), iv=request.get("iv_hex"), set_iv=request.get("set_iv"),
                              passphrase=None, arduino_wire="hex")
    profile = a.PROFILES[3]
    if sealing:
        iv = profile._the_iv(opts, required=True)
        text = profile.seal(py._hex(request, "plaintext_hex"), opts, _quiet)
        return {"text": text, "iv_hex": iv.hex(), "iv_after_hex": a.iv_after(iv, bytes.fromhex(text)).hex()}
    return {"plaintext_hex": profile.open(py._get(request, "text"), opts, _quiet).plaintext.hex()}


HANDLERS: dict[str, Callable[[dict, bool], dict]] = {
    "cryptojs-pbkdf2": _pbkdf2, "thinx-aeslib": _thinx, "davylandman-aeslib": _davy, "intrbiz-crypto": _intrbiz,
    "spaniakos-setiv": _setiv,
}
