"""The lean form (SPEC.md §5.3): bytes checked against an independent computation on `cryptography`, sizes,
receiver rules, the shared replay window, the CLI and the committed vector file."""

from __future__ import annotations

import hmac as std_hmac
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, padding as crypto_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import iotenvelope
from iotenvelope import open_store
from iotenvelope.envelope import lean
from iotenvelope.errors import (AuthenticationError, DirectionError, DuplicateError, MalformedError,
                                TimeUnknownError, UnsupportedVersionError, UsageError)
from iotenvelope.primitives import b64
from iotenvelope.verify import lean_vectors, vectors

ROOT = Path(__file__).resolve().parents[1]
SECRET16 = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
SECRET32 = bytes(range(32, 64))


def spec_lean(secret: bytes, msg: bytes, device: str, seq: int, ts: int, direction: str, kind: str) -> bytes:
    """SPEC.md §5.3 written out with `cryptography` alone (no iotenvelope code)."""
    def hkdf(info: bytes, n: int) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=n, salt=None, info=info).derive(secret)

    k_enc, k_mac = hkdf(b"iotenvelope v1 lean enc", len(secret)), hkdf(b"iotenvelope v1 lean mac", 32)
    d = {"up": 1, "down": 2}[direction]
    y = {"data": 0, "resync-request": 1, "resync-response": 2}[kind]
    hdr = 0x40 | (0x10 if ts else 0) | (d << 2) | y
    nonce = bytes([0x4C, hdr & 0x0F]) + struct.pack(">I", seq) + bytes(10)
    ecb = Cipher(algorithms.AES(k_enc), modes.ECB()).encryptor()
    iv = ecb.update(nonce) + ecb.finalize()
    padder = crypto_padding.PKCS7(128).padder()
    padded = padder.update(msg) + padder.finalize()
    cbc = Cipher(algorithms.AES(k_enc), modes.CBC(iv)).encryptor()
    ct = cbc.update(padded) + cbc.finalize()
    fields = struct.pack(">I", seq) + (struct.pack(">I", ts) if ts else b"")
    dev = device.encode()
    tag = std_hmac.new(k_mac, bytes([hdr, len(dev)]) + dev + fields + ct, "sha256").digest()[:8]
    return bytes([hdr]) + fields + ct + tag


CASES = [
    (SECRET16, b"", "s1", 0, 0, "up", "data"),
    (SECRET16, b'{"co2":1223,"t":21.4}', "lora-node-07", 7, 1763900000, "up", "data"),
    (SECRET32, bytes(range(100)), "eui-70b3d57ed0001234", 0xFFFFFFFF, 0xFFFFFFFF, "up", "data"),
    (SECRET16, b"open", "door-1", 12, 1763900000, "down", "data"),
    (SECRET16, bytes(8), "s1", 3, 0, "up", "resync-request"),
    (SECRET32, bytes(16), "s1", 4, 1, "down", "resync-response"),
]


@pytest.mark.parametrize("secret,msg,device,seq,ts,direction,kind", CASES)
def test_seal_matches_the_spec_written_on_cryptography(secret, msg, device, seq, ts, direction, kind):
    want = spec_lean(secret, msg, device, seq, ts, direction, kind)
    raw = iotenvelope.seal(secret, msg, device=device, seq=seq, ts=ts, direction=direction, type=kind,
                           format="lean-raw")
    assert raw == want
    assert iotenvelope.seal(secret, msg, device=device, seq=seq, ts=ts, direction=direction, type=kind,
                            format="lean") == b64.encode_url(want)
    opened = iotenvelope.open(secret, want, format="lean-raw", device=device, direction=direction, freshness=None)
    assert (opened.plaintext, opened.device, opened.seq, opened.ts, opened.type) == (msg, device, seq, ts, kind)


def test_sizes_fit_lorawan():
    for p in range(0, 120):
        raw = iotenvelope.seal(SECRET16, bytes(p), device="s1", seq=1, ts=0, format="lean-raw")
        assert len(raw) == 13 + 16 * (p // 16 + 1) == lean.size(p)
        assert len(iotenvelope.seal(SECRET16, bytes(p), device="s1", seq=1, ts=5, format="lean-raw")) == len(raw) + 4
    assert lean.size(20) == 45  # issue 13: a 20-byte reading in at most 45 bytes
    assert lean.size(31, ts=True) == 49 <= 51  # EU868 DR0-DR2


def test_device_is_bound_under_the_tag_and_direction_checked_first():
    text = iotenvelope.seal(SECRET16, b"x", device="s1", seq=1, ts=0, format="lean")
    with pytest.raises(AuthenticationError):
        iotenvelope.open(SECRET16, text, format="lean", device="s2")
    with pytest.raises(DirectionError):
        iotenvelope.open(SECRET16, text, format="lean", device="s1", direction="down")
    with pytest.raises(UsageError):
        iotenvelope.open(SECRET16, text, format="lean")
    with pytest.raises(UsageError):
        iotenvelope.open(SECRET16, iotenvelope.seal(SECRET16, b"x", device="s1", seq=1), device="s1")


def test_keys_are_not_shared_with_the_compact_form():
    from iotenvelope.primitives import kdf
    assert set(kdf.lean_keys(SECRET16)).isdisjoint(kdf.envelope_keys(SECRET16))


def test_header_rules():
    raw = bytearray(iotenvelope.seal(SECRET16, b"x", device="s1", seq=1, ts=9, format="lean-raw"))
    for hdr, error in ((0x01, UnsupportedVersionError), (0x80 | raw[0], UnsupportedVersionError),
                       (raw[0] & ~0x0C, MalformedError), (raw[0] | 0x0C, MalformedError), (raw[0] | 0x03, MalformedError)):
        bad = bytes([hdr & 0xFF]) + bytes(raw[1:])
        with pytest.raises(error):
            iotenvelope.open(SECRET16, bad, format="lean-raw", device="s1", freshness=None)
    zero_ts = bytes(raw[:5]) + bytes(4) + bytes(raw[9:])
    with pytest.raises(MalformedError):
        iotenvelope.open(SECRET16, zero_ts, format="lean-raw", device="s1", freshness=None)
    with pytest.raises(MalformedError):
        iotenvelope.open(SECRET16, bytes(raw[:-1]), format="lean-raw", device="s1", freshness=None)


def test_absent_timestamp_is_time_unknown():
    text = iotenvelope.seal(SECRET16, b"x", device="s1", seq=1, ts=0, format="lean")
    assert iotenvelope.open(SECRET16, text, format="lean", device="s1").ts == 0
    with pytest.raises(TimeUnknownError):
        iotenvelope.open(SECRET16, text, format="lean", device="s1",
                         freshness=iotenvelope.Freshness(allow_unknown_time=False))


def test_lean_and_compact_share_one_replay_window():
    store = open_store("memory://")
    iotenvelope.open(SECRET16, iotenvelope.seal(SECRET16, b"a", device="s1", seq=5), replay=store)
    with pytest.raises(DuplicateError):
        iotenvelope.open(SECRET16, iotenvelope.seal(SECRET16, b"b", device="s1", seq=5, format="lean"),
                         format="lean", device="s1", replay=store)
    opened = iotenvelope.open_many(SECRET16, [iotenvelope.seal(SECRET16, b"c", device="s1", seq=6, format="lean")],
                                   format="lean", device="s1", replay=store)
    assert opened[0].plaintext == b"c"


def test_trailing_newline_and_cap():
    text = iotenvelope.seal(SECRET16, b"x", device="s1", seq=1, format="lean")
    for suffix in ("\n", "\r\n"):
        assert iotenvelope.open(SECRET16, text + suffix, format="lean", device="s1").plaintext == b"x"
    for bad in (text + "\n\n", text + " \n", text + "\r", "\n" + text, "A" * 70000):
        with pytest.raises(MalformedError):
            iotenvelope.open(SECRET16, bad, format="lean", device="s1")
    with pytest.raises(MalformedError):
        iotenvelope.seal(SECRET16, bytes(49200), device="s1", seq=1, format="lean")


def test_iv_is_rejected_for_lean():
    with pytest.raises(UsageError):
        iotenvelope.seal(SECRET16, b"x", device="s1", seq=1, format="lean", iv=bytes(16))


def test_cli_round_trip(cli):
    key = SECRET16.hex()
    sealed = cli("seal", "--key", key, "--device", "s1", "--seq", "3", "--ts", "0", "--format", "lean", stdin=b"hi")
    assert sealed.returncode == 0
    assert sealed.stdout.strip().decode() == iotenvelope.seal(SECRET16, b"hi", device="s1", seq=3, ts=0, format="lean")
    opened = cli("open", "--key", key, "--format", "lean", "--device", "s1", stdin=sealed.stdout)
    assert (opened.returncode, opened.stdout) == (0, b"hi")
    assert cli("open", "--key", key, "--format", "lean", stdin=sealed.stdout).returncode == 2
    assert cli("open", "--key", key, "--format", "lean", "--device", "s9", stdin=sealed.stdout).returncode == 5


def test_lean_vectors_regenerate_byte_identical_and_cover_every_class():
    committed = (ROOT / "vectors" / lean_vectors.FILE_NAME).read_text(encoding="utf-8")
    assert vectors.dump(lean_vectors.generate(1)) == committed
    data = json.loads(committed)
    errors = {t.get("error") for _, t in vectors.iter_tests(data) if t["result"] == "invalid"}
    assert errors >= {"malformed", "unsupported-version", "auth", "wrong-direction", "padding", "replay-duplicate"}
    flags = {f for _, t in vectors.iter_tests(data) for f in t["flags"]}
    assert flags >= set(lean_vectors.FLAGS) - {"Aes256"} and "Aes256" in flags


def test_diagnose_names_a_lean_envelope_and_opens_it_with_device():
    from iotenvelope.profiles.diagnose import diagnose
    text = iotenvelope.seal(SECRET16, b'{"co2":1223}', device="node-3", seq=3, format="lean")
    raw = iotenvelope.seal(SECRET16, b'{"co2":1223}', device="node-3", seq=4, format="lean-raw")
    report = diagnose(text, key=SECRET16.hex())
    assert not report.findings
    assert any("lean envelope" in n and "--device" in n for n in report.notes)
    for data in (text, raw):
        report = diagnose(data, key=SECRET16.hex(), device="node-3")
        best = report.findings[0]
        assert (best.plaintext, best.cli_ready) == (b'{"co2":1223}', True)
        assert best.options[:4] == ["--format", "lean", "--device", "node-3"]
    report = diagnose(text, key=SECRET16.hex(), device="node-4")
    assert not report.findings and any("wrong device id" in n for n in report.notes)
