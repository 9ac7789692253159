"""The ``iotenvelope`` command line (a stable contract: scripts depend on options, output and exit codes).

Exit codes: 0 success; 1 ``verify`` found a mismatch (or ``diagnose`` found no explanation); 2 usage;
otherwise the failing error class's ``exit_code`` (3 malformed/padding, 4 bad key/unknown device,
5 authentication, 6 replay, 7 timestamp, 8 replay store, 10 other library error; 6 is also a resync request refused
as ``rate-limited``). No traceback is printed for bad input.
``open --batch`` prints one result per line and exits 0 when every line opened, else with the code of the first
line that failed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from typing import Callable, Sequence

from . import __version__, profiles
from .primitives import b64, httpauth
from .replay import resync as resync_mod
from .envelope import MAX_TEXT, Envelope
from .errors import (IotEnvelopeError, MalformedError, PaddingError, ReplayError, StoreError, TimestampError,
                     UsageError)

#: a result row as JSON text: one encoder for every row (``json.dumps(..., ensure_ascii=False)`` would build a
#: new encoder per call, a tenth of what ``open --batch`` spends on a line)
_json_row = json.JSONEncoder(ensure_ascii=False).encode

EXIT_VERIFY_FAILED = 1
EXIT_USAGE = 2


def _terminal_columns() -> int:
    """What ``shutil.get_terminal_size().columns`` says (``COLUMNS``, then the terminal, else 80)."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
        if columns > 0:
            return columns
    except ValueError:
        pass
    try:
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 80
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter, sized without importing :mod:`shutil`: argparse makes one for every
    ``add_argument``, and shutil (with bz2 and lzma) would be a twentieth of a one-shot seal's start-up."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: "int | None" = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _terminal_columns() - 2 if width is None else width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # argparse would exit 2 itself; keep one path for usage errors
        raise UsageError(message)


def _warn(message: str) -> None:
    print(f"iotenvelope: warning: {message}", file=sys.stderr)


def _stdin_bytes() -> bytes:
    return sys.stdin.buffer.read()


def _lines(data: bytes) -> list[bytes]:
    return [line.rstrip(b"\r") for line in data.split(b"\n")][: -1 if data.endswith(b"\n") else None]


def _utf8(data: bytes, what: str) -> str:
    """stdin as text, as it came (the envelope decoder strips exactly one trailing newline, SPEC.md §5)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError(f"{what} on stdin is not UTF-8 text") from None


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise MalformedError(f"{what} on stdin is not UTF-8 text") from None


def _add_profile_options(parser: argparse.ArgumentParser, command: str) -> None:
    seen: set[str] = set()
    for profile in profiles.registry().values():
        for option in profile.options:
            if command in option.commands and option.flags[0] not in seen:
                seen.add(option.flags[0])
                parser.add_argument(*option.flags, **option.kwargs)


def _add_key_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--key", help="key or device secret: hex, or b64:<base64>")
    group.add_argument("--passphrase", help="passphrase (legacy profiles: crypto-js/OpenSSL string keys)")
    parser.add_argument("--profile", default="envelope-v1",
                        help=f"wire convention (default envelope-v1; see `profiles`). Every other profile is"
                             f" {profiles.UNAUTHENTICATED} ({profiles.UNAUTHENTICATED_MEANS})")


#: verify --timeout default; equal to iotenvelope.verify.protocol.DEFAULT_TIMEOUT (checked by tests/test_cli.py),
#: written here so that building the parser does not import the verify package
RUNNER_TIMEOUT = 10.0


def _add_seal(sub: argparse._SubParsersAction) -> None:
    seal = sub.add_parser("seal", help="plaintext on stdin -> envelope on stdout")
    _add_key_options(seal)
    seal.add_argument("--device", help="device id (envelope-v1)")
    seal.add_argument("--seq", type=int, default=0, help="sequence number (first one with --batch; default 0)")
    seal.add_argument("--ts", type=int, help="timestamp, Unix seconds (default now; 0 = time unknown)")
    seal.add_argument("--iv", help="fixed IV (hex or b64:) - for reproducing legacy messages and vectors only")
    seal.add_argument("--format", choices=("json", "compact", "lean"),
                      help="envelope encoding (default compact; lean: SPEC.md §5.3, base64url text)")
    seal.add_argument("--batch", action="store_true", help="one plaintext per input line -> one envelope per line")
    _add_profile_options(seal, "seal")


def _add_open(sub: argparse._SubParsersAction) -> None:
    opn = sub.add_parser("open", help="envelope on stdin -> plaintext on stdout")
    _add_key_options(opn)
    opn.add_argument("--iv", help="IV for profiles where it travels separately (hex or b64:)")
    opn.add_argument("--format", choices=("json", "compact", "lean"),
                     help="envelope encoding (default: detect compact or JSON; lean needs --device)")
    opn.add_argument("--device", help="device id of a lean envelope (it is not on the wire: from the transport)")
    opn.add_argument("--batch", action="store_true",
                     help="one envelope per line -> one JSON result per line (ok, device, seq, error|plaintext)")
    opn.add_argument("--json", action="store_true", help="print a JSON object with the plaintext and metadata")
    opn.add_argument("--commit-every", type=int, default=BATCH_GROUP, metavar="N",
                     help=f"--batch: lines per replay-store transaction (default {BATCH_GROUP}); a group also closes"
                          f" {int(BATCH_LINGER * 1000)} ms after its first line. Its results are printed once it is"
                          " committed: a crash loses at most one group (refused as replays later), larger groups"
                          " cost fewer disk syncs")
    _add_profile_options(opn, "open")


def _add_auth(sub: argparse._SubParsersAction) -> None:
    auth = sub.add_parser("auth", help="HTTP body authentication headers (co2logserver salted hashes, HMAC)")
    auth.add_argument("action", choices=("sign", "verify"))
    auth.add_argument("--scheme", help="salted-<alg> (co2logserver) or hmac-<alg> (recommended); sign: required;"
                                       " verify: needed only for a header value given without its name")
    auth.add_argument("--secret", required=True, action="append",
                      help="the shared secret / salt (text); verify: repeat for several salts (any may match)")
    auth.add_argument("--header", action="append",
                      help="sign: header name to print; verify: 'Name: value' or the value (repeatable: co2logserver"
                           " needs every Content-<ALG>-Salted header to match)")


def _add_verify(sub: argparse._SubParsersAction) -> None:
    ver = sub.add_parser("verify", help="run every available implementation over every vector file")
    ver.add_argument("--json", metavar="FILE", nargs="?", const="-",
                     help="machine-readable result: to FILE, or stdout alone")
    ver.add_argument("--vectors", help="vector directory (default: the bundled vector files)")
    ver.add_argument("--impl", action="append", help="only this built-in implementation (repeatable; --peer runners "
                                                     "always run)")
    ver.add_argument("--peer", action="append", metavar="NAME=COMMAND", default=[],
                     help="an external runner (docs/runner-protocol.md) as the matrix row NAME: COMMAND is split like "
                          "a shell line and started without a shell (repeatable)")
    ver.add_argument("--timeout", type=float, default=RUNNER_TIMEOUT,
                     help=f"seconds a runner may take per request (default {RUNNER_TIMEOUT:g})")
    ver.add_argument("--junit", metavar="FILE", help="write a JUnit XML report (one testcase per vector case and peer)")
    ver.add_argument("--markdown", metavar="FILE", nargs="?", const="-",
                     help="the matrix as a Markdown table (for a pull-request comment): to FILE, or stdout alone")
    ver.add_argument("--html", metavar="FILE", help="write a self-contained HTML page: the matrix and each failing "
                                                    "case's tcId, comment, flags, expected and actual")


def _add_diagnose(sub: argparse._SubParsersAction) -> None:
    diag = sub.add_parser("diagnose", help="ciphertext or message on stdin + the key material you think is right ->"
                                           " which convention or mistake explains it",
                          description="Read a ciphertext (base64, hex or raw bytes) or a whole message (envelope,"
                                      " Fernet token, dweet, ESP8266 {\"iv\", \"data\"} object) on stdin, try every"
                                      " profile and known mistake with the key material given, and print the findings"
                                      " best first: profile, what was wrong, the recovered plaintext and the"
                                      " `iotenvelope open` command that opens it (each command is checked before it is"
                                      " printed). Exit 0 with findings, 1 with none, 2 usage error, 3 empty input. The"
                                      " output repeats the key material and the plaintext.")
    diag_key = diag.add_mutually_exclusive_group(required=True)
    diag_key.add_argument("--key", help="the key or device secret you believe in (hex, or b64:<base64>)")
    diag_key.add_argument("--passphrase", help="the passphrase you believe in")
    diag.add_argument("--iv", help="the IV you believe in (hex, or b64:<base64>), if it travels separately")
    diag.add_argument("--json", action="store_true", help='print {"findings": [...]} (best first)')
    diag.add_argument("--now", type=int, help="the time to judge timestamps against (default: this clock)")
    diag.add_argument("--device", help="device id for a lean envelope (the lean form does not carry it)")
    diag.add_argument("--salt", help="the salt (hex or b64:) of a crypto-js PBKDF2 message whose salt travels separately")


def _add_profiles(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("profiles", help="list the profiles")


def _add_keygen(sub: argparse._SubParsersAction) -> None:
    keygen = sub.add_parser("keygen", help="print a new random device secret")
    keygen.add_argument("--bytes", type=int, choices=(16, 32), default=16, help="16 (AES-128, default) or 32")
    keygen.add_argument("--b64", action="store_true", help="print as b64:<base64> instead of hex")


def _add_vectors(sub: argparse._SubParsersAction) -> None:
    vec = sub.add_parser("vectors", help="vector files: generate (rewrite envelope_v1.json) or export DIR (write "
                                         "every bundled file and the schema README, for other languages)")
    vec.add_argument("action", choices=("generate", "export"))
    vec.add_argument("dir", nargs="?", help="export: the directory to write")
    vec.add_argument("--seed", type=int, default=1)
    vec.add_argument("--out", default=None, help="generate: directory (default: the checkout's vectors/)")


def _add_serve(sub: argparse._SubParsersAction) -> None:
    from .ingest import server
    server.add_parser(sub)


#: each command's parser: built only for the command being run (argparse spends a few milliseconds per
#: command on the options alone, a tenth of a one-shot call's start-up), all of them for --help or a mistake
_PARSERS = {"seal": _add_seal, "open": _add_open, "auth": _add_auth, "verify": _add_verify, "diagnose": _add_diagnose,
            "profiles": _add_profiles, "keygen": _add_keygen, "vectors": _add_vectors, "resync": resync_mod.add_parser,
            "serve": _add_serve}


def build_parser(command: "str | None" = None) -> argparse.ArgumentParser:
    """The whole command line, or with ``command`` (a name in :data:`_PARSERS`) the top level and that one
    command only: what :func:`main` builds once it sees the command's name first."""
    parser = _Parser(prog="iotenvelope", description="Encrypted, authenticated envelopes for IoT devices and backends.")
    parser.add_argument("--version", action="version", version=f"iotenvelope {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, add in _PARSERS.items():
        if command is None or command == name:
            add(sub)
    return parser


def cmd_seal(opts: argparse.Namespace) -> int:
    profile = profiles.get(opts.profile)
    data = _stdin_bytes()
    if not opts.batch:
        sys.stdout.write(profile.seal(data, opts, _warn) + "\n")
        return 0
    out = [profile.seal(line, opts, _warn, index=i) for i, line in enumerate(_lines(data))]
    sys.stdout.write("".join(text + "\n" for text in out))  # all or nothing: nothing printed on an error
    return 0


def _plain_json(plaintext: bytes) -> dict:
    try:
        return {"plaintext": plaintext.decode("utf-8")}
    except UnicodeDecodeError:
        return {"plaintext_b64": b64.encode_std(plaintext)}


#: ``open --batch`` group commit: a group is at most BATCH_GROUP lines (--commit-every), and waits at most BATCH_LINGER seconds
#: after its first line for more; its replay state is committed in one store transaction, then its results are
#: printed and flushed. So each result appears within BATCH_LINGER + the time to open one group of its line
#: arriving, and a crash loses at most one group (committed, not printed: refused as replays later).
BATCH_GROUP = 100
BATCH_LINGER = 0.05
#: the longest batch line read whole: the SPEC.md §5 text cap plus a CR LF; longer lines are refused unread
BATCH_LINE_MAX = MAX_TEXT + 2


class _Oversize:
    """Stands for a batch line longer than BATCH_LINE_MAX (dropped as it is read: never held in memory)."""

    def __init__(self, size: int):
        self.size = size


class _LineSplitter:
    """Cuts stdin into lines as its chunks arrive: :meth:`feed` returns the lines a chunk ended (each without
    its LF; a CR before it stays), an :class:`_Oversize` for a line longer than ``limit`` (dropped as it is
    read, never held whole); :meth:`end` the last line, if the input did not end with LF. A chunk is split at C
    speed (``bytes.split``); only a line crossing chunks needs Python."""

    def __init__(self, limit: int = BATCH_LINE_MAX) -> None:
        self.limit = limit
        self.pending = bytearray()  # the start of the line being read, when it began in an earlier chunk
        self.dropping = 0  # > 0: inside an oversize line, this many bytes dropped so far (pending is then empty)

    def feed(self, chunk: bytes) -> list:
        limit, pending = self.limit, self.pending
        lines = chunk.split(b"\n")
        tail = lines.pop()  # after the chunk's last LF (all of it if it has none): a line not ended yet
        if lines:
            if self.dropping:
                lines[0] = _Oversize(self.dropping + len(lines[0]))
            elif pending:
                pending += lines[0]
                lines[0] = _Oversize(len(pending)) if len(pending) > limit else bytes(pending)
            if len(chunk) > limit:  # only then can a line that lies wholly inside the chunk be oversize
                lines = [_Oversize(len(line)) if line.__class__ is bytes and len(line) > limit else line
                         for line in lines]
            pending.clear()
            self.dropping = 0
        if self.dropping:
            self.dropping += len(tail)
        elif len(pending) + len(tail) > limit:
            self.dropping = len(pending) + len(tail)
            pending.clear()
        else:
            pending += tail
        return lines

    def end(self) -> list:
        if self.dropping:
            return [_Oversize(self.dropping)]
        return [bytes(self.pending)] if self.pending else []


_EOF = object()
#: stdin chunk size of ``open --batch``
_CHUNK = 65536


def _stdin_fd() -> "int | None":
    """stdin's file descriptor, or None when it has none (replaced by a test or an embedding program)."""
    try:
        return sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _stdin_reader(fd: "int | None") -> "Callable[[], bytes]":
    """A function returning the next chunk of stdin (b"" at the end). A real file descriptor is read with os.read,
    so the reader thread shares no lock with ``sys.stdin`` (a thread blocked in a buffered read at interpreter
    exit aborts CPython)."""
    if fd is None:
        buffer = sys.stdin.buffer
        return lambda: buffer.read1(_CHUNK) if hasattr(buffer, "read1") else buffer.read(_CHUNK)
    return lambda: os.read(fd, _CHUNK)


def _read_lines(read, out, limit: int = BATCH_LINE_MAX) -> None:
    """Reader thread (stdin without a pollable descriptor): put the lines of each chunk read (a
    :class:`_LineSplitter` list) on the ``queue.Queue`` ``out``, then _EOF (or the OSError that ended reading). One queue item per chunk, not per
    line: the threads rarely hand over."""
    splitter = _LineSplitter(limit)
    try:
        while True:
            chunk = read()
            if not chunk:
                break
            lines = splitter.feed(chunk)
            if lines:
                out.put(lines)
        rest = splitter.end()
        if rest:
            out.put(rest)
        out.put(_EOF)
    except OSError as exc:
        out.put(exc)


def _read_failed(exc: OSError) -> MalformedError:
    return MalformedError(f"reading stdin failed: {exc.strerror or type(exc).__name__}")


def _groups(take, ready: "collections.deque", size: int, done):
    """Groups of lines as they arrive: a group closes at ``size`` lines, BATCH_LINGER seconds after its first
    line, or at the end of the input. ``take(timeout)`` adds what arrives within ``timeout`` seconds (None:
    wait) to ``ready`` and says whether anything came; ``done()`` says whether the input has ended. Lines
    already read never wait for the timer."""
    while ready or not done():
        if not ready and not take(None):
            continue
        deadline = time.monotonic() + BATCH_LINGER
        while len(ready) < size and not done() and take(deadline - time.monotonic()):
            pass
        yield [ready.popleft() for _ in range(min(size, len(ready)))]


def _polled_groups(fd: int, size: int, limit: int = BATCH_LINE_MAX):
    """:func:`_groups` of stdin read by this thread when ``select`` says it is readable (POSIX): no reader thread,
    no queue and no thread hand-overs."""
    import select

    splitter = _LineSplitter(limit)
    ready: "collections.deque" = collections.deque()
    ended = []

    def take(timeout: "float | None") -> bool:
        if not select.select([fd], [], [], None if timeout is None else max(timeout, 0))[0]:
            return False
        try:
            chunk = os.read(fd, _CHUNK)
        except OSError as exc:
            raise _read_failed(exc) from None
        if not chunk:
            ready.extend(splitter.end())
            ended.append(True)
            return False
        ready.extend(splitter.feed(chunk))
        return True

    return _groups(take, ready, size, lambda: bool(ended))


def _threaded_groups(read, size: int, limit: int = BATCH_LINE_MAX):
    """:func:`_groups` of stdin read by a reader thread (where stdin cannot be polled: Windows, a replaced
    stdin); the reader stays at most 8 chunks ahead."""
    import queue
    import threading

    chunks: queue.Queue = queue.Queue(maxsize=8)
    threading.Thread(target=_read_lines, args=(read, chunks, limit), daemon=True, name="stdin").start()
    ready: "collections.deque" = collections.deque()
    ended = []

    def take(timeout: "float | None") -> bool:
        try:
            item = chunks.get(timeout=timeout) if timeout is None or timeout > 0 else chunks.get_nowait()
        except queue.Empty:
            return False
        if item is _EOF:
            ended.append(True)
            return False
        if isinstance(item, OSError):
            raise _read_failed(item)
        ready.extend(item)
        return True

    return _groups(take, ready, size, lambda: bool(ended))


def _batch_lines(size: int):
    """The groups of ``open --batch``'s stdin: polled on POSIX, else through a reader thread."""
    fd = _stdin_fd()
    if fd is not None and os.name == "posix" and 0 <= fd < 1024:  # select()'s FD_SETSIZE
        return _polled_groups(fd, size)
    return _threaded_groups(_stdin_reader(fd), size)


def _line_text(line: bytes, exact: bool) -> str:
    """A batch line as envelope text: the CR of a CR LF line end goes (SPEC.md §5: one LF or CR LF, nothing
    else); legacy profiles (``exact`` False) get the line with white space around it stripped, as before."""
    text = line.decode("utf-8", "replace")
    if not exact:
        return text.strip()
    return text[:-1] if text.endswith("\r") else text


def _kind(res: "profiles.OpenResult") -> str:
    return res.meta.get("type", "data")


_json_text = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept (ensure_ascii=False)


def _reading_line(opened) -> "str | None":
    """The result line of an opened envelope-v1 reading (an :class:`iotenvelope.Opened` of type "data") with
    UTF-8 plaintext, written straight from its fields: the bytes ``_json_row(_row(...)) + "\n"`` gives for its
    OpenResult (tests/test_cli.py holds them equal), without the OpenResult, the row dict and the JSON encoder,
    most of what ``open --batch`` spends on a line besides opening it. None for anything else (other kinds,
    binary plaintext): the profile then yields an OpenResult, and that takes ``_row``. The envelope-v1
    profile's ``open_batch`` calls it (``line=``)."""
    fields = opened.__dict__  # where an Opened keeps its fields (records.Frozen)
    if fields["type"] != "data":
        return None
    try:
        plain = fields["plaintext"].decode("utf-8")
    except UnicodeDecodeError:
        return None
    device = _DEVICE_JSON.get(fields["device"])
    if device is None:
        if len(_DEVICE_JSON) >= 4096:
            _DEVICE_JSON.clear()
        device = _DEVICE_JSON[fields["device"]] = _json_text(fields["device"])
    return (f'{{"ok": true, "kind": "data", "device": {device}, "seq": {fields["seq"]}, "ts": {fields["ts"]}, '
            f'"direction": {_DIRECTION_JSON[fields["direction"]]}, "type": "data", "plaintext": {_json_text(plain)}}}\n')


#: device id -> its JSON string literal (a batch repeats few ids; bounded)
_DEVICE_JSON: dict = {}
_DIRECTION_JSON = {"up": '"up"', "down": '"down"'}


def _row(profile, text: str, res) -> dict:
    if isinstance(res, IotEnvelopeError):
        return {"ok": False, "kind": "error", **_authenticated_header(profile, text, res), "error": type(res).__name__,
                "code": res.code, "message": str(res)}
    kind = _kind(res)
    row = {"ok": kind == "data", "kind": kind, "device": res.meta.get("device"), "seq": res.meta.get("seq"),
           **res.meta, **_plain_json(res.plaintext)}
    if kind != "data":
        row["message"] = NOT_A_READING[kind]
    return row


#: SPEC.md §8 envelopes are authentic but are not readings: ``open`` reports them as their own kind
NOT_A_READING = {
    "resync-request": "a resync-request is not a reading (SPEC.md §8): answer it with `iotenvelope resync` or"
                      " resync.answer_request; it did not touch the replay state",
    "resync-response": "a resync-response is not a reading (SPEC.md §8): a device reads it with"
                       " resync.read_response",
}


def _emit(out, data: bytes, done: int) -> None:
    """Write and flush ``data``; a closed or full stdout becomes a StoreError (exit 8): the group was already
    committed, so those envelopes are accepted but their results were not delivered."""
    try:
        out.write(data)
        out.flush()
    except OSError as exc:  # BrokenPipeError, ENOSPC, ...
        _silence_stdout()
        raise StoreError(f"could not write results to stdout ({exc.strerror or type(exc).__name__}) after {done}"
                         " results: the envelopes of the last group are recorded in the replay store as accepted"
                         " but their results were not delivered") from None


def _silence_stdout() -> None:
    """After stdout failed: point it at /dev/null, so the interpreter's last flush cannot print a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def cmd_open(opts: argparse.Namespace) -> int:
    profile = profiles.get(opts.profile)
    if getattr(opts, "replay_store", None) and not profile.authenticated:
        raise UsageError(f"--replay-store needs an authenticated profile: {profiles.unauthenticated_note(profile.name)},"
                         " so it has no authenticated seq")
    exact = profile.authenticated  # envelope-v1: the SPEC.md §5 newline rule; legacy profiles strip white space
    if not profile.authenticated:
        _warn(profiles.unauthenticated_note(profile.name))
    if not opts.batch:
        data = _stdin_bytes()
        res = profile.open(_text(data, "envelope") if not exact else _utf8(data, "envelope"), opts, _warn)
        kind = _kind(res)
        if opts.json:
            row = {"ok": kind == "data", "kind": kind, **res.meta, **_plain_json(res.plaintext)}
            if kind != "data":
                row["message"] = NOT_A_READING[kind]
            print(_json_row(row))
        else:
            if kind != "data":
                _warn(NOT_A_READING[kind] + "; the bytes printed are its protocol payload")
            sys.stdout.buffer.write(res.plaintext)
            sys.stdout.flush()
        return 0
    size = opts.commit_every
    if size < 1:
        raise UsageError(f"--commit-every must be at least 1, got {size}")
    out = sys.stdout.buffer
    sys.stdout.flush()
    worst, done = 0, 0
    for group in _batch_lines(size):
        rows = []
        texts = []  # the group's non-blank lines as text; None for an oversize one
        oversize = False
        for item in group:
            if item.__class__ is not bytes:  # an _Oversize
                texts.append(None)
                oversize = True
                continue
            text = _line_text(item, exact)
            if text and not text.isspace():  # text.strip() without the copy
                texts.append(text)
        real = [t for t in texts if t is not None] if oversize else texts
        # one store transaction for the group (envelope-v1), committed before anything is printed
        results = iter(profile.open_batch(real, opts, _warn, line=_reading_line)) if real else iter(())
        for text in texts:
            if text is None:
                err = MalformedError(f"line is longer than {BATCH_LINE_MAX} bytes; envelope text is at most"
                                     f" {MAX_TEXT} (SPEC.md §5)")
                row = _row(profile, "", err)
                res = err
            else:
                res = next(results)
                if res.__class__ is str:  # a reading's line, from _reading_line
                    rows.append(res)
                    continue
                row = _row(profile, text, res)
            if isinstance(res, IotEnvelopeError):
                worst = worst or res.exit_code
            rows.append(_json_row(row) + "\n")
        if rows:
            _emit(out, "".join(rows).encode("utf-8"), done)
            done += len(rows)
    return worst


def _authenticated_header(profile, text: str, error: IotEnvelopeError) -> dict:
    """device and seq of a failed envelope when they are trustworthy: the MAC verified and a later check (replay,
    timestamp, padding) refused it. Before the MAC they are only claims, so they stay null."""
    if profile.authenticated and isinstance(error, (ReplayError, TimestampError, PaddingError)):
        try:
            env = Envelope.decode(text, None)
            return {"device": env.device, "seq": env.seq}
        except IotEnvelopeError:
            pass
    return {"device": None, "seq": None}


def cmd_auth(opts: argparse.Namespace) -> int:
    body = _stdin_bytes()
    if opts.action == "sign":
        if not opts.scheme:
            raise UsageError("auth sign needs --scheme")
        if len(opts.secret) != 1 or (opts.header and len(opts.header) != 1):
            raise UsageError("auth sign takes one --secret and at most one --header")
        name, value = httpauth.sign(body, opts.secret[0], opts.scheme, opts.header[0] if opts.header else None)
        print(f"{name}: {value}")
        return 0
    if not opts.header:
        raise UsageError("auth verify needs --header (the 'Name: value' line or the value)")
    httpauth.verify_lines(body, opts.secret, opts.header, opts.scheme)
    print("ok")
    return 0


_PEER_NAME = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"


def _runner_peers(specs: list[str], builtin: list[str], timeout: float) -> list:
    from .verify import protocol as verify_protocol  # here: only verify needs it
    from .verify.peers.python import RunnerPeer
    if not timeout > 0:
        raise UsageError("--timeout must be a positive number of seconds")
    peers, names = [], set(builtin)
    for spec in specs:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command.strip():
            raise UsageError(f"--peer takes NAME=COMMAND, got {spec[:80]!r}")
        if len(name) > 64 or any(ch not in _PEER_NAME for ch in name):
            raise UsageError(f"--peer name {name[:80]!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if name in names:
            raise UsageError(f"--peer name {name!r} is already taken (built-in rows: {', '.join(builtin)})")
        names.add(name)
        try:
            runner = verify_protocol.ProcessRunner(name, command, timeout=timeout)
        except ValueError as exc:  # shlex: unbalanced quotes
            raise UsageError(f"--peer {name}: cannot split the command: {exc}") from None
        peers.append(RunnerPeer(name, runner))
    return peers


def _write(path: str, text: str, what: str) -> None:
    from pathlib import Path
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot write: {exc.strerror or exc}") from None


def cmd_verify(opts: argparse.Namespace) -> int:
    from .verify import matrix as verify_mod  # here: only verify needs it
    from pathlib import Path
    from .verify import reports
    from .verify.peers import discover
    vector_dir = Path(opts.vectors) if opts.vectors else None
    if vector_dir is not None and not vector_dir.is_dir():
        raise UsageError(f"--vectors {opts.vectors}: not a directory")
    if vector_dir is not None and not verify_mod.vector_files(vector_dir):
        raise UsageError(f"--vectors {opts.vectors}: no vector files (*.json) in it")
    if opts.json == "-" and opts.markdown == "-":
        raise UsageError("--json and --markdown without FILE both want stdout: give one of them a FILE")
    builtin = discover()
    names = [p.name for p in builtin]
    runners = _runner_peers(opts.peer, names, opts.timeout)
    if opts.impl:
        unknown = [i for i in opts.impl if i not in names]
        if unknown:
            raise UsageError(f"--impl {', '.join(unknown)}: no such implementation; valid names: {', '.join(names)}"
                             + (" (runners given with --peer always run)" if runners else ""))
        builtin = [p for p in builtin if p.name in set(opts.impl)]
    try:
        cells = verify_mod.run(vector_dir, peers=builtin + runners)
    except verify_mod.VerifyError as exc:
        print(f"iotenvelope: verify: {exc}", file=sys.stderr)
        return EXIT_VERIFY_FAILED
    if opts.junit:
        _write(opts.junit, reports.junit(cells), "--junit")
    if opts.html:
        _write(opts.html, reports.html(cells), "--html")
    if opts.markdown and opts.markdown != "-":
        _write(opts.markdown, reports.markdown(cells), "--markdown")
    if opts.json and opts.json != "-":
        _write(opts.json, verify_mod.as_json(cells) + "\n", "--json")
    if opts.json == "-":
        print(verify_mod.as_json(cells))
    elif opts.markdown == "-":
        print(reports.markdown(cells))
    else:
        print(verify_mod.render(cells))
    return 0 if verify_mod.ok(cells) else EXIT_VERIFY_FAILED


def cmd_diagnose(opts: argparse.Namespace) -> int:
    from .profiles import diagnose
    report = diagnose.diagnose(_stdin_bytes(), key=opts.key, passphrase=opts.passphrase, iv=opts.iv, now=opts.now,
                               device=opts.device, salt=opts.salt)
    print(json.dumps(report.as_json(), ensure_ascii=False) if opts.json else report.render())
    return 0 if report.findings else EXIT_VERIFY_FAILED


def cmd_profiles(opts: argparse.Namespace) -> int:
    rows = list(profiles.registry().values())
    width = max(len(p.name) for p in rows)
    for p in rows:
        label = "authenticated" if p.authenticated else profiles.UNAUTHENTICATED
        print(f"{p.name.ljust(width)}  {label:<24}  {p.summary}")
    return 0


def cmd_keygen(opts: argparse.Namespace) -> int:
    raw = os.urandom(opts.bytes)
    print("b64:" + b64.encode_std(raw) if opts.b64 else raw.hex())
    return 0


def cmd_vectors(opts: argparse.Namespace) -> int:
    from .verify import vectors as vectors_mod
    from pathlib import Path
    if opts.action == "export":
        if not opts.dir:
            raise UsageError("vectors export needs a directory: iotenvelope vectors export DIR")
        target = Path(opts.dir)
        if target.exists() and not target.is_dir():
            raise UsageError(f"vectors export {opts.dir}: not a directory")
        try:
            written = vectors_mod.export(target)
        except OSError as exc:
            raise UsageError(f"vectors export {opts.dir}: cannot write: {exc.strerror or exc}") from None
        for path in written:
            print(path)
        return 0
    if opts.dir:
        raise UsageError("vectors generate takes --out DIR, not a positional directory")
    if not opts.out and not vectors_mod.CHECKOUT_DIR.is_dir():
        raise UsageError("vectors generate: no checkout's vectors/ here (an installed package): give --out DIR")
    out = Path(opts.out) if opts.out else vectors_mod.CHECKOUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    for path in vectors_mod.write_generated(out, opts.seed):
        print(path)
    return 0


COMMANDS = {"seal": cmd_seal, "open": cmd_open, "auth": cmd_auth, "verify": cmd_verify, "profiles": cmd_profiles,
            "keygen": cmd_keygen, "diagnose": cmd_diagnose, "vectors": cmd_vectors}
COMMANDS["resync"] = resync_mod.cmd_resync


# -- `iotenvelope serve` (the ingest service; its options and code live in iotenvelope/ingest/server.py) ------
def _cmd_serve(opts: argparse.Namespace) -> int:
    from .ingest import server
    return server.cmd_serve(opts)


COMMANDS["serve"] = _cmd_serve


def _check_utf8(opts: argparse.Namespace) -> None:
    """Arguments that were not UTF-8 on the command line arrive as lone surrogates (PEP 383); refuse them here,
    without echoing them (they may be a passphrase), instead of failing deep inside with UnicodeEncodeError."""
    for name, value in vars(opts).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise UsageError(f"--{name.replace('_', '-')} is not valid UTF-8 text") from None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = sys.argv[1:] if argv is None else list(argv)
        opts = build_parser(args[0] if args and args[0] in _PARSERS else None).parse_args(args)
        _check_utf8(opts)
        return COMMANDS[opts.command](opts)
    except UsageError as exc:
        print(f"iotenvelope: usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except IotEnvelopeError as exc:
        print(f"iotenvelope: {type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
