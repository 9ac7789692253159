"""AES-CBC on pycryptodome, with strict PKCS#7 by default.

This is the only place the library calls AES. Keys are 16, 24 or 32 bytes; IVs exactly 16 bytes.
"""

from __future__ import annotations

from Crypto.Cipher import AES

from .errors import KeyFormatError, MalformedError
from .padding import BLOCK, pkcs7_pad, pkcs7_unpad


def _check(key: bytes, iv: bytes) -> None:
    if len(key) not in (16, 24, 32):
        raise KeyFormatError(f"AES key is {len(key)} bytes; must be 16, 24 or 32")
    if len(iv) != BLOCK:
        raise KeyFormatError(f"AES-CBC IV is {len(iv)} bytes; must be 16")


def encrypt_raw(key: bytes, iv: bytes, data: bytes) -> bytes:
    """CBC over data that is already a multiple of 16 bytes (no padding added)."""
    _check(key, iv)
    if len(data) % BLOCK:
        raise MalformedError(f"CBC input length {len(data)} is not a multiple of 16")
    return AES.new(key, AES.MODE_CBC, iv).encrypt(data)


def decrypt_raw(key: bytes, iv: bytes, data: bytes) -> bytes:
    """CBC decryption without unpadding; rejects empty or non-block-multiple ciphertext."""
    _check(key, iv)
    if not data:
        raise MalformedError("ciphertext is empty (CBC with padding always produces at least one block)")
    if len(data) % BLOCK:
        raise MalformedError(f"ciphertext length {len(data)} is not a multiple of 16")
    return AES.new(key, AES.MODE_CBC, iv).decrypt(data)


def encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """AES-CBC with PKCS#7 padding."""
    return encrypt_raw(key, iv, pkcs7_pad(plaintext))


def decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """AES-CBC decryption with strict PKCS#7 unpadding (PaddingError on any deviation)."""
    return pkcs7_unpad(decrypt_raw(key, iv, ciphertext))
