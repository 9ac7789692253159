"""Build step: the wheel carries the repository's top-level vectors/ as iotenvelope/_vectors/ (read at run time
through importlib.resources). vectors/ stays the one committed copy; metadata lives in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

VECTORS = Path(__file__).resolve().parent / "vectors"


def vector_files():
    return sorted(p for p in VECTORS.rglob("*") if p.is_file() and (p.suffix == ".json" or p.name == "README.md"))


class BuildPyWithVectors(build_py):
    def run(self):
        super().run()
        if not VECTORS.is_dir():
            raise SystemExit("vectors/ is missing: the wheel must carry the vector files")
        for src in vector_files():
            dest = Path(self.build_lib) / "iotenvelope" / "_vectors" / src.relative_to(VECTORS)
            self.mkpath(str(dest.parent))
            self.copy_file(str(src), str(dest))

    def get_outputs(self, include_bytecode=1):
        extra = [str(Path(self.build_lib) / "iotenvelope" / "_vectors" / p.relative_to(VECTORS))
                 for p in vector_files()]
        return super().get_outputs(include_bytecode) + extra


setup(cmdclass={"build_py": BuildPyWithVectors})
