"""The JSON form (SPEC.md §5.2), with a decoder whose cost is linear in the input.

The decoder is a small scanner for the one shape a JSON envelope can have: an object of at most nine members,
each holding a string, an integer (or, to be refused with a precise message, a fraction, ``true``, ``false`` or
``null``). It stops at the first member name that is unknown or already seen (so a tenth member is never read),
at the first ``{`` or ``[`` in value position (so nesting depth never matters), and it never converts a number
of more than ten digits. Strings are read by :func:`json.decoder.scanstring` (the standard library's own, in
C), so escapes mean exactly what they mean to :func:`json.loads`. The text cap of SPEC.md §5 is checked before
any of this.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring

from ..errors import MalformedError, UnsupportedVersionError, untrusted
from ..primitives import b64
from .fields import (DIRECTIONS, JSON_MEMBERS, TYPES, VERSION, Envelope, _check_u32, check_device,
                     envelope_text)

_MEMBERS = frozenset(JSON_MEMBERS)
_WS = re.compile(r"[ \t\n\r]*")
# JSON's number grammar; the groups say whether a fraction or an exponent is present
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS = (("true", True), ("false", False), ("null", None))
_MAX_DIGITS = len(str(0xFFFFFFFF))


def to_dict(env: Envelope) -> dict:
    return {"v": env.version, "dir": env.direction, "type": env.type, "dev": env.device, "seq": env.seq,
            "ts": env.ts, "iv": b64.encode_url(env.iv), "ct": b64.encode_url(env.ct),
            "tag": b64.encode_url(env.tag)}


def to_text(env: Envelope) -> str:
    return json.dumps(to_dict(env))


def from_dict(obj: object) -> Envelope:
    """Build an envelope from an already-parsed JSON object (a dict of the nine members)."""
    if not isinstance(obj, dict):
        raise MalformedError(f"JSON envelope must be an object, got {type(obj).__name__}")
    missing = [k for k in JSON_MEMBERS if k not in obj]
    extra = [k for k in obj if k not in _MEMBERS]
    if extra:
        raise MalformedError(f"JSON envelope: unexpected member {untrusted(extra[0])}"
                             + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    if missing:
        raise MalformedError(f"JSON envelope: missing {', '.join(missing)}")
    if type(obj["v"]) is not int:
        raise MalformedError("JSON envelope: v must be the integer 1")
    if obj["v"] != VERSION:
        raise UnsupportedVersionError(f"envelope version {untrusted(obj['v'])} is not supported (this is v{VERSION})")
    for name in ("dir", "type", "dev", "iv", "ct", "tag"):
        if not isinstance(obj[name], str):
            raise MalformedError(f"JSON envelope: {name} must be a string")
    if obj["dir"] not in DIRECTIONS:
        raise MalformedError(f"JSON envelope: dir {untrusted(obj['dir'])} is not 'up' or 'down'")
    if obj["type"] not in TYPES:
        raise MalformedError(f"JSON envelope: type {untrusted(obj['type'])} is not one of {', '.join(TYPES)}")
    return Envelope(obj["dir"], obj["type"], check_device(obj["dev"]), _check_u32(obj["seq"], "seq"),
                    _check_u32(obj["ts"], "ts"), b64.decode_url(obj["iv"], "iv"), b64.decode_url(obj["ct"], "ct"),
                    b64.decode_url(obj["tag"], "tag"))


def _at(text: str, pos: int) -> str:
    if pos >= len(text):
        return "the end of the text"
    return f"{untrusted(text[pos:pos + 10], 10)} at offset {pos}"


def _value(text: str, pos: int, name: str) -> "tuple[object, int]":
    """One member value starting at ``pos`` (white space already skipped) -> (value, position after it)."""
    ch = text[pos:pos + 1]
    if ch == '"':
        try:
            return scanstring(text, pos + 1, True)
        except ValueError as exc:
            raise MalformedError(f"JSON envelope: member {name} holds a bad string ({exc.args[0].split(':')[0]})") from None
    if ch in ("{", "["):
        raise MalformedError(f"JSON envelope: member {name} holds an object or array; every member is a string or"
                             " an integer")
    m = _NUMBER.match(text, pos)
    if m:
        if m.group(1) or m.group(2):
            raise MalformedError(f"JSON envelope: {name} must be an integer, got a number with a fraction or exponent")
        digits = m.group().lstrip("-")
        if len(digits) > _MAX_DIGITS:
            raise MalformedError(f"JSON envelope: {name} has {len(digits)} digits; it must be in 0..4294967295")
        return int(m.group()), m.end()
    for word, value in _LITERALS:
        if text.startswith(word, pos):
            return value, pos + len(word)
    raise MalformedError(f"not JSON: expected a value for member {name}, found {_at(text, pos)}")


def parse(text: str) -> Envelope:
    """Decode JSON text that :func:`fields.envelope_text` already prepared (newline stripped, cap checked)."""
    ws = _WS.match
    pos = ws(text, 0).end()
    if text[pos:pos + 1] != "{":
        what = {"[": "an array", '"': "a string", "": "nothing"}.get(text[pos:pos + 1], "no object")
        raise MalformedError(f"JSON envelope must be an object, got {what}")
    obj: dict = {}
    pos = ws(text, pos + 1).end()
    if text[pos:pos + 1] == "}":
        pos += 1
    else:
        while True:
            if text[pos:pos + 1] != '"':
                raise MalformedError(f"not JSON: expected a member name, found {_at(text, pos)}")
            try:
                name, pos = scanstring(text, pos + 1, True)
            except ValueError as exc:
                raise MalformedError(f"not JSON: bad member name ({exc.args[0].split(':')[0]})") from None
            if name not in _MEMBERS:
                raise MalformedError(f"JSON envelope: unexpected member {untrusted(name)}")
            if name in obj:
                raise MalformedError(f"JSON envelope: duplicated member {name}")
            pos = ws(text, pos).end()
            if text[pos:pos + 1] != ":":
                raise MalformedError(f"not JSON: expected ':' after member {name}, found {_at(text, pos)}")
            obj[name], pos = _value(text, ws(text, pos + 1).end(), name)
            pos = ws(text, pos).end()
            sep = text[pos:pos + 1]
            pos = ws(text, pos + 1).end()
            if sep == "}":
                break
            if sep != ",":
                raise MalformedError(f"not JSON: expected ',' or '}}' after member {name}, found {_at(text, pos - 1)}")
    pos = ws(text, pos).end()
    if pos != len(text):
        raise MalformedError(f"not JSON: text continues after the object ({_at(text, pos)})")
    return from_dict(obj)


def from_text(text: str | bytes) -> Envelope:
    """Decode JSON envelope text (one trailing LF or CRLF is stripped first, SPEC.md §5)."""
    return parse(envelope_text(text))


__all__ = ["to_dict", "to_text", "from_dict", "from_text"]
