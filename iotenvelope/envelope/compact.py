"""The compact form (SPEC.md §5.1): ``b64u(mac_input ‖ tag)``, and its raw binary bytes.

Decoding costs time linear in the input: the text cap (:data:`fields.MAX_TEXT`) and the raw cap
(:data:`fields.MAX_RAW`) are checked before any base64 decoding, and every later step looks at each byte once.
"""

from __future__ import annotations

import struct

from ..errors import MalformedError, UnsupportedVersionError
from ..primitives import b64
from .fields import (_DIRECTION_NAMES, _TYPE_NAMES, IV_LEN, MAX_DEVICE_LEN, MAX_RAW, MIN_RAW_LEN, TAG_LEN, VERSION,
                     Envelope, check_device, envelope_text)


def to_bytes(env: Envelope) -> bytes:
    """Raw compact form: ``mac_input ‖ tag``."""
    return env.mac_input() + env.tag


def to_text(env: Envelope) -> str:
    return b64.encode_url(env.mac_input() + env.tag)


def from_bytes(raw: bytes) -> Envelope:
    """Parse a raw (binary) envelope; binary input is never newline-stripped (SPEC.md §5)."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise MalformedError.wrong_type("raw envelope", raw, "bytes")
    raw = bytes(raw)
    if len(raw) > MAX_RAW:
        raise MalformedError(f"envelope is {len(raw)} bytes; the limit is {MAX_RAW} (SPEC.md §5)")
    direction, kind, device, seq, ts, at, raw = fields_of(raw)
    return Envelope._trusted(raw[:-TAG_LEN], direction, kind, device, seq, ts, raw[at:at + IV_LEN],
                             raw[at + IV_LEN:-TAG_LEN], raw[-TAG_LEN:])


_U32X2 = struct.Struct(">II")
_DEVICES: dict = {}  # device id bytes already validated -> the id as text (bounded)
#: after the device id: seq and ts (8), the IV, at least one ct block, the tag; any longer one is whole blocks more
_MIN_REST = 8 + IV_LEN + 16 + TAG_LEN
_REST_MOD = _MIN_REST % 16
#: version ‖ direction ‖ type of every valid v1 header -> (direction, type)
_HEADER_NAMES = {bytes((VERSION, d, k)): (dn, kn) for d, dn in _DIRECTION_NAMES.items() for k, kn in _TYPE_NAMES.items()}


def fields_of(raw: bytes) -> tuple:
    """The fields of a raw compact envelope: ``(direction, type, device, seq, ts, iv_at, raw)``, where the IV
    starts at ``raw[iv_at]``, ``raw[iv_at + 16:-16]`` is ct and ``raw[-16:]`` the tag (``raw[:-16]`` is
    mac_input); or the MalformedError / UnsupportedVersionError of its first defect. No object is built."""
    n = len(raw)
    names = _HEADER_NAMES.get(raw[:3]) if MIN_RAW_LEN <= n <= MAX_RAW else None
    if names is not None:
        end = 4 + raw[3]  # version, direction, type, L, then L bytes of device id
        rest = n - end  # seq, ts, IV, one or more ct blocks, tag
        if 5 <= end <= 4 + MAX_DEVICE_LEN and rest >= _MIN_REST and rest % 16 == _REST_MOD:
            dev = raw[4:end]
            device = _DEVICES.get(dev)
            if device is None:
                device = check_device(dev.decode("latin-1"))
                if len(_DEVICES) >= 4096:
                    _DEVICES.clear()
                _DEVICES[bytes(dev)] = device
            seq, ts = _U32X2.unpack_from(raw, end)
            return names[0], names[1], device, seq, ts, end + 8, raw
    _refuse(raw)
    raise AssertionError("unreachable")  # pragma: no cover


def _refuse(raw: bytes) -> None:
    """Raise the error of the first defect of ``raw`` (only for envelopes that are refused)."""
    if len(raw) > MAX_RAW:
        raise MalformedError(f"envelope is {len(raw)} bytes; the limit is {MAX_RAW} (SPEC.md §5)")
    if len(raw) < 1:
        raise MalformedError("envelope is empty")
    if raw[0] != VERSION:
        raise UnsupportedVersionError(f"envelope version {raw[0]} is not supported (this is v{VERSION})")
    if len(raw) < MIN_RAW_LEN:
        raise MalformedError(f"envelope is {len(raw)} bytes; the smallest valid one is {MIN_RAW_LEN}")
    if raw[1] not in _DIRECTION_NAMES:
        raise MalformedError(f"direction byte {raw[1]:#04x} is not 0x01 (up) or 0x02 (down)")
    if raw[2] not in _TYPE_NAMES:
        raise MalformedError(f"type byte {raw[2]:#04x} is not 0x00, 0x01 or 0x02")
    n = raw[3]
    if not 1 <= n <= MAX_DEVICE_LEN:
        raise MalformedError(f"device id length {n} is outside 1..{MAX_DEVICE_LEN}")
    body = len(raw) - (4 + n + 8 + IV_LEN + TAG_LEN)
    if body < 16:
        raise MalformedError(f"envelope is too short for a {n}-byte device id and one ciphertext block")
    raise MalformedError(f"ciphertext length {body} is not a multiple of 16 (truncated or extended?)")


def parse(text: str) -> Envelope:
    """Decode compact text that :func:`fields.envelope_text` already prepared (newline stripped, cap checked)."""
    return from_bytes(b64.decode_url(text, "compact envelope"))


def from_text(text: str | bytes) -> Envelope:
    """Decode compact envelope text (one trailing LF or CRLF is stripped first, SPEC.md §5)."""
    return parse(envelope_text(text))


__all__ = ["to_bytes", "to_text", "from_bytes", "from_text", "fields_of"]
