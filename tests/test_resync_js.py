"""Resync across implementations: the real crypto-js device half against iotenvelope.replay.resync's backend, and the
Python device helpers against the JavaScript backend half (SPEC.md §8). Needs node + crypto-js (fails if missing)."""

from __future__ import annotations

import time

import pytest

import iotenvelope
from iotenvelope import open_store
from iotenvelope.replay import resync
from iotenvelope.verify.peers import js
from jspeer import require_node

SECRET = bytes.fromhex("00112233445566778899aabbccddeeff")
NOW = 1763900000


@pytest.mark.parametrize("version", (js.NODE_CRYPTO, *js.EXPECTED_VERSIONS))
def test_js_device_against_python_backend_with_a_store(version, tmp_path):
    bridge = require_node()
    store = open_store(f"sqlite://{tmp_path}/b.db")
    for seq in (7, 9, 8):
        iotenvelope.open(SECRET, iotenvelope.seal(SECRET, b"r", device="sensor-01", seq=seq, ts=0), replay=store)
    req = bridge.call("call", lib=version, fn="resyncRequest", args=[SECRET.hex(), {"device": "sensor-01"}])
    answer = resync.answer_request(SECRET, req["text"], store, now=NOW)
    assert (answer.next_seq, answer.seq) == (10, 0)
    assert store.top("sensor-01", "up") == 9  # the request did not touch the window
    got = bridge.call("call", lib=version, fn="acceptResyncResponse",
                      args=[SECRET.hex(), answer.text, req["nonce"], {"counter": 3}])
    assert got == {"counter": 10, "nextSeq": 10, "backendTime": NOW, "seq": 0, "ts": NOW}
    # the JS device continues at 10 and the Python backend accepts it
    nxt = bridge.call("call", lib=version, fn="seal",
                      args=[SECRET.hex(), "after resync", {"device": "sensor-01", "seq": got["counter"], "ts": 0}])
    assert iotenvelope.open(SECRET, nxt, replay=store).seq == 10


@pytest.mark.parametrize("version", (js.NODE_CRYPTO, *js.EXPECTED_VERSIONS))
def test_python_device_against_js_backend(version):
    bridge = require_node()
    req = resync.make_request(SECRET, device="gw-1", seq=0, ts=0, format="json")
    answer = bridge.call("call", lib=version, fn="answerResync",
                         args=[SECRET.hex(), req.text, {"nextSeq": 4321, "seq": 5, "now": NOW}])
    result = resync.read_response(SECRET, answer["text"], req)
    assert (result.next_seq, result.backend_time, result.seq, result.ts) == (4321, NOW, 5, NOW)
    with pytest.raises(iotenvelope.AuthenticationError, match="nonce mismatch"):
        resync.read_response(SECRET, answer["text"], bytes(8) if req.nonce != bytes(8) else b"\x01" * 8,
                             sent_at=time.monotonic())
