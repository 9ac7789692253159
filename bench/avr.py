"""Device footprint of the C library: AVR (ATmega328P, 16 MHz, in simavr) and ESP8266 (xtensa-lx106) code size.

    python bench/avr.py [--json] [--runs N]

AVR figures come from interop/c/tools/bench_avr.c built with avr-gcc and run in simavr (tools/avrsim.c):
  * flash and static RAM: the benchmark firmware minus the same firmware without the library (BENCH_BASELINE);
  * stack: measured by painting free RAM before each operation and finding the deepest byte it touched;
  * cycles: simavr's cycle counter at GPIOR0 markers around each call (deterministic; the median of --runs).
"RAM for envelope + crypto" = the iote_keys struct + the library's static data + the deepest stack of
key derivation / seal / open (the caller's message buffers are not included; they are listed separately).
The sealed envelope the AVR prints is opened with the Python implementation, so the numbers are for a
correct seal. Ratios are against the targets of issue 4 (<= 8 KB flash, <= 512 B RAM, seal <= 20 ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import iotenvelope  # noqa: E402
from iotenvelope.verify.peers import c  # noqa: E402

F_CPU = 16_000_000
TARGETS = {"flash_bytes": 8192, "ram_bytes": 512, "seal_ms": 20.0}
READING = b'{"co2":1223,"t":21.45,"rh":48.5}'
SECRET = bytes(range(16))
# the benchmark's own statics in bench_avr.c (message buffers, test secret/IV/reading), not the library's
BENCH_STATICS = ("text", "work", "reading", "secret", "iv", "keys", "hdr")


def sh(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def size_of(elf: Path) -> dict:
    text, data, bss = (int(x) for x in sh("avr-size", str(elf)).splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


def statics(elf: Path) -> dict[str, int]:
    out = {}
    for line in sh("avr-nm", "-S", str(elf)).splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "dDbB":
            out[parts[3].split(".")[0]] = int(parts[1], 16)
    return out


def run(elf: Path) -> tuple[dict, dict, str]:
    proc = subprocess.run([str(c.BUILD / "avrsim"), "--mcu", "atmega328p", "--freq", str(F_CPU), str(elf)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    marks = {int(p[1]): int(p[2]) for p in (ln.split() for ln in proc.stderr.splitlines()) if p[:1] == ["mark"]}
    stack = {p[1]: int(p[2]) for p in (ln.split() for ln in proc.stdout.splitlines()) if p[:1] == ["stack"]}
    result = next((ln for ln in proc.stdout.splitlines() if ln.startswith(("ok ", "FAILED"))), "")
    return marks, stack, result


def avr_config(name: str, elf: Path, base: Path, runs: int) -> dict:
    samples = [run(elf) for _ in range(runs)]
    marks, stack, result = samples[0]
    if not result.startswith("ok "):
        raise SystemExit(f"{name}: the AVR seal/open check failed: {result!r}")
    token = result.split()[1]
    opened = iotenvelope.open(SECRET, token, freshness=None)
    if opened.plaintext != READING:
        raise SystemExit(f"{name}: the envelope the AVR sealed does not open to the reading in Python")

    def median_cycles(a: int, b: int) -> int:
        return int(statistics.median(m[b] - m[a] for m, _, _ in samples))

    full, empty = size_of(elf), size_of(base)
    flash = (full["text"] + full["data"]) - (empty["text"] + empty["data"])
    own = statics(elf)
    lib_static = sum(v for k, v in own.items() if k not in statics(base) and k not in BENCH_STATICS)
    keys_struct = own.get("keys", 0)
    peak_stack = max(stack.values())
    ram = keys_struct + lib_static + peak_stack
    cycles = {"derive_keys": median_cycles(1, 2), "seal_32B": median_cycles(3, 4), "open_32B": median_cycles(5, 6)}
    return {
        "flash_bytes": flash, "ram_bytes": ram,
        "ram_parts": {"iote_keys": keys_struct, "library_static": lib_static, "peak_stack": peak_stack,
                      "stack_by_operation": stack},
        "caller_buffers": {"compact_text_for_32B": len(token) + 1, "iote_header": own.get("hdr", 0)},
        "cycles": cycles, "ms_at_16MHz": {k: round(v / F_CPU * 1000, 2) for k, v in cycles.items()},
        "envelope": token,
    }


def xtensa_sizes() -> dict:
    out = {}
    for name in ("bearssl-device", "bearssl", "tinyaes"):
        lines = (c.BUILD / "xtensa" / f"{name}.size").read_text().splitlines()
        out[name] = {"objects": {Path(ln.split()[-1]).name: int(ln.split()[0]) for ln in lines[1:-1]},
                     "total_bytes": int(lines[-1].split()[0])}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    reason = c.build("avr")
    if reason:
        raise SystemExit(f"AVR toolchain not available: {reason}")
    proc = subprocess.run(["make", "-s", "-C", str(c.C_DIR), "avr", "xtensa"], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    avr = c.BUILD / "avr"
    device = avr_config("device", avr / "bench.elf", avr / "bench-base.elf", opts.runs)
    full = avr_config("full", avr / "bench-full.elf", avr / "bench-base.elf", opts.runs)
    esp = xtensa_sizes()
    ratios = {"flash_vs_target": round(device["flash_bytes"] / TARGETS["flash_bytes"], 2),
              "ram_vs_target": round(device["ram_bytes"] / TARGETS["ram_bytes"], 2),
              "seal_vs_target": round(device["ms_at_16MHz"]["seal_32B"] / TARGETS["seal_ms"], 2),
              "open_vs_seal": round(device["cycles"]["open_32B"] / device["cycles"]["seal_32B"], 2),
              "full_flash_vs_device": round(full["flash_bytes"] / device["flash_bytes"], 2)}
    report = {
        "avr": {"mcu": "atmega328p", "f_cpu": F_CPU, "backend": "tiny-AES-c (S-boxes in flash) + iote_sha256",
                "compiler": sh("avr-gcc", "--version").splitlines()[0],
                "flags": "-Os -mcall-prologues -mrelax -flto",
                "device_config": {"json": False, "aes256": False, **device},
                "full_config": {"json": True, "aes256": True, **full}},
        "esp8266": {"compiler": sh("xtensa-lx106-elf-gcc", "--version").splitlines()[0], "flags": "-Os -mlongcalls",
                    "object_sizes": esp,
                    "note": "object code before linking; with BearSSL the AES/SHA-256 code is the ESP8266 core's"},
        "targets": TARGETS, "ratios": ratios,
        "meets_targets": {"flash": device["flash_bytes"] <= TARGETS["flash_bytes"],
                          "ram": device["ram_bytes"] <= TARGETS["ram_bytes"],
                          "seal": device["ms_at_16MHz"]["seal_32B"] <= TARGETS["seal_ms"]},
    }
    if opts.json:
        print(json.dumps(report, indent=1))
        return 0
    d, f = device, full
    print(f"AVR ATmega328P @ 16 MHz (simavr), tiny-AES-c + own SHA-256, median of {opts.runs} runs")
    print(f"  device config (compact form, AES-128): flash {d['flash_bytes']} B ({ratios['flash_vs_target']}x of 8 KB), "
          f"RAM {d['ram_bytes']} B ({ratios['ram_vs_target']}x of 512 B) = keys {d['ram_parts']['iote_keys']} + static "
          f"{d['ram_parts']['library_static']} + stack {d['ram_parts']['peak_stack']}")
    print(f"  seal 32 B: {d['cycles']['seal_32B']} cycles = {d['ms_at_16MHz']['seal_32B']} ms "
          f"({ratios['seal_vs_target']}x of 20 ms); open: {d['cycles']['open_32B']} cycles = "
          f"{d['ms_at_16MHz']['open_32B']} ms; key derivation (once): {d['ms_at_16MHz']['derive_keys']} ms")
    print(f"  full config (+JSON, +AES-256): flash {f['flash_bytes']} B ({ratios['full_flash_vs_device']}x), "
          f"RAM {f['ram_bytes']} B, seal {f['ms_at_16MHz']['seal_32B']} ms")
    print("ESP8266 (xtensa-lx106) object code:")
    for name, sizes in esp.items():
        print(f"  {name}: {sizes['total_bytes']} B  {sizes['objects']}")
    print("meets targets:", ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in report["meets_targets"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
