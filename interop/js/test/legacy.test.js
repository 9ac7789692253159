'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { libs } = require('./helpers');

const MSG = '{"co2":1223,"note":"café ☕"}';

for (const [version, ie] of libs()) {
  const C = ie.CryptoJS;
  const L = ie.legacy;

  test(`crypto-js ${version}: passphrase text from this package opens with crypto-js's own AES.decrypt`, () => {
    const text = L.encryptPassphrase(MSG, 'pw');
    assert.equal(C.AES.decrypt(text, 'pw').toString(C.enc.Utf8), MSG);
    assert.equal(Buffer.from(L.decryptPassphrase(C.AES.encrypt(MSG, 'pw').toString(), 'pw')).toString(), MSG);
  });

  test(`crypto-js ${version}: AES-128 passphrase mode = kdf.OpenSSL.execute(pass, 4, 4, salt)`, () => {
    const text = L.encryptPassphrase(MSG, 'pw', { keySize: 128 });
    const { salt, ct } = L.unpackSalted(text);
    const p = C.kdf.OpenSSL.execute('pw', 4, 4, ie.bytes.toWords(salt));
    const plain = C.AES.decrypt(C.lib.CipherParams.create({ ciphertext: ie.bytes.toWords(ct) }), p.key, { iv: p.iv });
    assert.equal(plain.toString(C.enc.Utf8), MSG);
  });

  test(`crypto-js ${version}: the {hasher: SHA256} option ${version >= '4.2.0' ? 'is honoured' : 'is silently ignored (MD5 used)'}`, () => {
    const made = C.AES.encrypt(MSG, 'pw', { hasher: C.algo.SHA256 }).toString();
    const kdf = version >= '4.2.0' ? 'evp-sha256' : 'evp-md5';
    assert.equal(Buffer.from(L.decryptPassphrase(made, 'pw', { kdf })).toString(), MSG);
  });

  test(`crypto-js ${version}: a wrong passphrase is a padding error here, "" or garbage in crypto-js`, () => {
    const text = C.AES.encrypt(MSG, 'right').toString();
    let strictFailed = 0;
    for (let i = 0; i < 20; i++) {
      try { L.decryptPassphrase(text, `wrong${i}`); } catch (e) { assert.equal(e.code, 'padding'); assert.match(e.message, /crypto-js would not/); strictFailed++; }
      assert.notEqual(C.AES.decrypt(text, `wrong${i}`).toString(C.enc.Hex), Buffer.from(MSG).toString('hex'));
    }
    assert.ok(strictFailed >= 18);
  });

  test(`crypto-js ${version}: a hex-looking passphrase is named in the error`, () => {
    const key = '00112233445566778899aabbccddeeff';
    const text = C.AES.encrypt(MSG, C.enc.Hex.parse(key), { iv: C.enc.Hex.parse(key) }).toString();
    assert.throws(() => L.decryptPassphrase(text, key), /Salted__|raw key/);
    const salted = C.AES.encrypt(MSG, 'other').toString();
    assert.throws(() => L.decryptPassphrase(salted, key), /hex digits.*raw key/);
  });

  test(`crypto-js ${version}: raw key mode, short IV zero-padded and long IV truncated as crypto-js does`, () => {
    const key = Buffer.alloc(16, 1);
    for (const iv of [Buffer.alloc(8), Buffer.from('0102030405'), Buffer.alloc(24, 9)]) {
      const warnings = [];
      const text = L.encryptKey(MSG, key, iv, { warn: (m) => warnings.push(m) });
      const native = C.AES.encrypt(MSG, ie.bytes.toWords(key), { iv: ie.bytes.toWords(iv) }).toString();
      assert.equal(text, native);
      assert.equal(warnings.length, 1);
      const full = Buffer.concat([iv, Buffer.alloc(16)]).subarray(0, 16);
      assert.equal(text, L.encryptKey(MSG, key, full));
    }
  });

  test(`crypto-js ${version}: every padding crypto-js ships round-trips and matches crypto-js`, () => {
    const key = Buffer.alloc(32, 3);
    const iv = Buffer.alloc(16, 4);
    for (const padding of ie.cipher.PADDINGS) {
      const msg = padding === 'none' ? Buffer.alloc(32, 0x41) : Buffer.from('hello, padding');
      const text = L.encryptKey(msg, key, iv, { padding });
      assert.deepEqual(Buffer.from(L.decryptKey(text, key, iv, { padding })), msg);
      const native = C.AES.decrypt(text, ie.bytes.toWords(key), { iv: ie.bytes.toWords(iv), padding: ie.cipher.padObject(padding) });
      assert.equal(native.toString(C.enc.Hex), msg.toString('hex'));
    }
  });

  test(`crypto-js ${version}: illegal key lengths are rejected (crypto-js would not)`, () => {
    for (const n of [0, 8, 15, 20, 33]) {
      assert.throws(() => L.encryptKey(MSG, Buffer.alloc(n, 1), Buffer.alloc(16)), (e) => e.code === 'bad-key' && /16, 24 or 32/.test(e.message));
    }
  });

  test(`crypto-js ${version}: base64 with line breaks or missing '=' gets an error naming the cause`, () => {
    const text = L.encryptPassphrase('x'.repeat(100), 'pw');
    const wrapped = text.replace(/(.{64})/g, '$1\n');
    assert.throws(() => L.decryptPassphrase(wrapped, 'pw'), /line break.*openssl/);
    // crypto-js does not fail: it decodes the line breaks as data and returns "" or garbage.
    assert.notEqual(C.AES.decrypt(wrapped, 'pw').toString(C.enc.Hex), Buffer.from('x'.repeat(100)).toString('hex'));
    const k = Buffer.alloc(16, 1);
    const short = L.encryptKey('abc', k, Buffer.alloc(16)).replace(/=+$/, '');
    assert.throws(() => L.decryptKey(short, k, Buffer.alloc(16)), /'=' padding missing/);
  });

  test(`crypto-js ${version}: ESP8266 pattern, both directions`, () => {
    const key = Buffer.alloc(16, 5);
    for (const ivForm of ['raw', 'hex']) {
      const wire = L.sealEsp8266(MSG, key, { ivForm });
      const obj = JSON.parse(wire);
      // Node-RED side of the blog: decrypt to bytes that are base64 text, then decode.
      const iv = ivForm === 'raw' ? C.enc.Base64.parse(obj.iv) : C.enc.Hex.parse(C.enc.Base64.parse(obj.iv).toString(C.enc.Utf8));
      const inner = C.AES.decrypt(obj.data, ie.bytes.toWords(key), { iv }).toString(C.enc.Utf8);
      assert.equal(C.enc.Base64.parse(inner).toString(C.enc.Utf8), MSG);
      const opened = L.openEsp8266(wire, key);
      assert.equal(Buffer.from(opened.message).toString(), MSG);
      assert.equal(opened.ivForm, ivForm);
    }
  });
}
