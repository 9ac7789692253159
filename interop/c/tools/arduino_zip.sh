#!/bin/sh
# Writes the Arduino library release zip $2 (build/iotenvelope-arduino.zip): one top folder iotenvelope/ with
# library.properties (Arduino library specification 1.5), library.json (PlatformIO), LICENSE, README.md,
# src/ (the library) and examples/. For AVR it carries tiny-AES-c from $1 (tools/fetch_tinyaes.sh), with its
# S-boxes in flash (tools/avr_progmem.sh), as src/tinyaes/aes_c.inc + aes.h (an .inc is not compiled on its
# own by the Arduino builder; tinyaes128.c/tinyaes256.c include it) next to its LICENSE.txt and SOURCE.
# Nothing to copy by hand: unpack into ~/Arduino/libraries or use "Add .ZIP Library".
set -eu
tinyaes=$1
zip=$2
here=$(cd "$(dirname "$0")/.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
top=$stage/iotenvelope
mkdir -p "$top/src/tinyaes" "$top/examples"
cp "$here/library.properties" "$here/library.json" "$here/README.md" "$top/"
cp "$here/../../LICENSE" "$top/LICENSE"  # the project's MIT license (root LICENSE)
cp "$here"/src/*.c "$here"/src/*.h "$here"/src/*.S "$top/src/"
sh "$here/tools/avr_progmem.sh" "$tinyaes/aes.c" "$top/src/tinyaes/aes_c.inc"
cp "$tinyaes/LICENSE.txt" "$tinyaes/SOURCE" "$top/src/tinyaes/"
for d in "$here"/examples/*/; do
    cp -r "$d" "$top/examples/"
done
# every example is named like its folder, as the Arduino IDE requires
for d in "$top"/examples/*/; do
    n=$(basename "$d")
    [ -f "$d/$n.ino" ] || { echo "arduino_zip: examples/$n has no $n.ino" >&2; exit 1; }
done
mkdir -p "$(dirname "$zip")"
rm -f "$zip"
zip_abs=$(cd "$(dirname "$zip")" && pwd)/$(basename "$zip")
(cd "$stage" && find iotenvelope -type f | LC_ALL=C sort | TZ=UTC zip -q -X -D "$zip_abs" -@)
echo "arduino_zip: $zip ($(wc -c < "$zip") bytes, $(unzip -Z1 "$zip" | wc -l) files)"
