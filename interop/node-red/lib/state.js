'use strict';
// Durable per-device state for the iotenvelope nodes, on plain files:
//
//   * the replay window of SPEC.md §6 step 7 (top + a 64-bit bitmap) per (device, direction), written and
//     fsynced BEFORE the open node hands the plaintext on, so a crash (kill -9, power cut) can lose an envelope
//     (it is then refused as a replay) but never lets one be accepted twice;
//   * the down sequence counter of SPEC.md §7 per device: a high-water mark written and fsynced before any
//     number at or above the previous mark is returned, so no number is ever returned twice.
//
// Every record lives in two slot files, `<name>.0` and `<name>.1`, each holding one line
// `{"gen":N,"value":{...}} <16 hex digits of SHA-256 over the JSON>`. A write goes to the slot that does NOT hold
// the newest valid record, in place (no rename), then fsync; a new slot file also fsyncs its directory. Loading
// reads both slots and keeps the valid one with the larger `gen`; a missing, torn or altered slot is ignored. The
// one slot a crash can damage is the one being written, whose content nothing has relied on yet.
//
// Records are named by the device id (hex) and a fingerprint of the device secret (HMAC under a key derived from
// the secret: it does not reveal the secret), so two keyring nodes holding the same device and secret share one
// window and one counter, and a new secret for a device starts a new window and counter.
//
// All calls are synchronous: within one Node.js process the check and the update of one envelope cannot
// interleave with another's. Two processes must not share one state directory.

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const WINDOW = 64;
const MAX_U32 = 0xffffffff;
const MASK = (1n << BigInt(WINDOW)) - 1n;
const CHECK_HEX = 16;

function checkOf(body) {
  return crypto.createHash('sha256').update(body).digest('hex').slice(0, CHECK_HEX);
}

/** The record in one slot file, or null when the file is missing, torn or fails its check. */
function readSlot(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return null;
    throw e;
  }
  const end = text.indexOf('\n');
  if (end < CHECK_HEX + 1) return null;
  const line = text.slice(0, end);
  const body = line.slice(0, -(CHECK_HEX + 1));
  if (line[body.length] !== ' ' || line.slice(body.length + 1) !== checkOf(body)) return null;
  try {
    const rec = JSON.parse(body);
    if (!rec || !Number.isSafeInteger(rec.gen) || rec.gen < 1 || !rec.value || typeof rec.value !== 'object') return null;
    return rec;
  } catch (e) {
    return null;
  }
}

function fsyncDir(dir) {
  let fd;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (e) {
    if (process.platform !== 'win32') throw e; // Windows cannot open a directory; its rename/create is journaled
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function writeSlot(file, text) {
  const buf = Buffer.from(text, 'utf8');
  let fd;
  let created = false;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY);
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    created = true;
  }
  try {
    let at = 0;
    while (at < buf.length) at += fs.writeSync(fd, buf, at, buf.length - at, at);
    fs.ftruncateSync(fd, buf.length);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  if (created) fsyncDir(path.dirname(file));
}

/** One record kept in two alternately written slot files. */
class SlotRecord {
  constructor(base, belongs) {
    this.files = [`${base}.0`, `${base}.1`];
    this.gen = 0;
    this.slot = -1; // the slot holding the newest valid record, -1 = none
    this.value = null;
    let best = null;
    this.files.forEach((file, slot) => {
      const rec = readSlot(file);
      if (rec && belongs(rec.value) && (!best || rec.gen > best.gen)) best = { ...rec, slot };
    });
    if (best) Object.assign(this, { gen: best.gen, slot: best.slot, value: best.value });
  }

  /** Write `value` durably (returns after fsync); only then does this object show it. */
  save(value) {
    const gen = this.gen + 1;
    const target = this.slot === 0 ? 1 : 0;
    const body = JSON.stringify({ gen, value });
    writeSlot(this.files[target], `${body} ${checkOf(body)}\n`);
    this.gen = gen;
    this.slot = target;
    this.value = value;
  }
}

/**
 * The SPEC.md §6 step 7 decision for `seq` against window state {top, bits} (bits: BigInt, bit i = top - i
 * accepted) or null. Returns the new state; throws the library's DuplicateError / TooOldError.
 */
function decide(errors, state, seq, what) {
  if (!state) return { top: seq, bits: 1n };
  if (seq > state.top) {
    const shift = BigInt(seq - state.top);
    return { top: seq, bits: shift >= BigInt(WINDOW) ? 1n : ((state.bits << shift) | 1n) & MASK };
  }
  const off = state.top - seq;
  if (off >= WINDOW) {
    throw new errors.TooOldError(`seq ${seq} is behind the replay window of ${what} (highest accepted ${state.top}, window ${WINDOW})`);
  }
  if ((state.bits >> BigInt(off)) & 1n) throw new errors.DuplicateError(`seq ${seq} was already accepted from ${what}`);
  return { top: state.top, bits: state.bits | (1n << BigInt(off)) };
}

const stores = new Map(); // directory -> StateStore: one per process, so every node sees the same records

class StateStore {
  /** The store for `dir` (created 0700 if missing), shared by every caller in this process. */
  static at(dir) {
    const abs = path.resolve(dir);
    let store = stores.get(abs);
    if (!store) {
      store = new StateStore(abs);
      stores.set(abs, store);
    }
    return store;
  }

  constructor(dir) {
    this.dir = dir;
    this.records = new Map();
    this.ready = false;
  }

  ensureDir() {
    if (this.ready) return;
    if (!fs.existsSync(this.dir)) {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      fsyncDir(path.dirname(this.dir));
    }
    this.ready = true;
  }

  record(kind, device, fingerprint, extra, belongs) {
    const name = `${kind}-${Buffer.from(device, 'latin1').toString('hex')}-${fingerprint}${extra}`;
    let rec = this.records.get(name);
    if (!rec) {
      this.ensureDir();
      rec = new SlotRecord(path.join(this.dir, name), belongs);
      this.records.set(name, rec);
    }
    return rec;
  }

  /**
   * Accept `seq` from (device, direction) or throw DuplicateError/TooOldError. On acceptance the new window is
   * on disk (fsynced) when this returns; a rejection or a failed write leaves the state as it was.
   */
  accept(errors, device, direction, fingerprint, seq) {
    const rec = this.record('window', device, fingerprint, `-${direction}`,
      (v) => v.device === device && v.direction === direction && v.size === WINDOW
        && Number.isSafeInteger(v.top) && typeof v.bits === 'string' && /^[0-9a-f]{1,16}$/.test(v.bits));
    const state = rec.value ? { top: rec.value.top, bits: BigInt(`0x${rec.value.bits}`) } : null;
    const next = decide(errors, state, seq, `${device} (${direction})`);
    rec.save({ device, direction, size: WINDOW, top: next.top, bits: next.bits.toString(16) });
  }

  /** Highest accepted seq of (device, direction), or null (for status and tests). */
  top(device, direction, fingerprint) {
    const rec = this.record('window', device, fingerprint, `-${direction}`,
      (v) => v.device === device && v.direction === direction && v.size === WINDOW && Number.isSafeInteger(v.top));
    return rec.value ? rec.value.top : null;
  }

  /**
   * The next down sequence number of `device` (SPEC.md §7). `every` = K >= 1: a new high-water mark (next + K)
   * is written and fsynced whenever the counter reaches the stored one, before that number is returned; after
   * a restart the counter resumes at the stored mark, so at most K - 1 numbers are skipped and none is reused.
   */
  nextDown(errors, device, fingerprint, every) {
    if (!Number.isSafeInteger(every) || every < 1) throw new RangeError(`K (persist every) must be an integer >= 1, got ${every}`);
    const rec = this.record('down', device, fingerprint, '',
      (v) => v.device === device && Number.isSafeInteger(v.mark) && v.mark >= 0 && v.mark <= MAX_U32 + 1);
    if (rec.next === undefined) rec.next = rec.value ? rec.value.mark : 0;
    if (rec.next > MAX_U32) {
      throw new errors.KeyFormatError(`the down sequence numbers of ${device} are used up (${MAX_U32}): replace its secret (SPEC.md §7)`);
    }
    if (!rec.value || rec.next >= rec.value.mark) rec.save({ device, mark: Math.min(rec.next + every, MAX_U32 + 1) });
    const seq = rec.next;
    rec.next += 1;
    return seq;
  }
}

module.exports = { StateStore, SlotRecord, decide, readSlot, WINDOW, MAX_U32 };
