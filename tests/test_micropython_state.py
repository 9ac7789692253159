"""iotenv_state inside real MicroPython: the boot-safe Counter under power cuts on the file systems boards use
(SPEC.md section 7), its file handling, and the resync waiting time T_wait (SPEC.md section 8).

The power-cut harness (interop/micropython/testing/powercut.py) needs vfs.VfsFat and vfs.VfsLfs2 over a
Python block device, which the native unix port has; the other tests run in every interpreter of
test_micropython.py (wasm and native, .py and .mpy).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest
from test_micropython import KEY16, interp, module_dirs, ok, require_native  # noqa: F401  (fixtures)

from iotenvelope import envelope
from iotenvelope.verify.peers import micropython as mp

POWERCUT = mp.TESTING_DIR / "powercut.py"


@pytest.fixture(scope="module")
def native_dirs(module_dirs, tmp_path_factory):  # noqa: F811
    """The .py and the .mpy module folders with the harness beside them."""
    require_native()
    for d in module_dirs.values():
        shutil.copy(POWERCUT, d)
    return module_dirs


def powercut(dirs, fmt, fs, mode, k, impl="state"):
    proc = subprocess.run(require_native() + [str(dirs[fmt] / POWERCUT.name), fs, mode, str(k), impl],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("fmt", ["py", "mpy"])
@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("mode", ["drop", "tear", "tear1"])
@pytest.mark.parametrize("fs", ["fat", "lfs2"])
def test_counter_survives_a_power_cut_at_every_write(native_dirs, fmt, fs, mode, k):
    """Every block write (and littlefs erase) of two boots of the device is, in turn, the one the power cut
    drops or tears; after the reboot no number comes back and at most 2k are skipped."""
    r = powercut(native_dirs, fmt, fs, mode, k)
    assert r["cuts"] == r["writes"] >= 8, r  # two boots, four marks each: at least one write per mark
    assert r["failed"] == [] and r["reused"] == 0 and r["errors"] == 0, r["failed"][:5]
    assert r["skipped_max"] <= 2 * k


@pytest.mark.parametrize("mode", ["drop", "tear"])
def test_the_harness_catches_the_rename_scheme_on_fat(native_dirs, mode):
    """The 0.1 scheme (PATH.tmp renamed over PATH) against the same harness: VfsFat's rename removes the
    destination first, so a cut between the two steps leaves only PATH.tmp and the counter restarts at 0.
    (littlefs renames atomically: no reuse there, as the issue measured.)"""
    fat = powercut(native_dirs, "py", "fat", mode, 4, "rename")
    assert fat["reused"] >= 10 and all("reused" in why for _, why in fat["failed"]), fat
    assert powercut(native_dirs, "py", "lfs2", mode, 4, "rename")["reused"] == 0


def _slot(mark):
    b = mark.to_bytes(8, "big")
    return (b + hashlib.sha256(b"iotenv mark" + b).digest()[:8]).hex()


def test_counter_slots_alternate_and_hold_a_checked_mark(interp, tmp_path):  # noqa: F811
    path = interp.scratch(tmp_path, "iotenv.seq")
    got = interp.batch(tmp_path, [
        ["counter", path, 4, 6, None],    # first boot: 0..5, marks 4 (slot 1) then 8 (slot 0)
        ["read", path + ".0"], ["read", path + ".1"],
        ["counter", path, 4, 2, None],    # reboot: resumes at 8, writes 12 over the older slot (1)
        ["counter", path, 4, 1, 100],     # after a resync said next_seq = 100: 104 over slot 0
        ["read", path], ["read", path + ".tmp"]])
    assert ok(got[0]) == [[0, 1, 2, 3, 4, 5], [8, 4]]
    assert (ok(got[1]), ok(got[2])) == (_slot(8), _slot(4))
    assert ok(got[3]) == [[8, 9], [8, 12]]
    assert ok(got[4]) == [[100], [104, 12]]
    assert ok(got[5]) is None and ok(got[6]) is None  # nothing else written, nothing renamed


def test_counter_ignores_a_damaged_stale_or_missing_slot(interp, tmp_path):  # noqa: F811
    base = interp.scratch(tmp_path, "seq")
    cases = {
        "truncated": _slot(40)[:-2], "extended": _slot(40) + "00", "bad check": _slot(40)[:-1] + "0",
        "empty": "", "decimal text": b"40".hex(), "mark flipped": _slot(41)[:16] + _slot(40)[16:],
        "stale (an older mark)": _slot(8),
    }
    cmds = []
    for i, damaged in enumerate(cases.values()):
        p = f"{base}{i}"
        cmds += [["write_hex", p + ".0", _slot(12)], ["write_hex", p + ".1", damaged], ["counter", p, 4, 1, None]]
    p = f"{base}m"
    cmds += [["write_hex", p + ".1", _slot(28)], ["counter", p, 4, 1, None]]   # slot 0 missing
    got = [ok(g) for g in interp.batch(tmp_path, cmds)]
    for i, name in enumerate(cases):
        # the damaged slot is the one overwritten next; the good one is never touched
        assert got[3 * i + 2] == [[12], [12, 16]], name
    assert got[-1] == [[28], [32, 28]]


def test_counter_refuses_rather_than_restart(interp, tmp_path):  # noqa: F811
    p = interp.scratch(tmp_path, "seq")
    q = interp.scratch(tmp_path, "old")
    got = interp.batch(tmp_path, [
        ["write_hex", p + ".0", "00"], ["write_hex", p + ".1", _slot(9)[:-2]], ["counter", p, 4, 1, None],
        ["counter", q, 0, 1, None], ["counter", q, -3, 1, None], ["counter", q, True, 1, None],
        ["counter", q, 1.5, 1, None], ["counter", q, 2**32, 1, None]])
    assert (got[2]["ok"], got[2]["code"]) == (False, "malformed") and "damaged" in got[2]["msg"]
    for g in got[3:]:
        assert (g["ok"], g["code"]) == (False, "malformed") and "k must be" in g["msg"], g
    assert ok(interp.batch(tmp_path, [["read", q + ".0"]])[0]) is None  # nothing written for a bad k


def test_counter_resumes_from_the_single_file_of_version_0_1(interp, tmp_path):  # noqa: F811
    a, b, c = (interp.scratch(tmp_path, n) for n in ("a", "b", "c"))
    got = interp.batch(tmp_path, [
        ["write", a, "37"], ["counter", a, 4, 2, None],                       # PATH, as 0.1 left it
        ["write", b + ".tmp", "64"], ["counter", b, 4, 1, None],              # only PATH.tmp: a FAT cut mid-rename
        ["write", c, "not a number"], ["counter", c, 4, 1, None]])
    assert ok(got[1]) == [[37, 38], [-1, 41]]
    assert ok(got[3]) == [[64], [-1, 68]]
    assert (got[5]["ok"], got[5]["code"]) == (False, "malformed")


# -- resync waiting time (SPEC.md section 8) ------------------------------------------------------------------
def _response(nonce_hex, next_seq=4242, backend_time=1763900123, kind="resync-response", size=16):
    payload = (bytes.fromhex(nonce_hex) + next_seq.to_bytes(4, "big") + backend_time.to_bytes(4, "big"))[:size]
    return envelope.seal(KEY16, payload, device="pico-1", seq=9, ts=backend_time, direction="down", type=kind)


def test_resync_response_within_and_after_t_wait(interp, tmp_path):  # noqa: F811
    """An injected millisecond clock: the answer 60 s after the request counts, 60.001 s is stale and drops
    the request (a correct answer after that is ignored), and each request is answered once."""
    key = KEY16.hex()
    nonce = "0011223344556677"
    ok_now, late, after_late, twice, custom, wrong_nonce = interp.batch(tmp_path, [
        ["resync_wait", key, nonce, [[_response(nonce), 60000]]],
        ["resync_wait", key, nonce, [[_response(nonce), 60001]]],
        ["resync_wait", key, nonce, [[_response(nonce), 60001], [_response(nonce), 60002]]],
        ["resync_wait", key, nonce, [[_response(nonce), 10], [_response(nonce), 20]]],
        ["resync_wait", key, nonce, [[_response(nonce), 5001]], 5],
        ["resync_wait", key, nonce, [[_response("ff" * 8), 10], [_response(nonce), 20]]]])
    assert ok(ok_now) == [[4242, 1763900123]]
    assert ok(late) == ["stale"]
    assert ok(after_late) == ["stale", None]
    assert ok(twice) == [[4242, 1763900123], None]
    assert ok(custom) == ["stale"]
    assert ok(wrong_nonce) == [None, [4242, 1763900123]]  # another request's answer leaves this one pending


def _tampered(text: str) -> str:
    """The response with its last two characters changed (always changed: the text may already end in "AA";
    a final "A" keeps the base64url canonical)."""
    return text[:-2] + ("AA" if text[-2:] != "AA" else "BA")


def test_resync_response_wrong_kind_is_malformed(interp, tmp_path):  # noqa: F811
    key = KEY16.hex()
    nonce = "0011223344556677"
    got = ok(interp.batch(tmp_path, [["resync_wait", key, nonce, [
        [_response(nonce, kind="data"), 1], [_response(nonce, size=15), 2],
        [_tampered(_response(nonce)), 3], [_response(nonce), 4]]]])[0])
    assert got == ["malformed", "malformed", "auth", [4242, 1763900123]]


def test_resync_default_clock_is_ticks_ms(interp, tmp_path):  # noqa: F811
    """Without an injected clock the request is timed by time.ticks_ms (and a wall-clock jump beyond the
    elapsed ticks, which a ticks_ms wrap after 12.4 days would hide, makes it stale)."""
    key = KEY16.hex()
    nonce = "0011223344556677"
    now, jumped = interp.batch(tmp_path, [["resync_ticks", key, nonce, _response(nonce), 0],
                                          ["resync_ticks", key, nonce, _response(nonce), 10 * 86400]])
    assert ok(now) == [4242, 1763900123]
    assert ok(jumped) == "stale"
