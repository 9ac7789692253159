"""The documented Node-RED example (interop/js/examples/node-red/flow.json) in a real Node-RED runtime.

.ci/install.d/35-node-red.sh installs a pinned node-red into build/node-red/runtime and a user dir template
build/node-red/userdir holding the iotenvelope package (installed as docs/javascript.md says). Each test run
starts Node-RED headless on a free 127.0.0.1 port with a temporary user dir, the unmodified flow.json as its
flow file and a random key in IOTENVELOPE_KEYS, then talks to it over HTTP (POST /ingest, POST /inject/:id)
and reads the debug sidebar's messages from the editor websocket (/comms), as a user would see them.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import iotenvelope
from iotenvelope.primitives import b64
from iotenvelope.errors import AuthenticationError, DirectionError, MalformedError

from servers import free_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "interop" / "js" / "examples" / "node-red"
FRAGMENT = ROOT / ".ci" / "install.d" / "35-node-red.sh"
RUNTIME = ROOT / "build" / "node-red" / "runtime" / "node_modules" / "node-red"
USERDIR = ROOT / "build" / "node-red" / "userdir"
DEMO_KEY = bytes(range(16))  # the key the example flow used to carry on its tab; it must not be trusted
KEY = secrets.token_bytes(32)
SEQ = itertools.count(1)  # up sequence numbers: increasing in whatever order the tests run
START_TIMEOUT = 20.0
SETTINGS = """\
module.exports = {
  uiHost: '127.0.0.1',
  uiPort: %(port)d,
  flowFile: 'flows.json',
  credentialSecret: false,
  functionExternalModules: true,
  externalModules: { modules: { allowInstall: false } },
  contextStorage: { default: { module: 'localfilesystem' } },
  logging: { console: { level: 'info', metrics: false, audit: false } },
  diagnostics: { enabled: false },
  telemetry: { enabled: false },
  editorTheme: { tours: false },
};
"""


def _pinned_version() -> str:
    m = re.search(r"^NODE_RED_VERSION=(\S+)$", FRAGMENT.read_text(), re.M)
    assert m, f"{FRAGMENT} does not pin NODE_RED_VERSION"
    return m.group(1)


def _require_node_red() -> str:
    """Return the node executable; fail (never skip) with 'run .ci/install' when anything is missing."""
    node = shutil.which("node")
    if not node:
        pytest.fail("node not found: Node.js >= 18 must be installed (then run .ci/install)")
    if not (RUNTIME / "package.json").is_file():
        pytest.fail(f"Node-RED is not installed in {RUNTIME.parent.parent}: run .ci/install (35-node-red.sh)")
    version = json.loads((RUNTIME / "package.json").read_text())["version"]
    if version != _pinned_version():
        pytest.fail(f"node-red {version} installed, {_pinned_version()} pinned: run .ci/install (35-node-red.sh)")
    # The user dir holds a copy of interop/js (npm install --install-links): it must be the checkout's code.
    src, copy = ROOT / "interop" / "js", USERDIR / "node_modules" / "iotenvelope"
    files = ["package.json", "index.js", *(f"lib/{p.name}" for p in (src / "lib").glob("*.js"))]
    stale = [f for f in files if not (copy / f).is_file() or (copy / f).read_bytes() != (src / f).read_bytes()]
    if stale:
        pytest.fail(f"{copy} is missing or older than interop/js ({', '.join(stale[:3])}): run .ci/install "
                    "(35-node-red.sh)")
    try:
        import websocket  # noqa: F401
    except ImportError:
        pytest.fail("websocket-client not installed: run .ci/install (35-node-red.sh)")
    return node


class NodeRed:
    """A running Node-RED process plus a subscription to its debug sidebar messages."""

    def __init__(self, node: str, userdir: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        (userdir / "settings.js").write_text(SETTINGS % {"port": self.port})
        env = dict(os.environ, IOTENVELOPE_KEYS=json.dumps({"sensor-01": KEY.hex()}))
        self.log: list[str] = []
        self.debug: list[dict] = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen([node, str(RUNTIME / "red.js"), "--userDir", str(userdir),
                                      "--settings", str(userdir / "settings.js")],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        threading.Thread(target=self._read_log, daemon=True).start()
        self.ws = None

    def _read_log(self) -> None:
        for line in self.proc.stdout:
            with self.cond:
                self.log.append(line.rstrip("\n"))
                self.cond.notify_all()

    def log_tail(self) -> str:
        with self.cond:
            return "\n".join(self.log[-40:])

    def wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        with self.cond:
            while not any(line.endswith("[info] Started flows") for line in self.log):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Node-RED did not start its flows (exit {self.proc.poll()}):\n{self.log_tail()}")
                self.cond.wait(0.1)

    def subscribe_debug(self) -> None:
        import websocket

        self.ws = websocket.create_connection(f"ws://127.0.0.1:{self.port}/comms", timeout=10)
        self.ws.send(json.dumps({"subscribe": "debug"}))
        threading.Thread(target=self._read_ws, daemon=True).start()

    def _read_ws(self) -> None:
        import websocket

        while True:
            try:
                frame = self.ws.recv()
            except (websocket.WebSocketException, OSError):
                return
            if not frame:  # the connection closed
                return
            items = json.loads(frame)
            for item in items if isinstance(items, list) else [items]:
                if item.get("topic") == "debug":
                    with self.cond:
                        self.debug.append(item["data"])
                        self.cond.notify_all()

    def wait_debug(self, node_name: str, start: int, timeout: float = 5.0) -> dict:
        """The first debug message from the debug node `node_name` at or after index `start`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for data in self.debug[start:]:
                    if data.get("name") == node_name:
                        return data
                if time.monotonic() > deadline:
                    pytest.fail(f"no debug message from {node_name!r}; got {self.debug[start:]}\n{self.log_tail()}")
                self.cond.wait(0.1)

    def debug_count(self) -> int:
        with self.cond:
            return len(self.debug)

    def post(self, path: str, body: bytes, content_type: str = "text/plain") -> tuple[int, bytes]:
        req = urllib.request.Request(self.base + path, data=body, headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self) -> None:
        if self.ws is not None:
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _flow() -> list[dict]:
    return json.loads((EXAMPLE / "flow.json").read_text())


def _node_id(node_type: str, name: str) -> str:
    (node,) = [n for n in _flow() if n["type"] == node_type and n.get("name") == name]
    return node["id"]


@pytest.fixture(scope="module")
def red(tmp_path_factory):
    node = _require_node_red()
    userdir = tmp_path_factory.mktemp("node-red-user")
    shutil.copyfile(EXAMPLE / "flow.json", userdir / "flows.json")  # exactly the example, byte for byte
    shutil.copyfile(USERDIR / "package.json", userdir / "package.json")  # lists iotenvelope as installed
    os.symlink(USERDIR / "node_modules", userdir / "node_modules")
    server = NodeRed(node, userdir)
    try:
        server.wait_started()
        server.subscribe_debug()
        # Readiness: a forged envelope must come back rejected through the whole flow (modules loaded, debug
        # sidebar subscribed). A rejected envelope leaves the replay window as it was.
        start = server.debug_count()
        forged = iotenvelope.seal(DEMO_KEY, b"{}", device="sensor-01", seq=10**6)
        got = server.post("/ingest", forged.encode())
        assert got == (403, b"auth"), f"readiness check: a forged envelope got {got}\n{server.log_tail()}"
        server.wait_debug("rejected", start)
        yield server
    finally:
        server.stop()


def test_node_red_version_is_the_pinned_one(red):
    assert any(line.endswith(f"Node-RED version: v{_pinned_version()}") for line in red.log), red.log_tail()


@pytest.mark.parametrize("fmt", ["json", "compact"])
def test_python_sealed_reading_comes_out_of_output_1_byte_for_byte(red, fmt):
    reading = '{"co2": 1223, "note": "café ☕"}'.encode()
    seq = next(SEQ)
    text = iotenvelope.seal(KEY, reading, device="sensor-01", seq=seq, format=fmt)
    ctype = "application/json" if fmt == "json" else "text/plain"
    start = red.debug_count()
    assert red.post("/ingest", text.encode(), ctype) == (200, reading)
    shown = red.wait_debug("reading", start)  # the whole msg (debug node "complete": "true")
    msg = json.loads(shown["msg"])
    assert (msg["payload"], msg["device"], msg["seq"]) == (reading.decode(), "sensor-01", seq)


def test_replay_and_forgeries_are_rejected_with_the_spec_names(red):
    seq = next(SEQ)
    text = iotenvelope.seal(KEY, b'{"co2": 800}', device="sensor-01", seq=seq, format="json")
    assert red.post("/ingest", text.encode(), "application/json") == (200, b'{"co2": 800}')
    start = red.debug_count()
    assert red.post("/ingest", text.encode(), "application/json") == (403, b"replay-duplicate")
    shown = json.loads(red.wait_debug("rejected", start)["msg"])  # msg.error (debug node "complete": "error")
    assert shown["code"] == "replay-duplicate"

    # An altered envelope (seq changed after sealing), a tag with one bit flipped, the demo key: all `auth`.
    altered = json.loads(text)
    altered["seq"] = next(SEQ)
    assert red.post("/ingest", json.dumps(altered).encode(), "application/json") == (403, b"auth")
    compact = bytearray(b64.decode_url(iotenvelope.seal(KEY, b"1", device="sensor-01", seq=next(SEQ))))
    compact[-1] ^= 1
    assert red.post("/ingest", b64.encode_url(bytes(compact)).encode()) == (403, b"auth")
    demo = iotenvelope.seal(DEMO_KEY, b"1", device="sensor-01", seq=next(SEQ))
    assert red.post("/ingest", demo.encode()) == (403, b"auth")
    with pytest.raises(AuthenticationError):
        iotenvelope.open(KEY, demo)

    # A duplicated member is `malformed` for Python and for the flow (the http-in node hands over the raw
    # body, so the strict JSON reader sees it; JSON.parse would keep the last member and accept it).
    fresh = iotenvelope.seal(KEY, b"2", device="sensor-01", seq=next(SEQ), format="json")
    duplicated = fresh.replace('{"v": 1, ', '{"v": 1, "seq": 0, ', 1)
    assert duplicated != fresh
    with pytest.raises(MalformedError):
        iotenvelope.open(KEY, duplicated)
    assert red.post("/ingest", duplicated.encode(), "application/json") == (403, b"malformed")
    # Rejections left the window alone: the untouched envelope is still accepted once.
    assert red.post("/ingest", fresh.encode(), "application/json") == (200, b"2")


def test_seal_command_produces_down_envelopes_python_opens(red):
    inject = _node_id("inject", "command for sensor-01")
    opened = []
    for _ in range(2):
        start = red.debug_count()
        status, _body = red.post(f"/inject/{inject}", b"", "application/json")
        assert status == 200
        text = red.wait_debug("down envelope", start)["msg"]
        opened.append(iotenvelope.open(KEY, text, direction="down"))
        with pytest.raises(DirectionError):
            iotenvelope.open(KEY, text)  # a backend expecting `up` refuses it
    assert [(o.plaintext, o.device, o.direction, o.type) for o in opened] == [
        (b'{"interval":60}', "sensor-01", "down", "data")] * 2
    assert [o.seq for o in opened] == [1, 2]
    assert all(abs(o.ts - time.time()) < 60 for o in opened)
