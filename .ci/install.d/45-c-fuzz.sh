#!/usr/bin/env bash
# clang with libFuzzer (Debian's clang 14 + libclang-rt-14-dev, which holds libclang_rt.fuzzer) for the C
# library's fuzz harness (interop/c/tools/fuzz.c, `make -C interop/c fuzz`); tests/test_c.py runs each build for
# a few seconds with a corpus made from the vector files.
# APT_PACKAGES: clang libclang-rt-14-dev
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s -C interop/c fuzz >/dev/null
echo "interop/c: built $(ls interop/c/build/fuzz | wc -l) libFuzzer harnesses"
