"""The README's Python example runs as written (in a temporary directory, for its SQLite file)."""

import re

import pytest

import iotenvelope
from conftest import ROOT


def test_readme_python_example(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Python\n+```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    msg = scope["msg"]
    assert (msg.plaintext, msg.device, msg.seq) == (b'{"co2": 1223}', "sensor-01", 42)
    with pytest.raises(iotenvelope.DuplicateError):
        iotenvelope.open({"sensor-01": scope["secret"]}, scope["token"], replay=scope["store"])
    assert (tmp_path / "replay.db").exists()


def test_readme_names_the_two_setup_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = re.search(r"## Set-up.*?```sh\n(.*?)```", text, re.S).group(1)
    assert "python -m iotenvelope verify" in setup and "python -m pytest -q" in setup
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m iotenvelope verify" in run and "python3 -m pytest -q" in run
