"""``iotenvelope verify``: every available peer × every vector file it can check."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import vectors
from .peers import Peer, Result, discover
from .protocol import CaseOutcome

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def default_vector_dir() -> Path:
    """The bundled vector files (inside the installed package, or the checkout's ``vectors/``)."""
    return vectors.bundled_dir()


class VerifyError(Exception):
    """verify cannot produce a matrix (no vector files, nothing to check): a message for the user."""


@dataclass
class Cell:
    impl: str
    file: str
    available: bool
    passed: int = 0
    failed: int = 0
    reason: str = ""
    failures: tuple[str, ...] = ()
    #: tests of the file this peer cannot check (its cell covers a subset, or a runner lacks an op/form/profile):
    #: never counted as passed
    unsupported: int = 0
    unsupported_reason: str = ""
    #: one CaseOutcome per case of the file (passed, failed, unsupported, or not-available)
    cases: tuple[CaseOutcome, ...] = ()
    #: the vector file's path relative to the vector directory (``file`` may add a subset label)
    path: str = ""

    def as_json(self) -> dict:
        out = {"impl": self.impl, "file": self.file, "passed": self.passed, "failed": self.failed,
               "available": self.available}
        if not self.available:
            out["reason"] = self.reason
        if self.unsupported:
            out["unsupported"] = self.unsupported
            out["unsupportedReason"] = self.unsupported_reason
        if self.failed:
            out["failedCases"] = [c.as_json() for c in self.cases if c.status == "failed"]
            other = [f for f in self.failures if not f.startswith("tcId ")]
            if other:
                out["otherFailures"] = other
        return out


def _tests(data: dict) -> list[dict]:
    return [t for _, t in vectors.iter_tests(data)]


def _outcome(test: dict, status: str, detail: str = "", expected: str = "", actual: str = "") -> CaseOutcome:
    return CaseOutcome(test["tcId"], str(test.get("comment", "")), tuple(test.get("flags", ())), status,
                       expected, actual, detail)


def _want(test: dict) -> str:
    return "valid" if test.get("result") == "valid" else f"invalid ({test.get('error', 'any error')})"


def _derive_cases(data: dict, res: Result) -> list[CaseOutcome]:
    """Per-case outcomes for a peer that reports counts and failure lines only (``tcId N (...): detail``)."""
    tests = _tests(data)
    by_id: dict[int, str] = {}
    for line in res.failures:
        head = line.split(" ", 2)
        if len(head) >= 2 and head[0] == "tcId" and head[1].isdigit():
            by_id.setdefault(int(head[1]), line.split(": ", 1)[1] if ": " in line else line)
    known = {t["tcId"] for t in tests}
    matched = {k: v for k, v in by_id.items() if k in known}
    consistent = (res.failed == len(matched) and res.passed + res.failed == len(tests))
    other = "; ".join(f for f in res.failures if not any(f.startswith(f"tcId {k} ") for k in matched))[:300]
    out = []
    for t in tests:
        if t["tcId"] in matched:
            out.append(_outcome(t, "failed", matched[t["tcId"]], _want(t)))
        elif consistent:
            out.append(_outcome(t, "passed"))
        else:
            out.append(_outcome(t, "failed", f"no verdict of its own from the peer ({other or 'counts do not add up'})",
                                _want(t)))
    return out


def vector_files(vector_dir: Path) -> list[Path]:
    return [p for p in sorted(vector_dir.glob("**/*.json")) if p.name not in ("package.json", "package-lock.json")]


def run(vector_dir: Path | None = None, peers: list[Peer] | None = None, only: set[str] | None = None) -> list[Cell]:
    vector_dir = vector_dir or default_vector_dir()
    files = vector_files(vector_dir)
    if not files:
        raise VerifyError(f"no vector files (*.json) in {vector_dir}")
    loaded = [(p, vectors.load(p)) for p in files]
    peers = discover() if peers is None else peers
    cells: list[Cell] = []
    try:
        for peer in peers:
            if only and peer.name not in only:
                continue
            reason = peer.unavailable_reason()
            for path, data in loaded:
                if vectors.algorithm_of(data) not in peer.algorithms:
                    continue
                rel = path.relative_to(vector_dir).as_posix()
                part = peer.subset(data)
                checked = data if part is None else part.data
                # a subset is its own column ("file [label]"), and its left-out tests are counted apart
                left_out: list[CaseOutcome] = []
                extra = {"unsupported": 0, "unsupported_reason": ""}
                name = rel
                if part is not None:
                    name = f"{rel} {part.label}"
                    kept = {t["tcId"] for t in _tests(part.data)}
                    left_out = [_outcome(t, "unsupported", part.why) for t in _tests(data) if t["tcId"] not in kept]
                    extra = {"unsupported": part.left_out, "unsupported_reason": part.why}
                if reason:
                    cases = [_outcome(t, "not-available", reason) for t in _tests(checked)] + left_out
                    cells.append(Cell(peer.name, name, False, reason=reason, cases=tuple(cases), path=rel, **extra))
                    continue
                try:
                    res = peer.run(path, checked)
                except Exception as exc:  # a crashing peer is a failed cell, not a crashed matrix
                    res = Result(failed=1, failures=[f"peer crashed: {type(exc).__name__}: {exc}"])
                cases = list(res.cases) if res.cases else _derive_cases(checked, res)
                if res.unsupported:
                    extra = {"unsupported": extra["unsupported"] + res.unsupported,
                             "unsupported_reason": "; ".join(r for r in (extra["unsupported_reason"],
                                                                         res.unsupported_reason) if r)}
                cells.append(Cell(peer.name, name, True, res.passed, res.failed, failures=tuple(res.failures),
                                  cases=tuple(cases + left_out), path=rel, **extra))
    finally:
        for peer in peers:
            peer.close()
    if not cells:
        raise VerifyError("empty matrix: no selected implementation can check any vector file in "
                          f"{vector_dir}")
    return cells


def ok(cells: list[Cell]) -> bool:
    return all(c.failed == 0 for c in cells) and any(c.available for c in cells)


def render(cells: list[Cell], show_failures: int = 5) -> str:
    impls = list(dict.fromkeys(c.impl for c in cells))
    files = list(dict.fromkeys(c.file for c in cells))
    table = {(c.impl, c.file): c for c in cells}

    def text(c: Cell | None) -> str:
        if c is None:
            return "-"
        if not c.available:
            return "not available"
        if not c.passed and not c.failed and c.unsupported:
            return "unsupported"
        return f"{c.passed} passed" if not c.failed else f"FAILED {c.failed}/{c.passed + c.failed}"

    # tests a peer cannot check (its cell is "file [subset]"), grouped by column and reason
    left_out: dict[tuple[str, int, str], list[str]] = {}
    for c in cells:
        if c.unsupported:
            left_out.setdefault((c.file, c.unsupported, c.unsupported_reason), []).append(c.impl)
    subsets = {c.file for c in cells if c.file != c.path}

    # columns are numbered and the file names listed above the table, which keeps it narrow
    lines = [f"[{i}] {f}" + ("  (part of the file: the tests left out are listed below, not counted as passed)"
                             if f in subsets else "") for i, f in enumerate(files, 1)] + [""]
    heads = [f"[{i}]" for i in range(1, len(files) + 1)]
    width = max([len("implementation")] + [len(i) for i in impls])
    cols = [13] * len(files)
    lines.append(("implementation".ljust(width) + "  " + "  ".join(h.ljust(w) for h, w in zip(heads, cols))).rstrip())
    for impl in impls:
        lines.append((impl.ljust(width) + "  " + "  ".join(text(table.get((impl, f))).ljust(w)
                                                            for f, w in zip(files, cols))).rstrip())
    reasons = dict.fromkeys((c.impl, c.reason) for c in cells if not c.available)
    lines += [f"{impl}: not available: {reason}" for impl, reason in reasons]
    lines += [f"[{files.index(f) + 1}] {n} tests unsupported by {', '.join(who)}: {why}"
              for (f, n, why), who in left_out.items()]
    for c in cells:
        for failure in c.failures[:show_failures]:
            lines.append(f"{c.impl} {c.file}: {failure}")
        if len(c.failures) > show_failures:
            lines.append(f"{c.impl} {c.file}: ... {len(c.failures) - show_failures} more")
    if not ok(cells):
        lines.append("FAILED: see above")
    elif left_out:
        lines.append("OK: every available implementation passed every test it checked (the unsupported ones above "
                     "were not checked)")
    else:
        lines.append("OK: every available implementation passed every vector file")
    return "\n".join(lines)


def as_json(cells: list[Cell]) -> str:
    return json.dumps({"ok": ok(cells), "matrix": [c.as_json() for c in cells]})
