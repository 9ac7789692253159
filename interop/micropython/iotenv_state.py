# iotenv_state: optional state helpers for the iotenv device module (SPEC.md sections 6 to 8).
#
#   Counter:  boot-safe sequence numbers for sealing (a high-water mark in a small file every k messages).
#   Window:   a replay window for opening, e.g. iotenv.open(keys, text, replay=window).
#   resync_request() / resync_response(): the device side of the resync exchange ("Case 1").
try:
    import os
except ImportError:
    import uos as os
from iotenv import EnvelopeError, _be, _random, equal, now, open as _open, seal


def _bad(msg, code):
    raise EnvelopeError(code, msg)


class Counter:
    """Boot-safe sequence numbers (SPEC.md section 7): a high-water mark is written to a small file every
    k numbers, before the first of them is used; after a reboot counting resumes at the mark."""

    def __init__(self, path="iotenv.seq", k=64, start=0):
        self.path = path
        self.k = k
        try:
            with open(path) as f:
                start = int(f.read())
        except OSError:
            pass  # no file yet: a new device (or a new secret)
        except ValueError:
            _bad("sequence file " + path + " is corrupt; do not delete it unless the secret is replaced", "malformed")
        self.n = self.mark = start

    def next(self):
        s = self.n
        if s > 0xFFFFFFFF:
            _bad("sequence numbers exhausted: replace the device secret", "bad-key")
        if s >= self.mark:
            self.save(s + self.k)
        self.n = s + 1
        return s

    def advance(self, n):
        """Never go back; e.g. counter.advance(next_seq) after resync_response()."""
        if n > self.n:
            self.n = n

    def save(self, mark):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(mark))
        os.rename(tmp, self.path)
        self.mark = mark


class Window:
    """Receiver replay window for one (device, direction): RFC 4303 section 3.4.3 rules, SPEC.md section 6."""

    def __init__(self, size=64):
        self.size = size
        self.top = -1
        self.bits = 0  # bit i set: seq top-i was accepted

    def accept(self, seq):
        if seq > self.top:
            shift = seq - self.top
            self.bits = 1 if self.top < 0 or shift >= self.size else (self.bits << shift | 1) & ((1 << self.size) - 1)
            self.top = seq
        elif seq <= self.top - self.size:
            _bad("sequence number behind the replay window", "replay-too-old")
        elif self.bits >> (self.top - seq) & 1:
            _bad("sequence number already accepted", "replay-duplicate")
        else:
            self.bits |= 1 << (self.top - seq)


# -- resync, device side (SPEC.md section 8) ------------------------------------------------------------
def resync_request(keys, device, seq=0, ts=None, format="compact"):
    """Returns (envelope text, nonce); keep the nonce for resync_response()."""
    if ts is None:
        try:
            ts = now()
        except EnvelopeError:
            ts = 0  # an unset clock is a reason to resync: the answer carries the backend's time
    nonce = _random(8)
    return seal(keys, nonce, device, seq, ts, "up", "resync-request", format), nonce


def resync_response(keys, text, nonce):
    """Open the backend's answer; returns (next_seq, backend_time), or None if it is not for this nonce."""
    msg, _, _, typ, _, _ = _open(keys, text, "down")
    if typ != "resync-response" or len(msg) != 16 or not equal(msg[:8], nonce):
        return None
    return _be(msg, 8), _be(msg, 12)
