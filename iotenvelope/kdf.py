"""Key derivation: OpenSSL's EVP_BytesToKey, PBKDF2-HMAC, and the envelope-v1 HKDF (SPEC.md §2.2)."""

from __future__ import annotations

import functools
import hashlib
import hmac

from .errors import KeyFormatError

EVP_DIGESTS = ("md5", "sha1", "sha256")
PBKDF2_DIGESTS = ("sha1", "sha256", "sha512")


def _password(password: str | bytes) -> bytes:
    if isinstance(password, str):
        try:
            return password.encode("utf-8")
        except UnicodeEncodeError:
            raise KeyFormatError("passphrase: not valid UTF-8 text (lone surrogate)") from None
    if isinstance(password, (bytes, bytearray)):
        return bytes(password)
    raise KeyFormatError(f"passphrase: expected text or bytes, got {type(password).__name__}")


def evp_bytes_to_key(password: str | bytes, salt: bytes | None, key_len: int, iv_len: int,
                     digest: str = "md5", iterations: int = 1) -> tuple[bytes, bytes]:
    """OpenSSL EVP_BytesToKey: D_i = H^count(D_{i-1} ‖ password ‖ salt), concatenated, split key ‖ IV.

    This is what ``openssl enc -md <digest>`` without ``-pbkdf2`` and crypto-js passphrase mode use.
    """
    if digest not in EVP_DIGESTS:
        raise KeyFormatError(f"EVP_BytesToKey digest {digest!r} is not one of {', '.join(EVP_DIGESTS)}")
    if salt is not None and len(salt) != 8:
        raise KeyFormatError(f"EVP_BytesToKey salt is {len(salt)} bytes; OpenSSL uses exactly 8")
    if iterations < 1 or key_len < 0 or iv_len < 0:
        raise KeyFormatError("EVP_BytesToKey needs iterations >= 1 and non-negative sizes")
    pw = _password(password)
    material, block = b"", b""
    while len(material) < key_len + iv_len:
        block = hashlib.new(digest, block + pw + (salt or b"")).digest()
        for _ in range(iterations - 1):
            block = hashlib.new(digest, block).digest()
        material += block
    return material[:key_len], material[key_len:key_len + iv_len]


def pbkdf2(password: str | bytes, salt: bytes, iterations: int, length: int, digest: str = "sha256") -> bytes:
    """PBKDF2-HMAC (RFC 8018), as ``openssl enc -pbkdf2 -iter N -md <digest>`` and crypto-js PBKDF2."""
    if digest not in PBKDF2_DIGESTS:
        raise KeyFormatError(f"PBKDF2 digest {digest!r} is not one of {', '.join(PBKDF2_DIGESTS)}")
    if iterations < 1 or length < 1:
        raise KeyFormatError("PBKDF2 needs iterations >= 1 and length >= 1")
    return hashlib.pbkdf2_hmac(digest, _password(password), salt, iterations, length)


def hkdf_sha256(secret: bytes, info: bytes, length: int, salt: bytes = b"") -> bytes:
    """HKDF-SHA-256 (RFC 5869) for outputs of at most 32 bytes (one Expand block)."""
    if not 1 <= length <= 32:
        raise KeyFormatError("hkdf_sha256 here produces 1..32 bytes")
    prk = hmac.new(salt or bytes(32), secret, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]


ENC_INFO = b"iotenvelope v1 enc"
MAC_INFO = b"iotenvelope v1 mac"


def envelope_keys(secret: bytes) -> tuple[bytes, bytes]:
    """(K_enc, K_mac) for a 16- or 32-byte device secret (SPEC.md §2.2).

    The pair is remembered for the most recent secrets (see :func:`clear_caches`): a backend opening many
    messages from few devices then pays for HKDF once per device, not once per message.
    """
    if not isinstance(secret, (bytes, bytearray)):
        raise KeyFormatError(f"device secret must be bytes, got {type(secret).__name__}")
    if len(secret) not in (16, 32):
        raise KeyFormatError(f"device secret is {len(secret)} bytes; must be 16 or 32")
    return _envelope_keys(bytes(secret))


@functools.lru_cache(maxsize=256)
def _envelope_keys(secret: bytes) -> tuple[bytes, bytes]:
    return hkdf_sha256(secret, ENC_INFO, len(secret)), hkdf_sha256(secret, MAC_INFO, 32)


def clear_caches() -> None:
    """Forget every derived key and AES key schedule this process remembers (e.g. after rotating secrets).

    iotenvelope keeps them for the 256 most recently used secrets and keys, in this process's memory only.
    """
    from . import cipher  # imported here: cipher does not depend on kdf

    _envelope_keys.cache_clear()
    cipher.clear_cache()
