"""Run the CI templates in ci-templates/ here, as GitHub Actions and GitLab CI would run their shell steps.

The YAML is parsed, ``${{ inputs.* }}`` expressions are substituted, ``if:`` conditions of the two forms the
templates use (``always()``, ``inputs.X != ''``) are evaluated, and each ``run:`` step is executed the way the
service executes it: GitHub ``shell: bash`` steps as ``bash --noprofile --norc -eo pipefail FILE``, each step
its own process with its ``env:``; a GitLab job's ``script:`` lines as one shell script with the job's
variables. ``uses:`` steps belong to GitHub (checkout, setup-python, upload-artifact): they are listed and
replaced by what this harness provides (the user repository as working directory, a fresh venv first on PATH).

    python tests/ci_templates.py github|gitlab WORKDIR VENV PACKAGE PEERS [BUILD]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "ci-templates"
ACTION = TEMPLATES / "github" / "iotenvelope-verify" / "action.yml"
WORKFLOW = TEMPLATES / "github" / "iotenvelope-verify.yml"
GITLAB = TEMPLATES / "gitlab" / "iotenvelope-verify.gitlab-ci.yml"
#: the GitHub actions this harness stands in for
STAND_INS = {"actions/checkout@v4": "the user repository is the working directory",
             "actions/setup-python@v5": "a fresh venv is first on PATH",
             "actions/upload-artifact@v4": "the reports stay in the working directory"}
_EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


@dataclass
class StepRun:
    name: str
    returncode: int | None  # None: a `uses:` step stood in for, or skipped by its `if:`
    output: str = ""


@dataclass
class TemplateRun:
    steps: list[StepRun] = field(default_factory=list)

    @property
    def returncode(self) -> int:
        """The job's result: the first failing step's status, else 0."""
        return next((s.returncode for s in self.steps if s.returncode), 0)

    @property
    def output(self) -> str:
        return "".join(s.output for s in self.steps)


def substitute(text: str, inputs: dict) -> str:
    def one(match: re.Match) -> str:
        expr = match.group(1)
        if not expr.startswith("inputs."):
            raise ValueError(f"the harness cannot evaluate ${{{{ {expr} }}}}")
        return str(inputs[expr[len("inputs."):]])
    return _EXPR.sub(one, text)


def condition(expr: str | None, inputs: dict, failed: bool) -> bool:
    if expr is None:
        return not failed
    expr = expr.strip()
    if expr == "always()":
        return True
    match = re.fullmatch(r"inputs\.([\w-]+)\s*!=\s*''", expr)
    if not match:
        raise ValueError(f"the harness cannot evaluate if: {expr}")
    return not failed and inputs[match.group(1)] != ""


def _defaults(spec: dict) -> dict:
    return {name: str(opts.get("default", "")) for name, opts in (spec or {}).items()}


def _environment(venv: Path, extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def run_action(inputs: dict, workdir: Path, venv: Path, run: TemplateRun | None = None) -> TemplateRun:
    """The composite action's steps with these inputs (the action's defaults fill the rest)."""
    action = yaml.safe_load(ACTION.read_text())
    missing = [k for k, v in action["inputs"].items() if v.get("required") and k not in inputs]
    if missing:
        raise ValueError(f"required inputs missing: {missing}")
    values = {**_defaults(action["inputs"]), **inputs}
    run = run or TemplateRun()
    summary = workdir / "step-summary.md"
    for step in action["runs"]["steps"]:
        name = step.get("name", step.get("uses", "?"))
        failed = run.returncode != 0
        if not condition(step.get("if"), values, failed):
            why = f"if: {step['if']}" if step.get("if") else "an earlier step failed"
            run.steps.append(StepRun(name, None, f"[{name}: skipped ({why})]\n"))
            continue
        if "uses" in step:
            if step["uses"] not in STAND_INS:
                raise ValueError(f"unknown action {step['uses']}")
            run.steps.append(StepRun(name, None, f"[{step['uses']}: {STAND_INS[step['uses']]}]\n"))
            continue
        assert step.get("shell") == "bash", step
        env = {k: substitute(str(v), values) for k, v in (step.get("env") or {}).items()}
        env["GITHUB_STEP_SUMMARY"] = str(summary)
        with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as script:
            script.write(substitute(step["run"], values))
        try:
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", script.name], cwd=workdir,
                                  env=_environment(venv, env), capture_output=True, text=True, timeout=900)
        finally:
            os.unlink(script.name)
        run.steps.append(StepRun(name, proc.returncode, proc.stdout + proc.stderr))
    return run


def run_workflow(inputs: dict, workdir: Path, venv: Path) -> TemplateRun:
    """The reusable workflow (workflow_call) with these inputs: its job's steps, the composite action resolved."""
    flow = yaml.safe_load(WORKFLOW.read_text())
    trigger = flow.get("on", flow.get(True))  # YAML 1.1 reads the key `on` as True
    spec = trigger["workflow_call"]["inputs"]
    missing = [k for k, v in spec.items() if v.get("required") and k not in inputs]
    if missing:
        raise ValueError(f"required inputs missing: {missing}")
    values = {**_defaults(spec), **inputs}
    run = TemplateRun()
    (job,) = flow["jobs"].values()
    for step in job["steps"]:
        uses = step.get("uses", "")
        if uses == "./.github/actions/iotenvelope-verify":
            run_action({k: substitute(str(v), values) for k, v in step.get("with", {}).items()}, workdir, venv, run)
        elif uses in STAND_INS:
            run.steps.append(StepRun(uses, None, f"[{uses}: {STAND_INS[uses]}]\n"))
        else:
            raise ValueError(f"unexpected step {step}")
    return run


def run_gitlab(variables: dict, workdir: Path, venv: Path) -> TemplateRun:
    """The .iotenvelope-verify job: its script lines as one shell script (what a GitLab runner does), stopping
    at the first failing line, with the template's variables overridden by ``variables``."""
    job = yaml.safe_load(GITLAB.read_text())[".iotenvelope-verify"]
    values = {k: str(v) for k, v in job["variables"].items()}
    values.update(variables)
    lines = list(job.get("before_script", [])) + list(job["script"])
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as script:
        script.write("set -e\n" + "\n".join(lines) + "\n")
    try:
        proc = subprocess.run(["sh", script.name], cwd=workdir, env=_environment(venv, values), capture_output=True,
                              text=True, timeout=900)
    finally:
        os.unlink(script.name)
    return TemplateRun([StepRun("script", proc.returncode, proc.stdout + proc.stderr)])


if __name__ == "__main__":
    kind, workdir, venv, package, peers = sys.argv[1:6]
    build = sys.argv[6] if len(sys.argv) > 6 else ""
    if kind == "github":
        result = run_workflow({"package": package, "peers": peers.replace("\\n", "\n"), "build": build},
                              Path(workdir), Path(venv))
    else:
        result = run_gitlab({"IOTENVELOPE_PACKAGE": package, "IOTENVELOPE_PEERS": peers.replace("\\n", "\n"),
                             "IOTENVELOPE_BUILD": build}, Path(workdir), Path(venv))
    print(result.output)
    sys.exit(result.returncode)
