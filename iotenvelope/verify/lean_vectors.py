"""Generating ``vectors/envelope_v1_lean.json``: the lean form (SPEC.md §5.3, §10).

Deterministic like :func:`iotenvelope.verify.vectors.generate_envelope_v1`: the same seed gives a byte-identical
file. Every test names the device id the receiver is told (``dev``): the lean form does not carry it.
"""

from __future__ import annotations

import random

from .. import __version__
from ..envelope import lean
from ..primitives import b64, cipher, kdf, mac
from . import vectors

LEAN_ALGORITHM = "iotenvelope-v1-lean"
FILE_NAME = "envelope_v1_lean.json"

FLAGS = {
    "Roundtrip": "A valid lean envelope: open it for 'dev' and compare every field and the plaintext; seal the same "
                 "fields (the IV comes from seq) and compare the text exactly.",
    "NoTimestamp": "ts = 0 is sent without the ts field (T bit clear); the receiver sees ts = 0.",
    "Aes256": "32-byte device secret (AES-256).",
    "Resync": "resync-request / resync-response payload (SPEC.md §8) in the lean form.",
    "LoRaWanSize": "A plaintext length chosen around a LoRaWAN payload limit; the comment gives the raw size.",
    "TrailingNewline": "Text ending in exactly one LF or CRLF, which a receiver strips (SPEC.md §5).",
    "BitFlip": "One bit of the raw frame flipped; the named region is in the comment.",
    "Truncated": "Bytes removed from the end.",
    "Extended": "Bytes appended at the end.",
    "WrongKey": "Sealed under another secret.",
    "WrongDevice": "A genuine envelope of another device id, opened for 'dev': the device id is under the tag.",
    "Reflection": "A genuine envelope for the other direction (tag valid).",
    "BadPadding": "Tag valid over a ciphertext whose PKCS#7 padding is wrong (a broken sender).",
    "TimestampZero": "T bit set with ts = 0 under a valid tag: not the one encoding of 'time unknown'.",
    "Encoding": "Invalid base64url text.",
    "FieldRange": "A header bit pattern outside its allowed values.",
    "RepeatedSeq": "Two envelopes of a broken sender with the same seq: open them in order with one fresh replay "
                   "window of 64; the second is refused (SPEC.md §5.3 'If a device repeats a sequence number').",
}


def _groups(rng: random.Random) -> list[dict]:
    def rbytes(n: int) -> bytes:
        return bytes(rng.getrandbits(8) for _ in range(n))

    reading = b'{"co2":1223,"t":21.4}'  # 21 bytes: a typical LoRa reading
    groups = []
    for secret_len, receiver, device, flags in ((16, "up", "lora-node-07", []), (32, "up", "eui-70b3d57ed0001234", ["Aes256"]),
                                                (16, "down", "lora-node-07", [])):
        secret = rbytes(secret_len)
        k_enc, k_mac = kdf.lean_keys(secret)
        tests: list[dict] = []

        def valid(comment, msg, *, seq=None, ts=None, kind="data", extra=(), dev=device, suffix=""):
            seq = rng.randrange(1, 100000) if seq is None else seq
            ts = 1763900000 + rng.randrange(0, 10**6) if ts is None else ts
            env = lean.seal_lean(secret, msg, device=dev, seq=seq, ts=ts, direction=receiver, type=kind)
            more = ["NoTimestamp"] if ts == 0 else []
            tests.append({"comment": comment, "flags": ["Roundtrip", *flags, *more, *extra], "format": "lean",
                          "direction": receiver, "type": kind, "dev": dev, "seq": seq, "ts": ts, "msg": msg.hex(),
                          "rawSize": len(env.to_bytes()), "envelope": env.to_text() + suffix, "result": "valid"})
            return env

        for comment, msg in (("empty plaintext", b""), ("1 byte", b"A"), ("15 bytes", b"0123456789abcde"),
                             ("16 bytes (a full padding block)", b"0123456789abcdef"),
                             ("binary with NUL and 0xff", b"\x00\xff\x00\x10\x10\x10"), ("200 random bytes", None)):
            msg = rbytes(200) if msg is None else msg
            valid(comment, msg)
            valid(comment + ", ts 0 (left out)", msg, ts=0)
        for n, ts, note in ((20, 0, "20-byte reading: 45 bytes"), (31, 0, "31-byte reading: 45 bytes"),
                            (31, None, "31-byte reading with ts: 49 bytes, fits EU868 DR0-DR2 (51)"),
                            (34, None, "34-byte reading with ts: 49 bytes"), (35, None, "35-byte reading with ts: 65 bytes")):
            valid(note, rbytes(n), ts=ts, extra=["LoRaWanSize"])
        valid("1-character device id", b"x", dev="a")
        valid("64-character device id", b"x", dev=("dev:#!$%&'()*+,-./0123456789;<=>?@[]^_`{|}~ABCDEFGHIJKLMNOPQRSTUVWXYZ")[:64])
        valid("seq 0", b"first", seq=0)
        valid("seq 4294967295 (largest)", b"last", seq=0xFFFFFFFF)
        valid("ts 4294967295 (largest)", b"{}", ts=0xFFFFFFFF)
        if receiver == "up":
            valid("resync-request with an 8-byte nonce", rbytes(8), kind="resync-request", ts=0, extra=["Resync"])
        else:
            valid("resync-response: nonce, next_seq 1000, backend time",
                  rbytes(8) + (1000).to_bytes(4, "big") + (1763900000).to_bytes(4, "big"), kind="resync-response",
                  ts=1763900000, extra=["Resync"])
        valid("trailing LF", b"nl", extra=["TrailingNewline"], suffix="\n")
        valid("trailing CRLF", b"crlf", extra=["TrailingNewline"], suffix="\r\n")
        ref = valid("reference message for the invalid cases below", reading, seq=7, ts=1763900000)

        def invalid(comment, text, error, fl, dev=device):
            tests.append({"comment": comment, "flags": [fl, *flags], "format": "lean", "direction": receiver,
                          "dev": dev, "envelope": text, "result": "invalid", "error": error})

        raw = ref.to_bytes()
        regions = [("header form bits (bit 7)", 0, 0x80, "unsupported-version"),
                   ("header form bits (bit 5)", 0, 0x20, "unsupported-version"),
                   ("header T bit (ts present -> absent: lengths no longer fit)", 0, 0x10, "malformed"),
                   ("header type bits -> resync-request", 0, 0x01, "auth"),
                   ("seq, high bit", 1, 0x80, "auth"), ("seq, low bit", 4, 0x01, "auth"),
                   ("ts, low bit", 8, 0x01, "auth"), ("ct first block", 9, 0x01, "auth"),
                   ("ct last block", len(raw) - 9, 0x01, "auth"), ("tag first byte", len(raw) - 8, 0x01, "auth"),
                   ("tag last byte", len(raw) - 1, 0x80, "auth")]
        for name, offset, bit, error in regions:
            b = bytearray(raw)
            b[offset] ^= bit
            invalid(f"bit flip in {name} (byte {offset})", b64.encode_url(bytes(b)), error, "BitFlip")
        for bits, what in ((0b00, "00"), (0b11, "11")):
            b = bytearray(raw)
            b[0] = (b[0] & ~0x0C) | (bits << 2)
            invalid(f"direction bits {what}", b64.encode_url(bytes(b)), "malformed", "FieldRange")
        b = bytearray(raw); b[0] |= 0b11
        invalid("type bits 11", b64.encode_url(bytes(b)), "malformed", "FieldRange")
        other = {"up": "down", "down": "up"}[receiver]
        b = bytearray(raw); b[0] = (b[0] & ~0x0C) | ({"up": 1, "down": 2}[other] << 2)
        invalid("direction bits set to the other direction", b64.encode_url(bytes(b)), "wrong-direction", "BitFlip")
        for cut, error in ((1, "malformed"), (16, "auth"), (len(raw) - 20, "malformed")):
            invalid(f"truncated by {cut} bytes", b64.encode_url(raw[:-cut]), error, "Truncated")
        invalid("extended by 16 bytes", b64.encode_url(raw + bytes(16)), "auth", "Extended")
        invalid("extended by 1 byte", b64.encode_url(raw + b"\x00"), "malformed", "Extended")
        invalid("empty text", "", "malformed", "Truncated")
        wrong = lean.seal_lean(rbytes(secret_len), reading, device=device, seq=7, ts=ref.ts, direction=receiver)
        invalid("sealed under another secret", wrong.to_text(), "auth", "WrongKey")
        other_dev = lean.seal_lean(secret, reading, device=device + "x", seq=7, ts=ref.ts, direction=receiver)
        invalid("genuine envelope of device id + 'x', opened for the device id", other_dev.to_text(), "auth",
                "WrongDevice")
        invalid("the reference envelope opened for another device id", ref.to_text(), "auth", "WrongDevice",
                dev=device[:-1] + ("0" if device[-1] != "0" else "1"))
        reflected = lean.seal_lean(secret, reading, device=device, seq=8, ts=ref.ts, direction=other)
        invalid("genuine envelope of the other direction (reflection)", reflected.to_text(), "wrong-direction",
                "Reflection")
        # T bit set with ts = 0 under a valid tag (encoders never produce this).
        ct = ref.ct
        hdr = ref.header_byte() | lean.TS_FLAG
        fields = (7).to_bytes(4, "big") + bytes(4)
        dev = device.encode()
        tag = mac.hmac_sha256(k_mac, bytes((hdr, len(dev))) + dev + fields + ct)[:lean.TAG_LEN]
        invalid("T bit set with ts = 0 (valid tag)", b64.encode_url(bytes((hdr,)) + fields + ct + tag), "malformed",
                "TimestampZero")
        for label, block in (("last byte 0x00", b"A" * 15 + b"\x00"), ("last byte 0x11", b"A" * 15 + b"\x11"),
                             ("0x03 0x03 0x02 tail", b"A" * 13 + b"\x03\x03\x02")):
            seq = 9
            ct = cipher.encrypt_raw(k_enc, lean.derive_iv(k_enc, receiver, "data", seq), block)
            hdr = lean.header_byte(receiver, "data", True)
            fields = seq.to_bytes(4, "big") + ref.ts.to_bytes(4, "big")
            tag = mac.hmac_sha256(k_mac, bytes((hdr, len(dev))) + dev + fields + ct)[:lean.TAG_LEN]
            invalid(f"valid tag, padding {label}", b64.encode_url(bytes((hdr,)) + fields + ct + tag), "padding",
                    "BadPadding")
        text = ref.to_text()
        invalid("standard alphabet instead of base64url", text.replace("-", "+").replace("_", "/")
                if ("-" in text or "_" in text) else "+" + text[1:], "malformed", "Encoding")
        invalid("'=' padding appended", text + "=" * (-len(text) % 4 or 2), "malformed", "Encoding")
        invalid("line break inside", text[:20] + "\n" + text[20:], "malformed", "Encoding")
        invalid("two trailing newlines", text + "\n\n", "malformed", "Encoding")
        invalid("trailing space and newline", text + " \n", "malformed", "Encoding")
        invalid("trailing lone CR", text + "\r", "malformed", "Encoding")
        invalid("leading newline", "\n" + text, "malformed", "Encoding")
        if len(raw) % 3:
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            invalid("non-canonical base64url (unused trailing bits set)",
                    text[:-1] + alphabet[alphabet.index(text[-1]) ^ 1], "malformed", "Encoding")
        # A broken sender repeating a sequence number: both envelopes authenticate; the window refuses the second.
        first = lean.seal_lean(secret, b'{"v":1}', device=device, seq=500, ts=ref.ts, direction=receiver)
        second = lean.seal_lean(secret, b'{"v":2}', device=device, seq=500, ts=ref.ts + 60, direction=receiver)
        tests.append({"comment": "the same seq sealed twice (a broken counter): the second is a replay",
                      "flags": ["RepeatedSeq", *flags], "format": "lean", "direction": receiver, "dev": device,
                      "envelopes": [first.to_text(), second.to_text()], "msgs": ['{"v":1}'.encode().hex(),
                                                                                 '{"v":2}'.encode().hex()],
                      "results": ["valid", "replay-duplicate"], "result": "invalid", "error": "replay-duplicate"})
        groups.append({"type": "LeanEnvelopeTest", "secret": secret.hex(), "secretSize": secret_len * 8,
                       "encKey": k_enc.hex(), "macKey": k_mac.hex(), "receiverDirection": receiver, "tests": tests})
    return groups


def generate(seed: int = 1) -> dict:
    rng = random.Random(seed + 1000)  # its own stream: adding cases here never changes envelope_v1.json
    groups = _groups(rng)
    tc = vectors.number_tests(groups)
    return {
        "algorithm": LEAN_ALGORITHM,
        "schema": "iotenvelope_envelope_test_schema_v1",
        "generatorVersion": __version__,
        "source": vectors._provenance(seed),
        "numberOfTests": tc,
        "header": ["Envelope v1, lean form (SPEC.md §5.3). The device id is not on the wire: open every test for its "
                   "'dev'. Valid tests: open and compare; seal the same fields and compare the text (the IV is "
                   "derived from seq, so sealing is deterministic). Invalid tests: opening must fail with the "
                   "SPEC.md §6.1 error name in 'error'. RepeatedSeq tests carry 'envelopes' and 'results': open "
                   "them in order with one fresh replay window.",
                   "Secrets and plaintexts are pseudo-random from the seed; the file is reproducible."],
        "notes": {k: {"description": v} for k, v in FLAGS.items()},
        "testGroups": groups,
    }
