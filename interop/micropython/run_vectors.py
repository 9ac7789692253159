# Check iotenvelope vector files with the MicroPython device module, inside a MicroPython interpreter.
#
#   micropython run_vectors.py [-v] FILE...     every case of every file; ends with "N passed, M failed"
#   micropython run_vectors.py --seal KEYHEX COUNT
#                                  COUNT compact envelopes (device "mpy", seq 1..COUNT), one per line
#   micropython run_vectors.py --serve
#                                  a verify runner (docs/runner-protocol.md): one JSON request per stdin line,
#                                  one JSON answer per stdout line, until stdin ends (see serve below)
#
# Files: envelope v1 and its lean form (open, then seal again; the lean form needs iotenv_lean and
# iotenv_state beside iotenv), and Project Wycheproof's AES-CBC-PKCS5 file through the module's
# own AES-CBC + PKCS#7 (see check_cbc). Exit status 0 only when nothing failed. Files whose "algorithm" this script does not know are counted
# as failed (the caller asked for them to be checked). Also runs on CPython if a cryptolib is importable.
import sys

try:
    import ujson as json
except ImportError:
    import json
try:
    import ubinascii as binascii
except ImportError:
    import binascii

import iotenv


def unhex(s):
    return binascii.unhexlify(s)


def check_envelope(data, report):
    for group in data["testGroups"]:
        keys = iotenv.Keys(unhex(group["secret"]))
        receiver = group["receiverDirection"]
        for t in group["tests"]:
            label = "tcId %d (%s)" % (t["tcId"], t["comment"])
            try:
                got = iotenv.open(keys, t["envelope"], receiver, t["format"])
            except iotenv.EnvelopeError as e:
                ok = t["result"] == "invalid" and e.code == t.get("error")
                report(ok, label, "raised %s (%s), expected %s %s" % (e.code, e, t["result"], t.get("error", "")))
                continue
            if t["result"] != "valid":
                report(False, label, "opened, expected " + t["error"])
                continue
            want = (unhex(t["msg"]), t["dev"], t["direction"], t["type"], t["seq"], t["ts"])
            if got != want:
                report(False, label, "opened to different fields or plaintext")
                continue
            if "NonCanonicalJson" in t["flags"]:
                report(True, label, "")
                continue
            text = iotenv.seal(keys, want[0], t["dev"], t["seq"], t["ts"], t["direction"], t["type"], t["format"],
                               unhex(t["iv"]))
            report(text == without_newline(t["envelope"]), label, "seal produced different text")


def without_newline(text):
    # what a sealer returns for a vector whose text carries the one trailing newline receivers strip
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def check_lean(data, report):
    # The lean form (iotenv_lean): open each case for its "dev" and compare, then seal the same fields again
    # (the IV comes from seq, so the text must be identical). RepeatedSeq cases open their envelopes in order
    # through one fresh replay window (iotenv_state.Window).
    import iotenv_lean
    import iotenv_state
    for group in data["testGroups"]:
        keys = iotenv_lean.Keys(unhex(group["secret"]))
        receiver = group["receiverDirection"]
        for t in group["tests"]:
            label = "tcId %d (%s)" % (t["tcId"], t["comment"])
            if "envelopes" in t:
                window = iotenv_state.Window(64)
                got = []
                for i, text in enumerate(t["envelopes"]):
                    try:
                        msg = iotenv_lean.open(keys, text, t["dev"], receiver, window)[0]
                        got.append("valid" if msg == unhex(t["msgs"][i]) else "other plaintext")
                    except iotenv.EnvelopeError as e:
                        got.append(e.code)
                report(got == t["results"], label, "one window gave %s, expected %s" % (got, t["results"]))
                continue
            try:
                got = iotenv_lean.open(keys, t["envelope"], t["dev"], receiver)
            except iotenv.EnvelopeError as e:
                ok = t["result"] == "invalid" and e.code == t.get("error")
                report(ok, label, "raised %s (%s), expected %s %s" % (e.code, e, t["result"], t.get("error", "")))
                continue
            if t["result"] != "valid":
                report(False, label, "opened, expected " + t["error"])
                continue
            want = (unhex(t["msg"]), t["dev"], t["direction"], t["type"], t["seq"], t["ts"])
            if got != want:
                report(False, label, "opened to different fields or plaintext")
                continue
            text = iotenv_lean.seal(keys, want[0], t["dev"], t["seq"], t["ts"], t["direction"], t["type"], True)
            report(text == without_newline(t["envelope"]), label, "seal produced different text")


def check_cbc(data, report):
    # The AES-CBC + PKCS#7 that seal and open run: iotenv._cipher (cryptolib/ucryptolib, one object per
    # message) with iotenv.pad / iotenv.unpad. Valid: decrypt gives msg and encrypt gives ct. Invalid (every
    # one in the file is a padding defect): decrypt fails with the module's "padding" error. cryptolib has no
    # AES-192: a 24-byte key is reported as a failure here ("not checked"); verify leaves those groups out.
    for group in data["testGroups"]:
        for t in group["tests"]:
            label = "tcId %d (%s)" % (t["tcId"], t["comment"])
            key, iv, msg, ct = unhex(t["key"]), unhex(t["iv"]), unhex(t["msg"]), unhex(t["ct"])
            if len(key) != 16 and len(key) != 32:
                report(False, label, "%d-byte key: cryptolib has no AES-%d, not checked" % (len(key), 8 * len(key)))
                continue
            try:
                got = iotenv.unpad(iotenv._cipher(key, iv).decrypt(ct))
            except iotenv.EnvelopeError as e:
                report(t["result"] == "invalid" and e.code == "padding", label,
                       "decrypt raised %s (%s), expected %s" % (e.code, e, t["result"]))
                continue
            if t["result"] != "valid":
                report(False, label, "decrypt accepted an invalid ciphertext")
                continue
            again = iotenv._cipher(key, iv).encrypt(iotenv.pad(msg))
            report(got == msg and again == ct, label, "decrypt or encrypt gave different bytes")


CHECKERS = {"iotenvelope-v1": check_envelope, "iotenvelope-v1-lean": check_lean, "AES-CBC-PKCS5": check_cbc}


def run_files(paths, verbose):
    counts = [0, 0]

    def report(ok, label, detail):
        counts[0 if ok else 1] += 1
        if not ok or verbose:
            print(("ok   " if ok else "FAIL ") + current[0] + " " + label + ("" if ok else ": " + detail))

    current = [""]
    for path in paths:
        current[0] = path
        with open(path) as f:
            data = json.load(f)
        checker = CHECKERS.get(data.get("algorithm"))
        if checker is None:
            report(False, "file", "algorithm %r is not supported by run_vectors.py" % data.get("algorithm"))
            continue
        try:
            checker(data, report)
        except Exception as e:  # a crash in the module is a failure of the file, not of the runner
            report(False, "crashed", "%s: %s" % (type(e).__name__, e))
        data = None
    print("%d passed, %d failed" % (counts[0], counts[1]))
    return counts[1] == 0


def seal_many(keyhex, count):
    keys = iotenv.Keys(unhex(keyhex))
    try:
        ts = iotenv.now()
    except iotenv.EnvelopeError:
        ts = 0
    for seq in range(1, count + 1):
        print(iotenv.seal(keys, '{"seq": %d, "co2": %d}' % (seq, 400 + seq), "mpy", seq, ts))
    return True


# -- the verify runner protocol (docs/runner-protocol.md) --------------------------------------------------
# `iotenvelope verify` runs every micropython-* row this way: it sends requests, this loop answers them with
# the module's own open/seal (compact, json; lean through iotenv_lean), its AES-CBC + PKCS#7, and a fresh
# iotenv_state.Window per open-many request. verify compares the answers with the vector files.

SERVE_OPS = ["open", "open-many", "seal", "cbc-decrypt", "cbc-encrypt"]
SERVE_FORMS = ["compact", "json", "lean"]


class _Unsupported(Exception):
    pass


def _hex(b):
    return binascii.hexlify(b).decode()


class Server:
    def __init__(self):
        self.keys = {}  # (secret hex, lean?) -> Keys: derived once per secret

    def _keys(self, req, lean):
        k = (req["secret_hex"], lean)
        if k not in self.keys:
            if lean:
                import iotenv_lean
                self.keys[k] = iotenv_lean.Keys(unhex(req["secret_hex"]))
            else:
                self.keys[k] = iotenv.Keys(unhex(req["secret_hex"]))
        return self.keys[k]

    def _open_one(self, req, text, window):
        form = req["form"]
        if form == "lean":
            import iotenv_lean
            got = iotenv_lean.open(self._keys(req, True), text, req["device"], req["direction"], window)
        elif form in ("compact", "json"):
            got = iotenv.open(self._keys(req, False), text, req["direction"], form, window)
        else:
            raise _Unsupported("no %s form" % form)
        return {"ok": True, "plaintext_hex": _hex(got[0]), "device": got[1], "direction": got[2], "type": got[3],
                "seq": got[4], "ts": got[5]}

    def op_open(self, req):
        return self._open_one(req, req["envelope"], None)

    def op_open_many(self, req):
        if req["form"] not in SERVE_FORMS:
            raise _Unsupported("no %s form" % req["form"])
        import iotenv_state
        window = iotenv_state.Window(64)
        results = []
        for text in req["envelopes"]:
            try:
                results.append(self._open_one(req, text, window))
            except iotenv.EnvelopeError as e:
                results.append({"ok": False, "error": e.code})
        return {"ok": True, "results": results}

    def op_seal(self, req):
        form = req["form"]
        if form not in SERVE_FORMS:
            raise _Unsupported("no %s form" % form)
        pt = unhex(req["plaintext_hex"])
        if form == "lean":
            import iotenv_lean
            text = iotenv_lean.seal(self._keys(req, True), pt, req["device"], req["seq"], req["ts"],
                                    req["direction"], req["type"], True)
        elif form in ("compact", "json"):
            iv = req.get("iv_hex")
            text = iotenv.seal(self._keys(req, False), pt, req["device"], req["seq"], req["ts"], req["direction"],
                               req["type"], form, unhex(iv) if iv else None)
        else:
            raise _Unsupported("no %s form" % form)
        return {"ok": True, "envelope": text}

    def _cbc(self, req, data):
        key = unhex(req["key_hex"])
        if len(key) != 16 and len(key) != 32:
            raise _Unsupported("%d-byte key: cryptolib/ucryptolib has no AES-%d" % (len(key), 8 * len(key)))
        return iotenv._cipher(key, unhex(req["iv_hex"])), data

    def op_cbc_decrypt(self, req):
        ct = unhex(req["ct_hex"])
        cipher, ct = self._cbc(req, ct)
        if not ct or len(ct) % 16:
            return {"ok": False, "error": "malformed", "message": "ciphertext is not whole AES blocks"}
        return {"ok": True, "plaintext_hex": _hex(iotenv.unpad(cipher.decrypt(ct)))}

    def op_cbc_encrypt(self, req):
        cipher, msg = self._cbc(req, unhex(req["plaintext_hex"]))
        return {"ok": True, "ct_hex": _hex(cipher.encrypt(iotenv.pad(msg)))}

    def op_hello(self, req):
        v = sys.implementation.version
        return {"ok": True, "protocol": 1, "name": "iotenv-micropython",
                "version": "%s (MicroPython %d.%d.%d)" % (iotenv.__version__, v[0], v[1], v[2]),
                "ops": SERVE_OPS, "forms": SERVE_FORMS, "profiles": []}

    def answer(self, line):
        try:
            req = json.loads(line)
        except ValueError:
            return {"id": None, "ok": False, "error": "malformed", "message": "request is not JSON"}
        rid = req.get("id") if type(req) is dict else None
        op = req.get("op") if type(req) is dict else None
        handler = getattr(self, "op_" + str(op).replace("-", "_"), None) if op in SERVE_OPS + ["hello"] else None
        try:
            if handler is None:
                raise _Unsupported("no such op")
            out = handler(req)
        except _Unsupported as e:
            out = {"ok": False, "error": "unsupported", "message": str(e)}
        except iotenv.EnvelopeError as e:
            out = {"ok": False, "error": e.code}
        except Exception as e:  # a bug or a request this loop cannot read: that case fails, the loop goes on
            out = {"ok": False, "error": "runner-error", "message": type(e).__name__}
        out["id"] = rid
        return out


def _readline():
    # the WASM test host (testing/mpnode.mjs) pumps node's stdin through _nodehost; a real interpreter reads
    # its own stdin
    try:
        import _nodehost
        return _nodehost.read_line
    except ImportError:
        return sys.stdin.readline


def serve():
    server = Server()
    read = _readline()
    while True:
        line = read()
        if not line:
            return True
        if line.strip():
            print(json.dumps(server.answer(line)))
            try:
                sys.stdout.flush()
            except AttributeError:
                pass


def main(argv):
    if argv == ["--serve"]:
        return serve()
    if len(argv) == 3 and argv[0] == "--seal":
        return seal_many(argv[1], int(argv[2]))
    verbose = "-v" in argv
    paths = [a for a in argv if a != "-v"]
    if not paths or [a for a in paths if a.startswith("-")]:
        print("usage: micropython run_vectors.py [-v] FILE... | --seal KEYHEX COUNT | --serve")
        return False
    return run_files(paths, verbose)


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1:]) else 1)
