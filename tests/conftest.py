import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, stdin: bytes = b"", check_traceback: bool = True):
    """Run ``python -m iotenvelope`` from the checkout; returns CompletedProcess (bytes)."""
    proc = subprocess.run([sys.executable, "-m", "iotenvelope", *args], input=stdin, capture_output=True,
                          cwd=ROOT, timeout=120)
    if check_traceback:
        assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


@pytest.fixture
def cli():
    return run_cli
