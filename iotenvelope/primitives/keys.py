"""Parsing key material given as text (CLI options, config files, vector files).

Hex is the default spelling; ``b64:`` introduces base64 (either alphabet). Lengths are checked here so
that every caller gets the same clear error.
"""

from __future__ import annotations

import binascii

from . import b64
from ..errors import KeyFormatError, MalformedError, UsageError

AES_KEY_SIZES = (16, 24, 32)
SECRET_SIZES = (16, 32)
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")  # string.hexdigits (the string module is ~0.7 ms to import)


def parse_bytes(text: str | bytes, what: str = "key") -> bytes:
    """Decode hex (default) or ``b64:...`` text into bytes; raises :class:`KeyFormatError`."""
    if isinstance(text, (bytes, bytearray)):
        return bytes(text)
    if not isinstance(text, str):
        raise KeyFormatError.wrong_type(what, text, "text (hex or b64:) or bytes")
    value = text.strip()
    if value.startswith("b64:"):
        try:
            return b64.decode_any(value[4:], what)
        except MalformedError as exc:
            raise KeyFormatError(str(exc)) from None
    if value.startswith(("0x", "0X")):
        value = value[2:]
    if not value:
        raise KeyFormatError(f"{what}: empty")
    if any(c not in _HEX_DIGITS for c in value):
        raise KeyFormatError(
            f"{what}: not hex (use the b64: prefix for base64; a text passphrase goes in --passphrase)")
    if len(value) % 2:
        raise KeyFormatError(f"{what}: odd number of hex digits ({len(value)})")
    return binascii.unhexlify(value)


def check_length(raw: bytes, allowed: tuple[int, ...], what: str) -> bytes:
    """``raw`` if its length is one of ``allowed`` (a tuple of sizes); else a KeyFormatError naming ``what``."""
    KeyFormatError.check_type(raw, (bytes, bytearray, memoryview), what, "bytes")
    UsageError.check_type(allowed, (tuple, list, set, frozenset, range), "allowed", "a tuple of sizes")
    if not all(type(n) is int for n in allowed):
        raise UsageError("allowed must hold integer sizes only")
    if len(raw) not in allowed:
        sizes = ", ".join(str(n) for n in allowed)
        raise KeyFormatError(f"{what}: {len(raw)} bytes; must be {sizes} bytes")
    return raw


def parse_aes_key(text: str | bytes, what: str = "key") -> bytes:
    """An AES key: 16, 24 or 32 bytes."""
    return check_length(parse_bytes(text, what), AES_KEY_SIZES, what)


def parse_secret(text: str | bytes, what: str = "device secret") -> bytes:
    """An envelope-v1 device secret: 16 or 32 bytes (SPEC.md §2.1)."""
    return check_length(parse_bytes(text, what), SECRET_SIZES, what)


def parse_iv(text: str | bytes, what: str = "IV") -> bytes:
    """An IV of any length (profiles decide what they accept)."""
    return parse_bytes(text, what)
