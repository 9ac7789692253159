"""Ingest throughput over HTTP: `iotenvelope serve` (SQLite, PostgreSQL) beside co2logserver's upload, one run.

    python bench/ingest.py [--json] [--n 600] [--batch 1000] [--repeat 3]

Every server runs on this machine on loopback, started by this script:

* co2logserver 0.1.2 (PyPI; its own `python -m co2logserver`, Flask's server, SQLite), uploads with
  ``CO2LOGSERVER_UPLOAD_REQUIRES_AUTH = True``: each POST /upload is the same reading as an ~90-byte JSON
  object in co2logserver's shape (column -> list of values) with a
  ``Content-SHA256-Salted`` header; it checks the hash and writes the row (no decryption, no replay defence);
* `iotenvelope serve --db sqlite:///...` (gunicorn, 1 worker, and 2 workers for the 4-client run) and
  `--db postgresql://...` (a PostgreSQL started here with initdb/pg_ctl): each POST /v1/envelopes is one
  compact envelope of the same reading: MAC, decrypt, freshness, replay window and the reading row in one
  transaction (SQLite synchronous=FULL, PostgreSQL fsync on), JSON answer;
* batches: POST /v1/envelopes with ``--batch`` envelopes as application/x-ndjson, one transaction.

Single posts use a new connection per request for every server (gunicorn's sync workers close after each
response; co2logserver gets the same). "1 client" posts one after another; "4 clients" run 4 threads.
Configurations run round-robin ``--repeat`` times; medians are reported, ratios against co2logserver's median.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import iotenvelope  # noqa: E402

READING = b'{"co2": 1223, "temp": 21.5, "hum": 40.2, "batt": 3.71, "rssi": -67, "id": 12}'
# the same reading in co2logserver's upload shape (it takes a column -> list of values object)
CO2_READING = b'{"co2": [1223], "temp": [21.5], "hum": [40.2], "batt": [3.71], "rssi": [-67], "id": [12]}'
SALT = "bench-salt"
DEVICES = 8


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            c.getresponse().read()
            c.close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not start")


def post(port: int, path: str, body: bytes, headers: dict) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", path, body=body, headers=headers)
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def timed(port, path, bodies, headers, clients: int, ok: tuple) -> float:
    """Posts per second for ``bodies`` split across ``clients`` threads."""
    errors = []

    def run(part):
        for body in part:
            status = post(port, path, body, headers)
            if status not in ok:
                errors.append(status)

    parts = [bodies[i::clients] for i in range(clients)]
    threads = [threading.Thread(target=run, args=(p,)) for p in parts]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{path}: unexpected statuses {sorted(set(errors))}")
    return len(bodies) / elapsed


class Serve:
    def __init__(self, db: str, keyring: Path, workers: int):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "iotenvelope", "serve", "--db", db, "--keyring",
                                      str(keyring), "--port", str(self.port), "--workers", str(workers)],
                                     cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_http(self.port, "/healthz", self.proc, "iotenvelope serve")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


class Co2logserver:
    def __init__(self, tmp: Path):
        import co2logserver  # noqa: F401 - fail early if missing
        self.port = free_port()
        config = tmp / "co2config.py"
        config.write_text(f"CO2LOGSERVER_UPLOAD_REQUIRES_AUTH = True\nCO2LOGSERVER_CHECKSUM_SALTS = [{SALT!r}]\n")
        self.proc = subprocess.Popen([sys.executable, "-m", "co2logserver", "-b", "127.0.0.1", "-p", str(self.port),
                                      "-f", str(tmp / "co2.db"), "-c", str(config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(self.port, "/", self.proc, "co2logserver")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--n", type=int, default=600, help="single posts per configuration and run")
    ap.add_argument("--batch", type=int, default=1000, help="envelopes per ndjson post")
    ap.add_argument("--batches", type=int, default=5, help="ndjson posts per configuration and run")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import co2logserver
    from pg_support import PostgresServer
    tmp = Path(tempfile.mkdtemp(prefix="iotenv-bench-ingest-"))
    keys = {f"sensor-{i:02d}": bytes([i + 1]) * 16 for i in range(DEVICES)}
    keyring = tmp / "keyring.json"
    keyring.write_text(json.dumps({d: k.hex() for d, k in keys.items()}))
    seqs = {d: 0 for d in keys}

    def envelopes(n: int) -> list[bytes]:
        out = []
        for i in range(n):
            d = f"sensor-{i % DEVICES:02d}"
            seqs[d] += 1
            out.append(iotenvelope.seal(keys[d], READING, device=d, seq=seqs[d]).encode())
        return out

    salted = {"Content-Type": "application/json",
              "Content-SHA256-Salted": hashlib.sha256(CO2_READING + SALT.encode()).hexdigest()}
    text = {"Content-Type": "text/plain"}
    ndjson = {"Content-Type": "application/x-ndjson"}

    pg = PostgresServer()
    servers = {}
    try:
        servers["co2logserver"] = Co2logserver(tmp)
        servers["sqlite"] = Serve(f"sqlite://{tmp}/ingest.db", keyring, 1)
        servers["sqlite-2w"] = Serve(f"sqlite://{tmp}/ingest2.db", keyring, 2)
        servers["postgresql"] = Serve(pg.database("bench"), keyring, 1)
        servers["postgresql-2w"] = Serve(pg.database("bench2"), keyring, 2)
        results: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            results.setdefault("co2logserver_single", []).append(
                timed(servers["co2logserver"].port, "/upload", [CO2_READING] * args.n, salted, 1, (200,)))
            results.setdefault("co2logserver_single_4clients", []).append(
                timed(servers["co2logserver"].port, "/upload", [CO2_READING] * args.n, salted, 4, (200,)))
            for name in ("sqlite", "postgresql"):
                results.setdefault(f"{name}_single", []).append(
                    timed(servers[name].port, "/v1/envelopes", envelopes(args.n), text, 1, (201,)))
                results.setdefault(f"{name}_single_4clients_2workers", []).append(
                    timed(servers[name + "-2w"].port, "/v1/envelopes", envelopes(args.n), text, 4, (201,)))
                bodies = [b"\n".join(envelopes(args.batch)) + b"\n" for _ in range(args.batches)]
                rate = timed(servers[name].port, "/v1/envelopes", bodies, ndjson, 1, (200,))
                results.setdefault(f"{name}_batch_envelopes_per_s", []).append(rate * args.batch)
    finally:
        for s in servers.values():
            s.stop()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in results.items()}
    co2 = med["co2logserver_single"]
    out = {
        "single_vs_co2logserver": round(med["sqlite_single"] / co2, 2),
        "single_vs_co2logserver_postgresql": round(med["postgresql_single"] / co2, 2),
        "single_4clients_vs_co2logserver_4clients": round(med["sqlite_single_4clients_2workers"]
                                                          / med["co2logserver_single_4clients"], 2),
        "batch_envelopes_per_s": round(med["sqlite_batch_envelopes_per_s"]),
        "batch_envelopes_per_s_postgresql": round(med["postgresql_batch_envelopes_per_s"]),
        "batch_vs_co2logserver": round(med["sqlite_batch_envelopes_per_s"] / co2, 1),
        "per_s": {k: round(v, 1) for k, v in sorted(med.items())},
        "runs": {k: [round(x, 1) for x in v] for k, v in sorted(results.items())},
        "n_single": args.n, "batch": args.batch, "repeat": args.repeat,
        "versions": {"python": platform.python_version(), "iotenvelope": iotenvelope.__version__,
                     "co2logserver": getattr(co2logserver, "__version__", "0.1.2"),
                     "gunicorn": __import__("gunicorn").__version__, "psycopg": __import__("psycopg").__version__,
                     "sqlite": __import__("sqlite3").sqlite_version,
                     "postgresql": subprocess.run([str(pg.bin / "postgres"), "--version"], capture_output=True,
                                                  text=True).stdout.strip()},
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out["per_s"].items():
            print(f"{k:45s} {v:10.1f} /s")
        for k in ("single_vs_co2logserver", "single_vs_co2logserver_postgresql",
                  "single_4clients_vs_co2logserver_4clients", "batch_envelopes_per_s",
                  "batch_envelopes_per_s_postgresql", "batch_vs_co2logserver"):
            print(f"{k:45s} {out[k]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
