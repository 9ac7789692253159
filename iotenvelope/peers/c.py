"""The C library (``interop/c/``) as verify peers: one ``c-<backend>`` per crypto backend, plus ``c-avr``.

Each peer is the real C code compiled by a real compiler against a real library from Debian: ``c-openssl``
(libssl-dev), ``c-mbedtls`` (libmbedtls-dev), ``c-bearssl`` (libbearssl-dev), ``c-tinyaes`` (tiny-AES-c from
the ``tinyaes`` sdist on PyPI + the project's own SHA-256), and ``c-avr``: the tiny-AES-c build compiled by
avr-gcc for the ATmega328P (Arduino Uno) and run in simavr (libsimavr) with the vectors fed through its UART.
The Uno has 2 KB of RAM: envelopes longer than its runner's buffer (the 1000-byte messages) run on the
ATmega2560 (Arduino Mega, 8 KB RAM) with the same build flags, so every case runs on a simulated AVR.

Files: ``envelope_v1.json`` (open + reseal every case), and Project Wycheproof's AES-CBC-PKCS5 file through
``iote_cbc_pkcs7_encrypt``/``_decrypt``, the AES-CBC + strict PKCS#7 that seal/open run (the backend's AES,
the library's padding). The library takes 16- and 32-byte keys only (SPEC.md: no AES-192), so its Wycheproof
cell is the file's 128- and 256-bit groups; verify reports the AES-192 tests as unsupported, not passed.

The vector runner (``interop/c/tools/runner.c``) does the checking. This module only turns a vector file into
the runner's line protocol (documented at the top of runner.c) and counts the ``pass``/``fail`` verdicts: every
case must get exactly one verdict. The binaries are built on demand with ``make`` (or beforehand by
``.ci/install.d/40-c.sh``); when a compiler, library or simulator is missing the peer says "not available" with
the reason.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from .. import vectors
from . import Peer, Result, Subset, key_size_subset

ORDER = 30

C_DIR = Path(__file__).resolve().parents[2] / "interop" / "c"
BUILD = C_DIR / "build"
BACKENDS = ("openssl", "mbedtls", "bearssl", "tinyaes")
WYCHEPROOF_CBC = "AES-CBC-PKCS5"
#: AES key sizes (bits) of iote_cbc_pkcs7_*: the envelope's 16- and 32-byte keys
KEY_SIZES = (128, 256)
UNSUPPORTED_KEYS = "key size 192 bits: the C library takes 16- and 32-byte keys only (SPEC.md: no AES-192)"

#: iote_err numbers of interop/c/src/iotenvelope.h, by SPEC.md error name
ERROR_CODES = {"ok": 0, "malformed": 1, "unsupported-version": 2, "bad-key": 3, "auth": 4, "wrong-direction": 5,
               "padding": 6, "buffer": 7, "argument": 8, "backend": 9,
               "replay-duplicate": 11, "replay-too-old": 12}
#: numbers the C library no longer returns (10 was IOTE_ERR_RESYNC); iote_error_name() calls them "error"
RESERVED_CODES = (10,)
ERROR_NAMES = {v: k for k, v in ERROR_CODES.items()}

#: what each build needs on PATH before make is worth trying
_TOOLS = {"host": ("make", "cc"), "avr": ("make", "cc", "avr-gcc", "pkg-config")}
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
    """Build one runner ("openssl", ..., or "avr"); returns None when ready, else why not."""
    missing = [t for t in _TOOLS["avr" if kind == "avr" else "host"] if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not found (run .ci/install)"
    header = _HEADERS.get(kind)
    if header and not Path(header).exists():
        return f"{header} missing: the Debian -dev package is not installed (run .ci/install)"
    if kind == "avr":
        if not Path("/usr/lib/avr/include/avr/io.h").exists():
            return "avr-libc not installed (run .ci/install)"
        if shutil.which("avr-nm") is None:
            return "avr-nm not found (binutils-avr; run .ci/install)"
        return _make("build/avr/runner-uno.elf", "build/avr/runner-mega.elf", "build/avrsim")
    sub = "san" if sanitize else "host"
    return _make(f"build/{sub}/iote-runner-{kind}", f"build/{sub}/iote-unit-{kind}")


AVR_BOARDS = {"uno": "atmega328p", "mega": "atmega2560"}


def avr_command(board: str) -> list[str]:
    return [str(BUILD / "avrsim"), "--mcu", AVR_BOARDS[board], "--freq", "16000000",
            str(BUILD / "avr" / f"runner-{board}.elf")]


def avr_buffer_size(board: str) -> int:
    """Size of the runner's envelope buffer, read from the firmware's symbol table."""
    proc = subprocess.run(["avr-nm", "-S", str(BUILD / "avr" / f"runner-{board}.elf")], capture_output=True,
                          text=True, check=True)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3].split(".")[0] == "buf":  # "buf", or "buf.lto_priv.N" after -flto
            return int(parts[1], 16)
    raise RuntimeError(f"no buf symbol in runner-{board}.elf")


def runner_command(kind: str, sanitize: bool = False) -> list[str]:
    return [str(BUILD / ("san" if sanitize else "host") / f"iote-runner-{kind}"), "vectors"]


def envelope_script(data: dict, keep=None) -> tuple[bytes, list[tuple[int, str]]]:
    """The runner's input for an envelope-v1 vector file (the tests ``keep(test)`` selects), and the
    (tcId, label) list it must answer."""
    out = bytearray()
    cases: list[tuple[int, str]] = []
    secret = None
    for group, test in vectors.iter_tests(data):
        if keep is not None and not keep(test):
            continue
        if group["secret"] != secret:
            secret = group["secret"]
            out += f"K {secret}\n".encode()
        text = test["envelope"].encode("utf-8")
        fmt = "j" if test["format"] == "json" else "c"
        recv = "d" if group["receiverDirection"] == "down" else "u"
        out += f"O {test['tcId']} {fmt} {recv} {len(text)}\n".encode() + text + b"\n"
        if test["result"] == "valid":
            msg = bytes.fromhex(test["msg"])
            reseal = "NonCanonicalJson" not in test["flags"]
            kind = {"data": 0, "resync-request": 1, "resync-response": 2}[test["type"]]
            out += (f"V {test['direction'][0]} {kind} {test['dev']} {test['seq']} {test['ts']} {test['iv']} "
                    f"{int(reseal)} {len(msg)}\n").encode() + msg + b"\n"
            if reseal:
                out += f"R {len(text)}\n".encode() + text + b"\n"
        else:
            out += f"X {ERROR_CODES.get(test.get('error', ''), 99)}\n".encode()
        cases.append((test["tcId"], vectors.label(test)))
    out += b"Q\n"
    return bytes(out), cases


def cbc_script(data: dict, keep=None) -> tuple[bytes, list[tuple[int, str]]]:
    """The runner's input for a Wycheproof AES-CBC-PKCS5 file (the tests ``keep(test)`` selects): one ``C`` line
    per test. A valid test must decrypt to ``msg`` and encrypt back to ``ct``; an invalid one must fail to
    decrypt with the library's padding error (every invalid test of the file is a padding defect)."""
    out = bytearray()
    cases: list[tuple[int, str]] = []
    for _, test in vectors.iter_tests(data):
        if keep is not None and not keep(test):
            continue
        msg, ct = bytes.fromhex(test["msg"]), bytes.fromhex(test["ct"])
        code = {"valid": ERROR_CODES["ok"], "invalid": ERROR_CODES["padding"]}.get(test["result"], 99)
        out += f"C {test['tcId']} {test['key']} {test['iv']} {code} {len(msg)} {len(ct)}\n".encode() + msg + ct + b"\n"
        cases.append((test["tcId"], vectors.label(test)))
    out += b"Q\n"
    return bytes(out), cases


def cbc_buffer_need(test: dict) -> int:
    """Bytes of the AVR runner's buffer one ``C`` test needs: plaintext, ciphertext and a work area."""
    m, n = len(test["msg"]) // 2, len(test["ct"]) // 2
    return m + n + max(n, (m // 16 + 1) * 16)


SCRIPTS = {vectors.ENVELOPE_ALGORITHM: (envelope_script, lambda t: len(t["envelope"].encode())),
           WYCHEPROOF_CBC: (cbc_script, cbc_buffer_need)}


def run_script(command: list[str], script: bytes, cases: list[tuple[int, str]], timeout: float = 900,
               result: Result | None = None, where: str = "") -> Result:
    """Feed a script to a runner and turn its verdict lines into a Result (one verdict per case, in order)."""
    result = Result() if result is None else result
    try:
        proc = subprocess.run(command, input=script, capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Result(failed=len(cases), failures=[f"runner did not finish: {exc}"])
    verdicts: dict[int, str] = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("pass", "fail") and parts[1].isdigit():
            verdicts[int(parts[1])] = line
        elif parts and parts[0] == "key" and parts[1:] != ["0"]:
            result.record(False, "device secret", f"runner could not derive keys: {line}")
        elif parts and parts[0] == "free" and parts[1:] == ["0"]:
            result.record(False, f"{where}RAM", "the stack reached the static data (no untouched RAM left)")
    for tc_id, label in cases:
        line = verdicts.get(tc_id)
        if line is None:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            result.record(False, label, f"no verdict from the runner ({tail[0][:200]})")
        elif line.startswith("pass"):
            result.record(True, label)
        else:
            detail = line.split(maxsplit=2)[2] if len(line.split(maxsplit=2)) > 2 else "failed"
            words = detail.split()
            if words and words[-1].isdigit() and int(words[-1]) in ERROR_NAMES:
                detail = " ".join(words[:-1] + [ERROR_NAMES[int(words[-1])]])
            result.record(False, label, where + detail)
    if proc.returncode != 0 and not result.failed:
        result.record(False, "runner", f"exited with {proc.returncode}: {proc.stderr.decode('utf-8', 'replace')[-300:]}")
    return result


class CPeer(Peer):
    algorithms = frozenset(SCRIPTS)

    def __init__(self, kind: str):
        self.kind = kind
        self.name = f"c-{kind}"

    def unavailable_reason(self) -> str | None:
        return build(self.kind)

    def subset(self, data: dict) -> Subset | None:
        if vectors.algorithm_of(data) == WYCHEPROOF_CBC:
            return key_size_subset(data, KEY_SIZES, UNSUPPORTED_KEYS)
        return None

    def run(self, path: Path, data: dict) -> Result:
        make_script, need = SCRIPTS[vectors.algorithm_of(data)]
        if self.kind != "avr":
            script, cases = make_script(data)
            return run_script(runner_command(self.kind), script, cases)
        cap = avr_buffer_size("uno")
        result = Result()
        for board, keep in (("uno", lambda t: need(t) <= cap), ("mega", lambda t: need(t) > cap)):
            script, cases = make_script(data, keep)
            if cases:
                run_script(avr_command(board), script, cases, result=result, where=f"[{AVR_BOARDS[board]}] ")
        return result


def discover() -> list[Peer]:
    return [CPeer(kind) for kind in (*BACKENDS, "avr")]
