"""The C library (``interop/c/``) as verify peers: one ``c-<backend>`` per crypto backend, plus ``c-avr`` and
``c-avr-device``.

Each peer is the real C code compiled by a real compiler against a real library from Debian: ``c-openssl``
(libssl-dev), ``c-mbedtls`` (libmbedtls-dev), ``c-bearssl`` (libbearssl-dev), ``c-tinyaes`` (tiny-AES-c from
the ``tinyaes`` sdist on PyPI + the project's own SHA-256), and ``c-avr``: the tiny-AES-c build compiled by
avr-gcc for the ATmega328P (Arduino Uno) and run in simavr (libsimavr) with the vectors fed through its UART.
The Uno has 2 KB of RAM: envelopes longer than its runner's buffer (the 1000-byte messages) run on the
ATmega2560 (Arduino Mega, 8 KB RAM) with the same build flags, so every case runs on a simulated AVR.

``c-avr`` is built with JSON and AES-256; ``c-avr-device`` is the same runner built with the Makefile's
``AVR_DEVICE`` flags (``-DIOTE_WITH_JSON=0 -DIOTE_WITH_AES256=0``), the configuration ``bench/avr.py`` measures
for flash and RAM. Its cells are the compact AES-128 cases (``envelope_v1.json [compact,16-byte secret]``,
``wycheproof/aes_cbc_pkcs5_test.json [128]``); the rest are reported unsupported, never passed. The runner still
gets the JSON and 32-byte-key cases (not the AES-192 ones, as for ``c-avr``) and must answer each with
``unsupported json|aes256`` after the library refused it: a runner built with the full configuration would
open them, which fails the cell.

Files: ``envelope_v1.json`` (open + reseal every case), ``envelope_v1_lean.json`` (the lean form: open for the
case's device id, reseal; the repeated-seq cases through the C replay window), and Project Wycheproof's
AES-CBC-PKCS5 file through
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

from .. import lean_vectors, vectors
from . import Peer, Result, Subset, key_size_subset

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


def avr_command(board: str, kind: str = "avr") -> list[str]:
    return [str(BUILD / "avrsim"), "--mcu", AVR_BOARDS[board], "--freq", "16000000", str(avr_firmware(board, kind))]


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
            reseal = not {"NonCanonicalJson", "TrailingNewline"} & set(test["flags"])  # those are open-only
            kind = {"data": 0, "resync-request": 1, "resync-response": 2}[test["type"]]
            out += (f"V {test['direction'][0]} {kind} {test['dev']} {test['seq']} {test['ts']} {test['iv']} "
                    f"{int(reseal)} {len(msg)}\n").encode() + msg + b"\n"
            if reseal:  # a TrailingNewline case reseals to the text without the newline the receiver stripped
                again = (_strip_one_newline(test["envelope"]) if "TrailingNewline" in test["flags"]
                         else test["envelope"]).encode("utf-8")
                out += f"R {len(again)}\n".encode() + again + b"\n"
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


def _strip_one_newline(text: str) -> str:
    """SPEC.md section 5: what a receiver decodes (one trailing LF or CRLF removed): the text a reseal gives."""
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def lean_script(data: dict, keep=None) -> tuple[bytes, list[tuple[int, str]]]:
    """The runner's input for envelope_v1_lean.json: ``L`` opens each case for its ``dev`` with the lean keys;
    valid cases are compared and sealed again (the IV comes from seq: ``V`` with iv ``-``); a RepeatedSeq case
    opens its envelopes in order through one fresh replay window (``W``, ``P`` for all but the last)."""
    out = bytearray()
    cases: list[tuple[int, str]] = []
    secret = None
    for group, test in vectors.iter_tests(data):
        if keep is not None and not keep(test):
            continue
        if group["secret"] != secret:
            secret = group["secret"]
            out += f"K {secret}\n".encode()
        recv = "d" if group["receiverDirection"] == "down" else "u"
        if "envelopes" in test:
            out += b"W\n"
            steps = list(zip(test["envelopes"], test["results"], test.get("msgs", [])))
            for i, (text, outcome, msg) in enumerate(steps):
                raw = text.encode("utf-8")
                out += f"L {test['tcId']} {recv} {test['dev']} 1 {len(raw)}\n".encode() + raw + b"\n"
                if i < len(steps) - 1:
                    plain = bytes.fromhex(msg) if outcome == "valid" else b""
                    code = ERROR_CODES["ok"] if outcome == "valid" else ERROR_CODES.get(outcome, 99)
                    out += f"P {code} {len(plain)}\n".encode() + plain + b"\n"
                else:
                    out += f"X {ERROR_CODES.get(outcome, 99)}\n".encode()
        else:
            text = test["envelope"].encode("utf-8")
            out += f"L {test['tcId']} {recv} {test['dev']} 0 {len(text)}\n".encode() + text + b"\n"
            if test["result"] == "valid":
                msg = bytes.fromhex(test["msg"])
                kind = {"data": 0, "resync-request": 1, "resync-response": 2}[test["type"]]
                again = _strip_one_newline(test["envelope"]).encode("utf-8")
                out += (f"V {test['direction'][0]} {kind} {test['dev']} {test['seq']} {test['ts']} - 1 "
                        f"{len(msg)}\n").encode() + msg + b"\n" + f"R {len(again)}\n".encode() + again + b"\n"
            else:
                out += f"X {ERROR_CODES.get(test.get('error', ''), 99)}\n".encode()
        cases.append((test["tcId"], vectors.label(test)))
    out += b"Q\n"
    return bytes(out), cases


def lean_buffer_need(test: dict) -> int:
    """Bytes of the AVR runner's buffer one lean case needs (its longest envelope text)."""
    return max(len(t.encode()) for t in test.get("envelopes", [test.get("envelope", "")]))


SCRIPTS = {vectors.ENVELOPE_ALGORITHM: (envelope_script, lambda t: len(t["envelope"].encode())),
           lean_vectors.LEAN_ALGORITHM: (lean_script, lean_buffer_need),
           WYCHEPROOF_CBC: (cbc_script, cbc_buffer_need)}


def run_script(command: list[str], script: bytes, cases: list[tuple[int, str]], timeout: float = 900,
               result: Result | None = None, where: str = "", unsupported: dict[int, str] | None = None) -> Result:
    """Feed a script to a runner and turn its verdict lines into a Result (one verdict per case, in order).

    ``unsupported`` maps the tcIds the runner must answer ``unsupported <tcId> <feature>`` (a feature its build
    leaves out) to that feature: such a case adds nothing to the Result (verify counts it as unsupported), any
    other answer to it is a failure, and so is ``unsupported`` for a case not in the map."""
    result = Result() if result is None else result
    unsupported = unsupported or {}
    try:
        proc = subprocess.run(command, input=script, capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Result(failed=len(cases), failures=[f"runner did not finish: {exc}"])
    verdicts: dict[int, str] = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("pass", "fail", "unsupported") and parts[1].isdigit():
            verdicts[int(parts[1])] = line
        elif parts and parts[0] == "key" and parts[1:] != ["0"] and parts[1:2] != ["unsupported"]:
            # "key unsupported aes256": the build refused a 32-byte secret; its cases' verdicts tell the rest
            result.record(False, "device secret", f"runner could not derive keys: {line}")
        elif parts and parts[0] == "free" and parts[1:] == ["0"]:
            result.record(False, f"{where}RAM", "the stack reached the static data (no untouched RAM left)")
    for tc_id, label in cases:
        line = verdicts.get(tc_id)
        if line is None:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            result.record(False, label, f"no verdict from the runner ({tail[0][:200]})")
        elif tc_id in unsupported:
            if line.split()[0] == "unsupported" and line.split()[2:] == [unsupported[tc_id]]:
                continue
            result.record(False, label, f"{where}expected 'unsupported {unsupported[tc_id]}' (the build leaves it "
                                        f"out), got: {line.strip()[:200]}")
        elif line.startswith("unsupported"):
            result.record(False, label, f"{where}the runner calls it unsupported ({' '.join(line.split()[2:])}): "
                                        "this build should check it")
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


class CPeer(Peer):
    algorithms = frozenset(SCRIPTS)

    def __init__(self, kind: str):
        self.kind = kind
        self.name = f"c-{kind}"

    def unavailable_reason(self) -> str | None:
        return build(self.kind)

    def subset(self, data: dict) -> Subset | None:
        if self.kind == "avr-device":
            return device_subset(data)
        if vectors.algorithm_of(data) == WYCHEPROOF_CBC:
            return key_size_subset(data, KEY_SIZES, UNSUPPORTED_KEYS)
        return None

    def run(self, path: Path, data: dict) -> Result:
        make_script, need = SCRIPTS[vectors.algorithm_of(data)]
        if self.kind not in AVR_KINDS:
            script, cases = make_script(data)
            return run_script(runner_command(self.kind), script, cases)
        unsupported: dict[int, str] = {}
        if self.kind == "avr-device":
            # the runner also gets the cases the device build leaves out (the file at path, minus AES-192 as for
            # c-avr) and must call each unsupported; only data's cases can pass
            full = vectors.load(path)
            if vectors.algorithm_of(full) == WYCHEPROOF_CBC:
                full = key_size_subset(full, KEY_SIZES, UNSUPPORTED_KEYS).data
            checked = {t["tcId"] for _, t in vectors.iter_tests(data)}
            unsupported = {t["tcId"]: device_feature(g, t) for g, t in vectors.iter_tests(full)
                           if t["tcId"] not in checked}
            data = full
        cap = avr_buffer_size("uno", self.kind)
        result = Result()
        for board, keep in (("uno", lambda t: need(t) <= cap), ("mega", lambda t: need(t) > cap)):
            script, cases = make_script(data, keep)
            if cases:
                run_script(avr_command(board, self.kind), script, cases, result=result,
                           where=f"[{AVR_BOARDS[board]}] ", unsupported=unsupported)
        return result


def discover() -> list[Peer]:
    return [CPeer(kind) for kind in (*BACKENDS, *AVR_KINDS)]
