"""The C library (``interop/c/``) as verify peers: one ``c-<backend>`` per crypto backend, plus ``c-avr`` and
``c-avr-device``. Every row answers the runner protocol (docs/runner-protocol.md), and verify's own checking code
(``protocol.check_file``) judges it, as for every other row.

Each peer is the real C code compiled by a real compiler against a real library from Debian: ``c-openssl``
(libssl-dev), ``c-mbedtls`` (libmbedtls-dev), ``c-bearssl`` (libbearssl-dev), ``c-tinyaes`` (tiny-AES-c from
the ``tinyaes`` sdist on PyPI + the project's own SHA-256). The host rows are ``iote-runner-<backend> protocol``
(``interop/c/tools/runner.c``) started as a protocol process.

``c-avr`` is the tiny-AES-c build compiled by avr-gcc for the ATmega328P (Arduino Uno) and run in simavr
(libsimavr). 2 KB of RAM cannot hold a 1000-byte case as JSON text, so the firmware speaks a small line protocol
on its UART (documented at the top of runner.c) and :class:`AvrRunner` here is the protocol side: it turns each
JSON request into one device line (plus the raw bytes), and the device's answer line into the JSON answer. A
request whose bytes do not fit the Uno runner's buffer goes to the same firmware built for the ATmega2560
(Arduino Mega, 8 KB RAM), so every case runs on a simulated AVR. Each device answer also reports the RAM the
stack never reached; 0 (the stack reached the static data) stops the runner with that reason.

``c-avr-device`` is the same firmware built with the Makefile's ``AVR_DEVICE`` flags (``-DIOTE_WITH_JSON=0
-DIOTE_WITH_AES256=0``), the configuration ``bench/avr.py`` measures for flash and RAM. Its cells are the compact
AES-128 cases (``envelope_v1.json [compact,16-byte secret]``, ``wycheproof/aes_cbc_pkcs5_test.json [128]``); the
rest are reported unsupported, never passed. The device still gets the JSON and 32-byte-key cases (not the AES-192
ones, as for ``c-avr``): the adapter answers ``unsupported`` only where the device's library refused them the way
iotenvelope.h documents (``argument`` from iote_open for the JSON form or a refused key, ``bad-key`` for a 32-byte
key), and a case the device opened instead fails the cell.

Files: ``envelope_v1.json`` (open + reseal every case), ``envelope_v1_lean.json`` (the lean form; the
repeated-seq cases through the C replay window, op ``open-many``), and Project Wycheproof's AES-CBC-PKCS5 file
through ``iote_cbc_pkcs7_encrypt``/``_decrypt``, the AES-CBC + strict PKCS#7 that seal/open run. The library
takes 16- and 32-byte keys only (SPEC.md: no AES-192), so its Wycheproof cell is the file's 128- and 256-bit
groups; verify reports the AES-192 tests as unsupported, not passed (the runner itself answers such a request
``unsupported`` after the library refused the key).

The binaries are built on demand with ``make`` (or beforehand by ``.ci/install.d/40-c.sh``); when a compiler,
library or simulator is missing the peer says "not available" with the reason.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import shutil
import subprocess
import threading
import time
from functools import lru_cache
from pathlib import Path

from .. import lean_vectors, protocol, vectors
from . import Peer, Result, Subset, key_size_subset
from .python import RunnerPeer

ORDER = 30

C_DIR = Path(__file__).resolve().parents[3] / "interop" / "c"
BUILD = C_DIR / "build"
BACKENDS = ("openssl", "mbedtls", "bearssl", "tinyaes")
WYCHEPROOF_CBC = "AES-CBC-PKCS5"
#: AES key sizes (bits) of iote_cbc_pkcs7_*: the envelope's 16- and 32-byte keys
KEY_SIZES = (128, 256)
UNSUPPORTED_KEYS = "key size 192 bits: the C library takes 16- and 32-byte keys only (SPEC.md: no AES-192)"
#: what the device configuration (Makefile AVR_DEVICE) leaves out
DEVICE_FLAGS = "-DIOTE_WITH_JSON=0 -DIOTE_WITH_AES256=0"
UNSUPPORTED_DEVICE = (f"JSON form or 32-byte secret: the device configuration ({DEVICE_FLAGS}, measured by "
                      "bench/avr.py) has the compact form and 16-byte secrets only")
UNSUPPORTED_DEVICE_LEAN = (f"32-byte secret: the device configuration ({DEVICE_FLAGS}, measured by bench/avr.py) "
                           "has 16-byte secrets only")
UNSUPPORTED_DEVICE_KEYS = (f"key size 192 or 256 bits: the device configuration ({DEVICE_FLAGS}) takes 16-byte "
                           "keys only (and the library has no AES-192)")

#: iote_err numbers of interop/c/src/iotenvelope.h, by SPEC.md error name
ERROR_CODES = {"ok": 0, "malformed": 1, "unsupported-version": 2, "bad-key": 3, "auth": 4, "wrong-direction": 5,
               "padding": 6, "buffer": 7, "argument": 8, "backend": 9,
               "replay-duplicate": 11, "replay-too-old": 12, "stale": 13}
#: numbers the C library no longer returns (10 was IOTE_ERR_RESYNC); iote_error_name() calls them "error"
RESERVED_CODES = (10,)
ERROR_NAMES = {v: k for k, v in ERROR_CODES.items()}

#: what each build needs on PATH before make is worth trying
_TOOLS = {"host": ("make", "cc"), "avr": ("make", "cc", "avr-gcc", "pkg-config")}
#: the AVR firmware kinds: runner file suffix per kind
AVR_KINDS = {"avr": "", "avr-device": "-device"}
_HEADERS = {"openssl": "/usr/include/openssl/evp.h", "mbedtls": "/usr/include/mbedtls/aes.h",
            "bearssl": "/usr/include/bearssl.h"}


def _make(*targets: str) -> str | None:
    """Build targets in interop/c; None on success, else a one-line reason."""
    try:
        proc = subprocess.run(["make", "-s", "-C", str(C_DIR), *targets], capture_output=True, text=True,
                              timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"make failed: {exc}"
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "")
        return f"build failed: {detail.strip()[:200]} (run .ci/install)"
    return None


@lru_cache(maxsize=None)
def build(kind: str, sanitize: bool = False) -> str | None:
    """Build one runner ("openssl", ..., "avr" or "avr-device"); returns None when ready, else why not."""
    missing = [t for t in _TOOLS["avr" if kind in AVR_KINDS else "host"] if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not found (run .ci/install)"
    header = _HEADERS.get(kind)
    if header and not Path(header).exists():
        return f"{header} missing: the Debian -dev package is not installed (run .ci/install)"
    if kind in AVR_KINDS:
        if not Path("/usr/lib/avr/include/avr/io.h").exists():
            return "avr-libc not installed (run .ci/install)"
        if shutil.which("avr-nm") is None:
            return "avr-nm not found (binutils-avr; run .ci/install)"
        return _make(*(f"build/avr/runner-{board}{AVR_KINDS[kind]}.elf" for board in AVR_BOARDS), "build/avrsim")
    sub = "san" if sanitize else "host"
    return _make(f"build/{sub}/iote-runner-{kind}", f"build/{sub}/iote-unit-{kind}")


AVR_BOARDS = {"uno": "atmega328p", "mega": "atmega2560"}


def avr_firmware(board: str, kind: str = "avr") -> Path:
    return BUILD / "avr" / f"runner-{board}{AVR_KINDS[kind]}.elf"


#: simulated cycles one device command may take (16 MHz: 120 s of device time) before avrsim stops it
AVR_MAX_CYCLES = 2_000_000_000


def avr_command(board: str, kind: str = "avr") -> list[str]:
    """avrsim holding a conversation with the runner firmware (the device line protocol of runner.c)."""
    return [str(BUILD / "avrsim"), "--mcu", AVR_BOARDS[board], "--freq", "16000000", "--interactive",
            "--max-cycles", str(AVR_MAX_CYCLES), str(avr_firmware(board, kind))]


def avr_buffer_size(board: str, kind: str = "avr") -> int:
    """Size of the runner's envelope buffer, read from the firmware's symbol table."""
    proc = subprocess.run(["avr-nm", "-S", str(avr_firmware(board, kind))], capture_output=True,
                          text=True, check=True)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3].split(".")[0] == "buf":  # "buf", or "buf.lto_priv.N" after -flto
            return int(parts[1], 16)
    raise RuntimeError(f"no buf symbol in {avr_firmware(board, kind).name}")


def runner_command(kind: str, sanitize: bool = False) -> list[str]:
    """The host runner answering the protocol on stdin/stdout."""
    return [str(BUILD / ("san" if sanitize else "host") / f"iote-runner-{kind}"), "protocol"]


def host_runner(kind: str, sanitize: bool = False, timeout: float = 60.0) -> protocol.ProcessRunner:
    return protocol.ProcessRunner(f"c-{kind}", shlex.join(runner_command(kind, sanitize)), timeout=timeout)


def library_version() -> str:
    found = re.search(r'#define IOTE_VERSION_STRING "([^"]+)"', (C_DIR / "src" / "iotenvelope.h").read_text())
    return found.group(1) if found else "unknown"


_FORMS = {"compact": "c", "json": "j", "lean": "l"}
_TYPES = {"data": 0, "resync-request": 1, "resync-response": 2}
_TYPE_NAMES = {v: k for k, v in _TYPES.items()}
#: wall-clock seconds one device answer may take (avrsim's --max-cycles stops a runaway firmware first)
_DEVICE_TIMEOUT = 600.0


class AvrDevice:
    """One simulated board running the runner firmware, spoken to over its UART (avrsim --interactive)."""

    def __init__(self, board: str, kind: str):
        self.board, self.kind = board, kind
        self.mcu = AVR_BOARDS[board]
        self.cap = avr_buffer_size(board, kind)
        self.proc: subprocess.Popen | None = None
        self.secret: str | None = None
        self.key_rc = 0
        #: the least RAM the stack left untouched so far (every answer reports it; docs/c.md quotes it)
        self.min_free: int | None = None
        self._pending = b""
        self._stderr = bytearray()

    def _start(self) -> None:
        try:
            self.proc = subprocess.Popen(avr_command(self.board, self.kind), stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise protocol.RunnerFailure(f"[{self.mcu}] could not start avrsim: {exc}") from None
        self.secret, self._pending, self._stderr = None, b"", bytearray()
        threading.Thread(target=self._drain, args=(self.proc, self._stderr), daemon=True).start()

    @staticmethod
    def _drain(proc: subprocess.Popen, sink: bytearray) -> None:
        try:
            for chunk in iter(lambda: proc.stderr.read1(4096), b""):
                sink.extend(chunk)
                del sink[:-2048]
        except (OSError, ValueError):
            pass

    def _fail(self, why: str) -> protocol.RunnerFailure:
        tail = bytes(self._stderr).decode("utf-8", "replace").strip().splitlines()[-1:]
        self.close()
        return protocol.RunnerFailure(f"[{self.mcu}] {why}" + (f"; avrsim: {protocol.quote(tail[0], 160)}" if tail
                                                                 else ""))

    def _read(self, n: int | None) -> bytes:
        """n bytes, or (None) one line without its newline, within the timeout."""
        deadline = time.monotonic() + _DEVICE_TIMEOUT
        fd = self.proc.stdout.fileno()
        while True:
            if n is None and b"\n" in self._pending:
                line, self._pending = self._pending.split(b"\n", 1)
                return line
            if n is not None and len(self._pending) >= n:
                out, self._pending = self._pending[:n], self._pending[n:]
                return out
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise self._fail(f"no answer within {_DEVICE_TIMEOUT:g} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                time.sleep(0.05)
                raise self._fail(f"the simulation ended (exit status {self.proc.poll()})")
            self._pending += chunk

    def command(self, line: str, block: bytes = b"") -> tuple[int, list[str], bytes]:
        """Send one device line (+ its bytes); (rc, the answer line's further words, the bytes that followed)."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        try:
            self.proc.stdin.write(line.encode("ascii") + b"\n" + block)
            self.proc.stdin.flush()
        except OSError:  # it exited
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
            raise self._fail(f"the simulation ended (exit status {self.proc.poll()})") from None
        words = self._read(None).decode("ascii", "replace").split()
        if len(words) < 4 or words[0] != "r" or not all(w.isdigit() for w in words[1:4]):
            raise self._fail(f"answer {protocol.quote(' '.join(words))} is not a device answer line")
        rc, free, length = int(words[1]), int(words[2]), int(words[3])
        data = self._read(length) if length else b""
        self.min_free = free if self.min_free is None else min(self.min_free, free)
        if free == 0:
            raise self._fail("the stack reached the static data (no untouched RAM left)")
        return rc, words[4:], data

    def use_secret(self, secret_hex: str) -> int:
        if self.secret != secret_hex:
            rc, _, _ = self.command(f"K {secret_hex}")
            self.secret, self.key_rc = secret_hex, rc
        return self.key_rc

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.stdin.write(b"Q\n")
        except OSError:
            pass
        protocol.stop_process(proc, 5.0)


def _name(rc: int) -> str:
    return ERROR_NAMES.get(rc, "error")


class AvrRunner(protocol.Runner):
    """The protocol side of the AVR rows: each JSON request becomes one line of the device protocol on the Uno,
    or on the Mega when its bytes do not fit the Uno runner's buffer (or the Uno answers ``buffer``)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.name = f"c-{kind}"
        self._devices: dict[str, AvrDevice] = {}

    def device(self, board: str) -> AvrDevice:
        if board not in self._devices:
            self._devices[board] = AvrDevice(board, self.kind)
        return self._devices[board]

    def hello(self) -> dict:
        return {"id": 0, "ok": True, "protocol": protocol.PROTOCOL_VERSION,
                "name": f"iotenvelope-c (tinyaes, {'/'.join(AVR_BOARDS.values())} in simavr)",
                "version": library_version(), "ops": ["open", "open-many", "seal", "cbc-decrypt", "cbc-encrypt"],
                "forms": ["compact", "json", "lean"], "profiles": []}

    def _on_board(self, size: int, ask) -> tuple:
        """ask(device) on the Uno when size fits its buffer, else (or when the Uno answers buffer) on the Mega."""
        uno = self.device("uno")
        if size <= uno.cap:
            out = ask(uno)
            if out[0] != ERROR_CODES["buffer"]:
                return out
        return ask(self.device("mega"))

    def _refusal(self, request: dict, rc: int, key_rc: int) -> dict | None:
        """The device build's library refused what the build leaves out: the answer ``unsupported``."""
        if self.kind != "avr-device" or rc != ERROR_CODES["argument"]:
            return None
        if request.get("form") == "json":
            return {"ok": False, "error": "unsupported",
                    "message": f"json: iote_open of the device build refused the JSON form (argument); {DEVICE_FLAGS}"}
        if key_rc == ERROR_CODES["bad-key"] and len(request.get("secret_hex") or "") == 64:
            return {"ok": False, "error": "unsupported",
                    "message": f"aes256: the device build refused the 32-byte secret (bad-key); {DEVICE_FLAGS}"}
        return None

    def _open(self, request: dict, texts: list[bytes], window: bool) -> list[dict]:
        form = request.get("form")
        recv = "d" if request.get("direction") == "down" else "u"
        dev = (request.get("device") or "").encode("utf-8").hex() or "-" if form == "lean" else "-"

        def ask(device: AvrDevice) -> tuple:
            key_rc = device.use_secret(request.get("secret_hex") or "")
            aes256_refused = self.kind == "avr-device" and key_rc == ERROR_CODES["bad-key"]
            if key_rc != 0 and not aes256_refused:
                return key_rc, [{"ok": False, "error": _name(key_rc)}] * len(texts)
            results = []
            if window:
                device.command("W")
            for text in texts:
                rc, words, data = device.command(f"O {_FORMS[form]} {recv} {dev} {int(window)} {len(text)}", text)
                if rc == ERROR_CODES["buffer"] and device.board == "uno":
                    return rc, []  # again on the Mega
                refused = self._refusal(request, rc, key_rc)
                if refused is not None:
                    return rc, [refused]
                if rc != 0:
                    results.append({"ok": False, "error": _name(rc)})
                    continue
                direction, kind, seq, ts, dev_hex = (words + [""] * 5)[:5]
                results.append({"ok": True, "plaintext_hex": data.hex(),
                                "device": bytes.fromhex(dev_hex).decode("utf-8", "replace"),
                                "direction": "down" if direction == "d" else "up",
                                "type": _TYPE_NAMES.get(int(kind), kind), "seq": int(seq), "ts": int(ts)})
            return 0, results

        return self._on_board(max(len(t) for t in texts), ask)[1]

    def _seal(self, request: dict) -> dict:
        form = request.get("form")
        msg = bytes.fromhex(request["plaintext_hex"])
        iv = request.get("iv_hex") or "-"
        line = (f"S {_FORMS[form]} {'d' if request.get('direction') == 'down' else 'u'} "
                f"{_TYPES.get(request.get('type'), 9)} {request['seq']} {request['ts']} {iv} "
                f"{request['device'].encode('utf-8').hex()} {len(msg)}")

        def ask(device: AvrDevice) -> tuple:
            key_rc = device.use_secret(request.get("secret_hex") or "")
            if key_rc != 0:
                return key_rc, b""
            rc, _, data = device.command(line, msg)
            return rc, data

        rc, data = self._on_board(len(msg), ask)
        if rc != 0:
            return {"ok": False, "error": _name(rc)}
        return {"ok": True, "envelope": data.decode("utf-8", "replace")}

    def _cipher(self, request: dict, encrypt: bool) -> dict:
        data = bytes.fromhex(request["plaintext_hex" if encrypt else "ct_hex"])
        need = (len(data) // 16 + 1) * 16 if encrypt else len(data)
        line = f"{'E' if encrypt else 'D'} {request['key_hex']} {request['iv_hex']} {len(data)}"
        rc, _, out = self._on_board(need, lambda device: device.command(line, data))
        if rc == ERROR_CODES["bad-key"] and len(request["key_hex"]) in (48, 64):
            if len(request["key_hex"]) == 48:
                return {"ok": False, "error": "unsupported", "message": "no AES-192 in the C library (bad-key)"}
            if self.kind == "avr-device":
                return {"ok": False, "error": "unsupported",
                        "message": f"aes256: the device build refused the 32-byte key (bad-key); {DEVICE_FLAGS}"}
        if rc != 0:
            return {"ok": False, "error": _name(rc)}
        return {"ok": True, ("ct_hex" if encrypt else "plaintext_hex"): out.hex()}

    def call(self, request: dict) -> dict:
        op = request.get("op")
        try:
            if op == "open":
                answer = self._open(request, [request["envelope"].encode("utf-8")], False)[0]
            elif op == "open-many":
                results = self._open(request, [e.encode("utf-8") for e in request["envelopes"]], True)
                answer = results[0] if len(results) == 1 and results[0].get("error") == "unsupported" else {
                    "ok": True, "results": results}
            elif op == "seal":
                answer = self._seal(request)
            elif op in ("cbc-decrypt", "cbc-encrypt"):
                answer = self._cipher(request, op == "cbc-encrypt")
            else:
                answer = {"ok": False, "error": "unsupported", "message": f"no op {protocol.quote(op, 40)}"}
        except (KeyError, TypeError, ValueError) as exc:
            answer = {"ok": False, "error": "bad-request", "message": type(exc).__name__}
        return {"id": request["id"], **answer}

    def close(self) -> None:
        for device in self._devices.values():
            device.close()


def device_feature(group: dict, test: dict) -> str | None:
    """The feature a case needs that the device configuration leaves out ("json" before "aes256", the runner's
    order), or None when the device build must check it."""
    if test.get("format") == "json":
        return "json"
    if "secret" in group:
        return "aes256" if len(group["secret"]) == 64 else None
    return "aes256" if group.get("keySize") == 256 else None


def device_subset(data: dict) -> Subset | None:
    """The cases of a file the device configuration checks: compact form (and lean), 16-byte secrets / AES-128
    keys."""
    if vectors.algorithm_of(data) == WYCHEPROOF_CBC:
        return key_size_subset(data, (128,), UNSUPPORTED_DEVICE_KEYS)
    groups, left_out = [], 0
    for group in data["testGroups"]:
        tests = [t for t in group.get("tests", []) if device_feature(group, t) is None]
        left_out += len(group.get("tests", [])) - len(tests)
        if tests:
            groups.append({**group, "tests": tests})
    if vectors.algorithm_of(data) == lean_vectors.LEAN_ALGORITHM:  # the lean form is in the device build
        return Subset("[16-byte secret]", {**data, "testGroups": groups}, left_out, UNSUPPORTED_DEVICE_LEAN)
    return Subset("[compact,16-byte secret]", {**data, "testGroups": groups}, left_out, UNSUPPORTED_DEVICE)


class CPeer(RunnerPeer):
    algorithms = frozenset({vectors.ENVELOPE_ALGORITHM, lean_vectors.LEAN_ALGORITHM, WYCHEPROOF_CBC})

    def __init__(self, kind: str, sanitize: bool = False):
        self.kind = kind
        runner = AvrRunner(kind) if kind in AVR_KINDS else host_runner(kind, sanitize)
        super().__init__(f"c-{kind}", runner)
        self.sanitize = sanitize

    def unavailable_reason(self) -> str | None:
        return build(self.kind, self.sanitize)

    def subset(self, data: dict) -> Subset | None:
        if self.kind == "avr-device":
            return device_subset(data)
        if vectors.algorithm_of(data) == WYCHEPROOF_CBC:
            return key_size_subset(data, KEY_SIZES, UNSUPPORTED_KEYS)
        return None

    def run(self, path: Path, data: dict) -> Result:
        if self.kind != "avr-device":
            return super().run(path, data)
        # the device also gets the cases its build leaves out (the file at path, minus AES-192 as for c-avr): each
        # must come back unsupported for the feature it needs, after the device's library refused it
        full = vectors.load(path)
        if vectors.algorithm_of(full) == WYCHEPROOF_CBC:
            full = key_size_subset(full, KEY_SIZES, UNSUPPORTED_KEYS).data
        checked = {t["tcId"] for _, t in vectors.iter_tests(data)}
        feature = {t["tcId"]: device_feature(g, t) for g, t in vectors.iter_tests(full) if t["tcId"] not in checked}
        result = Result()
        for case in super().run(path, full).cases:
            if case.tc_id in checked and case.status == "unsupported":
                case.status, case.detail = "failed", f"the device build must check it, but: {case.detail}"
            elif case.tc_id not in checked:
                if case.status == "unsupported" and case.detail.split(":")[0] == feature[case.tc_id]:
                    continue
                case.status, case.detail = "failed", (
                    f"expected unsupported {feature[case.tc_id]} (the device build leaves it out, its library must "
                    f"refuse it), got {case.status}" + (f": {case.detail}" if case.detail else ""))
            result.cases.append(case)
            if case.status == "passed":
                result.passed += 1
            else:
                result.failed += 1
                result.failures.append(f"{case.label}: {case.detail}")
        return result


def discover() -> list[Peer]:
    return [CPeer(kind) for kind in (*BACKENDS, *AVR_KINDS)]
