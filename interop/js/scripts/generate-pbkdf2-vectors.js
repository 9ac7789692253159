#!/usr/bin/env node
'use strict';
// Writes vectors/cryptojs/cryptojs_pbkdf2_<version>.json: messages encrypted by REAL crypto-js (3.3.0, 4.1.1,
// 4.2.0, installed side by side as npm aliases) with a key from CryptoJS.PBKDF2, in the three layouts user code
// writes:
//   concat    hex(salt) + hex(iv) + base64(ct)          (the popular "salt.toString() + iv.toString() + ct" gist)
//   separate  salt, iv and base64(ct) as three values    (e.g. three form fields / MQTT properties)
//   json      {"ct": base64(ct), "iv": hex(iv), "s": hex(salt)}   (the CryptoJSAesJson object shape)
//
//   node interop/js/scripts/generate-pbkdf2-vectors.js [--seed 1] [--out vectors/cryptojs]
//
// Only crypto-js itself is called (no iotenvelope code): CryptoJS.PBKDF2, CryptoJS.AES.encrypt/decrypt,
// CryptoJS.enc.*. WordArray.random (salts and IVs) is replaced by a seeded generator while the file is made, so
// the output is reproducible. Each group records the exact PBKDF2 call in `api`.
//
// Cost: crypto-js 4.2.0's default is 250000 SHA-256 iterations, about 10 s per derivation in pure JavaScript on a
// loaded machine, so those groups hold few cases.

const fs = require('fs');
const path = require('path');

const VERSIONS = ['3.3.0', '4.1.1', '4.2.0'];
const ALGORITHM = 'cryptojs-pbkdf2';

function argv() {
  const a = process.argv.slice(2);
  const get = (name, dflt) => { const i = a.indexOf(name); return i >= 0 ? a[i + 1] : dflt; };
  return { seed: Number(get('--seed', '1')), out: get('--out', path.join(__dirname, '..', '..', '..', 'vectors', 'cryptojs')) };
}

// xorshift32-based byte source: deterministic test data only.
function byteSource(seed) {
  let x = (seed * 2654435761) >>> 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      out[i] = x & 0xff;
    }
    return out;
  };
}

const FLAGS = {
  Defaults: "CryptoJS.PBKDF2 called without options: the version's defaults (3.x/4.1: SHA-1, 1 iteration; 4.2.0: SHA-256, 250000 iterations; always keySize 128/32, i.e. an AES-128 key).",
  Explicit: 'CryptoJS.PBKDF2 called with explicit keySize/hasher/iterations.',
  HasherDefault: 'keySize and iterations explicit, hasher left to the version default (SHA-1 before 4.2.0, SHA-256 from 4.2.0): the same code gives other keys after the upgrade.',
  Concat: 'Layout concat: hex(salt) + hex(iv) + base64(ct) in one string.',
  Separate: 'Layout separate: salt (hex), iv (hex) and ct (base64) are separate values.',
  Json: 'Layout json: {"ct": base64, "iv": hex, "s": hex(salt)} as JSON.stringify writes it.',
  Salt8: '8-byte salt (WordArray.random(8)) instead of 16.',
  NonAscii: 'Message or passphrase with non-ASCII characters (UTF-8).',
  Binary: 'The message was a WordArray of arbitrary bytes.',
  Empty: 'Empty message.',
  UpgradeMismatch: 'Encrypted with this version\'s default PBKDF2 settings and decrypted with the other era\'s defaults (the crypto-js 4.2.0 upgrade, CVE-2023-46233): crypto-js gives no error (cryptojsResult), a strict implementation reports padding.',
  WrongPassphrase: 'Decrypted with another passphrase: crypto-js returns cryptojsResult without an error.',
};

function strictPkcs7Ok(bytes) {
  const n = bytes.length;
  if (!n || n % 16) return false;
  const p = bytes[n - 1];
  if (p < 1 || p > 16) return false;
  for (let i = n - p; i < n; i++) if (bytes[i] !== p) return false;
  return true;
}

function generate(version, seed) {
  // eslint-disable-next-line global-require, import/no-dynamic-require
  const C = require(`crypto-js-${version}`);
  // eslint-disable-next-line global-require, import/no-dynamic-require
  const actual = require(`crypto-js-${version}/package.json`).version;
  if (actual !== version) throw new Error(`crypto-js-${version} is really ${actual}`);
  const WA = C.lib.WordArray;
  const rbytes = byteSource(seed * 7919 + VERSIONS.indexOf(version) + 1);
  const toWA = (u8) => C.enc.Hex.parse(Buffer.from(u8).toString('hex'));
  const hexOf = (wa) => C.enc.Hex.stringify(wa);
  const original = WA.random;
  WA.random = (n) => toWA(rbytes(n));
  const is42 = version === '4.2.0';
  const defaultSettings = is42 ? { hasher: 'sha256', iterations: 250000 } : { hasher: 'sha1', iterations: 1 };
  const otherDefaults = is42 ? { hasher: 'sha1', iterations: 1 } : { hasher: 'sha256', iterations: 250000 };
  const HASHERS = { sha1: C.algo.SHA1, sha256: C.algo.SHA256, sha512: C.algo.SHA512 };
  const HASHER_SRC = { sha1: 'CryptoJS.algo.SHA1', sha256: 'CryptoJS.algo.SHA256', sha512: 'CryptoJS.algo.SHA512' };

  // [settings, api text, option object for CryptoJS.PBKDF2 (undefined = no options), flags]
  const settings = [
    [{ keySize: 128, ...defaultSettings }, 'CryptoJS.PBKDF2(passphrase, salt)', undefined, ['Defaults']],
    [{ keySize: 256, iterations: 100, hasher: defaultSettings.hasher }, 'CryptoJS.PBKDF2(passphrase, salt, {keySize: 256/32, iterations: 100})',
      { keySize: 256 / 32, iterations: 100 }, ['Explicit', 'HasherDefault']],
    [{ keySize: 256, iterations: 1000, hasher: 'sha1' }, null, null, ['Explicit']],
    [{ keySize: 256, iterations: 1000, hasher: 'sha256' }, null, null, ['Explicit']],
    [{ keySize: 256, iterations: 1000, hasher: 'sha512' }, null, null, ['Explicit']],
    [{ keySize: 128, iterations: 10000, hasher: 'sha256' }, null, null, ['Explicit']],
    [{ keySize: 192, iterations: 1, hasher: 'sha1' }, null, null, ['Explicit']],
    [{ keySize: 256, iterations: 1, hasher: 'sha512' }, null, null, ['Explicit']],
  ];
  if (!is42) settings.push([{ keySize: 256, iterations: 250000, hasher: 'sha256' }, null, null, ['Explicit']]);
  const texts = ['{"co2":1223,"temp":21.4}', '{"note":"café ☕ 温度","t":-3}', '', '0123456789abcdef', 'hello world'];
  const passphrases = ['correct horse battery staple', 'pässwörd ☕', 'Secret Passphrase'];
  const layouts = ['concat', 'separate', 'json'];
  const groups = [];
  let caseNo = 0;

  for (const [s, api0, opt0, flags0] of settings) {
    const opt = opt0 !== null ? opt0 : { keySize: s.keySize / 32, hasher: HASHERS[s.hasher], iterations: s.iterations };
    const api = api0 || `CryptoJS.PBKDF2(passphrase, salt, {keySize: ${s.keySize}/32, hasher: ${HASHER_SRC[s.hasher]}, iterations: ${s.iterations}})`;
    const heavy = s.iterations >= 100000;
    const msgs = heavy ? [texts[0], texts[1], texts[0]] : texts.concat([rbytes(37)]);
    const tests = [];
    msgs.forEach((m, i) => {
      const layout = layouts[(i + groups.length) % 3]; // each group starts one layout further
      const pass = passphrases[(i + caseNo) % passphrases.length];
      const salt8 = !heavy && i === 4;
      const salt = WA.random(salt8 ? 8 : 16);
      const iv = WA.random(16);
      const key = opt === undefined ? C.PBKDF2(pass, salt) : C.PBKDF2(pass, salt, opt);
      const mwa = typeof m === 'string' ? C.enc.Utf8.parse(m) : toWA(m);
      const ct = C.AES.encrypt(mwa, key, { iv }).toString();
      // what the receiver code does: the same PBKDF2 call, then AES.decrypt -> Utf8
      const back = C.AES.decrypt(ct, key, { iv });
      if (hexOf(back) !== hexOf(mwa)) throw new Error('crypto-js did not round-trip');
      const flags = [...flags0, layout[0].toUpperCase() + layout.slice(1)];
      if (salt8) flags.push('Salt8');
      if (typeof m !== 'string') flags.push('Binary');
      if ((typeof m === 'string' && /[^\x00-\x7f]/.test(m)) || /[^\x00-\x7f]/.test(pass)) flags.push('NonAscii');
      if (!mwa.sigBytes) flags.push('Empty');
      const t = { comment: `${typeof m === 'string' ? `text of ${m.length} characters` : `${m.length} random bytes`}, layout ${layout}`,
        flags, layout, passphrase: pass, salt: hexOf(salt), iv: hexOf(iv), key: hexOf(key), ct, msg: hexOf(mwa) };
      if (layout === 'concat') t.wire = hexOf(salt) + hexOf(iv) + ct;
      if (layout === 'json') t.wire = JSON.stringify({ ct, iv: hexOf(iv), s: hexOf(salt) });
      t.result = 'valid';
      tests.push(t);
    });
    caseNo += msgs.length;
    // invalid: what crypto-js does when the receiver's settings differ
    const bad = [];
    if (flags0.includes('Defaults')) bad.push(['UpgradeMismatch', passphrases[0], otherDefaults]);
    if (!heavy) bad.push(['WrongPassphrase', `${passphrases[0]}!`, s]);
    for (const [flag, pass, rs] of bad) {
      for (let attempt = 0; attempt < 50; attempt++) {
        const salt = WA.random(16);
        const iv = WA.random(16);
        const key = opt === undefined ? C.PBKDF2(passphrases[0], salt) : C.PBKDF2(passphrases[0], salt, opt);
        const ct = C.AES.encrypt(texts[0], key, { iv }).toString();
        const rkey = C.PBKDF2(pass, salt, { keySize: rs.keySize ? rs.keySize / 32 : 128 / 32, hasher: HASHERS[rs.hasher], iterations: rs.iterations });
        const raw = C.AES.decrypt(ct, rkey, { iv, padding: C.pad.NoPadding });
        const rawBytes = Buffer.from(hexOf(raw), 'hex');
        if (strictPkcs7Ok(rawBytes)) continue; // unpadded by chance: not a useful invalid case
        const got = C.AES.decrypt(ct, rkey, { iv });
        const cryptojsResult = { hex: hexOf(got) };
        try { cryptojsResult.utf8 = got.toString(C.enc.Utf8); } catch (e) { cryptojsResult.utf8Error = e.message; }
        const readWith = { hasher: rs.hasher, iterations: rs.iterations, keySize: rs.keySize || 128 };
        tests.push({ comment: flag === 'UpgradeMismatch'
          ? `sealed with crypto-js ${version} defaults, read with ${is42 ? 'the 3.x/4.1 defaults (SHA-1 x 1)' : 'the 4.2.0 defaults (SHA-256 x 250000)'}`
          : `sealed under ${JSON.stringify(passphrases[0])}, read with ${JSON.stringify(pass)}`,
        flags: [flag, 'Concat'], layout: 'concat', passphrase: pass, readWith, salt: hexOf(salt), iv: hexOf(iv), ct,
        wire: hexOf(salt) + hexOf(iv) + ct, result: 'invalid', error: 'padding', cryptojsResult });
        break;
      }
    }
    groups.push({ type: 'Pbkdf2Test', hasher: s.hasher, iterations: s.iterations, keySize: s.keySize,
      api: `key = ${api}; ct = CryptoJS.AES.encrypt(message, key, {iv}).toString()`, tests });
  }
  WA.random = original;
  let tc = 0;
  for (const g of groups) g.tests = g.tests.map((t) => ({ tcId: ++tc, ...t }));
  return {
    algorithm: ALGORITHM,
    schema: 'iotenvelope_cryptojs_pbkdf2_test_schema_v1',
    source: {
      implementation: 'crypto-js', version, node: process.version,
      generator: 'interop/js/scripts/generate-pbkdf2-vectors.js', command: `node interop/js/scripts/generate-pbkdf2-vectors.js --seed ${seed}`,
      randomness: 'crypto-js WordArray.random (salts, IVs) replaced by a seeded generator so the file is reproducible',
      defaults: { keySize: 128, ...defaultSettings },
    },
    numberOfTests: tc,
    header: [
      `Messages encrypted by crypto-js ${version} itself with a key from CryptoJS.PBKDF2 (legacy, UNAUTHENTICATED). Byte strings are hex; ct is crypto-js's base64 output, wire the whole text for the concat and json layouts.`,
      'Group: hasher/iterations/keySize (bits) are the PBKDF2 settings in effect (for Defaults: this version\'s defaults); api is the exact call. key is the derived key (for debugging a KDF).',
      'Valid: derive key from passphrase and salt, decrypt ct with iv (AES-CBC, PKCS#7) to msg, and encrypt msg with salt and iv to exactly ct / wire.',
      'Invalid: read with readWith settings (and the given passphrase) must fail with error; cryptojsResult is what crypto-js returned instead (utf8Error: the exception toString(Utf8) threw).',
    ],
    notes: Object.fromEntries(Object.entries(FLAGS).map(([k, v]) => [k, { description: v }])),
    testGroups: groups,
  };
}

function main() {
  const { seed, out } = argv();
  fs.mkdirSync(out, { recursive: true });
  for (const v of VERSIONS) {
    const file = path.join(out, `cryptojs_pbkdf2_${v}.json`);
    fs.writeFileSync(file, `${JSON.stringify(generate(v, seed), null, 1)}\n`);
    console.log(file);
  }
}

if (require.main === module) main();

module.exports = { generate, VERSIONS };
