"""PyPI packaging: metadata, the PyPI description, the bundled vectors, and repository peers seen from a wheel.
(tools/release-check builds the wheel and sdist and uses them from a fresh venv; .ci/run runs it.)"""

import re
import sys

import pytest

import iotenvelope
from iotenvelope.verify import peers as peers_mod
from iotenvelope.verify import vectors
from iotenvelope.verify.peers import js
from conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - CI runs 3.11
    tomllib = None


@pytest.mark.skipif(tomllib is None, reason="tomllib is Python 3.11+ (CI runs 3.11)")
def test_pyproject_metadata():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"]
    assert meta["dynamic"] == ["version"] and iotenvelope.__version__ == "0.2.0"
    assert {"Typing :: Typed", "Development Status :: 4 - Beta", "Programming Language :: Python :: 3.9",
            "Programming Language :: Python :: 3.13"} <= set(meta["classifiers"])
    assert meta["authors"] and meta["requires-python"] == ">=3.9"
    assert meta["readme"]["file"] == "docs/pypi.md"
    assert "urls" not in meta  # no public address exists yet: none is invented (see the comment in pyproject.toml)
    assert (ROOT / "iotenvelope" / "py.typed").exists() and (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_pypi_description_has_no_repository_relative_links_and_its_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "pypi.md").read_text(encoding="utf-8")
    assert not re.findall(r"\]\((?!https?://)[^)]*\)", text)  # PyPI cannot resolve relative links
    block = re.search(r"## Use\n+```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "docs/pypi.md", "exec"), scope)
    assert (scope["msg"].plaintext, scope["msg"].seq) == (b'{"co2": 1223}', 42)


def test_vector_generators_record_the_project_version():
    lean = vectors.load(ROOT / "vectors" / "envelope_v1_lean.json")
    assert lean["generatorVersion"] == lean["source"]["version"] == iotenvelope.__version__
    assert vectors.generate_envelope_v1(1)["source"]["version"] == iotenvelope.__version__
    # envelope_v1.json keeps the provenance of the release that wrote it (tests/test_vectors.py)


def test_readme_names_the_release_check_and_ci_runs_it():
    assert "tools/release-check" in (ROOT / "README.md").read_text(encoding="utf-8")
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash tools/release-check" in run
    manifest = (ROOT / "MANIFEST.in").read_text()
    assert "prune tests" in manifest and "graft vectors" in manifest


def test_a_repository_peer_seen_from_a_wheel_is_not_available_with_one_remedy(monkeypatch):
    missing = peers_mod.REPOSITORY / "interop" / "js-not-here"
    monkeypatch.setattr(js, "JS_DIR", missing)
    found = [p for p in peers_mod.discover() if p.name.startswith("js-")]
    assert found and all(isinstance(p, peers_mod.NotInstalled) for p in found)
    reason = found[0].unavailable_reason()
    assert "\n" not in reason and reason.startswith("needs interop/js-not-here/ from the iotenvelope repository")
    assert "--peer" in reason
    # in the checkout nothing is wrapped
    monkeypatch.undo()
    assert not any(isinstance(p, peers_mod.NotInstalled) for p in peers_mod.discover())
