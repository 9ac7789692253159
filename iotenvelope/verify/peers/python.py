"""The Python implementation (this package, on pycryptodome) as a verify peer."""

from __future__ import annotations

import json
from pathlib import Path

from ...primitives import cipher
from .. import cryptojs_vectors, lean_vectors, vectors
from ... import envelope
from ...profiles import fernet_token as fernet
from ...profiles import spaniakos
from ...errors import IotEnvelopeError
from . import Peer, Result

ORDER = 0


def _hex(test: dict, key: str) -> bytes:
    return bytes.fromhex(test[key])


def check_envelope_file(data: dict) -> Result:
    result = Result()
    for group, test in vectors.iter_tests(data):
        label = vectors.label(test)
        secret = bytes.fromhex(group["secret"])
        try:
            opened = envelope.open(secret, test["envelope"], direction=group["receiverDirection"],
                                   format=test["format"], freshness=None)
        except IotEnvelopeError as exc:
            ok = test["result"] == "invalid" and exc.code == test.get("error")
            result.record(ok, label, f"raised {exc.code} ({exc}), expected {test['result']} {test.get('error', '')}")
            continue
        if test["result"] != "valid":
            result.record(False, label, f"opened, expected {test['error']}")
            continue
        got = (opened.plaintext.hex(), opened.device, opened.direction, opened.type, opened.seq, opened.ts)
        want = (test["msg"], test["dev"], test["direction"], test["type"], test["seq"], test["ts"])
        if got != want:
            result.record(False, label, f"opened to {got}, expected {want}")
            continue
        if "NonCanonicalJson" in test["flags"] or "TrailingNewline" in test["flags"]:  # open only
            result.record(True, label)
            continue
        sealed = envelope.seal(secret, _hex(test, "msg"), device=test["dev"], seq=test["seq"], ts=test["ts"],
                               direction=test["direction"], type=test["type"], iv=_hex(test, "iv"),
                               format=test["format"])
        result.record(sealed == test["envelope"], label, "seal produced different text")
    return result


def check_lean_file(data: dict) -> Result:
    """envelope_v1_lean.json: open each case for its 'dev', compare, reseal (deterministic: the IV comes from seq)."""
    from ...replay import MemoryStore

    result = Result()
    for group, test in vectors.iter_tests(data):
        label = vectors.label(test)
        secret = bytes.fromhex(group["secret"])
        opts = {"direction": group["receiverDirection"], "format": "lean", "device": test["dev"], "freshness": None}
        if "RepeatedSeq" in test["flags"]:
            store, got = MemoryStore(), []
            for text, msg in zip(test["envelopes"], test["msgs"]):
                try:
                    opened = envelope.open(secret, text, replay=store, **opts)
                    got.append("valid" if opened.plaintext.hex() == msg else "wrong plaintext")
                except IotEnvelopeError as exc:
                    got.append(exc.code)
            result.record(got == test["results"], label, f"results {got}, expected {test['results']}")
            continue
        try:
            opened = envelope.open(secret, test["envelope"], **opts)
        except IotEnvelopeError as exc:
            ok = test["result"] == "invalid" and exc.code == test.get("error")
            result.record(ok, label, f"raised {exc.code} ({exc}), expected {test['result']} {test.get('error', '')}")
            continue
        if test["result"] != "valid":
            result.record(False, label, f"opened, expected {test['error']}")
            continue
        got = (opened.plaintext.hex(), opened.device, opened.direction, opened.type, opened.seq, opened.ts)
        want = (test["msg"], test["dev"], test["direction"], test["type"], test["seq"], test["ts"])
        if got != want:
            result.record(False, label, f"opened to {got}, expected {want}")
            continue
        sealed = envelope.seal(secret, _hex(test, "msg"), device=test["dev"], seq=test["seq"], ts=test["ts"],
                               direction=test["direction"], type=test["type"], format="lean")
        result.record(sealed == test["envelope"].rstrip("\r\n"), label, "seal produced different text")
    return result


def check_wycheproof_cbc(data: dict) -> Result:
    result = Result()
    for group, test in vectors.iter_tests(data):
        label = vectors.label(test)
        key, iv, msg, ct = (bytes.fromhex(test[k]) for k in ("key", "iv", "msg", "ct"))
        opened, plain = result.attempt(test, label, "decrypt", lambda: cipher.decrypt(key, iv, ct))
        if opened:
            result.record(plain == msg and cipher.encrypt(key, iv, msg) == ct, label, "wrong bytes")
    return result


def check_dweeter_file(data: dict) -> Result:
    """dweeter 0.3.0 vectors: seal reproduces the posted content and thing; open returns the receiver's data."""
    from ...profiles import dweeter
    result = Result()
    for group, test in vectors.iter_tests(data):
        label = vectors.label(test)
        ok, opened = result.attempt(test, label, "open", lambda: dweeter.open_message(
            test["dweet"], test["key"], test["useBase64"], test["mailbox"]))
        if not ok:
            continue
        sealed = dweeter.seal_data(test["data"], test["key"], test["mailbox"], test["ts"], test["useBase64"])
        body = json.dumps(sealed["content"])
        ok = (opened.data == test["received"] and sealed["thing"] == test["dweet"]["thing"]
              and body == test["wire"]["body"] and test["wire"]["url"].endswith("/" + sealed["thing"]))
        result.record(ok, label, "different bytes or data")
    return result


def check_fernet(data: dict) -> Result:
    result = Result()
    for group, test in vectors.iter_tests(data):
        label = vectors.label(test)
        key = fernet.parse_key(test["secret"])
        if group["type"] == "FernetGenerate":
            token = fernet.encrypt(key, _hex(test, "msg"), now=test["now"], iv=_hex(test, "iv"))
            result.record(token == test["token"], label, "token differs")
            continue
        opened, plain = result.attempt(test, label, "decrypt", lambda: fernet.decrypt(key, test["token"],
                                                                                      ttl=test["ttl"], now=test["now"]))
        if opened:
            result.record(plain == _hex(test, "msg"), label, "wrong bytes")
    return result


CHECKERS = {
    "fernet": check_fernet,
    vectors.ENVELOPE_ALGORITHM: check_envelope_file,
    lean_vectors.LEAN_ALGORITHM: check_lean_file,
    "AES-CBC-PKCS5": check_wycheproof_cbc,
    "dweeter-0.3.0": check_dweeter_file,
    cryptojs_vectors.ALGORITHM: cryptojs_vectors.check_file,
    spaniakos.ALGORITHM: spaniakos.check_vector_file,
}


class PythonPeer(Peer):
    name = "python"

    @property
    def algorithms(self):  # type: ignore[override]
        return frozenset(CHECKERS)

    def run(self, path: Path, data: dict) -> Result:
        return CHECKERS[vectors.algorithm_of(data)](data)


def discover() -> list[Peer]:
    return [PythonPeer()]
