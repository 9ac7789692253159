"""The ESP8266 blog pattern, UNAUTHENTICATED legacy: ``esp8266-b64``.

Device → node: ``{"iv": b64(iv), "data": b64(AES-128-CBC(key, iv, PKCS7(b64(message))))}``: the device
base64-encodes the message *before* encrypting it, and the node (crypto-js) decrypts to base64 text and decodes
it. Node → device sends the same object except that ``iv`` is base64 of the IV's 32-character **hex string**
(``--iv-form hex``). ``open`` accepts both forms and reports which one it saw.

The JSON is written as crypto-js's ``JSON.stringify`` writes it (no spaces). No MAC: anyone can forge these.
"""

from __future__ import annotations

import argparse
import binascii
import json
import os
import re

from ..primitives import b64, cipher, keys
from ..errors import KeyFormatError, MalformedError, PaddingError, UsageError
from . import OpenResult, Option, Profile, Warn, check_warn, no_warn
from .cryptojs import explain_padding_failure, read_base64

IV_FORMS = ("raw", "hex")
_BYTES = (bytes, bytearray)
_TEXT = (str, bytes, bytearray)


def check_key(key: bytes) -> bytes:
    KeyFormatError.check_type(key, _BYTES, "key", "16 bytes")
    if len(key) != 16:
        raise KeyFormatError(f"key is {len(key)} bytes; the ESP8266 pattern uses AES-128: 16 bytes")
    return key


def seal_esp8266(message: bytes, key: bytes, iv: bytes | None = None, iv_form: str = "raw") -> str:
    """The JSON text one side sends. ``iv_form`` 'raw' (device → node) or 'hex' (node → device)."""
    MalformedError.check_type(message, _BYTES, "message", "bytes")
    check_key(key)
    if UsageError.check_type(iv_form, str, "iv_form", "'raw' or 'hex'") not in IV_FORMS:
        raise UsageError(f"iv form {iv_form!r} is not 'raw' or 'hex'")
    iv = os.urandom(16) if iv is None else iv
    if len(KeyFormatError.check_type(iv, _BYTES, "iv", "16 bytes or None")) != 16:
        raise KeyFormatError(f"IV is {len(iv)} bytes; must be 16")
    inner = b64.encode_std(message).encode("ascii")
    data = b64.encode_std(cipher.encrypt(key, iv, inner))
    iv_text = b64.encode_std(iv if iv_form == "raw" else iv.hex().encode("ascii"))
    return json.dumps({"iv": iv_text, "data": data}, separators=(",", ":"))


def load_message(text: str | bytes) -> tuple[str, str]:
    """The ``iv`` and ``data`` strings of the JSON object, or MalformedError."""
    MalformedError.check_type(text, _TEXT, "text", "JSON text")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedError("ESP8266 message is not JSON (expected {\"iv\": ..., \"data\": ...})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("iv"), str) or not isinstance(obj.get("data"), str):
        raise MalformedError('ESP8266 message must be a JSON object with string members "iv" and "data"')
    return obj["iv"], obj["data"]


def read_iv(field: str, warn: Warn = no_warn) -> tuple[bytes, str]:
    """→ (16-byte IV, form): ``raw`` when the member is base64 of the IV, ``hex`` when it is base64 of the IV's
    32-character hex text (what the node sends to the device)."""
    MalformedError.check_type(field, _TEXT, "iv field", "base64 text")
    iv = read_base64(field, "iv", warn)
    if len(iv) == 32 and re.fullmatch(rb"[0-9a-fA-F]{32}", iv):
        return binascii.unhexlify(iv), "hex"
    if len(iv) != 16:
        raise MalformedError(f"iv decodes to {len(iv)} bytes; expected 16 (or the 32-character hex form)")
    return iv, "raw"


def parse_message(text: str | bytes, warn: Warn = no_warn) -> tuple[bytes, str, bytes]:
    """→ (IV, IV form, ciphertext) of a blog message in either direction."""
    check_warn(warn)
    iv_field, data_field = load_message(text)
    iv, form = read_iv(iv_field, warn)
    return iv, form, read_base64(data_field, "data", warn)


def decode_inner(inner: bytes) -> bytes:
    """The message inside the decrypted bytes, which the sender base64-encoded before encrypting."""
    MalformedError.check_type(inner, _BYTES, "inner", "bytes")
    try:
        inner_text = inner.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedError("decrypted data is not base64 text: the ESP8266 pattern base64-encodes the message before"
                             " encrypting (use --profile cryptojs-key for plain AES-CBC)") from None
    return b64.decode_std(inner_text, "decrypted inner base64")


def open_esp8266(text: str | bytes, key: bytes, warn: Warn = no_warn) -> tuple[bytes, str]:
    """→ (message, iv_form). Strict PKCS#7; the decrypted bytes must be base64 text."""
    check_key(key)
    iv, form, ct = parse_message(text, warn)
    raw = cipher.decrypt_raw(key, iv, ct)
    try:
        inner = cipher.pkcs7_unpad(raw)
    except PaddingError as exc:
        raise PaddingError(f"{exc}: {explain_padding_failure('pkcs7', 'wrong key (or a sender that drops the last byte: Spaniakos AES before 2018)')}") from None
    return decode_inner(inner), form


class Esp8266B64(Profile):
    name = "esp8266-b64"
    summary = 'ESP8266 blog pattern {"iv": b64, "data": b64(AES-128-CBC(b64(msg)))}, both directions (--iv-form)'
    authenticated = False
    options = (
        Option(("--iv-form",), dict(choices=IV_FORMS, default="raw",
                                    help="esp8266-b64: raw = iv is b64 of the bytes (device->node, default);"
                                         " hex = b64 of the hex string (node->device)"), ("seal",)),
    )

    def _key(self, opts: argparse.Namespace) -> bytes:
        if getattr(opts, "passphrase", None) is not None:
            raise UsageError("esp8266-b64 takes a 16-byte AES key with --key (hex or b64:), not a passphrase")
        if getattr(opts, "key", None) is None:
            raise UsageError("esp8266-b64 needs --key (16 bytes, hex or b64:)")
        return check_key(keys.parse_bytes(opts.key, "--key"))

    def seal(self, plaintext: bytes, opts: argparse.Namespace, warn: Warn, index: int = 0) -> str:
        iv = keys.parse_iv(opts.iv, "--iv") if getattr(opts, "iv", None) else None
        return seal_esp8266(plaintext, self._key(opts), iv, opts.iv_form)

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        message, form = open_esp8266(text, self._key(opts), warn)
        return OpenResult(message, {"profile": self.name, "authenticated": False, "iv_form": form})


ORDER = 30
PROFILES = [Esp8266B64()]
