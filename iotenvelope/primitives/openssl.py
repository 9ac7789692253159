"""The OpenSSL ``Salted__`` container: ``"Salted__" ‖ salt(8) ‖ ciphertext``.

Written by ``openssl enc -salt`` and by crypto-js when it is given a string key (passphrase mode).
"""

from __future__ import annotations

import os

from ..errors import MalformedError

MAGIC = b"Salted__"
_BYTES = (bytes, bytearray)


def pack(salt: bytes, ciphertext: bytes) -> bytes:
    MalformedError.check_type(salt, _BYTES, "salt", "bytes")
    MalformedError.check_type(ciphertext, _BYTES, "ciphertext", "bytes")
    if len(salt) != 8:
        raise MalformedError(f"Salted__ salt must be 8 bytes, got {len(salt)}")
    return MAGIC + salt + ciphertext


def unpack(blob: bytes) -> tuple[bytes, bytes]:
    """Split into (salt, ciphertext); raises MalformedError when the magic is absent."""
    MalformedError.check_type(blob, _BYTES, "blob", "bytes")
    if len(blob) < 16 or not blob.startswith(MAGIC):
        raise MalformedError("not an OpenSSL salted blob: it does not start with 'Salted__' and an 8-byte salt"
                             " (was it produced with a raw key instead of a passphrase, or with -nosalt?)")
    return blob[8:16], blob[16:]


def new_salt() -> bytes:
    return os.urandom(8)
