"""The replay guard and freshness inside open()/open_many() (SPEC.md §6 steps 4-7) and the CLI."""

from __future__ import annotations

import json

import pytest

import iotenvelope
from iotenvelope import Freshness, open_many, open_store
from iotenvelope.replay import SQLiteStore
from iotenvelope.errors import (AuthenticationError, DuplicateError, FutureError, StaleError, StoreError,
                                TimeUnknownError, UsageError)
from replay_support import cli

KEY = bytes(range(16))
OTHER = bytes(range(1, 17))
NOW = 1763900000


def seal(seq, ts=NOW, key=KEY, device="s1", type="data", **kw):
    return iotenvelope.seal(key, b"reading", device=device, seq=seq, ts=ts, type=type, **kw)


def test_forged_envelope_never_touches_the_window():
    store = open_store("memory://")
    with pytest.raises(AuthenticationError):
        iotenvelope.open(KEY, seal(5, key=OTHER), now=NOW, replay=store)
    assert store.top("s1", "up") is None
    assert iotenvelope.open(KEY, seal(5), now=NOW, replay=store).seq == 5
    with pytest.raises(DuplicateError):
        iotenvelope.open(KEY, seal(5), now=NOW, replay=store)


def test_freshness_failure_does_not_advance_the_window():
    store = open_store("memory://")
    with pytest.raises(StaleError):
        iotenvelope.open(KEY, seal(9, ts=NOW - 86400 - 301), now=NOW, replay=store)
    with pytest.raises(FutureError):
        iotenvelope.open(KEY, seal(9, ts=NOW + 301), now=NOW, replay=store)
    assert store.top("s1", "up") is None
    iotenvelope.open(KEY, seal(9, ts=NOW + 300), now=NOW, replay=store)  # the skew edge itself is fine
    iotenvelope.open(KEY, seal(10, ts=NOW - 86400 - 300), now=NOW, replay=store)


@pytest.mark.parametrize("skew,max_age,ts,error", [
    (300, 86400, NOW + 300, None), (300, 86400, NOW + 301, FutureError),
    (0, 86400, NOW + 1, FutureError), (0, 0, NOW, None), (0, 0, NOW - 1, StaleError),
    (300, 86400, NOW - 86700, None), (300, 86400, NOW - 86701, StaleError),
    (300, None, 1, None), (300, None, NOW + 301, FutureError),
])
def test_freshness_bounds(skew, max_age, ts, error):
    fresh = Freshness(skew=skew, max_age=max_age)
    if error is None:
        assert iotenvelope.open(KEY, seal(1, ts=ts), now=NOW, freshness=fresh).ts == ts
    else:
        with pytest.raises(error) as exc:
            iotenvelope.open(KEY, seal(1, ts=ts), now=NOW, freshness=fresh)
        assert exc.value.exit_code == 7


def test_time_unknown_is_replay_protected_only():
    store = open_store("memory://")
    assert iotenvelope.open(KEY, seal(3, ts=0), now=NOW, replay=store).ts == 0
    with pytest.raises(DuplicateError):
        iotenvelope.open(KEY, seal(3, ts=0), now=NOW, replay=store)
    with pytest.raises(TimeUnknownError) as exc:
        iotenvelope.open(KEY, seal(4, ts=0), now=NOW, replay=store, freshness=Freshness(allow_unknown_time=False))
    assert exc.value.code == "time-unknown"
    assert store.top("s1", "up") == 3


def test_epoch_2000_hint():
    with pytest.raises(StaleError, match="946684800"):
        iotenvelope.open(KEY, seal(1, ts=NOW - 946684800), now=NOW)


@pytest.mark.parametrize("kwargs", [dict(skew=-1), dict(max_age=-5), dict(skew=1.5), dict(skew=None)])
def test_bad_freshness_policy(kwargs):
    with pytest.raises(UsageError):
        Freshness(**kwargs)


def test_resync_request_bypasses_window_and_freshness():
    store = open_store("memory://")
    iotenvelope.open(KEY, seal(50), now=NOW, replay=store)
    for _ in range(2):  # any seq, any ts, any number of times; the window is untouched
        req = seal(0, ts=1, type="resync-request")
        assert iotenvelope.open(KEY, req, now=NOW, replay=store).type == "resync-request"
    assert store.top("s1", "up") == 50


def test_open_many_matches_one_by_one():
    texts = [seal(1), seal(1), seal(2, key=OTHER), seal(3, ts=NOW + 999), seal(2), "garbage", seal(200), seal(100),
             seal(137), seal(0, type="resync-request"), seal(137)]
    one_store, many_store = open_store("memory://"), open_store("memory://")
    expected = []
    for t in texts:
        try:
            expected.append(iotenvelope.open(KEY, t, now=NOW, replay=one_store))
        except iotenvelope.IotEnvelopeError as exc:
            expected.append(exc)
    got = open_many(KEY, texts, now=NOW, replay=many_store)
    assert [type(r).__name__ for r in got] == [type(r).__name__ for r in expected] == [
        "Opened", "DuplicateError", "AuthenticationError", "FutureError", "Opened", "MalformedError", "Opened",
        "TooOldError", "Opened", "Opened", "DuplicateError"]
    assert [r.seq for r in got if isinstance(r, iotenvelope.Opened)] == [1, 2, 200, 137, 0]


class CountingStore:
    """A guard with accept_many: open_many must use it once per batch."""

    def __init__(self):
        self.inner, self.calls = open_store("memory://"), []

    def accept(self, *a):
        raise AssertionError("open_many must use accept_many")

    def accept_many(self, items):
        self.calls.append(list(items))
        return self.inner.accept_many(items)


def test_open_many_uses_one_batch_call_and_only_for_authentic_fresh_messages():
    guard = CountingStore()
    open_many(KEY, [seal(1), seal(2, key=OTHER), seal(3, ts=1), seal(4), seal(5, type="resync-request")],
              now=NOW, replay=guard)
    assert guard.calls == [[("s1", "up", 1), ("s1", "up", 4)]]


class LoggingSQLiteStore(SQLiteStore):
    """A user's subclass that overrides accept_many: open_many must still go through it."""

    def __init__(self, path):
        super().__init__(path)
        self.calls = []

    def accept_many(self, items):
        self.calls.append(list(items))
        return super().accept_many(items)


def test_open_many_skips_rechecking_its_items_but_not_a_subclass_override(tmp_path, monkeypatch):
    """open_many hands a store of ours the (device, direction, seq) it just opened without _check_item running
    again (issue 16: a fifth of the replay step); the decisions are the same, inside a transaction too, and a
    subclass's own accept_many still sees every batch."""
    import iotenvelope.replay.store as store_module
    checks = []
    real_check = store_module._check_item
    monkeypatch.setattr(store_module, "_check_item", lambda *item: checks.append(item) or real_check(*item))
    texts = [seal(1), seal(2), seal(1), seal(5, type="resync-request")]
    store = SQLiteStore(str(tmp_path / "a.db"))
    got = open_many(KEY, texts, now=NOW, replay=store)
    assert [type(r).__name__ for r in got] == ["Opened", "Opened", "DuplicateError", "Opened"]
    assert checks == []
    assert store.top("s1", "up") == 2
    checks.clear()
    with store.transaction() as tx:
        got = open_many(KEY, [seal(3), seal(2)], now=NOW, replay=tx)
    assert [type(r).__name__ for r in got] == ["Opened", "DuplicateError"] and checks == []
    assert store.top("s1", "up") == 3
    store.close()
    checks.clear()
    logging_store = LoggingSQLiteStore(str(tmp_path / "b.db"))
    got = open_many(KEY, texts, now=NOW, replay=logging_store)
    assert [type(r).__name__ for r in got] == ["Opened", "Opened", "DuplicateError", "Opened"]
    assert logging_store.calls == [[("s1", "up", 1), ("s1", "up", 2), ("s1", "up", 1)]] and len(checks) == 3
    logging_store.close()


class BrokenStore:
    def accept_many(self, items):
        raise StoreError("disk on fire (simulated)")


def test_open_many_store_failure_raises():
    with pytest.raises(StoreError):
        open_many(KEY, [seal(1)], now=NOW, replay=BrokenStore())


class OnlyAccept:
    def __init__(self):
        self.inner = open_store("memory://")

    def accept(self, device, direction, seq):
        self.inner.accept(device, direction, seq)


def test_open_many_with_a_guard_without_accept_many():
    got = open_many(KEY, [seal(1), seal(1)], now=NOW, replay=OnlyAccept())
    assert isinstance(got[0], iotenvelope.Opened) and isinstance(got[1], DuplicateError)


# -- CLI ---------------------------------------------------------------------------------------------

def test_cli_open_with_store_single_and_batch_survives_restarts(tmp_path):
    url = f"sqlite://{tmp_path}/cli.db"
    k = KEY.hex()
    first = cli("open", "--key", k, "--replay-store", url, "--now", str(NOW), stdin=seal(7))
    assert (first.returncode, first.stdout) == (0, "reading")
    again = cli("open", "--key", k, "--replay-store", url, "--now", str(NOW), stdin=seal(7))
    assert again.returncode == 6 and "DuplicateError" in again.stderr and "Traceback" not in again.stderr
    batch = cli("open", "--batch", "--key", k, "--replay-store", url, "--now", str(NOW),
                stdin="\n".join([seal(8), seal(7), seal(8), seal(9, key=OTHER), seal(200), seal(100)]) + "\n")
    rows = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [r.get("seq") if r["ok"] else r["code"] for r in rows] == [
        8, "replay-duplicate", "replay-duplicate", "auth", 200, "replay-too-old"]
    assert batch.returncode == 6
    # without a store nothing is remembered (and nothing is claimed)
    plain = cli("open", "--key", k, "--now", str(NOW), stdin=seal(7))
    assert plain.returncode == 0


def test_cli_window_option_and_mismatch(tmp_path):
    url = f"sqlite://{tmp_path}/w.db"
    k = KEY.hex()
    assert cli("open", "--key", k, "--replay-store", url, "--replay-window", "2", "--now", str(NOW),
               stdin=seal(10)).returncode == 0
    old = cli("open", "--key", k, "--replay-store", url, "--replay-window", "2", "--now", str(NOW), stdin=seal(8))
    assert old.returncode == 6 and "TooOldError" in old.stderr
    mismatch = cli("open", "--key", k, "--replay-store", url, "--now", str(NOW), stdin=seal(11))
    assert mismatch.returncode == 8 and "window 2" in mismatch.stderr


@pytest.mark.parametrize("args,code", [(["--replay-store", "ftp://x"], 2), (["--replay-window", "0", "--replay-store", "memory://"], 2),
                                       (["--replay-store", "redis://127.0.0.1:1/0"], 8), (["--skew", "-1"], 2)])
def test_cli_bad_store_options(args, code):
    res = cli("open", "--key", KEY.hex(), "--now", str(NOW), *args, stdin=seal(1))
    assert res.returncode == code and "Traceback" not in res.stderr, res.stderr


def test_cli_require_time(tmp_path):
    res = cli("open", "--key", KEY.hex(), "--require-time", "--now", str(NOW), stdin=seal(1, ts=0))
    assert res.returncode == 7 and "TimeUnknownError" in res.stderr


def test_cli_refuses_replay_store_with_an_unauthenticated_profile(monkeypatch, capsys):
    """A legacy profile has no authenticated seq: --replay-store must not silently do nothing."""
    from iotenvelope import cli as cli_mod, profiles

    class Legacy(profiles.Profile):
        name, authenticated = "legacy-test", False

        def open(self, text, opts, warn):
            raise AssertionError("must not be reached")
    monkeypatch.setitem(profiles.registry(), "legacy-test", Legacy())
    monkeypatch.setattr(cli_mod, "_stdin_bytes", lambda: b"x")
    assert cli_mod.main(["open", "--profile", "legacy-test", "--key", "00", "--replay-store", "memory://"]) == 2
    assert "authenticated profile" in capsys.readouterr().err
