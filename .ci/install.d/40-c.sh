#!/usr/bin/env bash
# The C library's toolchains and crypto libraries (interop/c): host compiler + OpenSSL/mbedTLS/BearSSL, avr-gcc +
# avr-libc + simavr (libsimavr harness) for the ATmega328P, xtensa-lx106 gcc + picolibc for the ESP8266.
# tiny-AES-c is not packaged by Debian: its aes.c/aes.h come from the tinyaes sdist on PyPI (never committed).
# Then everything is built once (host, ASan/UBSan, AVR, ESP8266) so verify and pytest only run it.
# APT_PACKAGES: build-essential make pkg-config libssl-dev libmbedtls-dev libbearssl-dev gcc-avr avr-libc binutils-avr simavr libsimavr-dev libelf-dev gcc-xtensa-lx106 binutils-xtensa-lx106 picolibc-xtensa-lx106-elf
set -euo pipefail
cd "$(dirname "$0")/../.."
sh interop/c/tools/fetch_tinyaes.sh interop/c/third_party/tiny-AES-c
make -s -C interop/c -j"$(nproc)" all >/dev/null
echo "interop/c: built $(ls interop/c/build/host | wc -l) host, $(ls interop/c/build/san | wc -l) sanitizer, $(ls interop/c/build/avr/*.elf | wc -l) AVR binaries"
