"""Device footprint of the C library: AVR (ATmega328P, 16 MHz, in simavr) and ESP8266 (xtensa-lx106) code size.

    python bench/avr.py [--json] [--runs N]

AVR figures come from interop/c/tools/bench_avr.c built with avr-gcc and run in simavr (tools/avrsim.c):
  * flash and static RAM: the benchmark firmware minus the same firmware without the library (BENCH_BASELINE);
  * stack: measured by painting free RAM before each operation and finding the deepest byte it touched;
  * cycles: simavr's cycle counter at GPIOR0 markers around each call (deterministic; the median of --runs).
"RAM for envelope + crypto" = the iote_keys struct + the library's static data + the deepest stack of
key derivation / seal / open (the caller's message buffers are not included; they are listed separately).
The sealed envelope the AVR prints is opened with the Python implementation, so the numbers are for a
correct seal (and the lean frame, byte for byte against Python's). Targets: issue 16 (device build with the lean
seal: flash <= 7,680 B, RAM <= 512 B, seal of 32 B <= 11.5 ms), issue 13 (with the lean form: <= 8 KB flash).
"primitives" times one SHA-256 block and AES-128-CBC over 64 bytes (bench-prims.elf), in us per byte at 16 MHz,
beside the published ATmega328P figures (~44 us/byte SHA-256, ~37 encrypt, ~66 decrypt).
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
from iotenvelope.primitives import b64  # noqa: E402
from iotenvelope.verify.peers import c  # noqa: E402

F_CPU = 16_000_000
TARGETS = {"flash_bytes": 7680, "ram_bytes": 512, "seal_ms": 11.5, "flash_bytes_with_lean_issue13": 8192}
PUBLISHED_US_PER_BYTE = {"sha256": 44.0, "aes128_encrypt": 37.0, "aes128_decrypt": 66.0}
READING = b'{"co2":1223,"t":21.45,"rh":48.5}'
SECRET = bytes(range(16))
# the benchmark's own statics in bench_avr.c (message buffers, test secret/IV/reading), not the library's
BENCH_STATICS = ("text", "work", "reading", "secret", "iv", "keys", "hdr", "frame", "lkeys")


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
    lean = next((ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("lean ")), "")
    return marks, stack, result + (" " + lean if lean else "")


def avr_config(name: str, elf: Path, base: Path, runs: int) -> dict:
    samples = [run(elf) for _ in range(runs)]
    marks, stack, result = samples[0]
    if not result.startswith("ok "):
        raise SystemExit(f"{name}: the AVR seal/open check failed: {result!r}")
    token = result.split()[1]
    opened = iotenvelope.open(SECRET, token, freshness=None)
    if opened.plaintext != READING:
        raise SystemExit(f"{name}: the envelope the AVR sealed does not open to the reading in Python")
    lean_token = result.split()[2] if len(result.split()) > 2 else None
    if lean_token is not None:
        frame = b64.decode_url(lean_token)
        lean_opened = iotenvelope.open(SECRET, frame, format="lean-raw", device="sensor-01", freshness=None)
        if (lean_opened.plaintext, lean_opened.seq, lean_opened.ts) != (READING, 42, 1763900000):
            raise SystemExit(f"{name}: the lean frame the AVR sealed does not open to the reading in Python")
        if frame != iotenvelope.seal(SECRET, READING, device="sensor-01", seq=42, ts=1763900000, format="lean-raw"):
            raise SystemExit(f"{name}: the lean frame differs from Python's")

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
    if lean_token is not None:
        cycles.update({"lean_derive_keys": median_cycles(7, 8), "lean_seal_32B": median_cycles(9, 10)})
    return {
        "flash_bytes": flash, "ram_bytes": ram,
        # a device holds the keys of the form it uses (iote_keys and iote_lean_keys have the same size); one that
        # seals both forms holds both
        **({"ram_bytes_both_forms": ram + own.get("lkeys", 0)} if lean_token is not None else {}),
        "ram_parts": {"iote_keys": keys_struct, "library_static": lib_static, "peak_stack": peak_stack,
                      "stack_by_operation": stack},
        "caller_buffers": {"compact_text_for_32B": len(token) + 1, "iote_header": own.get("hdr", 0)},
        "cycles": cycles, "ms_at_16MHz": {k: round(v / F_CPU * 1000, 2) for k, v in cycles.items()},
        "envelope": token,
        **({"lean_frame_bytes": len(frame), "lean_frame": lean_token} if lean_token is not None else {}),
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
    nolean = avr_config("device without lean", avr / "bench-nolean.elf", avr / "bench-base.elf", opts.runs)
    esp = xtensa_sizes()
    marks = run(avr / "bench-prims.elf")[0]
    prims = {"sha256_block_cycles": marks[12] - marks[11], "aes128_cbc_encrypt_64B_cycles": marks[14] - marks[13],
             "aes128_cbc_decrypt_64B_cycles": marks[15] - marks[14]}
    per_byte = {"sha256": prims["sha256_block_cycles"], "aes128_encrypt": prims["aes128_cbc_encrypt_64B_cycles"],
                "aes128_decrypt": prims["aes128_cbc_decrypt_64B_cycles"]}
    prims["us_per_byte"] = {k: round(v / 64 / F_CPU * 1e6, 1) for k, v in per_byte.items()}
    prims["published_us_per_byte"] = PUBLISHED_US_PER_BYTE
    ratios = {"flash_vs_target": round(device["flash_bytes"] / TARGETS["flash_bytes"], 2),
              "ram_vs_target": round(device["ram_bytes"] / TARGETS["ram_bytes"], 2),
              "seal_vs_target": round(device["ms_at_16MHz"]["seal_32B"] / TARGETS["seal_ms"], 2),
              "open_vs_seal": round(device["cycles"]["open_32B"] / device["cycles"]["seal_32B"], 2),
              "full_flash_vs_device": round(full["flash_bytes"] / device["flash_bytes"], 2)}
    report = {
        "avr": {"mcu": "atmega328p", "f_cpu": F_CPU,
                "backend": "iote_aes (AES-CBC in AVR assembly, S-boxes in flash) + iote_sha256 (rounds in AVR assembly)", "primitives": prims,
                "compiler": sh("avr-gcc", "--version").splitlines()[0],
                "flags": "-Os -mcall-prologues -mrelax -mstrict-X -flto",
                "device_config": {"json": False, "aes256": False, "lean": True, **device},
                "full_config": {"json": True, "aes256": True, "lean": True, **full},
                "device_config_without_lean": {"json": False, "aes256": False, "lean": False, **nolean}},
        "esp8266": {"compiler": sh("xtensa-lx106-elf-gcc", "--version").splitlines()[0], "flags": "-Os -mlongcalls",
                    "object_sizes": esp,
                    "note": "object code before linking; with BearSSL the AES/SHA-256 code is the ESP8266 core's"},
        "targets": TARGETS, "ratios": ratios,
        "meets_targets": {"flash": device["flash_bytes"] <= TARGETS["flash_bytes"],
                          "flash_without_lean": nolean["flash_bytes"] <= TARGETS["flash_bytes"],
                          "flash_with_lean_8KB": device["flash_bytes"] <= TARGETS["flash_bytes_with_lean_issue13"],
                          "ram": device["ram_bytes"] <= TARGETS["ram_bytes"],
                          "seal": device["ms_at_16MHz"]["seal_32B"] <= TARGETS["seal_ms"]},
    }
    if opts.json:
        print(json.dumps(report, indent=1))
        return 0
    d, f = device, full
    n, p = nolean, prims
    print(f"AVR ATmega328P @ 16 MHz (simavr), own AES-CBC + own SHA-256 (both in AVR assembly), median of {opts.runs} runs")
    print(f"  device config (compact form + lean seal, AES-128): flash {d['flash_bytes']} B "
          f"({ratios['flash_vs_target']}x of {TARGETS['flash_bytes']} B), RAM {d['ram_bytes']} B "
          f"({ratios['ram_vs_target']}x of 512 B) = keys {d['ram_parts']['iote_keys']} + static "
          f"{d['ram_parts']['library_static']} + stack {d['ram_parts']['peak_stack']}")
    print(f"  seal 32 B: {d['cycles']['seal_32B']} cycles = {d['ms_at_16MHz']['seal_32B']} ms "
          f"({ratios['seal_vs_target']}x of {TARGETS['seal_ms']} ms); open: {d['cycles']['open_32B']} cycles = "
          f"{d['ms_at_16MHz']['open_32B']} ms; lean seal: {d['ms_at_16MHz']['lean_seal_32B']} ms "
          f"({d['lean_frame_bytes']} B frame); key derivation (once): {d['ms_at_16MHz']['derive_keys']} ms")
    print(f"  without the lean form: flash {n['flash_bytes']} B, RAM {n['ram_bytes']} B, "
          f"seal {n['ms_at_16MHz']['seal_32B']} ms")
    print(f"  full config (+JSON, +AES-256): flash {f['flash_bytes']} B ({ratios['full_flash_vs_device']}x), "
          f"RAM {f['ram_bytes']} B, seal {f['ms_at_16MHz']['seal_32B']} ms")
    print(f"  primitives (us/byte, published figure in brackets): " + ", ".join(
        f"{k} {v} ({PUBLISHED_US_PER_BYTE[k]})" for k, v in p["us_per_byte"].items()))
    print("ESP8266 (xtensa-lx106) object code:")
    for name, sizes in esp.items():
        print(f"  {name}: {sizes['total_bytes']} B  {sizes['objects']}")
    print("meets targets:", ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in report["meets_targets"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
