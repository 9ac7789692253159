"""AES-CBC on pycryptodome, with strict PKCS#7 by default.

This is the only place the library calls AES. Keys are 16, 24 or 32 bytes; IVs exactly 16 bytes.
"""

from __future__ import annotations

import functools

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


@functools.lru_cache(maxsize=256)
def _block_decryptor(key: bytes):
    return AES.new(key, AES.MODE_ECB).decrypt


def decrypt_raw(key: bytes, iv: bytes, data: bytes) -> bytes:
    """CBC decryption without unpadding; rejects empty or non-block-multiple ciphertext.

    CBC decryption is P_i = AES-decrypt(C_i) XOR C_(i-1) with C_0 = IV: the blocks do not depend on each
    other, so one pycryptodome ECB pass over the whole ciphertext, with the key schedule cached per key, and one
    XOR against (IV ‖ ciphertext minus its last block) give the same bytes as a CBC object. For the short
    messages devices send that is about twice as fast as building a CBC object per message.
    """
    _check(key, iv)
    if not data:
        raise MalformedError("ciphertext is empty (CBC with padding always produces at least one block)")
    if len(data) % BLOCK:
        raise MalformedError(f"ciphertext length {len(data)} is not a multiple of 16")
    decrypted = _block_decryptor(bytes(key))(data)
    chain = iv + data[:-BLOCK]
    return (int.from_bytes(decrypted, "big") ^ int.from_bytes(chain, "big")).to_bytes(len(data), "big")


def encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """AES-CBC with PKCS#7 padding."""
    return encrypt_raw(key, iv, pkcs7_pad(plaintext))


def decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """AES-CBC decryption with strict PKCS#7 unpadding (PaddingError on any deviation)."""
    return pkcs7_unpad(decrypt_raw(key, iv, ciphertext))
