"""``memory://``: replay state in a dict of this process (tests, short-lived tools)."""

from __future__ import annotations


from .window import DEFAULT_WINDOW, NONE
from .store import ReplayStore, _items  # noqa: F401


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


