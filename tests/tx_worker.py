"""A test ingest process using the transactional API: each envelope of FILE (one per line) is opened with
``replay=tx`` and its reading inserted into the caller's own table ``my_readings`` in the same transaction.

    python tests/tx_worker.py KEYHEX STORE_URL WINDOW N FILE [DELAY]

N envelopes per transaction (open_many(..., replay=tx)). Prints "committed K" after each commit (flushed), so a
parent can kill it at any moment; the table, not the output, is what the parent checks.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import iotenvelope  # noqa: E402
from iotenvelope.errors import ReplayError, StoreError  # noqa: E402


def main() -> int:
    key, url, window, size, path = sys.argv[1:6]
    delay = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    secret, size = bytes.fromhex(key), int(size)
    with open(path) as fh:
        lines = [line.strip() for line in fh if line.strip()]
    try:
        store = iotenvelope.open_store(url, window=int(window))
        p = "?" if store.dialect == "sqlite" else "%s"
        with store.transaction() as tx:
            if store.dialect == "postgresql":  # concurrent CREATE TABLE IF NOT EXISTS can collide in PostgreSQL
                tx.execute("SELECT pg_advisory_xact_lock(42)")
            tx.execute("CREATE TABLE IF NOT EXISTS my_readings (device TEXT NOT NULL, seq BIGINT NOT NULL,"
                       " body TEXT NOT NULL)")
        for start in range(0, len(lines), size):
            with store.transaction() as tx:
                rows = []
                for res in iotenvelope.open_many(secret, lines[start:start + size], freshness=None, replay=tx):
                    if isinstance(res, ReplayError):
                        continue
                    if isinstance(res, Exception):
                        raise res
                    rows.append((res.device, res.seq, res.plaintext.decode()))
                if rows:
                    tx.executemany(f"INSERT INTO my_readings (device, seq, body) VALUES ({p}, {p}, {p})", rows)
                if delay:
                    time.sleep(delay)  # inside the transaction: a kill lands between the writes and the commit
            print(f"committed {len(rows)}", flush=True)
    except StoreError as exc:
        print(f"store error: {exc}", file=sys.stderr)
        return 8
    return 0


if __name__ == "__main__":
    sys.exit(main())
