"""``iotenvelope verify``: every available peer × every vector file it can check."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import vectors
from .peers import Peer, Result, discover

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def default_vector_dir() -> Path:
    """The checkout's ``vectors/`` (next to the package), else ``./vectors``."""
    here = PACKAGE_DIR.parent / "vectors"
    return here if here.is_dir() else Path.cwd() / "vectors"


@dataclass
class Cell:
    impl: str
    file: str
    available: bool
    passed: int = 0
    failed: int = 0
    reason: str = ""
    failures: tuple[str, ...] = ()
    #: tests of the file this peer cannot check (its cell covers a subset): never counted as passed
    unsupported: int = 0
    unsupported_reason: str = ""

    def as_json(self) -> dict:
        out = {"impl": self.impl, "file": self.file, "passed": self.passed, "failed": self.failed,
               "available": self.available}
        if not self.available:
            out["reason"] = self.reason
        if self.unsupported:
            out["unsupported"] = self.unsupported
            out["unsupportedReason"] = self.unsupported_reason
        return out


def run(vector_dir: Path | None = None, peers: list[Peer] | None = None, only: set[str] | None = None) -> list[Cell]:
    vector_dir = vector_dir or default_vector_dir()
    files = sorted(vector_dir.glob("**/*.json"))
    loaded = [(p, vectors.load(p)) for p in files if p.name != "package.json"]
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
                rel = str(path.relative_to(vector_dir))
                part = peer.subset(data)
                # a subset is its own column ("file [label]"), and its left-out tests are counted apart
                extra = {} if part is None else {"unsupported": part.left_out, "unsupported_reason": part.why}
                if part is not None:
                    rel = f"{rel} {part.label}"
                if reason:
                    cells.append(Cell(peer.name, rel, False, reason=reason, **extra))
                    continue
                try:
                    res = peer.run(path, data if part is None else part.data)
                except Exception as exc:  # a crashing peer is a failed cell, not a crashed matrix
                    res = Result(failed=1, failures=[f"peer crashed: {type(exc).__name__}: {exc}"])
                cells.append(Cell(peer.name, rel, True, res.passed, res.failed, failures=tuple(res.failures),
                                  **extra))
    finally:
        for peer in peers:
            peer.close()
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
        return f"{c.passed} passed" if not c.failed else f"FAILED {c.failed}/{c.passed + c.failed}"

    # tests a peer cannot check (its cell is "file [subset]"), grouped by column and reason
    left_out: dict[tuple[str, int, str], list[str]] = {}
    for c in cells:
        if c.unsupported:
            left_out.setdefault((c.file, c.unsupported, c.unsupported_reason), []).append(c.impl)
    subsets = {f for f, _, _ in left_out}

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
