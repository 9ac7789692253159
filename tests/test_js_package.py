"""interop/js as users get it (issue 11 item 2): `npm pack`, then a plain `npm install <tarball>` in an empty project
(crypto-js comes from the npm registry as for any user), then `require('iotenvelope')` seals and opens, and its
envelopes agree with this Python package. Fails (never skips) when node/npm are missing.

Marked `release`: tools/release-check runs these on the tarball it builds (IOTENVELOPE_NPM_TARBALL names it) and
.ci/run's pytest leaves them out (-m "not release") so CI packs and installs once; plain pytest runs them too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import iotenvelope
from iotenvelope.verify.peers import js

ROOT = Path(__file__).resolve().parent.parent
SECRET = bytes(range(16))
NOW = 1763900000
pytestmark = pytest.mark.release
SHIPPED = {"package/package.json", "package/index.js", "package/LICENSE", "package/README.md"}


def _npm() -> str:
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        pytest.fail("node and npm are required (Node.js >= 18; run .ci/install)")
    return npm


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    npm = _npm()
    built = os.environ.get("IOTENVELOPE_NPM_TARBALL")
    if built:  # the release check's artifact, packed from this checkout
        return Path(built)
    out = tmp_path_factory.mktemp("pack")
    proc = subprocess.run([npm, "pack", "--json", "--pack-destination", str(out)], cwd=js.JS_DIR,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    name = json.loads(proc.stdout)[0]["filename"]
    return out / name


def test_tarball_holds_the_library_and_license_only(tarball):
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("package/package.json"))
        license_text = tar.extractfile("package/LICENSE").read()
    lib = {n for n in names if n.startswith("package/lib/")}
    assert names == SHIPPED | lib, sorted(names - SHIPPED - lib)
    assert {Path(n).name for n in lib} == {p.name for p in (js.JS_DIR / "lib").glob("*.js")}
    for left_out in ("test/", "scripts/", "bridge.js", "verify/", "examples/", "node_modules/", "package-lock.json"):
        assert not any(n.startswith(f"package/{left_out}") for n in names), left_out
    assert license_text == (ROOT / "LICENSE").read_bytes()
    assert manifest["version"] == "0.2.0" and manifest["license"] == "MIT" and not manifest.get("private")
    assert manifest["dependencies"] == {"crypto-js": "4.2.0"}
    for key in ("repository", "bugs", "homepage"):
        assert manifest.get(key), key
    assert manifest["repository"]["directory"] == "interop/js"


def test_plain_npm_install_of_the_tarball_in_an_empty_project_works(tarball, tmp_path):
    npm = _npm()
    project = tmp_path / "app"
    project.mkdir()
    proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", str(tarball)], cwd=project,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    installed = project / "node_modules" / "iotenvelope"
    assert installed.is_dir() and not installed.is_symlink()
    assert json.loads((project / "node_modules" / "crypto-js" / "package.json").read_text())["version"] == "4.2.0"
    py_text = iotenvelope.seal(SECRET, b'{"co2": 1223}', device="sensor-01", seq=5, ts=NOW)
    script = f"""
      const ie = require('iotenvelope');
      const fallback = ie.create(ie.CryptoJS, ie.cryptoJsVersion, {{ backend: 'crypto-js' }});
      const secret = '{SECRET.hex()}';
      const sealed = ie.seal(secret, 'from the npm package', {{ device: 'sensor-01', seq: 9, ts: {NOW} }});
      const lean = ie.seal(secret, 'lean', {{ device: 'sensor-01', seq: 10, ts: 0, format: 'lean' }});
      console.log(JSON.stringify({{
        backend: ie.backend, sealed,
        selfOpen: ie.open(secret, sealed, {{ now: {NOW} }}).text,
        fallbackOpen: fallback.open(secret, sealed, {{ now: {NOW} }}).text,
        leanOpen: fallback.open(secret, lean, {{ format: 'lean', device: 'sensor-01', freshness: null }}).text,
        python: ie.open({{ 'sensor-01': secret }}, {json.dumps(py_text + chr(10))}, {{ now: {NOW} }}).text,
      }}));
    """
    run = subprocess.run([shutil.which("node"), "-e", script], cwd=project, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    assert out["backend"] == "node:crypto"
    assert (out["selfOpen"], out["fallbackOpen"], out["leanOpen"]) == ("from the npm package",) * 2 + ("lean",)
    assert out["python"] == '{"co2": 1223}'
    opened = iotenvelope.open(SECRET, out["sealed"], now=NOW)
    assert (opened.plaintext, opened.device, opened.seq) == (b"from the npm package", "sensor-01", 9)
