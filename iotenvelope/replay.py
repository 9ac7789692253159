"""Replay defence (SPEC.md §6 step 7): a sliding window of sequence numbers per (device, direction).

The acceptance rules are those of RFC 4303 §3.4.3 (IPsec ESP). With ``top`` the highest accepted ``seq``
and ``W`` the window size:

* nothing accepted yet ................. accept
* ``seq > top`` ........................ accept, the window slides so that ``seq`` is the new top
* ``top - W < seq <= top`` ............. accept once; a second time is :class:`DuplicateError`
* ``seq <= top - W`` ................... :class:`TooOldError`

The window is kept as RFC 6479 describes: a ring of 64-bit blocks, one block more than ``W`` needs, so that
sliding forward only clears whole blocks (no bit shifting) and large windows (thousands) cost no more per
message than small ones. Bit ``seq mod R`` (``R`` = blocks * 64) records whether ``seq`` was accepted.

State lives in a **store**, chosen by URL with :func:`open_store`:

``memory://``
    a dict in this process (tests, short-lived tools); lost on exit.
``sqlite:///absolute/path.db`` or ``sqlite:relative/path.db``
    the embedded default: one SQLite file in WAL mode, ``synchronous=FULL``; every check-and-update (one
    message, or a whole batch with :meth:`ReplayStore.accept_many`) is one ``BEGIN IMMEDIATE`` transaction,
    so several processes on one host may share the file.
``redis://host:port/db`` (and ``rediss://``, ``unix://``)
    a Redis server: every check-and-update (one message or a batch) is one server-side Lua script, which Redis
    runs atomically, so any number of ingest processes or hosts may share it. Needs the ``redis`` package
    (``pip install iotenvelope[redis]``).

Every store may be shared between processes only with the same window size: the size is recorded in the
store when it is created and a different one is refused (:class:`StoreError`).

Stores also keep a durable **send counter** per (device, direction) (:meth:`ReplayStore.next_send_seq`) that
a backend uses for its own down-going sequence numbers (e.g. resync responses, SPEC.md §8).

Exactly-once: the decision and the state change for a message are one atomic step in every store, and the
state is committed before the caller learns that the message was accepted. A crash at any point therefore
either loses the acceptance of the messages in flight (they were not delivered and will be refused if
replayed: at most once) or keeps it; it never lets a message be accepted twice. For Redis this holds across a
*server* crash only if the server persists every write before answering (``appendonly yes`` and
``appendfsync always``); see docs/replay.md.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Iterable, Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

from .envelope import MAX_U32, check_device, check_direction
from .errors import DuplicateError, MalformedError, ReplayError, StoreError, TooOldError, UsageError

DEFAULT_WINDOW = 64
MAX_WINDOW = 8192
BLOCK_BITS = 64
_BLOCK_MASK = (1 << BLOCK_BITS) - 1
NONE = -1  # "top" of a stream from which nothing was accepted yet

ACCEPT, DUPLICATE, TOO_OLD = 0, 1, 2

def check_window(window: object) -> int:
    """Validate a window size (1..MAX_WINDOW sequence numbers)."""
    if not 1 <= UsageError.check_int(window, "replay window") <= MAX_WINDOW:
        raise UsageError(f"replay window must be an integer in 1..{MAX_WINDOW}, got {window!r}")
    return window


def _check_item(device: object, direction: object, seq: object) -> tuple[str, str, int]:
    check_device(device)
    check_direction(direction)
    if type(seq) is not int:
        raise MalformedError.wrong_type("seq", seq, "an integer")
    if not 0 <= seq <= MAX_U32:
        raise MalformedError(f"seq {seq!r} is not an integer in 0..{MAX_U32}")
    return device, direction, seq  # type: ignore[return-value]


def _items(items: object) -> list:
    """``items`` of accept_many: (device, direction, seq) triples, as a list (MalformedError otherwise)."""
    if isinstance(items, (str, bytes, bytearray, memoryview)) or not isinstance(items, Iterable):
        raise MalformedError.wrong_type("items", items, "a list of (device, direction, seq) tuples")
    items = list(items)
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            raise MalformedError(f"items must hold (device, direction, seq) tuples, got a {type(item).__name__}")
    return items  # type: ignore[return-value]


class Window:
    """The window arithmetic on a plain ``(top, bits)`` state; shared by the memory and SQLite stores.

    ``bits`` is the RFC 6479 ring as an int: bit ``seq % ring`` of block ``(seq // 64) % blocks``.
    The Redis store runs the same algorithm in Lua (:data:`_REDIS_LUA`); the tests hold them equal.
    """

    def __init__(self, size: int = DEFAULT_WINDOW):
        self.size = check_window(size)
        self.blocks = -(-size // BLOCK_BITS) + 1  # one spare block: sliding clears whole blocks only
        self.ring = self.blocks * BLOCK_BITS

    def check(self, top: int, bits: int, seq: int) -> tuple[int, int, int]:
        """Decide on ``seq``; returns ``(verdict, new_top, new_bits)`` (unchanged state unless ACCEPT)."""
        if seq > top:  # also the first message (top = NONE)
            old_block, new_block = top // BLOCK_BITS, seq // BLOCK_BITS
            if new_block - old_block >= self.blocks:
                bits = 0
            else:
                for block in range(old_block + 1, new_block + 1):
                    bits &= ~(_BLOCK_MASK << (BLOCK_BITS * (block % self.blocks)))
            return ACCEPT, seq, bits | (1 << (seq % self.ring))
        if seq <= top - self.size:
            return TOO_OLD, top, bits
        bit = 1 << (seq % self.ring)
        if bits & bit:
            return DUPLICATE, top, bits
        return ACCEPT, top, bits | bit

    def error(self, verdict: int, device: str, direction: str, seq: int, top: int) -> ReplayError | None:
        return _error(verdict, device, direction, seq, top, self.size)

    # bits <-> bytes for stores that keep the ring as a blob (little-endian, ring/8 bytes)
    def to_blob(self, bits: int) -> bytes:
        return bits.to_bytes(self.ring // 8, "little")

    def from_blob(self, blob: bytes | None) -> int:
        if blob is None:
            return 0
        if len(blob) != self.ring // 8:
            raise StoreError(f"stored window bitmap is {len(blob)} bytes, expected {self.ring // 8}:"
                             " the store was written with another window size")
        return int.from_bytes(blob, "little")


def _error(verdict: int, device: str, direction: str, seq: int, top: int, window: int) -> ReplayError | None:
    if verdict == ACCEPT:
        return None
    if verdict == DUPLICATE:
        return DuplicateError(f"seq {seq} from device {device!r} ({direction}) was already accepted (replay)")
    return TooOldError(f"seq {seq} from device {device!r} ({direction}) is behind the replay window"
                       f" (highest accepted {top}, window {window})")


class ReplayStore:
    """Replay state for many (device, direction) streams; pass it as ``replay=`` to :func:`iotenvelope.open`.

    Only call it after the envelope's MAC (and freshness) passed: :func:`iotenvelope.open` and
    :func:`iotenvelope.open_many` do that. Thread-safe; the durable stores are also process-safe.
    """

    url = ""

    def __init__(self, window: int = DEFAULT_WINDOW):
        self.window = Window(window)
        self._lock = threading.Lock()

    # -- the interface -------------------------------------------------------------------------------
    def accept(self, device: str, direction: str, seq: int) -> None:
        """Check ``seq`` and record it; raises :class:`DuplicateError` / :class:`TooOldError` otherwise."""
        err = self.accept_many([(device, direction, seq)])[0]
        if err is not None:
            raise err

    def accept_many(self, items: Sequence[tuple[str, str, int]]) -> list[ReplayError | None]:
        """Decide on several messages at once, in order, exactly as if :meth:`accept` were called for each
        (a duplicate inside the batch is a duplicate); all decisions are committed in one atomic step.
        Returns one entry per item: None (accepted) or the :class:`ReplayError` it would have raised."""
        checked = [_check_item(*item) for item in _items(items)]
        if not checked:
            return []
        with self._lock:
            return self._accept_many(checked)

    def top(self, device: str, direction: str) -> int | None:
        """The highest accepted seq of a stream, or None if nothing was accepted yet."""
        _check_item(device, direction, 0)
        with self._lock:
            top = self._top(device, direction)
        return None if top == NONE else top

    def next_send_seq(self, device: str, direction: str = "down") -> int:
        """Reserve and return this side's next outgoing seq for (device, direction) (0, 1, 2, ...), durably:
        a number is never handed out twice, even across restarts."""
        _check_item(device, direction, 0)
        with self._lock:
            value = self._next_send_seq(device, direction)
        if value > MAX_U32:
            raise StoreError(f"send counter for {device!r} ({direction}) is exhausted; replace the device secret")
        return value

    def close(self) -> None:
        pass

    def __enter__(self) -> "ReplayStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} window={self.window.size}>"

    # -- what each store implements (called with self._lock held) ------------------------------------
    def _accept_many(self, items: list[tuple[str, str, int]]) -> list[ReplayError | None]:
        raise NotImplementedError

    def _top(self, device: str, direction: str) -> int:
        raise NotImplementedError

    def _next_send_seq(self, device: str, direction: str) -> int:
        raise NotImplementedError

    # shared by the stores that run the window in Python: apply items to loaded states
    def _apply(self, items: list[tuple[str, str, int]], states: dict) -> list[ReplayError | None]:
        out: list[ReplayError | None] = []
        for device, direction, seq in items:
            top, bits = states[(device, direction)]
            verdict, top2, bits2 = self.window.check(top, bits, seq)
            if verdict == ACCEPT:
                states[(device, direction)] = (top2, bits2)
            out.append(self.window.error(verdict, device, direction, seq, top))
        return out


# Kept for the name envelope.py's docstring uses.
ReplayGuard = ReplayStore


class MemoryStore(ReplayStore):
    """In-process state (lost on exit). For tests and single short-lived processes."""

    url = "memory://"

    def __init__(self, window: int = DEFAULT_WINDOW):
        super().__init__(window)
        self._streams: dict[tuple[str, str], tuple[int, int]] = {}
        self._counters: dict[tuple[str, str], int] = {}

    def _accept_many(self, items):
        states = {(d, r): self._streams.get((d, r), (NONE, 0)) for d, r, _ in items}
        out = self._apply(items, states)
        self._streams.update(states)
        return out

    def _top(self, device, direction):
        return self._streams.get((device, direction), (NONE, 0))[0]

    def _next_send_seq(self, device, direction):
        value = self._counters.get((device, direction), 0)
        self._counters[(device, direction)] = value + 1
        return value


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


# The window of Window.check, in Lua, run atomically by Redis for a whole batch.
# Key layout (one string per stream): bytes 0..7 = top + 1 as a signed 64-bit big-endian integer (0: nothing
# accepted yet), then the ring of `blocks` 64-bit blocks; bit (64 + seq % ring) records seq.
# KEYS = the stream keys; ARGV = window, blocks, then one (key index, seq) pair per message.
# Returns one verdict per message (0 accept, 1 duplicate, 2 too old) followed by the top each was judged against.
_REDIS_LUA = """
local window = tonumber(ARGV[1])
local blocks = tonumber(ARGV[2])
local ring = blocks * 64
local zero_block = string.rep('\\0', 8)
local n = (#ARGV - 2) / 2
local verdicts, tops = {}, {}
for i = 1, n do
  local key = KEYS[tonumber(ARGV[1 + 2 * i])]
  local seq = tonumber(ARGV[2 + 2 * i])
  local top = redis.call('BITFIELD', key, 'GET', 'i64', 0)[1] - 1
  local verdict = 0
  if seq > top then
    local old_block, new_block = math.floor(top / 64), math.floor(seq / 64)
    if new_block - old_block >= blocks then
      redis.call('SETRANGE', key, 8, string.rep('\\0', blocks * 8))
    else
      for b = old_block + 1, new_block do
        redis.call('SETRANGE', key, 8 + 8 * (b % blocks), zero_block)
      end
    end
    redis.call('BITFIELD', key, 'SET', 'i64', 0, seq + 1)
  elseif seq <= top - window then
    verdict = 2
  elseif redis.call('GETBIT', key, 64 + seq % ring) == 1 then
    verdict = 1
  end
  if verdict == 0 then
    redis.call('SETBIT', key, 64 + seq % ring, 1)
  end
  verdicts[i] = verdict
  tops[i] = top
end
for i = 1, n do verdicts[n + i] = tops[i] end
return verdicts
"""

_REDIS_NEXT_SEND = "return redis.call('INCR', KEYS[1]) - 1"


class RedisStore(ReplayStore):
    """State in a Redis server; each :meth:`accept_many` is one atomic Lua script call (one round trip)."""

    def __init__(self, url: str, window: int = DEFAULT_WINDOW, *, prefix: str = "iotenvelope:"):
        super().__init__(window)
        try:
            import redis  # optional dependency: pip install iotenvelope[redis]
        except ImportError:
            raise StoreError("redis:// replay stores need the 'redis' package (pip install iotenvelope[redis])") from None
        self._errors = (redis.exceptions.RedisError, OSError)
        self.url = _redact(url)
        self.prefix = prefix
        try:
            self._r = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)
            self._accept_script = self._r.register_script(_REDIS_LUA)
            self._send_script = self._r.register_script(_REDIS_NEXT_SEND)
            key = prefix + "config:window"
            self._r.set(key, str(self.window.size), nx=True)
            stored = self._r.get(key)
        except self._errors as exc:
            raise StoreError(f"Redis store {self.url}: {exc}") from None
        except ValueError as exc:  # from_url rejects a malformed URL with ValueError
            raise UsageError(f"Redis store URL {self.url}: {exc}") from None
        except TypeError:  # a query option the client's connection does not take (it becomes a keyword argument)
            raise UsageError(f"Redis store URL {self.url}: a query option is not one the redis client knows") from None
        if stored is not None and stored.decode("ascii", "replace") != str(self.window.size):
            raise StoreError(f"Redis store {self.url} (prefix {prefix!r}) was created with window"
                             f" {stored.decode('ascii', 'replace')}; this process uses {self.window.size}")

    def _key(self, kind: str, device: str, direction: str) -> str:
        return f"{self.prefix}{kind}:{direction}:{device}"

    def _accept_many(self, items):
        keys: dict[str, int] = {}
        args: list[int] = [self.window.size, self.window.blocks]
        for device, direction, seq in items:
            index = keys.setdefault(self._key("w", device, direction), len(keys) + 1)
            args += [index, seq]
        try:
            reply = self._accept_script(keys=list(keys), args=args)
        except self._errors as exc:
            raise StoreError(f"Redis store {self.url}: replay check failed: {exc}") from None
        n = len(items)
        return [_error(int(reply[i]), d, r, s, int(reply[n + i]), self.window.size)
                for i, (d, r, s) in enumerate(items)]

    def _top(self, device, direction):
        try:
            return int(self._r.bitfield(self._key("w", device, direction)).get("i64", 0).execute()[0]) - 1
        except self._errors as exc:
            raise StoreError(f"Redis store {self.url}: read failed: {exc}") from None

    def _next_send_seq(self, device, direction):
        try:
            return int(self._send_script(keys=[self._key("c", device, direction)]))
        except self._errors as exc:
            raise StoreError(f"Redis store {self.url}: send counter failed: {exc}") from None

    def close(self) -> None:
        try:
            self._r.close()
        except self._errors:
            pass


def _redact(url: str) -> str:
    """The URL without a password (never shown in errors or reprs)."""
    try:
        parts = urlsplit(url)
        password, port = parts.password, parts.port  # .port raises ValueError for a bad port
    except ValueError:  # unparseable (bad IPv6 brackets, port): drop everything before the last '@'
        scheme, sep, rest = url.partition("://")
        return scheme + sep + ("***@" + rest.rsplit("@", 1)[1] if "@" in rest else rest)
    if password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{port}" if port else "")
    return parts._replace(netloc=netloc).geturl()


def open_store(url: str, window: int = DEFAULT_WINDOW) -> ReplayStore:
    """Open (creating if needed) the replay store named by ``url``:

    * ``memory://``
    * ``sqlite:///absolute/path.db``, ``sqlite:relative/path.db``; query options ``timeout`` (seconds to wait
      for another process's lock, default 30) and ``synchronous`` (``full`` default, ``extra``, ``normal``:
      ``normal`` is faster but a power loss, not a process crash, may roll back the last acceptances)
    * ``redis://[:password@]host:port/db``, ``rediss://...``, ``unix:///path.sock?db=N``; query option
      ``prefix`` (key prefix, default ``iotenvelope:``); other query options go to the redis client.
    """
    if not isinstance(url, str):
        raise UsageError(f"replay store URL must be text, got {type(url).__name__}")
    check_window(window)
    scheme, _, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme == "memory":
        if rest not in ("", "//"):
            raise UsageError(f"replay store URL {_redact(url)!r}: memory:// takes no path")
        return MemoryStore(window)
    if scheme == "sqlite":
        path, _, query = rest.partition("?")
        if path.startswith("//"):
            if not path.startswith("///"):
                raise UsageError(f"replay store URL {url!r}: use sqlite:///absolute/path or sqlite:relative/path")
            path = path[2:]
        path = unquote(path)
        if "\x00" in path:
            raise UsageError(f"replay store URL {url!r}: the file name contains a NUL byte")
        if not path or path == "/":
            raise UsageError(f"replay store URL {url!r} names no file")
        opts = dict(parse_qsl(query, keep_blank_values=True))
        unknown = sorted(set(opts) - {"timeout", "synchronous"})
        if unknown:
            raise UsageError(f"replay store URL {url!r}: unknown option {', '.join(unknown)}")
        try:
            timeout = float(opts.get("timeout", 30))
        except ValueError:
            raise UsageError(f"replay store URL {url!r}: timeout must be a number of seconds") from None
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            raise StoreError(f"SQLite store {path!r}: directory {directory!r} does not exist")
        return SQLiteStore(path, window, timeout=timeout, synchronous=opts.get("synchronous", "full"))
    if scheme in ("redis", "rediss", "unix"):
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - validates the port (ValueError), before the redis client sees it
        except ValueError as exc:
            raise UsageError(f"replay store URL {_redact(url)!r}: {exc}") from None
        opts = parse_qsl(parts.query, keep_blank_values=True)
        prefix = "iotenvelope:"
        rest_opts = []
        for name, value in opts:
            if name == "prefix":
                prefix = value
            else:
                rest_opts.append(f"{name}={value}")
        return RedisStore(parts._replace(query="&".join(rest_opts)).geturl(), window, prefix=prefix)
    raise UsageError(f"replay store URL {_redact(url)!r}: use memory://, sqlite:///path or redis://host:port/db")


def accept_many(guard: object, items: Sequence[tuple[str, str, int]]) -> list[ReplayError | None]:
    """``guard.accept_many(items)`` if it has one, else :meth:`accept` per item (for custom guards)."""
    batch = getattr(guard, "accept_many", None)
    if batch is not None:
        return batch(items)
    if not callable(getattr(guard, "accept", None)):
        raise UsageError.wrong_type("guard", guard, "a replay guard with accept_many(items) or accept(...)")
    out: list[ReplayError | None] = []
    for device, direction, seq in _items(items):
        try:
            guard.accept(device, direction, seq)  # type: ignore[attr-defined]
            out.append(None)
        except ReplayError as exc:
            out.append(exc)
    return out


__all__ = ["DEFAULT_WINDOW", "MAX_WINDOW", "Window", "ReplayStore", "ReplayGuard", "MemoryStore", "SQLiteStore",
           "RedisStore", "open_store", "accept_many", "check_window"]
