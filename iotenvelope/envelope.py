"""Envelope v1 (SPEC.md): the data structure, its two encodings, and seal/open.

Where each byte comes from:
  * header + MAC input ..... :meth:`Envelope.mac_input` (SPEC.md §4)
  * K_enc / K_mac .......... :func:`iotenvelope.kdf.envelope_keys` (SPEC.md §2.2)
  * ct ..................... :func:`iotenvelope.cipher.encrypt` (AES-CBC + PKCS#7)
  * tag .................... :func:`iotenvelope.mac.tag` (HMAC-SHA-256 truncated to 16 bytes)
  * compact / JSON text .... :meth:`Envelope.to_compact` / :meth:`Envelope.to_json` (SPEC.md §5)
"""

from __future__ import annotations

import hmac
import json
import os
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Protocol, Union

from . import b64, cipher, kdf, mac
from .errors import (AuthenticationError, DirectionError, FutureError, IotEnvelopeError, KeyFormatError,
                     MalformedError, StaleError, TimeUnknownError, UnknownDeviceError, UnsupportedVersionError,
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
        raise _bad_format(fmt)

    # -- parsing ---------------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, raw: bytes) -> "Envelope":
        if len(raw) < 1:
            raise MalformedError("envelope is empty")
        if raw[0] != VERSION:
            raise UnsupportedVersionError(f"envelope version {raw[0]} is not supported (this is v{VERSION})")
        if len(raw) < MIN_RAW_LEN:
            raise MalformedError(f"envelope is {len(raw)} bytes; the smallest valid one is {MIN_RAW_LEN}")
        direction = _DIRECTION_NAMES.get(raw[1])
        if direction is None:
            raise MalformedError(f"direction byte {raw[1]:#04x} is not 0x01 (up) or 0x02 (down)")
        kind = _TYPE_NAMES.get(raw[2])
        if kind is None:
            raise MalformedError(f"type byte {raw[2]:#04x} is not 0x00, 0x01 or 0x02")
        n = raw[3]
        if not 1 <= n <= MAX_DEVICE_LEN:
            raise MalformedError(f"device id length {n} is outside 1..{MAX_DEVICE_LEN}")
        body = len(raw) - (4 + n + 8 + IV_LEN + TAG_LEN)
        if body < 16:
            raise MalformedError(f"envelope is too short for a {n}-byte device id and one ciphertext block")
        if body % 16:
            raise MalformedError(f"ciphertext length {body} is not a multiple of 16 (truncated or extended?)")
        device = check_device(raw[4:4 + n].decode("latin-1"))
        seq, ts = struct.unpack(">II", raw[4 + n:12 + n])
        return cls._trusted(raw[:-TAG_LEN], direction, kind, device, seq, ts, raw[12 + n:28 + n],
                            raw[28 + n:-TAG_LEN], raw[-TAG_LEN:])

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
        if fmt is None:
            fmt = "json" if text.lstrip().startswith("{") else "compact"
        if fmt == "json":
            return cls.from_json(text)
        if fmt == "compact":
            return cls.from_compact(text)
        raise _bad_format(fmt)


def _bad_format(fmt: object) -> UsageError:
    UsageError.check_type(fmt, str, "format", "'compact' or 'json'")
    return UsageError(f"format {fmt!r} is not 'compact' or 'json'")


@dataclass(frozen=True)
class Opened:
    """A successfully opened envelope."""

    plaintext: bytes = field(repr=False)
    device: str
    direction: str
    type: str
    seq: int
    ts: int

    @classmethod
    def _trusted(cls, plaintext: bytes, device: str, direction: str, kind: str, seq: int, ts: int) -> "Opened":
        """Build from an envelope that was just verified (skips the frozen dataclass's per-field setattr)."""
        obj = object.__new__(cls)
        obj.__dict__.update(plaintext=plaintext, device=device, direction=direction, type=kind, seq=seq, ts=ts)
        return obj

    @property
    def text(self) -> str:
        try:
            return self.plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("plaintext is not UTF-8 text") from None


class ReplayCheck(Protocol):
    """What :func:`open` needs from a replay guard (see :mod:`iotenvelope.replay`; :func:`open_many` also uses
    ``accept_many(items)`` when the guard has it, to check a batch in one transaction / round trip)."""

    def accept(self, device: str, direction: str, seq: int) -> None: ...


@dataclass(frozen=True)
class Freshness:
    """Timestamp policy (SPEC.md §6 step 6). ``max_age`` None disables the age bound."""

    skew: int = 300
    max_age: int | None = 86400
    allow_unknown_time: bool = True

    def __post_init__(self) -> None:
        for name in ("skew", "max_age"):
            value = getattr(self, name)
            if value is None and name == "max_age":
                continue
            if UsageError.check_int(value, f"freshness {name}") < 0:
                raise UsageError(f"freshness {name} must be a non-negative integer number of seconds, got {value}")
        UsageError.check_type(self.allow_unknown_time, bool, "freshness allow_unknown_time", "True or False")

    def check(self, ts: int, now: int) -> None:
        if ts == 0:
            if not self.allow_unknown_time:
                raise TimeUnknownError("envelope has ts=0 (device time unknown) and this receiver requires a time")
            return
        if ts > now + self.skew:
            raise FutureError(f"timestamp is {ts - now} s in the future (allowed skew {self.skew} s)")
        if self.max_age is not None and ts < now - self.max_age - self.skew:
            age = now - ts
            hint = ""
            if abs(age - EPOCH_2000) <= 86400 + self.skew:
                hint = ("; that is the 946684800 s offset of a clock counting from 2000 (MicroPython on ESP8266/ESP32):"
                        " add 946684800 before sealing")
            raise StaleError(f"timestamp is {age} s old (limit {self.max_age} s + {self.skew} s skew){hint}")




def _as_secret(secret: object) -> bytes:
    if not isinstance(secret, (bytes, bytearray)):
        raise KeyFormatError(f"device secret must be bytes, got {type(secret).__name__} (parse text with keys.parse_secret)")
    if len(secret) not in (16, 32):
        raise KeyFormatError(f"device secret is {len(secret)} bytes; must be 16 or 32")
    return bytes(secret)


def _as_bytes(plaintext: object) -> bytes:
    if isinstance(plaintext, str):
        try:
            return plaintext.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedError("plaintext text contains a lone surrogate and cannot be encoded as UTF-8") from None
    if isinstance(plaintext, (bytes, bytearray, memoryview)):
        return bytes(plaintext)
    raise MalformedError(f"plaintext must be bytes or text, got {type(plaintext).__name__}")


def seal_envelope(secret: bytes, plaintext: bytes | str, *, device: str, seq: int, ts: int | None = None,
                  direction: str = "up", type: str = "data", iv: bytes | None = None) -> Envelope:
    """Encrypt and authenticate; returns the :class:`Envelope` (call ``.to_compact()``/``.to_json()``).

    ``ts`` None uses the current Unix time; pass 0 for "time unknown". ``iv`` is for test vectors only:
    leave it None so a fresh random IV is used.
    """
    secret = _as_secret(secret)
    data = _as_bytes(plaintext)
    if ts is None:
        ts = int(time.time())
    check_direction(direction)
    _check_kind(type)
    check_device(device)
    _check_u32(seq, "seq")
    _check_u32(ts, "ts")
    if iv is None:
        iv = os.urandom(IV_LEN)
    elif len(KeyFormatError.check_type(iv, (bytes, bytearray), "iv", "16 bytes or None")) != IV_LEN:
        raise KeyFormatError(f"iv is {len(iv)} bytes; must be {IV_LEN}")
    k_enc, k_mac = kdf.envelope_keys(secret)  # remembered per secret (kdf.clear_caches)
    ct = cipher.encrypt(k_enc, iv, data)
    dev = device.encode("ascii")
    mac_input = (bytes((VERSION, DIRECTIONS[direction], TYPES[type], len(dev))) + dev
                 + struct.pack(">II", seq, ts) + iv + ct)
    return Envelope._trusted(mac_input, direction, type, device, seq, ts, bytes(iv), ct, mac.tag(k_mac, mac_input))


def seal(secret: bytes, plaintext: bytes | str, *, device: str, seq: int, ts: int | None = None,
         direction: str = "up", type: str = "data", format: str = "compact", iv: bytes | None = None) -> str:
    """Seal ``plaintext`` and return the envelope text in ``format`` ('compact' or 'json')."""
    return seal_envelope(secret, plaintext, device=device, seq=seq, ts=ts, direction=direction, type=type,
                         iv=iv).encode(format)


def _lookup(keys: KeySource, device: str) -> bytes:
    if isinstance(keys, (bytes, bytearray)):
        return _as_secret(keys)
    if isinstance(keys, Mapping):
        secret = keys.get(device)
    elif callable(keys):
        secret = keys(device)
    else:
        raise KeyFormatError.wrong_type("keys", keys, "bytes, a mapping or a callable")
    if secret is None:
        raise UnknownDeviceError(f"no secret known for device {device!r}")
    return _as_secret(secret)


def _check_open_options(direction: object, freshness: object, now: object, replay: object) -> None:
    """The receiver's settings of open/open_envelope/open_many (MalformedError / UsageError)."""
    check_direction(direction, "expected direction")
    if freshness is not None and not isinstance(freshness, Freshness):
        raise UsageError.wrong_type("freshness", freshness, "a Freshness policy or None")
    if now is not None and type(now) is not int:
        raise UsageError.wrong_type("now", now, "an integer Unix time or None")
    if replay is not None and not callable(getattr(replay, "accept", None)):
        raise UsageError.wrong_type("replay", replay, "a replay guard with accept(device, direction, seq), or None")


def _check_keys(keys: object) -> None:
    if isinstance(keys, (bytes, bytearray)):
        _as_secret(keys)
    elif not isinstance(keys, Mapping) and not callable(keys):
        raise KeyFormatError.wrong_type("keys", keys, "bytes, a mapping or a callable")


def open_envelope(keys: KeySource, envelope: Envelope, *, direction: str = "up",
                  freshness: Freshness | None = Freshness(), now: int | None = None,
                  replay: ReplayCheck | None = None) -> Opened:
    """Verify and decrypt a parsed envelope, following SPEC.md §6 in order."""
    if not isinstance(envelope, Envelope):
        raise MalformedError.wrong_type("envelope", envelope, "an Envelope (see Envelope.decode)")
    _check_open_options(direction, freshness, now, replay)
    if envelope.direction != direction:
        raise DirectionError(f"envelope travels {envelope.direction} but this receiver expects {direction}"
                             " (a reflected message?)")
    secret = _lookup(keys, envelope.device)
    k_enc, k_mac = kdf.envelope_keys(secret)  # remembered per secret (kdf.clear_caches)
    if not hmac.compare_digest(mac.tag(k_mac, envelope.mac_input()), envelope.tag):
        raise AuthenticationError("authentication tag mismatch: wrong secret, or the envelope was altered")
    plaintext = cipher.decrypt(k_enc, envelope.iv, envelope.ct)
    if envelope.type != "resync-request":  # SPEC.md §8 step 2: no freshness or replay state for these
        if freshness is not None:
            freshness.check(envelope.ts, int(time.time()) if now is None else now)
        if replay is not None:
            replay.accept(envelope.device, envelope.direction, envelope.seq)
    return Opened._trusted(plaintext, envelope.device, envelope.direction, envelope.type, envelope.seq, envelope.ts)


def open(keys: KeySource, text: str | bytes, *, direction: str = "up", format: str | None = None,
         freshness: Freshness | None = Freshness(), now: int | None = None,
         replay: ReplayCheck | None = None) -> Opened:
    """Parse, authenticate (MAC first, constant time), decrypt and check an envelope.

    ``keys`` is the device secret, a mapping device id → secret, or a callable returning the secret (or
    None). ``freshness=None`` disables the timestamp check; ``replay`` is an optional guard
    (:class:`iotenvelope.replay.ReplayGuard`) whose state is advanced only after everything else passed.
    """
    return open_envelope(keys, Envelope.decode(text, format), direction=direction, freshness=freshness, now=now,
                         replay=replay)


def open_many(keys: KeySource, texts: "list[str | bytes]", *, direction: str = "up", format: str | None = None,
              freshness: Freshness | None = Freshness(), now: int | None = None,
              replay: ReplayCheck | None = None) -> "list[Opened | IotEnvelopeError]":
    """Open a batch of envelopes; one result per text: an :class:`Opened` or the error that one raised.

    Each envelope goes through SPEC.md §6 steps 1-6 on its own; then the replay window is checked and
    advanced for all of those that passed in ONE atomic step (``replay.accept_many``: one SQLite transaction
    or one Redis round trip), in input order, exactly as if they had been opened one by one. If the store
    itself fails the :class:`~iotenvelope.errors.StoreError` is raised and nothing of the batch was accepted.
    """
    if isinstance(texts, (str, bytes, bytearray, memoryview)) or not isinstance(texts, Iterable):
        raise MalformedError.wrong_type("texts", texts, "a list of envelope texts")
    _check_keys(keys)
    _check_open_options(direction, freshness, now, None)
    if replay is not None and not callable(getattr(replay, "accept_many", getattr(replay, "accept", None))):
        raise UsageError.wrong_type("replay", replay, "a replay guard with accept_many(items) or accept(...), or None")
    if format not in (None, "compact", "json"):
        raise _bad_format(format)
    results: list[Opened | IotEnvelopeError] = []
    pending: list[int] = []
    if now is None:
        now = int(time.time())
    for text in texts:
        try:
            opened = open(keys, text, direction=direction, format=format, freshness=freshness, now=now)
        except UsageError:
            raise
        except IotEnvelopeError as exc:
            results.append(exc)
            continue
        if replay is not None and opened.type != "resync-request":
            pending.append(len(results))
        results.append(opened)
    if pending:
        from .replay import accept_many
        items = [(results[i].device, results[i].direction, results[i].seq) for i in pending]  # type: ignore[union-attr]
        for i, err in zip(pending, accept_many(replay, items)):
            if err is not None:
                results[i] = err
    return results
