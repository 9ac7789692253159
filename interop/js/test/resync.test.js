'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { iotenvelope: ie } = require('./helpers');

const SECRET = '000102030405060708090a0b0c0d0e0f';
const NOW = 1763900000;

test('resync: request, backend answer, device accepts and moves its counter forward', () => {
  const { text, nonce } = ie.resyncRequest(SECRET, { device: 'sensor-01', seq: 0 });
  assert.equal(nonce.length, 8);
  const req = ie.open(SECRET, text, { freshness: null });
  assert.equal(req.type, 'resync-request');
  const answer = ie.answerResync({ 'sensor-01': SECRET }, text, { nextSeq: 1234, seq: 7, now: NOW });
  const got = ie.acceptResyncResponse(SECRET, answer.text, nonce, { counter: 5, device: 'sensor-01' });
  assert.deepEqual(got, { counter: 1234, nextSeq: 1234, backendTime: NOW, seq: 7, ts: NOW });
  assert.equal(ie.acceptResyncResponse(SECRET, answer.text, nonce, { counter: 5000 }).counter, 5000);
});

test('resync: a response bound to another nonce is refused', () => {
  const first = ie.resyncRequest(SECRET, { device: 'd' });
  const second = ie.resyncRequest(SECRET, { device: 'd' });
  const answer = ie.answerResync(SECRET, first.text, { nextSeq: 1, seq: 1, now: NOW });
  assert.throws(() => ie.acceptResyncResponse(SECRET, answer.text, second.nonce), (e) => e.code === 'auth' && /nonce/.test(e.message));
});

test('resync: a data envelope or an up envelope is not a response', () => {
  const { nonce } = ie.resyncRequest(SECRET, { device: 'd' });
  const data = ie.seal(SECRET, Buffer.concat([nonce, Buffer.alloc(8)]), { device: 'd', seq: 1, ts: NOW, direction: 'down' });
  assert.throws(() => ie.acceptResyncResponse(SECRET, data, nonce), (e) => e.code === 'malformed');
  const up = ie.seal(SECRET, Buffer.concat([nonce, Buffer.alloc(8)]), { device: 'd', seq: 1, ts: NOW, type: 'resync-response' });
  assert.throws(() => ie.acceptResyncResponse(SECRET, up, nonce), (e) => e.code === 'wrong-direction');
});
