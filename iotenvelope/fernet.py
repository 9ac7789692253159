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

from . import cipher
from .errors import AuthenticationError, FutureError, KeyFormatError, MalformedError, StaleError

VERSION = 0x80
MAX_CLOCK_SKEW = 60


def parse_key(text: str | bytes) -> bytes:
    """A Fernet key: url-safe base64 of 32 bytes (as ``Fernet.generate_key()`` prints)."""
    try:
        raw = base64.urlsafe_b64decode(text if isinstance(text, bytes) else text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise KeyFormatError("Fernet key is not url-safe base64") from None
    if len(raw) != 32:
        raise KeyFormatError(f"Fernet key is {len(raw)} bytes; must be 32")
    return raw


def _decode_token(token: str | bytes) -> bytes:
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


def encrypt(key: bytes, plaintext: bytes, *, now: int | None = None, iv: bytes | None = None) -> str:
    if len(key) != 32:
        raise KeyFormatError(f"Fernet key is {len(key)} bytes; must be 32")
    ts = int(time.time()) if now is None else now
    iv = os.urandom(16) if iv is None else iv
    body = bytes([VERSION]) + struct.pack(">Q", ts) + iv + cipher.encrypt(key[16:], iv, plaintext)
    return base64.urlsafe_b64encode(body + hmac.digest(key[:16], body, "sha256")).decode("ascii")


def decrypt(key: bytes, token: str | bytes, *, ttl: int | None = None, now: int | None = None) -> bytes:
    """MAC first (constant time), then decrypt, then the timestamp checks of the spec."""
    if len(key) != 32:
        raise KeyFormatError(f"Fernet key is {len(key)} bytes; must be 32")
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
