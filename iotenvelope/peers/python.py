"""The Python implementation (this package, on pycryptodome) as a verify peer."""

from __future__ import annotations

from pathlib import Path

from .. import cipher, envelope, vectors
from ..profiles import spaniakos
from ..errors import IotEnvelopeError
from . import Peer, Result

ORDER = 0


def _hex(test: dict, key: str) -> bytes:
    return bytes.fromhex(test[key])


def check_envelope_file(data: dict) -> Result:
    result = Result()
    for group, test in vectors.iter_tests(data):
        label = f"tcId {test['tcId']} ({test['comment']})"
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
        if "NonCanonicalJson" in test["flags"]:
            result.record(True, label)
            continue
        sealed = envelope.seal(secret, _hex(test, "msg"), device=test["dev"], seq=test["seq"], ts=test["ts"],
                               direction=test["direction"], type=test["type"], iv=_hex(test, "iv"),
                               format=test["format"])
        result.record(sealed == test["envelope"], label, "seal produced different text")
    return result


def check_wycheproof_cbc(data: dict) -> Result:
    result = Result()
    for group, test in vectors.iter_tests(data):
        label = f"tcId {test['tcId']} ({test['comment']})"
        key, iv, msg, ct = (bytes.fromhex(test[k]) for k in ("key", "iv", "msg", "ct"))
        try:
            plain = cipher.decrypt(key, iv, ct)
        except IotEnvelopeError as exc:
            result.record(test["result"] == "invalid", label, f"decrypt raised {exc.code}: {exc}")
            continue
        if test["result"] == "invalid":
            result.record(False, label, "decrypt accepted an invalid ciphertext")
            continue
        result.record(plain == msg and cipher.encrypt(key, iv, msg) == ct, label, "wrong bytes")
    return result


CHECKERS = {
    vectors.ENVELOPE_ALGORITHM: check_envelope_file,
    "AES-CBC-PKCS5": check_wycheproof_cbc,
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
