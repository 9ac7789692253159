'use strict';
// The lean form (SPEC.md §5.3) on every backend, checked against an independent computation of the SPEC layout
// written here directly on node:crypto (HKDF, nonce, AES-ECB IV, AES-CBC, truncated HMAC), byte for byte.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const { backends } = require('./helpers');

const NOW = 1763900000;
const SECRETS = [Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'), Buffer.alloc(32, 0xa7)];
const DIRS = { up: 1, down: 2 };
const TYPES = { data: 0, 'resync-request': 1, 'resync-response': 2 };

function hmac(key, ...parts) {
  const h = crypto.createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** SPEC.md §5.3, spelled out. */
function specLean(secret, plaintext, { device, seq, ts, direction, type }) {
  const prk = hmac(Buffer.alloc(32), secret);
  const enc = hmac(prk, Buffer.from('iotenvelope v1 lean enc'), Buffer.of(1)).subarray(0, secret.length);
  const mac = hmac(prk, Buffer.from('iotenvelope v1 lean mac'), Buffer.of(1));
  const hdr = 0b01000000 | (ts ? 0x10 : 0) | (DIRS[direction] << 2) | TYPES[type];
  const seqB = Buffer.alloc(4); seqB.writeUInt32BE(seq);
  const tsB = Buffer.alloc(ts ? 4 : 0); if (ts) tsB.writeUInt32BE(ts);
  const nonce = Buffer.concat([Buffer.of(0x4c, hdr & 0x0f), seqB, Buffer.alloc(10)]);
  const aes = `aes-${secret.length * 8}`;
  const ecb = crypto.createCipheriv(`${aes}-ecb`, enc, null).setAutoPadding(false);
  const iv = Buffer.concat([ecb.update(nonce), ecb.final()]);
  const cbc = crypto.createCipheriv(`${aes}-cbc`, enc, iv);
  const ct = Buffer.concat([cbc.update(plaintext), cbc.final()]);
  const tag = hmac(mac, Buffer.of(hdr, device.length), Buffer.from(device, 'ascii'), seqB, tsB, ct).subarray(0, 8);
  return Buffer.concat([Buffer.of(hdr), seqB, tsB, ct, tag]);
}

function codeOf(ie, fn) {
  try { fn(); } catch (e) { assert.ok(e instanceof ie.IotEnvelopeError, `${e.name}: ${e.message}`); return e.code; }
  return 'no error';
}

const CASES = [];
for (const secret of SECRETS) {
  for (const [direction, type] of [['up', 'data'], ['down', 'data'], ['up', 'resync-request'], ['down', 'resync-response']]) {
    for (const ts of [0, NOW]) {
      for (const p of [0, 1, 15, 16, 20, 31, 100]) {
        CASES.push({ secret, plaintext: Buffer.from(Array.from({ length: p }, (_, i) => (i * 7 + p) & 0xff)), opts: { device: `dev-${p}`, seq: 1000 + p, ts, direction, type } });
      }
    }
  }
}

for (const [name, ie] of backends()) {
  test(`${name}: lean seal is byte-identical to the SPEC layout computed on node:crypto, and opens (${CASES.length} cases)`, () => {
    for (const { secret, plaintext, opts } of CASES) {
      const want = specLean(secret, plaintext, opts);
      const raw = ie.sealLean(secret, plaintext, opts);
      assert.equal(Buffer.from(raw).toString('hex'), want.toString('hex'), JSON.stringify(opts));
      const text = ie.seal(secret.toString('hex'), plaintext, { ...opts, format: 'lean' });
      assert.equal(text, want.toString('base64url'));
      assert.ok(raw.length <= 13 + 16 * Math.ceil((plaintext.length + 1) / 16) + (opts.ts ? 4 : 0));
      const got = ie.openLean(secret, raw, { device: opts.device, direction: opts.direction, freshness: null });
      assert.deepEqual([Buffer.from(got.plaintext), got.device, got.seq, got.ts, got.direction, got.type],
        [plaintext, opts.device, opts.seq, opts.ts, opts.direction, opts.type]);
      assert.deepEqual(Buffer.from(ie.seal(secret, plaintext, { ...opts, format: 'lean-raw' })), want);
      assert.deepEqual(Buffer.from(ie.open(secret, want, { format: 'lean-raw', device: opts.device, direction: opts.direction, freshness: null }).plaintext), plaintext);
      const viaText = ie.open({ [opts.device]: secret }, text, { format: 'lean', device: opts.device, direction: opts.direction, freshness: null });
      assert.deepEqual(Buffer.from(viaText.plaintext), plaintext);
    }
  });

  test(`${name}: lean sizes: a 20-byte reading is 45 bytes, a 31-byte one with ts is 51`, () => {
    const s = SECRETS[0];
    assert.equal(ie.sealLean(s, Buffer.alloc(20), { device: 's1', seq: 1, ts: 0 }).length, 45);
    assert.equal(ie.sealLean(s, Buffer.alloc(31), { device: 's1', seq: 1, ts: NOW }).length, 49);
    assert.equal(ie.sealLean(s, Buffer.alloc(32), { device: 's1', seq: 1, ts: NOW }).length, 65);
    assert.equal(ie.sealLean(s, Buffer.alloc(0), { device: 's1', seq: 1, ts: 0 }).length, 29);
  });

  test(`${name}: lean receiver rules: every tamper is auth, wrong device auth, layout errors malformed, MAC first`, () => {
    const s = SECRETS[0];
    const opts = { device: 'node-7', seq: 77, ts: NOW };
    const raw = Buffer.from(ie.sealLean(s, 'reading', opts));
    const open = (bytes, o) => ie.openLean(s, bytes, { device: 'node-7', now: NOW, ...o });
    assert.equal(open(raw).text, 'reading');
    for (let i = 0; i < raw.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const b = Buffer.from(raw); b[i] ^= bit;
        const code = codeOf(ie, () => open(b));
        // header bits 7..5 -> unsupported-version; T flipped -> length/ts layout; D/Y to an invalid value -> malformed
        if (i === 0) assert.ok(['unsupported-version', 'malformed', 'auth', 'wrong-direction'].includes(code), `${i}/${bit}: ${code}`);
        else assert.equal(code, 'auth', `byte ${i} bit ${bit}`);
      }
    }
    assert.equal(codeOf(ie, () => open(raw, { device: 'node-8' })), 'auth');
    assert.equal(codeOf(ie, () => ie.openLean({ 'node-7': s }, raw, { device: 'node-8', now: NOW })), 'unknown-device');
    assert.equal(codeOf(ie, () => open(raw, { direction: 'down' })), 'wrong-direction');
    assert.equal(codeOf(ie, () => open(raw.subarray(0, raw.length - 1))), 'malformed');
    assert.equal(codeOf(ie, () => open(Buffer.concat([raw, Buffer.alloc(16)]))), 'auth'); // a whole block more: length fine, tag wrong
    assert.equal(codeOf(ie, () => open(Buffer.concat([raw, Buffer.alloc(1)]))), 'malformed');
    assert.equal(codeOf(ie, () => open(raw.subarray(0, 28))), 'malformed');
    assert.equal(codeOf(ie, () => ie.openLean(s, raw, { now: NOW })), 'malformed'); // no device given
    const hdr = (v) => { const b = Buffer.from(raw); b[0] = v; return b; };
    assert.equal(codeOf(ie, () => open(hdr(0x64))), 'unsupported-version'); // 011xxxxx
    assert.equal(codeOf(ie, () => open(hdr(0x24))), 'unsupported-version');
    assert.equal(codeOf(ie, () => open(hdr(0x50))), 'malformed'); // D = 00
    assert.equal(codeOf(ie, () => open(hdr(0x5c))), 'malformed'); // D = 11
    assert.equal(codeOf(ie, () => open(hdr(0x57))), 'malformed'); // Y = 11
    const zeroTs = Buffer.from(raw); zeroTs.fill(0, 5, 9);
    assert.equal(codeOf(ie, () => open(zeroTs)), 'malformed'); // T = 1 with ts = 0
    assert.equal(codeOf(ie, () => ie.open(s, raw.toString('base64'), { format: 'lean', device: 'node-7', now: NOW })), raw.toString('base64').match(/[+/=]/) ? 'malformed' : 'auth');
    assert.equal(codeOf(ie, () => ie.open(s, `${raw.toString('base64url')}=`, { format: 'lean', device: 'node-7', now: NOW })), 'malformed');
    // freshness applies when ts is on the wire; a T = 0 envelope is "time unknown"
    assert.equal(codeOf(ie, () => open(raw, { now: NOW + 86400 + 301 })), 'stale');
    const noTs = ie.sealLean(s, 'r', { device: 'node-7', seq: 78, ts: 0 });
    assert.equal(codeOf(ie, () => open(noTs, { freshness: { allowUnknownTime: false } })), 'time-unknown');
    assert.equal(open(noTs, { now: 5 }).ts, 0);
    // bad padding under a valid tag is `padding`: forge one with the lean keys (as a broken sender would)
    const prk = hmac(Buffer.alloc(32), s);
    const enc = hmac(prk, Buffer.from('iotenvelope v1 lean enc\x01')).subarray(0, 16);
    const mac = hmac(prk, Buffer.from('iotenvelope v1 lean mac\x01'));
    const hb = 0x44;
    const nonce = Buffer.concat([Buffer.of(0x4c, 0x04, 0, 0, 0, 9), Buffer.alloc(10)]);
    const iv = crypto.createCipheriv('aes-128-ecb', enc, null).setAutoPadding(false).update(nonce);
    const ct = crypto.createCipheriv('aes-128-cbc', enc, iv).setAutoPadding(false).update(Buffer.alloc(16, 0x11));
    const tag = hmac(mac, Buffer.concat([Buffer.of(hb, 6), Buffer.from('node-7'), Buffer.of(0, 0, 0, 9), ct])).subarray(0, 8);
    assert.equal(codeOf(ie, () => open(Buffer.concat([Buffer.of(hb, 0, 0, 0, 9), ct, tag]))), 'padding');
  });

  test(`${name}: lean and compact envelopes of one device share one replay window; keys are never shared`, () => {
    const s = SECRETS[1];
    const win = new ie.ReplayWindow();
    ie.open(s, ie.seal(s, 'a', { device: 'x', seq: 5, ts: NOW }), { now: NOW, replay: win });
    const lean = ie.seal(s, 'b', { device: 'x', seq: 5, ts: NOW, format: 'lean' });
    assert.equal(codeOf(ie, () => ie.open(s, lean, { format: 'lean', device: 'x', now: NOW, replay: win })), 'replay-duplicate');
    assert.equal(ie.open(s, ie.seal(s, 'c', { device: 'x', seq: 6, ts: NOW, format: 'lean' }), { format: 'lean', device: 'x', now: NOW, replay: win }).text, 'c');
    // a repeated seq (a broken counter) gives the same IV, so equal first blocks show; the window refuses the second
    const one = ie.sealLean(s, 'same first block.', { device: 'x', seq: 9, ts: 0 });
    const two = ie.sealLean(s, 'same first block!', { device: 'x', seq: 9, ts: 0 });
    assert.deepEqual(Buffer.from(one.subarray(5, 21)), Buffer.from(two.subarray(5, 21)));
    assert.notDeepEqual(Buffer.from(one.subarray(21, 37)), Buffer.from(two.subarray(21, 37)));
    const three = ie.sealLean(s, 'same first block.', { device: 'x', seq: 9, ts: 0 });
    assert.deepEqual(Buffer.from(one), Buffer.from(three));
    ie.openLean(s, one, { device: 'x', now: NOW, replay: win });
    assert.equal(codeOf(ie, () => ie.openLean(s, two, { device: 'x', now: NOW, replay: win })), 'replay-duplicate');
    // the same message as compact and as lean: different keys, different ciphertext and tag
    const compactEnv = ie.sealEnvelope(s, Buffer.alloc(16), { device: 'x', seq: 1, ts: 0, iv: Buffer.alloc(16).toString('hex') });
    const leanEnv = ie.sealEnvelope(s, Buffer.alloc(16), { device: 'x', seq: 1, ts: 0, format: 'lean' });
    assert.notDeepEqual(Buffer.from(compactEnv.ct), Buffer.from(leanEnv.ct));
    assert.equal(codeOf(ie, () => ie.encode(leanEnv, 'compact')), 'malformed');
    assert.equal(ie.encode(leanEnv), ie.encodeLean(leanEnv));
    assert.equal(ie.decode(ie.encode(leanEnv), 'lean', { device: 'x' }).seq, 1);
    assert.equal(codeOf(ie, () => ie.seal(s, 'x', { device: 'x', seq: 1, format: 'lean', iv: '00'.repeat(16) })), 'malformed');
  });

  test(`${name}: resync over the lean form`, () => {
    const s = SECRETS[0];
    const req = ie.resyncRequest(s, { device: 'lora-1', format: 'lean' });
    const answer = ie.answerResync(s, req.text, { format: 'lean', device: 'lora-1', nextSeq: 40, seq: 3, now: NOW, rateLimit: new ie.ResyncRateLimit() });
    assert.equal(ie.acceptResyncResponse(s, answer.text, req, { format: 'lean', device: 'lora-1' }).counter, 40);
  });
}
