# Footprint and speed of the iotenv module, measured inside a MicroPython interpreter (a board, the unix
# port, or the WebAssembly build): copy it next to iotenv.py and run it.
#
#   micropython bench_device.py [ROUNDS] [hostile]     prints one JSON object
#
# "hostile" adds the time to refuse 64 KB JSON texts built to be slow to parse (needs ~0.5 MB of heap: the
# unix port or the wasm build, not a small board).
#
# Heap figures are bytes allocated with the garbage collector switched off (nothing is freed meanwhile), so
# they bound the peak heap of the call. "aes" is the share of the cryptolib calls (object + encrypt), which
# depends on the firmware's cryptolib, not on this module.
import gc
import sys
import time

try:
    import ujson as json
except ImportError:
    import json

import iotenv

try:
    import iotenv_lean  # optional module: measured when it is installed beside iotenv
except ImportError:
    iotenv_lean = None

SECRET = bytes(range(16))
READING = b'{"co2": 1223, "temp": 21.4, "hum": 48, "bat": 3.71, "rssi": -67, "uptime": 8639}'  # 80 bytes
TS = 1763900000


def alloc(f):
    f()  # warm up: first calls allocate once-only things
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        f()
        return gc.mem_alloc() - before
    finally:
        gc.enable()


def heap(secret=SECRET, msg=READING):
    keys = iotenv.Keys(secret)
    text = iotenv.seal(keys, msg, "sensor-01", 3, TS)
    block = iotenv.pad(msg)
    iv = bytes(16)
    out = {
        "seal": alloc(lambda: iotenv.seal(keys, msg, "sensor-01", 2, TS)),
        "seal_with_secret": alloc(lambda: iotenv.seal(secret, msg, "sensor-01", 2, TS)),
        "open": alloc(lambda: iotenv.open(keys, text, "up")),
        "aes": alloc(lambda: iotenv._cipher(keys.enc, iv).encrypt(block)),
    }
    if iotenv_lean is not None:
        lean = iotenv_lean.Keys(secret)
        frame = iotenv_lean.seal(lean, msg, "sensor-01", 3, TS)
        out["lean_seal"] = alloc(lambda: iotenv_lean.seal(lean, msg, "sensor-01", 2, TS))
        out["lean_seal_20"] = alloc(lambda: iotenv_lean.seal(lean, msg[:20], "sensor-01", 2, 0))
        out["lean_open"] = alloc(lambda: iotenv_lean.open(lean, frame, "sensor-01", "up"))
    return out


def _ticks():
    return time.ticks_us() if hasattr(time, "ticks_us") else int(time.time() * 1000000)


def median_us(f, rounds, batches=7):
    # Median over batches of the mean time per call: some ports tick in milliseconds only.
    n = max(1, rounds // batches)
    per_call = []
    for _ in range(batches):
        t0 = _ticks()
        for _ in range(n):
            f()
        t1 = _ticks()
        dt = time.ticks_diff(t1, t0) if hasattr(time, "ticks_diff") else t1 - t0
        per_call.append(dt / n)
    per_call.sort()
    return round(per_call[batches // 2], 1)


def refuse_ms(text):
    t0 = _ticks()
    try:
        iotenv.open(SECRET, text, "down", "json")
        code = "opened"
    except iotenv.EnvelopeError as e:
        code = e.code
    dt = time.ticks_diff(_ticks(), t0) if hasattr(time, "ticks_diff") else _ticks() - t0
    return {"bytes": len(text.encode()), "code": code, "ms": round(dt / 1000, 1)}


def hostile():
    pad = "A" * 64900
    return {
        "5000_unknown_members": refuse_ms("{" + ", ".join('"m%d": 1' % i for i in range(5000)) + "}"),
        "non_ascii_then_64kb_member": refuse_ms('{"v": 1, "dir": "\u00e9", "type": "' + pad + '"}'),
        "nested_30000": refuse_ms('{"v": ' + "[" * 30000 + "]" * 30000 + "}"),
        "over_the_cap": refuse_ms('{"v": 1, "x": "' + "A" * 65536 + '"}'),
    }


def main(rounds, with_hostile=False):
    keys = iotenv.Keys(SECRET)
    text = iotenv.seal(keys, READING, "sensor-01", 1, TS)
    result = {
        "micropython": "%d.%d.%d" % sys.implementation.version[:3],
        "platform": sys.platform,
        "module": iotenv.__file__,
        "reading_bytes": len(READING),
        "rounds": rounds,
        "heap_bytes": heap(),
        "median_us": {
            "keys": median_us(lambda: iotenv.Keys(SECRET), rounds),
            "seal": median_us(lambda: iotenv.seal(keys, READING, "sensor-01", 1, TS), rounds),
            "open": median_us(lambda: iotenv.open(keys, text, "up"), rounds),
        },
    }
    if iotenv_lean is not None:
        lean = iotenv_lean.Keys(SECRET)
        frame = iotenv_lean.seal(lean, READING, "sensor-01", 1, TS)
        result["median_us"]["lean_seal"] = median_us(lambda: iotenv_lean.seal(lean, READING, "sensor-01", 1, TS), rounds)
        result["median_us"]["lean_open"] = median_us(lambda: iotenv_lean.open(lean, frame, "sensor-01", "up"), rounds)
    if with_hostile:
        result["hostile_refusal"] = hostile()
    print(json.dumps(result))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200, "hostile" in sys.argv[2:])
