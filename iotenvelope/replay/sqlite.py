"""``sqlite:///path``: the embedded default store (one SQLite file, WAL, one transaction per batch)."""

from __future__ import annotations

import sqlite3

from ..errors import StoreError, UsageError
from .window import DEFAULT_WINDOW, NONE
from .store import ReplayStore, _items  # noqa: F401


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS iotenvelope_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS iotenvelope_window (
    device TEXT NOT NULL, direction TEXT NOT NULL, top INTEGER NOT NULL, bits BLOB NOT NULL,
    PRIMARY KEY (device, direction)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS iotenvelope_send (
    device TEXT NOT NULL, direction TEXT NOT NULL, next INTEGER NOT NULL,
    PRIMARY KEY (device, direction)) WITHOUT ROWID;
"""
_SQLITE_SCHEMA_VERSION = "1"


class SQLiteStore(ReplayStore):
    """One SQLite file (WAL). Each :meth:`accept_many` call is one ``BEGIN IMMEDIATE`` transaction: the
    window rows are read, decided on and written back while this process holds the database's write lock,
    so processes sharing the file serialise on it and never both accept one message."""

    def __init__(self, path: str, window: int = DEFAULT_WINDOW, *, timeout: float = 30.0,
                 synchronous: str = "full"):
        super().__init__(window)
        if synchronous.lower() not in ("full", "normal", "extra"):
            raise UsageError(f"sqlite synchronous={synchronous!r}: use full (default), extra or normal")
        self.path = path
        self.url = f"sqlite://{path}" if path.startswith("/") else f"sqlite:{path}"
        try:
            self._db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"SQLite store {path!r}: cannot switch to WAL mode (got {mode!r})")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            with self._transaction():
                self._create_schema()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {path!r}: {exc}") from None

    def _create_schema(self) -> None:
        for statement in _SQLITE_SCHEMA.split(";"):
            if statement.strip():
                self._db.execute(statement)
        for name, value in (("schema", _SQLITE_SCHEMA_VERSION), ("window", str(self.window.size))):
            self._db.execute("INSERT OR IGNORE INTO iotenvelope_meta (name, value) VALUES (?, ?)", (name, value))
            stored = self._db.execute("SELECT value FROM iotenvelope_meta WHERE name = ?", (name,)).fetchone()[0]
            if stored != value:
                raise StoreError(f"SQLite store {self.path!r} was created with {name} {stored}; this process"
                                 f" uses {value} (every process sharing a store must use the same window)")

    class _Tx:
        def __init__(self, db: sqlite3.Connection):
            self.db = db

        def __enter__(self):
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, kind, exc, tb):
            if kind is None:
                self.db.execute("COMMIT")
            elif self.db.in_transaction:
                self.db.execute("ROLLBACK")
            return False

    def _transaction(self) -> "_Tx":
        return SQLiteStore._Tx(self._db)

    def _run(self, what: str, fn, *args):
        try:
            with self._transaction():
                return fn(*args)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path!r}: {what} failed: {exc}") from None

    def _accept_many(self, items):
        return self._run("replay check", self._accept_many_tx, items)

    def _accept_many_tx(self, items):
        states = {}
        for key in dict.fromkeys((d, r) for d, r, _ in items):
            row = self._db.execute("SELECT top, bits FROM iotenvelope_window WHERE device = ? AND direction = ?",
                                   key).fetchone()
            states[key] = (NONE, 0) if row is None else (row[0], self.window.from_blob(row[1]))
        before = dict(states)
        out = self._apply(items, states)
        changed = [(d, r, top, self.window.to_blob(bits)) for (d, r), (top, bits) in states.items()
                   if before[(d, r)] != (top, bits)]
        if changed:
            self._db.executemany("INSERT INTO iotenvelope_window (device, direction, top, bits) VALUES (?, ?, ?, ?)"
                                 " ON CONFLICT (device, direction) DO UPDATE SET top = excluded.top,"
                                 " bits = excluded.bits", changed)
        return out

    def _top(self, device, direction):
        row = self._run("read", lambda: self._db.execute(
            "SELECT top FROM iotenvelope_window WHERE device = ? AND direction = ?", (device, direction)).fetchone())
        return NONE if row is None else row[0]

    def _next_send_seq(self, device, direction):
        def tx():
            self._db.execute("INSERT INTO iotenvelope_send (device, direction, next) VALUES (?, ?, 1)"
                             " ON CONFLICT (device, direction) DO UPDATE SET next = next + 1", (device, direction))
            return self._db.execute("SELECT next FROM iotenvelope_send WHERE device = ? AND direction = ?",
                                    (device, direction)).fetchone()[0] - 1
        return self._run("send counter", tx)

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error:
            pass


