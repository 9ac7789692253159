"""Salted-hash auth and uploads against a real co2logserver 0.1.2 (pip-installed, run on 127.0.0.1)."""

import hashlib
import http.client
import importlib.util
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iotenvelope.primitives import httpauth
from iotenvelope.profiles import upload
from iotenvelope.errors import AuthenticationError, MalformedError, UsageError

from servers import free_port

ROOT = Path(__file__).resolve().parents[1]
SALTS = ["first-salt", "s3cret"]
SALT = "s3cret"


class Server:
    def __init__(self, tmp: Path):
        if importlib.util.find_spec("co2logserver") is None or importlib.util.find_spec("msgpack") is None:
            pytest.fail("co2logserver/msgpack are not installed: run .ci/install (pip install co2logserver msgpack)")
        self.db = tmp / "co2.sqlite"
        config = tmp / "config.py"
        config.write_text(f"CO2LOGSERVER_UPLOAD_REQUIRES_AUTH = True\nCO2LOGSERVER_CHECKSUM_SALTS = {SALTS!r}\n")
        self.port = free_port()
        self.log = open(tmp / "server.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "co2logserver", "-b", "127.0.0.1", "-p", str(self.port),
                                      "-f", str(self.db), "-c", str(config)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    pytest.fail(f"co2logserver did not start; log: {(tmp / 'server.log').read_text()[-2000:]}")
                time.sleep(0.1)
        self.url = f"http://127.0.0.1:{self.port}"

    def post(self, body: bytes, headers: list[tuple[str, str]]) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest("POST", "/upload", skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def rows(self, column: str, value: str) -> int:
        with sqlite3.connect(self.db) as db:
            return db.execute(f'SELECT COUNT(*) FROM data WHERE "{column}" = ?', (value,)).fetchone()[0]

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("co2logserver"))
    yield srv
    srv.close()


def cli(*args, stdin: bytes = b"") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "iotenvelope", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)


def run_all(jobs):
    """Start every CLI call at once (each is a fresh interpreter), then collect (rc, stdout, stderr)."""
    procs = [cli(*args) for args, _ in jobs]
    out = []
    for proc, (_, stdin) in zip(procs, jobs):
        stdout, stderr = proc.communicate(stdin, timeout=60)
        out.append((proc.returncode, stdout.decode(), stderr.decode()))
    return out


def bodies(marker: str):
    reading = {"marker": marker, "co2": 1223, "temp": 21.5, "note": "café, \"quoted\"", "time": 1763900000}
    return {fmt: upload.encode(reading, fmt) for fmt in upload.CONTENT_TYPES}


def test_usable_algorithms_are_the_measured_set():
    assert httpauth.SALTED_ALGORITHMS == ("blake2b", "blake2s", "md5", "sha1", "sha224", "sha256", "sha384", "sha512")


def test_sign_accepted_for_every_algorithm_and_content_type(server):
    # the full matrix through httpauth.sign (what `auth sign` calls) ...
    for alg in httpauth.SALTED_ALGORITHMS:
        for fmt, (ctype, body) in bodies(f"lib-{alg}").items():
            name, value = httpauth.sign(body, SALT, f"salted-{alg}")
            assert server.post(body, [("Content-Type", ctype), (name, value)]) == 200, (alg, fmt)
        assert server.rows("marker", f"lib-{alg}") == 4
    # ... and the CLI itself: every algorithm once, the content types in rotation (each twice)
    formats = list(upload.CONTENT_TYPES)
    jobs, meta = [], []
    for i, alg in enumerate(httpauth.SALTED_ALGORITHMS):
        ctype, body = bodies(f"cli-{alg}")[formats[i % 4]]
        jobs.append((["auth", "sign", "--scheme", f"salted-{alg}", "--secret", SALT], body))
        meta.append((alg, ctype, body))
    for (rc, stdout, stderr), (alg, ctype, body) in zip(run_all(jobs), meta):
        assert rc == 0, stderr
        name, value = stdout.strip().split(": ")
        assert name == f"Content-{alg.upper()}-Salted"
        assert value == hashlib.new(alg, body + SALT.encode()).hexdigest()
        assert server.post(body, [("Content-Type", ctype), (name, value)]) == 200, alg
        assert server.rows("marker", f"cli-{alg}") == 1


def test_cli_verify_accepts_all_algorithms_at_once(server):
    # one request per content type carrying all eight headers: co2logserver needs every one to match
    jobs = []
    for fmt, (ctype, body) in bodies("all-headers").items():
        headers = [httpauth.sign(body, SALT, f"salted-{alg}") for alg in httpauth.SALTED_ALGORITHMS]
        assert server.post(body, [("Content-Type", ctype), *headers]) == 200, fmt
        args = ["auth", "verify", "--secret", SALTS[0], "--secret", SALTS[1]]
        for name, value in headers:
            args += ["--header", f"{name}: {value}"]
        jobs.append((args, body))
    for rc, stdout, stderr in run_all(jobs):
        assert (rc, stdout.strip()) == (0, "ok"), stderr
    assert server.rows("marker", "all-headers") == 4


def test_wrong_secret_gets_403_for_every_algorithm_and_content_type(server):
    for alg in httpauth.SALTED_ALGORITHMS:
        for fmt, (ctype, body) in bodies(f"wrong-{alg}").items():
            name, value = httpauth.sign(body, "not-the-salt", f"salted-{alg}")
            assert server.post(body, [("Content-Type", ctype), (name, value)]) == 403, (alg, fmt)
            with pytest.raises(AuthenticationError):
                httpauth.verify_headers(body, SALTS, [(name, value)])
        assert server.rows("marker", f"wrong-{alg}") == 0


def equivalence_cases(body: bytes):
    def h(alg, salt=SALT, data=body):
        return hashlib.new(alg, data + salt.encode()).hexdigest()
    sha3 = hashlib.sha3_256(body + SALT.encode()).hexdigest()
    return [
        ("correct sha256", [("Content-SHA256-Salted", h("sha256"))], True),
        ("upper-case hex", [("Content-SHA256-Salted", h("sha256").upper())], True),
        ("lower-case header name", [("content-md5-salted", h("md5"))], True),
        ("the other configured salt", [("Content-SHA1-Salted", h("sha1", "first-salt"))], True),
        ("two headers, both right", [("Content-MD5-Salted", h("md5")), ("Content-SHA512-Salted", h("sha512"))], True),
        ("two headers, different salts", [("Content-MD5-Salted", h("md5", "first-salt")),
                                          ("Content-SHA256-Salted", h("sha256"))], True),
        ("right + malformed (ignored)", [("Content-SHA256-Salted", h("sha256")), ("Content-MD5-Salted", "abc")], True),
        ("right + unknown algorithm (ignored)", [("Content-SHA256-Salted", h("sha256")),
                                                 ("Content-FOO-Salted", "00" * 16)], True),
        ("right + wrong", [("Content-SHA256-Salted", h("sha256")), ("Content-MD5-Salted", h("md5", "x"))], False),
        ("wrong salt", [("Content-SHA256-Salted", h("sha256", "s3cret "))], False),
        ("no salt", [("Content-SHA256-Salted", hashlib.sha256(body).hexdigest())], False),
        ("salt before body", [("Content-SHA256-Salted", hashlib.sha256(SALT.encode() + body).hexdigest())], False),
        ("other body", [("Content-SHA256-Salted", h("sha256", data=body + b" "))], False),
        ("md5 value in a sha256 header", [("Content-SHA256-Salted", h("md5"))], False),
        ("only malformed", [("Content-SHA256-Salted", h("sha256")[:-1])], False),
        ("sha3_256 (underscore: dropped)", [("Content-SHA3_256-Salted", sha3)], False),
        ("no salted header", [("X-Other", h("sha256"))], False),
        ("same header twice (joined)", [("Content-SHA256-Salted", h("sha256")), ("Content-SHA256-Salted", h("sha256"))],
         False),
    ]


def test_auth_verify_accepts_exactly_what_co2logserver_accepts(server):
    ctype, body = upload.encode({"marker": "equiv", "co2": 1}, "json")
    cases = equivalence_cases(body)
    jobs = []
    for comment, headers, _ in cases:
        args = ["auth", "verify", "--secret", SALTS[0], "--secret", SALTS[1]]
        for name, value in headers:
            args += ["--header", f"{name}: {value}"]
        jobs.append((args, body))
    for (comment, headers, expected), (rc, _, stderr) in zip(cases, run_all(jobs)):
        status = server.post(body, [("Content-Type", ctype), *headers])
        assert status == (200 if expected else 403), (comment, status)
        assert (rc == 0) == expected, (comment, rc, stderr)
        assert "Traceback" not in stderr
        try:
            httpauth.verify_headers(body, SALTS, headers)
            lib = True
        except (AuthenticationError, MalformedError):
            lib = False
        assert lib == expected, comment


def test_upload_helper_every_format(server):
    for i, fmt in enumerate(upload.CONTENT_TYPES):
        algs = httpauth.SALTED_ALGORITHMS[: i + 1]
        rows = [{"marker": f"helper-{fmt}", "co2": 1200 + n, "time": 1763900000 + n} for n in range(3)]
        assert upload.upload(server.url, rows, SALT, fmt=fmt, algorithms=algs) == {"saved-in-db": 3}
        assert server.rows("marker", f"helper-{fmt}") == 3
    with pytest.raises(AuthenticationError):
        upload.upload(server.url, {"marker": "helper-bad", "co2": 1}, "wrong")
    assert server.rows("marker", "helper-bad") == 0


def test_charset_is_refused_and_replay_is_accepted(server):
    ctype, body = upload.encode({"marker": "charset", "co2": 1}, "json")
    headers = upload.request_headers(body, ctype, SALT)
    assert list(headers) == ["Content-Type", "Content-SHA256-Salted"] and headers["Content-Type"] == "application/json"
    sig = ("Content-SHA256-Salted", headers["Content-SHA256-Salted"])
    assert server.post(body, [("Content-Type", "application/json; charset=utf-8"), sig]) == 400
    with pytest.raises(UsageError):
        upload.request_headers(body, "application/json; charset=utf-8", SALT)
    # the salted hash has no freshness: the same request twice is stored twice (documented weakness)
    assert server.post(body, [("Content-Type", ctype), sig]) == 200
    assert server.post(body, [("Content-Type", ctype), sig]) == 200
    assert server.rows("marker", "charset") == 2


def test_unreachable_server_is_a_library_error():
    from iotenvelope.errors import TransportError
    with pytest.raises(TransportError):
        upload.upload(f"http://127.0.0.1:{free_port()}", {"co2": 1}, SALT, timeout=2)


def test_encode_exact_bodies():
    rows = [{"co2": 1223, "note": "a,b"}, {"co2": 1250, "temp": 21.5}]
    assert upload.encode(rows, "json") == ("application/json",
                                           b'{"co2":[1223,1250],"note":["a,b",null],"temp":[null,21.5]}')
    assert upload.encode(rows, "csv") == ("text/csv", b'co2,note,temp\n1223,"a,b",\n1250,,21.5\n')
    assert upload.encode(rows, "form") == ("application/x-www-form-urlencoded",
                                           b"co2=1223&co2=1250&note=a%2Cb&note=&temp=&temp=21.5")
    assert upload.encode({"co2": 1}, "msgpack") == ("application/msgpack", b"\x81\xa3co2\x91\x01")
    for bad in ([], {"co2": {"nested": 1}}, "text", {"": 1}):
        with pytest.raises(MalformedError):
            upload.encode(bad, "json")
    with pytest.raises(UsageError):
        upload.encode({"co2": 1}, "xml")


def test_sign_refuses_mismatched_header_and_empty_salt():
    with pytest.raises(UsageError):
        httpauth.sign(b"x", SALT, "salted-sha256", "Content-MD5-Salted")
    with pytest.raises(UsageError):
        httpauth.sign(b"x", "", "salted-sha256")
    assert httpauth.sign(b"x", SALT, "salted-sha256", "content-sha256-salted")[0] == "content-sha256-salted"
    res = subprocess.run([sys.executable, "-m", "iotenvelope", "auth", "sign", "--scheme", "salted-sha3_256",
                          "--secret", SALT], input=b"x", capture_output=True, cwd=ROOT)
    assert res.returncode == 2 and b"Traceback" not in res.stderr
