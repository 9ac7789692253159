"""A real PostgreSQL server for the tests: initdb into a fresh temporary directory and pg_ctl start on a random
loopback port, run as an unprivileged user (PostgreSQL refuses to run as root: as root the tests use the
``postgres`` account the Debian package creates). Nothing is shared with a system cluster."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from servers import free_port


def _bindir() -> Path | None:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


class PostgresServer:
    """initdb + pg_ctl in a temp dir; ``url`` is a postgresql:// URL for the ``iotenv`` superuser (trust auth on
    loopback only). ``kill9()`` crashes the postmaster; ``start()`` brings it back from the same data directory."""

    def __init__(self):
        bindir = _bindir()
        if bindir is None:
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found: run .ci/install (Debian package"
                        " postgresql)")
        self.bin = bindir
        self.base = Path(tempfile.mkdtemp(prefix="iotenv-pg-"))
        self.data = self.base / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root and there is no 'postgres' user to run PostgreSQL as")
            os.chown(self.base, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "iotenv", "--auth=trust", "-E", "UTF8", "--no-locale")
        self.port = 0
        self.start()

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.prefix + [str(self.bin / tool), *args], capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            pytest.fail(f"{tool} failed ({proc.returncode}): {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
        return proc

    def start(self) -> None:
        self.port = self.port or free_port()  # a restart keeps the port: clients reconnect to the same URL
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.base}"
                " -c fsync=on -c synchronous_commit=on -c max_connections=60 -c shared_buffers=16MB")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-o", opts, "-w", "-t", "60",
                  "start")

    @property
    def url(self) -> str:
        return f"postgresql://iotenv@127.0.0.1:{self.port}/postgres"

    def database(self, name: str) -> str:
        """A fresh database ``name`` on this server; returns its URL."""
        import psycopg
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://iotenv@127.0.0.1:{self.port}/{name}"

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill9(self) -> None:
        pid = self.postmaster_pid()
        os.kill(pid, 9)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        time.sleep(0.5)  # the backends notice the postmaster is gone and exit

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    server = PostgresServer()
    yield server
    server.stop()
