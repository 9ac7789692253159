# TEST-ONLY power-cut harness for iotenv_state.Counter, run inside a real MicroPython (the unix port: it has
# vfs.VfsFat and vfs.VfsLfs2, the file systems boards use).
#
#   micropython powercut.py FS MODE K [IMPL]       FS: fat | lfs2   MODE: drop | tear | tear1
#                                                  IMPL: state (iotenv_state.Counter, default) | rename
#
# A file system is made on a RAM block device and mounted at /cut. The workload is two "boots" of the device
# (a Counter on /cut/iotenv.seq, then 3*K+1 next() calls, twice). First it runs uncut and counts the block
# device's write operations (block writes, and erases for littlefs) W. Then, for every N in 1..W, it runs again
# on a fresh file system and cuts the power at the Nth operation:
#   drop   the Nth write never reaches the device;
#   tear   only the first half of the Nth write's bytes reach it (the rest keeps its old content);
#   tear1  only its first byte does;
# and nothing after it is written: the block device fails that call and every later one (the VFS raises
# OSError(EIO) to the code that was writing). Then the device "reboots": the image is mounted again by a new VFS object,
# a new Counter is made and K+2 numbers are drawn. A cut point fails when a number drawn after the reboot was
# returned before the cut, when more than 2*K numbers were skipped, or when the reboot raised.
#
# IMPL rename is the 0.1 scheme (one decimal file written to PATH.tmp then renamed over PATH), kept here only to
# show that the harness finds what it is for: VfsFat's rename deletes the destination first.
#
# Prints one JSON object: {"fs", "mode", "k", "impl", "writes", "cuts", "reused", "skipped_max", "errors",
# "failed": [[N, why], ...]}.
import gc
import sys

import vfs

try:
    import ujson as json
except ImportError:
    import json
try:
    import os
except ImportError:
    import uos as os

MOUNT = "/cut"
BLOCK = 512
BLOCKS = 128


EIO = -5  # what a block device method returns for a failed operation (the VFS raises OSError(EIO))
OPS = [0]  # write operations since the file system was made, over every power cycle


class RAMBlockDevice:
    """Block device over a RAM image with the extended interface (offsets, erase), counting write
    operations; operation number cut_at is dropped or torn, after which every call fails (no exception is
    raised here: the VFS may call a dead device from a finalizer). A reboot wraps the same image in a new
    object, so a file object the cut left open can never write to the rebooted device."""

    def __init__(self, data, cut_at=0, mode="drop"):
        self.data = data
        self.cut_at = cut_at  # 0: never
        self.mode = mode
        self.dead = False

    def readblocks(self, n, buf, off=0):
        if self.dead:
            return EIO
        a = n * BLOCK + off
        buf[:] = self.data[a:a + len(buf)]
        return 0

    def _op(self, a, new):
        OPS[0] += 1
        if OPS[0] == self.cut_at:
            self.dead = True
            keep = 0 if self.mode == "drop" else len(new) // 2 if self.mode == "tear" else 1
            self.data[a:a + keep] = new[:keep]
            return EIO
        self.data[a:a + len(new)] = new
        return 0

    def writeblocks(self, n, buf, off=None):
        if self.dead:
            return EIO
        return self._op(n * BLOCK + (off or 0), bytes(buf))

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return BLOCKS
        if op == 5:  # block size
            return BLOCK
        if op == 6:  # erase (littlefs): an operation a cut can hit too
            if self.dead:
                return EIO
            return self._op(arg * BLOCK, b"\xff" * BLOCK)
        return 0


class RenameCounter:
    """The 0.1 scheme, for the harness's own check only (see the header)."""

    def __init__(self, path, k):
        self.path = path
        self.k = k
        try:
            with open(path) as f:
                start = int(f.read())
        except OSError:
            start = 0
        self.n = self.mark = start

    def next(self):
        s = self.n
        if s >= self.mark:
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                f.write(str(s + self.k))
            os.rename(tmp, self.path)
            self.mark = s + self.k
        self.n = s + 1
        return s


def make_counter(impl, k):
    if impl == "rename":
        return RenameCounter(MOUNT + "/iotenv.seq", k)
    import iotenv_state
    return iotenv_state.Counter(MOUNT + "/iotenv.seq", k=k)


def mount(cls, dev):
    vfs.mount(cls(dev), MOUNT)


def umount():
    try:
        vfs.umount(MOUNT)
    except OSError:
        pass


def fresh(cls, cut_at=0, mode="drop"):
    dev = RAMBlockDevice(bytearray(b"\xff" * (BLOCK * BLOCKS)))
    cls.mkfs(dev)
    OPS[0] = 0
    dev.cut_at = cut_at
    dev.mode = mode
    mount(cls, dev)
    return dev


def workload(impl, k, out):
    """Two boots of 3k+1 numbers each; appends every number returned to out."""
    for boot in range(2):
        c = make_counter(impl, k)
        for _ in range(3 * k + 1):
            out.append(c.next())
        if boot == 0:  # a clean reboot: remount
            umount()
            DEV[0] = RAMBlockDevice(DEV[0].data, DEV[0].cut_at, DEV[0].mode)
            mount(CLS, DEV[0])


CLS = None
DEV = [None]


def main(fs, mode, k, impl):
    global CLS
    CLS = vfs.VfsFat if fs == "fat" else vfs.VfsLfs2
    umount()
    DEV[0] = fresh(CLS)
    base = []
    workload(impl, k, base)
    writes = OPS[0]
    umount()
    if [b for a, b in zip(base, base[1:]) if b <= a] or base[0] != 0:
        print(json.dumps({"error": "uncut run gave %r" % base}))
        return 1
    failed = []
    reused = errors = 0
    skipped_max = 0
    for n in range(1, writes + 1):
        DEV[0] = fresh(CLS, n, mode)
        before = []
        try:
            workload(impl, k, before)
        except OSError:
            pass
        dev = DEV[0]
        umount()
        gc.collect()  # file objects the cut left open are finalized now, against the dead device
        if not dev.dead:
            failed.append([n, "cut point never reached"])
            continue
        dev = RAMBlockDevice(dev.data)  # power back on: the same image, a new device
        after = []
        try:
            mount(CLS, dev)
            c = make_counter(impl, k)
            for _ in range(k + 2):
                after.append(c.next())
        except Exception as e:
            errors += 1
            failed.append([n, "after the cut: %s %s" % (type(e).__name__, e)])
            umount()
            continue
        umount()
        top = max(before) if before else -1
        again = [s for s in after if s in before]
        if again or after[0] <= top:
            reused += 1
            failed.append([n, "reused %r (returned before the cut up to %d, after it %r)" % (again, top, after)])
            continue
        skipped = after[0] - top - 1
        skipped_max = max(skipped_max, skipped)
        if skipped > 2 * k:
            failed.append([n, "skipped %d numbers" % skipped])
    print(json.dumps({"fs": fs, "mode": mode, "k": k, "impl": impl, "writes": writes, "cuts": writes,
                      "reused": reused, "skipped_max": skipped_max, "errors": errors, "failed": failed}))
    return 0


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(main(a[0], a[1], int(a[2]), a[3] if len(a) > 3 else "state"))
