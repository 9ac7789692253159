"""Sealing and opening envelopes (SPEC.md §6, §7): where K_enc/K_mac, the IV, ct and tag are produced and
checked."""

from __future__ import annotations

import hmac
import struct
import time
from typing import Iterable, Mapping, Protocol

from ..primitives import keycache
from ..primitives.b64 import _b64url, try_decode_url
from ..errors import (AuthenticationError, DirectionError, IotEnvelopeError, KeyFormatError,
                     MalformedError, ReplayError, UnknownDeviceError, UsageError, untrusted)
from .fields import (DIRECTIONS, IV_LEN, MAX_RAW, MAX_TEXT, MAX_U32, TAG_LEN, TYPES, VERSION, Envelope, KeySource,
                     check_device, check_direction, decode_fields)
from .fields import _check_kind, _check_u32, _bad_format, _DIRECTION_NAMES, _TYPE_NAMES  # noqa: F401
from .compact import fields_of
from .freshness import Freshness
from ..records import REQUIRED, Frozen

#: the lean form's two spellings: base64url text, and the binary frame itself
LEAN_FORMATS = ("lean", "lean-raw")
#: version ‖ direction ‖ type, the first three bytes of mac_input, per (direction, type)
_HEADERS = {(d, k): bytes((VERSION, dv, kv)) for d, dv in DIRECTIONS.items() for k, kv in TYPES.items()}
#: PKCS#7 padding of n bytes
_PADS = {n: bytes((n,)) * n for n in range(1, 17)}
_U32X2 = struct.Struct(">II")
_DEVICE_BYTES: dict = {}
_RECEIVER_DIRECTIONS = ("up", "down")  # compared with ==: an unhashable direction reaches _check_open_options
_TEXT_CLASSES = (str, bytes)
_compare = hmac.compare_digest
_time = time.time


def _device_bytes(device: object) -> bytes:
    """L ‖ device for a valid device id (SPEC.md §3); the ids of the devices seen most recently are remembered."""
    dev = _DEVICE_BYTES.get(device) if device.__class__ is str else None
    if dev is None:
        raw = check_device(device).encode("ascii")
        dev = bytes((len(raw),)) + raw
        if len(_DEVICE_BYTES) >= 4096:
            _DEVICE_BYTES.clear()
        _DEVICE_BYTES[device] = dev
    return dev


class Opened(Frozen):
    """A successfully opened envelope: ``plaintext`` (never in its repr), ``device``, ``direction``, ``type``,
    ``seq``, ``ts``. Frozen, compared by its fields."""

    FIELDS = (("plaintext", REQUIRED), ("device", REQUIRED), ("direction", REQUIRED), ("type", REQUIRED),
              ("seq", REQUIRED), ("ts", REQUIRED))
    HIDDEN = frozenset({"plaintext"})
    plaintext: bytes
    device: str
    direction: str
    type: str
    seq: int
    ts: int

    @property
    def text(self) -> str:
        try:
            return self.plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("plaintext is not UTF-8 text") from None


def _opened(plaintext: bytes, device: str, direction: str, kind: str, seq: int, ts: int) -> Opened:
    """An :class:`Opened` of fields just verified, stored straight into its ``__dict__`` (no ``__init__``
    checks to run again)."""
    obj = _new(Opened)
    attrs = obj.__dict__
    attrs["plaintext"] = plaintext
    attrs["device"] = device
    attrs["direction"] = direction
    attrs["type"] = kind
    attrs["seq"] = seq
    attrs["ts"] = ts
    return obj


_new = object.__new__


class ReplayCheck(Protocol):
    """What :func:`open` needs from a replay guard (see :mod:`iotenvelope.replay`; :func:`open_many` also uses
    ``accept_many(items)`` when the guard has it, to check a batch in one transaction / round trip)."""

    def accept(self, device: str, direction: str, seq: int) -> None: ...


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


def _seal_raw(secret: bytes, plaintext: bytes | str, device: str, seq: int, ts: int | None, direction: str,
              kind: str, iv: bytes | None) -> tuple:
    """The checked fields and the bytes of one envelope: ``(mac_input, tag, ts)``, with no objects in between
    (the hot path of :func:`seal`). The IV and ct are the last bytes of mac_input."""
    keys = keycache.envelope(secret)  # checks type and length; remembered per secret
    data = plaintext if plaintext.__class__ is bytes else _as_bytes(plaintext)
    if ts is None:
        ts = int(time.time())
    header = _HEADERS.get((direction, kind)) if direction.__class__ is str and kind.__class__ is str else None
    if header is None:
        check_direction(direction)
        _check_kind(kind)
    if seq.__class__ is not int or ts.__class__ is not int or not (0 <= seq <= MAX_U32 and 0 <= ts <= MAX_U32):
        _check_u32(seq, "seq")
        _check_u32(ts, "ts")
    dev = _device_bytes(device)
    size = 3 + len(dev) + 8 + IV_LEN + 16 * (len(data) // 16 + 1) + TAG_LEN
    if size > MAX_RAW:
        raise MalformedError(f"a {len(data)}-byte plaintext makes a {size}-byte envelope; the limit is {MAX_RAW}"
                             " (SPEC.md §5): split the message")
    padded = data + _PADS[16 - len(data) % 16]
    if iv is None:
        iv_ct = keys.cbc.encrypt_fresh(padded)  # a new unpredictable IV, then ct (cipher.ChainedCbc)
    elif len(KeyFormatError.check_type(iv, (bytes, bytearray), "iv", "16 bytes or None")) != IV_LEN:
        raise KeyFormatError(f"iv is {len(iv)} bytes; must be {IV_LEN}")
    else:
        iv = bytes(iv)
        iv_ct = iv + keys.cbc.encrypt(iv, padded)
    mac_input = header + dev + _U32X2.pack(seq, ts) + iv_ct
    return mac_input, keys.hmac(mac_input)[:TAG_LEN], ts


def seal_envelope(secret: bytes, plaintext: bytes | str, *, device: str, seq: int, ts: int | None = None,
                  direction: str = "up", type: str = "data", iv: bytes | None = None) -> Envelope:
    """Encrypt and authenticate; returns the :class:`Envelope` (call ``.to_compact()``/``.to_json()``).

    ``ts`` None uses the current Unix time; pass 0 for "time unknown". ``iv`` is for test vectors only:
    leave it None so a fresh random IV is used.
    """
    mac_input, tag, ts = _seal_raw(secret, plaintext, device, seq, ts, direction, type, iv)
    at = 12 + len(device)  # version, direction, type, L, device (ASCII), seq, ts: then the IV (SPEC.md §4)
    return Envelope._trusted(mac_input, direction, type, device, seq, ts, mac_input[at:at + IV_LEN],
                             mac_input[at + IV_LEN:], tag)


def seal(secret: bytes, plaintext: bytes | str, *, device: str, seq: int, ts: int | None = None,
         direction: str = "up", type: str = "data", format: str = "compact", iv: bytes | None = None) -> "str | bytes":
    """Seal ``plaintext`` and return the envelope in ``format``: 'compact' or 'json' text, 'lean' text
    (base64url, SPEC.md §5.3) or 'lean-raw' (the binary frame, bytes). The lean form derives its IV from
    ``seq`` and takes no ``iv``. A plaintext whose envelope would exceed the SPEC.md §5 caps is refused."""
    if format in LEAN_FORMATS:
        from . import lean
        if iv is not None:
            raise UsageError("the lean form derives its IV from seq: iv must be None")
        env = lean.seal_lean(secret, plaintext, device=device, seq=seq, ts=ts, direction=direction, type=type)
        return env.to_bytes() if format == "lean-raw" else env.to_text()
    if format == "compact":
        mac_input, tag = _seal_raw(secret, plaintext, device, seq, ts, direction, type, iv)[:2]
        return _b64url(mac_input + tag).rstrip(b"=").decode("ascii")
    if format != "json":
        raise _bad_format(format)
    text = seal_envelope(secret, plaintext, device=device, seq=seq, ts=ts, direction=direction, type=type,
                         iv=iv).encode(format)
    if len(text) > MAX_TEXT:  # only the JSON form can get here: compact text of MAX_RAW bytes is MAX_TEXT long
        raise MalformedError(f"the {format} envelope of this plaintext would be {len(text)} characters; the limit is"
                             f" {MAX_TEXT} (SPEC.md §5): split the message")
    return text


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
        raise UnknownDeviceError(f"no secret known for device {untrusted(device)}")
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
    return _open_fields(keys, envelope.fields(), direction, freshness, now, replay)


def _open_fields(keys: KeySource, fields: tuple, direction: str, freshness: Freshness | None, now: int | None,
                 replay: ReplayCheck | None) -> Opened:
    """SPEC.md §6 steps 2-8 on decoded fields ``(direction, type, device, seq, ts, iv_at, raw)``
    (:func:`compact.fields_of`: ``raw`` is mac_input ‖ tag, the IV at ``raw[iv_at]``)."""
    env_direction, kind, device, seq, ts, at, raw = fields
    if env_direction != direction:
        raise DirectionError(f"envelope travels {env_direction} but this receiver expects {direction}"
                             " (a reflected message?)")
    # remembered per secret (kdf.clear_caches); keycache checks a secret given as bytes
    dk = keycache.envelope_of_bytes(keys) if keys.__class__ is bytes else keycache.envelope(_lookup(keys, device))
    if not _compare(dk.hmac(raw[:-TAG_LEN])[:TAG_LEN], raw[-TAG_LEN:]):
        raise AuthenticationError("authentication tag mismatch: wrong secret, or the envelope was altered")
    plaintext = dk.cbc.decrypt_unpad(raw[at:-TAG_LEN])  # IV ‖ ct; PKCS#7 checked in constant time
    if kind != "resync-request":  # SPEC.md §8 step 2: no freshness or replay state for these
        if freshness is not None:
            freshness.check(ts, int(_time()) if now is None else now)
        if replay is not None:
            replay.accept(device, env_direction, seq)
    return _opened(plaintext, device, env_direction, kind, seq, ts)


def open(keys: KeySource, text: str | bytes, *, direction: str = "up", format: str | None = None,
         freshness: Freshness | None = Freshness(), now: int | None = None,
         replay: ReplayCheck | None = None, device: str | None = None) -> Opened:
    """Parse, authenticate (MAC first, constant time), decrypt and check an envelope.

    ``keys`` is the device secret, a mapping device id → secret, or a callable returning the secret (or
    None). ``freshness=None`` disables the timestamp check; ``replay`` is an optional guard
    (:class:`iotenvelope.replay.ReplayGuard`) whose state is advanced only after everything else passed.
    ``format`` None reads compact or JSON text (guessed from the first character); 'lean' / 'lean-raw' read the
    lean form (text / binary frame), which does not carry the device id: pass ``device`` (SPEC.md §5.3).
    """
    if not (direction in _RECEIVER_DIRECTIONS and now is None and replay is None
            and (freshness is None or freshness.__class__ is Freshness)) and format not in LEAN_FORMATS:
        _check_open_options(direction, freshness, now, replay)  # (the lean form checks its own)
    return _open_text(keys, text, direction, format, freshness, now, replay, device)


def _open_text(keys: KeySource, text: str | bytes, direction: str, format: str | None, freshness: Freshness | None,
               now: int | None, replay: ReplayCheck | None, device: str | None) -> Opened:
    """:func:`open` once the receiver's options were checked (:func:`open_many` checks them once a batch)."""
    if format is None and device is None:
        # The common case first: canonical base64url text is compact (JSON starts with '{' or white space), and
        # a text without a trailing newline that decodes is within the caps (fields_of checks the raw one).
        raw = try_decode_url(text) if text.__class__ in _TEXT_CLASSES and len(text) <= MAX_TEXT else None
        if raw is not None:
            return _open_fields(keys, fields_of(raw), direction, freshness, now, replay)
    elif format in LEAN_FORMATS:
        from . import lean
        return lean.open_lean(keys, lean.decode(text, format), device=device, direction=direction,
                              freshness=freshness, now=now, replay=replay)
    if device is not None:
        raise UsageError("device= is only for the lean form (the other forms carry the device id)")
    return _open_fields(keys, decode_fields(text, format), direction, freshness, now, replay)


def open_many(keys: KeySource, texts: "list[str | bytes]", *, direction: str = "up", format: str | None = None,
              freshness: Freshness | None = Freshness(), now: int | None = None,
              replay: ReplayCheck | None = None, device: str | None = None) -> "list[Opened | IotEnvelopeError]":
    """Open a batch of envelopes; one result per text: an :class:`Opened` or the error that one raised.

    Each envelope goes through SPEC.md §6 steps 1-6 on its own; then the replay window is checked and
    advanced for all of those that passed in ONE atomic step (``replay.accept_many``: one SQLite transaction
    or one Redis round trip), in input order, exactly as if they had been opened one by one. If the store
    itself fails the :class:`~iotenvelope.errors.StoreError` is raised and nothing of the batch was accepted.

    A result whose ``type`` is not "data" is authentic but not a reading: a "resync-request" (SPEC.md §8: it
    never reaches the replay store, so a replayed one comes back the same way; answer it with
    :func:`iotenvelope.replay.resync.answer_request`) or a "resync-response". Callers handling readings check
    ``result.type == "data"``; the CLI reports them as their own ``kind``, never as ``"ok": true``.
    """
    if isinstance(texts, (str, bytes, bytearray, memoryview)) or not isinstance(texts, Iterable):
        raise MalformedError.wrong_type("texts", texts, "a list of envelope texts")
    _check_keys(keys)
    _check_open_options(direction, freshness, now, None)
    if replay is not None and not callable(getattr(replay, "accept_many", getattr(replay, "accept", None))):
        raise UsageError.wrong_type("replay", replay, "a replay guard with accept_many(items) or accept(...), or None")
    if format not in (None, "compact", "json", *LEAN_FORMATS):
        raise _bad_format(format)
    results: list[Opened | IotEnvelopeError] = []
    pending: list[int] = []  # the results the replay window decides on, and their (device, direction, seq)
    items: list[tuple[str, str, int]] = []
    if now is None:
        now = int(time.time())
    for text in texts:
        try:
            opened = _open_text(keys, text, direction, format, freshness, now, None, device)
        except UsageError:
            raise
        except IotEnvelopeError as exc:
            results.append(exc)
            continue
        if replay is not None:
            attrs = opened.__dict__
            if attrs["type"] != "resync-request":
                pending.append(len(results))
                items.append((attrs["device"], attrs["direction"], attrs["seq"]))
        results.append(opened)
    if pending:
        for i, err in zip(pending, _replay_verdicts(replay, items)):
            if err is not None:
                results[i] = err
    return results


def _replay_verdicts(guard: ReplayCheck, items: list) -> "list[IotEnvelopeError | None]":
    """One verdict per (device, direction, seq) that opened: None (accepted) or the ReplayError. A store of
    :mod:`iotenvelope.replay` takes them as already checked (``_accept_opened``: they came out of an open), a
    guard with ``accept_many`` gets the batch, any other guard ``accept`` per item."""
    batch = getattr(guard, "_accept_opened", None) or getattr(guard, "accept_many", None)
    if batch is not None:
        return batch(items)
    out: "list[IotEnvelopeError | None]" = []
    for device, direction, seq in items:
        try:
            guard.accept(device, direction, seq)
            out.append(None)
        except ReplayError as exc:
            out.append(exc)
    return out


__all__ = ["Opened", "ReplayCheck", "seal_envelope", "seal", "open_envelope", "open", "open_many"]
