"""Checking ``vectors/cryptojs/*.json`` (``algorithm: cryptojs-aes``) with the Python profiles.

The files are written by real crypto-js (``interop/js/scripts/generate-vectors.js``); this is the Python side of
that interop: every valid case must decrypt to ``msg`` and re-encrypt to the same text, every invalid case must
fail with ``error``, and for invalid cases :func:`iotenvelope.padding.cryptojs_lax_unpad` must predict exactly
what crypto-js returned instead (``cryptojsHex``) - that prediction is what the error messages tell users.
"""

from __future__ import annotations

from ..primitives import b64, cipher, openssl, padding
from . import vectors
from ..errors import IotEnvelopeError
from .peers import Result
from ..profiles import cryptojs, esp8266

ALGORITHM = "cryptojs-aes"


def _passphrase(group: dict, test: dict, result: Result) -> None:
    size, kdf = group["keySize"], group["kdf"]
    salt, ct = openssl.unpack(b64.decode_std(test["ct"]))
    if test["result"] == "valid":
        plain = cryptojs.decrypt_passphrase(test["ct"], test["passphrase"], size, kdf)
        again = cryptojs.encrypt_passphrase(plain, test["passphrase"], size, kdf, salt=salt)
        result.record(plain.hex() == test["msg"] and again == test["ct"], vectors.label(test), "other bytes")
        return
    try:
        cryptojs.decrypt_passphrase(test["ct"], test["passphrase"], size, kdf)
        result.record(False, vectors.label(test), f"decrypted, expected {test['error']}")
    except IotEnvelopeError as exc:
        key, iv = cryptojs.derive_passphrase_key(test["passphrase"], salt, size, kdf)
        lax = padding.cryptojs_lax_unpad(cipher.decrypt_raw(key, iv, ct), "pkcs7").hex()
        result.record(exc.code == test["error"] and lax == test["cryptojsHex"], vectors.label(test),
                      f"raised {exc.code}; crypto-js prediction {lax} vs {test['cryptojsHex']}")


def _key(group: dict, test: dict, result: Result) -> None:
    pad = group["padding"]
    key, iv = bytes.fromhex(test["key"]), bytes.fromhex(test["iv"])
    if test["result"] == "valid":
        plain = cryptojs.decrypt_key(test["ct"], key, iv, pad)
        same = pad == "iso10126" or cryptojs.encrypt_key(plain, key, iv, pad) == test["ct"]
        result.record(plain.hex() == test["msg"] and same, vectors.label(test), "other bytes")
        return
    try:
        cryptojs.decrypt_key(test["ct"], key, iv, pad)
        result.record(False, vectors.label(test), f"decrypted, expected {test['error']}")
    except IotEnvelopeError as exc:
        raw = cipher.decrypt_raw(key, cryptojs.normalize_iv(iv), b64.decode_std(test["ct"]))
        lax = padding.cryptojs_lax_unpad(raw, pad).hex()
        result.record(exc.code == test["error"] and lax == test["cryptojsHex"], vectors.label(test),
                      f"raised {exc.code}; crypto-js prediction {lax} vs {test['cryptojsHex']}")


def _esp(group: dict, test: dict, result: Result) -> None:
    key = bytes.fromhex(test["key"])
    message, form = esp8266.open_esp8266(test["wire"], key)
    again = esp8266.seal_esp8266(message, key, bytes.fromhex(test["iv"]), form)
    result.record(message.hex() == test["msg"] and form == test["ivForm"] and again == test["wire"], vectors.label(test),
                  "other bytes")


_BY_TYPE = {"PassphraseTest": _passphrase, "KeyTest": _key, "Esp8266Test": _esp}


def check_file(data: dict) -> Result:
    result = Result()
    for group, test in vectors.iter_tests(data):
        check = _BY_TYPE.get(group.get("type"))
        if check is None:
            result.record(False, vectors.label(test), f"unknown group type {group.get('type')}")
            continue
        try:
            check(group, test, result)
        except IotEnvelopeError as exc:
            result.record(False, vectors.label(test), f"raised {exc.code}: {exc}")
    return result
