'use strict';
// A short, seeded fuzz run (issue 10: the F1 harnesses are part of CI): valid envelopes in every form, mutated
// (bytes flipped, inserted, deleted, JSON members duplicated/renamed/nested, text cut or padded). Every input
// must either open to exactly the original message (a mutation that changed nothing the MAC covers, e.g. JSON
// white space) or fail with a library error (an IotEnvelopeError with a SPEC code), never anything else, and
// the node:crypto and crypto-js backends must give the same outcome for every input.
const test = require('node:test');
const assert = require('node:assert/strict');
const { backends } = require('./helpers');

const SECRET = '8f0e7d6c5b4a39281706f5e4d3c2b1a0';
const NOW = 1763900000;
const CODES = new Set(['malformed', 'unsupported-version', 'padding', 'bad-key', 'unknown-device', 'auth',
  'wrong-direction', 'replay-duplicate', 'replay-too-old', 'stale', 'future', 'time-unknown']);

function prng(seed) { // xorshift32: reproducible inputs
  let x = seed >>> 0 || 1;
  return (n) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_={}[]":, \n\r\t\\.+/e0';

function mutate(text, rnd) {
  const ops = 1 + rnd(3);
  let t = text;
  for (let i = 0; i < ops; i++) {
    const at = rnd(t.length + 1);
    switch (rnd(9)) {
      case 0: t = t.slice(0, at) + ALPHABET[rnd(ALPHABET.length)] + t.slice(at + 1); break; // replace
      case 1: t = t.slice(0, at) + ALPHABET[rnd(ALPHABET.length)] + t.slice(at); break; // insert
      case 2: t = t.slice(0, at) + t.slice(at + 1 + rnd(4)); break; // delete
      case 3: t = t.slice(0, at); break; // truncate
      case 4: t += rnd(2) ? '\n' : '\r\n'; break; // line ends
      case 5: t = t.replace(/"(seq|ts|v)": (\d+)/, (m, k, v) => `"${k}": ${['1.0', '"1"', 'true', '[1]', '{"a":1}', '-0', '1e3', `${v}0`][rnd(8)]}`); break;
      case 6: t = t.replace(/, "(\w+)": ("[^"]*"|\d+)/, (m, k, v) => `${m}, "${rnd(2) ? k : `${k}x`}": ${v}`); break; // duplicate/rename
      case 7: t = t.slice(0, at) + t.slice(at, at + 8).toUpperCase() + t.slice(at + 8); break;
      default: t = t.replace(/(\s*)}$/, `, "${'z'.repeat(rnd(5))}": ${rnd(2) ? '{}' : '[]'}}`);
    }
  }
  return t;
}

function outcome(ie, text, opts) {
  try {
    const o = ie.open(SECRET, text, { now: NOW, ...opts });
    return `ok ${Buffer.from(o.plaintext).toString('hex')} ${o.device} ${o.direction} ${o.type} ${o.seq} ${o.ts}`;
  } catch (e) {
    if (!(e instanceof ie.IotEnvelopeError) || !CODES.has(e.code)) throw new Error(`not a library error: ${e.name}: ${e.message}`);
    return `error ${e.code}`;
  }
}

test('fuzz: mutated compact, JSON and lean envelopes: only library errors, identical outcomes on every backend', () => {
  const all = backends();
  const [, first] = all[0];
  const rnd = prng(20261201);
  const seeds = [];
  for (let i = 0; i < 12; i++) {
    const msg = Buffer.from(Array.from({ length: rnd(40) }, () => rnd(256)));
    const opts = { device: `dev-${i}`, seq: rnd(1 << 30), ts: i % 3 ? NOW - rnd(100) : 0, direction: i % 4 ? 'up' : 'down' };
    for (const format of ['compact', 'json', 'lean']) {
      seeds.push({ format, opts, msg, text: first.seal(SECRET, msg, { ...opts, format }) });
    }
  }
  let accepted = 0;
  let refused = 0;
  for (let n = 0; n < 1500; n++) {
    const s = seeds[rnd(seeds.length)];
    const text = mutate(s.text, rnd);
    const openOpts = { direction: s.opts.direction, ...(s.format === 'lean' ? { format: 'lean', device: s.opts.device } : {}) };
    const results = all.map(([, ie]) => outcome(ie, text, openOpts));
    assert.ok(results.every((r) => r === results[0]), `${JSON.stringify(text)}: ${results.join(' | ')}`);
    if (results[0].startsWith('ok')) {
      const o = first.open(SECRET, s.text, { now: NOW, ...openOpts });
      assert.equal(results[0], `ok ${Buffer.from(o.plaintext).toString('hex')} ${o.device} ${o.direction} ${o.type} ${o.seq} ${o.ts}`, JSON.stringify(text));
      accepted += 1;
    } else refused += 1;
  }
  assert.ok(refused > 1000 && accepted > 10, `${accepted} accepted, ${refused} refused`);
});
