#!/usr/bin/env python3
"""A deliberately broken verify runner (tests only): the Python example runner with two planted bugs.

1. seal of a 1-byte plaintext returns a text with its last character changed;
2. opening the JSON form does not check the direction (a reflected JSON envelope is accepted).

tests/test_runner_protocol.py and tests/test_ci_templates.py compute from the vector files which tcIds these
bugs must fail and check that every report names exactly those.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "runners"))
import python_runner  # noqa: E402


def answer(r):
    if r.get("op") == "open" and r.get("form") == "json":
        out = None
        for direction in (r["direction"], "down" if r["direction"] == "up" else "up"):
            out = python_runner.answer(dict(r, direction=direction))
            if out.get("ok") or out.get("error") != "wrong-direction":
                return out
        return out
    out = python_runner.answer(r)
    if r.get("op") == "seal" and len(r.get("plaintext_hex", "")) == 2 and out.get("ok"):
        text = out["envelope"]
        out["envelope"] = text[:-2] + ("A" if text[-2] != "A" else "B") + text[-1]
    if r.get("op") == "hello":
        out["name"] = "broken-example"
    return out


for line in sys.stdin:
    if line.strip():
        request = json.loads(line)
        sys.stdout.write(json.dumps({"id": request.get("id"), **answer(request)}) + "\n")
        sys.stdout.flush()
