"""Key derivation: OpenSSL's EVP_BytesToKey, PBKDF2-HMAC, and the envelope-v1 HKDF (SPEC.md §2.2)."""

from __future__ import annotations

import functools
import hashlib
import hmac

from ..errors import KeyFormatError, UsageError

EVP_DIGESTS = ("md5", "sha1", "sha256")
PBKDF2_DIGESTS = ("sha1", "sha256", "sha512")
_BYTES = (bytes, bytearray, memoryview)


def _password(password: str | bytes) -> bytes:
    if isinstance(password, str):
        try:
            return password.encode("utf-8")
        except UnicodeEncodeError:
            raise KeyFormatError("passphrase: not valid UTF-8 text (lone surrogate)") from None
    if isinstance(password, _BYTES):
        return bytes(password)
    raise KeyFormatError.wrong_type("password", password, "text or bytes")


def _check_settings(what: str, digest: object, digests: tuple[str, ...], **sizes: object) -> None:
    """The options of a KDF call: a known digest name and integer sizes / iteration counts (UsageError)."""
    UsageError.check_type(digest, str, "digest", "a digest name")
    if digest not in digests:
        raise UsageError(f"{what} digest {digest!r} is not one of {', '.join(digests)}")
    for name, value in sizes.items():
        UsageError.check_int(value, name)


def evp_bytes_to_key(password: str | bytes, salt: bytes | None, key_len: int, iv_len: int,
                     digest: str = "md5", iterations: int = 1) -> tuple[bytes, bytes]:
    """OpenSSL EVP_BytesToKey: D_i = H^count(D_{i-1} ‖ password ‖ salt), concatenated, split key ‖ IV.

    This is what ``openssl enc -md <digest>`` without ``-pbkdf2`` and crypto-js passphrase mode use.
    """
    _check_settings("EVP_BytesToKey", digest, EVP_DIGESTS, key_len=key_len, iv_len=iv_len, iterations=iterations)
    if salt is not None and len(KeyFormatError.check_type(salt, _BYTES, "salt", "8 bytes or None")) != 8:
        raise KeyFormatError(f"EVP_BytesToKey salt is {len(salt)} bytes; OpenSSL uses exactly 8")
    if iterations < 1 or key_len < 0 or iv_len < 0:
        raise UsageError("EVP_BytesToKey needs iterations >= 1 and non-negative sizes")
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
    _check_settings("PBKDF2", digest, PBKDF2_DIGESTS, iterations=iterations, length=length)
    if iterations < 1 or length < 1:
        raise UsageError("PBKDF2 needs iterations >= 1 and length >= 1")
    KeyFormatError.check_type(salt, _BYTES, "salt", "bytes")
    return hashlib.pbkdf2_hmac(digest, _password(password), salt, iterations, length)


def hkdf_sha256(secret: bytes, info: bytes, length: int, salt: bytes = b"") -> bytes:
    """HKDF-SHA-256 (RFC 5869) for outputs of at most 32 bytes (one Expand block)."""
    KeyFormatError.check_type(secret, _BYTES, "secret", "bytes")
    UsageError.check_type(info, (bytes, bytearray), "info", "bytes")
    KeyFormatError.check_type(salt, _BYTES, "salt", "bytes")
    if not 1 <= UsageError.check_int(length, "length") <= 32:
        raise UsageError("hkdf_sha256 length must be 1..32 (one Expand block)")
    prk = hmac.new(salt or bytes(32), secret, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]


ENC_INFO = b"iotenvelope v1 enc"
MAC_INFO = b"iotenvelope v1 mac"
LEAN_ENC_INFO = b"iotenvelope v1 lean enc"
LEAN_MAC_INFO = b"iotenvelope v1 lean mac"
IV_INFO = b"iotenvelope v1 iv"


def envelope_keys(secret: bytes) -> tuple[bytes, bytes]:
    """(K_enc, K_mac) for a 16- or 32-byte device secret (SPEC.md §2.2).

    The pair is remembered for the most recent secrets (see :func:`clear_caches`): a backend opening many
    messages from few devices then pays for HKDF once per device, not once per message.
    """
    if len(KeyFormatError.check_type(secret, (bytes, bytearray), "device secret")) not in (16, 32):
        raise KeyFormatError(f"device secret is {len(secret)} bytes; must be 16 or 32")
    return _envelope_keys(bytes(secret))


@functools.lru_cache(maxsize=256)
def _envelope_keys(secret: bytes) -> tuple[bytes, bytes]:
    return hkdf_sha256(secret, ENC_INFO, len(secret)), hkdf_sha256(secret, MAC_INFO, 32)


def lean_keys(secret: bytes) -> tuple[bytes, bytes]:
    """(K_enc_lean, K_mac_lean) for the lean form (SPEC.md §2.2, §5.3): never equal to the other forms' keys.

    Remembered per secret like :func:`envelope_keys`.
    """
    if len(KeyFormatError.check_type(secret, (bytes, bytearray), "device secret")) not in (16, 32):
        raise KeyFormatError(f"device secret is {len(secret)} bytes; must be 16 or 32")
    return _lean_keys(bytes(secret))


@functools.lru_cache(maxsize=256)
def _lean_keys(secret: bytes) -> tuple[bytes, bytes]:
    return hkdf_sha256(secret, LEAN_ENC_INFO, len(secret)), hkdf_sha256(secret, LEAN_MAC_INFO, 32)


def iv_key(secret: bytes) -> bytes:
    """K_iv (SPEC.md §2.2, §7): the key a device without a random source derives its compact-form IVs under."""
    if len(KeyFormatError.check_type(secret, (bytes, bytearray), "device secret")) not in (16, 32):
        raise KeyFormatError(f"device secret is {len(secret)} bytes; must be 16 or 32")
    return hkdf_sha256(bytes(secret), IV_INFO, 32)


def clear_caches() -> None:
    """Forget every derived key, AES key schedule and HMAC key state this process remembers (e.g. after rotating secrets).

    iotenvelope keeps them for the 256 most recently used secrets and keys, in this process's memory only.
    """
    from . import cipher, keycache, mac  # imported here: they import kdf

    keycache.clear()
    _envelope_keys.cache_clear()
    _lean_keys.cache_clear()
    cipher.clear_cache()
    mac.clear_cache()
