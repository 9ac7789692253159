"""``iotenvelope diagnose``: why don't these bytes decrypt?

Given a ciphertext or a whole message and the key material the user believes is right, try every profile and
every known mistake, and report what explains the bytes, best first.

How a finding is judged
-----------------------
A wrong key still yields valid PKCS#7 padding about once in 256 tries, and this search makes hundreds of
tries, so "it unpadded" proves nothing. Every candidate decryption is scored in *bits of evidence*: how
unlikely the observed structure is for random bytes.

* PKCS#7 padding of length p: 8·p bits (zero padding: 8 bits per NUL; no padding: 0).
* Text: every byte printable ASCII/whitespace is ~1.39 bits (98 of 256 values); a valid non-ASCII UTF-8
  character 6 bits. A JSON object or array adds 12 bits. Base64 text is 2 bits per character plus the
  evidence of what it decodes to (the ESP8266 "base64, then encrypt" pattern).
* A message authentication code that verifies (envelope v1, Fernet) is 128 bits; dweeter's
  ``remote_time`` matching the encrypted key adds 64.

A candidate becomes a finding only with content evidence (text, JSON, base64 text, a MAC, dweeter's
structure) on top of valid padding - or, for the one convention that has none (the pre-2018 Spaniakos
library's missing pad block), on its own - and only when its bits exceed ``log2(number of tries) +
MARGIN_BITS``. Every padding reading of every decryption counts as a try, so the chance that any of them
produced a finding by accident is below 2^-MARGIN_BITS. Confidence is that evidence turned into a
probability, times 0.9 for every mistake the finding has to assume (fewer assumptions rank first), times 0.5
for a partial recovery.

Profiles
--------
Profile conventions come from the profile modules (``profiles.cryptojs``: KDFs, key sizes, ``-nosalt``, IV
normalisation; ``profiles.spaniakos``: the pre-2018 dropped byte and its restoration; ``profiles.esp8266``: the
blog object; ``profiles.dweeter``: its key halves and messages; ``envelope``, ``fernet``). Every complete
finding names a profile and options of this build's ``iotenvelope open``, and diagnose checks them: it opens
the input (or :attr:`Finding.stdin`) with exactly those options and sets :attr:`Finding.cli_ready` only when
that prints the recovered bytes (:attr:`Finding.output`).
"""

from __future__ import annotations

import binascii
import hashlib
import json
import math
import re
import shlex
import time
from dataclasses import dataclass, field
from typing import Union

from ..primitives import b64, cipher, keys, openssl, padding, textshape
from .. import envelope
from . import fernet_token as fernet
from ..errors import IotEnvelopeError, KeyFormatError, MalformedError, UsageError, untrusted
from . import cryptojs, dweeter as dweeter_profile, esp8266, no_warn, spaniakos
from . import arduino_aes, cryptojs_pbkdf2, diagnose_legacy as legacy

MARGIN_BITS = 20
#: the longest input diagnose looks at: the SPEC.md §5 text cap plus one CR LF (longer input is refused unread)
MAX_INPUT = envelope.MAX_TEXT + 2
MISTAKE_PRIOR = 0.9
PARTIAL_FACTOR = 0.5
BLOCK = padding.BLOCK
ZERO_IV = bytes(BLOCK)
#: a printable ASCII character or tab/LF/CR: 98 of the 256 byte values
_ASCII_TEXT_BITS = math.log2(256 / (0x7f - 0x20 + len(textshape.TEXT_CONTROLS)))
_B64_STD = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")

#: Mistake tags (stable: scripts and tests match on them) and what each means.
MISTAKES = {
    "key-as-passphrase": "the key text was used as a passphrase (crypto-js treats every string key as one)",
    "passphrase-as-key": "the passphrase was not used as a passphrase but as the raw key",
    "key-text-as-bytes": "the key's text characters themselves were the key, not the bytes they spell in hex",
    "hashed-passphrase": "the key is a hash of the passphrase",
    "aes-128-vs-256": "AES key size differs from what you assumed",
    "kdf-sha256": "EVP_BytesToKey with SHA-256 (OpenSSL >= 1.1 default without -md md5; crypto-js 4.2 hasher)",
    "kdf-sha1": "EVP_BytesToKey with SHA-1",
    "kdf-pbkdf2": "PBKDF2 instead of EVP_BytesToKey (openssl enc -pbkdf2)",
    "no-salt": "no Salted__ header: openssl enc -nosalt (crypto-js cannot read this: it makes up a random salt)",
    "iv-short": "the IV is shorter than 16 bytes and was zero-padded (crypto-js does this silently)",
    "iv-long": "the IV is longer than 16 bytes and was truncated (crypto-js does this silently)",
    "iv-hex-text": "the IV's hex text was used as characters (Utf8.parse instead of Hex.parse)",
    "iv-prepended": "the IV travels as the first 16 bytes of the ciphertext",
    "iv-zero": "the IV is all zero bytes",
    "iv-is-key": "the key doubles as the IV",
    "iv-wrong": "the key is right but the IV is not (or not given): only blocks 2..n decrypt, shown below; find the "
                "real IV (sent separately? derived?) to recover the first 16 bytes - or, if the sender put the IV "
                "in front of the ciphertext, what is shown is the whole message",
    "double-base64": "the ciphertext was base64-encoded twice",
    "hex-in-base64": "base64 of the ciphertext's hex text",
    "urlsafe-base64": "url-safe base64 alphabet (-_) instead of the standard one (+/)",
    "wrapped-base64": "line-wrapped base64 (openssl -a without -A; crypto-js silently returns \"\")",
    "base64-padding-missing": "base64 without its '=' padding",
    "zero-padding": "zero (NUL) padding instead of PKCS#7",
    "no-pad-block": "no padding at all: the length was a multiple of 16 and no pad block was added (pre-2018 "
                    "Spaniakos called with size = strlen+1, or a library that does not pad: DavyLandman AESLib, "
                    "tiny-AES-c, AESLib's Array padding at multiples of 16)",
    "dropped-last-byte": "the last plaintext byte is missing (pre-2018 Spaniakos called with size = strlen)",
    "c-string-nul": "the C string's terminating NUL was encrypted too (size = sizeof, i.e. strlen+1; intrbiz "
                    "arduino-crypto always does this: --profile intrbiz-crypto reads it as well)",
    "base64-plaintext": "the plaintext is base64 of the message (the ESP8266 'base64, then encrypt' pattern)",
    "dweeter-halves": "dweeter's key derivation: SHA-256(passphrase) split into key and IV",
    "dweeter-mode": "dweeter's other encoding mode (--base64 swaps the key and IV halves)",
    "wrong-epoch": "the device clock counts from 2000 (MicroPython on ESP8266/ESP32): add 946684800",
    "clock-ahead": "the sender's clock is ahead of this one",
    "stale": "the message is older than the default 24 h freshness bound",
    "wrong-direction": "the envelope travels the other way (--direction)",
    "envelope-reencoded": "the compact envelope was re-encoded (standard base64 or '=' padding)",
    **legacy.MISTAKES,
}


@dataclass
class Finding:
    profile: str
    confidence: float
    mistakes: tuple[str, ...]
    plaintext: bytes = field(repr=False)   # reprs leave out plaintext and key material (options hold --key ...)
    options: list[str] = field(repr=False)
    stdin: str | None = field(default=None, repr=False)  # what to pipe into `iotenvelope open` when it differs
    message: bytes | None = field(default=None, repr=False)  # the inner message when a layer (base64) was removed
    evidence: str = ""
    detail: str = ""                   # extra explanation specific to this finding
    partial: bool = False
    bits: float = 0.0
    prints: str = "plaintext"          # what `open` prints: "plaintext", or "message" (esp8266-b64 decodes it)
    cli_ready: bool = False            # set by the search: `open` with these options printed :attr:`output`

    @property
    def explanation(self) -> str:
        parts = [MISTAKES[m] for m in self.mistakes]
        if self.detail:
            parts.append(self.detail)
        return "; ".join(parts) if parts else "nothing wrong: this is the profile's normal convention"

    @property
    def output(self) -> bytes | None:
        """The bytes ``iotenvelope open`` with :meth:`command` prints (None for a partial finding)."""
        if self.partial:
            return None
        return self.message if self.prints == "message" else self.plaintext

    def command(self) -> list[str]:
        return ["iotenvelope", "open", "--profile", self.profile, *self.options] if not self.partial else []

    def as_json(self) -> dict:
        out = {"profile": self.profile, "confidence": round(self.confidence, 4), "explanation": self.explanation,
               "mistakes": list(self.mistakes), **_text_or_b64("plaintext", self.plaintext),
               "options": ["--profile", self.profile, *self.options] if not self.partial else [],
               "cli_ready": self.cli_ready, "evidence": self.evidence, "partial": self.partial}
        if not self.partial:
            out["prints"] = self.prints
        if self.stdin is not None:
            out["stdin"] = self.stdin
        if self.message is not None:
            out.update(_text_or_b64("message", self.message))
        return out


def _text_or_b64(name: str, data: bytes) -> dict:
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_b64": b64.encode_std(data)}


# -- evidence -------------------------------------------------------------------------------------------------

@dataclass
class Evidence:
    bits: float
    kind: str                 # "json", "text", "base64", "" (none)
    message: bytes | None = None


def text_bits(data: bytes) -> float | None:
    """Bits of evidence that ``data`` is text: None when it is not printable UTF-8."""
    text = textshape.text_of(data)
    if text is None:
        return None
    return sum(_ASCII_TEXT_BITS if ord(ch) < 128 else 6.0 for ch in text)


def evidence(data: bytes) -> Evidence:
    """How strongly ``data`` looks like a real plaintext (see the module docstring)."""
    bits = text_bits(data)
    if bits is None:
        return Evidence(0.0, "")
    text = data.decode("utf-8")
    if len(text) >= 4 and _B64_STD.fullmatch(text):
        inner = textshape.std_base64(text)
        if inner is not None:
            inner_ev = evidence(inner)
            if inner_ev.kind:
                return Evidence(2.0 * len(text) + inner_ev.bits, "base64", inner)
    if textshape.is_json_container(data):
        return Evidence(bits + 12.0, "json")
    return Evidence(bits, "text")


# -- candidate inputs -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Blob:
    """One reading of the input as ciphertext bytes."""

    data: bytes
    mistakes: tuple[str, ...] = ()
    canonical: bool = True    # False when `open` needs the re-encoded text in Finding.stdin


def _decodings(text: str) -> list[Blob]:
    """Every plausible byte reading of a ciphertext text (base64 variants, hex, nested encodings)."""
    out: list[Blob] = []
    stripped = text.strip()
    try:
        out.append(Blob(b64.decode_std(stripped)))
    except MalformedError:
        mistakes = []
        if "\n" in stripped or "\r" in stripped:
            mistakes.append("wrapped-base64")
        if "-" in stripped or "_" in stripped:
            mistakes.append("urlsafe-base64")
        flat = re.sub(r"\s+", "", stripped)
        if len(flat.rstrip("=")) % 4 and not flat.endswith("="):
            mistakes.append("base64-padding-missing")
        if mistakes:
            try:
                out.append(Blob(b64.decode_any(flat), tuple(mistakes), canonical=False))
            except MalformedError:
                pass
    if _HEX.fullmatch(stripped):
        out.append(Blob(binascii.unhexlify(stripped), canonical=False))
    nested = []
    for blob in out:
        try:
            inner_text = blob.data.decode("ascii")
        except UnicodeDecodeError:
            continue
        if _B64_STD.fullmatch(inner_text) and len(inner_text) % 4 == 0:
            inner = textshape.std_base64(inner_text)
            if inner is not None:
                nested.append(Blob(inner, blob.mistakes + ("double-base64",), False))
        if _HEX.fullmatch(inner_text):
            nested.append(Blob(binascii.unhexlify(inner_text), blob.mistakes + ("hex-in-base64",), False))
    return [b for b in out + nested if b.data]


# -- key material ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RawKey:
    key: bytes = field(repr=False)
    mistakes: tuple[str, ...] = ()
    iv: bytes | None = field(default=None, repr=False)  # an IV that comes with this key derivation (dweeter halves)


def _raw_keys(key_text: str | None, passphrase: str | None) -> list[RawKey]:
    """AES keys (without a salt) the user's key material may stand for."""
    out: list[RawKey] = []

    def add(k: bytes, mistakes: tuple[str, ...] = (), iv: bytes | None = None) -> None:
        if len(k) in keys.AES_KEY_SIZES and all(k != r.key or iv != r.iv for r in out):
            out.append(RawKey(k, mistakes, iv))

    if key_text is not None:
        try:
            parsed = keys.parse_bytes(key_text, "key")
        except KeyFormatError:
            parsed = None
        if parsed is not None:
            add(parsed)
            if len(parsed) == 32:
                add(parsed[:16], ("aes-128-vs-256",))
        add(key_text.encode("utf-8"), ("key-text-as-bytes",))
    if passphrase is not None:
        raw = passphrase.encode("utf-8")
        add(raw, ("passphrase-as-key",))
        if len(raw) > 32:
            add(raw[:32], ("passphrase-as-key", "aes-128-vs-256"))
            add(raw[:16], ("passphrase-as-key", "aes-128-vs-256"))
        try:
            add(keys.parse_bytes(passphrase, "passphrase"), ("passphrase-as-key",))
        except KeyFormatError:
            pass
    for phrase, extra in ((passphrase, ()), (key_text, ("key-as-passphrase",))):
        if phrase is None:
            continue
        for base64_mode in (False, True):
            key, iv = dweeter_profile.derive(phrase, base64_mode)
            add(key, extra + ("dweeter-halves",) + (("dweeter-mode",) if base64_mode else ()), iv)
        add(hashlib.sha256(phrase.encode("utf-8")).digest(), extra + ("hashed-passphrase",))
        add(hashlib.md5(phrase.encode("utf-8")).digest(), extra + ("hashed-passphrase",))
    return out


def _kdf_mistakes(spec: str) -> tuple[str, ...]:
    kdf = cryptojs.parse_kdf(spec)
    if kdf.kind == "pbkdf2":
        return ("kdf-pbkdf2",)
    return {"md5": (), "sha256": ("kdf-sha256",), "sha1": ("kdf-sha1",)}[kdf.digest]


def _iv_candidates(iv_text: str | None, key: bytes) -> list[tuple[bytes, tuple[str, ...]]]:
    """(16-byte IV, mistakes) for a ciphertext whose IV travels separately; crypto-js's IV normalisation."""
    out: list[tuple[bytes, tuple[str, ...]]] = []

    def add(iv: bytes, mistakes: tuple[str, ...]) -> None:
        if len(iv) == BLOCK and all(iv != o[0] for o in out):
            out.append((iv, mistakes))

    def size_mistakes(iv: bytes) -> tuple[str, ...]:
        return ("iv-short",) if len(iv) < BLOCK else ("iv-long",) if len(iv) > BLOCK else ()

    for given, form in legacy.iv_readings(iv_text):  # hex, b64: and bare base64 of one IV: the same readings
        text_form = "iv-hex-text" in form or "iv-base64-text" in form  # cut to 16 characters by its nature
        add(cryptojs.normalize_iv(given), form + (("iv-short",) if len(given) < BLOCK else ()
                                                  if text_form else size_mistakes(given)))
    add(ZERO_IV, ("iv-zero",))
    add(key[:BLOCK], ("iv-is-key",))
    return out


# -- what `open` needs to read each kind of ciphertext --------------------------------------------------------

@dataclass(frozen=True)
class _Salted:
    """A passphrase-mode ciphertext (crypto-js string key, ``openssl enc``)."""

    phrase: str = field(repr=False)
    key_size: int
    kdf: str
    salted: bool
    stdin: str | None


@dataclass(frozen=True)
class _SeparateIv:
    """A raw-key ciphertext whose IV travels separately (crypto-js WordArray key, Spaniakos, C libraries)."""

    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)
    stdin: str | None


@dataclass(frozen=True)
class _Blog:
    """The ESP8266 blog's ``{"iv", "data"}`` object (either direction)."""

    key: bytes = field(repr=False)
    stdin: str | None


_Target = Union[_Salted, _SeparateIv, _Blog, legacy.Pbkdf2Target, legacy.EcbTarget]
#: The padding readings tried per kind of ciphertext (passphrase mode: PKCS#7 only, as its many KDF
#: choices already make many tries; the blog object: PKCS#7 or the old Spaniakos library's missing block).
_READINGS = {_Salted: ("pkcs7",), _SeparateIv: ("pkcs7", "zero", "none", "array", "intrbiz"), _Blog: ("pkcs7", "none"),
             legacy.Pbkdf2Target: ("pkcs7",), legacy.EcbTarget: ("pkcs7", "zero", "none")}


def _command(target: _Target, pad: str, nul: bool, cut: spaniakos.Truncation | None, text: bytes,
             inner: bytes | None) -> tuple[str, list[str], bytes, str]:
    """(profile, options, plaintext as ``open`` prints it, what it prints) for one reading of a decryption.

    ``text`` is the plaintext without its padding and without a C string's NUL (``nul``); ``cut`` is the
    pre-2018 Spaniakos truncation seen in it; ``inner`` the message when ``text`` is base64 of one.
    """
    with_nul = text + b"\x00" if nul else text
    if isinstance(target, legacy.Pbkdf2Target):
        return "cryptojs-pbkdf2", target.options(), with_nul, "plaintext"
    if isinstance(target, legacy.EcbTarget):
        opts = ["--key", target.key.hex(), "--aeslib-mode", "ecb"]
        if pad in ("zero", "pkcs7"):
            return "davylandman-aeslib", opts + ["--caller-padding", pad], with_nul, "plaintext"
        return "davylandman-aeslib", opts, with_nul, "plaintext"
    if pad == "array":
        opts = ["--key", target.key.hex(), "--iv", target.iv.hex()]  # type: ignore[union-attr]
        if inner is not None and not nul:
            return "thinx-aeslib", opts + ["--aeslib-version", "2.2"], text, "message"
        return "thinx-aeslib", opts, with_nul, "plaintext"
    if pad == "intrbiz":
        return "intrbiz-crypto", ["--key", target.key.hex(), "--iv", target.iv.hex()], text, "plaintext"  # type: ignore[union-attr]
    if isinstance(target, _Salted):
        options = [*legacy.option("--passphrase", target.phrase), "--key-size", str(target.key_size),
                   "--kdf", target.kdf]
        return "cryptojs-passphrase", options + ([] if target.salted else ["--nosalt"]), with_nul, "plaintext"
    if isinstance(target, _SeparateIv):
        base = ["--key", target.key.hex(), "--iv", target.iv.hex()]
    else:
        base = ["--key", target.key.hex(), "--spaniakos-wire", "blog"]
    if cut is not None:
        if cut.restored is not None:
            return "spaniakos-legacy", base + ["--spaniakos-restore"], cut.restored, "plaintext"
        return "spaniakos-legacy", base, text, "plaintext"
    if pad == "none":
        return "spaniakos-legacy", base + ["--spaniakos-size", "sizeof"], with_nul, "plaintext"
    if pad == "zero":
        return "cryptojs-key", base + ["--padding", "zero"], text, "plaintext"
    if nul:
        return "spaniakos", base + ["--spaniakos-size", "sizeof"], text, "plaintext"
    if isinstance(target, _SeparateIv):
        return "cryptojs-key", base, text, "plaintext"
    if len(target.key) == 16 and inner is not None:
        return "esp8266-b64", ["--key", target.key.hex()], text, "message"
    return "spaniakos", base, text, "plaintext"


# -- the search -----------------------------------------------------------------------------------------------

class _Search:
    def __init__(self, key_text: str | None, passphrase: str | None, iv_text: str | None, now: int | None,
                 device: str | None = None):
        self.key_text, self.passphrase, self.iv_text = key_text, passphrase, iv_text
        self.device = device
        self.explicit_now = now is not None
        self.now = int(time.time()) if now is None else now
        self.phrases = [(p, m) for p, m in ((passphrase, ()), (key_text, ("key-as-passphrase",))) if p]
        self.tries = 0
        self.candidates: list[Finding] = []
        self.notes: list[str] = []
        self._raw0: dict[tuple[bytes, bytes], bytes | None] = {}
        self._parser = None

    # CBC with the IV applied to a cached zero-IV decryption: a wrong IV only changes the first block.
    def cbc(self, key: bytes, iv: bytes, ct: bytes) -> bytes | None:
        cache_key = (key, ct)
        if cache_key not in self._raw0:
            try:
                self._raw0[cache_key] = cipher.decrypt_raw(key, ZERO_IV, ct)
            except IotEnvelopeError:
                self._raw0[cache_key] = None
        raw0 = self._raw0[cache_key]
        if raw0 is None:
            return None
        return bytes(a ^ b for a, b in zip(raw0[:BLOCK], iv)) + raw0[BLOCK:]

    def consider(self, raw: bytes, target: _Target, mistakes: tuple[str, ...], partial_ok: bool = False,
                 detail: str = "") -> None:
        """Judge one raw CBC decryption under each padding reading its kind of ciphertext allows.

        An "IV prepended" reading decrypts blocks 2..n with block 1 as the IV - which is exactly what any CBC
        ciphertext gives for its blocks 2..n whatever its real IV. Such a reading only counts as a finding
        when the result is a complete structure (a JSON object/array, directly or inside base64); otherwise
        it is the "key right, IV unknown" situation that the partial finding reports.
        """
        kinds = ("pkcs7",) if "iv-prepended" in mistakes else _READINGS[type(target)]
        self.tries += len(kinds) + (1 if partial_ok else 0)
        readings = []
        try:
            readings.append(("pkcs7", padding.unpad(raw, "pkcs7"), 8.0 * raw[-1], ()))
        except IotEnvelopeError:
            nuls = len(raw) - len(raw.rstrip(b"\0"))
            if "zero" in kinds and 0 < nuls < BLOCK:
                readings.append(("zero", padding.unpad(raw, "zero"), 8.0 * nuls, ("zero-padding",)))
            if "none" in kinds:
                readings.append(("none", raw, 0.0, ("no-pad-block",)))
            array = arduino_aes.array_unpad(raw) if "array" in kinds else raw
            if len(array) < len(raw):  # AESLib's Array padding: p bytes of one table value
                readings.append(("array", array, 8.0 * (len(raw) - len(array)), ("aeslib-array-padding",)))
            if "intrbiz" in kinds and len(raw) > BLOCK and raw[-BLOCK:] == raw[-1:] * BLOCK and raw[-BLOCK - 1] == 0:
                # arduino-crypto, length 15 mod 16: NUL + 16 equal bytes; the NUL is removed here (with_nul off)
                readings.append(("intrbiz", raw[:-BLOCK - 1], 8.0 * BLOCK, ("intrbiz-pad16", "c-string-nul")))
        for pad, plain, pad_bits, pad_mistakes in readings:
            self._judge(plain, pad_bits, target, pad, mistakes + pad_mistakes, detail)
            if partial_ok and len(raw) >= 2 * BLOCK and pad == "pkcs7":
                self._partial(raw, plain, pad_bits, mistakes)

    def _partial(self, raw: bytes, plain: bytes, pad_bits: float, mistakes: tuple[str, ...]) -> None:
        """Key right, IV unknown: blocks 2..n (only when block 1 does not already read as text)."""
        if text_bits(raw[:BLOCK]) is not None:
            return  # the first block reads fine, so the IV is not the problem
        text = plain[BLOCK:]
        ev = evidence(text)
        if ev.kind:
            kept = tuple(m for m in mistakes if not m.startswith("iv-"))
            self.candidates.append(Finding("cryptojs-key", 0.0, kept + ("iv-wrong",), text, [], None, ev.message,
                                           evidence=ev.kind, bits=pad_bits + ev.bits, partial=True))

    def _judge(self, plain: bytes, pad_bits: float, target: _Target, pad: str, mistakes: tuple[str, ...],
               detail: str) -> None:
        nul = plain.endswith(b"\0") and not plain.endswith(b"\0\0") and pad != "intrbiz"
        text = plain[:-1] if nul else plain
        ev = evidence(text)
        if not ev.kind:
            return
        if "iv-prepended" in mistakes and not (
                ev.kind == "json" or (ev.kind == "base64" and textshape.is_json_container(ev.message or b""))):
            return
        bits = pad_bits + ev.bits
        cut = None
        if isinstance(target, (_SeparateIv, _Blog)) and pad in ("pkcs7", "none") and not nul:
            cut = spaniakos.truncation(text)  # only the old Spaniakos library drops bytes, and it has no passphrase
        if cut is not None:
            mistakes += ("dropped-last-byte",)
            detail = cut.why + (": restored" if cut.restored is not None else "; the plaintext shown is what survived")
            if cut.restored is not None:
                ev = evidence(cut.restored)
                bits += 12.0  # the truncation signature is itself evidence
        elif ev.kind == "base64" and not isinstance(target, _Blog):
            mistakes += ("base64-plaintext",)  # for the blog object it is the convention, not a mistake
        if nul:
            mistakes += ("c-string-nul",)
        profile, options, printed, prints = _command(target, pad, nul, cut, text, ev.message)
        if "iv-setiv" in mistakes and profile == "cryptojs-key" and pad == "pkcs7" and isinstance(target, _SeparateIv):
            value = arduino_aes.u64_of_iv(target.iv)
            profile, options = "spaniakos-setiv", ["--key", target.key.hex(), "--set-iv", str(value)]
        if nul and printed.endswith(b"\0"):
            detail = "; ".join(filter(None, (detail, f"{profile} has no option to drop the NUL: open prints it too")))
        self.candidates.append(Finding(profile, 0.0, mistakes, printed, options, target.stdin, ev.message,
                                       evidence=ev.kind, bits=bits, detail=detail, prints=prints))

    # -- probes ------------------------------------------------------------------------------------------
    def raw_ciphertext(self, text: str) -> None:
        for blob in _decodings(text):
            self._salted(blob)
            self._separate_iv(blob)
        self._unencrypted_tail(text)

    def _unencrypted_tail(self, text: str) -> None:
        """A note (never a finding) when the bytes are not whole AES blocks but already read as text: what
        DavyLandman AESLib sends for a length that is not a multiple of 16 (it leaves the buffer unencrypted)."""
        for blob in _decodings(text):
            if len(blob.data) % BLOCK and evidence(blob.data).kind in ("json", "text") and len(blob.data) >= 4:
                self.notes.append(f"the input decodes to {len(blob.data)} bytes, not whole AES blocks, that already"
                                  " read as text: DavyLandman AESLib returns a buffer whose length is not a multiple"
                                  " of 16 UNENCRYPTED, so this may be a message that was never encrypted (pad to"
                                  " whole blocks before calling it)")
                return

    @staticmethod
    def _stdin_for(blob: Blob, data: bytes) -> str | None:
        return None if (blob.canonical and data == blob.data) else b64.encode_std(data)

    def _salted(self, blob: Blob) -> None:
        try:
            salt, ct = openssl.unpack(blob.data)
        except MalformedError:
            salt, ct = None, blob.data
        if not ct or len(ct) % BLOCK:
            return
        salted = salt is not None
        for phrase, phrase_mistakes in self.phrases:
            for spec in cryptojs.COMMON_KDFS:
                if not salted and cryptojs.parse_kdf(spec).kind == "pbkdf2":
                    continue  # -nosalt with PBKDF2 exists (an empty salt) but is rare and slow to try
                for size, (key, iv) in cryptojs.derive_passphrase_keys(phrase, salt, spec).items():
                    raw = self.cbc(key, iv, ct)
                    if raw is None:
                        continue
                    mistakes = (blob.mistakes + phrase_mistakes + (() if salted else ("no-salt",))
                                + _kdf_mistakes(spec) + (() if size == 256 else ("aes-128-vs-256",)))
                    target = _Salted(phrase, size, spec, salted, self._stdin_for(blob, blob.data))
                    self.consider(raw, target, mistakes, detail=f"AES-{size}-CBC, key and IV from {spec}")

    def _separate_iv(self, blob: Blob) -> None:
        data = blob.data
        for rk in _raw_keys(self.key_text, self.passphrase):
            attempts = []
            if rk.iv is not None:
                attempts.append((rk.iv, (), data))
            else:
                for iv, iv_mistakes in _iv_candidates(self.iv_text, rk.key):
                    attempts.append((iv, iv_mistakes, data))
                if len(data) >= 2 * BLOCK:
                    attempts.append((data[:BLOCK], ("iv-prepended",), data[BLOCK:]))
            for iv, iv_mistakes, ct in attempts:
                raw = self.cbc(rk.key, iv, ct) if len(ct) % BLOCK == 0 else None
                if raw is not None:
                    self.consider(raw, _SeparateIv(rk.key, iv, self._stdin_for(blob, ct)),
                                  blob.mistakes + rk.mistakes + iv_mistakes, partial_ok=True)
            if rk.iv is None and len(data) >= 2 * BLOCK and len(data) % BLOCK == 0:
                # ECB (DavyLandman aesNNN_enc_multiple): block i is D(c_i) = CBC-zero-IV block i xor c_(i-1)
                raw0 = self.cbc(rk.key, ZERO_IV, data)
                if raw0 is not None:
                    ecb = raw0[:BLOCK] + bytes(a ^ b for a, b in zip(raw0[BLOCK:], data[:-BLOCK]))
                    self.consider(ecb, legacy.EcbTarget(rk.key, self._stdin_for(blob, data)),
                                  blob.mistakes + rk.mistakes + ("ecb-mode",))

    def pbkdf2(self, parts: "cryptojs_pbkdf2.Parts", layout: str, salt_bytes: int, stdin: str | None = None,
               given: bool = False) -> None:
        """crypto-js PBKDF2 keys: every hasher x iteration count of diagnose_legacy (bounded, documented there)."""
        if not parts.ct or len(parts.ct) % BLOCK or len(parts.iv) != BLOCK or not parts.salt:
            return
        for phrase, phrase_mistakes in self.phrases:
            for hasher, iterations in legacy.pbkdf2_settings():
                material = cryptojs_pbkdf2.derive_key(phrase, parts.salt, cryptojs_pbkdf2.Settings(hasher, iterations, 256))
                for bits in legacy.PBKDF2_KEY_SIZES:
                    settings = cryptojs_pbkdf2.Settings(hasher, iterations, bits)
                    raw = self.cbc(material[:bits // 8], parts.iv, parts.ct)
                    if raw is None:
                        continue
                    target = legacy.Pbkdf2Target(phrase, settings, layout, salt_bytes, parts.salt if given else None,
                                                 parts.iv if given else None, stdin)
                    self.consider(raw, target, phrase_mistakes + legacy.settings_mistakes(settings),
                                  detail=legacy.settings_detail(settings))

    def esp8266(self, text: str) -> None:
        try:
            iv_field, data_field = esp8266.load_message(text)
            iv_bytes = b64.decode_any(iv_field, "iv")  # either alphabet; the profile reads standard base64
            iv, _form = esp8266.read_iv(b64.encode_std(iv_bytes))
        except IotEnvelopeError:
            return
        for blob in _decodings(data_field):
            stdin = None
            if not (blob.canonical and iv_field == b64.encode_std(iv_bytes)):
                stdin = json.dumps({"iv": b64.encode_std(iv_bytes), "data": b64.encode_std(blob.data)},
                                   separators=(",", ":"))
            tried: set[bytes] = set()
            for rk in _raw_keys(self.key_text, self.passphrase):  # the object carries its IV: one try per key
                raw = self.cbc(rk.key, iv, blob.data) if rk.key not in tried and len(blob.data) % BLOCK == 0 else None
                tried.add(rk.key)
                if raw is not None:
                    self.consider(raw, _Blog(rk.key, stdin), blob.mistakes + rk.mistakes)

    def dweeter(self, obj: dict) -> None:
        for phrase, mistakes in self.phrases:
            for mode in (False, True):
                self.tries += 2
                try:
                    got = dweeter_profile.open_message(obj, phrase, mode)
                except IotEnvelopeError:
                    continue
                plain = json.dumps(got.data, ensure_ascii=False).encode("utf-8")
                options = legacy.option("--passphrase", phrase) + (["--base64"] if mode else [])
                self.candidates.append(Finding("dweeter", 0.0, mistakes, plain, options, evidence="json+remote_time",
                                               bits=64.0 + evidence(plain).bits + 16.0,
                                               detail="dweeter base64 mode" if mode else ""))

    def envelope(self, text: str) -> None:
        stdin = None
        text = text.strip()
        try:
            env = envelope.Envelope.decode(text)
        except IotEnvelopeError:
            try:
                env = envelope.Envelope.decode(b64.encode_url(b64.decode_any(text.strip())), "compact")
            except IotEnvelopeError:
                return
            stdin = env.to_compact()
        secrets = []
        for rk in _raw_keys(self.key_text, self.passphrase):
            if len(rk.key) in keys.SECRET_SIZES and rk.iv is None and "hashed-passphrase" not in rk.mistakes:
                secrets.append(rk)
        matched = False
        for rk in secrets:
            self.tries += 1
            try:
                opened = envelope.open_envelope(rk.key, env, direction=env.direction, freshness=None)
            except IotEnvelopeError:
                continue
            matched = True
            mistakes = rk.mistakes + (("envelope-reencoded",) if stdin else ())
            options = ["--key", rk.key.hex()]
            if env.direction != "up":
                options += ["--direction", env.direction]
                mistakes += ("wrong-direction",)
            detail = ""
            if opened.type == "data" and opened.ts:
                age = self.now - opened.ts
                if abs(age - envelope.EPOCH_2000) <= 7 * 86400:
                    # The fix belongs at the sender (add 946684800 before sealing). Old messages are read with this
                    # clock moved into the sender's epoch: freshness stays on, judged on the real age.
                    mistakes += ("wrong-epoch",)
                    shifted, real_age = self.now - envelope.EPOCH_2000, age - envelope.EPOCH_2000
                    options += ["--now", str(shifted)]
                    detail = (f"ts {opened.ts} + 946684800 = {opened.ts + envelope.EPOCH_2000}, {real_age} s from now;"
                              " fix the sender: add 946684800 to its clock before sealing (MicroPython's time.time()"
                              " counts from 2000-01-01 on ESP8266/ESP32). Until then read its messages with --now set"
                              f" 946684800 s back (--now {shifted} here; in a script --now $(( $(date +%s) - 946684800 ))),"
                              " which keeps the freshness check")
                    if real_age > 86400 + 300:
                        mistakes += ("stale",)
                        options += ["--max-age", str(real_age + 3600)]
                elif age > 86400 + 300:
                    mistakes += ("stale",)
                    options += ["--max-age", "0"]
                    detail = f"ts is {age} s old"
                elif age < -300:
                    mistakes += ("clock-ahead",)
                    options += ["--skew", str(-age + 60)]
                    detail = f"ts is {-age} s in the future"
            self.candidates.append(Finding("envelope-v1", 0.0, mistakes, opened.plaintext, options, stdin,
                                           evidence="MAC", bits=128.0, detail=detail))
        if not matched:
            self.notes.append("this is an envelope-v1 message (device %s, seq %d) but its MAC fails under every "
                              "reading of the key material: wrong device secret" % (untrusted(env.device), env.seq))

    def lean(self, data: bytes | str) -> None:
        """A lean envelope (SPEC.md §5.3) as text or the binary frame: without --device only a note (the device
        id is under the tag but not on the wire), with it a MAC-checked finding."""
        from ..envelope import lean as lean_form

        env, stdin = None, None
        if isinstance(data, str):
            try:
                env = lean_form.decode(data.strip(), "lean")
            except IotEnvelopeError:
                try:
                    env = lean_form.LeanEnvelope.from_bytes(b64.decode_any(data.strip()))
                    stdin = env.to_text()
                except IotEnvelopeError:
                    return
        else:
            try:
                env = lean_form.LeanEnvelope.from_bytes(data)
            except IotEnvelopeError:
                return
            stdin = env.to_text()
        where = "a lean envelope (%s, %s, seq %d%s)" % (env.direction, env.type, env.seq,
                                                        ", ts %d" % env.ts if env.ts else ", no ts")
        if self.device is None:
            self.notes.append(f"this looks like {where}: the lean form does not carry the device id; give it with"
                              " --device (the LoRaWAN device id, MQTT topic ... the device seals under)")
            return
        for rk in _raw_keys(self.key_text, self.passphrase):
            if len(rk.key) not in keys.SECRET_SIZES or rk.iv is not None or "hashed-passphrase" in rk.mistakes:
                continue
            self.tries += 1
            try:
                opened = lean_form.open_lean(rk.key, env, device=self.device, direction=env.direction,
                                             freshness=None)
            except IotEnvelopeError:
                continue
            options = ["--format", "lean", *legacy.option("--device", self.device), "--key", rk.key.hex()]
            mistakes = rk.mistakes
            if env.direction != "up":
                options += ["--direction", env.direction]
                mistakes += ("wrong-direction",)
            self.candidates.append(Finding("envelope-v1", 0.0, mistakes, opened.plaintext, options, stdin,
                                           evidence="MAC", bits=64.0, detail="lean form"))
            return
        self.notes.append(f"this looks like {where} but its tag fails for device {self.device!r} under every reading"
                          " of the key material: wrong device id or wrong device secret")

    def fernet(self, text: str) -> None:
        if not text.strip().startswith("gAAAAA"):
            return
        candidates = []
        if self.key_text is not None:
            try:
                candidates.append(fernet.parse_key(self.key_text.removeprefix("b64:")))
            except KeyFormatError:
                pass
        for rk in _raw_keys(self.key_text, self.passphrase):
            if len(rk.key) == 32:
                candidates.append(rk.key)
        for key in dict.fromkeys(candidates):
            self.tries += 1
            try:
                plain = fernet.decrypt(key, text.strip(), ttl=None, now=2**62)
            except IotEnvelopeError:
                continue
            url_key = b64.encode_std(key).replace("+", "-").replace("/", "_")
            self.candidates.append(Finding("fernet", 0.0, (), plain, legacy.option("--key", url_key),
                                           evidence="MAC", bits=128.0))

    def pbkdf2_separate(self, text: str, salt_text: str) -> None:
        """Layout separate: base64 ciphertext on stdin, salt and IV given (--salt, --iv)."""
        try:
            salt = keys.parse_bytes(salt_text, "--salt")
            iv = keys.parse_iv(self.iv_text or "", "--iv")
            ct = b64.decode_std(text.strip())
        except IotEnvelopeError:
            self.notes.append("--salt: the separate PBKDF2 layout needs --salt and a 16-byte --iv (hex or b64:) and"
                              " a base64 ciphertext on stdin")
            return
        self.pbkdf2(cryptojs_pbkdf2.Parts(salt, iv, ct), "separate", len(salt), given=True)

    # -- ranking -----------------------------------------------------------------------------------------
    def findings(self, input_text: str | None) -> list[Finding]:
        floor = math.log2(max(self.tries, 1)) + MARGIN_BITS
        best: dict[tuple, Finding] = {}
        for f in self.candidates:
            if f.bits < floor:
                continue
            f.confidence = (1.0 - 2.0 ** (math.log2(max(self.tries, 1)) - f.bits)) * MISTAKE_PRIOR ** len(f.mistakes)
            if f.partial:
                f.confidence *= PARTIAL_FACTOR
            key = (f.profile, f.plaintext, f.partial)
            if key not in best or (f.confidence, -len(f.options)) > (best[key].confidence, -len(best[key].options)):
                best[key] = f
        full = [f for f in best.values() if not f.partial]
        # a partial (IV-wrong) finding only helps when nothing opens the message completely
        out = sorted(full if full else best.values(), key=lambda f: (-f.confidence, len(f.mistakes), f.profile))
        for f in out:
            self._check_command(f, input_text)
        return out

    def _check_command(self, finding: Finding, input_text: str | None) -> None:
        """Open the input with the finding's exact command, in this process; set ``cli_ready`` when it prints
        :attr:`Finding.output`. Timestamps are judged by this clock, as the printed command will be; when
        diagnose was given ``--now`` and only that time opens the message, ``--now`` joins the options."""
        stdin = finding.stdin if finding.stdin is not None else input_text
        if finding.partial or stdin is None:
            return
        if self._parser is None:
            from ..cli import build_parser  # here: the CLI imports this module
            self._parser = build_parser()
        attempts = [finding.options]
        if self.explicit_now and finding.profile == "envelope-v1":
            attempts.append(finding.options + ["--now", str(self.now)])
        from . import get
        for options in attempts:
            try:
                opts = self._parser.parse_args(["open", "--profile", finding.profile, *options])
                opened = get(finding.profile).open(stdin.strip(), opts, no_warn)
            except IotEnvelopeError:
                continue
            if opened.plaintext == finding.output:
                finding.options, finding.cli_ready = options, True
                return


@dataclass
class Report:
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    tries: int = 0

    def as_json(self) -> dict:
        return {"findings": [f.as_json() for f in self.findings], "notes": self.notes, "tries": self.tries}

    def render(self) -> str:
        if not self.findings:
            lines = ["no profile or known mistake explains this input with the key material given"]
        else:
            lines = []
        for i, f in enumerate(self.findings, 1):
            lines.append(f"{i}. {f.profile}  confidence {f.confidence:.3f}{'  (partial)' if f.partial else ''}")
            lines.append(f"   what was wrong: {f.explanation}")
            shown = _text_or_b64("plaintext", f.plaintext)
            value = next(iter(shown.values())).replace("\0", "\\0")  # a C string's NUL, visibly
            lines.append("   plaintext: " + value + ("  (base64)" if "plaintext_b64" in shown else ""))
            if f.message is not None:
                lines.append("   message: " + next(iter(_text_or_b64("m", f.message).values())))
            if not f.partial:
                cmd = shlex.join(f.command())
                if f.stdin is not None:
                    cmd = f"echo {shlex.quote(f.stdin)} | {cmd}"
                # notes as shell comments, so the line stays a command to copy
                note = ("" if f.prints == "plaintext" else "  # prints the message") if f.cli_ready else \
                    "  # NOT checked: this command did not reproduce the plaintext here"
                lines.append(f"   open it with: {cmd}{note}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _input_notes(key: str | None, iv: str | None) -> list[str]:
    notes = []
    for value, flag in ((key, "--key"), (iv, "--iv")):
        if value is None:
            continue
        try:
            keys.parse_bytes(value, flag)
        except KeyFormatError:
            notes.append(f"{flag} is neither hex nor b64:<base64>; it was tried only as text")
    return notes


def diagnose(data: bytes | str, *, key: str | None = None, passphrase: str | None = None, iv: str | None = None,
             now: int | None = None, device: str | None = None, salt: str | None = None) -> Report:
    """Try every profile and known mistake on ``data`` (a ciphertext or whole message)."""
    if (key is None) == (passphrase is None):
        raise UsageError("diagnose needs exactly one of --key or --passphrase")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    else:
        text = data
    if isinstance(data, (bytes, bytearray, memoryview, str)):
        size = len(data) if not isinstance(data, str) else len(data.encode("utf-8", "surrogatepass"))
        if size > MAX_INPUT:
            # every try decrypts the whole input: bounding it bounds the search (and keeps it linear)
            raise MalformedError(f"input is {size} bytes; diagnose reads at most {MAX_INPUT} (an envelope is at most"
                                 f" {envelope.MAX_TEXT} characters of text, SPEC.md §5)")
    if not data.strip():
        raise MalformedError("nothing to diagnose: stdin is empty")
    if device is not None:
        envelope.check_device(device)
    search = _Search(key, passphrase, iv, now, device)
    search.notes += _input_notes(key, iv)
    if text is None:
        search._separate_iv(Blob(bytes(data), canonical=False))
        search._salted(Blob(bytes(data), canonical=False))
        search.lean(bytes(data))
    else:
        obj = None
        if text.strip().startswith("{"):
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError):
                obj = None
        if isinstance(obj, dict):
            parts = legacy.json_parts(obj)
            if parts is not None:  # {"ct", "iv", "s"}: PBKDF2, or crypto-js passphrase mode (CryptoJSAesJson)
                search.pbkdf2(parts, "json", len(parts.salt))
                if len(parts.salt) == 8:
                    search._salted(Blob(openssl.pack(parts.salt, parts.ct), canonical=False))
            elif "tag" in obj and "ct" in obj:
                search.envelope(text)
            elif "iv" in obj and "data" in obj:
                search.esp8266(text)
            else:
                search.dweeter(obj)
        else:
            search.envelope(text)
            search.lean(text)
            search.fernet(text)
            search.raw_ciphertext(text)
            for salt_bytes, parts in legacy.concat_splits(text):
                search.pbkdf2(parts, "concat", salt_bytes)
            if salt is not None:
                search.pbkdf2_separate(text, salt)
    return Report(search.findings(text), search.notes, search.tries)
