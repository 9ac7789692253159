"""LoRaWAN network-server webhooks (issue 13 item 4): The Things Stack v3 uplink webhooks and ChirpStack v4 HTTP
integration events carrying lean envelopes, device id mapping, and down commands pushed in each network's
downlink API shape. Neither network server runs here: the uplinks are JSON in the shapes those servers post,
and the pushes go to a local HTTP listener that records them."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import threading

import pytest

import iotenvelope
from iotenvelope.envelope import lean
from iotenvelope.ingest import make_app
from iotenvelope.ingest.lorawan import Push
from pg_support import pg_server  # noqa: F401 (fixture)
from test_ingest import NOW, TOKEN, Client

KEY = bytes(range(16))
OTHER = bytes(range(1, 17))
DEV_EUI = "0101010101010101"
TTN_KEY = "NNSXS.TESTKEYTESTKEYTESTKEY.0123456789"
CS_KEY = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.test"


class Recorder(http.server.BaseHTTPRequestHandler):
    calls: list = []
    status = 200

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.calls.append((self.path, dict(self.headers), json.loads(body)))
        self.send_response(Recorder.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def network_server():
    Recorder.calls = []
    Recorder.status = 200
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


_pg_dbs = [0]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each test on both databases: the push selection is SQL (tables.due_pushes)."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/lora.db"
    _pg_dbs[0] += 1
    return request.getfixturevalue("pg_server").database(f"lora{_pg_dbs[0]}")


@pytest.fixture
def make_client(tmp_path, network_server, db_url):
    """make_client(**make_app options) -> Client with pushes to the local listener (clock pinned to NOW)."""
    ring = tmp_path / "ring.json"
    ring.write_text(json.dumps({"lmic-328": KEY.hex(), "cs-node": OTHER.hex()}))
    base = f"http://127.0.0.1:{network_server.server_port}"
    pushes = {"ttn": Push(base + "/api/v3/as/applications/{application_id}/webhooks/iotenv/devices/{device_id}"
                                 "/down/push", TTN_KEY, 15),
              "chirpstack": Push(base + "/api/devices/{dev_eui}/queue", CS_KEY, 16)}
    made = []

    def make(**kw):
        a = make_app(db=db_url, keyring=str(ring), api_token=TOKEN, lorawan_pushes=pushes,
                     lorawan_map={f"chirpstack:{DEV_EUI}": "cs-node"}, **kw)
        made.append(a)
        return Client(a)

    yield make
    for a in made:
        a.close()


@pytest.fixture
def app(make_client):
    return make_client()


def frame(seq, key=KEY, device="lmic-328", body=b'{"co2":1223,"t":21}', ts=0):
    return iotenvelope.seal(key, body, device=device, seq=seq, ts=ts, format="lean-raw")


def ttn_uplink(raw: bytes, device="lmic-328", f_cnt=1):
    """A The Things Stack v3 webhook 'uplink message' (trimmed to the members a webhook always carries)."""
    return {"end_device_ids": {"device_id": device, "application_ids": {"application_id": "co2-app"},
                               "dev_eui": "70B3D57ED0000001", "dev_addr": "260B1234"},
            "correlation_ids": ["as:up:01HTESTCORRELATION"], "received_at": "2026-12-01T22:00:00.123456789Z",
            "uplink_message": {"session_key_id": "AYbTESTSESSIONKEY==", "f_port": 1, "f_cnt": f_cnt,
                               "frm_payload": base64.b64encode(raw).decode(),
                               "rx_metadata": [{"gateway_ids": {"gateway_id": "gw-1"}, "rssi": -117, "snr": -9.5}],
                               "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 12,
                                                                    "coding_rate": "4/5"}},
                                            "frequency": "868100000"},
                               "received_at": "2026-12-01T22:00:00.100Z"}}


def chirpstack_up(raw: bytes, dev_eui=DEV_EUI, f_cnt=1):
    """A ChirpStack v4 HTTP integration 'up' event (JSON marshaler)."""
    return {"deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d", "time": "2026-12-01T22:00:00.123+00:00",
            "deviceInfo": {"tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242", "tenantName": "ChirpStack",
                           "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97", "applicationName": "co2",
                           "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad", "deviceProfileName": "EU868 A",
                           "deviceName": "cs-node-1", "devEui": dev_eui, "deviceClassEnabled": "CLASS_A", "tags": {}},
            "devAddr": "00189440", "adr": True, "dr": 0, "fCnt": f_cnt, "fPort": 1, "confirmed": False,
            "data": base64.b64encode(raw).decode(),
            "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": -118, "snr": -10.2, "context": "EFwMtA=="}],
            "txInfo": {"frequency": 868100000, "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 12,
                                                                       "codeRate": "CR_4_5"}}}}


def at(client, t):
    """Set the service's clock (the push times the re-push rule compares)."""
    client.app.clock = lambda: t


def pushed_frames(calls=None):
    """The frames (bytes) in the recorded pushes, in order (The Things Stack shape)."""
    return [base64.b64decode(sent["downlinks"][0]["frm_payload"]) for _, _, sent in (calls or Recorder.calls)]


def metric(client, name):
    _, _, text = client.call("GET", "/metrics")
    [value] = [line.split()[1] for line in text.decode().splitlines() if line.startswith(name + " ")]
    return int(value)


def commands(client, device="lmic-328"):
    code, rows = client.operator("GET", f"/v1/devices/{device}/commands")
    assert code == 200
    return sorted(rows, key=lambda r: r["id"])


def post(client, path, msg, query=""):
    code, _, data = client.call("POST", path, json.dumps(msg).encode(), "application/json", query=query)
    return code, (json.loads(data) if data else None)


def test_ttn_uplink_stored_once_and_fits_sf12(app):
    raw = frame(1)
    assert len(raw) <= 51  # EU868 DR0-DR2 payload limit
    code, body = post(app, "/v1/lorawan/ttn", ttn_uplink(raw))
    assert code == 201 and body["device"] == "lmic-328" and body["network"] == "ttn" and body["seq"] == 1
    code, body = post(app, "/v1/lorawan/ttn", ttn_uplink(raw))  # the network retried its webhook
    assert (code, body["code"]) == (409, "replay-duplicate")
    _, rows = app.operator("GET", "/v1/readings")
    assert [(r["device"], r["seq"], r["source"], r["plaintext"]) for r in rows] == [
        ("lmic-328", 1, "ttn", '{"co2":1223,"t":21}')]


def test_chirpstack_uplink_with_device_map_and_other_events_ignored(app):
    code, body = post(app, "/v1/lorawan/chirpstack", chirpstack_up(frame(7, key=OTHER, device="cs-node")),
                      query="event=up")
    assert code == 201 and body["device"] == "cs-node" and body["network"] == "chirpstack"
    join = {"deduplicationId": "x", "deviceInfo": {"devEui": DEV_EUI, "applicationId": "a"}, "devAddr": "00189440"}
    assert post(app, "/v1/lorawan/chirpstack", join, query="event=join")[0] == 204


def test_frame_under_another_device_id_and_bad_payloads(app):
    # the device id is bound under the lean MAC: lmic-328's frame presented as cs-node's fails
    code, body = post(app, "/v1/lorawan/chirpstack", chirpstack_up(frame(1)), query="event=up")
    assert (code, body["code"]) == (401, "auth")
    code, body = post(app, "/v1/lorawan/ttn", ttn_uplink(frame(1), device="nobody"))
    assert (code, body["code"]) == (401, "unknown-device")
    bad = ttn_uplink(frame(1))
    bad["uplink_message"]["frm_payload"] = "!!not base64"
    assert post(app, "/v1/lorawan/ttn", bad) == (400, post(app, "/v1/lorawan/ttn", bad)[1])
    assert post(app, "/v1/lorawan/ttn", bad)[1]["code"] == "malformed"
    del bad["end_device_ids"]
    assert post(app, "/v1/lorawan/ttn", bad)[0] == 400
    assert app.call("POST", "/v1/lorawan/ttn", b"{}", "text/plain")[0] == 415
    assert app.call("POST", "/v1/lorawan/other", b"{}", "application/json")[0] == 404
    no_uplink = {"end_device_ids": {"device_id": "lmic-328"}, "join_accept": {"session_key_id": "x"}}
    assert post(app, "/v1/lorawan/ttn", no_uplink)[0] == 204


def test_ttn_downlink_pushed_in_the_push_api_shape_and_not_again_before_repush_after(app):
    post(app, "/v1/lorawan/ttn", ttn_uplink(frame(1)))
    code, queued = app.operator("POST", "/v1/devices/lmic-328/commands", b"\x01\x05")  # e.g. "interval 5 min"
    assert code == 201 and queued["route"] == "ttn"
    code, body = post(app, "/v1/lorawan/ttn", ttn_uplink(frame(2), f_cnt=2))
    assert code == 201 and body["down_pushed"] == 1
    [(path, headers, sent)] = Recorder.calls
    assert path == "/api/v3/as/applications/co2-app/webhooks/iotenv/devices/lmic-328/down/push"
    assert headers["Authorization"] == f"Bearer {TTN_KEY}" and headers["Content-Type"] == "application/json"
    assert list(sent) == ["downlinks"] and len(sent["downlinks"]) == 1
    item = sent["downlinks"][0]
    assert set(item) == {"f_port", "frm_payload", "priority"} and item["f_port"] == 15 and item["priority"] == "NORMAL"
    down = base64.b64decode(item["frm_payload"])
    msg = iotenvelope.open(KEY, down, format="lean-raw", device="lmic-328", direction="down", freshness=None)
    assert msg.plaintext == b"\x01\x05" and msg.seq == 0 and msg.direction == "down"
    assert len(down) == lean.size(2, ts=True)
    with pytest.raises(iotenvelope.AuthenticationError):  # bound to its device: useless for any other
        iotenvelope.open(KEY, down, format="lean-raw", device="cs-node", direction="down", freshness=None)
    post(app, "/v1/lorawan/ttn", ttn_uplink(frame(3), f_cnt=3))
    at(app, NOW + 3599)  # --lorawan-repush-after (default 3600 s) has not passed since the push
    code, body = post(app, "/v1/lorawan/ttn", ttn_uplink(frame(4), f_cnt=4))
    assert code == 201 and body["down_pushed"] == 0
    assert len(Recorder.calls) == 1  # the network server's queue has it: not pushed again yet


def test_chirpstack_downlink_shape_and_failed_push_retried_with_the_same_frame(app):
    post(app, "/v1/lorawan/chirpstack", chirpstack_up(frame(1, key=OTHER, device="cs-node")), query="event=up")
    app.operator("POST", "/v1/devices/cs-node/commands", b"open valve")
    Recorder.status = 503  # the network server is down for one push
    code, body = post(app, "/v1/lorawan/chirpstack", chirpstack_up(frame(2, key=OTHER, device="cs-node")),
                      query="event=up")
    assert code == 201 and body["down_pushed"] == 0
    Recorder.status = 200
    code, body = post(app, "/v1/lorawan/chirpstack", chirpstack_up(frame(3, key=OTHER, device="cs-node")),
                      query="event=up")
    assert body["down_pushed"] == 1
    (p1, _, first), (p2, headers, second) = Recorder.calls
    assert p1 == p2 == f"/api/devices/{DEV_EUI}/queue"
    assert headers["Grpc-Metadata-Authorization"] == f"Bearer {CS_KEY}"
    assert first == second  # the retry pushed the very same frame (never sealed twice)
    assert set(second) == {"queueItem"} and second["queueItem"]["fPort"] == 16
    assert second["queueItem"]["confirmed"] is False
    msg = iotenvelope.open(OTHER, base64.b64decode(second["queueItem"]["data"]), format="lean-raw", device="cs-node",
                           direction="down", freshness=None)
    assert msg.plaintext == b"open valve"


def test_unacknowledged_frame_repushed_identical_after_repush_after_and_an_ack_stops_it(app, caplog):
    post(app, "/v1/lorawan/ttn", ttn_uplink(frame(1)))
    app.operator("POST", "/v1/devices/lmic-328/commands", b"\x01\x05")
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(2)))[1]["down_pushed"] == 1  # pushed at NOW
    at(app, NOW + 1800)
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(3)))[1]["down_pushed"] == 0
    at(app, NOW + 3600)  # the device never acknowledged: lost over the air, or the queue was flushed
    with caplog.at_level(logging.INFO, logger="iotenvelope.ingest"):
        code, body = post(app, "/v1/lorawan/ttn", ttn_uplink(frame(4)))
    assert code == 201 and body["down_pushed"] == 1
    first, again = Recorder.calls
    assert again == first  # the same request: path, key, and the byte-identical frame (sealed once)
    assert pushed_frames() == [pushed_frames()[0]] * 2
    events = [json.loads(r.getMessage()) for r in caplog.records]
    [ev] = [e for e in events if e["event"] == "downlink-repushed"]
    assert (ev["device"], ev["network"], ev["pushes"]) == ("lmic-328", "ttn", 2)
    assert set(ev) == {"ts", "event", "device", "network", "id", "pushes"}  # no frame, plaintext or key
    assert metric(app, "iotenvelope_lorawan_repushes_total") == 1
    assert metric(app, "iotenvelope_down_envelopes_sent_total") == 2
    [cmd] = commands(app)
    assert (cmd["status"], cmd["sends"], cmd["sent_at"], cmd["down_seq"]) == ("sent", 2, NOW + 3600, 0)
    # the device opens it (its down window would refuse the second copy) and acknowledges down seq 0
    msg = iotenvelope.open(KEY, pushed_frames()[1], format="lean-raw", device="lmic-328", direction="down",
                           freshness=None)
    assert msg.plaintext == b"\x01\x05"
    at(app, NOW + 3700)
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(5, body=b'{"co2":1,"ack":0}')))[1]["down_pushed"] == 0
    for hours in (2, 5, 30):
        at(app, NOW + hours * 3600)
        assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(10 + hours)))[1]["down_pushed"] == 0
    assert len(Recorder.calls) == 2 and commands(app)[0]["status"] == "acked"


def test_push_limit_stops_repushes_and_is_visible(app, caplog):
    post(app, "/v1/lorawan/ttn", ttn_uplink(frame(1)))
    app.operator("POST", "/v1/devices/lmic-328/commands", b"reboot")
    seq = 2
    with caplog.at_level(logging.INFO, logger="iotenvelope.ingest"):
        for hour in range(5):  # the default limit: 5 pushes in all
            at(app, NOW + hour * 3600)
            assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(seq)))[1]["down_pushed"] == 1, hour
            seq += 1
    assert len(set(pushed_frames())) == 1 and len(Recorder.calls) == 5
    events = [json.loads(r.getMessage()) for r in caplog.records]
    assert [e["pushes"] for e in events if e["event"] == "downlink-repushed"] == [2, 3, 4, 5]
    [limit] = [e for e in events if e["event"] == "downlink-push-limit-reached"]
    assert (limit["device"], limit["network"], limit["id"], limit["pushes"]) == ("lmic-328", "ttn", 1, 5)
    for hour in (5, 6, 48):  # a dead device does not fill the network server's queue
        at(app, NOW + hour * 3600)
        assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(seq)))[1]["down_pushed"] == 0
        seq += 1
    assert len(Recorder.calls) == 5
    [cmd] = commands(app)
    assert (cmd["status"], cmd["sends"], cmd["acked_at"]) == ("push-limit", 5, None)  # still unacknowledged
    assert metric(app, "iotenvelope_lorawan_push_limit_reached_total") == 1
    assert metric(app, "iotenvelope_lorawan_repushes_total") == 4
    # a later command is not held up by the one that reached the limit
    app.operator("POST", "/v1/devices/lmic-328/commands", b"interval 10")
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(seq)))[1]["down_pushed"] == 1
    newest = iotenvelope.open(KEY, pushed_frames()[-1], format="lean-raw", device="lmic-328", direction="down",
                              freshness=None)
    assert (newest.plaintext, newest.seq) == (b"interval 10", 1)
    # an ack still counts after the limit: the device may have received one of the five
    seq += 1
    post(app, "/v1/lorawan/ttn", ttn_uplink(frame(seq, body=b'{"ack":0}')))
    assert [c["status"] for c in commands(app)] == ["acked", "sent"]


def test_repush_options_change_the_rule(make_client):
    app = make_client(lorawan_repush_after=60, lorawan_max_pushes=2)
    post(app, "/v1/lorawan/ttn", ttn_uplink(frame(1)))
    app.operator("POST", "/v1/devices/lmic-328/commands", b"x")
    post(app, "/v1/lorawan/ttn", ttn_uplink(frame(2)))
    at(app, NOW + 59)
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(3)))[1]["down_pushed"] == 0
    at(app, NOW + 60)
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(4)))[1]["down_pushed"] == 1
    at(app, NOW + 600)
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(5)))[1]["down_pushed"] == 0  # 2 pushes in all
    assert len(Recorder.calls) == 2 and commands(app)[0]["status"] == "push-limit"
    once = make_client(lorawan_max_pushes=1)  # the same database: 1 means push once, never again
    assert [c["status"] for c in commands(once)] == ["push-limit"]
    at(once, NOW + 10 * 86400)
    assert post(once, "/v1/lorawan/ttn", ttn_uplink(frame(6)))[1]["down_pushed"] == 0
    more = make_client(lorawan_max_pushes=3)  # raising the limit makes it due again
    at(more, NOW + 10 * 86400)
    assert post(more, "/v1/lorawan/ttn", ttn_uplink(frame(7)))[1]["down_pushed"] == 1
    assert len(set(pushed_frames())) == 1 and len(Recorder.calls) == 3


def test_commands_at_the_push_limit_do_not_hold_back_newer_ones(make_client):
    # eight commands at their limit (the places an uplink looks at) must not keep a ninth from being sealed
    app = make_client(lorawan_max_pushes=1)
    post(app, "/v1/lorawan/ttn", ttn_uplink(frame(1)))
    for i in range(9):
        app.operator("POST", "/v1/devices/lmic-328/commands", b"command %d" % i)
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(2)))[1]["down_pushed"] == 8
    assert [c["status"] for c in commands(app)] == ["push-limit"] * 8 + ["queued"]
    at(app, NOW + 86400)
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(3)))[1]["down_pushed"] == 1
    opened = [iotenvelope.open(KEY, f, format="lean-raw", device="lmic-328", direction="down", freshness=None)
              for f in pushed_frames()]
    assert [(o.seq, o.plaintext) for o in opened] == [(i, b"command %d" % i) for i in range(9)]


def test_repushes_keep_the_order_and_a_failed_repush_is_retried_with_the_same_frame(app, caplog):
    post(app, "/v1/lorawan/ttn", ttn_uplink(frame(1)))
    for command in (b"first", b"second"):
        app.operator("POST", "/v1/devices/lmic-328/commands", command)
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(2)))[1]["down_pushed"] == 2
    a, b = pushed_frames()
    at(app, NOW + 1000)
    app.operator("POST", "/v1/devices/lmic-328/commands", b"third")  # sealed and pushed at NOW + 1000
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(3)))[1]["down_pushed"] == 1
    c = pushed_frames()[2]
    at(app, NOW + 3600)  # first and second are due again, third is not
    Recorder.status = 503
    with caplog.at_level(logging.INFO, logger="iotenvelope.ingest"):
        assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(4)))[1]["down_pushed"] == 0
    assert pushed_frames()[3:] == [a]  # one attempt, the oldest: the failure stopped the loop
    [failed] = [json.loads(r.getMessage()) for r in caplog.records
                if json.loads(r.getMessage())["event"] == "downlink-push-failed"]
    assert (failed["device"], failed["network"], failed["error"]) == ("lmic-328", "ttn", "HTTPError")
    assert metric(app, "iotenvelope_lorawan_push_failures_total") == 1
    assert [c["sends"] for c in commands(app)] == [1, 1, 1]  # a failed push is not counted
    Recorder.status = 200
    at(app, NOW + 3700)
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(5)))[1]["down_pushed"] == 2
    assert pushed_frames()[4:] == [a, b]  # retried in order, the very same frames
    at(app, NOW + 4600)  # third's hour has passed: only it is due (the others were pushed at NOW + 3700)
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(6, body=b'{"ack":0}')))[1]["down_pushed"] == 1
    assert pushed_frames()[6:] == [c]
    at(app, NOW + 7300)  # first is acknowledged (ack 0); second is due again, then third
    assert post(app, "/v1/lorawan/ttn", ttn_uplink(frame(7)))[1]["down_pushed"] == 1
    assert pushed_frames()[7:] == [b]
    assert [(x["status"], x["sends"]) for x in commands(app)] == [("acked", 2), ("sent", 3), ("sent", 2)]


def test_chirpstack_repush_is_the_same_queue_item(app):
    post(app, "/v1/lorawan/chirpstack", chirpstack_up(frame(1, key=OTHER, device="cs-node")), query="event=up")
    app.operator("POST", "/v1/devices/cs-node/commands", b"open valve")
    post(app, "/v1/lorawan/chirpstack", chirpstack_up(frame(2, key=OTHER, device="cs-node")), query="event=up")
    at(app, NOW + 7200)
    code, body = post(app, "/v1/lorawan/chirpstack", chirpstack_up(frame(3, key=OTHER, device="cs-node")),
                      query="event=up")
    assert code == 201 and body["down_pushed"] == 1
    (p1, _, first), (p2, h2, second) = Recorder.calls
    assert (p1, first) == (p2, second) and h2["Grpc-Metadata-Authorization"] == f"Bearer {CS_KEY}"


@pytest.mark.parametrize("option, value, message", [
    ("--lorawan-repush-after", "-1", "--lorawan-repush-after must be a number of seconds >= 0"),
    ("--lorawan-repush-after", "nan", "--lorawan-repush-after must be a number of seconds >= 0"),
    ("--lorawan-repush-after", "inf", "--lorawan-repush-after must be a number of seconds >= 0"),
    ("--lorawan-repush-after", "soon", "argument --lorawan-repush-after: invalid float value"),
    ("--lorawan-max-pushes", "0", "--lorawan-max-pushes must be an integer >= 1"),
    ("--lorawan-max-pushes", "2.5", "argument --lorawan-max-pushes: invalid int value"),
])
def test_serve_refuses_bad_repush_options(cli, tmp_path, option, value, message):
    ring = tmp_path / "ring.json"
    ring.write_text(json.dumps({"lmic-328": KEY.hex()}))
    proc = cli("serve", "--db", f"sqlite://{tmp_path}/x.db", "--keyring", str(ring), f"{option}={value}")
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("iotenvelope: usage error: " + message)
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened


def test_serve_passes_the_repush_options_and_documents_the_defaults(cli, monkeypatch, tmp_path):
    from iotenvelope.cli import build_parser
    from iotenvelope.ingest import server
    got = {}
    monkeypatch.setattr(server, "run", lambda kwargs, **_: got.update(kwargs) or 0)
    monkeypatch.setattr(server, "configure_logging", lambda: None)
    base = ["serve", "--db", "sqlite:///x.db", "--keyring", "ring.json"]
    assert server.cmd_serve(build_parser().parse_args(base)) == 0
    assert (got["lorawan_repush_after"], got["lorawan_max_pushes"]) == (3600, 5)
    opts = build_parser().parse_args(base + ["--lorawan-repush-after", "900.5", "--lorawan-max-pushes", "1"])
    assert server.cmd_serve(opts) == 0
    assert (got["lorawan_repush_after"], got["lorawan_max_pushes"]) == (900.5, 1)
    helptext = " ".join(cli("serve", "--help").stdout.decode().split())
    assert "--lorawan-repush-after SECONDS" in helptext and "(default 3600)" in helptext
    assert "--lorawan-max-pushes N" in helptext and "(default 5;" in helptext
    with pytest.raises(iotenvelope.UsageError, match="--lorawan-max-pushes"):
        make_app(db=f"sqlite://{tmp_path}/y.db", keyring={"lmic-328": KEY.hex()}, lorawan_max_pushes=True)
