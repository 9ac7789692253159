"""SPEC.md §6 step 7 window rules, exhaustively on small windows, for every store (memory, SQLite, Redis)."""

from __future__ import annotations

import itertools
import random

import pytest

from iotenvelope import replay
from iotenvelope.errors import (DuplicateError, MalformedError, ReplayError, StoreError, TooOldError,
                                UsageError)
from iotenvelope.replay import ACCEPT, DUPLICATE, MAX_WINDOW, TOO_OLD, Window, open_store
from replay_support import Model, make_store, redis_server, verdict  # noqa: F401  (fixtures)

MAX = 0xFFFFFFFF
A, D, O = ACCEPT, DUPLICATE, TOO_OLD


def run(store, device, seqs, batch):
    if batch:
        return [verdict(e) for e in store.accept_many([(device, "up", s) for s in seqs])]
    out = []
    for s in seqs:
        try:
            store.accept(device, "up", s)
            out.append(A)
        except ReplayError as exc:
            out.append(verdict(exc))
    return out


# -- hand-written edges (W = 64, the default) ----------------------------------------------------------
EDGES = [
    ("first message accepted, whatever it is", [5], [A]),
    ("first message may be 0", [0, 0], [A, D]),
    ("first message may be the u32 maximum", [MAX, MAX, MAX - 63, MAX - 64], [A, D, A, O]),
    ("top itself is a duplicate", [100, 100], [A, D]),
    ("top - W + 1 is the oldest in the window", [100, 37, 37], [A, A, D]),
    ("top - W is too old", [100, 36], [A, O]),
    ("far below is too old", [100, 0], [A, O]),
    ("top + 1 slides by one", [100, 101, 37, 38], [A, A, O, A]),
    ("reordering inside the window", [10, 8, 9, 7, 10, 8], [A, A, A, A, D, D]),
    ("a jump to 2 + W leaves 2 behind, 3 inside", [0, 1, 2, 66, 2, 3], [A, A, A, A, O, A]),
    ("a jump of W - 1 keeps the oldest", [1, 64, 1, 2], [A, A, D, A]),
    ("far jump (2**31) then below", [1, 2**31, 2**31 - 1, 2**31 - 64, 1], [A, A, A, O, O]),
    ("far jump to the u32 maximum", [0, MAX, MAX - 1, 0], [A, A, A, O]),
    ("0 stays acceptable while top < W", [63, 0, 0], [A, A, D]),
    ("0 too old once top = W", [64, 0], [A, O]),
    ("block boundary: 63 -> 64 -> 127 -> 128", [63, 64, 127, 128, 64, 65, 63], [A, A, A, A, O, A, O]),
    ("ring wraps (bit of seq+128 aliases seq)", [0, 128, 0, 64, 65, 129], [A, A, O, O, A, A]),
    ("stale bits of a recycled block are cleared", [5, 64, 128, 133, 133], [A, A, A, A, D]),
    ("a far jump clears the whole ring", [5, 128, 133, 133], [A, A, A, D]),
]


@pytest.mark.parametrize("batch", [False, True], ids=["accept", "accept_many"])
def test_edges(make_store, batch):
    store = make_store(64)
    for i, (why, seqs, expected) in enumerate(EDGES):
        assert run(store, f"edge{i}", seqs, batch) == expected, why


def test_errors_are_the_spec_classes(make_store):
    store = make_store(64)
    store.accept("dev", "up", 100)
    with pytest.raises(DuplicateError) as dup:
        store.accept("dev", "up", 100)
    with pytest.raises(TooOldError) as old:
        store.accept("dev", "up", 36)
    assert (dup.value.code, old.value.code) == ("replay-duplicate", "replay-too-old")
    assert dup.value.exit_code == old.value.exit_code == 6
    assert "highest accepted 100, window 64" in str(old.value)


def test_streams_are_independent(make_store):
    store = make_store(64)
    store.accept("a", "up", 7)
    store.accept("a", "down", 7)  # same device, other direction
    store.accept("b", "up", 7)
    store.accept("a:up", "up", 7)  # a device id that looks like a key fragment
    with pytest.raises(DuplicateError):
        store.accept("a", "up", 7)
    assert [store.top(d, r) for d, r in [("a", "up"), ("a", "down"), ("b", "up"), ("c", "up")]] == [7, 7, 7, None]


def test_batch_equals_one_by_one_including_duplicates_inside_the_batch(make_store):
    store = make_store(64)
    seqs = [3, 3, 1, 70, 3, 6, 7, 70, 6, 200, 136, 137, 136]
    items = [("x", "up", s) for s in seqs] + [("y", "up", s) for s in seqs]
    model = Model(64)
    expected = [model.accept(s) for s in seqs]
    got = [verdict(e) for e in store.accept_many(items)]
    assert got == expected * 2
    assert store.accept_many([]) == []


# -- exhaustive: every sequence over an alphabet of edge values, small windows --------------------------
def _alphabet(window):
    blocks = -(-window // 64) + 1
    ring = blocks * 64
    points = {0, 1, window - 1, window, window + 1, 63, 64, 65, ring - 1, ring, ring + 1, 2 * ring}
    return sorted(p for p in points if p >= 0)


@pytest.mark.parametrize("window", [1, 2, 3, 64, 65, 128])
def test_exhaustive_window_arithmetic(window):
    """Window.check (memory and SQLite share it) against the model: all sequences of 4 over the alphabet."""
    w = Window(window)
    alphabet = _alphabet(window) + [MAX - 1, MAX]
    n = 0
    for seqs in itertools.product(alphabet, repeat=4):
        model, top, bits = Model(window), replay.window.NONE, 0
        for s in seqs:
            v, top, bits = w.check(top, bits, s)
            assert v == model.accept(s), (window, seqs)
            n += 1
    assert n == 4 * len(alphabet) ** 4


@pytest.mark.parametrize("window", [1, 3, 64, 65])
def test_exhaustive_every_store(make_store, window):
    """Every store, every sequence of 3 over the alphabet (one stream per sequence, one batch in all)."""
    store = make_store(window)
    alphabet = _alphabet(window) + [MAX]
    cases = list(itertools.product(alphabet, repeat=3))
    items, expected = [], []
    for i, seqs in enumerate(cases):
        model = Model(window)
        for s in seqs:
            items.append((f"x{i}", "up", s))
            expected.append(model.accept(s))
    got = []
    for start in range(0, len(items), 999):
        got += [verdict(e) for e in store.accept_many(items[start:start + 999])]
    assert got == expected


@pytest.mark.parametrize("window", [64, 1000, 4096])
def test_long_random_streams_every_store(make_store, window):
    store = make_store(window)
    rng = random.Random(window)
    model, items = Model(window), []
    seq = rng.randrange(0, 2**20)
    for _ in range(3000):
        r = rng.random()
        if r < 0.6:
            seq += rng.randrange(1, 3)
        elif r < 0.9:
            seq = max(0, seq - rng.randrange(0, window + 5))
        elif r < 0.98:
            seq += rng.randrange(window // 2, 3 * window)
        else:
            seq = rng.choice([0, MAX, MAX - window, seq + 2**30])
        seq = min(seq, MAX)
        items.append(("r", "up", seq))
    expected = [model.accept(s) for _, _, s in items]
    got = []
    for start in range(0, len(items), 500):
        got += [verdict(e) for e in store.accept_many(items[start:start + 500])]
    assert got == expected
    assert store.top("r", "up") == model.top


# -- durability and configuration ------------------------------------------------------------------
def test_state_survives_reopen(make_store):
    store = make_store(64)
    store.accept_many([("d", "up", s) for s in (1, 2, 5)])
    store.close()
    again = make_store(64, reopen=True)
    if make_store.kind == "memory":  # documented: memory:// state belongs to one store object
        assert again.top("d", "up") is None
        return
    assert run(again, "d", [5, 2, 3, 1], batch=False) == [D, D, A, D]
    assert again.top("d", "up") == 5


def test_window_size_recorded_and_enforced(make_store):
    make_store(64).accept("d", "up", 1)
    if make_store.kind == "memory":
        assert open_store("memory://", window=128).window.size == 128  # nothing shared, nothing to enforce
        return
    with pytest.raises(StoreError, match="window 64"):
        open_store(make_store.urls[-1], window=128)
    assert open_store(make_store.urls[-1], window=64).top("d", "up") == 1


def test_send_counter(make_store):
    store = make_store(64)
    assert [store.next_send_seq("d") for _ in range(3)] == [0, 1, 2]
    assert store.next_send_seq("d", "up") == 0
    assert store.next_send_seq("e") == 0


@pytest.mark.parametrize("bad", [(None, "up", 1), ("", "up", 1), ("a b", "up", 1), ("d", "sideways", 1),
                                 ("d", "up", -1), ("d", "up", MAX + 1), ("d", "up", 1.0), ("d", "up", True)])
def test_bad_items_are_malformed(bad):
    with pytest.raises(MalformedError):
        open_store("memory://").accept(*bad)


@pytest.mark.parametrize("window", [0, -1, MAX_WINDOW + 1, 1.5, "64", True])
def test_bad_window(window):
    with pytest.raises(UsageError):
        open_store("memory://", window=window)


def test_max_window_is_usable():
    store = open_store("memory://", window=MAX_WINDOW)
    store.accept("d", "up", MAX_WINDOW)
    store.accept("d", "up", 1)
    with pytest.raises(TooOldError):
        store.accept("d", "up", 0)


@pytest.mark.parametrize("url", ["", "nosuch://x", "memory://x", "sqlite:", "sqlite://host/x.db", "sqlite:///",
                                 "sqlite:///tmp/x.db?cache=1", "sqlite:///tmp/x.db?timeout=soon",
                                 "sqlite:///tmp/x.db?synchronous=off"])
def test_bad_urls(url):
    with pytest.raises(UsageError):
        open_store(url)


def test_store_errors(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite://{tmp_path}/missing/dir/x.db")
    (tmp_path / "notadb.db").write_bytes(b"this is not an SQLite database file at all" * 100)
    with pytest.raises(StoreError):
        open_store(f"sqlite://{tmp_path}/notadb.db")
    with pytest.raises(StoreError, match="Connection refused|connecting"):
        open_store("redis://:hunter2@127.0.0.1:1/0")


def test_redis_password_never_shown():
    with pytest.raises(StoreError) as exc:
        open_store("redis://user:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in str(exc.value)


def test_relative_sqlite_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:state.db") as store:
        store.accept("d", "up", 1)
    assert (tmp_path / "state.db").exists()
    assert repr(open_store("sqlite:state.db")) == "<SQLiteStore sqlite:state.db window=64>"


def test_sqlite_rolls_back_a_failed_batch(tmp_path, monkeypatch):
    """A failure inside the transaction (here: while writing back) leaves the state as it was."""
    store = open_store(f"sqlite://{tmp_path}/x.db")
    store.accept("d", "up", 1)
    real = store.window.to_blob

    def boom(bits):
        raise __import__("sqlite3").OperationalError("disk I/O error (simulated)")
    monkeypatch.setattr(store.window, "to_blob", boom)
    with pytest.raises(StoreError, match="simulated"):
        store.accept_many([("d", "up", 2), ("d", "up", 3)])
    monkeypatch.setattr(store.window, "to_blob", real)
    assert store.top("d", "up") == 1
    assert run(store, "d", [2, 3, 1], batch=True) == [A, A, D]
