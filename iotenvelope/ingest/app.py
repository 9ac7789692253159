"""The ingest service as a WSGI application (the HTTP contract is in docs/ingest.md).

    from iotenvelope.ingest import make_app
    app = make_app(db="sqlite:///var/lib/iotenvelope/ingest.db", keyring="/etc/iotenvelope/keyring.json")

or, for gunicorn and other WSGI servers, ``iotenvelope.ingest.app:application``, configured from the
environment (``IOTENVELOPE_DB``, ``IOTENVELOPE_KEYRING``, optional ``IOTENVELOPE_API_TOKEN_FILE``).

Each worker process opens its own store connection on its first request (after any fork) and keeps it; a
thread-safe store lock serialises the threads of one process. Every accepted uplink is one store transaction:
replay-window update, the reading row, acknowledgements and the down commands sealed for the response.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import sqlite3
import threading
import time
from http import HTTPStatus
from typing import Callable, Iterable, Mapping
from urllib.parse import parse_qs, unquote

from ..envelope import Envelope, Freshness, check_device
from ..errors import (IotEnvelopeError, MalformedError, PaddingError, ReplayError, StoreError, TimestampError,
                      UsageError)
from ..primitives import httpauth
from ..replay import open_store, resync
from ..replay.window import DEFAULT_WINDOW
from . import contract, downlink, logs
from .keyring import Keyring
from .metrics import Metrics
from .tables import Tables

TEXT_CAP = 65536             # SPEC.md §5: longest envelope text (after one trailing newline is stripped)
BATCH_CAP = 16 * 1024 * 1024  # bytes of one ndjson body
BATCH_LINES = 10000
READINGS_LIMIT = 10000
LEGACY_TYPES = ("application/json", "text/csv", "application/x-www-form-urlencoded", "application/msgpack")


def _driver_errors() -> tuple:
    errors: list = [sqlite3.Error]
    try:
        import psycopg
        errors.append(psycopg.Error)
    except ImportError:
        pass
    return tuple(errors)


class Refused(Exception):
    """A service-level refusal (not an envelope error): status, code, message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _strip_newline(data: bytes) -> bytes:
    """SPEC.md §5: exactly one trailing LF or CRLF is removed, nothing else."""
    if data.endswith(b"\r\n"):
        return data[:-2]
    if data.endswith(b"\n"):
        return data[:-1]
    return data


def _plain(plaintext: bytes) -> dict:
    try:
        return {"plaintext": plaintext.decode("utf-8")}
    except UnicodeDecodeError:
        return {"plaintext_b64": base64.b64encode(plaintext).decode("ascii")}


def _trusted_device(error: IotEnvelopeError) -> bool:
    """Refusals that happen after the MAC verified: the envelope's device id is then authenticated."""
    return isinstance(error, (ReplayError, TimestampError, PaddingError))


_DB_ERRORS = _driver_errors()


class IngestApp:
    """The WSGI callable. ``db``: a ``sqlite:`` or ``postgresql:`` store URL; ``keyring``: a file path (reloaded
    on change) or a mapping; ``api_token``: the bearer token of the operator endpoints (readings, commands; they
    are refused without one); ``legacy_salts``: enables the co2logserver-compatible ``POST /upload``."""

    def __init__(self, *, db: str, keyring: str | Mapping | Keyring, api_token: str | None = None,
                 legacy_salts: Iterable[str] = (), window: int = DEFAULT_WINDOW,
                 freshness: Freshness | None = Freshness(), clock: Callable[[], float] = time.time,
                 lorawan_pushes: Mapping | None = None, lorawan_map: Mapping[str, str] | None = None,
                 lorawan_repush_after: float = downlink.LORAWAN_REPUSH_AFTER,
                 lorawan_max_pushes: int = downlink.LORAWAN_MAX_PUSHES):
        UsageError.check_type(db, str, "db", "a store URL")
        if db.partition(":")[0].lower() not in ("sqlite", "postgresql", "postgres"):
            raise UsageError("the ingest service stores readings in the same transaction as the replay state:"
                             " --db must be sqlite:///path or postgresql://... (memory:// forgets, Redis has no"
                             " transactions)")
        self.db_url = db
        self.window = window
        self.keyring = keyring if isinstance(keyring, Keyring) else Keyring(keyring)
        self.api_token = api_token.strip().encode() if api_token else None
        self.legacy_salts = tuple(legacy_salts)
        self.freshness = freshness
        self.clock = clock
        self.metrics = Metrics()
        self._store = None
        self._store_pid = None
        self._open_lock = threading.Lock()
        self.tables: Tables | None = None
        from .lorawan import Networks
        self.lorawan = Networks(self, pushes=lorawan_pushes, device_map=lorawan_map,
                                repush_after=lorawan_repush_after, max_pushes=lorawan_max_pushes)

    # -- the store, per process ---------------------------------------------------------------------------
    def store(self):
        if self._store is None or self._store_pid != os.getpid():
            with self._open_lock:
                if self._store is None or self._store_pid != os.getpid():
                    store = open_store(self.db_url, window=self.window)
                    if not getattr(store, "transactional", False):
                        store.close()
                        raise UsageError(f"the ingest service stores readings in the same transaction as the"
                                         f" replay state: {store.url} cannot (use sqlite:/// or postgresql://)")
                    tables = Tables(store.dialect)
                    with store.transaction() as tx:
                        tables.create(tx)
                    self._store, self._store_pid, self.tables = store, os.getpid(), tables
        return self._store

    def close(self) -> None:
        if self._store is not None and self._store_pid == os.getpid():
            self._store.close()
        self._store = None

    # -- WSGI -----------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            self.keyring.maybe_reload()
            status, body, ctype, headers = self._route(method, path, environ)
        except Refused as exc:
            self._refused(exc.status, exc.code, exc.message, environ)
            status, body, ctype, headers = exc.status, contract.refusal(exc.code, exc.message), None, ()
        except IotEnvelopeError as exc:  # store failures outside an envelope (readings, commands, healthz)
            status = contract.status_of(exc)
            self._refused(status, exc.code, str(exc), environ)
            body, ctype, headers = contract.refusal(exc.code, str(exc)), None, ()
        except _DB_ERRORS as exc:  # the database driver failed on one of the service's own statements
            message = f"database error ({type(exc).__name__}): nothing of this request was stored"
            status, body, ctype, headers = 503, contract.refusal("store", message), None, ()
            self._refused(503, "store", message, environ)
        except Exception as exc:  # noqa: BLE001 - a bug: answer in the contract's shape, log the type only
            status, body, ctype, headers = 500, contract.refusal("internal", "internal error"), None, ()
            self._refused(500, "internal", f"unexpected {type(exc).__name__}", environ)
        if ctype is None:
            payload = (json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
            ctype = "application/json"
        else:
            payload = body if isinstance(body, bytes) else body.encode("utf-8")
        phrase = HTTPStatus(status).phrase
        start_response(f"{status} {phrase}", [("Content-Type", ctype), ("Content-Length", str(len(payload))),
                                              *headers])
        return [payload]

    def _refused(self, status: int, code: str, message: str, environ, device: str | None = None,
                 authenticated: bool = False) -> None:
        self.metrics.refuse(code)
        logs.refusal(status=status, code=code, path=environ.get("PATH_INFO", ""), remote=environ.get("REMOTE_ADDR"),
                     message=message, device=device, authenticated=authenticated)

    def _route(self, method: str, path: str, environ):
        if path == "/v1/envelopes":
            self._method(method, "POST")
            return self._post_envelopes(environ)
        if path == "/v1/readings":
            self._method(method, "GET")
            self._operator(environ)
            return self._get_readings(environ)
        if path.startswith("/v1/devices/") and path.endswith("/commands"):
            device = unquote(path[len("/v1/devices/"):-len("/commands")])
            self._method(method, "POST", "GET")
            self._operator(environ)
            return self._commands(method, device, environ)
        if path == "/healthz":
            self._method(method, "GET")
            return self._healthz()
        if path == "/metrics":
            self._method(method, "GET")
            return 200, self.metrics.render({"iotenvelope_keyring_generation": self.keyring.generation}), \
                "text/plain; version=0.0.4; charset=utf-8", ()
        if path == "/upload" and self.legacy_salts:
            self._method(method, "POST")
            return self._legacy_upload(environ)
        if path.startswith("/v1/lorawan/"):
            self._method(method, "POST")
            return self.lorawan.handle(path[len("/v1/lorawan/"):], environ)
        raise Refused(404, "not-found", f"no such endpoint: {logs.untrusted(path, 80)!r}")

    @staticmethod
    def _method(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise Refused(405, "method-not-allowed", f"use {' or '.join(allowed)}")

    def _operator(self, environ) -> None:
        """Operator endpoints need ``Authorization: Bearer <api token>`` (compared in constant time)."""
        if self.api_token is None:
            raise Refused(403, "forbidden", "the operator API is disabled: start the service with an API token"
                                            " (serve --api-token-file FILE)")
        given = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode("utf-8", "replace"),
                                                                 self.api_token):
            raise Refused(403, "forbidden", "missing or wrong API token (Authorization: Bearer ...)")

    @staticmethod
    def _body(environ, cap: int) -> bytes:
        length = environ.get("CONTENT_LENGTH") or ""
        if length.strip():
            try:
                n = int(length)
            except ValueError:
                raise Refused(400, "malformed", "Content-Length is not a number") from None
            if n > cap:
                raise Refused(413, "too-large", f"body of {n} bytes; at most {cap} here")
            data = environ["wsgi.input"].read(n)
        else:
            data = environ["wsgi.input"].read(cap + 1)
        if len(data) > cap:
            raise Refused(413, "too-large", f"body longer than {cap} bytes")
        return data

    @staticmethod
    def _content_type(environ) -> str:
        return environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()

    # -- POST /v1/envelopes -----------------------------------------------------------------------------------
    def _post_envelopes(self, environ):
        ctype = self._content_type(environ)
        if ctype == "application/x-ndjson":
            return self._batch(self._body(environ, BATCH_CAP), environ)
        if ctype not in ("text/plain", "application/json", ""):
            raise Refused(415, "unsupported-media-type", "send text/plain (compact), application/json (JSON form)"
                                                         " or application/x-ndjson (a batch)")
        data = _strip_newline(self._body(environ, TEXT_CAP + 2))
        status, body = self._one(data, "json" if ctype == "application/json" else None, environ)
        return status, body, None, ()

    def _decode(self, data: bytes, fmt: str | None) -> tuple[str, Envelope]:
        if len(data) > TEXT_CAP:
            raise MalformedError(f"envelope text of {len(data)} bytes; at most {TEXT_CAP} (SPEC.md §5)")
        if data.endswith((b"\n", b"\r")):
            raise MalformedError("more than one trailing newline (SPEC.md §5 strips exactly one)")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("envelope is not UTF-8 text") from None
        return text, Envelope.decode(text, fmt)

    def _one(self, data: bytes, fmt: str | None, environ) -> tuple[int, dict]:
        env = None
        try:
            text, env = self._decode(data, fmt)
            if env.type == "resync-request":
                return contract.RESYNC, self._resync(text, env)
            return contract.STORED, self._accept([(text, env)], single=True)[0]
        except IotEnvelopeError as exc:
            status = contract.status_of(exc)
            self._refused(status, exc.code, str(exc), environ, env.device if env else None, _trusted_device(exc))
            extra = {"device": env.device, "seq": env.seq} if env is not None and _trusted_device(exc) else {}
            return status, contract.refusal(exc.code, str(exc), **extra)

    def _accept(self, items: list[tuple[str, Envelope]], source: str = "http", *,
                single: bool = False) -> list[dict | IotEnvelopeError]:
        """Open and store ``items`` in ONE transaction; one result per item (a dict, or the error raised for
        it). With ``single`` the one item's error is raised instead; a StoreError always is."""
        store = self.store()
        tables = self.tables
        now = self.clock()
        results: list = []
        last: dict[str, tuple[int, bytes, int | None]] = {}
        started = time.perf_counter()
        try:
            with store.transaction() as tx:
                # MAC, decryption and freshness one by one; then the window decides all of them in one pass
                # (tx.accept_many: in order, each exactly as if alone), then the rows
                candidates = []
                for text, env in items:
                    try:
                        if env.type == "resync-request":
                            results.append(self._resync(text, env, tx))
                            continue
                        opened, index, secret = self.keyring.open(env, freshness=self.freshness, now=int(now),
                                                                  replay=None)
                    except StoreError:
                        raise
                    except IotEnvelopeError as exc:
                        if single:
                            raise
                        results.append(exc)
                        continue
                    candidates.append((len(results), opened, index, secret))
                    results.append(None)
                verdicts = tx.accept_many([(o.device, o.direction, o.seq) for _, o, _, _ in candidates])
                for (i, opened, index, secret), err in zip(candidates, verdicts):
                    if err is not None:
                        if single:
                            raise err
                        results[i] = err
                        continue
                    rid = tables.insert_reading(tx, device=opened.device, seq=opened.seq, ts=opened.ts,
                                                received_at=now, key_index=index, source=source,
                                                plaintext=opened.plaintext)
                    ack = downlink.parse_ack(opened.plaintext)
                    prev = last.get(opened.device)
                    if prev is not None and prev[2] is not None and (ack is None or prev[2] > ack):
                        ack = prev[2]
                    last[opened.device] = (i, secret, ack)
                    results[i] = {"ok": True, "kind": "reading", "device": opened.device, "seq": opened.seq,
                                  "ts": opened.ts, "key": index, "id": rid}
                if source == "http":
                    for device, (i, secret, ack) in last.items():
                        results[i]["down"] = downlink.deliver(tables, tx, device=device, secret=secret, ack=ack,
                                                              now=now)
        finally:
            self.metrics.store_latency(time.perf_counter() - started)
        self.metrics.add("accepted", sum(1 for r in results if isinstance(r, dict) and r.get("kind") == "reading"))
        self.metrics.add("down_sent", sum(len(r.get("down", ())) for r in results if isinstance(r, dict)))
        return results

    def _resync(self, text: str, env: Envelope, tx=None) -> dict:
        """SPEC.md §8: MAC only (any of the device's secrets), then the answer under the secret that verified,
        with the store's up window, answer-rate bound and down counter in one transaction."""
        opened, index, secret = self.keyring.open(env, freshness=None, replay=None)
        now = int(self.clock())
        if tx is None:
            with self.store().transaction() as own:
                answer = resync.answer_request(secret, text, own, now=now)
        else:
            answer = resync.answer_request(secret, text, tx, now=now)
        self.metrics.add("resync_answered")
        return {"ok": True, "kind": "resync-response", "device": answer.device, "next_seq": answer.next_seq,
                "backend_time": answer.backend_time, "response": answer.text, "key": index}

    def _batch(self, body: bytes, environ):
        lines = [line[:-1] if line.endswith(b"\r") else line for line in body.split(b"\n")]
        lines = [line for line in lines if line.strip()]
        if len(lines) > BATCH_LINES:
            raise Refused(413, "too-large", f"{len(lines)} envelopes in one batch; at most {BATCH_LINES}")
        decoded: list = []
        for line in lines:
            try:
                decoded.append(self._decode(line, None))
            except IotEnvelopeError as exc:
                decoded.append(exc)
        items = [d for d in decoded if not isinstance(d, IotEnvelopeError)]
        try:
            opened = iter(self._accept(items)) if items else iter(())
        except StoreError as exc:
            self._refused(503, exc.code, str(exc), environ)
            return 503, contract.refusal(exc.code, str(exc)), None, ()
        out = []
        for d in decoded:
            result = d if isinstance(d, IotEnvelopeError) else next(opened)
            if isinstance(result, IotEnvelopeError):
                env = None if isinstance(d, IotEnvelopeError) else d[1]
                status = contract.status_of(result)
                trusted = env is not None and _trusted_device(result)
                self._refused(status, result.code, str(result), environ, env.device if env else None, trusted)
                row = contract.refusal(result.code, str(result), status=status,
                                       **({"device": env.device, "seq": env.seq} if trusted else {}))
            else:
                row = {**result, "status": contract.RESYNC if result["kind"] == "resync-response" else contract.STORED}
            out.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
        return contract.BATCH, "".join(line + "\n" for line in out), "application/x-ndjson", ()

    # -- operator endpoints ---------------------------------------------------------------------------------
    def _get_readings(self, environ):
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)

        def one(name, convert):
            values = query.get(name)
            if not values:
                return None
            try:
                return convert(values[-1])
            except (ValueError, IotEnvelopeError):
                raise Refused(400, "malformed", f"query parameter {name} is not valid") from None

        device = one("device", check_device)
        since = one("since", float)
        after = one("after", int)
        limit = one("limit", int)
        limit = 1000 if limit is None else limit
        if not 1 <= limit <= READINGS_LIMIT:
            raise Refused(400, "malformed", f"limit must be 1..{READINGS_LIMIT}")
        store = self.store()
        with store.transaction() as tx:
            rows = self.tables.readings(tx, device=device, since=since, after=after, limit=limit)
        out = [{"id": r[0], "device": r[1], "seq": r[2], "ts": r[3], "received_at": r[4], "key": r[5],
                "source": r[6], **_plain(bytes(r[7]))} for r in rows]
        return 200, out, None, ()

    def _commands(self, method: str, device: str, environ):
        try:
            check_device(device)
        except MalformedError as exc:
            raise Refused(400, "malformed", str(exc)) from None
        if device not in self.keyring:
            raise Refused(404, "unknown-device", f"no device {device!r} in the keyring")
        store = self.store()
        if method == "GET":
            with store.transaction() as tx:
                rows = self.tables.commands(tx, device, 100)
            return 200, [{"id": r[0], "created_at": r[1], "down_seq": r[2], "sent_at": r[3], "sends": r[4],
                          "acked_at": r[5], "route": r[6], "status": self._command_status(r)} for r in rows], None, ()
        body = self._body(environ, downlink.MAX_COMMAND_BYTES)
        route = self.lorawan.route_of(device)
        with store.transaction() as tx:
            cid = self.tables.queue_command(tx, device=device, plaintext=body, created_at=self.clock(), route=route)
        self.metrics.add("commands_queued")
        logs.event("command-queued", device=device, id=cid, bytes=len(body), route=route)
        return 201, {"ok": True, "id": cid, "device": device, "status": "queued", "route": route}, None, ()

    def _command_status(self, row) -> str:
        """queued / sent / acked; over LoRaWAN "push-limit" for an unacknowledged command that had all its pushes
        (``lorawan_max_pushes``) and is not pushed again."""
        _id, _created, down_seq, _sent_at, sends, acked_at, route = row
        if acked_at is not None:
            return "acked"
        if down_seq is None:
            return "queued"
        if route != "http" and sends >= self.lorawan.max_pushes:
            return "push-limit"
        return "sent"

    def _healthz(self):
        try:
            store = self.store()
            with store.transaction() as tx:
                tx.top("healthz", "up")
        except IotEnvelopeError as exc:
            return 503, {"ok": False, "code": exc.code, "message": str(exc)}, None, ()
        return 200, {"ok": True, "store": store.url, "devices": len(self.keyring.devices()),
                     "keyring_generation": self.keyring.generation}, None, ()

    # -- POST /upload (co2logserver-compatible, legacy) -----------------------------------------------------
    def _legacy_upload(self, environ):
        """co2logserver's upload rule: the exact Content-Type, Content-<ALG>-Salted headers (all must match one
        of the salts). It authenticates the body only: a recorded upload is accepted again and again. Bodies
        are stored as they came, in their own table, never as readings."""
        ctype = environ.get("CONTENT_TYPE", "")
        if ctype not in LEGACY_TYPES:
            raise Refused(400, "malformed", "Content-Type must be exactly one of " + ", ".join(LEGACY_TYPES))
        body = self._body(environ, 1024 * 1024)
        headers = [(k[5:].replace("_", "-").title(), v) for k, v in environ.items() if k.startswith("HTTP_")]
        try:
            httpauth.verify_headers(body, list(self.legacy_salts), headers)
        except IotEnvelopeError as exc:
            raise Refused(403, "forbidden", str(exc)) from None
        with self.store().transaction() as tx:
            uid = self.tables.insert_legacy(tx, received_at=self.clock(), content_type=ctype, body=body)
        self.metrics.add("legacy_uploads")
        return 200, {"ok": True, "kind": "legacy-upload", "id": uid, "authenticated": False, "replayable": True,
                     "warning": "unauthenticated-replayable: co2logserver salted hashes do not stop a replay"}, \
            None, (("X-Iotenvelope-Warning", "unauthenticated-replayable"),)


def make_app(*, db: str, keyring, api_token: str | None = None, legacy_salts: Iterable[str] = (),
             window: int = DEFAULT_WINDOW, freshness: Freshness | None = Freshness(),
             lorawan_pushes: Mapping | None = None, lorawan_map: Mapping[str, str] | None = None,
             lorawan_repush_after: float = downlink.LORAWAN_REPUSH_AFTER,
             lorawan_max_pushes: int = downlink.LORAWAN_MAX_PUSHES) -> IngestApp:
    """The ingest WSGI app; see :class:`IngestApp`. ``lorawan_pushes``: {"ttn" | "chirpstack":
    :class:`~iotenvelope.ingest.lorawan.Push`}; ``lorawan_map``: network device id -> keyring id;
    ``lorawan_repush_after`` (seconds) and ``lorawan_max_pushes``: when an unacknowledged pushed command is
    pushed again, and how many pushes it gets in all (:mod:`iotenvelope.ingest.lorawan`)."""
    return IngestApp(db=db, keyring=keyring, api_token=api_token, legacy_salts=legacy_salts, window=window,
                     freshness=freshness, lorawan_pushes=lorawan_pushes, lorawan_map=lorawan_map,
                     lorawan_repush_after=lorawan_repush_after, lorawan_max_pushes=lorawan_max_pushes)


def read_token(path: str | None) -> str | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            token = fh.read().strip()
    except OSError as exc:
        raise UsageError(f"API token file {path}: {exc.strerror}") from None
    if len(token) < 16:
        raise UsageError(f"API token file {path}: the token must be at least 16 characters")
    return token


class _FromEnvironment:
    """``iotenvelope.ingest.app:application``: the app configured from the environment on first use."""

    def __init__(self):
        self._app: IngestApp | None = None
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        if self._app is None:
            with self._lock:
                if self._app is None:
                    db, ring = os.environ.get("IOTENVELOPE_DB"), os.environ.get("IOTENVELOPE_KEYRING")
                    if not db or not ring:
                        raise UsageError("set IOTENVELOPE_DB and IOTENVELOPE_KEYRING for iotenvelope.ingest.app:application")
                    salts = [s for s in os.environ.get("IOTENVELOPE_LEGACY_SALTS", "").split(",") if s]
                    self._app = make_app(db=db, keyring=ring, api_token=read_token(os.environ.get(
                        "IOTENVELOPE_API_TOKEN_FILE")), legacy_salts=salts,
                        window=int(os.environ.get("IOTENVELOPE_WINDOW", DEFAULT_WINDOW)))
        return self._app(environ, start_response)


application = _FromEnvironment()
