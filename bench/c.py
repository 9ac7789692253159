"""Host throughput of the C library per crypto backend, against the same crypto written directly on that library.

    python bench/c.py [--json] [--backend openssl ...]

For each backend (openssl, mbedtls, bearssl, tinyaes, and ownaes: the tiny-AES-c backend with this project's own AES
in C, iote_aes.c, whose assembly twin the AVR builds use) interop/c/tools/bench_host.c is built (make bench-host) and
run once. It seals and opens an 80-byte reading (compact form, 16-byte secret) with the library, and runs a raw
loop doing the same AES-128-CBC + HMAC-SHA-256 work written directly on the same crypto library with contexts
keyed once (OpenSSL EVP_CIPHER_CTX + EVP_MAC, mbedTLS aes/md contexts, BearSSL cbc keys + br_hmac key context,
tiny-AES-c + the project's SHA-256 with the HMAC key blocks hashed once; for ownaes iote_aes_cbc, which expands
the key on every call as the library's backend does). The raw loop builds no base64 text;
the library does, so vs_raw below 1 is the envelope's own cost.

Timing is in C (clock_gettime(CLOCK_MONOTONIC)): every round times one ~1 ms batch of each kind in turn (the
order rotates), 201 rounds; rates are medians over the rounds, ratios the median of the per-round ratios (the two
batches milliseconds apart, so load on a shared machine hits both alike). Printed per backend: seal/open per second, the raw loop's,
``vs_raw_seal``/``vs_raw_open`` (library / raw), the lean form's rates, and for OpenSSL
``keyctx_vs_oneshot_seal``/``_open``: the per-key EVP contexts against the same library calls with one-shot
contexts (what every call did before). Also the time to refuse issue 10's hostile inputs (``refuse_us``).
The sealed envelope each build printed is opened with the Python implementation before anything is reported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import iotenvelope  # noqa: E402
from iotenvelope.verify.peers import c  # noqa: E402

READING = b'{"co2": 1223, "temp": 21.4, "hum": 48, "bat": 3.71, "rssi": -67, "uptime": 8639}'
SECRET = bytes(range(16))
BACKENDS = (*c.BACKENDS, "ownaes")  # ownaes: a build of the C library, not a verify peer of its own


def run(backend: str) -> dict:
    binary = c.BUILD / "bench" / f"iote-bench-{backend}"
    proc = subprocess.run(["make", "-s", "-C", str(c.C_DIR), f"build/bench/iote-bench-{backend}"],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"bench/c.py: building {binary.name} failed: {(proc.stderr or proc.stdout)[-500:]}")
    proc = subprocess.run([str(binary)], input=READING, capture_output=True, timeout=600, check=True)
    result = json.loads(proc.stdout)
    opened = iotenvelope.open(SECRET, result.pop("sealed"), freshness=None)
    assert opened.plaintext == READING and opened.device == "sensor-01", "the C seal did not open in Python"
    result.pop("check", None)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON object with every figure")
    ap.add_argument("--backend", action="append", choices=BACKENDS, help="only these (default: all five)")
    args = ap.parse_args()
    assert len(READING) == 80
    results = {b: run(b) for b in (args.backend or BACKENDS)}
    if args.json:
        print(json.dumps({"reading_bytes": len(READING), "backends": results}, indent=2))
        return 0
    print(f"C library, {len(READING)}-byte reading, compact form, AES-128 (medians of 201 interleaved rounds)")
    print(f"{'backend':<28} {'seal/s':>9} {'raw/s':>9} {'vs_raw':>7} {'open/s':>9} {'raw/s':>9} {'vs_raw':>7}")
    for r in results.values():
        print(f"{r['backend'][:28]:<28} {r['seal_per_s']:>9} {r['raw_seal_per_s']:>9} {r['vs_raw_seal']:>7.3f} "
              f"{r['open_per_s']:>9} {r['raw_open_per_s']:>9} {r['vs_raw_open']:>7.3f}")
    for r in results.values():
        if "keyctx_vs_oneshot_seal" in r:
            print(f"{r['backend']}: per-key EVP contexts vs one-shot: seal x{r['keyctx_vs_oneshot_seal']}, "
                  f"open x{r['keyctx_vs_oneshot_open']}")
    first = next(iter(results.values()))
    print("refusal of hostile input (us):", ", ".join(f"{k} {v}" for k, v in first["refuse_us"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
