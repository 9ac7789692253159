"""Upload readings to a co2logserver the way a device does: one ``POST /upload`` with salted-hash headers.

co2logserver (PyPI 0.1.2) rules, measured against the real server (``tests/test_co2logserver.py``):

* ``Content-Type`` must be exactly one of ``application/json``, ``text/csv``,
  ``application/x-www-form-urlencoded``, ``application/msgpack``. **No parameters**: ``application/json;
  charset=utf-8`` is answered with 400. (Many HTTP client libraries add a charset on their own; set the header
  yourself.)
* ``Content-<ALG>-Salted: hex(H_ALG(body ‖ salt))`` over the exact body bytes sent, for one or more
  ``ALG`` of md5, sha1, sha224, sha256, sha384, sha512, blake2b, blake2s. Every such header must match, at
  least one must be present, else 403. Compute the hash *after* the body is final (no re-serialisation, no
  added newline, no transfer re-encoding).
* The body is a table: JSON/msgpack ``{"column": [v1, v2, ...], ...}``, CSV with a header row, or a form with
  one ``column=value`` pair per value. A ``time`` column is read as Unix seconds (UTC).
* The salted hash is not a MAC over anything but the body and carries no time: a captured request can be
  replayed verbatim and is accepted. Prefer envelope v1 (or ``hmac-sha256`` headers with a timestamp column
  you check) for anything new.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterable, Mapping, Sequence

from ..primitives import httpauth
from ..errors import AuthenticationError, MalformedError, TransportError, UsageError

CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "form": "application/x-www-form-urlencoded",
    "msgpack": "application/msgpack",
}
_SCALARS = (str, int, float, bool, type(None))


def columns(readings: Mapping | Sequence[Mapping]) -> dict[str, list]:
    """Normalise readings to co2logserver's column table.

    Accepts one reading (``{"co2": 1223, "temp": 21.5}``), a column table (``{"co2": [1223, 1250]}``) or a
    list of readings (rows; a missing value becomes None).
    """
    if isinstance(readings, Mapping):
        rows = None
        if readings and all(isinstance(v, (list, tuple)) for v in readings.values()):
            table = {str(k): list(v) for k, v in readings.items()}
        else:
            rows = [readings]
    elif isinstance(readings, Sequence) and not isinstance(readings, (str, bytes)):
        rows = list(readings)
    else:
        raise MalformedError("readings must be a mapping or a list of mappings")
    if rows is not None:
        if not rows or not all(isinstance(r, Mapping) for r in rows):
            raise MalformedError("readings must be a non-empty list of mappings")
        names = list(dict.fromkeys(str(k) for r in rows for k in r))
        table = {name: [r.get(name) for r in rows] for name in names}
    if not table:
        raise MalformedError("no columns to upload")
    for name, values in table.items():
        if not name or not all(isinstance(v, _SCALARS) for v in values):
            raise MalformedError("column names must be non-empty and values numbers, text, booleans or null")
    return table


def _csv_cell(value) -> str:
    return "" if value is None else str(value)


def encode(readings: Mapping | Sequence[Mapping], fmt: str = "json") -> tuple[str, bytes]:
    """(Content-Type, body bytes) for ``fmt`` in json, csv, form, msgpack."""
    if fmt not in CONTENT_TYPES:
        raise UsageError(f"format {fmt!r}: expected one of {', '.join(CONTENT_TYPES)}")
    table = columns(readings)
    if fmt == "json":
        body = json.dumps(table, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    elif fmt == "msgpack":
        try:
            import msgpack
        except ImportError:
            raise UsageError("the msgpack format needs the msgpack package (pip install msgpack)") from None
        body = msgpack.packb(table, use_bin_type=True)
    elif fmt == "csv":
        if len({len(v) for v in table.values()}) != 1:
            raise MalformedError("CSV needs every column to have the same number of values")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table)
        writer.writerows(zip(*[[_csv_cell(v) for v in col] for col in table.values()]))
        body = out.getvalue().encode("utf-8")
    else:
        pairs = [(name, _csv_cell(v)) for name, col in table.items() for v in col]
        body = urllib.parse.urlencode(pairs).encode("ascii")
    return CONTENT_TYPES[fmt], body


def request_headers(body: bytes, content_type: str, salt: str | bytes,
                    algorithms: Iterable[str] = ("sha256",)) -> dict[str, str]:
    """The headers a device sends with ``body``: exact Content-Type plus one salted hash per algorithm."""
    if content_type not in CONTENT_TYPES.values():
        raise UsageError(f"Content-Type {content_type!r}: co2logserver accepts exactly "
                         f"{', '.join(CONTENT_TYPES.values())} (no '; charset=' parameter)")
    headers = {"Content-Type": content_type}
    algorithms = list(algorithms)
    if not algorithms:
        raise UsageError("at least one algorithm is needed (co2logserver refuses an upload without one)")
    for alg in algorithms:
        name, value = httpauth.sign(body, salt, f"salted-{alg}")
        headers[name] = value
    return headers


def upload(server: str, readings: Mapping | Sequence[Mapping], salt: str | bytes, *, fmt: str = "json",
           algorithms: Iterable[str] = ("sha256",), timeout: float = 10.0) -> dict:
    """POST ``readings`` to ``server`` (``http://host:port``; ``/upload`` is appended) and return the
    server's JSON reply (``{"saved-in-db": n}``).

    Raises AuthenticationError on 403, MalformedError on 400, TransportError on anything else.
    """
    content_type, body = encode(readings, fmt)
    headers = request_headers(body, content_type, salt, algorithms)
    url = server.rstrip("/") + "/upload"
    if not url.startswith(("http://", "https://")):
        raise UsageError("server must be an http:// or https:// URL")
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            reply = resp.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 403:
            raise AuthenticationError("co2logserver refused the salted checksum (HTTP 403)") from None
        if exc.code == 400:
            raise MalformedError("co2logserver could not use the body (HTTP 400)") from None
        raise TransportError(f"co2logserver answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        parts = urllib.parse.urlsplit(url)
        where = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
        raise TransportError(f"cannot reach {where}: {type(reason).__name__}") from None
    try:
        return json.loads(reply)
    except (ValueError, RecursionError):
        raise TransportError("co2logserver's reply is not JSON") from None
