"""Envelope v1 fields (SPEC.md §3) and the canonical MAC input (§4); the encodings live in
:mod:`.compact` and :mod:`.jsonform`, sealing and opening in :mod:`.sealing`."""

from __future__ import annotations

import re
import struct
from typing import Callable, Mapping, Union

from ..errors import MalformedError, UnsupportedVersionError, UsageError, untrusted
from ..primitives import b64
from ..records import REQUIRED, Frozen

VERSION = 1
DIRECTIONS = {"up": 1, "down": 2}
TYPES = {"data": 0, "resync-request": 1, "resync-response": 2}
_DIRECTION_NAMES = {v: k for k, v in DIRECTIONS.items()}
_TYPE_NAMES = {v: k for k, v in TYPES.items()}
TAG_LEN = 16
IV_LEN = 16
MAX_DEVICE_LEN = 64
MAX_U32 = 0xFFFFFFFF
MIN_RAW_LEN = 4 + 1 + 8 + IV_LEN + 16 + TAG_LEN
#: SPEC.md §5: the longest envelope text (not counting one trailing newline) and raw envelope
MAX_TEXT = 65536
MAX_RAW = 49152
EPOCH_2000 = 946684800
JSON_MEMBERS = ("v", "dir", "type", "dev", "seq", "ts", "iv", "ct", "tag")

KeySource = Union[bytes, Mapping[str, bytes], Callable[[str], "bytes | None"]]


def envelope_text(text: object, what: str = "envelope") -> str:
    """Envelope *text* as every decoder receives it (SPEC.md §5): bytes must be UTF-8; exactly one trailing LF
    or CRLF is removed and nothing else; longer than :data:`MAX_TEXT` bytes after that is refused before any
    parsing (so no decoder ever sees more than 64 KiB). All MalformedError."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        data = bytes(text)
        if data[-1:] == b"\n":
            data = data[:-2] if data[-2:] == b"\r\n" else data[:-1]
        if len(data) > MAX_TEXT:
            raise MalformedError(f"{what} text is {len(data)} bytes; the limit is {MAX_TEXT} (SPEC.md §5)")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError(f"{what} text is not UTF-8") from None
    if not isinstance(text, str):
        raise MalformedError(f"{what} must be text, got {type(text).__name__}")
    if text[-1:] == "\n":
        text = text[:-2] if text[-2:] == "\r\n" else text[:-1]
    if len(text) > MAX_TEXT or (not text.isascii() and len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT):
        size = len(text.encode("utf-8", "surrogatepass"))
        raise MalformedError(f"{what} text is {size} bytes; the limit is {MAX_TEXT} (SPEC.md §5)")
    return text


_VALID_DEVICES: set = set()
_DEVICE_RE = re.compile(r'[\x21\x23-\x5b\x5d-\x7e]{1,64}')


def check_device(device: object) -> str:
    """Validate a device id (SPEC.md §3) and return it (the ids that passed most recently are remembered)."""
    if device.__class__ is str and device in _VALID_DEVICES:
        return device
    if not isinstance(device, str):
        raise MalformedError(f"device id must be text, got {type(device).__name__}")
    if _DEVICE_RE.fullmatch(device):
        if device.__class__ is str:
            if len(_VALID_DEVICES) >= 4096:
                _VALID_DEVICES.clear()
            _VALID_DEVICES.add(device)
        return device
    if not 1 <= len(device) <= MAX_DEVICE_LEN:
        raise MalformedError(f"device id must be 1..{MAX_DEVICE_LEN} characters, got {len(device)}")
    for ch in device:
        if not ("\x21" <= ch <= "\x7e") or ch in '"\\':
            raise MalformedError(f"device id contains {ch!r}; allowed are printable ASCII except space, '\"' and '\\'")
    return device


def check_direction(direction: object, what: str = "direction") -> str:
    """Validate a direction name ('up' or 'down') and return it."""
    if isinstance(direction, str) and direction in DIRECTIONS:
        return direction
    MalformedError.check_type(direction, str, what, "'up' or 'down'")
    raise MalformedError(f"{what} {untrusted(direction)} is not 'up' or 'down'")


def _check_kind(kind: object) -> str:
    """Validate an envelope type name (SPEC.md §3) and return it."""
    if isinstance(kind, str) and kind in TYPES:
        return kind
    MalformedError.check_type(kind, str, "type", "text")
    raise MalformedError(f"type {untrusted(kind)} is not one of {', '.join(TYPES)}")


def _check_u32(value: object, name: str) -> int:
    if type(value) is not int:  # bool, float and str are all refused
        raise MalformedError(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= value <= MAX_U32:
        raise MalformedError(f"{name} {untrusted(value)} is outside 0..{MAX_U32}")
    return value


class Envelope(Frozen):
    """One envelope's fields, as on the wire. Build with :func:`seal`, parse with :meth:`decode`.

    ``Envelope(direction, type, device, seq, ts, iv, ct, tag, version=1)``; frozen, compared by its fields."""

    FIELDS = (("direction", REQUIRED), ("type", REQUIRED), ("device", REQUIRED), ("seq", REQUIRED),
              ("ts", REQUIRED), ("iv", REQUIRED), ("ct", REQUIRED), ("tag", REQUIRED), ("version", VERSION))
    HIDDEN = frozenset({"iv", "ct", "tag"})
    direction: str
    type: str
    device: str
    seq: int
    ts: int
    iv: bytes
    ct: bytes
    tag: bytes
    version: int

    def __post_init__(self) -> None:
        if self.version != VERSION:
            raise UnsupportedVersionError(f"envelope version {self.version} is not supported (this is v{VERSION})")
        check_direction(self.direction)
        _check_kind(self.type)
        for name in ("iv", "ct", "tag"):
            MalformedError.check_type(getattr(self, name), (bytes, bytearray), name, "bytes")
        check_device(self.device)
        _check_u32(self.seq, "seq")
        _check_u32(self.ts, "ts")
        if len(self.iv) != IV_LEN:
            raise MalformedError(f"iv is {len(self.iv)} bytes; must be {IV_LEN}")
        if not self.ct or len(self.ct) % 16:
            raise MalformedError(f"ciphertext is {len(self.ct)} bytes; must be a positive multiple of 16")
        if len(self.ct) > MAX_RAW:
            raise MalformedError(f"ciphertext is {len(self.ct)} bytes; an envelope is at most {MAX_RAW} (SPEC.md §5)")
        if len(self.tag) != TAG_LEN:
            raise MalformedError(f"tag is {len(self.tag)} bytes; must be {TAG_LEN}")

    # -- bytes -----------------------------------------------------------------------------------
    def header(self) -> bytes:
        dev = self.device.encode("ascii")
        return (bytes((self.version, DIRECTIONS[self.direction], TYPES[self.type], len(dev))) + dev
                + struct.pack(">II", self.seq, self.ts))

    def mac_input(self) -> bytes:
        """The canonical bytes the tag covers (SPEC.md §4)."""
        raw = self.__dict__.get("_mac_input")
        return raw if raw is not None else self.header() + self.iv + self.ct

    def fields(self) -> tuple:
        """``(direction, type, device, seq, ts, iv_at, raw)`` as :func:`compact.fields_of` returns them
        (``raw`` = mac_input ‖ tag, the IV at ``raw[iv_at]``): what opening reads."""
        mac_input = self.mac_input()
        return (self.direction, self.type, self.device, self.seq, self.ts, len(mac_input) - len(self.ct) - IV_LEN,
                mac_input + self.tag)

    @classmethod
    def _trusted(cls, mac_input: bytes, direction: str, kind: str, device: str, seq: int, ts: int, iv: bytes,
                 ct: bytes, tag: bytes) -> "Envelope":
        """Build from fields already validated by a decoder, remembering the exact MAC input bytes."""
        obj = object.__new__(cls)
        obj.__dict__.update(direction=direction, type=kind, device=device, seq=seq, ts=ts, iv=iv, ct=ct, tag=tag,
                            version=VERSION, _mac_input=mac_input)
        return obj

    # -- encodings: thin delegates to :mod:`.compact` and :mod:`.jsonform` ------------------------------------
    def to_bytes(self) -> bytes:
        """Raw compact form: mac_input ‖ tag."""
        return self.mac_input() + self.tag

    def to_compact(self) -> str:
        return _compact.to_text(self)

    def to_dict(self) -> dict:
        return _jsonform.to_dict(self)

    def to_json(self) -> str:
        return _jsonform.to_text(self)

    def encode(self, fmt: str = "compact") -> str:
        if fmt == "compact":
            return _compact.to_text(self)
        if fmt == "json":
            return _jsonform.to_text(self)
        raise _bad_format(fmt, "'compact' or 'json'")

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Envelope":
        return _compact.from_bytes(raw)

    @classmethod
    def from_compact(cls, text: str | bytes) -> "Envelope":
        return _compact.from_text(text)

    @classmethod
    def from_dict(cls, obj: object) -> "Envelope":
        return _jsonform.from_dict(obj)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Envelope":
        return _jsonform.from_text(text)

    @classmethod
    def decode(cls, text: str | bytes, fmt: str | None = None) -> "Envelope":
        """Parse either encoding; ``fmt`` None guesses from the first character ('{' means JSON). One trailing
        LF or CRLF is stripped and the length cap checked first (SPEC.md §5)."""
        if fmt not in (None, "compact", "json"):
            raise _bad_format(fmt, "'compact' or 'json'")
        text = envelope_text(text)
        if fmt is None:
            fmt = "json" if text.lstrip()[:1] == "{" else "compact"
        return _jsonform.parse(text) if fmt == "json" else _compact.parse(text)


def _bad_format(fmt: object, allowed: str = "'compact', 'json', 'lean' or 'lean-raw'") -> UsageError:
    UsageError.check_type(fmt, str, "format", allowed)
    return UsageError(f"format {untrusted(fmt)} is not {allowed}")


from . import compact as _compact, jsonform as _jsonform  # noqa: E402  (both import this module's names)


def decode_fields(text: str | bytes, fmt: str | None = None) -> tuple:
    """What :meth:`Envelope.decode` reads, as the tuple ``(direction, type, device, seq, ts, iv_at, raw)`` of
    :func:`compact.fields_of`; compact text builds no object on the way."""
    if fmt not in (None, "compact", "json"):
        raise _bad_format(fmt, "'compact' or 'json'")
    text = envelope_text(text)
    if fmt == "compact" or (fmt is None and text.lstrip()[:1] != "{"):
        return _compact.fields_of(b64.decode_url(text, "compact envelope"))
    env = _jsonform.parse(text)
    return env.fields()


__all__ = ["VERSION", "DIRECTIONS", "TYPES", "TAG_LEN", "IV_LEN", "MAX_DEVICE_LEN", "MAX_U32", "MIN_RAW_LEN", "MAX_TEXT", "MAX_RAW", "EPOCH_2000", "JSON_MEMBERS", "KeySource", "check_device", "check_direction", "envelope_text", "Envelope", "decode_fields"]
