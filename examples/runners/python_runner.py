#!/usr/bin/env python3
"""A verify runner on the iotenvelope Python package's public API: the envelope forms and AES-CBC-PKCS7.

    iotenvelope verify --peer py-ref="python3 examples/runners/python_runner.py"

It answers the requests of docs/runner-protocol.md on stdin/stdout. Use it as the template for a runner around
another Python library: replace the calls in OPS. (The package's own python row, iotenvelope.verify.peers.python,
answers the legacy profiles too.)
"""

import json
import sys

import iotenvelope
from iotenvelope.primitives import cipher
from iotenvelope.replay import MemoryStore

PROTOCOL = 1


def open_one(r, replay=None):
    opened = iotenvelope.open(bytes.fromhex(r["secret_hex"]), r["envelope"], direction=r["direction"],
                              format=r["form"], freshness=None, replay=replay,
                              device=r["device"] if r["form"] == "lean" else None)
    return {"plaintext_hex": opened.plaintext.hex(), "device": opened.device, "direction": opened.direction,
            "type": opened.type, "seq": opened.seq, "ts": opened.ts}


def open_many(r):
    window = MemoryStore()  # one fresh replay window for the whole list
    results = []
    for text in r["envelopes"]:
        try:
            results.append({"ok": True, **open_one(dict(r, envelope=text), replay=window)})
        except iotenvelope.IotEnvelopeError as exc:
            results.append({"ok": False, "error": exc.code})
    return {"results": results}


def seal(r):
    iv = None if r["form"] == "lean" else bytes.fromhex(r["iv_hex"])
    text = iotenvelope.seal(bytes.fromhex(r["secret_hex"]), bytes.fromhex(r["plaintext_hex"]), device=r["device"],
                            seq=r["seq"], ts=r["ts"], direction=r["direction"], type=r["type"], format=r["form"], iv=iv)
    return {"envelope": text}


OPS = {
    "open": open_one,
    "open-many": open_many,
    "seal": seal,
    "cbc-decrypt": lambda r: {"plaintext_hex": cipher.decrypt(bytes.fromhex(r["key_hex"]), bytes.fromhex(r["iv_hex"]),
                                                              bytes.fromhex(r["ct_hex"])).hex()},
    "cbc-encrypt": lambda r: {"ct_hex": cipher.encrypt(bytes.fromhex(r["key_hex"]), bytes.fromhex(r["iv_hex"]),
                                                       bytes.fromhex(r["plaintext_hex"])).hex()},
}
FORMS = ["compact", "json", "lean"]


def answer(r):
    if r.get("op") == "hello":
        return {"ok": True, "protocol": PROTOCOL, "name": "iotenvelope-python-example",
                "version": iotenvelope.__version__, "ops": sorted(OPS), "forms": FORMS, "profiles": []}
    if r.get("op") not in OPS or r.get("form", "compact") not in FORMS:
        return {"ok": False, "error": "unsupported"}
    try:
        return {"ok": True, **OPS[r["op"]](r)}
    except iotenvelope.IotEnvelopeError as exc:
        return {"ok": False, "error": exc.code, "message": str(exc)}
    except (KeyError, TypeError, ValueError) as exc:
        return {"ok": False, "error": "bad-request", "message": type(exc).__name__}


def main():
    for line in sys.stdin:
        if line.strip():
            request = json.loads(line)
            sys.stdout.write(json.dumps({"id": request.get("id"), **answer(request)}) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
