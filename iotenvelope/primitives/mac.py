"""The envelope tag: HMAC-SHA-256(K_mac, mac_input) truncated to 16 bytes (SPEC.md §4).

HMAC is H((K ^ opad) ‖ H((K ^ ipad) ‖ m)) (RFC 2104). Both padded-key blocks are the same for every message
under one K_mac, so the SHA-256 states after absorbing them are kept per key (hashlib objects, copied per
message). That saves the two key blocks ``hmac.digest`` hashes on every call, about 60 % of the cost for a
short reading. ``tests/test_primitives.py`` checks the result against ``hmac.digest`` and RFC 4231.
"""

from __future__ import annotations

import functools
import hashlib

TAG_LEN = 16
_BLOCK = 64  # SHA-256's input block


def key_states(key: bytes) -> tuple:
    """The SHA-256 states after absorbing (K ^ ipad) and (K ^ opad): what every HMAC under ``key`` starts from."""
    if len(key) > _BLOCK:  # RFC 2104: longer keys are hashed first (K_mac is 32 bytes; kept for completeness)
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key)))


_states = functools.lru_cache(maxsize=256)(key_states)


def hmac_from_states(states: tuple, data: bytes) -> bytes:
    """HMAC-SHA-256 of ``data`` from :func:`key_states` of the key (32 bytes)."""
    inner_start, outer_start = states
    inner = inner_start.copy()
    inner.update(data)
    outer = outer_start.copy()
    outer.update(inner.digest())
    return outer.digest()


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """Full 32-byte HMAC-SHA-256 (same bytes as ``hmac.digest(key, data, "sha256")``)."""
    return hmac_from_states(_states(bytes(key)), data)


def tag(k_mac: bytes, mac_input: bytes) -> bytes:
    """The 16-byte envelope tag."""
    return hmac_sha256(k_mac, mac_input)[:TAG_LEN]


def clear_cache() -> None:
    _states.cache_clear()
