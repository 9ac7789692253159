'use strict';
// Checks vector files (vectors/README.md) with this package on one backend instance, for the package's own node
// tests (test/vectors.test.js: they run without Python). Not part of the npm package. `iotenvelope verify` does
// not use this file: its js-* rows are protocol runners (verify/runner.js) judged by verify's own checking code.
// Every check compares exact bytes.

const S = require('../lib/bytes');
const runner = require('./runner');

const ENVELOPE_ALGORITHM = 'iotenvelope-v1';
const LEAN_ALGORITHM = 'iotenvelope-v1-lean';
const WYCHEPROOF_CBC = 'AES-CBC-PKCS5';
const CRYPTOJS_ALGORITHM = 'cryptojs-aes';

function newResult() {
  const r = { passed: 0, failed: 0, failures: [] };
  r.record = (ok, label, detail) => {
    if (ok) r.passed += 1;
    else { r.failed += 1; r.failures.push(detail ? `${label}: ${detail}` : label); }
  };
  return r;
}

function* tests(data) {
  for (const group of data.testGroups) for (const test of group.tests || []) yield [group, test];
}

function label(test) { return `tcId ${test.tcId} (${test.comment})`; }

function finish(r) {
  const res = { passed: r.passed, failed: r.failed, failures: r.failures };
  return res;
}

function outcome(fn) {
  try {
    const o = fn();
    return JSON.stringify(['ok', S.hexEncode(o.plaintext), o.device, o.direction, o.type, o.seq, o.ts]);
  } catch (e) {
    return JSON.stringify(['error', e.code]);
  }
}

function checkEnvelopeFile(ie, data) {
  const r = newResult();
  for (const [group, test] of tests(data)) {
    const secret = group.secret;
    let opened;
    try {
      opened = ie.open(secret, test.envelope, { direction: group.receiverDirection, format: test.format, freshness: null });
    } catch (e) {
      if (!(e instanceof ie.IotEnvelopeError)) { r.record(false, label(test), `threw a non-library error ${e.name}: ${e.message}`); continue; }
      r.record(test.result === 'invalid' && e.code === test.error, label(test),
        `raised ${e.code} (${e.message}), expected ${test.result} ${test.error || ''}`);
      continue;
    }
    if (test.result !== 'valid') { r.record(false, label(test), `opened, expected ${test.error}`); continue; }
    const got = [S.hexEncode(opened.plaintext), opened.device, opened.direction, opened.type, opened.seq, opened.ts];
    const want = [test.msg, test.dev, test.direction, test.type, test.seq, test.ts];
    if (JSON.stringify(got) !== JSON.stringify(want)) { r.record(false, label(test), `opened to ${JSON.stringify(got)}`); continue; }
    if (test.flags.includes('NonCanonicalJson')) { r.record(true, label(test)); continue; }
    const sealed = ie.seal(secret, S.hexDecode(test.msg), {
      device: test.dev, seq: test.seq, ts: test.ts, direction: test.direction, type: test.type, iv: test.iv, format: test.format,
    });
    const wantText = test.flags.includes('TrailingNewline') ? test.envelope.replace(/\r?\n$/, '') : test.envelope;
    r.record(sealed === wantText, label(test), 'seal produced different text');
  }
  return finish(r);
}

function opened6(o) { return [S.hexEncode(o.plaintext), o.device, o.direction, o.type, o.seq, o.ts]; }

/**
 * envelope_v1_lean.json: each case opened for its 'dev' (the id is not on the wire), valid ones compared and
 * sealed again (the IV comes from seq, so the text must come out the same, without the newline a
 * TrailingNewline case adds); RepeatedSeq cases open their envelopes in order with one fresh window of 64.
 */
function checkLeanFile(ie, data) {
  const r = newResult();
  const keysChecked = new Set();
  for (const [group, test] of tests(data)) {
    const secret = group.secret;
    if (!keysChecked.has(secret)) {
      keysChecked.add(secret);
      const k = ie.deriveLeanKeys(secret);
      if (S.hexEncode(k.encKey) !== group.encKey || S.hexEncode(k.macKey) !== group.macKey) {
        r.record(false, `group of secret ${secret.slice(0, 8)}...`, 'derived lean keys differ from encKey/macKey');
      }
    }
    const opts = { direction: group.receiverDirection, format: 'lean', device: test.dev, freshness: null };
    if (test.flags.includes('RepeatedSeq')) {
      const replay = new ie.ReplayWindow({ size: 64 });
      const got = test.envelopes.map((text, i) => {
        try {
          return S.hexEncode(ie.open(secret, text, { ...opts, replay }).plaintext) === test.msgs[i] ? 'valid' : 'wrong plaintext';
        } catch (e) {
          return e instanceof ie.IotEnvelopeError ? e.code : `non-library error ${e.name}`;
        }
      });
      r.record(JSON.stringify(got) === JSON.stringify(test.results), label(test), `results ${JSON.stringify(got)}, expected ${JSON.stringify(test.results)}`);
      continue;
    }
    let opened;
    try {
      opened = ie.open(secret, test.envelope, opts);
    } catch (e) {
      if (!(e instanceof ie.IotEnvelopeError)) { r.record(false, label(test), `threw a non-library error ${e.name}: ${e.message}`); continue; }
      r.record(test.result === 'invalid' && e.code === test.error, label(test), `raised ${e.code} (${e.message}), expected ${test.result} ${test.error || ''}`);
      continue;
    }
    if (test.result !== 'valid') { r.record(false, label(test), `opened, expected ${test.error}`); continue; }
    const want = [test.msg, test.dev, test.direction, test.type, test.seq, test.ts];
    if (JSON.stringify(opened6(opened)) !== JSON.stringify(want)) { r.record(false, label(test), `opened to ${JSON.stringify(opened6(opened))}`); continue; }
    const sealed = ie.seal(secret, S.hexDecode(test.msg), {
      device: test.dev, seq: test.seq, ts: test.ts, direction: test.direction, type: test.type, format: 'lean',
    });
    const raw = ie.sealLean(secret, S.hexDecode(test.msg), { device: test.dev, seq: test.seq, ts: test.ts, direction: test.direction, type: test.type });
    r.record(sealed === test.envelope.replace(/\r?\n$/, '') && raw.length === test.rawSize, label(test), 'seal produced different text');
  }
  return finish(r);
}

function checkWycheproofCbc(ie, data) {
  const r = newResult();
  for (const [, test] of tests(data)) {
    const [key, iv, msg, ct] = ['key', 'iv', 'msg', 'ct'].map((k) => S.hexDecode(test[k]));
    if (![16, 24, 32].includes(key.length)) { r.record(test.result === 'invalid', label(test), 'key size'); continue; }
    let plain;
    try {
      plain = ie.cipher.decryptCbc(key, iv, ct, 'pkcs7');
    } catch (e) {
      r.record(test.result === 'invalid' && e instanceof ie.IotEnvelopeError, label(test), `decrypt raised ${e.code}: ${e.message}`);
      continue;
    }
    if (test.result === 'invalid') { r.record(false, label(test), 'strict decrypt accepted an invalid ciphertext'); continue; }
    const again = ie.cipher.encryptCbc(key, iv, msg, 'pkcs7');
    r.record(S.equalBytes(plain, msg) && S.equalBytes(again, ct), label(test), 'wrong bytes');
  }
  return finish(r);
}

// What crypto-js's own high-level API returns for this ciphertext, as hex (non-validating unpad): the runner's helper.
function nativePassphraseHex(ie, group, test, passphrase) {
  return runner.nativePassphraseHex(ie, test.ct, passphrase, group.keySize, group.kdf);
}

function checkPassphrase(ie, group, test, r) {
  const opts = { keySize: group.keySize, kdf: group.kdf };
  if (test.result === 'valid') {
    const plain = ie.legacy.decryptPassphrase(test.ct, test.passphrase, opts);
    if (S.hexEncode(plain) !== test.msg) { r.record(false, label(test), 'decrypted to other bytes'); return; }
    // PBKDF2 has no crypto-js passphrase-mode call of its own: the library path above is already crypto-js's PBKDF2.
    if (!group.kdf.startsWith('pbkdf2') && nativePassphraseHex(ie, group, test, test.passphrase) !== test.msg) { r.record(false, label(test), 'native crypto-js decrypt differs'); return; }
    const { salt } = ie.legacy.unpackSalted(test.ct);
    const again = ie.legacy.encryptPassphrase(S.hexDecode(test.msg), test.passphrase, { ...opts, salt });
    r.record(again === test.ct, label(test), 'encrypt with the same salt produced other text');
    return;
  }
  try {
    ie.legacy.decryptPassphrase(test.ct, test.passphrase, opts);
    r.record(false, label(test), `strict decrypt accepted it, expected ${test.error}`);
  } catch (e) {
    const native = nativePassphraseHex(ie, group, test, test.passphrase);
    r.record(e.code === test.error && native === test.cryptojsHex, label(test),
      `raised ${e.code} (expected ${test.error}); crypto-js returned ${native}, vector says ${test.cryptojsHex}`);
  }
}

function checkKey(ie, group, test, r) {
  const padding = group.padding;
  const key = S.hexDecode(test.key);
  const iv = S.hexDecode(test.iv);
  if (test.result === 'valid') {
    const plain = ie.legacy.decryptKey(test.ct, key, iv, { padding });
    if (S.hexEncode(plain) !== test.msg) { r.record(false, label(test), 'decrypted to other bytes'); return; }
    const native = runner.nativeKeyHex(ie, test.ct, key, iv, padding);
    if (native !== test.msg) { r.record(false, label(test), 'native crypto-js decrypt differs'); return; }
    if (padding === 'iso10126') { r.record(true, label(test)); return; } // random filler: cannot re-encrypt
    r.record(ie.legacy.encryptKey(S.hexDecode(test.msg), key, iv, { padding }) === test.ct, label(test), 'encrypt produced other text');
    return;
  }
  try {
    ie.legacy.decryptKey(test.ct, key, iv, { padding });
    r.record(false, label(test), `strict decrypt accepted it, expected ${test.error}`);
  } catch (e) {
    const ct = ie.bytes.decodeStd(test.ct);
    const native = S.hexEncode(ie.cipher.cryptojsDecrypt(key, iv, ct, padding));
    r.record(e.code === test.error && native === test.cryptojsHex, label(test),
      `raised ${e.code} (expected ${test.error}); crypto-js returned ${native}, vector says ${test.cryptojsHex}`);
  }
}

function checkEsp(ie, group, test, r) {
  const key = S.hexDecode(test.key);
  const { message, ivForm } = ie.legacy.openEsp8266(test.wire, key);
  if (S.hexEncode(message) !== test.msg || ivForm !== test.ivForm) { r.record(false, label(test), 'opened to other bytes'); return; }
  const again = ie.legacy.sealEsp8266(S.hexDecode(test.msg), key, { iv: S.hexDecode(test.iv), ivForm: test.ivForm });
  r.record(again === test.wire, label(test), 'seal produced other text');
}

function checkCryptojsFile(ie, data) {
  const r = newResult();
  const byType = { PassphraseTest: checkPassphrase, KeyTest: checkKey, Esp8266Test: checkEsp };
  for (const [group, test] of tests(data)) {
    const check = byType[group.type];
    if (!check) { r.record(false, label(test), `unknown group type ${group.type}`); continue; }
    try {
      check(ie, group, test, r);
    } catch (e) {
      r.record(false, label(test), `threw ${e.name}: ${e.message}`);
    }
  }
  return finish(r);
}

const CHECKERS = {
  [ENVELOPE_ALGORITHM]: checkEnvelopeFile,
  [LEAN_ALGORITHM]: checkLeanFile,
  [WYCHEPROOF_CBC]: checkWycheproofCbc,
  [CRYPTOJS_ALGORITHM]: checkCryptojsFile,
};

function checkFile(ie, data) {
  const check = CHECKERS[data.algorithm];
  if (!check) throw new Error(`no JavaScript checker for algorithm ${data.algorithm}`);
  return check(ie, data);
}

module.exports = { CHECKERS, checkFile, ENVELOPE_ALGORITHM, LEAN_ALGORITHM, WYCHEPROOF_CBC, CRYPTOJS_ALGORITHM };
