"""Vector files: loading, and generating the envelope-v1 files (SPEC.md §10, schema in vectors/README.md).

``generate_envelope_v1(seed)`` is deterministic: the same seed gives byte-identical files, so a committed
file can be regenerated and compared in CI.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from .. import __version__
from ..primitives import b64, cipher, kdf, mac
from ..envelope import Envelope, seal_envelope
from ..errors import MalformedError

ENVELOPE_ALGORITHM = "iotenvelope-v1"


#: the vector files inside an installed package (the wheel's build step copies the repository's vectors/ here)
BUNDLED_PACKAGE_DIR = "_vectors"
CHECKOUT_DIR = Path(__file__).resolve().parents[2] / "vectors"


def bundled_dir() -> Path:
    """The bundled vector files: ``iotenvelope/_vectors`` of an installed wheel (read through
    importlib.resources), else the checkout's top-level ``vectors/``, which is the source of truth."""
    from importlib import resources
    root = resources.files("iotenvelope").joinpath(BUNDLED_PACKAGE_DIR)
    if root.is_dir():
        if isinstance(root, Path):
            return root
        return _extracted(root)  # a zipped install: copy out once, so peers get real paths
    return CHECKOUT_DIR


_EXTRACTED: list = []


def _extracted(root) -> Path:
    import tempfile
    if not _EXTRACTED:
        tmp = tempfile.TemporaryDirectory(prefix="iotenvelope-vectors-")
        _EXTRACTED.append(tmp)

        def copy(node, dest: Path) -> None:
            for child in node.iterdir():
                if child.is_dir():
                    (dest / child.name).mkdir()
                    copy(child, dest / child.name)
                else:
                    (dest / child.name).write_bytes(child.read_bytes())
        copy(root, Path(tmp.name))
    return Path(_EXTRACTED[0].name)


def bundled_files() -> list[Path]:
    """Every bundled file (the vector JSON files and README.md), sorted, as paths."""
    base = bundled_dir()
    return sorted(p for p in base.rglob("*") if p.is_file() and (p.suffix == ".json" or p.name == "README.md")
                  and p.name not in ("package.json", "package-lock.json"))


def export(directory: str | Path) -> list[Path]:
    """Write every bundled vector file, with the schema README, under ``directory`` (same relative paths)."""
    base = bundled_dir()
    out = Path(directory)
    written = []
    for src in bundled_files():
        dest = out / src.relative_to(base)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
        written.append(dest)
    return written


def load(path: str | Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MalformedError(f"vector file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("testGroups"), list):
        raise MalformedError(f"vector file {path}: no testGroups list")
    return data


def canonical_sha256(obj: object) -> str:
    """SHA-256 of ``obj`` as canonical JSON (sorted keys, no spaces): the checksum a converted copy of a shared
    vector file records of its original."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def algorithm_of(data: dict) -> str:
    return str(data.get("algorithm", ""))


def iter_tests(data: dict):
    for group in data["testGroups"]:
        for test in group.get("tests", []):
            yield group, test


def label(test: dict) -> str:
    """How reports name a case: ``tcId N (comment)``."""
    return f"tcId {test['tcId']} ({test['comment']})"


def _provenance(seed: int) -> dict:
    from Crypto import __version__ as pycryptodome_version
    return {"implementation": "iotenvelope-python", "version": __version__,
            "libraries": {"pycryptodome": pycryptodome_version},
            "command": f"python -m iotenvelope vectors generate --seed {seed}"}


FLAGS = {
    "Roundtrip": "A valid envelope: open it and compare every field and the plaintext; seal the same fields with "
                 "the given IV and compare the text exactly (unless NonCanonicalJson).",
    "NonCanonicalJson": "Valid JSON form with other member order or white space: open only, do not compare text.",
    "Aes256": "32-byte device secret (AES-256).",
    "TimeUnknown": "ts = 0: the sender's clock is not set (SPEC.md §6 step 6).",
    "Resync": "resync-request / resync-response payload (SPEC.md §8).",
    "BitFlip": "One bit of the canonical bytes flipped; the named region is in the comment.",
    "Truncated": "Bytes removed from the end.",
    "Extended": "Bytes appended at the end.",
    "WrongKey": "Sealed under another secret.",
    "Reflection": "A genuine envelope for the other direction (MAC valid).",
    "BadPadding": "MAC valid over a ciphertext whose PKCS#7 padding is wrong (a broken sender).",
    "Encoding": "Invalid base64url or JSON encoding.",
    "TrailingNewline": "Text ending in exactly one LF or CRLF, which the receiver strips (SPEC.md §5); when sealing "
                       "again, compare with the text without it.",
    "FieldRange": "A header field outside its allowed values.",
}


def _groups(rng: random.Random) -> list[dict]:
    def rbytes(n: int) -> bytes:
        return bytes(rng.getrandbits(8) for _ in range(n))

    reading = b'{"co2": 1223, "temp": 21.4, "hum": 48, "bat": 3.71, "rssi": -67, "uptime": 86399}'
    plaintexts = [
        ("empty plaintext", b""), ("1 byte", b"A"), ("15 bytes", b"0123456789abcde"),
        ("16 bytes (a full padding block)", b"0123456789abcdef"), ("17 bytes", b"0123456789abcdefg"),
        ("32 bytes", bytes(range(32))), ("80-byte JSON reading", reading),
        ("non-ASCII UTF-8 JSON", '{"note": "café ☕ 温度", "t": -3}'.encode("utf-8")),
        ("binary with NUL and 0xff", b"\x00\xff\x00\x10\x10\x10"), ("1000 random bytes", None),
    ]
    groups = []
    for secret_len, receiver, flags in ((16, "up", []), (32, "up", ["Aes256"]), (16, "down", [])):
        secret = rbytes(secret_len)
        k_enc, k_mac = kdf.envelope_keys(secret)
        tests: list[dict] = []
        base = {"device": "sensor-01" if receiver == "up" else "pico-w.kitchen", "direction": receiver}

        def valid(comment, msg, *, fmt="compact", device=base["device"], seq=None, ts=None, kind="data", extra=()):
            seq = rng.randrange(1, 100000) if seq is None else seq
            ts = 1763900000 + rng.randrange(0, 10**6) if ts is None else ts
            env = seal_envelope(secret, msg, device=device, seq=seq, ts=ts, direction=receiver, type=kind,
                                iv=rbytes(16))
            for f in fmt.split(","):
                tests.append({"comment": f"{comment} ({f})", "flags": ["Roundtrip", *flags, *extra],
                              "format": f, "direction": receiver, "type": kind, "dev": device, "seq": seq,
                              "ts": ts, "iv": env.iv.hex(), "msg": msg.hex(), "envelope": env.encode(f),
                              "result": "valid"})
            return env

        for comment, msg in plaintexts:
            valid(comment, rbytes(1000) if msg is None else msg, fmt="compact,json")
        valid("1-character device id", b"x", device="a", fmt="compact,json")
        valid("64-character device id with punctuation", b"x",
              device=("dev:#!$%&'()*+,-./0123456789;<=>?@[]^_`{|}~ABCDEFGHIJKLMNOPQRSTUVWXYZ")[:64], fmt="compact,json")
        valid("seq 0", b"first", seq=0, fmt="compact,json")
        valid("seq 4294967295 (largest)", b"last", seq=0xFFFFFFFF, fmt="compact,json")
        valid("ts 0: device time unknown", b"{}", ts=0, fmt="compact,json", extra=["TimeUnknown"])
        valid("ts 4294967295 (largest)", b"{}", ts=0xFFFFFFFF, fmt="compact,json")
        if receiver == "up":
            valid("resync-request with an 8-byte nonce", rbytes(8), kind="resync-request", fmt="compact,json",
                  extra=["Resync"])
        else:
            valid("resync-response: nonce, next_seq 1000, backend time",
                  rbytes(8) + (1000).to_bytes(4, "big") + (1763900000).to_bytes(4, "big"),
                  kind="resync-response", fmt="compact,json", extra=["Resync"])
        ref = valid("reference message for the invalid cases below", reading, seq=7, ts=1763900000)

        # Non-canonical JSON that must still open.
        d = ref.to_dict()
        tests.append({"comment": "JSON members reversed, newlines and indentation", "flags": ["NonCanonicalJson", *flags],
                      "format": "json", "direction": receiver, "type": "data", "dev": ref.device, "seq": ref.seq,
                      "ts": ref.ts, "iv": ref.iv.hex(), "msg": reading.hex(),
                      "envelope": json.dumps(dict(reversed(list(d.items()))), indent=2), "result": "valid"})

        def invalid(comment, text, error, fmt, fl):
            tests.append({"comment": comment, "flags": [fl, *flags], "format": fmt, "envelope": text,
                          "result": "invalid", "error": error})

        raw = ref.to_bytes()
        n = len(ref.device)
        regions = [("version", 0, "unsupported-version"), ("direction", 1, "malformed"), ("type", 2, "malformed"),
                   ("device length", 3, "malformed"), ("device id", 4, "auth"), ("seq", 4 + n, "auth"),
                   ("ts", 8 + n, "auth"), ("iv", 12 + n, "auth"), ("ct first block", 28 + n, "auth"),
                   ("ct last block", len(raw) - 17, "auth"), ("tag", len(raw) - 1, "auth")]
        for name, offset, error in regions:
            b = bytearray(raw)
            b[offset] ^= 1
            if name == "device length":
                b[offset] = 0  # flipping bit 0 could stay in range; 0 is the boundary case
            elif name == "type":
                b[offset] = 3  # flipping bit 0 gives resync-request, a valid type (covered below as "auth")
            invalid(f"bit flip in {name} (byte {offset})", b64.encode_url(bytes(b)), error, "compact", "BitFlip")
        b = bytearray(raw); b[4 + n] ^= 0x80
        invalid("high bit of seq flipped", b64.encode_url(bytes(b)), "auth", "compact", "BitFlip")
        b = bytearray(raw); b[4 + n + 7] ^= 0x01
        invalid("low bit of ts flipped", b64.encode_url(bytes(b)), "auth", "compact", "BitFlip")
        other = {"up": 2, "down": 1}[receiver]
        b = bytearray(raw); b[1] = other
        invalid("direction byte set to the other direction", b64.encode_url(bytes(b)), "wrong-direction", "compact", "BitFlip")
        b = bytearray(raw); b[2] = 1
        invalid("type byte changed data -> resync-request", b64.encode_url(bytes(b)), "auth", "compact", "BitFlip")
        for cut, error in ((1, "malformed"), (16, "auth"), (len(raw) - 60, "malformed")):
            invalid(f"truncated by {cut} bytes", b64.encode_url(raw[:-cut]), error, "compact", "Truncated")
        invalid("extended by 16 bytes", b64.encode_url(raw + bytes(16)), "auth", "compact", "Extended")
        invalid("extended by 1 byte", b64.encode_url(raw + b"\x00"), "malformed", "compact", "Extended")
        invalid("empty text", "", "malformed", "compact", "Truncated")
        wrong = seal_envelope(rbytes(secret_len), reading, device=ref.device, seq=7, ts=ref.ts, direction=receiver,
                              iv=ref.iv)
        invalid("sealed under another secret", wrong.to_compact(), "auth", "compact", "WrongKey")
        reflected = seal_envelope(secret, reading, device=ref.device, seq=8, ts=ref.ts,
                                  direction={"up": "down", "down": "up"}[receiver], iv=rbytes(16))
        invalid("genuine envelope of the other direction (reflection)", reflected.to_compact(), "wrong-direction",
                "compact", "Reflection")
        invalid("genuine envelope of the other direction, JSON", reflected.to_json(), "wrong-direction", "json",
                "Reflection")
        swapped = Envelope(ref.direction, ref.type, ref.device, ref.seq, ref.ts, ref.iv, ref.ct, wrong.tag)
        invalid("tag of another secret's envelope spliced in", swapped.to_compact(), "auth", "compact", "WrongKey")
        # Valid MAC over bad padding: the ciphertext of plaintext blocks that do not end in PKCS#7 padding.
        for label, block in (("last byte 0x00", b"A" * 15 + b"\x00"), ("last byte 0x11", b"A" * 15 + b"\x11"),
                             ("0x03 0x03 0x02 tail", b"A" * 13 + b"\x03\x03\x02")):
            iv = rbytes(16)
            ct = cipher.encrypt_raw(k_enc, iv, block)
            env = Envelope(receiver, "data", ref.device, 9, ref.ts, iv, ct, b"\x00" * 16)
            env = Envelope(receiver, "data", ref.device, 9, ref.ts, iv, ct, mac.tag(k_mac, env.mac_input()))
            invalid(f"valid MAC, padding {label}", env.to_compact(), "padding", "compact", "BadPadding")
        text = ref.to_compact()
        invalid("standard alphabet instead of base64url", text.replace("-", "+").replace("_", "/")
                if ("-" in text or "_" in text) else "+" + text[1:], "malformed", "compact", "Encoding")
        invalid("'=' padding appended", text + "=" * (-len(text) % 4 or 2), "malformed", "compact", "Encoding")
        invalid("line break inside", text[:40] + "\n" + text[40:], "malformed", "compact", "Encoding")
        tests.append({"comment": "trailing newline (one LF, stripped by the receiver: SPEC.md §5)",
                      "flags": ["Roundtrip", "TrailingNewline", *flags], "format": "compact", "direction": receiver,
                      "type": "data", "dev": ref.device, "seq": ref.seq, "ts": ref.ts, "iv": ref.iv.hex(),
                      "msg": reading.hex(), "envelope": text + "\n", "result": "valid"})
        if len(raw) % 3:  # the last character then has unused low bits; set one of them
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            noncanon = text[:-1] + alphabet[alphabet.index(text[-1]) ^ 1]
            invalid("non-canonical base64url (unused trailing bits set)", noncanon, "malformed", "compact", "Encoding")
        d = ref.to_dict()
        for comment, change in (("seq as a float", {"seq": float(ref.seq)}), ("seq as a string", {"seq": str(ref.seq)}),
                                ("ts as a boolean", {"ts": True}), ("seq 4294967296 (out of range)", {"seq": 2 ** 32}),
                                ("negative ts", {"ts": -1}), ("v 2", {"v": 2}), ("dir 'sideways'", {"dir": "sideways"}),
                                ("type 'command'", {"type": "command"}), ("device id with a space", {"dev": "sensor 01"}),
                                ("empty device id", {"dev": ""}), ("iv of 8 bytes", {"iv": b64.encode_url(ref.iv[:8])}),
                                ("tag of 32 bytes", {"tag": b64.encode_url(ref.tag * 2)}),
                                ("ct with '=' padding", {"ct": b64.encode_url(ref.ct) + "="})):
            bad = dict(d, **change)
            error = "unsupported-version" if "v" in change else "malformed"
            invalid(f"JSON: {comment}", json.dumps(bad), error, "json", "FieldRange" if "dev" in change or "dir" in change
                    or "type" in change or "v" in change or "seq 4" in comment or "negative" in comment else "Encoding")
        missing = dict(d); del missing["ts"]
        invalid("JSON: member ts missing", json.dumps(missing), "malformed", "json", "Encoding")
        invalid("JSON: extra member", json.dumps(dict(d, note="x")), "malformed", "json", "Encoding")
        invalid("JSON: duplicated member seq", json.dumps(d)[:-1] + ', "seq": 8}', "malformed", "json", "Encoding")
        invalid("JSON: a list, not an object", json.dumps([d]), "malformed", "json", "Encoding")
        invalid("JSON: truncated text", ref.to_json()[:-5], "malformed", "json", "Encoding")
        b = dict(d, seq=ref.seq + 1)
        invalid("JSON: seq changed, tag kept", json.dumps(b), "auth", "json", "BitFlip")
        b = dict(d, dev=ref.device + "x")
        invalid("JSON: device id changed, tag kept", json.dumps(b), "auth", "json", "BitFlip")
        groups.append({"type": "EnvelopeTest", "secret": secret.hex(), "secretSize": secret_len * 8,
                       "encKey": k_enc.hex(), "macKey": k_mac.hex(), "receiverDirection": receiver, "tests": tests})
        if receiver == "up" and secret_len == 16:
            first = (secret, k_enc, k_mac, ref)
    groups.append(_newline_group(*first))
    return groups


def _newline_group(secret: bytes, k_enc: bytes, k_mac: bytes, ref: Envelope) -> dict:
    """SPEC.md §5: exactly one trailing LF or CRLF is stripped from envelope text, nothing else (added in 0.2.0
    as a group of its own after the others, so every earlier tcId is unchanged)."""
    fields = {"direction": "up", "type": "data", "dev": ref.device, "seq": ref.seq, "ts": ref.ts, "iv": ref.iv.hex()}
    msg = cipher.decrypt(k_enc, ref.iv, ref.ct).hex()
    tests = []
    for fmt, text in (("compact", ref.to_compact()), ("json", ref.to_json())):
        for suffix, name in (("\n", "LF"), ("\r\n", "CRLF")):
            tests.append({"comment": f"{fmt} with one trailing {name} (stripped)", "flags": ["Roundtrip", "TrailingNewline"],
                          "format": fmt, **fields, "msg": msg, "envelope": text + suffix, "result": "valid"})
    text = ref.to_compact()
    for comment, bad in (("two trailing LFs", text + "\n\n"), ("trailing space and LF", text + " \n"),
                         ("trailing lone CR", text + "\r"), ("trailing LF CR", text + "\n\r"),
                         ("leading LF", "\n" + text), ("trailing tab", text + "\t"), ("CR CR LF", text + "\r\r\n")):
        tests.append({"comment": f"compact with {comment} (only one LF or CRLF is stripped)", "flags": ["Encoding"],
                      "format": "compact", "envelope": bad, "result": "invalid", "error": "malformed"})
    return {"type": "EnvelopeTest", "secret": secret.hex(), "secretSize": len(secret) * 8, "encKey": k_enc.hex(),
            "macKey": k_mac.hex(), "receiverDirection": "up", "tests": tests}


def number_tests(groups: list[dict]) -> int:
    """Give every test its ``tcId`` (1, 2, ... across the groups, as the first member) and return the count."""
    tc = 0
    for group in groups:
        for test in group["tests"]:
            tc += 1
            numbered = {"tcId": tc}
            numbered.update(test)
            test.clear()
            test.update(numbered)
    return tc


def generate_envelope_v1(seed: int = 1) -> dict:
    rng = random.Random(seed)
    groups = _groups(rng)
    tc = number_tests(groups)
    return {
        "algorithm": ENVELOPE_ALGORITHM,
        "schema": "iotenvelope_envelope_test_schema_v1",
        "generatorVersion": __version__,
        "source": _provenance(seed),
        "numberOfTests": tc,
        "header": ["Envelope v1 (SPEC.md). Valid tests: open and compare; seal with the given iv and compare the "
                   "text. Invalid tests: opening must fail with the SPEC.md §6.1 error name in 'error'.",
                   "Secrets, IVs and plaintexts are pseudo-random from the seed; the file is reproducible."],
        "notes": {k: {"description": v} for k, v in FLAGS.items()},
        "testGroups": groups,
    }


def dump(data: dict) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def write_generated(directory: str | Path, seed: int = 1) -> list[Path]:
    """Write envelope_v1.json and envelope_v1_lean.json (SPEC.md §10) into ``directory``."""
    from . import lean_vectors  # imports this module

    out = Path(directory) / "envelope_v1.json"
    out.write_text(dump(generate_envelope_v1(seed)), encoding="utf-8")
    lean_out = Path(directory) / lean_vectors.FILE_NAME
    lean_out.write_text(dump(lean_vectors.generate(seed)), encoding="utf-8")
    return [out, lean_out]
