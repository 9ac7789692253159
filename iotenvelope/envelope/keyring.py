"""The keyring file of ``open --keyring`` and ``resync --keyring``: one JSON object of device id -> device secret.

(``iotenvelope serve`` reads a richer file, with several secrets per device for rotation:
:mod:`iotenvelope.ingest.keyring`.)
"""

from __future__ import annotations

import json
import os

from ..errors import KeyFormatError, UsageError
from ..primitives.keys import parse_secret
from .fields import check_device


def load_keyring(path: str) -> dict[str, bytes]:
    """Read ``{"device id": "secret", ...}`` (secrets as hex or b64:) and validate every entry up front."""
    UsageError.check_type(path, (str, bytes, os.PathLike), "keyring path", "a file name")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise UsageError(f"--keyring {path}: {exc.strerror}") from None
    except (ValueError, RecursionError):  # bad JSON, not UTF-8, too deeply nested
        raise KeyFormatError(f"--keyring {path}: not valid JSON") from None
    if not isinstance(data, dict) or not data:
        raise KeyFormatError(f"--keyring {path}: expected a non-empty JSON object of device id -> secret")
    ring = {}
    for device, secret in data.items():
        check_device(device)
        ring[device] = parse_secret(secret, f"secret of device {device!r} in {path}")
    return ring
