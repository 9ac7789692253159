#!/bin/sh
# Puts tiny-AES-c's aes.c and aes.h into $1 (default third_party/tiny-AES-c), taken from the `tinyaes` source
# distribution on PyPI (tiny-AES-c is not packaged by Debian). Never committed: third_party/ is ignored.
set -eu
dest=${1:-third_party/tiny-AES-c}
version=${TINYAES_VERSION:-1.1.2}
[ -f "$dest/aes.c" ] && [ -f "$dest/aes.h" ] && [ -f "$dest/LICENSE.txt" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-binary :all: --no-deps \
    "tinyaes==$version" -d "$tmp" >/dev/null 2>&1 || {
    echo "fetch_tinyaes: pip download tinyaes==$version failed (network? PyPI?)" >&2; exit 1; }
tar -xzf "$tmp"/tinyaes-"$version".tar.gz -C "$tmp"
mkdir -p "$dest"
cp "$tmp/tinyaes-$version/tiny-AES-c/aes.c" "$tmp/tinyaes-$version/tiny-AES-c/aes.h" "$dest/"
cp "$tmp/tinyaes-$version/LICENSE.txt" "$dest/LICENSE.txt"
cat > "$dest/SOURCE" <<EOT
aes.c and aes.h: tiny-AES-c (https://github.com/kokke/tiny-AES-c, released by its author under The Unlicense,
i.e. into the public domain), as bundled in the tinyaes $version source distribution on PyPI
(https://pypi.org/project/tinyaes/$version/). LICENSE.txt is the license file that distribution ships (MIT,
the Python wrapper's copyright holder); the sdist carries no separate license file for tiny-AES-c itself.
EOT
