"""Spaniakos AES (the Arduino C++ library ``spaniakos/AES``): the ``spaniakos`` and ``spaniakos-legacy`` profiles.

Measured facts (DESIGN.md section 4, vectors in ``vectors/spaniakos/``, produced by the real library):

* Current library (master since the padding fix of May 2018): AES-CBC with real PKCS#7 for every length. The
  IV travels separately (the library has no wire format). ``do_aes_encrypt`` **overwrites the caller's IV
  buffer** with the last ciphertext block, so a device must serialise the IV *before* the call; ``decrypt``
  never strips or checks the padding (it hands back the padded plaintext).
* Releases before May 2018 computed the padding as if the length included a C string's NUL
  (``size_p - 1``). Called with ``size = strlen(text)`` the **last plaintext byte is silently dropped**; with
  ``size = strlen+1`` (``sizeof``) the result is PKCS#7 except that no padding block is added when the length
  is a multiple of 16.
* The 2016 ESP8266 blog pattern sends ``{"iv": b64(iv), "data": b64(AES-CBC(key, iv, b64(json)))}``.

Both profiles are UNAUTHENTICATED legacy (no MAC): they exist to read and write existing fleets' bytes and to migrate
them to envelope v1. The small functions below are reused by ``iotenvelope diagnose``.
"""

from __future__ import annotations

import argparse
import binascii
import json
import os
import re

from ..primitives import b64, cipher, padding
from ..primitives.textshape import is_json_container, std_base64, text_of
from ..errors import KeyFormatError, MalformedError, PaddingError, UsageError
from ..records import REQUIRED, Factory, Frozen, Record
from ..primitives.keys import parse_aes_key, parse_iv
from . import OpenResult, Option, Profile, Warn, esp8266

BLOCK = padding.BLOCK
ALGORITHM = "spaniakos-aes-cbc"
IV_NOTE = ("the Spaniakos library overwrites the caller's IV buffer with the last ciphertext block: serialise the IV"
           " before calling do_aes_encrypt")
_BYTES = (bytes, bytearray)

# ---- the current library ------------------------------------------------------------------------------


def encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """What ``do_aes_encrypt(plain, len, cipher, key, bits, iv)`` of the current library produces."""
    MalformedError.check_type(plaintext, _BYTES, "plaintext", "bytes")
    return cipher.encrypt(key, iv, plaintext)


def decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """Decrypt and strip PKCS#7 strictly (the library itself does not strip: see :func:`decrypt_raw`)."""
    MalformedError.check_type(ciphertext, _BYTES, "ciphertext", "bytes")
    return cipher.decrypt(key, iv, ciphertext)


def decrypt_raw(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """What ``do_aes_decrypt`` hands back: the plaintext with its padding still attached."""
    MalformedError.check_type(ciphertext, _BYTES, "ciphertext", "bytes")
    return cipher.decrypt_raw(key, iv, ciphertext)


def iv_after(iv: bytes, ciphertext: bytes) -> bytes:
    """The caller's IV buffer after an encrypt or decrypt call: the last ciphertext block (unchanged when the
    library processed nothing). Sending this value instead of the original IV garbles the first block."""
    KeyFormatError.check_type(iv, _BYTES, "iv", "bytes")
    MalformedError.check_type(ciphertext, _BYTES, "ciphertext", "bytes")
    return ciphertext[-BLOCK:] if len(ciphertext) >= BLOCK else iv


def blog_wire(iv: bytes, ciphertext: bytes) -> str:
    """The ESP8266 blog's JSON: ``{"iv": b64(iv), "data": b64(ct)}`` (standard base64, ``json.dumps`` layout)."""
    return json.dumps({"iv": b64.encode_std(iv), "data": b64.encode_std(ciphertext)})


def parse_blog_wire(text: str) -> tuple[bytes, bytes]:
    """``(iv, ciphertext)`` from the blog's JSON object, in either direction (the node sends the IV as base64 of
    its hex text): the parser of the ``esp8266-b64`` profile."""
    iv, _form, ciphertext = esp8266.parse_message(text)
    return iv, ciphertext


def strip_c_nul(plaintext: bytes) -> bytes:
    """The text of a C string sent with ``size = sizeof(text)`` (strlen + 1): the current library encrypts the
    terminating NUL as the last plaintext byte."""
    if not MalformedError.check_type(plaintext, _BYTES, "plaintext", "bytes").endswith(b"\x00"):
        raise MalformedError("--spaniakos-size sizeof: the plaintext does not end in a C string's terminating NUL"
                             " (the sender passed strlen, not sizeof?)")
    return plaintext[:-1]


# ---- the pre-May-2018 library ----------------------------------------------------------------------------


def legacy_layout(size_p: int) -> tuple[int, int]:
    """``(bytes encrypted incl. padding, padding bytes)`` of the old ``calc_size_n_pad(size_p)``: it treated
    ``size_p - 1`` as the data length and added no padding block when that was a multiple of 16."""
    data = max(UsageError.check_int(size_p, "size_p") - 1, 0)
    if data % BLOCK == 0:
        return data, 0
    total = (data // BLOCK + 1) * BLOCK
    return total, total - data


def legacy_encrypt(key: bytes, iv: bytes, buffer: bytes, size_p: int) -> bytes:
    """What the old library produced for ``do_aes_encrypt(buffer, size_p, ...)``; ``buffer`` is the caller's C
    string (its NUL is implied past the end). Only ``size_p - 1`` bytes of it are used."""
    MalformedError.check_type(buffer, _BYTES, "buffer", "bytes")
    total, pad = legacy_layout(size_p)
    data = (buffer + b"\x00")[: total - pad]
    return cipher.encrypt_raw(key, iv, data + bytes([pad]) * pad)


class LegacyOpened(Record):
    """The result of opening an old-library message."""

    FIELDS = (("plaintext", REQUIRED), ("convention", REQUIRED), ("padding_block", REQUIRED),
              ("dropped_last_byte", REQUIRED), ("restorations", Factory(list)))
    HIDDEN = frozenset({"plaintext", "restorations"})
    plaintext: bytes   # the bytes that survived
    convention: str                        # "strlen" or "sizeof"
    padding_block: bool                    # False: the old library added no padding (data length % 16 == 0)
    dropped_last_byte: bool                # True for size = strlen: the original had one byte more
    restorations: list[tuple[bytes, str]]

    def warnings(self) -> list[str]:
        out = []
        if self.dropped_last_byte:
            out.append(f"pre-2018 Spaniakos library called with size=strlen: the last plaintext byte was dropped"
                       f" before encryption; these are the {len(self.plaintext)} bytes that survived (the original"
                       f" had {len(self.plaintext) + 1})")
            if self.restorations:
                out += [f"restorable: {why}" for _, why in self.restorations]
            else:
                out.append("the dropped byte cannot be restored from the ciphertext")
        if not self.padding_block:
            out.append("no padding block: the old library adds none when the data length is a multiple of 16")
        return out


_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_BODY = re.compile(r"[A-Za-z0-9+/]+=?")


class Truncation(Frozen):
    """What the surviving bytes of a ``size = strlen`` message show about the byte that was dropped."""

    FIELDS = (("restored", REQUIRED), ("why", REQUIRED))
    HIDDEN = frozenset({"restored"})
    restored: bytes | None  # the whole message, when exactly one byte fits
    why: str


def truncation(survived: bytes) -> Truncation | None:
    """The signs of a lost last byte, or None when the surviving bytes show none.

    * base64 text whose length is 3 mod 4 (base64 is written in groups of 4): restored with ``=`` when that
      makes it decode to text; otherwise with the one alphabet character that makes it decode to a JSON
      object or array, if exactly one does; otherwise not restorable (several characters give text).
    * a JSON object or array that its closing ``}`` or ``]`` completes.
    """
    MalformedError.check_type(survived, _BYTES, "survived", "bytes")
    try:
        text = survived.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) % 4 == 3 and _B64_BODY.fullmatch(text):
        if _reads_as_text(text + "="):
            why = ("the dropped byte was the second base64 padding '='" if text.endswith("=") else
                   "the dropped byte was probably base64 padding '=' (with it the text is canonical base64)")
            return Truncation(survived + b"=", why)
        if text.endswith("="):
            return None
        readable = [c for c in _B64_ALPHABET if _reads_as_text(text + c)]
        as_json = [c for c in readable if is_json_container(std_base64(text + c))]
        if len(as_json) == 1:
            return Truncation(survived + as_json[0].encode(), "the dropped byte was the base64 character "
                              f"{as_json[0]!r}: the only one that makes the message JSON")
        if readable:
            return Truncation(None, f"the dropped base64 character cannot be restored ({len(readable)} characters"
                                    " complete the text)")
        return None
    if text.lstrip().startswith(("{", "[")) and not is_json_container(survived):
        for closer, what in (("}", "object"), ("]", "array")):
            if is_json_container(survived + closer.encode()):
                return Truncation(survived + closer.encode(),
                                  f"the dropped byte was probably the closing {closer!r} of the JSON {what}")
    return None


def _reads_as_text(base64_text: str) -> bool:
    decoded = std_base64(base64_text)
    return bool(decoded) and text_of(decoded) is not None


def restore_candidates(survived: bytes) -> list[tuple[bytes, str]]:
    """The byte the old library dropped, when the surviving text shows it (see :func:`truncation`):
    ``[(restored bytes, explanation)]``, or ``[]``."""
    found = truncation(survived)
    return [(found.restored, found.why)] if found is not None and found.restored is not None else []


def legacy_open(key: bytes, iv: bytes, ciphertext: bytes, convention: str = "strlen") -> LegacyOpened:
    """Open a message from the pre-May-2018 library. ``convention`` is how the sender passed the size:
    ``strlen`` (most callers; the last byte is lost) or ``sizeof`` (strlen + 1; nothing is lost)."""
    if UsageError.check_type(convention, str, "convention", "'strlen' or 'sizeof'") not in ("strlen", "sizeof"):
        raise UsageError(f"size convention {convention!r} is not 'strlen' or 'sizeof'")
    KeyFormatError.check_type(key, _BYTES, "key", "bytes")
    KeyFormatError.check_type(iv, _BYTES, "iv", "bytes")
    if len(MalformedError.check_type(ciphertext, _BYTES, "ciphertext", "bytes")) % BLOCK:
        raise MalformedError(f"ciphertext length {len(ciphertext)} is not a multiple of 16")
    if not ciphertext:  # strlen of a 1-byte text: the old library encrypted nothing
        return LegacyOpened(b"", convention, False, convention == "strlen")
    raw = cipher.decrypt_raw(key, iv, ciphertext)
    try:
        survived, block = padding.pkcs7_unpad(raw), True
    except PaddingError:
        survived, block = raw, False  # the data length was a multiple of 16: no padding was added
    dropped = convention == "strlen"
    return LegacyOpened(survived, convention, block, dropped, restore_candidates(survived) if dropped else [])


# ---- profiles -------------------------------------------------------------------------------------------

WIRE_HELP = "spaniakos profiles: ciphertext text form: b64 (default), hex, or blog ({\"iv\": ..., \"data\": ...})"


def _key(opts: argparse.Namespace, name: str) -> bytes:
    if getattr(opts, "passphrase", None) is not None:
        raise UsageError(f"{name} takes a raw AES key with --key (hex or b64:); the library has no passphrase mode")
    if getattr(opts, "key", None) is None:
        raise UsageError(f"{name} needs --key (the AES key, hex or b64:...)")
    return parse_aes_key(opts.key)


def _iv(opts: argparse.Namespace, required: bool) -> bytes | None:
    if getattr(opts, "iv", None) is None:
        if required:
            raise UsageError("the IV travels separately in this convention: give it with --iv (hex or b64:)")
        return None
    iv = parse_iv(opts.iv)
    if len(iv) != BLOCK:
        raise KeyFormatError(f"IV is {len(iv)} bytes; AES-CBC needs 16")
    return iv


def _encode(iv: bytes, ciphertext: bytes, wire: str) -> str:
    if wire == "blog":
        return blog_wire(iv, ciphertext)
    return ciphertext.hex() if wire == "hex" else b64.encode_std(ciphertext)


def _decode(text: str, wire: str, opts: argparse.Namespace) -> tuple[bytes, bytes]:
    if wire == "blog":
        iv, ct = parse_blog_wire(text)
        given = _iv(opts, required=False)
        if given is not None and given != iv:
            raise UsageError("--iv differs from the iv member of the message")
        return iv, ct
    iv = _iv(opts, required=True)
    if wire == "hex":
        try:
            return iv, binascii.unhexlify(text.strip())
        except (binascii.Error, ValueError):
            raise MalformedError("ciphertext is not hex") from None
    return iv, b64.decode_std(text.strip(), "ciphertext")


class Spaniakos(Profile):
    name = "spaniakos"
    summary = "Spaniakos AES (Arduino C++, 2018+): AES-CBC + PKCS#7, IV sent separately (--iv); no MAC"
    authenticated = False
    options = (
        Option(("--spaniakos-wire",), dict(choices=("b64", "hex", "blog"), default="b64", help=WIRE_HELP)),
        Option(("--spaniakos-size",), dict(choices=("strlen", "sizeof"), default="strlen",
                                           help="spaniakos profiles: the size the sender passed to do_aes_encrypt:"
                                                " strlen (default) or sizeof = strlen+1 (current library: the C"
                                                " string's NUL is encrypted too; open removes it)")),
        Option(("--spaniakos-restore",), dict(action="store_true",
                                              help="spaniakos-legacy, size strlen: print the message with its dropped"
                                                   " last byte put back (fails unless the bytes show which it was)"),
               ("open",)),
    )

    def seal(self, plaintext: bytes, opts: argparse.Namespace, warn: Warn, index: int = 0) -> str:
        key = _key(opts, self.name)
        iv = _iv(opts, required=False)
        wire = opts.spaniakos_wire
        if iv is None:
            iv = os.urandom(BLOCK)
            if wire != "blog":
                warn(f"IV (send it with the message): {iv.hex()}")
        if index == 0:
            warn(IV_NOTE)
        return _encode(iv, self.encrypt(key, iv, plaintext, opts, warn), wire)

    def encrypt(self, key: bytes, iv: bytes, plaintext: bytes, opts: argparse.Namespace, warn: Warn) -> bytes:
        sizeof = getattr(opts, "spaniakos_size", "strlen") == "sizeof"
        return encrypt(key, iv, plaintext + b"\x00" if sizeof else plaintext)

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        key = _key(opts, self.name)
        iv, ct = _decode(text, opts.spaniakos_wire, opts)
        plain = decrypt(key, iv, ct)
        if getattr(opts, "spaniakos_size", "strlen") == "sizeof":
            plain = strip_c_nul(plain)
        return OpenResult(plain, {"profile": self.name, "iv_after": iv_after(iv, ct).hex()})


class SpaniakosLegacy(Spaniakos):
    name = "spaniakos-legacy"
    summary = ("Spaniakos AES before May 2018: size=strlen drops the last byte (opened with a warning), "
               "no padding block at multiples of 16; no MAC")
    options = ()

    def encrypt(self, key: bytes, iv: bytes, plaintext: bytes, opts: argparse.Namespace, warn: Warn) -> bytes:
        size_p = len(plaintext) + (1 if opts.spaniakos_size == "sizeof" else 0)
        if opts.spaniakos_size == "strlen" and plaintext:
            warn("reproducing the pre-2018 library with size=strlen: the last plaintext byte is dropped")
        return legacy_encrypt(key, iv, plaintext, size_p)

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        key = _key(opts, self.name)
        iv, ct = _decode(text, opts.spaniakos_wire, opts)
        opened = legacy_open(key, iv, ct, opts.spaniakos_size)
        for message in opened.warnings():
            warn(message)
        meta = {"profile": self.name, "dropped_last_byte": opened.dropped_last_byte,
                "padding_block": opened.padding_block,
                "restored": [r.decode("latin-1") for r, _ in opened.restorations]}
        if not getattr(opts, "spaniakos_restore", False):
            return OpenResult(opened.plaintext, meta)
        if not opened.dropped_last_byte:
            raise UsageError("--spaniakos-restore goes with --spaniakos-size strlen (with sizeof nothing is lost)")
        if len(opened.restorations) != 1:
            raise MalformedError("--spaniakos-restore: the bytes that survived do not show which byte was dropped;"
                                 " open without --spaniakos-restore to get them")
        restored, why = opened.restorations[0]
        warn(f"printing the message with its dropped byte put back: {why}")
        return OpenResult(restored, meta)


ORDER = 40
PROFILES = [Spaniakos(), SpaniakosLegacy()]
