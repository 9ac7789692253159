"""Several ingest processes on one SQLite file / one real Redis server, and kill -9 crash tests.

Every process consumes the same stream (its own shuffled order, with duplicates) through the real open path
(MAC, then the store); the union of what they accepted must hold every distinct message exactly once.
"""

from __future__ import annotations

import collections
import json
import random
import subprocess
import sys
import time

import pytest

import iotenvelope
from replay_support import ROOT, RedisServer, cli_env, redis_server  # noqa: F401 (fixture)

KEY = bytes(range(16))
WORKER = str(ROOT / "tests" / "replay_worker.py")
DEVICES = [f"dev-{i}" for i in range(6)]


def make_stream(per_device: int, seed: int) -> tuple[list[str], set[tuple[str, int]]]:
    """Distinct envelopes (device, seq) plus duplicates: the same text again, and the same seq re-sealed
    (another IV: a different text with the same seq, which must also count as a replay)."""
    rng = random.Random(seed)
    texts, distinct = [], set()
    for device in DEVICES:
        for seq in range(per_device):
            texts.append(iotenvelope.seal(KEY, b'{"co2": 1223}', device=device, seq=seq, ts=0))
            distinct.add((device, seq))
    dups = [rng.choice(texts) for _ in range(len(texts) // 4)]
    resealed = []
    for _ in range(len(texts) // 10):
        device, seq = rng.choice(sorted(distinct))
        resealed.append(iotenvelope.seal(KEY, b"again", device=device, seq=seq, ts=0))
    return texts + dups + resealed, distinct


def shuffled(texts, seed, tmp_path, name):
    order = list(texts)
    random.Random(seed).shuffle(order)
    path = tmp_path / name
    path.write_text("\n".join(order) + "\n")
    return path


def worker(url, window, mode, path, delay=0.0):
    return subprocess.Popen([sys.executable, WORKER, KEY.hex(), url, str(window), mode, str(path), str(delay)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def cli_worker(url, window, path):
    return subprocess.Popen([sys.executable, "-m", "iotenvelope", "open", "--batch", "--key", KEY.hex(),
                             "--replay-store", url, "--replay-window", str(window), "--max-age", "0"],
                            stdin=open(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=cli_env())


def accepted_rows(kind, stdout):
    rows = []
    for line in stdout.splitlines():
        if kind == "cli":
            row = json.loads(line)
            if row["ok"]:
                rows.append((row["device"], row["seq"]))
            else:
                assert row["code"] in ("replay-duplicate", "replay-too-old"), row
        else:
            device, seq = line.split()
            rows.append((device, int(seq)))
    return rows


def run_concurrently(url, window, tmp_path, per_device, seed):
    texts, distinct = make_stream(per_device, seed)
    procs = []
    for i, (kind, mode) in enumerate([("py", "single"), ("py", "single"), ("py", "batch:37"), ("cli", None)]):
        path = shuffled(texts, seed * 100 + i, tmp_path, f"stream{i}.txt")
        procs.append((kind, cli_worker(url, window, path) if kind == "cli" else worker(url, window, mode, path)))
    accepted = []
    for kind, proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 6), f"{kind} worker exited {proc.returncode}: {err[-2000:]}"
        accepted += accepted_rows(kind, out)
    return accepted, distinct, len(texts)


def assert_exactly_once(accepted, distinct):
    counts = collections.Counter(accepted)
    twice = {k: n for k, n in counts.items() if n > 1}
    assert not twice, f"accepted more than once: {sorted(twice)[:10]}"
    assert set(counts) == distinct, f"never accepted: {sorted(distinct - set(counts))[:10]}"



# A window larger than any device's stream: every distinct message must be accepted by exactly one process.
def test_sqlite_several_processes_exactly_once(tmp_path):
    accepted, distinct, total = run_concurrently(f"sqlite://{tmp_path}/shared.db", 1024, tmp_path, 250, seed=1)
    assert total > len(distinct)
    assert_exactly_once(accepted, distinct)


def test_redis_several_processes_exactly_once(redis_server, tmp_path):
    accepted, distinct, _ = run_concurrently(f"{redis_server.url}?prefix=conc:", 1024, tmp_path, 250, seed=2)
    assert_exactly_once(accepted, distinct)


# The default window with a fully shuffled stream: some messages fall behind the window; none twice.
@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_default_window_never_twice(kind, redis_server, tmp_path):
    url = f"sqlite://{tmp_path}/w64.db" if kind == "sqlite" else f"{redis_server.url}?prefix=w64:"
    accepted, distinct, _ = run_concurrently(url, 64, tmp_path, 150, seed=3)
    counts = collections.Counter(accepted)
    assert max(counts.values()) == 1
    assert set(counts) <= distinct and len(counts) > 64 * len(DEVICES)


# -- crash tests -----------------------------------------------------------------------------------------
def _run_killed(url, window, mode, path, lines_before_kill, delay):
    """Start a worker, kill -9 it once it printed `lines_before_kill` lines (plus a random instant)."""
    proc = worker(url, window, mode, path, delay)
    got = []
    while len(got) < lines_before_kill:
        line = proc.stdout.readline()
        if not line:
            break
        got.append(line)
    time.sleep(random.random() * 0.02)  # land anywhere: inside a transaction or between two
    proc.kill()
    out = proc.stdout.read()  # not communicate(): it would skip what readline() already buffered
    proc.wait(30)
    proc.stderr.close()
    proc.stdout.close()
    return accepted_rows("py", "".join(got) + out)


@pytest.mark.parametrize("mode", ["single", "batch:25"])
def test_sqlite_kill9_mid_stream_nothing_accepted_twice(mode, tmp_path):
    texts, distinct = make_stream(120, seed=4)
    path = shuffled(texts, 4, tmp_path, "stream.txt")
    url = f"sqlite://{tmp_path}/crash.db"  # synchronous=full, the default
    accepted, kills = [], 0
    rng = random.Random(5)
    for _ in range(4):
        accepted += _run_killed(url, 1024, mode, path, rng.randrange(20, 120), delay=0.001)
        kills += 1
    final = worker(url, 1024, mode, path)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    accepted += accepted_rows("py", out)
    counts = collections.Counter(accepted)
    assert max(counts.values()) == 1, "a message was accepted twice across a crash"
    # Only messages committed just before a kill and not yet printed may be missing (at most one chunk each).
    chunk = 1 if mode == "single" else 25
    assert len(distinct - set(counts)) <= kills * chunk
    again = worker(url, 1024, mode, path)
    out, _ = again.communicate(timeout=120)
    assert out == "", "after a full pass nothing may be accepted again"


def test_redis_server_kill9_mid_stream_nothing_accepted_twice(tmp_path):
    """The Redis *server* crashes mid-stream (AOF, appendfsync always) and restarts from its files."""
    srv = RedisServer(tmp_path / "redis-crash")
    try:
        texts, distinct = make_stream(100, seed=6)
        path = shuffled(texts, 6, tmp_path, "stream.txt")
        accepted = []
        for round_ in range(3):
            proc = worker(f"{srv.url}?prefix=crash:", 1024, "single", path, 0.002)
            got = [proc.stdout.readline() for _ in range(40 + 30 * round_)]
            srv.kill9()
            out = proc.stdout.read()  # not communicate(): it would skip what readline() already buffered
            err = proc.stderr.read()
            proc.wait(60)
            assert proc.returncode == 8 and "store error" in err, (proc.returncode, err[-500:])
            accepted += accepted_rows("py", "".join(got) + out)
            srv.start()  # same --dir: the append-only file brings the state back
        proc = worker(f"{srv.url}?prefix=crash:", 1024, "batch:50", path)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        accepted += accepted_rows("py", out)
        counts = collections.Counter(accepted)
        assert max(counts.values()) == 1, "a message was accepted twice across a server crash"
        assert len(distinct - set(counts)) <= 3  # at most the one in flight at each crash
    finally:
        srv.stop()


def test_redis_client_kill9_mid_stream(redis_server, tmp_path):
    texts, distinct = make_stream(100, seed=7)
    path = shuffled(texts, 7, tmp_path, "stream.txt")
    url = f"{redis_server.url}?prefix=clientcrash:"
    accepted = _run_killed(url, 1024, "batch:10", path, 60, delay=0.001)
    proc = worker(url, 1024, "single", path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    accepted += accepted_rows("py", out)
    assert max(collections.Counter(accepted).values()) == 1
    assert len(distinct - set(accepted)) <= 10
