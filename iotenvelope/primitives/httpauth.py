"""HTTP body authentication headers (SPEC.md §9).

* ``salted-<alg>``: co2logserver's ``Content-<ALG>-Salted: hex(H(body ‖ secret))``. Legacy: a hash, not a MAC,
  and a verbatim replay passes.
* ``hmac-<alg>``: ``X-Iotenvelope-Hmac-<ALG>: hex(HMAC(secret, body))`` (recommended).

:func:`verify_headers` applies co2logserver 0.1.2's acceptance rule to a set of request headers, as measured
against the real server (``tests/test_co2logserver.py``):

* a header counts when its name matches ``Content-<ALG>-Salted`` (any case), ``ALG`` is a hashlib-guaranteed
  algorithm and the value is exactly that digest's length in hex (any case); other headers are ignored, they
  do not fail the request. Names with an underscore (``sha3_256``, ``shake_128``) never reach the server: its
  HTTP layer (werkzeug) drops such headers, so they are ignored here too. Two headers of the same name
  arrive joined with ", " and so are ignored as well;
* at least one header must count, and every header that counts must match under one of the salts; else the
  server answers 403;
* an empty salt never authenticates (the server treats the matched salt as a truth value).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Iterable, Mapping, Sequence

from ..errors import AuthenticationError, KeyFormatError, MalformedError, UsageError
from ..records import REQUIRED, Frozen

SALTED_ALGORITHMS = tuple(sorted(a for a in hashlib.algorithms_guaranteed if "_" not in a))
HMAC_ALGORITHMS = tuple(a for a in SALTED_ALGORITHMS if a != "md5")
_SALTED_HEADER = re.compile(r"content-(\w+)-salted", re.IGNORECASE)
_HMAC_HEADER = re.compile(r"x-iotenvelope-hmac-(\w+)", re.IGNORECASE)
_HEX = re.compile(r"[0-9a-fA-F]+")


class Scheme(Frozen):
    FIELDS = (("kind", REQUIRED), ("algorithm", REQUIRED))
    kind: str  # "salted" or "hmac"
    algorithm: str

    @classmethod
    def parse(cls, text: str) -> "Scheme":
        UsageError.check_type(text, str, "scheme", "text such as 'hmac-sha256'")
        kind, _, alg = text.strip().lower().partition("-")
        if kind not in ("salted", "hmac") or not alg:
            raise UsageError(f"scheme {text!r}: expected salted-<alg> or hmac-<alg>")
        allowed = SALTED_ALGORITHMS if kind == "salted" else HMAC_ALGORITHMS
        if alg not in allowed:
            raise UsageError(f"scheme {text!r}: algorithm must be one of {', '.join(allowed)}")
        return cls(kind, alg)

    @classmethod
    def from_header_name(cls, name: str) -> "Scheme | None":
        """The scheme a header name implies (``Content-SHA256-Salted`` → salted-sha256), or None when the name
        is not one of ours or names an algorithm outside the usable set."""
        for kind, pattern, allowed in (("salted", _SALTED_HEADER, SALTED_ALGORITHMS),
                                       ("hmac", _HMAC_HEADER, HMAC_ALGORITHMS)):
            m = pattern.fullmatch(name.strip())
            if m and m.group(1).lower() in allowed:
                return cls(kind, m.group(1).lower())
        return None

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.algorithm}"

    @property
    def default_header(self) -> str:
        if self.kind == "salted":
            return f"Content-{self.algorithm.upper()}-Salted"
        return f"X-Iotenvelope-Hmac-{self.algorithm.upper()}"

    @property
    def hex_length(self) -> int:
        return hashlib.new(self.algorithm).digest_size * 2

    def digest(self, body: bytes, secret: bytes) -> str:
        if self.kind == "salted":
            return hashlib.new(self.algorithm, body + secret).hexdigest()
        return hmac.new(secret, body, self.algorithm).hexdigest()


def _secret(secret: str | bytes) -> bytes:
    if not isinstance(secret, (str, bytes, bytearray, memoryview)):  # bytes(5) would be five NUL bytes
        raise KeyFormatError(f"the secret / salt must be text or bytes, got {type(secret).__name__}")
    try:
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    except UnicodeEncodeError:
        raise KeyFormatError("the secret / salt is not valid UTF-8 text (lone surrogate)") from None
    if not raw:
        raise UsageError("the secret / salt is empty (co2logserver never accepts an empty salt)")
    return raw


def _secrets(secret: str | bytes | Iterable[str | bytes]) -> list[bytes]:
    if isinstance(secret, (str, bytes, bytearray, memoryview)):
        items = [secret]
    elif isinstance(secret, Iterable):
        items = list(secret)
    else:
        raise KeyFormatError(f"the secret / salt must be text, bytes or a list of them, got {type(secret).__name__}")
    if not items:
        raise UsageError("no secret / salt given")
    return [_secret(s) for s in items]


def _body(body: bytes) -> bytes:
    if isinstance(body, str):
        raise UsageError("the body must be bytes (encode it exactly as it is sent)")
    if not isinstance(body, (bytes, bytearray, memoryview)):  # bytes(5) would be five NUL bytes
        raise UsageError(f"the body must be bytes, got {type(body).__name__}")
    return bytes(body)


def _header_pairs(headers: object, name: str) -> list[tuple[str, str]]:
    """``headers`` as a list of (name, value) text pairs: a mapping, or a list/tuple of pairs (UsageError)."""
    if isinstance(headers, Mapping):
        items = list(headers.items())
    else:
        items = list(UsageError.check_type(headers, (list, tuple), name, "a mapping or a list of (name, value) pairs"))
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
            raise UsageError(f"{name} must hold (name, value) pairs with a text name, got a {type(item).__name__}")
    return items


def sign(body: bytes, secret: str | bytes, scheme: str = "hmac-sha256", header: str | None = None) -> tuple[str, str]:
    """Return (header name, header value) authenticating ``body``."""
    s = Scheme.parse(scheme)
    if header is not None:
        UsageError.check_type(header, str, "header", "a header name (text) or None")
    name = header or s.default_header
    if header:
        implied = Scheme.from_header_name(header) if "_" not in header else None
        if s.kind == "salted" and implied != s:
            raise UsageError(f"header {header!r}: co2logserver reads the algorithm from the header name; a "
                             f"{s.name} value needs a header named Content-{s.algorithm.upper()}-Salted")
        if s.kind == "hmac" and implied is not None and implied != s:
            raise UsageError(f"header {header!r} names another scheme than {s.name}")
    return name, s.digest(_body(body), _secret(secret))


def verify(body: bytes, secret: str | bytes | Iterable[str | bytes], value: str, scheme: str = "hmac-sha256") -> None:
    """Check one header value (constant-time compare against each secret); raises AuthenticationError.

    The value must be exactly the digest's length in hex, upper or lower case (as co2logserver requires).
    """
    s = Scheme.parse(scheme)
    secrets = _secrets(secret)
    value = MalformedError.check_type(value, str, "auth header value", "text").strip()
    if not _HEX.fullmatch(value) or len(value) != s.hex_length:
        raise MalformedError(f"auth header value is not a {s.hex_length}-digit hex {s.algorithm} digest")
    body = _body(body)
    given = value.lower().encode("ascii")
    matched = False
    for key in secrets:  # every secret is tried, so the time taken does not reveal which one matched
        matched |= hmac.compare_digest(s.digest(body, key).encode("ascii"), given)
    if not matched:
        raise AuthenticationError(f"{s.name} header does not match the body")


def verify_headers(body: bytes, secret: str | bytes | Iterable[str | bytes],
                   headers: Mapping[str, str] | Sequence[tuple[str, str]]) -> list[str]:
    """co2logserver's upload rule (see the module docstring) over request headers; ``secret`` may be a list
    of salts, like the server's ``CO2LOGSERVER_CHECKSUM_SALTS``.

    Returns the algorithms that were checked (all matched); raises AuthenticationError otherwise.
    """
    _body(body)
    _secrets(secret)
    items = _header_pairs(headers, "headers")
    joined: dict[str, list[str]] = {}
    for name, value in items:
        if "_" in name:
            continue  # dropped by the server's HTTP layer before co2logserver sees it
        joined.setdefault(name.strip().lower(), []).append(str(value).strip())
    candidates: dict[str, str] = {}
    for name, values in joined.items():
        m = _SALTED_HEADER.fullmatch(name)
        if not m or m.group(1).lower() not in SALTED_ALGORITHMS:
            continue
        value = ", ".join(values)
        scheme = Scheme("salted", m.group(1).lower())
        if _HEX.fullmatch(value) and len(value) == scheme.hex_length:
            candidates[scheme.algorithm] = value
    if not candidates:
        raise AuthenticationError("no usable Content-<ALG>-Salted header (co2logserver answers 403)")
    for alg, value in candidates.items():
        verify(body, secret, value, f"salted-{alg}")
    return sorted(candidates)


def verify_lines(body: bytes, secret: str | bytes | Iterable[str | bytes], lines: Sequence[str],
                 scheme: str | None = None) -> list[str]:
    """``iotenvelope auth verify``: each line is ``Name: value`` or a bare value (which needs ``scheme``).

    Named salted headers (and any other named header, which co2logserver ignores) are judged together by
    :func:`verify_headers`; named HMAC headers and bare values each have to match. Returns the schemes checked.
    """
    if lines is None:  # the CLI passes None when no --header was given
        raise UsageError("no header to verify (lines is None)")
    if not UsageError.check_type(lines, (list, tuple), "lines", "a list of header lines"):
        raise UsageError("no header to verify")
    for line in lines:
        UsageError.check_type(line, str, "each of lines", "text")
    _body(body)
    _secrets(secret)
    given = Scheme.parse(scheme) if scheme is not None and scheme != "" else None
    named, bare = [], []
    for line in lines:
        if ":" in line:
            name, value = line.split(":", 1)
            named.append((name.strip(), value.strip()))
        else:
            bare.append(line.strip())
    checked = []
    if bare:
        if given is None:
            raise UsageError("a header value without its name needs --scheme")
        for value in bare:
            verify(body, secret, value, given.name)
            checked.append(given.name)
    salted = []
    for name, value in named:
        implied = Scheme.from_header_name(name) if "_" not in name else None
        if given is not None and implied is not None and implied != given:
            raise UsageError(f"header {name!r} implies {implied.name}, not --scheme {given.name}")
        if implied is not None and implied.kind == "hmac":
            verify(body, secret, value, implied.name)
            checked.append(implied.name)
        else:
            salted.append((name, value))
    if salted:
        checked += [f"salted-{alg}" for alg in verify_headers(body, secret, salted)]
    return checked
