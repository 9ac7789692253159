#!/usr/bin/env node
'use strict';
// Generates vectors/cryptojs/cryptojs_<version>.json: ciphertexts produced by REAL crypto-js (each installed
// version: 3.3.0, 4.1.1, 4.2.0 via npm aliases), with crypto-js's own high-level calls.
//
//   node interop/js/scripts/generate-vectors.js [--seed 1] [--out vectors/cryptojs]
//
// Reproducible: crypto-js's WordArray.random (salts, Iso10126 filler) is replaced by a seeded PRNG while the
// vectors are made, and messages/keys come from the same PRNG. This package (index.js) is used only to pick
// invalid cases (ciphertexts that strict unpadding rejects while crypto-js returns something).

const fs = require('fs');
const path = require('path');
const iotenvelope = require('..');
const { CRYPTOJS_PAD_NAMES } = require('../lib/cipher');

const VERSIONS = ['3.3.0', '4.1.1', '4.2.0'];
const ALGORITHM = 'cryptojs-aes';

function args() {
  const a = process.argv.slice(2);
  const get = (name, dflt) => { const i = a.indexOf(name); return i >= 0 ? a[i + 1] : dflt; };
  return { seed: Number(get('--seed', '1')), out: get('--out', path.join(__dirname, '..', '..', '..', 'vectors', 'cryptojs')) };
}

function prng(seed) {
  // mulberry32: small, deterministic, good enough for test data (NOT for keys in real use).
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FLAGS = {
  Text: 'The message was given to crypto-js as a JavaScript string (crypto-js UTF-8 encodes it).',
  NonAscii: 'The message or passphrase contains non-ASCII characters (UTF-8).',
  Binary: 'The message was given as a WordArray of arbitrary bytes.',
  Empty: 'Empty message.',
  HexLookingPassphrase: 'A passphrase made of 32 hex digits: crypto-js still treats it as a passphrase, not as a key.',
  Aes128: '16-byte key.', Aes192: '24-byte key.', Aes256: '32-byte key.',
  ShortIv: 'IV shorter than 16 bytes: crypto-js zero-pads it (an 8-byte Hex.parse IV = 16 zero bytes).',
  LongIv: 'IV longer than 16 bytes: crypto-js uses only the first 16.',
  WrongPassphrase: 'Decrypted with another passphrase: crypto-js returns bytes (cryptojsHex) without an error; a strict implementation must report the padding error.',
  BadPadding: 'The right key, but the plaintext blocks do not end in valid padding; crypto-js strips bytes anyway (cryptojsHex).',
  WrongKey: 'Decrypted with another key: crypto-js returns bytes (cryptojsHex) without an error.',
  DeviceToNode: 'ESP8266 pattern, device -> node: iv = base64 of the 16 IV bytes.',
  NodeToDevice: 'ESP8266 pattern, node -> device: iv = base64 of the 32-character hex string of the IV.',
  RandomFiller: 'Iso10126 padding: filler bytes are random, so only decryption is compared.',
};

function generate(version, seed) {
  // eslint-disable-next-line global-require, import/no-dynamic-require
  const CryptoJS = require(`crypto-js-${version}`);
  const ie = iotenvelope.create(CryptoJS, version);
  const S = ie.bytes;
  const rand = prng(seed * 1000 + VERSIONS.indexOf(version)); // other data for each version
  const WordArray = CryptoJS.lib.WordArray;
  const originalRandom = WordArray.random;
  const rbytes = (n) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  WordArray.random = (n) => S.toWords(rbytes(n));
  const hex = S.hexEncode;
  const wa = S.toWords;
  const b2w = (x) => (typeof x === 'string' ? x : wa(x)); // crypto-js takes a string (UTF-8) or a WordArray
  const msgBytes = (x) => (typeof x === 'string' ? S.utf8Encode(x) : x);
  const randText = (n) => Array.from({ length: n }, () => String.fromCharCode(32 + Math.floor(rand() * 95))).join('');

  const texts = ['', 'a', '{"co2":1223}', '0123456789abcde', '0123456789abcdef', '0123456789abcdefg',
    '{"note":"café ☕ 温度","t":-3}', 'emoji 😀 and ß', randText(5 + Math.floor(rand() * 60))];
  const flagsOf = (m) => {
    const f = [];
    if (typeof m === 'string') f.push('Text'); else f.push('Binary');
    if (typeof m === 'string' && /[^\x00-\x7f]/.test(m)) f.push('NonAscii');
    if (!msgBytes(m).length) f.push('Empty');
    return f;
  };
  const describe = (m) => (typeof m === 'string' ? `text of ${m.length} characters` : `${m.length} random bytes`);

  const groups = [];
  const passphrases = ['correct horse battery staple', 'pässwörd ☕', '00112233445566778899aabbccddeeff', randText(12)];
  const pbkdf = (pass, salt, words, hash, iterations) => CryptoJS.PBKDF2(pass, salt,
    { keySize: words + 4, hasher: hash === 'md5' ? CryptoJS.algo.MD5 : CryptoJS.algo.SHA256, iterations });
  const split = (material, words) => ({
    key: WordArray.create(material.words.slice(0, words), words * 4),
    iv: WordArray.create(material.words.slice(words, words + 4), 16),
  });
  const salted = (ct, salt) => CryptoJS.format.OpenSSL.stringify(CryptoJS.lib.CipherParams.create({ ciphertext: ct, salt }));
  const has42 = CryptoJS.kdf.OpenSSL.execute.length >= 5; // 4.2.0 added the hasher argument

  const passModes = [
    { keySize: 256, kdf: 'evp-md5', api: 'CryptoJS.AES.encrypt(message, passphrase).toString()',
      enc: (m, p) => CryptoJS.AES.encrypt(b2w(m), p).toString() },
    { keySize: 128, kdf: 'evp-md5', api: 'p = CryptoJS.kdf.OpenSSL.execute(passphrase, 4, 4); CryptoJS.AES.encrypt(message, p.key, {iv: p.iv}), formatted with p.salt',
      enc: (m, p) => { const d = CryptoJS.kdf.OpenSSL.execute(p, 4, 4); return salted(CryptoJS.AES.encrypt(b2w(m), d.key, { iv: d.iv }).ciphertext, d.salt); } },
    has42
      ? { keySize: 256, kdf: 'evp-sha256', api: 'CryptoJS.AES.encrypt(message, passphrase, {hasher: CryptoJS.algo.SHA256}).toString() (crypto-js >= 4.2.0)',
        enc: (m, p) => CryptoJS.AES.encrypt(b2w(m), p, { hasher: CryptoJS.algo.SHA256 }).toString() }
      : { keySize: 256, kdf: 'evp-sha256', api: 'CryptoJS.algo.EvpKDF.create({keySize: 12, hasher: CryptoJS.algo.SHA256}).compute(passphrase, salt) split into key and IV (this version has no hasher option)',
        enc: (m, p) => {
          const salt = WordArray.random(8);
          const d = split(CryptoJS.algo.EvpKDF.create({ keySize: 12, hasher: CryptoJS.algo.SHA256 }).compute(p, salt), 8);
          return salted(CryptoJS.AES.encrypt(b2w(m), d.key, { iv: d.iv }).ciphertext, salt);
        } },
    { keySize: 128, kdf: 'evp-sha256', api: 'CryptoJS.algo.EvpKDF.create({keySize: 8, hasher: CryptoJS.algo.SHA256}).compute(passphrase, salt) split into key and IV',
      enc: (m, p) => {
        const salt = WordArray.random(8);
        const d = split(CryptoJS.algo.EvpKDF.create({ keySize: 8, hasher: CryptoJS.algo.SHA256 }).compute(p, salt), 4);
        return salted(CryptoJS.AES.encrypt(b2w(m), d.key, { iv: d.iv }).ciphertext, salt);
      } },
    { keySize: 256, kdf: 'pbkdf2-sha256:1000', api: 'CryptoJS.PBKDF2(passphrase, salt, {keySize: 12, hasher: CryptoJS.algo.SHA256, iterations: 1000}) split into key and IV (as openssl enc -pbkdf2 -iter 1000 -md sha256)',
      enc: (m, p) => { const salt = WordArray.random(8); const d = split(pbkdf(p, salt, 8, 'sha256', 1000), 8); return salted(CryptoJS.AES.encrypt(b2w(m), d.key, { iv: d.iv }).ciphertext, salt); } },
    { keySize: 128, kdf: 'pbkdf2-sha256:1000', api: 'CryptoJS.PBKDF2(passphrase, salt, {keySize: 8, hasher: CryptoJS.algo.SHA256, iterations: 1000}) split into key and IV',
      enc: (m, p) => { const salt = WordArray.random(8); const d = split(pbkdf(p, salt, 4, 'sha256', 1000), 4); return salted(CryptoJS.AES.encrypt(b2w(m), d.key, { iv: d.iv }).ciphertext, salt); } },
  ];
  for (const mode of passModes) {
    const tests = [];
    const heavy = mode.kdf.startsWith('pbkdf2');
    const msgs = heavy ? [texts[2], texts[6], rbytes(1 + Math.floor(rand() * 40))] : [...texts, rbytes(1 + Math.floor(rand() * 100)), rbytes(32)];
    msgs.forEach((m, i) => {
      const pass = passphrases[i % passphrases.length];
      const flags = flagsOf(m);
      if (/[^\x00-\x7f]/.test(pass) && !flags.includes('NonAscii')) flags.push('NonAscii');
      if (/^[0-9a-f]{32}$/.test(pass)) flags.push('HexLookingPassphrase');
      tests.push({ comment: `${describe(m)}, passphrase ${JSON.stringify(pass)}`, flags, passphrase: pass, msg: hex(msgBytes(m)), ct: mode.enc(m, pass), result: 'valid' });
    });
    if (!heavy) {
      // Wrong passphrase: crypto-js "decrypts" anyway. Keep cases that strict unpadding rejects.
      let n = 0;
      for (let i = 0; n < 3 && i < 100; i++) {
        const m = texts[2];
        const ct = mode.enc(m, passphrases[0]);
        const wrong = `${passphrases[0]} ${i}`;
        try {
          ie.legacy.decryptPassphrase(ct, wrong, { keySize: mode.keySize, kdf: mode.kdf });
          continue; // opened by chance: not a useful invalid case
        } catch (e) { if (e.code !== 'padding') throw e; }
        const { salt, ct: body } = ie.legacy.unpackSalted(ct);
        const { key, iv } = ie.legacy.derivePassphraseKey(wrong, salt, mode.keySize, mode.kdf);
        const cryptojsHex = hex(ie.cipher.cryptojsDecrypt(key, iv, body, 'pkcs7'));
        tests.push({ comment: `encrypted under ${JSON.stringify(passphrases[0])}, decrypted with ${JSON.stringify(wrong)}`, flags: ['WrongPassphrase', 'Text'],
          passphrase: wrong, ct, result: 'invalid', error: 'padding', cryptojsHex });
        n++;
      }
    }
    groups.push({ type: 'PassphraseTest', keySize: mode.keySize, kdf: mode.kdf, api: mode.api, tests });
  }

  const keyOf = (n) => rbytes(n);
  for (const padding of ie.cipher.PADDINGS) {
    const pad = ie.cipher.padObject(padding);
    const tests = [];
    const add = (comment, flags, key, iv, m) => {
      const ct = CryptoJS.AES.encrypt(b2w(m), wa(key), { iv: wa(iv), padding: pad }).toString();
      tests.push({ comment, flags: [...flags, ...flagsOf(m), ...(padding === 'iso10126' ? ['RandomFiller'] : [])], key: hex(key), iv: hex(iv), msg: hex(msgBytes(m)), ct, result: 'valid' });
    };
    let msgs;
    if (padding === 'none') msgs = ['0123456789abcdef', rbytes(32), rbytes(48)];
    else if (padding === 'zero') msgs = ['a', '{"co2":1223}', '0123456789abcdef', '{"note":"café ☕ 温度","t":-3}', Uint8Array.from([...rbytes(20), 7])];
    else msgs = texts.concat([rbytes(1 + Math.floor(rand() * 70))]);
    msgs.forEach((m, i) => {
      const size = [16, 24, 32][i % 3];
      add(`${describe(m)}, ${size * 8}-bit key`, [`Aes${size * 8}`], keyOf(size), rbytes(16), m);
    });
    if (padding === 'pkcs7') {
      add('8-byte IV from Hex.parse("0000000000000000") (zero-padded to 16)', ['ShortIv', 'Aes128'], keyOf(16), new Uint8Array(8), '{"co2":1223}');
      add('8 random IV bytes (zero-padded to 16)', ['ShortIv', 'Aes256'], keyOf(32), rbytes(8), 'hello');
      add('12-byte IV (zero-padded to 16)', ['ShortIv', 'Aes128'], keyOf(16), rbytes(12), '{"note":"café ☕"}');
      add('24-byte IV (only the first 16 used)', ['LongIv', 'Aes128'], keyOf(16), rbytes(24), 'hello world');
      add('32-byte IV (only the first 16 used)', ['LongIv', 'Aes256'], keyOf(32), rbytes(32), rbytes(33));
      // Valid key, broken padding: crypto-js's Pkcs7.unpad drops bytes without checking.
      const key = keyOf(16);
      for (const [what, block] of [['last byte 0x00', [...Array(15).fill(65), 0]], ['last byte 0x11', [...Array(15).fill(65), 0x11]],
        ['0x03 0x03 0x02 tail', [...Array(13).fill(65), 3, 3, 2]], ['last byte 0xff', [...Array(15).fill(66), 0xff]]]) {
        const iv = rbytes(16);
        const ct = CryptoJS.AES.encrypt(wa(Uint8Array.from(block)), wa(key), { iv: wa(iv), padding: CryptoJS.pad.NoPadding }).ciphertext;
        const cryptojsHex = CryptoJS.AES.decrypt(CryptoJS.lib.CipherParams.create({ ciphertext: ct }), wa(key), { iv: wa(iv) }).toString(CryptoJS.enc.Hex);
        tests.push({ comment: `plaintext block with ${what} under the right key`, flags: ['BadPadding', 'Aes128'], key: hex(key), iv: hex(iv),
          ct: CryptoJS.enc.Base64.stringify(ct), result: 'invalid', error: 'padding', cryptojsHex });
      }
    }
    if (padding === 'pkcs7' || padding === 'ansix923') {
      let n = 0;
      for (let i = 0; n < 2 && i < 100; i++) {
        const key = keyOf(16);
        const other = keyOf(16);
        const iv = rbytes(16);
        const ct = CryptoJS.AES.encrypt('{"co2":1223}', wa(key), { iv: wa(iv), padding: pad }).ciphertext;
        try { ie.cipher.decryptCbc(other, iv, S.fromWords(ct), padding); continue; } catch (e) { if (e.code !== 'padding') throw e; }
        const cryptojsHex = CryptoJS.AES.decrypt(CryptoJS.lib.CipherParams.create({ ciphertext: ct }), wa(other), { iv: wa(iv), padding: pad }).toString(CryptoJS.enc.Hex);
        tests.push({ comment: 'encrypted under another 128-bit key', flags: ['WrongKey', 'Aes128'], key: hex(other), iv: hex(iv),
          ct: CryptoJS.enc.Base64.stringify(ct), result: 'invalid', error: 'padding', cryptojsHex });
        n++;
      }
    }
    const padName = `CryptoJS.pad.${CRYPTOJS_PAD_NAMES[padding]}`;
    groups.push({ type: 'KeyTest', padding, cryptojsPadding: padName,
      api: `CryptoJS.AES.encrypt(message, keyWordArray, {iv: ivWordArray, padding: ${padName}}).toString()`, tests });
  }

  const esp = [];
  ['{"co2":1223,"temp":21.4}', '{"note":"café ☕ 温度"}', 'hello', randText(40)].forEach((m, i) => {
    const key = keyOf(16);
    const iv = rbytes(16);
    const ivForm = i % 2 ? 'hex' : 'raw';
    const inner = CryptoJS.enc.Base64.stringify(CryptoJS.enc.Utf8.parse(m)); // the device base64-encodes first
    const data = CryptoJS.AES.encrypt(inner, wa(key), { iv: wa(iv) }).toString();
    const ivText = ivForm === 'raw' ? CryptoJS.enc.Base64.stringify(wa(iv)) : CryptoJS.enc.Base64.stringify(CryptoJS.enc.Utf8.parse(hex(iv)));
    esp.push({ comment: `${describe(m)}, ${ivForm === 'raw' ? 'device -> node (iv = b64 of the IV bytes)' : 'node -> device (iv = b64 of the hex string)'}`,
      flags: [ivForm === 'raw' ? 'DeviceToNode' : 'NodeToDevice', ...flagsOf(m)], key: hex(key), iv: hex(iv), ivForm, msg: hex(msgBytes(m)),
      wire: JSON.stringify({ iv: ivText, data }), result: 'valid' });
  });
  groups.push({ type: 'Esp8266Test', api: 'data = CryptoJS.AES.encrypt(CryptoJS.enc.Base64.stringify(CryptoJS.enc.Utf8.parse(message)), keyWordArray, {iv}).toString(); JSON.stringify({iv, data})', tests: esp });

  WordArray.random = originalRandom;
  let tc = 0;
  for (const g of groups) g.tests = g.tests.map((t) => ({ tcId: ++tc, ...t }));
  return {
    algorithm: ALGORITHM,
    schema: 'iotenvelope_cryptojs_test_schema_v1',
    source: {
      implementation: 'crypto-js', version, node: process.version,
      generator: 'interop/js/scripts/generate-vectors.js', command: `node interop/js/scripts/generate-vectors.js --seed ${seed}`,
      randomness: 'crypto-js WordArray.random (salts, Iso10126 filler) replaced by a seeded PRNG so the file is reproducible',
    },
    numberOfTests: tc,
    header: [
      `Ciphertexts written by crypto-js ${version} itself (legacy, UNAUTHENTICATED conventions). Byte strings are hex; ct/wire are the texts crypto-js produced.`,
      'PassphraseTest: base64 "Salted__" texts; decrypt with passphrase/keySize/kdf; valid tests must also re-encrypt to the same text with the salt they carry.',
      'KeyTest: base64 ciphertext under a raw key and IV (any IV length: crypto-js zero-pads or truncates to 16). Invalid tests must fail with `error`; cryptojsHex is what crypto-js returned instead.',
      'Esp8266Test: the ESP8266 blog JSON {"iv", "data"}; open to msg, and seal msg with iv/ivForm to exactly wire.',
    ],
    notes: Object.fromEntries(Object.entries(FLAGS).map(([k, v]) => [k, { description: v }])),
    testGroups: groups,
  };
}

function main() {
  const { seed, out } = args();
  fs.mkdirSync(out, { recursive: true });
  for (const v of VERSIONS) {
    const file = path.join(out, `cryptojs_${v}.json`);
    fs.writeFileSync(file, `${JSON.stringify(generate(v, seed), null, 1)}\n`);
    console.log(file);
  }
}

if (require.main === module) main();

module.exports = { generate, VERSIONS };
