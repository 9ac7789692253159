"""One structured log line (JSON) per refusal. Never a secret or a plaintext; text that came from the network
(device ids claimed before the MAC, error messages quoting input, the remote address) is truncated and carried
as a JSON string, so it cannot forge a line or flood the log."""

from __future__ import annotations

import json
import logging
import time

LOG = logging.getLogger("iotenvelope.ingest")
MAX_FIELD = 120


def untrusted(text: object, limit: int = MAX_FIELD) -> str | None:
    """``text`` as a short string: at most ``limit`` characters, control characters escaped (json.dumps then
    quotes it once more in the line)."""
    if text is None:
        return None
    s = str(text)
    s = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in s[: limit + 1])
    return s if len(s) <= limit else s[:limit] + "..."


def refusal(*, status: int, code: str, path: str, remote: str | None, message: str, device: str | None = None,
            authenticated: bool = False) -> None:
    """Log one refused request. ``device`` is the id the envelope claims (``authenticated`` says whether its MAC
    verified, i.e. whether the claim can be believed)."""
    line = {"ts": round(time.time(), 3), "event": "refused", "status": status, "code": code, "path": untrusted(path),
            "remote": untrusted(remote, 64), "device": untrusted(device, 64), "device_authenticated": authenticated,
            "message": untrusted(message, 200)}
    LOG.warning(json.dumps(line, ensure_ascii=True, sort_keys=True))


def event(name: str, **fields) -> None:
    LOG.info(json.dumps({"ts": round(time.time(), 3), "event": name,
                         **{k: untrusted(v) if isinstance(v, str) else v for k, v in fields.items()}},
                        ensure_ascii=True, sort_keys=True))
