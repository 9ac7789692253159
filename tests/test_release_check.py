"""tools/release-check's own wiring (issue 11 item 6): its steps, the mip step against packages built here, and
the split between the release check and .ci/run's pytest (each artifact checked once). The artifact checks
themselves are the tests marked `release`, which the release check runs on what it builds."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import iotenvelope
from conftest import ROOT

MIP = ROOT / "tools" / "release_mip.py"
RELEASE_TESTS = {
    "tests/test_js_package.py::test_tarball_holds_the_library_and_license_only",
    "tests/test_js_package.py::test_plain_npm_install_of_the_tarball_in_an_empty_project_works",
    "tests/test_node_red_palette.py::test_tarball_holds_the_nodes_examples_and_license_but_no_tests",
    "tests/test_node_red_palette.py::test_deploy_open_seal_kill9_restart_and_where_the_secret_is",
    "tests/test_node_red_palette.py::test_lean_frames_python_to_node_red_and_back",
    "tests/test_arduino.py::test_arduino_zip_layout",
    "tests/test_arduino.py::test_platformio_pack",
    "tests/test_arduino.py::test_examples_compile_from_the_zip_with_arduino_builder",
    "tests/test_arduino.py::test_seal_reading_firmware_reboots_in_simavr",
    *(f"tests/test_micropython_mip.py::{t}" for t in (
        "test_package_files_and_module_versions",
        *(f"test_mip_installs_the_package[{p}-{k}]" for p in ("package.json", "package-state.json",
                                                            "package-lean.json", "package-legacy.json")
          for k in ("py", "mpy")),
        "test_installed_copy_passes_the_vectors[py]", "test_installed_copy_passes_the_vectors[mpy]",
        "test_a_missing_package_fails_the_install", "test_doc_names_the_install_commands")),
}


def test_unknown_step_is_refused_with_the_list_of_steps(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "tools" / "release-check"), "pypi"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "RELEASE_OUT": str(tmp_path / "out")})
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("release-check: unknown step 'pypi' "
                                   "(steps: python npm node-red arduino platformio mip)")
    assert not (tmp_path / "out").exists()  # refused before anything was built


def test_ci_runs_the_release_check_and_leaves_its_tests_out_of_pytest():
    run = (ROOT / ".ci" / "run").read_text()
    assert "bash tools/release-check || rc=$?" in run
    assert re.search(r'python3 -m pytest .*-m "not release"', run)
    script = (ROOT / "tools" / "release-check").read_text()
    for path in {t.split("::")[0] for t in RELEASE_TESTS}:
        assert f"release_tests {path}" in script or f"release_tests tests/{path.split('/')[1]}" in script, path
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                           "-m", "release", *sorted({t.split("::")[0] for t in RELEASE_TESTS})],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    collected = {ln for ln in proc.stdout.splitlines() if "::" in ln}
    assert collected == RELEASE_TESTS, proc.stdout[-2000:]


def _micropython() -> str:
    exe = shutil.which("micropython")
    if not exe:
        pytest.fail("the MicroPython unix port is not installed: run .ci/install (50-micropython.sh)")
    return exe


def _source(tmp_path, version: str, urls: list[list[str]]):
    src = tmp_path / "src"
    src.mkdir()
    text = (ROOT / "interop" / "micropython" / "iotenv.py").read_text()
    text, n = re.subn(r'^(__version__|VERSION) = "[^"]*"', rf'\1 = "{version}"', text, flags=re.M)
    assert n >= 1
    (src / "iotenv.py").write_text(text)
    (src / "package.json").write_text(json.dumps({"urls": urls, "deps": [], "version": version}))
    return src


def test_mip_step_installs_a_package_with_micropython_and_uses_it(tmp_path):
    _micropython()
    src = _source(tmp_path, iotenvelope.__version__, [["iotenv.py", "iotenv.py"]])
    proc = subprocess.run([sys.executable, str(MIP), str(tmp_path / "out"), str(src)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == (f"ok   package.json: mip.install over loopback HTTP put iotenv.py; installed copy "
                           f"sealed/opened with Python; version {iotenvelope.__version__}\n")
    assert sorted(p.name for p in (tmp_path / "out" / "mip").iterdir()) == ["iotenv.py", "package.json"]


def test_mip_step_fails_on_a_missing_file(tmp_path):
    _micropython()
    src = _source(tmp_path, iotenvelope.__version__, [["iotenv.py", "iotenv.py"], ["iotenv_gone.py", "iotenv_gone.py"]])
    proc = subprocess.run([sys.executable, str(MIP), str(tmp_path / "out"), str(src)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0] == "FAIL build: package.json: URL 'iotenv_gone.py' names no file beside the package file"
    assert lines[1].startswith("FAIL package.json: mip.install failed"), lines
    assert len(lines) == 2


def test_mip_step_fails_on_another_version(tmp_path):
    _micropython()
    src = _source(tmp_path, "9.9.9", [["iotenv.py", "iotenv.py"]])
    proc = subprocess.run([sys.executable, str(MIP), str(tmp_path / "out"), str(src)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"FAIL package.json: package version '9.9.9', project '{iotenvelope.__version__}'",
        f"FAIL package.json: iotenv says version 9.9.9, project {iotenvelope.__version__}",
    ]
