"""Base64 variants, decoded strictly.

``binascii`` accepts a lot (it skips garbage unless told otherwise, tolerates missing padding in some
calls, ignores non-zero trailing bits). These helpers decide exactly what is accepted and raise
:class:`~iotenvelope.errors.MalformedError` with a message naming the problem.
"""

from __future__ import annotations

import base64
import binascii
import re

from ..errors import MalformedError

_STD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URL = re.compile(r"[A-Za-z0-9_-]*")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_VALUE = {c: i for i, c in enumerate(_LETTERS + "-_")}
_VALUE.update({"+": 62, "/": 63})
# a final group of 2 (or 3) characters carries 12 (18) bits of which the last 4 (2) are unused
_UNUSED_BITS = {2: 0x0F, 3: 0x03}
_URL_TO_STD = bytes.maketrans(b"-_", b"+/")
_b64url = base64.urlsafe_b64encode
_URL_STRICT = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = {0: b"", 2: b"==", 3: b"="}  # a length of 1 mod 4 raises KeyError: the slow path explains it
_VALUE_BYTE = {**_VALUE, **{ord(c): v for c, v in _VALUE.items()}}  # by character and by byte
# binascii's strict mode exists from Python 3.11; on older Pythons the fast path is off and the regex path below
# decides alone (the keyword is passed from a dict because nothing here may require more than Python 3.9).
try:
    binascii.a2b_base64(b"", **{"strict_mode": True})
    _STRICT = True
    _a2b = binascii.a2b_base64
except TypeError:
    _STRICT = False
    _a2b = None


# The encoders take any bytes-like object; anything else makes base64 raise TypeError, turned into our error
# only then (sealing calls encode_url for every message: no type check on the way when all is well).

def encode_std(data: bytes) -> str:
    """Standard alphabet, ``=`` padded, one line (RFC 4648 §4)."""
    try:
        return base64.b64encode(data).decode("ascii")
    except TypeError:
        raise MalformedError.wrong_type("data", data, "bytes") from None


def encode_url(data: bytes) -> str:
    """URL-safe alphabet without padding (RFC 4648 §5), as used by envelope v1."""
    try:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
    except TypeError:
        raise MalformedError.wrong_type("data", data, "bytes") from None


def _as_text(text: str | bytes, what: str) -> str:
    if isinstance(text, bytes):
        try:
            return text.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedError(f"{what}: contains non-ASCII bytes") from None
    if not isinstance(text, str):
        raise MalformedError.wrong_type(what, text, "text or bytes")
    return text


def _check_trailing_bits(chars: str, what: str) -> None:
    """Canonical encoding: the unused low bits of a final 2- or 3-character group must be zero.

    ``chars`` is the text without ``=`` padding (either alphabet)."""
    rest = len(chars) % 4
    if rest and _VALUE[chars[-1]] & _UNUSED_BITS[rest]:
        raise MalformedError(f"{what}: non-canonical base64 (unused trailing bits are not zero)")


def try_decode_url(text: str | bytes) -> "bytes | None":
    """The bytes of canonical unpadded base64url ``text``, or None for anything else (then :func:`decode_url`
    says what is wrong). One pass over the text; on Python >= 3.11 only (None before: no strict binascii)."""
    if _STRICT and (text.__class__ is str or text.__class__ is bytes):
        # '+', '/' and '=' become '!', which strict decoding refuses like any other character outside the
        # alphabet (a newline or space too).
        rest = len(text) % 4
        try:
            data = (text.encode("ascii") if text.__class__ is str else text).translate(_URL_STRICT) + _PADDING[rest]
            raw = _a2b(data, strict_mode=True)  # only when _STRICT (Python >= 3.11): tests/test_python_floor.py
        except (binascii.Error, UnicodeEncodeError, KeyError):
            return None
        if not (rest and _VALUE_BYTE[text[-1]] & _UNUSED_BITS[rest]):
            return raw
    return None


def decode_url(text: str | bytes, what: str = "base64url") -> bytes:
    """Strict unpadded base64url: only ``A-Z a-z 0-9 - _``, canonical trailing bits."""
    raw = try_decode_url(text)
    if raw is not None:
        return raw
    text = _as_text(text, what)
    if not _URL.fullmatch(text):
        bad = next(c for c in text if not (c.isascii() and (c.isalnum() or c in "-_")))
        hint = " ('=' padding is not used)" if bad == "=" else (
            " (that is the standard alphabet; envelope v1 uses base64url)" if bad in "+/" else "")
        raise MalformedError(f"{what}: invalid character {bad!r}{hint}")
    if len(text) % 4 == 1:
        raise MalformedError(f"{what}: impossible length {len(text)} (a character is missing or extra)")
    _check_trailing_bits(text, what)
    return binascii.a2b_base64((text + "=" * (-len(text) % 4)).encode("ascii").translate(_URL_TO_STD))


def decode_std(text: str | bytes, what: str = "base64", *, allow_newlines: bool = False) -> bytes:
    """Strict standard base64 with correct ``=`` padding.

    ``allow_newlines`` accepts line-wrapped input (``openssl enc -a`` wraps at 64 characters); any other
    white space or character is an error.
    """
    text = _as_text(text, what)
    if allow_newlines:
        text = text.replace("\r\n", "\n").strip("\n").replace("\n", "")
    if not _STD.fullmatch(text):
        bad = next((c for c in text if not (c.isascii() and (c.isalnum() or c in "+/="))), None)
        if bad is None:
            raise MalformedError(f"{what}: '=' padding in the middle of the text")
        if bad in "\r\n":
            raise MalformedError(f"{what}: contains a line break (line-wrapped base64, e.g. from `openssl -a` without -A)")
        hint = " (that is the url-safe alphabet)" if bad in "-_" else ""
        raise MalformedError(f"{what}: invalid character {bad!r}{hint}")
    if len(text) % 4:
        raise MalformedError(f"{what}: length {len(text)} is not a multiple of 4 ('=' padding missing?)")
    _check_trailing_bits(text.rstrip("="), what)
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise MalformedError(f"{what}: {exc}") from None


def decode_any(text: str | bytes, what: str = "base64") -> bytes:
    """Lenient decoder for user-supplied values: either alphabet, padding optional, line breaks allowed.

    Still rejects characters outside both alphabets and impossible lengths.
    """
    text = _as_text(text, what).strip().replace("\r", "").replace("\n", "").rstrip("=")
    if "+" in text or "/" in text:
        if "-" in text or "_" in text:
            raise MalformedError(f"{what}: mixes the standard and url-safe alphabets")
        text = text.replace("+", "-").replace("/", "_")
    return decode_url(text, what)
