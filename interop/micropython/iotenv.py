# iotenv: iotenvelope envelope v1 (SPEC.md) for MicroPython 1.18+ (ESP8266 1M+, ESP32, Pico W).
#
#   import iotenv
#   keys = iotenv.Keys(secret)                 # 16 or 32 bytes; derive once, reuse
#   text = iotenv.seal(keys, b'{"co2": 1223}', "sensor-01", seq)
#   msg, dev, dir, typ, seq, ts = iotenv.open(keys, command_text)   # expects direction "down"
#
# Written for the oldest interpreters in the field: no f-strings, no bytes.hex, no int.to_bytes,
# no struct, no hmac module; JSON text is built by hand (MicroPython's json writes keys in hash order).
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
    from uhashlib import sha256
except ImportError:
    from hashlib import sha256
try:
    import ubinascii as _ba  # the C module (some builds shadow "binascii" with a Python one)
except ImportError:
    import binascii as _ba
try:
    import ujson as _json
except ImportError:
    import json as _json
try:
    import os
except ImportError:
    import uos as os
import time

urandom = getattr(os, "urandom", None)

VERSION = "1.0.0"
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
        raise ImportError("iotenv: no cryptolib/ucryptolib in this firmware (ESP8266 512K builds lack it); "
                          "flash a 1M+ build")
    return aes(key, 2, iv)


def _random(n):
    if urandom is None:
        raise ImportError("iotenv: this firmware has no os.urandom")
    return urandom(n)


def now():
    """Unix time from the device clock; EnvelopeError("time-unknown") if it was never set."""
    t = int(time.time()) + EPOCH_OFFSET
    if t < CLOCK_FLOOR:
        _bad("device clock not set: call ntptime.settime() (or pass ts=0 to send 'time unknown')",
             "time-unknown")
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
    """K_enc and K_mac derived from a 16- or 32-byte device secret (HKDF-SHA-256, SPEC.md section 2.2)."""

    def __init__(self, secret):
        if not isinstance(secret, (bytes, bytearray)) or len(secret) not in (16, 32):
            _bad("device secret must be 16 or 32 bytes", "bad-key")
        prk = _pads(_hmac(_pads(bytes(32)), secret))
        self.enc = _hmac(prk, b"iotenvelope v1 enc\x01")[:len(secret)]
        self.mac = _pads(_hmac(prk, b"iotenvelope v1 mac\x01"))  # kept as HMAC pads


def _keys(keys):
    return keys if isinstance(keys, Keys) else Keys(keys)


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
def b64encode(raw, url=True):
    s = _ba.b2a_base64(raw)  # always ends in "\n"
    if url:
        return s.rstrip(b"=\n").replace(b"+", b"-").replace(b"/", b"_").decode()
    return s[:-1].decode()


def b64decode(s, url=True):
    """Strict base64url without padding (url=True) or standard base64 with "=" padding."""
    if isinstance(s, str):
        s = s.encode()
    if not url:
        if len(s) % 4:
            _bad("base64 length is not a multiple of 4")
        s = s[:-2] if s.endswith(b"==") else s[:-1] if s.endswith(b"=") else s
    n = len(s)
    if n % 4 == 1:
        _bad("impossible base64 length")
    extra = (45, 95) if url else (43, 47)
    for c in s:
        if not (65 <= c <= 90 or 97 <= c <= 122 or 48 <= c <= 57 or c in extra):
            _bad("invalid base64 character")
    if n % 4:  # unused low bits of the last character must be zero (canonical encoding)
        c = s[-1]
        v = 62 if c == extra[0] else 63 if c == extra[1] else c - 71 if c >= 97 else c - 65 if c >= 65 else c + 4
        if v & (15 if n % 4 == 2 else 3):
            _bad("non-canonical base64")
    if url:
        s = s.replace(b"-", b"+").replace(b"_", b"/")
    return _ba.a2b_base64(s + b"=" * (-n % 4))


# -- fields ------------------------------------------------------------------------------------------
def _u32(n):
    if type(n) is not int or not 0 <= n <= 0xFFFFFFFF:  # bool is not int on MicroPython or here
        _bad("seq/ts must be an integer in 0..4294967295")
    return bytes((n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255))


def _be(b, i):
    return b[i] << 24 | b[i + 1] << 16 | b[i + 2] << 8 | b[i + 3]


def _dev(dev):
    if isinstance(dev, str):
        dev = dev.encode()
    if not 1 <= len(dev) <= 64:
        _bad("device id must be 1..64 characters")
    for c in dev:
        if c < 33 or c > 126 or c == 34 or c == 92:
            _bad("device id: printable ASCII except space, '\"' and '\\' only")
    return dev


def _index(names, name):
    for i in range(len(names)):
        if names[i] == name:
            return i
    _bad("unknown direction/type " + repr(name))


def _header(d, t, dev, seq, ts):
    return bytes((1, d, t, len(dev))) + dev + _u32(seq) + _u32(ts)


# -- seal ----------------------------------------------------------------------------------------------
def seal(keys, plaintext, device, seq, ts=None, direction="up", type="data", format="compact", iv=None):
    """Encrypt and authenticate; returns the envelope text (compact base64url, or format="json").

    ts None reads the clock (EnvelopeError "time-unknown" if it is not set); ts=0 means "time unknown".
    iv is for test vectors only: leave it None so os.urandom supplies a fresh one.
    """
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
    tag = _hmac(k.mac, hdr, iv, ct)[:16]
    if format == "json":
        # SPEC.md section 5.2 member order and spacing; the device id needs no JSON escaping.
        return ('{"v": 1, "dir": "%s", "type": "%s", "dev": "%s", "seq": %d, "ts": %d, "iv": "%s", "ct": "%s", '
                '"tag": "%s"}' % (direction, type, dev.decode(), seq, ts, b64encode(iv), b64encode(ct),
                                  b64encode(tag)))
    if format != "compact":
        _bad("format must be 'compact' or 'json'")
    return b64encode(hdr + iv + ct + tag)


# -- decode --------------------------------------------------------------------------------------------
def _from_raw(raw):
    n = len(raw)
    if not n:
        _bad("empty envelope")
    if raw[0] != 1:
        _bad("envelope version is not 1", "unsupported-version")
    if n < 61:
        _bad("envelope too short")
    if not 1 <= raw[1] <= 2 or raw[2] > 2:
        _bad("bad direction or type byte")
    L = raw[3]
    if not 1 <= L <= 64:
        _bad("device id length outside 1..64")
    body = n - L - 44
    if body < 16 or body % 16:
        _bad("ciphertext length is not a positive multiple of 16")
    return raw[1], raw[2], _dev(raw[4:4 + L]), _be(raw, 4 + L), _be(raw, 8 + L), raw[12 + L:28 + L], \
        raw[28 + L:n - 16], raw[n - 16:]


def _member_count(s):
    # Colons outside strings = members of a flat object: json.loads keeps only the last of a duplicate.
    n = 0
    q = esc = False
    for c in s:
        if q:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                q = False
        elif c == '"':
            q = True
        elif c == ":":
            n += 1
    return n


def _from_json(s):
    try:
        o = _json.loads(s)
    except ValueError:
        o = None
    if not isinstance(o, dict):
        _bad("not a JSON object")
    if len(o) != 9:
        _bad("JSON envelope needs exactly the members " + ", ".join(_MEMBERS))
    for m in _MEMBERS:
        if m not in o:
            _bad("JSON envelope: missing " + m)
    v = o["v"]
    if type(v) is not int:
        _bad("JSON envelope: v must be the integer 1")
    if v != 1:
        _bad("envelope version is not 1", "unsupported-version")
    for m in ("dir", "type", "dev", "iv", "ct", "tag"):
        if not isinstance(o[m], str):
            _bad("JSON envelope: " + m + " must be a string")
    d = _index(DIRECTIONS, o["dir"]) + 1
    t = _index(TYPES, o["type"])
    dev = _dev(o["dev"])
    seq, ts = o["seq"], o["ts"]
    _u32(seq)
    _u32(ts)
    iv, ct, tag = b64decode(o["iv"]), b64decode(o["ct"]), b64decode(o["tag"])
    if len(iv) != 16 or len(tag) != 16 or not ct or len(ct) % 16:
        _bad("JSON envelope: iv/tag must be 16 bytes, ct a positive multiple of 16")
    if _member_count(s) != 9:
        _bad("JSON envelope: duplicated member")
    return d, t, dev, seq, ts, iv, ct, tag


def decode(text, format=None):
    """Parse either encoding into (dir, type, dev, seq, ts, iv, ct, tag) without any key."""
    if not isinstance(text, str):
        try:
            text = bytes(text).decode()
        except Exception:
            _bad("envelope is not UTF-8 text")
    if format is None:
        format = "json" if text.lstrip().startswith("{") else "compact"
    if format == "json":
        return _from_json(text)
    if format != "compact":
        _bad("format must be 'compact' or 'json'")
    return _from_raw(b64decode(text))


# -- open ----------------------------------------------------------------------------------------------
def open(keys, text, direction="down", format=None, replay=None):
    """Verify (MAC first, constant time) and decrypt; returns (plaintext, device, direction, type, seq, ts).

    keys: Keys, a secret, or a callable device-id -> secret/Keys/None. replay: optional, e.g. an
    iotenv_state.Window; its accept(seq) is called only after everything else passed.
    """
    d, t, dev, seq, ts, iv, ct, tag = decode(text, format)
    if d != _index(DIRECTIONS, direction) + 1:
        _bad("envelope travels the other way (reflected?)", "wrong-direction")
    name = dev.decode()
    if callable(keys):
        keys = keys(name)
        if keys is None:
            _bad("no secret for this device", "unknown-device")
    k = _keys(keys)
    if not equal(_hmac(k.mac, _header(d, t, dev, seq, ts), iv, ct)[:16], tag):
        _bad("authentication tag mismatch: wrong secret or altered envelope", "auth")
    msg = unpad(_cipher(k.enc, iv).decrypt(ct))
    if replay is not None and t != 1:
        replay.accept(seq)
    return msg, name, DIRECTIONS[d - 1], TYPES[t], seq, ts


# -- resync, device side (SPEC.md section 8) ------------------------------------------------------------
def resync_request(keys, device, seq=0, ts=None, format="compact"):
    """Returns (envelope text, nonce); keep the nonce for resync_response()."""
    if ts is None:
        try:
            ts = now()
        except EnvelopeError:
            ts = 0  # an unset clock is a reason to resync: the answer carries the backend's time
    nonce = _random(8)
    return seal(keys, nonce, device, seq, ts, "up", "resync-request", format), nonce


def resync_response(keys, text, nonce):
    """Open the backend's answer; returns (next_seq, backend_time), or None if it is not for this nonce."""
    msg, _, _, typ, _, _ = open(keys, text, "down")
    if typ != "resync-response" or len(msg) != 16 or not equal(msg[:8], nonce):
        return None
    return _be(msg, 8), _be(msg, 12)
