"""crypto-js with a PBKDF2 key, UNAUTHENTICATED legacy: the ``cryptojs-pbkdf2`` profile.

User code that does not trust crypto-js's passphrase mode writes::

    var salt = CryptoJS.lib.WordArray.random(128/8), iv = CryptoJS.lib.WordArray.random(128/8);
    var key = CryptoJS.PBKDF2(passphrase, salt, {keySize: 256/32, iterations: 1000});   // hasher: the default!
    var ct = CryptoJS.AES.encrypt(message, key, {iv: iv}).toString();
    send(salt.toString() + iv.toString() + ct);                                        // layout "concat"

and sends salt, IV and ciphertext in one of three layouts (``--pbkdf2-layout``):

* ``concat``: ``hex(salt) ‖ hex(iv) ‖ base64(ct)`` (salt 16 bytes unless ``--pbkdf2-salt-bytes``);
* ``separate``: base64(ct) as the text, salt and IV given with ``--salt`` and ``--iv`` (hex or b64:);
* ``json``: ``{"ct": base64(ct), "iv": hex(iv), "s": hex(salt)}`` (the CryptoJSAesJson object shape).

The key is ``PBKDF2-HMAC-<hasher>(passphrase as UTF-8, salt, iterations, keySize)``; the cipher is AES-CBC with
PKCS#7. crypto-js's PBKDF2 *defaults* changed in 4.2.0 (CVE-2023-46233): before, SHA-1 with 1 iteration; from
4.2.0, SHA-256 with 250000 iterations; the key size default stayed 128 bits. Code that leaves any of them out
derives another key after the upgrade and crypto-js then returns "" or throws "Malformed UTF-8 data" instead of
reporting an error. ``--pbkdf2`` therefore names the settings explicitly: ``HASHER:ITERATIONS:KEYBITS`` (e.g.
``sha1:1000:256``) or ``cryptojs-<version>`` for a version's defaults.

Checked against real crypto-js 3.3.0, 4.1.1 and 4.2.0 (``vectors/cryptojs/cryptojs_pbkdf2_*.json``, written by
``interop/js/scripts/generate-pbkdf2-vectors.js``; ``tests/test_cryptojs_pbkdf2.py`` in both directions). No MAC:
anyone can alter these messages. Use envelope-v1 for new designs.
"""

from __future__ import annotations

import argparse
import binascii
import json
import os
import re

from ..errors import KeyFormatError, MalformedError, PaddingError, UsageError
from ..records import REQUIRED, Frozen
from ..primitives import b64, cipher, kdf as kdf_mod, keys, padding as padding_mod
from . import OpenResult, Option, Profile, Warn, check_warn, no_warn
from .cryptojs import explain_padding_failure, read_base64

ALGORITHM = "cryptojs-pbkdf2"
HASHERS = kdf_mod.PBKDF2_DIGESTS  # sha1, sha256, sha512
KEY_SIZES = (128, 192, 256)
LAYOUTS = ("concat", "separate", "json")
BLOCK = 16
MAX_ITERATIONS = 10_000_000


class Settings(Frozen):
    """PBKDF2 settings as crypto-js takes them (``keySize`` here in bits, crypto-js counts 32-bit words)."""

    FIELDS = (("hasher", REQUIRED), ("iterations", REQUIRED), ("key_size", REQUIRED))
    hasher: str
    iterations: int
    key_size: int

    @property
    def spec(self) -> str:
        return f"{self.hasher}:{self.iterations}:{self.key_size}"

    def js_call(self) -> str:
        """The crypto-js call with these settings spelled out."""
        return (f"CryptoJS.PBKDF2(passphrase, salt, {{keySize: {self.key_size}/32, hasher: CryptoJS.algo."
                f"{self.hasher.upper()}, iterations: {self.iterations}}})")


#: What ``CryptoJS.PBKDF2(passphrase, salt)`` without options uses, per crypto-js version (read from each
#: version's pbkdf2.js and confirmed by the vectors).
DEFAULTS = {
    "3.3.0": Settings("sha1", 1, 128),
    "4.1.1": Settings("sha1", 1, 128),
    "4.2.0": Settings("sha256", 250000, 128),
}
SPEC_HELP = ("HASHER:ITERATIONS:KEYBITS (hasher sha1/sha256/sha512, key 128/192/256), or cryptojs-VERSION for that"
             " version's defaults (" + ", ".join(f"{v} = {s.spec}" for v, s in DEFAULTS.items()) + ")")


def parse_settings(spec: str | Settings) -> Settings:
    """``sha1:1000:256`` or ``cryptojs-4.2.0`` → :class:`Settings` (UsageError otherwise)."""
    if isinstance(spec, Settings):
        return spec
    UsageError.check_type(spec, str, "pbkdf2 settings", SPEC_HELP)
    if spec.startswith("cryptojs-"):
        version = spec[len("cryptojs-"):]
        if version not in DEFAULTS:
            raise UsageError(f"--pbkdf2 {spec!r}: known crypto-js versions are {', '.join(DEFAULTS)}")
        return DEFAULTS[version]
    m = re.fullmatch(r"(sha1|sha256|sha512):([1-9][0-9]{0,7}):(128|192|256)", spec)
    if not m:
        raise UsageError(f"--pbkdf2 {spec!r} is not {SPEC_HELP}")
    iterations = int(m.group(2))
    if iterations > MAX_ITERATIONS:
        raise UsageError(f"--pbkdf2: {iterations} iterations is more than {MAX_ITERATIONS}")
    return Settings(m.group(1), iterations, int(m.group(3)))


def derive_key(passphrase: str | bytes, salt: bytes, settings: str | Settings) -> bytes:
    """``CryptoJS.PBKDF2(passphrase, salt, settings)`` as bytes (a str passphrase is UTF-8, as crypto-js does)."""
    s = parse_settings(settings)
    KeyFormatError.check_type(passphrase, (str, bytes, bytearray), "passphrase", "text or bytes")
    KeyFormatError.check_type(salt, (bytes, bytearray), "salt", "bytes")
    return kdf_mod.pbkdf2(passphrase, bytes(salt), s.iterations, s.key_size // 8, s.hasher)


def _hex(text: object, what: str) -> bytes:
    MalformedError.check_type(text, str, what, "hex text")
    if not re.fullmatch(r"(?:[0-9a-fA-F]{2})+", text):  # type: ignore[arg-type]
        raise MalformedError(f"{what} is not hex (crypto-js Hex.parse would silently read garbage)")
    return binascii.unhexlify(text)  # type: ignore[arg-type]


class Parts(Frozen):
    FIELDS = (("salt", REQUIRED), ("iv", REQUIRED), ("ct", REQUIRED))
    salt: bytes
    iv: bytes
    ct: bytes


def parse_wire(text: str, layout: str = "concat", salt: bytes | None = None, iv: bytes | None = None,
               salt_bytes: int = 16, warn: Warn = no_warn) -> Parts:
    """Salt, IV and ciphertext of one message in ``layout`` (``separate``: ``salt``/``iv`` come from the caller)."""
    MalformedError.check_type(text, str, "message", "text")
    check_warn(warn)
    if layout not in LAYOUTS:
        raise UsageError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    text = text.strip()
    if layout != "separate" and (salt is not None or iv is not None):
        raise UsageError(f"layout {layout} carries salt and IV in the message: drop --salt/--iv")
    if layout == "concat":
        n = 2 * UsageError.check_int(salt_bytes, "salt_bytes")
        if not 1 <= salt_bytes <= 64:
            raise UsageError("--pbkdf2-salt-bytes must be 1..64")
        if len(text) <= n + 32:
            raise MalformedError(f"message is {len(text)} characters; the concat layout needs {n} hex digits of salt,"
                                 " 32 of IV and then the base64 ciphertext")
        return Parts(_hex(text[:n], "salt (concat layout)"), _hex(text[n:n + 32], "iv (concat layout)"),
                     read_base64(text[n + 32:], "ciphertext", warn))
    if layout == "json":
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            raise MalformedError('message is not JSON (the json layout is {"ct": ..., "iv": ..., "s": ...})') from None
        if not isinstance(obj, dict) or not all(isinstance(obj.get(k), str) for k in ("ct", "iv", "s")):
            raise MalformedError('the json layout needs string members "ct", "iv" and "s"')
        extra = sorted(set(obj) - {"ct", "iv", "s"})
        if extra:
            raise MalformedError(f"unexpected member {extra[0][:40]!r} in the json layout (ct, iv, s only)")
        return Parts(_hex(obj["s"], "s (salt)"), _hex(obj["iv"], "iv"), read_base64(obj["ct"], "ct", warn))
    if salt is None or iv is None:
        raise UsageError("layout separate needs --salt and --iv (hex or b64:)")
    return Parts(bytes(salt), bytes(iv), read_base64(text, "ciphertext", warn))


def format_wire(parts: Parts, layout: str = "concat") -> str:
    """The message text of ``layout`` (``separate``: only the base64 ciphertext)."""
    ct = b64.encode_std(parts.ct)
    if layout == "concat":
        return parts.salt.hex() + parts.iv.hex() + ct
    if layout == "json":  # JSON.stringify({ct, iv, s}): this member order, no spaces
        return json.dumps({"ct": ct, "iv": parts.iv.hex(), "s": parts.salt.hex()}, separators=(",", ":"))
    if layout == "separate":
        return ct
    raise UsageError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")


def _check_iv(iv: bytes) -> bytes:
    if len(KeyFormatError.check_type(iv, (bytes, bytearray), "iv", "16 bytes")) != BLOCK:
        raise KeyFormatError(f"IV is {len(iv)} bytes; this profile writes and reads 16-byte IVs")
    return bytes(iv)


def seal(plaintext: bytes, passphrase: str | bytes, settings: str | Settings, layout: str = "concat",
         salt: bytes | None = None, iv: bytes | None = None, salt_bytes: int = 16) -> tuple[str, Parts]:
    """Encrypt as the crypto-js code above does → (wire text, parts). Random salt/IV unless given."""
    MalformedError.check_type(plaintext, (bytes, bytearray), "plaintext", "bytes")
    salt = os.urandom(salt_bytes) if salt is None else bytes(KeyFormatError.check_type(salt, (bytes, bytearray), "salt"))
    if not salt:
        raise KeyFormatError("salt is empty")
    iv = _check_iv(os.urandom(BLOCK) if iv is None else iv)
    if layout == "concat" and len(salt) != salt_bytes:
        raise UsageError(f"the concat layout is read with {salt_bytes}-byte salts; this salt is {len(salt)} bytes"
                         " (give --pbkdf2-salt-bytes)")
    key = derive_key(passphrase, salt, settings)
    parts = Parts(salt, iv, cipher.encrypt_raw(key, iv, padding_mod.pad(bytes(plaintext), "pkcs7")))
    return format_wire(parts, layout), parts


def open_parts(parts: Parts, passphrase: str | bytes, settings: str | Settings) -> bytes:
    """Decrypt strictly: a wrong passphrase or other settings raise PaddingError (crypto-js returns "" or throws
    "Malformed UTF-8 data")."""
    s = parse_settings(settings)
    if len(parts.ct) % BLOCK or not parts.ct:
        raise MalformedError(f"ciphertext is {len(parts.ct)} bytes; AES-CBC gives a non-zero multiple of 16")
    key = derive_key(passphrase, parts.salt, s)
    raw = cipher.decrypt_raw(key, _check_iv(parts.iv), parts.ct)
    try:
        return padding_mod.unpad(raw, "pkcs7")
    except PaddingError as exc:
        cause = (f"wrong passphrase or other PBKDF2 settings (read with {s.spec}; crypto-js 4.2.0 changed the"
                 " defaults from sha1:1 to sha256:250000, so code that relies on them reads older messages wrong)")
        raise PaddingError(f"{exc}: {explain_padding_failure('pkcs7', cause)}") from None


def open_text(text: str, passphrase: str | bytes, settings: str | Settings, layout: str = "concat",
              salt: bytes | None = None, iv: bytes | None = None, salt_bytes: int = 16, warn: Warn = no_warn) -> bytes:
    return open_parts(parse_wire(text, layout, salt, iv, salt_bytes, warn), passphrase, settings)


# -- the CLI profile --------------------------------------------------------------------------------------------

class CryptoJsPbkdf2(Profile):
    name = "cryptojs-pbkdf2"
    summary = ("crypto-js AES-CBC with key = CryptoJS.PBKDF2(passphrase, salt) (--pbkdf2 HASHER:ITER:BITS |"
               " cryptojs-VERSION), layouts concat/separate/json (--pbkdf2-layout)")
    authenticated = False
    options = (
        Option(("--pbkdf2",), dict(help=f"cryptojs-pbkdf2: the PBKDF2 settings: {SPEC_HELP}")),
        Option(("--pbkdf2-layout",), dict(choices=LAYOUTS, default="concat",
                                          help="cryptojs-pbkdf2: concat = hex(salt)+hex(iv)+base64(ct) (default);"
                                               " separate = base64(ct), salt and IV given with --salt/--iv;"
                                               ' json = {"ct", "iv", "s"}')),
        Option(("--pbkdf2-salt-bytes",), dict(type=int, default=16,
                                              help="cryptojs-pbkdf2: salt length of the concat layout (default 16)")),
        Option(("--salt",), dict(help="cryptojs-pbkdf2 --pbkdf2-layout separate: the salt (hex or b64:)"), ("open",)),
    )

    def _settings(self, opts: argparse.Namespace) -> tuple[str, Settings]:
        if getattr(opts, "key", None) is not None:
            raise UsageError("cryptojs-pbkdf2 derives the key from --passphrase; for a raw key use --profile"
                             " cryptojs-key")
        passphrase = getattr(opts, "passphrase", None)
        if not passphrase:
            raise UsageError("cryptojs-pbkdf2 needs --passphrase")
        if getattr(opts, "pbkdf2", None) is None:
            raise UsageError(f"cryptojs-pbkdf2 needs --pbkdf2 ({SPEC_HELP})")
        return passphrase, parse_settings(opts.pbkdf2)

    @staticmethod
    def _bytes(opts: argparse.Namespace, attr: str, flag: str) -> bytes | None:
        value = getattr(opts, attr, None)
        return None if value is None else keys.parse_bytes(value, flag)

    def seal(self, plaintext: bytes, opts: argparse.Namespace, warn: Warn, index: int = 0) -> str:
        passphrase, settings = self._settings(opts)
        layout = opts.pbkdf2_layout
        salt, iv = self._bytes(opts, "salt", "--salt"), self._bytes(opts, "iv", "--iv")
        text, parts = seal(plaintext, passphrase, settings, layout, salt, iv, opts.pbkdf2_salt_bytes)
        if layout == "separate" and (salt is None or iv is None):
            warn(f"send salt and IV with the ciphertext: --salt {parts.salt.hex()} --iv {parts.iv.hex()}")
        return text

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        passphrase, settings = self._settings(opts)
        salt, iv = self._bytes(opts, "salt", "--salt"), self._bytes(opts, "iv", "--iv")
        plain = open_text(text, passphrase, settings, opts.pbkdf2_layout, salt, iv, opts.pbkdf2_salt_bytes, warn)
        return OpenResult(plain, {"profile": self.name, "authenticated": False, "pbkdf2": settings.spec})


ORDER = 25
PROFILES = [CryptoJsPbkdf2()]
