"""The service's own tables, beside the replay store's, in the same database (SQLite or PostgreSQL), written
through the store's :meth:`~iotenvelope.replay.ReplayStore.transaction` so that a reading and the window update
that accepted it commit together.

* ``iotenvelope_readings``: one row per accepted uplink (device, seq, ts, received_at, the key index that opened
  it, the plaintext bytes);
* ``iotenvelope_commands``: queued down commands (plaintext; once sent: the down seq and the sealed envelope
  text, re-sent verbatim until acknowledged; over LoRaWAN ``sends`` counts the pushes to the network
  server and ``sent_at`` is the last one's time);
* ``iotenvelope_legacy_uploads``: bodies of the optional co2logserver-compatible ``/upload`` (unauthenticated,
  replayable).
"""

from __future__ import annotations

_SCHEMA = {
    "sqlite": [
        "CREATE TABLE IF NOT EXISTS iotenvelope_readings (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL,"
        " seq INTEGER NOT NULL, ts INTEGER NOT NULL, received_at REAL NOT NULL, key_index INTEGER NOT NULL,"
        " source TEXT NOT NULL, plaintext BLOB NOT NULL)",
        "CREATE INDEX IF NOT EXISTS iotenvelope_readings_device ON iotenvelope_readings (device, id)",
        "CREATE TABLE IF NOT EXISTS iotenvelope_commands (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL,"
        " plaintext BLOB NOT NULL, created_at REAL NOT NULL, down_seq INTEGER, envelope TEXT, sent_at REAL,"
        " sends INTEGER NOT NULL DEFAULT 0, acked_at REAL, route TEXT NOT NULL DEFAULT 'http')",
        "CREATE INDEX IF NOT EXISTS iotenvelope_commands_device ON iotenvelope_commands (device, acked_at, id)",
        "CREATE TABLE IF NOT EXISTS iotenvelope_legacy_uploads (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " received_at REAL NOT NULL, content_type TEXT NOT NULL, body BLOB NOT NULL)",
        "CREATE TABLE IF NOT EXISTS iotenvelope_lorawan_devices (device TEXT PRIMARY KEY, network TEXT NOT NULL,"
        " network_device TEXT NOT NULL, application TEXT NOT NULL, updated_at REAL NOT NULL)",
    ],
    "postgresql": [
        "CREATE TABLE IF NOT EXISTS iotenvelope_readings (id BIGSERIAL PRIMARY KEY, device TEXT NOT NULL,"
        " seq BIGINT NOT NULL, ts BIGINT NOT NULL, received_at DOUBLE PRECISION NOT NULL, key_index INTEGER NOT NULL,"
        " source TEXT NOT NULL, plaintext BYTEA NOT NULL)",
        "CREATE INDEX IF NOT EXISTS iotenvelope_readings_device ON iotenvelope_readings (device, id)",
        "CREATE TABLE IF NOT EXISTS iotenvelope_commands (id BIGSERIAL PRIMARY KEY, device TEXT NOT NULL,"
        " plaintext BYTEA NOT NULL, created_at DOUBLE PRECISION NOT NULL, down_seq BIGINT, envelope TEXT,"
        " sent_at DOUBLE PRECISION, sends INTEGER NOT NULL DEFAULT 0, acked_at DOUBLE PRECISION,"
        " route TEXT NOT NULL DEFAULT 'http')",
        "CREATE INDEX IF NOT EXISTS iotenvelope_commands_device ON iotenvelope_commands (device, acked_at, id)",
        "CREATE TABLE IF NOT EXISTS iotenvelope_legacy_uploads (id BIGSERIAL PRIMARY KEY,"
        " received_at DOUBLE PRECISION NOT NULL, content_type TEXT NOT NULL, body BYTEA NOT NULL)",
        "CREATE TABLE IF NOT EXISTS iotenvelope_lorawan_devices (device TEXT PRIMARY KEY, network TEXT NOT NULL,"
        " network_device TEXT NOT NULL, application TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL)",
    ],
}


class Tables:
    """SQL for one dialect; every method takes the open transaction ``tx``."""

    def __init__(self, dialect: str):
        if dialect not in _SCHEMA:
            raise ValueError(dialect)
        self.dialect = dialect
        self._p = "?" if dialect == "sqlite" else "%s"

    def q(self, sql: str) -> str:
        """Statements are written with ``?``; psycopg takes ``%s``."""
        return sql if self._p == "?" else sql.replace("?", "%s")

    def create(self, tx) -> None:
        if self.dialect == "postgresql":
            tx.execute("SELECT pg_advisory_xact_lock(1769238117)")  # several workers creating at once
        for statement in _SCHEMA[self.dialect]:
            tx.execute(statement)

    def _insert_id(self, tx, sql: str, params) -> int:
        if self.dialect == "postgresql":
            return tx.execute(self.q(sql) + " RETURNING id", params).fetchone()[0]
        return tx.execute(sql, params).lastrowid

    def insert_reading(self, tx, *, device: str, seq: int, ts: int, received_at: float, key_index: int,
                       source: str, plaintext: bytes) -> int:
        return self._insert_id(tx, "INSERT INTO iotenvelope_readings (device, seq, ts, received_at, key_index, source,"
                                   " plaintext) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (device, seq, ts, received_at, key_index, source, plaintext))

    def readings(self, tx, *, device: str | None, since: float | None, after: int | None, limit: int) -> list[tuple]:
        where, params = [], []
        if device is not None:
            where.append("device = ?")
            params.append(device)
        if since is not None:
            where.append("received_at >= ?")
            params.append(since)
        if after is not None:
            where.append("id > ?")
            params.append(after)
        sql = ("SELECT id, device, seq, ts, received_at, key_index, source, plaintext FROM iotenvelope_readings"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id LIMIT ?")
        return tx.execute(self.q(sql), (*params, limit)).fetchall()

    def queue_command(self, tx, *, device: str, plaintext: bytes, created_at: float, route: str) -> int:
        return self._insert_id(tx, "INSERT INTO iotenvelope_commands (device, plaintext, created_at, route)"
                                   " VALUES (?, ?, ?, ?)", (device, plaintext, created_at, route))

    def pending_commands(self, tx, device: str, limit: int, route: str = "http",
                         max_pushes: int | None = None) -> list[tuple]:
        """(id, plaintext, down_seq, envelope) of unacknowledged commands, oldest first. With ``max_pushes`` (the
        LoRaWAN routes) a command pushed that many times is left out: it is no longer in flight, so it does not
        take one of the ``limit`` places a newer command needs to be sealed."""
        if max_pushes is None:
            return tx.execute(self.q("SELECT id, plaintext, down_seq, envelope FROM iotenvelope_commands WHERE"
                                     " device = ? AND route = ? AND acked_at IS NULL ORDER BY id LIMIT ?"),
                              (device, route, limit)).fetchall()
        return tx.execute(self.q("SELECT id, plaintext, down_seq, envelope FROM iotenvelope_commands WHERE device = ?"
                                 " AND route = ? AND acked_at IS NULL AND (envelope IS NULL OR sends < ?) ORDER BY id"
                                 " LIMIT ?"), (device, route, max_pushes, limit)).fetchall()

    def mark_sent(self, tx, command_id: int, down_seq: int, envelope: str, now: float) -> None:
        tx.execute(self.q("UPDATE iotenvelope_commands SET down_seq = ?, envelope = ?, sent_at = ?, sends = sends + 1"
                          " WHERE id = ?"), (down_seq, envelope, now, command_id))

    def count_resend(self, tx, command_id: int, now: float) -> None:
        tx.execute(self.q("UPDATE iotenvelope_commands SET sends = sends + 1, sent_at = ? WHERE id = ?"),
                   (now, command_id))

    def ack(self, tx, device: str, up_to_down_seq: int, now: float) -> int:
        cur = tx.execute(self.q("UPDATE iotenvelope_commands SET acked_at = ? WHERE device = ? AND acked_at IS NULL"
                                " AND down_seq IS NOT NULL AND down_seq <= ?"), (now, device, up_to_down_seq))
        return cur.rowcount

    def commands(self, tx, device: str, limit: int) -> list[tuple]:
        return tx.execute(self.q("SELECT id, created_at, down_seq, sent_at, sends, acked_at, route FROM"
                                 " iotenvelope_commands WHERE device = ? ORDER BY id DESC LIMIT ?"),
                          (device, limit)).fetchall()

    def note_lorawan(self, tx, *, device: str, network: str, network_device: str, application: str,
                     now: float) -> None:
        tx.execute(self.q("INSERT INTO iotenvelope_lorawan_devices (device, network, network_device, application,"
                          " updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (device) DO UPDATE SET network ="
                          " excluded.network, network_device = excluded.network_device, application ="
                          " excluded.application, updated_at = excluded.updated_at"),
                   (device, network, network_device, application, now))

    def lorawan_of(self, tx, device: str) -> tuple | None:
        """(network, network device id, application id) the device was last heard through, or None."""
        return tx.execute(self.q("SELECT network, network_device, application FROM iotenvelope_lorawan_devices"
                                 " WHERE device = ?"), (device,)).fetchone()

    def due_pushes(self, tx, device: str, route: str, *, now: float, repush_after: float,
                   max_pushes: int) -> list[tuple]:
        """(id, envelope, sends) of sealed, unacknowledged LoRaWAN commands to hand to the network server now,
        oldest first: those never pushed, and those pushed fewer than ``max_pushes`` times whose last push is at
        least ``repush_after`` seconds old. On this route ``sends`` counts the network server's accepted pushes
        and ``sent_at`` is the time of the last one (the sealing time while ``sends`` is 0)."""
        return tx.execute(self.q("SELECT id, envelope, sends FROM iotenvelope_commands WHERE device = ? AND"
                                 " route = ? AND acked_at IS NULL AND envelope IS NOT NULL AND (sends = 0 OR"
                                 " (sends < ? AND sent_at <= ?)) ORDER BY id"),
                          (device, route, max_pushes, now - repush_after)).fetchall()

    def seal_only(self, tx, command_id: int, down_seq: int, envelope: str, now: float) -> None:
        tx.execute(self.q("UPDATE iotenvelope_commands SET down_seq = ?, envelope = ?, sent_at = ? WHERE id = ?"),
                   (down_seq, envelope, now, command_id))

    def insert_legacy(self, tx, *, received_at: float, content_type: str, body: bytes) -> int:
        return self._insert_id(tx, "INSERT INTO iotenvelope_legacy_uploads (received_at, content_type, body)"
                                   " VALUES (?, ?, ?)", (received_at, content_type, body))
