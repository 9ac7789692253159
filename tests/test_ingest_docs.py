"""docs/ingest.md's "Backend in five minutes" runs as written: the shell block, in a temporary directory, with
`iotenvelope` being this checkout and the port a free one. Only its `pip install` line is left out (the
checkout under test is what would be installed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from replay_support import ROOT
from servers import free_port


def test_five_minute_backend_runs_as_written(tmp_path):
    if shutil.which("curl") is None:
        pytest.fail("curl not found: run .ci/install (Debian package curl)")
    doc = (ROOT / "docs" / "ingest.md").read_text(encoding="utf-8")
    block = re.search(r"## Backend in five minutes\n+```sh\n(.*?)```", doc, re.S).group(1)
    lines = block.splitlines()
    assert lines[0].startswith("pip install 'iotenvelope[serve]'")
    port = str(free_port())
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + "\n".join(lines[1:]).replace("8080", port) + "\n"
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "iotenvelope").write_text(f"#!/bin/sh\nexec {sys.executable} -m iotenvelope \"$@\"\n")
    (shim / "iotenvelope").chmod(0o755)
    env = dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}", PYTHONPATH=str(ROOT))
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = [line for line in proc.stdout.splitlines() if line.strip()]
    stored, duplicate, readings, queued = (json.loads(x) for x in out)
    assert stored["ok"] is True and stored["device"] == "sensor-01" and stored["seq"] == 1 and stored["down"] == []
    assert duplicate["ok"] is False and duplicate["code"] == "replay-duplicate"
    assert [(r["device"], r["seq"], r["plaintext"]) for r in readings] == [("sensor-01", 1, '{"co2": 1223}')]
    assert queued == {"ok": True, "id": 1, "device": "sensor-01", "status": "queued", "route": "http"}
    assert (tmp_path / "backend" / "ingest.db").exists()
