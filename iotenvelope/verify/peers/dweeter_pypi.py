"""The real ``dweeter`` 0.3.0 package from PyPI as a verify peer (and the harness tests use to drive it).

Only two things are replaced while it runs, both at module level and restored afterwards:

* the HTTP layer: ``basicdweet``'s ``requests`` module becomes :class:`FakeDweetService`, an in-memory
  stand-in for dweet.io that stores what is posted and answers the "get latest" call with it;
* the clock: ``dweeter``'s ``time`` module becomes one whose ``gmtime()`` returns a pinned instant, so a
  message is reproducible.

Everything else - key derivation, AES (cryptomsg/pyaes), encoding, the receiver's checks - is the package's
own code. The vector file's invalid cases are produced by :func:`generate_invalid_tests` from messages the
real package sent (recombined or altered), and each one is confirmed to be refused by the real receiver.
"""

from __future__ import annotations

import calendar
import contextlib
import copy
import importlib
import json
import time
import types
from pathlib import Path

from ...primitives import b64
from .. import protocol, vectors
from . import Peer, Result
from .python import RunnerPeer

ORDER = 60
ALGORITHM = "dweeter-0.3.0"
WANTED_VERSION = "0.3.0"


def _import():
    """(dweeter.dweeter module, basicdweet.basicdweet module); ImportError when not installed."""
    return importlib.import_module("dweeter.dweeter"), importlib.import_module("basicdweet.basicdweet")


def versions() -> dict:
    """Installed versions of dweeter and the libraries it runs on (for vector provenance)."""
    from importlib import metadata
    out = {}
    for name in ("dweeter", "cryptomsg", "pyaes", "basicdweet"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


class _Response:
    def __init__(self, payload: dict, status: int = 200):
        self.status_code = status
        self._payload = payload

    def json(self) -> dict:
        return copy.deepcopy(self._payload)


class FakeDweetService:
    """dweet.io in memory: ``post`` stores a dweet per thing, ``get`` returns the latest one.

    ``created`` is the service timestamp given to the next stored dweet. ``posts`` records every request as
    (method, url, headers, body) exactly as basicdweet built it.
    """

    BASE = "https://dweet.io"

    def __init__(self, created: str = "2024-01-01T00:00:00.000Z"):
        self.created = created
        self.store: dict[str, dict] = {}
        self.posts: list[tuple[str, str, dict, str]] = []
        self._transactions = 0

    def _thing(self, url: str, prefix: str) -> str:
        path = url[len(self.BASE):] if url.startswith(self.BASE) else url
        if not path.startswith(prefix):
            raise AssertionError(f"unexpected dweet.io call {url}")
        return path[len(prefix):]

    def post(self, url, data=None, headers=None, **kwargs):
        thing = self._thing(url, "/dweet/for/")
        self.posts.append(("POST", url, dict(headers or {}), data))
        self._transactions += 1
        dweet = {"thing": thing, "created": self.created, "content": json.loads(data),
                 "transaction": f"00000000-0000-0000-0000-{self._transactions:012d}"}
        self.store[thing] = dweet
        return _Response({"this": "succeeded", "by": "dweeting", "the": "dweet", "with": dweet})

    def get(self, url, **kwargs):
        thing = self._thing(url, "/get/latest/dweet/for/")
        if thing not in self.store:
            return _Response({"this": "failed", "with": 404, "because": f"we couldn't find this: {thing}"})
        dweet = {k: v for k, v in self.store[thing].items() if k != "transaction"}
        return _Response({"this": "succeeded", "by": "getting", "the": "dweets", "with": [dweet]})


@contextlib.contextmanager
def patched(service: FakeDweetService, gmtime: str | None = None):
    """Run the real dweeter with ``service`` as dweet.io and, if given, the clock pinned at ``gmtime``
    (``YYYY-MM-DDTHH:MM:SS`` UTC)."""
    dweeter_mod, basic_mod = _import()
    saved = (basic_mod.requests if hasattr(basic_mod, "requests") else None, dweeter_mod.time)
    basic_mod.requests = service
    if gmtime is not None:
        pinned = time.strptime(gmtime, "%Y-%m-%dT%H:%M:%S")
        dweeter_mod.time = types.SimpleNamespace(gmtime=lambda *a: pinned, time=time.time)
    try:
        yield dweeter_mod
    finally:
        if saved[0] is None:
            del basic_mod.requests
        else:
            basic_mod.requests = saved[0]
        dweeter_mod.time = saved[1]


def send(mailbox: str, key: str, data: dict, gmtime: str, use_base64: bool,
         created: str = "2024-01-01T00:00:00.000Z") -> tuple[FakeDweetService, dict]:
    """The real ``Dweeter.send_data`` at a pinned time; returns the service (holding the post) and its reply."""
    service = FakeDweetService(created)
    with patched(service, gmtime) as mod:
        reply = mod.Dweeter(mailbox, key, debug=True, base_url=FakeDweetService.BASE,
                            use_base64=use_base64).send_data(copy.deepcopy(data))
    return service, reply


def receive(mailbox: str, key: str, use_base64: bool, dweet: dict, times: int = 1) -> list:
    """The real ``Dweeter.get_new_data`` called ``times`` times against a service holding ``dweet``."""
    service = FakeDweetService()
    service.store[dweet["thing"]] = copy.deepcopy(dweet)
    with patched(service) as mod:
        receiver = mod.Dweeter(mailbox, key, debug=False, base_url=FakeDweetService.BASE, use_base64=use_base64)
        return [receiver.get_new_data() for _ in range(times)]


def ts_of(gmtime: str) -> int:
    return calendar.timegm(time.strptime(gmtime, "%Y-%m-%dT%H:%M:%S"))


def generate_invalid_tests(first_tc_id: int) -> list[dict]:
    """Invalid messages derived from real dweeter output; each is refused by the real receiver.

    Deterministic (pinned clock, no randomness in dweeter), so a test can regenerate and compare them.
    """
    mailbox, key, created = "greenhouse-7", "s3cr3t passphrase", "2025-01-02T03:04:09.120Z"
    tests = []

    def add(comment, flags, use_base64, dweet):
        tests.append({"tcId": first_tc_id + len(tests), "comment": comment, "flags": flags, "mailbox": mailbox,
                      "key": key, "useBase64": use_base64, "dweet": dweet, "result": "invalid"})

    sent = {mode: send(mailbox, key, {"temp": 21.5}, "2025-01-02T03:04:05", mode, created)[1] for mode in (False, True)}
    for use_base64 in (False, True):
        a = sent[use_base64]
        _, b = send(mailbox, key, {"temp": 99.0}, "2025-01-02T03:05:00", use_base64, created)
        (ka, va), = a["content"].items()
        (kb, vb), = b["content"].items()
        mode = "base64" if use_base64 else "hex"
        add(f"{mode}: key of one message spliced onto the value of a later one", ["Splice"], use_base64,
            {"thing": a["thing"], "created": created, "content": {ka: vb}})
        _, other = send(mailbox, "another passphrase", {"temp": 21.5}, "2025-01-02T03:04:05", use_base64, created)
        add(f"{mode}: sealed under another passphrase (same mailbox)", ["WrongKey"], use_base64,
            {"thing": a["thing"], "created": created, "content": other["content"]})
        cut = (b64.decode_std(va) if use_base64 else bytes.fromhex(va))[:-16]
        add(f"{mode}: last ciphertext block of the value removed", ["Truncated"], use_base64,
            {"thing": a["thing"], "created": created,
             "content": {ka: b64.encode_std(cut) if use_base64 else cut.hex()}})
    # Mode mismatch: one mode's content read by the other mode's receiver (served under the receiver's thing).
    add("base64-mode content read by a hex-mode receiver", ["ModeMismatch"], False,
        {"thing": sent[False]["thing"], "created": created, "content": sent[True]["content"]})
    add("hex-mode content read by a base64-mode receiver", ["ModeMismatch"], True,
        {"thing": sent[True]["thing"], "created": created, "content": sent[False]["content"]})
    for test in tests:
        refused = receive(test["mailbox"], test["key"], test["useBase64"], test["dweet"]) == [None]
        if not refused:
            raise AssertionError(f"the real dweeter accepted invalid case {test['tcId']} ({test['comment']})")
    return tests


def check_file(data: dict) -> Result:
    """Run the real dweeter over a ``dweeter-0.3.0`` vector file."""
    result = Result()
    for group in data["testGroups"]:
        for test in group["tests"]:
            label = vectors.label(test)
            if test["result"] == "invalid":
                got = receive(test["mailbox"], test["key"], test["useBase64"], test["dweet"])
                result.record(got == [None], label, f"the real receiver returned {got!r}, expected refusal")
                continue
            service, reply = send(test["mailbox"], test["key"], test["data"], test["gmtime"], test["useBase64"],
                                  test["dweet"]["created"])
            method, url, headers, body = service.posts[0]
            wire = test["wire"]
            if (method, url, headers, body) != (wire["method"], wire["url"], wire["headers"], wire["body"]):
                result.record(False, label, "the real send_data posted different bytes")
                continue
            got = receive(test["mailbox"], test["key"], test["useBase64"], test["dweet"], times=2)
            want = [test["received"], None]
            result.record(got == want, label, f"the real get_new_data returned {got!r}, expected {want!r}")
    return result


def handle(request: dict) -> dict:
    """The real dweeter as a protocol runner (docs/runner-protocol.md, profile ``dweeter``): legacy-seal is
    ``send_data`` at the request's time (the POST it made is the answer), legacy-open is ``get_new_data`` against a
    service holding the request's dweet."""
    rid, op = request.get("id"), request.get("op")
    if op == "hello":
        return {"id": rid, "ok": True, "protocol": protocol.PROTOCOL_VERSION, "name": "dweeter (PyPI)",
                "version": str(versions()["dweeter"]), "ops": ["legacy-open", "legacy-seal"], "forms": [],
                "profiles": ["dweeter"]}
    if op not in ("legacy-open", "legacy-seal") or request.get("profile") != "dweeter":
        return {"id": rid, "ok": False, "error": "unsupported", "message": "only the dweeter profile"}
    try:
        params = request["params"]
        mailbox, use_base64, key = params["mailbox"], params["use_base64"], request["passphrase"]
        if op == "legacy-seal":
            gmtime = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(request["ts"]))
            service, _ = send(mailbox, key, request["data"], gmtime, use_base64)
            method, url, headers, body = service.posts[0]
            return {"id": rid, "ok": True, "thing": url.rsplit("/", 1)[1], "body": body,
                    "wire": {"method": method, "url": url, "headers": headers, "body": body}}
        (got,) = receive(mailbox, key, use_base64, request["dweet"])
    except (KeyError, TypeError, ValueError) as exc:
        return {"id": rid, "ok": False, "error": "bad-request", "message": type(exc).__name__}
    if got is None:
        return {"id": rid, "ok": False, "error": "refused", "message": "the real get_new_data returned None"}
    return {"id": rid, "ok": True, "data": got}


class DweeterPackagePeer(RunnerPeer):
    """The real package answering the protocol in-process: verify judges it with the same code as every row."""

    algorithms = frozenset({ALGORITHM})

    def __init__(self) -> None:
        super().__init__("dweeter-pypi", protocol.InProcessRunner("dweeter-pypi", handle))

    def unavailable_reason(self) -> str | None:
        try:
            _import()
        except ImportError:
            return "the dweeter package is not installed (pip install dweeter==0.3.0; see .ci/install)"
        installed = versions()["dweeter"]
        if installed != WANTED_VERSION:
            return f"dweeter {installed} is installed; the vectors need {WANTED_VERSION}"
        return None


def discover() -> list[Peer]:
    return [DweeterPackagePeer()]


NOTES = {
    "Readme": "The example from dweeter's README (hex mode).",
    "Base64": "use_base64=True: base64 content encoding, key and IV halves swapped.",
    "Defaults": "dweeter's default mailbox and key; the data carries its own remote_time, which is overwritten.",
    "NonAscii": "Data with a non-ASCII string (json.dumps escapes it as \\uXXXX).",
    "Splice": "The encrypted key (remote_time) of one message with the encrypted value of another.",
    "WrongKey": "Content sealed under a different passphrase.",
    "Truncated": "The last ciphertext block of the value removed.",
    "ModeMismatch": "Content of one encoding mode read by a receiver in the other mode.",
}
_FLAGS = {"ex1_readme_hex": ["Readme"], "ex2_base64": ["Base64", "NonAscii"], "ex3_defaults": ["Defaults"]}
_COMMENTS = {"ex1_readme_hex": "the README example, hex mode", "ex2_base64": "base64 mode with non-ASCII data",
             "ex3_defaults": "default mailbox and key; user-supplied remote_time is overwritten"}


def convert(shared: list) -> dict:
    """Build ``vectors/dweeter/dweeter_vectors.json`` from the shared list of real-dweeter messages plus the
    invalid cases of :func:`generate_invalid_tests` (which need the real package installed)."""
    valid = []
    for item in shared:
        if "mailbox" not in item:
            continue  # the shared "splice_test_result" entry records only an outcome; see the Splice cases
        reply = item["service_reply"]
        valid.append({
            "tcId": len(valid) + 1, "comment": _COMMENTS.get(item["name"], item["name"]),
            "flags": _FLAGS.get(item["name"], []), "mailbox": item["mailbox"], "key": item["key"],
            "useBase64": item["use_base64"], "data": item["data"], "gmtime": item["gmtime"],
            "ts": ts_of(item["gmtime"]), "wire": item["wire"],
            "dweet": {"thing": reply["thing"], "created": reply["created"], "content": reply["content"]},
            "received": item["receiver_get_new_data"], "result": "valid"})
    invalid = generate_invalid_tests(len(valid) + 1)
    return {
        "algorithm": ALGORITHM,
        "schema": "iotenvelope_dweeter_test_schema_v1",
        "source": {
            "implementation": "dweeter (PyPI)", "version": WANTED_VERSION,
            "valid": "3 messages produced by the real dweeter 0.3.0 with the clock pinned and HTTP stubbed "
                     "(the project's shared dweeter_vectors.json; dependency versions not recorded there)",
            "invalid": "derived from real dweeter output by iotenvelope.peers.dweeter_pypi.generate_invalid_tests; "
                       "each refused by the real receiver",
            "libraries": {k: v for k, v in versions().items() if k != "dweeter"},
            "command": "python -m iotenvelope.peers.dweeter_pypi SHARED_dweeter_vectors.json "
                       "vectors/dweeter/dweeter_vectors.json",
        },
        "numberOfTests": len(valid) + len(invalid),
        "header": [
            "dweeter 0.3.0 messages. Valid: `Dweeter(mailbox, key, use_base64).send_data(data)` at UTC time "
            "`gmtime` (Unix `ts`) posts `wire`; dweet.io stores `dweet`; the receiver's get_new_data returns "
            "`received` (and None when asked again: the same created time is not new).",
            "Invalid: a receiver with mailbox/key/useBase64 must refuse `dweet`.",
        ],
        "notes": {flag: {"description": text} for flag, text in NOTES.items()},
        "testGroups": [{"type": "DweeterMessage", "tests": valid + invalid}],
    }


if __name__ == "__main__":  # python -m iotenvelope.peers.dweeter_pypi SHARED OUT
    import sys
    source, out = sys.argv[1:3]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(convert(json.loads(Path(source).read_text(encoding="utf-8"))), indent=1,
                                    ensure_ascii=False) + "\n", encoding="utf-8")
    print(out)
