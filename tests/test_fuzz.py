"""A short run of each atheris harness in fuzz/ (issue 10 F1: the fuzzers live in the repo and CI runs them).

Each run is a few seconds of libFuzzer-driven input (fixed seed, so a CI failure can be replayed with the same
command); the harness itself raises on any exception that is not the library's own error, and on a disagreement
between the JSON scanner and json.loads. Longer runs: ``PYTHONPATH=$PWD python3 fuzz/fuzz_open.py -max_total_time=600``.
atheris comes from the dev extras (pip install -e '.[dev]'); without it these tests FAIL, they do not skip.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

SECONDS = 4


@pytest.mark.parametrize("harness", ["fuzz_open.py", "fuzz_diagnose.py"])
def test_fuzz_harness_short_run(harness, tmp_path):
    try:
        import atheris  # noqa: F401
    except ImportError:
        pytest.fail("atheris is not installed: pip install -e '.[dev]' (.ci/install.d/10-python.sh)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    import iotenvelope
    secret = bytes(range(16))
    for i, fmt in enumerate(("compact", "json")):
        (corpus / f"seed{i}").write_bytes(b"\x01" + iotenvelope.seal(secret, b"x", device="d1", seq=1, ts=0,
                                                                     format=fmt).encode())
    proc = subprocess.run([sys.executable, str(ROOT / "fuzz" / harness), f"-max_total_time={SECONDS}", "-seed=1",
                           "-rss_limit_mb=2048", str(corpus)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    tail = proc.stderr[-3000:]
    assert proc.returncode == 0, tail
    runs = re.search(r"Done (\d+) runs", proc.stderr)
    assert runs and int(runs.group(1)) > 1000, tail
