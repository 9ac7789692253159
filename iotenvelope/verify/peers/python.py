"""The Python implementation (this package, on pycryptodome) as a verify peer.

It is a runner like any other (docs/runner-protocol.md): :func:`handle` answers the protocol's requests, and the
python row runs it in-process through the same checking code as ``verify --peer NAME=COMMAND`` programs. The
same handler serves stdin/stdout when run as ``python -m iotenvelope.verify.peers.python`` (used by the tests
to prove that the process path and the in-process path agree).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from ... import __version__, envelope
from ...envelope import Freshness
from ...errors import IotEnvelopeError
from ...primitives import b64, cipher, openssl, padding
from .. import legacy_tail, protocol
from . import Peer, Result

ORDER = 0


class BadRequest(Exception):
    """A request this handler cannot read (missing or mistyped member)."""


def _get(request: dict, key: str, kind: type | tuple = str) -> Any:
    if key not in request:
        raise BadRequest(f"missing member {key}")
    value = request[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest(f"member {key} has the wrong type")
    return value


def _hex(request: dict, key: str) -> bytes:
    try:
        return bytes.fromhex(_get(request, key))
    except ValueError:
        raise BadRequest(f"member {key} is not hex") from None


def _params(request: dict) -> dict:
    params = request.get("params", {})
    if not isinstance(params, dict):
        raise BadRequest("params must be an object")
    return params


def _forms() -> list[str]:
    return ["compact", "json", "lean"]


def _open(request: dict, replay: Any = None) -> dict:
    form = _get(request, "form")
    secret = _hex(request, "secret_hex")
    now = request.get("now")
    fresh = None if now is None else Freshness()
    device = _get(request, "device") if form == "lean" else None
    opened = envelope.open(secret, _get(request, "envelope"), direction=_get(request, "direction"), format=form,
                           freshness=fresh, now=now, device=device, replay=replay)
    return {"plaintext_hex": opened.plaintext.hex(), "device": opened.device, "direction": opened.direction,
            "type": opened.type, "seq": opened.seq, "ts": opened.ts}


def _open_many(request: dict) -> dict:
    """Each envelope in turn against one fresh replay window (W = 64): one answer per envelope."""
    from ...replay import MemoryStore
    texts = _get(request, "envelopes", list)
    store = MemoryStore()
    results = []
    for text in texts:
        try:
            results.append({"ok": True, **_open({**request, "envelope": text}, replay=store)})
        except IotEnvelopeError as exc:
            results.append({"ok": False, "error": exc.code, "message": str(exc)})
    return {"results": results}


def _seal(request: dict) -> dict:
    form = _get(request, "form")
    fields = dict(device=_get(request, "device"), seq=_get(request, "seq", int), ts=_get(request, "ts", int),
                  direction=_get(request, "direction"), type=_get(request, "type"))
    secret, plaintext = _hex(request, "secret_hex"), _hex(request, "plaintext_hex")
    if form == "lean":
        return {"envelope": envelope.seal(secret, plaintext, format="lean", **fields)}
    return {"envelope": envelope.seal(secret, plaintext, iv=_hex(request, "iv_hex"), format=form, **fields)}


def _cbc_decrypt(request: dict) -> dict:
    return {"plaintext_hex": cipher.decrypt(_hex(request, "key_hex"), _hex(request, "iv_hex"),
                                            _hex(request, "ct_hex")).hex()}


def _cbc_encrypt(request: dict) -> dict:
    return {"ct_hex": cipher.encrypt(_hex(request, "key_hex"), _hex(request, "iv_hex"),
                                     _hex(request, "plaintext_hex")).hex()}


# ---- legacy profiles -------------------------------------------------------------------------------------------

def _cryptojs_passphrase(request: dict, sealing: bool) -> dict:
    from ...profiles import cryptojs
    params = _params(request)
    bits, kdf, passphrase = _get(params, "key_bits", int), _get(params, "kdf"), _get(request, "passphrase")
    if sealing:
        salt = request.get("salt_hex")
        text = cryptojs.encrypt_passphrase(_hex(request, "plaintext_hex"), passphrase, bits, kdf,
                                           salt=None if salt is None else _hex(request, "salt_hex"))
        return {"text": text}
    text = _get(request, "text")
    try:
        return {"plaintext_hex": cryptojs.decrypt_passphrase(text, passphrase, bits, kdf).hex()}
    except IotEnvelopeError as exc:
        # what crypto-js's non-validating unpadding returns instead (the prediction the error messages give)
        salt, ct = openssl.unpack(b64.decode_std(text))
        key, iv = cryptojs.derive_passphrase_key(passphrase, salt, bits, kdf)
        exc.lax = padding.cryptojs_lax_unpad(cipher.decrypt_raw(key, iv, ct), "pkcs7").hex()  # type: ignore
        raise


def _cryptojs_key(request: dict, sealing: bool) -> dict:
    from ...profiles import cryptojs
    pad = _get(_params(request), "padding")
    key, iv = _hex(request, "key_hex"), _hex(request, "iv_hex")
    if sealing:
        return {"text": cryptojs.encrypt_key(_hex(request, "plaintext_hex"), key, iv, pad)}
    text = _get(request, "text")
    try:
        return {"plaintext_hex": cryptojs.decrypt_key(text, key, iv, pad).hex()}
    except IotEnvelopeError as exc:
        raw = cipher.decrypt_raw(key, cryptojs.normalize_iv(iv), b64.decode_std(text))
        exc.lax = padding.cryptojs_lax_unpad(raw, pad).hex()  # type: ignore[attr-defined]
        raise


def _esp8266(request: dict, sealing: bool) -> dict:
    from ...profiles import esp8266
    key = _hex(request, "key_hex")
    if sealing:
        form = _get(_params(request), "iv_form")
        return {"text": esp8266.seal_esp8266(_hex(request, "plaintext_hex"), key, _hex(request, "iv_hex"), form)}
    message, form = esp8266.open_esp8266(_get(request, "text"), key)
    return {"plaintext_hex": message.hex(), "iv_form": form}


def _spaniakos(request: dict, sealing: bool, legacy: bool = False) -> dict:
    from ...profiles import spaniakos
    params = _params(request)
    wire = "hex" if legacy else _get(params, "wire")
    size = _get(params, "size") if legacy else "strlen"
    iv_hex = request.get("iv_hex")
    opts = argparse.Namespace(key=_get(request, "key_hex"), iv=iv_hex, passphrase=None, spaniakos_wire=wire,
                              spaniakos_size=size)
    profile = spaniakos.PROFILES[1 if legacy else 0]
    key = _hex(request, "key_hex")

    def quiet(_message: str) -> None:
        return None

    if sealing:
        plaintext, iv = _hex(request, "plaintext_hex"), _hex(request, "iv_hex")
        text = profile.seal(plaintext, opts, quiet)
        ct = bytes.fromhex(text) if legacy else b64.decode_std(text)
        return {"text": text, "iv_after_hex": spaniakos.iv_after(iv, ct).hex()}
    text = _get(request, "text")
    out: dict = {"plaintext_hex": profile.open(text, opts, quiet).plaintext.hex()}
    if wire == "b64" and iv_hex is not None:
        out["raw_hex"] = spaniakos.decrypt_raw(key, _hex(request, "iv_hex"), b64.decode_std(text)).hex()
    return out


def _dweeter(request: dict, sealing: bool) -> dict:
    from ...profiles import dweeter
    params = _params(request)
    mailbox, use_b64, passphrase = _get(params, "mailbox"), _get(params, "use_base64", bool), _get(request, "passphrase")
    if sealing:
        sealed = dweeter.seal_data(_get(request, "data", dict), passphrase, mailbox, _get(request, "ts", int), use_b64)
        return {"thing": sealed["thing"], "body": json.dumps(sealed["content"])}
    return {"data": dweeter.open_message(_get(request, "dweet", dict), passphrase, use_b64, mailbox).data}


def _fernet(request: dict, sealing: bool) -> dict:
    from ...profiles import fernet_token as fernet
    key = fernet.parse_key(_get(request, "key"))
    now = _get(request, "now", int)
    if sealing:
        return {"text": fernet.encrypt(key, _hex(request, "plaintext_hex"), now=now, iv=_hex(request, "iv_hex"))}
    ttl = _params(request).get("ttl")
    return {"plaintext_hex": fernet.decrypt(key, _get(request, "text"), ttl=ttl, now=now).hex()}


LEGACY: dict[str, Callable[[dict, bool], dict]] = {
    "cryptojs-passphrase": _cryptojs_passphrase, "cryptojs-key": _cryptojs_key, "esp8266-b64": _esp8266,
    "spaniakos": _spaniakos, "spaniakos-legacy": lambda r, s: _spaniakos(r, s, legacy=True),
    "dweeter": _dweeter, "fernet": _fernet,
}
LEGACY.update(legacy_tail.HANDLERS)  # issue 14: cryptojs-pbkdf2 and the Arduino AES libraries


def _legacy(sealing: bool) -> Callable[[dict], dict]:
    def run(request: dict) -> dict:
        profile = _get(request, "profile")
        if profile not in LEGACY:
            return {"ok": False, "error": "unsupported", "message": f"no profile {profile[:40]!r}"}
        return LEGACY[profile](request, sealing)
    return run


OPS: dict[str, Callable[[dict], dict]] = {
    "open": _open, "open-many": _open_many, "seal": _seal, "cbc-decrypt": _cbc_decrypt, "cbc-encrypt": _cbc_encrypt,
    "legacy-open": _legacy(False), "legacy-seal": _legacy(True),
}


def hello() -> dict:
    return {"ok": True, "protocol": protocol.PROTOCOL_VERSION, "name": "iotenvelope-python",
            "version": __version__, "ops": sorted(OPS), "forms": _forms(), "profiles": sorted(LEGACY)}


def handle(request: dict) -> dict:
    """One protocol request -> its answer (never raises for a bad request)."""
    rid = request.get("id") if isinstance(request, dict) else None
    op = request.get("op") if isinstance(request, dict) else None
    if op == "hello":
        return {"id": rid, **hello()}
    if op not in OPS:
        return {"id": rid, "ok": False, "error": "unsupported", "message": f"no op {str(op)[:40]!r}"}
    form = request.get("form")
    if form is not None and form not in _forms():
        return {"id": rid, "ok": False, "error": "unsupported", "message": f"no form {str(form)[:40]!r}"}
    try:
        answer = OPS[op](request)
    except BadRequest as exc:
        return {"id": rid, "ok": False, "error": "bad-request", "message": str(exc)}
    except IotEnvelopeError as exc:
        out = {"id": rid, "ok": False, "error": exc.code, "message": str(exc)}
        if getattr(exc, "lax", None) is not None:
            out["lax_plaintext_hex"] = exc.lax  # type: ignore[attr-defined]
        return out
    if answer.get("ok") is False:
        return {"id": rid, **answer}
    return {"id": rid, "ok": True, **answer}


class RunnerPeer(Peer):
    """A matrix row answered by a protocol runner (in-process or a program). Every file whose algorithm the
    checking code knows is given to it; what the runner lacks comes back unsupported, never passed."""

    algorithms = frozenset(protocol.CASES)

    def __init__(self, name: str, runner: protocol.Runner, reason: str | None = None):
        self.name = name
        self.runner = runner
        self._reason = reason

    def unavailable_reason(self) -> str | None:
        return self._reason

    def run(self, path: Path, data: dict) -> Result:
        checked = protocol.check_file(data, self.runner)
        result = Result(cases=checked.cases)
        for case in checked.cases:
            if case.status == "passed":
                result.passed += 1
            elif case.status == "failed":
                result.failed += 1
                result.failures.append(f"{case.label}: {case.detail}")
        result.unsupported = checked.count("unsupported")
        result.unsupported_reason = checked.unsupported_reason()
        return result

    def close(self) -> None:
        self.runner.close()


def python_peer() -> RunnerPeer:
    """This process's own library; AES on :data:`iotenvelope.primitives.cipher.BACKEND` (cryptography when it
    is installed, else pycryptodome)."""
    return RunnerPeer("python", protocol.InProcessRunner("python", handle))


def pycryptodome_peer() -> RunnerPeer:
    """The same handler in a child process whose AES runs on pycryptodome (IOTENVELOPE_AES_BACKEND): with
    ``cryptography`` installed the ``python`` row runs on it, so each backend gets its own row."""
    import shlex

    command = f"env IOTENVELOPE_AES_BACKEND=pycryptodome {shlex.quote(sys.executable)} -m {__name__}"
    return RunnerPeer("python-pycryptodome", protocol.ProcessRunner("python-pycryptodome", command))


def discover() -> list[Peer]:
    return [python_peer(), pycryptodome_peer()]


def serve(stdin=None, stdout=None) -> int:
    """Answer protocol requests on stdin/stdout until end of input."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    for line in stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            answer = {"id": None, "ok": False, "error": "bad-request", "message": "not a JSON object"}
        else:
            answer = handle(request)
        stdout.write(json.dumps(answer, ensure_ascii=True) + "\n")
        stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
