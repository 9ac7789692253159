'use strict';
// Driven by bench/js.py: times envelope seal/open in one node process on
//   - the package on node:crypto (the default backend under Node.js),
//   - the package on crypto-js (the browser/sandbox fallback), and
//   - "raw": the same work written directly on node:crypto (header, random IV, AES-CBC, HMAC-SHA-256, base64url;
//     open: base64url, header fields, HMAC, constant-time compare, AES-CBC with OpenSSL's own PKCS#7 check),
//     with the keys derived once, as a careful hand-written implementation would.
// Rounds interleave the implementations; each round times `ops` calls of each; the JSON printed holds every
// round's microseconds per call so bench/js.py takes the medians.
const crypto = require('crypto');
const path = require('path');

const pkgDir = path.resolve(process.argv[2] || path.join(__dirname, '..', 'interop', 'js'));
const rounds = Number(process.argv[3] || 15);
const ops = Number(process.argv[4] || 2000);
const ie = require(pkgDir);
const viaNode = ie.create(ie.CryptoJS, ie.cryptoJsVersion, { backend: 'node:crypto' });
const viaCryptoJs = ie.create(ie.CryptoJS, ie.cryptoJsVersion, { backend: 'crypto-js' });

const SECRET = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const DEVICE = 'sensor-01';
const MSG = '{"co2": 1223, "temp": 21.4, "hum": 48, "bat": 3.71, "rssi": -67, "uptime": 86399}'; // bench/seal_open.py's reading
const TS = 1763900000;

// ---- raw node:crypto ----
const hmac = (k, m) => crypto.createHmac('sha256', k).update(m).digest();
const prk = hmac(Buffer.alloc(32), SECRET);
const ENC = hmac(prk, Buffer.from('iotenvelope v1 enc\x01', 'latin1')).subarray(0, 16);
const MAC = hmac(prk, Buffer.from('iotenvelope v1 mac\x01', 'latin1'));

function rawSeal(plaintext, seq) {
  const iv = crypto.randomFillSync(Buffer.allocUnsafe(16));
  const c = crypto.createCipheriv('aes-128-cbc', ENC, iv);
  const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  const n = DEVICE.length;
  const head = Buffer.allocUnsafe(12 + n);
  head[0] = 1; head[1] = 1; head[2] = 0; head[3] = n;
  head.write(DEVICE, 4, 'latin1');
  head.writeUInt32BE(seq, 4 + n);
  head.writeUInt32BE(TS, 8 + n);
  const macInput = Buffer.concat([head, iv, ct]);
  const tag = hmac(MAC, macInput).subarray(0, 16);
  return Buffer.concat([macInput, tag]).toString('base64url');
}

function rawOpen(text) {
  const raw = Buffer.from(text, 'base64url');
  const n = raw[3];
  if (raw[0] !== 1 || raw.length < 61 + n - 1) throw new Error('malformed');
  const device = raw.toString('latin1', 4, 4 + n);
  const seq = raw.readUInt32BE(4 + n);
  const ts = raw.readUInt32BE(8 + n);
  const end = raw.length - 16;
  if (!crypto.timingSafeEqual(hmac(MAC, raw.subarray(0, end)).subarray(0, 16), raw.subarray(end))) throw new Error('auth');
  const d = crypto.createDecipheriv('aes-128-cbc', ENC, raw.subarray(12 + n, 28 + n));
  const plaintext = Buffer.concat([d.update(raw.subarray(28 + n, end)), d.final()]);
  return { plaintext, device, seq, ts, direction: raw[1], type: raw[2] };
}

// ---- the same calls through the package ----
const secretHex = SECRET.toString('hex');
const sealWith = (lib) => (seq) => lib.seal(secretHex, MSG, { device: DEVICE, seq, ts: TS });
const openWith = (lib) => (text) => lib.open(secretHex, text, { freshness: null });
const impls = {
  raw: { seal: (seq) => rawSeal(MSG, seq), open: rawOpen },
  node: { seal: sealWith(viaNode), open: openWith(viaNode) },
  cryptojs: { seal: sealWith(viaCryptoJs), open: openWith(viaCryptoJs) },
};

// Every implementation opens what every other sealed (and the plaintext is the same), before any timing.
const token = rawSeal(MSG, 7);
for (const [name, impl] of Object.entries(impls)) {
  for (const [other, o] of Object.entries(impls)) {
    const got = o.open(impl.seal(7));
    if (Buffer.from(got.plaintext).toString() !== MSG || got.seq !== 7) throw new Error(`${other} cannot open ${name}'s envelope`);
  }
}

function time(fn, arg, count) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) fn(arg === undefined ? i : arg);
  return Number(process.hrtime.bigint() - start) / 1000 / count;
}

const result = { node: process.version, openssl: process.versions.openssl, cryptojs: ie.cryptoJsVersion, rounds, ops, times: {} };
for (const name of Object.keys(impls)) result.times[name] = { seal: [], open: [] };
for (const [name, impl] of Object.entries(impls)) { time(impl.seal, undefined, ops); time(impl.open, token, ops); } // warm-up
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? Object.keys(impls) : Object.keys(impls).reverse();
  for (const name of order) {
    const count = name === 'cryptojs' ? Math.max(50, Math.floor(ops / 10)) : ops;
    result.times[name].seal.push(time(impls[name].seal, undefined, count));
    result.times[name].open.push(time(impls[name].open, token, count));
  }
}
process.stdout.write(`${JSON.stringify(result)}\n`);
