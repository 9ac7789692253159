"""Fernet tokens (the Fernet spec), built from this package's primitives.

Fernet is the established Python answer for "AES-128-CBC + HMAC + timestamp"; iotenvelope reads and writes it
so the Fernet spec's vectors check our AES-CBC, PKCS#7 and HMAC code, and so a backend can migrate from it.
Token: base64url(0x80 ‖ ts(u64be) ‖ iv(16) ‖ ct ‖ HMAC-SHA-256(signing key, all before)(32)).
The 32-byte key is signing key (first 16) ‖ encryption key (last 16).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import struct
import time

from ..primitives import cipher
from ..errors import AuthenticationError, FutureError, KeyFormatError, MalformedError, StaleError, UsageError

VERSION = 0x80
MAX_CLOCK_SKEW = 60


def parse_key(text: str | bytes) -> bytes:
    """A Fernet key: url-safe base64 of 32 bytes with its ``=`` (as ``Fernet.generate_key()`` prints).

    Surrounding whitespace (a key read from a file) is ignored. Anything else that is not base64 is refused,
    where the standard library's lenient decoder would silently drop it and maybe yield a different key.
    """
    if isinstance(text, str):
        if not text.isascii():
            raise KeyFormatError("Fernet key contains non-ASCII characters")
        text = text.encode("ascii")
    text = bytes(KeyFormatError.check_type(text, (bytes, bytearray), "Fernet key", "text or bytes")).strip()
    if len(text) != 44:
        raise KeyFormatError(f"Fernet key is {len(text)} characters; must be 44 (url-safe base64 of 32 bytes,"
                             " ending in '=')")
    try:
        raw = base64.b64decode(text, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("Fernet key is not url-safe base64 (only A-Z a-z 0-9 - _ and a final '=')") from None
    if len(raw) != 32 or base64.urlsafe_b64encode(raw) != text.replace(b"+", b"-").replace(b"/", b"_"):
        raise KeyFormatError("Fernet key is not the canonical url-safe base64 of 32 bytes")
    return raw


def _decode_token(token: str | bytes) -> bytes:
    if not isinstance(token, (str, bytes, bytearray)):
        raise MalformedError(f"Fernet token must be text or bytes, got {type(token).__name__}")
    if isinstance(token, str):
        if not token.isascii():
            raise MalformedError("Fernet token contains non-ASCII characters")
        token = token.encode("ascii")
    try:
        raw = base64.b64decode(token, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError("Fernet token is not url-safe base64") from None
    if len(raw) < 1 + 8 + 16 + 16 + 32 or raw[0] != VERSION:
        raise MalformedError("not a Fernet token (version byte or length wrong)")
    if (len(raw) - 57) % 16:
        raise MalformedError("Fernet ciphertext is not a multiple of 16 bytes")
    return raw


def _check_key(key: object) -> bytes:
    if not isinstance(key, (bytes, bytearray)):
        raise KeyFormatError(f"Fernet key must be bytes (see parse_key), got {type(key).__name__}")
    if len(key) != 32:
        raise KeyFormatError(f"Fernet key is {len(key)} bytes; must be 32")
    return bytes(key)


def _check_time(value: object, what: str) -> int:
    """A Fernet timestamp / ttl: an int that fits the token's unsigned 64-bit field."""
    if type(value) is not int or not 0 <= value < 1 << 64:
        raise UsageError(f"Fernet {what} {value!r} is not an integer in 0..2**64-1")
    return value


def encrypt(key: bytes, plaintext: bytes, *, now: int | None = None, iv: bytes | None = None) -> str:
    key = _check_key(key)
    ts = int(time.time()) if now is None else _check_time(now, "timestamp")
    iv = os.urandom(16) if iv is None else iv
    if not isinstance(iv, (bytes, bytearray)) or len(iv) != 16:
        raise KeyFormatError("Fernet IV must be 16 bytes")
    if not isinstance(plaintext, (bytes, bytearray)):
        raise UsageError(f"Fernet plaintext must be bytes, got {type(plaintext).__name__}")
    body = bytes([VERSION]) + struct.pack(">Q", ts) + iv + cipher.encrypt(key[16:], iv, plaintext)
    return base64.urlsafe_b64encode(body + hmac.digest(key[:16], body, "sha256")).decode("ascii")


def decrypt(key: bytes, token: str | bytes, *, ttl: int | None = None, now: int | None = None) -> bytes:
    """MAC first (constant time), then decrypt, then the timestamp checks of the spec."""
    key = _check_key(key)
    for what, value in (("ttl", ttl), ("time", now)):
        if value is not None and type(value) is not int:
            raise UsageError(f"Fernet {what} must be an integer number of seconds, got {type(value).__name__}")
    raw = _decode_token(token)
    if not hmac.compare_digest(hmac.digest(key[:16], raw[:-32], "sha256"), raw[-32:]):
        raise AuthenticationError("Fernet HMAC mismatch: wrong key, or the token was altered")
    plaintext = cipher.decrypt(key[16:], raw[9:25], raw[25:-32])
    ts = struct.unpack(">Q", raw[1:9])[0]
    now = int(time.time()) if now is None else now
    if ts > now + MAX_CLOCK_SKEW:
        raise FutureError(f"Fernet timestamp is {ts - now} s in the future (allowed {MAX_CLOCK_SKEW} s)")
    if ttl is not None and ts + ttl < now:
        raise StaleError(f"Fernet token is {now - ts} s old (ttl {ttl} s)")
    return plaintext
