"""More Arduino AES libraries, UNAUTHENTICATED legacy: ``thinx-aeslib``, ``davylandman-aeslib``, ``intrbiz-crypto`` and
``spaniakos-setiv``.

Each profile reproduces what one real library puts on the wire; the facts come from running the library
(``vectors/<library>/``, copied from the shared vector folders with their provenance):

* **AESLib / thinx-aes-lib** (suculent/thinx-aes-lib 2.3.6 and 2.2.3): AES-CBC; the default padding
  ``paddingMode::Array`` is *not* PKCS#7: ``16 - len % 16`` bytes, each ``arr_pad[pad-1]`` from
  ``82 84 88 9f 92 94 98 9f a2 a4 a8 af b2 b4 b8``, and nothing at all when the length is a multiple of 16
  (``--aeslib-padding cms`` is real PKCS#7). The caller's IV buffer is overwritten with the last ciphertext block
  by encrypt *and* decrypt. ``encrypt64`` returns base64 of the ciphertext; before 2.2.4 (``--aeslib-version
  2.2``) it base64-encoded its input first and encrypted that text.
* **DavyLandman AESLib** (AVR assembly, run in simavr): no padding; a length that is not a multiple of 16 is
  returned *unencrypted*. CBC for 128/192-bit keys, ECB for 128/192/256. ``seal`` refuses a partial block
  unless ``--caller-padding`` pads it; ``open`` refuses one (it is plaintext, not ciphertext).
* **intrbiz arduino-crypto**: ``process()`` encrypts ``len + 1`` bytes, the C string's NUL included, then pads
  PKCS#7-style; when ``len % 16 == 15`` the 16 pad bytes are read past an array (0x00 in a zero-initialised
  object, ``--intrbiz-fill`` otherwise). ``open`` removes padding and NUL.
* **Spaniakos ``set_IV(unsigned long long)``**: the 16-byte IV is the 8 little-endian bytes of the value written
  twice; otherwise the current Spaniakos library (PKCS#7). ``--set-iv`` takes the value (decimal or 0x hex),
  ``--iv`` the 16 bytes as before.

None of these has a MAC or a wire format of its own: the text is base64 (``--arduino-wire hex`` for hex) and the
IV travels separately. Use envelope-v1 (with ``K_iv`` IVs, SPEC.md §7) for new firmware.
"""

from __future__ import annotations

import argparse
import binascii
import os
import re

from ..errors import KeyFormatError, MalformedError, PaddingError, UsageError
from ..records import REQUIRED, Record
from ..primitives import b64, cipher, keys, padding as padding_mod, textshape
from . import OpenResult, Option, Profile, Warn
from . import spaniakos

BLOCK = 16
#: thinx-aes-lib's Array padding table (AES.cpp ``arr_pad``): pad length p uses ARRAY_PAD[p - 1]
ARRAY_PAD = bytes.fromhex("8284889f9294989fa2a4a8afb2b4b8")
_BYTES = (bytes, bytearray)


def _check_key(key: bytes, sizes: tuple[int, ...], who: str) -> bytes:
    KeyFormatError.check_type(key, _BYTES, "key", "bytes")
    if len(key) not in sizes:
        raise KeyFormatError(f"key is {len(key)} bytes; {who} takes " + " or ".join(str(s) for s in sizes) + " bytes")
    return bytes(key)


def _check_iv(iv: bytes) -> bytes:
    if len(KeyFormatError.check_type(iv, _BYTES, "iv", "16 bytes")) != BLOCK:
        raise KeyFormatError(f"IV is {len(iv)} bytes; AES-CBC needs 16")
    return bytes(iv)


def iv_after(iv: bytes, ciphertext: bytes) -> bytes:
    """The caller's IV buffer after a call of a library that chains into it (thinx, Spaniakos)."""
    return bytes(ciphertext[-BLOCK:]) if len(ciphertext) >= BLOCK else bytes(iv)


# ---- thinx-aes-lib ---------------------------------------------------------------------------------------------

def array_pad(data: bytes) -> bytes:
    """thinx-aes-lib's default ``paddingMode::Array``."""
    pad = -len(data) % BLOCK
    return bytes(data) + (bytes([ARRAY_PAD[pad - 1]]) * pad if pad else b"")


def array_unpad(data: bytes) -> bytes:
    """Remove Array padding when the tail is one (longest match first: 0x9f stands for 4 and for 8 bytes).

    A message whose length was a multiple of 16 got no padding; if its own last bytes happen to look like
    padding they are removed too - only binary plaintexts ending in 0x82..0xb8 runs can be hit (text never).
    The library's own decrypt does not remove this padding at all (its lookup is off by one)."""
    if not data:
        return b""
    last = data[-1]
    for pad in sorted((p + 1 for p, b in enumerate(ARRAY_PAD) if b == last), reverse=True):
        if len(data) >= pad and data[-pad:] == bytes([last]) * pad:
            return bytes(data[:-pad])
    return bytes(data)


def thinx_encrypt(key: bytes, iv: bytes, plaintext: bytes, padding: str = "array") -> bytes:
    """``aesLib.encrypt(plain, len, out, key, bits, iv)`` (binary API, same in 2.2.3 and 2.3.6)."""
    _check_key(key, (16, 24, 32), "AESLib")
    MalformedError.check_type(plaintext, _BYTES, "plaintext", "bytes")
    data = array_pad(plaintext) if padding == "array" else padding_mod.pad(bytes(plaintext), "pkcs7")
    return cipher.encrypt_raw(key, _check_iv(iv), data) if data else b""


def thinx_decrypt(key: bytes, iv: bytes, ciphertext: bytes, padding: str = "array") -> bytes:
    """Decrypt and remove the padding strictly (CMS: PKCS#7 checked, unlike the library)."""
    _check_key(key, (16, 24, 32), "AESLib")
    MalformedError.check_type(ciphertext, _BYTES, "ciphertext", "bytes")
    if len(ciphertext) % BLOCK:
        raise MalformedError(f"ciphertext is {len(ciphertext)} bytes, not a multiple of 16")
    if not ciphertext:
        if padding == "array":
            return b""
        raise MalformedError("empty ciphertext: with CMS padding AESLib writes at least one block")
    raw = cipher.decrypt_raw(key, _check_iv(iv), ciphertext)
    return array_unpad(raw) if padding == "array" else padding_mod.unpad(raw, "pkcs7")


def thinx_encrypt64(key: bytes, iv: bytes, plaintext: bytes, padding: str = "array", version: str = "2.3") -> str:
    """``aesLib.encrypt64``: base64 of the ciphertext; ``version`` 2.2 (≤ 2.2.3) encrypts base64(plaintext)."""
    inner = b64.encode_std(plaintext).encode("ascii") if version == "2.2" else plaintext
    return b64.encode_std(thinx_encrypt(key, iv, inner, padding))


def thinx_decrypt64(key: bytes, iv: bytes, text: str, padding: str = "array", version: str = "2.3") -> bytes:
    ct = b64.decode_std(text.strip(), "ciphertext") if text.strip() else b""
    inner = thinx_decrypt(key, iv, ct, padding)
    if version != "2.2":
        return inner
    try:
        return b64.decode_std(inner.decode("ascii"), "decrypted inner base64")
    except UnicodeDecodeError:
        raise MalformedError("decrypted data is not base64 text: AESLib <= 2.2.3 encrypt64 encrypts base64 of the"
                             " message (use --aeslib-version 2.3 for a newer sender)") from None


# ---- DavyLandman AESLib ----------------------------------------------------------------------------------------

def davy_encrypt(key: bytes, iv: bytes | None, data: bytes, mode: str = "cbc") -> bytes:
    """``aes128_cbc_enc`` / ``aes192_cbc_enc`` / ``aesNNN_enc_multiple`` in place: the library's exact output,
    i.e. the *unchanged* bytes when ``len(data) % 16 != 0``."""
    MalformedError.check_type(data, _BYTES, "data", "bytes")
    if mode == "cbc":
        _check_key(key, (16, 24), "DavyLandman AESLib CBC (aes128_cbc_* / aes192_cbc_*)")
    else:
        _check_key(key, (16, 24, 32), "DavyLandman AESLib ECB")
    if len(data) % BLOCK or not data:
        return bytes(data)
    if mode == "cbc":
        return cipher.encrypt_raw(key, _check_iv(iv), bytes(data))
    return b"".join(cipher.encrypt_raw(key, bytes(BLOCK), bytes(data[i:i + BLOCK])) for i in range(0, len(data), BLOCK))


def davy_decrypt(key: bytes, iv: bytes | None, data: bytes, mode: str = "cbc") -> bytes:
    if mode == "cbc":
        _check_key(key, (16, 24), "DavyLandman AESLib CBC")
    else:
        _check_key(key, (16, 24, 32), "DavyLandman AESLib ECB")
    MalformedError.check_type(data, _BYTES, "ciphertext", "bytes")
    if len(data) % BLOCK or not data:
        raise MalformedError(f"{len(data)} bytes is not a non-zero multiple of 16: DavyLandman AESLib returns such a"
                             " buffer UNENCRYPTED, so these bytes were never ciphertext (pad before encrypting)")
    if mode == "cbc":
        return cipher.decrypt_raw(key, _check_iv(iv), bytes(data))
    return b"".join(cipher.decrypt_raw(key, bytes(BLOCK), bytes(data[i:i + BLOCK])) for i in range(0, len(data), BLOCK))


# ---- intrbiz arduino-crypto --------------------------------------------------------------------------------------

def intrbiz_layout(length: int) -> tuple[int, int]:
    """(padded size, pad bytes) of ``calcSizeAndPad(length)``: it counts a NUL (``length + 1``) and pads 1..16."""
    size = BLOCK * ((length + 1) // BLOCK + 1)
    return size, size - (length + 1)


def intrbiz_encrypt(key: bytes, iv: bytes, plaintext: bytes, terminator: int = 0, fill: int = 0) -> bytes:
    """``AES aes(key, iv, ...); aes.calcSizeAndPad(len); aes.process(plain, out, len)``. ``terminator`` is the
    byte after the plaintext in the caller's buffer (the NUL of a C string); ``fill`` the out-of-bounds byte used
    for a 16-byte pad (len % 16 == 15), 0x00 in a zero-initialised object."""
    _check_key(key, (16, 32), "arduino-crypto (AES_MODE_128 / AES_MODE_256)")
    MalformedError.check_type(plaintext, _BYTES, "plaintext", "bytes")
    size, pad = intrbiz_layout(len(plaintext))
    value = fill if pad == BLOCK else pad
    return cipher.encrypt_raw(key, _check_iv(iv), bytes(plaintext) + bytes([terminator]) + bytes([value]) * pad)


class IntrbizOpened(Record):
    FIELDS = (("plaintext", REQUIRED), ("terminator", REQUIRED), ("pad_byte", REQUIRED), ("pad_len", REQUIRED))
    plaintext: bytes
    terminator: int
    pad_byte: int
    pad_len: int


def intrbiz_open(key: bytes, iv: bytes, ciphertext: bytes) -> IntrbizOpened:
    """Decrypt and remove padding and terminator: PKCS#7 1..15 bytes, or 16 equal bytes of any value (the
    out-of-bounds pad); the byte before the padding is the terminator (the NUL)."""
    _check_key(key, (16, 32), "arduino-crypto")
    MalformedError.check_type(ciphertext, _BYTES, "ciphertext", "bytes")
    if len(ciphertext) % BLOCK or not ciphertext:
        raise MalformedError(f"ciphertext is {len(ciphertext)} bytes; arduino-crypto writes a non-zero multiple of 16")
    raw = cipher.decrypt_raw(key, _check_iv(iv), bytes(ciphertext))
    last = raw[-1]
    options = []
    if 1 <= last <= 15 and raw[-last:] == bytes([last]) * last:
        options.append(last)
    if raw[-BLOCK:] == bytes([last]) * BLOCK:
        options.append(BLOCK)
    for pad in options:
        if len(raw) > pad and raw[-pad - 1] == 0:  # a NUL terminator: the common case, preferred
            return IntrbizOpened(raw[:-pad - 1], 0, last, pad)
    if options and len(raw) > options[0]:
        pad = options[0]
        return IntrbizOpened(raw[:-pad - 1], raw[-pad - 1], last, pad)
    raise PaddingError("bad padding: not arduino-crypto's padding (wrong key or IV, or another library)")


def intrbiz_process_nopad(key: bytes, iv: bytes, data: bytes) -> bytes:
    """``processNoPad``: the whole blocks only; a partial trailing block is silently dropped."""
    whole = len(data) // BLOCK * BLOCK
    return cipher.encrypt_raw(key, _check_iv(iv), bytes(data[:whole])) if whole else b""


# ---- Spaniakos set_IV(u64) ---------------------------------------------------------------------------------------

def setiv_iv(value: int) -> bytes:
    """The IV ``set_IV(value)`` builds: ``memcpy(iv, &value, 8); memcpy(iv + 8, &value, 8)`` on a little-endian
    MCU (AVR, ESP8266, ESP32)."""
    if type(value) is not int or not 0 <= value < 2 ** 64:
        raise UsageError("set_IV takes an unsigned 64-bit value")
    return value.to_bytes(8, "little") * 2


def parse_u64(text: str) -> int:
    UsageError.check_type(text, str, "--set-iv", "an unsigned 64-bit number (decimal or 0x hex)")
    t = text.strip().rstrip("ULul")
    m = re.fullmatch(r"0[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20})", t)
    if not m or int(t, 0 if m.group(1) else 10) >= 2 ** 64:
        raise UsageError(f"--set-iv {text[:40]!r} is not an unsigned 64-bit number (decimal or 0x hex)")
    return int(t, 16) if m.group(1) else int(t)


def u64_of_iv(iv: bytes) -> int | None:
    """The ``set_IV`` value behind a 16-byte IV whose halves are equal, else None."""
    return int.from_bytes(iv[:8], "little") if len(iv) == BLOCK and iv[:8] == iv[8:] else None


# ---- profiles ----------------------------------------------------------------------------------------------------

WIRE_OPTION = Option(("--arduino-wire",), dict(choices=("b64", "hex"), default="b64",
                                               help="thinx-aeslib/davylandman-aeslib/intrbiz-crypto/spaniakos-setiv:"
                                                    " ciphertext text form (default b64)"))


def _key(opts: argparse.Namespace, name: str) -> bytes:
    if getattr(opts, "passphrase", None) is not None:
        raise UsageError(f"{name} takes a raw AES key with --key (hex or b64:); the library has no passphrase mode")
    if getattr(opts, "key", None) is None:
        raise UsageError(f"{name} needs --key (the AES key, hex or b64:...)")
    return keys.parse_bytes(opts.key, "--key")


def _iv(opts: argparse.Namespace, required: bool = True) -> bytes | None:
    if getattr(opts, "iv", None) is None:
        if required:
            raise UsageError("the IV travels separately with this library: give it with --iv (hex or b64:)")
        return None
    return _check_iv(keys.parse_iv(opts.iv, "--iv"))


def _encode(ct: bytes, opts: argparse.Namespace) -> str:
    return ct.hex() if getattr(opts, "arduino_wire", "b64") == "hex" else b64.encode_std(ct)


def _decode(text: str, opts: argparse.Namespace) -> bytes:
    text = text.strip()
    if getattr(opts, "arduino_wire", "b64") == "hex":
        try:
            return binascii.unhexlify(text)
        except (binascii.Error, ValueError):
            raise MalformedError("ciphertext is not hex") from None
    return b64.decode_std(text, "ciphertext") if text else b""


class _ArduinoProfile(Profile):
    authenticated = False

    def _seal_iv(self, opts: argparse.Namespace, warn: Warn) -> bytes:
        iv = _iv(opts, required=False)
        if iv is None:
            iv = os.urandom(BLOCK)
            warn(f"IV (send it with the message): {iv.hex()}")
        return iv


class ThinxAesLib(_ArduinoProfile):
    name = "thinx-aeslib"
    summary = ("AESLib / thinx-aes-lib (Arduino, ESP): AES-CBC, default non-PKCS#7 'Array' padding"
               " (--aeslib-padding), encrypt64 base64 (--aeslib-version 2.2: base64 of the input encrypted); no MAC")
    options = (
        Option(("--aeslib-padding",), dict(choices=("array", "cms"), default="array",
                                           help="thinx-aeslib: array (the library default, not PKCS#7) or cms"
                                                " (set_paddingmode(paddingMode::CMS) = PKCS#7)")),
        Option(("--aeslib-version",), dict(choices=("2.3", "2.2"), default="2.3",
                                           help="thinx-aeslib: 2.3 (2.2.4 and later, default) or 2.2 (2.2.3 and"
                                                " older: encrypt64 base64-encodes its input before encrypting)")),
        WIRE_OPTION,
    )

    def seal(self, plaintext: bytes, opts: argparse.Namespace, warn: Warn, index: int = 0) -> str:
        key, iv = _key(opts, self.name), self._seal_iv(opts, warn)
        if index == 0:
            warn("AESLib overwrites the caller's IV buffer with the last ciphertext block (on encrypt and decrypt):"
                 " copy the IV before each call")
        inner = b64.encode_std(plaintext).encode("ascii") if opts.aeslib_version == "2.2" else plaintext
        return _encode(thinx_encrypt(key, iv, inner, opts.aeslib_padding), opts)

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        key, iv = _key(opts, self.name), _iv(opts)
        ct = _decode(text, opts)
        inner = thinx_decrypt(key, iv, ct, opts.aeslib_padding)
        plain = inner
        if opts.aeslib_padding == "array" and len(inner) < len(ct) and textshape.text_of(inner) is None:
            warn(f"removed {len(ct) - len(inner)} bytes of Array padding; a binary message whose length was a"
                 " multiple of 16 and that ends in those bytes would look the same: the Array padding cannot tell")
        if opts.aeslib_version == "2.2":
            try:
                plain = b64.decode_std(inner.decode("ascii"), "decrypted inner base64")
            except UnicodeDecodeError:
                raise MalformedError("decrypted data is not base64 text: AESLib <= 2.2.3 encrypt64 encrypts base64"
                                     " of the message (use --aeslib-version 2.3)") from None
        return OpenResult(plain, {"profile": self.name, "authenticated": False, "iv_after": iv_after(iv, ct).hex()})


class DavyLandmanAesLib(_ArduinoProfile):
    name = "davylandman-aeslib"
    summary = ("DavyLandman AESLib (AVR): AES-CBC 128/192 or ECB, no padding (partial blocks go out UNENCRYPTED:"
               " --caller-padding); no MAC")
    options = (
        Option(("--aeslib-mode",), dict(choices=("cbc", "ecb"), default="cbc",
                                        help="davylandman-aeslib: cbc (aes128/aes192_cbc_enc, default) or ecb"
                                             " (aesNNN_enc_multiple)")),
        Option(("--caller-padding",), dict(choices=("none", "zero", "pkcs7"), default="none",
                                           help="davylandman-aeslib: the padding the sketch applies itself before"
                                                " calling the library (default none: whole blocks only)")),
        WIRE_OPTION,
    )

    def seal(self, plaintext: bytes, opts: argparse.Namespace, warn: Warn, index: int = 0) -> str:
        key = _key(opts, self.name)
        iv = self._seal_iv(opts, warn) if opts.aeslib_mode == "cbc" else None
        pad = opts.caller_padding
        data = padding_mod.pad(plaintext, pad) if pad != "none" else plaintext
        if not data or len(data) % BLOCK:
            raise MalformedError(f"plaintext is {len(data)} bytes: DavyLandman AESLib would send a partial block"
                                 " UNENCRYPTED; pad it (--caller-padding zero|pkcs7)")
        return _encode(davy_encrypt(key, iv, data, opts.aeslib_mode), opts)

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        key = _key(opts, self.name)
        iv = _iv(opts) if opts.aeslib_mode == "cbc" else None
        raw = davy_decrypt(key, iv, _decode(text, opts), opts.aeslib_mode)
        pad = opts.caller_padding
        return OpenResult(padding_mod.unpad(raw, pad) if pad != "none" else raw,
                          {"profile": self.name, "authenticated": False})


class IntrbizCrypto(_ArduinoProfile):
    name = "intrbiz-crypto"
    summary = "intrbiz arduino-crypto: AES-CBC of the text AND its NUL (len+1), padded; IV separate (--iv); no MAC"
    options = (
        Option(("--intrbiz-fill",), dict(default="00",
                                         help="intrbiz-crypto seal: the byte (hex) the library pads with when the"
                                              " length is 15 mod 16 (read past an array: 00 in a zero-initialised"
                                              " object)"), ("seal",)),
        WIRE_OPTION,
    )

    def seal(self, plaintext: bytes, opts: argparse.Namespace, warn: Warn, index: int = 0) -> str:
        key, iv = _key(opts, self.name), self._seal_iv(opts, warn)
        fill = keys.parse_bytes(opts.intrbiz_fill, "--intrbiz-fill")
        if len(fill) != 1:
            raise UsageError("--intrbiz-fill is one byte (two hex digits)")
        return _encode(intrbiz_encrypt(key, iv, plaintext, 0, fill[0]), opts)

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        key, iv = _key(opts, self.name), _iv(opts)
        got = intrbiz_open(key, iv, _decode(text, opts))
        if got.terminator:
            warn(f"the byte after the data was 0x{got.terminator:02x}, not a NUL: the sender passed a buffer that is"
                 " not a C string (arduino-crypto encrypts that byte anyway); dropped")
        if got.pad_len == BLOCK:
            warn(f"16 pad bytes of 0x{got.pad_byte:02x}: arduino-crypto read them past its pad table (length 15 mod"
                 " 16); standard PKCS#7 tools cannot read this message")
        return OpenResult(got.plaintext, {"profile": self.name, "authenticated": False})


class SpaniakosSetIv(_ArduinoProfile):
    name = "spaniakos-setiv"
    summary = ("Spaniakos AES with set_IV(u64): IV = the 8 little-endian bytes of the value twice (--set-iv N);"
               " AES-CBC + PKCS#7; no MAC")
    options = (
        Option(("--set-iv",), dict(help="spaniakos-setiv: the value given to set_IV (decimal or 0x hex); instead"
                                        " of --iv")),
        WIRE_OPTION,
    )

    def _the_iv(self, opts: argparse.Namespace, required: bool) -> bytes | None:
        given = getattr(opts, "set_iv", None)
        if given is not None:
            if getattr(opts, "iv", None) is not None:
                raise UsageError("give --set-iv or --iv, not both")
            return setiv_iv(parse_u64(given))
        return _iv(opts, required)

    def seal(self, plaintext: bytes, opts: argparse.Namespace, warn: Warn, index: int = 0) -> str:
        key = _check_key(_key(opts, self.name), (16, 24, 32), "Spaniakos AES")
        iv = self._the_iv(opts, required=False)
        if iv is None:
            value = int.from_bytes(os.urandom(8), "big")
            warn(f"set_IV value (send it with the message): --set-iv {value}")
            iv = setiv_iv(value)
        if index == 0:
            warn("the 5-argument do_aes_encrypt leaves the object IV at the last ciphertext block: call set_IV again"
                 " (or iv_inc) before the next message")
        return _encode(spaniakos.encrypt(key, iv, plaintext), opts)

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        key = _check_key(_key(opts, self.name), (16, 24, 32), "Spaniakos AES")
        iv = self._the_iv(opts, required=True)
        ct = _decode(text, opts)
        return OpenResult(spaniakos.decrypt(key, iv, ct), {"profile": self.name, "authenticated": False,
                                                            "set_iv": u64_of_iv(iv)})


ORDER = 45
PROFILES = [ThinxAesLib(), DavyLandmanAesLib(), IntrbizCrypto(), SpaniakosSetIv()]
