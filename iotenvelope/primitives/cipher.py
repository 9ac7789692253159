"""AES-CBC with strict PKCS#7 by default, on ``cryptography`` when it is installed, else pycryptodome.

This is the only place the library calls AES (:data:`BACKEND` says which library). Keys are 16, 24 or 32 bytes;
IVs exactly 16 bytes.
"""

from __future__ import annotations

import functools
import hmac
import os
from _thread import allocate_lock  # threading.Lock itself; importing threading would cost a one-shot call ~1 ms

from ..errors import KeyFormatError, MalformedError, UsageError
from .padding import _PADDINGS, BLOCK, pkcs7_pad, pkcs7_unpad


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
#: cryptography's CipherContext.update never releases the GIL (pycryptodome's cffi calls do)
_HOLDS_GIL = BACKEND == "cryptography"
_compare = hmac.compare_digest


class ChainedCbc:
    """Long-lived CBC contexts per key, reused for every message (building a context and key schedule per
    message is most of the cost of a short reading).

    A CBC context keeps a chaining value X (the last ciphertext block it produced or consumed) and carries it
    into the next call. Each method makes the result independent of X:

    * :meth:`encrypt_fresh` (sealing) feeds ``R ‖ P`` with R 16 fresh random bytes. The first output block
      ``E(R ⊕ X)`` is the message's IV: X and R are independent and AES is a permutation, so it is as uniform
      and unpredictable as R itself (it is the "forward cipher applied to a nonce" of NIST SP 800-38A appendix C).
      Every later block is ``E(P_i ⊕ C_{i-1})`` with ``C_0`` that IV: exactly CBC under that IV. No chaining
      value is tracked, and a forked child draws its own R.
    * :meth:`decrypt_joined` (and :meth:`decrypt`) feeds ``IV ‖ C`` and drops the first output block (``D(IV) ⊕ X``): every later block is
      ``D(C_i) ⊕ C_{i-1}`` with ``C_0 = IV``.
    * :meth:`encrypt` (a given IV: test vectors, the lean form's derived IVs, legacy profiles) uses a third
      context whose chaining value it tracks: the first block goes in as ``P_1 ⊕ IV ⊕ X``, so AES sees
      ``P_1 ⊕ IV`` as a context started at IV would.

    The bytes are those of a fresh ``AES.new(key, MODE_CBC, iv)`` (the NIST SP 800-38A and vector tests check
    this, on both backends).

    Threads: pycryptodome releases the GIL inside AES, so a lock per key serialises threads sharing the key.
    cryptography's ``update`` holds the GIL for the whole call, so with the GIL no two calls interleave and no
    lock is taken; on a free-threaded Python a second thread entering a busy context gets RuntimeError ("Already
    borrowed") from PyO3 instead, and then uses a context of its own for that one message.
    """

    __slots__ = ("_key", "_fresh", "_dec", "_enc", "_enc_chain", "_lock", "_enc_lock")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._fresh, self._dec = _CONTEXTS(key)
        self._enc = None  # made on first use: only callers with their own IVs need it
        self._enc_chain = 0
        self._lock, self._enc_lock = allocate_lock(), allocate_lock()

    if _HOLDS_GIL:
        def encrypt_fresh(self, data: bytes) -> bytes:
            """``IV ‖ CBC(IV, data)`` under a new unpredictable IV; ``data`` a non-empty multiple of 16 bytes (not
            checked here)."""
            joined = os.urandom(BLOCK) + data
            try:
                return self._fresh(joined)
            except RuntimeError:  # free-threaded Python: another thread is inside this context
                return _CONTEXTS(self._key)[0](joined)

        def decrypt_joined(self, iv_ct: bytes) -> bytes:
            """The plaintext of ``IV ‖ ct``: ct a non-empty multiple of 16 bytes (not checked here)."""
            return self._decrypt_all(iv_ct)[BLOCK:]

        def _decrypt_all(self, iv_ct: bytes) -> bytes:
            """The context's output for ``IV ‖ ct``: a first block to drop, then the plaintext."""
            try:
                return self._dec(iv_ct)
            except RuntimeError:  # free-threaded Python: another thread is inside this context
                return _CONTEXTS(self._key)[1](iv_ct)
    else:  # pycryptodome: writing into a buffer of ours (``output=``) saves a fifth of each call
        def encrypt_fresh(self, data: bytes) -> bytearray:
            """``IV ‖ CBC(IV, data)`` under a new unpredictable IV; ``data`` a non-empty multiple of 16 bytes (not
            checked here)."""
            joined = os.urandom(BLOCK) + data
            out = bytearray(len(joined))
            with self._lock:
                self._fresh(joined, output=out)
            return out

        def decrypt_joined(self, iv_ct: bytes) -> bytes:
            """The plaintext of ``IV ‖ ct``: ct a non-empty multiple of 16 bytes (not checked here)."""
            return self._decrypt_all(iv_ct)[BLOCK:]

        def _decrypt_all(self, iv_ct: bytes) -> bytes:
            """The context's output for ``IV ‖ ct``: a first block to drop, then the plaintext."""
            out = bytearray(len(iv_ct))
            with self._lock:
                self._dec(iv_ct, output=out)
            return bytes(out)  # one plain copy: cheaper than bytes(memoryview(out)[16:]) on CPython 3.11

    def decrypt_unpad(self, iv_ct: bytes) -> bytes:
        """The plaintext of ``IV ‖ ct`` with its PKCS#7 padding checked in constant time (no Python loop: one
        ``compare_digest`` of the last p bytes) and removed, sliced out of the context's output in one copy;
        PaddingError otherwise (:func:`pkcs7_unpad` words it). ct a non-empty multiple of 16 bytes (not checked)."""
        out = self._decrypt_all(iv_ct)
        p = out[-1]
        if not (0 < p <= BLOCK and _compare(out[-p:], _PADDINGS[p])):
            pkcs7_unpad(out[BLOCK:])  # raises PaddingError
        return out[BLOCK:-p]

    def decrypt(self, iv: bytes, data: bytes) -> bytes:
        """``data`` a non-empty multiple of 16 bytes (not checked here)."""
        return self.decrypt_joined(iv + data)

    def encrypt(self, iv: bytes, data: bytes) -> bytes:
        """CBC under the caller's ``iv``; ``data`` a non-empty multiple of 16 bytes (not checked here)."""
        with self._enc_lock:
            if self._enc is None:
                self._enc = _CONTEXTS(self._key)[0]
            first = (int.from_bytes(data[:BLOCK], "big") ^ int.from_bytes(iv, "big") ^ self._enc_chain)
            out = self._enc(first.to_bytes(BLOCK, "big") + data[BLOCK:])
            self._enc_chain = int.from_bytes(out[-BLOCK:], "big")
        return out

    def __repr__(self) -> str:
        return f"<ChainedCbc AES-{len(self._key) * 8}>"


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
