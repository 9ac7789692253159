"""The lean form of envelope v1 (SPEC.md §5.3): an authenticated, replay-protected reading in a LoRaWAN frame.

Where each byte comes from:
  * hdr ............ :meth:`LeanEnvelope.header_byte`: ``0b010TDDYY`` (form, ts present, direction, type)
  * K_enc / K_mac .. :func:`iotenvelope.primitives.kdf.lean_keys` (own HKDF labels: nothing is shared with the
                     compact/JSON forms)
  * iv ............. :func:`derive_iv`: AES(K_enc_lean, 0x4C ‖ hdr&0x0F ‖ seq ‖ 0^10), never on the wire
  * ct ............. :func:`iotenvelope.primitives.cipher.encrypt` (AES-CBC + PKCS#7) under that iv
  * tag ............ the first 8 bytes of HMAC-SHA-256(K_mac_lean, hdr ‖ L ‖ device ‖ seq ‖ [ts] ‖ ct)
  * raw / text ..... :meth:`LeanEnvelope.to_bytes` ``hdr ‖ seq ‖ [ts] ‖ ct ‖ tag``; :meth:`LeanEnvelope.to_text`
                     is its base64url

The device id is not on the wire: the receiver passes it (from the LoRaWAN device id, the MQTT topic...) and a
wrong one fails the tag. Sealing and opening follow the same rules as the other forms (SPEC.md §6, §7) and share
their replay windows.
"""

from __future__ import annotations

import hmac
import struct
import time

from ..errors import (AuthenticationError, DirectionError, MalformedError, UnsupportedVersionError, UsageError)
from ..primitives import b64, cipher, keycache
from ..primitives.padding import pkcs7_pad, pkcs7_unpad
from .fields import DIRECTIONS, TYPES, check_device, check_direction, _check_kind, _check_u32
from .freshness import Freshness
from ..records import REQUIRED, Frozen
from .sealing import KeySource, Opened, ReplayCheck, _as_bytes, _as_secret, _check_open_options, _lookup, _opened

FORM_BITS = 0b010 << 5  # bits 7..5 of hdr: the lean form of envelope v1
FORM_MASK = 0b111 << 5
TS_FLAG = 0x10
NONCE_PREFIX = 0x4C
TAG_LEN = 8
MIN_RAW_LEN = 1 + 4 + 16 + TAG_LEN  # no ts, one ciphertext block
MAX_RAW_LEN = 49152  # SPEC.md §5: the raw cap
MAX_TEXT_LEN = 65536  # SPEC.md §5: the text cap
_DIR_BITS = {"up": 0b01, "down": 0b10}
_DIR_NAMES = {v: k for k, v in _DIR_BITS.items()}
_TYPE_NAMES = {v: k for k, v in TYPES.items()}
_ZERO_IV = bytes(16)


def overhead(ts: bool = False) -> int:
    """Bytes a lean envelope adds to the padded ciphertext: 13 without a timestamp, 17 with one."""
    return 1 + 4 + TAG_LEN + (4 if ts else 0)


def size(plaintext_len: int, ts: bool = False) -> int:
    """Raw size of the lean envelope of a ``plaintext_len``-byte message: 13 (+4 with ts) + 16*ceil((p+1)/16)."""
    return overhead(ts) + 16 * (plaintext_len // 16 + 1)


class LeanEnvelope(Frozen):
    """One lean envelope's wire fields: ``LeanEnvelope(direction, type, seq, ts, ct, tag)``. Build with
    :func:`seal_lean`, parse with :meth:`from_bytes` / :meth:`from_text`. The device id is not part of it: it
    is given when opening. Frozen, compared by its fields."""

    FIELDS = (("direction", REQUIRED), ("type", REQUIRED), ("seq", REQUIRED), ("ts", REQUIRED), ("ct", REQUIRED),
              ("tag", REQUIRED))
    HIDDEN = frozenset({"ct", "tag"})
    direction: str
    type: str
    seq: int
    ts: int
    ct: bytes
    tag: bytes

    def __post_init__(self) -> None:
        check_direction(self.direction)
        _check_kind(self.type)
        _check_u32(self.seq, "seq")
        _check_u32(self.ts, "ts")
        for name in ("ct", "tag"):
            MalformedError.check_type(getattr(self, name), (bytes, bytearray), name, "bytes")
        if not self.ct or len(self.ct) % 16:
            raise MalformedError(f"ciphertext is {len(self.ct)} bytes; must be a positive multiple of 16")
        if len(self.tag) != TAG_LEN:
            raise MalformedError(f"lean tag is {len(self.tag)} bytes; must be {TAG_LEN}")

    def header_byte(self) -> int:
        return header_byte(self.direction, self.type, self.ts != 0)

    def _fields(self) -> bytes:
        return struct.pack(">I", self.seq) + (struct.pack(">I", self.ts) if self.ts else b"")

    def mac_input(self, device: str) -> bytes:
        """hdr ‖ L ‖ device ‖ seq ‖ [ts] ‖ ct (SPEC.md §5.3)."""
        dev = check_device(device).encode("ascii")
        return bytes((self.header_byte(), len(dev))) + dev + self._fields() + self.ct

    def to_bytes(self) -> bytes:
        return bytes((self.header_byte(),)) + self._fields() + self.ct + self.tag

    def to_text(self) -> str:
        return b64.encode_url(self.to_bytes())

    @classmethod
    def from_bytes(cls, raw: bytes) -> "LeanEnvelope":
        MalformedError.check_type(raw, (bytes, bytearray, memoryview), "lean envelope", "bytes")
        raw = bytes(raw)
        if not raw:
            raise MalformedError("lean envelope is empty")
        if len(raw) > MAX_RAW_LEN:
            raise MalformedError(f"lean envelope is {len(raw)} bytes; the limit is {MAX_RAW_LEN}")
        hdr = raw[0]
        if hdr & FORM_MASK != FORM_BITS:
            if raw[0] == 1:
                raise UnsupportedVersionError("this is not a lean envelope (first byte 0x01: a compact envelope?)")
            raise UnsupportedVersionError(f"header byte {hdr:#04x} is not a lean envelope v1 (bits 7..5 must be 010)")
        direction = _DIR_NAMES.get((hdr >> 2) & 0b11)
        if direction is None:
            raise MalformedError(f"header byte {hdr:#04x}: direction bits {(hdr >> 2) & 0b11:02b} are not 01 or 10")
        kind = _TYPE_NAMES.get(hdr & 0b11)
        if kind is None:
            raise MalformedError(f"header byte {hdr:#04x}: type bits 11 are not a type")
        has_ts = bool(hdr & TS_FLAG)
        head = 5 + (4 if has_ts else 0)
        body = len(raw) - head - TAG_LEN
        if body < 16:
            raise MalformedError(f"lean envelope is {len(raw)} bytes; the smallest valid one is "
                                 f"{MIN_RAW_LEN + (4 if has_ts else 0)}")
        if body % 16:
            raise MalformedError(f"ciphertext length {body} is not a multiple of 16 (truncated or extended?)")
        seq = int.from_bytes(raw[1:5], "big")
        ts = int.from_bytes(raw[5:9], "big") if has_ts else 0
        if has_ts and ts == 0:
            raise MalformedError("lean envelope has the ts flag set with ts = 0 (time unknown is sent without ts)")
        return cls(direction, kind, seq, ts, raw[head:-TAG_LEN], raw[-TAG_LEN:])

    @classmethod
    def from_text(cls, text: str | bytes) -> "LeanEnvelope":
        return cls.from_bytes(b64.decode_url(text, "lean envelope"))


def header_byte(direction: str, kind: str, has_ts: bool) -> int:
    return FORM_BITS | (TS_FLAG if has_ts else 0) | (_DIR_BITS[direction] << 2) | TYPES[kind]


def _nonce(direction: str, kind: str, seq: int) -> bytes:
    return bytes((NONCE_PREFIX, (_DIR_BITS[direction] << 2) | TYPES[kind])) + struct.pack(">I", seq) + bytes(10)


def derive_iv(k_enc: bytes, direction: str, kind: str, seq: int) -> bytes:
    """The per-message IV: AES-ECB(K_enc_lean, 0x4C ‖ u8(hdr & 0x0F) ‖ u32be(seq) ‖ 10 zero bytes) (SPEC.md §5.3).

    Computed as one CBC block under a zero IV, which equals one ECB block.
    """
    return cipher.encrypt_raw(k_enc, _ZERO_IV, _nonce(direction, kind, seq))


def _nonce_iv(keys: keycache.DeviceKeys, direction: str, kind: str, seq: int) -> bytes:
    """:func:`derive_iv` on the cached context of the secret's lean keys."""
    return keys.cbc.encrypt(_ZERO_IV, _nonce(direction, kind, seq))


def seal_lean(secret: bytes, plaintext: bytes | str, *, device: str, seq: int, ts: int | None = None,
              direction: str = "up", type: str = "data") -> LeanEnvelope:
    """Encrypt and authenticate in the lean form. ``ts`` None uses the current Unix time; 0 leaves it out.

    The IV comes from ``seq``: a sender MUST NOT seal two messages with the same (direction, type, seq)
    (SPEC.md §7; a boot-safe counter guarantees it).
    """
    secret = _as_secret(secret)
    data = _as_bytes(plaintext)
    if ts is None:
        ts = int(time.time())
    check_direction(direction)
    _check_kind(type)
    dev = check_device(device).encode("ascii")
    _check_u32(seq, "seq")
    _check_u32(ts, "ts")
    if size(len(data), ts != 0) > MAX_RAW_LEN:
        raise MalformedError(f"a {len(data)}-byte plaintext makes a lean envelope over the {MAX_RAW_LEN}-byte limit")
    keys = keycache.lean(secret)
    ct = keys.cbc.encrypt(_nonce_iv(keys, direction, type, seq), pkcs7_pad(data))
    hdr = header_byte(direction, type, ts != 0)
    fields = struct.pack(">I", seq) + (struct.pack(">I", ts) if ts else b"")
    tag = keys.hmac(bytes((hdr, len(dev))) + dev + fields + ct)[:TAG_LEN]
    return LeanEnvelope(direction, type, seq, ts, ct, tag)


def open_lean(keys: KeySource, envelope: LeanEnvelope, *, device: str, direction: str = "up",
              freshness: Freshness | None = Freshness(), now: int | None = None,
              replay: ReplayCheck | None = None) -> Opened:
    """Verify and decrypt a parsed lean envelope for ``device`` (SPEC.md §6 in order: direction, secret, tag in
    constant time before any decryption, padding, freshness, replay)."""
    if not isinstance(envelope, LeanEnvelope):
        raise MalformedError.wrong_type("envelope", envelope, "a LeanEnvelope (see LeanEnvelope.from_text)")
    _check_open_options(direction, freshness, now, replay)
    if device is None:
        raise UsageError("the lean form does not carry the device id: pass device=... (from the transport)")
    check_device(device)
    if envelope.direction != direction:
        raise DirectionError(f"envelope travels {envelope.direction} but this receiver expects {direction}"
                             " (a reflected message?)")
    dk = keycache.lean(_lookup(keys, device))
    expected = dk.hmac(envelope.mac_input(device))[:TAG_LEN]
    if not hmac.compare_digest(expected, envelope.tag):
        raise AuthenticationError("authentication tag mismatch: wrong secret or device id, or the envelope was altered")
    plaintext = pkcs7_unpad(dk.cbc.decrypt(_nonce_iv(dk, envelope.direction, envelope.type, envelope.seq), envelope.ct))
    if envelope.type != "resync-request":  # SPEC.md §8 step 2
        if freshness is not None:
            freshness.check(envelope.ts, int(time.time()) if now is None else now)
        if replay is not None:
            replay.accept(device, envelope.direction, envelope.seq)
    return _opened(plaintext, device, envelope.direction, envelope.type, envelope.seq, envelope.ts)


def decode(data: str | bytes | bytearray, fmt: str) -> LeanEnvelope:
    """``fmt`` 'lean': base64url text (str, or UTF-8 bytes); 'lean-raw': the binary frame itself."""
    if fmt == "lean-raw":
        return LeanEnvelope.from_bytes(data)  # type: ignore[arg-type]
    if isinstance(data, (bytes, bytearray)):
        if len(data) > MAX_TEXT_LEN + 2:
            raise MalformedError(f"lean envelope text is {len(data)} bytes; the limit is {MAX_TEXT_LEN}")
        try:
            data = bytes(data).decode("ascii")
        except UnicodeDecodeError:
            raise MalformedError("lean envelope text is not ASCII (binary frame? use format='lean-raw')") from None
    MalformedError.check_type(data, str, "lean envelope", "text")
    if data.endswith("\r\n"):  # SPEC.md §5: exactly one trailing LF or CRLF is not part of the envelope
        data = data[:-2]
    elif data.endswith("\n"):
        data = data[:-1]
    if len(data) > MAX_TEXT_LEN:
        raise MalformedError(f"lean envelope text is {len(data)} characters; the limit is {MAX_TEXT_LEN}")
    return LeanEnvelope.from_text(data)


__all__ = ["LeanEnvelope", "seal_lean", "open_lean", "derive_iv", "header_byte", "size", "overhead", "TAG_LEN",
           "MIN_RAW_LEN", "MAX_RAW_LEN", "DIRECTIONS"]
