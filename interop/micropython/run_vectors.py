# Check iotenvelope vector files with the MicroPython device module, inside a MicroPython interpreter.
#
#   micropython run_vectors.py [-v] FILE...     every case of every file; ends with "N passed, M failed"
#   micropython run_vectors.py --seal KEYHEX COUNT
#                                  COUNT compact envelopes (device "mpy", seq 1..COUNT), one per line
#
# Exit status 0 only when nothing failed. Files whose "algorithm" this script does not know are counted
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
            report(text == t["envelope"], label, "seal produced different text")


CHECKERS = {"iotenvelope-v1": check_envelope}


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


def main(argv):
    if len(argv) == 3 and argv[0] == "--seal":
        return seal_many(argv[1], int(argv[2]))
    verbose = "-v" in argv
    paths = [a for a in argv if a != "-v"]
    if not paths or [a for a in paths if a.startswith("-")]:
        print("usage: micropython run_vectors.py [-v] FILE... | --seal KEYHEX COUNT")
        return False
    return run_files(paths, verbose)


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1:]) else 1)
