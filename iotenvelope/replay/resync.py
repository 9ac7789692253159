"""Resync (SPEC.md §8): a device that lost its sequence counter asks the backend where to continue.

Device (or Python gateway) side::

    req = resync.make_request(secret, device="sensor-01")           # req.text goes up, keep req.nonce
    ...
    res = resync.read_response(secret, response_text, req.nonce)   # MAC first, then the nonce
    counter = max(counter, res.next_seq)                            # and maybe set the clock: res.backend_time

Backend side::

    store = replay.open_store("sqlite:///var/lib/iotenvelope/replay.db")
    answer = resync.answer_request(keys, request_text, store)      # answer.text goes down

The request is authenticated but exempt from the replay window and freshness (the device may be behind, its
clock unset); it never changes window state. A replayed request only yields a response bound to its old
nonce, which the device ignores.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import struct
import sys
import time
from typing import Callable

from .. import envelope
from ..envelope import MAX_U32, Envelope, Freshness, KeySource, ReplayCheck
from ..errors import AuthenticationError, MalformedError, ReplayError, StaleError, UsageError, untrusted
from ..records import REQUIRED, Frozen, Record

NONCE_LEN = 8
RESPONSE_LEN = NONCE_LEN + 8


#: SPEC.md §8: a response is accepted at most this many seconds after its request was sent (device clock)
T_WAIT = 60.0


class Request(Record):
    """A sealed resync-request, the nonce the device must keep to recognise the answer, and when it was sent.

    ``sent_at`` is a reading of ``clock`` (a monotonic clock, never the wall clock the response may be about to
    repair). :func:`read_response` accepts a response only while the request is ``pending``: until one matching
    response was read, or until ``T_WAIT`` seconds passed (SPEC.md §8 "Waiting time")."""

    FIELDS = (("text", REQUIRED), ("nonce", REQUIRED), ("sent_at", 0.0), ("clock", time.monotonic), ("pending", True))
    HIDDEN = frozenset({"nonce", "clock"})
    __eq__ = object.__eq__  # compared by identity (a request is one event, not a value)
    __hash__ = object.__hash__
    text: str
    nonce: bytes
    sent_at: float
    clock: "Callable[[], float]"
    pending: bool


class Answer(Frozen):
    """The backend's resync-response (``text``) and what it told the device."""

    FIELDS = (("text", REQUIRED), ("device", REQUIRED), ("next_seq", REQUIRED), ("backend_time", REQUIRED),
              ("seq", REQUIRED))
    text: str
    device: str
    next_seq: int
    backend_time: int
    seq: int  # the backend's own down seq used for the response


class Result(Frozen):
    """What a device learns from a resync-response."""

    FIELDS = (("next_seq", REQUIRED), ("backend_time", REQUIRED), ("device", REQUIRED), ("seq", REQUIRED),
              ("ts", REQUIRED))
    next_seq: int
    backend_time: int
    device: str
    seq: int
    ts: int

    def resume(self, counter: int) -> int:
        """The counter to continue from: ``max(counter, next_seq)`` (never goes backwards)."""
        return max(counter, self.next_seq)


def _format_of(text: str | bytes) -> str:
    head = text.lstrip()[:1]
    return "json" if head in ("{", b"{") else "compact"


def _check_clock(clock: object) -> "Callable[[], float]":
    if not callable(clock):
        raise UsageError.wrong_type("clock", clock, "a callable returning monotonic seconds")
    return clock  # type: ignore[return-value]


def make_request(secret: bytes, *, device: str, seq: int = 0, ts: int | None = None, format: str = "compact",
                 nonce: bytes | None = None, clock: "Callable[[], float]" = time.monotonic) -> Request:
    """Seal a resync-request (direction up) with a fresh random 8-byte nonce (``nonce`` only for tests).

    ``seq`` is the device's best guess (0 is fine: the backend does not apply the window to requests);
    ``ts`` None is the current time, 0 means "time unknown". ``clock`` is the monotonic clock the waiting time
    is measured on (default :func:`time.monotonic`; tests inject their own); send ``text`` right away."""
    _check_clock(clock)
    if nonce is None:
        nonce = os.urandom(NONCE_LEN)
    if not isinstance(nonce, (bytes, bytearray)) or len(nonce) != NONCE_LEN:
        raise MalformedError(f"resync nonce must be {NONCE_LEN} bytes")
    text = envelope.seal(secret, bytes(nonce), device=device, seq=seq, ts=ts, direction="up", type="resync-request",
                         format=format)
    return Request(text, bytes(nonce), clock(), clock)


def answer_request(keys: KeySource, text: str | bytes, store, *, now: int | None = None,
                   down_seq: int | None = None, format: str | None = None) -> Answer:
    """Backend: verify a resync-request (MAC only; SPEC.md §8 step 2) and seal the resync-response.

    ``store`` is the :class:`~iotenvelope.replay.ReplayStore` whose up window says which seq was accepted
    last; its send counter supplies the response's down seq unless ``down_seq`` is given. ``format`` None
    answers in the encoding of the request. Raises the usual open errors for a bad request,
    :class:`MalformedError` for a request of another type or a nonce that is not 8 bytes, and
    :class:`ReplayError` when the device used up all 2**32 sequence numbers (its secret must be replaced),
    :class:`RateLimitError` when the store already answered this device 6 times within 60 s (SPEC.md §8; no
    down seq is spent; only when the store supplies the down seq, i.e. ``down_seq`` is None).
    """
    if not all(callable(getattr(store, name, None)) for name in ("top", "next_send_seq")):
        raise UsageError.wrong_type("store", store, "a replay store (iotenvelope.open_store)")
    for name, value in (("now", now), ("down_seq", down_seq)):
        if value is not None:
            UsageError.check_int(value, name)
    if format not in (None, "compact", "json"):
        raise envelope._bad_format(format)
    env = Envelope.decode(text)
    opened = envelope.open_envelope(keys, env, direction="up", freshness=None, replay=None)
    if opened.type != "resync-request":
        raise MalformedError(f"expected a resync-request envelope, got {opened.type}")
    if len(opened.plaintext) != NONCE_LEN:
        raise MalformedError(f"resync-request plaintext is {len(opened.plaintext)} bytes; must be an"
                             f" {NONCE_LEN}-byte nonce")
    top = store.top(opened.device, "up")
    next_seq = 0 if top is None else top + 1
    if next_seq > MAX_U32:
        raise ReplayError(f"device {untrusted(opened.device)} used every sequence number up to {MAX_U32}: replace its"
                          " secret (SPEC.md §7) instead of resyncing")
    backend_time = int(time.time()) if now is None else now
    if type(backend_time) is not int or not 0 <= backend_time <= MAX_U32:
        raise UsageError(f"backend time {backend_time!r} is not a Unix time in 0..{MAX_U32}")
    if down_seq is None:
        limit = getattr(store, "limit_resync", None)
        if limit is not None:  # SPEC.md §8 answer rate: RateLimitError before a down seq is spent
            limit(opened.device, now=backend_time)
        down_seq = store.next_send_seq(opened.device, "down")
    plaintext = opened.plaintext + struct.pack(">II", next_seq, backend_time)
    secret = envelope._lookup(keys, opened.device)
    response = envelope.seal(secret, plaintext, device=opened.device, seq=down_seq, ts=backend_time,
                             direction="down", type="resync-response", format=format or _format_of(text))
    return Answer(response, opened.device, next_seq, backend_time, down_seq)


def read_response(keys: KeySource, text: str | bytes, nonce: "Request | bytes", *, freshness: Freshness | None = None,
                  now: int | None = None, replay: ReplayCheck | None = None, t_wait: float = T_WAIT,
                  sent_at: float | None = None, clock: "Callable[[], float] | None" = None) -> Result:
    """Device: open a resync-response (direction down, MAC first) and check it answers the request.

    ``nonce`` is the :class:`Request` from :func:`make_request` (it knows its nonce and when it was sent), or
    the bare 8-byte nonce together with ``sent_at``, the ``clock`` reading taken when the request was sent.
    A response read more than ``t_wait`` seconds (default 60) after the request is refused as
    :class:`StaleError` and the request stops being pending (SPEC.md §8 "Waiting time"): a response an attacker
    held back cannot move the device's counter or clock. ``clock`` defaults to the request's clock (else
    :func:`time.monotonic`).

    Freshness is off by default (the device's clock may be what is being fixed; the nonce and the waiting time
    prove the answer is fresh). ``replay``, if given, is the device's down window; it is advanced only after the
    nonce matched. A response to another request raises :class:`AuthenticationError` (SPEC.md §8 step 4: it
    does not authenticate this request; ignore it and keep waiting)."""
    request = nonce if isinstance(nonce, Request) else None
    if request is not None:
        nonce, sent_at = request.nonce, request.sent_at
    MalformedError.check_type(nonce, (bytes, bytearray), "resync nonce", "8 bytes or the Request")
    if len(nonce) != NONCE_LEN:
        raise MalformedError(f"resync nonce must be {NONCE_LEN} bytes")
    if replay is not None and not callable(getattr(replay, "accept", None)):
        raise UsageError.wrong_type("replay", replay, "a replay guard with accept(device, direction, seq), or None")
    if type(t_wait) not in (int, float):
        raise UsageError.wrong_type("t_wait", t_wait, "a number of seconds")
    if not t_wait > 0:
        raise UsageError(f"t_wait must be a positive number of seconds, got {t_wait}")
    if clock is None:
        clock = request.clock if request is not None else time.monotonic
    _check_clock(clock)
    if sent_at is None:
        raise UsageError("read_response needs the Request from make_request, or sent_at= with a bare nonce:"
                         " without the time the request was sent, the waiting time (SPEC.md §8) cannot be checked")
    if type(sent_at) not in (int, float):
        raise UsageError.wrong_type("sent_at", sent_at, "a reading of the monotonic clock")
    if request is not None and not request.pending:
        raise StaleError("this resync request is no longer pending (answered or timed out): send a new one")
    waited = clock() - sent_at
    if waited > t_wait:
        if request is not None:
            request.pending = False
        raise StaleError(f"resync-response arrived {waited:.1f} s after the request, later than the {t_wait:g} s"
                         " waiting time (SPEC.md §8): the request is discarded, send a new one")
    opened = envelope.open(keys, text, direction="down", freshness=freshness, now=now, replay=None)
    if opened.type != "resync-response":
        raise MalformedError(f"expected a resync-response envelope, got {opened.type}")
    if len(opened.plaintext) != RESPONSE_LEN:
        raise MalformedError(f"resync-response plaintext is {len(opened.plaintext)} bytes; must be {RESPONSE_LEN}")
    if not hmac.compare_digest(opened.plaintext[:NONCE_LEN], bytes(nonce)):
        raise AuthenticationError("resync-response answers a different request (nonce mismatch): ignore it")
    if replay is not None:
        replay.accept(opened.device, "down", opened.seq)
    if request is not None:
        request.pending = False
    next_seq, backend_time = struct.unpack(">II", opened.plaintext[NONCE_LEN:])
    return Result(next_seq, backend_time, opened.device, opened.seq, opened.ts)


# -- CLI: `iotenvelope resync` (backend side) ------------------------------------------------------------
def add_parser(sub: argparse._SubParsersAction) -> None:
    from . import DEFAULT_WINDOW
    p = sub.add_parser("resync", help="backend: resync-request on stdin -> resync-response on stdout (SPEC.md §8)")
    keys = p.add_mutually_exclusive_group(required=True)
    keys.add_argument("--key", help="the device secret (hex or b64:...)")
    keys.add_argument("--keyring", help="JSON file {device id: secret} (as `open --keyring`)")
    p.add_argument("--replay-store", required=True, metavar="URL",
                   help="durable replay store holding the device's window: sqlite:///path or redis://host:port/db"
                        " (memory:// is refused: it would forget the down counter when the command exits)")
    p.add_argument("--replay-window", type=int, default=DEFAULT_WINDOW, metavar="N",
                   help=f"window size the store was created with (default {DEFAULT_WINDOW})")
    p.add_argument("--now", type=int, help="backend time to send (default: this clock)")
    p.add_argument("--down-seq", type=int, help="down seq for the response (default: the store's send counter)")
    p.add_argument("--format", choices=("json", "compact"), help="response encoding (default: the request's)")
    p.add_argument("--json", action="store_true", help="print a JSON object: response, device, next_seq, ...")


def cmd_resync(opts: argparse.Namespace) -> int:
    from ..primitives.keys import parse_secret
    from ..envelope.keyring import load_keyring
    from . import open_store
    if opts.replay_store.split(":", 1)[0].lower() == "memory":
        raise UsageError("resync --replay-store memory:// cannot remember anything after this command: every answer"
                         " would say next_seq 0 and reuse down seq 0. Use the store the backend opens envelopes"
                         " with (sqlite:///path or redis://...)")
    secret = parse_secret(opts.key) if opts.key is not None else load_keyring(opts.keyring)
    # the bytes as they came: the decoder strips exactly one trailing LF or CRLF (SPEC.md §5), nothing else
    text = sys.stdin.buffer.read()
    with open_store(opts.replay_store, window=opts.replay_window) as store:
        answer = answer_request(secret, text, store, now=opts.now, down_seq=opts.down_seq, format=opts.format)
    if opts.json:
        print(json.dumps({"response": answer.text, "device": answer.device, "next_seq": answer.next_seq,
                          "backend_time": answer.backend_time, "seq": answer.seq}))
    else:
        print(answer.text)
    return 0
