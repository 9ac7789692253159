"""Real crypto-js reading the crypto-js PBKDF2 vector files, one ``cryptojs-native-<version>`` peer per installed
version (issue 14).

Unlike the ``js-cryptojs-*`` peers (interop/js's library on crypto-js), this runs only crypto-js's own calls, the way
receiving code is written (``interop/js/scripts/cryptojs-native-peer.js``): every version reads every version's file
with the settings spelled out, so the matrix is also the cross-version table of the 4.2.0 upgrade. Cases whose
derivation needs more than :data:`MAX_ITERATIONS` iterations (crypto-js 4.2.0's 250000 default: about 10 s each in
pure JavaScript) are left out and shown as unsupported; Python checks them, and crypto-js itself decrypted each of
them when it wrote the file.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from . import Peer, Result, Subset, js

ORDER = 11
SCRIPT = js.JS_DIR / "scripts" / "cryptojs-native-peer.js"
ALGORITHM = "cryptojs-pbkdf2"
MAX_ITERATIONS = 10000
WHY = (f"more than {MAX_ITERATIONS} PBKDF2 iterations (about 10 s per derivation in crypto-js); checked by python,"
       " and decrypted by crypto-js when it wrote the file")


def _slow(group: dict, test: dict) -> bool:
    return group["iterations"] > MAX_ITERATIONS or test.get("readWith", {}).get("iterations", 0) > MAX_ITERATIONS


class CryptoJsNativePeer(Peer):
    algorithms = frozenset({ALGORITHM})

    def __init__(self, version: str) -> None:
        self.version = version
        self.name = f"cryptojs-native-{version}"

    def unavailable_reason(self) -> str | None:
        return js.unavailable_reason(self.version)

    def subset(self, data: dict) -> Subset | None:
        groups, left_out = [], 0
        for group in data["testGroups"]:
            kept = [t for t in group["tests"] if not _slow(group, t)]
            left_out += len(group["tests"]) - len(kept)
            if kept:
                groups.append({**group, "tests": kept})
        if not left_out:
            return None
        return Subset(f"[<={MAX_ITERATIONS} iterations]", {**data, "testGroups": groups}, left_out, WHY)

    def run(self, path: Path, data: dict) -> Result:
        request = [{"op": "pbkdf2-check", "lib": self.version, "path": str(Path(path).resolve()),
                    "maxIterations": MAX_ITERATIONS}]
        proc = subprocess.run([js.node_binary() or "node", str(SCRIPT)], input=json.dumps(request), text=True,
                              capture_output=True, cwd=js.JS_DIR, timeout=600)
        if proc.returncode:
            return Result(0, 1, [f"node failed: {proc.stderr.strip()[-300:]}"])
        answer = json.loads(proc.stdout)[0]
        if "error" in answer:
            return Result(0, 1, [answer["error"]])
        return Result(answer["passed"], answer["failed"], list(answer["failures"]))


def discover() -> list[Peer]:
    versions = sorted(set(js.EXPECTED_VERSIONS) | set(js.installed_versions()),
                      key=lambda v: tuple(int(x) for x in v.split(".")))
    return [CryptoJsNativePeer(v) for v in versions]
