'use strict';
// lib/state.js on its own: the SPEC.md §6 step 7 decisions, the two-slot files and what survives damage.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const ie = require('iotenvelope');
const { StateStore, decide, readSlot, WINDOW } = require('../lib/state');

const FP = '0123456789abcdef';

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'iotenvelope-state-'));
}

function codeOf(fn) {
  try {
    fn();
    return 'accepted';
  } catch (e) {
    return e.code;
  }
}

test('decide: RFC 4303 window rules with W = 64', () => {
  assert.equal(WINDOW, 64);
  let st = decide(ie, null, 100, 'd');
  assert.deepEqual(st, { top: 100, bits: 1n });
  assert.equal(codeOf(() => decide(ie, st, 100, 'd')), 'replay-duplicate');
  st = decide(ie, st, 37, 'd'); // top - 63: the oldest number still inside
  assert.equal(codeOf(() => decide(ie, st, 36, 'd')), 'replay-too-old');
  assert.equal(codeOf(() => decide(ie, st, 37, 'd')), 'replay-duplicate');
  st = decide(ie, st, 101, 'd'); // slides by one: 37 falls out
  assert.equal(codeOf(() => decide(ie, st, 37, 'd')), 'replay-too-old');
  assert.equal(codeOf(() => decide(ie, st, 100, 'd')), 'replay-duplicate');
  st = decide(ie, st, 1000, 'd');
  assert.deepEqual(st, { top: 1000, bits: 1n });
  assert.equal(codeOf(() => decide(ie, decide(ie, null, 0xffffffff, 'd'), 0xffffffff, 'd')), 'replay-duplicate');
});

test('window: each accept is on disk at once, alternating slots; a fresh store refuses the replays', () => {
  const dir = tmpdir();
  const a = new StateStore(dir);
  for (const seq of [5, 3, 9]) a.accept(ie, 'dev-1', 'up', FP, seq);
  const b = new StateStore(dir); // another process reading the same directory
  assert.deepEqual([5, 3, 9, 4, 10].map((s) => codeOf(() => b.accept(ie, 'dev-1', 'up', FP, s))),
    ['replay-duplicate', 'replay-duplicate', 'replay-duplicate', 'accepted', 'accepted']);
  // directions and secrets (fingerprints) have their own windows
  assert.equal(codeOf(() => b.accept(ie, 'dev-1', 'down', FP, 5)), 'accepted');
  assert.equal(codeOf(() => b.accept(ie, 'dev-1', 'up', 'fedcba9876543210', 5)), 'accepted');
  const base = path.join(dir, `window-${Buffer.from('dev-1').toString('hex')}-${FP}-up`);
  const gens = [0, 1].map((i) => readSlot(`${base}.${i}`).gen).sort();
  assert.deepEqual(gens, [4, 5]);
});

test('window: a torn or altered newest slot is ignored and the other slot is used', () => {
  const dir = tmpdir();
  const a = new StateStore(dir);
  a.accept(ie, 'd', 'up', FP, 1); // gen 1 -> slot 0
  a.accept(ie, 'd', 'up', FP, 2); // gen 2 -> slot 1
  const base = path.join(dir, `window-${Buffer.from('d').toString('hex')}-${FP}-up`);
  const newest = fs.readFileSync(`${base}.1`, 'utf8');
  // A write that stopped half way: only the start of the new line reached the file.
  fs.writeFileSync(`${base}.1`, newest.slice(0, 20));
  let b = new StateStore(dir);
  assert.equal(b.top('d', 'up', FP), 1);
  // ... and seq 2 was never handed on (the write had not returned), so accepting it now is its first acceptance.
  assert.equal(codeOf(() => b.accept(ie, 'd', 'up', FP, 2)), 'accepted');
  assert.equal(readSlot(`${base}.1`).gen, 2, 'the next write went to the damaged slot, not over the good one');
  // One altered digit fails the check.
  const good = fs.readFileSync(`${base}.1`, 'utf8');
  fs.writeFileSync(`${base}.1`, good.replace('"top":2', '"top":3'));
  b = new StateStore(dir);
  assert.equal(b.top('d', 'up', FP), 1);
  // Trailing bytes after the line (an old, longer record that was not truncated) do not matter.
  fs.writeFileSync(`${base}.1`, `${good}zzzz old tail`);
  assert.equal(new StateStore(dir).top('d', 'up', FP), 2);
  // A slot naming another device is not used.
  fs.copyFileSync(`${base}.1`, path.join(dir, `window-${Buffer.from('e').toString('hex')}-${FP}-up.0`));
  assert.equal(new StateStore(dir).top('e', 'up', FP), null);
});

test('down counter: K = 1 and K = 3 resume above every number returned, across "restarts"', () => {
  const dir = tmpdir();
  let s = new StateStore(dir);
  assert.deepEqual([1, 2, 3].map(() => s.nextDown(ie, 'd', FP, 1)), [0, 1, 2]);
  s = new StateStore(dir);
  assert.equal(s.nextDown(ie, 'd', FP, 1), 3);
  s = new StateStore(dir);
  assert.deepEqual([1, 2, 3, 4].map(() => s.nextDown(ie, 'd', FP, 3)), [4, 5, 6, 7]); // marks 7, then 10
  s = new StateStore(dir);
  assert.equal(s.nextDown(ie, 'd', FP, 3), 10);
  assert.throws(() => s.nextDown(ie, 'd', FP, 0), RangeError);
  assert.throws(() => s.nextDown(ie, 'd', FP, 1.5), RangeError);
});

test('down counter: the last number is 4294967295, then the secret must be replaced', () => {
  const dir = tmpdir();
  const base = path.join(dir, `down-${Buffer.from('d').toString('hex')}-${FP}`);
  const body = JSON.stringify({ gen: 1, value: { device: 'd', mark: 0xfffffffe } });
  const check = require('crypto').createHash('sha256').update(body).digest('hex').slice(0, 16);
  fs.writeFileSync(`${base}.0`, `${body} ${check}\n`);
  const s = new StateStore(dir);
  assert.deepEqual([s.nextDown(ie, 'd', FP, 5), s.nextDown(ie, 'd', FP, 5)], [0xfffffffe, 0xffffffff]);
  assert.throws(() => s.nextDown(ie, 'd', FP, 5), (e) => e.code === 'bad-key' && /replace its secret/.test(e.message));
  assert.throws(() => new StateStore(dir).nextDown(ie, 'd', FP, 1), (e) => e.code === 'bad-key');
});

test('a failed write changes nothing in memory', () => {
  const dir = tmpdir();
  const s = new StateStore(dir);
  s.accept(ie, 'd', 'up', FP, 1);
  const realFsync = fs.fsyncSync;
  fs.fsyncSync = () => { throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }); };
  try {
    assert.throws(() => s.accept(ie, 'd', 'up', FP, 2), /EIO/);
    assert.throws(() => s.nextDown(ie, 'd', FP, 1), /EIO/);
  } finally {
    fs.fsyncSync = realFsync;
  }
  assert.equal(s.top('d', 'up', FP), 1);
  assert.equal(codeOf(() => s.accept(ie, 'd', 'up', FP, 2)), 'accepted');
  assert.equal(s.nextDown(ie, 'd', FP, 1), 0);
});
