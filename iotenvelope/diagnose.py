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

A candidate becomes a finding only with padding (or a MAC) *and* content evidence, and only when its bits
exceed ``log2(number of tries) + MARGIN_BITS`` - the chance that any of the tries produced it by accident
is then below 2^-MARGIN_BITS. Confidence is that evidence turned into a probability, times 0.9 for every
mistake the finding has to assume (fewer assumptions rank first), times 0.5 for a partial recovery.

Profile-specific conventions
----------------------------
The ciphertext-level checks use the primitives (``kdf``, ``openssl``, ``cipher.decrypt_raw``, ``padding``,
``b64``); whole-message probes use the profile modules (``envelope``, ``fernet``, ``profiles.dweeter``). The
profile names and options in findings for conventions whose Python profiles live in other modules
(``cryptojs-passphrase``, ``cryptojs-key``, ``esp8266-b64``, ``spaniakos-legacy``) follow their issue
specifications; :attr:`Finding.cli_ready` says whether the installed CLI has that profile and options.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import math
import re
import shlex
import string
import time
from dataclasses import dataclass, field

from . import b64, cipher, envelope, fernet, kdf, keys, openssl, padding
from .errors import IotEnvelopeError, KeyFormatError, MalformedError, UsageError
from .profiles import dweeter as dweeter_profile

MARGIN_BITS = 20
MISTAKE_PRIOR = 0.9
PARTIAL_FACTOR = 0.5
BLOCK = 16
ZERO_IV = bytes(BLOCK)
_PRINTABLE = set(string.printable.encode()) - {0x0b, 0x0c}
_B64_STD = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
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
    "no-salt": "no Salted__ header: openssl enc -nosalt",
    "iv-short": "the IV is shorter than 16 bytes and was zero-padded (crypto-js does this silently)",
    "iv-long": "the IV is longer than 16 bytes and was truncated (crypto-js does this silently)",
    "iv-hex-text": "the IV's hex text was used as characters (Utf8.parse instead of Hex.parse)",
    "iv-prepended": "the IV travels as the first 16 bytes of the ciphertext",
    "iv-zero": "the IV is all zero bytes",
    "iv-is-key": "the key doubles as the IV",
    "iv-wrong": "the key is right but the IV is not (or not given): only blocks 2..n decrypt, shown below; find the "
                "real IV (sent separately? prepended? derived?) to recover the first 16 bytes",
    "double-base64": "the ciphertext was base64-encoded twice",
    "hex-in-base64": "base64 of the ciphertext's hex text",
    "urlsafe-base64": "url-safe base64 alphabet (-_) instead of the standard one (+/)",
    "wrapped-base64": "line-wrapped base64 (openssl -a without -A; crypto-js silently returns \"\")",
    "base64-padding-missing": "base64 without its '=' padding",
    "zero-padding": "zero (NUL) padding instead of PKCS#7",
    "no-pad-block": "no padding at all: the length was a multiple of 16 and no pad block was added (pre-2018 "
                    "Spaniakos called with size = strlen+1, or a library that does not pad)",
    "dropped-last-byte": "the last plaintext byte is missing (pre-2018 Spaniakos called with size = strlen)",
    "c-string-nul": "the C string's terminating NUL was encrypted too",
    "base64-plaintext": "the plaintext is base64 of the message (the ESP8266 'base64, then encrypt' pattern)",
    "dweeter-halves": "dweeter's key derivation: SHA-256(passphrase) split into key and IV",
    "dweeter-mode": "dweeter's other encoding mode (--base64 swaps the key and IV halves)",
    "wrong-epoch": "the device clock counts from 2000 (MicroPython on ESP8266/ESP32): add 946684800",
    "clock-ahead": "the sender's clock is ahead of this one",
    "stale": "the message is older than the default 24 h freshness bound",
    "wrong-direction": "the envelope travels the other way (--direction)",
    "envelope-reencoded": "the compact envelope was re-encoded (standard base64 or '=' padding)",
}


@dataclass
class Finding:
    profile: str
    confidence: float
    mistakes: tuple[str, ...]
    plaintext: bytes
    options: list[str]
    stdin: str | None = None           # what to pipe into `iotenvelope open` when it differs from the input
    message: bytes | None = None       # the inner message when a layer (base64) was removed
    evidence: str = ""
    detail: str = ""                   # extra explanation specific to this finding
    partial: bool = False
    bits: float = 0.0

    @property
    def explanation(self) -> str:
        parts = [MISTAKES[m] for m in self.mistakes]
        if self.detail:
            parts.append(self.detail)
        return "; ".join(parts) if parts else "nothing wrong: this is the profile's normal convention"

    @property
    def cli_ready(self) -> bool:
        """True when this installation's ``open`` knows the profile and every option named."""
        from .profiles import registry
        if self.partial or self.profile not in registry():
            return False
        known = {"--key", "--passphrase", "--iv", "--format", "--json", "--profile"}
        for profile in registry().values():
            for option in profile.options:
                if "open" in option.commands:
                    known.update(option.flags)
        return all(arg in known for arg in self.options if arg.startswith("--"))

    def command(self) -> list[str]:
        return ["iotenvelope", "open", "--profile", self.profile, *self.options] if not self.partial else []

    def as_json(self) -> dict:
        out = {"profile": self.profile, "confidence": round(self.confidence, 4), "explanation": self.explanation,
               "mistakes": list(self.mistakes), **_text_or_b64("plaintext", self.plaintext),
               "options": ["--profile", self.profile, *self.options] if not self.partial else [],
               "cli_ready": self.cli_ready, "evidence": self.evidence, "partial": self.partial}
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
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    bits = 0.0
    for ch in text:
        if ord(ch) < 128:
            if ord(ch) not in _PRINTABLE:
                return None
            bits += math.log2(256 / len(_PRINTABLE))
        elif ch.isprintable():
            bits += 6.0
        else:
            return None
    return bits


def _is_json_container(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data.decode("utf-8")), (dict, list))
    except (ValueError, UnicodeDecodeError):
        return False


def evidence(data: bytes) -> Evidence:
    """How strongly ``data`` looks like a real plaintext (see the module docstring)."""
    bits = text_bits(data)
    if bits is None:
        return Evidence(0.0, "")
    text = data.decode("utf-8")
    if len(text) >= 4 and _B64_STD.fullmatch(text):
        try:
            inner = b64.decode_std(text)
        except MalformedError:
            inner = None
        if inner is not None:
            inner_ev = evidence(inner)
            if inner_ev.kind:
                return Evidence(2.0 * len(text) + inner_ev.bits, "base64", inner)
    if _is_json_container(data):
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
            try:
                nested.append(Blob(b64.decode_std(inner_text), blob.mistakes + ("double-base64",), False))
            except MalformedError:
                pass
        if _HEX.fullmatch(inner_text):
            nested.append(Blob(binascii.unhexlify(inner_text), blob.mistakes + ("hex-in-base64",), False))
    return [b for b in out + nested if b.data]


# -- key material ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RawKey:
    key: bytes
    mistakes: tuple[str, ...] = ()
    iv: bytes | None = None   # an IV that comes with this key derivation (dweeter halves)


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
        digest = hashlib.sha256(phrase.encode("utf-8")).digest()
        add(digest[:16], extra + ("dweeter-halves",), digest[16:])
        add(digest[16:], extra + ("dweeter-halves", "dweeter-mode"), digest[:16])
        add(digest, extra + ("hashed-passphrase",))
        add(hashlib.md5(phrase.encode("utf-8")).digest(), extra + ("hashed-passphrase",))
    return out


_EVP = (("evp-md5", "md5", ()), ("evp-sha256", "sha256", ("kdf-sha256",)), ("evp-sha1", "sha1", ("kdf-sha1",)))
_PBKDF2 = (("pbkdf2-sha256:10000", "sha256", 10000), ("pbkdf2-sha256:250000", "sha256", 250000),
           ("pbkdf2-sha1:1", "sha1", 1), ("pbkdf2-sha256:1000", "sha256", 1000))


def _passphrase_keys(phrase: str, salt: bytes | None):
    """Yield (key, iv, kdf option, key size, mistakes) for OpenSSL/crypto-js passphrase conventions."""
    for name, digest, mistakes in _EVP:
        material = b"".join(kdf.evp_bytes_to_key(phrase, salt, 48, 0, digest))
        for size, extra in ((256, ()), (128, ("aes-128-vs-256",)), (192, ("aes-128-vs-256",))):
            n = size // 8
            yield material[:n], material[n:n + 16], name, size, mistakes + extra
    if salt is None:
        return
    for name, digest, iterations in _PBKDF2:
        material = kdf.pbkdf2(phrase, salt, iterations, 48, digest)
        for size, extra in ((256, ()), (128, ("aes-128-vs-256",))):
            n = size // 8
            yield material[:n], material[n:n + 16], name, size, ("kdf-pbkdf2",) + extra


def _iv_candidates(iv_text: str | None, key: bytes) -> list[tuple[bytes, tuple[str, ...], str | None]]:
    """(IV, mistakes, --iv value or None) for a ciphertext whose IV travels separately."""
    out: list[tuple[bytes, tuple[str, ...], str | None]] = []

    def add(iv: bytes, mistakes: tuple[str, ...]) -> None:
        if len(iv) == BLOCK and all(iv != o[0] for o in out):
            out.append((iv, mistakes, iv.hex()))

    if iv_text is not None:
        try:
            given = keys.parse_iv(iv_text)
        except KeyFormatError:
            given = None
        if given is not None:
            if len(given) == BLOCK:
                add(given, ())
            elif len(given) < BLOCK:
                add(given + bytes(BLOCK - len(given)), ("iv-short",))
            else:
                add(given[:BLOCK], ("iv-long",))
        text = iv_text.encode("utf-8")
        if len(text) >= BLOCK:
            add(text[:BLOCK], ("iv-hex-text",))
        elif text:
            add(text + bytes(BLOCK - len(text)), ("iv-hex-text", "iv-short"))
    add(ZERO_IV, ("iv-zero",))
    add(key[:BLOCK], ("iv-is-key",))
    return out


# -- the search -----------------------------------------------------------------------------------------------

class _Search:
    def __init__(self, key_text: str | None, passphrase: str | None, iv_text: str | None, now: int):
        self.key_text, self.passphrase, self.iv_text, self.now = key_text, passphrase, iv_text, now
        self.tries = 0
        self.candidates: list[Finding] = []
        self.notes: list[str] = []
        self._raw0: dict[tuple[bytes, bytes], bytes | None] = {}

    # CBC with the IV applied to a cached zero-IV decryption: a wrong IV only changes the first block.
    def cbc(self, key: bytes, iv: bytes, ct: bytes) -> bytes | None:
        self.tries += 1
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

    def consider(self, raw: bytes, profile: str, mistakes: tuple[str, ...], options: list[str],
                 stdin: str | None, allow_unpadded: bool = True, partial_ok: bool = False, detail: str = "") -> None:
        """Judge one raw CBC decryption under each padding reading.

        An "IV prepended" reading decrypts blocks 2..n with block 1 as the IV - which is exactly what any CBC
        ciphertext gives for its blocks 2..n whatever its real IV. Such a reading only counts as a finding
        when the result is a complete structure (a JSON object/array, directly or inside base64); otherwise
        it is the "key right, IV unknown" situation that the partial finding reports.
        """
        if "iv-prepended" in mistakes:
            allow_unpadded = False
        readings = []
        try:
            readings.append((padding.pkcs7_unpad(raw), 8.0 * raw[-1], ()))
        except IotEnvelopeError:
            if allow_unpadded:
                nuls = len(raw) - len(raw.rstrip(b"\0"))
                if 0 < nuls < BLOCK:
                    readings.append((raw[:-nuls], 8.0 * nuls, ("zero-padding",)))
                readings.append((raw, 0.0, ("no-pad-block",)))
        for plain, pad_bits, pad_mistakes in readings:
            self._judge(plain, pad_bits, profile, mistakes + pad_mistakes, options, stdin, detail=detail)
            if partial_ok and len(raw) >= 2 * BLOCK and not pad_mistakes:
                kept = tuple(m for m in mistakes if not m.startswith("iv-"))
                self._judge(plain[BLOCK:], pad_bits, profile, kept + ("iv-wrong",), [], None, partial=True,
                            skipped=raw[:BLOCK])

    def _judge(self, plain: bytes, pad_bits: float, profile: str, mistakes: tuple[str, ...], options: list[str],
               stdin: str | None, partial: bool = False, skipped: bytes = b"", detail: str = "") -> None:
        if partial and text_bits(skipped) is not None:
            return  # the first block reads fine, so the IV is not the problem
        nul_mistake: tuple[str, ...] = ()
        if plain.endswith(b"\0") and not plain.endswith(b"\0\0"):
            plain, nul_mistake = plain[:-1], ("c-string-nul",)
        ev = evidence(plain)
        if not ev.kind:
            return
        if "iv-prepended" in mistakes and not (
                ev.kind == "json" or (ev.kind == "base64" and _is_json_container(ev.message or b""))):
            return
        if ev.kind == "base64":
            mistakes = mistakes + ("base64-plaintext",) if profile != "esp8266-b64" else mistakes
        finding = Finding(profile, 0.0, mistakes + nul_mistake, plain, options, stdin, ev.message,
                          evidence=ev.kind, bits=pad_bits + ev.bits, partial=partial, detail=detail)
        if ("no-pad-block" in mistakes or "zero-padding" in mistakes) and profile == "cryptojs-key":
            finding.profile = "spaniakos-legacy" if "no-pad-block" in mistakes else "cryptojs-key"
            if "zero-padding" in mistakes:
                finding.options = options + ["--padding", "zero"]
        self._dropped_byte(finding)
        self.candidates.append(finding)

    def _dropped_byte(self, finding: Finding) -> None:
        """Pre-2018 Spaniakos with size = strlen: the padding is valid, but the text lost its last byte.

        Signatures: base64 text whose length is 3 mod 4 (a base64 message is a multiple of 4 long) and whose
        completions decode to text; JSON that is complete once its closing character is put back.
        """
        try:
            text = finding.plaintext.decode("utf-8")
        except UnicodeDecodeError:
            return
        restored, detail = None, ""
        if len(text) % 4 == 3 and re.fullmatch(r"[A-Za-z0-9+/]+=?", text):
            with_pad = _try_b64(text + "=")
            if with_pad and evidence(with_pad).kind:
                restored, detail = text + "=", "the lost byte was the base64 '=' padding: restored"
            else:
                readable = [c for c in _B64_CHARS if not text.endswith("=") and evidence(_try_b64(text + c)).kind]
                as_json = [c for c in readable if _is_json_container(_try_b64(text + c))]
                if len(as_json) == 1:
                    restored = text + as_json[0]
                    detail = "the lost base64 character is the only one that makes the message JSON: restored"
                elif readable:
                    detail = (f"the lost base64 character cannot be restored ({len(readable)} candidates read as "
                              "text); the plaintext shown is what survived")
                else:
                    return
        elif text.startswith(("{", "[")) and not _is_json_container(finding.plaintext):
            for tail in ("}", "]", '"}'):
                if _is_json_container((text + tail).encode("utf-8")):
                    restored, detail = text + tail, f"the JSON is complete with {tail[-1]!r} put back: restored"
                    break
            else:
                return
        else:
            return
        finding.mistakes = tuple(m for m in finding.mistakes if m != "base64-plaintext") + ("dropped-last-byte",)
        if finding.profile == "cryptojs-key":
            finding.profile = "spaniakos-legacy"
        finding.detail = detail
        if restored is not None:
            finding.plaintext = restored.encode("utf-8")
            finding.message = evidence(finding.plaintext).message
            finding.bits += 12.0  # the truncation signature is itself evidence

    # -- probes ------------------------------------------------------------------------------------------
    def raw_ciphertext(self, text: str) -> None:
        for blob in _decodings(text):
            self._salted(blob)
            self._separate_iv(blob)

    def _stdin_for(self, blob: Blob, data: bytes) -> str | None:
        return None if (blob.canonical and data == blob.data) else b64.encode_std(data)

    def _salted(self, blob: Blob) -> None:
        phrases = [(p, m) for p, m in ((self.passphrase, ()), (self.key_text, ("key-as-passphrase",))) if p]
        try:
            salt, ct = openssl.unpack(blob.data)
        except MalformedError:
            salt, ct = None, blob.data
        salt_mistakes: tuple[str, ...] = () if salt is not None else ("no-salt",)
        for phrase, phrase_mistakes in phrases:
            for key, iv, kdf_name, size, kdf_mistakes in _passphrase_keys(phrase, salt):
                raw = self.cbc(key, iv, ct) if ct and len(ct) % BLOCK == 0 else None
                if raw is None:
                    continue
                options = ["--passphrase", phrase, "--key-size", str(size), "--kdf", kdf_name]
                if salt is None:
                    options.append("--nosalt")
                self.consider(raw, "cryptojs-passphrase", blob.mistakes + phrase_mistakes + salt_mistakes + kdf_mistakes,
                              options, self._stdin_for(blob, blob.data), allow_unpadded=False,
                              detail=f"AES-{size}-CBC, key and IV from {kdf_name}")

    def _separate_iv(self, blob: Blob) -> None:
        data = blob.data
        for rk in _raw_keys(self.key_text, self.passphrase):
            attempts = []
            if rk.iv is not None:
                attempts.append((rk.iv, (), data, None))
            else:
                for iv, iv_mistakes, _ in _iv_candidates(self.iv_text, rk.key):
                    attempts.append((iv, iv_mistakes, data, None))
                if len(data) >= 2 * BLOCK:
                    attempts.append((data[:BLOCK], ("iv-prepended",), data[BLOCK:], None))
            for iv, iv_mistakes, ct, _ in attempts:
                if len(ct) % BLOCK:
                    continue
                raw = self.cbc(rk.key, iv, ct)
                if raw is None:
                    continue
                options = ["--key", rk.key.hex(), "--iv", iv.hex()]
                self.consider(raw, "cryptojs-key", blob.mistakes + rk.mistakes + iv_mistakes, options,
                              self._stdin_for(blob, ct), partial_ok=True)

    def esp8266(self, obj: dict) -> None:
        iv_field, data_field = obj.get("iv"), obj.get("data")
        if not isinstance(iv_field, str) or not isinstance(data_field, str):
            return
        try:
            iv = b64.decode_any(iv_field, "iv")
        except MalformedError:
            return
        if len(iv) == 2 * BLOCK and _HEX.fullmatch(iv.decode("ascii", "replace")):
            iv = binascii.unhexlify(iv)  # node -> device: the IV travels as base64 of its hex text
        if len(iv) != BLOCK:
            return
        for blob in _decodings(data_field):
            for rk in _raw_keys(self.key_text, self.passphrase):
                raw = self.cbc(rk.key, iv, blob.data) if len(blob.data) % BLOCK == 0 else None
                if raw is not None:
                    self.consider(raw, "esp8266-b64", blob.mistakes + rk.mistakes, ["--key", rk.key.hex()], None,
                                  allow_unpadded=False)

    def dweeter(self, obj: dict) -> None:
        phrases = [(p, m) for p, m in ((self.passphrase, ()), (self.key_text, ("key-as-passphrase",))) if p]
        for phrase, mistakes in phrases:
            for mode in (False, True):
                self.tries += 2
                try:
                    got = dweeter_profile.open_message(obj, phrase, mode)
                except IotEnvelopeError:
                    continue
                plain = json.dumps(got.data, ensure_ascii=False).encode("utf-8")
                options = ["--passphrase", phrase] + (["--base64"] if mode else [])
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
                    mistakes += ("wrong-epoch",)
                    options += ["--max-age", "0"]
                    detail = f"ts {opened.ts} + 946684800 = {opened.ts + envelope.EPOCH_2000}, {age - envelope.EPOCH_2000} s from now"
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
            self.notes.append("this is an envelope-v1 message (device %r, seq %d) but its MAC fails under every "
                              "reading of the key material: wrong device secret" % (env.device, env.seq))

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
            self.candidates.append(Finding("fernet", 0.0, (), plain,
                                           ["--key", b64.encode_std(key).replace("+", "-").replace("/", "_")],
                                           evidence="MAC", bits=128.0))

    # -- ranking -----------------------------------------------------------------------------------------
    def findings(self) -> list[Finding]:
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
        out = full if full else list(best.values())
        return sorted(out, key=lambda f: (-f.confidence, len(f.mistakes), f.profile))


def _try_b64(text: str) -> bytes:
    try:
        return b64.decode_std(text)
    except MalformedError:
        return b""


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
            lines.append("   plaintext: " + next(iter(shown.values())) + ("  (base64)" if "plaintext_b64" in shown else ""))
            if f.message is not None:
                lines.append("   message: " + next(iter(_text_or_b64("m", f.message).values())))
            if not f.partial:
                cmd = shlex.join(f.command())
                if f.stdin is not None:
                    cmd = f"echo {shlex.quote(f.stdin)} | {cmd}"
                lines.append(f"   open it with: {cmd}" + ("" if f.cli_ready else "  (profile/options not in this build)"))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def diagnose(data: bytes | str, *, key: str | None = None, passphrase: str | None = None, iv: str | None = None,
             now: int | None = None) -> Report:
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
    if not (data.strip() if isinstance(data, (bytes, str)) else data):
        raise MalformedError("nothing to diagnose: stdin is empty")
    search = _Search(key, passphrase, iv, int(time.time()) if now is None else now)
    if text is None:
        search._separate_iv(Blob(bytes(data), canonical=False))
        search._salted(Blob(bytes(data), canonical=False))
    else:
        obj = None
        if text.strip().startswith("{"):
            try:
                obj = json.loads(text)
            except ValueError:
                obj = None
        if isinstance(obj, dict):
            if "tag" in obj and "ct" in obj:
                search.envelope(text)
            elif "iv" in obj and "data" in obj:
                search.esp8266(obj)
            else:
                search.dweeter(obj)
        else:
            search.envelope(text)
            search.fernet(text)
            search.raw_ciphertext(text)
    return Report(search.findings(), search.notes, search.tries)
