#!/usr/bin/env python3
"""The MicroPython mip package as tools/release-check builds and checks it.

    python3 tools/release_mip.py OUTDIR [SOURCE]     # SOURCE: another copy of interop/micropython/

Builds: OUTDIR/mip/, the tree a web server (or GitHub) would hold: every interop/micropython/package*.json and
each file its "urls" name, copied as they are in the checkout. A package whose URL names a missing file fails here.

Checks, with a real MicroPython (the unix port .ci/install.d/50-micropython.sh installs, `micropython` on PATH or
$MICROPYTHON): OUTDIR/mip/ is served over loopback HTTP and each package file is installed with
`mip.install(URL, target=DIR)` into an empty DIR; the installed files must be exactly the package's and byte for
byte the served ones. Then, from an empty directory with only DIR on MICROPYPATH, the installed iotenv seals a
reading that this Python library opens, and opens a down command this library sealed. Last, the package file's
version and each module's __version__ (or VERSION) must be the project's (issue 11: one version).

Prints one line per package file and exits 1 when anything failed. Standard library + iotenvelope only.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import iotenvelope  # noqa: E402  (the checkout's copy, the one the release is cut from)

MP_DIR = ROOT / "interop" / "micropython"
KEY = bytes(range(16))
NOW = 1763900000


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def micropython() -> str:
    exe = os.environ.get("MICROPYTHON") or shutil.which("micropython")
    if not exe:
        sys.exit("release_mip: no `micropython` on PATH (the unix port: run .ci/install, 50-micropython.sh)")
    return exe


def build(out: Path) -> tuple[list[Path], list[str]]:
    """Copy the package files and what they name into out; returns (package files, problems)."""
    problems = []
    packages = sorted(MP_DIR.glob("package*.json"))
    if not packages:
        problems.append("no interop/micropython/package*.json")
    out.mkdir(parents=True)
    for pkg in packages:
        data = json.loads(pkg.read_text())
        shutil.copy(pkg, out / pkg.name)
        for dest, src in data.get("urls", []):
            if "://" in src or ":" in src.split("/", 1)[0]:
                problems.append(f"{pkg.name}: {src!r} is not relative to the package file")
                continue
            source = MP_DIR / src
            if not source.is_file():
                problems.append(f"{pkg.name}: URL {src!r} names no file beside the package file")
                continue
            (out / src).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, out / src)
    return packages, problems


def run_mp(args: list[str], env_path: Path | None, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "")}
    if env_path is not None:
        env["MICROPYPATH"] = str(env_path)
    return subprocess.run([micropython(), *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def check_package(name: str, tree: Path, base_url: str, work: Path) -> list[str]:
    data = json.loads((tree / name).read_text())
    target = work / "lib"
    code = "import mip\nmip.install(%r, target=%r)\n" % (f"{base_url}/{name}", str(target))
    proc = run_mp(["-c", code], None, work)
    if proc.returncode != 0 or "Done" not in proc.stdout:
        said = " | ".join((proc.stdout + proc.stderr).strip().splitlines())
        return [f"mip.install failed (exit {proc.returncode}): {said[-300:]}"]
    problems = []
    want = {dest: src for dest, src in data.get("urls", [])}
    got = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    if got != sorted(want):
        problems.append(f"installed {got}, package names {sorted(want)}")
    for dest, src in want.items():
        if (target / dest).is_file() and (target / dest).read_bytes() != (tree / src).read_bytes():
            problems.append(f"installed {dest} differs from the served {src}")
    project = iotenvelope.__version__
    if data.get("version") != project:
        problems.append(f"package version {data.get('version')!r}, project {project!r}")
    modules = [Path(d).stem for d in want if d.endswith((".py", ".mpy"))]
    empty = work / "empty"
    empty.mkdir()
    probe = "".join(f"import {m}\nprint({m!r}, getattr({m}, '__version__', getattr({m}, 'VERSION', None)))\n"
                    for m in modules)
    proc = run_mp(["-c", probe], target, empty)
    if proc.returncode != 0:
        return problems + [f"importing the installed copy failed: {proc.stderr.strip()[-300:]}"]
    for line in proc.stdout.splitlines():
        module, version = line.split(" ", 1)
        if version != project:
            problems.append(f"{module} says version {version}, project {project}")
    if "iotenv" in modules:
        down = iotenvelope.seal(KEY, b"interval=30", device="sensor-01", seq=4, ts=NOW, direction="down")
        smoke = (f"import iotenv\nk = bytes(range(16))\n"
                 f"print(iotenv.seal(k, b'{{\"co2\": 1223}}', 'sensor-01', 7, ts={NOW}))\n"
                 f"m = iotenv.open(k, {down!r})\nprint(m)\n")
        proc = run_mp(["-c", smoke], target, empty)
        lines = proc.stdout.splitlines()
        if proc.returncode != 0 or len(lines) != 2:
            return problems + [f"seal/open with the installed iotenv failed: {(proc.stdout + proc.stderr)[-300:]}"]
        try:
            opened = iotenvelope.open(KEY, lines[0], now=NOW)
            assert (opened.plaintext, opened.device, opened.seq) == (b'{"co2": 1223}', "sensor-01", 7)
        except Exception as e:  # noqa: BLE001 - reported, not raised
            problems.append(f"the installed iotenv's envelope does not open in Python: {type(e).__name__}: {e}")
        if "interval=30" not in lines[1]:
            problems.append(f"the installed iotenv opened Python's down command as {lines[1][:120]!r}")
    return problems


def main() -> int:
    global MP_DIR
    out = Path(sys.argv[1]).resolve()
    if len(sys.argv) > 2:
        MP_DIR = Path(sys.argv[2]).resolve()
    tree = out / "mip"
    shutil.rmtree(tree, ignore_errors=True)
    packages, problems = build(tree)
    for p in problems:
        print(f"FAIL build: {p}")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(tree)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    failed = bool(problems)
    try:
        for pkg in packages:
            with tempfile.TemporaryDirectory() as work:
                found = check_package(pkg.name, tree, base, Path(work))
            names = [dest for dest, _ in json.loads(pkg.read_text()).get("urls", [])]
            if found:
                failed = True
                for p in found:
                    print(f"FAIL {pkg.name}: {p}")
            else:
                print(f"ok   {pkg.name}: mip.install over loopback HTTP put {', '.join(names)}; installed copy "
                      f"sealed/opened with Python; version {iotenvelope.__version__}")
    finally:
        httpd.shutdown()
        httpd.server_close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
