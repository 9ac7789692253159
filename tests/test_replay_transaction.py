"""store.transaction(): the replay-window update and the caller's own writes commit together or not at all
(SQLite and a real PostgreSQL server), and the PostgreSQL store passes the same concurrency and kill -9 tests as
SQLite. Redis is replay-only and says so."""

from __future__ import annotations

import collections
import random
import sqlite3
import subprocess
import sys

import pytest

import iotenvelope
from iotenvelope.errors import DuplicateError, StoreError, UsageError
from pg_support import pg_server  # noqa: F401 (fixture)
from replay_support import ROOT, redis_server  # noqa: F401 (fixture)
from test_replay_concurrency import (DEVICES, KEY, _run_killed, accepted_rows, assert_exactly_once, make_stream,
                                     run_concurrently, shuffled, worker)

TX_WORKER = str(ROOT / "tests" / "tx_worker.py")
_db_counter = [0]


def seal(seq, device="s1", body=b"reading"):
    return iotenvelope.seal(KEY, body, device=device, seq=seq, ts=0)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(request, tmp_path):
    """(store, placeholder, url): a fresh transactional store of each SQL kind with a table my_readings."""
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path}/tx.db"
    else:
        _db_counter[0] += 1
        url = request.getfixturevalue("pg_server").database(f"tx{_db_counter[0]}")
    store = iotenvelope.open_store(url)
    p = "?" if store.dialect == "sqlite" else "%s"
    with store.transaction() as tx:
        tx.execute("CREATE TABLE my_readings (device TEXT NOT NULL, seq BIGINT NOT NULL UNIQUE, body TEXT NOT NULL)")
    yield store, p, url
    store.close()


def rows(store):
    with store.transaction() as tx:
        return sorted(tuple(r) for r in tx.execute("SELECT device, seq, body FROM my_readings").fetchall())


def test_window_and_caller_rows_commit_together(sql_store):
    store, p, _ = sql_store
    with store.transaction() as tx:
        msg = iotenvelope.open(KEY, seal(5), freshness=None, replay=tx)
        tx.execute(f"INSERT INTO my_readings VALUES ({p}, {p}, {p})", (msg.device, msg.seq, msg.text))
    assert rows(store) == [("s1", 5, "reading")]
    assert store.top("s1", "up") == 5
    with pytest.raises(DuplicateError):
        iotenvelope.open(KEY, seal(5), freshness=None, replay=store)


def test_caller_failure_rolls_back_the_window(sql_store):
    """The user's insert fails after open() accepted: neither the row nor the acceptance survive, so the
    device's retry is accepted (at-most-once would have lost it)."""
    store, p, _ = sql_store
    with store.transaction() as tx:
        tx.execute(f"INSERT INTO my_readings VALUES ({p}, {p}, {p})", ("other", 7, "x"))
    with pytest.raises(Exception) as exc:
        with store.transaction() as tx:
            msg = iotenvelope.open(KEY, seal(7), freshness=None, replay=tx)
            tx.execute(f"INSERT INTO my_readings VALUES ({p}, {p}, {p})", (msg.device, msg.seq, msg.text))
    assert not isinstance(exc.value, iotenvelope.IotEnvelopeError)  # the driver's own IntegrityError
    assert store.top("s1", "up") is None
    with store.transaction() as tx:
        tx.execute(f"DELETE FROM my_readings WHERE device = {p}", ("other",))
    with store.transaction() as tx:  # the retry
        msg = iotenvelope.open(KEY, seal(7), freshness=None, replay=tx)
        tx.execute(f"INSERT INTO my_readings VALUES ({p}, {p}, {p})", (msg.device, msg.seq, msg.text))
    assert rows(store) == [("s1", 7, "reading")] and store.top("s1", "up") == 7


def test_exception_in_block_rolls_back_window_send_counter_and_rate(sql_store):
    store, _, _ = sql_store
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            iotenvelope.open_many(KEY, [seal(1), seal(2)], freshness=None, replay=tx)
            assert tx.top("s1", "up") == 2
            assert tx.next_send_seq("s1") == 0
            tx.limit_resync("s1", now=1000, limit=1)
            raise RuntimeError("crash before commit")
    assert store.top("s1", "up") is None
    assert store.next_send_seq("s1") == 0  # the rolled-back number was never handed out
    store.limit_resync("s1", now=1000, limit=1)  # the rolled-back answer did not count


def test_open_many_in_a_transaction_decides_in_order(sql_store):
    store, p, _ = sql_store
    with store.transaction() as tx:
        results = iotenvelope.open_many(KEY, [seal(3), seal(3), seal(4)], freshness=None, replay=tx)
        ok = [r for r in results if not isinstance(r, Exception)]
        tx.executemany(f"INSERT INTO my_readings VALUES ({p}, {p}, {p})", [(r.device, r.seq, r.text) for r in ok])
    assert [type(r).__name__ for r in results] == ["Opened", "DuplicateError", "Opened"]
    assert rows(store) == [("s1", 3, "reading"), ("s1", 4, "reading")]


def test_store_itself_is_refused_inside_its_transaction_and_handle_after_block(sql_store):
    store, _, _ = sql_store
    with store.transaction() as tx:
        with pytest.raises(UsageError, match="transaction object"):
            iotenvelope.open(KEY, seal(1), freshness=None, replay=store)
        keep = tx
    with pytest.raises(UsageError, match="ended"):
        keep.accept("s1", "up", 9)
    assert store.top("s1", "up") is None


def test_memory_transaction_rolls_back_but_has_no_sql():
    store = iotenvelope.open_store("memory://")
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            iotenvelope.open(KEY, seal(1), freshness=None, replay=tx)
            raise RuntimeError
    assert store.top("s1", "up") is None
    with store.transaction() as tx:
        with pytest.raises(UsageError, match="no SQL"):
            tx.execute("SELECT 1")


def test_redis_is_replay_only(redis_server):
    store = iotenvelope.open_store(f"{redis_server.url}?prefix=txr:")
    assert not store.transactional
    with pytest.raises(UsageError, match="replay-only"):
        with store.transaction():
            pass
    store.close()


def test_pg_bad_url_and_unreachable_server_are_library_errors(pg_server):
    with pytest.raises(StoreError) as exc:
        iotenvelope.open_store("postgresql://iotenv:hunter2@127.0.0.1:1/none?connect_timeout=2")
    assert "hunter2" not in str(exc.value) and "***" in str(exc.value)
    with pytest.raises(UsageError):
        iotenvelope.open_store(pg_server.url + "?no_such_libpq_option=1")


def test_pg_window_size_is_recorded(pg_server):
    url = pg_server.database("winsize")
    iotenvelope.open_store(url, window=128).close()
    with pytest.raises(StoreError, match="window 128"):
        iotenvelope.open_store(url, window=64)


# -- several processes, kill -9: the caller's table holds every distinct reading exactly once ---------------
def tx_worker(url, n, path, delay=0.0):
    return subprocess.Popen([sys.executable, TX_WORKER, KEY.hex(), url, "1024", str(n), str(path), str(delay)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def table_counts(url):
    store = iotenvelope.open_store(url, window=1024)
    with store.transaction() as tx:
        got = [(r[0], r[1]) for r in tx.execute("SELECT device, seq FROM my_readings").fetchall()]
    store.close()
    return collections.Counter(got)


def _db_url(kind, tmp_path, request, name):
    if kind == "sqlite":
        return f"sqlite://{tmp_path}/{name}.db"
    _db_counter[0] += 1
    return request.getfixturevalue("pg_server").database(f"{name}{_db_counter[0]}")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_four_transactional_processes_store_each_reading_once(kind, tmp_path, request):
    url = _db_url(kind, tmp_path, request, "conc")
    texts, distinct = make_stream(80, seed=11)
    procs = [tx_worker(url, n, shuffled(texts, 20 + i, tmp_path, f"s{i}.txt")) for i, n in enumerate([1, 1, 7, 25])]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    counts = table_counts(url)
    assert set(counts) == distinct and max(counts.values()) == 1


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_kill9_inside_transactions_loses_nothing_and_stores_nothing_twice(kind, tmp_path, request, capsys):
    """kill -9 lands while a transaction holds written rows and an accepted window (the worker sleeps inside
    it); afterwards the whole stream is offered again: every distinct reading is in the caller's table exactly
    once. With at-most-once (window committed first, row written after) the killed chunks would be lost."""
    url = _db_url(kind, tmp_path, request, "crash")
    texts, distinct = make_stream(60, seed=12)
    path = shuffled(texts, 12, tmp_path, "stream.txt")
    rng = random.Random(13)
    kills = 0
    for _ in range(5):
        proc = tx_worker(url, 10, path, delay=0.01)
        for _ in range(rng.randrange(2, 25)):
            if not proc.stdout.readline():
                break
        proc.kill()
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
        kills += 1
    final = tx_worker(url, 10, path)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err[-2000:]
    counts = table_counts(url)
    twice = sum(1 for n in counts.values() if n > 1)
    lost = len(distinct - set(counts))
    with capsys.disabled():
        print(f"\n[{kind} transactional kill -9] kills={kills} distinct={len(distinct)} stored={len(counts)}"
              f" lost={lost} twice={twice}")
    assert twice == 0 and lost == 0 and set(counts) == distinct


# -- the PostgreSQL store under the replay-only tests SQLite and Redis pass (tests/test_replay_concurrency.py) --
def test_pg_several_processes_exactly_once(pg_server, tmp_path):
    accepted, distinct, total = run_concurrently(pg_server.database("conc_replay"), 1024, tmp_path, 150, seed=21)
    assert total > len(distinct)
    assert_exactly_once(accepted, distinct)


def test_pg_default_window_never_twice(pg_server, tmp_path):
    accepted, distinct, _ = run_concurrently(pg_server.database("w64"), 64, tmp_path, 100, seed=22)
    counts = collections.Counter(accepted)
    assert max(counts.values()) == 1
    assert set(counts) <= distinct and len(counts) > 64 * len(DEVICES)


@pytest.mark.parametrize("mode", ["single", "batch:25"])
def test_pg_client_kill9_mid_stream_nothing_accepted_twice(mode, pg_server, tmp_path):
    texts, distinct = make_stream(80, seed=23)
    path = shuffled(texts, 23, tmp_path, "stream.txt")
    url = pg_server.database("crash_" + mode.replace(":", ""))
    accepted, kills, rng = [], 0, random.Random(24)
    for _ in range(4):
        accepted += _run_killed(url, 1024, mode, path, rng.randrange(20, 100), delay=0.001)
        kills += 1
    final = worker(url, 1024, mode, path)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    accepted += accepted_rows("py", out)
    counts = collections.Counter(accepted)
    assert max(counts.values()) == 1, "a message was accepted twice across a crash"
    assert len(distinct - set(counts)) <= kills * (1 if mode == "single" else 25)
    again = worker(url, 1024, mode, path)
    out, _ = again.communicate(timeout=120)
    assert out == "", "after a full pass nothing may be accepted again"


def test_pg_server_kill9_mid_stream_nothing_accepted_twice(pg_server, tmp_path):
    """The PostgreSQL server itself is killed (-9) mid-stream and restarted from its data directory (WAL)."""
    texts, distinct = make_stream(60, seed=25)
    path = shuffled(texts, 25, tmp_path, "stream.txt")
    url = pg_server.database("srvcrash")
    accepted = []
    for round_ in range(3):
        proc = worker(url, 1024, "single", path, 0.002)
        got = [proc.stdout.readline() for _ in range(30 + 20 * round_)]
        pg_server.kill9()
        out = proc.stdout.read()
        err = proc.stderr.read()
        proc.wait(60)
        assert proc.returncode == 8 and "store error" in err, (proc.returncode, err[-500:])
        accepted += accepted_rows("py", "".join(got) + out)
        pg_server.start()
    proc = worker(url, 1024, "batch:50", path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    accepted += accepted_rows("py", out)
    counts = collections.Counter(accepted)
    assert max(counts.values()) == 1, "a message was accepted twice across a server crash"
    assert len(distinct - set(counts)) <= 3
