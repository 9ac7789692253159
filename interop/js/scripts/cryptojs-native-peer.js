#!/usr/bin/env node
'use strict';
// Real crypto-js as a test peer for the PBKDF2 layouts (tests/test_cryptojs_pbkdf2.py): only crypto-js's own
// calls, written the way receiving and sending user code writes them, no iotenvelope code.
//
//   node interop/js/scripts/cryptojs-native-peer.js < requests.json > answers.json
//
// stdin: a JSON array of requests; stdout: a JSON array of answers, in order.
//   {"op": "pbkdf2-decrypt", "lib": "4.2.0", "layout": "concat"|"separate"|"json", "text": ..., "salt"?: hex,
//    "iv"?: hex, "saltBytes"?: 16, "passphrase": ..., "options": null | {"keySize": bits, "hasher": "sha1"|...,
//    "iterations": n}}                    -> {"hex": plaintext hex, "utf8"?: text, "utf8Error"?: message}
//   {"op": "pbkdf2-encrypt", "lib", "layout", "message" (text), "passphrase", "salt": hex, "iv": hex, "options"}
//                                         -> {"wire": text}
//   {"op": "pbkdf2-check", "lib", "path", "maxIterations"?}   -> {"passed", "failed", "failures"} (verify)
// options null means CryptoJS.PBKDF2(passphrase, salt) with no options: that version's defaults. Keys in the
// options object are given only when present, so {"keySize": 256, "iterations": 100} leaves the hasher to the
// version default, as user code does.

const fs = require('fs');

const libs = new Map();
function load(version) {
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`bad crypto-js version ${version}`);
  if (!libs.has(version)) {
    // eslint-disable-next-line global-require, import/no-dynamic-require
    const actual = require(`crypto-js-${version}/package.json`).version;
    if (actual !== version) throw new Error(`crypto-js-${version} is really ${actual}`);
    // eslint-disable-next-line global-require, import/no-dynamic-require
    libs.set(version, require(`crypto-js-${version}`));
  }
  return libs.get(version);
}

function pbkdf2Options(C, o) {
  if (o === null || o === undefined) return undefined;
  const out = {};
  if (o.keySize !== undefined) out.keySize = o.keySize / 32;
  if (o.hasher !== undefined) out.hasher = { sha1: C.algo.SHA1, sha256: C.algo.SHA256, sha512: C.algo.SHA512 }[o.hasher];
  if (o.iterations !== undefined) out.iterations = o.iterations;
  return out;
}

function deriveKey(C, req, salt) {
  const opt = pbkdf2Options(C, req.options);
  return opt === undefined ? C.PBKDF2(req.passphrase, salt) : C.PBKDF2(req.passphrase, salt, opt);
}

function handle(req) {
  const C = load(req.lib);
  if (req.op === 'pbkdf2-decrypt') {
    let salt; let iv; let ct;
    if (req.layout === 'concat') { // the receiving half of the popular gist
      const n = 2 * (req.saltBytes || 16);
      salt = C.enc.Hex.parse(req.text.substr(0, n));
      iv = C.enc.Hex.parse(req.text.substr(n, 32));
      ct = req.text.substring(n + 32);
    } else if (req.layout === 'json') {
      const obj = JSON.parse(req.text);
      salt = C.enc.Hex.parse(obj.s); iv = C.enc.Hex.parse(obj.iv); ct = obj.ct;
    } else {
      salt = C.enc.Hex.parse(req.salt); iv = C.enc.Hex.parse(req.iv); ct = req.text;
    }
    const plain = C.AES.decrypt(ct, deriveKey(C, req, salt), { iv });
    const res = { hex: C.enc.Hex.stringify(plain) };
    try { res.utf8 = plain.toString(C.enc.Utf8); } catch (e) { res.utf8Error = e.message; }
    return res;
  }
  if (req.op === 'pbkdf2-encrypt') {
    const salt = C.enc.Hex.parse(req.salt);
    const iv = C.enc.Hex.parse(req.iv);
    const ct = C.AES.encrypt(req.message, deriveKey(C, req, salt), { iv }).toString();
    if (req.layout === 'concat') return { wire: salt.toString() + iv.toString() + ct };
    if (req.layout === 'json') return { wire: JSON.stringify({ ct, iv: iv.toString(), s: salt.toString() }) };
    return { wire: ct };
  }
  if (req.op === 'pbkdf2-check') return checkFile(C, req);
  throw new Error(`unknown op ${req.op}`);
}

// `iotenvelope verify`'s check of vectors/cryptojs/cryptojs_pbkdf2_*.json with this crypto-js version, written as
// receiving code would (any version can read any file: settings are passed explicitly, except that a Defaults
// group is read with no options by the version that wrote it). Valid: the key, the plaintext, and the
// re-encryption with the case's salt/IV; invalid: exactly the bytes crypto-js returned when the file was made.
// Groups and readings with more than req.maxIterations iterations are left out: the caller reports them as
// unsupported (crypto-js needs ~10 s for one 250000-iteration derivation).
function checkFile(C, req) {
  const data = JSON.parse(fs.readFileSync(req.path, 'utf8'));
  const res = { passed: 0, failed: 0, failures: [] };
  const record = (ok, t, why) => {
    if (ok) res.passed++; else { res.failed++; res.failures.push(`tcId ${t.tcId} (${t.comment}): ${why}`); }
  };
  const own = data.source && data.source.version === req.lib;
  for (const g of data.testGroups) {
    if (req.maxIterations && g.iterations > req.maxIterations) continue;
    for (const t of g.tests) {
      if (req.maxIterations && t.readWith && t.readWith.iterations > req.maxIterations) continue;
      try {
        const text = t.wire !== undefined ? t.wire : t.ct;
        const base = { lib: req.lib, layout: t.layout, text, salt: t.salt, iv: t.iv, saltBytes: t.salt.length / 2, passphrase: t.passphrase };
        if (t.result === 'valid') {
          const options = own && t.flags.includes('Defaults') ? null : { keySize: g.keySize, hasher: g.hasher, iterations: g.iterations };
          const key = deriveKey(C, { passphrase: t.passphrase, options }, C.enc.Hex.parse(t.salt));
          const got = handle({ ...base, op: 'pbkdf2-decrypt', options });
          const again = C.AES.encrypt(C.enc.Hex.parse(t.msg), key, { iv: C.enc.Hex.parse(t.iv) }).toString();
          record(C.enc.Hex.stringify(key) === t.key && got.hex === t.msg && again === t.ct, t, `key/plaintext/ciphertext differ (got ${got.hex})`);
        } else {
          const got = handle({ ...base, op: 'pbkdf2-decrypt', options: t.readWith });
          record(got.hex === t.cryptojsResult.hex, t, `crypto-js returned ${got.hex}, the file says ${t.cryptojsResult.hex}`);
        }
      } catch (e) {
        record(false, t, `threw ${e.name}: ${e.message}`);
      }
    }
  }
  return res;
}

function main() {
  const requests = JSON.parse(fs.readFileSync(0, 'utf8'));
  const answers = requests.map((r) => {
    try { return handle(r); } catch (e) { return { error: `${e.name}: ${e.message}` }; }
  });
  process.stdout.write(`${JSON.stringify(answers)}\n`);
}

if (require.main === module) main();
module.exports = { handle };
