"""The mip packages of the MicroPython device module (issue 11 item 5), installed by a real MicroPython.

Two HTTP servers on 127.0.0.1 (random ports) serve interop/micropython/ itself (what `mip install
github:OWNER/REPO/interop/micropython/package.json` reads, the .py modules) and the tree build_mip.py writes
(the same package files naming precompiled .mpy). The native unix port runs `mip.install(URL, target=DIR)` for
the base package and each extension, and then run_vectors.py from another folder imports the installed copy
only and checks the vector files with it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_micropython import ROOT, envelope_files, require_native

from iotenvelope.verify import vectors
from iotenvelope.verify.peers import micropython as mp

PACKAGES = {
    "package.json": ["iotenv"],
    "package-state.json": ["iotenv", "iotenv_state"],
    "package-lean.json": ["iotenv", "iotenv_lean"],
    "package-legacy.json": ["iotenv", "iotenv_legacy"],
}
VERSION = "0.2.0"
# run by tools/release-check's mip step; .ci/run's pytest leaves them out (-m "not release")
pytestmark = pytest.mark.release


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """{"py": base URL of interop/micropython/, "mpy": base URL of the built .mpy tree}, and the requests
    each server saw."""
    built = tmp_path_factory.mktemp("mip-mpy")
    subprocess.run([sys.executable, str(mp.MP_DIR / "build_mip.py"), str(built)], check=True, capture_output=True)
    running, urls, seen = [], {}, {}
    for kind, root in (("py", mp.MP_DIR), ("mpy", built)):
        log = seen.setdefault(kind, [])

        class Handler(QuietHandler):
            def do_GET(self, log=log):
                log.append(self.path)
                super().do_GET()

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        running.append(httpd)
        urls[kind] = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield urls, seen, built
    for httpd in running:
        httpd.shutdown()
        httpd.server_close()


def mip_install(url, target):
    code = "import mip\nmip.install(%r, target=%r)\n" % (url, str(target))
    proc = subprocess.run(require_native() + ["-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Done" in proc.stdout, proc.stdout + proc.stderr
    return proc.stdout


def run_installed(target, scratch, *args):
    """run_vectors.py from a folder without modules, importing only from target (MICROPYPATH)."""
    scratch.mkdir(exist_ok=True)
    shutil.copy(mp.RUN_VECTORS, scratch / mp.RUN_VECTORS.name)
    return subprocess.run(require_native() + [str(scratch / mp.RUN_VECTORS.name), *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, MICROPYPATH=str(target)))


def test_package_files_and_module_versions():
    """One version for the project: every package file and every module's __version__ say 0.2.0; the
    base package is iotenv alone and each extension adds exactly one module to it; nothing test-only ships."""
    for name, modules in PACKAGES.items():
        package = json.loads((mp.MP_DIR / name).read_text())
        assert package == {"urls": [[m + ".py", m + ".py"] for m in modules], "deps": [], "version": VERSION}
    shipped = {m + ".py" for ms in PACKAGES.values() for m in ms}
    assert shipped == set(mp.MODULES)
    for module in mp.MODULES:
        assert re.search(r'^__version__ = "%s"' % re.escape(VERSION), (mp.MP_DIR / module).read_text(), re.M), module
    assert sorted(p.name for p in mp.MP_DIR.glob("package*.json")) == sorted(PACKAGES)


@pytest.mark.parametrize("kind", ["py", "mpy"])
@pytest.mark.parametrize("name", list(PACKAGES))
def test_mip_installs_the_package(servers, tmp_path, kind, name):
    urls, seen, _ = servers
    target = tmp_path / "lib"
    before = len(seen[kind])
    out = mip_install(f"{urls[kind]}/{name}", target)
    # mip fetched the package file and exactly its modules, nothing else (nothing test-only)
    assert seen[kind][before:] == [f"/{name}"] + ["/" + m + "." + kind for m in PACKAGES[name]]
    suffix = "." + kind
    assert sorted(p.name for p in target.iterdir()) == sorted(m + suffix for m in PACKAGES[name]), out
    for m in PACKAGES[name]:
        want = (mp.MP_DIR / (m + ".py")).read_bytes() if kind == "py" else (servers[2] / (m + ".mpy")).read_bytes()
        assert (target / (m + suffix)).read_bytes() == want
    if kind == "mpy":
        assert all((target / (m + ".mpy")).read_bytes()[:2] == b"M\x06" for m in PACKAGES[name])
    # the installed copy is what gets imported, and it says which version it is
    probe = "".join("import %s\nprint(%s.__file__, %s.__version__)\n" % (m, m, m) for m in PACKAGES[name])
    proc = subprocess.run(require_native() + ["-c", probe], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, MICROPYPATH=str(target)), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [w for m in PACKAGES[name] for w in (str(target / (m + suffix)), VERSION)]


@pytest.mark.parametrize("kind", ["py", "mpy"])
def test_installed_copy_passes_the_vectors(servers, tmp_path, kind):
    urls, _, _ = servers
    target = tmp_path / "lib"
    mip_install(f"{urls[kind]}/package-state.json", target)
    mip_install(f"{urls[kind]}/package-lean.json", target)
    files = envelope_files()
    for path in files:
        proc = run_installed(target, tmp_path / "run", path)
        total = sum(1 for _ in vectors.iter_tests(vectors.load(path)))
        assert proc.stdout.splitlines()[-1] == f"{total} passed, 0 failed", (path, proc.stdout[-2000:], proc.stderr)
        assert proc.returncode == 0
    # seal with the installed copy, open with the Python library
    proc = run_installed(target, tmp_path / "run", "--seal", "00" * 16, 3)
    import iotenvelope
    assert [iotenvelope.open(bytes(16), line).seq for line in proc.stdout.split()] == [1, 2, 3]


def test_a_missing_package_fails_the_install(servers, tmp_path):
    urls, _, _ = servers
    code = "import mip\ntry:\n    mip.install(%r, target=%r)\nexcept Exception as e:\n    print(type(e).__name__)\n" % (
        urls["py"] + "/package-nothing.json", str(tmp_path / "lib"))
    proc = subprocess.run(require_native() + ["-c", code], capture_output=True, text=True, timeout=60)
    assert "Package not found" in proc.stdout and "Done" not in proc.stdout, proc.stdout
    assert not (tmp_path / "lib").exists() or not any((tmp_path / "lib").iterdir())


def test_doc_names_the_install_commands():
    doc = (ROOT / "docs" / "micropython.md").read_text(encoding="utf-8")
    for name in PACKAGES:
        assert f"interop/micropython/{name}" in doc, name
    assert "build_mip.py" in doc and "mpremote mip install" in doc and "mip.install(" in doc
