"""Store hardening (issue 10 F3, F8, F9) and the resync answer-rate bound (SPEC.md §8) in every store.

F3: a SQLite store file that existed and is now empty, foreign, corrupt or holds wrong-typed rows is a
StoreError (CLI exit 8), never a fresh start; a Redis server whose maxmemory-policy can evict the windows is
refused. F8: a Redis password never appears in errors or reprs. F9: unix:// Redis URLs reach a real server
on a unix socket."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

import iotenvelope
from iotenvelope.errors import DuplicateError, RateLimitError, StoreError
from iotenvelope.replay import resync
from pg_support import pg_server  # noqa: F401 (fixture)
from replay_support import ROOT, RedisServer, cli, make_store, redis_server  # noqa: F401 (fixtures)

KEY = bytes(range(16))


def _seeded(path):
    store = iotenvelope.open_store(f"sqlite://{path}")
    store.accept("d", "up", 5)
    store.close()


# -- F3: SQLite ---------------------------------------------------------------------------------------------
def test_truncated_sqlite_store_is_an_error_not_a_fresh_start(tmp_path):
    path = tmp_path / "replay.db"
    _seeded(path)
    path.write_bytes(b"")
    with pytest.raises(StoreError, match="exists but is empty"):
        iotenvelope.open_store(f"sqlite://{path}")
    assert path.stat().st_size == 0  # and nothing was written into it
    env = iotenvelope.seal(KEY, b"x", device="d", seq=5, ts=0)
    proc = cli("open", "--key", KEY.hex(), "--max-age", "0", "--replay-store", f"sqlite://{path}", stdin=env)
    assert proc.returncode == 8 and "empty" in proc.stderr and "Traceback" not in proc.stderr


def test_foreign_or_corrupt_sqlite_file_is_an_error(tmp_path):
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="without the iotenvelope tables"):
        iotenvelope.open_store(f"sqlite://{other}")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 300)
    with pytest.raises(StoreError):
        iotenvelope.open_store(f"sqlite://{junk}")
    half = tmp_path / "half.db"
    _seeded(half)
    half.write_bytes(half.read_bytes()[:1024])  # the first page only
    with pytest.raises(StoreError):
        store = iotenvelope.open_store(f"sqlite://{half}")
        store.accept("d", "up", 5)


def test_lost_meta_record_and_wrong_typed_rows_are_store_errors(tmp_path):
    path = tmp_path / "r.db"
    _seeded(path)
    db = sqlite3.connect(path)
    db.execute("UPDATE iotenvelope_window SET top = 'five'")
    db.commit()
    store = iotenvelope.open_store(f"sqlite://{path}")
    with pytest.raises(StoreError, match="damaged"):
        store.accept("d", "up", 5)
    with pytest.raises(StoreError, match="damaged"):
        store.top("d", "up")
    db.execute("UPDATE iotenvelope_window SET top = 5, bits = 'text'")
    db.commit()
    with pytest.raises(StoreError, match="damaged"):
        store.accept("d", "up", 6)
    store.close()
    db.execute("DELETE FROM iotenvelope_meta WHERE name = 'window'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="lost its window record"):
        iotenvelope.open_store(f"sqlite://{path}")


def test_new_store_file_created_by_racing_processes(tmp_path):
    """Creation is atomic (written aside, hard-linked into place): processes that start together on a new path
    all open the one complete store; none sees a half-made file."""
    path = tmp_path / "race.db"
    code = ("import sys; sys.path.insert(0, %r); import iotenvelope;"
            " s = iotenvelope.open_store('sqlite://%s'); print(s.accept_many([('d', 'up', int(sys.argv[1]))]))"
            % (str(ROOT), path))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(6)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0 and out.strip() == "[None]", err
    store = iotenvelope.open_store(f"sqlite://{path}")
    assert store.top("d", "up") == 5
    assert sorted(f.name for f in tmp_path.iterdir() if ".init-" in f.name) == []


# -- F3: Redis eviction policy ---------------------------------------------------------------------------
@pytest.mark.parametrize("policy,refused", [("allkeys-lru", True), ("allkeys-lfu", True), ("allkeys-random", True),
                                            ("volatile-lru", False), ("noeviction", False)])
def test_redis_evicting_policy_is_refused(redis_server, policy, refused):
    import redis
    r = redis.Redis(host="127.0.0.1", port=redis_server.port)
    r.config_set("maxmemory-policy", policy)
    try:
        url = f"{redis_server.url}?prefix=evict:"
        if refused:
            with pytest.raises(StoreError, match=f"maxmemory-policy is '{policy}'"):
                iotenvelope.open_store(url)
            proc = cli("open", "--key", KEY.hex(), "--replay-store", url,
                       stdin=iotenvelope.seal(KEY, b"x", device="d", seq=1))
            assert proc.returncode == 8 and "maxmemory-policy" in proc.stderr
        else:
            iotenvelope.open_store(url).close()
    finally:
        r.config_set("maxmemory-policy", "noeviction")
        r.close()


# -- F8 / F9 ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def socket_redis(tmp_path_factory):
    """A real redis-server listening only on a unix socket, with a password."""
    d = tmp_path_factory.mktemp("redis-unix")
    sock = d / "redis.sock"
    proc = subprocess.Popen([shutil.which("redis-server"), "--port", "0", "--unixsocket", str(sock), "--dir", str(d),
                             "--save", "", "--requirepass", "s3cret-pw", "--daemonize", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock))
                break
        except OSError:
            time.sleep(0.05)
    yield sock
    proc.terminate()
    proc.wait(10)


def test_unix_socket_redis_url_works(socket_redis):
    store = iotenvelope.open_store(f"unix://:s3cret-pw@{socket_redis}?db=2&prefix=u:")
    assert store.accept_many([("d", "up", 1), ("d", "up", 1)])[1].__class__ is DuplicateError
    store.close()
    again = iotenvelope.open_store(f"unix://{socket_redis}?db=2&password=s3cret-pw&prefix=u:")
    assert again.top("d", "up") == 1
    assert "s3cret-pw" not in repr(again) and "***" in repr(again)
    again.close()


@pytest.mark.parametrize("form", ["unix://:wrong-pw@{sock}?db=0", "unix://{sock}?db=0&password=wrong-pw"])
def test_redis_password_never_in_errors(socket_redis, form):
    url = form.format(sock=socket_redis)
    with pytest.raises(StoreError) as exc:
        iotenvelope.open_store(url)
    assert "wrong-pw" not in str(exc.value) and "***" in str(exc.value)
    proc = cli("open", "--key", KEY.hex(), "--replay-store", url, stdin=iotenvelope.seal(KEY, b"x", device="d", seq=1))
    assert proc.returncode == 8 and "wrong-pw" not in proc.stderr + proc.stdout


# -- SPEC.md §8 answer rate, in every store ---------------------------------------------------------------
@pytest.mark.parametrize("make_store", ["memory", "sqlite", "redis"], indirect=True)
def test_resync_rate_limit_in_each_store(make_store):
    store = make_store()
    for t in range(6):
        store.limit_resync("d", now=1000 + t)
    with pytest.raises(RateLimitError) as exc:
        store.limit_resync("d", now=1010)
    assert exc.value.code == "rate-limited" and exc.value.exit_code == 6
    store.limit_resync("other", now=1010)  # per device
    with pytest.raises(RateLimitError):
        store.limit_resync("d", now=1059)  # 1000 still inside (1059 - 60, 1059]
    store.limit_resync("d", now=1060)  # 1000 has left the period
    with pytest.raises(RateLimitError):
        store.limit_resync("d", now=500)  # moving the clock back buys nothing


def test_resync_rate_limit_postgres(pg_server):
    store = iotenvelope.open_store(pg_server.database("rate"))
    for t in range(6):
        store.limit_resync("d", now=1000 + t)
    with pytest.raises(RateLimitError):
        store.limit_resync("d", now=1010)
    store.limit_resync("d", now=1060)
    store.close()


def test_answer_request_rate_limited_without_spending_a_down_seq(tmp_path):
    store = iotenvelope.open_store(f"sqlite://{tmp_path}/rr.db")
    req = resync.make_request(KEY, device="d", seq=0, ts=0)
    seqs = [resync.answer_request(KEY, req.text, store, now=2000).seq for _ in range(6)]
    assert seqs == [0, 1, 2, 3, 4, 5]
    with pytest.raises(RateLimitError):
        resync.answer_request(KEY, req.text, store, now=2001)
    assert resync.answer_request(KEY, req.text, store, now=2061).seq == 6
    store.close()


def test_cli_resync_rate_limited_exits_6(tmp_path):
    url = f"sqlite://{tmp_path}/cli.db"
    req = resync.make_request(KEY, device="d", seq=0, ts=0)
    for _ in range(6):
        assert cli("resync", "--key", KEY.hex(), "--replay-store", url, "--now", "3000", stdin=req.text).returncode == 0
    proc = cli("resync", "--key", KEY.hex(), "--replay-store", url, "--now", "3001", stdin=req.text)
    assert proc.returncode == 6 and "RateLimitError" in proc.stderr and proc.stdout == ""
