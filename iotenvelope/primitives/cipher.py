"""AES-CBC on pycryptodome, with strict PKCS#7 by default.

This is the only place the library calls AES. Keys are 16, 24 or 32 bytes; IVs exactly 16 bytes.
"""

from __future__ import annotations

import functools
import threading

from Crypto.Cipher import AES

from ..errors import KeyFormatError, MalformedError
from .padding import BLOCK, pkcs7_pad, pkcs7_unpad


def _check(key: bytes, iv: bytes) -> None:
    if not (isinstance(key, (bytes, bytearray)) and isinstance(iv, (bytes, bytearray))):  # one test when all is well
        KeyFormatError.check_type(key, (bytes, bytearray), "AES key")
        KeyFormatError.check_type(iv, (bytes, bytearray), "AES-CBC IV")
    if len(key) not in (16, 24, 32):
        raise KeyFormatError(f"AES key is {len(key)} bytes; must be 16, 24 or 32")
    if len(iv) != BLOCK:
        raise KeyFormatError(f"AES-CBC IV is {len(iv)} bytes; must be 16")


class _ChainedEncryptor:
    """One long-lived pycryptodome CBC object per key, reused for every message under that key.

    A CBC object XORs the next plaintext block with its chaining value (the last ciphertext block it
    produced) before AES. To encrypt a new message under a fresh IV with that same object, the first block is
    fed in as P_1 XOR IV XOR chain: AES then sees P_1 XOR IV, exactly as a new CBC object started at IV would,
    and every later block chains on our own output. The bytes are those of ``AES.new(key, MODE_CBC, iv)``
    (the NIST SP 800-38A and vector tests check this), without building a cipher object and key schedule per
    message, which is most of the cost for short device readings. A lock serialises threads sharing a key.
    """

    __slots__ = ("_encrypt", "_chain", "_lock")

    def __init__(self, key: bytes) -> None:
        self._chain = bytes(BLOCK)
        self._encrypt = AES.new(key, AES.MODE_CBC, self._chain).encrypt
        self._lock = threading.Lock()

    def __call__(self, iv: bytes, data: bytes) -> bytes:
        with self._lock:
            shift = int.from_bytes(iv, "big") ^ int.from_bytes(self._chain, "big")
            first = (int.from_bytes(data[:BLOCK], "big") ^ shift).to_bytes(BLOCK, "big")
            out = self._encrypt(first + data[BLOCK:])
            self._chain = out[-BLOCK:]
        return out


@functools.lru_cache(maxsize=256)
def _block_encryptor(key: bytes) -> _ChainedEncryptor:
    return _ChainedEncryptor(key)


@functools.lru_cache(maxsize=256)
def _block_decryptor(key: bytes):
    return AES.new(key, AES.MODE_ECB).decrypt


def clear_cache() -> None:
    """Forget the cached AES key schedules (:func:`iotenvelope.primitives.kdf.clear_caches` also clears derived keys)."""
    _block_encryptor.cache_clear()
    _block_decryptor.cache_clear()


def encrypt_raw(key: bytes, iv: bytes, data: bytes) -> bytes:
    """CBC over data that is already a multiple of 16 bytes (no padding added)."""
    _check(key, iv)
    MalformedError.check_type(data, (bytes, bytearray), "data")
    if len(data) % BLOCK:
        raise MalformedError(f"CBC input length {len(data)} is not a multiple of 16")
    if not data:
        return b""
    return _block_encryptor(bytes(key))(bytes(iv), bytes(data))


def decrypt_raw(key: bytes, iv: bytes, data: bytes) -> bytes:
    """CBC decryption without unpadding; rejects empty or non-block-multiple ciphertext.

    CBC decryption is P_i = AES-decrypt(C_i) XOR C_(i-1) with C_0 = IV: the blocks do not depend on each
    other, so one pycryptodome ECB pass over the whole ciphertext, with the key schedule cached per key, and one
    XOR against (IV ‖ ciphertext minus its last block) give the same bytes as a CBC object. For the short
    messages devices send that is about twice as fast as building a CBC object per message.
    """
    _check(key, iv)
    MalformedError.check_type(data, (bytes, bytearray), "ciphertext")
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
