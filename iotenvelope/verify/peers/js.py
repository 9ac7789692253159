"""interop/js under node as verify peers: ``js-node-crypto`` (the package's default backend under Node.js) and
one ``js-cryptojs-<version>`` per installed crypto-js version (its crypto-js backend on that version).

Each row is a runner like any ``verify --peer`` program (docs/runner-protocol.md): one
``node interop/js/bridge.js --protocol <lib>`` process per row, started at its first file and kept for the run,
answering verify's requests; verify's own checking code (``protocol.check_file``) judges the answers, as for
every other row. :class:`ExecJSRunner` answers the same requests through PyExecJS (one node process per
request, as the original design card had it): slow, kept as a fallback where only PyExecJS is allowed.

The tests and ``bench/bridge.py`` also call the library directly (``call``/``native`` requests) through
:class:`NodeBridge`: ONE long-lived ``node interop/js/bridge.js`` (no ``--protocol``) that loads every installed
crypto-js version side by side (npm aliases ``crypto-js-3.3.0`` ...); :class:`ExecJSTransport` runs those
through PyExecJS for comparison.
"""

from __future__ import annotations

import atexit
import json
import shlex
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from ...errors import IotEnvelopeError
from .. import protocol
from . import Peer
from .python import RunnerPeer

ORDER = 10
JS_DIR = Path(__file__).resolve().parents[3] / "interop" / "js"
BRIDGE = JS_DIR / "bridge.js"
EXPECTED_VERSIONS = ("3.3.0", "4.1.1", "4.2.0")
ALGORITHMS = frozenset({"iotenvelope-v1", "iotenvelope-v1-lean", "AES-CBC-PKCS5", "cryptojs-aes"})
INSTALL_HINT = "run .ci/install (or: cd interop/js && npm ci)"


class BridgeError(IotEnvelopeError):
    """The node side could not be started or answered with a protocol error."""

    code = "bridge"


class JsError(IotEnvelopeError):
    """An exception thrown on the JavaScript side; ``code`` is its SPEC.md error name when it has one."""

    def __init__(self, name: str, code: str | None, message: str):
        super().__init__(f"{name}: {message}")
        self.js_name = name
        self.code = code or "js-error"


def node_binary() -> str | None:
    return shutil.which("node")


def installed_versions() -> list[str]:
    """crypto-js versions installed under interop/js/node_modules (``crypto-js-<version>`` aliases)."""
    modules = JS_DIR / "node_modules"
    if not modules.is_dir():
        return []
    found = []
    for p in modules.glob("crypto-js-*"):
        version = p.name[len("crypto-js-"):]
        if (p / "package.json").is_file() and version.replace(".", "").isdigit():
            found.append(version)
    return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))


def unavailable_reason(version: str | None = None) -> str | None:
    if node_binary() is None:
        return f"node not found ({INSTALL_HINT})"
    if not (JS_DIR / "node_modules" / "crypto-js").is_dir():
        return f"interop/js/node_modules missing ({INSTALL_HINT})"
    if version is not None and version not in installed_versions():
        return f"crypto-js {version} not installed ({INSTALL_HINT})"
    return None


def _answer(reply: dict) -> Any:
    if reply.get("ok"):
        return reply.get("result")
    err = reply.get("error") or {}
    raise JsError(err.get("name", "Error"), err.get("code"), err.get("message", "?"))


class NodeBridge:
    """One ``node bridge.js`` child speaking JSON lines; thread-safe, restarted on demand."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._next = 0
        self.starts = 0

    def _start(self) -> subprocess.Popen:
        reason = unavailable_reason()
        if reason:
            raise BridgeError(reason)
        self._proc = subprocess.Popen([node_binary(), str(BRIDGE)], cwd=JS_DIR, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                      bufsize=1)
        self.starts += 1
        return self._proc

    def call(self, op: str, **request: Any) -> Any:
        with self._lock:
            proc = self._proc if self._proc and self._proc.poll() is None else self._start()
            self._next += 1
            request.update(id=self._next, op=op)
            try:
                proc.stdin.write(json.dumps(request) + "\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except (BrokenPipeError, OSError) as exc:
                raise BridgeError(f"node bridge died: {exc}") from None
            if not line:
                err = proc.stderr.read() if proc.poll() is not None else ""
                raise BridgeError(f"node bridge exited: {err.strip()[-500:]}")
            reply = json.loads(line)
            if reply.get("id") != self._next:
                raise BridgeError(f"node bridge answered request {reply.get('id')}, expected {self._next}")
        return _answer(reply)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            stream.close()


class ExecJSTransport:
    """The same requests through PyExecJS (``pip install 'iotenvelope[execjs]'``): one node process per call."""

    def __init__(self) -> None:
        try:
            import execjs  # type: ignore[import-not-found]
        except ImportError:
            raise BridgeError("PyExecJS is not installed (pip install PyExecJS, or the 'execjs' extra)") from None
        reason = unavailable_reason()
        if reason:
            raise BridgeError(reason)
        runtime = execjs.get("Node")
        source = ("var handle = require(%s).handle;\n"
                  "function iotenvelopeHandle(line) { return JSON.stringify(handle(JSON.parse(line))); }\n"
                  % json.dumps(str(BRIDGE)))
        self._ctx = runtime.compile(source, cwd=str(JS_DIR))
        self._next = 0

    def call(self, op: str, **request: Any) -> Any:
        self._next += 1
        request.update(id=self._next, op=op)
        return _answer(json.loads(self._ctx.call("iotenvelopeHandle", json.dumps(request))))

    def close(self) -> None:
        """Nothing to release: every call was its own process."""


_BRIDGE: NodeBridge | None = None


def bridge() -> NodeBridge:
    """The process-wide bridge (one node child per run)."""
    global _BRIDGE
    if _BRIDGE is None:
        _BRIDGE = NodeBridge()
        atexit.register(_BRIDGE.close)
    return _BRIDGE


NODE_CRYPTO = "node"  # the bridge's name for the node:crypto backend (its legacy profiles use crypto-js 4.2.0)


def protocol_argv(version: str) -> list[str]:
    """The command of one js-* row: the bridge as a protocol runner on that backend."""
    return [node_binary() or "node", str(BRIDGE), "--protocol", version]


class ExecJSRunner(protocol.Runner):
    """A protocol runner through PyExecJS: every request (hello too) is its own ``node`` process running the
    bridge's protocol handler for ``version``. The answers are the same as the long-lived process gives."""

    def __init__(self, version: str) -> None:
        try:
            import execjs  # type: ignore[import-not-found]
        except ImportError:
            raise BridgeError("PyExecJS is not installed (pip install PyExecJS, or the 'execjs' extra)") from None
        reason = unavailable_reason(None if version == NODE_CRYPTO else version)
        if reason:
            raise BridgeError(reason)
        self.name = f"execjs-{version}"
        source = ("var protocolHandler = require(%s).protocolHandler;\n"
                  "function iotenvelopeProtocol(lib, line) { return JSON.stringify(protocolHandler(lib)(JSON.parse(line))); }\n"
                  % json.dumps(str(BRIDGE)))
        self._ctx = execjs.get("Node").compile(source, cwd=str(JS_DIR))
        self._version = version
        self.next_id = 0

    def _exchange(self, request: dict) -> dict:
        try:
            text = self._ctx.call("iotenvelopeProtocol", self._version, json.dumps(request, ensure_ascii=True))
            answer = json.loads(text)
        except Exception as exc:  # execjs.Error (node failed) or an answer that is not JSON
            raise protocol.RunnerFailure(f"PyExecJS call failed: {protocol.quote(str(exc), 200)}") from None
        if not isinstance(answer, dict):
            raise protocol.RunnerFailure(f"PyExecJS answered {protocol.quote(answer)}, not an object")
        return answer

    def hello(self) -> dict:
        return self._exchange({"id": 0, "op": "hello", "protocol": protocol.PROTOCOL_VERSION})

    def call(self, request: dict) -> dict:
        return self._exchange(request)


class JsPeer(RunnerPeer):
    """``js-cryptojs-<version>`` (or ``js-node-crypto`` for version ``"node"``): interop/js on that backend as a
    protocol runner (``runner``: by default its own ``bridge.js --protocol`` process)."""

    algorithms = ALGORITHMS

    def __init__(self, version: str, runner: protocol.Runner | None = None, suffix: str = "",
                 timeout: float = protocol.DEFAULT_TIMEOUT) -> None:
        self.version = version
        name = f"js-node-crypto{suffix}" if version == NODE_CRYPTO else f"js-cryptojs-{version}{suffix}"
        if runner is None:
            runner = protocol.ProcessRunner(name, shlex.join(protocol_argv(version)), timeout=timeout, cwd=str(JS_DIR))
        super().__init__(name, runner)

    def unavailable_reason(self) -> str | None:
        return unavailable_reason(None if self.version == NODE_CRYPTO else self.version)


def discover() -> list[Peer]:
    versions = sorted(set(EXPECTED_VERSIONS) | set(installed_versions()),
                      key=lambda v: tuple(int(x) for x in v.split(".")))
    return [JsPeer(NODE_CRYPTO)] + [JsPeer(v) for v in versions]
