"""Block paddings. Unpadding is strict: anything that is not exactly the padding raises PaddingError."""

from __future__ import annotations

from .errors import PaddingError

BLOCK = 16


def pkcs7_pad(data: bytes, block: int = BLOCK) -> bytes:
    n = block - len(data) % block
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes, block: int = BLOCK) -> bytes:
    """Remove PKCS#7 padding; the last byte p must be 1..block and the last p bytes must all equal p."""
    if not data or len(data) % block:
        raise PaddingError(f"padded data length {len(data)} is not a positive multiple of {block}")
    p = data[-1]
    if not 1 <= p <= block:
        raise PaddingError(f"invalid PKCS#7 padding: last byte {p:#04x} is not in 1..{block}")
    # Inspect every candidate byte so the work done does not depend on where a mismatch is.
    bad = 0
    for b in data[-p:]:
        bad |= b ^ p
    if bad:
        raise PaddingError(f"invalid PKCS#7 padding: the last {p} bytes are not all {p:#04x}")
    return data[:-p]
