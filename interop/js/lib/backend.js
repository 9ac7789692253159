'use strict';
// The four primitives the envelope needs, on one of two crypto backends:
//
//   hmac(key, data)              HMAC-SHA-256, 32 bytes
//   encryptCbc(key, iv, data)    AES-CBC with PKCS#7 padding
//   decryptCbcRaw(key, iv, ct)   AES-CBC without unpadding (the caller checks the padding strictly)
//   encryptBlock(key, block)     AES of one 16-byte block (the lean form's IV, SPEC.md §5.3)
//   b64u(bytes) / fromB64u(text) base64url without padding; fromB64u gets text already checked by bytes.js
//
// `node:crypto` (OpenSSL inside Node.js) where it exists; crypto-js everywhere else (browsers, sandboxes
// that have no `require('crypto')`). Both give the same bytes: every vector file is checked on each.
// Keys are Uint8Array; results are Buffer on Node.js, Uint8Array elsewhere.

const S = require('./bytes');

function loadNodeCrypto() {
  try {
    // eslint-disable-next-line global-require
    const c = require('crypto');
    if (c && typeof c.createCipheriv === 'function' && typeof c.createHmac === 'function' && typeof Buffer !== 'undefined') return c;
  } catch (e) {
    // no node:crypto here (a browser bundle maps it to false: see "browser" in package.json)
  }
  return null;
}

const AES_CBC = { 16: 'aes-128-cbc', 24: 'aes-192-cbc', 32: 'aes-256-cbc' };
const AES_ECB = { 16: 'aes-128-ecb', 24: 'aes-192-ecb', 32: 'aes-256-ecb' };

function nodeBackend(nodeCrypto) {
  const { createHmac, createCipheriv, createDecipheriv } = nodeCrypto;
  const view = (u8) => (Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.length));
  return Object.freeze({
    name: 'node:crypto',
    version: `OpenSSL ${process.versions.openssl}`,
    hmac(key, data) { return createHmac('sha256', key).update(data).digest(); },
    encryptCbc(key, iv, data) {
      const c = createCipheriv(AES_CBC[key.length], key, iv);
      const head = c.update(data);
      const tail = c.final();
      return head.length ? Buffer.concat([head, tail], head.length + 16) : tail;
    },
    decryptCbcRaw(key, iv, ct) {
      const d = createDecipheriv(AES_CBC[key.length], key, iv);
      d.setAutoPadding(false);
      const out = d.update(ct);
      d.final();
      return out;
    },
    encryptBlock(key, block) {
      const c = createCipheriv(AES_ECB[key.length], key, null);
      c.setAutoPadding(false);
      const out = c.update(block);
      c.final();
      return out;
    },
    b64u(bytes) { return view(bytes).toString('base64url'); },
    fromB64u(text) { return Buffer.from(text, 'base64url'); },
  });
}

function cryptoJsBackend(CryptoJS, B, version) {
  const { AES, HmacSHA256 } = CryptoJS;
  const CBC = { mode: CryptoJS.mode.CBC, padding: CryptoJS.pad.Pkcs7 };
  const NOPAD = CryptoJS.pad.NoPadding;
  return Object.freeze({
    name: 'crypto-js',
    version: version || null,
    hmac(key, data) { return B.fromWords(HmacSHA256(B.toWords(data), B.toWords(key))); },
    encryptCbc(key, iv, data) {
      return B.fromWords(AES.encrypt(B.toWords(data), B.toWords(key), { iv: B.toWords(iv), ...CBC }).ciphertext);
    },
    decryptCbcRaw(key, iv, ct) {
      const params = CryptoJS.lib.CipherParams.create({ ciphertext: B.toWords(ct) });
      return B.fromWords(AES.decrypt(params, B.toWords(key), { iv: B.toWords(iv), mode: CryptoJS.mode.CBC, padding: NOPAD }));
    },
    encryptBlock(key, block) {
      return B.fromWords(AES.encrypt(B.toWords(block), B.toWords(key), { mode: CryptoJS.mode.ECB, padding: NOPAD }).ciphertext);
    },
    b64u(bytes) { return B.encodeUrl(bytes); },
    fromB64u(text) {
      const std = text.replace(/-/g, '+').replace(/_/g, '/');
      return B.fromWords(CryptoJS.enc.Base64.parse(std + '='.repeat((4 - (std.length % 4)) % 4)));
    },
  });
}

module.exports = { loadNodeCrypto, nodeBackend, cryptoJsBackend, out: S.out };
