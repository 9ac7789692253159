"""Resync (SPEC.md §8): the backend answer, the device helpers, the CLI."""

from __future__ import annotations

import json
import struct
import time

import pytest

import iotenvelope
from iotenvelope import open_store
from iotenvelope.replay import resync
from iotenvelope.envelope import Envelope
from iotenvelope.errors import AuthenticationError, DirectionError, MalformedError, ReplayError, DuplicateError
from replay_support import cli, redis_server  # noqa: F401 (fixture)

KEY = bytes(range(16))
OTHER = bytes(range(1, 17))
NONCE = bytes.fromhex("0102030405060708")
NOW = 1763900000


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "memory":
        s = open_store("memory://")
    elif request.param == "sqlite":
        s = open_store(f"sqlite://{tmp_path}/r.db")
    else:
        s = open_store(request.getfixturevalue("redis_server").url + f"?prefix=resync-{tmp_path.name}:")
    yield s
    s.close()


def test_request_bytes():
    req = resync.make_request(KEY, device="s1", seq=0, ts=0, nonce=NONCE)
    env = Envelope.from_compact(req.text)
    assert (env.direction, env.type, env.device, env.seq, env.ts) == ("up", "resync-request", "s1", 0, 0)
    assert iotenvelope.open(KEY, req.text, freshness=None).plaintext == NONCE
    assert req.nonce == NONCE and "0102" not in repr(req)
    assert len(resync.make_request(KEY, device="s1").nonce) == 8


def test_full_exchange(store):
    for seq in (1, 2, 3, 10):
        iotenvelope.open(KEY, iotenvelope.seal(KEY, b"x", device="s1", seq=seq, ts=0), replay=store)
    req = resync.make_request(KEY, device="s1", seq=0, ts=0, nonce=NONCE)
    answer = resync.answer_request(KEY, req.text, store, now=NOW)
    assert (answer.device, answer.next_seq, answer.backend_time, answer.seq) == ("s1", 11, NOW, 0)
    opened = iotenvelope.open(KEY, answer.text, direction="down", freshness=None)
    assert (opened.type, opened.direction, opened.seq, opened.ts) == ("resync-response", "down", 0, NOW)
    assert opened.plaintext == NONCE + struct.pack(">II", 11, NOW) == NONCE + bytes.fromhex("0000000b") + NOW.to_bytes(4, "big")
    result = resync.read_response(KEY, answer.text, NONCE, sent_at=time.monotonic())
    assert (result.next_seq, result.backend_time, result.device, result.seq) == (11, NOW, "s1", 0)
    assert result.resume(0) == 11 and result.resume(50) == 50
    # the request left the window alone; the device continues at next_seq and is accepted
    assert store.top("s1", "up") == 10
    iotenvelope.open(KEY, iotenvelope.seal(KEY, b"x", device="s1", seq=result.next_seq, ts=0), replay=store)
    # the backend's down counter advances with every response
    assert resync.answer_request(KEY, req.text, store, now=NOW).seq == 1


def test_unknown_device_gets_zero(store):
    answer = resync.answer_request(KEY, resync.make_request(KEY, device="new", nonce=NONCE).text, store, now=NOW)
    assert answer.next_seq == 0


def test_replayed_request_yields_an_answer_the_device_ignores(store):
    old = resync.make_request(KEY, device="s1", nonce=NONCE)
    replayed_answer = resync.answer_request(KEY, old.text, store, now=NOW)
    current_nonce = bytes(8)
    with pytest.raises(AuthenticationError, match="nonce mismatch"):
        resync.read_response(KEY, replayed_answer.text, current_nonce, sent_at=time.monotonic())


def test_exhausted_counter_is_refused(store):
    store.accept("s1", "up", 0xFFFFFFFF)
    with pytest.raises(ReplayError, match="replace its secret"):
        resync.answer_request(KEY, resync.make_request(KEY, device="s1", nonce=NONCE).text, store, now=NOW)


def test_json_request_gets_json_answer():
    req = resync.make_request(KEY, device="s1", format="json", nonce=NONCE)
    answer = resync.answer_request(KEY, req.text, open_store("memory://"), now=NOW)
    assert json.loads(answer.text)["type"] == "resync-response"
    assert resync.read_response(KEY, answer.text, NONCE, sent_at=time.monotonic()).next_seq == 0


def test_bad_requests():
    store = open_store("memory://")
    with pytest.raises(AuthenticationError):
        resync.answer_request(KEY, resync.make_request(OTHER, device="s1").text, store)
    with pytest.raises(MalformedError, match="expected a resync-request"):
        resync.answer_request(KEY, iotenvelope.seal(KEY, NONCE, device="s1", seq=1), store)
    with pytest.raises(MalformedError, match="8-byte nonce"):
        resync.answer_request(KEY, iotenvelope.seal(KEY, b"short", device="s1", seq=1, type="resync-request"), store)
    with pytest.raises(DirectionError):
        resync.answer_request(KEY, iotenvelope.seal(KEY, NONCE, device="s1", seq=1, type="resync-request",
                                                    direction="down"), store)
    assert store.top("s1", "up") is None
    with pytest.raises(MalformedError):
        resync.make_request(KEY, device="s1", nonce=b"123")


def test_bad_responses():
    data = iotenvelope.seal(KEY, NONCE + bytes(8), device="s1", seq=1, direction="down")
    with pytest.raises(MalformedError, match="expected a resync-response"):
        resync.read_response(KEY, data, NONCE, sent_at=time.monotonic())
    short = iotenvelope.seal(KEY, NONCE, device="s1", seq=1, direction="down", type="resync-response")
    with pytest.raises(MalformedError, match="must be 16"):
        resync.read_response(KEY, short, NONCE, sent_at=time.monotonic())
    up = iotenvelope.seal(KEY, NONCE + bytes(8), device="s1", seq=1, type="resync-response")
    with pytest.raises(DirectionError):
        resync.read_response(KEY, up, NONCE, sent_at=time.monotonic())
    good = iotenvelope.seal(KEY, NONCE + bytes(8), device="s1", seq=1, direction="down", type="resync-response")
    with pytest.raises(AuthenticationError):
        resync.read_response(OTHER, good, NONCE, sent_at=time.monotonic())


def test_device_down_window_only_after_nonce_match():
    device_window = open_store("memory://")
    backend = open_store("memory://")
    req = resync.make_request(KEY, device="s1", nonce=NONCE)
    answer = resync.answer_request(KEY, req.text, backend, now=NOW)
    with pytest.raises(AuthenticationError, match="nonce mismatch"):
        resync.read_response(KEY, answer.text, bytes(8), replay=device_window, sent_at=time.monotonic())
    assert device_window.top("s1", "down") is None
    resync.read_response(KEY, answer.text, NONCE, replay=device_window, sent_at=time.monotonic())
    with pytest.raises(DuplicateError):
        resync.read_response(KEY, answer.text, NONCE, replay=device_window, sent_at=time.monotonic())



def test_cli_resync(tmp_path):
    url = f"sqlite://{tmp_path}/b.db"
    k = KEY.hex()
    ups = "\n".join(iotenvelope.seal(KEY, b"x", device="s1", seq=s, ts=0) for s in (4, 5)) + "\n"
    assert cli("open", "--batch", "--key", k, "--replay-store", url, stdin=ups).returncode == 0
    req = resync.make_request(KEY, device="s1", nonce=NONCE)
    res = cli("resync", "--key", k, "--replay-store", url, "--now", str(NOW), stdin=req.text + "\n")
    assert res.returncode == 0, res.stderr
    result = resync.read_response(KEY, res.stdout.strip(), NONCE, sent_at=time.monotonic())
    assert (result.next_seq, result.backend_time, result.seq) == (6, NOW, 0)
    meta = cli("resync", "--key", k, "--replay-store", url, "--now", str(NOW), "--json", "--down-seq", "77",
               "--format", "json", stdin=req.text)
    row = json.loads(meta.stdout)
    assert (row["next_seq"], row["seq"], row["device"]) == (6, 77, "s1")
    assert json.loads(row["response"])["seq"] == 77
    # the device half through the CLI: open the response going down, plaintext = nonce ‖ next_seq ‖ time
    opened = cli("open", "--key", k, "--direction", "down", "--max-age", "0", "--now", str(NOW), "--json",
                 stdin=res.stdout)
    assert json.loads(opened.stdout)["type"] == "resync-response"
    bad = cli("resync", "--key", OTHER.hex(), "--replay-store", url, stdin=req.text)
    assert bad.returncode == 5 and "Traceback" not in bad.stderr
    usage = cli("resync", "--key", k, stdin=req.text)
    assert usage.returncode == 2
    ring = tmp_path / "ring.json"
    ring.write_text(json.dumps({"other": OTHER.hex(), "s1": k}))
    via_ring = cli("resync", "--keyring", str(ring), "--replay-store", url, "--now", str(NOW), stdin=req.text)
    assert resync.read_response(KEY, via_ring.stdout.strip(), NONCE, sent_at=time.monotonic()).next_seq == 6
    unknown = cli("resync", "--keyring", str(ring), "--replay-store", url,
                  stdin=resync.make_request(KEY, device="nobody").text)
    assert unknown.returncode == 4 and "UnknownDeviceError" in unknown.stderr


# -- issue 10 -------------------------------------------------------------------------------------------------
class FakeClock:
    """An injectable monotonic clock (seconds)."""

    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_response_after_t_wait_is_stale_and_discards_the_request():
    """F6 (device side): a response read more than T_wait (60 s, the device's monotonic clock) after its request
    is `stale`, even though MAC and nonce are fine, and the request is no longer pending. On 8a17a2b a response
    held back for 10 days was accepted and its backend_time (10 days old) handed to the device."""
    from iotenvelope.errors import StaleError
    clock = FakeClock()
    req = resync.make_request(KEY, device="s1", nonce=NONCE, clock=clock)
    assert req.sent_at == 1000.0 and req.pending
    held = resync.answer_request(KEY, req.text, open_store("memory://"), now=NOW - 10 * 86400)
    clock.t += 10 * 86400
    with pytest.raises(StaleError, match="later than the 60 s waiting time"):
        resync.read_response(KEY, held.text, req)
    assert not req.pending
    clock.t = 1000.0  # even if the clock were wound back, the discarded request accepts nothing any more
    with pytest.raises(StaleError, match="no longer pending"):
        resync.read_response(KEY, held.text, req)


def test_response_within_t_wait_is_accepted_once():
    """F6: at exactly T_wait the response is still accepted; after one response the request is answered."""
    clock = FakeClock()
    req = resync.make_request(KEY, device="s1", nonce=NONCE, clock=clock)
    answer = resync.answer_request(KEY, req.text, open_store("memory://"), now=NOW)
    clock.t += 60
    assert resync.read_response(KEY, answer.text, req).next_seq == 0
    assert not req.pending
    from iotenvelope.errors import StaleError
    with pytest.raises(StaleError):
        resync.read_response(KEY, answer.text, req)
    # a shorter t_wait, and a bare nonce with sent_at= on an explicit clock
    with pytest.raises(StaleError):
        resync.read_response(KEY, answer.text, NONCE, sent_at=0.0, clock=FakeClock(5.0), t_wait=4.9)
    assert resync.read_response(KEY, answer.text, NONCE, sent_at=0.0, clock=FakeClock(5.0), t_wait=5).seq == 0


def test_bare_nonce_without_sent_at_is_a_usage_error():
    """F6: the waiting time cannot be checked without the time the request was sent, so that call is refused."""
    from iotenvelope.errors import UsageError
    answer = resync.answer_request(KEY, resync.make_request(KEY, device="s1", nonce=NONCE).text,
                                   open_store("memory://"), now=NOW)
    with pytest.raises(UsageError, match="sent_at"):
        resync.read_response(KEY, answer.text, NONCE)


def test_forged_late_response_does_not_keep_a_request_alive():
    """F6: a forged response inside T_wait is refused (auth) and leaves the request pending; the genuine one
    still works."""
    clock = FakeClock()
    req = resync.make_request(KEY, device="s1", nonce=NONCE, clock=clock)
    answer = resync.answer_request(KEY, req.text, open_store("memory://"), now=NOW)
    forged = resync.answer_request(OTHER, resync.make_request(OTHER, device="s1", nonce=NONCE).text,
                                   open_store("memory://"), now=NOW)
    with pytest.raises(AuthenticationError):
        resync.read_response(KEY, forged.text, req)
    assert req.pending
    assert resync.read_response(KEY, answer.text, req).next_seq == 0


def test_cli_resync_refuses_a_memory_store():
    """F14: `resync --replay-store memory://` forgets the down counter when the command exits, so every answer
    said next_seq 0 with down seq 0 (8a17a2b accepted it): it is a usage error (exit 2), nothing printed."""
    req = resync.make_request(KEY, device="s1", nonce=NONCE)
    for url in ("memory://", "MEMORY://", "memory:"):
        res = cli("resync", "--key", KEY.hex(), "--replay-store", url, stdin=req.text)
        assert (res.returncode, res.stdout) == (2, ""), res.stderr
        assert "cannot remember" in res.stderr and "Traceback" not in res.stderr


def test_cli_resync_strips_exactly_one_newline(tmp_path):
    """Issue 10 item 8 on `resync`: one trailing LF or CRLF is stripped, a second one is malformed (exit 3)."""
    url = f"sqlite://{tmp_path}/b.db"
    req = resync.make_request(KEY, device="s1", nonce=NONCE)
    for tail, code in (("", 0), ("\n", 0), ("\r\n", 0), ("\n\n", 3), (" ", 3), ("\r", 3)):
        res = cli("resync", "--key", KEY.hex(), "--replay-store", url, "--now", str(NOW), stdin=req.text + tail)
        assert res.returncode == code, (tail, res.stderr)


def test_docs_name_the_error_read_response_raises():
    """F13: docs/replay.md said a response to another request raises ReplayError; the code (and SPEC.md §8 step
    4) says AuthenticationError. The docs now name the class the code raises, and the stale case."""
    from conftest import ROOT
    doc = " ".join((ROOT / "docs" / "replay.md").read_text(encoding="utf-8").split())
    section = doc[doc.index("## Resync"):]
    assert "| a response to another request (an old nonce) | `AuthenticationError` (`auth`, 5)" in section
    assert "raises `ReplayError`: ignore it" not in section
    assert "`StaleError`" in section
    answer = resync.answer_request(KEY, resync.make_request(KEY, device="s1", nonce=NONCE).text,
                                   open_store("memory://"), now=NOW)
    with pytest.raises(AuthenticationError) as info:
        resync.read_response(KEY, answer.text, bytes(8), sent_at=time.monotonic())
    assert not isinstance(info.value, ReplayError)
