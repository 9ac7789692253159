"""LoRaWAN network-server webhooks (issue 13 item 4): The Things Stack v3 uplink webhooks and ChirpStack v4 HTTP
integration events carrying lean envelopes, device id mapping, and down commands pushed in each network's
downlink API shape. Neither network server runs here: the uplinks are JSON in the shapes those servers post,
and the pushes go to a local HTTP listener that records them."""

from __future__ import annotations

import base64
import http.server
import json
import threading

import pytest

import iotenvelope
from iotenvelope.envelope import lean
from iotenvelope.ingest import make_app
from iotenvelope.ingest.lorawan import Push
from test_ingest import TOKEN, Client

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


@pytest.fixture
def app(tmp_path, network_server):
    ring = tmp_path / "ring.json"
    ring.write_text(json.dumps({"lmic-328": KEY.hex(), "cs-node": OTHER.hex()}))
    base = f"http://127.0.0.1:{network_server.server_port}"
    pushes = {"ttn": Push(base + "/api/v3/as/applications/{application_id}/webhooks/iotenv/devices/{device_id}"
                                 "/down/push", TTN_KEY, 15),
              "chirpstack": Push(base + "/api/devices/{dev_eui}/queue", CS_KEY, 16)}
    a = make_app(db=f"sqlite://{tmp_path}/lora.db", keyring=str(ring), api_token=TOKEN, lorawan_pushes=pushes,
                 lorawan_map={f"chirpstack:{DEV_EUI}": "cs-node"})
    yield Client(a)
    a.close()


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


def test_ttn_downlink_pushed_once_in_the_push_api_shape(app):
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
    assert len(Recorder.calls) == 1  # the network server keeps its queue: pushed once


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
