"""``memory://``: replay state in a dict of this process (tests, short-lived tools)."""

from __future__ import annotations

import contextlib

from .window import DEFAULT_WINDOW, NONE
from .store import ReplayStore, _items, _rate_decide  # noqa: F401


class MemoryStore(ReplayStore):
    """In-process state (lost on exit). For tests and single short-lived processes.

    :meth:`transaction` works (the window changes made through it are undone if the block raises) but has no
    SQL: ``tx.execute`` is a :class:`UsageError`."""

    url = "memory://"

    def __init__(self, window: int = DEFAULT_WINDOW):
        super().__init__(window)
        self._streams: dict[tuple[str, str], tuple[int, int]] = {}
        self._counters: dict[tuple[str, str], int] = {}
        self._rates: dict[str, list[int]] = {}

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

    def _limit_resync(self, device, now, limit, period):
        allowed, keep = _rate_decide(self._rates.get(device, []), now, limit, period)
        self._rates[device] = keep
        return allowed

    @contextlib.contextmanager
    def _begin(self):
        saved = (dict(self._streams), dict(self._counters), {k: list(v) for k, v in self._rates.items()})
        try:
            yield
        except BaseException:
            self._streams, self._counters, self._rates = saved
            raise

    _accept_many_tx = _accept_many
    _top_tx = _top
    _next_send_tx = _next_send_seq
    _limit_resync_tx = _limit_resync
