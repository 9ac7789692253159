"""Vector files: reproducible generation, and the verify matrix contract."""

import json

from iotenvelope import vectors, verify
from iotenvelope.peers import Peer, Result

from conftest import ROOT


def test_envelope_vectors_regenerate_byte_identical():
    committed = (ROOT / "vectors" / "envelope_v1.json").read_text(encoding="utf-8")
    assert vectors.dump(vectors.generate_envelope_v1(1)) == committed


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
