"""The package must run on the oldest Python that pyproject.toml declares (requires-python).

CI runs one interpreter (Debian's 3.11), so the floor is guarded statically: vermin (PyPI) parses every
module and reports the newest language feature, standard-library name or keyword argument it needs. The
second test proves that this check is live, by showing that it rejects code the floor cannot run.

One 3.11 keyword is allowed, in one place: ``binascii.a2b_base64(strict_mode=True)`` in ``primitives/b64.py``,
which calls it only when ``_STRICT`` found it at import (``tests/test_primitives.py`` runs the fallback).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _floor() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^requires-python\s*=\s*">=(3\.\d+)"', text, re.M)
    assert match, "pyproject.toml must declare requires-python = \">=3.N\""
    return match.group(1)


_GUARDED = "binascii.a2b_base64(strict_mode)"


def _vermin(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())", f"--target={_floor()}-", "--violations", "--no-tips",
                           "--eval-annotations", "--no-parse-comments", "--exclude", _GUARDED, *map(str, paths)],
                          capture_output=True, text=True)


def test_package_needs_nothing_newer_than_requires_python():
    proc = _vermin(ROOT / "iotenvelope")
    assert proc.returncode == 0, f"code needs a newer Python than >={_floor()}:\n{proc.stdout}{proc.stderr}"


def test_the_one_guarded_311_keyword_is_used_only_behind_its_guard():
    users = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "iotenvelope").rglob("*.py")
                   if "strict_mode" in path.read_text())
    assert users == ["iotenvelope/primitives/b64.py"], users
    text = (ROOT / "iotenvelope/primitives/b64.py").read_text()
    call = text.index("strict_mode=True)")
    guard = text.rindex("if _STRICT and", 0, call)
    assert "\ndef " not in text[guard:call], "the strict_mode call must sit inside the _STRICT-guarded function body"


def test_the_floor_check_rejects_newer_syntax(tmp_path):
    newer = tmp_path / "newer.py"
    newer.write_text("def f(x):\n    match x:\n        case 1:\n            return zip([1], [2], strict=True)\n")
    proc = _vermin(newer)
    assert proc.returncode != 0 and "3.10" in proc.stdout, proc.stdout + proc.stderr
