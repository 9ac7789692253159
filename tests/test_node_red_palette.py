"""The palette package (interop/node-red) installed from its npm tarball into a real Node-RED 4.1.x.

As a user would: `npm pack` interop/js (the iotenvelope package) and interop/node-red, `npm install` both tarballs
into a fresh Node-RED user dir, start the pinned Node-RED (.ci/install.d/35-node-red.sh), deploy the package's
example flow through the admin API with the keyring credential, and talk to it over HTTP with envelopes sealed
by the Python library. Then kill -9 Node-RED (while envelopes and seals are in flight), start it again on the same
user dir, and check that nothing accepted before is accepted again and that no down sequence number repeats.
Last, the secret is looked for in every file of the user dir: only the encrypted flows_cred.json may hold it.

The tarball tests are marked `release`: tools/release-check runs them on the tarballs it builds
(IOTENVELOPE_NPM_TARBALL, IOTENVELOPE_NODE_RED_TARBALL) and .ci/run's pytest leaves them out (-m "not release").
"""

from __future__ import annotations

import base64
import hashlib
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
from iotenvelope.errors import AuthenticationError, DirectionError

from servers import free_port

ROOT = Path(__file__).resolve().parent.parent
PALETTE = ROOT / "interop" / "node-red"
JS = ROOT / "interop" / "js"
FRAGMENT = ROOT / ".ci" / "install.d" / "35-node-red.sh"
RUNTIME = ROOT / "build" / "node-red" / "runtime" / "node_modules" / "node-red"
EXAMPLE = PALETTE / "examples" / "http-ingest-and-commands.json"
LEAN_EXAMPLE = PALETTE / "examples" / "lorawan-ttn-lean.json"
KEY = secrets.token_bytes(32)
OTHER_KEY = secrets.token_bytes(16)
CRED_SECRET = secrets.token_hex(16)  # settings.js credentialSecret: encrypts flows_cred.json
MARKER = f"plaintext-marker-{secrets.token_hex(6)}"  # a plaintext that must never reach a file or the log
START_TIMEOUT = 30.0
SETTINGS = """\
module.exports = {
  uiHost: '127.0.0.1',
  uiPort: %(port)d,
  flowFile: 'flows.json',
  credentialSecret: %(secret)s,
  logging: { console: { level: 'info', metrics: false, audit: false } },
  diagnostics: { enabled: false },
  telemetry: { enabled: false },
  editorTheme: { tours: false },
};
"""
# A second tab deployed with the example: POST /command {"device": ..., "payload": ...} -> a seal node sharing
# the example's keyring -> the envelope as the HTTP answer (the example's own seal node feeds a debug node).
TEST_TAB = "f00dfeed00000001"
TEST_NODES = [
    {"id": TEST_TAB, "type": "tab", "label": "test"},
    {"id": "f00dfeed00000002", "type": "http in", "z": TEST_TAB, "url": "/command", "method": "post",
     "upload": False, "swaggerDoc": "", "wires": [["f00dfeed00000003"]]},
    {"id": "f00dfeed00000003", "type": "change", "z": TEST_TAB, "rules": [
        {"t": "set", "p": "device", "pt": "msg", "to": "payload.device", "tot": "msg"},
        {"t": "set", "p": "payload", "pt": "msg", "to": "payload.payload", "tot": "msg"}],
     "wires": [["f00dfeed00000004"]]},
    {"id": "f00dfeed00000004", "type": "iotenvelope-seal", "z": TEST_TAB, "name": "test seal",
     "keyring": "e1a0c0de00000002", "device": "", "format": "compact", "time": "now", "every": 1,
     "wires": [["f00dfeed00000005"]]},
    {"id": "f00dfeed00000005", "type": "http response", "z": TEST_TAB, "statusCode": "200", "headers": {},
     "wires": []},
]


def _pinned_version() -> str:
    m = re.search(r"^NODE_RED_VERSION=(\S+)$", FRAGMENT.read_text(), re.M)
    assert m, f"{FRAGMENT} does not pin NODE_RED_VERSION"
    return m.group(1)


def _require_tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node/npm not found: Node.js >= 18.5 must be installed (then run .ci/install)")
    if not (RUNTIME / "package.json").is_file():
        pytest.fail(f"Node-RED is not installed in {RUNTIME}: run .ci/install (35-node-red.sh)")
    version = json.loads((RUNTIME / "package.json").read_text())["version"]
    if version != _pinned_version() or not version.startswith("4.1."):
        pytest.fail(f"node-red {version} installed, {_pinned_version()} pinned: run .ci/install (35-node-red.sh)")
    return node, npm


def _pack(npm: str, folder: Path, dest: Path, env: str = "") -> tuple[Path, list[str]]:
    built = os.environ.get(env) if env else None
    if built:  # the release check's artifact: the same tarball, its file list read from it
        import tarfile
        with tarfile.open(built) as tar:
            return Path(built), sorted(m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile())
    out = subprocess.run([npm, "pack", "--json", "--pack-destination", str(dest)], cwd=folder, check=True,
                         capture_output=True, text=True).stdout
    info = json.loads(out)[0]
    return dest / info["filename"], sorted(f["path"] for f in info["files"])


class NodeRed:
    """One Node-RED process on a user dir; its console output is collected."""

    def __init__(self, node: str, userdir: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        (userdir / "settings.js").write_text(SETTINGS % {"port": self.port, "secret": json.dumps(CRED_SECRET)})
        self.log: list[str] = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen([node, str(RUNTIME / "red.js"), "--userDir", str(userdir),
                                      "--settings", str(userdir / "settings.js")],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read_log, daemon=True).start()

    def _read_log(self) -> None:
        for line in self.proc.stdout:
            with self.cond:
                self.log.append(line.rstrip("\n"))
                self.cond.notify_all()

    def log_text(self) -> str:
        with self.cond:
            return "\n".join(self.log)

    def log_count(self) -> int:
        with self.cond:
            return len(self.log)

    def wait_log(self, predicate, what: str, start: int = 0) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        with self.cond:
            while not any(predicate(line) for line in self.log[start:]):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Node-RED: no {what} (exit {self.proc.poll()}):\n" + "\n".join(self.log[-40:]))
                self.cond.wait(0.1)

    def request(self, method: str, path: str, body: bytes | None = None, ctype: str = "text/plain",
                headers: dict | None = None, timeout: float = 10) -> tuple[int, bytes]:
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={"Content-Type": ctype, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def ingest(self, text: str, ctype: str = "text/plain") -> tuple[int, bytes]:
        return self.request("POST", "/ingest", text.encode(), ctype)

    def command(self, device: str, payload) -> tuple[int, bytes]:
        return self.request("POST", "/command", json.dumps({"device": device, "payload": payload}).encode(),
                            "application/json")

    def kill9(self) -> None:
        self.proc.kill()  # SIGKILL: no shutdown handlers, no flush of anything
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _deploy(red: NodeRed) -> None:
    flow = json.loads(EXAMPLE.read_text())
    (keyring,) = [n for n in flow if n["type"] == "iotenvelope-keyring"]
    keyring["credentials"] = {"keys": json.dumps({"sensor-01": KEY.hex(), "sensor-02": "b64:" + base64.b64encode(
        OTHER_KEY).decode()})}
    start = red.log_count()
    status, body = red.request("POST", "/flows", json.dumps(flow + TEST_NODES).encode(), "application/json",
                               {"Node-RED-Deployment-Type": "full"})
    assert status in (200, 204), (status, body)
    red.wait_log(lambda line: line.endswith("[info] Started flows"), "'Started flows' after the deploy", start)


def _start(node: str, userdir: Path) -> NodeRed:
    red = NodeRed(node, userdir)
    red.wait_log(lambda line: line.endswith(f"[info] Server now running at {red.base}/"), "server start")
    red.wait_log(lambda line: line.endswith("[info] Started flows"), "'Started flows'")
    return red


def _seal(seq: int, plaintext: bytes, **kw) -> str:
    return iotenvelope.seal(kw.pop("key", KEY), plaintext, device=kw.pop("device", "sensor-01"), seq=seq, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    node, npm = _require_tools()
    work = tmp_path_factory.mktemp("palette")
    js_tgz, _ = _pack(npm, JS, work, "IOTENVELOPE_NPM_TARBALL")
    palette_tgz, files = _pack(npm, PALETTE, work, "IOTENVELOPE_NODE_RED_TARBALL")
    userdir = work / "user"
    userdir.mkdir()
    (userdir / "package.json").write_text('{"name": "node-red-project", "private": true}\n')
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error",
                    str(js_tgz), str(palette_tgz)], cwd=userdir, check=True, capture_output=True, text=True)
    return {"node": node, "userdir": userdir, "palette_tgz": palette_tgz, "files": files}


@pytest.mark.release
def test_tarball_holds_the_nodes_examples_and_license_but_no_tests(installed):
    files = installed["files"]
    assert files == sorted([
        "LICENSE", "README.md", "package.json", "examples/http-ingest-and-commands.json",
        "examples/lorawan-ttn-lean.json",
        "lib/input.js", "lib/keyring.js", "lib/state.js",
        "nodes/keyring.html", "nodes/keyring.js", "nodes/open.html", "nodes/open.js",
        "nodes/seal.html", "nodes/seal.js"])
    pkg = json.loads((installed["userdir"] / "node_modules" / "@iotenvelope" / "node-red" / "package.json").read_text())
    assert pkg["version"] == "0.2.0"
    assert (installed["userdir"] / "node_modules" / "iotenvelope" / "package.json").is_file()


@pytest.mark.release
def test_deploy_open_seal_kill9_restart_and_where_the_secret_is(installed):
    node, userdir = installed["node"], installed["userdir"]
    red = _start(node, userdir)
    try:
        assert f"Node-RED version: v{_pinned_version()}" in red.log_text()
        # The editor's view of the package: three node types loaded without error, their help, the example.
        status, body = red.request("GET", "/nodes", headers={"Accept": "application/json"})
        sets = [s for s in json.loads(body) if s["module"] == "@iotenvelope/node-red"]
        assert sorted(t for s in sets for t in s["types"]) == ["iotenvelope-keyring", "iotenvelope-open",
                                                               "iotenvelope-seal"]
        assert all(s["enabled"] and not s.get("err") and s["version"] == "0.2.0" for s in sets), sets
        status, html = red.request("GET", "/nodes", headers={"Accept": "text/html"})
        for t in ("iotenvelope-keyring", "iotenvelope-open", "iotenvelope-seal"):
            assert f'data-help-name="{t}"'.encode() in html, t
        status, body = red.request("GET", "/library/examples/flows/@iotenvelope/node-red/http-ingest-and-commands")
        assert (status, json.loads(body)) == (200, json.loads(EXAMPLE.read_text()))
        _deploy(red)

        # The editor never gets the keyring back: only the fact that one is set.
        assert red.request("GET", "/credentials/iotenvelope-keyring/e1a0c0de00000002") == (200, b'{"has_keys":true}')

        # Python-sealed readings in both forms: 200 and the exact plaintext bytes.
        reading = '{"co2": 1223, "note": "café ☕"}'.encode()
        assert red.ingest(_seal(1, reading)) == (200, reading)
        assert red.ingest(_seal(2, reading, format="json"), "application/json") == (200, reading)
        assert red.ingest(_seal(1, b"x", key=OTHER_KEY, device="sensor-02")) == (200, b"x")
        marker = _seal(3, MARKER.encode())
        assert red.ingest(marker) == (200, MARKER.encode())

        # Refusals: the SPEC names as the 403 body (the example's change node sets it from msg.error.code).
        altered = json.loads(_seal(4, b"y", format="json"))
        altered["seq"] = 5
        down = iotenvelope.seal(KEY, b"z", device="sensor-01", seq=6, direction="down")
        duplicated = _seal(7, b"d", format="json").replace('{"v": 1, ', '{"v": 1, "seq": 0, ', 1)
        cases = [
            (marker, "replay-duplicate"),
            (json.dumps(altered), "auth"),
            (_seal(8, b"w", key=OTHER_KEY), "auth"),
            (_seal(9, b"u", device="sensor-77"), "unknown-device"),
            (down, "wrong-direction"),
            (_seal(10, b"s", ts=int(time.time()) - 200000), "stale"),
            (duplicated, "malformed"),  # the http-in hands over the raw body: the strict reader sees both members
            ("not an envelope", "malformed"),
        ]
        for text, code in cases:
            ctype = "application/json" if text.startswith("{") else "text/plain"
            assert red.ingest(text, ctype) == (403, code.encode()), code

        # Seals: the example's inject node (sensor-01) and the test tab's seal node share one counter.
        assert red.request("POST", "/inject/e1a0c0de0000000a")[0] == 200
        status, text = red.command("sensor-01", {"interval": 30})
        assert status == 200
        opened = iotenvelope.open(KEY, text.decode(), direction="down")
        assert (opened.plaintext, opened.device, opened.seq, opened.type) == (b'{"interval":30}', "sensor-01", 1, "data")
        with pytest.raises(DirectionError):
            iotenvelope.open(KEY, text.decode())
        status, text = red.command("sensor-02", "reboot")
        assert (status, iotenvelope.open(OTHER_KEY, text.decode(), direction="down").seq) == (200, 0)

        # kill -9 while envelopes and seals are in flight.
        accepted: list[int] = []
        sealed: list[int] = []
        stop = threading.Event()

        def post_readings():
            seq = 100
            while not stop.is_set():
                try:
                    if red.ingest(_seal(seq, b"r%d" % seq), "text/plain")[0] == 200:
                        accepted.append(seq)
                except OSError:
                    return
                seq += 1

        def post_commands():
            while not stop.is_set():
                try:
                    status, body = red.command("sensor-01", "c")
                except OSError:
                    return
                if status == 200:
                    sealed.append(iotenvelope.open(KEY, body.decode(), direction="down").seq)

        threads = [threading.Thread(target=post_readings), threading.Thread(target=post_commands)]
        started = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(1.5)
        red.kill9()
        elapsed = time.monotonic() - started
        stop.set()
        for t in threads:
            t.join(timeout=15)
        assert accepted and sealed, (accepted, sealed)
        print(f"\nbefore kill -9: {len(accepted)} envelopes accepted and {len(sealed)} commands sealed in "
              f"{elapsed:.2f} s (one fsync each)")
        log_before = red.log_text()
    finally:
        red.stop()

    red = _start(node, userdir)  # the deployed flow and its credentials come back from flows.json/flows_cred.json
    try:
        # The readings were posted one at a time: at most seq top + 1 was in flight at the kill. It may have been
        # accepted (window on disk) without its answer getting out; now it is accepted at most once.
        top = max(accepted)
        first = red.ingest(_seal(top + 1, b"late"))
        assert first in ((200, b"late"), (403, b"replay-duplicate")), first
        assert red.ingest(_seal(top + 1, b"late")) == (403, b"replay-duplicate")
        print(f"seq {top + 1}, in flight at the kill: {'accepted now' if first[0] == 200 else 'already accepted'}")
        # Every envelope answered 200 before the kill is refused now (the window is 64 wide, its top is top + 1).
        for seq in [1, 2, 3, *accepted]:
            code = b"replay-duplicate" if seq > top + 1 - 64 else b"replay-too-old"
            assert red.ingest(_seal(seq, b"again")) == (403, code), seq
        assert red.ingest(_seal(top + 2, b"never sent")) == (200, b"never sent")
        assert red.ingest(_seal(top + 10, b"new")) == (200, b"new")
        # Down numbers continue above every number sealed before the kill.
        status, text = red.command("sensor-01", "after restart")
        assert status == 200
        after = iotenvelope.open(KEY, text.decode(), direction="down").seq
        assert sorted(sealed) == sealed and len(set(sealed)) == len(sealed)
        assert after > max(sealed), (after, sealed[-3:])
        assert after <= max(sealed) + 2, "K = 1: at most the one number in flight is skipped"
        print(f"first down seq after the restart: {after} (last one answered before the kill: {max(sealed)})")
        log_after = red.log_text()
    finally:
        red.stop()

    # The secret: in no file of the user dir in any spelling, flows_cred.json included (it is encrypted);
    # the keyring decrypted from flows_cred.json with the credentialSecret is the one deployed.
    spellings = [KEY.hex().encode(), KEY.hex().upper().encode(), base64.b64encode(KEY), base64.urlsafe_b64encode(KEY),
                 KEY, OTHER_KEY.hex().encode(), base64.b64encode(OTHER_KEY), OTHER_KEY]
    checked = set()
    for path in userdir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            checked.add(path.relative_to(userdir).as_posix())
            assert not any(s in data for s in spellings), f"a secret is in {path.relative_to(userdir)}"
            assert MARKER.encode() not in data, f"a plaintext is in {path.relative_to(userdir)}"
    assert {"flows.json", "flows_cred.json", "settings.js", "node_modules/@iotenvelope/node-red/nodes/keyring.js",
            "node_modules/iotenvelope/index.js"} <= checked
    assert any(name.startswith("iotenvelope-state/window-") for name in checked)
    flows = json.loads((userdir / "flows.json").read_text())
    assert [n for n in flows if n["type"] == "iotenvelope-keyring"][0].get("credentials") is None
    cred = json.loads((userdir / "flows_cred.json").read_text())["$"]
    from Crypto.Cipher import AES  # pycryptodome, the library's dependency

    iv, body = bytes.fromhex(cred[:32]), base64.b64decode(cred[32:])
    plain = AES.new(hashlib.sha256(CRED_SECRET.encode()).digest(), AES.MODE_CTR, nonce=b"", initial_value=iv).decrypt(body)
    keys = json.loads(json.loads(plain)["e1a0c0de00000002"]["keys"])
    assert keys == {"sensor-01": KEY.hex(), "sensor-02": "b64:" + base64.b64encode(OTHER_KEY).decode()}
    # ... and neither the log nor the state files carry a secret or a plaintext.
    for log in (log_before, log_after):
        assert KEY.hex() not in log and MARKER not in log and b64.encode_url(KEY) not in log
    state = sorted(p.name for p in (userdir / "iotenvelope-state").iterdir())
    assert any(n.startswith("window-" + b"sensor-01".hex()) for n in state)
    assert any(n.startswith("down-" + b"sensor-01".hex()) for n in state)


# The lean form (SPEC.md §5.3) as LoRaWAN backends use it. One tab: raw frames and lean text over HTTP (the device
# id in an X-Device header, as a transport would name it), The Things Stack uplinks through the LoRaWAN example's
# own function node, and down commands through the example's seal node and downlink function (its MQTT nodes are
# left out: they would connect to The Things Stack).
LEAN_TAB = "1ea0000000000001"
LEAN_KEYRING = "1ea0000000000002"
LEAN_KEY = secrets.token_bytes(16)
LEAN_DEVICE = "lora-node-1"


def _lean_nodes() -> list[dict]:
    example = {n.get("name"): n for n in json.loads(LEAN_EXAMPLE.read_text())}

    def from_example(name: str, node_id: str, wires: list, **changes) -> dict:
        node = {**example[name], "id": node_id, "z": LEAN_TAB, "wires": wires, **changes}
        if "keyring" in node:
            node["keyring"] = LEAN_KEYRING
        return node

    def http_in(node_id: str, url: str, raw: bool, to: str) -> dict:
        return {"id": node_id, "type": "http in", "z": LEAN_TAB, "url": url, "method": "post", "upload": False,
                "skipBodyParsing": raw, "swaggerDoc": "", "wires": [[to]]}

    def change(node_id: str, rules: list, to: str) -> dict:
        return {"id": node_id, "type": "change", "z": LEAN_TAB,
                "rules": [{"t": "set", "p": p, "pt": "msg", "to": v, "tot": t} for p, v, t in rules], "wires": [[to]]}

    def response(node_id: str, code: str = "") -> dict:
        return {"id": node_id, "type": "http response", "z": LEAN_TAB, "statusCode": code, "headers": {}, "wires": []}

    command = [("device", "payload.device", "msg"), ("payload", "payload.payload", "msg")]
    return [
        {"id": LEAN_TAB, "type": "tab", "label": "lean test"},
        {"id": LEAN_KEYRING, "type": "iotenvelope-keyring", "name": "lean test",
         "credentials": {"keys": json.dumps({LEAN_DEVICE: LEAN_KEY.hex(), "sensor-01": KEY.hex()})}},
        # Node-RED 4.1's http-in hands over a Buffer whenever it skips body parsing (any content type): raw
        # frames there; lean text on a route that parses text/plain bodies into a string.
        http_in("1ea0000000000010", "/lean", True, "1ea0000000000011"),
        http_in("1ea0000000000014", "/lean/text", False, "1ea0000000000011"),
        change("1ea0000000000011", [("device", "req.headers['x-device']", "msg")], "1ea0000000000020"),
        http_in("1ea0000000000012", "/ttn/up", False, "1ea0000000000013"),
        from_example("uplink -> frame, device", "1ea0000000000013", [["1ea0000000000020"]]),
        # The example's open node with the plaintext as a Buffer, so the HTTP answer is its exact bytes.
        from_example("open lean", "1ea0000000000020", [["1ea0000000000021"], ["1ea0000000000022"]],
                     json=False, buffer=True),
        response("1ea0000000000021", "200"),
        change("1ea0000000000022", [("payload", "error.code", "msg"), ("statusCode", "403", "num")],
               "1ea0000000000023"),
        response("1ea0000000000023"),
        http_in("1ea0000000000030", "/lean/command", False, "1ea0000000000031"),
        change("1ea0000000000031", command, "1ea0000000000032"),
        from_example("seal lean", "1ea0000000000032", [["1ea0000000000033"]]),
        from_example("frame -> down/push", "1ea0000000000033", [["1ea0000000000034"]]),
        change("1ea0000000000034", [("payload.topic", "topic", "msg")], "1ea0000000000035"),
        response("1ea0000000000035", "200"),
        http_in("1ea0000000000040", "/lean/command-text", False, "1ea0000000000041"),
        change("1ea0000000000041", command, "1ea0000000000042"),
        {**example["seal lean"], "id": "1ea0000000000042", "z": LEAN_TAB, "keyring": LEAN_KEYRING, "output": "text",
         "wires": [["1ea0000000000043"]]},
        response("1ea0000000000043", "200"),
    ]


@pytest.mark.release
def test_lean_frames_python_to_node_red_and_back(installed, tmp_path):
    """Python-sealed lean frames (raw, text, inside a The Things Stack uplink) come out of the open node byte for
    byte; lean downlinks sealed by the seal node (raw through the example's downlink function, and text) open in
    Python and are exactly the bytes Python seals for the same fields."""
    userdir = tmp_path / "user"  # its own state: the other test's windows and counters stay out of this one
    userdir.mkdir()
    shutil.copyfile(installed["userdir"] / "package.json", userdir / "package.json")
    os.symlink(installed["userdir"] / "node_modules", userdir / "node_modules")
    red = _start(installed["node"], userdir)
    try:
        status, body = red.request("GET", "/library/examples/flows/@iotenvelope/node-red/lorawan-ttn-lean")
        assert (status, json.loads(body)) == (200, json.loads(LEAN_EXAMPLE.read_text()))
        start = red.log_count()
        status, body = red.request("POST", "/flows", json.dumps(_lean_nodes()).encode(), "application/json",
                                   {"Node-RED-Deployment-Type": "full"})
        assert status in (200, 204), (status, body)
        red.wait_log(lambda line: line.endswith("[info] Started flows"), "'Started flows' after the deploy", start)

        def lean(seq: int, plaintext: bytes, fmt: str = "lean", **kw):
            return iotenvelope.seal(kw.pop("key", LEAN_KEY), plaintext, device=kw.pop("device", LEAN_DEVICE), seq=seq,
                                    ts=kw.pop("ts", int(time.time())), format=fmt, **kw)

        def post_frame(frame: bytes, device: str | None = LEAN_DEVICE) -> tuple[int, bytes]:
            headers = {} if device is None else {"X-Device": device}
            return red.request("POST", "/lean", frame, "application/octet-stream", headers)

        def post_text(text: str, device: str = LEAN_DEVICE) -> tuple[int, bytes]:
            return red.request("POST", "/lean/text", text.encode(), "text/plain", {"X-Device": device})

        def ttn_uplink(frame: bytes, device: str = LEAN_DEVICE, **drop) -> tuple[int, bytes]:
            up = {"end_device_ids": {"device_id": device, "application_ids": {"application_id": "app1"},
                                     "dev_eui": "70B3D57ED0001234"},
                  "received_at": "2026-12-02T10:00:00.000Z",
                  "uplink_message": {"f_port": 1, "f_cnt": 7, "frm_payload": base64.b64encode(frame).decode()}}
            for key in drop:
                up.pop(key)
            return red.request("POST", "/ttn/up", json.dumps(up).encode(), "application/json")

        reading = '{"co2": 1223, "note": "café ☕"}'.encode()
        binary = bytes([0x00, 0xFF, 0x10, 0x80]) + secrets.token_bytes(20)  # a packed reading, not UTF-8
        marker = MARKER.encode()
        text1 = lean(1, reading)
        raw2 = lean(2, reading, "lean-raw")
        assert raw2[0] == 0x54 and len(raw2) == 13 + 4 + 48
        assert post_text(text1) == (200, reading)
        assert post_frame(raw2) == (200, reading)
        assert post_frame(lean(3, binary, "lean-raw")) == (200, binary)
        assert post_text(lean(4, reading, ts=0) + "\n") == (200, reading)
        assert ttn_uplink(lean(5, marker, "lean-raw")) == (200, marker)

        # Refusals with their SPEC names; none of them touches a window.
        frame6 = lean(6, b"six", "lean-raw")
        compact = iotenvelope.seal(LEAN_KEY, b"x", device=LEAN_DEVICE, seq=6)
        flipped = bytearray(lean(6, b"six", "lean-raw"))
        flipped[-1] ^= 1
        # 49 bytes, so the standard base64 always ends in '=' (33-byte frame6 would, ~15% of the time, hold no
        # '+', '/' or '=' and be valid lean text as it is)
        std_b64 = base64.b64encode(lean(6, b"seventeen bytes..", "lean-raw")).decode()
        assert std_b64.endswith("==")
        cases = [
            (post_text(text1), "replay-duplicate"),
            (post_frame(raw2), "replay-duplicate"),
            (ttn_uplink(lean(5, b"other text, same seq", "lean-raw")), "replay-duplicate"),
            (post_frame(frame6, "sensor-01"), "auth"),  # another device's id (and secret)
            (ttn_uplink(frame6, "sensor-01"), "auth"),
            (post_frame(bytes(flipped)), "auth"),
            (post_frame(lean(6, b"x", "lean-raw", key=KEY)), "auth"),
            (post_frame(frame6, "lora-node-9"), "unknown-device"),
            (post_frame(frame6, None), "malformed"),  # no device id at all
            (ttn_uplink(frame6, end_device_ids=True), "malformed"),
            (post_frame(frame6, "bad id"), "malformed"),
            (post_text(compact), "unsupported-version"),
            (post_frame(lean(6, b"x", "lean-raw", direction="down")), "wrong-direction"),
            (post_frame(lean(6, b"x", "lean-raw", ts=int(time.time()) - 200000)), "stale"),
            (post_text(std_b64), "malformed"),  # standard base64 is not lean text
            (post_frame(lean(6, b"six").encode()), "malformed"),  # text as a Buffer is read as a raw frame
        ]
        assert [got for got, _ in cases] == [(403, code.encode()) for _, code in cases]
        assert post_frame(frame6) == (200, b"six")  # seq 6 was not used up by any refusal
        assert post_frame(frame6) == (403, b"replay-duplicate")

        # Downlinks: the example's seal node (raw frame, no time) and downlink function, then a text seal node.
        status, body = red.request("POST", "/lean/command", json.dumps(
            {"device": LEAN_DEVICE, "payload": {"interval": 600}}).encode(), "application/json")
        assert status == 200, body
        push = json.loads(body)
        assert push["topic"] == f"v3/my-app@ttn/devices/{LEAN_DEVICE}/down/push"
        (down,) = push["downlinks"]
        assert (down["f_port"], down["priority"]) == (1, "NORMAL")
        frame = base64.b64decode(down["frm_payload"], validate=True)
        assert frame == iotenvelope.seal(LEAN_KEY, b'{"interval":600}', device=LEAN_DEVICE, seq=0, ts=0,
                                         direction="down", format="lean-raw")
        assert frame[0] == 0x48 and len(frame) == 13 + 16 * 2
        opened = iotenvelope.open(LEAN_KEY, frame, format="lean-raw", device=LEAN_DEVICE, direction="down")
        assert (opened.plaintext, opened.device, opened.seq, opened.ts, opened.type) == (
            b'{"interval":600}', LEAN_DEVICE, 0, 0, "data")
        with pytest.raises(AuthenticationError):
            iotenvelope.open(LEAN_KEY, frame, format="lean-raw", device="lora-node-2", direction="down")
        with pytest.raises(DirectionError):
            iotenvelope.open(LEAN_KEY, frame, format="lean-raw", device=LEAN_DEVICE)
        status, text = red.request("POST", "/lean/command-text", json.dumps(
            {"device": LEAN_DEVICE, "payload": "reboot"}).encode(), "application/json")
        assert status == 200
        assert text.decode() == iotenvelope.seal(LEAN_KEY, b"reboot", device=LEAN_DEVICE, seq=1, ts=0,
                                                 direction="down", format="lean")
        opened = iotenvelope.open(LEAN_KEY, text.decode(), format="lean", device=LEAN_DEVICE, direction="down")
        assert (opened.plaintext, opened.seq) == (b"reboot", 1), "one down counter for both seal nodes"
        log = red.log_text()
    finally:
        red.stop()
    assert LEAN_KEY.hex() not in log and MARKER not in log and b64.encode_url(LEAN_KEY) not in log
    for path in userdir.rglob("*"):
        if path.is_file() and not path.is_symlink() and "node_modules" not in path.parts:
            data = path.read_bytes()
            assert LEAN_KEY not in data and LEAN_KEY.hex().encode() not in data, path
            assert marker not in data, path


def test_npm_test_passes_in_the_palette_package():
    """`npm test` in interop/node-red: node-red-node-test-helper tests in node-red 4.1.8 + the state-file tests."""
    _node, npm = _require_tools()
    modules = PALETTE / "node_modules"
    if not (modules / "node-red-node-test-helper").is_dir() or not (modules / "node-red").is_dir():
        pytest.fail(f"{modules} lacks the test helper or node-red: run .ci/install (36-node-red-palette.sh)")
    copy = modules / "iotenvelope"
    files = ["package.json", "index.js", *(f"lib/{p.name}" for p in (JS / "lib").glob("*.js"))]
    stale = [f for f in files if not (copy / f).is_file() or (copy / f).read_bytes() != (JS / f).read_bytes()]
    if stale:
        pytest.fail(f"{copy} is older than interop/js ({', '.join(stale[:3])}): run .ci/install (36-node-red-palette.sh)")
    proc = subprocess.run([npm, "test"], cwd=PALETTE, capture_output=True, text=True, timeout=300)
    summary = "\n".join(proc.stdout.splitlines()[-9:])
    assert proc.returncode == 0, f"npm test failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    assert re.search(r"^# fail 0$", proc.stdout, re.M), summary
    assert int(re.search(r"^# pass (\d+)$", proc.stdout, re.M).group(1)) >= 18, summary
