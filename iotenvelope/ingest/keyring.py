"""The service's keyring file, with rotation and reloading.

File format (JSON)::

    {"sensor-01": "<hex or b64: secret>",                 # one secret
     "sensor-02": ["<new secret>", "<old secret>", ...]}  # rotation: the first seals, any one opens

As MultiFernet does for Fernet tokens, opening tries the secrets in order and reports which one verified
(``key`` index: 0 is the newest). A failed MAC under one secret touches nothing (the replay window is
consulted only after a MAC verified), so trying several is safe; the time spent grows with the number listed.

Reloading: :meth:`Keyring.maybe_reload` re-reads the file when its modification time, size or inode changed
(checked at most every ``check_interval`` seconds); :meth:`Keyring.reload` re-reads it unconditionally (the
service calls it on SIGHUP). A reload builds a new mapping and swaps it in with one assignment, so a request
in flight finishes with the keyring it started with, and a file that fails to parse (half written, bad JSON,
a bad secret) is reported and the previous keyring stays in force: the service never runs without keys.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Mapping

from ..envelope import Envelope, Freshness, Opened, check_device, open_envelope
from ..errors import AuthenticationError, DirectionError, KeyFormatError, UnknownDeviceError, UsageError
from ..primitives.keys import parse_secret
from . import logs


def parse_keyring(data: object, where: str = "keyring") -> dict[str, tuple[bytes, ...]]:
    """Validate the decoded JSON of a keyring file: device id -> one secret or a non-empty list of them."""
    if not isinstance(data, dict) or not data:
        raise KeyFormatError(f"{where}: expected a non-empty JSON object of device id -> secret(s)")
    ring: dict[str, tuple[bytes, ...]] = {}
    for device, value in data.items():
        check_device(device)
        items = value if isinstance(value, list) else [value]
        if not items:
            raise KeyFormatError(f"{where}: device {device!r} has an empty list of secrets")
        secrets = []
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise KeyFormatError(f"{where}: secret {i} of device {device!r} must be text (hex or b64:...),"
                                     f" got {type(item).__name__}")
            secrets.append(parse_secret(item, f"secret {i} of device {device!r} in {where}"))
        ring[device] = tuple(secrets)
    return ring


def load_file(path: str) -> dict[str, tuple[bytes, ...]]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise UsageError(f"keyring {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise KeyFormatError(f"keyring {path}: not valid JSON") from None
    return parse_keyring(data, f"keyring {path}")


class Keyring:
    """Device secrets for the service; thread-safe; see the module docstring."""

    def __init__(self, source: str | Mapping, *, check_interval: float = 1.0):
        self.path = source if isinstance(source, (str, os.PathLike)) else None
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._checked = 0.0
        self.generation = 0
        if self.path is None:
            self._ring = parse_keyring(dict(source), "keyring")
        else:
            self._stamp = self._file_stamp()
            self._ring = load_file(self.path)
        self.generation = 1

    def _file_stamp(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def reload(self) -> bool:
        """Re-read the file now; True if the new keyring is in force, False if it was refused (logged)."""
        if self.path is None:
            return False
        with self._lock:
            stamp = self._file_stamp()
            try:
                ring = load_file(self.path)
            except (KeyFormatError, UsageError, Exception) as exc:  # keep serving with the keys we have
                self._stamp = stamp
                logs.event("keyring-reload-refused", path=str(self.path), error=type(exc).__name__,
                           message=str(exc))
                return False
            self._ring = ring
            self._stamp = stamp
            self.generation += 1
        logs.event("keyring-reloaded", path=str(self.path), devices=len(ring), generation=self.generation)
        return True

    def maybe_reload(self) -> None:
        """Reload if the file changed (stat at most every ``check_interval`` s)."""
        if self.path is None:
            return
        now = time.monotonic()
        if now - self._checked < self.check_interval:
            return
        self._checked = now
        if self._file_stamp() != self._stamp:
            self.reload()

    # -- lookups ---------------------------------------------------------------------------------------------
    def secrets(self, device: str) -> tuple[bytes, ...]:
        found = self._ring.get(device)
        if found is None:
            raise UnknownDeviceError(f"no secret known for device {device!r}")
        return found

    def __contains__(self, device: object) -> bool:
        return device in self._ring

    def devices(self) -> list[str]:
        return sorted(self._ring)

    def sealing_secret(self, device: str) -> bytes:
        """The secret new envelopes for ``device`` are sealed with: the first listed."""
        return self.secrets(device)[0]

    def open(self, env: Envelope, *, direction: str = "up", freshness: Freshness | None = Freshness(),
             now: int | None = None, replay=None) -> tuple[Opened, int, bytes]:
        """Open a parsed envelope with whichever of the device's secrets verifies its MAC (first to last);
        returns ``(opened, index, secret)`` (the secret itself, so a reload in between cannot mix up which one
        verified). Raises the error of the last secret tried when none verifies."""
        secrets = self.secrets(env.device)  # one mapping for the whole call, even if a reload swaps it
        last: AuthenticationError | None = None
        for index, secret in enumerate(secrets):
            try:
                return open_envelope(secret, env, direction=direction, freshness=freshness, now=now,
                                     replay=replay), index, secret
            except DirectionError:
                raise
            except AuthenticationError as exc:
                last = exc
        assert last is not None
        raise last

    def open_lean(self, env, *, device: str, direction: str = "up", freshness: Freshness | None = Freshness(),
                  now: int | None = None, replay=None) -> tuple[Opened, int, bytes]:
        """As :meth:`open` for a parsed lean envelope (SPEC.md §5.3), whose device id comes from the transport."""
        from ..envelope import lean
        secrets = self.secrets(device)
        last: AuthenticationError | None = None
        for index, secret in enumerate(secrets):
            try:
                return lean.open_lean(secret, env, device=device, direction=direction, freshness=freshness,
                                      now=now, replay=replay), index, secret
            except DirectionError:
                raise
            except AuthenticationError as exc:
                last = exc
        assert last is not None
        raise last

    def __repr__(self) -> str:
        return f"<Keyring {self.path or '(mapping)'}: {len(self._ring)} devices, generation {self.generation}>"
