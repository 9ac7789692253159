# iotenv_state: optional state helpers for the iotenv device module (SPEC.md sections 6 to 8).
#
#   Counter:  boot-safe sequence numbers for sealing (a high-water mark every k messages, kept in two checked
#             slot files written alternately).
#   Window:   a replay window for opening, e.g. iotenv.open(keys, text, replay=window) (or iotenv_lean.open).
#   resync_request() / resync_response(): the device side of the resync exchange ("Case 1"); an answer is
#             accepted only within T_WAIT seconds of its request (Pending).
import time

from iotenv import EnvelopeError, _be, _random, equal, now, open as _open, seal, sha256, struct

__version__ = "0.2.0"
T_WAIT = 60  # seconds a resync request stays pending (SPEC.md section 8)


def _bad(msg, code):
    raise EnvelopeError(code, msg)


def _check(mark8):
    return sha256(b"iotenv mark" + mark8).digest()[:8]


def _read_slot(path):
    # The mark in a slot file; -1 if the file is missing, -2 if it is truncated, too long or fails its check.
    try:
        with open(path, "rb") as f:
            b = f.read(17)
    except OSError:
        return -1
    if len(b) != 16 or not equal(_check(b[:8]), b[8:]):
        return -2
    hi, lo = struct.unpack(">II", b[:8])
    return hi << 32 | lo


def _read_legacy(path):
    # Version 0.1 kept one decimal mark in PATH, written to PATH.tmp and renamed over it: -1 missing, -2 corrupt.
    try:
        with open(path) as f:
            return int(f.read())
    except OSError:
        return -1
    except ValueError:
        return -2


class Counter:
    """Boot-safe sequence numbers (SPEC.md section 7). A high-water mark is written every k numbers, before
    the first of them is used; after a reboot counting resumes at the mark, so no number is ever handed out
    twice and at most k are skipped. The mark lives in two slot files, PATH.0 and PATH.1, each holding the mark
    and a check value, written alternately and never renamed: a power cut can damage only the slot being
    written, whose new mark no returned number has reached yet, so the other slot is always enough."""

    def __init__(self, path="iotenv.seq", k=64, start=0):
        if type(k) is not int or not 1 <= k <= 0xFFFFFFFF:
            _bad("k must be an int >= 1", "malformed")
        self.path = path
        self.k = k
        self._slots = (path + ".0", path + ".1")
        a, b = _read_slot(self._slots[0]), _read_slot(self._slots[1])
        if a == -2 and b == -2:
            # Both slots were written and both are damaged: more than one fault. Starting lower could
            # reuse numbers, so refuse (resync with the backend, or replace the secret).
            _bad("both sequence mark files " + path + ".0/.1 are damaged", "malformed")
        self._w = 1 if a >= b else 0  # the next write goes to the slot not holding the larger mark
        old, tmp = _read_legacy(path), _read_legacy(path + ".tmp")
        if -2 in (old, tmp) and max(a, b, old, tmp) < 0:
            _bad("sequence file " + path + " is corrupt; do not delete it unless the secret is replaced",
                 "malformed")
        self.n = self.mark = max(start, a, b, old, tmp)

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
        # Overwrite the older slot in place; the slot holding the current mark is left alone. Only after the
        # file is closed (written through) does the new mark count, and the next save goes to the other slot.
        b = struct.pack(">II", mark >> 32, mark & 0xFFFFFFFF)
        with open(self._slots[self._w], "wb") as f:
            f.write(b + _check(b))
        self.mark = mark
        self._w ^= 1


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
def _ticks():
    return time.ticks_ms() if hasattr(time, "ticks_ms") else int(time.time() * 1000)


class Pending:
    """A resync request waiting for its answer: the nonce and when it was sent. clock: a monotonic
    millisecond clock (default time.ticks_ms, whose wrap after 2**30 ms is caught by a time.time() check)."""

    def __init__(self, nonce, clock=None):
        self.nonce = nonce
        self.clock = clock
        self.sent = (clock or _ticks)()
        self.wall = int(time.time())

    def elapsed_ms(self):
        if self.clock:
            return self.clock() - self.sent
        if not hasattr(time, "ticks_diff"):  # CPython
            return _ticks() - self.sent
        d = time.ticks_diff(_ticks(), self.sent)
        # ticks_ms wraps (2**30 ms, 12.4 days): a response held back that long would look fresh again. The
        # wall clock is coarse and may be set meanwhile, but a jump can only make the request stale.
        if abs(int(time.time()) - self.wall) > d // 1000 + 2:
            return -1
        return d


def resync_request(keys, device, seq=0, ts=None, format="compact", clock=None):
    """Returns (envelope text, pending); give pending to resync_response() (the answer must arrive within
    T_WAIT seconds). clock: see Pending."""
    if ts is None:
        try:
            ts = now()
        except EnvelopeError:
            ts = 0  # an unset clock is a reason to resync: the answer carries the backend's time
    nonce = _random(8)
    return seal(keys, nonce, device, seq, ts, "up", "resync-request", format), Pending(nonce, clock)


def resync_response(keys, text, pending, t_wait=T_WAIT):
    """Open the backend's answer; returns (next_seq, backend_time), or None if it answers another request
    (or its request was already answered). EnvelopeError "stale" if more than t_wait seconds passed since
    the request: the request is then dropped, so no later answer counts either."""
    msg, _, _, typ, _, _ = _open(keys, text, "down")
    if typ != "resync-response" or len(msg) != 16:
        _bad("not a resync response", "malformed")
    nonce = pending.nonce
    if nonce is None or not equal(msg[:8], nonce):
        return None
    d = pending.elapsed_ms()
    if not 0 <= d <= t_wait * 1000:
        pending.nonce = None
        _bad("resync response after the waiting time", "stale")
    pending.nonce = None  # one answer per request
    return _be(msg, 8), _be(msg, 12)
