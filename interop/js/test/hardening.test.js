'use strict';
// Issue 10 F1 and the trailing-newline rule (SPEC.md §5): hostile text is refused as `malformed` before or while
// parsing at a cost linear in its length, on every backend; one trailing LF or CRLF is stripped, nothing else.
const test = require('node:test');
const assert = require('node:assert/strict');
const { backends } = require('./helpers');

const SECRET = '000102030405060708090a0b0c0d0e0f';
const NOW = 1763900000;

function errorOf(fn) {
  try { fn(); } catch (e) { return e; }
  return null;
}

function malformed(ie, fn, re) {
  const e = errorOf(fn);
  assert.ok(e instanceof ie.MalformedError && e.code === 'malformed', `expected malformed, got ${e && `${e.name}: ${e.message}`}`);
  if (re) assert.match(e.message, re);
  return e;
}

function ms(fn) {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

for (const [name, ie] of backends()) {
  const json = ie.seal(SECRET, 'x', { device: 'd', seq: 1, ts: NOW, format: 'json' });
  const compact = ie.seal(SECRET, 'x', { device: 'd', seq: 1, ts: NOW });

  test(`${name}: a 1.1 MB object of 100,000 members and a 1 MB compact string are malformed, refused before parsing`, (t) => {
    const members = [];
    for (let i = 0; i < 100000; i++) members.push(`"m${i}": ${i}`);
    const big = `{${members.join(', ')}}`;
    assert.ok(big.length > 1.1e6, String(big.length));
    const hugeCompact = 'A'.repeat(1 << 20);
    const times = {};
    times.object = ms(() => malformed(ie, () => ie.open(SECRET, big), /envelope text is \d+ characters; the limit is 65536 bytes/));
    times.objectBytes = ms(() => malformed(ie, () => ie.open(SECRET, Buffer.from(big)), /the limit is 65536/));
    times.compact = ms(() => malformed(ie, () => ie.open(SECRET, hugeCompact), /the limit is 65536/));
    const e = malformed(ie, () => ie.decode(big));
    assert.ok(e.message.length < 200, e.message);
    t.diagnostic(`refusal times (ms): ${JSON.stringify(times)}`);
  });

  test(`${name}: below the cap the JSON reader stops at the first unknown, duplicated or nested member`, (t) => {
    // 60 KB documents whose offending member comes first and whose remainder is not even JSON: the refusal names
    // that first member, so nothing after it was read.
    const junk = `, ${'@'.repeat(60000)}`;
    const times = {};
    times.unknown = ms(() => malformed(ie, () => ie.open(SECRET, `{"zz": 1${junk}`), /unexpected member "zz"/));
    const dup = json.replace('"seq": 1,', '"seq": 1, "seq": 1,').replace(/}$/, junk);
    times.duplicate = ms(() => malformed(ie, () => ie.open(SECRET, dup), /duplicated member "seq"/));
    const nested = `{"v": ${'['.repeat(30000)}${']'.repeat(30000)}}`;
    times.nestedArray = ms(() => malformed(ie, () => ie.open(SECRET, nested), /member "v" is an array/));
    const nestedObj = `{"dev": ${'{"a":'.repeat(10000)}1${'}'.repeat(10000)}}`;
    times.nestedObject = ms(() => malformed(ie, () => ie.open(SECRET, nestedObj), /member "dev" is an object/));
    // 4,000 members with names that are all unknown: the first one is the end of it
    const many = `{${Array.from({ length: 4000 }, (_, i) => `"k${i}": ${i}`).join(', ')}}`;
    assert.ok(many.length > 50000 && many.length <= 65536, String(many.length));
    times.manyMembers = ms(() => malformed(ie, () => ie.open(SECRET, many), /unexpected member "k0"/));
    // a tenth member: the nine are all present, so a tenth is a duplicate or unknown one
    malformed(ie, () => ie.open(SECRET, json.replace(/}$/, ', "tag": "AAAA"}')), /duplicated member "tag"/);
    malformed(ie, () => ie.open(SECRET, json.replace(/}$/, ', "x": 1}')), /unexpected member "x"/);
    t.diagnostic(`refusal times (ms): ${JSON.stringify(times)}`);
  });

  test(`${name}: attacker-chosen member names are quoted and cut in messages`, () => {
    const name = `evil\n[error] forged log line ${'x'.repeat(5000)}`;
    const e = malformed(ie, () => ie.open(SECRET, `{${JSON.stringify(name)}: 1}`));
    assert.ok(!e.message.includes('\n'), e.message);
    assert.ok(e.message.length < 160, `${e.message.length} characters`);
    assert.match(e.message, /\(5\d{3} characters\)/);
  });

  test(`${name}: exactly 65536 bytes of text are parsed, 65537 refused; sealing refuses what would exceed the cap`, () => {
    const padded = json.replace(/^\{/, `{${' '.repeat(65536 - json.length)}`);
    assert.equal(padded.length, 65536);
    assert.equal(ie.open(SECRET, padded, { now: NOW }).text, 'x');
    assert.equal(ie.open(SECRET, `${padded}\r\n`, { now: NOW }).text, 'x');
    malformed(ie, () => ie.open(SECRET, ` ${padded}`, { now: NOW }), /65537 characters; the limit is 65536 bytes/);
    // non-ASCII characters count as their UTF-8 bytes
    malformed(ie, () => ie.decode(`{"dev": "${'é'.repeat(33000)}"}`), /66\d{3} bytes; the limit is 65536/);
    // the largest compact envelope: raw 49152 bytes = 65536 characters (a 4-character device id makes it exact)
    const n = 4;
    const maxPlain = 49152 - (4 + n + 8 + 16 + 16) - 1; // ct = plaintext + 1..16 padding bytes, a multiple of 16
    const big = ie.seal(SECRET, Buffer.alloc(maxPlain), { device: 'dddd', seq: 2, ts: NOW });
    assert.equal(big.length, 65536);
    assert.equal(ie.open(SECRET, big, { now: NOW }).plaintext.length, maxPlain);
    malformed(ie, () => ie.seal(SECRET, Buffer.alloc(maxPlain + 1), { device: 'dddd', seq: 2, ts: NOW }), /limit/);
    malformed(ie, () => ie.seal(SECRET, Buffer.alloc(maxPlain), { device: 'dddd', seq: 2, ts: NOW, format: 'json' }), /limit is 65536/);
    // the largest lean envelope without ts: 13 + 49136 = 49149 raw bytes (the next one would be 49165)
    const lean = ie.sealLean(SECRET, Buffer.alloc(49135), { device: 'd', seq: 2, ts: 0 });
    assert.equal(lean.length, 49149);
    assert.equal(ie.openLean(SECRET, lean, { device: 'd' }).plaintext.length, 49135);
    malformed(ie, () => ie.sealLean(SECRET, Buffer.alloc(49136), { device: 'd', seq: 2, ts: 0 }), /limit/);
    malformed(ie, () => ie.openLean(SECRET, Buffer.concat([lean, Buffer.alloc(16)]), { device: 'd' }), /49165 bytes; the limit is 49152/);
    malformed(ie, () => ie.seal(SECRET, Buffer.alloc(1 << 24), { device: 'd', seq: 2, ts: NOW }), /limit/);
  });

  test(`${name}: one trailing LF or CRLF is stripped before decoding, nothing else`, () => {
    for (const text of [compact, json]) {
      for (const nl of ['\n', '\r\n']) {
        assert.equal(ie.open(SECRET, text + nl, { now: NOW }).text, 'x');
        assert.equal(ie.open(SECRET, Buffer.from(text + nl), { now: NOW }).text, 'x');
        assert.equal(ie.decode(text + nl).seq, 1);
      }
    }
    for (const bad of ['\n\n', '\r', '\n\r', ' ', '\t', ' \n', '\r\n\r\n', '\r\r\n']) {
      malformed(ie, () => ie.open(SECRET, compact + bad, { now: NOW }));
      malformed(ie, () => ie.open(SECRET, Buffer.from(compact + bad), { now: NOW }));
    }
    for (const bad of ['\n', ' ', '\r\n']) malformed(ie, () => ie.open(SECRET, bad + compact, { now: NOW }));
    // JSON keeps JSON's own white-space rules around the object
    assert.equal(ie.open(SECRET, `\n ${json} \n\n`, { now: NOW }).text, 'x');
    // seal never appends a newline
    assert.ok(!/\s/.test(compact) && !json.endsWith('\n'));
    // the lean text form follows the same rule
    const lean = ie.seal(SECRET, 'x', { device: 'd', seq: 1, ts: NOW, format: 'lean' });
    assert.equal(ie.open(SECRET, `${lean}\r\n`, { now: NOW, format: 'lean', device: 'd' }).text, 'x');
    malformed(ie, () => ie.open(SECRET, `${lean}\n\n`, { now: NOW, format: 'lean', device: 'd' }));
    // resync halves strip it too
    const req = ie.resyncRequest(SECRET, { device: 'nl' });
    const answer = ie.answerResync(SECRET, `${req.text}\n`, { seq: 1, now: NOW, rateLimit: new ie.ResyncRateLimit() });
    assert.equal(ie.acceptResyncResponse(SECRET, `${answer.text}\r\n`, req).nextSeq, 0);
  });
}
