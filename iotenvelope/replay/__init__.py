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
``postgresql://user@host:port/database``
    PostgreSQL (psycopg 3): each check-and-update is one transaction locking the streams' rows; any number of
    processes on any number of hosts may share it; :meth:`ReplayStore.transaction` holds the caller's rows too.
``redis://host:port/db`` (and ``rediss://``, ``unix://``)
    a Redis server: every check-and-update (one message or a batch) is one server-side Lua script, which Redis
    runs atomically, so any number of ingest processes or hosts may share it. Needs the ``redis`` package
    (``pip install iotenvelope[redis]``).

Every store may be shared between processes only with the same window size: the size is recorded in the
store when it is created and a different one is refused (:class:`StoreError`).

Stores also keep a durable **send counter** per (device, direction) (:meth:`ReplayStore.next_send_seq`) that
a backend uses for its own down-going sequence numbers (e.g. resync responses, SPEC.md §8).

Atomicity: the decision and the state change for a message are one atomic step in every store, so no message is
ever accepted twice. Delivery depends on the API (docs/replay.md, "Delivery"): ``open(..., replay=store)``
commits the acceptance before it returns, so a crash before the caller's own write loses that message (at most
once); ``with store.transaction() as tx: open(..., replay=tx); tx.execute(...)`` (SQLite, PostgreSQL) commits the
acceptance together with the caller's writes (exactly once, with a sender that retries). Redis is replay-only:
at most once. For Redis the state survives a *server* crash only if the server persists every write before
answering (``appendonly yes`` and ``appendfsync always``), and a server whose ``maxmemory-policy`` may evict
keys is refused.
"""

from .window import ACCEPT, DEFAULT_WINDOW, DUPLICATE, MAX_WINDOW, TOO_OLD, Window, check_window  # noqa: F401
from .store import RESYNC_LIMIT, RESYNC_PERIOD, ReplayStore, ReplayGuard, Transaction, accept_many  # noqa: F401

#: what loads on first use (PEP 562): each store module pulls in its database client, which a one-shot seal,
#: or a process that uses one store, should not pay for
_LAZY = {"MemoryStore": "memory", "SQLiteStore": "sqlite", "RedisStore": "redis", "PostgresStore": "postgres",
         "open_store": "urls"}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'iotenvelope.replay' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value

__all__ = ["DEFAULT_WINDOW", "MAX_WINDOW", "Window", "ReplayStore", "ReplayGuard", "MemoryStore", "SQLiteStore",
           "RedisStore", "PostgresStore", "Transaction", "open_store", "accept_many", "check_window",
           "RESYNC_LIMIT", "RESYNC_PERIOD"]

