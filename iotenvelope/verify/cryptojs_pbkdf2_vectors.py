"""Checking ``vectors/cryptojs/cryptojs_pbkdf2_*.json`` (written by real crypto-js) with the Python profile
:mod:`iotenvelope.profiles.cryptojs_pbkdf2`: every valid case derives the same key, opens to ``msg`` and seals
back to the same text; every invalid case fails with ``error``, and crypto-js's lax unpadding predicts what
crypto-js returned instead."""

from __future__ import annotations

from ..errors import IotEnvelopeError
from ..primitives import b64, cipher, padding
from ..profiles import cryptojs_pbkdf2 as pbkdf2
from . import vectors
from .peers import Result


def check_vector_file(data: dict):
    """Every case of ``vectors/cryptojs/cryptojs_pbkdf2_*.json`` through the profile module, the derived key
    included (tests/test_cryptojs_pbkdf2.py; ``verify`` asks the same through the runner protocol:
    :mod:`.legacy_tail`)."""
    result = Result()
    for group, test in vectors.iter_tests(data):
        label = vectors.label(test)
        layout = test["layout"]
        try:
            salt, iv = bytes.fromhex(test["salt"]), bytes.fromhex(test["iv"])
            wire = test.get("wire", test["ct"])
            given = (salt, iv) if layout == "separate" else (None, None)
            if test["result"] == "valid":
                s = pbkdf2.Settings(group["hasher"], group["iterations"], group["keySize"])
                ok = pbkdf2.derive_key(test["passphrase"], salt, s).hex() == test["key"]
                plain = pbkdf2.open_text(wire, test["passphrase"], s, layout, *given, salt_bytes=len(salt))
                again, _ = pbkdf2.seal(plain, test["passphrase"], s, layout, salt, iv, salt_bytes=len(salt))
                result.record(ok and plain.hex() == test["msg"] and again == wire, label, "other bytes")
                continue
            r = test["readWith"]
            s = pbkdf2.Settings(r["hasher"], r["iterations"], r["keySize"])
            try:
                pbkdf2.open_text(wire, test["passphrase"], s, layout, *given, salt_bytes=len(salt))
                result.record(False, label, f"opened, expected {test['error']}")
            except IotEnvelopeError as exc:
                key = pbkdf2.derive_key(test["passphrase"], salt, s)
                lax = padding.cryptojs_lax_unpad(cipher.decrypt_raw(key, iv, b64.decode_std(test["ct"])), "pkcs7")
                result.record(exc.code == test["error"] and lax.hex() == test["cryptojsResult"]["hex"], label,
                              f"raised {exc.code}; crypto-js prediction {lax.hex()} vs {test['cryptojsResult']['hex']}")
        except IotEnvelopeError as exc:
            result.record(False, label, f"raised {exc.code}: {exc}")
    return result
