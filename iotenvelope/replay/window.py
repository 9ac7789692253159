"""The sliding window of SPEC.md §6 step 7 (RFC 4303 rules, RFC 6479 ring)."""

from __future__ import annotations


from ..errors import DuplicateError, ReplayError, StoreError, TooOldError, UsageError, untrusted

DEFAULT_WINDOW = 64
MAX_WINDOW = 8192
BLOCK_BITS = 64
_BLOCK_MASK = (1 << BLOCK_BITS) - 1
NONE = -1  # "top" of a stream from which nothing was accepted yet

ACCEPT, DUPLICATE, TOO_OLD = 0, 1, 2

def check_window(window: object) -> int:
    """Validate a window size (1..MAX_WINDOW sequence numbers)."""
    if not 1 <= UsageError.check_int(window, "replay window") <= MAX_WINDOW:
        raise UsageError(f"replay window must be an integer in 1..{MAX_WINDOW}, got {window!r}")
    return window


class Window:
    """The window arithmetic on a plain ``(top, bits)`` state; shared by the memory and SQLite stores.

    ``bits`` is the RFC 6479 ring as an int: bit ``seq % ring`` of block ``(seq // 64) % blocks``.
    The Redis store runs the same algorithm in Lua (:data:`_REDIS_LUA`); the tests hold them equal.
    """

    def __init__(self, size: int = DEFAULT_WINDOW):
        self.size = check_window(size)
        self.blocks = -(-size // BLOCK_BITS) + 1  # one spare block: sliding clears whole blocks only
        self.ring = self.blocks * BLOCK_BITS

    def check(self, top: int, bits: int, seq: int) -> tuple[int, int, int]:
        """Decide on ``seq``; returns ``(verdict, new_top, new_bits)`` (unchanged state unless ACCEPT)."""
        if seq > top:  # also the first message (top = NONE)
            old_block, new_block = top // BLOCK_BITS, seq // BLOCK_BITS
            if new_block - old_block >= self.blocks:
                bits = 0
            else:
                for block in range(old_block + 1, new_block + 1):
                    bits &= ~(_BLOCK_MASK << (BLOCK_BITS * (block % self.blocks)))
            return ACCEPT, seq, bits | (1 << (seq % self.ring))
        if seq <= top - self.size:
            return TOO_OLD, top, bits
        bit = 1 << (seq % self.ring)
        if bits & bit:
            return DUPLICATE, top, bits
        return ACCEPT, top, bits | bit

    def error(self, verdict: int, device: str, direction: str, seq: int, top: int) -> ReplayError | None:
        return _error(verdict, device, direction, seq, top, self.size)

    # bits <-> bytes for stores that keep the ring as a blob (little-endian, ring/8 bytes)
    def to_blob(self, bits: int) -> bytes:
        return bits.to_bytes(self.ring // 8, "little")

    def from_blob(self, blob: bytes | None) -> int:
        if blob is None:
            return 0
        if len(blob) != self.ring // 8:
            raise StoreError(f"stored window bitmap is {len(blob)} bytes, expected {self.ring // 8}:"
                             " the store was written with another window size")
        return int.from_bytes(blob, "little")


def _error(verdict: int, device: str, direction: str, seq: int, top: int, window: int) -> ReplayError | None:
    if verdict == ACCEPT:
        return None
    if verdict == DUPLICATE:
        return DuplicateError(f"seq {seq} from device {untrusted(device)} ({direction}) was already accepted (replay)")
    return TooOldError(f"seq {seq} from device {untrusted(device)} ({direction}) is behind the replay window"
                       f" (highest accepted {top}, window {window})")


