"""`iotenvelope serve` as a real process (gunicorn master + workers in their own process group) for the tests."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from replay_support import ROOT, cli_env
from servers import free_port


class Serve:
    def __init__(self, db: str, keyring, *, workers: int = 2, port: int | None = None, extra=(), log=None):
        self.db, self.keyring, self.workers, self.extra = db, str(keyring), workers, list(extra)
        self.port = port or free_port()
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "iotenvelope", "serve", "--db", self.db, "--keyring", self.keyring,
             "--port", str(self.port), "--workers", str(self.workers), *self.extra],
            cwd=ROOT, env=cli_env(), stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"iotenvelope serve exited with {self.proc.returncode}")
            try:
                if request("127.0.0.1", self.port, "GET", "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        pytest.fail("iotenvelope serve did not answer /healthz within 60 s")

    def kill9(self) -> None:
        """kill -9 the master and every worker at once (its process group), as a machine crash would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def hup(self) -> None:
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)


def request(host, port, method, path, body=b"", ctype="text/plain", headers=None, timeout=10):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": ctype, **(headers or {})})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, (json.loads(data) if resp.getheader("Content-Type", "").startswith("application/json")
                             else data)
    finally:
        conn.close()
