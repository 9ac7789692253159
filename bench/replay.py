"""Replay-store throughput: `open --batch` with each store beside plain open with no replay check, one run.

    python bench/replay.py [--json] [--n 20000] [--repeat 5]

Each configuration opens the same N envelopes (~80-byte JSON readings from 8 devices, sequence numbers
slightly reordered) through the envelope-v1 profile's ``open_batch`` (the code `iotenvelope open --batch`
runs, without reading stdin and printing rows): MAC, decrypt, freshness, then the replay check, in chunks of
1000 envelopes per store transaction / round trip. Every run starts from an empty store. Configurations run
round-robin, ``--repeat`` times; the median envelopes/s of each is reported with its ratio to "none".

The "per message" rows open one envelope at a time (one transaction / round trip each) to show what batching
buys. SQLite runs with synchronous=FULL (the default: an acceptance survives power loss); Redis is a local
redis-server on a random loopback port with appendonly yes + appendfsync always (the setting that keeps
exactly-once across a server crash).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import iotenvelope  # noqa: E402
from iotenvelope import envelope, replay  # noqa: E402
from iotenvelope.profiles import get as get_profile  # noqa: E402

KEY = bytes(range(16))
NOW = 1763900000
READING = b'{"co2": 1223, "temp": 21.5, "hum": 40.2, "batt": 3.71, "rssi": -67, "id": 12}'


def make_envelopes(n: int) -> list[str]:
    rng = random.Random(1)
    out = []
    for i in range(n):
        device = f"sensor-{i % 8:02d}"
        seq = i // 8 + 1
        out.append(iotenvelope.seal(KEY, READING, device=device, seq=seq, ts=NOW - rng.randrange(0, 60)))
    for i in range(0, n - 4, 4):  # local reordering inside the window, as radio links do
        if rng.random() < 0.3:
            out[i], out[i + 3] = out[i + 3], out[i]
    return out


def start_redis(directory: str):
    binary = shutil.which("redis-server")
    if binary is None:
        return None, None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
                             "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b"PING\r\n")
                if c.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    return None, None


def options(store):
    return argparse.Namespace(key=KEY.hex(), passphrase=None, direction="up", format=None, now=NOW, skew=300,
                              max_age=86400, require_time=False, replay=store, replay_store=None,
                              replay_window=replay.DEFAULT_WINDOW)


def run_batch(texts, store) -> float:
    profile = get_profile("envelope-v1")
    t0 = time.perf_counter()
    results = list(profile.open_batch(texts, options(store), lambda m: None))
    elapsed = time.perf_counter() - t0
    bad = [r for r in results if isinstance(r, Exception)]
    if bad:
        raise SystemExit(f"benchmark envelopes failed to open: {bad[0]!r}")
    return len(texts) / elapsed


def run_single(texts, store) -> float:
    t0 = time.perf_counter()
    for text in texts:
        envelope.open(KEY, text, now=NOW, replay=store)
    return len(texts) / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--n", type=int, default=20000, help="envelopes per batch run (default 20000)")
    ap.add_argument("--single-n", type=int, default=3000, help="envelopes per per-message run (default 3000)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    texts = make_envelopes(args.n)
    single_texts = texts[:args.single_n]
    tmp = tempfile.mkdtemp(prefix="iotenvelope-bench-")
    redis_proc, redis_url = start_redis(os.path.join(tmp))
    counter = [0]

    def fresh(kind):
        counter[0] += 1
        if kind == "memory":
            return replay.open_store("memory://")
        if kind == "sqlite":
            return replay.open_store(f"sqlite://{tmp}/bench{counter[0]}.db")
        return replay.open_store(f"{redis_url}?prefix=bench{counter[0]}:")

    configs = [("none", "batch", None), ("memory", "batch", "memory"), ("sqlite", "batch", "sqlite"),
               ("redis", "batch", "redis"), ("sqlite per message", "single", "sqlite"),
               ("redis per message", "single", "redis")]
    if redis_url is None:
        configs = [c for c in configs if c[2] != "redis"]
    rates: dict[str, list[float]] = {name: [] for name, _, _ in configs}
    try:
        for _ in range(args.repeat):
            for name, mode, kind in configs:
                store = fresh(kind) if kind else None
                try:
                    rates[name].append(run_batch(texts, store) if mode == "batch" else run_single(single_texts, store))
                finally:
                    if store is not None:
                        store.close()
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    base = statistics.median(rates["none"])
    rows = []
    for name, mode, _ in configs:
        med = statistics.median(rates[name])
        rows.append({"store": name, "mode": "open --batch (1000 per transaction)" if mode == "batch" else
                     "one transaction per envelope", "envelopes": args.n if mode == "batch" else args.single_n,
                     "median_per_s": round(med), "runs_per_s": [round(r) for r in rates[name]],
                     "ratio_to_none": round(med / base, 3)})
    goals = {"sqlite": 0.25, "redis": 0.25}
    report = {"benchmark": "replay", "python": platform.python_version(), "cpus": os.cpu_count(),
              "repeat": args.repeat, "window": replay.DEFAULT_WINDOW,
              "redis": "not available (redis-server not found)" if redis_url is None else "redis-server, appendfsync always",
              "results": rows,
              "goals": {k: {"min_ratio": v, "ratio": next((r["ratio_to_none"] for r in rows if r["store"] == k), None)}
                        for k, v in goals.items()}}
    for goal in report["goals"].values():
        goal["met"] = goal["ratio"] is not None and goal["ratio"] >= goal["min_ratio"]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"replay-store throughput, median of {args.repeat} (Python {report['python']}, {report['cpus']} CPUs)")
        print(f"{'store':<22}{'envelopes/s':>14}{'vs none':>10}   mode")
        for r in rows:
            print(f"{r['store']:<22}{r['median_per_s']:>14}{r['ratio_to_none']:>10.2f}   {r['mode']}")
        for k, g in report["goals"].items():
            print(f"goal {k} >= {g['min_ratio']:.0%} of none: {'met' if g['met'] else 'NOT met'} ({g['ratio']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
