# iotenv_legacy: the legacy wire conventions, for fleets that already speak them (DESIGN.md section 4).
#
# NONE OF THESE IS AUTHENTICATED: no MAC, so a wrong key or an altered message is at best noticed as bad
# padding. Use them to keep talking to an existing backend while moving to iotenv (envelope v1).
#
#   cryptojs_encrypt(passphrase, data) / cryptojs_decrypt(passphrase, text)   profile cryptojs-passphrase:
#       what CryptoJS.AES.encrypt(text, "passphrase") produces: base64("Salted__" | salt | AES-256-CBC),
#       key and IV from OpenSSL's EVP_BytesToKey with MD5, one iteration, 8-byte random salt
#       (bits=128 gives the AES-128 variant: key = D1, IV = D2).
#   esp8266_seal(key, text) / esp8266_open(key, message)                     profile esp8266-b64:
#       the ESP8266 blog pattern {"iv": b64(iv), "data": b64(AES-128-CBC(key, iv, b64(text)))};
#       opening also accepts the backend's habit of sending the IV as base64 of its 32-digit hex string.
#
# MD5 comes from hashlib where the firmware has it (never on ESP8266; ESP32 from 1.22, RP2 from 1.27),
# otherwise from the small pure-Python md5() below.
from iotenv import EnvelopeError, _ba, _cipher, _hashlib, _random, b64decode as _b64url_decode, pad, unpad

__version__ = "0.2.0"

try:
    import ujson as _json
except ImportError:
    import json as _json

_md5 = getattr(_hashlib, "md5", None)

# RFC 1321: per-round shift amounts and the 64 constants floor(abs(sin(i + 1)) * 2**32), written out
# because ESP8266 floats are 32-bit.
_S = (7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21)
_K = (
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
)
_M = 0xFFFFFFFF


def _le(words):
    out = bytearray()
    for w in words:
        out += bytes((w & 255, w >> 8 & 255, w >> 16 & 255, w >> 24 & 255))
    return bytes(out)


def md5_pure(data):
    """MD5 (RFC 1321) in Python, for firmware without hashlib.md5. Slow but small."""
    n = len(data)
    bits = n * 8
    data = bytes(data) + b"\x80" + bytes((55 - n) % 64) + _le((bits & _M, bits >> 32 & _M))
    h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]
    for off in range(0, len(data), 64):
        x = [data[off + j] | data[off + j + 1] << 8 | data[off + j + 2] << 16 | data[off + j + 3] << 24
             for j in range(0, 64, 4)]
        a, b, c, d = h
        for i in range(64):
            r = i >> 4
            if r == 0:
                f = (b & c) | ((b ^ _M) & d)
                g = i
            elif r == 1:
                f = (d & b) | ((d ^ _M) & c)
                g = (5 * i + 1) & 15
            elif r == 2:
                f = b ^ c ^ d
                g = (3 * i + 5) & 15
            else:
                f = c ^ (b | (d ^ _M))
                g = (7 * i) & 15
            f = (f + a + _K[i] + x[g]) & _M
            s = _S[r * 4 + (i & 3)]
            a, d, c = d, c, b
            b = (b + ((f << s | f >> (32 - s)) & _M)) & _M
        h = [(h[0] + a) & _M, (h[1] + b) & _M, (h[2] + c) & _M, (h[3] + d) & _M]
    return _le(h)


def md5(data):
    return _md5(data).digest() if _md5 else md5_pure(data)


def evp_bytes_to_key(password, salt, key_len=32, iv_len=16):
    """OpenSSL EVP_BytesToKey with MD5 and one iteration: D_i = MD5(D_(i-1) | password | salt)."""
    if isinstance(password, str):
        password = password.encode()
    out = d = b""
    while len(out) < key_len + iv_len:
        d = md5(d + password + salt)
        out += d
    return out[:key_len], out[key_len:key_len + iv_len]


def b64encode(raw):
    """Standard base64 with "=" padding, one line."""
    return _ba.b2a_base64(raw)[:-1].decode()


def b64decode(s):
    """Strict standard base64: "=" padded to a multiple of 4, no line breaks, canonical."""
    if isinstance(s, str):
        s = s.encode()
    if len(s) % 4 or b"-" in s or b"_" in s:
        raise EnvelopeError("malformed", "bad base64")
    s = s[:-2] if s.endswith(b"==") else s[:-1] if s.endswith(b"=") else s
    return _b64url_decode(s.replace(b"+", b"-").replace(b"/", b"_"))


def _bytes(data):
    return data.encode() if isinstance(data, str) else data


def cryptojs_encrypt(passphrase, data, salt=None, bits=256):
    if salt is None:
        salt = _random(8)
    if len(salt) != 8:
        raise EnvelopeError("bad-key", "salt must be 8 bytes")
    key, iv = evp_bytes_to_key(passphrase, salt, bits // 8)
    return b64encode(b"Salted__" + salt + _cipher(key, iv).encrypt(pad(_bytes(data))))


def cryptojs_decrypt(passphrase, text, bits=256):
    raw = b64decode(text)
    if len(raw) < 32 or raw[:8] != b"Salted__" or len(raw) % 16:
        raise EnvelopeError("malformed", "not base64 of 'Salted__' | 8-byte salt | whole AES blocks")
    key, iv = evp_bytes_to_key(passphrase, raw[8:16], bits // 8)
    return unpad(_cipher(key, iv).decrypt(raw[16:]))


def _key(key):
    if not isinstance(key, (bytes, bytearray)) or len(key) != 16:
        raise EnvelopeError("bad-key", "the ESP8266 pattern uses AES-128: a 16-byte key")
    return key


def esp8266_seal(key, text, iv=None):
    """Device -> backend message of the ESP8266 blog pattern, as JSON text."""
    if iv is None:
        iv = _random(16)
    ct = _cipher(_key(key), iv).encrypt(pad(b64encode(_bytes(text)).encode()))
    return '{"iv":"%s","data":"%s"}' % (b64encode(iv), b64encode(ct))


def esp8266_open(key, message):
    """Open {"iv": ..., "data": ...} (JSON text or a dict); returns the inner text as bytes."""
    o = message
    if not isinstance(o, dict):
        try:
            o = _json.loads(o)
        except ValueError:
            o = None
    if not isinstance(o, dict) or not isinstance(o.get("iv"), str) or not isinstance(o.get("data"), str):
        raise EnvelopeError("malformed", 'expected a JSON object with string members "iv" and "data"')
    iv = b64decode(o["iv"])
    if len(iv) == 32:  # base64 of the IV's hex digits, as the Node side of the blog sends it
        try:
            iv = _ba.unhexlify(iv)
        except ValueError:
            pass
    if len(iv) != 16:
        raise EnvelopeError("malformed", "IV must be 16 bytes")
    ct = b64decode(o["data"])
    if not ct or len(ct) % 16:
        raise EnvelopeError("malformed", "data must be whole AES blocks")
    return b64decode(unpad(_cipher(_key(key), iv).decrypt(ct)))
