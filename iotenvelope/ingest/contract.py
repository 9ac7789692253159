"""The HTTP contract of the ingest service: which status each refusal gets (docs/ingest.md, "Statuses")."""

from __future__ import annotations

from ..errors import IotEnvelopeError

# SPEC.md §6.1 error names -> HTTP status
SPEC_STATUS = {
    "malformed": 400, "unsupported-version": 400, "padding": 400,
    "auth": 401, "wrong-direction": 401, "unknown-device": 401, "bad-key": 401,
    "replay-duplicate": 409, "replay-too-old": 409, "replay": 409,
    "stale": 422, "future": 422, "time-unknown": 422, "timestamp": 422,
    "rate-limited": 429,
    "store": 503,
}

# the service's own refusals (not envelope errors)
SERVICE_STATUS = {
    "forbidden": 403,             # operator API without the right bearer token / legacy upload hash mismatch
    "not-found": 404,
    "method-not-allowed": 405,
    "too-large": 413,
    "unsupported-media-type": 415,
    "internal": 500,              # a bug in the service (logged with the exception's type only)
}

STORED = 201       # a single envelope stored
RESYNC = 200       # a resync-request answered
BATCH = 200        # an ndjson batch: each line carries its own status


def status_of(error: IotEnvelopeError) -> int:
    """The documented status for a library error (500 for none: a bug, never expected)."""
    return SPEC_STATUS.get(error.code, 500)


def refusal(code: str, message: str, **extra) -> dict:
    """The JSON body of every refusal: ``{"ok": false, "code": ..., "message": ...}``."""
    return {"ok": False, "code": code, "message": message, **extra}
