# iotenv_lean: the lean form of envelope v1 (SPEC.md section 5.3), for LoRaWAN and other binary transports
# that already name the device. Optional: it needs iotenv beside it.
#
#   import iotenv_lean
#   keys = iotenv_lean.Keys(secret)            # the lean form's own key pair; derive once, reuse
#   frame = iotenv_lean.seal(keys, b'{"co2":1223}', "sensor-01", seq, ts=0)    # bytes: 13 + 16*n (+4 with ts)
#   msg, dev, dir, typ, seq, ts = iotenv_lean.open(keys, frame, "sensor-01")  # expects direction "down"
#
# The device id is not on the wire but under the MAC: open() must be told it. The IV is derived from the
# sequence number, so a number must never be sealed twice: use iotenv_state.Counter. seal(..., text=True) and
# open() of a str use base64url text instead of bytes. Errors are iotenv.EnvelopeError with SPEC.md codes.
from iotenv import (DIRECTIONS, MAX_RAW, TYPES, EnvelopeError, Keys as _Keys, _be, _check_u32, _cipher, _dev,
                    _hmac, _index, _keys, _text, b64decode, b64encode, equal, now, pad, struct, unpad)

__version__ = "0.2.0"
_FORM = b"lean "


def _bad(msg, code="malformed"):
    raise EnvelopeError(code, msg)


def Keys(secret):
    """K_enc_lean and K_mac_lean from a 16- or 32-byte device secret (SPEC.md section 2.2)."""
    return _Keys(secret, _FORM)


def _iv(k, hdr, seq):
    # AES-ECB(K_enc_lean, 0x4C | hdr & 0x0F | seq | 10 zero bytes), as one CBC block under a zero IV
    return _cipher(k.enc, bytes(16)).encrypt(bytes((0x4C, hdr & 15)) + struct.pack(">I", seq) + bytes(10))


def _tag(k, hdr, dev, fields, ct):
    return _hmac(k.mac, bytes((hdr, len(dev))), dev, fields, ct)[:8]


def seal(keys, plaintext, device, seq, ts=None, direction="up", type="data", text=False):
    """Returns the lean envelope as bytes (text=True: base64url str). ts None reads the clock; ts=0 (time
    unknown) leaves the timestamp out, 4 bytes shorter."""
    k = _keys(keys, _FORM)
    hdr = 0x40 | (_index(DIRECTIONS, direction) + 1) << 2 | _index(TYPES, type)
    dev = _dev(device)
    if ts is None:
        ts = now()
    _check_u32(seq)
    _check_u32(ts)
    fields = struct.pack(">I", seq)
    if ts:
        hdr |= 0x10
        fields += struct.pack(">I", ts)
    if isinstance(plaintext, str):
        plaintext = plaintext.encode()
    ct = _cipher(k.enc, _iv(k, hdr, seq)).encrypt(pad(plaintext))
    raw = bytes((hdr,)) + fields + ct + _tag(k, hdr, dev, fields, ct)
    if len(raw) > MAX_RAW:
        _bad("envelope > 49152 bytes")
    return b64encode(raw) if text else raw


def decode(data):
    """(hdr, seq, ts, fields, ct, tag) of a lean envelope (bytes, or base64url text), without a key."""
    if isinstance(data, str):
        raw = b64decode(_text(data))
    else:
        raw = bytes(data)
        if len(raw) > MAX_RAW:
            _bad("envelope > 49152 bytes")
    n = len(raw)
    if not n:
        _bad("empty")
    hdr = raw[0]
    if hdr >> 5 != 2:
        _bad("not a lean envelope", "unsupported-version")
    t = hdr >> 2 & 4  # 4 if a ts is on the wire
    if not 1 <= hdr >> 2 & 3 <= 2 or hdr & 3 == 3:
        _bad("bad dir/type")
    body = n - 13 - t
    if body < 16 or body % 16:
        _bad("bad ct length")
    ts = _be(raw, 5) if t else 0
    if t and not ts:
        _bad("ts 0 on the wire")
    return hdr, _be(raw, 1), ts, raw[1:5 + t], raw[5 + t:n - 8], raw[n - 8:]


def open(keys, data, device, direction="down", replay=None):
    """Verify (MAC first, constant time) and decrypt; returns (plaintext, device, direction, type, seq, ts).

    keys: lean Keys, a secret, or a callable device-id -> secret/Keys/None. replay: e.g. an
    iotenv_state.Window, whose accept(seq) is called only after everything else passed.
    """
    hdr, seq, ts, fields, ct, tag = decode(data)
    d = hdr >> 2 & 3
    if d != _index(DIRECTIONS, direction) + 1:
        _bad("wrong direction (reflected?)", "wrong-direction")
    dev = _dev(device)
    name = dev.decode()
    if callable(keys):
        keys = keys(name)
        if keys is None:
            _bad("no secret for this device", "unknown-device")
    k = _keys(keys, _FORM)
    if not equal(_tag(k, hdr, dev, fields, ct), tag):
        _bad("tag mismatch: wrong secret, device or altered", "auth")
    msg = unpad(_cipher(k.enc, _iv(k, hdr, seq)).decrypt(ct))
    if replay is not None and hdr & 3 != 1:
        replay.accept(seq)
    return msg, name, DIRECTIONS[d - 1], TYPES[hdr & 3], seq, ts
