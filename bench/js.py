"""JavaScript envelope cost: interop/js on node:crypto vs on crypto-js, and vs the same work hand-written on
node:crypto, all in one node process (issue 16 item 3).

    python bench/js.py [--json] [--rounds 15] [--ops 2000]

bench/js_bench.js does the timing: every round times `ops` seals and opens of bench/seal_open.py's ~80-byte
reading with each of three implementations, interleaved (the order alternates between rounds), after checking
that each opens what every other sealed:

- ``node``: the package's default backend under Node.js (node:crypto),
- ``cryptojs``: the same package on its crypto-js backend (the browser/sandbox fallback; ops/10 per round),
- ``raw``: the same work written directly on node:crypto (keys derived once; header, random IV, AES-128-CBC,
  HMAC-SHA-256, base64url; open: base64url, header fields, HMAC, constant-time compare, AES-CBC + OpenSSL's
  PKCS#7 check), i.e. what a careful hand-written implementation costs.

Ratios are medians of the rounds, > 1 means the package on node:crypto is faster:
``node_vs_cryptojs_seal/open`` = crypto-js time / node:crypto time (goal >= 10), ``vs_raw_seal/open`` = raw
time / package time (goal >= 0.67: the package costs at most 1.5x the hand-written code).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve().parent / "js_bench.js"
PACKAGE = ROOT / "interop" / "js"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--ops", type=int, default=2000, help="operations per implementation per round (default 2000)")
    opts = parser.parse_args()
    if opts.rounds < 1 or opts.ops < 1:
        parser.error("--rounds and --ops must be >= 1")
    node = shutil.which("node")
    if not node or not (PACKAGE / "node_modules" / "crypto-js").is_dir():
        print("bench/js.py: needs node and interop/js/node_modules (run .ci/install, or npm ci in interop/js)",
              file=sys.stderr)
        return 2
    proc = subprocess.run([node, str(SCRIPT), str(PACKAGE), str(opts.rounds), str(opts.ops)],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        print(f"bench/js.py: node failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return 1
    data = json.loads(proc.stdout)
    med = {impl: {op: statistics.median(v) for op, v in ops.items()} for impl, ops in data["times"].items()}
    result = {
        "node_vs_cryptojs_seal": round(med["cryptojs"]["seal"] / med["node"]["seal"], 2),
        "node_vs_cryptojs_open": round(med["cryptojs"]["open"] / med["node"]["open"], 2),
        "vs_raw_seal": round(med["raw"]["seal"] / med["node"]["seal"], 3),
        "vs_raw_open": round(med["raw"]["open"] / med["node"]["open"], 3),
        "median_us": {impl: {op: round(v, 2) for op, v in ops.items()} for impl, ops in med.items()},
        "node": data["node"], "openssl": data["openssl"], "cryptojs": data["cryptojs"],
        "rounds": data["rounds"], "ops": data["ops"],
    }
    if opts.json:
        print(json.dumps(result))
        return 0
    print(f"node {data['node']} (OpenSSL {data['openssl']}), crypto-js {data['cryptojs']}; "
          f"{data['rounds']} interleaved rounds of {data['ops']} ops (crypto-js: ops/10)")
    for impl in ("node", "cryptojs", "raw"):
        m = result["median_us"][impl]
        print(f"  {impl:9} seal {m['seal']:8.2f} us   open {m['open']:8.2f} us")
    for key in ("node_vs_cryptojs_seal", "node_vs_cryptojs_open", "vs_raw_seal", "vs_raw_open"):
        print(f"{key}: {result[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
