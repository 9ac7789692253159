"""Timestamp freshness policy (SPEC.md §6 step 6)."""

from __future__ import annotations


from ..errors import (FutureError, StaleError, TimeUnknownError, UsageError)
from .fields import EPOCH_2000
from ..records import Frozen


class Freshness(Frozen):
    """Timestamp policy (SPEC.md §6 step 6): ``Freshness(skew=300, max_age=86400, allow_unknown_time=True)``.
    ``max_age`` None disables the age bound. Frozen, compared by its fields."""

    FIELDS = (("skew", 300), ("max_age", 86400), ("allow_unknown_time", True))
    skew: int
    max_age: int | None
    allow_unknown_time: bool

    def __post_init__(self) -> None:
        for name in ("skew", "max_age"):
            value = getattr(self, name)
            if value is None and name == "max_age":
                continue
            if UsageError.check_int(value, f"freshness {name}") < 0:
                raise UsageError(f"freshness {name} must be a non-negative integer number of seconds, got {value}")
        UsageError.check_type(self.allow_unknown_time, bool, "freshness allow_unknown_time", "True or False")

    def check(self, ts: int, now: int) -> None:
        if ts == 0:
            if not self.allow_unknown_time:
                raise TimeUnknownError("envelope has ts=0 (device time unknown) and this receiver requires a time")
            return
        if ts > now + self.skew:
            raise FutureError(f"timestamp is {ts - now} s in the future (allowed skew {self.skew} s)")
        if self.max_age is not None and ts < now - self.max_age - self.skew:
            age = now - ts
            hint = ""
            if abs(age - EPOCH_2000) <= 86400 + self.skew:
                hint = ("; that is the 946684800 s offset of a clock counting from 2000 (MicroPython on ESP8266/ESP32):"
                        " add 946684800 before sealing")
            raise StaleError(f"timestamp is {age} s old (limit {self.max_age} s + {self.skew} s skew){hint}")




