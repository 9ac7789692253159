'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { iotenvelope: ie } = require('./helpers');

const SECRET = '000102030405060708090a0b0c0d0e0f';
const SECRET32 = 'b64:' + Buffer.alloc(32, 7).toString('base64');
const NOW = 1763900000;

function codeOf(fn) {
  try { fn(); } catch (e) { assert.ok(e instanceof ie.IotEnvelopeError, `${e.name} is not an IotEnvelopeError`); return e.code; }
  return 'no error';
}

test('seal/open round trip, both encodings, AES-128 and AES-256', () => {
  for (const secret of [SECRET, SECRET32]) {
    for (const format of ['compact', 'json']) {
      const text = ie.seal(secret, '{"co2":1223,"note":"café"}', { device: 'sensor-01', seq: 42, ts: NOW, format });
      const m = ie.open({ 'sensor-01': secret }, text, { now: NOW });
      assert.equal(m.text, '{"co2":1223,"note":"café"}');
      assert.deepEqual([m.device, m.direction, m.type, m.seq, m.ts], ['sensor-01', 'up', 'data', 42, NOW]);
    }
  }
});

test('a fresh random IV for every envelope', () => {
  const a = ie.decode(ie.seal(SECRET, 'x', { device: 'd', seq: 1, ts: NOW }));
  const b = ie.decode(ie.seal(SECRET, 'x', { device: 'd', seq: 1, ts: NOW }));
  assert.notDeepEqual(Buffer.from(a.iv), Buffer.from(b.iv));
});

test('compact and JSON forms map 1:1', () => {
  const env = ie.sealEnvelope(SECRET, 'hi', { device: 'd', seq: 1, ts: NOW });
  const back = ie.decode(ie.encode(env, 'json'));
  assert.equal(ie.encode(back, 'compact'), ie.encode(env, 'compact'));
});

test('every SPEC.md §6.1 error name', () => {
  const good = ie.seal(SECRET, 'hi', { device: 'd', seq: 5, ts: NOW });
  const raw = Buffer.from(good, 'base64url');
  const flip = (i) => { const b = Buffer.from(raw); b[i] ^= 1; return b.toString('base64url'); };
  assert.equal(codeOf(() => ie.open(SECRET, `${good}=`, { now: NOW })), 'malformed');
  assert.equal(codeOf(() => ie.open(SECRET, flip(0), { now: NOW })), 'unsupported-version');
  assert.equal(codeOf(() => ie.open('0011', good, { now: NOW })), 'bad-key');
  assert.equal(codeOf(() => ie.open({ other: SECRET }, good, { now: NOW })), 'unknown-device');
  assert.equal(codeOf(() => ie.open(SECRET, flip(raw.length - 1), { now: NOW })), 'auth');
  assert.equal(codeOf(() => ie.open(SECRET, good, { now: NOW, direction: 'down' })), 'wrong-direction');
  assert.equal(codeOf(() => ie.open(SECRET, good, { now: NOW + 86400 + 301 })), 'stale');
  assert.equal(codeOf(() => ie.open(SECRET, good, { now: NOW - 301 })), 'future');
  const unknown = ie.seal(SECRET, 'hi', { device: 'd', seq: 6, ts: 0 });
  assert.equal(codeOf(() => ie.open(SECRET, unknown, { freshness: { allowUnknownTime: false } })), 'time-unknown');
  const win = new ie.ReplayWindow({ size: 64 });
  ie.open(SECRET, good, { now: NOW, replay: win });
  assert.equal(codeOf(() => ie.open(SECRET, good, { now: NOW, replay: win })), 'replay-duplicate');
  ie.open(SECRET, ie.seal(SECRET, 'x', { device: 'd', seq: 100, ts: NOW }), { now: NOW, replay: win });
  assert.equal(codeOf(() => ie.open(SECRET, ie.seal(SECRET, 'x', { device: 'd', seq: 36, ts: NOW }), { now: NOW, replay: win })), 'replay-too-old');
  // the padding error (valid MAC over bad padding) is covered by vectors/envelope_v1.json ("BadPadding")
});

test('the 2000-epoch mistake is named', () => {
  const text = ie.seal(SECRET, 'x', { device: 'd', seq: 1, ts: NOW - 946684800 });
  assert.throws(() => ie.open(SECRET, text, { now: NOW }), /946684800/);
});

test('the replay window is advanced only after the MAC verifies', () => {
  const win = new ie.ReplayWindow();
  const good = ie.seal(SECRET, 'x', { device: 'd', seq: 9, ts: NOW });
  const raw = Buffer.from(good, 'base64url');
  raw[raw.length - 1] ^= 1;
  assert.throws(() => ie.open(SECRET, raw.toString('base64url'), { now: NOW, replay: win }), ie.AuthenticationError);
  ie.open(SECRET, good, { now: NOW, replay: win }); // still accepted: the forged copy did not consume seq 9
  const restored = ie.ReplayWindow.fromJSON(JSON.parse(JSON.stringify(win.toJSON())));
  assert.throws(() => restored.accept('d', 'up', 9), ie.DuplicateError);
});

test('the MAC is checked before decryption (a forged ciphertext is auth, never padding)', () => {
  const env = ie.sealEnvelope(SECRET, 'hello', { device: 'd', seq: 1, ts: NOW });
  const raw = Buffer.from(ie.encode(env), 'base64url');
  for (let i = raw.length - 32; i < raw.length - 16; i++) {
    const b = Buffer.from(raw);
    b[i] ^= 0x5a;
    assert.equal(codeOf(() => ie.open(SECRET, b.toString('base64url'), { now: NOW })), 'auth');
  }
});

test('bad secrets: wrong lengths and encodings', () => {
  for (const s of ['00', '00'.repeat(24), 'zz'.repeat(16), 'b64:AAEC', '']) {
    assert.equal(codeOf(() => ie.seal(s, 'x', { device: 'd', seq: 1 })), 'bad-key');
  }
});

test('JSON form strictness: floats, strings, duplicates, extra members', () => {
  const obj = JSON.parse(ie.seal(SECRET, 'x', { device: 'd', seq: 1, ts: NOW, format: 'json' }));
  const text = JSON.stringify(obj);
  assert.equal(codeOf(() => ie.open(SECRET, text.replace('"seq":1', '"seq":1.0'), { now: NOW })), 'malformed');
  assert.equal(codeOf(() => ie.open(SECRET, text.replace('"seq":1', '"seq":"1"'), { now: NOW })), 'malformed');
  assert.equal(codeOf(() => ie.open(SECRET, text.replace('"seq":1', '"seq":1,"seq":1'), { now: NOW })), 'malformed');
  assert.equal(codeOf(() => ie.open(SECRET, text.replace('}', ',"x":1}'), { now: NOW })), 'malformed');
  assert.equal(ie.open(SECRET, JSON.stringify(obj, null, 2), { now: NOW }).text, 'x');
});
