# iotenv: iotenvelope envelope v1 (SPEC.md) for MicroPython 1.18+ (ESP8266 1M+, ESP32, Pico W).
#
#   import iotenv
#   keys = iotenv.Keys(secret)                 # 16 or 32 bytes; derive once, reuse
#   text = iotenv.seal(keys, b'{"co2": 1223}', "sensor-01", seq)
#   msg, dev, dir, typ, seq, ts = iotenv.open(keys, command_text)   # expects direction "down"
#
# Written for the oldest interpreters in the field: no f-strings, no bytes.hex, no int.to_bytes, no hmac
# module; JSON is written by hand in SPEC.md order (MicroPython's json writes keys in hash order) and read
# by a strict reader of its own (MicroPython's json.loads accepts malformed text).
# Every failure raises EnvelopeError whose .code is a SPEC.md section 6.1 name ("malformed", "auth" ...).
# Guide: docs/micropython.md.

try:
    from cryptolib import aes  # MicroPython 1.21+
except ImportError:
    try:
        from ucryptolib import aes  # before 1.21
    except ImportError:
        aes = None  # e.g. ESP8266 512K builds: reported when first needed
try:
    import uhashlib as _hashlib
except ImportError:
    import hashlib as _hashlib
try:
    import ustruct as struct
except ImportError:
    import struct
try:
    import ubinascii as _ba  # the C module (some builds shadow "binascii" with a Python one)
except ImportError:
    import binascii as _ba
try:
    import os
except ImportError:
    import uos as os
import time

urandom = getattr(os, "urandom", None)
sha256 = _hashlib.sha256

__version__ = "0.2.0"  # one version for the whole project (mip package.json too)
MAX_TEXT = 65536  # SPEC.md section 5: envelope text cap (after the one trailing newline is stripped)
MAX_RAW = 49152  # the same cap for a binary envelope
DIRECTIONS = ("up", "down")  # wire bytes 1, 2
TYPES = ("data", "resync-request", "resync-response")  # wire bytes 0, 1, 2
_MEMBERS = ("v", "dir", "type", "dev", "seq", "ts", "iv", "ct", "tag")
# time.time() counts from 2000 on ESP8266/ESP32: correct it to the 1970 epoch (SPEC.md section 3).
EPOCH_OFFSET = 946684800 if (getattr(time, "gmtime", None) or time.localtime)(0)[0] == 2000 else 0
# A clock reading before this (2025-01-01) means the clock was never set (an RP2 starts at 2021).
CLOCK_FLOOR = 1735689600


class EnvelopeError(ValueError):
    def __init__(self, code, msg=""):
        super().__init__(msg or code)
        self.code = code


def _bad(msg, code="malformed"):
    raise EnvelopeError(code, msg)


def _cipher(key, iv):
    # One AES object per message and direction: ucryptolib keeps CBC state and refuses to switch.
    if aes is None:
        raise ImportError("iotenv: no cryptolib in this firmware (ESP8266 512K builds: flash a 1M+ one)")
    return aes(key, 2, iv)


def _random(n):
    if urandom is None:
        raise ImportError("iotenv: no os.urandom")
    return urandom(n)


def now():
    """Unix time from the device clock; EnvelopeError("time-unknown") if it was never set."""
    t = int(time.time()) + EPOCH_OFFSET
    if t < CLOCK_FLOOR:
        _bad("clock not set: ntptime.settime(), or ts=0", "time-unknown")
    return t


# -- HMAC-SHA-256 (RFC 2104; 64-byte block) --------------------------------------------------------
def _pads(key):
    if len(key) > 64:
        key = sha256(key).digest()
    key = key + bytes(64 - len(key))
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _hmac(pads, *parts):
    h = sha256(pads[0])  # hash objects are single-use on MicroPython: a new one every time
    for p in parts:
        h.update(p)
    return sha256(pads[1] + h.digest()).digest()


def equal(a, b):
    """Constant-time comparison of two byte strings."""
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


class Keys:
    """K_enc and K_mac derived from a 16- or 32-byte device secret (HKDF-SHA-256, SPEC.md section 2.2).
    form=b"lean " derives the lean form's own pair (iotenv_lean.Keys)."""

    def __init__(self, secret, form=b""):
        if not isinstance(secret, (bytes, bytearray)) or len(secret) not in (16, 32):
            _bad("device secret must be 16 or 32 bytes", "bad-key")
        prk = _pads(_hmac(_pads(bytes(32)), secret))
        self.form = form
        self.enc = _hmac(prk, b"iotenvelope v1 " + form + b"enc\x01")[:len(secret)]
        self.mac = _pads(_hmac(prk, b"iotenvelope v1 " + form + b"mac\x01"))  # kept as HMAC pads


def _keys(keys, form=b""):
    k = keys if isinstance(keys, Keys) else Keys(keys, form)
    if k.form != form:
        _bad("Keys of another form", "bad-key")
    return k


# -- PKCS#7 ------------------------------------------------------------------------------------------
def pad(data):
    n = 16 - len(data) % 16
    return data + bytes((n,)) * n


def unpad(data):
    n = data[-1] if data else 0
    if not 1 <= n <= 16 or n > len(data) or data[-n:] != bytes((n,)) * n:
        _bad("bad PKCS#7 padding", "padding")
    return data[:-n]


# -- base64 (binascii decodes loosely: it skips bad characters, so check every one first) ------------
def b64encode(raw):
    """base64url without "=" padding."""
    return _ba.b2a_base64(raw).rstrip(b"=\n").replace(b"+", b"-").replace(b"/", b"_").decode()


def b64decode(s):
    """Strict base64url without padding (SPEC.md section 5.1)."""
    if isinstance(s, str):
        s = s.encode()
    n = len(s)
    if n % 4 == 1:
        _bad("impossible base64 length")
    for c in s:
        if not (65 <= c <= 90 or 97 <= c <= 122 or 48 <= c <= 57 or c == 45 or c == 95):
            _bad("bad base64 char")
    if n % 4:  # unused low bits of the last character must be zero (canonical encoding)
        c = s[-1]
        v = 62 if c == 45 else 63 if c == 95 else c - 71 if c >= 97 else c - 65 if c >= 65 else c + 4
        if v & (15 if n % 4 == 2 else 3):
            _bad("non-canonical base64")
    return _ba.a2b_base64(s.replace(b"-", b"+").replace(b"_", b"/") + b"=" * (-n % 4))


# -- fields ------------------------------------------------------------------------------------------
def _check_u32(n):
    if type(n) is not int or not 0 <= n <= 0xFFFFFFFF:  # bool is not int on MicroPython or here
        _bad("seq/ts: int in 0..2**32-1")


def _be(b, i):
    return struct.unpack_from(">I", b, i)[0]


def _dev(dev):
    if isinstance(dev, str):
        dev = dev.encode()
    if not 1 <= len(dev) <= 64:
        _bad("dev: 1..64 chars")
    for c in dev:
        if c < 33 or c > 126 or c == 34 or c == 92:
            _bad("dev: bad char")
    return dev


def _index(names, name):
    for i in range(len(names)):
        if names[i] == name:
            return i
    _bad("bad dir/type")


def _header(d, t, dev, seq, ts):
    # mac_input = these parts | iv | ct (SPEC.md section 4); kept apart to save heap on small boards
    _check_u32(seq)
    _check_u32(ts)
    return struct.pack("4B", 1, d, t, len(dev)), dev, struct.pack(">II", seq, ts)


# -- seal ----------------------------------------------------------------------------------------------
def seal(keys, plaintext, device, seq, ts=None, direction="up", type="data", format="compact", iv=None):
    """Encrypt and authenticate; returns the envelope text (compact base64url, or format="json").

    ts None reads the clock (EnvelopeError "time-unknown" if it is not set); ts=0 means "time unknown".
    iv is for test vectors only: leave it None so os.urandom supplies a fresh one.
    """
    if format != "compact" and format != "json":
        _bad("bad format")
    k = _keys(keys)
    d = _index(DIRECTIONS, direction) + 1
    t = _index(TYPES, type)
    dev = _dev(device)
    if ts is None:
        ts = now()
    hdr = _header(d, t, dev, seq, ts)
    if iv is None:
        iv = _random(16)
    elif len(iv) != 16:
        _bad("IV must be 16 bytes", "bad-key")
    if isinstance(plaintext, str):
        plaintext = plaintext.encode()
    ct = _cipher(k.enc, iv).encrypt(pad(plaintext))
    tag = _hmac(k.mac, *(hdr + (iv, ct)))[:16]
    if format == "json":
        # SPEC.md section 5.2 member order and spacing; the device id needs no JSON escaping.
        out = ('{"v": 1, "dir": "%s", "type": "%s", "dev": "%s", "seq": %d, "ts": %d, "iv": "%s", "ct": "%s", '
               '"tag": "%s"}' % (direction, type, dev.decode(), seq, ts, b64encode(iv), b64encode(ct),
                                 b64encode(tag)))
    else:
        out = b64encode(b"".join(hdr + (iv, ct, tag)))
    if len(out) > MAX_TEXT:
        _bad("envelope > 65536 bytes")
    return out


# -- decode --------------------------------------------------------------------------------------------
def _from_raw(raw):
    n = len(raw)
    if not n:
        _bad("empty")
    if raw[0] != 1:
        _bad("version not 1", "unsupported-version")
    if n < 61:
        _bad("too short")
    if not 1 <= raw[1] <= 2 or raw[2] > 2:
        _bad("bad dir/type")
    L = raw[3]
    if not 1 <= L <= 64:
        _bad("bad dev length")
    body = n - L - 44
    if body < 16 or body % 16:
        _bad("bad ct length")
    return raw[1], raw[2], _dev(raw[4:4 + L]), _be(raw, 4 + L), _be(raw, 8 + L), raw[12 + L:28 + L], \
        raw[28 + L:n - 16], raw[n - 16:]


# A strict JSON (RFC 8259) reader for exactly one flat object, on bytes (indexing a MicroPython str that holds
# non-ASCII text walks it from the start, which would make the reader quadratic). MicroPython's json.loads
# accepts missing commas and colons, "]" for "}", leading zeros and control characters, and keeps the last of
# duplicated members. Linear in the input (SPEC.md section 5): it stops at the first unknown or duplicated
# member (so never reads a tenth) and at any object or array value, so nesting depth never matters.
def _ws(s, i):
    n = len(s)
    while i < n and s[i] in (32, 9, 10, 13):  # space, tab, LF, CR (int-in-bytes is new in MicroPython)
        i += 1
    return i


def _digits(s, i):
    j = i
    n = len(s)
    while i < n and 48 <= s[i] <= 57:
        i += 1
    if i == j:
        _bad("bad JSON")
    return i


def _jstr(s, i):  # s[i - 1] is the opening quote; returns (str, index after the closing quote)
    out = []
    j = i
    n = len(s)
    while True:
        c = s[i] if i < n else 0
        if c < 32:
            _bad("bad JSON")
        if c == 34:
            out.append(s[j:i])
            return b"".join(out).decode(), i + 1
        if c == 92:
            out.append(s[j:i])
            c = s[i + 1:i + 2]
            k = b'"\\/bfnrt'.find(c) if c else -1
            if c == b"u":
                h = s[i + 2:i + 6]
                if len(h) != 4 or h.strip(b"0123456789abcdefABCDEF"):  # int() would take "+", " ", "_"
                    _bad("bad JSON")
                c = int(h, 16)
                c = bytes((c if c < 128 else 127,))  # non-ASCII is never valid in an envelope member
                i += 4
            elif k < 0:
                _bad("bad JSON")
            else:
                c = b'"\\/\b\f\n\r\t'[k:k + 1]
            out.append(c)
            i += 2
            j = i
        else:
            i += 1


def _jval(s, i):
    c = s[i:i + 1]
    if c == b'"':
        return _jstr(s, i + 1)
    if c == b"{" or c == b"[":
        _bad("JSON: nested value")
    for word, v in ((b"true", True), (b"false", False), (b"null", None)):
        if s[i:i + len(word)] == word:
            return v, i + len(word)
    j = i + (c == b"-")
    k = _digits(s, j)
    if s[j] == 48 and k > j + 1:
        _bad("bad JSON")
    n = int(s[i:k]) if k - j <= 10 else 1 << 32  # longer: out of range anyway (no slow big-number parse)
    if s[k:k + 1] == b".":
        k = _digits(s, k + 1)
        n = 0.5  # a fraction: never valid where envelope v1 wants an integer
    if s[k:k + 1] in (b"e", b"E"):
        k += 1
        if s[k:k + 1] in (b"+", b"-"):
            k += 1
        k = _digits(s, k)
        n = 0.5
    return n, k


def _from_json(s):
    i = _ws(s, 0)
    if s[i:i + 1] != b"{":
        _bad("not a JSON object")
    o = {}
    i = _ws(s, i + 1)
    if s[i:i + 1] == b"}":
        i += 1
    else:
        while True:
            if s[i:i + 1] != b'"':
                _bad("bad JSON")
            k, i = _jstr(s, i + 1)
            if k not in _MEMBERS or k in o:
                _bad("JSON: unknown/repeated member")  # the name is not echoed: untrusted text
            i = _ws(s, i)
            if s[i:i + 1] != b":":
                _bad("bad JSON")
            o[k], i = _jval(s, _ws(s, i + 1))
            i = _ws(s, i)
            c = s[i:i + 1]
            i = _ws(s, i + 1)
            if c == b"}":
                break
            if c != b",":
                _bad("bad JSON")
    if i != len(s):
        _bad("bad JSON")
    if len(o) != 9:
        _bad("JSON: missing member")
    v = o["v"]
    if type(v) is not int:
        _bad("JSON: v not int")
    if v != 1:
        _bad("version not 1", "unsupported-version")
    for m in ("dir", "type", "dev", "iv", "ct", "tag"):
        if not isinstance(o[m], str):
            _bad("JSON: " + m + " not str")
    d = _index(DIRECTIONS, o["dir"]) + 1
    t = _index(TYPES, o["type"])
    dev = _dev(o["dev"])
    seq, ts = o["seq"], o["ts"]
    _check_u32(seq)
    _check_u32(ts)
    iv, ct, tag = b64decode(o["iv"]), b64decode(o["ct"]), b64decode(o["tag"])
    if len(iv) != 16 or len(tag) != 16 or not ct or len(ct) % 16:
        _bad("JSON: bad iv/ct/tag")
    return d, t, dev, seq, ts, iv, ct, tag


def _text(text):
    """Envelope text as bytes: UTF-8 checked, exactly one trailing LF or CRLF removed, at most MAX_TEXT."""
    if isinstance(text, str):
        text = text.encode()
    else:
        text = bytes(text)
        try:
            text.decode()
        except Exception:
            _bad("not UTF-8")
    if text[-1:] == b"\n":
        text = text[:-2] if text[-2:-1] == b"\r" else text[:-1]
    if len(text) > MAX_TEXT:
        _bad("envelope > 65536 bytes")
    return text


def decode(text, format=None):
    """Parse either encoding into (dir, type, dev, seq, ts, iv, ct, tag) without any key."""
    text = _text(text)
    if format is None:
        format = "json" if text.lstrip()[:1] == b"{" else "compact"
    if format == "json":
        return _from_json(text)
    if format != "compact":
        _bad("bad format")
    return _from_raw(b64decode(text))


# -- open ----------------------------------------------------------------------------------------------
def open(keys, text, direction="down", format=None, replay=None):
    """Verify (MAC first, constant time) and decrypt; returns (plaintext, device, direction, type, seq, ts).

    keys: Keys, a secret, or a callable device-id -> secret/Keys/None. replay: optional, e.g. an
    iotenv_state.Window; its accept(seq) is called only after everything else passed.
    """
    d, t, dev, seq, ts, iv, ct, tag = decode(text, format)
    if d != _index(DIRECTIONS, direction) + 1:
        _bad("wrong direction (reflected?)", "wrong-direction")
    name = dev.decode()
    if callable(keys):
        keys = keys(name)
        if keys is None:
            _bad("no secret for this device", "unknown-device")
    k = _keys(keys)
    if not equal(_hmac(k.mac, *(_header(d, t, dev, seq, ts) + (iv, ct)))[:16], tag):
        _bad("tag mismatch: wrong secret or altered", "auth")
    msg = unpad(_cipher(k.enc, iv).decrypt(ct))
    if replay is not None and t != 1:
        replay.accept(seq)
    return msg, name, DIRECTIONS[d - 1], TYPES[t], seq, ts
