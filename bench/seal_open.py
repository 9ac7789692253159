"""Seal/open throughput of envelope v1 beside cryptography's Fernet, in one run, on each AES backend.

Both sides do the same job on the same ~80-byte JSON reading: AES-128-CBC + HMAC-SHA-256 with a fresh IV,
base64url text out (seal / encrypt) and MAC-check + decrypt (open / decrypt, no replay store). We time
batches of N operations, repeat, and report the median per-operation time of each and the ratios
(>1 means iotenvelope is faster than Fernet).

    python bench/seal_open.py [--json] [--repeat 15] [--number 2000]

The ratios ``seal_vs_fernet``/``open_vs_fernet`` are for the backend this process uses (``cryptography`` when
it is installed: ``pip install 'iotenvelope[fast]'``); ``*_pycryptodome`` repeat the run in a child process
forced onto pycryptodome (IOTENVELOPE_AES_BACKEND=pycryptodome), against the same Fernet.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import iotenvelope  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

READING = b'{"co2": 1223, "temp": 21.4, "hum": 48, "bat": 3.71, "rssi": -67, "uptime": 86399}'


def medians_per_op(fns: dict, number: int, repeat: int) -> dict:
    """Per-operation median over ``repeat`` rounds; each round times every function once, interleaved, so a
    burst of load on the machine hits all of them alike."""
    times: dict = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(values) for name, values in times.items()}


def _pycryptodome_version() -> str:
    from importlib.metadata import version
    return version("pycryptodome")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--number", type=int, default=2000)
    ap.add_argument("--only", action="store_true", help=argparse.SUPPRESS)  # one backend, no child run
    args = ap.parse_args()

    secret = bytes(range(16))
    token = iotenvelope.seal(secret, READING, device="sensor-01", seq=1)
    fernet = Fernet(Fernet.generate_key())
    ftoken = fernet.encrypt(READING)
    assert iotenvelope.open(secret, token).plaintext == fernet.decrypt(ftoken) == READING

    seq = iter(range(1, 10 ** 9))
    results = medians_per_op({
        "seal": lambda: iotenvelope.seal(secret, READING, device="sensor-01", seq=next(seq)),
        "fernet_encrypt": lambda: fernet.encrypt(READING),
        "open": lambda: iotenvelope.open(secret, token),
        "fernet_decrypt": lambda: fernet.decrypt(ftoken),
    }, args.number, args.repeat)
    ratios = {"seal_vs_fernet": results["fernet_encrypt"] / results["seal"],
              "open_vs_fernet": results["fernet_decrypt"] / results["open"]}
    import cryptography
    from iotenvelope.primitives import cipher
    out = {**{k: round(v, 3) for k, v in ratios.items()}, "backend": cipher.BACKEND,
           "cryptography": cryptography.__version__, "pycryptodome": _pycryptodome_version(),
           "median_us": {k: round(v * 1e6, 2) for k, v in results.items()},
           "reading_bytes": len(READING), "repeat": args.repeat, "number": args.number}
    if not args.only and cipher.BACKEND != "pycryptodome":
        child = subprocess.run([sys.executable, __file__, "--json", "--only", "--repeat", str(args.repeat),
                                "--number", str(args.number)], capture_output=True, text=True, check=True,
                               env={**os.environ, "IOTENVELOPE_AES_BACKEND": "pycryptodome"})
        other = json.loads(child.stdout)
        out["seal_vs_fernet_pycryptodome"] = other["seal_vs_fernet"]
        out["open_vs_fernet_pycryptodome"] = other["open_vs_fernet"]
        out["median_us_pycryptodome"] = other["median_us"]
    elif cipher.BACKEND == "pycryptodome":
        out["seal_vs_fernet_pycryptodome"], out["open_vs_fernet_pycryptodome"] = out["seal_vs_fernet"], out["open_vs_fernet"]
    if args.json:
        print(json.dumps(out))
    else:
        print(f"AES backend {out['backend']}; Fernet from cryptography {out['cryptography']}; pycryptodome "
              f"{out['pycryptodome']}")
        for name, value in results.items():
            print(f"{name:15s} {value * 1e6:8.2f} us/op (median of {args.repeat} interleaved rounds x {args.number})")
        for name in ("seal_vs_fernet", "open_vs_fernet", "seal_vs_fernet_pycryptodome", "open_vs_fernet_pycryptodome"):
            if name in out:
                print(f"{name:28s} {out[name]:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
