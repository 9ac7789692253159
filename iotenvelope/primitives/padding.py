"""Block paddings. Unpadding is strict: anything that is not exactly the padding raises PaddingError."""

from __future__ import annotations

import hmac
import os

from ..errors import MalformedError, PaddingError, UsageError

BLOCK = 16
_PAD_TYPES = (bytes, bytearray)  # what ``data + bytes`` works on
_UNPAD_TYPES = (bytes, bytearray, memoryview)
_PADDINGS = [bytes((n,)) * n for n in range(256)]  # the PKCS#7 padding of n bytes, for n in 1..255


def _check_block(block: object) -> None:
    if type(block) is not int:
        raise UsageError.wrong_type("block", block, "an integer")
    if not 1 <= block <= 255:  # the padding byte holds the count
        raise UsageError(f"block size {block} is outside 1..255")


def pkcs7_pad(data: bytes, block: int = BLOCK) -> bytes:
    if not isinstance(data, _PAD_TYPES) or type(block) is not int or not 0 < block < 256:  # one test when all is well
        MalformedError.check_type(data, _PAD_TYPES, "data", "bytes")
        _check_block(block)
    n = block - len(data) % block
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes, block: int = BLOCK) -> bytes:
    """Remove PKCS#7 padding; the last byte p must be 1..block and the last p bytes must all equal p."""
    if not isinstance(data, _UNPAD_TYPES) or type(block) is not int or not 0 < block < 256:
        MalformedError.check_type(data, _UNPAD_TYPES, "data", "bytes")
        _check_block(block)
    if not data or len(data) % block:
        raise PaddingError(f"padded data length {len(data)} is not a positive multiple of {block}")
    p = data[-1]
    if not 1 <= p <= block:
        raise PaddingError(BAD_PADDING.format("PKCS#7"))
    # compare_digest inspects every candidate byte, so the work done does not depend on where a mismatch is.
    if not hmac.compare_digest(data[-p:], _PADDINGS[p]):
        raise PaddingError(BAD_PADDING.format("PKCS#7"))
    return data[:-p]


# -- the other paddings crypto-js ships (CryptoJS.pad.*) ---------------------------------------------------
# Padding always makes whole blocks; unpadding is strict (PaddingError on anything that padder could not have
# written). crypto-js's own unpadders check nothing: see cryptojs_lax_unpad for what they return instead.

PADDINGS = ("pkcs7", "zero", "ansix923", "iso97971", "iso10126", "none")
#: The one message of every unpadding failure. It never says which byte or length was wrong: the decrypted bytes
#: are secret, and in the unauthenticated legacy profiles a message that named the last byte would hand an attacker
#: one plaintext byte per query (issue 10 F10).
BAD_PADDING = "bad padding (invalid {} padding after decryption)"

CRYPTOJS_NAMES = {"pkcs7": "Pkcs7", "zero": "ZeroPadding", "ansix923": "AnsiX923", "iso97971": "Iso97971",
                  "iso10126": "Iso10126", "none": "NoPadding"}


def _check_name(name: str) -> None:
    UsageError.check_type(name, str, "padding name", "text")
    if name not in PADDINGS:
        raise UsageError(f"unknown padding {name!r}; known: {', '.join(PADDINGS)}")


def _check(data: object, name: object, block: object, types: tuple[type, ...] = _UNPAD_TYPES) -> None:
    MalformedError.check_type(data, types, "data", "bytes")
    _check_name(name)
    _check_block(block)


def _blocks(data: bytes, block: int) -> None:
    if not data or len(data) % block:
        raise PaddingError(f"padded data length {len(data)} is not a positive multiple of {block}")


def pad(data: bytes, name: str = "pkcs7", block: int = BLOCK, filler: bytes | None = None) -> bytes:
    """Pad as crypto-js's ``CryptoJS.pad.<name>`` does.

    ``zero`` adds nothing to data that is already a whole number of blocks (so an empty message stays empty),
    ``none`` requires whole blocks, ``iso10126`` takes its random filler from ``filler`` (default os.urandom).
    """
    _check(data, name, block, _PAD_TYPES)
    if filler is not None:
        MalformedError.check_type(filler, _PAD_TYPES, "filler", "bytes")
    n = block - len(data) % block
    if name == "pkcs7":
        return pkcs7_pad(data, block)
    if name == "zero":
        return data + bytes(n % block)
    if name == "none":
        if len(data) % block:
            raise PaddingError(f"NoPadding needs a multiple of {block} bytes, got {len(data)}")
        return data
    if name == "ansix923":
        return data + bytes(n - 1) + bytes([n])
    if name == "iso97971":  # 0x80 then zeros to the block boundary (ISO/IEC 9797-1 method 2)
        return data + b"\x80" + bytes((block - (len(data) + 1) % block) % block)
    fill = os.urandom(n - 1) if filler is None else filler
    if len(fill) != n - 1:
        raise PaddingError(f"Iso10126 filler must be {n - 1} bytes here, got {len(fill)}")
    return data + fill + bytes([n])


def unpad(data: bytes, name: str = "pkcs7", block: int = BLOCK) -> bytes:
    """Strictly remove ``name`` padding (PaddingError on any deviation)."""
    _check(data, name, block)
    if isinstance(data, memoryview):
        data = bytes(data)
    if name == "pkcs7":
        return pkcs7_unpad(data, block)
    if name == "none":
        if len(data) % block:
            raise PaddingError(f"data length {len(data)} is not a multiple of {block}")
        return data
    _blocks(data, block)
    if name == "zero":
        # crypto-js strips every trailing NUL, so a message that ends in NUL bytes does not round-trip.
        stripped = data.rstrip(b"\x00")
        if len(data) - len(stripped) >= block:
            raise PaddingError(BAD_PADDING.format("zero"))
        return stripped
    if name == "iso97971":
        stripped = data[-block:].rstrip(b"\x00")
        if not stripped or stripped[-1] != 0x80:
            raise PaddingError(BAD_PADDING.format("ISO/IEC 9797-1"))
        return data[:len(data) - block + len(stripped) - 1]
    p = data[-1]
    if not 1 <= p <= block:
        raise PaddingError(BAD_PADDING.format(CRYPTOJS_NAMES[name]))
    if name == "ansix923" and any(data[-p:-1]):
        raise PaddingError(BAD_PADDING.format("AnsiX923"))
    return data[:-p]  # iso10126: the filler is random, only the length byte can be checked


def cryptojs_lax_unpad(data: bytes, name: str = "pkcs7") -> bytes:
    """What crypto-js's non-validating ``unpad`` leaves (for diagnostics, never for decrypting).

    Pkcs7/AnsiX923/Iso10126 drop as many bytes as the last byte says (nothing left if that is more than there
    is); ZeroPadding drops all trailing NULs (crypto-js 4.x leaves all-NUL data untouched; 3.3.0 loops forever
    on it); Iso97971 does the same and then drops one more byte.
    """
    _check(data, name, BLOCK, (bytes, bytearray))
    if not data or name == "none":
        return data
    stripped = data.rstrip(b"\x00") or data
    if name == "zero":
        return stripped
    if name == "iso97971":
        return stripped[:-1]
    return data[:max(0, len(data) - data[-1])]
