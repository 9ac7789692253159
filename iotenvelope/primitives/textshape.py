"""What decrypted bytes look like: printable text, a JSON object or array, standard base64.

Shared by the Spaniakos truncation analysis (``profiles/spaniakos.py``) and ``iotenvelope diagnose``, which both
judge a decryption by its shape and must agree on what counts as text.
"""

from __future__ import annotations

import json

from . import b64
from ..errors import MalformedError

TEXT_CONTROLS = "\t\n\r"


def text_of(data: bytes) -> str | None:
    """The text, when ``data`` is UTF-8 and every character is printable (or tab, LF, CR); else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if all(c.isprintable() or c in TEXT_CONTROLS for c in text) else None


def is_json_container(data: bytes | None) -> bool:
    """True when ``data`` is a JSON object or array."""
    if data is None:
        return False
    try:
        return isinstance(json.loads(data), (dict, list))
    except (ValueError, RecursionError):
        return False


def std_base64(text: str | bytes) -> bytes | None:
    """Strict standard base64 (:func:`b64.decode_std`) decoded, or None."""
    try:
        return b64.decode_std(text)
    except MalformedError:
        return None
