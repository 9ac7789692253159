"""Vector files: reproducible generation, and the verify matrix contract."""

import json

from iotenvelope import verify
from iotenvelope.verify import vectors
from iotenvelope.verify.peers import Peer, Result, key_size_subset

from conftest import ROOT


def test_envelope_vectors_regenerate_byte_identical():
    """The generator reproduces the committed file byte for byte. A file written by an earlier release may differ
    in its provenance alone (``generatorVersion``, ``source.version``: the release that wrote it), never in a case.
    (envelope_v1.json stays as 0.1.0 wrote it until it is regenerated with the trailing-newline cases of SPEC.md
    §5: the JavaScript row recognises that file's superseded "trailing newline" case by that provenance.)"""
    committed = (ROOT / "vectors" / "envelope_v1.json").read_text(encoding="utf-8")
    generated = vectors.generate_envelope_v1(1)
    old = json.loads(committed)
    if old["generatorVersion"] != generated["generatorVersion"]:
        assert old["generatorVersion"] == old["source"]["version"] and _release(old["generatorVersion"]) < _release(iotenvelope_version())
        generated["generatorVersion"] = generated["source"]["version"] = old["generatorVersion"]
    assert vectors.dump(generated) == committed


def _release(version):
    return tuple(int(part) for part in version.split("."))


def iotenvelope_version():
    import iotenvelope
    return iotenvelope.__version__


def test_envelope_vectors_cover_every_error_name():
    data = vectors.load(ROOT / "vectors" / "envelope_v1.json")
    errors = {t["error"] for _, t in vectors.iter_tests(data) if t["result"] == "invalid"}
    assert errors == {"malformed", "unsupported-version", "auth", "wrong-direction", "padding"}
    assert data["numberOfTests"] == sum(1 for _ in vectors.iter_tests(data))
    ids = [t["tcId"] for _, t in vectors.iter_tests(data)]
    assert ids == list(range(1, len(ids) + 1))


def test_every_vector_file_has_provenance():
    for path in (ROOT / "vectors").glob("**/*.json"):
        if path.name in ("package.json", "package-lock.json"):
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data.get("source", {}).get("implementation"), path
        assert data.get("algorithm"), path


class _Missing(Peer):
    name = "missing-peer"
    algorithms = frozenset({"iotenvelope-v1"})

    def unavailable_reason(self):
        return "frobnicator not installed"


class _Broken(Peer):
    name = "broken-peer"
    algorithms = frozenset({"iotenvelope-v1"})

    def run(self, path, data):
        return Result(passed=1, failed=2, failures=["tcId 1: wrong", "tcId 2: wrong"])


def test_matrix_reports_not_available_and_failures():
    cells = verify.run(ROOT / "vectors", peers=[_Missing(), _Broken()])
    assert not verify.ok(cells)
    out = json.loads(verify.as_json(cells))
    assert out["ok"] is False
    missing = [c for c in out["matrix"] if c["impl"] == "missing-peer"]
    assert missing and all(c["available"] is False and c["passed"] == 0 for c in missing)
    text = verify.render(cells)
    assert "not available" in text and "frobnicator not installed" in text and "FAILED" in text
    assert "passed" not in text.split("missing-peer", 1)[1].splitlines()[0]
    assert not verify.ok(verify.run(ROOT / "vectors", peers=[_Missing()]))  # nothing ran: not ok


def test_verify_cli_json(cli):
    proc = cli("verify", "--json", "--impl", "python")
    out = json.loads(proc.stdout)
    assert proc.returncode == 0 and out["ok"] is True
    files = {c["file"]: c for c in out["matrix"]}
    assert files["envelope_v1.json"]["passed"] == vectors.load(ROOT / "vectors" / "envelope_v1.json")["numberOfTests"]
    assert files["wycheproof/aes_cbc_pkcs5_test.json"] == {"impl": "python", "file": "wycheproof/aes_cbc_pkcs5_test.json",
                                                           "passed": 216, "failed": 0, "available": True}
    assert files["fernet/fernet_spec.json"]["passed"] == 10


class _Subset(Peer):
    """Checks only the 128-bit groups of the Wycheproof file, and records what it was given."""

    algorithms = frozenset({"AES-CBC-PKCS5"})

    def __init__(self, name, reason=None):
        self.name, self._reason, self.seen = name, reason, []

    def unavailable_reason(self):
        return self._reason

    def subset(self, data):
        return key_size_subset(data, (128,), "no AES-192/256 in the frobnicator")

    def run(self, path, data):
        self.seen.append(data)
        result = Result()
        for _, test in vectors.iter_tests(data):
            result.record(True, str(test["tcId"]))
        return result


def test_matrix_reports_a_subset_as_its_own_column_and_never_counts_left_out_tests():
    peer = _Subset("subset-peer")
    cells = verify.run(ROOT / "vectors", peers=[peer, _Subset("subset-missing", "frobnicator not installed")])
    file = "wycheproof/aes_cbc_pkcs5_test.json [128]"
    assert [(c.impl, c.file, c.available, c.passed, c.unsupported) for c in cells] == [
        ("subset-peer", file, True, 72, 144), ("subset-missing", file, False, 0, 144)]
    # the peer was given only the groups it checks
    assert [g["keySize"] for g in peer.seen[0]["testGroups"]] == [128]
    out = json.loads(verify.as_json(cells))
    assert out["ok"] is True
    assert out["matrix"][0] == {"impl": "subset-peer", "file": file, "passed": 72, "failed": 0, "available": True,
                                "unsupported": 144, "unsupportedReason": "no AES-192/256 in the frobnicator"}
    text = verify.render(cells)
    assert f"[1] {file}  (part of the file" in text
    assert ("[1] 144 tests unsupported by subset-peer, subset-missing: no AES-192/256 in the frobnicator"
            in text.splitlines())
    assert "216 passed" not in text and "passed every test it checked" in text.splitlines()[-1]


def test_key_size_subset():
    data = vectors.load(ROOT / "vectors" / "wycheproof" / "aes_cbc_pkcs5_test.json")
    assert key_size_subset(data, (128, 192, 256), "x") is None  # nothing left out: the whole file
    part = key_size_subset(data, (256, 128), "why")
    assert (part.label, part.left_out, part.why) == ("[128,256]", 72, "why")
    assert sum(1 for _ in vectors.iter_tests(part.data)) == 144 and part.data["algorithm"] == "AES-CBC-PKCS5"
    assert len(data["testGroups"]) == 3  # the loaded file is not changed
