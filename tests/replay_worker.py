"""A test ingest process: opens the envelopes of a file (one per line) with a replay store and prints
"device seq" for every envelope it accepted, flushed at once, so a parent can kill it at any moment.

    python tests/replay_worker.py KEYHEX STORE_URL WINDOW single|batch:N FILE [DELAY]

single: iotenvelope.open per envelope (one store transaction each); batch:N: iotenvelope.open_many per
chunk of N (one transaction per chunk). Replay rejections are counted on stderr at the end. A store failure
exits 8 (as the CLI does). DELAY seconds are slept between envelopes (to let a parent kill us mid-stream).
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import iotenvelope  # noqa: E402
from iotenvelope.errors import ReplayError, StoreError  # noqa: E402


def main() -> int:
    key, url, window, mode, path = sys.argv[1:6]
    delay = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    secret = bytes.fromhex(key)
    with open(path) as fh:
        lines = [line.strip() for line in fh if line.strip()]
    rejected = 0
    out = sys.stdout
    try:
        store = iotenvelope.open_store(url, window=int(window))
        if mode == "single":
            for line in lines:
                try:
                    msg = iotenvelope.open(secret, line, freshness=None, replay=store)
                except ReplayError:
                    rejected += 1
                else:
                    out.write(f"{msg.device} {msg.seq}\n")
                    out.flush()
                if delay:
                    time.sleep(delay)
        else:
            size = int(mode.split(":")[1])
            for start in range(0, len(lines), size):
                for res in iotenvelope.open_many(secret, lines[start:start + size], freshness=None, replay=store):
                    if isinstance(res, ReplayError):
                        rejected += 1
                    elif isinstance(res, Exception):
                        raise res
                    else:
                        out.write(f"{res.device} {res.seq}\n")
                out.flush()
                if delay:
                    time.sleep(delay)
    except StoreError as exc:
        print(f"store error: {exc}", file=sys.stderr)
        return 8
    print(f"rejected {rejected}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
