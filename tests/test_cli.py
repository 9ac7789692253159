"""The command line contract: options, output, exit codes, no tracebacks."""

import json

import pytest

import iotenvelope
from iotenvelope.primitives import httpauth

KEY = "000102030405060708090a0b0c0d0e0f"
SECRET = bytes.fromhex(KEY)


def test_seal_then_open(cli):
    sealed = cli("seal", "--key", KEY, "--device", "sensor-01", "--seq", "5", stdin=b'{"co2": 1223}')
    assert sealed.returncode == 0, sealed.stderr
    token = sealed.stdout.decode().strip()
    opened = iotenvelope.open(SECRET, token)
    assert (opened.plaintext, opened.device, opened.seq) == (b'{"co2": 1223}', "sensor-01", 5)
    out = cli("open", "--key", KEY, stdin=sealed.stdout)
    assert out.returncode == 0 and out.stdout == b'{"co2": 1223}'
    js = cli("open", "--key", KEY, "--json", stdin=sealed.stdout)
    assert json.loads(js.stdout) == {"ok": True, "kind": "data", "device": "sensor-01", "seq": 5, "ts": opened.ts,
                                     "direction": "up", "type": "data", "plaintext": '{"co2": 1223}'}


def test_seal_fixed_fields_json_format(cli):
    out = cli("seal", "--key", KEY, "--device", "d", "--seq", "1", "--ts", "0", "--format", "json", stdin=b"x")
    env = json.loads(out.stdout)
    assert (env["dev"], env["seq"], env["ts"], env["dir"], env["type"]) == ("d", 1, 0, "up", "data")
    assert iotenvelope.open(SECRET, out.stdout).plaintext == b"x"


def test_batch_seal_and_open(cli):
    sealed = cli("seal", "--key", KEY, "--device", "d", "--seq", "10", "--batch", stdin=b"a\nb\nc\n")
    lines = sealed.stdout.decode().splitlines()
    assert [iotenvelope.open(SECRET, t).seq for t in lines] == [10, 11, 12]
    raw = bytearray(iotenvelope.primitives.b64.decode_url(lines[1]))
    raw[-1] ^= 0x01  # one tag bit: the text stays canonical base64url, only the MAC check can catch it
    tampered = iotenvelope.primitives.b64.encode_url(bytes(raw))
    opened = cli("open", "--key", KEY, "--batch", stdin="\n".join([lines[0], tampered, lines[2], "garbage"]).encode())
    rows = [json.loads(line) for line in opened.stdout.decode().splitlines()]
    assert [r["ok"] for r in rows] == [True, False, True, False]
    assert rows[0]["plaintext"] == "a" and rows[0]["device"] == "d" and rows[0]["seq"] == 10
    assert rows[1]["error"] == "AuthenticationError" and rows[1]["seq"] is None
    assert rows[3]["error"] == "MalformedError"
    assert opened.returncode == 5


@pytest.mark.parametrize("args,stdin,code,needle", [
    (["open", "--key", KEY], b"not an envelope!", 3, b"MalformedError"),
    (["open", "--key", "ff" * 16], None, 5, b"AuthenticationError"),
    (["open", "--key", "00" * 20], None, 4, b"20 bytes"),
    (["open", "--key", KEY, "--direction", "down"], None, 5, b"DirectionError"),
    (["open", "--key", KEY, "--now", "4000000000"], None, 7, b"StaleError"),
    (["open", "--key", KEY, "--now", "1000000000"], None, 7, b"FutureError"),
    (["open", "--passphrase", "pw"], None, 2, b"--key"),
    (["seal", "--key", KEY], b"x", 2, b"--device"),
    (["seal", "--key", KEY, "--device", "a b"], b"x", 3, b"device id"),
    (["open", "--key", KEY, "--profile", "nope"], None, 2, b"unknown profile"),
    (["frobnicate"], b"", 2, b"usage"),
    (["open", "--key", KEY, "--key", KEY, "--passphrase", "x"], None, 2, b"usage"),
])
def test_exit_codes(cli, args, stdin, code, needle):
    if stdin is None:
        stdin = iotenvelope.seal(SECRET, b"x", device="d", seq=1, ts=1763900000).encode()
    proc = cli(*args, stdin=stdin)
    assert proc.returncode == code, proc.stderr
    assert needle in proc.stderr
    assert b"x" * 3 not in proc.stderr


def test_binary_garbage_never_tracebacks(cli):
    for blob in (b"\xff\xfe\x00", b"{", b"{}", b"[]", b'{"v": 1e999}', b"AAAA" * 30):
        proc = cli("open", "--key", KEY, stdin=blob)
        assert proc.returncode == 3, (blob, proc.stderr)


def test_auth_sign_and_verify(cli):
    body = b'{"co2": 800}'
    signed = cli("auth", "sign", "--scheme", "salted-sha256", "--secret", "pepper", stdin=body)
    line = signed.stdout.decode().strip()
    name, value = line.split(": ")
    assert name == "Content-SHA256-Salted" and value == httpauth.Scheme("salted", "sha256").digest(body, b"pepper")
    assert cli("auth", "verify", "--scheme", "salted-sha256", "--secret", "pepper", "--header", line,
               stdin=body).returncode == 0
    bad = cli("auth", "verify", "--scheme", "salted-sha256", "--secret", "salt", "--header", line, stdin=body)
    assert bad.returncode == 5
    hm = cli("auth", "sign", "--scheme", "hmac-sha256", "--secret", "k", stdin=body).stdout.decode().strip()
    assert hm.startswith("X-Iotenvelope-Hmac-SHA256: ")
    assert cli("auth", "sign", "--scheme", "hmac-md5", "--secret", "k", stdin=body).returncode == 2
    assert cli("auth", "sign", "--scheme", "salted-sha3_256", "--secret", "k", stdin=body).returncode == 2


def test_keygen_profiles_version(cli):
    k = cli("keygen").stdout.decode().strip()
    assert len(bytes.fromhex(k)) == 16
    k32 = cli("keygen", "--bytes", "32", "--b64").stdout.decode().strip()
    assert len(iotenvelope.parse_secret(k32)) == 32
    listing = cli("profiles").stdout.decode()
    assert "envelope-v1" in listing and "authenticated" in listing
    assert cli("--version").stdout.decode().strip() == f"iotenvelope {iotenvelope.__version__}"


def test_fernet_profile_interoperates_with_cryptography(cli):
    from cryptography.fernet import Fernet
    key = Fernet.generate_key()
    # "--key=" because a url-safe base64 key may start with "-"
    token = cli("seal", "--profile", "fernet", f"--key={key.decode()}", stdin=b"reading").stdout.strip()
    assert Fernet(key).decrypt(token) == b"reading"
    theirs = Fernet(key).encrypt(b"theirs")
    assert cli("open", "--profile", "fernet", f"--key={key.decode()}", stdin=theirs).stdout == b"theirs"
    assert cli("open", "--profile", "fernet", f"--key={Fernet.generate_key().decode()}", stdin=theirs).returncode == 5


def test_keyring_and_fixed_iv(cli, tmp_path):
    ring = tmp_path / "keys.json"
    ring.write_text(json.dumps({"a": KEY, "b": "b64:" + iotenvelope.primitives.b64.encode_std(bytes(32))}))
    ta = iotenvelope.seal(SECRET, b"from a", device="a", seq=1)
    tb = iotenvelope.seal(bytes(32), b"from b", device="b", seq=1)
    tc = iotenvelope.seal(SECRET, b"from c", device="c", seq=1)
    out = cli("open", "--keyring", str(ring), "--batch", stdin=f"{ta}\n{tb}\n{tc}\n".encode())
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert [r.get("plaintext") for r in rows] == ["from a", "from b", None]
    assert rows[2]["error"] == "UnknownDeviceError" and out.returncode == 4
    ring.write_text(json.dumps({"a": "00" * 20}))
    bad = cli("open", "--keyring", str(ring), stdin=ta.encode())
    assert bad.returncode == 4 and b"secret of device 'a'" in bad.stderr and b"00" * 20 not in bad.stderr
    fixed = cli("seal", "--key", KEY, "--device", "d", "--seq", "3", "--ts", "5", "--iv", "11" * 16, stdin=b"v")
    assert fixed.stdout.decode().strip() == iotenvelope.seal(SECRET, b"v", device="d", seq=3, ts=5, iv=b"\x11" * 16)
    assert b"never for real messages" in fixed.stderr
    assert cli("seal", "--key", KEY, "--device", "d", "--iv", "11" * 16, "--batch", stdin=b"a\nb\n").returncode == 2


def test_batch_error_rows_name_device_and_seq_only_after_the_mac(cli, tmp_path):
    good = iotenvelope.seal(SECRET, b"a", device="d", seq=7)
    forged = iotenvelope.seal(bytes(16), b"b", device="d", seq=8)
    store = f"sqlite:{tmp_path / 'r.db'}"
    out = cli("open", "--key", KEY, "--batch", "--replay-store", store, stdin=f"{good}\n{good}\n{forged}\n".encode())
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert rows[0]["ok"] and (rows[0]["device"], rows[0]["seq"]) == ("d", 7)
    assert rows[1]["error"] == "DuplicateError" and (rows[1]["device"], rows[1]["seq"]) == ("d", 7)
    assert rows[2]["error"] == "AuthenticationError" and (rows[2]["device"], rows[2]["seq"]) == (None, None)


def test_parser_timeout_default_is_the_protocol_default():
    from iotenvelope import cli
    from iotenvelope.verify import protocol
    assert cli.RUNNER_TIMEOUT == protocol.DEFAULT_TIMEOUT


def test_one_shot_seal_imports_neither_verify_nor_the_stores_nor_pycryptodome_when_cryptography_is_there():
    """Issue 16 item 2: lazy imports keep a one-shot CLI seal cheap."""
    import subprocess
    import sys
    code = ("import sys; before = set(sys.modules)\n"  # what site (.pth files) imported is not the CLI's doing
            "import io; sys.argv=['iotenvelope','seal','--key','00'*16,'--device','d'];"
            "sys.stdin=io.TextIOWrapper(io.BytesIO(b'x'));"
            "from iotenvelope import cli\ntry:\n  cli.main()\nexcept SystemExit: pass\n"
            "bad=[m for m in ('iotenvelope.verify','iotenvelope.replay.sqlite','iotenvelope.ingest.app','sqlite3',"
            "'threading','queue','string') if m in sys.modules and m not in before]\n"
            "from iotenvelope.primitives import cipher\n"
            "bad += ['Crypto'] if cipher.BACKEND == 'cryptography' and 'Crypto' in sys.modules else []\n"
            "print('IMPORTED', bad, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "IMPORTED []" in proc.stderr, proc.stderr[-2000:]


from hypothesis import given, settings, strategies as _st  # noqa: E402


@settings(max_examples=300)
@given(plain=_st.text(), device=_st.text(alphabet=_st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1,
                                         max_size=64),
       seq=_st.integers(0, 2**32 - 1), ts=_st.integers(0, 2**32 - 1), direction=_st.sampled_from(["up", "down"]),
       kind=_st.sampled_from(["data", "data", "resync-response"]))
def test_open_batch_reading_lines_are_the_bytes_of_the_general_row_encoder(plain, device, seq, ts, direction, kind):
    from iotenvelope import cli as cli_module
    from iotenvelope.envelope.sealing import _opened
    from iotenvelope.profiles.envelope_v1 import EnvelopeV1
    try:
        data = plain.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates are not text a plaintext can hold
        data = b"\xff"
    opened = _opened(data, device, direction, kind, seq, ts)
    line = cli_module._reading_line(opened)
    if kind != "data" or data == b"\xff":
        assert line is None  # not a UTF-8 reading: the general path writes it
    else:
        assert line == cli_module._json_row(cli_module._row(None, "", EnvelopeV1._result(opened))) + "\n"
        assert json.loads(line)["plaintext"] == plain


def test_envelope_v1_open_batch_yields_the_callers_line_for_readings_only():
    """open_batch(line=...) gives the line for a UTF-8 reading, the OpenResult for anything else, errors as
    errors; without line= every success is an OpenResult."""
    import argparse
    from iotenvelope import errors, profiles
    secret = bytes(range(16))
    texts = [iotenvelope.seal(secret, b"t", device="d", seq=1, ts=0),
             iotenvelope.seal(secret, b"\xff", device="d", seq=2, ts=0),
             "not an envelope"]
    opts = argparse.Namespace(key=secret.hex(), passphrase=None, keyring=None, direction="up", format=None, now=None,
                              skew=300, max_age=0, require_time=False, replay_store=None, replay_window=64)
    profile = profiles.get("envelope-v1")
    got = list(profile.open_batch(texts, opts, None, line=lambda opened: f"line {opened.seq}"))
    assert got[0] == "line 1" and got[1] == "line 2" and isinstance(got[2], errors.MalformedError)
    got = list(profile.open_batch(texts, opts, None, line=lambda opened: None))
    assert [type(r).__name__ for r in got] == ["OpenResult", "OpenResult", "MalformedError"]
    assert got[1].plaintext == b"\xff" and got[0].meta["seq"] == 1
    assert [type(r).__name__ for r in profile.open_batch(texts, opts, None)] == ["OpenResult", "OpenResult",
                                                                                  "MalformedError"]


def _reference_lines(data: bytes, limit: int) -> list:
    """What the reader thread must deliver for ``data``: its lines (LF ends one; a last line without LF counts),
    each longer than ``limit`` as ("oversize", its length)."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [("oversize", len(line)) if len(line) > limit else line for line in lines]


@settings(max_examples=400)
@given(pieces=_st.lists(_st.sampled_from([b"\n", b"\r\n", b"a", b"bc", b"defgh", b"x" * 9, b"\r"]), max_size=60),
       cuts=_st.lists(_st.integers(0, 200), max_size=12), limit=_st.integers(1, 12))
def test_batch_reader_delivers_the_same_lines_however_stdin_is_chunked(pieces, cuts, limit):
    """The `open --batch` reader thread splits each chunk at C speed and carries a line across chunks; whatever
    the chunk boundaries, it delivers exactly the lines of the input, an oversize marker (with the dropped
    length) for each line over the limit, then the end."""
    import queue
    from iotenvelope import cli as cli_module
    data = b"".join(pieces)
    bounds = sorted({min(c, len(data)) for c in cuts} | {len(data)})
    chunks, start = [], 0
    for end in bounds:
        if end > start:
            chunks.append(data[start:end])
            start = end
    feed = iter(chunks + [b""])
    out: queue.Queue = queue.Queue()
    cli_module._read_lines(lambda: next(feed), out, limit)
    got = []
    while (item := out.get_nowait()) is not cli_module._EOF:
        assert isinstance(item, list) and item  # one non-empty list per chunk with lines
        got.extend(("oversize", line.size) if isinstance(line, cli_module._Oversize) else line for line in item)
    assert got == _reference_lines(data, limit)
    assert out.empty()


def test_main_builds_only_the_command_it_runs(monkeypatch):
    """main() adds the options of the command named first only (a one-shot call's start-up); --help, no
    command or a wrong one get the whole parser, so their listing and errors name every command."""
    from iotenvelope import cli as cli_module
    built = []
    real = cli_module.build_parser
    monkeypatch.setattr(cli_module, "build_parser", lambda command=None: built.append(command) or real(command))
    monkeypatch.setattr(cli_module, "COMMANDS", {**cli_module.COMMANDS, "keygen": lambda opts: 0})
    assert cli_module.main(["keygen", "--bytes", "32"]) == 0
    assert cli_module.main(["nosuch"]) == cli_module.EXIT_USAGE
    assert built == ["keygen", None]
    only = real("open")._subparsers._group_actions[0].choices
    assert list(only) == ["open"]
    whole = real()._subparsers._group_actions[0].choices
    assert list(whole) == list(cli_module._PARSERS) == sorted(cli_module.COMMANDS, key=list(cli_module._PARSERS).index)
    for name in cli_module._PARSERS:  # each command's own parser is the same whether built alone or with the rest
        assert real(name)._subparsers._group_actions[0].choices[name].format_help() == whole[name].format_help()


def _burst_writer(fd: int, bursts: list, pause: float):
    import os
    import threading
    import time

    def write():
        for i, burst in enumerate(bursts):
            if i:
                time.sleep(pause)
            os.write(fd, burst)
        os.close(fd)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("path", ["polled", "threaded"])
def test_batch_groups_close_at_the_size_the_linger_or_the_end(path):
    """Both ways `open --batch` reads stdin (select() on POSIX; a reader thread where stdin has no pollable
    descriptor) group the same: a burst that then pauses is a group of its own once BATCH_LINGER passed, a
    long burst is cut at the group size, and every line arrives once, in order."""
    import os
    from iotenvelope import cli as cli_module
    first = [b"a%d" % i for i in range(5)]
    second = [b"b%03d" % i for i in range(250)]
    read_fd, write_fd = os.pipe()
    writer = _burst_writer(write_fd, [b"\n".join(first) + b"\n", b"\n".join(second) + b"\n"],
                           pause=6 * cli_module.BATCH_LINGER)
    try:
        if path == "polled":
            groups = list(cli_module._polled_groups(read_fd, 100))
        else:
            groups = list(cli_module._threaded_groups(lambda: os.read(read_fd, cli_module._CHUNK), 100))
    finally:
        writer.join(10)
        os.close(read_fd)
    assert groups == [first, second[:100], second[100:200], second[200:]]


def test_batch_reads_a_replaced_stdin_through_the_reader_thread(monkeypatch):
    """An embedding program's stdin without a descriptor takes the reader-thread path, with the same lines."""
    import io
    from iotenvelope import cli as cli_module

    class NoFd(io.BytesIO):
        def fileno(self):
            raise io.UnsupportedOperation("no descriptor")

    stdin = io.TextIOWrapper(NoFd(b"one\r\ntwo\n\nthree"))
    monkeypatch.setattr(cli_module.sys, "stdin", stdin)
    assert cli_module._stdin_fd() is None
    assert [line for group in cli_module._batch_lines(2) for line in group] == [b"one\r", b"two", b"", b"three"]
