"""The ``dweeter`` profile: the wire convention of the ``dweeter`` 0.3.0 package (PyPI, MIT), byte for byte.

dweeter sends a JSON object through the public dweet.io service. Its conventions, as measured on the real
package (DESIGN.md §4, ``vectors/dweeter/``):

* ``SHA-256(passphrase)`` is split in two halves: key = first half, IV = second half (AES-128-CBC, PKCS#7).
  With ``use_base64`` the halves are swapped (key = second half, IV = first half).
* The dweet.io *thing* name is ``hex(AES-CBC(mailbox))`` - the IV is fixed, so this is deterministic.
* The data object gets ``remote_time`` set to the sender's UTC clock, ``YYYY-MM-DDTHH:MM:SS.000Z``
  (replacing a value already there, in place), is serialised with Python's ``json.dumps`` defaults, and
  is sent as the one-entry content object ``{enc(E(remote_time)): enc(E(json))}`` where ``enc`` is lowercase
  hex, or standard padded base64 in base64 mode. The thing name is hex in both modes.
* The receiver decrypts key and value and refuses the message unless the decrypted key equals the
  ``remote_time`` inside the data. That is the only integrity check: there is no MAC, the IV never changes
  (equal plaintexts give equal ciphertexts) and replay protection is an in-memory "newer than the last
  ``created`` time" comparison in the receiving process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time

from ..primitives import b64, cipher
from ..errors import AuthenticationError, KeyFormatError, MalformedError, PaddingError, UsageError
from ..records import REQUIRED, Record
from . import OpenResult, Option, Profile, Warn

NAME = "dweeter"
VERSION = "0.3.0"  # the dweeter release this profile reproduces
TIME_FORMAT = "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.000Z"
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


def derive(passphrase: str, base64_mode: bool = False) -> tuple[bytes, bytes]:
    """(AES-128 key, fixed IV) for a dweeter mailbox key string."""
    KeyFormatError.check_type(passphrase, str, "dweeter: passphrase (the mailbox key)", "text")
    try:
        digest = hashlib.sha256(passphrase.encode("utf-8")).digest()
    except UnicodeEncodeError:
        raise KeyFormatError("dweeter: the mailbox key is not valid UTF-8 text (lone surrogate)") from None
    first, second = digest[:16], digest[16:]
    return (second, first) if base64_mode else (first, second)


def time_string(ts: int) -> str:
    """dweeter's ``remote_time`` text for Unix time ``ts`` (UTC, whole seconds)."""
    UsageError.check_int(ts, "dweeter: ts")
    try:
        parts = time.gmtime(ts)[:6]
    except (OverflowError, OSError, ValueError, TypeError):
        raise UsageError(f"dweeter: timestamp {ts!r} cannot be expressed as a UTC date") from None
    return TIME_FORMAT.format(*parts)


def encode_field(raw: bytes, base64_mode: bool) -> str:
    MalformedError.check_type(raw, (bytes, bytearray), "dweeter: raw", "bytes")
    return b64.encode_std(raw) if base64_mode else raw.hex()


def decode_field(text: object, base64_mode: bool, what: str) -> bytes:
    MalformedError.check_type(text, str, f"dweeter: {what}", "a string")
    if base64_mode:
        return b64.decode_std(text, f"dweeter {what}")
    if not _HEX.fullmatch(text):
        raise MalformedError(f"dweeter: {what} is not hex (a base64-mode message? try --base64)")
    return bytes.fromhex(text)


def thing_name(mailbox: str, passphrase: str, base64_mode: bool = False) -> str:
    """The dweet.io thing a mailbox maps to (always hex, in both modes)."""
    _check_mailbox(mailbox)
    key, iv = derive(passphrase, base64_mode)
    return cipher.encrypt(key, iv, mailbox.encode("utf-8")).hex()


def _check_mailbox(mailbox: object) -> None:
    UsageError.check_type(mailbox, str, "dweeter: mailbox", "text")
    if not _utf8_safe(mailbox):  # type: ignore[arg-type]
        raise UsageError("dweeter: the mailbox name is not valid UTF-8 text (lone surrogate)")


def seal_data(data: dict, passphrase: str, mailbox: str, ts: int, base64_mode: bool = False) -> dict:
    """What ``Dweeter(mailbox, passphrase, use_base64=base64_mode).send_data(data)`` posts at time ``ts``:
    ``{"thing": <thing name>, "content": {<enc(ts)>: <enc(json)>}}``."""
    MalformedError.check_type(data, dict, "dweeter: data", "a JSON object (dict)")
    _check_mailbox(mailbox)
    key, iv = derive(passphrase, base64_mode)
    stamp = time_string(ts)
    body = dict(data)
    body["remote_time"] = stamp
    try:
        text = json.dumps(body)
    except (TypeError, ValueError):
        raise MalformedError("dweeter: the data is not JSON-serialisable") from None
    content = {encode_field(cipher.encrypt(key, iv, stamp.encode("utf-8")), base64_mode):
               encode_field(cipher.encrypt(key, iv, text.encode("utf-8")), base64_mode)}
    return {"thing": thing_name(mailbox, passphrase, base64_mode), "content": content}


class Received(Record):
    FIELDS = (("data", REQUIRED), ("remote_time", REQUIRED), ("thing", None), ("created", None))
    HIDDEN = frozenset({"data"})
    data: dict  # the sender's data incl. remote_time (and created_time when a dweet object was given)
    remote_time: str
    thing: str | None
    created: str | None


def _decrypt_text(key: bytes, iv: bytes, raw: bytes, what: str) -> str:
    try:
        plain = cipher.decrypt(key, iv, raw)
    except PaddingError:
        raise PaddingError(f"dweeter: {what} does not decrypt to valid padding (wrong passphrase, or a --base64"
                           " mismatch: base64 mode swaps key and IV)") from None
    except MalformedError as exc:
        raise MalformedError(f"dweeter: {what}: {exc}") from None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError(f"dweeter: decrypted {what} is not UTF-8 text (wrong passphrase?)") from None


def _utf8_safe(text: str | None) -> bool:
    """False for text with a lone surrogate (a JSON \\udXXX escape): it cannot be written out as UTF-8."""
    if text is None:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def split_message(obj: object) -> tuple[dict, str | None, str | None]:
    """Accept a content object ``{k: v}`` or a dweet object ``{"thing", "created", "content": {k: v}}``;
    return (content, thing, created)."""
    MalformedError.check_type(obj, dict, "dweeter: obj", "a JSON object (the dweet content, or a dweet with 'content')")
    if isinstance(obj.get("content"), dict):
        thing, created = obj.get("thing"), obj.get("created")
        if (thing is not None and not isinstance(thing, str)) or (created is not None and not isinstance(created, str)):
            raise MalformedError("dweeter: 'thing' and 'created' must be strings")
        if not _utf8_safe(thing) or not _utf8_safe(created):
            raise MalformedError("dweeter: 'thing' or 'created' holds a lone surrogate escape (not UTF-8 text)")
        return obj["content"], thing, created
    return obj, None, None


def open_message(obj: object, passphrase: str, base64_mode: bool = False, mailbox: str | None = None) -> Received:
    """Decrypt a dweet the way ``Dweeter.get_new_data`` does, strictly (PKCS#7 checked, one entry only)."""
    content, thing, created = split_message(obj)
    if mailbox is not None:
        _check_mailbox(mailbox)
    if len(content) != 1:
        raise MalformedError(f"dweeter: the content object has {len(content)} entries; a dweeter message has 1")
    key, iv = derive(passphrase, base64_mode)
    if mailbox is not None and thing is not None and thing != thing_name(mailbox, passphrase, base64_mode):
        raise AuthenticationError("dweeter: the dweet's thing is not this --mailbox under this passphrase and mode")
    (enc_key, enc_value), = content.items()
    stamp = _decrypt_text(key, iv, decode_field(enc_key, base64_mode, "content key"), "content key")
    text = _decrypt_text(key, iv, decode_field(enc_value, base64_mode, "content value"), "content value")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedError("dweeter: decrypted content value is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedError("dweeter: decrypted content value is not a JSON object")
    if not _utf8_safe(json.dumps(data, ensure_ascii=False)):
        raise MalformedError("dweeter: decrypted content value holds a lone surrogate escape (not UTF-8 text)")
    if data.get("remote_time") != stamp:
        raise AuthenticationError("dweeter: remote_time inside the data differs from the encrypted content key"
                                  " (a spliced or altered message)")
    if created is not None:
        data["created_time"] = created
    return Received(data, stamp, thing, created)


def _passphrase(opts: argparse.Namespace) -> str:
    if getattr(opts, "key", None) is not None:
        raise UsageError("dweeter takes the mailbox key as text: use --passphrase, not --key")
    if getattr(opts, "passphrase", None) is None:
        raise UsageError("dweeter needs --passphrase (the dweeter mailbox key string)")
    if getattr(opts, "iv", None) is not None:
        raise UsageError("dweeter derives its fixed IV from the passphrase; --iv does not apply")
    return opts.passphrase


def _json(text: str | bytes, what: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise MalformedError(f"dweeter: {what} is not JSON") from None


class Dweeter(Profile):
    name = NAME
    summary = f"dweeter {VERSION} (dweet.io): SHA-256(passphrase) halves as key/IV, fixed IV, no MAC"
    authenticated = False
    options = (
        Option(("--mailbox",), dict(help="dweeter: the mailbox name (seal: required; open: checks a dweet's thing)")),
        Option(("--base64",), dict(action="store_true",
                                   help="dweeter: base64 content encoding (use_base64=True; swaps key and IV)")),
    )

    def seal(self, plaintext: bytes, opts: argparse.Namespace, warn: Warn, index: int = 0) -> str:
        passphrase = _passphrase(opts)
        if getattr(opts, "mailbox", None) is None:
            raise UsageError("dweeter needs --mailbox")
        data = _json(plaintext, "the data on stdin")
        ts = int(time.time()) if getattr(opts, "ts", None) is None else opts.ts
        return json.dumps(seal_data(data, passphrase, opts.mailbox, ts, bool(opts.base64)))

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        passphrase = _passphrase(opts)
        got = open_message(_json(text, "the message on stdin"), passphrase, bool(getattr(opts, "base64", False)),
                           getattr(opts, "mailbox", None))
        meta = {"remote_time": got.remote_time}
        if got.thing is not None:
            meta["thing"] = got.thing
        if got.created is not None:
            meta["created_time"] = got.created
        return OpenResult(json.dumps(got.data, ensure_ascii=False).encode("utf-8"), meta)


ORDER = 60
PROFILES = [Dweeter()]

