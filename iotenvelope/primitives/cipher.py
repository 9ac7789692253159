"""AES-CBC with strict PKCS#7 by default, on ``cryptography`` when it is installed, else pycryptodome.

This is the only place the library calls AES (:data:`BACKEND` says which library). Keys are 16, 24 or 32 bytes;
IVs exactly 16 bytes.
"""

from __future__ import annotations

import functools
import os
import threading

from ..errors import KeyFormatError, MalformedError, UsageError
from .padding import BLOCK, pkcs7_pad, pkcs7_unpad


def _check(key: bytes, iv: bytes) -> None:
    if not (isinstance(key, (bytes, bytearray)) and isinstance(iv, (bytes, bytearray))):  # one test when all is well
        KeyFormatError.check_type(key, (bytes, bytearray), "AES key")
        KeyFormatError.check_type(iv, (bytes, bytearray), "AES-CBC IV")
    if len(key) not in (16, 24, 32):
        raise KeyFormatError(f"AES key is {len(key)} bytes; must be 16, 24 or 32")
    if len(iv) != BLOCK:
        raise KeyFormatError(f"AES-CBC IV is {len(iv)} bytes; must be 16")


def _pycryptodome_contexts(key: bytes):
    """Long-lived CBC encrypt and decrypt functions on pycryptodome (the required dependency; imported only when
    it is the backend, since loading it costs more than the rest of the package)."""
    from Crypto.Cipher import AES

    zero = bytes(BLOCK)
    return AES.new(key, AES.MODE_CBC, zero).encrypt, AES.new(key, AES.MODE_CBC, zero).decrypt


def _cryptography_contexts(key: bytes):
    """The same on ``cryptography``'s long-lived OpenSSL contexts (``pip install iotenvelope[fast]``): never
    finalised, so one context serves every message under the key."""
    zero = bytes(BLOCK)
    return (_Cipher(_algorithms.AES(key), _modes.CBC(zero)).encryptor().update,
            _Cipher(_algorithms.AES(key), _modes.CBC(zero)).decryptor().update)


def _select_backend() -> str:
    """``IOTENVELOPE_AES_BACKEND`` = ``cryptography`` | ``pycryptodome`` forces one; by default cryptography when
    it imports, else pycryptodome. Both give the same bytes (every vector file is run on both)."""
    global _Cipher, _algorithms, _modes
    wanted = os.environ.get("IOTENVELOPE_AES_BACKEND", "")
    if wanted not in ("", "cryptography", "pycryptodome"):
        raise UsageError(f"IOTENVELOPE_AES_BACKEND={wanted!r} is not 'cryptography' or 'pycryptodome'")
    if wanted != "pycryptodome":
        try:
            from cryptography.hazmat.primitives.ciphers import Cipher as _Cipher, algorithms as _algorithms, modes as _modes
        except ImportError:
            if wanted == "cryptography":
                raise UsageError("IOTENVELOPE_AES_BACKEND=cryptography but the cryptography package is not installed"
                                 " (pip install 'iotenvelope[fast]')") from None
        else:
            return "cryptography"
    return "pycryptodome"


_Cipher = _algorithms = _modes = None
#: which library runs AES in this process: "cryptography" or "pycryptodome"
BACKEND = _select_backend()
_CONTEXTS = _cryptography_contexts if BACKEND == "cryptography" else _pycryptodome_contexts


class ChainedCbc:
    """One long-lived CBC encryption context and one decryption context per key, reused for every message.

    A CBC context XORs the next plaintext block with its chaining value (the last ciphertext block it
    produced or consumed) before AES. To encrypt a new message under a fresh IV with that same context, the first
    block is fed in as P_1 XOR IV XOR chain: AES then sees P_1 XOR IV, exactly as a new context started at IV
    would, and every later block chains on our own output. Decryption is the mirror image: the context yields
    D(C_1) XOR chain for the first block, and XORing that with chain XOR IV gives D(C_1) XOR IV. The bytes are those
    of a fresh ``AES.new(key, MODE_CBC, iv)`` (the NIST SP 800-38A and vector tests check this, on both backends),
    without building a context and key schedule per message, which is most of the cost for short readings.

    A lock per direction serialises threads sharing a key. Nothing random lives here: a forked child copies the
    contexts together with their chaining values, which stay consistent, and every IV comes from the caller.
    """

    __slots__ = ("_enc", "_dec", "_enc_chain", "_dec_chain", "_enc_lock", "_dec_lock")

    def __init__(self, key: bytes) -> None:
        self._enc, self._dec = _CONTEXTS(key)
        self._enc_chain = self._dec_chain = 0
        self._enc_lock, self._dec_lock = threading.Lock(), threading.Lock()

    def encrypt(self, iv: bytes, data: bytes) -> bytes:
        """``data`` a non-empty multiple of 16 bytes (not checked here)."""
        with self._enc_lock:
            first = (int.from_bytes(data[:BLOCK], "big") ^ int.from_bytes(iv, "big") ^ self._enc_chain)
            out = self._enc(first.to_bytes(BLOCK, "big") + data[BLOCK:])
            self._enc_chain = int.from_bytes(out[-BLOCK:], "big")
        return out

    def decrypt(self, iv: bytes, data: bytes) -> bytes:
        """``data`` a non-empty multiple of 16 bytes (not checked here)."""
        with self._dec_lock:
            out = self._dec(data)
            fix = int.from_bytes(iv, "big") ^ self._dec_chain
            self._dec_chain = int.from_bytes(data[-BLOCK:], "big")
        return (int.from_bytes(out[:BLOCK], "big") ^ fix).to_bytes(BLOCK, "big") + out[BLOCK:]


@functools.lru_cache(maxsize=256)
def cbc(key: bytes) -> ChainedCbc:
    """The cached :class:`ChainedCbc` of ``key`` (bytes, 16/24/32 long: callers check)."""
    return ChainedCbc(key)


def clear_cache() -> None:
    """Forget the cached AES key schedules (:func:`iotenvelope.primitives.kdf.clear_caches` also clears derived keys)."""
    cbc.cache_clear()


def encrypt_raw(key: bytes, iv: bytes, data: bytes) -> bytes:
    """CBC over data that is already a multiple of 16 bytes (no padding added)."""
    _check(key, iv)
    MalformedError.check_type(data, (bytes, bytearray), "data")
    if len(data) % BLOCK:
        raise MalformedError(f"CBC input length {len(data)} is not a multiple of 16")
    if not data:
        return b""
    return cbc(bytes(key)).encrypt(bytes(iv), bytes(data))


def decrypt_raw(key: bytes, iv: bytes, data: bytes) -> bytes:
    """CBC decryption without unpadding; rejects empty or non-block-multiple ciphertext."""
    _check(key, iv)
    MalformedError.check_type(data, (bytes, bytearray), "ciphertext")
    if not data:
        raise MalformedError("ciphertext is empty (CBC with padding always produces at least one block)")
    if len(data) % BLOCK:
        raise MalformedError(f"ciphertext length {len(data)} is not a multiple of 16")
    return cbc(bytes(key)).decrypt(bytes(iv), bytes(data))


def encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """AES-CBC with PKCS#7 padding."""
    return encrypt_raw(key, iv, pkcs7_pad(plaintext))


def decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """AES-CBC decryption with strict PKCS#7 unpadding (PaddingError on any deviation)."""
    return pkcs7_unpad(decrypt_raw(key, iv, ciphertext))
