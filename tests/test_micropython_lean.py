"""The lean form (SPEC.md section 5.3) of the MicroPython device module (interop/micropython/iotenv_lean.py)
inside real MicroPython interpreters (wasm and native, .py and .mpy), against an independent computation of
the SPEC byte layout written here with hashlib/hmac and pycryptodome (not the Python library's code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random

import pytest
from Crypto.Cipher import AES
from Crypto.Util.Padding import pad
from test_micropython import KEY16, KEY32, interp, module_dirs, ok  # noqa: F401  (fixtures)

DIRS = {"up": 1, "down": 2}
TYPES = {"data": 0, "resync-request": 1, "resync-response": 2}


def hkdf_expand(secret: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(bytes(32), secret, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]


def lean_keys(secret: bytes):
    return (hkdf_expand(secret, b"iotenvelope v1 lean enc", len(secret)),
            hkdf_expand(secret, b"iotenvelope v1 lean mac", 32))


def reference_seal(secret, plaintext, device, seq, ts, direction="up", kind="data", *, hdr=None, ct=None):
    k_enc, k_mac = lean_keys(secret)
    if hdr is None:
        hdr = 0x40 | (0x10 if ts else 0) | DIRS[direction] << 2 | TYPES[kind]
    fields = seq.to_bytes(4, "big") + (ts.to_bytes(4, "big") if hdr & 0x10 else b"")
    nonce = bytes([0x4C, hdr & 0x0F]) + seq.to_bytes(4, "big") + bytes(10)
    iv = AES.new(k_enc, AES.MODE_ECB).encrypt(nonce)
    if ct is None:
        ct = AES.new(k_enc, AES.MODE_CBC, iv).encrypt(pad(plaintext, 16))
    dev = device.encode()
    tag = hmac.new(k_mac, bytes([hdr, len(dev)]) + dev + fields + ct, hashlib.sha256).digest()[:8]
    return bytes([hdr]) + fields + ct + tag


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def cases():
    rng = random.Random(13)
    out = []
    for i in range(48):
        key = rng.randbytes(rng.choice((16, 32)))
        msg = rng.randbytes(rng.choice((0, 1, 15, 16, 17, 20, 31, 32, 80)))
        dev = "".join(rng.choice("abcXYZ019-_.:!~#") for _ in range(rng.randint(1, 64)))
        out.append((key, msg, dev, rng.choice((0, 1, 2**31, 2**32 - 1, rng.randrange(2**32))),
                    rng.choice((0, 1, 1763900000, 2**32 - 1)), rng.choice(list(DIRS)), rng.choice(list(TYPES))))
    return out


def test_lean_seal_matches_the_spec_layout(interp, tmp_path):  # noqa: F811
    cs = cases()
    cmds = [["lean_seal", k.hex(), m.hex(), d, s, t, di, ty, False] for k, m, d, s, t, di, ty in cs]
    cmds += [["lean_seal", k.hex(), m.hex(), d, s, t, di, ty, True] for k, m, d, s, t, di, ty in cs[:8]]
    got = interp.batch(tmp_path, cmds)
    want = [reference_seal(k, m, d, s, t, di, ty) for k, m, d, s, t, di, ty in cs]
    assert [ok(g) for g in got[:len(cs)]] == [w.hex() for w in want]
    assert [ok(g) for g in got[len(cs):]] == [b64u(w) for w in want[:8]]


def test_lean_sizes_fit_lorawan(interp, tmp_path):  # noqa: F811
    """13 + 16*ceil((p+1)/16) bytes without ts, 4 more with: 20 bytes fit 45, 31 bytes with ts fit 51."""
    lengths = [0, 15, 16, 20, 31, 32]
    got = interp.batch(tmp_path, [["lean_seal", KEY16.hex(), "61" * p, "s1", 7, ts, "up", "data", False]
                                  for p in lengths for ts in (0, 1763900000)])
    sizes = [len(ok(g)) // 2 for g in got]
    assert sizes == [13 + 16 * -(-(p + 1) // 16) + (4 if ts else 0) for p in lengths for ts in (0, 1)]
    assert sizes[lengths.index(20) * 2] == 45 and sizes[lengths.index(31) * 2 + 1] == 49


def test_lean_open_matches_the_reference(interp, tmp_path):  # noqa: F811
    cs = cases()
    frames = [reference_seal(k, m, d, s, t, di, ty) for k, m, d, s, t, di, ty in cs]
    cmds = [["lean_open", k.hex(), f.hex(), d, di, False] for (k, m, d, s, t, di, ty), f in zip(cs, frames)]
    cmds += [["lean_open", k.hex(), b64u(f) + nl, d, di, True]
             for ((k, m, d, s, t, di, ty), f), nl in zip(zip(cs[:6], frames[:6]), ["", "\n", "\r\n"] * 2)]
    got = [ok(g) for g in interp.batch(tmp_path, cmds)]
    want = [[m.hex(), d, di, ty, s, t] for k, m, d, s, t, di, ty in cs]
    assert got == want + want[:6]


def _header_verdict(hdr, n):
    """What SPEC.md section 5.3 says of a frame whose header byte was changed (its tag no longer matches)."""
    if hdr >> 5 != 2:
        return "unsupported-version"
    if (hdr >> 2 & 3) not in (1, 2) or hdr & 3 == 3:
        return "malformed"
    body = n - 13 - (4 if hdr & 0x10 else 0)
    if body < 16 or body % 16:
        return "malformed"
    return "wrong-direction" if hdr >> 2 & 3 != 2 else "auth"


def _tampered():
    """(description, frame or text, device, direction, expected SPEC error) for one genuine down frame."""
    key, dev, seq, ts = KEY16, "node-7", 41, 1763900000
    good = reference_seal(key, b'{"valve": "open"}', dev, seq, ts, "down")
    out = [("genuine", good, dev, "down", None)]
    for i in range(len(good)):
        for bit in (0, 7):
            b = bytearray(good)
            b[i] ^= 1 << bit
            want = _header_verdict(b[0], len(b)) if i == 0 else "auth"
            out.append((f"byte {i} bit {bit}", bytes(b), dev, "down", want))
    out += [
        ("truncated by 1", good[:-1], dev, "down", "malformed"),
        ("truncated by 16", good[:-16], dev, "down", "auth"),
        ("extended by 1", good + b"\x00", dev, "down", "malformed"),
        ("extended by 16", good + bytes(16), dev, "down", "auth"),
        ("shortest minus one", good[:28], dev, "down", "malformed"),
        ("empty", b"", dev, "down", "malformed"),
        ("wrong device", good, "node-8", "down", "auth"),
        ("device case", good, "Node-7", "down", "auth"),
        ("wrong direction", reference_seal(key, b"x", dev, seq, ts, "up"), dev, "down", "wrong-direction"),
        ("T=1 with ts=0", reference_seal(key, b"x", dev, seq, 0, "down", hdr=0x58), dev, "down", "malformed"),
        ("D=00", reference_seal(key, b"x", dev, seq, 0, hdr=0x40), dev, "down", "malformed"),
        ("D=11", reference_seal(key, b"x", dev, seq, 0, hdr=0x4C), dev, "down", "malformed"),
        ("Y=11", reference_seal(key, b"x", dev, seq, 0, hdr=0x4B), dev, "down", "malformed"),
        ("version 011", reference_seal(key, b"x", dev, seq, 0, hdr=0x68), dev, "down", "unsupported-version"),
        ("compact header", bytes([1]) + good[1:], dev, "down", "unsupported-version"),
        ("bad padding under a valid tag",
         reference_seal(key, b"", dev, seq, ts, "down", ct=AES.new(lean_keys(key)[0], AES.MODE_CBC,
                        AES.new(lean_keys(key)[0], AES.MODE_ECB).encrypt(
                            bytes([0x4C, 0x08]) + seq.to_bytes(4, "big") + bytes(10))).encrypt(bytes(16))),
         dev, "down", "padding"),
        ("bad device id given", good, "a b", "down", "malformed"),
        ("text: newline kept", b64u(good) + "\n", dev, "down", None),
        ("text: two newlines", b64u(good) + "\n\n", dev, "down", "malformed"),
        ("text: lone CR", b64u(good) + "\r", dev, "down", "malformed"),
        ("text: space", b64u(good) + " ", dev, "down", "malformed"),
        ("text: padding", b64u(good) + "=", dev, "down", "malformed"),
        ("text: 65537 bytes", "A" * 65537, dev, "down", "malformed"),
    ]
    return key, out


def test_lean_refusals_name_the_spec_error(interp, tmp_path):  # noqa: F811
    key, cases_ = _tampered()
    cmds = [["lean_open", key.hex(), f if isinstance(f, str) else f.hex(), d, di, isinstance(f, str)]
            for _, f, d, di, _ in cases_]
    got = interp.batch(tmp_path, cmds)
    have = [None if g["ok"] else g["code"] for g in got]
    want = [w for *_, w in cases_]
    assert [(c[0], h) for c, h in zip(cases_, have) if h != c[4]] == []
    assert have == want
    assert ok(got[0])[0] == b'{"valve": "open"}'.hex()


def test_lean_repeated_seq_is_refused_by_the_window(interp, tmp_path):  # noqa: F811
    frames = [reference_seal(KEY32, b"cmd", "gw", s, 0, "down").hex() for s in (5, 5, 6, 4, 200, 100)]
    assert ok(interp.batch(tmp_path, [["lean_window", KEY32.hex(), frames, "gw", 64]])[0]) == [
        5, "replay-duplicate", 6, 4, 200, "replay-too-old"]


def test_lean_and_compact_keys_are_not_interchangeable(interp, tmp_path):  # noqa: F811
    got = interp.batch(tmp_path, [["lean_keys", "compact", KEY16.hex()], ["lean_keys", "lean", KEY16.hex()]])
    assert [(g["ok"], g["code"]) for g in got] == [(False, "bad-key")] * 2


@pytest.mark.parametrize("bad", [["seq", -1], ["seq", 2**32], ["ts", -1], ["dev", ""], ["dev", "x" * 65],
                                 ["direction", "sideways"], ["type", "command"], ["key", "00" * 24]])
def test_lean_seal_argument_errors(interp, tmp_path, bad):  # noqa: F811
    args = {"key": KEY16.hex(), "msg": "", "dev": "d", "seq": 1, "ts": 0, "direction": "up", "type": "data"}
    args[bad[0]] = bad[1]
    g = interp.batch(tmp_path, [["lean_seal", *args.values(), False]])[0]
    assert (g["ok"], g["code"]) == (False, "bad-key" if bad[0] == "key" else "malformed")


def test_heap_of_one_lean_seal(interp, tmp_path):  # noqa: F811
    reading = b'{"co2": 1223, "temp": 21.4, "hum": 48, "bat": 3.71, "rssi": -67, "uptime": 8639}'
    heap = ok(interp.batch(tmp_path, [["heap", KEY16.hex(), reading.hex()]])[0])
    assert 0 < heap["lean_seal_20"] <= heap["lean_seal"] <= 4096, heap
    assert 0 < heap["lean_open"] <= 4096, heap


def test_lean_module_is_small(module_dirs):  # noqa: F811
    """The optional module keeps iotenv.mpy within its 6 KB target: the lean form costs this much more."""
    assert (module_dirs["mpy"] / "iotenv.mpy").stat().st_size <= 6 * 1024
    assert (module_dirs["mpy"] / "iotenv_lean.mpy").stat().st_size <= 2048


def test_lean_agrees_with_the_python_library(interp, tmp_path):  # noqa: F811
    """Differential: genuine lean frames of the Python library (iotenvelope.seal(format="lean-raw")) and random
    damage to them; the module and the library accept exactly the same frames and name the same error."""
    from iotenvelope import envelope
    from iotenvelope.errors import IotEnvelopeError
    rng = random.Random(17)
    cmds, want = [], []
    for key, msg, dev, seq, ts, _, kind in cases()[:16]:
        raw = envelope.seal(key, msg, device=dev, seq=seq, ts=ts, direction="down", type=kind, format="lean-raw")
        assert raw == reference_seal(key, msg, dev, seq, ts, "down", kind)
        frames = [raw]
        for _ in range(20):
            b = bytearray(raw)
            r = rng.randrange(4)
            if r == 0:
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            elif r == 1:
                del b[rng.randrange(len(b)):]
            elif r == 2:
                b += rng.randbytes(rng.randrange(1, 33))
            else:
                b[0] = rng.randrange(256)
            frames.append(bytes(b))
        for f in frames:
            for direction, device in (("down", dev), ("up", dev), ("down", dev + "x" if len(dev) < 64 else "y")):
                cmds.append(["lean_open", key.hex(), f.hex(), device, direction, False])
                try:
                    o = envelope.open(key, f, direction=direction, format="lean-raw", device=device, freshness=None)
                    want.append((True, o.plaintext.hex()))
                except IotEnvelopeError as exc:
                    want.append((False, exc.code))
    got = interp.batch(tmp_path, cmds)
    have = [(True, g["result"][0]) if g["ok"] else (False, g["code"]) for g in got]
    assert [(c[2][:40], c[3], c[4], w, h) for c, w, h in zip(cmds, want, have) if w != h] == []
    assert sum(1 for w in want if w[0]) >= 16
    assert {w[1] for w in want if not w[0]} >= {"malformed", "auth", "wrong-direction", "unsupported-version"}
