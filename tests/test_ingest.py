"""The ingest service's HTTP contract (docs/ingest.md), in process through its WSGI callable: every status and
code, stored readings, batches, readings API, keyring rotation and reload, downlink commands with a device on
the Python library, resync with its answer-rate bound, the legacy /upload, logs and metrics."""

from __future__ import annotations

import io
import json
import logging
import os
import sqlite3
import struct
import time

import pytest

import iotenvelope
from iotenvelope import Envelope
from iotenvelope.ingest import make_app
from iotenvelope.ingest.app import IngestApp
from iotenvelope.primitives import cipher, httpauth, kdf, mac
from iotenvelope.replay import resync
from pg_support import pg_server  # noqa: F401 (fixture)

K1 = bytes(range(16))
K2 = bytes(range(1, 17))
K_OLD = bytes(range(2, 18))
TOKEN = "t0ken-for-the-operator-api-0123456789"
NOW = int(time.time())


class Client:
    def __init__(self, app: IngestApp):
        self.app = app
        app.clock = lambda: NOW  # the service's clock pinned: timestamps relative to NOW stay fresh or stale

    def call(self, method, path, body=b"", ctype=None, headers=(), query=""):
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                   "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": "192.0.2.7"}
        if ctype is not None:
            environ["CONTENT_TYPE"] = ctype
        for name, value in headers:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        got = {}

        def start_response(status, hdrs):
            got["status"], got["headers"] = status, dict(hdrs)

        data = b"".join(self.app(environ, start_response))
        code = int(got["status"].split()[0])
        assert got["headers"]["Content-Length"] == str(len(data))
        return code, got["headers"], data

    def post(self, text, ctype="text/plain"):
        code, headers, data = self.call("POST", "/v1/envelopes", text.encode() if isinstance(text, str) else text,
                                        ctype)
        return code, json.loads(data)

    def operator(self, method, path, body=b"", query=""):
        code, _, data = self.call(method, path, body, headers=[("Authorization", f"Bearer {TOKEN}")], query=query)
        return code, json.loads(data)


@pytest.fixture
def ring_file(tmp_path):
    path = tmp_path / "keyring.json"
    path.write_text(json.dumps({"s1": K1.hex(), "s2": [K2.hex(), K_OLD.hex()]}))
    return path


_pg_dbs = [0]


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request, tmp_path, ring_file):
    """The service on each database: the contract must not depend on which one."""
    if request.param == "sqlite":
        db = f"sqlite://{tmp_path}/ingest.db"
    else:
        _pg_dbs[0] += 1
        db = request.getfixturevalue("pg_server").database(f"ingest{_pg_dbs[0]}")
    app = make_app(db=db, keyring=str(ring_file), api_token=TOKEN)
    app.keyring.check_interval = 0
    yield Client(app)
    app.close()


def up(seq, key=K1, device="s1", body=b'{"co2": 1223}', ts=None, **kw):
    return iotenvelope.seal(key, body, device=device, seq=seq, ts=NOW if ts is None else ts, **kw)


# -- stored -----------------------------------------------------------------------------------------------
def test_single_envelope_stored_then_duplicate_is_409(client):
    code, body = client.post(up(1) + "\n")  # the one trailing newline `seal` prints is stripped
    assert code == 201
    assert body == {"ok": True, "kind": "reading", "device": "s1", "seq": 1, "ts": NOW, "key": 0, "id": 1, "down": []}
    code, body = client.post(up(1))
    assert code == 409 and body["ok"] is False and body["code"] == "replay-duplicate"
    assert body["device"] == "s1" and body["seq"] == 1  # authenticated: the MAC verified
    code, rows = client.operator("GET", "/v1/readings", query="device=s1")
    assert code == 200 and len(rows) == 1
    assert rows[0]["plaintext"] == '{"co2": 1223}' and rows[0]["seq"] == 1 and rows[0]["ts"] == NOW


def test_json_form_and_crlf(client):
    code, body = client.post(up(2, format="json") + "\r\n", "application/json")
    assert code == 201 and body["seq"] == 2
    code, body = client.post(up(3) + "\n\n")
    assert code == 400 and body["code"] == "malformed"


def _padding_envelope() -> str:
    """An envelope whose MAC is valid but whose decrypted last block is not PKCS#7 (a broken sender)."""
    k_enc, k_mac = kdf.envelope_keys(K1)
    iv = bytes(16)
    ct = cipher.encrypt_raw(k_enc, iv, b"A" * 15 + b"\x00")
    dev = b"s1"
    mac_input = bytes((1, 1, 0, len(dev))) + dev + struct.pack(">II", 9, NOW) + iv + ct
    return Envelope._trusted(mac_input, "up", "data", "s1", 9, NOW, iv, ct, mac.tag(k_mac, mac_input)).to_compact()


def _version2() -> str:
    from iotenvelope.primitives import b64
    raw = bytearray(b64.decode_url(up(1)))
    raw[0] = 2
    return b64.encode_url(bytes(raw))


REFUSALS = [
    ("garbage", lambda: "not an envelope", 400, "malformed"),
    ("version", _version2, 400, "unsupported-version"),
    ("padding", _padding_envelope, 400, "padding"),
    ("auth", lambda: up(1, key=K2), 401, "auth"),
    ("direction", lambda: up(1, direction="down"), 401, "wrong-direction"),
    ("unknown", lambda: up(1, device="nobody"), 401, "unknown-device"),
    ("stale", lambda: up(1, ts=NOW - 86400 - 400), 422, "stale"),
    ("future", lambda: up(1, ts=NOW + 400), 422, "future"),
]


@pytest.mark.parametrize("name,make,status,code", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_every_envelope_refusal_has_its_status_and_code(client, name, make, status, code, caplog):
    with caplog.at_level(logging.WARNING, logger="iotenvelope.ingest"):
        got, body = client.post(make())
    assert (got, body["ok"], body["code"]) == (status, False, code)
    assert isinstance(body["message"], str) and body["message"]
    lines = [json.loads(r.getMessage()) for r in caplog.records]
    assert len(lines) == 1 and lines[0]["event"] == "refused"
    assert (lines[0]["status"], lines[0]["code"], lines[0]["remote"]) == (status, code, "192.0.2.7")
    assert client.app.metrics.refused == {code: 1}
    _, rows = client.operator("GET", "/v1/readings")
    assert rows == []


def test_too_old_and_time_unknown(tmp_path, ring_file):
    app = make_app(db=f"sqlite://{tmp_path}/w.db", keyring=str(ring_file),
                   freshness=iotenvelope.Freshness(allow_unknown_time=False))
    c = Client(app)
    assert c.post(up(100))[0] == 201
    assert c.post(up(30)) == (409, {"ok": False, "code": "replay-too-old", "message": c.post(up(30))[1]["message"],
                                    "device": "s1", "seq": 30})
    code, body = c.post(up(101, ts=0))
    assert (code, body["code"]) == (422, "time-unknown")


def test_store_failure_is_503_and_nothing_is_stored(tmp_path, ring_file):
    db = tmp_path / "locked.db"
    app = make_app(db=f"sqlite://{db}?timeout=0.2", keyring=str(ring_file))
    c = Client(app)
    assert c.post(up(1))[0] == 201
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        code, body = c.post(up(2))
        assert (code, body["code"]) == (503, "store")
        assert c.call("GET", "/healthz")[0] == 503
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert c.post(up(2))[0] == 201  # the retry after the outage is accepted: nothing was half-stored
    assert c.call("GET", "/healthz")[0] == 200


def test_service_refusals(client):
    assert client.call("GET", "/v1/envelopes")[0] == 405
    assert client.call("POST", "/v1/envelopes", up(1).encode(), "application/x-www-form-urlencoded")[0] == 415
    code, _, data = client.call("POST", "/v1/envelopes", b"A" * 70000, "text/plain")
    assert code == 413 and json.loads(data)["code"] == "too-large"
    assert client.call("GET", "/nope")[0] == 404
    assert client.call("POST", "/upload", b"{}", "application/json")[0] == 404  # legacy upload is off by default
    for headers in ([], [("Authorization", "Bearer wrong")], [("Authorization", TOKEN)]):
        code, _, data = client.call("GET", "/v1/readings", headers=headers)
        assert (code, json.loads(data)["code"]) == (403, "forbidden")
    code, body = client.operator("POST", "/v1/devices/nobody/commands", b"x")
    assert (code, body["code"]) == (404, "unknown-device")
    code, body = client.operator("GET", "/v1/readings", query="limit=0")
    assert code == 400
    no_token = Client(make_app(db=client.app.db_url, keyring=client.app.keyring))
    code, _, data = no_token.call("GET", "/v1/readings", headers=[("Authorization", "Bearer ")])
    assert code == 403 and "disabled" in json.loads(data)["message"]


# -- batch ------------------------------------------------------------------------------------------------
def test_ndjson_batch_one_result_per_line(client):
    lines = [up(1), up(2), up(1), "garbage", up(5, key=K2), up(1, device="s2", key=K2), up(2, format="json")]
    code, headers, data = client.call("POST", "/v1/envelopes", ("\n".join(lines) + "\n").encode(),
                                      "application/x-ndjson")
    assert code == 200 and headers["Content-Type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in data.decode().splitlines()]
    assert [(r.get("status"), r.get("code"), r.get("seq")) for r in rows] == [
        (201, None, 1), (201, None, 2), (409, "replay-duplicate", 1), (400, "malformed", None), (401, "auth", None),
        (201, None, 1), (409, "replay-duplicate", 2)]
    assert rows[1]["down"] == [] and "down" not in rows[0]  # downs ride on the device's last accepted line
    _, stored = client.operator("GET", "/v1/readings")
    assert [(r["device"], r["seq"]) for r in stored] == [("s1", 1), ("s1", 2), ("s2", 1)]
    code, _, data = client.call("POST", "/v1/envelopes", up(1).encode(), "application/x-ndjson")  # one line
    assert code == 200 and json.loads(data)["code"] == "replay-duplicate" and json.loads(data)["status"] == 409


# -- readings API -----------------------------------------------------------------------------------------
def test_readings_binary_since_after_limit(client):
    client.post(up(1, body=b"\xff\x00binary"))
    client.post(up(2, body="température".encode()))
    code, rows = client.operator("GET", "/v1/readings", query="device=s1")
    assert rows[0]["plaintext_b64"] == "/wBiaW5hcnk=" and "plaintext" not in rows[0]
    assert rows[1]["plaintext"] == "température"
    assert set(rows[0]) == {"id", "device", "seq", "ts", "received_at", "key", "source", "plaintext_b64"}
    _, after = client.operator("GET", "/v1/readings", query=f"after={rows[0]['id']}")
    assert [r["seq"] for r in after] == [2]
    _, limited = client.operator("GET", "/v1/readings", query="limit=1")
    assert [r["seq"] for r in limited] == [1]
    _, later = client.operator("GET", "/v1/readings", query=f"since={rows[1]['received_at'] + 1}")
    assert later == []
    _, other = client.operator("GET", "/v1/readings", query="device=s2")
    assert other == []


# -- keyring rotation and reload --------------------------------------------------------------------------
def test_rotation_result_says_which_key_opened(client):
    assert client.post(up(1, key=K2, device="s2"))[1]["key"] == 0
    assert client.post(up(2, key=K_OLD, device="s2"))[1]["key"] == 1
    code, body = client.post(up(3, key=K1, device="s2"))
    assert (code, body["code"]) == (401, "auth")
    _, rows = client.operator("GET", "/v1/readings", query="device=s2")
    assert [r["key"] for r in rows] == [0, 1]


def test_keyring_reload_on_file_change_and_bad_file_keeps_old_keys(client, ring_file):
    assert client.post(up(1, key=K2, device="s3"))[1]["code"] == "unknown-device"
    ring_file.write_text(json.dumps({"s1": K1.hex(), "s3": K2.hex()}))
    os.utime(ring_file, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert client.post(up(1, key=K2, device="s3"))[0] == 201
    assert client.post(up(1, key=K2, device="s2"))[1]["code"] == "unknown-device"  # s2 was removed
    generation = client.app.keyring.generation
    ring_file.write_text('{"s1": "not hex"')  # half-written file: refused, the previous keys stay
    os.utime(ring_file, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert client.post(up(2, key=K2, device="s3"))[0] == 201
    assert client.app.keyring.generation == generation
    ring_file.write_text(json.dumps({"s1": [], "s3": K2.hex()}))
    assert client.app.keyring.reload() is False


# -- downlink commands ------------------------------------------------------------------------------------
class PythonDevice:
    """A device written on the Python library: seals up, opens downs with its own down replay window, acks."""

    def __init__(self, client, device, key):
        self.client, self.device, self.key = client, device, key
        self.seq = 0
        self.window = iotenvelope.open_store("memory://")
        self.executed: list[bytes] = []
        self.refused: list[str] = []
        self.ack = None

    def uplink(self, reading: dict):
        self.seq += 1
        body = dict(reading, **({"ack": self.ack} if self.ack is not None else {}))
        code, result = self.client.post(iotenvelope.seal(self.key, json.dumps(body), device=self.device,
                                                         seq=self.seq, ts=NOW))  # the service's pinned clock
        assert code == 201, result
        return result

    def handle(self, downs):
        for text in downs:
            try:
                msg = iotenvelope.open(self.key, text, direction="down", replay=self.window)
            except iotenvelope.IotEnvelopeError as exc:
                self.refused.append(exc.code)
                continue
            self.executed.append(msg.plaintext)
            self.ack = msg.seq if self.ack is None else max(self.ack, msg.seq)


def test_downlink_round_trip_with_a_lost_response_and_acknowledgement(client):
    dev = PythonDevice(client, "s1", K1)
    other = PythonDevice(client, "s2", K2)
    assert dev.uplink({"co2": 1})["down"] == []
    code, queued = client.operator("POST", "/v1/devices/s1/commands", b'{"cmd": "unlock"}')
    assert code == 201 and queued["status"] == "queued"
    assert other.uplink({"co2": 9})["down"] == []  # a command never goes to another device
    lost = dev.uplink({"co2": 2})["down"]  # this response is "lost": the device never sees it
    assert len(lost) == 1
    again = dev.uplink({"co2": 3})["down"]
    assert again == lost  # re-sent verbatim (same down seq: never re-sealed)
    dev.handle(again)
    dev.handle(again)  # a repeat is refused by the device's window: executed once
    assert dev.executed == [b'{"cmd": "unlock"}'] and dev.refused == ["replay-duplicate"]
    _, cmds = client.operator("GET", "/v1/devices/s1/commands")
    assert cmds[0]["status"] == "sent" and cmds[0]["sends"] == 2 and cmds[0]["down_seq"] == 0
    assert dev.uplink({"co2": 4})["down"] == []  # the ack rode in this uplink's authenticated plaintext
    _, cmds = client.operator("GET", "/v1/devices/s1/commands")
    assert cmds[0]["status"] == "acked"
    # a reflected command (sent back up) and the other device opening it both fail
    code, body = client.post(lost[0])
    assert (code, body["code"]) == (401, "wrong-direction")
    with pytest.raises(iotenvelope.AuthenticationError):
        iotenvelope.open(K2, lost[0], direction="down")


def test_downlink_order_and_down_seq_shared_with_resync(client):
    dev = PythonDevice(client, "s1", K1)
    for i in range(3):
        client.operator("POST", "/v1/devices/s1/commands", f"cmd{i}".encode())
    downs = dev.uplink({"co2": 1})["down"]
    dev.handle(downs)
    assert dev.executed == [b"cmd0", b"cmd1", b"cmd2"]
    assert [Envelope.decode(t).seq for t in downs] == [0, 1, 2]
    req = resync.make_request(K1, device="s1", seq=0, ts=0)
    code, body = client.post(req.text)
    assert code == 200 and Envelope.decode(body["response"]).seq == 3  # one durable down counter


# -- resync -----------------------------------------------------------------------------------------------
def test_resync_answer_and_rate_limit(client):
    for seq in (4, 7):
        client.post(up(seq))
    req = resync.make_request(K1, device="s1", seq=0, ts=0)
    code, body = client.post(req.text)
    assert code == 200 and body["kind"] == "resync-response" and body["next_seq"] == 8 and body["key"] == 0
    res = resync.read_response(K1, body["response"], req)
    assert res.next_seq == 8 and res.backend_time == NOW  # the service's clock
    for _ in range(5):  # 6 answers per 60 s, replayed requests included
        assert client.post(req.text)[0] == 200
    code, body = client.post(req.text)
    assert (code, body["code"]) == (429, "rate-limited")
    store = client.app.store()
    assert store.next_send_seq("s1") == 6  # answers used 0..5; the refused one spent nothing
    assert client.app.metrics.refused == {"rate-limited": 1}


def test_resync_with_an_old_key_is_answered_under_that_key(client):
    req = resync.make_request(K_OLD, device="s2", seq=0, ts=0)
    code, body = client.post(req.text)
    assert code == 200 and body["key"] == 1
    assert resync.read_response(K_OLD, body["response"], req).next_seq == 0


# -- legacy /upload ---------------------------------------------------------------------------------------
def test_legacy_upload_is_off_by_default_and_labelled_when_on(tmp_path, ring_file):
    app = make_app(db=f"sqlite://{tmp_path}/legacy.db", keyring=str(ring_file), legacy_salts=["salt1", "salt2"])
    c = Client(app)
    body = b'{"co2": [400, 410]}'
    name, value = httpauth.sign(body, "salt2", "salted-sha256")
    code, headers, data = c.call("POST", "/upload", body, "application/json", headers=[(name, value)])
    assert code == 200 and headers["X-Iotenvelope-Warning"] == "unauthenticated-replayable"
    assert json.loads(data)["replayable"] is True
    assert c.call("POST", "/upload", body, "application/json", headers=[(name, value)])[0] == 200  # a replay works
    assert c.call("POST", "/upload", body + b" ", "application/json", headers=[(name, value)])[0] == 403
    assert c.call("POST", "/upload", body, "application/json")[0] == 403
    assert c.call("POST", "/upload", body, "application/json; charset=utf-8", headers=[(name, value)])[0] == 400
    with app.store().transaction() as tx:
        assert tx.execute("SELECT count(*) FROM iotenvelope_legacy_uploads").fetchone()[0] == 2
        assert tx.execute("SELECT count(*) FROM iotenvelope_readings").fetchone()[0] == 0


# -- logs and metrics -------------------------------------------------------------------------------------
def test_refusal_log_has_no_secret_or_plaintext_and_quotes_untrusted_text(client, caplog):
    hostile = '{"' + "\n\x1b[31mFORGED" * 2000 + '": 1}'
    with caplog.at_level(logging.INFO, logger="iotenvelope.ingest"):
        client.post(hostile, "application/json")
        client.post(up(1, body=b"SECRET-READING"))
        client.post(up(1, body=b"SECRET-READING"))
        client.post(up(2, key=K2, body=b"SECRET-READING"))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3  # malformed, duplicate, auth: one line each, nothing for the stored one
    for line in messages:
        assert "\n" not in line and "\x1b" not in line and len(line) < 800
        assert "SECRET-READING" not in line and K1.hex() not in line and K2.hex() not in line
        json.loads(line)
    assert json.loads(messages[0])["message"].endswith("...") or len(json.loads(messages[0])["message"]) <= 200


def test_metrics_and_healthz(client):
    client.post(up(1))
    client.post(up(1))
    client.post("garbage")
    code, headers, data = client.call("GET", "/metrics")
    text = data.decode()
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "iotenvelope_accepted_total 1\n" in text
    assert 'iotenvelope_refused_total{code="replay-duplicate"} 1\n' in text
    assert 'iotenvelope_refused_total{code="malformed"} 1\n' in text
    assert "iotenvelope_store_seconds_count 2\n" in text  # two transactions (stored, duplicate)
    assert 'iotenvelope_store_seconds_bucket{le="+Inf"} 2\n' in text
    code, _, data = client.call("GET", "/healthz")
    assert code == 200 and json.loads(data)["ok"] is True and json.loads(data)["devices"] == 2


def test_stores_without_transactions_are_refused_up_front(ring_file):
    for url in ("memory://", "redis://127.0.0.1:6379/0"):
        with pytest.raises(iotenvelope.UsageError, match="same transaction"):
            make_app(db=url, keyring=str(ring_file))


def test_database_failure_inside_the_service_sql_is_503_store(client):
    """A driver error on the service's own statement (here: its readings table is gone) is the contract's 503
    store, and the window update of that transaction is rolled back with it."""
    assert client.post(up(1))[0] == 201
    with client.app.store().transaction() as tx:
        tx.execute("DROP TABLE iotenvelope_readings")
    code, body = client.post(up(2))
    assert (code, body["code"]) == (503, "store") and "nothing of this request was stored" in body["message"]
    assert client.app.store().top("s1", "up") == 1  # seq 2 was not accepted: its retry will be
