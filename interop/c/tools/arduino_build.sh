#!/bin/sh
# Unpacks the release zip $1 into a fresh libraries folder under $2 and compiles every example in it with the
# real Arduino build tool (Debian's arduino-builder 1.3.25 + arduino-core-avr 1.8.7) for the Uno and the Mega.
# Nothing from the repository is on the include path: only the unpacked zip and the Arduino core.
# The core's WString.cpp needs DECIMAL_DIG under Debian's avr-gcc 5.4 (docs/c.md). Extra -D flags for a test
# build can be given in EXTRA_FLAGS (tests/test_c.py shortens SealReading's interval to run it in simavr).
# examples/LoRaLeanLMIC needs LMIC, which is not available here: tools/lmic_stub (a stand-in lmic.h that only
# declares the LMIC calls the sketch makes, NOT LMIC) is passed as a second libraries folder, for that purpose
# only; nothing of the iotenvelope library comes from the repository.
# Output: $2/<board>/<example>/<example>.ino.elf and .hex, and one "size <board> <example> <flash> <ram>" line.
set -eu
zip=$1
mkdir -p "$2"
out=$(cd "$2" && pwd)
boards=${BOARDS:-"uno mega"}
here=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$out/libraries"
mkdir -p "$out/libraries"
unzip -q "$zip" -d "$out/libraries"
for board in $boards; do
    for ex in "$out"/libraries/iotenvelope/examples/*/; do
        name=$(basename "$ex")
        fqbn=arduino:avr:$board
        [ "$board" = mega ] && fqbn=arduino:avr:mega:cpu=atmega2560  # the Mega's board menu needs its CPU
        dest="$out/$board/$name"
        rm -rf "$dest"
        mkdir -p "$dest"
        arduino-builder -hardware /usr/share/arduino/hardware -hardware /usr/share/arduino-builder \
            -tools /usr/bin -libraries "$out/libraries" -libraries "$here/tools/lmic_stub" -fqbn "$fqbn" -build-path "$dest" \
            "-prefs=compiler.cpp.extra_flags=-DDECIMAL_DIG=17 ${EXTRA_FLAGS:-}" \
            "-prefs=compiler.c.extra_flags=${EXTRA_FLAGS:-}" \
            -compile "$ex/$name.ino" > "$dest/build.log" 2>&1 || {
            cat "$dest/build.log" >&2
            echo "arduino_build: $name for $fqbn failed" >&2
            exit 1
        }
        set -- $(avr-size "$dest/$name.ino.elf" | tail -1)
        echo "size $board $name $(($1 + $2)) $(($2 + $3))"
    done
done
