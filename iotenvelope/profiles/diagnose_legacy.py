"""The legacy long tail for ``iotenvelope diagnose`` (issue 14): crypto-js PBKDF2 layouts, the Arduino AES
libraries' paddings and IVs, and every way of writing an IV.

Not a profile module (``PROFILES`` is empty); :mod:`.diagnose` calls these functions from its search.

**PBKDF2 search bound.** For the one passphrase reading (``--passphrase``, or the ``--key`` text read as one)
and the one salt/IV/ciphertext split of the input (16- and 8-byte salts exclude each other: they shift the
ciphertext by 12 bytes), :func:`pbkdf2_settings` tries 3 hashers (SHA-1, SHA-256, SHA-512) x
:data:`PBKDF2_ITERATIONS` (1, 100, 1000, 10000, 100000, 250000: crypto-js 3.x/4.1's default of 1, the popular
gist's 100, tutorial values, crypto-js 4.2's default of 250000) = 18 derivations of 32 bytes; the 128/192/256-bit
keys are prefixes of one derivation (PBKDF2 output does not depend on the length asked for). That is 361101
iterations per hasher, SHA-1 twice (two 20-byte blocks): 1,444,404 HMAC computations, 1-2 s with hashlib on
a loaded 2-core machine (``bench/diagnose_pbkdf2.py``; docs/legacy.md has the figures). Inputs without a PBKDF2
layout's shape cost nothing.
"""

from __future__ import annotations

import binascii
import json
import re

from ..errors import KeyFormatError, MalformedError
from ..records import REQUIRED, Frozen
from ..primitives import b64, keys
from . import arduino_aes, cryptojs_pbkdf2

PROFILES: list = []  # not a profile module


def option(flag: str, value: str) -> list[str]:
    """``flag value`` as a suggested command's arguments; ``flag=value`` when the value begins with ``-``
    (a Fernet key in url-safe base64, a passphrase or device id), which argparse would take for an option."""
    return [f"{flag}={value}"] if value.startswith("-") else [flag, value]

PBKDF2_HASHERS = cryptojs_pbkdf2.HASHERS
PBKDF2_ITERATIONS = (1, 100, 1000, 10000, 100000, 250000)
PBKDF2_KEY_SIZES = (128, 192, 256)
OLD_DEFAULTS = cryptojs_pbkdf2.DEFAULTS["4.1.1"]
NEW_DEFAULTS = cryptojs_pbkdf2.DEFAULTS["4.2.0"]

MISTAKES = {
    "iv-base64-text": "the IV's base64 text was used as characters (Utf8.parse of the base64 instead of Base64.parse)",
    "iv-setiv": "the IV is an 8-byte value written twice (Spaniakos set_IV(unsigned long long), little-endian)",
    "pbkdf2-old-defaults": "key = CryptoJS.PBKDF2 with crypto-js < 4.2.0's defaults (SHA-1, 1 iteration, 128-bit"
                           " key): a receiver on crypto-js 4.2.0 relying on the defaults (SHA-256 x 250000) reads"
                           " it as \"\" or \"Malformed UTF-8 data\"",
    "aeslib-array-padding": "AESLib / thinx-aes-lib's default 'Array' padding (0x82..0xb8 bytes, not PKCS#7)",
    "intrbiz-pad16": "arduino-crypto's 16 pad bytes read past its table (length 15 mod 16), after the encrypted NUL",
    "ecb-mode": "ECB, not CBC (DavyLandman AESLib aesNNN_enc_multiple): every block encrypted on its own",
}

_HEX = re.compile(r"[0-9a-fA-F]+")
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


# -- IVs ---------------------------------------------------------------------------------------------------------

def iv_readings(iv_text: str | None) -> list[tuple[bytes, tuple[str, ...]]]:
    """Every IV (any length, before crypto-js's normalisation) the ``--iv`` text may stand for, with the mistake
    each assumes. The same IV written as hex, as ``b64:...`` or as bare base64 gives the same readings, so
    diagnose gives the same answer whichever way the user copied it:

    * the bytes it spells (hex, ``b64:``, or bare base64 without the prefix);
    * the hex text or the base64 text of those bytes used as characters (``Utf8.parse``);
    * the characters of the given text itself, labelled by its shape;
    * for an 8-byte value or a number: Spaniakos ``set_IV`` (the 8 bytes twice; a number little-endian).
    """
    if iv_text is None:
        return []
    out: list[tuple[bytes, tuple[str, ...]]] = []

    def add(iv: bytes, mistakes: tuple[str, ...]) -> None:
        if iv and all(iv != o[0] for o in out):
            out.append((iv, mistakes))

    text = iv_text.strip()
    bare = text[4:] if text.startswith("b64:") else text
    values: list[bytes] = []
    try:
        values.append(keys.parse_iv(text))
    except KeyFormatError:
        pass
    if not text.startswith("b64:") and _B64.fullmatch(text) and len(text) % 4 == 0:
        try:
            values.append(b64.decode_std(text))
        except MalformedError:
            pass
    for value in values:
        add(value, ())
    for value in values:
        add(value.hex().encode(), ("iv-hex-text",))
        add(b64.encode_std(value).encode(), ("iv-base64-text",))
    shape = ("iv-hex-text",) if _HEX.fullmatch(bare) else ("iv-base64-text",) if _B64.fullmatch(bare) else ()
    add(bare.encode("utf-8"), shape or ("iv-hex-text",))
    for value in values:
        if len(value) == 8:
            add(value * 2, ("iv-setiv",))
    number = _u64(text)
    if number is not None:
        add(arduino_aes.setiv_iv(number), ("iv-setiv",))
    return out


def _u64(text: str) -> int | None:
    try:
        return arduino_aes.parse_u64(text)
    except Exception:  # noqa: BLE001 - any text that is not a number is simply not one
        return None


# -- PBKDF2 layouts ------------------------------------------------------------------------------------------------

class Pbkdf2Target(Frozen):
    """A crypto-js PBKDF2 message (what `open --profile cryptojs-pbkdf2` needs)."""

    FIELDS = (("phrase", REQUIRED), ("settings", REQUIRED), ("layout", REQUIRED), ("salt_bytes", REQUIRED),
              ("salt", None), ("iv", None), ("stdin", None))
    HIDDEN = frozenset({"phrase", "salt", "iv"})
    phrase: str
    settings: cryptojs_pbkdf2.Settings
    layout: str
    salt_bytes: int
    salt: bytes | None  # layout separate: given with --salt
    iv: bytes | None
    stdin: str | None

    def options(self) -> list[str]:
        opts = [*option("--passphrase", self.phrase), "--pbkdf2", self.settings.spec, "--pbkdf2-layout", self.layout]
        if self.layout == "concat" and self.salt_bytes != 16:
            opts += ["--pbkdf2-salt-bytes", str(self.salt_bytes)]
        if self.layout == "separate":
            opts += ["--salt", self.salt.hex(), "--iv", self.iv.hex()]  # type: ignore[union-attr]
        return opts


class EcbTarget(Frozen):
    """A raw-key ECB ciphertext (DavyLandman AESLib aesNNN_enc_multiple)."""

    FIELDS = (("key", REQUIRED), ("stdin", None))
    HIDDEN = frozenset({"key"})
    key: bytes
    stdin: str | None


def concat_splits(text: str) -> list[tuple[int, cryptojs_pbkdf2.Parts]]:
    """(salt bytes, parts) for every way ``text`` reads as hex(salt) ‖ hex(iv) ‖ base64(ct) (16- or 8-byte salt)."""
    text = text.strip()
    out = []
    for salt_bytes in (16, 8):
        n = 2 * salt_bytes + 32
        head, tail = text[:n], text[n:]
        if len(head) == n and _HEX.fullmatch(head) and tail and _B64.fullmatch(tail):
            try:
                ct = b64.decode_std(tail)
            except MalformedError:
                continue
            if ct and len(ct) % 16 == 0:
                raw = binascii.unhexlify(head)
                out.append((salt_bytes, cryptojs_pbkdf2.Parts(raw[:salt_bytes], raw[salt_bytes:], ct)))
    return out


def json_parts(obj: dict) -> cryptojs_pbkdf2.Parts | None:
    """The parts of a ``{"ct", "iv", "s"}`` object, or None when it is not one."""
    if set(obj) != {"ct", "iv", "s"} or not all(isinstance(obj[k], str) for k in obj):
        return None
    try:
        parts = cryptojs_pbkdf2.parse_wire(json.dumps(obj), "json")
    except Exception:  # noqa: BLE001 - not this layout
        return None
    return parts if parts.ct and len(parts.ct) % 16 == 0 and len(parts.iv) == 16 else None


def pbkdf2_settings() -> list[tuple[str, int]]:
    """(hasher, iterations) in the order tried: crypto-js's two defaults first."""
    grid = [(h, n) for n in PBKDF2_ITERATIONS for h in PBKDF2_HASHERS]
    first = [(OLD_DEFAULTS.hasher, OLD_DEFAULTS.iterations), (NEW_DEFAULTS.hasher, NEW_DEFAULTS.iterations)]
    return first + [g for g in grid if g not in first]


def settings_mistakes(settings: cryptojs_pbkdf2.Settings) -> tuple[str, ...]:
    return ("pbkdf2-old-defaults",) if settings == OLD_DEFAULTS else ()


def settings_detail(settings: cryptojs_pbkdf2.Settings) -> str:
    named = [v for v, s in cryptojs_pbkdf2.DEFAULTS.items() if s == settings]
    which = f" = the defaults of crypto-js {', '.join(named)}" if named else ""
    return f"key = {settings.js_call()}{which}"
