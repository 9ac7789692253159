'use strict';
// AES-CBC on crypto-js with the paddings crypto-js ships, plus strict unpadding.
//
// Encryption uses crypto-js's own padders (so the bytes are exactly what crypto-js users produce).
// Decryption always runs crypto-js with NoPadding and then checks the padding here, strictly: crypto-js's
// unpadders never check anything (Pkcs7 just drops as many bytes as the last byte says), which turns a wrong
// key into an empty string or garbage instead of an error.

const { KeyFormatError, MalformedError, PaddingError } = require('./errors');

const PADDINGS = ['pkcs7', 'zero', 'ansix923', 'iso97971', 'iso10126', 'none'];
const CRYPTOJS_PAD_NAMES = {
  pkcs7: 'Pkcs7', zero: 'ZeroPadding', ansix923: 'AnsiX923', iso97971: 'Iso97971', iso10126: 'Iso10126', none: 'NoPadding',
};

function checkAesKey(key, what) {
  if (![16, 24, 32].includes(key.length)) {
    throw new KeyFormatError(`${what || 'AES key'} is ${key.length} bytes; must be 16, 24 or 32`
      + ' (crypto-js does not reject other lengths: it silently runs a non-standard cipher that no other'
      + ' implementation can decrypt)');
  }
}

function checkPadding(name) {
  if (!PADDINGS.includes(name)) throw new KeyFormatError(`padding ${JSON.stringify(name)} is not one of ${PADDINGS.join(', ')}`);
}

/** Strict unpadding of decrypted bytes; every deviation is a PaddingError. */
function unpad(data, name) {
  checkPadding(name);
  if (name === 'none') {
    return data;
  }
  if (!data.length || data.length % 16) throw new PaddingError(`padded data length ${data.length} is not a positive multiple of 16`);
  const last = data[data.length - 1];
  if (name === 'zero') {
    // crypto-js strips every trailing NUL; a plaintext ending in NUL bytes cannot round-trip.
    let end = data.length;
    while (end > 0 && data[end - 1] === 0) end--;
    if (data.length - end > 15) throw new PaddingError('invalid zero padding: more than 15 trailing zero bytes (a whole zero block)');
    return data.subarray(0, end);
  }
  if (name === 'iso97971') {
    let end = data.length;
    while (end > 0 && data[end - 1] === 0 && data.length - end < 16) end--;
    if (end === 0 || data[end - 1] !== 0x80 || data.length - end > 15) {
      throw new PaddingError('invalid ISO/IEC 9797-1 padding: the last block does not end in 0x80 followed by zero bytes');
    }
    return data.subarray(0, end - 1);
  }
  if (last < 1 || last > 16) throw new PaddingError(`invalid ${CRYPTOJS_PAD_NAMES[name]} padding: last byte 0x${last.toString(16).padStart(2, '0')} is not in 1..16`);
  let bad = 0;
  for (let i = data.length - last; i < data.length - 1; i++) {
    if (name === 'pkcs7') bad |= data[i] ^ last;
    else if (name === 'ansix923') bad |= data[i];
    // iso10126: the filler bytes are random; only the length byte is checked
  }
  if (bad) {
    const expect = name === 'pkcs7' ? `all 0x${last.toString(16).padStart(2, '0')}` : 'zero bytes then the length';
    throw new PaddingError(`invalid ${CRYPTOJS_PAD_NAMES[name]} padding: the last ${last} bytes are not ${expect}`);
  }
  return data.subarray(0, data.length - last);
}

function bind(CryptoJS, B) {
  function padObject(name) {
    checkPadding(name);
    return CryptoJS.pad[CRYPTOJS_PAD_NAMES[name]];
  }

  /**
   * AES-CBC encrypt with crypto-js. The IV is handed to crypto-js as it is: an IV shorter than 16 bytes is
   * zero-padded and a longer one truncated by crypto-js itself (callers decide whether to allow that).
   */
  function encryptCbc(key, iv, plaintext, padding) {
    checkAesKey(key);
    const pad = padObject(padding || 'pkcs7');
    if (padding === 'none' && plaintext.length % 16) {
      throw new MalformedError(`NoPadding needs a multiple of 16 bytes, got ${plaintext.length}`);
    }
    const res = CryptoJS.AES.encrypt(B.toWords(plaintext), B.toWords(key),
      { iv: B.toWords(iv), mode: CryptoJS.mode.CBC, padding: pad });
    return B.fromWords(res.ciphertext);
  }

  /** AES-CBC decrypt without unpadding (crypto-js with NoPadding). */
  function decryptCbcRaw(key, iv, ciphertext) {
    checkAesKey(key);
    if (!ciphertext.length) throw new MalformedError('ciphertext is empty (CBC with padding always produces at least one block)');
    if (ciphertext.length % 16) throw new MalformedError(`ciphertext length ${ciphertext.length} is not a multiple of 16`);
    const params = CryptoJS.lib.CipherParams.create({ ciphertext: B.toWords(ciphertext) });
    const res = CryptoJS.AES.decrypt(params, B.toWords(key),
      { iv: B.toWords(iv), mode: CryptoJS.mode.CBC, padding: CryptoJS.pad.NoPadding });
    return B.fromWords(res);
  }

  function decryptCbc(key, iv, ciphertext, padding) {
    return unpad(decryptCbcRaw(key, iv, ciphertext), padding || 'pkcs7');
  }

  /** What crypto-js's own (non-validating) unpadder returns, as bytes (for diagnostics and vectors). */
  function cryptojsDecrypt(key, iv, ciphertext, padding) {
    const params = CryptoJS.lib.CipherParams.create({ ciphertext: B.toWords(ciphertext) });
    const res = CryptoJS.AES.decrypt(params, B.toWords(key),
      { iv: B.toWords(iv), mode: CryptoJS.mode.CBC, padding: padObject(padding || 'pkcs7') });
    return B.fromWords(res);
  }

  return { encryptCbc, decryptCbcRaw, decryptCbc, cryptojsDecrypt, padObject };
}

/**
 * The same functions with AES-CBC on node:crypto for the cases node:crypto does exactly as crypto-js (PKCS#7 or
 * no padding, a 16-byte IV); crypto-js's other paddings and its IV zero-fill/truncation stay on crypto-js.
 */
function bindNode(nodeCrypto, base) {
  const ALG = { 16: 'aes-128-cbc', 24: 'aes-192-cbc', 32: 'aes-256-cbc' };
  const NATIVE = { pkcs7: true, none: true };

  function encryptCbc(key, iv, plaintext, padding) {
    padding = padding || 'pkcs7';
    checkAesKey(key);
    checkPadding(padding);
    if (!NATIVE[padding] || iv.length !== 16) return base.encryptCbc(key, iv, plaintext, padding);
    if (padding === 'none' && plaintext.length % 16) {
      throw new MalformedError(`NoPadding needs a multiple of 16 bytes, got ${plaintext.length}`);
    }
    const c = nodeCrypto.createCipheriv(ALG[key.length], key, iv);
    c.setAutoPadding(padding === 'pkcs7');
    return Buffer.concat([c.update(plaintext), c.final()]);
  }

  function decryptCbcRaw(key, iv, ciphertext) {
    checkAesKey(key);
    if (!ciphertext.length) throw new MalformedError('ciphertext is empty (CBC with padding always produces at least one block)');
    if (ciphertext.length % 16) throw new MalformedError(`ciphertext length ${ciphertext.length} is not a multiple of 16`);
    if (iv.length !== 16) return base.decryptCbcRaw(key, iv, ciphertext);
    const d = nodeCrypto.createDecipheriv(ALG[key.length], key, iv);
    d.setAutoPadding(false);
    return Buffer.concat([d.update(ciphertext), d.final()]);
  }

  function decryptCbc(key, iv, ciphertext, padding) {
    return unpad(decryptCbcRaw(key, iv, ciphertext), padding || 'pkcs7');
  }

  return { ...base, encryptCbc, decryptCbcRaw, decryptCbc };
}

module.exports = { bind, bindNode, unpad, checkAesKey, checkPadding, PADDINGS, CRYPTOJS_PAD_NAMES };
