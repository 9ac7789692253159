"""How long ``iotenvelope diagnose`` takes to find a crypto-js PBKDF2 message (the bound documented in
docs/legacy.md and iotenvelope/profiles/diagnose_legacy.py).

    python bench/diagnose_pbkdf2.py [--json] [--runs N]

Cases: a concat text and a ``{ct, iv, s}`` object, each sealed with crypto-js 4.2.0's defaults (SHA-256 x
250000, the slowest setting tried: found last in the worst case is no different, every setting is tried anyway),
diagnosed with ``--passphrase`` and with ``--key`` text that is the passphrase (the key text is read as a
passphrase too: still one passphrase reading, plus the raw-key readings), and a plain base64 ciphertext with no
PBKDF2 shape (the cost for everything else). Medians of --runs wall-clock runs in this process; ratio = case / no-PBKDF2 case.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from iotenvelope.primitives import b64, cipher  # noqa: E402
from iotenvelope.profiles import cryptojs_pbkdf2 as pb, diagnose_legacy  # noqa: E402
from iotenvelope.profiles.diagnose import diagnose  # noqa: E402

READING = b'{"co2": 1223, "temp": 21.5, "hum": 48}'


def cases():
    concat, _ = pb.seal(READING, "pw", "cryptojs-4.2.0", "concat", bytes(range(16)), bytes(range(16, 32)))
    as_json, _ = pb.seal(READING, "pw", "cryptojs-4.2.0", "json", bytes(range(16)), bytes(range(16, 32)))
    plain = b64.encode_std(cipher.encrypt(bytes(16), bytes(16), READING))
    return [("no PBKDF2 shape (base64 ciphertext)", plain, dict(key="00" * 16, iv="00" * 16)),
            ("concat, --passphrase", concat, dict(passphrase="pw")),
            ("json, --passphrase", as_json, dict(passphrase="pw")),
            ("concat, --key given as text", concat, dict(key="pw"))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    settings = diagnose_legacy.pbkdf2_settings()
    hmacs = sum(n * (2 if h == "sha1" else 1) for h, n in settings)  # 32 bytes = 2 SHA-1 blocks
    rows = []
    for name, text, kwargs in cases():
        times, found = [], None
        for _ in range(args.runs):
            t0 = time.perf_counter()
            report = diagnose(text, **kwargs)
            times.append(time.perf_counter() - t0)
            found = report.findings[0].options if report.findings else None
        rows.append({"case": name, "median_s": round(statistics.median(times), 3), "runs": args.runs,
                     "found": found is not None, "tries": report.tries})
    base = rows[0]["median_s"] or 1e-9
    for r in rows:
        r["ratio_vs_no_pbkdf2"] = round(r["median_s"] / base, 1)
    out = {"derivations_per_reading": len(settings), "hmac_per_reading": hmacs,
           "python": sys.version.split()[0], "rows": rows}
    if args.json:
        print(json.dumps(out))
        return
    print(f"{len(settings)} PBKDF2 derivations per passphrase reading, {hmacs} HMAC computations")
    for r in rows:
        print(f"{r['case']:40s} {r['median_s']:8.3f} s  x{r['ratio_vs_no_pbkdf2']:<8} found={r['found']}")


if __name__ == "__main__":
    main()
