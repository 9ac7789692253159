#!/bin/sh
# Writes a copy of tiny-AES-c's aes.c ($1) to $2 whose two 256-byte S-boxes are in flash on AVR (avr-libc
# PROGMEM + pgm_read_byte) instead of the 2 KB of RAM an ATmega328P has; on other targets PROGMEM is empty and
# the reads are plain array reads. Nothing else changes; the build fails if the expected lines are not there
# exactly once each. aes.h is copied next to it.
set -eu
src=$1
out=$2
sed -e 's|^#include <string.h>.*|&\n#if defined(__AVR__)\n#include <avr/pgmspace.h>\n#else\n#define PROGMEM\n#define pgm_read_byte(p) (*(p))\n#endif|' \
    -e 's|^static const uint8_t sbox\[256\] = {|static const uint8_t sbox[256] PROGMEM = {|' \
    -e 's|^static const uint8_t rsbox\[256\] = {|static const uint8_t rsbox[256] PROGMEM = {|' \
    -e 's|^#define getSBoxValue(num) (sbox\[(num)\])|#define getSBoxValue(num) (pgm_read_byte(\&sbox[(num)]))|' \
    -e 's|^#define getSBoxInvert(num) (rsbox\[(num)\])|#define getSBoxInvert(num) (pgm_read_byte(\&rsbox[(num)]))|' \
    "$src" > "$out.tmp"
for pat in ' sbox\[256\] PROGMEM' 'rsbox\[256\] PROGMEM' 'pgm_read_byte(&sbox\[' 'pgm_read_byte(&rsbox' 'avr/pgmspace.h'; do
    n=$(grep -c "$pat" "$out.tmp" || true)
    if [ "$n" != 1 ]; then echo "avr_progmem: expected one '$pat' in the patched aes.c, found $n" >&2; exit 1; fi
done
cp "$(dirname "$src")/aes.h" "$(dirname "$out")/aes.h"
mv "$out.tmp" "$out"
