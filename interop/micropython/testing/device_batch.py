# TEST-ONLY driver: runs a batch of calls into the device modules inside a MicroPython interpreter so the
# Python tests can check them against the Python library.
#
#   micropython device_batch.py BATCH.json     (or: node testing/mpnode.mjs testing/device_batch.py ...)
#
# BATCH.json is a list of [command, arg...]; for each, one JSON line is printed:
#   {"ok": true, "result": ...}   or   {"ok": false, "error": "ExceptionType", "code": "...", "msg": "..."}
# Byte strings travel as lowercase hex both ways.
import sys

try:
    import ujson as json
except ImportError:
    import json
try:
    import ubinascii as binascii
except ImportError:
    import binascii

import iotenv


def h(b):
    return None if b is None else binascii.hexlify(b).decode()


def u(s):
    return None if s is None else binascii.unhexlify(s)


def c_seal(key, msg, dev, seq, ts, direction, typ, fmt, iv):
    return iotenv.seal(u(key), u(msg), dev, seq, ts, direction, typ, fmt, u(iv))


def c_seal_now(key, msg, dev, seq):
    return iotenv.seal(u(key), u(msg), dev, seq)


def c_open(key, text, direction, fmt):
    r = iotenv.open(u(key), text, direction, fmt)
    return [h(r[0])] + list(r[1:])


def c_lean_seal(key, msg, dev, seq, ts, direction, typ, text):
    import iotenv_lean
    r = iotenv_lean.seal(u(key), u(msg), dev, seq, ts, direction, typ, text)
    return r if text else h(r)


def c_lean_open(key, data, dev, direction, is_text):
    # data: hex of the raw bytes, or the base64url text when is_text
    import iotenv_lean
    r = iotenv_lean.open(u(key), data if is_text else u(data), dev, direction)
    return [h(r[0])] + list(r[1:])


def c_lean_window(key, frames, dev, size):
    import iotenv_lean
    import iotenv_state
    w = iotenv_state.Window(size)
    out = []
    for f in frames:
        try:
            out.append(iotenv_lean.open(u(key), u(f), dev, "down", w)[4])
        except iotenv.EnvelopeError as e:
            out.append(e.code)
    return out


def c_lean_keys(form_of_key, key):
    # seal with keys of the other form: "compact" = iotenv.Keys given to iotenv_lean, "lean" = the reverse
    import iotenv_lean
    if form_of_key == "compact":
        return h(iotenv_lean.seal(iotenv.Keys(u(key)), b"x", "d", 1, 0))
    return iotenv.seal(iotenv_lean.Keys(u(key)), b"x", "d", 1, 0)


def c_open_bytes(key, data):
    r = iotenv.open(u(key), u(data))
    return [h(r[0])] + list(r[1:])


def c_open_window(key, texts, size):
    import iotenv_state
    w = iotenv_state.Window(size)
    out = []
    for t in texts:
        try:
            out.append(iotenv.open(u(key), t, "down", None, w)[4])
        except iotenv.EnvelopeError as e:
            out.append(e.code)
    return out


def c_resync_request(key, dev, seq):
    import iotenv_state
    text, pending = iotenv_state.resync_request(u(key), dev, seq)
    return [text, h(pending.nonce)]


def c_resync_response(key, text, nonce):
    import iotenv_state
    r = iotenv_state.resync_response(u(key), text, iotenv_state.Pending(u(nonce)))
    return None if r is None else list(r)


def _answer(key, text, pending, t_wait):
    import iotenv_state
    try:
        r = iotenv_state.resync_response(u(key), text, pending, *([] if t_wait is None else [t_wait]))
        return None if r is None else list(r)
    except iotenv.EnvelopeError as e:
        return e.code


def c_resync_wait(key, nonce, answers, t_wait=None):
    # A pending request made at t = 0 ms of an injected clock; each answer [text, t_ms] is given to
    # resync_response at its time. Returns [next_seq, backend_time], None or the error code for each.
    import iotenv_state
    now = [0]
    pending = iotenv_state.Pending(u(nonce), lambda: now[0])
    out = []
    for text, at in answers:
        now[0] = at
        out.append(_answer(key, text, pending, t_wait))
    return out


def c_resync_ticks(key, nonce, text, wall_jump):
    # The default clock (time.ticks_ms); wall_jump seconds are taken off the request's wall-clock time, as
    # if the wall clock had run that much longer than the ticks (which happens when ticks_ms wraps).
    import iotenv_state
    pending = iotenv_state.Pending(u(nonce))
    pending.wall -= wall_jump
    return _answer(key, text, pending, None)


def c_window(size, seqs):
    import iotenv_state
    w = iotenv_state.Window(size)
    out = []
    for s in seqs:
        try:
            w.accept(s)
            out.append("ok")
        except iotenv.EnvelopeError as e:
            out.append(e.code)
    return out


def c_counter(path, k, calls, advance):
    # calls: how many next() calls; advance: None or a value passed to advance() before them.
    # Returns the numbers handed out and the two slots' marks afterwards (-1 missing, -2 damaged); a new
    # Counter on the same path is a reboot.
    import iotenv_state
    c = iotenv_state.Counter(path, k)
    if advance is not None:
        c.advance(advance)
    seqs = [c.next() for _ in range(calls)]
    return [seqs, [iotenv_state._read_slot(path + ".0"), iotenv_state._read_slot(path + ".1")]]


def c_read(path):
    # A file's bytes as hex, or None if it does not exist.
    try:
        with open(path, "rb") as f:
            return h(f.read())
    except OSError:
        return None


def c_remove(path):
    import os
    os.remove(path)


def c_write_hex(path, data):
    with open(path, "wb") as f:
        f.write(u(data))


def c_write(path, text):
    with open(path, "w") as f:
        f.write(text)


def c_clock_unset():
    floor = iotenv.CLOCK_FLOOR
    iotenv.CLOCK_FLOOR = 1 << 40  # every clock reading now looks unset
    try:
        return iotenv.now()
    finally:
        iotenv.CLOCK_FLOOR = floor


def c_without(name, key):
    # Simulate firmware without cryptolib ("aes") or os.urandom ("urandom").
    saved = getattr(iotenv, name)
    setattr(iotenv, name, None)
    try:
        return iotenv.seal(u(key), b"x", "dev", 1, 0)
    finally:
        setattr(iotenv, name, saved)


def c_env():
    return {"file": iotenv.__file__, "epoch_offset": iotenv.EPOCH_OFFSET, "version": iotenv.__version__,
            "micropython": "%d.%d.%d" % sys.implementation.version[:3],
            "modules": [__import__(m).__file__ for m in ("iotenv", "iotenv_state", "iotenv_lean", "iotenv_legacy")]}


def c_heap(key, msg):
    import bench_device
    return bench_device.heap(u(key), u(msg))


def c_legacy(fn, *args):
    import iotenv_legacy as L
    if fn == "md5_pure":
        return h(L.md5_pure(u(args[0])))
    if fn == "md5":
        return h(L.md5(u(args[0])))
    if fn == "has_md5":
        return L._md5 is not None
    if fn == "evp":
        k, iv = L.evp_bytes_to_key(args[0], u(args[1]), args[2], args[3])
        return [h(k), h(iv)]
    if fn == "cryptojs_encrypt":
        return L.cryptojs_encrypt(args[0], u(args[1]), u(args[2]), args[3])
    if fn == "cryptojs_decrypt":
        return h(L.cryptojs_decrypt(args[0], args[1], args[2]))
    if fn == "esp8266_seal":
        return L.esp8266_seal(u(args[0]), args[1], u(args[2]))
    if fn == "esp8266_open":
        return h(L.esp8266_open(u(args[0]), args[1]))
    raise ValueError("no legacy function " + fn)


def c_b64(text, url):
    if url:
        return h(iotenv.b64decode(text))
    import iotenv_legacy
    return h(iotenv_legacy.b64decode(text))


def c_standin():
    # What the cryptolib in use accepts and refuses (the ucryptolib rules of DESIGN.md section 4).
    try:
        import cryptolib
    except ImportError:
        import ucryptolib as cryptolib
    k, iv = bytes(16), bytes(16)
    out = {"MODE_attrs": [n for n in dir(cryptolib) if n.startswith("MODE")]}

    def probe(name, f):
        try:
            r = f()
            out[name] = "ok" if r is None else h(r)
        except Exception as e:
            out[name] = type(e).__name__

    probe("keyword_iv", lambda: cryptolib.aes(k, 2, iv=iv))
    probe("mode_ctr", lambda: cryptolib.aes(k, 6, iv))
    probe("mode_0", lambda: cryptolib.aes(k, 0, iv))
    probe("key_24", lambda: cryptolib.aes(bytes(24), 2, iv))
    probe("key_32", lambda: cryptolib.aes(bytes(32), 2, iv).encrypt(bytes(16)))
    probe("cbc_no_iv", lambda: cryptolib.aes(k, 2))
    probe("iv_8", lambda: cryptolib.aes(k, 2, bytes(8)))
    probe("ecb", lambda: cryptolib.aes(k, 1).encrypt(bytes(32)))
    probe("len_15", lambda: cryptolib.aes(k, 2, iv).encrypt(bytes(15)))
    probe("len_0", lambda: cryptolib.aes(k, 2, iv).encrypt(b""))
    probe("cbc_one_call", lambda: cryptolib.aes(k, 2, iv).encrypt(bytes(48)))
    a = cryptolib.aes(k, 2, iv)
    probe("cbc_three_calls", lambda: a.encrypt(bytes(16)) + a.encrypt(bytes(16)) + a.encrypt(bytes(16)))
    probe("then_decrypt", lambda: a.decrypt(bytes(16)))
    d = cryptolib.aes(k, 2, iv)
    probe("decrypt_first", lambda: d.decrypt(bytes(32)))
    probe("then_encrypt", lambda: d.encrypt(bytes(16)))
    return out


COMMANDS = {
    "seal": c_seal, "seal_now": c_seal_now, "open": c_open, "open_bytes": c_open_bytes, "open_window": c_open_window,
    "lean_seal": c_lean_seal, "lean_open": c_lean_open, "lean_window": c_lean_window, "lean_keys": c_lean_keys,
    "resync_request": c_resync_request, "resync_response": c_resync_response, "window": c_window,
    "resync_wait": c_resync_wait, "resync_ticks": c_resync_ticks, "counter": c_counter, "write": c_write,
    "write_hex": c_write_hex, "read": c_read, "remove": c_remove, "clock_unset": c_clock_unset,
    "without": c_without, "env": c_env,
    "heap": c_heap, "legacy": c_legacy, "b64": c_b64, "standin": c_standin,
}


def main(path):
    with open(path) as f:
        batch = json.load(f)
    for item in batch:
        try:
            r = {"ok": True, "result": COMMANDS[item[0]](*item[1:])}
        except Exception as e:
            r = {"ok": False, "error": type(e).__name__, "code": getattr(e, "code", None), "msg": str(e)}
        print(json.dumps(r))


if __name__ == "__main__":
    main(sys.argv[1])
