'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { iotenvelope: ie } = require('./helpers');

const SECRET = '000102030405060708090a0b0c0d0e0f';
const NOW = 1763900000;

function codeOf(fn) {
  try { fn(); } catch (e) { assert.ok(e instanceof ie.IotEnvelopeError, `${e.name}: ${e.message}`); return e.code; }
  return 'no error';
}

test('resync: request, backend answer, device accepts and moves its counter forward', () => {
  const { text, nonce } = ie.resyncRequest(SECRET, { device: 'sensor-01', seq: 0 });
  assert.equal(nonce.length, 8);
  const req = ie.open(SECRET, text, { freshness: null });
  assert.equal(req.type, 'resync-request');
  const answer = ie.answerResync({ 'sensor-01': SECRET }, text, { nextSeq: 1234, seq: 7, now: NOW });
  const request = { text, nonce, sentAt: ie.resyncRequest(SECRET, { device: 'other' }).sentAt };
  const got = ie.acceptResyncResponse(SECRET, answer.text, nonce, { counter: 5, device: 'sensor-01' });
  assert.deepEqual(got, { counter: 1234, nextSeq: 1234, backendTime: NOW, seq: 7, ts: NOW });
  // the noted request was used up: by its nonce alone it is no longer pending; the request object still knows when it was sent
  assert.equal(codeOf(() => ie.acceptResyncResponse(SECRET, answer.text, nonce)), 'stale');
  assert.equal(ie.acceptResyncResponse(SECRET, answer.text, request, { counter: 5000 }).counter, 5000);
});

test('resync: a response bound to another nonce is refused', () => {
  const first = ie.resyncRequest(SECRET, { device: 'd' });
  const second = ie.resyncRequest(SECRET, { device: 'd' });
  const answer = ie.answerResync(SECRET, first.text, { nextSeq: 1, seq: 1, now: NOW, rateLimit: new ie.ResyncRateLimit() });
  assert.throws(() => ie.acceptResyncResponse(SECRET, answer.text, second.nonce), (e) => e.code === 'auth' && /nonce/.test(e.message));
});

test('resync: a data envelope or an up envelope is not a response', () => {
  const { nonce } = ie.resyncRequest(SECRET, { device: 'd' });
  const data = ie.seal(SECRET, Buffer.concat([nonce, Buffer.alloc(8)]), { device: 'd', seq: 1, ts: NOW, direction: 'down' });
  assert.throws(() => ie.acceptResyncResponse(SECRET, data, nonce), (e) => e.code === 'malformed');
  const up = ie.seal(SECRET, Buffer.concat([nonce, Buffer.alloc(8)]), { device: 'd', seq: 1, ts: NOW, type: 'resync-response' });
  assert.throws(() => ie.acceptResyncResponse(SECRET, up, nonce), (e) => e.code === 'wrong-direction');
});

test('resync (F6): a response later than T_wait (60 s, monotonic clock) after its request is stale, and forgotten', () => {
  let clock = 1000; // milliseconds on the injected monotonic clock
  const tick = () => clock;
  const req = ie.resyncRequest(SECRET, { device: 'late', clock: tick });
  assert.equal(req.sentAt, 1000);
  const answer = ie.answerResync(SECRET, req.text, { nextSeq: 99, seq: 1, now: NOW, rateLimit: new ie.ResyncRateLimit() });
  clock = 1000 + 60000; // exactly T_wait: still accepted
  assert.equal(ie.acceptResyncResponse(SECRET, answer.text, req, { clock: tick }).counter, 99);
  clock = 1000 + 60001; // 1 ms too late
  const e = (() => { try { ie.acceptResyncResponse(SECRET, answer.text, req, { clock: tick }); } catch (err) { return err; } return null; })();
  assert.ok(e instanceof ie.StaleError && e.code === 'stale', String(e));
  assert.match(e.message, /after its request \(limit 60 s\)/);
  // by nonce alone the request is no longer pending once a stale response discarded it
  const again = ie.resyncRequest(SECRET, { device: 'late2', clock: tick });
  const answer2 = ie.answerResync(SECRET, again.text, { nextSeq: 5, seq: 2, now: NOW, rateLimit: new ie.ResyncRateLimit() });
  clock += 10 * 86400 * 1000; // held back for ten days
  assert.equal(codeOf(() => ie.acceptResyncResponse(SECRET, answer2.text, again.nonce, { clock: tick })), 'stale');
  assert.equal(codeOf(() => ie.acceptResyncResponse(SECRET, answer2.text, again.nonce, { clock: () => again.sentAt })), 'stale');
  // a shorter T_wait can be configured; the wall clock (Date.now) plays no part
  const quick = ie.resyncRequest(SECRET, { device: 'q', clock: tick });
  const answer3 = ie.answerResync(SECRET, quick.text, { nextSeq: 5, seq: 3, now: NOW, rateLimit: new ie.ResyncRateLimit() });
  clock += 5001;
  assert.equal(codeOf(() => ie.acceptResyncResponse(SECRET, answer3.text, quick, { clock: tick, wait: 5 })), 'stale');
  assert.equal(ie.acceptResyncResponse(SECRET, answer3.text, quick, { clock: tick, wait: 6 }).counter, 5);
});

test('resync (F6): the default clock is monotonic (performance.now) and a prompt response is accepted', () => {
  const req = ie.resyncRequest(SECRET, { device: 'prompt' });
  assert.ok(Math.abs(req.sentAt - performance.now()) < 1000);
  const answer = ie.answerResync(SECRET, req.text, { nextSeq: 3, seq: 1, now: NOW, rateLimit: new ie.ResyncRateLimit() });
  assert.equal(ie.acceptResyncResponse(SECRET, answer.text, req.nonce).nextSeq, 3);
});

test('resync (F6): the backend answers at most 6 requests per device per 60 s; refused ones spend no down seq', () => {
  const limit = new ie.ResyncRateLimit();
  let downSeq = 0;
  const nextDown = () => { downSeq += 1; return downSeq; };
  const req = ie.resyncRequest(SECRET, { device: 'noisy' }).text; // one request, replayed
  const seqs = [];
  for (let i = 0; i < 6; i++) seqs.push(ie.answerResync(SECRET, req, { nextSeq: 1, seq: nextDown, now: NOW + i, rateLimit: limit }).seq);
  assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6]);
  for (const t of [NOW + 6, NOW + 59]) {
    const err = (() => { try { ie.answerResync(SECRET, req, { nextSeq: 1, seq: nextDown, now: t, rateLimit: limit }); } catch (e) { return e; } return null; })();
    assert.ok(err instanceof ie.RateLimitError && err instanceof ie.ReplayError && err.code === 'rate-limited', String(err));
  }
  assert.equal(downSeq, 6);
  // another device is not affected; 60 s after the first answer one more is allowed
  assert.equal(ie.answerResync(SECRET, ie.resyncRequest(SECRET, { device: 'calm' }).text, { seq: nextDown, now: NOW + 59, rateLimit: limit }).seq, 7);
  assert.equal(ie.answerResync(SECRET, req, { seq: nextDown, now: NOW + 60, rateLimit: limit }).seq, 8);
  // the state survives a Node-RED redeploy through toJSON/fromJSON
  const back = ie.ResyncRateLimit.fromJSON(JSON.parse(JSON.stringify(limit)));
  assert.equal(codeOf(() => ie.answerResync(SECRET, req, { seq: nextDown, now: NOW + 60, rateLimit: back })), 'rate-limited');
  // a forged request is not answered and does not count
  const forged = ie.resyncRequest('ff'.repeat(16), { device: 'noisy2' }).text;
  const fresh = new ie.ResyncRateLimit({ limit: 1 });
  assert.equal(codeOf(() => ie.answerResync(SECRET, forged, { seq: 1, now: NOW, rateLimit: fresh })), 'auth');
  assert.equal(ie.answerResync(SECRET, ie.resyncRequest(SECRET, { device: 'noisy2' }).text, { seq: 1, now: NOW, rateLimit: fresh }).seq, 1);
});

test('resync (F6): without a limiter of its own, answerResync uses the instance default of 6 per 60 s', () => {
  const req = ie.resyncRequest(SECRET, { device: 'default-limit' }).text;
  for (let i = 0; i < 6; i++) ie.answerResync(SECRET, req, { seq: i, now: NOW });
  assert.equal(codeOf(() => ie.answerResync(SECRET, req, { seq: 6, now: NOW })), 'rate-limited');
});

test('resync: the response uses the request\'s encoding', () => {
  const req = ie.resyncRequest(SECRET, { device: 'fmt', format: 'json' });
  const answer = ie.answerResync(SECRET, `${req.text}\n`, { seq: 1, now: NOW, rateLimit: new ie.ResyncRateLimit() });
  assert.equal(answer.text[0], '{');
  assert.equal(ie.acceptResyncResponse(SECRET, answer.text, req).nextSeq, 0);
});

test('resync: a bad seq is refused before the rate limit counts the request; a clock set back keeps the bound', () => {
  const limit = new ie.ResyncRateLimit({ limit: 1, period: 60 });
  const req = ie.resyncRequest(SECRET, { device: 'bad-seq' }).text;
  assert.equal(codeOf(() => ie.answerResync(SECRET, req, { now: NOW, rateLimit: limit })), 'malformed');
  assert.equal(ie.answerResync(SECRET, req, { seq: 1, now: NOW, rateLimit: limit }).seq, 1);
  assert.equal(codeOf(() => ie.answerResync(SECRET, req, { seq: 2, now: NOW - 30, rateLimit: limit })), 'rate-limited');
});
