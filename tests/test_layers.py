"""The package's imports point one way (README, Layout): primitives -> envelope -> replay -> ingest -> profiles
(legacy conventions and diagnose) -> verify -> cli. Every import counts, the ones inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "iotenvelope"
LAYERS = ("primitives", "envelope", "replay", "ingest", "profiles", "verify", "cli", "__main__")

#: (importing module, imported module): the upward imports there are, each with its reason
ALLOWED = {
    # diagnose checks each command it suggests by parsing it with the CLI's own parser (Finding.cli_ready):
    # a suggestion is only as good as the parser that will read it
    ("iotenvelope.profiles.diagnose", "iotenvelope.cli"),
}


def _layer(module: str) -> int | None:
    """Index in LAYERS; None for the package root (its facade re-exports) and the shared base modules."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def imports_of(path: Path, root: Path = PACKAGE) -> list[tuple[str, str, int]]:
    """(this module, imported iotenvelope module, line) for every import in ``path`` (a file under ``root``)."""
    rel = path.relative_to(root.parent).with_suffix("")
    module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    package = module if rel.name == "__init__" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("iotenvelope"):
                continue
            # `from . import x` / `from .. import x`: x may be a module of that package
            names = [f"{target}.{a.name}" for a in node.names] if node.module is None or "." not in target \
                else [target]
            found += [(module, name, node.lineno) for name in names]
        elif isinstance(node, ast.Import):
            found += [(module, a.name, node.lineno) for a in node.names if a.name.startswith("iotenvelope")]
    return sorted(found, key=lambda edge: edge[2])


def upward(paths, root: Path = PACKAGE) -> list[str]:
    out = []
    for path in paths:
        for module, target, line in imports_of(path, root):
            src, dst = _layer(module), _layer(target)
            if src is not None and dst is not None and dst > src and (module, target) not in ALLOWED:
                out.append(f"{module} imports {target} (line {line}): {LAYERS[src]} -> {LAYERS[dst]}")
    return out


def test_no_module_imports_a_layer_above_its_own():
    assert upward(sorted(PACKAGE.rglob("*.py"))) == []


def test_the_check_sees_function_level_and_relative_imports(tmp_path):
    # the two kinds of upward import that went unseen before this test: one inside a function, one relative
    probe = tmp_path / "iotenvelope" / "replay" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("def f():\n    from ..profiles.envelope_v1 import EnvelopeV1\n\nfrom .. import verify, errors\n")
    assert upward([probe], tmp_path / "iotenvelope") == [
        "iotenvelope.replay.probe imports iotenvelope.profiles.envelope_v1 (line 2): replay -> profiles",
        "iotenvelope.replay.probe imports iotenvelope.verify (line 4): replay -> verify",
    ]


def test_every_allowed_exception_is_still_needed():
    edges = {(m, t) for p in PACKAGE.rglob("*.py") for m, t, _ in imports_of(p)}
    assert ALLOWED <= edges
