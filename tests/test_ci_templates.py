"""The CI templates users copy (ci-templates/), run end to end by tests/ci_templates.py: the YAML parsed, its
shell steps executed as GitHub Actions / GitLab CI execute them, iotenvelope installed from a wheel built from
this checkout (instead of PyPI) into a fresh venv, the user's runners built and checked.
"""

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import yaml

import ci_templates
from conftest import ROOT
from test_runner_protocol import BROKEN, NODE_RUNNER, PY_RUNNER, all_tests, broken_failures

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is installed by .ci/install (30-js.sh)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    built = __import__("os").environ.get("IOTENVELOPE_WHEEL")
    if built:  # .ci/run: the wheel tools/release-check built from this checkout and checked, not built again
        return __import__("pathlib").Path(built).resolve()  # the steps run in the user repository, not here
    out = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (whl,) = out.glob("iotenvelope-*.whl")
    return whl


@pytest.fixture
def user_repo(tmp_path):
    """A user's repository: their runners (here the reference and the broken one) to build and run."""
    repo = tmp_path / "repo"
    (repo / "runners").mkdir(parents=True)
    for src in (NODE_RUNNER, PY_RUNNER, BROKEN):
        shutil.copy(src, repo / "runners" / src.name)
    return repo


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv (the stand-in for setup-python); each template run installs the wheel into it itself."""
    path = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    return path


REFERENCE_PEERS = "node-ref=node runners/node_runner.js\npy-ref=python runners/python_runner.py\n"
REFERENCE_BUILD = "node --check runners/node_runner.js\npython -m py_compile runners/python_runner.py"
BROKEN_PEERS = "broken=python runners/broken_runner.py"


def stale_cases():
    """envelope_v1.json cases generated before SPEC.md §5 stripped one trailing newline (see
    test_runner_protocol): the node runner, written from SPEC.md, opens them. None once the file is regenerated."""
    return [t["tcId"] for _, t in all_tests("envelope_v1.json") if t["result"] == "invalid"
            and t["comment"] == "trailing newline"]


def reports_of(repo):
    out = repo / "iotenvelope-reports"
    return (json.loads((out / "matrix.json").read_text()), ET.parse(out / "junit.xml").getroot(),
            (out / "report.md").read_text(), (out / "report.html").read_text())


def check_reference(run, repo):
    assert "Traceback" not in run.output
    matrix, junit, md, page = reports_of(repo)
    cells = {(c["impl"], c["file"]): c for c in matrix["matrix"]}
    assert {impl for impl, _ in cells} == {"python", "node-ref", "py-ref"}
    stale = stale_cases()
    for impl in ("node-ref", "py-ref"):
        for name in ("envelope_v1.json", "envelope_v1_lean.json", "wycheproof/aes_cbc_pkcs5_test.json"):
            cell = cells[(impl, name)]
            failed = [c["tcId"] for c in cell.get("failedCases", [])]
            assert failed == (stale if impl == "node-ref" and name == "envelope_v1.json" else []), (impl, name)
            assert cell["passed"] + cell["failed"] == len(all_tests(name))
    assert all(c["failed"] == 0 and c["passed"] > 0 for (impl, _), c in cells.items() if impl == "python")
    assert run.returncode == (1 if stale else 0)
    assert int(junit.get("tests")) == sum(len(all_tests(c["file"])) for c in cells.values())
    assert md.startswith("### iotenvelope verify:") and "| node-ref |" in md and "<table id=\"matrix\">" in page


def check_broken(run, repo):
    assert run.returncode == 1, run.output[-3000:]
    assert "Traceback" not in run.output
    matrix, junit, md, page = reports_of(repo)
    want = broken_failures()
    cells = {(c["impl"], c["file"]): c for c in matrix["matrix"]}
    suites = {s.get("name"): s for s in junit.iter("testsuite")}
    for name, ids in want.items():
        assert [c["tcId"] for c in cells[("broken", name)]["failedCases"]] == ids
        failing = [tc.get("name") for tc in suites[f"broken: {name}"].findall("testcase") if tc.find("failure") is not None]
        assert [int(n.split()[1]) for n in failing] == ids
        for tc in ids[:20]:
            assert f"tcId {tc} (" in md and f'data-tcid="{tc}"' in page
        for tc in ids[:5]:  # the text in the job log lists the first five failures of a cell
            assert f"broken {name}: tcId {tc} (" in run.output
    assert "FAILED" in run.output


def test_github_reusable_workflow_and_composite_action(wheel, user_repo, venv):
    flow = yaml.safe_load(ci_templates.WORKFLOW.read_text())
    assert "workflow_call" in flow.get("on", flow.get(True))
    run = ci_templates.run_workflow({"package": str(wheel), "peers": REFERENCE_PEERS, "build": REFERENCE_BUILD},
                                    user_repo, venv)
    names = [s.name for s in run.steps]
    assert names == ["actions/checkout@v4", "actions/setup-python@v5", "Install iotenvelope", "Build the runner",
                     "Run the matrix", "Keep the reports"]
    assert [s.returncode for s in run.steps if s.name in ("Install iotenvelope", "Build the runner")] == [0, 0]
    check_reference(run, user_repo)
    summary = (user_repo / "step-summary.md").read_text()
    assert summary == (user_repo / "iotenvelope-reports" / "report.md").read_text()

    shutil.rmtree(user_repo / "iotenvelope-reports")
    run = ci_templates.run_action({"package": str(wheel), "peers": BROKEN_PEERS}, user_repo, venv)
    assert [s.returncode for s in run.steps if s.name == "Build the runner"] == [None]  # build: '' skips it
    check_broken(run, user_repo)


def test_gitlab_job(wheel, user_repo, venv):
    job = yaml.safe_load(ci_templates.GITLAB.read_text())[".iotenvelope-verify"]
    assert job["artifacts"]["reports"]["junit"] == "$IOTENVELOPE_REPORTS/junit.xml"
    assert job["artifacts"]["when"] == "always"
    run = ci_templates.run_gitlab({"IOTENVELOPE_PACKAGE": str(wheel), "IOTENVELOPE_PEERS": REFERENCE_PEERS,
                                   "IOTENVELOPE_BUILD": REFERENCE_BUILD}, user_repo, venv)
    check_reference(run, user_repo)
    shutil.rmtree(user_repo / "iotenvelope-reports")
    run = ci_templates.run_gitlab({"IOTENVELOPE_PACKAGE": str(wheel), "IOTENVELOPE_PEERS": BROKEN_PEERS},
                                  user_repo, venv)
    check_broken(run, user_repo)


def test_a_failing_build_stops_the_job(wheel, user_repo, venv):
    run = ci_templates.run_gitlab({"IOTENVELOPE_PACKAGE": str(wheel), "IOTENVELOPE_PEERS": BROKEN_PEERS,
                                   "IOTENVELOPE_BUILD": "node --check runners/missing.js"}, user_repo, venv)
    assert run.returncode != 0 and not (user_repo / "iotenvelope-reports").exists()
    action = ci_templates.run_action({"package": str(wheel), "peers": BROKEN_PEERS,
                                      "build": "node --check runners/missing.js"}, user_repo, venv)
    assert [s.name for s in action.steps if s.returncode] == ["Build the runner"]
    assert [s.returncode for s in action.steps if s.name == "Run the matrix"] == [None]
