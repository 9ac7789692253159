"""Envelope v1 fields (SPEC.md §3) and the canonical MAC input (§4); the encodings live in
:mod:`.compact` and :mod:`.jsonform`, sealing and opening in :mod:`.sealing`."""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from typing import Callable, Mapping, Union

from ..primitives import b64
from ..errors import (MalformedError, UnsupportedVersionError,
                     UsageError)

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
EPOCH_2000 = 946684800
JSON_MEMBERS = ("v", "dir", "type", "dev", "seq", "ts", "iv", "ct", "tag")

KeySource = Union[bytes, Mapping[str, bytes], Callable[[str], "bytes | None"]]


_DEVICE_RE = re.compile(r'[\x21\x23-\x5b\x5d-\x7e]{1,64}')


def check_device(device: object) -> str:
    """Validate a device id (SPEC.md §3) and return it."""
    if not isinstance(device, str):
        raise MalformedError(f"device id must be text, got {type(device).__name__}")
    if _DEVICE_RE.fullmatch(device):
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
    raise MalformedError(f"{what} {direction!r} is not 'up' or 'down'")


def _check_kind(kind: object) -> str:
    """Validate an envelope type name (SPEC.md §3) and return it."""
    if isinstance(kind, str) and kind in TYPES:
        return kind
    MalformedError.check_type(kind, str, "type", "text")
    raise MalformedError(f"type {kind!r} is not one of {', '.join(TYPES)}")


def _check_u32(value: object, name: str) -> int:
    if type(value) is not int:  # bool, float and str are all refused
        raise MalformedError(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= value <= MAX_U32:
        raise MalformedError(f"{name} {value} is outside 0..{MAX_U32}")
    return value


@dataclass(frozen=True)
class Envelope:
    """One envelope's fields, as on the wire. Build with :func:`seal`, parse with :meth:`decode`."""

    direction: str
    type: str
    device: str
    seq: int
    ts: int
    iv: bytes = field(repr=False)
    ct: bytes = field(repr=False)
    tag: bytes = field(repr=False)
    version: int = VERSION

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

    @classmethod
    def _trusted(cls, mac_input: bytes, direction: str, kind: str, device: str, seq: int, ts: int, iv: bytes,
                 ct: bytes, tag: bytes) -> "Envelope":
        """Build from fields already validated by a decoder, remembering the exact MAC input bytes."""
        obj = object.__new__(cls)
        obj.__dict__.update(direction=direction, type=kind, device=device, seq=seq, ts=ts, iv=iv, ct=ct, tag=tag,
                            version=VERSION, _mac_input=mac_input)
        return obj

    def to_bytes(self) -> bytes:
        """Raw compact form: mac_input ‖ tag."""
        return self.mac_input() + self.tag

    def to_compact(self) -> str:
        return b64.encode_url(self.to_bytes())

    def to_dict(self) -> dict:
        return {"v": self.version, "dir": self.direction, "type": self.type, "dev": self.device, "seq": self.seq,
                "ts": self.ts, "iv": b64.encode_url(self.iv), "ct": b64.encode_url(self.ct),
                "tag": b64.encode_url(self.tag)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def encode(self, fmt: str = "compact") -> str:
        if fmt == "compact":
            return self.to_compact()
        if fmt == "json":
            return self.to_json()
        raise _bad_format(fmt, "'compact' or 'json'")

    # -- parsing ---------------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, raw: bytes) -> "Envelope":
        direction, kind, device, seq, ts, iv, ct, tag, mac_input = parse_compact(raw)
        return cls._trusted(mac_input, direction, kind, device, seq, ts, iv, ct, tag)

    @classmethod
    def from_compact(cls, text: str | bytes) -> "Envelope":
        return cls.from_bytes(b64.decode_url(text, "compact envelope"))

    @classmethod
    def from_dict(cls, obj: object) -> "Envelope":
        if not isinstance(obj, dict):
            raise MalformedError(f"JSON envelope must be an object, got {type(obj).__name__}")
        missing = [k for k in JSON_MEMBERS if k not in obj]
        extra = sorted(k for k in obj if k not in JSON_MEMBERS)
        if missing or extra:
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unexpected {', '.join(extra)}"] if extra else [])
            raise MalformedError("JSON envelope: " + "; ".join(parts))
        if type(obj["v"]) is not int:
            raise MalformedError("JSON envelope: v must be the integer 1")
        if obj["v"] != VERSION:
            raise UnsupportedVersionError(f"envelope version {obj['v']} is not supported (this is v{VERSION})")
        for name in ("dir", "type", "dev", "iv", "ct", "tag"):
            if not isinstance(obj[name], str):
                raise MalformedError(f"JSON envelope: {name} must be a string")
        if obj["dir"] not in DIRECTIONS:
            raise MalformedError(f"JSON envelope: dir {obj['dir']!r} is not 'up' or 'down'")
        if obj["type"] not in TYPES:
            raise MalformedError(f"JSON envelope: type {obj['type']!r} is not one of {', '.join(TYPES)}")
        return cls(obj["dir"], obj["type"], check_device(obj["dev"]), _check_u32(obj["seq"], "seq"),
                   _check_u32(obj["ts"], "ts"), b64.decode_url(obj["iv"], "iv"), b64.decode_url(obj["ct"], "ct"),
                   b64.decode_url(obj["tag"], "tag"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "Envelope":
        def no_duplicates(pairs):
            keys = [k for k, _ in pairs]
            dup = sorted({k for k in keys if keys.count(k) > 1})
            if dup:
                raise MalformedError(f"JSON envelope: duplicated member {', '.join(dup)}")
            return dict(pairs)

        def no_constant(name):
            raise MalformedError(f"JSON envelope: {name} is not valid JSON")

        try:
            obj = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            if isinstance(exc, MalformedError):
                raise
            raise MalformedError(f"not JSON: {exc}") from None
        return cls.from_dict(obj)

    @classmethod
    def decode(cls, text: str | bytes, fmt: str | None = None) -> "Envelope":
        """Parse either encoding; ``fmt`` None guesses from the first character ('{' means JSON)."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedError("envelope text is not UTF-8") from None
        if not isinstance(text, str):
            raise MalformedError(f"envelope must be text, got {type(text).__name__}")
        text = strip_text(text)
        if fmt is None:
            fmt = "json" if text.lstrip().startswith("{") else "compact"
        if fmt == "json":
            return cls.from_json(text)
        if fmt == "compact":
            return cls.from_compact(text)
        raise _bad_format(fmt, "'compact' or 'json'")


MAX_TEXT = 65536  # SPEC.md §5: envelope text, after the one trailing newline is removed
MAX_RAW = 49152


def strip_text(text: str) -> str:
    """SPEC.md §5: remove exactly one trailing LF or CRLF, nothing else; refuse text over :data:`MAX_TEXT`."""
    if text.endswith("\n"):
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    if len(text) > MAX_TEXT:
        raise MalformedError(f"envelope text is {len(text)} characters; the limit is {MAX_TEXT}")
    return text


_U32X2 = struct.Struct(">II")
_DEVICES: dict = {}  # device id bytes already validated -> the id as text


def parse_compact(raw: bytes) -> tuple:
    """The fields of a raw compact envelope (SPEC.md §4, §5.1): ``(direction, type, device, seq, ts, iv, ct, tag,
    mac_input)``, or MalformedError / UnsupportedVersionError naming the first defect. No object is built: this is
    the hot path of :func:`iotenvelope.open`."""
    n = len(raw)
    if n >= MIN_RAW_LEN and raw[0] == VERSION:
        dev_len = raw[3]
        body = n - (4 + dev_len + 8 + IV_LEN + TAG_LEN)
        direction = _DIRECTION_NAMES.get(raw[1])
        kind = _TYPE_NAMES.get(raw[2])
        if direction and kind and 1 <= dev_len <= MAX_DEVICE_LEN and body >= 16 and not body % 16:
            dev = raw[4:4 + dev_len]
            device = _DEVICES.get(dev)
            if device is None:
                device = check_device(dev.decode("latin-1"))
                if len(_DEVICES) >= 4096:
                    _DEVICES.clear()
                _DEVICES[bytes(dev)] = device
            seq, ts = _U32X2.unpack_from(raw, 4 + dev_len)
            return (direction, kind, device, seq, ts, raw[12 + dev_len:28 + dev_len], raw[28 + dev_len:-TAG_LEN],
                    raw[-TAG_LEN:], raw[:-TAG_LEN])
    _compact_defect(raw)
    raise AssertionError("unreachable")  # pragma: no cover


def decode_fields(text: str | bytes, fmt: str | None = None) -> tuple:
    """What :meth:`Envelope.decode` reads, as the tuple of :func:`parse_compact` (no object for compact text)."""
    if text.__class__ is str and (fmt == "compact" or (fmt is None and text[:1] != "{" and not text[:1].isspace())):
        return parse_compact(b64.decode_url(strip_text(text), "compact envelope"))
    env = Envelope.decode(text, fmt)
    return env.direction, env.type, env.device, env.seq, env.ts, env.iv, env.ct, env.tag, env.mac_input()


def _compact_defect(raw: bytes) -> None:
    """Raise the error of the first defect of ``raw`` (the slow path: only for envelopes that are refused)."""
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


def _bad_format(fmt: object, allowed: str = "'compact', 'json', 'lean' or 'lean-raw'") -> UsageError:
    UsageError.check_type(fmt, str, "format", allowed)
    return UsageError(f"format {fmt!r} is not {allowed}")


__all__ = ["VERSION", "DIRECTIONS", "TYPES", "TAG_LEN", "IV_LEN", "MAX_DEVICE_LEN", "MAX_U32", "MIN_RAW_LEN", "EPOCH_2000", "JSON_MEMBERS", "KeySource", "check_device", "check_direction", "Envelope", "MAX_TEXT", "MAX_RAW", "strip_text", "parse_compact", "decode_fields"]
