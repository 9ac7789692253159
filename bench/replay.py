"""Replay-store throughput: `open --batch` with each store beside plain open with no replay check, one run.

    python bench/replay.py [--json] [--n 20000] [--repeat 5]

Each configuration opens the same N envelopes (~80-byte JSON readings from 8 devices, sequence numbers
slightly reordered) through the envelope-v1 profile's ``open_batch`` (the code `iotenvelope open --batch`
runs, without reading stdin and printing rows): MAC, decrypt, freshness, then the replay check, in chunks of
1000 envelopes per store transaction / round trip. Every run starts from an empty store. Configurations run
round-robin, ``--repeat`` times; the median envelopes/s of each is reported with its ratio to "none".

The "per message" rows open one envelope at a time (one transaction / round trip each) to show what batching
buys.

Beside Fernet (issue 16 item 2; cryptography's Fernet, the same reading, interleaved with our runs):

- ``open_many_sqlite_vs_fernet``: ``iotenvelope.open_many`` over the N envelopes in chunks of 1000 with a fresh
  SQLite replay store (one transaction per chunk, synchronous=FULL) against a loop of ``Fernet.decrypt`` over
  N tokens, in this process (> 1: iotenvelope is quicker);
- ``open_batch_cli_vs_fernet_script``: the whole process ``iotenvelope open --batch`` (the console script pip
  installs) reading ``--cli-n`` envelope lines on stdin and printing a JSON row each, against a Python script
  that reads ``--cli-n`` Fernet tokens, decrypts each and prints ``{"ok": true, "plaintext": ...}``;
  interpreter start-up is in both, so the ratio grows with the line count (``--cli-n``, default 10000).

Each of these two is the median over ``--fernet-rounds`` rounds (default 11) of one round's ratio: in process,
a round alternates 1000 of our envelopes with 1000 Fernet tokens (which side goes first swaps every round), so
the machine's drift hits both sides alike; the two processes run once per round, in alternating order.

SQLite runs with synchronous=FULL (the default: an acceptance survives power loss); Redis is a local
redis-server on a random loopback port with appendonly yes + appendfsync always (the setting that keeps
exactly-once across a server crash).
"""

from __future__ import annotations

import argparse
import gc
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
from iotenvelope.profiles.envelope_v1 import BATCH_CHUNK  # noqa: E402

KEY = bytes(range(16))
BATCH = BATCH_CHUNK  # envelopes per open_many call / store transaction, as `open --batch` does
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


#: what the ``iotenvelope`` console script runs
_CONSOLE_SCRIPT = "import sys\nfrom iotenvelope.cli import main\nsys.exit(main())\n"
#: the Fernet side of open --batch: read a token per line, decrypt, print a JSON row
_FERNET_BATCH = """import json, sys
from cryptography.fernet import Fernet
fernet = Fernet(sys.argv[1].encode())
write = sys.stdout.write
for line in sys.stdin.buffer:
    line = line.rstrip(b"\\r\\n")
    if line:
        write(json.dumps({"ok": True, "plaintext": fernet.decrypt(line).decode()}) + "\\n")
"""


def fernet_comparison(texts: list, cli_n: int, repeat: int, tmp: str) -> dict:
    """open_many + SQLite vs a Fernet decrypt loop (in process), and open --batch vs a Fernet script (whole
    processes). Each ratio is the median over ``repeat`` rounds of the round's ratio, so that the machine's
    drift between rounds cancels: in process, a round alternates the two sides chunk by chunk (1000 envelopes
    of ours, then 1000 Fernet tokens, the side going first swapped every round) and compares their sums; for
    the whole processes, a round runs the pair once, in alternating order."""
    import cryptography
    from cryptography.fernet import Fernet

    key = Fernet.generate_key()
    fernet = Fernet(key)
    plain = READING
    tokens = [fernet.encrypt(plain) for _ in texts]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    script = Path(tmp) / "fernet_batch.py"
    script.write_text(_FERNET_BATCH)
    cli_lines = "".join(t + "\n" for t in texts[:cli_n]).encode()
    cli_tokens = b"".join(t + b"\n" for t in tokens[:cli_n])
    ours_cmd = [sys.executable, "-c", _CONSOLE_SCRIPT, "open", "--batch", "--key", KEY.hex(), "--now", str(NOW)]
    fernet_cmd = [sys.executable, str(script), key.decode()]
    times: dict = {"open_many_sqlite": [], "fernet_loop": [], "open_batch_cli": [], "fernet_script": []}
    ratios: dict = {"open_many_sqlite_vs_fernet": [], "open_batch_cli_vs_fernet_script": []}

    def ours_chunk(store, i):
        start = time.perf_counter()
        results = envelope.open_many(KEY, texts[i:i + BATCH], now=NOW, replay=store)
        elapsed = time.perf_counter() - start
        if not all(isinstance(r, envelope.Opened) for r in results):
            raise SystemExit(f"benchmark envelopes failed to open: {results[0]!r}")
        return elapsed

    def fernet_chunk(i):
        start = time.perf_counter()
        for token in tokens[i:i + BATCH]:
            fernet.decrypt(token)
        return time.perf_counter() - start

    def process(name, cmd, stdin):
        start = time.perf_counter()
        proc = subprocess.run(cmd, input=stdin, capture_output=True, env=env)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0 or proc.stdout.count(b"\n") != cli_n:
            raise SystemExit(f"{name} failed (exit {proc.returncode}): {proc.stderr[-500:]!r}")
        return elapsed

    for rep in range(repeat):
        store = replay.open_store(f"sqlite://{tmp}/fernet-cmp-{os.getpid()}-{rep}-{time.monotonic_ns()}.db")
        ours = theirs = 0.0
        gc.collect()  # each round starts from the same heap, whatever the runs before left behind
        try:
            for i in range(0, len(texts), BATCH):
                if rep % 2:
                    theirs += fernet_chunk(i)
                    ours += ours_chunk(store, i)
                else:
                    ours += ours_chunk(store, i)
                    theirs += fernet_chunk(i)
        finally:
            store.close()
        times["open_many_sqlite"].append(ours)
        times["fernet_loop"].append(theirs)
        ratios["open_many_sqlite_vs_fernet"].append(theirs / ours)
        pair = [("open_batch_cli", ours_cmd, cli_lines), ("fernet_script", fernet_cmd, cli_tokens)]
        for name, cmd, stdin in (pair if rep % 2 == 0 else pair[::-1]):
            times[name].append(process(name, cmd, stdin))
        ratios["open_batch_cli_vs_fernet_script"].append(times["fernet_script"][-1] / times["open_batch_cli"][-1])
    med = {name: statistics.median(values) for name, values in times.items()}
    return {**{name: round(statistics.median(values), 3) for name, values in ratios.items()},
            "rounds": {name: [round(r, 3) for r in values] for name, values in ratios.items()},
            "goal_min_ratio": 1.0, "envelopes": len(texts), "cli_lines": cli_n,
            "median_ms": {name: round(value * 1e3, 2) for name, value in med.items()},
            "cryptography": cryptography.__version__}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--n", type=int, default=20000, help="envelopes per batch run (default 20000)")
    ap.add_argument("--single-n", type=int, default=3000, help="envelopes per per-message run (default 3000)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cli-n", type=int, default=10000, help="lines for open --batch vs the Fernet script (default 10000)")
    ap.add_argument("--fernet-rounds", type=int, default=11,
                    help="rounds of the two comparisons with Fernet (default 11; each ratio is the median round's)")
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
        vs_fernet = fernet_comparison(texts, min(args.cli_n, len(texts)), args.fernet_rounds, tmp)
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
    report.update({k: vs_fernet[k] for k in ("open_many_sqlite_vs_fernet", "open_batch_cli_vs_fernet_script")})
    report["vs_fernet"] = vs_fernet
    for name in ("open_many_sqlite_vs_fernet", "open_batch_cli_vs_fernet_script"):
        report["goals"][name] = {"min_ratio": 1.0, "ratio": vs_fernet[name]}
    for goal in report["goals"].values():
        goal["met"] = goal["ratio"] is not None and goal["ratio"] >= goal["min_ratio"]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"replay-store throughput, median of {args.repeat} (Python {report['python']}, {report['cpus']} CPUs)")
        print(f"{'store':<22}{'envelopes/s':>14}{'vs none':>10}   mode")
        for r in rows:
            print(f"{r['store']:<22}{r['median_per_s']:>14}{r['ratio_to_none']:>10.2f}   {r['mode']}")
        m = vs_fernet["median_ms"]
        print(f"vs Fernet (cryptography {vs_fernet['cryptography']}), > 1 means iotenvelope is quicker:")
        print(f"  open_many + SQLite, {vs_fernet['envelopes']} envelopes: {m['open_many_sqlite']:.1f} ms,"
              f" Fernet decrypt loop {m['fernet_loop']:.1f} ms: {vs_fernet['open_many_sqlite_vs_fernet']:.2f}")
        print(f"  open --batch, {vs_fernet['cli_lines']} lines (whole process): {m['open_batch_cli']:.1f} ms,"
              f" Fernet script {m['fernet_script']:.1f} ms: {vs_fernet['open_batch_cli_vs_fernet_script']:.2f}")
        for k, g in report["goals"].items():
            print(f"goal {k} >= {g['min_ratio']:.2f}: {'met' if g['met'] else 'NOT met'} ({g['ratio']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
