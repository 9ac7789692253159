'use strict';
// A boot-safe sequence counter for Node.js (SPEC.md §7): sequence numbers that never repeat across restarts,
// crashes and power cuts, with one file write per `k` numbers.
//
//   const counter = new BootSafeCounter('/var/lib/app/down-seq-sensor-01', { k: 16 });
//   const seq = counter.next();          // 0, 1, 2, ...; after a restart: above every number returned before
//
// The high-water mark M (the next number + k) is written *before* a number at or above the previous mark is
// handed out, into one of two slot files `<path>.a` / `<path>.b`, alternately, each holding the mark and a
// check value (the first 8 bytes of SHA-256 of the mark's text). The slots are never renamed (on FAT a rename
// onto an existing file deletes it first), and each write is fsynced before the number is returned. On start the
// counter reads both slots and resumes at the larger valid mark; a missing, truncated or corrupt slot is ignored.
// A torn or lost write can only damage the slot being written, whose new mark no returned number has reached;
// the other slot still holds the previous mark, above every number returned so far.

const nodeFs = require('fs');
const nodePath = require('path');
const nodeCrypto = require('crypto');

const MAX_SEQ = 0xffffffff;
const MAGIC = 'iotenvelope-mark-v1';

function checkValue(mark) {
  return nodeCrypto.createHash('sha256').update(`${MAGIC} ${mark}`).digest('hex').slice(0, 16);
}

function slotText(mark) {
  return `${MAGIC} ${mark} ${checkValue(mark)}\n`;
}

/** The mark a slot file holds, or null when it is missing, truncated or fails its check. */
function readSlot(fs, file) {
  let text;
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch (e) {
    if (e && e.code === 'ENOENT') return null;
    throw e;
  }
  const m = /^iotenvelope-mark-v1 (0|[1-9][0-9]{0,15}) ([0-9a-f]{16})\n$/.exec(text);
  if (!m || checkValue(m[1]) !== m[2]) return null;
  const mark = Number(m[1]);
  return Number.isSafeInteger(mark) ? mark : null;
}

class BootSafeCounter {
  /**
   * path: the slot files are `<path>.a` and `<path>.b`. opts.k: numbers per mark write (integer >= 1, default
   * 16: at most k numbers are skipped by a restart). opts.fs: a replacement for node's fs (tests).
   */
  constructor(path, opts) {
    const k = opts && opts.k !== undefined ? opts.k : 16;
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be an integer >= 1, got ${k}`);
    if (typeof path !== 'string' || !path) throw new TypeError('path must be a non-empty string');
    this.k = k;
    this.fs = (opts && opts.fs) || nodeFs;
    this.slots = [`${path}.a`, `${path}.b`];
    const marks = this.slots.map((f) => readSlot(this.fs, f));
    const valid = marks.filter((m) => m !== null);
    this.nextSeq = valid.length ? Math.max(...valid) : 0; // resume at the larger valid mark
    this.reserved = this.nextSeq; // numbers below this are covered by a written mark
    // write next into the slot that does not hold the mark we resumed from
    this.writeSlot = marks[0] !== null && marks[0] === this.nextSeq && valid.length ? 1 : 0;
    this.synced = [false, false]; // has this process fsynced the directory entry of each slot yet?
  }

  /** The next sequence number; writes a new mark first when the reserved range is used up. */
  next() {
    const seq = this.nextSeq;
    if (seq > MAX_SEQ) throw new RangeError('sequence numbers are used up (4294967295): replace the device secret (SPEC.md §7)');
    if (seq >= this.reserved) {
      const mark = seq + this.k;
      this.write(this.slots[this.writeSlot], slotText(mark));
      this.writeSlot ^= 1;
      this.reserved = mark;
    }
    this.nextSeq = seq + 1;
    return seq;
  }

  /** The number next() returns next (nothing is written). */
  peek() { return this.nextSeq; }

  write(file, text) {
    const fd = this.fs.openSync(file, 'w');
    try {
      this.fs.writeSync(fd, text, 0, 'latin1');
      this.fs.fsyncSync(fd);
    } finally {
      this.fs.closeSync(fd);
    }
    const slot = this.slots.indexOf(file);
    if (!this.synced[slot]) {
      // a newly created file is durable only once its directory entry is: fsync the directory once per slot
      let dir = null;
      try {
        dir = this.fs.openSync(nodePath.dirname(file), 'r');
        this.fs.fsyncSync(dir);
      } catch (e) {
        if (!e || !['EISDIR', 'EPERM', 'EINVAL', 'EBADF'].includes(e.code)) throw e; // platforms without directory fsync
      } finally {
        if (dir !== null) this.fs.closeSync(dir);
      }
      this.synced[slot] = true;
    }
  }
}

module.exports = { BootSafeCounter, readSlot, slotText };
