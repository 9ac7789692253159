"""Helpers for the replay tests: a real redis-server on a random loopback port, and a reference model."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from iotenvelope.replay import ACCEPT, DUPLICATE, TOO_OLD

from servers import free_port

ROOT = Path(__file__).resolve().parent.parent


class RedisServer:
    """A redis-server child process on 127.0.0.1:<random port>, persisting every write (AOF, fsync always)."""

    def __init__(self, directory: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server not found: run .ci/install (Debian package redis-server)")
        self.binary = binary
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.start()

    def start(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--protected-mode", "yes",
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.dir / "redis.log").read_text(errors="replace")[-2000:] if (self.dir / "redis.log").exists() else ""
                pytest.fail(f"redis-server exited with {self.proc.returncode}: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        pytest.fail("redis-server did not answer PING within 20 s")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill9(self) -> None:
        """Crash the server (SIGKILL: no shutdown save)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def flush(self) -> None:
        import redis
        r = redis.Redis(host="127.0.0.1", port=self.port)
        r.flushall()
        r.close()


class Model:
    """The reference: SPEC.md §6 step 7 written as plainly as possible (a set of accepted seqs and a top)."""

    def __init__(self, window: int):
        self.window = window
        self.top: int | None = None
        self.accepted: set[int] = set()

    def accept(self, seq: int) -> int:
        if self.top is None or seq > self.top:
            self.top = seq
        elif seq <= self.top - self.window:
            return TOO_OLD
        elif seq in self.accepted:
            return DUPLICATE
        self.accepted.add(seq)
        return ACCEPT


def verdict(err: object) -> int:
    from iotenvelope.errors import DuplicateError, TooOldError
    if err is None:
        return ACCEPT
    if isinstance(err, DuplicateError):
        return DUPLICATE
    if isinstance(err, TooOldError):
        return TOO_OLD
    raise AssertionError(f"unexpected {err!r}")


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """Run ``python -m iotenvelope ARGS`` from the checkout, text in and out."""
    import sys
    return subprocess.run([sys.executable, "-m", "iotenvelope", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env=cli_env(), timeout=60)


def cli_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


_counter = [0]


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make_store(request, tmp_path):
    """A factory: make_store(window) -> a fresh, empty store of the parametrised kind (closed at teardown)."""
    from iotenvelope.replay import open_store
    kind = request.param
    opened = []

    def make(window: int = 64, *, reopen: bool = False):
        if kind == "memory":
            url = "memory://"
        elif kind == "sqlite":
            url = f"sqlite://{tmp_path}/w{window}.db?synchronous=normal"
        else:
            server = request.getfixturevalue("redis_server")
            if not reopen:
                _counter[0] += 1
            url = f"{server.url}?prefix=t{os.getpid()}-{_counter[0]}:"
        store = open_store(url, window=window)
        opened.append(store)
        make.urls.append(url)
        return store

    make.kind = kind
    make.urls = []
    yield make
    for store in opened:
        store.close()
