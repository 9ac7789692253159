'use strict';
// The backend choice: node:crypto when require('crypto') works, crypto-js where it does not (a browser bundle, a
// sandbox). Both give the same bytes; here the fallback is forced in a child node whose require('crypto') throws.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { execFileSync } = require('child_process');
const { iotenvelope: ie, backends } = require('./helpers');

const SECRET = '000102030405060708090a0b0c0d0e0f';
const NOW = 1763900000;

test('every backend seals the same bytes (fixed IV) and opens every other backend\'s envelopes', () => {
  const all = backends();
  const made = all.map(([, b]) => [
    b.seal(SECRET, 'reading', { device: 'd', seq: 3, ts: NOW, iv: '0f'.repeat(16) }),
    b.seal(SECRET, 'reading', { device: 'd', seq: 3, ts: NOW, iv: '0f'.repeat(16), format: 'json' }),
    b.seal(`b64:${Buffer.alloc(32, 9).toString('base64')}`, 'reading', { device: 'd', seq: 3, ts: NOW, format: 'lean' }),
  ]);
  for (const m of made) assert.deepEqual(m, made[0]);
  for (const [, b] of all) {
    for (const [, other] of all) {
      const text = other.seal(SECRET, 'x', { device: 'd', seq: 1, ts: NOW });
      assert.equal(b.open(SECRET, text, { now: NOW }).text, 'x');
    }
  }
});

test('create() keeps its old meaning (crypto-js) and takes backend: "node:crypto"', () => {
  assert.equal(ie.create(ie.CryptoJS).backend, 'crypto-js');
  assert.equal(ie.create(ie.CryptoJS, null, { backend: 'node:crypto' }).backend, 'node:crypto');
  assert.throws(() => ie.create(ie.CryptoJS, null, { backend: 'webcrypto' }), TypeError);
});

test('without node:crypto or Buffer (as in a browser) the default instance runs on crypto-js: same bytes, getRandomValues IVs', () => {
  const blocker = path.join(__dirname, 'no-node-crypto.js');
  const script = `
    const ie = require(${JSON.stringify(path.join(__dirname, '..'))});
    const a = ie.seal('${SECRET}', 'reading', { device: 'd', seq: 3, ts: ${NOW}, iv: '0f'.repeat(16) });
    const b = ie.seal('${SECRET}', 'reading', { device: 'd', seq: 4, ts: ${NOW} });
    const c = ie.seal('${SECRET}', 'reading', { device: 'd', seq: 4, ts: ${NOW} });
    const lean = ie.seal('${SECRET}', 'reading', { device: 'd', seq: 4, ts: ${NOW}, format: 'lean' });
    const q = ie.resyncRequest('${SECRET}', { device: 'd' });
    const r = ie.acceptResyncResponse('${SECRET}', ie.answerResync('${SECRET}', q.text, { seq: 1, now: ${NOW}, nextSeq: 8 }).text, q);
    console.log(JSON.stringify({ backend: ie.backend, node: ie.nodeCryptoAvailable, buffer: typeof Buffer, a, lean,
      opened: ie.open('${SECRET}', b, { now: ${NOW} }).text, openedLean: ie.open('${SECRET}', lean + '\\n', { format: 'lean', device: 'd', now: ${NOW} }).text,
      resync: r.counter, differ: ie.decode(b).iv.toString() !== ie.decode(c).iv.toString() }));`;
  const out = JSON.parse(execFileSync(process.execPath, ['--require', blocker, '-e', script], { encoding: 'utf8' }));
  assert.deepEqual(out, {
    backend: 'crypto-js', node: false, buffer: 'undefined',
    a: ie.seal(SECRET, 'reading', { device: 'd', seq: 3, ts: NOW, iv: '0f'.repeat(16) }),
    lean: ie.seal(SECRET, 'reading', { device: 'd', seq: 4, ts: NOW, format: 'lean' }),
    opened: 'reading', openedLean: 'reading', resync: 8, differ: true,
  });
});
