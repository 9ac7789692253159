"""What every replay store does: check-and-update a batch atomically, the send counter (SPEC.md §6 step 7)."""

from __future__ import annotations

import contextlib
import re
import time
from _thread import RLock, get_ident  # threading's own RLock and get_ident, without importing threading (~1 ms)
from typing import Iterable, Iterator, Sequence

from ..envelope import MAX_U32, check_device, check_direction
from ..errors import MalformedError, RateLimitError, ReplayError, StoreError, UsageError
from .window import ACCEPT, BLOCK_BITS, DEFAULT_WINDOW, NONE, Window
from .window import _error  # noqa: F401


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


# SPEC.md §8 "Answer rate": at most RESYNC_LIMIT resync answers per device within any RESYNC_PERIOD seconds.
RESYNC_LIMIT = 6
RESYNC_PERIOD = 60


def _rate_decide(stamps: list[int], now: int, limit: int, period: int) -> tuple[bool, list[int]]:
    """The answer-rate rule on the answer times kept for one device: (allowed, the times to keep).

    Times older than ``period`` no longer count; a time ahead of ``now`` (the clock went back) still counts,
    so moving the clock back never buys more answers."""
    recent = [t for t in stamps if t > now - period]
    if len(recent) >= limit:
        return False, recent
    return True, recent + [now]


def _stamps_text(stamps: list[int]) -> str:
    return ",".join(str(t) for t in stamps)


def _stamps_parse(text: object, where: str) -> list[int]:
    if not isinstance(text, str):
        raise StoreError(f"{where}: stored resync answer times are a {type(text).__name__}, not text (corrupt store)")
    try:
        return [int(t) for t in text.split(",") if t]
    except ValueError:
        raise StoreError(f"{where}: stored resync answer times are not integers (corrupt store)") from None


def _check_rate(device: object, now: object, limit: object, period: object) -> tuple[str, int, int, int]:
    check_device(device)
    if now is None:
        now = int(time.time())
    UsageError.check_int(now, "now")
    if UsageError.check_int(limit, "limit") < 1 or UsageError.check_int(period, "period") < 1:
        raise UsageError(f"resync rate limit must be at least 1 answer per at least 1 s, got {limit} per {period} s")
    return device, now, limit, period  # type: ignore[return-value]


class ReplayStore:
    """Replay state for many (device, direction) streams; pass it as ``replay=`` to :func:`iotenvelope.open`.

    Only call it after the envelope's MAC (and freshness) passed: :func:`iotenvelope.open` and
    :func:`iotenvelope.open_many` do that. Thread-safe; the durable stores are also process-safe.

    The SQL stores (SQLite, PostgreSQL) also offer :meth:`transaction`: the window update and the caller's own
    writes commit together or not at all.
    """

    url = ""
    #: True for stores whose :meth:`transaction` can run the caller's SQL (SQLite, PostgreSQL)
    transactional = False

    def __init__(self, window: int = DEFAULT_WINDOW):
        self.window = Window(window)
        self._lock = RLock()
        self._tx_thread: int | None = None  # the thread inside transaction(), if any

    def _enter(self) -> None:
        """Called with the lock held by every public method: refuse use of the store itself inside its own
        transaction (that would commit separately, or deadlock); the transaction object is the way."""
        if self._tx_thread == get_ident():
            raise UsageError("inside store.transaction() use the transaction object (replay=tx, tx.top(), ...),"
                             " not the store")

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
            self._enter()
            return self._accept_many(checked)

    def _accept_opened(self, items: list[tuple[str, str, int]]) -> list[ReplayError | None]:
        """:meth:`accept_many` for triples that :func:`iotenvelope.open_many` produced, so already valid (device
        id, direction, seq in range): the same decisions without checking the items again. A subclass that
        overrides accept_many still gets every batch through it."""
        if type(self).accept_many is not ReplayStore.accept_many:
            return self.accept_many(items)
        with self._lock:
            self._enter()
            return self._accept_many(items)

    def top(self, device: str, direction: str) -> int | None:
        """The highest accepted seq of a stream, or None if nothing was accepted yet."""
        _check_item(device, direction, 0)
        with self._lock:
            self._enter()
            top = self._top(device, direction)
        return None if top == NONE else top

    def next_send_seq(self, device: str, direction: str = "down") -> int:
        """Reserve and return this side's next outgoing seq for (device, direction) (0, 1, 2, ...), durably:
        a number is never handed out twice, even across restarts."""
        _check_item(device, direction, 0)
        with self._lock:
            self._enter()
            value = self._next_send_seq(device, direction)
        return _check_send(value, device, direction)

    def limit_resync(self, device: str, *, now: int | None = None, limit: int = RESYNC_LIMIT,
                     period: int = RESYNC_PERIOD) -> None:
        """Count one resync answer for ``device`` at ``now`` (default: this clock), or raise
        :class:`RateLimitError` (nothing counted) when ``limit`` answers were already given within the last
        ``period`` seconds (SPEC.md §8: 6 per 60 s). The answer times are kept in the store, so every process
        sharing it shares the bound. Call it before spending a down sequence number."""
        device, now, limit, period = _check_rate(device, now, limit, period)
        with self._lock:
            self._enter()
            allowed = self._limit_resync(device, now, limit, period)
        _raise_if_limited(allowed, device, limit, period)

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Transaction"]:
        """``with store.transaction() as tx:`` one database transaction holding the replay-window updates made
        through ``tx`` (``iotenvelope.open(keys, text, replay=tx)``, ``open_many(..., replay=tx)``,
        ``tx.next_send_seq``, ``tx.limit_resync``) and the caller's own statements (``tx.execute(sql, params)``,
        in the database driver's parameter style). Everything commits when the block ends normally, nothing
        when it raises. A failed commit raises :class:`StoreError`: then nothing was stored.

        Stores without SQL (Redis) refuse this with :class:`UsageError`: they are replay-only."""
        with self._lock:
            self._enter()
            with self._begin():
                tx = Transaction(self)
                self._tx_thread = get_ident()
                try:
                    yield tx
                finally:
                    self._tx_thread = None
                    tx._open = False

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

    def _limit_resync(self, device: str, now: int, limit: int, period: int) -> bool:
        raise NotImplementedError

    def _begin(self):
        """A context manager around one transaction of this store (commit on success, roll back on error)."""
        raise UsageError(f"{type(self).__name__} is a replay-only store: it has no transaction that could hold"
                         " your own writes (use sqlite:// or postgresql://)")

    # the same operations inside an open transaction (SQL stores)
    def _accept_many_tx(self, items):
        raise NotImplementedError

    def _top_tx(self, device: str, direction: str) -> int:
        raise NotImplementedError

    def _next_send_tx(self, device: str, direction: str) -> int:
        raise NotImplementedError

    def _limit_resync_tx(self, device: str, now: int, limit: int, period: int) -> bool:
        raise NotImplementedError

    def _execute(self, sql: str, params, many: bool = False):
        raise UsageError(f"{type(self).__name__} has no SQL: tx.execute needs sqlite:// or postgresql://")

    def _guard(self, what: str, fn, *args):
        """Run one store operation inside the open transaction, turning driver errors into StoreError."""
        return fn(*args)

    # shared by the stores that run the window in Python: apply items to loaded states
    def _apply(self, items: list[tuple[str, str, int]], states: dict) -> list[ReplayError | None]:
        window = self.window
        ring = window.ring
        out: list[ReplayError | None] = [None] * len(items)
        for i, (device, direction, seq) in enumerate(items):
            key = (device, direction)
            top, bits = states[key]
            if seq > top and seq // BLOCK_BITS == top // BLOCK_BITS:  # the usual step: forward in top's block (none to clear)
                states[key] = (seq, bits | (1 << (seq % ring)))
                continue
            verdict, top2, bits2 = window.check(top, bits, seq)
            if verdict == ACCEPT:
                states[key] = (top2, bits2)
            else:
                out[i] = window.error(verdict, device, direction, seq, top)
        return out


def _check_send(value: int, device: str, direction: str) -> int:
    if value > MAX_U32:
        raise StoreError(f"send counter for {device!r} ({direction}) is exhausted; replace the device secret")
    return value


def _raise_if_limited(allowed: bool, device: str, limit: int, period: int) -> None:
    if not allowed:
        raise RateLimitError(f"device {device!r} already got {limit} resync answers within {period} s;"
                             " not answering again yet (SPEC.md §8)")


class Transaction:
    """The handle of :meth:`ReplayStore.transaction`: a replay guard (pass it as ``replay=``) whose window
    updates belong to the open database transaction, plus ``execute`` for the caller's own statements.

    Usable only inside its ``with`` block, and only from the thread that opened it."""

    def __init__(self, store: ReplayStore):
        self.store = store
        self._open = True

    def _check(self) -> None:
        if not self._open:
            raise UsageError("this transaction has ended (use the handle only inside its with block)")
        if self.store._tx_thread != get_ident():
            raise UsageError("a transaction handle may only be used by the thread that opened it")

    def accept(self, device: str, direction: str, seq: int) -> None:
        err = self.accept_many([(device, direction, seq)])[0]
        if err is not None:
            raise err

    def accept_many(self, items: Sequence[tuple[str, str, int]]) -> list[ReplayError | None]:
        self._check()
        checked = [_check_item(*item) for item in _items(items)]
        if not checked:
            return []
        return self.store._guard("replay check", self.store._accept_many_tx, checked)

    def _accept_opened(self, items: list[tuple[str, str, int]]) -> list[ReplayError | None]:
        """As :meth:`ReplayStore._accept_opened`: items that came out of an open, not checked again."""
        if type(self).accept_many is not Transaction.accept_many:
            return self.accept_many(items)
        self._check()
        return self.store._guard("replay check", self.store._accept_many_tx, items)

    def top(self, device: str, direction: str) -> int | None:
        self._check()
        _check_item(device, direction, 0)
        top = self.store._guard("read", self.store._top_tx, device, direction)
        return None if top == NONE else top

    def next_send_seq(self, device: str, direction: str = "down") -> int:
        self._check()
        _check_item(device, direction, 0)
        return _check_send(self.store._guard("send counter", self.store._next_send_tx, device, direction),
                           device, direction)

    def limit_resync(self, device: str, *, now: int | None = None, limit: int = RESYNC_LIMIT,
                     period: int = RESYNC_PERIOD) -> None:
        self._check()
        device, now, limit, period = _check_rate(device, now, limit, period)
        allowed = self.store._guard("resync rate", self.store._limit_resync_tx, device, now, limit, period)
        _raise_if_limited(allowed, device, limit, period)

    def execute(self, sql: str, params: Sequence | dict = ()):
        """Run one of the caller's statements in this transaction (the driver's parameter style: ``?`` for
        SQLite, ``%s`` for psycopg); returns the driver's cursor. The driver's own exceptions propagate."""
        self._check()
        UsageError.check_type(sql, str, "sql", "text")
        return self.store._execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence | dict]):
        self._check()
        UsageError.check_type(sql, str, "sql", "text")
        return self.store._execute(sql, rows, many=True)

    def __repr__(self) -> str:
        return f"<Transaction on {self.store!r}{'' if self._open else ' (ended)'}>"


# Kept for the name envelope.sealing's docstring uses.
ReplayGuard = ReplayStore


def _redact(url: str) -> str:
    """The URL without a password (never shown in errors or reprs)."""
    from urllib.parse import urlsplit  # here, not at the top: a one-shot CLI call never needs it (issue 16)

    try:
        parts = urlsplit(url)
        password, port = parts.password, parts.port  # .port raises ValueError for a bad port
    except ValueError:  # unparseable (bad IPv6 brackets, port): drop everything before the last '@'
        scheme, sep, rest = url.partition("://")
        return _redact_query(scheme + sep + ("***@" + rest.rsplit("@", 1)[1] if "@" in rest else rest))
    if password is None:
        return _redact_query(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{port}" if port else "")
    return _redact_query(parts._replace(netloc=netloc).geturl())


_QUERY_PASSWORD = re.compile(r"(?i)([?&;](?:password|passwd|pwd)=)[^&;#]*")


def _redact_query(url: str) -> str:
    """A password given as a query option (``?password=...``, which the redis client takes) replaced by ***."""
    return _QUERY_PASSWORD.sub(r"\1***", url)


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

class OwnTransactions:
    """For the SQL stores: each store operation outside :meth:`ReplayStore.transaction` runs ``self._run(what,
    self._<op>_tx, ...)``, i.e. in a transaction of its own."""

    def _accept_many(self, items):
        return self._run("replay check", self._accept_many_tx, items)

    def _top(self, device, direction):
        return self._run("read", self._top_tx, device, direction)

    def _next_send_seq(self, device, direction):
        return self._run("send counter", self._next_send_tx, device, direction)

    def _limit_resync(self, device, now, limit, period):
        return self._run("resync rate", self._limit_resync_tx, device, now, limit, period)

