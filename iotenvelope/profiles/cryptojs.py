"""crypto-js / OpenSSL conventions, UNAUTHENTICATED legacy: ``cryptojs-passphrase`` and ``cryptojs-key``.

* ``cryptojs-passphrase``: what ``CryptoJS.AES.encrypt(message, "a string")`` and ``openssl enc -salt -a -A``
  write: ``base64("Salted__" ‖ salt(8) ‖ AES-CBC(ciphertext))`` with key and IV derived from the passphrase by
  EVP_BytesToKey (MD5 = crypto-js's default and ``openssl -md md5``; SHA-256 = crypto-js 4.2 ``{hasher:
  SHA256}`` and OpenSSL ≥ 1.1's default) or PBKDF2-SHA-256 (``openssl -pbkdf2 -iter N``). AES-256 is
  crypto-js's only passphrase cipher; AES-128 is ``CryptoJS.kdf.OpenSSL.execute(pass, 4, 4, salt)``.
* ``cryptojs-key``: ``CryptoJS.AES.encrypt(message, keyWordArray, {iv})`` with a raw 16/24/32-byte key and an
  IV sent separately; ciphertext as base64. crypto-js zero-pads an IV shorter than 16 bytes and ignores bytes
  past 16; so does this profile (with a warning).
* OpenSSL-only variants of passphrase mode, readable here but NOT by crypto-js: ``--nosalt`` (``openssl enc
  -nosalt``: no ``Salted__`` header, key and IV from the passphrase alone; crypto-js substitutes a random salt
  and returns ""), ``--key-size 192`` (``-aes-192-cbc``) and ``--kdf evp-sha1`` (``-md sha1``).

The module-level functions are the reusable part (``diagnose`` builds on them); the Profile classes wire
them to the CLI. No message here carries a MAC: anyone can alter them. Use envelope-v1 for new designs.
"""

from __future__ import annotations

import argparse
import re

from ..primitives import b64, cipher, kdf as kdf_mod, keys, openssl, padding as padding_mod
from ..errors import KeyFormatError, MalformedError, PaddingError, UsageError
from ..records import REQUIRED, Frozen
from . import OpenResult, Option, Profile, Warn, check_warn, no_warn

KEY_SIZES = (128, 192, 256)
KDF_HELP = ("evp-md5 (default; crypto-js default, openssl -md md5), evp-sha256 (openssl's default -md), evp-sha1"
            " (openssl -md sha1), pbkdf2-sha256:ITER (openssl -pbkdf2 -iter ITER), pbkdf2-sha1:ITER /"
            " pbkdf2-sha512:ITER (openssl -pbkdf2 -md sha1 / -md sha512)")
#: The KDF settings met in practice, most common first: crypto-js's default, OpenSSL >= 1.1's default -md,
#: -md sha1, then ``openssl enc -pbkdf2`` with its default 10000 iterations, crypto-js 4.2's PBKDF2 default of
#: 250000 and the 1000 of many tutorials. ``iotenvelope diagnose`` tries exactly these.
COMMON_KDFS = ("evp-md5", "evp-sha256", "evp-sha1", "pbkdf2-sha256:10000", "pbkdf2-sha256:250000",
               "pbkdf2-sha256:1000", "pbkdf2-sha1:10000", "pbkdf2-sha512:10000")
_HEX_KEY = re.compile(r"(0x)?([0-9a-fA-F]{32}|[0-9a-fA-F]{48}|[0-9a-fA-F]{64})")
_BYTES = (bytes, bytearray)
_TEXT = (str, bytes, bytearray)


def _check_passphrase(passphrase: object) -> None:
    KeyFormatError.check_type(passphrase, _TEXT, "passphrase", "text or bytes")


def _check_salt(salt: object) -> None:
    if salt is not None:
        KeyFormatError.check_type(salt, _BYTES, "salt", "8 bytes or None")


class Kdf(Frozen):
    """A parsed ``--kdf`` value."""

    FIELDS = (("kind", REQUIRED), ("digest", REQUIRED), ("iterations", 1))
    kind: str  # "evp" or "pbkdf2"
    digest: str
    iterations: int

    @property
    def spec(self) -> str:
        return f"evp-{self.digest}" if self.kind == "evp" else f"pbkdf2-{self.digest}:{self.iterations}"


def parse_kdf(spec: str | Kdf = "evp-md5") -> Kdf:
    """``evp-md5`` | ``evp-sha256`` | ``evp-sha1`` | ``pbkdf2-(sha1|sha256|sha512):ITER`` → :class:`Kdf`."""
    if isinstance(spec, Kdf):
        return spec
    UsageError.check_type(spec, str, "kdf", f"text ({KDF_HELP})")
    if spec in ("evp-md5", "evp-sha256", "evp-sha1"):
        return Kdf("evp", spec[4:])
    m = re.fullmatch(r"pbkdf2-(sha1|sha256|sha512):([1-9][0-9]{0,8})", spec or "")
    if m:
        return Kdf("pbkdf2", m.group(1), int(m.group(2)))
    raise UsageError(f"--kdf {spec!r} is not one of: {KDF_HELP}")


def check_key_size(bits: int) -> int:
    if type(bits) is not int:
        raise UsageError.wrong_type("key_size", bits, "128, 192 or 256")
    if bits not in KEY_SIZES:
        raise UsageError(f"key size {bits} is not 128, 192 or 256 (crypto-js passphrase mode knows only 128 and 256;"
                         " 192 is openssl enc -aes-192-cbc)")
    return bits


def looks_like_hex_key(passphrase: str) -> bool:
    """True for 32/48/64 hex digits: probably a raw key that was passed as a (passphrase) string."""
    KeyFormatError.check_type(passphrase, str, "passphrase", "text")
    return bool(_HEX_KEY.fullmatch(passphrase.strip()))


def hex_passphrase_warning(passphrase: str) -> str | None:
    if not looks_like_hex_key(passphrase):
        return None
    digits = len(passphrase.strip().removeprefix("0x"))
    return (f"the passphrase is {digits} hex digits: crypto-js and OpenSSL treat it as a passphrase (its text is hashed),"
            f" not as a {digits // 2}-byte key. If the sender wrote CryptoJS.enc.Hex.parse(key), use"
            " --profile cryptojs-key --key <hex> --iv <hex> instead")


def derive_passphrase_keys(passphrase: str | bytes, salt: bytes | None, kdf: str | Kdf = "evp-md5",
                           key_sizes: tuple[int, ...] = KEY_SIZES) -> dict[int, tuple[bytes, bytes]]:
    """{key size: (key, iv)} for several AES key sizes from ONE derivation.

    Both KDFs produce a byte stream whose start does not depend on how much is asked for, and OpenSSL takes
    the key from its start and the IV from the 16 bytes after it. ``salt`` None is ``openssl enc -nosalt``
    (EVP_BytesToKey without salt; PBKDF2 with an empty salt, as OpenSSL 3 does).
    """
    k = parse_kdf(kdf)
    _check_passphrase(passphrase)
    _check_salt(salt)
    UsageError.check_type(key_sizes, (tuple, list), "key_sizes", "a tuple of key sizes in bits")
    sizes = [check_key_size(bits) // 8 for bits in key_sizes]
    length = max(sizes) + 16
    if k.kind == "evp":
        material = kdf_mod.evp_bytes_to_key(passphrase, salt, length, 0, k.digest)[0]
    else:
        material = kdf_mod.pbkdf2(passphrase, salt or b"", k.iterations, length, k.digest)
    return {bits: (material[:n], material[n:n + 16]) for bits, n in zip(key_sizes, sizes)}


def derive_passphrase_key(passphrase: str | bytes, salt: bytes | None, key_size: int = 256,
                          kdf: str | Kdf = "evp-md5") -> tuple[bytes, bytes]:
    """(key, iv) as crypto-js and ``openssl enc`` derive them from passphrase and 8-byte salt (None: -nosalt)."""
    check_key_size(key_size)
    return derive_passphrase_keys(passphrase, salt, kdf, (key_size,))[key_size]


def read_base64(text: str | bytes, what: str = "ciphertext", warn: Warn = no_warn) -> bytes:
    """Standard base64, tolerating (with a warning naming the cause) line breaks and missing '=' padding.

    crypto-js itself silently mis-decodes line-wrapped text (``openssl enc -a`` without ``-A``) into an empty
    string; iotenvelope accepts it but says so. Everything else is strict (:func:`b64.decode_std`).
    """
    MalformedError.check_type(text, _TEXT, str(what), "base64 text")
    check_warn(warn)
    if isinstance(text, _BYTES):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedError(f"{what}: contains non-ASCII bytes (expected base64 text)") from None
    text = text.strip()
    if "\n" in text or "\r" in text:
        warn(f"{what}: base64 is split over several lines (as `openssl enc -a` writes it without -A); joined here,"
             " but crypto-js would silently decrypt this to an empty string: send it on one line (-A)")
        text = re.sub(r"[\r\n]+", "", text)
    if re.fullmatch(r"[A-Za-z0-9+/]+", text) and len(text) % 4 in (2, 3):
        warn(f"{what}: the '=' padding at the end of the base64 is missing (truncated copy/paste or a URL-safe"
             " encoder?); added here")
        text += "=" * (-len(text) % 4)
    return b64.decode_std(text, what)


def explain_padding_failure(padding: str, cause: str) -> str:
    """The rest of a legacy PaddingError message: the likely cause and what crypto-js would have done instead.

    It is the same for every ciphertext: nothing in it depends on the decrypted bytes (issue 10 F10: naming the
    last byte, the length crypto-js would strip or which other padding happens to fit leaks plaintext)."""
    others = ", ".join(name for name in padding_mod.CRYPTOJS_NAMES if name != padding)
    return (f"{cause} most likely. crypto-js would NOT report this: its {padding_mod.CRYPTOJS_NAMES[padding]}"
            f" unpadding checks nothing and returns wrong bytes or an empty string instead. If the sender used"
            f" another CryptoJS padding, pass --padding ({others}); `iotenvelope diagnose` tries the known"
            " conventions and mistakes")


def encrypt_passphrase(plaintext: bytes, passphrase: str | bytes, key_size: int = 256, kdf: str | Kdf = "evp-md5",
                       salt: bytes | None = None, padding: str = "pkcs7", salted: bool = True) -> str:
    """base64 ``Salted__`` text, readable by crypto-js and ``openssl enc -d ... -a -A`` (:func:`openssl_args`).

    ``salted=False`` writes what ``openssl enc -nosalt`` writes: base64 of the bare ciphertext (crypto-js
    cannot read that).
    """
    MalformedError.check_type(plaintext, _BYTES, "plaintext", "bytes")
    if not salted:
        if salt is not None:
            raise UsageError("a salt and -nosalt exclude each other")
        key, iv = derive_passphrase_key(passphrase, None, key_size, kdf)
        return b64.encode_std(cipher.encrypt_raw(key, iv, padding_mod.pad(plaintext, padding)))
    salt = openssl.new_salt() if salt is None else salt
    key, iv = derive_passphrase_key(passphrase, salt, key_size, kdf)
    return b64.encode_std(openssl.pack(salt, cipher.encrypt_raw(key, iv, padding_mod.pad(plaintext, padding))))


def decrypt_passphrase(blob: str | bytes, passphrase: str | bytes, key_size: int = 256, kdf: str | Kdf = "evp-md5",
                       padding: str = "pkcs7", warn: Warn = no_warn, salted: bool = True) -> bytes:
    """Decrypt crypto-js/OpenSSL passphrase output (base64 text, or the raw ``Salted__`` bytes) strictly.

    ``salted=False`` reads ``openssl enc -nosalt`` output (base64 text, or the bare ciphertext as bytes).
    A wrong passphrase, key size or KDF raises :class:`PaddingError` (crypto-js would return "" or garbage).
    """
    MalformedError.check_type(blob, _TEXT, "blob", "base64 text or bytes")
    check_warn(warn)
    if salted:
        raw = blob if isinstance(blob, _BYTES) and blob.startswith(openssl.MAGIC) else read_base64(blob, "ciphertext", warn)
        salt, ct = openssl.unpack(raw)
    else:
        ct = read_base64(blob, "ciphertext", warn) if isinstance(blob, str) else blob
        if ct.startswith(openssl.MAGIC):
            raise MalformedError("ciphertext starts with 'Salted__': it carries a salt, so drop --nosalt")
        salt = None
    key, iv = derive_passphrase_key(passphrase, salt, key_size, kdf)
    data = cipher.decrypt_raw(key, iv, ct)
    try:
        return padding_mod.unpad(data, padding)
    except PaddingError as exc:
        cause = "wrong passphrase, --key-size or --kdf" + ("" if salted else " (or a salted sender)")
        message = explain_padding_failure(padding, cause)
        hint = hex_passphrase_warning(passphrase) if isinstance(passphrase, str) else None
        raise PaddingError(f"{exc}: {message}" + (f"; also, {hint}" if hint else "")) from None


def openssl_args(key_size: int = 256, kdf: str | Kdf = "evp-md5", decrypt: bool = True, salted: bool = True) -> list[str]:
    """The ``openssl enc`` arguments that read (or write) the same text (append ``-pass pass:...``)."""
    k = parse_kdf(kdf)
    args = ["openssl", "enc", "-d" if decrypt else "-e", f"-aes-{check_key_size(key_size)}-cbc", "-md", k.digest]
    if k.kind == "pbkdf2":
        args += ["-pbkdf2", "-iter", str(k.iterations)]
    if not salted:
        args.append("-nosalt")
    return args + ["-a", "-A"]


def check_cryptojs_key(key: bytes, what: str = "key") -> bytes:
    """16, 24 or 32 bytes, or a KeyFormatError that says what crypto-js would have done."""
    KeyFormatError.check_type(key, _BYTES, what, "bytes")
    if len(key) not in keys.AES_KEY_SIZES:
        raise KeyFormatError(f"{what} is {len(key)} bytes; AES keys are 16, 24 or 32 bytes. crypto-js does not reject"
                             " this: it silently runs a non-standard cipher (e.g. 11 rounds for 20 bytes) that no other"
                             " implementation can decrypt, and lengths that are not a multiple of 4 do not even"
                             " round-trip. Check the key's encoding (hex vs base64 vs text)")
    return key


def normalize_iv(iv: bytes, warn: Warn = no_warn) -> bytes:
    """The 16 bytes crypto-js actually uses: shorter IVs zero-padded, longer ones cut (with a warning)."""
    KeyFormatError.check_type(iv, _BYTES, "iv", "bytes")
    check_warn(warn)
    if len(iv) < 16:
        warn(f"IV is {len(iv)} bytes; crypto-js zero-pads it to 16 (an 8-byte Hex.parse('0000000000000000') IV is"
             " 16 zero bytes): doing the same. Other AES libraries reject such an IV")
        return iv + bytes(16 - len(iv))
    if len(iv) > 16:
        warn(f"IV is {len(iv)} bytes; crypto-js uses only the first 16: doing the same")
        return iv[:16]
    return iv


def encrypt_key(plaintext: bytes, key: bytes, iv: bytes, padding: str = "pkcs7", warn: Warn = no_warn) -> str:
    """base64 of ``CryptoJS.AES.encrypt(message, keyWordArray, {iv, padding}).ciphertext``."""
    MalformedError.check_type(plaintext, _BYTES, "plaintext", "bytes")
    key = check_cryptojs_key(key)
    return b64.encode_std(cipher.encrypt_raw(key, normalize_iv(iv, warn), padding_mod.pad(plaintext, padding)))


def decrypt_key(text: str | bytes, key: bytes, iv: bytes, padding: str = "pkcs7", warn: Warn = no_warn) -> bytes:
    """Strict inverse of :func:`encrypt_key` (PaddingError where crypto-js would return "" or garbage)."""
    MalformedError.check_type(text, _TEXT, "text", "base64 text")
    key = check_cryptojs_key(key)
    KeyFormatError.check_type(iv, _BYTES, "iv", "bytes")
    raw = read_base64(text, "ciphertext", warn)
    if raw.startswith(openssl.MAGIC):
        raise MalformedError("ciphertext starts with 'Salted__': it was made with a passphrase (a string key in"
                             " crypto-js), not a raw key: use --profile cryptojs-passphrase --passphrase ...")
    data = cipher.decrypt_raw(key, normalize_iv(iv, warn), raw)
    try:
        return padding_mod.unpad(data, padding)
    except PaddingError as exc:
        raise PaddingError(f"{exc}: {explain_padding_failure(padding, 'wrong key or IV')}") from None


# -- CLI profiles --------------------------------------------------------------------------------------------

def _padding_option() -> Option:
    return Option(("--padding",), dict(choices=padding_mod.PADDINGS, default="pkcs7",
                                       help="legacy profiles: crypto-js padding (default pkcs7)"))


class CryptoJsPassphrase(Profile):
    name = "cryptojs-passphrase"
    summary = ("crypto-js/OpenSSL passphrase: base64('Salted__'|salt|AES-CBC), EVP_BytesToKey or PBKDF2"
               " (--key-size, --kdf)")
    authenticated = False
    options = (
        Option(("--key-size",), dict(type=int, choices=KEY_SIZES, default=256,
                                     help="cryptojs-passphrase: AES key bits (256 = crypto-js default; 192 is"
                                          " openssl-only)")),
        Option(("--kdf",), dict(default="evp-md5", help=f"cryptojs-passphrase: {KDF_HELP}")),
        Option(("--salt",), dict(help="cryptojs-passphrase: fixed 8-byte salt (hex) - for reproducing vectors only"),
               ("seal",)),
        Option(("--nosalt",), dict(action="store_true",
                                   help="cryptojs-passphrase: no salt and no Salted__ header (openssl enc -nosalt;"
                                        " crypto-js cannot read or write this)")),
        _padding_option(),
    )

    def _passphrase(self, opts: argparse.Namespace, warn: Warn) -> str:
        if getattr(opts, "key", None) is not None:
            raise UsageError("cryptojs-passphrase takes --passphrase (a string key in crypto-js); for a raw key"
                             " (CryptoJS.enc.Hex.parse / a WordArray) use --profile cryptojs-key --key ... --iv ...")
        passphrase = getattr(opts, "passphrase", None)
        if not passphrase:
            raise UsageError("cryptojs-passphrase needs --passphrase")
        hint = hex_passphrase_warning(passphrase)
        if hint:
            warn(hint)
        return passphrase

    def seal(self, plaintext: bytes, opts: argparse.Namespace, warn: Warn, index: int = 0) -> str:
        passphrase = self._passphrase(opts, warn)
        if getattr(opts, "iv", None):
            warn("--iv is ignored in passphrase mode: the IV is derived from passphrase and salt (crypto-js ignores"
                 " an iv option with a string key too)")
        salt = keys.parse_bytes(opts.salt, "salt") if getattr(opts, "salt", None) else None
        salted = not getattr(opts, "nosalt", False)
        if salt is not None and not salted:
            raise UsageError("--salt and --nosalt exclude each other")
        return encrypt_passphrase(plaintext, passphrase, opts.key_size, parse_kdf(opts.kdf), salt, opts.padding, salted)

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        passphrase = self._passphrase(opts, warn)
        plain = decrypt_passphrase(text, passphrase, opts.key_size, parse_kdf(opts.kdf), opts.padding, warn,
                                   salted=not getattr(opts, "nosalt", False))
        return OpenResult(plain, {"profile": self.name, "authenticated": False})


class CryptoJsKey(Profile):
    name = "cryptojs-key"
    summary = "crypto-js raw key (16/24/32 bytes) + separate IV (--iv), ciphertext base64 (--padding)"
    authenticated = False
    options = (_padding_option(),)

    def _key_iv(self, opts: argparse.Namespace, warn: Warn) -> tuple[bytes, bytes]:
        passphrase = getattr(opts, "passphrase", None)
        if passphrase is not None:
            hint = (" (that --passphrase looks like a hex key: did you mean --key?)" if looks_like_hex_key(passphrase)
                    else "")
            raise UsageError("cryptojs-key takes a raw key with --key (hex or b64:); a string key in crypto-js is a"
                             f" passphrase: use --profile cryptojs-passphrase for that{hint}")
        if getattr(opts, "key", None) is None:
            raise UsageError("cryptojs-key needs --key (16, 24 or 32 bytes, hex or b64:)")
        if getattr(opts, "iv", None) is None:
            raise UsageError("cryptojs-key needs --iv (crypto-js throws without an IV in CBC mode with a raw key)")
        key = check_cryptojs_key(keys.parse_bytes(opts.key, "--key"), "--key")
        return key, keys.parse_iv(opts.iv, "--iv")

    def seal(self, plaintext: bytes, opts: argparse.Namespace, warn: Warn, index: int = 0) -> str:
        key, iv = self._key_iv(opts, warn)
        return encrypt_key(plaintext, key, iv, opts.padding, warn)

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        key, iv = self._key_iv(opts, warn)
        return OpenResult(decrypt_key(text, key, iv, opts.padding, warn), {"profile": self.name, "authenticated": False})


ORDER = 20
PROFILES = [CryptoJsPassphrase(), CryptoJsKey()]
