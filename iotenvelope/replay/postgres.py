"""``postgresql://``: replay state (and, through :meth:`transaction`, the caller's rows) in PostgreSQL.

For fleets that outgrow one host: any number of ingest processes on any number of hosts share one database.
Every check-and-update is one transaction in which the window rows of the streams involved are locked
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` creates a missing row and locks it in one statement), so
two processes deciding on the same (device, direction) serialise on that row, under PostgreSQL's default READ
COMMITTED isolation; rows are locked in sorted order, so two batches never deadlock each other. Needs psycopg 3
(``pip install iotenvelope[postgres]``).
"""

from __future__ import annotations

import contextlib

from ..errors import StoreError, UsageError
from .window import DEFAULT_WINDOW, NONE
from .store import OwnTransactions, ReplayStore, _rate_decide, _redact, _stamps_parse, _stamps_text

_PG_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS iotenvelope_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS iotenvelope_window (device TEXT NOT NULL, direction TEXT NOT NULL,"
    " top BIGINT NOT NULL, bits BYTEA NOT NULL, PRIMARY KEY (device, direction))",
    "CREATE TABLE IF NOT EXISTS iotenvelope_send (device TEXT NOT NULL, direction TEXT NOT NULL,"
    " next BIGINT NOT NULL, PRIMARY KEY (device, direction))",
    "CREATE TABLE IF NOT EXISTS iotenvelope_resync_rate (device TEXT PRIMARY KEY, stamps TEXT NOT NULL)",
]
_PG_SCHEMA_VERSION = "1"
_SCHEMA_LOCK = 0x696F7465  # pg_advisory_xact_lock key: creating the schema from several processes at once


class PostgresStore(OwnTransactions, ReplayStore):
    """Replay state in PostgreSQL (psycopg 3). One connection per store object; open one store per process
    (after forking). :meth:`transaction` holds the window update and the caller's own statements
    (``%s`` parameters) in one PostgreSQL transaction."""

    transactional = True
    dialect = "postgresql"

    def __init__(self, url: str, window: int = DEFAULT_WINDOW):
        super().__init__(window)
        try:
            import psycopg  # optional dependency: pip install iotenvelope[postgres]
        except ImportError:
            raise StoreError("postgresql:// stores need psycopg 3 (pip install 'psycopg[binary]')") from None
        self._psycopg = psycopg
        self._conninfo = url
        self.url = _redact(url)
        self._db = None
        try:
            self._db = self._connect()
            with self._begin():
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for statement in _PG_SCHEMA:
                    self._db.execute(statement)
                self._db.execute("INSERT INTO iotenvelope_meta (name, value) VALUES ('schema', %s), ('window', %s)"
                                 " ON CONFLICT (name) DO NOTHING", (_PG_SCHEMA_VERSION, str(self.window.size)))
                meta = dict(self._db.execute("SELECT name, value FROM iotenvelope_meta").fetchall())
        except psycopg.Error as exc:
            self.close()
            raise StoreError(f"PostgreSQL store {self.url}: {self._clean(exc)}") from None
        except StoreError:
            self.close()
            raise
        for name, value in (("schema", _PG_SCHEMA_VERSION), ("window", str(self.window.size))):
            if meta.get(name) != value:
                self.close()
                raise StoreError(f"PostgreSQL store {self.url} was created with {name} {meta.get(name)}; this"
                                 f" process uses {value} (every process sharing a store must use the same window)")

    def _clean(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split())  # libpq messages span lines
        from .redis import _password_of
        secret = _password_of(self._conninfo)
        return text.replace(secret, "***") if secret else text

    def _connect(self):
        psycopg = self._psycopg
        try:
            return psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10)
        except psycopg.ProgrammingError as exc:  # a malformed URL or an option libpq does not know
            raise UsageError(f"PostgreSQL store URL {self.url}: {self._clean(exc)}") from None

    def _connection(self):
        """The connection, opened again if the server restarted or the link broke (the next transaction
        then runs on the new one; the failed one was rolled back by the server)."""
        if self._db is None or self._db.closed or self._db.broken:
            with contextlib.suppress(Exception):
                if self._db is not None:
                    self._db.close()
            self._db = None
            try:
                self._db = self._connect()
            except self._psycopg.Error as exc:
                raise StoreError(f"PostgreSQL store {self.url}: cannot connect: {self._clean(exc)}") from None
        return self._db

    @contextlib.contextmanager
    def _begin(self):
        psycopg = self._psycopg
        db = self._connection()
        try:
            db.execute("BEGIN")
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL store {self.url}: cannot begin a transaction: {self._clean(exc)}") from None
        try:
            yield
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                db.execute("ROLLBACK")
            raise StoreError(f"PostgreSQL store {self.url}: commit failed ({self._clean(exc)}); if the connection"
                             " broke during COMMIT the outcome is unknown: the envelope is then either stored"
                             " (a retry is refused as a duplicate) or not (a retry is accepted)") from None

    def _guard(self, what, fn, *args):
        try:
            return fn(*args)
        except self._psycopg.Error as exc:
            raise StoreError(f"PostgreSQL store {self.url}: {what} failed: {self._clean(exc)}") from None

    def _run(self, what, fn, *args):
        try:
            with self._begin():
                return fn(*args)
        except self._psycopg.Error as exc:
            raise StoreError(f"PostgreSQL store {self.url}: {what} failed: {self._clean(exc)}") from None

    def _execute(self, sql, params, many=False):
        if many:
            cur = self._db.cursor()
            cur.executemany(sql, params)
            return cur
        return self._db.execute(sql, params)

    def _state(self, top, blob, key) -> tuple[int, int]:
        if type(top) is not int or not isinstance(blob, (bytes, memoryview)):
            raise StoreError(f"PostgreSQL store {self.url}: the window row of {key[0]!r} ({key[1]}) is damaged")
        return top, (0 if top == NONE else self.window.from_blob(bytes(blob)))

    # -- the operations (inside a transaction) ---------------------------------------------------------------
    def _accept_many_tx(self, items):
        empty = self.window.to_blob(0)
        states = {}
        for key in sorted(dict.fromkeys((d, r) for d, r, _ in items)):  # lock rows in one order: no deadlock
            top, blob = self._db.execute(
                "INSERT INTO iotenvelope_window AS w (device, direction, top, bits) VALUES (%s, %s, -1, %s)"
                " ON CONFLICT (device, direction) DO UPDATE SET top = w.top RETURNING w.top, w.bits",
                (key[0], key[1], empty)).fetchone()
            states[key] = self._state(top, blob, key)
        before = dict(states)
        out = self._apply(items, states)
        changed = [(top, self.window.to_blob(bits), d, r) for (d, r), (top, bits) in states.items()
                   if before[(d, r)] != (top, bits)]
        if changed:
            with self._db.cursor() as cur:
                cur.executemany("UPDATE iotenvelope_window SET top = %s, bits = %s WHERE device = %s AND direction = %s",
                                changed)
        return out

    def _top_tx(self, device, direction):
        row = self._db.execute("SELECT top FROM iotenvelope_window WHERE device = %s AND direction = %s",
                               (device, direction)).fetchone()
        return NONE if row is None else row[0]

    def _next_send_tx(self, device, direction):
        return self._db.execute(
            "INSERT INTO iotenvelope_send AS s (device, direction, next) VALUES (%s, %s, 1) ON CONFLICT (device,"
            " direction) DO UPDATE SET next = s.next + 1 RETURNING s.next", (device, direction)).fetchone()[0] - 1

    def _limit_resync_tx(self, device, now, limit, period):
        stamps = self._db.execute(
            "INSERT INTO iotenvelope_resync_rate AS r (device, stamps) VALUES (%s, '') ON CONFLICT (device) DO UPDATE"
            " SET stamps = r.stamps RETURNING r.stamps", (device,)).fetchone()[0]
        allowed, keep = _rate_decide(_stamps_parse(stamps, f"PostgreSQL store {self.url}"), now, limit, period)
        self._db.execute("UPDATE iotenvelope_resync_rate SET stamps = %s WHERE device = %s", (_stamps_text(keep), device))
        return allowed

    @property
    def connection(self):
        return self._connection()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._db is not None:
                self._db.close()
