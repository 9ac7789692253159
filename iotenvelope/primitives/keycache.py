"""One cache entry per device secret: its derived keys, AES-CBC contexts and HMAC key states (SPEC.md §2.2).

A backend opening many messages from few devices then derives keys, schedules AES and hashes the padded HMAC
key once per device, not once per message; every seal and open makes one dictionary lookup. The entries of
the 256 most recently used secrets are kept, in this process's memory only
(:func:`iotenvelope.primitives.kdf.clear_caches` forgets them).
"""

from __future__ import annotations

import functools

from ..errors import KeyFormatError
from . import cipher, kdf, mac


class DeviceKeys:
    """What a secret's messages need: ``enc``/``mac`` keys, ``cbc`` (a :class:`cipher.ChainedCbc` on ``enc``) and
    :meth:`hmac` from precomputed inner/outer SHA-256 states (RFC 2104). Never shown in reprs."""

    __slots__ = ("enc", "mac", "cbc", "hmac")

    def __init__(self, enc: bytes, mac_key: bytes) -> None:
        self.enc, self.mac = enc, mac_key
        self.cbc = cipher.ChainedCbc(enc)
        #: ``hmac(data)``: HMAC-SHA-256(mac, data), all 32 bytes (a partial: one Python frame per message, not two)
        self.hmac = functools.partial(mac.hmac_from_states, mac.key_states(mac_key))

    def __repr__(self) -> str:
        return f"<DeviceKeys AES-{len(self.enc) * 8}>"


def _check(secret: object) -> bytes:
    if type(secret) is not bytes:
        secret = bytes(KeyFormatError.check_type(secret, (bytes, bytearray), "device secret"))
    if len(secret) not in (16, 32):
        raise KeyFormatError(f"device secret is {len(secret)} bytes; must be 16 or 32")
    return secret


def envelope(secret: bytes) -> DeviceKeys:
    """The compact/JSON forms' entry of ``secret`` (K_enc, K_mac)."""
    try:
        return _envelope(secret)
    except TypeError:  # unhashable (bytearray) or not bytes at all
        return _envelope(_check(secret))


def lean(secret: bytes) -> DeviceKeys:
    """The lean form's entry of ``secret`` (K_enc_lean, K_mac_lean)."""
    try:
        return _lean(secret)
    except TypeError:
        return _lean(_check(secret))


@functools.lru_cache(maxsize=256)
def _envelope(secret: bytes) -> DeviceKeys:
    return DeviceKeys(*kdf.envelope_keys(_check(secret)))


@functools.lru_cache(maxsize=256)
def _lean(secret: bytes) -> DeviceKeys:
    return DeviceKeys(*kdf.lean_keys(_check(secret)))


#: :func:`envelope` for a secret already known to be ``bytes``: the cache itself, without a wrapper's frame
#: (the hot path of opening; a wrong length is still refused, by ``_check`` on a miss)
envelope_of_bytes = _envelope


def clear() -> None:
    _envelope.cache_clear()
    _lean.cache_clear()
