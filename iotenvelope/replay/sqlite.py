"""``sqlite:///path``: the embedded default store (one SQLite file, WAL, one transaction per batch).

A store file is created whole or not at all: the schema is written into a temporary file beside it, which is
then hard-linked into place (an atomic step that fails if the name exists). So a file at the store's path was
always a complete store once; if it is now empty, not a database, or lacks the store's tables, it was damaged
(truncated, overwritten, replaced) and opening it is a :class:`StoreError`, never a fresh start that would
accept every old envelope again. Only a path with no file at all starts empty.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3

from ..errors import StoreError, UsageError
from .window import DEFAULT_WINDOW, NONE
from .store import OwnTransactions, ReplayStore, _items, _rate_decide, _stamps_parse, _stamps_text  # noqa: F401


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS iotenvelope_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS iotenvelope_window (
    device TEXT NOT NULL, direction TEXT NOT NULL, top INTEGER NOT NULL, bits BLOB NOT NULL,
    PRIMARY KEY (device, direction)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS iotenvelope_send (
    device TEXT NOT NULL, direction TEXT NOT NULL, next INTEGER NOT NULL,
    PRIMARY KEY (device, direction)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS iotenvelope_resync_rate (
    device TEXT PRIMARY KEY, stamps TEXT NOT NULL) WITHOUT ROWID;
"""
_SQLITE_SCHEMA_VERSION = "1"


def _unlink_all(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            os.unlink(path + suffix)


class SQLiteStore(OwnTransactions, ReplayStore):
    """One SQLite file (WAL). Each :meth:`accept_many` call is one ``BEGIN IMMEDIATE`` transaction: the
    window rows are read, decided on and written back while this process holds the database's write lock,
    so processes sharing the file serialise on it and never both accept one message.

    :meth:`transaction` holds that same lock for the caller's block: ``tx.execute`` runs the caller's SQL
    (``?`` parameters) in the transaction that also holds the window update."""

    transactional = True
    dialect = "sqlite"

    def __init__(self, path: str, window: int = DEFAULT_WINDOW, *, timeout: float = 30.0,
                 synchronous: str = "full"):
        super().__init__(window)
        if synchronous.lower() not in ("full", "normal", "extra"):
            raise UsageError(f"sqlite synchronous={synchronous!r}: use full (default), extra or normal")
        self.path = path
        self.url = f"sqlite://{path}" if path.startswith("/") else f"sqlite:{path}"
        self._timeout = timeout
        self._synchronous = synchronous.upper()
        try:
            if not os.path.lexists(path):
                self._create(path)
            self._check_size()
            self._db = self._connect(path)
            self._check_existing()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {path!r}: {exc} (is it an iotenvelope store?)") from None

    def _connect(self, path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            db.close()
            raise StoreError(f"SQLite store {path!r}: cannot switch to WAL mode (got {mode!r})")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        return db

    def _create(self, path: str) -> None:
        """Write a complete empty store beside ``path`` and link it into place (atomic; loses to a concurrent
        creator, whose store is then used)."""
        tmp = f"{path}.init-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            db = self._connect(tmp)
            try:
                db.execute("BEGIN IMMEDIATE")
                for statement in _SQLITE_SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.executemany("INSERT INTO iotenvelope_meta (name, value) VALUES (?, ?)",
                               [("schema", _SQLITE_SCHEMA_VERSION), ("window", str(self.window.size))])
                db.execute("COMMIT")
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                db.close()
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process created it first: open theirs
            except OSError as exc:
                raise StoreError(f"SQLite store {path!r}: cannot create it ({exc.strerror})") from None
            directory = os.path.dirname(os.path.abspath(path))
            with contextlib.suppress(OSError):  # make the new name durable before anything is accepted into it
                fd = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        finally:
            _unlink_all(tmp)

    def _check_size(self) -> None:
        try:
            size = os.path.getsize(self.path)
        except OSError as exc:
            raise StoreError(f"SQLite store {self.path!r}: {exc.strerror}") from None
        if size == 0:
            raise StoreError(f"SQLite store {self.path!r} exists but is empty: it was truncated or replaced. Restore"
                             " it from a backup; deleting it starts every device's replay window afresh (old"
                             " envelopes would be accepted again)")

    def _check_existing(self) -> None:
        """The file at the path was created complete (see the module docstring): anything less is damage."""
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "iotenvelope_meta" not in tables:
            raise StoreError(f"SQLite store {self.path!r} is a database without the iotenvelope tables: not a"
                             " replay store, or damaged (refusing to start it afresh)")
        with self._begin():
            for statement in _SQLITE_SCHEMA.split(";"):  # tables added since schema 1 (CREATE ... IF NOT EXISTS)
                if statement.strip():
                    self._db.execute(statement)
            meta = dict(self._db.execute("SELECT name, value FROM iotenvelope_meta").fetchall())
        for name, value in (("schema", _SQLITE_SCHEMA_VERSION), ("window", str(self.window.size))):
            stored = meta.get(name)
            if stored is None:
                raise StoreError(f"SQLite store {self.path!r} has lost its {name} record: damaged store")
            if stored != value:
                raise StoreError(f"SQLite store {self.path!r} was created with {name} {stored}; this process"
                                 f" uses {value} (every process sharing a store must use the same window)")

    @contextlib.contextmanager
    def _begin(self):
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path!r}: cannot begin a transaction: {exc}") from None
        try:
            yield
        except BaseException:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            raise StoreError(f"SQLite store {self.path!r}: commit failed, nothing was stored: {exc}") from None

    def _guard(self, what, fn, *args):
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path!r}: {what} failed: {exc}") from None

    def _run(self, what: str, fn, *args):
        try:
            with self._begin():
                return fn(*args)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path!r}: {what} failed: {exc}") from None

    def _execute(self, sql, params, many=False):
        return (self._db.executemany if many else self._db.execute)(sql, params)

    def _row_state(self, row, key) -> tuple[int, int]:
        if row is None:
            return NONE, 0
        top, blob = row
        if type(top) is not int or not isinstance(blob, bytes):
            raise StoreError(f"SQLite store {self.path!r}: the window row of {key[0]!r} ({key[1]}) holds a"
                             f" {type(top).__name__} and a {type(blob).__name__}, not an integer and a blob:"
                             " damaged store")
        return top, self.window.from_blob(blob)

    # -- the operations (inside a transaction) -------------------------------------------------------------
    def _accept_many_tx(self, items):
        states = {}
        for key in dict.fromkeys((d, r) for d, r, _ in items):
            row = self._db.execute("SELECT top, bits FROM iotenvelope_window WHERE device = ? AND direction = ?",
                                   key).fetchone()
            states[key] = self._row_state(row, key)
        before = dict(states)
        out = self._apply(items, states)
        changed = [(d, r, top, self.window.to_blob(bits)) for (d, r), (top, bits) in states.items()
                   if before[(d, r)] != (top, bits)]
        if changed:
            self._db.executemany("INSERT INTO iotenvelope_window (device, direction, top, bits) VALUES (?, ?, ?, ?)"
                                 " ON CONFLICT (device, direction) DO UPDATE SET top = excluded.top,"
                                 " bits = excluded.bits", changed)
        return out

    def _top_tx(self, device, direction):
        row = self._db.execute("SELECT top, bits FROM iotenvelope_window WHERE device = ? AND direction = ?",
                               (device, direction)).fetchone()
        return self._row_state(row, (device, direction))[0]

    def _next_send_tx(self, device, direction):
        self._db.execute("INSERT INTO iotenvelope_send (device, direction, next) VALUES (?, ?, 1)"
                         " ON CONFLICT (device, direction) DO UPDATE SET next = next + 1", (device, direction))
        value = self._db.execute("SELECT next FROM iotenvelope_send WHERE device = ? AND direction = ?",
                                 (device, direction)).fetchone()[0]
        if type(value) is not int:
            raise StoreError(f"SQLite store {self.path!r}: the send counter of {device!r} is a"
                             f" {type(value).__name__}: damaged store")
        return value - 1

    def _limit_resync_tx(self, device, now, limit, period):
        row = self._db.execute("SELECT stamps FROM iotenvelope_resync_rate WHERE device = ?", (device,)).fetchone()
        stamps = [] if row is None else _stamps_parse(row[0], f"SQLite store {self.path!r}")
        allowed, keep = _rate_decide(stamps, now, limit, period)
        self._db.execute("INSERT INTO iotenvelope_resync_rate (device, stamps) VALUES (?, ?) ON CONFLICT (device)"
                         " DO UPDATE SET stamps = excluded.stamps", (device, _stamps_text(keep)))
        return allowed

    @property
    def connection(self) -> sqlite3.Connection:
        return self._db

    def close(self) -> None:
        try:
            self._db.close()
        except (sqlite3.Error, AttributeError):
            pass
