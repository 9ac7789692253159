"""LoRaWAN network servers: uplink webhooks carrying lean envelopes (SPEC.md §5.3), down commands pushed into
the network's downlink queue.

Uplinks (``POST``, JSON):

* ``/v1/lorawan/ttn``: The Things Stack v3 webhook "uplink message": the lean frame is
  ``uplink_message.frm_payload`` (base64), the device ``end_device_ids.device_id`` (application:
  ``end_device_ids.application_ids.application_id``). A message without ``uplink_message`` is ignored (204).
* ``/v1/lorawan/chirpstack?event=up``: ChirpStack v4 HTTP integration, JSON marshaler: the lean frame is
  ``data`` (base64), the device ``deviceInfo.devEui`` (application ``deviceInfo.applicationId``). Other events
  (``join``, ``ack``, ``txack``, ``status``, ...) are ignored (204).

The network's device id names the keyring entry, unless the device map says otherwise
(``{"ttn:<device_id>": "<keyring id>", "chirpstack:<devEui>": "<keyring id>"}``). The lean form does not
carry the device id: it is bound under the MAC, so a frame presented under another device's id fails as ``auth``.
Statuses and bodies are those of ``POST /v1/envelopes``.

Downlinks: a command queued for a device last heard through a network server is sealed in the lean form
(direction down, the device's durable down counter) inside the transaction that stores the device's next
uplink, and after that commit pushed to the network server's downlink API:

* The Things Stack: ``POST {push URL}`` (``/api/v3/as/applications/{application_id}/webhooks/{webhook_id}/
  devices/{device_id}/down/push``), ``Authorization: Bearer <API key>``, body
  ``{"downlinks": [{"f_port": N, "frm_payload": "<base64 frame>", "priority": "NORMAL"}]}``;
* ChirpStack v4 REST API: ``POST {queue URL}`` (``/api/devices/{dev_eui}/queue``),
  ``Grpc-Metadata-Authorization: Bearer <API token>``, body
  ``{"queueItem": {"confirmed": false, "fPort": N, "data": "<base64 frame>"}}``.

Delivery is at least once until the device acknowledges (an ``"ack"`` member in a JSON plaintext, as over
HTTP), with the frame sealed once: every push of a command carries the very same frame, and the device's down
replay window refuses a copy it already took, so a duplicate is harmless. On an accepted uplink, after its
commit, the device's due commands are pushed oldest first:

* a sealed command never pushed;
* a pushed, unacknowledged one whose last push is at least ``repush_after`` seconds old (default
  :data:`DEFAULT_REPUSH_AFTER`, one hour) and that has had fewer than ``max_pushes`` pushes in all (default
  :data:`DEFAULT_MAX_PUSHES`, 5, the first included).

The first failed push (no answer, or not 2xx) stops the loop: it and the rest wait for the next uplink, in
order; a failure does not count as a push. Why an hour: in Class A a frame pushed during uplink N goes out in
the receive windows after uplink N+1, and the device can acknowledge it in uplink N+2 at the earliest, so a
re-push on every uplink would queue a second copy of nearly every command. ``repush_after`` should be above
about three of the devices' uplink intervals (an hour suits devices sending every 20 minutes or more often).
A command that had its last push and is still unacknowledged stays in the table (listed as ``push-limit``,
counted in ``iotenvelope_lorawan_push_limit_reached_total``, logged as ``downlink-push-limit-reached``) and is
not pushed again, so a dead device does not fill the network server's queue; an ack still marks it delivered.
A device that never acknowledges (binary plaintexts) gets each command ``max_pushes`` times; 1 pushes once.
On these routes a command's ``sends`` counts the pushes the network server accepted and ``sent_at`` is the time
of the last one. Neither network server could run here: the tests post payloads in these shapes and check the
pushed requests on a local HTTP listener.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import parse_qs, quote

from ..envelope import lean, seal
from ..errors import IotEnvelopeError, MalformedError, StoreError, TransportError, UsageError
from ..primitives import b64
from . import contract, downlink, logs

NETWORKS = ("ttn", "chirpstack")
MAX_WEBHOOK_BYTES = 256 * 1024
DEFAULT_REPUSH_AFTER = downlink.LORAWAN_REPUSH_AFTER  # seconds; Class A: see the module docstring
DEFAULT_MAX_PUSHES = downlink.LORAWAN_MAX_PUSHES


@dataclass
class Push:
    """Where one network server's downlink API is: a URL template and its API key."""

    url: str            # with {application_id} and {device_id} (ttn) or {dev_eui} (chirpstack)
    api_key: str
    f_port: int = 10


def payload(network: str, frame: bytes, f_port: int) -> tuple[dict, dict]:
    """The (JSON body, auth header) a network server's downlink API takes for one frame."""
    data = base64.b64encode(frame).decode("ascii")
    if network == "ttn":
        return {"downlinks": [{"f_port": f_port, "frm_payload": data, "priority": "NORMAL"}]}, {}
    return {"queueItem": {"confirmed": False, "fPort": f_port, "data": data}}, {}


class Networks:
    def __init__(self, app, *, pushes: dict[str, Push] | None = None, device_map: dict[str, str] | None = None,
                 timeout: float = 10.0, repush_after: float = DEFAULT_REPUSH_AFTER,
                 max_pushes: int = DEFAULT_MAX_PUSHES):
        self.app = app
        self.pushes = dict(pushes or {})
        for name in self.pushes:
            if name not in NETWORKS:
                raise UsageError(f"unknown network {name!r}: use one of {', '.join(NETWORKS)}")
        self.device_map = dict(device_map or {})
        self.timeout = timeout
        self.repush_after = check_repush_after(repush_after)
        self.max_pushes = check_max_pushes(max_pushes)

    # -- routing of queued commands -------------------------------------------------------------------------
    def route_of(self, device: str) -> str:
        """'ttn' / 'chirpstack' for a device last heard through that network server, else 'http'."""
        with self.app.store().transaction() as tx:
            seen = self.app.tables.lorawan_of(tx, device)
        return seen[0] if seen else "http"

    # -- uplinks ----------------------------------------------------------------------------------------------
    def handle(self, name: str, environ):
        from .app import Refused
        if name not in NETWORKS:
            raise Refused(404, "not-found", "LoRaWAN webhooks: /v1/lorawan/ttn or /v1/lorawan/chirpstack")
        if self.app._content_type(environ) != "application/json":
            raise Refused(415, "unsupported-media-type", "network server webhooks are JSON (application/json)")
        body = self.app._body(environ, MAX_WEBHOOK_BYTES)
        try:
            msg = json.loads(body)
        except (ValueError, RecursionError):
            raise Refused(400, "malformed", "webhook body is not JSON") from None
        if not isinstance(msg, dict):
            raise Refused(400, "malformed", "webhook body is not a JSON object")
        if name == "ttn":
            ids, up = msg.get("end_device_ids"), msg.get("uplink_message")
            if up is None:
                return 204, b"", "text/plain", ()
            net_device = _text(ids, "device_id", "end_device_ids.device_id")
            application = _text(ids.get("application_ids") if isinstance(ids, dict) else None, "application_id",
                                "end_device_ids.application_ids.application_id")
            frame64 = up.get("frm_payload") if isinstance(up, dict) else None
        else:
            event = parse_qs(environ.get("QUERY_STRING", "")).get("event", ["up"])[-1]
            if event != "up":
                return 204, b"", "text/plain", ()
            info = msg.get("deviceInfo")
            net_device = _text(info, "devEui", "deviceInfo.devEui").lower()
            application = _text(info, "applicationId", "deviceInfo.applicationId")
            frame64 = msg.get("data")
        if frame64 is None:
            return 204, b"", "text/plain", ()  # an empty frame (e.g. a MAC-only uplink): nothing to open
        device = self.device_map.get(f"{name}:{net_device}", net_device)
        status, result = self._uplink(name, device, net_device, application, frame64, environ)
        return status, result, None, ()

    def _uplink(self, network, device, net_device, application, frame64, environ):
        app = self.app
        try:
            if not isinstance(frame64, str):
                raise MalformedError("the frame payload is not a base64 string")
            try:
                frame = base64.b64decode(frame64, validate=True)
            except (binascii.Error, ValueError):
                raise MalformedError("the frame payload is not valid base64") from None
            env = lean.decode(frame, "lean-raw")
            if env.type == "resync-request":
                raise MalformedError("resync over LoRaWAN is not served: send the request over HTTP")
            store, now = app.store(), app.clock()
            with store.transaction() as tx:
                opened, index, secret = app.keyring.open_lean(env, device=device, freshness=app.freshness,
                                                              now=int(now), replay=tx)
                rid = app.tables.insert_reading(tx, device=device, seq=opened.seq, ts=opened.ts, received_at=now,
                                                key_index=index, source=network, plaintext=opened.plaintext)
                app.tables.note_lorawan(tx, device=device, network=network, network_device=net_device,
                                        application=application, now=now)
                ack = downlink.parse_ack(opened.plaintext)
                if ack is not None:
                    app.tables.ack(tx, device, ack, now)
                for command_id, body, _seq, envelope in app.tables.pending_commands(tx, device, downlink.MAX_PER_RESPONSE,
                                                                                    network, self.max_pushes):
                    if envelope is None:
                        seq = tx.next_send_seq(device, "down")
                        text = seal(secret, bytes(body), device=device, seq=seq, ts=int(now), direction="down",
                                    format="lean")
                        app.tables.seal_only(tx, command_id, seq, text, now)
                to_push = app.tables.due_pushes(tx, device, network, now=now, repush_after=self.repush_after,
                                                max_pushes=self.max_pushes)
        except StoreError:
            raise
        except IotEnvelopeError as exc:
            status = contract.status_of(exc)
            app._refused(status, exc.code, str(exc), environ, device, False)
            return status, contract.refusal(exc.code, str(exc))
        app.metrics.add("accepted")
        pushed = self._push(network, device, net_device, application, to_push)
        return contract.STORED, {"ok": True, "kind": "reading", "device": device, "seq": opened.seq, "ts": opened.ts,
                                 "key": index, "id": rid, "network": network, "down_pushed": pushed}

    # -- downlinks --------------------------------------------------------------------------------------------
    def _push(self, network, device, net_device, application, items) -> int:
        """Hand each due frame (never pushed, or due again) to the network server, oldest first; count the ones
        it took. The first failure stops the loop: the rest waits for the device's next uplink, in order."""
        target = self.pushes.get(network)
        if target is None or not items:
            return 0
        url = target.url.format(application_id=quote(application, safe=""), device_id=quote(net_device, safe=""),
                                dev_eui=quote(net_device, safe=""))
        auth = ("Authorization" if network == "ttn" else "Grpc-Metadata-Authorization", f"Bearer {target.api_key}")
        done = repushed = 0
        for command_id, text, sends in items:
            body, _ = payload(network, b64.decode_url(text), target.f_port)
            req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", auth[0]: auth[1]})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - operator's URL
                    status = resp.status
                failure = None if 200 <= status < 300 else f"HTTP {status}"
            except (urllib.error.URLError, OSError) as exc:
                failure = type(exc).__name__
            if failure is not None:
                self.app.metrics.add("down_push_failed")
                logs.event("downlink-push-failed", device=device, network=network, id=command_id, error=failure)
                break  # keep the order: the rest waits for the next uplink
            with self.app.store().transaction() as tx:
                self.app.tables.count_resend(tx, command_id, self.app.clock())
            done += 1
            pushes = sends + 1
            if sends:
                repushed += 1
                logs.event("downlink-repushed", device=device, network=network, id=command_id, pushes=pushes)
            if pushes >= self.max_pushes:
                self.app.metrics.add("down_push_limit")
                logs.event("downlink-push-limit-reached", device=device, network=network, id=command_id,
                           pushes=pushes)
        self.app.metrics.add("down_sent", done)
        self.app.metrics.add("down_repushed", repushed)
        return done


def check_repush_after(value) -> float:
    """Seconds between pushes of one unacknowledged frame: a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise UsageError(f"--lorawan-repush-after must be a number of seconds >= 0, got {value!r}")
    return float(value)


def check_max_pushes(value) -> int:
    """Pushes of one frame in all (the first included): an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"--lorawan-max-pushes must be an integer >= 1 (1: push once, never again), got {value!r}")
    return value


def _text(obj, key: str, where: str) -> str:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, str) or not value:
        raise MalformedError(f"webhook has no {where}")
    return value


def load_device_map(path: str | None) -> dict[str, str]:
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise UsageError(f"LoRaWAN device map {path}: {exc.strerror}") from None
    except ValueError:
        raise UsageError(f"LoRaWAN device map {path}: not valid JSON") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise UsageError(f'LoRaWAN device map {path}: expected {{"ttn:<device_id>": "<keyring id>", ...}}')
    return data


__all__ = ["Networks", "Push", "payload", "load_device_map", "check_repush_after", "check_max_pushes",
           "DEFAULT_REPUSH_AFTER", "DEFAULT_MAX_PUSHES", "TransportError"]
