"""The Arduino side of the C library (interop/c): the boot-safe counter and K_iv (tests/counter.c), the example
sketches "rebooted" on Linux with an EEPROM image and on a simulated ATmega328P (simavr) with its EEPROM kept
between runs, and the release zip built and compiled with the real Arduino build tool (Debian's
arduino-builder + arduino-core-avr) for the Uno and the Mega.

Needs what .ci/install.d/40-c.sh and 45-arduino.sh install; a missing tool FAILS with the reason, never skips.
The release zip and PlatformIO package tests are marked `release`: tools/release-check runs them after building
both, and .ci/run's pytest leaves them out (-m "not release") so CI compiles the examples once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import iotenvelope
from iotenvelope.primitives import b64, kdf
from iotenvelope.verify import default_vector_dir, protocol, vectors
from iotenvelope.verify.peers import c

SECRET = bytes(range(16))
DEVICE = "sensor-01"
K = 16  # SEQ_K of the examples
ZIP = c.BUILD / "iotenvelope-arduino.zip"


def make(*targets: str) -> None:
    reason = c._make(*targets)
    if reason is not None:
        pytest.fail(f"make {' '.join(targets)}: {reason}")


def k_iv(secret: bytes) -> bytes:
    return kdf.hkdf_sha256(secret, b"iotenvelope v1 iv", 32)


def derived_iv(seq: int) -> bytes:
    return hmac.new(k_iv(SECRET), struct.pack(">I", seq), hashlib.sha256).digest()[:16]


def slot(index: int, mark: int) -> bytes:
    raw = struct.pack(">I", mark)
    return raw + hashlib.sha256(b"iote mark" + bytes([index]) + raw).digest()[:4]


# ---- iote_device.c ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["openssl", "tinyaes"])
def test_counter_power_cuts_and_iv_key(backend):
    make(f"build/host/iote-counter-{backend}")
    proc = subprocess.run([str(c.BUILD / "host" / f"iote-counter-{backend}")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith("counter: ") and lines[-1].endswith(" passed, 0 failed"), lines[-1]
    # every write of the reference histories (K = 1, 3, 7) was dropped / torn at each of 7 bytes / smeared at each
    # of 7 bytes: 15 cut kinds x (25 + 15 + 0 ... writes); the count pins that the sweep ran in full
    assert "cuts 600 boots 3015 numbers 13050" in lines
    got = dict(ln.split(" ", 1) for ln in lines if ln.startswith(("kiv", "iv ")))
    assert got["kiv"] == k_iv(SECRET).hex()
    assert got["kiv32"] == k_iv(bytes(range(32))).hex()
    ivs = {int(ln.split()[1]): ln.split()[2] for ln in lines if ln.startswith("iv ")}
    assert sorted(ivs) == [0, 1, 2, 255, 256, 0xFFFFFFFE]
    for n, iv_hex in ivs.items():
        assert iv_hex == derived_iv(n).hex()


@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "asan-ubsan"])
def test_own_aes_backend_unit_tests_and_vectors(sanitize):
    """iote_aes.c (the AES AVR builds use) on the host: the C unit tests and the envelope and Wycheproof vectors,
    also under AddressSanitizer + UBSan. The AVR rows of verify run it on the simulated ATmega328P."""
    sub = "san" if sanitize else "host"
    make(f"build/{sub}/iote-unit-ownaes", f"build/{sub}/iote-runner-ownaes")
    proc = subprocess.run([str(c.BUILD / sub / "iote-unit-ownaes")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().startswith("iote_aes + iote_sha256:"), proc.stdout
    assert proc.stdout.strip().endswith("checks, 0 failed"), proc.stdout
    data = vectors.load(default_vector_dir() / "wycheproof" / "aes_cbc_pkcs5_test.json")
    part = c.CPeer("tinyaes").subset(data)  # the 128- and 256-bit groups (no AES-192 in the library)
    runner = c.host_runner("ownaes", sanitize)
    try:
        result = protocol.check_file(part.data, runner)
        assert (result.count("passed"), len(result.cases)) == (144, 144), [x.detail for x in result.cases][:5]
        # the envelope vectors, every case
        env = vectors.load(default_vector_dir() / "envelope_v1.json")
        result = protocol.check_file(env, runner)
        assert (result.count("passed"), len(result.cases)) == (278, 278), [
            x.detail for x in result.cases if x.status != "passed"][:5]
    finally:
        runner.close()


_K = [int(x, 16) for x in """
428a2f98 71374491 b5c0fbcf e9b5dba5 3956c25b 59f111f1 923f82a4 ab1c5ed5 d807aa98 12835b01 243185be 550c7dc3
72be5d74 80deb1fe 9bdc06a7 c19bf174 e49b69c1 efbe4786 0fc19dc6 240ca1cc 2de92c6f 4a7484aa 5cb0a9dc 76f988da
983e5152 a831c66d b00327c8 bf597fc7 c6e00bf3 d5a79147 06ca6351 14292967 27b70a85 2e1b2138 4d2c6dfc 53380d13
650a7354 766a0abb 81c2c92e 92722c85 a2bfe8a1 a81a664b c24b8b70 c76c51a3 d192e819 d6990624 f40e3585 106aa070
19a4c116 1e376c08 2748774c 34b0bcb5 391c0cb3 4ed8aa4a 5b9cca4f 682e6ff3 748f82ee 78a5636f 84c87814 8cc70208
90befffa a4506ceb bef9a3f7 c67178f2""".split()]
_H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]


def _compress(h: list[int], block: bytes) -> list[int]:
    """FIPS 180-4 SHA-256 compression, a Python model for the length-encoding test."""
    def ror(x: int, n: int) -> int:
        return ((x >> n) | (x << (32 - n))) & 0xFFFFFFFF
    w = list(struct.unpack(">16I", block))
    for i in range(16, 64):
        s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3)
        s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10)
        w.append((w[i - 16] + s0 + w[i - 7] + s1) & 0xFFFFFFFF)
    a, b, c_, d, e, f, g, hh = h
    for i in range(64):
        t1 = (hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + _K[i] + w[i]) & 0xFFFFFFFF
        t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c_) ^ (b & c_))) & 0xFFFFFFFF
        a, b, c_, d, e, f, g, hh = (t1 + t2) & 0xFFFFFFFF, a, b, c_, (d + t1) & 0xFFFFFFFF, e, f, g
    return [(x + y) & 0xFFFFFFFF for x, y in zip(h, [a, b, c_, d, e, f, g, hh])]


def test_sha256_length_encoding_beyond_test_sizes():
    """iote_sha256_final writes the 64-bit bit length from a 32-bit block count with byte moves; checked for
    block counts up to 2^32 - 1 (where the length's bit 40 is set) against the Python model above, which in turn
    is checked against hashlib."""
    assert struct.pack(">8I", *_compress(_H0, b"abc\x80" + bytes(59) + b"\x18")) == hashlib.sha256(b"abc").digest()
    make("build/host/iote-counter-tinyaes")
    out = subprocess.run([str(c.BUILD / "host" / "iote-counter-tinyaes")], capture_output=True, text=True,
                         timeout=120).stdout.splitlines()
    got = {(int(p[1]), int(p[2])): p[3] for p in (ln.split() for ln in out) if p[:1] == ["shalen"]}
    assert len(got) == 20
    for (blocks, fill), digest in got.items():
        data = b"\xa5" * fill + b"\x80"
        data += bytes((56 - len(data)) % 64) + struct.pack(">Q", blocks * 512 + fill * 8)
        h = _H0
        for i in range(0, len(data), 64):
            h = _compress(h, data[i:i + 64])
        assert digest == struct.pack(">8I", *h).hex(), (blocks, fill)


# ---- the examples, rebooted ---------------------------------------------------------------------------------

def check_readings(lines: list[str], seqs: list[int]) -> None:
    """Every line is an envelope the Python library opens, with exactly these seqs and the K_iv-derived IVs,
    and the envelope is byte for byte what Python seals from the same fields."""
    assert len(lines) == len(seqs), lines
    for line, seq in zip(lines, seqs):
        opened = iotenvelope.open(SECRET, line, freshness=None)
        assert (opened.device, opened.seq, opened.ts) == (DEVICE, seq, 0)
        env = iotenvelope.envelope.Envelope.from_compact(line)
        assert env.iv == derived_iv(seq)
        assert env.iv != bytes(16)
        assert iotenvelope.seal(SECRET, opened.plaintext, device=DEVICE, seq=seq, ts=0, iv=env.iv) == line
    ivs = [iotenvelope.envelope.Envelope.from_compact(line).iv for line in lines]
    assert len(set(ivs)) == len(ivs)


def expected_eeprom(marks: list[int]) -> bytes:
    """The counter's 16 bytes after marks were written alternately into slot 0, 1, 0, ..."""
    slots = [b"\xff" * 8, b"\xff" * 8]
    for i, mark in enumerate(marks):
        slots[i % 2] = slot(i % 2, mark)
    return slots[0] + slots[1]


def test_seal_reading_host_reboots(tmp_path):
    """Three boots of SealReading on Linux with one EEPROM image: seqs 0-2, 16-18, 32-34, never an IV twice."""
    make("build/host/sketch-SealReading")
    image = tmp_path / "eeprom.bin"
    lines = []
    for boot in range(3):
        proc = subprocess.run([str(c.BUILD / "host" / "sketch-SealReading"), str(image), "3"], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        lines += proc.stdout.splitlines()
        assert image.read_bytes()[:16] == expected_eeprom([K * (b + 1) for b in range(boot + 1)])
        assert image.read_bytes()[16:] == b"\xff" * (1024 - 16)
    check_readings(lines, [0, 1, 2, 16, 17, 18, 32, 33, 34])


def test_seal_reading_without_eeprom_state_would_repeat(tmp_path):
    """The test can fail: a device that lost its EEPROM (a fresh image per boot) repeats seq 0 and its IV,
    which check_readings refuses."""
    make("build/host/sketch-SealReading")
    lines = []
    for boot in range(2):
        proc = subprocess.run([str(c.BUILD / "host" / "sketch-SealReading"), str(tmp_path / f"e{boot}.bin"), "1"],
                              capture_output=True, text=True, timeout=60)
        lines += proc.stdout.splitlines()
    assert lines[0] == lines[1]
    with pytest.raises(AssertionError):
        check_readings(lines, [0, 16])


def send_command(seq: int, text: str = '{"led":1}') -> str:
    return iotenvelope.seal(SECRET, text, device=DEVICE, seq=seq, ts=0, direction="down")


def run_open_command(image: Path, commands: list[str]) -> list[str]:
    proc = subprocess.run([str(c.BUILD / "host" / "sketch-OpenCommand"), str(image), "1"],
                          input="".join(x + "\n" for x in commands), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_open_command_refuses_replays_across_reboots(tmp_path):
    make("build/host/sketch-OpenCommand")
    image = tmp_path / "eeprom.bin"
    c5, c6, c7 = send_command(5), send_command(6), send_command(7)
    out = run_open_command(image, [c5, c6, c6])
    # the repeat of 6 is below the floor stored when 6 was accepted (7)
    assert out == ["# ready", "# command 9", out[2], "# command 9", out[4],
                   "# refused: replay (below the stored floor) 12"]
    acks = [iotenvelope.open(SECRET, out[i], freshness=None) for i in (2, 4)]
    assert [(a.seq, a.plaintext) for a in acks] == [(0, b'{"ack":5}'), (1, b'{"ack":6}')]
    # reboot: the RAM window is empty, the EEPROM floor (7) refuses 5 and 6; 7 is new
    out = run_open_command(image, [c5, c6, c7])
    assert out[:3] == ["# ready", "# refused: replay (below the stored floor) 12",
                       "# refused: replay (below the stored floor) 12"]
    assert out[3] == "# command 9"
    ack = iotenvelope.open(SECRET, out[4], freshness=None)
    assert (ack.seq, ack.plaintext) == (K, b'{"ack":7}')  # the up counter resumed at its mark
    assert iotenvelope.envelope.Envelope.from_compact(out[4]).iv == derived_iv(K)
    data = image.read_bytes()
    assert data[:16] == expected_eeprom([K, 2 * K])
    assert data[16:32] == expected_eeprom([6, 7, 8])
    # a forged command (tag changed) and one sealed for the other direction are refused before anything else
    raw = bytearray(b64.decode_url(c7))
    raw[-1] ^= 1
    out = run_open_command(image, [b64.encode_url(bytes(raw)), iotenvelope.seal(SECRET, "x", device=DEVICE, seq=9,
                                                                               ts=0)])
    assert out == ["# ready", "# refused: error 4", "# refused: error 5"]


# ---- the release zip and the real Arduino build -------------------------------------------------------------

def need_arduino() -> None:
    missing = [t for t in ("arduino-builder", "arduino-ctags", "avr-gcc", "zip", "unzip") if shutil.which(t) is None]
    if missing or not Path("/usr/share/arduino/hardware/arduino/avr/platform.txt").exists():
        pytest.fail(f"Arduino build tool missing ({', '.join(missing) or 'arduino-core-avr'}; run .ci/install)")


ZIP_FILES = {
    "LICENSE", "README.md", "library.properties", "library.json",
    "examples/SealReading/SealReading.ino", "examples/OpenCommand/OpenCommand.ino",
    "examples/LoRaLeanLMIC/LoRaLeanLMIC.ino", "src/iote_aes.c", "src/iote_aes.h", "src/iote_aes_avr.S",
    "src/iotenvelope.c", "src/iotenvelope.h", "src/iote_backend.h", "src/iote_device.c", "src/iote_device.h",
    "src/iote_sha256.c", "src/iote_sha256.h", "src/iote_sha256_avr.S", "src/backend_bearssl.c", "src/backend_mbedtls.c",
    "src/backend_openssl.c", "src/backend_tinyaes.c", "src/tinyaes128.c", "src/tinyaes256.c", "src/tinyaes_unit.h",
    "src/tinyaes/aes_c.inc", "src/tinyaes/aes.h", "src/tinyaes/LICENSE.txt", "src/tinyaes/SOURCE",
}


@pytest.mark.release
def test_arduino_zip_layout():
    make("arduino-zip")
    with zipfile.ZipFile(ZIP) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        assert {n.split("/", 1)[0] for n in names} == {"iotenvelope"}  # one top folder
        assert {n.split("/", 1)[1] for n in names} == ZIP_FILES
        props = dict(ln.split("=", 1) for ln in z.read("iotenvelope/library.properties").decode().splitlines()
                     if ln and not ln.startswith("#"))
        # Arduino library specification 1.5: every required field, non-empty
        for field in ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url",
                      "architectures"):
            assert props.get(field), field
        assert props["url"].startswith("https://")
        assert props["category"] in {"Display", "Communication", "Signal Input/Output", "Sensors",
                                     "Device Control", "Timing", "Data Storage", "Data Processing", "Other"}
        assert props["version"] == iotenvelope.__version__
        assert "MIT License" in z.read("iotenvelope/LICENSE").decode()
        assert "Unlicense" in z.read("iotenvelope/src/tinyaes/SOURCE").decode()
        assert z.read("iotenvelope/src/tinyaes/LICENSE.txt").startswith(b"MIT License")
        aes = z.read("iotenvelope/src/tinyaes/aes_c.inc").decode()
        assert "static const uint8_t sbox[256] PROGMEM = {" in aes  # S-boxes in flash on AVR
        manifest = json.loads(z.read("iotenvelope/library.json"))
        assert manifest["repository"]["url"].startswith("https://") and manifest["authors"]
        # nothing to fetch on AVR: the AES and SHA-256 there are the library's own (tiny-AES-c, inside the
        # package, is only the -DIOTE_OWN_AES=0 alternative)
        assert "dependencies" not in manifest
        assert [e["name"] for e in manifest["examples"]] == ["SealReading", "OpenCommand", "LoRaLeanLMIC"]


@pytest.mark.release
def test_platformio_pack(tmp_path):
    """PlatformIO's own `pio pkg pack` validates library.json and packs the release folder; a manifest with a
    wrong license identifier is refused by the same validation (so the check is not a no-op)."""
    if shutil.which("pio") is None:
        pytest.fail("PlatformIO (PyPI platformio) not installed: run .ci/install")
    make("pio-pack")
    import tarfile
    with tarfile.open(c.BUILD / "iotenvelope-pio.tar.gz") as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
        manifest = json.load(tar.extractfile("library.json"))
    assert names == ZIP_FILES
    assert manifest["name"] == "iotenvelope" and manifest["platforms"] == ["atmelavr", "espressif8266",
                                                                           "espressif32"]
    with zipfile.ZipFile(ZIP) as z:
        z.extractall(tmp_path)
    bad = tmp_path / "iotenvelope" / "library.json"
    data = json.loads(bad.read_text())
    data["license"] = "MIT-ish"
    bad.write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, str(c.C_DIR / "tools" / "pio_pack.py"), str(bad.parent),
                           str(tmp_path / "bad.tar.gz")], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "Invalid SPDX license identifier" in proc.stdout + proc.stderr
    assert not (tmp_path / "bad.tar.gz").exists()


@pytest.mark.release
def test_examples_compile_from_the_zip_with_arduino_builder():
    need_arduino()
    make("arduino-zip")
    proc = subprocess.run(["sh", str(c.C_DIR / "tools" / "arduino_build.sh"), str(ZIP), str(c.BUILD / "arduino")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stderr + proc.stdout)[-3000:]
    sizes = {(p[1], p[2]): (int(p[3]), int(p[4])) for p in (ln.split() for ln in proc.stdout.splitlines())
             if p[:1] == ["size"]}
    assert set(sizes) == {(b, e) for b in ("uno", "mega") for e in ("SealReading", "OpenCommand", "LoRaLeanLMIC")}
    for (board, _), (flash, ram) in sizes.items():
        assert flash <= 32256 and ram <= 2048 if board == "uno" else flash <= 253952
    # built from the unpacked zip only: every library source the compiler read is under build/arduino/libraries
    deps = (c.BUILD / "arduino" / "uno" / "SealReading" / "libraries" / "iotenvelope")
    assert deps.is_dir() and any(deps.rglob("iotenvelope.c.o"))
    cache = json.loads((c.BUILD / "arduino" / "uno" / "SealReading" / "includes.cache").read_text())
    dirs = {entry.get("Includepath") for entry in cache if entry.get("Includepath")}
    assert str(c.BUILD / "arduino" / "libraries" / "iotenvelope" / "src") in dirs
    assert not any(str(c.C_DIR / "src") == d for d in dirs)
    # the LMIC stand-in (tools/lmic_stub, not LMIC) is what the LoRa sketch's lmic.h came from, and only there
    for name in ("SealReading", "OpenCommand", "LoRaLeanLMIC"):
        cache = json.loads((c.BUILD / "arduino" / "uno" / name / "includes.cache").read_text())
        dirs = {entry.get("Includepath") for entry in cache if entry.get("Includepath")}
        stand_in = str(c.C_DIR / "tools" / "lmic_stub" / "IoteLmicStandIn" / "src")
        assert (stand_in in dirs) == (name == "LoRaLeanLMIC"), name


def test_lean_lmic_frame_fits_sf12():
    """What LoRaLeanLMIC hands to LMIC_setTxData2 for its reading ({"co2":NNNN}, no ts): a lean frame of at most
    51 bytes (EU868 SF12), byte for byte Python's lean seal for the same fields."""
    frame = iotenvelope.seal(SECRET, '{"co2":1223}', device="lora-node-1", seq=7, ts=0, format="lean-raw")
    assert len(frame) == 1 + 4 + 16 + 8 <= 51
    reading20 = iotenvelope.seal(SECRET, b"x" * 20, device="lora-node-1", seq=7, ts=0, format="lean-raw")
    assert len(reading20) == 45


@pytest.mark.release
def test_seal_reading_firmware_reboots_in_simavr(tmp_path):
    """The Uno firmware arduino-builder built from the zip, run three times in simavr with its EEPROM kept:
    its serial output opens in Python, byte for byte, with no seq and no IV twice."""
    need_arduino()
    elf = c.BUILD / "arduino" / "uno" / "SealReading" / "SealReading.ino.elf"
    if not elf.exists():
        test_examples_compile_from_the_zip_with_arduino_builder()
    make("build/avrsim")
    image = tmp_path / "eeprom.bin"
    lines = []
    for boot in range(3):
        proc = subprocess.run([str(c.BUILD / "avrsim"), "--mcu", "atmega328p", "--eeprom", str(image),
                               "--until-lines", "2", str(elf)], capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr[-2000:]
        lines += proc.stdout.splitlines()
        assert image.read_bytes()[:16] == expected_eeprom([K * (b + 1) for b in range(boot + 1)])
    assert len(image.read_bytes()) == 1024
    check_readings(lines, [0, 1, 16, 17, 32, 33])
