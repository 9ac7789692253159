"""The default profile: envelope v1 (SPEC.md), authenticated."""

from __future__ import annotations

import argparse

from .. import envelope
from ..replay.window import DEFAULT_WINDOW
from ..envelope.keyring import load_keyring
from ..errors import IotEnvelopeError, UsageError
from ..primitives.keys import parse_iv, parse_secret
from . import OpenResult, Option, Profile, Warn

BATCH_CHUNK = 1000  # envelopes per replay-store transaction in `open --batch`


class EnvelopeV1(Profile):
    name = "envelope-v1"
    summary = "AES-CBC + HMAC-SHA-256 envelope with device id, seq, timestamp and direction (SPEC.md)"
    authenticated = True

    def __init__(self) -> None:
        self._keyrings: dict[str, dict[str, bytes]] = {}  # path -> ring, read once per process

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
        Option(("--keyring",), dict(help="JSON file {device id: secret (hex or b64:)} for a backend with many devices"
                                         " (instead of --key)"), ("open",)),
        Option(("--replay-store",), dict(metavar="URL", help="reject replays using this state store: memory://,"
                                         " sqlite:///path (embedded default), redis://host:port/db"), ("open",)),
        Option(("--replay-window",), dict(type=int, default=DEFAULT_WINDOW, metavar="N",
                                          help=f"replay window size (default {DEFAULT_WINDOW})"), ("open",)),
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
        iv = None
        if opts.iv is not None and opts.format == "lean":
            raise UsageError("the lean form derives its IV from --seq: --iv is not allowed")
        if opts.iv is not None:
            if opts.batch:
                raise UsageError("--iv with --batch would reuse one IV for every envelope")
            if index == 0:
                warn("--iv fixes the IV: use it only to reproduce test vectors, never for real messages")
            iv = parse_iv(opts.iv)
        return envelope.seal(self._secret(opts), plaintext, device=opts.device, seq=opts.seq + index, ts=opts.ts,
                             direction=opts.direction, type=opts.msg_type, format=opts.format or "compact", iv=iv)

    def freshness(self, opts: argparse.Namespace) -> envelope.Freshness:
        return envelope.Freshness(skew=opts.skew, max_age=opts.max_age or None,
                                  allow_unknown_time=not opts.require_time)

    def _keys(self, opts: argparse.Namespace):
        if getattr(opts, "keyring", None) is None:
            return self._secret(opts)
        if opts.key is not None or opts.passphrase is not None:
            raise UsageError("give either --key or --keyring, not both")
        if opts.keyring not in self._keyrings:
            self._keyrings[opts.keyring] = load_keyring(opts.keyring)
        return self._keyrings[opts.keyring]

    def replay_guard(self, opts: argparse.Namespace):
        """The replay store named by --replay-store (opened once per command), or None."""
        guard = getattr(opts, "replay", None)
        if guard is None and getattr(opts, "replay_store", None):
            from ..replay import open_store  # here: stores load sqlite3/redis clients

            guard = opts.replay = open_store(opts.replay_store, window=opts.replay_window)
        return guard

    @staticmethod
    def _result(opened: envelope.Opened) -> OpenResult:
        fields = opened.__dict__  # an Opened keeps its fields there (records.Frozen); one per line of open --batch
        return OpenResult(fields["plaintext"], {"device": fields["device"], "seq": fields["seq"], "ts": fields["ts"],
                                                "direction": fields["direction"], "type": fields["type"]})

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        return self._result(envelope.open(self._keys(opts), text, direction=opts.direction, format=opts.format,
                                          freshness=self.freshness(opts), now=opts.now, replay=self.replay_guard(opts),
                                          device=self._lean_device(opts)))

    @staticmethod
    def _lean_device(opts: argparse.Namespace) -> "str | None":
        """--device for --format lean (required there); refused with the forms that carry the device id."""
        device = getattr(opts, "device", None)
        if opts.format == "lean" and device is None:
            raise UsageError("--format lean needs --device: the lean form does not carry the device id")
        if opts.format != "lean" and device is not None:
            raise UsageError("open --device is only for --format lean (the other forms carry the device id)")
        return device

    def open_batch(self, texts, opts, warn, line=None):
        """Chunks of BATCH_CHUNK envelopes; each chunk's replay state is checked in one store transaction."""
        keys, freshness, guard = self._keys(opts), self.freshness(opts), self.replay_guard(opts)
        for start in range(0, len(texts), BATCH_CHUNK):
            for res in envelope.open_many(keys, texts[start:start + BATCH_CHUNK], direction=opts.direction,
                                          format=opts.format, freshness=freshness, now=opts.now, replay=guard,
                                          device=self._lean_device(opts)):
                if isinstance(res, IotEnvelopeError):
                    yield res
                    continue
                text = None if line is None else line(res)
                yield self._result(res) if text is None else text


ORDER = 0
PROFILES = [EnvelopeV1()]
