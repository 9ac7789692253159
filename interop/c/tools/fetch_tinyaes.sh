#!/bin/sh
# Puts tiny-AES-c's aes.c and aes.h into $1 (default third_party/tiny-AES-c), taken from the `tinyaes` source
# distribution on PyPI (tiny-AES-c is not packaged by Debian). Never committed: third_party/ is ignored.
set -eu
dest=${1:-third_party/tiny-AES-c}
version=${TINYAES_VERSION:-1.1.2}
[ -f "$dest/aes.c" ] && [ -f "$dest/aes.h" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-binary :all: --no-deps \
    "tinyaes==$version" -d "$tmp" >/dev/null 2>&1 || {
    echo "fetch_tinyaes: pip download tinyaes==$version failed (network? PyPI?)" >&2; exit 1; }
tar -xzf "$tmp"/tinyaes-"$version".tar.gz -C "$tmp"
mkdir -p "$dest"
cp "$tmp/tinyaes-$version/tiny-AES-c/aes.c" "$tmp/tinyaes-$version/tiny-AES-c/aes.h" "$dest/"
echo "tinyaes $version (PyPI sdist)" > "$dest/SOURCE"
