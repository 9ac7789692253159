"""The exception hierarchy.

Every failure the library or the CLI reports is an :class:`IotEnvelopeError`. Each class carries the
SPEC.md error name (``code``) and the CLI exit code (``exit_code``). Messages describe what was wrong with the
input; they never contain key material or plaintext.
"""

from __future__ import annotations


_TYPE_WORDS = {str: "text", bytes: "bytes", bytearray: "bytes", memoryview: "bytes", int: "an integer"}

#: how many characters (or bytes) of an untrusted value a message shows
SHOWN = 40


def untrusted(value: object, limit: int = SHOWN) -> str:
    """How every message shows text an attacker may have chosen (JSON member names, device ids, profile input):
    quoted with :func:`repr` (so control characters and line breaks are escaped and cannot forge a log line)
    and cut to its first ``limit`` characters, with the full length said when it was cut, e.g.
    ``'aaaaaaaa...' (149000 characters)``. Never pass secrets or plaintext here: they belong in no message."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        unit = "bytes"
    elif isinstance(value, str):
        unit = "characters"
    else:
        text = repr(value)
        return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} {unit})"


class IotEnvelopeError(Exception):
    """Base class of every error raised by iotenvelope."""

    code = "error"
    exit_code = 10

    # -- argument type checks: ``KeyFormatError.check_type(key, (bytes, bytearray), "key")`` raises this class
    # with a message that names the parameter and the type received, never the value (it may be a secret).
    @classmethod
    def wrong_type(cls, name: str, value: object, expected: str) -> "IotEnvelopeError":
        """The error for parameter ``name`` holding ``value`` where ``expected`` (a phrase) was required."""
        return cls(f"{name} must be {expected}, got {type(value).__name__}")

    @classmethod
    def check_type(cls, value: object, types: type | tuple[type, ...], name: str, expected: str | None = None):
        """``value`` if it is an instance of ``types``; else raise :meth:`wrong_type` (``expected`` defaults
        to a phrase built from ``types``: bytes/bytearray/memoryview say "bytes", str says "text")."""
        if isinstance(value, types):
            return value
        if expected is None:
            words = [_TYPE_WORDS.get(t, t.__name__) for t in (types if isinstance(types, tuple) else (types,))]
            expected = " or ".join(dict.fromkeys(words))
        raise cls.wrong_type(name, value, expected)

    @classmethod
    def check_int(cls, value: object, name: str) -> int:
        """``value`` if it is an ``int`` (bool is refused: ``True`` as a size is a mistake), else raise."""
        if type(value) is int:
            return value
        raise cls.wrong_type(name, value, "an integer")


class MalformedError(IotEnvelopeError):
    """The input is not a valid encoding (bad base64/JSON, wrong lengths, bad field values)."""

    code = "malformed"
    exit_code = 3


class UnsupportedVersionError(MalformedError):
    """The envelope carries a version this implementation does not speak."""

    code = "unsupported-version"


class PaddingError(MalformedError):
    """Decrypted data does not end in valid padding."""

    code = "padding"


class KeyFormatError(IotEnvelopeError):
    """A key, passphrase, IV or secret is missing, badly encoded or of an illegal length."""

    code = "bad-key"
    exit_code = 4


class UnknownDeviceError(KeyFormatError):
    """No secret is known for the device id named in the envelope."""

    code = "unknown-device"


class AuthenticationError(IotEnvelopeError):
    """The authentication tag does not match: wrong key, or the message was altered."""

    code = "auth"
    exit_code = 5


class DirectionError(AuthenticationError):
    """The envelope travels the other way (a reflected message)."""

    code = "wrong-direction"


class ReplayError(IotEnvelopeError):
    """The sequence number was already accepted or is behind the replay window."""

    code = "replay"
    exit_code = 6


class DuplicateError(ReplayError):
    code = "replay-duplicate"


class TooOldError(ReplayError):
    code = "replay-too-old"


class RateLimitError(ReplayError):
    """A backend refused to answer another resync request from this device so soon (SPEC.md §8)."""

    code = "rate-limited"


class TimestampError(IotEnvelopeError):
    """The envelope's timestamp fails the receiver's freshness policy."""

    code = "timestamp"
    exit_code = 7


class StaleError(TimestampError):
    code = "stale"


class FutureError(TimestampError):
    code = "future"


class TimeUnknownError(TimestampError):
    code = "time-unknown"


class StoreError(IotEnvelopeError):
    """The replay-state store could not be opened or updated."""

    code = "store"
    exit_code = 8


class TransportError(IotEnvelopeError):
    """A network peer could not be reached or answered with an unexpected HTTP status."""

    code = "transport"
    exit_code = 10


class UsageError(IotEnvelopeError):
    """An option or argument combination that cannot work (CLI exit code 2)."""

    code = "usage"
    exit_code = 2


__all__ = [name for name, value in dict(globals()).items() if isinstance(value, type) and issubclass(value, Exception)]
