"""Store URLs: :func:`open_store` picks and opens the store a URL names."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import StoreError, UsageError
from .window import DEFAULT_WINDOW, check_window
from .store import ReplayStore, _redact
from .memory import MemoryStore
from .sqlite import SQLiteStore
from .redis import RedisStore
from .postgres import PostgresStore


def open_store(url: str, window: int = DEFAULT_WINDOW) -> ReplayStore:
    """Open (creating if needed) the replay store named by ``url``:

    * ``memory://``
    * ``sqlite:///absolute/path.db``, ``sqlite:relative/path.db``; query options ``timeout`` (seconds to wait
      for another process's lock, default 30) and ``synchronous`` (``full`` default, ``extra``, ``normal``:
      ``normal`` is faster but a power loss, not a process crash, may roll back the last acceptances)
    * ``redis://[:password@]host:port/db``, ``rediss://...``, ``unix:///path.sock?db=N``; query option
      ``prefix`` (key prefix, default ``iotenvelope:``); other query options go to the redis client.
    * ``postgresql://[user[:password]@]host[:port]/database[?libpq options]`` (also ``postgres://``)
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
        # rebuilt by hand: SplitResult.geturl() turns unix:///path into unix:/path, which the client refuses
        client_url = f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?" + "&".join(rest_opts) if rest_opts else "")
        return RedisStore(client_url, window, prefix=prefix)
    if scheme in ("postgresql", "postgres"):
        return PostgresStore(url, window)
    raise UsageError(f"replay store URL {_redact(url)!r}: use memory://, sqlite:///path, redis://host:port/db or"
                     " postgresql://user@host:port/database")


