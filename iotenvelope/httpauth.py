"""HTTP body authentication headers (SPEC.md §9).

* ``salted-<alg>``: co2logserver's ``Content-<ALG>-Salted: hex(H(body ‖ secret))``. Legacy: a hash, not a MAC,
  and a verbatim replay passes.
* ``hmac-<alg>``: ``X-Iotenvelope-Hmac-<ALG>: hex(HMAC(secret, body))`` (recommended).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from .errors import AuthenticationError, MalformedError, UsageError

SALTED_ALGORITHMS = tuple(sorted(a for a in hashlib.algorithms_guaranteed if "_" not in a))
HMAC_ALGORITHMS = tuple(a for a in SALTED_ALGORITHMS if a != "md5")
_SALTED_HEADER = re.compile(r"content-(\w+)-salted", re.IGNORECASE)


@dataclass(frozen=True)
class Scheme:
    kind: str  # "salted" or "hmac"
    algorithm: str

    @classmethod
    def parse(cls, text: str) -> "Scheme":
        kind, _, alg = text.strip().lower().partition("-")
        if kind not in ("salted", "hmac") or not alg:
            raise UsageError(f"scheme {text!r}: expected salted-<alg> or hmac-<alg>")
        allowed = SALTED_ALGORITHMS if kind == "salted" else HMAC_ALGORITHMS
        if alg not in allowed:
            raise UsageError(f"scheme {text!r}: algorithm must be one of {', '.join(allowed)}")
        return cls(kind, alg)

    @property
    def default_header(self) -> str:
        if self.kind == "salted":
            return f"Content-{self.algorithm.upper()}-Salted"
        return f"X-Iotenvelope-Hmac-{self.algorithm.upper()}"

    def digest(self, body: bytes, secret: bytes) -> str:
        if self.kind == "salted":
            return hashlib.new(self.algorithm, body + secret).hexdigest()
        return hmac.new(secret, body, self.algorithm).hexdigest()


def _secret(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def sign(body: bytes, secret: str | bytes, scheme: str = "hmac-sha256", header: str | None = None) -> tuple[str, str]:
    """Return (header name, header value) authenticating ``body``."""
    s = Scheme.parse(scheme)
    name = header or s.default_header
    if s.kind == "salted" and header and not _SALTED_HEADER.fullmatch(header):
        raise UsageError(f"header {header!r}: co2logserver only reads headers named Content-<ALG>-Salted")
    return name, s.digest(body, _secret(secret))


def verify(body: bytes, secret: str | bytes, value: str, scheme: str = "hmac-sha256") -> None:
    """Check one header value in constant time; raises AuthenticationError on mismatch."""
    s = Scheme.parse(scheme)
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]+", value.strip()):
        raise MalformedError("auth header value is not hex")
    expected = s.digest(body, _secret(secret))
    if not hmac.compare_digest(expected.encode(), value.strip().lower().encode()):
        raise AuthenticationError(f"{s.kind}-{s.algorithm} header does not match the body")


def verify_headers(body: bytes, secret: str | bytes, headers: dict[str, str]) -> list[str]:
    """co2logserver's rule: at least one ``Content-<ALG>-Salted`` header and every one must match.

    Returns the algorithms checked; raises AuthenticationError otherwise.
    """
    checked = []
    for name, value in headers.items():
        m = _SALTED_HEADER.fullmatch(name.strip())
        if not m:
            continue
        alg = m.group(1).lower()
        if alg not in SALTED_ALGORITHMS:
            raise AuthenticationError(f"header {name}: unsupported algorithm {alg!r}")
        verify(body, secret, value, f"salted-{alg}")
        checked.append(alg)
    if not checked:
        raise AuthenticationError("no Content-<ALG>-Salted header present")
    return checked
