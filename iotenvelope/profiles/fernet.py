"""``fernet``: Fernet tokens (authenticated, but no device id, sequence number or direction)."""

from __future__ import annotations

import argparse

from . import fernet_token as fernet
from ..errors import UsageError
from . import OpenResult, Option, Profile, Warn


class FernetProfile(Profile):
    name = "fernet"
    summary = "Fernet tokens (AES-128-CBC + HMAC-SHA-256 + timestamp); --key is the url-safe base64 Fernet key"
    authenticated = True
    options = (Option(("--ttl",), dict(type=int, help="fernet: reject tokens older than this many seconds"),
                      ("open",)),)

    def _key(self, opts: argparse.Namespace) -> bytes:
        if getattr(opts, "key", None) is None:
            raise UsageError("profile fernet needs --key (the url-safe base64 Fernet key)")
        return fernet.parse_key(opts.key.removeprefix("b64:"))

    def seal(self, plaintext: bytes, opts: argparse.Namespace, warn: Warn, index: int = 0) -> str:
        if getattr(opts, "iv", None) is not None:
            raise UsageError("profile fernet always uses a fresh random IV; --iv is not accepted")
        return fernet.encrypt(self._key(opts), plaintext, now=opts.ts)

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        return OpenResult(fernet.decrypt(self._key(opts), text, ttl=opts.ttl, now=getattr(opts, "now", None)))


ORDER = 90
PROFILES = [FernetProfile()]
