"""The default profile: envelope v1 (SPEC.md), authenticated."""

from __future__ import annotations

import argparse

from .. import envelope, replay
from ..errors import IotEnvelopeError, UsageError
from ..keys import parse_secret
from . import OpenResult, Option, Profile, Warn


BATCH_CHUNK = 1000  # envelopes per replay-store transaction in `open --batch`


class EnvelopeV1(Profile):
    name = "envelope-v1"
    summary = "AES-CBC + HMAC-SHA-256 envelope with device id, seq, timestamp and direction (SPEC.md)"
    authenticated = True
    options = (
        Option(("--direction",), dict(choices=("up", "down"), default="up",
                                      help="up = device to backend (default), down = backend to device")),
        Option(("--type",), dict(dest="msg_type", choices=tuple(envelope.TYPES), default="data",
                                 help="envelope type (default data)"), ("seal",)),
        Option(("--now",), dict(type=int, help="receiver time for the freshness check (default: this clock)"),
               ("open",)),
        Option(("--skew",), dict(type=int, default=300, help="allowed clock skew in seconds (default 300)"),
               ("open",)),
        Option(("--max-age",), dict(type=int, default=86400,
                                    help="reject envelopes older than this many seconds; 0 disables (default 86400)"),
               ("open",)),
        Option(("--require-time",), dict(action="store_true", help="refuse ts=0 (device time unknown)"), ("open",)),
        Option(("--replay-store",), dict(metavar="URL", help="reject replays using this state store: memory://,"
                                         " sqlite:///path (embedded default), redis://host:port/db"), ("open",)),
        Option(("--replay-window",), dict(type=int, default=replay.DEFAULT_WINDOW, metavar="N",
                                          help=f"replay window size (default {replay.DEFAULT_WINDOW})"), ("open",)),
    )

    def _secret(self, opts: argparse.Namespace) -> bytes:
        if getattr(opts, "passphrase", None) is not None:
            raise UsageError("envelope-v1 takes a 16- or 32-byte device secret with --key (hex or b64:...);"
                             " passphrases belong to the legacy profiles")
        if getattr(opts, "key", None) is None:
            raise UsageError("envelope-v1 needs --key (the device secret, hex or b64:...)")
        return parse_secret(opts.key)

    def seal(self, plaintext: bytes, opts: argparse.Namespace, warn: Warn, index: int = 0) -> str:
        if opts.device is None:
            raise UsageError("envelope-v1 needs --device")
        return envelope.seal(self._secret(opts), plaintext, device=opts.device, seq=opts.seq + index, ts=opts.ts,
                             direction=opts.direction, type=opts.msg_type, format=opts.format or "compact")

    def freshness(self, opts: argparse.Namespace) -> envelope.Freshness:
        return envelope.Freshness(skew=opts.skew, max_age=opts.max_age or None,
                                  allow_unknown_time=not opts.require_time)

    def replay_guard(self, opts: argparse.Namespace):
        """The replay store named by --replay-store (opened once per command), or None."""
        guard = getattr(opts, "replay", None)
        if guard is None and getattr(opts, "replay_store", None):
            guard = opts.replay = replay.open_store(opts.replay_store, window=opts.replay_window)
        return guard

    @staticmethod
    def _result(opened: envelope.Opened) -> OpenResult:
        return OpenResult(opened.plaintext, {"device": opened.device, "seq": opened.seq, "ts": opened.ts,
                                             "direction": opened.direction, "type": opened.type})

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        return self._result(envelope.open(self._secret(opts), text, direction=opts.direction, format=opts.format,
                                          freshness=self.freshness(opts), now=opts.now, replay=self.replay_guard(opts)))

    def open_batch(self, texts, opts, warn):
        """Chunks of BATCH_CHUNK envelopes; each chunk's replay state is checked in one store transaction."""
        secret, freshness, guard = self._secret(opts), self.freshness(opts), self.replay_guard(opts)
        for start in range(0, len(texts), BATCH_CHUNK):
            for res in envelope.open_many(secret, texts[start:start + BATCH_CHUNK], direction=opts.direction,
                                          format=opts.format, freshness=freshness, now=opts.now, replay=guard):
                yield res if isinstance(res, IotEnvelopeError) else self._result(res)


ORDER = 0
PROFILES = [EnvelopeV1()]
