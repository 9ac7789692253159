"""What every replay store does: check-and-update a batch atomically, the send counter (SPEC.md §6 step 7)."""

from __future__ import annotations

import threading
from typing import Iterable, Sequence
from urllib.parse import urlsplit

from ..envelope import MAX_U32, check_device, check_direction
from ..errors import MalformedError, ReplayError, StoreError, UsageError
from .window import ACCEPT, DEFAULT_WINDOW, NONE, Window
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


# Kept for the name envelope.sealing's docstring uses.
ReplayGuard = ReplayStore


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


