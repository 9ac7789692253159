"""cryptojs-pbkdf2 (key = CryptoJS.PBKDF2(passphrase, salt)) against real crypto-js 3.3.0 / 4.1.1 / 4.2.0 in both
directions, and ``openssl enc -pbkdf2 -md sha1`` through cryptojs-passphrase."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from iotenvelope.errors import MalformedError, PaddingError, UsageError
from iotenvelope.profiles import cryptojs, cryptojs_pbkdf2 as pb
from iotenvelope.verify import cryptojs_pbkdf2_vectors, vectors
from iotenvelope.verify.peers import js
from jspeer import require_node

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT / "interop" / "js" / "scripts" / "cryptojs-native-peer.js"
VERSIONS = js.EXPECTED_VERSIONS
MSG = '{"co2": 1223, "note": "café ☕ 温度"}'


def crypto_js(requests: list[dict]) -> list[dict]:
    """Run the requests through real crypto-js (one node process for the batch)."""
    require_node()
    proc = subprocess.run([js.node_binary(), str(PEER)], input=json.dumps(requests).encode(), capture_output=True,
                          cwd=ROOT / "interop" / "js", timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    answers = json.loads(proc.stdout)
    assert len(answers) == len(requests)
    return answers


def load(version: str) -> dict:
    return vectors.load(ROOT / "vectors" / "cryptojs" / f"cryptojs_pbkdf2_{version}.json")


# -- the vector files: written by real crypto-js ------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_every_vector_of_real_crypto_js_is_reproduced(version):
    data = load(version)
    assert data["algorithm"] == pb.ALGORITHM
    assert data["source"]["implementation"] == "crypto-js" and data["source"]["version"] == version
    # the Defaults group was made by CryptoJS.PBKDF2 without options; it decrypts with exactly these settings
    d = data["source"]["defaults"]
    assert pb.Settings(d["hasher"], d["iterations"], d["keySize"]) == pb.DEFAULTS[version]
    result = cryptojs_pbkdf2_vectors.check_vector_file(data)
    assert result.failed == 0, result.failures
    assert result.passed == data["numberOfTests"] >= 50
    layouts = {t["layout"] for _, t in vectors.iter_tests(data)}
    hashers = {g["hasher"] for g in data["testGroups"]}
    assert layouts == set(pb.LAYOUTS) and hashers == set(pb.HASHERS)


@pytest.mark.parametrize("version", VERSIONS)
def test_upgrade_mismatch_vector_is_refused_while_crypto_js_returned_nothing_useful(version):
    data = load(version)
    cases = [t for _, t in vectors.iter_tests(data) if "UpgradeMismatch" in t["flags"]]
    assert len(cases) == 1
    case = cases[0]
    # what real crypto-js did: "" or "Malformed UTF-8 data", never an error about the key
    got = case["cryptojsResult"]
    assert got.get("utf8Error") == "Malformed UTF-8 data" or got.get("utf8") != '{"co2":1223,"temp":21.4}', got
    r = case["readWith"]
    with pytest.raises(PaddingError) as exc:
        pb.open_text(case["wire"], case["passphrase"], pb.Settings(r["hasher"], r["iterations"], r["keySize"]))
    assert "4.2.0 changed the defaults" in str(exc.value)
    assert case["passphrase"] not in str(exc.value)
    # with the sender's defaults the same text opens
    assert pb.open_text(case["wire"], case["passphrase"], f"cryptojs-{version}") == b'{"co2":1223,"temp":21.4}'


# -- Python seals, real crypto-js decrypts -------------------------------------------------------------------------

# (settings given to Python, options given to CryptoJS.PBKDF2 (None = no options: the version's defaults))
EXPLICIT = [
    ("sha1:1000:256", {"keySize": 256, "hasher": "sha1", "iterations": 1000}),
    ("sha256:1000:256", {"keySize": 256, "hasher": "sha256", "iterations": 1000}),
    ("sha512:1000:256", {"keySize": 256, "hasher": "sha512", "iterations": 1000}),
    ("sha256:10000:128", {"keySize": 128, "hasher": "sha256", "iterations": 10000}),
    ("sha1:1:192", {"keySize": 192, "hasher": "sha1", "iterations": 1}),
]


@pytest.mark.parametrize("version", VERSIONS)
def test_python_seals_real_crypto_js_decrypts(version):
    requests, expected = [], []
    cases = [(spec, opts) for spec, opts in EXPLICIT]
    # the gist's call: keySize and iterations given, the hasher left to the version's default
    cases.append(("sha256:100:256" if version == "4.2.0" else "sha1:100:256", {"keySize": 256, "iterations": 100}))
    if version != "4.2.0":  # 4.2.0's defaults cost ~10 s per derivation in crypto-js: one case below
        cases.append((f"cryptojs-{version}", None))
    for i, (spec, options) in enumerate(cases):
        for j, layout in enumerate(pb.LAYOUTS):
            salt = bytes([i, j]) * (4 if (i + j) % 4 == 0 else 8)  # 8- and 16-byte salts
            iv = bytes(range(16 * j + i, 16 * j + i + 16))
            text, parts = pb.seal(MSG.encode(), "pässwort", spec, layout, salt, iv, salt_bytes=len(salt))
            req = {"op": "pbkdf2-decrypt", "lib": version, "layout": layout, "text": text, "passphrase": "pässwort",
                   "options": options, "saltBytes": len(salt)}
            if layout == "separate":
                req.update(salt=salt.hex(), iv=iv.hex())
            requests.append(req)
            expected.append((spec, layout))
    if version == "4.2.0":
        text, _ = pb.seal(MSG.encode(), "pw", "cryptojs-4.2.0", "concat", bytes(16), bytes(range(16)))
        requests.append({"op": "pbkdf2-decrypt", "lib": version, "layout": "concat", "text": text, "passphrase": "pw",
                         "options": None})
        expected.append(("cryptojs-4.2.0", "concat"))
    answers = crypto_js(requests)
    for (spec, layout), answer in zip(expected, answers):
        assert answer.get("utf8") == MSG, (spec, layout, answer)


@pytest.mark.parametrize("version", VERSIONS)
def test_real_crypto_js_seals_python_opens_through_the_cli(version, cli):
    requests = []
    for layout in pb.LAYOUTS:
        requests.append({"op": "pbkdf2-encrypt", "lib": version, "layout": layout, "message": MSG, "passphrase": "pw",
                         "salt": "a1" * 16, "iv": "b2" * 16,
                         "options": {"keySize": 256, "hasher": "sha512", "iterations": 10}})
    answers = crypto_js(requests)
    for layout, answer in zip(pb.LAYOUTS, answers):
        args = ["open", "--profile", "cryptojs-pbkdf2", "--passphrase", "pw", "--pbkdf2", "sha512:10:256",
                "--pbkdf2-layout", layout]
        if layout == "separate":
            args += ["--salt", "a1" * 16, "--iv", "b2" * 16]
        proc = cli(*args, stdin=answer["wire"].encode() + b"\n")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == MSG.encode()
        # and Python's seal writes the very same text
        sealed, _ = pb.seal(MSG.encode(), "pw", "sha512:10:256", layout, bytes.fromhex("a1" * 16),
                            bytes.fromhex("b2" * 16))
        assert sealed == answer["wire"]


def test_cli_seal_and_open_each_layout(cli):
    for layout in pb.LAYOUTS:
        args = ["--profile", "cryptojs-pbkdf2", "--passphrase", "pw", "--pbkdf2", "cryptojs-4.1.1",
                "--pbkdf2-layout", layout]
        sealed = cli("seal", *args, "--iv", "00" * 16, stdin=b"hello")
        assert sealed.returncode == 0, sealed.stderr
        extra = []
        if layout == "separate":
            assert b"--salt " in sealed.stderr  # the random salt is printed so it can travel with the ciphertext
            extra = ["--salt", sealed.stderr.decode().split("--salt ")[1].split()[0], "--iv", "00" * 16]
        opened = cli("open", *args, *extra, stdin=sealed.stdout)
        assert opened.returncode == 0, opened.stderr
        assert opened.stdout == b"hello"
        wrong = cli("open", *[a if a != "cryptojs-4.1.1" else "cryptojs-4.2.0" for a in args], *extra,
                    stdin=sealed.stdout)
        assert wrong.returncode == 3 and b"4.2.0 changed the defaults" in wrong.stderr


def test_bad_input_is_refused_clearly():
    with pytest.raises(UsageError):
        pb.parse_settings("md5:1000:256")
    with pytest.raises(UsageError):
        pb.parse_settings("sha1:0:256")
    with pytest.raises(UsageError):
        pb.parse_settings("cryptojs-4.0.0")
    with pytest.raises(MalformedError, match="not hex"):
        pb.open_text("zz" * 16 + "00" * 16 + "AAAAAAAAAAAAAAAAAAAAAA==", "pw", "sha1:1:128")
    with pytest.raises(MalformedError, match="concat layout needs"):
        pb.open_text("00" * 20, "pw", "sha1:1:128")
    with pytest.raises(MalformedError, match="unexpected member"):
        pb.open_text('{"ct": "AAAAAAAAAAAAAAAAAAAAAA==", "iv": "00", "s": "00", "x": "1"}', "pw", "sha1:1:128",
                     "json")
    with pytest.raises(UsageError, match="--salt and --iv"):
        pb.open_text("AAAAAAAAAAAAAAAAAAAAAA==", "pw", "sha1:1:128", "separate")
    with pytest.raises(MalformedError, match="multiple of 16"):
        pb.open_text("00" * 32 + "AAAA", "pw", "sha1:1:128")


# -- openssl enc -pbkdf2 -md sha1 (Debian's openssl CLI) ----------------------------------------------------------

def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.fail("the openssl CLI is required: run .ci/install")
    return path


@pytest.mark.parametrize("md", ("sha1", "sha512"))
@pytest.mark.parametrize("key_size", (128, 256))
def test_openssl_pbkdf2_md_both_directions(md, key_size):
    kdf = f"pbkdf2-{md}:1000"
    args = cryptojs.openssl_args(key_size, kdf, decrypt=False)
    assert args[4:9] == ["-md", md, "-pbkdf2", "-iter", "1000"]
    args[0] = openssl()
    made = subprocess.run(args + ["-pass", "pass:pw"], input=MSG.encode(), capture_output=True, timeout=30)
    assert made.returncode == 0, made.stderr
    assert cryptojs.decrypt_passphrase(made.stdout.decode(), "pw", key_size, kdf) == MSG.encode()
    text = cryptojs.encrypt_passphrase(MSG.encode(), "pw", key_size, kdf)
    args = cryptojs.openssl_args(key_size, kdf)
    args[0] = openssl()
    read = subprocess.run(args + ["-pass", "pass:pw"], input=text.encode(), capture_output=True, timeout=30)
    assert read.returncode == 0, read.stderr
    assert read.stdout == MSG.encode()
    with pytest.raises(PaddingError):  # the default -md sha256 does not read it
        cryptojs.decrypt_passphrase(made.stdout.decode(), "pw", key_size, "pbkdf2-sha256:1000")


@pytest.mark.parametrize("version", VERSIONS)
def test_real_crypto_js_reads_every_versions_file(version):
    """The verify peer cryptojs-native-<version>: this crypto-js reads all three files (the cross-version table)."""
    from iotenvelope.verify.peers import cryptojs_native
    require_node()
    peer = cryptojs_native.CryptoJsNativePeer(version)
    assert peer.unavailable_reason() is None
    for file_version in VERSIONS:
        path = ROOT / "vectors" / "cryptojs" / f"cryptojs_pbkdf2_{file_version}.json"
        data = load(file_version)
        part = peer.subset(data)
        assert part is not None and part.left_out == 4  # the 250000-iteration derivations
        result = peer.run(path, part.data)
        assert result.failed == 0, result.failures
        assert result.passed == data["numberOfTests"] - part.left_out
