"""Implementations that ``iotenvelope verify`` runs over the vector files.

A peer is anything that can check vector files: this Python package itself, crypto-js under node, the C
library with each crypto backend, the MicroPython module inside a real interpreter. Each lives in its own
module here and exposes ``discover() -> list[Peer]`` and ``ORDER`` (an int: the matrix row order). New
peers need no registration: every module in this package is found.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ...errors import IotEnvelopeError



@dataclass
class Result:
    passed: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    #: one ``protocol.CaseOutcome`` per case when the peer reports them (protocol runners); otherwise verify
    #: derives them from ``failures`` (each starts with the case's ``tcId N``)
    cases: list = field(default_factory=list)
    #: cases the peer could not check (a protocol runner lacking an op, form or profile): never passed
    unsupported: int = 0
    unsupported_reason: str = ""

    def record(self, ok: bool, label: str, detail: str = "") -> None:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(f"{label}: {detail}" if detail else label)

    def attempt(self, test: dict, label: str, what: str, action: Callable[[], Any]) -> tuple[bool, Any]:
        """Run ``action`` (the open/decrypt of one vector case). An error settles the case - it passes exactly
        when the case is invalid - and so does an invalid case that ``action`` accepted (it fails); then
        ``(False, None)``. Otherwise ``(True, value)`` for the caller to compare."""
        try:
            value = action()
        except IotEnvelopeError as exc:
            self.record(test["result"] == "invalid", label, f"{what} raised {exc.code}: {exc}")
            return False, None
        if test["result"] == "invalid":
            self.record(False, label, f"{what} accepted an invalid case")
            return False, None
        return True, value


@dataclass
class Subset:
    """The part of a vector file a peer checks when it cannot check all of it.

    verify names the cell after the file plus ``label`` (its own matrix column) and reports ``left_out`` tests
    as unsupported, with ``why``: they are never counted as passed.
    """

    label: str
    data: dict
    left_out: int
    why: str


def key_size_subset(data: dict, sizes: tuple[int, ...], why: str) -> Subset | None:
    """The test groups of a Wycheproof-style file whose ``keySize`` (bits) is in ``sizes``; None when that is
    every group. ``label`` lists the sizes kept, e.g. ``[128,256]``."""
    kept = [g for g in data["testGroups"] if g.get("keySize") in sizes]
    left_out = sum(len(g.get("tests", [])) for g in data["testGroups"] if g.get("keySize") not in sizes)
    if not left_out:
        return None
    label = "[" + ",".join(str(s) for s in sorted({g["keySize"] for g in kept})) + "]"
    return Subset(label, {**data, "testGroups": kept}, left_out, why)


class Peer:
    """One implementation column of the verify matrix. Subclasses override the four members (and ``subset``
    when they check only part of some file)."""

    name = "peer"
    #: vector-file ``algorithm`` values this peer can check
    algorithms: frozenset[str] = frozenset()

    def unavailable_reason(self) -> str | None:
        """None when the peer can run here, otherwise a short reason ("node not found", ...)."""
        return None

    def subset(self, data: dict) -> Subset | None:
        """None when the peer checks every test of this file, else the part it checks (decided from the file
        alone, so a peer that is not available lands in the same column)."""
        return None

    def run(self, path: Path, data: dict) -> Result:
        """Check ``data`` (the file at ``path``, or the ``subset`` of it): one verdict per test."""
        raise NotImplementedError

    def close(self) -> None:
        """Release processes or files (called once at the end of a verify run)."""


#: the repository root when the package runs from a checkout (interop/ beside iotenvelope/)
REPOSITORY = Path(__file__).resolve().parents[3]


def missing_repository_dir(module: Any) -> Path | None:
    """A directory of the repository (``interop/...``, named by a module-level ``*_DIR`` path) that the peer
    module needs and that is not there: the package was installed from a wheel, without the repository."""
    for name, value in vars(module).items():
        if name.endswith("_DIR") and isinstance(value, Path):
            try:
                value.relative_to(REPOSITORY / "interop")
            except ValueError:
                continue
            if not value.is_dir():
                return value
    return None


class NotInstalled(Peer):
    """A repository peer (its code lives in interop/, outside the Python package) seen from an installed wheel:
    the same row and columns, "not available" with the remedy."""

    def __init__(self, peer: Peer, missing: Path):
        self._peer = peer
        self.name = peer.name
        self.algorithms = peer.algorithms
        self._reason = (f"needs {missing.relative_to(REPOSITORY).as_posix()}/ from the iotenvelope repository (not "
                        "in the PyPI package): run verify in a checkout after .ci/install, or give your own runner "
                        "with --peer")

    def unavailable_reason(self) -> str | None:
        return self._reason

    def subset(self, data: dict) -> Subset | None:
        return self._peer.subset(data)


def discover() -> list[Peer]:
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
    peers: list[Peer] = []
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        missing = missing_repository_dir(module)
        found = module.discover()
        peers.extend(found if missing is None else [NotInstalled(p, missing) for p in found])
    return peers
